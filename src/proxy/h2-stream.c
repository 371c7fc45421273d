/* h2-stream.c — HTTP/2 streams (RFC 9113 §5, §8; docs/http2.md): each is one transaction
 * (txn.c) without pins, whose request head is rebuilt as HTTP/1.1 for request.c, its body and
 * trailers framed as HTTP/1.1 for txn.c, and whose HTTP/1.1 response (t->resp, written by
 * upstream.c) goes out as HEADERS and DATA (h2-resp.c).
 *
 * A request carrying connection-bound credentials, and a member's 401 that offers only such
 * schemes, are reset with HTTP_1_1_REQUIRED (§7, 0xd): the client retries over HTTP/1.1,
 * where the member connection can be pinned. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/metrics.h"
#include "common/log.h"
#include "common/out.h"
#include "common/util.h"
#include "config/config.h"
#include "core/worker.h"
#include "http/http1.h"
#include "proxy/guard.h"
#include "proxy/h2-int.h"
#include "proxy/h2.h"
#include "proxy/proxy.h"
#include "proxy/request.h"
#include "proxy/txn.h"

static struct pc_list free_streams = {&free_streams, &free_streams};
static const struct pc_txn_client_ops h2_client_ops;
#define H2_BODY_MAX (4 * PC_BUF_BULK) /* a chunked body's framing within a window */

#define ST_OF(t) PC_CONTAINER_OF(t, struct pc_h2_stream, r.t)

/* ---- life ---- */

static struct pc_h2_stream *stream_new(struct pc_h2conn *c, int32_t id)
{
    struct pc_h2_stream *st = PC_LIST_ITEM(pc_list_pop(&free_streams), struct pc_h2_stream, link);
    if (!st && !(st = malloc(sizeof(*st))))
        return NULL;
    memset(st, 0, offsetof(struct pc_h2_stream, r.t.lg));
    const struct pc_session *s = c->s;
    struct pc_session *r = &st->r;
    st->c = c;
    st->id = id;
    pc_h2_head_init(&st->head);
    st->opened = ev_now(pc_w.loop);
    /* What request.c and the access log read of the connection. */
    r->fd = s->fd;
    r->tls = s->tls;
    r->kind = s->kind;
    r->cert_idx = s->cert_idx;
    r->state = PC_S_ACTIVE;
    r->peer = s->peer;
    memcpy(r->peer_ip, s->peer_ip, sizeof(r->peer_ip));
    memcpy(r->tcp_ip, s->tcp_ip, sizeof(r->tcp_ip));
    memcpy(r->conn_ip, s->conn_ip, sizeof(r->conn_ip));
    r->pp_used = s->pp_used;
    r->pp_ssl = s->pp_ssl;
    r->xff_trust = s->xff_trust;
    r->t.ops = &h2_client_ops;
    r->t.resp = &r->out;
    r->t.in = &r->in;
    r->t.pins = NULL; /* a stream cannot keep a member connection */
    r->t.client_ip = r->peer_ip;
    r->t.up_tls = true;
    r->t.h2 = true;
    r->t.member_idx = -1;
    pc_list_push(&c->streams, &st->link);
    c->nstreams++;
    return st;
}

static void stream_log(struct pc_h2_stream *st)
{
    struct pc_txn *t = &st->r.t;
    if (t->logged || t->t_start <= 0)
        return;
    if (t->lg_method == 0) {
        memcpy(t->lg, "-", 1); /* refused before request.c saw it */
        t->lg_method = 1;
    }
    if (!t->status)
        t->status = 499;
    pc_alog_request(&st->r);
    pc_metrics_request(&(struct pc_metrics_req){.name = t->name,
                                                .proto = PC_PROTO_HTTP2,
                                                .status = t->status,
                                                .t_start = t->t_start,
                                                .bytes_out = t->bytes_out,
                                                .bytes_in = t->bytes_in});
    t->logged = true;
}

/* The transaction is over on the member side; the stream may still be sending. */
static void stream_done(struct pc_h2_stream *st, bool reusable)
{
    if (st->done)
        return;
    stream_log(st);
    if (reusable)
        pc_txn_end(&st->r.t, true);
    else
        pc_txn_client_closed(&st->r.t);
    st->done = true;
}

