/* balance.c — choosing a pool member: round-robin over the members that are not marked down,
 * or by affinity (see balance.h).
 *
 * A member that refuses or times out a connection is marked down for a while (per worker);
 * the next request skips it without paying for another failed connect. */
#include "proxy/balance.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "core/worker.h"

struct member_state {
    double down_until; /* passive mark-down: skipped until then */
    bool health_down;  /* active health checks say down */
};

struct pool_state {
    unsigned rr;            /* round-robin cursor */
    struct member_state *m; /* parallel to pool->members */
};

static struct pool_state *pools; /* parallel to cfg->pools */
static size_t npools;

int pc_balance_init(const struct pc_config *cfg, int worker_id)
{
    for (size_t p = 0; pools && p < npools; p++)
        free(pools[p].m);
    free(pools);
    npools = cfg->npools;
    pools = calloc(cfg->npools ? cfg->npools : 1, sizeof(*pools));
    if (!pools)
        return -1;
    for (size_t p = 0; p < cfg->npools; p++) {
        pools[p].m = calloc(cfg->pools[p].nmembers + 1, sizeof(*pools[p].m));
        if (!pools[p].m)
            return -1;
        pools[p].rr = (unsigned)worker_id; /* workers start at different members */
    }
    return 0;
}

bool pc_balance_usable(unsigned pool_idx, unsigned member_idx)
{
    const struct member_state *ms = &pools[pool_idx].m[member_idx];
    return ms->down_until <= ev_now(pc_w.loop) && !ms->health_down;
}

static uint32_t mix(uint32_t h)
{
    /* A 32-bit finaliser (murmur3): spreads close inputs over the whole range. */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static bool available(const struct pc_pick *q, size_t i)
{
    return !(q->tried & (1ull << (i % 64))) && pc_balance_usable(q->pool_idx, (unsigned)i);
}

/* Rendezvous hashing: every worker and instance maps a client address to the same member,
 * and only the clients of a member that goes down move. */
static int pick_source(const struct pc_pick *q, const struct pc_pool *pool)
{
    uint32_t h = pc_fnv1a(PC_FNV_INIT, q->client, strlen(q->client));
    int best = -1;
    uint32_t best_score = 0;
    for (size_t i = 0; i < pool->nmembers; i++) {
        if (!available(q, i))
            continue;
        uint32_t score = mix(h ^ pool->members[i].id);
        if (best < 0 || score > best_score) {
            best = (int)i;
            best_score = score;
        }
    }
    return best;
}

int pc_balance_pick(const struct pc_pick *q, bool *set_cookie)
{
    const struct pc_pool *pool = &pc_w.cfg->pools[q->pool_idx];
    struct pool_state *ps = &pools[q->pool_idx];
    size_t n = pool->nmembers;
    if (pool->affinity == PC_AFFINITY_COOKIE) {
        if (q->has_cookie)
            for (size_t i = 0; i < n; i++)
                if (pool->members[i].id == q->cookie_id && available(q, i))
                    return (int)i;
        *set_cookie = true; /* no cookie, or it names a member that cannot serve */
    } else if (pool->affinity == PC_AFFINITY_SOURCE) {
        return pick_source(q, pool);
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = (ps->rr + k) % n;
        if (!available(q, i))
            continue;
        ps->rr = (unsigned)((i + 1) % n);
        return (int)i;
    }
    return -1;
}

void pc_balance_mark_down(unsigned pool_idx, unsigned member_idx, const char *reason)
{
    const struct pc_pool *pool = &pc_w.cfg->pools[pool_idx];
    struct member_state *ms = &pools[pool_idx].m[member_idx];
    double now = ev_now(pc_w.loop);
    /* Two health intervals: long enough to spare clients, short enough to notice a return
     * even before active checks exist for the member. */
    double period = pool->health_interval > 0 ? 2 * pool->health_interval : 10;
    if (ms->down_until <= now)
        pc_warn("pool %s: member %s marked down for %.0f s: %s", pool->name,
                pool->members[member_idx].host, period, reason);
    ms->down_until = now + period;
}

void pc_balance_health(unsigned pool_idx, unsigned member_idx, bool passed, bool down)
{
    struct member_state *ms = &pools[pool_idx].m[member_idx];
    ms->health_down = down;
    if (passed)
        ms->down_until = 0;
}
