/* common.h — helpers shared by the libFuzzer harnesses of fuzz/ (not part of portico).
 *
 * Every harness is deterministic: whatever varies besides the bytes themselves (where an input
 * is split into reads, which session flags a rewrite sees) is drawn from a PRNG seeded with a
 * hash of the input, so a saved crash input replays exactly. */
#ifndef PORTICO_FUZZ_COMMON_H
#define PORTICO_FUZZ_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant failed: say which, then abort so that libFuzzer saves the input. */
static void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fz_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("\n==== FUZZ INVARIANT VIOLATED: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    abort();
}

#define FZ_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fz_fail(__VA_ARGS__);                                                                  \
    } while (0)

/* Known findings to tolerate, so that a long run can look past them: FUZZ_KNOWN is a comma-
 * separated list of their names (see fuzz/README.md), or "all". Unset: every finding fails. */
static inline bool fz_known(const char *id)
{
    const char *k = getenv("FUZZ_KNOWN");
    if (!k || !*k)
        return false;
    if (strcmp(k, "all") == 0)
        return true;
    size_t n = strlen(id);
    for (const char *p = k; (p = strstr(p, id)); p += n)
        if ((p == k || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

static inline uint64_t fz_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* splitmix64 */
struct fz_rng {
    uint64_t s;
};
static inline uint64_t fz_next(struct fz_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline size_t fz_below(struct fz_rng *r, size_t n)
{
    return n ? (size_t)(fz_next(r) % n) : 0;
}

/* Run-length expansion, so that a small input can reach the 8 KiB / 64 KiB / 128 KiB limits:
 * the five bytes FE FE HI LO C stand for byte C repeated HI*256+LO times. Everything else is
 * copied. The result is at most FZ_EXPAND_MAX bytes, in a heap block of exactly its size (so
 * that ASan sees any read past the end). Returns NULL for an empty result. */
#define FZ_EXPAND_MAX (300 * 1024)
static inline char *fz_expand(const uint8_t *in, size_t n, size_t *outlen)
{
    size_t len = 0;
    for (size_t i = 0; i < n;) {
        if (i + 5 <= n && in[i] == 0xfe && in[i + 1] == 0xfe) {
            len += (size_t)in[i + 2] << 8 | in[i + 3];
            i += 5;
        } else {
            len++;
            i++;
        }
    }
    if (len > FZ_EXPAND_MAX)
        len = FZ_EXPAND_MAX;
    *outlen = len;
    if (len == 0)
        return NULL;
    char *out = malloc(len);
    size_t o = 0;
    for (size_t i = 0; i < n && o < len;) {
        if (i + 5 <= n && in[i] == 0xfe && in[i + 1] == 0xfe) {
            size_t k = (size_t)in[i + 2] << 8 | in[i + 3];
            if (k > len - o)
                k = len - o;
            memset(out + o, in[i + 4], k);
            o += k;
            i += 5;
        } else {
            out[o++] = (char)in[i++];
        }
    }
    return out;
}

/* A heap copy of exactly N bytes (N may be 0: then a 1-byte block, never read). */
static inline char *fz_dup(const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (n)
        memcpy(c, p, n);
    return c;
}

static inline int fz_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Case-insensitive comparison of P[0, N) with the NUL-terminated lower-case LIT. */
static inline bool fz_ieq(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    if (n != l)
        return false;
    for (size_t i = 0; i < n; i++)
        if (fz_lower((unsigned char)p[i]) != (unsigned char)lit[i])
            return false;
    return true;
}

static inline bool fz_ieq2(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (fz_lower((unsigned char)a[i]) != fz_lower((unsigned char)b[i]))
            return false;
    return true;
}

#endif
