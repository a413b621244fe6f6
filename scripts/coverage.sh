#!/usr/bin/env bash
# Turns the gcov data a run captured into lcov tracefiles, an HTML report
# and tables: per file against coverage/thresholds, per test case, umhmm's
# suites beside upstream's hmm-tests, and (BASE=<rev>) the lines changed
# since BASE.
#
#   coverage.sh SRC RESULTS_DIR
#
# RESULTS_DIR/gcov/<name>/ (and RESULTS_DIR/job<i>/gcov/<name>/ for the
# instances of a JOBS=N run) holds the .gcda files one test case
# (suite.tcase) or hmm-tests left in /sys/kernel/debug/gcov, under the
# absolute path of the Kbuild output directory ($KOBJ).
#
# Environment: COVERAGE_CHECK=1 fails below a threshold; BASE=<rev> with a
# git KERNEL_SRC reports patch coverage, and PATCH_COVERAGE_STRICT=1 fails
# when a changed line was not run.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# == 2)) || die "usage: coverage.sh SRC RESULTS_DIR"
SRC=$1
RESULTS=$2
GCOV_IN=$RESULTS/gcov
OUT=$RESULTS/coverage
FILES_LIST=$UMHMM_ROOT/coverage/files.list
# Figures are per kernel version: a newer kernel compiles paths UML cannot
# run (7.2's device THP migration), so coverage/thresholds-<version>
# overrides coverage/thresholds, which holds the default version's.
THRESHOLDS=$UMHMM_ROOT/coverage/thresholds
if [[ -f $THRESHOLDS-$(kernel_version "$SRC") ]]; then
	THRESHOLDS=$THRESHOLDS-$(kernel_version "$SRC")
fi

command -v lcov >/dev/null || die "lcov is missing: run scripts/deps.sh"
command -v gcov-tool >/dev/null || die "gcov-tool is missing (Debian package gcc): run scripts/deps.sh"
if ! compgen -G "$GCOV_IN/*/" >/dev/null && ! compgen -G "$RESULTS/job*/gcov/*/" >/dev/null; then
	die "no coverage data in $GCOV_IN: was the kernel built with coverage.config (CONFIG_GCOV_KERNEL)?"
fi

