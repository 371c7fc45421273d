/* test_config.c — loading and checking the configuration (SPEC §3). Run from the repository
 * root: fixtures are read from tests/unit/conf/, scratch files go to a fresh /tmp directory. */
#include "config/config.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIXTURES "tests/unit/conf"

static char tmpdir[64];
static char cwd[PATH_MAX];

/* A valid pool, for cases whose error is elsewhere. */
#define POOL "[pool p]\nservers = 127.0.0.1\npublish = p.example.com\n"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

/* Writes TEXT to NAME in the scratch directory; returns the path (static buffer). */
static const char *scratch(const char *name, const char *text)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    write_file(path, text);
    return path;
}

static struct pc_config *load_text(const char *text, struct pc_diag *d, char *path_out)
{
    const char *path = scratch("t.conf", text);
    if (path_out)
        strcpy(path_out, path);
    *d = (struct pc_diag){0};
    return pc_config_load(path, d);
}

static const char *addr_str(const struct pc_addr *a, char *buf)
{
    if (a->ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, buf, 64);
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, buf, 64);
    return buf;
}

static int addr_port(const struct pc_addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

static const struct pc_pool *find_pool(const struct pc_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && i < cfg->npools; i++)
        if (strcmp(cfg->pools[i].name, name) == 0)
            return &cfg->pools[i];
    return NULL;
}

static const struct pc_name *find_name(const struct pc_config *cfg, const char *name)
{
    for (size_t i = 0; cfg && i < cfg->nnames; i++)
        if (strcmp(cfg->names[i].name, name) == 0)
            return &cfg->names[i];
    return NULL;
}

