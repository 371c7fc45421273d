"""TLS 1.3 connections handed over from OpenSSL to portico's own records at their first quiet
moment ([proxy] tls_handover, docs/configuration.md#waiting-connections-tls_handover): client
and member connections go on carrying requests, bodies both ways and long polls after the
handover; a client's KeyUpdate is answered; TLS 1.2 stays with OpenSSL; `off` hands nothing
over. /metrics counts the handovers."""

import hashlib
import re
import select
import subprocess
import time

import harness
import mockpool
from harness import Pool


def stack(make_stack, **proxy):
    net = harness.Net.alloc()
    port = harness.free_port()
    pools = [Pool("fe", [net.member(1)], harness.DEFAULT_NAMES, http="forward",
                  health_interval=3600)]
    st = make_stack(net=net, pools=pools, https_port=443, admin="127.0.0.1:%d" % port, **proxy)
    st.admin_port = port
    return st


def handovers(st, side):
    text = harness.admin_get(st.admin_port, "/metrics")
    m = re.search(r'^portico_tls_handovers_total\{side="%s"\} (\d+)$' % side, text, re.M)
    assert m, "no handover series for %s" % side
    return int(m.group(1))


def wait_handovers(st, side, n, timeout=5.0):
    deadline = time.monotonic() + timeout * harness.SLOW
    while handovers(st, side) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return handovers(st, side)


def test_connections_carry_on_after_the_handover(make_stack):
    st = stack(make_stack)
    n = 3 << 20
    body = mockpool.pattern_bytes(n)
    with st.tls_client() as c:
        assert c.request("GET", "/echo").status == 200
        assert wait_handovers(st, "client", 1) == 1
        assert wait_handovers(st, "pool", 1) == 1
        for i in range(5):          # keep-alive requests on both handed-over connections
            r = c.request("GET", "/echo?i=%d" % i)
            assert r.status == 200 and r.json()["target"] == "/echo?i=%d" % i
        h = hashlib.sha256()
        r = c.request("GET", "/big?bytes=%d" % n, sink=h.update)
        assert r.status == 200 and r.body_len == n and h.hexdigest() == mockpool.pattern_sha256(n)
        d = c.request("POST", "/upload", body=body).json()
        assert d["body_len"] == n and d["body_sha256"] == mockpool.pattern_sha256(n)
        r = c.request("GET", "/big?bytes=%d&chunked=1" % n, sink=lambda mv: None)
        assert r.status == 200 and r.body_len == n
    # one connection each way: nothing was handed over twice, nothing opened again
    assert handovers(st, "client") == 1 and handovers(st, "pool") == 1


def test_long_poll_waits_on_handed_over_connections(make_stack):
    st = stack(make_stack)
    with st.tls_client() as c:
        assert c.request("GET", "/echo").status == 200
        t0 = time.monotonic()
        r = c.request("GET", "/longpoll?secs=2")
        assert r.status == 200 and r.json()["held"] == 2.0 and time.monotonic() - t0 >= 1.9
        assert c.request("GET", "/echo").status == 200
    assert handovers(st, "client") == 1 and handovers(st, "pool") >= 1


def read_until(proc, pattern, timeout):
    """Reads the s_client's output until PATTERN (bytes regex) has matched; returns it all."""
    out = b""
    deadline = time.monotonic() + timeout * harness.SLOW
    while not re.search(pattern, out, re.S) and time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], 0.1)
        if r:
            chunk = proc.stdout.read1(65536)
            if not chunk:
                break
            out += chunk
    return out


def test_client_key_update_is_answered(make_stack):
    """openssl s_client's `K` command sends a KeyUpdate asking for ours (RFC 8446 §4.6.3): the
    records take the client's new key and answer with their own; the next response is read
    with it."""
    st = stack(make_stack)
    args = harness.s_client_args(st.net.ext, 443, "webext.contoso.com",
                                 ["-CAfile", st.pki.public_ca_pem, "-crlf", "-tls1_3"])
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        req = b"GET /echo?n=%d HTTP/1.1\nHost: webext.contoso.com\n\n"
        p.stdin.write(req % 1)
        p.stdin.flush()
        out = read_until(p, rb"HTTP/1.1 200.*?\}", 10)
        assert b"/echo?n=1" in out, out[-2000:]
        assert wait_handovers(st, "client", 1) == 1
        for n, cmd in ((2, b"K\n"), (3, b"k\n")):    # update_requested, then not requested
            # s_client takes a whole read of its stdin as the command: one write each
            p.stdin.write(cmd)
            p.stdin.flush()
            assert b"KEYUPDATE" in read_until(p, rb"KEYUPDATE", 10)
            p.stdin.write(req % n)
            p.stdin.flush()
            out = read_until(p, rb"/echo\?n=%d.*?\}" % n, 10)
            assert b"/echo?n=%d" % n in out, out[-2000:]
    finally:
        p.kill()
        p.wait()


def test_tls12_client_stays_with_openssl(make_stack):
    st = stack(make_stack)
    ctx = harness.tls_context(st.pki, max_version="1.2")
    with st.tls_client(ctx=ctx) as c:
        for i in range(3):
            assert c.request("GET", "/echo?i=%d" % i).status == 200
        assert c.sock.version() == "TLSv1.2"
    assert handovers(st, "client") == 0
    assert handovers(st, "pool") == 1   # the member connection is TLS 1.3


def test_handover_off(make_stack):
    st = stack(make_stack, tls_handover="off")
    with st.tls_client() as c:
        for i in range(3):
            assert c.request("GET", "/echo?i=%d" % i).status == 200
        r = c.request("GET", "/big?bytes=%d" % (1 << 20), sink=lambda mv: None)
        assert r.status == 200 and r.body_len == 1 << 20
    assert handovers(st, "client") == 0 and handovers(st, "pool") == 0
