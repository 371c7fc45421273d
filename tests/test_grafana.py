"""packaging/grafana/portico.json, the Grafana dashboard (issue 18, docs/monitoring.md).

Offline: it is valid JSON in the format Grafana imports (a ${DS_PROMETHEUS} datasource input
that every panel and query uses, schemaVersion 39, panels laid out on the 24-column grid
without overlap), with the variables instance, pool and name, which every query filters on
where its metric has the label; and it has the panels the issue asks for: request rate per
pool and per name, 4xx and 5xx, latency quantiles from the histogram, member health, TLS
handshakes and failures, reloads, pinned connections, certificate expiry and OCSP stapling.

Against a real portico (admin listener on loopback, an HTTPS listener, a few requests and one
failed TLS handshake so that every series exists): every metric a query names is one that
/metrics exports, with the labels and label values the query uses, and every metric family
/metrics exports is on the dashboard.
"""

import json
import os
import re
import socket
import time

import pytest

import harness
from harness import Pool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DASHBOARD = os.path.join(ROOT, "packaging", "grafana", "portico.json")
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
METRIC = re.compile(r"\bportico_[a-z0-9_]+\b")
SELECTOR = re.compile(r"\b(portico_[a-z0-9_]+)\s*(?:\{([^}]*)\})?")
MATCHER = re.compile(r"(\w+)\s*(=~|!~|!=|=)\s*\"((?:[^\"\\]|\\.)*)\"")
BY = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
SCRAPE_LABELS = {"instance", "job"}          # added by Prometheus when it scrapes


def load():
    with open(DASHBOARD) as f:
        return json.load(f)


def panels(dash):
    """Every panel, rows' children included, rows themselves left out."""
    out = []
    for p in dash["panels"]:
        if p["type"] == "row":
            out += p.get("panels", [])
        else:
            out.append(p)
    return out


def queries(dash):
    """(where, PromQL) of every query: panel targets, annotations, variables."""
    out = []
    for p in panels(dash):
        for t in p["targets"]:
            out.append(("panel '%s' %s" % (p["title"], t["refId"]), t["expr"]))
    for a in dash["annotations"]["list"]:
        if "expr" in a:
            out.append(("annotation '%s'" % a["name"], a["expr"]))
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            out.append(("variable $%s" % v["name"], v["query"]["query"]))
            assert v["definition"] == v["query"]["query"]
    return out


