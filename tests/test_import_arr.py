"""portico import-arr: an IIS ARR applicationHost.config in, a commented portico.conf out
(issue 18, docs/import-arr.md).

Golden files: every tests/golden/arr/NAME.config (an applicationHost.config written the way
Microsoft's walkthrough or the community guides set ARR up for Lync) has NAME.conf, the
expected output; broken.config has broken.err, the expected error. PORTICO_GOLDEN_UPDATE=1
rewrites the expected files from the binary (then review the diff). Every generated file is
then checked with `portico -t`: as written, it must fail only on the CHANGE-ME certificate
placeholders, each named; with those replaced by a throwaway certificate, it must pass.
"""

import glob
import os
import re
import subprocess

import pytest

import harness

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "arr")
CONFIGS = sorted(c for c in glob.glob(os.path.join(GOLDEN, "*.config"))
                 if not c.endswith("broken.config"))
UPDATE = os.environ.get("PORTICO_GOLDEN_UPDATE", "0") not in ("", "0")
PLACEHOLDER = "/etc/portico/CHANGE-ME-"
IDS = [os.path.basename(c)[:-7] for c in CONFIGS]


def import_arr(*args, cwd=None):
    r = subprocess.run([harness.PORTICO_BIN, "import-arr"] + list(args), capture_output=True,
                       text=True, timeout=30 * harness.SLOW, stdin=subprocess.DEVNULL, cwd=cwd)
    for marker in harness.SANITIZER_MARKERS:
        assert marker not in r.stderr, r.stderr
    return r


def compare(path, got):
    if UPDATE:
        with open(path, "w") as f:
            f.write(got)
    assert os.path.exists(path), "missing golden file %s (PORTICO_GOLDEN_UPDATE=1 writes it)" % path
    with open(path) as f:
        want = f.read()
    assert got == want, "output differs from %s (PORTICO_GOLDEN_UPDATE=1 to accept)" % path


def config_of(name):
    return os.path.join(GOLDEN, name + ".config")


def converted(name):
    r = import_arr(config_of(name))
    assert r.returncode == 0, r.stderr
    return r.stdout


def keys(text):
    """{section: {key: value}} of a portico.conf (comments dropped, as docs/configuration.md)."""
    out, sec = {}, None
    for line in text.splitlines():
        line = re.sub(r"(^|\s)[;#].*$", "", line).strip()
        if not line:
            continue
        m = re.match(r"\[(\w+)(?:\s+(\S+))?\]$", line)
        if m:
            sec = m.group(2) or m.group(1)
            assert sec not in out, "section %s twice" % sec
            out[sec] = {}
            continue
        k, v = [x.strip() for x in line.split("=", 1)]
        assert k not in out[sec], "%s twice in %s" % (k, sec)
        out[sec][k] = v
    return out


def prose(text):
    """TEXT with its comment lines wrapped back together, for looking up a sentence."""
    return re.sub(r"\n#\s+", " ", text)


