"""Regressions for the defects a code audit found (issue 11): names from the wire, two CPU
spins, pinned connections per client, 1xx to HTTP/1.0, empty lines before a request, repeated
log lines, and pinning that fails closed. Each test failed against the binary before its fix."""

import os
import socket
import ssl
import threading
import time

import pytest

import harness
from harness import Pool, build_request, unique
from mockpool import auth_token

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """User + system CPU seconds of the processes pids (from /proc/PID/stat)."""
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])    # utime, stime (fields 14 and 15)
    return total / CLK_TCK


def wildcard_stack(make_stack, **kw):
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], ["*.contoso.com"], **kw.pop("pool_opts", {}))]
    return make_stack(net=net, pools=pools, https_port=443, **kw)


# ---- 1. names from the wire ----------------------------------------------------------------

SMUGGLE_SNI = "x\r\n\r\nGET /smuggled\r\n\r\nfoo.contoso.com"


@pytest.mark.parametrize("sni", [SMUGGLE_SNI, "a b.contoso.com", "foo.contoso.com:443"],
                         ids=["crlf", "space", "port"])
def test_bad_sni_refused_and_never_forwarded(make_stack, sni):
    st = wildcard_stack(make_stack, pool_opts={"verify_name": "fe01.contoso.local"})
    req = build_request("GET", "/echo?" + unique(), host=None, version="HTTP/1.0")
    answer = None
    try:
        with st.tls_client(sni=sni) as c:
            c.send(req)
            answer = harness.read_bad_response(c)
    except (ssl.SSLError, ConnectionError, EOFError):
        answer = None                      # refused in the handshake: what we want
    assert answer is None or answer.status == 400, answer
    assert not st.mock.saw(b"/smuggled")
    assert not st.mock.requests(), "a request with a bad server name reached the pool"
    # The same request with a good SNI is routed by it (HTTP/1.0 without Host).
    with st.tls_client(sni="meet.contoso.com") as c:
        c.send(req)
        r = c.read_response()
    assert r.status == 200 and r.json()["sni"] == "meet.contoso.com"


# ---- 2. the member answers an upload early and closes ----------------------------------------

def test_early_answer_to_upload_no_spin(make_stack):
    st = make_stack()
    total = 100 << 20
    c = st.client()
    c.send(build_request("POST", "/early413", headers=[("Content-Length", str(total)),
                                                       ("Content-Type", "application/octet-stream")]))
    c.send(b"\0" * 65536)
    r = c.read_response("POST")
    assert r.status == 413, r
    assert st.mock.wait_event(lambda e: e["ev"] == "early413")
    # The client keeps sending (bounded: about 6 MB over 3 s) while we watch the worker.
    stop = threading.Event()
    sent = [0]

    def sender():
        try:
            while not stop.is_set() and sent[0] < 8 << 20:
                c.sock.sendall(b"\0" * 65536)
                sent[0] += 65536
                time.sleep(0.03)
        except OSError:
            pass

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    pids = st.portico.worker_pids()
    before = cpu_seconds(pids)
    time.sleep(3.0)
    used = cpu_seconds(pids) - before
    stop.set()
    t.join(5)
    # Before the fix: ~3 s (a sendmsg loop on the dead socket). After: the body is discarded.
    print("worker CPU over 3 s after the early answer: %.2f s" % used)
    assert used < 1.0 * harness.SLOW, "worker used %.2f s of CPU in 3 s" % used
    assert r.header("Connection") == "close", r     # the body cannot go on: neither can we
    # The response was complete and the connection closes (lingering close, 2 s at most).
    assert c.wait_closed(10.0), "the client connection stayed open"
    c.close()


# ---- 3. a pipelined request behind a pending response ----------------------------------------

def test_pipelined_big_head_behind_long_poll_no_spin(make_stack):
    st = make_stack()
    c = st.client()
    tok = unique()
    big = [("X-Big", "b" * 30000)]
    c.send(build_request("GET", "/longpoll?secs=4&t=" + tok) +
           build_request("GET", "/echo?after=" + tok, headers=big))
    assert st.mock.wait_request("/longpoll?secs=4&t=" + tok)
    pids = st.portico.worker_pids()
    before = cpu_seconds(pids)
    time.sleep(2.5)
    used = cpu_seconds(pids) - before
    print("worker CPU over 2.5 s behind a long poll: %.2f s" % used)
    assert used < 0.5 * harness.SLOW, "worker used %.2f s of CPU in 2.5 s while waiting" % used
    r1 = c.read_response()
    r2 = c.read_response()
    assert r1.status == 200 and r1.json()["held"] == 4.0
    assert r2.status == 200 and r2.json()["target"] == "/echo?after=" + tok
    c.close()


# ---- 4. pinned connections per client connection ---------------------------------------------

def test_max_pinned_per_client(make_stack):
    st = wildcard_stack(make_stack)        # max_pinned_per_client: 8 by default
    names = ["n%d.contoso.com" % i for i in range(14)]
    with st.tls_client() as c:
        for name in names:
            r = c.request("GET", "/ntlm", name, [("Authorization", "NTLM " + auth_token(1, "alice"))])
            assert r.status == 401, r
        opened = [e["conn"] for e in st.mock.events() if e["ev"] == "open"]
        assert len(opened) == len(names)

        def open_now():
            ev = st.mock.events()
            closed = {e["conn"] for e in ev if e["ev"] == "close"}
            return [s for s in opened if s not in closed]

        deadline = time.monotonic() + 5 * harness.SLOW
        while len(open_now()) > 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        left = open_now()
        assert len(left) == 8, "%d member connections still held by one client" % len(left)
        # The newest eight stay: the last name completes its handshake on its connection.
        r = c.request("GET", "/ntlm", names[-1], [("Authorization", "NTLM " + auth_token(1, "alice"))])
        assert r.status == 401 and r.json()["conn"] in left


