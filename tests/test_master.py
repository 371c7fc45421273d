"""The master process (src/core/master.c, src/core/daemon.c): worker count, reload when the
new workers cannot start, and the groups kept by `user`.

- `workers` above the cap (256) is clamped in one place, the same way at start-up and on
  reload (the same warning), before any socket is opened: every listening socket the master
  holds has a worker accepting on it, and every connection is answered.
- A reload whose new workers cannot all be forked (fork failing with EAGAIN: the test puts
  the master in a pids cgroup whose pids.max it lowers) is refused: the error says why, the
  old configuration and the very same old workers keep serving, the workers forked for it are
  killed and reaped (the cgroup's pids.current comes back down) and the sockets opened for it
  closed; a later reload, with room again, works. A worker that dies while no process can be
  forked is restarted once one can.
- `user = NAME` keeps NAME's primary group only: /proc/PID/status shows no supplementary
  group in the master or the workers, and `portico -t` checks the files with that group
  alone. NAME with supplementary groups comes from a passwd and group file of the test's own,
  bind-mounted over /etc/passwd and /etc/group in a private mount namespace around portico
  (unshare), so nothing of the host's user database is touched.

No sleep is used as synchronisation: reloads are waited for by their log lines; what has no
signal (an old worker's exit, a cgroup's count) is polled for with a bound.
"""

import os
import re
import signal
import subprocess
import time

import pytest

import harness
from harness import SLOW, Pool, Stack

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ports 80, cgroups, user)")

CAP = 256                     # MAX_WORKERS in src/core/master.c
OVER_CAP = 1000
CLAMP_LINE = r"workers = %d: more than %d, starting %d worker processes" % (OVER_CAP, CAP, CAP)
VERDICT = r"reload (done|refused)|cannot start new workers"


# ---------------------------------------------------------------------------------------------
# Helpers: sockets of a process, waiting for a process set, rewriting the configuration.

def listening_inodes(pid):
    """Inodes of the TCP sockets in LISTEN state that PID holds (from /proc/net/tcp{,6})."""
    listening = set()
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(fn) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A":
                        listening.add(int(parts[9]))
        except OSError:
            pass
    return harness.socket_inodes(pid) & listening


def assert_every_listener_has_an_acceptor(p):
    """Every listening socket of the master is held by a worker (an old one that stopped
    accepting has closed its listeners, so holding one means accepting on it)."""
    mine = listening_inodes(p.pid)
    held = set()
    for w in p.worker_pids():
        held |= listening_inodes(w)
    orphans = mine - held
    assert not orphans, "%d of the master's %d listening sockets have no worker (%d workers)" % (
        len(orphans), len(mine), len(p.worker_pids()))
    return mine


def wait_gone(p, pids, timeout=10.0):
    """Waits until none of PIDS is a child of the master any more (old workers exit once they
    have finished; nothing signals that)."""
    deadline = time.monotonic() + timeout * SLOW
    while set(pids) & set(p.worker_pids()):
        assert time.monotonic() < deadline, "old workers %s still running:\n%s" % (
            sorted(set(pids) & set(p.worker_pids())), p.stderr())
        time.sleep(0.05)


def wait_workers(p, n, timeout=10.0):
    deadline = time.monotonic() + timeout * SLOW
    while len(p.worker_pids()) < n:
        assert time.monotonic() < deadline, "%d workers, not %d" % (len(p.worker_pids()), n)
        time.sleep(0.02)
    return p.worker_pids()


def rewrite(st, **keys):
    """Sets KEY = VALUE lines of [proxy] in the configuration (replacing or adding them)."""
    with open(st.portico.config_path) as f:
        text = f.read()
    for k, v in keys.items():
        text, n = re.subn(r"(?m)^%s = .*$" % k, "%s = %s" % (k, v), text)
        if not n:
            text = text.replace("[proxy]\n", "[proxy]\n%s = %s\n" % (k, v), 1)
    with open(st.portico.config_path, "w") as f:
        f.write(text)


def publish_also(st, name):
    with open(st.portico.config_path) as f:
        text = f.read()
    with open(st.portico.config_path, "w") as f:
        f.write(text.replace("publish = ", "publish = %s " % name, 1))


def hup(st, pattern=VERDICT, timeout=20.0):
    """SIGHUP; returns the reload's log lines up to and including its verdict."""
    n = len(st.portico.stderr_lines)
    st.portico.signal(signal.SIGHUP)
    assert st.portico.wait_stderr(pattern, timeout=timeout, start=n), \
        "no verdict after SIGHUP:\n" + "\n".join(st.portico.stderr_lines[n:])
    return st.portico.stderr_lines[n:]


