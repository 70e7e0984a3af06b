# wspubsub -- a WebSocket push server fed by Redis pub/sub.
#
#   make            build ./wspubsub
#   make run        install what is missing (as root), start a private
#                   redis-server if none answers, run with wspubsub.conf
#   make test       unit tests, then integration and conformance tests
#                   against the plain and the ASan+UBSan build, over TLS,
#                   and with reused children (max_clients_per_child 1000)
#   make STATIC=1   build ./wspubsub with its libraries (not libc) linked
#                   in: fewer mappings, cheaper forks
#   make asan       build ./wspubsub-asan
#   make scaleout   HAProxy, Redis Cluster and Sentinel tests (tests/scaleout/)
#   make stress     long abuse, leak and load runs (tests/stress/)
#   make test-repeat N=5
#                   hunt flaky tests: make test N times on a fresh clone
#                   of HEAD (the first beside a second make test as
#                   load), then the ASan integration pass 2N times
#   make bench      the benchmark: latency, throughput, connection rate,
#                   memory, fan-out, history, client messages to a
#                   stream and compression, each against the same run's
#                   raw Redis subscriber and fork floor (or without the
#                   feature); run twice, with
#                   max_clients_per_child 1 and then 1000, one table
#                   each, then latency and connection rate once more with
#                   "sandbox no" (about 5 minutes; contrib/bench/README.md)
#   make install    install the binary, the man pages and (if absent) the
#                   configuration; PREFIX, DESTDIR, MANDIR, SYSCONFDIR
#   make uninstall  remove them (an edited configuration is kept)
#   make lint-man   check the man pages with mandoc -T lint
#   make deb        build the Debian package (debian/) in build/deb/;
#                   the last line printed is the .deb's path
#   make package-check
#                   as root: build the package, lintian it, install it,
#                   run the installed server, upgrade, remove and purge
#                   it, and check that nothing is left behind
#                   (tests/package/check.sh)

PKGS     = openssl hiredis libbsd jansson libseccomp zlib
CC      ?= cc
PYTHON  ?= /usr/bin/python3
CFLAGS  ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
	   -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS = -D_GNU_SOURCE -Ibuild/gen \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Bind every symbol at start, in the master: children then write no
# relocations (fewer dirty pages, no resolver on their first calls).
LDFLAGS += -Wl,-z,now -Wl,-z,relro
SANITIZE = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined

WS_SRCS     = ws/utf8.c ws/frame.c ws/parser.c ws/handshake.c ws/deflate.c \
	      ws/selftest.c
CHILD_SRCS  = child/auth.c child/child.c child/clock.c child/http.c \
	      child/io.c child/loop.c child/reconnect.c child/redis.c \
	      child/resp.c child/cluster.c child/sentinel.c child/proxy.c \
	      child/signals.c child/stats.c child/subscriber.c child/user.c \
	      child/jwt.c child/history.c child/upstream.c
MASTER_SRCS = master/main.c master/conf.c master/listen.c master/log.c \
	      master/priv.c master/scoreboard.c master/systemd.c master/tls.c \
	      master/proc.c master/reap.c master/spawn.c master/sandbox.c
