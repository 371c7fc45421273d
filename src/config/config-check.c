/* config-check.c — the checks that span several keys, once the whole file is read
 * (docs/configuration.md), and the table of published names (config-int.h). */
#include "config/config-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* docs/configuration.md: after dropping to `user`, certificates and keys are read again on reload.
 */
static void check_user(struct pc_cfg_loader *ld)
{
    struct pc_config *cfg = ld->cfg;
    int line = ld->proxy_seen[PK_USER];
    if (!cfg->user)
        return;
    struct pc_cfg_user u;
    if (!pc_cfg_user_lookup(ld, line, cfg->user, &u))
        return;
    for (size_t i = 0; i < cfg->ncerts; i++) {
        pc_cfg_check_user_file(ld, &u, cfg->certs[i].line, "certificate", cfg->certs[i].cert);
        pc_cfg_check_user_file(ld, &u, cfg->certs[i].key_line, "key", cfg->certs[i].key);
    }
    pc_cfg_check_user_file(ld, &u, ld->proxy_seen[PK_TICKET], "ticket_key_file",
                           cfg->ticket_key_file);
    for (size_t i = 0; i < cfg->npools; i++)
        pc_cfg_check_user_file(ld, &u, ld->aux[i].seen[QK_CA], "ca", cfg->pools[i].ca);
}

