/* flows.h — the network flows a configuration implies (Microsoft's port summary, docs/firewall.md),
 * shared by the firewall tables (ports-tables.c: `portico ports` and the status page), the
 * nftables ruleset and `portico probe` (which checks
 * the same flows, so that the firewall it proposes and the checks it runs never disagree).
 *
 * Inside, a flow is one pool and one port: portico connects from its internal address to the
 * HTTPS port of every member (4443 for Front End and Director pools, 443 for Office Web Apps)
 * and, only for pools with a name forwarded from the external port 80, to their HTTP port
 * (8080). Outside, a flow is one listener (HTTPS, and HTTP when it is on). */
#ifndef PORTICO_CONFIG_FLOWS_H
#define PORTICO_CONFIG_FLOWS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/net.h"
#include "common/sb.h"
#include "config/config-t.h"

struct pc_flow {
    size_t pool; /* index into cfg->pools */
    bool tls;    /* HTTPS (member https_port) or HTTP (member http_port) */
    int port;
    size_t *members; /* indices into the pool's members; one per distinct address */
    size_t nmembers;
};

struct pc_flows {
    struct pc_flow
        *v; /* HTTP flows first, then HTTPS (the port summary's order), pools in file order */
    size_t n;
};

/* Computes the internal flows of CFG. Returns -1 when out of memory. */
int pc_flows_build(const struct pc_config *cfg, struct pc_flows *out);
void pc_flows_free(struct pc_flows *f);

/* Does the external HTTP listener forward some name of POOL to the pool's HTTP port? */
bool pc_flows_pool_forwards_http(const struct pc_config *cfg, size_t pool);

/* "Front End pool", "Director pool", "Office Web Apps pool", "Generic pool". */
const char *pc_flows_role_label(enum pc_role role);

/* Is A the wildcard address (0.0.0.0 or ::)? */
bool pc_flows_addr_any(const struct pc_addr *a);
/* Was member M written as a host name (as opposed to an address literal)? */
bool pc_flows_member_named(const struct pc_member *m);
/* "10.0.1.11 (fe01.contoso.local)" or "10.0.1.11". */
void pc_flows_member_text(const struct pc_member *m, char *buf, size_t size);

/* A published name as written: "webext.contoso.com" or "*.contoso.com". With SAMPLE, a
 * wildcard becomes a name it covers ("portico-probe.contoso.com"), for checks that need a
 * real host name. */
void pc_flows_name_text(const struct pc_name *n, bool sample, char *buf, size_t size);

#endif
