#!/usr/bin/env bash
# bench/tls.sh — portico and nginx side by side with TLS in front and TLS to the backend (the
# 443 -> 4443 case): proxy CPU per request over kept-alive TLS with re-encryption, and proxy
# CPU per new TLS handshake (ECDSA P-256, resumption off, `openssl s_time -new`).
# A measurement, not a test: exits 0. Usage: bench/tls.sh [seconds per run] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
RUNS=${2:-3}
W=$(mktemp -d /tmp/portico-bench-tls.XXXXXX)
cleanup() {
  for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$W"
}
trap cleanup EXIT
BE=127.0.78.1 PX_NGINX=127.0.78.2 PX_PORTICO=127.0.78.3

# Throwaway ECDSA P-256 certificates: a public one for the proxies, an internal one for the pool.
mkcert() { # name ca cn
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$1.key" \
    -subj "/CN=$3" -out "$W/$1.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$3" > "$W/$1.ext"
  openssl x509 -req -in "$W/$1.csr" -CA "$W/$2.crt" -CAkey "$W/$2.key" -CAcreateserial \
    -days 2 -extfile "$W/$1.ext" -out "$W/$1.crt" 2>/dev/null
}
for ca in pubca intca; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$ca.key" \
    -subj "/CN=$ca" -days 2 -out "$W/$ca.crt" 2>/dev/null
done
mkcert public pubca webext.contoso.com
mkcert pool intca webext.contoso.com

head -c 100 /dev/zero | tr '\0' 'a' > "$W/100b"
head -c 16384 /dev/zero | tr '\0' 'b' > "$W/16k"
mkdir -p "$W/tmp"
TMPS="client_body_temp_path $W/tmp; proxy_temp_path $W/tmp; fastcgi_temp_path $W/tmp; uwsgi_temp_path $W/tmp; scgi_temp_path $W/tmp;"
cat > "$W/backend.conf" <<CONF
worker_processes 1; daemon off; pid $W/backend.pid; error_log $W/backend.err;
events { worker_connections 4096; }
http { access_log off; $TMPS keepalive_requests 1000000;
  server { listen $BE:4443 ssl reuseport; ssl_certificate $W/pool.crt; ssl_certificate_key $W/pool.key;
    root $W; } }
CONF
cat > "$W/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $W/nginx.pid; error_log $W/nginx.err;
events { worker_connections 4096; }
http { access_log off; $TMPS keepalive_requests 1000000;
  upstream pool { server $BE:4443; keepalive 256; }
  server { listen $PX_NGINX:443 ssl reuseport; ssl_certificate $W/public.crt;
    ssl_certificate_key $W/public.key;
    location / { proxy_pass https://pool; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_ssl_server_name on; proxy_ssl_name \$host; proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $W/intca.crt; proxy_ssl_session_reuse on;
      proxy_buffering off; } } }
CONF
cat > "$W/portico.conf" <<CONF
[proxy]
external = $PX_PORTICO
http_port = off
https_port = 443
certificate = public.crt
key = public.key
workers = 1
access_log = off
[pool fe]
role = frontend
servers = $BE
ca = intca.crt
publish = webext.contoso.com
CONF

taskset -c 1 nginx -c "$W/backend.conf" &
taskset -c 0 nginx -c "$W/nginx.conf" &
taskset -c 0 ./portico -c "$W/portico.conf" 2> "$W/portico.err" &
echo $! > "$W/portico.pid"
for i in $(seq 100); do
  grep -q 'portico: ready' "$W/portico.err" 2>/dev/null && [ -s "$W/nginx.pid" ] && [ -s "$W/backend.pid" ] && break
  sleep 0.1
done

cpu_ticks() {
  local total=0 p
  for p in "$@" $(for q in "$@"; do pgrep -P "$q" || true; done); do
    [ -r /proc/$p/stat ] || continue
    total=$(( total + $(awk '{print $14 + $15}' /proc/$p/stat) ))
  done
  echo $total
}
HZ=$(getconf CLK_TCK)
pid_of() { if [ "$1" = nginx ]; then cat "$W/nginx.pid"; else cat "$W/portico.pid"; fi; }
addr_of() { if [ "$1" = nginx ]; then echo $PX_NGINX; else echo $PX_PORTICO; fi; }

req_run() { # name path
  local pid c0 c1 out reqs
  pid=$(pid_of "$1"); c0=$(cpu_ticks "$pid")
  out=$(taskset -c 1 wrk -t1 -c50 -d"${DUR}s" --latency -H 'Host: webext.contoso.com' "https://$(addr_of "$1")$2")
  c1=$(cpu_ticks "$pid")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  printf '%-8s %-16s %10s %12s %8s %8s\n' "$1" "keepalive $2" \
    "$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v r="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / r }')" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
    "$(echo "$out" | awk '$1=="50%" {print $2}')" "$(echo "$out" | awk '$1=="99%" {print $2}')"
}

hs_run() { # name
  local pid c0 c1 out n
  pid=$(pid_of "$1"); c0=$(cpu_ticks "$pid")
  out=$(taskset -c 1 openssl s_time -connect "$(addr_of "$1"):443" -new -time "$DUR" 2>/dev/null || true)
  c1=$(cpu_ticks "$pid")
  n=$(echo "$out" | awk '/connections in/ {print $1; exit}')
  printf '%-8s %-16s %10s %12s\n' "$1" "new handshake" \
    "$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v r="${n:-0}" 'BEGIN { if (r > 0) printf "%.1f", t / hz * 1e6 / r; else print "-" }')" \
    "$(awk -v n="${n:-0}" -v d="$DUR" 'BEGIN { printf "%.0f/s", n / d }')"
}

printf '%-8s %-16s %10s %12s %8s %8s\n' proxy scenario 'cpu_us/op' 'rate' p50 p99
for r in $(seq "$RUNS"); do
  for who in portico nginx; do req_run $who /100b; done
  for who in portico nginx; do req_run $who /16k; done
  for who in portico nginx; do hs_run $who; done
done
exit 0
