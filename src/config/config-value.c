/* config-value.c — parsing and checking of single configuration values. */
#include "config/config-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

const char *pc_cfg_next_item(const char **p, size_t *len)
{
    const char *s = *p;
    while (is_space(*s))
        s++;
    if (!*s)
        return NULL;
    const char *e = s;
    while (*e && !is_space(*e))
        e++;
    *len = (size_t)(e - s);
    *p = e;
    return s;
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Parses N decimal digits into 0..MAX; false when not digits or out of range. */
static bool parse_uint(const char *s, size_t n, long max, long *out)
{
    if (!all_digits(s, n))
        return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
        if (v > max)
            return false;
    }
    *out = v;
    return true;
}

bool pc_cfg_parse_int(const char *val, int min, int max, int *out)
{
    long v;
    if (!parse_uint(val, strlen(val), max, &v) || v < min)
        return false;
    *out = (int)v;
    return true;
}

bool pc_cfg_int(struct pc_cfg_loader *ld, int line, const char *key, const char *val, int min,
                int max, int *out)
{
    if (!pc_cfg_parse_int(val, min, max, out)) {
        pc_cfg_error(ld, line, "bad value '%s' for '%s' (expected a number from %d to %d)", val,
                     key, min, max);
        return false;
    }
    return true;
}

bool pc_cfg_seconds(struct pc_cfg_loader *ld, int line, const char *key, const char *val,
                    double *out)
{
    /* Digits and one dot only: strtod alone would also take "1e3", "inf", "0x10" or "nan". */
    size_t ndigits = 0, ndots = 0, nother = 0;
    for (const char *p = val; *p; p++) {
        if (*p >= '0' && *p <= '9')
            ndigits++;
        else if (*p == '.')
            ndots++;
        else
            nother++;
    }
    double v = 0;
    if (ndigits > 0 && ndots <= 1 && nother == 0) {
        errno = 0;
        char *end;
        v = strtod(val, &end);
        if (errno || *end)
            v = 0;
    }
    /* A year at most: larger values are typing mistakes, and they keep timer sums finite. */
    if (!(v > 0 && v <= 366 * 86400.0)) {
        pc_cfg_error(ld, line,
                     "bad value '%s' for '%s' (expected seconds above 0, such as 30 or 0.5)", val,
                     key);
        return false;
    }
    *out = v;
    return true;
}

bool pc_cfg_word(struct pc_cfg_loader *ld, int line, const char *key, const char *val,
                 const char *const *words, int *out)
{
    for (int i = 0; words[i]; i++) {
        if (strcasecmp(val, words[i]) == 0) {
            *out = i;
            return true;
        }
    }
    char expected[256] = "";
    size_t n = 0;
    for (int i = 0; words[i] && n < sizeof expected; i++) {
        int k = snprintf(expected + n, sizeof expected - n, "%s%s", i ? " | " : "", words[i]);
        if (k < 0)
            break;
        n += (size_t)k;
    }
    pc_cfg_error(ld, line, "bad value '%s' for '%s' (expected %s)", val, key, expected);
    return false;
}

bool pc_cfg_onoff(struct pc_cfg_loader *ld, int line, const char *key, const char *val, bool *out)
{
    static const char *const words[] = {"off", "on", NULL};
    int i;
    if (!pc_cfg_word(ld, line, key, val, words, &i))
        return false;
    *out = i == 1;
    return true;
}

bool pc_cfg_tls_version(struct pc_cfg_loader *ld, int line, const char *key, const char *val,
                        pc_tls_version *out)
{
    static const char *const words[] = {"1.0", "1.1", "1.2", "1.3", NULL};
    static const pc_tls_version versions[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
                                              TLS1_3_VERSION};
    int i;
    if (!pc_cfg_word(ld, line, key, val, words, &i))
        return false;
    *out = versions[i];
    return true;
}

/* An IPv6 literal with an optional "%scope" (interface name or number). */
static bool parse_ip6(const char *s, struct pc_addr *out)
{
    char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    if (strlen(s) >= sizeof buf)
        return false;
    strcpy(buf, s);
    uint32_t scope = 0;
    char *pct = strchr(buf, '%');
    if (pct) {
        *pct++ = '\0';
        long v;
        if (parse_uint(pct, strlen(pct), UINT32_MAX, &v))
            scope = (uint32_t)v;
        else if (!(scope = if_nametoindex(pct)))
            return false;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
        return false;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_scope_id = scope;
    out->len = sizeof *sin6;
    return true;
}

static bool parse_ip4(const char *s, struct pc_addr *out)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
    memset(out, 0, sizeof *out);
    /* inet_pton, unlike inet_aton, refuses the "127.1" and "0x7f.1" shorthands. */
    if (inet_pton(AF_INET, s, &sin->sin_addr) != 1)
        return false;
    sin->sin_family = AF_INET;
    out->len = sizeof *sin;
    return true;
}

