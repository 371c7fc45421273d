#!/bin/bash
# tests/run-all.sh — runs the black-box suite (tests/test_*.py) three times:
#   1. PORTICO_WORKERS=1 with ./portico
#   2. PORTICO_WORKERS=2 with ./portico
#   3. PORTICO_WORKERS=1 with ./portico-asan (ASan + UBSan; no RSS asserts, longer timeouts)
# Every run goes to the end (no -x); a summary follows; the exit status is nonzero if any run
# failed. Extra arguments go to pytest (e.g. tests/run-all.sh -k routing).
# A subset under valgrind (leaks, memory errors) is `make valgrind-check` (tests/hardening.mk).
# Needs Debian's python3 + python3-pytest (stdlib only), curl, openssl; runs as root (ports 80/443).

cd "$(dirname "$0")/.." || exit 2

# The 300 MB tests and the concurrency tests want more than the default 1024 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

PY=/usr/bin/python3
if ! $PY -c 'import pytest' 2>/dev/null; then
    echo "run-all.sh: $PY has no pytest (apt-get install python3-pytest)" >&2
    exit 2
fi

declare -a SUMMARY
FAILED=0

run() {
    local label=$1 tmp=$2
    shift 2
    echo
    echo "=================== $label ==================="
    local start=$SECONDS
    env "$@" $PY -m pytest -q -p no:cacheprovider -rfE --basetemp="tests/.tmp/$tmp" tests "${PYTEST_ARGS[@]}"
    local rc=$?
    local took=$((SECONDS - start))
    if [ $rc -eq 0 ]; then
        SUMMARY+=("PASS  $label (${took}s)")
    else
        SUMMARY+=("FAIL  $label (pytest exit $rc, ${took}s; files in tests/.tmp/$tmp)")
        FAILED=1
    fi
}

PYTEST_ARGS=("$@")
mkdir -p tests/.tmp

for bin in ./portico ./portico-asan; do
    [ -x "$bin" ] || echo "run-all.sh: warning: $bin missing (make portico portico-asan)" >&2
done

run "workers=1 ./portico" w1 PORTICO_WORKERS=1 PORTICO_BIN=./portico PORTICO_SANITIZED=0
run "workers=2 ./portico" w2 PORTICO_WORKERS=2 PORTICO_BIN=./portico PORTICO_SANITIZED=0
run "workers=1 ./portico-asan" asan PORTICO_WORKERS=1 PORTICO_BIN=./portico-asan PORTICO_SANITIZED=1 \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

echo
echo "=================== summary ==================="
for line in "${SUMMARY[@]}"; do
    echo "$line"
done
exit $FAILED
