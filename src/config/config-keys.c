/* config-keys.c — the configuration keys whose values need more than a number, a word or a
 * path (docs/configuration.md): addresses, certificates, servers, published names, the
 * sign-in store, the ACME directory... One function per key, called from config.c's tables. */
#include "config/config-int.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>
#include <unistd.h>

/* ---- [proxy] keys ----------------------------------------------------------------------- */

void pc_cfg_key_external(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                         const char *val)
{
    struct pc_config *cfg = obj;
    const char *item;
    size_t len;
    while ((item = pc_cfg_next_item(&val, &len))) {
        struct pc_addr a;
        if (!pc_cfg_parse_addr(item, len, false, &a)) {
            pc_cfg_error(ld, line, "bad address '%.*s' for '%s' (expected an IPv4 or IPv6 address)",
                         (int)len, item, k->name);
            continue;
        }
        bool dup = false;
        for (size_t i = 0; i < cfg->nexternal && !dup; i++)
            dup = pc_cfg_same_addr(&cfg->external[i], &a);
        if (dup) {
            pc_cfg_error(ld, line, "address '%.*s' listed twice in '%s'", (int)len, item, k->name);
            continue;
        }
        PC_CFG_RESERVE(cfg->external, cfg->nexternal, ld->cap_external);
        cfg->external[cfg->nexternal++] = a;
    }
}

void pc_cfg_key_internal(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                         const char *val)
{
    struct pc_config *cfg = obj;
    if (!pc_cfg_parse_addr(val, strlen(val), false, &cfg->internal)) {
        pc_cfg_error(ld, line, "bad address '%s' for '%s' (expected one IPv4 or IPv6 address)", val,
                     k->name);
        return;
    }
    cfg->has_internal = true;
}

void pc_cfg_key_certificate(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                            const char *val)
{
    struct pc_config *cfg = obj;
    if (strcmp(val, "acme") == 0) { /* resolved to its files by pc_cfg_finish_acme */
        if (cfg->acme.line) {
            pc_cfg_error(ld, line, "second 'certificate = acme' (the first is at line %d)",
                         cfg->acme.line);
            return;
        }
        cfg->acme.line = line;
        PC_CFG_RESERVE(cfg->certs, cfg->ncerts, ld->cap_certs);
        cfg->certs[cfg->ncerts++] = (struct pc_cert){.line = line, .acme = PC_ACME_ECDSA};
        return;
    }
    char *path = pc_cfg_abspath(ld->dir, val);
    pc_cfg_check_file(ld, line, k->name, path);
    PC_CFG_RESERVE(cfg->certs, cfg->ncerts, ld->cap_certs);
    cfg->certs[cfg->ncerts++] = (struct pc_cert){.cert = path, .key = NULL, .line = line};
}

void pc_cfg_key_key(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                    const char *val)
{
    struct pc_config *cfg = obj;
    if (cfg->ncerts == 0) {
        pc_cfg_error(ld, line, "'key' without a 'certificate' before it");
        return;
    }
    struct pc_cert *c = &cfg->certs[cfg->ncerts - 1];
    if (c->acme) {
        pc_cfg_error(ld, line, "'key' after 'certificate = acme' (its key is portico's own)");
        return;
    }
    if (c->key) {
        pc_cfg_error(ld, line, "second 'key' for the certificate of line %d", c->line);
        return;
    }
    c->key = pc_cfg_abspath(ld->dir, val);
    c->key_line = line;
    pc_cfg_check_file(ld, line, k->name, c->key);
}

void pc_cfg_key_workers(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                        const char *val)
{
    struct pc_config *cfg = obj;
    if (strcasecmp(val, "auto") == 0)
        cfg->workers = 0; /* resolved when loading ends */
    else if (!pc_cfg_parse_int(val, 1, 4096, &cfg->workers))
        pc_cfg_error(ld, line, "bad value '%s' for '%s' (expected auto or a number from 1 to 4096)",
                     val, k->name);
}

void pc_cfg_key_access_log(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                           const char *val)
{
    (void)k;
    (void)line;
    struct pc_config *cfg = obj;
    free(cfg->access_log);
    if (strcmp(val, "off") == 0)
        cfg->access_log = NULL;
    else if (strcmp(val, "stdout") == 0)
        cfg->access_log = pc_cfg_strdup("stdout");
    else
        cfg->access_log = pc_cfg_abspath(ld->dir, val);
}

/* docs/certificates.md: where the OCSP responses are cached. An absolute path (made so
 * against the file's directory); what is there is checked once the file is read. */
void pc_cfg_key_state_dir(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                          const char *val)
{
    (void)k;
    (void)line;
    struct pc_config *cfg = obj;
    free(cfg->state_dir);
    cfg->state_dir = pc_cfg_abspath(ld->dir, val);
}

