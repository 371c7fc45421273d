#!/bin/bash
# tests/netns/run.sh [PYTEST ARGS...] — runs tests/test_netns.py (with -s: the flow table and
# the failover figures), then checks that the run left nothing behind: no namespace named
# after its pytest process, no interface of ours in this namespace, no process still using its
# temporary directory. Exit status: pytest's, or 3 if something was left behind.
cd "$(dirname "$0")/../.." || exit 2
base=$(mktemp -d /tmp/portico-netns.XXXXXX)
/usr/bin/python3 -m pytest -s -v -p no:cacheprovider --basetemp="$base/t" tests/test_netns.py "$@" &
pid=$!
wait $pid
rc=$?
sleep 0.5
left=0
if ip netns list 2>/dev/null | grep -q "^pct-$pid-"; then
    echo "run.sh: namespaces left behind:" >&2
    ip netns list | grep "^pct-$pid-" >&2
    left=1
fi
if pgrep -f "$base/" >/dev/null; then
    echo "run.sh: processes left behind:" >&2
    pgrep -af "$base/" >&2
    left=1
fi
if ip -o link show | grep -Eq ": (ext0|int0|c[AB]@|p[AB]@|br0|pbr0)[:@]"; then
    echo "run.sh: an interface of the test appeared in this namespace:" >&2
    ip -o link show | grep -E ": (ext0|int0|c[AB]@|p[AB]@|br0|pbr0)[:@]" >&2
    left=1
fi
[ $left -eq 0 ] && echo "run.sh: nothing left behind (namespaces pct-$pid-*, processes, interfaces)"
[ $rc -eq 0 ] && [ $left -eq 0 ] && rm -rf "$base"
[ $left -ne 0 ] && exit 3
exit $rc
