#!/usr/bin/env bash
# make bench-vm: the edit-to-result loop of make bench through a VM instead
# of UML, and both side by side. The same kernel source (the tree of
# kernel-source.sh, with the umhmm series and driver), built for x86_64
# with test_hmm and umhmm (vm/configs/x86_64.config), booted under QEMU's
# microvm machine (KVM when /dev/kvm works, else TCG software emulation),
# runs the same test binaries from an initramfs. Medians (with min and max)
# of BENCH_RUNS runs (default 5) of:
#
#   loop       touch mm/migrate_device.c, then what make test does: rebuild,
#              boot, every suite, coverage report; wall time
#   rebuild    the kernel build of that loop
#   boot       kernel start to init running the job (guest uptime)
#   suites     umhmm's suites alone, inside the VM
#   coverage   the coverage report of the loop (scripts/coverage.sh)
#   hmm-tests  upstream's hmm-tests alone, inside the VM, with the
#              arguments make selftests gives it
#   vm-wall    QEMU's whole run for the suites, host wall time
#   cold       BENCH_COLD=1 only: a full build of the VM kernel without
#              ccache from a clean output directory
#
# The UML figures come from the newest make bench table under
# $BUILD_DIR/results (or UML_BENCH=<bench.txt>). Writes bench-vm.tsv and
# bench-vm.txt under $BUILD_DIR/results/<run-id>/.
#
# Environment: BENCH_RUNS, BENCH_COLD, UML_BENCH, UMHMM_VM_ACCEL
# (auto|kvm|tcg), UMHMM_TIMEOUT (seconds per VM run, default 600).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

