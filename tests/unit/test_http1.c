/* test_http1.c — the strict header-block parser (src/http/http1.c): what it accepts, what it
 * refuses and with which status, and the spans it hands to the proxy. */
#include <stdlib.h>
#include <string.h>

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
    return UNIT_DONE();
}
