/* pct.h — percent-decoding (RFC 3986 §2.1) as the pools read it, for paths, queries and forms:
 * one decoder, so that the sign-in defence and the path rules never disagree on a spelling. */
#ifndef PORTICO_PCT_H
#define PORTICO_PCT_H

#include <stddef.h>

enum {
    PC_PCT_PLUS = 1,  /* '+' is a space (a query, application/x-www-form-urlencoded) */
    PC_PCT_U = 2,     /* %uXXXX is a BMP code point, written as UTF-8 (ASP.NET's UrlDecode,
                       * http.sys's PercentUAllowed): otherwise `%u0061lice` would be alice for
                       * the pool and nobody here */
    PC_PCT_NOCTL = 4, /* a control character (decoded or not) is an error */
};

/* Decodes S[0, N) into OUT[0, CAP) with a terminating NUL, as FLAGS say. Returns the length,
 * -1 for a bad escape (or a control character with PC_PCT_NOCTL, or a surrogate in %u), -2
 * when it does not fit. */
long pc_pct_decode(const char *s, size_t n, unsigned flags, char *out, size_t cap);

/* The number that the N (at most 15) hex digits S[0, N) spell, either case; -1 for anything
 * else. */
long pc_pct_hexnum(const char *s, size_t n);

#endif
