/* h1check.h — invariants of src/http/http1.c, shared by fuzz_request.c and fuzz_response.c.
 *
 * - pc_h1_scan: the one-shot result equals a reference scanner written from
 *   docs/architecture.md, "Request header blocks" (request line <= 8 KiB, field line <= 64 KiB,
 *   block <= 128 KiB + the request line, CRLF only) and RFC 9112 §2.2 (up to PC_MAX_LEAD_LINES
 *   empty lines before a request line are skipped, the block then starts after them; none
 *   before a status line), and the same bytes fed in pieces (byte by byte, at random, and cut
 *   right before and after every CR) give the same answer: a block accepted in one read is
 *   accepted at the same length, after the same empty lines, whatever the reads, and nothing
 *   accepted or still pending in one read is refused in pieces.
 * - pc_h1_parse: every span inside the block; names are tokens followed by ':'; values hold no
 *   CR, LF, NUL or other control and no surrounding whitespace; at most one Host (exactly one
 *   for an HTTP/1.1 request), Content-Length and Transfer-Encoding; never both framings; the
 *   derived facts agree with the fields they come from.
 * - llhttp, which frames the body in portico, must frame an accepted block the same way
 *   (chunked or not, the same Content-Length, version, method or status).
 * - the rewritten block (pc_rw_request / pc_rw_response) re-parses, keeps every end-to-end
 *   field in order and untouched, carries no hop-by-hop field but the proxy's own, exactly one
 *   Host, and the same message framing as the block it came from. */
#ifndef PORTICO_FUZZ_H1CHECK_H
#define PORTICO_FUZZ_H1CHECK_H

#include <llhttp.h>

#include "common.h"
#include "core/io.h"
#include "core/worker.h"
#include "http/http1.h"
#include "proxy/cookie.h"
#include "proxy/proxy.h"

/* Whether LIT occurs in P[0, N), ignoring ASCII case. */
static inline bool fz_has_ci(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    for (size_t i = 0; i + l <= n; i++)
        if (fz_ieq(p + i, l, lit))
            return true;
    return false;
}

/* rewrite.c reads pc_w (the worker) for cookie affinity; session.c/worker.c are not linked. */
struct pc_worker pc_w;

/* ---- scanning ----------------------------------------------------------------------------- */

#define FZ_MAX_BLOCK (PC_MAX_HEAD + PC_MAX_REQUEST_LINE)

/* The end of a header block in P[0, LEN) as docs/architecture.md has it, in one pass over the
 * lines. An unfinished last line ending in CR is a line end in waiting, not part of the line's
 * length. RFC 9112 §2.2 (pc_h1_scan in http1.h): before a request line, up to PC_MAX_LEAD_LINES
 * empty lines (CRLF) are skipped and the block starts after them (*LEAD); one more, or an empty
 * line before a status line, is a bad message. The skipped lines are bytes read like the others:
 * offsets, and so the 128 KiB + 8 KiB limit, count from P. */
static int ref_scan(const char *p, size_t len, bool req, size_t *lead)
{
    size_t ls = 0, nlead = 0;
    *lead = 0;
    for (;;) {
        bool first = ls == *lead; /* where the start line belongs */
        size_t limit = first ? PC_MAX_REQUEST_LINE : PC_MAX_FIELD;
        int toolong = first && req ? -414 : -431;
        const char *lf = ls < len ? memchr(p + ls, '\n', len - ls) : NULL;
        if (!lf) {
            size_t n = len - ls;
            const char *cr = n ? memchr(p + ls, '\r', n) : NULL;
            if (cr && cr != p + len - 1)
                return -400;
            size_t content = n - (cr ? 1 : 0);
            if (content > limit)
                return toolong;
            if (len > FZ_MAX_BLOCK)
                return -431;
            return 0;
        }
        size_t at = (size_t)(lf - p);
        if (at == 0 || p[at - 1] != '\r')
            return -400;
        if (at - 1 > ls && memchr(p + ls, '\r', at - 1 - ls))
            return -400;
        if (at - 1 - ls > limit)
            return toolong;
        if (at + 1 > FZ_MAX_BLOCK)
            return -431;
        if (at - 1 == ls && first) {
            if (!req || nlead == PC_MAX_LEAD_LINES)
                return -400;
            nlead++;
            *lead = ls = at + 1;
            continue;
        }
        if (at - 1 == ls)
            return (int)(at + 1);
        ls = at + 1;
    }
}

