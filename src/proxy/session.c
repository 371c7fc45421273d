/* session.c — a client connection: its life, the request body, the end of a transaction,
 * keep-alive and timeouts (request heads and routing: request.c).
 *
 * Everything a session does happens in sess_drive(), called after any event on either of its
 * sockets: it moves what can be moved, then derives which events both sockets wait for from
 * the state (sess_watch). Flow control falls out of that: a side is read only when the queue
 * towards the other side is empty. */
#include <errno.h>
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
#include "proxy/clientaddr.h"
#include "proxy/proxy.h"
#include "proxy/session-int.h"
#include "tls/tls.h"

#include <openssl/err.h>

static llhttp_settings_t req_settings;
static struct pc_session *all_sessions, *free_sessions;
static unsigned nsessions;

#define SESS_FROM(w, field) PC_CONTAINER_OF(w, struct pc_session, field)

static int sess_drive(struct pc_session *s);
static void sess_watch(struct pc_session *s);
static void sess_linger(struct pc_session *s);

/* ---- llhttp callbacks (request framing) ---- */

static int req_on_body(llhttp_t *p, const char *at, size_t len)
{
    struct pc_session *s = p->data;
    return pc_body_put(&s->t.up->out, s->t.body, at, len);
}

static int req_on_complete(llhttp_t *p)
{
    struct pc_session *s = p->data;
    s->t.req_done = true;
    if (s->t.up && pc_body_end(&s->t.up->out, s->t.body) < 0)
        return -1;
    return HPE_PAUSED;
}

void pc_session_init(void)
{
    llhttp_settings_init(&req_settings);
    req_settings.on_body = req_on_body;
    req_settings.on_message_complete = req_on_complete;
    pc_chunked_settings(&req_settings);
}

/* ---- lifecycle ---- */

static void sess_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void sess_io_cb(struct ev_loop *loop, ev_io *w, int revents);

/* Sets the session's deadline to TIMEOUT seconds from now. Lazily: a timer that fires no later
 * than that is left running (its callback moves it on to last_act + timeout), so that a busy
 * keep-alive connection costs no timer-heap operation per request. */
void pc_sess_arm(struct pc_session *s, double timeout)
{
    s->timeout = timeout;
    s->last_act = ev_now(pc_w.loop);
    if (ev_is_active(&s->timer) && ev_timer_remaining(pc_w.loop, &s->timer) <= timeout)
        return;
    ev_timer_stop(pc_w.loop, &s->timer);
    ev_timer_set(&s->timer, timeout, 0.);
    ev_timer_start(pc_w.loop, &s->timer);
}

void pc_session_start(int fd, const struct pc_addr *peer, enum pc_listener_kind kind)
{
    struct pc_session *s = free_sessions;
    if (s)
        free_sessions = s->next;
    else if (!(s = malloc(sizeof(*s)))) {
        pc_err("out of memory for a session");
        close(fd);
        pc_worker_conn_closed(pc_worker_lb_peer(peer, kind) ? NULL : peer);
        return;
    }
    memset(s, 0, offsetof(struct pc_session, t.lg));
    s->hello_sni[0] = '\0';
    s->fd = fd;
    s->kind = (uint8_t)kind;
    s->peer = *peer;
    pc_net_addr_text(peer, s->peer_ip, sizeof(s->peer_ip));
    bool pp = pc_client_start(s);
    s->state = PC_S_IDLE;
    if (kind == PC_LISTEN_HTTPS) {
        s->ssl = SSL_new(pc_w.tls->servers[0].ctx);
        if (!s->ssl || SSL_set_fd(s->ssl, fd) != 1) {
            pc_err("cannot set up TLS for a connection");
            SSL_free(s->ssl);
            s->next = free_sessions;
            free_sessions = s;
            close(fd);
            pc_worker_conn_closed(s->counted ? &s->peer : NULL);
            return;
        }
        SSL_set_accept_state(s->ssl);
        SSL_set_app_data(s->ssl, s->hello_sni); /* filled by the ClientHello callback */
        s->state = PC_S_HANDSHAKE;
        s->hs_want = EV_READ;
    }
    if (pp)
        s->state = PC_S_PROXYHDR;
    llhttp_init(&s->chunk.ll, HTTP_REQUEST, &req_settings);
    s->chunk.ll.data = s;
    ev_io_init(&s->io, sess_io_cb, fd, EV_READ);
    ev_init(&s->timer, sess_timer_cb);
    s->next = all_sessions;
    if (all_sessions)
        all_sessions->prev = s;
    all_sessions = s;
    nsessions++;
    /* The first request gets timeout_header from the accept on (a connection that sends
     * nothing is a slowloris, not a keep-alive); a TLS client first has timeout_handshake. */
    pc_sess_arm(s,
                s->ssl && !s->pp_expect ? pc_w.cfg->timeout_handshake : pc_w.cfg->timeout_header);
    ev_io_start(pc_w.loop, &s->io);
}