SRCS        = $(WS_SRCS) $(CHILD_SRCS) $(MASTER_SRCS)
# The history library (contrib/redis/wspubsub.lua) is compiled in, as a
# C string generated from the file: wspubsub loads it into Redis itself.
GEN_LUA     = build/gen/wspubsub_lua.h
HDRS        = $(wildcard ws/*.h child/*.h master/*.h) $(GEN_LUA)

OBJS      = $(SRCS:%.c=build/%.o)
ASAN_OBJS = $(SRCS:%.c=build/asan/%.o)
# wspubsub-hooks: the release build with test hooks (child/testhook.h),
# so that tests can ask a child to make calls the sandbox forbids.  Not
# sanitized: the sanitizer builds' filter lets a report be written.
HOOKS_OBJS = $(SRCS:%.c=build/hooks/%.o) build/hooks/child/testhook.o
# Everything but main(), for unit tests.
LIB_SRCS  = $(filter-out master/main.c,$(SRCS))

# libFuzzer targets (clang); `make fuzz FUZZ_TIME=600` runs each longer.
FUZZ_TARGETS = frame handshake identify conf jwt resp proxy history upstream \
	       pmd inflate
FUZZ_BINS    = $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
FUZZ_TIME   ?= 60
FUZZ_SHORT  ?= 10
FUZZ_FLAGS   = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1

UNIT_TESTS = tests/unit/test_ws tests/unit/test_deflate tests/unit/test_conf tests/unit/test_user tests/unit/test_jwt tests/unit/test_redis tests/unit/test_proxy tests/unit/test_history
UNIT_BINS  = $(UNIT_TESTS:tests/unit/%=build/asan/tests/%)

.PHONY: all asan test unit integration conformance fuzz fuzz-short run clean deps stress \
	install uninstall lint-man scaleout test-repeat deb package-check

all: wspubsub

# make STATIC=1 (after rm wspubsub): link OpenSSL, hiredis, libbsd and
# jansson into ./wspubsub.  Every fork then copies 26 mappings instead of
# 59 (contrib/bench/README.md, "Where a connection's cost goes").  libc
# stays shared: a static glibc crashes in getpwnam() for an unknown user,
# when it loads an NSS module built for the shared one.
ifeq ($(STATIC),1)
WS_LDLIBS  = -Wl,-Bstatic $(filter-out -ldl -pthread,$(shell pkg-config \
	     --static --libs $(PKGS) 2>/dev/null)) -Wl,-Bdynamic -ldl -pthread
else
WS_LDLIBS  = $(LDLIBS)
endif

wspubsub: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(WS_LDLIBS)

wspubsub-asan: $(ASAN_OBJS)
	$(CC) $(CFLAGS) $(SANITIZE) $(LDFLAGS) -o $@ $(ASAN_OBJS) $(LDLIBS)

asan: wspubsub-asan

wspubsub-hooks: $(HOOKS_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(HOOKS_OBJS) $(LDLIBS)

$(GEN_LUA): contrib/redis/wspubsub.lua
	@mkdir -p $(dir $@)
	@echo "GEN $@"
	@{ echo "/* Made from $< by the Makefile; do not edit. */"; \
	  printf '#define WSPUBSUB_LUA_VERSION '; \
	  sed -n 's/^local VERSION = \([0-9][0-9]*\)$$/\1/p' $<; \
	  echo '#define WSPUBSUB_LUA \'; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g' \
	      -e 's/^/"/' -e 's/$$/\\n" \\/' $<; \
	  echo '""'; } > $@.tmp && mv $@.tmp $@

build/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c -o $@ $<

build/asan/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "CC $< (asan)"
	@$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(SANITIZE) -c -o $@ $<

build/hooks/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "CC $< (hooks)"
	@$(CC) $(CPPFLAGS) -DWSPUBSUB_TEST_HOOKS $(WARN) $(CFLAGS) -c -o $@ $<

build/asan/tests/%: tests/unit/%.c $(LIB_SRCS:%.c=build/asan/%.o)
	@mkdir -p $(dir $@)
	@echo "TEST $@"
	@$(CC) $(CPPFLAGS) $(WARN) -Wno-missing-prototypes $(CFLAGS) \
	    $(SANITIZE) -o $@ $^ $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: wspubsub wspubsub-asan wspubsub-hooks
	WSPUBSUB=./wspubsub $(PYTHON) -m pytest -q tests/integration
	WSPUBSUB=./wspubsub-asan $(PYTHON) -m pytest -q tests/integration
	WSPUBSUB_TLS=1 WSPUBSUB=./wspubsub $(PYTHON) -m pytest -q tests/integration
	WSPUBSUB_REUSE=1000 WSPUBSUB=./wspubsub-asan $(PYTHON) -m pytest -q tests/integration

# RFC 6455 conformance (Autobahn-style case groups), black-box.
conformance: wspubsub wspubsub-asan
	WSPUBSUB=./wspubsub $(PYTHON) tests/conformance/run.py
	WSPUBSUB=./wspubsub-asan $(PYTHON) tests/conformance/run.py
	WSPUBSUB_REUSE=1000 WSPUBSUB=./wspubsub-asan $(PYTHON) tests/conformance/run.py

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRCS) $(HDRS)
	@mkdir -p $(dir $@)
	@echo "FUZZ $@"
	@clang $(CPPFLAGS) $(WARN) -Wno-missing-prototypes $(FUZZ_FLAGS) \
	    -o $@ $< $(LIB_SRCS) $(LDLIBS)

