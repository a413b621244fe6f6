#!/usr/bin/env bash
# make selftests: run upstream's tools/testing/selftests/mm/hmm-tests, built
# from the same kernel tree, inside the UML kernel. Cases that cannot run on
# UML are excluded by uml/selftests-exclude.txt, and those only a version's
# hmm-tests has by uml/selftests-exclude-<version>.txt ("<name> <reason>",
# where <name> is a test name or FIXTURE.VARIANT.TEST).
#
# Environment: FLAVOR, BUILD_DIR, KERNEL_SRC, UMHMM_TIMEOUT,
# SELFTESTS_MIN_PASS (default: what the kernel passes on UML, 26 on 6.12,
# 25 on 7.2, which has anon_write_child run THP buffers too).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"


lock "$FLAVOR$KTAG"
new_results_dir

build_kernel

case $(kernel_version "$SRC") in
7.2) min_pass=${SELFTESTS_MIN_PASS:-25} ;;
*) min_pass=${SELFTESTS_MIN_PASS:-26} ;;
esac
[[ $min_pass =~ ^[0-9]+$ ]] || die "SELFTESTS_MIN_PASS=$min_pass is not a number"

# hmm-tests needs the uapi of the kernel under test (PAGEMAP_SCAN and
# friends are newer than Debian's linux-libc-dev): install the tree's
# headers once per tree and series.
hdr=$BUILD_DIR/hdr$KTAG
mapfile -t patches < <(series_patches "$SRC")
hdr_hash=$({
	printf '%s\n%s\n' "$SRC" "$(kernel_full_version "$SRC")"
	cat "${patches[@]}"
} | sha256sum)
hdr_hash=${hdr_hash%% *}
phase_begin selftests-build
(
	lock "hdr$KTAG"
	if [[ ! -f $hdr/.umhmm-stamp || $(<"$hdr/.umhmm-stamp") != "$hdr_hash" ]]; then
		rm -f "$hdr/.umhmm-stamp"
		make -s -C "$SRC" ARCH=x86 O="$hdr/obj" INSTALL_HDR_PATH="$hdr/usr" \
			headers_install >"$hdr.log" 2>&1 || {
			tail -n 20 "$hdr.log" >&2
			die "headers_install failed (log: $hdr.log)"
		}
		printf '%s\n' "$hdr_hash" >"$hdr/.umhmm-stamp"
	fi
) || exit 1

st=$SRC/tools/testing/selftests
hmm_bin=$BUILD_DIR/selftests$KTAG/hmm-tests
sources=("$st/mm/hmm-tests.c" "$st/mm/vm_util.c")
# Newer hmm-tests (7.2) take their huge page helpers from here.
if [[ -f $st/mm/hugepage_settings.c ]]; then
	sources+=("$st/mm/hugepage_settings.c")
fi
inputs=("${sources[@]}" "$st/mm/vm_util.h"
	"$st/kselftest_harness.h" "$st/kselftest.h" "$SRC/lib/test_hmm_uapi.h"
	"$SRC/mm/gup_test.h" "$hdr/.umhmm-stamp")
stale=
[[ -x $hmm_bin ]] || stale=1
for f in "${inputs[@]}"; do
	[[ -e $f ]] || die "$f is missing from the kernel tree"
	[[ $hmm_bin -nt $f ]] || stale=1
done
if [[ -n $stale ]]; then
	mkdir -p "${hmm_bin%/*}"
	# <lib/test_hmm_uapi.h> and <mm/gup_test.h> are included from the top
	# of the tree, the harness headers from tools/testing/selftests.
	gcc -O2 -Wall -isystem "$hdr/usr/include" -I"$st" -I"$SRC" \
		-o "$hmm_bin.tmp" "${sources[@]}" -lpthread \
		>"$hmm_bin.log" 2>&1 || {
		cat "$hmm_bin.log" >&2
		die "building hmm-tests failed"
	}
	mv "$hmm_bin.tmp" "$hmm_bin"
fi
phase_end selftests-build

