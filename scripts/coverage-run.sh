#!/usr/bin/env bash
# make coverage: umhmm's suites and upstream's hmm-tests, each in its own
# boot of the same kernel, then one report over both: the table against
# coverage/thresholds (below fails; the third column for umhmm's suites
# alone), side by side, per test case, and
# patch coverage with BASE=<rev>.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# make test and make selftests check these too, but the second only after
# the first has built and run.
check_settings KERNEL_BUILD UMHMM_TIMEOUT JOBS TESTS SELFTESTS_MIN_PASS "${RUN_SETTINGS[@]}"

s=$UMHMM_ROOT/scripts
# Both steps and the report share the kernel objects: no other run of this
# flavor rebuilds them in between (the steps take the same lock again).
lock "$FLAVOR$KTAG"
steps=$(mktemp -d) || die "cannot create a temporary directory"
trap 'rm -rf "$steps"' EXIT

own_ok=1
UMHMM_RESULTS_TO=$steps/test COVERAGE_PER_TEST=1 UMHMM_COVERAGE_REPORT=0 \
	bash "$s/test.sh" || own_ok=
own=$(step_results "$steps/test")
up_ok=1
UMHMM_RESULTS_TO=$steps/selftests bash "$s/selftests.sh" || up_ok=
up=$(step_results "$steps/selftests")

new_results_dir
mkdir -p "$RESULTS/gcov"
[[ ! -d $own/gcov ]] || cp -r "$own/gcov/." "$RESULTS/gcov/"
# JOBS=N: each instance's data, kept apart (coverage.sh merges the boots).
for g in "$own"/job*/gcov; do
	[[ -d $g ]] || continue
	j=${g%/gcov}
	mkdir -p "$RESULTS/${j##*/}"
	cp -r "$g" "$RESULTS/${j##*/}/"
done
# hmm-tests in one instance, or its share in each of JOBS=N (coverage.sh
# merges hmm-tests.job<i>).
if [[ -d $up/gcov/hmm-tests ]]; then
	cp -r "$up/gcov/hmm-tests" "$RESULTS/gcov/"
else
	for g in "$up"/job*/gcov/hmm-tests; do
		[[ -d $g ]] || continue
		j=${g%/gcov/hmm-tests}
		cp -r "$g" "$RESULTS/gcov/hmm-tests.${j##*/}"
	done
	compgen -G "$RESULTS/gcov/hmm-tests.job*" >/dev/null ||
		die "no coverage data from hmm-tests in $up"
fi
printf 'umhmm suites: %s\nhmm-tests: %s\n' "$own" "$up" >"$RESULTS/sources.txt"

SRC=$(bash "$s/kernel-source.sh")
COVERAGE_CHECK=1 bash "$s/coverage.sh" "$SRC" "$RESULTS" || die "the coverage report failed its checks, see above (results: $RESULTS)"
[[ -n $own_ok && -n $up_ok ]] || die "a test run failed (results: $own, $up)"
info "results: $RESULTS"
