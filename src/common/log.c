/* log.c — error log on stderr. */
#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum pc_log_level pc_log_max = PC_LOG_INFO;
void (*pc_log_hook)(const char *line);

static const char *const level_names[] = {"error", "warning", "info", "debug"};

static void vlog(enum pc_log_level level, const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n,
                          ".%03ldZ portico[%d] %s: ", ts.tv_nsec / 1000000, (int)getpid(),
                          level_names[level]);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
    if (pc_log_hook && level <= PC_LOG_WARN) {
        line[n] = '\0';
        pc_log_hook(line);
    }
    line[n++] = '\n';
    /* One write per line so that lines of several workers never interleave. */
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to report it */
    }
}

void pc_log(enum pc_log_level level, const char *fmt, ...)
{
    va_list ap;
    if (level > pc_log_max)
        return;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void pc_log_limited(struct pc_ratelimit *rl, enum pc_log_level level, const char *fmt, ...)
{
    struct timespec ts;
    va_list ap;

    if (level > pc_log_max)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    unsigned burst = rl->burst ? rl->burst : 10;
    if (now - rl->window_start >= (rl->period > 0 ? rl->period : 1.0)) {
        if (rl->dropped)
            pc_log(level, "(%u similar messages suppressed)", rl->dropped);
        rl->window_start = now;
        rl->count = 0;
        rl->dropped = 0;
    }
    if (++rl->count > burst) {
        rl->dropped++;
        return;
    }
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}
