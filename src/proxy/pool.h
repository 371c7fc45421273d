/* pool.h — the member connections a worker keeps (docs/architecture.md, "Upstream
 * connections"): idle connections per member (most recent first, bounded), the connections
 * pinned to one client connection by connection-bound authentication, and the newest TLS
 * session per member for resumption.
 *
 * Only lists and bookkeeping: nothing here opens or closes a socket. A function that must let
 * a connection go returns it, and the caller (upstream.c) closes it, so that the pool does
 * not call back into the data path. */
#ifndef PORTICO_POOL_H
#define PORTICO_POOL_H

#include <openssl/ssl.h>
#include <stdbool.h>

#include "proxy/proxy-t.h"

#define PC_POOL_IDLE_MAX 256 /* idle connections kept per member and worker */

/* Sets up the (empty) lists for the pools of CFG (those of an earlier call must be empty).
 * Returns 0, or -1 when out of memory. */
int pc_pool_init(const struct pc_config *cfg);

/* Idle connections of a member now. */
unsigned pc_pool_nidle(unsigned pool_idx, unsigned member_idx);

/* The idle connection of member (POOL_IDX, MEMBER_IDX) for TLS name SNI ("" for plain HTTP,
 * TLS when TLS), most recent first, taken off the list; NULL when there is none. */
struct pc_upconn *pc_pool_idle_take(unsigned pool_idx, unsigned member_idx, bool tls,
                                    const char *sni);

/* Parks U (whose owner has been cleared) at the head of its member's idle list. Returns the
 * connection the caller must close to stay within PC_POOL_IDLE_MAX (the oldest, still on the
 * list: closing it takes it off), or NULL.
 * Plain and TLS connections of every name share the list, and the newest is the likeliest to
 * be wanted again. */
struct pc_upconn *pc_pool_idle_put(struct pc_upconn *u);

/* Takes U off its member's idle list. */
void pc_pool_idle_unlink(struct pc_upconn *u);

/* Any idle connection of the worker (to close them all), or NULL. */
struct pc_upconn *pc_pool_idle_any(void);

/* Pins U to the client of its transaction U->t (at the head of U->t->pins: newest first). */
void pc_pool_pin_link(struct pc_upconn *u);

/* Takes the pinned U off its client's list. */
void pc_pool_pin_unlink(struct pc_upconn *u);

/* The pinned connection of T's client (t->pins) for pool POOL_IDX and TLS name SNI over TLS
 * or not, or NULL. */
struct pc_upconn *pc_pool_pin_find(const struct pc_txn *t, unsigned pool_idx, bool tls,
                                   const char *sni);

/* Room for one more pin of T's client under max_pinned_per_client: returns true when there is room
 * already; otherwise sets *EVICT to the oldest pin between requests (never EXCEPT; still on
 * the list) for the caller to close and returns true, or returns false when every pin is
 * busy. */
bool pc_pool_pin_room(const struct pc_txn *t, const struct pc_upconn *except,
                      struct pc_upconn **evict);

/* Remembers SESS (a reference the pool now owns) as the newest TLS session with U's member
 * for U's TLS name; offers it to the next connection with the same name (SSL_set_session). */
void pc_pool_tls_session_put(const struct pc_upconn *u, SSL_SESSION *sess);
void pc_pool_tls_session_offer(const struct pc_upconn *u, SSL *ssl);

#endif
