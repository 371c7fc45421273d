/* fuzz_h2.c — libFuzzer harness: HTTP/2 frames from a client, through an nghttp2 server session
 * configured as src/proxy/h2.c configures it, to the HTTP/1.1 request head that
 * src/proxy/h2-head.c rebuilds (RFC 9113 §8.3.1) and src/proxy/rewrite.c forwards.
 *
 * Input: the client's bytes after the connection preface, which the harness sends first (FE FE
 * HI LO C expands to a run of C, see common.h, so that a small input carries a 60 KiB token).
 * They go to nghttp2_session_mem_recv in reads cut at random; after each read the session sends
 * (into nothing, now and then "would block") and the window is given back, at once or a few reads
 * later, as h2-stream.c gives it back once a member took the body. The stream callbacks are
 * h2-stream.c's for the request head (cb_begin_headers, cb_header, cb_frame_recv: the same
 * pc_h2_head_* calls); each complete request head is answered (HEADERS and a little DATA), or
 * reset with HTTP_1_1_REQUIRED when its credentials bind the connection, as request.c decides.
 * Checks, for every head:
 *   - what nghttp2 hands over is what portico relies on: pseudo-header fields first, once each,
 *     :method and :path present (CONNECT aside), names lower-case tokens, values without CR, LF
 *     or NUL, no connection-specific field (§8.2.2), te only as "trailers";
 *   - the rebuilt head is, byte for byte, the one a reference written from docs/http2.md and
 *     RFC 9113 builds: request line from :method and :path, Host from a non-empty :authority
 *     (which then replaces a host field), the fields in order without te, cookie crumbs joined
 *     with "; " (§8.2.3) after them, `Transfer-Encoding: chunked` when the request has a body but
 *     no content-length; refused (431) only when larger than an HTTP/1.1 head may be;
 *   - it is one CRLF block that pc_h1_scan ends exactly at its end, within the HTTP/1.1 limits
 *     (request line 8 KiB, field line 64 KiB: the same requests reach the pools both ways);
 *   - pc_h1_parse takes it whenever HTTP/1.1 would take such a request (then check_head and
 *     llhttp agree, h1check.h), with the method, target, exactly one Host equal to :authority,
 *     the framing nghttp2 enforces on the DATA (content-length, or chunked), and no
 *     connection-specific field; else it answers 400, 405 or 431;
 *   - pc_rw_request (as request.c calls it for the HTTPS listener) re-parses, keeps that Host,
 *     the framing and every end-to-end field, adds X-Forwarded-For/-Proto once;
 *   - DATA: a stream never holds more than the 65,535-byte window portico's one bulk buffer is
 *     sized for, and a stream that ends has received exactly its content-length. */
#include <nghttp2/nghttp2.h>

#include "h1check.h"
#include "proxy/auth.h"
#include "proxy/h2-head.h"

/* As src/proxy/h2.c (pc_h2_start, h2_init): keep in step. */
#define H2_MAX_STREAMS 100
#define H2_WINDOW      65535
#define REC_MAX        (2 * PC_MAX_HEAD) /* a header block recorded beyond this is refused */

struct rec_field {
    uint32_t no, nl, vo, vl; /* offsets into the stream's record */
};

struct fz_stream {
    struct fz_stream *prev, *next; /* the connection's open streams */
    struct pc_h2_head head;        /* portico's */
    int32_t id;
    bool started, end_stream, rec_over, answered;
    bool auth; /* a non-empty :authority was recorded: host fields are dropped */
    /* The header block as nghttp2 handed it over (the reference's input). */
    char *rec;
    size_t rec_len, rec_cap;
    struct rec_field *f;
    unsigned nf, fcap;
    bool has_cl;
    uint64_t cl, data, unacked, body_left;
};

struct fz_conn {
    nghttp2_session *ng;
    struct fz_rng rng;
    struct fz_stream *streams;
    bool dying;
};

