/* test_http1.c — the strict header-block parser (src/http/http1.c): what it accepts, what it
 * refuses and with which status, and the spans it hands to the proxy; trailer sections
 * (which fields are relayed, chunked.c keeping one, body.c's last chunk carrying it). */
#include <stdlib.h>
#include <string.h>

#include "common/out.h"
#include "http/body.h"
#include "http/chunked.h"
#include "http/http1.h"
#include "proxy/auth.h"
#include "proxy/cookie.h"
#include "tls/tls.h"
#include "unit.h"

static struct pc_head h;

/* Scans and parses a whole request; returns 0 or the negative status. */
static int req(const char *s)
{
    struct pc_hscan sc = {0};
    size_t len = strlen(s);
    int r = pc_h1_scan(&sc, s, len, true);
    if (r <= 0)
        return r == 0 ? -1 : r;
    return pc_h1_parse(s + sc.lead, (size_t)r - sc.lead, true, &h);
}

static int resp(const char *s)
{
    struct pc_hscan sc = {0};
    int r = pc_h1_scan(&sc, s, strlen(s), false);
    if (r <= 0)
        return r == 0 ? -1 : r;
    return pc_h1_parse(s, (size_t)r, false, &h);
}

static void test_accepts(void)
{
    CHECK_INT(req("GET /a?b=1 HTTP/1.1\r\nHost: webext.contoso.com\r\n\r\n"), 0);
    CHECK_INT(h.version, 11);
    CHECK(pc_h1_eq(&h, h.method, "get"));
    CHECK_INT(h.path.len, 6);
    CHECK_INT(h.host, 0);
    CHECK_INT(req("GET / HTTP/1.0\r\n\r\n"), 0); /* 1.0 without Host: routed by SNI */
    CHECK_INT(h.version, 10);
    CHECK_INT(req("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n"), 0);
    CHECK(h.has_cl && h.content_length == 12);
    CHECK_INT(req("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
    CHECK(h.chunked);
    CHECK_INT(req("GET /x HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Sp:  v  \r\n\r\n"), 0);
    CHECK_INT(h.f[2].value.len, 1); /* surrounding whitespace trimmed */
    /* A 60 KiB Negotiate token passes. */
    size_t big = 60 * 1024;
    char *tok = malloc(big + 200);
    int n = sprintf(tok, "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Negotiate ");
    memset(tok + n, 'A', big);
    strcpy(tok + n + big, "\r\n\r\n");
    CHECK_INT(req(tok), 0);
    CHECK(h.has_auth && pc_auth_binds(&h));
    free(tok);
}

static void test_absolute_form(void)
{
    CHECK_INT(
        req("GET http://webext.contoso.com/abs?x HTTP/1.1\r\nHost: WEBEXT.contoso.com:80\r\n\r\n"),
        0);
    CHECK_INT(h.authority.len, 18);
    CHECK(memcmp(h.base + h.path.off, "/abs?x", 6) == 0);
    CHECK_INT(req("GET http://evil.example/ HTTP/1.1\r\nHost: webext.contoso.com\r\n\r\n"), -400);
    CHECK_INT(
        req("GET http://user@webext.contoso.com/ HTTP/1.1\r\nHost: webext.contoso.com\r\n\r\n"),
        -400);
}

static void test_refuses(void)
{
    CHECK_INT(req("GET / HTTP/1.1\r\n\r\n"), -400);                       /* no Host */
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), -400); /* two */
    CHECK_INT(
        req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
        -400);
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n"),
              -400);
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"), -400);
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
                  "chunked\r\n\r\n"),
              -400);
    CHECK_INT(req("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n"), -400);
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n"), -400);
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"),
              -400);
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"), -400); /* obs-fold */
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n"), -400);    /* space before colon */
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), -400);  /* bare CR */
    CHECK_INT(req("GET / HTTP/1.1\nHost: a\r\n\r\n"), -400);               /* bare LF */
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n"), -400); /* control */
    CHECK_INT(req("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), -400);
    CHECK_INT(req("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), -400);
    CHECK_INT(req("G@T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    CHECK_INT(req("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), -405);
    CHECK_INT(req("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"), -405);
    CHECK_INT(req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), -405);
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), -400);
}

