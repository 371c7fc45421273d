"""End to end in network namespaces (issue 4): the seed's two-interface layout with the
generated nftables ruleset, and two portico nodes sharing the external address with keepalived.

Every namespace, veth pair and bridge is created by the test and removed at teardown, even when
a test fails (tests/netns/nslib.py: names "pct-<pid>-<tag>-<role>", veths made directly inside
their namespaces; a run killed before its teardown is swept by the next one). Addresses are the
documentation ranges, which exist only inside these isolated namespaces:

  e2e:  client 192.0.2.2 --- 192.0.2.10 [proxy] 198.51.100.10 --- 198.51.100.1 [pool]
        pool: Front End 203.0.113.11 (4443 TLS, 8080), Office Web Apps 203.0.113.21 (443 TLS)
        The proxy's ruleset is `portico ports --format nft` of its configuration, loaded with
        `nft -f` in the proxy namespace. To prove that the ruleset (not a missing route) stops
        what it must, the proxy namespace forwards IPv4, the client routes the internal
        networks through the proxy, the pool routes back through it, and decoy listeners (the
        "admin services" of the proxy host: 22, 4443, 8080, 8443) run in the proxy
        namespace: before the ruleset is loaded the client reaches them and the pool's decoy,
        after it the same attempts time out (dropped, not refused).

  ha:   client 192.0.2.2 on bridge br0 (client namespace) --- A 192.0.2.11, B 192.0.2.12,
        VIP 192.0.2.10 (keepalived, VRRPv3); A 198.51.100.11, B 198.51.100.12 --- bridge pbr0
        198.51.100.1 (pool namespace). Both nodes: the same portico configuration (external =
        the VIP, no internal = so the kernel picks each node's own source address, which also
        tells the pool's "peer" which node forwarded a request), bound with
        net.ipv4.ip_nonlocal_bind=1, the same generated ruleset plus an allowance for VRRP.

Skipped only when not root or `ip netns` does not work here. Run alone:
    /usr/bin/python3 -m pytest -s -v tests/test_netns.py
(-s shows the flow table and the failover figures).
"""

import json
import math
import os
import signal
import string
import sys
import time

import pytest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
NETNS_DIR = os.path.join(HERE, "netns")
sys.path.insert(0, NETNS_DIR)

import nslib  # noqa: E402

PY = "/usr/bin/python3"
NSCLIENT = os.path.join(NETNS_DIR, "nsclient.py")
MOCKPOOL = harness.MOCKPOOL
SLOW = harness.SLOW

FE_NAMES = ["webext.contoso.com", "meet.contoso.com", "dialin.contoso.com",
            "lyncdiscover.contoso.com"]
OWA_NAME = "owa.contoso.com"
FE_IP, OWA_IP = "203.0.113.11", "203.0.113.21"


# ---------------------------------------------------------------------------------------------
# Shared pieces

@pytest.fixture(scope="module")
def netns_ok():
    ok, why = nslib.netns_available()
    if not ok:
        pytest.skip("network namespace tests: " + why)
    nslib.sweep_stale()


def portico_config(pki, external, internal=None, access_log="access.log"):
    lines = ["; written by tests/test_netns.py", "[proxy]", "external = %s" % external]
    if internal:
        lines.append("internal = %s" % internal)
    lines += [
        "https_port = 443",
        "http_port = 80",
        "certificate = %s" % pki.public_pem,
        "key = %s" % pki.public_key,
        "workers = %d" % harness.WORKERS,
        "access_log = %s" % access_log,
        "access_log_format = json",
        "timeout_connect = 2",
        "drain_timeout = 2",
        "",
        "[pool fe]",
        "role = frontend",
        "servers = %s" % FE_IP,
        "publish = %s" % " ".join(FE_NAMES),
        "ca = %s" % pki.ca_pem,
        "",
        "[pool owa]",
        "role = owa",
        "servers = %s" % OWA_IP,
        "publish = %s" % OWA_NAME,
        "ca = %s" % pki.ca_pem,
    ]
    return "\n".join(lines) + "\n"


