"""Malformed and ambiguous requests (SPEC §4): each gets its status, the connection closes, and
nothing of it reaches the pool. Every bad request is followed, in the same send, by a pipelined
GET /canary-...: neither may appear in any byte the pool ever received."""

import socket
import time

import pytest

import harness
from harness import build_request, read_bad_response, unique

H = b"Host: webext.contoso.com\r\n"


def req(line, *fields, body=b"", host=True):
    out = line + b"\r\n" + (H if host else b"")
    for f in fields:
        out += f + b"\r\n"
    return out + b"\r\n" + body


CASES = {
    # framing ambiguities (request smuggling)
    "cl-and-te": (req(b"POST /{tok} HTTP/1.1", b"Content-Length: 5", b"Transfer-Encoding: chunked",
                      body=b"0\r\n\r\n"), {400}),
    "te-and-cl": (req(b"POST /{tok} HTTP/1.1", b"Transfer-Encoding: chunked", b"Content-Length: 5",
                      body=b"0\r\n\r\n"), {400}),
    "te-gzip": (req(b"POST /{tok} HTTP/1.1", b"Transfer-Encoding: gzip"), {400}),
    "te-chunked-gzip": (req(b"POST /{tok} HTTP/1.1", b"Transfer-Encoding: chunked, gzip",
                            body=b"0\r\n\r\n"), {400}),
    "te-chunked-chunked": (req(b"POST /{tok} HTTP/1.1", b"Transfer-Encoding: chunked, chunked",
                               body=b"0\r\n\r\n"), {400}),
    "te-xchunked": (req(b"POST /{tok} HTTP/1.1", b"Transfer-Encoding: xchunked", body=b"0\r\n\r\n"), {400}),
    "te-identity": (req(b"POST /{tok} HTTP/1.1", b"Transfer-Encoding: identity"), {400}),
    "te-http10": (req(b"POST /{tok} HTTP/1.0", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"), {400}),
    "cl-two-same": (req(b"POST /{tok} HTTP/1.1", b"Content-Length: 5", b"Content-Length: 5",
                        body=b"hello"), {400}),
    "cl-two-differ": (req(b"POST /{tok} HTTP/1.1", b"Content-Length: 5", b"Content-Length: 6",
                          body=b"hello!"), {400}),
    "cl-list": (req(b"POST /{tok} HTTP/1.1", b"Content-Length: 5, 5", body=b"hello"), {400}),
    "cl-plus": (req(b"POST /{tok} HTTP/1.1", b"Content-Length: +5", body=b"hello"), {400}),
    "cl-minus": (req(b"POST /{tok} HTTP/1.1", b"Content-Length: -5", body=b"hello"), {400}),
    "cl-hex": (req(b"POST /{tok} HTTP/1.1", b"Content-Length: 0x5", body=b"hello"), {400}),
    "cl-inner-space": (req(b"POST /{tok} HTTP/1.1", b"Content-Length: 1 5", body=b"hello"), {400}),
    "cl-overflow": (req(b"POST /{tok} HTTP/1.1", b"Content-Length: 99999999999999999999999999"),
                    {400, 413}),
    # header syntax
    "obs-fold": (req(b"GET /{tok} HTTP/1.1", b"X-Folded: a", b" b"), {400}),
    "obs-fold-tab": (req(b"GET /{tok} HTTP/1.1", b"X-Folded: a", b"\tb"), {400}),
    "first-line-folded": (b"GET /{tok} HTTP/1.1\r\n Host: webext.contoso.com\r\n\r\n", {400}),
    "bare-lf-everywhere": (b"GET /{tok} HTTP/1.1\nHost: webext.contoso.com\n\n", {400}),
    "bare-lf-in-header": (req(b"GET /{tok} HTTP/1.1", b"X-A: 1\nX-B: 2"), {400}),
    "bare-cr-in-header": (req(b"GET /{tok} HTTP/1.1", b"X-A: 1\rX-B: 2"), {400}),
    "bare-cr-request-line": (req(b"GET /{tok} HTTP/1.1\rX"), {400}),
    "ctl-in-value": (req(b"GET /{tok} HTTP/1.1", b"X-A: a\x01b"), {400}),
    "nul-in-value": (req(b"GET /{tok} HTTP/1.1", b"X-A: a\x00b"), {400}),
    "del-in-value": (req(b"GET /{tok} HTTP/1.1", b"X-A: a\x7fb"), {400}),
    "ctl-in-target": (req(b"GET /{tok}\x01x HTTP/1.1"), {400}),
    "space-before-colon": (req(b"GET /{tok} HTTP/1.1", b"X-A : 1"), {400}),
    "space-before-colon-host": (b"GET /{tok} HTTP/1.1\r\nHost : webext.contoso.com\r\n\r\n", {400}),
    "tab-before-colon": (req(b"GET /{tok} HTTP/1.1", b"X-A\t: 1"), {400}),
    "space-in-name": (req(b"GET /{tok} HTTP/1.1", b"X A: 1"), {400}),
    "empty-name": (req(b"GET /{tok} HTTP/1.1", b": 1"), {400}),
    "no-colon": (req(b"GET /{tok} HTTP/1.1", b"X-A"), {400}),
    "bad-host-chars": (b"GET /{tok} HTTP/1.1\r\nHost: webext.contoso.com/x\r\n\r\n", {400, 404}),
    # request line
    "http-1.2": (req(b"GET /{tok} HTTP/1.2"), {400, 505}),
    "http-2.0": (req(b"GET /{tok} HTTP/2.0"), {400, 505}),
    "http-3.0": (req(b"GET /{tok} HTTP/3.0"), {400, 505}),
    "http-0.9-version": (req(b"GET /{tok} HTTP/0.9"), {400, 505}),
    "http-lowercase": (req(b"GET /{tok} http/1.1"), {400}),
    "http-11-no-dot": (req(b"GET /{tok} HTTP/11"), {400}),
    "no-version": (b"GET /{tok}\r\n\r\n", {400}),
    "extra-token": (req(b"GET /{tok} HTTP/1.1 extra"), {400}),
    "double-space": (req(b"GET  /{tok} HTTP/1.1"), {400}),
    "tab-separator": (req(b"GET\t/{tok} HTTP/1.1"), {400}),
    "bad-method-char": (req(b"G(ET /{tok} HTTP/1.1"), {400}),
    "relative-target": (req(b"GET {tok} HTTP/1.1"), {400}),
    "asterisk-get": (req(b"GET * HTTP/1.1", b"X-Tok: {tok}"), {400}),
    # sizes
    "request-line-9k": (req(b"GET /{tok}?" + b"a" * 9000 + b" HTTP/1.1"), {414}),
    "field-70k": (req(b"GET /{tok} HTTP/1.1", b"X-Big: " + b"b" * (70 * 1024)), {431}),
    "block-150k": (req(b"GET /{tok} HTTP/1.1", *[b"X-Big-%d: " % i + b"c" * (50 * 1024) for i in range(3)]),
                   {431}),
    "block-many-fields": (req(b"GET /{tok} HTTP/1.1", *[b"X-F%05d: %s" % (i, b"d" * 40) for i in range(3500)]),
                          {431}),
    # methods
    "connect": (b"CONNECT webext.contoso.com:443 HTTP/1.1\r\nHost: webext.contoso.com:443\r\nX-Tok: {tok}\r\n\r\n",
                {405}),
    "trace": (req(b"TRACE /{tok} HTTP/1.1"), {405}),
    "options-asterisk": (req(b"OPTIONS * HTTP/1.1", b"X-Tok: {tok}"), {405}),
}


def send_quietly(c, data):
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_request_rejected_and_not_forwarded(module_stack, case):
    st = module_stack
    template, statuses = CASES[case]
    tok, canary = unique("bad-" + case), unique("canary")
    data = template.replace(b"{tok}", tok.encode()) + build_request("GET", "/" + canary)
    with st.client() as c:
        send_quietly(c, data)
        r = read_bad_response(c)
        assert r is not None, "no response, connection just closed (expected %s)" % statuses
        assert r.status in statuses, "expected %s, got %s %s" % (statuses, r.status, r.reason)
        assert c.wait_closed(5), "connection must close after a malformed request"
        assert canary.encode() not in c.leftover
    time.sleep(0.1)
    assert not st.mock.saw(tok), "the malformed request reached the pool"
    assert not st.mock.saw(canary), "the pipelined request after a malformed one reached the pool"


def test_module_stack_still_forwards_good_requests(module_stack):
    """Positive control for the cases above: the same stack does forward a good request."""
    tok = unique("good")
    r = module_stack.request("GET", "/" + tok)
    assert r.status == 200
    assert module_stack.mock.saw(tok)


@pytest.mark.parametrize("size", [8000, 60 * 1024])
def test_large_but_legal_heads_accepted(module_stack, size):
    line_target = "/big-line?" + "a" * (min(size, 8000) - 40)
    d = module_stack.request("GET", line_target, headers=[("X-Big", "b" * (size - 10))]).json()
    assert d["target"] == line_target
    assert harness.get_all(harness.hdrs_of(d), "x-big") == ["b" * (size - 10)]


def test_bad_chunk_size_aborts_upstream(stack):
    tok = unique("badchunk")
    with stack.client() as c:
        c.send(build_request("POST", "/upload?" + tok, headers=[("Transfer-Encoding", "chunked")])
               + b"5\r\nhello\r\n")
        ev = stack.mock.wait_request(tok)
        time.sleep(0.2)
        c.send(b"zz\r\nnot a chunk\r\n0\r\n\r\n")
        r = read_bad_response(c)
        assert r is None or r.status == 400
        assert c.wait_closed(5)
    if ev is not None:   # the head was already forwarded: that upstream connection must go
        assert stack.mock.wait_closed(ev["conn"], 5), "upstream connection not closed after a body error"
    assert not stack.mock.saw(b"not a chunk")


def test_client_eof_mid_body_aborts_upstream(stack):
    tok = unique("eofbody")
    with stack.client() as c:
        c.send(build_request("POST", "/upload?" + tok, headers=[("Content-Length", "100000")]) + b"x" * 1000)
        ev = stack.mock.wait_request(tok)
        assert ev is not None, "request head should be streamed to the pool before the body is complete"
        c.sock.shutdown(socket.SHUT_WR)
        assert stack.mock.wait_closed(ev["conn"], 5), "upstream connection not closed after the client vanished"
    assert stack.request().status == 200


def test_bad_request_on_kept_alive_connection(stack):
    """A malformed second request on a connection that already served one: 400, closed."""
    tok = unique("second")
    with stack.client() as c:
        assert c.request().status == 200
        c.send(req(b"GET /%s HTTP/1.1" % tok.encode(), b"Content-Length: 1", b"Content-Length: 2"))
        r = read_bad_response(c)
        assert r is not None and r.status == 400
        assert c.wait_closed(5)
    assert not stack.mock.saw(tok)


# Chunked bodies that llhttp 8.1 would take but RFC 9112 §7.1 does not (portico checks what
# llhttp lacks, src/core/io.c pc_chunked_feed): each piece is sent on its own, so that the
# bare-LF case ends a read right between the CRLF of the last chunk and the bare LF.
BAD_CHUNKED_ENDINGS = {
    "trailer-bare-lf-split": [b"5\r\nhello\r\n0\r\n", b"\n"],
    "trailer-bare-lf": [b"5\r\nhello\r\n0\r\n\n"],
    "trailer-obs-fold": [b"5\r\nhello\r\n0\r\nX-A: 1\r\n", b" folded\r\n\r\n"],
    "trailer-empty-name": [b"5\r\nhello\r\n0\r\n: x\r\n\r\n"],
    "chunk-ext-quote-in-token": [b"5;a=x\"y\"\r\nhello\r\n0\r\n\r\n"],
}


@pytest.mark.parametrize("name", sorted(BAD_CHUNKED_ENDINGS))
def test_bad_chunked_ending_refused(stack, name):
    tok = unique("badend")
    canary = unique("canary")
    with stack.client() as c:
        c.send(build_request("POST", "/upload?" + tok, headers=[("Transfer-Encoding", "chunked")]))
        ev = stack.mock.wait_request(tok)
        for piece in BAD_CHUNKED_ENDINGS[name]:
            c.send(piece)
            time.sleep(0.05)  # separate reads on purpose (the split is the case)
        c.send(req(b"GET /%s HTTP/1.1" % canary.encode()))
        r = read_bad_response(c)
        assert r is None or r.status == 400
        assert c.wait_closed(5)
    if ev is not None:
        assert stack.mock.wait_closed(ev["conn"], 5), "upstream connection not closed after a body error"
    assert not stack.mock.saw(canary)


@pytest.mark.parametrize("body", [b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n",
                                  b"5;a=\"x;y\"\r\nhello\r\n0\r\n\r\n"])
def test_legal_chunked_endings_pass(stack, body):
    tok = unique("goodend")
    with stack.client() as c:
        c.send(build_request("POST", "/upload?" + tok, headers=[("Transfer-Encoding", "chunked")]))
        c.send(body)
        r = c.read_response()
        assert r.status == 200
    ev = stack.mock.wait_request(tok)
    assert ev is not None


def test_lingering_close_after_an_error(stack):
    """After an error response, portico sends FIN and keeps reading (and discarding) what the
    client still sends for a moment, as nginx's lingering_close does: a client still sending
    its body gets no reset that could destroy the response before it is read."""
    tok = unique("linger")
    with stack.client() as c:
        c.send(req(b"POST /%s HTTP/1.1" % tok.encode(), b"Content-Length: 1",
                   b"Content-Length: 2") + b"x" * 20000)
        r = read_bad_response(c)
        assert r is not None and r.status == 400
        assert c.wait_closed(5)  # FIN: nothing more from portico
        # Still sending after the FIN: an immediate close() would have answered the unread
        # bytes with a RST (then EPIPE/ECONNRESET here).
        for _ in range(8):
            c.sock.sendall(b"y" * 8192)
            time.sleep(0.02)
    assert not stack.mock.saw(tok)
