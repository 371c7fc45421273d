/* proxy.h — the data path: client sessions, member connections, health, rewriting, logs
 * (transactions: txn.h). */
#ifndef PORTICO_PROXY_H
#define PORTICO_PROXY_H

#include "proxy/proxy-t.h"

/* session.c: HTTP/1 client connections. */
void pc_session_init(void);
/* Takes over an accepted, non-blocking client socket. */
void pc_session_start(int fd, const struct pc_addr *peer, enum pc_listener_kind kind);
/* Asks every session to finish its transaction and close (graceful stop); returns how many
 * sessions are still open. */
unsigned pc_session_drain(void);

/* What a member connection reports to the transaction it serves. The upstream side calls
 * its owner (txn.c) only through these, registered with pc_upstream_init, so that the two
 * files do not call each other by name. */
enum pc_up_event {
    PC_UP_PROGRESS, /* bytes moved or the connection's state changed: drive the transaction */
    PC_UP_COMPLETE, /* the final response is complete (queued for the client) */
    PC_UP_PIN_LOST, /* an idle pinned connection of the client closed */
};
/* Why a member connection failed; it is closed and off the transaction when reported. */
enum pc_up_failure {
    PC_UPF_CONNECT, /* connect or TLS handshake failed (the member is marked down): nothing
                     * was sent, another member may take the request */
    PC_UPF_STALE,   /* a reused connection closed before a byte of response: most likely the
                     * pool closed it while idle just as the request left */
    PC_UPF_BROKEN,  /* anything else: no retry */
};
struct pc_up_owner {
    void (*event)(struct pc_txn *t, enum pc_up_event ev);
    /* The member side failed (F): answer STATUS, retry, or end the client side. Returns -1
     * when the client side closed, 0 when the transaction lives on. */
    int (*failed)(struct pc_txn *t, enum pc_up_failure f, int status, const char *reason);
    /* Writes queued response bytes to the client: 1 all written, 0 pending, -1 closed. */
    int (*flush)(struct pc_txn *t);
};

/* upstream.c: member connections (the mechanics; txn.c decides which and when). */
void pc_upstream_init(const struct pc_up_owner *owner);
/* Opens a non-blocking connection for T to member MEMBER_IDX of T's pool, for TLS name SNI
 * ("" for plain HTTP); NULL when it failed at once (a refused connect marks the member
 * down: the caller may try another). */
struct pc_upconn *pc_upstream_connect(struct pc_txn *t, unsigned member_idx, const char *sni);
/* Takes an idle or pinned connection U (off its idle list) for T. */
void pc_upstream_reuse(struct pc_upconn *u, struct pc_txn *t);
/* Readies U to carry T's next request: the response side starts afresh. */
void pc_upstream_begin(struct pc_upconn *u, struct pc_txn *t);
/* Detaches at the end of a transaction: parks the connection if it can be reused. */
void pc_upstream_release(struct pc_txn *t, bool reusable);
void pc_upstream_close(struct pc_upconn *u);
/* Closes every pinned connection of the list PINS (the client connection ends). */
void pc_upstream_close_pins(struct pc_list *pins);
/* Sets the events U waits for from its state and T's queues. */
void pc_upstream_update(struct pc_upconn *u);
/* Moves response bytes from the member to the client side. -1 when the client side closed,
 * else 0 (the connection may be gone: see t->up). */
int pc_upstream_pump(struct pc_upconn *u);
void pc_upstream_close_idle_all(void);
/* Logs that member U sent nothing for TIMEOUT seconds (the transaction is being aborted). */
void pc_upstream_log_silent(const struct pc_upconn *u, double timeout);

/* health.c */
void pc_health_start(void);
void pc_health_stop(void);

/* rewrite.c */
bool pc_rw_request(struct pc_out *o, const struct pc_head *h, struct pc_session *s);
bool pc_rw_response(struct pc_out *o, const struct pc_head *h, const struct pc_txn *t,
                    enum pc_body_mode mode);
/* A response of the proxy's own: STATUS with a short text body (or a Location for 3xx; for a
 * 200, LOCATION is the text body: an ACME key authorization, RFC 8555 §8.3). */
bool pc_rw_local(struct pc_out *o, int status, const char *location, size_t loclen, bool close);
const char *pc_rw_reason(int status);

/* accesslog.c */
int pc_alog_open(const struct pc_config *cfg);
void pc_alog_request(const struct pc_session *s);
void pc_alog_flush(void);
void pc_alog_reopen(void);

#endif