static void test_limits(void)
{
    struct pc_hscan sc = {0};
    size_t len = 9 * 1024;
    char *p = malloc(len + 1);
    memcpy(p, "GET /", 5);
    memset(p + 5, 'a', len - 5);
    CHECK_INT(pc_h1_scan(&sc, p, len, true), -414);
    free(p);
    len = 70 * 1024;
    p = malloc(len + 64);
    int n = sprintf(p, "GET / HTTP/1.1\r\nX: ");
    memset(p + n, 'a', len);
    memset(&sc, 0, sizeof(sc));
    CHECK_INT(pc_h1_scan(&sc, p, (size_t)n + len, true), -431);
    free(p);
    /* Incremental: byte by byte costs no rescans and ends at the right place. */
    const char *r = "GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
    memset(&sc, 0, sizeof(sc));
    int got = 0;
    for (size_t i = 1; i <= strlen(r) && !got; i++)
        got = pc_h1_scan(&sc, r, i, true);
    CHECK_INT(got, (int)strlen(r) - 4);
}

static void test_connection_tokens(void)
{
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\nX-Secret: "
                  "1\r\nKeep-Alive: 5\r\n\r\n"),
              0);
    CHECK(h.conn_close);
    CHECK(h.f[1].drop && h.f[2].drop && h.f[3].drop);
    CHECK(!h.f[0].drop);
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=b; MS-WSMAN=0badf00d; c=d\r\n\r\n"), 0);
    uint32_t id = 0;
    CHECK(pc_cookie_wsman(&h, &id) && id == 0x0badf00du);
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nCookie: a=b\r\nCookie: MS-WSMAN=0BADF00D\r\n\r\n"),
              0);
    CHECK(pc_cookie_wsman(&h, &id) && id == 0x0badf00du);
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nCookie: MS-WSMAN=0badf00\r\n\r\n"), 0);
    CHECK(!pc_cookie_wsman(&h, &id));
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nCookie: MS-WSMAN=0badf00g\r\n\r\n"), 0);
    CHECK(!pc_cookie_wsman(&h, &id));
    CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
              0);
    CHECK(h.conn_upgrade && h.upgrade == 1);
}

