/* session.c — an HTTP/1 client connection: its life, reading request heads, the client side
 * of its transaction (txn.c), keep-alive, lingering close and timeouts (parsing and routing a
 * head: request.c).
 *
 * Everything a session does happens in sess_drive(), called after any event on its socket or
 * its transaction's member connection: it moves what can be moved, then derives which events
 * both sockets wait for from the state (sess_watch). Flow control falls out of that: a side is
 * read only when the queue towards the other side is empty. */
#include <errno.h>
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
#include "core/worker.h"
#include "http/http1.h"
#include "proxy/clientaddr.h"
#include "proxy/guard.h"
#include "proxy/h2.h"
#include "proxy/proxy.h"
#include "proxy/request.h"
#include "proxy/txn.h"
#include "tls/acme.h"
#include "tls/rec.h"
#include "tls/tls.h"

#include <openssl/err.h>

static struct pc_list all_sessions = {&all_sessions, &all_sessions};
static struct pc_list free_sessions = {&free_sessions, &free_sessions};
static unsigned nsessions;
static const struct pc_txn_client_ops sess_client_ops;

#define SESS_FROM(w, field) PC_CONTAINER_OF(w, struct pc_session, field)

static int sess_drive(struct pc_session *s);
static void sess_watch(struct pc_session *s);
static void sess_linger(struct pc_session *s);

void pc_session_init(void)
{
    pc_txn_init();
}

/* ---- lifecycle ---- */

static void sess_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void sess_io_cb(struct ev_loop *loop, ev_io *w, int revents);

/* Sets the session's deadline to TIMEOUT seconds from now. Lazily: a timer that fires no later
 * than that is left running (its callback moves it on to last_act + timeout), so that a busy
 * keep-alive connection costs no timer-heap operation per request. */
static void sess_arm(struct pc_session *s, double timeout)
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
    struct pc_session *s = PC_LIST_ITEM(pc_list_pop(&free_sessions), struct pc_session, link);
    if (!s && !(s = pc_arena_alloc(sizeof(*s)))) {
        pc_err("out of memory for a session");
        close(fd);
        pc_worker_conn_closed(pc_worker_lb_peer(peer, kind) ? NULL : peer);
        return;
    }
    memset(s, 0, offsetof(struct pc_session, t.lg));
    s->t.ops = &sess_client_ops;
    s->t.resp = &s->out;
    s->t.in = &s->in;
    s->t.pins = &s->pins;
    s->t.client_ip = s->peer_ip;
    s->t.up_tls = kind == PC_LISTEN_HTTPS;
    s->t.member_idx = -1;
    pc_list_init(&s->pins);
    s->hello_sni[0] = '\0';
    s->fd = fd;
    s->kind = (uint8_t)kind;
    s->peer = *peer;
    pc_net_addr_text(peer, s->peer_ip, sizeof(s->peer_ip));
    bool pp = pc_client_start(s);
    s->state = PC_S_IDLE;
    if (kind == PC_LISTEN_HTTPS) {
        memset(&s->tc, 0, sizeof(s->tc));
        s->tc.ssl = SSL_new(pc_w.tls->servers[0].ctx);
        if (!s->tc.ssl || SSL_set_fd(s->tc.ssl, fd) != 1) {
            pc_err("cannot set up TLS for a connection");
            SSL_free(s->tc.ssl);
            s->tc.ssl = NULL;
            pc_list_push(&free_sessions, &s->link);
            close(fd);
            pc_worker_conn_closed(s->counted ? &s->peer : NULL);
            return;
        }
        SSL_set_accept_state(s->tc.ssl);
        s->tc.hello_sni = s->hello_sni; /* filled by the ClientHello callback */
        SSL_set_app_data(s->tc.ssl, &s->tc);
        s->tls = true;
        s->state = PC_S_HANDSHAKE;
        s->hs_want = EV_READ;
    }
    if (pp)
        s->state = PC_S_PROXYHDR;
    ev_io_init(&s->io, sess_io_cb, fd, EV_READ);
    ev_init(&s->timer, sess_timer_cb);
    pc_list_push(&all_sessions, &s->link);
    nsessions++;
    /* The first request gets timeout_header from the accept on (a connection that sends
     * nothing is a slowloris, not a keep-alive); a TLS client first has timeout_handshake. */
    sess_arm(s, s->tls && !s->pp_expect ? pc_w.cfg->timeout_handshake : pc_w.cfg->timeout_header);
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
    enum pc_metrics_proto proto = s->t.client_10 ? PC_PROTO_HTTP10 : PC_PROTO_HTTP11;
    pc_metrics_request(&(struct pc_metrics_req){.name = s->t.name,
                                                .proto = proto,
                                                .status = s->t.status,
                                                .t_start = s->t.t_start,
                                                .bytes_out = s->t.bytes_out,
                                                .bytes_in = s->t.bytes_in});
    s->t.logged = true;
}

