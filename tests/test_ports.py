"""portico ports: the seed's firewall tables and an nftables ruleset, computed from the
configuration (issue 4).

Golden files: every tests/golden/NAME.conf has NAME.md (`portico ports -c NAME.conf`) and
NAME.nft (`portico ports -c NAME.conf --format nft` with the options of its "# nft-options:"
line). The configurations use address literals only, so the output is the same on every
machine. PORTICO_GOLDEN_UPDATE=1 rewrites the expected files from the binary (then review the
diff). Each ruleset is also checked by `nft -c -f` (root and nftables needed).
"""

import glob
import os
import re
import shutil
import socket
import subprocess

import pytest

import harness

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
CONFS = sorted(glob.glob(os.path.join(GOLDEN, "*.conf")))
UPDATE = os.environ.get("PORTICO_GOLDEN_UPDATE", "0") not in ("", "0")


def ports(*args):
    r = harness.run_portico(["ports"] + list(args))
    for marker in harness.SANITIZER_MARKERS:
        assert marker not in r.stderr, r.stderr
    return r


def nft_options(conf):
    with open(conf) as f:
        for line in f:
            m = re.match(r"#\s*nft-options:(.*)$", line)
            if m:
                return m.group(1).split()
    return []


def compare(path, got):
    if UPDATE:
        with open(path, "w") as f:
            f.write(got)
    assert os.path.exists(path), "missing golden file %s (PORTICO_GOLDEN_UPDATE=1 writes it)" % path
    with open(path) as f:
        want = f.read()
    assert got == want, "output differs from %s (PORTICO_GOLDEN_UPDATE=1 to accept)" % path


def nft_check(text, tmp_path):
    """nft -c -f: parses the ruleset and has the kernel check it, without applying it."""
    nft = shutil.which("nft") or ("/usr/sbin/nft" if os.path.exists("/usr/sbin/nft") else None)
    if os.geteuid() != 0:
        pytest.skip("nft -c needs root (CAP_NET_ADMIN) to check a ruleset against the kernel")
    if not nft:
        pytest.skip("nft not installed (apt-get install nftables)")
    path = tmp_path / "ruleset.nft"
    path.write_text(text)
    r = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, "nft -c -f rejects the ruleset:\n%s\n%s" % (r.stderr, text)


def test_golden_set_is_complete():
    names = [os.path.basename(c)[:-5] for c in CONFS]
    # The issue asks for these cases at least: listener off, a pool with http = off,
    # Front End + Director + two OWA pools, IPv6; plus the seed's own deployment.
    for need in ("seed", "http-listener-off", "pool-http-off", "fe-dir-owa", "ipv6"):
        assert need in names


@pytest.mark.parametrize("conf", CONFS, ids=lambda c: os.path.basename(c)[:-5])
def test_markdown_golden(conf):
    r = ports("-c", conf)
    assert r.returncode == 0, r.stderr
    compare(conf[:-5] + ".md", r.stdout)
    # markdown is the default format
    r2 = ports("-c", conf, "--format", "markdown")
    assert r2.returncode == 0 and r2.stdout == r.stdout


@pytest.mark.parametrize("conf", CONFS, ids=lambda c: os.path.basename(c)[:-5])
def test_nft_golden(conf, tmp_path):
    r = ports("-c", conf, "--format", "nft", *nft_options(conf))
    assert r.returncode == 0, r.stderr
    compare(conf[:-5] + ".nft", r.stdout)
    nft_check(r.stdout, tmp_path)


def tables(md):
    """{"External": [[cells]...], "Internal": [...]} from the Markdown output."""
    out, cur = {}, None
    for line in md.splitlines():
        m = re.match(r"### Firewall Details for Reverse Proxy Server: (\w+) Interface$", line)
        if m:
            cur = out.setdefault(m.group(1), [])
        elif cur is not None and line.startswith("| ") and not line.startswith("| Protocol") \
                and not line.startswith("| ---"):
            cur.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return out


def test_seed_rows():
    """The seed's deployment gives the seed's rows: HTTP/TCP/80 and HTTPS/TCP/443 from Any to
    the listener outside; 8080 and 4443 to the Front End pool and 443 to Office Web Apps from
    the internal interface inside."""
    r = ports("-c", os.path.join(GOLDEN, "seed.conf"))
    t = tables(r.stdout)
    assert [(c[0], c[1]) for c in t["External"]] == [("HTTP/TCP/80", "Any"), ("HTTPS/TCP/443", "Any")]
    assert all(c[2] == "Reverse proxy listener: 203.0.113.10" for c in t["External"])
    assert [c[0] for c in t["Internal"]] == ["HTTP/TCP/8080", "HTTPS/TCP/4443", "HTTPS/TCP/443"]
    assert all(c[1] == "Internal reverse proxy interface: 10.0.0.5" for c in t["Internal"])
    assert [c[2] for c in t["Internal"]] == ["Front End pool fe: 10.0.1.11, 10.0.1.12",
                                             "Front End pool fe: 10.0.1.11, 10.0.1.12",
                                             "Office Web Apps pool owa: 10.0.2.21"]
    assert "lyncdiscover.contoso.com" in t["Internal"][0][3]
    assert "webext.contoso.com" not in t["Internal"][0][3]          # only forwarded names
    assert "owa.contoso.com" in t["Internal"][2][3]


