#!/usr/bin/env bash
# Reverse what prepare.sh did to SRC: remove the driver links, then revert
# the series, last patch first. Meant for a user's own KERNEL_SRC.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

src=${1:-}
require_kernel_tree "$src"
src=$(cd "$src" && pwd -P)

lock src

mapfile -t patches < <(series_patches "$src")
((${#patches[@]})) || exit 1
mapfile -t old < <(saved_series "$src")

scratch=$(mktemp -d "${TMPDIR:-/tmp}/umhmm-unprepare.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

k=$(series_applied_count "$src" "$scratch/state" "${patches[@]}")
# The tree may carry the series as it was when prepare.sh last ran.
if ((${#old[@]})); then
	kold=$(series_applied_count "$src" "$scratch/state" "${old[@]}")
	if ((kold > k)); then
		patches=("${old[@]}")
		k=$kold
	fi
fi

unlink_driver "$src"
if ((k == 0)); then
	info "no patch of the series is applied to $src"
	exit 0
fi
for ((i = k - 1; i >= 0; i--)); do
	info "reverting ${patches[i]##*/}"
	_patch "$src" "${patches[i]}" -R ||
		die "cannot revert ${patches[i]##*/} on $src: the tree was changed after prepare.sh"
done
rm -rf "$(saved_series_dir "$src")" "$(saved_series_dir "$src").done"
