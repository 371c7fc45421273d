/* worker.h — one event loop per worker process and the state it owns.
 *
 * Per worker (never shared): the loop, the listeners, the connection counts. The member
 * connections (proxy/pool.c), mark-downs and cursors (proxy/balance.c) and health checks
 * (proxy/health.c) are per worker too, each owned by its module. Shared (read-only, inherited
 * at fork): the configuration and the listening sockets. */
#ifndef PORTICO_WORKER_H
#define PORTICO_WORKER_H

#include <ev.h>
#include <openssl/ssl.h>
#include <stdbool.h>

#include "config/config-t.h"
#include "core/listener-t.h"

struct pc_upconn;

struct pc_listener {
    int fd;
    enum pc_listener_kind kind;
    struct pc_addr addr;
    ev_io io;
};

struct pc_tls;

struct pc_worker {
    struct ev_loop *loop;
    const struct pc_config *cfg;
    const struct pc_tls *tls;
    struct pc_listener *listeners;
    size_t nlisteners;
    unsigned nconns, max_conns;
    bool draining;
    int id;
};

extern struct pc_worker pc_w;

/* The application a worker runs (the proxy, src/proxy/app.c), set by main.c before the master
 * starts: the worker owns the loop, the listeners and the signals, and reaches the proxy only
 * through these, never by name (core sits below proxy). */
struct pc_worker_app {
    /* Sets up worker ID for CFG once its loop exists; 0, or -1 to give up. */
    int (*start)(const struct pc_config *cfg, int id);
    /* Takes over an accepted, non-blocking client socket of a listener of KIND. */
    void (*accept)(int fd, const struct pc_addr *peer, enum pc_listener_kind kind);
    /* Stops taking work (graceful stop or reload): returns how many connections remain. */
    unsigned (*drain)(void);
    void (*reopen_logs)(void); /* SIGUSR1 */
    void (*flush_logs)(void);  /* before the loop blocks, and at exit */
};
extern const struct pc_worker_app *pc_worker_app;

/* Write end of the pipe through which the master learns that this worker stopped accepting:
 * closed as soon as a reload's SIGQUIT has closed the listeners (or at exit). -1: none. */
extern int pc_worker_accept_fd;

/* Runs worker ID until it is told to stop; returns the process exit status. */
int pc_worker_run(const struct pc_config *cfg, const struct pc_tls *tls, struct pc_listener *ls,
                  size_t nls, int id);

/* A client connection closed: lets the accept loop resume if it had paused at the limit, and
 * counts the connections of PEER down (NULL: the connection was not counted under a client,
 * see pc_worker_lb_peer). */
void pc_worker_conn_closed(const struct pc_addr *peer);

/* Whether PEER, on a listener of KIND, is a trusted balancer whose PROXY header or
 * X-Forwarded-For names the client (docs/configuration.md, "Behind a load balancer"): its
 * connections are not counted under its own address. */
bool pc_worker_lb_peer(const struct pc_addr *peer, enum pc_listener_kind kind);

/* Counts one more connection of the client A (named by a balancer); false, logged, when A is at
 * max_connections_per_client already. */
bool pc_worker_client_admit(const struct pc_addr *a);

#endif
