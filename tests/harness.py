"""harness.py — black-box test harness for portico: addresses, mock pools, configurations, the
portico process, and a raw-socket HTTP/1.1 client that shows the exact bytes.

Environment:
  PORTICO_BIN        the binary (default ./portico, relative to the cwd: the repository root)
  PORTICO_WORKERS    workers = N in every configuration written (default 1)
  PORTICO_SANITIZED  1 when the binary is an ASan/UBSan build: generous timeouts, no RSS asserts
  PORTICO_WRAPPER    a command put before the binary in Portico.start (split like a shell
                     would), e.g. "valgrind --leak-check=full --error-exitcode=99". With
                     valgrind: each portico gets --log-file=ITS_DIR/valgrind.%p.log unless one
                     is given, the logs' errors and definite/indirect leaks fail the test like
                     a sanitizer report (sanitizer_report), and SANITIZED's timeouts apply
                     (times 2); make valgrind-check (tests/hardening.mk) runs it
"""

import fcntl
import glob
import hashlib
import json
import os
import re
import shlex
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import warnings

import mockpool
from mockpool import Reader, ProtocolError, split_head, get_all, get_one, tokens  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
MOCKPOOL = os.path.join(HERE, "mockpool.py")
PYTHON = sys.executable or "/usr/bin/python3"

PORTICO_BIN = os.path.abspath(os.environ.get("PORTICO_BIN", "./portico"))
WORKERS = int(os.environ.get("PORTICO_WORKERS", "1"))
SANITIZED = os.environ.get("PORTICO_SANITIZED", "0") not in ("", "0")
WRAPPER = shlex.split(os.environ.get("PORTICO_WRAPPER", ""))
VALGRIND = bool(WRAPPER) and os.path.basename(WRAPPER[0]) == "valgrind"
SANITIZED = SANITIZED or VALGRIND           # valgrind: slow too, and RSS means nothing there

SLOW = (6.0 if VALGRIND else 3.0) if SANITIZED else 1.0     # multiplier for bounds that depend on speed
READY_TIMEOUT = 10.0 * SLOW                # portico: ready
IO_TIMEOUT = 10.0 * SLOW                   # default socket timeout for test clients
STOP_TIMEOUT = 20.0 * SLOW                 # SIGTERM to exit
TEST_TIMEOUT = int(os.environ.get("PORTICO_TEST_TIMEOUT", "300" if SANITIZED else "120"))

DEFAULT_NAMES = ["webext.contoso.com", "lyncdiscover.contoso.com", "meet.contoso.com",
                 "dialin.contoso.com"]
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")


def valgrind_problems(logdir):
    """The valgrind logs (valgrind.PID.log) in logdir that report errors or definite/indirect
    leaks, or that have no ERROR SUMMARY (the process was killed): [(path, why, text)]."""
    out = []
    for fn in sorted(glob.glob(os.path.join(logdir, "valgrind.*.log"))):
        with open(fn, errors="replace") as f:
            text = f.read()
        why = []
        m = re.search(r"ERROR SUMMARY: ([0-9,]+) errors", text)
        if not m:
            why.append("no ERROR SUMMARY (the process did not exit normally)")
        elif m.group(1) != "0":
            why.append("ERROR SUMMARY: %s errors" % m.group(1))
        for kind in ("definitely", "indirectly"):
            k = re.search(r"%s lost: ([0-9,]+) bytes" % kind, text)
            if k and k.group(1) != "0":
                why.append("%s lost: %s bytes" % (kind, k.group(1)))
        if why:
            out.append((fn, "; ".join(why), text))
    return out


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
# Test PKI (openssl CLI).
#
# Inside (the pools): "internal-ca" issues "pool" (fe01.contoso.local, *.contoso.local,
# *.contoso.com, contoso.com, *.apps.contoso.com, *.fabrikam.com, localhost), which every mock
# member serves on its TLS ports; "pool-wrongname" (internal CA, only pool.fabrikam.local);
# "other-ca", a CA portico does not trust, issues "pool-untrusted" with the names of "pool".
# Outside (portico's own certificates): "public-ca" (what the test clients trust) issues
#   public      RSA    webext.contoso.com *.contoso.com contoso.com *.apps.contoso.com
#   exact       RSA    webext, meet, dialin, lyncdiscover .contoso.com (no wildcard)
#   wild        RSA    *.contoso.com
#   fabrikam    RSA    lyncdiscover.fabrikam.com webext.fabrikam.com
#   dual-rsa    RSA    \  the same SAN set: webext.contoso.com *.contoso.com contoso.com
#   dual-ec     ECDSA  /   (P-256)
# pki.pair(stem) -> (pem, key); pki.der(stem) -> the certificate's DER (to recognise it).

