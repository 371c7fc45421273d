"""NTLM / Negotiate connection pinning (SPEC §1; issue 3). The mock keeps authentication state
per TCP connection, as IIS does (mockpool.Handler.ntlm): a type 3 token is accepted only on the
connection that issued the challenge, and an authenticated connection serves later requests
without credentials. So a proxy that hands an upstream connection to the wrong client, or
balances the legs of a handshake over several connections, fails these tests visibly."""

import time

import pytest

import harness
from harness import build_request, unique
from mockpool import auth_token, challenge_of


def two_member_stack(make_stack, tls=True, **kw):
    net = harness.Net.alloc()
    if tls:
        kw.setdefault("https_port", 443)
    return make_stack(net=net, members=[net.member(1), net.member(2)], **kw)


def connect(st, tls):
    return st.tls_client() if tls else st.client()


def leg(c, scheme, token=None, target="/abs/handler"):
    hs = [("Authorization", "%s %s" % (scheme, token))] if token else []
    return c.request("GET", target, "webext.contoso.com", hs)


def handshake(c, scheme, user, target="/abs/handler"):
    """Three legs on client connection c; returns the final response."""
    r0 = leg(c, scheme, target=target)
    assert r0.status == 401 and scheme in r0.header_all("WWW-Authenticate"), r0
    r1 = leg(c, scheme, auth_token(1, user), target)
    assert r1.status == 401, r1
    challenge = challenge_of(r1.header("WWW-Authenticate"))
    assert challenge
    return leg(c, scheme, auth_token(3, user, challenge), target)


@pytest.mark.parametrize("scheme", ["NTLM", "Negotiate"])
@pytest.mark.parametrize("tls", [True, False], ids=["https", "http"])
def test_two_clients_interleave_handshakes(make_stack, scheme, tls):
    st = two_member_stack(make_stack, tls)
    a, b = connect(st, tls), connect(st, tls)
    try:
        # leg 0: anonymous, both get the offer
        for c in (a, b):
            r = leg(c, scheme)
            assert r.status == 401 and scheme in r.header_all("WWW-Authenticate")
        # leg 1, interleaved
        ra = leg(a, scheme, auth_token(1, "alice"))
        rb = leg(b, scheme, auth_token(1, "bob"))
        assert ra.status == rb.status == 401
        ca, cb = challenge_of(ra.header("WWW-Authenticate")), challenge_of(rb.header("WWW-Authenticate"))
        assert ca and cb and ca != cb
        # leg 2 (type 3), in the other order
        rb = leg(b, scheme, auth_token(3, "bob", cb))
        ra = leg(a, scheme, auth_token(3, "alice", ca))
        assert ra.status == 200, "alice's third leg went to another connection: %r %r" % (ra, ra.body)
        assert rb.status == 200, "bob's third leg went to another connection: %r %r" % (rb, rb.body)
        assert ra.json()["user"] == "alice" and rb.json()["user"] == "bob"
        conn_a, conn_b = ra.json()["conn"], rb.json()["conn"]
        assert (ra.json()["listen"], conn_a) != (rb.json()["listen"], conn_b)
        if scheme == "Negotiate":
            assert ra.header("WWW-Authenticate").startswith("Negotiate ")   # mutual auth relayed
        # later requests without credentials: each on its own authenticated connection
        for _ in range(3):
            da, db = leg(a, scheme).json(), leg(b, scheme).json()
            assert da["user"] == "alice" and da["conn"] == conn_a
            assert db["user"] == "bob" and db["conn"] == conn_b
        # a third client without credentials never gets someone else's session
        for _ in range(3):
            with connect(st, tls) as c:
                r = leg(c, scheme)
                assert r.status == 401, "an anonymous client was served as %r" % r.body
    finally:
        a.close()
        b.close()


def test_third_leg_from_another_client_connection_fails(make_stack):
    """The challenge was issued on alice's connection; sending the answer on another client
    connection must reach another upstream connection: 401."""
    st = two_member_stack(make_stack)
    with st.tls_client() as a:
        assert leg(a, "NTLM").status == 401
        r1 = leg(a, "NTLM", auth_token(1, "alice"))
        challenge = challenge_of(r1.header("WWW-Authenticate"))
        with st.tls_client() as other:
            r = leg(other, "NTLM", auth_token(3, "alice", challenge))
            assert r.status == 401, "the third leg was accepted on another client's connection"
            assert r.json()["conn"] != r1.json()["conn"] or r.json()["listen"] != r1.json()["listen"]


def test_pinned_client_stays_on_its_member_with_round_robin(make_stack):
    st = two_member_stack(make_stack)
    # round-robin works for anonymous clients (so that pinning is what keeps alice in place)
    with st.tls_client() as c:
        seen = {c.request("GET", "/echo?rr=%d" % i).json()["listen"] for i in range(4)}
    assert len(seen) == 2, seen
    with st.tls_client() as a:
        r = handshake(a, "NTLM", "alice")
        assert r.status == 200
        home = (r.json()["listen"], r.json()["conn"])
        for i in range(10):
            target = "/abs/handler?i=%d" % i if i % 2 else "/echo?i=%d" % i
            d = a.request("GET", target).json()
            assert (d["listen"], d["conn"]) == home, "request %d left the pinned connection" % i
            if i % 2:
                assert d["user"] == "alice"


