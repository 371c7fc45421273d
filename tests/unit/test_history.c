/* test_history.c — the status page's graphs (docs/monitoring.md, "Graphs"): quantiles from
 * histogram buckets, one sample from the shared metrics of several workers, the history in
 * /status.json, column reuse across reloads, and the cost of a sample. Run from the
 * repository root: tests/unit/conf/route.conf is the fixture (4 pools, 7 names). */
#include "admin/history.h"
#include "admin/metrics.h"
#include "admin/stats.h"
#include "config/config.h"
#include "unit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NB PC_METRICS_NBUCKETS

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-6 * (fabs(b) + 1);
}

static void test_quantile(void)
{
    uint64_t cum[NB + 1] = {0};
    CHECK(pc_history_quantile(cum, pc_metrics_buckets, NB, 0.5) < 0); /* nothing counted */
    /* 10 requests within 5 ms, 10 between 100 and 250 ms (cumulative `le` buckets). */
    for (size_t b = 0; b <= NB; b++)
        cum[b] = b < 5 ? 10 : 20;
    CHECK(near(pc_history_quantile(cum, pc_metrics_buckets, NB, 0.5), 0.005));
    CHECK(near(pc_history_quantile(cum, pc_metrics_buckets, NB, 0.25), 0.0025));
    CHECK(near(pc_history_quantile(cum, pc_metrics_buckets, NB, 0.99), 0.1 + 0.15 * 0.98));
    /* Everything above the last bound (a long poll past 1800 s): the last bound. */
    for (size_t b = 0; b < NB; b++)
        cum[b] = 0;
    cum[NB] = 3;
    CHECK_DBL(pc_history_quantile(cum, pc_metrics_buckets, NB, 0.5), 1800);
}

/* Adds N requests of D seconds to pool POOL in this process's slot, as metrics.c counts them. */
static void requests(const char *pool, int n, double d)
{
    char key[256];
    for (size_t b = 0; b <= NB; b++) {
        pc_metrics_bucket_key(key, sizeof(key), pool, b);
        if (b == NB || d <= pc_metrics_buckets[b])
            *pc_stat(PC_COUNTER, key) += (uint64_t)n;
    }
}

static void status_class(const struct pc_config *cfg, const char *name, int cls, int n)
{
    char key[256];
    for (size_t i = 0; i < cfg->nnames; i++) {
        if (strcmp(cfg->names[i].name, name) == 0) {
            pc_metrics_requests_key(key, sizeof(key), &cfg->names[i], cls);
            *pc_stat(PC_COUNTER, key) += (uint64_t)n;
        }
    }
}

static const struct pc_history_sample *newest(void)
{
    return &pc_history->s[(pc_history->next - 1) % PC_HISTORY_SAMPLES];
}

static int col_of(const char *pool)
{
    for (int c = 0; c < PC_HISTORY_POOLS; c++)
        if (strcmp(pc_history->col[c].name, pool) == 0)
            return c;
    return -1;
}

static char *json(const struct pc_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pc_history_json(f, cfg);
    fclose(f);
    return buf;
}

/* Two workers (slots 0 and 1) count; the master's sample sums them. */
static void test_sample(const struct pc_config *cfg, const int slots[2])
{
    pc_history_sample(cfg, 1000); /* primes: no rates yet */
    int apex = col_of("apex"), wild = col_of("wild");
    CHECK(apex >= 0 && wild >= 0 && apex != wild);
    CHECK(newest()->valid & (1u << apex));
    CHECK(newest()->pool[apex].requests < 0);
    CHECK_INT(newest()->pool[apex].members_up, 1); /* no series yet: up */

    pc_stats_attach(slots[0], getpid());
    requests("apex", 10, 0.003);
    status_class(cfg, "contoso.com", 4, 2);
    *pc_stat(PC_GAUGE, "portico_client_connections") = 3;
    *pc_stat(PC_GAUGE_MIN, "portico_member_up{pool=\"apex\",member=\"127.0.0.1\"}") = 1;
    pc_stats_attach(slots[1], getpid());
    requests("apex", 10, 0.2);
    status_class(cfg, ".contoso.com", 5, 1); /* the wildcard *.contoso.com, pool wild */
    *pc_stat(PC_GAUGE, "portico_client_connections") = 4;
    *pc_stat(PC_GAUGE, "portico_upstream_connections{pool=\"apex\",member=\"127.0.0.1\"}") = 2;
    *pc_stat(PC_GAUGE_MIN, "portico_member_up{pool=\"apex\",member=\"127.0.0.1\"}") = 0;

    pc_history_sample(cfg, 1010);
    const struct pc_history_sample *s = newest();
    CHECK_INT(pc_history->next, 2);
    CHECK(near(s->pool[apex].requests, 2.0));
    CHECK(near(s->pool[apex].e4xx, 0.2));
    CHECK(near(s->pool[apex].e5xx, 0));
    CHECK(near(s->pool[wild].e5xx, 0.1));
    CHECK(near(s->pool[apex].p50_ms, 5));
    CHECK(near(s->pool[apex].p99_ms, (0.1 + 0.15 * 0.98) * 1000));
    CHECK(s->pool[wild].p50_ms < 0); /* no request ended */
    CHECK_INT(s->pool[apex].members_up, 0);
    CHECK_INT(s->pool[apex].members, 1);
    CHECK_INT(s->client, 7);
    CHECK_INT(s->upstream, 2);

    char *j = json(cfg);
    CHECK_CONTAINS(j, "\"history\":{\"interval\":1,\"capacity\":360,\"t\":[1000.00,1010.00],"
                      "\"client_connections\":[0,7],\"upstream_connections\":[0,2]");
    CHECK_CONTAINS(j, "{\"name\":\"apex\",\"requests_per_s\":[null,2],\"4xx_per_s\":[null,0.2],"
                      "\"5xx_per_s\":[null,0],\"p50_ms\":[null,5],\"p99_ms\":[null,247]");
    CHECK_CONTAINS(j, "\"members_up\":[1,0],\"members\":[1,1]}");
    free(j);

    /* A quiet interval: rates back to zero, no quantile. */
    pc_history_sample(cfg, 1020);
    CHECK(near(newest()->pool[apex].requests, 0));
    CHECK(newest()->pool[apex].p99_ms < 0);
}

