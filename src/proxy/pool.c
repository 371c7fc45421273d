/* pool.c — idle, pinned and TLS-session bookkeeping of member connections (see pool.h). */
#include "proxy/pool.h"

#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "common/log.h"
#include "core/worker.h"

struct member_state {
    struct pc_upconn *idle;      /* most recently parked first */
    struct pc_upconn *idle_tail; /* the oldest: evicted first when the list is full */
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
    for (size_t p = 0; p < cfg->npools; p++)
        if (!(members[p] = calloc(cfg->pools[p].nmembers + 1, sizeof(**members))))
            return -1;
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
    struct pc_upconn *u = member_state(pool_idx, member_idx)->idle;
    for (; u; u = u->next)
        if ((u->ssl != NULL) == tls && strcmp(u->sni, sni) == 0)
            break;
    if (u)
        pc_pool_idle_unlink(u);
    return u;
}

void pc_pool_idle_unlink(struct pc_upconn *u)
{
    struct member_state *ms = member_state(u->pool_idx, u->member_idx);
    if (u->prev)
        u->prev->next = u->next;
    else
        ms->idle = u->next;
    if (u->next)
        u->next->prev = u->prev;
    else
        ms->idle_tail = u->prev;
    u->next = u->prev = NULL;
    ms->nidle--;
}

struct pc_upconn *pc_pool_idle_put(struct pc_upconn *u)
{
    struct member_state *ms = member_state(u->pool_idx, u->member_idx);
    u->prev = NULL;
    u->next = ms->idle;
    if (ms->idle)
        ms->idle->prev = u;
    else
        ms->idle_tail = u;
    ms->idle = u;
    ms->nidle++;
    return ms->nidle > PC_POOL_IDLE_MAX ? ms->idle_tail : NULL;
}

struct pc_upconn *pc_pool_idle_any(void)
{
    const struct pc_config *cfg = pc_w.cfg;
    for (size_t p = 0; p < npools; p++)
        for (size_t m = 0; m < cfg->pools[p].nmembers; m++)
            if (members[p][m].idle)
                return members[p][m].idle;
    return NULL;
}

/* A session's pinned connections (one per pool and TLS name it authenticated to) form a list
 * through next/prev, which pinned connections never use for an idle list. */
void pc_pool_pin_link(struct pc_upconn *u)
{
    struct pc_session *s = u->s;
    u->prev = NULL;
    u->next = s->pinned;
    if (s->pinned)
        s->pinned->prev = u;
    s->pinned = u;
}

void pc_pool_pin_unlink(struct pc_upconn *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else if (u->s->pinned == u)
        u->s->pinned = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->next = u->prev = NULL;
}

struct pc_upconn *pc_pool_pin_find(const struct pc_session *s, unsigned pool_idx, bool tls,
                                   const char *sni)
{
    for (struct pc_upconn *p = s->pinned; p; p = p->next)
        if (p->pool_idx == pool_idx && (p->ssl != NULL) == tls && strcmp(p->sni, sni) == 0)
            return p;
    return NULL;
}

bool pc_pool_pin_room(const struct pc_session *s, const struct pc_upconn *except,
                      struct pc_upconn **evict)
{
    unsigned n = 0;
    struct pc_upconn *oldest = NULL;
    *evict = NULL;
    for (struct pc_upconn *p = s->pinned; p; p = p->next) {
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
                   s->peer_ip, n, pc_w.cfg->max_pinned_per_client,
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