static void test_full(void)
{
    struct pc_diag d = {0};
    const char *path = FIXTURES "/full.conf";
    struct pc_config *cfg = pc_config_load(path, &d);
    CHECK(cfg != NULL);
    CHECK_INT(d.nerrors, 0);
    CHECK_INT(d.nwarnings, 0);
    if (d.text)
        fprintf(stderr, "%s", d.text);
    pc_diag_free(&d);
    if (!cfg)
        return;
    char buf[64], abs[PATH_MAX + 64];
    CHECK_STR(cfg->path, path);
    CHECK_INT(cfg->nexternal, 2);
    CHECK_STR(addr_str(&cfg->external[0], buf), "127.0.0.1");
    CHECK_STR(addr_str(&cfg->external[1], buf), "::1");
    CHECK_INT(addr_port(&cfg->external[0]), 0);
    CHECK(cfg->has_internal);
    CHECK_STR(addr_str(&cfg->internal, buf), "127.0.0.5");
    CHECK_INT(cfg->https_port, 8443);
    CHECK_INT(cfg->http_port, 8080);
    CHECK_INT(cfg->ncerts, 2);
    snprintf(abs, sizeof abs, "%s/" FIXTURES "/public.pem", cwd);
    CHECK_STR(cfg->certs[0].cert, abs);
    snprintf(abs, sizeof abs, "%s/" FIXTURES "/public.key", cwd);
    CHECK_STR(cfg->certs[0].key, abs);
    CHECK_INT(cfg->certs[0].line, 9);
    CHECK_INT(cfg->certs[0].key_line, 10);
    CHECK_INT(cfg->certs[1].line, 11);
    CHECK_INT(cfg->certs[1].key_line, 12);
    snprintf(abs, sizeof abs, "%s/" FIXTURES "/ecdsa.pem", cwd);
    CHECK_STR(cfg->certs[1].cert, abs);
    snprintf(abs, sizeof abs, "%s/" FIXTURES "/ecdsa.key", cwd);
    CHECK_STR(cfg->certs[1].key, abs);
    CHECK_INT(cfg->tls_min, TLS1_VERSION);
    CHECK_STR(cfg->ciphers, "HIGH:!aNULL:!MD5");
    snprintf(abs, sizeof abs, "%s/" FIXTURES "/tickets.key", cwd);
    CHECK_STR(cfg->ticket_key_file, abs);
    CHECK_INT(cfg->workers, 3);
    CHECK(cfg->user == NULL);
    CHECK_INT(cfg->max_connections, 5000);
    snprintf(abs, sizeof abs, "%s/" FIXTURES "/logs/access.log", cwd);
    CHECK_STR(cfg->access_log, abs);
    CHECK_INT(cfg->access_log_format, PC_LOG_W3C);
    CHECK(cfg->has_admin);
    CHECK_STR(addr_str(&cfg->admin, buf), "::1");
    CHECK_INT(addr_port(&cfg->admin), 9090);
    CHECK_DBL(cfg->timeout_connect, 4);
    CHECK_DBL(cfg->timeout_handshake, 9);
    CHECK_DBL(cfg->timeout_header, 29);
    CHECK_DBL(cfg->timeout_keepalive, 119);
    CHECK_DBL(cfg->timeout_idle, 1900);
    CHECK_DBL(cfg->drain_timeout, 0.5);
    CHECK_INT(cfg->npools, 2);

    const struct pc_pool *lync = find_pool(cfg, "lync");
    CHECK(lync != NULL);
    if (lync) {
        CHECK_INT(lync->line, 28);
        CHECK_INT(lync->role, PC_ROLE_FRONTEND);
        CHECK_INT(lync->https_port, 4443);
        CHECK_INT(lync->http_port, 8080);
        CHECK_INT(lync->http, PC_HTTP_AUTO);
        snprintf(abs, sizeof abs, "%s/" FIXTURES "/internal-ca.pem", cwd);
        CHECK_STR(lync->ca, abs);
        CHECK_STR(lync->verify_name, "pool.contoso.local");
        CHECK(lync->verify);
        CHECK_INT(lync->tls_min, TLS1_2_VERSION);
        CHECK_STR(lync->ciphers, "ECDHE+AESGCM");
        CHECK_INT(lync->affinity, PC_AFFINITY_COOKIE);
        CHECK_DBL(lync->health_interval, 2.5);
        CHECK_INT(lync->health_rise, 3);
        CHECK_INT(lync->health_fall, 4);
        CHECK_INT(lync->npublish, 4);
        CHECK_STR(lync->publish[3], "lyncdiscover.contoso.com");
        /* localhost (its every address), 10.0.1.12, localhost:5443 */
        CHECK(lync->nmembers >= 3);
        size_t nlocal = 0;
        for (size_t i = 0; i < lync->nmembers; i++) {
            const struct pc_member *m = &lync->members[i];
            CHECK_INT(m->line, 30);
            CHECK_INT(m->http_port, 8080);
            CHECK_INT(addr_port(&m->addr), 0);
            if (strcmp(m->host, "localhost") == 0)
                nlocal++;
            if (strcmp(m->host, "10.0.1.12") == 0) {
                CHECK_STR(addr_str(&m->addr, buf), "10.0.1.12");
                CHECK_INT(m->https_port, 4443);
            }
        }
        CHECK_INT(nlocal, lync->nmembers - 1);
        CHECK_STR(lync->members[0].host, "localhost");
        CHECK_INT(lync->members[0].https_port, 4443);
        CHECK_STR(lync->members[lync->nmembers - 1].host, "localhost");
        CHECK_INT(lync->members[lync->nmembers - 1].https_port, 5443);
        /* ids differ between members (host, address and port all enter the hash) */
        for (size_t i = 0; i < lync->nmembers; i++)
            for (size_t j = i + 1; j < lync->nmembers; j++)
                CHECK(lync->members[i].id != lync->members[j].id);
    }
    const struct pc_pool *owa = find_pool(cfg, "owa");
    CHECK(owa != NULL);
    if (owa) {
        CHECK_INT(owa->role, PC_ROLE_OWA);
        CHECK_INT(owa->https_port, 443);
        CHECK_INT(owa->http_port, 0);
        CHECK_INT(owa->affinity, PC_AFFINITY_SOURCE);
        CHECK_INT(owa->nmembers, 2);
        CHECK_STR(owa->members[0].host, "127.0.0.2");
        CHECK_INT(owa->members[0].https_port, 443);
        CHECK_STR(owa->members[1].host, "::1");
        CHECK_STR(addr_str(&owa->members[1].addr, buf), "::1");
        CHECK_INT(owa->members[1].https_port, 4443);
        CHECK(owa->verify);
        CHECK(owa->verify_name == NULL);
        CHECK(owa->ciphers == NULL);
        CHECK_INT(owa->tls_min, TLS1_2_VERSION);
        CHECK_DBL(owa->health_interval, 5);
        CHECK_INT(owa->health_rise, 2);
        CHECK_INT(owa->health_fall, 3);
    }

    CHECK_INT(cfg->nnames, 6);
    const struct pc_name *n = find_name(cfg, "lyncdiscover.contoso.com");
    CHECK(n && n->http == PC_HTTP_FORWARD && n->pool == lync && n->line == 31 && !n->wildcard);
    n = find_name(cfg, "webext.contoso.com");
    CHECK(n && n->http == PC_HTTP_REDIRECT && n->pool == lync);
    n = find_name(cfg, ".owa.contoso.com");
    CHECK(n && n->wildcard && n->pool == owa && n->http == PC_HTTP_REDIRECT);
    CHECK(pc_config_route(cfg, "x.owa.contoso.com", 17) == n);
    CHECK(pc_config_route(cfg, "Meet.Contoso.COM:443", 20) == find_name(cfg, "meet.contoso.com"));

    /* The same file loads to the same member ids: every process agrees. */
    struct pc_config *again = pc_config_load(path, &d);
    CHECK(again != NULL);
    if (again && lync) {
        const struct pc_pool *l2 = find_pool(again, "lync");
        for (size_t i = 0; l2 && i < lync->nmembers && i < l2->nmembers; i++)
            CHECK_INT(lync->members[i].id, l2->members[i].id);
    }
    pc_config_free(again);
    pc_diag_free(&d);
    pc_config_free(cfg);
}

