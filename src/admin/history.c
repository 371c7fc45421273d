/* history.c — the ring of samples behind the status page's graphs (see history.h).
 *
 * One writer, the master, between two sigtimedwait() ticks; one reader, worker 0, for
 * /status.json. No lock: the master builds a sample aside and copies it into the slot of the
 * oldest one, then publishes it by advancing `next` (release); the reader takes `next`
 * (acquire) and leaves out the oldest slot once the ring is full, the one the master writes
 * next. A sample costs one pc_stats_sum() per series the graphs read (about 20 per pool plus
 * 2 per published name and per member), each a hash lookup per live worker: no allocation,
 * nothing on the data path. */
#include "admin/admin.h"
#include "admin/history.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "admin/metrics.h"
#include "admin/stats.h"
#include "common/log.h"

#define CAP PC_HISTORY_SAMPLES
#define NB  PC_METRICS_NBUCKETS

_Static_assert(PC_HISTORY_POOLS <= 32, "struct pc_history_sample.valid has one bit per column");

struct pc_history *pc_history;

static double read_interval(void)
{
    const char *e = getenv(PC_HISTORY_INTERVAL_ENV);
    if (!e || !*e)
        return PC_HISTORY_DEFAULT_INTERVAL;
    char *end;
    double v = strtod(e, &end);
    if (*end || !(v >= 0.05 && v <= 3600)) {
        pc_warn("%s=%s: not 0.05 to 3600 seconds; sampling every %.0f s", PC_HISTORY_INTERVAL_ENV,
                e, PC_HISTORY_DEFAULT_INTERVAL);
        return PC_HISTORY_DEFAULT_INTERVAL;
    }
    return v;
}

