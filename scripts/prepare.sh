#!/usr/bin/env bash
# Apply the umhmm patch series for the tree's kernel version to SRC, then
# link the umhmm driver (src/driver, src/include) into SRC/drivers/umhmm.
#
# Idempotent: patches already applied are skipped. All-or-nothing: the
# remaining patches are first applied to a scratch copy of the files they
# touch, and SRC is written only when every one of them applies there.
# The series applied last is kept under $BUILD_DIR/series/, so when a patch
# of the series is edited, the old version is reverted from the tree and the
# new one applied. scripts/unprepare.sh SRC undoes all of it.
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
n=${#patches[@]}

saved=$(saved_series_dir "$src")
# The series and every file it touches, hashed as this script left them
# when it last finished: unchanged, the tree still carries exactly this
# series, and the check below (the series applied to scratch copies: a
# tenth of a second on every make test) is skipped.
fingerprint() {
	local f
	local -a touched=()
	while IFS= read -r f; do
		[[ ! -e $src/$f ]] || touched+=("$f")
	done < <(series_files "${patches[@]}")
	(cd "$src" && sha256sum -- "${patches[@]}" "${touched[@]}") ||
		die "cannot read the files the series touches in $src"
}
if [[ -d $saved && -f $saved.done && $(<"$saved.done") == "$(fingerprint)" ]]; then
	link_driver "$src"
	exit 0
fi
rm -f "$saved.done"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/umhmm-prepare.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

mapfile -t old < <(saved_series "$src")

k=$(series_applied_count "$src" "$scratch/state" "${patches[@]}")
# The saved series is the current one, or the tree may carry old patches
# the series no longer has: new ones not applied yet, or one dropped
# (the series is then a prefix of the old, all of it applied).
same_as_old=
! diff -rq "$saved" "$(series_dir "$src")" >/dev/null 2>&1 || same_as_old=1
kold=0
if ((${#old[@]} > 0)) && [[ -z $same_as_old ]]; then
	kold=$(series_applied_count "$src" "$scratch/state" "${old[@]}")
fi
# Old patches from c on are reverted: none, unless the tree carries more
# of the old series than of the new one.
c=$kold
if ((kold > k)); then
	c=0
	# The tree carries an older version of the series. Patches identical
	# in both stay; the old ones after them are reverted first.
	while ((c < kold && c < n)) && cmp -s "${old[c]}" "${patches[c]}"; do
		c=$((c + 1))
	done
	k=$c
fi

undo=()
for ((i = kold - 1; i >= c; i--)); do
	undo+=("${old[i]}")
done

if ((k < n || ${#undo[@]} > 0)); then
	mapfile -t files < <(series_files "${patches[@]}" "${undo[@]}")
	_series_scratch "$src" "$scratch/check" "${files[@]}"
	for p in "${undo[@]}"; do
		_patch "$scratch/check" "$p" -R ||
			die "cannot revert the older ${p##*/} from $src: restore the tree (or delete $BUILD_DIR/src for the default source)"
	done
	for ((i = k; i < n; i++)); do
		if ! _patch "$scratch/check" "${patches[i]}" -N; then
			die "patch ${patches[i]##*/} does not apply to $src (kernel $(kernel_full_version "$src")): rebase the series or use the default source"
		fi
	done

	unlink_driver "$src"
	for p in "${undo[@]}"; do
		info "reverting the older ${p##*/}"
		_patch "$src" "$p" -R || die "reverting ${p##*/} failed on $src although it worked on a copy"
	done
	for ((i = k; i < n; i++)); do
		info "applying ${patches[i]##*/}"
		_patch "$src" "${patches[i]}" -N ||
			die "patch ${patches[i]##*/} failed on $src although it applied to a copy; run scripts/unprepare.sh $src and retry"
	done
fi

# Remember what the tree now carries, for the next edit of the series.
if [[ -z $same_as_old ]]; then
	rm -rf "$saved"
	mkdir -p "$saved"
	cp -p -- "${patches[@]}" "$saved/"
fi

link_driver "$src"
fingerprint >"$saved.done"