def answered(st, n=32, host="webext.contoso.com", timeout=3.0):
    """Opens N connections at once (so that the kernel spreads them over the sockets by their
    ports), then sends a request on each: the statuses, or the exceptions of the unanswered."""
    conns, out = [], []
    try:
        for _ in range(n):
            conns.append(st.client(timeout=timeout * SLOW))
        for c in conns:
            c.send(harness.build_request("GET", "/echo", host))
        for c in conns:
            try:
                out.append(c.read_response().status)
            except (OSError, EOFError, harness.ProtocolError) as e:
                out.append(repr(e))
    finally:
        for c in conns:
            c.close()
    return out


# ---------------------------------------------------------------------------------------------
# 7. `workers` above the cap.

def test_reload_over_the_worker_cap_serves_on_every_listener(make_stack):
    st = make_stack()
    p = st.portico
    old = wait_workers(p, harness.WORKERS)
    rewrite(st, workers=OVER_CAP)
    lines = hup(st)
    assert any(re.search(r"reload done: %d worker\(s\)" % CAP, l) for l in lines), "\n".join(lines)
    wait_gone(p, old)
    workers = p.worker_pids()
    assert len(workers) == CAP, "%d workers after the reload, not %d" % (len(workers), CAP)
    mine = assert_every_listener_has_an_acceptor(p)
    assert len(mine) == CAP, "the master holds %d listening sockets for %d workers" % (len(mine), CAP)
    statuses = answered(st)
    assert statuses == [200] * len(statuses), statuses
    # The same clamp and the same line as at start-up (test below), logged by the reload.
    assert any(re.search(CLAMP_LINE, l) for l in lines), "\n".join(lines)


def test_over_the_worker_cap_start_and_reload_clamp_alike(make_stack):
    st = make_stack(workers=OVER_CAP)
    p = st.portico
    start_lines = list(p.stderr_lines)
    old = wait_workers(p, CAP)
    assert len(old) == CAP
    before = assert_every_listener_has_an_acceptor(p)
    # The same configuration again: a reload must open no socket that start-up did not.
    lines = hup(st)
    assert any(re.search(r"reload done: %d worker\(s\)" % CAP, l) for l in lines), "\n".join(lines)
    wait_gone(p, old)
    after = assert_every_listener_has_an_acceptor(p)
    assert after == before, "the reload of the same configuration opened %d more sockets" % (
        len(after - before))
    assert len(p.worker_pids()) == CAP
    statuses = answered(st)
    assert statuses == [200] * len(statuses), statuses
    at_start = [re.search(CLAMP_LINE, l) for l in start_lines]
    at_reload = [re.search(CLAMP_LINE, l) for l in lines]
    assert any(at_start), "start-up did not log the clamp:\n" + "\n".join(start_lines)
    assert any(at_reload), "the reload did not log the clamp:\n" + "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# 8. A reload whose workers cannot be forked.

class PidsCgroup:
    """A pids cgroup of the test's own (v1 hierarchy, or v2 where the pids controller is
    available), to make fork() in the master fail with EAGAIN."""

    def __init__(self):
        self.path = None
        self.root = None
        name = "portico-test-%d-%d" % (os.getpid(), int(time.monotonic() * 1000) % 100000)
        for root in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
            try:
                os.mkdir(os.path.join(root, name))
            except OSError:
                continue
            path = os.path.join(root, name)
            if os.path.exists(os.path.join(path, "pids.max")):
                self.path, self.root = path, root
                return
            os.rmdir(path)

    def write(self, what, value):
        with open(os.path.join(self.path, what), "w") as f:
            f.write(str(value))

    def read(self, what):
        with open(os.path.join(self.path, what)) as f:
            return f.read().strip()

    def current(self):
        return int(self.read("pids.current"))

    def procs(self):
        return [int(x) for x in self.read("cgroup.procs").split()]

    def remove(self):
        if not self.path:
            return
        try:
            self.write("pids.max", "max")
            for pid in self.procs():
                try:
                    with open(os.path.join(self.root, "cgroup.procs"), "w") as f:
                        f.write(str(pid))
                except OSError:
                    pass    # exited meanwhile
            deadline = time.monotonic() + 10
            while True:
                try:
                    os.rmdir(self.path)
                    return
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            self.path = None


@pytest.fixture
def pids_cgroup():
    cg = PidsCgroup()
    if not cg.path:
        pytest.skip("no writable pids cgroup (v1 /sys/fs/cgroup/pids or v2 with pids)")
    yield cg
    cg.remove()


