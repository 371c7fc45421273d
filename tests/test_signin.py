"""The sign-in defence (docs/signin.md): password spraying and brute force are stopped at the
proxy before Active Directory would lock the account. Mock members speak each channel with a
password table (tests/mockpool.py --passwords): the OAuth password grant of the web ticket
service, and real NTLM AUTHENTICATE messages (whose NT response field carries the password, the
mock's convention). Every attempt that reaches a member is an event, so the tests count exactly
what the pool saw."""
import json
import os
import signal
import statistics
import time
import urllib.parse

import pytest

import harness
import mockpool

PASSWORDS = {"alice": "Winter2026!", "bob": "Summer2026!"}
FAST = {"failure_delay": "0.2"}  # the floor, short for the suite's sake


def signin_stack(make_stack, tmp_path, signin=None, mock_args=(), **kw):
    path = tmp_path / "passwords.json"
    path.write_text(json.dumps(PASSWORDS))
    conf = dict(FAST)
    conf.update(signin or {})
    return make_stack(mock_args=["--passwords", str(path)] + list(mock_args), signin=conf, **kw)


def source(st, i):
    """Client address number I of the stack's own block (127.4k.X.I)."""
    return "127.%d.%d.%d" % (40 + st.net.k, st.net.x, i)


def client(st, i=9):
    return harness.Client(st.net.ext, 80, source(st, i))


def oauth(c, user, password, grant="password"):
    body = urllib.parse.urlencode({"grant_type": grant, "username": user,
                                   "password": password}).encode()
    return c.request("POST", "/WebTicket/oauthtoken", body=body,
                     headers=[("Content-Type", "application/x-www-form-urlencoded")])


def ntlm(c, domain, user, password, path="/abs/handler"):
    tok = mockpool.ntlm3_token(domain, user, password)
    return c.request("GET", path, headers=[("Authorization", "NTLM " + tok)])


def soap(c, user, password):
    return c.request("POST", "/WebTicket/WebTicketService.svc/Auth",
                     body=mockpool.soap_auth(user, password),
                     headers=[("Content-Type", "text/xml; charset=utf-8")])


def pool_attempts(st, channel=None):
    evs = [e for e in st.mock.events() if e.get("ev") == "signin"]
    return [e for e in evs if channel is None or e["channel"] == channel]


def wait_attempts(st, n, timeout=5.0):
    """The mock's events are written as it answers: wait until N are there (bounded)."""
    deadline = time.monotonic() + timeout * harness.SLOW
    while len(pool_attempts(st)) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return pool_attempts(st)


def test_spray_from_one_source_is_stopped(make_stack, tmp_path):
    """One source, 50 users, one password (lyncsmash's spray): the pool sees spray_accounts
    attempts, then the source is refused for every sign-in, with answers that look exactly like
    the pool's failures."""
    st = signin_stack(make_stack, tmp_path)
    users = ["user%02d" % i for i in range(50)]
    statuses, bodies = [], set()
    t0 = time.monotonic()
    locked_at = None
    with client(st) as c:
        for i, u in enumerate(users):
            r = oauth(c, u, "Autumn2026!")
            statuses.append(r.status)
            bodies.add(r.body)
            if locked_at is None and len(pool_attempts(st)) >= 10:
                locked_at = time.monotonic() - t0
    reached = wait_attempts(st, 10)
    assert len(reached) == 10, reached                       # spray_accounts, the default
    assert statuses == [400] * 50
    assert bodies == {b'{"error":"invalid_grant"}'}
    # ... including the right password, once the source is refused.
    with client(st) as c:
        assert oauth(c, "alice", PASSWORDS["alice"]).status == 400
    assert len(pool_attempts(st)) == 10
    assert st.portico.wait_stderr(r"sign-in lockout: source .* from %s" % source(st, 9))
    # Another source is not affected.
    with client(st, 10) as c:
        assert oauth(c, "alice", PASSWORDS["alice"]).status == 200
    print("spray: 51 attempts, %d reached the pool, source locked after %.2f s"
          % (len(pool_attempts(st)) - 1, locked_at or 0))


