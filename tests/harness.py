"""harness.py — black-box test harness for portico: addresses, mock pools, configurations, the
portico process, and a raw-socket HTTP/1.1 client that shows the exact bytes.

Environment:
  PORTICO_BIN        the binary (default ./portico, relative to the cwd: the repository root)
  PORTICO_WORKERS    workers = N in every configuration written (default 1)
  PORTICO_SANITIZED  1 when the binary is an ASan/UBSan build: generous timeouts, no RSS asserts
"""

import fcntl
import glob
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import mockpool
from mockpool import Reader, ProtocolError, split_head, get_all, get_one, tokens  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
MOCKPOOL = os.path.join(HERE, "mockpool.py")
PYTHON = sys.executable or "/usr/bin/python3"

PORTICO_BIN = os.path.abspath(os.environ.get("PORTICO_BIN", "./portico"))
WORKERS = int(os.environ.get("PORTICO_WORKERS", "1"))
SANITIZED = os.environ.get("PORTICO_SANITIZED", "0") not in ("", "0")

SLOW = 3.0 if SANITIZED else 1.0           # multiplier for bounds that depend on speed
READY_TIMEOUT = 10.0 * SLOW                # portico: ready
IO_TIMEOUT = 10.0 * SLOW                   # default socket timeout for test clients
STOP_TIMEOUT = 20.0 * SLOW                 # SIGTERM to exit
TEST_TIMEOUT = int(os.environ.get("PORTICO_TEST_TIMEOUT", "300" if SANITIZED else "120"))

DEFAULT_NAMES = ["webext.contoso.com", "lyncdiscover.contoso.com", "meet.contoso.com",
                 "dialin.contoso.com"]
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")


try:
    import ctypes
    _libc = ctypes.CDLL(None, use_errno=True)
