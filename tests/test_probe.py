"""portico probe: every pool member checked from the internal address (issue 4).

Mock members (mockpool.py) serve certificates made here with the openssl CLI: one for the
published names from the CA the pools trust, one with the same names from a CA nobody
trusts, one for another name only, one covering a single published name. Beside them: a port
where nothing listens, a listener that accepts but never speaks (handshake timeout), a
member that allows only TLS 1.0-1.1, and a plain HTTP member that answers 503.

Addresses: 127.60.B.x, with B chosen per process, so concurrent runs do not collide.
"""

import os
import re
import socket
import subprocess
import threading

import pytest

import harness

BLOCK = 1 + (os.getpid() % 40) * 6          # 127.60.BLOCK+k.x, k in 0..5
NAMES = ["webext.contoso.com", "meet.contoso.com", "dialin.contoso.com",
         "lyncdiscover.contoso.com"]


def net(k, i):
    return "127.60.%d.%d" % (BLOCK + k, i)


class Certs:
    def __init__(self, d):
        self.dir = d

    def run(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.dir, capture_output=True, text=True)
        assert r.returncode == 0, "openssl %s: %s" % (" ".join(args), r.stderr)

    def ca(self, stem, cn):
        self.run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", stem + ".key",
                 "-out", stem + ".pem", "-days", "30", "-subj", "/CN=" + cn,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def leaf(self, stem, sans, ca="ca"):
        with open(os.path.join(self.dir, stem + ".ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n"
                    % ",".join("DNS:" + n for n in sans))
        self.run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", stem + ".key", "-out",
                 stem + ".csr", "-subj", "/CN=" + sans[0])
        self.run("x509", "-req", "-in", stem + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                 "-CAcreateserial", "-days", "30", "-out", stem + ".pem", "-extfile", stem + ".ext")

    def pair(self, stem):
        return os.path.join(self.dir, stem + ".pem"), os.path.join(self.dir, stem + ".key")

    def generate(self):
        self.ca("ca", "Contoso Internal Probe CA")
        self.ca("other-ca", "Untrusted Probe CA")
        good = NAMES + ["owa.contoso.com", "*.apps.contoso.com", "fe01.contoso.local"]
        self.leaf("good", good)
        self.leaf("untrusted", good, ca="other-ca")
        self.leaf("wrongname", ["pool.fabrikam.local"])
        self.leaf("partial", ["webext.contoso.com"])
        return self


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(str(tmp_path_factory.mktemp("probe-pki"))).generate()


@pytest.fixture
def mocks(tmp_path):
    started = []

    def start(name, listens, cert=None, extra=()):
        m = harness.Mock(str(tmp_path), name, listens, cert=cert, extra_args=extra)
        started.append(m)
        return m.start()

    yield start
    for m in started:
        m.stop()


def probe(conf):
    r = harness.run_portico(["probe", "-c", conf], timeout=60)
    for marker in harness.SANITIZER_MARKERS:
        assert marker not in r.stderr, r.stderr
    return r


def rows(stdout):
    """[(pool, member, port, check, result, reason)] from the table."""
    out = []
    for line in stdout.splitlines():
        if not line.startswith("| ") or line.startswith("| pool "):
            continue
        cells = [c.strip() for c in line.strip()[1:-1].split("|", 5)]
        out.append((cells[0], cells[1], int(cells[2]), cells[3], cells[4], cells[5]))
    return out


def find(rs, member, port, check):
    got = [r for r in rs if r[1] == member and r[2] == port and r[3] == check]
    assert len(got) == 1, "no single %s/%d/%s row in %r" % (member, port, check, rs)
    return got[0]


def answering_server(ip, port, answer):
    """A listener that answers whatever arrives first with ANSWER, then closes."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((ip, port))
    lsock.listen(8)

    def serve():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            try:
                c.recv(4096)
                c.sendall(answer)
            except OSError:
                pass
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    return lsock


def write_conf(tmp_path, text):
    p = tmp_path / "probe.conf"
    p.write_text(text)
    return str(p)


def test_all_ok(tmp_path, certs, mocks):
    """Front End (4443 + 8080, lyncdiscover forwarded) and Office Web Apps (443): every check
    passes, from the internal address, with the names and paths the proxy would use."""
    internal = net(0, 2)
    fe = [net(0, 11), net(0, 12)]
    owa = net(0, 21)
    m1 = mocks("fe1", [(fe[0], 4443, True), (fe[0], 8080, False)], cert=certs.pair("good"))
    mocks("fe2", [(fe[1], 4443, True), (fe[1], 8080, False)], cert=certs.pair("good"))
    mocks("owa", [(owa, 443, True)], cert=certs.pair("good"))
    conf = write_conf(tmp_path, """
