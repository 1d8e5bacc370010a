# SPDX-License-Identifier: LGPL-2.1-or-later
# mcsi: make, make check, make asan, make valgrind, make bench, make fuzz, make soak,
# make install, make uninstall, make deps
BUILD   ?= build
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
# /etc for the system's own prefix, else beside the rest: make install PREFIX=/x never touches /etc.
SYSCONFDIR ?= $(if $(filter /usr /usr/,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR ?= $(PREFIX)/lib/systemd/system
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
DATADIR      ?= $(PREFIX)/share
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR       ?= $(DATADIR)/man
DOCDIR       ?= $(DATADIR)/doc/mcsi
# libmcsi.so.$(VERSION), SONAME libmcsi.so.$(SOVERSION): bump SOVERSION when
# a function of core/mcsi.h changes or goes away (1: options by key, issue 15).
# VERSION is core/mcsi.h's MCSI_VERSION_MAJOR.MINOR.PATCH.
VERSION   := $(shell sed -n 's/^\#define MCSI_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$$/\2/p' core/mcsi.h | paste -sd.)
SOVERSION := 1
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-align -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wundef -Wvla -Wwrite-strings -Wnull-dereference
# pkg-config names: libiscsi (SCSI layer only), isa-l (CRC32C), libcrypto (CHAP).
PKGS    := libiscsi libcrypto
# core/ is a stack of layers, a folder each (core/LAYERS, tests/sh/test_layers.sh).
CORE_DIRS := base transport login session mcs scsi initiator
XCFLAGS := -std=gnu11 -fPIC -D_GNU_SOURCE -Icore $(CORE_DIRS:%=-Icore/%) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -liscsi -lcrypto) -lisal -pthread
DEPS_OK := $(BUILD)/.deps-ok

CORE_SRC := $(foreach d,$(CORE_DIRS),$(wildcard core/$(d)/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
# nbd/: NBD exports of a LUN, a layer on core/mcsi.h only (libmcsi-nbd.a).
NBD_SRC  := $(wildcard nbd/*.c)
NBD_OBJ  := $(NBD_SRC:%.c=$(BUILD)/%.o)
NBD_LIB  := $(BUILD)/libmcsi-nbd.a
TEST_SRC := $(wildcard tests/c/test_*.c)
TEST_BIN := $(TEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
TEST_AUX := $(filter-out $(TEST_SRC),$(wildcard tests/c/*.c))
TOOLS    := $(BUILD)/mcsi-perf $(BUILD)/mcsi-mcsbench $(BUILD)/mcsi-demo
SHLIB    := $(BUILD)/libmcsi.so.$(VERSION)
SHLIB_LINKS := $(BUILD)/libmcsi.so.$(SOVERSION) $(BUILD)/libmcsi.so

# Lua binding (bindings/): the module build/mcsi.so (require "mcsi") and the
# program build/mcsi, which links the same binding statically.
LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUA_LIBS   := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
LUA_CDIR   ?= $(PREFIX)/lib/lua/5.4
LUA_LDIR   ?= $(PREFIX)/share/lua/5.4
BIND_SRC   := bindings/lmcsi.c bindings/lrequest.c bindings/lops.c bindings/lscsi.c bindings/linitiator.c bindings/lstatus.c \
              bindings/lsession.c bindings/lconnection.c bindings/lsecret.c bindings/lexport.c bindings/lunix.c \
              bindings/lguard.c bindings/lapi_table.c
BIND_LUA   := bindings/mcsi/pretty.lua bindings/mcsi/args.lua bindings/mcsi/remote.lua bindings/mcsi/policy.lua \
              bindings/mcsi/api_ops.lua bindings/mcsi/help.lua bindings/mcsi/top.lua \
              scripts/iscsicli.lua scripts/failover.lua scripts/drain.lua scripts/rebalance.lua scripts/export.lua
BIND_OBJ   := $(BIND_SRC:%.c=$(BUILD)/%.o) $(BUILD)/bindings/lmcsi_embed.o
PROG_OBJ   := $(BUILD)/bindings/lmcsi_main.o $(BUILD)/bindings/lsandbox.o
LUA_BINS   := $(BUILD)/mcsi.so $(BUILD)/mcsi $(BUILD)/bench-lua
SOAK_BIN   := $(BUILD)/mcsi-soak

# The service (daemon/): mcsid, on core/mcsi.h only, JSON with jansson.
DAEMON_SRC := $(wildcard daemon/*.c)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(BUILD)/%.o)
MCSID      := $(BUILD)/mcsid
JANSSON_CFLAGS := $(shell pkg-config --cflags jansson 2>/dev/null)
JANSSON_LIBS   := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
# mcsid's handover through systemd's fd store (sd_pid_notify_with_fds, sd_listen_fds_with_names).
SYSTEMD_CFLAGS := $(shell pkg-config --cflags libsystemd 2>/dev/null)
SYSTEMD_LIBS   := $(shell pkg-config --libs libsystemd 2>/dev/null || echo -lsystemd)

.PHONY: FORCE generate all deps check asan valgrind bench bench-nbd bench-nbd-sparse bench-daemon bench-handover soak demo install uninstall deb clean fuzz fuzz-build fuzz-seeds
.SECONDARY:
all: $(BUILD)/libmcsi.a $(NBD_LIB) $(SHLIB) $(SHLIB_LINKS) $(TOOLS) $(TEST_BIN) $(LUA_BINS) $(SOAK_BIN) $(MCSID)

# Installs missing Debian packages once per build tree (tools/deps.sh is idempotent).
$(DEPS_OK): tools/deps.sh
	@mkdir -p $(@D)
	bash tools/deps.sh
	@touch $@
deps:
	bash tools/deps.sh

$(BUILD)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) $(WARN) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libmcsi.a: $(CORE_OBJ)
	$(AR) rcs $@ $^

$(NBD_LIB): $(NBD_OBJ)
	$(AR) rcs $@ $^

# The NBD layer's TLS (nbd/tls.c): whatever links nbd/ links GnuTLS too.
GNUTLS_CFLAGS := $(shell pkg-config --cflags gnutls 2>/dev/null)
GNUTLS_LIBS   := $(shell pkg-config --libs gnutls 2>/dev/null || echo -lgnutls)
$(NBD_OBJ): XCFLAGS += -Inbd $(GNUTLS_CFLAGS)

# The shared library exports the functions of core/mcsi.h and nothing else
# (tools/gen-exports.sh writes the version script from the header;
# tests/sh/test_exports.sh checks it). Tests and tools that need the
# internals link libmcsi.a.
$(BUILD)/libmcsi.map: core/mcsi.h tools/gen-exports.sh
	@mkdir -p $(@D)
	sh tools/gen-exports.sh core/mcsi.h >$@.tmp && mv $@.tmp $@

$(SHLIB): $(CORE_OBJ) $(BUILD)/libmcsi.map
	$(CC) -shared $(CFLAGS) -Wl,-soname,libmcsi.so.$(SOVERSION) -Wl,--version-script,$(BUILD)/libmcsi.map \
	  -Wl,-z,defs -Wl,-z,nodelete -o $@ $(CORE_OBJ) $(LIBS)

$(BUILD)/libmcsi.so.$(SOVERSION): $(SHLIB)
	ln -sf $(notdir $<) $@

$(BUILD)/libmcsi.so: $(BUILD)/libmcsi.so.$(SOVERSION)
	ln -sf $(notdir $<) $@

$(BUILD)/mcsi-perf: $(BUILD)/tools/mcsi-perf.o $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) -lm

$(BUILD)/mcsi-mcsbench: $(BUILD)/tools/mcsi-mcsbench.o $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) -lm

$(BUILD)/mcsi-demo: $(BUILD)/tools/mcsi-demo.o $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) -lm

$(SOAK_BIN): $(BUILD)/tests/soak/mcsi-soak.o $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/c/%.o $(TEST_AUX:%.c=$(BUILD)/%.o) $(NBD_LIB) $(BUILD)/libmcsi.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(GNUTLS_LIBS) $(LIBS) -lm

$(BIND_OBJ) $(PROG_OBJ): XCFLAGS += $(LUA_CFLAGS) -Ibindings -Inbd
$(BUILD)/tests/c/test_nbd_hostile.o $(BUILD)/tests/c/test_nbd_given_socket.o $(BUILD)/tests/c/test_nbd_policy.o $(BUILD)/tests/c/test_nbd_batch.o: XCFLAGS += -Inbd
$(BUILD)/tests/c/test_nbd_tls.o: XCFLAGS += -Inbd $(GNUTLS_CFLAGS)
$(BUILD)/tests/c/test_resolver.o: XCFLAGS += -Inbd
$(BUILD)/tests/c/testnbd.o: XCFLAGS += -Inbd

# build/tests/fake-target: tests/c/fake_target.c as a process, for tests/daemon (not a test itself).
all: $(BUILD)/tests/fake-target
# build/tests/slow_resolver.so: an LD_PRELOAD shim whose getaddrinfo takes 5 s for slow.mcsi.test
# (tests/daemon/test_resolver.py); never instrumented, so that an ASan mcsid can preload it.
all: $(BUILD)/tests/slow_resolver.so
$(BUILD)/tests/slow_resolver.so: tests/preload/slow_resolver.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC -O2 -D_GNU_SOURCE $(WARN) -o $@ $<
$(BUILD)/tests/fake-target: $(BUILD)/tests/harness/fake_target_main.o $(TEST_AUX:%.c=$(BUILD)/%.o) $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) -lm
$(BUILD)/tests/harness/fake_target_main.o: XCFLAGS += -Itests/c

# The daemon's escape of peer text, a unit test linked with daemon/json_text.o, daemon/rpc.o and jansson.
$(BUILD)/tests/c/test_unit_json_text.o: XCFLAGS += -Idaemon $(JANSSON_CFLAGS)
$(BUILD)/tests/test_unit_json_text: $(BUILD)/tests/c/test_unit_json_text.o $(TEST_AUX:%.c=$(BUILD)/%.o) \
                                    $(BUILD)/daemon/json_text.o $(BUILD)/daemon/rpc.o $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(JANSSON_LIBS) $(LIBS) -lm

$(DAEMON_OBJ): XCFLAGS += -Idaemon -Inbd $(JANSSON_CFLAGS) $(SYSTEMD_CFLAGS) $(LUA_CFLAGS) -Ibindings -DMCSID_VERSION='"$(VERSION)"'
# mcsid's default configuration, SYSCONFDIR/mcsi/mcsid.conf: the header changes (and main.o is rebuilt)
# only when SYSCONFDIR does, e.g. make install PREFIX=/x after make.
MCSID_PATHS := $(BUILD)/daemon/mcsid_paths.h
$(MCSID_PATHS): FORCE
	@mkdir -p $(@D)
	@echo '#define MCSID_DEFAULT_CONFIG "$(SYSCONFDIR)/mcsi/mcsid.conf"' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi
$(BUILD)/daemon/main.o: $(MCSID_PATHS)
$(BUILD)/daemon/main.o: XCFLAGS += -I$(BUILD)/daemon
FORCE:

# mcsid embeds Lua 5.4 and the binding for its policies, which run in its
# --policy-runner mode (daemon/policy_runner.c, seccomp: libseccomp), and
# serves NBD exports (nbd/).
$(MCSID): $(DAEMON_OBJ) $(BIND_OBJ) $(NBD_LIB) $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(JANSSON_LIBS) $(LUA_LIBS) $(GNUTLS_LIBS) $(SYSTEMD_LIBS) $(LIBS) -lseccomp -lm

# The ISDSC table core/status_list.h is generated from (tools/gen-status.sh).
$(BUILD)/tests/c/test_unit_status.o: XCFLAGS += -DMCSI_STATUS_TSV_PATH='"$(CURDIR)/core/isdsc-status.tsv"'

# The pure-Lua parts the module preloads: mcsi.pretty, mcsi.args (the scripts'
# command lines), and the scripts as
# mcsi.iscsicli, mcsi.failover, mcsi.drain, mcsi.rebalance.
$(BUILD)/bindings/lmcsi_embed.c: bindings/embed.lua $(BIND_LUA) | $(DEPS_OK)
	@mkdir -p $(@D)
	lua5.4 bindings/embed.lua $@ mcsi.pretty=bindings/mcsi/pretty.lua mcsi.args=bindings/mcsi/args.lua \
	  mcsi.remote=bindings/mcsi/remote.lua mcsi.policy=bindings/mcsi/policy.lua mcsi.api_ops=bindings/mcsi/api_ops.lua \
	  mcsi.help=bindings/mcsi/help.lua mcsi.top=bindings/mcsi/top.lua \
	  $(foreach f,$(filter scripts/%,$(BIND_LUA)),mcsi.$(basename $(notdir $(f)))=$(f))

$(BUILD)/bindings/lmcsi_embed.o: $(BUILD)/bindings/lmcsi_embed.c
	$(CC) $(XCFLAGS) $(WARN) $(CFLAGS) -c $< -o $@

# The faces generated from the one description of every operation (api/README.md):
# the daemon's method table, the Lua operation table, iscsicli's command map and
# the reference sections of the docs, the prototypes of core/mcsi.h (its generated
# block). Committed; tests/sh/test_api_generated.sh
# fails when one is stale.
generate:
	lua5.4 api/generate.lua

# The module exports luaopen_mcsi only (bindings/mcsi.map): core's, nbd's
# and the binding's own functions stay inside it. Both shared objects are
# never unloaded (-z nodelete): a resolver thread (core/base/resolve.c) may
# still run their code after lua_close or dlclose.
$(BUILD)/mcsi.so: $(BIND_OBJ) $(NBD_OBJ) $(CORE_OBJ) bindings/mcsi.map
	$(CC) -shared $(CFLAGS) -Wl,--version-script,bindings/mcsi.map -Wl,-z,nodelete -o $@ $(BIND_OBJ) $(NBD_OBJ) $(CORE_OBJ) $(GNUTLS_LIBS) $(LIBS)

$(BUILD)/mcsi: $(PROG_OBJ) $(BIND_OBJ) $(NBD_LIB) $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LUA_LIBS) -lreadline $(GNUTLS_LIBS) $(LIBS)

# build/mcsi-iscsicli: the installed wrapper (scripts/mcsi-iscsicli.in) on this
# build's mcsi and the tree's scripts/iscsicli.lua, as tests run it.
all: $(BUILD)/mcsi-iscsicli
$(BUILD)/mcsi-iscsicli: scripts/mcsi-iscsicli.in
	@mkdir -p $(@D)
	sed -e 's|@BINDIR@|$(abspath $(BUILD))|; s|@SCRIPTS@|$(CURDIR)/scripts|' $< >$@.tmp && chmod 755 $@.tmp && mv $@.tmp $@

$(BUILD)/bench-lua: $(BUILD)/tools/bench-lua.o $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

# ---- fuzzing (tests/fuzz/, see tests/fuzz/README.md) ----------------------------
# make fuzz: libFuzzer harnesses (clang -fsanitize=fuzzer,address,undefined),
# each run for FUZZ_SECONDS; make check replays tests/fuzz/corpus/<h>/ and
# tests/fuzz/regressions/<h>/ through replay-<h> (the same harness with a
# plain main, built with $(CC) and ASan+UBSan) without fuzzing time.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_HARNESS := bhs text conn rpc handover
FUZZ_SAN     := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_DIR     := $(BUILD)/fuzz
REPLAY_DIR   := $(BUILD)/fuzz-replay
FUZZ_BINS    := $(FUZZ_HARNESS:%=$(FUZZ_DIR)/fuzz-%)
REPLAY_BINS  := $(FUZZ_HARNESS:%=$(REPLAY_DIR)/replay-%)
FUZZ_PEER    := tests/fuzz/fuzz_peer.o
# clang also flags the va_list printf wrappers of core/ (gcc does not): not a fuzz finding.

$(FUZZ_DIR)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(XCFLAGS) $(WARN) -Wno-format-nonliteral $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(REPLAY_DIR)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) $(WARN) $(FUZZ_SAN) -MMD -MP -c $< -o $@

$(FUZZ_DIR)/libmcsi.a: $(CORE_OBJ:$(BUILD)/%=$(FUZZ_DIR)/%)
	$(AR) rcs $@ $^

$(REPLAY_DIR)/libmcsi.a: $(CORE_OBJ:$(BUILD)/%=$(REPLAY_DIR)/%)
	$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz-%: $(FUZZ_DIR)/tests/fuzz/fuzz_%.o $(FUZZ_DIR)/$(FUZZ_PEER) $(FUZZ_DIR)/libmcsi.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LIBS)

$(REPLAY_DIR)/replay-%: $(REPLAY_DIR)/tests/fuzz/replay.o $(REPLAY_DIR)/tests/fuzz/fuzz_%.o \
                        $(REPLAY_DIR)/$(FUZZ_PEER) $(REPLAY_DIR)/libmcsi.a
	$(CC) $(FUZZ_SAN) -o $@ $^ $(LIBS)

# fuzz-rpc / replay-rpc: the daemon's dispatcher (tests/fuzz/fuzz_rpc.c is its client): mcsid's
# objects but main.c and clients.c, the Lua binding and nbd/, built like the harness.
RPC_SRC := $(filter-out daemon/main.c daemon/clients.c,$(DAEMON_SRC)) $(BIND_SRC) $(NBD_SRC)
RPC_LIBS := $(JANSSON_LIBS) $(LUA_LIBS) $(GNUTLS_LIBS) $(SYSTEMD_LIBS) $(LIBS) -lseccomp -lm
$(FUZZ_DIR)/daemon/%.o $(REPLAY_DIR)/daemon/%.o $(FUZZ_DIR)/tests/fuzz/fuzz_rpc.o $(REPLAY_DIR)/tests/fuzz/fuzz_rpc.o: \
  XCFLAGS += -Idaemon -Inbd $(JANSSON_CFLAGS) $(LUA_CFLAGS) -Ibindings -DMCSID_VERSION='"$(VERSION)"'
$(FUZZ_DIR)/bindings/%.o $(REPLAY_DIR)/bindings/%.o: XCFLAGS += $(LUA_CFLAGS) -Ibindings -Inbd
$(FUZZ_DIR)/nbd/%.o $(REPLAY_DIR)/nbd/%.o: XCFLAGS += -Inbd $(GNUTLS_CFLAGS)

$(FUZZ_DIR)/bindings/lmcsi_embed.o: $(BUILD)/bindings/lmcsi_embed.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(XCFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

$(REPLAY_DIR)/bindings/lmcsi_embed.o: $(BUILD)/bindings/lmcsi_embed.c
	@mkdir -p $(@D)
	$(CC) $(XCFLAGS) $(FUZZ_SAN) -c $< -o $@

$(FUZZ_DIR)/fuzz-rpc: $(FUZZ_DIR)/tests/fuzz/fuzz_rpc.o $(RPC_SRC:%.c=$(FUZZ_DIR)/%.o) $(FUZZ_DIR)/bindings/lmcsi_embed.o \
                      $(FUZZ_DIR)/libmcsi.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(RPC_LIBS)

$(REPLAY_DIR)/replay-rpc: $(REPLAY_DIR)/tests/fuzz/replay.o $(REPLAY_DIR)/tests/fuzz/fuzz_rpc.o \
                          $(RPC_SRC:%.c=$(REPLAY_DIR)/%.o) $(REPLAY_DIR)/bindings/lmcsi_embed.o $(REPLAY_DIR)/libmcsi.a
	$(CC) $(FUZZ_SAN) -o $@ $^ $(RPC_LIBS)

# Writes the seed corpora (tests/fuzz/make_seeds.c); FUZZ_CONN_TRACE=1 replay-conn shows how far each conn seed gets.
$(REPLAY_DIR)/make-seeds: $(REPLAY_DIR)/tests/fuzz/make_seeds.o $(REPLAY_DIR)/libmcsi.a
	$(CC) $(FUZZ_SAN) -o $@ $^ $(LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	bash tests/fuzz/run-fuzz.sh $(BUILD) $(FUZZ_SECONDS) $(FUZZ_HARNESS)

fuzz-seeds: $(REPLAY_DIR)/make-seeds
	mkdir -p $(FUZZ_HARNESS:%=tests/fuzz/corpus/%)
	$(REPLAY_DIR)/make-seeds tests/fuzz/corpus
	python3 tests/fuzz/make_rpc_seeds.py tests/fuzz/corpus/rpc

# Every test: unit tests, then integration tests against real tgtd and istgt
# that tests/harness/with-targets starts on loopback and always stops.
# (tests/sh/test_install.sh compiles a program with CFLAGS, as the library was.)
# TESTS='PATTERN[:CASE] ...' runs only the files it names (tests/run-tests.sh says how).
check: all $(REPLAY_BINS)
	MCSI_TEST_CFLAGS="$(CFLAGS)" MCSI_TESTS="$(TESTS)" \
	  MCSI_TEST_RERUN="$${MCSI_TEST_RERUN:-make check$(if $(filter-out build,$(BUILD)), BUILD=$(BUILD)) TESTS=}" \
	  bash tests/run-tests.sh $(BUILD)

asan:
	MCSI_TEST_RERUN="make asan TESTS=" \
	  $(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" check

valgrind: all
	MCSI_TEST_WRAPPER="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
	  MCSI_TEST_QUICK=1 MCSI_TESTS="$(TESTS)" MCSI_TEST_RERUN="make valgrind TESTS=" bash tests/run-tests.sh $(BUILD)

# make bench [BASE=<commit>]: a report, not a test (tools/bench.sh says how it
# measures); BASE adds mcsi-perf built from that commit, alternating in the same run.
$(BUILD)/bench-rusage: $(BUILD)/tools/bench-rusage.o
	$(CC) $(CFLAGS) -o $@ $^

bench: all $(BUILD)/bench-rusage
	BENCH_BASE='$(BASE)' BENCH_CC='$(CC)' BENCH_CFLAGS='$(CFLAGS)' \
	  bash tests/harness/with-targets bash tools/bench.sh $(BUILD)
	$(MAKE) bench-nbd
	$(MAKE) bench-nbd-sparse
	$(MAKE) bench-daemon
	$(MAKE) bench-handover

# NBD exports (scripts/export.lua, 1/2/4 connections) against qemu-nbd + libiscsi
# on the same LUN, then the hop on the null LUN: CPU per I/O against mcsi-perf
# direct, nbdcopy out and in with CPU per MB (tools/bench-nbd.sh, tools/bench-nbd-hop.sh; about 10 minutes;
# BENCH_NBD_OLD=DIR also runs the export of the build in DIR).
bench-nbd: all
	bash tests/harness/with-targets bash tools/bench-nbd.sh $(BUILD)

# Copying a mostly empty thin LUN out (holes skipped through BLOCK_STATUS),
# mcsi against qemu-nbd + libiscsi (tools/bench-nbd-sparse.sh; about a minute).
bench-nbd-sparse: all
	bash tests/harness/with-targets bash tools/bench-nbd-sparse.sh $(BUILD)

# The service (tools/bench-daemon.sh; about 30 s): round trips through mcsid's
# socket (p50, p99) and 250 sessions x 4 connections held by one mcsid
# (idle CPU, RSS per connection).
bench-daemon: all
	bash tests/harness/with-targets bash tools/bench-daemon.sh $(BUILD)

# mcsid upgraded 20 times in a row under fio and nbdcopy on a 4-connection
# session's export, and with tgt dropping connections (tools/bench-handover.sh;
# about 2 minutes): client stalls, errors, same TSIH and connections.
bench-handover: all
	bash tests/harness/with-targets bash tools/bench-handover.sh $(BUILD)

# 1000 target-side connection drops under verified I/O (not part of check;
# 10-15 minutes). SOAK_DROPS, SOAK_INTERVAL_MS, SOAK_ARGS: see tests/soak/run-soak.sh.
soak: $(SOAK_BIN)
	bash tests/soak/run-soak.sh $(SOAK_BIN)

# The main job on local targets it starts itself: see README. (The same
# story in C, without the Lua layer: with-targets $(BUILD)/mcsi-demo.)
demo: all
	bash tests/harness/with-targets $(BUILD)/mcsi scripts/demo.lua

# What make install puts, and make uninstall removes: the library (static,
# shared with its links), the header, the NBD layer (libmcsi-nbd.a and
# mcsi_nbd.h beside mcsi.h: link it and -lgnutls before -lmcsi), mcsi.pc, the mcsi program
# and its Lua module, the scripts, mcsi-perf, mcsi-iscsicli (runs
# scripts/iscsicli.lua), a man page for every program (INST_MAN1, mcsid.8)
# and the documentation in DOCDIR; the service: mcsid in SBINDIR, its systemd
# unit in UNITDIR (ExecStart naming SBINDIR and SYSCONFDIR), and
# SYSCONFDIR/mcsi/mcsid.conf only when there is none (uninstall removes it
# only when it is unchanged, and says so when it keeps it). Not mcsi-demo, mcsi-mcsbench nor
# scripts/demo.lua: they drive the targets of tests/harness/with-targets.
# The directories install creates are listed in INSTALL_MANIFEST (tools/install-dirs.sh), so that
# uninstall removes those (when empty) and never one that was there before; packagers pass
# INSTALL_MANIFEST= (no list: dpkg keeps its own). ldconfig runs when LIBDIR is a directory ld.so
# searches (tools/ld-so-dir.sh) and DESTDIR is empty.
INST_BIN     := $(BUILD)/mcsi $(BUILD)/mcsi-perf
INST_INC     := core/mcsi.h core/status_list.h nbd/mcsi_nbd.h
INST_LUA     := $(wildcard bindings/mcsi/*.lua)
INST_SCRIPTS := $(filter-out scripts/demo.lua,$(wildcard scripts/*.lua))
INST_MAN1    := doc/mcsi.1 doc/mcsi-iscsicli.1 doc/mcsi-perf.1
INST_DOC     := README.md doc/protocol.md $(wildcard doc/policies.md)
INST_LIBS    := libmcsi.a libmcsi-nbd.a libmcsi.so.$(VERSION) libmcsi.so.$(SOVERSION) libmcsi.so
INST_DIRS    := $(LIBDIR) $(PKGCONFIGDIR) $(INCLUDEDIR)/mcsi $(BINDIR) $(LUA_CDIR) $(LUA_LDIR)/mcsi \
                $(DATADIR)/mcsi/scripts $(SBINDIR) $(UNITDIR) $(MANDIR)/man1 $(MANDIR)/man8 $(DOCDIR) $(SYSCONFDIR)/mcsi
INSTALL_MANIFEST ?= $(DATADIR)/mcsi/installed-dirs
LDCONFIG     ?= ldconfig
MCSID_CONF   := $(DESTDIR)$(SYSCONFDIR)/mcsi/mcsid.conf
UNIT_SUBST   := s|/usr/local/sbin/mcsid|$(SBINDIR)/mcsid|; s|/etc/mcsi/mcsid.conf|$(SYSCONFDIR)/mcsi/mcsid.conf|
# mcsi.pc names its directories from ${prefix} when they lie under PREFIX.
PC_SUBST     := s|@PREFIX@|$(PREFIX)|; s|@VERSION@|$(VERSION)|; \
                s|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|; \
                s|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|
# ld.so's cache, after the library changed in a directory it searches (never for a staged DESTDIR tree).
LD_CACHE     = if [ -n "$(DESTDIR)" ]; then echo "ldconfig: skipped (DESTDIR)"; \
               elif sh tools/ld-so-dir.sh $(LIBDIR); then echo $(LDCONFIG); PATH="$$PATH:/sbin:/usr/sbin" $(LDCONFIG); \
               else echo "ldconfig: skipped ($(LIBDIR) is not a directory ld.so searches)"; fi

install: $(BUILD)/libmcsi.a $(NBD_LIB) $(SHLIB) $(INST_BIN) $(BUILD)/mcsi.so $(MCSID)
	sh tools/install-dirs.sh create "$(DESTDIR)" "$(INSTALL_MANIFEST)" $(INST_DIRS)
	install -m 644 $(BUILD)/libmcsi.a $(NBD_LIB) $(DESTDIR)$(LIBDIR)
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)
	ln -sf libmcsi.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libmcsi.so.$(SOVERSION)
	ln -sf libmcsi.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libmcsi.so
	sed -e '$(PC_SUBST)' mcsi.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/mcsi.pc
	install -m 644 $(INST_INC) $(DESTDIR)$(INCLUDEDIR)/mcsi
	install -m 755 $(INST_BIN) $(DESTDIR)$(BINDIR)
	install -m 644 $(BUILD)/mcsi.so $(DESTDIR)$(LUA_CDIR)
	install -m 644 $(INST_LUA) $(DESTDIR)$(LUA_LDIR)/mcsi
	install -m 644 $(INST_SCRIPTS) $(DESTDIR)$(DATADIR)/mcsi/scripts
	install -m 755 $(MCSID) $(DESTDIR)$(SBINDIR)
	sed -e '$(UNIT_SUBST)' daemon/mcsid.service >$(DESTDIR)$(UNITDIR)/mcsid.service
	chmod 644 $(DESTDIR)$(UNITDIR)/mcsid.service
	sed -e 's|/etc/mcsi/mcsid.conf|$(SYSCONFDIR)/mcsi/mcsid.conf|' daemon/mcsid.8 >$(DESTDIR)$(MANDIR)/man8/mcsid.8
	chmod 644 $(DESTDIR)$(MANDIR)/man8/mcsid.8
	install -m 644 $(INST_MAN1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(INST_DOC) $(DESTDIR)$(DOCDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|; s|@SCRIPTS@|$(DATADIR)/mcsi/scripts|' scripts/mcsi-iscsicli.in \
	  >$(DESTDIR)$(BINDIR)/mcsi-iscsicli
	chmod 755 $(DESTDIR)$(BINDIR)/mcsi-iscsicli
	[ -e $(MCSID_CONF) ] || install -m 644 daemon/mcsid.conf $(MCSID_CONF)
	@$(LD_CACHE)

# Removes exactly the files install puts, then the directories install created if empty.
uninstall:
	rm -f $(INST_LIBS:%=$(DESTDIR)$(LIBDIR)/%) $(DESTDIR)$(PKGCONFIGDIR)/mcsi.pc \
	  $(addprefix $(DESTDIR)$(INCLUDEDIR)/mcsi/,$(notdir $(INST_INC))) \
	  $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INST_BIN))) $(DESTDIR)$(LUA_CDIR)/mcsi.so \
	  $(addprefix $(DESTDIR)$(LUA_LDIR)/mcsi/,$(notdir $(INST_LUA))) \
	  $(addprefix $(DESTDIR)$(DATADIR)/mcsi/scripts/,$(notdir $(INST_SCRIPTS))) \
	  $(DESTDIR)$(SBINDIR)/mcsid $(DESTDIR)$(UNITDIR)/mcsid.service $(DESTDIR)$(MANDIR)/man8/mcsid.8 \
	  $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(INST_MAN1))) $(DESTDIR)$(BINDIR)/mcsi-iscsicli \
	  $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(INST_DOC)))
	@if [ ! -e $(MCSID_CONF) ]; then :; elif cmp -s daemon/mcsid.conf $(MCSID_CONF); then \
	  echo "rm -f $(MCSID_CONF)"; rm -f $(MCSID_CONF); \
	  else echo "kept $(MCSID_CONF): changed since install (remove it by hand if it is no longer wanted)"; fi
	@$(LD_CACHE)
	sh tools/install-dirs.sh remove "$(DESTDIR)" "$(INSTALL_MANIFEST)"

# Debian packages (debian/): libmcsi1, libmcsi-dev, mcsi, mcsid, built by
# dpkg-buildpackage -us -uc -b in a copy of the tree, into DEB_DIR; then lintian.
DEB_DIR ?= $(BUILD)/deb
deb:
	bash tools/make-deb.sh $(DEB_DIR) $(VERSION)

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
