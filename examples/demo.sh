#!/bin/bash
# demo.sh — portico in front of a mock Lync pool, all on loopback addresses (`make run`).
#
# Starts, as children of this script:
#   mock Front End fe01    127.0.10.11:8080 (HTTP) and :4443
#   mock Front End fe02    127.0.10.12:8080 (HTTP) and :4443
#   mock Office Web Apps   127.0.10.21:443
#   portico                external 127.0.10.1:80, internal (source) address 127.0.10.2,
#                          with examples/demo.conf
# waits until each one says it is ready, runs a few curl commands through the proxy, then
# stays in the foreground showing portico's access log (stdout) and error log (stderr).
# Ctrl-C or SIGTERM stops everything it started.
#
# The mock's 4443 and 443 listeners speak TLS when DEMO_POOL_CERT and DEMO_POOL_KEY name a
# certificate and key (PEM) for them, and plain HTTP otherwise. portico does not connect to
# them yet: upstream TLS arrives with the next issue, together with the external 443 listener.
#
# Needs root (ports 80 and 443), /usr/bin/python3, curl. Build first: `make portico`.

set -euo pipefail

cd "$(dirname "$0")/.."

PY=/usr/bin/python3
PORTICO=./portico
CONF=examples/demo.conf
EXT=127.0.10.1
READY_TIMEOUT=20 # seconds to wait for a readiness line before giving up

die() {
    echo "demo.sh: $*" >&2
    exit 1
}

[ -x "$PORTICO" ] || die "$PORTICO is missing: run 'make portico' (or 'make run')"
[ -x "$PY" ] || die "$PY is missing (apt-get install python3)"
command -v curl >/dev/null || die "curl is missing (apt-get install curl)"
if [ "$(id -u)" -ne 0 ] &&
    [ "$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024)" -gt 80 ]; then
    die "run as root: the demo binds ports 80 and 443"
fi

TLS_SUFFIX=""
MOCK_TLS_ARGS=()
if [ -n "${DEMO_POOL_CERT:-}" ] && [ -n "${DEMO_POOL_KEY:-}" ]; then
    if [ ! -r "$DEMO_POOL_CERT" ] || [ ! -r "$DEMO_POOL_KEY" ]; then
        die "cannot read DEMO_POOL_CERT=$DEMO_POOL_CERT or DEMO_POOL_KEY=$DEMO_POOL_KEY"
    fi
    TLS_SUFFIX=":tls"
    MOCK_TLS_ARGS=(--cert "$DEMO_POOL_CERT" --key "$DEMO_POOL_KEY")
fi

TMP=$(mktemp -d /tmp/portico-demo.XXXXXX)
PIDS=()     # the servers: portico first, then the mocks (stopped in that order)
DRAINS=()   # the cat processes that copy the servers' output once they are ready