[proxy]
external = %s
internal = %s
[pool fe]
role = frontend
servers = %s %s
publish = %s *.apps.contoso.com
ca = %s
[pool owa]
role = owa
servers = %s
publish = owa.contoso.com
ca = %s
""" % (net(0, 1), internal, fe[0], fe[1], " ".join(NAMES), certs.pair("ca")[0], owa,
       certs.pair("ca")[0]))
    r = probe(conf)
    rs = rows(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert all(x[4] == "OK" for x in rs), r.stdout
    # 2 FE members x (4443: connect, tls, names, http + 8080: connect, http) + OWA 4 checks
    assert len(rs) == 2 * 6 + 4, r.stdout
    for m in fe:
        assert find(rs, m, 4443, "connect")[5] == "connected from %s" % internal
        assert find(rs, m, 8080, "connect")[5] == "connected from %s" % internal
        assert "covers the 5 published names" in find(rs, m, 4443, "names")[5]
        http = find(rs, m, 4443, "http")[5]
        assert "/Autodiscover/AutodiscoverService.svc/root" in http and "HTTP 200" in http
        assert "Host webext.contoso.com" in http
        # port 8080 only ever carries what port 80 forwards: the lyncdiscover name
        assert "Host lyncdiscover.contoso.com" in find(rs, m, 8080, "http")[5]
    assert "issuer /CN=Contoso Internal Probe CA (trusted)" in find(rs, owa, 443, "tls")[5]
    assert "GET /hosting/discovery" in find(rs, owa, 443, "http")[5]
    assert "2 checks" not in r.stdout and "16 checks: 16 OK, 0 FAIL" in r.stdout
    assert re.search(r"probe \[1/5\]: pool fe, %s port 4443" % re.escape(fe[0]), r.stderr), r.stderr
    # what the member saw: the internal address as source, the SNI and Host of the proxy
    ev = m1.events()
    opens = [e for e in ev if e["ev"] == "open"]
    assert len(opens) == 2 and all(e["peer"].startswith(internal + ":") for e in opens), ev
    assert [e["sni"] for e in ev if e["ev"] == "tls"] == ["webext.contoso.com"], ev
    assert [e["target"] for e in ev if e["ev"] == "req"] == \
        ["/Autodiscover/AutodiscoverService.svc/root"] * 2, ev
    assert m1.saw("Host: lyncdiscover.contoso.com\r\n") and m1.saw("Host: webext.contoso.com\r\n")


def test_failures(tmp_path, certs, mocks):
    """Each way a member can be wrong gives FAIL with its reason, and exit status 1."""
    a = {k: net(1, i) for k, i in (("good", 11), ("untrusted", 12), ("wrongname", 13),
                                    ("partial", 14), ("nothing", 15), ("oldtls", 16),
                                    ("silent", 17), ("plain", 18), ("http503", 31))}
    for stem in ("good", "untrusted", "wrongname", "partial"):
        mocks(stem, [(a[stem], 4443, True), (a[stem], 8080, False)], cert=certs.pair(stem))
    mocks("oldtls", [(a["oldtls"], 4443, True)], cert=certs.pair("good"),
          extra=["--tls-min", "1.0", "--tls-max", "1.1"])
    # accepts TCP (the kernel completes the handshake for the backlog) and never speaks
    silent = socket.socket()
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    silent.bind((a["silent"], 4443))
    silent.listen(8)
    # plain HTTP where TLS is expected (a pool configured with the wrong port): answers the
    # ClientHello with a 400, as a web server does
    plain = answering_server(a["plain"], 4443, b"HTTP/1.1 400 Bad Request\r\n\r\n")
    # a plain HTTP member whose web service is broken
    broken = answering_server(a["http503"], 8080,
                              b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
    try:
        conf = write_conf(tmp_path, """
