/* guard.c — the sign-in defence on the data path (guard.h, docs/signin.md).
 *
 * Which requests are attempts: an Authorization of NTLM or Negotiate carrying an NTLM
 * AUTHENTICATE message (the user it names) or a Kerberos token (nobody: counted per source),
 * Basic (the user-id), POST /WebTicket/oauthtoken with grant_type=password (the form's
 * username) and POST /WebTicket/WebTicketService.svc/Auth with a WS-Security UsernameToken
 * (its Username); the body of those two is read whole, at most PC_GUARD_BODY_MAX, before
 * anything is forwarded.
 * An attempt is checked against the shared table (signin.c) before it may reach a pool; the
 * member's answer is its result. Passwords are never copied: the parsers skip over them. */
#include "proxy/guard.h"
#include "proxy/guard-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "admin/stats.h"
#include "common/log.h"
#include "common/net.h"
#include "common/out.h"
#include "common/util.h"
#include "http/http1.h"
#include "proxy/ntlm.h"
#include "proxy/signin-store.h"
#include "proxy/signin.h"

static const char *const channel_names[PC_GUARD_NCHANNELS] = {"ntlm", "kerberos", "basic", "oauth",
                                                              "soap"};

/* One attempt in flight (t->signin): taken from a free list, so that only sign-in requests
 * pay for the account name. */
struct pc_guard_attempt {
    struct pc_guard_attempt *next; /* free list */
    enum pc_guard_channel channel;
    bool counted; /* forwarded: its result goes to the table */
    bool capture; /* failed, with a small body: learn it once complete */
    struct pc_addr source;
    char account[PC_SIGNIN_NAME_MAX];
};

/* The shared mapping: a robust process-shared mutex, then the table. A worker that dies
 * holding the lock leaves it to the next one (EOWNERDEAD): the table's updates are small
 * and each leaves it consistent enough to go on. */
struct shared {
    pthread_mutex_t lock;
    size_t size;
    uint32_t node; /* this node's id in the store's messages (random at start) */
    _Alignas(8) unsigned char table[];
};

static struct shared *shm;
static struct pc_signin_table *table;
static const struct pc_config *cfg;
static struct ev_loop *loop;
static struct pc_guard_attempt *free_attempts;
static uint8_t scratch[PC_NTLM_TOKEN_MAX]; /* a decoded token; wiped after each use */

static uint64_t *m_fail[PC_GUARD_NCHANNELS], *m_success[PC_GUARD_NCHANNELS], *m_refused[2],
    *m_locked[2], *m_store_up;
static ev_timer gauge_timer;

static void policy_of(const struct pc_config *c, struct pc_signin_policy *p)
{
    const struct pc_signin_cfg *s = &c->signin;
    pc_signin_policy_default(p);
    p->threshold = (unsigned)s->threshold;
    p->window = (unsigned)(s->window + 0.5);
    p->duration = (unsigned)(s->duration + 0.5);
    p->familiar_ttl = (unsigned)(s->familiar + 0.5);
    p->spray_accounts = (unsigned)s->spray_accounts;
    p->spray_window = (unsigned)(s->spray_window + 0.5);
    p->spray_duration = (unsigned)(s->spray_duration + 0.5);
    p->qualified = s->account_key == PC_SIGNIN_KEY_DOMAIN;
}

struct pc_signin_table *pc_guard_table(void)
{
    return table;
}

void pc_guard_lock(void)
{
    int r = pthread_mutex_lock(&shm->lock);
    if (r == EOWNERDEAD)
        pthread_mutex_consistent(&shm->lock);
}

void pc_guard_unlock(void)
{
    pthread_mutex_unlock(&shm->lock);
}

