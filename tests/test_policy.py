"""Requests portico answers itself before a pool sees them (docs/signin.md, "The exposed
surface"): a pool's deny_paths, matched on the path as the pool would read it, and the virtual
patch for CVE-2023-41763 (Lync Web App's LwaClient.aspx fetching any meeturl it is given)."""
import base64

import pytest

import harness
from harness import Pool

DENY = "/persistentchat/rm/ /Scheduler /RgsClients /HybridConfig"


@pytest.fixture
def st(make_stack):
    net = harness.Net.alloc()
    return make_stack(net=net, pools=[Pool("fe", [net.member(1)], harness.DEFAULT_NAMES,
                                           http="forward", deny_paths=DENY)])


def reached(st, needle):
    return [e for e in st.mock.events() if e.get("ev") == "req" and needle in e["target"].lower()]


@pytest.mark.parametrize("target", [
    "/persistentchat/rm/", "/PersistentChat/RM/x.svc", "/persistentchat/rm", "//persistentchat/rm/",
    "/persistentchat/./rm/", "/x/../persistentchat/rm/", "/persistentchat%2frm/",
    "/%70ersistentchat/rm/", "/scheduler", "/Scheduler/Default.aspx?x=1", "/RGSCLIENTS/",
    "/hybridconfig/hybridconfigservice.svc",
])
def test_denied_paths_get_403_and_never_reach_the_pool(st, target):
    with st.client() as c:
        r = c.request("GET", target)
        assert r.status == 403
        assert c.request("GET", "/echo").status == 200     # the connection goes on
    entries = st.access_entries(2)
    assert entries[0]["status"] == 403
    assert not [e for e in st.mock.events() if e.get("ev") == "req" and e["target"] != "/echo"]


@pytest.mark.parametrize("target", ["/schedulerx", "/persistentchat/", "/echo?p=/scheduler",
                                    "/ucwa/v1/applications"])
def test_other_paths_pass_untouched(st, target):
    with st.client() as c:
        r = c.request("GET", target)
        assert r.status == 200
        if not target.startswith("/ucwa"):
            assert r.json()["target"] == target            # the client's bytes, unchanged


def test_an_unreadable_path_on_a_guarded_pool_is_400(st):
    with st.client() as c:
        assert c.request("GET", "/a%zz").status == 400
    assert not reached(st, "%zz")


def meeturl(url):
    return "/lwa/WebPages/LwaClient.aspx?lang=en-US&meeturl=" + base64.b64encode(url.encode()).decode()


def test_cve_2023_41763_meeturl_must_name_a_published_name(stack):
    with stack.client() as c:
        ok = c.request("GET", meeturl("https://meet.contoso.com/alice/ABC123"))
        assert ok.status == 200
        for url in ("http://169.254.169.254/latest/meta-data/", "https://attacker.example/x",
                    "https://meet.contoso.com@attacker.example/"):
            assert c.request("GET", meeturl(url)).status == 403
        assert c.request("GET", "/lwa/WebPages/LwaClient.aspx?meeturl=%%%").status == 403
    assert len(reached(stack, "lwaclient")) == 1
    assert stack.portico.wait_stderr(r"CVE-2023-41763: client .*: refused \(403\)")


def test_meeturl_check_off(make_stack):
    net = harness.Net.alloc()
    st = make_stack(net=net, pools=[Pool("fe", [net.member(1)], harness.DEFAULT_NAMES,
                                         http="forward", meeturl_check="off")])
    with st.client() as c:
        assert c.request("GET", meeturl("https://attacker.example/")).status == 200
