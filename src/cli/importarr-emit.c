/* importarr-emit.c — the portico.conf that `portico import-arr` writes (docs/import-arr.md):
 * the server farms grouped into pools, the role each pool is inferred to have, its port-80
 * behaviour, and the text with every CHECK comment.
 *
 * Farms with the same members, ports and settings become one pool (ARR guides make one farm
 * per published name, all on the same Front End servers), unless their names' port-80
 * behaviours cannot be one pool's `http`. Certificate and CA paths are placeholders under
 * /etc/portico/CHANGE-ME-*: IIS keeps certificates in the Windows store, not in the file. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/importarr-t.h"

#define CERT_PLACEHOLDER "/etc/portico/CHANGE-ME-public.pem"
#define KEY_PLACEHOLDER  "/etc/portico/CHANGE-ME-public.key"
#define CA_PLACEHOLDER   "/etc/portico/CHANGE-ME-internal-ca.pem"
#define WIDTH            99

enum role { ROLE_FRONTEND, ROLE_DIRECTOR, ROLE_OWA, ROLE_GENERIC };
static const char *const role_word[] = {"frontend", "director", "owa", "generic"};

enum http { HTTP_AUTO, HTTP_FORWARD, HTTP_REDIRECT, HTTP_NMODES };
static const char *const http_word[] = {"auto", "forward", "redirect"};

struct pool {
    const char *name;
    int *farms; /* indices in c->farms, the first gives the members */
    size_t nfarms, cap_farms;
    size_t *names; /* indices in c->names */
    size_t nnames, cap_names;
    int https_port, http_port;
    const char *key; /* members, ports and settings: farms with the same key may merge */
};

struct out {
    FILE *f;
    size_t nchecks;
};

/* ---- text ------------------------------------------------------------------------------- */

/* Writes TEXT as comment lines of at most WIDTH columns, the first starting with LEAD. Control
 * characters from the input become '?': a value cannot end the comment and start a line. */
static void comment(struct out *o, const char *lead, const char *text)
{
    bool check = strncmp(lead, "# CHECK:", 8) == 0;
    char cont[16] = "#   "; /* a CHECK's next lines; others align under their first word */
    if (!check)
        snprintf(cont, sizeof cont, "#%*s", (int)strlen(lead), "");
    size_t col = (size_t)fprintf(o->f, "%s", lead);
    bool fresh = false; /* a blank follows the lead */
    o->nchecks += check;
    for (const char *p = text; *p;) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (!w)
            break;
        if (!fresh && col + 1 + w > WIDTH) {
            col = (size_t)fprintf(o->f, "\n%s", cont) - 1;
            fresh = true;
        }
        if (!fresh)
            col += (size_t)fprintf(o->f, " ");
        for (size_t i = 0; i < w; i++)
            fputc((unsigned char)p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i], o->f);
        col += w;
        fresh = false;
        p += w;
    }
    fputc('\n', o->f);
}

static void commentf(struct out *o, const char *lead, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void commentf(struct out *o, const char *lead, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) >= 0)
        comment(o, lead, s);
    free(s);
    va_end(ap);
}

static void rule_line(struct out *o, const char *title)
{
    size_t n = strlen(title) + 8; /* "# ---- " and the blank after the title */
    fprintf(o->f, "\n# ---- %s ", title);
    for (; n < WIDTH; n++)
        fputc('-', o->f);
    fputc('\n', o->f);
}

static void key(struct out *o, const char *k, const char *v)
{
    fprintf(o->f, "%-11s = %s\n", k, v);
}

static void notes_for(struct out *o, const struct pc_arr_conf *c, int farm)
{
    for (size_t i = 0; i < c->nnotes; i++)
        if (c->notes[i].farm == farm)
            comment(o, "# CHECK:", c->notes[i].text);
}

/* ---- members and roles ------------------------------------------------------------------ */

static bool valid_server(const char *s)
{
    unsigned char a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1 || pc_arr_valid_host(s);
}

