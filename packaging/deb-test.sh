#!/bin/sh
# deb-test.sh PACKAGE.deb VERSION — install portico's Debian package on this machine with
# dpkg -i, check what it installed, then remove it (dpkg -r) and purge it (dpkg -P) and check
# that it is gone. Needs root. Leaves the machine as it found it, except the system user
# portico, which a purge keeps (as Debian packages do).
#
# It refuses to run when portico is already installed from a package, or when
# /etc/portico/portico.conf exists: that is somebody's installation, not a test's.
# PORTICO_DEB_TEST_FORCE=1 overrides (the package is then purged at the end).

set -u
deb=${1:?usage: deb-test.sh PACKAGE.deb VERSION}
version=${2:?usage: deb-test.sh PACKAGE.deb VERSION}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/portico-deb-test.XXXXXX)
pass=0
fail=0
installed=0

ok() { pass=$((pass + 1)); echo "PASS: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # check DESCRIPTION COMMAND...: passes when COMMAND exits 0
    what=$1; shift
    if "$@" >"$tmp/out" 2>&1; then ok "$what"; else bad "$what"; sed 's/^/    /' "$tmp/out" | tail -20; fi
}

cleanup() {
    if [ "$installed" = 1 ]; then dpkg -P portico >/dev/null 2>&1 || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ "$(id -u)" != 0 ]; then echo "deb-test: needs root (dpkg -i)"; exit 1; fi
[ -f "$deb" ] || { echo "deb-test: $deb: no such file"; exit 1; }
status=$(dpkg-query -W -f='${Status}' portico 2>/dev/null || true)
if [ "${PORTICO_DEB_TEST_FORCE:-0}" != 1 ]; then
    case "$status" in
    *" installed"|*"config-files"|*half*|*unpacked*)
        echo "deb-test: portico is already installed here ($status): not touching it"
        echo "          (PORTICO_DEB_TEST_FORCE=1 to test anyway; the package is purged at the end)"
        exit 1 ;;
    esac
    if [ -e /etc/portico/portico.conf ]; then
        echo "deb-test: /etc/portico/portico.conf exists (not from the package): not touching it"
        exit 1
    fi
fi

echo "== $deb ($(stat -c %s "$deb") bytes)"
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Architecture\|Installed-Size\|Depends\):/  \1:/p'

# ---- install ---------------------------------------------------------------------------------
installed=1
check "dpkg -i $(basename "$deb")" dpkg -i "$deb"
check "dpkg -s: install ok installed, version $version" \
    sh -c "dpkg-query -W -f='\${Status} \${Version}' portico | grep -qx 'install ok installed $version'"
check "dpkg --verify portico (md5sums)" dpkg --verify portico
check "/usr/sbin/portico -v prints 'portico $version'" \
    sh -c "/usr/sbin/portico -v | grep -qx 'portico $version'"
for f in /usr/sbin/portico /lib/systemd/system/portico.service /etc/portico/portico.conf \
         /etc/logrotate.d/portico /usr/share/man/man8/portico.8.gz \
         /usr/share/man/man5/portico.conf.5.gz /usr/share/doc/portico/README.md \
         /usr/share/doc/portico/docs/configuration.md /usr/share/doc/portico/examples/portico.conf; do
    check "installed: $f" test -s "$f"
done
check "conffiles: /etc/portico/portico.conf, /etc/logrotate.d/portico" \
    sh -c "dpkg-query -W -f='\${Conffiles}' portico | grep -q ' /etc/portico/portico.conf ' &&
           dpkg-query -W -f='\${Conffiles}' portico | grep -q ' /etc/logrotate.d/portico '"
check "system user portico (no login shell)" \
    sh -c 'getent passwd portico | awk -F: '\''$3 < 1000 && $7 ~ /nologin|false/ {f=1} END {exit !f}'\'''
check "/var/log/portico owned by portico" \
    sh -c '[ "$(stat -c %U:%a /var/log/portico)" = portico:750 ]'

