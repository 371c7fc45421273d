"""TLS termination on the external HTTPS port (SPEC §1, §3, §4; issue 3): certificates chosen by
SNI (exact SANs before wildcard SANs, a wildcard covers one label), the first certificate for
clients without SNI, an RSA and an ECDSA certificate for the same names picked by what the
client supports, tls_min / ciphers (TLS 1.0 with AES-CBC-SHA only when configured), ALPN
http/1.1, 421 for a Host the connection's certificate does not cover, timeout_handshake, the
handshake-failure log, and session resumption (tickets shared by workers and, through
ticket_key_file, by instances; the TLS 1.2 session cache)."""

import os
import re
import signal
import ssl
import time

import pytest

import harness
from harness import Pool, build_request, s_client, tls_context, unique, LiveSClient, worker_of

NAMES = harness.DEFAULT_NAMES + ["lyncdiscover.fabrikam.com"]
REQ_CLOSE = b"GET /echo HTTP/1.1\r\nHost: webext.contoso.com\r\nConnection: close\r\n\r\n"
OLD_CIPHERS = "AES128-SHA:@SECLEVEL=0"


def tls_stack(make_stack, certs, names=NAMES, **proxy):
    """One member, pool fe publishing names, HTTPS on 443 with certs (stems of the PKI)."""
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], names, http="forward")]
    proxy.setdefault("https_port", 443)
    return make_stack(net=net, pools=pools, certs=[make_stack.pki.pair(c) for c in certs], **proxy)


def sni_stack(make_stack, **proxy):
    # fabrikam first: the default; wild before exact: exact names must still win
    return tls_stack(make_stack, ["fabrikam", "wild", "exact"], **proxy)


def failure_lines(st, start=0):
    return [l for l in st.portico.stderr_lines[start:] if "TLS handshake failed" in l]


# ---- certificate choice ---------------------------------------------------------------------

@pytest.mark.parametrize("sni,expected", [
    ("webext.contoso.com", "exact"),            # exact SAN beats the wildcard listed before it
    ("MEET.contoso.com", "exact"),              # case-insensitive
    ("owa.contoso.com", "wild"),                # only the wildcard covers it
    ("lyncdiscover.fabrikam.com", "fabrikam"),
    ("a.b.contoso.com", "fabrikam"),            # a wildcard covers one label: default certificate
    ("unknown.example.org", "fabrikam"),        # unknown name: default certificate
])
def test_certificate_chosen_by_sni(make_stack, pki, sni, expected):
    st = sni_stack(make_stack)
    with st.tls_client(sni) as c:
        assert pki.which(c.peer_der) == expected, "SNI %s got %s" % (sni, pki.which(c.peer_der))


def test_no_sni_gets_first_certificate(make_stack, pki):
    st = sni_stack(make_stack)
    with st.tls_client(None) as c:
        assert pki.which(c.peer_der) == "fabrikam"
        r = c.request(host="lyncdiscover.fabrikam.com")
        assert r.status == 200 and r.json()["server"] == "fe01"
    # the same configuration with another certificate first: that one is the default
    st2 = tls_stack(make_stack, ["wild", "fabrikam", "exact"])
    with st2.tls_client(None) as c:
        assert pki.which(c.peer_der) == "wild"


def test_no_sni_with_s_client(make_stack, pki):
    st = sni_stack(make_stack)
    r = s_client(st.net.ext, 443, None)
    assert r.handshake_ok, r
    assert pki.which(r.cert_der) == "fabrikam", r


def test_requests_served_with_each_certificate(make_stack):
    st = sni_stack(make_stack)
    for sni, host in [("webext.contoso.com", "webext.contoso.com"), ("dialin.contoso.com", "dialin.contoso.com"),
                      ("lyncdiscover.fabrikam.com", "lyncdiscover.fabrikam.com")]:
        with st.tls_client(sni) as c:
            r = c.request("GET", "/echo?sni=" + sni, host)
            assert r.status == 200, (sni, r)
            d = r.json()
            assert d["target"] == "/echo?sni=" + sni
            assert harness.get_all(harness.hdrs_of(d), "x-forwarded-proto") == ["https"]


