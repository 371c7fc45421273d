/* upstream.c — connections to pool members: connect, reuse, and the response side.
 *
 * An upconn belongs to one session while a transaction runs and sits in its member's idle
 * list between transactions (per worker, most recent first, bounded). An idle connection that
 * becomes readable was closed by the pool (or is misbehaving) and is dropped at once, so that
 * the stale-connection race is rare; when it happens anyway, a request whose bytes can all
 * be replayed goes again on a fresh connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin/metrics.h"
#include "common/log.h"
#include "common/net.h"
#include "common/util.h"
#include "config/config.h"
#include "core/io.h"
#include "http/body.h"
#include "core/worker.h"
#include "http/chunked.h"
#include "http/http1.h"
#include "proxy/auth.h"
#include "proxy/balance.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "tls/tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#define UP_IDLE_TIMEOUT 55. /* below IIS's 120 s connection timeout: we close first */

static llhttp_settings_t resp_settings;
static struct pc_head head; /* scratch for response header blocks */
static struct pc_upconn *free_upconns;
static const struct pc_up_owner *owner; /* the transactions' side (session.c) */

#define UP_FROM(w, field) PC_CONTAINER_OF(w, struct pc_upconn, field)

static const struct pc_pool *up_pool(const struct pc_upconn *u)
{
    return &pc_w.cfg->pools[u->pool_idx];
}

static const struct pc_member *up_member(const struct pc_upconn *u)
{
    return &up_pool(u)->members[u->member_idx];
}

static int up_port(const struct pc_session *s, const struct pc_member *m)
{
    return s->kind == PC_LISTEN_HTTP ? m->http_port : m->https_port;
}

/* ---- llhttp callbacks (response framing) ---- */

static int resp_on_body(llhttp_t *p, const char *at, size_t len)
{
    struct pc_upconn *u = p->data;
    return pc_body_put(&u->s->out, u->body, at, len);
}

/* The response is complete: 0, or -1 when out of memory. */
static int resp_done(struct pc_upconn *u)
{
    u->msg_done = true;
    u->keepalive = u->ka_hdr && !u->until_close;
    return pc_body_end(&u->s->out, u->body);
}

static int resp_on_complete(llhttp_t *p)
{
    return resp_done(p->data) < 0 ? -1 : HPE_PAUSED;
}

void pc_upstream_init(const struct pc_up_owner *o)
{
    owner = o;
    llhttp_settings_init(&resp_settings);
    resp_settings.on_body = resp_on_body;
    resp_settings.on_message_complete = resp_on_complete;
    pc_chunked_settings(&resp_settings);
}

/* ---- lifecycle ---- */

static void up_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void up_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* Back to the free list: only the fixed part is recycled. */
static void up_recycle(struct pc_upconn *u)
{
    free(u->sni);
    u->sni = NULL;
    u->next = free_upconns;
    free_upconns = u;
}

void pc_upstream_close(struct pc_upconn *u)
{
    pc_metrics_upstream(u->pool_idx, u->member_idx, -1);
    if (u->pinned)
        pc_metrics_pinned(-1);
    if (!u->s)
        pc_pool_idle_unlink(u);
    else if (u->pinned)
        pc_pool_pin_unlink(u);
    ev_io_stop(pc_w.loop, &u->io);
    ev_timer_stop(pc_w.loop, &u->timer);
    if (u->ssl) {
        /* Freeing a connection that was not shut down marks its session "bad" (not
         * resumable): that session is the one kept for the next connection, so say that
         * the shutdown happened. */
        SSL_set_shutdown(u->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(u->ssl);
        u->ssl = NULL;
        ERR_clear_error();
    }
    close(u->fd);
    pc_buf_put(u->in);
    pc_out_reset(&u->out);
    up_recycle(u);
}

void pc_upstream_close_idle_all(void)
{
    for (struct pc_upconn *u; (u = pc_pool_idle_any());)
        pc_upstream_close(u);
}

static void up_log(const struct pc_upconn *u, const char *what)
{
    static struct pc_ratelimit rl;
    const struct pc_member *m = up_member(u);
    char ip[INET6_ADDRSTRLEN];
    pc_net_addr_text(&m->addr, ip, sizeof(ip));
    pc_log_limited(&rl, PC_LOG_WARN, "pool %s: member %s (%s port %d): %s", up_pool(u)->name,
                   m->host, ip, u->s ? up_port(u->s, m) : 0, what);
}

/* The TLS name for the session's request: its Host without port (empty for plain HTTP). */
static void request_sni(const struct pc_session *s, char *out, size_t len)
{
    out[0] = '\0';
    if (s->kind != PC_LISTEN_HTTPS)
        return;
    const char *h = s->t.lg + s->t.lg_method;
    size_t hl = pc_h1_authority_host(h, s->t.lg_host);
    if (hl && h[hl - 1] == '.')
        hl--;
    if (hl >= len)
        hl = len - 1;
    for (size_t i = 0; i < hl; i++)
        out[i] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] - 'A' + 'a' : h[i]);
    out[hl] = '\0';
}

