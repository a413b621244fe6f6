#!/usr/bin/env bash
# make test: build the kernel and the libcheck suites, boot UML once to run
# the suites, report one line per test and "N passed, N failed, N skipped".
#
# Environment: FLAVOR, BUILD_DIR, KERNEL_SRC, TESTS=<globs> (suite names),
# JOBS=N (UML instances running the suites at once, default: one per CPU,
# at most 4),
# UMHMM_TIMEOUT (seconds for the whole UML run, default 300), and check's
# CK_* variables (CK_RUN_CASE, CK_DEFAULT_TIMEOUT, ...), passed into UML.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A wrong setting costs one line here, not a kernel build first.
check_settings KERNEL_BUILD UMHMM_TIMEOUT JOBS TESTS "${RUN_SETTINGS[@]}"
jobs=$(instance_count)
timeout_s=${UMHMM_TIMEOUT:-300}

# Runs sharing BUILD_DIR and FLAVOR take turns instead of racing on $KOBJ.
lock "$FLAVOR$KTAG"
new_run

build_kernel_and_suites
bins=("${SUITES[@]}")
# check_settings has refused an unknown TESTS name: this selects.
selected=$(select_suites "${bins[@]}") || exit 1
mapfile -t chosen <<<"$selected"

# UML starts init with a fresh environment: forward the knobs that steer
# the suite selection and libcheck explicitly.
forward=()
for v in COVERAGE_PER_TEST CK_DEFAULT_TIMEOUT CK_TIMEOUT_MULTIPLIER CK_RUN_SUITE CK_RUN_CASE CK_INCLUDE_TAGS CK_EXCLUDE_TAGS CK_VERBOSITY CK_FORK; do
	if [[ -n ${!v:-} ]]; then
		forward+=("$v=${!v}")
	fi
done
# The instances of a JOBS=N run are given the selected suites to claim
# from; a single run selects with TESTS itself.
claims=$RESULTS/claims
job_claiming=(env "${forward[@]}" UMHMM_CLAIMS="$claims" "$UMHMM_ROOT/scripts/run-suites")
[[ -z ${TESTS:-} ]] || forward+=("TESTS=$TESTS")
job=(env "${forward[@]}" "$UMHMM_ROOT/scripts/run-suites")
previous_durations "$RESULTS" >"$RESULTS/previous.tsv"

((jobs <= ${#chosen[@]})) || jobs=${#chosen[@]}

run_ok=1
declare -A out_dir=()
phase_begin uml
if ((jobs == 1)); then
	UMHMM_JOB_PHASE=tests bash "$UMHMM_ROOT/scripts/run.sh" -t "$timeout_s" \
		"$RESULTS" -- "${job[@]}" "${bins[@]}" || run_ok=
	for b in "${chosen[@]}"; do out_dir[$b]=$RESULTS; done
else
	# JOBS=N: N UML instances at once, each with its own umid, memory,
	# results subdirectory (job<i>/: console.log, TAP, gcov) and timeout.
	# Each instance takes the next suite nobody has claimed yet, the
	# longest of the previous run first: a suite's time varies from run to
	# run (regress-cve_2022_3523 took 1.8 s in one and 3.8 s in the next),
	# and shares dealt out before the start ended 0.7 to 1.8 s apart with
	# the previous run's times, 3.3 s apart in a first run without them.
	mkdir "$claims" || die "cannot create $claims"
	mapfile -t queue < <(heaviest_first <(suite_weights "$RESULTS") "${chosen[@]}")
	launch_suites() {
		exec_instance "$1" "$timeout_s" tests "${job_claiming[@]}" "${queue[@]}"
	}
	run_instances "$jobs" launch_suites boot-to-init boot tests || run_ok=
	# Which instance ran what; a suite no instance claimed (they all
	# stopped first) has no results and counts as failed below.
	for ((i = 1; i <= jobs; i++)); do
		names=()
		if [[ -s $RESULTS/job$i/claimed ]]; then
			mapfile -t names <"$RESULTS/job$i/claimed"
		fi
		info "job $i: ${names[*]}"
		for n in "${names[@]}"; do
			for b in "${chosen[@]}"; do
				[[ ${b##*/} != "$n" ]] || out_dir[$b]=$RESULTS/job$i
			done
		done
	done
	for b in "${chosen[@]}"; do
		[[ -n ${out_dir[$b]:-} ]] || info "${b##*/}: not run, the instances stopped first"
		: "${out_dir[$b]:=$claims}"
	done
fi
phase_end uml

# How long each suite ran, for the order of the next JOBS=N run: every
# instance's suite-times.tsv, which run-suites starts afresh and fills
# with the suites that instance ran, in one cat.
shopt -s nullglob
# The [s] makes nullglob drop a JOBS=1 run's file when it is missing.
times=("$RESULTS"/suite-time[s].tsv "$RESULTS"/job*/suite-times.tsv)
shopt -u nullglob
cat "${times[@]}" /dev/null >"$RESULTS/suites.tsv"

taps=()
missing=0
for b in "${chosen[@]}"; do
	t=${out_dir[$b]}/${b##*/}.tap
	if [[ -s $t ]]; then
		taps+=("$t")
	else
		missing=$((missing + 1))
	fi
done
read -r pass fail skip <<<"$( ((${#taps[@]})) && tap_count "${taps[@]}" || echo 0 0 0)"
# A suite that wrote no TAP at all (crash, timeout) counts as one failure.
fail=$((fail + missing))
# Every result with check's duration; per test, beside the time it took in
# the previous run of this flavor that ran it.
: >"$RESULTS/cases.tsv"
if ((${#taps[@]})); then
	case_results "${taps[@]}" >"$RESULTS/cases.tsv"
fi
results_to_junit "$RESULTS/junit.xml" <"$RESULTS/cases.tsv"
case_durations <"$RESULTS/cases.tsv" >"$RESULTS/durations.tsv"

cov_ok=1
# A run of a subset (TESTS) or one that crashed still reports what it
# reached. make coverage reports once over both runs: UMHMM_COVERAGE_REPORT=0
# only checks that data was captured.
if ! compgen -G "$RESULTS/gcov/*/" >/dev/null && ! compgen -G "$RESULTS/job*/gcov/*/" >/dev/null; then
	info "no coverage data captured (results: $RESULTS/gcov)"
	cov_ok=
elif [[ ${UMHMM_COVERAGE_REPORT:-1} != 0 ]]; then
	bash "$UMHMM_ROOT/scripts/coverage.sh" "$SRC" "$RESULTS" || cov_ok=
fi

print_durations "$RESULTS/durations.tsv" "$RESULTS/previous.tsv"
print_phases >&2
info "results: $RESULTS"
printf '%d passed, %d failed, %d skipped\n' "$pass" "$fail" "$skip"
if [[ -z $run_ok || -z $cov_ok ]] || ((fail > 0)); then
	die "FAILED (results: $RESULTS)"
fi