def close_lab(lab):
    """Removes everything the lab made; its problems fail the test unless an exception is
    already on its way (which they must not hide)."""
    problems = lab.close()
    if problems:
        if sys.exc_info()[0] is None:
            raise AssertionError("cleanup: %s" % problems)
        print("cleanup problems: %s" % problems, file=sys.stderr)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def start_pool(lab, pool_ns, pki, workdir):
    """The mock Front End (4443 TLS, 8080) and Office Web Apps (443 TLS), in pool_ns."""
    mocks = {}
    for name, listens in (("fe01", ["%s:4443:tls" % FE_IP, "%s:8080" % FE_IP]),
                          ("owa01", ["%s:443:tls" % OWA_IP])):
        args = [PY, MOCKPOOL, "--name", name, "--rawlog", os.path.join(workdir, "raw-" + name),
                "--cert", pki.pool_pem, "--key", pki.pool_key]
        for spec in listens:
            args += ["--listen", spec]
        mocks[name] = pool_ns.popen(args, "mock-" + name, workdir, ready="mockpool: ready",
                                    ready_stream="stdout", timeout=15 * SLOW)
    return mocks


def mock_events(workdir, name):
    try:
        with open(os.path.join(workdir, "raw-" + name, "events.log")) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def start_portico(ns, conf, workdir, name="portico"):
    r = ns.exec(harness.PORTICO_BIN, "-t", "-c", conf, check=False, timeout=30 * SLOW)
    assert r.returncode == 0, "portico -t -c %s:\n%s%s" % (conf, r.stdout, r.stderr)
    return ns.popen([harness.PORTICO_BIN, "-c", conf], name, workdir, ready=r"^portico: ready$",
                    timeout=harness.READY_TIMEOUT)


def sanitizer_check(text, what):
    for marker in harness.SANITIZER_MARKERS:
        assert marker not in text, "sanitizer report from %s:\n%s" % (what, text[-6000:])


def stop_portico(p):
    """SIGTERM a portico that still runs: it must exit 0; and no sanitizer report, ever."""
    if p.running():
        rc = p.stop(harness.STOP_TIMEOUT)
        assert rc == 0, "%s: exit status %r after SIGTERM; stderr:\n%s" % (p.name, rc, p.text()[-3000:])
    sanitizer_check(p.text(), p.name)


def load_ruleset(ns, conf, workdir, extra=None, options=()):
    """`portico ports --format nft` of conf, generated and loaded inside ns (nft -c first).
    extra: more nft commands loaded after it. Returns the ruleset's text."""
    r = ns.exec(harness.PORTICO_BIN, "ports", "-c", conf, "--format", "nft", *options,
                check=False, timeout=30 * SLOW)
    assert r.returncode == 0, "portico ports --format nft: %s" % r.stderr
    path = write(os.path.join(workdir, "portico.nft"), r.stdout)
    ns.exec("nft", "-c", "-f", path)
    ns.exec("nft", "-f", path)
    if extra:
        ns.exec("nft", "-f", write(os.path.join(workdir, "extra.nft"), extra))
    listed = ns.exec("nft", "list", "table", "inet", "portico").stdout
    assert "policy drop" in listed, listed
    return r.stdout


def client_json(ns, mode, specs, timeout=30):
    r = ns.exec(PY, NSCLIENT, mode, json.dumps(specs), timeout=timeout * SLOW)
    return json.loads(r.stdout)


def header(res, name):
    for n, v in res.get("headers", []):
        if n.lower() == name.lower():
            return v
    return None


# ---------------------------------------------------------------------------------------------
# 1. client / proxy (two interfaces, generated ruleset) / pool

E2E = {"client": "192.0.2.2", "ext": "192.0.2.10", "int": "198.51.100.10", "gw": "198.51.100.1"}
DECOY_PORTS = [22, 4443, 8080, 8443]
POOL_DECOY = (FE_IP, 22)                # the pool's own "ssh", reachable only by routing


