/* txn.c — a transaction: one request and its response (docs/architecture.md,
 * "Transactions").
 *
 * A transaction chooses its member (a pinned connection of its client first, else the
 * balancer's pick), takes an idle connection or opens one, moves the request body to it and
 * lets upstream.c move the response back; it decides what a failure means: another member
 * when nothing was sent, a replay on a fresh connection when a reused one turned out stale,
 * else an error answer or the end of the client side. It reaches the client only through
 * t->ops (txn-t.h), and the member only through upstream.c's functions. */
#include "proxy/guard.h"
#include "proxy/txn.h"

#include <string.h>

#include "common/log.h"
#include "config/config.h"
#include "core/io.h"
#include "core/worker.h"
#include "http/body.h"
#include "http/chunked.h"
#include "http/http1.h"
#include "proxy/balance.h"
#include "proxy/pool.h"
#include "proxy/proxy.h"

static llhttp_settings_t req_settings;
static const struct pc_up_owner txn_up_owner;

/* ---- llhttp callbacks (chunked request bodies) ---- */

static int req_on_body(llhttp_t *p, const char *at, size_t len)
{
    struct pc_txn *t = p->data;
    return pc_body_put(&t->up->out, t->body, at, len);
}

/* The end of a chunked request body; an HTTP/2 stream's trailers (h2-stream.c framed them,
 * checked) go on in the last chunk. */
static int req_on_complete(llhttp_t *p)
{
    struct pc_txn *t = p->data;
    struct pc_buf *tr = t->chunk.tr;
    t->req_done = true;
    int r = t->up ? pc_body_end_trailers(&t->up->out, t->body, tr ? tr->data + tr->start : NULL,
                                         tr ? pc_buf_len(tr) : 0)
                  : 0;
    pc_chunked_release(&t->chunk);
    return r < 0 ? -1 : HPE_PAUSED;
}

void pc_txn_init(void)
{
    llhttp_settings_init(&req_settings);
    req_settings.on_body = req_on_body;
    req_settings.on_message_complete = req_on_complete;
    pc_chunked_settings(&req_settings);
    pc_upstream_init(&txn_up_owner);
}

void pc_txn_reset(struct pc_txn *t)
{
    pc_guard_release(t);
    pc_buf_put(t->reqhead);
    pc_buf_put(t->trailers);
    pc_chunked_release(&t->chunk);
    memset(&t->up, 0, offsetof(struct pc_txn, lg) - offsetof(struct pc_txn, up));
    t->member_idx = -1;
}

int pc_txn_chunked_body(struct pc_txn *t)
{
    llhttp_init(&t->chunk.ll, HTTP_REQUEST, &req_settings);
    t->chunk.ll.data = t;
    if (pc_chunked_begin(&t->chunk, true) < 0)
        return -1;
    t->chunk.keep = t->h2;
    return 0;
}

/* ---- choosing a member connection ---- */

/* The TLS name for T's member connection: its Host without port or final dot, lower case
 * (empty for plain HTTP). */
static void txn_sni(const struct pc_txn *t, char *out, size_t len)
{
    out[0] = '\0';
    if (!t->up_tls)
        return;
    size_t hl;
    const char *h = pc_txn_host(t, &hl);
    hl = pc_h1_authority_host(h, hl);
    if (hl && h[hl - 1] == '.')
        hl--;
    if (hl >= len)
        hl = len - 1;
    for (size_t i = 0; i < hl; i++)
        out[i] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] - 'A' + 'a' : h[i]);
    out[hl] = '\0';
}

/* Gives the rewritten request head to U (a copy when it may have to be replayed). */
static int txn_hand_request(struct pc_txn *t, struct pc_upconn *u)
{
    t->resend_ok = u->reused && t->body == PC_BODY_NONE;
    if (t->resend_ok && !u->out.ob) {
        /* The copy is kept until the response begins, minutes for a long poll; the buffer the
         * head was written into goes to the pool and back to the free list once sent. */
        struct pc_buf *copy = pc_buf_clone_kept(t->reqhead);
        if (!copy)
            return -1;
        u->out.ob = t->reqhead;
        t->reqhead = copy;
    } else if (t->resend_ok) {
        if (!pc_out_append(&u->out, t->reqhead->data, pc_buf_len(t->reqhead)))
            return -1;
    } else {
        u->out.ob = t->reqhead;
        t->reqhead = NULL;
    }
    return 0;
}

/* U carries T's request from now on. */
static int txn_use(struct pc_txn *t, struct pc_upconn *u)
{
    pc_upstream_begin(u, t);
    t->up = u;
    if (txn_hand_request(t, u) < 0) {
        pc_upstream_close(u);
        t->up = NULL;
        return -1;
    }
    return 0;
}

/* Attaches a member connection: the client's pinned one for this pool and name, else a
 * member the balancer picks among those not tried yet (an idle connection to it unless
 * FRESH_ONLY, or a new one). 0, or -1 when no member is left. */
