"""nslib.py — network namespaces, veth pairs, bridges and processes for portico's namespace
tests (tests/test_netns.py), with cleanup that leaves nothing behind.

Everything a Lab creates lives inside namespaces it created itself, named
"pct-<pid>-<tag>-<role>" (pct: portico test; pid: the test process): the veth pairs are
created directly in their namespaces (`ip -n A link add X type veth peer name Y netns B`), so
no interface ever appears in the host's own namespace, and deleting the namespaces removes
every veth and bridge with them. Lab.close() stops the processes it started (SIGTERM, then
SIGKILL), kills whatever still runs inside its namespaces (only processes that can be there
because this Lab started them), deletes the namespaces and checks that they are gone.
sweep_stale() removes what a killed earlier run (SIGKILL of pytest: no teardown) left: the
"pct-<pid>-" namespaces whose pid no longer runs.

Processes run as `ip netns exec NS ARGS`, which execs ARGS in place (no fork), so the pid
Popen returns is the program's own; each gets PR_SET_PDEATHSIG (SIGTERM when the test
process dies).

Needs root, iproute2 (ip netns), and for some tests nftables and keepalived.
"""

import ctypes
import os
import re
import signal
import subprocess
import time

IP = "ip"
NS_RE = re.compile(r"^pct-(\d+)-")

try:
    _libc = ctypes.CDLL(None, use_errno=True)
except Exception:  # pragma: no cover
    _libc = None


def _die_with_parent():
    if _libc is not None:
        _libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)     # PR_SET_PDEATHSIG


class CmdError(RuntimeError):
    pass


def run(*args, check=True, timeout=15, input=None):
    """Runs a command to completion; returns CompletedProcess (text). check: raise on failure."""
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                       stdin=None if input is not None else subprocess.DEVNULL, input=input)
    if check and r.returncode != 0:
        raise CmdError("%s: exit %d: %s%s" % (" ".join(str(a) for a in args), r.returncode,
                                               r.stderr.strip(), r.stdout.strip()))
    return r


