/* h2-resp.c — an HTTP/2 stream's response (RFC 9113 §8.1; docs/http2.md): the member's
 * HTTP/1.1 response, as upstream.c queues it in t->resp (bodies without framing), goes out as
 * HEADERS and DATA. */
#include <string.h>

#include "common/out.h"
#include "core/worker.h"
#include "http/http1.h"
#include "proxy/auth.h"
#include "proxy/h2-int.h"

static struct pc_head rhead;              /* scratch: one response head at a time */
static nghttp2_nv nva[PC_MAX_FIELDS + 1]; /* ... its fields for nghttp2 */
static char lnames[PC_MAX_HEAD];          /* ... their names in lower case (§8.2.1) */

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
        return (ssize_t)n;
    }
    if (n == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

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

uint32_t pc_h2_resp_submit(struct pc_h2_stream *st)
{
    struct pc_txn *t = &st->r.t;
    struct pc_buf *b = t->resp->ob;
    struct pc_hscan sc = {0};
    int hl = b ? pc_h1_scan(&sc, b->data + b->start, pc_buf_len(b), false) : 0;
    if (hl == 0)
        return 0; /* upstream.c writes a head whole: not yet there */
    if (hl < 0 || pc_h1_parse(b->data + b->start, (size_t)hl, false, &rhead) != 0)
        return NGHTTP2_INTERNAL_ERROR;
    if (rhead.status == 401 && pc_auth_only_bound(&rhead)) {
        /* NTLM or Negotiate only: nothing the client could answer on this stream. */
        t->status = 401;
        return NGHTTP2_HTTP_1_1_REQUIRED;
    }
    char status[4] = {(char)('0' + rhead.status / 100), (char)('0' + rhead.status / 10 % 10),
                      (char)('0' + rhead.status % 10), 0};
    size_t n = 0, lo = 0;
    nva[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
    for (unsigned i = 0; i < rhead.nfields && n < sizeof(nva) / sizeof(nva[0]); i++) {
        const struct pc_field *f = &rhead.f[i];
        if (connection_specific(f))
            continue;
        char *ln = lnames + lo;
        for (uint32_t k = 0; k < f->name.len; k++) {
            char ch = rhead.base[f->name.off + k];
            ln[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
        }
        lo += f->name.len;
        nva[n++] = (nghttp2_nv){(uint8_t *)ln, (uint8_t *)(rhead.base + f->value.off), f->name.len,
                                f->value.len, NGHTTP2_NV_FLAG_NONE};
    }
    b->start += (size_t)hl;
    bool bodyless = t->resp_done && !pc_out_pending(t->resp);
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = stream_read};
    if (nghttp2_submit_response(st->c->ng, st->id, nva, n, bodyless ? NULL : &dp) != 0)
        return NGHTTP2_INTERNAL_ERROR;
    st->submitted = true;
    return 0;
}
