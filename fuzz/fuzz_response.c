/* fuzz_response.c — libFuzzer harness: response header blocks from a pool member, from the
 * first byte read to the block the client receives.
 *
 * Input: the bytes the pool sends (FE FE HI LO C expands to a run of C, see common.h). Steps:
 *   1. pc_h1_scan (response mode), one shot and in pieces, against the reference of
 *      docs/architecture.md;
 *   2. pc_h1_parse on the block it found (a malformed one is -502, never relayed);
 *   3. llhttp on the same block must frame it the same way;
 *   4. pc_rw_response with session flags drawn from the input's hash (HTTP/1.0 client, HEAD,
 *      client's Connection: close, WebSocket upgrade requested, cookie affinity), the body
 *      mode chosen as up_head() in upstream.c chooses it; the output must re-parse, keep the
 *      end-to-end fields (WWW-Authenticate, Set-Cookie...), drop the hop-by-hop ones, and give
 *      the client a body framing that matches how the proxy will send the body. */
#include "h1check.h"

static struct pc_head head, head2;

/* pc_w.cfg->pools[0].members[0]: the member whose MS-WSMAN cookie pc_rw_response writes. */
static struct pc_member member = {.host = "fe01.contoso.local", .id = 0x0badf00d};
static struct pc_pool pool = {.name = "lync", .members = &member, .nmembers = 1};
static struct pc_config cfg = {.pools = &pool, .npools = 1};

