/* metrics.c — counting on the data path (see metrics.h). */
#include "admin/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/stats.h"

/* Request duration buckets (seconds): API calls are milliseconds, long polls minutes. */
const double pc_metrics_buckets[PC_METRICS_NBUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800};
#define NB PC_METRICS_NBUCKETS

struct pool_m {
    uint64_t *hist[NB + 1]; /* cumulative, the last is +Inf */
    uint64_t *sum_us, *count, *bytes_in, *bytes_out;
    uint64_t **m_requests, **m_conns, **m_up, **m_fail;
};

static const struct pc_config *cfg; /* the worker's */
static struct ev_loop *loop;
static struct pool_m *pools;
static uint64_t *(*names)[5]; /* per published name, per status class */
static uint64_t *client_conns, *pinned, *tls_ok, *handovers[2];
static uint64_t *protos[PC_PROTO_N], *h2_conns, *h2_streams;
static uint64_t *h2_resets[PC_H2_RST_N], *h2_goaways[PC_H2_GA_N];

/* Label values, in the order of the enums (metrics.h). */
static const char *const proto_names[PC_PROTO_N] = {"HTTP/1.1", "HTTP/1.0", "HTTP/2.0"};
static const char *const reset_names[PC_H2_RST_N] = {
    "rapid_reset",    "client_cancel", "http_1_1_required", "refused_stream",
    "protocol_error", "timeout",       "internal_error",    "other"};
static const char *const goaway_names[PC_H2_GA_N] = {
    "no_error",   "rapid_reset",    "continuation_flood", "settings_flood", "ping_flood",
    "empty_data", "outbound_flood", "protocol_error",     "internal_error", "other"};

void pc_metrics_bucket_key(char *buf, size_t len, const char *pool, size_t b)
{
    if (b < NB)
        snprintf(buf, len, "portico_request_duration_seconds_bucket{pool=\"%s\",le=\"%g\"}", pool,
                 pc_metrics_buckets[b]);
    else
        snprintf(buf, len, "portico_request_duration_seconds_bucket{pool=\"%s\",le=\"+Inf\"}",
                 pool);
}

void pc_metrics_requests_key(char *buf, size_t len, const struct pc_name *n, int cls)
{
    /* A wildcard as it is written, "*.contoso.com" (the loader keeps ".contoso.com"). */
    snprintf(buf, len, "portico_requests_total{pool=\"%s\",name=\"%s%s\",class=\"%dxx\"}",
             n->pool->name, n->wildcard ? "*" : "", n->name, cls);
}

void pc_metrics_init(const struct pc_config *c, struct ev_loop *l)
{
    cfg = c;
    loop = l;
    char key[1024]; /* longer keys than PC_STATS_KEY are not kept (pc_stat) */
    pools = calloc(cfg->npools + 1, sizeof(*pools));
    names = calloc(cfg->nnames + 1, sizeof(*names));
    if (!pools || !names)
        return;
    for (size_t p = 0; p < cfg->npools; p++) {
        const struct pc_pool *pool = &cfg->pools[p];
        struct pool_m *pm = &pools[p];
        for (size_t b = 0; b <= NB; b++) {
            pc_metrics_bucket_key(key, sizeof(key), pool->name, b);
            pm->hist[b] = pc_stat(PC_COUNTER, key);
        }
#define SERIES(field, kind, fmt, ...)                                                              \
    do {                                                                                           \
        snprintf(key, sizeof(key), fmt, __VA_ARGS__);                                              \
        field = pc_stat(kind, key);                                                                \
    } while (0)
        SERIES(pm->sum_us, PC_COUNTER, "portico_request_duration_seconds_sum{pool=\"%s\"}",
               pool->name);
        SERIES(pm->count, PC_COUNTER, "portico_request_duration_seconds_count{pool=\"%s\"}",
               pool->name);
        SERIES(pm->bytes_in, PC_COUNTER, "portico_received_bytes_total{pool=\"%s\"}", pool->name);
        SERIES(pm->bytes_out, PC_COUNTER, "portico_sent_bytes_total{pool=\"%s\"}", pool->name);
        pm->m_requests = calloc(pool->nmembers + 1, sizeof(uint64_t *));
        pm->m_conns = calloc(pool->nmembers + 1, sizeof(uint64_t *));
        pm->m_up = calloc(pool->nmembers + 1, sizeof(uint64_t *));
        pm->m_fail = calloc(pool->nmembers + 1, sizeof(uint64_t *));
        if (!pm->m_requests || !pm->m_conns || !pm->m_up || !pm->m_fail)
            return;
        for (size_t m = 0; m < pool->nmembers; m++) {
            const char *h = pool->members[m].host;
            SERIES(pm->m_requests[m], PC_COUNTER,
                   "portico_member_requests_total{pool=\"%s\",member=\"%s\"}", pool->name, h);
            SERIES(pm->m_conns[m], PC_GAUGE,
                   "portico_upstream_connections{pool=\"%s\",member=\"%s\"}", pool->name, h);
            SERIES(pm->m_up[m], PC_GAUGE_MIN, "portico_member_up{pool=\"%s\",member=\"%s\"}",
                   pool->name, h);
            SERIES(pm->m_fail[m], PC_COUNTER,
                   "portico_upstream_connect_failures_total{pool=\"%s\",member=\"%s\"}", pool->name,
                   h);
            *pm->m_up[m] = 1;
        }
    }
    for (size_t i = 0; i < cfg->nnames; i++) {
        for (int c = 0; c < 5; c++) {
            pc_metrics_requests_key(key, sizeof(key), &cfg->names[i], c + 1);
            names[i][c] = pc_stat(PC_COUNTER, key);
        }
    }
    client_conns = pc_stat(PC_GAUGE, "portico_client_connections");
    pinned = pc_stat(PC_GAUGE, "portico_upstream_pinned_connections");
    tls_ok = pc_stat(PC_COUNTER, "portico_tls_handshakes_total");
    handovers[0] = pc_stat(PC_COUNTER, "portico_tls_handovers_total{side=\"client\"}");
    handovers[1] = pc_stat(PC_COUNTER, "portico_tls_handovers_total{side=\"pool\"}");
    /* Every value from the start (at 0), so that a rate over them never misses its first. */
    for (int i = 0; i < PC_PROTO_N; i++)
        SERIES(protos[i], PC_COUNTER, "portico_client_requests_total{protocol=\"%s\"}",
               proto_names[i]);
    h2_conns = pc_stat(PC_COUNTER, "portico_h2_connections_total");
    h2_streams = pc_stat(PC_COUNTER, "portico_h2_streams_total");
    for (int i = 0; i < PC_H2_RST_N; i++)
        SERIES(h2_resets[i], PC_COUNTER, "portico_h2_resets_total{reason=\"%s\"}", reset_names[i]);
    for (int i = 0; i < PC_H2_GA_N; i++)
        SERIES(h2_goaways[i], PC_COUNTER, "portico_h2_goaways_total{reason=\"%s\"}",
               goaway_names[i]);
#undef SERIES
}

