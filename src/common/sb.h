/* sb.h — a growing string for text built piece by piece (the firewall tables, the CLI's
 * reports). Not for the data path: it allocates. */
#ifndef PORTICO_COMMON_SB_H
#define PORTICO_COMMON_SB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Zero-initialise. Once an allocation fails the string keeps what it had and ignores every
 * later append (`oom` tells): callers check once at the end instead of after every append. */
struct pc_sb {
    char *s;
    size_t len, cap;
    bool oom;
};

void pc_sb_printf(struct pc_sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pc_sb_vprintf(struct pc_sb *sb, const char *fmt, va_list ap);
/* The text so far ("" when empty). */
const char *pc_sb_str(const struct pc_sb *sb);
/* Empties the string (keeps the buffer; clears `oom`). */
void pc_sb_reset(struct pc_sb *sb);
void pc_sb_free(struct pc_sb *sb);

#endif
