#!/usr/bin/env python3
"""fuzz/make-seeds.py — writes the committed seed corpora fuzz/corpus/NAME/ (run from anywhere;
arguments: only these harnesses).

The files are committed; this script documents them and rebuilds them after an edit. In the
HTTP inputs, RUN(n, c) is the harnesses' run-length escape (FE FE HI LO C = byte C n times), so
that a seed of a few hundred bytes carries a 60 KiB Kerberos token or an 8 KiB request line.
"""

import base64
import os
import struct
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))


def RUN(n, c):
    assert 0 < n < 65536 and len(c) == 1
    return b"\xfe\xfe" + bytes([n >> 8, n & 0xFF]) + c.encode()


def chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


NTLM1 = b"TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=="
NTLM2 = (b"TlRMTVNTUAACAAAADAAMADgAAAAFgomiBTEwAHqHKa8AAAAAAAAAAH4AfgBEAAAABgGxHQAAAA9DAE8ATgBU"
         b"AE8AUwBPAAIADABDAE8ATgBUAE8AUwBPAAEACABGAEUAMAAxAAQAFgBjAG8AbgB0AG8AcwBvAC4AbABvAGMA")

REQUEST = {
    "autodiscover-root": b"GET /Autodiscover/AutodiscoverService.svc/root HTTP/1.1\r\n"
    b"Host: lyncdiscover.contoso.com\r\n"
    b"Accept: application/vnd.microsoft.rtc.autodiscover+xml;v=1\r\n"
    b"User-Agent: ACOMO\r\nX-Ms-Origin: https://lyncdiscover.contoso.com\r\n\r\n",
    "ucwa-ntlm": b"POST /ucwa/oauth/v1/applications HTTP/1.1\r\nHost: webext.contoso.com\r\n"
    b"Authorization: NTLM " + NTLM1 + b"\r\nContent-Type: application/json\r\n"
    b"Content-Length: 2\r\nCookie: MS-WSMAN=0badf00d; cwt_ucwa=AAEB\r\n\r\n{}",
    "negotiate-60k": b"GET /abs/handler/ HTTP/1.1\r\nHost: webext.contoso.com\r\n"
    b"Authorization: Negotiate YII" + RUN(60000, "Q") + b"==\r\n\r\n",
    "chunked-upload": b"POST /DataCollabWeb/UploadHandler.ashx HTTP/1.1\r\nHost: meet.contoso.com\r\n"
    b"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\nContent-Type: application/octet-stream\r\n"
    b"X-Ms-WebTicket: opaque=XYZ\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "absolute-form": b"GET https://webext.contoso.com/CertProv/CertProvisioningService.svc/mex HTTP/1.1\r\n"
    b"Host: WEBEXT.contoso.com:443\r\n\r\n",
    "websocket": b"GET /ucwa/v1/applications/101/events HTTP/1.1\r\nHost: webext.contoso.com\r\n"
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n",
    "hop-by-hop": b"GET /groupexpansion/service.svc HTTP/1.1\r\nHost: webext.contoso.com\r\n"
    b"Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
    b"Trailer: X-Sum\r\nProxy-Connection: keep-alive\r\nX-Forwarded-For: 198.51.100.7, 10.0.0.1\r\n"
    b"X-Forwarded-Proto: http\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n",
    "dialin-http10-host": b"GET /dialin/ HTTP/1.0\r\nHost: dialin.contoso.com\r\nConnection: keep-alive\r\n\r\n",
    "meet-referer": b"GET /Reach/Client/WebPages/ReachJoin.aspx?xml=PFg%2B&meet=1 HTTP/1.1\r\n"
    b"Host: meet.contoso.com\r\nReferer: https://meet.contoso.com/alice/ABCD1234\r\n"
    b"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept-Language: en-US\r\n\r\n",
    "long-request-line": b"GET /" + RUN(8000, "a") + b" HTTP/1.1\r\nHost: webext.contoso.com\r\n\r\n",
    "pipelined": b"GET /a HTTP/1.1\r\nHost: webext.contoso.com\r\n\r\nGET /canary-1 HTTP/1.1\r\n"
    b"Host: webext.contoso.com\r\n\r\n",
    "bad-cl-te": b"POST /x HTTP/1.1\r\nHost: webext.contoso.com\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n",
    "bad-obs-fold": b"GET / HTTP/1.1\r\nHost: webext.contoso.com\r\nX-Ms-WebTicket: a\r\n b\r\n\r\n",
    "bad-bare-lf": b"GET / HTTP/1.1\nHost: webext.contoso.com\n\n",
    "bad-connect": b"CONNECT webext.contoso.com:443 HTTP/1.1\r\nHost: webext.contoso.com:443\r\n\r\n",
    "bad-te-list": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    # RFC 9112 §2.2: empty lines before a request line are skipped, up to PC_MAX_LEAD_LINES (4)
    "empty-lines-first": b"\r\n\r\nPOST /ucwa/v1/applications HTTP/1.1\r\nHost: webext.contoso.com\r\n"
    b"Content-Length: 0\r\n\r\n",
    "bad-five-empty-lines": b"\r\n" * 5 + b"GET / HTTP/1.1\r\nHost: webext.contoso.com\r\n\r\n",
}

