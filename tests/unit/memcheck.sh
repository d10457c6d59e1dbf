#!/bin/sh
# memcheck.sh PROGRAM...: runs each unit test program under valgrind's
# memcheck, in the program's folder. A definite or indirect leak or a
# memory error fails it: "fail memcheck-NAME" and valgrind's report,
# indented. Otherwise "pass memcheck-NAME", followed by any test that
# failed only under valgrind's slowdown. Exits 1 when a program failed.
# "Possibly lost" is left out: a thread that still runs at exit, such as
# the signal thread, shows its thread-local block that way.
set -u
fail=0
for t in "$@"; do
	name=$(basename "$t")
	dir=$(dirname "$t")
	(cd "$dir" && valgrind --quiet --leak-check=full \
	    --show-leak-kinds=definite,indirect \
	    --errors-for-leak-kinds=definite,indirect \
	    --error-exitcode=99 --track-fds=no \
	    --log-file="$name.valgrind" "./$name" >"$name.out" 2>&1)
	rc=$?
	if [ $rc -eq 99 ] || [ $rc -gt 128 ]; then
		echo "fail memcheck-$name"
		head -n 60 "$t.valgrind" | sed 's/^/  /'
		fail=1
	else
		echo "pass memcheck-$name"
		grep '^fail' "$t.out" | sed 's/^/  under valgrind: /'
	fi
done
exit $fail