def checks(text):
    """The CHECK comments, each joined into one line."""
    out = []
    for line in text.splitlines():
        if line.startswith("# CHECK: "):
            out.append(line[len("# CHECK: "):])
        elif line.startswith("#   ") and out and not line.startswith("#   1."):
            out[-1] += " " + line[4:].strip()
    return out


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A throwaway self-signed certificate as public.pem/public.key and internal-ca.pem."""
    d = tmp_path_factory.mktemp("arrpki")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                        "-subj", "/CN=webext.contoso.com", "-keyout", str(d / "public.key"),
                        "-out", str(d / "public.pem")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    (d / "internal-ca.pem").write_bytes((d / "public.pem").read_bytes())
    return str(d)


# ---------------------------------------------------------------------------------------------
# The golden cases, and `portico -t` on each

def test_golden_set_is_complete():
    # The cases: one pool; Front End + Director + OWA; several SIP domains; HTTP rules;
    # disabled rules (and farms); a broken file.
    for need in ("one-pool", "fe-dir-owa", "sip-domains", "http-rules", "disabled"):
        assert need in IDS
    assert os.path.exists(config_of("broken"))


@pytest.mark.parametrize("conf", CONFIGS, ids=IDS)
def test_golden(conf):
    r = import_arr(conf)
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("portico import-arr: "), r.stderr
    compare(conf[:-7] + ".conf", r.stdout)


@pytest.mark.parametrize("conf", CONFIGS, ids=IDS)
def test_check_placeholders_named(conf, tmp_path):
    """As written, `-t` fails on the certificate placeholders only, naming each file."""
    out = tmp_path / "portico.conf"
    r = import_arr(conf, "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    t = harness.run_portico(["-t", "-c", str(out)])
    assert t.returncode == 1, t.stderr
    errors = [l for l in t.stderr.splitlines() if l.strip()]
    assert errors
    for line in errors:
        assert re.match(r"%s:\d+: (certificate|key|ca) '%s[a-z-]+\.(pem|key)': No such file "
                        r"or directory$" % (re.escape(str(out)), re.escape(PLACEHOLDER)), line), \
            line
    named = {re.search(r"'([^']+)'", l).group(1) for l in errors}
    assert PLACEHOLDER + "public.pem" in named and PLACEHOLDER + "public.key" in named


@pytest.mark.parametrize("conf", CONFIGS, ids=IDS)
def test_check_passes_with_certificates(conf, tmp_path, certs):
    text = converted(os.path.basename(conf)[:-7])
    assert PLACEHOLDER in text
    out = tmp_path / "portico.conf"
    out.write_text(text.replace(PLACEHOLDER, certs + "/"))
    t = harness.run_portico(["-t", "-c", str(out)])
    assert t.returncode == 0, t.stderr
    assert "configuration OK" in t.stderr


# ---------------------------------------------------------------------------------------------
# What each case must say (beyond the golden text: these fail when the mapping goes wrong)

def test_one_pool():
    text = converted("one-pool")
    k = keys(text)
    assert list(k) == ["proxy", "lyncse"]
    p = k["lyncse"]
    assert p["role"] == "frontend"
    assert p["servers"] == "10.0.1.10"
    assert p["publish"].split() == ["webext.contoso.com", "meet.contoso.com",
                                    "dialin.contoso.com", "lyncdiscover.contoso.com"]
    assert (p["https_port"], p["http_port"]) == ("4443", "8080")
    # lyncdiscover forwarded (its {HTTPS} off rule), the others had no HTTP rule: auto
    assert p["http"] == "auto"
    assert p["affinity"] == "none"
    assert k["proxy"]["timeout_idle"] == "1860"           # 00:31:00
    assert k["proxy"]["http_port"] == "80"
    assert "external" not in k["proxy"]                     # bindings on '*'
    assert "Role inferred: the members listen on HTTPS 4443 and HTTP 8080" in prose(text)


def test_fe_dir_owa():
    text = converted("fe-dir-owa")
    k = keys(text)
    # six farms, one per name: the four on the Director servers are one pool
    assert list(k) == ["proxy", "webext.contoso.com", "webdir.contoso.com", "owa.contoso.com"]
    fe, d, owa = k["webext.contoso.com"], k["webdir.contoso.com"], k["owa.contoso.com"]
    assert fe["role"] == "frontend" and d["role"] == "director" and owa["role"] == "owa"
    assert fe["servers"] == "10.0.1.11 10.0.1.12"
    assert d["servers"] == "10.0.2.11 10.0.2.12"
    assert d["publish"].split() == ["webdir.contoso.com", "meet.contoso.com",
                                    "dialin.contoso.com", "lyncdiscover.contoso.com"]
    assert owa["servers"] == "10.0.3.21" and owa["https_port"] == "443"
    assert "http_port" not in owa                            # nothing forwarded: role default
    # the wizard's plain rules forwarded every Lync name over HTTP; OWA's HTTP rule is disabled
    assert fe["http"] == "forward" and d["http"] == "forward"
    assert owa["http"] == "redirect"
    assert fe["affinity"] == "cookie" and d["affinity"] == "none"
    assert owa["health_interval"] == "10"
    assert k["proxy"]["external"] == "203.0.113.10"
    assert k["proxy"]["timeout_idle"] == "960"
    assert "'webdir' in the farm, member or published names points to a Director pool" in \
        prose(text)
    c = checks(text)
    assert any("below UCWA's longest pending GET" in x for x in c)
    assert any("https://owa.contoso.com/hosting/discovery" in x for x in c)
    assert any("'ARR_owa.contoso.com_loadbalance' is not imported: it is disabled" in x for x in c)


def test_sip_domains():
    text = converted("sip-domains")
    k = keys(text)
    assert list(k) == ["proxy", "Lync-FE-Pool"]
    p = k["Lync-FE-Pool"]
    assert p["publish"].split() == [
        "webext.contoso.com", "webext.emea.contoso.com",                     # (\.emea)?
        "meet.contoso.com", "meet.fabrikam.com", "dialin.contoso.com", "dialin.fabrikam.com",
        "meet.litwareinc.com",                                               # MatchAny
        "lyncdiscover.contoso.com", "lyncdiscover.fabrikam.com", "lyncdiscover.litwareinc.com",
        "*.sfb.contoso.com"]                                                 # ^(.*)\.sfb...
    assert p["servers"] == "10.0.1.11 10.0.1.12 10.0.1.13"
    assert p["affinity"] == "source"                        # RequestHash on REMOTE_ADDR
    assert p["http"] == "auto"
    c = checks(text)
    assert any("'Partner names' is not imported: its host pattern "
               "'^[a-z]+\\.partners\\.contoso\\.com$' cannot be turned into names" in x for x in c)
    assert any("'lyncdiscover.*' cannot be turned into names" in x for x in c)
    assert any("rule 'Simple URLs' sends plain HTTP requests" in x for x in c)


def test_http_rules():
    text = converted("http-rules")
    k = keys(text)
    assert list(k) == ["proxy", "LyncPool", "OfficeWebApps"]
    assert k["proxy"]["external"] == "203.0.113.10 2001:db8::10"
    assert k["proxy"]["http_port"] == "80"
    lync, owa = k["LyncPool"], k["OfficeWebApps"]
    # lyncdiscover forwarded by the rule before the catch-all redirect, the others redirected
    assert lync["http"] == "auto" and lync["http_port"] == "8080"
    assert owa["http"] == "redirect" and "http_port" not in owa
    assert owa["servers"] == "10.0.3.21 10.0.3.22" and owa["role"] == "owa"
    assert "and 'officewebapps' is in the names" in prose(text)
    c = checks(text)
    assert any("redirectType=\"Found\"; portico's redirects are 301" in x for x in c)
    assert any("the farms' protocol timeouts differ ('LyncPool' 00:32:00, 'OfficeWebApps' "
               "00:10:00)" in x for x in c)
    assert k["proxy"]["timeout_idle"] == "1920"


def test_disabled():
    text = converted("disabled")
    k = keys(text)
    assert list(k) == ["proxy", "fe"]
    fe = k["fe"]
    assert fe["servers"] == "10.0.1.11 10.0.1.13"           # 10.0.1.12 is disabled
    # meet: the rule to fe has no stopProcessing, the import takes it (as written) and says so;
    # dialin goes to the disabled farm and is not published; lyncdiscover's HTTP rule is off
    assert fe["publish"].split() == ["webext.contoso.com", "meet.contoso.com",
                                     "lyncdiscover.contoso.com"]
    assert fe["affinity"] == "none"
    assert "http_port" not in k["proxy"] or k["proxy"]["http_port"] == "off"
    assert k["proxy"]["http_port"] == "off"                 # no rule handles plain HTTP
    c = checks(text)
    want = [
        "server '10.0.1.12' is disabled in ARR: left out of servers",
        "the servers of farm 'fe' have different weights",
        "load balancing algorithm 'LeastRequests'",
        "<dynamicIpRestriction> in the farm's applicationRequestRouting is not imported",
        "rule 'Block LWA' is not imported: it matches only the URLs '^lwa/.*'",
        "rule 'UCWA to its own server' is not imported: it matches only the URLs '^ucwa/(.*)'",
        "rule 'Lync' sets the server variable HTTP_X_FORWARDED_PROTO",
        "rule 'Lync' has no stopProcessing=\"true\": ARR goes on to rule",
        "dialin.contoso.com: rule 'Legacy dial-in' (line 76) routes it to server farm "
        "'fe-2010', which is disabled: not published",
        "rule 'lyncdiscover HTTP' is not imported: it is disabled",
        "rule 'Everything else' sends every host name to server farm 'fe'",
        "server farm 'fe-2010' (line 29) is not imported: it is disabled",
        "server farm 'owa' (line 34) is not imported: it has no enabled server",
        "The rules route these names to it, which are not published: owa.contoso.com.",
        "server farm 'spare' (line 37) is not imported: no imported rule routes a name to it",
        "outbound rule 'Rewrite internal links'",
        "<rewriteMaps> is not imported",
        "rule 'Root to meet' (in <location path=\"Default Web Site\">) is a site rule",
        "rule 'Meet, old pool' never applies: earlier rules take all its names",
    ]
    for w in want:
        assert any(w in x for x in c), "no CHECK saying %r in:\n%s" % (w, "\n".join(c))
    # and the header counts them all
    m = re.search(r"Written: 1 pool, 3 published names, (\d+) CHECK comments", text)
    assert m and int(m.group(1)) == len(c) >= len(want)


# ---------------------------------------------------------------------------------------------
# Errors

def test_broken_file_line_number():
    r = import_arr(config_of("broken"), cwd=GOLDEN)
    assert r.returncode == 1
    assert r.stdout == ""
    # the <server> opened at line 6 is never closed: the mismatch shows at </webFarm>, line 11
    line = r.stderr.splitlines()[0]
    assert re.match(r"^.*broken\.config:11: Opening and ending tag mismatch: server line \d+ and "
                    r"webFarm$", line), r.stderr
    r2 = import_arr("broken.config", cwd=GOLDEN)
    compare(os.path.join(GOLDEN, "broken.err"), r2.stderr)


def test_broken_file_no_output_written(tmp_path):
    out = tmp_path / "out.conf"
    r = import_arr(config_of("broken"), "-o", str(out))
    assert r.returncode == 1
    assert not out.exists()


@pytest.mark.parametrize("text,line,what", [
    ("<configuration>\n<webFarms>\n<webFarm name='a'>\n</webFarms>\n</configuration>\n", 4,
     "mismatch"),
    ("<configuration>\n<webFarms/>\n", 3, "end"),                          # truncated
    ("<configuration>\n\n<webFarms a='1' a='2'/>\n</configuration>\n", 3, "redefined"),
    ("<configuration>\n<webFarms>&nbsp;</webFarms>\n</configuration>\n", 2, "nbsp"),
    ("", 1, "empty"),
])
def test_malformed(tmp_path, text, line, what):
    f = tmp_path / "applicationHost.config"
    f.write_text(text)
    r = import_arr(str(f))
    assert r.returncode == 1, r.stdout
    assert r.stdout == ""
    m = re.match(r"^%s:(\d+): (.+)$" % re.escape(str(f)), r.stderr.splitlines()[0])
    assert m, r.stderr
    assert int(m.group(1)) == line, r.stderr
    assert what.lower() in m.group(2).lower(), r.stderr


def test_doctype_refused(tmp_path):
    """Untrusted input: no DTD, so no entity expansion (billion laughs) and no external entity
    (a file read into the output)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-4711\n")
    laughs = ("<?xml version='1.0'?>\n<!DOCTYPE configuration [\n<!ENTITY a 'aaaaaaaaaa'>\n"
              + "".join("<!ENTITY %s '%s'>\n" % (chr(98 + i), ("&%s;" % chr(97 + i)) * 10)
                        for i in range(8))
              + "]>\n<configuration><webFarms><webFarm name='&i;'><server address='10.0.0.1'/>"
              "</webFarm></webFarms></configuration>\n")
    xxe = ("<?xml version='1.0'?>\n\n<!DOCTYPE configuration [<!ENTITY x SYSTEM 'file://%s'>]>\n"
           "<configuration><webFarms><webFarm name='&x;'><server address='10.0.0.1'/></webFarm>"
           "</webFarms></configuration>\n" % secret)
    for text, line in ((laughs, 2), (xxe, 3)):
        f = tmp_path / "applicationHost.config"
        f.write_text(text)
        r = import_arr(str(f))
        assert r.returncode == 1
        assert r.stdout == ""
        assert "TOPSECRET" not in r.stderr
        assert re.match(r"^%s:%d: a DOCTYPE is refused" % (re.escape(str(f)), line), r.stderr), \
            r.stderr