void pc_metrics_request(const struct pc_metrics_req *t)
{
    if (!pools)
        return;
    if ((unsigned)t->proto < PC_PROTO_N)
        (*protos[t->proto])++;
    if (t->name) {
        size_t ni = (size_t)(t->name - cfg->names);
        int cls = t->status / 100 - 1;
        if (cls >= 0 && cls < 5)
            (*names[ni][cls])++;
        struct pool_m *pm = &pools[t->name->pool - cfg->pools];
        double d = t->t_start > 0 ? ev_now(loop) - t->t_start : 0;
        for (size_t b = 0; b < NB; b++)
            if (d <= pc_metrics_buckets[b])
                (*pm->hist[b])++;
        (*pm->hist[NB])++;
        (*pm->count)++;
        *pm->sum_us += (uint64_t)(d * 1e6);
        *pm->bytes_out += t->bytes_out;
        *pm->bytes_in += t->bytes_in;
    } else {
        pc_stat_addf(1, "portico_requests_total{pool=\"-\",name=\"-\",class=\"%dxx\"}",
                     t->status / 100);
    }
}

void pc_metrics_client_conns(unsigned n)
{
    if (client_conns)
        *client_conns = n;
}

void pc_metrics_upstream(unsigned p, unsigned m, int delta)
{
    if (pools)
        *pools[p].m_conns[m] += (uint64_t)(int64_t)delta;
}

void pc_metrics_pinned(int delta)
{
    if (pinned)
        *pinned += (uint64_t)(int64_t)delta;
}

void pc_metrics_member_request(unsigned p, unsigned m)
{
    if (pools)
        (*pools[p].m_requests[m])++;
}

void pc_metrics_connect_failure(unsigned p, unsigned m)
{
    if (pools)
        (*pools[p].m_fail[m])++;
}

void pc_metrics_member_up(unsigned p, unsigned m, bool up)
{
    if (pools)
        *pools[p].m_up[m] = up;
}

void pc_metrics_tls_handover(bool client)
{
    uint64_t *c = handovers[client ? 0 : 1];
    if (c)
        (*c)++;
}

void pc_metrics_tls_handshake(const char *failure_reason)
{
    if (!failure_reason) {
        if (tls_ok)
            (*tls_ok)++;
        return;
    }
    char r[48];
    size_t i = 0;
    for (; failure_reason[i] && i < sizeof(r) - 1; i++) {
        char c = failure_reason[i];
        r[i] = (c == '"' || c == '\\' || c == '\n') ? '_' : c;
    }
    r[i] = '\0';
    pc_stat_addf(1, "portico_tls_handshake_failures_total{reason=\"%s\"}", r);
}

void pc_metrics_h2_conn(void)
{
    if (h2_conns)
        (*h2_conns)++;
}

void pc_metrics_h2_stream(void)
{
    if (h2_streams)
        (*h2_streams)++;
}

void pc_metrics_h2_reset(enum pc_metrics_h2_reset why)
{
    if ((unsigned)why < PC_H2_RST_N && h2_resets[why])
        (*h2_resets[why])++;
}

void pc_metrics_h2_goaway(enum pc_metrics_h2_goaway why)
{
    if ((unsigned)why < PC_H2_GA_N && h2_goaways[why])
        (*h2_goaways[why])++;
}
