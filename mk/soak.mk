# mk/soak.mk: soak and fault tests against the doubles on 127.0.0.1.
# Included at the end of the Makefile.
#
#   make soak         the full run (EXO_SOAK=long): 1,000 device sessions
#                     over 10 minutes with faults, floods, kill -9 rounds
#   make soak-check   the same tests at a small scale, about a minute,
#                     against the sanitizer build (build/debug/exoconnect),
#                     so an AddressSanitizer, LeakSanitizer or UBSan
#                     report of serve fails the test that caused it
#
# Both end with "N passed, N failed"; the figures they print are for
# docs/benchmarks.md, never pass/fail thresholds. In make check, only
# tests/run.py's final line counts.

.PHONY: soak soak-check

# make check runs the short pass (about a minute) from tests/run.py, which
# counts its results with the others.
check: $(B)/debug/exoconnect
CHECK_COUNTED += --counted 'EXO_BIN=$(B)/debug/exoconnect python3 \
	tests/soak/soak.py'

soak: $(B)/test/exoconnect
	EXO_BIN=$(B)/test/exoconnect EXO_SOAK=long python3 tests/soak/soak.py

soak-check: $(B)/debug/exoconnect
	EXO_BIN=$(B)/debug/exoconnect python3 tests/soak/soak.py
