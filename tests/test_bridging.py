"""SSL bridging (SPEC §1, §4; issue 3): requests from the HTTPS listener go to the member's HTTPS
port over TLS, with SNI = the request's Host, the certificate verified against the pool's ca
and verify_name (default: the Host); a certificate from another CA or for another name is a
502 with the reason on stderr, never a silent pass; verify = off works (and -t warns); upstream
tls_min; upstream sessions resumed; idle upstream connections keyed by member and TLS name;
role owa goes to 443, servers host:port overrides; long polls, streams and big bodies through
both TLS layers."""

import hashlib
import re
import threading
import time

import harness
import mockpool
from harness import Pool, build_request, unique


def https_stack(make_stack, **kw):
    kw.setdefault("https_port", 443)
    return make_stack(**kw)


def hdr(doc, name):
    return harness.get_all(harness.hdrs_of(doc), name)


def cert_failure_lines(st, name, reason):
    return st.portico.wait_stderr(r"pool fe: member %s\b.*certificate verification failed for %s: .*%s"
                                  % (re.escape(st.net.member(1)), re.escape(name), reason))


# ---- what the pool sees ---------------------------------------------------------------------

def test_upstream_tls_sni_is_host_and_forwarded_proto_https(make_stack):
    st = https_stack(make_stack)
    with st.tls_client("meet.contoso.com") as c:
        r = c.request("GET", "/echo", "Meet.Contoso.com:443")
        assert r.status == 200, r
        d = r.json()
    assert d["tls"] is True and d["listen"] == st.net.member(1) + ":4443"
    assert d["sni"] == "meet.contoso.com"          # the Host, without port, as a DNS name
    assert d["alpn"] == "http/1.1"
    assert d["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert hdr(d, "host") == ["Meet.Contoso.com:443"]
    assert hdr(d, "x-forwarded-proto") == ["https"]
    assert hdr(d, "x-forwarded-for") == [st.net.client]
    assert d["peer"].split(":")[0] == st.net.internal


def test_sni_follows_host_not_client_sni(make_stack):
    st = https_stack(make_stack)
    with st.tls_client("meet.contoso.com") as c:
        d = c.request("GET", "/echo", "dialin.contoso.com").json()
    assert d["sni"] == "dialin.contoso.com"


def test_plain_listener_still_goes_to_8080(make_stack):
    st = https_stack(make_stack)
    d = st.request().json()
    assert d["tls"] is False and d["listen"] == st.net.member(1) + ":8080"
    assert hdr(d, "x-forwarded-proto") == ["http"]


# ---- verification ---------------------------------------------------------------------------

def test_untrusted_upstream_certificate_502_and_logged(make_stack, pki):
    st = https_stack(make_stack, mock_cert=pki.pair("pool-untrusted"))
    tok = unique("untrusted")
    r = st.tls_request("GET", "/" + tok)
    assert r.status == 502, r
    lines = cert_failure_lines(st, "webext.contoso.com", "(unable to get local issuer certificate|self.signed)")
    assert lines, "no reason logged:\n" + st.portico.stderr()
    assert not st.mock.saw(tok)
    assert not st.mock.requests()


def test_misnamed_upstream_certificate_502_and_logged(make_stack, pki):
    st = https_stack(make_stack, mock_cert=pki.pair("pool-wrongname"))
    tok = unique("misnamed")
    with st.tls_client() as c:
        r = c.request("GET", "/" + tok)
        assert r.status == 502, r
    assert cert_failure_lines(st, "webext.contoso.com", "hostname mismatch"), st.portico.stderr()
    assert not st.mock.saw(tok)


def test_default_ca_is_the_system_store(make_stack):
    """Without ca = the internal CA is not trusted: 502."""
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], harness.DEFAULT_NAMES, http="forward", ca=None)]
    st = https_stack(make_stack, net=net, pools=pools)
    assert st.tls_request().status == 502
    assert cert_failure_lines(st, "webext.contoso.com", "local issuer"), st.portico.stderr()
    assert st.request().status == 200           # plain HTTP to 8080 is unaffected


def test_verify_name_used_instead_of_host(make_stack, pki):
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], harness.DEFAULT_NAMES, http="forward",
                  verify_name="pool.fabrikam.local")]
    st = https_stack(make_stack, net=net, pools=pools, mock_cert=pki.pair("pool-wrongname"))
    r = st.tls_request()
    assert r.status == 200, r
    assert r.json()["sni"] == "webext.contoso.com"   # SNI stays the Host


def test_verify_name_mismatch_names_verify_name(make_stack):
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], harness.DEFAULT_NAMES, http="forward",
                  verify_name="fe01.fabrikam.local")]
    st = https_stack(make_stack, net=net, pools=pools)
    assert st.tls_request().status == 502
    assert cert_failure_lines(st, "fe01.fabrikam.local", "hostname mismatch"), st.portico.stderr()