/* Logs the transaction in progress once. */
static void sess_log(struct pc_session *s)
{
    if (s->t.logged || s->t.t_start <= 0 || s->t.lg_method == 0)
        return;
    if (!s->t.status)
        s->t.status = 499; /* the client went away first (nginx's convention) */
    pc_alog_request(s);
    pc_metrics_request(s);
    s->t.logged = true;
}

/* Gives back everything a session holds but its socket and watchers: upstream connections,
 * TLS (after a best-effort close_notify), buffers. */
static void sess_release(struct pc_session *s)
{
    if (s->t.up) {
        pc_upstream_close(s->t.up);
        s->t.up = NULL;
    }
    while (s->pinned)
        pc_upstream_close(s->pinned); /* unlinks itself */
    if (s->ssl) {
        if (s->state != PC_S_HANDSHAKE && s->state != PC_S_PROXYHDR)
            SSL_shutdown(s->ssl); /* never waits */
        SSL_free(s->ssl);
        s->ssl = NULL;
        ERR_clear_error();
    }
    pc_buf_put(s->in);
    s->in = NULL;
    pc_buf_put(s->t.reqhead);
    s->t.reqhead = NULL;
    pc_out_reset(&s->out);
}

void pc_sess_close(struct pc_session *s)
{
    if (s->state == PC_S_ACTIVE || s->state == PC_S_CLOSING)
        sess_log(s);
    sess_release(s);
    ev_io_stop(pc_w.loop, &s->io);
    ev_timer_stop(pc_w.loop, &s->timer);
    close(s->fd);
    if (s->prev)
        s->prev->next = s->next;
    else
        all_sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    nsessions--;
    s->next = free_sessions;
    free_sessions = s;
    pc_worker_conn_closed(s->counted ? &s->peer : NULL);
}