def test_not_an_applicationhost_config(tmp_path):
    f = tmp_path / "web.config"
    f.write_text("<?xml version='1.0'?>\n<html><body/></html>\n")
    r = import_arr(str(f))
    assert r.returncode == 1
    assert re.match(r"^%s:2: the root element is <html>, not <configuration>" % re.escape(str(f)),
                    r.stderr), r.stderr
    f.write_text("<configuration>\n  <system.webServer/>\n</configuration>\n")
    r = import_arr(str(f))
    assert r.returncode == 1
    assert "no server farm" in r.stderr


def test_unreadable(tmp_path):
    r = import_arr(str(tmp_path / "missing.config"))
    assert r.returncode == 1
    assert r.stderr.startswith("%s: cannot read: No such file or directory" %
                               (tmp_path / "missing.config"))
    r = import_arr(str(tmp_path))
    assert r.returncode == 1 and "not a regular file" in r.stderr


@pytest.mark.parametrize("args", [[], ["-o"], ["a.config", "b.config"], ["--frobnicate", "a"],
                                  ["a.config", "-o", "x", "-o", "y"], ["-x"]])
def test_usage(args):
    r = import_arr(*args)
    assert r.returncode == 2, (args, r.stderr)
    assert "usage: portico import-arr FILE [-o OUT]" in r.stderr
    assert r.stdout == ""


