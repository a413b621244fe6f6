#!/usr/bin/env bash
# make bench: how long the edit-to-result loop takes, as medians (with min
# and max) of BENCH_RUNS runs (default 5), on this machine:
#
#   loop       touch mm/migrate_device.c, then make test (rebuild, boot,
#              every suite, coverage report), wall time
#   rebuild    the build phase of that loop
#   boot       UML start to init running the job (run.sh's boot phase)
#   suites     umhmm's suites alone, inside UML
#   coverage   the coverage report of the loop
#   hmm-tests  upstream's hmm-tests alone, inside UML
#   cold       BENCH_COLD=1 only: make clean of the kernel objects and a
#              full build without ccache
#
# Writes bench.tsv and bench.txt under build/results/<run-id>/.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

runs=${BENCH_RUNS:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS=$runs is not a positive number"
s=$UMHMM_ROOT/scripts

# Build and run once first: the loop measures the incremental case.
bash "$s/test.sh" >/dev/null 2>&1 || die "make test fails: fix it before benchmarking"
SRC=$(bash "$s/kernel-source.sh")

new_results_dir
bench_out=$RESULTS
samples=$bench_out/samples.tsv
: >"$samples"

# The phases.tsv value of PHASE in the latest results directory.
phase_of() {
	awk -F'\t' -v p="$1" '$1 == p { v = $2 } END { if (v == "") exit 1; print v }' \
		"$BUILD_DIR/results/latest/phases.tsv"
}

sample() {
	printf '%s\t%s\n' "$1" "$2" >>"$samples"
}

for ((i = 1; i <= runs; i++)); do
	info "run $i of $runs"
	touch "$SRC/mm/migrate_device.c"
	t0=$(now_us)
	bash "$s/test.sh" >/dev/null 2>&1 || die "make test failed during the benchmark (run $i)"
	t1=$(now_us)
	sample loop "$(fmt_seconds "$((t1 - t0))")"
	sample rebuild "$(phase_of build)"
	sample boot "$(phase_of boot)"
	sample suites "$(phase_of tests)"
	sample coverage "$(phase_of coverage)"

	bash "$s/selftests.sh" >/dev/null 2>&1 || die "make selftests failed during the benchmark (run $i)"
	sample hmm-tests "$(phase_of selftests)"

	if [[ ${BENCH_COLD:-0} == 1 ]]; then
		rm -rf "${KOBJ:?}"
		t0=$(now_us)
		if ! CCACHE_DISABLE=1 bash "$s/configure.sh" "$SRC" >/dev/null 2>&1 ||
			! CCACHE_DISABLE=1 bash "$s/build.sh" "$SRC" >/dev/null 2>&1; then
			die "cold build failed (run $i)"
		fi
		t1=$(now_us)
		sample cold "$(fmt_seconds "$((t1 - t0))")"
	fi
done

bench_summary "$samples" >"$bench_out/bench.tsv"

{
	bench_machine
	printf 'kernel under test: %s, FLAVOR=%s\n\n' "$(kernel_full_version "$SRC")" "$FLAVOR"
	printf '%-10s %9s %8s %8s %5s\n' measure median min max runs
	awk -F'\t' '{ printf "%-10s %8.1fs %7.1fs %7.1fs %5d\n", $1, $2, $3, $4, $5 }' \
		"$bench_out/bench.tsv"
} | tee "$bench_out/bench.txt"
info "results: $bench_out"
