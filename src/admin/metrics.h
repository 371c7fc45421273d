/* metrics.h — what the data path counts (worker side of stats.h), with the series pointers
 * looked up once per worker so that counting a request is a few increments. */
#ifndef PORTICO_METRICS_H
#define PORTICO_METRICS_H

#include <ev.h>
#include <stdint.h>

#include "config/config-t.h"

/* Bounds of the request duration histogram, in seconds (docs/monitoring.md); the +Inf bucket
 * comes after them. */
#define PC_METRICS_NBUCKETS 16
extern const double pc_metrics_buckets[PC_METRICS_NBUCKETS];

/* The series keys that the status page's graphs read back (history.c): written here once so
 * that the reader and the writer cannot disagree. Bucket B of pool POOL (B =
 * PC_METRICS_NBUCKETS: +Inf); the requests of published name N with status class CLS (1..5). */
void pc_metrics_bucket_key(char *buf, size_t len, const char *pool, size_t b);
void pc_metrics_requests_key(char *buf, size_t len, const struct pc_name *n, int cls);

/* Worker start: interns every series of the configuration. */
void pc_metrics_init(const struct pc_config *cfg, struct ev_loop *loop);
/* The protocol a client spoke (the access log's): portico_client_requests_total{protocol}. */
enum pc_metrics_proto { PC_PROTO_HTTP11, PC_PROTO_HTTP10, PC_PROTO_HTTP2, PC_PROTO_N };

/* What is counted of a request that ended (the data path fills it from its transaction: admin/
 * knows nothing of proxy/). */
struct pc_metrics_req {
    const struct pc_name *name;  /* the published name it went to, NULL when none */
    enum pc_metrics_proto proto; /* the protocol of the access log */
    int status;                  /* the status sent to the client */
    double t_start;              /* first byte of the request (ev_now time), 0 when unknown */
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
/* A TLS connection moved from OpenSSL to portico's records (tls/rec.h): a client's or a
 * member's. */
void pc_metrics_tls_handover(bool client);

/* HTTP/2 (proxy/h2-limits.c, docs/monitoring.md): connections and the streams clients opened
 * on them (their ratio is the streams per connection), RST_STREAM by reason, and GOAWAY by
 * reason. The label values are metrics.c's. */
enum pc_metrics_h2_reset {
    PC_H2_RST_RAPID,    /* the client's, before any response: the rapid-reset budget */
    PC_H2_RST_CLIENT,   /* the client's, once the response began */
    PC_H2_RST_HTTP11,   /* HTTP_1_1_REQUIRED: connection-bound credentials */
    PC_H2_RST_REFUSED,  /* REFUSED_STREAM: beyond MAX_CONCURRENT_STREAMS */
    PC_H2_RST_PROTOCOL, /* PROTOCOL_ERROR: a malformed request (RFC 9113 §8.1.1) */
    PC_H2_RST_TIMEOUT,  /* CANCEL: timeout_header or timeout_idle */
    PC_H2_RST_INTERNAL, /* INTERNAL_ERROR: a member failed mid-response, no memory */
    PC_H2_RST_OTHER,
    PC_H2_RST_N
};
enum pc_metrics_h2_goaway {
    PC_H2_GA_NO_ERROR, /* reload or stop */
    PC_H2_GA_RAPID_RESET,
    PC_H2_GA_CONTINUATION,
    PC_H2_GA_SETTINGS,
    PC_H2_GA_PING,
    PC_H2_GA_EMPTY,
    PC_H2_GA_OUTBOUND, /* closed: the client reads nothing (nghttp2's NGHTTP2_ERR_FLOODED) */
    PC_H2_GA_PROTOCOL,
    PC_H2_GA_INTERNAL,
    PC_H2_GA_OTHER,
    PC_H2_GA_N
};
void pc_metrics_h2_conn(void);
void pc_metrics_h2_stream(void);
void pc_metrics_h2_reset(enum pc_metrics_h2_reset why);
void pc_metrics_h2_goaway(enum pc_metrics_h2_goaway why);

#endif
