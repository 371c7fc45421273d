/* signin.c — sign-in defence, the pure parts (docs/signin.md): account keys, the web-ticket
 * form, Basic, and the lockout table. */
#include "proxy/signin.h"

#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "proxy/ntlm.h"

/* ---- UTF-8 ---- */

/* The length of the UTF-8 sequence at P[0, N) (RFC 3629 §4: no overlong forms, no surrogates,
 * nothing over U+10FFFF), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t k = c < 0x80                 ? 1
               : c >= 0xc2 && c <= 0xdf ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (k == 0 || k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) || (c == 0xf0 && p[1] < 0x90) ||
        (c == 0xf4 && p[1] > 0x8f))
        return 0;
    return k;
}

static bool utf8_valid(const unsigned char *p, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if ((k = utf8_seq(p + i, n - i)) == 0)
            return false;
    return true;
}

/* ---- account keys ---- */

struct span {
    const char *p;
    size_t n;
};

/* Appends S folded to OUT[*o, CAP - 1): ASCII A-Z, and Latin-1 À-Þ but × (U+00C0-U+00DE but
 * U+00D7, UTF-8 C3 80-9E) to their lower case; every other code point as it is (AD compares
 * names case-insensitively over all of Unicode: a name in another script that an attacker
 * writes in several cases gets an allowance per spelling, which the per-source limit bounds).
 * Spaces: leading and trailing ones dropped, inner runs made one (LDAP's insignificant-space
 * handling, so that `alice ` is not a second account). Controls (C0, DEL) fail. */
static int fold_into(struct span s, char *out, size_t *o, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s.p;
    size_t n = s.n;
    while (n && p[0] == ' ')
        p++, n--;
    while (n && p[n - 1] == ' ')
        n--;
    if (n == 0 || !utf8_valid(p, n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c < 0x20 || c == 0x7f)
            return -1;
        if (c == ' ' && p[i + 1] == ' ')
            continue; /* i + 1 < n: trailing spaces are gone */
        if (c >= 'A' && c <= 'Z')
            c += 0x20;
        else if (i > 0 && p[i - 1] == 0xc3 && c >= 0x80 && c <= 0x9e && c != 0x97)
            c += 0x20;
        if (*o + 1 >= cap)
            return -1;
        out[(*o)++] = (char)c;
    }
    out[*o] = 0;
    return 0;
}

int pc_signin_account(const char *domain, const char *user, bool qualified, char *out, size_t cap)
{
    if (!user || cap == 0)
        return -1;
    struct span name = {user, strlen(user)},
                dom = {domain ? domain : "", domain ? strlen(domain) : 0};
    const char *bs = memchr(name.p, '\\', name.n);
    if (bs) {
        dom = (struct span){name.p, (size_t)(bs - name.p)};
        name = (struct span){bs + 1, name.n - (size_t)(bs + 1 - name.p)};
    }
    const char *at = memrchr(name.p, '@', name.n);
    if (at) {
        const char *suffix = at + 1, *end = name.p + name.n;
        const char *dot = memchr(suffix, '.', (size_t)(end - suffix));
        dom = (struct span){suffix, (size_t)((dot ? dot : end) - suffix)};
        name.n = (size_t)(at - name.p);
    }
    size_t o = 0;
    out[0] = 0;
    /* A domain that does not fold (all spaces, say) is left out rather than failing. */
    if (qualified && dom.n) {
        if (fold_into(dom, out, &o, cap) == 0 && o + 1 < cap)
            out[o++] = '\\';
        else
            o = 0;
    }
    if (fold_into(name, out, &o, cap) != 0) {
        out[0] = 0;
        return -1;
    }
    return (int)o;
}

/* ---- the form (HTML 5 "application/x-www-form-urlencoded", as ASP.NET reads it) ---- */

static int hexval(unsigned char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes S into OUT[0, CAP - 1) with its NUL: `+` is a space, `%XX` a byte, and `%uXXXX` (a
 * BMP code point other than a surrogate, as UTF-8) because ASP.NET's UrlDecode takes it too:
 * otherwise `%u0061lice` would be alice for the pool and nobody here. Returns the length, -1
 * for a bad escape, -2 when it does not fit. */
static long form_decode(struct span s, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i], b[3];
        size_t k = 1;
        b[0] = c == '+' ? ' ' : c;
        if (c == '%' && i + 5 < s.n && (s.p[i + 1] == 'u' || s.p[i + 1] == 'U')) {
            unsigned cp = 0;
            for (int j = 2; j < 6; j++) {
                int h = hexval((unsigned char)s.p[i + (size_t)j]);
                if (h < 0)
                    return -1;
                cp = cp << 4 | (unsigned)h;
            }
            if (cp >= 0xd800 && cp <= 0xdfff)
                return -1;
            if (cp < 0x80)
                b[0] = (unsigned char)cp;
            else if (cp < 0x800)
                b[0] = (unsigned char)(0xc0 | cp >> 6), b[1] = (unsigned char)(0x80 | (cp & 0x3f)),
                k = 2;
            else
                b[0] = (unsigned char)(0xe0 | cp >> 12),
                b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f)),
                b[2] = (unsigned char)(0x80 | (cp & 0x3f)), k = 3;
            i += 5;
        } else if (c == '%') {
            int h1 = i + 2 < s.n ? hexval((unsigned char)s.p[i + 1]) : -1;
            int h2 = i + 2 < s.n ? hexval((unsigned char)s.p[i + 2]) : -1;
            if (h1 < 0 || h2 < 0)
                return -1;
            b[0] = (unsigned char)(h1 << 4 | h2);
            i += 2;
        }
        if (k >= cap - o)
            return -2;
        memcpy(out + o, b, k);
        o += k;
    }
    out[o] = 0;
    return (long)o;
}

