/* txn.h — a transaction: one request and its response (types: txn-t.h,
 * docs/architecture.md, "Transactions"). What carries it to the client (session.c today)
 * calls these; the member side (upstream.c) reports to it through struct pc_up_owner. */
#ifndef PORTICO_TXN_H
#define PORTICO_TXN_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/txn-t.h"

/* Once per worker: request-body framing, and the transactions as upstream.c's owner. */
void pc_txn_init(void);

/* Ready for the next request: every per-request field to zero (the client side is kept). */
void pc_txn_reset(struct pc_txn *t);

/* The name the request is routed by (its Host, or SNI for an HTTP/1.0 request without one,
 * port included) and its length. */
static inline const char *pc_txn_host(const struct pc_txn *t, size_t *len)
{
    *len = t->lg_host;
    return t->lg + t->lg_method;
}

/* Starts the routed transaction T (name, pool and reqhead set): attaches a member
 * connection, pinned, idle or new. 0, or -1 when no member can be tried (the caller answers
 * 502). */
int pc_txn_start(struct pc_txn *t);

/* Moves what can be moved between the client side and the member. -1 when the client side
 * closed (T is gone), else 0. */
int pc_txn_pump(struct pc_txn *t);

/* Whether T is over on the member side: the request sent, the response complete and handed
 * to the client side. The client side flushes its own queue. */
bool pc_txn_complete(const struct pc_txn *t);

/* Ends T on the member side: its connection is parked for reuse when it can be (REUSABLE),
 * else closed. */
void pc_txn_end(struct pc_txn *t, bool reusable);

/* Whether T takes request bytes now (a member connection ready, its queue empty). */
bool pc_txn_wants_input(const struct pc_txn *t);
/* Whether T's member queue still points into the client's input buffer (it must stay). */
bool pc_txn_holds_input(const struct pc_txn *t);
/* Sets the events T's member connection waits for (after the client side changed). */
void pc_txn_watch(struct pc_txn *t);

/* T's deadline passed with no I/O for TIMEOUT seconds. Returns the status to answer (504 when
 * the member is silent, 408 when the client is), or 0 when only closing is left. */
int pc_txn_timed_out(struct pc_txn *t, double timeout);

/* The request failed on the client side or was answered locally: the member connection, if
 * any, closes (an aborted upload must not look complete), and the request head and the
 * member's trailers go. */
void pc_txn_drop(struct pc_txn *t);

/* The client connection ends: T's member connection and every pinned one (t->pins) close. */
void pc_txn_client_closed(struct pc_txn *t);

/* A chunked request body follows T's head: its decoder starts. 0, or -1 (never expected). */
int pc_txn_chunked_body(struct pc_txn *t);

#endif