static nghttp2_session_callbacks *callbacks;
static nghttp2_option *options;
static struct pc_head head, head2;
static const uint8_t body[4096];

/* ---- the reference (docs/http2.md, RFC 9113 §8.3.1, §8.2.3) ------------------------------ */

static bool lit(const char *p, size_t n, const char *l)
{
    return n == strlen(l) && memcmp(p, l, n) == 0;
}

static const struct rec_field *pseudo(const struct fz_stream *st, const char *name)
{
    for (unsigned i = 0; i < st->nf; i++)
        if (lit(st->rec + st->f[i].no, st->f[i].nl, name))
            return &st->f[i];
    return NULL;
}

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_put(struct sbuf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* The HTTP/1.1 head RFC 9113 §8.3.1 and docs/http2.md make of ST's header block. */
static struct sbuf ref_head(const struct fz_stream *st, bool chunked)
{
    struct sbuf b = {0}, ck = {0};
    const struct rec_field *m = pseudo(st, ":method"), *p = pseudo(st, ":path");
    const struct rec_field *a = pseudo(st, ":authority");
    bool auth = a && a->vl; /* an empty :authority is none: a host field stays */
    if (m)
        sb_put(&b, st->rec + m->vo, m->vl);
    sb_str(&b, " ");
    if (p)
        sb_put(&b, st->rec + p->vo, p->vl);
    sb_str(&b, " HTTP/1.1\r\n");
    if (auth) {
        sb_str(&b, "Host: ");
        sb_put(&b, st->rec + a->vo, a->vl);
        sb_str(&b, "\r\n");
    }
    bool crumbs = false;
    for (unsigned i = 0; i < st->nf; i++) {
        const char *n = st->rec + st->f[i].no, *v = st->rec + st->f[i].vo;
        size_t nl = st->f[i].nl, vl = st->f[i].vl;
        if ((nl && n[0] == ':') || lit(n, nl, "te") || (auth && lit(n, nl, "host")))
            continue;
        if (lit(n, nl, "cookie")) {
            if (crumbs)
                sb_str(&ck, "; ");
            sb_put(&ck, v, vl);
            crumbs = true;
            continue;
        }
        sb_put(&b, n, nl);
        sb_str(&b, ": ");
        sb_put(&b, v, vl);
        sb_str(&b, "\r\n");
    }
    if (ck.len) {
        sb_str(&b, "Cookie: ");
        sb_put(&b, ck.p, ck.len);
        sb_str(&b, "\r\n");
    }
    if (chunked)
        sb_str(&b, "Transfer-Encoding: chunked\r\n");
    sb_str(&b, "\r\n");
    free(ck.p);
    return b;
}

/* What nghttp2 guarantees and h2-head.c relies on (RFC 9113 §8.2, §8.3). */
static void check_block(const struct fz_stream *st)
{
    bool regular = false, connect = false;
    for (unsigned i = 0; i < st->nf; i++) {
        const char *n = st->rec + st->f[i].no, *v = st->rec + st->f[i].vo;
        size_t nl = st->f[i].nl, vl = st->f[i].vl;
        FZ_CHECK(nl > 0, "nghttp2 passed an empty field name");
        for (size_t k = n[0] == ':'; k < nl; k++)
            FZ_CHECK(is_tchar((unsigned char)n[k]) && !(n[k] >= 'A' && n[k] <= 'Z'),
                     "nghttp2 passed a field name byte 0x%02x", (unsigned char)n[k]);
        for (size_t k = 0; k < vl; k++)
            FZ_CHECK(v[k] != '\r' && v[k] != '\n' && v[k] != 0,
                     "nghttp2 passed CR, LF or NUL in the value of '%.*s'", (int)nl, n);
        if (n[0] == ':') {
            FZ_CHECK(!regular, "pseudo-header field '%.*s' after a regular field", (int)nl, n);
            connect |= lit(n, nl, ":method") && lit(v, vl, "CONNECT");
        } else {
            regular = true;
            static const char *const conn[] = {"connection", "keep-alive", "proxy-connection",
                                               "transfer-encoding", "upgrade"};
            for (size_t k = 0; k < sizeof conn / sizeof conn[0]; k++)
                FZ_CHECK(!lit(n, nl, conn[k]), "nghttp2 passed '%s' (RFC 9113 §8.2.2)", conn[k]);
        }
    }
    for (unsigned i = 0; i < st->nf; i++)
        for (unsigned j = i + 1; j < st->nf && st->rec[st->f[i].no] == ':'; j++)
            FZ_CHECK(!(st->f[i].nl == st->f[j].nl &&
                       memcmp(st->rec + st->f[i].no, st->rec + st->f[j].no, st->f[i].nl) == 0),
                     "pseudo-header field '%.*s' twice", (int)st->f[i].nl, st->rec + st->f[i].no);
    FZ_CHECK(pseudo(st, ":method") && (connect || pseudo(st, ":path")),
             "nghttp2 passed a request without :method or :path");
}

/* Whether HTTP/1.1 takes the request the reference head R describes: as HTTP/1.1 would be
 * given it (pc_h1_scan's limits, then what pc_h1_parse accepts of such a head). */
static bool plain_request(const struct fz_stream *st, const struct sbuf *r)
{
    const struct rec_field *m = pseudo(st, ":method"), *p = pseudo(st, ":path");
    const struct rec_field *a = pseudo(st, ":authority");
    const char *mv = st->rec + m->vo;
    if (fz_ieq(mv, m->vl, "connect") || fz_ieq(mv, m->vl, "trace") || !p || !p->vl ||
        st->rec[p->vo] != '/')
        return false;
    for (uint32_t k = 0; k < p->vl; k++)
        if ((unsigned char)st->rec[p->vo + k] <= 0x20 || (unsigned char)st->rec[p->vo + k] >= 0x7f)
            return false;
    if (a && a->vl && !pc_h1_valid_authority(st->rec + a->vo, a->vl))
        return false;
    unsigned hosts = 0, lines = 0;
    for (unsigned i = 0; i < st->nf; i++) {
        const char *n = st->rec + st->f[i].no, *v = st->rec + st->f[i].vo;
        size_t nl = st->f[i].nl, vl = st->f[i].vl;
        if (n[0] == ':' || lit(n, nl, "te") || (a && a->vl && lit(n, nl, "host")))
            continue;
        for (size_t k = 0; k < vl; k++)
            if (!pc_h1_vchar((unsigned char)v[k]))
                return false;
        if (lit(n, nl, "host") && (hosts++ || !pc_h1_valid_authority(v, vl)))
            return false;
        if (lit(n, nl, "content-length") && vl > 19)
            return false; /* leading zeros: nghttp2 reads them, HTTP/1.1 refuses the value */
    }
    for (size_t k = 0; k < r->len; k++)
        lines += r->p[k] == '\n';
    size_t lead;
    return (hosts == 1 || (a && a->vl)) && lines - 2 <= PC_MAX_FIELDS &&
           ref_scan(r->p, r->len, true, &lead) == (int)r->len;
}

/* ---- the rebuilt head --------------------------------------------------------------------- */

/* The HTTPS listener's session, as session.c and h2-stream.c (stream_new) set it up. */
static void check_rewrite(const struct fz_stream *st, const char *p, const char *host,
                          size_t hostlen)
{
    struct pc_session s;
    memset(&s, 0, sizeof s);
    s.kind = PC_LISTEN_HTTPS;
    snprintf(s.peer_ip, sizeof s.peer_ip, "%s", st->id & 2 ? "2001:db8::7" : "192.0.2.10");
    s.t.member_idx = -1;
    s.t.h2 = true;
    s.t.body = head.chunked                             ? PC_BODY_CHUNK
               : head.has_cl && head.content_length > 0 ? PC_BODY_RAW
                                                        : PC_BODY_NONE;
    size_t ml = head.method.len < 24 ? head.method.len : 24;
    memcpy(s.t.lg, p, ml);
    memcpy(s.t.lg + ml, host, hostlen < 255 ? hostlen : 255);
    s.t.lg_method = (uint16_t)ml;
    s.t.lg_host = (uint16_t)(hostlen < 255 ? hostlen : 255);
    struct pc_out o = {0};
    FZ_CHECK(pc_rw_request(&o, &head, &s), "pc_rw_request failed");
    size_t olen;
    char *q = out_block(&o, &olen);
    pc_out_reset(&o);
    check_crlf_block(q, olen, "forwarded request");
    int rc = pc_h1_parse(q, olen, true, &head2);
    FZ_CHECK(rc == 0 || (rc == -431 && head.nfields + 2 > PC_MAX_FIELDS),
             "forwarded request does not re-parse: %d", rc);
    if (rc == 0) {
        check_head(&head2, q, olen, true);
        const struct pc_field *hf = &head2.f[head2.host < 0 ? 0 : head2.host];
        FZ_CHECK(count_named(&head2, "host") == 1 && hf->value.len == hostlen &&
                     memcmp(q + hf->value.off, host, hostlen) == 0,
                 "forwarded Host is not :authority");
        FZ_CHECK(head2.chunked == head.chunked && head2.has_cl == head.has_cl &&
                     head2.content_length == head.content_length,
                 "forwarded request frames its body differently");
        FZ_CHECK(count_value(&head2, "x-forwarded-proto", "https") == 1 &&
                     count_value(&head2, "x-forwarded-for", NULL) == 1,
                 "X-Forwarded-For / X-Forwarded-Proto");
        struct added ad = {0, 2u + head.chunked};
        check_passthrough(&head, &head2, &ad);
    }
    free(q);
}

/* The parsed head against the HTTP/2 request it came from. */
static void check_parsed(const struct fz_stream *st, const char *p, size_t len, bool chunked)
{
    check_head(&head, p, len, true);
    check_llhttp(&head, p, len, true);
    const struct rec_field *m = pseudo(st, ":method"), *pa = pseudo(st, ":path");
    const struct rec_field *a = pseudo(st, ":authority");
    FZ_CHECK(head.version == 11 && head.method.len == m->vl &&
                 memcmp(p, st->rec + m->vo, m->vl) == 0,
             "request line: method");
    FZ_CHECK(pa && head.target.len == pa->vl &&
                 memcmp(p + head.target.off, st->rec + pa->vo, pa->vl) == 0,
             "request line: target is not :path");
    FZ_CHECK(head.host >= 0 && count_named(&head, "host") == 1, "not exactly one Host");
    const struct pc_field *hf = &head.f[head.host];
    if (a && a->vl)
        FZ_CHECK(hf->value.len == a->vl && memcmp(p + hf->value.off, st->rec + a->vo, a->vl) == 0,
                 "Host is not :authority");
    static const char *const conn[] = {"connection", "keep-alive", "proxy-connection", "upgrade",
                                       "te"};
    for (size_t k = 0; k < sizeof conn / sizeof conn[0]; k++)
        FZ_CHECK(count_named(&head, conn[k]) == 0, "connection-specific field '%s'", conn[k]);
    FZ_CHECK(count_named(&head, "transfer-encoding") == chunked && head.chunked == chunked,
             "chunked=%d for a request that %s", head.chunked,
             chunked ? "has a body and no content-length" : "is not chunked");
    FZ_CHECK(head.has_cl == st->has_cl && (!st->has_cl || head.content_length == st->cl),
             "Content-Length differs from the content-length nghttp2 enforces");
    check_rewrite(st, p, p + hf->value.off, hf->value.len);
}

/* END_HEADERS of the request: portico's head against the reference, then HTTP/1.1 on it. */
static void check_begin(struct fz_stream *st, bool end_stream, struct fz_rng *rng)
{
    check_block(st);
    bool chunked = !end_stream && !st->has_cl;
    FZ_CHECK(st->head.has_cl == st->has_cl, "has_cl differs from the fields");
    struct pc_buf *b = pc_h2_head_compose(&st->head, chunked);
    struct sbuf r = ref_head(st, chunked);
    size_t lead;
    int verdict = ref_scan(r.p, r.len, true, &lead); /* what HTTP/1.1 says of this head */
    bool fits = verdict == (int)r.len;
    if (!b) {
        FZ_CHECK(st->rec_over || !fits, "a %zu-byte head HTTP/1.1 takes was refused (%u)", r.len,
                 st->head.status);
        FZ_CHECK(st->rec_over ? st->head.status == 414 || st->head.status == 431
                              : st->head.status == -verdict,
                 "a head HTTP/1.1 refuses with %d was refused with %u", -verdict, st->head.status);
        free(r.p);
        return;
    }
    FZ_CHECK(!st->rec_over, "a header block over %d bytes was accepted", REC_MAX);
    const char *p = b->data + b->start;
    size_t len = pc_buf_len(b);
    FZ_CHECK(len == r.len && memcmp(p, r.p, len) == 0,
             "rebuilt head differs from RFC 9113 §8.3.1:\n--- portico (%zu)\n%.*s--- reference "
             "(%zu)\n%.*s",
             len, (int)(len < 2000 ? len : 2000), p, r.len, (int)(r.len < 2000 ? r.len : 2000),
             r.p);
    check_crlf_block(p, len, "rebuilt head");
    int n = check_scan(p, len, true, rng, &lead); /* one read, and in pieces (h1check.h) */
    FZ_CHECK(n == (int)len && lead == 0,
             "pc_h1_scan on the rebuilt head of %zu bytes: %d (the HTTP/1.1 limits)", len, n);
    char *c = fz_dup(p, len); /* exactly its size: ASan sees a read past it */
    int rc = pc_h1_parse(c, len, true, &head);
    FZ_CHECK(rc == 0 || rc == -400 || rc == -405 || rc == -431, "pc_h1_parse: %d", rc);
    FZ_CHECK(rc == 0 || !plain_request(st, &r),
             "pc_h1_parse refuses (%d) a rebuilt head HTTP/1.1 takes:\n%.*s", rc,
             (int)(len < 2000 ? len : 2000), p);
    if (rc == 0) {
        check_parsed(st, c, len, chunked);
        if (pc_auth_binds(&head)) /* request.c: PC_ANSWER_HTTP11 */
            st->answered = true;
    }
    free(c);
    free(r.p);
    pc_buf_put(b);
}

/* ---- the session, as h2.c and h2-stream.c drive it ----------------------------------------- */

static void stream_free(struct fz_conn *c, nghttp2_session *ng, struct fz_stream *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    pc_h2_head_free(&st->head);
    free(st->rec);
    free(st->f);
    nghttp2_session_set_stream_user_data(ng, st->id, NULL);
    free(st);
}

static ssize_t cb_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)ng, (void)data, (void)flags;
    struct fz_conn *c = ud;
    if (fz_below(&c->rng, 8) == 0)
        return NGHTTP2_ERR_WOULDBLOCK; /* h2.c's output buffer is full */
    return (ssize_t)len;
}