def test_brute_force_on_one_user_keeps_the_familiar_source(make_stack, tmp_path):
    """Alice signs in from her usual address; an attacker tries her account from 5 sources
    over NTLM and OAuth: the pool sees lockout_threshold failures in all (AD would lock at 5 to
    10), while Alice still signs in from the familiar source."""
    st = signin_stack(make_stack, tmp_path)
    home = 9
    with client(st, home) as c:
        assert ntlm(c, "CONTOSO", "alice", PASSWORDS["alice"]).status == 200
    statuses = []
    for n, src in enumerate(range(20, 25)):
        with client(st, src) as c:
            for k in range(3):
                if (n + k) % 2:
                    statuses.append(ntlm(c, "CONTOSO", "Alice", "guess%d%d" % (n, k)).status)
                else:
                    statuses.append(oauth(c, "alice@contoso.com", "guess%d%d" % (n, k)).status)
    reached = [e for e in wait_attempts(st, 5) if not e["ok"]]
    assert len(reached) == 4, reached                         # lockout_threshold, the default
    assert all(s in (400, 401) for s in statuses) and len(statuses) == 15
    # The familiar source keeps its own allowance.
    with client(st, home) as c:
        assert ntlm(c, "CONTOSO", "alice", PASSWORDS["alice"]).status == 200
        assert oauth(c, "alice", PASSWORDS["alice"]).status == 200
    assert st.portico.wait_stderr(r"sign-in lockout: account alice from")
    print("brute force: 15 attempts from 5 sources, %d failures reached the pool" % len(reached))


def test_anonymous_meeting_join_is_never_counted(make_stack, tmp_path):
    st = signin_stack(make_stack, tmp_path, signin={"spray_accounts": 2, "lockout_threshold": 1})
    with client(st) as c:
        for i in range(12):
            r = oauth(c, "guest%d" % i, "conference-key", grant="urn:microsoft.rtc:anonmeeting")
            assert r.status == 200
    # Still nothing locked: a password attempt from the same source reaches the pool.
    with client(st) as c:
        assert oauth(c, "bob", PASSWORDS["bob"]).status == 200
    assert [e["user"] for e in wait_attempts(st, 1)] == ["bob"]


def test_refusal_looks_like_the_pools_failure(make_stack, tmp_path):
    """Same status, same WWW-Authenticate, same body shape: an attacker cannot tell that
    portico answered instead of the pool."""
    st = signin_stack(make_stack, tmp_path, signin={"lockout_threshold": 1})
    with client(st) as c:
        forwarded = ntlm(c, "CONTOSO", "bob", "wrong1")
        refused = ntlm(c, "CONTOSO", "bob", "wrong2")
    assert forwarded.status == refused.status == 401
    assert forwarded.header_all("WWW-Authenticate") == refused.header_all("WWW-Authenticate") \
        == ["Negotiate", "NTLM"]
    assert len(wait_attempts(st, 1)) == 1
    with client(st) as c:
        forwarded = oauth(c, "alice", "wrong1")
        refused = oauth(c, "alice", "wrong2")
    assert forwarded.status == refused.status == 400
    assert forwarded.body == refused.body == b'{"error":"invalid_grant"}'
    # What describes the pool is learned from its own failure: the same fields, word for word.
    for name in ("X-Ms-diagnostics", "Server"):
        assert refused.header(name) == forwarded.header(name), name
    assert refused.header("X-Mock-Conn") is None             # never a field of one request


def test_a_body_is_replayed_only_once_two_accounts_got_it(make_stack, tmp_path):
    """The pool's failure body is what a refusal carries once two failures for different
    accounts had the same one; a body that names its request (the mock's NTLM 401 names the
    user) is never shown to another client."""
    st = signin_stack(make_stack, tmp_path, signin={"lockout_threshold": 1})
    with client(st) as c:
        f1 = ntlm(c, "CONTOSO", "bob", "wrong1")
        f2 = ntlm(c, "CONTOSO", "carol", "wrong1")
        refused = ntlm(c, "CONTOSO", "bob", "wrong2")
    assert f1.body != f2.body and b"bob" in f1.body
    assert refused.status == 401 and b"bob" not in refused.body and b"carol" not in refused.body
    assert refused.header("Server") == f1.header("Server")
    with client(st, 12) as c:
        o1 = oauth(c, "dave", "wrong1")
        o2 = oauth(c, "erin", "wrong1")
        refused = oauth(c, "dave", "wrong2")
    assert refused.body == o1.body == o2.body
    assert refused.header("Content-Type") == o1.header("Content-Type")


