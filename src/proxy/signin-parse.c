/* signin-parse.c — who a sign-in attempt is for (signin.h, docs/signin.md): account keys,
 * the web ticket form, Basic credentials. Pure; a password is never copied (the parsers skip
 * over it, and Basic's is never decoded). */
#include "proxy/signin.h"

#include <string.h>
#include <strings.h>

#include "common/pct.h"
#include "common/util.h"
#include "proxy/ntlm.h"

/* ---- UTF-8 ---- */

/* The length of the UTF-8 sequence at P[0, N) (RFC 3629 §4: no overlong forms, no surrogates,
 * nothing over U+10FFFF), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t k = c < 0x80                 ? 1
               : c >= 0xc2 && c <= 0xdf ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (k == 0 || k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) || (c == 0xf0 && p[1] < 0x90) ||
        (c == 0xf4 && p[1] > 0x8f))
        return 0;
    return k;
}

static bool utf8_valid(const unsigned char *p, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if ((k = utf8_seq(p + i, n - i)) == 0)
            return false;
    return true;
}

/* ---- account keys ---- */

struct span {
    const char *p;
    size_t n;
};

/* Appends S folded to OUT[*o, CAP - 1): ASCII A-Z, and Latin-1 À-Þ but × (U+00C0-U+00DE but
 * U+00D7, UTF-8 C3 80-9E) to their lower case; every other code point as it is (AD compares
 * names case-insensitively over all of Unicode: a name in another script that an attacker
 * writes in several cases gets an allowance per spelling, which the per-source limit bounds).
 * Spaces: leading and trailing ones dropped, inner runs made one (LDAP's insignificant-space
 * handling, so that `alice ` is not a second account). Controls (C0, DEL) fail. */
static int fold_into(struct span s, char *out, size_t *o, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s.p;
    size_t n = s.n;
    while (n && p[0] == ' ')
        p++, n--;
    while (n && p[n - 1] == ' ')
        n--;
    if (n == 0 || !utf8_valid(p, n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c < 0x20 || c == 0x7f)
            return -1;
        if (c == ' ' && p[i + 1] == ' ')
            continue; /* i + 1 < n: trailing spaces are gone */
        if (c >= 'A' && c <= 'Z')
            c += 0x20;
        else if (i > 0 && p[i - 1] == 0xc3 && c >= 0x80 && c <= 0x9e && c != 0x97)
            c += 0x20;
        if (*o + 1 >= cap)
            return -1;
        out[(*o)++] = (char)c;
    }
    out[*o] = 0;
    return 0;
}

int pc_signin_account(const char *domain, const char *user, bool qualified, char *out, size_t cap)
{
    if (!user || cap == 0)
        return -1;
    struct span name = {user, strlen(user)},
                dom = {domain ? domain : "", domain ? strlen(domain) : 0};
    const char *bs = memchr(name.p, '\\', name.n);
    if (bs) {
        dom = (struct span){name.p, (size_t)(bs - name.p)};
        name = (struct span){bs + 1, name.n - (size_t)(bs + 1 - name.p)};
    }
    const char *at = memrchr(name.p, '@', name.n);
    if (at) {
        const char *suffix = at + 1, *end = name.p + name.n;
        const char *dot = memchr(suffix, '.', (size_t)(end - suffix));
        dom = (struct span){suffix, (size_t)((dot ? dot : end) - suffix)};
        name.n = (size_t)(at - name.p);
    }
    size_t o = 0;
    out[0] = 0;
    /* A domain that does not fold (all spaces, say) is left out rather than failing. */
    if (qualified && dom.n) {
        if (fold_into(dom, out, &o, cap) == 0 && o + 1 < cap)
            out[o++] = '\\';
        else
            o = 0;
    }
    if (fold_into(name, out, &o, cap) != 0) {
        out[0] = 0;
        return -1;
    }
    return (int)o;
}

/* ---- the form (HTML 5 "application/x-www-form-urlencoded", as ASP.NET reads it) ---- */

/* A form value decoded as ASP.NET's form collection does (pct.h): -1 for a bad escape, -2
 * when it does not fit. */
static long form_decode(struct span s, char *out, size_t cap)
{
    return pc_pct_decode(s.p, s.n, PC_PCT_PLUS | PC_PCT_U, out, cap);
}

enum form_field { FIELD_OTHER, FIELD_GRANT, FIELD_USER, FIELD_PASSWORD };