static int cb_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct fz_conn *c = ud;
    if (c->dying || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct fz_stream *st = calloc(1, sizeof(*st));
    pc_h2_head_init(&st->head);
    st->id = frame->hd.stream_id;
    st->next = c->streams;
    if (st->next)
        st->next->prev = st;
    c->streams = st;
    nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
    return 0;
}

static void record(struct fz_stream *st, const uint8_t *n, size_t nl, const uint8_t *v, size_t vl)
{
    const char *name = (const char *)n;
    /* Fields the head never carries are not kept: their number is unbounded (each costs
     * portico nothing), and they do not count towards the size. */
    if (lit(name, nl, "te")) {
        /* RFC 9113 §8.2.2 (a token: any case; reproducer te-trailers-case) */
        FZ_CHECK(fz_ieq((const char *)v, vl, "trailers"), "nghttp2 passed te: %.*s", (int)vl, v);
        return;
    }
    if (st->auth && lit(name, nl, "host"))
        return;
    st->auth |= lit(name, nl, ":authority") && vl > 0;
    if (st->rec_over || st->rec_len + nl + vl + 4 > REC_MAX) {
        st->rec_over = true;
        return;
    }
    if (st->rec_len + nl + vl > st->rec_cap) {
        st->rec_cap = (st->rec_len + nl + vl) * 2 + 256;
        st->rec = realloc(st->rec, st->rec_cap);
    }
    if (st->nf == st->fcap) {
        st->fcap = st->fcap ? st->fcap * 2 : 16;
        st->f = realloc(st->f, st->fcap * sizeof(*st->f));
    }
    struct rec_field *f = &st->f[st->nf++];
    f->no = (uint32_t)st->rec_len, f->nl = (uint32_t)nl;
    memcpy(st->rec + st->rec_len, n, nl), st->rec_len += nl;
    f->vo = (uint32_t)st->rec_len, f->vl = (uint32_t)vl;
    memcpy(st->rec + st->rec_len, v, vl), st->rec_len += vl;
    st->rec_len += 4; /* as if ": " and CRLF: the cap follows the head's size */
    if (lit(name, nl, "content-length")) {
        st->has_cl = true;
        st->cl = 0;
        for (size_t k = 0; k < vl; k++)
            st->cl = st->cl * 10 + (uint64_t)(v[k] - '0');
    }
}