/* Session-ticket keys come from the file's digest: too little material is a weak key. */
static void check_ticket(struct pc_cfg_loader *ld)
{
    struct stat st;
    const char *f = ld->cfg->ticket_key_file;
    if (f && stat(f, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < 32)
        pc_cfg_error(ld, ld->proxy_seen[PK_TICKET],
                     "ticket_key_file '%s': needs at least 32 bytes of key material (has %lld)", f,
                     (long long)st.st_size);
}

static bool first_label_is(const char *name, const char *label)
{
    size_t n = strlen(label);
    return strncmp(name, label, n) == 0 && (name[n] == '.' || name[n] == '\0');
}

void pc_cfg_build_names(struct pc_cfg_loader *ld)
{
    struct pc_config *cfg = ld->cfg;
    size_t total = 0;
    for (size_t p = 0; p < cfg->npools; p++)
        total += cfg->pools[p].npublish;
    cfg->names = pc_cfg_calloc(total, sizeof *cfg->names);
    cfg->route_index = pc_route_index_new(total);
    for (size_t p = 0; p < cfg->npools; p++) {
        struct pc_pool *pool = &cfg->pools[p];
        int line = ld->aux[p].seen[QK_PUBLISH];
        if (ld->aux[p].duplicate)
            continue;
        for (size_t i = 0; i < pool->npublish; i++) {
            const char *pub = pool->publish[i];
            struct pc_name *nm = &cfg->names[cfg->nnames];
            bool wild = pub[0] == '*';
            *nm = (struct pc_name){.name = pc_cfg_strdup(wild ? pub + 1 : pub),
                                   .wildcard = wild,
                                   .http = pool->http,
                                   .pool = pool,
                                   .line = line};
            if (nm->http == PC_HTTP_AUTO)
                nm->http = pool->http_port && first_label_is(nm->name, "lyncdiscover")
                               ? PC_HTTP_FORWARD
                               : PC_HTTP_REDIRECT;
            long old = pc_route_index_add(cfg->route_index, cfg->names, cfg->nnames);
            if (old >= 0) {
                const struct pc_name *o = &cfg->names[old];
                pc_cfg_error(ld, line, "name '%s' is already published by pool '%s' at line %d",
                             pub, o->pool->name, o->line);
                free(nm->name);
                continue;
            }
            cfg->nnames++;
        }
    }
}

/* docs/certificates.md: state_dir holds the OCSP responses portico staples. It need not exist
 * (portico creates it, 0700, when a certificate names a responder), but what is there must be
 * a directory, and `user` must be able to write it. */
static void check_state_dir(struct pc_cfg_loader *ld)
{
    const char *d = ld->cfg->state_dir;
    int line = ld->proxy_seen[PK_STATE_DIR];
    struct stat st;
    if (!line || !d)
        return; /* the default is only looked at when it is used */
    if (stat(d, &st) < 0) {
        if (errno != ENOENT)
            pc_cfg_error(ld, line, "state_dir '%s': %s", d, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode))
        pc_cfg_error(ld, line, "state_dir '%s': not a directory", d);
    else if (st.st_mode & 077)
        pc_cfg_warn(ld, line, "state_dir '%s': mode %04o, portico sets 0700", d,
                    (unsigned)(st.st_mode & 07777));
}

void pc_cfg_finish_proxy(struct pc_cfg_loader *ld)
{
    struct pc_config *cfg = ld->cfg;
    if (cfg->nexternal == 0) {
        cfg->external = pc_cfg_calloc(1, sizeof *cfg->external);
        pc_cfg_parse_addr("0.0.0.0", 7, false, &cfg->external[0]);
        cfg->nexternal = 1;
    }
    if (cfg->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->workers = n < 1 ? 1 : n > 4096 ? 4096 : (int)n;
    }
    check_user(ld);
    check_ticket(ld);
    check_state_dir(ld);
    /* Believing a header from everyone would let any client choose its address. */
    if (cfg->proxy_protocol != PC_PP_OFF && cfg->ntrusted == 0)
        pc_cfg_error(ld, ld->proxy_seen[PK_PROXY_PROTOCOL],
                     "'proxy_protocol' needs 'trusted_proxies' (the balancers it comes from)");
    if (cfg->trust_forwarded_for && cfg->ntrusted == 0)
        pc_cfg_error(ld, ld->proxy_seen[PK_TRUST_XFF],
                     "'trust_forwarded_for' needs 'trusted_proxies' (the balancers it comes from)");
}

/* Adds the files of one `certificate = acme` key type: state_dir/acme/NAME.crt and .key, the
 * RSA pair as NAME-rsa.* (docs/certificates.md#acme). */
static void acme_files(struct pc_config *cfg, struct pc_cert *c, int type)
{
    const char *suffix = type == PC_ACME_RSA && cfg->acme.key_type == PC_ACME_BOTH ? "-rsa" : "";
    c->acme = type;
    c->cert = pc_cfg_printf("%s/acme/%s%s.crt", cfg->state_dir, cfg->acme.names[0], suffix);
    c->key = pc_cfg_printf("%s/acme/%s%s.key", cfg->state_dir, cfg->acme.names[0], suffix);
}

/* [acme] challenge (docs/certificates.md#acme): auto is HTTP-01 (RFC 8555 §8.3) when the
 * port-80 listener exists, else TLS-ALPN-01 (RFC 8737) on the HTTPS listener. Each needs its
 * listener; the CA connects to port 80, or 443, so another port must be forwarded to it. */
static void acme_challenge(struct pc_cfg_loader *ld)
{
    struct pc_config *cfg = ld->cfg;
    struct pc_acme_cfg *a = &cfg->acme;
    int line = ld->acme_seen[AK_CHALLENGE] ? ld->acme_seen[AK_CHALLENGE] : a->line;
    if (a->challenge == PC_ACME_CH_AUTO)
        a->challenge = cfg->http_port ? PC_ACME_CH_HTTP01 : PC_ACME_CH_TLSALPN01;
    bool http01 = a->challenge == PC_ACME_CH_HTTP01;
    int port = http01 ? cfg->http_port : cfg->https_port, want = http01 ? 80 : 443;
    if (port == 0)
        pc_cfg_error(ld, line,
                     http01 ? "'certificate = acme' with challenge = http-01 needs the port-80 "
                              "listener (http_port): the CA checks the HTTP-01 challenges "
                              "there (RFC 8555 §8.3)"
                            : "'certificate = acme' with challenge = tls-alpn-01 needs the "
                              "HTTPS listener (https_port): the CA checks the TLS-ALPN-01 "
                              "challenges there (RFC 8737 §3)");
    else if (port != want)
        pc_cfg_warn(ld, line,
                    "'certificate = acme' with %s = %d: the CA checks %s on port %d, so "
                    "something must forward port %d to it",
                    http01 ? "http_port" : "https_port", port, http01 ? "HTTP-01" : "TLS-ALPN-01",
                    want, want);
}

void pc_cfg_finish_acme(struct pc_cfg_loader *ld)
{
    struct pc_config *cfg = ld->cfg;
    struct pc_acme_cfg *a = &cfg->acme;
    if (ld->acme_line && !a->directory)
        pc_cfg_error(ld, ld->acme_line, "[acme] needs 'directory' (the ACME server's URL)");
    if (!a->line) {
        if (a->directory)
            pc_cfg_warn(ld, ld->acme_line,
                        "[acme] is set but no listener says 'certificate = acme': nothing is "
                        "ordered");
        return;
    }
    if (!a->directory) {
        pc_cfg_error(ld, a->line, "'certificate = acme' needs an [acme] section with 'directory'");
        return;
    }
    acme_challenge(ld);
    /* One order for every exact name (RFC 8555 §7.4); neither HTTP-01 nor TLS-ALPN-01 can
     * validate a wildcard (RFC 8555 §7.1.3, RFC 8737 §3: wildcards need DNS-01). */
    a->names = pc_cfg_calloc(cfg->nnames ? cfg->nnames : 1, sizeof *a->names);
    for (size_t i = 0; i < cfg->nnames; i++) {
        const struct pc_name *n = &cfg->names[i];
        if (n->wildcard)
            pc_cfg_warn(ld, n->line,
                        "'*%s' is left out of the ACME order: neither HTTP-01 nor "
                        "TLS-ALPN-01 can validate a wildcard (publish the exact names to have them "
                        "in the certificate)",
                        n->name);
        else
            a->names[a->nnames++] = pc_cfg_strdup(n->name);
    }
    if (a->nnames == 0) {
        pc_cfg_error(ld, a->line, "'certificate = acme': no exact published name to order");
        return;
    }
    size_t i = 0;
    while (i < cfg->ncerts && !cfg->certs[i].acme)
        i++;
    if (a->key_type == PC_ACME_BOTH) {
        PC_CFG_RESERVE(cfg->certs, cfg->ncerts, ld->cap_certs);
        cfg->certs[cfg->ncerts] = (struct pc_cert){.line = a->line};
        acme_files(cfg, &cfg->certs[cfg->ncerts++], PC_ACME_RSA);
        acme_files(cfg, &cfg->certs[i], PC_ACME_ECDSA);
    } else {
        acme_files(cfg, &cfg->certs[i], a->key_type);
    }
}
