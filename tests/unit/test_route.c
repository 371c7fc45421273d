/* test_route.c — pc_config_route(): Host to published name (SPEC §4). Run from the repository
 * root: tests/unit/conf/route.conf is the fixture; a large generated file goes to /tmp. */
#include "config/config.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct pc_config *cfg;

/* The pool HOST routes to, "-" when unpublished. */
static const char *route(const char *host)
{
    const struct pc_name *n = pc_config_route(cfg, host, strlen(host));
    return n ? n->pool->name : "-";
}

/* The published name HOST routes to ("*.x" for a wildcard), "-" when unpublished. */
static const char *route_name(const char *host)
{
    static char buf[300];
    const struct pc_name *n = pc_config_route(cfg, host, strlen(host));
    if (!n)
        return "-";
    snprintf(buf, sizeof buf, "%s%s", n->wildcard ? "*" : "", n->name);
    return buf;
}

static void test_exact_and_wildcard(void)
{
    CHECK_STR(route("contoso.com"), "apex");
    CHECK_STR(route("webext.contoso.com"), "apex");
    CHECK_STR(route("lyncdiscover.contoso.com"), "apex");
    CHECK_STR(route_name("lyncdiscover.contoso.com"), "lyncdiscover.contoso.com");
    /* wildcards: any depth, never the bare suffix */
    CHECK_STR(route_name("meet.contoso.com"), "*.contoso.com");
    CHECK_STR(route_name("a.b.contoso.com"), "*.contoso.com");
    CHECK_STR(route_name("a.contoso.com"), "*.contoso.com");
    CHECK_STR(route_name("www.fabrikam.com"), "*.fabrikam.com");
    CHECK_STR(route("fabrikam.com"), "-");
    /* the longest wildcard wins, an exact name wins over every wildcard */
    CHECK_STR(route_name("q.a.contoso.com"), "*.a.contoso.com");
    CHECK_STR(route_name("p.q.a.contoso.com"), "*.a.contoso.com");
    CHECK_STR(route_name("x.a.contoso.com"), "x.a.contoso.com");
    CHECK_STR(route_name("y.x.a.contoso.com"), "*.a.contoso.com");
    /* single labels and address-like names are exact names too */
    CHECK_STR(route("intranet"), "single");
    CHECK_STR(route("127.0.0.9:80"), "single");
    CHECK_STR(route("127.0.0.1"), "-");
    /* lookalikes */
    CHECK_STR(route("evilcontoso.com"), "-");
    CHECK_STR(route("contoso.com.evil.example"), "-");
    CHECK_STR(route("contoso.co"), "-");
    CHECK_STR(route("ontoso.com"), "-");
    CHECK_STR(route("com"), "-");
    CHECK_STR(route(".contoso.com"), "-"); /* must not hit the wildcard's key */
    CHECK_STR(route("..contoso.com"), "-");
    CHECK_STR(route("*.contoso.com"), "wild"); /* a '*' label is just a label under the suffix */
}

static void test_case_port_dot(void)
{
    CHECK_STR(route("WEBEXT.CONTOSO.COM"), "apex");
    CHECK_STR(route("WebExt.Contoso.Com"), "apex");
    CHECK_STR(route("webext.contoso.com:443"), "apex");
    CHECK_STR(route("webext.contoso.com:"), "apex");
    CHECK_STR(route("webext.contoso.com."), "apex");
    CHECK_STR(route("webext.contoso.com.:8443"), "apex");
    CHECK_STR(route("MEET.CONTOSO.COM.:443"), "wild");
    CHECK_STR(route("webext.contoso.com.."), "-"); /* one trailing dot only */
    CHECK_STR(route("webext.contoso.com:abc"), "-");
    CHECK_STR(route("webext.contoso.com:443:1"), "-");
    CHECK_STR(route("webext.contoso.com :443"), "-");
    CHECK_STR(route(""), "-");
    CHECK_STR(route("."), "-");
    CHECK_STR(route(":443"), "-");
    /* IPv6 literals: ports and brackets understood, never published */
    CHECK_STR(route("[::1]:443"), "-");
    CHECK_STR(route("[::1]"), "-");
    CHECK_STR(route("[::1"), "-");
    CHECK_STR(route("[::1]x"), "-");
    CHECK_STR(route("::1"), "-");
    /* HOSTLEN, not the NUL, ends the name */
    CHECK_STR(pc_config_route(cfg, "webext.contoso.comXYZ", 18)->pool->name, "apex");
    CHECK(pc_config_route(cfg, "webext.contoso.com", 17) == NULL);
    CHECK(pc_config_route(cfg, "contoso.com\0.x", 14) == NULL);
    CHECK(pc_config_route(NULL, "contoso.com", 11) == NULL);
    /* over 253 bytes: no host name can be that long */
    char longhost[401];
    memset(longhost, 'a', 388);
    memcpy(longhost + 388, ".contoso.com", 13);
    CHECK(pc_config_route(cfg, longhost, 400) == NULL);
    CHECK_STR(route_name(longhost + 400 - 253), "*.contoso.com"); /* 253 bytes: fine */
    CHECK_STR(route_name(longhost + 400 - 254), "-");
}

