"""Fixtures for portico's black-box tests (see harness.py for the pieces).

  pki           session: an internal CA, the pools' certificate, the public certificate
  make_stack    factory: make_stack(**kw) -> harness.Stack started (mock + portico); every stack
                is stopped at teardown with SIGTERM, which must exit 0 without sanitizer reports
                and without a worker having died (crashed and restarted) during the test
  stack         make_stack() with the defaults
Every test runs under an alarm (harness.TEST_TIMEOUT s) so a hung proxy fails the test instead
of hanging the suite.
"""

import os
import re
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402


# the master's line when a worker exits unexpectedly (master.c): never acceptable in a test
WORKER_DIED = re.compile(r"worker \d+ \(pid \d+\) died")


class TestTimeout(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    def on_alarm(signum, frame):
        raise TestTimeout("test exceeded %d s (alarm guard in conftest.py)" % harness.TEST_TIMEOUT)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(harness.TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def pytest_report_header(config):
    return "portico: bin=%s workers=%d sanitized=%s" % (harness.PORTICO_BIN, harness.WORKERS,
                                                       harness.SANITIZED)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return harness.PKI(str(tmp_path_factory.mktemp("pki"))).generate()


def _stop_all(stacks):
    problems = []
    for st in reversed(stacks):
        running = st.portico.running()
        rc = st.stop()
        if running and rc != 0:
            problems.append("portico (%s) exit status %r after SIGTERM (expected 0); stderr tail:\n%s"
                            % (st.dir, rc, "\n".join(st.portico.stderr_lines[-30:])))
        rep = st.portico.sanitizer_report()
        if rep:
            problems.append("sanitizer report from portico (%s):\n%s" % (st.dir, rep[-6000:]))
        died = [l for l in st.portico.stderr_lines if WORKER_DIED.search(l)]
        if died:
            problems.append("portico (%s): a worker died during the test:\n%s" % (st.dir, "\n".join(died)))
    return problems


@pytest.fixture
def make_stack(tmp_path, pki):
    stacks = []

    def make(**kw):
        st = harness.Stack(str(tmp_path / ("stack%d" % len(stacks))), pki, **kw)
        stacks.append(st)
        st.start()
        return st

    make.pki = pki
    yield make
    problems = _stop_all(stacks)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def stack(make_stack):
    return make_stack()


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory, pki):
    """One default stack shared by a whole module (for many cheap cases)."""
    st = harness.Stack(str(tmp_path_factory.mktemp("modstack")), pki)
    st.start()
    yield st
    problems = _stop_all([st])
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