static void test_defaults(void)
{
    struct pc_diag d;
    struct pc_config *cfg = load_text("; no [proxy] section at all\n" POOL, &d, NULL);
    CHECK(cfg != NULL);
    CHECK(d.text == NULL);
    CHECK_INT(d.nerrors + d.nwarnings, 0);
    if (cfg) {
        char buf[64];
        CHECK_INT(cfg->nexternal, 1);
        CHECK_STR(addr_str(&cfg->external[0], buf), "0.0.0.0");
        CHECK(!cfg->has_internal);
        CHECK_INT(cfg->https_port, 443);
        CHECK_INT(cfg->http_port, 80);
        CHECK_INT(cfg->ncerts, 0);
        CHECK_INT(cfg->tls_min, TLS1_2_VERSION);
        CHECK(cfg->ciphers == NULL);
        CHECK(cfg->ticket_key_file == NULL);
        CHECK_INT(cfg->workers, sysconf(_SC_NPROCESSORS_ONLN));
        CHECK(cfg->user == NULL);
        CHECK_INT(cfg->max_connections, 20000);
        CHECK_STR(cfg->access_log, "stdout");
        CHECK_INT(cfg->access_log_format, PC_LOG_COMBINED);
        CHECK(!cfg->has_admin);
        CHECK_DBL(cfg->timeout_connect, 5);
        CHECK_DBL(cfg->timeout_handshake, 10);
        CHECK_DBL(cfg->timeout_header, 30);
        CHECK_DBL(cfg->timeout_keepalive, 120);
        CHECK_DBL(cfg->timeout_idle, 1860);
        CHECK_DBL(cfg->drain_timeout, 30);
        CHECK_INT(cfg->pools[0].role, PC_ROLE_FRONTEND);
    }
    pc_config_free(cfg);

    cfg = load_text("[proxy]\nworkers = auto\naccess_log = off\nhttp_port = off\nadmin = off\n"
                    "external = ::\n" POOL,
                    &d, NULL);
    CHECK(cfg != NULL);
    if (cfg) {
        char buf[64];
        CHECK_INT(cfg->workers, sysconf(_SC_NPROCESSORS_ONLN));
        CHECK(cfg->access_log == NULL);
        CHECK_INT(cfg->http_port, 0);
        CHECK(!cfg->has_admin);
        CHECK_STR(addr_str(&cfg->external[0], buf), "::");
    }
    pc_config_free(cfg);
    pc_diag_free(&d);
}

static void test_roles(void)
{
    struct pc_diag d;
    struct pc_config *cfg = load_text(
        "[pool fe]\nrole = frontend\nservers = 127.0.0.1\npublish = fe.example.com\n"
        "[pool dir]\nrole = director\nservers = 127.0.0.1\npublish = dir.example.com\n"
        "[pool owa]\nrole = owa\nservers = 127.0.0.1\npublish = owa.example.com\n"
        "[pool gen]\nrole = generic\nservers = 127.0.0.1\npublish = gen.example.com\n"
        "[pool set]\nhttps_port = 1443\nhttp_port = 1080\nrole = owa\nservers = 127.0.0.1\n"
        "publish = set.example.com\n"
        "[pool none]\nhttp_port = none\nservers = 127.0.0.1:9443 [::1] ::2\n"
        "publish = none.example.com\n",
        &d, NULL);
    CHECK(cfg != NULL);
    if (d.text)
        fprintf(stderr, "%s", d.text);
    pc_diag_free(&d);
    if (!cfg)
        return;
    static const struct {
        const char *pool;
        enum pc_role role;
        int https, http;
    } want[] = {{"fe", PC_ROLE_FRONTEND, 4443, 8080}, {"dir", PC_ROLE_DIRECTOR, 4443, 8080},
                {"owa", PC_ROLE_OWA, 443, 0},         {"gen", PC_ROLE_GENERIC, 443, 0},
                {"set", PC_ROLE_OWA, 1443, 1080},     {"none", PC_ROLE_FRONTEND, 4443, 0}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct pc_pool *p = find_pool(cfg, want[i].pool);
        CHECK(p != NULL);
        if (!p)
            continue;
        CHECK_INT(p->role, want[i].role);
        CHECK_INT(p->https_port, want[i].https);
        CHECK_INT(p->http_port, want[i].http);
        CHECK_INT(p->members[0].https_port, strcmp(want[i].pool, "none") ? want[i].https : 9443);
        CHECK_INT(p->members[0].http_port, want[i].http);
    }
    const struct pc_pool *p = find_pool(cfg, "none");
    if (p) {
        char buf[64];
        CHECK_INT(p->nmembers, 3);
        CHECK_STR(p->members[1].host, "::1");
        CHECK_INT(p->members[1].https_port, 4443);
        CHECK_STR(addr_str(&p->members[2].addr, buf), "::2");
    }
    CHECK_STR(pc_role_str(PC_ROLE_DIRECTOR), "director");
    CHECK_STR(pc_role_str(PC_ROLE_OWA), "owa");
    CHECK_STR(pc_http_mode_str(PC_HTTP_FORWARD), "forward");
    CHECK_STR(pc_http_mode_str(PC_HTTP_OFF), "off");
    pc_config_free(cfg);
}

