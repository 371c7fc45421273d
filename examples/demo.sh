#!/bin/bash
# demo.sh — portico publishing a mock Lync pool over HTTPS, all on loopback addresses
# (`make run`).
#
# At start, in a temporary directory (removed on exit), it generates with the openssl CLI:
#   - a throwaway "public" CA and the public certificate portico presents on 443: ECDSA
#     P-256, server EKU, SANs webext, lyncdiscover, meet, dialin and owa .contoso.com (the
#     subject, webext.contoso.com, among them);
#   - a throwaway internal CA and the pools' certificates it issues: fe01 and fe02 (SANs
#     webext, lyncdiscover, meet, dialin .contoso.com and their own host name), owa01
#     (owa.contoso.com);
# then copies examples/demo.conf next to them (its paths are relative to the file) and starts,
# as children of this script:
#   mock Front End fe01    127.0.10.11:8080 (HTTP) and 127.0.10.11:4443 (TLS)
#   mock Front End fe02    127.0.10.12:8080 (HTTP) and 127.0.10.12:4443 (TLS)
#   mock Office Web Apps   127.0.10.21:443 (TLS)
#   portico                external 127.0.10.1 ports 443 and 80, internal (source) address
#                          127.0.10.2, admin listener 127.0.10.1:9090 (the status page)
# It waits until each one says it is ready, runs a few curl commands through the proxy (they
# show on the status page's graphs at its next sample, within 10 s), prints the status page's
# address, then stays in the foreground showing portico's access log (stdout) and error log
# (stderr).
# Ctrl-C or SIGTERM stops everything it started.
#
# With --acme (`make run ACME=1`) the public certificate is not generated: portico orders it
# itself (`certificate = acme`, docs/certificates.md#acme) from Debian's pebble, the ACME test
# CA, started here too (127.0.10.3:14000, its DNS server pebble-challtestsrv answering every
# name with 127.0.10.1), over HTTP-01 on portico's port 80; the demo waits for the order,
# then runs the same curl commands against the issued certificate (pebble's root, fetched from
# its management port, stands in for a public CA).
#
# Needs root (ports 80 and 443), /usr/bin/python3, curl, openssl (and pebble for --acme).
# Build first: `make portico`.

set -euo pipefail

cd "$(dirname "$0")/.."

PY=/usr/bin/python3
PORTICO=./portico
EXT=127.0.10.1
ADMIN=http://127.0.10.1:9090 # admin = in examples/demo.conf
READY_TIMEOUT=20 # seconds to wait for a readiness line before giving up

die() {
    echo "demo.sh: $*" >&2
    exit 1
}

ACME=0
case ${1:-} in
    --acme) ACME=1 ;;
    "") ;;
    *) die "usage: examples/demo.sh [--acme]" ;;
esac
ACME_IP=127.0.10.3 # pebble (14000, management 15000) and its DNS server (8053)

[ -x "$PORTICO" ] || die "$PORTICO is missing: run 'make portico' (or 'make run')"
[ -x "$PY" ] || die "$PY is missing (apt-get install python3)"
command -v curl >/dev/null || die "curl is missing (apt-get install curl)"
command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
[ "$ACME" -eq 0 ] || command -v pebble >/dev/null || die "pebble is missing (apt-get install pebble)"
if [ "$(id -u)" -ne 0 ] &&
    [ "$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024)" -gt 80 ]; then
    die "run as root: the demo binds ports 80 and 443"
fi

TMP=$(mktemp -d /tmp/portico-demo.XXXXXX)
PKI=$TMP/pki
CONF=$TMP/demo.conf
PIDS=()     # the servers: portico first, then the mocks
DRAINS=()   # the cat processes that copy the servers' output once they are ready
WAITING=0   # 1 while the script waits for portico at the end
STOPPING="" # the exit status a signal asked for during that wait

