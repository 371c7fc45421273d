/* guard.h — the sign-in defence on the data path (docs/signin.md): which requests are password
 * attempts, the verdict of the lockout table shared by every worker (proxy/signin.c) before
 * one reaches a pool, the member's verdict after, the answer to a refused attempt and the
 * delay floor on every failure.
 *
 * The table lives in one shared mapping made before the workers start (pc_guard_create), so
 * that every worker of the node, and the workers after a reload, count together. */
#ifndef PORTICO_GUARD_H
#define PORTICO_GUARD_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/net-t.h"
#include "common/out-t.h"
#include "config/config-t.h"
#include "http/http1-t.h"
#include "proxy/txn-t.h"

/* The largest request body read before forwarding on a sign-in path (the web ticket form):
 * these bodies are a few hundred bytes. */
#define PC_GUARD_BODY_MAX 16384

/* Once, before the workers start: the shared table, sized by CFG's [signin] (a reload keeps
 * the table and its size, and takes the new policy). 0, or -1 when it cannot be mapped
 * (logged; portico then runs without the defence). */
int pc_guard_create(const struct pc_config *cfg);

/* Worker ID's start: the policy of CFG, the series of /metrics, the gauge refresh, the link to
 * the store of several nodes (signin-store.h). */
void pc_guard_worker_init(const struct pc_config *cfg, struct ev_loop *loop, int id);

/* Worker start, after pc_guard_worker_init: the sign-in part of the admin pages
 * (guard-admin.c: app.c calls it, so that guard.c does not call up into it). */
void pc_guard_admin_init(const struct pc_config *cfg, struct ev_loop *loop);

/* The worker drains (reload or stop): it leaves the store. */
void pc_guard_drain(void);

enum pc_guard_step {
    PC_GUARD_PASS,      /* forward it (an attempt is then recorded in t->signin) */
    PC_GUARD_BODY,      /* a sign-in form: call pc_guard_body once the whole body is read */
    PC_GUARD_REFUSE,    /* answer pc_guard_refusal, after the delay floor */
    PC_GUARD_MALFORMED, /* a sign-in form portico cannot read: 400, nothing forwarded */
    PC_GUARD_CHUNKED,   /* a sign-in form without Content-Length: 411 */
    PC_GUARD_TOO_LARGE, /* a sign-in form over PC_GUARD_BODY_MAX: 413 */
};

/* The routed request head H of T (T's name and status fields set) from the connection's PEER,
 * or from the client a trusted X-Forwarded-For named (XFF: its address as text, NULL when
 * none): the source is the client the access log names. */
enum pc_guard_step pc_guard_request(struct pc_txn *t, const struct pc_head *h,
                                    const struct pc_addr *peer, const char *xff);

/* After PC_GUARD_BODY: the whole body BODY[0, LEN). PASS, REFUSE or MALFORMED. */
enum pc_guard_step pc_guard_body(struct pc_txn *t, const char *body, size_t len);

/* The member answered T with the final response head H: the attempt's result is counted, and
 * a failure is held until the delay floor (t->hold_until). */
void pc_guard_response(struct pc_txn *t, const struct pc_head *h);

/* The answer to T's refused attempt, shaped as the pool's failure for its channel (docs/
 * signin.md), queued on O; CLOSE adds Connection: close. Returns its status, or 0 when out of
 * memory. Sets t->hold_until. */
int pc_guard_refusal(struct pc_out *o, struct pc_txn *t, bool close);

/* T's response is complete (queued for the client): a failure's may be learned. */
void pc_guard_complete(struct pc_txn *t);

/* T's attempt is over (the transaction is reset or its client left). */
void pc_guard_release(struct pc_txn *t);

#endif
