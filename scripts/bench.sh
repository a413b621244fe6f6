#!/usr/bin/env bash
# make bench: how long the edit-to-result loop takes, as medians (with min
# and max) of BENCH_RUNS runs (default 5), on this machine:
#
#   loop       touch mm/migrate_device.c, then make test (rebuild, boot,
#              every suite, coverage report), wall time
#   rebuild    the build phase of that loop
#   boot-to-init  UML process start to init (PID 1) running, host clock,
#              one UML alone whose job is true
#   boot       UML process start to the job running (init mounted, swap
#              on), in the loop (the slowest of JOBS instances)
#   suites     umhmm's suites alone, inside UML
#   coverage   the coverage report of the loop
#   hmm-tests  upstream's hmm-tests alone, inside UML (split over JOBS
#              instances, as make selftests does)
#   hmm-tests-1uml  the same in one UML instance (JOBS=1)
#   cpus-rebuild, cpus-uml, cpus-coverage  how many of the host's CPUs
#              the loop's build, UML and coverage phases kept busy on
#              average (/proc/stat, the whole machine): below the CPU
#              count, part of the phase ran on one CPU while the others
#              waited (the top Makefile's probes and the link of the
#              rebuild are serial)
#   cold       BENCH_COLD=1 only: make clean of the kernel objects and a
#              full build without ccache (configure and build), wall time
#   cold-cpu   the CPU seconds (user + system) of that build: the wall
#              time depends on whatever else runs on the machine, the CPU
#              time much less
#   cold-objects  the object files (*.o, host tools included) it made
#   ctxsw-suites, ctxsw-hmm  host context switches of all UML processes
#              during the suites' and hmm-tests' runs (boot included),
#              counted in one more run of each after the timed ones, as
#              perf slows UML down (UMHMM_PERF in run.sh; BENCH_PERF=0:
#              off)
#
# KERNEL_VERSION and UMHMM_UML_ARGS (e.g. seccomp=off) pick what is
# measured, as for make test.
#
# Writes bench.tsv and bench.txt under build/results/<run-id>/.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

