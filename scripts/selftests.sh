#!/usr/bin/env bash
# make selftests: run upstream's tools/testing/selftests/mm/hmm-tests, built
# from the same kernel tree, inside the UML kernel. Cases that cannot run on
# UML are excluded by uml/selftests-exclude.txt, and those only a version's
# hmm-tests has by uml/selftests-exclude-<version>.txt ("<name> <reason>",
# where <name> is a test name or FIXTURE.VARIANT.TEST).
#
# JOBS=N (default: one per CPU, at most 4) splits the cases over N UML
# instances, balanced by how long each case took the last time
# (hmm-tests-times.tsv); the TAP of the run is theirs, one after the other.
#
# Environment: FLAVOR, BUILD_DIR, KERNEL_SRC, JOBS, UMHMM_TIMEOUT,
# SELFTESTS_MIN_PASS (default: what the kernel passes on UML, 26 on 6.12,
# 25 on 7.2, which has anon_write_child run THP buffers too).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A wrong setting costs one line here, not a kernel build first.
check_settings KERNEL_BUILD UMHMM_TIMEOUT JOBS SELFTESTS_MIN_PASS "${RUN_SETTINGS[@]}"

lock "$FLAVOR$KTAG"
new_run

build_kernel

case $(kernel_version "$SRC") in
7.2) min_pass=${SELFTESTS_MIN_PASS:-25} ;;
*) min_pass=${SELFTESTS_MIN_PASS:-26} ;;
esac

build_hmm_tests "$SRC"
hmm_bin=$HMM_TESTS_BIN
hmm_tests_options "$hmm_bin" "$(kernel_version "$SRC")"
opts=("${HMM_TESTS_OPTS[@]}")
cases=("${HMM_TESTS_CASES[@]}")

jobs=$(instance_count)
((jobs <= ${#cases[@]})) || jobs=${#cases[@]}
timeout_s=${UMHMM_TIMEOUT:-300}
tapf=$RESULTS/hmm-tests.tap
run_ok=1
if ((jobs == 1)); then
	UMHMM_JOB_PHASE=selftests bash "$UMHMM_ROOT/scripts/run.sh" -t "$timeout_s" "$RESULTS" -- \
		"$UMHMM_ROOT/scripts/run-hmm-tests" "$hmm_bin" "${opts[@]}" || run_ok=
else
	# JOBS=N: the cases spread over N UML instances by how long each took
	# the last time (hmm-tests-times.tsv), each instance running its share
	# by full name (-r); the harness forks every case anyway, so they are
	# as independent across instances as within one.
	declare -A shard=()
	while IFS=$'\t' read -r i c; do
		shard[$i]+=" -r $c"
	done < <(shard_suites "$jobs" <(hmm_tests_weights "$RESULTS") "${cases[@]}")
	launch_hmm_tests() {
		local -a part
		read -r -a part <<<"${shard[$1]:-}"
		((${#part[@]})) || return 0
		exec_instance "$1" "$timeout_s" selftests "$UMHMM_ROOT/scripts/run-hmm-tests" "$hmm_bin" "${part[@]}"
	}
	run_instances "$jobs" launch_hmm_tests boot-to-init boot selftests || run_ok=
	# One TAP and one times file for the run, instance after instance.
	for ((i = 1; i <= jobs; i++)); do
		[[ ! -f $RESULTS/job$i/hmm-tests.tap ]] || cat "$RESULTS/job$i/hmm-tests.tap"
	done >"$tapf"
	cat "$RESULTS"/job*/hmm-tests-times.tsv >"$RESULTS/hmm-tests-times.tsv" 2>/dev/null || true
fi

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
