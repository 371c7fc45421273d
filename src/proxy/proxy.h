/* proxy.h — the data path: client sessions, upstream connections, balancing, rewriting. */
#ifndef PORTICO_PROXY_H
#define PORTICO_PROXY_H

#include "proxy/proxy-t.h"

/* session.c */
void pc_session_init(void);
/* Takes over an accepted, non-blocking client socket. */
void pc_session_start(int fd, const struct pc_addr *peer, enum pc_listener_kind kind);
/* Asks every session to finish its transaction and close (graceful stop); returns how many
 * sessions are still open. */
unsigned pc_session_drain(void);
int pc_session_flush(struct pc_session *s); /* 1 flushed, 0 pending, -1 session closed */

/* What a member connection reports to the transaction it serves. The upstream side calls
 * the session only through these (registered with pc_upstream_init), so that the two files
 * do not call each other by name, and an HTTP/2 stream can own a transaction later. */
enum pc_up_event {
    PC_UP_PROGRESS, /* bytes moved or the connection's state changed: drive the transaction */
    PC_UP_COMPLETE, /* the final response is complete (queued for the client) */
    PC_UP_PIN_LOST, /* an idle pinned connection of the session closed */
};
struct pc_up_owner {
    void (*event)(struct pc_session *s, enum pc_up_event ev);
    /* The member side failed: answers STATUS when no response has begun, else closes.
     * Returns -1 when the session closed, 0 when it lives on. */
    int (*failed)(struct pc_session *s, int status, const char *reason);
    /* Writes queued response bytes to the client: 1 all written, 0 pending, -1 closed. */
    int (*flush)(struct pc_session *s);
};
/* session.c's answers to them. */
extern const struct pc_up_owner pc_session_up_owner;

/* upstream.c */
void pc_upstream_init(const struct pc_up_owner *owner);
/* Attaches a connection to a member of the session's pool (idle or new); 0 on success, -1
 * when no member can be tried (the caller answers 502). */
int pc_upstream_attach(struct pc_session *s);
/* Detaches at the end of a transaction: parks the connection if it can be reused. */
void pc_upstream_release(struct pc_session *s, bool reusable);
void pc_upstream_close(struct pc_upconn *u);
void pc_upstream_update(struct pc_upconn *u);
int pc_upstream_pump(struct pc_upconn *u);
void pc_upstream_close_idle_all(void);

/* health.c */
void pc_health_start(void);
void pc_health_stop(void);

/* rewrite.c */
bool pc_rw_request(struct pc_out *o, const struct pc_head *h, struct pc_session *s);
bool pc_rw_response(struct pc_out *o, const struct pc_head *h, struct pc_session *s,
                    enum pc_body_mode mode);
/* A response of the proxy's own: STATUS with a short text body (or a Location for 3xx). */
bool pc_rw_local(struct pc_out *o, int status, const char *location, size_t loclen, bool close);
const char *pc_rw_reason(int status);

/* accesslog.c */
int pc_alog_open(const struct pc_config *cfg);
void pc_alog_request(const struct pc_session *s);
void pc_alog_flush(void);
void pc_alog_reopen(void);

#endif
