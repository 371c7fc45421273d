#!/usr/bin/python3
"""mockpool.py — a mock Lync Front End / Office Web Apps server for portico's tests.

Raw sockets and one thread per connection (never http.server): the tests need exact control of
the bytes, both what the pool answers and what it records having received.

    mockpool.py --listen 127.20.1.1:8080 --listen 127.20.1.1:4443:tls --name fe01 \
                --cert pool.pem --key pool.key --rawlog DIR --ready-file F

Once every listener is bound it prints "mockpool: ready" on stdout (and writes --ready-file).
With --rawlog DIR it writes, per connection, every byte it received to
DIR/conn-NNNNNN-IP_PORT.raw (capped by --rawlog-max) and one JSON line per event (open, req,
close) to DIR/events.log, so a test can prove that nothing of a request reached the pool.

Paths (HTTP/1.1, keep-alive; request bodies with Content-Length or chunked):
  /echo and any unknown path   200 JSON describing the request (see Handler.echo_doc)
  /upload[?stall_after=B&stall=S]  same JSON; stops reading for S seconds after B body bytes
  /longpoll?secs=N             answers after N seconds
  /chunked?n=N&size=S&delay=D  chunked response: N chunks of S pattern bytes, D seconds apart
  /big?bytes=N[&chunked=1]     N pattern bytes (Content-Length, or chunked)
  /trailers?bytes=N[&bad=1][&big=B][&split=1]  chunked: N pattern bytes, then a trailer section
                               with X-Checksum (their sha256) and X-Mock-Trailer; bad=1 adds
                               TRAILERS_BAD and TRAILERS_ODD, big=B a field X-Big of B bytes,
                               split=1 sends the section in three writes
  /stall?secs=N                reads the request, says nothing for N seconds, closes
  /status/NNN[?cl=N]           that status; 1xx: the interim answer then a 200; 204/304: no body
  /interim?code=102[&count=1]  interim answer(s) then a 200
  /auth401                     401 at once, without reading the body (no 100 Continue)
  /close-after                 answers, then closes without saying Connection: close
  /garbage                     bytes that are not HTTP, then close
  /reset-mid                   Content-Length 100000, half the body, then RST
  /bad-response?kind=K         malformed answers: two-cl, cl-list, cl-te, bad-status, neg-cl,
                               obs-fold, space-colon, bad-chunk, no-status-line, cl-short
  /connhdr                     hop-by-hop response headers (Connection: X-Secret, Keep-Alive...)
  /http10-chunked              a chunked answer with a fixed body (HTTP10_BODY)
  /close-delimited?bytes=N     N pattern bytes without Content-Length or chunked, then close
  /bighdr?bytes=N              a response header X-Big of N bytes (big_header_value(N))
  /early413                    413 and Connection: close before reading the body, then close
  /bind-first[?persist=1][&challenge=V]  binds the connection to the first Authorization (or
                               X-Who) it sees; answers {"bound": ...} (see Handler.bind_first)
  /lynchdrs                    401 with two Set-Cookie and two WWW-Authenticate (LYNC_RESPONSE_HEADERS)
  Lync realism: /Autodiscover/AutodiscoverService.svc/root (JSON links), .../root/oauth/user
  (401 MsRtcOAuth), /WebTicket/oauthtoken, /ucwa/oauth/v1/applications, /ucwa/.../events
  (long poll, ?timeout=N, default 900 s).
  /ntlm, /abs/handler          connection-oriented authentication like IIS's NTLM/Negotiate
                               (see Handler.ntlm): the state lives in the TCP connection
  /ws[?hello=1][&refuse=1]     WebSocket echo (RFC 6455 framing, see Handler.websocket)
The echo document lists the trailer fields of a chunked request body ("trailers").
Any path: ?close=1 answers with Connection: close and closes; ?drop_after=S answers normally
(keep-alive) and closes the connection once it has been idle for S seconds. Expect:
100-continue gets "HTTP/1.1 100 Continue" before the body is read (except on /auth401).
HEAD: no body. Every response carries X-Mock-Server, X-Mock-Conn and X-Mock-Req.
On TLS listeners the echo document also tells the SNI, ALPN, version and whether the TLS
session was resumed (tls_reused).
"""

import argparse
import base64
import hashlib
import json
import os
import random
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

# ---------------------------------------------------------------------------------------------
# Deterministic payload: an endless repetition of a pseudo-random block whose length is a prime
# (so it never lines up with anybody's buffer size). Tests compute expected hashes from it.

PATTERN_LEN = 1048573
_pattern = None
_pattern_lock = threading.Lock()
_sha_cache = {}


def pattern():
    """The pattern block twice in a row (a memoryview), so any slice of PATTERN_LEN is contiguous."""
    global _pattern
    with _pattern_lock:
        if _pattern is None:
            p = random.Random(0x4C796E63).randbytes(PATTERN_LEN)
            _pattern = memoryview(p + p)
    return _pattern


def pattern_chunks(n, offset=0, step=1 << 20):
    """Yields memoryviews that together are bytes [offset, offset + n) of the endless pattern."""
    pat = pattern()
    off = offset % PATTERN_LEN
    step = min(step, PATTERN_LEN)
    while n > 0:
        k = min(n, step)
        yield pat[off:off + k]
        n -= k
        off = (off + k) % PATTERN_LEN


def pattern_bytes(n, offset=0):
    return b"".join(bytes(c) for c in pattern_chunks(n, offset))


def pattern_sha256(n, offset=0):
    key = (n, offset)
    if key not in _sha_cache:
        h = hashlib.sha256()
        for c in pattern_chunks(n, offset):
            h.update(c)
        _sha_cache[key] = h.hexdigest()
    return _sha_cache[key]