static void test_http_modes(void)
{
    struct pc_diag d;
    struct pc_config *cfg = load_text(
        "[pool fe]\nservers = 127.0.0.1\n"
        "publish = lyncdiscover.contoso.com webext.contoso.com lyncdiscoverx.contoso.com\n"
        "[pool owa]\nrole = owa\nservers = 127.0.0.1\npublish = lyncdiscover.fabrikam.com\n"
        "[pool fwd]\nhttp = forward\nservers = 127.0.0.1\npublish = fwd.contoso.com\n"
        "[pool off]\nhttp = off\nservers = 127.0.0.1\npublish = lyncdiscover.off.com\n"
        "[pool red]\nhttp = redirect\nservers = 127.0.0.1\npublish = lyncdiscover.red.com\n"
        "[pool gen]\nrole = generic\nhttp_port = 80\nservers = 127.0.0.1\n"
        "publish = LyncDiscover.Gen.Com *.wild.com\n",
        &d, NULL);
    CHECK(cfg != NULL);
    pc_diag_free(&d);
    static const struct {
        const char *name;
        enum pc_http_mode mode;
    } want[] = {
        {"lyncdiscover.contoso.com", PC_HTTP_FORWARD},
        {"webext.contoso.com", PC_HTTP_REDIRECT},
        {"lyncdiscoverx.contoso.com", PC_HTTP_REDIRECT},
        {"lyncdiscover.fabrikam.com", PC_HTTP_REDIRECT}, /* owa: no http_port */
        {"fwd.contoso.com", PC_HTTP_FORWARD},
        {"lyncdiscover.off.com", PC_HTTP_OFF},
        {"lyncdiscover.red.com", PC_HTTP_REDIRECT},
        {"lyncdiscover.gen.com", PC_HTTP_FORWARD},
        {".wild.com", PC_HTTP_REDIRECT},
    };
    for (size_t i = 0; cfg && i < sizeof want / sizeof want[0]; i++) {
        const struct pc_name *n = find_name(cfg, want[i].name);
        CHECK(n != NULL);
        if (n)
            CHECK_STR(pc_http_mode_str(n->http), pc_http_mode_str(want[i].mode));
    }
    if (cfg) {
        CHECK_INT(find_pool(cfg, "fe")->http, PC_HTTP_AUTO);
        CHECK_STR(find_pool(cfg, "gen")->publish[0], "lyncdiscover.gen.com");
        CHECK_STR(find_pool(cfg, "gen")->publish[1], "*.wild.com");
    }
    pc_config_free(cfg);
}

/* A 12-name publish line, a line over 5000 bytes, comments, CRLF and a BOM. */
static void test_syntax(void)
{
    struct pc_diag d;
    struct pc_config *cfg = load_text(
        "\xEF\xBB\xBF; BOM first\r\n"
        "   # indented comment\r\n"
        "[proxy]   ; comment after a header\r\n"
        "access_log = log#1.txt ; a '#' inside a word stays\r\n"
        "max_connections=7#comment\r\n"
        "[ pool   twelve ]\r\n"
        "servers = 127.0.0.1 # hash comment\r\n"
        "publish = a1.example.com a2.example.com a3.example.com a4.example.com a5.example.com "
        "a6.example.com a7.example.com a8.example.com a9.example.com a10.example.com "
        "a11.example.com a12.example.com ; twelve names\r\n",
        &d, NULL);
    /* "7#comment..." is one word: a bad number, not 7 */
    CHECK(cfg == NULL);
    CHECK_INT(d.nerrors, 1);
    CHECK_CONTAINS(d.text, ":5: bad value '7#comment' for 'max_connections'");
    pc_diag_free(&d);

    cfg = load_text("\xEF\xBB\xBF[proxy]   ; comment after a header\r\n"
                    "access_log = log#1.txt ; a '#' inside a word stays\r\n"
                    "max_connections = 7\t# tab before the comment\r\n"
                    "[ pool   twelve ]\r\n"
                    "servers = 127.0.0.1 # hash comment\r\n"
                    "publish = a1.example.com a2.example.com a3.example.com a4.example.com "
                    "a5.example.com a6.example.com a7.example.com a8.example.com a9.example.com "
                    "a10.example.com a11.example.com a12.example.com ; twelve names\r\n",
                    &d, NULL);
    CHECK(cfg != NULL);
    if (cfg) {
        char want[PATH_MAX + 16];
        snprintf(want, sizeof want, "%s/log#1.txt", tmpdir);
        CHECK_STR(cfg->access_log, want);
        CHECK_INT(cfg->max_connections, 7);
        CHECK_STR(cfg->pools[0].name, "twelve");
        CHECK_INT(cfg->pools[0].npublish, 12);
        CHECK_INT(cfg->nnames, 12);
        CHECK_STR(cfg->names[11].name, "a12.example.com");
        CHECK_INT(cfg->names[11].line, 6);
        CHECK_STR(pc_config_route(cfg, "a7.example.com", 14)->name, "a7.example.com");
    }
    pc_config_free(cfg);
    pc_diag_free(&d);

    /* 300 names of 20 bytes: a 6000-byte line, far past libinih's 200. */
    size_t cap = 8000, n = 0;
    char *text = malloc(cap);
    n += (size_t)snprintf(text + n, cap - n, "[pool long]\nservers = 127.0.0.1\npublish =");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(text + n, cap - n, " n%03d.longline.test", i);
    n += (size_t)snprintf(text + n, cap - n, " ; end\n[proxy]\nhttps_port = 444\n");
    CHECK(n > 5000 && n < cap);
    cfg = load_text(text, &d, NULL);
    free(text);
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK_INT(cfg->nnames, 300);
        CHECK_STR(cfg->names[299].name, "n299.longline.test");
        CHECK(pc_config_route(cfg, "N150.LONGLINE.TEST", 18) == &cfg->names[150]);
        CHECK_INT(cfg->https_port, 444);
    }
    pc_config_free(cfg);
    pc_diag_free(&d);
}

