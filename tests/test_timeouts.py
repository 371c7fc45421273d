"""Timeouts (SPEC §3): timeout_header, timeout_keepalive, timeout_idle (504, long polls)."""

import time

import harness
from harness import SLOW, build_request, read_bad_response, unique


def test_timeout_header_partial_head_closed(make_stack):
    st = make_stack(timeout_header=1)
    tok = unique("slowhead")
    with st.client() as c:
        t0 = time.monotonic()
        c.send(b"GET /%s HTTP/1.1\r\nHost: webext.contoso.com\r\nX-Half: " % tok.encode())
        assert c.wait_closed(4 * SLOW), "half a header block kept open past timeout_header"
        elapsed = time.monotonic() - t0
        assert elapsed >= 0.8, "closed after %.2f s, before timeout_header" % elapsed
        if c.leftover:
            assert c.leftover.startswith(b"HTTP/1.1 408"), c.leftover[:100]
    assert not st.mock.saw(tok)


def test_timeout_header_is_for_the_whole_block(make_stack):
    """A slowloris sending one header line every 0.3 s is still cut off after timeout_header."""
    st = make_stack(timeout_header=1)
    tok = unique("slowloris")
    with st.client() as c:
        t0 = time.monotonic()
        c.send(b"GET /%s HTTP/1.1\r\nHost: webext.contoso.com\r\n" % tok.encode())
        closed = False
        for i in range(int(15 * SLOW)):
            time.sleep(0.3)
            try:
                c.send(b"X-Drip-%d: 1\r\n" % i)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if c.wait_closed(0.01):
                closed = True
                break
        assert closed, "header block trickled for %.1f s" % (time.monotonic() - t0)
        assert time.monotonic() - t0 < 3.5 * SLOW
    assert not st.mock.saw(tok)


def test_prompt_request_within_timeout_header_served(make_stack):
    """A fresh connection that sends a complete request promptly is served normally."""
    st = make_stack(timeout_header=1)
    with st.client() as c:
        time.sleep(0.3)
        assert c.request().status == 200


def test_timeout_keepalive_closes_idle_client(make_stack):
    st = make_stack(timeout_keepalive=1)
    with st.client() as c:
        assert c.request().status == 200
        t0 = time.monotonic()
        assert c.wait_closed(4 * SLOW), "idle keep-alive connection not closed after timeout_keepalive"
        elapsed = time.monotonic() - t0
        assert elapsed >= 0.7, "closed after %.2f s" % elapsed
        assert c.leftover == b"", "no bytes may be sent when closing an idle connection: %r" % c.leftover[:80]


def test_timeout_keepalive_does_not_cut_requests_in_progress(make_stack):
    st = make_stack(timeout_keepalive=1, timeout_idle=10)
    with st.client() as c:
        r = c.request("GET", "/longpoll?secs=2.5")
        assert r.status == 200 and r.json()["held"] == 2.5


def test_upstream_silent_past_timeout_idle_504(make_stack):
    st = make_stack(timeout_idle=1)
    with st.client() as c:
        t0 = time.monotonic()
        r = c.request("GET", "/stall?secs=8")
        elapsed = time.monotonic() - t0
        assert r.status == 504
        assert 0.8 <= elapsed < 4 * SLOW, elapsed
    time.sleep(0.2)
    assert st.net.member(1) in st.portico.stderr(), \
        "a 504 must be logged with pool, member and reason:\n" + st.portico.stderr()


def test_long_poll_within_timeout_idle(make_stack):
    st = make_stack(timeout_idle=10)
    t0 = time.monotonic()
    with st.client() as c:
        r = c.request("GET", "/longpoll?secs=5")
    assert r.status == 200 and r.json()["held"] == 5.0
    assert time.monotonic() - t0 >= 4.9


def test_ucwa_event_channel_long_poll(make_stack):
    st = make_stack(timeout_idle=10)
    target = "/ucwa/oauth/v1/applications/101/events?ack=5&medium=300&low=600&timeout=3"
    r = st.request("GET", target, headers=[("Authorization", "Bearer cwt=AAEB"),
                                           ("X-Ms-Origin", "https://webext.contoso.com")])
    assert r.status == 200
    assert r.json()["_links"]["next"]["href"] == "/ucwa/oauth/v1/applications/101/events?ack=6"


def test_timeout_idle_is_per_silence_not_total(make_stack):
    st = make_stack(timeout_idle=1)
    with st.client() as c:
        t0 = time.monotonic()
        r = c.request("GET", "/chunked?n=5&size=10&delay=0.6")
        assert r.status == 200 and r.body_len == 50
        assert time.monotonic() - t0 >= 2.3


def test_client_silent_mid_body_times_out(make_stack):
    st = make_stack(timeout_idle=1)
    tok = unique("silentbody")
    with st.client() as c:
        c.send(build_request("POST", "/upload?" + tok, headers=[("Content-Length", "100000")]) + b"y" * 100)
        t0 = time.monotonic()
        r = None
        try:
            r = read_bad_response(c)
        except TimeoutError:
            pass
        assert r is None or r.status in (400, 408, 504), r
        assert c.wait_closed(5 * SLOW)
        assert time.monotonic() - t0 < 6 * SLOW
    ev = st.mock.wait_request(tok, 1)
    if ev is not None:
        assert st.mock.wait_closed(ev["conn"], 5)
