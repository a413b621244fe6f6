#!/usr/bin/env bash
# Build the UML kernel ($KOBJ/linux) for FLAVOR from SRC. Incremental: make
# decides what is stale. The full Kbuild output goes to $KOBJ/build.log.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

src=${1:-}
require_kernel_tree "$src"
src=$(cd "$src" && pwd -P)
[[ -f $KOBJ/.config ]] || die "$KOBJ/.config is missing: run scripts/configure.sh $src first"

lock "$FLAVOR$KTAG"
# A first build writes about 150 MiB of objects (the debug flavor); a
# full disk would fail it deep in the link with a truncated object.
[[ -x $KOBJ/linux ]] || require_space "$KOBJ" 512 "building the $FLAVOR kernel"

# UTS_VERSION ("#1 <date>") fixed per configuration: Kbuild's default (a
# build counter and the time of the link) changes include/generated/
# utsversion.h at every build, and link-vmlinux.sh then recompiles
# init/version-timestamp.o (a ccache miss) in the serial link of every
# rebuild. The date is when configure.sh last made the configuration.
stamp=$KOBJ/.umhmm-config-stamp
[[ -f $stamp ]] || stamp=$KOBJ/.config
export KBUILD_BUILD_VERSION=${KBUILD_BUILD_VERSION:-1}
KBUILD_BUILD_TIMESTAMP=${KBUILD_BUILD_TIMESTAMP:-$(LC_ALL=C date -r "$stamp")} ||
	die "cannot read the date of $stamp"
export KBUILD_BUILD_TIMESTAMP
log=$KOBJ/build.log
phase_begin build
if ! kbuild_linux "$src" "$KOBJ" "$log"; then
	kbuild_failed "$log"
	die "kernel build failed (full log: $log)"
fi
[[ -x $KOBJ/linux ]] || die "the build succeeded but $KOBJ/linux is missing (log: $log)"
phase_end build