class PKI:
    PUBLIC = {
        "public": ("rsa", "webext.contoso.com", ["webext.contoso.com", "*.contoso.com", "contoso.com",
                                                 "*.apps.contoso.com"]),
        "exact": ("rsa", "webext.contoso.com", ["webext.contoso.com", "meet.contoso.com",
                                                "dialin.contoso.com", "lyncdiscover.contoso.com"]),
        "wild": ("rsa", "*.contoso.com", ["*.contoso.com"]),
        "fabrikam": ("rsa", "lyncdiscover.fabrikam.com", ["lyncdiscover.fabrikam.com",
                                                          "webext.fabrikam.com"]),
        "dual-rsa": ("rsa", "webext.contoso.com", ["webext.contoso.com", "*.contoso.com", "contoso.com"]),
        "dual-ec": ("ec", "webext.contoso.com", ["webext.contoso.com", "*.contoso.com", "contoso.com"]),
    }
    POOL_NAMES = ["fe01.contoso.local", "*.contoso.local", "*.contoso.com", "contoso.com",
                  "*.apps.contoso.com", "*.fabrikam.com", "localhost"]

    def __init__(self, d):
        self.dir = d
        self.ca_pem = os.path.join(d, "internal-ca.pem")
        self.ca_key = os.path.join(d, "internal-ca.key")
        self.other_ca_pem = os.path.join(d, "other-ca.pem")
        self.public_ca_pem = os.path.join(d, "public-ca.pem")
        self.pool_pem = os.path.join(d, "pool.pem")
        self.pool_key = os.path.join(d, "pool.key")
        self.public_pem = os.path.join(d, "public.pem")
        self.public_key = os.path.join(d, "public.key")

    def _run(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.dir, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.stderr))

    def _ca(self, stem, cn):
        self._run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", stem + ".key",
                  "-out", stem + ".pem", "-days", "30", "-subj", "/CN=" + cn,
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _leaf(self, stem, cn, sans, ca="internal-ca", kind="rsa"):
        ext = os.path.join(self.dir, stem + ".ext")
        usage = "digitalSignature,keyEncipherment" if kind == "rsa" else "digitalSignature"
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,%s\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n"
                    % (usage, ",".join("DNS:" + n for n in sans)))
        newkey = ["-newkey", "rsa:2048"] if kind == "rsa" else \
            ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        self._run("req", *newkey, "-nodes", "-keyout", stem + ".key",
                  "-out", stem + ".csr", "-subj", "/CN=" + cn)
        self._run("x509", "-req", "-in", stem + ".csr", "-CA", ca + ".pem",
                  "-CAkey", ca + ".key", "-CAcreateserial", "-days", "30",
                  "-out", stem + ".pem", "-extfile", ext)

    def generate(self):
        os.makedirs(self.dir, exist_ok=True)
        self._ca("internal-ca", "Contoso Internal Test CA")
        self._ca("other-ca", "Somebody Else's Test CA")
        self._ca("public-ca", "Test Public CA")
        self._leaf("pool", "fe01.contoso.local", self.POOL_NAMES)
        self._leaf("pool-untrusted", "fe01.contoso.local", self.POOL_NAMES, ca="other-ca")
        self._leaf("pool-wrongname", "pool.fabrikam.local", ["pool.fabrikam.local"])
        for stem, (kind, cn, sans) in self.PUBLIC.items():
            self._leaf(stem, cn, sans, ca="public-ca", kind=kind)
        return self

    def pair(self, stem):
        return os.path.join(self.dir, stem + ".pem"), os.path.join(self.dir, stem + ".key")

    def der(self, stem):
        with open(os.path.join(self.dir, stem + ".pem")) as f:
            return ssl.PEM_cert_to_DER_cert(f.read())

    def which(self, der):
        """The stem of the certificate whose DER is der (None if none of ours)."""
        for stem in list(self.PUBLIC) + ["pool", "pool-untrusted", "pool-wrongname"]:
            if self.der(stem) == der:
                return stem
        return None


