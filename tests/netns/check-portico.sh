#!/bin/sh
# check-portico.sh ADDRESS PORT — keepalived track script for a portico node: success while a
# socket listens on ADDRESS:PORT in this network namespace (portico binds the VIP even on the
# backup, thanks to net.ipv4.ip_nonlocal_bind=1). A production node would rather ask its
# admin listener or systemd (systemctl is-active portico); this needs nothing but iproute2.
ss -Hltn "src $1 and sport = :$2" 2>/dev/null | grep -q LISTEN