static void check_rewrite(const char *p, uint64_t r)
{
    struct pc_session s;
    memset(&s, 0, sizeof s);
    s.kind = r & 1 ? PC_LISTEN_HTTPS : PC_LISTEN_HTTP;
    s.t.client_10 = r & 2;
    s.t.head_req = r & 4;
    s.t.close_after = (r & 8) || (s.t.client_10 && (r & 16)); /* the client's Connection: close */
    s.t.upgrade_req = r & 32;
    s.t.set_cookie = r & 64;
    s.t.pool_idx = 0;
    s.t.member_idx = r & 128 ? 0 : -1;
    pc_w.cfg = &cfg;

    /* As up_head() in upstream.c. */
    int st = head.status;
    if (st == 101 && !s.t.upgrade_req)
        return; /* 502: an upgrade nobody asked for */
    enum pc_body_mode mode;
    bool bodyless = (st < 200 && st != 101) || s.t.head_req || st == 204 || st == 304;
    if (bodyless)
        mode = PC_BODY_NONE;
    else if (head.chunked)
        mode = s.t.client_10 ? PC_BODY_DECHUNK : PC_BODY_CHUNK;
    else if (head.has_cl)
        mode = PC_BODY_RAW;
    else
        mode = s.t.client_10 ? PC_BODY_RAW : PC_BODY_CHUNK;
    if (s.t.client_10 && !bodyless && !head.has_cl)
        s.t.close_after = true;
    if (st == 101)
        mode = PC_BODY_RAW;

    struct pc_out o = {0};
    FZ_CHECK(pc_rw_response(&o, &head, &s.t, mode), "pc_rw_response failed");
    size_t olen;
    char *q = out_block(&o, &olen);
    pc_out_reset(&o);
    FZ_CHECK(olen <= head.len + 160 + 4 * head.nfields,
             "pc_rw_response wrote more than it reserved");

    size_t lines = check_crlf_block(q, olen, "rewritten response");
    /* Known finding connection-names-cl-host (see fuzz_request.c): here the client loses the
     * Content-Length of a body relayed as it is. */
    if (head.has_cl && named_in_connection(&head, "content-length", 14) &&
        fz_known("connection-names-cl-host")) {
        free(q);
        return;
    }
    int rc = pc_h1_parse(q, olen, false, &head2);
    if (rc == -502 && lines - 2 > PC_MAX_FIELDS) {
        free(q);
        return;
    }
    FZ_CHECK(rc == 0, "rewritten response does not re-parse: pc_h1_parse = %d", rc);
    check_head(&head2, q, olen, false);
    FZ_CHECK(head2.version == 11 && head2.status == st, "rewrite changed the status line");
    FZ_CHECK(head2.reason.len == head.reason.len &&
                 memcmp(q + head2.reason.off, p + head.reason.off, head.reason.len) == 0,
             "rewrite changed the reason phrase");

    /* The client must find the end of the body as the proxy will send it. */
    if (st >= 200 && !bodyless) {
        switch (mode) {
        case PC_BODY_CHUNK:
            FZ_CHECK(head2.chunked && !head2.has_cl,
                     "body re-chunked but the client is told chunked=%d has_cl=%d", head2.chunked,
                     head2.has_cl);
            break;
        case PC_BODY_RAW:
            if (head.has_cl) {
                FZ_CHECK(head2.has_cl && head2.content_length == head.content_length &&
                             !head2.chunked,
                         "body of %llu bytes relayed, but the client is told has_cl=%d (%llu) "
                         "chunked=%d",
                         (unsigned long long)head.content_length, head2.has_cl,
                         (unsigned long long)head2.content_length, head2.chunked);
                break;
            }
            /* fall through: close-delimited for an HTTP/1.0 client */
        case PC_BODY_DECHUNK:
            FZ_CHECK(!head2.chunked && !head2.has_cl && head2.conn_close,
                     "close-delimited body without Connection: close");
            break;
        case PC_BODY_NONE:
            break;
        }
    } else if (st >= 200) {
        FZ_CHECK(!head2.chunked, "Transfer-Encoding on a bodyless response");
    }

    /* What the proxy adds, exactly once each. */
    int want_te = st >= 200 && mode == PC_BODY_CHUNK;
    FZ_CHECK(count_value(&head2, "transfer-encoding", NULL) == want_te, "Transfer-Encoding count");
    int want_up = st == 101 && head.upgrade >= 0;
    FZ_CHECK(count_value(&head2, "upgrade", NULL) == want_up, "Upgrade count");
    int want_close = st >= 200 && s.t.close_after;
    int want_ka = st >= 200 && !s.t.close_after && s.t.client_10;
    FZ_CHECK(count_value(&head2, "connection", NULL) == want_up + want_close + want_ka &&
                 count_value(&head2, "connection", "upgrade") == want_up &&
                 count_value(&head2, "connection", "close") == want_close &&
                 count_value(&head2, "connection", "keep-alive") == want_ka,
             "Connection in the rewritten response");
    bool cookie = st >= 200 && s.t.set_cookie && s.t.member_idx >= 0;
    FZ_CHECK(count_value(&head2, "set-cookie", "ms-wsman=0badf00d; path=/") ==
                 count_value(&head, "set-cookie", "ms-wsman=0badf00d; path=/") + cookie,
             "MS-WSMAN Set-Cookie");
    FZ_CHECK(count_value(&head2, "keep-alive", NULL) == 0 && count_value(&head2, "te", NULL) == 0 &&
                 count_value(&head2, "trailer", NULL) == 0 &&
                 count_value(&head2, "proxy-connection", NULL) == 0,
             "hop-by-hop field in the rewritten response");
    struct added ad = {0, (unsigned)(want_te + 2 * want_up + want_close + want_ka + cookie)};
    check_passthrough(&head, &head2, &ad);
    free(q);
}

static void check_response(const char *all, size_t n, struct fz_rng *rng)
{
    char *p = fz_dup(all, n);
    int rc = pc_h1_parse(p, n, false, &head);
    FZ_CHECK(rc == 0 || rc == -502, "pc_h1_parse(response) returned %d", rc);
    if (rc == 0) {
        check_head(&head, p, n, false);
        check_llhttp(&head, p, n, false);
        /* Eight sessions of the 256 combinations of flags. */
        for (int k = 0; k < 8; k++)
            check_rewrite(p, fz_next(rng));
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
    size_t lead; /* always 0: no empty line is skipped before a status line */
    int n = check_scan(p, len, false, &rng, &lead);
    if (n > 0)
        check_response(p, (size_t)n, &rng);
    free(p);
    return 0;
}
