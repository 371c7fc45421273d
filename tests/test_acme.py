"""ACME issuance and renewal (issue 15, docs/certificates.md#acme; RFC 8555, HTTP-01, and
TLS-ALPN-01, RFC 8737).

Debian's pebble (the ACME test server) and pebble-challtestsrv (its DNS server, answering A
records for every name with portico's external address) are started by the tests on loopback.
pebble's TLS certificate is made here by a small CA, given to portico as [acme] ca. Cases:
issuance through HTTP-01 (the certificate served on the HTTPS listener, its files and modes), a
restart that reuses it without a new order, issuance through TLS-ALPN-01 with the port-80
listener off (a client offering acme-tls/1 alone is refused when no challenge is pending, and
h1 clients are unaffected during the challenge), a CA that is down (backoff, the old certificate keeps
serving), a renewal while a client loop makes requests (none fails, new connections see the new
serial), the challenge path never forwarded, and the -t checks.
"""
import json
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import threading
import time

import pytest

import harness

WAIT = 30 * harness.SLOW
NAMES = harness.DEFAULT_NAMES


free_port = harness.free_port


def wait_port(ip, port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout * harness.SLOW
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (proc.args[0], proc.returncode))
        try:
            socket.create_connection((ip, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nothing listens on %s:%d" % (ip, port))


class Pebble:
    """pebble on 127.0.0.1 (httpPort: portico's port-80 listener) and its DNS server."""

    def __init__(self, d, ext_ip, env=None):
        self.dir = d
        os.makedirs(d, exist_ok=True)
        self.ext_ip = ext_ip
        self.env = env or {}
        self.ca = os.path.join(d, "pebble-ca.pem")
        run = lambda *a: subprocess.run(["openssl"] + list(a), cwd=d, check=True,
                                        capture_output=True)
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "pebble-ca.key", "-out", "pebble-ca.pem", "-days", "2",
            "-subj", "/CN=pebble test TLS CA", "-addext", "basicConstraints=critical,CA:TRUE")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "pebble.key", "-out", "pebble.csr", "-subj", "/CN=127.0.0.1")
        with open(os.path.join(d, "pebble.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        run("x509", "-req", "-in", "pebble.csr", "-CA", "pebble-ca.pem", "-CAkey", "pebble-ca.key",
            "-CAcreateserial", "-days", "2", "-out", "pebble.pem", "-extfile", "pebble.ext")
        self.port = free_port()
        self.mgmt = free_port()
        self.dns = free_port(kind=socket.SOCK_DGRAM)
        self.url = "https://127.0.0.1:%d/dir" % self.port
        self.procs = []

    def start(self):
        """Starts pebble and its DNS server. The ports were free when picked, but another test
        run on the machine may take one before pebble binds it: then new ports, at most thrice."""
        for attempt in range(3):
            try:
                return self._start()
            except RuntimeError:
                self.stop()
                if attempt == 2 or "address already in use" not in self.log():
                    raise
                self.port, self.mgmt = free_port(), free_port()
                self.dns = free_port(kind=socket.SOCK_DGRAM)
                self.url = "https://127.0.0.1:%d/dir" % self.port

    def _start(self):
        conf = {"pebble": {"listenAddress": "127.0.0.1:%d" % self.port,
                           "managementListenAddress": "127.0.0.1:%d" % self.mgmt,
                           "certificate": os.path.join(self.dir, "pebble.pem"),
                           "privateKey": os.path.join(self.dir, "pebble.key"),
                           "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "",
                           "externalAccountBindingRequired": False}}
        path = os.path.join(self.dir, "pebble.json")
        with open(path, "w") as f:
            json.dump(conf, f)
        dns = subprocess.Popen(
            ["pebble-challtestsrv", "-dns01", "127.0.0.1:%d" % self.dns, "-defaultIPv4", self.ext_ip,
             "-defaultIPv6", "", "-http01", "", "-https01", "", "-tlsalpn01", "",
             "-management", "127.0.0.1:%d" % free_port()],
            stdout=open(os.path.join(self.dir, "dns.log"), "ab"), stderr=subprocess.STDOUT)
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", **self.env)
        peb = subprocess.Popen(["pebble", "-config", path, "-dnsserver", "127.0.0.1:%d" % self.dns],
                               stdout=open(os.path.join(self.dir, "pebble.log"), "ab"),
                               stderr=subprocess.STDOUT, env=env)
        self.procs = [dns, peb]
        wait_port("127.0.0.1", self.port, peb)
        return self

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            p.wait(10)
        self.procs = []

    def log(self):
        with open(os.path.join(self.dir, "pebble.log"), errors="replace") as f:
            return f.read()

    def orders(self):
        return len(re.findall(r"POST /order-plz", self.log()))


@pytest.fixture
def pebble(tmp_path):
    net = harness.Net.alloc()
    p = Pebble(str(tmp_path / "pebble"), net.ext)
    p.net = net
    p.start()
    yield p
    p.stop()


def acme_stack(make_stack, pebble, tmp_path, directory=None, proxy=None, **acme):
    conf = {"directory": directory or pebble.url, "contact": "mailto:admin@contoso.com",
            "ca": pebble.ca}
    conf.update(acme)
    port = free_port()
    st = make_stack(net=pebble.net, https_port=443, certificate="acme",
                    state_dir=str(tmp_path / "state"), acme=conf, admin="127.0.0.1:%d" % port,
                    **(proxy or {}))
    st.admin_port = port
    return st


def acme_status(st, name="webext.contoso.com", key="ecdsa"):
    """(the /status.json "acme" object of the certificate NAME (KEY), its ACME cell on /status)."""
    doc = json.loads(harness.admin_get(st.admin_port, "/status.json"))
    got = [c for c in doc["certificates"] if name in c["names"].split() and c["key"] == key]
    assert len(got) == 1, doc["certificates"]
    page = harness.admin_get(st.admin_port, "/status")
    table = page[page.index('<table id="certificates"'):]
    assert "<th>ACME</th>" in table[:table.index("</tr>")], table
    row = next(r for r in table[:table.index("</table>")].split("<tr>") if name in r and
               "<td>%s</td>" % key in r)
    cell = re.search(r'<td class="acme">(.*?)</td>', row).group(1)
    return got[0]["acme"], cell


def wait_acme_status(st, pred, timeout=WAIT):
    """Polls acme_status until pred(json, cell) holds; returns the last (json, cell)."""
    deadline = time.monotonic() + timeout * harness.SLOW
    while True:
        js, cell = acme_status(st)
        if pred(js, cell) or time.monotonic() > deadline:
            return js, cell
        time.sleep(0.1)


def metrics(st):
    with harness.Client("127.0.0.1", st.admin_port) as c:
        r = c.request(target="/metrics", host="127.0.0.1")
        assert r.status == 200
        return r.body.decode()


def served(st, sni="webext.contoso.com"):
    """The DER certificate the HTTPS listener serves (not verified: read, then compared)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((st.net.ext, 443), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            return t.getpeercert(binary_form=True)


def cert_info(der):
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial", "-issuer",
                          "-ext", "subjectAltName"], input=der, capture_output=True, check=True)
    return out.stdout.decode()


def file_der(path):
    """The DER of the first certificate of the PEM file (the leaf of a chain)."""
    with open(path) as f:
        text = f.read()
    end = "-----END CERTIFICATE-----"
    return ssl.PEM_cert_to_DER_cert(text[:text.index(end) + len(end)])


def not_after(path):
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-enddate"],
                         capture_output=True, text=True, check=True).stdout
    return ssl.cert_time_to_seconds(out.strip().split("=", 1)[1])


def wait_issued(st, start=0, count=1):
    t0 = time.monotonic()
    got = st.portico.wait_stderr(r"acme: certificate .* issued", timeout=WAIT, count=count,
                                 start=start)
    assert len(got) >= count, st.portico.stderr()
    return time.monotonic() - t0


def wait_serving(st, path, timeout=WAIT):
    deadline = time.monotonic() + timeout * harness.SLOW
    want = file_der(path)
    while time.monotonic() < deadline:
        if served(st) == want:
            return want
        time.sleep(0.1)
    raise AssertionError("%s not served; stderr:\n%s" % (path, st.portico.stderr()))


def restart(st):
    st.portico.stop()
    start = len(st.portico.stderr_lines)
    st.portico.ready.clear()
    st.portico.start()
    return start


def test_issuance_http01_served_files_and_restart(make_stack, pebble, tmp_path):
    t0 = time.monotonic()
    st = acme_stack(make_stack, pebble, tmp_path)
    crt = str(tmp_path / "state" / "acme" / "webext.contoso.com.crt")
    # Until the order completes, a self-signed placeholder serves.
    assert "portico ACME placeholder" in cert_info(served(st))
    wait_issued(st)
    der = wait_serving(st, crt)
    elapsed = time.monotonic() - t0
    info = cert_info(der)
    assert "Pebble Intermediate" in info
    for n in NAMES:
        assert "DNS:" + n in info
    print("time to first certificate (start to served): %.2f s" % elapsed)
    d = tmp_path / "state" / "acme"
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for f in ["account.key", "webext.contoso.com.crt", "webext.contoso.com.key"]:
        assert stat.S_IMODE(os.stat(d / f).st_mode) == 0o600, f
    assert not [f for f in os.listdir(d) if f.endswith(".tmp")]
    # The status page's ACME column and /status.json: challenge, last order, next renewal
    # (two thirds of pebble's lifetime, as pc_acme_renew_at computes it from the file).
    js, cell = wait_acme_status(st, lambda j, c: j["result"] == "ok")
    assert js["challenge"] == "http-01" and js["result"] == "ok" and js["failures"] == 0, js
    assert abs(js["last_order"] - time.time()) < 120 and js["detail"] == "", js
    nb = ssl.cert_time_to_seconds(subprocess.run(
        ["openssl", "x509", "-in", crt, "-noout", "-startdate"], capture_output=True, text=True,
        check=True).stdout.strip().split("=", 1)[1])
    na = not_after(crt)
    assert abs(js["next_order"] - (nb + (na - nb) * 2 / 3)) <= 2, (js, nb, na)
    assert cell.startswith('http-01; last order: <span class="up">ok</span> ') and \
        "; next: " in cell and time.strftime("%Y-%m-%d", time.gmtime(js["next_order"])) in cell, \
        cell
    # /metrics: the last order and the next (docs/certificates.md#acme).
    text = metrics(st)
    assert re.search(r'portico_acme_last_order_timestamp_seconds\{name="webext.contoso.com",'
                     r'key="ecdsa",result="(ok|none)"\} \d+', text), text
    assert 'portico_acme_order_failures_total{name="webext.contoso.com",key="ecdsa"} 0' in text
    # The HTTP side still works, and the account key never reaches the log.
    assert st.request(target="/echo").status == 200
    with open(d / "account.key") as f:
        body = "".join(f.read().splitlines()[1:-1])
    assert body[:40] not in st.portico.stderr()
    # A restart serves the saved pair and orders nothing.
    orders = pebble.orders()
    start = restart(st)
    assert served(st) == der
    assert st.portico.wait_stderr(r"acme: certificate .* is in place; renewal in", start=start)
    time.sleep(1)
    assert pebble.orders() == orders
    assert not [l for l in st.portico.stderr_lines[start:] if "ordering a certificate" in l]
    js, cell = acme_status(st)
    assert js["result"] == "none" and js["last_order"] == 0 and js["next_order"] > time.time()
    assert cell.startswith('http-01; last order: <span class="none">none</span> since start'), cell


def test_challenge_path_not_forwarded(make_stack, pebble, tmp_path):
    st = acme_stack(make_stack, pebble, tmp_path, directory="https://127.0.0.1:1/dir")
    r = st.request(target="/.well-known/acme-challenge/nosuchtoken")
    assert r.status == 404
    assert not st.mock.saw("nosuchtoken")


def test_ca_down_backoff_old_certificate_serves(make_stack, pebble, tmp_path):
    st = acme_stack(make_stack, pebble, tmp_path)
    crt = str(tmp_path / "state" / "acme" / "webext.contoso.com.crt")
    wait_issued(st)
    der = wait_serving(st, crt)
    # The CA goes away and the certificate is due 2 s later.
    pebble.stop()
    text = open(st.portico.config_path).read().replace(
        "[acme]", "[acme]\nrenew_before = %d" % (not_after(crt) - time.time() - 2))
    with open(st.portico.config_path, "w") as f:
        f.write(text)
    start = len(st.portico.stderr_lines)
    st.portico.signal(signal.SIGHUP)
    got = st.portico.wait_stderr(r"acme: order for webext.contoso.com \(ecdsa\) failed: .*"
                                 r"keeps serving; retrying in (\d+) s", timeout=WAIT, start=start)
    assert got, st.portico.stderr()
    wait = int(re.search(r"retrying in (\d+) s", got[0]).group(1))
    assert 25 <= wait <= 35
    assert served(st) == der
    text = metrics(st)
    assert 'key="ecdsa",result="error"}' in text
    assert 'portico_acme_order_failures_total{name="webext.contoso.com",key="ecdsa"} 1' in text
    js, cell = acme_status(st)
    assert js["result"] == "error" and js["failures"] == 1, js
    assert "onnect" in js["detail"], js   # libcurl: "Couldn't connect to server"
    assert abs(js["next_order"] - (js["last_order"] + wait)) <= 1, (js, wait)
    assert cell.startswith('http-01; last order: <span class="down">error</span> '), cell
    assert "onnect" in cell and "; next: " in cell, cell
    assert st.request(target="/echo").status == 200


def renew_soon(st, crt, secs):
    """Makes ST's helper renew in about SECS seconds (renew_before = the rest of CRT's lifetime
    minus SECS) and reloads; returns the stderr mark before the reload."""
    renew_before = int(not_after(crt) - time.time()) - secs
    text = open(st.portico.config_path).read().replace(
        "[acme]", "[acme]\nrenew_before = %d" % renew_before)
    with open(st.portico.config_path, "w") as f:
        f.write(text)
    mark = len(st.portico.stderr_lines)
    st.portico.signal(signal.SIGHUP)
    return mark


class ClientLoops:
    """Four client threads on ST, one request per TLS connection (a keep-alive connection idle
    when old workers drain is closed: the HTTP/1.1 race RFC 9112 §9.3.1 has clients retry,
    the reload's behaviour, not the certificate's), counting answers and the certificates."""

    def __init__(self, st, n=4):
        self.st, self.n = st, n
        self.ok = self.failed = 0
        self.certs, self.errors = set(), []
        self.stop = threading.Event()
        self.ctx = harness.tls_context(cafile=None, verify=False)
        self.threads = [threading.Thread(target=self.loop) for _ in range(n)]

    def loop(self):
        while not self.stop.is_set():
            try:
                with self.st.tls_client(ctx=self.ctx) as c:
                    r = c.request(target="/echo")
                    if r.status == 200:
                        self.ok += 1
                    else:
                        self.failed += 1
                    self.certs.add(c.peer_der)
            except Exception as e:
                self.failed += 1
                self.errors.append(repr(e))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(10)


def test_renewal_under_load(make_stack, pebble, tmp_path):
    st = acme_stack(make_stack, pebble, tmp_path)
    crt = str(tmp_path / "state" / "acme" / "webext.contoso.com.crt")
    wait_issued(st)
    first = wait_serving(st, crt)
    start = renew_soon(st, crt, 6)
    with ClientLoops(st) as loops:
        wait_issued(st, start=start)
        second = None
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            second = served(st)
            if second != first:
                break
            time.sleep(0.1)
        assert second != first
        time.sleep(1)
    print("renewal: %d requests in 4 loops, %d failed, %d distinct certificates seen"
          % (loops.ok + loops.failed, loops.failed, len(loops.certs)))
    assert loops.failed == 0, loops.errors
    assert second in loops.certs and first in loops.certs
    assert cert_info(second) != cert_info(first)

def test_check_errors(tmp_path):
    conf = tmp_path / "p.conf"
    conf.write_text("""[proxy]
