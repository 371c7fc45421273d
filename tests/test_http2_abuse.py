"""HTTP/2 limits and abuse (issue 13; docs/http2.md, "Limits"), with hand-written frames: rapid
reset (CVE-2023-44487) closed past its budget without work for the pool, CONTINUATION,
SETTINGS, PING and empty DATA floods ended with GOAWAY ENHANCE_YOUR_CALM, MAX_CONCURRENT_STREAMS
(the 101st stream), malformed request heads and connection-specific fields reset with
PROTOCOL_ERROR and never forwarded; and what /metrics tells: requests by protocol, HTTP/2
connections and streams, resets and GOAWAYs by reason.

Each attack sends a bounded number of frames and reports (pytest -s) the frames the socket
took, the worker's CPU time during the attack (utime+stime from /proc/PID/stat, and the
scheduler's nanoseconds from /proc/PID/schedstat), what came back, and what reached the pool.
The zero-window slow reader and the 64 KiB Negotiate token are in test_http2.py."""

import hashlib
import json
import os
import re
import socket
import ssl
import struct
import time

import pytest

import harness
from harness import Pool, tls_context

pytest.importorskip("h2.connection")
import hpack  # noqa: E402  (python3-hpack, a dependency of python3-h2)

from test_http2 import H2Client, HOST, NAMES, status  # noqa: E402

SLOW = harness.SLOW
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0, 1, 3, 4, 6, 7, 9
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
PROTOCOL_ERROR, REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 0x1, 0x7, 0x8, 0xb
RESET_BURST = 200           # h2-limits.c: H2_RESET_BURST
CTRL_BURST = 100            # H2_CTRL_BURST, H2_EMPTY_BURST


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


def req_fields(path="/echo", method="GET", extra=()):
    return [(":method", method), (":scheme", "https"), (":path", path),
            (":authority", HOST)] + list(extra)


class Raw:
    """An HTTP/2 connection of hand-written frames (TLS, ALPN h2): what the attacks need and
    H2Client's state machine refuses to send. Server HEADERS are decoded (HPACK state), its
    SETTINGS acknowledged when ack_settings."""

    def __init__(self, st, ack_settings=True):
        ctx = tls_context(st.pki, alpn=("h2",))
        raw = socket.create_connection((st.net.ext, 443), timeout=10 * SLOW,
                                       source_address=(st.net.client, 0))
        self.sock = ctx.wrap_socket(raw, server_hostname=HOST)
        assert self.sock.selected_alpn_protocol() == "h2"
        self.enc, self.dec = hpack.Encoder(), hpack.Decoder()
        self.dec.max_header_list_size = 1 << 20
        self.ack_settings = ack_settings
        self.buf = b""
        self.block = None           # (sid, flags, bytes) of a server header block in progress
        self.streams = {}           # sid -> {"status", "reset", "ended"}
        self.count = {}             # frame type -> frames received
        self.goaway = None          # (error code, last stream id)
        self.eof = False
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def headers(self, sid, fields, end_stream=True, end_headers=True):
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        return frame(HEADERS, flags, sid, self.enc.encode(fields))

    def blast(self, data, frames, chunk=8192):
        """Sends DATA (FRAMES frames of equal size) in pieces until the server stops taking
        them; returns how many frames the socket took."""
        sent = 0
        try:
            while sent < len(data):
                self.sock.sendall(data[sent:sent + chunk])
                sent += min(chunk, len(data) - sent)
        except OSError:
            pass
        return frames if sent >= len(data) else frames * sent // len(data)

    def stream(self, sid):
        return self.streams.setdefault(sid, {"status": None, "reset": None, "ended": False,
                                             "data": b""})

    def _frame(self, t, fl, sid, p):
        self.count[t] = self.count.get(t, 0) + 1
        if t == SETTINGS and not fl & ACK and self.ack_settings:
            try:
                self.sock.sendall(frame(SETTINGS, ACK, 0))
            except OSError:
                pass        # the attack's write failed: the server is gone
        elif t == GOAWAY:
            self.goaway = (int.from_bytes(p[4:8], "big"),
                           int.from_bytes(p[:4], "big") & 0x7fffffff)
        elif t == RST_STREAM:
            self.stream(sid)["reset"] = int.from_bytes(p[:4], "big")
        elif t in (HEADERS, CONTINUATION):
            if t == HEADERS:
                pad = p[0] if fl & 0x8 else 0
                p = p[(1 if fl & 0x8 else 0) + (5 if fl & 0x20 else 0):len(p) - pad]
                self.block = (sid, fl, b"")
            bsid, bfl, blk = self.block
            self.block = (bsid, bfl, blk + p)
            if fl & END_HEADERS:
                fields = dict(self.dec.decode(self.block[2]))
                s = self.stream(bsid)
                s["status"] = s["status"] or int(fields.get(":status", 0))
                s["ended"] |= bool(bfl & END_STREAM)
        elif t == DATA:
            pad = p[0] if fl & 0x8 else 0
            s = self.stream(sid)
            s["data"] += p[(1 if fl & 0x8 else 0):len(p) - pad]
            s["ended"] |= bool(fl & END_STREAM)

    def read(self, timeout):
        """Reads what came within TIMEOUT seconds; False at EOF or when nothing came."""
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (OSError, ssl.SSLError):
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        while len(self.buf) >= 9:
            n = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + n:
                break
            t, fl = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], "big") & 0x7fffffff
            p, self.buf = self.buf[9:9 + n], self.buf[9 + n:]
            self._frame(t, fl, sid, p)
        return True

    def sync(self):
        """A PING answered: the server has read everything sent before it (frames are read in
        order)."""
        n = self.count.get(PING, 0)
        self.sock.sendall(frame(PING, 0, 0, b"syncsync"))
        assert self.until(lambda: self.count.get(PING, 0) > n)

    def until(self, pred, timeout=10.0):
        """Reads until pred() or EOF, within TIMEOUT (times SLOW); returns pred()."""
        deadline = time.monotonic() + timeout * SLOW
        while not pred() and not self.eof and time.monotonic() < deadline:
            self.read(max(0.01, deadline - time.monotonic()))
        return pred()

    def drain(self, timeout=10.0):
        """Reads to EOF within TIMEOUT (times SLOW): True if the server closed."""
        return self.until(lambda: self.eof, timeout)

    def close(self):
        self.sock.close()