def test_verify_off_accepts_any_certificate_and_check_warns(make_stack, pki):
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], harness.DEFAULT_NAMES, http="forward", verify="off")]
    st = https_stack(make_stack, net=net, pools=pools, mock_cert=pki.pair("pool-untrusted"))
    r = st.tls_request()
    assert r.status == 200 and r.json()["tls"] is True
    chk = harness.run_portico(["-t", "-c", st.portico.config_path])
    assert chk.returncode == 0, chk
    assert re.search(r"verify = off", chk.stderr) and "configuration OK" in chk.stderr, chk.stderr


def test_certificate_failure_is_not_retried_on_another_member(make_stack, pki):
    """Member 1 has a bad certificate, member 2 a good one: a request on member 1 is a 502
    (not a silent switch); requests on member 2 are served."""
    net = harness.Net.alloc()
    st = https_stack(make_stack, net=net, members=[net.member(1), net.member(2)], split_mocks=True)
    bad = st.mocks[net.member(1)]
    bad.stop()
    bad.cert = pki.pair("pool-untrusted")
    bad.start()
    statuses = {}
    with st.tls_client() as c:
        for i in range(6):
            r = c.request("GET", "/echo?i=%d" % i)
            statuses.setdefault(r.status, 0)
            statuses[r.status] += 1
            if r.status == 200:
                assert r.json()["listen"] == net.member(2) + ":4443"
    assert statuses.get(502, 0) >= 1 and statuses.get(200, 0) >= 1, statuses
    assert not bad.requests()


def test_refusing_member_is_skipped_over_tls(make_stack):
    """Member 3 refuses connections: every request is served by member 1, and no worker trips
    over the failed connection (the fixture fails the test if a worker died)."""
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1), net.member(3)], harness.DEFAULT_NAMES, http="forward",
                  health_interval=0.5, health_fall=1000)]     # only passive mark-downs
    st = https_stack(make_stack, net=net, pools=pools, mock_ips=[net.member(1)])
    for i in range(20):
        with st.tls_client() as c:
            r = c.request("GET", "/echo?skip=%d" % i)
            assert r.status == 200, "request %d: %r" % (i, r)
            assert r.json()["listen"] == net.member(1) + ":4443"
        if i % 5 == 4:
            time.sleep(1.1)          # the passive mark-down (2 x 0.5 s) ends: member 3 is tried again


# ---- upstream TLS versions ------------------------------------------------------------------

def test_upstream_tls_min_refuses_old_pool(make_stack):
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], harness.DEFAULT_NAMES, http="forward", tls_min="1.3")]
    st = https_stack(make_stack, net=net, pools=pools, mock_args=["--tls-max", "1.2"])
    assert st.tls_request().status == 502
    assert st.portico.wait_stderr(r"pool fe: member %s\b.*TLS handshake failed" % re.escape(net.member(1))), \
        st.portico.stderr()


def test_upstream_tls10_pool_when_configured(make_stack):
    """A Lync 2013 pool that speaks TLS 1.0 only: 502 by default, served with tls_min = 1.0."""
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], ["webext.contoso.com"], http="forward"),
             Pool("old", [net.member(2)], ["meet.contoso.com"], http="forward", tls_min="1.0")]
    st = https_stack(make_stack, net=net, members=[net.member(1), net.member(2)], pools=pools,
                     mock_args=["--tls-min", "1.0", "--tls-max", "1.0"])
    assert st.tls_request(host="webext.contoso.com").status == 502
    r = st.tls_request(host="meet.contoso.com", sni="meet.contoso.com")
    assert r.status == 200, r
    assert r.json()["tls_version"] == "TLSv1"


# ---- connections ----------------------------------------------------------------------------

def test_upstream_tls_session_resumed(make_stack):
    st = https_stack(make_stack)
    with st.tls_client() as c:
        d1 = c.request("GET", "/echo?close=1").json()    # the pool closes that connection
        assert st.mock.wait_closed(d1["conn"], 5)
        d2 = c.request("GET", "/echo").json()
    assert d1["tls_reused"] is False
    assert d2["conn"] != d1["conn"]
    assert d2["tls_reused"] is True, "the second upstream connection did a full handshake"


def test_idle_upstream_connections_keyed_by_tls_name(make_stack):
    st = https_stack(make_stack)
    with st.tls_client() as c:
        a = c.request("GET", "/echo", "webext.contoso.com").json()
        b = c.request("GET", "/echo", "meet.contoso.com").json()
        a2 = c.request("GET", "/echo", "webext.contoso.com").json()
        b2 = c.request("GET", "/echo", "meet.contoso.com").json()
    assert (a["sni"], b["sni"]) == ("webext.contoso.com", "meet.contoso.com")
    assert b["conn"] != a["conn"], "a connection made for webext was used for meet"
    assert a2["conn"] == a["conn"] and a2["sni"] == "webext.contoso.com"
    assert b2["conn"] == b["conn"] and b2["sni"] == "meet.contoso.com"