int pc_history_create(void)
{
    void *p = mmap(NULL, sizeof(struct pc_history), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    pc_history = p; /* zero-filled: no samples, no columns */
    pc_history->interval = read_interval();
    return 0;
}

double pc_history_interval(void)
{
    return pc_history ? pc_history->interval : PC_HISTORY_DEFAULT_INTERVAL;
}

double pc_history_quantile(const uint64_t *cum, const double *bounds, size_t nb, double q)
{
    uint64_t total = cum[nb];
    if (!total)
        return -1;
    double rank = q * (double)total;
    for (size_t b = 0; b < nb; b++) {
        if ((double)cum[b] < rank)
            continue;
        double lo = b ? bounds[b - 1] : 0, below = b ? (double)cum[b - 1] : 0;
        double in = (double)cum[b] - below;
        return in > 0 ? lo + (bounds[b] - lo) * (rank - below) / in : bounds[b];
    }
    return bounds[nb - 1];
}

static uint64_t sum(const char *key, uint64_t absent)
{
    uint64_t v;
    return pc_stats_sum(key, &v) ? v : absent;
}

/* The column of pool NAME; -1 when it has none. */
static int find_column(const char *name)
{
    for (int c = 0; c < PC_HISTORY_POOLS; c++)
        if (strcmp(pc_history->col[c].name, name) == 0)
            return c;
    return -1;
}

/* A column for pool NAME, which has none: a free one or, failing that, the one whose pool has
 * gone longest without a sample (not one marked for sample USED); -1 when none is left. A
 * column taken over forgets its old pool's values. */
static int take_column(const char *name, uint32_t used)
{
    struct pc_history *h = pc_history;
    if (strlen(name) >= PC_HISTORY_NAME)
        return -1;
    int c = -1;
    for (int i = 0; i < PC_HISTORY_POOLS && (c < 0 || h->col[c].name[0]); i++)
        if (!h->col[i].name[0] ||
            (h->col[i].used != used && (c < 0 || h->col[i].used < h->col[c].used)))
            c = i;
    if (c < 0)
        return -1;
    for (uint32_t i = 0; i < CAP; i++)
        h->s[i].valid &= ~(1u << c);
    memset(&h->col[c], 0, sizeof(h->col[c]));
    strcpy(h->col[c].name, name);
    return c;
}

/* Per second over DT of the counter that went from A to B. */
static float rate(uint64_t a, uint64_t b, double dt)
{
    return (float)((double)(b - a) / dt);
}

/* Pool P's rates and quantiles since column C's last reading, and its members' health; adds
 * its upstream connections to *UPSTREAM. A first reading, or counters that went down (a
 * pool of that name that was removed, then added again), only primes C: rates -1. */
static void sample_pool(const struct pc_config *cfg, const struct pc_pool *p,
                        struct pc_history_column *c, struct pc_history_pool *out, double now,
                        uint64_t *upstream)
{
    char key[PC_STATS_KEY + 2];
    uint64_t hist[NB + 1], c4 = 0, c5 = 0;
    for (size_t b = 0; b <= NB; b++) {
        pc_metrics_bucket_key(key, sizeof(key), p->name, b);
        hist[b] = sum(key, 0);
    }
    for (size_t i = 0; i < cfg->nnames; i++) {
        if (cfg->names[i].pool != p)
            continue;
        pc_metrics_requests_key(key, sizeof(key), &cfg->names[i], 4);
        c4 += sum(key, 0);
        pc_metrics_requests_key(key, sizeof(key), &cfg->names[i], 5);
        c5 += sum(key, 0);
    }
    out->members = (uint16_t)(p->nmembers < UINT16_MAX ? p->nmembers : UINT16_MAX);
    out->members_up = 0;
    for (size_t m = 0; m < p->nmembers && m < UINT16_MAX; m++) {
        const char *host = p->members[m].host;
        snprintf(key, sizeof(key), "portico_member_up{pool=\"%s\",member=\"%s\"}", p->name, host);
        out->members_up += sum(key, 1) ? 1 : 0; /* no worker has checked it yet: up */
        snprintf(key, sizeof(key), "portico_upstream_connections{pool=\"%s\",member=\"%s\"}",
                 p->name, host);
        *upstream += sum(key, 0);
    }
    bool primed = c->t > 0 && now > c->t && c4 >= c->c4xx && c5 >= c->c5xx;
    uint64_t d[NB + 1];
    for (size_t b = 0; b <= NB && primed; b++) {
        primed = hist[b] >= c->hist[b];
        d[b] = hist[b] - c->hist[b];
        /* Buckets are read one after the other while workers count: keep them cumulative. */
        if (b && d[b] < d[b - 1])
            d[b] = d[b - 1];
    }
    out->requests = out->e4xx = out->e5xx = out->p50_ms = out->p99_ms = -1;
    if (primed) {
        double dt = now - c->t;
        out->requests = rate(c->hist[NB], hist[NB], dt);
        out->e4xx = rate(c->c4xx, c4, dt);
        out->e5xx = rate(c->c5xx, c5, dt);
        out->p50_ms = (float)(pc_history_quantile(d, pc_metrics_buckets, NB, 0.50) * 1000);
        out->p99_ms = (float)(pc_history_quantile(d, pc_metrics_buckets, NB, 0.99) * 1000);
    }
    memcpy(c->hist, hist, sizeof(hist));
    c->c4xx = c4;
    c->c5xx = c5;
    c->t = now;
}

static uint32_t gauge(uint64_t v)
{
    return v > UINT32_MAX ? 0 : (uint32_t)v; /* above: a gauge caught mid-update, below zero */
}

void pc_history_sample(const struct pc_config *cfg, double now)
{
    struct pc_history *h = pc_history;
    if (!h || !pc_stats)
        return;
    uint32_t n = h->next;
    struct pc_history_sample s = {.t = now};
    uint64_t upstream = 0;
    /* The pools that have a column keep it; then the new ones get one, if any is left. */
    for (size_t p = 0; p < cfg->npools; p++) {
        int c = find_column(cfg->pools[p].name);
        if (c >= 0)
            h->col[c].used = n + 1;
    }
    for (size_t p = 0; p < cfg->npools; p++) {
        int c = find_column(cfg->pools[p].name);
        if (c < 0 && (c = take_column(cfg->pools[p].name, n + 1)) < 0)
            continue;
        sample_pool(cfg, &cfg->pools[p], &h->col[c], &s.pool[c], now, &upstream);
        h->col[c].used = n + 1;
        s.valid |= 1u << c;
    }
    s.client = gauge(sum("portico_client_connections", 0));
    s.pinned = gauge(sum("portico_upstream_pinned_connections", 0));
    s.upstream = gauge(upstream);
    h->s[n % CAP] = s;
    __atomic_store_n(&h->next, n + 1, __ATOMIC_RELEASE);
}

enum field { F_T, F_CLIENT, F_UPSTREAM, F_PINNED, F_REQ, F_4XX, F_5XX, F_P50, F_P99, F_UP, F_N };

static void number(FILE *f, float v)
{
    if (v < 0 || v != v)
        fputs("null", f);
    else
        fprintf(f, "%.4g", (double)v);
}

static void value(FILE *f, const struct pc_history_sample *s, int col, enum field k)
{
    if (col >= PC_HISTORY_POOLS) {
        fputs("null", f); /* a pool with no column */
        return;
    }
    const struct pc_history_pool *p = col >= 0 ? &s->pool[col] : NULL;
    if (p && !(s->valid & (1u << col))) {
        fputs("null", f);
        return;
    }
    switch (k) {
    case F_T:
        fprintf(f, "%.2f", s->t);
        break;
    case F_CLIENT:
    case F_UPSTREAM:
    case F_PINNED:
        fprintf(f, "%u", k == F_CLIENT ? s->client : k == F_UPSTREAM ? s->upstream : s->pinned);
        break;
    case F_UP:
    case F_N:
        fprintf(f, "%u", (unsigned)(k == F_UP ? p->members_up : p->members));
        break;
    default:
        number(f, k == F_REQ   ? p->requests
                  : k == F_4XX ? p->e4xx
                  : k == F_5XX ? p->e5xx
                  : k == F_P50 ? p->p50_ms
                               : p->p99_ms);
    }
}

/* `,"NAME":[...]`: field K of the COUNT samples from FIRST on, of column COL (-1: the
 * sample's own fields; PC_HISTORY_POOLS: none, all null). */
static void series(FILE *f, const char *name, uint32_t first, uint32_t count, int col, enum field k)
{
    fprintf(f, "%s\"%s\":[", k == F_T ? "" : ",", name);
    for (uint32_t i = 0; i < count; i++) {
        if (i)
            fputc(',', f);
        value(f, &pc_history->s[(first + i) % CAP], col, k);
    }
    fputc(']', f);
}

void pc_history_json(FILE *f, const struct pc_config *cfg)
{
    struct pc_history *h = pc_history;
    uint32_t next = h ? __atomic_load_n(&h->next, __ATOMIC_ACQUIRE) : 0;
    uint32_t count = next < CAP ? next : CAP - 1, first = next - count;
    fprintf(f, "\"history\":{\"interval\":%g,\"capacity\":%d,", pc_history_interval(), CAP);
    series(f, "t", first, count, -1, F_T);
    series(f, "client_connections", first, count, -1, F_CLIENT);
    series(f, "upstream_connections", first, count, -1, F_UPSTREAM);
    series(f, "pinned_connections", first, count, -1, F_PINNED);
    fputs(",\"pools\":[", f);
    for (size_t p = 0; p < cfg->npools; p++) {
        /* A pool not sampled yet, or beyond PC_HISTORY_POOLS: values all null. */
        int c = h ? find_column(cfg->pools[p].name) : -1;
        if (c < 0)
            c = PC_HISTORY_POOLS;
        fputs(p ? ",{\"name\":" : "{\"name\":", f);
        pc_admin_json_str(f, cfg->pools[p].name);
        series(f, "requests_per_s", first, count, c, F_REQ);
        series(f, "4xx_per_s", first, count, c, F_4XX);
        series(f, "5xx_per_s", first, count, c, F_5XX);
        series(f, "p50_ms", first, count, c, F_P50);
        series(f, "p99_ms", first, count, c, F_P99);
        series(f, "members_up", first, count, c, F_UP);
        series(f, "members", first, count, c, F_N);
        fputc('}', f);
    }
    fputs("]}", f);
}
