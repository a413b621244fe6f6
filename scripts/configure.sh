#!/usr/bin/env bash
# Generate $KOBJ/.config for FLAVOR from the uml/configs fragments.
#
# merge_config.sh -n starts from allnoconfig, so only what the fragments ask
# for is built; Kconfig silently drops any option whose dependencies are not
# met, so every requested value is checked afterwards. Skipped when nothing
# that feeds the configuration changed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

src=${1:-}
require_kernel_tree "$src"
src=$(cd "$src" && pwd -P)

# Every flavor measures coverage of the HMM files: GCOV_KERNEL instruments
# only coverage/files.list, so it costs little, and make test reports it.
fragments=("$UMHMM_ROOT/uml/configs/base.config" "$UMHMM_ROOT/uml/configs/coverage.config")
if [[ $FLAVOR != base ]]; then
	fragments+=("$UMHMM_ROOT/uml/configs/$FLAVOR.config")
fi
for f in "${fragments[@]}"; do
	[[ -f $f ]] || die "missing config fragment ${f#"$UMHMM_ROOT"/} for FLAVOR=$FLAVOR"
done

lock "$FLAVOR$KTAG"

mapfile -t patches < <(series_patches "$src")
((${#patches[@]})) || exit 1

stamp=$KOBJ/.umhmm-config-stamp
# This script is hashed too: a change in how the config is made must remake it.
hash=$({
	printf 'src=%s\nversion=%s\nflavor=%s\n' "$src" "$(kernel_full_version "$src")" "$FLAVOR"
	cat "${fragments[@]}" "${patches[@]}" "${BASH_SOURCE[0]}"
} | sha256sum)
hash=${hash%% *}

if [[ -f $KOBJ/.config && -f $stamp && $(<"$stamp") == "$hash" ]]; then
	exit 0
fi

phase_begin configure
mkdir -p "$KOBJ"
rm -f "$stamp"
log=$KOBJ/configure.log
export ARCH=um SUBARCH=x86_64
if ! (cd "$src" && "$src/scripts/kconfig/merge_config.sh" -n -O "$KOBJ" "${fragments[@]}") >"$log" 2>&1; then
	tail -n 40 "$log" >&2
	die "merge_config.sh failed (full log: $log)"
fi

# Later fragments override earlier ones, as in merge_config.sh.
declare -A want=() origin=()
order=()
for f in "${fragments[@]}"; do
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			sym=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
		elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set ]]; then
			sym=${BASH_REMATCH[1]} val=n
		else
			continue
		fi
		[[ -n ${want[$sym]:-} ]] || order+=("$sym")
		want[$sym]=$val
		origin[$sym]=${f##*/}
	done <"$f"
done

declare -A have=()
while IFS= read -r line; do
	if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
		have[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
	fi
done <"$KOBJ/.config"

bad=()
for sym in "${order[@]}"; do
	got=${have[$sym]:-n}
	if [[ ${want[$sym]} == n ]]; then
		[[ $got == n ]] && continue
	elif [[ ${want[$sym]} == "$got" ]]; then
		continue
	fi
	if [[ $got == n ]]; then
		got="not set"
	fi
	bad+=("$sym: requested ${want[$sym]} (${origin[$sym]}), got $got")
done
if ((${#bad[@]})); then
	{
		printf '%s: %d requested option(s) did not land in %s:\n' "$UMHMM_SCRIPT" "${#bad[@]}" "$KOBJ/.config"
		printf '  %s\n' "${bad[@]}"
		printf '  (unmet dependencies? see the Kconfig entries; log: %s)\n' "$log"
	} >&2
	die "configuration for FLAVOR=$FLAVOR is incomplete"
fi

printf '%s\n' "$hash" >"$stamp"
phase_end configure
