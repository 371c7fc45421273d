/* chunked.c — chunked bodies (RFC 9112 §7.1): llhttp decodes the chunks, portico adds the checks
 * llhttp 8.1 lacks (see chunked.h). */
#include "http/chunked.h"

#include <string.h>

#include "common/buf.h"
#include "http/http1.h"

enum { TR_LINE = 1, TR_NAME, TR_VALUE, TR_VALUE_CR, TR_END_CR };

/* Chunk extensions (RFC 9112 §7.1.1), which portico drops: a name is a token, a value a
 * token or a quoted-string. llhttp 8.1 takes an empty name (";;"), an empty value ("a=") and
 * a '"' inside an unquoted value; these callbacks refuse them. Spans may come in pieces. */
static int ext_name(llhttp_t *p, const char *at, size_t len)
{
    (void)at;
    ((struct pc_chunked *)p)->ext_len += (uint32_t)len;
    return 0;
}

static int ext_value(llhttp_t *p, const char *at, size_t len)
{
    struct pc_chunked *c = (struct pc_chunked *)p;
    c->ext_end = at + len;
    if (len == 0)
        return 0;
    if (c->ext_len == 0) /* the value's first byte says whether it is a quoted-string */
        c->ext_quoted = at[0] == '"';
    c->ext_len += (uint32_t)len;
    if (!c->ext_quoted && memchr(at, '"', len))
        return -1;
    return 0;
}

static int ext_done(llhttp_t *p)
{
    struct pc_chunked *c = (struct pc_chunked *)p;
    bool empty = c->ext_len == 0;
    c->ext_len = 0;
    return empty ? -1 : 0;
}

/* llhttp 8.1 swallows the ';' that ends an unquoted value and then wants another ';' or the
 * CRLF: "a=b;c" (valid) fails there, while "a=b;;c" and "a=b;\r\n" (an empty name) pass.
 * Refuse such a value outright: the valid case was refused anyway. The terminator is inside
 * the buffer being parsed when llhttp ends an unquoted value's span on it. */
static int ext_value_done(llhttp_t *p)
{
    struct pc_chunked *c = (struct pc_chunked *)p;
    if (c->ext_len && !c->ext_quoted && *c->ext_end == ';')
        return -1;
    return ext_done(p);
}

/* The last chunk: llhttp pauses here and the trailer section is portico's to check. */
static int chunk_header(llhttp_t *p)
{
    struct pc_chunked *c = (struct pc_chunked *)p;
    if (p->content_length != 0)
        return 0;
    c->trailer = TR_LINE;
    return HPE_PAUSED;
}

void pc_chunked_settings(llhttp_settings_t *st)
{
    st->on_chunk_extension_name = ext_name;
    st->on_chunk_extension_name_complete = ext_done;
    st->on_chunk_extension_value = ext_value;
    st->on_chunk_extension_value_complete = ext_value_done;
    st->on_chunk_header = chunk_header;
}

int pc_chunked_begin(struct pc_chunked *c, bool request)
{
    /* llhttp frames by a header block: give it one that says "chunked" and nothing else (the
     * real one was checked and rewritten by http1.c). */
    static const char req[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    llhttp_reset(&c->ll);
    c->trailer = 0;
    c->trailer_len = 0;
    c->ext_len = 0;
    c->ext_quoted = false;
    c->keep = false;
    c->tr = NULL;
    enum llhttp_errno e = request ? llhttp_execute(&c->ll, req, sizeof(req) - 1)
                                  : llhttp_execute(&c->ll, resp, sizeof(resp) - 1);
    return e == HPE_OK ? 0 : -1;
}

void pc_chunked_release(struct pc_chunked *c)
{
    pc_buf_put(c->tr);
    c->tr = NULL;
}

/* Appends P[0, N) of the trailer section to c->tr (bounded by the section's limit). */
static bool tr_keep(struct pc_chunked *c, const char *p, size_t n)
{
    struct pc_buf *b = c->tr;
    if (!c->keep || n == 0)
        return true;
    if (!b && !(b = c->tr = pc_buf_get_cap(n > PC_BUF_SMALL ? n : PC_BUF_SMALL)))
        return false;
    if (pc_buf_room(b) < n) {
        size_t cap = b->cap * 2 > b->end + n ? b->cap * 2 : b->end + n;
        if (cap > PC_MAX_FIELD && b->end + n <= PC_MAX_FIELD)
            cap = PC_MAX_FIELD;
        struct pc_buf *nb = pc_buf_grow(b, cap);
        if (!nb)
            return false;
        c->tr = b = nb;
    }
    memcpy(b->data + b->end, p, n);
    b->end += n;
    return true;
}

/* The end of the trailer section: what was kept of it, then the end of the message. */
static enum llhttp_errno trailer_end(struct pc_chunked *c, const char *at, size_t n)
{
    c->trailer = 0;
    if (!tr_keep(c, at, n))
        return HPE_USER;
    if (c->trailer_len == 2)
        pc_chunked_release(c); /* only the final CRLF: no trailer field */
    const llhttp_settings_t *st = c->ll.settings;
    return st->on_message_complete(&c->ll) < 0 ? HPE_USER : HPE_PAUSED;
}

/* The trailer section (RFC 9112 §7.1.2), which portico checks, and drops unless c->keep:
 * field lines with a token name, then CRLF. llhttp 8.1 would end it on a bare LF and take an
 * empty name or an obs-fold. Returns HPE_OK (more to come), HPE_PAUSED (the message ended
 * after *USED bytes, on_message_complete has run) or an error at AT + *USED. */
static enum llhttp_errno trailer(struct pc_chunked *c, const char *at, size_t len, size_t *used)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)at[i];
        bool ok;
        *used = i;
        if (++c->trailer_len > PC_MAX_FIELD)
            return HPE_INVALID_HEADER_TOKEN; /* over 64 KiB of trailers */
        switch (c->trailer) {
        case TR_LINE:
            ok = ch == '\r' || pc_h1_tchar[ch];
            c->trailer = ch == '\r' ? TR_END_CR : TR_NAME;
            break;
        case TR_NAME:
            ok = ch == ':' || pc_h1_tchar[ch];
            if (ch == ':')
                c->trailer = TR_VALUE;
            break;
        case TR_VALUE:
            ok = ch == '\r' || pc_h1_vchar(ch);
            if (ch == '\r')
                c->trailer = TR_VALUE_CR;
            break;
        case TR_VALUE_CR:
            ok = ch == '\n';
            c->trailer = TR_LINE;
            break;
        default: /* TR_END_CR */
            if (ch != '\n')
                return HPE_INVALID_CHUNK_SIZE;
            *used = i + 1;
            return trailer_end(c, at, i + 1);
        }
        if (!ok)
            return HPE_INVALID_HEADER_TOKEN;
    }
    *used = len;
    return tr_keep(c, at, len) ? HPE_OK : HPE_USER;
}

enum llhttp_errno pc_chunked_feed(struct pc_chunked *c, const char *at, size_t len, size_t *used)
{
    size_t off = 0;
    if (!c->trailer) {
        enum llhttp_errno e = llhttp_execute(&c->ll, at, len);
        if (e == HPE_OK) {
            *used = len;
            return e;
        }
        const char *end = llhttp_get_error_pos(&c->ll);
        off = end ? (size_t)(end - at) : 0;
        if (e != HPE_PAUSED || !c->trailer) {
            *used = off;
            return e;
        }
        /* Paused at the last chunk: llhttp is done with this message. */
    }
    enum llhttp_errno e = trailer(c, at + off, len - off, used);
    *used += off;
    return e;
}
