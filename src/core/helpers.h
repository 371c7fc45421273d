/* helpers.h — the master's helper processes (helpers.c; docs/certificates.md): the OCSP helper
 * (tls/ocsp-fetch.c) and the ACME helper (tls/acme-order.c), started, stopped and restarted. */
#ifndef PORTICO_HELPERS_H
#define PORTICO_HELPERS_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "config/config-t.h"
#include "tls/tls.h"

/* Starts each helper that CFG and the running contexts *TLS need and that is not running. In
 * the child, CLOSE_INHERITED closes the master's sockets and pipes, and *TLS is freed. */
void pc_helpers_start(const struct pc_config *cfg, struct pc_tls **tls,
                      void (*close_inherited)(void));
/* Stops the helpers and waits for them, so that no shared slot ever has two writers. */
void pc_helpers_stop(void);
/* Whether PID was a helper (then it is logged and restarted 10 s later unless STOPPING). */
bool pc_helpers_reaped(pid_t pid, int status, bool stopping);
/* Whether a helper that died is due to start again at NOW. */
bool pc_helpers_due(time_t now);

/* Before the privilege drop and on reload: state_dir for the OCSP cache of TLS's set, and
 * state_dir/acme with the placeholders of `certificate = acme` (before the contexts load),
 * handed to `user` while still root. */
void pc_helpers_state_dir(const struct pc_config *cfg, const struct pc_tls *tls);
void pc_helpers_prepare(const struct pc_config *cfg);

#endif