def test_output_file(tmp_path):
    out = tmp_path / "portico.conf"
    r = import_arr(config_of("one-pool"), "-o", str(out))
    assert r.returncode == 0 and r.stdout == ""
    assert out.read_text() == converted("one-pool")
    assert "in %s" % out in r.stderr
    r = import_arr(config_of("one-pool"), "-o", str(tmp_path / "no" / "such" / "dir.conf"))
    assert r.returncode == 1
    assert "No such file or directory" in r.stderr


# ---------------------------------------------------------------------------------------------
# Smaller cases, written here

FARM = ("<webFarms><webFarm name='fe'><server address='10.0.1.11'><applicationRequestRouting "
        "httpPort='8080' httpsPort='4443'/></server></webFarm></webFarms>")


def rules_only(tmp_path, rules, farms=FARM):
    f = tmp_path / "applicationHost.config"
    f.write_text("<configuration>%s<system.webServer><rewrite><globalRules>%s</globalRules>"
                 "</rewrite></system.webServer></configuration>" % (farms, rules))
    r = import_arr(str(f))
    assert r.returncode == 0, r.stderr
    return r.stdout


def host_rule(pattern, syntax=None, url="https://fe/{R:0}", match=None):
    match = match or ("*" if syntax == "Wildcard" else ".*")
    return ("<rule name='r'%s stopProcessing='true'><match url='%s'/><conditions><add "
            "input='{HTTPS}' pattern='on'/><add input='{HTTP_HOST}' pattern='%s'/></conditions>"
            "<action type='Rewrite' url='%s'/></rule>" % (
                " patternSyntax='%s'" % syntax if syntax else "", match, pattern, url))