# shellcheck disable=SC2317 # invoked by the traps
cleanup() {
    # Uninterruptible: a second Ctrl-C must not leave servers behind. It ends within portico's
    # drain_timeout (5 s); the mocks exit at once.
    trap '' INT TERM
    trap - EXIT
    local pid
    if [ ${#PIDS[@]} -gt 0 ]; then
        echo >&2
        echo "demo.sh: stopping what it started" >&2
        # Every server is told first, then waited for: whatever happens to one wait, nothing
        # is left running.
        for pid in "${PIDS[@]}"; do
            kill -TERM "$pid" 2>/dev/null || true
        done
        for pid in "${PIDS[@]}"; do
            wait "$pid" 2>/dev/null || true
        done
    fi
    # The copies end by themselves once the servers have closed their output.
    for pid in "${DRAINS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
# on_signal STATUS: Ctrl-C (SIGINT) or SIGTERM. During the final wait for portico the trap
# only records it and the main flow stops everything: waiting for children inside a trap that
# interrupted a `wait` can hang bash.
# shellcheck disable=SC2317 # invoked by the traps
on_signal() {
    if [ "$WAITING" -eq 1 ]; then
        STOPPING=$1
        return
    fi
    cleanup
    exit 0 # a requested stop is a clean end (status $1 would make `make run` report an error)
}
trap 'cleanup' EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# ---- the throwaway PKI ---------------------------------------------------------------------

# ossl ARGS...: runs openssl in $PKI, its chatter into openssl.log (shown if it fails).
ossl() {
    if ! (cd "$PKI" && openssl "$@") >>"$PKI/openssl.log" 2>&1; then
        sed 's/^/    /' "$PKI/openssl.log" >&2
        die "openssl $1 failed (see the lines above)"
    fi
}

# ca STEM SUBJECT: a self-signed CA, ECDSA P-256, valid 2 days.
ca() {
    ossl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1.key" -out "$1.pem" -days 2 -subj "$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign"
}

# leaf STEM CA CN DNS...: a server certificate (ECDSA P-256, server EKU) issued by CA for the
# DNS names given (the CN is expected among them: clients look at the SANs only).
leaf() {
    local stem=$1 ca=$2 cn=$3 sans="" n
    shift 3
    for n in "$@"; do sans="$sans${sans:+,}DNS:$n"; done
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" "subjectAltName=$sans" \
        "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$PKI/$stem.ext"
    ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$stem.key" -out "$stem.csr" -subj "/CN=$cn"
    ossl x509 -req -in "$stem.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAserial "$ca.srl" \
        -CAcreateserial -days 2 -extfile "$stem.ext" -out "$stem.pem"
}

echo "demo.sh: generating throwaway certificates in $PKI"
mkdir "$PKI"
FE_NAMES=(webext.contoso.com lyncdiscover.contoso.com meet.contoso.com dialin.contoso.com)
ca public-ca "/O=Demo Public CA (throwaway)/CN=Demo Public Root CA"
leaf public public-ca webext.contoso.com "${FE_NAMES[@]}" owa.contoso.com
ca internal-ca "/O=Contoso (throwaway)/CN=Contoso Internal CA"
leaf fe01 internal-ca fe01.contoso.local "${FE_NAMES[@]}" fe01.contoso.local
leaf fe02 internal-ca fe02.contoso.local "${FE_NAMES[@]}" fe02.contoso.local
leaf owa01 internal-ca owa.contoso.com owa.contoso.com
cp examples/demo.conf "$CONF"
if [ "$ACME" -eq 1 ]; then
    # pebble's own TLS certificate, from a CA portico trusts for it ([acme] ca).
    ca pebble-ca "/O=Demo ACME CA TLS (throwaway)/CN=pebble TLS CA"
    printf '%s\n' "subjectAltName=IP:$ACME_IP" >"$PKI/pebble.ext"
    ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout pebble.key -out pebble.csr -subj "/CN=$ACME_IP"
    ossl x509 -req -in pebble.csr -CA pebble-ca.pem -CAkey pebble-ca.key -CAcreateserial \
        -days 2 -extfile pebble.ext -out pebble.pem
    printf '{"pebble": {"listenAddress": "%s:14000", "managementListenAddress": "%s:15000",
      "certificate": "%s", "privateKey": "%s", "httpPort": 80, "tlsPort": 443,
      "ocspResponderURL": "", "externalAccountBindingRequired": false}}\n' \
        "$ACME_IP" "$ACME_IP" "$PKI/pebble.pem" "$PKI/pebble.key" >"$PKI/pebble.json"
    # The copy orders its certificate: `certificate = acme`, no key, an [acme] section.
    # The state (account key, certificate, key) in $TMP/state (relative to the file).
    sed -i -e 's|^certificate = pki/public.pem|certificate = acme\nstate_dir   = state|' \
        -e '/^key  *= pki\/public.key/d' "$CONF"
    printf '\n[acme]\ndirectory = https://%s:14000/dir\ncontact = mailto:admin@contoso.com\nca = pki/pebble-ca.pem\n' \
        "$ACME_IP" >>"$CONF"
fi

echo "demo.sh: $PORTICO -t -c $CONF"
check_rc=0
check=$("$PORTICO" -t -c "$CONF" 2>&1) || check_rc=$?
printf '%s\n' "$check" | sed 's/^/    /'
[ "$check_rc" -eq 0 ] || die "the demo configuration does not load"

# ---- the servers ---------------------------------------------------------------------------

# start NAME PATTERN STREAM COMMAND...: runs COMMAND in the background with its STREAM
# (stdout, stderr or both) going to a pipe, reads that pipe until a line contains PATTERN,
# then leaves a cat copying the rest: to NAME's log file (mocks) or to stderr (portico).
# Reading blocks on the pipe, so there is no polling; a server that dies before it is ready
# closes the pipe and the demo stops with its output.
start() {
    local name=$1 pattern=$2 stream=$3 fd line
    local fifo="$TMP/$name.pipe" log="$TMP/$name.log"
    shift 3
    mkfifo "$fifo"
    case $stream in
        stdout) "$@" >"$fifo" & ;;
        stderr) "$@" 2>"$fifo" & ;;
        both) "$@" >"$fifo" 2>&1 & ;;
    esac
    PIDS=("$!" "${PIDS[@]}")
    exec {fd}<"$fifo"
    while :; do
        if ! IFS= read -r -t "$READY_TIMEOUT" -u "$fd" line; then
            exec {fd}<&-
            [ -s "$log" ] && sed 's/^/    /' "$log" >&2
            die "$name did not become ready (see the lines above)"
        fi
        if [ "$name" = portico ]; then
            printf '%s\n' "$line" >&2
        else
            printf '%s\n' "$line" >>"$log"
        fi
        [[ $line == *"$pattern"* ]] && break
    done
    if [ "$name" = portico ]; then
        cat <&"$fd" >&2 &
    else
        cat <&"$fd" >>"$log" &
    fi
    DRAINS+=("$!")
    exec {fd}<&-
}

