#!/usr/bin/env bash
# Apply the umhmm patch series for the tree's kernel version to SRC.
#
# Idempotent: patches already applied are skipped. All-or-nothing: the
# remaining patches are first applied to a scratch copy of the files they
# touch, and SRC is written only when every one of them applies there.
# scripts/unprepare.sh SRC reverses the series (for a user's KERNEL_SRC).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

src=${1:-}
require_kernel_tree "$src"
src=$(cd "$src" && pwd -P)
command -v patch >/dev/null || die "patch(1) is missing: run scripts/deps.sh"

# The tree is shared by every flavor and run using it.
lock src

mapfile -t patches < <(series_patches "$src")
((${#patches[@]})) || exit 1

scratch=$(mktemp -d "${TMPDIR:-/tmp}/umhmm-prepare.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

k=$(series_applied_count "$src" "$scratch/state" "${patches[@]}")
n=${#patches[@]}
if ((k == n)); then
	exit 0
fi

mapfile -t files < <(series_files "${patches[@]}")
_series_scratch "$src" "$scratch/check" "${files[@]}"
for ((i = k; i < n; i++)); do
	if ! _patch "$scratch/check" "${patches[i]}" -N; then
		die "patch ${patches[i]##*/} does not apply to $src (kernel $(kernel_full_version "$src")): rebase the series or use the default source"
	fi
done

for ((i = k; i < n; i++)); do
	info "applying ${patches[i]##*/}"
	_patch "$src" "${patches[i]}" -N ||
		die "patch ${patches[i]##*/} failed on $src although it applied to a copy; run scripts/unprepare.sh $src and retry"
done
