/* pool.c — idle, pinned and TLS-session bookkeeping of member connections (see pool.h). */
#include "proxy/pool.h"

#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "common/log.h"
#include "core/worker.h"
#include "tls/rec.h"

struct member_state {
    struct pc_list idle; /* most recently parked first; the oldest is evicted first */
    unsigned nidle;
    SSL_SESSION *tls_sess; /* newest TLS session with the member, for resumption */
    char tls_sess_name[256];
};

static struct member_state **members; /* [pool][member], parallel to cfg->pools */
static size_t npools;

int pc_pool_init(const struct pc_config *cfg)
{
    for (size_t p = 0; members && p < npools; p++)
        free(members[p]);
    free(members);
    members = calloc(cfg->npools ? cfg->npools : 1, sizeof(*members));
    if (!members)
        return -1;
    npools = cfg->npools;
    for (size_t p = 0; p < cfg->npools; p++) {
        if (!(members[p] = calloc(cfg->pools[p].nmembers + 1, sizeof(**members))))
            return -1;
        for (size_t m = 0; m <= cfg->pools[p].nmembers; m++)
            pc_list_init(&members[p][m].idle);
    }
    return 0;
}

static struct member_state *member_state(unsigned pool_idx, unsigned member_idx)
{
    return &members[pool_idx][member_idx];
}

unsigned pc_pool_nidle(unsigned pool_idx, unsigned member_idx)
{
    return member_state(pool_idx, member_idx)->nidle;
}

struct pc_upconn *pc_pool_idle_take(unsigned pool_idx, unsigned member_idx, bool tls,
                                    const char *sni)
{
    PC_LIST_EACH (e, &member_state(pool_idx, member_idx)->idle) {
        struct pc_upconn *u = PC_CONTAINER_OF(e, struct pc_upconn, link);
        if (pc_tlsconn_on(&u->tc) == tls && strcmp(u->sni, sni) == 0) {
            pc_pool_idle_unlink(u);
            return u;
        }
    }
    return NULL;
}

void pc_pool_idle_unlink(struct pc_upconn *u)
{
    pc_list_del(&u->link);
    member_state(u->pool_idx, u->member_idx)->nidle--;
}

struct pc_upconn *pc_pool_idle_put(struct pc_upconn *u)
{
    struct member_state *ms = member_state(u->pool_idx, u->member_idx);
    pc_list_push(&ms->idle, &u->link);
    ms->nidle++;
    if (ms->nidle <= PC_POOL_IDLE_MAX)
        return NULL;
    return PC_CONTAINER_OF(pc_list_last(&ms->idle), struct pc_upconn, link);
}

struct pc_upconn *pc_pool_idle_any(void)
{
    const struct pc_config *cfg = pc_w.cfg;
    for (size_t p = 0; p < npools; p++)
        for (size_t m = 0; m < cfg->pools[p].nmembers; m++)
            if (!pc_list_empty(&members[p][m].idle))
                return PC_CONTAINER_OF(members[p][m].idle.next, struct pc_upconn, link);
    return NULL;
}

/* A client's pinned connections (one per pool and TLS name it authenticated to) form a list
 * through the link that pinned connections never use for an idle list. */
void pc_pool_pin_link(struct pc_upconn *u)
{
    pc_list_push(u->t->pins, &u->link);
}

void pc_pool_pin_unlink(struct pc_upconn *u)
{
    pc_list_del(&u->link);
}

struct pc_upconn *pc_pool_pin_find(const struct pc_txn *t, unsigned pool_idx, bool tls,
                                   const char *sni)
{
    PC_LIST_EACH (e, t->pins) {
        struct pc_upconn *p = PC_CONTAINER_OF(e, struct pc_upconn, link);
        if (p->pool_idx == pool_idx && pc_tlsconn_on(&p->tc) == tls && strcmp(p->sni, sni) == 0)
            return p;
    }
    return NULL;
}

bool pc_pool_pin_room(const struct pc_txn *t, const struct pc_upconn *except,
                      struct pc_upconn **evict)
{
    unsigned n = 0;
    struct pc_upconn *oldest = NULL;
    *evict = NULL;
    PC_LIST_EACH (e, t->pins) {
        struct pc_upconn *p = PC_CONTAINER_OF(e, struct pc_upconn, link);
        n++;
        if (p != except && p->pin_idle)
            oldest = p; /* the list is newest first */
    }
    if (n < (unsigned)pc_w.cfg->max_pinned_per_client)
        return true;
    static struct pc_ratelimit rl;
    pc_log_limited(&rl, PC_LOG_INFO,
                   "client %s: %u authenticated member connections "
                   "(max_pinned_per_client %d): %s",
                   t->client_ip, n, pc_w.cfg->max_pinned_per_client,
                   oldest ? "closing its oldest idle one" : "all busy");
    *evict = oldest;
    return oldest != NULL;
}

void pc_pool_tls_session_put(const struct pc_upconn *u, SSL_SESSION *sess)
{
    struct member_state *ms = member_state(u->pool_idx, u->member_idx);
    if (ms->tls_sess)
        SSL_SESSION_free(ms->tls_sess);
    ms->tls_sess = sess;
    snprintf(ms->tls_sess_name, sizeof(ms->tls_sess_name), "%s", u->sni);
}

void pc_pool_tls_session_offer(const struct pc_upconn *u, SSL *ssl)
{
    struct member_state *ms = member_state(u->pool_idx, u->member_idx);
    if (ms->tls_sess && strcmp(ms->tls_sess_name, u->sni) == 0)
        SSL_set_session(ssl, ms->tls_sess);
}
