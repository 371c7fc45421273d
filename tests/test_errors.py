"""Malformed and ambiguous requests (SPEC §4): each gets its status, the connection closes, and
nothing of it reaches the pool. Every bad request is followed, in the same send, by a pipelined
GET /canary-...: neither may appear in any byte the pool ever received."""

import re
import socket
import time

import pytest

import harness
from harness import build_request, read_bad_response, unique

H = b"Host: webext.contoso.com\r\n"

# src/http/http1-t.h: a request line of at most 8 KiB, a header block (request line included,
# through the empty line) of at most 128 KiB + 8 KiB, at most 256 fields; over either: 431.
MAX_BLOCK = 128 * 1024 + 8 * 1024
MAX_FIELDS = 256


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
    # the field-count limit alone (PC_MAX_FIELDS = 256): Host and 256 small fields, a block of
    # under 3 KiB, far under the byte limit (the byte limit alone: block-150k above, and the
    # boundary tests below)
    "fields-257": (req(b"GET /{tok} HTTP/1.1", *[b"X-F%03d: d" % i for i in range(MAX_FIELDS)]),
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


def sized_block(tok, nfields, total):
    """A GET for /TOK whose header block (through the empty line) is exactly TOTAL bytes, with
    Host and NFIELDS - 1 more fields sharing the padding (each under the 64 KiB field limit)."""
    line = b"GET /%s HTTP/1.1\r\n" % tok.encode()
    names = [b"X-Pad-%d: " % i for i in range(nfields - 1)]
    fixed = len(line) + len(H) + sum(len(n) + 2 for n in names) + 2
    pad = total - fixed
    assert pad >= nfields - 1
    sizes = [pad // len(names)] * len(names)
    sizes[-1] += pad - sum(sizes)
    assert max(sizes) + len(names[-1]) <= 64 * 1024
    out = line + H + b"".join(n + b"p" * k + b"\r\n" for n, k in zip(names, sizes)) + b"\r\n"
    assert len(out) == total
    return out


def refused_431(st, c, block, tok, what):
    """Sends BLOCK and a pipelined canary on C: a 431, the connection closed, and neither the
    block (named by TOK) nor the canary reached the pool."""
    canary = unique("canary")
    send_quietly(c, block + build_request("GET", "/" + canary))
    r = read_bad_response(c)
    assert r is not None, "no response, connection just closed (expected 431)"
    assert r.status == 431, "expected 431, got %s %s" % (r.status, r.reason)
    assert c.wait_closed(5), "connection must close after a 431"
    assert not st.mock.saw(tok), "%s reached the pool" % what
    assert not st.mock.saw(canary), "the pipelined request after a 431 reached the pool"


@pytest.mark.parametrize("over", [0, 1], ids=["at-limit", "one-over"])
def test_head_byte_limit(module_stack, over):
    """The byte limit alone, with four fields (far from the field-count limit): a block of
    exactly MAX_BLOCK bytes is forwarded, one byte more is a 431 and nothing reaches the pool."""
    st = module_stack
    tok = unique("bytes-%d" % over)
    block = sized_block(tok, 4, MAX_BLOCK + over)
    with st.client() as c:
        if not over:
            c.send(block)
            r = c.read_response()
            assert r.status == 200, "a block of exactly %d bytes must be forwarded" % MAX_BLOCK
            d = r.json()
            assert len([n for n, _ in d["headers"] if n.lower().startswith("x-pad-")]) == 3
            assert st.mock.saw(tok)
            return
        refused_431(st, c, block, tok, "a block over the byte limit")


@pytest.mark.parametrize("nfields", [MAX_FIELDS, MAX_FIELDS + 1])
def test_field_count_limit(module_stack, nfields):
    """The field-count limit alone, in a small block: Host and 255 more fields are forwarded,
    each of them; one field more is a 431 and nothing reaches the pool."""
    st = module_stack
    tok = unique("fields-%d" % nfields)
    fields = [b"X-F%03d: %d" % (i, i) for i in range(nfields - 1)]
    block = req(b"GET /%s HTTP/1.1" % tok.encode(), *fields)
    assert len(block) < 8 * 1024, "the field-count case must stay far under the byte limit"
    with st.client() as c:
        if nfields <= MAX_FIELDS:
            c.send(block)
            r = c.read_response()
            assert r.status == 200, "%d fields must be forwarded" % nfields
            got = [(n, v) for n, v in r.json()["headers"] if re.fullmatch("X-F[0-9]{3}", n)]
            assert got == [("X-F%03d" % i, "%d" % i) for i in range(nfields - 1)]
            return
        refused_431(st, c, block, tok, "a request with %d fields" % nfields)


def wait_raw(mock, conn, needle, timeout=5.0):
    """Waits until the pool's connection CONN has received NEEDLE; returns whether it did."""
    deadline = time.monotonic() + timeout * harness.SLOW
    while needle not in mock.raw_of(conn):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def body_seen_by_pool(mock, conn):
    """What the pool's connection CONN received after the request head."""
    raw = mock.raw_of(conn)
    return raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""


def test_bad_chunk_size_aborts_upstream(stack):
    """A bad chunk size after the head and a first chunk have gone to the pool: the client gets
    400 (the pool has not answered yet) and its connection closes; the upstream connection is
    closed without a last chunk, so the pool sees an aborted upload, never a complete one."""
    tok = unique("badchunk")
    with stack.client() as c:
        c.send(build_request("POST", "/upload?" + tok, headers=[("Transfer-Encoding", "chunked")])
               + b"5\r\nhello\r\n")
        ev = stack.mock.wait_request(tok)
        assert ev is not None, "the request head must be streamed to the pool before the body ends"
        assert wait_raw(stack.mock, ev["conn"], b"5\r\nhello\r\n"), "the first chunk did not reach the pool"
        c.send(b"zz\r\nnot a chunk\r\n0\r\n\r\n")
        r = read_bad_response(c)
        assert r is not None, "no response, connection just closed (expected 400)"
        assert r.status == 400, "expected 400, got %s %s" % (r.status, r.reason)
        assert c.wait_closed(5), "client connection not closed after a bad chunk"
    assert stack.mock.wait_closed(ev["conn"], 5), "upstream connection not closed after a body error"
    assert body_seen_by_pool(stack.mock, ev["conn"]) == b"5\r\nhello\r\n", \
        "the pool got more of the body than its good first chunk"
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
    """The head reaches the pool first (streamed); the bad ending is then refused with 400 (the
    pool, still reading the body, has not answered), the client connection closes, and the
    upstream connection is closed without the last chunk: the pool never sees the body end."""
    tok = unique("badend")
    canary = unique("canary")
    pieces = BAD_CHUNKED_ENDINGS[name]
    with stack.client() as c:
        c.send(build_request("POST", "/upload?" + tok, headers=[("Transfer-Encoding", "chunked")]))
        ev = stack.mock.wait_request(tok)
        assert ev is not None, "the request head must be streamed to the pool before the body"
        for i, piece in enumerate(pieces):
            c.send(piece)
            if i + 1 < len(pieces):
                # Separate reads on purpose (the split is the case): the next piece goes only
                # once portico has read this one and forwarded its data chunk to the pool.
                assert b"5\r\nhello\r\n" in piece
                assert wait_raw(stack.mock, ev["conn"], b"5\r\nhello\r\n"), \
                    "the first chunk did not reach the pool"
        send_quietly(c, req(b"GET /%s HTTP/1.1" % canary.encode()))
        r = read_bad_response(c)
        assert r is not None, "no response, connection just closed (expected 400)"
        assert r.status == 400, "expected 400, got %s %s" % (r.status, r.reason)
        assert c.wait_closed(5), "client connection not closed after a bad chunked body"
    assert stack.mock.wait_closed(ev["conn"], 5), "upstream connection not closed after a body error"
    assert b"0\r\n\r\n" not in body_seen_by_pool(stack.mock, ev["conn"]), \
        "the pool got a complete chunked body"
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
