/* importarr.c — portico import-arr FILE [-o OUT] (docs/import-arr.md): reads an IIS
 * applicationHost.config with libxml2 and writes a commented portico.conf.
 *
 * This file reads the document: the command line, the file (untrusted input: no network, no
 * DTD, no entity expansion, refused with FILE:LINE when it is not well-formed), the server farms
 * (webFarms), the sites' bindings and the server-wide ARR settings, and whatever else it finds
 * in the rewrite section that portico cannot do, as CHECK notes. importarr-rules.c reads the
 * global rules; importarr-emit.c writes the result. */
#include <errno.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/importarr-t.h"

/* applicationHost.config is rarely above a few megabytes; this bounds what is read. */
#define ARR_MAX_INPUT (64u << 20)

/* ---- values ----------------------------------------------------------------------------- */

/* A .NET TimeSpan as IIS writes it: [d.]hh:mm:ss[.fffffff]. */
static bool parse_timespan(const char *s, double *out)
{
    unsigned d = 0, h = 0, m = 0;
    double sec = 0;
    int used = 0;
    const char *dot = strchr(s, '.'), *colon = strchr(s, ':');
    if (!colon || strspn(s, "0123456789.:") != strlen(s))
        return false; /* sscanf would also take blanks, signs and exponents */
    bool days = dot && dot < colon;
    if (days) {
        if (sscanf(s, "%u.%u:%u:%lf%n", &d, &h, &m, &sec, &used) != 4 || s[used] != '\0')
            return false;
    } else if (sscanf(s, "%u:%u:%lf%n", &h, &m, &sec, &used) != 3 || s[used] != '\0') {
        return false;
    }
    if (d > 366 || h > 23 || m > 59 || !(sec >= 0 && sec < 60))
        return false;
    *out = ((d * 24.0 + h) * 60 + m) * 60 + sec;
    return true;
}

static bool parse_port(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = s && *s >= '0' && *s <= '9' ? strtol(s, &end, 10) : 0;
    if (v < 1 || v > 65535 || errno || *end)
        return false;
    *out = (int)v;
    return true;
}

/* ---- server farms ----------------------------------------------------------------------- */

static void read_server(struct pc_arr_conf *c, int fi, xmlNode *n)
{
    static const char *const known[] = {"address", "enabled", NULL};
    static const char *const arr_known[] = {"httpPort", "httpsPort", "weight", NULL};
    struct pc_arr_farm *f = &c->farms[fi];
    struct pc_arr_server s = {.address = pc_arr_attr(c, n, "address"),
                              .http_port = 80, /* ARR's defaults */
                              .https_port = 443,
                              .weight = 100,
                              .enabled = true,
                              .line = pc_arr_line(n)};
    pc_arr_unknown_attrs(c, fi, n, "server", known);
    pc_arr_bool(c, fi, n, "enabled", &s.enabled);
    if (!s.address) {
        pc_arr_check(c, fi, "line %d: a server without an address is left out", s.line);
        return;
    }
    for (xmlNode *k = pc_arr_first(n); k; k = pc_arr_next(k)) {
        if (!pc_arr_is(k, "applicationRequestRouting")) {
            pc_arr_check(c, fi, "line %d: <%s> in server '%s' is not imported", pc_arr_line(k),
                         (const char *)k->name, s.address);
            continue;
        }
        pc_arr_unknown_attrs(c, fi, k, "server applicationRequestRouting", arr_known);
        const char *hp = pc_arr_attr(c, k, "httpPort"), *sp = pc_arr_attr(c, k, "httpsPort");
        const char *w = pc_arr_attr(c, k, "weight");
        if (hp && !parse_port(hp, &s.http_port))
            pc_arr_check(c, fi, "line %d: httpPort=\"%s\" is not a port; 80 assumed",
                         pc_arr_line(k), hp);
        if (sp && !parse_port(sp, &s.https_port))
            pc_arr_check(c, fi, "line %d: httpsPort=\"%s\" is not a port; 443 assumed",
                         pc_arr_line(k), sp);
        if (w)
            s.weight = atoi(w);
    }
    f->servers = pc_arr_grow(f->servers, f->nservers, &f->cap_servers, sizeof s);
    f->servers[f->nservers++] = s;
}

