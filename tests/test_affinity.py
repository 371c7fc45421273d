"""Affinity (SPEC §1, §3; issue 3): affinity = source (the client address hashed over the usable
members: the same address lands on the same member from every worker, and only the clients of
a member that goes down move) and affinity = cookie (MS-WSMAN, not HttpOnly, no expiry, set on
responses to requests that lacked a valid one; an opaque stable hash of the member, never its
address, the same in every worker and instance; a cookie naming a down member falls back)."""

import re
import socket
import struct
import time

import pytest

import harness
from harness import Client, Pool, worker_of

COOKIE_RE = re.compile(r"^MS-WSMAN=([0-9a-f]{8}); Path=/$")


def stack2(make_stack, affinity, tls=False, **kw):
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1), net.member(2)], harness.DEFAULT_NAMES, http="forward",
                  affinity=affinity, health_interval=0.5, health_fall=2, health_rise=1)]
    if tls:
        kw.setdefault("https_port", 443)
    return make_stack(net=net, members=[net.member(1), net.member(2)], pools=pools, split_mocks=True, **kw)


def src_ip(st, i):
    """Test client addresses of this stack's slot: 127.4k.X.i."""
    return st.net.client.rsplit(".", 1)[0] + ".%d" % i


def member_for(st, ip, tls=False):
    c = Client(st.net.ext, 443 if tls else 80, ip, ctx=harness.tls_context(st.pki) if tls else None,
               server_hostname="webext.contoso.com" if tls else None)
    with c:
        r = c.request()
        assert r.status == 200, r
        return r.json()["listen"].split(":")[0]


def ws_cookie(r):
    vals = [v for v in r.header_all("Set-Cookie") if v.startswith("MS-WSMAN=")]
    assert len(vals) <= 1, vals
    return vals[0] if vals else None


# ---- source ---------------------------------------------------------------------------------

def test_source_affinity_same_address_same_member(make_stack):
    st = stack2(make_stack, "source")
    owner = {}
    for i in range(10, 26):
        ip = src_ip(st, i)
        got = {member_for(st, ip) for _ in range(5)}
        assert len(got) == 1, "client %s was spread over %s" % (ip, got)
        owner[ip] = got.pop()
    assert set(owner.values()) == {st.net.member(1), st.net.member(2)}, \
        "16 addresses all hashed to one member: %s" % owner


def test_source_affinity_on_one_keepalive_connection(make_stack):
    st = stack2(make_stack, "source")
    with st.client() as c:
        got = {c.request("GET", "/echo?i=%d" % i).json()["listen"] for i in range(8)}
    assert len(got) == 1, got


def test_source_affinity_workers_agree(make_stack):
    """Fresh connections from one address land on different workers (shown through /proc),
    and on the same member."""
    st = stack2(make_stack, "source")
    ip = src_ip(st, 30)
    workers, members = set(), set()
    for n in range(40):
        with Client(st.net.ext, 80, ip) as c:
            members.add(c.request().json()["listen"])
            workers.add(worker_of(st.portico, c.local))
        if n >= 5 and len(workers) >= harness.WORKERS:
            break
    assert None not in workers
    assert len(workers) == harness.WORKERS, workers
    assert len(members) == 1, members


def test_source_affinity_over_tls(make_stack):
    st = stack2(make_stack, "source", tls=True)
    for i in (40, 41, 42, 43):
        ip = src_ip(st, i)
        assert len({member_for(st, ip, tls=True) for _ in range(4)}) == 1


def test_source_affinity_down_member_moves_only_its_clients(make_stack):
    st = stack2(make_stack, "source")
    ips = [src_ip(st, i) for i in range(50, 62)]
    owner = {ip: member_for(st, ip) for ip in ips}
    m1, m2 = st.net.member(1), st.net.member(2)
    assert set(owner.values()) == {m1, m2}, owner
    st.mocks[m2].stop()
    for ip in ips:                                   # no error, and m1's clients stay
        assert member_for(st, ip) == m1
    start = len(st.portico.stderr_lines)
    st.mocks[m2].start()
    # once m2 serves again, its clients come back (passive mark-down over, checks passing)
    deadline = time.monotonic() + 10 * harness.SLOW
    while time.monotonic() < deadline:
        if all(member_for(st, ip) == owner[ip] for ip in ips):
            break
        time.sleep(0.2)
    else:
        pytest.fail("clients did not return to %s:\n%s" % (m2, "\n".join(st.portico.stderr_lines[start:])))


# ---- cookie ---------------------------------------------------------------------------------

def ip_forms(ip):
    packed = socket.inet_aton(ip)
    return {ip, packed.hex(), packed[::-1].hex(), "%08x" % struct.unpack("!I", packed)[0]}


def test_cookie_set_with_lync_attributes(make_stack):
    st = stack2(make_stack, "cookie")
    r = st.request()
    assert r.status == 200
    sc = ws_cookie(r)
    assert sc is not None, r.headers
    m = COOKIE_RE.match(sc)
    assert m, "Set-Cookie %r (want MS-WSMAN=<8 hex>; Path=/, no HttpOnly, no expiry)" % sc
    assert not re.search(r"httponly|expires|max-age", sc, re.I)
    value = m.group(1)
    member = r.json()["listen"].split(":")[0]
    assert value not in ip_forms(member) and member not in sc
    # the pool does not see a cookie the client did not send
    assert not harness.get_all(harness.hdrs_of(r.json()), "cookie")


