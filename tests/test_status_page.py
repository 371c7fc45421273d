"""The admin listener's /status page in a real browser (issue 7): Debian's chromium, headless.

A pool of two members with fast health checks and `admin` on: the page, as Chromium renders it
(--dump-dom), lists both members up; the test stops one member's mock, waits (polling
/status.json, bounded) until the health checks mark it down, and the page, loaded again, says
that member is down and the other one still up; /metrics agrees; the seed's two firewall tables
are on the page. A desktop-sized screenshot with the member down is taken (--screenshot).
docs/status.png, the page with its graphs, comes from tests/test_status_graphs.py.

On a phone (DevTools protocol over --remote-debugging-pipe, 390x844 mobile emulation) the page
must lay out at the device width (a viewport meta) without anything wider than the screen.

Every Chromium run has its own new profile directory and runs in its own process group, bounded
by CHROMIUM_TIMEOUT: on timeout the whole group is killed. Without chromium the tests skip.
"""

import base64
import fcntl
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from html.parser import HTMLParser

import pytest

import harness
from harness import Pool

CHROMIUM = shutil.which("chromium")
CHROMIUM_TIMEOUT = 60.0
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-proxy-server", "--hide-scrollbars"]
FAST = dict(health_interval=0.3, health_fall=1, health_rise=1)
DESKTOP = (1280, 1000)
PHONE = (390, 844)
EXTERNAL_TABLE = "Firewall Details for Reverse Proxy Server: External Interface"
INTERNAL_TABLE = "Firewall Details for Reverse Proxy Server: Internal Interface"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium; "
                             "make deps installs it)")


# ---------------------------------------------------------------------------------------------
# Chromium

def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _noise_free(err):
    """Chromium's stderr without the lines this machine always produces (no D-Bus, ...)."""
    lines = err.decode("utf-8", "replace").splitlines()
    keep = [l for l in lines if "dbus" not in l and "unexpected operator" not in l]
    return "\n".join(keep[-40:])


def chromium(args, timeout=CHROMIUM_TIMEOUT):
    """Runs chromium (headless, a new profile, its own process group) with args to completion;
    returns (stdout, stderr) as bytes. Fails the test if it does not finish within timeout (the
    process group is killed) or exits non-zero."""
    profile = tempfile.mkdtemp(prefix="portico-chromium-")
    proc = None
    try:
        proc = subprocess.Popen([CHROMIUM] + FLAGS + ["--user-data-dir=" + profile] + list(args),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                preexec_fn=harness._die_with_parent)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            out, err = proc.communicate()
            pytest.fail("chromium %s did not finish within %.0f s (killed); stderr:\n%s"
                        % (" ".join(args), timeout, _noise_free(err)), pytrace=False)
        if proc.returncode != 0:
            pytest.fail("chromium %s exited %s; stderr:\n%s"
                        % (" ".join(args), proc.returncode, _noise_free(err)), pytrace=False)
        return out, err
    finally:
        if proc is not None:
            _kill_group(proc.pid)       # helpers it may have left (crashpad, zygotes)
            if proc.poll() is None:
                proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def dump_dom(url):
    out, _ = chromium(["--dump-dom", url])
    return out.decode("utf-8", "replace")


def screenshot(url, path, size=DESKTOP):
    chromium(["--window-size=%d,%d" % size, "--screenshot=" + path, url])
    return png_size(path)