static void read_protocol(struct pc_arr_conf *c, int fi, xmlNode *n)
{
    static const char *const known[] = {"timeout",
                                        "reverseRewriteHostInResponseHeaders",
                                        "preserveHostHeader",
                                        "httpVersion",
                                        "keepAlive",
                                        "includePortInXForwardedFor",
                                        "xForwardedForHeaderName",
                                        "minResponseBuffer",
                                        "responseBufferLimit",
                                        "forwardWindowsAuthToken",
                                        NULL};
    struct pc_arr_farm *f = &c->farms[fi];
    int line = pc_arr_line(n);
    pc_arr_unknown_attrs(c, fi, n, "protocol", known);
    const char *t = pc_arr_attr(c, n, "timeout");
    if (t && parse_timespan(t, &f->timeout) && f->timeout > 0)
        f->timeout_text = t;
    else if (t)
        pc_arr_check(c, fi,
                     "line %d: protocol timeout=\"%s\" is not a duration above zero; "
                     "portico's timeout_idle default is kept",
                     line, t);
    bool preserve = true, fwd_token = false;
    /* reverseRewriteHostInResponseHeaders: portico rewrites nothing, which is what Microsoft's
     * Lync guidance asks of ARR too (docs/import-arr.md), so either value imports the same. */
    pc_arr_bool(c, fi, n, "preserveHostHeader", &preserve);
    pc_arr_bool(c, fi, n, "forwardWindowsAuthToken", &fwd_token);
    if (!preserve)
        pc_arr_check(c, fi,
                     "line %d: preserveHostHeader=\"false\": ARR sent the farm's name "
                     "as Host; portico always forwards the client's Host (Lync needs it)",
                     line);
    if (fwd_token)
        pc_arr_check(c, fi,
                     "line %d: forwardWindowsAuthToken=\"true\": portico never "
                     "authenticates; clients authenticate with the pool directly",
                     line);
    const char *xff = pc_arr_attr(c, n, "xForwardedForHeaderName");
    if (xff && strcasecmp(xff, "X-Forwarded-For") != 0)
        pc_arr_check(c, fi,
                     "line %d: the client address went in '%s'; portico sends it in "
                     "X-Forwarded-For: check what the pool reads",
                     line, xff);
    for (xmlNode *k = pc_arr_first(n); k; k = pc_arr_next(k))
        if (!pc_arr_is(k, "cache")) /* portico never caches, as Lync wants */
            pc_arr_check(c, fi, "line %d: <%s> in protocol is not imported", pc_arr_line(k),
                         (const char *)k->name);
}

static void read_balancing(struct pc_arr_conf *c, int fi, xmlNode *n)
{
    static const char *const known[] = {"algorithm", "hashServerVariable",
                                        "queryStringParameterName", NULL};
    pc_arr_unknown_attrs(c, fi, n, "loadBalancing", known);
    const char *alg = pc_arr_attr(c, n, "algorithm");
    const char *var = pc_arr_attr(c, n, "hashServerVariable");
    if (!alg || strcasecmp(alg, "WeightedRoundRobin") == 0)
        return;
    if (strcasecmp(alg, "RequestHash") == 0 && var && strcasecmp(var, "REMOTE_ADDR") == 0) {
        c->farms[fi].source = true;
        return;
    }
    pc_arr_check(c, fi,
                 "line %d: load balancing algorithm '%s'%s%s: portico balances "
                 "round-robin per request, by client address or by cookie, not by this; "
                 "affinity = none is written",
                 pc_arr_line(n), alg, var ? " on " : "", var ? var : "");
}

