/* master.h — the master process: listeners, workers, signals, reload. */
#ifndef PORTICO_MASTER_H
#define PORTICO_MASTER_H

#include "config/config-t.h"

/* Runs the proxy with CFG (taking ownership) until SIGTERM; returns the exit status. */
int pc_master_run(struct pc_config *cfg);

#endif
