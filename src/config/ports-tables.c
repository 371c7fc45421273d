/* ports-tables.c — the two firewall tables of Microsoft's port summary (docs/firewall.md),
 * "Firewall Details for Reverse Proxy Server: External Interface" and "... Internal
 * Interface", filled in from the configuration with the real addresses, ports and names
 * (ports-tables.h). Rendered as Markdown by `portico ports` (cli/ports.c) and as HTML by the
 * status page (admin/firewall.c).
 *
 * The tables depend on nothing but the configuration (no time, no path), so that they can be
 * kept under version control next to the configuration and compared in golden tests. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/flows.h"
#include "config/ports-tables.h"

const char *const pc_ports_columns[PC_PORTS_NCOLS] = {
    "Protocol/TCP or UDP/Port", "Source IP Address", "Destination IP Address", "Notes"};

/* The port summary's wording for what the HTTPS listener carries, per role. */
static const char *role_services(enum pc_role role)
{
    switch (role) {
    case PC_ROLE_FRONTEND:
        return "address book downloads, Address Book Web Query service, Autodiscover, client "
               "updates, meeting content, device updates, group expansion, dial-in conferencing, "
               "and meetings";
    case PC_ROLE_DIRECTOR:
        return "Autodiscover, sign-in, meetings and dial-in conferencing, redirected by the "
               "Director to the users' Front End pools";
    case PC_ROLE_OWA:
        return "Office Web Apps for conferencing";
    case PC_ROLE_GENERIC:
        break;
    }
    return "web services published as configured";
}

static bool lync_role(enum pc_role role)
{
    return role == PC_ROLE_FRONTEND || role == PC_ROLE_DIRECTOR;
}

/* Appends the published names of POOL (of every pool when POOL is SIZE_MAX) whose http mode
 * is MODE (any mode when MODE < 0) as "a, b, c". Returns how many; *LYNCDISCOVER tells whether
 * one of them is a lyncdiscover.* name. */
static size_t names_of(const struct pc_config *cfg, size_t pool, int mode, struct pc_sb *sb,
                       bool *lyncdiscover)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->nnames; i++) {
        const struct pc_name *nm = &cfg->names[i];
        if (pool != SIZE_MAX && nm->pool != &cfg->pools[pool])
            continue;
        if (mode >= 0 && nm->http != (enum pc_http_mode)mode)
            continue;
        char text[300];
        pc_flows_name_text(nm, false, text, sizeof(text));
        pc_sb_printf(sb, "%s%s", n ? ", " : "", text);
        if (lyncdiscover && strncmp(nm->name, "lyncdiscover.", 13) == 0)
            *lyncdiscover = true;
        n++;
    }
    return n;
}

/* "Front End pool fe" */
static void pool_title(const struct pc_config *cfg, size_t pool, struct pc_sb *sb)
{
    pc_sb_printf(sb, "%s %s", pc_flows_role_label(cfg->pools[pool].role), cfg->pools[pool].name);
}