/* Feeds P[0, LEN) to pc_h1_scan as a buffer that grows to each cut in turn (each prefix in a
 * heap block of its exact size, as a read into a fresh buffer would be); stops at the first
 * answer that is not "more". *LEAD: where the scanner has the block start then. */
static int scan_pieces(const char *p, size_t len, bool req, size_t *cuts, size_t ncuts,
                       size_t *stopped, size_t *lead)
{
    struct pc_hscan s = {0};
    size_t last = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t k = i < ncuts ? cuts[i] : len;
        if (k <= last || k > len)
            continue;
        last = k;
        char *c = fz_dup(p, k);
        int r = pc_h1_scan(&s, c, k, req);
        free(c);
        FZ_CHECK(s.pos <= k && s.line_start <= s.pos && s.lead <= s.line_start,
                 "scan state out of range");
        *lead = s.lead;
        if (r != 0) {
            *stopped = k;
            return r;
        }
    }
    *stopped = len;
    return 0;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Known finding scan-split-limit: a read that ends with the CR of a line exactly at the limit
 * (8192-byte request line, 65536-byte field) is refused (414/431) though the line is legal:
 * pc_h1_scan counts that CR into the line while it waits for the LF. Tolerated if listed. */
static bool split_limit_known(const char *p, size_t at, int r)
{
    return (r == -414 || r == -431) && at > 0 && p[at - 1] == '\r' && fz_known("scan-split-limit");
}

static void check_pieces(const char *p, size_t len, bool req, int whole, size_t whole_lead,
                         size_t *cuts, size_t ncuts, const char *how)
{
    qsort(cuts, ncuts, sizeof *cuts, cmp_size);
    size_t at, lead = 0;
    int r = scan_pieces(p, len, req, cuts, ncuts, &at, &lead);
    if (whole >= 0 && split_limit_known(p, at, r))
        return;
    if (whole > 0)
        FZ_CHECK(r == whole && lead == whole_lead,
                 "pc_h1_scan: block of %d bytes (from %zu) found in one read, but %d (from %zu) "
                 "after a read of %zu bytes when fed %s",
                 whole, whole_lead, r, lead, at, how);
    else if (whole == 0)
        FZ_CHECK(r == 0,
                 "pc_h1_scan: %zu bytes need more in one read, but %d after a read of %zu "
                 "bytes when fed %s",
                 len, r, at, how);
    else
        /* The same error, or any error; a bare CR that ended an earlier read is only found
         * once its line ends (the next read), which may be later. */
        FZ_CHECK(r < 0 || (r == 0 && whole == -400),
                 "pc_h1_scan: %d in one read, but %d when fed %s", whole, r, how);
}

/* pc_h1_scan on P[0, LEN), one shot and in pieces; returns the one-shot answer, and in *LEAD
 * where the block starts (after the empty lines skipped before a request line). */
