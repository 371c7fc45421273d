/* h2.c — an HTTP/2 client connection (RFC 9113; docs/http2.md): the nghttp2 server session
 * on the session's TLS socket, its frames in and out, its timers (streams: h2-stream.c).
 *
 * nghttp2 does the framing, HPACK and flow control; portico owns the streams and their
 * transactions. Everything happens in h2_settle(), called after any event on the socket or on
 * a stream's member connection: frames in, every stream stepped, frames out, until nothing
 * moves. nghttp2 is never re-entered from its own callbacks (busy). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "common/out.h"
#include "common/util.h"
#include "config/config.h"
#include "core/io.h"
#include "core/worker.h"
#include "http/http1-t.h"
#include "proxy/h2.h"
#include "proxy/proxy.h"

static struct pc_list free_conns = {&free_conns, &free_conns};
static nghttp2_session_callbacks *callbacks;
static nghttp2_option *options;

/* RFC 9113 §6.5.2. 100 streams, as IIS and nginx (past them: REFUSED_STREAM until the client
 * acknowledged the SETTINGS, nghttp2's GOAWAY PROTOCOL_ERROR after, §5.1.2); a header list as
 * large as the HTTP/1.1 header block portico accepts, so that a 64 KiB Kerberos token fits
 * (and is then refused with HTTP_1_1_REQUIRED, not with a size error). The other limits:
 * h2-limits.c. */
#define H2_MAX_STREAMS 100
#define H2_WINDOW      65535 /* per stream: a request body fits one PC_BUF_BULK buffer */
#define H2_SEND_ROUNDS 16    /* steps of streams and sends per event, bounded */
/* From the shutdown notice to the final GOAWAY (RFC 9113 §6.8: "at least one round-trip
 * time"): a second is more than the round trip of any network a Lync client signs in from. */
#define H2_GOAWAY_DELAY 1.0

/* An idle connection (no stream, nothing to send) gives back the pages of nghttp2's frame
 * buffer after this long (docs/http2.md#memory): a browser keeps its connection open for
 * minutes between clicks, and the buffer is 16 KiB of its ~42. */
#define H2_IDLE_RELEASE 0.5
#define H2_FRAMEBUF_MIN 16384 /* nghttp2's frame buffer: 9 + 1 + 16384 bytes */

static size_t page_size;

/* nghttp2's memory (nghttp2_mem, its user data the connection): the C library's, except the
 * frame buffer that nghttp2_session_server_new3 allocates (one realloc(NULL, 16394), held for
 * the session's life), which is page-aligned so that h2_idle_release can give its pages back
 * while its contents do not matter. */
static void *mem_malloc(size_t n, void *ud)
{
    (void)ud;
    return malloc(n);
}

static void *mem_calloc(size_t n, size_t size, void *ud)
{
    (void)ud;
    return calloc(n, size);
}

static void mem_free(void *p, void *ud)
{
    struct pc_h2conn *c = ud;
    if (p && p == c->fbuf)
        c->fbuf = NULL;
    free(p);
}

static void *mem_realloc(void *p, size_t n, void *ud)
{
    struct pc_h2conn *c = ud;
    if (p || !c->creating || n < H2_FRAMEBUF_MIN || c->fbuf) {
        if (p && p == c->fbuf)
            c->fbuf = NULL; /* moved: no longer aligned, never released */
        return realloc(p, n);
    }
    void *q = NULL;
    if (posix_memalign(&q, page_size, n) != 0)
        return NULL;
    c->fbuf = q;
    c->fbuf_len = n;
    return q;
}

/* Gives the frame buffer's whole pages back to the kernel (they read as zeros when next
 * touched). Only when nghttp2 holds no frame in it: no stream, nothing it wants to write. */
static void h2_idle_release(struct pc_h2conn *c)
{
    uintptr_t b = ((uintptr_t)c->fbuf + page_size - 1) & ~(uintptr_t)(page_size - 1);
    uintptr_t e = ((uintptr_t)c->fbuf + c->fbuf_len) & ~(uintptr_t)(page_size - 1);
    c->released = true;
    if (c->fbuf && e > b && madvise((void *)b, e - b, MADV_DONTNEED) != 0)
        c->fbuf = NULL; /* not released (logged nowhere: it only costs memory) */
}

/* Frames for the socket go into s->out (one bulk buffer); when it is full nghttp2 waits. */
static ssize_t cb_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)ng;
    (void)flags;
    struct pc_h2conn *c = ud;
    struct pc_out *o = &c->s->out;
    if (!o->ob && !(o->ob = pc_buf_get_cap(PC_BUF_BULK)))
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (pc_buf_room(o->ob) < len && o->ob->start) {
        pc_buf_compact(o->ob);
    }
    if (pc_buf_room(o->ob) < len) {
        if (pc_buf_len(o->ob))
            return NGHTTP2_ERR_WOULDBLOCK;
        len = pc_buf_room(o->ob); /* a frame larger than the buffer goes in pieces */
    }
    memcpy(o->ob->data + o->ob->end, data, len);
    o->ob->end += len;
    return (ssize_t)len;
}

