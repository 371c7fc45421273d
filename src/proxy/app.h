/* app.h — the proxy as the application a worker runs (see struct pc_worker_app). */
#ifndef PORTICO_APP_H
#define PORTICO_APP_H

#include "core/worker.h"

extern const struct pc_worker_app pc_proxy_app;

#endif