# ---------------------------------------------------------------------------------------------
# The mock pool process.

class Mock:
    """One mockpool.py process. listens: [(ip, port, tls)]."""

    def __init__(self, workdir, name, listens, pki=None, extra_args=(), cert=None):
        self.dir = os.path.join(workdir, "mock-" + name)
        os.makedirs(self.dir, exist_ok=True)
        self.name = name
        self.listens = listens
        self.rawlog = os.path.join(self.dir, "raw")
        self.pki = pki
        self.cert = cert            # (pem, key) for the TLS listeners; default: the pool's
        self.extra_args = list(extra_args)
        self.proc = None

    def start(self):
        args = [PYTHON, MOCKPOOL, "--name", self.name, "--rawlog", self.rawlog,
                "--ready-file", os.path.join(self.dir, "ready")]
        for ip, port, tls in self.listens:
            args += ["--listen", "%s:%d%s" % (ip, port, ":tls" if tls else "")]
        if any(t for _, _, t in self.listens):
            cert = self.cert or (self.pki.pool_pem, self.pki.pool_key)
            args += ["--cert", cert[0], "--key", cert[1]]
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

    def kill(self):
        """SIGKILL: the member dies without a word (its connections are reset by the kernel)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def wait_event(self, pred, timeout=5.0):
        """The first event for which pred(event) is true, waiting up to timeout; else None."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            for e in self.events():
                if pred(e):
                    return e
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

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
        "timeout_connect": 10 if VALGRIND else 2,      # includes the TLS handshake to the pool
        "timeout_header": 10,
        "timeout_keepalive": 30,
        "timeout_idle": 30,
        "drain_timeout": 5,
    }
    opts.update(proxy)
    certs = opts.pop("certs", None)         # [(pem, key)]: several certificate/key pairs, in order
    signin = opts.pop("signin", None)       # {key: value} of a [signin] section
    acme = opts.pop("acme", None)           # {key: value} of an [acme] section
    if str(opts.get("https_port")) != "off" and pki is not None and "certificate" not in opts \
            and not certs:
        opts["certificate"] = pki.public_pem
        opts["key"] = pki.public_key
    lines = ["; written by tests/harness.py", "[proxy]"]
    for k, v in opts.items():
        if v is not None:
            lines.append("%s = %s" % (k, v))
    for pem, key in certs or ():
        lines.append("certificate = %s" % pem)
        if key:
            lines.append("key = %s" % key)
    if signin is not None:
        lines += ["", "[signin]"] + ["%s = %s" % kv for kv in signin.items()]
    if acme is not None:
        lines += ["", "[acme]"] + ["%s = %s" % kv for kv in acme.items()]
    return "\n".join(lines) + "\n\n" + "\n".join(p.render(pki) for p in pools)


