# common.sh: helpers shared by the third_party build recipes, which
# source it after setting $name. Each recipe builds one library with
# musl-gcc and installs it into $out/musl/{lib,include}.

set -eu
: "${name:?set name before sourcing common.sh}"

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: $0 OUTDIR}
mkdir -p "$out/log" "$out/work" "$out/musl/lib" "$out/musl/include"
out=$(cd "$out" && pwd)
prefix="$out/musl"
log="$out/log/$name.log"
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
	work="$out/work/$name"
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