@pytest.fixture(scope="module")
def e2e(netns_ok, pki, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("netns-e2e"))
    lab = nslib.Lab("e2e", workdir)
    try:
        client, proxy, pool = lab.ns("client"), lab.ns("proxy"), lab.ns("pool")
        lab.veth(client, "eth0", proxy, "ext0", E2E["client"] + "/24", E2E["ext"] + "/24")
        lab.veth(proxy, "int0", pool, "eth0", E2E["int"] + "/24", E2E["gw"] + "/24")
        pool.addr("lo", FE_IP + "/32")
        pool.addr("lo", OWA_IP + "/32")
        proxy.route("203.0.113.0/24", "via", E2E["gw"])
        # the worst case: a proxy host that would route, a client that tries to route through
        # it, a pool that routes back through it. Only the ruleset stands in the way.
        proxy.sysctl("net.ipv4.ip_forward", 1)
        client.route("198.51.100.0/24", "via", E2E["ext"])
        client.route("203.0.113.0/24", "via", E2E["ext"])
        pool.route("default", "via", E2E["int"])

        mocks = start_pool(lab, pool, pki, workdir)
        pool.popen([PY, MOCKPOOL, "--name", "pool-decoy", "--listen", "%s:%d" % POOL_DECOY],
                   "pool-decoy", workdir, ready="mockpool: ready", ready_stream="stdout")
        proxy.popen([PY, MOCKPOOL, "--name", "proxy-decoy"]
                    + sum((["--listen", "0.0.0.0:%d" % p] for p in DECOY_PORTS), []),
                    "proxy-decoy", workdir, ready="mockpool: ready", ready_stream="stdout")

        conf = write(os.path.join(workdir, "portico.conf"),
                     portico_config(pki, E2E["ext"], E2E["int"]))
        portico = start_portico(proxy, conf, workdir)

        # Control, before the ruleset: the decoys answer, so the drops later are the ruleset's.
        # (Not to the Front End and OWA themselves: they must only ever see portico.)
        control = client_json(client, "connect", dropped_specs(timeout=2.0, control=True))
        ruleset = load_ruleset(proxy, conf, workdir)
        yield {"lab": lab, "client": client, "proxy": proxy, "pool": pool, "conf": conf,
               "portico": portico, "mocks": mocks, "workdir": workdir, "pki": pki,
               "control": control, "ruleset": ruleset}
        stop_portico(portico)
    finally:
        close_lab(lab)


def dropped_specs(timeout, control=False):
    """Every connection the ruleset must drop: the proxy's other ports, the pool through the
    proxy, the proxy's internal address. control: only those that reach a decoy without the
    ruleset (for the control run)."""
    specs = [{"id": "proxy %s:%d" % (E2E["ext"], p), "ip": E2E["ext"], "port": p, "timeout": timeout}
             for p in DECOY_PORTS]
    specs += [{"id": "pool %s:%d via proxy" % (ip, p), "ip": ip, "port": p, "timeout": timeout}
              for ip, p in ([POOL_DECOY] if control else
                            [(FE_IP, 4443), (FE_IP, 8080), (OWA_IP, 443), POOL_DECOY])]
    if control:
        return specs
    specs.append({"id": "proxy internal %s:443" % E2E["int"], "ip": E2E["int"], "port": 443,
                  "timeout": timeout})
    return specs


def published_specs(pki):
    https = [{"id": "https %s" % n, "ip": E2E["ext"], "port": 443, "tls": True, "host": n,
              "path": "/echo?flow=https-%s" % n, "ca": pki.public_ca_pem} for n in FE_NAMES + [OWA_NAME]]
    http = [{"id": "http %s" % n, "ip": E2E["ext"], "port": 80, "tls": False, "host": n,
             "path": "/echo?flow=http-%s" % n} for n in FE_NAMES + [OWA_NAME]]
    extra = [
        {"id": "autodiscover http", "ip": E2E["ext"], "port": 80, "tls": False,
         "host": "lyncdiscover.contoso.com",
         "path": "/Autodiscover/AutodiscoverService.svc/root?originalDomain=contoso.com"},
        {"id": "autodiscover https", "ip": E2E["ext"], "port": 443, "tls": True,
         "host": "lyncdiscover.contoso.com", "ca": pki.public_ca_pem,
         "path": "/Autodiscover/AutodiscoverService.svc/root?originalDomain=contoso.com"},
        {"id": "unpublished https", "ip": E2E["ext"], "port": 443, "tls": True,
         "host": "intranet.contoso.com", "path": "/echo?flow=unpublished", "ca": pki.public_ca_pem},
    ]
    return https + http + extra