static void test_responses(void)
{
    CHECK_INT(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), 0);
    CHECK_INT(h.status, 200);
    CHECK_INT(resp("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\n\r\n"), 0);
    CHECK(pc_auth_binds(&h));
    CHECK_INT(resp("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: MsRtcOAuth href=x\r\n\r\n"), 0);
    CHECK(!pc_auth_binds(&h));
    CHECK_INT(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), -502);
    CHECK_INT(resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
              -502);
    CHECK_INT(resp("HTTP/1.1 2x0 OK\r\n\r\n"), -502);
    CHECK_INT(resp("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), -502);
    CHECK_INT(resp("ICY 200 OK\r\n\r\n"), -502);
}

/* RFC 9112 §2.2: empty lines before a request line are ignored, up to PC_MAX_LEAD_LINES. */
static void test_leading_empty_lines(void)
{
    CHECK_INT(req("\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    CHECK(pc_h1_eq(&h, h.path, "/a"));
    CHECK_INT(req("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    CHECK_INT(req("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    CHECK_INT(req("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    CHECK_INT(req("\r\n \r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    CHECK_INT(resp("\r\nHTTP/1.1 200 OK\r\n\r\n"), -400);
    /* In pieces: CR and LF of the empty line in separate reads. */
    const char *r = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    struct pc_hscan sc = {0};
    int got = 0;
    for (size_t i = 1; i <= strlen(r) && got == 0; i++)
        got = pc_h1_scan(&sc, r, i, true);
    CHECK_INT(got, (int)strlen(r));
    CHECK_INT(sc.lead, 4);
}

static void test_cert_names(void)
{
    CHECK(pc_tls_name_match("webext.contoso.com", "WEBEXT.contoso.com", 18));
    CHECK(pc_tls_name_match("*.contoso.com", "meet.contoso.com", 16));
    CHECK(!pc_tls_name_match("*.contoso.com", "a.meet.contoso.com", 18));
    CHECK(!pc_tls_name_match("*.contoso.com", "contoso.com", 11));
    CHECK(pc_tls_name_match("meet.contoso.com", "meet.contoso.com.", 17));
}

static void test_trailer_fields(void)
{
    CHECK(pc_h1_trailer_allowed("x-checksum", 10));
    CHECK(pc_h1_trailer_allowed("grpc-status", 11));
    CHECK(pc_h1_trailer_allowed("hosts", 5));
    CHECK(!pc_h1_trailer_allowed("", 0));
    CHECK(!pc_h1_trailer_allowed(":status", 7));
    CHECK(!pc_h1_trailer_allowed("Content-Length", 14));
    CHECK(!pc_h1_trailer_allowed("TRANSFER-ENCODING", 17));
    CHECK(!pc_h1_trailer_allowed("connection", 10));
    CHECK(!pc_h1_trailer_allowed("te", 2));
    CHECK(!pc_h1_trailer_allowed("host", 4));
    CHECK(!pc_h1_trailer_allowed("authorization", 13));
    CHECK(!pc_h1_trailer_allowed("Set-Cookie", 10));
    CHECK(!pc_h1_trailer_allowed("x-forwarded-for", 15));
}

static int tr_completed; /* 1: on_message_complete ran; 2: with the section kept by then */

static int tr_complete(llhttp_t *p)
{
    tr_completed = 1 + (((struct pc_chunked *)p)->tr != NULL);
    return HPE_PAUSED;
}

/* Feeds BODY in two reads cut at CUT to a chunked decoder that keeps (KEEP) its trailers:
 * the decoder's final status. */
static enum llhttp_errno tr_feed(struct pc_chunked *c, const char *body, size_t cut, bool keep)
{
    static llhttp_settings_t set;
    llhttp_settings_init(&set);
    set.on_message_complete = tr_complete;
    pc_chunked_settings(&set);
    llhttp_init(&c->ll, HTTP_RESPONSE, &set);
    if (pc_chunked_begin(c, false) < 0)
        return HPE_INTERNAL;
    c->keep = keep;
    tr_completed = 0;
    size_t used, len = strlen(body);
    enum llhttp_errno e = pc_chunked_feed(c, body, cut, &used);
    return e == HPE_OK ? pc_chunked_feed(c, body + cut, len - cut, &used) : e;
}

static void test_trailer_section_kept(void)
{
    const char *body = "5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-B:  two \r\n\r\n";
    const char *sec = "X-Sum: abc\r\nX-B:  two \r\n\r\n";
    struct pc_chunked c;
    for (size_t cut = 1; cut < strlen(body); cut++) {
        CHECK_INT(tr_feed(&c, body, cut, true), HPE_PAUSED);
        CHECK_INT(tr_completed, 2);
        CHECK(c.tr && pc_buf_len(c.tr) == strlen(sec) &&
              memcmp(c.tr->data + c.tr->start, sec, strlen(sec)) == 0);
        pc_chunked_release(&c);
        CHECK(c.tr == NULL);
    }
    /* Not kept unless asked; nothing kept of an empty section. */
    CHECK_INT(tr_feed(&c, body, 20, false), HPE_PAUSED);
    CHECK_INT(tr_completed, 1);
    CHECK_INT(tr_feed(&c, "3\r\nabc\r\n0\r\n\r\n", 11, true), HPE_PAUSED);
    CHECK_INT(tr_completed, 1);
    /* A bad section is still refused, kept or not. */
    CHECK_INT(tr_feed(&c, "0\r\nX-A: 1\r\n folded\r\n\r\n", 5, true), HPE_INVALID_HEADER_TOKEN);
    pc_chunked_release(&c);
    /* The last chunk with the section (an HTTP/2 request's trailers going upstream). */
    struct pc_out o = {0};
    CHECK_INT(pc_body_end_trailers(&o, PC_BODY_CHUNK, sec, strlen(sec)), 0);
    CHECK(o.ob && pc_buf_len(o.ob) == 3 + strlen(sec) && memcmp(o.ob->data, "0\r\n", 3) == 0 &&
          memcmp(o.ob->data + 3, sec, strlen(sec)) == 0);
    pc_out_reset(&o);
    CHECK_INT(pc_body_end_trailers(&o, PC_BODY_CHUNK, NULL, 0), 0);
    CHECK(o.ob && pc_buf_len(o.ob) == 5 && memcmp(o.ob->data, "0\r\n\r\n", 5) == 0);
    pc_out_reset(&o);
    CHECK_INT(pc_body_end_trailers(&o, PC_BODY_DECHUNK, sec, strlen(sec)), 0);
    CHECK(!pc_out_pending(&o));
}

int main(void)
{
    test_accepts();
    test_absolute_form();
    test_refuses();
    test_limits();
    test_connection_tokens();
    test_responses();
    test_leading_empty_lines();
    test_cert_names();
    test_trailer_fields();
    test_trailer_section_kept();
    return UNIT_DONE();
}