# New inputs go to a scratch directory; the seed corpus stays as committed.
# Each run's output is kept in build/fuzz/TARGET.log; its last lines are
# shown when a target fails.
fuzz: $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	    mkdir -p build/fuzz/corpus-$$t; \
	    log=build/fuzz/$$t.log; \
	    if ! build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_TIME) -max_len=4096 \
	        -print_final_stats=1 -artifact_prefix=build/fuzz/crash-$$t- \
	        build/fuzz/corpus-$$t tests/fuzz/corpus/$$t > $$log 2>&1; then \
	        tail -40 $$log; echo "fuzz $$t: FAILED (see $$log)"; exit 1; \
	    fi; \
	    runs=$$(grep -o 'number_of_executed_units: [0-9]*' $$log | \
	        grep -o '[0-9]*'); \
	    cov=$$(grep -o 'cov: [0-9]* ft: [0-9]*' $$log | tail -1); \
	    echo "fuzz $$t: $$runs runs in $(FUZZ_TIME)s, $$cov"; \
	done

fuzz-short:
	$(MAKE) fuzz FUZZ_TIME=$(FUZZ_SHORT)

test: lint-man unit fuzz-short integration conformance scaleout

# Many instances behind HAProxy, Redis Cluster and Sentinel:
# real redis-server and haproxy processes on loopback.
scaleout: wspubsub wspubsub-asan
	WSPUBSUB=./wspubsub $(PYTHON) -m pytest -q tests/scaleout
	WSPUBSUB=./wspubsub-asan $(PYTHON) -m pytest -q tests/scaleout

# make test N times on a fresh clone of HEAD, the first under load, then
# the ASan integration pass 2N times (ASAN_RUNS=...); logs in build/repeat/.
N ?= 5
test-repeat:
	PYTHON=$(PYTHON) sh tests/repeat.sh $(N)

# Long abuse, leak and load runs; not part of `test`.
stress: wspubsub
	WSPUBSUB=./wspubsub PYTHON=$(PYTHON) sh tests/stress/run.sh

# The benchmark: starts its own redis-server and ./wspubsub, once with a
# process per client (max_clients_per_child 1), then with children that
# serve up to 1000 clients each, then unsandboxed (latency and connection
# rate only: what the sandbox costs); each run has its own watchdog
# (280 s).  Each runs even if one before failed; the status is the last
# failure's.
BENCH_PKGS = hiredis openssl zlib
.PHONY: bench
bench: wspubsub contrib/bench/wsbench
	@rc=0; \
	for n in 1 1000; do \
	    echo "contrib/bench/wsbench -s ./wspubsub -c $$n"; \
	    contrib/bench/wsbench -s ./wspubsub -c $$n || rc=$$?; \
	done; \
	echo "contrib/bench/wsbench -s ./wspubsub -c 1 -x 'sandbox no' -o 13"; \
	contrib/bench/wsbench -s ./wspubsub -c 1 -x 'sandbox no' -o 13 || \
	    rc=$$?; \
	exit $$rc

BENCH_SRCS = contrib/bench/wsbench.c contrib/bench/util.c \
	     contrib/bench/servers.c contrib/bench/probe.c \
	     contrib/bench/loop.c contrib/bench/ws.c contrib/bench/redis.c \
	     contrib/bench/latency.c contrib/bench/throughput.c \
	     contrib/bench/connrate.c contrib/bench/memory.c \
	     contrib/bench/history.c contrib/bench/upstream.c \
	     contrib/bench/compress.c \
	     contrib/bench/report.c