def test_pinning_by_request_authorization_alone(make_stack):
    """The client's Authorization: NTLM pins even if the answer carries no WWW-Authenticate."""
    st = two_member_stack(make_stack)
    with st.tls_client() as c:
        d0 = c.request("GET", "/echo", headers=[("Authorization", "NTLM " + auth_token(1, "carol"))]).json()
        assert harness.get_all(harness.hdrs_of(d0), "authorization") == ["NTLM " + auth_token(1, "carol")]
        for i in range(6):
            d = c.request("GET", "/echo?i=%d" % i).json()
            assert (d["listen"], d["conn"]) == (d0["listen"], d0["conn"])


def test_other_tls_name_is_balanced_and_pin_kept(make_stack):
    """A request for another Host (another TLS name) does not use the pinned connection. Then
    the pinned name again: served as alice on her connection, or (if the proxy gave up her
    connection) the client connection closed: never an open client connection whose
    authenticated upstream connection silently became another one."""
    st = two_member_stack(make_stack)
    with st.tls_client("webext.contoso.com") as a:
        r = handshake(a, "NTLM", "alice")
        home = (r.json()["listen"], r.json()["conn"])
        other = a.request("GET", "/abs/handler", "meet.contoso.com")
        assert other.status == 401                 # meet's connection is not authenticated
        assert (other.json()["listen"], other.json()["conn"]) != home
        try:
            a.send(build_request("GET", "/abs/handler", "webext.contoso.com"))
            r2 = a.read_response()
        except (EOFError, ConnectionResetError, BrokenPipeError):
            return                                   # closed: the client starts over, fine
        d = r2.json()
        assert r2.status == 200 and d.get("user") == "alice", \
            "alice's pinned connection was dropped but her client connection stayed open: %r" % d
        assert (d["listen"], d["conn"]) == home


def test_pinned_connection_never_reused_by_others_after_client_leaves(make_stack):
    st = two_member_stack(make_stack)
    a = st.tls_client()
    r = handshake(a, "NTLM", "alice")
    serial, listen = r.json()["conn"], r.json()["listen"]
    a.close()
    mock = st.mocks[listen.split(":")[0]]
    assert mock.wait_closed(serial, 5), "the pinned upstream connection outlived its client"
    for _ in range(4):
        with st.tls_client() as c:
            assert leg(c, "NTLM").status == 401


def test_pool_closing_pinned_connection_closes_client(make_stack):
    """Connection: close from the pool on the pinned connection: the client gets the response,
    then its connection closes (its next request must authenticate afresh)."""
    st = two_member_stack(make_stack)
    with st.tls_client() as a:
        assert handshake(a, "NTLM", "alice").status == 200
        r = a.request("GET", "/abs/handler?close=1")
        assert r.status == 200 and r.json()["user"] == "alice"
        assert a.wait_closed(5), "client connection left open after its pinned connection closed"


def test_pool_dropping_idle_pinned_connection_closes_client(make_stack):
    st = two_member_stack(make_stack)
    with st.tls_client() as a:
        assert handshake(a, "NTLM", "alice").status == 200
        r = a.request("GET", "/abs/handler?drop_after=0.3")
        assert r.status == 200
        serial, listen = r.json()["conn"], r.json()["listen"]
        assert st.mocks[listen.split(":")[0]].wait_closed(serial, 5)
        assert a.wait_closed(5), "client connection left open after the pool dropped the pinned one"


def test_pinned_request_never_retried(make_stack):
    """The pool closes the pinned connection without answering: no retry on another connection
    (the request reaches the pool once), and the client connection ends."""
    st = two_member_stack(make_stack)
    tok = unique("pinned-stall")
    with st.tls_client() as a:
        assert handshake(a, "NTLM", "alice").status == 200
        a.send(build_request("GET", "/stall?secs=0&tok=" + tok))
        try:
            r = a.read_response()
            assert r.status == 502, r
        except (EOFError, ConnectionResetError):
            pass
        assert a.wait_closed(5)
    time.sleep(0.3)
    hits = [e for m in st.all_mocks() for e in m.requests() if tok in e["target"]]
    assert len(hits) == 1, hits


def test_unauthenticated_connections_are_still_reused(make_stack):
    """Pinning is only for NTLM/Negotiate: plain requests keep sharing idle connections."""
    st = make_stack(https_port=443)
    conns = set()
    for i in range(4):
        with st.tls_client() as c:
            conns.add(c.request("GET", "/echo?i=%d" % i).json()["conn"])
        time.sleep(0.05)
    assert len(conns) <= harness.WORKERS, conns


def test_oauth_bearer_is_not_pinned(make_stack):
    """MsRtcOAuth / Bearer are per request: no pinning, balancing goes on."""
    st = two_member_stack(make_stack)
    with st.tls_client() as c:
        r = c.request("GET", "/Autodiscover/AutodiscoverService.svc/root/oauth/user")
        assert r.status == 401 and r.header("WWW-Authenticate").startswith("MsRtcOAuth")
        seen = set()
        for i in range(4):
            d = c.request("GET", "/echo?i=%d" % i, headers=[("Authorization", "Bearer cwt=AAEB")]).json()
            seen.add(d["listen"])
    assert len(seen) == 2, seen
