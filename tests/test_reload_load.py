"""Reload under load (SPEC §2, issue 5): SIGHUP fifty times while clients keep portico busy.

While several client threads send keep-alive and new-connection GETs (plain and TLS) and
stream POST uploads of 64 KiB to 1 MiB in slow pieces, and long polls are held by the pool
across many reloads, the master reloads 50 times. Between reloads the test rewrites the
configuration (the pool's member alternates, and a name r<N>.contoso.com is published by
reload N only) and the listener's certificate file (three certificates in turn). It asserts:

- no request fails: every one gets its 200 and its whole, correct body. The one allowance is
  the race every HTTP client lives with: the keep-alive clients check, as client libraries do,
  that a pooled connection was not closed while idle (here: by an old worker that stops)
  before reusing it, and a GET sent on a reused connection that the server closed meanwhile
  and that got no byte back is retried once on a new connection (RFC 9112 §9.3.1); both are
  counted and reported. Requests on new connections, uploads and long polls get no retry;
- every long poll completes with its full answer after having spanned several reloads;
- once a reload is confirmed (RELOADING=1 then READY=1 on NOTIFY_SOCKET, and "reload done" on
  stderr), a request on a new connection sees the new configuration (the new member, the new
  name published, the previous one gone) and a new TLS connection gets the new certificate;
- a broken configuration in the middle is refused with FILE:LINE logged, and the running
  configuration (and certificate, although the file changed) keeps serving;
- the master's descriptors do not grow over the reloads, and the replaced workers exit once
  their work is done;
- HTTP/2 clients (issue 13, docs/http2.md) are served through the reloads too: a thread keeps
  four streams in flight on one connection at a time, and one long poll per batch is a stream.
  An old worker ends its HTTP/2 connections with GOAWAY (NO_ERROR) and finishes the streams it
  took; a stream above GOAWAY's last stream id, or refused with REFUSED_STREAM, was not
  processed (RFC 9113 §6.8, §8.7) and is retried on a new connection, as browsers do; that is
  the only allowance, and it is counted.

Everything is bounded: counts per thread and an overall deadline (SLOW for sanitized builds).
No sleep is used as synchronisation: reload completion is the notify message and the log line.
"""

import collections
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import threading
import time

import harness
import mockpool
from harness import IO_TIMEOUT, SLOW, Pool, ProtocolError

try:
    import h2.errors
    from hyperframe.frame import GoAwayFrame
    from test_http2 import H2Client
except ImportError:  # python3-h2 is a test dependency (Makefile); without it, no HTTP/2 load
    H2Client = None

RELOADS = 50
BROKEN_AT = 25                      # a broken configuration is tried just before reload 25
LONGPOLL_AT = (2, 16, 30)           # long polls start after these reloads
LONGPOLLS_PER_BATCH = 4             # half plain, half TLS
LONGPOLL_SECS = round(3.0 * SLOW, 1)
LONGPOLL_MIN_SPAN = 3               # reloads each long poll must have been in flight across
STEMS = ("public", "wild", "exact")  # certificates rotated into the listener's file
PHASE_BOUND = 60.0 * SLOW           # the whole reload phase (50 reloads and their checks)
MAX_PER_THREAD = 20000              # requests per load thread, whatever the time
BIG_SIZES = (100003, 300007)
UPLOAD_SIZES = (64 << 10, 200003, 524287, 1 << 20)
UPLOAD_PIECES = 4
# the master's lines for a worker that did not end by itself (master.c); a replaced worker
# must drain and exit 0, even one told to stop while it was still starting
ABNORMAL = re.compile(r"worker \d+ \(pid \d+\) died|worker pid \d+ ended abnormally")
KINDS = ("keep-alive GET http", "keep-alive GET https", "new-connection GET http",
         "new-connection GET https", "upload http", "upload https") + (
             ("h2 stream GET",) if H2Client else ())
H2_STREAMS = 4                      # streams in flight on the HTTP/2 load connection


def expected_cert(i):
    return STEMS[i % len(STEMS)]


class Counter:
    """Counts the bytes a Reader receives (Reader.log hook)."""

    def __init__(self):
        self.n = 0

    def __call__(self, mv):
        self.n += len(mv)