# ---- the worker's CPU time ------------------------------------------------------------------

def cpu(pid):
    """(utime+stime in ms, on-CPU ms from schedstat) of process PID."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    ticks = (int(rest[11]) + int(rest[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            ns = int(f.read().split()[0]) / 1e6
    except OSError:
        ns = float("nan")
    return ticks, ns


class Attack:
    """Measures one attack on connection RAW: the worker's CPU and the pool's connections and
    requests from start() to stop(), and reports them."""

    def __init__(self, st, raw, name):
        self.st, self.raw, self.name = st, raw, name
        self.pid = harness.worker_of(st.portico, raw.sock.getsockname())
        assert self.pid, "no worker holds the attacking connection"

    def _pool(self):
        evs = self.st.mock.events()
        return (sum(e["ev"] == "open" for e in evs), sum(e["ev"] == "req" for e in evs))

    def start(self):
        self.cpu0, self.pool0, self.t0 = cpu(self.pid), self._pool(), time.monotonic()
        return self

    def stop(self, frames):
        self.secs = time.monotonic() - self.t0
        c1 = cpu(self.pid)
        self.cpu_ms = c1[0] - self.cpu0[0]
        self.oncpu_ms = c1[1] - self.cpu0[1]
        p1 = self._pool()
        self.pool_opens, self.pool_reqs = p1[0] - self.pool0[0], p1[1] - self.pool0[1]
        print("\n[h2-abuse] %s: %d frames sent, worker CPU %.0f ms (utime+stime), %.1f ms "
              "on CPU (schedstat), %.3f s; GOAWAY %s, closed %s, frames back %s; pool: %d "
              "connections, %d requests" % (
                  self.name, frames, self.cpu_ms, self.oncpu_ms, self.secs,
                  self.raw.goaway, self.raw.eof, self.raw.count, self.pool_opens,
                  self.pool_reqs), flush=True)
        return self


# ---- the stack and its metrics --------------------------------------------------------------

def abuse_stack(make_stack, **proxy):
    """HTTP/2 on, one pool whose health checks wait an hour (so that the pool's connections
    during an attack are the attack's), the admin listener for /metrics."""
    net = harness.Net.alloc()
    port = harness.free_port()
    pools = [Pool("fe", [net.member(1)], NAMES, http="forward", health_interval=3600)]
    st = make_stack(net=net, pools=pools, https_port=443, http2="on",
                    admin="127.0.0.1:%d" % port, **proxy)
    st.admin_port = port
    return st


def metric(st, series):
    """The value of SERIES (its full text, labels included) in /metrics, 0 when absent."""
    text = harness.admin_get(st.admin_port, "/metrics")
    m = re.search(r"^%s (\d+)$" % re.escape(series), text, re.M)
    return int(m.group(1)) if m else 0


def goaways(st, reason):
    return metric(st, 'portico_h2_goaways_total{reason="%s"}' % reason)


def resets(st, reason):
    return metric(st, 'portico_h2_resets_total{reason="%s"}' % reason)


def normal_request(c):
    """A GET on H2Client C (another connection): 200 while the attack goes on."""
    assert status(c.wait(c.request("/echo"))) == 200


# ---- rapid reset (CVE-2023-44487) -----------------------------------------------------------

@pytest.mark.parametrize("body", [False, True], ids=["get", "post-with-data"])
def test_rapid_reset_closed_past_budget_without_pool_work(make_stack, body):
    """1,000 streams each opened and reset at once (HEADERS + RST_STREAM CANCEL; with a DATA
    frame between them for a POST): GOAWAY ENHANCE_YOUR_CALM after the budget (200), the
    connection closed, no member connection opened and no request sent for them; another
    client's connection is served meanwhile."""
    st = abuse_stack(make_stack)
    other = H2Client(st)
    normal_request(other)
    raw = Raw(st)
    assert raw.until(lambda: raw.count.get(SETTINGS, 0) >= 1)
    n, tok = 1000, harness.unique("rapid")
    data = b""
    for i in range(n):
        sid = 1 + 2 * i
        if body:
            data += raw.headers(sid, req_fields("/echo?" + tok, "POST"), end_stream=False)
            data += frame(DATA, 0, sid, b"x" * 16)
        else:
            data += raw.headers(sid, req_fields("/echo?" + tok))
        data += frame(RST_STREAM, 0, sid, struct.pack(">I", CANCEL))
    a = Attack(st, raw, "rapid reset (%s)" % ("POST + DATA" if body else "GET")).start()
    sent = raw.blast(data, (3 if body else 2) * n)
    assert raw.drain(), "the connection stayed open"
    a.stop(sent)
    assert raw.goaway and raw.goaway[0] == ENHANCE_YOUR_CALM, raw.goaway
    # nothing was processed past the budget (a few tokens may refill while it is read)
    assert raw.goaway[1] <= 2 * (RESET_BURST + 20) + 1, raw.goaway
    assert a.pool_opens == 0 and a.pool_reqs == 0
    assert not st.mock.saw(tok)
    normal_request(other)
    assert goaways(st, "rapid_reset") == 1
    assert resets(st, "rapid_reset") > RESET_BURST
    other.close()


def test_resets_within_budget_keep_the_connection(make_stack):
    """A client that abandons 150 requests at once (a browser leaving a page) is not an
    attacker: the connection carries on."""
    st = abuse_stack(make_stack)
    raw = Raw(st)
    data = b""
    for i in range(150):
        data += raw.headers(1 + 2 * i, req_fields()) + \
            frame(RST_STREAM, 0, 1 + 2 * i, struct.pack(">I", CANCEL))
    raw.blast(data, 300)
    raw.sock.sendall(raw.headers(301, req_fields()))
    assert raw.until(lambda: raw.stream(301)["ended"]), (raw.goaway, raw.streams.get(301))
    assert raw.stream(301)["status"] == 200 and raw.goaway is None
    assert goaways(st, "rapid_reset") == 0
    raw.close()


@pytest.mark.parametrize("with_cl", [True, False])
def test_body_read_with_its_head_is_forwarded(make_stack, with_cl):
    """A request whose head and whole body (60,000 bytes, up to the stream window) come in one
    write: the start waits for the step after that read (rapid reset), the body it kept goes
    upstream whole, with its END_STREAM."""
    st = abuse_stack(make_stack)
    raw = Raw(st)
    body = bytes(range(256)) * 234 + b"end"
    extra = [("content-length", str(len(body)))] if with_cl else []
    data = raw.headers(1, req_fields("/echo", "POST", extra), end_stream=False)
    for off in range(0, len(body), 16384):
        last = off + 16384 >= len(body)
        data += frame(DATA, END_STREAM if last else 0, 1, body[off:off + 16384])
    raw.sock.sendall(data)
    assert raw.until(lambda: raw.stream(1)["ended"]), raw.streams
    doc = json.loads(raw.stream(1)["data"])
    assert raw.stream(1)["status"] == 200
    assert doc["body_len"] == len(body)
    assert doc["body_sha256"] == hashlib.sha256(body).hexdigest()
    raw.close()


def test_trailers_right_after_the_head(make_stack):
    """HEADERS without END_STREAM, then trailers (HEADERS with END_STREAM) in the same write:
    an empty body, forwarded and answered."""
    st = abuse_stack(make_stack)
    raw = Raw(st)
    raw.sock.sendall(raw.headers(1, req_fields("/echo", "POST"), end_stream=False) +
                     raw.headers(1, [("x-trailer", "1")]))
    assert raw.until(lambda: raw.stream(1)["ended"]), raw.streams
    assert raw.stream(1)["status"] == 200
    assert json.loads(raw.stream(1)["data"])["body_len"] == 0
    raw.close()


# ---- floods ---------------------------------------------------------------------------------

def flood(make_stack, name, build, n, read_first=True):
    """Sends N frames built by build(raw) on a fresh connection and reads to its end; returns
    (stack, raw, attack)."""
    st = abuse_stack(make_stack)
    other = H2Client(st)
    raw = Raw(st)
    if read_first:
        assert raw.until(lambda: raw.count.get(SETTINGS, 0) >= 1)
    data = build(raw)
    a = Attack(st, raw, name).start()
    sent = raw.blast(data, n)
    assert raw.drain(), "the connection stayed open"
    a.stop(sent)
    normal_request(other)
    other.close()
    return st, raw, a


def test_continuation_flood(make_stack):
    """One HEADERS without END_HEADERS, then 10,000 CONTINUATION frames: GOAWAY
    ENHANCE_YOUR_CALM after 16 (the largest header list needs 7), nothing forwarded."""
    tok = harness.unique("cont")

    def build(raw):
        data = frame(HEADERS, END_STREAM, 1, raw.enc.encode(req_fields("/echo?" + tok)))
        piece = frame(CONTINUATION, 0, 1, raw.enc.encode([("x-filler", "y" * 8)]))
        return data + piece * 10000
    st, raw, a = flood(make_stack, "CONTINUATION flood", build, 10001)
    assert raw.goaway and raw.goaway[0] == ENHANCE_YOUR_CALM, raw.goaway
    assert a.pool_reqs == 0 and not st.mock.saw(tok)
    assert goaways(st, "continuation_flood") == 1


def test_settings_flood(make_stack):
    """10,000 SETTINGS frames (each asks for an ACK): GOAWAY ENHANCE_YOUR_CALM after the
    budget (100), far fewer ACKs than frames."""
    def build(raw):
        return frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535)) * 10000
    st, raw, a = flood(make_stack, "SETTINGS flood", build, 10000)
    assert raw.goaway and raw.goaway[0] == ENHANCE_YOUR_CALM, raw.goaway
    assert raw.count.get(SETTINGS, 0) <= CTRL_BURST + 20
    assert goaways(st, "settings_flood") == 1


