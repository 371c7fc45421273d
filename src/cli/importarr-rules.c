/* importarr-rules.c — the URL Rewrite global rules of an applicationHost.config as published
 * names (docs/import-arr.md, "Published names" and "Port 80").
 *
 * A rule is imported when it routes by host alone: it matches every URL, its conditions are on
 * {HTTP_HOST} (the names) and {HTTPS} (which listener), and its action rewrites to a server
 * farm keeping the path, or redirects to https:// on the same host. Host patterns are expanded
 * into names: literals, \. and \-, groups with alternatives, '?' after an item, a leading
 * "anything." (a portico wildcard "*.suffix"); anything else is a CHECK. Then every name is run
 * through the imported rules in order, as ARR would: the first rule that matches it with
 * {HTTPS} on gives its farm, the first with {HTTPS} off its port-80 behaviour. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/importarr-t.h"

#define MAX_NAMES 64 /* names one pattern may expand to */

/* ---- lists of strings ------------------------------------------------------------------- */

struct strv {
    char **v;
    size_t n, cap;
};

static bool sv_has(const struct strv *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return true;
    return false;
}

/* Adds X (malloc'd, owned from here on) unless it is there already. */
static void sv_add(struct strv *s, char *x)
{
    if (!x || sv_has(s, x)) {
        free(x);
        return;
    }
    s->v = pc_arr_grow(s->v, s->n, &s->cap, sizeof *s->v);
    s->v[s->n++] = x;
}

static void sv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    *s = (struct strv){0};
}

static char *concat(const char *a, const char *b)
{
    char *s = NULL;
    return asprintf(&s, "%s%s", a, b) < 0 ? NULL : s;
}

/* ---- host patterns ---------------------------------------------------------------------- */

enum syntax { SYN_REGEX, SYN_WILDCARD, SYN_EXACT };

struct rx {
    const char *p;
    int depth;
    char why[96];
};

static bool rx_alt(struct rx *r, struct strv *out);

static bool rx_atom(struct rx *r, struct strv *out)
{
    char c = *r->p, lit[2] = {0, 0};
    if (c == '(') {
        r->p += r->p[1] == '?' && r->p[2] == ':' ? 3 : 1;
        if (*r->p == '?' || ++r->depth > 8) {
            snprintf(r->why, sizeof r->why, "%s", *r->p == '?' ? "a (?...) group" : "deep nesting");
            return false;
        }
        if (!rx_alt(r, out))
            return false;
        r->depth--;
        if (*r->p != ')') {
            snprintf(r->why, sizeof r->why, "an unbalanced '('");
            return false;
        }
        r->p++;
        return true;
    }
    if (c == '\\' && (r->p[1] == '.' || r->p[1] == '-')) {
        lit[0] = r->p[1];
        r->p += 2;
    } else if (isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.') {
        /* An unescaped '.' matches any character in ARR; in a host pattern a dot is meant. */
        lit[0] = (char)tolower((unsigned char)c);
        r->p++;
    } else {
        snprintf(r->why, sizeof r->why, "'%.*s'", c == '\\' && r->p[1] ? 2 : 1, r->p);
        return false;
    }
    sv_add(out, strdup(lit));
    return true;
}

static bool rx_seq(struct rx *r, struct strv *out)
{
    sv_add(out, strdup(""));
    while (*r->p && *r->p != '|' && *r->p != ')') {
        struct strv atom = {0}, next = {0};
        bool ok = rx_atom(r, &atom);
        if (ok && *r->p == '?') { /* the shorter name first: "" before the item */
            struct strv opt = {0};
            sv_add(&opt, strdup(""));
            for (size_t i = 0; i < atom.n; i++, atom.v[i - 1] = NULL)
                sv_add(&opt, atom.v[i]);
            sv_free(&atom);
            atom = opt;
            r->p++;
        } else if (ok && (*r->p == '*' || *r->p == '+' || *r->p == '{')) {
            snprintf(r->why, sizeof r->why, "a repetition '%c'", *r->p);
            ok = false;
        }
        for (size_t i = 0; ok && i < out->n; i++)
            for (size_t j = 0; j < atom.n; j++)
                sv_add(&next, concat(out->v[i], atom.v[j]));
        if (ok && next.n > MAX_NAMES) {
            snprintf(r->why, sizeof r->why, "more than %d names", MAX_NAMES);
            ok = false;
        }
        sv_free(&atom);
        sv_free(out);
        *out = next;
        if (!ok)
            return false;
    }
    return true;
}

