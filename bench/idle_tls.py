#!/usr/bin/python3
"""bench/idle_tls.py — memory of N idle TLS client connections held by a running proxy.

Usage: idle_tls.py HOST PORT PID [N]
Opens N TLS connections (full handshakes, spread over several 127.0.x.y source addresses so
that ports never run out), keeps them open without sending a request, and prints the growth of
the resident memory of process PID and of its children, in total and per connection."""
import os
import resource
import socket
import ssl
import sys
import time


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


def family(pid):
    out = [pid]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except OSError:
                pass
    return out


def main():
    host, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    pids = family(pid)
    before = rss_kb(pids)
    conns = []
    t0 = time.time()
    for i in range(n):
        src = "127.0.%d.%d" % (100 + i // 2000, 10 + (i // 500) % 4)
        s = socket.create_connection((host, port), timeout=10, source_address=(src, 0))
        conns.append(ctx.wrap_socket(s, server_hostname="webext.contoso.com"))
    t1 = time.time()
    time.sleep(1.0)  # let the proxy settle (it has nothing to do: no request was sent)
    after = rss_kb(pids)
    print("%d idle TLS connections opened in %.1f s; proxy RSS %d kB -> %d kB: %.2f kB per connection"
          % (n, t1 - t0, before, after, (after - before) / n))
    for c in conns:
        c.close()


main()