# shellcheck disable=SC2317 # invoked by the traps
cleanup() {
    trap - EXIT INT TERM
    local pid
    if [ ${#PIDS[@]} -gt 0 ]; then
        echo >&2
        echo "demo.sh: stopping what it started" >&2
        # portico drains (up to drain_timeout) before it exits; the mocks exit at once.
        for pid in "${PIDS[@]}"; do
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        done
    fi
    # The copies end by themselves once the servers have closed their output.
    for pid in "${DRAINS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

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
    "$PY" tests/mockpool.py --name fe01 "${MOCK_TLS_ARGS[@]}" \
    --listen 127.0.10.11:8080 --listen "127.0.10.11:4443$TLS_SUFFIX"
start fe02 "mockpool: ready" both \
    "$PY" tests/mockpool.py --name fe02 "${MOCK_TLS_ARGS[@]}" \
    --listen 127.0.10.12:8080 --listen "127.0.10.12:4443$TLS_SUFFIX"
start owa01 "mockpool: ready" both \
    "$PY" tests/mockpool.py --name owa01 "${MOCK_TLS_ARGS[@]}" \
    --listen "127.0.10.21:443$TLS_SUFFIX"

echo "demo.sh: starting portico -c $CONF"
start portico "portico: ready" stderr "$PORTICO" -c "$CONF"

if [ -n "$TLS_SUFFIX" ]; then up_tls="TLS"; else up_tls="plain HTTP for now"; fi
cat <<EOF

==============================================================================================
 portico demo: a reverse proxy for Lync Server 2013 / Skype for Business external web services

 External interface  $EXT
   HTTP/TCP/80     lyncdiscover.contoso.com     -> forwarded to the Front End pool on 8080
                   webext, meet, dialin         -> 301 to https://
                   owa.contoso.com              -> 301 to https://
                   any other name               -> 404, never forwarded
   HTTPS/TCP/443   off: TLS termination arrives with the next issue
 Internal interface  127.0.10.2 (source address of every connection to the pool)
   HTTP/TCP/8080   Front End pool  fe01 127.0.10.11, fe02 127.0.10.12   (mock)
   HTTPS/TCP/4443  Front End pool  fe01, fe02       ($up_tls; not used by portico yet)
   HTTPS/TCP/443   Office Web Apps owa01 127.0.10.21 ($up_tls; not used by portico yet)
 Configuration: $CONF      Mock logs: $TMP/*.log
==============================================================================================

Try these (curl's --resolve stands in for public DNS):

  # autodiscover over plain HTTP, forwarded to a Front End on 8080:
  curl -s --resolve lyncdiscover.contoso.com:80:$EXT http://lyncdiscover.contoso.com/Autodiscover/AutodiscoverService.svc/root

  # what the pool receives (the mock echoes it): peer = 127.0.10.2, the original Host,
  # X-Forwarded-For and X-Forwarded-Proto; "server" shows which member answered:
  curl -s --resolve lyncdiscover.contoso.com:80:$EXT http://lyncdiscover.contoso.com/echo

  # the external web services name on port 80: a redirect to HTTPS, nothing forwarded:
  curl -si --resolve webext.contoso.com:80:$EXT http://webext.contoso.com/abs/handler

  # a name that is not published: 404, nothing forwarded:
  curl -si --resolve www.contoso.com:80:$EXT http://www.contoso.com/

EOF

# run_demo TITLE COMMAND...: shows a command, runs it, shows its output indented. portico's
# access log line for the request (on stdout too) starts with the client address.
run_demo() {
    local title=$1 out rc=0
    shift
    echo "---- $title"
    echo "\$ $*"
    out=$("$@" 2>&1) || rc=$?
    printf '%s\n' "$out" | tr -d '\r' | sed 's/^/    /'
    [ "$rc" -eq 0 ] || echo "    (curl exit status $rc)"
    echo
}

echo "Running them once (access log lines from portico start with the client address):"
echo
run_demo "autodiscover, forwarded to 8080" \
    curl -s --max-time 10 --resolve "lyncdiscover.contoso.com:80:$EXT" \
    http://lyncdiscover.contoso.com/Autodiscover/AutodiscoverService.svc/root
run_demo "what the pool member received" \
    curl -s --max-time 10 --resolve "lyncdiscover.contoso.com:80:$EXT" \
    http://lyncdiscover.contoso.com/echo
run_demo "webext on port 80: 301 to https" \
    curl -si --max-time 10 --resolve "webext.contoso.com:80:$EXT" \
    http://webext.contoso.com/abs/handler
run_demo "an unpublished name: 404" \
    curl -si --max-time 10 --resolve "www.contoso.com:80:$EXT" http://www.contoso.com/

echo "portico runs; its access log follows. Ctrl-C stops the demo."
echo

# Waits for portico (the first of PIDS). A trapped signal interrupts the wait.
set +e
wait "${PIDS[0]}"
rc=$?
set -e
echo "demo.sh: portico has stopped (exit status $rc)" >&2
exit "$rc"
