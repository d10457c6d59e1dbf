# mk/fuzz.mk: libFuzzer targets, and valgrind's memcheck over the unit
# tests. Included at the end of the Makefile, which defines B, SRCS,
# STD, WARN, CURSES and build_config.
#
#   make fuzz         build every tests/fuzz/fuzz-*.c with clang's
#                     libFuzzer, ASan and UBSan, and run each for
#                     FUZZ_SECONDS (60) from its seed corpus
#   make fuzz-check   replay every seed corpus, then FUZZ_CHECK_SECONDS
#                     (3) of fuzzing per target; for make check
#   make memcheck     the unit tests without sanitizers, under valgrind:
#                     a definite or indirect leak or a memory error fails
#
# New inputs go to build/fuzz/corpus/TARGET, crashes to
# build/fuzz/crash/. A crash found becomes a unit test, then a fix; copy
# its input into tests/fuzz/corpus/TARGET so the replay keeps it fixed.

FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 3
FUZZ_CLANG ?= clang-14

# clang also warns about vsnprintf with a format parameter, which the
# logging helpers do on purpose; gcc's -Wformat=2 already checks callers.
fuzz_CC := $(FUZZ_CLANG)
fuzz_CFLAGS := $(STD) $(WARN) -Wno-format-nonliteral $(CURSES) -g -O1 \
	-fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer -DEXO_TEST_SEAMS -Isrc
fuzz_NEEDS :=
$(eval $(call build_config,fuzz))

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz-%.c,%,$(FUZZ_SRCS))
FUZZ_BINS := $(patsubst %,$(B)/fuzz/bin/fuzz-%,$(FUZZ_NAMES))
FUZZ_LIB_OBJS := $(filter-out $(B)/fuzz/obj/main.o,$(fuzz_OBJS))
FUZZ_LDFLAGS := -fsanitize=fuzzer,address,undefined
# fuzz-token.c includes oauth.c to reach its static token parser.
FUZZ_OMIT_token := $(B)/fuzz/obj/oauth.o

$(B)/fuzz/tobj/%.o: tests/fuzz/%.c | deps
	@mkdir -p $(@D)
	$(fuzz_CC) $(fuzz_CFLAGS) -MMD -MP -c -o $@ $<

-include $(patsubst tests/fuzz/%.c,$(B)/fuzz/tobj/%.d,$(FUZZ_SRCS))

$(B)/fuzz/bin/fuzz-%: $(B)/fuzz/tobj/fuzz-%.o $(FUZZ_LIB_OBJS)
	@mkdir -p $(@D)
	$(fuzz_CC) $(FUZZ_LDFLAGS) -o $@ $< \
	    $(filter-out $(FUZZ_OMIT_$*),$(FUZZ_LIB_OBJS)) $(debug_LIBS)

# Only the pattern rule above names these objects, which makes them
# intermediate files that make deletes after each build.
.SECONDARY: $(FUZZ_LIB_OBJS) \
	$(patsubst tests/fuzz/%.c,$(B)/fuzz/tobj/%.o,$(FUZZ_SRCS))

.PHONY: fuzz fuzz-bins fuzz-check memcheck

fuzz-bins: $(FUZZ_BINS)

# -timeout: one input taking 10 s is a hang; -rss_limit_mb bounds a leak.
FUZZ_RUN = $(B)/fuzz/bin/fuzz-$(1) -timeout=10 -rss_limit_mb=2048 \
	-artifact_prefix=$(B)/fuzz/crash/$(1)- -print_final_stats=1

fuzz: $(FUZZ_BINS)
	@mkdir -p $(B)/fuzz/crash
	@set -e; for t in $(FUZZ_NAMES); do \
	    mkdir -p $(B)/fuzz/corpus/$$t; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	    $(call FUZZ_RUN,$$t) -max_total_time=$(FUZZ_SECONDS) \
	        $(B)/fuzz/corpus/$$t tests/fuzz/corpus/$$t \
	        > $(B)/fuzz/$$t.log 2>&1 || \
	        { tail -40 $(B)/fuzz/$$t.log; exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^Done' \
	        $(B)/fuzz/$$t.log | tr '\n' ' '; echo; \
	done

fuzz-check: $(FUZZ_BINS)
	@sh tests/fuzz/check.sh $(B) $(FUZZ_CHECK_SECONDS) $(FUZZ_NAMES)

# ---- memcheck: a glibc build without sanitizers, under valgrind ----

memcheck_CC := gcc
memcheck_CFLAGS := $(STD) $(WARN) $(CURSES) -g -O1 -DEXO_TEST_SEAMS -Isrc
memcheck_NEEDS :=
$(eval $(call build_config,memcheck))

MEMCHECK_BINS := $(patsubst tests/unit/%.c,$(B)/memcheck/tests/%,$(UNIT_SRCS))
MEMCHECK_LIB_OBJS := $(filter-out $(B)/memcheck/obj/main.o,$(memcheck_OBJS))

$(B)/memcheck/unit-obj/%.o: tests/unit/%.c | deps
	@mkdir -p $(@D)
	$(memcheck_CC) $(memcheck_CFLAGS) -Itests/unit -MMD -MP -c -o $@ $<

-include $(patsubst tests/unit/%.c,$(B)/memcheck/unit-obj/%.d,$(UNIT_SRCS))

$(MEMCHECK_BINS): $(B)/memcheck/tests/%: $(B)/memcheck/unit-obj/%.o \
    $(MEMCHECK_LIB_OBJS)
	@mkdir -p $(@D)
	$(memcheck_CC) -o $@ $^ $(debug_LIBS)

# Each program runs in its own folder, as tests/run.py runs them. Only
# valgrind's own findings fail here: a test that fails under valgrind's
# slowdown is listed, and make check runs it again without valgrind.
memcheck: $(MEMCHECK_BINS)
	@sh tests/unit/memcheck.sh $(MEMCHECK_BINS)

# make check replays the corpora with a short pass and runs memcheck
# (about two minutes together on two cores). It builds the programs here,
# and tests/run.py runs the commands of fuzz-check and memcheck and counts
# their results with the others.
check: $(FUZZ_BINS) $(MEMCHECK_BINS)
CHECK_COUNTED += --counted 'sh tests/fuzz/check.sh $(B) \
	$(FUZZ_CHECK_SECONDS) $(FUZZ_NAMES)' \
	--counted 'sh tests/unit/memcheck.sh $(MEMCHECK_BINS)'