/* Whether request bytes wait: read into the buffer, inside OpenSSL, or in the kernel. */
static bool sess_has_input(struct pc_session *s)
{
    char c;
    if (s->in && pc_buf_len(s->in))
        return true;
    if (s->ssl && SSL_has_pending(s->ssl)) /* records read ahead count too */
        return true;
    return recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

unsigned pc_session_drain(void)
{
    struct pc_session *s = all_sessions, *next;
    for (; s; s = next) {
        next = s->next;
        /* Only a keep-alive connection with nothing sent is idle: a new connection (its first
         * request may be on its way, or already in the kernel) gets its answer, with
         * Connection: close, within timeout_header. */
        if (s->state == PC_S_IDLE && s->served && !sess_has_input(s))
            pc_sess_close(s);
        else
            s->close_after = true;
    }
    return nsessions;
}

/* ---- responses of the proxy's own ---- */

/* Answers STATUS for the request in progress (nothing of it reached, or will reach, a pool)
 * and ends the transaction. Returns -1 if the session had to close at once. */
int pc_sess_local(struct pc_session *s, int status, const char *loc, size_t loclen, bool close)
{
    if (s->t.up) {
        pc_upstream_close(s->t.up);
        s->t.up = NULL;
    }
    pc_buf_put(s->t.reqhead);
    s->t.reqhead = NULL;
    s->close_after |= close || pc_w.draining;
    pc_out_reset(&s->out);
    if (!pc_rw_local(&s->out, status, loc, loclen, s->close_after)) {
        pc_sess_close(s);
        return -1;
    }
    s->t.status = status;
    s->t.req_done = s->t.resp_done = true;
    s->state = s->close_after ? PC_S_CLOSING : PC_S_ACTIVE;
    return 0;
}

/* A request rejected before routing (malformed, too large): status, then close. */
int pc_sess_reject(struct pc_session *s, int status)
{
    if (s->t.lg_method == 0) {
        /* Nothing parsed: log what we can. */
        memcpy(s->t.lg, "-", 1);
        s->t.lg_method = 1;
        s->t.lg_host = s->t.lg_path = s->t.lg_referer = s->t.lg_ua = 0;
    }
    s->t.t_start = s->t.t_start > 0 ? s->t.t_start : ev_now(pc_w.loop);
    return pc_sess_local(s, status, NULL, 0, true);
}

static int sess_up_failed(struct pc_session *s, int status, const char *reason)
{
    (void)reason;
    if (s->t.resp_begun) {
        /* The client has part of a response: closing is the only honest signal left. */
        s->t.status = s->t.status ? s->t.status : status;
        pc_sess_close(s);
        return -1;
    }
    /* When the request body is not complete the connection cannot carry on. */
    return pc_sess_local(s, status, NULL, 0, !s->t.req_done);
}

/* ---- the request body ---- */

/* The member sent its whole response and stopped taking the request body (a 413 or 401 to
 * an upload, then close): the rest of the body goes nowhere. The response still goes out, and
 * then the connection closes with a lingering close, so that the upload the client is still
 * sending neither spins the worker on a dead socket nor resets the response away. */
static void sess_abandon_body(struct pc_session *s)
{
    pc_out_reset(&s->t.up->out);
    s->t.up->keepalive = false;
    s->t.req_done = true;
    s->close_after = true;
    s->discard_in = true;
    if (s->in)
        s->in->start = s->in->end;
}

/* Moves request bytes to the pool until the request is complete or a side is full. */
static int sess_pump_request(struct pc_session *s)
{
    struct pc_upconn *u = s->t.up;
    for (;;) {
        if (u->connecting || u->handshaking)
            return 0;
        bool more = s->in && pc_buf_len(s->in) && !(s->t.req_done && !s->tunnel);
        if (pc_out_pending(&u->out) && (u->out.rawlen || !more)) {
            int r = pc_io_flush(u->fd, u->ssl, &u->out, NULL);
            if (r < 0 && u->msg_done) {
                sess_abandon_body(s);
                return 0;
            }
            if (r < 0) {
                /* The pool's side broke; the response side sees it too and decides. */
                return pc_upstream_pump(u);
            }
            if (r == 0)
                return 0;
            s->last_act = ev_now(pc_w.loop);
        }
        if (s->t.req_done && !s->tunnel)
            return 0;
        struct pc_buf *b = s->in;
        if (b && pc_buf_len(b) && s->tunnel) {
            /* WebSocket after the 101: bytes go through untouched. */
            pc_body_put(&u->out, PC_BODY_RAW, b->data + b->start, pc_buf_len(b));
            b->start = b->end;
            continue;
        }
        if (b && pc_buf_len(b)) {
            size_t feed = pc_buf_len(b);
            if (s->t.body != PC_BODY_RAW) {
                /* Re-chunking adds at most a chunk header per piece: keep the copy inside
                 * one standard buffer. */
                if (!pc_out_reserve(&u->out, PC_BUF_SIZE / 2)) {
                    pc_sess_close(s);
                    return -1;
                }
                size_t room = pc_buf_room(u->out.ob) - 32;
                feed = feed < room ? feed : room;
            }
            const char *at = b->data + b->start;
            if (s->t.body == PC_BODY_RAW) {
                size_t n = feed < s->t.body_left ? feed : (size_t)s->t.body_left;
                pc_body_put(&u->out, PC_BODY_RAW, at, n); /* the queue was flushed above */
                b->start += n;
                s->t.body_left -= n;
                s->t.req_done = s->t.body_left == 0;
                continue;
            }
            size_t used;
            enum llhttp_errno e = pc_chunked_feed(&s->chunk, at, feed, &used);
            if (e == HPE_OK || e == HPE_PAUSED)
                b->start += used;
            else {
                /* A bad chunk or similar in a streamed body: abort the upstream request. */
                static struct pc_ratelimit rl;
                pc_log_limited(&rl, PC_LOG_INFO, "bad request body from client: %s",
                               llhttp_errno_name(e));
                if (s->t.up) {
                    pc_upstream_close(s->t.up);
                    s->t.up = NULL;
                }
                if (s->t.resp_begun) {
                    pc_sess_close(s);
                    return -1;
                }
                return pc_sess_local(s, 400, NULL, 0, true);
            }
            continue;
        }
        ssize_t n = pc_io_read_bulk(s->fd, s->ssl, &s->in); /* a body: big reads */
        if (n > 0) {
            s->t.bytes_in += (uint64_t)n;
            s->last_act = ev_now(pc_w.loop);
            continue;
        }
        if (n == PC_IO_AGAIN)
            return 0;
        /* The client went away mid-body: closing the upstream connection is how the pool
         * learns that the upload was aborted. */
        pc_sess_close(s);
        return -1;
    }
}

/* ---- end of a transaction ---- */

static void sess_reset(struct pc_session *s)
{
    pc_buf_put(s->t.reqhead);
    memset(&s->t, 0, offsetof(struct pc_txn, lg)); /* the next transaction */
    s->t.member_idx = -1;
    s->state = PC_S_IDLE;
    memset(&s->scan, 0, sizeof(s->scan));
    pc_client_reset(s);
    s->served = true;
    pc_sess_arm(s, pc_w.cfg->timeout_keepalive);
}

/* Ends the transaction once the request is sent, the response complete and flushed. */
static int sess_try_finish(struct pc_session *s)
{
    if (!s->t.req_done || !s->t.resp_done || pc_out_pending(&s->out))
        return 0;
    if (s->t.up && pc_out_pending(&s->t.up->out))
        return 0;
    sess_log(s);
    if (s->t.up) {
        pc_upstream_release(s, true);
        s->t.up = NULL;
    }
    if (s->close_after && s->discard_in) {
        sess_linger(s); /* the client may still be sending what nobody reads */
        return 0;
    }
    if (s->close_after) {
        pc_sess_close(s);
        return -1;
    }
    sess_reset(s);
    /* Nothing buffered: wait for the socket rather than try a read that would fail. */
    if ((!s->in || !pc_buf_len(s->in)) && (!s->ssl || !SSL_has_pending(s->ssl)))
        return 0;
    return 1;
}

int pc_session_flush(struct pc_session *s)
{
    if (!pc_out_pending(&s->out))
        return 1;
    int r = pc_io_flush(s->fd, s->ssl, &s->out, &s->t.bytes_out);
    if (r < 0) {
        pc_sess_close(s);
        return -1;
    }
    if (r > 0)
        s->last_act = ev_now(pc_w.loop);
    return r;
}

/* While a response is pending after a complete request, watches the client for an early
 * close (a long poll abandoned) and buffers pipelined bytes without parsing them. */
static int sess_peek_client(struct pc_session *s)
{
    if (s->in && pc_buf_room(s->in) == 0 && s->in->start == 0)
        return 0;
    ssize_t n = pc_io_read(s->fd, s->ssl, &s->in);
    if (n > 0) {
        s->t.bytes_in += (uint64_t)n;
        if (s->discard_in)
            s->in->start = s->in->end; /* the rest of an abandoned body */
        return 0;
    }
    if (n == PC_IO_AGAIN)
        return 0;
    pc_sess_close(s);
    return -1;
}

/* Advances the TLS handshake with the client. Returns -1 if the session closed. */
static int sess_handshake(struct pc_session *s)
{
    int e;
    int r = pc_tls_step(s->ssl, &s->hs_want, &e);
    if (r == 1) {
        pc_metrics_tls_handshake(NULL);
        s->cert_idx = (uint8_t)pc_tls_server_index(pc_w.tls, s->ssl);
        s->state = PC_S_IDLE;
        pc_sess_arm(s, pc_w.cfg->timeout_header);
        return 0;
    }
    if (r == 0)
        return 0;
    static struct pc_ratelimit rl;
    char why[256];
    const char *sni = s->hello_sni[0] ? s->hello_sni : NULL;
    pc_tls_error(why, sizeof(why), e == SSL_ERROR_SYSCALL ? "connection closed" : "protocol error");
    pc_metrics_tls_handshake(why);
    pc_log_limited(&rl, PC_LOG_INFO, "TLS handshake failed: client %s sni %s: %s", s->peer_ip,
                   sni ? sni : "-", why);
    pc_sess_close(s);
    return -1;
}

/* Lingering close (as nginx's lingering_close): the last response is out; log it, give back
 * everything but the socket, send FIN (and close_notify), then read and discard for at most
 * PC_LINGER seconds or until the client closes. */
#define PC_LINGER 2.0

static void sess_linger(struct pc_session *s)
{
    sess_log(s);
    sess_release(s); /* what follows is discarded unread: no TLS needed */
    shutdown(s->fd, SHUT_WR);
    s->state = PC_S_LINGER;
    pc_sess_arm(s, PC_LINGER);
}

/* Reads and drops what the client still sends. Returns -1 once the session is closed. */
static int sess_discard(struct pc_session *s)
{
    char scratch[4096];
    for (int i = 0; i < 16; i++) { /* bounded per event; level-triggered brings us back */
        ssize_t n = recv(s->fd, scratch, sizeof(scratch), 0);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        pc_sess_close(s); /* the client closed (or reset): done */
        return -1;
    }
    return 0;
}

static int sess_drive(struct pc_session *s)
{
    for (;;) {
        switch (s->state) {
        case PC_S_PROXYHDR: {
            int r = pc_client_proxy(s);
            if (r < 0) {
                pc_sess_close(s);
                return -1;
            }
            if (r == 0)
                return 0;
            if (s->state == PC_S_HANDSHAKE && s->pp_expect)
                pc_sess_arm(s, pc_w.cfg->timeout_handshake); /* from the header on */
            continue;
        }
        case PC_S_HANDSHAKE:
            if (sess_handshake(s) < 0)
                return -1;
            if (s->state == PC_S_HANDSHAKE)
                return 0;
            continue;
        case PC_S_IDLE:
        case PC_S_HEAD:
            if (pc_request_read_head(s) < 0)
                return -1;
            if (s->state == PC_S_IDLE || s->state == PC_S_HEAD)
                return 0;
            continue;
        case PC_S_CLOSING: {
            int r = pc_session_flush(s);
            if (r < 0)
                return -1;
            if (r > 0)
                sess_linger(s);
            return 0;
        }
        case PC_S_LINGER:
            return sess_discard(s);
        case PC_S_ACTIVE:
            if (pc_session_flush(s) < 0)
                return -1;
            if (s->t.up) {
                if (sess_pump_request(s) < 0)
                    return -1;
                if (s->t.up && pc_upstream_pump(s->t.up) < 0)
                    return -1;
            }
            if (s->state != PC_S_ACTIVE)
                continue;
            int r = sess_try_finish(s);
            if (r < 0)
                return -1;
            if (r > 0)
                continue;
            return 0;
        }
    }
}

static void sess_watch(struct pc_session *s)
{
    int ev = 0;
    struct pc_upconn *u = s->t.up;
    switch (s->state) {
    case PC_S_PROXYHDR:
        ev = EV_READ;
        break;
    case PC_S_HANDSHAKE:
        ev = s->hs_want;
        break;
    case PC_S_IDLE:
    case PC_S_HEAD:
        ev = EV_READ;
        break;
    case PC_S_CLOSING:
        ev = EV_WRITE;
        break;
    case PC_S_LINGER:
        ev = EV_READ;
        break;
    case PC_S_ACTIVE:
        if (pc_out_pending(&s->out))
            ev |= EV_WRITE;
        /* Body bytes, or an early close while waiting; never while the input buffer is full
         * (a pipelined request behind a long poll): level-triggered epoll would wake us for
         * bytes we will not read. */
        if (u && !u->connecting && !u->handshaking && !pc_out_pending(&u->out) &&
            (!s->in || pc_buf_len(s->in) < s->in->cap))
            ev |= EV_READ;
        break;
    }
    pc_io_want(pc_w.loop, &s->io, ev);
    /* Nothing moves before the next event: an input buffer that was emptied (the request
     * head and body consumed) goes back now rather than at the next read, which for a
     * pending long poll or a keep-alive connection may be minutes away (16 KiB each). Not
     * while a raw piece of the upstream queue still points into it. */
    if (s->in && pc_buf_len(s->in) == 0 && !(u && u->out.rawlen)) {
        pc_buf_put(s->in);
        s->in = NULL;
    }
    if (u)
        pc_upstream_update(u);
}

static void sess_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pc_session *s = SESS_FROM(w, io);
    (void)loop;
    if (s->state == PC_S_ACTIVE && (revents & EV_READ) && s->t.req_done && !s->tunnel) {
        if (sess_peek_client(s) < 0)
            return;
    }
    if (sess_drive(s) < 0)
        return;
    sess_watch(s);
}

