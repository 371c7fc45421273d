/* balance.c — choosing a pool member: round-robin over the members that are not marked down.
 *
 * A member that refuses or times out a connection is marked down for a while (per worker);
 * the next request skips it without paying for another failed connect. */
#include <ev.h>

#include "common/log.h"
#include "core/worker.h"
#include "proxy/proxy.h"

bool pc_balance_usable(unsigned pool_idx, unsigned member_idx)
{
    const struct pc_member_state *ms = &pc_w.pools[pool_idx].m[member_idx];
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

int pc_balance_pick(struct pc_session *s)
{
    unsigned pi = s->pool_idx;
    const struct pc_pool *pool = &pc_w.cfg->pools[pi];
    struct pc_pool_state *ps = &pc_w.pools[pi];
    size_t n = pool->nmembers;
#define AVAILABLE(i) (!(s->tried & (1ull << ((i) % 64))) && pc_balance_usable(pi, (unsigned)(i)))

    if (pool->affinity == PC_AFFINITY_COOKIE) {
        if (s->has_cookie)
            for (size_t i = 0; i < n; i++)
                if (pool->members[i].id == s->cookie_id && AVAILABLE(i))
                    return (int)i;
        s->set_cookie = true; /* no cookie, or it names a member that cannot serve */
    } else if (pool->affinity == PC_AFFINITY_SOURCE) {
        /* Rendezvous hashing: every worker and instance maps a client address to the same
         * member, and only the clients of a member that goes down move. */
        uint32_t h = 2166136261u;
        for (const char *p = s->peer_ip; *p; p++)
            h = (h ^ (uint8_t)*p) * 16777619u;
        int best = -1;
        uint32_t best_score = 0;
        for (size_t i = 0; i < n; i++) {
            if (!AVAILABLE(i))
                continue;
            uint32_t score = mix(h ^ pool->members[i].id);
            if (best < 0 || score > best_score) {
                best = (int)i;
                best_score = score;
            }
        }
        return best;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = (ps->rr + k) % n;
        if (!AVAILABLE(i))
            continue;
        ps->rr = (unsigned)((i + 1) % n);
        return (int)i;
    }
#undef AVAILABLE
    return -1;
}

void pc_balance_mark_down(unsigned pool_idx, unsigned member_idx, const char *reason)
{
    const struct pc_pool *pool = &pc_w.cfg->pools[pool_idx];
    struct pc_member_state *ms = &pc_w.pools[pool_idx].m[member_idx];
    double now = ev_now(pc_w.loop);
    /* Two health intervals: long enough to spare clients, short enough to notice a return
     * even before active checks exist for the member. */
    double period = pool->health_interval > 0 ? 2 * pool->health_interval : 10;
    if (ms->down_until <= now)
        pc_warn("pool %s: member %s marked down for %.0f s: %s", pool->name,
                pool->members[member_idx].host, period, reason);
    ms->down_until = now + period;
}
