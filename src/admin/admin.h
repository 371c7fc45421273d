/* admin.h — the admin listener (metrics and status), served by worker 0. */
#ifndef PORTICO_ADMIN_H
#define PORTICO_ADMIN_H

#include <ev.h>
#include <stdbool.h>
#include <stdio.h>

#include "config/config-t.h"

/* The worker's loop and configuration, before the first pc_admin_accept: the pages show CFG.
 * (The worker hands them over, so that nothing here reaches into core/.) */
void pc_admin_start(struct ev_loop *loop, const struct pc_config *cfg);

/* Accepts and serves connections on the admin listening socket LFD. */
void pc_admin_accept(int lfd);

/* Writes S as a JSON string (quotes included), with control characters and < > & as \u
 * escapes: the status page embeds JSON in a <script> element, which a "</script>" in a name
 * must not end. */
void pc_admin_json_str(FILE *f, const char *s);

/* Writes S escaped for HTML text and attribute values (newlines as <br> when NEWLINE_BR). */
void pc_admin_html(FILE *f, const char *s, bool newline_br);

/* Writes the two firewall tables of Microsoft's port summary (docs/firewall.md) as this
 * configuration implies them, as HTML. */
void pc_admin_firewall_html(FILE *f, const struct pc_config *cfg);

/* The listener certificates (certs.c): their series on /metrics; their table (names, key,
 * issuer, expiry, OCSP stapling) on the status page; the "certificates": [...], member of
 * /status.json (with its trailing comma). */
void pc_admin_certs_metrics(FILE *f);
void pc_admin_certs_html(FILE *f);
void pc_admin_certs_json(FILE *f);

/* Writes the status page's graphs of the last hour of CFG's pools, with the history they
 * start from, and the script that draws them and refreshes the page in place from
 * /status.json, at every sample but within 1 to 5 s. */
void pc_admin_graphs_html(FILE *f, const struct pc_config *cfg);
/* Their style rules, for the page's <style> element. */
void pc_admin_graphs_css(FILE *f);

/* A part of the pages that the data path owns (the sign-in defence, proxy/guard.c), added at
 * worker start: admin/ calls it without knowing what it is. Every member may be NULL. */
struct pc_admin_section {
    void (*html)(FILE *f); /* a section of the status page */
    void (*json)(FILE *f); /* "NAME":VALUE, members of /status.json (each with its comma) */
    /* A request for PATH[0, PL) with QUERY[0, QL) (POST when POST): writes the body to F and
     * sets *TYPE; returns the status, or 0 when the path is not its own. LOCAL: the client is
     * on loopback (what changes state is refused from elsewhere). */
    int (*request)(bool post, const char *path, size_t pl, const char *query, size_t ql, bool local,
                   FILE *f, const char **type);
};

/* Adds S (kept: static storage) to the pages; at most 4. */
void pc_admin_add_section(const struct pc_admin_section *s);

#endif