/* Resumes TLS sessions with members: the newest session per member and name, per worker. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct pc_upconn *u = SSL_get_app_data(ssl);
    if (!u)
        return 0;
    pc_pool_tls_session_put(u, sess);
    return 1; /* the pool keeps the reference */
}

static int up_tls_setup(struct pc_upconn *u)
{
    const struct pc_pool *pool = up_pool(u);
    SSL_CTX *ctx = pc_w.tls->pool_ctx[u->pool_idx];
    if (!ctx)
        return -1;
    SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
    u->ssl = SSL_new(ctx);
    if (!u->ssl || SSL_set_fd(u->ssl, u->fd) != 1)
        return -1;
    SSL_set_app_data(u->ssl, u);
    SSL_set_connect_state(u->ssl);
    bool ip_literal = u->sni[0] == '[' || strspn(u->sni, "0123456789.") == strlen(u->sni);
    if (u->sni[0] && !ip_literal && SSL_set_tlsext_host_name(u->ssl, u->sni) != 1)
        return -1;
    if (pool->verify) {
        const char *name = pool->verify_name ? pool->verify_name : u->sni;
        if (SSL_set1_host(u->ssl, name) != 1)
            return -1;
    }
    pc_pool_tls_session_offer(u, u->ssl);
    return 0;
}

/* Opens a non-blocking connection to MEMBER from the internal address, for TLS name SNI. */
static struct pc_upconn *up_connect(struct pc_session *s, unsigned member_idx, const char *sni)
{
    const struct pc_config *cfg = pc_w.cfg;
    const struct pc_member *m = &cfg->pools[s->t.pool_idx].members[member_idx];
    struct pc_addr to = m->addr;
    pc_net_set_port(&to, up_port(s, m));
    struct pc_upconn *u = free_upconns;
    if (u)
        free_upconns = u->next;
    else if (!(u = malloc(sizeof(*u))))
        return NULL;
    memset(u, 0, sizeof(*u));
    u->pool_idx = s->t.pool_idx;
    u->member_idx = member_idx;
    u->s = s;
    const char *step = NULL;
    int fd = pc_net_connect(&to, cfg->has_internal ? &cfg->internal : NULL, &step);
    if (fd < 0 && strcmp(step, "connect") == 0) {
        /* Refused or unreachable at once: the member's fault. */
        int err = errno;
        up_log(u, strerror(err));
        pc_metrics_connect_failure(u->pool_idx, member_idx);
        pc_balance_mark_down(u->pool_idx, member_idx, strerror(err));
        up_recycle(u);
        return NULL;
    }
    if (fd < 0) {
        pc_err("%s%s: %s", step, strcmp(step, "bind") == 0 ? " to the internal address" : "",
               strerror(errno));
        up_recycle(u);
        return NULL;
    }
    u->fd = fd;
    if (!(u->sni = strdup(sni))) {
        close(fd);
        up_recycle(u);
        return NULL;
    }
    if (s->kind == PC_LISTEN_HTTPS && up_tls_setup(u) < 0) {
        char why[200];
        pc_err("pool %s: TLS setup: %s", cfg->pools[s->t.pool_idx].name,
               pc_tls_error(why, sizeof(why), "failed"));
        SSL_free(u->ssl);
        close(fd);
        up_recycle(u);
        return NULL;
    }
    llhttp_init(&u->chunk.ll, HTTP_RESPONSE, &resp_settings);
    u->chunk.ll.data = u;
    ev_io_init(&u->io, up_io_cb, fd, EV_WRITE);
    ev_init(&u->timer, up_timer_cb);
    u->connecting = true;
    u->handshaking = u->ssl != NULL;
    pc_metrics_upstream(u->pool_idx, member_idx, +1);
    ev_timer_set(&u->timer, cfg->timeout_connect, 0.);
    ev_timer_start(pc_w.loop, &u->timer);
    ev_io_start(pc_w.loop, &u->io);
    return u;
}