def confine(cg, master, forks_allowed):
    """Moves the master (only it: the workers stay where they are) into CG and lets it have
    FORKS_ALLOWED more processes. Returns the count with none."""
    cg.write("cgroup.procs", master)
    base = cg.current()
    cg.write("pids.max", base + forks_allowed)
    return base


@pytest.mark.parametrize("forks_allowed", [0, 1])
def test_reload_whose_workers_cannot_fork_keeps_the_old_generation(make_stack, pids_cgroup,
                                                                   forks_allowed):
    """FORKS_ALLOWED 0: the first fork fails. 1: the first new worker is forked, the second
    fork fails; that worker must be killed and reaped, not left to serve or linger."""
    st = make_stack()
    p = st.portico
    old = sorted(wait_workers(p, harness.WORKERS))
    old_socks = assert_every_listener_has_an_acceptor(p)
    base = confine(pids_cgroup, p.pid, forks_allowed)
    new_workers = harness.WORKERS + 2
    rewrite(st, workers=new_workers)
    publish_also(st, "fresh.contoso.com")
    lines = hup(st)
    text = "\n".join(lines)
    # The old generation goes on, the same processes, on the old configuration ...
    assert sorted(p.worker_pids()) == old, "the old workers %s were replaced by %s:\n%s" % (
        old, sorted(p.worker_pids()), text)
    assert pids_cgroup.current() == base, \
        "%d process(es) forked for the refused reload still exist" % (pids_cgroup.current() - base)
    statuses = answered(st, 16)
    assert statuses == [200] * 16, statuses
    assert st.request("GET", "/echo", "fresh.contoso.com").status == 404, \
        "the refused configuration is active"
    # ... on the old sockets only (those opened for the refused one are closed) ...
    assert assert_every_listener_has_an_acceptor(p) == old_socks
    # ... and the reload says it was refused and why.
    assert re.search(r"reload refused: cannot start the new workers \(worker %d of %d: fork: "
                     r"Resource temporarily unavailable\)" % (forks_allowed + 1, new_workers), text), text
    assert "reload done" not in text
    # With room again, the same reload works.
    pids_cgroup.write("pids.max", "max")
    lines = hup(st)
    assert any("reload done: %d worker(s)" % new_workers in l for l in lines), "\n".join(lines)
    wait_gone(p, old)
    assert len(p.worker_pids()) == new_workers
    assert not set(p.worker_pids()) & set(old)
    assert_every_listener_has_an_acceptor(p)
    assert st.request("GET", "/echo", "fresh.contoso.com").status == 200


def test_worker_restarted_once_a_process_can_be_forked(tmp_path, pki, pids_cgroup):
    """A worker killed while the master cannot fork is restarted as soon as it can, so that
    its sockets do not stay without an acceptor. Not through make_stack: the "died" line that
    it rejects is what this test causes."""
    st = Stack(str(tmp_path / "stack"), pki)
    try:
        st.start()
        p = st.portico
        workers = wait_workers(p, harness.WORKERS)
        base = confine(pids_cgroup, p.pid, 0)
        os.kill(workers[0], signal.SIGKILL)
        assert p.wait_stderr(r"worker \d+: cannot restart it: fork: Resource temporarily "
                             r"unavailable; trying again", timeout=10), p.stderr()
        assert pids_cgroup.current() == base
        pids_cgroup.write("pids.max", "max")
        deadline = time.monotonic() + 10 * SLOW
        while len(p.worker_pids()) < harness.WORKERS:
            assert time.monotonic() < deadline, "the worker was never restarted:\n" + p.stderr()
            time.sleep(0.05)
        assert_every_listener_has_an_acceptor(p)
        statuses = answered(st, 16)
        assert statuses == [200] * 16, statuses
    finally:
        rc = st.stop()
    assert rc == 0, st.portico.stderr()
    rep = st.portico.sanitizer_report()
    assert not rep, rep


# ---------------------------------------------------------------------------------------------
# `user`: the primary group only.

TEST_USER = "portico-groups"


def free_id(taken, start):
    n = start
    while n in taken:
        n += 1
    return n


