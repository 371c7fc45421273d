"""Active health checks and failing members (SPEC §3; issue 3): every health_interval seconds,
per worker, a TLS handshake with verification on each member's HTTPS port (name: verify_name,
else the pool's first non-wildcard published name), then a TCP connection to its HTTP port;
health_fall failures mark it down, health_rise successes up, both logged; the balancer skips
down members, and a passing check ends a passive mark-down. Plus a member dying under load."""

import re
import threading
import time

import pytest

import harness
from harness import Pool

FAST = dict(health_interval=0.5, health_fall=2, health_rise=2)


def stack2(make_stack, tls=True, pool_opts=None, names=None, **kw):
    net = harness.Net.alloc()
    opts = dict(FAST)
    opts.update(pool_opts or {})
    pools = [Pool("fe", [net.member(1), net.member(2)], names or harness.DEFAULT_NAMES, http="forward",
                  **opts)]
    if tls:
        kw.setdefault("https_port", 443)
    return make_stack(net=net, members=[net.member(1), net.member(2)], pools=pools, split_mocks=True, **kw)


def state_lines(st, member, state, start=0, timeout=8.0):
    """Waits for the 'is down'/'is up' line of member from every worker."""
    rx = r"pool fe: member %s is %s \(health check, worker (\d+)\)" % (re.escape(member), state)
    deadline = time.monotonic() + timeout * harness.SLOW
    while True:
        lines = [l for l in st.portico.stderr_lines[start:] if re.search(rx, l)]
        workers = {re.search(rx, l).group(1) for l in lines}
        if len(workers) >= harness.WORKERS or time.monotonic() > deadline:
            return lines, workers


def members_served(st, n, tls=True):
    """Statuses and members of n requests over one client connection."""
    out = []
    with (st.tls_client() if tls else st.client()) as c:
        for i in range(n):
            r = c.request("GET", "/echo?hc=%d" % i)
            out.append((r.status, r.json()["listen"].split(":")[0] if r.status == 200 else None))
    return out


def test_stopped_member_marked_down_skipped_and_back_up(make_stack):
    st = stack2(make_stack)
    m1, m2 = st.net.member(1), st.net.member(2)
    assert {m for _, m in members_served(st, 4)} == {m1, m2}
    mark = len(st.portico.stderr_lines)
    st.mocks[m2].stop()
    lines, workers = state_lines(st, m2, "down", mark)
    assert len(workers) == harness.WORKERS, "down not logged by every worker:\n" + st.portico.stderr()
    assert re.search(r"is down \(health check, worker \d+\): \S", lines[0]), lines[0]
    before = len(st.portico.stderr_lines)
    got = members_served(st, 20) + members_served(st, 20, tls=False)
    assert all(s == 200 and m == m1 for s, m in got), got
    # the balancer skipped m2: nothing even tried to connect to it (no passive mark-down)
    tried = [l for l in st.portico.stderr_lines[before:] if m2 in l and "health check" not in l]
    assert not tried, "requests still tried the down member:\n" + "\n".join(tried)
    mark = len(st.portico.stderr_lines)
    st.mocks[m2].start()
    lines, workers = state_lines(st, m2, "up", mark)
    assert len(workers) == harness.WORKERS, "up not logged by every worker:\n" + st.portico.stderr()
    assert {m for _, m in members_served(st, 4)} == {m1, m2}


def test_member_with_bad_certificate_marked_down_then_up(make_stack, pki):
    """A member that answers TLS with an untrusted certificate: before the checks notice,
    requests to it would be 502s; once it is down, every request goes to the other one."""
    st = stack2(make_stack)
    m1, m2 = st.net.member(1), st.net.member(2)
    bad = st.mocks[m2]
    mark = len(st.portico.stderr_lines)
    bad.stop()
    bad.cert = pki.pair("pool-untrusted")
    bad.start()
    lines, workers = state_lines(st, m2, "down", mark)
    assert len(workers) == harness.WORKERS, st.portico.stderr()
    assert any(re.search(r"certif|verif|issuer", l, re.I) for l in lines), lines
    got = members_served(st, 20)
    assert all(s == 200 and m == m1 for s, m in got), got
    mark = len(st.portico.stderr_lines)
    bad.stop()
    bad.cert = None
    bad.start()
    lines, workers = state_lines(st, m2, "up", mark)
    assert len(workers) == harness.WORKERS, st.portico.stderr()
    assert {m for _, m in members_served(st, 6)} == {m1, m2}


def test_http_port_checked_too(make_stack):
    """A member whose HTTPS port works but whose HTTP port (8080) refuses is down."""
    st = stack2(make_stack)
    m2 = st.net.member(2)
    mock = st.mocks[m2]
    mark = len(st.portico.stderr_lines)
    mock.stop()
    mock.listens = [(m2, 4443, True)]
    mock.start()
    lines, workers = state_lines(st, m2, "down", mark)
    assert len(workers) == harness.WORKERS, st.portico.stderr()
    assert any(re.search(r"refused", l, re.I) for l in lines), lines