/* Gives the rewritten request head to U (a copy when it may have to be replayed). */
static int up_take_request(struct pc_session *s, struct pc_upconn *u)
{
    s->t.resend_ok = u->reused && s->t.body == PC_BODY_NONE;
    if (s->t.resend_ok && !u->out.ob) {
        /* The copy is kept until the response begins, minutes for a long poll; the buffer the
         * head was written into goes to the pool and back to the free list once sent. */
        struct pc_buf *copy = pc_buf_clone_kept(s->t.reqhead);
        if (!copy)
            return -1;
        u->out.ob = s->t.reqhead;
        s->t.reqhead = copy;
    } else if (s->t.resend_ok) {
        if (!pc_out_append(&u->out, s->t.reqhead->data, pc_buf_len(s->t.reqhead)))
            return -1;
    } else {
        u->out.ob = s->t.reqhead;
        s->t.reqhead = NULL;
    }
    return 0;
}

/* Prepares U for a new request of S. */
static int up_begin(struct pc_session *s, struct pc_upconn *u)
{
    pc_metrics_member_request(u->pool_idx, u->member_idx);
    u->in_head = true;
    u->got_bytes = u->msg_done = u->keepalive = false;
    u->chunked_in = u->until_close = false;
    u->body_left = 0;
    u->rd_wait = true; /* no response before the request: wait for the socket to say so */
    u->body = PC_BODY_NONE;
    memset(&u->scan, 0, sizeof(u->scan));
    u->nreq++;
    s->t.up = u;
    if (up_take_request(s, u) < 0) {
        pc_upstream_close(u);
        s->t.up = NULL;
        return -1;
    }
    return 0;
}

static int attach(struct pc_session *s, bool fresh_only)
{
    const struct pc_pool *pool = &pc_w.cfg->pools[s->t.pool_idx];
    char sni[256];
    request_sni(s, sni, sizeof(sni));
    bool tls = s->kind == PC_LISTEN_HTTPS;
    struct pc_upconn *pin = s->pinned ? pc_pool_pin_find(s, s->t.pool_idx, tls, sni) : NULL;
    if (pin) {
        /* Connection-bound authentication: this client's authenticated connection, whatever
         * the balancer would say; never retried elsewhere. */
        pin->pin_idle = false;
        ev_timer_stop(pc_w.loop, &pin->timer);
        s->t.member_idx = (int)pin->member_idx;
        int r = up_begin(s, pin);
        s->t.resend_ok = false;
        return r;
    }
    for (;;) {
        struct pc_pick q = {s->t.pool_idx, s->t.tried, s->peer_ip, s->t.has_cookie, s->t.cookie_id};
        bool set_cookie = false;
        int mi = pc_balance_pick(&q, &set_cookie);
        s->t.set_cookie |= set_cookie;
        if (mi < 0) {
            static struct pc_ratelimit rl = PC_RATELIMIT_PER_REQUEST;
            pc_log_limited(&rl, PC_LOG_WARN, "pool %s: no member available for %.*s", pool->name,
                           (int)s->t.lg_host, s->t.lg + s->t.lg_method);
            return -1;
        }
        s->t.tried |= 1ull << (mi % 64);
        s->t.member_idx = mi;
        struct pc_upconn *u =
            fresh_only ? NULL : pc_pool_idle_take(s->t.pool_idx, (unsigned)mi, tls, sni);
        if (u) {
            ev_timer_stop(pc_w.loop, &u->timer);
            u->s = s;
            u->reused = true;
        } else if (!(u = up_connect(s, (unsigned)mi, sni))) {
            continue; /* refused at once: that member is marked down, try the next */
        }
        return up_begin(s, u);
    }
}