except Exception:  # pragma: no cover
    _libc = None


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM when the test process dies (PR_SET_PDEATHSIG), so a
    killed pytest leaves no portico or mock squatting on the test addresses."""
    if _libc is not None:
        _libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)


# ---------------------------------------------------------------------------------------------
# Addresses: every test gets its own loopback addresses, so tests never collide and the
# ports stay realistic (80/443 outside, 8080/4443/443 inside).

_alloc_lock = threading.Lock()
_alloc_counter = [0]


class Net:
    """external 127.1k.X.1, internal 127.1k.X.2, members 127.2k.X.i, OWA 127.3k.X.i,
    test clients 127.4k.X.9 (k in 0..7, X in 1..254, from a counter mixed with the pid)."""

    def __init__(self, idx):
        self.k, x = divmod(idx % (8 * 254), 254)
        self.x = x + 1
        self.ext = "127.%d.%d.1" % (10 + self.k, self.x)
        self.internal = "127.%d.%d.2" % (10 + self.k, self.x)
        self.client = "127.%d.%d.9" % (40 + self.k, self.x)

    def member(self, i):
        return "127.%d.%d.%d" % (20 + self.k, self.x, i)

    def owa(self, i=1):
        return "127.%d.%d.%d" % (30 + self.k, self.x, i)

    SLOTS = 8 * 254
    LOCK_DIR = "/tmp/portico-test-nets"

    @classmethod
    def alloc(cls):
        """A free slot: slots are flock()ed under LOCK_DIR, so concurrent test runs (two
        developers, or the suite and the demo) never share addresses."""
        os.makedirs(cls.LOCK_DIR, exist_ok=True)
        with _alloc_lock:
            for _ in range(cls.SLOTS):
                _alloc_counter[0] += 1
                idx = (os.getpid() * 97 + _alloc_counter[0]) % cls.SLOTS
                fd = os.open(os.path.join(cls.LOCK_DIR, "%d.lock" % idx), os.O_CREAT | os.O_RDWR, 0o666)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                net = cls(idx)
                if not net._free():         # squatted, e.g. by an orphan of a killed run
                    os.close(fd)
                    continue
                net._lockfd = fd
                return net
        raise RuntimeError("no free test network slot in %s" % cls.LOCK_DIR)

    def _free(self):
        for ip, port in [(self.ext, 80), (self.ext, 443), (self.member(1), 8080), (self.member(2), 8080),
                         (self.member(1), 4443), (self.owa(1), 443)]:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((ip, port))
            except OSError:
                return False
            finally:
                s.close()
        return True

    def release(self):
        fd = getattr(self, "_lockfd", None)
        if fd is not None:
            self._lockfd = None
            os.close(fd)


# ---------------------------------------------------------------------------------------------
# Test PKI (openssl CLI): an internal CA, the pools' certificate, the public certificate.

class PKI:
    def __init__(self, d):
        self.dir = d
        self.ca_pem = os.path.join(d, "internal-ca.pem")
        self.ca_key = os.path.join(d, "internal-ca.key")
        self.pool_pem = os.path.join(d, "pool.pem")
        self.pool_key = os.path.join(d, "pool.key")
        self.public_pem = os.path.join(d, "public.pem")
        self.public_key = os.path.join(d, "public.key")

    def _run(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.dir, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.stderr))

    def _leaf(self, stem, cn, sans):
        ext = os.path.join(self.dir, stem + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n" % ",".join(sans))
        self._run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", stem + ".key",
                  "-out", stem + ".csr", "-subj", "/CN=" + cn)
        self._run("x509", "-req", "-in", stem + ".csr", "-CA", "internal-ca.pem",
                  "-CAkey", "internal-ca.key", "-CAcreateserial", "-days", "30",
                  "-out", stem + ".pem", "-extfile", ext)

    def generate(self):
        os.makedirs(self.dir, exist_ok=True)
        self._run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "internal-ca.key",
                  "-out", "internal-ca.pem", "-days", "30", "-subj", "/CN=Contoso Internal Test CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._leaf("pool", "fe01.contoso.local",
                   ["DNS:fe01.contoso.local", "DNS:*.contoso.local", "DNS:*.contoso.com",
                    "DNS:contoso.com", "DNS:*.apps.contoso.com", "DNS:localhost"])
        self._leaf("public", "webext.contoso.com",
                   ["DNS:webext.contoso.com", "DNS:*.contoso.com", "DNS:contoso.com",
                    "DNS:*.apps.contoso.com"])
        return self


# ---------------------------------------------------------------------------------------------
# The mock pool process.

class Mock:
    """One mockpool.py process. listens: [(ip, port, tls)]."""

    def __init__(self, workdir, name, listens, pki=None, extra_args=()):
        self.dir = os.path.join(workdir, "mock-" + name)
        os.makedirs(self.dir, exist_ok=True)
        self.name = name
        self.listens = listens
        self.rawlog = os.path.join(self.dir, "raw")
        self.pki = pki
        self.extra_args = list(extra_args)
        self.proc = None

    def start(self):
        args = [PYTHON, MOCKPOOL, "--name", self.name, "--rawlog", self.rawlog,
                "--ready-file", os.path.join(self.dir, "ready")]
        for ip, port, tls in self.listens:
            args += ["--listen", "%s:%d%s" % (ip, port, ":tls" if tls else "")]
        if self.pki and any(t for _, _, t in self.listens):
            args += ["--cert", self.pki.pool_pem, "--key", self.pki.pool_key]
        args += self.extra_args
        self.stderr_path = os.path.join(self.dir, "stderr.txt")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, preexec_fn=_die_with_parent,
                                     stderr=open(self.stderr_path, "wb"), stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        line = b""
        os.set_blocking(self.proc.stdout.fileno(), False)
        while time.monotonic() < deadline:
            try:
                chunk = self.proc.stdout.read()
            except (BlockingIOError, TypeError):
                chunk = None
            if chunk:
                line += chunk
            if b"mockpool: ready" in line:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("mockpool did not start: %s" % open(self.stderr_path).read())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # -- what the pool received

    def raw_files(self):
        return sorted(glob.glob(os.path.join(self.rawlog, "conn-*.raw")))

    def all_raw(self):
        out = []
        for fn in self.raw_files():
            with open(fn, "rb") as f:
                out.append(f.read())
        return b"\n".join(out)

    def raw_of(self, serial):
        fns = glob.glob(os.path.join(self.rawlog, "conn-%06d-*.raw" % int(serial)))
        if not fns:
            return b""
        with open(fns[0], "rb") as f:
            return f.read()

    def saw(self, token):
        if isinstance(token, str):
            token = token.encode()
        return any(token in data for data in (open(fn, "rb").read() for fn in self.raw_files()))

    def events(self):
        try:
            with open(os.path.join(self.rawlog, "events.log")) as f:
                return [json.loads(l) for l in f if l.strip()]
        except FileNotFoundError:
            return []

    def requests(self):
        return [e for e in self.events() if e["ev"] == "req"]

    def is_closed(self, serial):
        return any(e["ev"] == "close" and e["conn"] == int(serial) for e in self.events())

    def wait_closed(self, serial, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_closed(serial):
                return True
            time.sleep(0.05)
        return False

    def wait_request(self, token, timeout=5.0):
        """Waits until the pool has received a request whose target contains token."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.requests():
                if token in e["target"]:
                    return e
            time.sleep(0.02)
        return None