echo "demo.sh: starting the mock pool (logs in $TMP)"
start fe01 "mockpool: ready" both \
    "$PY" tests/mockpool.py --name fe01 --cert "$PKI/fe01.pem" --key "$PKI/fe01.key" \
    --listen 127.0.10.11:8080 --listen 127.0.10.11:4443:tls
start fe02 "mockpool: ready" both \
    "$PY" tests/mockpool.py --name fe02 --cert "$PKI/fe02.pem" --key "$PKI/fe02.key" \
    --listen 127.0.10.12:8080 --listen 127.0.10.12:4443:tls
start owa01 "mockpool: ready" both \
    "$PY" tests/mockpool.py --name owa01 --cert "$PKI/owa01.pem" --key "$PKI/owa01.key" \
    --listen 127.0.10.21:443:tls

if [ "$ACME" -eq 1 ]; then
    echo "demo.sh: starting the ACME CA (pebble on $ACME_IP:14000, its DNS server on $ACME_IP:8053)"
    start challtestsrv "Starting management server" both pebble-challtestsrv \
        -dns01 "$ACME_IP:8053" -defaultIPv4 "$EXT" -defaultIPv6 "" -http01 "" -https01 "" \
        -tlsalpn01 "" -management "$ACME_IP:8055"
    PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 start pebble "ACME directory available" both \
        pebble -config "$PKI/pebble.json" -dnsserver "$ACME_IP:8053"