void pc_cfg_key_admin(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                      const char *val)
{
    struct pc_config *cfg = obj;
    if (strcmp(val, "off") == 0) {
        cfg->has_admin = false;
        return;
    }
    /* "ADDRESS:PORT" or, to open it beyond loopback on purpose, "ADDRESS:PORT expose". */
    size_t alen = strcspn(val, " \t");
    const char *rest = val + alen + strspn(val + alen, " \t");
    bool expose = strcmp(rest, "expose") == 0;
    if (*rest && !expose) {
        pc_cfg_error(ld, line, "unexpected '%s' after the address of '%s' (only 'expose')", rest,
                     k->name);
        return;
    }
    if (!pc_cfg_parse_addr(val, alen, true, &cfg->admin)) {
        pc_cfg_error(ld, line,
                     "bad address '%.*s' for '%s' (expected off, ADDRESS:PORT or [IPv6]:PORT)",
                     (int)alen, val, k->name);
        return;
    }
    cfg->has_admin = true;
    if (!pc_cfg_is_loopback(&cfg->admin)) {
        if (!expose)
            pc_cfg_error(ld, line,
                         "admin listener on '%.*s' is not a loopback address: add 'expose' "
                         "after it to open metrics and status to that network",
                         (int)alen, val);
        else
            pc_cfg_warn(ld, line,
                        "admin listener on '%.*s', not a loopback address: metrics and status "
                        "are open to that network",
                        (int)alen, val);
    }
}

void pc_cfg_key_trusted_proxies(struct pc_cfg_loader *ld, void *obj, const struct keydef *k,
                                int line, const char *val)
{
    (void)k;
    pc_cfg_key_trusted(ld, obj, line, val);
}

/* Shared by [proxy] and pools: a cipher string that selects nothing fails at run time only,
 * so it is tried here on a scratch SSL_CTX. */
/* failure_delay: seconds (at most 10: a client waits that long for each failure), or 0 / off
 * for none. */
void pc_cfg_key_delay(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                      const char *val)
{
    double *out = (double *)((char *)obj + k->off);
    if (strcasecmp(val, "off") == 0 || strcmp(val, "0") == 0) {
        *out = 0;
        return;
    }
    double v;
    if (!pc_cfg_seconds(ld, line, k->name, val, &v))
        return;
    if (v > 10) {
        pc_cfg_error(ld, line, "'%s' of %s s is too long (at most 10 s, or off)", k->name, val);
        return;
    }
    *out = v;
}

void pc_cfg_key_ciphers(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                        const char *val)
{
    char **field = (char **)((char *)obj + k->off);
    free(*field);
    *field = pc_cfg_strdup(val);
    if (!ld->ssl && !(ld->ssl = SSL_CTX_new(TLS_method()))) {
        ERR_clear_error();
        return; /* cannot check: left to the TLS layer */
    }
    if (SSL_CTX_set_cipher_list(ld->ssl, val) != 1)
        pc_cfg_error(ld, line, "bad value '%s' for '%s' (OpenSSL selects no cipher from it)", val,
                     k->name);
    ERR_clear_error();
}

/* ---- pool keys -------------------------------------------------------------------------- */

void pc_cfg_key_servers(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                        const char *val)
{
    (void)obj;
    (void)k;
    struct pool_aux *aux = pc_cfg_cur_aux(ld);
    const char *item;
    size_t len;
    while ((item = pc_cfg_next_item(&val, &len))) {
        struct pc_cfg_server s;
        if (!pc_cfg_server(ld, line, item, len, &s))
            continue;
        PC_CFG_RESERVE(aux->servers, aux->nservers, aux->cap_servers);
        aux->servers[aux->nservers++] = s;
    }
}

void pc_cfg_key_publish(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                        const char *val)
{
    (void)k;
    struct pc_pool *pool = obj;
    size_t cap = 0;
    const char *item;
    size_t len;
    while ((item = pc_cfg_next_item(&val, &len))) {
        char *name = pc_cfg_publish_name(ld, line, item, len);
        if (!name)
            continue;
        PC_CFG_RESERVE(pool->publish, pool->npublish, cap);
        pool->publish[pool->npublish++] = name;
    }
}

/* store: off, or redis://ADDRESS:PORT (an address, not a name: the workers never resolve one
 * while serving). */
void pc_cfg_key_store(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                      const char *val)
{
    struct pc_config *cfg = obj;
    cfg->signin.has_store = false;
    if (strcmp(val, "off") == 0)
        return;
    const char *a = strncasecmp(val, "redis://", 8) == 0 ? val + 8 : NULL;
    size_t n = a ? strlen(a) : 0;
    if (n && a[n - 1] == '/')
        n--; /* redis://10.0.0.9:6379/ */
    if (!a || !pc_cfg_parse_addr(a, n, true, &cfg->signin.store)) {
        pc_cfg_error(ld, line,
                     "bad value '%s' for '%s' (expected off or redis://ADDRESS:PORT, such as "
                     "redis://10.0.0.9:6379 or redis://[2001:db8::9]:6379)",
                     val, k->name);
        return;
    }
    cfg->signin.has_store = true;
}

