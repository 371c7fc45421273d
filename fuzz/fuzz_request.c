/* fuzz_request.c — libFuzzer harness: request header blocks, from the first byte read to the
 * block the pool receives.
 *
 * Input: the bytes a client sends (FE FE HI LO C expands to a run of C, see common.h). Steps:
 *   1. pc_h1_scan, one shot and in pieces, against the reference of docs/architecture.md and
 *      RFC 9112 §2.2 (empty lines before the request line, h1check.h);
 *   2. pc_h1_parse on the block it found (after those empty lines), with the invariants of
 *      check_head();
 *   3. llhttp on the same block must frame it the same way;
 *   4. pc_rw_request with a session like session.c makes (HTTP or HTTPS listener, an IPv4 or
 *      IPv6 peer), then the output must re-parse, keep the end-to-end fields, drop the
 *      hop-by-hop ones, carry exactly one Host and frame the body exactly as the input did. */
#include "h1check.h"

static struct pc_head head, head2;

#define SNI_NAME "dialin.contoso.com" /* the TLS name of an HTTP/1.0 request without Host */

static void check_rewrite(const char *p, uint64_t r)
{
    static const char *const peers[] = {"192.0.2.10", "2001:db8::7", "203.0.113.255",
                                        "2001:db8:ffff:ffff:ffff:ffff:255.255.255.255"};
    struct pc_session s;
    memset(&s, 0, sizeof s);
    s.kind = r & 1 ? PC_LISTEN_HTTPS : PC_LISTEN_HTTP;
    snprintf(s.peer_ip, sizeof s.peer_ip, "%s", peers[(r >> 1) & 3]);
    s.t.member_idx = -1;
    /* As sess_begin() decides them. */
    s.t.body = head.chunked                             ? PC_BODY_CHUNK
               : head.has_cl && head.content_length > 0 ? PC_BODY_RAW
                                                        : PC_BODY_NONE;
    s.t.upgrade_req = head.upgrade >= 0 && head.conn_upgrade && s.t.body == PC_BODY_NONE &&
                      head.f[head.upgrade].value.len >= 9 &&
                      fz_ieq(p + head.f[head.upgrade].value.off, 9, "websocket");
    /* The name the request is routed by, as lg_copy() keeps it: the absolute-form authority,
     * else Host, else (HTTP/1.0) the TLS SNI; plain HTTP without one is a 404, not forwarded. */
    size_t rlen;
    const char *route = pc_h1_request_authority(&head, &rlen);
    if (!route && s.kind != PC_LISTEN_HTTPS)
        return;
    if (!route) {
        route = SNI_NAME;
        rlen = strlen(SNI_NAME);
    }
    size_t ml = head.method.len < 24 ? head.method.len : 24;
    rlen = rlen < 255 ? rlen : 255;
    memcpy(s.t.lg, p, ml);
    memcpy(s.t.lg + ml, route, rlen);
    s.t.lg_method = (uint16_t)ml;
    s.t.lg_host = (uint16_t)rlen;

    struct pc_out o = {0};
    FZ_CHECK(pc_rw_request(&o, &head, &s), "pc_rw_request failed");
    size_t olen;
    char *q = out_block(&o, &olen);
    pc_out_reset(&o);

    size_t xff = 0;
    for (unsigned i = 0; i < head.nfields; i++)
        if (head.f[i].kind == PC_HK_XFF)
            xff += head.f[i].value.len + 2;
    FZ_CHECK(olen <= head.len + xff + head.authority.len + s.t.lg_host + 192 + 4 * head.nfields,
             "pc_rw_request wrote more than it reserved");

    size_t lines = check_crlf_block(q, olen, "rewritten request");
    /* Known finding connection-names-cl-host: a Connection field naming Content-Length or
     * Host removes that field from the forwarded request (the body still follows: request
     * smuggling). Tolerated if listed: such requests are not checked further. */
    if (((head.has_cl && named_in_connection(&head, "content-length", 14)) ||
         (head.host >= 0 && named_in_connection(&head, "host", 4))) &&
        fz_known("connection-names-cl-host")) {
        free(q);
        return;
    }
    int nhost = count_raw(q, olen, "host");
    /* Known finding h10-no-host: an HTTP/1.0 request without Host (routed by SNI) goes out
     * as HTTP/1.1 without Host. Tolerated, the rest is checked as HTTP/1.0. */
    bool h10_no_host = nhost == 0 && head.version == 10 && head.host < 0 &&
                       head.authority.len == 0 && fz_known("h10-no-host");
    if (h10_no_host) {
        char *v = q + head.method.len + 1 + head.path.len +
                  (head.path.len == 0 || p[head.path.off] != '/');
        FZ_CHECK(memcmp(v, " HTTP/1.1\r\n", 11) == 0, "request line of the rewrite");
        v[8] = '0';
    }
    FZ_CHECK(nhost == 1 || h10_no_host,
             "rewritten request carries %d Host fields (input: HTTP/1.%d, %d Host field(s), "
             "%s-form target)",
             nhost, head.version - 10, count_named(&head, "host"),
             head.authority.len ? "absolute" : "origin");
    int rc = pc_h1_parse(q, olen, true, &head2);
    if (rc == -431 && lines - 2 > PC_MAX_FIELDS) {
        free(q); /* more fields than we take: the proxy's additions on top of 256 */
        return;
    }
    FZ_CHECK(rc == 0, "rewritten request does not re-parse: pc_h1_parse = %d", rc);
    check_head(&head2, q, olen, true);

    /* Framing: the pool must delimit the body exactly as the proxy does (docs/architecture.md). */
    uint64_t in_len = head.has_cl ? head.content_length : 0;
    uint64_t out_len = head2.has_cl ? head2.content_length : 0;
    FZ_CHECK(head2.chunked == head.chunked && (head.chunked || out_len == in_len),
             "rewritten request frames its body differently: input chunked=%d length=%llu, "
             "output chunked=%d length=%llu (the body would be read as further requests)",
             head.chunked, (unsigned long long)in_len, head2.chunked, (unsigned long long)out_len);
    FZ_CHECK(head2.version == 11 || h10_no_host, "rewritten request is not HTTP/1.1");
    FZ_CHECK(head2.method.len == head.method.len && memcmp(q, p, head.method.len) == 0,
             "rewrite changed the method");
    FZ_CHECK(head2.authority.len == 0, "rewritten request is not in origin-form");
    const char *path = p + head.path.off;
    size_t plen = head.path.len;
    bool slash = plen == 0 || path[0] != '/';
    FZ_CHECK(head2.target.len == plen + slash &&
                 memcmp(q + head2.target.off + slash, path, plen) == 0,
             "rewrite changed the path");

    /* Host: the client's, or the absolute-form authority. */
    const struct pc_field *hf = &head2.f[head2.host < 0 ? 0 : head2.host];
    if (h10_no_host) {
        /* (see above) */
    } else if (head.host < 0 && !head.authority.len) {
        FZ_CHECK(hf->value.len == strlen(SNI_NAME) &&
                     memcmp(q + hf->value.off, SNI_NAME, hf->value.len) == 0,
                 "Host of an HTTP/1.0 request is not the name it was routed by");
    } else if (head.host >= 0) {
        const struct pc_field *ih = &head.f[head.host];
        FZ_CHECK(hf->value.len == ih->value.len &&
                     memcmp(q + hf->value.off, p + ih->value.off, ih->value.len) == 0,
                 "rewrite changed Host");
    } else {
        FZ_CHECK(hf->value.len == head.authority.len &&
                     memcmp(q + hf->value.off, p + head.authority.off, head.authority.len) == 0,
                 "Host written from the authority differs from it");
    }

    /* What the proxy adds, exactly once each. */
    FZ_CHECK(count_value(&head2, "x-forwarded-for", NULL) == 1, "X-Forwarded-For count");
    FZ_CHECK(count_value(&head2, "x-forwarded-proto",
                         s.kind == PC_LISTEN_HTTPS ? "https" : "http") == 1 &&
                 count_value(&head2, "x-forwarded-proto", NULL) == 1,
             "X-Forwarded-Proto");
    static char want[FZ_MAX_BLOCK + 64];
    size_t wl = 0;
    for (unsigned i = 0; i < head.nfields; i++) {
        const struct pc_field *f = &head.f[i];
        if (f->kind != PC_HK_XFF || f->value.len == 0)
            continue;
        memcpy(want + wl, p + f->value.off, f->value.len);
        wl += f->value.len;
        memcpy(want + wl, ", ", 2);
        wl += 2;
    }
    wl += (size_t)sprintf(want + wl, "%s", s.peer_ip);
    const struct pc_field *xf = &head2.f[find_named(&head2, "x-forwarded-for")];
    FZ_CHECK(xf->value.len == wl && memcmp(q + xf->value.off, want, wl) == 0,
             "X-Forwarded-For is not the client's list followed by the peer");
    FZ_CHECK(count_value(&head2, "transfer-encoding", NULL) == head.chunked,
             "Transfer-Encoding count");
    FZ_CHECK(count_value(&head2, "upgrade", NULL) == s.t.upgrade_req, "Upgrade count");
    FZ_CHECK(count_value(&head2, "connection", NULL) == s.t.upgrade_req &&
                 count_value(&head2, "connection", "upgrade") == s.t.upgrade_req,
             "Connection in the rewritten request");
    FZ_CHECK(count_value(&head2, "keep-alive", NULL) == 0 && count_value(&head2, "te", NULL) == 0 &&
                 count_value(&head2, "trailer", NULL) == 0 &&
                 count_value(&head2, "proxy-connection", NULL) == 0,
             "hop-by-hop field in the rewritten request");
    struct added ad = {head.host < 0, 2u + head.chunked + 2u * s.t.upgrade_req};
    check_passthrough(&head, &head2, &ad);
    free(q);
}

static void check_request(const char *all, size_t n, struct fz_rng *rng)
{
    char *p = fz_dup(all, n);
    int rc = pc_h1_parse(p, n, true, &head);
    FZ_CHECK(rc == 0 || rc == -400 || rc == -405 || rc == -431, "pc_h1_parse(request) returned %d",
             rc);
    if (rc == -431) {
        size_t lines = 0;
        for (size_t i = 0; i < n; i++)
            lines += p[i] == '\n';
        FZ_CHECK(lines - 2 > PC_MAX_FIELDS, "431 for %zu fields", lines - 2);
    }
    if (rc == 0) {
        check_head(&head, p, n, true);
        check_llhttp(&head, p, n, true);
        /* From the HTTP and the HTTPS listener. */
        uint64_t r = fz_next(rng) & ~1ull;
        check_rewrite(p, r);
        check_rewrite(p, r | 1);
    }
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    char *p = fz_expand(data, size, &len);
    if (!p)
        return 0;
    struct fz_rng rng = {fz_hash(data, size)};
    size_t lead;
    int n = check_scan(p, len, true, &rng, &lead);
    if (n > 0)
        check_request(p + lead, (size_t)n - lead, &rng); /* as session.c skips the empty lines */
    free(p);
    return 0;
}
