/* route.c — finding the published name for a Host (docs/configuration.md, "Routing"), on the path
 * of every request.
 *
 * Exact names and wildcard suffixes (".contoso.com") share one open-addressing table, at most
 * half full. The hash is FNV-1a run from the LAST byte to the first: the hash of every suffix
 * of a Host then falls out of a single pass over it, so a lookup hashes the Host once however
 * many wildcard suffixes it tries. No allocation: the Host is lower-cased into a stack buffer
 * (a host name has 253 bytes at most). */
#include "config/config-int.h"

#include <stdlib.h>
#include <string.h>

#define MAX_NAME 253

struct slot {
    uint32_t hash;
    uint32_t len;
    uint32_t idx; /* index in cfg->names + 1; 0 = empty */
};

struct pc_route_index {
    struct slot *slots;
    uint32_t mask;
    bool wildcards; /* skip suffix probes when no name is a wildcard */
};

static uint32_t hash_reverse(const char *s, size_t n)
{
    uint32_t h = PC_FNV_INIT;
    while (n > 0) {
        h ^= (unsigned char)s[--n];
        h *= PC_FNV_PRIME;
    }
    return h;
}

struct pc_route_index *pc_route_index_new(size_t nnames)
{
    struct pc_route_index *ix = pc_cfg_calloc(1, sizeof *ix);
    size_t size = 8;
    while (size < 2 * nnames)
        size *= 2;
    ix->slots = pc_cfg_calloc(size, sizeof *ix->slots);
    ix->mask = (uint32_t)(size - 1);
    return ix;
}

static long find(const struct pc_route_index *ix, const struct pc_name *names, const char *s,
                 size_t n, uint32_t h)
{
    for (uint32_t i = h & ix->mask;; i = (i + 1) & ix->mask) {
        const struct slot *sl = &ix->slots[i];
        if (!sl->idx)
            return -1;
        if (sl->hash == h && sl->len == n && memcmp(names[sl->idx - 1].name, s, n) == 0)
            return (long)sl->idx - 1;
    }
}

long pc_route_index_add(struct pc_route_index *ix, const struct pc_name *names, size_t i)
{
    const char *s = names[i].name;
    size_t n = strlen(s);
    uint32_t h = hash_reverse(s, n);
    long old = find(ix, names, s, n, h);
    if (old >= 0)
        return old;
    uint32_t j = h & ix->mask;
    while (ix->slots[j].idx)
        j = (j + 1) & ix->mask;
    ix->slots[j] = (struct slot){.hash = h, .len = (uint32_t)n, .idx = (uint32_t)i + 1};
    if (names[i].wildcard)
        ix->wildcards = true;
    return -1;
}

void pc_route_index_free(struct pc_route_index *ix)
{
    if (!ix)
        return;
    free(ix->slots);
    free(ix);
}

/* Cuts ":port" (digits, possibly none) and the brackets of "[v6]:port" from HOST. */
static bool strip_port(const char **host, size_t *len)
{
    const char *h = *host;
    size_t n = *len;
    const char *rest;
    if (n > 0 && h[0] == '[') {
        const char *close = memchr(h, ']', n);
        if (!close)
            return false;
        *host = h + 1;
        *len = (size_t)(close - h - 1);
        rest = close + 1;
        if (rest == h + n)
            return true;
        if (*rest != ':')
            return false;
    } else {
        rest = memchr(h, ':', n);
        if (!rest)
            return true;
        *len = (size_t)(rest - h);
    }
    for (const char *p = rest + 1; p < h + n; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

const struct pc_name *pc_config_route(const struct pc_config *cfg, const char *host, size_t hostlen)
{
    if (!cfg || !cfg->route_index || !host)
        return NULL;
    const struct pc_route_index *ix = cfg->route_index;
    if (!strip_port(&host, &hostlen))
        return NULL;
    if (hostlen > 0 && host[hostlen - 1] == '.')
        hostlen--;
    /* A leading dot would let an exact lookup hit a wildcard's suffix key. */
    if (hostlen == 0 || hostlen > MAX_NAME || host[0] == '.')
        return NULL;

    char buf[MAX_NAME];
    uint16_t dotpos[MAX_NAME];
    uint32_t dothash[MAX_NAME];
    size_t ndots = 0;
    uint32_t h = PC_FNV_INIT;
    for (size_t i = hostlen; i-- > 0;) {
        unsigned char c = (unsigned char)host[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        buf[i] = (char)c;
        h ^= c;
        h *= PC_FNV_PRIME;
        if (c == '.') {
            dotpos[ndots] = (uint16_t)i;
            dothash[ndots++] = h;
        }
    }
    long idx = find(ix, cfg->names, buf, hostlen, h);
    if (idx >= 0)
        return &cfg->names[idx];
    if (!ix->wildcards)
        return NULL;
    /* The leftmost dot gives the longest suffix: try it first. */
    while (ndots-- > 0) {
        size_t pos = dotpos[ndots];
        idx = find(ix, cfg->names, buf + pos, hostlen - pos, dothash[ndots]);
        if (idx >= 0)
            return &cfg->names[idx];
    }
    return NULL;
}
