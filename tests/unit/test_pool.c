/* test_pool.c — the member-connection bookkeeping (src/proxy/pool.c) without sockets or a
 * loop: idle lists (order, names, the cap) and pins (lookup, max_pinned_per_client). */
#include <stdlib.h>
#include <string.h>

#include "core/worker.h"
#include "proxy/pool.h"
#include "unit.h"

static struct pc_config cfg;
static struct pc_pool pools[2];
static struct pc_member members[2][2];

static void setup(void)
{
    for (int p = 0; p < 2; p++) {
        pools[p].members = members[p];
        pools[p].nmembers = 2;
    }
    cfg.pools = pools;
    cfg.npools = 2;
    cfg.max_pinned_per_client = 3;
    pc_w.cfg = &cfg;
    CHECK_INT(pc_pool_init(&cfg), 0);
}

static struct pc_upconn *conn(unsigned pool, unsigned member, const char *sni, bool tls)
{
    struct pc_upconn *u = calloc(1, sizeof(*u));
    u->pool_idx = pool;
    u->member_idx = member;
    u->sni = strdup(sni);
    u->tc.ssl = tls ? (SSL *)(uintptr_t)1 : NULL; /* only compared with NULL */
    pc_list_init(&u->link);
    return u;
}

static void drop(struct pc_upconn *u)
{
    free(u->sni);
    free(u);
}

static void test_idle(void)
{
    struct pc_upconn *a = conn(0, 1, "webext.contoso.com", true);
    struct pc_upconn *b = conn(0, 1, "webext.contoso.com", true);
    struct pc_upconn *c = conn(0, 1, "meet.contoso.com", true);
    struct pc_upconn *d = conn(0, 1, "", false);
    CHECK(pc_pool_idle_put(a) == NULL);
    CHECK(pc_pool_idle_put(b) == NULL);
    CHECK(pc_pool_idle_put(c) == NULL);
    CHECK(pc_pool_idle_put(d) == NULL);
    CHECK_INT(pc_pool_nidle(0, 1), 4);
    /* The most recent connection of the name, over the same protocol. */
    CHECK(pc_pool_idle_take(0, 1, true, "webext.contoso.com") == b);
    CHECK(pc_pool_idle_take(0, 1, true, "webext.contoso.com") == a);
    CHECK(pc_pool_idle_take(0, 1, true, "webext.contoso.com") == NULL);
    CHECK(pc_pool_idle_take(0, 1, false, "meet.contoso.com") == NULL);
    CHECK(pc_pool_idle_take(0, 0, false, "") == NULL); /* another member */
    CHECK(pc_pool_idle_take(0, 1, false, "") == d);
    CHECK(pc_pool_idle_any() == c);
    pc_pool_idle_unlink(c);
    CHECK(pc_pool_idle_any() == NULL);
    CHECK_INT(pc_pool_nidle(0, 1), 0);
    drop(a), drop(b), drop(c), drop(d);
}

static void test_idle_cap(void)
{
    struct pc_upconn *all[PC_POOL_IDLE_MAX + 1];
    for (int i = 0; i <= PC_POOL_IDLE_MAX; i++) {
        all[i] = conn(1, 0, "", false);
        struct pc_upconn *evict = pc_pool_idle_put(all[i]);
        CHECK(evict == (i == PC_POOL_IDLE_MAX ? all[0] : NULL));
    }
    pc_pool_idle_unlink(all[0]); /* what closing the evicted one does */
    CHECK_INT(pc_pool_nidle(1, 0), PC_POOL_IDLE_MAX);
    /* The newest is taken first, the oldest left is the second one parked. */
    CHECK(pc_pool_idle_take(1, 0, false, "") == all[PC_POOL_IDLE_MAX]);
    CHECK(pc_pool_idle_put(all[PC_POOL_IDLE_MAX]) == NULL);
    for (struct pc_upconn *u; (u = pc_pool_idle_any());)
        pc_pool_idle_unlink(u);
    for (int i = 0; i <= PC_POOL_IDLE_MAX; i++)
        drop(all[i]);
}

static void test_pins(void)
{
    struct pc_list pins;
    pc_list_init(&pins);
    struct pc_txn t;
    memset(&t, 0, sizeof(t));
    t.pins = &pins;
    t.client_ip = "192.0.2.7";
    struct pc_upconn *p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = conn(0, (unsigned)(i % 2), i == 3 ? "dialin.contoso.com" : "", i == 3);
        p[i]->t = &t;
        p[i]->pinned = true;
    }
    struct pc_upconn *evict = (struct pc_upconn *)1;
    for (int i = 0; i < 3; i++) {
        CHECK(pc_pool_pin_room(&t, p[i], &evict) && evict == NULL);
        pc_pool_pin_link(p[i]);
    }
    CHECK(pc_pool_pin_find(&t, 0, false, "") == p[2]); /* newest first */
    CHECK(pc_pool_pin_find(&t, 0, true, "") == NULL);
    CHECK(pc_pool_pin_find(&t, 1, false, "") == NULL);
    /* At the cap with every pin busy: no room. */
    CHECK(!pc_pool_pin_room(&t, p[3], &evict) && evict == NULL);
    /* Two between requests: the oldest of them goes. */
    p[1]->pin_idle = p[2]->pin_idle = true;
    CHECK(pc_pool_pin_room(&t, p[3], &evict) && evict == p[1]);
    pc_pool_pin_unlink(p[1]);
    pc_pool_pin_link(p[3]);
    CHECK(pc_pool_pin_find(&t, 0, true, "dialin.contoso.com") == p[3]);
    CHECK(pins.next == &p[3]->link && p[3]->link.next == &p[2]->link &&
          p[2]->link.next == &p[0]->link && p[0]->link.next == &pins);
    pc_pool_pin_unlink(p[3]);
    pc_pool_pin_unlink(p[0]);
    CHECK(pins.next == &p[2]->link && p[2]->link.next == &pins && p[2]->link.prev == &pins);
    CHECK(p[3]->link.next == &p[3]->link); /* off every list */
    pc_pool_pin_unlink(p[2]);
    CHECK(pc_list_empty(&pins));
    for (int i = 0; i < 4; i++)
        drop(p[i]);
}

int main(void)
{
    setup();
    test_idle();
    test_idle_cap();
    test_pins();
    return UNIT_DONE();
}