int pc_upstream_attach(struct pc_session *s)
{
    return attach(s, false);
}

void pc_upstream_release(struct pc_session *s, bool reusable)
{
    struct pc_upconn *u = s->t.up;
    reusable = reusable && u->keepalive && u->msg_done && !pc_out_pending(&u->out) &&
               (!u->in || pc_buf_len(u->in) == 0) && (!u->ssl || !SSL_has_pending(u->ssl)) &&
               !pc_w.draining;
    if (u->pinned) {
        if (!reusable) {
            /* The authenticated connection is gone: so is the client's (docs/lync-publishing.md).
             */
            s->close_after = true;
            pc_upstream_close(u);
            return;
        }
        pc_buf_put(u->in);
        u->in = NULL;
        u->pin_idle = true;
        pc_io_want(pc_w.loop, &u->io, EV_READ); /* notice the pool closing it */
        return;
    }
    if (!reusable) {
        pc_upstream_close(u);
        return;
    }
    pc_buf_put(u->in);
    u->in = NULL;
    u->s = NULL;
    struct pc_upconn *evict = pc_pool_idle_put(u); /* the oldest, past the cap */
    if (evict)
        pc_upstream_close(evict);
    pc_io_want(pc_w.loop, &u->io, EV_READ); /* a readable idle connection has been closed */
    ev_timer_stop(pc_w.loop, &u->timer);
    ev_timer_set(&u->timer, UP_IDLE_TIMEOUT, 0.);
    ev_timer_start(pc_w.loop, &u->timer);
}

/* ---- the response ---- */

/* The connection failed before or during the response. */
static int up_fail(struct pc_upconn *u, int status, const char *why)
{
    struct pc_session *s = u->s;
    up_log(u, why);
    if (u->pinned)
        s->close_after = true; /* never retried elsewhere: the client starts over */
    pc_upstream_close(u);
    s->t.up = NULL;
    return owner->failed(s, status, why);
}

/* A reused connection closed before answering: most likely the pool closed it while idle
 * just as we sent on it. Replay on a fresh connection when nothing can have been lost. */
static int up_stale(struct pc_upconn *u)
{
    struct pc_session *s = u->s;
    if (!s->t.resend_ok || !s->t.reqhead || u->pinned)
        return up_fail(u, 502, "connection closed before a response");
    pc_upstream_close(u);
    s->t.up = NULL;
    s->t.tried = 0;
    if (attach(s, true) < 0)
        return owner->failed(s, 502, "no member for the retry");
    return 0;
}

/* After up_fail inside a step: 1 = the connection is gone but the session lives on (it got
 * an error response), -1 = the session closed too. */
static int gone(int r)
{
    return r < 0 ? -1 : 1;
}

