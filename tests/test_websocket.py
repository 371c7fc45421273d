"""Upgrade / WebSocket (SPEC §4; issue 3): a request with Upgrade: websocket and Connection:
Upgrade (and no body) is forwarded with those fields; after the pool's 101 the connection is a
two-way byte tunnel bounded by timeout_idle. Other upgrades (h2c) are stripped; a refused
upgrade leaves an ordinary HTTP connection; CONNECT is refused. The mock's /ws is an RFC 6455
echo server (mockpool.Handler.websocket)."""

import os
import time

import pytest

import harness
from harness import build_request, unique, ws_recv, ws_send, ws_upgrade
from mockpool import ws_accept


def connect(st, tls):
    return st.tls_client() if tls else st.client()


def upgraded(c, target="/ws"):
    r, key = ws_upgrade(c, target)
    assert r.status == 101, r
    assert r.header("Sec-WebSocket-Accept") == ws_accept(key)
    assert "websocket" in r.tokens("upgrade") and "upgrade" in r.tokens("connection")
    return r


@pytest.mark.parametrize("tls", [True, False], ids=["https", "http"])
def test_websocket_echo(make_stack, tls):
    st = make_stack(https_port=443)
    with connect(st, tls) as c:
        upgraded(c)
        ws_send(c, 0x1, b"hello through portico")
        assert ws_recv(c) == (0x1, b"hello through portico", False)
        big = os.urandom(300000)
        ws_send(c, 0x2, big)
        op, payload, masked = ws_recv(c)
        assert op == 0x2 and payload == big and not masked
        ws_send(c, 0x9, b"ping!")
        assert ws_recv(c) == (0xA, b"ping!", False)
        for i in range(20):                          # many small frames, both ways
            ws_send(c, 0x1, b"m%d" % i)
        assert [ws_recv(c)[1] for _ in range(20)] == [b"m%d" % i for i in range(20)]
        ws_send(c, 0x8, b"\x03\xe8bye")
        op, payload, _ = ws_recv(c)
        assert op == 0x8 and payload[:2] == b"\x03\xe8"
        assert c.wait_closed(5), "the tunnel outlived the pool's close"


def test_pool_sees_upgrade_request_fields(make_stack):
    st = make_stack(https_port=443)
    with st.tls_client() as c:
        upgraded(c)
        ws_send(c, 0x1, b"x")
        ws_recv(c)
    ev = st.mock.wait_event(lambda e: e["ev"] == "ws_request")
    hs = [(n, v) for n, v in ev["headers"]]
    assert harness.tokens(hs, "upgrade") == ["websocket"]
    assert "upgrade" in harness.tokens(hs, "connection")
    assert len(harness.get_all(hs, "sec-websocket-key")) == 1
    assert harness.get_all(hs, "sec-websocket-version") == ["13"]
    assert harness.get_all(hs, "x-forwarded-proto") == ["https"]


def test_server_first_data_after_101(make_stack):
    """Bytes the pool sends right behind its 101 (same write) reach the client."""
    st = make_stack(https_port=443)
    with st.tls_client() as c:
        upgraded(c, "/ws?hello=1")
        assert ws_recv(c) == (0x1, b"hello from fe01", False)
        ws_send(c, 0x1, b"after hello")
        assert ws_recv(c)[1] == b"after hello"


def test_pool_closing_tunnel_closes_client(make_stack):
    st = make_stack(https_port=443)
    with st.tls_client() as c:
        upgraded(c)
        ws_send(c, 0x1, b"!close")
        op, payload, _ = ws_recv(c)
        assert op == 0x8
        assert c.wait_closed(5)


def test_client_closing_tunnel_closes_pool_side(make_stack):
    st = make_stack(https_port=443)
    c = st.tls_client()
    upgraded(c)
    ws_send(c, 0x1, b"x")
    ws_recv(c)
    ev = st.mock.wait_event(lambda e: e["ev"] == "ws_open")
    c.close()
    assert st.mock.wait_closed(ev["conn"], 5), "the pool side of the tunnel stayed open"


def test_tunnel_bounded_by_timeout_idle(make_stack):
    st = make_stack(https_port=443, timeout_idle=1)
    with st.tls_client() as c:
        upgraded(c)
        # traffic keeps it alive past timeout_idle...
        for i in range(5):
            time.sleep(0.4)
            ws_send(c, 0x1, b"keepalive %d" % i)
            assert ws_recv(c)[1] == b"keepalive %d" % i
        # ...silence does not
        t0 = time.monotonic()
        assert c.wait_closed(6 * harness.SLOW), "an idle tunnel outlived timeout_idle"
        assert time.monotonic() - t0 >= 0.8


def test_refused_upgrade_leaves_http_connection(make_stack):
    st = make_stack(https_port=443)
    with st.tls_client() as c:
        r, _ = ws_upgrade(c, "/ws?refuse=1")
        assert r.status == 403
        r = c.request("GET", "/echo?after-refusal")
        assert r.status == 200 and r.json()["target"] == "/echo?after-refusal"


def test_upgrade_with_body_is_not_tunnelled(make_stack):
    st = make_stack(https_port=443)
    with st.tls_client() as c:
        c.send(build_request("POST", "/ws", headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                                      ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                                      ("Sec-WebSocket-Version", "13")], body=b"abc"))
        r = c.read_response()
        assert r.status == 426, r
        assert c.request("GET", "/echo").status == 200
    ev = st.mock.wait_event(lambda e: e["ev"] == "ws_request")
    assert not harness.get_all([(n, v) for n, v in ev["headers"]], "upgrade")


def test_h2c_upgrade_stripped(make_stack):
    st = make_stack(https_port=443)
    with st.client() as c:
        r = c.request("GET", "/echo", headers=[("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings"),
                                               ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")])
        assert r.status == 200
        hs = harness.hdrs_of(r.json())
        assert not harness.get_all(hs, "upgrade") and not harness.get_all(hs, "http2-settings")
        assert c.request("GET", "/echo?next").status == 200


def test_unexpected_101_is_not_relayed(make_stack):
    """A 101 to a request that did not ask to upgrade is a bad response: 502."""
    st = make_stack(https_port=443)
    with st.tls_client() as c:
        r = c.request("GET", "/status/101")
        assert r.status == 502


def test_connect_refused_over_tls(make_stack):
    st = make_stack(https_port=443)
    tok = unique("connect")
    with st.tls_client() as c:
        c.send(("CONNECT webext.contoso.com:443 HTTP/1.1\r\nHost: webext.contoso.com:443\r\nX-Tok: %s\r\n\r\n"
                % tok).encode())
        r = harness.read_bad_response(c)
        assert r is not None and r.status == 405
    assert not st.mock.saw(tok)


def test_many_tunnels_at_once(make_stack):
    st = make_stack(https_port=443)
    clients = [st.tls_client() for _ in range(20)]
    try:
        for c in clients:
            upgraded(c)
        for i, c in enumerate(clients):
            ws_send(c, 0x1, b"client %d" % i)
        for i, c in enumerate(clients):
            assert ws_recv(c)[1] == b"client %d" % i
    finally:
        for c in clients:
            c.close()
