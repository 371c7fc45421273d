"""Header handling (SPEC §1, §4): Host unchanged, X-Forwarded-*, hop-by-hop removal both ways,
Lync's end-to-end headers untouched, Kerberos-sized fields, request re-framing."""

import hashlib

import pytest

import harness
import mockpool
from harness import build_request, get_all, hdrs_of


def names_lower(headers):
    return [n.lower() for n, _ in headers]


def test_host_forwarded_byte_for_byte(stack):
    d = stack.request("GET", "/echo", "WebExt.CONTOSO.com:80").json()
    assert get_all(hdrs_of(d), "host") == ["WebExt.CONTOSO.com:80"]


def test_x_forwarded_for_added(stack):
    d = stack.request().json()
    assert get_all(hdrs_of(d), "x-forwarded-for") == [stack.net.client]


def test_x_forwarded_for_appended_to_existing(stack):
    d = stack.request(headers=[("X-Forwarded-For", "203.0.113.7, 198.51.100.1")]).json()
    xff = get_all(hdrs_of(d), "x-forwarded-for")
    joined = ", ".join(xff)
    assert [p.strip() for p in joined.split(",")] == ["203.0.113.7", "198.51.100.1", stack.net.client]


def test_x_forwarded_for_several_fields_from_client(stack):
    d = stack.request(headers=[("X-Forwarded-For", "203.0.113.7"), ("X-Ms-Origin", "x"),
                               ("X-Forwarded-For", "198.51.100.1")]).json()
    joined = ", ".join(get_all(hdrs_of(d), "x-forwarded-for"))
    assert [p.strip() for p in joined.split(",")] == ["203.0.113.7", "198.51.100.1", stack.net.client]


def test_many_fields_forwarded_in_order(stack):
    hdrs = [("X-Field-%03d" % i, "value-%d" % i) for i in range(150)]
    d = stack.request(headers=hdrs).json()
    got = [(n, v) for n, v in hdrs_of(d) if n.lower().startswith("x-field-")]
    assert [(n.lower(), v) for n, v in got] == [(n.lower(), v) for n, v in hdrs]


def test_x_forwarded_proto_http(stack):
    d = stack.request().json()
    assert get_all(hdrs_of(d), "x-forwarded-proto") == ["http"]


def test_x_forwarded_proto_from_client_is_not_trusted(stack):
    d = stack.request(headers=[("X-Forwarded-Proto", "https")]).json()
    assert get_all(hdrs_of(d), "x-forwarded-proto") == ["http"]