mapfile -t FILES < <(measured_files)
((${#FILES[@]})) || die "$FILES_LIST lists no file"

rm -rf "$OUT"
mkdir -p "$OUT/cases"

LCOV=(lcov --quiet --rc lcov_branch_coverage=1)

# geninfo from Debian 12 warns about redefined subroutines on every call;
# keep real errors, drop that noise.
lcov_quiet() {
	"${LCOV[@]}" "$@" 2> >(grep -v 'redefined at' >&2)
}

# The directory under DIR that mirrors $KOBJ. The kernel names its .gcda
# files after the directory it was compiled in: a kernel build copied
# from another build directory (cp -a, as the self-tests for concurrent
# and unprivileged runs do) still writes them there, and its objects and
# .gcno files are the ones beside $KOBJ.
object_root() {
	local dir=$1 f g
	if [[ -d $dir$KOBJ ]]; then
		printf '%s\n' "$dir$KOBJ"
		return 0
	fi
	for f in "${FILES[@]}"; do
		f=${f%.c}
		g=$(find "$dir" -path "*/$f.gcda" -print -quit)
		if [[ -n $g && -f $KOBJ/$f.gcno ]]; then
			printf '%s\n' "${g%/"$f".gcda}"
			return 0
		fi
	done
	return 1
}

# One tracefile per capture, restricted to the measured files.
capture() {
	local dir=$1 name=$2 gcda gcno obj
	obj=$(object_root "$dir") || die "$dir has no data of the objects in $KOBJ: captured from another build?"
	# gcov wants each .gcno beside its .gcda.
	while IFS= read -r -d '' gcda; do
		gcno=$KOBJ${gcda#"$obj"}
		gcno=${gcno%.gcda}.gcno
		[[ -f $gcno ]] || die "$gcno is missing: rebuild the kernel before reading its coverage"
		ln -sf "$gcno" "${gcda%.gcda}.gcno"
	done < <(find "$obj" -name '*.gcda' -print0)
	# One lcov (a perl start each) per capture: --include filters as it reads.
	local include=() f
	for f in "${FILES[@]}"; do
		include+=(--include "*/$f")
	done
	lcov_quiet --capture --directory "$obj" "${include[@]}" --output-file "$OUT/cases/$name.info"
}

phase_begin coverage
# What several instances saved under one name (each JOBS=N instance's boot
# and suites snapshots; hmm-tests.job<i> when make selftests split
# hmm-tests) is summed first by gcov-tool, the compiler's own profile
# merger (milliseconds), and captured once: a capture per instance and an
# lcov merge of their tracefiles cost a perl start each (0.1 to 0.2 s).
declare -A parts=()
shopt -s nullglob
for dir in "$GCOV_IN"/*/ "$RESULTS"/job*/gcov/*/; do
	name=${dir%/}
	name=${name##*/}
	[[ $name =~ ^(.+)\.job[0-9]+$ ]] && name=${BASH_REMATCH[1]}
	parts[$name]+="${dir%/}"$'\n'
done
shopt -u nullglob
# sum_instances NAME: print the one directory holding NAME's counters.
sum_instances() {
	local name=$1 sum i
	local -a dirs
	mapfile -t dirs < <(printf '%s' "${parts[$name]}")
	if ((${#dirs[@]} == 1)); then
		printf '%s\n' "${dirs[0]}"
		return 0
	fi
	mkdir -p "$OUT/sum" || die "cannot create $OUT/sum"
	sum=${dirs[0]}
	for ((i = 1; i < ${#dirs[@]}; i++)); do
		gcov-tool merge -o "$OUT/sum/$name.$i" "$sum" "${dirs[i]}" >/dev/null ||
			die "gcov-tool cannot merge the counters of $sum and ${dirs[i]}"
		sum=$OUT/sum/$name.$i
	done
	printf '%s\n' "$sum"
}
# One geninfo per test case is most of the time here: run them in parallel.
# A capture that fails ends the script, but only once the others have
# ended too: none may go on writing into $OUT behind a later run. (Waited
# for, not killed: a kill would reach the subshell and not the lcov and
# geninfo it runs.)
max_jobs=$(nproc)
pids=()
reap_captures() {
	((${#pids[@]})) || return 0
	wait "${pids[@]}" 2>/dev/null || true
}
trap reap_captures EXIT
for name in "${!parts[@]}"; do
	(
		dir=$(sum_instances "$name") || exit 1
		capture "$dir" "$name"
	) &
	pids+=("$!")
	if ((${#pids[@]} >= max_jobs)); then
		wait "${pids[0]}" || exit 1
		pids=("${pids[@]:1}")
	fi
done
while ((${#pids[@]})); do
	wait "${pids[0]}" || exit 1
	pids=("${pids[@]:1}")
done
trap - EXIT
rm -rf "$OUT/sum"

# boot: what ran before the first test (kernel init, driver probe); it
# belongs to both umhmm's suites and upstream's.
mapfile -t own < <(find "$OUT/cases" -name '*.info' ! -name 'hmm-tests.info' | sort)
((${#own[@]})) || die "no coverage of umhmm's own suites in $GCOV_IN"

merge() {
	local out=$1 args=() f
	shift
	# One tracefile is its own merge: no perl start for it.
	if (($# == 1)); then
		cp "$1" "$out" || die "cannot copy $1 to $out"
		return 0
	fi
	for f in "$@"; do
		args+=(--add-tracefile "$f")
	done
	lcov_quiet "${args[@]}" --output-file "$out"
}

merge "$OUT/umhmm.info" "${own[@]}"
tracefiles=("$OUT/umhmm.info")
if [[ -f $OUT/cases/hmm-tests.info ]]; then
	upstream=("$OUT/cases/hmm-tests.info")
	[[ -f $OUT/cases/boot.info ]] && upstream+=("$OUT/cases/boot.info")
	merge "$OUT/upstream.info" "${upstream[@]}"
	merge "$OUT/all.info" "$OUT/umhmm.info" "$OUT/upstream.info"
	tracefiles+=("$OUT/upstream.info" "$OUT/all.info")
else
	cp "$OUT/umhmm.info" "$OUT/all.info"
fi

# The HTML report is written while the tables below are computed.
genhtml --quiet --branch-coverage --legend --prefix "$SRC" \
	--title "umhmm coverage" --output-directory "$OUT/html" \
	"$OUT/all.info" 2> >(grep -v 'redefined at' >&2) &
genhtml_pid=$!
# A die below must not leave it writing after this script has gone.
trap 'wait "$genhtml_pid" 2>/dev/null || true' EXIT

# file lines% functions% branches% for every measured file of a tracefile,
# counted from its records (DA, FN/FNDA, BRDA): a capture that lcov did
# not merge has no LF/LH summary lines.
summarize() {
	awk -v files="${FILES[*]}" '
	function pct(h, f) { return f ? sprintf("%.1f", 100 * h / f) : "-" }
	BEGIN { n = split(files, want, " ") }
	/^SF:/ { sf = substr($0, 4); seen[sf] = 1 }
	/^DA:/ { split(substr($0, 4), a, ","); k = sf SUBSEP a[1]
		if (!(k in da)) { da[k] = 0; lf[sf]++ }
		if (a[2] > 0 && !da[k]) { da[k] = 1; lh[sf]++ } }
	/^FN:/ { m = split(substr($0, 4), a, ","); k = sf SUBSEP a[m]
		if (!(k in fn)) { fn[k] = 0; ff[sf]++ } }
	/^FNDA:/ { split(substr($0, 6), a, ","); k = sf SUBSEP a[2]
		if (a[1] > 0 && !fn[k]) { fn[k] = 1; fh[sf]++ } }
	/^BRDA:/ { split(substr($0, 6), a, ","); k = sf SUBSEP a[1] SUBSEP a[2] SUBSEP a[3]
		if (!(k in br)) { br[k] = 0; bf[sf]++ }
		if (a[4] != "-" && a[4] > 0 && !br[k]) { br[k] = 1; bh[sf]++ } }
	END {
		for (i = 1; i <= n; i++) {
			found = 0
			for (s in seen) {
				if (substr(s, length(s) - length(want[i]) + 1) == want[i] &&
				    substr(s, length(s) - length(want[i]), 1) == "/") {
					printf "%s %s %s %s\n", want[i], pct(lh[s], lf[s]),
						pct(fh[s], ff[s]), pct(bh[s], bf[s])
					found = 1
				}
			}
			if (!found)
				printf "%s - - -\n", want[i]
		}
	}' "$1"
}

summarize "$OUT/all.info" >"$OUT/summary.txt"

failed_threshold=()
{
	printf '%-24s %8s %10s %9s   %s\n' file lines% functions% branches% "threshold (make coverage)"
	while read -r file lines funcs branches; do
		want=$(awk -v f="$file" '$1 == f { print $2 }' "$THRESHOLDS" 2>/dev/null || true)
		mark=
		if [[ -n $want ]]; then
			if [[ $lines == - ]] || awk -v a="$lines" -v b="$want" 'BEGIN { exit !(a < b) }'; then
				mark="<- below $want"
				failed_threshold+=("$file")
			else
				mark=">= $want"
			fi
		fi
		printf '%-24s %8s %10s %9s   %s\n' "$file" "$lines" "$funcs" "$branches" "$mark"
	done <"$OUT/summary.txt"
} >"$OUT/table.txt"
cat "$OUT/table.txt"

# umhmm's suites, upstream's hmm-tests and both, line coverage side by side.
if [[ -f $OUT/upstream.info ]]; then
	summarize "$OUT/umhmm.info" >"$OUT/.own"
	summarize "$OUT/upstream.info" >"$OUT/.up"
	{
		printf '\n%-24s %10s %10s %10s   (lines%%)\n' file hmm-tests umhmm both
		join <(sort "$OUT/.up") <(sort "$OUT/.own") |
			join - <(sort "$OUT/summary.txt") |
			awk '{ printf "%-24s %10s %10s %10s\n", $1, $2, $5, $8 }'
	} | tee "$OUT/side-by-side.txt"
	rm -f "$OUT/.own" "$OUT/.up"
fi

# umhmm's suites alone against the third column of coverage/thresholds.
summarize "$OUT/umhmm.info" >"$OUT/.own"
{
	printf '\n%-24s %8s   %s\n' file lines% "floor (umhmm's suites alone)"
	while read -r file lines _; do
		want=$(awk -v f="$file" '$1 == f { print $3 }' "$THRESHOLDS" 2>/dev/null || true)
		[[ -n $want ]] || continue
		if [[ $lines == - ]] || awk -v a="$lines" -v b="$want" 'BEGIN { exit !(a < b) }'; then
			mark="<- below $want"
			failed_threshold+=("$file (umhmm alone)")
		else
			mark=">= $want"
		fi
		printf '%-24s %8s   %s\n' "$file" "$lines" "$mark"
	done <"$OUT/.own"
} >"$OUT/own-floor.txt"
rm -f "$OUT/.own"
cat "$OUT/own-floor.txt"

# Per test case: which lines each reached, who reached each line, and which
# cases reach nothing another case does not. Only a COVERAGE_PER_TEST=1 run
# (make coverage) saved the counters per case.
if compgen -G "$OUT/cases/suites*.info" >/dev/null; then
	info "per-test attribution: run with COVERAGE_PER_TEST=1 (make coverage does)"
else
	bash "$UMHMM_ROOT/scripts/coverage-cases.sh" "$OUT" >"$OUT/per-test.txt"
	info "per-test attribution: $OUT/per-test.txt (who reaches a line: scripts/coverage-who.sh FILE:LINE)"
fi

if [[ -n ${BASE:-} ]]; then
	bash "$UMHMM_ROOT/scripts/coverage-patch.sh" "$SRC" "$BASE" "$OUT/all.info" |
		tee "$OUT/patch.txt"
	if [[ ${PATCH_COVERAGE_STRICT:-0} == 1 ]] && grep -q '^uncovered' "$OUT/patch.txt"; then
		die "changed lines since $BASE that no test ran (see $OUT/patch.txt)"
	fi
fi
wait "$genhtml_pid" || die "genhtml failed"
phase_end coverage

info "HTML report: $OUT/html/index.html"
if [[ ${COVERAGE_CHECK:-0} == 1 ]] && ((${#failed_threshold[@]})); then
	die "below the committed threshold: ${failed_threshold[*]} (coverage/thresholds)"
fi