def big_header_value(n):
    """A header value of n bytes that looks like a Kerberos token (base64 of pattern bytes)."""
    raw = base64.b64encode(pattern_bytes((n * 3) // 4 + 3)).decode("ascii")
    return raw[:n]


# ---------------------------------------------------------------------------------------------
# Connection-oriented authentication tokens (an NTLM look-alike; Negotiate uses the same ones).
# A token is base64("NTLMSSP\0" + type byte + payload): type 1 names the user, type 2 carries the
# server's challenge, type 3 the user and the challenge it answers. The mock accepts a type 3
# only on the connection that issued the challenge, as a real NTLM server does.

AUTH_MAGIC = b"NTLMSSP\x00"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"


def soap_auth(user, password):
    """The body of a web ticket request with a WS-Security UsernameToken (SOAP 1.1)."""
    from xml.sax.saxutils import escape
    return ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
            '<o:Security xmlns:o="%s"><o:UsernameToken><o:Username>%s</o:Username>'
            '<o:Password>%s</o:Password></o:UsernameToken></o:Security></s:Header><s:Body>'
            '<RequestSecurityToken xmlns="http://docs.oasis-open.org/ws-sx/ws-trust/200512"/>'
            '</s:Body></s:Envelope>' % (WSSE_NS, escape(user), escape(password))).encode()


def auth_token(kind, user="", challenge=""):
    payload = {1: user, 2: challenge, 3: "%s:%s" % (user, challenge)}[kind]
    return base64.b64encode(AUTH_MAGIC + bytes([kind]) + payload.encode()).decode("ascii")


def parse_auth_token(tok):
    """(kind, user, challenge); ValueError if it is not one of ours."""
    raw = base64.b64decode(tok.strip(), validate=True)
    if not raw.startswith(AUTH_MAGIC) or len(raw) < len(AUTH_MAGIC) + 1:
        raise ValueError("not an NTLMSSP token")
    kind = raw[len(AUTH_MAGIC)]
    payload = raw[len(AUTH_MAGIC) + 1:].decode()
    if kind == 1:
        return 1, payload, ""
    if kind == 2:
        return 2, "", payload
    if kind == 3:
        user, _, challenge = payload.rpartition(":")
        return 3, user, challenge
    raise ValueError("unknown token type %d" % kind)


def ntlm3_token(domain, user, password, unicode=True):
    """A real NTLM AUTHENTICATE message (MS-NLMP 2.2.1.3), base64: LM, NT, domain, user,
    workstation and session key buffers, then the flags. PASSWORD goes in the NT response
    field (the mock's convention: it computes no NTLMv2)."""
    enc = (lambda t: t.encode("utf-16-le")) if unicode else (lambda t: t.encode("latin-1"))
    fields = [b"\x00" * 24, password.encode(), enc(domain), enc(user), enc("WS01"), b""]
    off, head, body = 72, b"", b""
    for f in fields:
        head += struct.pack("<HHI", len(f), len(f), off + len(body))
        body += f
    flags = 0x00000001 if unicode else 0x00000002
    raw = AUTH_MAGIC + struct.pack("<I", 3) + head + struct.pack("<I", flags) + b"\x00" * 8 + body
    return base64.b64encode(raw).decode("ascii")


def real_ntlm3(tok):
    """(domain, user, password) of a real AUTHENTICATE message (see ntlm3_token), else None."""
    try:
        raw = base64.b64decode(tok.strip(), validate=True)
    except ValueError:
        return None
    if len(raw) < 64 or not raw.startswith(AUTH_MAGIC) or raw[8:12] != b"\x03\x00\x00\x00":
        return None
    flags = struct.unpack_from("<I", raw, 60)[0]

    def buf(at):
        n, _, o = struct.unpack_from("<HHI", raw, at)
        return raw[o:o + n]

    dec = (lambda b: b.decode("utf-16-le", "replace")) if flags & 1 else (lambda b: b.decode("latin-1"))
    return dec(buf(28)), dec(buf(36)), buf(20).decode("utf-8", "replace")


def challenge_of(www_authenticate):
    """The challenge in a 'NTLM <type 2 token>' (or Negotiate) header value, else None."""
    scheme, _, tok = (www_authenticate or "").partition(" ")
    if not tok.strip():
        return None
    kind, _, challenge = parse_auth_token(tok)
    return challenge if kind == 2 else None


# ---------------------------------------------------------------------------------------------
# WebSocket framing (RFC 6455), shared by the mock and the tests.

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode("ascii")


def ws_frame(opcode, payload=b"", mask=None, fin=True):
    """One frame. mask: None (server frames) or 4 bytes (client frames must be masked)."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask is None:
        return head + payload
    return head + mask + ws_mask(payload, mask)


def ws_mask(payload, mask):
    if not payload:
        return b""
    n = len(payload)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def ws_read_frame(reader, limit=64 << 20):
    """(fin, opcode, masked, payload unmasked) from a Reader."""
    b0, b1 = reader.read_exact_bytes(2)
    fin, opcode, masked, n = bool(b0 & 0x80), b0 & 0x0F, bool(b1 & 0x80), b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", reader.read_exact_bytes(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", reader.read_exact_bytes(8))[0]
    if n > limit:
        raise ProtocolError("WebSocket frame of %d bytes" % n)
    mask = reader.read_exact_bytes(4) if masked else None
    payload = reader.read_exact_bytes(n) if n else b""
    if mask:
        payload = ws_mask(payload, mask)
    return fin, opcode, masked, payload


HTTP10_CHUNKS = [b"first chunk\n", b"x" * 1000 + b"\n", pattern_bytes(5000, 77), b"\nlast chunk\n"]
HTTP10_BODY = b"".join(HTTP10_CHUNKS)

LYNC_RESPONSE_HEADERS = [
    ("WWW-Authenticate",
     'MsRtcOAuth href="https://webext.contoso.com/WebTicket/oauthtoken",'
     'grant_type="urn:microsoft.rtc:windows,urn:microsoft.rtc:anonmeeting,password"'),
    ("WWW-Authenticate",
     'Bearer trusted_issuers="00000001-0000-0000-c000-000000000000@contoso.com", '
     'client_id="00000004-0000-0ff1-ce00-000000000000"'),
    ("Set-Cookie", "MRHSession=8b3a1f0c2d; path=/; secure"),
    ("Set-Cookie", "cwt_ucwa=AAEAAHAEmkE; path=/ucwa; secure; HttpOnly"),
    ("X-MS-Server-Fqdn", "fe01.contoso.local"),
    ("X-Ms-Correlation-Id", "2147508254"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-cache"),
]

# Trailer fields /trailers?bad=1 adds: none may be relayed (RFC 9110 section 6.5.1, RFC 9113
# section 8.2.2), then fields that are, written oddly (mixed case, whitespace around the value).
TRAILERS_BAD = [
    ("Content-Length", "5"), ("Transfer-Encoding", "chunked"), ("Connection", "close"),
    ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"), ("Upgrade", "h2c"),
    ("TE", "trailers"), ("Trailer", "X-Other"), ("Host", "evil.example"), ("Set-Cookie", "a=b"),
    ("WWW-Authenticate", "NTLM"), ("Content-Type", "text/evil"), ("X-Forwarded-For", "203.0.113.9"),
]
TRAILERS_ODD = [("X-Upper-CASE", "Mixed Value"), ("x-spaces", "\t  padded value  ")]

REASONS = {
    100: "Continue", 101: "Switching Protocols", 102: "Processing", 103: "Early Hints",
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
    301: "Moved Permanently", 302: "Found", 304: "Not Modified", 307: "Temporary Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 413: "Payload Too Large",
    431: "Request Header Fields Too Large", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 framing, shared by the mock (requests) and the tests (responses).

class ProtocolError(Exception):
    pass


class TooLarge(ProtocolError):
    pass


class Reader:
    """Buffered reader over a blocking socket. Large bodies bypass the buffer: they are read
    with recv_into into one reusable buffer and handed to a sink as memoryviews (valid only
    until the sink returns)."""

    RECV = 1 << 20

    def __init__(self, sock, log=None):
        self.sock = sock
        self.buf = bytearray()
        self.log = log
        self._rb = bytearray(self.RECV)
        self._rmv = memoryview(self._rb)
        self.eof = False

    def _recv(self, limit=None):
        n = self.sock.recv_into(self._rmv, min(limit or self.RECV, self.RECV))
        if n == 0:
            self.eof = True
            return None
        mv = self._rmv[:n]
        if self.log:
            self.log(mv)
        return mv

    def fill(self):
        mv = self._recv()
        if mv is None:
            raise EOFError("connection closed by peer")
        self.buf += mv

    def read_until(self, delim, limit):
        """Bytes up to and including delim; TooLarge past limit bytes; EOFError at EOF."""
        start = 0
        while True:
            i = self.buf.find(delim, start)
            if i >= 0:
                end = i + len(delim)
                out = bytes(self.buf[:end])
                del self.buf[:end]
                return out
            if len(self.buf) > limit:
                raise TooLarge("no %r within %d bytes" % (delim, limit))
            start = max(0, len(self.buf) - len(delim) + 1)
            self.fill()

    def read_exact_bytes(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_exact(self, n, sink):
        """Feeds exactly n bytes to sink."""
        if self.buf and n > 0:
            k = min(n, len(self.buf))
            chunk = bytes(self.buf[:k])
            del self.buf[:k]
            sink(chunk)
            n -= k
        while n > 0:
            mv = self._recv(n)
            if mv is None:
                raise EOFError("connection closed with %d body bytes missing" % n)
            sink(mv)
            n -= len(mv)

    def read_to_eof(self, sink):
        if self.buf:
            chunk = bytes(self.buf)
            self.buf.clear()
            sink(chunk)
        while True:
            mv = self._recv()
            if mv is None:
                return
            sink(mv)

    def read_chunked(self, sink, line_limit=4096):
        """Reads a chunked body, feeds the data to sink, returns the trailer fields."""
        while True:
            line = self.read_until(b"\r\n", line_limit)
            size_s = line[:-2].split(b";", 1)[0].strip(b" \t")
            if not size_s or any(c not in b"0123456789abcdefABCDEF" for c in size_s):
                raise ProtocolError("bad chunk size line %r" % line[:80])
            size = int(size_s, 16)
            if size == 0:
                trailers = []
                while True:
                    t = self.read_until(b"\r\n", line_limit)
                    if t == b"\r\n":
                        return trailers
                    name, _, value = t[:-2].partition(b":")
                    trailers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
            self.read_exact(size, sink)
            if self.read_exact_bytes(2) != b"\r\n":
                raise ProtocolError("chunk data not followed by CRLF")


def parse_fields(lines):
    """Strict header field parsing: no obs-fold, no bare CR/LF, no whitespace before the colon,
    no control bytes. Returns [(name, value)] as latin-1 strings."""
    fields = []
    for line in lines:
        if not line:
            raise ProtocolError("empty header line")
        if line[0] in b" \t":
            raise ProtocolError("obsolete line folding")
        if b"\r" in line or b"\n" in line:
            raise ProtocolError("bare CR or LF in header")
        name, sep, value = line.partition(b":")
        if not sep or not name:
            raise ProtocolError("header line without colon: %r" % line[:80])
        if name != name.strip(b" \t") or any(c <= 32 or c == 127 for c in name):
            raise ProtocolError("bad header name %r" % name[:80])
        value = value.strip(b" \t")
        if any((c < 32 and c != 9) or c == 127 for c in value):
            raise ProtocolError("control byte in header %r" % name)
        fields.append((name.decode("latin-1"), value.decode("latin-1")))
    return fields


def split_head(head):
    """head ends with CRLFCRLF. Returns (start line bytes, [(name, value)])."""
    lines = head[:-4].split(b"\r\n")
    return lines[0], parse_fields(lines[1:])


def get_all(headers, name):
    name = name.lower()
    return [v for n, v in headers if n.lower() == name]


def get_one(headers, name):
    v = get_all(headers, name)
    return v[0] if v else None


def tokens(headers, name):
    out = []
    for v in get_all(headers, name):
        out += [t.strip().lower() for t in v.split(",") if t.strip()]
    return out


def body_framing(headers, version="HTTP/1.1"):
    """('chunked', None) | ('length', n) | ('none', None). Raises ProtocolError when ambiguous."""
    te = get_all(headers, "transfer-encoding")
    cl = get_all(headers, "content-length")
    if te and cl:
        raise ProtocolError("both Transfer-Encoding and Content-Length")
    if te:
        codings = [t.strip().lower() for t in ",".join(te).split(",") if t.strip()]
        if not codings or codings[-1] != "chunked" or "chunked" in codings[:-1]:
            raise ProtocolError("Transfer-Encoding without final chunked: %r" % te)
        return "chunked", None
    if cl:
        if len(cl) > 1 and len(set(cl)) > 1:
            raise ProtocolError("conflicting Content-Length %r" % cl)
        v = cl[0]
        if not v.isdigit() or not v.isascii():
            raise ProtocolError("bad Content-Length %r" % v)
        return "length", int(v)
    return "none", None


# ---------------------------------------------------------------------------------------------
# The mock server.

class Request:
    def __init__(self, method, target, version, headers, head_len):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.head_len = head_len
        t = target
        if t.startswith("http://") or t.startswith("https://"):
            rest = t.split("://", 1)[1]
            t = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        self.path, _, self.query_s = t.partition("?")
        self.query = urllib.parse.parse_qs(self.query_s, keep_blank_values=True)
        self.body_len = 0
        self.body_sha = hashlib.sha256()
        self.body_read = False

    def q(self, name, default=None, conv=str):
        v = self.query.get(name)
        if not v:
            return default
        try:
            return conv(v[0])
        except ValueError:
            return default

    def host(self):
        h = get_one(self.headers, "host") or ""
        if h.startswith("["):
            return h.split("]")[0] + "]"
        return h.rsplit(":", 1)[0] if ":" in h else h


class Server:
    def __init__(self, args):
        self.name = args.name
        self.args = args
        self.serial = 0
        self.lock = threading.Lock()
        self.rawlog = args.rawlog
        self.rawlog_max = args.rawlog_max
        self.events = None
        if self.rawlog:
            os.makedirs(self.rawlog, exist_ok=True)
            self.events = open(os.path.join(self.rawlog, "events.log"), "a", buffering=1)
        self.listeners = []
        self.tls_ctx = None
        self.passwords = None
        if args.passwords:
            with open(args.passwords) as f:
                self.passwords = {k.lower(): v for k, v in json.load(f).items()}

    def event(self, **kw):
        if self.events:
            kw["t"] = round(time.time(), 4)
            line = json.dumps(kw) + "\n"
            with self.lock:
                self.events.write(line)
                self.events.flush()

    def next_serial(self):
        with self.lock:
            self.serial += 1
            return self.serial

    def make_tls_ctx(self):
        if self.tls_ctx is None:
            if not (self.args.cert and self.args.key):
                sys.exit("mockpool: a :tls listener needs --cert and --key")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.args.cert, self.args.key)
            versions = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
                        "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
            if self.args.tls_min:
                if self.args.tls_min in ("1.0", "1.1"):
                    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                ctx.minimum_version = versions[self.args.tls_min]
            if self.args.tls_max:
                ctx.maximum_version = versions[self.args.tls_max]
            ctx.set_alpn_protocols(["http/1.1"])

            def sni_cb(sslobj, name, _ctx):
                try:
                    sslobj.mock_sni = name
                except AttributeError:
                    pass
            ctx.sni_callback = sni_cb
            self.tls_ctx = ctx
        return self.tls_ctx

    def bind(self, spec):
        tls = False
        if spec.endswith(":tls"):
            tls = True
            spec = spec[:-4]
        host, _, port = spec.rpartition(":")
        host = host.strip("[]")
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
        s.listen(1024)
        if tls:
            self.make_tls_ctx()
        listen = "%s:%s" % (host if fam == socket.AF_INET else "[%s]" % host, port)
        self.listeners.append((s, listen, tls))

    def serve(self):
        for s, listen, tls in self.listeners:
            threading.Thread(target=self.accept_loop, args=(s, listen, tls), daemon=True).start()

    def accept_loop(self, lsock, listen, tls):
        while True:
            try:
                sock, addr = lsock.accept()
            except OSError:
                time.sleep(0.05)
                continue
            serial = self.next_serial()
            peer = "%s:%d" % (addr[0], addr[1]) if lsock.family == socket.AF_INET \
                else "[%s]:%d" % (addr[0], addr[1])
            h = Handler(self, sock, listen, peer, serial, tls)
            threading.Thread(target=h.run, daemon=True).start()


class Handler:
    def __init__(self, srv, sock, listen, peer, serial, tls):
        self.srv = srv
        self.sock = sock
        self.listen = listen
        self.peer = peer
        self.serial = serial
        self.tls = tls
        self.sni = None
        self.alpn = None
        self.tls_version = None
        self.tls_reused = None
        self.nreq = 0
        # connection-oriented authentication (NTLM/Negotiate): the state of this TCP connection
        self.auth_user = None
        self.auth_scheme = None
        self.auth_pending = None    # (scheme, user, challenge) after a type 1 token
        self.raw = None
        self.raw_written = 0
        self.raw_truncated = False
        if srv.rawlog:
            fn = "conn-%06d-%s.raw" % (serial, listen.replace(":", "_").replace("[", "").replace("]", ""))
            self.raw = open(os.path.join(srv.rawlog, fn), "wb", buffering=0)

    # -- plumbing

    def log_raw(self, mv):
        if self.raw is None:
            return
        room = self.srv.rawlog_max - self.raw_written
        if room <= 0:
            if not self.raw_truncated:
                self.raw_truncated = True
                self.srv.event(ev="rawlog_truncated", conn=self.serial)
            return
        data = mv[:room] if len(mv) > room else mv
        self.raw.write(data)
        self.raw_written += len(data)

    def send(self, data):
        self.sock.sendall(data)

    def close_gracefully(self, linger=0.2):
        """Half-closes, keeps reading (and logging) what still arrives for up to linger s."""
        try:
            if self.tls:
                # SSLSocket.shutdown() would drop the TLS layer: keep reading through TLS
                # instead, then close (the caller closes the socket).
                if linger < 1.0:
                    return
            else:
                self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + linger
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.sock.settimeout(left)
                data = self.sock.recv(65536)
                if not data:
                    break
                self.log_raw(memoryview(data))
        except (OSError, ValueError):
            pass

    def run(self):
        self.srv.event(ev="open", conn=self.serial, listen=self.listen, peer=self.peer, tls=self.tls)
        reason = "eof"
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls:
                self.sock.settimeout(15)
                self.sock = self.srv.tls_ctx.wrap_socket(self.sock, server_side=True)
                self.sock.settimeout(None)
                self.sni = getattr(self.sock, "mock_sni", None)
                self.alpn = self.sock.selected_alpn_protocol()
                self.tls_version = self.sock.version()
                self.tls_reused = self.sock.session_reused
                self.srv.event(ev="tls", conn=self.serial, sni=self.sni, alpn=self.alpn,
                               version=self.tls_version, cipher=self.sock.cipher()[0],
                               reused=self.tls_reused)
            self.sock.settimeout(self.srv.args.idle_timeout)
            self.reader = Reader(self.sock, self.log_raw)
            while True:
                try:
                    head = self.reader.read_until(b"\r\n\r\n", 1 << 20)
                except EOFError:
                    break
                except TooLarge:
                    self.simple(431, {"error": "header block too large"}, close=True)
                    reason = "431"
                    break
                self.nreq += 1
                try:
                    req = self.parse(head)
                except ProtocolError as e:
                    self.srv.event(ev="bad_request", conn=self.serial, n=self.nreq, error=str(e))
                    self.simple(400, {"error": str(e)}, close=True, extra=[("X-Mock-Error", str(e)[:200])])
                    self.close_gracefully(0.5)
                    reason = "bad request"
                    break
                self.srv.event(ev="req", conn=self.serial, n=self.nreq, method=req.method,
                               target=req.target, head_len=req.head_len)
                if not self.handle(req):
                    reason = "closed by handler"
                    break
                drop = req.q("drop_after", None, float)
                if drop is not None:
                    # the pool drops the connection once it has been idle that long
                    self.sock.settimeout(drop)
        except socket.timeout:
            reason = "idle timeout"
        except (ConnectionError, ssl.SSLError, OSError, EOFError, ProtocolError) as e:
            reason = "%s: %s" % (type(e).__name__, e)
        except Exception as e:  # never let a request kill the mock
            reason = "exception %s: %s" % (type(e).__name__, e)
            print("mockpool: conn %d: %s" % (self.serial, reason), file=sys.stderr, flush=True)
        finally:
            try:
                self.sock.close()
            except OSError:
                pass
            if self.raw:
                self.raw.close()
            self.srv.event(ev="close", conn=self.serial, reason=reason, requests=self.nreq)

    def parse(self, head):
        start, headers = split_head(head)
        parts = start.split(b" ")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise ProtocolError("bad request line %r" % start[:200])
        method, target, version = (p.decode("latin-1") for p in parts)
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise ProtocolError("bad version %r" % version)
        if any(c < 33 or c == 127 for c in parts[1]):
            raise ProtocolError("control byte in target")
        return Request(method, target, version, headers, len(head))

    def keep_alive(self, req):
        conn = tokens(req.headers, "connection")
        if req.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn

    def std_headers(self):
        return [("Server", "mockpool/%s" % self.srv.name), ("X-Mock-Server", self.srv.name),
                ("X-Mock-Conn", str(self.serial)), ("X-Mock-Req", str(self.nreq))]

    def head_bytes(self, status, headers, reason=None):
        reason = REASONS.get(status, "Status") if reason is None else reason
        out = ["HTTP/1.1 %d %s\r\n" % (status, reason)]
        out += ["%s: %s\r\n" % (n, v) for n, v in headers]
        out.append("\r\n")
        return "".join(out).encode("latin-1")

    def simple(self, status, doc, close=False, extra=()):
        body = json.dumps(doc).encode()
        hs = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        hs += self.std_headers() + list(extra)
        if close:
            hs.append(("Connection", "close"))
        try:
            self.send(self.head_bytes(status, hs) + body)
        except OSError:
            pass

    def respond(self, req, status, body=b"", headers=(), ctype="application/json", reason=None,
                close=False, cl=True):
        """Sends a complete response. Returns whether the connection stays open."""
        keep = self.keep_alive(req) and not close and req.q("close") is None
        hs = []
        if ctype and status not in (204, 304):
            hs.append(("Content-Type", ctype))
        if cl and status not in (204, 304) and not 100 <= status < 200:
            hs.append(("Content-Length", str(len(body))))
        hs += list(headers) + self.std_headers()
        if not keep:
            hs.append(("Connection", "close"))
        elif req.version == "HTTP/1.0":
            hs.append(("Connection", "keep-alive"))
        data = self.head_bytes(status, hs, reason)
        if req.method != "HEAD" and status not in (204, 304):
            data += body
        self.send(data)
        if not keep:
            self.close_gracefully()
        return keep

    def send_interim(self, code, extra=()):
        hs = "".join("%s: %s\r\n" % kv for kv in extra)
        self.send(("HTTP/1.1 %d %s\r\n%s\r\n" % (code, REASONS.get(code, "Interim"), hs)).encode())

    # -- request bodies

    def read_body(self, req, stall_after=None, stall=0.0):
        if req.body_read:
            return
        req.body_read = True
        kind, n = body_framing(req.headers, req.version)
        if kind == "none" or (kind == "length" and n == 0):
            return
        if "100-continue" in tokens(req.headers, "expect"):
            self.send_interim(100)
        state = {"stalled": stall_after is None}
        req.body_kept = bytearray()             # the first 16 KiB (sign-in forms)

        def sink(mv):
            req.body_sha.update(mv)
            req.body_len += len(mv)
            if len(req.body_kept) < 16384:
                req.body_kept += bytes(mv[:16384 - len(req.body_kept)])
            if not state["stalled"] and req.body_len >= stall_after:
                state["stalled"] = True
                self.srv.event(ev="stall", conn=self.serial, at=req.body_len, secs=stall)
                time.sleep(stall)

        if kind == "chunked":
            req.trailers = self.reader.read_chunked(sink)
        else:
            self.reader.read_exact(n, sink)

    def echo_doc(self, req, **extra):
        doc = {
            "server": self.srv.name, "listen": self.listen, "peer": self.peer,
            "conn": self.serial, "req_on_conn": self.nreq, "method": req.method,
            "target": req.target, "version": req.version,
            "headers": [[n, v] for n, v in req.headers],
            "body_len": req.body_len, "body_sha256": req.body_sha.hexdigest(),
            "tls": self.tls, "sni": self.sni, "alpn": self.alpn, "tls_version": self.tls_version,
            "tls_reused": self.tls_reused,
            "trailers": [[n, v] for n, v in getattr(req, "trailers", [])],
        }
        doc.update(extra)
        return doc

    def echo(self, req, status=200, headers=(), **extra):
        body = json.dumps(self.echo_doc(req, **extra)).encode()
        return self.respond(req, status, body, headers)

    # -- dispatch

    def handle(self, req):
        lp = req.path.lower()
        if lp == "/auth401":
            return self.auth401(req)
        if lp == "/ws":
            return self.websocket(req)
        if lp == "/early413":
            return self.early413(req)
        self.read_body(req, req.q("stall_after", None, int), req.q("stall", 0.0, float))
        if lp.startswith("/autodiscover/autodiscoverservice.svc/root"):
            return self.autodiscover(req, lp)
        if lp.startswith("/webticket/oauthtoken"):
            return self.oauthtoken(req)
        if lp.startswith("/webticket/webticketservice.svc/auth") and self.srv.passwords is not None:
            return self.webticket_soap(req)
        if lp.startswith("/ucwa/") and lp.endswith("/events"):
            return self.ucwa_events(req)
        if lp.startswith("/ucwa/") and lp.rstrip("/").endswith("/applications"):
            return self.ucwa_applications(req)
        if lp.startswith("/status/"):
            return self.status(req, lp)
        if lp == "/ntlm" or lp.startswith("/ntlm/") or lp.startswith("/abs/handler"):
            return self.ntlm(req)
        fn = {
            "/longpoll": self.longpoll, "/chunked": self.chunked, "/big": self.big,
            "/trailers": self.trailers,
            "/stall": self.stall, "/interim": self.interim, "/close-after": self.close_after,
            "/garbage": self.garbage, "/reset-mid": self.reset_mid,
            "/bad-response": self.bad_response, "/connhdr": self.connhdr,
            "/http10-chunked": self.http10_chunked, "/bighdr": self.bighdr,
            "/lynchdrs": self.lynchdrs, "/close-delimited": self.close_delimited,
            "/bind-first": self.bind_first,
        }.get(lp)
        if fn:
            return fn(req)
        return self.echo(req)

    def auth401(self, req):
        kind, n = body_framing(req.headers, req.version)
        pending = kind == "chunked" or (kind == "length" and n > 0)
        body = json.dumps({"error": "unauthorized", "conn": self.serial}).encode()
        hs = [("WWW-Authenticate", LYNC_RESPONSE_HEADERS[0][1])]
        if pending:
            # The body was never read: answer, then keep reading (and logging) for a while so
            # that any body byte that still arrives is recorded, then close.
            self.send(self.head_bytes(401, [("Content-Type", "application/json"),
                                            ("Content-Length", str(len(body)))] + hs
                                      + self.std_headers() + [("Connection", "close")]) + body)
            self.close_gracefully(2.0)
            return False
        return self.respond(req, 401, body, hs)

    def early413(self, req):
        """413 before reading any of the body, then close at once (what IIS does with an upload
        over its limit): the unread body makes the kernel reset the connection."""
        body = b'{"error": "request entity too large"}'
        self.send(self.head_bytes(413, [("Content-Type", "application/json"),
                                        ("Content-Length", str(len(body)))]
                                  + self.std_headers() + [("Connection", "close")]) + body)
        self.srv.event(ev="early413", conn=self.serial)
        return False

    def bind_first(self, req):
        """A member that binds its TCP connection to the first identity it sees (the
        Authorization value, else X-Who), as http.sys does with Kerberos: every later request on
        the connection is answered as that identity. ?persist=1 adds Persistent-Auth: true,
        ?challenge=V a WWW-Authenticate: V."""
        who = get_one(req.headers, "authorization") or get_one(req.headers, "x-who")
        if getattr(self, "bound", None) is None and who:
            self.bound = who
            self.srv.event(ev="bound", conn=self.serial, who=who)
        hs = []
        if req.q("persist"):
            hs.append(("Persistent-Auth", "true"))
        if req.q("challenge"):
            hs.append(("WWW-Authenticate", req.q("challenge")))
        return self.echo(req, headers=hs, bound=getattr(self, "bound", None))

    def longpoll(self, req):
        secs = req.q("secs", 1.0, float)
        time.sleep(secs)
        return self.echo(req, held=secs)

    def chunked(self, req):
        n = req.q("n", 5, int)
        size = req.q("size", 100, int)
        delay = req.q("delay", 1.0, float)
        hs = [("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked")]
        self.send(self.head_bytes(200, hs + self.std_headers()))
        if req.method == "HEAD":
            return self.keep_alive(req)
        for i in range(n):
            if i:
                time.sleep(delay)
            self.send(b"%x\r\n" % size + pattern_bytes(size, i * size) + b"\r\n")
        self.send(b"0\r\n\r\n")
        return self.keep_alive(req)

    def big(self, req):
        n = req.q("bytes", 1 << 20, int)
        chunked = req.q("chunked", "0") not in ("0", "")
        hs = [("Content-Type", "application/octet-stream")]
        hs.append(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(n)))
        keep = self.keep_alive(req)
        if not keep:
            hs.append(("Connection", "close"))
        self.send(self.head_bytes(200, hs + self.std_headers()))
        if req.method != "HEAD":
            for c in pattern_chunks(n, step=1 << 20):
                if chunked:
                    self.send(b"%x\r\n" % len(c))
                    self.send(c)
                    self.send(b"\r\n")
                else:
                    self.send(c)
            if chunked:
                self.send(b"0\r\n\r\n")
        if not keep:
            self.close_gracefully()
        return keep

    def trailers(self, req):
        n = req.q("bytes", 1000, int)
        hs = [("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked"),
              ("Trailer", "X-Checksum")]
        self.send(self.head_bytes(200, hs + self.std_headers()))
        if req.method == "HEAD":
            return self.keep_alive(req)
        for c in pattern_chunks(n, step=16384):
            self.send(b"%x\r\n" % len(c) + bytes(c) + b"\r\n")
        tr = [("X-Checksum", pattern_sha256(n)), ("X-Mock-Trailer", "1")]
        if req.q("bad"):
            tr += TRAILERS_BAD + TRAILERS_ODD
        if req.q("big"):
            tr.append(("X-Big", big_header_value(req.q("big", 0, int))))
        section = b"0\r\n" + "".join("%s: %s\r\n" % kv for kv in tr).encode("latin-1") + b"\r\n"
        if req.q("split"):
            # The section across reads of the proxy: a field cut in its name, the final CRLF alone.
            cuts = [0, 10, len(section) - 1, len(section)]
            for a, b in zip(cuts, cuts[1:]):
                self.send(section[a:b])
                time.sleep(0.05)
        else:
            self.send(section)
        return self.keep_alive(req)

    def stall(self, req):
        time.sleep(req.q("secs", 5.0, float))
        self.close_gracefully(0.1)
        return False

    def status(self, req, lp):
        try:
            code = int(lp.split("/")[2])
        except (ValueError, IndexError):
            return self.echo(req, status=400)
        if 100 <= code < 200 and code != 101:
            extra = [("Link", "</hints.css>; rel=preload; as=style")] if code == 103 else []
            self.send_interim(code, extra)
            return self.echo(req)
        if code in (204, 304):
            hs = []
            if code == 304:
                hs.append(("ETag", '"mock-etag-1"'))
            cl = req.q("cl")
            if cl is not None:
                hs.append(("Content-Length", cl))
            return self.respond(req, code, b"", hs, ctype=None, cl=False)
        return self.echo(req, status=code)

    def interim(self, req):
        code = req.q("code", 102, int)
        for _ in range(req.q("count", 1, int)):
            self.send_interim(code)
            time.sleep(req.q("gap", 0.05, float))
        return self.echo(req, interim=code)

    def close_after(self, req):
        body = json.dumps(self.echo_doc(req)).encode()
        hs = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        self.send(self.head_bytes(200, hs + self.std_headers()) + (b"" if req.method == "HEAD" else body))
        self.close_gracefully(0.2)
        return False

    def garbage(self, req):
        self.send(b"SSH-2.0-OpenSSH_9.2 this is not HTTP\r\n\x00\xff\xfe garbage\r\n\r\n")
        self.close_gracefully(0.2)
        return False

    def reset_mid(self, req):
        hs = [("Content-Type", "application/octet-stream"), ("Content-Length", "100000")]
        self.send(self.head_bytes(200, hs + self.std_headers()) + pattern_bytes(50000))
        time.sleep(0.2)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        return False

    BAD = {
        "two-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "cl-list": b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!",
        "cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "bad-status": b"HTTP/1.1 2OO OK\r\nContent-Length: 5\r\n\r\nhello",
        "no-status-line": b"Content-Length: 5\r\n\r\nhello",
        "neg-cl": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
        "obs-fold": b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 5\r\n\r\nhello",
        "space-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello",
        "bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
        "cl-short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
    }

    def bad_response(self, req):
        self.send(self.BAD.get(req.q("kind", "two-cl"), self.BAD["two-cl"]))
        self.close_gracefully(0.2)
        return False

    def connhdr(self, req):
        body = json.dumps(self.echo_doc(req)).encode()
        hs = [("Content-Type", "application/json"),
              ("Connection", "keep-alive, X-Secret"),
              ("X-Secret", "1"),
              ("Keep-Alive", "timeout=5, max=100"),
              ("Proxy-Connection", "keep-alive"),
              ("Upgrade", "h2c"),
              ("X-End-To-End", "kept"),
              ("Transfer-Encoding", "chunked")]
        self.send(self.head_bytes(200, hs + self.std_headers()))
        if req.method != "HEAD":
            half = len(body) // 2
            self.send(b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half, body[half:]))
        return self.keep_alive(req)

    def http10_chunked(self, req):
        hs = [("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked")]
        self.send(self.head_bytes(200, hs + self.std_headers()))
        if req.method != "HEAD":
            for c in HTTP10_CHUNKS:
                self.send(b"%x\r\n" % len(c) + c + b"\r\n")
                time.sleep(0.02)
            self.send(b"0\r\n\r\n")
        return self.keep_alive(req)

    def close_delimited(self, req):
        """A response without Content-Length or chunked: the body ends when the pool closes."""
        n = req.q("bytes", 100000, int)
        hs = [("Content-Type", "application/octet-stream"), ("Connection", "close")]
        self.send(self.head_bytes(200, hs + self.std_headers()))
        if req.method != "HEAD":
            for c in pattern_chunks(n):
                self.send(c)
        self.close_gracefully(0.1)
        return False

    def bighdr(self, req):
        n = req.q("bytes", 60000, int)
        return self.echo(req, headers=[("X-Big", big_header_value(n))])

    def lynchdrs(self, req):
        return self.echo(req, status=401, headers=LYNC_RESPONSE_HEADERS)

    # -- connection-oriented authentication (IIS Windows authentication)

    def ntlm(self, req):
        """NTLM/Negotiate as IIS does it, with the state in this TCP connection:
          no Authorization, connection not authenticated  401, WWW-Authenticate: Negotiate, NTLM
          Authorization: <scheme> <type 1 for USER>        401, WWW-Authenticate: <scheme> <type 2
                                                           carrying a challenge of this connection>
          Authorization: <scheme> <type 3 USER:challenge>  200 {"user": USER, ...} if the challenge
                                                           was issued on THIS connection, else 401
          no Authorization, connection authenticated      200 {"user": ...} (IIS keeps the
                                                           connection's identity)
        A successful Negotiate answer carries "WWW-Authenticate: Negotiate <token>" (mutual
        authentication), as IIS's does."""
        offer = [("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", "NTLM")]
        authz = get_one(req.headers, "authorization")

        def unauthorized(why):
            self.srv.event(ev="auth", conn=self.serial, result="401", why=why)
            doc = {"error": "unauthorized", "why": why, "server": self.srv.name,
                   "listen": self.listen, "conn": self.serial}
            return self.respond(req, 401, json.dumps(doc).encode(), offer)

        if not authz:
            if self.auth_user is None:
                return unauthorized("no credentials on this connection")
            return self.echo(req, user=self.auth_user, scheme=self.auth_scheme, authenticated_by="connection")
        scheme, _, tok = authz.partition(" ")
        if scheme.lower() not in ("ntlm", "negotiate"):
            return unauthorized("scheme %s" % scheme)
        real = real_ntlm3(tok) if self.srv.passwords is not None else None
        if real is not None:
            # A real AUTHENTICATE message (MS-NLMP 2.2.1.3). The test convention: its NT
            # response field carries the password itself (the mock computes no NTLMv2).
            domain, user, password = real
            if not self.check_password(user, password, "ntlm"):
                return unauthorized("wrong password for %s\\%s" % (domain, user))
            self.auth_user, self.auth_scheme = user, scheme
            return self.echo(req, user=user, scheme=scheme, authenticated_by="handshake")
        try:
            kind, user, challenge = parse_auth_token(tok)
        except (ValueError, UnicodeDecodeError) as e:
            return unauthorized("bad token: %s" % e)
        if kind == 1:
            challenge = "%s-%d-%s" % (self.srv.name, self.serial, os.urandom(6).hex())
            self.auth_user = None          # a new handshake starts over
            self.auth_pending = (scheme.lower(), user, challenge)
            self.srv.event(ev="auth", conn=self.serial, result="challenge", user=user)
            hs = [("WWW-Authenticate", "%s %s" % (scheme, auth_token(2, challenge=challenge)))]
            doc = {"error": "unauthorized", "why": "challenge", "server": self.srv.name,
                   "listen": self.listen, "conn": self.serial}
            return self.respond(req, 401, json.dumps(doc).encode(), hs)
        if kind == 3:
            pend = self.auth_pending
            if pend is None or pend != (scheme.lower(), user, challenge):
                self.auth_pending = None
                return unauthorized("type 3 without a matching challenge on this connection")
            self.auth_pending = None
            self.auth_user, self.auth_scheme = user, scheme
            self.srv.event(ev="auth", conn=self.serial, result="200", user=user)
            hs = []
            if scheme.lower() == "negotiate":
                hs.append(("WWW-Authenticate", "Negotiate " + auth_token(2, challenge="mutual")))
            return self.echo(req, headers=hs, user=user, scheme=scheme, authenticated_by="handshake")
        return unauthorized("unexpected token type %d" % kind)

    # -- WebSocket

    def websocket(self, req):
        """/ws: a WebSocket echo server. Without a valid upgrade request: 426 and the echo
        document (the connection stays HTTP); ?refuse=1: 403. Otherwise 101 (with ?hello=1 a
        text frame "hello from NAME" leaves in the same write as the 101), then every data frame
        from the client (which must be masked) comes back unmasked with the same opcode and
        FIN bit; ping gets pong; close gets close (same code) and the connection ends. A text
        frame "!close" makes the server send close 1000 and hang up first."""
        self.read_body(req)
        up = tokens(req.headers, "upgrade")
        conn = tokens(req.headers, "connection")
        key = get_one(req.headers, "sec-websocket-key")
        self.srv.event(ev="ws_request", conn=self.serial, headers=[[n, v] for n, v in req.headers])
        if "websocket" not in up or "upgrade" not in conn or not key or req.body_len:
            return self.echo(req, status=426)
        if req.q("refuse") is not None:
            return self.echo(req, status=403)
        hs = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
              ("Sec-WebSocket-Accept", ws_accept(key))] + self.std_headers()
        data = self.head_bytes(101, hs)
        if req.q("hello") is not None:
            data += ws_frame(0x1, ("hello from %s" % self.srv.name).encode())
        self.send(data)
        self.srv.event(ev="ws_open", conn=self.serial)
        frames = 0
        try:
            while True:
                fin, opcode, masked, payload = ws_read_frame(self.reader)
                frames += 1
                if not masked:
                    self.send(ws_frame(0x8, struct.pack("!H", 1002) + b"unmasked client frame"))
                    break
                if opcode == 0x8:
                    self.send(ws_frame(0x8, payload[:2]))
                    break
                if opcode == 0x9:
                    self.send(ws_frame(0xA, payload))
                elif opcode == 0x1 and payload == b"!close":
                    self.send(ws_frame(0x8, struct.pack("!H", 1000)))
                    break
                elif opcode in (0x0, 0x1, 0x2):
                    self.send(ws_frame(opcode, payload, fin=fin))
        except EOFError:
            pass
        finally:
            self.srv.event(ev="ws_close", conn=self.serial, frames=frames)
        self.close_gracefully(0.2)
        return False

    # -- Lync realism

    def autodiscover(self, req, lp):
        host = req.host() or "lyncdiscover.contoso.com"
        domain = req.q("originalDomain") or host.split(".", 1)[-1]
        base = "https://%s/Autodiscover/AutodiscoverService.svc/root" % host
        if lp.rstrip("/").endswith("/root"):
            doc = {"_links": {
                "self": {"href": "%s?originalDomain=%s" % (base, domain)},
                "user": {"href": "%s/oauth/user?originalDomain=%s" % (base, domain)},
                "xframe": {"href": "https://%s/Autodiscover/XFrame/XFrame.html" % host}}}
            return self.respond(req, 200, json.dumps(doc).encode(),
                                ctype="application/vnd.microsoft.rtc.autodiscover+json; v=1")
        authz = get_one(req.headers, "authorization") or ""
        if authz.lower().startswith("bearer ") or get_one(req.headers, "x-ms-webticket"):
            doc = {"_links": {
                "self": {"href": "%s/oauth/user?originalDomain=%s" % (base, domain)},
                "applications": {"href": "https://%s/ucwa/oauth/v1/applications" % host},
                "xframe": {"href": "https://%s/Autodiscover/XFrame/XFrame.html" % host}}}
            return self.respond(req, 200, json.dumps(doc).encode(),
                                ctype="application/vnd.microsoft.rtc.autodiscover+json; v=1")
        hs = [("WWW-Authenticate",
               'MsRtcOAuth href="https://%s/WebTicket/oauthtoken",grant_type="urn:microsoft.rtc:windows,'
               'urn:microsoft.rtc:anonmeeting,password"' % host)]
        return self.respond(req, 401, b"", hs, ctype=None)

    def oauthtoken(self, req):
        """The web ticket service's OAuth endpoint. With --passwords, a password grant is checked
        against the table (user name case-folded, DOMAIN\\ and @suffix dropped): a wrong one
        gets 400 invalid_grant with X-Ms-diagnostics 28020, as Lync answers; unknown users are
        answered --unknown-delay seconds later (Active Directory's tell that lyncsmash uses)."""
        if self.srv.passwords is not None:
            form = urllib.parse.parse_qs(bytes(getattr(req, "body_kept", b"")).decode("latin-1"))
            grant = (form.get("grant_type") or [""])[0]
            if grant == "password":
                user = (form.get("username") or [""])[0]
                ok = self.check_password(user, (form.get("password") or [""])[0], "oauth")
                if not ok:
                    body = b'{"error":"invalid_grant"}'
                    hs = [("X-Ms-diagnostics", '28020;source="%s";reason="The user name or '
                           'password is incorrect."' % self.srv.name)]
                    return self.respond(req, 400, body, hs)
        doc = {"access_token": "cwt=AAEBHAEFAAAAAAAFFQAAAMock" + str(self.serial),
               "expires_in": 28799, "ms_rtc_identityscope": "local", "token_type": "Bearer"}
        return self.respond(req, 200, json.dumps(doc).encode())

    def webticket_soap(self, req):
        """The web ticket service's SOAP endpoint with a WS-Security UsernameToken: a wrong
        password gets a SOAP fault (500) with X-Ms-diagnostics 28020; no token: 200 as if
        another credential had worked."""
        import xml.etree.ElementTree as ET
        wsse = "{%s}" % WSSE_NS
        try:
            root = ET.fromstring(bytes(getattr(req, "body_kept", b"")))
        except ET.ParseError as e:
            return self.respond(req, 400, json.dumps({"error": str(e)}).encode())
        tok = root.find(".//%sUsernameToken" % wsse)
        if tok is not None:
            user = tok.findtext(wsse + "Username") or ""
            if not self.check_password(user, tok.findtext(wsse + "Password") or "", "soap"):
                body = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
                        b'<s:Fault><faultcode>s:Client</faultcode><faultstring>The user name or '
                        b'password is incorrect.</faultstring></s:Fault></s:Body></s:Envelope>')
                hs = [("Content-Type", "text/xml; charset=utf-8"),
                      ("X-Ms-diagnostics", '28020;source="%s";reason="The user name or password '
                       'is incorrect."' % self.srv.name)]
                return self.respond(req, 500, body, hs)
        body = b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>' \
               b'<IssueTokenResponse>mock-ticket</IssueTokenResponse></s:Body></s:Envelope>'
        return self.respond(req, 200, body, [("Content-Type", "text/xml; charset=utf-8")])

    def check_password(self, user, password, channel):
        """Whether USER (any of CONTOSO\\alice, alice@contoso.com, alice) has PASSWORD; every
        attempt is an event, so tests count what reached the pool."""
        key = user.split("\\")[-1].rsplit("@", 1)[0].strip().lower()
        known = key in self.srv.passwords
        if not known and self.srv.args.unknown_delay:
            time.sleep(self.srv.args.unknown_delay)
        ok = known and self.srv.passwords[key] == password
        self.srv.event(ev="signin", channel=channel, user=key, ok=ok, peer=self.peer, conn=self.serial)
        return ok

    def ucwa_applications(self, req):
        app = "/ucwa/oauth/v1/applications/101"
        doc = {"id": app, "culture": "en-US", "userAgent": "mockpool",
               "_links": {"self": {"href": app}, "policies": {"href": app + "/policies"},
                          "batch": {"href": app + "/batch"},
                          "events": {"href": app + "/events?ack=1"}},
               "_embedded": {"me": {"name": "Mock User", "uri": "sip:user@contoso.com"}}}
        status = 201 if req.method == "POST" else 200
        return self.respond(req, status, json.dumps(doc).encode())

    def ucwa_events(self, req):
        secs = min(req.q("timeout", 900.0, float), 1800.0)
        time.sleep(secs)
        ack = req.q("ack", 1, int)
        doc = {"_links": {"self": {"href": req.target},
                          "next": {"href": "%s?ack=%d" % (req.path, ack + 1)}},
               "sender": []}
        return self.respond(req, 200, json.dumps(doc).encode())


