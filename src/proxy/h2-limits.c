/* h2-limits.c — what an HTTP/2 client may not do (RFC 9113 §10.5; docs/http2.md, "Limits"):
 * nghttp2's own limits set explicitly, and portico's budgets for what nghttp2 does not count,
 * each a token bucket per connection; a client past one gets GOAWAY ENHANCE_YOUR_CALM (§7)
 * and the connection closes. And what /metrics tells of the frames: streams, RST_STREAM and
 * GOAWAY by reason.
 *
 * Everything is read from the frame headers (nghttp2's on_begin_frame, called before a frame
 * is acted on, CONTINUATION included) and from the frames sent (on_frame_send), callbacks
 * that h2-stream.c does not use. */
#include "admin/metrics.h"
#include "common/log.h"
#include "core/worker.h"
#include "proxy/h2.h"

/* Rapid reset (CVE-2023-44487): streams the client resets before any response was submitted.
 * Such a stream costs no pool work when its reset was read with its head (h2-stream.c starts
 * a request only after the frames read with it); the budget bounds the rest and the CPU. 200
 * is twice MAX_CONCURRENT_STREAMS, the new streams nginx 1.25.3 accepts per read; 10 more a
 * second lets a browser abandon a page of requests every few seconds for ever. nghttp2's own
 * limit (every RST_STREAM, responded or not, then GOAWAY INTERNAL_ERROR) stays as a backstop
 * at its defaults of 1.57, 1000 and 33 a second. */
#define H2_RESET_BURST    200
#define H2_RESET_RATE     10.0
#define H2_NG_RESET_BURST 1000
#define H2_NG_RESET_RATE  33
/* SETTINGS and PING each make nghttp2 queue an ACK (§6.5.3, §6.7): a client sends a SETTINGS
 * or two per connection, and a PING now and then (gRPC's servers send ENHANCE_YOUR_CALM
 * "too_many_pings" for less). 100, then 10 a second. */
#define H2_CTRL_BURST 100
#define H2_CTRL_RATE  10.0
/* DATA frames with no data and no END_STREAM move nothing (CVE-2019-9518): 100, then 10 a
 * second. */
#define H2_EMPTY_BURST 100
#define H2_EMPTY_RATE  10.0
/* CONTINUATION frames per header block (§6.10, CVE-2024-28182): the largest block accepted
 * (MAX_HEADER_LIST_SIZE, 128 KiB) needs 7 at the default 16 KiB frame size; 16 leaves room
 * for clients that cut smaller. nghttp2's own cap (a fatal error, no GOAWAY) is set above
 * it, a backstop. */
#define H2_MAX_CONTINUATIONS    16
#define H2_NG_MAX_CONTINUATIONS 32
/* ACKs nghttp2 holds for a client that does not read (NGHTTP2_ERR_FLOODED past it), and
 * entries per SETTINGS frame (there are 8 kinds): nghttp2's defaults, explicit. */
#define H2_MAX_OUTBOUND_ACK 1000
#define H2_MAX_SETTINGS     32

/* The budgets (c->lim.calm, 0 none): what /metrics and the log call them. */
enum { CALM_RESETS = 1, CALM_CONTINUATION, CALM_SETTINGS, CALM_PING, CALM_EMPTY };
static const struct {
    enum pc_metrics_h2_goaway why;
    const char *what;
} calms[] = {
    [CALM_RESETS] = {PC_H2_GA_RAPID_RESET, "streams reset before a response"},
    [CALM_CONTINUATION] = {PC_H2_GA_CONTINUATION, "CONTINUATION flood"},
    [CALM_SETTINGS] = {PC_H2_GA_SETTINGS, "SETTINGS flood"},
    [CALM_PING] = {PC_H2_GA_PING, "PING flood"},
    [CALM_EMPTY] = {PC_H2_GA_EMPTY, "empty DATA frames"},
};

void pc_h2_limits_options(nghttp2_option *opt)
{
    nghttp2_option_set_stream_reset_rate_limit(opt, H2_NG_RESET_BURST, H2_NG_RESET_RATE);
    nghttp2_option_set_max_continuations(opt, H2_NG_MAX_CONTINUATIONS);
    nghttp2_option_set_max_outbound_ack(opt, H2_MAX_OUTBOUND_ACK);
    nghttp2_option_set_max_settings(opt, H2_MAX_SETTINGS);
}

/* Takes one token from B (BURST at most, RATE a second). False: the budget is spent. */
static bool bucket_take(struct pc_h2_bucket *b, double burst, double rate)
{
    double now = ev_now(pc_w.loop);
    b->tokens += (now - b->at) * rate;
    if (b->tokens > burst)
        b->tokens = burst;
    b->at = now;
    if (b->tokens < 1)
        return false;
    b->tokens -= 1;
    return true;
}

void pc_h2_limits_start(struct pc_h2conn *c)
{
    struct pc_h2_limits *l = &c->lim;
    double now = ev_now(pc_w.loop);
    l->resets = (struct pc_h2_bucket){H2_RESET_BURST, now};
    l->settings = l->pings = (struct pc_h2_bucket){H2_CTRL_BURST, now};
    l->empty = (struct pc_h2_bucket){H2_EMPTY_BURST, now};
    pc_metrics_h2_conn();
}

/* A budget ran out: GOAWAY ENHANCE_YOUR_CALM (§5.4.1), nothing more is read (nghttp2 ignores
 * what follows) and h2.c closes once the GOAWAY is written, or could not be. */