def test_ping_flood_without_reading(make_stack):
    """10,000 PINGs sent before reading anything: the connection is closed after the budget
    (100) with GOAWAY ENHANCE_YOUR_CALM, not after 10,000 ACKs."""
    def build(raw):
        return frame(PING, 0, 0, b"portico!") * 10000
    st, raw, a = flood(make_stack, "PING flood, unread", build, 10000, read_first=False)
    assert raw.count.get(PING, 0) <= CTRL_BURST + 20
    assert raw.goaway is None or raw.goaway[0] == ENHANCE_YOUR_CALM, raw.goaway
    assert goaways(st, "ping_flood") == 1


def test_empty_data_flood(make_stack):
    """A POST then 10,000 DATA frames without data nor END_STREAM: GOAWAY ENHANCE_YOUR_CALM
    after the budget (100); at most the POST itself reached the pool."""
    tok = harness.unique("empty")

    def build(raw):
        data = raw.headers(1, req_fields("/echo?" + tok, "POST"), end_stream=False)
        return data + frame(DATA, 0, 1) * 10000
    st, raw, a = flood(make_stack, "empty DATA flood", build, 10001)
    assert raw.goaway and raw.goaway[0] == ENHANCE_YOUR_CALM, raw.goaway
    assert a.pool_reqs <= 1
    assert goaways(st, "empty_data") == 1


