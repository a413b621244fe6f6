#!/usr/bin/env bash
# make test: build the kernel and the libcheck suites, boot UML once to run
# the suites, report one line per test and "N passed, N failed, N skipped".
#
# Environment: FLAVOR, BUILD_DIR, KERNEL_SRC, TESTS=<globs> (suite names),
# UMHMM_TIMEOUT (seconds for the whole UML run, default 300), and check's
# CK_* variables (CK_RUN_CASE, CK_DEFAULT_TIMEOUT, ...), passed into UML.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Runs sharing BUILD_DIR and FLAVOR take turns instead of racing on $KOBJ.
lock "$FLAVOR$KTAG"
new_results_dir

build_kernel

phase_begin tests-build
(
	# Suites of every flavor are built into the same directory.
	lock "tests$KTAG"
	make -s -C "$UMHMM_ROOT/tests" O="$BUILD_DIR/tests$KTAG" KSRC="$SRC"
) || die "building the test suites failed"
phase_end tests-build

list=$BUILD_DIR/tests$KTAG/suites.list
[[ -s $list ]] || die "$list is missing or empty: tests/Makefile built no suite"
mapfile -t bins <"$list"
# Refuse an unknown TESTS name before paying for a boot.
selected=$(select_suites "${bins[@]}") || exit 1
mapfile -t chosen <<<"$selected"

# UML starts init with a fresh environment: forward the knobs that steer
# the suite selection and libcheck explicitly.
forward=()
for v in TESTS CK_DEFAULT_TIMEOUT CK_TIMEOUT_MULTIPLIER CK_RUN_SUITE CK_RUN_CASE CK_INCLUDE_TAGS CK_EXCLUDE_TAGS CK_VERBOSITY CK_FORK; do
	if [[ -n ${!v:-} ]]; then
		forward+=("$v=${!v}")
	fi
done
job=(env "${forward[@]}" "$UMHMM_ROOT/scripts/run-suites")

run_ok=1
UMHMM_JOB_PHASE=tests bash "$UMHMM_ROOT/scripts/run.sh" -t "${UMHMM_TIMEOUT:-300}" \
	"$RESULTS" -- "${job[@]}" "${bins[@]}" || run_ok=

taps=()
missing=0
for b in "${chosen[@]}"; do
	t=$RESULTS/${b##*/}.tap
	if [[ -s $t ]]; then
		taps+=("$t")
	else
		missing=$((missing + 1))
	fi
done
read -r pass fail skip <<<"$( ((${#taps[@]})) && tap_count "${taps[@]}" || echo 0 0 0)"
# A suite that wrote no TAP at all (crash, timeout) counts as one failure.
fail=$((fail + missing))
if ((${#taps[@]})); then
	tap_to_junit "$RESULTS/junit.xml" "${taps[@]}"
fi

cov_ok=1
# A run of a subset (TESTS) or one that crashed still reports what it
# reached. make coverage reports once over both runs: UMHMM_COVERAGE_REPORT=0
# only checks that data was captured.
if ! compgen -G "$RESULTS/gcov/*/" >/dev/null; then
	info "no coverage data captured (results: $RESULTS/gcov)"
	cov_ok=
elif [[ ${UMHMM_COVERAGE_REPORT:-1} != 0 ]]; then
	bash "$UMHMM_ROOT/scripts/coverage.sh" "$SRC" "$RESULTS" || cov_ok=
fi

print_phases >&2
info "results: $RESULTS"
printf '%d passed, %d failed, %d skipped\n' "$pass" "$fail" "$skip"
if [[ -z $run_ok || -z $cov_ok ]] || ((fail > 0)); then
	die "FAILED (results: $RESULTS)"
fi
