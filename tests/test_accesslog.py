"""Access log (SPEC §5): one line per request; JSON fields; combined format shape."""

import json
import re
import time

import harness
from harness import Pool, build_request

JSON_KEYS = {"time", "client", "host", "method", "path", "status", "bytes", "duration", "pool", "member",
             "upstream_status"}
EMPTY = (None, "", "-", 0, "0")


def test_json_line_fields(stack):
    with stack.client() as c:
        r = c.request("GET", "/echo?x=1", "webext.contoso.com", headers=[("User-Agent", "Lync Mobile/5.4")])
        total = len(r.head_raw) + r.body_len
    (e,) = stack.access_entries(1)
    assert JSON_KEYS <= set(e), "missing keys: %s" % (JSON_KEYS - set(e))
    assert str(e["status"]) == "200"
    assert str(e["upstream_status"]) == "200"
    assert e["host"] == "webext.contoso.com"
    assert e["method"] == "GET"
    assert e["path"].startswith("/echo")
    assert e["pool"] == "fe"
    assert stack.net.member(1) in str(e["member"])
    assert str(e["client"]).startswith(stack.net.client)
    assert r.body_len <= int(e["bytes"]) <= total
    d = float(e["duration"])
    assert 0 <= d < 5000
    t = e["time"]
    if isinstance(t, (int, float)):
        assert abs(t - time.time()) < 120
    else:
        assert time.strftime("%Y") in t or time.strftime("%b") in t, t


def test_json_line_for_each_request_in_order(stack):
    with stack.client() as c:
        c.send(b"".join(build_request("GET", "/echo?n=%d" % i) for i in range(5)))
        for i in range(5):
            c.read_response()
    entries = stack.access_entries(5)
    assert len(entries) == 5
    assert [e["path"] for e in entries] == ["/echo?n=%d" % i for i in range(5)] or \
        [e["path"] for e in entries] == ["/echo"] * 5


def test_json_line_for_404(stack):
    stack.request("GET", "/nothing", "unpublished.example.com")
    (e,) = stack.access_entries(1)
    assert str(e["status"]) == "404"
    assert e["host"] == "unpublished.example.com"
    assert e["pool"] in EMPTY and e["member"] in EMPTY and e["upstream_status"] in EMPTY


def test_json_line_for_502(make_stack):
    net = harness.Net.alloc()
    st = make_stack(net=net, members=[net.member(5)], mock_ips=[])
    assert st.request().status == 502
    (e,) = st.access_entries(1)
    assert str(e["status"]) == "502"
    assert e["pool"] == "fe"
    assert e["upstream_status"] in EMPTY


def test_json_line_for_504_has_member(make_stack):
    st = make_stack(timeout_idle=1)
    assert st.request("GET", "/stall?secs=5").status == 504
    (e,) = st.access_entries(1)
    assert str(e["status"]) == "504" and e["pool"] == "fe"
    assert st.net.member(1) in str(e["member"])


def test_json_line_upstream_status_differs_from_status(make_stack):
    st = make_stack()
    assert st.request("GET", "/bad-response?kind=two-cl").status == 502
    (e,) = st.access_entries(1)
    assert str(e["status"]) == "502"
    assert st.net.member(1) in str(e["member"])


def test_json_duration_of_long_poll(stack):
    stack.request("GET", "/longpoll?secs=1.2")
    (e,) = stack.access_entries(1)
    d = float(e["duration"])
    assert 1.1 <= d < 10 or 1100 <= d < 10000, "duration %r (expected seconds or ms)" % d


def test_json_lines_well_formed_under_concurrency(stack):
    clients = [stack.client() for _ in range(20)]
    try:
        for i, c in enumerate(clients):
            c.send(build_request("GET", "/longpoll?secs=0.3&i=%d" % i))
        for c in clients:
            assert c.read_response().status == 200
    finally:
        for c in clients:
            c.close()
    lines = stack.access_lines(20)
    assert len(lines) == 20
    for l in lines:
        assert str(json.loads(l)["status"]) == "200"


def test_combined_format(make_stack):
    st = make_stack(access_log_format="combined")
    st.request("GET", "/GroupExpansion/service.svc?x=1", "webext.contoso.com",
               headers=[("User-Agent", "ABS/1.0"), ("Referer", "https://webext.contoso.com/x")])
    (line,) = st.access_lines(1)
    m = re.match(r'^(\S+) \S+ \S+ \[([^\]]+)\] "GET /GroupExpansion/service\.svc\?x=1 HTTP/1\.1" 200 (\d+) "([^"]*)" "([^"]*)"',
                 line)
    assert m, line
    assert m.group(1) == st.net.client
    assert re.match(r"\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$", m.group(2)), m.group(2)
    assert m.group(4) == "https://webext.contoso.com/x" and m.group(5) == "ABS/1.0"


def test_combined_format_escapes_quotes(make_stack):
    st = make_stack(access_log_format="combined")
    st.request("GET", "/echo", headers=[("User-Agent", 'evil" 200 0 "x')])
    (line,) = st.access_lines(1)
    m = re.match(r'^\S+ \S+ \S+ \[[^\]]+\] "GET /echo HTTP/1\.1" 200 \d+ "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"', line)
    assert m, "a quote in User-Agent must be escaped: " + line
    ua = m.group(2).replace('\\x22', '"').replace('\\"', '"')
    assert ua == 'evil" 200 0 "x', "User-Agent field %r" % m.group(2)


def test_json_line_parses_with_hostile_host(stack):
    stack.request("GET", "/x", 'evil\\"host.example')
    lines = stack.access_lines(1)
    assert lines, "no access log line for a rejected request"
    e = json.loads(lines[0])
    assert str(e["status"]) in ("400", "404")


def test_access_log_off(make_stack):
    st = make_stack(access_log="off")
    assert st.request("GET", "/echo?logged-nowhere").status == 200
    time.sleep(0.3)
    with open(st.portico.dir + "/stdout.txt", "rb") as f:
        assert b"logged-nowhere" not in f.read()
    import glob
    for fn in glob.glob(st.dir + "/**", recursive=True):
        if "/mock-" in fn:
            continue              # the mock pool's own logs
        if fn.endswith(".log") or fn.endswith("off"):
            with open(fn, "rb") as f:
                assert b"logged-nowhere" not in f.read(), fn
