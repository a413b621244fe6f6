#!/usr/bin/env bash
# Print the absolute path of the kernel source tree to build.
#
# Default: Debian's linux-source-6.12 tarball, extracted once under
# $BUILD_DIR/src. KERNEL_SRC=/path uses the user's tree in place (prepare.sh
# patches it reversibly; unprepare.sh undoes that).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TARBALL=${UMHMM_TARBALL:-/usr/src/linux-source-6.12.tar.xz}

if [[ -n ${KERNEL_SRC:-} ]]; then
	[[ -d $KERNEL_SRC ]] ||
		die "KERNEL_SRC=$KERNEL_SRC is not a kernel source tree (no such directory); point it at a Linux source tree"
	src=$(cd "$KERNEL_SRC" && pwd -P)
	[[ -f $src/arch/um/Makefile ]] ||
		die "KERNEL_SRC=$KERNEL_SRC is not a kernel source tree (no arch/um/Makefile); point it at a Linux source tree"
	if ! grep -q "^VERSION *=" "$src/Makefile" || ! grep -q "^PATCHLEVEL *=" "$src/Makefile"; then
		die "KERNEL_SRC=$KERNEL_SRC is not a kernel source tree (no VERSION/PATCHLEVEL in Makefile); point it at a Linux source tree"
	fi
	printf '%s\n' "$src"
	exit 0
fi

[[ -f $TARBALL ]] ||
	die "$TARBALL not found: install linux-source-6.12 (scripts/deps.sh) or set KERNEL_SRC=/path/to/linux"

srcroot=$BUILD_DIR/src
name=$(basename "$TARBALL")
name=${name%%.tar*}
tree=$srcroot/$name
stamp=$srcroot/.extracted-$name
# A new Debian upload replaces the tarball in place: re-extract when it
# changes, not only when the tree is missing.
want=$(stat -c '%n %s %Y' "$TARBALL")

# Two flavors may start at once and share the extracted tree.
lock src

if [[ -d $tree && -f $stamp && $(<"$stamp") == "$want" ]]; then
	printf '%s\n' "$tree"
	exit 0
fi

mkdir -p "$srcroot"
info "extracting $TARBALL into $srcroot"
phase_begin extract
tmp=$(mktemp -d "$srcroot/.extract.XXXXXX")
# An interrupted tar leaves only the temp dir behind, never a half tree
# under the real name.
trap 'rm -rf "$tmp"' EXIT
tar -xf "$TARBALL" -C "$tmp" || die "cannot extract $TARBALL"
[[ -d $tmp/$name ]] || die "$TARBALL does not contain $name/"
rm -f "$stamp"
if [[ -e $tree ]]; then
	mv "$tree" "$tmp/old" || die "cannot move the old $tree aside"
fi
mv "$tmp/$name" "$tree" || die "cannot move the extracted tree to $tree"
printf '%s\n' "$want" >"$stamp"
phase_end extract
printf '%s\n' "$tree"