def netns_list():
    r = run(IP, "netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def netns_available():
    """(True, "") if this process can create network namespaces, else (False, reason)."""
    if os.geteuid() != 0:
        return False, "needs root (creates network namespaces, veth pairs, nftables rules)"
    probe = "pct-%d-probe" % os.getpid()
    try:
        r = run(IP, "netns", "add", probe, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        return False, "`ip netns` unavailable: %s" % e
    if r.returncode != 0:
        return False, "`ip netns add` failed: %s" % r.stderr.strip()
    try:
        r = run(IP, "-n", probe, "link", "set", "lo", "up", check=False)
        if r.returncode != 0:
            return False, "`ip -n NS link` failed: %s" % r.stderr.strip()
        return True, ""
    finally:
        run(IP, "netns", "del", probe, check=False)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ns_pids(name):
    r = run(IP, "netns", "pids", name, check=False)
    return [int(p) for p in r.stdout.split() if p.isdigit()]


def _kill_pids(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except OSError:
            pass


def destroy_netns(name, grace=3.0):
    """Kills what runs inside namespace name (SIGTERM, then SIGKILL after grace seconds) and
    deletes it. Returns a list of problems (empty when all went well)."""
    problems = []
    pids = ns_pids(name)
    if pids:
        _kill_pids(pids, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
            time.sleep(0.05)
        left = [p for p in ns_pids(name)]
        if left:
            _kill_pids(left, signal.SIGKILL)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and ns_pids(name):
                time.sleep(0.05)
    r = run(IP, "netns", "del", name, check=False)
    if r.returncode != 0 and name in netns_list():
        problems.append("ip netns del %s: %s" % (name, r.stderr.strip()))
    return problems


def sweep_stale():
    """Deletes the pct-<pid>-* namespaces of test processes that no longer run (a run killed
    before its teardown). Returns their names."""
    gone = []
    for name in netns_list():
        m = NS_RE.match(name)
        if m and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
            destroy_netns(name, grace=1.0)
            gone.append(name)
    return gone


class Netns:
    def __init__(self, lab, name):
        self.lab = lab
        self.name = name

    def __repr__(self):
        return "<netns %s>" % self.name

    def ip(self, *args, check=True):
        return run(IP, "-n", self.name, *args, check=check)

    def exec(self, *args, check=True, timeout=15, input=None):
        return run(IP, "netns", "exec", self.name, *args, check=check, timeout=timeout, input=input)

    def sysctl(self, key, value):
        path = "/proc/sys/" + key.replace(".", "/")
        self.exec("sh", "-c", 'echo "$1" > "$2"', "sh", str(value), path)

    def addr(self, dev, cidr):
        self.ip("addr", "add", cidr, "dev", dev)

    def has_addr(self, ip, dev=None):
        args = ["-4", "-o", "addr", "show"] + (["dev", dev] if dev else [])
        r = self.ip(*args, check=False)
        return any(f.split("/")[0] == ip for line in r.stdout.splitlines() for f in line.split()
                   if "/" in f)

    def route(self, *spec):
        self.ip("route", "add", *spec)

    def bridge(self, name, cidr=None):
        self.ip("link", "add", name, "type", "bridge")
        # no STP, no forwarding delay: ports forward at once
        self.ip("link", "set", name, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        if cidr:
            self.addr(name, cidr)
        self.ip("link", "set", name, "up")

    def enslave(self, dev, bridge):
        self.ip("link", "set", dev, "master", bridge)

    def popen(self, args, name, workdir, ready=None, ready_stream="stderr", timeout=10.0, env=None):
        return self.lab.start(self, args, name, workdir, ready, ready_stream, timeout, env)

    def pids(self):
        return ns_pids(self.name)


class Proc:
    """A process started in a namespace; stdout and stderr go to files under workdir."""

    def __init__(self, ns, args, name, workdir, env=None):
        self.ns = ns
        self.args = [str(a) for a in args]
        self.name = name
        self.out_path = os.path.join(workdir, name + ".stdout")
        self.err_path = os.path.join(workdir, name + ".stderr")
        self.popen = subprocess.Popen([IP, "netns", "exec", ns.name] + self.args,
                                      stdin=subprocess.DEVNULL, stdout=open(self.out_path, "wb"),
                                      stderr=open(self.err_path, "wb"), preexec_fn=_die_with_parent,
                                      env=env)

    @property
    def pid(self):
        return self.popen.pid

    def running(self):
        return self.popen.poll() is None

    def text(self, stream="stderr"):
        try:
            with open(self.err_path if stream == "stderr" else self.out_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern, stream="stderr", timeout=10.0, start=0):
        """Waits until the stream matches the regular expression pattern (from character start
        on); returns the match. Raises with the output if the process exits or time runs out."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.text(stream), start)
            if m:
                return m
            if not self.running():
                raise RuntimeError("%s exited (status %s) before /%s/; stderr:\n%s\nstdout:\n%s"
                                   % (self.name, self.popen.returncode, pattern,
                                      self.text()[-3000:], self.text("stdout")[-3000:]))
            if time.monotonic() > deadline:
                raise RuntimeError("%s: no /%s/ within %.1f s; stderr:\n%s\nstdout:\n%s"
                                   % (self.name, pattern, timeout, self.text()[-3000:],
                                      self.text("stdout")[-3000:]))
            time.sleep(0.02)

    def descendants(self):
        """PIDs of every descendant (workers, keepalived's children), from /proc."""
        parents = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    rest = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(rest[1]), []).append(int(d))
        out, todo = [], [self.pid]
        while todo:
            for c in parents.get(todo.pop(), []):
                out.append(c)
                todo.append(c)
        return out

    def send(self, sig):
        if self.running():
            self.popen.send_signal(sig)

    def kill_tree(self, sig=signal.SIGKILL):
        """sig (default SIGKILL) to the process and all its descendants (see kill_trees)."""
        return kill_trees([self], sig)

    def wait(self, timeout):
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=5.0):
        """SIGTERM, wait up to timeout, then SIGKILL the whole tree. Returns the exit status
        (None if it had to be killed)."""
        if self.popen.poll() is not None:
            return self.popen.returncode
        self.popen.send_signal(signal.SIGTERM)
        rc = self.wait(timeout)
        if rc is None:
            self.kill_tree(signal.SIGKILL)
            self.popen.wait(5)
        return rc


def kill_trees(procs, sig=signal.SIGKILL):
    """sig to each Proc of procs and all their descendants at once. For SIGKILL every process
    of every tree is stopped (SIGSTOP) first, so that none of them can react to another's death
    (keepalived's VRRP child gets SIGTERM when its parent dies, and would say goodbye and remove
    the address: not the hard failure wanted). Returns the pids signalled."""
    def tree():
        out = []
        for p in procs:
            if p.running():
                out += [p.pid] + p.descendants()
        return out

    pids = tree()
    if sig == signal.SIGKILL:
        _kill_pids(pids, signal.SIGSTOP)
        more = [p for p in tree() if p not in pids]         # forked meanwhile
        _kill_pids(more, signal.SIGSTOP)
        pids += more
    _kill_pids(pids, sig)
    return pids


class Lab:
    """A set of namespaces and processes, all removed by close() (use it as a context manager
    or from a fixture's finally)."""

    def __init__(self, tag, workdir):
        self.prefix = "pct-%d-%s-" % (os.getpid(), tag)
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.namespaces = []
        self.procs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def ns(self, role):
        ns = Netns(self, self.prefix + role)
        run(IP, "netns", "add", ns.name)
        self.namespaces.append(ns)
        ns.ip("link", "set", "lo", "up")
        return ns

    def veth(self, a, a_if, b, b_if, a_cidr=None, b_cidr=None):
        """A veth pair between namespaces a (end a_if) and b (end b_if), both up."""
        a.ip("link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b.name)
        if a_cidr:
            a.addr(a_if, a_cidr)
        if b_cidr:
            b.addr(b_if, b_cidr)
        a.ip("link", "set", a_if, "up")
        b.ip("link", "set", b_if, "up")

    def start(self, ns, args, name, workdir=None, ready=None, ready_stream="stderr", timeout=10.0,
              env=None):
        p = Proc(ns, args, name, workdir or self.workdir, env)
        self.procs.append(p)
        if ready:
            p.wait_for(ready, ready_stream, timeout)
        return p

    def close(self):
        """Stops every process, deletes every namespace; returns a list of problems (also
        raised as RuntimeError after everything was attempted)."""
        problems = []
        for p in reversed(self.procs):
            try:
                p.stop(3.0)
            except Exception as e:  # keep going: the namespaces must go whatever happens
                problems.append("stopping %s: %s" % (p.name, e))
        self.procs = []
        for ns in reversed(self.namespaces):
            try:
                problems += destroy_netns(ns.name)
            except Exception as e:
                problems.append("deleting %s: %s" % (ns.name, e))
        left = [n for n in netns_list() if n.startswith(self.prefix)]
        if left:
            problems.append("namespaces left behind: %s" % left)
        self.namespaces = []
        return problems
