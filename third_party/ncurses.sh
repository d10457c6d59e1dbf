#!/bin/sh
# ncurses.sh OUTDIR [musl|mingw]: build ncursesw's static library with
# musl-gcc or mingw-w64 from the Debian source package unpacked by
# fetch.sh, with built-in terminal descriptions so the program starts
# where the host has no terminfo.
name=ncurses
# shellcheck source=third_party/common.sh
. "$(dirname "$0")/common.sh"

# Compiled into the library from the source package's own
# misc/terminfo.src, using the host's tic and infocmp (ncurses-bin).
fallbacks=xterm-256color,xterm,tmux-256color,screen-256color,screen,vt100,linux

# Where the library looks for a host terminfo entry before it tries the
# built-in ones: the folders Debian, Fedora, Arch and Alpine use.
terminfo_dirs=/etc/terminfo:/lib/terminfo:/usr/share/terminfo:/usr/lib/terminfo

prepare_tree
echo "building ncurses $(pinned_version) for $target with $cc" \
    "(log: $log)" >&2

for tool in tic infocmp; do
	command -v "$tool" >/dev/null ||
	    die "$tool not found; install the Debian package ncurses-bin"
done

# Options for both targets: wide characters, static only, no programs,
# tests, C++, Ada or manual pages, and headers in include/ncursesw
# (--disable-overwrite), next to nothing of the host's.
common_options="--prefix=$prefix \
    --enable-widec --enable-sp-funcs --enable-ext-colors \
    --without-shared --with-normal --without-debug --without-profile \
    --without-cxx --without-cxx-binding --without-ada \
    --without-progs --without-tests --without-manpages \
    --disable-pc-files --disable-overwrite \
    --with-fallbacks=$fallbacks \
    --with-tic-path=$(command -v tic) \
    --with-infocmp-path=$(command -v infocmp)"

if [ "$target" = musl ]; then
	# --disable-db-install keeps the host's terminfo folders out of the
	# install; the library still searches them at run time.
	# shellcheck disable=SC2086 # one word per option
	(cd "$work" && step ./configure CC="$cc" CFLAGS=-O2 \
	    $common_options \
	    --without-gpm --without-dlsym \
	    --disable-db-install \
	    --disable-home-terminfo \
	    --with-terminfo-dirs="$terminfo_dirs" \
	    --with-default-terminfo-dir=/usr/share/terminfo)
else
	# Windows has no terminfo database: the console driver
	# (--enable-term-driver) draws on the Windows console, and the
	# fallbacks serve terminals such as an SSH session's.
	# shellcheck disable=SC2086 # one word per option
	(cd "$work" && step ./configure CC="$cc" CFLAGS=-O2 \
	    --host="$host" --build="$(uname -m)-linux-gnu" \
	    $common_options \
	    --enable-term-driver --disable-database \
	    --disable-home-terminfo)
fi
step make -C "$work" -j"$jobs" libs
step make -C "$work" install.libs install.includes

# Check what the program relies on: each fallback entry is built in
# (_nc_fallback2 is the library's own lookup of them), and an unknown TERM
# makes newterm() return NULL instead of ending the process.
check="$out/work/ncurses-check-$target"
cat >"$check.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <curses.h>

extern const void *_nc_fallback2(const char *);

int
main(int argc, char **argv)
{
	SCREEN	*s;
	FILE	*f;
	int	 i;

	for (i = 1; i < argc; i++) {
		if (_nc_fallback2(argv[i]) == NULL) {
			printf("not built in: %s\n", argv[i]);
			return 1;
		}
	}
	if ((f = fopen("/dev/null", "w+")) == NULL)
		return 1;
	if ((s = newterm("exo-no-such-terminal", f, f)) != NULL) {
		printf("newterm accepted an unknown terminal\n");
		return 1;
	}
	if ((s = newterm(argv[1], f, f)) == NULL) {
		printf("newterm rejected %s\n", argv[1]);
		return 1;
	}
	endwin();
	delscreen(s);
	return 0;
}
C
step "$cc" -static -O2 -DNCURSES_STATIC -I"$prefix/include" \
    -I"$prefix/include/ncursesw" -o "$check" \
    "$check.c" -L"$prefix/lib" -lncursesw
# The Windows build is only linked here, because running it needs wine;
# the wine tests run the program itself.
if [ "$target" = musl ]; then
	# shellcheck disable=SC2046 # one argument per terminal name
	step env TERMINFO=/nonexistent "$check" \
	    $(echo "$fallbacks" | tr , ' ')
fi
record_version
