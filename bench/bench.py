#!/usr/bin/python3
"""bench/bench.py — portico, nginx and HAProxy side by side as the reverse proxy in front of the
same fast backend, on this machine, in the same run (issue 6). Run it through bench/run.sh
(`make bench`), which stops packaged nginx/HAProxy services and raises the open-files limit.

Layout. Core 0: the proxy under test (one worker / one thread). Core 1: everything else — the
backend (nginx: 100 B, 16 KiB and a 1 GiB sparse file over HTTP :8080 and TLS :4443; /poll is
held unanswered with limit_req), the upload sink (sink.py), the load generators (wrk, openssl
s_time, holdconns.c for long polls, the stream client below) and this driver. All on loopback
addresses of one free 127.B.0.0/16 block; certificates (ECDSA P-256 and RSA-2048, plus an
internal CA for the backend) are made at run time in a temp dir, and the three proxies present
the very same ones.

Figures. The primary one is the proxy's CPU time (user+sys of its master and worker processes,
from /proc/PID/stat) per request / per handshake, because on two cores the load generator and
the backend, not the proxy, are what saturate. Memory rows report the proxy's RSS growth
(sum of VmRSS of its processes; peak during a stream, settled value for long polls) on a freshly
started proxy. Each scenario runs --runs times with the proxies interleaved (the order rotates
each round); the table gives medians and the spread (min-max). A measurement, not a test.
Options: bench.py --help (e.g. --only tls100,longpoll --runs 5 --keep)."""
import argparse
import os
import platform
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HZ = os.sysconf("SC_CLK_TCK")
HOST = "webext.contoso.com"  # published by the proxies; on the backend's certificate
UPHOST = "upload.contoso.com"  # routed to the upload sink
PROXIES = ["portico", "nginx", "haproxy"]
LABEL = {"portico": "portico", "nginx": "nginx", "haproxy": "HAProxy"}
P_HTTP, P_HTTPS = 18080, 18443  # proxy listeners
B_HTTP, B_HTTPS, B_SINK, B_SINKS = 8080, 4443, 8081, 8444  # backend side (B_SINKS: the sink over TLS)
NOFILE = 65536  # set in main() from the hard limit

