/* unit.h — a tiny assertion framework for the unit tests (one main per test program).
 *
 * Every CHECK counts; a failed one prints FILE:LINE and the values and the test goes on, so a
 * run shows every failure at once. UNIT_DONE() prints "N passed" and gives main's exit status. */
#ifndef PORTICO_UNIT_H
#define PORTICO_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed;

#define UNIT_FAIL_(...)                                                                            \
    do {                                                                                           \
        unit_failed++;                                                                             \
        fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                                      \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond)                                                                                  \
            unit_passed++;                                                                         \
        else                                                                                       \
            UNIT_FAIL_("%s", #cond);                                                               \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ == b_)                                                                              \
            unit_passed++;                                                                         \
        else                                                                                       \
            UNIT_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);                                  \
    } while (0)

#define CHECK_DBL(a, b)                                                                            \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (a_ == b_)                                                                              \
            unit_passed++;                                                                         \
        else                                                                                       \
            UNIT_FAIL_("%s == %s: %g != %g", #a, #b, a_, b_);                                      \
    } while (0)

/* Both NULL counts as equal. */
#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if ((!a_ && !b_) || (a_ && b_ && strcmp(a_, b_) == 0))                                     \
            unit_passed++;                                                                         \
        else                                                                                       \
            UNIT_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",                   \
                       b_ ? b_ : "(null)");                                                        \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (h_ && n_ && strstr(h_, n_))                                                            \
            unit_passed++;                                                                         \
        else                                                                                       \
            UNIT_FAIL_("%s contains \"%s\":\n%s", #hay, n_ ? n_ : "(null)", h_ ? h_ : "(null)");   \
    } while (0)

#define UNIT_DONE()                                                                                \
    (printf("%d passed\n", unit_passed), unit_failed ? (printf("%d FAILED\n", unit_failed), 1) : 0)

#endif
