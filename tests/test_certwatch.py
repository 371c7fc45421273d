"""certificate_watch (issue 15, "Files watched"): the master looks at the listener certificate
and key files every 2 s and reloads by itself once a change has settled, with the checks of
SIGHUP: a new pair is served to new connections, a request in flight finishes on the old
workers, a pair that does not match is refused (logged) and the running certificate stays,
and certificate_watch = off leaves the files alone."""

import os
import shutil

import harness
from harness import Pool, unique

NAMES = harness.DEFAULT_NAMES
WAIT = 15  # seconds: two looks of 2 s, a reload, generous for a sanitized build


def watched_stack(make_stack, tmp_path, stem="public", **proxy):
    """HTTPS on 443 with a copy of the PKI's STEM pair that the test can overwrite."""
    pem, key = str(tmp_path / "listener.pem"), str(tmp_path / "listener.key")
    replace(make_stack.pki, stem, stem, pem, key)
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], NAMES, http="forward")]
    proxy.setdefault("https_port", 443)
    st = make_stack(net=net, pools=pools, certs=[(pem, key)], **proxy)
    return st, pem, key


def replace(pki, cert_stem, key_stem, pem, key):
    """Writes the pair as certbot does: a new file renamed over the old one."""
    for src, dst in ((pki.pair(cert_stem)[0], pem), (pki.pair(key_stem)[1], key)):
        shutil.copyfile(src, dst + ".new")
        os.replace(dst + ".new", dst)


def served(st, pki):
    with st.tls_client("webext.contoso.com") as c:
        return pki.which(c.peer_der)


def test_replaced_pair_is_served_without_sighup(make_stack, tmp_path, pki):
    st, pem, key = watched_stack(make_stack, tmp_path)
    assert served(st, pki) == "public"
    # A long poll in flight across the change: the old workers finish it.
    slow = st.tls_client("webext.contoso.com")
    slow.send(harness.build_request("GET", "/longpoll?secs=4&t=%s" % unique(), "webext.contoso.com",
                                    (), None, "HTTP/1.1"))
    mark = len(st.portico.stderr_lines)
    replace(pki, "exact", "exact", pem, key)
    assert st.portico.wait_stderr(r"certificate_watch: .*listener\.(pem|key) changed", timeout=WAIT,
                                  start=mark), st.portico.stderr()
    assert st.portico.wait_stderr(r"reload done", timeout=WAIT, start=mark), st.portico.stderr()
    assert served(st, pki) == "exact"
    r = slow.read_response("GET")
    assert r.status == 200, r
    slow.close()
    # One change, one reload: nothing more happens while the files stay as they are.
    later = len(st.portico.stderr_lines)
    assert not st.portico.wait_stderr(r"reloading", timeout=5, start=later), st.portico.stderr()


def test_mismatched_pair_refused_old_certificate_kept(make_stack, tmp_path, pki):
    st, pem, key = watched_stack(make_stack, tmp_path)
    mark = len(st.portico.stderr_lines)
    replace(pki, "exact", "fabrikam", pem, key)  # a key of another certificate
    assert st.portico.wait_stderr(r"reload refused", timeout=WAIT, start=mark), st.portico.stderr()
    assert served(st, pki) == "public"
    with st.tls_client("webext.contoso.com") as c:
        assert c.request().status == 200
    # Fixed afterwards: the watcher notices the next change and the good pair is served.
    mark = len(st.portico.stderr_lines)
    replace(pki, "exact", "exact", pem, key)
    assert st.portico.wait_stderr(r"reload done", timeout=WAIT, start=mark), st.portico.stderr()
    assert served(st, pki) == "exact"


def test_watch_off_leaves_files_alone(make_stack, tmp_path, pki):
    st, pem, key = watched_stack(make_stack, tmp_path, certificate_watch="off")
    mark = len(st.portico.stderr_lines)
    replace(pki, "exact", "exact", pem, key)
    assert not st.portico.wait_stderr(r"certificate_watch|reloading", timeout=5, start=mark), \
        st.portico.stderr()
    assert served(st, pki) == "public"
