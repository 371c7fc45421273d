"""Routing by Host (SPEC §4): case, port, wildcards, absolute-form, unpublished names, and what
the external port 80 does per name (http = auto | forward | redirect | off)."""

import pytest

import harness
from harness import Pool, build_request, read_bad_response, unique


def two_pools(make_stack, wild="*.apps.contoso.com", **kw):
    """Pool fe (member 1): DEFAULT_NAMES; pool apps (member 2): wild."""
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], harness.DEFAULT_NAMES, http="forward"),
             Pool("apps", [net.member(2)], [wild], http="forward")]
    return make_stack(net=net, mock_ips=[net.member(1), net.member(2)], pools=pools, **kw)


def member_of(resp):
    assert resp.status == 200, resp
    return resp.json()["listen"]


def assert_not_forwarded(st, *tokens):
    for t in tokens:
        assert not st.mock.saw(t), "%r reached the pool" % t


@pytest.mark.parametrize("host", ["webext.contoso.com", "WEBEXT.Contoso.COM", "webext.contoso.com:80",
                                  "WebExt.contoso.com:12345", "meet.contoso.com", "dialin.contoso.com"])
def test_host_routing_case_and_port(stack, host):
    r = stack.request("GET", "/echo", host)
    d = r.json()
    assert r.status == 200
    assert d["listen"] == stack.net.member(1) + ":8080"
    assert harness.get_all(harness.hdrs_of(d), "host") == [host], "Host must be forwarded unchanged"


def test_wildcard_routes_to_its_pool(make_stack):
    st = two_pools(make_stack)
    assert member_of(st.request(host="x.apps.contoso.com")) == st.net.member(2) + ":8080"
    assert member_of(st.request(host="Other.APPS.contoso.com")) == st.net.member(2) + ":8080"
    assert member_of(st.request(host="webext.contoso.com")) == st.net.member(1) + ":8080"


def test_wildcard_does_not_match_bare_suffix(make_stack):
    st = two_pools(make_stack)
    tok = unique("bare")
    r = st.request("GET", "/" + tok, "apps.contoso.com")
    assert r.status == 404
    assert_not_forwarded(st, tok)


def test_exact_name_beats_wildcard(make_stack):
    st = two_pools(make_stack, wild="*.contoso.com")
    assert member_of(st.request(host="webext.contoso.com")) == st.net.member(1) + ":8080"
    assert member_of(st.request(host="lyncdiscover.contoso.com")) == st.net.member(1) + ":8080"
    assert member_of(st.request(host="owa.contoso.com")) == st.net.member(2) + ":8080"


@pytest.mark.parametrize("host", ["unknown.contoso.com", "webext.contoso.com.evil.example",
                                  "evil.example", "127.10.0.1", "webext-contoso.com"])
def test_unpublished_name_404_never_forwarded(stack, host):
    tok = unique("unpub")
    canary = unique("canary")
    with stack.client() as c:
        c.send(build_request("GET", "/" + tok, host) + build_request("GET", "/" + canary))
        r = c.read_response()
        assert r.status == 404
        # the connection may stay open; if it does, the pipelined request is answered normally
        try:
            r2 = c.read_response()
            assert r2.status == 200 and r2.json()["target"] == "/" + canary
        except (EOFError, ConnectionResetError):
            pass
    assert_not_forwarded(stack, tok)


def test_absolute_form_routed_by_authority_forwarded_in_origin_form(make_stack):
    st = two_pools(make_stack)
    with st.client() as c:
        r = c.request("GET", "http://x.apps.contoso.com/Reach/sip.svc?x=1&y=%2F", "x.apps.contoso.com")
        d = r.json()
        assert d["listen"] == st.net.member(2) + ":8080"
        assert d["target"] == "/Reach/sip.svc?x=1&y=%2F"
        assert harness.get_all(harness.hdrs_of(d), "host") == ["x.apps.contoso.com"]
        r = c.request("GET", "http://webext.contoso.com", "webext.contoso.com")
        assert r.json()["target"] == "/"


def test_absolute_form_case_insensitive_scheme_and_host(stack):
    r = stack.request("GET", "HTTP://WebExt.Contoso.com/echo", "webext.contoso.com")
    assert r.status == 200
    assert r.json()["target"] == "/echo"


def test_absolute_form_disagreeing_with_host_is_400(make_stack):
    st = two_pools(make_stack)
    tok, canary = unique("mismatch"), unique("canary")
    with st.client() as c:
        c.send(build_request("GET", "http://x.apps.contoso.com/" + tok, "webext.contoso.com")
               + build_request("GET", "/" + canary))
        r = read_bad_response(c)
        assert r is not None and r.status == 400
        assert c.wait_closed(5)
    assert_not_forwarded(st, tok, canary)


@pytest.mark.parametrize("hosts", [[], ["webext.contoso.com", "webext.contoso.com"],
                                   ["webext.contoso.com", "meet.contoso.com"]])
