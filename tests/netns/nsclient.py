#!/usr/bin/python3
"""nsclient.py — the client side of portico's namespace tests, run inside the client namespace
(`ip netns exec CLIENT /usr/bin/python3 nsclient.py MODE ...`). Standard library only.

  nsclient.py http JSON      JSON: a list of requests {"id", "ip", "port", "tls", "host",
                             "path", "ca", "timeout"}; one HTTP/1.1 GET each (Connection:
                             close), all in parallel; prints a JSON list of results {"id",
                             "ok", "status", "headers", "body", "error", "secs"}
  nsclient.py connect JSON   JSON: a list of {"id", "ip", "port", "timeout"}; a bare TCP
                             connect each, in parallel; prints [{"id", "outcome", "secs"}] with
                             outcome connected | refused | timeout | unreachable | error: ...
  nsclient.py loop OPTIONS   a bounded request loop (see loop()): a request every --interval
                             seconds, one JSON line each on --out; stops on SIGTERM/SIGINT,
                             after --max-requests or after --max-seconds, whichever comes first
"""

import argparse
import errno
import json
import signal
import socket
import ssl
import sys
import threading
import time


def _ctx(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response head (%d bytes)" % len(data))
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append([name.strip(), value.strip()])
    lower = {n.lower(): v for n, v in headers}
    if "content-length" in lower:
        n = int(lower["content-length"])
        while len(rest) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed %d bytes into a %d byte body" % (len(rest), n))
            rest += chunk
        body = rest[:n]
    elif lower.get("transfer-encoding", "").lower() == "chunked":
        while not rest.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        body, buf = b"", rest
        while True:
            line, _, buf = buf.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            if size == 0:
                break
            body += buf[:size]
            buf = buf[size + 2:]
    else:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        body = rest
    return status, headers, body


def http_get(ip, port, host, path="/echo", tls=True, ca=None, timeout=3.0, ctx=None):
    """One GET on a new connection; returns (status, headers, body bytes, peer of the pool)."""
    deadline = time.monotonic() + timeout
    sock = socket.create_connection((ip, port), timeout=timeout)
    try:
        if tls:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            sock = (ctx or _ctx(ca)).wrap_socket(sock, server_hostname=host)
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: portico-netns-test\r\n"
                      "Connection: close\r\n\r\n" % (path, host)).encode())
        return _read_response(sock)
    finally:
        sock.close()


def _outcome(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, OSError) and e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "unreachable"
    return "error: %s: %s" % (type(e).__name__, e)


def _each_at_once(specs, one):
    """Runs ONE(i, spec) for every spec, each in its own thread, all at once; the results in
    spec order."""
    results = [None] * len(specs)

    def run(i, s):
        results[i] = one(i, s)

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(specs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def mode_http(specs):
    def one(i, s):
        t0 = time.monotonic()
        r = {"id": s.get("id", i), "ok": False}
        try:
            status, headers, body = http_get(s["ip"], s["port"], s["host"], s.get("path", "/echo"),
                                             s.get("tls", True), s.get("ca"), s.get("timeout", 5.0))
            r.update(ok=True, status=status, headers=headers, body=body.decode("utf-8", "replace"))
        except Exception as e:
            r["error"] = _outcome(e)
        r["secs"] = round(time.monotonic() - t0, 3)
        return r

    return _each_at_once(specs, one)


def mode_connect(specs):
    def one(i, s):
        t0 = time.monotonic()
        try:
            socket.create_connection((s["ip"], s["port"]), timeout=s.get("timeout", 1.0)).close()
            outcome = "connected"
        except Exception as e:
            outcome = _outcome(e)
        return {"id": s.get("id", i), "outcome": outcome, "secs": round(time.monotonic() - t0, 3)}

    return _each_at_once(specs, one)


def loop(args):
    """GET https://HOST/PATH on a new connection to --ip:--port, one started every --interval
    seconds (on a fixed cadence: a request that hangs does not hold back the next ones; at
    most --max-inflight at once), each bounded by --timeout. One JSON line per request, in
    order of completion: i, t0, t1 (time.monotonic(), the same clock as the test's), ok,
    status, peer (the pool's view of the source address) or error."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ctx = _ctx(args.ca)
    out = open(args.out, "a", buffering=1)
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(args.max_inflight)
    threads = []

    def one(i):
        t0 = time.monotonic()
        rec = {"i": i, "t0": t0}
        try:
            status, _, body = http_get(args.ip, args.port, args.host, args.path, True, None,
                                       args.timeout, ctx)
            rec["status"] = status
            rec["ok"] = status == 200
            if status == 200:
                rec["peer"] = json.loads(body).get("peer")
        except Exception as e:
            rec["ok"] = False
            rec["error"] = _outcome(e)
        rec["t1"] = time.monotonic()
        with lock:
            out.write(json.dumps(rec) + "\n")
        slots.release()

    begin = time.monotonic()
    end = begin + args.max_seconds
    n = 0
    while not stop.is_set() and n < args.max_requests and time.monotonic() < end:
        delay = begin + n * args.interval - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        if not slots.acquire(timeout=max(0.0, end - time.monotonic())):
            break
        t = threading.Thread(target=one, args=(n,), daemon=True)
        t.start()
        threads.append(t)
        n += 1
    for t in threads:
        t.join(args.timeout + 1.0)
    with lock:
        out.write(json.dumps({"done": n, "t": time.monotonic()}) + "\n")
    out.close()
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("http", "connect"):
        specs = json.loads(argv[1] if len(argv) > 1 else sys.stdin.read())
        res = mode_http(specs) if argv[0] == "http" else mode_connect(specs)
        json.dump(res, sys.stdout)
        return 0
    ap = argparse.ArgumentParser(prog="nsclient.py loop")
    ap.add_argument("mode", choices=["loop"])
    ap.add_argument("--ip", required=True)
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--host", default="webext.contoso.com")
    ap.add_argument("--path", default="/echo")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=0.02)
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--max-requests", type=int, default=2000)
    ap.add_argument("--max-seconds", type=float, default=30.0)
    ap.add_argument("--max-inflight", type=int, default=64)
    return loop(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
