# mk/windows.mk: the Windows build, included by the Makefile.
#
#   make windows       build/windows/exoconnect.exe: static, stripped
#   make windows-test  build/windows-test/exoconnect.exe: the same with the
#                      test seams (-DEXO_TEST_SEAMS), which the wine tests
#                      run, and the portable unit tests as .exe files in
#                      build/windows-test/tests
#   make dist          both release binaries and one zip per platform in
#                      build/dist, then prints their sizes
#
# mingw-w64 cross-compiles every src/*.c except plat-posix.c. BearSSL and
# ncurses come from the same Debian source packages as the musl build,
# built once into build/third_party/mingw. The Windows targets check their
# own Debian packages (third_party/deps.sh windows), so the Linux targets
# do not need mingw-w64 or wine.

MINGW := $(TP)/mingw
WIN_CC := x86_64-w64-mingw32-gcc-win32
WIN_WINDRES := x86_64-w64-mingw32-windres
WIN_OBJDUMP := x86_64-w64-mingw32-objdump

WIN_SRCS := $(filter-out src/plat-posix%.c,$(wildcard src/*.c))

# -municode makes the C runtime call wmain, which plat-win32.c defines.
WIN_CFLAGS := $(STD) $(WARN) $(CURSES) -O2 -municode -DNCURSES_STATIC \
	-Isrc -isystem $(MINGW)/include -isystem $(MINGW)/include/ncursesw
WIN_LDFLAGS := -static -municode
# System DLLs only: Winsock, CNG random numbers, the certificate store and
# DPAPI, ACLs, ShellExecuteW, the WinHTTP proxy settings and the adapter
# addresses (IP Helper) for the device certificate.
WIN_LIBS := -L$(MINGW)/lib -lncursesw -lbearssl -lws2_32 -lbcrypt \
	-lcrypt32 -ladvapi32 -lshell32 -lwinhttp -liphlpapi
WIN_STAMPS := $(MINGW)/bearssl.version $(MINGW)/ncurses.version \
	$(MINGW)/jsmn.version

# The version resource takes EXO_VERSION ("0.1.0") from service.h, as
# text and as four numbers (0,1,0,0).
EXO_VERSION := $(shell sed -n \
	's/^\#define EXO_VERSION "\([0-9]*\.[0-9]*\.[0-9]*\)".*/\1/p' \
	src/service.h)
WIN_COMMA := ,
WIN_RCFLAGS := -DEXO_VERSION_TEXT=\\\"$(EXO_VERSION)\\\" \
	-DEXO_VERSION_NUMBERS=$(subst .,$(WIN_COMMA),$(EXO_VERSION))$(WIN_COMMA)0

windows_CFLAGS := $(WIN_CFLAGS)
windows_LDFLAGS := $(WIN_LDFLAGS) -s
windows-test_CFLAGS := $(WIN_CFLAGS) -DEXO_TEST_SEAMS
windows-test_LDFLAGS := $(WIN_LDFLAGS)

# $(call win_config,NAME) defines NAME_OBJS and the rules that compile the
# Windows sources, the generated roots.c and the resource script into
# build/NAME/obj.
define win_config
$(1)_OBJS := $$(patsubst src/%.c,$$(B)/$(1)/obj/%.o,$$(WIN_SRCS)) \
	$$(B)/$(1)/obj/roots.o $$(B)/$(1)/obj/exoconnect-rc.o

$$(B)/$(1)/obj/%.o: src/%.c $$(WIN_STAMPS) | deps-windows
	@mkdir -p $$(@D)
	$$(WIN_CC) $$($(1)_CFLAGS) -MMD -MP -c -o $$@ $$<

$$(B)/$(1)/obj/roots.o: $$(GEN_ROOTS) src/roots.h | deps-windows
	@mkdir -p $$(@D)
	$$(WIN_CC) $$($(1)_CFLAGS) -MMD -MP -c -o $$@ $$<

$$(B)/$(1)/obj/exoconnect-rc.o: src/exoconnect.rc src/exoconnect.manifest \
	src/service.h | deps-windows
	@mkdir -p $$(@D)
	$$(WIN_WINDRES) $$(WIN_RCFLAGS) -Isrc -o $$@ src/exoconnect.rc

$$(B)/$(1)/exoconnect.exe: $$($(1)_OBJS)
	$$(WIN_CC) $$($(1)_LDFLAGS) -o $$@ $$^ $$(WIN_LIBS)

-include $$($(1)_OBJS:.o=.d)
endef

$(foreach c,windows windows-test,$(eval $(call win_config,$(c))))

# Unit tests that are portable C also run on Windows, under wine: each
# links every object of the test build except main.o and the resources.
# The list is explicit because a unit test may use POSIX calls.
WIN_UNIT_NAMES := plat-win32 auth json sasl smtp-data util control tui \
	cli-service
WIN_UNIT_BINS := $(patsubst %,$(B)/windows-test/tests/test-%.exe, \
	$(WIN_UNIT_NAMES))
WIN_UNIT_OBJS := $(filter-out $(B)/windows-test/obj/main.o \
	$(B)/windows-test/obj/exoconnect-rc.o,$(windows-test_OBJS))

$(B)/windows-test/unit-obj/%.o: tests/unit/%.c $(WIN_STAMPS) | deps-windows
	@mkdir -p $(@D)
	$(WIN_CC) $(windows-test_CFLAGS) -Itests/unit -MMD -MP -c -o $@ $<

$(WIN_UNIT_BINS): $(B)/windows-test/tests/%.exe: \
	$(B)/windows-test/unit-obj/%.o $(WIN_UNIT_OBJS)
	@mkdir -p $(@D)
	$(WIN_CC) $(windows-test_LDFLAGS) -o $@ $^ $(WIN_LIBS)

-include $(patsubst %,$(B)/windows-test/unit-obj/test-%.d,$(WIN_UNIT_NAMES))

.PHONY: windows windows-test third-party-windows deps-windows dist

windows: $(B)/windows/exoconnect.exe

windows-test: $(B)/windows-test/exoconnect.exe $(WIN_UNIT_BINS)

third-party-windows: $(WIN_STAMPS)

deps-windows: deps
	@sh third_party/deps.sh windows

$(MINGW)/bearssl.version: third_party/bearssl.sh $(TP_COMMON) \
	$(TP)/src/.fetched $(wildcard third_party/patches/bearssl/*) \
	| deps-windows
	$(TP_LOCKED) sh third_party/bearssl.sh $(TP) mingw

$(MINGW)/ncurses.version: third_party/ncurses.sh $(TP_COMMON) \
	$(TP)/src/.fetched $(wildcard third_party/patches/ncurses/*) \
	| deps-windows
	$(TP_LOCKED) sh third_party/ncurses.sh $(TP) mingw

$(MINGW)/jsmn.version: third_party/jsmn.sh $(TP_COMMON) \
	$(wildcard third_party/patches/jsmn/*) | deps-windows
	$(TP_LOCKED) sh third_party/jsmn.sh $(TP) mingw

# ---- release packages ----

DIST := $(B)/dist
DIST_DOCS := README.md $(wildcard docs/*.md)

# Each zip holds the binary, README.md, docs/ and the licence texts of
# the libraries linked into it, copied from the unpacked source packages
# (the jsmn licence from libjsmn-dev's copyright file).
DIST_LICENSES = \
	$(TP)/src/bearssl/LICENSE.txt:LICENSE-bearssl.txt \
	$(TP)/src/ncurses/COPYING:LICENSE-ncurses.txt \
	/usr/share/doc/libjsmn-dev/copyright:LICENSE-jsmn.txt

# $(call dist_zip,FOLDER,BINARY) stages FOLDER under build/dist and zips
# it with python3's zipfile module, so no zip program is needed.
define dist_zip
	rm -rf $(DIST)/$(1) $(DIST)/$(1).zip
	mkdir -p $(DIST)/$(1)/docs
	cp $(2) $(DIST)/$(1)/
	cp README.md $(DIST)/$(1)/
	cp $(wildcard docs/*.md) $(DIST)/$(1)/docs/
	for pair in $(DIST_LICENSES); do \
		cp "$${pair%%:*}" "$(DIST)/$(1)/$${pair##*:}" || exit 1; \
	done
	cd $(DIST) && python3 -m zipfile -c $(1).zip $(1)
endef

dist: $(B)/exoconnect $(B)/windows/exoconnect.exe $(DIST_DOCS) \
	$(wildcard mk/*.mk)
	$(call dist_zip,exoconnect-$(EXO_VERSION)-linux-x86_64,$(B)/exoconnect)
	$(call dist_zip,exoconnect-$(EXO_VERSION)-windows-x64,$(B)/windows/exoconnect.exe)
	@cd $(DIST) && for f in */exoconnect */exoconnect.exe *.zip; do \
		printf '%-52s %8d bytes\n' "$$f" "$$(wc -c <"$$f")"; \
	done
