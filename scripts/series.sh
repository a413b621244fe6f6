#!/usr/bin/env bash
# make series: every patch of uml/patches/<version>/ builds on its own.
#
# The series is meant to go upstream, and git bisect can land on any of its
# patches, so each prefix of it must configure, build and boot. A copy of
# the tree made of hard links (no space: patch(1) writes a new file for each
# one it changes, the tree itself is never written) is taken back to the
# pristine source; then the patches are applied one at a time, and after
# each the kernel is configured from FLAVOR's fragments, built
# (incrementally, in one build dir: $BUILD_DIR/series-<flavor>) and booted
# with `true` as its job. An option the prefix cannot offer yet
# (ZONE_DEVICE before the hotplug patch) is listed, not an error; with the
# whole series every option must land, as for make test. A compiler
# warning in a file that a patch changes fails that patch.
#
# Writes series.tsv (patch, result, seconds) and one build log per step
# under build/results/<run-id>/.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

s=$UMHMM_ROOT/scripts
check_settings "${RUN_SETTINGS[@]}"
prepare_kernel_tree
mapfile -t patches < <(series_patches "$SRC")
((${#patches[@]})) || exit 1
mapfile -t fragments < <(flavor_fragments)
((${#fragments[@]})) || exit 1
n=${#patches[@]}

lock "series-$FLAVOR$KTAG"
new_results_dir
work=$BUILD_DIR/series-$FLAVOR$KTAG
tree=$work/tree
obj=$work/obj
mkdir -p "$obj" || die "cannot create $obj"
[[ -x $obj/linux ]] || require_space "$work" 512 "building the series one patch at a time"

# The copy, with the tree locked so that no prepare.sh changes it meanwhile
# (the lock ends with the subshell).
phase_begin copy
rm -rf "$tree"
(
	lock src
	cp -al "$SRC" "$tree"
) || die "cannot copy $SRC to $tree with hard links: set BUILD_DIR to a directory on the file system of $SRC"
unlink_driver "$tree"
for ((i = n - 1; i >= 0; i--)); do
	_patch "$tree" "${patches[i]}" -R ||
		die "cannot revert ${patches[i]##*/} from a copy of $SRC: run scripts/unprepare.sh $SRC, then make test"
done
phase_end copy

tsv=$RESULTS/series.tsv
printf 'patch\tresult\tseconds\n' >"$tsv"
failed=()

# step K NAME: configure, build and boot the tree as it is, K patches in.
step() {
	local k=$1 name=$2 log=$RESULTS/build-$1.log cfg=$RESULTS/config-$1.log
	local t0 result=ok f warnings
	local -a missing=() touched=()
	t0=$(now_us)
	# A subshell: merge_fragments dies when merge_config.sh or
	# allnoconfig fails (a patch that breaks Kconfig), and that must be
	# this step's failure, reported below, not a silent end of the script.
	if ! (merge_fragments "$tree" "$obj" um "${fragments[@]}") 2>"$cfg"; then
		mapfile -t missing < <(sed -n 's/^  \(CONFIG_[A-Za-z0-9_]*\): .*/\1/p' "$cfg")
		if ((k == n)) || ((${#missing[@]} == 0)); then
			cat "$cfg" >&2
			result="configure failed"
		fi
	fi
	if [[ $result == ok ]] && ! kbuild_linux "$tree" "$obj" "$log"; then
		kbuild_failed "$log"
		result="build failed"
	fi
	if [[ $result == ok ]] && ((k > 0)); then
		mapfile -t touched < <(series_files "${patches[k - 1]}")
		for f in "${touched[@]}"; do
			# Read whole, not grep -q: an early exit of the second grep
			# fails the pipeline (SIGPIPE) and would hide the warning.
			warnings=$(grep -F "/$f:" "$log" | grep ': warning:') || true
			if [[ -n $warnings ]]; then
				printf '%s\n' "$warnings" >&2
				result="warning in $f"
			fi
		done
	fi
	if [[ $result == ok ]] &&
		! PHASE_LOG=$RESULTS/boot-$k.tsv bash "$s/run.sh" -t 60 -k "$obj/linux" "$RESULTS/boot-$k" -- true >"$RESULTS/boot-$k.log" 2>&1; then
		tail -n 20 "$RESULTS/boot-$k.log" >&2
		result="boot failed"
	fi
	printf '%s\t%s\t%s\n' "$name" "$result" "$(fmt_seconds "$(($(now_us) - t0))")" >>"$tsv"
	if [[ $result != ok ]]; then
		failed+=("$name: $result")
		info "$k/$n $name: $result"
		return 1
	fi
	if ((${#missing[@]})); then
		info "$k/$n $name: builds and boots (not available yet: ${missing[*]})"
	else
		info "$k/$n $name: builds and boots"
	fi
}

phase_begin series
# The pristine tree first: a failure there is not the series' doing.
step 0 "(none: $(kernel_full_version "$tree"))" ||
	die "the pristine $(kernel_full_version "$tree") tree does not build or boot with FLAVOR=$FLAVOR's configuration (log: $RESULTS/build-0.log)"
for ((k = 1; k <= n; k++)); do
	_patch "$tree" "${patches[k - 1]}" -N ||
		die "${patches[k - 1]##*/} does not apply after the patches before it"
	link_driver "$tree"
	# A failed patch does not stop the ones after it: each is reported.
	step "$k" "${patches[k - 1]##*/}" || true
done
phase_end series
print_phases >&2
if ((${#failed[@]})); then
	for f in "${failed[@]}"; do
		printf '%s: %s\n' "$UMHMM_SCRIPT" "$f" >&2
	done
	die "${#failed[@]} of $n patches do not build or boot on their own (results: $RESULTS)"
fi
info "all $n patches build and boot on their own (results: $RESULTS)"
