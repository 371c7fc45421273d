#!/usr/bin/env bash
# bench/run.sh — a quick side-by-side of portico and nginx as the reverse proxy in front of the
# same fast backend (nginx serving a 100-byte and a 16 KiB body), plain HTTP keep-alive.
# Reports the proxy's CPU time per request (user+sys of the proxy's processes from /proc,
# divided by requests served), requests/s and latency. A measurement, not a test: exits 0.
# Usage: bench/run.sh [seconds per run] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
RUNS=${2:-3}
W=$(mktemp -d /tmp/portico-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done; rm -rf "$W"' EXIT
BE=127.0.77.1 PX_NGINX=127.0.77.2 PX_PORTICO=127.0.77.3

head -c 100 /dev/zero | tr '\0' 'a' > "$W/100b"
head -c 16384 /dev/zero | tr '\0' 'b' > "$W/16k"
mkdir -p "$W/tmp"
cat > "$W/backend.conf" <<CONF
worker_processes 1; daemon off; pid $W/backend.pid; error_log $W/backend.err;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $W/tmp; proxy_temp_path $W/tmp;
  fastcgi_temp_path $W/tmp; uwsgi_temp_path $W/tmp; scgi_temp_path $W/tmp;
  keepalive_requests 1000000;
  server { listen $BE:8080 reuseport; root $W; } }
CONF
cat > "$W/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $W/nginx.pid; error_log $W/nginx.err;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $W/tmp; proxy_temp_path $W/tmp;
  fastcgi_temp_path $W/tmp; uwsgi_temp_path $W/tmp; scgi_temp_path $W/tmp;
  keepalive_requests 1000000;
  upstream pool { server $BE:8080; keepalive 256; }
  server { listen $PX_NGINX:80 reuseport;
    location / { proxy_pass http://pool; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_buffering off; } } }
CONF
cat > "$W/portico.conf" <<CONF
[proxy]
external = $PX_PORTICO
http_port = 80
https_port = off
workers = 1
access_log = off
[pool fe]
role = generic
servers = $BE
http_port = 8080
http = forward
publish = webext.contoso.com
CONF

taskset -c 1 nginx -c "$W/backend.conf" & 
taskset -c 0 nginx -c "$W/nginx.conf" &
taskset -c 0 ./portico -c "$W/portico.conf" 2> "$W/portico.err" &
echo $! > "$W/portico.pid"
for i in $(seq 50); do
  grep -q 'portico: ready' "$W/portico.err" 2>/dev/null && [ -s "$W/nginx.pid" ] && [ -s "$W/backend.pid" ] && break
  sleep 0.1
done

# CPU ticks (user+sys) of a process and its children that are still alive.
cpu_ticks() {
  local total=0 p
  for p in "$@" $(for q in "$@"; do pgrep -P "$q" || true; done); do
    [ -r /proc/$p/stat ] || continue
    total=$(( total + $(awk '{print $14 + $15}' /proc/$p/stat) ))
  done
  echo $total
}
HZ=$(getconf CLK_TCK)

run() { # name addr path
  local name=$1 addr=$2 path=$3 pid
  if [ "$name" = nginx ]; then pid=$(cat "$W/nginx.pid"); else pid=$(cat "$W/portico.pid"); fi
  local c0; c0=$(cpu_ticks "$pid")
  local out; out=$(taskset -c 1 wrk -t1 -c50 -d"${DUR}s" --latency -H 'Host: webext.contoso.com' "http://$addr$path")
  local c1; c1=$(cpu_ticks "$pid")
  local reqs; reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  local rps; rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  local p50; p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  local p99; p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  local us; us=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v r="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / r }')
  printf '%-8s %-6s %10s %12s %8s %8s\n' "$name" "$path" "$us" "$rps" "$p50" "$p99"
}
printf '%-8s %-6s %10s %12s %8s %8s\n' proxy body 'cpu_us/req' 'req/s' p50 p99
for r in $(seq "$RUNS"); do
  for path in /100b /16k; do
    run portico $PX_PORTICO $path
    run nginx $PX_NGINX $path
  done
done
exit 0
