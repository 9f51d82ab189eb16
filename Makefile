# kvmm build.  `make run` and `make test` both call scripts/setup.sh first,
# which installs missing Debian packages and builds the guest image.

CC      ?= gcc
PREFIX  ?= /usr/local
BUILD   := build
# Small libraries are linked statically: only the code kvmm uses becomes
# resident, which keeps the VMM's own memory beside the guest's small.
STATIC_PKGS := liburing nettle ext2fs
DYN_PKGS    := libcjson
PKGS        := $(STATIC_PKGS) $(DYN_PKGS)
VERSION := 0.1.0

# Debian 12's libfdt-dev ships no pkg-config file: fall back to -lfdt.
pc_cflags = $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(shell pkg-config --cflags libfdt 2>/dev/null)
pc_libs   = -Wl,-Bstatic $(shell pkg-config --static --libs $(STATIC_PKGS) 2>/dev/null) \
            $(shell pkg-config --static --libs libfdt 2>/dev/null || echo -lfdt) \
            -Wl,-Bdynamic $(shell pkg-config --libs $(DYN_PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2
BASEFLAGS = -std=gnu11 -g -D_GNU_SOURCE -DKVMM_VERSION='"$(VERSION)"' -Isrc -I$(BUILD)/gen $(WARN) $(pc_cflags)
CFLAGS   ?= -O2
LDLIBS    = $(pc_libs) -lpthread -lm
SANFLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRCS  := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
ASAN_OBJS := $(LIB_SRCS:%.c=$(BUILD)/asan/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)
ASAN_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit-asan/%)
GEN_HDRS  := $(wildcard $(BUILD)/gen/*.h)
SYSCALL_HDR ?= /usr/include/x86_64-linux-gnu/asm/unistd_64.h

.PHONY: all setup run test test-only bench bench-sched bench-introspect clean install firmware unit
.DEFAULT_GOAL := all

all: $(BUILD)/kvmm firmware unit

-include firmware/firmware.mk
-include $(LIB_OBJS:.o=.d) $(ASAN_OBJS:.o=.d) $(BUILD)/obj/src/main.d

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(SANFLAGS) -MMD -MP -c $< -o $@

# System call names for introspection: SYSCALL(nr, name) lines.
$(BUILD)/gen/syscalls.h: $(SYSCALL_HDR)
	@mkdir -p $(dir $@)
	sed -n 's/^#define __NR_\([a-z0-9_]*\)[[:space:]]\{1,\}\([0-9]\{1,\}\)$$/SYSCALL(\2, \1)/p' $< >$@.tmp
	mv $@.tmp $@
$(BUILD)/obj/src/introspect/sysno.o $(BUILD)/asan/src/introspect/sysno.o: $(BUILD)/gen/syscalls.h

$(BUILD)/kvmm: $(BUILD)/obj/src/main.o $(LIB_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

unit: $(UNIT_BINS) $(ASAN_BINS)

$(BUILD)/unit/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJS) $(LDLIBS) -lcmocka

$(BUILD)/unit-asan/%: tests/unit/%.c $(ASAN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(SANFLAGS) -Itests/unit -o $@ $< $(ASAN_OBJS) $(LDLIBS) -lcmocka

setup:
	bash scripts/setup.sh

run: setup
	$(MAKE) all
	bash scripts/run-default.sh

test: setup
	$(MAKE) all
	bash tests/run.sh

# Run the tests without the set-up step (packages already present).
test-only: all
	bash tests/run.sh

bench: setup
	$(MAKE) all
	bash bench/run.sh $(BENCH)

# The scheduling experiment (docs/scheduling.md); needs root.
bench-sched: setup
	$(MAKE) all
	bash bench/sched/run.sh

# Introspection overhead (docs/introspection.md, "Overhead").
bench-introspect: setup
	$(MAKE) all
	bash bench/introspect.sh

install: $(BUILD)/kvmm
	install -D -m 0755 $(BUILD)/kvmm $(DESTDIR)$(PREFIX)/bin/kvmm

clean:
	rm -rf $(BUILD)
