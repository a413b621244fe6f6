#!/usr/bin/env bash
# Configure and build the comparison VM's kernel for make bench-vm: the
# same tree as the UML kernel (patched by prepare.sh, drivers/umhmm
# included), for x86_64, in $BUILD_DIR/vm$KTAG. Incremental like build.sh;
# the configuration is remade only when its inputs change.
#
#   vm-kernel.sh SRC        prints the path of the bzImage
#
# Environment: CCACHE_DISABLE=1 for a build without the compiler cache.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

src=${1:-}
require_kernel_tree "$src"
src=$(cd "$src" && pwd -P)
obj=$BUILD_DIR/vm$KTAG

fragments=("$UMHMM_ROOT/vm/configs/x86_64.config" "$UMHMM_ROOT/uml/configs/coverage.config")
for f in "${fragments[@]}"; do
	[[ -f $f ]] || die "missing config fragment ${f#"$UMHMM_ROOT"/}"
done

lock "vm$KTAG"

stamp=$obj/.umhmm-config-stamp
hash=$({
	printf 'src=%s\nversion=%s\n' "$src" "$(kernel_full_version "$src")"
	cat "${fragments[@]}" "${BASH_SOURCE[0]}"
	declare -f merge_fragments
} | sha256sum)
hash=${hash%% *}
if [[ ! -f $obj/.config || ! -f $stamp || $(<"$stamp") != "$hash" ]]; then
	phase_begin vm-configure
	rm -f "$stamp"
	merge_fragments "$src" "$obj" x86_64 "${fragments[@]}" ||
		die "the VM kernel configuration is incomplete"
	printf '%s\n' "$hash" >"$stamp"
	phase_end vm-configure
fi

kbuild_ccache_env
gcov_profile_args "$obj/.config"
log=$obj/build.log
phase_begin vm-build
if ! make -C "$src" ARCH=x86_64 O="$obj" CC="$(umhmm_cc)" \
	-j"$(nproc)" "${GCOV_PROFILE_ARGS[@]}" bzImage >"$log" 2>&1; then
	kbuild_failed "$log"
	die "VM kernel build failed (full log: $log)"
fi
image=$obj/arch/x86/boot/bzImage
[[ -f $image ]] || die "the build succeeded but $image is missing (log: $log)"
phase_end vm-build
printf '%s\n' "$image"