static void read_farm_arr(struct pc_arr_conf *c, int fi, xmlNode *arr)
{
    struct pc_arr_farm *f = &c->farms[fi];
    for (xmlNode *k = pc_arr_first(arr); k; k = pc_arr_next(k)) {
        int line = pc_arr_line(k);
        if (pc_arr_is(k, "protocol")) {
            read_protocol(c, fi, k);
        } else if (pc_arr_is(k, "affinity")) {
            static const char *const known[] = {"useCookie", "cookieName", NULL};
            pc_arr_unknown_attrs(c, fi, k, "affinity", known);
            pc_arr_bool(c, fi, k, "useCookie", &f->cookie);
        } else if (pc_arr_is(k, "loadBalancing")) {
            read_balancing(c, fi, k);
        } else if (pc_arr_is(k, "healthCheck")) {
            const char *url = pc_arr_attr(c, k, "url"), *iv = pc_arr_attr(c, k, "interval");
            if (!url || !*url)
                continue; /* ARR checks nothing without a url */
            if (!iv || !parse_timespan(iv, &f->health_interval) || f->health_interval <= 0)
                f->health_interval = 30; /* ARR's default */
            pc_arr_check(c, fi,
                         "line %d: ARR's health test requested %s; portico's health "
                         "checks are a verified TLS handshake on each member's HTTPS port (and "
                         "a TCP connection to its HTTP port), with no HTTP request: its "
                         "interval is kept, the URL is not",
                         line, url);
        } else {
            pc_arr_check(c, fi,
                         "line %d: <%s> in the farm's applicationRequestRouting is not "
                         "imported",
                         line, (const char *)k->name);
        }
    }
}

static void read_farm(struct pc_arr_conf *c, xmlNode *n)
{
    static const char *const known[] = {"name", "enabled", "adminUserName", "adminPassword", NULL};
    const char *name = pc_arr_attr(c, n, "name");
    if (!name || !*name) {
        pc_arr_check(c, -1, "line %d: a server farm without a name is left out", pc_arr_line(n));
        return;
    }
    c->farms = pc_arr_grow(c->farms, c->nfarms, &c->cap_farms, sizeof *c->farms);
    int fi = (int)c->nfarms++;
    c->farms[fi] =
        (struct pc_arr_farm){.name = name, .line = pc_arr_line(n), .enabled = true, .pool = -1};
    pc_arr_unknown_attrs(c, fi, n, "webFarm", known);
    pc_arr_bool(c, fi, n, "enabled", &c->farms[fi].enabled);
    for (xmlNode *k = pc_arr_first(n); k; k = pc_arr_next(k)) {
        if (pc_arr_is(k, "server"))
            read_server(c, fi, k);
        else if (pc_arr_is(k, "applicationRequestRouting"))
            read_farm_arr(c, fi, k);
        else
            pc_arr_check(c, fi, "line %d: <%s> in server farm '%s' is not imported", pc_arr_line(k),
                         (const char *)k->name, name);
    }
}

/* ---- sites, the server-wide proxy, the other rewrite sections --------------------------- */