@pytest.mark.parametrize("pattern,syntax,names", [
    ("^(meet|dialin|lyncdiscover)\\.contoso\\.com$", None,
     ["meet.contoso.com", "dialin.contoso.com", "lyncdiscover.contoso.com"]),
    ("meet.contoso.com", None, ["meet.contoso.com"]),                      # unanchored, bare dots
    ("^MEET\\.Contoso\\.COM$", None, ["meet.contoso.com"]),
    ("^(?:meet|dialin)\\.(contoso|fabrikam)\\.(com|net)$", None,
     ["meet.contoso.com", "meet.contoso.net", "meet.fabrikam.com", "meet.fabrikam.net",
      "dialin.contoso.com", "dialin.contoso.net", "dialin.fabrikam.com", "dialin.fabrikam.net"]),
    ("^(lync(discover)?|meet)\\.contoso\\.com$", None,
     ["lync.contoso.com", "lyncdiscover.contoso.com", "meet.contoso.com"]),
    ("^(.+)\\.contoso\\.com$", None, ["*.contoso.com"]),
    ("^[^.]+\\.contoso\\.com$", None, ["*.contoso.com"]),
    ("*.contoso.com", "Wildcard", ["*.contoso.com"]),
    ("webext.contoso.com", "Wildcard", ["webext.contoso.com"]),
    ("^webext\\.contoso\\.com\\.$", None, ["webext.contoso.com"]),          # trailing dot
])
def test_host_patterns(tmp_path, pattern, syntax, names):
    k = keys(rules_only(tmp_path, host_rule(pattern, syntax)))
    assert k["fe"]["publish"].split() == names