# Every case the binary knows, as FIXTURE.VARIANT.TEST (FIXTURE.TEST when
# the fixture has no variants), from its -l table.
mapfile -t cases < <("$hmm_bin" -l 2>&1 | awk '
	function flush(   i, j) {
		if (fx == "") return
		if (nv == 0) { for (j = 0; j < nt; j++) print fx "." t[j] }
		for (i = 0; i < nv; i++) for (j = 0; j < nt; j++) print fx "." v[i] "." t[j]
	}
	/^# FIXTURE/ { next }
	/^-----/ { flush(); fx = ""; nv = 0; nt = 0; next }
	{
		f = substr($0, 1, 20); gsub(/ /, "", f)
		vv = substr($0, 22, 25); gsub(/ /, "", vv)
		tt = substr($0, 48); gsub(/ /, "", tt)
		if (f != "") fx = f
		if (vv != "") v[nv++] = vv
		if (tt != "") t[nt++] = tt
	}
	END { flush() }')
((${#cases[@]})) || die "$hmm_bin -l listed no test"

opts=()
positive=()
declare -A dropped=()
# The exclusions for every kernel, then those for this kernel's version
# (cases only its hmm-tests has).
exclude_files=()
for f in "$UMHMM_ROOT/uml/selftests-exclude.txt" \
	"$UMHMM_ROOT/uml/selftests-exclude-$(kernel_version "$SRC").txt"; do
	[[ -f $f ]] && exclude_files+=("$f")
done
for exclude_file in "${exclude_files[@]}"; do
	while read -r name reason; do
		[[ -n $name && $name != \#* ]] || continue
		found=
		for c in "${cases[@]}"; do
			if [[ $c == "$name" || ${c##*.} == "$name" ]]; then
				found=1
				dropped[$c]=1
			fi
		done
		[[ -n $found ]] ||
			die "${exclude_file#"$UMHMM_ROOT"/}: '$name' is not a test of hmm-tests (see $hmm_bin -l)"
		printf 'excluded: %s (%s)\n' "$name" "${reason:-no reason given}"
		[[ $name == *.* ]] || opts+=(-T "$name")
	done <"$exclude_file"
done
# The harness can only exclude by bare name (-T); a FIXTURE.VARIANT.TEST
# exclusion turns into running every other case by its full name (-r).
for c in "${cases[@]}"; do
	[[ -n ${dropped[$c]:-} ]] || positive+=(-r "$c")
done
if ((${#exclude_files[@]})) && grep -qE '^[^#[:space:]]+\.' "${exclude_files[@]}"; then
	opts+=("${positive[@]}")
fi

tap=hmm-tests.tap
run_ok=1
# shellcheck disable=SC2016 # expanded inside UML, not here
UMHMM_JOB_PHASE=selftests bash "$UMHMM_ROOT/scripts/run.sh" -t "${UMHMM_TIMEOUT:-300}" "$RESULTS" -- \
	bash -c 'set -o pipefail
		gcov=/sys/kernel/debug/gcov
		# Coverage of boot and of hmm-tests alone, for scripts/coverage.sh.
		save() {
			[[ -d $gcov ]] || return 0
			(cd "$gcov" && find . -name "*.gcda" | while read -r f; do
				mkdir -p "$UMHMM_OUT/gcov/$1/${f%/*}"
				cat "$f" >"$UMHMM_OUT/gcov/$1/$f"
			done)
		}
		save boot
		[[ -w $gcov/reset ]] && echo 1 >"$gcov/reset"
		echo "umhmm: running hmm-tests" >/dev/kmsg 2>/dev/null
		cd /tmp && "$@" 2>&1 | tee "$UMHMM_OUT/'"$tap"'"
		rc=$?
		save hmm-tests
		exit $rc' hmm-tests "$hmm_bin" "${opts[@]}" || run_ok=

tapf=$RESULTS/$tap
[[ -s $tapf ]] || die "hmm-tests wrote no output (results: $RESULTS)"
read -r pass fail skip <<<"$(tap_count "$tapf")"
# Group the skips by their reason.
awk '/^ok .*# *SKIP/ { sub(/.*# *SKIP */, ""); n[$0]++ }
	END { for (r in n) printf "skipped %d: %s\n", n[r], r }' "$tapf" | sort
grep '^not ok' "$tapf" || true

print_phases >&2
info "results: $RESULTS"
printf '%d passed, %d failed, %d skipped\n' "$pass" "$fail" "$skip"
if ((fail > 0)) || [[ -z $run_ok ]]; then
	die "FAILED (results: $RESULTS)"
fi
((pass >= min_pass)) || die "only $pass cases passed, expected at least $min_pass (results: $RESULTS)"