static void test_names(void)
{
    CHECK_INT(cfg->nnames, 9);
    for (size_t i = 0; i < cfg->nnames; i++) {
        const struct pc_name *n = &cfg->names[i];
        if (!n->wildcard)
            CHECK(pc_config_route(cfg, n->name, strlen(n->name)) == n);
        CHECK(n->http != PC_HTTP_AUTO);
    }
    const struct pc_name *n = pc_config_route(cfg, "lyncdiscover.contoso.com", 24);
    CHECK(n && n->http == PC_HTTP_FORWARD && n->line == 4);
    n = pc_config_route(cfg, "a.fabrikam.com", 14);
    CHECK(n && n->wildcard && n->http == PC_HTTP_REDIRECT && n->line == 9);
    CHECK_STR(n ? n->name : NULL, ".fabrikam.com");
}

/* Thousands of names in one table: every one routes to itself, collisions included. */
static void test_many(void)
{
    char path[] = "/tmp/portico-route-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(path);
        CHECK(f != NULL);
        return;
    }
    enum { N = 5000 };
    fprintf(f, "[pool big]\nservers = 127.0.0.1\npublish =");
    for (int i = 0; i < N; i++)
        fprintf(f, " h%d.example.org", i);
    fprintf(f, " *.w.example.org\n[pool other]\nservers = 127.0.0.1\npublish = *.example.org\n");
    CHECK(fclose(f) == 0);
    struct pc_diag d = {0};
    struct pc_config *big = pc_config_load(path, &d);
    unlink(path);
    CHECK(big != NULL);
    CHECK(d.text == NULL);
    pc_diag_free(&d);
    if (!big)
        return;
    CHECK_INT(big->nnames, N + 2);
    int bad = 0;
    char host[64];
    for (int i = 0; i < N; i++) {
        int len = snprintf(host, sizeof host, "H%d.Example.Org:443", i);
        if (pc_config_route(big, host, (size_t)len) != &big->names[i])
            bad++;
    }
    CHECK_INT(bad, 0);
    const struct pc_name *n = pc_config_route(big, "h5000.example.org", 17);
    CHECK(n && strcmp(n->name, ".example.org") == 0 && strcmp(n->pool->name, "other") == 0);
    n = pc_config_route(big, "a.b.w.example.org", 17);
    CHECK(n && strcmp(n->name, ".w.example.org") == 0);

    /* Speed, for information: the hot path of every request. */
    struct timespec t0, t1;
    enum { LOOKUPS = 1000000 };
    size_t found = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < LOOKUPS; i++) {
        int len = snprintf(host, sizeof host, "h%d.example.org", i % (N + 100));
        found += pc_config_route(big, host, (size_t)len) != NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_INT(found, LOOKUPS); /* the misses fall into *.example.org */
    double ns =
        ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / LOOKUPS;
    printf("route: %.0f ns per lookup with %d names (snprintf included)\n", ns, N + 2);
    pc_config_free(big);
}

int main(void)
{
    struct pc_diag d = {0};
    struct pc_config *c = pc_config_load("tests/unit/conf/route.conf", &d);
    if (!c) {
        fprintf(stderr, "%s", d.text ? d.text : "route.conf did not load\n");
        pc_diag_free(&d);
        return 1;
    }
    CHECK(d.text == NULL);
    pc_diag_free(&d);
    cfg = c;
    test_exact_and_wildcard();
    test_case_port_dot();
    test_names();
    test_many();
    pc_config_free(c);
    return UNIT_DONE();
}
