/* h2-head.h — the request head of an HTTP/2 stream rebuilt as HTTP/1.1 (RFC 9113 §8.3.1,
 * §8.2.3; docs/http2.md). Pure (buffers only, no session, no nghttp2): h2-stream.c feeds it
 * the fields nghttp2 hands over, and fuzz/fuzz_h2.c runs exactly the same code. */
#ifndef PORTICO_H2_HEAD_H
#define PORTICO_H2_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* The head as it arrives: pseudo-header values, then the fields as HTTP/1.1 lines, in hb;
 * cookie crumbs in ck, joined with "; " (§8.2.3). */
struct pc_h2_head {
    struct pc_buf *hb, *ck;
    uint32_t m_off, m_len, p_off, p_len, a_off, a_len, f_off;
    bool has_cl;     /* the request has a content-length */
    uint16_t status; /* refused as HTTP/1.1 would refuse such a head: 414, 431 (500: memory) */
};

/* H is empty (it may have been zeroed before). */
void pc_h2_head_init(struct pc_h2_head *h);
/* One field of the request's header block, as nghttp2 checked it (names and values §8.2.1,
 * pseudo-header fields first §8.3). */
void pc_h2_head_field(struct pc_h2_head *h, const uint8_t *n, size_t nl, const uint8_t *v,
                      size_t vl);
/* The HTTP/1.1 head (request line, Host from :authority, the fields, Cookie, and
 * `Transfer-Encoding: chunked` when CHUNKED), in a buffer of its own. NULL when HTTP/1.1 would
 * refuse it (pc_h1_scan's limits: the request line 8 KiB, 414; a field line 64 KiB or the block
 * 128 KiB + the request line, 431): H->status says with what. What H held is released. */
struct pc_buf *pc_h2_head_compose(struct pc_h2_head *h, bool chunked);
/* Appends N bytes at P to *BP (a buffer taken on first use, grown as needed): false when *BP
 * would then hold more than MAX bytes (counted from its start), or memory ran out. */
bool pc_h2_head_put(struct pc_buf **bp, const void *p, size_t n, size_t max);
/* Releases what H holds. */
void pc_h2_head_free(struct pc_h2_head *h);

#endif