static void stream_reset(struct pc_h2_stream *st, uint32_t code)
{
    if (!st->closed && !st->rst)
        nghttp2_submit_rst_stream(st->c->ng, NGHTTP2_FLAG_NONE, st->id, code);
    st->rst = true;
    stream_done(st, false);
}

void pc_h2_stream_free(struct pc_h2_stream *st)
{
    struct pc_h2conn *c = st->c;
    if (!st->done) {
        st->r.t.status = st->r.t.status ? st->r.t.status : 499;
        stream_done(st, false);
    }
    if (!c->dying)
        nghttp2_session_set_stream_user_data(c->ng, st->id, NULL);
    pc_h2_head_free(&st->head);
    pc_buf_put(st->tr);
    pc_buf_put(st->early);
    pc_buf_put(st->r.in);
    pc_out_reset(&st->r.out);
    pc_txn_reset(&st->r.t);
    pc_list_del(&st->link);
    c->nstreams--;
    pc_list_push(&free_streams, &st->link);
}

static int stream_local(struct pc_h2_stream *st, int status);

/* What request.c decided instead of a transaction. */
static void stream_answer(struct pc_h2_stream *st, const struct pc_answer *a)
{
    if (a->status == PC_ANSWER_HTTP11) {
        /* Connection-bound credentials: over HTTP/1.1, where the member connection can be
         * pinned to the client's (RFC 9113 §8.2.3 and §7). Nothing reached a pool. */
        st->r.t.status = 426; /* logged as "use another protocol" (docs/http2.md) */
        stream_reset(st, NGHTTP2_HTTP_1_1_REQUIRED);
        return;
    }
    stream_local(st, a->status);
}

/* The whole head arrived (END_HEADERS). */
static void stream_begin(struct pc_h2_stream *st, bool end_stream)
{
    struct pc_txn *t = &st->r.t;
    st->started = true;
    st->body_end = end_stream;
    t->t_start = t->last_act = ev_now(pc_w.loop);
    st->chunked = !end_stream && !st->head.has_cl;
    if (!(st->r.in = pc_h2_head_compose(&st->head, st->chunked))) {
        stream_local(st, st->head.status); /* 414, 431: as HTTP/1.1 answers such a head */
        return;
    }
    size_t hl = pc_buf_len(st->r.in);
    struct pc_answer a;
    int r = pc_request_begin(&st->r, hl, &a);
    /* The head is consumed (or refused): the body gets a buffer of its own. */
    pc_buf_put(st->r.in);
    st->r.in = NULL;
    if (r == 1)
        stream_answer(st, &a);
    else if (r == 2)
        st->form = true;
}

/* A sign-in form read whole: request.c's verdict. */
static void stream_form(struct pc_h2_stream *st)
{
    struct pc_txn *t = &st->r.t;
    if (!st->r.in || pc_buf_len(st->r.in) < t->body_left)
        return;
    st->form = false;
    struct pc_answer a;
    if (pc_request_resume(&st->r, &a) == 1)
        stream_answer(st, &a);
}

/* ---- the request body (RFC 9113 §8.1, flow control §5.2) ---- */