def test_max_pinned_per_client_checked(tmp_path):
    conf = tmp_path / "p.conf"
    base = "[proxy]\nexternal = 127.0.0.1\ninternal = 127.0.0.2\nhttps_port = off\n" \
           "max_pinned_per_client = %s\n\n[pool fe]\nservers = 127.0.0.3\n" \
           "publish = webext.contoso.com\n"
    conf.write_text(base % "0")
    out = harness.run_portico(["-t", "-c", str(conf)])
    assert out.returncode != 0 and "%s:5:" % conf in out.stderr, out.stderr
    conf.write_text(base % "16")
    out = harness.run_portico(["-t", "-c", str(conf)])
    assert out.returncode == 0, out.stderr


# ---- 5. no interim response to an HTTP/1.0 client --------------------------------------------

@pytest.mark.parametrize("target", ["/status/103", "/interim?code=102"])
def test_no_1xx_to_http10(make_stack, target):
    st = make_stack()
    with st.client() as c:
        c.send(build_request("GET", target, version="HTTP/1.0"))
        r = c.read_response()
        assert r.interim == [] and r.status == 200, (r.interim, r)
        assert r.head_raw.startswith(b"HTTP/1.1 200 "), r.head_raw[:40]
    with st.client() as c:                 # HTTP/1.1 still gets it
        r = c.request("GET", target)
        assert r.interim and r.status == 200


# ---- 6. empty lines before a request line ------------------------------------------------------

def test_empty_lines_before_request_ignored(make_stack):
    st = make_stack()
    with st.client() as c:
        c.send(b"\r\n" + build_request("POST", "/echo", body=b"hello") + b"\r\n")
        assert c.read_response("POST").status == 200
        r = c.request("GET", "/echo?second")
        assert r.status == 200 and r.json()["target"] == "/echo?second"
        c.send(b"\r\n\r\n\r\n\r\n" + build_request("GET", "/echo?third"))
        assert c.read_response().status == 200
    with st.client() as c:                 # five is too many
        c.send(b"\r\n" * 5 + build_request("GET", "/echo?canary"))
        r = harness.read_bad_response(c)
        assert r is not None and r.status == 400
    assert not st.mock.saw(b"canary")


# ---- 9. repeated log lines ---------------------------------------------------------------------

def test_no_member_available_rate_limited(make_stack):
    net = harness.Net.alloc()
    st = make_stack(net=net, members=[net.member(1)], mock_ips=[])
    for _ in range(60):
        with st.client() as c:
            assert c.request("GET", "/echo").status == 502
    time.sleep(0.2)
    lines = [l for l in st.portico.stderr_lines if "no member available" in l]
    assert 1 <= len(lines) <= 3 * harness.WORKERS, lines


# ---- fail-closed pinning -----------------------------------------------------------------------

BINDING = [
    ("Authorization", "Kerberos YIIBzgYJKoZIhvcSAQICAQBu"),
    ("Authorization", "NTLM\tTlRMTVNTUAABAAAAB4IIog=="),
    ("Authorization", "X-Unknown-Scheme abc"),
    ("X-Who", "persistent-auth"),
    ("X-Who", "www-authenticate-kerberos"),
]


@pytest.mark.parametrize("first", BINDING, ids=["kerberos", "ntlm-tab", "unknown", "persistent",
                                                "challenge"])
def test_connection_bound_to_first_credentials_never_shared(make_stack, first):
    st = make_stack()
    target = "/bind-first"
    if first[1] == "persistent-auth":
        target += "?persist=1"
    elif first[1] == "www-authenticate-kerberos":
        target += "?challenge=Kerberos"
    owner = st.client()
    r = owner.request("GET", target, headers=[first])
    assert r.status == 200 and r.json()["bound"] == first[1]
    bound_conn = r.json()["conn"]
    # Other clients, at once and later, never get the owner's member connection.
    seen = []

    def other(n):
        with st.client() as c:
            for _ in range(n):
                seen.append(c.request("GET", "/bind-first", headers=[("X-Who", "bob")]).json())

    threads = [threading.Thread(target=other, args=(5,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    other(5)
    assert len(seen) == 25
    assert all(d["conn"] != bound_conn and d["bound"] != first[1] for d in seen), \
        [d for d in seen if d["conn"] == bound_conn][:2]
    # The owner keeps its connection.
    r = owner.request("GET", "/bind-first")
    assert r.json()["conn"] == bound_conn and r.json()["bound"] == first[1]
    owner.close()


def test_basic_and_bearer_connections_are_shared(make_stack):
    """The inverse: request-bound schemes do not pin (a member connection serves the next
    client connection; with several workers, each worker keeps its own)."""
    st = make_stack()
    conns = []
    for i in range(6):
        with st.client() as c:
            auth = "Bearer cwt=AAEB" if i % 2 else "Basic dXNlcjpwYXNz"
            conns.append(c.request("GET", "/echo", headers=[("Authorization", auth)]).json()["conn"])
    assert len(set(conns)) <= harness.WORKERS, conns
