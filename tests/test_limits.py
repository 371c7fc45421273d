"""Limits and privileges: max_connections_per_client refuses cleanly and counts down again;
`user =` leaves the master with CAP_NET_BIND_SERVICE only and the workers with nothing, and a
reload still works (SPEC §3, issue 5)."""

import os
import signal
import socket
import time

import harness

CAP_NET_BIND_SERVICE = 1 << 10


def status_field(pid, name):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split()[1:]
    return None


def test_per_client_cap_refuses_the_extra_connection_only(make_stack):
    st = make_stack(max_connections_per_client=2, workers=1)
    a, b = st.client(), st.client()
    try:
        assert a.request().status == 200 and b.request().status == 200
        c = socket.create_connection((st.net.ext, 80), timeout=5,
                                     source_address=(st.net.client, 0))
        try:
            c.settimeout(5)
            try:
                c.sendall(harness.build_request("GET", "/echo?over-cap"))
                got = c.recv(100)
            except ConnectionResetError:
                got = b""  # closed with the request unread: the kernel answers with a reset
            assert got == b"", "the third connection of one client was served"
        finally:
            c.close()
        assert st.portico.wait_stderr(r"over max_connections_per_client \(2\)"), \
            "the refusal is not logged"
        assert not st.mock.saw("over-cap"), "the refused request reached the pool"
        # Another client address is not affected.
        other = "127.%d.%d.10" % (40 + st.net.k, st.net.x)
        with harness.Client(st.net.ext, 80, src=other) as o:
            assert o.request().status == 200
    finally:
        a.close()
        b.close()
    # Once the first two are gone, the client may connect again.
    deadline = time.monotonic() + 5
    while True:
        with st.client() as c2:
            try:
                if c2.request().status == 200:
                    break
            except (EOFError, OSError):
                pass
        assert time.monotonic() < deadline, "the count of a closed connection never went down"
        time.sleep(0.05)


def test_user_keeps_only_cap_net_bind_service(make_stack, pki, tmp_path):
    if os.geteuid() != 0:
        import pytest
        pytest.skip("needs root to drop privileges")
    harness.open_up_all(pki, tmp_path)
    st = make_stack(user="nobody", workers=2)
    harness.open_up(st.portico.config_path)
    master = st.portico.proc.pid
    assert status_field(master, "Uid")[0] == "65534", "the master still runs as root"
    assert int(status_field(master, "CapEff")[0], 16) == CAP_NET_BIND_SERVICE
    workers = st.portico.worker_pids()
    assert workers
    for w in workers:
        assert status_field(w, "Uid")[0] == "65534"
        # A worker drops its capabilities as it starts, which may be just after "ready".
        deadline = time.monotonic() + 5 * harness.SLOW
        while int(status_field(w, "CapEff")[0], 16) != 0:
            assert time.monotonic() < deadline, "a worker kept capabilities"
            time.sleep(0.02)
    assert st.request().status == 200
    # A reload still binds and serves: the master kept CAP_NET_BIND_SERVICE for port 80.
    n = len(st.portico.stderr_lines)
    st.portico.signal(signal.SIGHUP)
    assert st.portico.wait_stderr(r"reload done", timeout=10, start=n), st.portico.stderr()
    assert st.request().status == 200


def test_bad_reload_is_refused_and_the_old_configuration_serves(make_stack):
    st = make_stack()
    assert st.request().status == 200
    path = st.portico.config_path
    with open(path) as f:
        good = f.read()
    with open(path, "a") as f:
        f.write("\nbogus_key = 1\n")
    n = len(st.portico.stderr_lines)
    st.portico.signal(signal.SIGHUP)
    lines = st.portico.wait_stderr(r"reload refused", timeout=10, start=n)
    assert lines, st.portico.stderr()
    assert st.portico.wait_stderr(r"portico\.conf:\d+: unknown key 'bogus_key'", start=n), \
        "the error is not logged as FILE:LINE: message"
    assert st.request().status == 200, "the old configuration stopped serving"
    # A good configuration afterwards is taken: a newly published name answers.
    with open(path, "w") as f:
        f.write(good.replace("publish =", "publish = extra.contoso.com", 1))
    n = len(st.portico.stderr_lines)
    st.portico.signal(signal.SIGHUP)
    assert st.portico.wait_stderr(r"reload done", timeout=10, start=n), st.portico.stderr()
    deadline = time.monotonic() + 5
    while st.request("GET", "/echo", "extra.contoso.com").status != 200:
        assert time.monotonic() < deadline, "the new configuration never took effect"
        time.sleep(0.05)
