"""Command line (SPEC §2): -t, -v, errors as FILE:LINE, foreground run, SIGTERM."""

import os
import re
import signal
import socket
import threading
import time

import pytest

import harness
from harness import Net, Pool, Portico, render_config, run_portico


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def good_config(tmp_path, pki):
    net = Net.alloc()
    text = render_config(net, [Pool("fe", [net.member(1), net.member(2)], harness.DEFAULT_NAMES),
                               Pool("owa", [net.owa(1)], ["owa.contoso.com"], role="owa")],
                         str(tmp_path / "access.log"), pki)
    # comments after values and full-line comments of both kinds must be accepted
    text += "\n# a comment\n; another\n[pool apps]   ; trailing comment\nrole = generic ; generic role\n" \
            "servers = %s:8443  # a port override\npublish = *.apps.contoso.com\n" % net.member(3)
    return write(tmp_path, "good.conf", text)


def test_check_ok(tmp_path, pki):
    path = good_config(tmp_path, pki)
    r = run_portico(["-t", "-c", path])
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stderr


ERROR_FILE = """\
[proxy]
external = 127.0.0.1
http_port = 80
https_port = off
workers = 1
timeout_idle = soon
access_log = off

[pool fe]
role = mailbox
servers = 127.0.0.1
publish = webext.contoso.com

[pool other]
servers = 127.0.0.2
publish = WEBEXT.contoso.com
http = sometimes
"""


def error_lines(stderr, path):
    out = {}
    for line in stderr.splitlines():
        m = re.match(re.escape(path) + r":(\d+): (.+)$", line)
        if m:
            out.setdefault(int(m.group(1)), []).append(m.group(2))
    return out


def test_check_reports_every_error_with_file_and_line(tmp_path):
    path = write(tmp_path, "bad.conf", ERROR_FILE)
    r = run_portico(["-t", "-c", path])
    assert r.returncode == 1, r.stderr
    assert "configuration OK" not in r.stderr
    lines = error_lines(r.stderr, path)
    assert 6 in lines, "timeout_idle = soon (line 6) not reported:\n" + r.stderr
    assert 10 in lines, "role = mailbox (line 10) not reported:\n" + r.stderr
    assert 17 in lines, "http = sometimes (line 17) not reported:\n" + r.stderr
    dup = lines.get(16, []) + lines.get(12, [])
    assert dup, "duplicate published name (lines 12/16) not reported:\n" + r.stderr


@pytest.mark.parametrize("snippet,line", [
    ("[proxy]\nexternal = 127.0.0.1\nhttp_port = 70000\n", 3),
    ("[proxy]\nexternal = 127.0.0.1\nworkers = many\n", 3),
    ("[proxy]\nexternal = 127.0.0.1\naccess_log_format = xml\n", 3),
    ("[proxy]\nexternal = 127.0.0.1\n[pool fe]\nservers = 127.0.0.1\npublish = a.contoso.com\naffinity = sticky\n", 6),
    ("[proxy]\nexternal = 127.0.0.1\n[pool fe]\nservers = 127.0.0.1\npublish = a.contoso.com\nrole = frontend\nhealth_rise = -2\n", 7),
    ("[proxy]\nexternal = 999.1.1.1\n", 2),
    ("[proxy]\nexternal = 127.0.0.1\nthis line has no equals sign\n", 3),
])
def test_check_single_error_line(tmp_path, snippet, line):
    path = write(tmp_path, "one.conf", snippet)
    r = run_portico(["-t", "-c", path])
    assert r.returncode == 1, r.stderr
    assert line in error_lines(r.stderr, path), "expected %s:%d: ...\n%s" % (path, line, r.stderr)


def test_check_missing_file(tmp_path):
    path = str(tmp_path / "does-not-exist.conf")
    r = run_portico(["-t", "-c", path])
    assert r.returncode == 1
    assert path in r.stderr


def test_version():
    r = run_portico(["-v"])
    assert r.returncode == 0
    out = r.stdout + r.stderr
    assert "portico" in out and re.search(r"\d+\.\d+", out), out


def test_run_with_bad_config_exits_1_without_ready(tmp_path):
    path = write(tmp_path, "bad.conf", ERROR_FILE)
    r = run_portico(["-c", path], timeout=10)
    assert r.returncode == 1
    assert "portico: ready" not in r.stderr
    assert error_lines(r.stderr, path)


def test_ready_serves_then_sigterm_exits_0_and_stops_listening(make_stack):
    st = make_stack()
    assert st.request().status == 200
    assert st.portico.stop() == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((st.net.ext, 80), timeout=2)


def test_sigterm_finishes_request_in_flight(make_stack):
    st = make_stack(drain_timeout=10)
    tok = harness.unique("inflight")
    c = st.client()
    c.send(harness.build_request("GET", "/longpoll?secs=2&tok=" + tok))
    assert st.mock.wait_request(tok, 5), "request never reached the pool"
    t0 = time.monotonic()
    st.portico.signal(signal.SIGTERM)
    time.sleep(0.5)
    # no new connections once SIGTERM is handled
    with pytest.raises(OSError):
        s = socket.create_connection((st.net.ext, 80), timeout=2)
        s.sendall(harness.build_request())
        if not s.recv(1):
            raise ConnectionResetError("closed")
    r = c.read_response()
    assert r.status == 200 and r.json()["target"].endswith(tok)
    rc = st.portico.stop(timeout=15 * harness.SLOW)
    assert rc == 0
    assert time.monotonic() - t0 >= 1.0


def test_sigterm_with_idle_keepalive_client_exits_promptly(make_stack):
    st = make_stack(drain_timeout=20, timeout_keepalive=60)
    c = st.client()
    assert c.request().status == 200
    t0 = time.monotonic()
    rc = st.portico.stop()
    assert rc == 0
    assert time.monotonic() - t0 < 10 * harness.SLOW, "an idle keep-alive connection held up the drain"
    assert c.wait_closed(2)