# The example configuration names hosts and certificate files that do not exist here: -t
# must refuse it with FILE:LINE errors (or accept it, should they exist).
/usr/sbin/portico -t -c /etc/portico/portico.conf >"$tmp/t.out" 2>&1
rc=$?
if [ $rc = 1 ] && grep -q '^/etc/portico/portico.conf:[0-9]*: ' "$tmp/t.out"; then
    ok "portico -t -c /etc/portico/portico.conf: exit 1, $(grep -c '^/etc/portico/portico.conf:[0-9]*: ' "$tmp/t.out") FILE:LINE error(s) (example hosts and certificates are not here)"
elif [ $rc = 0 ]; then
    ok "portico -t -c /etc/portico/portico.conf: exit 0"
else
    bad "portico -t -c /etc/portico/portico.conf: exit $rc"; sed 's/^/    /' "$tmp/t.out" | head
fi
chmod 0755 "$tmp"
cat >"$tmp/loopback.conf" <<'EOF'
[proxy]
external   = 127.0.70.1
http_port  = 18470
https_port = off
access_log = off

[pool fe]
role      = generic
servers   = 127.0.70.2
http_port = 18471
http      = forward
publish   = webext.contoso.com
EOF
chmod 0644 "$tmp/loopback.conf"
check "portico -t of a loopback configuration: exit 0" /usr/sbin/portico -t -c "$tmp/loopback.conf"
check "portico -t as the user portico: exit 0" \
    runuser -u portico -- /usr/sbin/portico -t -c "$tmp/loopback.conf"

# The unit, with the binary and the man pages in place.
check "systemd-analyze verify /lib/systemd/system/portico.service" \
    sh -c 'out=$(systemd-analyze verify /lib/systemd/system/portico.service 2>&1); rc=$?;
           [ -z "$out" ] || echo "$out"; [ $rc = 0 ] && [ -z "$out" ]'

# The man pages: found by man, rendered without a warning.
for page in 8:portico 5:portico.conf; do
    s=${page%%:*}; n=${page#*:}
    check "man -w $s $n" sh -c "man -w $s $n | grep -q '/usr/share/man/man$s/$n.$s.gz'"
    check "man --warnings -l /usr/share/man/man$s/$n.$s.gz: no warning" \
        sh -c "w=\$(MANWIDTH=80 man --warnings=w -l /usr/share/man/man$s/$n.$s.gz 2>&1 >/dev/null);
               [ -z \"\$w\" ] || echo \"\$w\"; [ -z \"\$w\" ]"
done
if command -v logrotate >/dev/null; then
    check "logrotate -d /etc/logrotate.d/portico" \
        sh -c 'logrotate -d /etc/logrotate.d/portico >"$0" 2>&1; rc=$?;
               if [ $rc != 0 ] || grep -qi "error" "$0"; then cat "$0"; exit 1; fi' "$tmp/logrotate.out"
fi

# The installed binary speaks the systemd notification protocol.
check "test-notify.py against /usr/sbin/portico" \
    env PORTICO_BIN=/usr/sbin/portico /usr/bin/python3 "$here/test-notify.py"

# ---- remove, purge ---------------------------------------------------------------------------
check "dpkg -r portico" dpkg -r portico
check "after dpkg -r: status deinstall ok config-files" \
    sh -c "dpkg-query -W -f='\${Status}' portico | grep -qx 'deinstall ok config-files'"
for f in /usr/sbin/portico /lib/systemd/system/portico.service /usr/share/man/man8/portico.8.gz \
         /usr/share/man/man5/portico.conf.5.gz /usr/share/doc/portico; do
    check "after dpkg -r: $f is gone" test ! -e "$f"
done
check "after dpkg -r: the conffile /etc/portico/portico.conf stays" test -e /etc/portico/portico.conf
check "dpkg -P portico" dpkg -P portico
installed=0
check "after dpkg -P: not known to dpkg" \
    sh -c "! dpkg-query -W -f='\${Status}' portico 2>/dev/null | grep -q ."
for f in /etc/portico /etc/logrotate.d/portico /var/log/portico; do
    check "after dpkg -P: $f is gone" test ! -e "$f"
done

echo "package: $deb, $(stat -c %s "$deb") bytes; installed size $(dpkg-deb -f "$deb" Installed-Size) KiB"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