/* Handles a complete response header block of HL bytes: 0 = go on, else see gone(). */
static int up_head(struct pc_upconn *u, size_t hl)
{
    struct pc_session *s = u->s;
    const char *p = u->in->data + u->in->start;
    if (pc_h1_parse(p, hl, false, &head) != 0)
        return gone(up_fail(u, 502, "malformed response header"));
    int st = head.status;
    if (st == 101 && !s->t.upgrade_req)
        return gone(up_fail(u, 502, "unexpected 101 (upgrade was not requested)"));
    bool unshareable = false;
    if (st >= 200 && (s->t.auth_req || pc_auth_binds(&head)) && !u->pinned) {
        /* Connection-bound authentication from either side (proxy/auth.c): this connection
         * now belongs to this client. Past max_pinned_per_client with every pin busy it is
         * used for this response only, then closed: never shared. (An HTTP/1.1 client
         * connection has one request at a time, so its other pins are all idle.) */
        struct pc_upconn *evict;
        if (pc_pool_pin_room(s, u, &evict)) {
            if (evict)
                pc_upstream_close(evict); /* unlinks itself */
            u->pinned = true;
            pc_metrics_pinned(+1);
            pc_pool_pin_link(u);
        } else {
            unshareable = true;
        }
    }
    enum pc_body_mode mode;
    bool bodyless = (st < 200 && st != 101) || s->t.head_req || st == 204 || st == 304;
    if (bodyless)
        mode = PC_BODY_NONE;
    else if (head.chunked)
        mode = s->t.client_10 ? PC_BODY_DECHUNK : PC_BODY_CHUNK;
    else if (head.has_cl)
        mode = PC_BODY_RAW;
    else
        mode = s->t.client_10 ? PC_BODY_RAW : PC_BODY_CHUNK; /* close-delimited */
    if (s->t.client_10 && !bodyless && !head.has_cl)
        s->close_after = true; /* only the close can end that body for an HTTP/1.0 client */
    if (st == 101) {
        mode = PC_BODY_RAW;
        s->tunnel = true;
    }
    if (st >= 200 || st == 101) {
        u->body = mode;
        s->t.up_status = s->t.status = st;
    }
    /* Whether the member keeps the connection (RFC 9112 §9.3). A final answer while the
     * request body is still coming, from a member that closes after it: the rest of the body
     * has nowhere to go, so this client connection ends too. */
    bool member_ka = head.version == 11 ? !head.conn_close : head.conn_keepalive;
    if (st >= 200 && !s->t.req_done && !member_ka)
        s->close_after = true;
    /* An interim response never goes to an HTTP/1.0 client (RFC 9110 §15.2): it would take
     * `103 Early Hints` for the answer. */
    bool dropped = st < 200 && st != 101 && s->t.client_10;
    if (!dropped && !pc_rw_response(&s->out, &head, s, mode))
        return gone(up_fail(u, 502, "out of memory"));
    /* Framing (RFC 9112 §6.3): Content-Length is counted here, chunked goes through llhttp,
     * neither means the body ends with the connection. */
    u->ka_hdr = member_ka && !unshareable;
    if (s->tunnel || st < 200) {
        /* a tunnel, or an interim response: the final one follows */
    } else if (bodyless) {
        if (resp_done(u) < 0)
            return gone(up_fail(u, 502, "out of memory"));
    } else if (head.chunked) {
        u->chunked_in = true;
        if (pc_chunked_begin(&u->chunk, false) < 0)
            return gone(up_fail(u, 502, "chunked framing"));
    } else if (head.has_cl) {
        u->body_left = head.content_length;
        if (u->body_left == 0 && resp_done(u) < 0)
            return gone(up_fail(u, 502, "out of memory"));
    } else {
        u->until_close = true;
    }
    u->in->start += hl;
    s->t.resp_begun |= !dropped;
    if (st >= 200 || st == 101) {
        u->in_head = false;
        /* The request can no longer be replayed: give back the copy. */
        pc_buf_put(s->t.reqhead);
        s->t.reqhead = NULL;
        s->t.resend_ok = false;
    } else {
        memset(&u->scan, 0, sizeof(u->scan));
    }
    if (u->msg_done)
        owner->event(s, PC_UP_COMPLETE);
    return 0;
}

/* The steps of pc_upstream_pump return what the pump does next: go round again, read from
 * the member, or (the response having ended with the connection) finish; or the pump's own
 * result, 0 (the session lives on) or -1 (it closed). */
enum { UP_AGAIN = 1, UP_READ = 2, UP_ENDED = 3 };

/* Buffered bytes of a response header block. */
static int up_feed_head(struct pc_upconn *u, struct pc_buf *b)
{
    int hl = pc_h1_scan(&u->scan, b->data + b->start, pc_buf_len(b), false);
    if (hl < 0)
        return up_fail(u, 502, "malformed response header");
    if (hl > 0) {
        int r = up_head(u, (size_t)hl);
        return r ? (r < 0 ? -1 : 0) : UP_AGAIN;
    }
    if (pc_buf_room(b) == 0) {
        struct pc_buf *nb = b->start ? (pc_buf_compact(b), b) : pc_buf_grow(b, b->cap * 2);
        if (!nb)
            return up_fail(u, 502, "out of memory");
        u->in = nb;
    }
    return UP_READ;
}

/* Buffered bytes of a response body, framed for the client (raw pieces go out before
 * anything is read over them). */