/* The port most enabled servers of F have (the first one on a tie), HTTPS or HTTP. */
static int common_port(const struct pc_arr_farm *f, bool https)
{
    int best = 0;
    size_t best_n = 0;
    for (size_t i = 0; i < f->nservers; i++) {
        int p = https ? f->servers[i].https_port : f->servers[i].http_port;
        size_t n = 0;
        for (size_t j = 0; j < f->nservers; j++)
            n += f->servers[j].enabled &&
                 (https ? f->servers[j].https_port : f->servers[j].http_port) == p;
        if (f->servers[i].enabled && n > best_n)
            best = p, best_n = n;
    }
    return best;
}

/* "fe01 10.0.1.12 [2001:db8::5]:4444": the enabled, valid servers, a port where it is not the
 * pool's. */
static char *servers_text(struct pc_arr_conf *c, const struct pc_arr_farm *f, int https_port)
{
    char *s = pc_arr_strdup(c, "");
    for (size_t i = 0; i < f->nservers; i++) {
        const struct pc_arr_server *m = &f->servers[i];
        if (!m->enabled || !valid_server(m->address))
            continue;
        bool v6 = strchr(m->address, ':') != NULL;
        if (m->https_port == https_port)
            s = pc_arr_printf(c, "%s%s%s", s, *s ? " " : "", m->address);
        else
            s = pc_arr_printf(c, "%s%s%s%s%s:%d", s, *s ? " " : "", v6 ? "[" : "", m->address,
                              v6 ? "]" : "", m->https_port);
    }
    return s;
}

/* Whether a word of TEXT (runs of letters and digits, trailing digits dropped) names a
 * Director ("dir", "webdir", "director", "lyncdir01") or Office Web Apps; *WORD gets it. */
static bool hint_in(struct pc_arr_conf *c, const char *text, bool director, const char **word)
{
    static const char *const owa[] = {"owa",           "wac",          "oos", "office",
                                      "officewebapps", "officeonline", NULL};
    for (const char *p = text; *p;) {
        size_t n = 0;
        while (p[n] && isalnum((unsigned char)p[n]))
            n++;
        char *w = pc_arr_printf(c, "%.*s", (int)n, p);
        size_t len = strlen(w);
        for (size_t i = 0; i < len; i++)
            w[i] = (char)tolower((unsigned char)w[i]);
        while (len && isdigit((unsigned char)w[len - 1]))
            w[--len] = '\0';
        bool hit = false;
        if (director)
            hit = strncmp(w, "dir", 3) == 0 || (len >= 3 && strcmp(w + len - 3, "dir") == 0);
        for (size_t i = 0; !director && owa[i] && !hit; i++)
            hit = strcmp(w, owa[i]) == 0;
        if (hit) {
            *word = w;
            return true;
        }
        p += n ? n : 1;
    }
    return false;
}

static bool pool_hint(struct pc_arr_conf *c, const struct pool *p, bool director, const char **word)
{
    for (size_t i = 0; i < p->nfarms; i++) {
        const struct pc_arr_farm *f = &c->farms[p->farms[i]];
        if (hint_in(c, f->name, director, word))
            return true;
        for (size_t j = 0; j < f->nservers; j++)
            if (hint_in(c, f->servers[j].address, director, word))
                return true;
    }
    for (size_t i = 0; i < p->nnames; i++)
        if (hint_in(c, c->names[p->names[i]].name, director, word))
            return true;
    return false;
}

/* The role, and *WHY the inference in words; *SURE false when it is a guess to check. */
static enum role infer_role(struct pc_arr_conf *c, const struct pool *p, const char **why,
                            bool *sure)
{
    const char *w = NULL;
    *sure = true;
    if (p->https_port == 4443 || p->http_port == 8080) {
        const char *ports = pc_arr_printf(c,
                                          "the members listen on HTTPS %d and HTTP %d, which "
                                          "are the ports of Lync's external web site",
                                          p->https_port, p->http_port);
        if (pool_hint(c, p, true, &w)) {
            *why = pc_arr_printf(c,
                                 "%s, and '%s' in the farm, member or published names "
                                 "points to a Director pool",
                                 ports, w);
            return ROLE_DIRECTOR;
        }
        *why = pc_arr_printf(c,
                             "%s; no 'dir' in the farm, member or published names, so a "
                             "Front End pool (a Director only changes the name in the logs and "
                             "in portico ports)",
                             ports);
        return ROLE_FRONTEND;
    }
    if (p->https_port == 443) {
        if (pool_hint(c, p, false, &w)) {
            *why = pc_arr_printf(c,
                                 "the members listen on HTTPS 443, the port of Office Web "
                                 "Apps, and '%s' is in the names",
                                 w);
            return ROLE_OWA;
        }
        *why = "the members listen on HTTPS 443, the port of Office Web Apps, but no name says "
               "so (owa, wac, oos, office): if this is another server, make it role = generic";
        *sure = false;
        return ROLE_OWA;
    }
    *why = pc_arr_printf(c,
                         "the members listen on HTTPS %d, neither Lync's 4443 nor Office "
                         "Web Apps' 443",
                         p->https_port);
    return ROLE_GENERIC;
}

