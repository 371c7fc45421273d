/* stats.c — shared-memory metrics (see stats.h). */
#include "admin/stats.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"

struct pc_stats *pc_stats;
struct pc_stats_slot *pc_myslot;

int pc_stats_create(void)
{
    void *p = mmap(NULL, sizeof(struct pc_stats), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    pc_stats = p; /* zero-filled by the kernel; untouched pages cost nothing */
    pc_stats->start_time = (double)time(NULL);
    return 0;
}

int pc_stats_reserve(void)
{
    if (!pc_stats)
        return -1;
    for (int i = 0; i < PC_STATS_SLOTS; i++) {
        if (pc_stats->slot[i].pid == 0) {
            pc_stats->slot[i].pid = -1; /* reserved until the worker attaches */
            pc_stats->slot[i].nseries = 0;
            memset(pc_stats->slot[i].s, 0, sizeof(pc_stats->slot[i].s));
            return i;
        }
    }
    return -1;
}

static uint32_t hash(const char *k)
{
    return pc_fnv1a(PC_FNV_INIT, k, strlen(k));
}

/* Finds KEY in SLOT, inserting it when INSERT; NULL when absent (or the slot is full). */
static struct pc_series *find(struct pc_stats_slot *slot, const char *key, bool insert)
{
    uint32_t i = hash(key) % PC_STATS_SERIES;
    for (uint32_t n = 0; n < PC_STATS_SERIES; n++, i = (i + 1) % PC_STATS_SERIES) {
        struct pc_series *s = &slot->s[i];
        if (!s->kind)
            return insert ? s : NULL;
        if (strcmp(s->key, key) == 0)
            return s;
    }
    return NULL;
}

void pc_stats_release(int i)
{
    if (!pc_stats || i < 0 || i >= PC_STATS_SLOTS)
        return;
    struct pc_stats_slot *slot = &pc_stats->slot[i];
    for (uint32_t k = 0; k < PC_STATS_SERIES; k++) {
        struct pc_series *s = &slot->s[k];
        if (s->kind != PC_COUNTER)
            continue; /* gauges of a process that is gone are zero */
        struct pc_series *a = find(&pc_stats->archive, s->key, true);
        if (!a)
            break;
        if (!a->kind) {
            a->kind = PC_COUNTER;
            memcpy(a->key, s->key, sizeof(a->key));
        }
        a->value += s->value;
    }
    slot->pid = 0;
}

void pc_stats_attach(int i, pid_t pid)
{
    if (!pc_stats || i < 0 || i >= PC_STATS_SLOTS)
        return;
    pc_myslot = &pc_stats->slot[i];
    pc_myslot->pid = pid;
}

uint64_t *pc_stat(enum pc_series_kind kind, const char *key)
{
    static uint64_t sink; /* when there is no slot, or it is full: counted nowhere */
    if (!pc_myslot || strlen(key) > PC_STATS_KEY)
        return &sink;
    struct pc_series *s = find(pc_myslot, key, true);
    if (!s)
        return &sink;
    if (!s->kind) {
        strcpy(s->key, key);
        s->kind = (uint8_t)kind;
        pc_myslot->nseries++;
    }
    return &s->value;
}

void pc_stat_addf(uint64_t v, const char *fmt, ...)
{
    char key[PC_STATS_KEY + 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof(key), fmt, ap);
    va_end(ap);
    *pc_stat(PC_COUNTER, key) += v;
}

void pc_stat_setf(enum pc_series_kind kind, uint64_t v, const char *fmt, ...)
{
    char key[PC_STATS_KEY + 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof(key), fmt, ap);
    va_end(ap);
    *pc_stat(kind, key) = v;
}

void pc_stats_error(const char *line)
{
    if (!pc_stats)
        return;
    uint32_t i = __atomic_fetch_add(&pc_stats->err_next, 1, __ATOMIC_RELAXED) % PC_STATS_ERRORS;
    snprintf(pc_stats->errors[i], PC_STATS_ERRLINE, "%s", line);
}

bool pc_stats_sum(const char *key, uint64_t *out)
{
    bool found = false, min = false;
    uint64_t total = 0;
    struct pc_series *a = find(&pc_stats->archive, key, false);
    if (a && a->kind) {
        total = a->value;
        found = true;
    }
    for (int i = 0; i < PC_STATS_SLOTS; i++) {
        if (pc_stats->slot[i].pid <= 0)
            continue;
        struct pc_series *s = find(&pc_stats->slot[i], key, false);
        if (!s || !s->kind)
            continue;
        if (s->kind == PC_GAUGE_MIN) {
            total = !found || !min || s->value < total ? s->value : total;
            min = true;
        } else {
            total += s->value;
        }
        found = true;
    }
    *out = total;
    return found;
}

/* Sorts by name, and the buckets of a histogram by their bound, +Inf last. */
static int cmp_key(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    const char *lx = strstr(x, "le=\""), *ly = strstr(y, "le=\"");
    if (lx && ly && lx - x == ly - y && strncmp(x, y, (size_t)(lx - x)) == 0) {
        double dx = lx[4] == '+' ? 1e300 : strtod(lx + 4, NULL);
        double dy = ly[4] == '+' ? 1e300 : strtod(ly + 4, NULL);
        return dx < dy ? -1 : dx > dy;
    }
    return strcmp(x, y);
}

void pc_stats_prometheus(FILE *f)
{
    /* Distinct keys of every live slot and the archive, sorted, each summed once. */
    size_t cap = PC_STATS_SERIES * 2, n = 0;
    const char **keys = malloc(cap * sizeof(*keys));
    if (!keys)
        return;
    struct pc_stats_slot *slots[PC_STATS_SLOTS + 1];
    int ns = 0;
    slots[ns++] = &pc_stats->archive;
    for (int i = 0; i < PC_STATS_SLOTS; i++)
        if (pc_stats->slot[i].pid > 0)
            slots[ns++] = &pc_stats->slot[i];
    for (int k = 0; k < ns; k++) {
        for (uint32_t j = 0; j < PC_STATS_SERIES; j++) {
            const struct pc_series *s = &slots[k]->s[j];
            if (!s->kind)
                continue;
            if (n == cap) {
                const char **nk = realloc(keys, cap * 2 * sizeof(*keys));
                if (!nk)
                    break;
                keys = nk;
                cap *= 2;
            }
            keys[n++] = s->key;
        }
    }
    qsort(keys, n, sizeof(*keys), cmp_key);
    char last_family[PC_STATS_KEY + 1] = "";
    for (size_t i = 0; i < n; i++) {
        if (i && strcmp(keys[i], keys[i - 1]) == 0)
            continue;
        size_t fl = strcspn(keys[i], "{");
        char family[PC_STATS_KEY + 1];
        snprintf(family, sizeof(family), "%.*s", (int)fl, keys[i]);
        /* Histogram parts share one family name. */
        char *suffix = strstr(family, "_bucket");
        if (!suffix)
            suffix = strstr(family, "_count");
        if (!suffix && strstr(family, "_seconds_sum"))
            suffix = strstr(family, "_sum");
        if (suffix)
            *suffix = '\0';
        if (strcmp(family, last_family) != 0) {
            const char *type = strstr(keys[i], "_bucket") || strstr(keys[i], "_seconds_sum") ||
                                       strstr(keys[i], "_seconds_count")
                                   ? "histogram"
                               : strstr(family, "_total") ? "counter"
                                                          : "gauge";
            fprintf(f, "# TYPE %s %s\n", family, type);
            snprintf(last_family, sizeof(last_family), "%s", family);
        }
        uint64_t v;
        pc_stats_sum(keys[i], &v);
        if (strstr(keys[i], "_seconds_sum"))
            fprintf(f, "%s %.6f\n", keys[i], (double)v / 1e6); /* kept in microseconds */
        else
            fprintf(f, "%s %llu\n", keys[i], (unsigned long long)v);
    }
    free(keys);
    fprintf(f, "# TYPE portico_config_reloads_total counter\nportico_config_reloads_total %llu\n",
            (unsigned long long)pc_stats->reloads_total);
    fprintf(f,
            "# TYPE portico_config_reload_failures_total counter\n"
            "portico_config_reload_failures_total %llu\n",
            (unsigned long long)pc_stats->reload_failures_total);
    fprintf(f,
            "# TYPE portico_config_last_reload_successful gauge\n"
            "portico_config_last_reload_successful %d\n",
            pc_stats->last_reload_ok);
    fprintf(f, "# TYPE portico_start_time_seconds gauge\nportico_start_time_seconds %.0f\n",
            pc_stats->start_time);
}
