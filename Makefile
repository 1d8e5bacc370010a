# mcsi: make, make check, make asan, make valgrind, make bench, make soak, make install, make deps
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
BIND_SRC   := bindings/lmcsi.c bindings/lstatus.c bindings/lsession.c bindings/lconnection.c
BIND_LUA   := bindings/mcsi/pretty.lua scripts/iscsicli.lua scripts/failover.lua scripts/drain.lua \
              scripts/rebalance.lua
BIND_OBJ   := $(BIND_SRC:%.c=$(BUILD)/%.o) $(BUILD)/bindings/lmcsi_embed.o
LUA_BINS   := $(BUILD)/mcsi.so $(BUILD)/mcsi $(BUILD)/bench-lua
SOAK_BIN   := $(BUILD)/mcsi-soak

.PHONY: all deps check asan valgrind bench soak demo install clean
.SECONDARY:
all: $(BUILD)/libmcsi.a $(BUILD)/libmcsi.so $(TOOLS) $(TEST_BIN) $(LUA_BINS) $(SOAK_BIN)

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

$(SOAK_BIN): $(BUILD)/tests/soak/mcsi-soak.o $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/c/%.o $(TEST_AUX:%.c=$(BUILD)/%.o) $(BUILD)/libmcsi.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS) -lm

$(BIND_OBJ) $(BUILD)/bindings/lmcsi_main.o: XCFLAGS += $(LUA_CFLAGS) -Ibindings

# The pure-Lua parts the module preloads: mcsi.pretty, and the scripts as
# mcsi.iscsicli, mcsi.failover, mcsi.drain, mcsi.rebalance.
$(BUILD)/bindings/lmcsi_embed.c: bindings/embed.lua $(BIND_LUA) | $(DEPS_OK)
	@mkdir -p $(@D)
	lua5.4 bindings/embed.lua $@ mcsi.pretty=bindings/mcsi/pretty.lua \
	  $(foreach f,$(filter scripts/%,$(BIND_LUA)),mcsi.$(basename $(notdir $(f)))=$(f))

$(BUILD)/bindings/lmcsi_embed.o: $(BUILD)/bindings/lmcsi_embed.c
	$(CC) $(XCFLAGS) $(WARN) $(CFLAGS) -c $< -o $@

$(BUILD)/mcsi.so: $(BIND_OBJ) $(CORE_OBJ)
	$(CC) -shared $(CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/mcsi: $(BUILD)/bindings/lmcsi_main.o $(BIND_OBJ) $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LUA_LIBS) -lreadline $(LIBS)

$(BUILD)/bench-lua: $(BUILD)/tools/bench-lua.o $(BUILD)/libmcsi.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

# Every test: unit tests, then integration tests against real tgtd and istgt
# that tests/harness/with-targets starts on loopback and always stops.
check: all
	bash tests/run-tests.sh $(BUILD)

asan:
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" check

valgrind: all
	MCSI_TEST_WRAPPER="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
	  MCSI_TEST_QUICK=1 bash tests/run-tests.sh $(BUILD)

bench: all
	bash tests/harness/with-targets bash tools/bench.sh $(BUILD)

# 1000 target-side connection drops under verified I/O (not part of check;
# 10-15 minutes). SOAK_DROPS, SOAK_INTERVAL_MS, SOAK_ARGS: see tests/soak/run-soak.sh.
soak: $(SOAK_BIN)
	bash tests/soak/run-soak.sh $(SOAK_BIN)

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