def datasources(obj):
    """Every "datasource" value anywhere in the document."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "datasource":
                yield v
            else:
                yield from datasources(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from datasources(v)


def panel_exprs(dash):
    return [(p, t["expr"]) for p in panels(dash) for t in p["targets"]]


def balanced(expr):
    pairs, stack, quoted = {")": "(", "]": "[", "}": "{"}, [], False
    for i, ch in enumerate(expr):
        if ch == '"' and (i == 0 or expr[i - 1] != "\\"):
            quoted = not quoted
        elif quoted:
            continue
        elif ch in "([{":
            stack.append(ch)
        elif ch in ")]}":
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack and not quoted


# ---------------------------------------------------------------------------------------------
# Offline

def test_import_format():
    dash = load()
    assert 36 <= dash["schemaVersion"] <= 41
    assert dash["id"] is None                         # Grafana assigns one on import
    assert dash["title"] and re.match(r"^[A-Za-z0-9_-]{1,40}$", dash["uid"])
    inputs = dash["__inputs"]
    assert [i["name"] for i in inputs] == ["DS_PROMETHEUS"]
    assert inputs[0]["type"] == "datasource" and inputs[0]["pluginId"] == "prometheus"
    req = {(r["type"], r["id"]) for r in dash["__requires"]}
    assert ("datasource", "prometheus") in req and ("grafana", "grafana") in req
    for p in panels(dash):
        assert ("panel", p["type"]) in req, p["type"]
    # every datasource reference is the input, nothing is tied to one Grafana's datasource uid
    refs = list(datasources(dash))
    assert len(refs) > 2 * len(panels(dash))
    for ds in refs:
        assert ds == DS or ds == {"type": "grafana", "uid": "-- Grafana --"}, ds
    for p in panels(dash):
        assert p["datasource"] == DS, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"] == DS, p["title"]
        assert p.get("description"), "panel '%s' has no description" % p["title"]


def test_layout():
    dash = load()
    ids = [p["id"] for p in dash["panels"]] + [c["id"] for p in dash["panels"]
                                               for c in p.get("panels", [])]
    assert len(ids) == len(set(ids))
    cells = {}
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, "'%s' overlaps '%s'" % (p["title"], cells[(x, y)])
                cells[(x, y)] = p["title"]


def test_queries_well_formed():
    for where, q in queries(load()):
        assert balanced(q), "%s: unbalanced: %s" % (where, q)
        assert METRIC.search(q), "%s names no portico metric: %s" % (where, q)
        assert "rate(" not in q or "[$__rate_interval]" in q or "[2m]" in q, (where, q)


def test_variables():
    dash = load()
    v = {x["name"]: x for x in dash["templating"]["list"]}
    assert set(v) >= {"instance", "pool", "name"}
    for n in ("instance", "pool", "name"):
        assert v[n]["type"] == "query" and v[n]["datasource"] == DS
        assert v[n]["multi"] and v[n]["includeAll"] and v[n]["allValue"] == ".*"
    assert re.match(r'^label_values\(portico_requests_total\{instance=~"\$instance"\}, pool\)$',
                    v["pool"]["query"]["query"])
    assert re.match(r'^label_values\(portico_requests_total\{instance=~"\$instance", '
                    r'pool=~"\$pool"\}, name\)$', v["name"]["query"]["query"])


def test_queries_filter_on_the_variables():
    """Every selector filters on $instance; on $pool where its metric has a pool label (all
    but the process-wide ones), and portico_requests_total on $name too."""
    process_wide = {"portico_client_connections", "portico_upstream_pinned_connections",
                    "portico_tls_handshakes_total", "portico_tls_handshake_failures_total",
                    "portico_tls_handovers_total",
                    "portico_config_reloads_total", "portico_config_reload_failures_total",
                    "portico_config_last_reload_successful", "portico_start_time_seconds",
                    "portico_signin_failures_total", "portico_signin_successes_total",
                    "portico_signin_refusals_total", "portico_signin_locked",
                    "portico_signin_store_up",
                    # by protocol and HTTP/2 (docs/http2.md), no pool
                    "portico_client_requests_total", "portico_h2_connections_total",
                    "portico_h2_streams_total", "portico_h2_resets_total",
                    "portico_h2_goaways_total",

                    # per listener certificate (issue 15), no pool
                    "portico_certificate_expiry_timestamp_seconds",
                    "portico_certificate_ocsp_stapled",
                    "portico_certificate_ocsp_next_update_timestamp_seconds",
                    "portico_certificate_ocsp_last_fetch_timestamp_seconds",
                    "portico_certificate_ocsp_fetch_failures_total",
                    # per `certificate = acme` pair (docs/certificates.md#acme), no pool
                    "portico_acme_last_order_timestamp_seconds",
                    "portico_acme_next_order_timestamp_seconds",
                    "portico_acme_order_failures_total"}
    for where, q in queries(load()):
        if where.startswith("variable"):
            continue
        for m in SELECTOR.finditer(q):
            metric, body = m.group(1), m.group(2) or ""
            got = {k: (op, v) for k, op, v in MATCHER.findall(body)}
            assert got.get("instance") == ("=~", "$instance"), (where, metric)
            if metric not in process_wide:
                assert got.get("pool") == ("=~", "$pool"), (where, metric)
            if metric == "portico_requests_total":
                assert got.get("name") == ("=~", "$name"), (where, metric)


def _uses(dash, pred):
    return [p["title"] for p, e in panel_exprs(dash) if pred(p, e)]


CATEGORIES = {
    "request rate per pool": lambda p, e: re.search(
        r"sum by \(pool\) \(rate\(portico_requests_total\{", e),
    "request rate per name": lambda p, e: re.search(
        r"sum by \(name\) \(rate\(portico_requests_total\{", e),
    "4xx": lambda p, e: re.search(r'rate\(portico_requests_total\{[^}]*class="4xx"', e),
    "5xx": lambda p, e: re.search(r'rate\(portico_requests_total\{[^}]*class="5xx"', e),
    "latency quantiles": lambda p, e: re.search(
        r"histogram_quantile\(0\.\d+, sum by \([^)]*\ble\b[^)]*\) "
        r"\(rate\(portico_request_duration_seconds_bucket\{", e),
    "member health": lambda p, e: "portico_member_up{" in e,
    "TLS handshakes": lambda p, e: "portico_tls_handshakes_total{" in e,
    "TLS failures": lambda p, e: "portico_tls_handshake_failures_total{" in e,
    "reloads": lambda p, e: "portico_config_reloads_total{" in e,
    "refused reloads": lambda p, e: "portico_config_reload_failures_total{" in e,
    "pinned connections": lambda p, e: "portico_upstream_pinned_connections{" in e,
    "certificate expiry": lambda p, e: "portico_certificate_expiry_timestamp_seconds{" in e,
    "OCSP stapling": lambda p, e: "portico_certificate_ocsp_stapled{" in e,
}


@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_category_has_a_panel(category):
    assert _uses(load(), CATEGORIES[category]), "no panel for %s" % category


def test_quantiles():
    """p50, p90 and p99 per pool, each over the pool's buckets."""
    qs = [e for _, e in panel_exprs(load()) if "histogram_quantile" in e]
    for q in ("0.5", "0.9", "0.99"):
        assert any(e.startswith("histogram_quantile(%s, sum by (pool, le) (" % q) for e in qs), q


# ---------------------------------------------------------------------------------------------
# Against a running portico

free_port, admin_get = harness.free_port, harness.admin_get