/* ---- port 80 ---------------------------------------------------------------------------- */

static bool is_lyncdiscover(const char *n)
{
    return strncmp(n, "lyncdiscover.", 13) == 0;
}

/* What mode M does for name N of a pool with or without an HTTP port. */
static enum pc_arr_http mode_gives(enum http m, const char *n, bool http_port)
{
    if (m == HTTP_FORWARD || (m == HTTP_AUTO && http_port && is_lyncdiscover(n)))
        return PC_ARR_HTTP_FORWARD;
    return PC_ARR_HTTP_REDIRECT;
}

/* Names whose ARR behaviour mode M changes (a name ARR did not handle over HTTP fits any). */
static size_t violations(const struct pc_arr_conf *c, const size_t *idx, size_t n, enum http m,
                         bool http_port)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const struct pc_arr_name *nm = &c->names[idx[i]];
        enum pc_arr_http want = nm->http == PC_ARR_HTTP_TLS ? PC_ARR_HTTP_REDIRECT : nm->http;
        bad += want != PC_ARR_HTTP_UNSET && want != mode_gives(m, nm->name, http_port);
    }
    return bad;
}

/* The first of auto, forward, redirect that keeps every name's behaviour, else the one that
 * changes the fewest; returns how many it changes. */
static size_t best_http(const struct pc_arr_conf *c, const size_t *idx, size_t n, bool http_port,
                        enum http *mode)
{
    size_t best = (size_t)-1;
    for (enum http m = HTTP_AUTO; m < HTTP_NMODES; m++) {
        if (m == HTTP_FORWARD && !http_port)
            continue;
        size_t v = violations(c, idx, n, m, http_port);
        if (v < best)
            best = v, *mode = m;
    }
    /* auto that forwards every name, or none, is written as what it does. */
    size_t fwd = 0;
    for (size_t i = 0; *mode == HTTP_AUTO && i < n; i++)
        fwd += mode_gives(HTTP_AUTO, c->names[idx[i]].name, http_port) == PC_ARR_HTTP_FORWARD;
    if (*mode == HTTP_AUTO && n && (fwd == 0 || fwd == n))
        *mode = fwd ? HTTP_FORWARD : HTTP_REDIRECT;
    return best;
}

static bool any_port80(const struct pc_arr_conf *c)
{
    for (size_t i = 0; i < c->nnames; i++)
        if (c->names[i].http != PC_ARR_HTTP_UNSET)
            return true;
    return false;
}

static bool http_listener(const struct pc_arr_conf *c)
{
    return !(c->have_sites && c->http_port == 0) && any_port80(c);
}

/* ---- grouping farms into pools ---------------------------------------------------------- */

static char *farm_key(struct pc_arr_conf *c, int fi)
{
    const struct pc_arr_farm *f = &c->farms[fi];
    int https = common_port(f, true);
    return pc_arr_printf(c, "%s|%d|%d|%d%d|%g", servers_text(c, f, https), https,
                         common_port(f, false), f->cookie, f->source, f->health_interval);
}

static void add_farm(struct pool *p, int fi)
{
    p->farms = pc_arr_grow(p->farms, p->nfarms, &p->cap_farms, sizeof *p->farms);
    p->farms[p->nfarms++] = fi;
}