# ---- MAX_CONCURRENT_STREAMS -----------------------------------------------------------------

def test_101st_stream_refused_before_settings_ack(make_stack):
    """101 streams at once, sent before the client saw portico's SETTINGS (as clients do right
    after the preface): the 101st is refused with REFUSED_STREAM (RFC 9113 §5.1.2, retry is
    safe), the 100 others are answered."""
    st = abuse_stack(make_stack)
    raw = Raw(st, ack_settings=False)
    sids = [1 + 2 * i for i in range(101)]
    raw.blast(b"".join(raw.headers(s, req_fields()) for s in sids), 101)
    assert raw.until(lambda: raw.stream(sids[-1])["reset"] is not None, 10)
    assert raw.stream(sids[-1])["reset"] == REFUSED_STREAM
    raw.sock.sendall(frame(SETTINGS, ACK, 0))
    assert raw.until(lambda: all(raw.stream(s)["ended"] for s in sids[:-1]), 30), raw.goaway
    assert all(raw.stream(s)["status"] == 200 for s in sids[:-1])
    assert resets(st, "refused_stream") == 1
    raw.close()


def test_101st_stream_after_settings_ack_is_a_connection_error(make_stack):
    """Once the client acknowledged MAX_CONCURRENT_STREAMS 100, a 101st stream is nghttp2's
    connection error (GOAWAY PROTOCOL_ERROR, RFC 9113 §5.1.2 and §5.4.1): what it does, not
    configurable in 1.52. At most the 100 streams allowed reached the pool."""
    st = abuse_stack(make_stack)
    raw = Raw(st)
    assert raw.until(lambda: raw.count.get(SETTINGS, 0) >= 1)
    raw.sync()                  # our ACK of portico's SETTINGS was read: 100 is in force
    tok = harness.unique("mcs")
    a = Attack(st, raw, "101 concurrent streams").start()
    sent = raw.blast(b"".join(raw.headers(1 + 2 * i, req_fields("/longpoll?secs=1&" + tok))
                              for i in range(101)), 101)
    assert raw.drain(), "the connection stayed open"
    a.stop(sent)
    assert raw.goaway and raw.goaway[0] == PROTOCOL_ERROR and raw.goaway[1] == 199, raw.goaway
    assert a.pool_reqs <= 100
    assert goaways(st, "protocol_error") == 1