[proxy]
external = %s
internal = %s
timeout_connect = 2
[pool fe]
role = frontend
servers = %s
publish = %s
ca = %s
[pool web]
role = generic
servers = %s
publish = lyncdiscover.fabrikam.com
http_port = 8080
""" % (net(1, 1), net(1, 2),
       " ".join(a[k] for k in ("good", "untrusted", "wrongname", "partial", "nothing", "oldtls",
                               "silent", "plain")),
       " ".join(NAMES), certs.pair("ca")[0], a["http503"]))
        r = probe(conf)
    finally:
        for sock in (silent, plain, broken):
            sock.close()
    rs = rows(r.stdout)
    assert r.returncode == 1, r.stdout + r.stderr

    assert all(x[4] == "OK" for x in rs if x[1] == a["good"]), r.stdout
    assert len([x for x in rs if x[1] == a["good"]]) == 6

    tls = find(rs, a["untrusted"], 4443, "tls")
    assert tls[4] == "FAIL" and tls[5].startswith("untrusted issuer: unable to get local issuer "
                                                  "certificate"), tls
    assert find(rs, a["untrusted"], 8080, "http")[4] == "OK"     # plain HTTP is not affected

    names = find(rs, a["wrongname"], 4443, "names")
    assert names[4] == "FAIL" and names[5].startswith(
        "name mismatch: webext.contoso.com, meet.contoso.com, dialin.contoso.com, "
        "lyncdiscover.contoso.com not in the certificate (pool.fabrikam.local)"), names
    assert find(rs, a["wrongname"], 4443, "tls")[4] == "OK"       # the chain itself is fine

    names = find(rs, a["partial"], 4443, "names")
    assert names[4] == "FAIL" and "meet.contoso.com, dialin.contoso.com, lyncdiscover.contoso.com " \
        "not in the certificate (webext.contoso.com)" in names[5], names

    for port in (4443, 8080):
        c = find(rs, a["nothing"], port, "connect")
        assert c[4] == "FAIL" and c[5].startswith("refused"), c
    assert not [x for x in rs if x[1] == a["nothing"] and x[3] != "connect"]

    tls = find(rs, a["oldtls"], 4443, "tls")
    assert tls[4] == "FAIL" and tls[5].startswith("TLS version:") and "tls_min = 1.2" in tls[5], tls

    tls = find(rs, a["silent"], 4443, "tls")
    assert tls[4] == "FAIL" and tls[5] == "handshake timeout: no answer in 2 s", tls

    tls = find(rs, a["plain"], 4443, "tls")
    assert tls[4] == "FAIL" and tls[5].startswith("TLS handshake failure:") and \
        "does the port speak TLS?" in tls[5], tls

    http = find(rs, a["http503"], 8080, "http")
    assert http[4] == "FAIL" and "GET / (Host lyncdiscover.fabrikam.com): HTTP 503 Service " \
        "Unavailable" in http[5], http
    assert find(rs, a["http503"], 443, "connect")[4] == "FAIL"
    nfail = len([x for x in rs if x[4] == "FAIL"])
    assert "%d FAIL" % nfail in r.stdout and nfail == 13, r.stdout


def test_verify_name_and_verify_off(tmp_path, certs, mocks):
    """verify_name: that one name is what the certificate must carry. verify = off: the
    proxy checks nothing, so neither does probe fail (it says what would fail)."""
    a, b = net(2, 11), net(2, 12)
    mocks("a", [(a, 4443, True)], cert=certs.pair("good"))
    mocks("b", [(b, 4443, True)], cert=certs.pair("untrusted"))
    conf = write_conf(tmp_path, """
[proxy]
external = %s
internal = %s
http_port = off
[pool named]
role = frontend
servers = %s
publish = webext.fabrikam.com
verify_name = fe01.contoso.local
ca = %s
[pool loose]
role = frontend
servers = %s
publish = meet.fabrikam.com
verify = off
""" % (net(2, 1), net(2, 2), a, certs.pair("ca")[0], b))
    r = probe(conf)
    rs = rows(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "covers the 1 verify_name (" in find(rs, a, 4443, "names")[5]
    assert "not verified: verify = off" in find(rs, b, 4443, "tls")[5]
    n = find(rs, b, 4443, "names")
    assert n[4] == "OK" and "would fail for meet.fabrikam.com" in n[5], n
    assert not [x for x in rs if x[2] == 8080]           # HTTP listener off: no 8080 checks


def test_bind_failure_and_kernel_source(tmp_path, certs, mocks):
    """An internal address the host does not have fails every check at once; without
    internal the kernel chooses the source."""
    m = net(3, 11)
    mocks("m", [(m, 4443, True)], cert=certs.pair("good"))
    base = """
[proxy]
external = %s
%s
[pool fe]
role = frontend
servers = %s
publish = webext.contoso.com
ca = %s
"""
    conf = write_conf(tmp_path, base % (net(3, 1), "internal = 192.0.2.99", m, certs.pair("ca")[0]))
    r = probe(conf)
    rs = rows(r.stdout)
    assert r.returncode == 1
    c = find(rs, m, 4443, "connect")
    assert c[4] == "FAIL" and "cannot bind to the internal address 192.0.2.99" in c[5], c
    conf = write_conf(tmp_path, base % (net(3, 1), "", m, certs.pair("ca")[0]))
    r = probe(conf)
    assert r.returncode == 0, r.stdout + r.stderr
    assert find(rows(r.stdout), m, 4443, "connect")[5].startswith("connected from 127.")


def test_ipv6_member(tmp_path, certs, mocks):
    """An IPv6 member, reached from an IPv6 internal address."""
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        port = s.getsockname()[1]
        s.close()
    except OSError as e:
        pytest.skip("no IPv6 loopback: %s" % e)
    mocks("v6", [("::1", port, True)], cert=certs.pair("good"))
    conf = write_conf(tmp_path, """
[proxy]
external = %s
internal = ::1
[pool owa]
role = owa
servers = [::1]:%d
publish = owa.contoso.com
ca = %s
""" % (net(4, 1), port, certs.pair("ca")[0]))
    r = probe(conf)
    rs = rows(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert find(rs, "::1", port, "connect")[5] == "connected from ::1"
    assert [x[3] for x in rs] == ["connect", "tls", "names", "http"]
