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
/* Called by the upstream side. */
void pc_session_resp_progress(struct pc_session *s); /* response bytes queued */
/* The pool side failed: answers STATUS when no response has begun, else closes. Returns -1
 * when the session closed. */
int pc_session_up_failed(struct pc_session *s, int status, const char *reason);
void pc_session_resp_complete(struct pc_session *s);
/* The idle pinned connection of S closed. */
void pc_session_pinned_lost(struct pc_session *s);
int pc_session_flush(struct pc_session *s); /* 1 flushed, 0 pending, -1 session closed */

/* upstream.c */
void pc_upstream_init(void);
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
