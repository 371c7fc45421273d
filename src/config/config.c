/* config.c — loading the configuration (docs/configuration.md): sections, keys, the checks that
 * span several keys, and freeing. Single values are parsed in config-value.c, routing lives in
 * route.c.
 *
 * The checks across keys, once the file is read, are in config-check.c.
 *
 * Loading never stops at the first problem: `portico -t` must show every error of a file at
 * once, each as "FILE:LINE: message", sorted by line. */
#include "config/config-int.h"
#include "config/ini.h"

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

_Static_assert(sizeof(enum pc_role) == sizeof(int) && sizeof(enum pc_http_mode) == sizeof(int) &&
                   sizeof(enum pc_affinity) == sizeof(int) &&
                   sizeof(enum pc_log_format) == sizeof(int),
               "enum fields are written through int pointers");

/* ---- key tables ------------------------------------------------------------------------- */

static const char *const w_off[] = {"off", NULL};
static const char *const w_off_none[] = {"off", "none", NULL};
static const char *const w_log_format[] = {"combined", "json", "w3c", NULL};
static const char *const w_role[] = {"frontend", "director", "owa", "generic", NULL};
static const char *const w_http[] = {"auto", "forward", "redirect", "off", NULL};
static const char *const w_affinity[] = {"none", "source", "cookie", NULL};
static const char *const w_proxy_protocol[] = {"off", "http", "https", "on", NULL};
static const char *const w_account_key[] = {"user", "domain", NULL};
static const char *const w_onoff[] = {"off", "on", NULL};
/* In the order of enum pc_acme_challenge (config-t.h). */
static const char *const w_challenge[] = {"auto", "http-01", "tls-alpn-01", NULL};

#define C(f) offsetof(struct pc_config, f)
#define P(f) offsetof(struct pc_pool, f)
#define S(f) offsetof(struct pc_config, signin.f)
#define A(f) offsetof(struct pc_config, acme.f)

static const struct keydef proxy_keys[] = {
    {"external", K_FN, 0, 0, 0, NULL, pc_cfg_key_external, false},
    {"internal", K_FN, 0, 0, 0, NULL, pc_cfg_key_internal, false},
    {"https_port", K_PORT_OFF, C(https_port), 1, 65535, w_off, NULL, false},
    {"http_port", K_PORT_OFF, C(http_port), 1, 65535, w_off, NULL, false},
    {"certificate", K_FN, 0, 0, 0, NULL, pc_cfg_key_certificate, true},
    {"key", K_FN, 0, 0, 0, NULL, pc_cfg_key_key, true},
    {"tls_min", K_TLS, C(tls_min), 0, 0, NULL, NULL, false},
    {"ciphers", K_FN, C(ciphers), 0, 0, NULL, pc_cfg_key_ciphers, false},
    {"ticket_key_file", K_FILE, C(ticket_key_file), 0, 0, NULL, NULL, false},
    {"workers", K_FN, 0, 0, 0, NULL, pc_cfg_key_workers, false},
    {"user", K_STR, C(user), 0, 0, NULL, NULL, false},
    {"max_connections", K_INT, C(max_connections), 1, 10000000, NULL, NULL, false},
    {"max_connections_per_client", K_INT, C(max_connections_per_client), 0, 10000000, NULL, NULL,
     false},
    {"max_pinned_per_client", K_INT, C(max_pinned_per_client), 1, 1024, NULL, NULL, false},
    {"access_log", K_FN, 0, 0, 0, NULL, pc_cfg_key_access_log, false},
    {"access_log_format", K_WORD, C(access_log_format), 0, 0, w_log_format, NULL, false},
    {"admin", K_FN, 0, 0, 0, NULL, pc_cfg_key_admin, false},
    {"timeout_connect", K_SECONDS, C(timeout_connect), 0, 0, NULL, NULL, false},
    {"timeout_handshake", K_SECONDS, C(timeout_handshake), 0, 0, NULL, NULL, false},
    {"timeout_header", K_SECONDS, C(timeout_header), 0, 0, NULL, NULL, false},
    {"timeout_keepalive", K_SECONDS, C(timeout_keepalive), 0, 0, NULL, NULL, false},
    {"timeout_idle", K_SECONDS, C(timeout_idle), 0, 0, NULL, NULL, false},
    {"drain_timeout", K_SECONDS, C(drain_timeout), 0, 0, NULL, NULL, false},
    {"trusted_proxies", K_FN, 0, 0, 0, NULL, pc_cfg_key_trusted_proxies, false},
    {"proxy_protocol", K_WORD, C(proxy_protocol), 0, 0, w_proxy_protocol, NULL, false},
    {"trust_forwarded_for", K_ONOFF, C(trust_forwarded_for), 0, 0, NULL, NULL, false},
    {"certificate_watch", K_ONOFF, C(certificate_watch), 0, 0, NULL, NULL, false},
    {"ocsp_stapling", K_ONOFF, C(ocsp_stapling), 0, 0, NULL, NULL, false},
    {"state_dir", K_FN, 0, 0, 0, NULL, pc_cfg_key_state_dir, false},
    {"http2", K_ONOFF, C(http2), 0, 0, NULL, NULL, false},
    {"tls_handover", K_ONOFF, C(tls_handover), 0, 0, NULL, NULL, false},
};