def main(argv=None):
    ap = argparse.ArgumentParser(description="mock Lync pool member for portico's tests")
    ap.add_argument("--listen", action="append", required=True,
                    help="IP:PORT or IP:PORT:tls (repeatable)")
    ap.add_argument("--name", default="fe01")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--tls-min", choices=["1.0", "1.1", "1.2", "1.3"])
    ap.add_argument("--tls-max", choices=["1.0", "1.1", "1.2", "1.3"])
    ap.add_argument("--rawlog", help="directory for per-connection raw logs and events.log")
    ap.add_argument("--rawlog-max", type=int, default=8 << 20, help="bytes logged per connection")
    ap.add_argument("--ready-file")
    ap.add_argument("--idle-timeout", type=float, default=600.0)
    ap.add_argument("--passwords", help="JSON {user: password}: check sign-ins (NTLM, OAuth)")
    ap.add_argument("--unknown-delay", type=float, default=0.0,
                    help="seconds more to answer a sign-in for an unknown user")
    args = ap.parse_args(argv)

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    srv = Server(args)
    for spec in args.listen:
        srv.bind(spec)
    srv.serve()
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"pid": os.getpid(), "listen": [l for _, l, _ in srv.listeners]}, f)
        os.rename(tmp, args.ready_file)
    print("mockpool: ready", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