def test_http11_without_host_or_with_two_is_400(stack, hosts):
    tok, canary = unique("host"), unique("canary")
    with stack.client() as c:
        c.send(build_request("GET", "/" + tok, None, [("Host", h) for h in hosts])
               + build_request("GET", "/" + canary))
        r = read_bad_response(c)
        assert r is not None and r.status == 400
        assert c.wait_closed(5)
    assert_not_forwarded(stack, tok, canary)


def test_http10_without_host_is_not_forwarded(stack):
    tok = unique("nohost10")
    with stack.client() as c:
        c.send(b"GET /" + tok.encode() + b" HTTP/1.0\r\n\r\n")
        r = read_bad_response(c)
        assert r is not None and r.status in (400, 404)
    assert_not_forwarded(stack, tok)


# --- port 80 behaviour per name ------------------------------------------------------------

def auto_stack(make_stack, **proxy):
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], ["webext.contoso.com", "lyncdiscover.contoso.com",
                                          "lyncdiscover.fabrikam.com"])]   # http = auto (default)
    proxy.setdefault("https_port", 443)
    return make_stack(net=net, pools=pools, **proxy)


def test_auto_forwards_lyncdiscover_to_8080(make_stack):
    st = auto_stack(make_stack)
    for host in ("lyncdiscover.contoso.com", "LyncDiscover.Fabrikam.com"):
        r = st.request("GET", "/Autodiscover/AutodiscoverService.svc/root?originalDomain=contoso.com", host)
        assert r.status == 200, r
        assert r.header("X-Mock-Server") == "fe01"
        links = r.json()["_links"]
        assert links["user"]["href"].startswith(
            "https://%s/Autodiscover/AutodiscoverService.svc/root/oauth/user" % host)
    opens = [e for e in st.mock.events() if e["ev"] == "open" and e["listen"].endswith(":8080")]
    assert opens, "lyncdiscover on port 80 must reach the pool's HTTP port 8080"


def test_auto_redirects_other_names_to_https(make_stack):
    st = auto_stack(make_stack)
    tok = unique("redir")
    r = st.request("GET", "/meet/alice/ABC123?%s=1&b=c%%20d" % tok, "webext.contoso.com")
    assert r.status == 301
    assert r.header("Location") == "https://webext.contoso.com/meet/alice/ABC123?%s=1&b=c%%20d" % tok
    assert_not_forwarded(st, tok)


def test_redirect_drops_the_port_80_from_host(make_stack):
    st = auto_stack(make_stack)
    r = st.request("GET", "/abs/handler", "webext.contoso.com:80")
    assert r.status == 301
    assert r.header("Location") == "https://webext.contoso.com/abs/handler"


def test_redirect_adds_https_port_when_not_443(make_stack):
    st = auto_stack(make_stack, https_port=8443)
    r = st.request("GET", "/Dialin?x=1", "webext.contoso.com")
    assert r.status == 301
    assert r.header("Location") == "https://webext.contoso.com:8443/Dialin?x=1"


def test_http_redirect_overrides_lyncdiscover(make_stack):
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], ["lyncdiscover.contoso.com", "webext.contoso.com"], http="redirect")]
    st = make_stack(net=net, pools=pools, https_port=443)
    tok = unique("r")
    r = st.request("GET", "/Autodiscover/AutodiscoverService.svc/root?" + tok, "lyncdiscover.contoso.com")
    assert r.status == 301
    assert r.header("Location") == "https://lyncdiscover.contoso.com/Autodiscover/AutodiscoverService.svc/root?" + tok
    assert_not_forwarded(st, tok)


def test_http_forward_forwards_every_name(make_stack):
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], ["webext.contoso.com", "meet.contoso.com"], http="forward")]
    st = make_stack(net=net, pools=pools, https_port=443)
    for host in ("webext.contoso.com", "meet.contoso.com"):
        r = st.request("GET", "/echo", host)
        assert r.status == 200 and r.json()["listen"] == net.member(1) + ":8080"


def test_http_off_is_404_never_forwarded(make_stack):
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], ["webext.contoso.com", "lyncdiscover.contoso.com"], http="off")]
    st = make_stack(net=net, pools=pools, https_port=443)
    for host in ("webext.contoso.com", "lyncdiscover.contoso.com"):
        tok = unique("off")
        r = st.request("GET", "/" + tok, host)
        assert r.status == 404
        assert_not_forwarded(st, tok)


def test_pools_per_name_mode(make_stack):
    """Two pools on one port 80: one forwards, the other redirects."""
    net = harness.Net.alloc()
    pools = [Pool("fe", [net.member(1)], ["lyncdiscover.contoso.com"], http="forward"),
             Pool("dir", [net.member(2)], ["meet.contoso.com"], role="director", http="redirect")]
    st = make_stack(net=net, mock_ips=[net.member(1), net.member(2)], pools=pools, https_port=443)
    assert st.request(host="lyncdiscover.contoso.com").status == 200
    r = st.request("GET", "/Meet/x", "meet.contoso.com")
    assert r.status == 301 and r.header("Location") == "https://meet.contoso.com/Meet/x"
