"""The real client address behind a load balancer (docs/configuration.md, "Behind a load
balancer"): the PROXY protocol, versions 1 and 2, from trusted_proxies on the plain and the TLS
listener, refused from anyone else; trusted X-Forwarded-For; the real address in the access log,
X-Forwarded-For to the pool and max_connections_per_client; truncated, oversized and split
headers; slowloris with PROXY headers; HAProxy (Debian's) as a real balancer with send-proxy-v2.

The test client address (net.client, 127.4k.X.9) plays the balancer; 127.4k.X.10 is an
untrusted client. Addresses inside the headers are documentation prefixes (RFC 5737, RFC 3849).
"""

import os
import selectors
import shutil
import socket
import ssl
import struct
import subprocess
import time

import pytest

import harness
from harness import SLOW, get_all, hdrs_of

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
SNI = "webext.contoso.com"


def untrusted(net):
    return "127.%d.%d.10" % (40 + net.k, net.x)


def v1(src, dst, sp=40001, dp=443):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sp, dp)).encode()


def tlv(t, value):
    return bytes([t]) + struct.pack("!H", len(value)) + value


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def v2(src=None, dst=None, sp=40001, dp=443, cmd=1, tlvs=b"", crc=False, length=None):
    if src is None:
        fam, addrs = 0x00, b""
    elif ":" in src:
        fam = 0x21
        addrs = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
    else:
        fam = 0x11
        addrs = socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst)
    if addrs:
        addrs += struct.pack("!HH", sp, dp)
    body = addrs + tlvs
    if crc:
        body += tlv(0x03, b"\0\0\0\0")
    n = len(body) if length is None else length
    hdr = V2_SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", n) + body
    if crc:
        hdr = hdr[:-4] + struct.pack("!I", crc32c(hdr))
    return hdr


def ssl_tlv(version=b"TLSv1.3"):
    return tlv(0x20, bytes([0x01]) + b"\0\0\0\0" + tlv(0x21, version))