enum form_field { FIELD_OTHER, FIELD_GRANT, FIELD_USER, FIELD_PASSWORD };

/* Field names compare case-insensitively after decoding (ASP.NET's form collection does). */
static int form_field(struct span key)
{
    char k[16];
    long n = form_decode(key, k, sizeof k);
    if (n == -1)
        return -1;
    if (n < 0)
        return FIELD_OTHER;
    return strcasecmp(k, "grant_type") == 0 ? FIELD_GRANT
           : strcasecmp(k, "username") == 0 ? FIELD_USER
           : strcasecmp(k, "password") == 0 ? FIELD_PASSWORD
                                            : FIELD_OTHER;
}

/* The grant: `password` in any case (a spelling the pool might take must never escape the
 * count), the anonymous meeting join only exactly (a spelling that does not match is OTHER). */
static enum pc_signin_form_kind form_grant(struct span v)
{
    char g[40];
    long n = form_decode(v, g, sizeof g);
    if (n == -1)
        return PC_SIGNIN_FORM_MALFORMED;
    if (n >= 0 && strcasecmp(g, "password") == 0)
        return PC_SIGNIN_FORM_PASSWORD;
    if (n >= 0 && strcmp(g, "urn:microsoft.rtc:anonmeeting") == 0)
        return PC_SIGNIN_FORM_ANONYMOUS;
    return PC_SIGNIN_FORM_OTHER;
}

/* One name=value pair. A repeated grant_type or username is MALFORMED: which copy the pool
 * would read is not ours to guess. The password's value is never looked at. */
static int form_pair(struct span pair, struct pc_signin_form *out, bool *grant_seen)
{
    const char *eq = memchr(pair.p, '=', pair.n);
    struct span key = {pair.p, eq ? (size_t)(eq - pair.p) : pair.n};
    struct span val = {eq ? eq + 1 : pair.p + pair.n, eq ? pair.n - key.n - 1 : 0};
    switch (form_field(key)) {
    case FIELD_GRANT:
        if (*grant_seen)
            return -1;
        *grant_seen = true;
        out->kind = form_grant(val);
        return out->kind == PC_SIGNIN_FORM_MALFORMED ? -1 : 0;
    case FIELD_USER:
        if (out->has_username || form_decode(val, out->username, sizeof out->username) < 0)
            return -1;
        out->has_username = true;
        return 0;
    case FIELD_PASSWORD:
        out->has_password = true;
        return 0;
    case FIELD_OTHER:
        return 0;
    default:
        return -1;
    }
}

enum pc_signin_form_kind pc_signin_parse_form(const char *body, size_t len,
                                              struct pc_signin_form *out)
{
    memset(out, 0, sizeof *out);
    bool grant_seen = false;
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t e = amp ? (size_t)(amp - body) : len;
        if (e > i && form_pair((struct span){body + i, e - i}, out, &grant_seen) != 0) {
            memset(out, 0, sizeof *out);
            return out->kind = PC_SIGNIN_FORM_MALFORMED;
        }
        i = e + 1;
    }
    return out->kind;
}

/* ---- Basic (RFC 7617 §2) ---- */

/* credentials = "Basic" 1*SP token68, the token68 the base64 of user-id ":" password. The user-id
 * cannot hold a colon (§2), so the first one ends it; decoding stops there, byte by byte, and
 * the password is never decoded. Without charset="UTF-8" (§2.1) the encoding is unspecified:
 * UTF-8 when it is, else Latin-1. */
int pc_signin_parse_basic(const char *v, size_t n, char *user, size_t cap)
{
    while (n && (v[0] == ' ' || v[0] == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (cap)
        user[0] = 0;
    if (n < 5 || strncasecmp(v, "basic", 5) != 0 || (n > 5 && v[5] != ' ' && v[5] != '\t'))
        return 0;
    size_t i = 5;
    while (i < n && v[i] == ' ')
        i++;
    long len = pc_ntlm_b64_length(v + i, n - i);
    if (i == 5 || len < 0)
        return -1;
    unsigned char raw[PC_SIGNIN_NAME_MAX];
    size_t u = 0;
    for (;; u++) {
        if (u == (size_t)len || u == sizeof raw)
            return -1; /* no colon, or a user-id too long */
        raw[u] = pc_ntlm_b64_byte(v + i, u);
        if (raw[u] == ':')
            break;
        if (raw[u] < 0x20 || raw[u] == 0x7f)
            return -1;
    }
    size_t o = 0;
    bool utf8 = utf8_valid(raw, u);
    for (size_t j = 0; j < u; j++) {
        size_t k = utf8 || raw[j] < 0x80 ? 1 : 2;
        if (k >= cap - o)
            return -1;
        if (k == 1)
            user[o++] = (char)raw[j];
        else
            user[o++] = (char)(0xc0 | raw[j] >> 6), user[o++] = (char)(0x80 | (raw[j] & 0x3f));
    }
    user[o] = 0;
    return 1;
}

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
