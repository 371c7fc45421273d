/* fuzz_chunked.c — libFuzzer harness: chunked bodies, decoded by llhttp and re-encoded by
 * portico (pc_body_put / pc_body_end in src/http/body.c), as session.c does for an upload and
 * upstream.c for a response.
 *
 * Input: a chunked body as it follows a fixed header block (FE FE HI LO C expands to a run of
 * C, see common.h); the input's hash picks a request or a response header and where the body
 * is split into reads. Checks:
 *   - llhttp with portico's own end check (parser A, fed the body in pieces) against a reference
 * decoder written from RFC 9112 §7.1: a body the reference completes, llhttp completes with the
 * same payload at the same length; a body that llhttp completes, the reference completes; llhttp
 * does not fail on a prefix the reference still finds valid;
 *   - the re-encoding (PC_BODY_CHUNK) of what A delivered, decoded again by a second llhttp
 *     parser (B, in other pieces), yields the same payload bytes; complete when A completed,
 *     incomplete (never complete, never an error) when A failed or ran out of input;
 *   - PC_BODY_DECHUNK (HTTP/1.0 clients) yields the payload bytes themselves;
 *   - with c->keep (half the inputs: an HTTP/2 stream's decoders), the trailer section kept by
 *     the time on_message_complete runs is the reference's byte for byte (none when it has no
 *     field). */
#include <llhttp.h>

#include "common.h"
#include "core/io.h"
#include "http/body.h"
#include "http/chunked.h"
#include "http/http1-t.h"

static const char req_head[] = "POST /meet/upload HTTP/1.1\r\nHost: meet.contoso.com\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n";
static const char resp_head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n";

struct bytes {
    char *p;
    size_t n, cap;
};

