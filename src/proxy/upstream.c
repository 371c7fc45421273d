/* upstream.c — connections to pool members: connect, reuse, and the response side.
 *
 * An upconn serves one transaction at a time and sits in its member's idle
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
#include "common/arena.h"
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
#include "proxy/guard.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"
#include "tls/rec.h"
#include "tls/tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#define UP_IDLE_TIMEOUT 55. /* below IIS's 120 s connection timeout: we close first */

static llhttp_settings_t resp_settings;
static struct pc_head head; /* scratch for response header blocks */
static struct pc_list free_upconns = {&free_upconns, &free_upconns};
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

/* The member's port for a connection over TLS or not. */
static int up_port(bool tls, const struct pc_member *m)
{
    return tls ? m->https_port : m->http_port;
}

/* ---- llhttp callbacks (response framing) ---- */

static int resp_on_body(llhttp_t *p, const char *at, size_t len)
{
    struct pc_upconn *u = p->data;
    return pc_body_put(u->t->resp, u->body, at, len);
}

/* The response is complete: 0, or -1 when out of memory. An HTTP/2 stream takes the trailer
 * section of a chunked one (h2-resp.c relays it). */
static int resp_done(struct pc_upconn *u)
{
    if (u->chunk.tr) {
        pc_buf_put(u->t->trailers);
        u->t->trailers = u->chunk.tr;
        u->chunk.tr = NULL;
    }
    u->msg_done = true;
    u->keepalive = u->ka_hdr && !u->until_close;
    return pc_body_end(u->t->resp, u->body);
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
    pc_list_push(&free_upconns, &u->link);
}

void pc_upstream_close(struct pc_upconn *u)
{
    pc_metrics_upstream(u->pool_idx, u->member_idx, -1);
    if (u->pinned)
        pc_metrics_pinned(-1);
    if (!u->t)
        pc_pool_idle_unlink(u);
    else if (u->pinned)
        pc_pool_pin_unlink(u);
    ev_io_stop(pc_w.loop, &u->io);
    ev_timer_stop(pc_w.loop, &u->timer);
    /* Freeing a connection that was not shut down marks its session "bad" (not resumable):
     * that session is the one kept for the next connection, so the close says that the
     * shutdown happened. */
    pc_io_tls_close(u->fd, &u->tc, false);
    close(u->fd);
    pc_chunked_release(&u->chunk);
    pc_buf_put(u->in);
    pc_out_reset(&u->out);
    up_recycle(u);
}

void pc_upstream_close_pins(struct pc_list *pins)
{
    for (struct pc_list *e; (e = pc_list_first(pins));)
        pc_upstream_close(PC_CONTAINER_OF(e, struct pc_upconn, link)); /* unlinks itself */
}

void pc_upstream_log_silent(const struct pc_upconn *u, double timeout)
{
    static struct pc_ratelimit rl = PC_RATELIMIT_PER_REQUEST;
    pc_log_limited(&rl, PC_LOG_WARN, "pool %s: member %s: no data for %.0f s, request aborted",
                   up_pool(u)->name, up_member(u)->host, timeout);
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
                   m->host, ip, up_port(pc_tlsconn_on(&u->tc), m), what);
}