@pytest.mark.parametrize("order", [["dual-rsa", "dual-ec"], ["dual-ec", "dual-rsa"]])
def test_rsa_and_ecdsa_certificate_for_the_same_names(make_stack, pki, order):
    """Both certificates serve the same names; each client gets one it can verify."""
    st = tls_stack(make_stack, order)
    cases = [
        (["-sigalgs", "rsa_pss_rsae_sha256:rsa_pkcs1_sha256"], "dual-rsa"),     # TLS 1.3, RSA only
        (["-sigalgs", "ecdsa_secp256r1_sha256"], "dual-ec"),                    # TLS 1.3, ECDSA only
        (["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], "dual-rsa"),
        (["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"], "dual-ec"),
    ]
    for args, expected in cases:
        r = s_client(st.net.ext, 443, "webext.contoso.com", args)
        assert r.handshake_ok, (args, r)
        assert pki.which(r.cert_der) == expected, (args, pki.which(r.cert_der), r)
    # and requests work over both
    for ciphers, expected in [("ECDHE-RSA-AES128-GCM-SHA256", "dual-rsa"),
                              ("ECDHE-ECDSA-AES128-GCM-SHA256", "dual-ec")]:
        ctx = tls_context(pki, max_version="1.2", ciphers=ciphers)
        with st.tls_client("meet.contoso.com", ctx=ctx) as c:
            assert pki.which(c.peer_der) == expected
            assert c.request(host="meet.contoso.com").status == 200


def test_rsa_only_old_client_gets_rsa_certificate(make_stack, pki):
    """Lync Phone Edition: TLS 1.0, AES128-SHA (RSA key exchange): the RSA certificate."""
    st = tls_stack(make_stack, ["dual-ec", "dual-rsa"], tls_min="1.0")
    r = s_client(st.net.ext, 443, "webext.contoso.com", ["-tls1", "-cipher", OLD_CIPHERS], request=REQ_CLOSE)
    assert r.handshake_ok, r
    assert r.protocol == "TLSv1" and r.cipher == "AES128-SHA", r
    assert pki.which(r.cert_der) == "dual-rsa"
    assert "HTTP/1.1 200 OK" in r.out and '"server": "fe01"' in r.out, r


# ---- versions and ciphers -------------------------------------------------------------------

def test_tls10_refused_by_default_and_logged(make_stack, pki):
    st = tls_stack(make_stack, ["public"])
    r = s_client(st.net.ext, 443, "webext.contoso.com", ["-tls1", "-cipher", OLD_CIPHERS])
    assert not r.handshake_ok, r
    with pytest.raises(ssl.SSLError):
        st.tls_client(ctx=tls_context(pki, min_version="1.0", max_version="1.1", ciphers=OLD_CIPHERS))
    lines = st.portico.wait_stderr(r"TLS handshake failed: client %s sni \S+: \S" % re.escape(st.net.client))
    assert lines, "handshake failure not logged with the client address:\n" + st.portico.stderr()
    # TLS 1.2 and 1.3 are fine
    for v in ("1.2", "1.3"):
        with st.tls_client(ctx=tls_context(pki, min_version=v, max_version=v)) as c:
            assert c.tls_version == "TLSv" + v
            assert c.request().status == 200


def test_handshake_failure_log_names_the_sni(make_stack, pki):
    """The log line of a refused old client names the SNI it sent (SPEC: client, SNI, reason)."""
    st = tls_stack(make_stack, ["public"])
    with pytest.raises(ssl.SSLError):
        st.tls_client("meet.contoso.com",
                      ctx=tls_context(pki, min_version="1.0", max_version="1.0", ciphers=OLD_CIPHERS))
    lines = st.portico.wait_stderr(r"TLS handshake failed: client %s" % re.escape(st.net.client))
    assert lines, st.portico.stderr()
    assert "sni meet.contoso.com:" in lines[0], lines[0]


def test_tls10_accepted_when_configured(make_stack, pki):
    st = tls_stack(make_stack, ["public"], tls_min="1.0")
    r = s_client(st.net.ext, 443, "webext.contoso.com", ["-tls1", "-cipher", OLD_CIPHERS], request=REQ_CLOSE)
    assert r.handshake_ok and r.protocol == "TLSv1" and r.cipher == "AES128-SHA", r
    assert "HTTP/1.1 200 OK" in r.out, r
    # python's client too, and ECDHE-RSA-AES128-SHA and TLS 1.1 / AES256-SHA
    for v, ciphers, expect in [("1.0", "ECDHE-RSA-AES128-SHA:@SECLEVEL=0", "ECDHE-RSA-AES128-SHA"),
                               ("1.1", "AES256-SHA:@SECLEVEL=0", "AES256-SHA")]:
        ctx = tls_context(pki, min_version=v, max_version=v, ciphers=ciphers)
        with st.tls_client(ctx=ctx) as c:
            assert c.tls_version == {"1.0": "TLSv1", "1.1": "TLSv1.1"}[v] and c.cipher == expect
            r = c.request()
            assert r.status == 200
            # the pool side stays modern: TLS 1.2 or better
            assert r.json()["tls_version"] in ("TLSv1.2", "TLSv1.3")
    # modern clients still get a modern connection
    with st.tls_client() as c:
        assert c.tls_version == "TLSv1.3"


def test_default_ciphers_refuse_cbc_and_static_rsa_on_tls12(make_stack, pki):
    st = tls_stack(make_stack, ["public"])
    for ciphers in ("AES128-SHA", "ECDHE-RSA-AES128-SHA", "AES128-GCM-SHA256"):
        with pytest.raises(ssl.SSLError):
            st.tls_client(ctx=tls_context(pki, max_version="1.2", ciphers=ciphers))
    with st.tls_client(ctx=tls_context(pki, max_version="1.2", ciphers="ECDHE-RSA-AES128-GCM-SHA256")) as c:
        assert c.tls_version == "TLSv1.2" and c.request().status == 200


def test_ciphers_option(make_stack, pki):
    st = tls_stack(make_stack, ["public"], ciphers="ECDHE-RSA-AES256-GCM-SHA384")
    with pytest.raises(ssl.SSLError):
        st.tls_client(ctx=tls_context(pki, max_version="1.2", ciphers="ECDHE-RSA-AES128-GCM-SHA256"))
    with st.tls_client(ctx=tls_context(pki, max_version="1.2", ciphers="ECDHE-RSA-AES256-GCM-SHA384")) as c:
        assert c.cipher == "ECDHE-RSA-AES256-GCM-SHA384" and c.request().status == 200


def test_tls_min_13(make_stack, pki):
    st = tls_stack(make_stack, ["public"], tls_min="1.3")
    with pytest.raises(ssl.SSLError):
        st.tls_client(ctx=tls_context(pki, max_version="1.2"))
    with st.tls_client() as c:
        assert c.tls_version == "TLSv1.3" and c.request().status == 200


# ---- ALPN -----------------------------------------------------------------------------------

@pytest.mark.parametrize("http2,offer,expected", [
    ("off", ("h2", "http/1.1"), "http/1.1"), ("off", ("http/1.1",), "http/1.1"),
    ("off", ("h2",), None), ("off", (), None),
    (None, ("h2", "http/1.1"), "h2"), (None, ("http/1.1",), "http/1.1"), (None, (), None)])
def test_alpn_selection(make_stack, pki, http2, offer, expected):
    """http2 is on by default (docs/http2.md): h2 when offered; a client offering only http/1.1,
    or nothing (Lync Phone Edition, old mobile clients), is served HTTP/1.1 as with http2 off."""
    st = tls_stack(make_stack, ["public"], **({"http2": http2} if http2 else {}))
    with st.tls_client(ctx=tls_context(pki, alpn=offer)) as c:
        assert c.alpn == expected
        if expected != "h2":
            assert c.request().status == 200


# ---- Host versus certificate ----------------------------------------------------------------

def test_host_not_covered_by_certificate_421_never_forwarded(make_stack):
    st = sni_stack(make_stack)
    tok = unique("misdirected")
    with st.tls_client("lyncdiscover.fabrikam.com") as c:
        r = c.request("GET", "/" + tok, "webext.contoso.com")
        assert r.status == 421, r
        # the connection is still good for the name it was made for
        r2 = c.request("GET", "/echo", "lyncdiscover.fabrikam.com")
        assert r2.status == 200
    with st.tls_client(None) as c:             # default certificate (fabrikam)
        r = c.request("GET", "/" + tok, "meet.contoso.com")
        assert r.status == 421, r
    assert not st.mock.saw(tok)


def test_host_covered_by_certificate_but_not_sni_is_served(make_stack):
    """Connection reuse by browsers: SNI meet, Host webext, both on the certificate: fine."""
    st = tls_stack(make_stack, ["public"])
    with st.tls_client("meet.contoso.com") as c:
        r = c.request("GET", "/echo", "webext.contoso.com")
        assert r.status == 200
        assert harness.get_all(harness.hdrs_of(r.json()), "host") == ["webext.contoso.com"]


def test_unpublished_name_over_tls_404(make_stack):
    st = tls_stack(make_stack, ["public"])
    tok = unique("unpub")
    with st.tls_client("owa.contoso.com") as c:
        assert c.request("GET", "/" + tok, "owa.contoso.com").status == 404
    assert not st.mock.saw(tok)


def test_http10_without_host_routed_by_sni(make_stack):
    st = tls_stack(make_stack, ["public"])
    tok = unique("sni10")
    with st.tls_client("meet.contoso.com") as c:
        c.send(("GET /echo?%s HTTP/1.0\r\n\r\n" % tok).encode())
        r = c.read_response()
        assert r.status == 200, r
        assert r.json()["sni"] == "meet.contoso.com"
    with st.tls_client(None) as c:             # no SNI, no Host: nothing to route by
        c.send(("GET /echo?%s-nosni HTTP/1.0\r\n\r\n" % tok).encode())
        r = harness.read_bad_response(c)
        assert r is not None and r.status in (400, 404)
    assert not st.mock.saw(tok + "-nosni")


def test_http10_without_host_routed_by_sni_reaches_pool_with_host(make_stack):
    """The pool gets HTTP/1.1, which requires Host (RFC 9112 §3.2): the name routed by."""
    st = tls_stack(make_stack, ["public"])
    with st.tls_client("meet.contoso.com") as c:
        c.send(b"GET /echo HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200, r
        assert harness.get_all(harness.hdrs_of(r.json()), "host") == ["meet.contoso.com"], r.json()["headers"]


# ---- handshake timeout and failures ---------------------------------------------------------

def test_timeout_handshake_closes_silent_client(make_stack):
    st = tls_stack(make_stack, ["public"], timeout_handshake=1)
    t0 = time.monotonic()
    with st.client(443) as c:
        assert c.wait_closed(6 * harness.SLOW), "a client that sends nothing was kept"
        took = time.monotonic() - t0
        assert 0.8 <= took <= 4 * harness.SLOW, took
    with st.client(443) as c:                   # half a ClientHello, then silence
        c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        assert c.wait_closed(6 * harness.SLOW)
    lines = st.portico.wait_stderr(r"TLS handshake failed: client %s sni -: .*timed out" % re.escape(st.net.client),
                                   count=1)
    assert lines, st.portico.stderr()


def test_timeout_handshake_does_not_apply_after_handshake(make_stack):
    st = tls_stack(make_stack, ["public"], timeout_handshake=1)
    with st.tls_client() as c:
        time.sleep(1.6)
        assert c.request().status == 200


def test_plain_http_on_https_port_fails_handshake_and_is_logged(make_stack):
    st = tls_stack(make_stack, ["public"])
    tok = unique("plain")
    with st.client(443) as c:
        c.send(build_request("GET", "/" + tok))
        assert c.wait_closed(5)
        assert b"HTTP/1.1 200" not in c.leftover
    assert st.portico.wait_stderr(r"TLS handshake failed: client %s sni -: \S" % re.escape(st.net.client)), \
        st.portico.stderr()
    assert not st.mock.saw(tok)


def test_handshake_failure_log_is_rate_limited(make_stack):
    """60 failed handshakes in a burst do not write 60 lines; the count of the ones left out
    is logged later."""
    st = tls_stack(make_stack, ["public"])

    def fail_once():
        with st.client(443) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            c.wait_closed(5)

    t0 = time.monotonic()
    for _ in range(60):
        fail_once()
    burst = time.monotonic() - t0
    st.portico.wait_stderr(r"TLS handshake failed", count=10)
    lines = failure_lines(st)
    windows = int(burst) + 2
    assert 1 <= len(lines) <= 10 * harness.WORKERS * windows, "%d lines for 60 failures in %.1f s" % (len(lines), burst)
    time.sleep(1.1)
    for _ in range(8):
        fail_once()
    assert st.portico.wait_stderr(r"\((\d+) similar messages suppressed\)"), st.portico.stderr()[-3000:]


def test_untrusting_client_then_good_client(make_stack, pki):
    """A client that rejects the certificate (alert) does not disturb the next one."""
    st = tls_stack(make_stack, ["public"])
    with pytest.raises(ssl.SSLError):
        st.tls_client(ctx=tls_context(cafile=pki.other_ca_pem))
    with st.tls_client() as c:
        assert c.request().status == 200


# ---- session resumption ---------------------------------------------------------------------

def first_session(st, path, version_args=()):
    r = s_client(st.net.ext, 443, "webext.contoso.com", ["-sess_out", path] + list(version_args),
                 request=REQ_CLOSE)
    assert r.handshake_ok and r.reused is False, r
    assert "HTTP/1.1 200 OK" in r.out, r
    assert os.path.getsize(path) > 0
    return r


def resume_until_both_workers(st, sess, version_args=(), minimum=6, maximum=40):
    """Fresh s_client connections resuming sess until every worker took at least one (and at
    least minimum were made). Returns [(SClient, worker pid)]."""
    seen = []
    while len(seen) < maximum:
        live = LiveSClient(st.net.ext, 443, "webext.contoso.com", ["-sess_in", sess] + list(version_args))
        pid = worker_of(st.portico, live.local) if live.local else None
        res = live.close()
        seen.append((res, pid))
        if len(seen) >= minimum and len({p for _, p in seen} - {None}) >= harness.WORKERS:
            break
    return seen


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_resumption_across_workers(make_stack, tmp_path, version):
    """Every fresh connection resumes the session of the first one, whichever worker takes it
    (tickets: keys derived from one secret in every worker)."""
    st = tls_stack(make_stack, ["public"])
    vargs = ["-tls1_2"] if version == "1.2" else ["-tls1_3"]
    sess = str(tmp_path / "sess.pem")
    first_session(st, sess, vargs)
    seen = resume_until_both_workers(st, sess, vargs)
    for res, pid in seen:
        assert res.reused is True, "a fresh connection did not resume (worker %s): %r" % (pid, res)
    pids = {p for _, p in seen}
    assert None not in pids, "could not tell which worker held a connection"
    assert len(pids) == harness.WORKERS, "workers hit %s of %s" % (pids, st.portico.worker_pids())


def test_resumption_sessions_are_per_sni_certificate(make_stack, tmp_path):
    """A session for one certificate's names is not resumed for another certificate's
    (the resumed connection must present the right certificate)."""
    st = sni_stack(make_stack)
    sess = str(tmp_path / "sess.pem")
    r = s_client(st.net.ext, 443, "lyncdiscover.fabrikam.com", ["-sess_out", sess],
                 request=b"GET /echo HTTP/1.1\r\nHost: lyncdiscover.fabrikam.com\r\nConnection: close\r\n\r\n")
    assert r.handshake_ok and "HTTP/1.1 200 OK" in r.out, r
    r2 = s_client(st.net.ext, 443, "webext.contoso.com", ["-sess_in", sess], request=REQ_CLOSE)
    # resumed or not, the request for webext must not be served on the fabrikam certificate
    assert "HTTP/1.1 421" in r2.out or ("HTTP/1.1 200 OK" in r2.out and not r2.reused), r2


def test_tls12_session_cache_without_tickets(make_stack, tmp_path):
    """-no_ticket: the per-worker session-id cache resumes (every time with one worker, at least
    once in a few tries with several)."""
    st = tls_stack(make_stack, ["public"])
    sess = str(tmp_path / "sess.pem")
    first_session(st, sess, ["-tls1_2", "-no_ticket"])
    results = [s_client(st.net.ext, 443, "webext.contoso.com", ["-sess_in", sess, "-tls1_2", "-no_ticket"])
               for _ in range(12)]
    assert all(r.handshake_ok for r in results)
    reused = sum(1 for r in results if r.reused)
    if harness.WORKERS == 1:
        assert reused == len(results), results
    else:
        assert reused >= 1, results


def test_resumption_across_instances_with_ticket_key_file(make_stack, tmp_path):
    keyfile = tmp_path / "tickets.key"
    keyfile.write_bytes(os.urandom(80))
    a = tls_stack(make_stack, ["public"], ticket_key_file=str(keyfile))
    b = tls_stack(make_stack, ["public"], ticket_key_file=str(keyfile))
    c = tls_stack(make_stack, ["public"])        # its own random secret
    sess = str(tmp_path / "sess.pem")
    first_session(a, sess)
    for _ in range(3):
        r = s_client(b.net.ext, 443, "webext.contoso.com", ["-sess_in", sess], request=REQ_CLOSE)
        assert r.reused is True, "instance b did not resume a's session: %r" % r
        assert "HTTP/1.1 200 OK" in r.out, r
    r = s_client(c.net.ext, 443, "webext.contoso.com", ["-sess_in", sess], request=REQ_CLOSE)
    assert r.reused is False, "an instance with other ticket keys resumed: %r" % r
    assert "HTTP/1.1 200 OK" in r.out


def test_resumption_survives_reload(make_stack, tmp_path):
    """SIGHUP starts new workers; the ticket secret is the master's, so they resume sessions
    made before the reload."""
    st = tls_stack(make_stack, ["public"])
    sess = str(tmp_path / "sess.pem")
    first_session(st, sess)
    mark = len(st.portico.stderr_lines)
    st.portico.signal(signal.SIGHUP)
    assert st.portico.wait_stderr(r"reload done", timeout=10, start=mark), st.portico.stderr()
    for _ in range(3):
        r = s_client(st.net.ext, 443, "webext.contoso.com", ["-sess_in", sess], request=REQ_CLOSE)
        assert r.reused is True, r
        assert "HTTP/1.1 200 OK" in r.out


def short_ticket_key_config(tmp_path, pki, net):
    keyfile = tmp_path / "short.key"
    keyfile.write_bytes(b"0123456789")
    conf = tmp_path / "p.conf"
    conf.write_text(harness.render_config(net, [Pool("fe", [net.member(1)], NAMES)], "off", pki,
                                          https_port=443, ticket_key_file=str(keyfile)))
    return str(conf)


def test_ticket_key_file_too_short_refused_at_start(tmp_path, pki):
    net = harness.Net.alloc()
    try:
        p = harness.Portico(str(tmp_path / "run"), "", args=["-c", short_ticket_key_config(tmp_path, pki, net)])
        p.start(wait=False)
        try:
            rc = p.proc.wait(10 * harness.SLOW)
        finally:
            p.stop()
        p._reader.join(2)
        assert "ticket_key_file" in p.stderr() and not p.ready.is_set(), p.stderr()
        assert p.sanitizer_report() is None, "sanitizer report on the refusal path:\n" + p.stderr()[-4000:]
        assert rc == 1, "exit status %r:\n%s" % (rc, p.stderr())
    finally:
        net.release()


def test_ticket_key_file_too_short_reported_by_check(tmp_path, pki):
    """-t checks what a start would refuse (SPEC §2: exit 1 with FILE:LINE: message)."""
    net = harness.Net.alloc()
    try:
        conf = short_ticket_key_config(tmp_path, pki, net)
        r = harness.run_portico(["-t", "-c", conf])
        assert r.returncode == 1, r
        assert re.search(r"p\.conf:\d+: .*ticket_key_file", r.stderr), r.stderr
    finally:
        net.release()


def test_python_client_resumes_tls13_ticket(make_stack, pki):
    st = tls_stack(make_stack, ["public"])
    ctx = tls_context(pki)
    with st.tls_client(ctx=ctx) as c:
        assert c.request().status == 200       # the ticket arrives after the handshake
        sess = c.session
        assert not c.reused
    assert sess is not None and sess.has_ticket
    for _ in range(4):
        with st.tls_client(ctx=ctx, session=sess) as c:
            assert c.reused
            assert c.request().status == 200
