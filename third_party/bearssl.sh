#!/bin/sh
# bearssl.sh OUTDIR [musl|mingw]: build BearSSL's static library from the
# Debian source package unpacked by fetch.sh, with musl-gcc or mingw-w64.
name=bearssl
# shellcheck source=third_party/common.sh
. "$(dirname "$0")/common.sh"

prepare_tree
echo "building bearssl $(pinned_version) for $target with $cc" \
    "(log: $log)" >&2

# Upstream's Unix settings with our compiler and archiver. Only the
# static library is built: no shared library, tools or tests. Upstream
# has no MinGW configuration, but the Unix one works once -fPIC and the
# Unix suffixes are gone; BearSSL picks the Windows random source
# (CryptGenRandom) and clock by itself when _WIN32 is defined.
cat >"$work/conf/exo-$target.mk" <<MK
include conf/Unix.mk
CC = $cc
LD = $cc
AR = $ar
CFLAGS = -W -Wall -O2
DLL = no
TOOLS = no
TESTS = no
MK
if [ "$target" = mingw ]; then
	cat >>"$work/conf/exo-$target.mk" <<'MK'
E = .exe
D = .dll
MK
fi
step make -C "$work" -j"$jobs" CONF="exo-$target" lib

cp "$work/build/libbearssl.a" "$prefix/lib/libbearssl.a"
cp "$work"/inc/*.h "$prefix/include/"
record_version