/* One error each: TEXT gives exactly one error, "FILE:LINE: MSG" ('@' in MSG = scratch dir). */
static const struct {
    const char *text;
    int line;
    const char *msg;
} error_cases[] = {
    {POOL "[bogus]\nx = 1\n", 4,
     "unknown section [bogus] (expected [proxy], [signin], [acme] or [pool NAME])"},
    {POOL "[proxy x]\n", 4, "[proxy] takes no name"},
    {POOL "[pool]\n", 4, "[pool] needs a name: [pool NAME]"},
    {POOL "[pool a b]\n", 4, "section header with more than one name"},
    {POOL "[proxy\n", 4, "section header without ']'"},
    {POOL "just words\n", 4, "expected 'key = value'"},
    {POOL "= 1\n", 4, "missing key before '='"},
    {POOL "[pool q] x\n", 4, "unexpected text after section header"},
    {POOL "health rise = 2\n", 4, "key with whitespace in it"},
    {POOL "ca = ; only a comment\n", 4, "missing value for 'ca'"},
    {POOL "ca =# only a comment\n", 4, "missing value for 'ca'"},
    {"[proxy]\nbogus = 1\n" POOL, 2, "unknown key 'bogus' in [proxy]"},
    {POOL "bogus = 1\n", 4, "unknown key 'bogus' in [pool p]"},
    {"https_port = 443\n" POOL, 1, "key 'https_port' outside a section"},
    {"[proxy]\nhttps_port = 443\nhttps_port = 444\n" POOL, 3,
     "'https_port' given twice in the same section (first at line 2)"},
    {POOL "servers = 127.0.0.2\n", 4,
     "'servers' given twice in the same section (first at line 2)"},
    {"[proxy]\nmax_connections = 0\n" POOL, 2,
     "bad value '0' for 'max_connections' (expected a number from 1 to 10000000)"},
    {"[proxy]\nmax_connections = -5\n" POOL, 2,
     "bad value '-5' for 'max_connections' (expected a number from 1 to 10000000)"},
    {"[proxy]\nhttps_port = 65536\n" POOL, 2,
     "bad value '65536' for 'https_port' (expected a port from 1 to 65535 or off)"},
    {"[proxy]\nhttp_port = none\n" POOL, 2,
     "bad value 'none' for 'http_port' (expected a port from 1 to 65535 or off)"},
    {POOL "http_port = 80x\n", 4,
     "bad value '80x' for 'http_port' (expected a port from 1 to 65535 or off | none)"},
    {POOL "https_port = off\n", 4,
     "bad value 'off' for 'https_port' (expected a number from 1 to 65535)"},
    {"[proxy]\nworkers = many\n" POOL, 2,
     "bad value 'many' for 'workers' (expected auto or a number from 1 to 4096)"},
    {POOL "verify = maybe\n", 4, "bad value 'maybe' for 'verify' (expected off | on)"},
    {POOL "role = edge\n", 4,
     "bad value 'edge' for 'role' (expected frontend | director | owa | generic)"},
    {POOL "http = proxy\n", 4,
     "bad value 'proxy' for 'http' (expected auto | forward | redirect | off)"},
    {POOL "affinity = ip\n", 4, "bad value 'ip' for 'affinity' (expected none | source | cookie)"},
    {"[proxy]\naccess_log_format = xml\n" POOL, 2,
     "bad value 'xml' for 'access_log_format' (expected combined | json | w3c)"},
    {"[proxy]\ntls_min = 1.4\n" POOL, 2,
     "bad value '1.4' for 'tls_min' (expected 1.0 | 1.1 | 1.2 | 1.3)"},
    {POOL "tls_min = TLSv1.2\n", 4,
     "bad value 'TLSv1.2' for 'tls_min' (expected 1.0 | 1.1 | 1.2 | 1.3)"},
    {"[proxy]\ndrain_timeout = 0\n" POOL, 2,
     "bad value '0' for 'drain_timeout' (expected seconds above 0, such as 30 or 0.5)"},
    {"[proxy]\ntimeout_idle = 1e3\n" POOL, 2,
     "bad value '1e3' for 'timeout_idle' (expected seconds above 0, such as 30 or 0.5)"},
    {"[proxy]\ntimeout_connect = 1.2.3\n" POOL, 2,
     "bad value '1.2.3' for 'timeout_connect' (expected seconds above 0, such as 30 or 0.5)"},
    {POOL "health_interval = -1\n", 4,
     "bad value '-1' for 'health_interval' (expected seconds above 0, such as 30 or 0.5)"},
    {POOL "health_fall = 0\n", 4,
     "bad value '0' for 'health_fall' (expected a number from 1 to 1000)"},
    {"[proxy]\nciphers = NOSUCHCIPHER\n" POOL, 2,
     "bad value 'NOSUCHCIPHER' for 'ciphers' (OpenSSL selects no cipher from it)"},
    {POOL "verify_name = bad_name\n", 4,
     "bad value 'bad_name' for 'verify_name' (expected a host name)"},
    {POOL "ca =\n", 4, "missing value for 'ca'"},
    {"[proxy]\nexternal = 1.2.3\n" POOL, 2,
     "bad address '1.2.3' for 'external' (expected an IPv4 or IPv6 address)"},
    {"[proxy]\nexternal = 127.0.0.1 0.0.0.0:443\n" POOL, 2,
     "bad address '0.0.0.0:443' for 'external' (expected an IPv4 or IPv6 address)"},
    {"[proxy]\nexternal = [::1]:443\n" POOL, 2,
     "bad address '[::1]:443' for 'external' (expected an IPv4 or IPv6 address)"},
    {"[proxy]\nexternal = 127.0.0.1 127.0.0.1\n" POOL, 2,
     "address '127.0.0.1' listed twice in 'external'"},
    {"[proxy]\ninternal = 10.0.0.1 10.0.0.2\n" POOL, 2,
     "bad address '10.0.0.1 10.0.0.2' for 'internal' (expected one IPv4 or IPv6 address)"},
    {"[proxy]\nadmin = 127.0.0.1\n" POOL, 2,
     "bad address '127.0.0.1' for 'admin' (expected off, ADDRESS:PORT or [IPv6]:PORT)"},
    {"[proxy]\nadmin = ::1:9090\n" POOL, 2,
     "bad address '::1:9090' for 'admin' (expected off, ADDRESS:PORT or [IPv6]:PORT)"},
    {"[proxy]\nadmin = [::1]\n" POOL, 2,
     "bad address '[::1]' for 'admin' (expected off, ADDRESS:PORT or [IPv6]:PORT)"},
    {"[proxy]\nadmin = localhost:9090\n" POOL, 2,
     "bad address 'localhost:9090' for 'admin' (expected off, ADDRESS:PORT or [IPv6]:PORT)"},
    {"[proxy]\nadmin = 127.0.0.1:0\n" POOL, 2,
     "bad address '127.0.0.1:0' for 'admin' (expected off, ADDRESS:PORT or [IPv6]:PORT)"},
    {"[pool p]\nservers = 127.0.0.1 localhost:99999\npublish = p.example.com\n", 2,
     "bad server 'localhost:99999' (expected a host name or address with an optional :port, "
     "[v6]:port for IPv6)"},
    {"[pool p]\nservers = [::1\npublish = p.example.com\n", 2, "bad server '[::1'"},
    {"[pool p]\nservers = [localhost]:443\npublish = p.example.com\n", 2,
     "bad server '[localhost]:443'"},
    {"[pool p]\nservers = bad_name.example\npublish = p.example.com\n", 2,
     "bad server 'bad_name.example'"},
    {"[pool p]\nservers = 127.0.0.1 nosuchhost.invalid\npublish = p.example.com\n", 2,
     "server 'nosuchhost.invalid' does not resolve: "},
    {"[pool p]\npublish = p.example.com\n", 1, "pool 'p' has no servers"},
    {"[pool p]\nservers = 127.0.0.1\n", 1, "pool 'p' publishes no names"},
    {POOL "[pool q]\nservers = 127.0.0.1\npublish = q.example.com\n[pool p]\n", 7,
     "second [pool p] (the first is at line 1)"},
    {POOL "[pool q]\nservers = 127.0.0.1\npublish = q.example.com P.Example.com.\n", 6,
     "name 'p.example.com' is already published by pool 'p' at line 3"},
    {"[pool p]\nservers = 127.0.0.1\npublish = *.a.com x.com *.A.com\n", 3,
     "name '*.a.com' is already published by pool 'p' at line 3"},
    {"[pool p]\nservers = 127.0.0.1\npublish = ok.com foo..com\n", 3,
     "bad published name 'foo..com' (expected a host name such as webext.contoso.com or a "
     "wildcard such as *.contoso.com)"},
    {"[pool p]\nservers = 127.0.0.1\npublish = ok.com *\n", 3, "bad published name '*'"},
    {"[pool p]\nservers = 127.0.0.1\npublish = ok.com a.*.com\n", 3,
     "bad published name 'a.*.com'"},
    {"[pool p]\nservers = 127.0.0.1\npublish = ok.com -a.com\n", 3, "bad published name '-a.com'"},
    {"[pool p]\nservers = 127.0.0.1\npublish = ok.com a_b.com\n", 3,
     "bad published name 'a_b.com'"},
    {"[pool p]\nservers = 127.0.0.1\npublish = ok.com [::1]\n", 3, "bad published name '[::1]'"},
    {"[pool p]\nservers = 127.0.0.1\npublish = ok.com "
     "a234567890123456789012345678901234567890123456789012345678901234.com\n",
     3, "bad published name 'a2345678901234"},
    {"[pool p]\nrole = owa\nhttp = forward\nservers = 127.0.0.1\npublish = p.example.com\n", 3,
     "http = forward in pool 'p', which has no http_port to forward to"},
    {"[pool p]\nhttp = forward\nhttp_port = off\nservers = 127.0.0.1\npublish = p.example.com\n", 2,
     "http = forward in pool 'p', which has no http_port to forward to"},
    {"[proxy]\ncertificate = nope.pem\n" POOL, 2,
     "certificate '@/nope.pem': No such file or directory"},
    {"[proxy]\ncertificate = c.pem\nkey = /nonexistent/k.pem\n" POOL, 3,
     "key '/nonexistent/k.pem': No such file or directory"},
    {"[proxy]\ncertificate = .\n" POOL, 2, "certificate '@/.': is a directory"},
    {"[proxy]\nkey = c.pem\n" POOL, 2, "'key' without a 'certificate' before it"},
    {"[proxy]\ncertificate = c.pem\nkey = c.pem\nkey = c.pem\n" POOL, 4,
     "second 'key' for the certificate of line 2"},
    {"[proxy]\nticket_key_file = sub/tickets\n" POOL, 2,
     "ticket_key_file '@/sub/tickets': No such file or directory"},
    {POOL "ca = ca.pem\n", 4, "ca '@/ca.pem': No such file or directory"},
    {"[proxy]\nuser = no-such-user-here\n" POOL, 2, "unknown user 'no-such-user-here'"},
    {"[proxy]\nuser = nobody\ncertificate = private.pem\n" POOL, 3,
     "certificate '@/private.pem' is not readable by user 'nobody'\n"},
    {"[proxy]\nuser = nobody\ncertificate = c.pem\nkey = sub/hidden/k.pem\n" POOL, 4,
     "key '@/sub/hidden/k.pem' is not readable by user 'nobody': no access to '@/sub/hidden'"},
};