bool pc_cfg_parse_addr(const char *text, size_t len, bool want_port, struct pc_addr *out)
{
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    const char *rest;
    bool bracketed = len > 0 && text[0] == '[';
    if (bracketed) {
        const char *close = memchr(text, ']', len);
        if (!close || (size_t)(close - text - 1) >= sizeof host)
            return false;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        rest = close + 1;
    } else {
        const char *colon = want_port ? memrchr(text, ':', len) : NULL;
        size_t hlen = colon ? (size_t)(colon - text) : len;
        if (hlen >= sizeof host)
            return false;
        memcpy(host, text, hlen);
        host[hlen] = '\0';
        rest = text + hlen;
    }
    size_t rlen = len - (size_t)(rest - text);
    long port = 0;
    if (want_port) {
        if (rlen < 2 || rest[0] != ':' || !parse_uint(rest + 1, rlen - 1, 65535, &port) ||
            port == 0)
            return false;
    } else if (rlen != 0) {
        return false;
    }
    bool ok;
    if (bracketed)
        ok = parse_ip6(host, out);
    else if (want_port && strchr(host, ':'))
        ok = false; /* an IPv6 address with a port needs its brackets */
    else
        ok = parse_ip4(host, out) || parse_ip6(host, out);
    if (ok)
        pc_net_set_port(out, (int)port);
    return ok;
}

bool pc_cfg_is_loopback(const struct pc_addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
    if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
        return true;
    return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && sin6->sin6_addr.s6_addr[12] == 127;
}

bool pc_cfg_same_addr(const struct pc_addr *a, const struct pc_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return false;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)&a->ss;
        const struct sockaddr_in *y = (const struct sockaddr_in *)&b->ss;
        return x->sin_addr.s_addr == y->sin_addr.s_addr && x->sin_port == y->sin_port;
    }
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->ss;
    const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->ss;
    return memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0 &&
           x->sin6_scope_id == y->sin6_scope_id && x->sin6_port == y->sin6_port;
}

bool pc_cfg_valid_hostname(const char *s, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && label > 0))
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0 && s[len - 1] != '-';
}

char *pc_cfg_publish_name(struct pc_cfg_loader *ld, int line, const char *text, size_t len)
{
    char *name = pc_cfg_strndup(text, len);
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    size_t n = len;
    if (n > 1 && name[n - 1] == '.')
        name[--n] = '\0';
    size_t skip = n > 2 && name[0] == '*' && name[1] == '.' ? 2 : 0;
    if (!pc_cfg_valid_hostname(name + skip, n - skip)) {
        pc_cfg_error(ld, line,
                     "bad published name '%.*s' (expected a host name such as "
                     "webext.contoso.com or a wildcard such as *.contoso.com)",
                     (int)len, text);
        free(name);
        return NULL;
    }
    return name;
}

/* Adds A to S unless S has it already (getaddrinfo repeats an address listed twice in
 * /etc/hosts, for instance). */
static void server_add(struct pc_cfg_server *s, size_t *cap, const struct pc_addr *a)
{
    for (size_t i = 0; i < s->naddrs; i++)
        if (pc_cfg_same_addr(&s->addrs[i], a))
            return;
    PC_CFG_RESERVE(s->addrs, s->naddrs, *cap);
    s->addrs[s->naddrs++] = *a;
}

bool pc_cfg_server(struct pc_cfg_loader *ld, int line, const char *text, size_t len,
                   struct pc_cfg_server *out)
{
    memset(out, 0, sizeof *out);
    const char *host = text, *portstr = NULL;
    size_t hlen = len, plen = 0;
    const char *colon = memchr(text, ':', len);
    if (len > 0 && text[0] == '[') {
        /* "[v6]" or "[v6]:port" */
        const char *close = memchr(text, ']', len);
        if (!close)
            goto bad;
        host = text + 1;
        hlen = (size_t)(close - host);
        if (close + 1 < text + len) {
            if (close[1] != ':')
                goto bad;
            portstr = close + 2;
            plen = len - (size_t)(portstr - text);
        }
    } else if (colon && memchr(colon + 1, ':', len - (size_t)(colon + 1 - text))) {
        /* A bare IPv6 address: no port possible without brackets. */
    } else if (colon) {
        hlen = (size_t)(colon - text);
        portstr = colon + 1;
        plen = len - hlen - 1;
    }
    long port = 0;
    if (portstr && (!parse_uint(portstr, plen, 65535, &port) || port == 0))
        goto bad;
    if (hlen == 0)
        goto bad;
    out->host = pc_cfg_strndup(host, hlen);
    out->port = (int)port;

    struct pc_addr a;
    size_t cap = 0;
    bool literal = text[0] == '[' ? parse_ip6(out->host, &a)
                                  : parse_ip4(out->host, &a) || parse_ip6(out->host, &a);
    if (literal) {
        server_add(out, &cap, &a);
        return true;
    }
    if (text[0] == '[' || !pc_cfg_valid_hostname(host, hlen))
        goto bad;

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int rc = getaddrinfo(out->host, NULL, &hints, &res);
    if (rc != 0) {
        pc_cfg_error(ld, line, "server '%s' does not resolve: %s", out->host,
                     rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        pc_cfg_server_free(out);
        return false;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof a.ss)
            continue;
        memset(&a, 0, sizeof a);
        memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
        a.len = ai->ai_addrlen;
        pc_net_set_port(&a, 0);
        server_add(out, &cap, &a);
    }
    freeaddrinfo(res);
    if (out->naddrs == 0) {
        pc_cfg_error(ld, line, "server '%s' does not resolve to an IPv4 or IPv6 address",
                     out->host);
        pc_cfg_server_free(out);
        return false;
    }
    return true;

bad:
    pc_cfg_error(ld, line,
                 "bad server '%.*s' (expected a host name or address with an optional :port, "
                 "[v6]:port for IPv6)",
                 (int)len, text);
    pc_cfg_server_free(out);
    return false;
}

void pc_cfg_server_free(struct pc_cfg_server *s)
{
    free(s->host);
    free(s->addrs);
    memset(s, 0, sizeof *s);
}