runs=${BENCH_RUNS:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS=$runs is not a positive number"
check_settings UMHMM_TIMEOUT
timeout_s=${UMHMM_TIMEOUT:-600}
s=$UMHMM_ROOT/scripts

uml_bench=${UML_BENCH:-}
if [[ -z $uml_bench ]]; then
	uml_bench=$(find "$BUILD_DIR/results" -mindepth 2 -maxdepth 2 -name bench.txt \
		-printf '%T@ %p\n' 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f2-)
elif [[ ! -s $uml_bench ]]; then
	die "UML_BENCH=$uml_bench is not a make bench table"
fi

bash "$s/deps.sh" vm || exit 1

new_results_dir
bench_out=$RESULTS
samples=$bench_out/samples.tsv
: >"$samples"
sample() {
	printf '%s\t%s\n' "$1" "$2" >>"$samples"
}
# What make test does before its boot: every stage checks its inputs.
build_all() {
	bash "$s/deps.sh" vm || exit 1
	SRC=$(bash "$s/kernel-source.sh") || exit 1
	bash "$s/prepare.sh" "$SRC" || exit 1
	bash "$s/vm-kernel.sh" "$SRC" >/dev/null || exit 1
	build_suites "$SRC"
}

# run_suites DIR: umhmm's suites in the VM, then the coverage report, as
# test.sh does; DIR gets the results. Returns 1 when a suite failed.
run_suites() {
	local dir=$1 ok=0
	UMHMM_JOB_PHASE=tests bash "$s/vm-run.sh" -t "$timeout_s" "$dir" -- \
		"$s/run-suites" "${SUITES[@]}" >"$dir.log" 2>&1 || ok=1
	compgen -G "$dir/*.tap" >/dev/null ||
		die "the VM wrote no test results (log: $dir.log, console: $dir/console.log)"
	UMHMM_KOBJ=$BUILD_DIR/vm$KTAG bash "$s/coverage.sh" "$SRC" "$dir" >"$dir.coverage.log" 2>&1 ||
		die "the coverage report of the VM's run failed (log: $dir.coverage.log)"
	return "$ok"
}

run_hmm_tests() {
	local dir=$1
	UMHMM_JOB_PHASE=selftests bash "$s/vm-run.sh" -t "$timeout_s" "$dir" -- \
		"$s/run-hmm-tests" "$HMM_TESTS_BIN" "${HMM_TESTS_OPTS[@]}" >"$dir.log" 2>&1 || return 1
}

# Build everything once: the loop measures the incremental case.
PHASE_LOG=$bench_out/setup.tsv
build_all
build_hmm_tests "$SRC"
hmm_tests_options "$HMM_TESTS_BIN" "$(kernel_version "$SRC")" >/dev/null

suites_ok=1 hmm_ok=1
for ((i = 1; i <= runs; i++)); do
	info "run $i of $runs"
	run=$bench_out/run-$i
	mkdir -p "$run"
	PHASE_LOG=$run/phases.tsv
	: >"$PHASE_LOG"
	touch "$SRC/mm/migrate_device.c"
	t0=$(now_us)
	build_all
	run_suites "$run/suites" || suites_ok=
	t1=$(now_us)
	sample loop "$(fmt_seconds "$((t1 - t0))")"
	sample rebuild "$(phase_value "$PHASE_LOG" vm-build)"
	sample boot "$(phase_value "$PHASE_LOG" boot)"
	sample suites "$(phase_value "$PHASE_LOG" tests)"
	sample coverage "$(phase_value "$PHASE_LOG" coverage)"
	sample vm-wall "$(phase_value "$PHASE_LOG" vm-wall)"

	run_hmm_tests "$run/hmm-tests" || hmm_ok=
	[[ -s $run/hmm-tests/hmm-tests.tap ]] ||
		die "hmm-tests wrote no output in the VM (log: $run/hmm-tests.log)"
	sample hmm-tests "$(phase_value "$PHASE_LOG" selftests)"

	if [[ ${BENCH_COLD:-0} == 1 ]]; then
		rm -rf "${BUILD_DIR:?}/vm$KTAG"
		t0=$(now_us)
		CCACHE_DISABLE=1 bash "$s/vm-kernel.sh" "$SRC" >/dev/null 2>&1 ||
			die "cold build of the VM kernel failed (run $i)"
		t1=$(now_us)
		sample cold "$(fmt_seconds "$((t1 - t0))")"
	fi
done

bench_summary "$samples" >"$bench_out/bench-vm.tsv"

# One fault, system call, fork and check case in the VM, beside make
# bench's prices for UML (micro-uml/micro.tsv beside the UML table).
info "pricing single operations (umhmm-micro) in the VM"
build_tool umhmm-micro check
bash "$s/vm-run.sh" -t "$timeout_s" "$bench_out/micro-vm" -- "$TOOL_BIN" "$GUEST_RESULTS/micro.tsv" \
	>"$bench_out/micro-vm.log" 2>&1 ||
	die "umhmm-micro failed in the VM (log: $bench_out/micro-vm.log)"
uml_micro=
if [[ -n $uml_bench && -s ${uml_bench%/*}/micro-uml/micro.tsv ]]; then
	uml_micro=${uml_bench%/*}/micro-uml/micro.tsv
fi

# The tests' outcome in the VM, counted in the last run; failures listed
# from every run: a failure here and not in UML is a real difference
# between the two, worth reading.
last=$bench_out/run-$runs
read -r s_pass s_fail s_skip <<<"$(tap_count "$last"/suites/*.tap)"
read -r h_pass h_fail h_skip <<<"$(tap_count "$last/hmm-tests/hmm-tests.tap")"
accel=$(sed -n 's/.*booting the VM (\(.*\)).*/\1/p' "$last/suites.log" | head -n 1)

# "measure median" pairs of the make bench table.
declare -A uml=()
if [[ -n $uml_bench ]]; then
	while read -r m med _; do
		uml[$m]=${med%s}
	done < <(awk '$1 != "measure" && NF >= 5 && $2 ~ /^[0-9.]+s$/' "$uml_bench")
fi

{
	bench_machine
	printf 'kernel under test: %s, x86_64 under QEMU %s (microvm, %s, 1 vCPU, 512 MiB)\n' \
		"$(kernel_full_version "$SRC")" \
		"$(qemu-system-x86_64 --version | sed -n '1s/.*version \([^ ]*\).*/\1/p')" "${accel:-?}"
	printf 'VM: umhmm suites %d passed, %d failed, %d skipped; hmm-tests %d passed, %d failed, %d skipped\n' \
		"$s_pass" "$s_fail" "$s_skip" "$h_pass" "$h_fail" "$h_skip"
	# Every failing test of every run: how often, in which runs, and its
	# first message.
	(cd "$bench_out" && grep -H '^not ok' run-*/suites/*.tap run-*/hmm-tests/hmm-tests.tap) |
		awk '{
			run = $0; sub(/\/.*/, "", run); sub(/^run-/, "", run)
			line = $0; sub(/^[^:]*:not ok [0-9]* *-? */, "", line)
			n = split(line, f, ":")
			name = (n >= 4) ? f[1] ":" f[2] ":" f[3] : line
			if (!(name in count)) { order[++k] = name; first[name] = line }
			count[name]++
			if (index(" " runs[name] " ", " " run " ") == 0) runs[name] = runs[name] (runs[name] == "" ? "" : " ") run
		}
		END {
			for (j = 1; j <= k; j++) {
				m = order[j]
				printf "VM failure: %s, %d time(s), in run(s) %s; first: %s\n", m, count[m], runs[m], substr(first[m], 1, 200)
			}
		}' || true
	if [[ -n $uml_bench ]]; then
		printf 'UML: %s\n\n' "$uml_bench"
	else
		printf 'UML: no make bench table under %s/results: run make bench for the UML side\n\n' "$BUILD_DIR"
	fi
	printf '%-10s %9s %8s %8s %5s   %9s %9s\n' measure "VM median" min max runs "UML" "VM/UML"
	while IFS=$'\t' read -r m med lo hi n; do
		u=${uml[$m]:-}
		ratio=-
		if [[ -n $u ]] && awk -v u="$u" 'BEGIN { exit !(u > 0) }'; then
			ratio=$(awk -v v="$med" -v u="$u" 'BEGIN { printf "%.1fx", v / u }')
		fi
		printf '%-10s %8.1fs %7.1fs %7.1fs %5d   %9s %9s\n' "$m" "$med" "$lo" "$hi" "$n" \
			"${u:+${u}s}" "$ratio"
	done <"$bench_out/bench-vm.tsv"
	printf '\n%-15s %10s %10s %7s\n' "one operation" "VM us" "UML us" "VM/UML"
	if [[ -n $uml_micro ]]; then
		awk -F'\t' 'NR == FNR { uml[$1] = $2; next }
			{ printf "%-15s %10.2f %10.2f %6.2fx\n", $1, $2, uml[$1], (uml[$1] > 0 ? $2 / uml[$1] : 0) }' \
			"$uml_micro" "$bench_out/micro-vm/micro.tsv"
	else
		awk -F'\t' '{ printf "%-15s %10.2f %10s %7s\n", $1, $2, "-", "-" }' "$bench_out/micro-vm/micro.tsv"
	fi
} | tee "$bench_out/bench-vm.txt"
info "results: $bench_out"
# The timings of a route whose tests failed are not the same loop's: the
# table stays for a look, the run fails (make bench dies at once there).
if [[ -z $suites_ok || -z $hmm_ok ]]; then
	die "tests failed in the VM (see above and $last): these timings are not comparable"
fi
