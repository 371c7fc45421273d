/* pct.h — percent-decoding (RFC 3986 §2.1), for paths and query values. */
#ifndef PORTICO_PCT_H
#define PORTICO_PCT_H

#include <stdbool.h>
#include <stddef.h>

/* Decodes S[0, N) into OUT[0, CAP) with a terminating NUL (FORM: '+' is a space, as in a query
 * of application/x-www-form-urlencoded). Returns the length, or -1 for a bad escape, a
 * control character (decoded or not), or no room. */
long pc_pct_decode(const char *s, size_t n, bool form, char *out, size_t cap);

#endif