/* [acme] directory: an https:// URL (RFC 8555 §7.1.1); http:// only on loopback tests would
 * invite a downgrade, so it is refused. */
void pc_cfg_key_acme_url(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                         const char *val)
{
    struct pc_config *cfg = obj;
    if (strncasecmp(val, "https://", 8) != 0 || !val[8] || strpbrk(val, " \t\"<>")) {
        pc_cfg_error(ld, line,
                     "bad value '%s' for '%s' (expected the https:// URL of the ACME "
                     "directory, such as https://acme-v02.api.letsencrypt.org/directory)",
                     val, k->name);
        return;
    }
    free(cfg->acme.directory);
    cfg->acme.directory = pc_cfg_strdup(val);
}

/* [acme] contact: mailto:ADDRESS (RFC 8555 §7.3: the CA's notices about the account). */
void pc_cfg_key_contact(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                        const char *val)
{
    struct pc_config *cfg = obj;
    const char *at = strchr(val, '@');
    if (strncasecmp(val, "mailto:", 7) != 0 || !at || at == val + 7 || !at[1] ||
        strpbrk(val, " \t\"<>,")) {
        pc_cfg_error(ld, line, "bad value '%s' for '%s' (expected mailto:ADDRESS)", val, k->name);
        return;
    }
    free(cfg->acme.contact);
    cfg->acme.contact = pc_cfg_strdup(val);
}

/* [acme] key_type: ecdsa (P-256), rsa (2048 bits, for old clients) or both. */
void pc_cfg_key_key_type(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                         const char *val)
{
    static const char *const words[] = {"ecdsa", "rsa", "both", NULL};
    int i;
    if (pc_cfg_word(ld, line, k->name, val, words, &i))
        ((struct pc_config *)obj)->acme.key_type = i + 1; /* PC_ACME_ECDSA, _RSA, _BOTH */
}

/* [acme] renew_before: seconds, or days with a "d" (30d), before notAfter, up to ten years;
 * "auto": at two thirds of the lifetime. */
void pc_cfg_key_renew(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                      const char *val)
{
    struct pc_config *cfg = obj;
    if (strcasecmp(val, "auto") == 0) {
        cfg->acme.renew_before = 0;
        return;
    }
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (end != val && (*end == 'd' || *end == 'D'))
        v *= 86400, end++;
    if (errno || end == val || *end || !(v >= 1 && v <= 3650 * 86400.0)) {
        pc_cfg_error(ld, line,
                     "bad value '%s' for '%s' (expected auto, seconds or days such as 30d, "
                     "up to 3650d)",
                     val, k->name);
        return;
    }
    cfg->acme.renew_before = v;
}

/* deny_paths: path prefixes, each starting with '/', matched case-insensitively on the
 * normalised path (proxy/policy.c); a prefix with '%', '?', '#', a dot segment or '//' could
 * never match a normalised path, so it is an error. */
void pc_cfg_key_deny_paths(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                           const char *val)
{
    struct pc_pool *pool = obj;
    size_t cap = 0;
    const char *item;
    size_t len;
    while ((item = pc_cfg_next_item(&val, &len))) {
        char *p = pc_cfg_strndup(item, len);
        bool ok = p[0] == '/' && !strpbrk(p, "%?#\\") && !strstr(p, "//") && !strstr(p, "/./") &&
                  !strstr(p, "/../") && strcmp(p + len - (len >= 2 ? 2 : len), "/.") != 0 &&
                  strcmp(p + len - (len >= 3 ? 3 : len), "/..") != 0;
        if (!ok) {
            pc_cfg_error(ld, line,
                         "bad path '%s' for '%s' (expected a path such as /persistentchat/rm/: "
                         "it starts with '/' and has no %%, ?, #, \\, // or dot segment)",
                         p, k->name);
            free(p);
            continue;
        }
        for (char *c = p; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        PC_CFG_RESERVE(pool->deny_paths, pool->ndeny_paths, cap);
        pool->deny_paths[pool->ndeny_paths++] = p;
    }
}

void pc_cfg_key_verify(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                       const char *val)
{
    struct pc_pool *pool = obj;
    if (pc_cfg_onoff(ld, line, k->name, val, &pool->verify) && !pool->verify)
        pc_cfg_warn(ld, line,
                    "verify = off in pool '%s': its certificates are not checked, so anyone on "
                    "the path to it can read and change the traffic",
                    pool->name);
}

void pc_cfg_key_verify_name(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                            const char *val)
{
    struct pc_pool *pool = obj;
    if (!pc_cfg_valid_hostname(val, strlen(val))) {
        pc_cfg_error(ld, line, "bad value '%s' for '%s' (expected a host name)", val, k->name);
        return;
    }
    free(pool->verify_name);
    pool->verify_name = pc_cfg_strdup(val);
}
