# SPDX-License-Identifier: Apache-2.0
# Sluice build. Every component is picked up by wildcard, so adding a file
# needs no edit here. BUILD=DIR puts all output elsewhere (parallel builds).

BUILD    ?= build
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
PREFIX   ?= /usr/local
DESTDIR  ?=
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
MULTIARCH:= $(shell $(CC) -print-multiarch 2>/dev/null)

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -fno-strict-aliasing \
            -Iinclude -Ilib -I$(BUILD)/skel
LDLIBS   += -lbpf -lelf -lz -lmnl -ljansson -lyaml -lpthread
# SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer for every userspace object.
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
              -Wno-unused-function -Iinclude -Idatapath -I/usr/include/$(MULTIARCH)

BPF_SRCS := $(wildcard datapath/*.bpf.c)
BPF_OBJS := $(patsubst datapath/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS    := $(patsubst datapath/%.bpf.c,$(BUILD)/skel/%.skel.h,$(BPF_SRCS))
BPF_HDRS := $(wildcard datapath/lib/*.h include/sluice/*.h)

# Test-only BPF programs (harnesses for lib/ headers) live in tests/datapath.
TBPF_SRCS := $(wildcard tests/datapath/*.bpf.c)
TBPF_OBJS := $(patsubst tests/datapath/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(TBPF_SRCS))
TSKELS    := $(patsubst tests/datapath/%.bpf.c,$(BUILD)/skel/%.skel.h,$(TBPF_SRCS))

HDRS     := $(wildcard include/sluice/*.h lib/*.h cni/*.h controller/*.h cnictl/*.h)

objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJS    := $(call objs,$(wildcard lib/*.c))
CNI_OBJS    := $(call objs,$(filter-out cni/main.c,$(wildcard cni/*.c)))
CTL_OBJS    := $(call objs,$(filter-out controller/main.c,$(wildcard controller/*.c)))
CNICTL_OBJS := $(call objs,$(filter-out cnictl/main.c,$(wildcard cnictl/*.c)))

ARCHIVES := $(BUILD)/libcni.a $(BUILD)/libctl.a $(BUILD)/libcnictl.a $(BUILD)/libsluice.a

BINS := $(BUILD)/sluice $(BUILD)/sluiced $(BUILD)/cnictl

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
DP_TESTS   := $(patsubst tests/datapath/%.c,$(BUILD)/tests/%,$(wildcard tests/datapath/test_*.c))

.PHONY: all install deps test check unit-tests dp-tests bench demo fuzz clean format lint
all: $(BINS)

# ---- BPF -----------------------------------------------------------------
$(BUILD)/bpf/%.bpf.o: datapath/%.bpf.c $(BPF_HDRS) | $(BUILD)/bpf
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(BUILD)/bpf/%.bpf.o: tests/datapath/%.bpf.c $(BPF_HDRS) | $(BUILD)/bpf
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(BUILD)/skel/%.skel.h: $(BUILD)/bpf/%.bpf.o | $(BUILD)/skel
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@.tmp && mv $@.tmp $@

# ---- userspace -----------------------------------------------------------
$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
# Only the controller embeds the BPF objects.
$(CTL_OBJS) $(BUILD)/obj/controller/main.o: $(SKELS)

$(BUILD)/libsluice.a: $(LIB_OBJS)
$(BUILD)/libcni.a: $(CNI_OBJS)
$(BUILD)/libctl.a: $(CTL_OBJS)
$(BUILD)/libcnictl.a: $(CNICTL_OBJS)
$(ARCHIVES): | $(BUILD)
	rm -f $@ && ar rcs $@ $^ && ranlib $@

$(BUILD)/sluice: $(BUILD)/obj/cni/main.o $(BUILD)/libcni.a $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
# The controller's modules find each other through weak symbols
# (controller/kinds.h), which never pull archive members: link it whole.
WHOLE_CTL = -Wl,--whole-archive $(BUILD)/libctl.a -Wl,--no-whole-archive
$(BUILD)/sluiced: $(BUILD)/obj/controller/main.o $(BUILD)/libctl.a $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) $< $(WHOLE_CTL) $(BUILD)/libsluice.a $(LDLIBS) -o $@
# cnictl's commands and map decoders register themselves in linker sections
# (cnictl/cnictl.h, decode.h), which never pull archive members: link it whole.
WHOLE_CNICTL = -Wl,--whole-archive $(BUILD)/libcnictl.a -Wl,--no-whole-archive
$(BUILD)/cnictl: $(BUILD)/obj/cnictl/main.o $(BUILD)/libcnictl.a $(BUILD)/libsluice.a
	$(CC) $(LDFLAGS) $< $(WHOLE_CNICTL) $(BUILD)/libsluice.a $(LDLIBS) -o $@

# ---- tests -----------------------------------------------------------------
# Unit tests link what their name says: test_cni_* the plugin,
# test_cnictl_* the CLI, every other one the controller.
test_libs = $(if $(filter test_cni_%,$(1)),$(BUILD)/libcni.a,$(if $(filter test_cnictl_%,$(1)),$(WHOLE_CNICTL),$(WHOLE_CTL))) $(BUILD)/libsluice.a
$(BUILD)/tests/test_cni_%: tests/unit/test_cni_%.c $(BUILD)/libcni.a $(BUILD)/libsluice.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(call test_libs,test_cni_$*) $(LDLIBS) -lcriterion -o $@
$(BUILD)/tests/test_cnictl_%: tests/unit/test_cnictl_%.c $(BUILD)/libcnictl.a $(BUILD)/libsluice.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(call test_libs,test_cnictl_$*) $(LDLIBS) -lcriterion -o $@
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libctl.a $(BUILD)/libsluice.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(call test_libs,$*) $(LDLIBS) -lcriterion -o $@
# Datapath tests include skeletons and load them with BPF_PROG_TEST_RUN.
$(BUILD)/tests/%: tests/datapath/%.c $(BUILD)/libsluice.a $(HDRS) $(SKELS) $(TSKELS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(BUILD)/libsluice.a $(LDLIBS) -lcriterion -o $@

# test_policy_compiler also runs the policy lookup harness (BPF cross-check).
$(BUILD)/tests/test_policy_compiler: $(BUILD)/bpf/policy_harness.bpf.o

unit-tests: $(UNIT_TESTS)
dp-tests: $(DP_TESTS)

# The whole suite: unit, datapath, end to end. Needs root. Ends with "N passed, N failed".
test check: all unit-tests dp-tests
	BUILD=$(BUILD) tests/run.sh

bench: all
	BUILD=$(BUILD) hack/bench.sh

demo: all
	BUILD=$(BUILD) hack/demo.sh

deps:
	hack/deps.sh

install: all
	install -d $(DESTDIR)/opt/cni/bin $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/sluice $(DESTDIR)/opt/cni/bin/sluice
	install -m 0755 $(BUILD)/sluiced $(BUILD)/cnictl $(DESTDIR)$(PREFIX)/bin/

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

$(BUILD) $(BUILD)/bpf $(BUILD)/skel:
	mkdir -p $@

clean:
	rm -rf $(BUILD)

.SECONDARY: $(BPF_OBJS) $(TBPF_OBJS)
-include fuzz.mk
