#!/bin/sh
# fetch.sh OUTDIR: download the Debian source packages pinned in
# third_party/versions and unpack each into OUTDIR/src/NAME.
#
# apt runs with a private state folder under OUTDIR/apt, so the host's
# package lists stay untouched and no root is needed. Its sources are
# the host's Debian archive entries, turned into deb-src entries with the
# same URIs, suites and keyring. apt checks the archive's signature on the
# Release file and every downloaded file's hash against the signed index.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: fetch.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
apt="$out/apt"
src="$out/src"
log="$out/log/fetch.log"

die() {
	echo "fetch.sh: $*" >&2
	exit 1
}

# Print each deb822 stanza of a Debian archive (URIs ending in /debian
# or /debian-security) as a deb-src stanza.
deb822_to_src() {
	awk 'BEGIN { RS = ""; ORS = "\n\n" }
	/(^|\n)Types:[^\n]*[ \t]deb([ \t]|\n|$)/ &&
	    /(^|\n)URIs:[^\n]*\/debian(-security)?\/?([ \t]|\n|$)/ &&
	    !/(^|\n)Enabled:[ \t]*no/ {
		sub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src")
		sub(/^\n/, "")
		print
	}' "$@"
}

# Print each one-line "deb" entry of a Debian archive as "deb-src".
list_to_src() {
	sed -n -E 's|^[ \t]*deb([ \t].*/debian(-security)?/?[ \t].*)$|deb-src\1|p' \
	    "$@"
}

write_sources() {
	mkdir -p "$apt/sources.list.d" "$apt/lists/partial" \
	    "$apt/cache/archives/partial"
	: >"$apt/sources.list.d/debian-src.sources"
	: >"$apt/sources.list.d/debian-src.list"
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && deb822_to_src "$f" \
		    >>"$apt/sources.list.d/debian-src.sources"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] && list_to_src "$f" \
		    >>"$apt/sources.list.d/debian-src.list"
	done
	if [ ! -s "$apt/sources.list.d/debian-src.sources" ] &&
	    [ ! -s "$apt/sources.list.d/debian-src.list" ]; then
		die "no Debian archive entry (URI ending in /debian) found" \
		    "in /etc/apt/sources.list or /etc/apt/sources.list.d"
	fi
}

run_apt() {
	cmd=$1
	shift
	"$cmd" -q \
	    -o Dir::Etc::SourceList=/dev/null \
	    -o Dir::Etc::SourceParts="$apt/sources.list.d" \
	    -o Dir::State::Lists="$apt/lists" \
	    -o Dir::Cache="$apt/cache" \
	    -o APT::Sandbox::User="$(id -un)" \
	    "$@"
}

# Download NAME at VERSION and unpack it into $src/NAME, Debian's
# patches applied.
fetch_one() {
	name=$1
	version=$2
	dl="$src/download/$name"

	if ! run_apt apt-cache showsrc "$name" 2>>"$log" |
	    grep -qx "Version: $version"; then
		found=$(run_apt apt-cache showsrc "$name" 2>/dev/null |
		    sed -n 's/^Version: //p' | paste -sd ' ' -)
		die "$name $version is not in the archive (found:" \
		    "${found:-nothing}); after reviewing the changes, set" \
		    "the new version in third_party/versions"
	fi
	rm -rf "$dl" "${src:?}/$name"
	mkdir -p "$dl"
	(cd "$dl" && run_apt apt-get --download-only source \
	    "$name=$version") >>"$log" 2>&1 ||
	    die "downloading $name $version failed; see $log"
	dpkg-source -x "$dl"/*.dsc "$src/$name" >>"$log" 2>&1 ||
	    die "unpacking $name $version failed; see $log"
	# dpkg-source leaves links to the upstream tarballs beside the tree.
	rm -f "$src/${name}_"*
}

mkdir -p "$out/log"
: >"$log"
write_sources
run_apt apt-get update >>"$log" 2>&1 ||
    die "apt-get update for the source indexes failed; see $log"

# Only the packages built from source. jsmn comes from libjsmn-dev, see
# jsmn.sh.
grep -E '^(bearssl|ncurses)[ \t]' "$here/versions" |
while read -r name version; do
	fetch_one "$name" "$version"
done
