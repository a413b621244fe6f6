#!/usr/bin/env bash
# make selftests: run upstream's tools/testing/selftests/mm/hmm-tests, built
# from the same kernel tree, inside the UML kernel. Cases that cannot run on
# UML are excluded by uml/selftests-exclude.txt ("<name> <reason>", where
# <name> is a test name or FIXTURE.VARIANT.TEST).
#
# Environment: FLAVOR, BUILD_DIR, KERNEL_SRC, UMHMM_TIMEOUT,
# SELFTESTS_MIN_PASS (default 26: what 6.12 passes on UML).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

min_pass=${SELFTESTS_MIN_PASS:-26}
exclude_file=$UMHMM_ROOT/uml/selftests-exclude.txt

lock "$FLAVOR"
new_results_dir

build_kernel

build_hmm_tests "$SRC"
hmm_bin=$HMM_TESTS_BIN
hmm_tests_options "$hmm_bin" "$exclude_file"
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
