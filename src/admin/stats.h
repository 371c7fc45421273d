/* stats.h — metrics shared by all processes (Prometheus series in shared memory).
 *
 * The master maps one region before forking. Each worker process writes only its own slot
 * (no locks: a slot has one writer; 64-bit aligned values are read whole on x86-64), the admin
 * listener sums the slots. When a worker exits the master folds its counters into an archive
 * slot, so counters never go down across reloads. Series are interned by their full text,
 * e.g. `portico_requests_total{pool="fe",name="webext.contoso.com",class="2xx"}`. */
#ifndef PORTICO_STATS_H
#define PORTICO_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define PC_STATS_SLOTS   64
#define PC_STATS_SERIES  2048
#define PC_STATS_KEY     118
#define PC_STATS_ERRORS  32
#define PC_STATS_ERRLINE 240

enum pc_series_kind { PC_COUNTER = 1, PC_GAUGE, PC_GAUGE_MIN };

struct pc_series {
    uint64_t value;
    uint8_t kind;
    char key[PC_STATS_KEY + 1];
};

struct pc_stats_slot {
    pid_t pid; /* 0 = free */
    uint32_t nseries;
    struct pc_series s[PC_STATS_SERIES];
};

struct pc_stats {
    uint64_t reloads_total, reload_failures_total;
    double last_reload_time;
    int last_reload_ok;
    double start_time;
    uint32_t err_next; /* ring of recent warnings and errors, for the status page */
    char errors[PC_STATS_ERRORS][PC_STATS_ERRLINE];
    struct pc_stats_slot archive;
    struct pc_stats_slot slot[PC_STATS_SLOTS];
};

extern struct pc_stats *pc_stats;       /* NULL until created */
extern struct pc_stats_slot *pc_myslot; /* this worker's slot, NULL in the master */

int pc_stats_create(void);
/* Master: reserves a slot for a worker about to be forked; -1 when none is free. */
int pc_stats_reserve(void);
/* Master: the worker of slot I ended: fold its counters, free the slot. */
void pc_stats_release(int i);
/* Worker: starts writing to slot I. */
void pc_stats_attach(int i, pid_t pid);

/* Worker: the series KEY (created on first use); NULL when the slot is full. The pointer
 * stays valid for the life of the process: callers may cache it. */
uint64_t *pc_stat(enum pc_series_kind kind, const char *key);
/* Convenience: add to / set a series named by a printf format. */
void pc_stat_addf(uint64_t v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pc_stat_setf(enum pc_series_kind kind, uint64_t v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records a warning or error line for the status page (any process). */
void pc_stats_error(const char *line);

/* Sum of the series KEY over the live slots (and the archive for counters); false when no
 * process has it. */
bool pc_stats_sum(const char *key, uint64_t *out);
/* Writes every series, summed, in Prometheus text format. */
void pc_stats_prometheus(FILE *f);

#endif