static void h2_init(void)
{
    if (callbacks)
        return;
    if (nghttp2_session_callbacks_new(&callbacks) != 0 || nghttp2_option_new(&options) != 0) {
        pc_err("out of memory for HTTP/2");
        abort();
    }
    nghttp2_session_callbacks_set_send_callback(callbacks, cb_send);
    pc_h2_stream_callbacks(callbacks);
    pc_h2_limits_callbacks(callbacks);
    pc_h2_limits_options(options);
    /* Windows follow what the members take (RFC 9113 §5.2): h2-stream.c gives DATA back with
     * nghttp2_session_consume once its transaction moved it. */
    nghttp2_option_set_no_auto_window_update(options, 1);
    /* A closed stream is forgotten at once: nghttp2 would keep up to MAX_CONCURRENT_STREAMS of
     * them for RFC 7540's priority tree, which RFC 9113 §5.3 deprecates and portico does not
     * use (~230 B each: a browser connection idle after a page of 40 requests kept 49 KiB). */
    nghttp2_option_set_no_closed_streams(options, 1);
    long ps = sysconf(_SC_PAGESIZE);
    page_size = ps > 0 ? (size_t)ps : 4096;
}

int pc_h2_start(struct pc_session *s)
{
    h2_init();
    struct pc_h2conn *c = PC_LIST_ITEM(pc_list_pop(&free_conns), struct pc_h2conn, link);
    if (!c && !(c = malloc(sizeof(*c))))
        return -1;
    memset(c, 0, sizeof(*c));
    c->s = s;
    pc_list_init(&c->streams);
    nghttp2_mem mem = {c, mem_malloc, mem_free, mem_calloc, mem_realloc};
    c->creating = true;
    int rc = nghttp2_session_server_new3(&c->ng, callbacks, c, options, &mem);
    c->creating = false;
    if (rc != 0) {
        pc_list_push(&free_conns, &c->link);
        return -1;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, PC_MAX_HEAD},
    };
    if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0) {
        nghttp2_session_del(c->ng);
        pc_list_push(&free_conns, &c->link);
        return -1;
    }
    s->h2 = c;
    s->state = PC_S_H2;
    c->last_act = ev_now(pc_w.loop);
    pc_h2_limits_start(c);
    /* Accepted before the drain, handshake done after: like an HTTP/1.1 connection's first
     * request, the streams on their way are served, then the connection ends. */
    if (pc_w.draining)
        pc_h2_drain(s);
    return 0;
}

/* Reads what the client sent and feeds it to nghttp2. 0, or -1 (closed, or a connection
 * error nghttp2 could not answer with GOAWAY). */
static int h2_read(struct pc_h2conn *c)
{
    struct pc_session *s = c->s;
    while (nghttp2_session_want_read(c->ng) && !c->lim.calm) {
        ssize_t n = pc_io_read(s->fd, &s->tc, &s->in);
        if (n == PC_IO_AGAIN)
            break;
        if (n <= 0)
            return -1;
        c->last_act = ev_now(pc_w.loop);
        ssize_t r = nghttp2_session_mem_recv(c->ng, (const uint8_t *)s->in->data + s->in->start,
                                             pc_buf_len(s->in));
        if (r < 0) {
            static struct pc_ratelimit rl;
            pc_log_limited(&rl, PC_LOG_INFO, "HTTP/2: client %s: %s", s->peer_ip,
                           nghttp2_strerror((int)r));
            pc_h2_limits_fatal((int)r);
            return -1;
        }
        s->in->start = s->in->end;
    }
    if (s->in && !pc_buf_len(s->in)) {
        pc_buf_put(s->in);
        s->in = NULL;
    }
    return 0;
}

/* Serializes frames and writes them. 0, or -1 (the socket failed). */
static int h2_send(struct pc_h2conn *c)
{
    struct pc_session *s = c->s;
    for (;;) {
        if (nghttp2_session_send(c->ng) != 0)
            return -1;
        if (!pc_out_pending(&s->out))
            return 0;
        int r = pc_io_flush(s->fd, &s->tc, &s->out, NULL);
        if (r < 0)
            return -1;
        if (r == 0)
            return 0; /* the socket is full: EV_WRITE brings us back */
        c->last_act = ev_now(pc_w.loop);
        if (!nghttp2_session_want_write(c->ng))
            return 0;
    }
}

/* Gives back the streams nghttp2 closed. */
static void h2_sweep(struct pc_h2conn *c)
{
    for (struct pc_list *e = c->streams.next, *next; e != &c->streams; e = next) {
        next = e->next;
        struct pc_h2_stream *st = PC_CONTAINER_OF(e, struct pc_h2_stream, link);
        if (st->closed)
            pc_h2_stream_free(st);
    }
}

