"""The status page's graphs of the last hour (issue 18), in Debian's chromium, headless.

portico keeps one sample of the shared metrics per interval in a ring in shared memory and
serves it as the `history` of /status.json; the page draws it as inline SVG with its own
script, which fetches /status.json again every few seconds (docs/monitoring.md, "Graphs"). The
tests shorten the interval to INTERVAL s with PORTICO_STATUS_SAMPLE_INTERVAL (the one way to
change it), and wait for samples by polling /status.json, bounded in time.

- the graphs render: five SVG graphs, each with a line per series with points in it, nothing
  loaded from elsewhere, every existing /status.json field still there;
- a burst of requests (2xx, 404s and 503s relayed from the pool) shows on them: the request
  rate, 4xx and 5xx lines of pool fe rise above zero, the latency lines have points;
- a stopped member shows on them, live: the page, loaded once (DevTools over a pipe, real
  time), redraws by itself until the members-up line of fe ends at 1 of 2 and the member's
  state reads down, without reloading.

- the ring survives a reload: the samples from before it are kept, and the old workers'
  counters, folded into the archive when they exit, make no spike.

With PORTICO_STATUS_SCREENSHOT=PATH the last test samples every second, first runs 100 s of
varied traffic and writes a desktop screenshot of the page to PATH (how docs/status.png is made:
PORTICO_STATUS_SCREENSHOT=docs/status.png python3 -m pytest tests/test_status_graphs.py -k stopped).
"""

import json
import os
import re
import shutil
import signal
import time
from html.parser import HTMLParser

import pytest

import harness
import test_status_page as sp

INTERVAL = 0.25
GRAPHS = ("requests", "errors", "latency", "connections", "members")
BOTTOM = 150 - 18               # the baseline's y in an SVG (graphs.c)

pytestmark = pytest.mark.skipif(
    sp.CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium; "
                                "make deps installs it)")


SCREENSHOT = os.environ.get("PORTICO_STATUS_SCREENSHOT")
SHOT_INTERVAL, SHOT_TRAFFIC = 1.0, 100  # for docs/status.png: 100 s on a 6-minute window


@pytest.fixture
def graphs_stack(make_stack, monkeypatch):
    """Pool fe with two members and the default health checks (every 5 s: on a loaded machine,
    or under valgrind, the fast ones of test_status_page may time out and mark a member down),
    admin on 127.0.0.1. Returns (stack, m1, m2, admin base URL)."""
    monkeypatch.setenv("PORTICO_STATUS_SAMPLE_INTERVAL", str(INTERVAL))
    net = harness.Net.alloc()
    m1, m2 = net.member(1), net.member(2)
    port = sp.free_port()
    st = make_stack(net=net, members=[m1, m2], split_mocks=True, https_port=443,
                    admin="127.0.0.1:%d" % port)
    return st, m1, m2, "http://127.0.0.1:%d" % port


@pytest.fixture
def shot_stack(make_stack, monkeypatch):
    """test_status_page's stack (fast health checks, to see a stopped member soon)."""
    monkeypatch.setenv("PORTICO_STATUS_SAMPLE_INTERVAL",
                       str(SHOT_INTERVAL if SCREENSHOT else INTERVAL))
    return sp.admin_stack(make_stack)


def status(base):
    return json.loads(sp.admin_get(base, "/status.json"))


def wait_history(base, pred, what, timeout=15.0):
    """Polls /status.json until pred(doc) holds; returns doc. Fails after timeout."""
    deadline = time.monotonic() + timeout * harness.SLOW
    while True:
        doc = status(base)
        if pred(doc):
            return doc
        if time.monotonic() > deadline:
            pytest.fail("%s: not in /status.json within %.0f s: %s"
                        % (what, timeout, json.dumps(doc["history"])[-1500:]), pytrace=False)
        time.sleep(INTERVAL / 2)


def pool_history(doc, name="fe"):
    return next(p for p in doc["history"]["pools"] if p["name"] == name)


def since(values, n):
    """The values of the samples after the first n, without the missing ones."""
    return [v for v in values[n:] if v is not None]


