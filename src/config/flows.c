/* flows.c — the flows a configuration implies (flows.h), and the texts that name them. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/flows.h"

bool pc_flows_pool_forwards_http(const struct pc_config *cfg, size_t pool)
{
    /* Without the external HTTP listener nothing is ever forwarded, whatever the names say. */
    if (!cfg->http_port || !cfg->pools[pool].http_port)
        return false;
    for (size_t i = 0; i < cfg->nnames; i++)
        if (cfg->names[i].pool == &cfg->pools[pool] && cfg->names[i].http == PC_HTTP_FORWARD)
            return true;
    return false;
}

const char *pc_flows_role_label(enum pc_role role)
{
    switch (role) {
    case PC_ROLE_FRONTEND:
        return "Front End pool";
    case PC_ROLE_DIRECTOR:
        return "Director pool";
    case PC_ROLE_OWA:
        return "Office Web Apps pool";
    case PC_ROLE_GENERIC:
        break;
    }
    return "Generic pool";
}

bool pc_flows_addr_any(const struct pc_addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
}

bool pc_flows_member_named(const struct pc_member *m)
{
    unsigned char bin[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, m->host, bin) != 1 && inet_pton(AF_INET6, m->host, bin) != 1;
}

void pc_flows_member_text(const struct pc_member *m, char *buf, size_t size)
{
    char a[INET6_ADDRSTRLEN];
    pc_net_addr_text(&m->addr, a, sizeof(a));
    if (pc_flows_member_named(m))
        snprintf(buf, size, "%s (%s)", a, m->host);
    else
        snprintf(buf, size, "%s", a);
}

void pc_flows_name_text(const struct pc_name *n, bool sample, char *buf, size_t size)
{
    /* A wildcard is stored as its suffix with the dot (".contoso.com"). */
    if (n->wildcard)
        snprintf(buf, size, "%s%s", sample ? "portico-probe" : "*", n->name);
    else
        snprintf(buf, size, "%s", n->name);
}

static bool same_addr(const struct pc_addr *a, const struct pc_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return false;
    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)&b->ss)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
                  &((const struct sockaddr_in6 *)&b->ss)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

/* Appends the flow (POOL, TLS, PORT) with every member that takes it. */
static int add_flow(const struct pc_config *cfg, struct pc_flows *out, size_t pool, bool tls,
                    int port)
{
    const struct pc_pool *p = &cfg->pools[pool];
    struct pc_flow *v = realloc(out->v, (out->n + 1) * sizeof(*v));
    if (!v)
        return -1;
    out->v = v;
    struct pc_flow *f = &v[out->n];
    *f = (struct pc_flow){.pool = pool, .tls = tls, .port = port};
    f->members = malloc((p->nmembers ? p->nmembers : 1) * sizeof(*f->members));
    if (!f->members)
        return -1;
    out->n++;
    for (size_t m = 0; m < p->nmembers; m++) {
        const struct pc_member *mb = &p->members[m];
        if ((tls ? mb->https_port : mb->http_port) != port)
            continue;
        /* Two entries for one address (two HTTPS ports) share the HTTP port: one destination. */
        bool dup = false;
        for (size_t k = 0; k < f->nmembers && !dup; k++)
            dup = same_addr(&p->members[f->members[k]].addr, &mb->addr);
        if (!dup)
            f->members[f->nmembers++] = m;
    }
    return 0;
}

int pc_flows_build(const struct pc_config *cfg, struct pc_flows *out)
{
    *out = (struct pc_flows){0};
    for (size_t p = 0; p < cfg->npools; p++)
        if (pc_flows_pool_forwards_http(cfg, p) &&
            add_flow(cfg, out, p, false, cfg->pools[p].http_port) < 0)
            goto fail;
    for (size_t p = 0; p < cfg->npools; p++) {
        const struct pc_pool *pool = &cfg->pools[p];
        /* A servers= entry may override the port: one flow per distinct port, first seen first. */
        for (size_t m = 0; m < pool->nmembers; m++) {
            int port = pool->members[m].https_port;
            bool seen = port == 0;
            for (size_t k = 0; k < m && !seen; k++)
                seen = pool->members[k].https_port == port;
            if (!seen && add_flow(cfg, out, p, true, port) < 0)
                goto fail;
        }
    }
    return 0;
fail:
    pc_flows_free(out);
    return -1;
}

void pc_flows_free(struct pc_flows *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].members);
    free(f->v);
    *f = (struct pc_flows){0};
}