def test_idle_tls_and_plain_connections_not_mixed(make_stack):
    st = https_stack(make_stack)
    with st.client() as c:
        p = c.request().json()
    with st.tls_client() as c:
        t = c.request().json()
    with st.client() as c:
        p2 = c.request().json()
    assert p["tls"] is False and t["tls"] is True and p2["tls"] is False
    assert t["conn"] != p["conn"]
    if harness.WORKERS == 1:
        assert p2["conn"] == p["conn"]


def test_owa_role_goes_to_443(make_stack):
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], harness.DEFAULT_NAMES, http="forward"),
             Pool("owa", [net.owa(1)], ["owa.contoso.com"], role="owa")]
    st = https_stack(make_stack, net=net, pools=pools, extra_mocks=[("owa01", [(net.owa(1), 443, True)])])
    r = st.tls_request(host="owa.contoso.com", sni="owa.contoso.com")
    assert r.status == 200, r
    d = r.json()
    assert d["server"] == "owa01" and d["listen"] == net.owa(1) + ":443" and d["sni"] == "owa.contoso.com"
    assert st.tls_request().json()["listen"] == net.member(1) + ":4443"


def test_servers_port_override(make_stack):
    net = harness.Net.alloc()
    st = https_stack(make_stack, net=net, members=[net.member(1) + ":5443"], mock_ips=[net.member(1)],
                     mock_listens=[(8080, False), (5443, True)])
    d = st.tls_request().json()
    assert d["listen"] == net.member(1) + ":5443" and d["tls"] is True


# ---- streaming through both TLS layers ------------------------------------------------------

def test_long_poll_over_tls(make_stack):
    st = https_stack(make_stack)
    t0 = time.monotonic()
    with st.tls_client() as c:
        r = c.request("GET", "/longpoll?secs=5")
        took = time.monotonic() - t0
        assert r.status == 200 and r.json()["held"] == 5.0
        assert took >= 4.9
        assert c.request().status == 200         # and the connection carries on


def test_ucwa_event_channel_over_tls(make_stack):
    st = https_stack(make_stack)
    with st.tls_client() as c:
        r = c.request("GET", "/ucwa/oauth/v1/applications/101/events?ack=5&timeout=2")
        assert r.status == 200
        assert r.json()["_links"]["next"]["href"].endswith("ack=6")


def test_chunked_response_streams_over_tls(make_stack):
    st = https_stack(make_stack)
    arrivals = []
    with st.tls_client() as c:
        c.send(build_request("GET", "/chunked?n=4&size=1000&delay=0.5"))
        t0 = time.monotonic()
        r = c.read_response(sink=lambda mv: arrivals.append((time.monotonic() - t0, len(mv))))
    assert r.status == 200 and r.body_len == 4000
    assert arrivals[0][0] < 0.4 * harness.SLOW + 0.1, "first chunk held back: %r" % arrivals[:3]
    assert arrivals[-1][0] >= 1.4


def test_big_download_over_tls(make_stack):
    st = https_stack(make_stack)
    n = 20 << 20
    h = hashlib.sha256()
    with st.tls_client() as c:
        r = c.request("GET", "/big?bytes=%d" % n, sink=h.update)
        assert r.status == 200 and r.body_len == n
        assert h.hexdigest() == mockpool.pattern_sha256(n)
        r = c.request("GET", "/big?bytes=%d&chunked=1" % (n // 4), sink=lambda mv: None)
        assert r.status == 200 and r.body_len == n // 4


def test_big_upload_over_tls(make_stack):
    st = https_stack(make_stack)
    n = 16 << 20
    body = mockpool.pattern_bytes(n)
    with st.tls_client() as c:
        r = c.request("POST", "/upload", body=body)
        assert r.status == 200
        d = r.json()
        assert d["body_len"] == n and d["body_sha256"] == mockpool.pattern_sha256(n)
        # chunked upload too
        c.send(build_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]))
        for off in range(0, 1 << 20, 100000):
            piece = body[off:min(off + 100000, 1 << 20)]
            c.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
        c.send(b"0\r\n\r\n")
        d = c.read_response().json()
        assert d["body_len"] == 1 << 20 and d["body_sha256"] == mockpool.pattern_sha256(1 << 20)


def test_concurrent_tls_clients(make_stack):
    st = https_stack(make_stack)
    errors = []

    def one(i):
        try:
            with st.tls_client() as c:
                for k in range(5):
                    r = c.request("GET", "/echo?c=%d&k=%d" % (i, k))
                    if r.status != 200 or r.json()["target"] != "/echo?c=%d&k=%d" % (i, k):
                        errors.append((i, k, r.status))
        except Exception as e:  # noqa: BLE001
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