static int txn_attach(struct pc_txn *t, bool fresh_only)
{
    const struct pc_pool *pool = &pc_w.cfg->pools[t->pool_idx];
    char sni[256];
    txn_sni(t, sni, sizeof(sni));
    struct pc_upconn *pin = t->pins ? pc_pool_pin_find(t, t->pool_idx, t->up_tls, sni) : NULL;
    if (pin) {
        /* Connection-bound authentication: this client's authenticated connection, whatever
         * the balancer would say; never retried elsewhere. */
        pc_upstream_reuse(pin, t);
        t->member_idx = (int)pin->member_idx;
        int r = txn_use(t, pin);
        t->resend_ok = false;
        return r;
    }
    for (;;) {
        struct pc_pick q = {t->pool_idx, t->tried, t->client_ip, t->has_cookie, t->cookie_id};
        bool set_cookie = false;
        int mi = pc_balance_pick(&q, &set_cookie);
        t->set_cookie |= set_cookie;
        if (mi < 0) {
            static struct pc_ratelimit rl = PC_RATELIMIT_PER_REQUEST;
            size_t hl;
            const char *h = pc_txn_host(t, &hl);
            pc_log_limited(&rl, PC_LOG_WARN, "pool %s: no member available for %.*s", pool->name,
                           (int)hl, h);
            return -1;
        }
        t->tried |= 1ull << (mi % 64);
        t->member_idx = mi;
        struct pc_upconn *u =
            fresh_only ? NULL : pc_pool_idle_take(t->pool_idx, (unsigned)mi, t->up_tls, sni);
        if (u)
            pc_upstream_reuse(u, t);
        else if (!(u = pc_upstream_connect(t, (unsigned)mi, sni)))
            continue; /* refused at once: that member is marked down, try the next */
        return txn_use(t, u);
    }
}

int pc_txn_start(struct pc_txn *t)
{
    t->tried = 0;
    return txn_attach(t, false);
}

/* ---- what the member side reports ---- */

/* An error answer when no response has begun, else the end of the client side. */
static int txn_fail(struct pc_txn *t, int status)
{
    if (t->resp_begun) {
        /* The client has part of a response: closing is the only honest signal left. */
        t->status = t->status ? t->status : status;
        t->ops->abort(t);
        return -1;
    }
    /* When the request body is not complete the connection cannot carry on. */
    return t->ops->local(t, status, !t->req_done);
}

static int txn_up_failed(struct pc_txn *t, enum pc_up_failure f, int status, const char *why)
{
    (void)why; /* upstream.c logged it */
    switch (f) {
    case PC_UPF_CONNECT:
        /* Nothing was sent: another member may take the request. */
        if (txn_attach(t, false) == 0)
            return 0;
        break;
    case PC_UPF_STALE:
        /* Replayable (upstream.c reports STALE only then): again on a fresh connection. */
        t->tried = 0;
        if (txn_attach(t, true) == 0)
            return 0;
        status = 502;
        break;
    case PC_UPF_BROKEN:
        break;
    }
    return txn_fail(t, status);
}

static void txn_up_event(struct pc_txn *t, enum pc_up_event ev)
{
    switch (ev) {
    case PC_UP_COMPLETE:
        t->resp_done = true;
        if (t->signin)
            pc_guard_complete(t);
        return;
    case PC_UP_PIN_LOST:
        t->ops->event(t, PC_TXN_PIN_LOST);
        return;
    case PC_UP_PROGRESS:
        t->ops->event(t, PC_TXN_PROGRESS);
        return;
    }
}

static int txn_up_flush(struct pc_txn *t)
{
    return t->ops->flush(t);
}

static const struct pc_up_owner txn_up_owner = {
    .event = txn_up_event,
    .failed = txn_up_failed,
    .flush = txn_up_flush,
};

/* ---- the request body ---- */

/* The member sent its whole response and stopped taking the request body (a 413 or 401 to
 * an upload, then close): the rest of the body goes nowhere. The response still goes out, and
 * then the client connection closes with a lingering close, so that the upload the client is
 * still sending neither spins the worker on a dead socket nor resets the response away. */
static void txn_abandon_body(struct pc_txn *t)
{
    pc_out_reset(&t->up->out);
    t->up->keepalive = false;
    t->req_done = true;
    t->close_after = true;
    t->discard_in = true;
    if (*t->in)
        (*t->in)->start = (*t->in)->end;
}

/* A bad chunk or similar in a streamed body: the upstream request is aborted. */
static int txn_bad_body(struct pc_txn *t, enum llhttp_errno e)
{
    static struct pc_ratelimit rl;
    pc_log_limited(&rl, PC_LOG_INFO, "bad request body from client: %s", llhttp_errno_name(e));
    pc_upstream_close(t->up);
    t->up = NULL;
    if (t->resp_begun) {
        t->ops->abort(t);
        return -1;
    }
    return t->ops->local(t, 400, true);
}

