# fuzz/fuzz.mk — libFuzzer harnesses (clang + ASan + UBSan); included by the Makefile.
#
#   make fuzz              build every harness, run each for FUZZ_SECONDS (default 300)
#   make fuzz-smoke        run each for FUZZ_SMOKE_SECONDS (default 5) from the seeds and the
#                          saved findings (fuzz/crashes/NAME/); fails on any finding
#   make fuzz-repro        replay the saved findings in fuzz/crashes/NAME/ (fails while any
#                          of them still crashes)
#   make fuzz-build        build only;  make fuzz-clean  removes objects and binaries
#   make fuzz FUZZ_TARGETS=config FUZZ_SECONDS=600     one harness, longer
#
# Everything is built under build-fuzz/ with its own objects (never the main build's). New
# corpus entries go to build-fuzz/corpus/NAME/ (the committed seeds in fuzz/corpus/NAME/ are
# only read), findings to build-fuzz/artifacts/NAME/, logs to build-fuzz/logs/. One fuzzer
# process at a time.

FUZZ_CC            ?= clang
FUZZ_SECONDS       ?= 300
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_TARGETS       ?= request response chunked config proxyproto ntlm h2 rec
FUZZ_FLAGS         ?=
# Known findings the harnesses should look past (comma-separated names, or "all"; see
# fuzz/README.md). Empty: every finding fails.
FUZZ_KNOWN         ?=
export FUZZ_KNOWN

FUZZ_DIR   := build-fuzz
# llhttp is built as the Makefile builds it: plain, unless it defines LLHTTP_FLAGS (such as
# -DLLHTTP_STRICT_MODE=1, see fuzz/README.md). Another value needs another FUZZ_DIR.
FUZZ_LLHTTP_FLAGS ?= $(LLHTTP_FLAGS)
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -g -O1 -std=gnu11 -Isrc -I/usr/share/include/llhttp -I/usr/include/libxml2 \
               -D_GNU_SOURCE $(FUZZ_SAN)
FUZZ_LIBS  := -lev -lssl -lcrypto

FUZZ_LLOBJS := $(FUZZ_DIR)/obj/llhttp/llhttp.o $(FUZZ_DIR)/obj/llhttp/api.o \
               $(FUZZ_DIR)/obj/llhttp/http.o
FUZZ_BUF    := $(FUZZ_DIR)/obj/fuzz/exactbuf.o
# The data path's I/O: core/io.c and the TLS records it hands connections over to.
FUZZ_IOOBJS := $(FUZZ_DIR)/obj/core/io.o $(FUZZ_DIR)/obj/tls/rec.o $(FUZZ_DIR)/obj/tls/rec-track.o \
               $(FUZZ_DIR)/obj/common/pct.o
FUZZ_H1OBJS := $(FUZZ_DIR)/obj/http/http1.o $(FUZZ_DIR)/obj/proxy/rewrite.o \
               $(FUZZ_IOOBJS) $(FUZZ_DIR)/obj/common/out.o $(FUZZ_DIR)/obj/http/body.o \
               $(FUZZ_DIR)/obj/proxy/cookie.o $(FUZZ_BUF) \
               $(FUZZ_LLOBJS)