def test_computed_not_recited():
    """The same deployment without the HTTP listener loses exactly the two HTTP rows."""
    on = tables(ports("-c", os.path.join(GOLDEN, "seed.conf")).stdout)
    off = tables(ports("-c", os.path.join(GOLDEN, "http-listener-off.conf")).stdout)
    assert [c[0] for c in off["External"]] == ["HTTPS/TCP/8443"]
    assert [c[0] for c in off["Internal"]] == ["HTTPS/TCP/4443", "HTTPS/TCP/443"]
    assert len(on["Internal"]) == 3
    pool_off = tables(ports("-c", os.path.join(GOLDEN, "pool-http-off.conf")).stdout)
    http_rows = [c for c in pool_off["Internal"] if c[0].startswith("HTTP/")]
    assert len(http_rows) == 1 and http_rows[0][2].startswith("Director pool dir:")
    assert pool_off["Internal"][0][1] == "Internal reverse proxy interface (kernel-chosen)"


def test_named_members(tmp_path):
    """Members written as names appear as "address (name)", one per address the name has;
    the ruleset holds the addresses (nft needs them) and names them in a comment."""
    infos = socket.getaddrinfo("localhost", None, socket.AF_UNSPEC, socket.SOCK_STREAM)
    addrs = []
    for fam, _, _, _, sa in infos:
        if fam in (socket.AF_INET, socket.AF_INET6) and sa[0] not in addrs:
            addrs.append(sa[0])
    conf = tmp_path / "named.conf"
    conf.write_text("[proxy]\nexternal = 127.60.250.1\ninternal = 127.60.250.2\n"
                    "[pool fe]\nservers = localhost 127.60.250.12\n"
                    "publish = webext.contoso.com lyncdiscover.contoso.com\n")
    r = ports("-c", str(conf))
    assert r.returncode == 0, r.stderr
    for a in addrs:
        assert "%s (localhost)" % a in r.stdout
    assert "127.60.250.12," in r.stdout or "127.60.250.12 |" in r.stdout
    assert "127.60.250.12 (" not in r.stdout                 # a literal gets no name
    r = ports("-c", str(conf), "--format", "nft")
    assert r.returncode == 0, r.stderr
    assert "127.0.0.1 (localhost)" in r.stdout
    assert re.search(r"ip saddr 127\.60\.250\.2 ip daddr \{ 127\.0\.0\.1, 127\.60\.250\.12 \} "
                     r"tcp dport 4443 accept", r.stdout), r.stdout
    nft_check(r.stdout, tmp_path)


def test_long_pool_name_comment(tmp_path):
    """nft limits a rule comment to 128 bytes: a long pool name (with a quote) is cut, and the
    ruleset still loads."""
    name = 'very"long-' + "x" * 200
    conf = tmp_path / "long.conf"
    conf.write_text("[proxy]\nexternal = 127.60.251.1\n[pool %s]\nrole = owa\n"
                    "servers = 127.60.251.21\npublish = owa.contoso.com\n" % name)
    r = ports("-c", str(conf), "--format", "nft")
    assert r.returncode == 0, r.stderr
    for c in re.findall(r'comment "([^"]*)"', r.stdout):
        assert len(c.encode()) <= 127
    assert 'very_long-' in r.stdout
    nft_check(r.stdout, tmp_path)
    md = ports("-c", str(conf)).stdout
    assert "Office Web Apps pool very\"long-" in md


def test_bad_format_and_bad_config(tmp_path):
    r = ports("-c", os.path.join(GOLDEN, "seed.conf"), "--format", "iptables")
    assert r.returncode == 2 and "unknown format" in r.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text("[proxy]\nexternal = 127.60.252.1\n[pool fe]\nservers = 127.60.252.11\n"
                   "publish = webext.contoso.com\nhttp = sometimes\n")
    r = ports("-c", str(bad))
    assert r.returncode == 1 and "bad.conf:6:" in r.stderr and r.stdout == ""


def test_write_error_is_reported():
    """A ruleset cut short by a full disk must not look complete: exit 1."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        r = subprocess.run([harness.PORTICO_BIN, "ports", "-c", os.path.join(GOLDEN, "seed.conf"),
                            "--format", "nft"], stdout=full, stderr=subprocess.PIPE, text=True,
                           timeout=30)
    assert r.returncode == 1 and "writing the output" in r.stderr
