"""Streaming (SPEC §1): responses flow as they arrive, request bodies stream to the pool, and
memory stays bounded whatever the size (300 MB each way with a stalled reader)."""

import hashlib
import threading
import time

import harness
import mockpool
from harness import SANITIZED, SLOW, RssSampler, build_request, unique

MB = 1 << 20
RSS_BOUND_KB = 8 * 1024


def test_first_chunk_arrives_before_the_last(stack):
    times = []
    with stack.client() as c:
        t0 = time.monotonic()
        c.send(build_request("GET", "/chunked?n=5&size=100&delay=1"))
        r = c.read_response(sink=lambda mv: times.append((time.monotonic() - t0, bytes(mv))))
    assert r.status == 200 and r.body_len == 500
    assert b"".join(b for _, b in times) == mockpool.pattern_bytes(500)
    first, last = times[0][0], times[-1][0]
    assert first < 0.5 * SLOW, "first chunk after %.2f s: the response was buffered" % first
    assert last >= 3.8, "last chunk after %.2f s" % last


def test_response_head_not_delayed_by_slow_body(stack):
    with stack.client() as c:
        t0 = time.monotonic()
        c.send(build_request("GET", "/chunked?n=2&size=10&delay=2"))
        status, _, _, _, _ = c.read_head()
        assert status == 200 and time.monotonic() - t0 < 0.5 * SLOW


def test_request_body_streams_before_complete(stack):
    """The pool sees the first MiB of a 4 MiB upload before the client sends the rest."""
    tok = unique("stream-up")
    n = 4 * MB
    with stack.client(timeout=30) as c:
        c.send(build_request("POST", "/upload?" + tok, headers=[("Content-Length", str(n))]))
        first = mockpool.pattern_bytes(MB)
        c.send(first)
        ev = stack.mock.wait_request(tok, 5)
        assert ev is not None, "head not forwarded while the body is incomplete"
        deadline = time.monotonic() + 5 * SLOW
        got = 0
        while time.monotonic() < deadline:
            got = len(stack.mock.raw_of(ev["conn"])) - ev["head_len"]
            if got >= MB:
                break
            time.sleep(0.05)
        assert got >= MB, "only %d body bytes reached the pool: the body is buffered" % got
        for mv in mockpool.pattern_chunks(n - MB, MB):
            c.send(mv)
        r = c.read_response()
        assert r.json()["body_sha256"] == mockpool.pattern_sha256(n)


def test_download_20mb_chunked_intact(stack):
    n = 20 * MB + 12345
    h = hashlib.sha256()
    with stack.client(timeout=30) as c:
        r = c.request("GET", "/big?bytes=%d&chunked=1" % n, sink=h.update)
    assert r.status == 200 and r.body_len == n and h.hexdigest() == mockpool.pattern_sha256(n)


def test_upload_20mb_chunked_intact(stack):
    n = 20 * MB + 54321
    with stack.client(timeout=30) as c:
        c.send(build_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]))
        for mv in mockpool.pattern_chunks(n, step=777777):
            c.send(b"%x\r\n" % len(mv))
            c.send(mv)
            c.send(b"\r\n")
        c.send(b"0\r\n\r\n")
        d = c.read_response().json()
    assert d["body_len"] == n and d["body_sha256"] == mockpool.pattern_sha256(n)


def rss_report(base, sampler):
    return "RSS base %d kB, max %d kB (+%d kB); samples %s" % (
        base, sampler.max, sampler.max - base, sampler.samples[::max(1, len(sampler.samples) // 20)])


def test_download_300mb_slow_reader_bounded_memory(make_stack):
    st = make_stack(timeout_idle=60)
    n = 300 * MB
    expected = mockpool.pattern_sha256(n)
    with st.client(timeout=120) as c:
        assert c.request().status == 200            # warm up: buffers, pools, first connection
        base = st.portico.rss_kb()
        sampler = RssSampler(st.portico)
        sampler.start()
        h = hashlib.sha256()
        state = {"got": 0, "paused": False}

        def sink(mv):
            h.update(mv)
            state["got"] += len(mv)
            if not state["paused"] and state["got"] >= 100 * MB:
                state["paused"] = True
                time.sleep(10)                       # stop reading: the proxy must not buffer

        try:
            r = c.request("GET", "/big?bytes=%d" % n, sink=sink)
        finally:
            sampler.stop()
    assert r.status == 200 and r.body_len == n
    assert h.hexdigest() == expected
    if not SANITIZED:
        assert sampler.max - base < RSS_BOUND_KB, rss_report(base, sampler)


def test_upload_300mb_stalled_pool_bounded_memory(make_stack):
    st = make_stack(timeout_idle=60)
    n = 300 * MB
    expected = mockpool.pattern_sha256(n)
    with st.client(timeout=120) as c:
        assert c.request().status == 200
        base = st.portico.rss_kb()
        sampler = RssSampler(st.portico)
        sampler.start()
        t0 = time.monotonic()
        try:
            c.send(build_request("POST", "/upload?stall_after=%d&stall=10" % (100 * MB),
                                 headers=[("Content-Length", str(n)),
                                          ("Content-Type", "application/octet-stream")]))
            for mv in mockpool.pattern_chunks(n):
                c.send(mv)
            r = c.read_response()
        finally:
            sampler.stop()
    assert r.status == 200
    d = r.json()
    assert d["body_len"] == n and d["body_sha256"] == expected
    assert time.monotonic() - t0 >= 9.5
    if not SANITIZED:
        assert sampler.max - base < RSS_BOUND_KB, rss_report(base, sampler)


def test_parallel_downloads_and_uploads(stack):
    n = 8 * MB
    errors = []

    def down(i):
        try:
            h = hashlib.sha256()
            with stack.client(timeout=60) as c:
                r = c.request("GET", "/big?bytes=%d&chunked=%d" % (n + i, i % 2), sink=h.update)
            if h.hexdigest() != mockpool.pattern_sha256(n + i):
                errors.append("download %d corrupt" % i)
        except Exception as e:
            errors.append("download %d: %r" % (i, e))

    def up(i):
        try:
            with stack.client(timeout=60) as c:
                c.send(build_request("POST", "/upload", headers=[("Content-Length", str(n + i))]))
                for mv in mockpool.pattern_chunks(n + i):
                    c.send(mv)
                d = c.read_response().json()
            if d["body_sha256"] != mockpool.pattern_sha256(n + i):
                errors.append("upload %d corrupt" % i)
        except Exception as e:
            errors.append("upload %d: %r" % (i, e))

    for i in range(4):
        mockpool.pattern_sha256(n + i)
    threads = [threading.Thread(target=f, args=(i,)) for i in range(4) for f in (down, up)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not errors, errors