int pc_guard_create(const struct pc_config *c)
{
    struct pc_signin_policy p;
    policy_of(c, &p);
    unsigned na = (unsigned)c->signin.max_accounts, ns = (unsigned)c->signin.max_sources;
    size_t tsize = pc_signin_size(na, ns);
    size_t size = sizeof(struct shared) + tsize;
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        pc_err("sign-in defence off: cannot map %zu bytes: %s", size, strerror(errno));
        return -1;
    }
    struct shared *s = m;
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0 ||
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0 ||
        pthread_mutex_init(&s->lock, &a) != 0) {
        pc_err("sign-in defence off: cannot set up its lock");
        munmap(m, size);
        return -1;
    }
    pthread_mutexattr_destroy(&a);
    uint32_t seed[2];
    if (getrandom(seed, sizeof seed, 0) != sizeof seed)
        seed[0] = (uint32_t)(uintptr_t)m ^ (uint32_t)getpid(), seed[1] = ~seed[0];
    s->node = seed[1];
    s->size = tsize;
    table = pc_signin_init(s->table, tsize, &p, na, ns, seed[0]);
    if (!table) {
        pc_err("sign-in defence off: its table cannot be laid out");
        munmap(m, size);
        return -1;
    }
    shm = s;
    return 0;
}

/* Every 5 s: the locked accounts and sources, for /metrics (the same value from every
 * worker, read as the smallest). */
static bool sweeper; /* worker 0: logs the lockouts that end */

static void ended(const struct pc_signin_lock *l, void *arg)
{
    (void)arg;
    char src[INET6_ADDRSTRLEN + 4] = "-";
    const uint8_t *k = l->source ? l->source : l->familiar;
    if (k)
        pc_signin_source_text(k, src, sizeof src);
    pc_info("sign-in lockout ended: %s %s%s%s", l->source ? "source" : "account",
            l->source ? src : l->account, l->familiar ? " for familiar source " : "",
            l->familiar ? src : "");
}

static void gauge_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l, (void)w, (void)revents;
    struct pc_signin_stats st;
    int64_t now = (int64_t)ev_now(loop);
    pc_guard_lock();
    if (sweeper)
        pc_signin_expire(table, now, ended, NULL);
    pc_signin_stats(table, now, &st);
    pc_guard_unlock();
    if (m_locked[0])
        *m_locked[0] = st.accounts_locked;
    if (m_locked[1])
        *m_locked[1] = st.sources_locked;
    if (m_store_up)
        *m_store_up = pc_store_up();
}

/* A result another node counted (signin-store.c): into this node's table. */
static void apply_remote(bool success, int64_t when, const char *account, const uint8_t src[16])
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    struct pc_addr a = {0};
    if (memcmp(src, v4mapped, 12) == 0) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&a.ss;
        v4->sin_family = AF_INET;
        memcpy(&v4->sin_addr, src + 12, 4);
        a.len = sizeof *v4;
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a.ss;
        v6->sin6_family = AF_INET6;
        memcpy(&v6->sin6_addr, src, 16);
        a.len = sizeof *v6;
    }
    pc_guard_lock();
    pc_signin_result(table, when, account, &a, success);
    pc_guard_unlock();
}

void pc_guard_worker_init(const struct pc_config *c, struct ev_loop *l, int id)
{
    cfg = c;
    loop = l;
    if (!table)
        return;
    struct pc_signin_policy p;
    policy_of(c, &p);
    pc_guard_lock();
    pc_signin_set_policy(table, &p);
    pc_guard_unlock();
    char key[96];
    for (int i = 0; i < PC_GUARD_NCHANNELS; i++) {
        snprintf(key, sizeof key, "portico_signin_failures_total{channel=\"%s\"}",
                 channel_names[i]);
        m_fail[i] = pc_stat(PC_COUNTER, key);
        snprintf(key, sizeof key, "portico_signin_successes_total{channel=\"%s\"}",
                 channel_names[i]);
        m_success[i] = pc_stat(PC_COUNTER, key);
    }
    m_refused[0] = pc_stat(PC_COUNTER, "portico_signin_refusals_total{reason=\"account\"}");
    m_refused[1] = pc_stat(PC_COUNTER, "portico_signin_refusals_total{reason=\"source\"}");
    m_locked[0] = pc_stat(PC_GAUGE_MIN, "portico_signin_locked{kind=\"account\"}");
    m_locked[1] = pc_stat(PC_GAUGE_MIN, "portico_signin_locked{kind=\"source\"}");
    pc_guard_answer_init(c);
    sweeper = id == 0;
    if (c->signin.has_store) {
        m_store_up = pc_stat(PC_GAUGE_MIN, "portico_signin_store_up");
        /* Every worker publishes; one per node applies the others' results. */
        pc_store_start(c, l, id == 0, shm->node, apply_remote);
    }
    ev_timer_init(&gauge_timer, gauge_cb, 0.5, 5.0);
    ev_timer_start(l, &gauge_timer);
    ev_unref(l); /* the refresh alone does not keep a draining worker alive */
}