def png_size(path):
    """(width, height) of a PNG file; fails the test if it is not one."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", "%s is not a PNG" % path
    return struct.unpack(">II", head[16:24])


class DevTools:
    """Chromium driven by its DevTools protocol over --remote-debugging-pipe (fd 3: commands
    in, fd 4: answers and events out, JSON messages ended by NUL): one page target, flattened
    session. Every wait is bounded by the deadline given at start; close() kills the process
    group whatever happened."""

    def __init__(self, timeout=CHROMIUM_TIMEOUT):
        self.deadline = time.monotonic() + timeout
        self.profile = tempfile.mkdtemp(prefix="portico-chromium-")
        self.buf = b""
        self.next_id = 0
        self.events = []
        cmd_r, self.cmd_w = os.pipe()
        self.out_r, out_w = os.pipe()

        def child():
            harness._die_with_parent()
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.err_path = os.path.join(self.profile, "stderr.txt")
        self.proc = subprocess.Popen(
            [CHROMIUM] + FLAGS + ["--user-data-dir=" + self.profile, "--remote-debugging-pipe",
                                  "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.err_path, "wb"),
            start_new_session=True, preexec_fn=child, close_fds=False)
        os.close(cmd_r)
        os.close(out_w)
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.call("Target.attachToTarget",
                                     {"targetId": target, "flatten": True})["sessionId"]
        except BaseException:
            self.close()
            raise

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return _noise_free(f.read())
        except OSError:
            return ""

    def _next_message(self):
        while b"\0" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium (DevTools) did not answer in time; stderr:\n"
                                   + self.stderr())
            ready, _, _ = select.select([self.out_r], [], [], left)
            if ready:
                data = os.read(self.out_r, 1 << 20)
                if not data:
                    raise EOFError("chromium closed its DevTools pipe; stderr:\n" + self.stderr())
                self.buf += data
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, page=False):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if page:
            msg["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._next_message()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("DevTools %s: %s" % (method, m["error"]))
                return m["result"]
            self.events.append(m)

    def wait_event(self, method):
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._next_message())

    def page(self, method, params=None):
        return self.call(method, params, page=True)

    def load(self, url):
        self.page("Page.enable")
        self.events = [m for m in self.events if m.get("method") != "Page.loadEventFired"]
        self.page("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression):
        r = self.page("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError("page script failed: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def screenshot(self, path):
        data = self.page("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            if self.proc.poll() is None:
                self.deadline = min(self.deadline, time.monotonic() + 5)
                try:
                    self.call("Browser.close")
                except Exception:
                    pass
        finally:
            _kill_group(self.proc.pid)
            self.proc.wait()
            os.close(self.cmd_w)
            os.close(self.out_r)
            shutil.rmtree(self.profile, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The rendered page

class StatusPage(HTMLParser):
    """What the tests look at in the rendered DOM: the state spans by member, the rows of
    table#members, the headings, the meta tags, and any reference to another resource."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.states = {}            # member -> (class, text)
        self.rows = []              # table#members rows: [cell text]
        self.headings = []
        self.metas = []
        self.references = []        # (tag, attribute, value) of src/href
        self.text = []
        self._span = None
        self._heading = None
        self._table = []            # open tables' ids
        self._cell = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            if a.get(k):
                self.references.append((tag, k, a[k]))
        if tag == "meta":
            self.metas.append(a)
        elif tag == "span" and "data-member" in a:
            self._span = [a["data-member"], a.get("class", ""), ""]
        elif tag in ("h1", "h2"):
            self._heading = ""
        elif tag == "table":
            self._table.append(a.get("id"))
        elif tag == "tr" and self._table[-1:] == ["members"]:
            self.rows.append([])
        elif tag in ("td", "th") and self._table[-1:] == ["members"]:
            self._cell = ""
        elif tag == "br" and self._cell is not None:
            self._cell += " "

    def handle_endtag(self, tag):
        if tag == "span" and self._span:
            member, cls, text = self._span
            self.states[member] = (cls.strip(), text.strip())
            self._span = None
        elif tag in ("h1", "h2") and self._heading is not None:
            self.headings.append(self._heading.strip())
            self._heading = None
        elif tag == "table" and self._table:
            self._table.pop()
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._span:
            self._span[2] += data
        if self._heading is not None:
            self._heading += data
        if self._cell is not None:
            self._cell += data

    def meta(self, **match):
        return [m for m in self.metas if all(m.get(k) == v for k, v in match.items())]

    def all_text(self):
        return "".join(self.text)