static bool rx_alt(struct rx *r, struct strv *out)
{
    for (;;) {
        struct strv seq = {0};
        bool ok = rx_seq(r, &seq);
        for (size_t i = 0; ok && i < seq.n; i++) {
            sv_add(out, seq.v[i]);
            seq.v[i] = NULL;
        }
        sv_free(&seq);
        if (ok && out->n > MAX_NAMES) {
            snprintf(r->why, sizeof r->why, "more than %d names", MAX_NAMES);
            ok = false;
        }
        if (!ok || *r->p != '|')
            return ok;
        r->p++;
    }
}

/* What "anything." looks like at the start of a host pattern: the subdomains of the rest. */
static const char *const any_prefix[] = {"(.*)\\.",    ".*\\.",    "(.+)\\.", ".+\\.",
                                         "([^.]+)\\.", "[^.]+\\.", "(.*).",   ".*.",
                                         "(.+).",      ".+.",      NULL};
static const char *const any_all[] = {"", ".*", "(.*)", ".+", "(.+)", NULL};

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static bool expand_regex(char *pat, struct strv *out, bool *all, char *why, size_t whylen)
{
    if (*pat == '^')
        pat++;
    size_t n = strlen(pat);
    if (n && pat[n - 1] == '$' && (n < 2 || pat[n - 2] != '\\'))
        pat[--n] = '\0';
    if (in_list(pat, any_all)) {
        *all = true;
        return true;
    }
    const char *wild = NULL;
    for (size_t i = 0; any_prefix[i] && !wild; i++)
        if (strncmp(pat, any_prefix[i], strlen(any_prefix[i])) == 0)
            wild = any_prefix[i];
    struct rx r = {.p = pat + (wild ? strlen(wild) : 0)};
    struct strv got = {0};
    bool ok = rx_alt(&r, &got);
    if (ok && *r.p) {
        snprintf(r.why, sizeof r.why, "an unbalanced ')'");
        ok = false;
    }
    for (size_t i = 0; ok && i < got.n; i++)
        sv_add(out, wild ? concat("*.", got.v[i]) : strdup(got.v[i]));
    if (!ok)
        snprintf(why, whylen, "%s", r.why);
    sv_free(&got);
    return ok;
}