static int up_feed_body(struct pc_upconn *u, struct pc_buf *b)
{
    struct pc_session *s = u->s;
    size_t feed = pc_buf_len(b);
    if (u->body != PC_BODY_RAW) {
        /* Re-chunking adds at most a chunk header per piece: keep it in one buffer. */
        if (!pc_out_reserve(&s->out, PC_BUF_SIZE / 2))
            return up_fail(u, 502, "out of memory");
        size_t room = pc_buf_room(s->out.ob) - 32;
        feed = feed < room ? feed : room;
    }
    const char *at = b->data + b->start;
    if (!u->chunked_in) {
        size_t n = feed;
        if (!u->until_close && n > u->body_left)
            n = (size_t)u->body_left;
        if (pc_body_put(&s->out, u->body, at, n) < 0)
            return up_fail(u, 502, "out of memory");
        b->start += n;
        if (!u->until_close) {
            u->body_left -= n;
            if (u->body_left == 0 && resp_done(u) < 0)
                return up_fail(u, 502, "out of memory");
        }
    } else {
        size_t used;
        enum llhttp_errno e = pc_chunked_feed(&u->chunk, at, feed, &used);
        if (e != HPE_OK && e != HPE_PAUSED)
            return up_fail(u, 502, llhttp_errno_name(e));
        b->start += used;
    }
    if (u->msg_done && pc_buf_len(b))
        u->keepalive = false; /* bytes after the response: never reuse */
    return UP_AGAIN;
}

/* Reads from the member; at the end of the stream decides what that end means. */
static int up_read(struct pc_upconn *u)
{
    struct pc_session *s = u->s;
    if (u->rd_wait)
        return 0;
    ssize_t n = pc_io_read_bulk(u->fd, u->ssl, &u->in);
    if (n > 0) {
        u->got_bytes = true;
        s->last_act = ev_now(pc_w.loop);
        return UP_AGAIN;
    }
    if (n == PC_IO_AGAIN) {
        /* The socket is drained, unless a full buffer stopped the read before it. */
        u->rd_wait = !u->in || pc_buf_room(u->in) > 0;
        return 0;
    }
    /* End of stream (or reset). */
    if (s->tunnel) {
        /* The pool ended a WebSocket: an ordinary end, the client's side closes too. */
        pc_upstream_close(u);
        s->t.up = NULL;
        return owner->failed(s, 502, "tunnel closed");
    }
    if (!u->got_bytes && u->reused)
        return up_stale(u) < 0 ? -1 : 0;
    if (!u->in_head && u->until_close && n == 0) {
        if (resp_done(u) < 0)
            return up_fail(u, 502, "out of memory");
        return UP_ENDED; /* a close-delimited body ended */
    }
    return up_fail(u, 502,
                   u->got_bytes ? "connection closed mid-response"
                                : "connection closed before a response");
}

int pc_upstream_pump(struct pc_upconn *u)
{
    struct pc_session *s = u->s;
    while (!u->msg_done) {
        if (u->connecting || u->handshaking)
            return 0;
        struct pc_buf *b = u->in;
        /* Parse what is buffered before writing, so that a header block and the body behind
         * it leave in one write; a pending raw piece must go first. */
        if (s->out.rawlen || !b || !pc_buf_len(b)) {
            int r = owner->flush(s);
            if (r <= 0)
                return r; /* closed, or the client is not reading: neither do we */
        }
        int r = UP_READ;
        if (b && pc_buf_len(b) && u->in_head) {
            r = up_feed_head(u, b);
        } else if (b && pc_buf_len(b) && s->tunnel) {
            pc_body_put(&s->out, PC_BODY_RAW, b->data + b->start, pc_buf_len(b));
            b->start = b->end;
            r = UP_AGAIN;
        } else if (b && pc_buf_len(b)) {
            r = up_feed_body(u, b);
        }
        if (r == UP_READ)
            r = up_read(u);
        if (r == UP_ENDED)
            break;
        if (r != UP_AGAIN)
            return r;
    }
    owner->event(s, PC_UP_COMPLETE);
    return owner->flush(s) < 0 ? -1 : 0;
}