static void add_names(struct pc_arr_conf *c, struct pool *p, int fi)
{
    for (size_t i = 0; i < c->nnames; i++) {
        if (c->names[i].farm != fi)
            continue;
        p->names = pc_arr_grow(p->names, p->nnames, &p->cap_names, sizeof *p->names);
        p->names[p->nnames++] = i;
    }
}

/* Whether FI's names can join P: one `http` must still keep every name's port-80 behaviour
 * (or as many as P alone). */
static bool can_join(struct pc_arr_conf *c, const struct pool *p, int fi)
{
    size_t *idx = calloc(p->nnames + c->nnames, sizeof *idx), n = p->nnames;
    if (!idx)
        return false;
    memcpy(idx, p->names, p->nnames * sizeof *idx);
    for (size_t i = 0; i < c->nnames; i++)
        if (c->names[i].farm == fi)
            idx[n++] = i;
    enum http m;
    bool ok = best_http(c, idx, n, p->http_port != 0, &m) ==
              best_http(c, p->names, p->nnames, p->http_port != 0, &m);
    free(idx);
    return ok;
}

static const char *unique_name(struct pc_arr_conf *c, const struct pool *pools, size_t n,
                               const char *farm)
{
    char *s = pc_arr_strdup(c, *farm ? farm : "pool");
    for (char *q = s; *q; q++)
        if (!isalnum((unsigned char)*q) && *q != '.' && *q != '-' && *q != '_')
            *q = '-';
    const char *name = s;
    for (int k = 2;; k++) {
        bool taken = false;
        for (size_t i = 0; i < n && !taken; i++)
            taken = strcasecmp(pools[i].name, name) == 0;
        if (!taken)
            return name;
        name = pc_arr_printf(c, "%s-%d", s, k);
    }
}

static bool importable(const struct pc_arr_conf *c, int fi)
{
    const struct pc_arr_farm *f = &c->farms[fi];
    size_t up = 0;
    for (size_t i = 0; i < f->nservers; i++)
        up += f->servers[i].enabled && valid_server(f->servers[i].address);
    return f->enabled && f->routed && up > 0;
}

static struct pool *group(struct pc_arr_conf *c, size_t *npools)
{
    struct pool *pools = NULL;
    size_t n = 0, cap = 0;
    for (size_t fi = 0; fi < c->nfarms; fi++) {
        if (!importable(c, (int)fi))
            continue;
        const char *k = farm_key(c, (int)fi);
        struct pool *p = NULL;
        for (size_t i = 0; i < n && !p; i++)
            if (strcmp(pools[i].key, k) == 0 && can_join(c, &pools[i], (int)fi))
                p = &pools[i];
        if (!p) {
            pools = pc_arr_grow(pools, n, &cap, sizeof *pools);
            p = &pools[n];
            const struct pc_arr_farm *f = &c->farms[fi];
            *p = (struct pool){.name = unique_name(c, pools, n, f->name),
                               .https_port = common_port(f, true),
                               .http_port = common_port(f, false),
                               .key = k};
            n++;
        }
        add_farm(p, (int)fi);
        add_names(c, p, (int)fi);
        c->farms[fi].pool = (int)(p - pools);
    }
    *npools = n;
    return pools;
}

static void free_pools(struct pool *pools, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(pools[i].farms);
        free(pools[i].names);
    }
    free(pools);
}

/* ---- [proxy] ---------------------------------------------------------------------------- */

