#!/usr/bin/env bash
# make profile: where a run of umhmm's suites spends its time. Runs the
# suites once under `perf stat` (host CPU time, context switches, page
# faults of every UML host process) and, where perf_event_paranoid allows,
# once under `perf record`, then prints one summary: the guest's own page
# faults and context switches beside the host's, host cost per guest event,
# the host symbols that take the time, and each suite's time and guest page
# faults.
#
# Environment: as make test (TESTS, FLAVOR, BUILD_DIR, KERNEL_SRC).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# One UML instance: the guest counters and perf see the whole run.
export JOBS=1
check_settings KERNEL_BUILD UMHMM_TIMEOUT TESTS "${RUN_SETTINGS[@]}"
s=$UMHMM_ROOT/scripts
bash "$s/deps.sh" profile || exit 1
command -v perf >/dev/null || die "perf is missing although linux-perf is installed: is this Debian?"

# The runs below share the kernel objects (the steps take the lock again).
lock "$FLAVOR$KTAG"
steps=$(mktemp -d) || die "cannot create a temporary directory"
trap 'rm -rf "$steps"' EXIT

# Host counters over the whole UML run: run.sh's UMHMM_PERF (perf stat
# follows every process and thread UML starts).
UMHMM_RESULTS_TO=$steps/test UMHMM_COVERAGE_REPORT=0 UMHMM_PERF=1 \
	bash "$s/test.sh" >/dev/null 2>&1 || die "make test failed under perf stat: run make test first"
results=$(step_results "$steps/test")
out=$results/profile
mkdir -p "$out"
cp "$results/perf-stat.csv" "$out/perf-stat.csv" || die "perf stat wrote no counters in $results"

# perf stat -x , lines: value,unit,event,...
host() {
	awk -F, -v e="$1" '$3 == e { printf "%d\n", $1 }' "$out/perf-stat.csv"
}
# The difference of one counter of the guest's /proc/vmstat or /proc/stat.
guest() {
	local b e
	b=$(awk -v k="$1" '$1 == k { print $2; exit }' "$results/guest-counters.begin")
	e=$(awk -v k="$1" '$1 == k { print $2; exit }' "$results/guest-counters.end")
	[[ -n $b && -n $e ]] || die "no guest counter $1 in $results"
	printf '%d\n' "$((e - b))"
}

task_ms=$(host task-clock)
ctx=$(host context-switches)
migr=$(host cpu-migrations)
hflt=$(host page-faults)
gflt=$(guest pgfault)
gctx=$(guest ctxt)
suites_s=$(phase_value "$results/phases.tsv" tests || true)

# Optional: a sampled profile of the host, kernel symbols included where
# the host lets this user see them.
symbols=$out/symbols.txt
if perf record -q -o "$out/perf.data" -g -- true >/dev/null 2>&1; then
	UMHMM_COVERAGE_REPORT=0 UMHMM_WRAP="perf record -q -o $out/perf.data" \
		bash "$s/test.sh" >/dev/null 2>&1 || die "make test failed under perf record"
	perf report -i "$out/perf.data" --stdio --sort dso,sym 2>/dev/null |
		awk '/^ *[0-9.]+%/ { print; if (++n == 15) exit }' >"$symbols" || true
else
	printf 'perf record is not allowed here (kernel.perf_event_paranoid=%s)\n' \
		"$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?')" >"$symbols"
fi

{
	printf 'machine: %s, %s cores; kernel under test %s, FLAVOR=%s\n\n' \
		"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" "$(nproc)" \
		"$(kernel_full_version "$(bash "$s/kernel-source.sh")")" "$FLAVOR"
	printf 'suites phase (guest clock)   %8s s\n' "$suites_s"
	printf 'host CPU time of UML         %8.1f s\n' "$(awk -v m="$task_ms" 'BEGIN { print m / 1000 }')"
	printf 'host context switches        %8d   (%d/s of suites)\n' "$ctx" \
		"$(awk -v c="$ctx" -v t="$suites_s" 'BEGIN { printf "%d", (t > 0 ? c / t : 0) }')"
	printf 'host CPU migrations          %8d\n' "$migr"
	printf 'host page faults             %8d\n' "$hflt"
	printf 'guest page faults (suites)   %8d\n' "$gflt"
	printf 'guest context switches       %8d\n' "$gctx"
	printf 'host switches per guest fault+switch %5.1f\n' \
		"$(awk -v c="$ctx" -v f="$gflt" -v g="$gctx" 'BEGIN { print (f + g > 0 ? c / (f + g) : 0) }')"
	printf '\nper suite, longest first: guest clock, guest page faults\n'
	sort -t $'\t' -k2,2nr "$results/suites.tsv" |
		awk -F'\t' '{ printf "  %-34s %7.2f s %9s\n", $1, $2, $3 }'
	printf '\ntop host symbols (perf record, whole run):\n'
	cat "$symbols"
} | tee "$out/profile.txt"
info "results: $out"
