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
# One UML instance per run, so each case finds its run's console and TAP
# where it looks; the jobs case asks for JOBS=2 itself.
export JOBS=1
# The cases that want KERNEL_BUILD set it themselves.
unset KERNEL_BUILD
tmp=$(mktemp -d "${TMPDIR:-/tmp}/umhmm-selftest.XXXXXX")

# A Ctrl-C or a failure midway must leave nothing behind. Background runs
# ignore SIGINT (bash starts them so when job control is off), and a make
# test stopped alone leaves its run.sh and UML running: each gets a
# process group of its own (setsid, which does not fork here, as a
# background job of a script never leads its group) that cleanup stops
# whole. Then the build dirs the cases make, and a user the run created.
declare -A spawned=()
made_user=
cleanup() {
	local p
	for p in "${!spawned[@]}"; do
		kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${!spawned[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp" "$BUILD_DIR/selftest-suites" "$BUILD_DIR/selftest-concurrent" \
		"$BUILD_DIR/selftest-unprivileged"
	[[ -z $made_user ]] || userdel "$made_user" 2>/dev/null || true
	return 0
}
trap cleanup EXIT
die_of_signals

# spawn CMD...: CMD in the background, its pid in SPAWNED; reap PID waits
# for it, with its exit status. Redirect spawn as CMD.
spawn() {
	setsid "$@" &
	SPAWNED=$!
	spawned[$SPAWNED]=1
}

reap() {
	local rc=0
	wait "$1" || rc=$?
	unset "spawned[$1]"
	return "$rc"
}

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

# skip_case REASON: the case could not run here; reported as a skip with
# its reason, never as a pass.
skipped=
skip_case() {
	skipped=$1
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

# A wrong KERNEL_SRC is refused in one line before make test takes a lock,
# makes a results dir or installs a package: nothing appears in BUILD_DIR.
case_wrong_kernel_src() {
	local b=$tmp/b-src
	mkdir -p "$tmp/notakernel"
	expect_fail wrong-kernel-src "^test.sh: KERNEL_SRC=$tmp/notakernel is not a kernel source tree \(no Makefile\); point it at a Linux source tree$" \
		env KERNEL_SRC="$tmp/notakernel" BUILD_DIR="$b" bash "$S/test.sh"
	expect_fail wrong-kernel-src-missing "^test.sh: KERNEL_SRC=$tmp/nosuch is not a kernel source tree \(no such directory\); point it at a Linux source tree$" \
		env KERNEL_SRC="$tmp/nosuch" BUILD_DIR="$b" bash "$S/test.sh"
	# The build dirs are named by KERNEL_VERSION: a 6.12 tree with 7.2's
	# would reconfigure the 7.2 kernel.
	fake_tree "$tmp/k612"
	expect_fail wrong-kernel-src-version "^test.sh: KERNEL_SRC=$tmp/k612 is a 6.12 tree, but KERNEL_VERSION is 7.2, which names the build dirs: set KERNEL_VERSION=6.12$" \
		env KERNEL_SRC="$tmp/k612" KERNEL_VERSION=7.2 BUILD_DIR="$b" bash "$S/test.sh"
	[[ ! -e $b ]] || fail_case "wrong-kernel-src: created $b: $(find "$b" | head -n 3)"
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
	# Through make test: refused before a results dir is made for it.
	expect_fail patch-refused-test "patch 0002-bad.patch does not apply to $k \(kernel 6.12.0\): rebase the series or use the default source" \
		env BUILD_DIR="$tmp/build" KERNEL_SRC="$k" bash "$r/scripts/test.sh"
	[[ ! -e $tmp/build/results ]] ||
		fail_case "patch-refused: make test made a results dir: $(ls "$tmp/build/results")"
	[[ $(tree_sum "$k") == "$before" ]] || fail_case "patch-refused: make test changed the tree"

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
	# A patch dropped from the end of the series is reverted from the tree.
	printf 'one\ntwo\nthree\n' >"$tmp/a.orig"
	make_patch "$k" mm/a.c two TWO "$r/uml/patches/6.12/0002-more.patch"
	BUILD_DIR=$tmp/build bash "$r/scripts/prepare.sh" "$k" 2>/dev/null ||
		fail_case "prepare: a second patch was refused"
	grep -qx TWO "$k/mm/a.c" || fail_case "prepare: 0002 not applied"
	rm "$r/uml/patches/6.12/0002-more.patch"
	BUILD_DIR=$tmp/build bash "$r/scripts/prepare.sh" "$k" 2>/dev/null ||
		fail_case "prepare: dropping a patch was refused"
	if ! cmp -s "$k/mm/a.c" "$tmp/a.orig" || ! grep -qx BETA "$k/mm/b.c"; then
		fail_case "prepare: the dropped patch is still in the tree"
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

# A build directory on a file system too small for the tree: one line
# before anything is extracted, instead of thousands of ENOSPC lines from
# tar. A private mount namespace drops the small tmpfs whatever happens.
case_no_space() {
	local d=$tmp/small
	if [[ ! -f /usr/src/linux-source-$DEFAULT_KERNEL_VERSION.tar.xz ]]; then
		skip_case "linux-source-$DEFAULT_KERNEL_VERSION is not installed (scripts/deps.sh installs it)"
		return 0
	fi
	mkdir -p "$d"
	if ! unshare -m mount -t tmpfs -o size=16m umhmm-small "$d" 2>/dev/null; then
		skip_case "cannot mount a small tmpfs in a private mount namespace (needs root and unshare)"
		return 0
	fi
	# shellcheck disable=SC2016 # expanded by the inner bash
	expect_fail no-space "^kernel-source.sh: extracting linux-source-$DEFAULT_KERNEL_VERSION needs [0-9]+ MiB free for $d/build/src, its file system has 1[0-6] MiB: free some space or set BUILD_DIR to a directory on a larger file system$" \
		unshare -m bash -c 'mount -t tmpfs -o size=16m umhmm-small "$1" || exit 99
			mkdir "$1/build"
			rc=0
			BUILD_DIR=$1/build KERNEL_VERSION=$2 bash "$3/kernel-source.sh" || rc=$?
			find "$1/build" -mindepth 1 ! -name ".lock-*"
			exit "$rc"' _ "$d" "$DEFAULT_KERNEL_VERSION" "$S"
	[[ ! -s $tmp/out ]] || fail_case "no-space: wrote into the build directory: $(head -n 3 "$tmp/out")"
}

case_bad_fault_around() {
	expect_fail bad-fault-around "^run.sh: UMHMM_FAULT_AROUND_BYTES=4M is not a size in bytes up to 2097152 \(empty: the kernel's default\)$" \
		env UMHMM_FAULT_AROUND_BYTES=4M bash "$S/run.sh" "$tmp/r-fa" -- true
	expect_fail bad-fault-around-large "^run.sh: UMHMM_FAULT_AROUND_BYTES=4194304 is not a size in bytes up to 2097152 \(empty: the kernel's default\)$" \
		env UMHMM_FAULT_AROUND_BYTES=4194304 bash "$S/run.sh" "$tmp/r-fa" -- true
	[[ ! -e $tmp/r-fa ]] || fail_case "bad-fault-around: created the results dir"
}

# A wrong setting is refused in one line naming it, before a lock, a
# results dir or a build: make test used to build the kernel first, then
# fail in every UML instance on run.sh's -t.
case_bad_settings() {
	local b=$tmp/b-set
	expect_fail bad-timeout "^test.sh: UMHMM_TIMEOUT=10m is not a positive whole number of seconds: set e.g. UMHMM_TIMEOUT=600, or unset it for the default$" \
		env UMHMM_TIMEOUT=10m BUILD_DIR="$b" bash "$S/test.sh"
	expect_fail bad-tests "^test.sh: TESTS: no suite matches 'nosuch' \(known: test_[a-z_]+ .*regress-[a-z_0-9]+\)$" \
		env TESTS=migrate,nosuch BUILD_DIR="$b" bash "$S/test.sh"
	expect_fail bad-fault-around-early "^test.sh: UMHMM_FAULT_AROUND_BYTES=4M is not a size in bytes up to 2097152 \(empty: the kernel's default\)$" \
		env UMHMM_FAULT_AROUND_BYTES=4M BUILD_DIR="$b" bash "$S/test.sh"
	expect_fail bad-jobs "^selftests.sh: JOBS=two is not a positive whole number of UML instances: set e.g. JOBS=2, or unset it for one per CPU$" \
		env JOBS=two BUILD_DIR="$b" bash "$S/selftests.sh"
	expect_fail bad-min-pass "^selftests.sh: SELFTESTS_MIN_PASS=all is not a whole number of cases: set e.g. SELFTESTS_MIN_PASS=20, or unset it for the default$" \
		env SELFTESTS_MIN_PASS=all BUILD_DIR="$b" bash "$S/selftests.sh"
	expect_fail bad-cpu "^fuzz.sh: UMHMM_CPU=first is not a CPU number or none: set e.g. UMHMM_CPU=0, or unset it for one this process may use$" \
		env UMHMM_CPU=first BUILD_DIR="$b" bash "$S/fuzz.sh"
	expect_fail cpu-not-allowed "^test.sh: UMHMM_CPU=4096 is not a CPU this process may run on \([0-9 ]+\): pick one of them, or unset it$" \
		env UMHMM_CPU=4096 BUILD_DIR="$b" bash "$S/test.sh"
	expect_fail bad-huge-physmem "^selftests.sh: UMHMM_HUGE_PHYSMEM=yes is not auto, on or off: unset it for auto$" \
		env UMHMM_HUGE_PHYSMEM=yes BUILD_DIR="$b" bash "$S/selftests.sh"
	expect_fail bad-kernel-build "^test.sh: KERNEL_BUILD=maybe is not yes or no: set KERNEL_BUILD=no to run on the kernel built last, or unset it$" \
		env KERNEL_BUILD=maybe BUILD_DIR="$b" bash "$S/test.sh"
	expect_fail kernel-build-no-kernel "^selftests.sh: KERNEL_BUILD=no: there is no $FLAVOR kernel in $b/$FLAVOR$KTAG yet: run once without KERNEL_BUILD to build it$" \
		env KERNEL_BUILD=no BUILD_DIR="$b" bash "$S/selftests.sh"
	expect_fail tests-only-commas "^test.sh: TESTS=', ,' names no suite: give names separated by commas, or unset it to run them all$" \
		env TESTS=", ," BUILD_DIR="$b" bash "$S/test.sh"
	# make clean judges the directory a BUILD_DIR names, not its spelling
	# (a decoy home: a guard that failed here must not cost the project).
	local h
	h=$(cd "$tmp" && pwd -P)/clean
	mkdir -p "$h/home" && ln -sfn "$h" "$tmp/clean-link"
	expect_fail clean-slash "^clean.sh: refusing to remove BUILD_DIR=$h/ \($h\): it holds the home directory$" \
		env HOME="$h/home" BUILD_DIR="$h/" bash "$S/clean.sh"
	expect_fail clean-link "^clean.sh: refusing to remove BUILD_DIR=$tmp/clean-link \($h\): it holds the home directory$" \
		env HOME="$h/home" BUILD_DIR="$tmp/clean-link" bash "$S/clean.sh"
	[[ -d $h/home ]] || fail_case "bad-settings: make clean removed $h/home"
	[[ ! -e $b ]] || fail_case "bad-settings: created $b: $(find "$b" | head -n 3)"
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

case_bench_vm_input() {
	expect_fail bench-vm-runs "^bench-vm.sh: BENCH_RUNS=0 is not a positive number$" \
		env BENCH_RUNS=0 bash "$S/bench-vm.sh"
	expect_fail bench-vm-uml "^bench-vm.sh: UML_BENCH=$tmp/none is not a make bench table$" \
		env UML_BENCH="$tmp/none" bash "$S/bench-vm.sh"
	expect_fail vm-accel "^vm-run.sh: UMHMM_VM_ACCEL=hvf: want auto, kvm or tcg$" \
		env UMHMM_VM_ACCEL=hvf bash "$S/vm-run.sh" "$tmp/r-vm" -- true
}

# compile_blob DIR DATA [ENV...]: DIR/blob.o from DIR/blob.S, as Kbuild
# compiles, with DIR/blob.bin holding DATA, under the ENV given and the
# cache DIR/cache; prints what blob.o holds. The compiler's output goes
# to $tmp/out.
compile_blob() {
	local d=$1 data=$2
	local -a cc
	shift 2
	read -r -a cc <<<"$(umhmm_cc)"
	printf '%s' "$data" >"$d/blob.bin"
	(cd "$d" && env "$@" CCACHE_DIR="$d/cache" "${cc[@]}" -Wp,-MMD,.blob.o.d -c -o blob.o blob.S) >"$tmp/out" 2>&1 ||
		return 1
	objcopy -O binary -j .data "$d/blob.o" /dev/stdout
}

# The kernel's builds through ccache (kbuild_ccache_env, umhmm_cc), with
# what Kbuild passes (-Wp,-MMD): an object that .incbin's a file must
# follow the file. A cache entry that ccache's depend mode left (the
# settings before 2026-11-29, here without a namespace) must not be hit
# either: the VM's piggy.o was, and its bzImage booted an older kernel.
# The last two steps run where the environment asks for depend mode, as a
# user's may: the first would store an entry there, the second hit it.
case_ccache_incbin() {
	local d=$tmp/incbin got want
	command -v ccache >/dev/null || { skip_case "ccache is not installed: the builds do not use it"; return; }
	mkdir -p "$d" || { fail_case "ccache-incbin: cannot create $d"; return; }
	printf '.section .data\n.globl blob\nblob:\n.incbin "blob.bin"\n' >"$d/blob.S"
	got=$(compile_blob "$d" one -u CCACHE_NAMESPACE CCACHE_BASEDIR=/ CCACHE_DEPEND=1) ||
		{ fail_case "ccache-incbin: cannot assemble $d/blob.S: $(<"$tmp/out")"; return; }
	[[ $got == one ]] || { fail_case "ccache-incbin: blob.o holds '$got', not 'one'"; return; }
	for want in two three four; do
		got=$( ([[ $want == two ]] || export CCACHE_DEPEND=1
			kbuild_ccache_env && compile_blob "$d" "$want")) ||
			{ fail_case "ccache-incbin: cannot assemble $d/blob.S: $(<"$tmp/out")"; return; }
		[[ $got == "$want" ]] ||
			fail_case "ccache-incbin: blob.bin holds '$want', blob.o '$got': ccache served a stale object"
	done
}

# phase_end records how many CPUs a phase kept busy (make bench's cpus-*
# rows): a phase that spins one CPU for 0.3 s gets a figure of at least
# half a CPU and at most the machine's count (/proc/stat's, not nproc's:
# the figure is the whole machine's); one too short for the clock ticks
# to tell gets none, and print_phases shows the seconds either way.
case_phase_cpus() {
	local log=$tmp/phases.tsv name secs cpus extra
	(
		PHASE_LOG=$log
		phase_begin spin
		end=$(($(now_us) + 300000))
		while (($(now_us) < end)); do :; done
		phase_end
		phase_begin short
		phase_end
		print_phases
	) >"$tmp/out" 2>/dev/null || { fail_case "phase-cpus: the phases failed"; return; }
	IFS=$'\t' read -r name secs cpus extra <"$log"
	if [[ $name != spin || ! $cpus =~ ^[0-9]+\.[0-9][0-9]$ || -n $extra ]]; then
		fail_case "phase-cpus: spin's line is '$(head -n 1 "$log")', wanted name, seconds and CPUs"
	elif host_cpu_ticks && ((10#${cpus/./} < 50 || 10#${cpus/./} > HOST_CPUS * 100)); then
		fail_case "phase-cpus: a phase spinning one CPU kept $cpus CPUs busy"
	fi
	[[ $(sed -n 2p "$log") =~ ^short$'\t'[0-9.]+$ ]] ||
		fail_case "phase-cpus: the short phase's line is '$(sed -n 2p "$log")', wanted no CPU figure"
	grep -qE '^phases: spin [0-9.]+ s, short [0-9.]+ s$' "$tmp/out" ||
		fail_case "phase-cpus: print_phases printed '$(<"$tmp/out")'"
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

# The guest gets the fault-around window run.sh asks for, and the kernel's
# own default when UMHMM_FAULT_AROUND_BYTES is set empty.
case_fault_around() {
	local k got
	k=$(uml_kernel)
	got=$(env -u UMHMM_FAULT_AROUND_BYTES bash "$S/run.sh" -t 60 -k "$k" "$tmp/r-fa-default" -- \
		cat /sys/kernel/debug/fault_around_bytes 2>/dev/null) || true
	grep -qx 262144 <<<"$got" || fail_case "fault-around: by default the guest read '$(head -n 1 <<<"$got")', not 262144"
	got=$(UMHMM_FAULT_AROUND_BYTES='' bash "$S/run.sh" -t 60 -k "$k" "$tmp/r-fa-empty" -- \
		cat /sys/kernel/debug/fault_around_bytes 2>/dev/null) || true
	grep -qx 65536 <<<"$got" || fail_case "fault-around: set empty, the guest read '$(head -n 1 <<<"$got")', not 65536"
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
	# Each suite's time and the guest page faults it took (a shell's exec
	# takes some): suites.tsv's columns.
	awk -F'\t' '$1 == "test_good" && $2 ~ /^[0-9]+\.[0-9]+$/ && $3 > 0 { ok = 1 } END { exit !ok }' \
		"$tmp/r-suites/suite-times.tsv" 2>/dev/null ||
		fail_case "suite-failure: no time and page faults for test_good: $(cat "$tmp/r-suites/suite-times.tsv" 2>&1)"
	rm -rf "$d"
}

# run-suites runs a suite without a fork per test first and, on anything
# but a clean pass, again with one; that run's results are the suite's.
# Fake suites that pass only with a fork per test: one fails without,
# one crashes, one hangs past the suite's bound (CK_DEFAULT_TIMEOUT).
case_nofork_rerun() {
	local k d=$BUILD_DIR/selftest-nofork f
	k=$(uml_kernel)
	mkdir -p "$d"
	# fake_suite NAME ACTION: passes with a fork per test, runs ACTION without.
	fake_suite() {
		cat >"$d/$1" <<FAKE
#!/bin/bash
echo "\$CK_FORK" >>"\$UMHMM_OUT/$1.modes"
if [[ \$CK_FORK == no ]]; then
	$2
fi
printf 'ok 1 - $1\n1..1\n' >"\$CK_TAP_LOG_FILE_NAME"
FAKE
		chmod +x "$d/$1"
	}
	# shellcheck disable=SC2016 # expanded by the fake suites
	fake_suite test_fails 'printf "not ok 1 - test_fails\n1..1\n" >"$CK_TAP_LOG_FILE_NAME"; exit 1'
	# shellcheck disable=SC2016
	fake_suite test_crashes 'kill -SEGV $$'
	fake_suite test_hangs 'exec sleep 600'
	if ! CK_DEFAULT_TIMEOUT=3 bash "$S/run.sh" -t 120 -k "$k" "$tmp/r-nofork" -- \
		env CK_DEFAULT_TIMEOUT=3 "$S/run-suites" "$d"/test_* >"$tmp/out" 2>"$tmp/err"; then
		fail_case "nofork-rerun: the suites did not pass on their rerun: $(tail -n 5 "$tmp/err")"
	fi
	for f in "test_fails:exit status 1, 1 not ok" "test_crashes:exit status 139 (signal 11), TAP cut short" \
		"test_hangs:not done after 3 s, TAP cut short"; do
		grep -qF "${f%%:*}: rerun with a fork per test (without one: ${f#*:})" "$tmp/out" ||
			fail_case "nofork-rerun: no rerun of ${f%%:*} for '${f#*:}': $(grep -F "${f%%:*}" "$tmp/out")"
		[[ $(paste -sd, "$tmp/r-nofork/${f%%:*}.modes" 2>/dev/null) == no,yes ]] ||
			fail_case "nofork-rerun: ${f%%:*} ran as CK_FORK=$(paste -sd, "$tmp/r-nofork/${f%%:*}.modes"), wanted no,yes"
		grep -q "^ok 1 - ${f%%:*}" "$tmp/r-nofork/${f%%:*}.tap" ||
			fail_case "nofork-rerun: the TAP of ${f%%:*} is not the rerun's"
	done
	rm -rf "$d"
}

# A test that leaves a thread running, a file open or a signal handler
# installed fails, with or without a fork per test: without one, the next
# test would inherit it (tests/lib). A scratch suite on the host.
case_test_leaks() {
	local src d=$tmp/leak mode
	src=$(bash "$S/kernel-source.sh") || { fail_case "test-leaks: no kernel source"; return; }
	mkdir -p "$d"
	cat >"$d/leak.c" <<'SUITE'
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include "umhmm_test.h"

static void *park(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void on_usr1(int sig)
{
	(void)sig;
}

START_TEST(test_thread)
{
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, park, NULL), 0);
}
END_TEST

START_TEST(test_file)
{
	ck_assert_int_ge(open("/dev/null", O_RDONLY), 0);
}
END_TEST

START_TEST(test_handler)
{
	signal(SIGUSR1, on_usr1);
}
END_TEST

START_TEST(test_clean)
{
	int fd = open("/dev/null", O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(close(fd), 0);
}
END_TEST

int main(void)
{
	Suite *s = umhmm_suite_create("leak");
	TCase *tc = umhmm_tcase_create("leak", NULL, NULL);

	tcase_add_test(tc, test_clean);
	tcase_add_test(tc, test_file);
	tcase_add_test(tc, test_handler);
	tcase_add_test(tc, test_thread);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
SUITE
	# shellcheck disable=SC2046 # pkg-config prints several words
	if ! (cd "$d" && gcc -O2 -Wall -Werror -D_GNU_SOURCE -pthread -I"$UMHMM_ROOT/tests/lib" \
		-I"$UMHMM_ROOT/src/include" -I"$src/lib" $(pkg-config --cflags check) -o leak leak.c \
		"$UMHMM_ROOT/tests/lib/umhmm_test.c" $(pkg-config --libs check)) 2>"$tmp/err"; then
		fail_case "test-leaks: the scratch suite did not build: $(<"$tmp/err")"
		return
	fi
	for mode in yes no; do
		if (cd "$d" && for v in $(compgen -e -X '!CK_*'); do unset "$v"; done &&
			CK_FORK=$mode ./leak) >"$tmp/out" 2>&1; then
			fail_case "test-leaks: CK_FORK=$mode: the leaking suite passed"
		fi
		grep -q '^25%: Checks: 4, Failures: 3, Errors: 0' "$tmp/out" ||
			fail_case "test-leaks: CK_FORK=$mode: wanted 3 of 4 failing: $(grep '%' "$tmp/out")"
		grep -q ':leak:test_file:0: the test left 1 files open' "$tmp/out" ||
			fail_case "test-leaks: CK_FORK=$mode: the open file was not reported: $(<"$tmp/out")"
		grep -q ':leak:test_handler:0: the test left the process changed: SigCgt:' "$tmp/out" ||
			fail_case "test-leaks: CK_FORK=$mode: the handler was not reported: $(<"$tmp/out")"
		grep -q ':leak:test_thread:0: the test left the process changed: Threads: 1 before, 2 after' "$tmp/out" ||
			fail_case "test-leaks: CK_FORK=$mode: the thread was not reported: $(<"$tmp/out")"
	done
}

# Where check reports a test that crashes or overruns its timeout: at its
# last passing assertion, which the suites keep in memory (umhmm_mark() in
# tests/lib). A scratch suite on the host: no device is opened.
case_failure_location() {
	local src d=$tmp/loc
	src=$(bash "$S/kernel-source.sh") || { fail_case "failure-location: no kernel source"; return; }
	mkdir -p "$d"
	cat >"$d/loc.c" <<'SUITE'
#include <unistd.h>
#include "umhmm_test.h"

START_TEST(test_crash)
{
	ck_assert_int_eq(1, 1); /* line 6 */
	*(volatile int *)NULL = 0;
}
END_TEST

START_TEST(test_sleep)
{
	ck_assert_int_eq(2, 2); /* line 13 */
	for (;;)
		pause();
}
END_TEST

START_TEST(test_spin)
{
	volatile unsigned long n = 0;

	ck_assert_int_eq(3, 3); /* line 23 */
	for (;;)
		n++;
}
END_TEST

int main(void)
{
	Suite *s = umhmm_suite_create("loc");
	TCase *tc = umhmm_tcase_create("loc", NULL, NULL);

	umhmm_tcase_set_timeout(tc, 1.5);
	tcase_add_test(tc, test_crash);
	tcase_add_test(tc, test_sleep);
	tcase_add_test(tc, test_spin);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
SUITE
	# Built in its directory: check names the file as the compiler saw it.
	# shellcheck disable=SC2046 # pkg-config prints several words
	if ! (cd "$d" && gcc -O2 -Wall -Werror -D_GNU_SOURCE -I"$UMHMM_ROOT/tests/lib" \
		-I"$UMHMM_ROOT/src/include" -I"$src/lib" $(pkg-config --cflags check) -o loc loc.c \
		"$UMHMM_ROOT/tests/lib/umhmm_test.c" $(pkg-config --libs check)) 2>"$tmp/err"; then
		fail_case "failure-location: the scratch suite did not build: $(<"$tmp/err")"
		return
	fi
	# None of check's settings from the caller's environment (selection,
	# timeouts, fork mode, log files) may reach the scratch suite.
	if (cd "$d" && for v in $(compgen -e -X '!CK_*'); do unset "$v"; done &&
		./loc) >"$tmp/out" 2>&1; then
		fail_case "failure-location: the scratch suite passed"
	fi
	grep -q '^loc.c:6:E:loc:test_crash:0: (after this point) Received signal 11' "$tmp/out" ||
		fail_case "failure-location: the crash was not placed at line 6: $(<"$tmp/out")"
	grep -q '^loc.c:13:E:loc:test_sleep:0: (after this point) Test timeout expired' "$tmp/out" ||
		fail_case "failure-location: the sleeping test's timeout was not placed at line 13: $(<"$tmp/out")"
	grep -q '^loc.c:23:E:loc:test_spin:0: (after this point) Test timeout expired' "$tmp/out" ||
		fail_case "failure-location: the spinning test's timeout was not placed at line 23: $(<"$tmp/out")"
}
# A real WARN from the umhmm driver's debugfs trigger, call trace and all.
# Runs the umhmm driver's debugfs trigger WHAT in a job that announces
# itself as real_WHAT_case, with run.sh's timeout SECONDS, on kernel K
# (default: this flavor's); stderr goes to $tmp/err. Fails the case if the
# run succeeds; returns 1 when skipped.
run_trigger() {
	local what=$1 seconds=$2 k=${3:-}
	if [[ -n ${UMHMM_SELFTEST_KERNEL:-} ]]; then
		skip_case "needs the umhmm kernel, not UMHMM_SELFTEST_KERNEL"
		return 1
	fi
	[[ -n $k ]] || k=$(uml_kernel)
	if bash "$S/run.sh" -t "$seconds" -k "$k" "$tmp/r-$what" -- bash -c "
		echo 'umhmm: running real_${what}_case' >/dev/kmsg
		echo $what >/sys/kernel/debug/umhmm/trigger" >/dev/null 2>"$tmp/err"; then
		fail_case "real-$what: run.sh succeeded despite the $what trigger"
	fi
}

case_real_warn() {
	run_trigger warn 60 || return 0
	# 6.12: "WARNING: CPU: 0 PID: 22 at drivers/umhmm/umhmm.c:N func+off/size";
	# 7.2: "WARNING: drivers/umhmm/umhmm.c:N at func+off/size, CPU#0: bash/22".
	grep -Eq "WARNING: (CPU: 0 PID: [0-9]+ at .*umhmm|drivers/umhmm/umhmm\.c:[0-9]+ at )" "$tmp/err" ||
		fail_case "real-warn: the WARNING line was not printed: $(<"$tmp/err")"
	# Named by the kernel (kallsyms) or by the report (System.map).
	grep -q "\] ? umhmm_trigger_write+0x[0-9a-f]*/0x[0-9a-f]*$" "$tmp/err" ||
		fail_case "real-warn: the call trace does not name the driver's function: $(<"$tmp/err")"
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

# A task stuck in the kernel for good: killed at the timeout and reported,
# naming the test that hung.
case_real_hang() {
	run_trigger hang 10 || return 0
	grep -q 'timeout after 10 s while running real_hang_case' "$tmp/err" ||
		fail_case "real-hang: the timeout was not reported: $(<"$tmp/err")"
}

# lines_hit [TRACEFILE...]: "file:line count" for every DA record, the
# counts of repeated lines added up, sorted.
lines_hit() {
	awk -F'[:,]' '/^SF:/ { sf = $2 } /^DA:/ { n[sf ":" $2] += $3 }
		END { for (k in n) print k, n[k] }' "$@" | sort
}

# JOBS=2: two UML instances, each with its own umid, console and results,
# one merged TAP/JUnit summary and coverage over both.
case_jobs() {
	local out=$tmp/jobs.out r n
	if [[ -n ${UMHMM_SELFTEST_KERNEL:-} ]]; then
		skip_case "needs the umhmm kernel, not UMHMM_SELFTEST_KERNEL"
		return 0
	fi
	if ! JOBS=2 TESTS=dmirror,pagemap,regress-anon_reuse bash "$S/test.sh" >"$out" 2>&1; then
		fail_case "jobs: JOBS=2 make test failed: $(tail -n 5 "$out")"
		return
	fi
	r=$(sed -n 's/^test.sh: results: //p' "$out")
	[[ -n $r && -d $r/job1 && -d $r/job2 ]] || { fail_case "jobs: no job1/ and job2/ in '$r'"; return; }
	[[ -s $r/job1/console.log && -s $r/job2/console.log ]] || fail_case "jobs: an instance has no console.log"
	[[ $(<"$r/job1/umid") != "$(<"$r/job2/umid")" ]] || fail_case "jobs: both instances used one umid"
	n=$(grep -c '<testsuite ' "$r/junit.xml")
	((n == 3)) || fail_case "jobs: junit.xml has $n suites, not 3"
	# The instances claim suites from one list: each ran once, in one.
	local claimed
	claimed=$(cat "$r"/job[12]/claimed 2>/dev/null | sort)
	[[ $claimed == $'regress-anon_reuse\ntest_dmirror\ntest_pagemap' ]] ||
		fail_case "jobs: the instances claimed '${claimed//$'\n'/ }', not each of the 3 suites once"
	grep -q '^[0-9]* passed, 0 failed' "$out" || fail_case "jobs: no summary line"
	# Each instance took its own snapshot (run-suites); coverage.sh sums
	# them with gcov-tool and captures once. Every line's count must be
	# what lcov counts in the two instances captured one at a time.
	local src j
	src=$(bash "$S/kernel-source.sh") || { fail_case "jobs: no kernel source"; return; }
	for j in 1 2; do
		mkdir -p "$tmp/cov$j/job$j"
		cp -r "$r/job$j/gcov" "$tmp/cov$j/job$j/"
		bash "$S/coverage.sh" "$src" "$tmp/cov$j" >/dev/null 2>"$tmp/cov$j.err" ||
			fail_case "jobs: coverage.sh failed on instance $j alone: $(tail -n 1 "$tmp/cov$j.err")"
	done
	if [[ ! -s $r/coverage/all.info ]]; then
		fail_case "jobs: the instances' coverage was not captured"
	elif ! cmp -s <(lines_hit "$r/coverage/all.info") \
		<(lines_hit "$tmp"/cov[12]/coverage/all.info); then
		fail_case "jobs: the merged coverage is not the sum of the instances'"
	fi
	if ! grep -q 'job 1: ' "$out" || ! grep -q 'job 2: ' "$out"; then
		fail_case "jobs: the shards were not reported"
	fi
	# A TERM to make test stops both instances: nothing of either is left.
	local p umids=() left=() u i
	spawn env JOBS=2 TESTS=errors,migrate bash "$S/test.sh" >"$tmp/jobs-int.out" 2>&1
	p=$SPAWNED
	# Once both UMLs run (bounded to 30 s): their umids, and processes.
	for ((i = 0; i < 300; i++)); do
		r=$(readlink -f "$BUILD_DIR/results/latest")
		umids=()
		for u in "$r"/job1/umid "$r"/job2/umid; do
			[[ -s $u ]] && umids+=("$(<"$u")")
		done
		if ((${#umids[@]} == 2)); then
			mapfile -t left < <(leftovers "${umids[1]}")
			((${#left[@]})) && break
		fi
		sleep 0.1
	done
	kill -TERM "$p" 2>/dev/null || true
	reap "$p" 2>/dev/null || true
	if ((${#umids[@]} != 2)); then
		fail_case "jobs: the two instances never started ($r)"
	else
		for u in "${umids[@]}"; do
			mapfile -t left < <(leftovers "$u")
			((${#left[@]} == 0)) || fail_case "jobs: processes of $u remain after a TERM: ${left[*]}"
		done
		# Nor run.sh's own: an orphaned watchdog held the lock.
		for u in "$r/job1" "$r/job2"; do
			mapfile -t left < <(processes_with_arg "$u")
			((${#left[@]} == 0)) || fail_case "jobs: run.sh processes of $u remain after a TERM: ${left[*]}"
		done
	fi

	# hmm-tests split over two instances runs the cases one instance runs.
	local one=$tmp/jobs-st1.out two=$tmp/jobs-st2.out
	JOBS=1 bash "$S/selftests.sh" >"$one" 2>&1 || fail_case "jobs: JOBS=1 make selftests failed: $(tail -n 3 "$one")"
	JOBS=2 bash "$S/selftests.sh" >"$two" 2>&1 || fail_case "jobs: JOBS=2 make selftests failed: $(tail -n 3 "$two")"
	r=$(sed -n 's/^selftests.sh: results: //p' "$two")
	[[ -n $r && -s $r/job1/hmm-tests.tap && -s $r/job2/hmm-tests.tap ]] ||
		fail_case "jobs: make selftests did not run two instances ('$r')"
	if [[ $(tail -n 1 "$one") != "$(tail -n 1 "$two")" || $(tail -n 1 "$one") != *" passed, 0 failed, "* ]]; then
		fail_case "jobs: hmm-tests counts differ: '$(tail -n 1 "$one")' alone, '$(tail -n 1 "$two")' in two"
	fi
	local r1 names1 names2
	r1=$(sed -n 's/^selftests.sh: results: //p' "$one")
	names1=$(grep -o '^ok [0-9]* [^ ]*' "$r1/hmm-tests.tap" 2>/dev/null | cut -d' ' -f3 | sort)
	names2=$(cat "$r"/job*/hmm-tests.tap 2>/dev/null | grep -o '^ok [0-9]* [^ ]*' | cut -d' ' -f3 | sort)
	if [[ -z $names1 || $names1 != "$names2" ]]; then
		fail_case "jobs: hmm-tests ran other cases in two instances than in one (or none)"
	fi
}

# The debug flavor's kernel (KASAN, PROVE_LOCKING: uml/configs/debug.config),
# built on first use as make test FLAVOR=debug would. Sets DEBUG_KERNEL to
# its path; returns 1 after skip_case when it cannot be built or lacks
# OPTION.
debug_kernel() {
	local option=$1 kobj=$BUILD_DIR/debug$KTAG log=$tmp/debug-build.log
	DEBUG_KERNEL=
	if [[ -n ${UMHMM_SELFTEST_KERNEL:-} ]]; then
		skip_case "needs the umhmm debug kernel, not UMHMM_SELFTEST_KERNEL"
		return 1
	fi
	if [[ ! -f $tmp/debug-built ]]; then
		info "building the debug kernel (FLAVOR=debug) for the KASAN and lockdep cases"
		if ! (FLAVOR=debug build_kernel) >"$log" 2>&1; then
			skip_case "the debug kernel cannot be built here: $(tail -n 1 "$log")"
			return 1
		fi
		: >"$tmp/debug-built"
	fi
	if ! grep -qx "$option=y" "$kobj/.config"; then
		skip_case "the debug kernel has no $option"
		return 1
	fi
	DEBUG_KERNEL=$kobj/linux
}

# A KASAN use-after-free (the driver reads a kmalloc'd buffer after kfree):
# the kernel goes on, so only the console scan can fail the run.
case_real_kasan() {
	debug_kernel CONFIG_KASAN || return 0
	run_trigger uaf 120 "$DEBUG_KERNEL" || return 0
	grep -q "BUG: KASAN: slab-use-after-free in umhmm_use_after_free" "$tmp/err" ||
		fail_case "real-kasan: the KASAN report was not printed: $(<"$tmp/err")"
	grep -q "while running real_uaf_case" "$tmp/err" ||
		fail_case "real-kasan: the running test was not named"
	[[ -z ${UMHMM_SELFTEST_SHOW:-} ]] || cat "$tmp/err" >&2
}

# Two driver mutexes taken in both orders (ABBA): lockdep reports the
# possible deadlock without one happening.
case_real_lockdep() {
	debug_kernel CONFIG_PROVE_LOCKING || return 0
	run_trigger lockdep 120 "$DEBUG_KERNEL" || return 0
	grep -q "WARNING: possible circular locking dependency detected" "$tmp/err" ||
		fail_case "real-lockdep: the lockdep report was not printed: $(<"$tmp/err")"
	grep -q "umhmm_lock_[ab]" "$tmp/err" ||
		fail_case "real-lockdep: the report does not name the driver's locks"
	grep -q "while running real_lockdep_case" "$tmp/err" ||
		fail_case "real-lockdep: the running test was not named"
	[[ -z ${UMHMM_SELFTEST_SHOW:-} ]] || cat "$tmp/err" >&2
}

# Pids of the live processes of the run with umid UMID (a zombie holds
# nothing and its parent reaps it).
leftovers() {
	processes_with_arg "umid=$1"
}

# processes_with_arg ARG: the live processes with ARG among their arguments
# (run.sh, and its subshells such as the timeout's watchdog, have their
# results dir).
processes_with_arg() {
	local arg=$1 q st a
	local -a argv
	for q in /proc/[0-9]*; do
		{ read -r _ _ st _ <"$q/stat"; } 2>/dev/null || continue
		[[ $st != Z ]] || continue
		{ mapfile -d "" -t argv <"$q/cmdline"; } 2>/dev/null || continue
		for a in "${argv[@]}"; do
			if [[ $a == "$arg" ]]; then
				printf '%s\n' "${q#/proc/}"
				break
			fi
		done
	done
	return 0
}

# Twenty crashed and timed-out runs in a row leave no process behind, and
# the run after them works.
case_repeated_failures() {
	local k i umid left=()
	if [[ -n ${UMHMM_SELFTEST_KERNEL:-} ]]; then
		skip_case "needs the umhmm kernel, not UMHMM_SELFTEST_KERNEL"
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
	if bash "$S/run.sh" -t 5 -k "$k" "$tmp/r-timeout" -- bash -c '
		echo "umhmm: running fake_sleeper" >/dev/kmsg
		exec sleep 600' >/dev/null 2>"$tmp/err"; then
		fail_case "timeout: run.sh succeeded for a job that sleeps past -t 5"
	fi
	grep -q 'timeout after 5 s while running fake_sleeper' "$tmp/err" ||
		fail_case "timeout: not reported with the test that hung: $(<"$tmp/err")"
	umid=$(<"$tmp/r-timeout/umid")
	mapfile -t left < <(leftovers "$umid")
	((${#left[@]} == 0)) || fail_case "timeout: processes of $umid remain: ${left[*]}"
}

# make or CI killing run.sh midway must not leave UML running.
case_interrupted() {
	local k p umid left=() i
	k=$(uml_kernel)
	spawn bash "$S/run.sh" -t 120 -k "$k" "$tmp/r-int" -- sleep 100 >/dev/null 2>&1
	p=$SPAWNED
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
	reap "$p" 2>/dev/null || true
	umid=$(<"$tmp/r-int/umid")
	mapfile -t left < <(leftovers "$umid")
	((${#left[@]} == 0)) || fail_case "interrupted: processes of $umid remain: ${left[*]}"
	mapfile -t left < <(processes_with_arg "$tmp/r-int")
	((${#left[@]} == 0)) || fail_case "interrupted: run.sh processes remain: ${left[*]}"
}

# The kernel build of this build dir copied to build dir B (75 MB: a
# second), to be used with KERNEL_SRC=this tree: its prepare, configure and
# build stages then find nothing to redo, so a self-test can run a second
# make test without a second kernel build. Prints the tree.
copy_build() {
	local b=$1 src
	uml_kernel >/dev/null
	src=$(bash "$S/kernel-source.sh") || return 1
	rm -rf "$b"
	mkdir -p "$b"
	cp -a "$KOBJ" "$b/$FLAVOR$KTAG" || return 1
	# The suites too; the list names binaries by path, so it is remade.
	cp -a "$BUILD_DIR/tests$KTAG" "$b/tests$KTAG" || return 1
	rm -f "$b/tests$KTAG/suites.list"
	printf '%s\n' "$src"
}

# Two make test runs in separate build dirs at the same time both pass,
# each with its own UML instance, umid, results and locks, and neither
# rebuilt the kernel.
case_concurrent() {
	local b2=$BUILD_DIR/selftest-concurrent src p1 p2 rc1=0 rc2=0 r1 r2 u1 u2
	local suites=migrate,pagemap,range_fault
	if [[ -n ${UMHMM_SELFTEST_KERNEL:-} ]]; then
		skip_case "needs the umhmm kernel, not UMHMM_SELFTEST_KERNEL"
		return 0
	fi
	src=$(copy_build "$b2") || { fail_case "concurrent: cannot copy the kernel build to $b2"; return; }
	# Each run's UML waits for the other's to reach the same point
	# (UMHMM_WRAP runs just before UML): the two overlap by construction,
	# however long either run's no-op Kbuild takes on a loaded host.
	# shellcheck disable=SC2016 # expanded by the barrier's bash
	printf '%s\n' '#!/usr/bin/env bash' 'set -euo pipefail' \
		'me=$1 other=$2' 'shift 2' ': >"$me"' \
		'for ((i = 0; i < 2400; i++)); do' \
		'	[[ ! -e $other ]] || exec "$@"' '	sleep 0.05' 'done' \
		'printf "barrier: %s did not come within 120 s\n" "$other" >&2' 'exit 1' \
		>"$tmp/barrier"
	rm -f "$tmp/at1" "$tmp/at2"
	spawn env TESTS="$suites" UMHMM_WRAP="bash $tmp/barrier $tmp/at1 $tmp/at2" \
		bash "$S/test.sh" >"$tmp/c1.out" 2>&1
	p1=$SPAWNED
	spawn env BUILD_DIR="$b2" KERNEL_SRC="$src" TESTS="$suites" \
		UMHMM_WRAP="bash $tmp/barrier $tmp/at2 $tmp/at1" \
		bash "$S/test.sh" >"$tmp/c2.out" 2>&1
	p2=$SPAWNED
	reap "$p1" || rc1=$?
	reap "$p2" || rc2=$?
	((rc1 == 0)) || fail_case "concurrent: the run in $BUILD_DIR failed: $(tail -n 5 "$tmp/c1.out")"
	((rc2 == 0)) || fail_case "concurrent: the run in $b2 failed: $(tail -n 5 "$tmp/c2.out")"
	r1=$(sed -n 's/^test.sh: results: //p' "$tmp/c1.out")
	r2=$(sed -n 's/^test.sh: results: //p' "$tmp/c2.out")
	if [[ -z $r1 || -z $r2 || $r1 == "$r2" ]]; then
		fail_case "concurrent: no separate results dirs ('$r1', '$r2')"
		return
	fi
	[[ $r2 == "$b2"/results/* ]] || fail_case "concurrent: the second run's results are not under $b2: $r2"
	u1=$(<"$r1/umid") u2=$(<"$r2/umid")
	[[ $u1 != "$u2" ]] || fail_case "concurrent: both runs used umid $u1"
	if ! grep -q 'passed, 0 failed' "$tmp/c1.out" || ! grep -q 'passed, 0 failed' "$tmp/c2.out"; then
		fail_case "concurrent: a run has failures"
	fi
	# At the same time: each UML started (umid written) before the other
	# one's job ended (exit-status written). The barrier makes it so; this
	# checks that the runs went through it.
	if ! awk -v s1="$(stat -c %.3Y "$r1/umid")" -v e1="$(stat -c %.3Y "$r1/exit-status")" \
		-v s2="$(stat -c %.3Y "$r2/umid")" -v e2="$(stat -c %.3Y "$r2/exit-status")" \
		'BEGIN { exit !(s1 < e2 && s2 < e1) }'; then
		fail_case "concurrent: the two UML runs did not overlap"
	fi
	if grep -q '^  CC ' "$b2/$FLAVOR$KTAG/build.log"; then
		fail_case "concurrent: the copied build dir recompiled the kernel"
	fi
	rm -rf "$b2"
}

# KERNEL_BUILD=no runs the suites on the kernel built last without running
# Kbuild: the kernel and its build log stay as they were and the run has
# no build phase. A project input newer than the kernel is named (touched
# here, its time put back after).
case_kernel_build_no() {
	local input=$UMHMM_ROOT/coverage/files.list before after rc=0 r
	if [[ -n ${UMHMM_SELFTEST_KERNEL:-} ]]; then
		skip_case "needs the umhmm kernel, not UMHMM_SELFTEST_KERNEL"
		return 0
	fi
	uml_kernel >/dev/null
	before=$(stat -c '%n %.9Y' "$KOBJ/linux" "$KOBJ/build.log")
	touch -r "$input" "$tmp/input-time"
	touch "$input"
	env KERNEL_BUILD=no TESTS=dmirror bash "$S/test.sh" >"$tmp/kb.out" 2>&1 || rc=$?
	touch -r "$tmp/input-time" "$input"
	after=$(stat -c '%n %.9Y' "$KOBJ/linux" "$KOBJ/build.log")
	((rc == 0)) || fail_case "kernel-build-no: make test failed: $(tail -n 5 "$tmp/kb.out")"
	grep -q ' passed, 0 failed' "$tmp/kb.out" || fail_case "kernel-build-no: no clean summary: $(tail -n 3 "$tmp/kb.out")"
	[[ $before == "$after" ]] || fail_case "kernel-build-no: Kbuild ran: '$before' became '$after'"
	grep -qF "test.sh: KERNEL_BUILD=no: running $KOBJ/linux, built " "$tmp/kb.out" ||
		fail_case "kernel-build-no: no line naming the kernel it ran"
	grep -qE "newer than this kernel, which a build would take in: .*coverage/files\.list" "$tmp/kb.out" ||
		fail_case "kernel-build-no: the newer coverage/files.list was not named"
	! grep -q "this kernel was built from" "$tmp/kb.out" ||
		fail_case "kernel-build-no: its own tree's kernel was said to come from another"
	r=$(sed -n 's/^test.sh: results: //p' "$tmp/kb.out")
	if [[ ! -s $r/phases.tsv ]]; then
		fail_case "kernel-build-no: no phases.tsv in '$r'"
	elif grep -q '^build'$'\t' "$r/phases.tsv"; then
		fail_case "kernel-build-no: the run has a build phase"
	fi
}

# make test as an unprivileged user. As root (CI) the case creates the
# user umhmm-test when absent and runs as it with setpriv, in a build dir
# that user owns (this kernel build copied in, KERNEL_SRC this tree); not
# root, it runs as the invoking user, who is unprivileged already. The
# suites pass; inside UML, / (the host's root, hostfs) is read-only and a
# write there fails, while the results dir takes writes, which land on
# the host owned by that user.
case_unprivileged() {
	local user b3=$BUILD_DIR/selftest-unprivileged src k r probe
	local -a as=()
	if [[ -n ${UMHMM_SELFTEST_KERNEL:-} ]]; then
		skip_case "needs the umhmm kernel, not UMHMM_SELFTEST_KERNEL"
		return 0
	fi
	if ((EUID == 0)); then
		user=umhmm-test
		command -v setpriv >/dev/null ||
			{ skip_case "running as root without setpriv: cannot switch to $user"; return 0; }
		if ! id -u "$user" >/dev/null 2>&1; then
			if ! command -v useradd >/dev/null; then
				skip_case "running as root without useradd: no unprivileged user to run as"
				return 0
			fi
			useradd --system --no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin "$user" ||
				{ fail_case "unprivileged: useradd $user failed"; return; }
			# Removed by cleanup, however the case ends.
			made_user=$user
		fi
		as=(setpriv "--reuid=$user" "--regid=$user" --init-groups --reset-env --)
	else
		user=$(id -un)
	fi
	src=$(copy_build "$b3") || { fail_case "unprivileged: cannot copy the kernel build to $b3"; return; }
	((EUID != 0)) || chown -R "$user:" "$b3"
	# The user's own PATH and a ccache dir it can write; Kconfig notices
	# tools of the invoking user's PATH missing and the build relinks.
	# FLAVOR and KERNEL_VERSION go along: they name the build dirs copied
	# in, and setpriv --reset-env drops them.
	if ! "${as[@]}" env PATH=/usr/local/bin:/usr/bin:/bin HOME=/nonexistent \
		CCACHE_DIR="$b3/.ccache" BUILD_DIR="$b3" KERNEL_SRC="$src" \
		FLAVOR="$FLAVOR" KERNEL_VERSION="$KERNEL_VERSION" \
		TESTS=migrate,range_fault bash "$S/test.sh" >"$tmp/u.out" 2>&1; then
		fail_case "unprivileged: make test as $user failed: $(tail -n 5 "$tmp/u.out")"
	fi
	grep -q 'passed, 0 failed' "$tmp/u.out" || fail_case "unprivileged: no passing summary as $user"

	# Inside UML: / refuses a write, the results dir takes one.
	k=$b3/$FLAVOR$KTAG/linux r=$b3/results/rw probe=/umhmm-rw-probe-$$
	"${as[@]}" mkdir -p "$r"
	# shellcheck disable=SC2016 # expanded inside UML
	if ! "${as[@]}" env PATH=/usr/local/bin:/usr/bin:/bin BUILD_DIR="$b3" bash "$S/run.sh" -t 60 -k "$k" "$r" -- bash -c '
		if echo x >"$1" 2>/dev/null; then echo "wrote $1"; exit 1; fi
		if touch "$2/probe" 2>/dev/null; then echo "wrote $2/probe"; exit 1; fi
		grep -q " / hostfs ro[, ]" /proc/mounts || { echo "/ is not hostfs ro"; exit 1; }
		echo ok >"$UMHMM_OUT/probe"
		# Root inside UML may remount /, but writes still go through
		# the host with the invoking user'"'"'s rights.
		if mount -o remount,rw / 2>/dev/null && echo x >"$1" 2>/dev/null; then
			echo "wrote $1 after remounting / read-write"; exit 1
		fi' _ "$probe" "$UMHMM_ROOT" >"$tmp/u2.out" 2>&1; then
		fail_case "unprivileged: the write checks failed in UML: $(grep -v '^\[' "$tmp/u2.out" | tail -n 5)"
	fi
	[[ ! -e $probe ]] || { fail_case "unprivileged: a write to / inside UML reached the host"; rm -f "$probe"; }
	[[ $(cat "$r/probe" 2>/dev/null) == ok ]] || fail_case "unprivileged: the results dir took no write"
	[[ ! -e $r/probe || $(stat -c %U "$r/probe") == "$user" ]] ||
		fail_case "unprivileged: the results file is not owned by $user"
	rm -rf "$b3"
}

all=(unknown_flavor wrong_kernel_src bad_kernel_version download_fails no_space bad_fault_around bad_settings patch_refused unknown_tests config_mismatch bench_vm_input ccache_incbin phase_cpus job_fails fault_around suite_failure nofork_rerun failure_location test_leaks splat kernel_build_no real_warn real_oops real_hang real_kasan real_lockdep repeated_failures timeout interrupted jobs concurrent unprivileged)
cases=("$@")
((${#cases[@]})) || cases=("${all[@]}")
for c in "${cases[@]}"; do
	declare -F "case_$c" >/dev/null || die "unknown case '$c' (known: ${all[*]})"
	n=${#failures[@]}
	skipped=
	"case_$c"
	if ((${#failures[@]} != n)); then
		printf 'FAIL %s\n' "$c"
	elif [[ -n $skipped ]]; then
		printf 'skip %s: %s\n' "$c" "$skipped"
	else
		printf 'ok   %s\n' "$c"
	fi
done
((${#failures[@]} == 0)) || die "${#failures[@]} failure(s)"