_Static_assert(NPROXYKEYS == sizeof proxy_keys / sizeof proxy_keys[0], "NPROXYKEYS");

/* [signin] (docs/signin.md). The ranges are the table's (proxy/signin.h). */
static const struct keydef signin_keys[] = {
    {"defence", K_ONOFF, S(on), 0, 0, NULL, NULL, false},
    {"lockout_threshold", K_INT, S(threshold), 1, 16, NULL, NULL, false},
    {"lockout_window", K_SECONDS, S(window), 0, 0, NULL, NULL, false},
    {"lockout_duration", K_SECONDS, S(duration), 0, 0, NULL, NULL, false},
    {"familiar_sources", K_SECONDS, S(familiar), 0, 0, NULL, NULL, false},
    {"spray_accounts", K_INT, S(spray_accounts), 1, 32, NULL, NULL, false},
    {"spray_window", K_SECONDS, S(spray_window), 0, 0, NULL, NULL, false},
    {"spray_duration", K_SECONDS, S(spray_duration), 0, 0, NULL, NULL, false},
    {"failure_delay", K_FN, S(failure_delay), 0, 0, NULL, pc_cfg_key_delay, false},
    {"account_key", K_WORD, S(account_key), 0, 0, w_account_key, NULL, false},
    {"max_accounts", K_INT, S(max_accounts), 16, 1 << 22, NULL, NULL, false},
    {"max_sources", K_INT, S(max_sources), 16, 1 << 22, NULL, NULL, false},
    {"store", K_FN, 0, 0, 0, NULL, pc_cfg_key_store, false},
};

_Static_assert(NSIGNINKEYS == sizeof signin_keys / sizeof signin_keys[0], "NSIGNINKEYS");

/* [acme] (docs/certificates.md#acme, RFC 8555). */
static const struct keydef acme_keys[] = {
    {"directory", K_FN, A(directory), 0, 0, NULL, pc_cfg_key_acme_url, false},
    {"contact", K_FN, 0, 0, 0, NULL, pc_cfg_key_contact, false},
    {"ca", K_FILE, A(ca), 0, 0, NULL, NULL, false},
    {"key_type", K_FN, 0, 0, 0, NULL, pc_cfg_key_key_type, false},
    {"renew_before", K_FN, 0, 0, 0, NULL, pc_cfg_key_renew, false},
    {"challenge", K_WORD, A(challenge), 0, 0, w_challenge, NULL, false},
};

_Static_assert(NACMEKEYS == sizeof acme_keys / sizeof acme_keys[0], "NACMEKEYS");

static const struct keydef pool_keys[] = {
    {"role", K_WORD, P(role), 0, 0, w_role, NULL, false},
    {"servers", K_FN, 0, 0, 0, NULL, pc_cfg_key_servers, false},
    {"publish", K_FN, 0, 0, 0, NULL, pc_cfg_key_publish, false},
    {"https_port", K_INT, P(https_port), 1, 65535, NULL, NULL, false},
    {"http_port", K_PORT_OFF, P(http_port), 1, 65535, w_off_none, NULL, false},
    {"http", K_WORD, P(http), 0, 0, w_http, NULL, false},
    {"ca", K_FILE, P(ca), 0, 0, NULL, NULL, false},
    {"verify_name", K_FN, 0, 0, 0, NULL, pc_cfg_key_verify_name, false},
    {"verify", K_FN, 0, 0, 0, NULL, pc_cfg_key_verify, false},
    {"tls_min", K_TLS, P(tls_min), 0, 0, NULL, NULL, false},
    {"ciphers", K_FN, P(ciphers), 0, 0, NULL, pc_cfg_key_ciphers, false},
    {"affinity", K_WORD, P(affinity), 0, 0, w_affinity, NULL, false},
    {"health_interval", K_SECONDS, P(health_interval), 0, 0, NULL, NULL, false},
    {"health_rise", K_INT, P(health_rise), 1, 1000, NULL, NULL, false},
    {"health_fall", K_INT, P(health_fall), 1, 1000, NULL, NULL, false},
    {"deny_paths", K_FN, 0, 0, 0, NULL, pc_cfg_key_deny_paths, false},
    {"meeturl_check", K_WORD, P(meeturl_check), 0, 0, w_onoff, NULL, false},
};