def collect_cookies(st, n=12, tls=False):
    """value -> set of members it was issued for, from n fresh connections without cookie."""
    out = {}
    for i in range(n):
        r = st.tls_request("GET", "/echo?i=%d" % i) if tls else st.request("GET", "/echo?i=%d" % i)
        m = COOKIE_RE.match(ws_cookie(r) or "")
        assert m, r.headers
        out.setdefault(m.group(1), set()).add(r.json()["listen"].split(":")[0])
    return out


def test_cookie_values_stable_per_member_across_workers(make_stack):
    st = stack2(make_stack, "cookie")
    vals = collect_cookies(st, 16)
    assert all(len(ms) == 1 for ms in vals.values()), "one value for several members: %s" % vals
    assert len(vals) == 2, "expected one value per member: %s" % vals
    assert {next(iter(ms)) for ms in vals.values()} == {st.net.member(1), st.net.member(2)}


def test_cookie_pins_member_and_is_not_reissued(make_stack):
    st = stack2(make_stack, "cookie")
    vals = {next(iter(ms)): v for v, ms in collect_cookies(st, 12).items()}
    for member, value in vals.items():
        for i in range(6):
            with st.client() as c:
                r = c.request("GET", "/echo?i=%d" % i,
                              headers=[("Cookie", "a=1; MS-WSMAN=%s; b=2" % value)])
            assert r.status == 200
            assert r.json()["listen"].split(":")[0] == member
            assert ws_cookie(r) is None, "cookie re-issued to a client that had a valid one"
            # cookies pass untouched
            assert harness.get_all(harness.hdrs_of(r.json()), "cookie") == ["a=1; MS-WSMAN=%s; b=2" % value]


def test_cookie_affinity_over_tls(make_stack):
    st = stack2(make_stack, "cookie", tls=True)
    vals = {next(iter(ms)): v for v, ms in collect_cookies(st, 8, tls=True).items()}
    assert len(vals) == 2
    for member, value in vals.items():
        with st.tls_client() as c:
            for i in range(4):
                r = c.request("GET", "/echo", headers=[("Cookie", "MS-WSMAN=" + value)])
                assert r.json()["listen"] == member + ":4443"


@pytest.mark.parametrize("bad", ["zzzzzzzz", "1234", "0123456789", "00000000", ""])
def test_invalid_or_unknown_cookie_gets_a_new_one(make_stack, bad):
    st = stack2(make_stack, "cookie")
    r = st.request("GET", "/echo", headers=[("Cookie", "MS-WSMAN=" + bad)])
    assert r.status == 200
    m = COOKIE_RE.match(ws_cookie(r) or "")
    assert m and m.group(1) != bad


def test_cookie_added_next_to_the_pools_cookies(make_stack):
    st = stack2(make_stack, "cookie")
    r = st.request("GET", "/lynchdrs")
    cookies = r.header_all("Set-Cookie")
    assert "MRHSession=8b3a1f0c2d; path=/; secure" in cookies
    assert "cwt_ucwa=AAEAAHAEmkE; path=/ucwa; secure; HttpOnly" in cookies
    assert len([c for c in cookies if c.startswith("MS-WSMAN=")]) == 1


def test_cookie_for_down_member_falls_back_with_new_cookie(make_stack):
    st = stack2(make_stack, "cookie")
    vals = {next(iter(ms)): v for v, ms in collect_cookies(st, 12).items()}
    m1, m2 = st.net.member(1), st.net.member(2)
    st.mocks[m2].kill()
    for i in range(4):
        r = st.request("GET", "/echo?after-kill=%d" % i, headers=[("Cookie", "MS-WSMAN=" + vals[m2])])
        assert r.status == 200, r
        assert r.json()["listen"].split(":")[0] == m1
        m = COOKIE_RE.match(ws_cookie(r) or "")
        assert m and m.group(1) == vals[m1], "fallback without a cookie naming the new member: %r" % r.headers
    # the new cookie pins to m1
    r = st.request("GET", "/echo", headers=[("Cookie", "MS-WSMAN=" + vals[m1])])
    assert r.json()["listen"].split(":")[0] == m1 and ws_cookie(r) is None


def test_cookie_values_agree_across_instances(make_stack, tmp_path):
    """A second instance with the same configuration (another port) names the members the
    same way, so a cookie from one instance pins on the other."""
    st = stack2(make_stack, "cookie")
    vals = collect_cookies(st, 8)
    other = harness.Portico(str(tmp_path / "other"),
                            harness.render_config(st.net, st.pools, "off", st.pki, http_port=81))
    other.start()
    try:
        for value, members in vals.items():
            for _ in range(3):
                with Client(st.net.ext, 81, st.net.client) as c:
                    r = c.request("GET", "/echo", headers=[("Cookie", "MS-WSMAN=" + value)])
                assert r.json()["listen"].split(":")[0] in members
                assert ws_cookie(r) is None
    finally:
        rc = other.stop()
    assert rc == 0, other.stderr()
    assert other.sanitizer_report() is None, other.sanitizer_report()