/* Appends a row made of the four texts (copied). */
static int add_row(struct pc_ports_table *t, const char *proto, const char *src, const char *dst,
                   const char *notes)
{
    struct pc_ports_row *rows = realloc(t->rows, (t->nrows + 1) * sizeof(*rows));
    if (!rows)
        return -1;
    t->rows = rows;
    const char *text[PC_PORTS_NCOLS] = {proto, src, dst, notes};
    struct pc_ports_row *r = &rows[t->nrows];
    for (int c = 0; c < PC_PORTS_NCOLS; c++) {
        if (!(r->cell[c] = strdup(text[c]))) {
            while (c-- > 0)
                free(r->cell[c]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

/* "Reverse proxy listener: 203.0.113.10, 2001:db8::10" */
static void listeners_text(const struct pc_config *cfg, struct pc_sb *sb)
{
    pc_sb_printf(sb, "Reverse proxy listener: ");
    for (size_t i = 0; i < cfg->nexternal; i++) {
        char a[INET6_ADDRSTRLEN];
        pc_net_addr_text(&cfg->external[i], a, sizeof(a));
        pc_sb_printf(sb, "%s%s", i ? ", " : "", a);
        if (pc_flows_addr_any(&cfg->external[i]))
            pc_sb_printf(sb, " (every %s address of the host)",
                         cfg->external[i].ss.ss_family == AF_INET ? "IPv4" : "IPv6");
    }
}

static void http_listener_notes(const struct pc_config *cfg, struct pc_sb *sb)
{
    struct pc_sb names = {0};
    const char *sep = "";
    if (names_of(cfg, SIZE_MAX, PC_HTTP_REDIRECT, &names, NULL)) {
        pc_sb_printf(sb, "Redirection to HTTPS if a user enters http://FQDN for: %s.",
                     pc_sb_str(&names));
        sep = "\n";
    }
    for (size_t p = 0; p < cfg->npools; p++) {
        if (!pc_flows_pool_forwards_http(cfg, p))
            continue;
        pc_sb_reset(&names);
        bool lyncdiscover = false;
        names_of(cfg, p, PC_HTTP_FORWARD, &names, &lyncdiscover);
        pc_sb_printf(sb, "%sForwarded to ", sep);
        pool_title(cfg, p, sb);
        pc_sb_printf(sb, " on HTTP/TCP/%d: %s.", cfg->pools[p].http_port, pc_sb_str(&names));
        if (lyncdiscover)
            pc_sb_printf(sb, " Required for the Autodiscover Service for mobile devices running "
                             "Lync in situations where the organization does not want to "
                             "modify the external web service publishing rule certificate.");
        sep = "\n";
    }
    pc_sb_reset(&names);
    if (names_of(cfg, SIZE_MAX, PC_HTTP_OFF, &names, NULL)) {
        pc_sb_printf(sb, "%sNot served over HTTP (http = off): %s.", sep, pc_sb_str(&names));
        sep = "\n";
    }
    if (!*sep)
        pc_sb_printf(sb, "No published name is served over HTTP.");
    /* docs/certificates.md#acme: the CA fetches the HTTP-01 answers here (RFC 8555 §8.3). */
    if (cfg->acme.line && cfg->acme.nnames && cfg->acme.challenge == PC_ACME_CH_HTTP01)
        pc_sb_printf(sb,
                     "\nAlso answers the ACME HTTP-01 challenges (/.well-known/acme-challenge/) "
                     "of certificate = acme: the CA (%s) must reach it from the Internet.",
                     cfg->acme.directory);
    pc_sb_free(&names);
}

static void https_listener_notes(const struct pc_config *cfg, struct pc_sb *sb)
{
    for (size_t p = 0; p < cfg->npools; p++) {
        pc_sb_printf(sb, "%s", p ? "\n" : "");
        pool_title(cfg, p, sb);
        pc_sb_printf(sb, " (");
        names_of(cfg, p, -1, sb, NULL);
        pc_sb_printf(sb, "): %s.", role_services(cfg->pools[p].role));
    }
    /* docs/certificates.md#acme: the CA connects here with ALPN acme-tls/1 (RFC 8737 §3). */
    if (cfg->acme.line && cfg->acme.nnames && cfg->acme.challenge == PC_ACME_CH_TLSALPN01)
        pc_sb_printf(sb,
                     "\nAlso answers the ACME TLS-ALPN-01 challenges (ALPN acme-tls/1) of "
                     "certificate = acme: the CA (%s) must reach it from the Internet.",
                     cfg->acme.directory);
}

static int external_table(const struct pc_config *cfg, struct pc_ports_table *t)
{
    struct pc_sb dst = {0}, notes = {0};
    char proto[32];
    int rc = 0;
    listeners_text(cfg, &dst);
    if (cfg->http_port) {
        snprintf(proto, sizeof(proto), "HTTP/TCP/%d", cfg->http_port);
        http_listener_notes(cfg, &notes);
        rc |= add_row(t, proto, "Any", pc_sb_str(&dst), pc_sb_str(&notes));
    }
    if (cfg->https_port) {
        pc_sb_reset(&notes);
        snprintf(proto, sizeof(proto), "HTTPS/TCP/%d", cfg->https_port);
        https_listener_notes(cfg, &notes);
        rc |= add_row(t, proto, "Any", pc_sb_str(&dst), pc_sb_str(&notes));
    }
    rc |= -(dst.oom || notes.oom);
    pc_sb_free(&dst);
    pc_sb_free(&notes);
    return rc;
}

/* The source of a flow: the internal address for the members of its family; the kernel
 * chooses for the others (portico binds only when the families agree, see upstream.c). */
static void source_text(const struct pc_config *cfg, const struct pc_flow *f, struct pc_sb *sb)
{
    const struct pc_pool *pool = &cfg->pools[f->pool];
    size_t same = 0;
    for (size_t k = 0; k < f->nmembers; k++)
        same += cfg->has_internal &&
                pool->members[f->members[k]].addr.ss.ss_family == cfg->internal.ss.ss_family;
    char a[INET6_ADDRSTRLEN];
    if (cfg->has_internal)
        pc_net_addr_text(&cfg->internal, a, sizeof(a));
    if (!cfg->has_internal)
        pc_sb_printf(sb, "Internal reverse proxy interface (kernel-chosen)");
    else if (same == f->nmembers)
        pc_sb_printf(sb, "Internal reverse proxy interface: %s", a);
    else if (same == 0)
        pc_sb_printf(sb,
                     "Internal reverse proxy interface (kernel-chosen: internal = %s is "
                     "another address family)",
                     a);
    else
        pc_sb_printf(sb,
                     "Internal reverse proxy interface: %s to %s members, kernel-chosen to the "
                     "others",
                     a, cfg->internal.ss.ss_family == AF_INET ? "IPv4" : "IPv6");
}

static void internal_notes(const struct pc_config *cfg, const struct pc_flow *f, struct pc_sb *sb)
{
    const struct pc_pool *pool = &cfg->pools[f->pool];
    const char *why = "so that the pool web services can distinguish it from internal web traffic";
    if (!f->tls) {
        bool lyncdiscover = false;
        pc_sb_printf(sb, "Forwarded from HTTP/TCP/%d for ", cfg->http_port);
        names_of(cfg, f->pool, PC_HTTP_FORWARD, sb, &lyncdiscover);
        pc_sb_printf(sb, ".");
        if (lyncdiscover)
            pc_sb_printf(sb, "\nRequired if using the Autodiscover Service for mobile devices "
                             "running Lync in situations where the organization does not want "
                             "to modify the external web service publishing rule certificate.");
        if (lync_role(pool->role) && f->port != cfg->http_port)
            pc_sb_printf(sb,
                         "\nTraffic sent to port %d on the reverse proxy external interface is "
                         "forwarded to the pool on port %d from the reverse proxy internal "
                         "interface %s.",
                         cfg->http_port, f->port, why);
        return;
    }
    if (pool->role == PC_ROLE_OWA)
        pc_sb_printf(sb, "Office Web Apps for conferencing: ");
    else
        pc_sb_printf(sb, "Carries ");
    names_of(cfg, f->pool, -1, sb, NULL);
    pc_sb_printf(sb, ".");
    if (!cfg->https_port)
        pc_sb_printf(sb, "\nHealth checks only: the external HTTPS listener is off.");
    else if (lync_role(pool->role) && f->port != cfg->https_port)
        pc_sb_printf(sb,
                     "\nTraffic sent to port %d on the reverse proxy external interface is "
                     "forwarded to the pool on port %d from the reverse proxy internal interface "
                     "%s.",
                     cfg->https_port, f->port, why);
}

static int internal_table(const struct pc_config *cfg, const struct pc_flows *flows,
                          struct pc_ports_table *t)
{
    struct pc_sb src = {0}, dst = {0}, notes = {0};
    int rc = 0;
    for (size_t i = 0; i < flows->n && rc == 0; i++) {
        const struct pc_flow *f = &flows->v[i];
        const struct pc_pool *pool = &cfg->pools[f->pool];
        pc_sb_reset(&src);
        pc_sb_reset(&dst);
        pc_sb_reset(&notes);
        source_text(cfg, f, &src);
        pool_title(cfg, f->pool, &dst);
        pc_sb_printf(&dst, ": ");
        for (size_t k = 0; k < f->nmembers; k++) {
            char m[600];
            pc_flows_member_text(&pool->members[f->members[k]], m, sizeof(m));
            pc_sb_printf(&dst, "%s%s", k ? ", " : "", m);
        }
        internal_notes(cfg, f, &notes);
        char proto[32];
        snprintf(proto, sizeof(proto), "%s/TCP/%d", f->tls ? "HTTPS" : "HTTP", f->port);
        rc = src.oom || dst.oom || notes.oom
                 ? -1
                 : add_row(t, proto, pc_sb_str(&src), pc_sb_str(&dst), pc_sb_str(&notes));
    }
    pc_sb_free(&src);
    pc_sb_free(&dst);
    pc_sb_free(&notes);
    return rc;
}

static char *admin_note(const struct pc_config *cfg)
{
    char a[INET6_ADDRSTRLEN];
    pc_net_addr_text(&cfg->admin, a, sizeof(a));
    bool v6 = cfg->admin.ss.ss_family == AF_INET6;
    int port = ntohs(v6 ? ((const struct sockaddr_in6 *)&cfg->admin.ss)->sin6_port
                        : ((const struct sockaddr_in *)&cfg->admin.ss)->sin_port);
    bool loopback =
        v6 ? IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&cfg->admin.ss)->sin6_addr)
           : (ntohl(((const struct sockaddr_in *)&cfg->admin.ss)->sin_addr.s_addr) >> 24) == 127;
    struct pc_sb sb = {0};
    pc_sb_printf(&sb,
                 "Admin listener (metrics, status): %s%s%s:%d (TCP), not a flow of the port "
                 "summary: %s.",
                 v6 ? "[" : "", a, v6 ? "]" : "", port,
                 loopback ? "on loopback, reachable from the proxy host only"
                          : "open it to the management network only");
    if (sb.oom) {
        pc_sb_free(&sb);
        return NULL;
    }
    return sb.s; /* the caller owns it */
}

int pc_ports_tables_build(const struct pc_config *cfg, struct pc_ports_tables *out)
{
    *out = (struct pc_ports_tables){0};
    out->side[0].title = "Firewall Details for Reverse Proxy Server: External Interface";
    out->side[1].title = "Firewall Details for Reverse Proxy Server: Internal Interface";
    struct pc_flows flows;
    if (pc_flows_build(cfg, &flows) < 0)
        return -1;
    int rc = external_table(cfg, &out->side[0]) | internal_table(cfg, &flows, &out->side[1]);
    pc_flows_free(&flows);
    if (cfg->has_admin && !(out->admin_note = admin_note(cfg)))
        rc = -1;
    if (rc) {
        pc_ports_tables_free(out);
        return -1;
    }
    return 0;
}

void pc_ports_tables_free(struct pc_ports_tables *t)
{
    for (int s = 0; s < 2; s++) {
        for (size_t r = 0; r < t->side[s].nrows; r++)
            for (int c = 0; c < PC_PORTS_NCOLS; c++)
                free(t->side[s].rows[r].cell[c]);
        free(t->side[s].rows);
    }
    free(t->admin_note);
    *t = (struct pc_ports_tables){0};
}
