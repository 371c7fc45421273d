/* h2-resp.c — an HTTP/2 stream's response (RFC 9113 §8.1; docs/http2.md): the member's
 * HTTP/1.1 response, as upstream.c queues it in t->resp (bodies without framing), goes out as
 * HEADERS and DATA; interim responses (1xx) as HEADERS of their own before the final one; the
 * trailer section of a chunked response (t->trailers) as HEADERS with END_STREAM after the
 * last DATA. */
#include <string.h>

#include "common/out.h"
#include "core/worker.h"
#include "http/http1.h"
#include "proxy/auth.h"
#include "proxy/h2-int.h"

static struct pc_head rhead;              /* scratch: one response head at a time */
static nghttp2_nv nva[PC_MAX_FIELDS + 1]; /* ... its fields for nghttp2 */
static char lnames[PC_MAX_HEAD];          /* ... their names in lower case (§8.2.1) */
/* Frames queued on the connection past which an interim response waits in t->resp (and its
 * member connection is not read): a member sending 1xx after 1xx to a client that reads
 * nothing fills no queue. */
#define H2_INTERIM_QUEUE 16

/* Fields HTTP/2 forbids in a response (RFC 9113 §8.2.2). */
static bool connection_specific(const struct pc_field *f)
{
    switch (f->kind) {
    case PC_HK_CONNECTION:
    case PC_HK_KEEP_ALIVE:
    case PC_HK_PROXY_CONNECTION:
    case PC_HK_TRANSFER_ENCODING:
    case PC_HK_UPGRADE:
    case PC_HK_TE:
        return true;
    default:
        return f->drop;
    }
}

/* One field for nghttp2, its name lower-cased into lnames at *LO. */
static nghttp2_nv nv_lower(const char *name, uint32_t nl, const char *v, uint32_t vl, size_t *lo)
{
    char *ln = lnames + *lo;
    for (uint32_t k = 0; k < nl; k++)
        ln[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] - 'A' + 'a' : name[k]);
    *lo += nl;
    return (nghttp2_nv){(uint8_t *)ln, (uint8_t *)v, nl, vl, NGHTTP2_NV_FLAG_NONE};
}

/* rhead as nva: :status (in STATUS), then its fields but the connection-specific ones. */
static size_t head_fields(char status[4])
{
    status[0] = (char)('0' + rhead.status / 100);
    status[1] = (char)('0' + rhead.status / 10 % 10);
    status[2] = (char)('0' + rhead.status % 10);
    status[3] = 0;
    size_t n = 0, lo = 0;
    nva[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
    for (unsigned i = 0; i < rhead.nfields && n < sizeof(nva) / sizeof(nva[0]); i++) {
        const struct pc_field *f = &rhead.f[i];
        if (!connection_specific(f))
            nva[n++] = nv_lower(rhead.base + f->name.off, f->name.len, rhead.base + f->value.off,
                                f->value.len, &lo);
    }
    return n;
}

/* The trailer section TR (field lines, then CRLF, as chunked.c checked it) as nva, without
 * the fields no trailer carries on (pc_h1_trailer_allowed): their number, or -1 (more than a
 * head may have, a malformed response). */
static int trailer_fields(const struct pc_buf *tr)
{
    const char *p = tr->data + tr->start, *end = tr->data + tr->end;
    size_t n = 0, lo = 0;
    while (end - p > 2) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *eol = colon ? memchr(colon, '\r', (size_t)(end - colon)) : NULL;
        if (!eol)
            return -1; /* never: chunked.c ends every line with CRLF */
        const char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        if (pc_h1_trailer_allowed(p, (size_t)(colon - p))) {
            if (n == PC_MAX_FIELDS)
                return -1;
            nva[n++] = nv_lower(p, (uint32_t)(colon - p), v, (uint32_t)(ve - v), &lo);
        }
        p = eol + 2;
    }
    return (int)n;
}

/* The member's trailers after the last DATA (§8.1), from inside the DATA provider: 1 sent
 * (the DATA ends without END_STREAM), 0 none left to send, -1 failed. */