@pytest.mark.parametrize("pattern,syntax,why", [
    ("(.*)", None, "sends every host name to server farm 'fe'"),
    ("*", "Wildcard", "sends every host name to server farm 'fe'"),
    ("^meet\\d\\.contoso\\.com$", None, "(it uses '\\d')"),
    ("^meet[0-9]\\.contoso\\.com$", None, "(it uses '[')"),
    ("^(a|b|c|d)(a|b|c|d)(a|b|c|d)(a|b|c|d)\\.contoso\\.com$", None, "more than 64 names"),
    ("^(meet\\.contoso\\.com$", None, "an unbalanced '('"),
    ("^meet)\\.contoso\\.com$", None, "an unbalanced ')'"),
    ("lync*.contoso.com", "Wildcard", "a wildcard other than a leading '*.'"),
    ("^meet_x\\.contoso\\.com$", None, "which is not a host name"),
    ("^meet\\.contoso\\.com(:443)?$", None, "(it uses ':')"),
])
def test_host_patterns_not_mapped(tmp_path, pattern, syntax, why):
    """A pattern that is not a list of names leaves no pool (nothing routes to the farm) and a
    CHECK saying why."""
    text = rules_only(tmp_path, host_rule(pattern, syntax))
    assert not re.search(r"^\[pool", text, re.M)
    c = checks(text)
    assert any(why in x for x in c), "\n".join(c)
    assert any("server farm 'fe' (line 1) is not imported" in x for x in c), "\n".join(c)


@pytest.mark.parametrize("farm,role,sure", [
    ("owa", "owa", True), ("wac01", "owa", True), ("OOS-Farm", "owa", True),
    ("portal", "owa", False),                      # 443 alone: a guess, to check
])
def test_role_on_443(tmp_path, farm, role, sure):
    farms = ("<webFarms><webFarm name='%s'><server address='10.0.3.21'/></webFarm></webFarms>"
             % farm)
    text = rules_only(tmp_path, host_rule("^x\\.contoso\\.com$", url="https://%s/{R:0}" % farm),
                      farms)
    assert keys(text)[farm]["role"] == role
    assert ("# CHECK: Role inferred" in text) == (not sure)


@pytest.mark.parametrize("servers,ports,role", [
    ("dir01.contoso.local", (4443, 8080), "director"),
    ("lyncdir2.contoso.local", (4443, 8080), "director"),
    ("fe01.contoso.local", (4443, 8080), "frontend"),
    ("fe01.contoso.local", (8443, 8081), "generic"),
])
def test_role_by_member_names(tmp_path, servers, ports, role):
    farms = ("<webFarms><webFarm name='pool1'><server address='%s'><applicationRequestRouting "
             "httpsPort='%d' httpPort='%d'/></server></webFarm></webFarms>" % ((servers,) + ports))
    text = rules_only(tmp_path, host_rule("^redirect\\.contoso\\.com$", url="https://pool1/{R:0}"),
                      farms)
    k = keys(text)["pool1"]
    assert k["role"] == role
    assert k["servers"] == servers and k["https_port"] == str(ports[0])