def test_request_hop_by_hop_removed(stack):
    hdrs = [("Connection", "keep-alive, X-Secret, x-other"), ("X-Secret", "s3cret"), ("X-Other", "o"),
            ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"), ("TE", "trailers"),
            ("Trailer", "X-Checksum"), ("Upgrade", "foo/1.0"), ("X-End-To-End", "kept")]
    d = stack.request("GET", "/echo", headers=hdrs).json()
    got = names_lower(hdrs_of(d))
    for h in ("x-secret", "x-other", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"):
        assert h not in got, "%s forwarded to the pool: %r" % (h, d["headers"])
    for v in get_all(hdrs_of(d), "connection"):
        assert "secret" not in v.lower() and "other" not in v.lower()
    assert get_all(hdrs_of(d), "x-end-to-end") == ["kept"]


def test_request_connection_close_not_forwarded_as_is(stack):
    """The client's Connection: close is about the client connection; the upstream one is
    kept alive (the next request reuses it)."""
    with stack.client() as c:
        r1 = c.request(headers=[("Connection", "close")])
        assert c.wait_closed(5)
    r2 = stack.request()
    assert r2.json()["conn"] == r1.json()["conn"] or harness.WORKERS > 1


def test_response_hop_by_hop_removed(stack):
    with stack.client() as c:
        r = c.request("GET", "/connhdr")
        assert r.status == 200
        for h in ("x-secret", "keep-alive", "proxy-connection", "upgrade"):
            assert not r.has(h), "%s relayed to the client: %r" % (h, r.headers)
        for v in r.header_all("connection"):
            assert "secret" not in v.lower()
        assert r.header("X-End-To-End") == "kept"
        assert r.json()["target"] == "/connhdr"
        # the connection is still usable: the response was re-framed correctly
        assert c.request().status == 200


def test_lync_request_headers_untouched_and_in_order(stack):
    hdrs = [("Authorization", "Bearer cwt=AAEBHAEFAAAAAAAFFQAAAL1dQ0Ab9dX2mf0PMXbuAQAAJWAAAAAAAA=="),
            ("X-Ms-WebTicket", "opaque=AAAB+/==,tk=1"),
            ("X-Ms-Origin", "https://webext.contoso.com"),
            ("X-Requested-With", "XMLHttpRequest"),
            ("Referer", "https://webext.contoso.com/Autodiscover/XFrame/XFrame.html"),
            ("Cookie", "MRHSession=abc; cwt_ucwa=xyz"),
            ("Cookie", "second=2"),
            ("Accept", "application/vnd.microsoft.com.ucwa+json"),
            ("X-Empty", ""),
            ("X-Spaces", "a  b\tc")]
    d = stack.request("POST", "/ucwa/oauth/v1/applications/101/batch", headers=hdrs + [("Content-Type", "application/json")],
                      body=b'{"UserAgent":"UCWA Samples","EndpointId":"a917c6f4","Culture":"en-US"}').json()
    seen = [(n.lower(), v) for n, v in hdrs_of(d) if n.lower() in {h.lower() for h, _ in hdrs}]
    assert seen == [(n.lower(), v) for n, v in hdrs]


def test_lync_response_headers_untouched(stack):
    r = stack.request("GET", "/lynchdrs")
    assert r.status == 401
    for name in ("WWW-Authenticate", "Set-Cookie", "X-MS-Server-Fqdn", "X-Ms-Correlation-Id"):
        want = [v for n, v in mockpool.LYNC_RESPONSE_HEADERS if n == name]
        assert r.header_all(name) == want, name


def test_autodiscover_oauth_user_401_challenge(stack):
    r = stack.request("GET", "/Autodiscover/AutodiscoverService.svc/root/oauth/user?originalDomain=contoso.com",
                      "lyncdiscover.contoso.com")
    assert r.status == 401
    assert r.header("WWW-Authenticate") == (
        'MsRtcOAuth href="https://lyncdiscover.contoso.com/WebTicket/oauthtoken",'
        'grant_type="urn:microsoft.rtc:windows,urn:microsoft.rtc:anonmeeting,password"')
    r = stack.request("GET", "/Autodiscover/AutodiscoverService.svc/root/oauth/user?originalDomain=contoso.com",
                      "lyncdiscover.contoso.com", headers=[("Authorization", "Bearer cwt=AAEB")])
    assert r.status == 200
    assert r.json()["_links"]["applications"]["href"] == "https://lyncdiscover.contoso.com/ucwa/oauth/v1/applications"


@pytest.mark.parametrize("size", [8000, 48 * 1024, 60 * 1024])
def test_kerberos_sized_request_header(stack, size):
    token = "Negotiate " + mockpool.big_header_value(size - len("Negotiate "))
    d = stack.request("GET", "/echo", headers=[("Authorization", token), ("X-After", "1")]).json()
    assert get_all(hdrs_of(d), "authorization") == [token]
    assert get_all(hdrs_of(d), "x-after") == ["1"]


@pytest.mark.parametrize("size", [8000, 60 * 1024])
def test_kerberos_sized_response_header(stack, size):
    r = stack.request("GET", "/bighdr?bytes=%d" % size)
    assert r.status == 200
    assert r.header("X-Big") == mockpool.big_header_value(size)


def test_chunked_request_body_reframed_intact(stack):
    body = mockpool.pattern_bytes(300000)
    pieces = [body[:1], body[1:70000], body[70000:]]
    wire = b"".join(b"%x;name=val\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\nX-Trailer: t\r\n\r\n"
    with stack.client() as c:
        c.send(build_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]) + wire)
        r = c.read_response()
        d = r.json()
        assert d["body_len"] == len(body) and d["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert len(get_all(hdrs_of(d), "content-length")) + len(get_all(hdrs_of(d), "transfer-encoding")) == 1
        assert c.request().status == 200


def test_content_length_request_body_forwarded(stack):
    body = mockpool.pattern_bytes(123457)
    d = stack.request("PUT", "/upload", body=body).json()
    assert d["method"] == "PUT"
    assert d["body_len"] == len(body) and d["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert get_all(hdrs_of(d), "content-length") == [str(len(body))]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"])
def test_methods_forwarded(stack, method):
    body = b"x=1" if method in ("POST", "PUT", "PATCH") else None
    d = stack.request(method, "/echo", body=body).json()
    assert d["method"] == method
    assert d["body_len"] == (3 if body else 0)


def test_target_forwarded_byte_for_byte(stack):
    target = "/RequestHandlerExt/Files/a%20b/%C3%A9?x=%2F..%2F&y=1;z=2&empty=#"
    target = target.rstrip("#")
    d = stack.request("GET", target).json()
    assert d["target"] == target
