"""Self-tests of the mock pool and of the harness's client, without portico: when a portico test
fails, these tell a proxy bug from a test-harness bug."""

import hashlib
import json
import socket
import subprocess
import time

import pytest

import harness
import mockpool
from harness import Client, Mock, Net, build_request


@pytest.fixture
def mock(tmp_path, pki):
    net = Net.alloc()
    m = Mock(str(tmp_path), "fe01", [(net.member(1), 8080, False), (net.member(2), 8080, False),
                                     (net.member(1), 4443, True)], pki)
    m.start()
    m.net = net
    yield m
    m.stop()
    net.release()


def conn(mock, i=1):
    return Client(mock.net.member(i), 8080, src=mock.net.internal)


def test_echo_reports_request_exactly(mock):
    with conn(mock) as c:
        r = c.request("GET", "/echo?x=1", "WebExt.contoso.com:80",
                      [("X-Ms-WebTicket", "opaque=="), ("Cookie", "a=1")])
        assert r.status == 200
        d = r.json()
        assert d["target"] == "/echo?x=1" and d["method"] == "GET" and d["version"] == "HTTP/1.1"
        assert d["headers"] == [["Host", "WebExt.contoso.com:80"], ["X-Ms-WebTicket", "opaque=="],
                                ["Cookie", "a=1"]]
        assert d["peer"].startswith(mock.net.internal + ":")
        assert d["listen"] == mock.net.member(1) + ":8080"
        r2 = c.request("POST", "/upload", body=b"hello")
        d2 = r2.json()
        assert d2["conn"] == d["conn"] and d2["req_on_conn"] == 2
        assert d2["body_len"] == 5 and d2["body_sha256"] == hashlib.sha256(b"hello").hexdigest()
    assert mock.saw("X-Ms-WebTicket: opaque==")
    assert mock.wait_closed(d["conn"])


