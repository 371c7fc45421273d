"""Process hardening (issue 5, docs/security.md): every portico process, the master and each
worker, has core dumps off (RLIMIT_CORE 0, soft and hard), is not dumpable (so no core, and no
ptrace, /proc/PID/mem or /proc/PID/environ for another process of its user) and has
PR_SET_NO_NEW_PRIVS, from before it reads a private key; the master still binds a new port
below 1024 on reload after `user =` took root away, and when started unprivileged with the
ambient CAP_NET_BIND_SERVICE of the systemd unit.

Whether a process is dumpable is not shown in /proc/PID/status: the tests see it as the kernel
enforces it, on the processes that do not run as root. A process of the same uid with the same
permitted capabilities (so without CAP_SYS_PTRACE; made with setpriv) may read
/proc/PID/environ of a dumpable process and may not read it of a non-dumpable one (a dumpable
control process shows the check can fail); and the files in /proc/PID belong to root, not to
the process's user, when it is not dumpable. A root process with every capability keeps its
dumpable flag to itself: only NoNewPrivs and the core limit are checked there."""

import os
import re
import signal
import subprocess
import time

import pytest

import harness

CAP_NET_BIND_SERVICE = 1 << 10
NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ports 80 and 443, setpriv)")


def status_field(pid, name):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split()[1:]
    return None


