# Makefile: builds exoconnect and its tests; all output goes under build/.
#
#   make, make all   build/exoconnect: static musl release binary, stripped
#   make test-bin    build/test/exoconnect: the release build with the test
#                    seams (-DEXO_TEST_SEAMS), which the end-to-end tests run
#   make debug       build/debug/: glibc build with ASan and UBSan, and one
#                    program per tests/unit/test-*.c in build/debug/tests
#   make check       all three and the Windows builds, then tests/run.py
#   make windows, make windows-test, make dist: see mk/windows.mk
#   make run         build, then run "build/exoconnect serve $(ARGS)"
#   make clean       remove build/ except the third-party libraries
#   make distclean   remove build/
#
# The first run checks the Debian packages (third_party/deps.sh) and
# builds BearSSL and ncurses for musl from Debian's source packages
# (third_party/*.sh); later runs reuse them until a recipe changes.

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:

B := build
TP := $(B)/third_party
MUSL := $(TP)/musl

# Platform files: plat-posix.c for Linux, plat-win32.c for Windows
# (mk/windows.mk builds the Windows binaries).
SRCS := $(filter-out src/plat-win32%.c,$(wildcard src/*.c))
# test-plat-win32.c tests plat-win32.c, so only mk/windows.mk builds it.
UNIT_SRCS := $(filter-out tests/unit/test-plat-win32.c, \
	$(wildcard tests/unit/test-*.c))
GEN_ROOTS := $(B)/gen/roots.c
CERT_DIR := /usr/share/ca-certificates/mozilla

STD := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wundef -Werror
# Wide-character curses (get_wch, add_wch): curses.h turns them on by
# itself only when _XOPEN_SOURCE is 500 or more, which STD does not set.
CURSES := -DNCURSES_WIDECHAR=1

# Release and test binaries: musl, fully static. The third-party headers
# are system headers (-isystem) so their own warnings do not fail -Werror.
MUSL_CC := musl-gcc
MUSL_CFLAGS := $(STD) $(WARN) $(CURSES) -O2 -Isrc \
	-isystem $(MUSL)/include -isystem $(MUSL)/include/ncursesw
MUSL_LDFLAGS := -static
MUSL_LIBS := -L$(MUSL)/lib -lncursesw -lbearssl -lpthread
MUSL_STAMPS := $(MUSL)/bearssl.version $(MUSL)/ncurses.version \
	$(MUSL)/jsmn.version

release_CC := $(MUSL_CC)
release_CFLAGS := $(MUSL_CFLAGS)
release_LDFLAGS := $(MUSL_LDFLAGS) -s
release_LIBS := $(MUSL_LIBS)
release_NEEDS := $(MUSL_STAMPS)

test_CC := $(MUSL_CC)
test_CFLAGS := $(MUSL_CFLAGS) -DEXO_TEST_SEAMS
test_LDFLAGS := $(MUSL_LDFLAGS)
test_LIBS := $(MUSL_LIBS)
test_NEEDS := $(MUSL_STAMPS)

# Debug build: glibc and the system's -dev packages, since the sanitizers
# need glibc. UBSan stops at the first error so a test cannot pass over it.
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
debug_CC := gcc
debug_CFLAGS := $(STD) $(WARN) $(CURSES) -g -O1 $(SAN) -DEXO_TEST_SEAMS -Isrc
debug_LDFLAGS := $(SAN)
debug_LIBS := -lncursesw -lbearssl -lpthread
debug_NEEDS :=

# $(call build_config,NAME) defines NAME_OBJS and the rules that compile
# src/*.c and the generated roots.c into build/NAME/obj with NAME_CC and
# NAME_CFLAGS. -MMD -MP record each object's headers in a .d file.
define build_config
$(1)_OBJS := $$(patsubst src/%.c,$$(B)/$(1)/obj/%.o,$$(SRCS)) \
	$$(B)/$(1)/obj/roots.o

$$(B)/$(1)/obj/%.o: src/%.c $$($(1)_NEEDS) | deps
	@mkdir -p $$(@D)
	$$($(1)_CC) $$($(1)_CFLAGS) -MMD -MP -c -o $$@ $$<

$$(B)/$(1)/obj/roots.o: $$(GEN_ROOTS) src/roots.h | deps
	@mkdir -p $$(@D)
	$$($(1)_CC) $$($(1)_CFLAGS) -MMD -MP -c -o $$@ $$<

-include $$($(1)_OBJS:.o=.d)
endef

$(foreach c,release test debug,$(eval $(call build_config,$(c))))

# Unit test programs link every object except main.o.
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/debug/tests/%,$(UNIT_SRCS))
UNIT_OBJS := $(filter-out $(B)/debug/obj/main.o,$(debug_OBJS))

.PHONY: all test-bin debug check run clean distclean deps third-party

all: $(B)/exoconnect

test-bin: $(B)/test/exoconnect

debug: $(B)/debug/exoconnect $(UNIT_BINS)

third-party: $(MUSL_STAMPS)

$(B)/exoconnect: $(release_OBJS)
	@mkdir -p $(@D)
	$(release_CC) $(release_LDFLAGS) -o $@ $^ $(release_LIBS)

$(B)/test/exoconnect: $(test_OBJS)
	@mkdir -p $(@D)
	$(test_CC) $(test_LDFLAGS) -o $@ $^ $(test_LIBS)

$(B)/debug/exoconnect: $(debug_OBJS)
	@mkdir -p $(@D)
	$(debug_CC) $(debug_LDFLAGS) -o $@ $^ $(debug_LIBS)

# Test objects sit outside build/debug/tests, which holds only programs.
UNIT_TEST_OBJS := \
	$(patsubst tests/unit/%.c,$(B)/debug/unit-obj/%.o,$(UNIT_SRCS))

$(UNIT_TEST_OBJS): $(B)/debug/unit-obj/%.o: tests/unit/%.c | deps
	@mkdir -p $(@D)
	$(debug_CC) $(debug_CFLAGS) -Itests/unit -MMD -MP -c -o $@ $<

$(UNIT_BINS): $(B)/debug/tests/%: $(B)/debug/unit-obj/%.o $(UNIT_OBJS)
	@mkdir -p $(@D)
	$(debug_CC) $(debug_LDFLAGS) -o $@ $^ $(debug_LIBS)

-include $(UNIT_TEST_OBJS:.o=.d)

# The roots come from the build machine's ca-certificates, so a new
# version of that package is picked up by the next build.
ROOT_CERTS := $(wildcard $(CERT_DIR)/DigiCert_Global_Root_*.crt \
	$(CERT_DIR)/Microsoft_*_Root_Certificate_Authority_2017.crt)

$(GEN_ROOTS): tools/gen-roots $(ROOT_CERTS) | deps
	@mkdir -p $(@D)
	python3 tools/gen-roots --certs $(CERT_DIR) $@

# Runs on every make, before anything is built; quiet when nothing is
# missing.
deps:
	@sh third_party/deps.sh

# Runs a third_party script under a lock per target (flock(1), from
# util-linux), so two make runs in one tree never build one library in
# the same work folder at once. The run that waited skips the script when
# the other one has made the target newer than its prerequisites.
TP_LOCKED = mkdir -p $(@D) && flock $@.lock sh -c 'test -f $@ && \
	test -z "$$(find $^ -newer $@)" || exec "$$@"' tp

$(TP)/src/.fetched: third_party/fetch.sh third_party/versions | deps
	$(TP_LOCKED) sh -c 'sh third_party/fetch.sh $(TP) && touch $@'

TP_COMMON := third_party/common.sh third_party/versions

$(MUSL)/bearssl.version: third_party/bearssl.sh $(TP_COMMON) \
	$(TP)/src/.fetched $(wildcard third_party/patches/bearssl/*)
	$(TP_LOCKED) sh third_party/bearssl.sh $(TP)

$(MUSL)/ncurses.version: third_party/ncurses.sh $(TP_COMMON) \
	$(TP)/src/.fetched $(wildcard third_party/patches/ncurses/*)
	$(TP_LOCKED) sh third_party/ncurses.sh $(TP)

$(MUSL)/jsmn.version: third_party/jsmn.sh $(TP_COMMON) \
	$(wildcard third_party/patches/jsmn/*) | deps
	$(TP_LOCKED) sh third_party/jsmn.sh $(TP)

# The Windows binaries are built and tested too: the tests in tests/wine
# run the test build under wine and check how both release binaries are
# linked.
check: all test-bin debug windows windows-test
	@file $(B)/exoconnect | grep -Eq 'statically linked|static-pie linked' || \
	    { echo "check: $(B)/exoconnect is not statically linked:" >&2; \
	    file $(B)/exoconnect >&2; exit 1; }
	@test -f tests/run.py || \
	    { echo "check: tests/run.py not found" >&2; exit 1; }
	python3 tests/run.py --unit-dir $(B)/debug/tests --bin $(B)/test/exoconnect \
	    --wine-exe $(B)/windows-test/exoconnect.exe \
	    --wine-unit-dir $(B)/windows-test/tests \
	    --check-bin $(B)/exoconnect --check-bin $(B)/windows/exoconnect.exe \
	    $(CHECK_COUNTED)

run: all
	./$(B)/exoconnect serve $(ARGS)

clean:
	rm -rf $(B)/release $(B)/test $(B)/debug $(B)/gen $(B)/exoconnect \
	    $(B)/windows $(B)/windows-test $(B)/dist

distclean:
	rm -rf $(B)

# ---- Windows ----

include mk/windows.mk

include mk/fuzz.mk

include mk/i18n.mk

include mk/soak.mk

include mk/bench.mk