_Static_assert(NPOOLKEYS == sizeof pool_keys / sizeof pool_keys[0], "NPOOLKEYS");

#undef C
#undef P
#undef A

static bool keys_in_step(void)
{
    return strcmp(proxy_keys[PK_TICKET].name, "ticket_key_file") == 0 &&
           strcmp(proxy_keys[PK_USER].name, "user") == 0 &&
           strcmp(proxy_keys[PK_PROXY_PROTOCOL].name, "proxy_protocol") == 0 &&
           strcmp(proxy_keys[PK_TRUST_XFF].name, "trust_forwarded_for") == 0 &&
           strcmp(proxy_keys[PK_STATE_DIR].name, "state_dir") == 0 &&
           strcmp(pool_keys[QK_SERVERS].name, "servers") == 0 &&
           strcmp(pool_keys[QK_PUBLISH].name, "publish") == 0 &&
           strcmp(pool_keys[QK_HTTPS_PORT].name, "https_port") == 0 &&
           strcmp(pool_keys[QK_HTTP_PORT].name, "http_port") == 0 &&
           strcmp(pool_keys[QK_HTTP].name, "http") == 0 &&
           strcmp(pool_keys[QK_CA].name, "ca") == 0 &&
           strcmp(acme_keys[AK_CHALLENGE].name, "challenge") == 0;
}

/* ---- loading state ---------------------------------------------------------------------- */

/* ---- sections --------------------------------------------------------------------------- */

static void role_ports(enum pc_role role, int *https, int *http)
{
    bool lync = role == PC_ROLE_FRONTEND || role == PC_ROLE_DIRECTOR;
    *https = lync ? 4443 : 443;
    *http = lync ? 8080 : 0;
}

/* Member id: FNV-1a of host, address and port, the same in every process and every reload. */
static uint32_t member_id(const struct pc_member *m)
{
    char addr[64], port[16];
    pc_net_addr_text(&m->addr, addr, sizeof addr);
    snprintf(port, sizeof port, "%d", m->https_port);
    uint32_t h = pc_fnv1a(PC_FNV_INIT, m->host, strlen(m->host) + 1);
    h = pc_fnv1a(h, addr, strlen(addr) + 1);
    return pc_fnv1a(h, port, strlen(port));
}

static void finish_pool(struct pc_cfg_loader *ld)
{
    struct pc_pool *pool = pc_cfg_cur_pool(ld);
    struct pool_aux *aux = pc_cfg_cur_aux(ld);
    int https, http;
    role_ports(pool->role, &https, &http);
    if (!aux->seen[QK_HTTPS_PORT])
        pool->https_port = https;
    if (!aux->seen[QK_HTTP_PORT])
        pool->http_port = http;
    if (pool->meeturl_check < 0) /* Lync Web App lives on Front End (and Director) pools */
        pool->meeturl_check = pool->role == PC_ROLE_FRONTEND || pool->role == PC_ROLE_DIRECTOR;
    if (pool->http == PC_HTTP_FORWARD && pool->http_port == 0)
        pc_cfg_error(ld, aux->seen[QK_HTTP],
                     "http = forward in pool '%s', which has no http_port to forward to",
                     pool->name);
    if (!aux->duplicate && !aux->seen[QK_SERVERS])
        pc_cfg_error(ld, pool->line, "pool '%s' has no servers", pool->name);
    if (!aux->duplicate && !aux->seen[QK_PUBLISH])
        pc_cfg_error(ld, pool->line, "pool '%s' publishes no names", pool->name);

    size_t cap = 0;
    for (size_t i = 0; i < aux->nservers; i++) {
        struct pc_cfg_server *s = &aux->servers[i];
        int port = s->port ? s->port : pool->https_port;
        for (size_t j = 0; j < s->naddrs; j++) {
            struct pc_member m = {.addr = s->addrs[j],
                                  .https_port = port,
                                  .http_port = pool->http_port,
                                  .line = aux->seen[QK_SERVERS]};
            struct pc_member *dup = NULL;
            for (size_t q = 0; q < pool->nmembers && !dup; q++)
                if (pool->members[q].https_port == port &&
                    pc_cfg_same_addr(&pool->members[q].addr, &m.addr))
                    dup = &pool->members[q];
            if (dup) {
                char a[64];
                pc_net_addr_text(&m.addr, a, sizeof a);
                pc_cfg_warn(ld, m.line,
                            "server '%s' is %s port %d, already a member as '%s'; counted once",
                            s->host, a, port, dup->host);
                continue;
            }
            m.host = pc_cfg_strdup(s->host);
            m.id = member_id(&m);
            PC_CFG_RESERVE(pool->members, pool->nmembers, cap);
            pool->members[pool->nmembers++] = m;
        }
        pc_cfg_server_free(s);
    }
    free(aux->servers);
    aux->servers = NULL;
    aux->nservers = aux->cap_servers = 0;
}