def test_failures_leave_no_sooner_than_the_floor(make_stack, tmp_path):
    """The member answers an unknown user 0.15 s later than a known one (Active Directory's
    tell); with failure_delay both failures take the floor: the medians differ by < 50 ms."""
    st = signin_stack(make_stack, tmp_path, signin={"failure_delay": "0.5", "lockout_threshold": 16,
                                                    "spray_accounts": 32},
                      mock_args=["--unknown-delay", "0.15"])
    known, unknown = [], []
    with client(st) as c:
        for i in range(8):
            for user, out in (("alice", known), ("nosuch%d" % i, unknown)):
                t = time.monotonic()
                assert oauth(c, user, "wrong%d" % i).status == 400
                out.append(time.monotonic() - t)
    mk, mu = statistics.median(known), statistics.median(unknown)
    assert mk >= 0.5 and mu >= 0.5, (known, unknown)
    assert abs(mk - mu) < 0.05, (known, unknown)
    print("timing: median failure %.3f s (known user) vs %.3f s (unknown)" % (mk, mu))


def test_success_is_not_delayed(make_stack, tmp_path):
    st = signin_stack(make_stack, tmp_path, signin={"failure_delay": "2"})
    with client(st) as c:
        t = time.monotonic()
        assert oauth(c, "alice", PASSWORDS["alice"]).status == 200
        assert ntlm(c, "CONTOSO", "alice", PASSWORDS["alice"]).status == 200
        assert time.monotonic() - t < 1.5


@pytest.mark.parametrize("token", [
    b"NTLMSSP\x00\x03\x00\x00\x00" + b"\x00" * 20,                        # truncated
    b"NTLMSSP\x00\x03\x00\x00\x00" + (b"\x08\x00\x08\x00\xf0\xff\xff\x7f") * 6 + b"\x01\x00\x00\x00",
    b"NTLMSSP\x00\x03\x00\x00\x00" + (b"\xff\xff\xff\xff\x40\x00\x00\x00") * 6 + b"\x01\x00\x00\x00",
    b"\x60\x82\xff\xff\x06\x06\x2b\x06\x01\x05\x05\x02",                  # SPNEGO, huge length
], ids=["truncated", "offset-past-end", "huge-length", "spnego-huge"])
def test_malformed_tokens_are_forwarded_uncounted(make_stack, tmp_path, token):
    """A token portico cannot read names nobody: it goes to the member (which refuses it), is
    not counted and crashes nothing."""
    import base64
    st = signin_stack(make_stack, tmp_path, signin={"lockout_threshold": 1, "spray_accounts": 1})
    value = "Negotiate " + base64.b64encode(token).decode()
    with client(st) as c:
        for _ in range(3):
            r = c.request("GET", "/abs/handler", headers=[("Authorization", value)])
            assert r.status == 401
        assert oauth(c, "alice", PASSWORDS["alice"]).status == 200   # not locked
    assert st.portico.running()


def test_unreadable_forms_never_reach_the_pool(make_stack, tmp_path):
    st = signin_stack(make_stack, tmp_path)
    with client(st) as c:
        r = c.request("POST", "/WebTicket/oauthtoken", body=b"grant_type=password&username=a&"
                      b"username=b&password=x")                        # a repeated field
        assert r.status == 400
        r = c.request("POST", "/WebTicket/oauthtoken", body=b"grant_type=password&username=%zz")
        assert r.status == 400
        assert oauth(c, "alice", PASSWORDS["alice"]).status == 200   # the connection goes on
    with client(st) as c:
        c.send(harness.build_request("POST", "/WebTicket/oauthtoken", "webext.contoso.com",
                                     [("Transfer-Encoding", "chunked")], None)
               + b"5\r\nabcde\r\n0\r\n\r\n")
        assert c.read_response().status == 411
    with client(st) as c:
        r = c.request("POST", "/WebTicket/oauthtoken", body=b"x" * 20000)
        assert r.status == 413
    assert [e["user"] for e in wait_attempts(st, 1)] == ["alice"]


def test_a_slow_form_times_out_and_nothing_is_forwarded(make_stack, tmp_path):
    st = signin_stack(make_stack, tmp_path, timeout_header=1)
    with client(st) as c:
        c.send(harness.build_request("POST", "/WebTicket/oauthtoken", "webext.contoso.com",
                                     [("Content-Length", "100")], None) + b"grant_type=pass")
        assert c.read_response().status == 408
    assert pool_attempts(st) == []
    assert not [e for e in st.mock.events() if e.get("ev") == "req"
                and "oauthtoken" in e.get("target", "").lower()]


