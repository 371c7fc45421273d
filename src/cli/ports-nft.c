/* ports-nft.c — portico ports --format nft: the port summary as an nftables ruleset for the
 * proxy host.
 *
 * One table of its own (inet portico), so that it never edits anybody else's rules and can be
 * replaced atomically: the file declares the table, deletes it and declares it again, the
 * usual idiom for a ruleset that `nft -f` may load over an older version of itself. Base
 * chains with policy drop on input, forward and output: a packet that another table accepts
 * still has to pass this one, so the flows below are the only new connections the host makes
 * or accepts, whatever else is loaded. Addresses are the resolved ones (nft needs addresses);
 * each rule's comment names its pool, and a line above it the names of members written as
 * names. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cli/ports-nft.h"

/* nft keeps a rule comment in a 128-byte attribute with its NUL. */
#define NFT_COMMENT_MAX 127

/* A pool name (free text in [pool NAME]) fit for an nft comment string: quotes, backslashes
 * and control bytes become '_'. */
static void nft_safe(const char *name, char *buf, size_t size)
{
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)name; *c && o + 1 < size; c++)
        buf[o++] = *c == '"' || *c == '\\' || *c < 0x20 || *c == 0x7f ? '_' : (char)*c;
    if (size)
        buf[o] = '\0';
}

static const char *fam_kw(int family)
{
    return family == AF_INET ? "ip" : "ip6";
}

static const char *fam_name(int family)
{
    return family == AF_INET ? "ipv4" : "ipv6";
}

/* Writes ` comment "TEXT"`, cut to what nft accepts (never inside a UTF-8 sequence). */
static void comment(FILE *out, const char *text)
{
    size_t n = strlen(text);
    if (n > NFT_COMMENT_MAX) {
        n = NFT_COMMENT_MAX;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--;
    }
    fprintf(out, " comment \"%.*s\"", (int)n, text);
}

/* The external listeners (and the admin listener) of one address family. */
static void listener_rules(const struct pc_config *cfg, int family, FILE *out)
{
    struct pc_sb set = {0};
    size_t n = 0;
    bool any = false;
    for (size_t i = 0; i < cfg->nexternal; i++) {
        const struct pc_addr *a = &cfg->external[i];
        if (a->ss.ss_family != family)
            continue;
        char text[INET6_ADDRSTRLEN];
        pc_net_addr_text(a, text, sizeof(text));
        pc_sb_printf(&set, "%s%s", n++ ? ", " : "", text);
        any |= pc_flows_addr_any(a);
    }
    char ports[32], what[64];
    if (cfg->https_port && cfg->http_port) {
        snprintf(ports, sizeof(ports), "{ %d, %d }", cfg->https_port, cfg->http_port);
        snprintf(what, sizeof(what), "external listeners: HTTPS %d, HTTP %d", cfg->https_port,
                 cfg->http_port);
    } else {
        int port = cfg->https_port ? cfg->https_port : cfg->http_port;
        snprintf(ports, sizeof(ports), "%d", port);
        snprintf(what, sizeof(what), "external listener: %s %d", cfg->https_port ? "HTTPS" : "HTTP",
                 port);
    }
    if (n && (cfg->https_port || cfg->http_port)) {
        if (any) /* a wildcard listener takes every address of the family */
            fprintf(out, "\t\tmeta nfproto %s tcp dport %s accept", fam_name(family), ports);
        else
            fprintf(out, "\t\t%s daddr %s%s%s tcp dport %s accept", fam_kw(family),
                    n > 1 ? "{ " : "", pc_sb_str(&set), n > 1 ? " }" : "", ports);
        comment(out, what);
        fputc('\n', out);
    }
    pc_sb_free(&set);
    if (cfg->has_admin && cfg->admin.ss.ss_family == family) {
        char a[INET6_ADDRSTRLEN];
        pc_net_addr_text(&cfg->admin, a, sizeof(a));
        int port =
            ntohs(family == AF_INET ? ((const struct sockaddr_in *)&cfg->admin.ss)->sin_port
                                    : ((const struct sockaddr_in6 *)&cfg->admin.ss)->sin6_port);
        if (pc_flows_addr_any(&cfg->admin))
            fprintf(out, "\t\tmeta nfproto %s tcp dport %d accept", fam_name(family), port);
        else
            fprintf(out, "\t\t%s daddr %s tcp dport %d accept", fam_kw(family), a, port);
        comment(out, "admin listener (metrics, status)");
        fputc('\n', out);
    }
}