# ---------------------------------------------------------------------------------------------
# Configuration.

class Pool:
    def __init__(self, name, servers, publish, role="frontend", **opts):
        self.name = name
        self.servers = servers
        self.publish = publish
        self.role = role
        self.opts = opts

    def render(self, pki):
        lines = ["[pool %s]" % self.name, "role = %s" % self.role,
                 "servers = %s" % " ".join(self.servers), "publish = %s" % " ".join(self.publish)]
        opts = dict(self.opts)
        if pki is not None and "ca" not in opts:
            opts["ca"] = pki.ca_pem
        for k, v in opts.items():
            if v is not None:
                lines.append("%s = %s" % (k, v))
        return "\n".join(lines) + "\n"


def render_config(net, pools, access_log, pki=None, **proxy):
    opts = {
        "external": net.ext,
        "internal": net.internal,
        "http_port": 80,
        "https_port": "off",
        "workers": WORKERS,
        "access_log": access_log,
        "access_log_format": "json",
        "timeout_connect": 2,
        "timeout_header": 10,
        "timeout_keepalive": 30,
        "timeout_idle": 30,
        "drain_timeout": 5,
    }
    opts.update(proxy)
    if str(opts.get("https_port")) != "off" and pki is not None and "certificate" not in opts:
        opts["certificate"] = pki.public_pem
        opts["key"] = pki.public_key
    lines = ["; written by tests/harness.py", "[proxy]"]
    for k, v in opts.items():
        if v is not None:
            lines.append("%s = %s" % (k, v))
    return "\n".join(lines) + "\n\n" + "\n".join(p.render(pki) for p in pools)


# ---------------------------------------------------------------------------------------------
# The portico process.

def proc_children(pid):
    """PIDs of every descendant of pid (from /proc/*/stat)."""
    parents = {}
    for st in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(st) as f:
                data = f.read()
        except OSError:
            continue
        rest = data.rsplit(")", 1)[1].split()
        parents.setdefault(int(rest[1]), []).append(int(st.split("/")[2]))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in parents.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Portico:
    def __init__(self, workdir, config_text, name="portico", args=None):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.config_path = os.path.join(workdir, name + ".conf")
        with open(self.config_path, "w") as f:
            f.write(config_text)
        self.args = args
        self.proc = None
        self.stderr_lines = []
        self.ready = threading.Event()
        self.returncode = None

    def start(self, wait=True):
        if not os.path.exists(PORTICO_BIN):
            raise RuntimeError("portico binary not found: %s (run make, or set PORTICO_BIN)" % PORTICO_BIN)
        args = [PORTICO_BIN] + (self.args or ["-c", self.config_path])
        self.proc = subprocess.Popen(args, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=open(os.path.join(self.dir, "stdout.txt"), "wb"),
                                     stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if wait:
            self.wait_ready()
        return self

    def _read_stderr(self):
        with open(os.path.join(self.dir, "stderr.txt"), "wb") as log:
            for line in iter(self.proc.stderr.readline, b""):
                log.write(line)
                log.flush()
                text = line.decode("utf-8", "replace").rstrip("\n")
                self.stderr_lines.append(text)
                if text.strip() == "portico: ready":
                    self.ready.set()

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.02):
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise RuntimeError("portico exited with %s before 'portico: ready'; stderr:\n%s"
                                   % (self.proc.returncode, self.stderr()))
            if time.monotonic() > deadline:
                raise RuntimeError("portico not ready within %.0f s; stderr:\n%s" % (timeout, self.stderr()))

    def stderr(self):
        return "\n".join(self.stderr_lines)

    @property
    def pid(self):
        return self.proc.pid

    def pids(self):
        return [self.proc.pid] + proc_children(self.proc.pid)

    def rss_kb(self):
        return sum(rss_kb(p) for p in self.pids())

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and wait; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for p in reversed(self.pids()):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.wait()
                self._reader.join(2)
                self.returncode = None
                return None
        self._reader.join(5)
        self.returncode = self.proc.returncode
        return self.returncode

    def sanitizer_report(self):
        text = self.stderr()
        return text if any(m in text for m in SANITIZER_MARKERS) else None