static void count(uint64_t *c)
{
    if (c)
        (*c)++;
}

/* ---- which requests are attempts ---- */

/* The source of an attempt: the X-Forwarded-For client when there is one (parsed only for an
 * attempt, not for every request), else the connection's peer. */
static void source_of(struct pc_addr *out, const struct pc_addr *peer, const char *xff)
{
    *out = (struct pc_addr){0};
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ss;
    if (xff && inet_pton(AF_INET, xff, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        out->len = sizeof *v4;
    } else if (xff && inet_pton(AF_INET6, xff, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        out->len = sizeof *v6;
    } else {
        *out = *peer;
    }
}

static struct pc_guard_attempt *attempt_new(struct pc_txn *t, enum pc_guard_channel ch,
                                            const struct pc_addr *peer, const char *xff)
{
    struct pc_guard_attempt *a = free_attempts;
    if (a)
        free_attempts = a->next;
    else if (!(a = malloc(sizeof *a)))
        return NULL;
    a->next = NULL;
    a->channel = ch;
    a->counted = false;
    a->capture = false;
    source_of(&a->source, peer, xff);
    a->account[0] = '\0';
    t->signin = a;
    return a;
}

void pc_guard_drain(void)
{
    pc_store_stop();
}

void pc_guard_release(struct pc_txn *t)
{
    struct pc_guard_attempt *a = t->signin;
    if (!a)
        return;
    t->signin = NULL;
    a->next = free_attempts;
    free_attempts = a;
}

/* The account key of USER of DOMAIN into A; false when it names nobody (anonymous NTLM, an
 * empty or unreadable name: not a password attempt portico can count per account). */
static bool account_of(struct pc_guard_attempt *a, const char *domain, const char *user)
{
    bool q = cfg->signin.account_key == PC_SIGNIN_KEY_DOMAIN;
    return pc_signin_account(domain, user, q, a->account, sizeof a->account) > 0;
}

/* The table's verdict on A; REFUSE when it is locked (counted as a refusal). */
static enum pc_guard_step check(struct pc_guard_attempt *a)
{
    pc_guard_lock();
    enum pc_signin_verdict v = pc_signin_check(table, (int64_t)ev_now(loop),
                                               a->account[0] ? a->account : NULL, &a->source);
    pc_guard_unlock();
    if (v == PC_SIGNIN_ALLOW) {
        a->counted = true;
        return PC_GUARD_PASS;
    }
    count(m_refused[v == PC_SIGNIN_REFUSE_SOURCE]);
    return PC_GUARD_REFUSE;
}

/* The Authorization field of H: an NTLM AUTHENTICATE, a Kerberos token or Basic credentials
 * make T an attempt. */
static enum pc_guard_step authorization(struct pc_txn *t, const struct pc_head *h,
                                        const struct pc_field *f, const struct pc_addr *peer,
                                        const char *xff)
{
    const char *v = h->base + f->value.off;
    size_t n = f->value.len;
    struct pc_ntlm_info info;
    enum pc_ntlm_kind k = pc_ntlm_parse_header(v, n, scratch, sizeof scratch, &info);
    struct pc_guard_attempt *a = NULL;
    if (k == PC_NTLM_AUTHENTICATE) {
        if (!(a = attempt_new(t, PC_GUARD_NTLM, peer, xff)))
            return PC_GUARD_PASS; /* out of memory: forwarded uncounted rather than refused */
        if (!account_of(a, info.domain, info.user)) {
            pc_guard_release(t);
            return PC_GUARD_PASS;
        }
    } else if (k == PC_NTLM_KERBEROS) {
        if (!(a = attempt_new(t, PC_GUARD_KERBEROS, peer, xff)))
            return PC_GUARD_PASS;
    } else if (k == PC_NTLM_NONE) {
        char user[PC_SIGNIN_NAME_MAX];
        if (pc_signin_parse_basic(v, n, user, sizeof user) != 1)
            return PC_GUARD_PASS;
        if (!(a = attempt_new(t, PC_GUARD_BASIC, peer, xff)))
            return PC_GUARD_PASS;
        if (!account_of(a, NULL, user)) {
            pc_guard_release(t);
            return PC_GUARD_PASS;
        }
    } else {
        return PC_GUARD_PASS; /* a handshake leg, or a token nobody can read: not counted */
    }
    return check(a);
}

/* Whether H's path is PATH (any case), alone or followed by a query or a further segment. */
static bool path_is(const struct pc_head *h, const char *path)
{
    const char *p = h->base + h->path.off;
    size_t n = h->path.len, pl = strlen(path);
    if (n < pl || strncasecmp(p, path, pl) != 0)
        return false;
    return n == pl || p[pl] == '?' || p[pl] == '/';
}

/* The channel of a POST whose body is a sign-in (the web ticket service), or PC_GUARD_NCHANNELS. */
static enum pc_guard_channel body_channel(const struct pc_head *h)
{
    if (!pc_h1_eq(h, h->method, "post"))
        return PC_GUARD_NCHANNELS;
    if (path_is(h, "/webticket/oauthtoken"))
        return PC_GUARD_OAUTH;
    if (path_is(h, "/webticket/webticketservice.svc/auth"))
        return PC_GUARD_SOAP;
    return PC_GUARD_NCHANNELS;
}

enum pc_guard_step pc_guard_request(struct pc_txn *t, const struct pc_head *h,
                                    const struct pc_addr *peer, const char *xff)
{
    if (!table || !cfg->signin.on)
        return PC_GUARD_PASS;
    const struct pc_field *authz = NULL;
    for (unsigned i = 0; i < h->nfields; i++) {
        if (h->f[i].kind != PC_HK_AUTHORIZATION)
            continue;
        if (authz)
            return PC_GUARD_MALFORMED; /* two credentials: which one a member reads is its call */
        authz = &h->f[i];
    }
    if (authz)
        return authorization(t, h, authz, peer, xff);
    enum pc_guard_channel ch = body_channel(h);
    if (ch == PC_GUARD_NCHANNELS)
        return PC_GUARD_PASS;
    if (h->chunked)
        return PC_GUARD_CHUNKED;
    if (!h->has_cl || h->content_length == 0)
        return PC_GUARD_PASS; /* no form, no password */
    if (h->content_length > PC_GUARD_BODY_MAX)
        return PC_GUARD_TOO_LARGE;
    return attempt_new(t, ch, peer, xff) ? PC_GUARD_BODY : PC_GUARD_PASS;
}

enum pc_guard_step pc_guard_body(struct pc_txn *t, const char *body, size_t len)
{
    struct pc_guard_attempt *a = t->signin;
    if (!a)
        return PC_GUARD_PASS;
    char user[PC_SIGNIN_NAME_MAX];
    int found;
    if (a->channel == PC_GUARD_SOAP) {
        found = pc_signin_parse_soap(body, len, user, sizeof user);
    } else {
        struct pc_signin_form f;
        enum pc_signin_form_kind k = pc_signin_parse_form(body, len, &f);
        /* Another grant (an anonymous meeting join's conference key, Windows integrated) is
         * no password of an account. */
        found = k == PC_SIGNIN_FORM_MALFORMED ? -1 : k == PC_SIGNIN_FORM_PASSWORD;
        memcpy(user, f.username, sizeof user);
    }
    if (found < 0) {
        pc_guard_release(t);
        return PC_GUARD_MALFORMED;
    }
    /* A password without a user is the member's to refuse. */
    if (!found || !account_of(a, NULL, user)) {
        pc_guard_release(t);
        return PC_GUARD_PASS;
    }
    return check(a);
}

/* ---- results ---- */

/* Whether H carries X-Ms-diagnostics (Lync's account of why it refused a sign-in). */
static bool has_diagnostics(const struct pc_head *h)
{
    for (unsigned i = 0; i < h->nfields; i++)
        if (pc_h1_eq(h, h->f[i].name, "x-ms-diagnostics"))
            return true;
    return false;
}

/* Whether the response H is the member's refusal of a password on channel CH: 401 for the
 * authentication schemes, 400 (invalid_grant) or 401 for the OAuth grant, 401 or an error
 * with X-Ms-diagnostics (the SOAP fault) for the SOAP web ticket. */
static bool is_failure(enum pc_guard_channel ch, const struct pc_head *h)
{
    int status = h->status;
    if (status == 401)
        return true;
    if (ch == PC_GUARD_OAUTH)
        return status == 400;
    return ch == PC_GUARD_SOAP && status >= 400 && has_diagnostics(h);
}

void pc_guard_response(struct pc_txn *t, const struct pc_head *h)
{
    int status = h->status;
    struct pc_guard_attempt *a = t->signin;
    if (!a || !a->counted || status < 200)
        return;
    a->counted = false; /* one result per attempt */
    bool fail = is_failure(a->channel, h);
    if (!fail && status >= 500)
        return; /* the pool failed, not the password: no verdict */
    int64_t now = (int64_t)ev_now(loop);
    const char *acct = a->account[0] ? a->account : NULL;
    pc_guard_lock();
    pc_signin_result(table, now, acct, &a->source, !fail);
    enum pc_signin_verdict after =
        fail ? pc_signin_check(table, now, acct, &a->source) : PC_SIGNIN_ALLOW;
    pc_guard_unlock();
    uint8_t key[16];
    pc_signin_source_key(&a->source, key);
    pc_store_publish(!fail, now, acct, key);
    count(fail ? m_fail[a->channel] : m_success[a->channel]);
    if (!fail)
        return;
    pc_guard_learn_head(t->pool_idx, a->channel, h);
    a->capture = h->has_cl && h->content_length <= 2048 && cfg->signin.failure_delay > 0;
    if (cfg->signin.failure_delay > 0)
        t->hold_until = t->t_start + cfg->signin.failure_delay;
    if (after != PC_SIGNIN_ALLOW) {
        char src[INET6_ADDRSTRLEN];
        pc_net_addr_text(&a->source, src, sizeof src);
        /* The lockout starts now: one line (never a password; the user is an account key). */
        pc_warn("sign-in lockout: %s %s from %s after %s failures (%s)",
                after == PC_SIGNIN_REFUSE_SOURCE ? "source" : "account", acct ? acct : "-", src,
                after == PC_SIGNIN_REFUSE_SOURCE ? "spray" : "repeated", channel_names[a->channel]);
    }
}

/* ---- the answer to a refused attempt ---- */

int pc_guard_refusal(struct pc_out *o, struct pc_txn *t, bool close)
{
    struct pc_guard_attempt *a = t->signin;
    if (cfg->signin.failure_delay > 0)
        t->hold_until = t->t_start + cfg->signin.failure_delay;
    return pc_guard_answer(o, t->pool_idx, a ? a->channel : PC_GUARD_NTLM, close, ev_now(loop));
}

void pc_guard_complete(struct pc_txn *t)
{
    struct pc_guard_attempt *a = t->signin;
    if (!a || !a->capture)
        return;
    a->capture = false;
    /* Only a response still whole in the client's queue (held by the delay floor): its head
     * in the buffer, its body there too or, forwarded without a copy, in RAW. */
    const struct pc_out *o = t->resp;
    size_t hl = o->ob ? o->ob->end - o->ob->start : 0;
    char whole[4096];
    if (t->bytes_out || !hl || hl + o->rawlen > sizeof whole)
        return;
    memcpy(whole, o->ob->data + o->ob->start, hl);
    if (o->rawlen)
        memcpy(whole + hl, o->raw, o->rawlen);
    uint32_t acct = pc_fnv1a(PC_FNV_INIT, a->account, strlen(a->account));
    pc_guard_learn_body(t->pool_idx, a->channel, whole, hl + o->rawlen, acct);
}