RESPONSE = {
    "401-ntlm-negotiate": b"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/html\r\n"
    b"Server: Microsoft-IIS/8.5\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n"
    b"X-Powered-By: ASP.NET\r\nContent-Length: 1293\r\n\r\n",
    "401-ntlm-challenge": b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM " + NTLM2 + b"\r\n"
    b"Content-Length: 0\r\n\r\n",
    "200-chunked": b"HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/vnd.microsoft.rtc.autodiscover+xml; v=1\r\n"
    b"X-Content-Type-Options: nosniff\r\n\r\n",
    "200-cookie": b"HTTP/1.1 200 OK\r\nContent-Length: 512\r\n"
    b"Set-Cookie: cwt_ucwa=AAEB; path=/ucwa; secure; HttpOnly\r\n"
    b"Set-Cookie: MS-WSMAN=0badf00d; Path=/\r\n\r\n",
    "101-websocket": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    "100-continue": b"HTTP/1.1 100 Continue\r\n\r\n",
    "304": b"HTTP/1.1 304 Not Modified\r\nETag: \"1d2c3b4a\"\r\nContent-Length: 99\r\n\r\n",
    "204": b"HTTP/1.1 204 No Content\r\n\r\n",
    "http10-close-delimited": b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n",
    "negotiate-60k": b"HTTP/1.1 200 OK\r\nWWW-Authenticate: Negotiate oYG" + RUN(60000, "B") + b"=\r\n"
    b"Content-Length: 0\r\n\r\n",
    "500-connection-named": b"HTTP/1.1 500 Internal Server Error\r\nConnection: close, X-Internal\r\n"
    b"X-Internal: secret\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n",
    "302-location": b"HTTP/1.1 302 Found\r\nLocation: https://webext.contoso.com/ucwa/v1\r\n"
    b"Content-Length: 0\r\n\r\n",
    "reason-obs-text": b"HTTP/1.1 200 \xc3\x89t\xc3\xa9\r\nContent-Length: 0\r\n\r\n",
    "bad-two-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    "bad-status": b"HTTP/1.1 2x0 OK\r\n\r\n",
    "bad-bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
}

CHUNKED = {
    "hello": b"5\r\nhello\r\n0\r\n\r\n",
    "wikipedia-trailer": b"4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n"
    b"Expires: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n",
    "extensions": b"a;name=value;q=\"quoted \\\" string\"\r\n0123456789\r\n0;last\r\n\r\n",
    "upper-hex-zeros": b"00A\r\n0123456789\r\n000\r\n\r\n",
    "big-chunk": b"1000\r\n" + RUN(4096, "x") + b"\r\n10000\r\n" + RUN(65535, "y") + b"z\r\n0\r\n\r\n",
    "json-events": chunk(b'{"_links":{"self":{"href":"/ucwa/v1/applications/101/events?ack=1"}},')
    + chunk(b'"sender":[{"rel":"communication","events":[]}]}') + b"0\r\n\r\n",
    "pipelined": b"3\r\nabc\r\n0\r\n\r\nGET /canary-1 HTTP/1.1\r\nHost: a\r\n\r\n",
    "truncated": b"10\r\nonly-part",
    "bad-overflow": b"ffffffffffffffffff\r\n",
    "bad-junk-size": b"5x\r\nhello\r\n0\r\n\r\n",
    "bad-bare-lf": b"5\nhello\n0\n\n",
    "bad-no-crlf-after-data": b"5\r\nhelloX\r\n0\r\n\r\n",
    "bws-extension": b"5 ; ext = \"v\"\r\nhello\r\n0\r\n\r\n",
    "bad-leading-space": b" 5\r\nhello\r\n0\r\n\r\n",
}