static int cb_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)flags;
    struct fz_conn *c = ud;
    struct fz_stream *st =
        c->dying ? NULL : nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (st && !st->started && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        record(st, name, namelen, value, valuelen);
        pc_h2_head_field(&st->head, name, namelen, value, valuelen);
    }
    return 0;
}

static ssize_t resp_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)ng, (void)id, (void)ud;
    struct fz_stream *st = src->ptr;
    size_t n = st->body_left < len ? (size_t)st->body_left : len;
    n = n < sizeof body ? n : sizeof body;
    memcpy(buf, body, n);
    st->body_left -= n;
    if (!st->body_left)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* As h2-stream.c: a 200 with a body, or HTTP_1_1_REQUIRED for bound credentials. */
static void respond(struct fz_conn *c, struct fz_stream *st)
{
    if (st->answered) {
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_HTTP_1_1_REQUIRED);
        return;
    }
    st->body_left = fz_below(&c->rng, 3) ? fz_below(&c->rng, 100000) : 0;
    nghttp2_nv nv[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"text/plain", 12, 10, NGHTTP2_NV_FLAG_NONE}};
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = resp_read};
    nghttp2_submit_response(c->ng, st->id, nv, 2, st->body_left ? &dp : NULL);
    st->answered = true;
}

static int cb_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct fz_conn *c = ud;
    struct fz_stream *st =
        c->dying ? NULL : nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (!st)
        return 0;
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && !st->started) {
        st->started = true;
        st->end_stream = end;
        check_begin(st, end, &c->rng);
        respond(c, st);
    } else if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && end) {
        /* RFC 9113 §8.1.1: nghttp2 resets a stream whose DATA differ from content-length. */
        FZ_CHECK(!st->has_cl || st->data == st->cl,
                 "stream ended after %llu bytes of DATA, content-length %llu",
                 (unsigned long long)st->data, (unsigned long long)st->cl);
        st->end_stream = true;
    }
    return 0;
}