static void calm(struct pc_h2conn *c, int why)
{
    if (c->lim.calm)
        return;
    c->lim.calm = why;
    pc_metrics_h2_goaway(calms[why].why);
    static struct pc_ratelimit rl = PC_RATELIMIT_PER_REQUEST;
    pc_log_limited(&rl, PC_LOG_WARN, "HTTP/2: client %s: %s: GOAWAY ENHANCE_YOUR_CALM",
                   c->s->peer_ip, calms[why].what);
    nghttp2_session_terminate_session(c->ng, NGHTTP2_ENHANCE_YOUR_CALM);
}

/* The client's RST_STREAM for stream ID: before any response it counts against the
 * rapid-reset budget (a stream portico reset itself, or never knew, does not count). */
static void client_reset(struct pc_h2conn *c, int32_t id)
{
    const struct pc_h2_stream *st = nghttp2_session_get_stream_user_data(c->ng, id);
    if (!st || st->closed || st->rst)
        return;
    if (st->submitted) {
        pc_metrics_h2_reset(PC_H2_RST_CLIENT);
        return;
    }
    pc_metrics_h2_reset(PC_H2_RST_RAPID);
    if (!bucket_take(&c->lim.resets, H2_RESET_BURST, H2_RESET_RATE))
        calm(c, CALM_RESETS);
}

/* Every frame header the client sends, before nghttp2 acts on the frame. */
static int cb_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *ud)
{
    (void)ng;
    struct pc_h2conn *c = ud;
    struct pc_h2_limits *l = &c->lim;
    if (c->dying || l->calm)
        return 0;
    bool ack = hd->flags & NGHTTP2_FLAG_ACK;
    switch (hd->type) {
    case NGHTTP2_HEADERS:
        l->continuations = 0;
        if (hd->stream_id > l->last_sid) { /* a new stream (§5.1.1), not trailers */
            l->last_sid = hd->stream_id;
            pc_metrics_h2_stream();
        }
        break;
    case NGHTTP2_CONTINUATION:
        if (++l->continuations > H2_MAX_CONTINUATIONS)
            calm(c, CALM_CONTINUATION);
        break;
    case NGHTTP2_RST_STREAM:
        client_reset(c, hd->stream_id);
        break;
    case NGHTTP2_SETTINGS:
        if (!ack && !bucket_take(&l->settings, H2_CTRL_BURST, H2_CTRL_RATE))
            calm(c, CALM_SETTINGS);
        break;
    case NGHTTP2_PING:
        if (!ack && !bucket_take(&l->pings, H2_CTRL_BURST, H2_CTRL_RATE))
            calm(c, CALM_PING);
        break;
    case NGHTTP2_DATA:
        if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM) &&
            !bucket_take(&l->empty, H2_EMPTY_BURST, H2_EMPTY_RATE))
            calm(c, CALM_EMPTY);
        break;
    default:
        break;
    }
    return 0;
}

static enum pc_metrics_h2_reset reset_why(uint32_t code)
{
    switch (code) {
    case NGHTTP2_HTTP_1_1_REQUIRED:
        return PC_H2_RST_HTTP11;
    case NGHTTP2_REFUSED_STREAM:
        return PC_H2_RST_REFUSED;
    case NGHTTP2_PROTOCOL_ERROR:
        return PC_H2_RST_PROTOCOL;
    case NGHTTP2_CANCEL:
        return PC_H2_RST_TIMEOUT; /* h2-stream.c cancels only for timeout_header/_idle */
    case NGHTTP2_INTERNAL_ERROR:
        return PC_H2_RST_INTERNAL;
    default:
        return PC_H2_RST_OTHER;
    }
}

static enum pc_metrics_h2_goaway goaway_why(uint32_t code)
{
    switch (code) {
    case NGHTTP2_NO_ERROR:
        return PC_H2_GA_NO_ERROR;
    case NGHTTP2_PROTOCOL_ERROR:
        return PC_H2_GA_PROTOCOL;
    case NGHTTP2_INTERNAL_ERROR:
        return PC_H2_GA_INTERNAL; /* nghttp2's rapid-reset backstop among others */
    default:
        return PC_H2_GA_OTHER;
    }
}

/* Every frame that went out: RST_STREAM and GOAWAY by reason, whoever decided them (nghttp2
 * resets malformed and refused streams itself). A GOAWAY of calm() was counted there. */
static int cb_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    (void)ng;
    struct pc_h2conn *c = ud;
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        pc_metrics_h2_reset(reset_why(frame->rst_stream.error_code));
    } else if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
        c->lim.goaway_err = true; /* h2.c closes: no stream starts after it (§6.8) */
        if (!c->lim.calm)
            pc_metrics_h2_goaway(goaway_why(frame->goaway.error_code));
    } else if (frame->hd.type == NGHTTP2_GOAWAY) {
        pc_metrics_h2_goaway(PC_H2_GA_NO_ERROR);
    }
    return 0;
}

void pc_h2_limits_callbacks(nghttp2_session_callbacks *cb)
{
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, cb_begin_frame);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, cb_frame_send);
}

void pc_h2_limits_fatal(int err)
{
    /* nghttp2 gave up on the session: no GOAWAY can be sent, the connection just closes. */
    if (err == NGHTTP2_ERR_FLOODED)
        pc_metrics_h2_goaway(PC_H2_GA_OUTBOUND); /* ACKs piled up for a client that reads none */
    else if (err == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)
        pc_metrics_h2_goaway(PC_H2_GA_CONTINUATION);
    else if (err == NGHTTP2_ERR_BAD_CLIENT_MAGIC)
        pc_metrics_h2_goaway(PC_H2_GA_PROTOCOL);
    else
        pc_metrics_h2_goaway(PC_H2_GA_OTHER);
}