# ---- malformed requests (RFC 9113 §8.1.1, §8.2.2, §8.3) -------------------------------------

MALFORMED = {
    "connection": [("connection", "keep-alive")],
    "keep-alive": [("keep-alive", "timeout=5")],
    "proxy-connection": [("proxy-connection", "keep-alive")],
    "transfer-encoding": [("transfer-encoding", "chunked")],
    "upgrade": [("upgrade", "websocket")],
    "te-gzip": [("te", "gzip")],
    "unknown-pseudo": [(":foo", "bar")],
    "uppercase-name": [("X-Upper", "1")],
    "crlf-in-value": [("x-injected", "a\r\nx-smuggled: 1")],
    "nul-in-value": [("x-nul", "a\x00b")],
}


def malformed_fields(kind, path):
    base = req_fields(path)
    if kind in MALFORMED:
        return base + MALFORMED[kind]
    if kind == "pseudo-after-field":
        return base[:3] + [("user-agent", "x")] + base[3:]
    if kind == "duplicate-path":
        return base + [(":path", "/other")]
    if kind == "no-method":
        return base[1:]
    if kind == "no-path":
        return [f for f in base if f[0] != ":path"]
    if kind == "space-in-path":
        return [(n, path + " x" if n == ":path" else v) for n, v in base]
    if kind == "space-in-method":
        return [(n, "GET /evil" if n == ":method" else v) for n, v in base]
    raise KeyError(kind)


@pytest.mark.parametrize("kind", sorted(MALFORMED) + [
    "pseudo-after-field", "duplicate-path", "no-method", "no-path", "space-in-path",
    "space-in-method"])
