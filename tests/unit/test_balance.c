/* test_balance.c — choosing a member (src/proxy/balance.c) without sockets: round-robin over
 * usable members, the tried mask, passive and health mark-downs, source and cookie affinity. */
#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "core/worker.h"
#include "proxy/balance.h"
#include "unit.h"

static struct pc_config cfg;
static struct pc_pool pool;
static struct pc_member members[4];

static void setup(enum pc_affinity affinity)
{
    memset(members, 0, sizeof(members));
    for (unsigned i = 0; i < 4; i++)
        members[i].id = 0x1000u * (i + 1) + 7;
    members[0].host = "fe01", members[1].host = "fe02", members[2].host = "fe03",
    members[3].host = "fe04";
    pool = (struct pc_pool){.name = "fe",
                            .members = members,
                            .nmembers = 4,
                            .affinity = affinity,
                            .health_interval = 5};
    cfg = (struct pc_config){.pools = &pool, .npools = 1};
    pc_w.cfg = &cfg;
    CHECK_INT(pc_balance_init(&cfg, 1), 0);
}

static int pick(uint64_t tried, const char *client, bool has_cookie, uint32_t id, bool *set)
{
    struct pc_pick q = {0, tried, client, has_cookie, id};
    *set = false;
    return pc_balance_pick(&q, set);
}

static void test_round_robin(void)
{
    bool set;
    setup(PC_AFFINITY_NONE);
    /* Worker 1 starts at member 1, then goes round. */
    CHECK_INT(pick(0, "192.0.2.1", false, 0, &set), 1);
    CHECK_INT(pick(0, "192.0.2.1", false, 0, &set), 2);
    CHECK_INT(pick(0, "192.0.2.1", false, 0, &set), 3);
    CHECK_INT(pick(0, "192.0.2.1", false, 0, &set), 0);
    CHECK(!set);
    /* Tried members are skipped; all tried: none. */
    CHECK_INT(pick(1u << 1, "192.0.2.1", false, 0, &set), 2);
    CHECK_INT(pick(0xf, "192.0.2.1", false, 0, &set), -1);
    /* Passively marked down: skipped until the period ends. */
    pc_balance_mark_down(0, 3, "Connection refused");
    CHECK(!pc_balance_usable(0, 3));
    CHECK_INT(pick(0, "x", false, 0, &set), 0);
    /* A passing health check ends it; health checks' verdict counts on its own. */
    pc_balance_health(0, 3, true, false);
    CHECK(pc_balance_usable(0, 3));
    pc_balance_health(0, 2, false, true);
    CHECK(!pc_balance_usable(0, 2));
    CHECK_INT(pick(1u << 0 | 1u << 1 | 1u << 3, "x", false, 0, &set), -1);
}

static void test_source(void)
{
    bool set;
    setup(PC_AFFINITY_SOURCE);
    int a = pick(0, "198.51.100.23", false, 0, &set);
    CHECK(a >= 0);
    for (int i = 0; i < 5; i++)
        CHECK_INT(pick(0, "198.51.100.23", false, 0, &set), a);
    /* Clients spread: over 64 addresses every member gets some. */
    int seen[4] = {0};
    char ip[32];
    for (int i = 0; i < 64; i++) {
        snprintf(ip, sizeof(ip), "203.0.113.%d", i);
        int m = pick(0, ip, false, 0, &set);
        if (m >= 0)
            seen[m]++;
    }
    CHECK(seen[0] && seen[1] && seen[2] && seen[3]);
    /* Its member down: the client moves, and comes back when it returns. */
    pc_balance_health(0, (unsigned)a, false, true);
    int b = pick(0, "198.51.100.23", false, 0, &set);
    CHECK(b >= 0 && b != a);
    pc_balance_health(0, (unsigned)a, true, false);
    CHECK_INT(pick(0, "198.51.100.23", false, 0, &set), a);
}

static void test_cookie(void)
{
    bool set;
    setup(PC_AFFINITY_COOKIE);
    CHECK_INT(pick(0, "x", true, members[2].id, &set), 2);
    CHECK(!set);
    int m = pick(0, "x", false, 0, &set); /* no cookie: round-robin, and set one */
    CHECK(m >= 0 && set);
    m = pick(0, "x", true, 0xdead, &set); /* a cookie naming no member */
    CHECK(m >= 0 && set);
    pc_balance_mark_down(0, 2, "timed out");
    m = pick(0, "x", true, members[2].id, &set); /* its member down: another, new cookie */
    CHECK(m >= 0 && m != 2 && set);
}

int main(void)
{
    pc_w.loop = ev_loop_new(EVFLAG_AUTO);
    pc_log_max = PC_LOG_ERR; /* the mark-down warnings are expected */
    test_round_robin();
    test_source();
    test_cookie();
    return UNIT_DONE();
}