/* Resumes TLS sessions with members: the newest session per member and name, per worker. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct pc_tlsconn *tc = SSL_get_app_data(ssl);
    if (!tc)
        return 0;
    struct pc_upconn *u = PC_CONTAINER_OF(tc, struct pc_upconn, tc);
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
    memset(&u->tc, 0, sizeof(u->tc));
    u->tc.ssl = SSL_new(ctx);
    if (!u->tc.ssl || SSL_set_fd(u->tc.ssl, u->fd) != 1)
        return -1;
    SSL_set_app_data(u->tc.ssl, &u->tc);
    SSL_set_connect_state(u->tc.ssl);
    bool ip_literal = u->sni[0] == '[' || strspn(u->sni, "0123456789.") == strlen(u->sni);
    if (u->sni[0] && !ip_literal && SSL_set_tlsext_host_name(u->tc.ssl, u->sni) != 1)
        return -1;
    if (pool->verify) {
        const char *name = pool->verify_name ? pool->verify_name : u->sni;
        if (SSL_set1_host(u->tc.ssl, name) != 1)
            return -1;
    }
    pc_pool_tls_session_offer(u, u->tc.ssl);
    return 0;
}

/* From the internal address (docs/configuration.md, `internal`). */
struct pc_upconn *pc_upstream_connect(struct pc_txn *t, unsigned member_idx, const char *sni)
{
    const struct pc_config *cfg = pc_w.cfg;
    const struct pc_member *m = &cfg->pools[t->pool_idx].members[member_idx];
    struct pc_addr to = m->addr;
    pc_net_set_port(&to, up_port(t->up_tls, m));
    struct pc_upconn *u = PC_LIST_ITEM(pc_list_pop(&free_upconns), struct pc_upconn, link);
    if (!u && !(u = pc_arena_alloc(sizeof(*u))))
        return NULL;
    memset(u, 0, sizeof(*u));
    pc_list_init(&u->link);
    u->pool_idx = t->pool_idx;
    u->member_idx = member_idx;
    u->t = t;
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
    if (t->up_tls && up_tls_setup(u) < 0) {
        char why[200];
        pc_err("pool %s: TLS setup: %s", cfg->pools[t->pool_idx].name,
               pc_tls_error(why, sizeof(why), "failed"));
        SSL_free(u->tc.ssl);
        u->tc.ssl = NULL;
        close(fd);
        up_recycle(u);
        return NULL;
    }
    llhttp_init(&u->chunk.ll, HTTP_RESPONSE, &resp_settings);
    u->chunk.ll.data = u;
    ev_io_init(&u->io, up_io_cb, fd, EV_WRITE);
    ev_init(&u->timer, up_timer_cb);
    u->connecting = true;
    u->handshaking = u->tc.ssl != NULL;
    pc_metrics_upstream(u->pool_idx, member_idx, +1);
    ev_timer_set(&u->timer, cfg->timeout_connect, 0.);
    ev_timer_start(pc_w.loop, &u->timer);
    ev_io_start(pc_w.loop, &u->io);
    return u;
}

void pc_upstream_reuse(struct pc_upconn *u, struct pc_txn *t)
{
    ev_timer_stop(pc_w.loop, &u->timer); /* the idle timeout */
    if (u->pinned) {
        u->pin_idle = false; /* already the client's */
        return;
    }
    u->t = t;
    u->reused = true;
}

void pc_upstream_begin(struct pc_upconn *u, struct pc_txn *t)
{
    pc_metrics_member_request(u->pool_idx, u->member_idx);
    u->t = t;
    u->in_head = true;
    u->got_bytes = u->msg_done = u->keepalive = false;
    u->chunked_in = u->until_close = false;
    u->body_left = 0;
    u->rd_wait = true; /* no response before the request: wait for the socket to say so */
    u->body = PC_BODY_NONE;
    memset(&u->scan, 0, sizeof(u->scan));
    u->nreq++;
}

