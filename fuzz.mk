# SPDX-License-Identifier: Apache-2.0
# `make fuzz`: the libFuzzer target for the feed parser (tests/fuzz/), built
# with clang -fsanitize=fuzzer,address and run for FUZZ_SECONDS on the
# committed seed corpus. New inputs go to a scratch corpus under $(BUILD), so
# the committed one only changes by hand. A crash leaves its input in
# $(BUILD)/fuzz/ and fails the target.

FUZZ_SECONDS ?= 30
FUZZ_CC      ?= $(CLANG)
FUZZ_DIR     := $(BUILD)/fuzz
# Every controller module except main.c, so validation of every linked kind
# is fuzzed too. No -Werror: clang warns differently from gcc, and the
# normal build already enforces warnings.
FUZZ_CFLAGS  := -g -O1 -std=gnu11 -D_GNU_SOURCE -fno-strict-aliasing -Iinclude -Ilib \
                -I$(BUILD)/skel -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_SRCS    := $(filter-out controller/main.c,$(wildcard controller/*.c)) $(wildcard lib/*.c)
FUZZ_OBJS    := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_SRCS))

$(FUZZ_DIR)/obj/%.o: %.c $(HDRS) $(SKELS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/fuzz_feed: tests/fuzz/fuzz_feed.c $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

fuzz: $(FUZZ_DIR)/fuzz_feed
	rm -rf $(FUZZ_DIR)/corpus && mkdir -p $(FUZZ_DIR)/corpus
	cd $(FUZZ_DIR) && ./fuzz_feed -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		-rss_limit_mb=1024 -print_final_stats=1 corpus $(CURDIR)/tests/fuzz/corpus/feed

# The whole feed path without maps (tests/fuzz/fuzz_feed_apply.c): splitter,
# jansson, feed_apply() and every linked kind's validate + apply, checking
# that a failed value changes nothing. Seeds: tests/fuzz/corpus/feed_apply.
$(FUZZ_DIR)/fuzz_feed_apply: tests/fuzz/fuzz_feed_apply.c $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

.PHONY: fuzz-feed-apply
fuzz-feed-apply: $(FUZZ_DIR)/fuzz_feed_apply
	rm -rf $(FUZZ_DIR)/corpus-apply && mkdir -p $(FUZZ_DIR)/corpus-apply
	cd $(FUZZ_DIR) && ./fuzz_feed_apply -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		-rss_limit_mb=1024 -print_final_stats=1 corpus-apply $(CURDIR)/tests/fuzz/corpus/feed_apply
fuzz: fuzz-feed-apply