/* Past the ring's size the oldest samples go; /status.json leaves out the slot written next. */
static void test_ring(const struct pc_config *cfg)
{
    for (int i = 0; i < PC_HISTORY_SAMPLES + 5; i++)
        pc_history_sample(cfg, 2000 + i);
    char *j = json(cfg);
    CHECK_CONTAINS(j, "\"t\":[2006.00,2007.00,");
    CHECK_CONTAINS(j, ",2364.00],");
    free(j);
}

/* A reload to a configuration without pool `single` and with 16 others: the new pools take the
 * free columns, then single's (least recently used); the 17th pool has none, and its values in
 * /status.json are null. */
static void test_columns(const struct pc_config *cfg)
{
    const char *path = "/tmp/portico-unit-history.conf";
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 17; i++)
        fprintf(f, "[pool p%02d]\nservers = 127.0.0.1\npublish = p%02d.contoso.com\n", i, i);
    fprintf(f, "[pool apex]\nservers = 127.0.0.1\npublish = contoso.com\n");
    fclose(f);
    struct pc_diag d = {0};
    struct pc_config *next = pc_config_load(path, &d);
    pc_diag_free(&d);
    unlink(path);
    CHECK(next != NULL);
    if (!next)
        return;
    int apex = col_of("apex");
    pc_history_sample(next, 3000);
    CHECK_INT(col_of("apex"), apex);
    CHECK(col_of("single") < 0 && col_of("wild") < 0 && col_of("deep") < 0);
    CHECK(col_of("p00") >= 0 && col_of("p14") >= 0 && col_of("p15") < 0 && col_of("p16") < 0);
    char *j = json(next);
    CHECK_CONTAINS(j, "{\"name\":\"p16\",\"requests_per_s\":[");
    CHECK(strstr(j, "{\"name\":\"p16\",\"requests_per_s\":[null,null,"));
    free(j);
    pc_history_sample(cfg, 3010); /* back: apex kept its line */
    CHECK_INT(col_of("apex"), apex);
    pc_config_free(next);
}

/* What a sample costs the master: 4 pools, 7 names, 4 members, two workers' slots. */
static void test_cost(const struct pc_config *cfg)
{
    enum { N = 2000 };
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++)
        pc_history_sample(cfg, 4000 + i);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us =
        ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / N;
    printf("history: %.1f us per sample (4 pools, 7 names, 4 members, 2 workers); ring %zu bytes\n",
           us, sizeof(struct pc_history));
    CHECK(us < 5000);
}

int main(void)
{
    setenv(PC_HISTORY_INTERVAL_ENV, "1", 1);
    if (pc_stats_create() < 0 || pc_history_create() < 0)
        return 1;
    CHECK_DBL(pc_history_interval(), 1);
    struct pc_diag d = {0};
    struct pc_config *cfg = pc_config_load("tests/unit/conf/route.conf", &d);
    pc_diag_free(&d);
    if (!cfg)
        return 1;
    int slots[2] = {pc_stats_reserve(), pc_stats_reserve()};
    pc_stats_attach(slots[1], getpid());
    pc_stats_attach(slots[0], getpid());
    test_quantile();
    test_sample(cfg, slots);
    test_ring(cfg);
    test_columns(cfg);
    test_cost(cfg);
    pc_config_free(cfg);
    return UNIT_DONE();
}