def test_rewrite_beyond_host_routing(tmp_path):
    text = rules_only(tmp_path, host_rule("^meet\\.contoso\\.com$", url="https://fe/meet/{R:0}")
                      + host_rule("^dialin\\.contoso\\.com$", url="https://10.0.1.99/{R:0}")
                      + host_rule("^webext\\.contoso\\.com$", url="https://fe/{R:1}",
                                  match="^(.*)$"))
    c = checks(text)
    assert any("it rewrites the URL ('https://fe/meet/{R:0}')" in x for x in c)
    assert any("it rewrites to 'https://10.0.1.99/{R:0}', a host that is no server farm" in x
               for x in c)
    assert keys(text)["fe"]["publish"] == "webext.contoso.com"


def test_ssl_offloading_rule(tmp_path):
    text = rules_only(tmp_path, host_rule("^webext\\.contoso\\.com$", url="http://fe/{R:0}"))
    assert keys(text)["fe"]["https_port"] == "4443"
    assert any("SSL offloading" in x for x in checks(text))


def test_port80_conflict_splits_merged_farms(tmp_path):
    """Two farms on the same servers merge into one pool, unless one http mode cannot keep
    both farms' port-80 behaviour: webext forwarded and meet redirected is not auto (webext is
    not lyncdiscover), so they stay two pools."""
    farm = ("<webFarm name='%s'><server address='10.0.1.11'><applicationRequestRouting "
            "httpPort='8080' httpsPort='4443'/></server></webFarm>")
    farms = "<webFarms>%s%s%s</webFarms>" % (farm % "a", farm % "b", farm % "c")
    rules = (host_rule("^webext\\.contoso\\.com$", url="https://a/{R:0}")
             + host_rule("^meet\\.contoso\\.com$", url="https://b/{R:0}")
             + host_rule("^dialin\\.contoso\\.com$", url="https://c/{R:0}")
             + "<rule name='h' stopProcessing='true'><match url='.*'/><conditions><add "
               "input='{HTTPS}' pattern='off'/><add input='{HTTP_HOST}' "
               "pattern='^webext\\.contoso\\.com$'/></conditions><action type='Rewrite' "
               "url='http://a/{R:0}'/></rule>"
             + "<rule name='rd' stopProcessing='true'><match url='(.*)'/><conditions><add "
               "input='{HTTPS}' pattern='off'/></conditions><action type='Redirect' "
               "url='https://{HTTP_HOST}/{R:1}'/></rule>")
    k = keys(rules_only(tmp_path, rules, farms))
    assert list(k) == ["proxy", "a", "b"]
    assert k["a"]["publish"] == "webext.contoso.com" and k["a"]["http"] == "forward"
    assert k["b"]["publish"] == "meet.contoso.com dialin.contoso.com"
    assert k["b"]["http"] == "redirect"


def test_control_characters_stay_in_comments(tmp_path, certs):
    """A farm name with a newline (&#10;) cannot start a line of its own in the output."""
    farms = ("<webFarms><webFarm name='fe&#10;[pool evil]&#10;servers = 10.6.6.6'><server "
             "address='10.0.1.11'><applicationRequestRouting httpsPort='4443' httpPort='8080'/>"
             "</server></webFarm></webFarms>")
    rules = host_rule("^webext\\.contoso\\.com$", url="https://fe&#10;[pool evil]&#10;servers = "
                      "10.6.6.6/{R:0}")
    text = rules_only(tmp_path, rules, farms)
    assert "evil" in text
    for line in text.splitlines():
        assert not line.startswith("[pool evil") and not line.startswith("servers = 10.6"), line
    assert list(keys(text)) == ["proxy", "fe--pool-evil--servers---10.6.6.6"]
    out = tmp_path / "p.conf"
    out.write_text(text.replace(PLACEHOLDER, certs + "/"))
    t = harness.run_portico(["-t", "-c", str(out)])
    assert t.returncode == 0, t.stderr


def test_bom_and_crlf(tmp_path):
    """Copied off Windows as it is: a UTF-8 byte order mark and CRLF line ends."""
    with open(config_of("one-pool"), "rb") as f:
        data = f.read()
    path = tmp_path / "one-pool.config"
    path.write_bytes(b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"))
    r = import_arr(str(path))
    assert r.returncode == 0, r.stderr
    assert r.stdout == converted("one-pool")
