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

cc=$(umhmm_cc)
# A coverage kernel (CONFIG_GCOV_KERNEL) instruments only the files that
# coverage/files.list measures: a faster kernel than profiling everything,
# and the counters coverage.sh reads. Kbuild takes GCOV_PROFILE_<obj>
# per object name, in whatever directory the object is.
profile=()
if grep -qx "CONFIG_GCOV_KERNEL=y" "$KOBJ/.config"; then
	mapfile -t measured < <(measured_files)
	((${#measured[@]})) || die "coverage/files.list lists no file to instrument"
	for f in "${measured[@]}"; do
		b=${f##*/}
		profile+=("GCOV_PROFILE_${b%.c}.o=y")
	done
fi
log=$KOBJ/build.log
phase_begin build
if ! make -C "$src" ARCH=um SUBARCH=x86_64 O="$KOBJ" CC="$cc" \
	-j"$(nproc)" "${profile[@]}" linux >"$log" 2>&1; then
	# With -j the first compiler error can scroll out of the tail.
	if grep -q -E "(error|undefined reference)" "$log"; then
		printf "%s: first errors:\n" "$UMHMM_SCRIPT" >&2
		grep -E -A2 -m 5 "(: error:|undefined reference)" "$log" >&2 || true
		printf "%s: last 40 lines of %s:\n" "$UMHMM_SCRIPT" "$log" >&2
	fi
	tail -n 40 "$log" >&2
	die "kernel build failed (full log: $log)"
fi
[[ -x $KOBJ/linux ]] || die "the build succeeded but $KOBJ/linux is missing (log: $log)"
phase_end build