static int stream_trailers(struct pc_h2_stream *st)
{
    struct pc_txn *t = &st->r.t;
    int n = trailer_fields(t->trailers);
    pc_buf_put(t->trailers);
    t->trailers = NULL;
    if (n <= 0)
        return n;
    return nghttp2_submit_trailer(st->c->ng, st->id, nva, (size_t)n) == 0 ? 1 : -1;
}

/* Copies response bytes for a DATA frame; deferred while none are queued (§6.1). */
static ssize_t stream_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                           uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    (void)ng;
    (void)id;
    (void)ud;
    struct pc_h2_stream *st = src->ptr;
    struct pc_txn *t = &st->r.t;
    struct pc_out *o = t->resp;
    size_t n = 0;
    if (o->ob && pc_buf_len(o->ob)) {
        n = pc_buf_len(o->ob) < len ? pc_buf_len(o->ob) : len;
        memcpy(buf, o->ob->data + o->ob->start, n);
        o->ob->start += n;
        if (!pc_buf_len(o->ob)) {
            pc_buf_put(o->ob);
            o->ob = NULL;
        }
    } else if (o->rawlen) {
        n = o->rawlen < len ? o->rawlen : len;
        memcpy(buf, o->raw, n);
        o->raw += n;
        o->rawlen -= n;
    }
    if (n) {
        t->bytes_out += n;
        t->last_act = ev_now(pc_w.loop);
        st->c->again = true; /* room for the member's next bytes */
    }
    if (!pc_out_pending(o) && (t->resp_done || st->done)) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        int r = t->trailers && t->resp_done ? stream_trailers(st) : 0;
        if (r < 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM INTERNAL_ERROR */
        if (r > 0)
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM; /* the trailers' HEADERS end it */
        return (ssize_t)n;
    }
    if (n == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* The final head (rhead, HL bytes at the start of t->resp) as HEADERS with its DATA
 * provider; without one when nothing follows (HEAD, 204, 304, an empty body). */
static uint32_t stream_final(struct pc_h2_stream *st, size_t hl)
{
    struct pc_txn *t = &st->r.t;
    if (rhead.status == 401 && pc_auth_only_bound(&rhead)) {
        /* NTLM or Negotiate only: nothing the client could answer on this stream. */
        t->status = 401;
        return NGHTTP2_HTTP_1_1_REQUIRED;
    }
    char status[4];
    size_t n = head_fields(status);
    t->resp->ob->start += hl;
    bool bodyless = t->resp_done && !pc_out_pending(t->resp) && !t->trailers;
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = stream_read};
    if (nghttp2_submit_response(st->c->ng, st->id, nva, n, bodyless ? NULL : &dp) != 0)
        return NGHTTP2_INTERNAL_ERROR;
    st->submitted = true;
    return 0;
}

uint32_t pc_h2_resp_submit(struct pc_h2_stream *st)
{
    struct pc_txn *t = &st->r.t;
    for (;;) {
        struct pc_buf *b = t->resp->ob;
        struct pc_hscan sc = {0};
        int hl = b ? pc_h1_scan(&sc, b->data + b->start, pc_buf_len(b), false) : 0;
        if (hl == 0)
            return 0; /* upstream.c writes a head whole: not yet there */
        if (hl < 0 || pc_h1_parse(b->data + b->start, (size_t)hl, false, &rhead) != 0)
            return NGHTTP2_INTERNAL_ERROR;
        if (rhead.status >= 200)
            return stream_final(st, (size_t)hl);
        if (rhead.status == 101)
            return NGHTTP2_INTERNAL_ERROR; /* never in HTTP/2 (§8.6); upstream.c 502s it */
        /* 100 Continue after `expect: 100-continue` (the client waits for it to send the
         * body), 102, 103 Early Hints: HEADERS without END_STREAM, the final one follows. */
        if (nghttp2_session_get_outbound_queue_size(st->c->ng) >= H2_INTERIM_QUEUE) {
            st->c->again = true; /* the next step, after a send (bounded rounds, h2.c) */
            return 0;
        }
        char status[4];
        size_t n = head_fields(status);
        b->start += (size_t)hl;
        if (nghttp2_submit_headers(st->c->ng, NGHTTP2_FLAG_NONE, st->id, NULL, nva, n, NULL) < 0)
            return NGHTTP2_INTERNAL_ERROR;
    }
}
