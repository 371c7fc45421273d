# packaging/packaging.mk — man pages, install, Debian package. Included by the Makefile
# (`-include packaging/packaging.mk`); also usable as
#     make -f Makefile -f packaging/packaging.mk TARGET
#
#   make man            build/man/portico.8 and build/man/portico.conf.5, from the docs
#   make man-check      ... and render them with `man --warnings`: any warning fails
#   make install        PREFIX (/usr), SBINDIR, SYSCONFDIR (/etc), MANDIR, DOCDIR, UNITDIR, DESTDIR
#   make uninstall
#   make test-notify    the sd_notify protocol of ./portico, without systemd
#   make unit-verify    systemd-analyze verify of the unit, in a staged tree
#   make deb            build/portico_VERSION_ARCH.deb (dpkg-deb, no debhelper)
#   make deb-test       dpkg -i that package, check it, dpkg -r / -P it (root; changes this machine)

# Included before the Makefile's first target, this file must not become the default goal.
ifeq ($(.DEFAULT_GOAL),)
.DEFAULT_GOAL := all
endif

PREFIX       ?= /usr
SBINDIR      ?= $(PREFIX)/sbin
SYSCONFDIR   ?= /etc
MANDIR       ?= $(PREFIX)/share/man
DOCDIR       ?= $(PREFIX)/share/doc/portico
UNITDIR      ?= /lib/systemd/system
LOGROTATEDIR ?= $(SYSCONFDIR)/logrotate.d
DESTDIR      ?=
INSTALL      ?= install
PYTHON3      ?= /usr/bin/python3
DEB_MAINTAINER ?= portico maintainers <portico@example.org>

# Debian packages the targets below use (man-db and groff-base render the pages, systemd
# brings systemd-analyze, dpkg-dev dpkg-shlibdeps, logrotate checks the snippet).
PKGS_PACKAGING := python3 man-db groff-base dpkg-dev binutils adduser systemd logrotate procps