runs=${BENCH_RUNS:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS=$runs is not a positive number"
# make test would refuse these too, but below its messages go to
# /dev/null.
check_settings UMHMM_TIMEOUT JOBS TESTS SELFTESTS_MIN_PASS "${RUN_SETTINGS[@]}"
[[ ${KERNEL_BUILD:-yes} == yes ]] ||
	die "KERNEL_BUILD=$KERNEL_BUILD: make bench times the kernel's rebuild, unset KERNEL_BUILD"
s=$UMHMM_ROOT/scripts
bash "$s/deps.sh" bench || exit 1
# No other run of this flavor may rebuild (or, for the cold build, delete)
# the kernel objects while they are timed; the steps take the lock again.
lock "$FLAVOR$KTAG"

# Build and run once first: the loop measures the incremental case.
bash "$s/test.sh" >/dev/null 2>&1 || die "make test fails: fix it before benchmarking"
SRC=$(bash "$s/kernel-source.sh")

count_ctxsw=
if [[ ${BENCH_PERF:-1} == 1 ]] && command -v perf >/dev/null &&
	perf stat -e context-switches -o /dev/null true 2>/dev/null; then
	count_ctxsw=1
fi

new_results_dir
bench_out=$RESULTS
samples=$bench_out/samples.tsv
: >"$samples"
# Each timed step names its results dir here (lib.sh's new_results_dir).
last_step=$bench_out/last-step
export UMHMM_RESULTS_TO=$last_step

# step SCRIPT [ARG...]: runs one step, emptying last_step first, so that a
# step that made no results dir is an error, not the previous step's.
step() {
	: >"$last_step"
	bash "$@"
}

# cold_build: configure and build the kernel from scratch without ccache;
# prints the CPU seconds (user + system) of both, as bash's time counts
# them (the decimal separator follows the locale).
cold_build() {
	local TIMEFORMAT='%3U %3S' t user sys
	t=$({ time {
		CCACHE_DISABLE=1 bash "$s/configure.sh" "$SRC" >/dev/null 2>&1 &&
			CCACHE_DISABLE=1 bash "$s/build.sh" "$SRC" >/dev/null 2>&1
	}; } 2>&1) || return 1
	read -r user sys <<<"${t//,/.}"
	awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f\n", u + s }'
}

# phase_of PHASE [FIELD]: the phases.tsv value of PHASE in the last step's
# results directory: its seconds, or FIELD 3, the CPUs it kept busy.
phase_of() {
	phase_value "$(step_results "$last_step")/phases.tsv" "$@"
}

# sample_cpus NAME PHASE: the CPUs PHASE kept busy in the last step, as
# NAME, when its phases.tsv has the figure (phase_end).
sample_cpus() {
	local v
	if v=$(phase_of "$2" 3); then
		sample "$1" "$v"
	fi
}

sample() {
	printf '%s\t%s\n' "$1" "$2" >>"$samples"
}

# The host context switches perf counted in the last step, if it did (a
# JOBS=N run: summed over its instances; the [v] makes nullglob drop an
# absent file).
ctxsw() {
	local r n
	local -a f=()
	[[ -n ${UMHMM_PERF:-} ]] || return 0
	r=$(step_results "$last_step")
	shopt -s nullglob
	f=("$r"/perf-stat.cs[v] "$r"/job*/perf-stat.csv)
	shopt -u nullglob
	((${#f[@]})) || return 0
	n=$(awk -F, '$3 == "context-switches" { n += $1 } END { print n }' "${f[@]}")
	[[ $n =~ ^[0-9]+$ ]] && sample "$1" "$n"
	return 0
}

for ((i = 1; i <= runs; i++)); do
	info "run $i of $runs"
	touch "$SRC/mm/migrate_device.c"
	t0=$(now_us)
	step "$s/test.sh" >/dev/null 2>&1 || die "make test failed during the benchmark (run $i)"
	t1=$(now_us)
	sample loop "$(fmt_seconds "$((t1 - t0))")"
	sample rebuild "$(phase_of build)"
	sample boot "$(phase_of boot)"
	# Boot to init alone: one UML whose job is `true`, with the machine
	# otherwise idle (the loop boots JOBS instances at once).
	boot_log=$bench_out/boot-$i.tsv
	PHASE_LOG=$boot_log bash "$s/run.sh" "$bench_out/boot-$i" -- true >/dev/null 2>&1 ||
		die "a UML boot failed during the benchmark (run $i)"
	sample boot-to-init "$(phase_value "$boot_log" boot-to-init)"
	sample suites "$(phase_of tests)"
	sample coverage "$(phase_of coverage)"
	sample_cpus cpus-rebuild build
	sample_cpus cpus-uml uml
	sample_cpus cpus-coverage coverage

	step "$s/selftests.sh" >/dev/null 2>&1 || die "make selftests failed during the benchmark (run $i)"
	sample hmm-tests "$(phase_of selftests)"
	JOBS=1 step "$s/selftests.sh" >/dev/null 2>&1 || die "JOBS=1 make selftests failed during the benchmark (run $i)"
	sample hmm-tests-1uml "$(phase_of selftests)"

	if [[ ${BENCH_COLD:-0} == 1 ]]; then
		rm -rf "${KOBJ:?}"
		t0=$(now_us)
		cpu=$(cold_build) || die "cold build failed (run $i)"
		t1=$(now_us)
		sample cold "$(fmt_seconds "$((t1 - t0))")"
		sample cold-cpu "$cpu"
		sample cold-objects "$(find "$KOBJ" -name '*.o' | wc -l)"
	fi
done

# What one fault, system call, fork and check case costs, on the host and
# in UML: the loop's figures are these prices times how often the suites
# pay them.
info "pricing single operations (umhmm-micro), host and UML"
build_tool umhmm-micro check
"$TOOL_BIN" "$bench_out/micro-host.tsv" || die "umhmm-micro failed on the host"
bash "$s/run.sh" "$bench_out/micro-uml" -- "$TOOL_BIN" "$GUEST_RESULTS/micro.tsv" >/dev/null 2>&1 ||
	die "umhmm-micro failed in UML (results: $bench_out/micro-uml)"

# Context switches: counted apart from the timed runs, which perf would slow.
if [[ -n $count_ctxsw ]]; then
	info "counting host context switches (perf stat)"
	touch "$SRC/mm/migrate_device.c"
	UMHMM_PERF=1 step "$s/test.sh" >/dev/null 2>&1 || die "make test failed under perf stat"
	UMHMM_PERF=1 ctxsw ctxsw-suites
	UMHMM_PERF=1 step "$s/selftests.sh" >/dev/null 2>&1 || die "make selftests failed under perf stat"
	UMHMM_PERF=1 ctxsw ctxsw-hmm
fi

bench_summary "$samples" >"$bench_out/bench.tsv"

{
	bench_machine
	uml_opts=$(uml_options "$KOBJ")
	printf 'kernel under test: %s, FLAVOR=%s%s\n\n' "$(kernel_full_version "$SRC")" "$FLAVOR" \
		"${uml_opts:+, UML options: $uml_opts}"
	printf '%-15s %9s %8s %8s %5s  %s\n' measure median min max runs "share of loop"
	# The loop's phases: rebuild, boot (to the job), suites, coverage.
	awk -F'\t' '
		{ m[NR] = $0; med[$1] = $2 }
		END {
			split("rebuild boot suites coverage", p, " ")
			for (i in p) part[p[i]] = 1
			for (i = 1; i <= NR; i++) {
				split(m[i], f, "\t")
				if (f[1] ~ /^ctxsw|^cold-objects$/) {
					printf "%-15s %9d %8d %8d %5d\n", f[1], f[2], f[3], f[4], f[5]
					continue
				}
				if (f[1] ~ /^cpus-/) {
					printf "%-15s %9.2f %8.2f %8.2f %5d\n", f[1], f[2], f[3], f[4], f[5]
					continue
				}
				fmt = (f[2] < 1) ? "%-15s %8.3fs %7.3fs %7.3fs %5d" : "%-15s %8.1fs %7.1fs %7.1fs %5d"
				printf fmt, f[1], f[2], f[3], f[4], f[5]
				if ((f[1] in part) && med["loop"] > 0)
					printf "  %5.1f%%", 100 * f[2] / med["loop"]
				printf "\n"
			}
		}' "$bench_out/bench.tsv"
	printf '\n%-15s %10s %10s %7s\n' "one operation" "host us" "UML us" "UML/host"
	# In the host's order: remap-2cpu needs two CPUs, which UML lacks.
	awk -F'\t' 'NR == FNR { host[$1] = $2; order[++n] = $1; next }
		{ uml[$1] = $2 }
		END {
			for (i = 1; i <= n; i++) {
				k = order[i]
				if (k in uml)
					printf "%-15s %10.2f %10.2f %6.0fx\n", k, host[k], uml[k], (host[k] > 0 ? uml[k] / host[k] : 0)
				else
					printf "%-15s %10.2f %10s %7s\n", k, host[k], "-", "-"
			}
			# Twice the price with the other CPU remapping: two UML
			# instances each ran at about half speed on such a host
			# (README, How fast, eleventh sitting).
			if (host["remap"] > 0 && host["remap-2cpu"] > 2 * host["remap"])
				printf "\nA page remap costs %.1f times as much while another CPU remaps: UML instances slow each other down here, and JOBS=1 runs the tests about as fast as JOBS=2.\n",
					host["remap-2cpu"] / host["remap"]
		}' "$bench_out/micro-host.tsv" "$bench_out/micro-uml/micro.tsv"
} | tee "$bench_out/bench.txt"
info "results: $bench_out"

# A small picture of the same table: medians with min..max bars.
if command -v gnuplot >/dev/null; then
	# Seconds only: the context switch and object counts and the CPUs busy
	# are no time.
	awk -F'\t' '$1 !~ /^ctxsw|^cold-objects$|^cpus-/ { print n++, $1, $2, $3, $4 }' "$bench_out/bench.tsv" >"$bench_out/bench.dat"
	gnuplot <<-GNUPLOT || info "gnuplot failed: no bench.png"
		set terminal pngcairo size 720,400 noenhanced
		set output "$bench_out/bench.png"
		set title "umhmm make bench, medians of $runs runs (min..max)"
		set ylabel "seconds"
		set logscale y
		set style fill solid 0.5
		set boxwidth 0.6
		set xtics rotate by -30
		set grid ytics
		unset key
		plot "$bench_out/bench.dat" using 1:3:xtic(2) with boxes, \
			"" using 1:3:4:5 with yerrorbars pt 0 lc rgb "black"
	GNUPLOT
	[[ ! -f $bench_out/bench.png ]] || info "plot: $bench_out/bench.png"
else
	info "no plot: gnuplot is missing (scripts/deps.sh bench installs it)"
fi