static void bytes_add(struct bytes *b, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* ---- reference decoder (RFC 9112 §7.1) ----------------------------------------------------- */

/* R_OUTSIDE: valid RFC 9112 syntax that llhttp 8.1.0 refuses, so the strict reference makes
 * no claim about it (see ref_chunked). */
enum { R_INCOMPLETE, R_COMPLETE, R_ERROR, R_OUTSIDE };

static bool tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes P[0, N) as a chunked body: R_COMPLETE (*CONSUMED = its length), R_ERROR, or
 * R_INCOMPLETE (every byte so far could start a valid body). The payload goes to OUT.
 *
 * RFC (rfc = true) is RFC 9112 §7.1 as written. Strict (rfc = false) is the part of it that
 * llhttp 8.1.0 (Debian's node-llhttp, which portico uses) accepts, and is R_OUTSIDE beyond:
 *   - no whitespace (BWS) around ';' and '=' in chunk extensions (llhttp refuses it, as many
 *     servers do: it has served request smuggling);
 *   - no quoted-pair ("\x") in a quoted extension value (llhttp: HPE_STRICT);
 *   - no ';' right after an unquoted extension value: llhttp 8.1.0 consumes the ';' and then
 *     fails on the next extension's name with "Invalid character in chunk size", so that
 *     "a;x=1;y\r\n", valid, is refused (a bug of llhttp 8.1.0; a quoted value or a value-less
 *     extension before the ';' is fine);
 *   - no Transfer-Encoding or Content-Length trailer field (llhttp frames the message by them;
 *     RFC 9110 §6.5.1 forbids framing fields in trailers anyway). */
/* An error inside a chunk extension: *TRAILERS = SIZE_MAX - 1 tells it (see the caller). */
static int ext_error(size_t *trailers)
{
    *trailers = SIZE_MAX - 1;
    return R_ERROR;
}

static int ref_chunked(const char *p, size_t n, bool rfc, struct bytes *out, size_t *consumed,
                       size_t *trailers)
{
    bool bws = rfc;
    *trailers = SIZE_MAX;
    size_t i = 0;
#define MORE()                                                                                     \
    do {                                                                                           \
        if (i >= n)                                                                                \
            return R_INCOMPLETE;                                                                   \
    } while (0)
#define BWS()                                                                                      \
    while (bws && i < n && (p[i] == ' ' || p[i] == '\t'))                                          \
    i++
    for (;;) {
        /* chunk-size */
        size_t s0 = i;
        uint64_t size = 0;
        while (i < n && hexval((unsigned char)p[i]) >= 0) {
            if (size >> 60)
                return R_ERROR; /* over 2^64 - 1 */
            size = size * 16 + (uint64_t)hexval((unsigned char)p[i]);
            i++;
        }
        MORE();
        if (i == s0)
            return R_ERROR;
        /* chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) */
        bool had_ext = false;
        for (;;) {
            size_t j = i;
            while (bws && j < n && (p[j] == ' ' || p[j] == '\t'))
                j++;
            if (j >= n)
                return R_INCOMPLETE;
            if (p[j] != ';')
                break;
            had_ext = true;
            i = j + 1;
            BWS();
            MORE();
            if (!tchar((unsigned char)p[i]))
                return ext_error(trailers);
            while (i < n && tchar((unsigned char)p[i]))
                i++;
            MORE();
            j = i;
            while (bws && j < n && (p[j] == ' ' || p[j] == '\t'))
                j++;
            if (j >= n)
                return R_INCOMPLETE;
            if (p[j] != '=')
                continue;
            i = j + 1;
            BWS();
            MORE();
            if (p[i] == '"') {
                i++;
                for (;;) {
                    MORE();
                    unsigned char c = (unsigned char)p[i];
                    if (c == '"') {
                        i++;
                        break;
                    }
                    if (c == '\\') {
                        if (!rfc)
                            return R_OUTSIDE;
                        i++;
                        MORE();
                        c = (unsigned char)p[i];
                        if (!(c == '\t' || (c >= 0x20 && c != 0x7f)))
                            return ext_error(trailers);
                        i++;
                        continue;
                    }
                    if (!(c == '\t' || c == ' ' || c == 0x21 ||
                          (c >= 0x23 && c != 0x5c && c != 0x7f)))
                        return ext_error(trailers);
                    i++;
                }
            } else {
                if (!tchar((unsigned char)p[i]))
                    return ext_error(trailers);
                while (i < n && tchar((unsigned char)p[i]))
                    i++;
                if (!rfc && i < n && p[i] == ';')
                    return R_OUTSIDE;
            }
            MORE();
        }
        if (p[i] != '\r')
            return had_ext ? ext_error(trailers) : R_ERROR;
        i++;
        MORE();
        if (p[i] != '\n')
            return R_ERROR;
        i++;
        if (size == 0)
            break;
        /* chunk-data CRLF */
        if (n - i < size) {
            bytes_add(out, p + i, n - i);
            return R_INCOMPLETE;
        }
        bytes_add(out, p + i, (size_t)size);
        i += (size_t)size;
        MORE();
        if (p[i] != '\r')
            return R_ERROR;
        i++;
        MORE();
        if (p[i] != '\n')
            return R_ERROR;
        i++;
    }
    /* trailer-section CRLF */
    *trailers = i;
    for (;;) {
        MORE();
        if (p[i] == '\r') {
            i++;
            MORE();
            if (p[i] != '\n')
                return R_ERROR;
            *consumed = i + 1;
            return R_COMPLETE;
        }
        if (!tchar((unsigned char)p[i]))
            return R_ERROR;
        size_t name = i;
        while (i < n && tchar((unsigned char)p[i]))
            i++;
        MORE();
        if (p[i] != ':')
            return R_ERROR;
        if (!rfc && (fz_ieq(p + name, i - name, "transfer-encoding") ||
                     fz_ieq(p + name, i - name, "content-length")))
            return R_OUTSIDE;
        i++;
        while (i < n && (p[i] == '\t' || ((unsigned char)p[i] >= 0x20 && p[i] != 0x7f)))
            i++;
        MORE();
        if (p[i] != '\r')
            return R_ERROR;
        i++;
        MORE();
        if (p[i] != '\n')
            return R_ERROR;
        i++;
    }
#undef MORE
#undef BWS
}

/* ---- llhttp + portico's re-encoding ------------------------------------------------------- */

struct side {
    bool reencode;
    struct pc_out chunk, dechunk;
    struct bytes payload;
    struct bytes kept; /* parser A's kept trailer section when on_message_complete ran */
    bool complete;
    bool end_refused; /* llhttp completed, portico's end check refused the message */
};

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct side *s = p->data;
    bytes_add(&s->payload, at, len);
    if (s->reencode) {
        FZ_CHECK(pc_body_put(&s->chunk, PC_BODY_CHUNK, at, len) == 0, "pc_body_put(CHUNK) failed");
        FZ_CHECK(pc_body_put(&s->dechunk, PC_BODY_DECHUNK, at, len) == 0,
                 "pc_body_put(DECHUNK) failed");
    }
    return 0;
}

static int on_complete(llhttp_t *p)
{
    struct side *s = p->data;
    FZ_CHECK(!s->complete, "two messages");
    s->complete = true;
    if (s->reencode) {
        /* Parser A is a struct pc_chunked (the others are plain llhttp). */
        const struct pc_buf *tr = ((struct pc_chunked *)p)->tr;
        if (tr)
            bytes_add(&s->kept, tr->data + tr->start, tr->end - tr->start);
        FZ_CHECK(pc_body_end(&s->chunk, PC_BODY_CHUNK) == 0, "pc_body_end failed");
        FZ_CHECK(pc_body_end(&s->dechunk, PC_BODY_DECHUNK) == 0, "pc_body_end failed");
    }
    return HPE_PAUSED; /* as session.c / upstream.c: the message is done */
}

enum { L_INCOMPLETE, L_COMPLETE, L_ERROR };

/* Feeds P[0, N) in pieces (each a heap block of its exact size). Returns L_COMPLETE with
 * *CONSUMED (bytes of P up to the end of the message), L_ERROR or L_INCOMPLETE. */
static int feed(struct pc_chunked *c, const char *p, size_t n, struct fz_rng *rng, size_t *consumed,
                enum llhttp_errno *err, bool as_portico)
{
    size_t cuts[34], nc = 0;
    /* 0: one read; 1: byte by byte (short inputs); otherwise up to 32 random cuts. */
    int how = (int)fz_below(rng, 4);
    bool bytewise = how == 1 && n <= 600;
    if (how >= 1 && !bytewise) {
        nc = 1 + fz_below(rng, 32);
        for (size_t k = 0; k < nc; k++)
            cuts[k] = fz_below(rng, n + 1);
        for (size_t a = 1; a < nc; a++) /* insertion sort */
            for (size_t b = a; b > 0 && cuts[b - 1] > cuts[b]; b--) {
                size_t t = cuts[b];
                cuts[b] = cuts[b - 1];
                cuts[b - 1] = t;
            }
    }
    size_t off = 0, ci = 0;
    while (off < n) {
        size_t end;
        if (bytewise)
            end = off + 1;
        else {
            while (ci < nc && cuts[ci] <= off)
                ci++;
            end = ci < nc ? cuts[ci++] : n;
        }
        char *piece = fz_dup(p + off, end - off);
        /* As session.c and upstream.c do: pc_chunked_feed adds portico's checks to llhttp
         * (the message ends in CRLF however the reads were cut; no '"' in an unquoted
         * chunk-extension value). Parser B (as_portico false) is plain llhttp. */
        size_t stop = 0;
        enum llhttp_errno e;
        if (as_portico) {
            e = pc_chunked_feed(c, piece, end - off, &stop);
            if (e == HPE_INVALID_CHUNK_SIZE && ((struct side *)c->ll.data)->complete)
                ((struct side *)c->ll.data)->end_refused = true;
            if (e == HPE_OK)
                stop = 0;
        } else {
            e = llhttp_execute(&c->ll, piece, end - off);
            stop = e == HPE_OK ? 0 : (size_t)(llhttp_get_error_pos(&c->ll) - piece);
        }
        free(piece);
        if (e == HPE_PAUSED) {
            *consumed = off + stop;
            return L_COMPLETE;
        }
        if (e != HPE_OK) {
            *err = e;
            *consumed = off + stop;
            return L_ERROR;
        }
        off = end;
    }
    return L_INCOMPLETE;
}

static llhttp_settings_t settings, plain_settings;

/* llhttp.c compiled in strict mode (LLHTTP_STRICT_MODE=1), its symbols renamed (fuzz.mk). */
int strict_llhttp__internal_init(llhttp_t *s);
int strict_llhttp__internal_execute(llhttp_t *s, const char *p, const char *endp);

/* Whether the strict llhttp completes the body P[0, N) (after the same header). */
static bool strict_completes(bool req, const char *p, size_t n)
{
    struct side s = {.reencode = false};
    llhttp_t ll;
    strict_llhttp__internal_init(&ll);
    ll.type = req ? HTTP_REQUEST : HTTP_RESPONSE;
    ll.settings = &plain_settings;
    ll.data = &s;
    const char *h = req ? req_head : resp_head;
    size_t hl = req ? sizeof req_head - 1 : sizeof resp_head - 1;
    FZ_CHECK(strict_llhttp__internal_execute(&ll, h, h + hl) == HPE_OK, "strict llhttp: header");
    char *c = fz_dup(p, n);
    strict_llhttp__internal_execute(&ll, c, c + n);
    free(c);
    free(s.payload.p);
    return s.complete;
}

/* Parser A as portico starts one (pc_chunked_begin); parser B after a real header block. */
static void start(struct pc_chunked *c, struct side *s, bool req, bool as_portico)
{
    llhttp_init(&c->ll, req ? HTTP_REQUEST : HTTP_RESPONSE,
                as_portico ? &settings : &plain_settings);
    c->ll.data = s;
    if (as_portico) {
        FZ_CHECK(pc_chunked_begin(c, req) == 0, "pc_chunked_begin failed");
        return;
    }
    const char *h = req ? req_head : resp_head;
    size_t hl = req ? sizeof req_head - 1 : sizeof resp_head - 1;
    enum llhttp_errno e = llhttp_execute(&c->ll, h, hl);
    FZ_CHECK(e == HPE_OK, "llhttp refused the fixed header: %s", llhttp_errno_name(e));
}

static const char *lname(int r)
{
    return r == L_COMPLETE ? "complete" : r == L_ERROR ? "error" : "incomplete";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llhttp_settings_init(&settings);
    settings.on_body = on_body;
    settings.on_message_complete = on_complete;
    plain_settings = settings;
    pc_chunked_settings(&settings);

    size_t n;
    char *body = fz_expand(data, size, &n);
    if (!body)
        return 0;
    struct fz_rng rng = {fz_hash(data, size)};
    bool req = fz_next(&rng) & 1;

    /* A: decode the client's (or pool's) body, re-encoding what it delivers. */
    struct side a = {.reencode = true};
    struct pc_chunked la;
    start(&la, &a, req, true);
    la.keep = fz_next(&rng) & 1; /* an HTTP/2 stream's decoders keep the trailer section */
    size_t a_used = 0;
    enum llhttp_errno a_err = HPE_OK;
    int ra = feed(&la, body, n, &rng, &a_used, &a_err, true);
    FZ_CHECK((ra == L_COMPLETE) == (a.complete && !a.end_refused),
             "llhttp paused without completing");

    /* The references: strict (what llhttp must take) and RFC 9112 (what it may take). */
    struct bytes sp = {0}, rp = {0};
    size_t s_used = 0, r_used = 0, s_trailers, r_trailers;
    int rs = ref_chunked(body, n, false, &sp, &s_used, &s_trailers);
    int rr = ref_chunked(body, n, true, &rp, &r_used, &r_trailers);
    FZ_CHECK(rr != R_OUTSIDE, "reference");
    /* portico bounds the trailer section it drops like a field (PC_MAX_FIELD, io.c): a
     * longer one is refused, not a leniency of either side. */
    bool long_trailers =
        s_trailers < SIZE_MAX - 1 && (rs == R_COMPLETE ? s_used : n) - s_trailers > PC_MAX_FIELD;
    if (long_trailers && ra == L_ERROR) {
        /* refused as too long: fine */
    } else if (rs == R_COMPLETE) {
        FZ_CHECK(ra == L_COMPLETE,
                 "valid chunked body (%zu bytes) not accepted by llhttp: %s (%s at %zu)", s_used,
                 lname(ra), llhttp_errno_name(a_err), a_used);
    } else if (rs == R_INCOMPLETE) {
        FZ_CHECK(ra != L_ERROR, "llhttp refused a valid but unfinished chunked body: %s at %zu",
                 llhttp_errno_name(a_err), a_used);
        FZ_CHECK(ra != L_COMPLETE, "llhttp completed a body the reference finds unfinished");
        FZ_CHECK(a.payload.n == sp.n && (sp.n == 0 || memcmp(a.payload.p, sp.p, sp.n) == 0),
                 "llhttp's partial payload differs from the reference's");
    }
    /* Known findings, tolerated if listed (such bodies are then only checked for the
     * re-encoding below):
     * llhttp-loose: portico builds llhttp without LLHTTP_STRICT_MODE, and the loose parser
     *   takes any byte after the CR of a chunk-size line and any two bytes after chunk data as
     *   the CRLF; matched when the strict parser refuses the body.
     * llhttp-trailers: llhttp 8.1.0, even strict, is lenient in the trailer section (which
     *   portico drops): it ends it at a bare LF ("0\r\n\n"), takes a field with an empty name
     *   (": x") and obs-fold; matched when the reference finds the error among the trailers.
     * llhttp-chunk-ext: llhttp 8.1.0, even strict, takes a '"' inside an unquoted chunk-extension
     *   value as the start of a quoted part ("a;n=x\"y\"\r\n"); matched when the reference finds
     *   the error inside a chunk extension. portico drops extensions. */
    bool tolerated = false;
    if (ra == L_COMPLETE && rr != R_COMPLETE) {
        if (!strict_completes(req, body, n))
            tolerated = fz_known("llhttp-loose");
        else if (r_trailers == SIZE_MAX - 1)
            tolerated = fz_known("llhttp-chunk-ext");
        else if (r_trailers != SIZE_MAX)
            tolerated = fz_known("llhttp-trailers");
    }
    if (ra == L_COMPLETE && !tolerated) {
        FZ_CHECK(rr == R_COMPLETE, "malformed chunked body accepted by llhttp as %zu bytes",
                 a_used);
        FZ_CHECK(a_used == r_used, "llhttp ended the body at %zu, RFC 9112 at %zu", a_used, r_used);
        FZ_CHECK(a.payload.n == rp.n && (rp.n == 0 || memcmp(a.payload.p, rp.p, rp.n) == 0),
                 "llhttp's payload differs from the reference's");
        /* Kept: the section byte for byte, final CRLF included, and nothing when it has no
         * field; else nothing. */
        size_t tn = la.keep && a_used - r_trailers > 2 ? a_used - r_trailers : 0;
        FZ_CHECK(a.kept.n == tn && (tn == 0 || memcmp(a.kept.p, body + r_trailers, tn) == 0),
                 "kept trailer section: %zu bytes, the reference's %zu", a.kept.n, tn);
    }
    pc_chunked_release(&la);

    /* DECHUNK: the payload itself. */
    size_t dn = a.dechunk.ob ? a.dechunk.ob->end - a.dechunk.ob->start : 0;
    FZ_CHECK(dn == a.payload.n && (dn == 0 || memcmp(a.dechunk.ob->data + a.dechunk.ob->start,
                                                     a.payload.p, dn) == 0),
             "PC_BODY_DECHUNK output differs from the payload");

    /* B: decode the re-encoded body. */
    size_t cn = a.chunk.ob ? a.chunk.ob->end - a.chunk.ob->start : 0;
    if (a.end_refused) {
        /* The last chunk was queued by on_message_complete; refusing the message closes the
         * connection with the queue unsent (session.c, upstream.c): leave it out. */
        FZ_CHECK(cn >= 5 && memcmp(a.chunk.ob->data + a.chunk.ob->end - 5, "0\r\n\r\n", 5) == 0,
                 "no last chunk queued");
        cn -= 5;
    }
    char *enc = fz_dup(a.chunk.ob ? a.chunk.ob->data + a.chunk.ob->start : "", cn);
    struct side b = {.reencode = false};
    struct pc_chunked lb;
    start(&lb, &b, req, false);
    size_t b_used = 0;
    enum llhttp_errno b_err = HPE_OK;
    int rb = cn ? feed(&lb, enc, cn, &rng, &b_used, &b_err, false) : L_INCOMPLETE;
    if (ra == L_COMPLETE) {
        FZ_CHECK(rb == L_COMPLETE && b_used == cn,
                 "re-encoded body: %s at %zu of %zu (%s), the original was complete", lname(rb),
                 b_used, cn, llhttp_errno_name(b_err));
    } else {
        FZ_CHECK(rb == L_INCOMPLETE,
                 "re-encoded body of an unfinished or bad one: %s (%s at %zu), expected unfinished",
                 lname(rb), llhttp_errno_name(b_err), b_used);
    }
    FZ_CHECK(b.payload.n == a.payload.n &&
                 (a.payload.n == 0 || memcmp(b.payload.p, a.payload.p, a.payload.n) == 0),
             "re-encoded body decodes to other bytes (%zu vs %zu)", b.payload.n, a.payload.n);
    /* Every chunk portico writes is canonical: "HEX\r\n" DATA "\r\n", never empty. */
    {
        size_t i = 0;
        while (i < cn) {
            size_t s = 0, d = 0;
            while (i + d < cn && hexval((unsigned char)enc[i + d]) >= 0 &&
                   !(enc[i + d] >= 'A' && enc[i + d] <= 'F'))
                s = s * 16 + (size_t)hexval((unsigned char)enc[i + d]), d++;
            FZ_CHECK(d > 0 && i + d + 2 <= cn && enc[i + d] == '\r' && enc[i + d + 1] == '\n',
                     "re-encoded chunk header at %zu", i);
            FZ_CHECK(enc[i] != '0' || (s == 0 && d == 1), "chunk size with a leading zero");
            i += d + 2;
            if (s == 0) {
                FZ_CHECK(i + 2 == cn && enc[i] == '\r' && enc[i + 1] == '\n',
                         "bytes after the last chunk");
                break;
            }
            FZ_CHECK(i + s + 2 <= cn && enc[i + s] == '\r' && enc[i + s + 1] == '\n',
                     "re-encoded chunk data at %zu", i);
            i += s + 2;
        }
    }

    free(enc);
    free(a.payload.p);
    free(a.kept.p);
    free(b.payload.p);
    free(rp.p);
    free(sp.p);
    pc_out_reset(&a.chunk);
    pc_out_reset(&a.dechunk);
    free(body);
    return 0;
}
