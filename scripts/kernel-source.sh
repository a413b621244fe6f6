#!/usr/bin/env bash
# Print the absolute path of the kernel source tree to build.
#
# Default: Debian's linux-source-$KERNEL_VERSION tarball (6.12 unless set),
# extracted once under $BUILD_DIR/src. The installed package's tarball is
# used when there is one; any other version is downloaded once from Debian
# unstable with a private apt configuration under $BUILD_DIR/apt, which
# leaves the system's apt sources alone (UMHMM_DEBIAN_MIRROR picks the
# mirror; delete $BUILD_DIR/apt to fetch a newer upload). KERNEL_SRC=/path
# uses the user's tree in place (prepare.sh patches it reversibly;
# unprepare.sh undoes that).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TARBALL=${UMHMM_TARBALL:-/usr/src/linux-source-$KERNEL_VERSION.tar.xz}
MIRROR=${UMHMM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# lib.sh has checked KERNEL_SRC: a kernel tree of KERNEL_VERSION.
if [[ -n ${KERNEL_SRC:-} ]]; then
	src=$(cd "$KERNEL_SRC" 2>/dev/null && pwd -P) ||
		die "cannot enter KERNEL_SRC=$KERNEL_SRC: give it a directory you may read"
	printf '%s\n' "$src"
	exit 0
fi

# fetch_tarball: print the path of linux-source-$KERNEL_VERSION's tarball,
# downloaded from Debian unstable into $BUILD_DIR/apt on the first call.
fetch_tarball() {
	local pkg=linux-source-$KERNEL_VERSION apt=$BUILD_DIR/apt out log deb tmp
	local -a opts
	out=$apt/$pkg.tar.xz
	if [[ -f $out ]]; then
		printf '%s\n' "$out"
		return 0
	fi
	if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
		die "$pkg is not installed and there is no apt-get/dpkg-deb to download it; set KERNEL_SRC=/path/to/linux"
	fi
	[[ -f $KEYRING ]] ||
		die "$pkg is not installed and $KEYRING is missing to verify a download (install debian-archive-keyring)"
	mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/deb" ||
		die "cannot create $apt"
	printf 'deb [signed-by=%s] %s unstable main\n' "$KEYRING" "$MIRROR" >"$apt/sources.list"
	opts=(
		-o "Dir::State=$apt/state" -o "Dir::State::status=/var/lib/dpkg/status"
		-o "Dir::Cache=$apt/cache" -o "Dir::Etc::SourceList=$apt/sources.list"
		-o "Dir::Etc::SourceParts=$apt/nonexistent" -o "APT::Sandbox::User=root"
	)
	log=$apt/download.log
	info "downloading $pkg from Debian unstable ($MIRROR)"
	phase_begin download
	rm -f "$apt"/deb/*.deb
	if ! apt-get "${opts[@]}" update >"$log" 2>&1 ||
		! (cd "$apt/deb" && apt-get "${opts[@]}" download "$pkg") >>"$log" 2>&1; then
		die "cannot download $pkg from Debian unstable at $MIRROR (log: $log); set UMHMM_DEBIAN_MIRROR, install $pkg, or set KERNEL_SRC=/path/to/linux"
	fi
	deb=$(find "$apt/deb" -maxdepth 1 -name "${pkg}_*.deb" -print -quit)
	[[ -n $deb ]] || die "apt-get download $pkg left no .deb in $apt/deb (log: $log)"
	tmp=$(mktemp "$apt/.$pkg.XXXXXX")
	if ! dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$pkg.tar.xz" >"$tmp" || [[ ! -s $tmp ]]; then
		rm -f "$tmp"
		die "$deb does not contain usr/src/$pkg.tar.xz"
	fi
	mv "$tmp" "$out" || die "cannot move the tarball to $out"
	rm -f "$deb"
	phase_end download
	printf '%s\n' "$out"
}

srcroot=$BUILD_DIR/src

# Two flavors may start at once and share the extracted tree (and the
# download).
lock src

if [[ ! -f $TARBALL ]]; then
	if [[ -n ${UMHMM_TARBALL:-} ]]; then
		die "UMHMM_TARBALL=$TARBALL not found"
	elif [[ $KERNEL_VERSION == "$DEFAULT_KERNEL_VERSION" ]]; then
		die "$TARBALL not found: install linux-source-$KERNEL_VERSION (scripts/deps.sh) or set KERNEL_SRC=/path/to/linux"
	fi
	TARBALL=$(fetch_tarball) || exit 1
fi

name=$(basename "$TARBALL")
name=${name%%.tar*}
tree=$srcroot/$name
stamp=$srcroot/.extracted-$name
# A new Debian upload replaces the tarball in place: re-extract when it
# changes, not only when the tree is missing.
want=$(stat -c '%n %s %Y' "$TARBALL")

if [[ -d $tree && -f $stamp && $(<"$stamp") == "$want" ]]; then
	printf '%s\n' "$tree"
	exit 0
fi

# The tree takes about a fifth more than the tarball's content: file
# system blocks. xz reads that size from its index without decompressing.
need=2048
if [[ $TARBALL == *.xz ]] && bytes=$(xz --robot --list "$TARBALL" 2>/dev/null | awk '$1 == "totals" { print $5 }') &&
	[[ $bytes =~ ^[0-9]+$ ]]; then
	need=$((bytes * 6 / 5 / 1048576))
fi
require_space "$srcroot" "$need" "extracting $name"
mkdir -p "$srcroot"
info "extracting $TARBALL into $srcroot"
phase_begin extract
tmp=$(mktemp -d "$srcroot/.extract.XXXXXX")
# An interrupted tar leaves only the temp dir behind, never a half tree
# under the real name.
trap 'rm -rf "$tmp"' EXIT
# Its errors are kept in memory: on a full disk a file could not take them.
if ! err=$(tar -xf "$TARBALL" -C "$tmp" 2>&1 >/dev/null); then
	die "cannot extract $TARBALL: ${err%%$'\n'*}"
fi
[[ -d $tmp/$name ]] || die "$TARBALL does not contain $name/"
rm -f "$stamp"
if [[ -e $tree ]]; then
	mv "$tree" "$tmp/old" || die "cannot move the old $tree aside"
fi
mv "$tmp/$name" "$tree" || die "cannot move the extracted tree to $tree"
printf '%s\n' "$want" >"$stamp"
phase_end extract
printf '%s\n' "$tree"