static void expect_one_error(int idx, const char *text, int line, const char *msg)
{
    char path[PATH_MAX], want[PATH_MAX + 1100], m[1024];
    struct pc_diag d;
    /* '@' stands for the scratch directory */
    size_t k = 0;
    for (const char *p = msg; *p && k < sizeof m - sizeof tmpdir; p++) {
        if (*p == '@')
            k += (size_t)snprintf(m + k, sizeof m - k, "%s", tmpdir);
        else
            m[k++] = *p;
    }
    m[k] = '\0';
    struct pc_config *cfg = load_text(text, &d, path);
    snprintf(want, sizeof want, "%s:%d: %s", path, line, m);
    CHECK(cfg == NULL);
    CHECK_CONTAINS(d.text, want);
    if (d.nerrors != 1)
        fprintf(stderr, "error case %d:\n%s", idx, d.text ? d.text : "(no diagnostics)\n");
    CHECK_INT(d.nerrors, 1);
    CHECK(d.text && d.text[d.len - 1] == '\n' && strlen(d.text) == d.len);
    pc_config_free(cfg);
    pc_diag_free(&d);
}

static void test_errors(void)
{
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++)
        expect_one_error((int)i, error_cases[i].text, error_cases[i].line, error_cases[i].msg);

    /* A missing file: "FILE: cannot open: reason", no line. */
    struct pc_diag d = {0};
    CHECK(pc_config_load("tests/unit/conf/does-not-exist.conf", &d) == NULL);
    CHECK_STR(d.text,
              "tests/unit/conf/does-not-exist.conf: cannot open: No such file or directory\n");
    CHECK_INT(d.nerrors, 1);
    pc_diag_free(&d);
    CHECK(d.text == NULL && d.nerrors == 0);
    CHECK(pc_config_load("tests/unit/conf/does-not-exist.conf", NULL) == NULL); /* no diag */
    pc_diag_free(NULL);
    pc_config_free(NULL);
}