static void emit_listeners(struct out *o, struct pc_arr_conf *c)
{
    char *ext = pc_arr_strdup(c, "");
    unsigned char a[16];
    for (size_t i = 0; i < c->nexternal; i++) {
        const char *ip = c->external[i];
        if (inet_pton(AF_INET, ip, a) == 1 || inet_pton(AF_INET6, ip, a) == 1)
            ext = pc_arr_printf(c, "%s%s%s", ext, *ext ? " " : "", ip);
        else
            commentf(o, "# CHECK:", "a binding on '%s', which is not an address, is left out", ip);
    }
    if (*ext && !c->external_any) {
        commentf(o, "#",
                 "The addresses the sites' https and http bindings listen on (from line "
                 "%d).",
                 c->binding_line);
        key(o, "external", ext);
    } else {
        comment(o, "#",
                c->have_sites
                    ? "The sites' bindings listen on every address ('*'): so "
                      "does portico by default. Set external to the external interface's address."
                    : "No site bindings in the file: set external to the external interface's "
                      "address.");
        fputs("# external    = 203.0.113.10\n", o->f);
    }
    comment(o, "#",
            "The internal interface's address, the source of every connection to the "
            "pools (not in applicationHost.config; without it the kernel chooses):");
    fputs("# internal    = 10.0.0.5\n", o->f);
    if (c->https_port < 0)
        comment(o, "# CHECK:",
                "the https bindings use several ports; portico listens on one: "
                "443 is written");
    else if (c->have_sites && c->https_port == 0)
        comment(o, "# CHECK:",
                "no site has an https binding: was this server the reverse "
                "proxy? 443 is written");
    char port[16];
    snprintf(port, sizeof port, "%d", c->https_port > 0 ? c->https_port : 443);
    key(o, "https_port", port);
    if (!http_listener(c)) {
        comment(o, "#",
                c->have_sites && c->http_port == 0
                    ? "No site has an http binding: port 80 stays closed."
                    : "No imported rule handles plain HTTP ({HTTPS} off): port 80 stays "
                      "closed. Set http_port = 80 to redirect to https:// and forward "
                      "lyncdiscover (docs/lync-publishing.md).");
        key(o, "http_port", "off");
        return;
    }
    if (c->http_port < 0)
        comment(o, "# CHECK:",
                "the http bindings use several ports; portico listens on one: 80 "
                "is written");
    snprintf(port, sizeof port, "%d", c->http_port > 0 ? c->http_port : 80);
    key(o, "http_port", port);
}

static void emit_timeout(struct out *o, struct pc_arr_conf *c)
{
    double max = 0;
    const char *list = pc_arr_strdup(c, ""), *text = NULL;
    bool differ = false;
    for (size_t i = 0; i < c->nfarms; i++) {
        const struct pc_arr_farm *f = &c->farms[i];
        if (f->pool < 0 || f->timeout <= 0)
            continue;
        differ = differ || (max > 0 && f->timeout != max);
        if (f->timeout > max)
            max = f->timeout, text = f->timeout_text;
        list = pc_arr_printf(c, "%s%s'%s' %s", list, *list ? ", " : "", f->name, f->timeout_text);
    }
    if (max <= 0) {
        comment(o, "#",
                "No imported farm sets a protocol timeout: portico's timeout_idle "
                "default is kept (1860 s of silence, above UCWA's 1800 s pending GET).");
        return;
    }
    if (differ)
        commentf(o, "# CHECK:",
                 "the farms' protocol timeouts differ (%s); portico has one "
                 "timeout_idle for every pool: the longest is written",
                 list);
    if (max < 1800)
        commentf(o, "# CHECK:",
                 "a timeout of %g s is below UCWA's longest pending GET (1800 s; "
                 "Microsoft asks for at least 960 s with mobile clients); portico's default, "
                 "1860, suits Lync: consider deleting this line",
                 max);
    commentf(o, "#", "From the farm's protocol timeout (%s): seconds a request may stay silent.",
             text);
    char v[32];
    snprintf(v, sizeof v, "%.3f", max);
    for (size_t n = strlen(v); n > 0 && (v[n - 1] == '0' || v[n - 1] == '.'); n--) {
        bool dot = v[n - 1] == '.';
        v[n - 1] = '\0';
        if (dot)
            break;
    }
    fprintf(o->f, "timeout_idle = %s\n", v);
}