static void finish_section(struct pc_cfg_loader *ld)
{
    if (ld->sec == SEC_POOL)
        finish_pool(ld);
    ld->sec = SEC_NONE;
}

static void start_pool(struct pc_cfg_loader *ld, int line, const char *name)
{
    struct pc_config *cfg = ld->cfg;
    bool duplicate = false;
    for (size_t i = 0; i < cfg->npools && !duplicate; i++) {
        if (strcmp(cfg->pools[i].name, name) == 0) {
            pc_cfg_error(ld, line, "second [pool %s] (the first is at line %d)", name,
                         cfg->pools[i].line);
            duplicate = true;
        }
    }
    size_t cap = ld->cap_pools;
    PC_CFG_RESERVE(cfg->pools, cfg->npools, ld->cap_pools);
    if (cap != ld->cap_pools)
        ld->aux = pc_cfg_reallocarray(ld->aux, ld->cap_pools, sizeof *ld->aux);
    cfg->pools[cfg->npools] = (struct pc_pool){
        .name = pc_cfg_strdup(name),
        .line = line,
        .role = PC_ROLE_FRONTEND,
        .http = PC_HTTP_AUTO,
        .verify = true,
        .tls_min = TLS1_2_VERSION,
        .affinity = PC_AFFINITY_NONE,
        .health_interval = 5,
        .health_rise = 2,
        .health_fall = 3,
        .meeturl_check = -1,
    };
    ld->aux[cfg->npools] = (struct pool_aux){.duplicate = duplicate};
    cfg->npools++;
    ld->sec = SEC_POOL;
}

static void on_section(void *user, int line, const char *type, const char *name)
{
    struct pc_cfg_loader *ld = user;
    finish_section(ld);
    if (strcasecmp(type, "proxy") == 0) {
        if (name) {
            pc_cfg_error(ld, line, "[proxy] takes no name");
            ld->sec = SEC_SKIP;
        } else {
            ld->sec = SEC_PROXY;
        }
    } else if (strcasecmp(type, "signin") == 0) {
        if (name) {
            pc_cfg_error(ld, line, "[signin] takes no name");
            ld->sec = SEC_SKIP;
        } else if (ld->signin_line) {
            pc_cfg_error(ld, line, "second [signin] (the first is at line %d)", ld->signin_line);
            ld->sec = SEC_SKIP;
        } else {
            ld->signin_line = line;
            ld->sec = SEC_SIGNIN;
        }
    } else if (strcasecmp(type, "acme") == 0) {
        if (name) {
            pc_cfg_error(ld, line, "[acme] takes no name");
            ld->sec = SEC_SKIP;
        } else if (ld->acme_line) {
            pc_cfg_error(ld, line, "second [acme] (the first is at line %d)", ld->acme_line);
            ld->sec = SEC_SKIP;
        } else {
            ld->acme_line = line;
            ld->sec = SEC_ACME;
        }
    } else if (strcasecmp(type, "pool") == 0) {
        if (!name) {
            pc_cfg_error(ld, line, "[pool] needs a name: [pool NAME]");
            ld->sec = SEC_SKIP;
        } else {
            start_pool(ld, line, name);
        }
    } else {
        pc_cfg_error(ld, line,
                     "unknown section [%s%s%s] (expected [proxy], [signin], [acme] or [pool NAME])",
                     type, name ? " " : "", name ? name : "");
        ld->sec = SEC_SKIP; /* its keys would only repeat the same mistake */
    }
}

