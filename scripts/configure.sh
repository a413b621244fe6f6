#!/usr/bin/env bash
# Generate $KOBJ/.config for FLAVOR from the uml/configs fragments.
#
# merge_fragments starts from allnoconfig, so only what the fragments ask
# for is built; Kconfig silently drops any option whose dependencies are not
# met, so every requested value is checked afterwards. Skipped when nothing
# that feeds the configuration changed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

src=${1:-}
require_kernel_tree "$src"
src=$(cd "$src" && pwd -P)

mapfile -t fragments < <(flavor_fragments)
((${#fragments[@]})) || exit 1

lock "$FLAVOR$KTAG"

mapfile -t patches < <(series_patches "$src")
((${#patches[@]})) || exit 1

stamp=$KOBJ/.umhmm-config-stamp
# This script and merge_fragments are hashed too: a change in how the
# config is made must remake it.
hash=$({
	printf 'src=%s\nversion=%s\nflavor=%s\n' "$src" "$(kernel_full_version "$src")" "$FLAVOR"
	cat "${fragments[@]}" "${patches[@]}" "${BASH_SOURCE[0]}"
	declare -f merge_fragments
} | sha256sum)
hash=${hash%% *}

if [[ -f $KOBJ/.config && -f $stamp && $(<"$stamp") == "$hash" ]]; then
	exit 0
fi

phase_begin configure
rm -f "$stamp"
merge_fragments "$src" "$KOBJ" um "${fragments[@]}" ||
	die "configuration for FLAVOR=$FLAVOR is incomplete"

printf '%s\n' "$hash" >"$stamp"
phase_end configure