def parse_metrics(text):
    """{name: [labels dict]} of every sample, and {family: type} of the # TYPE lines."""
    series, types = {}, {}
    for line in text.splitlines():
        m = re.match(r"^# TYPE (\S+) (\S+)$", line)
        if m:
            types[m.group(1)] = m.group(2)
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$", line)
        assert m, "not a sample line: %r" % line
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        series.setdefault(m.group(1), []).append(labels)
    return series, types


@pytest.fixture(scope="module")
def exported(tmp_path_factory, pki):
    """/metrics of a portico that has served a few requests over HTTPS and HTTP and failed one
    TLS handshake (the failure series only exist from their first failure)."""
    net = harness.Net.alloc()
    port = free_port()
    # A sign-in store nobody listens on: its series exist (and read 0), as they do wherever
    # one is set.
    # And a `certificate = acme` whose CA is down: its series exist from the first attempt.
    tmp = tmp_path_factory.mktemp("grafana")
    st = harness.Stack(str(tmp), pki, net=net, https_port=443,
                       admin="127.0.0.1:%d" % port,
                       signin={"store": "redis://127.0.0.1:%d" % free_port()},
                       certs=[(pki.public_pem, pki.public_key), ("acme", None)],
                       state_dir=str(tmp / "state"), acme={"directory": "https://127.0.0.1:1/dir"},
                       pools=[Pool("fe", [net.member(1)], harness.DEFAULT_NAMES, http="forward")])
    st.start()
    try:
        insecure = harness.tls_context(verify=False)   # the ACME placeholder serves too
        for name in harness.DEFAULT_NAMES:
            with st.tls_client(name, ctx=insecure) as c:
                assert c.request("GET", "/echo", host=name).status == 200
        assert st.request("GET", "/echo", host="lyncdiscover.contoso.com").status == 200
        assert st.request("GET", "/", host="unknown.example.com").status == 404
        # plain HTTP on the TLS listener: a handshake failure ("http request")
        with socket.create_connection((net.ext, 443), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: webext.contoso.com\r\n\r\n")
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
        deadline = time.monotonic() + 10 * harness.SLOW
        while True:
            text = admin_get(port, "/metrics")
            if ("portico_tls_handshake_failures_total{" in text and
                    'portico_acme_last_order_timestamp_seconds{name="webext.contoso.com",key="ecdsa",'
                    'result="error"}' in text) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        yield parse_metrics(text)
    finally:
        rc = st.stop()
        assert rc == 0, "portico exit status %r after SIGTERM" % rc
        assert not st.portico.sanitizer_report()


def test_traffic_shows(exported):
    series, _ = exported
    assert "portico_tls_handshake_failures_total" in series
    assert any(l.get("class") == "2xx" for l in series["portico_requests_total"])


def test_every_queried_metric_is_exported(exported):
    series, _ = exported
    missing = sorted({(where, n) for where, q in queries(load()) for n in METRIC.findall(q)
                      if n not in series})
    assert not missing, "queried but not in /metrics: %s" % missing


def test_labels_and_values_exist(exported):
    """The labels a query matches or groups by are the metrics' own (or Prometheus' instance
    and job), and a literal value it matches (class="5xx", le="1") is one portico writes."""
    series, _ = exported
    for where, q in queries(load()):
        names = set(METRIC.findall(q))
        known = set(SCRAPE_LABELS)
        for n in names:
            for labels in series.get(n, []):
                known |= set(labels)
        for m in SELECTOR.finditer(q):
            metric, body = m.group(1), m.group(2) or ""
            have = set(SCRAPE_LABELS).union(*[set(l) for l in series.get(metric, [{}])])
            for k, op, v in MATCHER.findall(body):
                assert k in have, "%s: %s has no label %s" % (where, metric, k)
                if op == "=" and "$" not in v and k not in SCRAPE_LABELS:
                    assert any(l.get(k) == v for l in series[metric]), \
                        "%s: no %s{%s=%r} in /metrics" % (where, metric, k, v)
        for group in BY.findall(q):
            for label in [x.strip() for x in group.split(",") if x.strip()]:
                assert label in known, "%s: groups by %s, which %s do not have" % (
                    where, label, sorted(names))
        for m in re.finditer(r"label_values\((portico_[a-z_]+)\{[^}]*\}, (\w+)\)|"
                             r"label_values\((portico_[a-z_]+), (\w+)\)", q):
            metric, label = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            assert label in SCRAPE_LABELS or any(label in l for l in series[metric]), (where, q)


def test_every_exported_family_is_on_the_dashboard(exported):
    """A metric added to /metrics without a panel fails here: graph it (or say why not)."""
    series, types = exported
    used = {n for _, q in queries(load()) for n in METRIC.findall(q)}
    for family, kind in sorted(types.items()):
        if not family.startswith("portico_"):
            continue
        names = ({family + s for s in ("_bucket", "_sum", "_count")} if kind == "histogram"
                 else {family})
        assert names & used, "%s (%s) is exported but on no panel" % (family, kind)
    # the histogram's buckets feed the quantiles, its _sum and _count the mean
    assert {"portico_request_duration_seconds_bucket", "portico_request_duration_seconds_sum",
            "portico_request_duration_seconds_count"} <= used