def test_malformed_request_reset_and_never_forwarded(make_stack, kind):
    """nghttp2's HTTP messaging checks: the stream is reset with PROTOCOL_ERROR, nothing of it
    reaches the pool, and the connection carries on."""
    st = abuse_stack(make_stack)
    raw = Raw(st)
    tok = harness.unique("bad")
    raw.sock.sendall(raw.headers(1, malformed_fields(kind, "/echo?" + tok)))
    assert raw.until(lambda: raw.stream(1)["reset"] is not None or raw.stream(1)["ended"])
    assert raw.stream(1)["reset"] == PROTOCOL_ERROR, (raw.streams, raw.goaway)
    raw.sock.sendall(raw.headers(3, req_fields("/echo")))
    assert raw.until(lambda: raw.stream(3)["ended"]) and raw.stream(3)["status"] == 200
    assert not st.mock.saw(tok)
    assert resets(st, "protocol_error") == 1
    raw.close()


def test_connect_not_forwarded(make_stack):
    """CONNECT (no :path nor :scheme, RFC 9113 §8.5) is not something the pools take: it never
    reaches them."""
    st = abuse_stack(make_stack)
    raw = Raw(st)
    tok = harness.unique("connect")
    raw.sock.sendall(raw.headers(1, [(":method", "CONNECT"), (":authority", HOST + ":443"),
                                     ("x-token", tok)]))
    assert raw.until(lambda: raw.stream(1)["reset"] is not None or raw.stream(1)["ended"])
    assert raw.stream(1)["reset"] is not None or raw.stream(1)["status"] >= 400, raw.streams
    assert not st.mock.saw(tok)
    raw.close()


# ---- /metrics -------------------------------------------------------------------------------

def test_metrics_by_protocol_streams_and_resets(make_stack):
    """/metrics: requests by protocol, HTTP/2 connections and streams, resets by reason."""
    st = abuse_stack(make_stack)
    before = {p: metric(st, 'portico_client_requests_total{protocol="%s"}' % p)
              for p in ("HTTP/1.1", "HTTP/2.0")}
    c = H2Client(st)
    assert status(c.wait(c.request("/echo"))) == 200
    with st.tls_client() as h1:
        assert h1.request("GET", "/echo").status == 200
    # HTTP_1_1_REQUIRED: connection-bound credentials
    s = c.wait(c.request("/echo", headers=[("authorization", "NTLM TlRMTVNTUAABAAAAB4IIogAAAAA"
                                                            "AAAAAAAAAAAAAAAAAAAA=")]))
    assert s["reset"] == 0xd
    # the client's reset before any response: counted against the rapid-reset budget
    lp = c.request("/longpoll?secs=30")
    c.conn.reset_stream(lp)
    c.flush()
    assert status(c.wait(c.request("/echo"))) == 200
    c.close()
    deadline = time.monotonic() + 5 * SLOW
    while metric(st, 'portico_client_requests_total{protocol="HTTP/2.0"}') < \
            before["HTTP/2.0"] + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metric(st, 'portico_client_requests_total{protocol="HTTP/2.0"}') >= \
        before["HTTP/2.0"] + 2
    assert metric(st, 'portico_client_requests_total{protocol="HTTP/1.1"}') == \
        before["HTTP/1.1"] + 1
    assert metric(st, "portico_h2_connections_total") == 1
    assert metric(st, "portico_h2_streams_total") == 4
    assert resets(st, "http_1_1_required") == 1
    assert resets(st, "rapid_reset") == 1
    assert resets(st, "client_cancel") == 0
    text = harness.admin_get(st.admin_port, "/metrics")
    assert "# TYPE portico_h2_resets_total counter" in text
    assert 'portico_h2_goaways_total{reason="no_error"} 0' in text


def test_metrics_client_cancel_after_response_began(make_stack):
    """A reset once the response HEADERS went out is a client's cancel, not a rapid reset."""
    import h2.settings
    st = abuse_stack(make_stack)
    c = H2Client(st)
    c.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    c.flush()
    sid = c.request("/big?bytes=100000")
    while c.streams[sid]["headers"] is None:
        c.pump()
    c.conn.reset_stream(sid)
    c.flush()
    c.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})
    c.flush()
    assert status(c.wait(c.request("/echo"))) == 200
    assert resets(st, "client_cancel") == 1
    assert resets(st, "rapid_reset") == 0
    c.close()