static void test_warnings(void)
{
    struct pc_diag d;
    char path[PATH_MAX], want[PATH_MAX + 256];
    struct pc_config *cfg = load_text(
        "[proxy]\nadmin = 0.0.0.0:9090 expose\n"
        "[pool p]\nservers = localhost 127.0.0.1\npublish = p.example.com\nverify = off\n",
        &d, path);
    CHECK(cfg != NULL);
    CHECK_INT(d.nerrors, 0);
    CHECK_INT(d.nwarnings, 3);
    snprintf(want, sizeof want, "%s:2: warning: admin listener on '0.0.0.0:9090'", path);
    CHECK_CONTAINS(d.text, want);
    snprintf(want, sizeof want,
             "%s:4: warning: server '127.0.0.1' is 127.0.0.1 port 4443, already a member as "
             "'localhost'; counted once\n",
             path);
    CHECK_CONTAINS(d.text, want);
    snprintf(want, sizeof want, "%s:6: warning: verify = off in pool 'p'", path);
    CHECK_CONTAINS(d.text, want);
    if (cfg) {
        CHECK(!cfg->pools[0].verify);
        CHECK(cfg->pools[0].nmembers >= 1); /* localhost: 127.0.0.1, perhaps ::1 */
        CHECK_INT(addr_port(&cfg->admin), 9090);
    }
    pc_config_free(cfg);
    pc_diag_free(&d);

    /* a user who can read the certificate */
    cfg = load_text("[proxy]\nuser = nobody\ncertificate = c.pem\n" POOL, &d, NULL);
    CHECK(cfg != NULL && d.text == NULL);
    if (cfg)
        CHECK_STR(cfg->user, "nobody");
    pc_config_free(cfg);
    pc_diag_free(&d);

    /* loopback admin: no warning */
    cfg = load_text("[proxy]\nadmin = 127.0.0.2:9090\n" POOL, &d, NULL);
    CHECK(cfg != NULL && d.nwarnings == 0 && d.text == NULL);
    pc_config_free(cfg);
    pc_diag_free(&d);
}

static void test_many_errors(void)
{
    struct pc_diag d = {0};
    const char *p = FIXTURES "/errors.conf";
    CHECK(pc_config_load(p, &d) == NULL);
    CHECK_INT(d.nerrors, 11);
    CHECK_INT(d.nwarnings, 2);
    char want[4096];
    snprintf(
        want, sizeof want,
        "%1$s:3: bad value '99999' for 'https_port' (expected a port from 1 to 65535 or off)\n"
        "%1$s:4: bad value '1.4' for 'tls_min' (expected 1.0 | 1.1 | 1.2 | 1.3)\n"
        "%1$s:5: unknown key 'bogus' in [proxy]\n"
        "%1$s:6: bad value '0' for 'drain_timeout' (expected seconds above 0, such as 30 "
        "or 0.5)\n"
        "%1$s:7: warning: admin listener on '0.0.0.0:9090', not a loopback address: "
        "metrics and status are open to that network\n"
        "%1$s:12: warning: verify = off in pool 'a': its certificates are not checked, so "
        "anyone on the path to it can read and change the traffic\n"
        "%1$s:16: bad published name 'bad..name' (expected a host name such as "
        "webext.contoso.com or a wildcard such as *.contoso.com)\n"
        "%1$s:16: name 'b.contoso.com' is already published by pool 'a' at line 11\n"
        "%1$s:17: http = forward in pool 'b', which has no http_port to forward to\n"
        "%1$s:20: pool 'c' has no servers\n"
        "%1$s:20: pool 'c' publishes no names\n"
        "%1$s:23: second [pool a] (the first is at line 9)\n"
        "%1$s:27: unknown section [nonsense] (expected [proxy], [signin], [acme] or [pool NAME])\n",
        p);
    CHECK_STR(d.text, want);
    pc_diag_free(&d);
}