fi

echo "demo.sh: starting portico -c $CONF"
start portico "portico: ready" stderr "$PORTICO" -c "$CONF"

if [ "$ACME" -eq 1 ]; then
    # The order takes a few seconds (HTTP-01 for every published name); the status page says
    # when it is done. Then pebble's root stands in for the public CA of the curl commands.
    # The certificate watch then puts it on the listener: the demo waits until curl trusts
    # what the listener serves.
    echo "demo.sh: waiting for the ACME order and for the listener to serve its certificate"
    curl -sf --cacert "$PKI/pebble-ca.pem" "https://$ACME_IP:15000/roots/0" >"$PKI/public-ca.pem" ||
        die "cannot fetch pebble's root certificate"
    served=0
    for _ in $(seq 1 120); do
        if curl -s -o /dev/null --max-time 2 --cacert "$PKI/public-ca.pem" \
            --resolve "webext.contoso.com:443:$EXT" https://webext.contoso.com/ 2>/dev/null; then
            served=1
            break
        fi
        sleep 0.5
    done
    [ "$served" -eq 1 ] ||
        die "no certificate from the ACME CA served within 60 s (portico's log above says why)"
fi

# ---- what to try ---------------------------------------------------------------------------

CA="--cacert $PKI/public-ca.pem"
TITLES=()
CMDS=()
# try TITLE COMMAND: a command to show and run (COMMAND is one string, as printed).
try() {
    TITLES+=("$1")
    CMDS+=("$2")
}
try "autodiscover over HTTPS, bridged to a Front End's 4443 (curl checks portico's certificate, portico the member's)" \
    "curl -s $CA --resolve lyncdiscover.contoso.com:443:$EXT https://lyncdiscover.contoso.com/Autodiscover/AutodiscoverService.svc/root"
try "the external web services: the address book handler, bridged to 4443 (status line and headers only)" \
    "curl -s -o /dev/null -D - $CA --resolve webext.contoso.com:443:$EXT https://webext.contoso.com/abs/handler"
try "what a member receives (the mock echoes it): TLS with SNI = Host, from 127.0.10.2, Host, X-Forwarded-*" \
    "curl -s $CA --resolve webext.contoso.com:443:$EXT https://webext.contoso.com/echo"
try "a simple URL (status line and headers only)" \
    "curl -s -o /dev/null -D - $CA --resolve meet.contoso.com:443:$EXT https://meet.contoso.com/Meet/user/ABCD1234"
try "Office Web Apps: bridged to owa01 on 443 (status line and headers only)" \
    "curl -s -o /dev/null -D - $CA --resolve owa.contoso.com:443:$EXT https://owa.contoso.com/hosting/discovery"
if [ "$ACME" -eq 1 ]; then
    try "the certificate portico ordered: every published name, from the ACME CA (subject, issuer, names)" \
        "openssl s_client -connect $EXT:443 -servername webext.contoso.com </dev/null 2>/dev/null | openssl x509 -noout -subject -issuer -ext subjectAltName"
    try "its ACME state as the status page has it (/status.json)" \
        "curl -s $ADMIN/status.json | $PY -c 'import json,sys; [print(c[\"names\"], c[\"acme\"]) for c in json.load(sys.stdin)[\"certificates\"]]'"
else
    try "421: lyncdiscover.fabrikam.com is published but not on the certificate of the connection (webext's)" \
        "curl -si $CA --resolve webext.contoso.com:443:$EXT -H 'Host: lyncdiscover.fabrikam.com' https://webext.contoso.com/Autodiscover/AutodiscoverService.svc/root"
fi
try "port 80: lyncdiscover is forwarded to a Front End's 8080, never redirected (lyncdiscover.fabrikam.com too)" \
    "curl -s --resolve lyncdiscover.contoso.com:80:$EXT http://lyncdiscover.contoso.com/Autodiscover/AutodiscoverService.svc/root"
try "port 80: every other published name gets a 301 to https://, nothing forwarded" \
    "curl -si --resolve webext.contoso.com:80:$EXT http://webext.contoso.com/abs/handler"
