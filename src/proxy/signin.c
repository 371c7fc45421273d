/* signin.c — the lockout table of the sign-in defence (signin.h, docs/signin.md): accounts
 * and sources in one caller-provided block, with no pointer inside so it can be shared. */
#include "proxy/signin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "proxy/ntlm.h"

/* ---- the lockout table ----
 *
 * One block: the header, then for accounts and for sources an open-addressing index (linear
 * probing, at least twice as many slots as entries, so a probe always ends on an empty slot;
 * deletion by backward shift, Knuth's algorithm R, so no tombstones) and the entries, linked in
 * a least-recently-used list by index. A full table takes the least recently used entry for a
 * new one. Offsets and indices only: the block may be mapped anywhere. */

#define NIL UINT32_MAX

struct allowance {
    int64_t fail[PC_SIGNIN_THRESHOLD_MAX]; /* the last `threshold` failures, a ring */
    int64_t lock_until;
    uint8_t next, count;
};

struct familiar {
    bool used;
    uint8_t src[16];
    int64_t last_ok; /* the last success from src */
    struct allowance a;
};

struct node {
    uint32_t hash, prev, next;
};

struct account {
    struct node node;
    char key[PC_SIGNIN_NAME_MAX];
    struct allowance general; /* every source but the familiar ones */
    struct familiar fam[PC_SIGNIN_FAMILIAR_MAX];
};

struct source {
    struct node node;
    uint8_t src[16];
    int64_t lock_until;
    uint32_t nrecent;
    struct {
        uint32_t hash; /* account (or, for Kerberos, a fresh pseudo-account per failure) */
        int64_t t;     /* its last failure from this source */
    } recent[PC_SIGNIN_SPRAY_MAX];
};

struct lru {
    uint32_t cap, used, head, tail, mask;
    uint32_t esize;
    uint64_t slots_off, entries_off;
};

struct pc_signin_table {
    struct pc_signin_policy policy;
    uint32_t seed, pseudo;
    struct lru acct, src;
};

