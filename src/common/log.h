/* log.h — the error log: one line per event on stderr (journald adds its own time stamp, but
 * a terminal or a file does not, so we write one). Never log a secret: callers pass names,
 * addresses and reasons, not header values. */
#ifndef PORTICO_LOG_H
#define PORTICO_LOG_H

#include <stdarg.h>

enum pc_log_level { PC_LOG_ERR, PC_LOG_WARN, PC_LOG_INFO, PC_LOG_DEBUG };

extern enum pc_log_level pc_log_max;
/* Called with every warning and error line (the status page keeps the recent ones). */
extern void (*pc_log_hook)(const char *line);

void pc_log(enum pc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like pc_log but drops lines beyond BURST per PERIOD seconds (10 per second when both are 0)
 * for the call site owning STATE, and reports how many were dropped on the next line that
 * passes. */
struct pc_ratelimit {
    double window_start;
    unsigned count, dropped;
    unsigned burst; /* 0: 10 */
    double period;  /* 0: 1 s */
};
/* For a line that every request can cause while a pool is down ("no member available",
 * "request aborted"): a few per ten seconds and per worker, so that it cannot push the other
 * errors off the status page's list. */
#define PC_RATELIMIT_PER_REQUEST                                                                   \
    {                                                                                              \
        .burst = 3, .period = 10.0                                                                 \
    }
void pc_log_limited(struct pc_ratelimit *rl, enum pc_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define pc_err(...)  pc_log(PC_LOG_ERR, __VA_ARGS__)
#define pc_warn(...) pc_log(PC_LOG_WARN, __VA_ARGS__)
#define pc_info(...) pc_log(PC_LOG_INFO, __VA_ARGS__)

#endif