static void emit_proxy(struct out *o, struct pc_arr_conf *c, size_t npools)
{
    fputs("\n[proxy]\n", o->f);
    emit_listeners(o, c);
    comment(o, "# CHECK:",
            "certificate and key are placeholders: IIS keeps the certificate of "
            "its https binding in the Windows certificate store, not in this file. Export it with "
            "its private key (a .pfx), convert it to PEM (openssl pkcs12 -in public.pfx -nokeys "
            "-out public.pem; openssl pkcs12 -in public.pfx -nocerts -nodes -out public.key) "
            "and put the paths here; until then portico -t names the missing files");
    key(o, "certificate", CERT_PLACEHOLDER);
    key(o, "key", KEY_PLACEHOLDER);
    comment(o, "# CHECK:",
            "IIS takes its TLS versions from the registry (SCHANNEL), not from "
            "this file. portico accepts TLS 1.2 and 1.3; if Lync 2010/2013 clients, Lync 2013 "
            "mobile or Lync Phone Edition connect, add tls_min = 1.0 (docs/lync-publishing.md)");
    if (npools)
        comment(o, "# CHECK:",
                "every pool's ca is a placeholder: the certificate of the CA "
                "that issued the members' certificates, in PEM (from a .cer: openssl x509 "
                "-inform der -in root.cer -out internal-ca.pem)");
    emit_timeout(o, c);
}

/* ---- a pool ----------------------------------------------------------------------------- */

static void emit_origin(struct out *o, struct pc_arr_conf *c, const struct pool *p)
{
    const char *farms = pc_arr_strdup(c, "");
    for (size_t i = 0; i < p->nfarms; i++) {
        const struct pc_arr_farm *f = &c->farms[p->farms[i]];
        farms = pc_arr_printf(c, "%s%s'%s' (line %d)", farms, i ? ", " : "", f->name, f->line);
    }
    commentf(o, "#", "From server farm%s %s%s.", p->nfarms > 1 ? "s" : "", farms,
             p->nfarms > 1 ? ": the same members, ports and settings" : "");
    /* Which rule gave which names. */
    for (size_t i = 0; i < p->nnames; i++) {
        const struct pc_arr_name *nm = &c->names[p->names[i]];
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            first = c->names[p->names[j]].rule_line != nm->rule_line;
        if (!first)
            continue;
        const char *list = nm->name;
        for (size_t j = i + 1; j < p->nnames; j++)
            if (c->names[p->names[j]].rule_line == nm->rule_line)
                list = pc_arr_printf(c, "%s, %s", list, c->names[p->names[j]].name);
        commentf(o, "#", "Rule '%s' (line %d) routes %s here.", nm->rule, nm->rule_line, list);
    }
}

static void emit_members(struct out *o, struct pc_arr_conf *c, const struct pool *p)
{
    for (size_t i = 0; i < p->nfarms; i++) {
        const struct pc_arr_farm *f = &c->farms[p->farms[i]];
        bool weights = false;
        for (size_t j = 0; j < f->nservers; j++) {
            const struct pc_arr_server *s = &f->servers[j];
            weights = weights || (s->enabled && s->weight != f->servers[0].weight);
            if (!s->enabled && i == 0)
                commentf(o, "# CHECK:",
                         "line %d: server '%s' is disabled in ARR: left out of "
                         "servers (add it back when it returns)",
                         s->line, s->address);
            else if (!valid_server(s->address) && i == 0)
                commentf(o, "# CHECK:",
                         "line %d: server '%s' is neither a host name nor an "
                         "address: left out",
                         s->line, s->address);
            else if (s->enabled && s->http_port != p->http_port && i == 0)
                commentf(o, "# CHECK:",
                         "line %d: server '%s' has httpPort %d; portico has one "
                         "http_port per pool: %d is written",
                         s->line, s->address, s->http_port, p->http_port);
        }
        if (weights && i == 0)
            commentf(o, "# CHECK:",
                     "the servers of farm '%s' have different weights; portico "
                     "gives every member the same share",
                     f->name);
    }
    key(o, "servers", servers_text(c, &c->farms[p->farms[0]], p->https_port));
    const char *pub = pc_arr_strdup(c, "");
    for (size_t i = 0; i < p->nnames; i++)
        pub = pc_arr_printf(c, "%s%s%s", pub, i ? " " : "", c->names[p->names[i]].name);
    key(o, "publish", pub);
}

/* The names of P that mode M treats as HOW, and what ARR did with them (WAS). */
static const char *names_where(struct pc_arr_conf *c, const struct pool *p, enum http m,
                               bool http_port, enum pc_arr_http how, enum pc_arr_http was)
{
    const char *list = NULL;
    for (size_t i = 0; i < p->nnames; i++) {
        const struct pc_arr_name *nm = &c->names[p->names[i]];
        if (nm->http == was && mode_gives(m, nm->name, http_port) == how)
            list = list ? pc_arr_printf(c, "%s, %s", list, nm->name) : nm->name;
    }
    return list;
}