try "a name that is not published: 404, never forwarded" \
    "curl -si --resolve www.contoso.com:80:$EXT http://www.contoso.com/"

if [ "$ACME" -eq 1 ]; then
    CERT_TEXT="                   lyncdiscover.fabrikam.com    -> Front End pool too (on the certificate)
                   certificate: ordered by portico from the ACME CA (pebble, $ACME_IP:14000)
                   over HTTP-01 on port 80: ECDSA P-256, every published name; renewed by
                   itself (docs/certificates.md#acme), state in $TMP/state"
else
    CERT_TEXT="                   lyncdiscover.fabrikam.com    -> 421 (published, not on the certificate)
                   certificate: ECDSA P-256 from the demo's public CA, SANs webext,
                   lyncdiscover, meet, dialin and owa .contoso.com"
fi

cat <<EOF

==============================================================================================
 portico demo: a reverse proxy for Lync Server 2013 / Skype for Business external web services

 External interface  $EXT
   HTTPS/TCP/443   webext, lyncdiscover, meet, dialin -> Front End pool, HTTPS 4443
                   owa.contoso.com              -> Office Web Apps, HTTPS 443
$CERT_TEXT
   HTTP/TCP/80     lyncdiscover.contoso.com, lyncdiscover.fabrikam.com
                                                -> forwarded to the Front End pool on 8080
                   webext, meet, dialin, owa    -> 301 to https://
   both            any other name               -> 404, never forwarded
 Internal interface  127.0.10.2 (source address of every connection to the pools)
   HTTPS/TCP/4443  Front End pool  fe01 127.0.10.11, fe02 127.0.10.12   (mock, TLS)
   HTTP/TCP/8080   Front End pool  fe01, fe02                           (mock)
   HTTPS/TCP/443   Office Web Apps owa01 127.0.10.21                    (mock, TLS)
                   the pools' certificates come from the demo's internal CA, which portico
                   trusts (pool key ca); the name they must carry is the request's Host
 Admin listener  $ADMIN (loopback only)
   /status         the status page: graphs of the last hour (requests, 4xx and 5xx, p50 and
                   p99 latency per pool, connections, members up), members, firewall tables
   /metrics        Prometheus;  /status.json  the same facts and the graphs' history as JSON
 Certificates:  $PKI
 Configuration: $CONF (a copy of examples/demo.conf)
 Mock logs:     $TMP/*.log
==============================================================================================

Try these (curl's --resolve stands in for public DNS, --cacert for a public CA):

EOF
for i in "${!CMDS[@]}"; do
    printf '  # %s:\n  %s\n\n' "${TITLES[$i]}" "${CMDS[$i]}"
done

echo "Running them once (access log lines from portico start with the client address):"
echo
for i in "${!CMDS[@]}"; do
    echo "---- ${TITLES[$i]}"
    echo "\$ ${CMDS[$i]}"
    rc=0
    out=$(timeout 10 bash -c "${CMDS[$i]}" 2>&1) || rc=$?
    printf '%s\n' "$out" | tr -d '\r' | sed 's/^/    /'
    [ "$rc" -eq 0 ] || echo "    (exit status $rc)"
    echo
done

echo "The status page, with these requests on its graphs from the next sample (every 10 s):"
echo "    $ADMIN/status"
echo "(from another machine: ssh -L 9090:127.0.10.1:9090 THIS-HOST, then"
echo " http://localhost:9090/status in a browser)"
echo
echo "portico runs; its access log follows. Ctrl-C stops the demo."
echo

# Waits for portico (the first of PIDS). A trapped signal interrupts the wait; the EXIT trap
# then stops everything.
rc=0
WAITING=1
[ -n "$STOPPING" ] || wait "${PIDS[0]}" || rc=$?
WAITING=0
# A stop asked for with Ctrl-C or SIGTERM is a clean end, not a failure of `make run`.
[ -z "$STOPPING" ] || exit 0
echo "demo.sh: portico has stopped (exit status $rc)" >&2
exit "$rc"
