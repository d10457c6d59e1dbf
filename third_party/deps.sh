#!/bin/sh
# deps.sh [windows]: check that the Debian packages the build needs are
# installed; with "windows", those of the Windows build and its tests.
# As root, install the missing ones (one apt-get update, then apt-get
# install). As any other user, name them with the command and fail.
# Prints nothing when every package is present.
set -eu

# build-essential brings gcc (with libasan and libubsan for the sanitizer
# build), make, libc6-dev and dpkg-dev (dpkg-source unpacks the source
# packages). ncurses-bin provides tic and infocmp, which the ncurses build
# runs to compile its fallback terminal entries. file checks that the
# release binary is static. systemd brings systemd-analyze, which checks
# the unit file in docs/systemd. clang-14 and libclang-rt-14-dev (the
# libFuzzer runtime) build the fuzz targets, and valgrind runs memcheck.
packages="build-essential make dpkg-dev xz-utils musl-tools \
libbearssl-dev libjsmn-dev libncurses-dev ncurses-bin \
python3 curl openssl ca-certificates tmux file systemd \
clang-14 libclang-rt-14-dev valgrind"

# The Windows build: mingw-w64 cross-compiles exoconnect.exe (and brings
# windres and objdump), and wine runs it in the tests.
if [ "${1:-}" = windows ]; then
	packages="gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 wine"
fi

missing=
for pkg in $packages; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null) ||
	    status=
	case "$status" in
	ii*) ;;
	*) missing="$missing $pkg" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing Debian packages:$missing" >&2
	echo "deps.sh: install them with:" \
	    "sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi

echo "deps.sh: installing missing Debian packages:$missing" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # $missing is a list of package names
if ! { apt-get -q update && apt-get -q install -y $missing; } \
    >"$log" 2>&1 </dev/null; then
	cat "$log" >&2
	echo "deps.sh: apt-get failed; see the output above" >&2
	exit 1
fi
