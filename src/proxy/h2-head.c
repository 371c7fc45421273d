/* h2-head.c — the request head of an HTTP/2 stream rebuilt as HTTP/1.1 (RFC 9113 §8.3.1;
 * docs/http2.md): `:method`, `:path`, Host from `:authority` (which wins over a host field),
 * cookie crumbs joined, te dropped. Pure, so that fuzz/fuzz_h2.c tests this very code. */
#include <string.h>

#include "http/http1-t.h"
#include "proxy/h2-head.h"

void pc_h2_head_init(struct pc_h2_head *h)
{
    memset(h, 0, sizeof(*h));
    h->f_off = UINT32_MAX;
}

void pc_h2_head_free(struct pc_h2_head *h)
{
    pc_buf_put(h->hb);
    pc_buf_put(h->ck);
    h->hb = h->ck = NULL;
}

/* pc_h1_scan's limit for a whole header block: 128 KiB of fields after the request line. */
#define H2_BLOCK_MAX (PC_MAX_HEAD + PC_MAX_REQUEST_LINE)

bool pc_h2_head_put(struct pc_buf **bp, const void *p, size_t n, size_t max)
{
    struct pc_buf *b = *bp;
    if (!b && !(b = *bp = pc_buf_get()))
        return false;
    if (b->end + n > max) /* whatever the buffer's capacity */
        return false;
    if (pc_buf_room(b) < n) {
        struct pc_buf *nb = pc_buf_grow(b, b->cap * 2 > b->end + n ? b->cap * 2 : b->end + n);
        if (!nb)
            return false;
        *bp = b = nb;
    }
    memcpy(b->data + b->end, p, n);
    b->end += n;
    return true;
}

static bool name_is(const uint8_t *n, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(n, lit, len) == 0;
}

/* The head holds what HTTP/1.1 would take, no more: each field line within PC_MAX_FIELD, the
 * cookie crumbs within one Cookie line, the whole within H2_BLOCK_MAX (the lengths of :method
 * and :path are kept even past that: the request line's limit comes first, as in pc_h1_scan). */
void pc_h2_head_field(struct pc_h2_head *h, const uint8_t *n, size_t nl, const uint8_t *v,
                      size_t vl)
{
    bool ok = true;
    uint32_t at = h->hb ? (uint32_t)h->hb->end : 0;
    if (nl && n[0] == ':') {
        if (name_is(n, nl, ":method"))
            h->m_off = at, h->m_len = (uint32_t)vl;
        else if (name_is(n, nl, ":path"))
            h->p_off = at, h->p_len = (uint32_t)vl;
        else if (name_is(n, nl, ":authority"))
            h->a_off = at, h->a_len = (uint32_t)vl;
        else
            return; /* :scheme is https on this listener */
        ok = h->status || pc_h2_head_put(&h->hb, v, vl, H2_BLOCK_MAX);
    } else if (h->status) {
        return;
    } else if (name_is(n, nl, "cookie")) {
        /* §8.2.3: crumbs are joined with "; " for HTTP/1.1, in one "Cookie: " line. */
        ok = (!h->ck || pc_h2_head_put(&h->ck, "; ", 2, PC_MAX_FIELD - 8)) &&
             pc_h2_head_put(&h->ck, v, vl, PC_MAX_FIELD - 8);
    } else if ((h->a_len && name_is(n, nl, "host")) || name_is(n, nl, "te")) {
        return; /* :authority wins over Host (§8.3.1); te: trailers is hop-by-hop */
    } else {
        if (h->f_off == UINT32_MAX)
            h->f_off = at;
        h->has_cl |= name_is(n, nl, "content-length");
        ok = nl + 2 + vl <= PC_MAX_FIELD && pc_h2_head_put(&h->hb, n, nl, H2_BLOCK_MAX) &&
             pc_h2_head_put(&h->hb, ": ", 2, H2_BLOCK_MAX) &&
             pc_h2_head_put(&h->hb, v, vl, H2_BLOCK_MAX) &&
             pc_h2_head_put(&h->hb, "\r\n", 2, H2_BLOCK_MAX);
    }
    if (!ok)
        h->status = 431;
}

/* The size of the head compose writes, or 0 when HTTP/1.1 would refuse it (h->status). */
static size_t head_size(struct pc_h2_head *h, size_t fields, size_t cl, bool chunked)
{
    size_t line = (size_t)h->m_len + 1 + h->p_len + 9; /* "M P HTTP/1.1" */
    if (line > PC_MAX_REQUEST_LINE)
        h->status = 414;
    else if ((h->a_len && 6 + (size_t)h->a_len > PC_MAX_FIELD) || (cl && 8 + cl > PC_MAX_FIELD))
        h->status = 431;
    size_t size = line + 2 + (h->a_len ? 8 + (size_t)h->a_len : 0) + fields + (cl ? 10 + cl : 0) +
                  (chunked ? 28 : 0) + 2;
    if (!h->status && size > H2_BLOCK_MAX)
        h->status = 431;
    return h->status ? 0 : size;
}

struct pc_buf *pc_h2_head_compose(struct pc_h2_head *h, bool chunked)
{
    const char *hb = h->hb ? h->hb->data : "";
    size_t hblen = h->hb ? h->hb->end : 0;
    size_t foff = h->f_off == UINT32_MAX ? hblen : h->f_off;
    size_t cl = h->ck ? pc_buf_len(h->ck) : 0;
    size_t need = head_size(h, hblen - foff, cl, chunked);
    struct pc_buf *b = need ? pc_buf_get_cap(need) : NULL;
    if (!b) {
        h->status = h->status ? h->status : 500;
        pc_h2_head_free(h);
        return NULL;
    }
    char *w = b->data;
    memcpy(w, hb + h->m_off, h->m_len), w += h->m_len;
    *w++ = ' ';
    memcpy(w, hb + h->p_off, h->p_len), w += h->p_len;
    memcpy(w, " HTTP/1.1\r\n", 11), w += 11;
    if (h->a_len) {
        memcpy(w, "Host: ", 6), w += 6;
        memcpy(w, hb + h->a_off, h->a_len), w += h->a_len;
        memcpy(w, "\r\n", 2), w += 2;
    }
    memcpy(w, hb + foff, hblen - foff), w += hblen - foff;
    if (cl) {
        memcpy(w, "Cookie: ", 8), w += 8;
        memcpy(w, h->ck->data + h->ck->start, cl), w += cl;
        memcpy(w, "\r\n", 2), w += 2;
    }
    if (chunked) /* §8.2.2: a body without content-length goes upstream chunked */
        memcpy(w, "Transfer-Encoding: chunked\r\n", 28), w += 28;
    memcpy(w, "\r\n", 2), w += 2;
    b->end = (size_t)(w - b->data);
    pc_h2_head_free(h);
    return b;
}
