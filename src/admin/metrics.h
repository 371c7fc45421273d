/* metrics.h — what the data path counts (worker side of stats.h), with the series pointers
 * looked up once per worker so that counting a request is a few increments. */
#ifndef PORTICO_METRICS_H
#define PORTICO_METRICS_H

#include <ev.h>
#include <stdint.h>

#include "config/config-t.h"

/* Worker start: interns every series of the configuration. */
void pc_metrics_init(const struct pc_config *cfg, struct ev_loop *loop);
/* What is counted of a request that ended (the data path fills it from its transaction: admin/
 * knows nothing of proxy/). */
struct pc_metrics_req {
    const struct pc_name *name; /* the published name it went to, NULL when none */
    int status;                 /* the status sent to the client */
    double t_start;             /* first byte of the request (ev_now time), 0 when unknown */
    uint64_t bytes_out, bytes_in;
};

/* A request ended (logged). */
void pc_metrics_request(const struct pc_metrics_req *t);
void pc_metrics_client_conns(unsigned n);
/* An upstream connection to member M of pool P opened (+1) or closed (-1). */
void pc_metrics_upstream(unsigned p, unsigned m, int delta);
/* A connection was pinned (+1), or a pinned one closed (-1). */
void pc_metrics_pinned(int delta);
void pc_metrics_member_request(unsigned p, unsigned m);
void pc_metrics_connect_failure(unsigned p, unsigned m);
void pc_metrics_member_up(unsigned p, unsigned m, bool up);
void pc_metrics_tls_handshake(const char *failure_reason); /* NULL: success */

#endif
