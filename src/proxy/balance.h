/* balance.h — choosing a pool member (docs/configuration.md, "Balancing and affinity").
 *
 * Owns, per worker, what the choice depends on besides the request: the round-robin cursor
 * of each pool and the state of each member (passively marked down after a failed
 * connection; down by the active health checks, which report here). */
#ifndef PORTICO_BALANCE_H
#define PORTICO_BALANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config-t.h"

/* What one choice is made from. */
struct pc_pick {
    unsigned pool_idx;
    uint64_t tried;     /* members tried for this request already (bit per index, modulo 64) */
    const char *client; /* the client's address as text (affinity = source) */
    bool has_cookie;    /* the request named a member in MS-WSMAN (affinity = cookie) */
    uint32_t cookie_id;
};

/* Sets up the state for CFG in worker WORKER_ID (whose cursors start at different members),
 * dropping that of an earlier call.
 * Returns 0, or -1 when out of memory. */
int pc_balance_init(const struct pc_config *cfg, int worker_id);

/* The member for Q, or -1 when none is available. *SET_COOKIE becomes true when the response
 * must (re)set MS-WSMAN: the pool has cookie affinity and the request's cookie named no member
 * that can serve. */
int pc_balance_pick(const struct pc_pick *q, bool *set_cookie);

/* Whether a member may be chosen: not marked down, not down by health checks. */
bool pc_balance_usable(unsigned pool_idx, unsigned member_idx);

/* A connection to the member failed: skip it for two health intervals (logged once). */
void pc_balance_mark_down(unsigned pool_idx, unsigned member_idx, const char *reason);

/* The active health checks' verdict (health.c): DOWN until they say otherwise; a passing
 * check also ends a passive mark-down. */
void pc_balance_health(unsigned pool_idx, unsigned member_idx, bool passed, bool down);

#endif