void pc_upstream_release(struct pc_txn *t, bool reusable)
{
    struct pc_upconn *u = t->up;
    reusable = reusable && u->keepalive && u->msg_done && !pc_out_pending(&u->out) &&
               (!u->in || pc_buf_len(u->in) == 0) && !pc_io_tls_pending(&u->tc) && !pc_w.draining;
    if (reusable)
        pc_rec_start(&u->tc); /* idle or pinned, it waits from now on */
    if (u->pinned) {
        if (!reusable) {
            /* The authenticated connection is gone: so is the client's (docs/lync-publishing.md).
             */
            t->close_after = true;
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
    u->t = NULL;
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
    struct pc_txn *t = u->t;
    up_log(u, why);
    if (u->pinned)
        t->close_after = true; /* never retried elsewhere: the client starts over */
    pc_upstream_close(u);
    t->up = NULL;
    return owner->failed(t, PC_UPF_BROKEN, status, why);
}

/* A reused connection closed before answering: most likely the pool closed it while idle
 * just as we sent on it. The transaction replays the request on a fresh connection when
 * nothing can have been lost. */
static int up_stale(struct pc_upconn *u)
{
    struct pc_txn *t = u->t;
    if (!t->resend_ok || !t->reqhead || u->pinned)
        return up_fail(u, 502, "connection closed before a response");
    pc_upstream_close(u);
    t->up = NULL;
    return owner->failed(t, PC_UPF_STALE, 502, "no member for the retry");
}

/* After up_fail inside a step: 1 = the connection is gone but the session lives on (it got
 * an error response), -1 = the session closed too. */
static int gone(int r)
{
    return r < 0 ? -1 : 1;
}

/* Handles a complete response header block of HL bytes: 0 = go on, else see gone(). */
/* A final response of the member on a connection whose authentication is connection-bound
 * from either side (proxy/auth.c): the connection now belongs to T's client. Past
 * max_pinned_per_client with every pin busy, or for a client side that keeps none, it is
 * used for this response only, then closed: never shared. Returns false in that case. (An
 * HTTP/1.1 client connection has one request at a time, so its other pins are all idle.) */
static bool up_pin(struct pc_upconn *u, struct pc_txn *t)
{
    struct pc_upconn *evict;
    if (!t->pins || !pc_pool_pin_room(t, u, &evict))
        return false;
    if (evict)
        pc_upstream_close(evict); /* unlinks itself */
    u->pinned = true;
    pc_metrics_pinned(+1);
    pc_pool_pin_link(u);
    return true;
}

/* How the body of the response HEAD (BODYLESS or not) goes to T's client. */
static enum pc_body_mode up_body_mode(const struct pc_txn *t, bool bodyless)
{
    if (bodyless)
        return PC_BODY_NONE;
    if (head.status == 101)
        return PC_BODY_RAW;
    if (head.chunked)
        return t->client_10 || t->h2 ? PC_BODY_DECHUNK : PC_BODY_CHUNK;
    if (head.has_cl)
        return PC_BODY_RAW;
    return t->client_10 || t->h2 ? PC_BODY_RAW : PC_BODY_CHUNK; /* close-delimited */
}

static int up_head(struct pc_upconn *u, size_t hl)
{
    struct pc_txn *t = u->t;
    const char *p = u->in->data + u->in->start;
    if (pc_h1_parse(p, hl, false, &head) != 0)
        return gone(up_fail(u, 502, "malformed response header"));
    int st = head.status;
    if (st == 101 && !t->upgrade_req)
        return gone(up_fail(u, 502, "unexpected 101 (upgrade was not requested)"));
    bool unshareable =
        st >= 200 && (t->auth_req || pc_auth_binds(&head)) && !u->pinned && !up_pin(u, t);
    bool bodyless = (st < 200 && st != 101) || t->head_req || st == 204 || st == 304;
    enum pc_body_mode mode = up_body_mode(t, bodyless);
    if (t->client_10 && !bodyless && !head.has_cl)
        t->close_after = true; /* only the close can end that body for an HTTP/1.0 client */
    t->tunnel = st == 101;
    if (st >= 200 || st == 101) {
        u->body = mode;
        t->up_status = t->status = st;
        if (t->signin)
            pc_guard_response(t, &head); /* the member's verdict on a password */
    }
    /* Whether the member keeps the connection (RFC 9112 §9.3). A final answer while the
     * request body is still coming, from a member that closes after it: the rest of the body
     * has nowhere to go, so this client connection ends too. */
    bool member_ka = head.version == 11 ? !head.conn_close : head.conn_keepalive;
    if (st >= 200 && !t->req_done && !member_ka)
        t->close_after = true;
    /* An interim response never goes to an HTTP/1.0 client (RFC 9110 §15.2): it would take
     * `103 Early Hints` for the answer. An HTTP/2 stream relays it as HEADERS (h2-resp.c). */
    bool dropped = st < 200 && st != 101 && t->client_10;
    if (!dropped && !pc_rw_response(t->resp, &head, t, mode))
        return gone(up_fail(u, 502, "out of memory"));
    /* Framing (RFC 9112 §6.3): Content-Length is counted here, chunked goes through llhttp,
     * neither means the body ends with the connection. */
    u->ka_hdr = member_ka && !unshareable;
    if (t->tunnel || st < 200) {
        /* a tunnel, or an interim response: the final one follows */
    } else if (bodyless) {
        if (resp_done(u) < 0)
            return gone(up_fail(u, 502, "out of memory"));
    } else if (head.chunked) {
        u->chunked_in = true;
        if (pc_chunked_begin(&u->chunk, false) < 0)
            return gone(up_fail(u, 502, "chunked framing"));
        u->chunk.keep = t->h2; /* HTTP/1.x clients: trailers are dropped */
    } else if (head.has_cl) {
        u->body_left = head.content_length;
        if (u->body_left == 0 && resp_done(u) < 0)
            return gone(up_fail(u, 502, "out of memory"));
    } else {
        u->until_close = true;
    }
    u->in->start += hl;
    t->resp_begun |= !dropped;
    if (st >= 200 || st == 101) {
        u->in_head = false;
        /* The request can no longer be replayed: give back the copy. */
        pc_buf_put(t->reqhead);
        t->reqhead = NULL;
        t->resend_ok = false;
    } else {
        memset(&u->scan, 0, sizeof(u->scan));
    }
    if (u->msg_done)
        owner->event(t, PC_UP_COMPLETE);
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
    struct pc_txn *t = u->t;
    size_t feed = pc_buf_len(b);
    if (u->body != PC_BODY_RAW) {
        /* Re-chunking adds at most a chunk header per piece: keep it in one buffer. */
        if (!pc_out_reserve(t->resp, PC_BUF_SIZE / 2))
            return up_fail(u, 502, "out of memory");
        size_t room = pc_buf_room(t->resp->ob) - 32;
        feed = feed < room ? feed : room;
    }
    const char *at = b->data + b->start;
    if (!u->chunked_in) {
        size_t n = feed;
        if (!u->until_close && n > u->body_left)
            n = (size_t)u->body_left;
        if (pc_body_put(t->resp, u->body, at, n) < 0)
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
    struct pc_txn *t = u->t;
    if (u->rd_wait)
        return 0;
    ssize_t n = pc_io_read_bulk(u->fd, &u->tc, &u->in);
    if (n > 0) {
        u->got_bytes = true;
        t->last_act = ev_now(pc_w.loop);
        return UP_AGAIN;
    }
    if (n == PC_IO_AGAIN) {
        /* The socket is drained, unless a full buffer stopped the read before it. */
        u->rd_wait = !u->in || pc_buf_room(u->in) > 0;
        return 0;
    }
    /* End of stream (or reset). */
    if (t->tunnel) {
        /* The pool ended a WebSocket: an ordinary end, the client's side closes too. */
        pc_upstream_close(u);
        t->up = NULL;
        return owner->failed(t, PC_UPF_BROKEN, 502, "tunnel closed");
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
    struct pc_txn *t = u->t;
    while (!u->msg_done) {
        if (u->connecting || u->handshaking)
            return 0;
        struct pc_buf *b = u->in;
        /* Parse what is buffered before writing, so that a header block and the body behind
         * it leave in one write; a pending raw piece must go first. */
        if (t->resp->rawlen || !b || !pc_buf_len(b)) {
            int r = owner->flush(t);
            if (r <= 0)
                return r; /* closed, or the client is not reading: neither do we */
        }
        int r = UP_READ;
        if (b && pc_buf_len(b) && u->in_head) {
            r = up_feed_head(u, b);
        } else if (b && pc_buf_len(b) && t->tunnel) {
            pc_body_put(t->resp, PC_BODY_RAW, b->data + b->start, pc_buf_len(b));
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
    owner->event(t, PC_UP_COMPLETE);
    return owner->flush(t) < 0 ? -1 : 0;
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
        if (!u->msg_done && !pc_out_pending(u->t->resp))
            ev |= EV_READ;
    }
    pc_io_want(pc_w.loop, &u->io, ev);
}

/* ---- events ---- */

/* Connecting failed: nothing was sent, so another member may take the request. Returns -1
 * when the session closed. */
static int up_connect_failed(struct pc_upconn *u, const char *why)
{
    struct pc_txn *t = u->t;
    up_log(u, why);
    pc_metrics_connect_failure(u->pool_idx, u->member_idx);
    pc_balance_mark_down(u->pool_idx, u->member_idx, why);
    if (!t->reqhead) {
        t->reqhead = u->out.ob; /* the head it took, unsent */
        u->out.ob = NULL;
    }
    pc_upstream_close(u);
    t->up = NULL;
    return owner->failed(t, PC_UPF_CONNECT, 502, why);
}

/* Advances the TLS handshake with the member (bounded by timeout_connect). Returns -1 when
 * the session was closed or answered. */
static int up_handshake(struct pc_upconn *u)
{
    int r = pc_tls_step(u->tc.ssl, &u->hs_want, NULL);
    if (r == 1) {
        u->handshaking = false;
        ev_timer_stop(pc_w.loop, &u->timer);
        return 0;
    }
    if (r == 0)
        return 0;
    long vr = SSL_get_verify_result(u->tc.ssl);
    char why[300];
    if (vr != X509_V_OK) {
        /* Not the member's fault to be skipped for: the certificate is wrong for this name
         * (or its CA is not trusted). Never a silent pass: 502 with the reason. */
        snprintf(why, sizeof(why), "certificate verification failed for %s: %s",
                 up_pool(u)->verify_name ? up_pool(u)->verify_name : u->sni,
                 X509_verify_cert_error_string(vr));
        ERR_clear_error();
        struct pc_txn *t = u->t;
        up_log(u, why);
        pc_upstream_close(u);
        t->up = NULL;
        if (owner->failed(t, PC_UPF_BROKEN, 502, why) == 0)
            owner->event(t, PC_UP_PROGRESS);
        return -1;
    }
    snprintf(why, sizeof(why), "TLS handshake failed: ");
    pc_tls_error(why + strlen(why), sizeof(why) - strlen(why), "connection closed");
    struct pc_txn *t = u->t;
    if (up_connect_failed(u, why) == 0)
        owner->event(t, PC_UP_PROGRESS);
    return -1;
}

static void up_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pc_upconn *u = UP_FROM(w, io);
    (void)loop;
    if (revents & EV_READ)
        u->rd_wait = false;
    if (!u->t) {
        /* Idle: data or end of stream means the pool is done with this connection. */
        pc_upstream_close(u);
        return;
    }
    struct pc_txn *t = u->t;
    if (u->pin_idle) {
        /* The pool closed a pinned connection between requests: the client's connection
         * closes with it, so that its next request authenticates afresh. */
        pc_upstream_close(u);
        owner->event(t, PC_UP_PIN_LOST);
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
                owner->event(t, PC_UP_PROGRESS);
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
    owner->event(t, PC_UP_PROGRESS);
}

static void up_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pc_upconn *u = UP_FROM(w, timer);
    (void)loop;
    (void)revents;
    if (!u->t) {
        pc_upstream_close(u);
        return;
    }
    if (u->connecting || u->handshaking) {
        struct pc_txn *t = u->t;
        if (up_connect_failed(u, u->connecting ? "connect timed out" : "TLS handshake timed out") <
            0)
            return;
        owner->event(t, PC_UP_PROGRESS);
    }
}