def pp_client(st, header, tls=False, src=None, pieces=None, port=None):
    """A harness.Client that sent HEADER (in PIECES, each sent alone with TCP_NODELAY) before
    its first byte of HTTP or TLS."""
    port = port or (443 if tls else 80)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((src or st.net.client, 0))
    sock.settimeout(harness.IO_TIMEOUT)
    sock.connect((st.net.ext, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for piece in pieces or [header]:
        sock.sendall(piece)
        if pieces:
            time.sleep(0.05)        # separate segments, so that portico reads them apart
    c = harness.Client.__new__(harness.Client)
    c.addr = (st.net.ext, port)
    c.local = sock.getsockname()
    c.tls = tls
    if tls:
        sock = harness.tls_context(st.pki).wrap_socket(sock, server_hostname=SNI)
    c.sock = sock
    c.reader = harness.Reader(sock)
    c.leftover = b""
    return c


def xff_of(resp):
    joined = ", ".join(get_all(hdrs_of(resp.json()), "x-forwarded-for"))
    return [p.strip() for p in joined.split(",")]


def proto_of(resp):
    return get_all(hdrs_of(resp.json()), "x-forwarded-proto")


def pp_stack(make_stack, **kw):
    net = kw.pop("net", None) or harness.Net.alloc()
    opts = dict(https_port=443, trusted_proxies="%s 192.0.2.0/24" % net.client,
                proxy_protocol="on")
    opts.update(kw)
    return make_stack(net=net, **opts)


def closed_without_answer(c, timeout=5.0):
    ok = c.wait_closed(timeout * SLOW)
    return ok and c.leftover == b""


def last_entry(st, n=1):
    return st.access_entries(n)[-1]


# ---------------------------------------------------------------------------------------------
# From a trusted balancer.

@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("src", ["203.0.113.7", "2001:db8::7"], ids=["ipv4", "ipv6"])
def test_v1_from_trusted(make_stack, tls, src):
    st = pp_stack(make_stack)
    dst = "2001:db8::1" if ":" in src else "198.51.100.1"
    with pp_client(st, v1(src, dst), tls=tls) as c:
        r = c.request("GET", "/echo")
        assert r.status == 200
        assert xff_of(r) == [src]
        assert proto_of(r) == ["https" if tls else "http"]
        r2 = c.request("GET", "/echo")         # keep-alive: the same client
        assert xff_of(r2) == [src]
    e = last_entry(st, 2)
    assert e["client"] == src and e["lb"] == st.net.client


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("src", ["203.0.113.8", "2001:db8::8"], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("tlvs", [False, True], ids=["no-tlv", "tlvs"])
def test_v2_from_trusted(make_stack, tls, src, tlvs):
    st = pp_stack(make_stack)
    dst = "2001:db8::1" if ":" in src else "198.51.100.1"
    extra = b""
    if tlvs:
        extra = (tlv(0x01, b"http/1.1") + tlv(0x02, SNI.encode()) + ssl_tlv() +
                 tlv(0xE7, b"unknown, skipped") + tlv(0x04, b"\0" * 9))
    with pp_client(st, v2(src, dst, tlvs=extra, crc=tlvs), tls=tls) as c:
        r = c.request("GET", "/echo")
        assert r.status == 200
        assert xff_of(r) == [src]
        # The SSL TLV says the balancer terminated TLS: the pool hears https.
        assert proto_of(r) == ["https" if tls or tlvs else "http"]
    e = last_entry(st)
    assert e["client"] == src and e["lb"] == st.net.client


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_v2_local_is_the_balancer(make_stack, tls):
    """LOCAL (a balancer's health check) and v1 UNKNOWN: served as the balancer itself."""
    st = pp_stack(make_stack)
    for hdr in (v2(cmd=0), v2("203.0.113.9", "198.51.100.1", cmd=0), b"PROXY UNKNOWN\r\n"):
        with pp_client(st, hdr, tls=tls) as c:
            r = c.request("GET", "/echo")
            assert r.status == 200
            assert xff_of(r) == [st.net.client]
    e = last_entry(st, 3)
    assert e["client"] == st.net.client and e["lb"] is None


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_header_split_across_reads(make_stack, tls):
    st = pp_stack(make_stack)
    for hdr, src in ((v1("203.0.113.10", "198.51.100.1"), "203.0.113.10"),
                     (v2("2001:db8::10", "2001:db8::1", tlvs=tlv(0x02, b"x" * 40)), "2001:db8::10")):
        pieces = [hdr[:1], hdr[1:7], hdr[7:15], hdr[15:16], hdr[16:-1], hdr[-1:]]
        with pp_client(st, hdr, tls=tls, pieces=[p for p in pieces if p]) as c:
            r = c.request("GET", "/echo")
            assert r.status == 200 and xff_of(r) == [src]


def test_request_in_the_same_segment_as_the_header(make_stack):
    """Plain HTTP: the request head follows the header in one write; nothing of it is lost."""
    st = pp_stack(make_stack)
    with pp_client(st, v1("203.0.113.11", "198.51.100.1") +
                   harness.build_request("GET", "/echo?same=1")) as c:
        r = c.read_response()
        assert r.status == 200 and xff_of(r) == ["203.0.113.11"]


def free_port_v6():
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.bind(("::1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("ver", [1, 2])
def test_balancer_over_ipv6(make_stack, ver):
    """The balancer reaches portico over IPv6 (trusted as ::1/128) and names an IPv4 client."""
    port = free_port_v6()
    net = harness.Net.alloc()
    st = make_stack(net=net, external="%s ::1" % net.ext, http_port=port, https_port="off",
                    proxy_protocol="http", trusted_proxies="::1/128")
    hdr = v1("203.0.113.61", "198.51.100.1") if ver == 1 else v2("203.0.113.61", "198.51.100.1")
    sock = socket.create_connection(("::1", port), timeout=harness.IO_TIMEOUT)
    sock.sendall(hdr + harness.build_request("GET", "/echo?v6=%d" % ver,
                                             headers=[("Connection", "close")]))
    c = harness.Client.__new__(harness.Client)
    c.sock, c.tls, c.leftover = sock, False, b""
    c.reader = harness.Reader(sock)
    r = c.read_response()
    sock.close()
    assert r.status == 200 and xff_of(r) == ["203.0.113.61"]
    e = last_entry(st)
    assert e["client"] == "203.0.113.61" and e["lb"] == "::1"
    # From the IPv4 side, not trusted: a header is refused.
    c4 = harness.Client(net.ext, port, net.client)
    c4.send(hdr)
    assert closed_without_answer(c4)
    c4.close()


# ---------------------------------------------------------------------------------------------
# Refused.

@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("ver", [1, 2])
def test_header_from_untrusted_refused(make_stack, tls, ver):
    st = pp_stack(make_stack)
    hdr = v1("203.0.113.12", "198.51.100.1") if ver == 1 else v2("203.0.113.12", "198.51.100.1")
    sock = socket.create_connection((st.net.ext, 443 if tls else 80), timeout=harness.IO_TIMEOUT,
                                    source_address=(untrusted(st.net), 0))
    sock.sendall(hdr + harness.build_request("GET", "/echo?untrusted=1"))
    sock.settimeout(5 * SLOW)
    try:
        data = sock.recv(4096)
    except ConnectionResetError:
        data = b""
    sock.close()
    assert data == b""
    assert st.portico.wait_stderr(r"client %s: PROXY protocol header from an address not in "
                                  r"trusted_proxies, refused" % untrusted(st.net).replace(".", r"\."))
    assert not st.mock.saw("untrusted=1")
    # The same untrusted address without a header is an ordinary client.
    c = harness.Client(st.net.ext, 80, untrusted(st.net))
    r = c.request("GET", "/echo", headers=[("X-Forwarded-For", "203.0.113.12")])
    c.close()
    assert r.status == 200 and xff_of(r) == ["203.0.113.12", untrusted(st.net)]


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_trusted_without_header_refused(make_stack, tls):
    st = pp_stack(make_stack)
    if tls:
        with pytest.raises((ssl.SSLError, OSError)):
            st.tls_client().close()
    else:
        with st.client() as c:
            c.send(harness.build_request("GET", "/echo?noheader=1"))
            assert closed_without_answer(c)
    assert st.portico.wait_stderr(r"balancer %s: bad PROXY protocol header" %
                                  st.net.client.replace(".", r"\."))
    assert not st.mock.saw("noheader=1")


BAD_HEADERS = {
    "v1-long": b"PROXY TCP4 " + b"1" * 120 + b"\r\n",
    "v1-garbage": b"PROXY TCP4 203.0.113.1 198.51.100.1 1 x\r\n",
    "v1-bad-address": b"PROXY TCP4 203.0.113.300 198.51.100.1 1 2\r\n",
    "v1-family-mismatch": b"PROXY TCP6 203.0.113.1 198.51.100.1 1 2\r\n",
    "v1-bare-lf": b"PROXY TCP4 203.0.113.1 198.51.100.1 1 2\n",
    "v2-oversized": v2("203.0.113.1", "198.51.100.1", tlvs=tlv(0xE0, b"x" * 1100)),
    "v2-short": v2("203.0.113.1", "198.51.100.1", length=4),
    "v2-tlv-past-end": v2("203.0.113.1", "198.51.100.1", tlvs=b"\x01\x00\x09ab"),
    "v2-udp": V2_SIG + b"\x21\x12\x00\x0c" + b"\0" * 12,
    "v2-version-1": V2_SIG + b"\x11\x11\x00\x0c" + b"\0" * 12,
    "v2-bad-crc": v2("203.0.113.1", "198.51.100.1", crc=True)[:-1] + b"\x00",
}


@pytest.mark.parametrize("name", sorted(BAD_HEADERS))
def test_bad_header_refused(make_stack, name):
    st = pp_stack(make_stack, https_port="off", proxy_protocol="http")
    with st.client() as c:
        c.send(BAD_HEADERS[name] + harness.build_request("GET", "/echo?bad=1"))
        assert closed_without_answer(c)
    assert st.portico.wait_stderr(r"bad PROXY protocol header")
    assert not st.mock.saw("bad=1")


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_truncated_header(make_stack, tls):
    """A header cut short, then the balancer closes: logged; one that stops: timeout_header."""
    st = pp_stack(make_stack, timeout_header=1)
    hdr = v2("203.0.113.13", "198.51.100.1")
    s1 = socket.create_connection((st.net.ext, 443 if tls else 80), source_address=(st.net.client, 0))
    s1.sendall(hdr[:20])
    s1.shutdown(socket.SHUT_WR)
    s1.settimeout(5 * SLOW)
    assert s1.recv(100) == b""
    s1.close()
    assert st.portico.wait_stderr(r"connection closed inside the header")
    s2 = socket.create_connection((st.net.ext, 443 if tls else 80), source_address=(st.net.client, 0))
    s2.sendall(v1("203.0.113.13", "198.51.100.1")[:12])
    t0 = time.monotonic()
    s2.settimeout(10 * SLOW)
    assert s2.recv(100) == b""
    took = time.monotonic() - t0
    s2.close()
    assert 0.5 <= took <= 4 * SLOW, took
    assert st.portico.wait_stderr(r"no complete PROXY protocol header within 1 s")


def test_proxy_protocol_https_only(make_stack):
    """proxy_protocol = https: the plain listener takes the balancer's requests as they are."""
    st = pp_stack(make_stack, proxy_protocol="https")
    assert xff_of(st.request("GET", "/echo")) == [st.net.client]
    with pp_client(st, v1("203.0.113.14", "198.51.100.1"), tls=True) as c:
        assert xff_of(c.request("GET", "/echo")) == ["203.0.113.14"]


# ---------------------------------------------------------------------------------------------
# Per-client limits see the real client.

def test_max_connections_per_client_counts_the_real_client(make_stack):
    st = pp_stack(make_stack, https_port="off", proxy_protocol="http",
                  max_connections_per_client=2, workers=1)
    held = []
    # Five clients through the one balancer address: each its own count.
    for i in range(5):
        c = pp_client(st, v1("203.0.113.%d" % (20 + i), "198.51.100.1"))
        assert c.request("GET", "/echo").status == 200
        held.append(c)
    # The same real client a second time is fine, a third time over its cap.
    c2 = pp_client(st, v1("203.0.113.20", "198.51.100.1"))
    assert c2.request("GET", "/echo").status == 200
    held.append(c2)
    c3 = pp_client(st, v1("203.0.113.20", "198.51.100.1"))
    c3.send(harness.build_request("GET", "/echo?over=1"))
    assert closed_without_answer(c3)
    assert st.portico.wait_stderr(r"client 203\.0\.113\.20: over max_connections_per_client")
    # Its count goes down when one of its connections closes.
    held[0].close()
    c2.close()
    deadline = time.monotonic() + 5 * SLOW
    while True:
        c4 = pp_client(st, v1("203.0.113.20", "198.51.100.1"))
        try:
            if c4.request("GET", "/echo").status == 200:
                break
        except (EOFError, ConnectionResetError):
            pass
        finally:
            c4.close()
        assert time.monotonic() < deadline, "the real client's count never went down"
        time.sleep(0.05)
    for c in held:
        c.close()


def test_affinity_source_uses_the_real_client(make_stack):
    net = harness.Net.alloc()
    members = [net.member(1), net.member(2)]
    pools = [harness.Pool("fe", members, harness.DEFAULT_NAMES, http="forward", affinity="source")]
    st = pp_stack(make_stack, net=net, members=members, pools=pools, https_port="off",
                  proxy_protocol="http")
    seen = {}
    for i in range(12):
        src = "203.0.113.%d" % (40 + i % 6)
        with pp_client(st, v1(src, "198.51.100.1")) as c:
            seen.setdefault(src, set()).add(c.request("GET", "/echo").json()["listen"].split(":")[0])
    assert all(len(v) == 1 for v in seen.values()), seen       # each real client sticks
    assert len(set().union(*seen.values())) == 2, seen          # and they are spread


# ---------------------------------------------------------------------------------------------
# Trusted X-Forwarded-For (a balancer in HTTP mode).

def test_trusted_forwarded_for(make_stack):
    net = harness.Net.alloc()
    st = make_stack(net=net, trust_forwarded_for="on",
                    trusted_proxies="%s 10.0.0.0/8 2001:db8:ffff::/48" % net.client)
    r = st.request("GET", "/echo", headers=[("X-Forwarded-For", "198.51.100.9, 203.0.113.30, 10.1.2.3")])
    assert xff_of(r) == ["198.51.100.9", "203.0.113.30"]
    e = last_entry(st)
    assert e["client"] == "203.0.113.30" and e["lb"] == net.client
    # Two fields, IPv6, every hop right of the client trusted.
    r = st.request("GET", "/echo", headers=[("X-Forwarded-For", "2001:db8::31"),
                                            ("X-Forwarded-For", "2001:db8:ffff::1, 10.9.9.9")])
    assert xff_of(r) == ["2001:db8::31"]
    assert last_entry(st, 2)["client"] == "2001:db8::31"
    # Something that is no address stops the walk at the hop that wrote it.
    r = st.request("GET", "/echo", headers=[("X-Forwarded-For", "198.51.100.9, unknown, 10.4.4.4")])
    assert xff_of(r) == ["198.51.100.9", "unknown", "10.4.4.4"]
    assert last_entry(st, 3)["client"] == "10.4.4.4"
    # No X-Forwarded-For: the balancer is the client.
    r = st.request("GET", "/echo")
    assert xff_of(r) == [net.client]
    e = last_entry(st, 4)
    assert e["client"] == net.client and e["lb"] is None


def test_forwarded_for_from_untrusted_only_appended(make_stack):
    net = harness.Net.alloc()
    st = make_stack(net=net, trust_forwarded_for="on", trusted_proxies="192.0.2.1")
    r = st.request("GET", "/echo", headers=[("X-Forwarded-For", "203.0.113.66")])
    assert xff_of(r) == ["203.0.113.66", net.client]
    e = last_entry(st)
    assert e["client"] == net.client and e["lb"] is None


def test_proxy_then_forwarded_for_chain(make_stack):
    """A PROXY header names a trusted balancer in HTTP mode: its X-Forwarded-For is believed."""
    net = harness.Net.alloc()
    st = make_stack(net=net, proxy_protocol="http", trust_forwarded_for="on",
                    trusted_proxies="%s 10.0.0.0/8" % net.client)
    with pp_client(st, v1("10.7.7.7", "198.51.100.1")) as c:
        r = c.request("GET", "/echo", headers=[("X-Forwarded-For", "203.0.113.77")])
    assert xff_of(r) == ["203.0.113.77"]
    assert last_entry(st)["client"] == "203.0.113.77"


# ---------------------------------------------------------------------------------------------
# Configuration checks (portico -t).

@pytest.mark.parametrize("lines,line,msg", [
    (["proxy_protocol = on"], 3, "'proxy_protocol' needs 'trusted_proxies'"),
    (["trust_forwarded_for = on"], 3, "'trust_forwarded_for' needs 'trusted_proxies'"),
    (["trusted_proxies = 10.0.0.0/33"], 3, "bad prefix length in '10.0.0.0/33'"),
    (["trusted_proxies = 10.0.0.1/8"], 3, "has bits set past its /8 prefix"),
    (["trusted_proxies = 192.0.2.7 bogus"], 3, "bad address 'bogus' in 'trusted_proxies'"),
    (["trusted_proxies = 2001:db8::/129"], 3, "bad prefix length"),
    (["proxy_protocol = sometimes"], 3, "proxy_protocol"),
    (["trusted_proxies = " + " ".join("2001:db8:%x::/48" % i for i in range(1, 300))], 3,
     "more than 256 prefixes in 'trusted_proxies'"),
])
def test_config_errors(tmp_path, lines, line, msg):
    path = str(tmp_path / "p.conf")
    with open(path, "w") as f:
        f.write("[proxy]\nexternal = 127.0.0.1\n" + "\n".join(lines) +
                "\nhttps_port = off\n\n[pool fe]\nservers = 127.0.0.2\npublish = a.contoso.com\n")
    r = harness.run_portico(["-t", "-c", path])
    assert r.returncode == 1, r.stderr
    assert "%s:%d: " % (path, line) in r.stderr and msg in r.stderr, r.stderr


def test_config_ok(tmp_path):
    path = str(tmp_path / "p.conf")
    with open(path, "w") as f:
        f.write("[proxy]\nexternal = 127.0.0.1\nhttps_port = off\n"
                "trusted_proxies = 10.0.0.0/8 192.0.2.7 2001:db8::/32 ::ffff:198.51.100.0/120\n"
                "proxy_protocol = https\ntrust_forwarded_for = on\n\n"
                "[pool fe]\nservers = 127.0.0.2\npublish = a.contoso.com\n")
    r = harness.run_portico(["-t", "-c", path])
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------------------------------------
# Slowloris behind the balancer.

N_SLOW = 300


def test_slowloris_with_proxy_headers(make_stack):
    """Many connections from the balancer stall inside their PROXY header (or send a whole one
    and then trickle a request head): a real client's request through the balancer is served
    meanwhile, and timeout_header closes every one of them without anything reaching the pool."""
    st = pp_stack(make_stack, https_port="off", proxy_protocol="http", timeout_header=2)
    sel = selectors.DefaultSelector()
    socks = []
    hdr = v2("203.0.113.90", "198.51.100.1")
    try:
        for i in range(N_SLOW):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((st.net.client, 0))
            s.connect((st.net.ext, 80))
            if i % 3 == 0:
                s.sendall(hdr[:10])
            elif i % 3 == 1:
                s.sendall(b"PROXY TCP4 203.0.113.91")
            else:
                s.sendall(v1("203.0.113.%d" % (100 + i % 50), "198.51.100.1") + b"GET /slow")
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            socks.append(s)
        t0 = time.monotonic()
        with pp_client(st, v1("203.0.113.99", "198.51.100.1")) as c:
            r = c.request("GET", "/echo?real=1")
        latency = time.monotonic() - t0
        assert r.status == 200 and xff_of(r) == ["203.0.113.99"]
        assert latency < 1.0 * SLOW, latency
        t_open = time.monotonic()
        open_ = set(socks)
        answered = 0
        deadline = t_open + 2 + 5 * SLOW
        while open_ and time.monotonic() < deadline:
            for key, _ in sel.select(0.2):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                if data:
                    answered += data.startswith(b"HTTP/1.1 408")
                    continue
                sel.unregister(s)
                open_.discard(s)
        assert not open_, "%d of %d slow connections still open" % (len(open_), N_SLOW)
        assert not st.mock.saw("/slow")
        print("PROXYPROTO: %d slow connections, real request in %.3f s, all closed %.1f s after,"
              " %d answered 408" % (N_SLOW, latency, time.monotonic() - t_open, answered))
    finally:
        for s in socks:
            s.close()
        sel.close()


# ---------------------------------------------------------------------------------------------
# HAProxy in front (send-proxy-v2).

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


@pytest.mark.skipif(not os.path.exists(HAPROXY), reason="haproxy not installed (make deps)")
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_haproxy_send_proxy_v2(make_stack, tmp_path, tls):
    net = harness.Net.alloc()
    lb_src = "127.%d.%d.50" % (40 + net.k, net.x)
    lb_front = "127.%d.%d.51" % (40 + net.k, net.x)
    st = make_stack(net=net, https_port=443, proxy_protocol="on", trusted_proxies=lb_src)
    port = 443 if tls else 80
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        "global\n  log stderr format raw local0\n\n"
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\n"
        "frontend fe\n  bind %s:%d\n  default_backend be\n\n"
        "backend be\n  server portico %s:%d send-proxy-v2 check inter 200ms source %s\n"
        % (lb_front, port, net.ext, port, lb_src))
    chk = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    hp = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, preexec_fn=harness._die_with_parent)
    try:
        deadline = time.monotonic() + 10 * SLOW
        while True:                     # ready when its frontend accepts
            try:
                socket.create_connection((lb_front, port), timeout=1).close()
                break
            except OSError:
                assert hp.poll() is None, hp.stderr.read()
                assert time.monotonic() < deadline, "haproxy did not start"
                time.sleep(0.05)
        ctx = harness.tls_context(st.pki) if tls else None
        c = harness.Client(lb_front, port, net.client, ctx=ctx, server_hostname=SNI if tls else None)
        r = c.request("GET", "/echo?via=haproxy")
        c.close()
        assert r.status == 200
        assert xff_of(r) == [net.client]
        assert proto_of(r) == ["https" if tls else "http"]
        e = [x for x in st.access_entries(1) if "via=haproxy" in x["path"]][-1]
        assert e["client"] == net.client and e["lb"] == lb_src
        if tls:
            # Its health checks carry a PROXY header too (LOCAL): taken, served as the
            # balancer, which then closes before a TLS handshake.
            assert st.portico.wait_stderr(r"TLS handshake failed: client %s sni -: connection "
                                          r"closed" % lb_src.replace(".", r"\."), timeout=5)
        assert not st.portico.wait_stderr(r"bad PROXY protocol header", timeout=0.5)
    finally:
        hp.terminate()
        try:
            hp.wait(5)
        except subprocess.TimeoutExpired:
            hp.kill()
            hp.wait()