external = 127.0.0.1
https_port = 443
certificate = acme
key = /nonexistent
[acme]
directory = http://ca.example/dir
contact = admin
key_type = dsa
[pool fe]
servers = 127.0.0.2
publish = webext.contoso.com *.contoso.com
""")
    r = harness.run_portico(["-t", "-c", str(conf)])
    assert r.returncode != 0
    err = r.stderr
    assert "p.conf:5: 'key' after 'certificate = acme'" in err
    assert "p.conf:7: bad value 'http://ca.example/dir' for 'directory'" in err
    assert "p.conf:8: bad value 'admin' for 'contact'" in err
    assert "p.conf:9: bad value 'dsa' for 'key_type'" in err
    assert "'certificate = acme' needs an [acme] section with 'directory'" in err
    conf.write_text("""[proxy]
external = 127.0.0.1
https_port = 443
certificate = acme
[acme]
directory = https://ca.example/dir
[pool fe]
servers = 127.0.0.2
publish = webext.contoso.com *.contoso.com
""")
    r = harness.run_portico(["-t", "-c", str(conf)])
    assert r.returncode == 0, r.stderr
    assert "'*.contoso.com' is left out of the ACME order" in r.stderr
    # [acme] challenge (RFC 8737): each type needs its listener; auto picks by http_port.
    base = """[proxy]