/* Steps every stream and sends until nothing moves. 0, or -1 (close the connection). */
static int h2_settle(struct pc_h2conn *c)
{
    /* What nghttp2 queued while reading goes out before any stream steps: a stream it reset
     * (malformed, refused) is closed by then and never starts, and after a GOAWAY for an
     * error or a budget spent (h2-limits.c) nothing starts: the connection closes. */
    if (h2_send(c) < 0 || c->lim.calm || c->lim.goaway_err)
        return -1;
    for (int round = 0; round < H2_SEND_ROUNDS; round++) {
        c->again = false;
        for (struct pc_list *e = c->streams.next; e != &c->streams; e = e->next)
            pc_h2_stream_step(PC_CONTAINER_OF(e, struct pc_h2_stream, link));
        if (h2_send(c) < 0)
            return -1;
        if (!c->again)
            break;
    }
    h2_sweep(c);
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) &&
        !pc_out_pending(&c->s->out))
        return -1; /* GOAWAY sent and every stream done, or the client's GOAWAY */
    return 0;
}

/* Brings the session's timer forward to SECS from now when it is due later. */
static void h2_timer_within(struct pc_session *s, double secs)
{
    if (ev_timer_remaining(pc_w.loop, &s->timer) <= secs)
        return;
    ev_timer_stop(pc_w.loop, &s->timer);
    ev_timer_set(&s->timer, secs, 0.);
    ev_timer_start(pc_w.loop, &s->timer);
}

int pc_h2_drive(struct pc_session *s)
{
    struct pc_h2conn *c = s->h2;
    c->busy++;
    c->released = false; /* what follows may write frames */
    int r = h2_read(c);
    if (r == 0)
        r = h2_settle(c);
    c->busy--;
    /* Streams are looked at every second (timeout_idle, a sign-in hold): a timer armed for
     * the idle connection's keep-alive is brought forward; without a stream, to the release
     * of the frame buffer. */
    if (r == 0)
        h2_timer_within(s, c->nstreams ? 1.0 : H2_IDLE_RELEASE);
    return r;
}

int pc_h2_events(struct pc_session *s)
{
    struct pc_h2conn *c = s->h2;
    int ev = 0;
    if (nghttp2_session_want_read(c->ng))
        ev |= EV_READ;
    if (pc_out_pending(&s->out))
        ev |= EV_WRITE;
    return ev;
}

/* Sends the final GOAWAY once it is due (pc_h2_drain): it names the last stream taken, and
 * nghttp2 refuses any later one. Returns when it is due, or 0 once sent or not draining. */
static double h2_goaway(struct pc_h2conn *c, double now)
{
    if (!c->draining || c->goaway)
        return 0;
    if (now < c->goaway_at)
        return c->goaway_at;
    c->goaway = true;
    nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
    return 0;
}

int pc_h2_timer(struct pc_session *s)
{
    struct pc_h2conn *c = s->h2;
    double now = ev_now(pc_w.loop);
    double next = h2_goaway(c, now);
    c->busy++;
    for (struct pc_list *e = c->streams.next; e != &c->streams; e = e->next) {
        double due = pc_h2_stream_timer(PC_CONTAINER_OF(e, struct pc_h2_stream, link), now);
        if (due > 0 && (next == 0 || due < next))
            next = due;
    }
    int r = h2_settle(c);
    c->busy--;
    if (r < 0)
        return -1;
    if (c->nstreams == 0) {
        /* No stream open: the connection is idle, as a keep-alive HTTP/1.1 one. */
        double due = c->last_act + pc_w.cfg->timeout_keepalive;
        if (due <= now)
            return -1;
        if (next == 0 || due < next)
            next = due;
        double rel = c->last_act + H2_IDLE_RELEASE;
        if (!c->released && c->fbuf && rel <= now && !nghttp2_session_want_write(c->ng))
            h2_idle_release(c);
        else if (!c->released && c->fbuf && rel > now && rel < next)
            next = rel;
    } else if (next == 0 || next > now + 1.0) {
        next = now + 1.0;
    }
    ev_timer_stop(pc_w.loop, &s->timer);
    ev_timer_set(&s->timer, next > now ? next - now : 0.01, 0.);
    ev_timer_start(pc_w.loop, &s->timer);
    return 0;
}

/* A graceful shutdown in two steps (RFC 9113 §6.8): a GOAWAY whose last stream id is 2^31-1
 * announces it while requests already on their way are still taken, and H2_GOAWAY_DELAY later
 * the final one names the last stream taken; those finish, then the connection closes. A
 * single GOAWAY at once would refuse the requests crossing it (the client must retry them). */
void pc_h2_drain(struct pc_session *s)
{
    struct pc_h2conn *c = s->h2;
    if (c->draining)
        return;
    c->draining = true;
    c->goaway_at = ev_now(pc_w.loop) + H2_GOAWAY_DELAY;
    nghttp2_submit_shutdown_notice(c->ng);
    h2_timer_within(s, H2_GOAWAY_DELAY);
    ev_feed_event(pc_w.loop, &s->io, EV_CUSTOM);
}

void pc_h2_release(struct pc_session *s)
{
    struct pc_h2conn *c = s->h2;
    c->dying = true; /* nghttp2_session_del must not reach the streams freed here */
    while (!pc_list_empty(&c->streams))
        pc_h2_stream_free(PC_CONTAINER_OF(c->streams.next, struct pc_h2_stream, link));
    nghttp2_session_del(c->ng);
    s->h2 = NULL;
    pc_list_push(&free_conns, &c->link);
}
