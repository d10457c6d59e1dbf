# mk/i18n.mk: the translation catalogs, included at the end of the
# Makefile after mk/windows.mk and mk/fuzz.mk, whose build configurations
# it extends.
#
#   make check-catalogs   tools/check-catalogs: every locale/LANG.po has
#                         every message of locale/messages.pot, and each
#                         translation keeps the printf conversions and
#                         {placeholders} of the English text; make check
#                         runs it
#   make messages         tools/extract-messages: rewrite
#                         locale/messages.pot from _(), N_(), ev_emit and err_set
#                         calls in src/*.c
#
# tools/gen-catalogs compiles locale/*.po into build/gen/catalogs.c, which
# every build links like build/gen/roots.c, so the binary stays one file.

GEN_CATALOGS := $(B)/gen/catalogs.c
LOCALE_PO := $(wildcard locale/*.po)

$(GEN_CATALOGS): tools/gen-catalogs tools/catalogs.py $(LOCALE_PO) | deps
	@mkdir -p $(@D)
	python3 tools/gen-catalogs --locale locale $@

# $(call i18n_config,NAME,COMPILER,ORDER) compiles the generated catalogs
# into build/NAME/obj with COMPILER and NAME_CFLAGS, and adds the object
# to NAME_OBJS. The link rules read NAME_OBJS when the Makefile is parsed,
# so each program below also names the object as a prerequisite.
define i18n_config
$$(B)/$(1)/obj/catalogs.o: $$(GEN_CATALOGS) src/i18n-int.h | $(3)
	@mkdir -p $$(@D)
	$$($(2)) $$($(1)_CFLAGS) -c -o $$@ $$<

$(1)_OBJS += $$(B)/$(1)/obj/catalogs.o
endef

$(foreach c,release test debug memcheck,\
	$(eval $(call i18n_config,$(c),$(c)_CC,deps)))
$(eval $(call i18n_config,fuzz,fuzz_CC,deps))
$(foreach c,windows windows-test,\
	$(eval $(call i18n_config,$(c),WIN_CC,deps-windows)))

$(B)/exoconnect: $(B)/release/obj/catalogs.o
$(B)/test/exoconnect: $(B)/test/obj/catalogs.o
$(B)/debug/exoconnect: $(B)/debug/obj/catalogs.o
$(UNIT_BINS): $(B)/debug/obj/catalogs.o
$(MEMCHECK_BINS): $(B)/memcheck/obj/catalogs.o
$(B)/windows/exoconnect.exe: $(B)/windows/obj/catalogs.o
$(B)/windows-test/exoconnect.exe: $(B)/windows-test/obj/catalogs.o
$(WIN_UNIT_BINS): $(B)/windows-test/obj/catalogs.o

# The fuzz link recipe names FUZZ_LIB_OBJS itself instead of $^.
FUZZ_LIB_OBJS += $(B)/fuzz/obj/catalogs.o
$(FUZZ_BINS): $(B)/fuzz/obj/catalogs.o

.PHONY: check-catalogs messages

check: check-catalogs

check-catalogs:
	python3 tools/check-catalogs --locale locale --src src

messages:
	python3 tools/extract-messages locale/messages.pot
