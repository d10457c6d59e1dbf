#!/bin/sh
# jsmn.sh OUTDIR [musl|mingw]: install jsmn.h into OUTDIR/TARGET/include.
# jsmn is a single header, and the one libjsmn-dev 1.1.0-2 installs is
# byte for byte the jsmn.h of the upstream 1.1.0 tarball, so it is taken
# from there (NOTES.md says why not from the source package).
name=jsmn
# shellcheck source=third_party/common.sh
. "$(dirname "$0")/common.sh"

installed=$(dpkg-query -W -f='${Version}' libjsmn-dev 2>/dev/null) ||
    die "libjsmn-dev is not installed; run third_party/deps.sh"
[ "$installed" = "$(pinned_version)" ] ||
    die "libjsmn-dev is $installed but third_party/versions pins" \
    "$(pinned_version); after reviewing the changes, update the pin"
header=$(dpkg-query -L libjsmn-dev | grep '/jsmn\.h$' | head -n 1)
[ -f "$header" ] || die "libjsmn-dev has no jsmn.h"

cp "$header" "$prefix/include/jsmn.h"
for p in "$here/patches/$name"/*.patch; do
	[ -f "$p" ] || continue
	step patch -d "$prefix/include" -p1 --batch --forward -i "$p"
done
record_version