static void emit_http(struct out *o, struct pc_arr_conf *c, const struct pool *p, bool lync)
{
    enum http m = HTTP_AUTO;
    bool hp = p->http_port != 0;
    best_http(c, p->names, p->nnames, hp, &m);
    static const char *const did[] = {"had no HTTP rule for %s", "forwarded %s", "redirected %s",
                                      "sent %s to the farm's HTTPS port"};
    static const char *const does[] = {"", "forwards to http_port", "redirects to https://"};
    char port[16];
    snprintf(port, sizeof port, "%d", p->http_port);
    bool forwards = false;
    for (size_t i = 0; i < p->nnames && !forwards; i++)
        forwards = mode_gives(m, c->names[p->names[i]].name, hp) == PC_ARR_HTTP_FORWARD;
    if (lync || forwards) /* otherwise the role's default, none, is what it does */
        key(o, "http_port", port);
    for (int was = PC_ARR_HTTP_UNSET; was <= PC_ARR_HTTP_TLS; was++) {
        for (int how = PC_ARR_HTTP_FORWARD; how <= PC_ARR_HTTP_REDIRECT; how++) {
            const char *l = names_where(c, p, m, hp, (enum pc_arr_http)how, (enum pc_arr_http)was);
            if (!l)
                continue;
            bool changed = was != PC_ARR_HTTP_UNSET && was != PC_ARR_HTTP_TLS && was != how;
            bool opened = was == PC_ARR_HTTP_UNSET && how == PC_ARR_HTTP_FORWARD;
            const char *arr = pc_arr_printf(c, did[was], l);
            commentf(o, changed || opened ? "# CHECK:" : "#", "Port 80: ARR %s; portico %s%s", arr,
                     does[how],
                     changed  ? " (one http mode per pool cannot keep both)"
                     : opened ? ": open that port from portico to the members"
                              : ".");
        }
    }
    key(o, "http", http_word[m]);
}

static void emit_pool(struct out *o, struct pc_arr_conf *c, const struct pool *p, bool port80)
{
    rule_line(o, pc_arr_printf(c, "pool %s", p->name));
    emit_origin(o, c, p);
    for (size_t i = 0; i < p->nfarms; i++)
        notes_for(o, c, p->farms[i]);
    fprintf(o->f, "[pool %s]\n", p->name);
    const char *why;
    bool sure;
    enum role r = infer_role(c, p, &why, &sure);
    commentf(o, sure ? "#" : "# CHECK:", "Role inferred: %s.", why);
    key(o, "role", role_word[r]);
    emit_members(o, c, p);
    char port[16];
    snprintf(port, sizeof port, "%d", p->https_port);
    key(o, "https_port", port);
    bool lync = r == ROLE_FRONTEND || r == ROLE_DIRECTOR;
    if (port80) {
        emit_http(o, c, p, lync);
    } else if (lync) {
        snprintf(port, sizeof port, "%d", p->http_port);
        key(o, "http_port", port);
    }
    comment(o, "#",
            r == ROLE_OWA ? "The CA of the members' certificates (SSL bridging verifies "
                            "them). If the farm's certificate is from a public CA, delete this "
                            "line: the system's "
                            "store is used."
                          : "The CA of the members' certificates (SSL bridging verifies them).");
    key(o, "ca", CA_PLACEHOLDER);
    const struct pc_arr_farm *f = &c->farms[p->farms[0]];
    if (f->cookie)
        comment(o, "#",
                "From affinity useCookie=\"true\". portico's cookie is MS-WSMAN, not "
                "ARRAffinity: a client keeps its member from its next response on.");
    else if (f->source)
        comment(o, "#", "From load balancing RequestHash on REMOTE_ADDR: by client address.");
    key(o, "affinity", f->cookie ? "cookie" : f->source ? "source" : "none");
    if (f->health_interval > 0)
        fprintf(o->f, "health_interval = %g\n", f->health_interval);
}

