/* policy.c — requests answered before any pool sees them (policy.h, docs/signin.md). */
#include "proxy/policy.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/pct.h"
#include "config/config.h"
#include "proxy/ntlm.h"

/* The Lync Web App page of CVE-2023-41763 (pre-authentication SSRF through ?meeturl=). */
static const char lwa_page[] = "/lwa/webpages/lwaclient.aspx";

long pc_policy_path(const char *t, size_t n, char *out, size_t cap)
{
    const char *q = memchr(t, '?', n);
    if (q)
        n = (size_t)(q - t);
    char dec[PC_MAX_POLICY_PATH];
    long dl = pc_pct_decode(t, n, PC_PCT_U | PC_PCT_NOCTL, dec, sizeof dec);
    if (dl < 0)
        return -1;
    /* Segment by segment into OUT: "" and "." vanish, ".." takes the last one back. */
    size_t o = 0;
    for (size_t i = 0; i < (size_t)dl;) {
        while (i < (size_t)dl && (dec[i] == '/' || dec[i] == '\\'))
            i++;
        size_t j = i;
        while (j < (size_t)dl && dec[j] != '/' && dec[j] != '\\')
            j++;
        size_t sl = j - i;
        if (sl == 0 || (sl == 1 && dec[i] == '.')) {
            /* nothing */
        } else if (sl == 2 && dec[i] == '.' && dec[i + 1] == '.') {
            while (o > 0 && out[--o] != '/')
                ;
        } else {
            if (o + 1 + sl + 1 > cap)
                return -1;
            out[o++] = '/';
            for (size_t k = i; k < j; k++)
                out[o++] = (char)tolower((unsigned char)dec[k]);
        }
        i = j;
    }
    bool dir = dl > 0 && (dec[dl - 1] == '/' || dec[dl - 1] == '\\');
    if ((o == 0 || dir) && o + 2 <= cap)
        out[o++] = '/'; /* "/" alone, or a directory stays one ("/rgsclients/") */
    if (o + 1 > cap)
        return -1;
    out[o] = '\0';
    return (long)o;
}

/* Whether P[0, N) is PREFIX or below it (PREFIX ending in '/' matches what starts with it). */
static bool under(const char *p, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (pl > 1 && prefix[pl - 1] == '/' && n == pl - 1 && memcmp(p, prefix, n) == 0)
        return true; /* "/persistentchat/rm" is what "/persistentchat/rm/" denies */
    if (n < pl || memcmp(p, prefix, pl) != 0)
        return false;
    return n == pl || prefix[pl - 1] == '/' || p[pl] == '/';
}

bool pc_policy_denied(const struct pc_pool *pool, const char *p, size_t n)
{
    for (size_t i = 0; i < pool->ndeny_paths; i++)
        if (under(p, n, pool->deny_paths[i]))
            return true;
    return false;
}

/* The host of the absolute URL U[0, N) ("https://meet.contoso.com/alice/X"): its start and
 * length, or NULL when U is not an http(s) URL with a host. */
static const char *url_host(const char *u, size_t n, size_t *hl)
{
    size_t s = n >= 8 && strncasecmp(u, "https://", 8) == 0  ? 8
               : n >= 7 && strncasecmp(u, "http://", 7) == 0 ? 7
                                                             : 0;
    if (!s)
        return NULL;
    size_t e = s;
    while (e < n && u[e] != '/' && u[e] != '?' && u[e] != '#')
        e++;
    const char *h = u + s;
    size_t l = e - s;
    if (memchr(h, '@', l) || memchr(h, '\\', l) || l == 0)
        return NULL; /* userinfo, or a backslash a .NET Uri could read otherwise: refused */
    *hl = l;
    return h;
}

/* CVE-2023-41763: for LwaClient.aspx, the status for the query Q[0, N) (without '?'): 403
 * unless every meeturl decodes to an http(s) URL on a published name; at most one meeturl
 * (ASP.NET would join several with commas). */
static int meeturl(const struct pc_config *cfg, const char *q, size_t n, const char *client)
{
    static struct pc_ratelimit rl;
    int found = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && q[e] != '&')
            e++;
        const char *eq = memchr(q + i, '=', e - i);
        size_t kl = eq ? (size_t)(eq - (q + i)) : e - i;
        char key[16];
        /* As ASP.NET reads a query (pct.h): however it is spelled, a meeturl is one. */
        long k = pc_pct_decode(q + i, kl, PC_PCT_PLUS | PC_PCT_U, key, sizeof key);
        if (k == 7 && strcasecmp(key, "meeturl") == 0) {
            char b64[2048], url[1536];
            long bl = eq ? pc_pct_decode(eq + 1, (size_t)(q + e - eq - 1), PC_PCT_PLUS | PC_PCT_U,
                                         b64, sizeof b64)
                         : -1;
            for (long j = 0; j < bl; j++)
                if (b64[j] == ' ')
                    b64[j] = '+'; /* a '+' that a query decoder made a space */
            long ul = bl > 0 ? pc_ntlm_b64_decode(b64, (size_t)bl, (uint8_t *)url, sizeof url) : -1;
            size_t hl = 0;
            const char *h = ul > 0 ? url_host(url, (size_t)ul, &hl) : NULL;
            if (++found > 1 || !h || !pc_config_route(cfg, h, hl)) {
                pc_log_limited(
                    &rl, PC_LOG_WARN,
                    "CVE-2023-41763: client %s: LwaClient.aspx meeturl %s: refused (403)", client,
                    found > 1 ? "given twice"
                    : h       ? "names a host that is not published"
                              : "is not a base64 http(s) URL");
                return 403;
            }
        }
        i = e + 1;
    }
    return 0;
}

/* Whether the path of T[0, N) may be Lync Web App's page once decoded: it names it, or has an
 * escape or a backslash that could spell it. The common request costs this scan only. */
static bool maybe_lwa(const char *t, size_t n)
{
    const char *q = memchr(t, '?', n);
    size_t pl = q ? (size_t)(q - t) : n;
    if (memchr(t, '%', pl) || memchr(t, '\\', pl))
        return true;
    for (size_t i = 0; i + 9 <= pl; i++)
        if (strncasecmp(t + i, "lwaclient", 9) == 0)
            return true;
    return false;
}

int pc_policy_check(const struct pc_config *cfg, const struct pc_name *name, const char *t,
                    size_t n, const char *client)
{
    const struct pc_pool *pool = name->pool;
    if (!pool->ndeny_paths && (!pool->meeturl_check || !maybe_lwa(t, n)))
        return 0;
    char path[PC_MAX_POLICY_PATH];
    long pl = pc_policy_path(t, n, path, sizeof path);
    if (pl < 0)
        return 400; /* the pool could only misread it */
    if (pc_policy_denied(pool, path, (size_t)pl))
        return 403;
    if (pool->meeturl_check && under(path, (size_t)pl, lwa_page)) {
        const char *q = memchr(t, '?', n);
        if (q)
            return meeturl(cfg, q + 1, n - (size_t)(q + 1 - t), client);
    }
    return 0;
}