static void read_binding(struct pc_arr_conf *c, xmlNode *b)
{
    const char *proto = pc_arr_attr(c, b, "protocol");
    const char *info = pc_arr_attr(c, b, "bindingInformation"); /* IP:PORT:HOST */
    bool https = proto && strcasecmp(proto, "https") == 0;
    if (!proto || !info || (!https && strcasecmp(proto, "http") != 0))
        return; /* net.tcp and friends: not web traffic */
    const char *last = strrchr(info, ':');
    const char *colon = last ? memrchr(info, ':', (size_t)(last - info)) : NULL;
    char port[8] = "";
    int p = 0;
    if (colon && (size_t)(last - colon - 1) < sizeof port)
        memcpy(port, colon + 1, (size_t)(last - colon - 1));
    if (!colon || !parse_port(port, &p)) {
        pc_arr_check(c, -1, "line %d: binding '%s' not understood", pc_arr_line(b), info);
        return;
    }
    int *slot = https ? &c->https_port : &c->http_port;
    *slot = *slot == 0 || *slot == p ? p : -1;
    if (!c->binding_line)
        c->binding_line = pc_arr_line(b);
    char *ip = pc_arr_printf(c, "%.*s", (int)(colon - info), info);
    if (ip[0] == '[' && ip[strlen(ip) - 1] == ']') {
        ip[strlen(ip) - 1] = '\0';
        ip++;
    }
    if (strcmp(ip, "*") == 0 || *ip == '\0') {
        c->external_any = true;
        return;
    }
    for (size_t i = 0; i < c->nexternal; i++)
        if (strcmp(c->external[i], ip) == 0)
            return;
    c->external = pc_arr_grow(c->external, c->nexternal, &c->cap_external, sizeof *c->external);
    c->external[c->nexternal++] = ip;
}

static void read_sites(struct pc_arr_conf *c, xmlNode *sites)
{
    c->have_sites = true;
    for (xmlNode *s = pc_arr_first(sites); s; s = pc_arr_next(s)) {
        if (!pc_arr_is(s, "site"))
            continue;
        xmlNode *bindings = pc_arr_child(s, "bindings");
        for (xmlNode *b = pc_arr_first(bindings); b; b = pc_arr_next(b))
            if (pc_arr_is(b, "binding"))
                read_binding(c, b);
    }
}

static void read_proxy(struct pc_arr_conf *c, xmlNode *n)
{
    bool enabled = true, preserve = true;
    pc_arr_bool(c, -1, n, "enabled", &enabled);
    pc_arr_bool(c, -1, n, "preserveHostHeader", &preserve);
    if (!enabled)
        pc_arr_check(c, -1,
                     "line %d: ARR's proxy is disabled (<proxy enabled=\"false\">): "
                     "the rules that rewrite to a farm did not take effect; the import treats "
                     "them as if it were on",
                     pc_arr_line(n));
    if (!preserve)
        pc_arr_check(c, -1,
                     "line %d: preserveHostHeader=\"false\": ARR sent the farm's name "
                     "as Host; portico always forwards the client's Host",
                     pc_arr_line(n));
}

/* Rewrite rules other than the global ones: site rules, outbound rules, maps. */
static void read_rewrite_rest(struct pc_arr_conf *c, xmlNode *rw, const char *where)
{
    for (xmlNode *k = pc_arr_first(rw); k; k = pc_arr_next(k)) {
        bool outbound = pc_arr_is(k, "outboundRules");
        if (pc_arr_is(k, "globalRules") || pc_arr_is(k, "allowedServerVariables"))
            continue;
        if (!outbound && !pc_arr_is(k, "rules")) {
            if (pc_arr_first(k))
                pc_arr_check(c, -1,
                             "line %d: <%s>%s is not imported (portico rewrites no "
                             "URL)",
                             pc_arr_line(k), (const char *)k->name, where);
            continue;
        }
        for (xmlNode *r = pc_arr_first(k); r; r = pc_arr_next(r)) {
            if (!pc_arr_is(r, "rule"))
                continue;
            const char *name = pc_arr_attr(c, r, "name");
            if (outbound)
                pc_arr_check(c, -1,
                             "line %d: outbound rule '%s'%s rewrote responses; portico "
                             "changes no response (a Lync pool's links already carry the "
                             "external names)",
                             pc_arr_line(r), name ? name : "", where);
            else
                pc_arr_check(c, -1,
                             "line %d: rule '%s'%s is a site rule, not a global one: "
                             "not imported; portico routes by Host only",
                             pc_arr_line(r), name ? name : "", where);
        }
    }
}