def test_chunked_upload_and_expect(mock):
    with conn(mock) as c:
        c.send(build_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked"),
                                                         ("Expect", "100-continue")]))
        st, _, _, _, _ = c.read_head()
        assert st == 100
        c.send(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
        r = c.read_response()
        assert r.json()["body_len"] == 11
        assert r.json()["body_sha256"] == hashlib.sha256(b"hello world").hexdigest()


def test_trailers_both_ways(mock):
    with conn(mock) as c:
        c.send(build_request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")]))
        c.send(b"5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-Two:  2 \r\n\r\n")
        d = c.read_response().json()
        assert d["body_len"] == 5 and d["trailers"] == [["X-Sum", "abc"], ["X-Two", "2"]]
        assert c.request("POST", "/echo", body=b"x").json()["trailers"] == []
        r = c.request("GET", "/trailers?bytes=40000&bad=1&split=1")
        assert r.framing == "chunked" and len(r.body) == 40000
        assert r.trailers[:2] == [("X-Checksum", mockpool.pattern_sha256(40000)),
                                  ("X-Mock-Trailer", "1")]
        assert r.trailers[2:] == [(n, v.strip(" \t")) for n, v in
                                  mockpool.TRAILERS_BAD + mockpool.TRAILERS_ODD]


def test_auth401_sends_no_100_and_reads_no_body(mock):
    with conn(mock) as c:
        c.send(build_request("POST", "/auth401", headers=[("Expect", "100-continue"),
                                                          ("Content-Length", "10")]))
        r = c.read_response()
        assert r.status == 401 and r.interim == []
        serial = int(r.header("X-Mock-Conn"))
        c.send(b"0123456789")
        assert c.wait_closed(5)
    assert mock.wait_closed(serial)
    assert mock.raw_of(serial).endswith(b"0123456789")   # what arrives after 401 is still logged


def test_big_and_chunked_and_timing(mock):
    n = 20 << 20
    with conn(mock) as c:
        h = hashlib.sha256()
        r = c.request("GET", "/big?bytes=%d" % n, sink=h.update)
        assert r.body_len == n and h.hexdigest() == mockpool.pattern_sha256(n)
        h = hashlib.sha256()
        r = c.request("GET", "/big?bytes=%d&chunked=1" % n, sink=h.update)
        assert r.framing == "chunked" and h.hexdigest() == mockpool.pattern_sha256(n)
        times = []
        t0 = time.monotonic()
        r = c.request("GET", "/chunked?n=3&size=10&delay=0.3", sink=lambda mv: times.append(time.monotonic() - t0))
        assert r.body_len == 30 and times[0] < 0.2 and times[-1] >= 0.55
        r = c.request("HEAD", "/big?bytes=1234")
        assert r.header("Content-Length") == "1234" and r.body == b""
        r = c.request("GET", "/status/304?cl=99")
        assert r.status == 304 and r.body == b""
        r = c.request("GET", "/status/103")
        assert [s for s, _ in r.interim] == [103] and r.status == 200
        r = c.request("GET", "/interim?code=102&count=2")
        assert [s for s, _ in r.interim] == [102, 102] and r.status == 200
        r = c.request("GET", "/http10-chunked")
        assert r.framing == "chunked" and r.body == mockpool.HTTP10_BODY
        r = c.request("GET", "/bighdr?bytes=65000")
        assert r.header("X-Big") == mockpool.big_header_value(65000)


def test_upload_stall(mock):
    n = 3 << 20
    with conn(mock) as c:
        c.send(build_request("POST", "/upload?stall_after=1000000&stall=1", headers=[("Content-Length", str(n))]))
        t0 = time.monotonic()
        for mv in mockpool.pattern_chunks(n):
            c.send(mv)
        r = c.read_response()
        assert time.monotonic() - t0 >= 0.9
        assert r.json()["body_sha256"] == mockpool.pattern_sha256(n)


def test_misbehaving_paths(mock):
    with conn(mock) as c:
        r = c.request("GET", "/close-after")
        assert r.status == 200 and not r.has("Connection")
        assert c.wait_closed(2)
    with conn(mock) as c:
        c.send(build_request("GET", "/garbage"))
        with pytest.raises(mockpool.ProtocolError):
            c.read_response()
    with conn(mock) as c:
        c.send(build_request("GET", "/reset-mid"))
        with pytest.raises((EOFError, ConnectionResetError)):
            c.read_response()
    for kind in ("two-cl", "cl-te", "bad-status", "obs-fold", "space-colon"):
        with conn(mock) as c:
            c.send(build_request("GET", "/bad-response?kind=" + kind))
            with pytest.raises(mockpool.ProtocolError):
                c.read_response()
    with conn(mock) as c:
        r = c.request("GET", "/connhdr")
        assert r.header("X-Secret") == "1" and r.framing == "chunked"
        assert json.loads(r.body)["target"] == "/connhdr"


def test_bad_request_does_not_kill_mock(mock):
    with conn(mock) as c:
        c.send(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")
        r = c.read_response()
        assert r.status == 400
    with conn(mock) as c:
        c.send(b"\x16\x03\x01garbage\r\n\r\n")
        assert c.read_response().status == 400
    with conn(mock) as c:
        assert c.request().status == 200


def test_tls_listener_and_lync_paths(mock, pki):
    import ssl
    ctx = ssl.create_default_context(cafile=pki.ca_pem)
    s = socket.create_connection((mock.net.member(1), 4443), timeout=5)
    t = ctx.wrap_socket(s, server_hostname="webext.contoso.com")
    t.sendall(build_request("GET", "/Autodiscover/AutodiscoverService.svc/root?originalDomain=contoso.com",
                            "lyncdiscover.contoso.com"))
    c = Client.__new__(Client)
    c.sock, c.reader, c.leftover = t, harness.Reader(t), b""
    r = c.read_response()
    links = r.json()["_links"]
    assert links["user"]["href"].startswith("https://lyncdiscover.contoso.com/Autodiscover/")
    t.sendall(build_request("GET", "/echo", "webext.contoso.com"))
    d = c.read_response().json()
    assert d["tls"] and d["sni"] == "webext.contoso.com" and d["alpn"] is None
    t.close()


# ---- the pieces issue 3's tests rely on -----------------------------------------------------

def ntlm_leg(c, token=None, scheme="NTLM"):
    hs = [("Authorization", "%s %s" % (scheme, token))] if token else []
    return c.request("GET", "/abs/handler", "webext.contoso.com", hs)


@pytest.mark.parametrize("scheme", ["NTLM", "Negotiate"])
def test_ntlm_state_is_per_connection(mock, scheme):
    a, b = conn(mock), conn(mock)
    try:
        r = ntlm_leg(a, scheme=scheme)
        assert r.status == 401 and set(r.header_all("WWW-Authenticate")) == {"NTLM", "Negotiate"}
        r1 = ntlm_leg(a, mockpool.auth_token(1, "alice"), scheme)
        assert r1.status == 401
        ch = mockpool.challenge_of(r1.header("WWW-Authenticate"))
        assert ch and r1.header("WWW-Authenticate").startswith(scheme + " ")
        # the answer on another connection: refused, and it spoils nothing on a
        assert ntlm_leg(b, mockpool.auth_token(3, "alice", ch), scheme).status == 401
        assert ntlm_leg(a, mockpool.auth_token(3, "mallory", ch), scheme).status == 401   # wrong user
        r1 = ntlm_leg(a, mockpool.auth_token(1, "alice"), scheme)
        ch = mockpool.challenge_of(r1.header("WWW-Authenticate"))
        r3 = ntlm_leg(a, mockpool.auth_token(3, "alice", ch), scheme)
        assert r3.status == 200 and r3.json()["user"] == "alice"
        assert (r3.header("WWW-Authenticate") or "").startswith("Negotiate ") == (scheme == "Negotiate")
        # authenticated connection: no credentials needed; the other connection still anonymous
        assert ntlm_leg(a).json()["user"] == "alice"
        assert a.request("GET", "/ntlm").json()["user"] == "alice"
        assert ntlm_leg(b).status == 401
    finally:
        a.close()
        b.close()


def test_drop_after_closes_idle_connection(mock):
    with conn(mock) as c:
        r = c.request("GET", "/echo?drop_after=0.3")
        assert r.status == 200 and not r.has("Connection")
        t0 = time.monotonic()
        assert c.wait_closed(3)
        assert time.monotonic() - t0 >= 0.2


def test_websocket_echo_direct(mock):
    with conn(mock) as c:
        r, key = harness.ws_upgrade(c, "/ws?hello=1")
        assert r.status == 101 and r.header("Sec-WebSocket-Accept") == mockpool.ws_accept(key)
        assert harness.ws_recv(c) == (0x1, b"hello from fe01", False)
        big = bytes(range(256)) * 1000
        harness.ws_send(c, 0x2, big)
        assert harness.ws_recv(c) == (0x2, big, False)
        harness.ws_send(c, 0x9, b"p")
        assert harness.ws_recv(c) == (0xA, b"p", False)
        harness.ws_send(c, 0x8, b"\x03\xe8")
        assert harness.ws_recv(c)[0] == 0x8
        assert c.wait_closed(3)
    with conn(mock) as c:
        assert c.request("GET", "/ws").status == 426           # not an upgrade request
        r, _ = harness.ws_upgrade(c, "/ws?refuse=1")
        assert r.status == 403
    # the RFC 6455 example key
    assert mockpool.ws_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_tls_listener_reports_resumption(mock, pki):
    ctx = harness.tls_context(cafile=pki.ca_pem)
    with Client(mock.net.member(1), 4443, ctx=ctx, server_hostname="meet.contoso.com") as c:
        d = c.request().json()
        sess = c.session
    assert d["tls_reused"] is False and d["sni"] == "meet.contoso.com" and d["alpn"] == "http/1.1"
    with Client(mock.net.member(1), 4443, ctx=ctx, server_hostname="meet.contoso.com", session=sess) as c:
        assert c.request().json()["tls_reused"] is True


def test_pki(pki, tmp_path):
    import ssl
    ok = harness.tls_context(cafile=pki.ca_pem)
    ok.check_hostname = True
    net = Net.alloc()
    try:
        for stem, host, good in [("pool", "webext.contoso.com", True), ("pool-untrusted", "webext.contoso.com", False),
                                 ("pool-wrongname", "webext.contoso.com", False),
                                 ("pool-wrongname", "pool.fabrikam.local", True)]:
            m = Mock(str(tmp_path), stem, [(net.member(1), 4443, True)], pki, cert=pki.pair(stem)).start()
            try:
                if good:
                    with Client(net.member(1), 4443, ctx=ok, server_hostname=host) as c:
                        assert pki.which(c.peer_der) == stem
                else:
                    with pytest.raises(ssl.SSLCertVerificationError):
                        Client(net.member(1), 4443, ctx=ok, server_hostname=host)
            finally:
                m.stop()
    finally:
        net.release()
    assert len({pki.der(s) for s in pki.PUBLIC}) == len(pki.PUBLIC)
    out = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", pki.pair("dual-ec")[0]],
                         capture_output=True, text=True).stdout
    assert "id-ecPublicKey" in out and "prime256v1" in out
