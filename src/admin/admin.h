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

#endif