static int check_scan(const char *p, size_t len, bool req, struct fz_rng *rng, size_t *lead)
{
    struct pc_hscan s = {0};
    int whole = pc_h1_scan(&s, p, len, req);
    size_t ref_lead;
    int ref = ref_scan(p, len, req, &ref_lead);
    FZ_CHECK(whole == ref || (ref == 0 && split_limit_known(p, len, whole)),
             "pc_h1_scan returned %d for %zu bytes, the reference says %d", whole, len, ref);
    FZ_CHECK(whole <= 0 || (size_t)whole <= len, "pc_h1_scan: block longer than the input");
    if (whole > 0)
        FZ_CHECK(s.lead == ref_lead && (req || s.lead == 0),
                 "pc_h1_scan: block starts at %u, RFC 9112 §2.2 says %zu", s.lead, ref_lead);
    *lead = whole > 0 ? s.lead : 0;

    enum { MAXCUTS = 96 };
    size_t cuts[MAXCUTS + 1], n = 0;
    /* Byte by byte: short inputs only (every prefix is copied). */
    if (len <= 300) {
        struct pc_hscan s1 = {0};
        int r = 0;
        size_t k;
        for (k = 1; k <= len && r == 0; k++) {
            char *c = fz_dup(p, k);
            r = pc_h1_scan(&s1, c, k, req);
            free(c);
        }
        if (whole >= 0 && split_limit_known(p, k - 1, r))
            r = whole;
        if (whole > 0)
            FZ_CHECK(r == whole && s1.lead == s.lead,
                     "pc_h1_scan: block of %d bytes (from %u) in one read, %d (from %u) byte by "
                     "byte",
                     whole, s.lead, r, s1.lead);
        else if (whole == 0)
            FZ_CHECK(r == 0, "pc_h1_scan: more needed in one read, %d byte by byte", r);
        else
            FZ_CHECK(r < 0 || whole == -400, "pc_h1_scan: %d in one read, %d byte by byte", whole,
                     r);
    }
    /* At random. */
    n = 1 + fz_below(rng, 12);
    for (size_t i = 0; i < n; i++)
        cuts[i] = 1 + fz_below(rng, len);
    check_pieces(p, len, req, whole, *lead, cuts, n, "at random");
    /* Right before and right after CRs: where a CRLF is split between two reads. */
    n = 0;
    size_t ncr = 0;
    for (size_t i = 0; i < len; i++)
        ncr += p[i] == '\r';
    size_t every = ncr > MAXCUTS / 2 ? ncr / (MAXCUTS / 2) + 1 : 1, seen = 0;
    size_t phase = fz_below(rng, every);
    for (size_t i = 0; i < len && n + 2 <= MAXCUTS; i++) {
        if (p[i] != '\r')
            continue;
        if (seen++ % every != phase)
            continue;
        if (i > 0)
            cuts[n++] = i;
        cuts[n++] = i + 1;
    }
    if (n)
        check_pieces(p, len, req, whole, *lead, cuts, n, "split around CRs");
    return whole;
}

