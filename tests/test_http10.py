"""HTTP/1.0 clients: close after the response unless keep-alive, chunked responses de-chunked."""

import hashlib

import harness
import mockpool
from harness import build_request


def test_http10_closes_after_response(stack):
    with stack.client() as c:
        r = c.request("GET", "/echo", version="HTTP/1.0")
        assert r.status == 200
        assert r.json()["target"] == "/echo"
        assert c.wait_closed(5), "HTTP/1.0 without keep-alive: the connection must close"


def test_http10_keep_alive(stack):
    with stack.client() as c:
        r = c.request("GET", "/echo", headers=[("Connection", "keep-alive")], version="HTTP/1.0")
        assert r.status == 200
        assert r.framing == "length", "a kept-alive HTTP/1.0 response needs a Content-Length"
        assert "keep-alive" in r.tokens("connection")
        assert c.is_open(0.3)
        r2 = c.request("GET", "/echo?second", headers=[("Connection", "keep-alive")], version="HTTP/1.0")
        assert r2.status == 200 and r2.json()["target"] == "/echo?second"


def test_http10_chunked_response_dechunked(stack):
    with stack.client() as c:
        c.send(build_request("GET", "/http10-chunked", version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200
        assert not r.has("Transfer-Encoding"), r.headers
        assert r.body == mockpool.HTTP10_BODY
        assert c.wait_closed(5)


def test_http10_keep_alive_chunked_response_still_correct(stack):
    """Unknown length for an HTTP/1.0 client: the proxy must close after it (or give a length);
    either way the body arrives intact and is never chunk-framed."""
    with stack.client() as c:
        c.send(build_request("GET", "/http10-chunked", headers=[("Connection", "keep-alive")], version="HTTP/1.0"))
        r = c.read_response()
        assert not r.has("Transfer-Encoding")
        assert r.body == mockpool.HTTP10_BODY
        if r.framing == "close":
            assert "keep-alive" not in r.tokens("connection")


def test_http10_big_chunked_response_dechunked(stack):
    n = 5 << 20
    with stack.client() as c:
        h = hashlib.sha256()
        c.send(build_request("GET", "/big?bytes=%d&chunked=1" % n, version="HTTP/1.0"))
        r = c.read_response(sink=h.update)
        assert not r.has("Transfer-Encoding")
        assert r.body_len == n and h.hexdigest() == mockpool.pattern_sha256(n)


def test_http10_post_with_body(stack):
    body = b"grant_type=password&username=alice%40contoso.com&password=x"
    with stack.client() as c:
        r = c.request("POST", "/WebTicket/oauthtoken", body=body, version="HTTP/1.0",
                      headers=[("Content-Type", "application/x-www-form-urlencoded")])
        assert r.status == 200 and r.json()["token_type"] == "Bearer"
    c2 = stack.client()
    d = c2.request("POST", "/upload", body=body, version="HTTP/1.0").json()
    assert d["body_len"] == len(body) and d["body_sha256"] == hashlib.sha256(body).hexdigest()
    c2.close()


def test_http10_head_has_no_body(stack):
    with stack.client() as c:
        r = c.request("HEAD", "/big?bytes=777", version="HTTP/1.0")
        assert r.status == 200 and r.body == b""
        assert c.wait_closed(5) and c.leftover == b"", "HEAD response must have no body: %r" % c.leftover[:100]