static void set_value(struct pc_cfg_loader *ld, void *obj, const struct keydef *k, int line,
                      const char *val)
{
    void *field = (char *)obj + k->off;
    switch (k->type) {
    case K_SECONDS:
        pc_cfg_seconds(ld, line, k->name, val, field);
        break;
    case K_INT:
        pc_cfg_int(ld, line, k->name, val, k->min, k->max, field);
        break;
    case K_PORT_OFF:
        for (int i = 0; k->words[i]; i++) {
            if (strcasecmp(val, k->words[i]) == 0) {
                *(int *)field = 0;
                return;
            }
        }
        if (!pc_cfg_parse_int(val, k->min, k->max, field))
            pc_cfg_error(ld, line, "bad value '%s' for '%s' (expected a port from %d to %d or %s)",
                         val, k->name, k->min, k->max, k->words[1] ? "off | none" : "off");
        break;
    case K_WORD:
        pc_cfg_word(ld, line, k->name, val, k->words, field);
        break;
    case K_ONOFF:
        pc_cfg_onoff(ld, line, k->name, val, field);
        break;
    case K_TLS:
        pc_cfg_tls_version(ld, line, k->name, val, field);
        break;
    case K_STR:
        free(*(char **)field);
        *(char **)field = pc_cfg_strdup(val);
        break;
    case K_FILE:
        free(*(char **)field);
        *(char **)field = pc_cfg_abspath(ld->dir, val);
        pc_cfg_check_file(ld, line, k->name, *(char **)field);
        break;
    case K_FN:
        k->fn(ld, obj, k, line, val);
        break;
    }
}

static void on_pair(void *user, int line, const char *key, const char *val)
{
    struct pc_cfg_loader *ld = user;
    const struct keydef *table;
    size_t n;
    int *seen;
    void *obj;
    switch (ld->sec) {
    case SEC_NONE:
        pc_cfg_error(ld, line, "key '%s' outside a section", key);
        return;
    case SEC_SKIP:
        return;
    case SEC_PROXY:
        table = proxy_keys, n = NPROXYKEYS, seen = ld->proxy_seen, obj = ld->cfg;
        break;
    case SEC_SIGNIN:
        table = signin_keys, n = NSIGNINKEYS, seen = ld->signin_seen, obj = ld->cfg;
        break;
    case SEC_ACME:
        table = acme_keys, n = NACMEKEYS, seen = ld->acme_seen, obj = ld->cfg;
        break;
    case SEC_POOL:
    default:
        table = pool_keys, n = NPOOLKEYS, seen = pc_cfg_cur_aux(ld)->seen,
        obj = pc_cfg_cur_pool(ld);
        break;
    }
    size_t i = 0;
    while (i < n && strcasecmp(table[i].name, key) != 0)
        i++;
    if (i == n) {
        if (ld->sec != SEC_POOL)
            pc_cfg_error(ld, line, "unknown key '%s' in [%s]", key,
                         ld->sec == SEC_PROXY    ? "proxy"
                         : ld->sec == SEC_SIGNIN ? "signin"
                                                 : "acme");
        else
            pc_cfg_error(ld, line, "unknown key '%s' in [pool %s]", key, pc_cfg_cur_pool(ld)->name);
        return;
    }
    const struct keydef *k = &table[i];
    if (seen[i] && !k->repeat) {
        pc_cfg_error(ld, line, "'%s' given twice in the same section (first at line %d)", k->name,
                     seen[i]);
        return;
    }
    seen[i] = line;
    if (!*val) {
        pc_cfg_error(ld, line, "missing value for '%s'", k->name);
        return;
    }
    set_value(ld, obj, k, line, val);
}

static void on_syntax_error(void *user, int line, const char *msg)
{
    pc_cfg_error(user, line, "%s", msg);
}

/* ---- checks once the whole file is read ------------------------------------------------- */

/* ---- public API ------------------------------------------------------------------------- */