def test_published_flows(e2e):
    """Every published flow works from the client namespace through portico: HTTPS 443 to the
    Front End's 4443 (webext, meet, dialin, lyncdiscover) and to OWA's 443; HTTP 80 forwarded
    to 8080 for lyncdiscover, 301 to https:// for the others; an unpublished name is 404 and
    reaches nobody."""
    res = {r["id"]: r for r in client_json(e2e["client"], "http", published_specs(e2e["pki"]))}
    table = []
    for n in FE_NAMES + [OWA_NAME]:
        r = res["https %s" % n]
        assert r["ok"] and r["status"] == 200, (n, r)
        doc = json.loads(r["body"])
        want = "%s:443" % OWA_IP if n == OWA_NAME else "%s:4443" % FE_IP
        assert doc["listen"] == want and doc["tls"] and doc["sni"] == n, doc
        assert doc["peer"].split(":")[0] == E2E["int"], doc
        hdrs = {h.lower(): v for h, v in doc["headers"]}
        assert hdrs["host"] == n and hdrs["x-forwarded-for"] == E2E["client"], hdrs
        table.append(("HTTPS 443 %s" % n, "200 from %s (TLS, SNI %s)" % (want, n)))
    for n in FE_NAMES + [OWA_NAME]:
        r = res["http %s" % n]
        assert r["ok"], (n, r)
        if n.startswith("lyncdiscover."):
            assert r["status"] == 200, r
            doc = json.loads(r["body"])
            assert doc["listen"] == "%s:8080" % FE_IP and not doc["tls"], doc
            assert doc["peer"].split(":")[0] == E2E["int"], doc
            table.append(("HTTP 80 %s" % n, "200 from %s (forwarded)" % doc["listen"]))
        else:
            assert r["status"] == 301, r
            assert header(r, "Location") == "https://%s/echo?flow=http-%s" % (n, n), r
            table.append(("HTTP 80 %s" % n, "301 %s" % header(r, "Location")))
    for proto in ("http", "https"):
        r = res["autodiscover %s" % proto]
        assert r["ok"] and r["status"] == 200, r
        assert "/Autodiscover/AutodiscoverService.svc/root" in r["body"], r
        table.append(("%s lyncdiscover autodiscover root" % proto.upper(), "200"))
    r = res["unpublished https"]
    assert r["ok"] and r["status"] == 404, r
    table.append(("HTTPS 443 intranet.contoso.com (unpublished)", "404, not forwarded"))
    events = mock_events(e2e["workdir"], "fe01") + mock_events(e2e["workdir"], "owa01")
    assert not [e for e in events if e["ev"] == "req" and "unpublished" in e["target"]], events
    print("\n[netns e2e] published flows through portico: %d/%d as expected" % (len(table), len(table)))
    for flow, what in table:
        print("  %-48s %s" % (flow, what))


def test_direct_access_dropped(e2e):
    """With the generated ruleset, a client reaching for the proxy's 4443/8080 or any other
    port, or for the pool through the proxy, times out (dropped, not refused); before the ruleset
    was loaded the same attempts connected (the control)."""
    control = {r["id"]: r["outcome"] for r in e2e["control"]}
    assert control and all(v == "connected" for v in control.values()), \
        ("without the ruleset the decoys should answer", control)
    t = 1.0 * SLOW
    res = client_json(e2e["client"], "connect", dropped_specs(timeout=t))
    bad = [r for r in res if r["outcome"] != "timeout" or r["secs"] < t * 0.9]
    assert not bad, "expected every attempt dropped (timeout after %.1f s): %r" % (t, bad)
    # and the published ports still answer (the drops are not a dead namespace)
    ok = client_json(e2e["client"], "connect", [{"id": "443", "ip": E2E["ext"], "port": 443},
                                                {"id": "80", "ip": E2E["ext"], "port": 80}])
    assert all(r["outcome"] == "connected" for r in ok), ok
    print("\n[netns e2e] dropped by the ruleset: %d/%d attempts (each timed out after %.1f s; "
          "without the ruleset %d of them connected)"
          % (len(res), len(res), t, sum(1 for v in control.values() if v == "connected")))
    for r in res:
        print("  %-40s %s after %.3f s (before the ruleset: %s)"
              % (r["id"], r["outcome"], r["secs"], control.get(r["id"], "not tried")))


def test_pool_sees_only_internal_address(e2e):
    """Whatever the client did, every connection the pool's Front End and OWA accepted came
    from the proxy's internal address."""
    client_json(e2e["client"], "http", [{"id": 1, "ip": E2E["ext"], "port": 443, "host": n,
                                         "path": "/echo?flow=peer", "ca": e2e["pki"].public_ca_pem}
                                        for n in FE_NAMES + [OWA_NAME]])
    opens = [e for e in mock_events(e2e["workdir"], "fe01") + mock_events(e2e["workdir"], "owa01")
             if e["ev"] == "open"]
    assert opens, "the pool saw no connection at all"
    peers = sorted({e["peer"].rsplit(":", 1)[0] for e in opens})
    assert peers == [E2E["int"]], peers
    print("\n[netns e2e] pool: %d connections, all from %s" % (len(opens), E2E["int"]))


