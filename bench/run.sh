#!/usr/bin/env bash
# bench/run.sh — `make bench`: portico, nginx and HAProxy side by side as the reverse proxy in
# front of the same fast backend (issue 6). Proxy on core 0, backend and load on core 1; the
# scenarios, figures and method are described in bench/bench.py. A measurement, not a test: it
# exits 0 whatever the figures (1 only when a prerequisite is missing). The table is printed and
# saved to bench/results/LATEST.md (git-ignored). Takes about 12 minutes.
# Usage: bench/run.sh [bench.py options, e.g. --runs 3 --duration 5 --only http100,tls100]
#        bench/run.sh --scale [scale.py options]   (make bench-scale: 100,000 pending long polls)
set -uo pipefail
cd "$(dirname "$0")/.."

# The Debian packages start their services on install (unless policy-rc.d forbids it). Stop them
# and keep them from starting at boot, so that they hold no port. PID 1 may not be systemd, so
# try systemctl, then the init script, then the owner of the packaged pidfile.
stop_service() { # name pidfile
  local name=$1 pidfile=$2 pid i
  if command -v systemctl >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
      systemctl disable --now "$name" >/dev/null 2>&1 || true
    else
      systemctl disable "$name" >/dev/null 2>&1 || true   # works offline: removes the symlinks
    fi
  fi
  if [ -x "/etc/init.d/$name" ]; then
    command -v update-rc.d >/dev/null 2>&1 && { update-rc.d "$name" disable >/dev/null 2>&1 || true; }
    if command -v service >/dev/null 2>&1; then
      service "$name" stop >/dev/null 2>&1 || true
    else
      "/etc/init.d/$name" stop >/dev/null 2>&1 || true
    fi
  fi
  [ -s "$pidfile" ] || return 0
  pid=$(head -n1 "$pidfile" | tr -dc 0-9)
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q "$name" "/proc/$pid/comm" 2>/dev/null || return 0
  echo "bench: stopping the packaged $name service (pid $pid from $pidfile)" >&2
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
if [ "$(id -u)" = 0 ]; then
  stop_service nginx /run/nginx.pid
  stop_service haproxy /run/haproxy.pid
fi

missing=""
for t in wrk h2load nginx haproxy openssl taskset; do
  command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
[ -x ./portico ] || missing="$missing ./portico"
if [ -n "$missing" ]; then
  echo "bench: missing:$missing (make bench installs and builds them)" >&2
  exit 1
fi

# 1,000-connection wrk runs and 10,000 long polls (two sockets each in the proxy, the backend
# and the client) need many descriptors: raise the hard limit when root, then the soft one.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt 65536 ]; then ulimit -Hn 65536 2>/dev/null || true; fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
mkdir -p bench/results
if [ "${1:-}" = --scale ]; then # make bench-scale
  shift
  "$PY" bench/scale.py "$@"
else
  "$PY" bench/bench.py --out bench/results/LATEST.md "$@"
fi
rc=$?
[ $rc = 0 ] || echo "bench: the driver ended with status $rc" >&2
exit 0