struct pc_config *pc_config_load(const char *path, struct pc_diag *diag)
{
    if (!keys_in_step()) {
        fputs("portico: config.c: key indices out of step with the key tables\n", stderr);
        abort();
    }
    struct pc_config *cfg = pc_cfg_calloc(1, sizeof *cfg);
    *cfg = (struct pc_config){
        .path = pc_cfg_strdup(path),
        .https_port = 443,
        .http_port = 80,
        .tls_min = TLS1_2_VERSION,
        .workers = 0,
        .max_connections = 20000,
        .max_pinned_per_client = 8,
        .certificate_watch = true,
        .ocsp_stapling = true,
        .http2 = true,        /* docs/http2.md */
        .tls_handover = true, /* docs/configuration.md, "Waiting connections" */
        .state_dir = pc_cfg_strdup(PC_STATE_DIR),
        .access_log = pc_cfg_strdup("stdout"),
        .access_log_format = PC_LOG_COMBINED,
        .timeout_connect = 5,
        .timeout_handshake = 10,
        .timeout_header = 30,
        .timeout_keepalive = 120,
        .timeout_idle = 1860,
        .drain_timeout = 30,
        /* docs/signin.md: below Active Directory's usual lockout threshold (5 to 10), so that
         * portico stops an attack before AD locks the account. */
        .signin = {.on = true,
                   .threshold = 4,
                   .window = 900,
                   .duration = 900,
                   .familiar = 14 * 86400,
                   .spray_accounts = 10,
                   .spray_window = 600,
                   .spray_duration = 3600,
                   .failure_delay = 1.5,
                   .account_key = PC_SIGNIN_KEY_USER,
                   .max_accounts = 32768,
                   .max_sources = 32768},
        .acme = {.key_type = PC_ACME_ECDSA},
    };
    struct pc_cfg_loader ld = {.cfg = cfg};
    static const struct pc_ini_handlers handlers = {on_section, on_pair, on_syntax_error};

    FILE *f = fopen(path, "re");
    if (!f) {
        pc_cfg_error(&ld, 0, "cannot open: %s", strerror(errno));
    } else {
        ld.dir = pc_cfg_config_dir(path);
        if (pc_ini_parse(f, &handlers, &ld) < 0)
            pc_cfg_error(&ld, 0, "cannot read: %s", strerror(errno));
        if (fclose(f) != 0)
            pc_cfg_error(&ld, 0, "cannot read: %s", strerror(errno));
        finish_section(&ld);
        pc_cfg_finish_proxy(&ld);
        pc_cfg_build_names(&ld);
        pc_cfg_finish_acme(&ld);
    }

    free(ld.aux);
    free(ld.dir);
    SSL_CTX_free(ld.ssl);
    if (pc_cfg_msgs_flush(&ld.msgs, path, diag) > 0) {
        pc_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void pc_config_free(struct pc_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->npools; i++) {
        struct pc_pool *p = &cfg->pools[i];
        for (size_t j = 0; j < p->nmembers; j++)
            free(p->members[j].host);
        free(p->members);
        for (size_t j = 0; j < p->npublish; j++)
            free(p->publish[j]);
        free(p->publish);
        for (size_t j = 0; j < p->ndeny_paths; j++)
            free(p->deny_paths[j]);
        free(p->deny_paths);
        free(p->name);
        free(p->ca);
        free(p->verify_name);
        free(p->ciphers);
    }
    free(cfg->pools);
    for (size_t i = 0; i < cfg->nnames; i++)
        free(cfg->names[i].name);
    free(cfg->names);
    pc_route_index_free(cfg->route_index);
    for (size_t i = 0; i < cfg->ncerts; i++) {
        free(cfg->certs[i].cert);
        free(cfg->certs[i].key);
    }
    free(cfg->certs);
    for (size_t i = 0; i < cfg->acme.nnames; i++)
        free(cfg->acme.names[i]);
    free(cfg->acme.names);
    free(cfg->acme.directory);
    free(cfg->acme.contact);
    free(cfg->acme.ca);
    free(cfg->external);
    free(cfg->trusted);
    free(cfg->ciphers);
    free(cfg->ticket_key_file);
    free(cfg->state_dir);
    free(cfg->user);
    free(cfg->access_log);
    free(cfg->path);
    free(cfg);
}

const char *pc_role_str(enum pc_role role)
{
    return (unsigned)role < 4 ? w_role[role] : "?";
}

const char *pc_http_mode_str(enum pc_http_mode mode)
{
    return (unsigned)mode < 4 ? w_http[mode] : "?";
}
