/* sb.c — a growing string (sb.h). */
#include <stdio.h>
#include <stdlib.h>

#include "common/sb.h"

void pc_sb_vprintf(struct pc_sb *sb, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || sb->oom)
        return; /* an encoding error in FMT, or an earlier failure: nothing to add */
    if (sb->len + (size_t)n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + (size_t)n + 1)
            cap *= 2;
        char *s = realloc(sb->s, cap);
        if (!s) {
            sb->oom = true;
            return;
        }
        sb->s = s;
        sb->cap = cap;
    }
    vsnprintf(sb->s + sb->len, sb->cap - sb->len, fmt, ap);
    sb->len += (size_t)n;
}

void pc_sb_printf(struct pc_sb *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pc_sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

const char *pc_sb_str(const struct pc_sb *sb)
{
    return sb->s ? sb->s : "";
}

void pc_sb_reset(struct pc_sb *sb)
{
    sb->len = 0;
    sb->oom = false;
    if (sb->s)
        sb->s[0] = '\0';
}

void pc_sb_free(struct pc_sb *sb)
{
    free(sb->s);
    *sb = (struct pc_sb){0};
}