/* What the upstream side reports (see struct pc_up_owner): the driver is shared. */
static void sess_up_event(struct pc_session *s, enum pc_up_event ev)
{
    switch (ev) {
    case PC_UP_COMPLETE:
        s->t.resp_done = true;
        return;
    case PC_UP_PIN_LOST:
        if (s->state == PC_S_ACTIVE || s->state == PC_S_CLOSING) {
            s->close_after = true; /* after the response in progress */
            return;
        }
        pc_sess_close(s);
        return;
    case PC_UP_PROGRESS:
        if (sess_drive(s) < 0)
            return;
        sess_watch(s);
        return;
    }
}

const struct pc_up_owner pc_session_up_owner = {
    .event = sess_up_event,
    .failed = sess_up_failed,
    .flush = pc_session_flush,
};

static void sess_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pc_session *s = SESS_FROM(w, timer);
    (void)revents;
    double now = ev_now(loop);
    double due = s->last_act + s->timeout;
    if (now < due) {
        ev_timer_set(w, due - now, 0.);
        ev_timer_start(loop, w);
        return;
    }
    switch (s->state) {
    case PC_S_PROXYHDR:
        pc_client_timeout(s);
        pc_sess_close(s);
        return;
    case PC_S_HANDSHAKE: {
        static struct pc_ratelimit rl;
        const char *sni = s->hello_sni[0] ? s->hello_sni : NULL;
        pc_log_limited(&rl, PC_LOG_INFO, "TLS handshake failed: client %s sni %s: timed out",
                       s->peer_ip, sni ? sni : "-");
        pc_metrics_tls_handshake("timed out");
        pc_sess_close(s);
        return;
    }
    case PC_S_IDLE:
    case PC_S_CLOSING:
    case PC_S_LINGER:
        pc_sess_close(s);
        return;
    case PC_S_HEAD:
        if (pc_sess_reject(s, 408) < 0)
            return;
        pc_sess_arm(s, 5);
        break;
    case PC_S_ACTIVE: {
        struct pc_upconn *u = s->t.up;
        bool pool_silent = u && (s->t.req_done || pc_out_pending(&u->out));
        if (u) {
            static struct pc_ratelimit rl = PC_RATELIMIT_PER_REQUEST;
            pc_log_limited(&rl, PC_LOG_WARN,
                           "pool %s: member %s: no data for %.0f s, request aborted",
                           pc_w.cfg->pools[u->pool_idx].name,
                           pc_w.cfg->pools[u->pool_idx].members[u->member_idx].host, s->timeout);
        }
        if (s->t.resp_begun || !u) {
            pc_sess_close(s);
            return;
        }
        if (pc_sess_local(s, pool_silent ? 504 : 408, NULL, 0, true) < 0)
            return;
        pc_sess_arm(s, 5);
        break;
    }
    }
    if (sess_drive(s) < 0)
        return;
    sess_watch(s);
}