/* Field names compare case-insensitively after decoding (ASP.NET's form collection does). */
static int form_field(struct span key)
{
    char k[16];
    long n = form_decode(key, k, sizeof k);
    if (n == -1)
        return -1;
    if (n < 0)
        return FIELD_OTHER;
    return strcasecmp(k, "grant_type") == 0 ? FIELD_GRANT
           : strcasecmp(k, "username") == 0 ? FIELD_USER
           : strcasecmp(k, "password") == 0 ? FIELD_PASSWORD
                                            : FIELD_OTHER;
}

/* The grant: `password` in any case (a spelling the pool might take must never escape the
 * count), the anonymous meeting join only exactly (a spelling that does not match is OTHER). */
static enum pc_signin_form_kind form_grant(struct span v)
{
    char g[40];
    long n = form_decode(v, g, sizeof g);
    if (n == -1)
        return PC_SIGNIN_FORM_MALFORMED;
    if (n >= 0 && strcasecmp(g, "password") == 0)
        return PC_SIGNIN_FORM_PASSWORD;
    if (n >= 0 && strcmp(g, "urn:microsoft.rtc:anonmeeting") == 0)
        return PC_SIGNIN_FORM_ANONYMOUS;
    return PC_SIGNIN_FORM_OTHER;
}

/* One name=value pair. A repeated grant_type or username is MALFORMED: which copy the pool
 * would read is not ours to guess. The password's value is never looked at. */
static int form_pair(struct span pair, struct pc_signin_form *out, bool *grant_seen)
{
    const char *eq = memchr(pair.p, '=', pair.n);
    struct span key = {pair.p, eq ? (size_t)(eq - pair.p) : pair.n};
    struct span val = {eq ? eq + 1 : pair.p + pair.n, eq ? pair.n - key.n - 1 : 0};
    switch (form_field(key)) {
    case FIELD_GRANT:
        if (*grant_seen)
            return -1;
        *grant_seen = true;
        out->kind = form_grant(val);
        return out->kind == PC_SIGNIN_FORM_MALFORMED ? -1 : 0;
    case FIELD_USER:
        if (out->has_username || form_decode(val, out->username, sizeof out->username) < 0)
            return -1;
        out->has_username = true;
        return 0;
    case FIELD_PASSWORD:
        out->has_password = true;
        return 0;
    case FIELD_OTHER:
        return 0;
    default:
        return -1;
    }
}

enum pc_signin_form_kind pc_signin_parse_form(const char *body, size_t len,
                                              struct pc_signin_form *out)
{
    memset(out, 0, sizeof *out);
    bool grant_seen = false;
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t e = amp ? (size_t)(amp - body) : len;
        if (e > i && form_pair((struct span){body + i, e - i}, out, &grant_seen) != 0) {
            memset(out, 0, sizeof *out);
            return out->kind = PC_SIGNIN_FORM_MALFORMED;
        }
        i = e + 1;
    }
    return out->kind;
}

/* ---- Basic (RFC 7617 §2) ---- */

/* credentials = "Basic" 1*SP token68, the token68 the base64 of user-id ":" password. The user-id
 * cannot hold a colon (§2), so the first one ends it; decoding stops there, byte by byte, and
 * the password is never decoded. Without charset="UTF-8" (§2.1) the encoding is unspecified:
 * UTF-8 when it is, else Latin-1. */
int pc_signin_parse_basic(const char *v, size_t n, char *user, size_t cap)
{
    while (n && (v[0] == ' ' || v[0] == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (cap)
        user[0] = 0;
    if (n < 5 || strncasecmp(v, "basic", 5) != 0 || (n > 5 && v[5] != ' ' && v[5] != '\t'))
        return 0;
    size_t i = 5;
    while (i < n && v[i] == ' ')
        i++;
    long len = pc_ntlm_b64_length(v + i, n - i);
    if (i == 5 || len < 0)
        return -1;
    unsigned char raw[PC_SIGNIN_NAME_MAX];
    size_t u = 0;
    for (;; u++) {
        if (u == (size_t)len || u == sizeof raw)
            return -1; /* no colon, or a user-id too long */
        raw[u] = pc_ntlm_b64_byte(v + i, u);
        if (raw[u] == ':')
            break;
        if (raw[u] < 0x20 || raw[u] == 0x7f)
            return -1;
    }
    size_t o = 0;
    bool utf8 = utf8_valid(raw, u);
    for (size_t j = 0; j < u; j++) {
        size_t k = utf8 || raw[j] < 0x80 ? 1 : 2;
        if (k >= cap - o)
            return -1;
        if (k == 1)
            user[o++] = (char)raw[j];
        else
            user[o++] = (char)(0xc0 | raw[j] >> 6), user[o++] = (char)(0x80 | (raw[j] & 0x3f));
    }
    user[o] = 0;
    return 1;
}