static void emit_left_out(struct out *o, struct pc_arr_conf *c)
{
    for (size_t i = 0; i < c->nfarms; i++) {
        const struct pc_arr_farm *f = &c->farms[i];
        if (f->pool >= 0)
            continue;
        rule_line(o, pc_arr_printf(c, "server farm %s: not imported", f->name));
        const char *members = pc_arr_strdup(c, "");
        for (size_t j = 0; j < f->nservers; j++)
            members =
                pc_arr_printf(c, "%s%s%s (HTTPS %d, HTTP %d%s)", members, j ? ", " : "",
                              f->servers[j].address, f->servers[j].https_port,
                              f->servers[j].http_port, f->servers[j].enabled ? "" : ", disabled");
        const char *names = NULL;
        for (size_t j = 0; j < c->nnames; j++)
            if (c->names[j].farm == (int)i)
                names =
                    names ? pc_arr_printf(c, "%s, %s", names, c->names[j].name) : c->names[j].name;
        const char *why = !f->enabled  ? "it is disabled (enabled=\"false\")"
                          : !f->routed ? "no imported rule routes a name to it"
                                       : "it has no enabled server";
        commentf(o, "# CHECK:",
                 "server farm '%s' (line %d) is not imported: %s. Its members: "
                 "%s.%s%s Write a [pool] for it if it is still wanted.",
                 f->name, f->line, why, *members ? members : "none",
                 names ? " The rules route these names to it, "
                         "which are not published: "
                       : "",
                 names ? pc_arr_printf(c, "%s.", names) : "");
        notes_for(o, c, (int)i);
    }
}

static void emit_header(FILE *f, const struct pc_arr_conf *c, const struct pc_arr_counts *n)
{
    struct out o = {f, 0};
    commentf(&o, "#",
             "portico.conf, converted by `portico import-arr` from %s (IIS Application "
             "Request Routing). docs/import-arr.md says what is mapped and how.",
             c->base);
    fputs("#\n# Before using it:\n", f);
    comment(&o, "#   1.",
            "Read every CHECK comment: what the import could not map, or guessed. "
            "Act on it, then delete it.");
    comment(&o, "#   2.",
            "Replace the CHANGE-ME paths with the public certificate and key and "
            "the internal CA (PEM).");
    comment(&o, "#   3.",
            "portico -t -c THIS-FILE (it names every file still missing), then "
            "portico probe -c THIS-FILE on the proxy host.");
    fputs("#\n", f);
    commentf(&o, "#",
             "Read: %zu server farm%s, %zu global rule%s. Written: %zu pool%s, %zu "
             "published name%s, %zu CHECK comment%s.",
             c->nfarms, c->nfarms == 1 ? "" : "s", c->nrules, c->nrules == 1 ? "" : "s", n->pools,
             n->pools == 1 ? "" : "s", n->names, n->names == 1 ? "" : "s", n->checks,
             n->checks == 1 ? "" : "s");
}

char *pc_arr_emit(struct pc_arr_conf *c, struct pc_arr_counts *counts)
{
    size_t n = 0;
    struct pool *pools = group(c, &n);
    char *body = NULL, *all = NULL;
    size_t blen = 0, alen = 0;
    struct out o = {open_memstream(&body, &blen), 0};
    if (!o.f)
        return NULL;
    bool any_global = false;
    for (size_t i = 0; i < c->nnotes && !any_global; i++)
        any_global = c->notes[i].farm == -1;
    if (any_global) {
        rule_line(&o, "for the whole file");
        notes_for(&o, c, -1);
    }
    emit_proxy(&o, c, n);
    for (size_t i = 0; i < n; i++)
        emit_pool(&o, c, &pools[i], http_listener(c));
    emit_left_out(&o, c);
    fclose(o.f);
    *counts = (struct pc_arr_counts){.pools = n, .checks = o.nchecks};
    for (size_t i = 0; i < n; i++)
        counts->names += pools[i].nnames;
    FILE *f = open_memstream(&all, &alen);
    if (f) {
        emit_header(f, c, counts);
        fputs(body, f);
        fclose(f);
    }
    free(body);
    free_pools(pools, n);
    return all;
}
