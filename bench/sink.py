#!/usr/bin/python3
"""bench/sink.py — the upload sink of `make bench`: a tiny HTTP/1.1 server that reads each
request body (Content-Length or chunked) into one reused 1 MiB buffer, discards it, and answers
200 with the number of body bytes it read. Keep-alive; one thread per connection; no disk.

nginx cannot discard a large request body without either answering early (`return 200` replies
before the body is read, which changes what a streaming proxy does) or writing it to a temp
file, so the bench uses this instead. With TLS_PORT, CERT and KEY it also serves the same over
TLS on TLS_PORT (the TLS stream rows: the proxies re-encrypt towards it).
Usage: sink.py ADDRESS PORT [TLS_PORT CERT KEY]"""
import socket
import ssl
import sys
import threading

BUF = 1 << 20


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.pending = bytearray()
        self.buf = bytearray(BUF)
        self.view = memoryview(self.buf)

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.pending += data

    def line(self):
        while True:
            i = self.pending.find(b"\r\n")
            if i >= 0:
                out = bytes(self.pending[:i])
                del self.pending[: i + 2]
                return out
            if len(self.pending) > 65536:
                raise ValueError("line too long")
            self.fill()

    def skip(self, n):
        """Reads and discards n body bytes; returns n."""
        take = min(n, len(self.pending))
        del self.pending[:take]
        left = n - take
        while left:
            got = self.sock.recv_into(self.view, min(left, BUF))
            if not got:
                raise EOFError
            left -= got
        return n

    def head(self):
        while b"\r\n\r\n" not in self.pending:
            if len(self.pending) > 131072:
                raise ValueError("head too long")
            self.fill()
        i = self.pending.index(b"\r\n\r\n")
        lines = bytes(self.pending[:i]).split(b"\r\n")
        del self.pending[: i + 4]
        fields = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            fields[k.strip().lower()] = v.strip()
        return lines[0], fields


def serve(sock):
    c = Conn(sock)
    try:
        while True:
            _, fields = c.head()
            n = 0
            if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
                while True:
                    size = int(c.line().split(b";")[0], 16)
                    if size == 0:
                        while c.line():  # trailers, then the empty line
                            pass
                        break
                    n += c.skip(size)
                    c.line()
            elif b"content-length" in fields:
                n = c.skip(int(fields[b"content-length"]))
            body = b"%d\n" % n
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            if fields.get(b"connection", b"").lower() == b"close":
                break
    except (OSError, EOFError, ValueError):
        pass
    finally:
        sock.close()


def listener(addr, port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1024)
    return ls


def accept_loop(ls, ctx=None):
    while True:
        s, _ = ls.accept()
        threading.Thread(target=handle, args=(s, ctx), daemon=True).start()


def handle(s, ctx):
    """serve() on the connection, after the TLS handshake when CTX is not None."""
    if ctx:
        try:
            s = ctx.wrap_socket(s, server_side=True)
        except (OSError, ssl.SSLError):
            s.close()
            return
    serve(s)


def main():
    addr, port = sys.argv[1], int(sys.argv[2])
    ls = listener(addr, port)
    if len(sys.argv) > 5:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        tls = listener(addr, int(sys.argv[3]))
        threading.Thread(target=accept_loop, args=(tls, ctx), daemon=True).start()
    print("sink: ready", flush=True)
    accept_loop(ls)


if __name__ == "__main__":
    main()