/* The outbound rule of flow F for the members of one address family. */
static void flow_rule(const struct pc_config *cfg, const struct pc_flow *f, int family, FILE *out)
{
    const struct pc_pool *pool = &cfg->pools[f->pool];
    struct pc_sb set = {0}, names = {0};
    size_t n = 0;
    bool named = false;
    for (size_t k = 0; k < f->nmembers; k++) {
        const struct pc_member *m = &pool->members[f->members[k]];
        if (m->addr.ss.ss_family != family)
            continue;
        named |= pc_flows_member_named(m);
        char a[INET6_ADDRSTRLEN];
        pc_net_addr_text(&m->addr, a, sizeof(a));
        pc_sb_printf(&set, "%s%s", n ? ", " : "", a);
        char mt[600];
        pc_flows_member_text(m, mt, sizeof(mt));
        pc_sb_printf(&names, "%s%s", n ? ", " : "", mt);
        n++;
    }
    if (n) {
        char pname[512], what[700];
        nft_safe(pool->name, pname, sizeof(pname));
        snprintf(what, sizeof(what), "pool %s (%s): %s %d", pname, pc_flows_role_label(pool->role),
                 f->tls ? "HTTPS" : "HTTP", f->port);
        /* The file keeps the names the addresses were resolved from, for the reader. */
        if (named)
            fprintf(out, "\t\t# %s: %s\n", what, pc_sb_str(&names));
        fputs("\t\t", out);
        if (cfg->has_internal && cfg->internal.ss.ss_family == family) {
            char a[INET6_ADDRSTRLEN];
            pc_net_addr_text(&cfg->internal, a, sizeof(a));
            fprintf(out, "%s saddr %s ", fam_kw(family), a);
        }
        fprintf(out, "%s daddr %s%s%s tcp dport %d accept", fam_kw(family), n > 1 ? "{ " : "",
                pc_sb_str(&set), n > 1 ? " }" : "", f->port);
        comment(out, what);
        fputc('\n', out);
    }
    pc_sb_free(&set);
    pc_sb_free(&names);
}

static bool any_named(const struct pc_config *cfg)
{
    for (size_t p = 0; p < cfg->npools; p++)
        for (size_t m = 0; m < cfg->pools[p].nmembers; m++)
            if (pc_flows_member_named(&cfg->pools[p].members[m]))
                return true;
    return false;
}

/* What every chain starts with: replies, loopback, and the ICMPv6 that IPv6 cannot work
 * without (neighbour discovery is not a tracked connection; ICMP errors are "related"). */
static void chain_common(FILE *out, bool in)
{
    fputs("\t\tct state established,related accept", out);
    comment(out, "replies, and the ICMP errors that belong to them");
    fputs("\n\t\tct state invalid drop\n", out);
    fprintf(out, "\t\t%s \"lo\" accept", in ? "iif" : "oif");
    comment(out, "loopback");
    fprintf(out, "\n\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, %s } accept",
            in ? "nd-router-advert" : "nd-router-solicit");
    comment(out, "IPv6 neighbour discovery");
    fputc('\n', out);
}

/* keepalived's VRRP adverts (two portico hosts sharing the external address). */
static void vrrp_rule(const struct pc_ports_opts *opts, const char *dir, FILE *out)
{
    if (!opts->allow_vrrp)
        return;
    fprintf(out, "\t\tip %s 224.0.0.18 ip protocol vrrp accept", dir);
    comment(out, "VRRP (--allow-vrrp)");
    fprintf(out, "\n\t\tip6 %s ff02::12 meta l4proto vrrp accept", dir);
    comment(out, "VRRP over IPv6 (--allow-vrrp)");
    fputc('\n', out);
}

void pc_ports_nft(const struct pc_config *cfg, const struct pc_flows *flows,
                  const struct pc_ports_opts *opts, FILE *out)
{
    fputs("#!/usr/sbin/nft -f\n"
          "# The firewall of the portico reverse proxy host, from `portico ports --format nft`:\n"
          "# exactly the flows of the port summary (`portico ports`), inbound to the external\n"
          "# listeners and outbound from the internal address to the pool members, plus replies\n"
          "# and loopback. Every other new connection in or out, and all forwarding, is dropped.\n"
          "# Member names were resolved when this file was generated: generate it again when a\n"
          "# pool's addresses change.\n"
          "#   check: nft -c -f FILE      load (replaces table inet portico at once): nft -f FILE\n"
          "\n"
          "table inet portico\n"
          "delete table inet portico\n"
          "\n"
          "table inet portico {\n"
          "\tchain input {\n"
          "\t\ttype filter hook input priority filter; policy drop;\n",
          out);
    chain_common(out, true);
    listener_rules(cfg, AF_INET, out);
    listener_rules(cfg, AF_INET6, out);
    if (opts->allow_ssh) {
        fputs("\t\ttcp dport 22 accept", out);
        comment(out, "SSH (--allow-ssh)");
        fputc('\n', out);
    }
    vrrp_rule(opts, "daddr", out);
    fputs("\t}\n"
          "\n"
          "\t# The proxy host routes nothing: clients reach the pools only through portico.\n"
          "\tchain forward {\n"
          "\t\ttype filter hook forward priority filter; policy drop;\n"
          "\t}\n"
          "\n"
          "\tchain output {\n"
          "\t\ttype filter hook output priority filter; policy drop;\n",
          out);
    chain_common(out, false);
    for (size_t i = 0; i < flows->n; i++) {
        flow_rule(cfg, &flows->v[i], AF_INET, out);
        flow_rule(cfg, &flows->v[i], AF_INET6, out);
    }
    vrrp_rule(opts, "daddr", out);
    if (opts->allow_dns) {
        fputs("\t\tmeta l4proto { tcp, udp } th dport 53 accept", out);
        comment(out, "DNS (--allow-dns)");
        fputc('\n', out);
    } else if (any_named(cfg)) {
        /* Member names are resolved at every start and reload: a reload behind this ruleset
         * would fail on them, which the admin should learn here rather than then. */
        fputs("\t\t# Some members are host names, resolved at every start and reload: without\n"
              "\t\t# --allow-dns they must resolve locally (/etc/hosts).\n",
              out);
    }
    if (opts->allow_ntp) {
        fputs("\t\tudp dport 123 accept", out);
        comment(out, "NTP (--allow-ntp)");
        fputc('\n', out);
    }
    fputs("\t}\n}\n", out);
}
