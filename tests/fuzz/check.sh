#!/bin/sh
# check.sh BUILD SECONDS NAME...: the short fuzz pass of make check. For
# each target NAME, replays its seed corpus in tests/fuzz/corpus/NAME,
# then fuzzes for SECONDS from it, with BUILD/fuzz/bin/fuzz-NAME. Prints
# "pass fuzz-NAME" or "fail fuzz-NAME" followed by the end of its log,
# indented, and exits 1 when a target failed. New inputs go to
# BUILD/fuzz/check/NAME, crashes to BUILD/fuzz/crash/.
set -u
b=${1:?usage: check.sh BUILD SECONDS NAME...}
seconds=${2:?usage: check.sh BUILD SECONDS NAME...}
shift 2

mkdir -p "$b/fuzz/crash"
fail=0
for t in "$@"; do
	mkdir -p "$b/fuzz/check/$t"
	rm -f "$b/fuzz/check/$t"/*
	if "$b/fuzz/bin/fuzz-$t" -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$b/fuzz/crash/$t-" -print_final_stats=1 \
	    -max_total_time="$seconds" "$b/fuzz/check/$t" \
	    "tests/fuzz/corpus/$t" >"$b/fuzz/$t.check.log" 2>&1; then
		echo "pass fuzz-$t"
	else
		echo "fail fuzz-$t"
		tail -n 40 "$b/fuzz/$t.check.log" | sed 's/^/  /'
		fail=1
	fi
done
exit $fail
