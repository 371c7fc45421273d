#!/usr/bin/python3
"""bench/scale.py — `make bench-scale`: pending TLS long polls at Lync scale (issue 17).

N clients each hold one UCWA-style long poll (GET /poll over TLS) through the proxy to a pool
that holds every one of them (bench/pollserver.c, several processes on one port); the proxy
re-encrypts towards the pool, as Lync needs. For each proxy and size it measures:
  - the time to establish all N polls (client TLS + member TLS + request, the pool holding it);
  - the proxy's RSS growth per held poll (sum of VmRSS of its processes, less before);
  - the proxy's CPU while everything waits (10 s; should be ~0);
  - p50/p99 latency of fresh requests meanwhile (wrk, 10 connections, 5 s, 100 B answers);
  - a presence storm: 5,000 of the polls answered at once, time until the clients have all.
The open-files hard limit here is 20,000 per process and cannot be raised, so portico and nginx
run 12 workers, the clients are several holdconns processes (bench/holdconns.c) spread over
many loopback source addresses, the pool 8 pollserver processes; HAProxy 2.6 is one process
and can hold ~9,900 polls, so every proxy is also measured at that size. A measurement, not a
test: it exits 0 whatever the figures. Usage: scale.py [--sizes 100000,9900] [--proxies ...]"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402  (certificates, /proc readers)

PORT_POOL = 24443  # pollserver (all addresses, SO_REUSEPORT)
# Pool addresses: from its one source address, a proxy gets about 14,000 connections per member
# address here (measured: the three proxies all stopped near 84,600 with 6), so 16 of them.
MEMBERS = 16
SRCS = 40  # client source addresses
WORKERS = 12
PER_CLIENT = 16000  # connections per holdconns process (each holds one descriptor per poll)
STORM = 5000
# Handshakes in flight per client process: the pool shares the two cores, and more in flight
# only lengthens each handshake past the proxies' connect timeouts (answered 502 at once).
CONCURRENCY = 25


def portico_conf(b, n):
    members = " ".join("127.%d.2.%d:%d" % (b, i + 1, PORT_POOL) for i in range(MEMBERS))
    return """[proxy]
external = 127.%d.0.2
http_port = 18080
https_port = 18443
certificate = public.crt
key = public.key
workers = %d
max_connections = %d
access_log = off
drain_timeout = 1
[pool fe]
role = frontend
servers = %s
http_port = 28080
https_port = %d
ca = intca.crt
publish = %s
""" % (b, WORKERS, n + n // 10 + 1000, members, PORT_POOL, B.HOST)


def nginx_conf(w, b, n):
    members = "".join("server 127.%d.2.%d:%d; " % (b, i + 1, PORT_POOL) for i in range(MEMBERS))
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return """%sworker_processes %d; daemon off; master_process on; pid %s/nginx.pid;
error_log %s/nginx.err warn; worker_rlimit_nofile 20000;
events { worker_connections 19000; }
http { access_log off; %s
  proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host;
  proxy_buffering off; proxy_read_timeout 1h; proxy_send_timeout 1h;
  upstream pool { %s keepalive 256; }
  server { listen 127.%d.0.3:18443 ssl backlog=4096 reuseport; server_name %s;
    ssl_protocols TLSv1.2 TLSv1.3; ssl_certificate %s/public.crt; ssl_certificate_key %s/public.key;
    keepalive_timeout 1h;
    location / { proxy_pass https://pool; proxy_ssl_server_name on; proxy_ssl_name $host;
      proxy_ssl_verify on; proxy_ssl_trusted_certificate %s/intca.crt; proxy_ssl_session_reuse on; } }
}
""" % (user, WORKERS, w, w, B.temp_paths(w), members, b, B.HOST, w, w, w)


def haproxy_conf(w, b, n):
    members = "".join("  server m%d 127.%d.2.%d:%d ssl verify required ca-file %s/intca.crt sni str(%s) "
                      "verifyhost %s\n" % (i, b, i + 1, PORT_POOL, w, B.HOST, B.HOST) for i in range(MEMBERS))
    return """global
  nbthread 1
  maxconn %d
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 1h
  timeout server 1h
  timeout http-request 30s
frontend tls
  bind 127.%d.0.4:18443 backlog 4096 ssl crt %s/public.pem alpn http/1.1
  default_backend pool
backend pool
  balance roundrobin
