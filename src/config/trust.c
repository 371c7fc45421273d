/* trust.c — trusted_proxies: the address prefixes of the load balancers whose PROXY protocol
 * header or X-Forwarded-For portico believes (docs/configuration.md, "Behind a load
 * balancer"), and matching a peer against them. */
#include "config/config-int.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* The 16-byte key of A: IPv6 as it is, IPv4 as ::ffff:a.b.c.d. */
static bool addr_key(const struct pc_addr *a, uint8_t key[16])
{
    if (a->ss.ss_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
        return true;
    }
    if (a->ss.ss_family != AF_INET)
        return false;
    memset(key, 0, 10);
    key[10] = key[11] = 0xff;
    memcpy(key + 12, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    return true;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool pc_config_trusted(const struct pc_config *cfg, const struct pc_addr *a)
{
    uint8_t key[16];
    if (!cfg->ntrusted || !addr_key(a, key))
        return false;
    for (size_t i = 0; i < cfg->ntrusted; i++)
        if (prefix_match(key, cfg->trusted[i].addr, cfg->trusted[i].bits))
            return true;
    return false;
}

bool pc_config_parse_ip(const char *text, size_t len, struct pc_addr *out)
{
    return pc_cfg_parse_addr(text, len, false, out);
}

/* Every peer of a proxy listener is matched against the list at the accept, linearly: a
 * bound keeps that cheap (a balancer tier has a handful of addresses or one prefix). */
#define PC_CFG_MAX_TRUSTED 256

/* One item: ADDRESS or ADDRESS/BITS. */
static void trusted_item(struct pc_cfg_loader *ld, int line, const char *item, size_t len,
                         struct pc_cidr *out)
{
    const char *slash = memchr(item, '/', len);
    size_t alen = slash ? (size_t)(slash - item) : len;
    struct pc_addr a;
    uint8_t key[16];
    if (!pc_cfg_parse_addr(item, alen, false, &a) || !addr_key(&a, key)) {
        pc_cfg_error(ld, line,
                     "bad address '%.*s' in 'trusted_proxies' (expected ADDRESS or ADDRESS/BITS, "
                     "IPv4 or IPv6)",
                     (int)len, item);
        out->bits = 255;
        return;
    }
    bool v4 = a.ss.ss_family == AF_INET;
    int max = v4 ? 32 : 128, bits = max;
    if (slash) {
        char num[8];
        size_t nl = len - alen - 1;
        if (nl == 0 || nl >= sizeof num) {
            bits = -1;
        } else {
            memcpy(num, slash + 1, nl);
            num[nl] = '\0';
            if (!pc_cfg_parse_int(num, 0, max, &bits))
                bits = -1;
        }
        if (bits < 0) {
            pc_cfg_error(ld, line, "bad prefix length in '%.*s' for 'trusted_proxies' (0 to %d)",
                         (int)len, item, max);
            out->bits = 255;
            return;
        }
    }
    unsigned total = (unsigned)bits + (v4 ? 96u : 0u);
    memcpy(out->addr, key, 16);
    out->bits = (uint8_t)total;
    /* Bits past the prefix are almost always a typo (10.0.0.1/8 for 10.0.0.0/8 or for the
     * host itself): refused rather than guessed. */
    uint8_t masked[16] = {0};
    for (unsigned i = 0; i < 16; i++) {
        unsigned lo = i * 8;
        if (lo + 8 <= total)
            masked[i] = key[i];
        else if (lo < total)
            masked[i] = key[i] & (uint8_t)(0xff << (8 - (total - lo)));
    }
    if (memcmp(masked, key, 16) != 0) {
        pc_cfg_error(ld, line,
                     "'%.*s' in 'trusted_proxies' has bits set past its /%d prefix (a network "
                     "address is expected)",
                     (int)len, item, bits);
        out->bits = 255;
    }
}

void pc_cfg_key_trusted(struct pc_cfg_loader *ld, struct pc_config *cfg, int line, const char *val)
{
    size_t cap = 0, len;
    const char *item;
    while ((item = pc_cfg_next_item(&val, &len))) {
        struct pc_cidr c;
        if (cfg->ntrusted == PC_CFG_MAX_TRUSTED) {
            pc_cfg_error(ld, line, "more than %d prefixes in 'trusted_proxies'",
                         PC_CFG_MAX_TRUSTED);
            return;
        }
        trusted_item(ld, line, item, len, &c);
        if (c.bits == 255)
            continue;
        PC_CFG_RESERVE(cfg->trusted, cfg->ntrusted, cap);
        cfg->trusted[cfg->ntrusted++] = c;
    }
}
