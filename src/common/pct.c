/* pct.c — percent-decoding (pct.h). */
#include "common/pct.h"

#include <string.h>

static int hexval(unsigned char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

long pc_pct_hexnum(const char *s, size_t n)
{
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Code point CP (a BMP one, not a surrogate) as UTF-8 into B; its length. */
static size_t utf8(unsigned cp, unsigned char b[3])
{
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6), b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    b[0] = (unsigned char)(0xe0 | cp >> 12), b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    b[2] = (unsigned char)(0x80 | (cp & 0x3f));
    return 3;
}

long pc_pct_decode(const char *s, size_t n, unsigned flags, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i], b[3] = {c};
        size_t k = 1;
        if (c == '+' && (flags & PC_PCT_PLUS)) {
            b[0] = ' ';
        } else if (c == '%' && (flags & PC_PCT_U) && i + 1 < n && (s[i + 1] | 0x20) == 'u') {
            long cp = i + 5 < n ? pc_pct_hexnum(s + i + 2, 4) : -1;
            if (cp < 0 || (cp >= 0xd800 && cp <= 0xdfff))
                return -1;
            k = utf8((unsigned)cp, b);
            i += 5;
        } else if (c == '%') {
            long v = i + 2 < n ? pc_pct_hexnum(s + i + 1, 2) : -1;
            if (v < 0)
                return -1;
            b[0] = (unsigned char)v;
            i += 2;
        }
        if ((flags & PC_PCT_NOCTL) && k == 1 && (b[0] < 0x20 || b[0] == 0x7f))
            return -1;
        if (k >= cap - o)
            return -2;
        memcpy(out + o, b, k);
        o += k;
    }
    out[o] = '\0';
    return (long)o;
}