def core_limit(pid):
    """(soft, hard) of "Max core file size" in /proc/PID/limits, as strings."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max core file size"):
                soft, hard = line[len("Max core file size"):].split()[:2]
                return soft, hard
    return None


CAP_NAMES = {CAP_NET_BIND_SERVICE: "net_bind_service"}


def as_user(uid, caps=0):
    """setpriv arguments: uid (and gid uid, no groups), with the capabilities in the mask caps
    permitted and effective (ambient), and none else (empty bounding set)."""
    names = ",".join("+" + n for bit, n in CAP_NAMES.items() if caps & bit)
    assert caps & ~sum(CAP_NAMES) == 0, "no name for capabilities %x" % caps
    args = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"]
    if names:
        args += ["--inh-caps=" + names, "--ambient-caps=" + names,
                 "--bounding-set=-all," + names]
    else:
        args += ["--inh-caps=-all", "--bounding-set=-all"]
    return args + ["--"]


def read_environ_as_peer(pid):
    """Runs cat /proc/PID/environ as PID's uid with PID's permitted capabilities and no other
    (so without CAP_SYS_PTRACE): the kernel's ptrace read check, as for /proc/PID/mem, lets it
    through unless PID is not dumpable. Returns (returncode, stderr)."""
    uid = int(status_field(pid, "Uid")[0])
    caps = int(status_field(pid, "CapPrm")[0], 16)
    r = subprocess.run(as_user(uid, caps) + ["cat", "/proc/%d/environ" % pid],
                       capture_output=True, timeout=10)
    return r.returncode, r.stderr.decode("utf-8", "replace")


def assert_hardened(pid, uid, what):
    assert status_field(pid, "Uid")[0] == str(uid), "%s (pid %d) runs as uid %s, not %d" % (
        what, pid, status_field(pid, "Uid")[0], uid)
    assert status_field(pid, "NoNewPrivs") == ["1"], "%s (pid %d): NoNewPrivs is not set" % (what, pid)
    assert core_limit(pid) == ("0", "0"), "%s (pid %d): core file size limit %r, not 0 0" % (
        what, pid, core_limit(pid))
    if uid == 0:
        return  # root with every capability: only CAP_SYS_PTRACE holders could look, and may
    # A process that is not dumpable has its /proc/PID files owned by root, not by its user
    # (the directory itself keeps the user) ...
    owner = os.stat("/proc/%d/status" % pid).st_uid
    assert owner == 0, "%s (pid %d) is dumpable: /proc/PID/status owned by uid %d" % (what, pid, owner)
    # ... and its memory closed to the other processes of that user.
    rc, err = read_environ_as_peer(pid)
    assert rc != 0 and "Permission denied" in err, \
        "%s (pid %d) is dumpable: a process of uid %d read its /proc/PID/environ" % (what, pid, uid)


def assert_method_can_fail():
    """The checks of assert_hardened do see a dumpable process: an unprivileged one started
    like portico under the systemd unit (uid nobody, ambient CAP_NET_BIND_SERVICE)."""
    control = subprocess.Popen(as_user(NOBODY, CAP_NET_BIND_SERVICE) + ["sleep", "30"])
    try:
        deadline = time.monotonic() + 5
        while status_field(control.pid, "Uid")[0] != str(NOBODY) or \
                not os.path.basename(os.readlink("/proc/%d/exe" % control.pid)).startswith("sleep"):
            assert time.monotonic() < deadline, "the control process did not start"
            time.sleep(0.01)
        assert os.stat("/proc/%d/status" % control.pid).st_uid == NOBODY
        rc, err = read_environ_as_peer(control.pid)
        assert rc == 0, "a dumpable process was not readable either: %s" % err
    finally:
        control.kill()
        control.wait()


def workers_of(portico, n, timeout=5.0):
    deadline = time.monotonic() + timeout * harness.SLOW
    while True:
        pids = portico.worker_pids()
        if len(pids) >= n or time.monotonic() > deadline:
            return pids
        time.sleep(0.02)


def wait_caps_dropped(pid):
    """A worker drops its capabilities (and hardens again) as it starts, maybe after ready."""
    deadline = time.monotonic() + 5 * harness.SLOW
    while int(status_field(pid, "CapEff")[0], 16) != 0:
        assert time.monotonic() < deadline, "worker %d kept capabilities" % pid
        time.sleep(0.02)


def reload_with_https(st, pki):
    """Rewrites the configuration to add the HTTPS listener on 443 (a new port below 1024),
    reloads, and checks that it serves."""
    with open(st.portico.config_path) as f:
        text = f.read()
    text = re.sub(r"(?m)^https_port = off$", "https_port = 443\ncertificate = %s\nkey = %s"
                  % (pki.public_pem, pki.public_key), text)
    with open(st.portico.config_path, "w") as f:
        f.write(text)
    harness.open_up(st.portico.config_path)
    n = len(st.portico.stderr_lines)
    st.portico.signal(signal.SIGHUP)
    assert st.portico.wait_stderr(r"reload done", timeout=10, start=n), st.portico.stderr()
    assert not st.portico.wait_stderr(r"reload refused|bind: ", timeout=0.1, start=n)
    st.proxy["https_port"] = 443
    with st.tls_client() as c:
        assert c.request().status == 200
    assert st.request().status == 200


def test_master_and_workers_as_root(make_stack):
    st = make_stack(workers=2)
    assert_hardened(st.portico.pid, 0, "the master")
    workers = workers_of(st.portico, 2)
    assert len(workers) == 2
    for w in workers:
        assert_hardened(w, 0, "a worker")
    assert st.request().status == 200


def test_user_drop_keeps_hardening_and_reload_binds_443(make_stack, pki, tmp_path):
    """setuid() resets the dumpable flag (to fs.suid_dumpable): portico sets it again after."""
    harness.open_up_all(pki, tmp_path)
    assert_method_can_fail()
    st = make_stack(user="nobody", workers=2)
    master = st.portico.pid
    assert int(status_field(master, "CapEff")[0], 16) == CAP_NET_BIND_SERVICE
    assert_hardened(master, NOBODY, "the master")
    for w in workers_of(st.portico, 2):
        wait_caps_dropped(w)
        assert_hardened(w, NOBODY, "a worker")
    assert st.request().status == 200
    # With no_new_privs and as nobody, the master's kept CAP_NET_BIND_SERVICE still binds 443.
    old = set(st.portico.worker_pids())
    reload_with_https(st, pki)
    assert int(status_field(master, "CapEff")[0], 16) == CAP_NET_BIND_SERVICE
    for w in set(workers_of(st.portico, 2)) - old:
        wait_caps_dropped(w)
        assert_hardened(w, NOBODY, "a worker of the new generation")


def test_started_unprivileged_like_the_systemd_unit(make_stack, pki, tmp_path):
    """User=portico with AmbientCapabilities=CAP_NET_BIND_SERVICE (packaging/portico.service):
    exec leaves such a process dumpable; portico makes itself not dumpable."""
    harness.open_up_all(pki, tmp_path)
    assert_method_can_fail()
    st = make_stack(workers=2, wrapper=as_user(NOBODY, CAP_NET_BIND_SERVICE))
    master = st.portico.pid
    assert int(status_field(master, "CapEff")[0], 16) == CAP_NET_BIND_SERVICE
    assert_hardened(master, NOBODY, "the master")
    for w in workers_of(st.portico, 2):
        wait_caps_dropped(w)
        assert_hardened(w, NOBODY, "a worker")
    reload_with_https(st, pki)


@pytest.mark.parametrize("mode", ["check", "run"])
def test_hardened_before_the_key_is_read(mode, pki, tmp_path):
    """The key is a FIFO: portico (-t, or the master starting), run like the systemd unit
    does, blocks reading it, and is already hardened then; the key written, it carries on."""
    harness.open_up_all(pki, tmp_path)
    net = harness.Net.alloc()
    p = None
    try:
        fifo = str(tmp_path / "public.key")
        os.mkfifo(fifo)
        os.chmod(fifo, 0o644)
        conf = harness.render_config(net, [harness.Pool("fe", [net.member(1)], harness.DEFAULT_NAMES)],
                                     str(tmp_path / "access.log"), pki, https_port=443,
                                     certificate=pki.public_pem, key=fifo)
        p = harness.Portico(str(tmp_path / "portico"), conf)
        p.args = (["-t"] if mode == "check" else []) + ["-c", p.config_path]
        p.wrapper = as_user(NOBODY, CAP_NET_BIND_SERVICE)
        harness.open_up(p.config_path)
        p.start(wait=False)
        # Once portico has the FIFO open for reading, a writer may open it; then portico waits
        # in read() for the key, which the kernel shows in /proc/PID/wchan.
        deadline = time.monotonic() + 10 * harness.SLOW
        wfd = None
        while wfd is None:
            try:
                wfd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                assert p.running(), "portico ended without reading the key: %s" % p.stderr()
                assert time.monotonic() < deadline, "portico never opened the key"
                time.sleep(0.02)
        try:
            while True:
                with open("/proc/%d/wchan" % p.pid) as f:
                    wchan = f.read()
                if "pipe_read" in wchan:
                    break
                assert time.monotonic() < deadline, "portico not reading the key (wchan %r)" % wchan
                time.sleep(0.02)
            assert_hardened(p.pid, NOBODY, "portico (%s), before reading the key" % mode)
            with open(pki.public_key, "rb") as f:
                key = f.read()
            os.set_blocking(wfd, True)
            os.write(wfd, key)
        finally:
            os.close(wfd)
        if mode == "check":
            p.proc.wait(30 * harness.SLOW)
            p._reader.join(5)
            assert p.proc.returncode == 0 and "configuration OK" in p.stderr(), p.stderr()
        else:
            p.wait_ready()
            for w in workers_of(p, harness.WORKERS):
                wait_caps_dropped(w)
                assert_hardened(w, NOBODY, "a worker")
            assert p.stop() == 0, p.stderr()
            rep = p.sanitizer_report()
            assert not rep, rep
    finally:
        if p is not None and p.running():
            p.stop()
        net.release()