def run_portico(args, timeout=30):
    """Runs portico to completion (for -t, -v...). Returns CompletedProcess (text)."""
    if not os.path.exists(PORTICO_BIN):
        raise RuntimeError("portico binary not found: %s (run make, or set PORTICO_BIN)" % PORTICO_BIN)
    return subprocess.run([PORTICO_BIN] + list(args), capture_output=True, text=True,
                          timeout=timeout * SLOW, stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------------------------------------
# Raw HTTP/1.1 client.

class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []
        self.head_raw = b""
        self.body = b""
        self.body_len = 0
        self.interim = []       # [(status, headers)]
        self.trailers = []
        self.framing = None     # 'length' | 'chunked' | 'close' | 'none'

    def header(self, name):
        return get_one(self.headers, name)

    def header_all(self, name):
        return get_all(self.headers, name)

    def has(self, name):
        return bool(get_all(self.headers, name))

    def tokens(self, name):
        return tokens(self.headers, name)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %s %s %r body=%d>" % (self.status, self.reason, self.headers, self.body_len)


STATUS_RE = re.compile(rb"^HTTP/1\.([01]) ([1-5][0-9][0-9]) ([^\r\n]*)$")


def build_request(method="GET", target="/echo", host="webext.contoso.com", headers=(), body=None,
                  version="HTTP/1.1", content_length=True):
    """Bytes of a request. host=None: no Host header. body: bytes (Content-Length added unless
    content_length=False or a Content-Length/Transfer-Encoding header is given)."""
    out = ["%s %s %s\r\n" % (method, target, version)]
    if host is not None:
        out.append("Host: %s\r\n" % host)
    names = set()
    for n, v in headers:
        out.append("%s: %s\r\n" % (n, v))
        names.add(n.lower())
    if body is not None and content_length and not names & {"content-length", "transfer-encoding"}:
        out.append("Content-Length: %d\r\n" % len(body))
    out.append("\r\n")
    data = "".join(out).encode("latin-1")
    return data + (body or b"")


class Client:
    def __init__(self, host, port=80, src=None, timeout=None):
        self.addr = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if src:
            self.sock.bind((src, 0))
        self.sock.settimeout(timeout or IO_TIMEOUT)
        self.sock.connect(self.addr)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = Reader(self.sock)
        self.leftover = b""

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method="GET", target="/echo", host="webext.contoso.com", headers=(), body=None,
                version="HTTP/1.1", sink=None):
        self.send(build_request(method, target, host, headers, body, version))
        return self.read_response(method, sink=sink)

    def read_head(self):
        """Reads one response head (interim or final). Returns (status, reason, version, headers, raw)."""
        raw = self.reader.read_until(b"\r\n\r\n", 1 << 20)
        start, headers = split_head(raw)
        m = STATUS_RE.match(start)
        if not m:
            raise ProtocolError("bad status line %r" % start[:200])
        return int(m.group(2)), m.group(3).decode("latin-1"), "HTTP/1." + m.group(1).decode(), headers, raw

    def read_response(self, method="GET", sink=None, on_interim=None):
        """Reads interim responses and one final response. sink(memoryview) receives the body
        as it arrives (then .body stays empty); otherwise .body holds it."""
        r = Response()
        while True:
            status, reason, version, headers, raw = self.read_head()
            if 100 <= status < 200 and status != 101:
                r.interim.append((status, headers))
                if on_interim:
                    on_interim(status, headers)
                continue
            break
        r.status, r.reason, r.version, r.headers, r.head_raw = status, reason, version, headers, raw
        collected = bytearray()

        def _sink(mv):
            r.body_len += len(mv)
            if sink:
                sink(mv)
            else:
                collected.extend(mv)

        if method == "HEAD" or status in (204, 304) or status == 101:
            r.framing = "none"
        else:
            te = get_all(headers, "transfer-encoding")
            cl = get_all(headers, "content-length")
            if te and cl:
                raise ProtocolError("response with both Transfer-Encoding and Content-Length")
            if te:
                if tokens(headers, "transfer-encoding")[-1:] != ["chunked"]:
                    raise ProtocolError("response Transfer-Encoding %r" % te)
                r.framing = "chunked"
                r.trailers = self.reader.read_chunked(_sink)
            elif cl:
                if len(set(cl)) != 1 or not cl[0].isdigit():
                    raise ProtocolError("response Content-Length %r" % cl)
                r.framing = "length"
                self.reader.read_exact(int(cl[0]), _sink)
            else:
                r.framing = "close"
                self.reader.read_to_eof(_sink)
        r.body = bytes(collected)
        return r

    def wait_closed(self, timeout=5.0):
        """True when the peer closes (EOF or reset) within timeout; data read meanwhile is kept
        in .leftover. False if still open after timeout."""
        deadline = time.monotonic() + timeout
        if self.reader.buf:
            self.leftover += bytes(self.reader.buf)
            self.reader.buf.clear()
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.leftover += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        finally:
            try:
                self.sock.settimeout(IO_TIMEOUT)
            except OSError:
                pass

    def is_open(self, wait=0.2):
        """True when no EOF/reset arrives within wait seconds."""
        return not self.wait_closed(wait)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def read_bad_response(client):
    """For malformed-request tests: the one response the proxy sends (or None if it just
    closed), without failing on a close or reset."""
    try:
        return client.read_response()
    except (EOFError, ConnectionResetError, BrokenPipeError):
        return None


