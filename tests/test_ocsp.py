"""OCSP stapling (issue 15, docs/certificates.md; RFC 6960 responses, RFC 6066 §8 stapling).

A CA made here issues listener certificates whose Authority Information Access names an OCSP
responder on loopback. The responder is `openssl ocsp -index` in responder mode, run once per
request behind a small HTTP server bound to a loopback address (openssl 3.0's own -port binds
every interface). Cases: a good certificate is stapled (and its response cached 0600 in a
0700 state_dir, shown on /metrics and the status page, kept across a reload); a revoked one is
not stapled and is warned in the log; a responder that is down or that never answers leaves the
certificate served at once without a staple (no handshake waits for it); a response signed by
another CA is never stapled; a responder that comes up late is picked up by the retry and
stapled without a reload, a connection opened before still served; a cached response is
stapled after a restart with the responder gone; ocsp_stapling = off staples nothing; -t
checks state_dir.
"""

import http.server
import os
import re
import socket
import stat
import subprocess
import threading
import time

import pytest

import harness
from harness import Pool

NAMES = harness.DEFAULT_NAMES
WAIT = 15 * harness.SLOW
PORT = 8888


class Responder:
    """POST / (RFC 6960 Appendix A.1) answered by `openssl ocsp -index INDEX -reqin -respout`,
    signed by the CA itself, nextUpdate one hour on."""

    def __init__(self, ca, ip, port=PORT, signer=None):
        self.ca = ca
        self.signer = signer or (ca.pem, ca.key)  # another CA's pair: a forged response
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests += 1
                resp = outer.answer(body, outer.requests)
                self.send_response(200)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(resp)))
                self.end_headers()
                self.wfile.write(resp)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer((ip, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, req, n):
        d = self.ca.dir
        reqf, respf = os.path.join(d, "req%d.der" % n), os.path.join(d, "resp%d.der" % n)
        with open(reqf, "wb") as f:
            f.write(req)
        subprocess.run(["openssl", "ocsp", "-index", self.ca.index, "-CA", self.ca.pem,
                        "-rsigner", self.signer[0], "-rkey", self.signer[1], "-reqin", reqf,
                        "-respout", respf, "-nmin", "60"],
                       check=True, capture_output=True, timeout=10)
        with open(respf, "rb") as f:
            return f.read()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class OcspCA:
    """A CA and its index.txt; leaf(stem, url, revoked) -> (chain file, key file)."""

    def __init__(self, d, cn="OCSP Test CA"):
        self.dir = d
        os.makedirs(d, exist_ok=True)
        self.pem, self.key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
        self.index = os.path.join(d, "index.txt")
        self._run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key, "-out",
                  self.pem, "-days", "30", "-subj", "/CN=" + cn,
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        open(self.index, "w").close()
        with open(self.index + ".attr", "w") as f:
            f.write("unique_subject = no\n")     # every leaf has the same subject

    def _run(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.dir, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def leaf(self, stem, url, revoked=False):
        ext = os.path.join(self.dir, stem + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n"
                    "authorityInfoAccess=OCSP;URI:%s\n"
                    % (",".join("DNS:" + n for n in NAMES), url))
        key, pem = os.path.join(self.dir, stem + ".key"), os.path.join(self.dir, stem + ".pem")
        self._run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", stem + ".csr",
                  "-subj", "/CN=" + NAMES[0])
        self._run("x509", "-req", "-in", stem + ".csr", "-CA", self.pem, "-CAkey", self.key,
                  "-CAcreateserial", "-days", "30", "-out", pem, "-extfile", ext)
        serial = self._run("x509", "-in", pem, "-noout", "-serial").strip().split("=", 1)[1]
        with open(self.index, "a") as f:
            if revoked:
                f.write("R\t301231000000Z\t%s\t%s\tunknown\t/CN=%s\n"
                        % (time.strftime("%y%m%d%H%M%SZ", time.gmtime()), serial, NAMES[0]))
            else:
                f.write("V\t301231000000Z\t\t%s\tunknown\t/CN=%s\n" % (serial, NAMES[0]))
        chain = os.path.join(self.dir, stem + "-chain.pem")
        with open(chain, "w") as out, open(pem) as a, open(self.pem) as b:
            out.write(a.read() + b.read())
        return chain, key


@pytest.fixture(scope="module")
def ocsp(tmp_path_factory):
    """The CA, the responder (on net.owa(10)) and one certificate per case."""
    net = harness.Net.alloc()
    ca = OcspCA(str(tmp_path_factory.mktemp("ocspca")))
    up, cached_ip, down, silent = net.owa(10), net.owa(11), net.owa(12), net.owa(13)
    late_ip, forged_ip = net.owa(14), net.owa(15)
    other = OcspCA(str(tmp_path_factory.mktemp("otherca")), cn="Not The Issuer CA")
    certs = {
        "good": ca.leaf("good", "http://%s:%d/" % (up, PORT)),
        "revoked": ca.leaf("revoked", "http://%s:%d/" % (up, PORT), revoked=True),
        "cached": ca.leaf("cached", "http://%s:%d/" % (cached_ip, PORT)),
        "down": ca.leaf("down", "http://%s:%d/" % (down, PORT)),
        "silent": ca.leaf("silent", "http://%s:%d/" % (silent, PORT)),
        "late": ca.leaf("late", "http://%s:%d/" % (late_ip, PORT)),
        "forged": ca.leaf("forged", "http://%s:%d/" % (forged_ip, PORT)),
    }
    resp = Responder(ca, up)
    forged = Responder(ca, forged_ip, signer=(other.pem, other.key))
    # A responder that takes the connection and never answers (the kernel completes the TCP
    # handshake on the listen queue; nothing ever reads).
    hang = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hang.bind((silent, PORT))
    hang.listen(16)
    yield {"ca": ca, "certs": certs, "cached_ip": cached_ip, "late_ip": late_ip, "responder": resp}
    resp.stop()
    forged.stop()
    hang.close()
    net.release()


free_port = harness.free_port


def stack_with(make_stack, tmp_path, cert, **proxy):
    net = harness.Net.alloc()
    port = free_port()
    proxy.setdefault("state_dir", str(tmp_path / "state"))
    st = make_stack(net=net, pools=[Pool("fe", [net.member(1)], NAMES, http="forward")],
                    https_port=443, certs=[cert], admin="127.0.0.1:%d" % port, **proxy)
    st.admin_port = port
    return st


def s_client(st, ca):
    """(stapled status or None, seconds the handshake took, output) from openssl s_client
    -status."""
    t0 = time.monotonic()
    r = subprocess.run(["openssl", "s_client", "-connect", "%s:443" % st.net.ext, "-servername",
                        NAMES[0], "-status", "-CAfile", ca.pem, "-verify_return_error"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=10 * harness.SLOW)
    took = time.monotonic() - t0
    out = r.stdout + r.stderr
    assert "Verify return code: 0 (ok)" in out, out
    if "OCSP response: no response sent" in out:
        return None, took, out
    m = re.search(r"Cert Status: (\w+)", out)
    assert "OCSP Response Status: successful" in out and m, out
    return m.group(1), took, out


def request_ok(st, ca):
    ctx = harness.tls_context(cafile=ca.pem)
    with harness.Client(st.net.ext, 443, st.net.client, None, ctx, server_hostname=NAMES[0]) as c:
        assert c.request().status == 200


def admin_get(st, path):
    return harness.admin_get(st.admin_port, path)


def metric(text, name):
    """{labels text: value} of the samples of NAME."""
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^%s\{([^}]*)\} (\S+)$" % re.escape(name), text, re.M)}


GOOD_LINE = r"ocsp: certificate webext\.contoso\.com \(rsa\): good"


def test_good_response_stapled_cached_and_shown(make_stack, tmp_path, ocsp):
    ca = ocsp["ca"]
    st = stack_with(make_stack, tmp_path, ocsp["certs"]["good"])
    assert st.portico.wait_stderr(GOOD_LINE, timeout=WAIT), st.portico.stderr()
    status, took, out = s_client(st, ca)
    assert status == "good", out
    request_ok(st, ca)
    # The cache: state_dir 0700, the response 0600, written whole.
    d = str(tmp_path / "state")
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    f = os.path.join(d, "webext.contoso.com-rsa.ocsp")
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    assert not [n for n in os.listdir(d) if n.endswith(".tmp")]
    # /metrics and the status page.
    text = admin_get(st, "/metrics")
    lab = 'name="webext.contoso.com",key="rsa"'
    assert metric(text, "portico_certificate_ocsp_stapled") == {lab: 1}, text
    not_after = subprocess.run(["openssl", "x509", "-in", ocsp["certs"]["good"][0], "-noout",
                                "-enddate"], capture_output=True, text=True).stdout
    expiry = metric(text, "portico_certificate_expiry_timestamp_seconds")[lab]
    assert time.strftime("%b %d %H:%M:%S %Y", time.gmtime(expiry)).replace(" 0", "  ") in \
        not_after.replace(" 0", "  "), (expiry, not_after)
    fetch = metric(text, "portico_certificate_ocsp_last_fetch_timestamp_seconds")
    assert list(fetch) == [lab + ',result="good"'] and abs(fetch[lab + ',result="good"'] -
                                                          time.time()) < 120, fetch
    page = admin_get(st, "/status")
    assert "webext.contoso.com" in page and "OCSP Test CA" in page and ">stapled<" in page, page
    # A reload keeps the response (same certificate: same slot), without asking again first.
    asked = ocsp["responder"].requests
    mark = len(st.portico.stderr_lines)
    st.portico.signal(1)
    assert st.portico.wait_stderr(r"reload done", timeout=WAIT, start=mark), st.portico.stderr()
    assert s_client(st, ca)[0] == "good"
    assert ocsp["responder"].requests == asked


def test_revoked_not_stapled_and_warned(make_stack, tmp_path, ocsp):
    ca = ocsp["ca"]
    st = stack_with(make_stack, tmp_path, ocsp["certs"]["revoked"])
    lines = st.portico.wait_stderr(r"ocsp: certificate webext\.contoso\.com \(rsa\): .*REVOKED",
                                   timeout=WAIT)
    assert len(lines) == 1 and "warn" in lines[0].lower(), st.portico.stderr()
    status, _, out = s_client(st, ca)
    assert status is None, out
    request_ok(st, ca)
    text = admin_get(st, "/metrics")
    assert metric(text, "portico_certificate_ocsp_stapled") == {
        'name="webext.contoso.com",key="rsa"': 0}, text
    assert 'result="revoked"' in text
    assert not os.path.exists(str(tmp_path / "state" / "webext.contoso.com-rsa.ocsp"))


def test_responder_down_not_stapled_no_wait(make_stack, tmp_path, ocsp):
    ca = ocsp["ca"]
    st = stack_with(make_stack, tmp_path, ocsp["certs"]["down"])
    assert st.portico.wait_stderr(r"ocsp: certificate .*: fetch from http://\S+ failed: .*"
                                  r"not stapled; retrying in \d+ s", timeout=WAIT), \
        st.portico.stderr()
    status, took, out = s_client(st, ca)
    assert status is None and took < 3 * harness.SLOW, (took, out)
    request_ok(st, ca)
    assert 'result="error"' in admin_get(st, "/metrics")


def test_silent_responder_never_delays_a_handshake(make_stack, tmp_path, ocsp):
    """The helper waits up to 10 s for this responder; the workers do not wait at all."""
    ca = ocsp["ca"]
    st = stack_with(make_stack, tmp_path, ocsp["certs"]["silent"])
    for _ in range(3):
        status, took, out = s_client(st, ca)
        assert status is None and took < 3 * harness.SLOW, (took, out)
    request_ok(st, ca)
    t0 = time.monotonic()
    assert st.stop() == 0
    assert time.monotonic() - t0 < 8 * harness.SLOW  # the helper is killed, not waited for


def test_forged_response_not_stapled(make_stack, tmp_path, ocsp):
    """A response signed by another CA does not verify against the issuer: never stapled."""
    ca = ocsp["ca"]
    st = stack_with(make_stack, tmp_path, ocsp["certs"]["forged"])
    assert st.portico.wait_stderr(r"fetch from \S+ failed: the signature does not verify "
                                  r"against the issuer", timeout=WAIT), st.portico.stderr()
    status, _, out = s_client(st, ca)
    assert status is None, out
    assert not os.path.exists(str(tmp_path / "state" / "webext.contoso.com-rsa.ocsp"))


def test_late_response_takes_effect_without_reload(make_stack, tmp_path, ocsp):
    """The responder comes up after portico: the retry (30 s, +-10 %) gets the response, the
    next handshake staples it, and a connection opened before goes on; no reload, no new
    worker."""
    ca = ocsp["ca"]
    st = stack_with(make_stack, tmp_path, ocsp["certs"]["late"], timeout_keepalive=120)
    assert st.portico.wait_stderr(r"fetch from \S+ failed: .*retrying in (2[7-9]|3[0-3]) s",
                                  timeout=WAIT), st.portico.stderr()
    assert s_client(st, ca)[0] is None
    workers = st.portico.worker_pids()
    ctx = harness.tls_context(cafile=ca.pem)
    before = harness.Client(st.net.ext, 443, st.net.client, None, ctx, server_hostname=NAMES[0])
    assert before.request().status == 200
    resp = Responder(ca, ocsp["late_ip"])
    try:
        assert st.portico.wait_stderr(GOOD_LINE, timeout=40), st.portico.stderr()
        assert s_client(st, ca)[0] == "good"
        assert before.request().status == 200      # the same connection, still served
        before.close()
        assert not [l for l in st.portico.stderr_lines if "reloading" in l]
        assert st.portico.worker_pids() == workers
    finally:
        resp.stop()


def test_cached_response_reused_after_restart(make_stack, tmp_path, ocsp):
    ca = ocsp["ca"]
    resp = Responder(ca, ocsp["cached_ip"])
    try:
        st = stack_with(make_stack, tmp_path, ocsp["certs"]["cached"])
        assert st.portico.wait_stderr(GOOD_LINE, timeout=WAIT), st.portico.stderr()
        assert st.stop() == 0
    finally:
        resp.stop()
    asked = resp.requests
    # The responder is gone: the second portico staples the cached response from the start.
    st2 = stack_with(make_stack, tmp_path, ocsp["certs"]["cached"])
    assert [l for l in st2.portico.stderr_lines if re.search(r"cached response .* stapled", l)], \
        st2.portico.stderr()
    status, _, out = s_client(st2, ca)
    assert status == "good", out
    assert resp.requests == asked
    assert not st2.portico.wait_stderr(r"fetch from", timeout=2), st2.portico.stderr()


def test_stapling_off(make_stack, tmp_path, ocsp):
    ca = ocsp["ca"]
    asked = ocsp["responder"].requests
    st = stack_with(make_stack, tmp_path, ocsp["certs"]["good"], ocsp_stapling="off")
    status, _, out = s_client(st, ca)
    assert status is None, out
    assert ocsp["responder"].requests == asked
    assert not os.path.exists(str(tmp_path / "state"))
    assert 'result="off"' in admin_get(st, "/metrics")


def test_state_dir_checked(tmp_path, ocsp, pki):
    f = tmp_path / "not-a-dir"
    f.write_text("x")
    conf = tmp_path / "p.conf"
    chain, key = ocsp["certs"]["good"]
    conf.write_text("[proxy]\nexternal = 127.0.0.1\ncertificate = %s\nkey = %s\nstate_dir = %s\n\n"
                    "[pool fe]\nrole = frontend\nservers = 127.0.0.1\npublish = %s\n"
                    % (chain, key, f, NAMES[0]))
    r = harness.run_portico(["-t", "-c", str(conf)])
    assert r.returncode != 0
    assert re.search(r"p\.conf:5: state_dir '%s': not a directory" % re.escape(str(f)),
                     r.stdout + r.stderr), r.stdout + r.stderr
