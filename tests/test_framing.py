"""Message framing through the proxy (SPEC §4): HEAD/204/304 without body, 1xx relayed,
Expect: 100-continue, pipelining, Connection: close on either side."""

import hashlib
import time

import pytest

import harness
import mockpool
from harness import build_request


def test_head_has_no_body_and_connection_stays_in_sync(stack):
    with stack.client() as c:
        c.send(build_request("HEAD", "/big?bytes=4096") + build_request("GET", "/echo?after-head"))
        r = c.read_response("HEAD")
        assert r.status == 200 and r.header("Content-Length") == "4096"
        r2 = c.read_response()
        assert r2.status == 200 and r2.json()["target"] == "/echo?after-head"


def test_head_of_chunked_resource(stack):
    with stack.client() as c:
        c.send(build_request("HEAD", "/chunked?n=3&size=10&delay=0") + build_request("GET", "/echo?after"))
        r = c.read_response("HEAD")
        assert r.status == 200
        assert c.read_response().json()["target"] == "/echo?after"


@pytest.mark.parametrize("target", ["/status/204", "/status/304", "/status/304?cl=1234"])
def test_204_304_have_no_body(stack, target):
    with stack.client() as c:
        c.send(build_request("GET", target) + build_request("GET", "/echo?after"))
        r = c.read_response()
        assert r.status == int(target.split("/")[2][:3])
        r2 = c.read_response()
        assert r2.status == 200 and r2.json()["target"] == "/echo?after", "bytes out of sync after %s" % target


@pytest.mark.parametrize("code", [404, 500, 503])
def test_error_statuses_relayed(stack, code):
    r = stack.request("GET", "/status/%d" % code)
    assert r.status == code
    assert r.json()["target"] == "/status/%d" % code


def test_102_relayed_before_final(stack):
    with stack.client() as c:
        r = c.request("GET", "/interim?code=102&count=2&gap=0.2")
        assert [s for s, _ in r.interim] == [102, 102]
        assert r.status == 200 and r.json()["interim"] == 102
        assert c.request().status == 200


def test_103_early_hints_relayed_with_fields(stack):
    r = stack.request("GET", "/status/103")
    assert [s for s, _ in r.interim] == [103]
    assert harness.get_all(r.interim[0][1], "link") == ["</hints.css>; rel=preload; as=style"]
    assert r.status == 200


def test_expect_100_to_auth401_body_never_sent(stack):
    tok = harness.unique("expect401")
    with stack.client() as c:
        c.send(build_request("POST", "/auth401?" + tok, headers=[("Expect", "100-continue"),
                                                                 ("Content-Length", "50000")]))
        r = c.read_response()
        assert r.status == 401
        assert r.interim == [], "no 100 Continue may be invented: the pool did not send one"
        assert r.header("WWW-Authenticate").startswith("MsRtcOAuth ")
        serial = int(r.header("X-Mock-Conn"))
    ev = stack.mock.wait_request(tok)
    assert ev is not None
    assert stack.mock.wait_closed(serial, 5)
    raw = stack.mock.raw_of(serial)
    head_end = raw.index(b"\r\n\r\n", raw.index(tok.encode())) + 4
    assert raw[head_end:] == b"", "the pool received body bytes: %r" % raw[head_end:head_end + 80]
    assert b"expect: 100-continue" in raw.lower(), "Expect must be forwarded"


def test_expect_100_to_upload(stack):
    body = mockpool.pattern_bytes(200000)
    with stack.client() as c:
        c.send(build_request("POST", "/upload", headers=[("Expect", "100-continue"),
                                                         ("Content-Length", str(len(body)))]))
        status, _, _, _, _ = c.read_head()
        assert status == 100
        c.send(body)
        r = c.read_response()
        assert r.status == 200
        d = r.json()
        assert d["body_len"] == len(body) and d["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert harness.get_all(harness.hdrs_of(d), "expect") == ["100-continue"]
        assert c.request().status == 200


def test_pipelined_requests_answered_in_order(stack):
    with stack.client() as c:
        c.send(b"".join(build_request("GET", "/echo?i=%d" % i) for i in range(1, 4)))
        targets = [c.read_response().json()["target"] for _ in range(3)]
        assert targets == ["/echo?i=1", "/echo?i=2", "/echo?i=3"]


def test_pipelined_with_bodies_and_slow_first(stack):
    b1, b2 = b"first-body", mockpool.pattern_bytes(100000)
    with stack.client() as c:
        c.send(build_request("POST", "/longpoll?secs=0.5", body=b1) + build_request("POST", "/upload", body=b2)
               + build_request("GET", "/echo?last"))
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
        assert r1.json()["body_sha256"] == hashlib.sha256(b1).hexdigest()
        assert r2.json()["body_sha256"] == hashlib.sha256(b2).hexdigest()
        assert r3.json()["target"] == "/echo?last"


def test_pipelined_byte_at_a_time(stack):
    data = build_request("GET", "/echo?a") + build_request("POST", "/upload", body=b"abc")
    with stack.client() as c:
        for i in range(len(data)):
            c.send(data[i:i + 1])
        assert c.read_response().json()["target"] == "/echo?a"
        assert c.read_response().json()["body_len"] == 3


def test_client_connection_close(stack):
    with stack.client() as c:
        r = c.request(headers=[("Connection", "close")])
        assert r.status == 200
        assert c.wait_closed(5)


def test_upstream_connection_close_keeps_client_connection(stack):
    with stack.client() as c:
        r1 = c.request("GET", "/echo?close=1")
        assert r1.status == 200
        assert "close" not in r1.tokens("connection"), "the pool's Connection: close is hop-by-hop"
        assert c.is_open(0.3)
        r2 = c.request()
        assert r2.status == 200
        assert r2.json()["conn"] != r1.json()["conn"]


def test_many_requests_on_one_connection(stack):
    with stack.client() as c:
        serials = set()
        for i in range(50):
            d = c.request("GET", "/echo?n=%d" % i).json()
            assert d["target"] == "/echo?n=%d" % i
            serials.add(d["conn"])
        assert len(serials) == 1, "keep-alive upstream: one pool connection expected, got %s" % serials


def test_close_delimited_response_relayed_intact(stack):
    n = 3 * 1024 * 1024 + 17
    h = hashlib.sha256()
    with stack.client() as c:
        r = c.request("GET", "/close-delimited?bytes=%d" % n, sink=h.update)
        assert r.status == 200
        assert r.body_len == n and h.hexdigest() == mockpool.pattern_sha256(n)
        if r.framing != "close":      # re-framed (chunked): the client connection stays usable
            assert c.request().status == 200


def test_close_delimited_response_to_http10_client(stack):
    n = 50000
    with stack.client() as c:
        r = c.request("GET", "/close-delimited?bytes=%d" % n, version="HTTP/1.0")
        assert r.body == mockpool.pattern_bytes(n)
        assert not r.has("Transfer-Encoding")


def test_unsolicited_100_continue_handled(stack):
    with stack.client() as c:
        r = c.request("GET", "/interim?code=100")
        assert r.status == 200 and r.json()["interim"] == 100
        assert c.request("GET", "/echo?next").json()["target"] == "/echo?next"


def test_post_with_empty_body(stack):
    with stack.client() as c:
        d = c.request("POST", "/upload", body=b"").json()
        assert d["body_len"] == 0
        assert c.request().status == 200