def test_kerberos_counts_per_source(make_stack, tmp_path):
    """A Kerberos token names nobody portico can read: failures count per source only."""
    import base64
    krb = base64.b64encode(b"\x60\x0d\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01\x00").decode()
    st = signin_stack(make_stack, tmp_path, signin={"spray_accounts": 3})
    with client(st) as c:
        for _ in range(6):
            assert c.request("GET", "/abs/handler",
                             headers=[("Authorization", "Negotiate " + krb)]).status == 401
    assert st.portico.wait_stderr(r"sign-in lockout: source - from %s" % source(st, 9))


def test_lockouts_survive_a_reload(make_stack, tmp_path):
    st = signin_stack(make_stack, tmp_path, signin={"lockout_threshold": 2})
    with client(st) as c:
        for i in range(2):
            assert oauth(c, "bob", "wrong%d" % i).status == 400
    n = len(st.portico.stderr_lines)
    st.portico.signal(signal.SIGHUP)
    assert st.portico.wait_stderr(r"reload done", start=n, timeout=20)
    with client(st) as c:
        assert oauth(c, "bob", PASSWORDS["bob"]).status == 400       # still locked
    assert len(wait_attempts(st, 2)) == 2


def test_defence_off_forwards_everything(make_stack, tmp_path):
    st = signin_stack(make_stack, tmp_path, signin={"defence": "off"})
    with client(st) as c:
        for i in range(8):
            assert oauth(c, "bob", "wrong%d" % i).status == 400
    assert len(wait_attempts(st, 8)) == 8


def test_metrics_count_failures_and_refusals(make_stack, tmp_path):
    port = harness.free_port()
    st = signin_stack(make_stack, tmp_path, signin={"lockout_threshold": 2},
                      admin="127.0.0.1:%d" % port)
    with client(st) as c:
        for i in range(3):
            assert oauth(c, "bob", "wrong%d" % i).status == 400
        assert ntlm(c, "CONTOSO", "alice", "nope").status == 401
    deadline = time.monotonic() + 10 * harness.SLOW
    while True:
        text = harness.admin_get(port, "/metrics")
        if 'portico_signin_locked{kind="account"} 1' in text or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert 'portico_signin_failures_total{channel="oauth"} 2' in text, text
    assert 'portico_signin_failures_total{channel="ntlm"} 1' in text
    assert 'portico_signin_refusals_total{reason="account"} 1' in text
    assert 'portico_signin_locked{kind="account"} 1' in text


def test_soap_web_ticket_is_counted_and_refused_alike(make_stack, tmp_path):
    """The SOAP web ticket (WS-Security UsernameToken): counted as the other channels, and a
    refusal is the same SOAP fault the pool answers."""
    st = signin_stack(make_stack, tmp_path, signin={"lockout_threshold": 2})
    with client(st) as c:
        answers = [soap(c, "CONTOSO\\bob", "wrong%d" % i) for i in range(4)]
        assert soap(c, "alice@contoso.com", PASSWORDS["alice"]).status == 200
    assert [r.status for r in answers] == [500] * 4
    assert len({r.body for r in answers}) == 1
    assert all(r.header("X-Ms-diagnostics").startswith("28020;") for r in answers)
    assert [(e["user"], e["ok"]) for e in wait_attempts(st, 3)] == \
        [("bob", False), ("bob", False), ("alice", True)]


@pytest.mark.parametrize("body", [
    b"<s:Envelope",                                                          # not well-formed
    b'<!DOCTYPE x [<!ENTITY u "bob">]><s:Envelope xmlns:s="urn:x">&u;</s:Envelope>',  # a DTD
    b"<a>" * 40 + b"</a>" * 40,                                              # too deep
], ids=["truncated", "dtd", "deep"])
def test_unreadable_soap_never_reaches_the_pool(make_stack, tmp_path, body):
    st = signin_stack(make_stack, tmp_path)
    with client(st) as c:
        r = c.request("POST", "/WebTicket/WebTicketService.svc/Auth", body=body)
        assert r.status == 400
        assert soap(c, "alice", PASSWORDS["alice"]).status == 200          # the connection goes on
    assert [e["user"] for e in wait_attempts(st, 1)] == ["alice"]