static int cb_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud)
{
    (void)flags, (void)data;
    struct fz_conn *c = ud;
    struct fz_stream *st = c->dying ? NULL : nghttp2_session_get_stream_user_data(ng, id);
    if (!st) {
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    st->data += len;
    st->unacked += len;
    /* h2-stream.c keeps a stream's body in one 64 KiB buffer until the member took it. */
    FZ_CHECK(st->unacked <= H2_WINDOW, "stream %d holds %llu bytes, past its window", id,
             (unsigned long long)st->unacked);
    FZ_CHECK(!st->has_cl || st->data <= st->cl, "DATA past content-length");
    if (fz_below(&c->rng, 2)) { /* the member took it at once */
        nghttp2_session_consume(ng, id, st->unacked);
        st->unacked = 0;
    }
    return 0;
}

static int cb_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    (void)code;
    struct fz_conn *c = ud;
    struct fz_stream *st = c->dying ? NULL : nghttp2_session_get_stream_user_data(ng, id);
    if (!st)
        return 0;
    if (st->unacked)
        nghttp2_session_consume_connection(ng, st->unacked); /* as cb_stream_close */
    stream_free(c, ng, st);
    return 0;
}

static void init(void)
{
    if (callbacks)
        return;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_send_callback(callbacks, cb_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, cb_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, cb_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, cb_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, cb_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, cb_stream_close);
    nghttp2_option_new(&options);
    nghttp2_option_set_no_auto_window_update(options, 1);
}

