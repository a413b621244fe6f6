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

build_hmm_tests "$SRC"
hmm_bin=$HMM_TESTS_BIN
hmm_tests_options "$hmm_bin" "$(kernel_version "$SRC")"
opts=("${HMM_TESTS_OPTS[@]}")

tap=hmm-tests.tap
run_ok=1
UMHMM_JOB_PHASE=selftests bash "$UMHMM_ROOT/scripts/run.sh" -t "${UMHMM_TIMEOUT:-300}" "$RESULTS" -- \
	"$UMHMM_ROOT/scripts/run-hmm-tests" "$hmm_bin" "${opts[@]}" || run_ok=

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