class Notify:
    """A NOTIFY_SOCKET for portico's sd_notify messages (abstract namespace)."""

    def __init__(self):
        self.name = "@portico-reload-test-%d-%d" % (os.getpid(), random.randrange(1 << 30))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])

    def drain(self):
        self.sock.setblocking(False)
        out = []
        try:
            while True:
                out.append(self.sock.recv(4096).decode())
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)
        return out

    def wait(self, state, timeout):
        """Messages received until one carrying the line STATE (included); [] on timeout."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            self.sock.settimeout(left)
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                return []
            got.append(msg)
            if state in msg.split("\n"):
                return got

    def close(self):
        self.sock.close()


class Load:
    """The client side: threads, counts, failures."""

    def __init__(self, st, members):
        self.st = st
        self.members = members              # mock names that may answer
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.failures = []
        self.stop = threading.Event()
        self.deadline = time.monotonic() + PHASE_BOUND + 30 * SLOW
        self.reloads = 0                    # confirmed reloads (written by the main thread)
        self.per_interval = collections.Counter()   # completions per reload interval
        self.longpolls = []                 # (name, reloads at send, reloads at answer, secs)
        self.threads = []

    # -- bookkeeping

    def ok(self, kind):
        with self.lock:
            self.counts[kind] += 1
            self.per_interval[self.reloads] += 1

    def fail(self, kind, what):
        with self.lock:
            self.counts[kind + " FAILED"] += 1
            if len(self.failures) < 50:
                self.failures.append("%s (after reload %d): %s" % (kind, self.reloads, what))

    def note(self, kind):
        with self.lock:
            self.counts[kind] += 1

    def spawn(self, fn, *args):
        t = threading.Thread(target=self._guard, args=(fn,) + args, daemon=True)
        t.start()
        self.threads.append(t)
        return t

    def _guard(self, fn, *args):
        try:
            fn(*args)
        except Exception as e:  # a bug of the test itself must show, not hang
            self.fail("thread %s" % fn.__name__, "%s: %r" % (type(e).__name__, e))

    def running(self, n):
        return not self.stop.is_set() and n < MAX_PER_THREAD and time.monotonic() < self.deadline

    # -- connections and checks

    def connect(self, tls, timeout=None):
        c = self.st.tls_client("webext.contoso.com", timeout=timeout) if tls \
            else self.st.client(timeout=timeout)
        c.rx = Counter()
        c.reader.log = c.rx
        return c

    def pick_get(self, rng, name):
        if rng.random() < 0.25:
            n = rng.choice(BIG_SIZES)
            return "/big?bytes=%d&t=%s" % (n, harness.unique(name)), n
        return "/echo?t=%s" % harness.unique(name), None

    def check_get(self, r, target, big):
        if r.status != 200:
            return "status %s %s" % (r.status, r.reason)
        server = r.header("x-mock-server")
        if server not in self.members:
            return "answered by %r" % server
        if big is not None:
            if r.body_len != big:
                return "body of %d bytes, expected %d" % (r.body_len, big)
            if harness.sha256(r.body) != mockpool.pattern_sha256(big):
                return "body of %d bytes corrupt" % big
            return None
        try:
            doc = r.json()
        except ValueError:
            return "body is not the echo document: %r" % r.body[:200]
        if doc.get("target") != target or doc.get("method") != "GET":
            return "echo of another request: %r %r" % (doc.get("method"), doc.get("target"))
        return None

    @staticmethod
    def closes(r):
        return "close" in r.tokens("connection")

    @staticmethod
    def dropped(c):
        """Whether the server closed this idle connection already (EOF or close_notify
        readable), as an HTTP client checks before reusing a pooled connection."""
        try:
            return bool(select.select([c.sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    # -- the load threads

    def keepalive_gets(self, tls, name):
        """GETs back to back on one connection, a new one only when the server closes it."""
        kind = "keep-alive GET " + ("https" if tls else "http")
        rng = random.Random(name)
        conn = None
        n = 0
        try:
            while self.running(n):
                n += 1
                target, big = self.pick_get(rng, name)
                if conn is not None and self.dropped(conn):
                    self.note("keep-alive connections closed while idle")
                    conn.close()
                    conn = None
                for attempt in (0, 1):
                    fresh = conn is None
                    try:
                        if fresh:
                            conn = self.connect(tls)
                        before = conn.rx.n
                        r = conn.request("GET", target)
                    except (OSError, EOFError, ProtocolError) as e:
                        got = conn.rx.n - before if conn is not None else 0
                        if conn is not None:
                            conn.close()
                            conn = None
                        if (not fresh and got == 0 and attempt == 0
                                and not isinstance(e, (TimeoutError, ProtocolError))):
                            # the idle-close race: nothing came back on a reused connection
                            self.note("keep-alive retries (idle close race)")
                            continue
                        self.fail(kind, "%s%s: %s: %r" % ("" if fresh else "reused conn, ", target,
                                                          type(e).__name__, e))
                        break
                    err = self.check_get(r, target, big)
                    if err:
                        self.fail(kind, "%s: %s" % (target, err))
                        conn.close()
                        conn = None
                        break
                    self.ok(kind)
                    if self.closes(r):
                        conn.close()
                        conn = None
                    break
                if rng.random() < 0.3:
                    time.sleep(rng.uniform(0, 0.01))    # pacing, not synchronisation
        finally:
            if conn is not None:
                conn.close()

    def new_conn_gets(self, tls, name):
        """One GET per connection, half of them with Connection: close."""
        kind = "new-connection GET " + ("https" if tls else "http")
        rng = random.Random(name)
        n = 0
        while self.running(n):
            n += 1
            target, big = self.pick_get(rng, name)
            hs = [("Connection", "close")] if n % 2 else []
            try:
                with self.connect(tls) as c:
                    r = c.request("GET", target, headers=hs)
            except (OSError, EOFError, ProtocolError) as e:
                self.fail(kind, "%s: %s: %r" % (target, type(e).__name__, e))
                continue
            err = self.check_get(r, target, big)
            if err:
                self.fail(kind, "%s: %s" % (target, err))
            else:
                self.ok(kind)

    def uploads(self, tls, name):
        """POSTs of 64 KiB to 1 MiB, each on a new connection, the body in a few slow pieces."""
        kind = "upload " + ("https" if tls else "http")
        rng = random.Random(name)
        n = 0
        while self.running(n):
            n += 1
            size = rng.choice(UPLOAD_SIZES)
            target = "/upload?t=%s" % harness.unique(name)
            body = mockpool.pattern_bytes(size)
            cut = sorted(rng.sample(range(1, size), UPLOAD_PIECES - 1))
            pieces = [body[a:b] for a, b in zip([0] + cut, cut + [size])]
            try:
                with self.connect(tls) as c:
                    c.send(harness.build_request("POST", target, headers=[
                        ("Content-Length", str(size)), ("Content-Type", "application/octet-stream")]))
                    for k, p in enumerate(pieces):
                        if k:
                            time.sleep(rng.uniform(0.02, 0.06) * SLOW)   # a slow sender
                        c.send(p)
                    r = c.read_response()
            except (OSError, EOFError, ProtocolError) as e:
                self.fail(kind, "%s (%d bytes): %s: %r" % (target, size, type(e).__name__, e))
                continue
            err = None
            if r.status != 200:
                err = "status %s %s" % (r.status, r.reason)
            else:
                try:
                    doc = r.json()
                except ValueError:
                    doc = {}
                if doc.get("target") != target:
                    err = "echo of another request: %r" % doc.get("target")
                elif doc.get("body_len") != size or doc.get("body_sha256") != mockpool.pattern_sha256(size):
                    err = "the pool got %r bytes (sha %r) of %d" % (doc.get("body_len"),
                                                                     doc.get("body_sha256"), size)
            if err:
                self.fail(kind, "%s: %s" % (target, err))
            else:
                self.ok(kind)
                with self.lock:
                    self.counts["upload bytes"] += size

    def longpoll(self, tls, name):
        kind = "long poll " + ("https" if tls else "http")
        target = "/longpoll?secs=%s&t=%s" % (LONGPOLL_SECS, harness.unique(name))
        t0 = time.monotonic()
        try:
            with self.connect(tls, timeout=LONGPOLL_SECS + IO_TIMEOUT) as c:
                c.send(harness.build_request("GET", target))
                at_send = self.reloads
                r = c.read_response()
        except (OSError, EOFError, ProtocolError) as e:
            self.fail(kind, "%s: %s: %r" % (target, type(e).__name__, e))
            return
        self.longpoll_done(kind, name, target, r, t0, at_send)

    def longpoll_done(self, kind, name, target, r, t0, at_send):
        """Checks the long poll's answer R (or the error text R) and records it."""
        secs = time.monotonic() - t0
        at_answer = self.reloads
        err = r if isinstance(r, str) else self.check_get(r, target, None)
        if not err and r.json().get("held") != LONGPOLL_SECS:
            err = "held %r s, not %r" % (r.json().get("held"), LONGPOLL_SECS)
        if not err and secs < LONGPOLL_SECS * 0.95:
            err = "answered after %.2f s, before the pool's %.1f s" % (secs, LONGPOLL_SECS)
        if err:
            self.fail(kind, "%s: %s" % (target, err))
            return
        self.ok(kind)
        with self.lock:
            self.longpolls.append((name, at_send, at_answer, secs))

    # -- HTTP/2 (python3-h2)

    def h2_connect(self, timeout=None):
        c = H2Client(self.st, timeout=timeout or 10.0 * SLOW)
        if c.alpn != "h2":
            c.close()
            raise ProtocolError("ALPN chose %r, not h2" % c.alpn)

        def goaway(frame):
            # python3-h2 ends the whole connection on any GOAWAY; RFC 9113 §6.8 lets the
            # streams up to the last stream id finish, and browsers read them: so does this one.
            c.goaway = (frame.error_code, frame.last_stream_id)
            return [], []
        c.conn._frame_dispatch_table[GoAwayFrame] = goaway
        return c

    @staticmethod
    def h2_settled(c, sids):
        """Whether every stream of SIDS has its answer, a reset, or can have none any more (it is
        above the last stream id of a GOAWAY received)."""
        last = c.goaway[1] if c.goaway else None
        return all(c.streams[i]["ended"] or c.streams[i]["reset"] is not None
                   or (last is not None and i > last) for i in sids)

    def h2_round(self, c, todo):
        """Sends the requests TODO as concurrent streams on C and reads them to the end.
        Returns (answered [(target, big, H2Resp)], unprocessed [(target, big)])."""
        sids = {c.request(t): (t, big) for t, big in todo}
        closed = False
        while not self.h2_settled(c, sids):
            try:
                c.pump()
            except ConnectionError:
                closed = True
                break
        answered, unprocessed = [], []
        last = c.goaway[1] if c.goaway else None
        for sid, (t, big) in sids.items():
            s = c.streams[sid]
            if s["ended"] and s["headers"]:
                answered.append((t, big, H2Resp(s)))
            elif s["reset"] == h2.errors.ErrorCodes.REFUSED_STREAM or (
                    last is not None and sid > last):
                unprocessed.append((t, big))
            else:
                answered.append((t, big, "stream %d %s%s" % (
                    sid, "reset %r" % s["reset"] if s["reset"] is not None else "unanswered",
                    ", connection closed" if closed else "")))
        return answered, unprocessed, closed or c.goaway is not None

    def h2_gets(self, name):
        """H2_STREAMS concurrent GETs at a time on one HTTP/2 connection, a new connection once
        the server sent GOAWAY or closed it; unprocessed streams are retried (at most twice)."""
        kind = "h2 stream GET"
        rng = random.Random(name)
        c, n, again = None, 0, []
        try:
            while self.running(n):
                todo = again[:H2_STREAMS]
                again = again[H2_STREAMS:]
                while len(todo) < H2_STREAMS:
                    n += 1
                    todo.append(self.pick_get(rng, name) + (0,))
                try:
                    if c is None:
                        c = self.h2_connect()
                    answered, unprocessed, done = self.h2_round(c, [(t, b) for t, b, _ in todo])
                except (OSError, ProtocolError) as e:
                    self.fail(kind, "%d streams: %s: %r" % (len(todo), type(e).__name__, e))
                    c, done = None, False
                    continue
                tries = {t: k for t, _, k in todo}
                for t, big, r in answered:
                    err = r if isinstance(r, str) else self.check_get(r, t, big)
                    if err:
                        self.fail(kind, "%s: %s" % (t, err))
                    else:
                        self.ok(kind)
                for t, big in unprocessed:
                    if tries[t] >= 2:
                        self.fail(kind, "%s: not processed three times" % t)
                        continue
                    self.note("h2 streams not processed (GOAWAY or REFUSED_STREAM), retried")
                    again.append((t, big, tries[t] + 1))
                if c.goaway and c.goaway[0] != 0:
                    self.fail(kind, "GOAWAY with error %d, not NO_ERROR" % c.goaway[0])
                if done:
                    self.note("h2 connections ended by the server")
                    c.close()
                    c = None
        finally:
            if c is not None:
                c.close()

    def h2_longpoll(self, name):
        kind = "long poll h2"
        target = "/longpoll?secs=%s&t=%s" % (LONGPOLL_SECS, harness.unique(name))
        t0 = time.monotonic()
        try:
            c = self.h2_connect(timeout=LONGPOLL_SECS + IO_TIMEOUT)
            at_send = self.reloads
            answered, unprocessed, _ = self.h2_round(c, [(target, None)])
            c.close()
        except (OSError, ProtocolError) as e:
            self.fail(kind, "%s: %s: %r" % (target, type(e).__name__, e))
            return
        if unprocessed:
            self.fail(kind, "%s: not processed on a new connection" % target)
            return
        self.longpoll_done(kind, name, target, answered[0][2], t0, at_send)