def test_down_member_every_member_down_502(make_stack):
    st = stack2(make_stack)
    mark = len(st.portico.stderr_lines)
    for m in st.all_mocks():
        m.stop()
    for member in (st.net.member(1), st.net.member(2)):
        _, workers = state_lines(st, member, "down", mark)
        assert len(workers) == harness.WORKERS
    assert st.tls_request().status == 502
    assert st.request().status == 502


@pytest.mark.parametrize("names,ok", [
    (["*.contoso.com", "pool.fabrikam.local", "webext.contoso.com"], True),   # first exact name
    (["webext.contoso.com", "pool.fabrikam.local"], False),
])
def test_check_name_is_first_published_name(make_stack, pki, names, ok):
    """Both members serve a certificate for pool.fabrikam.local only: the check passes when
    that is the pool's first non-wildcard published name, fails otherwise."""
    st = stack2(make_stack, names=names, mock_cert=pki.pair("pool-wrongname"))
    lines, _ = state_lines(st, st.net.member(1), "down", 0, timeout=2.5 if ok else 8.0)
    if ok:
        assert not lines, "\n".join(lines)
    else:
        assert lines and re.search(r"hostname mismatch|certificate", lines[0]), st.portico.stderr()


def test_check_name_is_verify_name(make_stack, pki):
    st = stack2(make_stack, pool_opts={"verify_name": "pool.fabrikam.local"},
                mock_cert=pki.pair("pool-wrongname"))
    lines, _ = state_lines(st, st.net.member(1), "down", 0, timeout=2.5)
    assert not lines, "\n".join(lines)
    assert st.tls_request().status == 200


def test_passive_mark_down_cleared_by_passing_check(make_stack):
    """A member that refused a connection is skipped for 2 x health_interval (4 s here); once
    it is back, the next passing check (at most 2 s later) ends the mark-down early. One
    keep-alive client connection, so that everything happens in one worker."""
    st = stack2(make_stack, tls=False, pool_opts={"health_interval": 2, "health_fall": 3, "health_rise": 1})
    m1, m2 = st.net.member(1), st.net.member(2)
    mock = st.mocks[m2]
    with st.client() as c:
        mock.stop()
        for i in range(4):                          # round-robin reaches m2, which refuses
            r = c.request("GET", "/echo?p=%d" % i)
            assert r.status == 200 and r.json()["listen"].startswith(m1 + ":")
        assert st.portico.wait_stderr(r"member %s .*marked down for 4 s" % re.escape(m2), timeout=2)
        t_mark = time.monotonic()
        mock.start()
        while True:
            r = c.request("GET", "/echo?back")
            assert r.status == 200
            if r.json()["listen"].startswith(m2 + ":"):
                break
            assert time.monotonic() - t_mark < 6 * harness.SLOW, "m2 never came back"
            time.sleep(0.1)
        took = time.monotonic() - t_mark
    assert took < 3.6, "m2 came back after %.1f s: the passing check did not end the mark-down" % took


@pytest.mark.parametrize("tls", [True, False], ids=["https", "http"])
def test_member_killed_under_load(make_stack, tls):
    """300 requests from 4 clients; member 2 is SIGKILLed after 100. Only requests in flight
    on it at that moment may fail (at most one per client), never a later one."""
    st = stack2(make_stack)
    m1, m2 = st.net.member(1), st.net.member(2)
    total, nthreads = 300, 4
    lock = threading.Lock()
    results = []                      # (t, status, member)
    count = [0]
    killed = threading.Event()
    t_kill = [None]

    def client(k):
        c = None
        while True:
            with lock:
                if count[0] >= total:
                    break
                count[0] += 1
                n = count[0]
            if n == 100 and not killed.is_set():
                t_kill[0] = time.monotonic()
                st.mocks[m2].kill()
                killed.set()
            try:
                if c is None:
                    c = st.tls_client() if tls else st.client()
                r = c.request("GET", "/longpoll?secs=0.02&load=%d" % n)    # ~1.5 s in all
                member = r.json()["listen"].split(":")[0] if r.status == 200 else None
                with lock:
                    results.append((time.monotonic(), r.status, member))
                if r.header("Connection") == "close":
                    c.close()
                    c = None
            except (OSError, EOFError, harness.ProtocolError) as e:
                with lock:
                    results.append((time.monotonic(), "error: %r" % e, None))
                if c:
                    c.close()
                c = None
        if c:
            c.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == total
    bad = [(t - t_kill[0], s) for t, s, _ in results if s != 200]
    assert len(bad) <= nthreads, "failures: %r" % bad
    assert all(-0.5 < dt < 2.0 * harness.SLOW for dt, _ in bad), "failures long after the kill: %r" % bad
    assert all(isinstance(s, str) or 500 <= s < 600 for _, s in bad)
    late = [m for t, s, m in results if s == 200 and t > t_kill[0] + 0.3]
    assert late and set(late) == {m1}, "after the kill: %s" % set(late)
    early = {m for t, s, m in results if s == 200 and t < t_kill[0]}
    assert early == {m1, m2}
