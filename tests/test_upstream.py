"""The pool side (SPEC §4): source address, keep-alive and reuse, stale connections, balancing,
failures (502), malformed responses, retries."""

import re
import time

import pytest

import harness
from harness import Pool, build_request, unique


def test_upstream_connections_come_from_internal_address(stack):
    d = stack.request().json()
    assert d["peer"].split(":")[0] == stack.net.internal


def test_two_requests_one_client_connection_one_upstream_connection(stack):
    with stack.client() as c:
        d1 = c.request().json()
        d2 = c.request().json()
    assert d1["conn"] == d2["conn"]
    assert d2["req_on_conn"] == d1["req_on_conn"] + 1


def test_sequential_client_connections_reuse_idle_upstream(stack):
    serials = []
    for i in range(6):
        with stack.client() as c:
            serials.append(c.request("GET", "/echo?seq=%d" % i).json()["conn"])
        time.sleep(0.05)
    assert len(set(serials)) <= harness.WORKERS, \
        "idle upstream connections not reused: %s (workers=%d)" % (serials, harness.WORKERS)


def test_stale_idle_upstream_connection_replaced(stack):
    with stack.client() as c:
        r1 = c.request("GET", "/close-after")
        assert r1.status == 200
        s1 = r1.json()["conn"]
        assert stack.mock.wait_closed(s1, 3)
        time.sleep(0.5)
        r2 = c.request("GET", "/echo?after-stale")
        assert r2.status == 200
        assert r2.json()["conn"] != s1
    # and a fresh client connection too
    for i in range(3):
        assert stack.request("GET", "/echo?fresh=%d" % i).status == 200


def test_stale_connection_after_pool_restart(make_stack, tmp_path):
    """Every idle upstream connection dies at once (the pool restarts): requests still succeed."""
    st = make_stack()
    for i in range(3):
        assert st.request().status == 200
    st.mock.stop()
    st.mock.start()
    time.sleep(0.3)
    for i in range(3):
        r = st.request("GET", "/echo?after-restart=%d" % i)
        assert r.status == 200, r


def two_members(make_stack, members, mock_ips, **kw):
    net = harness.Net.alloc()
    ms = [net.member(i) for i in members]
    return make_stack(net=net, members=ms, mock_ips=[net.member(i) for i in mock_ips], **kw)


def test_round_robin_over_two_members(make_stack):
    st = two_members(make_stack, [1, 2], [1, 2])
    with st.client() as c:
        listens = [c.request("GET", "/echo?rr=%d" % i).json()["listen"] for i in range(4)]
    a, b = st.net.member(1) + ":8080", st.net.member(2) + ":8080"
    assert sorted(listens) == sorted([a, a, b, b]), listens


def test_refusing_member_is_skipped(make_stack):
    st = two_members(make_stack, [1, 3], [1])    # nothing listens on member 3
    for i in range(6):
        r = st.request("GET", "/echo?skip=%d" % i)
        assert r.status == 200, "request %d: %r" % (i, r)
        assert r.json()["listen"] == st.net.member(1) + ":8080"


def test_all_members_down_502_and_logged(make_stack):
    net = harness.Net.alloc()
    st = make_stack(net=net, members=[net.member(1), net.member(2)], mock_ips=[])
    r = st.request()
    assert r.status == 502
    time.sleep(0.2)
    err = st.portico.stderr()
    assert re.search(r"\bfe\b", err) and (net.member(1) in err or net.member(2) in err), \
        "502 must be logged with pool and member:\n" + err


def test_connection_usable_after_502(make_stack):
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], ["webext.contoso.com"], http="forward"),
             Pool("down", [net.member(3)], ["meet.contoso.com"], http="forward")]
    st = make_stack(net=net, mock_ips=[net.member(1)], pools=pools)
    with st.client() as c:
        assert c.request(host="meet.contoso.com").status == 502
        assert c.request(host="webext.contoso.com").status == 200


def test_garbage_response_502(stack):
    r = stack.request("GET", "/garbage")
    assert r.status == 502


@pytest.mark.parametrize("kind", ["two-cl", "cl-list", "cl-te", "bad-status", "no-status-line", "neg-cl",
                                  "obs-fold", "space-colon"])
def test_malformed_response_never_relayed(stack, kind):
    with stack.client() as c:
        r = c.request("GET", "/bad-response?kind=" + kind)
        assert r.status == 502, "kind=%s relayed: %r" % (kind, r)
        assert b"hello" not in r.body


def test_reset_mid_body_closes_client(stack):
    with stack.client() as c:
        c.send(build_request("GET", "/reset-mid"))
        got = bytearray()
        with pytest.raises((EOFError, ConnectionResetError)):
            c.read_response(sink=got.extend)
        assert len(got) < 100000


def test_truncated_response_closes_client(stack):
    with stack.client() as c:
        c.send(build_request("GET", "/bad-response?kind=cl-short"))
        try:
            r = c.read_response()
        except (EOFError, ConnectionResetError):
            return
        # the head may not have been sent yet when the error was seen: then 502 is right
        assert r.status == 502


def test_request_not_retried_once_sent(make_stack):
    """A request whose bytes reached a member is never retried on another."""
    st = two_members(make_stack, [1, 2], [1, 2], timeout_idle=1)
    tok = unique("noretry")
    r = st.request("GET", "/stall?secs=4&tok=" + tok)
    assert r.status == 504
    time.sleep(0.3)
    hits = [e for e in st.mock.requests() if tok in e["target"]]
    assert len(hits) == 1, "request sent %d times: %r" % (len(hits), hits)


def test_post_after_stale_connection_arrives_once(stack):
    body = b"x" * 1000
    with stack.client() as c:
        assert c.request("GET", "/close-after").status == 200
        time.sleep(0.5)
        d = c.request("POST", "/upload", body=body).json()
        assert d["body_len"] == 1000
    tok = "POST /upload"
    assert stack.mock.all_raw().count(tok.encode()) == 1


def test_concurrent_clients(stack):
    clients = [stack.client() for _ in range(50)]
    try:
        for i, c in enumerate(clients):
            c.send(build_request("GET", "/longpoll?secs=0.5&i=%d" % i))
        for i, c in enumerate(clients):
            r = c.read_response()
            assert r.status == 200 and r.json()["target"].endswith("i=%d" % i)
    finally:
        for c in clients:
            c.close()