def free_port(ip="127.0.0.1", kind=socket.SOCK_STREAM):
    """A port nothing listens on at IP now (the kernel's choice), for a listener a test starts."""
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind((ip, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def admin_get(port, path, ip="127.0.0.1"):
    """GET PATH on the admin listener at IP:PORT; asserts 200 and returns the body as text."""
    with Client(ip, port) as c:
        r = c.request("GET", path, host="%s:%d" % (ip, port), headers=[("Connection", "close")])
    assert r.status == 200, (path, r)
    return r.body.decode("utf-8")


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
        self.wrapper = None         # a list put before the binary; None: PORTICO_WRAPPER's
        self.proc = None
        self.stderr_lines = []
        self.ready = threading.Event()
        self.returncode = None

    def start(self, wait=True):
        if not os.path.exists(PORTICO_BIN):
            raise RuntimeError("portico binary not found: %s (run make, or set PORTICO_BIN)" % PORTICO_BIN)
        wrapper = list(WRAPPER if self.wrapper is None else self.wrapper)
        if wrapper and os.path.basename(wrapper[0]) == "valgrind" and \
                not any(a.startswith("--log-file=") for a in wrapper):
            wrapper.insert(1, "--log-file=" + os.path.join(self.dir, "valgrind.%p.log"))
            os.chmod(self.dir, 0o1777)      # for the workers' logs after `user =` too
        args = wrapper + [PORTICO_BIN] + (self.args or ["-c", self.config_path])
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

    def wait_stderr(self, pattern, timeout=5.0, count=1, start=0):
        """Waits until count stderr lines (from line index start on) match the regular
        expression pattern; returns the matching lines (fewer if the time ran out)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout * SLOW
        while True:
            found = [l for l in self.stderr_lines[start:] if rx.search(l)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def worker_pids(self):
        return proc_children(self.proc.pid)

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
        report = text if any(m in text for m in SANITIZER_MARKERS) else ""
        for fn, why, log in valgrind_problems(self.dir):
            report += "\n%s: %s\n%s" % (fn, why, log[-5000:])
        return report or None


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
    """A client connection. With ctx (an ssl.SSLContext, see tls_context) it speaks TLS:
    server_hostname is the SNI (None: no SNI), session an ssl.SSLSession to resume; then
    .tls_version, .alpn, .peer_der, .cert (which certificate of the PKI, by stem), .reused."""

    def __init__(self, host, port=80, src=None, timeout=None, ctx=None, server_hostname=None,
                 session=None):
        self.addr = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if src:
            self.sock.bind((src, 0))
        self.sock.settimeout(timeout or IO_TIMEOUT)
        self.sock.connect(self.addr)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.local = self.sock.getsockname()
        self.tls = ctx is not None
        if ctx is not None:
            try:
                self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname, session=session)
            except BaseException:
                self.sock.close()
                raise
            self.tls_version = self.sock.version()
            self.alpn = self.sock.selected_alpn_protocol()
            self.peer_der = self.sock.getpeercert(binary_form=True)
            self.reused = self.sock.session_reused
            self.cipher = self.sock.cipher()[0]
        self.reader = Reader(self.sock)
        self.leftover = b""

    @property
    def session(self):
        return self.sock.session if self.tls else None

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
        except ssl.SSLError:
            return True             # EOF without close_notify, or a reset under TLS
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
    4443 (TLS), one pool "fe" (role frontend, http = forward) publishing DEFAULT_NAMES.
    Options: split_mocks (one mock process per member IP, in .mocks[ip], so that one member
    can be stopped or killed), mock_cert ((pem, key) the mocks serve on TLS instead of the
    pool certificate), mock_listens ([(port, tls)] for every mock IP), extra_mocks ([(name,
    [(ip, port, tls)])]), wrapper (a command list put before the binary, e.g. setpriv ...;
    default: PORTICO_WRAPPER's). Proxy options (https_port=443, certs=[(pem, key)], ...) go to
    render_config; with https_port set, .tls_client() / .tls_request() speak TLS to it."""

    def __init__(self, workdir, pki, net=None, members=None, mock_ips=None, pools=None,
                 http="forward", mock_name="fe01", mock_args=(), split_mocks=False, mock_cert=None,
                 mock_listens=None, extra_mocks=(), **proxy):
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
        self.mocks = {}             # member IP -> Mock (one per member with split_mocks)
        # mock_listens: [(port, tls)] each mock IP listens on (default 8080 plain, 4443 TLS)
        ports = mock_listens or [(8080, False), (4443, True)]
        if self.mock_ips and split_mocks:
            for i, ip in enumerate(self.mock_ips):
                m = Mock(workdir, "%s-%d" % (mock_name, i + 1), [(ip, p, t) for p, t in ports], pki,
                         mock_args, cert=mock_cert)
                self.mocks[ip] = m
            self.mock = self.mocks[self.mock_ips[0]]
        elif self.mock_ips:
            listens = []
            for ip in self.mock_ips:
                listens += [(ip, p, t) for p, t in ports]
            self.mock = Mock(workdir, mock_name, listens, pki, mock_args, cert=mock_cert)
            self.mocks = {ip: self.mock for ip in self.mock_ips}
        # extra_mocks: [(name, [(ip, port, tls)])], e.g. an Office Web Apps server on 443
        for name, listens in extra_mocks:
            m = Mock(workdir, name, listens, pki)
            for ip, _, _ in listens:
                self.mocks.setdefault(ip, m)
        wrapper = proxy.pop("wrapper", None)    # Portico.wrapper (None: PORTICO_WRAPPER's)
        self.portico = Portico(os.path.join(workdir, "portico"),
                               render_config(n, self.pools, self.access_log, pki, **proxy))
        self.portico.wrapper = wrapper

    def all_mocks(self):
        out = []
        for m in self.mocks.values():
            if m not in out:
                out.append(m)
        return out

    def start(self):
        for m in self.all_mocks():
            m.start()
        self.portico.start()
        return self

    def stop(self):
        rc = self.portico.stop()
        for m in self.all_mocks():
            m.stop()
        self.net.release()
        return rc

    def client(self, port=80, timeout=None, src=True):
        return Client(self.net.ext, port, self.net.client if src else None, timeout)

    def tls_client(self, sni="webext.contoso.com", ctx=None, session=None, src=True, port=None,
                   timeout=None):
        """A TLS client connection to the HTTPS listener (SNI sni; None: no SNI). ctx: default
        tls_context(self.pki). src: True (the test client address), an address, or None."""
        port = port or int(self.proxy.get("https_port", 443))
        src = self.net.client if src is True else src
        return Client(self.net.ext, port, src, timeout, ctx or tls_context(self.pki),
                      server_hostname=sni, session=session)

    def tls_request(self, *a, sni="webext.contoso.com", **kw):
        with self.tls_client(sni) as c:
            return c.request(*a, **kw)

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


def open_up(path):
    """Lets other users reach PATH and the directories above it (the test's own temporary
    files): with `user = nobody`, portico must read the configuration and the trust anchors
    again on reload, and -t checks that it can."""
    d = path
    while d not in ("/", "/tmp", ""):
        os.chmod(d, os.stat(d).st_mode | (0o005 if os.path.isdir(d) else 0o004))
        d = os.path.dirname(d)


def open_up_all(pki, tmp_path):
    """open_up for every file of the PKI and for the test's directory."""
    pkidir = os.path.dirname(pki.public_pem)
    for f in os.listdir(pkidir):
        open_up(os.path.join(pkidir, f))
    open_up(str(tmp_path))


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


# ---------------------------------------------------------------------------------------------
# TLS clients: python's ssl, and the openssl CLI.

_TLS_VERSIONS = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
                 "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def tls_context(pki=None, cafile=None, verify=True, min_version=None, max_version=None,
                ciphers=None, alpn=("http/1.1",)):
    """A client context that trusts the public test CA (or cafile) and checks the chain but not
    the name (the tests check which certificate came, by its DER). Versions as "1.0".."1.3";
    ciphers: an OpenSSL cipher string for TLS <= 1.2 (add :@SECLEVEL=0 for the old ones)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if verify:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile or pki.public_ca_pem)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)     # TLS 1.0/1.1: that is the point
        if min_version:
            if min_version in ("1.0", "1.1") and not ciphers:
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = _TLS_VERSIONS[min_version]
        if max_version:
            ctx.maximum_version = _TLS_VERSIONS[max_version]
    if ciphers:
        ctx.set_ciphers(ciphers)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


class SClient:
    """One `openssl s_client` run. .out: its stdout+stderr; .reused: True ("Reused, ..."),
    False ("New, ...") or None (no handshake); .protocol; .cert_der: the server certificate."""

    SESSION_RE = re.compile(r"^(New|Reused), (TLSv[0-9.]+|SSLv3|\(NONE\)), Cipher is (\S+)", re.M)

    def __init__(self, out, rc):
        self.out = out
        self.rc = rc
        m = self.SESSION_RE.search(out)
        self.reused = None if not m or m.group(2) == "(NONE)" else m.group(1) == "Reused"
        self.cipher = m.group(3) if m and self.reused is not None else None
        # the version negotiated (the "New, ..." line names the cipher's version instead)
        p = re.search(r"^\s*Protocol\s*:\s*(\S+)", out, re.M)
        self.protocol = p.group(1) if p and self.reused is not None else None
        pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
        self.cert_der = ssl.PEM_cert_to_DER_cert(pem.group(0)) if pem else None

    @property
    def handshake_ok(self):
        return self.reused is not None

    def __repr__(self):
        return "<SClient rc=%s reused=%s %s %s>\n%s" % (self.rc, self.reused, self.protocol,
                                                         self.cipher, self.out[-3000:])


def s_client_args(host, port, sni=None, args=()):
    a = ["openssl", "s_client", "-connect", "%s:%d" % (host, port)]
    a += ["-servername", sni] if sni else ["-noservername"]
    return a + list(args)


def s_client(host, port, sni=None, args=(), request=None, timeout=10.0):
    """Runs openssl s_client to completion. request: bytes sent after the handshake (the run
    then lasts until the server closes: end the request with Connection: close); without it
    s_client ends after the handshake."""
    a = s_client_args(host, port, sni, args)
    if request is not None:
        a.append("-ign_eof")
    r = subprocess.run(a, input=request or b"", capture_output=True, timeout=timeout * SLOW)
    return SClient((r.stdout + r.stderr).decode("latin-1"), r.returncode)


# ---------------------------------------------------------------------------------------------
# Which worker holds a connection (from /proc/net/tcp and /proc/PID/fd), so that a test can
# show that both workers of workers = 2 took part.

def _tcp_table():
    rows = []
    for fn in ("/proc/net/tcp",):
        try:
            with open(fn) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    loc, rem, inode = parts[1], parts[2], int(parts[9])
                    rows.append((_hexaddr(loc), _hexaddr(rem), inode))
        except OSError:
            pass
    return rows


def _hexaddr(h):
    ip, port = h.split(":")
    return socket.inet_ntoa(struct.pack("<I", int(ip, 16))), int(port, 16)


def socket_inodes(pid):
    out = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                out.add(int(link[8:-1]))
    except OSError:
        pass
    return out


def worker_of(portico, client_addr, timeout=2.0):
    """The pid of the portico process holding the server side of the TCP connection whose
    client end is client_addr (ip, port); None if not found within timeout."""
    deadline = time.monotonic() + timeout
    client_addr = tuple(client_addr)
    while True:
        inodes = [ino for loc, rem, ino in _tcp_table() if rem == client_addr and ino]
        for pid in portico.worker_pids():
            mine = socket_inodes(pid)
            if any(i in mine for i in inodes):
                return pid
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def local_addr_of_pid(pid, remote):
    """The local address of pid's TCP connection to remote (ip, port), or None."""
    mine = socket_inodes(pid)
    for loc, rem, ino in _tcp_table():
        if rem == tuple(remote) and ino in mine:
            return loc
    return None


class LiveSClient:
    """openssl s_client kept running (stdin open) so that the test can look at the connection
    while it lives: .result after close() is an SClient."""

    def __init__(self, host, port, sni=None, args=(), timeout=10.0):
        self.remote = (host, port)
        self.proc = subprocess.Popen(s_client_args(host, port, sni, args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        self.buf = b""
        os.set_blocking(self.proc.stdout.fileno(), False)
        deadline = time.monotonic() + timeout * SLOW
        while not SClient.SESSION_RE.search(self.buf.decode("latin-1")):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                break
            self._read()
            time.sleep(0.01)
        self.local = local_addr_of_pid(self.proc.pid, self.remote)

    def _read(self):
        try:
            chunk = self.proc.stdout.read()
        except (BlockingIOError, TypeError):
            chunk = None
        if chunk:
            self.buf += chunk

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(10 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.set_blocking(self.proc.stdout.fileno(), True)
        self.buf += self.proc.stdout.read() or b""
        self.result = SClient(self.buf.decode("latin-1"), self.proc.returncode)
        return self.result


# ---------------------------------------------------------------------------------------------
# WebSocket client helpers (the framing lives in mockpool.py).

def ws_upgrade(client, target="/ws", host="webext.contoso.com", headers=()):
    """Sends a WebSocket upgrade request; returns (response, key). The response is read with
    read_response (a 101 has no body)."""
    key = base64_key()
    hs = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
          ("Sec-WebSocket-Version", "13")] + list(headers)
    client.send(build_request("GET", target, host, hs))
    return client.read_response(), key


def base64_key():
    import base64
    return base64.b64encode(os.urandom(16)).decode("ascii")


def ws_send(client, opcode, payload, fin=True):
    client.send(mockpool.ws_frame(opcode, payload, mask=os.urandom(4), fin=fin))


def ws_recv(client):
    """(opcode, payload, masked) of the next frame."""
    fin, opcode, masked, payload = mockpool.ws_read_frame(client.reader)
    return opcode, payload, masked