FUZZ_CFGOBJS := $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,$(sort $(wildcard src/config/*.c))) \
                $(FUZZ_DIR)/obj/common/net.o $(FUZZ_DIR)/obj/common/sb.o

# The configuration harness keeps DNS, NSS and devices out (see fuzz/fuzz_config.c).
FUZZ_CFGWRAP := -Wl,--wrap=getaddrinfo,--wrap=freeaddrinfo,--wrap=getpwnam,--wrap=getgrouplist,--wrap=open

# Per-harness libFuzzer options, for the harness named in the shell variable t: dictionary
# and input size (FE FE HI LO C in the HTTP inputs expands to a run of C, so that small inputs
# reach the 8/64/128 KiB limits).
fuzz_opts = $$(case $$t in config) echo -max_len=8192;; chunked) echo -max_len=4096;; \
		proxyproto) echo -max_len=2048;; ntlm) echo -max_len=4096;; h2) echo -max_len=8192;; \
		rec) echo -max_len=8192;; \
		*) echo -max_len=6144;; esac) $$([ -f fuzz/$$t.dict ] && echo -dict=fuzz/$$t.dict) \
	-timeout=20 -rss_limit_mb=2048 -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t/ $(FUZZ_FLAGS)

.PHONY: fuzz fuzz-smoke fuzz-repro fuzz-build fuzz-clean fuzz-deps

fuzz-deps:
	$(call apt_install,clang libclang-rt-14-dev node-llhttp libev-dev libssl-dev libxml2-dev libnghttp2-dev)

fuzz-build: fuzz-deps
	$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

$(FUZZ_DIR)/obj/%.o: src/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/obj/llhttp/%.o: $(LLHTTP)/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LLHTTP_FLAGS) -fsanitize=fuzzer-no-link -w -c -o $@ $<

# A second llhttp.c in strict mode, its symbols renamed strict_*: fuzz_chunked tells the
# leniencies of the loose build from those of llhttp itself.
$(FUZZ_DIR)/obj/llhttp/llhttp-strict.o: $(LLHTTP)/llhttp.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DLLHTTP_STRICT_MODE=1 -fsanitize=fuzzer-no-link -w -c -o $@.tmp $<
	nm --defined-only -g $@.tmp | awk '$$3 ~ /^llhttp__internal/ { print $$3, "strict_" $$3 }' >$@.syms
	objcopy --redefine-syms=$@.syms $@.tmp $@
	rm -f $@.tmp $@.syms

$(FUZZ_DIR)/obj/fuzz/%.o: fuzz/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Wall -Wextra -c -o $@ $<

$(FUZZ_DIR)/fuzz_request $(FUZZ_DIR)/fuzz_response: $(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c \
		fuzz/h1check.h fuzz/common.h $(FUZZ_H1OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -fsanitize=fuzzer -o $@ $< $(FUZZ_H1OBJS) $(FUZZ_LIBS)

$(FUZZ_DIR)/fuzz_chunked: fuzz/fuzz_chunked.c fuzz/common.h $(FUZZ_IOOBJS) \
		$(FUZZ_DIR)/obj/common/out.o $(FUZZ_BUF) \
		$(FUZZ_DIR)/obj/http/body.o $(FUZZ_DIR)/obj/http/http1.o $(FUZZ_DIR)/obj/http/chunked.o \
		$(FUZZ_LLOBJS) $(FUZZ_DIR)/obj/llhttp/llhttp-strict.o
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -fsanitize=fuzzer -o $@ $< \
		$(FUZZ_IOOBJS) $(FUZZ_DIR)/obj/common/out.o $(FUZZ_DIR)/obj/http/body.o \
		$(FUZZ_DIR)/obj/http/http1.o $(FUZZ_DIR)/obj/http/chunked.o \
		$(FUZZ_BUF) $(FUZZ_LLOBJS) $(FUZZ_DIR)/obj/llhttp/llhttp-strict.o \
		$(FUZZ_LIBS)

$(FUZZ_DIR)/fuzz_config: fuzz/fuzz_config.c fuzz/common.h $(FUZZ_CFGOBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -fsanitize=fuzzer $(FUZZ_CFGWRAP) -o $@ $< \
		$(FUZZ_CFGOBJS) $(FUZZ_LIBS)

# The PROXY protocol header parser alone (pure: no buffers, no llhttp).
$(FUZZ_DIR)/fuzz_proxyproto: fuzz/fuzz_proxyproto.c fuzz/common.h $(FUZZ_DIR)/obj/proxy/proxyproto.o
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -fsanitize=fuzzer -o $@ $< \
		$(FUZZ_DIR)/obj/proxy/proxyproto.o

# The sign-in token parsers (NTLMSSP, SPNEGO, Kerberos, base64, the web-ticket form, Basic;
# docs/signin.md): pure, like the PROXY protocol parser.
FUZZ_SIGNOBJS := $(FUZZ_DIR)/obj/proxy/ntlm.o $(FUZZ_DIR)/obj/proxy/signin.o \
                 $(FUZZ_DIR)/obj/proxy/signin-parse.o $(FUZZ_DIR)/obj/proxy/signin-soap.o \
                 $(FUZZ_DIR)/obj/common/pct.o
$(FUZZ_DIR)/fuzz_ntlm: fuzz/fuzz_ntlm.c fuzz/common.h $(FUZZ_SIGNOBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -fsanitize=fuzzer -o $@ $< $(FUZZ_SIGNOBJS) -lxml2

# HTTP/2 frames (docs/http2.md): Debian's nghttp2 server session configured as src/proxy/h2.c
# configures it, the request head rebuilt by src/proxy/h2-head.c, then the HTTP/1.1 parser and
# rewrite the pools' requests go through (FUZZ_H1OBJS, auth.c for the HTTP_1_1_REQUIRED reset).
FUZZ_H2OBJS := $(FUZZ_DIR)/obj/proxy/h2-head.o $(FUZZ_DIR)/obj/proxy/auth.o $(FUZZ_H1OBJS)
$(FUZZ_DIR)/fuzz_h2: fuzz/fuzz_h2.c fuzz/h1check.h fuzz/common.h $(FUZZ_H2OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -fsanitize=fuzzer -o $@ $< $(FUZZ_H2OBJS) $(FUZZ_LIBS) \
		-lnghttp2

# portico's TLS 1.3 records (src/tls/rec.c): records sealed as the input describes them.
$(FUZZ_DIR)/fuzz_rec: fuzz/fuzz_rec.c fuzz/common.h $(FUZZ_IOOBJS) $(FUZZ_BUF)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -fsanitize=fuzzer -o $@ $< $(FUZZ_IOOBJS) $(FUZZ_BUF) \
		$(FUZZ_LIBS)

# Runs the harness named in the shell variable t on corpus directory $(1) (new entries) plus
# the seeds and the saved findings of fuzz/crashes/NAME/ (each replayed first, so that a
# finding that comes back fails at once), for $(2) seconds, logging to $(3). libFuzzer exits
# non-zero on a crash, a leak, a timeout or a violated invariant.
fuzz_run = mkdir -p $(1) $(FUZZ_DIR)/artifacts/$$t $(FUZZ_DIR)/logs && \
	$(FUZZ_DIR)/fuzz_$$t $(1) fuzz/corpus/$$t $$([ -d fuzz/crashes/$$t ] && echo fuzz/crashes/$$t) \
		$(fuzz_opts) -max_total_time=$(2) -print_final_stats=1 >$(3) 2>&1

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  log=$(FUZZ_DIR)/logs/$$t.log; \
	  echo "== fuzz_$$t: $(FUZZ_SECONDS) s, new corpus entries in $(FUZZ_DIR)/corpus/$$t, log $$log"; \
	  if $(call fuzz_run,$(FUZZ_DIR)/corpus/$$t,$(FUZZ_SECONDS),$$log); then \
	    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|^Done' $$log || true; \
	  else \
	    tail -n 60 $$log; echo "fuzz_$$t FOUND A PROBLEM: see $$log and $(FUZZ_DIR)/artifacts/$$t/"; exit 1; \
	  fi; \
	done

# Each harness from the seeds and the saved findings alone (a scratch corpus), so that the
# result does not depend on what earlier runs collected.
fuzz-smoke: fuzz-build
	@fail=""; for t in $(FUZZ_TARGETS); do \
	  log=$(FUZZ_DIR)/logs/smoke-$$t.log; rm -rf $(FUZZ_DIR)/smoke/$$t; \
	  if $(call fuzz_run,$(FUZZ_DIR)/smoke/$$t,$(FUZZ_SMOKE_SECONDS),$$log); then \
	    echo "fuzz-smoke: fuzz_$$t ok ($$(sed -n 's/^stat::number_of_executed_units: *//p' $$log) runs in $(FUZZ_SMOKE_SECONDS) s)"; \
	  else \
	    tail -n 60 $$log; echo "fuzz-smoke: fuzz_$$t FAILED (log $$log, input in $(FUZZ_DIR)/artifacts/$$t/)"; \
	    fail="$$fail $$t"; \
	  fi; \
	done; \
	if [ -n "$$fail" ]; then echo "fuzz-smoke: failed:$$fail"; exit 1; fi

# The saved findings: each file is run once; a fixed bug makes its file pass.
fuzz-repro: fuzz-build
	@mkdir -p $(FUZZ_DIR)/logs; fail=0; ok="fixed    "; [ -z "$$FUZZ_KNOWN" ] || ok="tolerated"; \
	for t in $(FUZZ_TARGETS); do \
	  for f in fuzz/crashes/$$t/*; do \
	    [ -f "$$f" ] || continue; \
	    if $(FUZZ_DIR)/fuzz_$$t $$f >$(FUZZ_DIR)/logs/repro.log 2>&1; then echo "$$ok $$f"; \
	    else echo "CRASHES   $$f: $$(grep -m1 -E 'FUZZ INVARIANT|ERROR: |runtime error' $(FUZZ_DIR)/logs/repro.log)"; fail=1; fi; \
	  done; \
	done; exit $$fail

fuzz-clean:
	rm -rf $(FUZZ_DIR)/obj $(FUZZ_DIR)/fuzz_* $(FUZZ_DIR)/smoke