void pc_upstream_update(struct pc_upconn *u)
{
    int ev = 0;
    if (u->connecting)
        ev = EV_WRITE;
    else if (u->handshaking)
        ev = u->hs_want;
    else {
        if (pc_out_pending(&u->out))
            ev |= EV_WRITE;
        if (!u->msg_done && !pc_out_pending(&u->s->out))
            ev |= EV_READ;
    }
    pc_io_want(pc_w.loop, &u->io, ev);
}

/* ---- events ---- */

/* Connecting failed: nothing was sent, so another member may take the request. Returns -1
 * when the session closed. */
static int up_connect_failed(struct pc_upconn *u, const char *why)
{
    struct pc_session *s = u->s;
    up_log(u, why);
    pc_metrics_connect_failure(u->pool_idx, u->member_idx);
    pc_balance_mark_down(u->pool_idx, u->member_idx, why);
    if (!s->t.reqhead) {
        s->t.reqhead = u->out.ob; /* the head it took, unsent */
        u->out.ob = NULL;
    }
    pc_upstream_close(u);
    s->t.up = NULL;
    if (attach(s, false) < 0)
        return owner->failed(s, 502, why);
    return 0;
}

/* Advances the TLS handshake with the member (bounded by timeout_connect). Returns -1 when
 * the session was closed or answered. */
static int up_handshake(struct pc_upconn *u)
{
    int r = pc_tls_step(u->ssl, &u->hs_want, NULL);
    if (r == 1) {
        u->handshaking = false;
        ev_timer_stop(pc_w.loop, &u->timer);
        return 0;
    }
    if (r == 0)
        return 0;
    long vr = SSL_get_verify_result(u->ssl);
    char why[300];
    if (vr != X509_V_OK) {
        /* Not the member's fault to be skipped for: the certificate is wrong for this name
         * (or its CA is not trusted). Never a silent pass: 502 with the reason. */
        snprintf(why, sizeof(why), "certificate verification failed for %s: %s",
                 up_pool(u)->verify_name ? up_pool(u)->verify_name : u->sni,
                 X509_verify_cert_error_string(vr));
        ERR_clear_error();
        struct pc_session *s = u->s;
        up_log(u, why);
        pc_upstream_close(u);
        s->t.up = NULL;
        if (owner->failed(s, 502, why) == 0)
            owner->event(s, PC_UP_PROGRESS);
        return -1;
    }
    snprintf(why, sizeof(why), "TLS handshake failed: ");
    pc_tls_error(why + strlen(why), sizeof(why) - strlen(why), "connection closed");
    struct pc_session *s = u->s;
    if (up_connect_failed(u, why) == 0)
        owner->event(s, PC_UP_PROGRESS);
    return -1;
}

static void up_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pc_upconn *u = UP_FROM(w, io);
    (void)loop;
    if (revents & EV_READ)
        u->rd_wait = false;
    if (!u->s) {
        /* Idle: data or end of stream means the pool is done with this connection. */
        pc_upstream_close(u);
        return;
    }
    struct pc_session *s = u->s;
    if (u->pin_idle) {
        /* The pool closed a pinned connection between requests: the client's connection
         * closes with it, so that its next request authenticates afresh. */
        pc_upstream_close(u);
        owner->event(s, PC_UP_PIN_LOST);
        return;
    }
    if (u->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            /* U is gone: the session may have a new connection (to another member). */
            if (up_connect_failed(u, strerror(err)) == 0)
                owner->event(s, PC_UP_PROGRESS);
            return;
        } else {
            u->connecting = false;
            u->hs_want = EV_WRITE;
            if (!u->handshaking)
                ev_timer_stop(pc_w.loop, &u->timer);
        }
    }
    if (u->handshaking && up_handshake(u) < 0)
        return;
    owner->event(s, PC_UP_PROGRESS);
}

static void up_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pc_upconn *u = UP_FROM(w, timer);
    (void)loop;
    (void)revents;
    if (!u->s) {
        pc_upstream_close(u);
        return;
    }
    if (u->connecting || u->handshaking) {
        struct pc_session *s = u->s;
        if (up_connect_failed(u, u->connecting ? "connect timed out" : "TLS handshake timed out") <
            0)
            return;
        owner->event(s, PC_UP_PROGRESS);
    }
}