MAN_PAGES := build/man/portico.8 build/man/portico.conf.5
# The pages are made from these (packaging/mkman.py says which sections go where).
MAN_SRCS  := packaging/mkman.py README.md packaging/README.md $(wildcard docs/*.md)
PORTICO_VERSION = $(shell ./portico -v 2>/dev/null | sed -n 's/^portico //p')
DEB_ARCH        = $(shell dpkg --print-architecture)
DEB_FILE        = build/portico_$(PORTICO_VERSION)_$(DEB_ARCH).deb
DEB_DIR         := build/deb

.PHONY: man man-check install uninstall test-notify unit-verify deb-stage deb deb-test deps-packaging

# apt_install: the Makefile's (this file is included by it).

deps-packaging:
	$(call apt_install,$(PKGS_PACKAGING))

# ---- man pages ------------------------------------------------------------------------------

man: $(MAN_PAGES)

build/man/portico.8: $(MAN_SRCS) portico
	$(PYTHON3) packaging/mkman.py portico.8 -o $@ --version "$(PORTICO_VERSION)"

build/man/portico.conf.5: $(MAN_SRCS) portico
	$(PYTHON3) packaging/mkman.py portico.conf.5 -o $@ --version "$(PORTICO_VERSION)"

man-check: deps-packaging $(MAN_PAGES)
	@for p in $(MAN_PAGES); do \
	  w=$$(MANWIDTH=80 man --warnings=w -l $$p 2>&1 >/dev/null); \
	  if [ -n "$$w" ]; then echo "$$p: warnings:"; echo "$$w"; exit 1; fi; \
	  echo "$$p: renders without warnings"; \
	done

# ---- install --------------------------------------------------------------------------------

# $(call install_tree,ROOT): the installed tree under ROOT ($(DESTDIR), or the .deb's stage).
# The unit's paths follow SBINDIR and SYSCONFDIR. The configuration is the example, and an
# existing one is never replaced outside a staged tree.
define install_tree
	$(INSTALL) -d -m 0755 $(1)$(SBINDIR) $(1)$(UNITDIR) $(1)$(SYSCONFDIR)/portico \
	  $(1)$(LOGROTATEDIR) $(1)$(MANDIR)/man5 $(1)$(MANDIR)/man8 \
	  $(1)$(DOCDIR)/docs $(1)$(DOCDIR)/examples $(1)$(DOCDIR)/grafana
	$(INSTALL) -m 0755 portico $(1)$(SBINDIR)/portico
	sed -e 's|/usr/sbin/portico|$(SBINDIR)/portico|g' -e 's|/etc/portico/|$(SYSCONFDIR)/portico/|g' \
	  packaging/portico.service > $(1)$(UNITDIR)/portico.service
	chmod 0644 $(1)$(UNITDIR)/portico.service
	$(INSTALL) -m 0644 packaging/portico.logrotate $(1)$(LOGROTATEDIR)/portico
	gzip -9n < build/man/portico.8 > $(1)$(MANDIR)/man8/portico.8.gz
	gzip -9n < build/man/portico.conf.5 > $(1)$(MANDIR)/man5/portico.conf.5.gz
	chmod 0644 $(1)$(MANDIR)/man8/portico.8.gz $(1)$(MANDIR)/man5/portico.conf.5.gz
	$(INSTALL) -m 0644 README.md $(1)$(DOCDIR)/README.md
	$(INSTALL) -m 0644 $(wildcard docs/*.md) $(1)$(DOCDIR)/docs/
	$(INSTALL) -m 0644 examples/portico.conf $(1)$(DOCDIR)/examples/portico.conf
	$(INSTALL) -m 0644 packaging/grafana/portico.json $(1)$(DOCDIR)/grafana/portico.json
	@if [ -n "$(1)" ] || [ ! -e $(SYSCONFDIR)/portico/portico.conf ]; then \
	  echo "$(INSTALL) -m 0644 examples/portico.conf $(1)$(SYSCONFDIR)/portico/portico.conf"; \
	  $(INSTALL) -m 0644 examples/portico.conf $(1)$(SYSCONFDIR)/portico/portico.conf; \
	else \
	  echo "$(SYSCONFDIR)/portico/portico.conf exists: kept (the example is $(DOCDIR)/examples/portico.conf)"; \
	fi
endef

# Outside a DESTDIR, refuse to overwrite or remove what the Debian package installed.
define not_dpkg_owned
	@if [ -z "$(DESTDIR)" ] && dpkg -S $(SBINDIR)/portico >/dev/null 2>&1; then \
	  echo "$(SBINDIR)/portico belongs to the Debian package portico: use dpkg, not make $@"; exit 1; \
	fi
endef

install: portico $(MAN_PAGES)
	$(not_dpkg_owned)
	$(call install_tree,$(DESTDIR))
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

uninstall:
	$(not_dpkg_owned)
	rm -f $(DESTDIR)$(SBINDIR)/portico $(DESTDIR)$(UNITDIR)/portico.service \
	  $(DESTDIR)$(LOGROTATEDIR)/portico $(DESTDIR)$(MANDIR)/man8/portico.8.gz \
	  $(DESTDIR)$(MANDIR)/man5/portico.conf.5.gz
	rm -rf $(DESTDIR)$(DOCDIR)
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/portico/portico.conf ]; then \
	  echo "kept $(DESTDIR)$(SYSCONFDIR)/portico/portico.conf"; fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

# ---- checks ---------------------------------------------------------------------------------

test-notify: portico
	PORTICO_BIN=./portico $(PYTHON3) packaging/test-notify.py

# systemd-analyze verify needs the unit's commands and the units it refers to: it runs on a
# copy of the package's staged tree with this machine's system units added.
unit-verify: deps-packaging deb-stage
	rm -rf build/unit-root
	cp -a $(DEB_DIR)/debian/portico build/unit-root
	rm -rf build/unit-root/DEBIAN
	mkdir -p build/unit-root/bin
	cp /bin/kill build/unit-root/bin/kill
	cp -rn /lib/systemd/system/. build/unit-root/lib/systemd/system/
	@out=$$(MANPATH=$(abspath build/unit-root/usr/share/man) \
	  systemd-analyze verify --root=$(abspath build/unit-root) portico.service 2>&1); rc=$$?; \
	if [ $$rc != 0 ] || [ -n "$$out" ]; then echo "$$out"; echo "systemd-analyze verify: failed"; exit 1; fi; \
	echo "systemd-analyze verify portico.service: no complaint"

# ---- Debian package -------------------------------------------------------------------------

# Staged like debhelper's debian/portico (so that dpkg-shlibdeps finds it), with fixed paths.
deb-stage: override PREFIX := /usr
deb-stage: override SBINDIR := /usr/sbin
deb-stage: override SYSCONFDIR := /etc
deb-stage: override MANDIR := /usr/share/man
deb-stage: override DOCDIR := /usr/share/doc/portico
deb-stage: override UNITDIR := /lib/systemd/system
deb-stage: override LOGROTATEDIR := /etc/logrotate.d
deb-stage: portico $(MAN_PAGES)
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/debian/portico
	$(call install_tree,$(abspath $(DEB_DIR)/debian/portico))
	strip --strip-unneeded --remove-section=.comment --remove-section=.note \
	  $(DEB_DIR)/debian/portico/usr/sbin/portico

deb: deb-stage
	@test -n "$(PORTICO_VERSION)" || { echo "./portico -v gave no version"; exit 1; }
	mkdir -p $(DEB_DIR)/debian/portico/DEBIAN
	printf 'Source: portico\n\nPackage: portico\nArchitecture: any\n' > $(DEB_DIR)/debian/control
	$(INSTALL) -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm \
	  $(DEB_DIR)/debian/portico/DEBIAN/
	printf '/etc/logrotate.d/portico\n/etc/portico/portico.conf\n' > $(DEB_DIR)/debian/portico/DEBIAN/conffiles
	@# A native package's changelog: one entry, for the commit built.
	{ echo "portico ($(PORTICO_VERSION)) unstable; urgency=medium"; echo; \
	  echo "  * Built from $$(git describe --always --dirty 2>/dev/null || echo 'a source tree')."; echo; \
	  echo " -- $(DEB_MAINTAINER)  $$(date -R $${SOURCE_DATE_EPOCH:+-d @$$SOURCE_DATE_EPOCH})"; \
	} | gzip -9n > $(DEB_DIR)/debian/portico/usr/share/doc/portico/changelog.gz
	@# The license, once the project has one, is the package's copyright file.
	for f in LICENSE LICENSE.md COPYING; do \
	  if [ -f $$f ]; then $(INSTALL) -m 0644 $$f $(DEB_DIR)/debian/portico/usr/share/doc/portico/copyright; break; fi; \
	done
	cd $(DEB_DIR)/debian/portico && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' \
	  | LC_ALL=C sort | xargs md5sum > DEBIAN/md5sums
	@set -e; cd $(DEB_DIR); \
	shlibs=$$(dpkg-shlibdeps -O debian/portico/usr/sbin/portico 2>/dev/null | sed -n 's/^shlibs:Depends=//p'); \
	[ -n "$$shlibs" ] || shlibs="libc6 (>= 2.34), libev4 (>= 1:4.04), libssl3 (>= 3.0.0), libxml2 (>= 2.9.14)"; \
	size=$$(du -sk --exclude=DEBIAN debian/portico | cut -f1); \
	{ echo "Package: portico"; \
	  echo "Version: $(PORTICO_VERSION)"; \
	  echo "Architecture: $(DEB_ARCH)"; \
	  echo "Maintainer: $(DEB_MAINTAINER)"; \
	  echo "Installed-Size: $$size"; \
	  echo "Depends: $$shlibs, adduser"; \
	  echo "Suggests: logrotate"; \
	  echo "Section: net"; \
	  echo "Priority: optional"; \
	  echo "Description: reverse proxy for Lync / Skype for Business external web services"; \
	  echo " portico stands in the perimeter network, where IIS ARR, TMG, nginx or HAProxy"; \
	  echo " would, and publishes the external web services of Lync Server 2013 and Skype"; \
	  echo " for Business Server: routing by Host, SSL bridging to the pools' ports 4443"; \
	  echo " and 8080 (443 for Office Web Apps), NTLM/Negotiate connection pinning,"; \
	  echo " affinity, health checks, streaming with bounded memory."; \
	} > debian/portico/DEBIAN/control; \
	echo "Depends: $$shlibs, adduser"
	chmod 0644 $(DEB_DIR)/debian/portico/DEBIAN/control $(DEB_DIR)/debian/portico/DEBIAN/conffiles \
	  $(DEB_DIR)/debian/portico/DEBIAN/md5sums
	dpkg-deb --root-owner-group -Zxz --build $(DEB_DIR)/debian/portico $(DEB_FILE)
	@echo "$(DEB_FILE): $$(stat -c %s $(DEB_FILE)) bytes"

deb-test: deps-packaging deb
	packaging/deb-test.sh $(DEB_FILE) "$(PORTICO_VERSION)"
