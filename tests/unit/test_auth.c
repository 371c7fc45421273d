/* test_auth.c — the fail-closed pinning rule (src/proxy/auth.c, docs/lync-publishing.md, "NTLM and
 * Negotiate"): which Authorization, WWW-Authenticate and Persistent-Auth fields bind a member
 * connection. */
#include <string.h>

#include "http/http1.h"
#include "proxy/auth.h"
#include "unit.h"

static struct pc_head h;

/* Parses a header block (request when REQ) and tells whether it binds; -1 if it is refused. */
static int binds(const char *s, bool req)
{
    struct pc_hscan sc = {0};
    int r = pc_h1_scan(&sc, s, strlen(s), req);
    if (r <= 0 || pc_h1_parse(s, (size_t)r, req, &h) != 0)
        return -1;
    return pc_auth_binds(&h);
}

#define REQ(auth)  "GET / HTTP/1.1\r\nHost: a\r\n" auth "\r\n"
#define RESP(auth) "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n" auth "\r\n"

static void test_requests(void)
{
    CHECK_INT(binds(REQ(""), true), 0);
    CHECK_INT(binds(REQ("Authorization: NTLM TlRMTVNTUAABAAAA\r\n"), true), 1);
    CHECK_INT(binds(REQ("Authorization: ntlm TlRMTVNTUAABAAAA\r\n"), true), 1);
    CHECK_INT(binds(REQ("Authorization: Negotiate YIIB\r\n"), true), 1);
    CHECK_INT(binds(REQ("Authorization: NTLM\tTlRMTVNTUAABAAAA\r\n"), true), 1);
    CHECK_INT(binds(REQ("Authorization: Kerberos YIIB\r\n"), true), 1);
    CHECK_INT(binds(REQ("Authorization: X-Unknown abc\r\n"), true), 1);
    CHECK_INT(binds(REQ("Authorization:\r\n"), true), 1);
    CHECK_INT(binds(REQ("Authorization: Basic dXNlcjpwYXNz\r\n"), true), 0);
    CHECK_INT(binds(REQ("Authorization: bearer cwt=AAEB\r\n"), true), 0);
    CHECK_INT(binds(REQ("Authorization: Digest username=\"u\", realm=\"r\"\r\n"), true), 0);
    /* A second field with a binding scheme binds, whatever the first. */
    CHECK_INT(binds(REQ("Authorization: Basic dQ==\r\nAuthorization: NTLM T\r\n"), true), 1);
    /* Persistent-Auth counts in requests too (it is a response field, but fail closed). */
    CHECK_INT(binds(REQ("Persistent-Auth: true\r\n"), true), 1);
}

static void test_responses(void)
{
    CHECK_INT(binds(RESP(""), false), 0);
    CHECK_INT(binds(RESP("WWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n"), false), 1);
    CHECK_INT(binds(RESP("WWW-Authenticate: Basic realm=\"a, NTLM\"\r\n"), false), 0);
    CHECK_INT(binds(RESP("WWW-Authenticate: Basic realm=\"a\", NTLM\r\n"), false), 1);
    CHECK_INT(
        binds(RESP("WWW-Authenticate: Bearer realm=\"x\", error=\"invalid_token\"\r\n"), false), 0);
    CHECK_INT(binds(RESP("WWW-Authenticate: MsRtcOAuth href=\"https://x/oauth\",grant_type="
                         "\"urn:microsoft.rtc:windows,urn:microsoft.rtc:anonmeeting\"\r\n"),
                    false),
              0);
    CHECK_INT(binds(RESP("WWW-Authenticate: Bearer trusted_issuers=\"\", client_id=\"x\"\r\n"
                         "WWW-Authenticate: Kerberos\r\n"),
                    false),
              1);
    CHECK_INT(binds(RESP("WWW-Authenticate: Digest nonce=\"a\\\"b, NTLM\"\r\n"), false), 0);
    CHECK_INT(binds(RESP("WWW-Authenticate: Basic realm=\"unterminated\r\n"), false), 1);
    CHECK_INT(binds(RESP("WWW-Authenticate: Negotiate oYG2MIGzoAMKAQA==\r\n"), false), 1);
    CHECK_INT(binds(RESP("WWW-Authenticate: Bearer abc==\r\n"), false), 0);
    CHECK_INT(binds(RESP("Persistent-Auth: true\r\n"), false), 1);
    CHECK_INT(binds(RESP("Persistent-Auth: TRUE\r\n"), false), 1);
    CHECK_INT(binds(RESP("Persistent-Auth: false\r\n"), false), 0);
}

int main(void)
{
    test_requests();
    test_responses();
    return UNIT_DONE();
}