FULL = b"""; SPEC section 3, with IP literals and files of the fuzzer's private directory
[proxy]
external      = 0.0.0.0 [::]        ; address(es) of the external interface
internal      = 10.0.0.5            ; source of every upstream connection
https_port    = 443
http_port     = 80
certificate   = public.pem          ; PEM chain
key           = public.key
certificate   = ecdsa.pem           # an ECDSA certificate for the same names
key           = ecdsa.key
tls_min       = 1.2
ciphers       = ECDHE+AESGCM:ECDHE+CHACHA20
ticket_key_file = tickets.key
workers       = auto
max_connections = 20000
access_log    = stdout
access_log_format = combined
admin         = 127.0.0.1:9090
timeout_connect   = 5
timeout_handshake = 10
timeout_header    = 30
timeout_keepalive = 120
timeout_idle  = 1860
drain_timeout = 30

[pool lync]
role          = frontend
servers       = 10.0.1.11 10.0.1.12 10.0.1.13:4443
publish       = webext.contoso.com meet.contoso.com dialin.contoso.com lyncdiscover.contoso.com
https_port    = 4443
http_port     = 8080
http          = auto
ca            = internal-ca.pem
verify_name   = pool.contoso.local
verify        = on
tls_min       = 1.2
affinity      = none
health_interval = 5
health_rise   = 2
health_fall   = 3

[pool owa]
role          = owa
servers       = 10.0.2.21 [2001:db8::21]:443
publish       = owa.contoso.com *.owa.contoso.com
ca            = owa-ca.pem
affinity      = source
"""

CONFIG = {
    "full-spec": FULL,
    "minimal": b"[proxy]\ncertificate = public.pem\n[pool fe]\nservers = 10.0.1.11\n"
    b"publish = webext.contoso.com\n",
    "resolved-names": b"[proxy]\ncertificate = public.pem\nkey = public.key\n"
    b"[pool fe]\nservers = fe01.contoso.local fe02.contoso.local:5443 localhost 10.0.1.12\n"
    b"publish = webext.contoso.com lyncdiscover.contoso.com\naffinity = cookie\n"
    b"[pool dir]\nrole = director\nservers = dir01.contoso.local\npublish = *.dir.contoso.com\n",
    "ipv6": b"[proxy]\nexternal = :: [::1] 192.0.2.1\ninternal = fe80::1%1\nadmin = [::1]:9090\n"
    b"https_port = 8443\nhttp_port = off\n[pool v6]\nrole = generic\n"
    b"servers = [2001:db8::1]:4443 2001:db8::2 [::ffff:10.0.0.1]\npublish = v6.contoso.com\n",
    "errors": b"[proxy]\nhttps_port = 99999\ntls_min = 1.4\nbogus = 1\ndrain_timeout = 0\n"
    b"admin = 0.0.0.0:9090\n\n[pool a]\nservers = 127.0.0.1\npublish = a.contoso.com b.contoso.com\n"
    b"verify = off\n\n[pool b]\nservers = 127.0.0.1\npublish = B.contoso.com bad..name\n"
    b"http = forward\nrole = owa\n\n[pool c]\nrole = generic\n\n[pool a]\nservers = 127.0.0.1\n"
    b"publish = z.contoso.com\n\n[nonsense]\n",
    "user-files": b"[proxy]\nuser = portico\ncertificate = public.pem\nkey = public.key\n"
    b"ticket_key_file = tickets.key\n[pool fe]\nservers = 10.0.1.11\npublish = webext.contoso.com\n"
    b"ca = internal-ca.pem\n",
    "crlf-bom-comments": b"\xef\xbb\xbf# comment\r\n[proxy]   ; trailing\r\ncertificate = public.pem # c\r\n"
    b"ciphers = HIGH:!aNULL#x\r\n\r\n[pool  fe ]\r\nservers = 10.0.1.11\t10.0.1.12 ; two\r\n"
    b"publish = webext.contoso.com.\r\n",
    "syntax-errors": b"key = outside\n[proxy\n[proxy] junk\n[]\n[pool a b]\n[pool]\n= value\n"
    b"two words = x\nnovalue\n[proxy]\nhttps_port =\nworkers = 5000\n",
    "duplicates": b"[proxy]\ncertificate = public.pem\nkey = public.key\nkey = ecdsa.key\n"
    b"https_port = 443\nhttps_port = 444\n[pool a]\nservers = 10.0.0.1 10.0.0.1 10.0.0.1:4443\n"
    b"publish = x.contoso.com *.contoso.com\n[pool b]\nservers = 10.0.0.2\n"
    b"publish = X.CONTOSO.COM. *.contoso.com\n",
    "values": b"[proxy]\ntimeout_idle = 1e3\ntimeout_header = inf\ntimeout_connect = 0.5\n"
    b"timeout_keepalive = 31622401\nworkers = 0\nmax_connections = -1\ntls_min = 1.0\n"
    b"ciphers = NOTHING-AT-ALL\naccess_log = logs/access.log\naccess_log_format = w3c\n"
    b"certificate = certs\nticket_key_file = /dev/zero\n[pool p]\nrole = owa\nhttp = forward\n"
    b"http_port = none\nhttps_port = 0\nverify_name = -bad-\nhealth_rise = 1001\n"
    b"servers = [::1 10.0.0.1:0 10.0.0.1:65536 unknown.example.org [fe80::1%lo]:443\n"
    b"publish = *.a *..b a*.c\n",
    "empty": b"",
    "long-line": b"[pool long]\npublish = " + b"a" * 70 + b".contoso.com " + b"x." * 130 + b"com\n"
    b"servers = " + b"10.0.0.1 " * 200 + b"\n",
}


