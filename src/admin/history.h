/* history.h — the status page's graphs over the last hour (docs/monitoring.md, "Graphs"):
 * the master samples the shared metrics into a ring in shared memory (history-t.h), worker 0
 * serves it in /status.json and the page draws it. */
#ifndef PORTICO_HISTORY_H
#define PORTICO_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "admin/history-t.h"
#include "config/config-t.h"

/* The environment variable that shortens the sample interval, for the tests only (they would
 * otherwise wait 10 s per sample): seconds, 0.05 to 3600. */
#define PC_HISTORY_INTERVAL_ENV "PORTICO_STATUS_SAMPLE_INTERVAL"

extern struct pc_history *pc_history; /* NULL until created (or if the mmap failed) */

/* Master, before the first fork: maps the ring (the workers inherit it; it lives as long as
 * the master, across reloads) and reads the interval. -1 if the mmap fails. */
int pc_history_create(void);
/* Seconds between samples. */
double pc_history_interval(void);
/* Master: takes one sample of CFG's pools at wall-clock time NOW (seconds since the epoch),
 * from the metrics of every worker (pc_stats). */
void pc_history_sample(const struct pc_config *cfg, double now);
/* Worker 0: writes `"history":{...}` (the object without braces around it) for CFG's pools. */
void pc_history_json(FILE *f, const struct pc_config *cfg);

/* Quantile Q (0..1) of the requests counted in the cumulative `le` buckets CUM (NB bounds
 * BOUNDS, then +Inf), interpolated linearly inside the bucket it falls in, as Prometheus'
 * histogram_quantile does; in the +Inf bucket, the highest bound. Negative when CUM counts
 * nothing. */
double pc_history_quantile(const uint64_t *cum, const double *bounds, size_t nb, double q);

#endif