static void test_ipv6(void)
{
    struct pc_diag d;
    struct pc_config *cfg =
        load_text("[proxy]\nexternal = ::1 [fe80::1%1] 127.0.0.1 [::]\ninternal = [2001:db8::5]\n"
                  "admin = [::1]:9090\n"
                  "[pool p]\nservers = [::1]:4444 ::1 [2001:db8::7] 127.0.0.1:1\n"
                  "publish = p.example.com\n",
                  &d, NULL);
    CHECK(cfg != NULL);
    if (d.text)
        fprintf(stderr, "%s", d.text);
    if (cfg) {
        char buf[64];
        CHECK_INT(cfg->nexternal, 4);
        CHECK_STR(addr_str(&cfg->external[0], buf), "::1");
        CHECK_STR(addr_str(&cfg->external[1], buf), "fe80::1");
        CHECK_INT(((struct sockaddr_in6 *)&cfg->external[1].ss)->sin6_scope_id, 1);
        CHECK_INT(cfg->external[0].len, sizeof(struct sockaddr_in6));
        CHECK_INT(cfg->external[2].len, sizeof(struct sockaddr_in));
        CHECK_STR(addr_str(&cfg->external[3], buf), "::");
        CHECK_STR(addr_str(&cfg->internal, buf), "2001:db8::5");
        CHECK_STR(addr_str(&cfg->admin, buf), "::1");
        CHECK_INT(addr_port(&cfg->admin), 9090);
        const struct pc_pool *p = &cfg->pools[0];
        CHECK_INT(p->nmembers, 4);
        CHECK_INT(p->members[0].https_port, 4444);
        CHECK_STR(p->members[0].host, "::1");
        CHECK_INT(p->members[1].https_port, 4443);
        CHECK(p->members[0].id != p->members[1].id);
        CHECK_STR(addr_str(&p->members[2].addr, buf), "2001:db8::7");
        CHECK_INT(p->members[3].https_port, 1);
        CHECK_INT(p->members[3].addr.ss.ss_family, AF_INET);
    }
    pc_config_free(cfg);
    pc_diag_free(&d);
}

/* An admin listener beyond loopback is an error unless the line says `expose` (issue 7). */
static void test_admin_needs_expose(void)
{
    struct pc_diag d;
    struct pc_config *cfg = load_text("[proxy]\nadmin = 0.0.0.0:9090\n"
                                      "[pool p]\nservers = localhost\npublish = p.example.com\n",
                                      &d, NULL);
    CHECK(cfg == NULL);
    CHECK_CONTAINS(d.text, "is not a loopback address: add 'expose'");
    pc_diag_free(&d);
    cfg = load_text("[proxy]\nadmin = 127.0.0.1:9090 please\n"
                    "[pool p]\nservers = localhost\npublish = p.example.com\n",
                    &d, NULL);
    CHECK(cfg == NULL);
    CHECK_CONTAINS(d.text, "unexpected 'please'");
    pc_diag_free(&d);
}

int main(void)
{
    if (!getcwd(cwd, sizeof cwd)) {
        perror("getcwd");
        return 2;
    }
    test_admin_needs_expose();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/portico-unit-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    /* mkdtemp makes it 0700: user = nobody must be able to reach the files in it */
    if (chmod(tmpdir, 0755) < 0) {
        perror(tmpdir);
        return 2;
    }
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/sub", tmpdir);
    if (mkdir(sub, 0755) < 0) {
        perror(sub);
        return 2;
    }
    snprintf(sub, sizeof sub, "%s/sub/hidden", tmpdir);
    if (mkdir(sub, 0700) < 0) {
        perror(sub);
        return 2;
    }
    const char *hidden = scratch("sub/hidden/k.pem", "dummy\n");
    if (chmod(hidden, 0644) < 0) {
        perror(hidden);
        return 2;
    }
    const char *pub = scratch("c.pem", "dummy\n");
    if (chmod(pub, 0644) < 0) {
        perror(pub);
        return 2;
    }
    const char *priv = scratch("private.pem", "dummy\n");
    if (chmod(priv, 0600) < 0) {
        perror(priv);
        return 2;
    }

    test_full();
    test_defaults();
    test_roles();
    test_http_modes();
    test_syntax();
    test_errors();
    test_warnings();
    test_many_errors();
    test_ipv6();

    static const char *const files[] = {"t.conf",           "c.pem",      "private.pem",
                                        "sub/hidden/k.pem", "sub/hidden", "sub"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
        if (remove(p) < 0 && errno != ENOENT)
            perror(p);
    }
    if (rmdir(tmpdir) < 0)
        perror(tmpdir);
    return UNIT_DONE();
}
