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
#   ctxsw-suites, ctxsw-hmm  host context switches of all UML processes
#              during the suites' and hmm-tests' runs (boot included),
#              when perf works (UMHMM_PERF in run.sh; BENCH_PERF=0: off)
#
# KERNEL_VERSION and UMHMM_UML_ARGS (e.g. seccomp=on) pick what is
# measured, as for make test.
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

if [[ ${BENCH_PERF:-1} == 1 ]] && command -v perf >/dev/null &&
	perf stat -e context-switches -o /dev/null true 2>/dev/null; then
	export UMHMM_PERF=1
fi

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

# The host context switches perf counted in the latest run, if it did.
ctxsw() {
	local f=$BUILD_DIR/results/latest/perf-stat.csv n
	[[ -n ${UMHMM_PERF:-} && -s $f ]] || return 0
	n=$(awk -F, '$3 == "context-switches" { print $1 }' "$f")
	[[ $n =~ ^[0-9]+$ ]] && sample "$1" "$n"
	return 0
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
	ctxsw ctxsw-suites

	bash "$s/selftests.sh" >/dev/null 2>&1 || die "make selftests failed during the benchmark (run $i)"
	sample hmm-tests "$(phase_of selftests)"
	ctxsw ctxsw-hmm

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

# median, min and max per measurement, in the order first sampled.
awk -F'\t' '
	!($1 in n) { order[++k] = $1 }
	{ v[$1, ++n[$1]] = $2 }
	END {
		for (j = 1; j <= k; j++) {
			m = order[j]; c = n[m]
			for (a = 1; a <= c; a++) s[a] = v[m, a] + 0
			for (a = 1; a <= c; a++) for (b = a + 1; b <= c; b++)
				if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
			med = (c % 2) ? s[(c + 1) / 2] : (s[c / 2] + s[c / 2 + 1]) / 2
			printf "%s\t%.1f\t%.1f\t%.1f\t%d\n", m, med, s[1], s[c], c
		}
	}' "$samples" >"$bench_out/bench.tsv"

{
	printf 'machine: %s, %s cores, %s GiB, host kernel %s\n' \
		"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
		"$(nproc)" "$(awk '/^MemTotal/ { printf "%d", $2 / 1048576 }' /proc/meminfo)" \
		"$(uname -r)"
	printf 'kernel under test: %s, FLAVOR=%s%s\n\n' "$(kernel_full_version "$SRC")" "$FLAVOR" \
		"${UMHMM_UML_ARGS:+, UML options: $UMHMM_UML_ARGS}"
	printf '%-12s %10s %10s %10s %5s\n' measure median min max runs
	awk -F'\t' '
		$1 ~ /^ctxsw/ { printf "%-12s %10d %10d %10d %5d\n", $1, $2, $3, $4, $5; next }
		{ printf "%-12s %9.1fs %9.1fs %9.1fs %5d\n", $1, $2, $3, $4, $5 }' \
		"$bench_out/bench.tsv"
} | tee "$bench_out/bench.txt"
info "results: $bench_out"