static void stream_data(struct pc_h2_stream *st, const uint8_t *data, size_t len)
{
    struct pc_h2conn *c = st->c;
    if (st->discard || st->done || !st->started) {
        nghttp2_session_consume(c->ng, st->id, len);
        return;
    }
    struct pc_txn *t = &st->r.t;
    struct pc_buf *b = st->r.in;
    size_t need = len + (st->chunked ? 24 : 0);
    if (!b && !(b = st->r.in = pc_buf_get_cap(PC_BUF_BULK))) {
        stream_reset(st, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    if (pc_buf_room(b) < need && !pc_txn_holds_input(t))
        pc_buf_compact(b);
    if (pc_buf_room(b) < need) {
        /* Within the window a Content-Length body fits the buffer; a chunked one adds its
         * framing, bounded; a raw piece still pointing into the buffer forbids moving it. */
        struct pc_buf *nb = NULL;
        if (!pc_txn_holds_input(t) && b->end + need <= H2_BODY_MAX)
            nb = pc_buf_grow(b, b->end + need);
        if (!nb) {
            stream_reset(st, NGHTTP2_INTERNAL_ERROR);
            return;
        }
        st->r.in = b = nb;
    }
    if (st->chunked)
        b->end += (size_t)snprintf(b->data + b->end, 24, "%zx\r\n", len);
    memcpy(b->data + b->end, data, len);
    b->end += len;
    if (st->chunked)
        memcpy(b->data + b->end, "\r\n", 2), b->end += 2;
    st->unacked += (uint32_t)len;
    t->bytes_in += len;
    t->last_act = ev_now(pc_w.loop);
}

/* One field of the request's trailers (a HEADERS with END_STREAM after the body, §8.1;
 * nghttp2 refused pseudo-header and connection-specific fields). A body that goes upstream
 * chunked carries them in its last chunk as HTTP/1.1 lines, bounded as chunked.c bounds a
 * trailer section; one with a content-length cannot (docs/http2.md): they are dropped, as
 * the fields no trailer carries on are (pc_h1_trailer_allowed). */
static void stream_trailer(struct pc_h2_stream *st, const uint8_t *n, size_t nl, const uint8_t *v,
                           size_t vl)
{
    if (!st->chunked || st->discard || st->done || st->tr_big ||
        !pc_h1_trailer_allowed((const char *)n, nl))
        return;
    const size_t max = PC_MAX_FIELD - 2; /* the section, as chunked.c bounds a member's */
    st->tr_big = !(pc_h2_head_put(&st->tr, n, nl, max) && pc_h2_head_put(&st->tr, ": ", 2, max) &&
                   pc_h2_head_put(&st->tr, v, vl, max) && pc_h2_head_put(&st->tr, "\r\n", 2, max));
}

/* Trailers larger than a field may be: 431 as for a head, while nothing was answered. */
static void stream_trailers_too_big(struct pc_h2_stream *st)
{
    if (st->r.t.resp_begun)
        stream_reset(st, NGHTTP2_INTERNAL_ERROR);
    else
        stream_local(st, 431);
}

/* END_STREAM: a chunked body gets its last chunk, with the trailers. */
static void stream_body_end(struct pc_h2_stream *st)
{
    st->body_end = true;
    if (!st->chunked || st->discard || st->done)
        return;
    if (st->tr_big) {
        stream_trailers_too_big(st);
        return;
    }
    size_t tl = st->tr ? pc_buf_len(st->tr) : 0, need = 5 + tl;
    struct pc_buf *b = st->r.in;
    if (!b && !(b = st->r.in = pc_buf_get_cap(need > PC_BUF_BULK ? need : PC_BUF_BULK))) {
        stream_reset(st, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    if (pc_buf_room(b) < need)
        pc_buf_compact(b); /* chunked: never held (txn.c copies re-chunked pieces) */
    if (pc_buf_room(b) < need) {
        struct pc_buf *nb = b->end + need <= H2_BODY_MAX ? pc_buf_grow(b, b->end + need) : NULL;
        if (!nb) {
            stream_reset(st, NGHTTP2_INTERNAL_ERROR);
            return;
        }
        st->r.in = b = nb;
    }
    memcpy(b->data + b->end, "0\r\n", 3);
    if (tl)
        memcpy(b->data + b->end + 3, st->tr->data + st->tr->start, tl);
    memcpy(b->data + b->end + 3 + tl, "\r\n", 2);
    b->end += need;
    pc_buf_put(st->tr);
    st->tr = NULL;
}

/* A complete head goes to request.c at the step after the read that brought it, not from
 * cb_frame_recv: a stream the client resets in that read (CVE-2023-44487) never reaches a
 * pool. The DATA read with it (st->early) and its END_STREAM (body_end) follow it. */
static void stream_start(struct pc_h2_stream *st)
{
    struct pc_buf *early = st->early;
    bool end = st->body_end;
    st->early = NULL;
    stream_begin(st, end && !early);
    if (early) {
        size_t n = pc_buf_len(early);
        st->unacked -= (uint32_t)n; /* stream_data counts it again */
        stream_data(st, (const uint8_t *)early->data + early->start, n);
        pc_buf_put(early);
        if (end)
            stream_body_end(st);
    }
}

/* Starts ST once its head is complete, if not yet (nor reset, nor closed): at the next step,
 * or earlier when its trailers come in the same read (the head and its DATA go first). */
static void stream_ready(struct pc_h2_stream *st)
{
    if (!st->started && st->head_done && !st->rst && !st->closed)
        stream_start(st);
}

/* Gives DATA back to the windows once the transaction moved all of it (§6.9): the client
 * sends no faster than the member takes. */
static void stream_ack(struct pc_h2_stream *st)
{
    struct pc_buf *b = st->r.in;
    if (st->form || (b && pc_buf_len(b)) || pc_txn_holds_input(&st->r.t))
        return;
    if (st->unacked) {
        nghttp2_session_consume(st->c->ng, st->id, st->unacked);
        st->unacked = 0;
    }
    pc_buf_put(b);
    st->r.in = NULL;
}

/* ---- the response (h2-resp.c) ---- */

/* Hands what t->resp holds to nghttp2: the head once, then wakes the DATA provider. */
static int stream_respond(struct pc_h2_stream *st)
{
    struct pc_txn *t = &st->r.t;
    if (st->closed || st->rst)
        return 0;
    if (!st->submitted) {
        if (!pc_out_pending(t->resp) || (t->hold_until > 0 && ev_now(pc_w.loop) < t->hold_until))
            return 0;
        uint32_t code = pc_h2_resp_submit(st);
        if (code)
            stream_reset(st, code);
        return code ? -1 : 0;
    }
    if (st->deferred && (pc_out_pending(t->resp) || t->resp_done || st->done)) {
        st->deferred = false;
        nghttp2_session_resume_data(st->c->ng, st->id);
    }
    return 0;
}

/* An answer of the proxy's own, as a normal HTTP/2 response. 0, or -1 (reset instead). */
static int stream_local(struct pc_h2_stream *st, int status)
{
    struct pc_txn *t = &st->r.t;
    pc_txn_drop(t);
    pc_out_reset(t->resp);
    if (status == PC_ANSWER_SIGNIN)
        status = pc_guard_refusal(t->resp, t, false);
    else if (!pc_rw_local(t->resp, status, NULL, 0, false))
        status = 0;
    if (!status) {
        stream_reset(st, NGHTTP2_INTERNAL_ERROR);
        return -1;
    }
    t->status = status;
    t->req_done = t->resp_done = true;
    if (!st->body_end) {
        st->discard = true; /* what the client still sends goes nowhere */
        if (st->r.in)
            st->r.in->start = st->r.in->end;
    }
    st->form = false;
    return stream_respond(st);
}

void pc_h2_stream_step(struct pc_h2_stream *st)
{
    struct pc_txn *t = &st->r.t;
    stream_ready(st);
    if (!st->started || st->closed || st->rst)
        return;
    if (!st->done) {
        if (st->form)
            stream_form(st);
        if (t->up && pc_txn_pump(t) < 0)
            return;
    }
    stream_ack(st);
    if (stream_respond(st) < 0)
        return;
    if (!st->done && pc_txn_complete(t) && !pc_out_pending(t->resp))
        stream_done(st, true);
    pc_txn_watch(t);
}

double pc_h2_stream_timer(struct pc_h2_stream *st, double now)
{
    struct pc_txn *t = &st->r.t;
    if (st->closed || st->rst)
        return 0;
    if (!st->started) {
        /* A header block that never completes (CONTINUATION frames trickled in) gets
         * timeout_header, as an HTTP/1.1 head does. */
        double due = st->opened + pc_w.cfg->timeout_header;
        if (now < due)
            return due;
        stream_reset(st, NGHTTP2_CANCEL);
        return 0;
    }
    if (t->hold_until > 0) {
        if (now < t->hold_until)
            return t->hold_until;
        t->hold_until = 0; /* the sign-in delay floor is over: the next step answers */
    }
    double idle = pc_w.cfg->timeout_idle;
    if (now < t->last_act + idle)
        return t->last_act + idle;
    if (st->done) {
        /* Complete on the member side, but the client takes nothing (a zero window held
         * open): the stream ends with timeout_idle, as a slow reader's HTTP/1.1 does. */
        stream_reset(st, NGHTTP2_CANCEL);
        return 0;
    }
    int status = pc_txn_timed_out(t, idle);
    if (status && !st->submitted)
        stream_local(st, status);
    else
        stream_reset(st, NGHTTP2_CANCEL);
    return 0;
}

/* ---- the client side of the transaction (struct pc_txn_client_ops) ---- */

static int h2_c_flush(struct pc_txn *t)
{
    struct pc_h2_stream *st = ST_OF(t);
    if (stream_respond(st) < 0)
        return -1;
    return pc_out_pending(t->resp) ? 0 : 1;
}

static ssize_t h2_c_read(struct pc_txn *t)
{
    (void)t;
    return 0; /* DATA frames arrive by themselves (stream_data) */
}

static int h2_c_local(struct pc_txn *t, int status, bool close)
{
    (void)close; /* the connection carries other streams */
    return stream_local(ST_OF(t), status);
}

void pc_h2_kick(struct pc_h2conn *c)
{
    if (c->busy) {
        c->again = true; /* the loop in progress steps every stream again */
        return;
    }
    /* From the next loop iteration, not from inside the member side's call (a transaction
     * on the stack must not see its stream swept): the session's watcher runs as if the
     * socket were ready, and libev merges repeated feeds. */
    ev_feed_event(pc_w.loop, &c->s->io, EV_CUSTOM);
}

static void h2_c_abort(struct pc_txn *t)
{
    struct pc_h2_stream *st = ST_OF(t);
    stream_reset(st, NGHTTP2_INTERNAL_ERROR);
    pc_h2_kick(st->c);
}

static void h2_c_event(struct pc_txn *t, enum pc_txn_event ev)
{
    if (ev == PC_TXN_PROGRESS)
        pc_h2_kick(ST_OF(t)->c);
}

static const struct pc_txn_client_ops h2_client_ops = {
    .flush = h2_c_flush,
    .read = h2_c_read,
    .local = h2_c_local,
    .abort = h2_c_abort,
    .event = h2_c_event,
};

/* ---- nghttp2 callbacks ---- */

static struct pc_h2_stream *stream_of(nghttp2_session *ng, int32_t id, struct pc_h2conn *c)
{
    return c->dying ? NULL : nghttp2_session_get_stream_user_data(ng, id);
}

static int cb_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct pc_h2conn *c = ud;
    if (c->dying || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct pc_h2_stream *st = stream_new(c, frame->hd.stream_id);
    if (!st)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
    nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
    return 0;
}

static int cb_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags;
    struct pc_h2_stream *st = stream_of(ng, frame->hd.stream_id, ud);
    if (!st || st->closed)
        return 0;
    if (!st->started && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        pc_h2_head_field(&st->head, name, namelen, value, valuelen);
    } else if (frame->headers.cat == NGHTTP2_HCAT_HEADERS) { /* trailers (§8.1) */
        stream_ready(st);
        if (st->started && !st->closed)
            stream_trailer(st, name, namelen, value, valuelen);
    }
    return 0;
}

static int cb_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct pc_h2_stream *st = stream_of(ng, frame->hd.stream_id, ud);
    if (!st || st->closed)
        return 0;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && !st->head_done) {
        st->head_done = true; /* stream_start at the next step */
        st->body_end = end;
        return 0;
    }
    if (!st->started && frame->hd.type == NGHTTP2_DATA) {
        st->body_end |= end; /* with the DATA kept for stream_start */
        return 0;
    }
    if (frame->hd.type == NGHTTP2_HEADERS)
        stream_ready(st); /* trailers without a field, right after the head */
    if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && end)
        stream_body_end(st);
    return 0;
}

