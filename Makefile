# mcsi: make, make check, make asan, make valgrind, make bench, make fuzz, make install, make deps
BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-align -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wundef -Wvla -Wwrite-strings -Wnull-dereference
# pkg-config names: libiscsi (SCSI layer only), isa-l (CRC32C), libcrypto (CHAP).
PKGS    := libiscsi libcrypto
XCFLAGS := -std=gnu11 -fPIC -D_GNU_SOURCE -Icore $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -liscsi -lcrypto) -lisal -pthread
DEPS_OK := $(BUILD)/.deps-ok

CORE_SRC := $(wildcard core/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/c/test_*.c)
TEST_BIN := $(TEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
TEST_AUX := $(filter-out $(TEST_SRC),$(wildcard tests/c/*.c))
TOOLS    := $(BUILD)/mcsi-perf $(BUILD)/mcsi-mcsbench $(BUILD)/mcsi-demo

# Lua binding (bindings/): the module build/mcsi.so (require "mcsi") and the
# program build/mcsi, which links the same binding statically.
LUA_CFLAGS := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUA_LIBS   := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
LUA_CDIR   ?= $(PREFIX)/lib/lua/5.4
LUA_LDIR   ?= $(PREFIX)/share/lua/5.4
BIND_SRC   := bindings/lmcsi.c bindings/lrequest.c bindings/lops.c bindings/lscsi.c bindings/linitiator.c bindings/lstatus.c \
              bindings/lsession.c bindings/lconnection.c bindings/lsecret.c
BIND_LUA   := bindings/mcsi/pretty.lua bindings/mcsi/args.lua scripts/iscsicli.lua scripts/failover.lua \
              scripts/drain.lua scripts/rebalance.lua
BIND_OBJ   := $(BIND_SRC:%.c=$(BUILD)/%.o) $(BUILD)/bindings/lmcsi_embed.o
PROG_OBJ   := $(BUILD)/bindings/lmcsi_main.o $(BUILD)/bindings/lsandbox.o
LUA_BINS   := $(BUILD)/mcsi.so $(BUILD)/mcsi $(BUILD)/bench-lua

.PHONY: all deps check asan valgrind bench demo install clean fuzz fuzz-build fuzz-seeds
.SECONDARY:
all: $(BUILD)/libmcsi.a $(BUILD)/libmcsi.so $(TOOLS) $(TEST_BIN) $(LUA_BINS)

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

$(BUILD)/libmcsi.so: $(CORE_OBJ)
	$(CC) -shared $(CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/mcsi-perf: $(BUILD)/tools/mcsi-perf.o $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) -lm

$(BUILD)/mcsi-mcsbench: $(BUILD)/tools/mcsi-mcsbench.o $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) -lm

$(BUILD)/mcsi-demo: $(BUILD)/tools/mcsi-demo.o $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) -lm

$(BUILD)/tests/%: $(BUILD)/tests/c/%.o $(TEST_AUX:%.c=$(BUILD)/%.o) $(BUILD)/libmcsi.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) -lm

$(BIND_OBJ) $(PROG_OBJ): XCFLAGS += $(LUA_CFLAGS) -Ibindings

# The pure-Lua parts the module preloads: mcsi.pretty, mcsi.args (the scripts'
# command lines), and the scripts as
# mcsi.iscsicli, mcsi.failover, mcsi.drain, mcsi.rebalance.
$(BUILD)/bindings/lmcsi_embed.c: bindings/embed.lua $(BIND_LUA) | $(DEPS_OK)
	@mkdir -p $(@D)
	lua5.4 bindings/embed.lua $@ mcsi.pretty=bindings/mcsi/pretty.lua mcsi.args=bindings/mcsi/args.lua \
	  $(foreach f,$(filter scripts/%,$(BIND_LUA)),mcsi.$(basename $(notdir $(f)))=$(f))

$(BUILD)/bindings/lmcsi_embed.o: $(BUILD)/bindings/lmcsi_embed.c
	$(CC) $(XCFLAGS) $(WARN) $(CFLAGS) -c $< -o $@

$(BUILD)/mcsi.so: $(BIND_OBJ) $(CORE_OBJ)
	$(CC) -shared $(CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/mcsi: $(PROG_OBJ) $(BIND_OBJ) $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LUA_LIBS) -lreadline $(LIBS)

$(BUILD)/bench-lua: $(BUILD)/tools/bench-lua.o $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

# ---- fuzzing (tests/fuzz/, see tests/fuzz/README.md) ----------------------------
# make fuzz: libFuzzer harnesses (clang -fsanitize=fuzzer,address,undefined),
# each run for FUZZ_SECONDS; make check replays tests/fuzz/corpus/<h>/ and
# tests/fuzz/regressions/<h>/ through replay-<h> (the same harness with a
# plain main, built with $(CC) and ASan+UBSan) without fuzzing time.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_HARNESS := bhs text conn
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

# Writes the seed corpora (tests/fuzz/make_seeds.c); FUZZ_CONN_TRACE=1 replay-conn shows how far each conn seed gets.
$(REPLAY_DIR)/make-seeds: $(REPLAY_DIR)/tests/fuzz/make_seeds.o $(REPLAY_DIR)/libmcsi.a
	$(CC) $(FUZZ_SAN) -o $@ $^ $(LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	bash tests/fuzz/run-fuzz.sh $(BUILD) $(FUZZ_SECONDS) $(FUZZ_HARNESS)

fuzz-seeds: $(REPLAY_DIR)/make-seeds
	mkdir -p $(FUZZ_HARNESS:%=tests/fuzz/corpus/%)
	$(REPLAY_DIR)/make-seeds tests/fuzz/corpus

# Every test: unit tests, then integration tests against real tgtd and istgt
# that tests/harness/with-targets starts on loopback and always stops.
check: all $(REPLAY_BINS)
	bash tests/run-tests.sh $(BUILD)

asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" check

valgrind: all
	MCSI_TEST_WRAPPER="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
	  MCSI_TEST_QUICK=1 bash tests/run-tests.sh $(BUILD)

bench: all
	bash tests/harness/with-targets bash tools/bench.sh $(BUILD)

# The main job on local targets it starts itself: see README. (The same
# story in C, without the Lua layer: with-targets $(BUILD)/mcsi-demo.)
demo: all
	bash tests/harness/with-targets $(BUILD)/mcsi scripts/demo.lua

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/mcsi $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(BUILD)/libmcsi.a $(BUILD)/libmcsi.so $(DESTDIR)$(PREFIX)/lib
	install -m 644 core/mcsi.h core/status_list.h $(DESTDIR)$(PREFIX)/include/mcsi
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin
	install -d $(DESTDIR)$(LUA_CDIR) $(DESTDIR)$(LUA_LDIR)/mcsi $(DESTDIR)$(PREFIX)/share/mcsi/scripts
	install -m 755 $(BUILD)/mcsi $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(BUILD)/mcsi.so $(DESTDIR)$(LUA_CDIR)
	install -m 644 bindings/mcsi/*.lua $(DESTDIR)$(LUA_LDIR)/mcsi
	install -m 644 scripts/*.lua $(DESTDIR)$(PREFIX)/share/mcsi/scripts

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