# ---------------------------------------------------------------------------------------------
# The stack

free_port = harness.free_port


def admin_stack(make_stack):
    """Pool fe (the default names) with two members, one mock each, fast health checks; HTTP
    and HTTPS listeners; admin on 127.0.0.1. Returns (stack, m1, m2, admin base URL)."""
    net = harness.Net.alloc()
    m1, m2 = net.member(1), net.member(2)
    port = free_port()
    st = make_stack(net=net, members=[m1, m2], split_mocks=True, https_port=443,
                    admin="127.0.0.1:%d" % port,
                    pools=[Pool("fe", [m1, m2], harness.DEFAULT_NAMES, http="forward", **FAST)])
    return st, m1, m2, "http://127.0.0.1:%d" % port


def admin_get(base, path):
    host, port = base[len("http://"):].split(":")
    return harness.admin_get(int(port), path, ip=host)


def member_states(base):
    doc = json.loads(admin_get(base, "/status.json"))
    return {m["host"]: m["state"] for p in doc["pools"] for m in p["members"]}


def wait_states(base, want, timeout=10.0):
    """Polls /status.json until every member in want has its state; returns the last states."""
    deadline = time.monotonic() + timeout * harness.SLOW
    while True:
        states = member_states(base)
        if all(states.get(m) == s for m, s in want.items()) or time.monotonic() > deadline:
            return states
        time.sleep(0.05)


def stop_member(st, base, member):
    st.mocks[member].stop()
    states = wait_states(base, {member: "down"})
    assert states.get(member) == "down", \
        "%s not down in /status.json after its mock stopped: %r\n%s" % (member, states,
                                                                        st.portico.stderr())


# What the phone test reads from the page: the viewport meta, the layout and content widths, the
# state spans, and the outermost boxes that stick out past W px (or leaf boxes whose text does).
LAYOUT_JS = """(() => {
    const W = %d, out = e => e.getBoundingClientRect().right > W + 0.5;
    const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                      + (e.className ? '.' + e.className : '');
    return JSON.stringify({
        viewport: (document.querySelector('meta[name=viewport]') || {}).content || null,
        innerWidth: window.innerWidth,
        scrollWidth: document.documentElement.scrollWidth,
        states: Array.from(document.querySelectorAll('span[data-member]'))
                     .map(e => [e.dataset.member, e.className, e.textContent]),
        wide: Array.from(document.querySelectorAll('body *'))
                   .filter(e => (out(e) && !out(e.parentElement))
                                || (e.children.length == 0 && e.clientWidth > 0
                                    && e.scrollWidth > e.clientWidth + 1))
                   .slice(0, 12)
                   .map(e => name(e) + ' (right ' + Math.round(e.getBoundingClientRect().right)
                             + ', scrollWidth ' + e.scrollWidth + '): '
                             + JSON.stringify(e.textContent.trim().slice(0, 40)))});
})()"""


# ---------------------------------------------------------------------------------------------
# The tests