class H2Resp:
    """A finished python3-h2 stream with the Response interface check_get reads."""

    def __init__(self, s):
        self.fields = {n.decode().lower(): v.decode() for n, v in s["headers"]}
        self.status = int(self.fields[":status"])
        self.reason = ""
        self.body = bytes(s["data"])
        self.body_len = len(self.body)

    def header(self, name):
        return self.fields.get(name.lower())

    def json(self):
        return json.loads(self.body)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_fifty_reloads_under_load(make_stack, tmp_path):
    pki = make_stack.pki
    certdir = tmp_path / "live"
    certdir.mkdir()
    live_pem, live_key = str(certdir / "listener.pem"), str(certdir / "listener.key")

    def put_cert(stem):
        pem, key = pki.pair(stem)
        shutil.copyfile(pem, live_pem)
        shutil.copyfile(key, live_key)

    put_cert(expected_cert(0))
    net = harness.Net.alloc()
    members = [net.member(1), net.member(2)]
    proxy = dict(https_port=443, certificate=live_pem, key=live_key,
                 **({"http2": "on"} if H2Client else {}))

    def pools(i):
        return [Pool("fe", [members[i % 2]], harness.DEFAULT_NAMES + ["r%d.contoso.com" % i],
                     http="forward")]

    notify = Notify()
    old_env = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = notify.name
    try:
        st = make_stack(net=net, members=members, split_mocks=True, mock_name="m", pools=pools(0),
                        **proxy)
    finally:
        if old_env is None:
            del os.environ["NOTIFY_SOCKET"]
        else:
            os.environ["NOTIFY_SOCKET"] = old_env
    mock_of = {ip: st.mocks[ip].name for ip in members}

    def config_text(i):
        return harness.render_config(net, pools(i), st.access_log, pki, **proxy)

    def write_config(text):
        tmp = st.portico.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, st.portico.config_path)

    load = Load(st, set(mock_of.values()))
    for size in set(BIG_SIZES + UPLOAD_SIZES):
        mockpool.pattern_sha256(size)       # computed once, before the clock matters
    config_failures = []
    reload_secs = []

    def hup(expect):
        """SIGHUP, then waits for RELOADING=1 and READY=1 and the master's verdict."""
        notify.drain()
        mark = len(st.portico.stderr_lines)
        t0 = time.monotonic()
        st.portico.signal(signal.SIGHUP)
        msgs = notify.wait("READY=1", 15 * SLOW)
        assert msgs, "no READY=1 after SIGHUP; stderr:\n" + "\n".join(st.portico.stderr_lines[mark:])
        assert "RELOADING=1" in msgs[0].split("\n"), "READY=1 without RELOADING=1 first: %r" % msgs
        verdict = st.portico.wait_stderr(r"reload (done|refused)", timeout=5, start=mark)
        assert verdict, "READY=1 but no verdict logged:\n" + "\n".join(st.portico.stderr_lines[mark:])
        assert expect in verdict[0], "reload %s expected, got: %s\n%s" % (
            expect, verdict[0], "\n".join(st.portico.stderr_lines[mark:]))
        reload_secs.append(time.monotonic() - t0)
        return mark

    def serving(i, label):
        """Checks, on new connections, that configuration i is the one serving."""
        exp = mock_of[members[i % 2]]
        probs = []
        try:
            with st.client() as c:
                r = c.request("GET", "/echo?chk=%s" % label, "r%d.contoso.com" % i)
            if r.status != 200 or r.header("x-mock-server") != exp:
                probs.append("r%d.contoso.com: %s from %r, expected 200 from %s"
                             % (i, r.status, r.header("x-mock-server"), exp))
            for other in (i - 1, i + 1):
                if other < 0:
                    continue
                with st.client() as c:
                    r = c.request("GET", "/echo?chk=%s-other" % label, "r%d.contoso.com" % other)
                if r.status != 404:
                    probs.append("r%d.contoso.com (not published by configuration %d): %s, "
                                 "expected 404" % (other, i, r.status))
            with st.tls_client("webext.contoso.com") as c:
                got = pki.which(c.peer_der)
                r = c.request("GET", "/echo?chk=%s-tls" % label)
            if got != expected_cert(i):
                probs.append("a new TLS connection got certificate %r, expected %r"
                             % (got, expected_cert(i)))
            if r.status != 200 or r.header("x-mock-server") != exp:
                probs.append("https webext: %s from %r, expected 200 from %s"
                             % (r.status, r.header("x-mock-server"), exp))
        except (OSError, EOFError, ProtocolError) as e:
            probs.append("check request failed: %s: %r" % (type(e).__name__, e))
        for p in probs:
            config_failures.append("%s: %s" % (label, p))

    master_fds = fd_count(st.portico.pid)
    started = time.monotonic()
    lp_threads = []
    try:
        for tls in (False, True):
            for k in range(2 if not tls else 1):
                load.spawn(load.keepalive_gets, tls, "ka-%s-%d" % ("https" if tls else "http", k))
            load.spawn(load.new_conn_gets, tls, "new-%s" % ("https" if tls else "http"))
            load.spawn(load.uploads, tls, "up-%s" % ("https" if tls else "http"))
        if H2Client:
            load.spawn(load.h2_gets, "h2")
        # Load before the first reload: every kind of request has been answered once.
        deadline = time.monotonic() + 10 * SLOW
        while not all(load.counts[k] for k in KINDS):
            assert time.monotonic() < deadline and not load.failures, \
                "the load does not run before any reload: %r %r" % (load.counts, load.failures)
            time.sleep(0.02)
        serving(0, "start")

        for i in range(1, RELOADS + 1):
            assert time.monotonic() - started < PHASE_BOUND, \
                "reload phase over %.0f s at reload %d" % (PHASE_BOUND, i)
            if i == BROKEN_AT:
                # The new certificate is on disk, the configuration has an error: nothing changes.
                put_cert(expected_cert(i))
                lines = config_text(i).split("\n")
                at = lines.index("[proxy]") + 1
                lines.insert(at, "bogus_key = 1")
                write_config("\n".join(lines))
                mark = hup("refused")
                err = st.portico.wait_stderr(r"portico\.conf:%d: unknown key 'bogus_key'" % (at + 1),
                                             start=mark)
                assert err, "the error is not logged as FILE:LINE: message:\n" + \
                    "\n".join(st.portico.stderr_lines[mark:])
                serving(i - 1, "refused-%d" % i)
            put_cert(expected_cert(i))
            write_config(config_text(i))
            hup("done")
            load.reloads = i
            serving(i, "reload-%d" % i)
            if i in LONGPOLL_AT:
                for k in range(LONGPOLLS_PER_BATCH):
                    lp_threads.append(load.spawn(load.longpoll, k % 2 == 1, "lp%d-%d" % (i, k)))
                if H2Client:
                    lp_threads.append(load.spawn(load.h2_longpoll, "lp%d-h2" % i))
        phase = time.monotonic() - started
        for t in lp_threads:
            t.join(LONGPOLL_SECS + 3 * IO_TIMEOUT)
            assert not t.is_alive(), "a long poll never ended"
    finally:
        load.stop.set()
        join_by = time.monotonic() + 3 * IO_TIMEOUT
        for t in load.threads:
            t.join(max(0.1, join_by - time.monotonic()))
        notify.close()
    assert not any(t.is_alive() for t in load.threads), "a load thread did not stop"

    # The replaced workers exit once their connections are done; the master holds no more
    # descriptors than before the reloads.
    deadline = time.monotonic() + 10 * SLOW
    while len(st.portico.worker_pids()) != harness.WORKERS:
        assert time.monotonic() < deadline, "old workers still running: %r\n%s" % (
            st.portico.worker_pids(), "\n".join(st.portico.stderr_lines[-20:]))
        time.sleep(0.05)
    fds_after = fd_count(st.portico.pid)
    abnormal = [l for l in st.portico.stderr_lines if ABNORMAL.search(l)]

    c = load.counts
    total = sum(c[k] for k in KINDS + ("long poll http", "long poll https", "long poll h2"))
    failed = sum(v for k, v in c.items() if k.endswith("FAILED"))
    spans = [a - s for _, s, a, _ in load.longpolls]
    covered = sum(1 for i in range(RELOADS + 1) if load.per_interval[i])
    summary = ("reloads: %d done + 1 refused in %.1f s (%.0f ms per reload, max %.0f ms); "
               "requests: %d completed, %d failed; %s; long polls: %d of %.1f s (%.2f-%.2f s), "
               "each across %s reloads; reload intervals with completions: %d/%d; "
               "master fds %d -> %d; workers=%d sanitized=%s"
               % (RELOADS, phase, 1000 * sum(reload_secs) / len(reload_secs),
                  1000 * max(reload_secs), total, failed,
                  ", ".join("%s: %d" % kv for kv in sorted(c.items())),
                  len(load.longpolls), LONGPOLL_SECS,
                  min((s for *_, s in load.longpolls), default=0),
                  max((s for *_, s in load.longpolls), default=0),
                  "%d-%d" % (min(spans), max(spans)) if spans else "-", covered, RELOADS + 1,
                  master_fds, fds_after, harness.WORKERS, harness.SANITIZED))
    print("\n" + summary)
    with open(os.path.join(st.dir, "summary.txt"), "w") as f:
        f.write(summary + "\n")

    problems = []
    if load.failures:
        problems.append("%d failed request(s):\n%s" % (failed, "\n".join(load.failures)))
    if config_failures:
        problems.append("after a confirmed reload, the new configuration or certificate was not "
                        "in effect (%d):\n%s" % (len(config_failures), "\n".join(config_failures[:30])))
    if abnormal:
        problems.append("workers ended abnormally:\n" + "\n".join(abnormal[:10]))
    assert not problems, "\n\n".join(problems + [summary])
    assert len(load.longpolls) == len(LONGPOLL_AT) * (LONGPOLLS_PER_BATCH + bool(H2Client)), summary
    assert min(spans) >= LONGPOLL_MIN_SPAN, "a long poll spanned fewer than %d reloads: %s" % (
        LONGPOLL_MIN_SPAN, summary)
    for k in KINDS:
        assert c[k] >= 10, "too little load of kind %s: %s" % (k, summary)
    assert covered >= (RELOADS + 1) * 0.8, "the load did not overlap the reloads: %s" % summary
    assert fds_after == master_fds, "the master's descriptors went from %d to %d over %d reloads" % (
        master_fds, fds_after, RELOADS)