static int cb_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud)
{
    (void)flags;
    struct pc_h2_stream *st = stream_of(ng, id, ud);
    if (!st || st->closed) {
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    if (!st->started && st->head_done && !st->rst) {
        /* Read with its head: kept for stream_start, within the stream's window (§6.9). */
        st->unacked += (uint32_t)len;
        if (!pc_h2_head_put(&st->early, data, len, PC_MAX_HEAD))
            stream_reset(st, NGHTTP2_INTERNAL_ERROR);
        return 0;
    }
    stream_data(st, data, len);
    return 0;
}

static int cb_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    (void)code;
    struct pc_h2_stream *st = stream_of(ng, id, ud);
    if (!st)
        return 0;
    if (st->unacked)
        nghttp2_session_consume_connection(ng, st->unacked);
    st->unacked = 0;
    st->closed = true;
    if (!st->done) {
        /* Closed once the last DATA went out: the member connection is reused. Else the
         * client reset it, or the connection ends: the member connection closes. */
        struct pc_txn *t = &st->r.t;
        bool complete = pc_txn_complete(t) && !pc_out_pending(t->resp);
        t->status = t->status ? t->status : 499;
        stream_done(st, complete);
    }
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    return 0;
}

void pc_h2_stream_callbacks(nghttp2_session_callbacks *cb)
{
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, cb_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, cb_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, cb_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cb_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, cb_stream_close);
}