def test_admin_lists_and_clears_lockouts(make_stack, tmp_path):
    """The status page, /status.json and `portico signin list|clear` show and lift locks."""
    import subprocess
    port = harness.free_port()
    st = signin_stack(make_stack, tmp_path, signin={"lockout_threshold": 2, "spray_accounts": 2},
                      admin="127.0.0.1:%d" % port)
    with client(st) as c:
        for i in range(2):
            assert oauth(c, "bob", "wrong%d" % i).status == 400
    with client(st, 11) as c:
        for u in ("carol", "dave"):
            assert oauth(c, u, "wrong").status == 400

    def admin(path):
        return harness.admin_get(port, path)

    doc = json.loads(admin("/status.json"))["signin"]
    assert [(a["account"], a["source"]) for a in doc["accounts"]] == [("bob", "every other source")]
    assert 0 < doc["accounts"][0]["seconds_left"] <= 900
    assert [x["source"] for x in doc["sources"]] == [source(st, 11)]
    assert "signin-accounts" in admin("/status") and ">bob<" in admin("/status")

    def cli(*args):
        return subprocess.run([harness.PORTICO_BIN, "signin"] + list(args)
                              + ["-c", st.portico.config_path],
                              capture_output=True, text=True, timeout=30)

    r = cli("list")
    assert r.returncode == 0 and json.loads(r.stdout)["accounts"][0]["account"] == "bob", r
    r = cli("clear", "CONTOSO\\Bob")                     # the account key, as a sign-in names it
    assert r.returncode == 0 and "cleared bob" in r.stdout, r
    r = cli("clear", source(st, 11))
    assert r.returncode == 0, r
    assert cli("clear", "nobody").returncode == 1
    assert st.portico.wait_stderr(r"sign-in lockout cleared by the admin listener: account bob")
    with client(st) as c:
        assert oauth(c, "bob", PASSWORDS["bob"]).status == 200
    with client(st, 11) as c:
        assert oauth(c, "alice", PASSWORDS["alice"]).status == 200
    assert json.loads(cli("list").stdout) == {"accounts": [], "sources": []}


def test_a_lockout_ends_after_its_duration(make_stack, tmp_path):
    """Every lockout start and end is one log line; after lockout_duration the account signs in
    again from anywhere."""
    st = signin_stack(make_stack, tmp_path, signin={"lockout_threshold": 2, "lockout_duration": 2})
    with client(st) as c:
        for i in range(2):
            assert oauth(c, "bob", "wrong%d" % i).status == 400
        assert oauth(c, "bob", PASSWORDS["bob"]).status == 400        # locked
    assert st.portico.wait_stderr(r"sign-in lockout: account bob from")
    # The sweep runs every 5 s in worker 0: the end is logged within 2 + 5 s.
    assert st.portico.wait_stderr(r"sign-in lockout ended: account bob", timeout=15)
    with client(st) as c:
        assert oauth(c, "bob", PASSWORDS["bob"]).status == 200


def test_behind_a_balancer_the_source_is_the_real_client(make_stack, tmp_path):
    """With trust_forwarded_for, the source counted is the client X-Forwarded-For names, not the
    balancer: one sprayer behind it is refused, another client behind the same balancer is
    not."""
    net = harness.Net.alloc()
    balancer = net.client
    st = signin_stack(make_stack, tmp_path, net=net, signin={"spray_accounts": 3},
                      trusted_proxies=balancer, trust_forwarded_for="on")

    def via(xff, user, password):
        body = urllib.parse.urlencode({"grant_type": "password", "username": user,
                                       "password": password}).encode()
        with harness.Client(st.net.ext, 80, balancer) as c:
            return c.request("POST", "/WebTicket/oauthtoken", body=body,
                             headers=[("X-Forwarded-For", xff)])

    for i in range(6):
        assert via("203.0.113.66", "user%d" % i, "Autumn2026!").status == 400
    assert len(wait_attempts(st, 3)) == 3                      # the sprayer: 3 accounts, then refused
    assert via("203.0.113.77", "alice", PASSWORDS["alice"]).status == 200
    assert st.portico.wait_stderr(r"sign-in lockout: source user\d from 203\.0\.113\.66")


def test_two_credentials_never_reach_the_pool(make_stack, tmp_path):
    st = signin_stack(make_stack, tmp_path)
    tok = mockpool.ntlm3_token("CONTOSO", "bob", "x")
    with client(st) as c:
        r = c.request("GET", "/abs/handler", headers=[("Authorization", "Bearer abc"),
                                                      ("Authorization", "NTLM " + tok)])
        assert r.status == 400
    assert pool_attempts(st) == []