def _ntlm3(domain, user, unicode=True):
    """An NTLM AUTHENTICATE message (MS-NLMP 2.2.1.3): six security buffers, then the payload."""
    enc = (lambda t: t.encode("utf-16-le")) if unicode else (lambda t: t.encode("ascii"))
    fields = [b"\x00" * 24, b"\x00" * 24, enc(domain), enc(user), enc("WS01"), b""]
    off = 64 + 8
    head, body = b"", b""
    for f in fields:
        head += struct.pack("<HHI", len(f), len(f), off + len(body))
        body += f
    flags = 0x00000001 if unicode else 0x00000002
    return b"NTLMSSP\x00" + struct.pack("<I", 3) + head + struct.pack("<I", flags) + b"\x00" * 8 + body


def _der(tag, body):
    n = len(body)
    ln = bytes([n]) if n < 128 else (b"\x81" + bytes([n]) if n < 256 else b"\x82" + struct.pack(">H", n))
    return bytes([tag]) + ln + body


NTLMSSP_OID = b"\x06\x0a\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"
KRB5_OID = b"\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"
SPNEGO_OID = b"\x06\x06\x2b\x06\x01\x05\x05\x02"


def _neg_init(mech, token):
    inner = _der(0x30, _der(0xa0, _der(0x30, mech)) + _der(0xa2, _der(0x04, token)))
    return _der(0x60, SPNEGO_OID + _der(0xa0, inner))


NTLM = {
    "type1": b"NTLMSSP\x00\x01\x00\x00\x00\x07\x82\x08\xa2" + b"\x00" * 16,
    "type2": b"NTLMSSP\x00\x02\x00\x00\x00" + b"\x00" * 8 + b"\x05\x82\x89\xa2" + b"\x11" * 8 + b"\x00" * 16,
    "type3-unicode": _ntlm3("CONTOSO", "alice"),
    "type3-oem": _ntlm3("CONTOSO", "bob", unicode=False),
    "spnego-init-ntlm": _neg_init(NTLMSSP_OID, b"NTLMSSP\x00\x01\x00\x00\x00\x07\x82\x08\xa2" + b"\x00" * 16),
    "spnego-resp-type3": _der(0xa1, _der(0x30, _der(0xa2, _der(0x04, _ntlm3("CONTOSO", "carol"))))),
    "spnego-init-krb5": _neg_init(KRB5_OID, _der(0x60, KRB5_OID + b"\x01\x00" + b"\x6e\x03\x02\x01\x05")),
    "truncated-type3": _ntlm3("CONTOSO", "alice")[:40],
    "offset-past-end": b"NTLMSSP\x00\x03\x00\x00\x00" + struct.pack("<HHI", 8, 8, 0xfffffff0) * 6 + b"\x01\x00\x00\x00",
    "form-password": b"grant_type=password&username=CONTOSO%5Calice&password=Secret%21",
    "form-anon": b"grant_type=urn%3Amicrosoft.rtc%3Aanonmeeting&password=x&username=guest",
    "basic": b"Basic " + base64.b64encode(b"alice@contoso.com:Secret!"),
    "negotiate-header": b"Negotiate " + base64.b64encode(_ntlm3("CONTOSO", "dave")),
    "soap-usernametoken": b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<s:Header><o:Security xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-'
    b'wssecurity-secext-1.0.xsd"><o:UsernameToken><o:Username>CONTOSO\\alice</o:Username>'
    b"<o:Password>x</o:Password></o:UsernameToken></o:Security></s:Header><s:Body/></s:Envelope>",
}

