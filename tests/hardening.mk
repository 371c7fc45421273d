# tests/hardening.mk — checks of the hardening (docs/security.md). Included by the Makefile
# (`-include tests/hardening.mk`).
#
#   make valgrind-check   a subset of the black-box suite (VALGRIND_TESTS) with ./portico, master
#                         and workers, under valgrind's memcheck: any memory error, and any
#                         definite or indirect leak, fails the test that ran it. Part of make test.
#   make tls-scan         testssl.sh against ./portico in the default shape (HTTPS on 443 with an
#                         ECDSA and an RSA certificate, TLS 1.2 and 1.3): fails if a protocol
#                         other than TLS 1.2/1.3 is offered or a vulnerability check (-U) is not
#                         ok (other findings are notes). About 80 s: part of make test.
#
# Both install what they need (valgrind, testssl.sh) and need root (ports 80 and 443).

# Included before the Makefile's first target, this file must not become the default goal.
ifeq ($(.DEFAULT_GOAL),)
.DEFAULT_GOAL := all
endif

PYTHON3 ?= /usr/bin/python3
PKGS_HARDENING := valgrind testssl.sh python3 python3-pytest openssl

# The main paths of the proxy, plain and TLS (test names, or parts of them, for pytest -k):
# routing, TLS termination (both certificate types, SNI, 421, resumption, handshake timeout),
# SSL bridging (upstream TLS resumption, verification failure, connection reuse), NTLM pinning,
# pool errors and retries, malformed requests, WebSocket, reload, graceful stop, access log,
# HTTP/2 streams (a GET, uploads, the NTLM reset, a client's reset, the idle release of the
# frame buffer), the ACME helper's renewal information (pebble behind an RFC 9773 front).
# 113 tests (54 of them the cheap malformed-request cases), about 2.5 minutes.
VALGRIND_TESTS ?= host_routing_case unpublished_name_404_never wildcard_routes_to_its_pool \
  rsa_and_ecdsa_certificate_for_the_same_names \
  host_not_covered_by_certificate_421 resumption_across_workers resumption_survives_reload \
  tls10_refused_by_default timeout_handshake_closes_silent_client plain_http_on_https_port \
  unpublished_name_over_tls_404 \
  upstream_tls_session_resumed upstream_tls_sni_is_host untrusted_upstream_certificate_502 \
  owa_role_goes_to_443 idle_upstream_connections_keyed_by_tls_name \
  two_clients_interleave_handshakes pinned_request_never_retried \
  pool_closing_pinned_connection_closes_client \
  garbage_response_502 all_members_down_502 truncated_response_closes_client \
  reset_mid_body_closes_client stale_idle_upstream_connection_replaced \
  request_not_retried_once_sent \
  malformed_request_rejected_and_not_forwarded bad_request_on_kept_alive_connection \
  client_eof_mid_body_aborts_upstream bad_chunk_size_aborts_upstream \
  websocket_echo pool_closing_tunnel_closes_client \
  bad_reload_is_refused sigterm_finishes_request_in_flight ready_serves_then_sigterm \
  json_line_fields \
  get_routed_by_authority post_body_sha256 ntlm_request_reset_http11_required \
  client_reset_leaves_other_streams idle_connection_serves_after \
  window_in_the_past_renews no_renewal_information_keeps
hardening_space := $(subst ,, )
VALGRIND_K = $(subst $(hardening_space), or ,$(strip $(VALGRIND_TESTS)))
VALGRIND_CMD := valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --error-exitcode=99 --trace-children=yes --track-fds=no --num-callers=30

.PHONY: deps-hardening valgrind-check tls-scan

# apt_install: the Makefile's (this file is included by it).

deps-hardening:
	$(call apt_install,$(PKGS_HARDENING))

# The logs: tests/.tmp/valgrind/TEST/stack*/portico/valgrind.PID.log (one per process).
valgrind-check: deps-hardening portico
	@mkdir -p tests/.tmp
	rm -rf tests/.tmp/valgrind
	ulimit -n "$$(ulimit -Hn)" 2>/dev/null || true; \
	PORTICO_BIN=./portico PORTICO_WORKERS=1 PORTICO_SANITIZED=1 \
	  PORTICO_WRAPPER="$(VALGRIND_CMD)" \
	  $(PYTHON3) -m pytest -q -p no:cacheprovider -rfE --basetemp=tests/.tmp/valgrind tests \
	  -k "$(VALGRIND_K)"

tls-scan: deps-hardening portico
	@mkdir -p build
	$(PYTHON3) tests/tls_scan.py --json build/tls-scan.json --log build/tls-scan.log
