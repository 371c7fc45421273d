# portico — build, test, demo.  `make run` and `make test` install what is missing first.

CC      ?= gcc
LLHTTP  := /usr/share/llhttp
CPPFLAGS := -Isrc -I/usr/share/include/llhttp -I/usr/include/libxml2 -D_GNU_SOURCE
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -fno-strict-aliasing
LDLIBS  := -lev -lssl -lcrypto -lxml2 -lhiredis -lcurl -lnghttp2 -ljansson
# llhttp's strict mode: no bare CR or LF, no junk in chunk lines (found by fuzz/fuzz_chunked).
LLHTTP_FLAGS := -DLLHTTP_STRICT_MODE=1

# Debian packages: to build, to test, to benchmark.
PKGS_BUILD := gcc make libc6-dev libssl-dev libev-dev node-llhttp libxml2-dev libhiredis-dev libcurl4-openssl-dev libnghttp2-dev libjansson-dev
PKGS_TEST  := python3 python3-pytest curl openssl procps iproute2 nftables keepalived chromium haproxy redis-server nghttp2-client python3-h2 pebble
PKGS_BENCH := wrk nginx-light haproxy nghttp2-client

SRCS    := $(sort $(wildcard src/*/*.c)) src/main.c
LLSRCS  := $(LLHTTP)/llhttp.c $(LLHTTP)/api.c $(LLHTTP)/http.c
OBJS    := $(SRCS:src/%.c=build/%.o) build/llhttp/llhttp.o build/llhttp/api.o build/llhttp/http.o
AOBJS   := $(OBJS:build/%=build-asan/%)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNITS   := $(UNIT_SRCS:tests/unit/%.c=build-asan/unit/%)
LIBOBJS_ASAN := $(filter-out build-asan/main.o,$(AOBJS))
ASAN    := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all deps deps-test deps-bench test unit check run bench bench-scale clean format check-format asan

all: portico

portico: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

portico-asan: $(AOBJS)
	$(CC) $(CFLAGS) -O1 $(ASAN) -o $@ $^ $(LDLIBS)

asan: portico-asan

build/%.o: src/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -c -o $@ $<

build-asan/%.o: src/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(ASAN) -c -o $@ $<

# llhttp is compiled from Debian's node-llhttp sources, never copied into the tree.
build/llhttp/%.o: $(LLHTTP)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(LLHTTP_FLAGS) -O2 -g -w -c -o $@ $<

build-asan/llhttp/%.o: $(LLHTTP)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(LLHTTP_FLAGS) -O1 -g -w $(ASAN) -c -o $@ $<

build-asan/unit/%: tests/unit/%.c $(LIBOBJS_ASAN)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -O1 $(ASAN) -o $@ $^ $(LDLIBS)

# Installs the Debian packages named in $(1) that are missing (needs root and apt-get).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; \
	    trap 'rm -f /usr/sbin/policy-rc.d' EXIT; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

deps:
	$(call apt_install,$(PKGS_BUILD) $(PKGS_TEST))

deps-bench:
	$(call apt_install,$(PKGS_BENCH))

unit: $(UNITS)
	@set -e; for t in $(UNITS); do echo "== $$t"; ./$$t; done

test: deps
	# The fuzzers are built first: a harness that no longer links fails in seconds, not at the end.
	$(MAKE) portico portico-asan $(UNITS) fuzz-build
	$(MAKE) unit
	tests/run-all.sh
	$(MAKE) man-check test-notify unit-verify valgrind-check tls-scan
	# A few seconds of each fuzzer; every saved finding (fuzz/crashes/) is fixed.
	$(MAKE) fuzz-smoke

# The quick loop for developers (no apt, no network namespaces): build, the unit tests, one
# black-box pass with workers = 1. The black-box tests bind ports 80 and 443 on loopback
# addresses: run it as root, or once `sysctl net.ipv4.ip_unprivileged_port_start=80`.
check:
	$(MAKE) portico $(UNITS) $(if $(shell command -v clang),fuzz-build)
	$(MAKE) unit
	mkdir -p tests/.tmp; ulimit -n "$$(ulimit -Hn)"; PORTICO_WORKERS=1 PORTICO_BIN=./portico /usr/bin/python3 -m pytest \
	  -q -p no:cacheprovider -rfE --basetemp=tests/.tmp/check --ignore=tests/test_netns.py tests

run: deps
	$(MAKE) portico
	examples/demo.sh $(if $(filter 1,$(ACME)),--acme)

bench: deps deps-bench
	$(MAKE) portico
	bench/run.sh

# 100,000 pending TLS long polls (bench/scale.py): up to 20 minutes, about 10 GiB of memory.
bench-scale: deps deps-bench
	$(MAKE) portico
	bench/run.sh --scale

format:
	clang-format -i $(wildcard src/*.c src/*/*.[ch] tests/unit/*.c)

check-format:
	clang-format --dry-run -Werror $(wildcard src/*.c src/*/*.[ch] tests/unit/*.c)

clean:
	rm -rf build build-asan portico portico-asan

# Fuzzing (libFuzzer, clang): fuzz/fuzz.mk defines `make fuzz` and `make fuzz-smoke`.
-include fuzz/fuzz.mk

# Install, man pages, Debian package: packaging/packaging.mk.
-include packaging/packaging.mk

# Hardening checks (valgrind, testssl.sh): tests/hardening.mk.
-include tests/hardening.mk

-include $(OBJS:.o=.d) $(AOBJS:.o=.d)