class UserDb:
    """A passwd and a group file: the host's, plus TEST_USER with a primary group and two
    supplementary ones; .wrapper runs a command with them over /etc/passwd and /etc/group."""

    def __init__(self, d):
        with open("/etc/passwd") as f:
            passwd = f.read()
        with open("/etc/group") as f:
            group = f.read()
        uids = {int(l.split(":")[2]) for l in passwd.splitlines() if l.count(":") >= 6}
        gids = {int(l.split(":")[2]) for l in group.splitlines() if l.count(":") >= 3}
        self.uid = free_id(uids, 64200)
        self.gid = free_id(gids, 64200)
        self.supp = [free_id(gids | {self.gid}, self.gid + 1)]
        self.supp.append(free_id(gids | {self.gid, self.supp[0]}, self.supp[0] + 1))
        self.passwd = os.path.join(d, "passwd")
        self.group = os.path.join(d, "group")
        with open(self.passwd, "w") as f:
            f.write(passwd.rstrip("\n") + "\n%s:x:%d:%d::/nonexistent:/usr/sbin/nologin\n"
                    % (TEST_USER, self.uid, self.gid))
        with open(self.group, "w") as f:
            f.write(group.rstrip("\n") + "\n%s:x:%d:\n" % (TEST_USER, self.gid))
            for i, g in enumerate(self.supp):
                f.write("%s-extra%d:x:%d:%s\n" % (TEST_USER, i, g, TEST_USER))
        for fn in (self.passwd, self.group):
            os.chmod(fn, 0o644)
        self.wrapper = ["unshare", "--mount", "--", "sh", "-c",
                        'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && '
                        'shift 2 && exec "$@"', "sh", self.passwd, self.group]

    def check(self):
        """The database works in the namespace: `id` sees the supplementary groups."""
        r = subprocess.run(self.wrapper + ["id", "-G", TEST_USER], capture_output=True, text=True,
                           timeout=10)
        if r.returncode:
            pytest.skip("cannot run with a private user database (unshare, mount): %s" % r.stderr)
        assert sorted(int(g) for g in r.stdout.split()) == sorted([self.gid] + self.supp), r.stdout


def groups_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Groups:"):
                return [int(g) for g in line.split()[1:]]
    return None


def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


@pytest.mark.parametrize("who", ["nobody", "with-supplementary-groups"])
def test_user_keeps_only_the_primary_group(make_stack, pki, tmp_path, who):
    harness.open_up_all(pki, tmp_path)
    if who == "nobody":
        user, uid, gid, wrapper = "nobody", 65534, 65534, None
    else:
        db = UserDb(str(tmp_path))
        db.check()
        user, uid, gid, wrapper = TEST_USER, db.uid, db.gid, db.wrapper
    st = make_stack(user=user, wrapper=wrapper, access_log="off")
    p = st.portico
    workers = wait_workers(p, harness.WORKERS)
    for pid, what in [(p.pid, "the master")] + [(w, "a worker") for w in workers]:
        assert uid_of(pid) == uid, "%s (pid %d) runs as uid %d" % (what, pid, uid_of(pid))
        assert set(groups_of(pid)) <= {gid}, "%s (pid %d) has the groups %s, not just %d" % (
            what, pid, groups_of(pid), gid)
    assert st.request().status == 200
    assert p.wait_stderr(r"running as %s \(uid %d, gid %d, no supplementary group\)"
                         % (re.escape(user), uid, gid)), p.stderr()


def test_check_reads_files_with_the_primary_group_only(pki, tmp_path):
    """-t agrees with what runs: a `ca` file readable by one of the user's supplementary
    groups only is reported; group-readable by its primary group, it passes."""
    db = UserDb(str(tmp_path))
    db.check()
    ca = str(tmp_path / "ca.pem")
    with open(pki.ca_pem, "rb") as src, open(ca, "wb") as dst:
        dst.write(src.read())
    os.chown(ca, 0, db.supp[0])
    os.chmod(ca, 0o640)
    harness.open_up_all(pki, tmp_path)
    os.chmod(ca, 0o640)
    net = harness.Net.alloc()
    try:
        conf = str(tmp_path / "check.conf")
        with open(conf, "w") as f:
            f.write(harness.render_config(net, [Pool("fe", [net.member(1)], harness.DEFAULT_NAMES,
                                                     ca=ca)], "off", pki, user=TEST_USER))
        harness.open_up(conf)

        def check():
            return subprocess.run(db.wrapper + [harness.PORTICO_BIN, "-t", "-c", conf],
                                  capture_output=True, text=True, timeout=30 * SLOW)

        r = check()
        assert r.returncode == 1, "readable through a supplementary group only, yet:\n" + r.stderr
        assert re.search(r"check\.conf:\d+: ca '%s' is not readable by user '%s'$"
                         % (re.escape(ca), TEST_USER), r.stderr, re.M), r.stderr
        os.chown(ca, 0, db.gid)
        r = check()
        assert r.returncode == 0 and "configuration OK" in r.stderr, r.stderr
    finally:
        net.release()
