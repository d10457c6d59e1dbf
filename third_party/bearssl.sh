#!/bin/sh
# bearssl.sh OUTDIR: build BearSSL's static library with musl-gcc from
# the Debian source package unpacked by fetch.sh.
name=bearssl
# shellcheck source=third_party/common.sh
. "$(dirname "$0")/common.sh"

prepare_tree
echo "building bearssl $(pinned_version) with musl-gcc (log: $log)" >&2

# Upstream's Unix settings with musl-gcc. Only the static library is
# built: no shared library, tools or tests.
cat >"$work/conf/exo-musl.mk" <<'MK'
include conf/Unix.mk
CC = musl-gcc
LD = musl-gcc
CFLAGS = -W -Wall -O2
DLL = no
TOOLS = no
TESTS = no
MK
step make -C "$work" -j"$jobs" CONF=exo-musl lib

cp "$work/build/libbearssl.a" "$prefix/lib/libbearssl.a"
cp "$work"/inc/*.h "$prefix/include/"
record_version