static void read_web_server(struct pc_arr_conf *c, xmlNode *ws, const char *where,
                            xmlNode **global_rules)
{
    for (xmlNode *k = pc_arr_first(ws); k; k = pc_arr_next(k)) {
        if (pc_arr_is(k, "proxy")) {
            read_proxy(c, k);
        } else if (pc_arr_is(k, "rewrite")) {
            xmlNode *g = pc_arr_child(k, "globalRules");
            if (g && !*where)
                *global_rules = g;
            else if (g)
                pc_arr_check(c, -1, "line %d: global rules%s are not imported", pc_arr_line(g),
                             where);
            read_rewrite_rest(c, k, where);
        }
    }
}

static void read_configuration(struct pc_arr_conf *c, xmlNode *root, xmlNode **farms,
                               xmlNode **rules)
{
    for (xmlNode *k = pc_arr_first(root); k; k = pc_arr_next(k)) {
        if (pc_arr_is(k, "webFarms")) {
            *farms = k;
        } else if (pc_arr_is(k, "system.applicationHost")) {
            xmlNode *sites = pc_arr_child(k, "sites");
            if (sites)
                read_sites(c, sites);
        } else if (pc_arr_is(k, "system.webServer")) {
            read_web_server(c, k, "", rules);
        } else if (pc_arr_is(k, "location")) {
            const char *path = pc_arr_attr(c, k, "path");
            const char *where = pc_arr_printf(c, " (in <location path=\"%s\">)", path ? path : "");
            xmlNode *ws = pc_arr_child(k, "system.webServer");
            if (ws)
                read_web_server(c, ws, where, rules);
        }
    }
}

/* ---- the document ----------------------------------------------------------------------- */

struct parse_state {
    int error_line;
    char message[512];
    bool doctype; /* a DOCTYPE was seen: refused, see on_doctype */
};

static struct parse_state *parsing;

static void on_xml_error(void *data, xmlErrorPtr e)
{
    struct parse_state *st = data;
    if (!e || e->level < XML_ERR_ERROR || st->message[0])
        return; /* the first error is the one to fix */
    snprintf(st->message, sizeof st->message, "%s", e->message ? e->message : "not well-formed");
    size_t n = strlen(st->message);
    while (n && (st->message[n - 1] == '\n' || st->message[n - 1] == ' '))
        st->message[--n] = '\0';
    st->error_line = e->line;
}

/* applicationHost.config has no DOCTYPE; one could only declare entities (billion laughs) or
 * fetch an external subset, so the parse stops at it. */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    (void)name, (void)ext, (void)sys;
    xmlParserCtxtPtr ctxt = ctx;
    parsing->doctype = true;
    parsing->error_line = ctxt->input ? ctxt->input->line : 0;
    xmlStopParser(ctxt);
}

static char *read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    const char *why = NULL;
    if (fd < 0 || fstat(fd, &st) < 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (st.st_size > ARR_MAX_INPUT)
        why = "larger than 64 MiB";
    if (why) {
        fprintf(stderr, "%s: cannot read: %s\n", path, why);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        pc_arr_out_of_memory();
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0) {
            fprintf(stderr, "%s: cannot read: %s\n", path, r < 0 ? strerror(errno) : "truncated");
            free(buf);
            buf = NULL;
        } else {
            got += (size_t)r;
        }
    }
    close(fd);
    *len = got;
    return buf;
}

