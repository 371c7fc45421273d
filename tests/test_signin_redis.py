"""Several nodes count sign-ins together through Redis (docs/signin.md, "Several nodes"): two
portico instances, each in front of its own mock pool, share a real redis-server (Debian's
package) started by the test on loopback. When Redis is unreachable each node goes on counting
alone and says so."""
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

import harness
from test_signin import PASSWORDS, client, oauth, pool_attempts, source, wait_attempts

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


free_port = harness.free_port


@pytest.fixture
def redis(tmp_path):
    """A redis-server on 127.0.0.1 (no persistence); yields 'redis://127.0.0.1:PORT'."""
    if not os.path.exists(REDIS):
        pytest.fail("redis-server is missing: make deps installs it")
    port = free_port("127.0.0.1")
    proc = subprocess.Popen([REDIS, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10 * harness.SLOW
    for line in iter(proc.stdout.readline, b""):       # its readiness line, bounded in time
        if b"Ready to accept connections" in line or time.monotonic() > deadline:
            break
    yield "redis://127.0.0.1:%d" % port
    proc.terminate()
    proc.wait(10)


def node(make_stack, tmp_path, name, store, **signin):
    path = tmp_path / ("passwords-%s.json" % name)
    path.write_text(json.dumps(PASSWORDS))
    # The floor is also the time a result has to reach the other node before the next
    # attempt there: generous for sanitized and loaded runs.
    conf = {"failure_delay": "0.5", "store": store}
    conf.update(signin)
    return make_stack(mock_args=["--passwords", str(path)], signin=conf)


def redis_command(url, *args):
    """One command in RESP; the raw reply."""
    host, port = url[len("redis://"):].rsplit(":", 1)
    req = "*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(req.encode())
        return s.recv(65536).decode("latin-1")


def wait_subscribers(url, n):
    """Until N nodes listen on the channel (PUBSUB NUMSUB: the readiness of the subscribers)."""
    deadline = time.monotonic() + 10 * harness.SLOW
    while time.monotonic() < deadline:
        reply = redis_command(url, "PUBSUB", "NUMSUB", "portico:signin")
        if reply.rstrip().endswith(":%d" % n):
            return True
        time.sleep(0.05)
    return False


def redis_clients(url):
    host, port = url[len("redis://"):].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"CLIENT LIST\r\n")
        data = b""
        while not data.endswith(b"\r\n") or data.count(b"\r\n") < 2:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode("latin-1").count("addr=")


def wait_clients(url, n):
    """Until N clients (portico's links, our own probe excluded) are connected to redis."""
    deadline = time.monotonic() + 10 * harness.SLOW
    while redis_clients(url) - 1 < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return redis_clients(url) - 1


def test_two_nodes_lock_out_together(make_stack, tmp_path, redis):
    """Brute force on one user, alternating between two nodes: together their pools see
    lockout_threshold failures, and the user is refused on both."""
    a = node(make_stack, tmp_path, "a", redis)
    b = node(make_stack, tmp_path, "b", redis)
    # Each node: one publishing link per worker and one subscriber.
    assert wait_subscribers(redis, 2)
    assert wait_clients(redis, 2 * (harness.WORKERS + 1)) >= 2 * (harness.WORKERS + 1)
    statuses = []
    for i in range(8):
        st = a if i % 2 == 0 else b
        with client(st) as c:
            statuses.append(oauth(c, "bob", "guess%d" % i).status)
    assert statuses == [400] * 8
    fa = [e for e in wait_attempts(a, 2) if not e["ok"]]
    fb = [e for e in wait_attempts(b, 2) if not e["ok"]]
    assert len(fa) + len(fb) == 4, (fa, fb)                    # lockout_threshold, together
    # Locked on both nodes, even with the right password...
    for st in (a, b):
        with client(st) as c:
            assert oauth(c, "bob", PASSWORDS["bob"]).status == 400
    assert len(pool_attempts(a)) + len(pool_attempts(b)) == 4
    # ... and a spray spread over the two nodes stops at spray_accounts in all.
    spray_src = source(a, 30)                  # one attacker address, reaching both nodes
    for i in range(24):
        st = a if i % 2 == 0 else b
        with harness.Client(st.net.ext, 80, spray_src) as c:
            oauth(c, "user%02d" % i, "Autumn2026!")
    sprayed = [e for e in pool_attempts(a) + pool_attempts(b) if e["user"].startswith("user")]
    assert len(sprayed) == 10, sprayed
    print("redis: 8 brute-force attempts over 2 nodes, 4 reached the pools; "
          "24 spray attempts, 10 reached the pools")


def test_unreachable_store_counts_locally(make_stack, tmp_path):
    port = free_port("127.0.0.1")                              # nothing listens there
    st = node(make_stack, tmp_path, "alone", "redis://127.0.0.1:%d" % port)
    assert st.portico.wait_stderr(r"sign-in store redis://127\.0\.0\.1:%d unreachable" % port)
    with client(st) as c:
        for i in range(6):
            assert oauth(c, "bob", "guess%d" % i).status == 400
    assert len(wait_attempts(st, 4)) == 4                      # the local count still holds


def test_store_that_comes_back_is_used_again(make_stack, tmp_path):
    port = free_port("127.0.0.1")
    url = "redis://127.0.0.1:%d" % port
    a = node(make_stack, tmp_path, "a", url)
    assert a.portico.wait_stderr(r"sign-in store .* unreachable")
    proc = subprocess.Popen([REDIS, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # The links retry with backoff (0.5 s doubling, at most 30 s).
        assert a.portico.wait_stderr(r"sign-in store .* reachable again", timeout=40)
    finally:
        proc.terminate()
        proc.wait(10)


def test_bad_store_value_is_a_config_error(tmp_path):
    conf = tmp_path / "p.conf"
    conf.write_text("[signin]\nstore = redis://redis.example:6379\n")
    r = subprocess.run([harness.PORTICO_BIN, "-t", "-c", str(conf)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert "p.conf:2: bad value 'redis://redis.example:6379' for 'store'" in r.stderr