def test_status_page_in_chromium_shows_a_stopped_member_down(make_stack, tmp_path):
    st, m1, m2, base = admin_stack(make_stack)
    for i in range(3):
        assert st.request("GET", "/echo?status-page=%d" % i).status == 200
        assert st.tls_request("GET", "/echo?status-page-tls=%d" % i).status == 200
    assert wait_states(base, {m1: "up", m2: "up"}) == {m1: "up", m2: "up"}

    page = StatusPage(dump_dom(base + "/status"))
    assert page.states == {m1: ("up", "up"), m2: ("up", "up")}, page.states
    # In <noscript> (for browsers without JavaScript): the page's script refreshes it in place.
    assert page.meta(**{"http-equiv": "refresh", "content": "5"}), page.metas
    viewport = page.meta(name="viewport")
    assert viewport and "width=device-width" in viewport[0].get("content", ""), page.metas
    assert not page.references, "the page loads other resources: %r" % page.references
    header, *rows = page.rows
    assert header == ["Name", "Pool", "Member", "State", "Connections", "Requests", "Req/s"], header
    assert all(float(r[6]) >= 0 for r in rows), rows
    assert [r[2] for r in rows] == [m1, m2], rows
    assert all("fe" in r[1] for r in rows), rows
    assert all(n in rows[0][0] for n in harness.DEFAULT_NAMES), rows[0]
    assert sum(int(r[5]) for r in rows) >= 6, "requests not counted on the page: %r" % rows
    assert EXTERNAL_TABLE in page.headings and INTERNAL_TABLE in page.headings, page.headings

    stop_member(st, base, m2)

    page = StatusPage(dump_dom(base + "/status"))
    assert page.states == {m1: ("up", "up"), m2: ("down", "down")}, page.states
    assert EXTERNAL_TABLE in page.headings and INTERNAL_TABLE in page.headings, page.headings
    assert re.search(r"member %s is down" % re.escape(m2), page.all_text()), \
        "no recent warning about %s on the page:\n%s" % (m2, page.all_text()[-2000:])

    metrics = admin_get(base, "/metrics")
    for member, value in ((m2, 0), (m1, 1)):
        line = 'portico_member_up{pool="fe",member="%s"} %d' % (member, value)
        assert re.search("^" + re.escape(line) + "$", metrics, re.M), \
            "%r not in /metrics:\n%s" % (line, "\n".join(l for l in metrics.splitlines()
                                                         if "member_up" in l))

    shot = str(tmp_path / "status.png")
    assert screenshot(base + "/status", shot) == DESKTOP
    size = os.path.getsize(shot)
    assert size > 20000, "the screenshot looks empty (%d bytes)" % size


def test_status_page_fits_a_phone(make_stack, tmp_path):
    """Mobile emulation at 390x844: the viewport meta makes the layout width the device width,
    and nothing on the page (tables, the recent errors) is wider than that."""
    st, m1, m2, base = admin_stack(make_stack)
    stop_member(st, base, m2)       # a recent warning on the page: its longest line
    dt = DevTools()
    try:
        dt.page("Emulation.setDeviceMetricsOverride",
                {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True})
        dt.load(base + "/status")
        got = json.loads(dt.evaluate(LAYOUT_JS % PHONE[0]))
        dt.screenshot(str(tmp_path / "status-phone.png"))
    finally:
        dt.close()
    assert sorted(map(tuple, got["states"])) == [(m1, "up", "up"), (m2, "down", "down")], got
    assert got["viewport"] and "width=device-width" in got["viewport"], got
    assert got["innerWidth"] == PHONE[0] and got["scrollWidth"] <= PHONE[0], \
        ("the status page is wider than a %d px phone screen (layout width %d, content width "
         "%d); too wide: %s; screenshot: %s"
         % (PHONE[0], got["innerWidth"], got["scrollWidth"], got["wide"],
            tmp_path / "status-phone.png"))


def test_certificates_acme_column_for_files(make_stack):
    """The Certificates table's ACME column (docs/certificates.md#acme): a certificate given
    as files shows "-" there and "acme": null in /status.json (test_acme.py checks the rows of
    certificate = acme)."""
    st, m1, m2, base = admin_stack(make_stack)
    doc = json.loads(admin_get(base, "/status.json"))
    certs = doc["certificates"]
    assert certs and all("acme" in c and c["acme"] is None for c in certs), certs
    page = admin_get(base, "/status")
    table = page[page.index('<table id="certificates"'):]
    table = table[:table.index("</table>")]
    assert "<th>ACME</th>" in table, table
    rows = [r for r in table.split("<tr>")[2:] if r.strip()]
    assert len(rows) == len(certs), table
    assert all('<td class="acme">-</td>' in r for r in rows), table