/* Expands PAT (SYN's syntax) into lower-case strings; *ALL when it matches anything. */
static bool expand(const char *pat, enum syntax syn, struct strv *out, bool *all, char *why,
                   size_t whylen)
{
    char *p = strdup(pat);
    if (!p)
        return false;
    for (char *q = p; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    bool ok = true;
    *all = false;
    if (syn == SYN_REGEX) {
        ok = expand_regex(p, out, all, why, whylen);
    } else if (syn == SYN_WILDCARD && (strcmp(p, "*") == 0 || *p == '\0')) {
        *all = true;
    } else if (syn == SYN_WILDCARD && strpbrk(p[0] == '*' && p[1] == '.' ? p + 2 : p, "*?")) {
        snprintf(why, whylen, "a wildcard other than a leading '*.'");
        ok = false;
    } else {
        sv_add(out, strdup(p));
    }
    free(p);
    return ok;
}

/* ---- one rule --------------------------------------------------------------------------- */

enum act { ACT_FARM, ACT_REDIRECT };

struct rule {
    const char *name;
    int line;
    bool stop;
    bool on, off;   /* which listeners it takes: {HTTPS} on, off */
    bool all_hosts; /* no {HTTP_HOST} condition, or one that matches anything */
    struct strv hosts;
    enum act act;
    int farm; /* ACT_FARM: where it rewrites to */
    bool tls; /* ACT_FARM: https:// (the farm's httpsPort) or http:// (its httpPort) */
    bool decided, warned_stop, warned_offload, warned_reencrypt;
};

struct rule_ctx {
    struct pc_arr_conf *c;
    struct rule *r;
    enum syntax syn;
    bool group;    /* the match url has a capture group: {R:1} is the path too */
    int farm_note; /* the farm notes about this rule go with */
};

static enum syntax syntax_of(const char *s)
{
    if (s && strcasecmp(s, "Wildcard") == 0)
        return SYN_WILDCARD;
    if (s && strcasecmp(s, "ExactMatch") == 0)
        return SYN_EXACT;
    return SYN_REGEX; /* ECMAScript, the default */
}

/* Notes why the rule is not imported; returns false for the caller to return. */
static bool skip(struct rule_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool skip(struct rule_ctx *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = NULL;
    if (vasprintf(&why, fmt, ap) < 0)
        why = NULL;
    va_end(ap);
    pc_arr_check(x->c, x->farm_note, "line %d: rule '%s' is not imported: %s", x->r->line,
                 x->r->name, why ? why : fmt);
    free(why);
    return false;
}

static bool read_match(struct rule_ctx *x, xmlNode *m)
{
    const char *url = pc_arr_attr(x->c, m, "url");
    bool negate = false;
    pc_arr_bool(x->c, x->farm_note, m, "negate", &negate);
    if (!url)
        url = "";
    static const char *const all_regex[] = {"",    ".*",    "(.*)", "^.*",    "^(.*)",
                                            ".*$", "(.*)$", "^.*$", "^(.*)$", NULL};
    bool all = x->syn == SYN_WILDCARD ? strcmp(url, "*") == 0 || *url == '\0'
                                      : x->syn == SYN_REGEX && in_list(url, all_regex);
    if (negate || !all)
        return skip(x,
                    "it matches only the URLs %s'%s', not every path; portico publishes a "
                    "name with all its paths, so these requests go where the name's other rules "
                    "send them",
                    negate ? "not matching " : "", url);
    x->group = strchr(url, '(') != NULL;
    return true;
}

static bool read_host_condition(struct rule_ctx *x, const char *pat, bool negate)
{
    struct rule *r = x->r;
    char why[128] = "";
    bool all = false, ok = true;
    struct strv got = {0};
    if (negate)
        return skip(x,
                    "its {HTTP_HOST} condition is negated ('%s'); portico publishes names, "
                    "not exceptions",
                    pat);
    if (!expand(pat, x->syn, &got, &all, why, sizeof why)) {
        sv_free(&got);
        return skip(x,
                    "its host pattern '%s' cannot be turned into names (it uses %s): put "
                    "the names it should match in publish",
                    pat, why);
    }
    for (size_t i = 0; ok && i < got.n; i++) {
        char *h = got.v[i];
        size_t n = strlen(h);
        if (n > 1 && h[n - 1] == '.')
            h[n - 1] = '\0';
        if (!pc_arr_valid_host(h[0] == '*' && h[1] == '.' ? h + 2 : h))
            ok = skip(x, "its host pattern '%s' gives '%s', which is not a host name", pat, h);
    }
    r->all_hosts = r->all_hosts || all;
    for (size_t i = 0; ok && i < got.n; i++) {
        sv_add(&r->hosts, got.v[i]);
        got.v[i] = NULL;
    }
    sv_free(&got);
    return ok;
}

static bool read_https_condition(struct rule_ctx *x, const char *pat, bool negate, bool *on,
                                 bool *off)
{
    char why[128] = "";
    bool all = false, ok;
    struct strv got = {0};
    ok = expand(pat, x->syn, &got, &all, why, sizeof why);
    bool a = all, b = all;
    for (size_t i = 0; ok && i < got.n; i++) {
        a = a || strcmp(got.v[i], "on") == 0;
        b = b || strcmp(got.v[i], "off") == 0;
        ok = strcmp(got.v[i], "on") == 0 || strcmp(got.v[i], "off") == 0;
    }
    sv_free(&got);
    if (!ok)
        return skip(x, "its {HTTPS} condition '%s' is neither on nor off", pat);
    *on = negate ? !a : a;
    *off = negate ? !b : b;
    return true;
}

static bool read_conditions(struct rule_ctx *x, xmlNode *conds)
{
    struct rule *r = x->r;
    const char *grouping = pc_arr_attr(x->c, conds, "logicalGrouping");
    bool any = grouping && strcasecmp(grouping, "MatchAny") == 0;
    int nhost = 0;
    r->on = r->off = true;
    for (xmlNode *k = pc_arr_first(conds); k; k = pc_arr_next(k)) {
        if (!pc_arr_is(k, "add"))
            continue;
        const char *in = pc_arr_attr(x->c, k, "input"), *pat = pc_arr_attr(x->c, k, "pattern");
        const char *type = pc_arr_attr(x->c, k, "matchType");
        bool negate = false, on = true, off = true;
        pc_arr_bool(x->c, x->farm_note, k, "negate", &negate);
        if (!in || !pat || (type && strcasecmp(type, "Pattern") != 0))
            return skip(x, "a condition that is not a pattern on {HTTP_HOST} or {HTTPS} (%s)",
                        in ? in : "no input");
        if (strcasecmp(in, "{HTTP_HOST}") == 0) {
            if (nhost++ && !any)
                return skip(x, "%s", "two {HTTP_HOST} conditions that must both match");
            if (!read_host_condition(x, pat, negate))
                return false;
        } else if (strcasecmp(in, "{HTTPS}") == 0 && any) {
            return skip(x, "%s", "its conditions are MatchAny and mix {HTTPS} with others");
        } else if (strcasecmp(in, "{HTTPS}") == 0) {
            if (!read_https_condition(x, pat, negate, &on, &off))
                return false;
            r->on = r->on && on;
            r->off = r->off && off;
        } else {
            return skip(x, "a condition on %s, which portico does not route by", in);
        }
    }
    if (nhost == 0)
        r->all_hosts = true;
    return true;
}

/* "https://FARM/{R:0}" and its variants; *HOST gets FARM's text. */
static bool split_url(const char *url, bool *tls, const char **host, size_t *hlen,
                      const char **rest)
{
    size_t skip_scheme = strncasecmp(url, "https://", 8) == 0  ? 8
                         : strncasecmp(url, "http://", 7) == 0 ? 7
                                                               : 0;
    if (!skip_scheme)
        return false;
    *tls = skip_scheme == 8;
    *host = url + skip_scheme;
    *hlen = strcspn(*host, "/{");
    *rest = *host + *hlen;
    return *hlen > 0 || **rest == '{';
}

static bool path_kept(const struct rule_ctx *x, const char *rest)
{
    return strcmp(rest, "/{R:0}") == 0 || (x->group && strcmp(rest, "/{R:1}") == 0);
}

static bool read_rewrite(struct rule_ctx *x, xmlNode *a, const char *url)
{
    struct rule *r = x->r;
    const char *host, *rest;
    size_t hlen;
    bool append = true;
    pc_arr_bool(x->c, x->farm_note, a, "appendQueryString", &append);
    if (!url || !split_url(url, &r->tls, &host, &hlen, &rest))
        return skip(x, "it rewrites to '%s', not to a server farm", url ? url : "");
    r->farm = pc_arr_farm_index(x->c, host, hlen);
    if (r->farm < 0)
        return skip(x,
                    "it rewrites to '%s', a host that is no server farm: add a [pool] for "
                    "that server if it must stay published",
                    url);
    if (!path_kept(x, rest) || !append)
        return skip(x,
                    "it rewrites the URL ('%s'), not only the server: portico forwards the "
                    "path and query unchanged",
                    url);
    r->act = ACT_FARM;
    return true;
}

static bool read_redirect(struct rule_ctx *x, xmlNode *a, const char *url)
{
    struct rule *r = x->r;
    const char *host, *rest;
    size_t hlen;
    bool tls = false, append = true;
    pc_arr_bool(x->c, x->farm_note, a, "appendQueryString", &append);
    bool same_host =
        url && split_url(url, &tls, &host, &hlen, &rest) && tls &&
        (strncasecmp(host, "{HTTP_HOST}", 11) == 0 || strncasecmp(host, "{SERVER_NAME}", 13) == 0);
    if (same_host)
        rest = host + (host[1] == 'H' || host[1] == 'h' ? 11 : 13);
    if (!same_host || !(path_kept(x, rest) || (strcmp(rest, "{REQUEST_URI}") == 0 && !append)))
        return skip(x,
                    "it redirects to '%s'; portico redirects only to https:// on the same "
                    "name, path and query",
                    url ? url : "");
    const char *type = pc_arr_attr(x->c, a, "redirectType");
    if (type && strcasecmp(type, "Permanent") != 0)
        pc_arr_check(x->c, x->farm_note,
                     "line %d: rule '%s' redirects with redirectType=\"%s\"; "
                     "portico's redirects are 301 (permanent)",
                     r->line, r->name, type);
    if (r->on)
        pc_arr_check(x->c, x->farm_note,
                     "line %d: rule '%s' redirects HTTPS requests too (a loop "
                     "to itself); the import takes it for port 80 only",
                     r->line, r->name);
    r->on = false;
    r->act = ACT_REDIRECT;
    return true;
}

static bool read_action(struct rule_ctx *x, xmlNode *a)
{
    const char *type = pc_arr_attr(x->c, a, "type"), *url = pc_arr_attr(x->c, a, "url");
    if (!a || !type)
        return skip(x, "%s", "it has no action");
    if (strcasecmp(type, "Rewrite") == 0)
        return read_rewrite(x, a, url);
    if (strcasecmp(type, "Redirect") == 0)
        return read_redirect(x, a, url);
    const char *status = pc_arr_attr(x->c, a, "statusCode");
    return skip(x,
                "its action is '%s'%s%s; portico only forwards published names (and answers "
                "404 for the others)",
                type, status ? " with status " : "", status ? status : "");
}

/* The farm a rule's notes go with: the one its action names, if any. */
static int farm_of_action(struct pc_arr_conf *c, xmlNode *a)
{
    const char *url = pc_arr_attr(c, a, "url"), *host, *rest;
    size_t hlen;
    bool tls;
    return url && split_url(url, &tls, &host, &hlen, &rest) ? pc_arr_farm_index(c, host, hlen) : -1;
}

/* Reads rule N into R; false (with a CHECK) when it is not imported. */
static bool read_rule(struct pc_arr_conf *c, xmlNode *n, struct rule *r)
{
    static const char *const known[] = {"name", "enabled", "stopProcessing", "patternSyntax", NULL};
    const char *name = pc_arr_attr(c, n, "name");
    *r = (struct rule){.name = name ? name : "", .line = pc_arr_line(n), .farm = -1};
    struct rule_ctx x = {.c = c,
                         .r = r,
                         .syn = syntax_of(pc_arr_attr(c, n, "patternSyntax")),
                         .farm_note = farm_of_action(c, pc_arr_child(n, "action"))};
    bool enabled = true;
    pc_arr_bool(c, x.farm_note, n, "enabled", &enabled);
    pc_arr_bool(c, x.farm_note, n, "stopProcessing", &r->stop);
    if (!enabled)
        return skip(&x, "%s", "it is disabled (enabled=\"false\")");
    pc_arr_unknown_attrs(c, x.farm_note, n, "rule", known);
    xmlNode *conds = pc_arr_child(n, "conditions");
    if (!read_match(&x, pc_arr_child(n, "match")))
        return false;
    r->on = r->off = true;
    r->all_hosts = !conds;
    if (conds && !read_conditions(&x, conds))
        return false;
    if (!read_action(&x, pc_arr_child(n, "action")))
        return false;
    for (xmlNode *k = pc_arr_first(n); k; k = pc_arr_next(k)) {
        if (pc_arr_is(k, "serverVariables")) {
            for (xmlNode *s = pc_arr_first(k); s; s = pc_arr_next(s))
                if (pc_arr_is(s, "set"))
                    pc_arr_check(c, x.farm_note,
                                 "line %d: rule '%s' sets the server variable "
                                 "%s; portico adds X-Forwarded-For and X-Forwarded-Proto and "
                                 "nothing else",
                                 pc_arr_line(s), r->name,
                                 pc_arr_attr(c, s, "name") ? pc_arr_attr(c, s, "name") : "?");
        } else if (!pc_arr_is(k, "match") && !pc_arr_is(k, "conditions") &&
                   !pc_arr_is(k, "action")) {
            pc_arr_check(c, x.farm_note, "line %d: <%s> in rule '%s' is not imported",
                         pc_arr_line(k), (const char *)k->name, r->name);
        }
    }
    if (!r->on && !r->off)
        return skip(&x, "%s", "its {HTTPS} conditions match neither HTTPS nor HTTP");
    return true;
}

/* ---- running the names through the rules ------------------------------------------------ */

static bool host_matches(const char *pat, const char *n)
{
    if (strcmp(pat, n) == 0)
        return true;
    if (pat[0] != '*')
        return false;
    const char *suf = pat + 1, *x = n[0] == '*' ? n + 1 : n; /* ".contoso.com" */
    size_t ls = strlen(suf), lx = strlen(x);
    return lx > ls && strcmp(x + lx - ls, suf) == 0;
}

static bool rule_matches(const struct rule *r, const char *n, bool https)
{
    if (https ? !r->on : !r->off)
        return false;
    if (r->all_hosts)
        return true;
    for (size_t i = 0; i < r->hosts.n; i++)
        if (host_matches(r->hosts.v[i], n))
            return true;
    return false;
}

struct run {
    struct pc_arr_conf *c;
    struct rule *rules;
    size_t nrules;
};

static int note_farm(const struct rule *r)
{
    return r->act == ACT_FARM ? r->farm : -1;
}

/* The first rule that takes N on HTTPS or HTTP, and the stopProcessing warning if it would
 * let a later one change it. */
static struct rule *first_match(struct run *u, const char *n, bool https)
{
    for (size_t i = 0; i < u->nrules; i++) {
        struct rule *r = &u->rules[i];
        if (!rule_matches(r, n, https))
            continue;
        r->decided = true;
        for (size_t j = i + 1; j < u->nrules && !r->stop && !r->warned_stop; j++) {
            if (!rule_matches(&u->rules[j], n, https))
                continue;
            r->warned_stop = true;
            pc_arr_check(u->c, note_farm(r),
                         "line %d: rule '%s' has no stopProcessing=\"true\": "
                         "ARR goes on to rule '%s' (line %d) for %s, which may change where it "
                         "goes; the import takes the first",
                         r->line, r->name, u->rules[j].name, u->rules[j].line, n);
        }
        return r;
    }
    return NULL;
}

static enum pc_arr_http http_behaviour(struct run *u, struct rule *h, const char *n)
{
    if (!h)
        return PC_ARR_HTTP_UNSET;
    if (h->act == ACT_REDIRECT)
        return PC_ARR_HTTP_REDIRECT;
    if (!h->tls)
        return PC_ARR_HTTP_FORWARD;
    if (!h->warned_reencrypt)
        pc_arr_check(u->c, h->farm,
                     "line %d: rule '%s' sends plain HTTP requests (for %s and "
                     "maybe others) to the farm's HTTPS port; portico forwards port 80 in plain "
                     "HTTP to http_port, or redirects to https://: redirect is assumed",
                     h->line, h->name, n);
    h->warned_reencrypt = true;
    return PC_ARR_HTTP_TLS;
}

static void add_name(struct run *u, const char *n)
{
    struct pc_arr_conf *c = u->c;
    struct rule *s = first_match(u, n, true), *h = first_match(u, n, false);
    struct rule *via = s ? s : h && h->act == ACT_FARM && !h->tls ? h : NULL;
    if (!via || via->act != ACT_FARM) {
        pc_arr_check(c, h ? note_farm(h) : -1,
                     "%s: no imported rule routes it to a server "
                     "farm, so it is not published",
                     n);
        return;
    }
    if (!c->farms[via->farm].enabled) {
        pc_arr_check(c, via->farm,
                     "%s: rule '%s' (line %d) routes it to server farm '%s', "
                     "which is disabled: not published",
                     n, via->name, via->line, c->farms[via->farm].name);
        return;
    }
    if (s && !s->tls && !s->warned_offload) {
        s->warned_offload = true;
        pc_arr_check(c, s->farm,
                     "line %d: rule '%s' sends HTTPS requests to the farm's HTTP "
                     "port (SSL offloading, which Lync does not support); portico always "
                     "bridges TLS to https_port",
                     s->line, s->name);
    }
    if (!s)
        pc_arr_check(c, via->farm,
                     "%s: ARR published it over HTTP only (rule '%s', line %d); "
                     "portico serves it on the HTTPS listener too",
                     n, h->name, h->line);
    enum pc_arr_http mode = http_behaviour(u, h, n);
    if (mode == PC_ARR_HTTP_FORWARD && h->farm != via->farm)
        pc_arr_check(c, via->farm,
                     "%s: HTTP goes to farm '%s', HTTPS to '%s'; portico forwards "
                     "port 80 to the same pool's http_port",
                     n, c->farms[h->farm].name, c->farms[via->farm].name);
    c->names = pc_arr_grow(c->names, c->nnames, &c->cap_names, sizeof *c->names);
    c->names[c->nnames++] = (struct pc_arr_name){
        .name = pc_arr_strdup(c, n),
        .farm = via->farm,
        .rule = via->name,
        .rule_line = via->line,
        .http = mode,
        .http_farm = mode == PC_ARR_HTTP_FORWARD ? h->farm : -1,
        .http_rule = h ? h->name : NULL,
        .http_line = h ? h->line : 0,
    };
    c->farms[via->farm].routed = true;
}

static void after_run(struct run *u)
{
    for (size_t i = 0; i < u->nrules; i++) {
        struct rule *r = &u->rules[i];
        if (r->all_hosts && r->act == ACT_FARM)
            pc_arr_check(u->c, r->farm,
                         "line %d: rule '%s' sends every %shost name to server "
                         "farm '%s'; portico forwards only the names in publish (others get "
                         "404): add the names that reached the farm this way",
                         r->line, r->name, r->decided ? "other " : "", u->c->farms[r->farm].name);
        else if (!r->decided && !r->all_hosts)
            pc_arr_check(u->c, note_farm(r),
                         "line %d: rule '%s' never applies: earlier rules "
                         "take all its names",
                         r->line, r->name);
    }
}

void pc_arr_read_rules(struct pc_arr_conf *c, xmlNode *global_rules)
{
    struct run u = {.c = c};
    size_t cap = 0;
    for (xmlNode *n = pc_arr_first(global_rules); n; n = pc_arr_next(n)) {
        if (!pc_arr_is(n, "rule"))
            continue;
        c->nrules++;
        u.rules = pc_arr_grow(u.rules, u.nrules, &cap, sizeof *u.rules);
        if (read_rule(c, n, &u.rules[u.nrules]))
            u.nrules++;
        else
            sv_free(&u.rules[u.nrules].hosts);
    }
    if (c->nrules == 0)
        pc_arr_check(c, -1,
                     "no URL Rewrite global rule (system.webServer/rewrite/globalRules): "
                     "nothing says which names go to which farm; fill in publish by hand");
    /* The names, in the order the rules give them. */
    struct strv names = {0};
    for (size_t i = 0; i < u.nrules; i++)
        for (size_t j = 0; j < u.rules[i].hosts.n; j++)
            sv_add(&names, strdup(u.rules[i].hosts.v[j]));
    for (size_t i = 0; i < names.n; i++)
        add_name(&u, names.v[i]);
    after_run(&u);
    sv_free(&names);
    for (size_t i = 0; i < u.nrules; i++)
        sv_free(&u.rules[i].hosts);
    free(u.rules);
}
