#!/usr/bin/env bash
# The harness's own tests: each case runs a script the way a user would and
# checks its exit status and its one-line error. Cases that boot UML use
# $KOBJ/linux (built by the pipeline if missing) or UMHMM_SELFTEST_KERNEL.
#
#   scripts/selftest/harness.sh [CASE...]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

S=$UMHMM_ROOT/scripts
tmp=$(mktemp -d "${TMPDIR:-/tmp}/umhmm-selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# expect_fail NAME REGEX CMD...: CMD must exit non-zero and print exactly
# one line on stderr, matching REGEX. Sets OUT to that output.
expect_fail() {
	local name=$1 re=$2 rc=0 lines
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
	OUT=$(<"$tmp/err")
	lines=$(wc -l <"$tmp/err")
	if ((rc == 0)); then
		fail_case "$name: exit status 0"
	elif ((lines != 1)); then
		fail_case "$name: $lines lines on stderr, wanted 1: $OUT"
	elif ! grep -qE -- "$re" "$tmp/err"; then
		fail_case "$name: stderr '$OUT' does not match /$re/"
	fi
}

failures=()
fail_case() {
	failures+=("$1")
	printf '  %s\n' "$1" >&2
}

# A fake kernel tree with two files, a harness root with its own series.
fake_tree() {
	local k=$1
	mkdir -p "$k/arch/um" "$k/mm"
	printf 'VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n' >"$k/Makefile"
	printf 'all:\n' >"$k/arch/um/Makefile"
	printf 'one\ntwo\nthree\n' >"$k/mm/a.c"
	printf 'alpha\nbeta\n' >"$k/mm/b.c"
}

fake_root() {
	local r=$1
	mkdir -p "$r/uml/patches/6.12"
	cp -r "$S" "$r/scripts"
}

make_patch() {
	local k=$1 file=$2 from=$3 to=$4 out=$5
	local orig=$tmp/orig.$$
	cp "$k/$file" "$orig"
	sed "s/^$from\$/$to/" "$orig" >"$tmp/new.$$"
	{
		printf 'Subject: [PATCH] test\n\n---\n'
		diff -u --label "a/$file" --label "b/$file" "$orig" "$tmp/new.$$" || true
	} >"$out"
}

tree_sum() {
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
}

case_unknown_flavor() {
	expect_fail unknown-flavor "^test.sh: unknown FLAVOR 'nope' \(known: base debug\)$" \
		env FLAVOR=nope bash "$S/test.sh"
}

case_wrong_kernel_src() {
	mkdir -p "$tmp/notakernel"
	expect_fail wrong-kernel-src "KERNEL_SRC=$tmp/notakernel is not a kernel source tree \(no arch/um/Makefile\)" \
		env KERNEL_SRC="$tmp/notakernel" BUILD_DIR="$tmp/build" bash "$S/test.sh"
}

case_patch_refused() {
	local k=$tmp/k r=$tmp/root before
	fake_tree "$k"
	fake_root "$r"
	make_patch "$k" mm/a.c two TWO "$r/uml/patches/6.12/0001-good.patch"
	# 0002 expects a line the tree does not have.
	printf -- "--- a/mm/b.c\n+++ b/mm/b.c\n@@ -1,2 +1,2 @@\n alpha\n-gamma\n+GAMMA\n" \
		>"$r/uml/patches/6.12/0002-bad.patch"
	before=$(tree_sum "$k")
	expect_fail patch-refused "patch 0002-bad.patch does not apply to $k \(kernel 6.12.0\): rebase the series or use the default source" \
		env BUILD_DIR="$tmp/build" bash "$r/scripts/prepare.sh" "$k"
	[[ $(tree_sum "$k") == "$before" ]] || fail_case "patch-refused: the tree changed"

	# Without the bad patch: applies once, then is a no-op, then reverts.
	rm "$r/uml/patches/6.12/0002-bad.patch"
	BUILD_DIR=$tmp/build bash "$r/scripts/prepare.sh" "$k" 2>/dev/null ||
		fail_case "prepare: the good series was refused"
	grep -qx TWO "$k/mm/a.c" || fail_case "prepare: 0001 not applied"
	BUILD_DIR=$tmp/build bash "$r/scripts/prepare.sh" "$k" 2>"$tmp/err" ||
		fail_case "prepare: second run failed"
	[[ ! -s $tmp/err ]] || fail_case "prepare: second run was not a no-op: $(<"$tmp/err")"
	# An edited patch replaces its older version in the tree.
	make_patch "$k" mm/b.c beta BETA "$r/uml/patches/6.12/0001-good.patch"
	BUILD_DIR=$tmp/build bash "$r/scripts/prepare.sh" "$k" 2>/dev/null ||
		fail_case "prepare: an edited patch was refused"
	if ! grep -qx two "$k/mm/a.c" || ! grep -qx BETA "$k/mm/b.c"; then
		fail_case "prepare: the edited patch did not replace the old one"
	fi
	BUILD_DIR=$tmp/build bash "$r/scripts/unprepare.sh" "$k" 2>/dev/null ||
		fail_case "unprepare failed"
	[[ $(tree_sum "$k") == "$before" ]] || fail_case "unprepare: the tree is not as before"

	rm -rf "$r/uml/patches/6.12"
	mkdir -p "$r/uml/patches/6.1"
	cp "$tmp/k/mm/a.c" "$r/uml/patches/6.1/0001-x.patch"
	expect_fail no-series "no patch series for kernel 6.12 in uml/patches/ \(supported: 6.1\)" \
		env BUILD_DIR="$tmp/build" bash "$r/scripts/prepare.sh" "$k"
}

case_bad_kernel_version() {
	expect_fail bad-kernel-version "^kernel-source.sh: KERNEL_VERSION=7 is not a kernel version like 6.12 or 7.2$" \
		env KERNEL_VERSION=7 BUILD_DIR="$tmp/build" bash "$S/kernel-source.sh"
}

# A version that is not installed is downloaded; when that fails (here: a
# mirror nobody listens on), the last line says so and nothing is left
# that a later run could take for a tree.
case_download_fails() {
	local b=$tmp/dl rc=0 last
	env KERNEL_VERSION=9.99 UMHMM_DEBIAN_MIRROR=http://127.0.0.1:9/debian BUILD_DIR="$b" \
		bash "$S/kernel-source.sh" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
	last=$(tail -n 1 "$tmp/err")
	if ((rc == 0)); then
		fail_case "download-fails: exit status 0"
	elif [[ $last != "kernel-source.sh: cannot download linux-source-9.99 from Debian unstable at http://127.0.0.1:9/debian (log: $b/apt/download.log)"* ]]; then
		fail_case "download-fails: last line '$last'"
	fi
	[[ ! -s $tmp/out ]] || fail_case "download-fails: printed a tree: $(<"$tmp/out")"
	if [[ -e $b/apt/linux-source-9.99.tar.xz || -e $b/src/linux-source-9.99 ]]; then
		fail_case "download-fails: left a tarball or tree behind"
	fi
}

case_unknown_tests() {
	local d=$tmp/suites
	mkdir -p "$d"
	printf '#!/bin/sh\nexit 0\n' >"$d/test_alpha"
	printf '#!/bin/sh\nexit 0\n' >"$d/test_beta"
	chmod +x "$d"/test_*
	expect_fail unknown-tests "no suite matches 'nosuch' \(known: test_alpha test_beta\)" \
		env TESTS=nosuch UMHMM_OUT="$tmp" bash "$S/run-suites" "$d/test_alpha" "$d/test_beta"
}

case_config_mismatch() {
	local r=$tmp/croot src
	src=$(bash "$S/kernel-source.sh") || { fail_case "config-mismatch: no kernel source"; return; }
	# MMU_NOTIFIER is only selected once the series makes HMM available.
	bash "$S/prepare.sh" "$src" >/dev/null 2>&1 || { fail_case "config-mismatch: prepare failed"; return; }
	fake_root "$r"
	cp -r "$UMHMM_ROOT/uml/configs" "$UMHMM_ROOT/uml/patches" "$r/uml/"
	printf "CONFIG_UMHMM_NO_SUCH_OPTION=y\n# CONFIG_MMU_NOTIFIER is not set\n" >>"$r/uml/configs/base.config"
	if env BUILD_DIR="$tmp/cbuild" bash "$r/scripts/configure.sh" "$src" >/dev/null 2>"$tmp/err"; then
		fail_case "config-mismatch: configure.sh accepted an option Kconfig dropped"
	fi
	grep -q "CONFIG_UMHMM_NO_SUCH_OPTION: requested y (base.config), got not set" "$tmp/err" ||
		fail_case "config-mismatch: the dropped option was not listed: $(<"$tmp/err")"
	grep -q "CONFIG_MMU_NOTIFIER: requested n (base.config), got y" "$tmp/err" ||
		fail_case "config-mismatch: the unwanted option was not listed: $(<"$tmp/err")"
}

uml_kernel() {
	if [[ -n ${UMHMM_SELFTEST_KERNEL:-} ]]; then
		printf '%s\n' "$UMHMM_SELFTEST_KERNEL"
		return 0
	fi
	if [[ ! -x $KOBJ/linux ]]; then
		info "building the UML kernel for the run.sh cases"
		build_kernel >&2
	fi
	printf '%s\n' "$KOBJ/linux"
}

case_job_fails() {
	local k
	k=$(uml_kernel)
	if bash "$S/run.sh" -t 60 -k "$k" "$tmp/r-exit" -- bash -c 'exit 1' >/dev/null 2>"$tmp/err"; then
		fail_case "job-fails: run.sh succeeded for a job that exits 1"
	fi
	grep -q 'the job failed with exit status 1' "$tmp/err" ||
		fail_case "job-fails: no 'exit status 1' report: $(<"$tmp/err")"
}

case_splat() {
	local k
	k=$(uml_kernel)
	if bash "$S/run.sh" -t 60 -k "$k" "$tmp/r-splat" -- bash -c '
		echo "umhmm: running fake_suite" >/dev/kmsg
		echo "WARNING: CPU: 0 PID: 1 at mm/fake.c:1 fake_function+0x0/0x10" >/dev/kmsg
		exit 0' >/dev/null 2>"$tmp/err"; then
		fail_case "splat: run.sh succeeded despite a WARNING"
	fi
	grep -q 'WARNING: CPU: 0 PID: 1 at mm/fake.c:1' "$tmp/err" ||
		fail_case "splat: the WARNING line was not printed"
	grep -q 'while running fake_suite' "$tmp/err" ||
		fail_case "splat: the running test was not named"
	[[ -z ${UMHMM_SELFTEST_SHOW:-} ]] || cat "$tmp/err" >&2
}

case_suite_failure() {
	local k d=$BUILD_DIR/selftest-suites
	k=$(uml_kernel)
	# Inside UML the host's /tmp is hidden: the fake suites live in BUILD_DIR.
	mkdir -p "$d"
	# shellcheck disable=SC2016 # expanded by the fake suite
	printf '#!/bin/sh\nprintf "1..1\\nok 1 - good\\n" >"$CK_TAP_LOG_FILE_NAME"\n' >"$d/test_good"
	# shellcheck disable=SC2016 # expanded by the fake suite
	printf '#!/bin/sh\nprintf "1..1\\nnot ok 1 - bad\\n" >"$CK_TAP_LOG_FILE_NAME"\nexit 1\n' >"$d/test_bad"
	chmod +x "$d"/test_*
	if bash "$S/run.sh" -t 60 -k "$k" "$tmp/r-suites" -- "$S/run-suites" "$d/test_good" "$d/test_bad" \
		>"$tmp/out" 2>"$tmp/err"; then
		fail_case "suite-failure: a failing suite did not fail the run"
	fi
	grep -q "failed suites: test_bad$" "$tmp/out" ||
		fail_case "suite-failure: the failing suite was not named: $(<"$tmp/out")"
	grep -q "^ok 1 - good" "$tmp/r-suites/test_good.tap" ||
		fail_case "suite-failure: no TAP file for the passing suite"
	rm -rf "$d"
}

# A real WARN from the umhmm driver's debugfs trigger, call trace and all.
# Runs the umhmm driver's debugfs trigger WHAT in a job that announces
# itself as real_WHAT_case, with run.sh's timeout SECONDS; stderr goes to
# $tmp/err. Fails the case if the run succeeds; returns 1 when skipped.
run_trigger() {
	local what=$1 seconds=$2 k
	if [[ -n ${UMHMM_SELFTEST_KERNEL:-} ]]; then
		printf 'skip real_%s: needs the umhmm kernel, not UMHMM_SELFTEST_KERNEL\n' "$what"
		return 1
	fi
	k=$(uml_kernel)
	if bash "$S/run.sh" -t "$seconds" -k "$k" "$tmp/r-$what" -- bash -c "
		echo 'umhmm: running real_${what}_case' >/dev/kmsg
		echo $what >/sys/kernel/debug/umhmm/trigger" >/dev/null 2>"$tmp/err"; then
		fail_case "real-$what: run.sh succeeded despite the $what trigger"
	fi
}

case_real_warn() {
	run_trigger warn 60 || return 0
	grep -q "WARNING: CPU: 0 PID: [0-9]* at .*umhmm" "$tmp/err" ||
		fail_case "real-warn: the WARNING line was not printed: $(<"$tmp/err")"
	grep -q "while running real_warn_case" "$tmp/err" ||
		fail_case "real-warn: the running test was not named"
	[[ -z ${UMHMM_SELFTEST_SHOW:-} ]] || cat "$tmp/err" >&2
}

# A real kernel crash (NULL dereference in the driver: UML panics): the run
# fails, the panic is printed and the running test named.
case_real_oops() {
	run_trigger oops 60 || return 0
	grep -q "Kernel panic" "$tmp/err" ||
		fail_case "real-oops: the panic was not printed: $(<"$tmp/err")"
	grep -q "while running real_oops_case" "$tmp/err" ||
		fail_case "real-oops: the running test was not named"
}

# A task stuck in the kernel for good: killed at the timeout and reported.
case_real_hang() {
	run_trigger hang 10 || return 0
	grep -q 'timeout after 10 s' "$tmp/err" ||
		fail_case "real-hang: the timeout was not reported: $(<"$tmp/err")"
}

# Pids of the live processes of the run with umid UMID (a zombie holds
# nothing and its parent reaps it).
leftovers() {
	local umid=$1 q st a
	local -a argv
	for q in /proc/[0-9]*; do
		{ read -r _ _ st _ <"$q/stat"; } 2>/dev/null || continue
		[[ $st != Z ]] || continue
		{ mapfile -d "" -t argv <"$q/cmdline"; } 2>/dev/null || continue
		for a in "${argv[@]}"; do
			[[ $a == "umid=$umid" ]] && printf '%s\n' "${q#/proc/}"
		done
	done
	return 0
}

# Twenty crashed and timed-out runs in a row leave no process behind, and
# the run after them works.
case_repeated_failures() {
	local k i umid left=()
	if [[ -n ${UMHMM_SELFTEST_KERNEL:-} ]]; then
		printf 'skip repeated_failures: needs the umhmm kernel, not UMHMM_SELFTEST_KERNEL\n'
		return 0
	fi
	k=$(uml_kernel)
	for ((i = 0; i < 20; i++)); do
		if ((i % 2)); then
			if bash "$S/run.sh" -t 3 -k "$k" "$tmp/r-rep" -- sleep 600 >/dev/null 2>&1; then
				fail_case "repeated: timed-out run $i passed"
			fi
		elif bash "$S/run.sh" -t 60 -k "$k" "$tmp/r-rep" -- \
			bash -c 'echo oops >/sys/kernel/debug/umhmm/trigger' >/dev/null 2>&1; then
			fail_case "repeated: crashed run $i passed"
		fi
		umid=$(<"$tmp/r-rep/umid")
		mapfile -t left < <(leftovers "$umid")
		if ((${#left[@]})); then
			fail_case "repeated: run $i left processes of $umid: ${left[*]}"
			return
		fi
	done
	bash "$S/run.sh" -t 60 -k "$k" "$tmp/r-rep" -- true >/dev/null 2>&1 ||
		fail_case "repeated: a clean run after the failures failed"
}

case_timeout() {
	local k umid left=()
	k=$(uml_kernel)
	if bash "$S/run.sh" -t 5 -k "$k" "$tmp/r-timeout" -- sleep 600 >/dev/null 2>"$tmp/err"; then
		fail_case "timeout: run.sh succeeded for a job that sleeps past -t 5"
	fi
	grep -q 'timeout after 5 s' "$tmp/err" || fail_case "timeout: not reported: $(<"$tmp/err")"
	umid=$(<"$tmp/r-timeout/umid")
	mapfile -t left < <(leftovers "$umid")
	((${#left[@]} == 0)) || fail_case "timeout: processes of $umid remain: ${left[*]}"
}

# make or CI killing run.sh midway must not leave UML running.
case_interrupted() {
	local k p umid left=() i
	k=$(uml_kernel)
	bash "$S/run.sh" -t 120 -k "$k" "$tmp/r-int" -- sleep 100 >/dev/null 2>&1 &
	p=$!
	# Interrupt once UML runs: poll for its processes, bounded to 10 s.
	for ((i = 0; i < 100; i++)); do
		if [[ -s $tmp/r-int/umid ]]; then
			mapfile -t left < <(leftovers "$(<"$tmp/r-int/umid")")
			((${#left[@]})) && break
		fi
		sleep 0.1
	done
	left=()
	kill -TERM "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	umid=$(<"$tmp/r-int/umid")
	mapfile -t left < <(leftovers "$umid")
	((${#left[@]} == 0)) || fail_case "interrupted: processes of $umid remain: ${left[*]}"
}

all=(unknown_flavor wrong_kernel_src bad_kernel_version download_fails patch_refused unknown_tests config_mismatch job_fails suite_failure splat real_warn real_oops real_hang repeated_failures timeout interrupted)
cases=("$@")
((${#cases[@]})) || cases=("${all[@]}")
for c in "${cases[@]}"; do
	declare -F "case_$c" >/dev/null || die "unknown case '$c' (known: ${all[*]})"
	n=${#failures[@]}
	"case_$c"
	if ((${#failures[@]} == n)); then
		printf 'ok   %s\n' "$c"
	else
		printf 'FAIL %s\n' "$c"
	fi
done
((${#failures[@]} == 0)) || die "${#failures[@]} failure(s)"