# ---- HTTP/2 (fuzz_h2: the client's bytes after the connection preface, which the harness sends)

def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 2, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, PADDED, PRIO = 0x1, 0x4, 0x8, 0x20


def hpack_int(v, prefix, first):
    top = (1 << prefix) - 1
    if v < top:
        return bytes([first | v])
    out, v = [first | top], v - top
    while v >= 128:
        out.append(v % 128 + 128)
        v //= 128
    return bytes(out + [v])


def lit(name, value, index=False):
    """A literal field (RFC 7541 §6.2): with incremental indexing, or never indexed."""
    name, value = name.encode(), value if isinstance(value, bytes) else value.encode()
    return (b"\x40" if index else b"\x10") + hpack_int(len(name), 7, 0) + name + hpack_int(len(value), 7, 0) + value


GET_HTTPS = b"\x82\x87"  # static table: :method GET, :scheme https
SET = frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 100) + struct.pack(">HI", 4, 1 << 20))
ACK = frame(SETTINGS, 1, 0, b"")


def req(path, authority="webext.contoso.com", fields=(), method=None):
    b = (lit(":method", method) if method else b"\x82") + b"\x87" + lit(":path", path)
    if authority is not None:
        b += lit(":authority", authority, index=True)
    return b + b"".join(lit(n, v) for n, v in fields)


def headers(sid, block, end_stream=True, max_frame=16384):
    """HEADERS then CONTINUATION frames of at most max_frame bytes."""
    parts = [block[i:i + max_frame] for i in range(0, len(block), max_frame)] or [b""]
    out = b""
    for i, part in enumerate(parts):
        flags = (END_HEADERS if i == len(parts) - 1 else 0)
        if i == 0:
            out += frame(HEADERS, flags | (END_STREAM if end_stream else 0), sid, part)
        else:
            out += frame(CONTINUATION, flags, sid, part)
    return out


def squeeze(data):
    """Runs of 16 or more equal bytes as RUN(n, c) (the harness expands them back)."""
    assert b"\xfe\xfe" not in data
    out, i = b"", 0
    while i < len(data):
        j = i
        while j < len(data) and data[j] == data[i] and j - i < 65535:
            j += 1
        out += RUN(j - i, chr(data[i])) if j - i >= 16 else data[i:j]
        i = j
    return out


