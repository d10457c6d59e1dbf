# common.sh: helpers shared by the third_party build recipes, which
# source it after setting $name. Each recipe is called as
# "RECIPE OUTDIR [TARGET]" and builds one library for TARGET into
# $out/TARGET/{lib,include}. TARGET is musl (the default: static Linux
# binaries with musl-gcc) or mingw (64-bit Windows with mingw-w64).

set -eu
: "${name:?set name before sourcing common.sh}"

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: $0 OUTDIR [musl|mingw]}
target=${2:-musl}
# shellcheck disable=SC2034 # used by the recipes that source this file
case "$target" in
musl)
	cc=musl-gcc
	ar=ar
	host=
	;;
mingw)
	# The win32 thread model needs no libwinpthread DLL.
	cc=x86_64-w64-mingw32-gcc-win32
	ar=x86_64-w64-mingw32-ar
	host=x86_64-w64-mingw32
	;;
*)
	echo "$name: unknown target '$target' (musl or mingw)" >&2
	exit 1
	;;
esac
command -v "$cc" >/dev/null || {
	echo "$name: $cc not found; run third_party/deps.sh" >&2
	exit 1
}
mkdir -p "$out/log" "$out/work" "$out/$target/lib" "$out/$target/include"
out=$(cd "$out" && pwd)
prefix="$out/$target"
log="$out/log/$name-$target.log"
: >"$log"
# shellcheck disable=SC2034 # used by the recipes that source this file
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

# Our make passes its command-line variables (make CFLAGS=...) down in
# MAKEFLAGS, and the libraries' own makefiles would take them.
unset MAKEFLAGS MFLAGS MAKELEVEL

die() {
	echo "$name: $*" >&2
	exit 1
}

# Run a command with its output in the log; on failure show the end of
# the log and stop.
step() {
	if ! "$@" >>"$log" 2>&1; then
		tail -n 30 "$log" >&2
		die "failed: $*; full output in $log"
	fi
}

# Print the version pinned for $name in third_party/versions.
pinned_version() {
	awk -v n="$name" '$1 == n { print $2 }' "$here/versions"
}

# Copy the unpacked source of $name into a fresh work folder and apply
# our patches from third_party/patches/$name in name order. Sets $work.
prepare_tree() {
	work="$out/work/$name-$target"
	[ -d "$out/src/$name" ] ||
	    die "no unpacked source in $out/src/$name; run fetch.sh first"
	rm -rf "$work"
	cp -a "$out/src/$name" "$work"
	for p in "$here/patches/$name"/*.patch; do
		[ -f "$p" ] || continue
		step patch -d "$work" -p1 --batch --forward -i "$p"
	done
}

# Record the version that was built, for the build's own reference.
record_version() {
	echo "$name $(pinned_version)" >"$prefix/$name.version"
}
