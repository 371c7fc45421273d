/* balance.c — choosing a pool member: round-robin over the members that are not marked down.
 *
 * A member that refuses or times out a connection is marked down for a while (per worker);
 * the next request skips it without paying for another failed connect. */
#include <ev.h>

#include "common/log.h"
#include "core/worker.h"
#include "proxy/proxy.h"

int pc_balance_pick(unsigned pool_idx, uint64_t tried)
{
    const struct pc_pool *pool = &pc_w.cfg->pools[pool_idx];
    struct pc_pool_state *ps = &pc_w.pools[pool_idx];
    double now = ev_now(pc_w.loop);
    size_t n = pool->nmembers;
    for (size_t k = 0; k < n; k++) {
        size_t i = (ps->rr + k) % n;
        if (tried & (1ull << (i % 64)))
            continue;
        if (ps->m[i].down_until > now)
            continue;
        ps->rr = (unsigned)((i + 1) % n);
        return (int)i;
    }
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