void pc_signin_policy_default(struct pc_signin_policy *p)
{
    *p = (struct pc_signin_policy){.threshold = 4,
                                   .window = 900,
                                   .duration = 900,
                                   .familiar_ttl = 14 * 86400,
                                   .spray_accounts = 10,
                                   .spray_window = 600,
                                   .spray_duration = 3600};
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Lays out L for CAP entries of ESIZE bytes from *OFF; 0, or -1 for a capacity out of range. */
static int lru_layout(struct lru *l, unsigned cap, size_t esize, size_t *off)
{
    if (cap == 0 || cap > (1u << 24))
        return -1;
    uint32_t slots = 1;
    while (slots < 2 * cap)
        slots <<= 1;
    *l = (struct lru){.cap = cap, .head = NIL, .tail = NIL, .mask = slots - 1};
    l->esize = (uint32_t)esize;
    l->slots_off = *off;
    *off = align8(*off + (size_t)slots * sizeof(uint32_t));
    l->entries_off = *off;
    *off = align8(*off + (size_t)cap * esize);
    return 0;
}

static size_t layout(struct pc_signin_table *t, unsigned accounts, unsigned sources)
{
    size_t off = align8(sizeof *t);
    if (lru_layout(&t->acct, accounts, sizeof(struct account), &off) != 0 ||
        lru_layout(&t->src, sources, sizeof(struct source), &off) != 0)
        return 0;
    return off;
}

size_t pc_signin_size(unsigned accounts, unsigned sources)
{
    struct pc_signin_table t;
    return layout(&t, accounts, sources);
}

struct pc_signin_table *pc_signin_init(void *mem, size_t size, const struct pc_signin_policy *p,
                                       unsigned accounts, unsigned sources, uint32_t seed)
{
    struct pc_signin_table *t = mem;
    if (!mem || ((uintptr_t)mem & 7) || p->threshold < 1 ||
        p->threshold > PC_SIGNIN_THRESHOLD_MAX || p->spray_accounts < 1 ||
        p->spray_accounts > PC_SIGNIN_SPRAY_MAX || !p->window || !p->spray_window)
        return NULL;
    size_t need = pc_signin_size(accounts, sources);
    if (need == 0 || size < need)
        return NULL;
    /* The header and the indexes start at zero; an entry is zeroed when it is first taken
     * (lru_insert), so that the pages of a large table in a fresh mapping stay untouched until
     * used. */
    memset(t, 0, sizeof *t);
    layout(t, accounts, sources);
    memset((char *)mem + t->acct.slots_off, 0, t->acct.entries_off - t->acct.slots_off);
    memset((char *)mem + t->src.slots_off, 0, t->src.entries_off - t->src.slots_off);
    t->policy = *p;
    t->seed = seed;
    return t;
}

void pc_signin_set_policy(struct pc_signin_table *t, const struct pc_signin_policy *p)
{
    if (p->threshold >= 1 && p->threshold <= PC_SIGNIN_THRESHOLD_MAX && p->spray_accounts >= 1 &&
        p->spray_accounts <= PC_SIGNIN_SPRAY_MAX && p->window && p->spray_window)
        t->policy = *p;
}

static struct node *node_at(const struct pc_signin_table *t, const struct lru *l, uint32_t i)
{
    return (struct node *)((char *)t + l->entries_off + (size_t)i * l->esize);
}

static uint32_t *slot_array(struct pc_signin_table *t, const struct lru *l)
{
    return (uint32_t *)((char *)t + l->slots_off);
}

static void lru_unlink(struct pc_signin_table *t, struct lru *l, uint32_t i)
{
    struct node *n = node_at(t, l, i);
    if (n->prev != NIL)
        node_at(t, l, n->prev)->next = n->next;
    else
        l->head = n->next;
    if (n->next != NIL)
        node_at(t, l, n->next)->prev = n->prev;
    else
        l->tail = n->prev;
}

static void lru_front(struct pc_signin_table *t, struct lru *l, uint32_t i)
{
    struct node *n = node_at(t, l, i);
    n->prev = NIL;
    n->next = l->head;
    if (l->head != NIL)
        node_at(t, l, l->head)->prev = i;
    l->head = i;
    if (l->tail == NIL)
        l->tail = i;
}

/* Takes entry I out of the index: empties its slot, then moves back every later entry of the
 * run whose home slot does not lie cyclically in (hole, its slot]. */
static void slot_remove(struct pc_signin_table *t, struct lru *l, uint32_t i)
{
    uint32_t *slot = slot_array(t, l), s = node_at(t, l, i)->hash & l->mask;
    while (slot[s] != i + 1)
        s = (s + 1) & l->mask;
    for (uint32_t j = s;;) {
        slot[s] = 0;
        for (;;) {
            j = (j + 1) & l->mask;
            if (slot[j] == 0)
                return;
            uint32_t k = node_at(t, l, slot[j] - 1)->hash & l->mask;
            if (s <= j ? (s < k && k <= j) : (s < k || k <= j))
                continue;
            slot[s] = slot[j];
            s = j;
            break;
        }
    }
}

typedef bool (*entry_eq)(const struct node *n, const void *key);

/* The entry of HASH that EQ says is KEY, moved to the front; NIL if none. */
static uint32_t lru_find(struct pc_signin_table *t, struct lru *l, uint32_t hash, entry_eq eq,
                         const void *key)
{
    uint32_t *slot = slot_array(t, l);
    for (uint32_t s = hash & l->mask; slot[s]; s = (s + 1) & l->mask) {
        uint32_t i = slot[s] - 1;
        struct node *n = node_at(t, l, i);
        if (n->hash == hash && eq(n, key)) {
            lru_unlink(t, l, i);
            lru_front(t, l, i);
            return i;
        }
    }
    return NIL;
}

/* A zeroed entry for HASH at the front: a never-used one, else the least recently used. */
static uint32_t lru_insert(struct pc_signin_table *t, struct lru *l, uint32_t hash)
{
    uint32_t i;
    if (l->used < l->cap) {
        i = l->used++;
    } else {
        i = l->tail;
        slot_remove(t, l, i);
        lru_unlink(t, l, i);
    }
    struct node *n = node_at(t, l, i);
    memset(n, 0, l->esize);
    n->hash = hash;
    uint32_t *slot = slot_array(t, l), s = hash & l->mask;
    while (slot[s])
        s = (s + 1) & l->mask;
    slot[s] = i + 1;
    lru_front(t, l, i);
    return i;
}

static bool account_eq(const struct node *n, const void *key)
{
    return strcmp(((const struct account *)n)->key, key) == 0;
}

static bool source_eq(const struct node *n, const void *key)
{
    return memcmp(((const struct source *)n)->src, key, 16) == 0;
}

/* ACCOUNT's entry, made when MAKE (NULL when the key does not fit). */
static struct account *account_get(struct pc_signin_table *t, const char *key, bool make)
{
    size_t n = strlen(key);
    if (n >= PC_SIGNIN_NAME_MAX)
        return NULL;
    uint32_t h = pc_fnv1a(PC_FNV_INIT ^ t->seed, key, n);
    uint32_t i = lru_find(t, &t->acct, h, account_eq, key);
    if (i == NIL && make) {
        i = lru_insert(t, &t->acct, h);
        memcpy(((struct account *)node_at(t, &t->acct, i))->key, key, n + 1);
    }
    return i == NIL ? NULL : (struct account *)node_at(t, &t->acct, i);
}

static struct source *source_get(struct pc_signin_table *t, const uint8_t key[16], bool make)
{
    uint32_t h = pc_fnv1a(PC_FNV_INIT ^ t->seed, key, 16);
    uint32_t i = lru_find(t, &t->src, h, source_eq, key);
    if (i == NIL && make) {
        i = lru_insert(t, &t->src, h);
        memcpy(((struct source *)node_at(t, &t->src, i))->src, key, 16);
    }
    return i == NIL ? NULL : (struct source *)node_at(t, &t->src, i);
}

/* ---- the policy ---- */

static unsigned allowance_recent(const struct allowance *a, int64_t now, unsigned window)
{
    unsigned k = 0;
    for (unsigned j = 0; j < a->count; j++)
        k += a->fail[j] > now - (int64_t)window;
    return k;
}

/* A sliding window: the ring keeps the last `threshold` failures, and the allowance locks when
 * all of them fall within the window. */
static void allowance_fail(struct allowance *a, int64_t now, const struct pc_signin_policy *p)
{
    a->fail[a->next] = now;
    a->next = (uint8_t)((a->next + 1) % p->threshold);
    if (a->count < p->threshold)
        a->count++;
    if (allowance_recent(a, now, p->window) >= p->threshold)
        a->lock_until = now + (int64_t)p->duration;
}

static struct familiar *familiar_find(struct account *a, const uint8_t src[16], int64_t now,
                                      unsigned ttl)
{
    for (int j = 0; j < PC_SIGNIN_FAMILIAR_MAX; j++) {
        struct familiar *f = &a->fam[j];
        if (f->used && memcmp(f->src, src, 16) == 0 && f->last_ok > now - (int64_t)ttl)
            return f;
    }
    return NULL;
}

/* The record for SRC: its old one (even expired), else a free one, else the oldest success. */
static struct familiar *familiar_take(struct account *a, const uint8_t src[16])
{
    struct familiar *best = &a->fam[0];
    for (int j = 0; j < PC_SIGNIN_FAMILIAR_MAX; j++) {
        struct familiar *f = &a->fam[j];
        if (f->used && memcmp(f->src, src, 16) == 0)
            return f;
        if (!f->used ? best->used : best->used && f->last_ok < best->last_ok)
            best = f;
    }
    memset(best, 0, sizeof *best);
    best->used = true;
    memcpy(best->src, src, 16);
    return best;
}

/* A failure for the account of hash H from S: the spray count is the number of distinct
 * accounts with a failure within spray_window. */
static void source_fail(struct source *s, uint32_t h, int64_t now, const struct pc_signin_policy *p)
{
    uint32_t at = NIL, oldest = 0;
    for (uint32_t j = 0; j < s->nrecent && at == NIL; j++) {
        if (s->recent[j].hash == h)
            at = j;
        else if (s->recent[j].t < s->recent[oldest].t)
            oldest = j;
    }
    if (at == NIL)
        at = s->nrecent < PC_SIGNIN_SPRAY_MAX ? s->nrecent++ : oldest;
    s->recent[at].hash = h;
    s->recent[at].t = now;
    unsigned k = 0;
    for (uint32_t j = 0; j < s->nrecent; j++)
        k += s->recent[j].t > now - (int64_t)p->spray_window;
    if (k >= p->spray_accounts)
        s->lock_until = now + (int64_t)p->spray_duration;
}

/* A familiar source is judged by its own allowance only: neither the account's lock from
 * elsewhere nor its own spray lock applies (a company's NAT address where many users sign in
 * must not lock all of them out because several mistyped). */
enum pc_signin_verdict pc_signin_check(struct pc_signin_table *t, int64_t now, const char *account,
                                       const struct pc_addr *source)
{
    uint8_t sk[16];
    pc_signin_source_key(source, sk);
    struct account *a = account && *account ? account_get(t, account, false) : NULL;
    struct familiar *f = a ? familiar_find(a, sk, now, t->policy.familiar_ttl) : NULL;
    if (!f) {
        struct source *s = source_get(t, sk, false);
        if (s && now < s->lock_until)
            return PC_SIGNIN_REFUSE_SOURCE;
    }
    if (a && now < (f ? f->a.lock_until : a->general.lock_until))
        return PC_SIGNIN_REFUSE_ACCOUNT;
    return PC_SIGNIN_ALLOW;
}

/* A success clears the allowance it was made in (as AD resets badPwdCount) and makes the
 * source familiar for the account; a failure counts in that allowance and, from an unfamiliar
 * source, towards the source's spray count. */
void pc_signin_result(struct pc_signin_table *t, int64_t now, const char *account,
                      const struct pc_addr *source, bool success)
{
    uint8_t sk[16];
    pc_signin_source_key(source, sk);
    struct account *a = account && *account ? account_get(t, account, true) : NULL;
    struct familiar *f = a ? familiar_find(a, sk, now, t->policy.familiar_ttl) : NULL;
    if (success) {
        if (!a)
            return;
        if (!f) {
            memset(&a->general, 0, sizeof a->general);
            f = familiar_take(a, sk);
        }
        memset(&f->a, 0, sizeof f->a);
        f->last_ok = now;
        return;
    }
    if (a)
        allowance_fail(f ? &f->a : &a->general, now, &t->policy);
    if (!f) {
        uint32_t h = a ? a->node.hash : pc_fnv1a(~t->seed, &t->pseudo, sizeof t->pseudo);
        t->pseudo++;
        source_fail(source_get(t, sk, true), h, now, &t->policy);
    }
}

void pc_signin_stats(const struct pc_signin_table *t, int64_t now, struct pc_signin_stats *s)
{
    *s = (struct pc_signin_stats){.accounts = t->acct.used, .sources = t->src.used};
    for (uint32_t i = 0; i < t->acct.used; i++) {
        const struct account *a = (const struct account *)node_at(t, &t->acct, i);
        s->accounts_locked += now < a->general.lock_until;
        for (int j = 0; j < PC_SIGNIN_FAMILIAR_MAX; j++)
            s->accounts_locked += a->fam[j].used && now < a->fam[j].a.lock_until;
    }
    for (uint32_t i = 0; i < t->src.used; i++)
        s->sources_locked += now < ((const struct source *)node_at(t, &t->src, i))->lock_until;
}

void pc_signin_each_lock(const struct pc_signin_table *t, int64_t now, pc_signin_lock_fn *fn,
                         void *arg)
{
    for (uint32_t i = 0; i < t->acct.used; i++) {
        const struct account *a = (const struct account *)node_at(t, &t->acct, i);
        struct pc_signin_lock l = {.account = a->key};
        if (now < a->general.lock_until) {
            l.until = a->general.lock_until;
            fn(&l, arg);
        }
        for (int j = 0; j < PC_SIGNIN_FAMILIAR_MAX; j++) {
            const struct familiar *f = &a->fam[j];
            if (f->used && now < f->a.lock_until) {
                l.until = f->a.lock_until;
                l.familiar = f->src;
                fn(&l, arg);
            }
        }
    }
    for (uint32_t i = 0; i < t->src.used; i++) {
        const struct source *s = (const struct source *)node_at(t, &t->src, i);
        if (now < s->lock_until)
            fn(&(struct pc_signin_lock){.source = s->src, .until = s->lock_until}, arg);
    }
}

void pc_signin_expire(struct pc_signin_table *t, int64_t now, pc_signin_lock_fn *fn, void *arg)
{
    for (uint32_t i = 0; i < t->acct.used; i++) {
        struct account *a = (struct account *)node_at(t, &t->acct, i);
        if (a->general.lock_until && now >= a->general.lock_until) {
            fn(&(struct pc_signin_lock){.account = a->key, .until = a->general.lock_until}, arg);
            a->general.lock_until = 0;
        }
        for (int j = 0; j < PC_SIGNIN_FAMILIAR_MAX; j++) {
            struct familiar *f = &a->fam[j];
            if (f->used && f->a.lock_until && now >= f->a.lock_until) {
                fn(&(struct pc_signin_lock){.account = a->key,
                                            .familiar = f->src,
                                            .until = f->a.lock_until},
                   arg);
                f->a.lock_until = 0;
            }
        }
    }
    for (uint32_t i = 0; i < t->src.used; i++) {
        struct source *s = (struct source *)node_at(t, &t->src, i);
        if (s->lock_until && now >= s->lock_until) {
            fn(&(struct pc_signin_lock){.source = s->src, .until = s->lock_until}, arg);
            s->lock_until = 0;
        }
    }
}

bool pc_signin_clear_account(struct pc_signin_table *t, const char *account)
{
    struct account *a = account_get(t, account, false);
    if (!a)
        return false;
    memset(&a->general, 0, sizeof a->general);
    for (int j = 0; j < PC_SIGNIN_FAMILIAR_MAX; j++)
        memset(&a->fam[j].a, 0, sizeof a->fam[j].a); /* the familiar sources stay familiar */
    return true;
}

bool pc_signin_clear_source(struct pc_signin_table *t, const struct pc_addr *source)
{
    uint8_t sk[16];
    pc_signin_source_key(source, sk);
    struct source *s = source_get(t, sk, false);
    if (!s)
        return false;
    s->lock_until = 0;
    s->nrecent = 0;
    memset(s->recent, 0, sizeof s->recent);
    return true;
}

void pc_signin_source_text(const uint8_t k[16], char *buf, size_t size)
{
    static const uint8_t v4[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(k, v4, 12) == 0) {
        inet_ntop(AF_INET, k + 12, buf, (socklen_t)size);
        return;
    }
    char a[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, k, a, sizeof a);
    snprintf(buf, size, "%s/64", a);
}

void pc_signin_source_key(const struct pc_addr *a, uint8_t key[16])
{
    memset(key, 0, 16);
    if (!a)
        return;
    if (a->ss.ss_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    } else if (a->ss.ss_family == AF_INET6) {
        const struct in6_addr *v6 = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
        memcpy(key, v6, IN6_IS_ADDR_V4MAPPED(v6) ? 16 : 8);
    }
}