/* Moves the buffered request bytes B to the member's queue, framed for it. 0 to go on, -1
 * when the client side closed (or was answered: t->up is then NULL). */
static int txn_feed_body(struct pc_txn *t, struct pc_buf *b)
{
    struct pc_upconn *u = t->up;
    const char *at = b->data + b->start;
    size_t feed = pc_buf_len(b);
    if (t->tunnel) {
        /* WebSocket after the 101: bytes go through untouched. */
        pc_body_put(&u->out, PC_BODY_RAW, at, feed);
        b->start = b->end;
        return 0;
    }
    if (t->body == PC_BODY_RAW) {
        size_t n = feed < t->body_left ? feed : (size_t)t->body_left;
        pc_body_put(&u->out, PC_BODY_RAW, at, n); /* the queue was flushed before */
        b->start += n;
        t->body_left -= n;
        t->req_done = t->body_left == 0;
        return 0;
    }
    /* Re-chunking adds at most a chunk header per piece: keep the copy inside one standard
     * buffer. */
    if (!pc_out_reserve(&u->out, PC_BUF_SIZE / 2)) {
        t->ops->abort(t);
        return -1;
    }
    size_t room = pc_buf_room(u->out.ob) - 32;
    size_t used;
    enum llhttp_errno e = pc_chunked_feed(&t->chunk, at, feed < room ? feed : room, &used);
    if (e != HPE_OK && e != HPE_PAUSED)
        return txn_bad_body(t, e) < 0 ? -1 : 1;
    b->start += used;
    return 0;
}

/* Moves request bytes to the member until the request is complete or a side is full.
 * Returns -1 when the client side closed, 1 when the transaction was answered, else 0. */
static int txn_pump_request(struct pc_txn *t)
{
    struct pc_upconn *u = t->up;
    for (;;) {
        if (u->connecting || u->handshaking)
            return 0;
        struct pc_buf *b = *t->in;
        bool more = b && pc_buf_len(b) && !(t->req_done && !t->tunnel);
        if (pc_out_pending(&u->out) && (u->out.rawlen || !more)) {
            int r = pc_io_flush(u->fd, &u->tc, &u->out, NULL);
            if (r < 0 && u->msg_done) {
                txn_abandon_body(t);
                return 0;
            }
            if (r < 0) /* the pool's side broke; the response side sees it too and decides */
                return pc_upstream_pump(u);
            if (r == 0)
                return 0;
            t->last_act = ev_now(pc_w.loop);
        }
        if (t->req_done && !t->tunnel)
            return 0;
        if (b && pc_buf_len(b)) {
            int r = txn_feed_body(t, b);
            if (r != 0)
                return r;
            continue;
        }
        ssize_t n = t->ops->read(t); /* the client went away mid-body: it closes, and closing
                                      * the member connection tells the pool */
        if (n <= 0)
            return (int)n;
        t->bytes_in += (uint64_t)n;
        t->last_act = ev_now(pc_w.loop);
    }
}

int pc_txn_pump(struct pc_txn *t)
{
    if (!t->up)
        return 0;
    int r = txn_pump_request(t);
    if (r < 0)
        return -1;
    if (r == 0 && t->up && pc_upstream_pump(t->up) < 0)
        return -1;
    return 0;
}

/* ---- the end ---- */

bool pc_txn_complete(const struct pc_txn *t)
{
    return t->req_done && t->resp_done && !(t->up && pc_out_pending(&t->up->out));
}

void pc_txn_end(struct pc_txn *t, bool reusable)
{
    if (t->up) {
        pc_upstream_release(t, reusable);
        t->up = NULL;
    }
}

void pc_txn_drop(struct pc_txn *t)
{
    if (t->up) {
        pc_upstream_close(t->up);
        t->up = NULL;
    }
    pc_buf_put(t->reqhead);
    t->reqhead = NULL;
    pc_buf_put(t->trailers); /* of a member's response that no longer goes out */
    t->trailers = NULL;
}

void pc_txn_client_closed(struct pc_txn *t)
{
    pc_guard_release(t);
    pc_txn_drop(t);
    if (t->pins)
        pc_upstream_close_pins(t->pins);
}

bool pc_txn_wants_input(const struct pc_txn *t)
{
    const struct pc_upconn *u = t->up;
    return u && !u->connecting && !u->handshaking && !pc_out_pending(&u->out);
}

bool pc_txn_holds_input(const struct pc_txn *t)
{
    return t->up && t->up->out.rawlen;
}

void pc_txn_watch(struct pc_txn *t)
{
    if (t->up)
        pc_upstream_update(t->up);
}

int pc_txn_timed_out(struct pc_txn *t, double timeout)
{
    struct pc_upconn *u = t->up;
    if (!u)
        return 0;
    pc_upstream_log_silent(u, timeout);
    if (t->resp_begun)
        return 0;
    return t->req_done || pc_out_pending(&u->out) ? 504 : 408;
}