def test_probe_from_proxy_namespace(e2e):
    """`portico probe` in the proxy namespace, with the ruleset loaded: every check OK."""
    r = e2e["proxy"].exec(harness.PORTICO_BIN, "probe", "-c", e2e["conf"], check=False,
                          timeout=60 * SLOW)
    sanitizer_check(r.stderr, "portico probe")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [line for line in r.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| pool ")]
    cells = [[c.strip() for c in line.strip()[1:-1].split("|")] for line in rows]
    assert cells and all(c[4] == "OK" for c in cells), r.stdout
    # Front End 4443 (connect, tls, names, http) + 8080 (connect, http) + OWA 443 (4 checks)
    assert len(cells) == 10, r.stdout
    assert all(c[5] == "connected from %s" % E2E["int"] for c in cells if c[3] == "connect"), r.stdout
    print("\n[netns e2e] portico probe in the proxy namespace: %d checks OK" % len(cells))


# ---------------------------------------------------------------------------------------------
# 2. two portico nodes behind one VRRP address (keepalived)

HA = {"client": "192.0.2.2", "vip": "192.0.2.10", "A": "192.0.2.11", "B": "192.0.2.12",
      "A_int": "198.51.100.11", "B_int": "198.51.100.12", "gw": "198.51.100.1"}
ADVERT_INT = 0.25               # VRRPv3: fractional seconds; master down after 3 x 0.25 + skew
LOOP_INTERVAL = 0.02            # a request started every 20 ms
LOOP_TIMEOUT = 1.0              # each request: connect + TLS + answer within 1 s
# The ruleset only allows portico's flows: a keepalived node also needs VRRP (IP protocol 112
# to 224.0.0.18) in and out. Appended to the generated table's chains.
VRRP_NFT = "".join('add rule inet portico %s ip daddr 224.0.0.18 ip protocol vrrp accept '
                   'comment "VRRP (keepalived)"\n' % chain for chain in ("input", "output"))


def keepalived_conf(node, state, priority):
    with open(os.path.join(NETNS_DIR, "keepalived.conf.in")) as f:
        tpl = string.Template(f.read())
    return tpl.substitute(node=node, state=state, priority=priority, iface="ext0",
                          vip=HA["vip"] + "/24", advert_int=ADVERT_INT, vrid=51,
                          check="%s %s 443" % (os.path.join(NETNS_DIR, "check-portico.sh"), HA["vip"]))


def keepalived_bin():
    for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        p = os.path.join(d, "keepalived")
        if os.access(p, os.X_OK):
            return p
    pytest.fail("keepalived is not installed (Debian package keepalived: add it to PKGS_TEST in "
                "the Makefile, or apt-get install keepalived)", pytrace=False)


class HaLab:
    def __init__(self, pki, workdir):
        self.pki = pki
        self.dir = workdir
        self.lab = nslib.Lab("ha", workdir)
        self.portico = {}
        self.keepalived = {}
        self.nodes = {}

    def build(self):
        lab = self.lab
        ka = keepalived_bin()
        self.client = client = lab.ns("client")
        self.pool = pool = lab.ns("pool")
        client.bridge("br0", HA["client"] + "/24")
        pool.bridge("pbr0", HA["gw"] + "/24")
        pool.addr("lo", FE_IP + "/32")
        pool.addr("lo", OWA_IP + "/32")
        conf_text = portico_config(self.pki, HA["vip"])      # the same on both nodes
        for node in ("A", "B"):
            ns = self.nodes[node] = lab.ns("node" + node)
            lab.veth(ns, "ext0", client, "c" + node, HA[node] + "/24")
            client.enslave("c" + node, "br0")
            lab.veth(ns, "int0", pool, "p" + node, HA[node + "_int"] + "/24")
            pool.enslave("p" + node, "pbr0")
            ns.route("203.0.113.0/24", "via", HA["gw"])
            ns.sysctl("net.ipv4.ip_nonlocal_bind", 1)
        self.mocks = start_pool(lab, pool, self.pki, self.dir)
        for node in ("A", "B"):
            ns = self.nodes[node]
            d = os.path.join(self.dir, "node" + node)
            os.makedirs(d)
            conf = write(os.path.join(d, "portico.conf"), conf_text)
            self.portico[node] = start_portico(ns, conf, d, "portico" + node)
            load_ruleset(ns, conf, d, extra=VRRP_NFT)
        # High priorities: a backup that hears the master's goodbye (priority 0) takes over
        # after skew time = (256 - priority) / 256 x advert_int: 16 ms for 240, 150 ms for 100.
        for node, state, prio in (("A", "MASTER", 250), ("B", "BACKUP", 240)):
            d = os.path.join(self.dir, "node" + node)
            kconf = write(os.path.join(d, "keepalived.conf"), keepalived_conf(node, state, prio))
            self.keepalived[node] = self.nodes[node].popen(
                [ka, "-n", "-l", "-D", "-G", "-P", "-f", kconf, "-p", os.path.join(d, "ka.pid"),
                 "-r", os.path.join(d, "ka-vrrp.pid"), "-c", os.path.join(d, "ka-check.pid")],
                "keepalived" + node, d)
        deadline = time.monotonic() + 15 * SLOW
        self.keepalived["A"].wait_for(r"Entering MASTER STATE", timeout=15 * SLOW)
        self.keepalived["B"].wait_for(r"Entering BACKUP STATE", timeout=15 * SLOW)
        while not self.nodes["A"].has_addr(HA["vip"], "ext0"):
            assert time.monotonic() < deadline, "the VIP never reached A"
            time.sleep(0.02)
        assert not self.nodes["B"].has_addr(HA["vip"]), "the VIP is on both nodes"
        return self

    def close(self):
        return self.lab.close()


def read_loop(path):
    recs, done = [], None
    try:
        with open(path) as f:
            for line in f:
                if not line.endswith("\n"):
                    break
                d = json.loads(line)
                if "done" in d:
                    done = d
                else:
                    recs.append(d)
    except FileNotFoundError:
        pass
    return recs, done


def wait_loop(path, pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        recs, done = read_loop(path)
        if pred(recs):
            return recs
        if done is not None or time.monotonic() > deadline:
            raise AssertionError("request loop: %s not seen within %.1f s (%d requests, %d ok)"
                                 % (what, timeout, len(recs), sum(1 for r in recs if r["ok"])))
        time.sleep(0.05)


def via(rec, node):
    return rec.get("ok") and (rec.get("peer") or "").rsplit(":", 1)[0] == HA[node + "_int"]


@pytest.fixture
def ha(netns_ok, pki, tmp_path):
    h = HaLab(pki, str(tmp_path))
    try:
        yield h.build()
        for p in h.portico.values():
            stop_portico(p)
    finally:
        close_lab(h.lab)


# how node A fails -> bound (seconds, times SLOW) on the time the VIP takes to reach B and on
# the start of the last failed request, both counted from the failure
FAILOVERS = {
    # planned: keepalived says goodbye (priority 0 advert) and portico drains
    "sigterm": 2.0,
    # a hard failure: keepalived and portico killed at once; B waits 3 x advert_int + skew
    "sigkill": 3.0,
    # portico alone dies; A's keepalived sees it (track script, interval 1 s) and steps down
    "portico-crash": 4.0,
}


@pytest.mark.parametrize("kind", list(FAILOVERS))
def test_keepalived_failover(ha, kind):
    """A bounded request loop against the VIP while node A fails: the VIP moves to B, B's
    keepalived becomes MASTER, requests go on through B; the failed requests are counted and
    bounded."""
    loop_out = os.path.join(ha.dir, "loop.jsonl")
    loop = ha.client.popen([PY, NSCLIENT, "loop", "--ip", HA["vip"], "--ca", ha.pki.public_ca_pem,
                            "--out", loop_out, "--interval", LOOP_INTERVAL,
                            "--timeout", LOOP_TIMEOUT * SLOW, "--max-requests", 2000,
                            "--max-seconds", 30], "loop", ha.dir)
    wait_loop(loop_out, lambda rs: sum(1 for r in rs if via(r, "A")) >= 25, 10 * SLOW,
              "25 answers through A")
    a_ka, a_portico = ha.keepalived["A"], ha.portico["A"]
    b_ka_log_at = len(ha.keepalived["B"].text())
    t_fail = time.monotonic()
    if kind == "sigterm":
        a_ka.send(signal.SIGTERM)
        a_portico.send(signal.SIGTERM)
    elif kind == "sigkill":
        nslib.kill_trees([a_ka, a_portico], signal.SIGKILL)
    else:
        a_portico.kill_tree(signal.SIGKILL)
        a_portico.wait(5)
    deadline = t_fail + 10 * SLOW
    while not ha.nodes["B"].has_addr(HA["vip"], "ext0"):
        assert time.monotonic() < deadline, "the VIP did not reach B within %.0f s" % (10 * SLOW)
        time.sleep(0.01)
    t_vip_b = time.monotonic()
    ha.keepalived["B"].wait_for(r"Entering MASTER STATE", timeout=5 * SLOW, start=b_ka_log_at)
    wait_loop(loop_out, lambda rs: sum(1 for r in rs if via(r, "B") and r["t0"] > t_vip_b) >= 25,
              10 * SLOW, "25 answers through B after the switch")
    assert loop.stop(5) == 0, "request loop: %s" % loop.text()[-2000:]
    recs, done = read_loop(loop_out)
    assert done is not None, "the request loop did not finish cleanly"

    before = [r for r in recs if r["t1"] < t_fail]
    failed = sorted((r for r in recs if not r["ok"]), key=lambda r: r["t0"])
    first_b = min((r["t1"] for r in recs if via(r, "B")), default=float("nan"))
    last_a = max((r["t1"] for r in recs if via(r, "A")), default=float("nan"))
    # the client's view of the switch: new requests failed when started in [window_from, window_to]
    window_from = failed[0]["t0"] - t_fail if failed else 0.0
    window_to = failed[-1]["t0"] - t_fail if failed else 0.0
    errors = {}
    for r in failed:
        k = r.get("error") or "HTTP %s" % r.get("status")
        errors[k] = errors.get(k, 0) + 1
    a_has_vip = ha.nodes["A"].has_addr(HA["vip"], "ext0")
    print("\n[netns ha] failover %s: %d requests (one every %d ms, %.1f s timeout), %d before the "
          "failure; %d failed %s, started from %+.3f s to %+.3f s; VIP on B %.3f s after the "
          "failure (B: Entering MASTER STATE); last answer through A %+.3f s, first through B "
          "%+.3f s; A still holds the VIP: %s"
          % (kind, len(recs), LOOP_INTERVAL * 1000, LOOP_TIMEOUT * SLOW, len(before), len(failed),
             errors or "", window_from, window_to, t_vip_b - t_fail, last_a - t_fail,
             first_b - t_fail, a_has_vip))

    assert not [r for r in before if not r["ok"]], "failures before the switch: %r" % before
    assert before and all(via(r, "A") for r in before), "answers before the switch not through A"
    assert all(via(r, "B") for r in recs if r["ok"] and r["t0"] > t_vip_b + 0.5), \
        "answers through A after the VIP moved"
    bound = FAILOVERS[kind] * SLOW
    assert t_vip_b - t_fail <= bound, "the VIP took %.3f s to move (bound %.1f s)" % (t_vip_b - t_fail, bound)
    assert window_to <= bound, "new requests failed until %.3f s after the failure (bound %.1f s)" \
        % (window_to, bound)
    # at most: those in flight at the failure (one per interval over a timeout) plus one per
    # interval over the bound
    limit = math.ceil((bound + LOOP_TIMEOUT * SLOW) / LOOP_INTERVAL)
    assert len(failed) <= limit, "%d requests failed (bound %d)" % (len(failed), limit)
    if kind == "sigterm":
        assert a_portico.wait(harness.STOP_TIMEOUT) == 0, "portico A: exit status after SIGTERM"
        assert a_ka.wait(5 * SLOW) is not None
        assert not a_has_vip, "keepalived A left the VIP behind after SIGTERM"
    if kind == "sigkill":
        # a real crash: B took over on the master's silence, not on a goodbye
        b_log = ha.keepalived["B"].text()[b_ka_log_at:]
        assert "priority 0" not in b_log and "Receive advertisement timeout" in b_log, b_log
    if kind == "portico-crash":
        ha.keepalived["A"].wait_for(r"Entering FAULT STATE|Entering BACKUP STATE", timeout=1)
        assert not a_has_vip, "keepalived A kept the VIP though portico A was gone"
