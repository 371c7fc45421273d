"""ACME renewal information (RFC 9773; issue 15, docs/certificates.md#when).

Debian's pebble (2.4) has no renewalInfo: a small HTTPS front on loopback (with pebble's own TLS
certificate, so that [acme] ca trusts it) serves pebble's directory with a renewalInfo URL added
and answers the renewal information itself; everything else goes to pebble as before. Cases: a
window in the past (the CA asks for an early renewal) renews at once, the new order names the
certificate it replaces, and the new certificate's window (in the future) sets the next order;
a CA whose renewal information fails (HTTP 500, a window that ends before it starts) leaves the
lifetime rule in force and says so; a CA that answers alreadyReplaced gets the order again
without `replaces`.
"""
import base64
import json
import re
import ssl
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import harness
from test_acme import (NAMES, WAIT, acme_stack, file_der, not_after, pebble,  # noqa: F401
                       restart, wait_acme_status)

DAY = 86400


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class AriFront:
    """pebble's directory plus renewalInfo; ANSWER(id, n) gives (status, body, headers) for the
    n-th renewal information request (n from 0), whose ids are kept in .ids."""

    def __init__(self, pebble, answer):
        self.pebble, self.answer, self.ids = pebble, answer, []
        self.intercept_orders = False  # newOrder to the front: answered alreadyReplaced, then 403
        self.orders = []                # the payloads of the newOrder requests it answered
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path == "/dir":
                    ctx = ssl.create_default_context(cafile=front.pebble.ca)
                    with urllib.request.urlopen(front.pebble.url, context=ctx, timeout=5) as r:
                        d = json.loads(r.read())
                    d["renewalInfo"] = front.base + "/renewalInfo/"  # the trailing / is cut
                    if front.intercept_orders:
                        d["newOrder"] = front.base + "/newOrder"
                    return self.reply(200, json.dumps(d).encode(), {})
                m = re.fullmatch(r"/renewalInfo/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)", self.path)
                if not m:
                    return self.reply(404, b"{}", {})
                front.ids.append(m.group(1))
                status, body, headers = front.answer(m.group(1), len(front.ids) - 1)
                self.reply(status, body.encode(), headers)

            def do_POST(self):
                jws = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                pl = jws["payload"]
                front.orders.append(json.loads(base64.urlsafe_b64decode(pl + "=" * (-len(pl) % 4))))
                kind, status = ("alreadyReplaced", 409) if "replaces" in front.orders[-1] else \
                    ("unauthorized", 403)
                self.reply(status, json.dumps({"type": "urn:ietf:params:acme:error:" + kind,
                                               "detail": "test front"}).encode(), {})

            def reply(self, status, body, headers):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        d = pebble.dir
        ctx.load_cert_chain(d + "/pebble.pem", d + "/pebble.key")
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.base = "https://127.0.0.1:%d" % self.srv.server_address[1]
        self.url = self.base + "/dir"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def window(start, end, retry_after=None):
    body = json.dumps({"suggestedWindow": {"start": rfc3339(start), "end": rfc3339(end)},
                       "explanationURL": "https://ca.example/why"})
    return 200, body, {"Retry-After": retry_after} if retry_after else {}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def serial_part(hexserial):
    """The serial's part of a certificate identifier (RFC 9773 §4.1): its DER content octets."""
    n = int(hexserial, 16)
    raw = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big")  # the sign bit kept clear
    return b64url(raw)


def ari_id(path):
    """The certificate identifier of the leaf in PATH, from openssl's own reading of it."""
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-serial", "-ext",
                          "authorityKeyIdentifier"], capture_output=True, text=True,
                         check=True).stdout
    serial = re.search(r"serial=([0-9A-F]+)", out).group(1)
    kid = re.search(r"((?:[0-9A-F]{2}:)+[0-9A-F]{2})", out.split("Identifier", 1)[1]).group(1)
    return b64url(bytes.fromhex(kid.replace(":", ""))) + "." + serial_part(serial)


