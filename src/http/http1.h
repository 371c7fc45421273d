/* http1.h — strict HTTP/1.x header blocks (RFC 9112 §2-§7; docs/architecture.md, "Request header
 * blocks").
 *
 * llhttp frames bodies; this module decides whether a header block is acceptable at all, and
 * it is stricter than llhttp 8.1 (obs-fold, bare CR/LF, versions, absolute-form, controls). */
#ifndef PORTICO_HTTP1_H
#define PORTICO_HTTP1_H

#include <string.h>
#include <strings.h>
#include <stdbool.h>
#include <stddef.h>

#include "http/http1-t.h"

/* tchar (RFC 9110 §5.6.2): the bytes of a token, such as a field name. */
extern const unsigned char pc_h1_tchar[256];

/* A byte of a field value: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5); no CR, LF, NUL, DEL or
 * other control. */
static inline bool pc_h1_vchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Looks for the end of a header block in P[0, LEN), continuing from where S stopped (S must
 * be zeroed for a new block). For a request, up to PC_MAX_LEAD_LINES empty lines before the
 * request line are skipped: the block then starts at S->lead. Returns the offset of the
 * block's end in P (through CRLF CRLF, so the block is S->lead .. the result) when complete,
 * 0 when more bytes are needed, or a negative HTTP status: -400 (bare LF or CR, or too many
 * empty lines first), -414 (request line too long), -431 (field or block too large). */
int pc_h1_scan(struct pc_hscan *s, const char *p, size_t len, bool request);

/* Parses the complete header block P[0, LEN) into H. Returns 0, or a negative status:
 * -400 malformed or ambiguous, -405 CONNECT/TRACE/OPTIONS *, -431 too many fields,
 * -505 never (unknown versions are -400, as docs/architecture.md says). For a response, -502 means
 * malformed. */
int pc_h1_parse(const char *p, size_t len, bool request, struct pc_head *h);

/* Case-insensitive comparison of span S of H against the NUL-terminated lower-case LIT. */
static inline bool pc_h1_eq(const struct pc_head *h, struct pc_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(h->base + s.off, lit, n) == 0;
}

/* Whether P[0, LEN) is an authority portico accepts from the wire (a Host value, an
 * absolute-form authority, a TLS server name): a reg-name of letters, digits, '-', '.', '_',
 * or a bracketed IP literal, then an optional :port; no whitespace, control or userinfo.
 * Every name taken from the wire passes it before routing, rewriting, SNI or the log. */
bool pc_h1_valid_authority(const char *p, size_t len);

/* The same for a host name alone, as a TLS server name must be (RFC 6066 §3): no port, no
 * IP literal. */
static inline bool pc_h1_valid_hostname(const char *p, size_t len)
{
    return pc_h1_valid_authority(p, len) && !memchr(p, ':', len);
}

/* The authority a parsed request names (RFC 9112 §3.2.2): its absolute-form authority, else
 * its Host value, port included; NULL (*LEN 0) when it has neither (HTTP/1.0 without Host). */
static inline const char *pc_h1_request_authority(const struct pc_head *h, size_t *len)
{
    struct pc_span a = h->authority.len ? h->authority
                       : h->host >= 0   ? h->f[h->host].value
                                        : (struct pc_span){0, 0};
    *len = a.len;
    return a.len ? h->base + a.off : NULL;
}

/* Whether a trailer field named NAME[0, LEN) is relayed (docs/http2.md, "Trailers"): not a
 * pseudo-header, connection-specific, framing, routing or authentication field, nor one that
 * only means something before the content. */
bool pc_h1_trailer_allowed(const char *name, size_t len);

/* Host of an authority (strips ":port" and brackets are kept for IPv6); returns its length. */
size_t pc_h1_authority_host(const char *a, size_t len);

#endif