BENCH_HDRS = $(wildcard contrib/bench/*.h)

contrib/bench/wsbench: $(BENCH_SRCS) $(BENCH_HDRS)
	$(CC) -O2 -Wall -Wextra -Werror $(shell pkg-config --cflags $(BENCH_PKGS)) \
	    -o $@ $(BENCH_SRCS) $(shell pkg-config --libs $(BENCH_PKGS)) -lm

deps:
	@sh contrib/deps.sh

run: deps wspubsub
	@sh contrib/run.sh

# Installation.  The configuration is installed only when none exists, and
# uninstalled only while it is still the shipped one.
PREFIX     ?= /usr/local
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
DESTDIR    ?=
MANPAGES    = master/wspubsub.8 master/wspubsub.conf.5

install: wspubsub
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSCONFDIR)/wspubsub
	install -m 755 wspubsub $(DESTDIR)$(PREFIX)/sbin/wspubsub
	install -m 644 master/wspubsub.8 $(DESTDIR)$(MANDIR)/man8/wspubsub.8
	install -m 644 master/wspubsub.conf.5 \
	    $(DESTDIR)$(MANDIR)/man5/wspubsub.conf.5
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/wspubsub/wspubsub.conf ]; then \
	    echo "keeping $(DESTDIR)$(SYSCONFDIR)/wspubsub/wspubsub.conf"; \
	else \
	    echo "install -m 644 wspubsub.conf $(DESTDIR)$(SYSCONFDIR)/wspubsub/wspubsub.conf"; \
	    install -m 644 wspubsub.conf \
	        $(DESTDIR)$(SYSCONFDIR)/wspubsub/wspubsub.conf; \
	fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/wspubsub \
	    $(DESTDIR)$(MANDIR)/man8/wspubsub.8 \
	    $(DESTDIR)$(MANDIR)/man5/wspubsub.conf.5
	@conf=$(DESTDIR)$(SYSCONFDIR)/wspubsub/wspubsub.conf; \
	if [ -e $$conf ] && ! cmp -s wspubsub.conf $$conf; then \
	    echo "keeping $$conf (edited)"; \
	else \
	    rm -f $$conf; \
	    rmdir $(DESTDIR)$(SYSCONFDIR)/wspubsub 2>/dev/null || true; \
	fi

# Fails on any mandoc message above STYLE (WARNING, ERROR, UNSUPP).
lint-man:
	mandoc -T lint -W warning $(MANPAGES)

# The Debian package.  dpkg-buildpackage writes beside the directory it
# builds, so it builds a copy of what the package needs in build/deb/:
# the tree and its parent stay clean.  debian/changelog must carry the
# version in master/main.c.  The last line printed is the .deb's path.
DEB_VERSION = $(shell dpkg-parsechangelog -l debian/changelog -SVersion 2>/dev/null)
DEB_ARCH    = $(shell dpkg --print-architecture 2>/dev/null)
DEB_TREE    = build/deb/wspubsub-$(DEB_VERSION)
DEB         = build/deb/wspubsub_$(DEB_VERSION)_$(DEB_ARCH).deb

deb:
	@v=$$(sed -n 's/^#define WSPUBSUB_VERSION[^"]*"\(.*\)"$$/\1/p' \
	    master/main.c); \
	if [ -z "$(DEB_VERSION)" ] || [ "$$v" != "$(DEB_VERSION)" ]; then \
	    echo "deb: debian/changelog has \"$(DEB_VERSION)\"," \
	        "master/main.c has \"$$v\"" >&2; \
	    exit 1; \
	fi
	rm -rf build/deb
	mkdir -p $(DEB_TREE)/contrib
	cp -R Makefile README.md wspubsub.conf master child ws debian \
	    $(DEB_TREE)/
	cp -R contrib/systemd contrib/logrotate contrib/redis $(DEB_TREE)/contrib/
	cd $(DEB_TREE) && dpkg-buildpackage -us -uc -b
	@test -f $(DEB)
	@echo $(DEB)

# Installs and purges the package on this machine: root only, and not
# part of "test" (.ci/run runs it after).
package-check:
	PYTHON=$(PYTHON) sh tests/package/check.sh

clean:
	rm -rf build wspubsub wspubsub-asan wspubsub-hooks contrib/bench/wsbench