def test_window_in_the_past_renews_and_the_next_window_decides(make_stack, pebble, tmp_path):
    now = time.time()
    # The first certificate's window is over (the CA wants it replaced); the next is tomorrow.
    front = AriFront(pebble, lambda i, n: window(now - 2 * DAY, now - DAY) if n == 0 else
                     window(now + DAY, now + 2 * DAY, retry_after="7200"))
    try:
        st = acme_stack(make_stack, pebble, tmp_path, directory=front.url)
        crt = str(tmp_path / "state" / "acme" / "webext.contoso.com.crt")
        issued = st.portico.wait_stderr(r"acme: certificate .* issued", timeout=2 * WAIT, count=2)
        assert len(issued) == 2, st.portico.stderr()
        serials = [re.search(r"serial ([0-9A-F]+)", l).group(1) for l in issued]
        assert serials[0] != serials[1]
        err = st.portico.stderr()
        # The first window: in the past, so at once; the order names what it replaces (§5).
        assert re.search(r"acme: renewal information for webext\.contoso\.com \(ecdsa\): window "
                         r"\S+ to \S+; renewal at \S+ \(now\)", err), err
        assert front.ids[0].endswith("." + serial_part(serials[0])), (front.ids, serials)
        assert "replacing %s" % front.ids[0] in err, err
        # The second certificate's window decides the next order (a random time within it).
        # (Right after the order the next one is by the lifetime, until the window is read.)
        assert len(st.portico.wait_stderr(r"acme: renewal information for .*: window", count=2,
                                          timeout=WAIT)) == 2, st.portico.stderr()
        js, _ = wait_acme_status(st, lambda j, c: j["result"] == "ok" and
                                 now + DAY - 1 <= j["next_order"] <= now + 2 * DAY + 1)
        assert now + DAY - 1 <= js["next_order"] <= now + 2 * DAY + 1, js
        wait_id = ari_id(crt)
        assert front.ids[-1] == wait_id, (front.ids, wait_id)
        assert wait_id.endswith("." + serial_part(serials[1]))
        # Two orders (pebble's own count would include a newOrder retried on badNonce).
        err = st.portico.stderr()
        assert len(re.findall(r"acme: ordering a certificate", err)) == 2, err
    finally:
        front.close()


@pytest.mark.parametrize("answer,why", [
    (lambda i, n: (500, '{"type": "urn:ietf:params:acme:error:serverInternal"}', {}),
     "HTTP status 500"),
    (lambda i, n: window(time.time() + DAY, time.time() - DAY), "ends before it starts"),
], ids=["http-500", "window-ends-before-start"])
def test_no_renewal_information_keeps_the_lifetime_rule(make_stack, pebble, tmp_path, answer,
                                                        why):
    front = AriFront(pebble, answer)
    try:
        st = acme_stack(make_stack, pebble, tmp_path, directory=front.url)
        crt = str(tmp_path / "state" / "acme" / "webext.contoso.com.crt")
        got = st.portico.wait_stderr(r"acme: renewal information for .* unavailable: .*" +
                                     re.escape(why), timeout=WAIT)
        assert got and "renewal by the certificate's lifetime meanwhile" in got[0], \
            st.portico.stderr()
        assert len(front.ids) == 1 and front.ids[0] == ari_id(crt), front.ids
        js, _ = wait_acme_status(st, lambda j, c: j["result"] == "ok")
        nb = ssl.cert_time_to_seconds(subprocess.run(
            ["openssl", "x509", "-in", crt, "-noout", "-startdate"], capture_output=True,
            text=True, check=True).stdout.strip().split("=", 1)[1])
        assert abs(js["next_order"] - (nb + (not_after(crt) - nb) * 2 / 3)) <= 2, js
        assert len(st.portico.wait_stderr(r"acme: ordering a certificate", timeout=0)) == 1
        assert st.request(target="/echo").status == 200
    finally:
        front.close()


def test_already_replaced_order_retried_without_replaces(make_stack, pebble, tmp_path):
    """RFC 9773 §5: a CA that answers alreadyReplaced gets the same order without `replaces`.
    The first certificate is ordered from pebble; after a restart the front answers newOrder
    itself (alreadyReplaced, then 403: it cannot sign pebble's orders) and keeps both."""
    now = time.time()
    front = AriFront(pebble, lambda i, n: window(now + DAY, now + 2 * DAY) if n == 0 else
                     window(now - 2 * DAY, now - DAY))
    try:
        st = acme_stack(make_stack, pebble, tmp_path, directory=front.url)
        crt = str(tmp_path / "state" / "acme" / "webext.contoso.com.crt")
        assert st.portico.wait_stderr(r"acme: renewal information for .*: window", timeout=WAIT)
        front.intercept_orders = True
        mark = restart(st)
        got = st.portico.wait_stderr(r"acme: order for .* failed: .*unauthorized", start=mark,
                                     timeout=WAIT)
        assert got, st.portico.stderr()
        assert [o.get("replaces") for o in front.orders] == [ari_id(crt), None], front.orders
        assert all(len(o["identifiers"]) == len(NAMES) for o in front.orders), front.orders
        assert "keeps serving" in got[0]
    finally:
        front.close()