static xmlDocPtr read_document(const char *path)
{
    size_t len = 0;
    char *buf = read_all(path, &len);
    if (!buf)
        return NULL;
    struct parse_state st = {0};
    parsing = &st;
    xmlDocPtr doc = NULL;
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (ctxt && len <= INT32_MAX) {
        ctxt->sax->internalSubset = on_doctype;
        xmlSetStructuredErrorFunc(&st, on_xml_error);
        /* NONET: nothing is fetched. No NOENT, DTDLOAD, DTDATTR or XINCLUDE: no entity is
         * substituted and no external file is read. BIG_LINES: true line numbers past 65535. */
        doc = xmlCtxtReadMemory(ctxt, buf, (int)len, path, NULL,
                                XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOCDATA);
        xmlSetStructuredErrorFunc(NULL, NULL);
    }
    if (st.doctype || !doc || !ctxt->wellFormed) {
        if (st.doctype)
            fprintf(stderr,
                    "%s:%d: a DOCTYPE is refused (applicationHost.config has none, and "
                    "its entities could expand without bound)\n",
                    path, st.error_line);
        else
            fprintf(stderr, "%s:%d: %s\n", path, st.error_line,
                    st.message[0] ? st.message : "not well-formed XML");
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    parsing = NULL;
    free(buf);
    return doc;
}

static int convert(struct pc_arr_conf *c, xmlDocPtr doc, const char *out_path)
{
    xmlNode *root = xmlDocGetRootElement(doc), *farms = NULL, *rules = NULL;
    if (!pc_arr_is(root, "configuration")) {
        fprintf(stderr,
                "%s:%d: the root element is <%s>, not <configuration>: not an IIS "
                "applicationHost.config\n",
                c->path, pc_arr_line(root), root ? (const char *)root->name : "");
        return 1;
    }
    read_configuration(c, root, &farms, &rules);
    for (xmlNode *k = pc_arr_first(farms); k; k = pc_arr_next(k))
        if (pc_arr_is(k, "webFarm"))
            read_farm(c, k);
    if (c->nfarms == 0) {
        fprintf(stderr, "%s:%d: no server farm (<webFarms><webFarm>): nothing to import\n", c->path,
                pc_arr_line(farms ? farms : root));
        return 1;
    }
    pc_arr_read_rules(c, rules);
    struct pc_arr_counts n = {0};
    char *text = pc_arr_emit(c, &n);
    if (!text)
        pc_arr_out_of_memory();
    FILE *f = out_path ? fopen(out_path, "we") : stdout;
    bool ok = f && fputs(text, f) >= 0;
    ok = (f && (out_path ? fclose(f) == 0 : fflush(f) == 0)) && ok;
    if (!ok)
        fprintf(stderr, "portico import-arr: %s: %s\n", out_path ? out_path : "stdout",
                strerror(errno));
    else
        fprintf(stderr,
                "portico import-arr: %zu pool%s, %zu published name%s, %zu CHECK "
                "comment%s to read%s%s\n",
                n.pools, n.pools == 1 ? "" : "s", n.names, n.names == 1 ? "" : "s", n.checks,
                n.checks == 1 ? "" : "s", out_path ? " in " : "", out_path ? out_path : "");
    free(text);
    return ok ? 0 : 1;
}

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "portico import-arr: %s\n", msg);
    fputs("usage: portico import-arr FILE [-o OUT]\n"
          "  FILE  an IIS applicationHost.config (%windir%\\System32\\inetsrv\\config)\n"
          "  OUT   where the portico.conf goes (default: stdout)\n",
          stderr);
    return 2;
}

int pc_cmd_import_arr(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0) {
            if (i + 1 >= argc || out)
                return usage(out ? "-o given twice" : "-o needs a file name");
            out = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(NULL);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "portico import-arr: unknown option '%s'\n", argv[i]);
            return usage(NULL);
        } else if (in) {
            return usage("one FILE only");
        } else {
            in = argv[i];
        }
    }
    if (!in)
        return usage("FILE is missing");
    LIBXML_TEST_VERSION
    xmlDocPtr doc = read_document(in);
    int rc = 1;
    if (doc) {
        const char *slash = strrchr(in, '/');
        struct pc_arr_conf c = {.path = in, .base = slash ? slash + 1 : in};
        rc = convert(&c, doc, out);
        pc_arr_conf_free(&c);
        xmlFreeDoc(doc);
    }
    xmlCleanupParser();
    return rc;
}