/* ---- parsing ------------------------------------------------------------------------------ */

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_vchar_or_ws(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

#define SPAN_IN(h, sp, what)                                                                       \
    FZ_CHECK((uint64_t)(sp).off + (sp).len <= (h)->len,                                            \
             "%s span [%u,+%u) outside the block of %u "                                           \
             "bytes",                                                                              \
             what, (sp).off, (sp).len, (h)->len)

static int count_named(const struct pc_head *h, const char *lit)
{
    int n = 0;
    for (unsigned i = 0; i < h->nfields; i++)
        n += fz_ieq(h->base + h->f[i].name.off, h->f[i].name.len, lit);
    return n;
}

static int find_named(const struct pc_head *h, const char *lit)
{
    for (unsigned i = 0; i < h->nfields; i++)
        if (fz_ieq(h->base + h->f[i].name.off, h->f[i].name.len, lit))
            return (int)i;
    return -1;
}

/* The host part of an authority (without ":port"), as the proxy compares them. */
static size_t host_part(const char *a, size_t n)
{
    if (n && a[0] == '[') {
        const char *c = memchr(a, ']', n);
        return c ? (size_t)(c - a) + 1 : n;
    }
    const char *c = memchr(a, ':', n);
    return c ? (size_t)(c - a) : n;
}

/* Invariants of a header block pc_h1_parse accepted. */
static void check_head(const struct pc_head *h, const char *p, size_t len, bool req)
{
    FZ_CHECK(h->base == p && h->len == len && h->request == req, "head: base/len/request");
    FZ_CHECK(h->version == 10 || h->version == 11, "head: version %u", h->version);
    FZ_CHECK(h->nfields <= PC_MAX_FIELDS, "head: %u fields", h->nfields);
    FZ_CHECK(len >= 4 && memcmp(p + len - 4, "\r\n\r\n", 4) == 0, "head: no CRLF CRLF at the end");
    const char *eol = memchr(p, '\r', len);
    size_t first = (size_t)(eol - p);
    if (req) {
        SPAN_IN(h, h->method, "method");
        SPAN_IN(h, h->target, "target");
        SPAN_IN(h, h->path, "path");
        FZ_CHECK(h->method.off == 0 && h->method.len > 0, "head: method span");
        for (uint32_t i = 0; i < h->method.len; i++)
            FZ_CHECK(is_tchar((unsigned char)p[i]), "head: method byte 0x%02x",
                     (unsigned char)p[i]);
        FZ_CHECK(h->target.len > 0 && h->target.off + h->target.len < first, "head: target span");
        for (uint32_t i = 0; i < h->target.len; i++) {
            unsigned char c = (unsigned char)p[h->target.off + i];
            FZ_CHECK(c > 0x20 && c < 0x7f, "head: target byte 0x%02x", c);
        }
        FZ_CHECK(first == (size_t)h->target.off + h->target.len + 9, "head: request line length");
        FZ_CHECK(!fz_ieq(p, h->method.len, "connect") && !fz_ieq(p, h->method.len, "trace"),
                 "head: CONNECT/TRACE accepted");
        FZ_CHECK(!(h->target.len == 1 && p[h->target.off] == '*'), "head: asterisk-form accepted");
        FZ_CHECK(h->path.off + h->path.len == h->target.off + h->target.len &&
                     h->path.off >= h->target.off,
                 "head: path is not the end of the target");
        if (h->authority.len) {
            SPAN_IN(h, h->authority, "authority");
            FZ_CHECK(h->authority.off > h->target.off &&
                         h->authority.off + h->authority.len <= h->path.off,
                     "head: authority outside the target");
            FZ_CHECK(!memchr(p + h->authority.off, '@', h->authority.len),
                     "head: userinfo accepted");
            const char *t = p + h->target.off;
            FZ_CHECK((h->target.len > 7 && fz_ieq(t, 7, "http://")) ||
                         (h->target.len > 8 && fz_ieq(t, 8, "https://")),
                     "head: authority without http(s)://");
        } else {
            FZ_CHECK(h->path.off == h->target.off && p[h->target.off] == '/',
                     "head: origin-form target not starting with '/'");
        }
    } else {
        FZ_CHECK(h->status >= 100 && h->status <= 999, "head: status %d", h->status);
        SPAN_IN(h, h->reason, "reason");
        FZ_CHECK(h->reason.off + h->reason.len == first || h->reason.len == 0, "head: reason span");
        for (uint32_t i = 0; i < h->reason.len; i++)
            FZ_CHECK(is_vchar_or_ws((unsigned char)p[h->reason.off + i]), "head: reason byte");
    }

    /* Fields: in order, each on a line of its own, inside the block. */
    size_t prev_end = first + 2;
    for (unsigned i = 0; i < h->nfields; i++) {
        const struct pc_field *f = &h->f[i];
        SPAN_IN(h, f->name, "field name");
        SPAN_IN(h, f->value, "field value");
        FZ_CHECK(f->name.off == prev_end, "field %u does not start its line", i);
        FZ_CHECK(f->name.len > 0, "field %u: empty name", i);
        for (uint32_t k = 0; k < f->name.len; k++)
            FZ_CHECK(is_tchar((unsigned char)p[f->name.off + k]), "field %u: name byte 0x%02x", i,
                     (unsigned char)p[f->name.off + k]);
        FZ_CHECK(p[f->name.off + f->name.len] == ':', "field %u: no ':' after the name", i);
        FZ_CHECK(f->value.off > f->name.off + f->name.len, "field %u: value before the colon", i);
        const char *v = p + f->value.off;
        for (uint32_t k = 0; k < f->value.len; k++) {
            unsigned char c = (unsigned char)v[k];
            FZ_CHECK(c != '\r' && c != '\n' && c != 0, "field %u: CR, LF or NUL in a value", i);
            FZ_CHECK(is_vchar_or_ws(c), "field %u: control byte 0x%02x in a value", i, c);
        }
        if (f->value.len) {
            FZ_CHECK(v[0] != ' ' && v[0] != '\t' && v[f->value.len - 1] != ' ' &&
                         v[f->value.len - 1] != '\t',
                     "field %u: value with surrounding whitespace", i);
        }
        /* Only whitespace between the colon and the value, and after the value. */
        for (size_t k = f->name.off + f->name.len + 1; k < f->value.off; k++)
            FZ_CHECK(p[k] == ' ' || p[k] == '\t', "field %u: junk before the value", i);
        const char *cr = memchr(v + f->value.len, '\r', len - (f->value.off + f->value.len));
        FZ_CHECK(cr && cr[1] == '\n', "field %u: line not ended by CRLF", i);
        for (const char *q = v + f->value.len; q < cr; q++)
            FZ_CHECK(*q == ' ' || *q == '\t', "field %u: junk after the value", i);
        prev_end = (size_t)(cr - p) + 2;
    }
    FZ_CHECK(prev_end + 2 == len, "head: bytes after the last field");

    int nhost = count_named(h, "host"), ncl = count_named(h, "content-length"),
        nte = count_named(h, "transfer-encoding");
    FZ_CHECK(nhost <= 1, "head: %d Host fields accepted", nhost);
    if (req && h->version == 11)
        FZ_CHECK(nhost == 1, "head: HTTP/1.1 request accepted with %d Host fields", nhost);
    FZ_CHECK(h->host == find_named(h, "host"), "head: host index");
    if (h->host >= 0) {
        const struct pc_field *f = &h->f[h->host];
        FZ_CHECK(f->kind == PC_HK_HOST && f->value.len > 0, "head: Host kind/value");
        for (uint32_t k = 0; k < f->value.len; k++) {
            unsigned char c = (unsigned char)p[f->value.off + k];
            FZ_CHECK(c > 0x20 && c < 0x7f && c != '@' && c != '/', "head: Host byte 0x%02x", c);
        }
    }
    FZ_CHECK(ncl <= 1 && nte <= 1, "head: %d Content-Length, %d Transfer-Encoding", ncl, nte);
    FZ_CHECK(!(h->has_cl && h->chunked), "head: both Content-Length and chunked");
    FZ_CHECK(h->has_cl == (ncl == 1), "head: has_cl");
    FZ_CHECK(h->chunked == (nte == 1), "head: chunked");
    if (h->has_cl) {
        const struct pc_field *f = &h->f[find_named(h, "content-length")];
        FZ_CHECK(f->value.len > 0 && f->value.len <= 19, "head: Content-Length length");
        uint64_t v = 0;
        for (uint32_t k = 0; k < f->value.len; k++) {
            char c = p[f->value.off + k];
            FZ_CHECK(c >= '0' && c <= '9', "head: Content-Length byte '%c'", c);
            v = v * 10 + (uint64_t)(c - '0');
        }
        FZ_CHECK(v == h->content_length, "head: content_length %llu, field says %llu",
                 (unsigned long long)h->content_length, (unsigned long long)v);
    } else {
        FZ_CHECK(h->content_length == 0, "head: content_length without the field");
    }
    if (h->chunked) {
        FZ_CHECK(h->version == 11, "head: chunked in HTTP/1.0");
        const struct pc_field *f = &h->f[find_named(h, "transfer-encoding")];
        /* One token, "chunked" (empty list elements aside). */
        const char *v = p + f->value.off;
        size_t n = f->value.len, a = 0;
        int tokens = 0;
        while (a < n) {
            while (a < n && (v[a] == ',' || v[a] == ' ' || v[a] == '\t'))
                a++;
            size_t b = a;
            while (b < n && v[b] != ',')
                b++;
            size_t e = b;
            while (e > a && (v[e - 1] == ' ' || v[e - 1] == '\t'))
                e--;
            if (e > a) {
                tokens++;
                FZ_CHECK(fz_ieq(v + a, e - a, "chunked"), "head: coding other than chunked");
            }
            a = b;
        }
        FZ_CHECK(tokens == 1, "head: %d transfer codings accepted", tokens);
    }
    int last_upgrade = -1;
    for (unsigned i = 0; i < h->nfields; i++)
        if (fz_ieq(p + h->f[i].name.off, h->f[i].name.len, "upgrade"))
            last_upgrade = (int)i;
    FZ_CHECK(h->upgrade == last_upgrade, "head: upgrade index %d, last Upgrade is %d", h->upgrade,
             last_upgrade);
    if (h->upgrade >= 0)
        FZ_CHECK(h->f[h->upgrade].kind == PC_HK_UPGRADE, "head: upgrade kind");
    uint32_t wsman;
    if (h->request && pc_cookie_wsman(h, &wsman)) {
        char hex[9];
        snprintf(hex, sizeof(hex), "%08x", (unsigned)wsman);
        bool found = false;
        for (unsigned i = 0; i < h->nfields && !found; i++)
            found = h->f[i].kind == PC_HK_COOKIE &&
                    fz_has_ci(p + h->f[i].value.off, h->f[i].value.len, hex);
        FZ_CHECK(found, "head: MS-WSMAN %s is in no Cookie field", hex);
    }
    for (unsigned i = 0; i < h->nfields; i++) {
        const struct pc_field *f = &h->f[i];
        if (f->kind == PC_HK_OTHER)
            continue;
        static const char *const names[] = {
            [PC_HK_HOST] = "host",
            [PC_HK_CONNECTION] = "connection",
            [PC_HK_CONTENT_LENGTH] = "content-length",
            [PC_HK_TRANSFER_ENCODING] = "transfer-encoding",
            [PC_HK_KEEP_ALIVE] = "keep-alive",
            [PC_HK_PROXY_CONNECTION] = "proxy-connection",
            [PC_HK_TE] = "te",
            [PC_HK_TRAILER] = "trailer",
            [PC_HK_UPGRADE] = "upgrade",
            [PC_HK_EXPECT] = "expect",
            [PC_HK_XFF] = "x-forwarded-for",
            [PC_HK_XFP] = "x-forwarded-proto",
            [PC_HK_COOKIE] = "cookie",
            [PC_HK_AUTHORIZATION] = "authorization",
            [PC_HK_WWW_AUTHENTICATE] = "www-authenticate",
            [PC_HK_REFERER] = "referer",
            [PC_HK_USER_AGENT] = "user-agent",
        };
        FZ_CHECK(f->kind < sizeof names / sizeof names[0] &&
                     fz_ieq(p + f->name.off, f->name.len, names[f->kind]),
                 "field %u: kind %u does not match its name", i, f->kind);
    }
    if (req && h->authority.len && h->host >= 0) {
        const char *a = p + h->authority.off, *hv = p + h->f[h->host].value.off;
        size_t al = host_part(a, h->authority.len), hl = host_part(hv, h->f[h->host].value.len);
        FZ_CHECK(fz_ieq2(a, al, hv, hl), "head: absolute-form authority disagrees with Host");
    }
}

/* ---- llhttp's view of the same block ------------------------------------------------------ */

struct ll_view {
    bool headers_done;
    uint16_t flags;
    uint64_t content_length;
    uint8_t major, minor, method;
    uint16_t status;
};

static int ll_on_headers(llhttp_t *p)
{
    struct ll_view *v = p->data;
    v->headers_done = true;
    v->flags = p->flags;
    v->content_length = p->content_length;
    v->major = p->http_major;
    v->minor = p->http_minor;
    v->method = p->method;
    v->status = p->status_code;
    return 0;
}

static int ll_on_complete(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED; /* as session.c and upstream.c do */
}

/* llhttp's view of P[0, LEN); false if it refuses the block. */
static bool ll_parse(const char *p, size_t len, bool req, struct ll_view *v)
{
    llhttp_settings_t st;
    llhttp_settings_init(&st);
    st.on_headers_complete = ll_on_headers;
    st.on_message_complete = ll_on_complete;
    llhttp_t ll;
    memset(v, 0, sizeof *v);
    llhttp_init(&ll, req ? HTTP_REQUEST : HTTP_RESPONSE, &st);
    ll.data = v;
    enum llhttp_errno e = llhttp_execute(&ll, p, len);
    return v->headers_done && (e == HPE_OK || e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE);
}

/* Known llhttp 8.1 differences, tolerated without a switch (not portico's): llhttp 8.1 (strict
 * and loose mode alike) reads a Transfer-Encoding list more narrowly than RFC 9110 does, and
 * then frames the body as a coding other than chunked (chunked=0):
 *  - after the token "chunked" it takes only SP as whitespace, so "chunked\t" (an HTAB in the
 *    trailing whitespace, reproducer llhttp-te-trailing-htab) or "chunked\t," is not chunked
 *    to it. RFC 9110 §5.5: a field value does not include leading or trailing whitespace, SP
 *    or HTAB alike, and OWS (§5.6.3) around a list's commas is SP or HTAB too;
 *  - an empty list element after the token ("chunked,", "chunked, ", reproducer
 *    llhttp-te-empty-element) is another coding to it. RFC 9110 §5.6.1: a recipient ignores
 *    empty list elements.
 * So the value is "chunked" and pc_h1_parse's chunked=1 is right (check_head has already
 * checked the value against its own reading of the list: one element, "chunked"). The data
 * path never asks llhttp: up_head() (proxy/upstream.c) and sess_begin() (proxy/request.c) frame
 * by pc_h1_parse, and llhttp only decodes the chunks behind a header block of its own
 * (pc_chunked_begin). Returns a copy of the block in which exactly those bytes of the
 * Transfer-Encoding line, between its colon and its CR, are SP: each HTAB (whitespace) and each
 * ',' (the list has one non-empty element, so every comma delimits an empty one); the token
 * itself is left as it is. NULL if there is none of them. llhttp must then frame the copy as
 * pc_h1_parse framed the block, so that any other disagreement still fails. */
static char *te_list_as_sp(const struct pc_head *h, const char *p, size_t len)
{
    int i = find_named(h, "transfer-encoding");
    if (i < 0)
        return NULL;
    size_t a = (size_t)h->f[i].name.off + h->f[i].name.len + 1;
    const char *cr = memchr(p + a, '\r', len - a);
    size_t e = cr ? (size_t)(cr - p) : a;
    if (!memchr(p + a, '\t', e - a) && !memchr(p + a, ',', e - a))
        return NULL;
    char *q = fz_dup(p, len);
    for (size_t k = a; k < e; k++)
        if (q[k] == '\t' || q[k] == ',')
            q[k] = ' ';
    return q;
}

/* If llhttp takes the block, it must see the framing pc_h1_parse saw: the proxy writes the
 * header from one and forwards the body as the other frames it. */
static void check_llhttp(const struct pc_head *h, const char *p, size_t len, bool req)
{
    struct ll_view v;
    bool taken = ll_parse(p, len, req, &v);
    bool ll_chunked = taken && (v.flags & F_CHUNKED);
    if (h->chunked && !ll_chunked) {
        /* A response llhttp frames as another coding; a request it refuses outright
         * (HPE_INVALID_TRANSFER_ENCODING: a request's last coding must be chunked). */
        char *q = te_list_as_sp(h, p, len);
        if (q) {
            bool ok = ll_parse(q, len, req, &v);
            free(q);
            FZ_CHECK(ok || !taken, "llhttp takes the block, but refuses it with the HTABs and "
                                   "commas of Transfer-Encoding as SP");
            taken = ok;
        }
    }
    if (!taken)
        return; /* llhttp refuses it: nothing to compare (check_head holds portico's reading) */
    ll_chunked = v.flags & F_CHUNKED;
    bool ll_cl = v.flags & F_CONTENT_LENGTH;
    FZ_CHECK(ll_chunked == h->chunked,
             "framing disagreement: pc_h1_parse chunked=%d, llhttp chunked=%d", h->chunked,
             ll_chunked);
    FZ_CHECK(ll_cl == h->has_cl, "framing disagreement: pc_h1_parse has_cl=%d, llhttp %d",
             h->has_cl, ll_cl);
    if (h->has_cl)
        FZ_CHECK(v.content_length == h->content_length,
                 "framing disagreement: Content-Length %llu vs llhttp %llu",
                 (unsigned long long)h->content_length, (unsigned long long)v.content_length);
    FZ_CHECK(v.major == 1 && v.minor == h->version - 10, "version disagreement");
    if (req) {
        const char *m = llhttp_method_name((llhttp_method_t)v.method);
        FZ_CHECK(strlen(m) == h->method.len && memcmp(m, p, h->method.len) == 0,
                 "method disagreement: llhttp %s", m);
    } else {
        FZ_CHECK(v.status == h->status, "status disagreement: %d vs llhttp %u", h->status,
                 v.status);
    }
}

/* ---- the rewritten block ------------------------------------------------------------------ */

/* Hop-by-hop for docs/architecture.md and RFC 9110 §7.6.1, plus X-Forwarded-*, which the proxy
 * writes itself: never passed through. */
static bool hop_name(const char *n, size_t l)
{
    static const char *const hop[] = {"connection", "keep-alive",      "proxy-connection",
                                      "te",         "trailer",         "transfer-encoding",
                                      "upgrade",    "x-forwarded-for", "x-forwarded-proto"};
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (fz_ieq(n, l, hop[i]))
            return true;
    return false;
}

/* Whether a field of H with name N is named by one of H's Connection fields. */
static bool named_in_connection(const struct pc_head *h, const char *n, size_t l)
{
    for (unsigned i = 0; i < h->nfields; i++) {
        const struct pc_field *f = &h->f[i];
        if (!fz_ieq(h->base + f->name.off, f->name.len, "connection"))
            continue;
        const char *v = h->base + f->value.off;
        size_t vl = f->value.len, a = 0;
        while (a < vl) {
            while (a < vl && (v[a] == ',' || v[a] == ' ' || v[a] == '\t'))
                a++;
            size_t b = a;
            while (b < vl && v[b] != ',')
                b++;
            size_t e = b;
            while (e > a && (v[e - 1] == ' ' || v[e - 1] == '\t'))
                e--;
            if (e > a && fz_ieq2(v + a, e - a, n, l))
                return true;
            a = b;
        }
    }
    return false;
}

/* The proxy's own fields in a rewritten block: the first HEAD_ADDED and the last TAIL_ADDED
 * (pc_rw_* write them before and after the fields they pass through). */
struct added {
    unsigned head_added, tail_added;
};

static bool is_added(const struct pc_head *out, unsigned j, const struct added *a)
{
    return j < a->head_added || j + a->tail_added >= out->nfields;
}

/* Checks that OUT's fields, the proxy's additions aside, are exactly IN's end-to-end fields,
 * in order, byte for byte. */
static void check_passthrough(const struct pc_head *in, const struct pc_head *out,
                              const struct added *added)
{
    unsigned j = 0;
    for (unsigned i = 0; i < in->nfields; i++) {
        const struct pc_field *f = &in->f[i];
        const char *n = in->base + f->name.off;
        /* Fields named in Connection go, but never Host or Content-Length: a Connection
         * option must not unframe a body the proxy forwards or unroute a request (RFC 9110
         * §7.6.1 has senders never list them). */
        if (hop_name(n, f->name.len) ||
            (named_in_connection(in, n, f->name.len) && !fz_ieq(n, f->name.len, "host") &&
             !fz_ieq(n, f->name.len, "content-length")))
            continue;
        while (j < out->nfields && is_added(out, j, added))
            j++;
        FZ_CHECK(j < out->nfields, "rewrite lost end-to-end field '%.*s'", (int)f->name.len, n);
        const struct pc_field *g = &out->f[j++];
        FZ_CHECK(g->name.len == f->name.len && memcmp(out->base + g->name.off, n, f->name.len) == 0,
                 "rewrite changed or reordered field '%.*s'", (int)f->name.len, n);
        FZ_CHECK(g->value.len == f->value.len &&
                     memcmp(out->base + g->value.off, in->base + f->value.off, f->value.len) == 0,
                 "rewrite changed the value of '%.*s'", (int)f->name.len, n);
    }
    for (; j < out->nfields; j++) {
        const struct pc_field *g = &out->f[j];
        FZ_CHECK(is_added(out, j, added),
                 "rewrite passed a hop-by-hop or Connection-named field "
                 "'%.*s'",
                 (int)g->name.len, out->base + g->name.off);
    }
}

static int count_value(const struct pc_head *h, const char *name, const char *value)
{
    int n = 0;
    for (unsigned i = 0; i < h->nfields; i++)
        n += fz_ieq(h->base + h->f[i].name.off, h->f[i].name.len, name) &&
             (!value || fz_ieq(h->base + h->f[i].value.off, h->f[i].value.len, value));
    return n;
}

/* Lines of P[0, LEN) whose name is NAME (case-insensitive), counted on the raw bytes. */
static inline int count_raw(const char *p, size_t len, const char *name)
{
    size_t l = strlen(name);
    int n = 0;
    for (size_t i = 0; i + 2 + l < len; i++)
        if ((i >= 2 && p[i - 1] == '\n') && fz_ieq(p + i, l, name) && p[i + l] == ':')
            n++;
    return n;
}

/* CRLF-only lines, one empty line at the very end; returns the number of lines. */
static size_t check_crlf_block(const char *p, size_t len, const char *what)
{
    FZ_CHECK(len >= 4 && memcmp(p + len - 4, "\r\n\r\n", 4) == 0, "%s: no CRLF CRLF at the end",
             what);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\r') {
            FZ_CHECK(i + 1 < len && p[i + 1] == '\n', "%s: bare CR at %zu", what, i);
        } else if (p[i] == '\n') {
            FZ_CHECK(i > 0 && p[i - 1] == '\r', "%s: bare LF at %zu", what, i);
            lines++;
            FZ_CHECK(!(i >= 3 && p[i - 2] == '\n') || i == len - 1, "%s: empty line inside", what);
        }
    }
    return lines;
}

/* The rewritten block in O as a heap copy of its exact size. */
static char *out_block(struct pc_out *o, size_t *len)
{
    FZ_CHECK(o->ob && o->rawlen == 0, "rewrite: nothing queued");
    *len = o->ob->end - o->ob->start;
    return fz_dup(o->ob->data + o->ob->start, *len);
}

#endif