/* Gives back what the streams hold (now and then: a member took it later), then sends.
 * false: the connection is over (as h2_settle: nothing to read or write, or a send error). */
static bool settle(struct fz_conn *c)
{
    if (fz_below(&c->rng, 3) == 0)
        for (struct fz_stream *st = c->streams; st; st = st->next)
            if (st->unacked) {
                nghttp2_session_consume(c->ng, st->id, st->unacked);
                st->unacked = 0;
            }
    for (int i = 0; i < 4; i++)
        if (nghttp2_session_send(c->ng) != 0)
            return false;
    return nghttp2_session_want_read(c->ng) || nghttp2_session_want_write(c->ng);
}

static void run(const char *in, size_t len, struct fz_rng *rng)
{
    struct fz_conn c = {.rng = {fz_next(rng)}};
    FZ_CHECK(nghttp2_session_server_new2(&c.ng, callbacks, &c, options) == 0, "session_new");
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, PC_MAX_HEAD},
    };
    FZ_CHECK(nghttp2_submit_settings(c.ng, NGHTTP2_FLAG_NONE, iv, 3) == 0, "submit_settings");
    size_t goaway_at = fz_below(rng, 4) == 0 ? fz_below(rng, len + 1) : SIZE_MAX;
    bool open = settle(&c);
    for (size_t at = 0; open && at < len;) {
        size_t n = 1 + fz_below(rng, fz_below(rng, 4) ? 64 : len - at);
        n = n < len - at ? n : len - at;
        char *piece = fz_dup(in + at, n); /* a read of exactly n bytes */
        ssize_t r = nghttp2_session_mem_recv(c.ng, (const uint8_t *)piece, n);
        free(piece);
        if (r < 0)
            break; /* h2_read: the connection closes */
        FZ_CHECK((size_t)r == n, "mem_recv took %zd of %zu bytes", r, n);
        at += n;
        if (at >= goaway_at) { /* pc_h2_drain */
            nghttp2_submit_goaway(c.ng, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(c.ng), NGHTTP2_NO_ERROR,
                                  NULL, 0);
            goaway_at = SIZE_MAX;
        }
        open = settle(&c);
    }
    /* pc_h2_release: the streams still open go, then the session (no callbacks). */
    while (c.streams)
        stream_free(&c, c.ng, c.streams);
    c.dying = true;
    nghttp2_session_del(c.ng);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    init();
    size_t len;
    char *p = fz_expand(data, size, &len);
    char *all = malloc(24 + len);
    memcpy(all, preface, 24);
    if (p)
        memcpy(all + 24, p, len);
    struct fz_rng rng = {fz_hash(data, size)};
    run(all, 24 + len, &rng);
    free(all);
    free(p);
    return 0;
}