UA = ("user-agent", "UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 (Skype for Business)")
H2 = {
    "get-cookies-te": SET + ACK + headers(1, req("/ucwa/v1/applications", fields=(
        UA, ("cookie", "MS-WSMAN=0badf00d"), ("accept", "application/json"), ("cookie", "cwt_ucwa=AAEB"),
        ("te", "trailers")))),
    "post-content-length": SET + ACK + headers(1, req("/ucwa/oauth/v1/applications", method="POST", fields=(
        ("content-type", "application/json"), ("content-length", "11"))), end_stream=False)
    + frame(DATA, 0, 1, b"{\"a\":") + frame(DATA, END_STREAM, 1, b"\"bc\"}"),
    "post-chunked-trailers": SET + headers(1, req("/DataCollabWeb/UploadHandler.ashx", "meet.contoso.com",
                                                  method="POST", fields=(("expect", "100-continue"),)),
                                           end_stream=False)
    + frame(DATA, 0, 1, b"hello") + frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 65536))
    + frame(DATA, PADDED, 1, b"\x03world\x00\x00\x00")
    + frame(HEADERS, END_STREAM | END_HEADERS, 1, lit("x-checksum", "5d41")),
    "continuation": SET + frame(HEADERS, END_STREAM, 1, req("/abs/handler/", fields=(UA,)))
    + frame(CONTINUATION, 0, 1, lit("accept-language", "en-US"))
    + frame(CONTINUATION, END_HEADERS, 1, lit("x-ms-webticket", "opaque=XYZ")),
    "negotiate-60k": squeeze(SET + headers(1, req("/abs/handler/", fields=(
        ("authorization", b"Negotiate YII" + b"Q" * 60000 + b"=="),)))),
    "ntlm-and-get": SET + headers(1, req("/ucwa/oauth/v1/applications", fields=(
        ("authorization", "NTLM " + NTLM1.decode()),))) + headers(3, b"\x82\x87" + lit(":path", "/x") + b"\xbe"),
    "rst-stream": SET + headers(1, req("/poll"), end_stream=False) + frame(RST_STREAM, 0, 1, struct.pack(">I", 8))
    + headers(3, req("/after-reset")),
    "control-frames": SET + ACK + frame(PING, 0, 0, b"12345678")
    + frame(PRIORITY, 0, 3, struct.pack(">IB", 0, 15))
    + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 20))
    + headers(5, req("/a")) + frame(GOAWAY, 0, 0, struct.pack(">II", 5, 0) + b"bye"),
    "host-no-authority": SET + headers(1, req("/dialin/", authority=None, fields=(("host", "dialin.contoso.com"),)))
    + headers(3, req("/x", fields=(("host", "other.contoso.com"),))),
    "priority-padded-headers": SET + frame(HEADERS, END_STREAM | END_HEADERS | PADDED | PRIO, 1,
                                           b"\x02" + struct.pack(">IB", 0x80000000, 200) + req("/p") + b"\x00\x00"),
    "absolute-path-odd-scheme": SET + headers(1, b"\x82" + lit(":scheme", "foo") + lit(":path", "https://evil.contoso.com/x")
                                              + lit(":authority", "webext.contoso.com")),
    "window-settings": SET + frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0)) + headers(1, req("/16k"))
    + frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535)) + frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 100)),
    "many-streams": SET + b"".join(headers(2 * i + 1, req("/s%d" % i)) for i in range(12)),
}


def item(t, content):
    """fuzz_rec's input item: TYPE LEN_HI LEN_LO CONTENT (TYPE >= 0x80: raw bytes on the wire)."""
    return bytes([t]) + struct.pack(">H", len(content)) + content


KEYUPDATE = b"\x18\x00\x00\x01"
REC = {
    "data": b"\x00\x00" + item(23, b"GET /echo HTTP/1.1\r\nHost: a\r\n\r\n") + item(23, b"x" * 3000),
    "keyupdate-requested": b"\x01\x01" + item(23, b"before") + item(22, KEYUPDATE + b"\x01") + item(23, b"after"),
    "keyupdate-then-close": b"\x02\x00" + item(22, KEYUPDATE + b"\x00") + item(23, b"a") + item(21, b"\x01\x00")
    + item(23, b"after close"),
    "ticket-client": b"\x00\x00" + item(22, b"\x04\x00\x00\x08" + b"\x00" * 8) + item(23, b"ok"),
    "user-canceled": b"\x01\x00" + item(21, b"\x01\x5a") + item(23, b"still") + item(21, b"\x02\x28"),
    "raw-junk": b"\x00\x00" + item(23, b"ok") + item(0x80, b"\x17\x03\x03\x00\x20" + b"\xaa" * 32),
    "plaintext-record": b"\x00\x01" + item(0x80, b"\x16\x03\x03\x00\x04\x18\x00\x00\x00"),
    "padding-only": b"\x02\x00" + item(0, b"\x00\x00\x00") + item(23, b""),
}


HARNESSES = {"request": REQUEST, "response": RESPONSE, "chunked": CHUNKED, "config": CONFIG, "ntlm": NTLM,
             "h2": H2, "rec": REC}


def main(names=None):
    for name, seeds in HARNESSES.items():
        if names and name not in names:
            continue
        d = os.path.join(HERE, "corpus", name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for i, (label, data) in enumerate(seeds.items(), 1):
            with open(os.path.join(d, "%02d-%s" % (i, label)), "wb") as f:
                f.write(data)
        print("%s: %d seeds" % (d, len(seeds)))


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])    # names of harnesses, or all