# ---------------------------------------------------------------------------------------------
# A complete test setup: one mock process, one portico.

class RssSampler(threading.Thread):
    def __init__(self, portico, interval=0.1):
        super().__init__(daemon=True)
        self.portico = portico
        self.interval = interval
        self.max = 0
        self.samples = []
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            v = self.portico.rss_kb()
            self.samples.append(v)
            self.max = max(self.max, v)
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join(5)


class Stack:
    """mock members + portico. By default: members [127.2k.X.1] listening on 8080 (plain) and
    4443 (TLS), one pool "fe" (role frontend, http = forward) publishing DEFAULT_NAMES."""

    def __init__(self, workdir, pki, net=None, members=None, mock_ips=None, pools=None,
                 http="forward", mock_name="fe01", mock_args=(), **proxy):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.pki = pki
        self.net = net or Net.alloc()
        n = self.net
        self.members = members if members is not None else [n.member(1)]
        self.mock_ips = mock_ips if mock_ips is not None else list(self.members)
        self.pools = pools if pools is not None else [
            Pool("fe", self.members, DEFAULT_NAMES, http=http)]
        self.proxy = proxy
        self.access_log = proxy.pop("access_log", os.path.join(workdir, "access.log"))
        self.mock = None
        if self.mock_ips:
            listens = []
            for ip in self.mock_ips:
                listens += [(ip, 8080, False), (ip, 4443, True)]
            self.mock = Mock(workdir, mock_name, listens, pki, mock_args)
        self.portico = Portico(os.path.join(workdir, "portico"),
                               render_config(n, self.pools, self.access_log, pki, **proxy))

    def start(self):
        if self.mock:
            self.mock.start()
        self.portico.start()
        return self

    def stop(self):
        rc = self.portico.stop()
        if self.mock:
            self.mock.stop()
        self.net.release()
        return rc

    def client(self, port=80, timeout=None, src=True):
        return Client(self.net.ext, port, self.net.client if src else None, timeout)

    def request(self, *a, **kw):
        with self.client() as c:
            return c.request(*a, **kw)

    def access_entries(self, n=1, timeout=5.0):
        """Waits for at least n access log lines; returns them parsed as JSON."""
        lines = self.access_lines(n, timeout)
        return [json.loads(l) for l in lines]

    def access_lines(self, n=1, timeout=5.0):
        deadline = time.monotonic() + timeout * SLOW
        lines = []
        while time.monotonic() < deadline:
            try:
                with open(self.access_log) as f:
                    lines = [l.rstrip("\n") for l in f if l.strip()]
            except FileNotFoundError:
                lines = []
            if len(lines) >= n:
                return lines
            time.sleep(0.05)
        return lines


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def hdrs_of(doc):
    """The mock's echoed request headers as [(name, value)]."""
    return [(n, v) for n, v in doc["headers"]]


_unique_counter = [0]


def unique(prefix="tok"):
    """A token no other request of this run carries (to find, or not find, in the pool's logs)."""
    with _alloc_lock:
        _unique_counter[0] += 1
        n = _unique_counter[0]
    return "%s-%d-%d-%d" % (prefix, os.getpid(), n, int(time.time() * 1000) % 10 ** 8)