/* Gives back everything a session holds but its socket and watchers: member connections,
 * TLS (after a best-effort close_notify), buffers. */
static void sess_release(struct pc_session *s)
{
    if (s->h2)
        pc_h2_release(s);
    pc_txn_client_closed(&s->t);
    if (s->tls) {
        pc_io_tls_close(s->fd, &s->tc, s->state != PC_S_HANDSHAKE && s->state != PC_S_PROXYHDR);
        s->tls = false;
    }
    pc_buf_put(s->in);
    s->in = NULL;
    pc_out_reset(&s->out);
}

/* Logs the transaction in progress if any, gives everything back and closes the connection. */
static void sess_close(struct pc_session *s)
{
    if (s->state == PC_S_ACTIVE || s->state == PC_S_CLOSING || s->state == PC_S_SIGNIN)
        sess_log(s);
    sess_release(s);
    ev_io_stop(pc_w.loop, &s->io);
    ev_timer_stop(pc_w.loop, &s->timer);
    close(s->fd);
    pc_list_del(&s->link);
    nsessions--;
    pc_list_push(&free_sessions, &s->link);
    pc_worker_conn_closed(s->counted ? &s->peer : NULL);
}

/* Whether request bytes wait: read into the buffer, inside OpenSSL, or in the kernel. */
static bool sess_has_input(struct pc_session *s)
{
    char c;
    if (s->in && pc_buf_len(s->in))
        return true;
    if (pc_io_tls_pending(&s->tc)) /* records read ahead count too */
        return true;
    return recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

unsigned pc_session_drain(void)
{
    for (struct pc_list *e = all_sessions.next, *next; e != &all_sessions; e = next) {
        next = e->next;
        struct pc_session *s = PC_CONTAINER_OF(e, struct pc_session, link);
        /* Only a keep-alive connection with nothing sent is idle: a new connection (its first
         * request may be on its way, or already in the kernel) gets its answer, with
         * Connection: close, within timeout_header. */
        if (s->state == PC_S_H2)
            pc_h2_drain(s);
        else if (s->state == PC_S_IDLE && s->served && !sess_has_input(s))
            sess_close(s);
        else
            s->t.close_after = true;
    }
    return nsessions;
}

/* ---- responses of the proxy's own ---- */

/* Answers STATUS for the request in progress (nothing of it reached, or will reach, a pool;
 * LOC: a Location for a redirect) and ends the transaction, closing after it when CLOSE.
 * Returns -1 if the session had to close at once, else 0. */
static int sess_local(struct pc_session *s, int status, const char *loc, size_t loclen, bool close)
{
    pc_txn_drop(&s->t);
    s->t.close_after |= close || pc_w.draining;
    pc_out_reset(&s->out);
    if (status == PC_ANSWER_SIGNIN)
        status = pc_guard_refusal(&s->out, &s->t, s->t.close_after);
    else if (!pc_rw_local(&s->out, status, loc, loclen, s->t.close_after))
        status = 0;
    if (!status) {
        sess_close(s);
        return -1;
    }
    s->t.status = status;
    s->t.req_done = s->t.resp_done = true;
    s->state = s->t.close_after ? PC_S_CLOSING : PC_S_ACTIVE;
    return 0;
}

/* A request rejected before routing (malformed, too large): status, then close. */
static int sess_reject(struct pc_session *s, int status)
{
    if (s->t.lg_method == 0) {
        /* Nothing parsed: log what we can. */
        memcpy(s->t.lg, "-", 1);
        s->t.lg_method = 1;
        s->t.lg_host = s->t.lg_path = s->t.lg_referer = s->t.lg_ua = 0;
    }
    s->t.t_start = s->t.t_start > 0 ? s->t.t_start : ev_now(pc_w.loop);
    return sess_local(s, status, NULL, 0, true);
}

/* ---- request heads ---- */

/* A complete header block of HL bytes at the start of s->in: request.c parses and routes it
 * and starts its transaction, or says what to answer. Returns -1 if the session closed. */
static int sess_begin(struct pc_session *s, size_t hl)
{
    struct pc_answer a;
    int r = pc_request_begin(s, hl, &a);
    if (r == 1 && a.rejected)
        return sess_reject(s, a.status);
    if (r == 2) {
        /* A sign-in form: read whole before anything goes to a pool; a client slow to send
         * a few hundred bytes gets the header timeout, as a slow header block does. */
        s->state = PC_S_SIGNIN;
        sess_arm(s, pc_w.cfg->timeout_header);
        return 0;
    }
    s->state = PC_S_ACTIVE;
    sess_arm(s, pc_w.cfg->timeout_idle);
    return r ? sess_local(s, a.status, a.loc, a.loclen, a.close) : 0;
}

/* Reads more request bytes into s->in: 1 some came, 0 none for now, -1 the client closed
 * (or failed) and the session is closed. */
static int sess_read_more(struct pc_session *s)
{
    ssize_t n = pc_io_read(s->fd, &s->tc, &s->in);
    if (n > 0) {
        s->t.bytes_in += (uint64_t)n;
        return 1;
    }
    if (n == PC_IO_AGAIN)
        return 0;
    sess_close(s);
    return -1;
}

/* Reads a sign-in form (s->t.body_left bytes, at most PC_GUARD_BODY_MAX) into s->in, then
 * lets request.c decide. Returns -1 if the session closed. */
static int sess_read_form(struct pc_session *s)
{
    size_t need = (size_t)s->t.body_left;
    for (;;) {
        size_t have = s->in ? pc_buf_len(s->in) : 0;
        if (have >= need) {
            struct pc_answer a;
            s->state = PC_S_ACTIVE;
            sess_arm(s, pc_w.cfg->timeout_idle);
            int r = pc_request_resume(s, &a);
            return r ? sess_local(s, a.status, NULL, 0, a.close) : 0;
        }
        if (s->in && pc_buf_room(s->in) < need - have) {
            pc_buf_compact(s->in);
            struct pc_buf *nb = pc_buf_room(s->in) < need - have ? pc_buf_grow(s->in, need) : s->in;
            if (!nb)
                return sess_reject(s, 500);
            s->in = nb;
        }
        int r = sess_read_more(s); /* the client leaving mid-form: nothing was forwarded */
        if (r <= 0)
            return r;
    }
}

/* Reads and scans a request header block. Returns -1 if the session closed. */
static int sess_read_head(struct pc_session *s)
{
    for (;;) {
        if (s->in && pc_buf_len(s->in)) {
            if (s->state == PC_S_IDLE) {
                s->state = PC_S_HEAD;
                s->t.t_start = ev_now(pc_w.loop);
                /* timeout_header counts from the accept (or the handshake) for a connection's
                 * first request, whose timer already runs: a late first byte must not buy a
                 * slow client a second period. Later requests count from their first byte. */
                if (s->served)
                    sess_arm(s, pc_w.cfg->timeout_header);
            }
            struct pc_buf *b = s->in;
            if (pc_client_sniff_plain(s, b->data + b->start, pc_buf_len(b))) {
                sess_close(s); /* a protocol error, not a request: no answer */
                return -1;
            }
            int r = pc_h1_scan(&s->scan, b->data + b->start, pc_buf_len(b), true);
            if (r < 0)
                return sess_reject(s, -r);
            if (r > 0) {
                b->start += s->scan.lead; /* empty lines before the request line */
                return sess_begin(s, (size_t)r - s->scan.lead);
            }
            if (pc_buf_room(b) == 0) {
                if (b->start > 0) {
                    pc_buf_compact(b);
                } else {
                    struct pc_buf *nb = pc_buf_grow(b, b->cap * 2);
                    if (!nb)
                        return sess_reject(s, 431);
                    s->in = nb;
                }
            }
        }
        int r = sess_read_more(s); /* end of stream between requests: nothing to answer */
        if (r <= 0)
            return r;
    }
}

/* ---- end of a transaction ---- */

static void sess_reset(struct pc_session *s)
{
    pc_txn_reset(&s->t); /* the next transaction */
    s->state = PC_S_IDLE;
    memset(&s->scan, 0, sizeof(s->scan));
    pc_client_reset(s);
    s->served = true;
    sess_arm(s, pc_w.cfg->timeout_keepalive);
}

/* Ends the transaction once the request is sent, the response complete and flushed. */
static int sess_try_finish(struct pc_session *s)
{
    if (!pc_txn_complete(&s->t) || pc_out_pending(&s->out))
        return 0;
    sess_log(s);
    pc_txn_end(&s->t, true);
    if (s->t.close_after && s->t.discard_in) {
        sess_linger(s); /* the client may still be sending what nobody reads */
        return 0;
    }
    if (s->t.close_after) {
        sess_close(s);
        return -1;
    }
    sess_reset(s);
    /* Nothing buffered: wait for the socket rather than try a read that would fail. */
    if ((!s->in || !pc_buf_len(s->in)) && !pc_io_tls_pending(&s->tc)) {
        if (!pc_out_pending(&s->out)) /* a kept-alive connection waits from now on */
            pc_rec_start(&s->tc);     /* (measured: sess_watch alone leaves 10 KiB a poll) */
        return 0;
    }
    return 1;
}

/* Whether a sign-in failure holds the response back (guard.c: the delay floor). */
static bool sess_held(const struct pc_session *s)
{
    return s->t.hold_until > 0 && ev_now(pc_w.loop) < s->t.hold_until;
}

/* Writes queued response bytes to the client: 1 all written, 0 pending, -1 closed. */
static int sess_flush(struct pc_session *s)
{
    if (!pc_out_pending(&s->out))
        return 1;
    if (sess_held(s))
        return 0;
    int r = pc_io_flush(s->fd, &s->tc, &s->out, &s->t.bytes_out);
    if (r < 0) {
        sess_close(s);
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
    int r = sess_read_more(s);
    if (r > 0 && s->t.discard_in)
        s->in->start = s->in->end; /* the rest of an abandoned body */
    return r < 0 ? -1 : 0;
}

/* Advances the TLS handshake with the client. Returns -1 if the session closed. */
static int sess_handshake(struct pc_session *s)
{
    int e;
    int r = pc_tls_step(s->tc.ssl, &s->hs_want, &e);
    if (r == 1) {
        pc_metrics_tls_handshake(NULL);
        s->cert_idx = (uint8_t)pc_tls_server_index(pc_w.tls, s->tc.ssl);
        s->state = PC_S_IDLE;
        /* RFC 8737 §3: a TLS-ALPN-01 validation ends with the handshake (close_notify). */
        if (pc_acme_alpn_chosen(s->tc.ssl)) {
            sess_close(s);
            return -1;
        }
        sess_arm(s, pc_w.cfg->timeout_header);
        if (pc_w.cfg->http2 && pc_tls_alpn_h2(s->tc.ssl) && pc_h2_start(s) < 0) {
            sess_close(s);
            return -1;
        }
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
    sess_close(s);
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
    sess_arm(s, PC_LINGER);
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
        sess_close(s); /* the client closed (or reset): done */
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
                sess_close(s);
                return -1;
            }
            if (r == 0)
                return 0;
            if (s->state == PC_S_HANDSHAKE && s->pp_expect)
                sess_arm(s, pc_w.cfg->timeout_handshake); /* from the header on */
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
            if (sess_read_head(s) < 0)
                return -1;
            if (s->state == PC_S_IDLE || s->state == PC_S_HEAD)
                return 0;
            continue;
        case PC_S_CLOSING: {
            int r = sess_flush(s);
            if (r < 0)
                return -1;
            if (r > 0)
                sess_linger(s);
            return 0;
        }
        case PC_S_LINGER:
            return sess_discard(s);
        case PC_S_H2:
            if (pc_h2_drive(s) < 0) {
                sess_close(s);
                return -1;
            }
            return 0;
        case PC_S_SIGNIN:
            if (sess_read_form(s) < 0)
                return -1;
            if (s->state == PC_S_SIGNIN)
                return 0;
            continue;
        case PC_S_ACTIVE:
            if (sess_flush(s) < 0 || pc_txn_pump(&s->t) < 0)
                return -1;
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
    switch (s->state) {
    case PC_S_PROXYHDR:
        ev = EV_READ;
        break;
    case PC_S_HANDSHAKE:
        ev = s->hs_want;
        break;
    case PC_S_IDLE:
    case PC_S_HEAD:
    case PC_S_SIGNIN:
        ev = EV_READ;
        break;
    case PC_S_CLOSING:
        ev = sess_held(s) ? 0 : EV_WRITE;
        break;
    case PC_S_LINGER:
        ev = EV_READ;
        break;
    case PC_S_H2:
        pc_io_want(pc_w.loop, &s->io, pc_h2_events(s));
        return;
    case PC_S_ACTIVE:
        if (pc_out_pending(&s->out) && !sess_held(s))
            ev |= EV_WRITE;
        /* Body bytes, or an early close while waiting; never while the input buffer is full
         * (a pipelined request behind a long poll): level-triggered epoll would wake us for
         * bytes we will not read. */
        if (pc_txn_wants_input(&s->t) && (!s->in || pc_buf_len(s->in) < s->in->cap))
            ev |= EV_READ;
        break;
    }
    pc_io_want(pc_w.loop, &s->io, ev);
    if (sess_held(s)) {
        /* The timer wakes the session when the hold ends (sess_timer_cb). */
        double left = s->t.hold_until - ev_now(pc_w.loop);
        if (!ev_is_active(&s->timer) || ev_timer_remaining(pc_w.loop, &s->timer) > left) {
            ev_timer_stop(pc_w.loop, &s->timer);
            ev_timer_set(&s->timer, left, 0.);
            ev_timer_start(pc_w.loop, &s->timer);
        }
    }
    /* Nothing moves before the next event: an input buffer that was emptied (the request
     * head and body consumed) goes back now rather than at the next read, which for a
     * pending long poll or a keep-alive connection may be minutes away (16 KiB each). Not
     * while a raw piece of the upstream queue still points into it. */
    if (s->in && pc_buf_len(s->in) == 0 && !pc_txn_holds_input(&s->t)) {
        pc_buf_put(s->in);
        s->in = NULL;
    }
    /* The same moment, for a request waiting for its answer (a long poll: the session reads
     * nothing more) or a kept-alive connection, hands a quiet TLS 1.3 connection over to
     * portico's records (tls/rec.h): 14 KiB less for as long as it waits. */
    if (s->tc.ssl && !s->in && !pc_out_pending(&s->out) &&
        (s->state == PC_S_ACTIVE || s->state == PC_S_IDLE))
        pc_rec_start(&s->tc);
    pc_txn_watch(&s->t);
}

static void sess_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pc_session *s = SESS_FROM(w, io);
    (void)loop;
    if (s->state == PC_S_ACTIVE && (revents & EV_READ) && s->t.req_done && !s->t.tunnel) {
        if (sess_peek_client(s) < 0)
            return;
    }
    if (sess_drive(s) < 0)
        return;
    sess_watch(s);
}

/* ---- the client side of the transaction (struct pc_txn_client_ops) ---- */

#define SESS_OF(t) PC_CONTAINER_OF(t, struct pc_session, t)

static int sess_c_flush(struct pc_txn *t)
{
    return sess_flush(SESS_OF(t));
}

static ssize_t sess_c_read(struct pc_txn *t)
{
    struct pc_session *s = SESS_OF(t);
    ssize_t n = pc_io_read_bulk(s->fd, &s->tc, &s->in); /* a body: big reads */
    if (n > 0)
        return n;
    if (n == PC_IO_AGAIN)
        return 0;
    /* The client went away mid-body: closing the member connection is how the pool learns
     * that the upload was aborted. */
    sess_close(s);
    return -1;
}

static int sess_c_local(struct pc_txn *t, int status, bool close)
{
    return sess_local(SESS_OF(t), status, NULL, 0, close);
}

static void sess_c_abort(struct pc_txn *t)
{
    sess_close(SESS_OF(t));
}

static void sess_c_event(struct pc_txn *t, enum pc_txn_event ev)
{
    struct pc_session *s = SESS_OF(t);
    if (ev == PC_TXN_PIN_LOST) {
        if (s->state == PC_S_ACTIVE || s->state == PC_S_CLOSING) {
            s->t.close_after = true; /* after the response in progress */
            return;
        }
        sess_close(s);
        return;
    }
    if (sess_drive(s) < 0)
        return;
    sess_watch(s);
}

static const struct pc_txn_client_ops sess_client_ops = {
    .flush = sess_c_flush,
    .read = sess_c_read,
    .local = sess_c_local,
    .abort = sess_c_abort,
    .event = sess_c_event,
};

static void sess_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pc_session *s = SESS_FROM(w, timer);
    (void)revents;
    if (s->state == PC_S_H2) {
        if (pc_h2_timer(s) < 0) {
            sess_close(s);
            return;
        }
        sess_watch(s);
        return;
    }
    double now = ev_now(loop);
    double last =
        s->state == PC_S_ACTIVE && s->t.last_act > s->last_act ? s->t.last_act : s->last_act;
    double due = last + s->timeout;
    if (s->t.hold_until > 0 && now >= s->t.hold_until) {
        /* A sign-in failure's delay floor is over: the response goes. */
        s->t.hold_until = 0;
        if (sess_drive(s) < 0)
            return;
        sess_watch(s);
        if (!ev_is_active(w)) {
            ev_timer_set(w, due > now ? due - now : 0.001, 0.);
            ev_timer_start(loop, w);
        }
        return;
    }
    if (now < due) {
        ev_timer_set(w, due - now, 0.);
        ev_timer_start(loop, w);
        return;
    }
    switch (s->state) {
    case PC_S_PROXYHDR:
        pc_client_timeout(s);
        sess_close(s);
        return;
    case PC_S_HANDSHAKE: {
        static struct pc_ratelimit rl;
        const char *sni = s->hello_sni[0] ? s->hello_sni : NULL;
        pc_log_limited(&rl, PC_LOG_INFO, "TLS handshake failed: client %s sni %s: timed out",
                       s->peer_ip, sni ? sni : "-");
        pc_metrics_tls_handshake("timed out");
        sess_close(s);
        return;
    }
    case PC_S_IDLE:
    case PC_S_CLOSING:
    case PC_S_LINGER:
    case PC_S_H2:
        sess_close(s);
        return;
    case PC_S_HEAD:
    case PC_S_SIGNIN:
        if (sess_reject(s, 408) < 0)
            return;
        sess_arm(s, 5);
        break;
    case PC_S_ACTIVE: {
        int status = pc_txn_timed_out(&s->t, s->timeout);
        if (!status) {
            sess_close(s);
            return;
        }
        if (sess_local(s, status, NULL, 0, true) < 0)
            return;
        sess_arm(s, 5);
        break;
    }
    }
    if (sess_drive(s) < 0)
        return;
    sess_watch(s);
}