%s""" % (9990, b, w, members)


class Proc:
    """A process with a line protocol on stdin/stdout."""

    def __init__(self, cmd, env=None, cwd=None):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                  cwd=cwd, start_new_session=True)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def stop(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def kv(line):
    return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line)}


def pool_count(pool):
    tot = {"held": 0, "conns": 0}
    for p in pool:
        d = kv(p.ask("count"))
        tot["held"] += int(d.get("held", 0))
        tot["conns"] += int(d.get("conns", 0))
    return tot


def start_proxy(name, w, b, n):
    if name == "portico":
        with open(w + "/portico.conf", "w") as f:
            f.write(portico_conf(b, n))
        cmd, addr = [os.path.join(B.ROOT, "portico"), "-c", w + "/portico.conf"], "127.%d.0.2" % b
    elif name == "nginx":
        with open(w + "/nginx.conf", "w") as f:
            f.write(nginx_conf(w, b, n))
        cmd, addr = ["nginx", "-c", w + "/nginx.conf", "-e", w + "/nginx.err"], "127.%d.0.3" % b
    else:
        with open(w + "/haproxy.cfg", "w") as f:
            f.write(haproxy_conf(w, b, n))
        cmd, addr = ["haproxy", "-db", "-f", w + "/haproxy.cfg"], "127.%d.0.4" % b
    errpath = "%s/%s.stderr" % (w, name)
    err = open(errpath, "w")
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=w, start_new_session=True)
    err.close()
    if not B.wait_port(addr, 18443, p, timeout=20):
        raise RuntimeError("%s did not start: %s" % (name, open(errpath).read()[-500:]))
    B.wait_ready(name, p, errpath, workers=WORKERS, timeout=20)
    return p, addr


def wrk_latency(addr, secs=5):
    r = B.run(["wrk", "-t1", "-c10", "-d%ds" % secs, "--latency", "-H", "Host: " + B.HOST,
               "https://%s:18443/100b" % addr], timeout=secs + 30)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", r.stdout, re.M))
    m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    return (B.parse_ms(lat.get("50", "nan")), B.parse_ms(lat.get("99", "nan")), float(m.group(1)) if m else 0,
            int(errs.group(1)) if errs else 0)


def one(name, n, w, b, holdconns, pool):
    res = {"proxy": name, "n": n}
    before = pool_count(pool)["conns"]
    p, addr = start_proxy(name, w, b, n)
    clients = []
    try:
        pids = B.family(p.pid)
        base = B.rss_kb(pids)
        k = (n + PER_CLIENT - 1) // PER_CLIENT
        env = dict(os.environ, HOLD_READ="1", HOLD_DEADLINE="900")
        req = "GET /poll HTTP/1.1\\r\\nHost: %s\\r\\nAccept: application/json\\r\\n\\r\\n" % B.HOST
        t0 = time.monotonic()
        for i in range(k):
            srcs = ",".join("127.%d.1.%d" % (b, 1 + j) for j in range(SRCS) if j % k == i)
            share = n // k + (1 if i < n % k else 0)
            clients.append(Proc([holdconns, addr, "18443", str(share), srcs, str(CONCURRENCY), B.HOST, req, "1"],
                                env=env))
        opened = failed = 0
        for c in clients:
            d = kv(c.p.stdout.readline())
            opened += int(d.get("opened", 0))
            failed += int(d.get("failed", 0))
        res["open_s"] = time.monotonic() - t0
        res["opened"], res["failed"] = opened, failed
        end = time.monotonic() + 60
        while time.monotonic() < end:  # every request is at the pool
            held = pool_count(pool)["held"]
            if held >= opened:
                break
            time.sleep(0.5)
        res["held"] = held
        res["establish_s"] = time.monotonic() - t0
        time.sleep(2.0)
        pids = B.family(p.pid)
        res["rss_kib"] = (B.rss_kb(pids) - base) / max(held, 1)
        c0 = B.cpu_ticks(pids)
        time.sleep(10)
        res["idle_cpu_ms_s"] = (B.cpu_ticks(pids) - c0) / B.HZ * 1000 / 10
        res["p50"], res["p99"], res["fresh_rps"], res["fresh_bad"] = wrk_latency(addr)
        # The storm: STORM polls answered at once, shared among the pool's processes as they hold.
        counts = [int(kv(q.ask("count")).get("held", 0)) for q in pool]
        left, want = min(STORM, sum(counts)), []
        for i, c in enumerate(counts):
            share = min(c, left if i == len(counts) - 1 else round(STORM * c / max(sum(counts), 1)))
            want.append(share)
            left -= share
        early = sum(int(kv(c.ask("count")).get("responses", 0)) for c in clients)
        res["early"] = early  # polls answered before the storm (by the proxy: an error)
        t1 = time.monotonic()
        answered = sum(int(kv(q.ask("answer %d" % s)).get("answered", 0)) for q, s in zip(pool, want) if s)
        got, last, end = 0, t1, t1 + 60
        while time.monotonic() < end:
            rs = [kv(c.ask("count")) for c in clients]
            got = sum(int(r.get("responses", 0)) for r in rs) - early
            last = max([r.get("last", 0) for r in rs] + [t1])
            if got >= answered:
                break
            time.sleep(0.05)
        res["storm_n"], res["storm_got"], res["storm_s"] = answered, got, last - t1
    finally:
        for c in clients:
            try:
                c.p.stdin.write("close\n")
                c.p.stdin.flush()
            except OSError:
                pass
            c.stop()
        B.stop_tree(p, timeout=15)
        end = time.monotonic() + 60
        while pool_count(pool)["conns"] > before and time.monotonic() < end:
            time.sleep(0.5)
    return res


def table(results, out):
    head = ("| proxy | polls held | time to establish | proxy RSS per poll | proxy CPU while waiting | "
            "fresh requests p50 / p99 (rate) | storm: 5,000 answered, all delivered in |")
    lines = [head, "|" + "---|" * 7]
    for r in results:
        if "error" in r:
            lines.append("| %s | %d: %s | | | | | |" % (B.LABEL[r["proxy"]], r["n"], r["error"]))
            continue
        if r.get("early"):
            r["failed"] += r["early"]
        lines.append("| %s | %d of %d%s | %.1f s | %.1f KiB | %.1f ms/s | %.2f / %.2f ms (%.0f req/s%s) | "
                     "%.2f s (%d of %d) |" % (
                         B.LABEL[r["proxy"]], r["held"], r["n"],
                         ", %d not held (failed or answered by the proxy)" % r["failed"] if r["failed"] else "", r["establish_s"], r["rss_kib"],
                         r["idle_cpu_ms_s"], r["p50"], r["p99"], r["fresh_rps"],
                         ", %d not 200" % r["fresh_bad"] if r["fresh_bad"] else "", r["storm_s"],
                         r["storm_got"], r["storm_n"]))
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write("# make bench-scale\n\n" + text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,9900")
    ap.add_argument("--proxies", default="portico,nginx,haproxy")
    ap.add_argument("--out", default=os.path.join(B.ROOT, "bench", "results", "SCALE.md"))
    args = ap.parse_args()
    b = 201
    w = tempfile.mkdtemp(prefix="portico-scale.")
    os.chmod(w, 0o755)
    pool, results = [], []
    try:
        B.make_certs(w)
        os.makedirs(w + "/tmp")
        bins = {}
        for name in ("holdconns", "pollserver"):
            r = B.run([os.environ.get("CC", "cc"), "-O2", "-o", "%s/%s" % (w, name),
                       os.path.join(B.ROOT, "bench", name + ".c"), "-lssl", "-lcrypto"])
            if r.returncode:
                raise SystemExit("bench-scale: %s.c did not build:\n%s" % (name, r.stdout))
            bins[name] = "%s/%s" % (w, name)
        for _ in range(8):
            q = Proc([bins["pollserver"], w + "/pool.crt", w + "/pool.key", str(PORT_POOL)])
            if q.p.stdout.readline().strip() != "ready":
                raise SystemExit("bench-scale: pollserver did not start")
            pool.append(q)
        for n in [int(x) for x in args.sizes.split(",") if x]:
            for name in [x for x in args.proxies.split(",") if x]:
                if name == "haproxy" and n > 9900:
                    results.append({"proxy": name, "n": n, "error": "not run: one process, 20,000 descriptors"})
                    continue
                B.log("bench-scale: %s, %d polls" % (name, n))
                try:
                    r = one(name, n, w, b, bins["holdconns"], pool)
                except Exception as e:  # a measurement: note it and go on
                    r = {"proxy": name, "n": n, "error": str(e)[:200]}
                B.log("bench-scale: %s" % r)
                results.append(r)
    finally:
        for q in pool:
            q.stop()
        shutil.rmtree(w, ignore_errors=True)
    table(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