external = 127.0.0.1
https_port = %s
http_port = %s
certificate = acme
[acme]
directory = https://ca.example/dir
challenge = %s
[pool fe]
servers = 127.0.0.2
publish = webext.contoso.com
"""
    for https, http, ch, want in [
            ("443", "80", "tls-alpn", "p.conf:8: bad value 'tls-alpn' for 'challenge' "
                                      "(expected auto | http-01 | tls-alpn-01)"),
            ("443", "off", "http-01", "p.conf:8: 'certificate = acme' with challenge = http-01 "
                                      "needs the port-80 listener (http_port)"),
            ("off", "80", "tls-alpn-01", "p.conf:8: 'certificate = acme' with challenge = "
                                         "tls-alpn-01 needs the HTTPS listener (https_port)")]:
        conf.write_text(base % (https, http, ch))
        r = harness.run_portico(["-t", "-c", str(conf)])
        assert r.returncode != 0 and want in r.stderr, (ch, r.stderr)
    for https, http, ch, warn in [
            ("8443", "80", "tls-alpn-01", "p.conf:8: warning: 'certificate = acme' with "
                                          "https_port = 8443: the CA checks TLS-ALPN-01 on "
                                          "port 443"),
            ("443", "off", "auto", None), ("443", "80", "http-01", None)]:
        conf.write_text(base % (https, http, ch))
        r = harness.run_portico(["-t", "-c", str(conf)])
        assert r.returncode == 0, (ch, r.stderr)
        assert (warn in r.stderr) if warn else "warning" not in r.stderr, (ch, r.stderr)
    # `portico ports`: the HTTPS row says who answers TLS-ALPN-01.
    conf.write_text(base % ("443", "off", "auto"))
    r = harness.run_portico(["ports", "-c", str(conf)])
    assert r.returncode == 0, r.stderr
    row = next(l for l in r.stdout.splitlines() if l.startswith("| HTTPS/TCP/443"))
    assert "ACME TLS-ALPN-01 challenges (ALPN acme-tls/1)" in row
    assert "ACME HTTP-01" not in r.stdout


def test_key_type_both(make_stack, pebble, tmp_path):
    st = acme_stack(make_stack, pebble, tmp_path, key_type="both")
    d = tmp_path / "state" / "acme"
    ec, rsa = str(d / "webext.contoso.com.crt"), str(d / "webext.contoso.com-rsa.crt")
    wait_issued(st, count=2)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if not st.portico.wait_stderr(r"renewal in", timeout=0.1, count=2) and \
                "Pebble" in cert_info(file_der(ec)) and "Pebble" in cert_info(file_der(rsa)):
            break
        time.sleep(0.2)
    # An ECDSA client gets the ECDSA certificate, an RSA-only one the RSA certificate.
    for path, ciphers in ((ec, "ECDHE-ECDSA-AES128-GCM-SHA256"), (rsa, "ECDHE-RSA-AES128-GCM-SHA256")):
        want = file_der(path)
        deadline = time.monotonic() + WAIT
        while True:
            ctx = harness.tls_context(verify=False, max_version="1.2", ciphers=ciphers)
            with st.tls_client(ctx=ctx) as c:
                got = c.sock.getpeercert(binary_form=True)
            if got == want or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert got == want, path
    for f in ["webext.contoso.com-rsa.key", "webext.contoso.com.key"]:
        assert stat.S_IMODE(os.stat(d / f).st_mode) == 0o600


ACME_ID_OID = "1.3.6.1.5.5.7.1.31"      # id-pe-acmeIdentifier (RFC 8737 §6.1)


def acme_tls(st, sni="webext.contoso.com", alpn=("acme-tls/1",)):
    """A TLS handshake offering ALPN ALPN: (selected protocol, server DER, what came after the
    handshake: b"" when the server closed). Raises ssl.SSLError when the handshake fails."""
    ctx = harness.tls_context(verify=False, alpn=alpn)
    with socket.create_connection((st.net.ext, 443), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            proto, der = t.selected_alpn_protocol(), t.getpeercert(binary_form=True)
            try:
                rest = t.recv(100)
            except (ssl.SSLError, OSError):
                rest = b""
            return proto, der, rest


def validation_ext(der):
    """(critical, extnValue bytes) of the acmeIdentifier extension of DER, or None."""
    out = subprocess.run(["openssl", "asn1parse", "-inform", "DER"], input=der,
                         capture_output=True, check=True).stdout.decode()
    lines = out.splitlines()
    for i, l in enumerate(lines):
        if ":" + ACME_ID_OID in l:
            crit = "BOOLEAN" in lines[i + 1] and "255" in lines[i + 1]
            octet = next(x for x in lines[i + 1:i + 3] if "OCTET STRING" in x)
            return crit, bytes.fromhex(octet.split("[HEX DUMP]:")[1])
    return None


def test_issuance_tls_alpn01_port80_off(make_stack, pebble, tmp_path):
    """RFC 8737 with http_port = off (challenge = auto): pebble validates every name on 443."""
    t0 = time.monotonic()
    st = acme_stack(make_stack, pebble, tmp_path, proxy={"http_port": "off"})
    crt = str(tmp_path / "state" / "acme" / "webext.contoso.com.crt")
    assert st.portico.wait_stderr(r"acme: ordering a certificate for webext.contoso.com "
                                  r"\(ecdsa, %d name\(s\), tls-alpn-01\)" % len(NAMES),
                                  timeout=WAIT)
    with pytest.raises(OSError):
        socket.create_connection((st.net.ext, 80), timeout=2).close()
    stop = threading.Event()
    h1 = {"ok": 0, "failed": 0}
    probes = {"validation": [], "refused": 0, "other": 0}
    ctx = harness.tls_context(verify=False)

    def h1_loop():      # ALPN http/1.1 clients while the challenges are pending
        while not stop.is_set():
            try:
                with st.tls_client(ctx=ctx) as c:
                    r = c.request(target="/echo")
                    h1["ok" if r.status == 200 and c.alpn == "http/1.1" else "failed"] += 1
            except Exception:
                h1["failed"] += 1

    def probe_loop():   # what the CA sees: acme-tls/1 alone
        while not stop.is_set():
            try:
                proto, der, rest = acme_tls(st)
                if proto == "acme-tls/1" and rest == b"":
                    probes["validation"].append(der)
                else:
                    probes["other"] += 1
            except ssl.SSLError as e:
                probes["refused" if "no application protocol" in str(e) else "other"] += 1
            time.sleep(0.05)

    threads = [threading.Thread(target=h1_loop), threading.Thread(target=probe_loop)]
    for t in threads:
        t.start()
    try:
        wait_issued(st)
        der = wait_serving(st, crt)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    elapsed = time.monotonic() - t0
    print("TLS-ALPN-01: time to first certificate (start to served): %.2f s; h1 during the "
          "challenge: %d ok, %d failed; acme-tls/1 probes: %d validation certificates, %d refused"
          % (elapsed, h1["ok"], h1["failed"], len(probes["validation"]), probes["refused"]))
    info = cert_info(der)
    assert "Pebble Intermediate" in info
    for n in NAMES:
        assert "DNS:" + n in info
    # Nothing listens on port 80: pebble validated every name over TLS-ALPN-01.
    assert len(re.findall(r"set VALID by completed challenge", pebble.log())) >= 1
    assert h1["failed"] == 0 and h1["ok"] > 0
    assert probes["other"] == 0
    # A validation certificate (RFC 8737 §3): self-signed, the name alone, the critical
    # acmeIdentifier holding an OCTET STRING of 32 bytes; the connection closed after it.
    assert probes["validation"], probes
    v = probes["validation"][0]
    vinfo = cert_info(v)
    assert "DNS:webext.contoso.com" in vinfo and "DNS:meet" not in vinfo
    assert "portico ACME TLS-ALPN-01" in vinfo
    crit, value = validation_ext(v)
    assert crit and len(value) == 34 and value[:2] == b"\x04\x20"
    js, cell = wait_acme_status(st, lambda j, c: j["result"] == "ok")
    assert js["challenge"] == "tls-alpn-01" and js["result"] == "ok", js
    assert cell.startswith('tls-alpn-01; last order: <span class="up">ok</span>'), cell
    # No challenge pending now: acme-tls/1 alone is refused (no_application_protocol) ...
    with pytest.raises(ssl.SSLError, match="alert no application protocol"):
        acme_tls(st)
    # ... while a client that lists acme-tls/1 among others is an ordinary client.
    ctx2 = harness.tls_context(verify=False, alpn=("acme-tls/1", "http/1.1"))
    with st.tls_client(ctx=ctx2) as c:
        assert c.alpn == "http/1.1"
        assert c.request(target="/echo").status == 200
    assert st.portico.wait_stderr(r"TLS handshake failed: .*no application protocol",
                                  timeout=5)
    d = tmp_path / "state" / "acme"
    for f in ["account.key", "webext.contoso.com.crt", "webext.contoso.com.key"]:
        assert stat.S_IMODE(os.stat(d / f).st_mode) == 0o600, f
    assert sorted(os.listdir(d)) == ["account.key", "webext.contoso.com.crt",
                                     "webext.contoso.com.key"]


def test_two_nodes_share_one_certificate(make_stack, pebble, tmp_path):
    """docs/certificates.md "Several nodes": node A orders (certificate = acme), node B, on
    another address, serves A's files as certificate/key (shared storage: the very path A
    writes) with certificate_watch; A renews while a client loop runs against B."""
    a = acme_stack(make_stack, pebble, tmp_path)
    d = tmp_path / "state" / "acme"
    crt, key = str(d / "webext.contoso.com.crt"), str(d / "webext.contoso.com.key")
    wait_issued(a)
    first = wait_serving(a, crt)
    b = make_stack(https_port=443, certificate=crt, key=key, certificate_watch="on",
                   state_dir=str(tmp_path / "state-b"))
    assert b.net.ext != a.net.ext
    assert served(b) == first
    b_pid = b.portico.pid
    b_mark = len(b.portico.stderr_lines)
    a_mark = renew_soon(a, crt, 4)   # A's renewal in about 4 s
    with ClientLoops(b) as loops:
        wait_issued(a, start=a_mark)
        t_issued = time.monotonic()
        second = file_der(crt)
        assert second != first
        deadline = t_issued + WAIT
        while served(b) != second and time.monotonic() < deadline:
            time.sleep(0.05)
        t_b = time.monotonic() - t_issued
        assert served(b) == second, b.portico.stderr()
        time.sleep(1)
    print("two nodes: %d requests from 4 client loops on B, %d failed; node B "
          "served the new serial %.2f s after A's renewal" % (loops.ok + loops.failed,
                                                             loops.failed, t_b))
    assert loops.failed == 0, loops.errors
    assert first in loops.certs and second in loops.certs
    assert "Pebble Intermediate" in cert_info(second) and cert_info(second) != cert_info(first)
    # B reloaded by itself (no SIGHUP, the same master), and nothing was refused.
    assert b.portico.pid == b_pid
    assert b.portico.wait_stderr(r"certificate_watch: .*webext\.contoso\.com\.(crt|key) changed",
                                 start=b_mark)
    assert not [l for l in b.portico.stderr_lines[b_mark:] if "reload refused" in l]
    # B orders nothing and answers no challenge: only A talks to the CA.
    assert not [l for l in b.portico.stderr_lines if "acme:" in l]
