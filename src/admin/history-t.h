/* history-t.h — the status page's graphs: a ring of samples in shared memory (history.h).
 *
 * The master takes one sample every interval (10 s; 360 samples = the last hour) from the
 * metrics that already exist (stats.h), summed over every worker once, and keeps it here;
 * worker 0 reads the ring for /status.json (docs/monitoring.md, "Graphs"). Values are what a
 * graph draws, computed at sampling time: rates and quantiles over the interval, not
 * cumulative counters, so that a sample is small and the page does no arithmetic. */
#ifndef PORTICO_HISTORY_T_H
#define PORTICO_HISTORY_T_H

#include <stdint.h>

#include "admin/metrics.h"

#define PC_HISTORY_SAMPLES          360 /* one hour at the default interval */
#define PC_HISTORY_POOLS            16 /* pools graphed; more than that are left out (documented) */
#define PC_HISTORY_NAME             64 /* a longer pool name is not graphed */
#define PC_HISTORY_DEFAULT_INTERVAL 10.0

/* One pool in one sample. Rates in requests per second over the interval; quantiles in
 * milliseconds, negative when no request ended in the interval (nothing to draw). */
struct pc_history_pool {
    float requests, e4xx, e5xx;
    float p50_ms, p99_ms;
    uint16_t members_up, members;
};

struct pc_history_sample {
    double t;       /* seconds since the epoch */
    uint32_t valid; /* bit C: column C has a value in this sample */
    uint32_t client, upstream, pinned;
    struct pc_history_pool pool[PC_HISTORY_POOLS];
};

/* A column: one pool (by name, so that a pool keeps its line across reloads) and the last
 * cumulative counts, to take differences from. Used only by the master. */
struct pc_history_column {
    char name[PC_HISTORY_NAME];
    uint64_t hist[PC_METRICS_NBUCKETS + 1]; /* cumulative le buckets, the last is +Inf */
    uint64_t c4xx, c5xx;
    double t;      /* when these were read; 0: never (the next sample only primes) */
    uint32_t used; /* sample number that last used the column (which one to recycle) */
};

struct pc_history {
    double interval; /* seconds between samples */
    uint32_t next;   /* samples taken so far; the newest is (next - 1) % PC_HISTORY_SAMPLES */
    struct pc_history_column col[PC_HISTORY_POOLS];
    struct pc_history_sample s[PC_HISTORY_SAMPLES];
};

#endif