SCENARIOS = [
    # key, label, kind, parameters
    ("http100", "HTTP keep-alive, 100 B, 50 conns", "wrk", dict(scheme="http", path="/100b", conns=50)),
    ("http16k", "HTTP keep-alive, 16 KiB, 50 conns", "wrk", dict(scheme="http", path="/16k", conns=50)),
    ("http100c1k", "HTTP keep-alive, 100 B, 1000 conns", "wrk", dict(scheme="http", path="/100b", conns=1000)),
    ("tls100", "HTTPS→HTTPS keep-alive, 100 B, 50 conns", "wrk", dict(scheme="https", path="/100b", conns=50)),
    ("tls16k", "HTTPS→HTTPS keep-alive, 16 KiB, 50 conns", "wrk", dict(scheme="https", path="/16k", conns=50)),
    ("h2_100", "HTTP/2 (TLS)→HTTPS, 100 B, 10 conns × 10 streams", "h2load", dict(path="/100b")),
    ("h2_16k", "HTTP/2 (TLS)→HTTPS, 16 KiB, 10 conns × 10 streams", "h2load", dict(path="/16k")),
    ("hs_ecdsa", "new TLS handshake, ECDSA P-256", "hs", dict(cert="ecdsa")),
    ("hs_rsa", "new TLS handshake, RSA-2048", "hs", dict(cert="rsa")),
    ("hs_resume", "resumed TLS handshake (ticket), ECDSA P-256", "hs", dict(cert="ecdsa", reuse=True)),
    ("upload", "1 GiB streamed upload (HTTP)", "stream", dict(direction="up")),
    ("download", "1 GiB streamed download (HTTP)", "stream", dict(direction="down")),
    ("upload_tls", "1 GiB streamed upload (HTTPS→HTTPS)", "stream", dict(direction="up", tls=True)),
    ("download_tls", "1 GiB streamed download (HTTPS→HTTPS)", "stream", dict(direction="down", tls=True)),
    ("longpoll", "pending long polls over TLS (re-encrypted)", "poll", dict(send=True)),
    ("idle", "idle TLS connections (no request)", "poll", dict(send=False)),
    ("h2idle", "idle HTTP/2 connections (TLS, SETTINGS exchanged, no stream)", "poll",
     dict(send=False, h2=True)),
]
DEFAULT = [s[0] for s in SCENARIOS if s[0] != "idle"]
UNIT = {"wrk": "µs/req", "h2load": "µs/req", "hs": "µs/handshake", "stream": "µs/MiB", "poll": "µs/conn"}
RATE = {"wrk": "req/s", "h2load": "req/s", "hs": "handshakes/s", "stream": "MB/s", "poll": "conns/s"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc

def family(pid):
    """pid and all its descendants that are alive."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if os.path.exists("/proc/%d" % p):
            out.append(p)
            todo.extend(kids.get(p, []))
    return out


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_kb(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# ---------------------------------------------------------------- set-up

def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def pick_block():
    """First 127.B.0.0/16 block where every listener of the bench can bind (nothing holds it)."""
    for b in list(range(93, 120)) + list(range(160, 200)):
        need = [("127.%d.0.1" % b, p) for p in (B_HTTP, B_HTTPS, B_SINK)]
        need += [("127.%d.0.%d" % (b, 2 + i), p) for i in range(3) for p in (P_HTTP, P_HTTPS)]
        ok = True
        for addr, port in need:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((addr, port))
                s.listen(1)
            except OSError:
                ok = False
            finally:
                s.close()
            if not ok:
                break
        if ok:
            return b
    raise SystemExit("bench: no free 127.B.0.0/16 block for the listeners")


def make_certs(w):
    def ossl(*args):
        r = run(["openssl"] + list(args))
        if r.returncode:
            raise SystemExit("bench: openssl %s failed:\n%s" % (args[0], r.stdout))

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    for ca in ("pubca", "intca"):
        ossl("req", "-x509", *ec, "-nodes", "-keyout", "%s/%s.key" % (w, ca), "-subj", "/CN=bench " + ca,
             "-days", "2", "-out", "%s/%s.crt" % (w, ca))
    for name, ca, key in (("public", "pubca", ec), ("rsa", "pubca", ["-newkey", "rsa:2048"]),
                          ("pool", "intca", ec)):
        ossl("req", "-new", *key, "-nodes", "-keyout", "%s/%s.key" % (w, name), "-subj", "/CN=" + HOST,
             "-out", "%s/%s.csr" % (w, name))
        with open("%s/%s.ext" % (w, name), "w") as f:
            f.write("subjectAltName=DNS:%s,DNS:%s\nextendedKeyUsage=serverAuth\n" % (HOST, UPHOST))
        ossl("x509", "-req", "-in", "%s/%s.csr" % (w, name), "-CA", "%s/%s.crt" % (w, ca), "-CAkey",
             "%s/%s.key" % (w, ca), "-CAcreateserial", "-days", "2", "-extfile", "%s/%s.ext" % (w, name),
             "-out", "%s/%s.crt" % (w, name))
    for name in ("public", "rsa"):  # HAProxy wants certificate and key in one file
        with open("%s/%s.pem" % (w, name), "w") as out:
            for part in ("crt", "key"):
                with open("%s/%s.%s" % (w, name, part)) as f:
                    out.write(f.read())


def nginx_common(w, name):
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return """%sworker_processes 1; daemon off; master_process on; pid %s/%s.pid;
error_log %s/%s.err %s; worker_rlimit_nofile %d;
events { worker_connections 40000; }
""" % (user, w, name, w, name, "error" if name == "backend" else "warn", NOFILE)


def temp_paths(w):
    return ("client_body_temp_path {0}/tmp; proxy_temp_path {0}/tmp; fastcgi_temp_path {0}/tmp; "
            "uwsgi_temp_path {0}/tmp; scgi_temp_path {0}/tmp;").format(w)


def backend_conf(w, be):
    # /poll is a long poll the backend never answers while the run lasts: limit_req delays each
    # request of a run (keyed by its X-Bench-Run header) by a minute more than the previous one,
    # without any other descriptor; stub_status counts them (Writing).
    return nginx_common(w, "backend") + """http { access_log off; %s
  sendfile on; keepalive_requests 1000000; keepalive_timeout 300s;
  limit_req_zone $http_x_bench_run zone=hold:1m rate=1r/m;
  server {
    listen %s:%d backlog=4096; listen %s:%d ssl backlog=4096;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_certificate %s/pool.crt; ssl_certificate_key %s/pool.key;
    root %s/www;
    location = /poll { limit_req zone=hold burst=1000000; }  # an empty file once let through
    location = /status { stub_status; }
  } }
""" % (temp_paths(w), be, B_HTTP, be, B_HTTPS, w, w, w)


def nginx_conf(w, px, be, sink, cert, h2=False):
    return nginx_common(w, "nginx") + """http { access_log off; %s
  keepalive_requests 1000000; keepalive_timeout 120s; client_max_body_size 0;
  proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_buffering off; proxy_request_buffering off;
  proxy_read_timeout 1h; proxy_send_timeout 1h;
  upstream be_http { server %s:%d; keepalive 256; keepalive_requests 1000000; keepalive_timeout 120s; }
  upstream be_https { server %s:%d; keepalive 256; keepalive_requests 1000000; keepalive_timeout 120s; }
  upstream sink { server %s:%d; keepalive 256; }
  upstream sink_tls { server %s:%d; keepalive 256; }
  server { listen %s:%d backlog=4096; server_name %s; location / { proxy_pass http://be_http; } }
  server { listen %s:%d; server_name %s; location / { proxy_pass http://sink; } }
  ssl_protocols TLSv1.2 TLSv1.3; ssl_certificate %s/%s.crt; ssl_certificate_key %s/%s.key;
  proxy_ssl_server_name on; proxy_ssl_name $host; proxy_ssl_verify on;
  proxy_ssl_trusted_certificate %s/intca.crt; proxy_ssl_session_reuse on;
  server { listen %s:%d ssl%s backlog=4096; server_name %s; location / { proxy_pass https://be_https; } }
  server { listen %s:%d ssl; server_name %s; location / { proxy_pass https://sink_tls; } }
}
""" % (temp_paths(w), be, B_HTTP, be, B_HTTPS, sink, B_SINK, sink, B_SINKS, px, P_HTTP, HOST, px, P_HTTP,
       UPHOST, w, cert, w, cert, w, px, P_HTTPS, " http2" if h2 else "", HOST, px, P_HTTPS, UPHOST)


def haproxy_conf(w, px, be, sink, cert, h2=False):
    return """global
  nbthread 1
  maxconn %d
  ssl-server-verify required
defaults
  mode http
  option http-keep-alive
  option forwardfor
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  timeout http-request 30s
  timeout http-keep-alive 120s
frontend plain
  bind %s:%d backlog 4096
  http-request set-header X-Forwarded-Proto http
  use_backend sink if { hdr(host) -i %s }
  default_backend be_http
frontend tls
  bind %s:%d backlog 4096 ssl crt %s/%s.pem alpn %s
  http-request set-header X-Forwarded-Proto https
  use_backend sink_tls if { hdr(host) -i %s }
  default_backend be_https
backend be_http
  server b1 %s:%d
backend be_https
  server b1 %s:%d ssl verify required ca-file %s/intca.crt sni str(%s) verifyhost %s
backend sink
  server s1 %s:%d
backend sink_tls
  server s1 %s:%d ssl verify required ca-file %s/intca.crt sni str(%s) verifyhost %s
""" % ((NOFILE - 100) // 2, px, P_HTTP, UPHOST, px, P_HTTPS, w, cert, "h2,http/1.1" if h2 else "http/1.1",
       UPHOST, be, B_HTTP, be, B_HTTPS, w, HOST, HOST, sink, B_SINK, sink, B_SINKS, w, UPHOST, UPHOST)


def portico_conf(px, be, sink, cert, h2=False):
    return """[proxy]
external = %s
http_port = %d
https_port = %d
certificate = %s.crt
key = %s.key
workers = 1
access_log = off
drain_timeout = 1
http2 = %s
[pool fe]
role = frontend
servers = %s
http_port = %d
https_port = %d
ca = intca.crt
publish = %s
http = forward
[pool sink]
; the upload sink: plain HTTP and TLS (its certificate names upload.contoso.com)
role = generic
servers = %s
http_port = %d
https_port = %d
ca = intca.crt
publish = %s
http = forward
""" % (px, P_HTTP, P_HTTPS, cert, cert, "on" if h2 else "off", be, B_HTTP, B_HTTPS, HOST, sink, B_SINK, B_SINKS,
       UPHOST)


def wait_port(addr, port, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection((addr, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_ready(name, proc, errpath, workers=1, timeout=10.0):
    """After the listeners answer: portico until it logged that its workers are ready, nginx
    until its workers exist (HAProxy serves from its one process)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if name == "portico" and "portico: ready" in open(errpath).read():
            return
        if name == "nginx" and len(family(proc.pid)) > workers:
            return
        if name not in ("portico", "nginx"):
            return
        time.sleep(0.05)


def stop_tree(proc, timeout=5):
    """SIGTERM to PROC and its descendants, SIGKILL to whatever of them is left after TIMEOUT."""
    pids = family(proc.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        try:
            proc.wait(timeout=timeout)
            if sig == signal.SIGTERM and not any(os.path.exists("/proc/%d" % p) for p in pids[1:]):
                return
        except subprocess.TimeoutExpired:
            pass


class Proxy:
    def __init__(self, name, w, addr, be, sink):
        self.name, self.w, self.addr, self.be, self.sink = name, w, addr, be, sink
        self.proc = None
        self.cert = None
        self.h2 = False

    def start(self, cert="public", h2=False):
        """h2: HTTP/2 offered on the HTTPS listener (ALPN h2 first), for the HTTP/2 rows only,
        so that the HTTP/1.1 rows measure the configuration they always did."""
        w, n = self.w, self.name
        if n == "portico":
            path = "%s/portico.conf" % w
            with open(path, "w") as f:
                f.write(portico_conf(self.addr, self.be, self.sink, cert, h2))
            cmd = [os.path.join(ROOT, "portico"), "-c", path]
        elif n == "nginx":
            path = "%s/nginx.conf" % w
            with open(path, "w") as f:
                f.write(nginx_conf(w, self.addr, self.be, self.sink, cert, h2))
            cmd = ["nginx", "-c", path, "-e", "%s/nginx.err" % w]
        else:
            path = "%s/haproxy.cfg" % w
            with open(path, "w") as f:
                f.write(haproxy_conf(w, self.addr, self.be, self.sink, cert, h2))
            cmd = ["haproxy", "-db", "-f", path]
        self.errpath = "%s/%s.stderr" % (w, n)
        err = open(self.errpath, "w")
        self.proc = subprocess.Popen(["taskset", "-c", "0"] + cmd, stdin=subprocess.DEVNULL,
                                     stdout=err, stderr=err, cwd=w, start_new_session=True)
        err.close()
        self.cert, self.h2 = cert, h2
        ok = wait_port(self.addr, P_HTTP, self.proc) and wait_port(self.addr, P_HTTPS, self.proc)
        if ok:
            wait_ready(n, self.proc, self.errpath)
        if not ok:
            msg = open(self.errpath).read().strip()[-600:]
            self.stop()
            raise RuntimeError("%s did not start: %s" % (n, msg))
        time.sleep(0.2)

    def pids(self):
        return family(self.proc.pid) if self.proc else []

    def stop(self):
        if self.proc:
            stop_tree(self.proc)
        self.proc = None

    def restart(self, cert="public", h2=False):
        self.stop()
        self.start(cert, h2)


# ---------------------------------------------------------------- clients

def http_get(addr, port, path, tls, host=HOST, timeout=5, extra=""):
    """One request; returns (status, body length)."""
    s = socket.create_connection((addr, port), timeout=timeout)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname=host)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s\r\n" % (
        path.encode(), host.encode(), extra.encode()))
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.\d (\d+)", head)
    return (int(m.group(1)) if m else 0), len(body)


def parse_ms(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    if not m:
        return None
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[m.group(2)]


def wrk_run(px, scheme, path, conns, dur):
    url = "%s://%s:%d%s" % (scheme, px.addr, P_HTTPS if scheme == "https" else P_HTTP, path)
    pids = px.pids()
    c0 = cpu_ticks(pids)
    r = run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % dur, "--latency", "--timeout", "5s",
             "-H", "Host: " + HOST, url], timeout=dur + 60)
    c1 = cpu_ticks(pids)
    out = r.stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if not m or int(m.group(1)) == 0:
        raise RuntimeError("wrk: " + out.strip()[-300:])
    reqs = int(m.group(1))
    res = {"cpu": (c1 - c0) / HZ * 1e6 / reqs,
           "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for q, key in (("50%", "p50"), ("99%", "p99")):
        m = re.search(r"^\s+%s\s+(\S+)" % q, out, re.M)
        res[key] = parse_ms(m.group(1)) if m else None
    errs = []
    m = re.search(r"Socket errors: (.*)", out)
    if m:
        errs.append("socket errors " + m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errs.append("%s non-2xx" % m.group(1))
    if errs:
        res["err"] = "; ".join(errs) + " (of %d)" % reqs
    return res


def h2load_run(px, path, dur):
    """h2load over TLS + HTTP/2, 10 connections × 10 concurrent streams, for DUR seconds; the
    proxy's CPU time per request as for wrk (its own handshakes included)."""
    pids = px.pids()
    c0 = cpu_ticks(pids)
    r = run(["h2load", "-t1", "-c10", "-m10", "-D", str(dur), "--connect-to=%s:%d" % (px.addr, P_HTTPS),
             "https://%s:%d%s" % (HOST, P_HTTPS, path)], timeout=dur + 60)
    c1 = cpu_ticks(pids)
    out = r.stdout
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored", out)
    if not m or int(m.group(3)) == 0:
        raise RuntimeError("h2load: " + out.strip()[-300:])
    done, ok = int(m.group(3)), int(m.group(4))
    rate = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    res = {"cpu": (c1 - c0) / HZ * 1e6 / done, "rate": float(rate.group(3)) if rate else None}
    errs = []
    proto = re.search(r"Application protocol: (\S+)", out)
    if not proto or proto.group(1) != "h2":
        errs.append("application protocol %s, not h2" % (proto.group(1) if proto else "?"))
    st = re.search(r"status codes: (\d+) 2xx", out)
    if ok < done or not st or int(st.group(1)) < done:
        errs.append("%d of %d requests not 2xx (%s)" % (done - (int(st.group(1)) if st else 0), done,
                                                       ", ".join(m.group(0).split(", ")[4:])))
    if errs:
        res["err"] = "; ".join(errs)
    return res


def resume_run(px, secs):
    """Resumed TLS 1.3 handshakes by ticket: one priming connection reads its ticket, then every
    connection offers it (stateless tickets may be offered again) and closes once the handshake
    is done. (openssl s_time -reuse never reads after its handshake, so under TLS 1.3 it gets no
    ticket and every handshake is a full one.)"""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3

    def handshake(session=None):
        s = ctx.wrap_socket(socket.create_connection((px.addr, P_HTTPS), timeout=5), server_hostname=HOST,
                            session=session, do_handshake_on_connect=True)
        return s

    s = handshake()
    s.setblocking(False)
    end = time.monotonic() + 2
    while s.session is None or not s.session.has_ticket:  # the ticket follows the handshake
        try:
            s.recv(1)
        except (ssl.SSLWantReadError, BlockingIOError):
            if time.monotonic() > end:
                raise RuntimeError("no session ticket from the proxy")
            time.sleep(0.01)
    sess = s.session
    s.close()
    pids = px.pids()
    c0, t0, n, reused = cpu_ticks(pids), time.monotonic(), 0, 0
    while time.monotonic() - t0 < secs:
        s = handshake(sess)
        reused += s.session_reused
        n += 1
        s.close()
    el = time.monotonic() - t0
    c1 = cpu_ticks(pids)
    res = {"cpu": (c1 - c0) / HZ * 1e6 / n, "rate": n / el}
    if reused < n:
        res["err"] = "%d of %d handshakes were not resumed" % (n - reused, n)
    return res


def hs_run(px, secs, reuse=False):
    """openssl s_time -new: full handshakes (no session offered)."""
    if reuse:
        return resume_run(px, secs)
    pids = px.pids()
    c0 = cpu_ticks(pids)
    r = run(["openssl", "s_time", "-connect", "%s:%d" % (px.addr, P_HTTPS), "-new", "-time", str(secs)],
            timeout=secs + 60)
    c1 = cpu_ticks(pids)
    m = re.search(r"(\d+) connections in (\d+) real seconds", r.stdout)
    if not m or int(m.group(1)) == 0:
        raise RuntimeError("s_time: " + r.stdout.strip()[-300:])
    n = int(m.group(1))
    res = {"cpu": (c1 - c0) / HZ * 1e6 / n, "rate": n / max(int(m.group(2)), 1)}
    if "ERROR" in r.stdout or "error" in r.stdout.lower():
        res["err"] = "s_time reported errors"
    return res


class RssSampler(threading.Thread):
    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.peak, self.stopping = pids, rss_kb(pids), threading.Event()

    def run(self):
        while not self.stopping.wait(0.01):
            self.peak = max(self.peak, rss_kb(self.pids))


def read_head(s, data=b""):
    while b"\r\n\r\n" not in data:
        d = s.recv(65536)
        if not d:
            raise RuntimeError("connection closed before the response head")
        data += d
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(re.match(rb"HTTP/1\.\d (\d+)", head).group(1))
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return status, (int(m.group(1)) if m else None), rest


def stream_run(px, direction, nbytes, tls=False):
    """One 1 GiB transfer through a freshly started proxy: throughput, peak RSS growth, CPU. With
    tls, over the proxy's HTTPS listener, re-encrypted to the backend (download) or the sink."""
    px.restart()
    pids = px.pids()
    base = rss_kb(pids)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    s = socket.create_connection((px.addr, P_HTTPS if tls else P_HTTP), timeout=30)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname=UPHOST if direction == "up" else HOST)
    c0 = cpu_ticks(pids)
    sampler = RssSampler(pids)
    sampler.start()
    t0 = time.monotonic()
    try:
        if direction == "down":
            s.sendall(b"GET /1g HTTP/1.1\r\nHost: %s\r\n\r\n" % HOST.encode())
            status, length, rest = read_head(s)
            got, left = len(rest), (length or 0) - len(rest)
            while left > 0:
                n = s.recv_into(view, min(left, len(buf)))
                if not n:
                    break
                got += n
                left -= n
            ok = status == 200 and got == nbytes
            detail = "status %d, %d of %d bytes" % (status, got, nbytes)
        else:
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\n"
                      b"Content-Length: %d\r\n\r\n" % (UPHOST.encode(), nbytes))
            left = nbytes
            while left:
                n = min(left, len(buf))
                s.sendall(view[:n])
                left -= n
            status, length, rest = read_head(s)
            while length is not None and len(rest) < length:
                d = s.recv(4096)
                if not d:
                    break
                rest += d
            ok = status == 200 and rest.strip() == str(nbytes).encode()
            detail = "status %d, sink read %s" % (status, rest.strip().decode(errors="replace") or "?")
    finally:
        elapsed = time.monotonic() - t0
        s.close()
        sampler.stopping.set()
        sampler.join()
    c1 = cpu_ticks(pids)
    res = {"cpu": (c1 - c0) / HZ * 1e6 / (nbytes / (1 << 20)), "rate": nbytes / elapsed / 1e6,
           "rss": (sampler.peak - base) / 1024.0}
    if not ok:
        res["err"] = detail
    return res


def backend_writing(be):
    """Requests in progress at the backend (stub_status Writing), less the status request."""
    s = socket.create_connection((be, B_HTTP), timeout=5)
    s.sendall(b"GET /status HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % HOST.encode())
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    m = re.search(rb"Writing: (\d+)", data)
    return int(m.group(1)) - 1 if m else -1


def poll_run(px, n, srcs, be, send, holdconns, resume, h2=False):
    """n TLS connections to a freshly started proxy, each with a request the backend holds
    (send) or with none (idle; h2: idle HTTP/2 connections, the SETTINGS exchanged): the proxy's
    RSS growth per connection, once all are in place."""
    px.restart(h2=h2)
    run_id = "%x" % int(time.time() * 1e6)
    req = "GET /poll HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\nX-Bench-Run: %s\r\n\r\n" % (
        HOST, run_id)
    if send:  # limit_req lets the first request of a run through at once: spend it directly
        st, _ = http_get(be, B_HTTPS, "/poll", True, extra="X-Bench-Run: %s\r\n" % run_id)
        if st != 200:
            raise RuntimeError("backend /poll answered %s" % st)
    before = backend_writing(be)
    pids = px.pids()
    base = rss_kb(pids)
    c0 = cpu_ticks(pids)
    hc = subprocess.Popen([holdconns, px.addr, str(P_HTTPS), str(n), ",".join(srcs), "100", HOST,
                           req if send else "-", "1" if resume else "0", "1" if h2 else "0"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = hc.stdout.readline()  # holdconns gives up by itself after 120 s
        m = re.match(r"opened=(\d+) failed=(\d+) secs=([\d.]+) resumed=(\d+) first_error=(.*)", line)
        if not m:
            raise RuntimeError("holdconns: %r" % line)
        opened, failed, secs, why = int(m.group(1)), int(m.group(2)), float(m.group(3)), m.group(5)
        resumed = int(m.group(4))
        pending = 0
        t1 = time.monotonic()
        end = t1 + 30
        while send and time.monotonic() < end:  # every request is at the backend
            pending = backend_writing(be) - before
            if pending >= opened:
                break
            time.sleep(0.2)
        waited = time.monotonic() - t1
        time.sleep(1.0)  # settle
        after = rss_kb(pids)
        c1 = cpu_ticks(pids)
        if send:
            pending = backend_writing(be) - before
    finally:
        try:
            hc.stdin.write("close\n")
            hc.stdin.close()
        except OSError:
            pass
        try:
            hc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            hc.kill()
            hc.wait()
    # A fresh proxy for what follows: HAProxy, for one, keeps a request it has sent on after its
    # client aborts (no abortonclose), until the server answers or times out.
    px.restart()
    end = time.monotonic() + 15
    while send and backend_writing(be) > before and time.monotonic() < end:
        time.sleep(0.2)
    held = pending if send else opened
    res = {"cpu": (c1 - c0) / HZ * 1e6 / max(opened, 1), "rate": opened / max(secs, 1e-6),
           "rss": (after - base) / max(held, 1), "held": held, "open_s": secs, "wait_s": waited,
           "resumed": resumed}
    errs = []
    if failed:
        errs.append("%d of %d connections failed (%s)" % (failed, n, why))
    if send and pending < opened:
        errs.append("only %d of %d requests pending at the backend" % (pending, opened))
    if errs:
        res["err"] = "; ".join(errs)
    return res


# ---------------------------------------------------------------- report

def num(x):
    if x is None:
        return "–"
    a = abs(x)
    if a >= 1000:
        return "{:,.0f}".format(x).replace(",", " ")
    if a >= 100:
        return "%.0f" % x
    if a >= 10:
        return "%.1f" % x
    return "%.2f" % x


def spread(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    if len(vals) == 1:
        return num(vals[0])
    return "%s (%s–%s)" % (num(statistics.median(vals)), num(min(vals)), num(max(vals)))


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def table(results, chosen, args):
    rows = ["| scenario | proxy | CPU per op (µs) | rate | p50 (ms) | p99 (ms) | proxy RSS growth "
            "| portico ÷ nginx | portico ÷ HAProxy |",
            "|---|---|---|---|---|---|---|---|---|"]
    for key, label, kind, par in SCENARIOS:
        if key not in chosen:
            continue
        title = label
        if kind == "poll":
            n = args.h2_conns if par.get("h2") else args.conns
            title = "%s %s" % ("{:,}".format(n).replace(",", " "), label)
        if kind == "stream":
            title = label.replace("1 GiB", "%s MiB" % num(args.stream_mib)) if args.stream_mib != 1024 else label
        title += " [%s]" % UNIT[kind]
        med_cpu = {p: med([r.get("cpu") for r in results[key][p]]) for p in args.proxies}
        med_rss = {p: med([r.get("rss") for r in results[key][p]]) for p in args.proxies}
        for p in args.proxies:
            rs = results[key][p]
            if not rs:
                continue
            rss = "–"
            if kind == "stream":
                rss = spread([r.get("rss") for r in rs]) + " MiB"
            elif kind == "poll":
                rss = spread([r.get("rss") for r in rs]) + " KiB/conn"
            cells = ["", ""]
            if p == "portico":
                for i, other in enumerate(("nginx", "haproxy")):
                    if other not in args.proxies:
                        continue
                    parts = []
                    c = ratio(med_cpu["portico"], med_cpu[other])
                    m = ratio(med_rss["portico"], med_rss[other])
                    if kind == "poll" and m is not None:
                        parts.append("RSS %.2f" % m)
                    if c is not None:
                        parts.append("CPU %.2f" % c)
                    if kind == "stream" and m is not None:
                        parts.append("RSS %.2f" % m)
                    cells[i] = ", ".join(parts) or "–"
            nerr = sum(1 for r in rs if r.get("err"))
            name = LABEL[p] + (" ⚠" if nerr else "") + (" (n=%d)" % len(rs) if len(rs) < args.runs else "")
            rate = spread([r.get("rate") for r in rs]) + " " + RATE[kind]
            rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                title, name, spread([r.get("cpu") for r in rs]), rate,
                num(med([r.get("p50") for r in rs])), num(med([r.get("p99") for r in rs])), rss,
                cells[0], cells[1]))
            title = ""
    return "\n".join(rows)


def targets(results, chosen, args):
    """Issue 13's targets for the HTTP/2 rows: portico's CPU per request at most 0.8 × the
    better of nginx and HAProxy, its memory per idle HTTP/2 connection at most the better."""
    out = []
    others = [p for p in ("nginx", "haproxy") if p in args.proxies]
    if "portico" not in args.proxies or not others:
        return out
    for key, what, field, goal in (("h2_100", "CPU per request, 100 B", "cpu", 0.8),
                                   ("h2_16k", "CPU per request, 16 KiB", "cpu", 0.8),
                                   ("h2idle", "memory per idle connection", "rss", 1.0)):
        if key not in chosen:
            continue
        mine = med([r.get(field) for r in results[key]["portico"]])
        theirs = [(med([r.get(field) for r in results[key][p]]), p) for p in others]
        theirs = [(v, p) for v, p in theirs if v is not None]
        if mine is None or not theirs:
            continue
        best, who = min(theirs)
        q = ratio(mine, best)
        out.append("HTTP/2 %s: portico %s, the better of the others %s (%s): ratio %s, target ≤ %.1f: %s" % (
            what, num(mine), num(best), LABEL[who], "%.2f" % q if q is not None else "–", goal,
            "met" if q is not None and q <= goal else "NOT met"))
    return out


def tls_params(px):
    r = run(["openssl", "s_client", "-connect", "%s:%d" % (px.addr, P_HTTPS), "-servername", HOST, "-brief"],
            input="", timeout=10)
    keep = []
    for line in r.stdout.splitlines():
        k = line.split(":", 1)[0]
        if k in ("Protocol version", "Ciphersuite", "Signature type", "Server Temp Key",
                 "Negotiated TLS1.3 group"):
            keep.append(line.split(":", 1)[1].strip())
    return ", ".join(keep) or "?"


def versions():
    out = []
    for cmd in (["nginx", "-v"], ["haproxy", "-v"], ["wrk", "-v"], ["h2load", "--version"], ["openssl", "version"]):
        try:
            out.append(run(cmd).stdout.strip().splitlines()[0])
        except (OSError, IndexError):
            pass
    try:
        rev = run(["git", "-C", ROOT, "describe", "--always", "--dirty"]).stdout.strip()
    except OSError:
        rev = "?"
    return rev, out


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=4, help="seconds per wrk run (default 4)")
    ap.add_argument("--hs-time", type=int, default=3, help="seconds per s_time run (default 3)")
    ap.add_argument("--runs", type=int, default=3, help="runs per scenario and proxy (default 3)")
    ap.add_argument("--conns", type=int, default=10000, help="long-poll connections (default 10000)")
    ap.add_argument("--h2-conns", type=int, default=1000,
                    help="idle HTTP/2 connections for h2idle (default 1000)")
    ap.add_argument("--stream-mib", type=int, default=1024, help="MiB per streamed transfer (default 1024)")
    ap.add_argument("--only", default=",".join(DEFAULT),
                    help="scenarios, comma-separated (default: all but idle): " +
                    ", ".join(s[0] for s in SCENARIOS))
    ap.add_argument("--proxies", default=",".join(PROXIES))
    ap.add_argument("--budget", type=int, default=780, help="seconds; later runs are skipped past it")
    ap.add_argument("--out", default=None, help="also write the report (markdown) here")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (configs, logs)")
    ap.add_argument("--full-handshakes", action="store_true",
                    help="long-poll clients do not resume their TLS sessions")
    ap.add_argument("--carry-over", action="store_true",
                    help="do not restart the proxies between request scenarios")
    args = ap.parse_args()
    args.proxies = [p for p in args.proxies.split(",") if p]
    chosen = [k for k in args.only.split(",") if k]
    unknown = set(chosen) - {s[0] for s in SCENARIOS}
    if unknown:
        raise SystemExit("bench: unknown scenario(s): %s" % ", ".join(sorted(unknown)))
    started = time.monotonic()
    budget_end = started + args.budget

    if os.cpu_count() < 2:
        log("bench: fewer than 2 CPUs; the proxy and the load share core 0")
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {1 if 1 in cores else cores[-1]})  # this driver and its children: core 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 65536:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
        except (ValueError, OSError):
            pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    global NOFILE
    NOFILE = 1 << 20 if hard == resource.RLIM_INFINITY else min(hard, 1 << 20)
    conns_wanted = args.conns
    if NOFILE < 2 * args.conns + 1000:  # each long poll holds two descriptors in the proxy
        args.conns = max(100, (NOFILE - 1000) // 2)
        log("bench: open-files hard limit %d: long polls reduced to %d connections" % (hard, args.conns))

    b = pick_block()
    be = sink = "127.%d.0.1" % b
    addr = {p: "127.%d.0.%d" % (b, 2 + i) for i, p in enumerate(PROXIES)}
    srcs = ["127.%d.1.%d" % (b, i) for i in range(1, 11)]  # long-poll clients' source addresses

    w = tempfile.mkdtemp(prefix="portico-bench.")
    os.chmod(w, 0o755)
    procs = []
    proxies = {}

    def cleanup(*_):
        for px in proxies.values():
            px.stop()
        for p in procs:
            if p.poll() is None:
                stop_tree(p)
        if args.keep:
            log("bench: work dir kept: %s" % w)
        else:
            shutil.rmtree(w, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    notes = []
    if args.conns < conns_wanted and any(k in chosen for k in ("longpoll", "idle")):
        notes.append("long polls: %d connections, not %d: the open-files hard limit is %d and each "
                     "pending long poll holds two descriptors in the proxy (raising it needs "
                     "CAP_SYS_RESOURCE)" % (args.conns, conns_wanted, hard))
    tlsinfo = {}
    results = {k: {p: [] for p in args.proxies} for k in chosen}
    try:
        log("bench: work dir %s, addresses 127.%d.0.0/16, backend %s, proxies %s" % (
            w, b, be, ", ".join("%s %s" % (p, a) for p, a in addr.items())))
        make_certs(w)
        os.makedirs(w + "/www")
        os.makedirs(w + "/tmp")
        with open(w + "/www/100b", "wb") as f:
            f.write(b"a" * 99 + b"\n")
        open(w + "/www/poll", "wb").close()
        with open(w + "/www/16k", "wb") as f:
            f.write(b"b" * 16383 + b"\n")
        with open(w + "/www/1g", "wb") as f:  # sparse: no disk, and served from page cache
            f.truncate(args.stream_mib << 20)
        if "download" in chosen or "download_tls" in chosen:  # into the page cache now, not during the first proxy's run
            chunk = bytearray(1 << 20)
            with open(w + "/www/1g", "rb") as f:
                while f.readinto(chunk):
                    pass
        with open(w + "/backend.conf", "w") as f:
            f.write(backend_conf(w, be))
        err = open(w + "/backend.stderr", "w")
        procs.append(subprocess.Popen(["nginx", "-c", w + "/backend.conf", "-e", w + "/backend.err"],
                                      stdout=err, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True))
        procs.append(subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "sink.py"), sink, str(B_SINK),
                                       str(B_SINKS), w + "/pool.crt", w + "/pool.key"],
                                      stdout=err, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True))
        if not (wait_port(be, B_HTTP, procs[0]) and wait_port(be, B_HTTPS, procs[0])
                and wait_port(sink, B_SINK, procs[1]) and wait_port(sink, B_SINKS, procs[1])):
            raise SystemExit("bench: backend did not start: " + open(w + "/backend.stderr").read()[-600:])

        holdconns = None
        if any(k in chosen for k in ("longpoll", "idle", "h2idle")):
            cc = os.environ.get("CC", "cc")
            r = run([cc, "-O2", "-o", w + "/holdconns", os.path.join(ROOT, "bench", "holdconns.c"),
                     "-lssl", "-lcrypto"])
            if r.returncode == 0:
                holdconns = w + "/holdconns"
            else:
                notes.append("bench/holdconns.c did not build: " + r.stdout.strip()[-300:])
        for p in args.proxies:
            proxies[p] = Proxy(p, w, addr[p], be, sink)
            proxies[p].start()
        # Each proxy must actually deliver the bodies before its figures mean anything.
        broken = set()
        for p, px in proxies.items():
            for path, size in (("/100b", 100), ("/16k", 16384)):
                for tls in (False, True):
                    try:
                        st, n = http_get(px.addr, P_HTTPS if tls else P_HTTP, path, tls)
                    except (OSError, ssl.SSLError, RuntimeError) as e:
                        st, n = repr(e), 0
                    if st != 200 or n != size:
                        broken.add(p)
                        notes.append("%s: probe %s %s gave %s, %d bytes" % (
                            LABEL[p], "https" if tls else "http", path, st, n))
        tlsinfo = {p: tls_params(px) for p, px in proxies.items()}

        # A run is skipped when it would end past the budget (estimated from the kind's last run).
        last = {"wrk": args.duration + 0.5, "h2load": args.duration + 1.0, "hs": args.hs_time + 1.5,
                "stream": 5.0, "poll": 20.0}
        skipped = []

        def over_budget(kind="wrk"):
            return time.monotonic() + last[kind] > budget_end

        # Rounds outermost: each scenario's runs are spread over the whole bench, so that a
        # burst of outside load hits one run of several rows rather than every run of one row;
        # within a round the order of the proxies rotates.
        plan = [sc for sc in SCENARIOS if sc[0] in chosen]
        for r in range(args.runs):
            for key, label, kind, par in plan:
                rsa = par.get("cert") == "rsa"
                # Request and handshake rows start from freshly started proxies (the same state
                # for all three, whatever ran before); stream and long-poll runs restart their
                # proxy themselves. The RSA handshake rows use the RSA certificate instead.
                h2 = kind == "h2load"
                if kind in ("wrk", "hs", "h2load") and (rsa or h2 or not args.carry_over) \
                        and not over_budget(kind):
                    for px in proxies.values():
                        px.restart("rsa" if rsa else "public", h2)
                order = args.proxies[r % len(args.proxies):] + args.proxies[:r % len(args.proxies)]
                for p in order:
                    if over_budget(kind):
                        skipped.append("%s %s run %d" % (key, p, r + 1))
                        continue
                    px = proxies[p]
                    t = time.monotonic()
                    try:
                        if kind == "wrk":
                            res = wrk_run(px, par["scheme"], par["path"], par["conns"], args.duration)
                        elif kind == "h2load":
                            res = h2load_run(px, par["path"], args.duration)
                        elif kind == "hs":
                            res = hs_run(px, args.hs_time, par.get("reuse", False))
                        elif kind == "stream":
                            res = stream_run(px, par["direction"], args.stream_mib << 20, par.get("tls", False))
                        else:
                            if not holdconns:
                                raise RuntimeError("no long-poll client (holdconns did not build)")
                            h2p = par.get("h2", False)
                            res = poll_run(px, args.h2_conns if h2p else args.conns, srcs, be,
                                           par["send"], holdconns, not args.full_handshakes, h2p)
                    except Exception as e:  # a measurement: note it and go on
                        notes.append("%s: %s run %d failed: %s" % (label, LABEL[p], r + 1, e))
                        if px.proc is None or px.proc.poll() is not None:
                            try:
                                px.restart(px.cert or "public")
                            except RuntimeError as e2:
                                notes.append(str(e2))
                        continue
                    if res.get("err"):
                        notes.append("%s: %s run %d: %s" % (label, LABEL[p], r + 1, res["err"]))
                    results[key][p].append(res)
                    last[kind] = time.monotonic() - t
                    log("bench: %-44s %-8s run %d  %s  (%.1f s)" % (
                        label, p, r + 1, "  ".join("%s=%s" % (k, num(v) if isinstance(v, float) else v)
                                                   for k, v in res.items()), time.monotonic() - t))
                if (rsa or h2) and args.carry_over:
                    for px in proxies.values():
                        px.restart("public")
        if skipped:
            notes.append("time budget (--budget %d s) reached: %d runs skipped (%s)" % (
                args.budget, len(skipped), ", ".join(skipped)))
        if broken:
            notes.append("proxies that failed a probe (their rows may be meaningless): " +
                         ", ".join(LABEL[p] for p in sorted(broken)))
    finally:
        cleanup()

    total = time.monotonic() - started
    rev, vers = versions()
    report = ["# portico bench — %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"), "",
              table(results, chosen, args), "",
              "CPU per op: user+sys time of the proxy's processes (master and workers, from /proc) "
              "divided by requests / handshakes / MiB / connections served. The ratio columns compare "
              "portico's medians with the others' (below 1: portico uses less). Cells: median "
              "(min–max) over %d runs per proxy, the proxies interleaved and the runs of each row "
              "spread over the whole bench; p50/p99: medians of wrk's figures. RSS growth: sum of "
              "VmRSS of the proxy's processes on a freshly started proxy, peak during the transfer "
              "(streams) or settled once every request is pending at the backend (long polls). "
              "Long-poll clients resume one TLS session (%s), so that the client is not what limits "
              "the rate; their CPU figure includes the proxy's upstream TLS connection."
              % (args.runs, "not: --full-handshakes" if args.full_handshakes else "TLS 1.3 ticket"),
              "",
              "- Run: git %s, %s, %d CPUs, Linux %s; proxy on core 0 (one worker/thread); backend "
              "(nginx), upload sink, wrk, h2load, s_time, the long-poll client and the stream client on core 1; wrk -t1 "
              "and h2load -t1 -c10 -m10 (HTTP/2 over TLS, HTTP/1.1 over TLS to the backend) for %d s per run, s_time -new "
              "for %d s, %d MiB per stream, %d long-poll and %d idle HTTP/2 connections from %d source addresses; total "
              "%.0f s." % (rev, platform.node(), os.cpu_count(), platform.release(), args.duration,
                           args.hs_time, args.stream_mib, args.conns, args.h2_conns, len(srcs), total),
              "- Versions: " + "; ".join(vers) + ".",
              ]
    for p in args.proxies:
        if p in tlsinfo:
            report.append("- TLS to %s (ECDSA listener): %s." % (LABEL[p], tlsinfo[p]))
    report.extend("- " + t for t in targets(results, chosen, args))
    if notes:
        report.append("")
        report.append("Notes (⚠ marks a row with one):")
        report.extend("- " + n for n in notes)
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
        log("bench: report written to %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
