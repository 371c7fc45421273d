/* config-mem.c — allocation while loading the configuration: out of memory there ends the
 * program with a message (nothing is serving yet, and a half-built configuration is worse). */
#include "config/config-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void out_of_memory(void)
{
    fputs("portico: out of memory while loading the configuration\n", stderr);
    abort();
}

void *pc_cfg_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory();
    return p;
}

void *pc_cfg_reallocarray(void *p, size_t n, size_t size)
{
    void *q = reallocarray(p, n ? n : 1, size ? size : 1);
    if (!q)
        out_of_memory();
    return q;
}

char *pc_cfg_strndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        out_of_memory();
    return p;
}

char *pc_cfg_strdup(const char *s)
{
    return pc_cfg_strndup(s, strlen(s));
}

char *pc_cfg_printf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        out_of_memory();
    return s;
}