class Graphs(HTMLParser):
    """The SVG graphs in a rendered DOM: {graph id: [path attributes]}, plus every src/href."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.svgs = {}
        self.references = []
        self.samples = None
        self._svg = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.references += [(tag, a[k]) for k in ("src", "href") if a.get(k)]
        if tag == "div" and a.get("id") == "graphs":
            self.samples = a.get("data-samples")
        elif tag == "svg" and a.get("id", "").startswith("g-"):
            self._svg = a["id"][2:]
            self.svgs[self._svg] = []
        elif tag == "path" and self._svg and "series" in a.get("class", ""):
            self.svgs[self._svg].append(a)

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg = None

    def line(self, graph, series):
        found = [a for a in self.svgs.get(graph, []) if a.get("data-series") == series]
        assert found, "no line %r on graph %r: %r" % (series, graph, self.svgs.get(graph))
        return found[0]


def points(path):
    """The (x, y) points of an SVG path of M and L commands."""
    return [(float(x), float(y)) for x, y in re.findall(r"[ML]([\d.]+) ([\d.]+)", path["d"])]


def rendered(base):
    """The page as Chromium renders it, its script having drawn the history the page carries
    (and perhaps the one of a later /status.json)."""
    out, _ = sp.chromium(["--virtual-time-budget=3000", "--dump-dom", base + "/status"])
    g = Graphs(out.decode("utf-8", "replace"))
    assert g.samples is not None, "the page's script did not draw the graphs"
    return g


def test_graphs_render_and_show_a_burst(graphs_stack):
    st, m1, m2, base = graphs_stack
    doc = wait_history(base, lambda d: len(since(pool_history(d)["requests_per_s"], 0)) >= 2,
                       "two samples of pool fe with a request rate")
    for key in ("pools", "client_connections", "reloads", "last_reload_ok", "errors"):
        assert key in doc, key
    h = doc["history"]
    assert h["interval"] == INTERVAL and h["capacity"] == 360, h
    assert len(h["t"]) == len(h["client_connections"]) == len(pool_history(doc)["p99_ms"])

    g = rendered(base)
    assert sorted(g.svgs) == sorted(GRAPHS), g.svgs
    assert not g.references, "the page loads other resources: %r" % g.references
    assert int(g.samples) >= 2, g.samples
    for graph in GRAPHS:
        assert g.svgs[graph], "graph %s has no line" % graph
    for graph, series in (("requests", "fe"), ("connections", "client"), ("members", "fe")):
        assert len(points(g.line(graph, series))) >= 2, (graph, g.line(graph, series))
    assert float(g.line("members", "fe")["data-last"]) == 2, g.line("members", "fe")

    n = len(h["t"])
    for i in range(40):
        assert st.request("GET", "/echo?burst=%d" % i).status == 200
    for i in range(10):
        assert st.request("GET", "/status/404?burst=%d" % i, host="webext.contoso.com").status \
            == 404
        assert st.request("GET", "/status/503?burst=%d" % i, host="webext.contoso.com").status \
            == 503
    doc = wait_history(
        base, lambda d: all(since(pool_history(d)[k], n) and max(since(pool_history(d)[k], n)) > 0
                            for k in ("requests_per_s", "4xx_per_s", "5xx_per_s", "p99_ms")),
        "the burst in the request, 4xx, 5xx and latency series")

    g = rendered(base)
    for graph, series in (("requests", "fe"), ("errors", "fe 4xx"), ("errors", "fe 5xx")):
        line = g.line(graph, series)
        assert float(line["data-max"]) > 0, (graph, line)
        assert any(y < BOTTOM - 1 for _, y in points(line)), \
            "the burst does not rise above the baseline on %s/%s: %r\n%r" % (graph, series, line,
                                                                             doc["history"])
    for series in ("fe p50", "fe p99"):
        assert points(g.line("latency", series)), (g.line("latency", series), doc["history"])


LIVE_JS = """(() => {
    const p = document.querySelector('#g-members path[data-series="fe"]');
    const s = document.querySelector('span[data-member="%s"]');
    return JSON.stringify({marker: window.__pc_marker || null, samples:
        document.getElementById('graphs').getAttribute('data-samples'),
        last: p && p.getAttribute('data-last'), state: s && s.textContent});
})()"""


def live(dt, member):
    return json.loads(dt.evaluate(LIVE_JS % member))


def wait_page(dt, member, pred, what, timeout=15.0):
    deadline = time.monotonic() + timeout * harness.SLOW
    while True:
        got = live(dt, member)
        if pred(got):
            return got
        if time.monotonic() > deadline:
            pytest.fail("%s: the page did not show it within %.0f s: %r" % (what, timeout, got),
                        pytrace=False)
        time.sleep(0.1)


def varied_traffic(st, seconds):
    """For the screenshot: requests at a rate that changes, some 404s and 503s, slower ones."""
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        i += 1
        st.request("GET", "/echo?shot=%d" % i)
        if i % 6 == 0:
            st.request("GET", "/status/404", host="webext.contoso.com")
        if i % 15 == 0:
            st.request("GET", "/status/503", host="webext.contoso.com")
        if i % 4 == 0:
            st.request("GET", "/longpoll?secs=0.08")
        time.sleep(0.01 + 0.02 * (1 + ((i // 150) % 3)))


def test_history_survives_a_reload(graphs_stack):
    """The ring lives in the master: a reload (new workers) keeps the samples, and the counters
    the old workers leave behind (folded into the archive) make no spike."""
    st, m1, m2, base = graphs_stack
    for i in range(20):
        assert st.request("GET", "/echo?before-reload=%d" % i).status == 200
    # Counted as each transaction ends, which may be just after the client has its answer:
    # the requests are all in once a sample with some is followed by a sample with none.
    doc = wait_history(base, lambda d: since(pool_history(d)["requests_per_s"], 0)
                       and max(since(pool_history(d)["requests_per_s"], 0)) > 0
                       and pool_history(d)["requests_per_s"][-1] == 0,
                       "the requests before the reload, then a quiet sample")
    before = doc["history"]
    n = len(before["t"])
    st.portico.signal(signal.SIGHUP)
    assert st.portico.wait_stderr(r"reload done", timeout=10), st.portico.stderr()
    doc = wait_history(base, lambda d: len(since(pool_history(d)["requests_per_s"], n)) >= 4,
                       "four samples after the reload")
    h = doc["history"]
    assert h["t"][:n] == before["t"], "samples from before the reload are gone"
    assert pool_history(doc)["requests_per_s"][:n] == pool_history({"history": before})[
        "requests_per_s"]
    assert max(since(pool_history(doc)["requests_per_s"], n)) == 0, \
        "requests after a reload without traffic: %r" % pool_history(doc)["requests_per_s"][n:]
    assert doc["reloads"] == 1


def test_graphs_show_a_stopped_member_live(shot_stack, tmp_path):
    st, m1, m2, base = shot_stack
    keep = SCREENSHOT
    if keep:
        varied_traffic(st, SHOT_TRAFFIC)
    wait_history(base, lambda d: len(d["history"]["t"]) >= 2, "two samples")
    dt = sp.DevTools()
    try:
        dt.page("Emulation.setDeviceMetricsOverride",
                {"width": sp.DESKTOP[0], "height": sp.DESKTOP[1], "deviceScaleFactor": 1,
                 "mobile": False})
        dt.load(base + "/status")
        dt.evaluate("window.__pc_marker = 'loaded once'")
        first = wait_page(dt, m2, lambda g: g["last"] == "2" and g["state"] == "up",
                          "both members up")

        sp.stop_member(st, base, m2)
        for i in range(5):      # traffic on, to the member left
            assert st.request("GET", "/echo?after-stop=%d" % i).status == 200
        got = wait_page(dt, m2, lambda g: g["last"] == "1" and g["state"] == "down",
                        "%s down on the members graph and in the table" % m2)
        assert got["marker"] == "loaded once", "the page reloaded instead of updating: %r" % got
        assert int(got["samples"]) > int(first["samples"]), (first, got)
        shot = str(tmp_path / "status.png")
        dt.screenshot(shot)
    finally:
        dt.close()
    assert sp.png_size(shot) == sp.DESKTOP
    if keep:
        shutil.copyfile(shot, keep)
