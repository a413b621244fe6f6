# shellcheck shell=bash
# Shared helpers for every umhmm script; sourced, never run.
#
# Each script sources this first, so an unknown FLAVOR or a relative
# BUILD_DIR is refused before any stage touches the disk.

UMHMM_SCRIPT=${UMHMM_SCRIPT_NAME:-${0##*/}}

die() {
	printf '%s: %s\n' "$UMHMM_SCRIPT" "$*" >&2
	exit 1
}

info() {
	printf '%s: %s\n' "$UMHMM_SCRIPT" "$*" >&2
}

# For a script whose EXIT trap is its cleanup function: on SIGINT or
# SIGTERM, clean up, then die of that signal. The bash or make that ran
# the script then stops too; an exit status of 130 would tell it that the
# script handled the signal, and it would go on to its next step.
die_of_signals() {
	local sig
	for sig in INT TERM; do
		# shellcheck disable=SC2064 # $sig now; $$ when the trap runs
		trap "trap - EXIT; cleanup; trap - $sig; kill -s $sig \$\$" "$sig"
	done
}

# free_mib DIR: the MiB free to unprivileged users on the file system that
# holds DIR (or would, once created); nothing printed, status 1, when it
# cannot be read.
free_mib() {
	local at=$1 avail bsize
	[[ $at == /* ]] || at=$PWD/$at
	while [[ -n $at && ! -d $at ]]; do at=${at%/*}; done
	read -r avail bsize < <(stat -f -c '%a %S' -- "${at:-/}" 2>/dev/null) &&
		[[ $avail =~ ^[0-9]+$ && $bsize =~ ^[0-9]+$ ]] || return 1
	printf '%s\n' "$((avail * bsize / 1048576))"
}

# require_space DIR MIB WHAT: refuse to start WHAT when DIR's file system
# has less than MIB MiB free, instead of failing halfway with a flood of
# ENOSPC errors and a half-written tree.
require_space() {
	local dir=$1 need=$2 what=$3 free
	free=$(free_mib "$dir") || die "cannot read the free space of the file system holding $dir"
	((free >= need)) ||
		die "$what needs $need MiB free for $dir, its file system has $free MiB: free some space or set BUILD_DIR to a directory on a larger file system"
}

# No dirname(1): inside UML every exec costs tens of milliseconds.
_umhmm_dir=${BASH_SOURCE[0]%/*}
[[ $_umhmm_dir != "${BASH_SOURCE[0]}" ]] || _umhmm_dir=.
UMHMM_ROOT=$(cd "$_umhmm_dir/.." && pwd -P)
unset _umhmm_dir

BUILD_DIR=${BUILD_DIR:-$UMHMM_ROOT/build}
# Kbuild resolves O= relative to the source tree, and hostfs paths are
# resolved inside UML: a relative path would point somewhere else in both.
case $BUILD_DIR in
/*) ;;
*) die "BUILD_DIR=$BUILD_DIR must be an absolute path" ;;
esac

KNOWN_FLAVORS=(base debug)
FLAVOR=${FLAVOR:-base}
_umhmm_known=
for _f in "${KNOWN_FLAVORS[@]}"; do
	[[ $FLAVOR == "$_f" ]] && _umhmm_known=1
done
[[ -n $_umhmm_known ]] ||
	die "unknown FLAVOR '$FLAVOR' (known: ${KNOWN_FLAVORS[*]})"
unset _f _umhmm_known

# KERNEL_VERSION picks Debian's linux-source-<version> as the default tree
# (scripts/kernel-source.sh). Each version other than the default builds in
# its own directory, so switching versions never rebuilds the other one.
DEFAULT_KERNEL_VERSION=6.12
KERNEL_VERSION=${KERNEL_VERSION:-$DEFAULT_KERNEL_VERSION}
[[ $KERNEL_VERSION =~ ^[0-9]+\.[0-9]+$ ]] ||
	die "KERNEL_VERSION=$KERNEL_VERSION is not a kernel version like $DEFAULT_KERNEL_VERSION or 7.2"

# KTAG ("" or "-7.2") names what is built for one kernel version: the
# kernel, the test binaries, their headers, and the locks on them.
KTAG=
[[ $KERNEL_VERSION == "$DEFAULT_KERNEL_VERSION" ]] || KTAG=-$KERNEL_VERSION

# UMHMM_KOBJ names another Kbuild output directory: make bench-vm reads
# the coverage of its x86_64 kernel ($BUILD_DIR/vm$KTAG) with coverage.sh.
KOBJ=${UMHMM_KOBJ:-$BUILD_DIR/$FLAVOR$KTAG}
case $KOBJ in
/*) ;;
*) die "UMHMM_KOBJ=$KOBJ must be an absolute path" ;;
esac
export UMHMM_ROOT BUILD_DIR FLAVOR KOBJ KERNEL_VERSION KTAG

# Where the run's results directory appears inside the kernel under test
# (uml-init and vm-init mount it there and export it as UMHMM_OUT).
# shellcheck disable=SC2034 # read by the scripts that source this file
GUEST_RESULTS=/tmp/umhmm-results

# One regex for every kind of kernel splat, so run.sh and the self-tests
# agree on what counts as one. Lockdep's reports open with "WARNING:" or
# "INFO:" lines; the bare word would match paths and function names
# (debug_lockdep_rcu_enabled in any stack trace).
export SPLAT_REGEX='Oops|BUG:|WARNING:|kernel BUG|KASAN:|possible circular locking|INFO: (lockdep is turned off|possible .*(recursive|dependency|deadlock)|trying to register non-static key|task .* blocked)|Kernel panic|general protection|Unable to handle'

# The kernel-log line that says what runs next inside UML: the host names
# the suite (or operation) of a splat or a timeout after the last one
# before it. src/tools/umhmm-faultsweep.c writes it too.
RUNNING_MARKER='umhmm: running '

# announce_running NAME: inside UML, mark NAME as running in the kernel log.
announce_running() {
	echo "$RUNNING_MARKER$1" >/dev/kmsg 2>/dev/null || true
}

# last_running CONSOLE: the NAME of the last marker in CONSOLE.
last_running() {
	sed -n "s/.*$RUNNING_MARKER//p" "$1" | tail -n 1
}

# Microseconds since the epoch, without forking date(1); the decimal
# separator of EPOCHREALTIME follows the locale, so strip whatever it is.
now_us() {
	local t=${EPOCHREALTIME//[!0-9]/}
	printf '%s\n' "$((10#$t))"
}

# "12.3" from a microsecond count.
fmt_seconds() {
	local us=$1
	printf '%d.%d' "$((us / 1000000))" "$((us % 1000000 / 100000))"
}

# "0.123" from a microsecond count, for the short boot phases.
fmt_ms() {
	local us=$1
	printf '%d.%03d' "$((us / 1000000))" "$((us % 1000000 / 1000))"
}

# Record a phase that was timed elsewhere (e.g. inside UML). CPUS, when
# given, is how many of the host's CPUs the phase kept busy on average: a
# third column of PHASE_LOG.
phase_record() {
	local name=$1 seconds=$2 cpus=${3:-}
	printf 'phase %s: %s s\n' "$name" "$seconds" >&2
	if [[ -n ${PHASE_LOG:-} ]]; then
		printf '%s\t%s%s\n' "$name" "$seconds" "${cpus:+$'\t'$cpus}" >>"$PHASE_LOG"
	fi
}

# host_cpu_ticks: HOST_CPU_BUSY and HOST_CPU_ALL, the clock ticks the host's
# CPUs have spent busy (user, system, interrupts) and in all since boot,
# and HOST_CPUS, how many CPUs they count: /proc/stat, read by builtins.
host_cpu_ticks() {
	local name user nice system idle iowait irq softirq steal _
	HOST_CPUS=0 HOST_CPU_BUSY=0 HOST_CPU_ALL=0
	while read -r name user nice system idle iowait irq softirq steal _; do
		case $name in
		cpu)
			HOST_CPU_BUSY=$((user + nice + system + irq + softirq))
			HOST_CPU_ALL=$((HOST_CPU_BUSY + idle + iowait + steal))
			;;
		cpu[0-9]*) HOST_CPUS=$((HOST_CPUS + 1)) ;;
		*) break ;;
		esac
	done 2>/dev/null </proc/stat || true
}

# A phase begun: its start time (us), then the host's busy and all CPU
# ticks then.
declare -A _UMHMM_PHASE_START=()
_UMHMM_PHASE_LAST=

phase_begin() {
	host_cpu_ticks
	_UMHMM_PHASE_START[$1]="$(now_us) $HOST_CPU_BUSY $HOST_CPU_ALL"
	_UMHMM_PHASE_LAST=$1
}

# phase_end [NAME]: NAME defaults to the last phase begun. Records how
# many CPUs the phase kept busy too ("1.02": one CPU worked, the others
# mostly waited), unless it was too short for the clock ticks to tell.
phase_end() {
	local name=${1:-$_UMHMM_PHASE_LAST} t1 t0 busy0 all0 cpus='' c
	[[ -n ${_UMHMM_PHASE_START[$name]:-} ]] || die "phase_end: phase '$name' was never begun"
	t1=$(now_us)
	host_cpu_ticks
	read -r t0 busy0 all0 <<<"${_UMHMM_PHASE_START[$name]}"
	if ((HOST_CPU_ALL - all0 >= 10 * HOST_CPUS && HOST_CPUS > 0)); then
		c=$((HOST_CPUS * (HOST_CPU_BUSY - busy0) * 100 / (HOST_CPU_ALL - all0)))
		printf -v cpus '%d.%02d' "$((c / 100))" "$((c % 100))"
	fi
	phase_record "$name" "$(fmt_seconds "$((t1 - t0))")" "$cpus"
	unset "_UMHMM_PHASE_START[$name]"
}

# lock [NAME]: hold $BUILD_DIR/.lock-NAME (default: FLAVOR and KTAG, which
# name KOBJ) until the script exits. Scripts call each other, so a lock
# already held by a parent (listed in UMHMM_LOCKS, inherited with the fd) is
# not taken again: a second flock on a new open file would wait for
# ourselves forever.
lock() {
	local name=${1:-$FLAVOR$KTAG} file fd
	file=$BUILD_DIR/.lock-$name
	case " ${UMHMM_LOCKS:-} " in
	*" $file "*) return 0 ;;
	esac
	mkdir -p "$BUILD_DIR" || die "cannot create $BUILD_DIR"
	exec {fd}>>"$file" || die "cannot open lock file $file"
	if ! flock -n "$fd"; then
		info "waiting for another run using $file"
		flock "$fd" || die "cannot lock $file"
	fi
	UMHMM_LOCKS="${UMHMM_LOCKS:-} $file"
	export UMHMM_LOCKS
}

# kernel_makefile_version TREE: set KMK_VERSION, KMK_PATCHLEVEL and
# KMK_SUBLEVEL from the first VERSION, PATCHLEVEL and SUBLEVEL lines of
# TREE's top-level Makefile (empty where there is none). Builtins only:
# the scripts ask for the version several times a run, and every sed or
# head was a process start, milliseconds each on a slow host.
kernel_makefile_version() {
	local mk=$1/Makefile line
	local re='^(VERSION|PATCHLEVEL|SUBLEVEL)[[:space:]]*=[[:space:]]*([0-9]*)'
	[[ -f $mk ]] || die "$1 has no Makefile"
	KMK_VERSION='' KMK_PATCHLEVEL='' KMK_SUBLEVEL=''
	while IFS= read -r line || [[ -n $line ]]; do
		[[ $line =~ $re ]] || continue
		case ${BASH_REMATCH[1]} in
		VERSION) KMK_VERSION=${KMK_VERSION:-${BASH_REMATCH[2]}} ;;
		PATCHLEVEL) KMK_PATCHLEVEL=${KMK_PATCHLEVEL:-${BASH_REMATCH[2]}} ;;
		SUBLEVEL) KMK_SUBLEVEL=${KMK_SUBLEVEL:-${BASH_REMATCH[2]}} ;;
		esac
		[[ -z $KMK_VERSION || -z $KMK_PATCHLEVEL || -z $KMK_SUBLEVEL ]] || break
	done <"$mk" || die "cannot read $mk"
}

# Print "6.12" for the tree at $1, from its top-level Makefile.
kernel_version() {
	kernel_makefile_version "$1"
	[[ -n $KMK_VERSION && -n $KMK_PATCHLEVEL ]] || die "$1/Makefile has no VERSION/PATCHLEVEL"
	printf '%s.%s\n' "$KMK_VERSION" "$KMK_PATCHLEVEL"
}

# Print "6.12.117" (SUBLEVEL included) for messages and stamps.
kernel_full_version() {
	kernel_version "$1" >/dev/null
	printf '%s.%s.%s\n' "$KMK_VERSION" "$KMK_PATCHLEVEL" "${KMK_SUBLEVEL:-0}"
}

# uml_options KOBJ: the UML options of every run of the kernel built in
# KOBJ, on one line: how user processes run, then UMHMM_UML_ARGS (more
# options, split at blanks, e.g. "seccomp=off" or "ncpus=2": two CPUs,
# seccomp userspace and CONFIG_SMP only). Newer UMLs (7.2 here) can run them
# under seccomp instead of ptrace: half the host context switches per
# guest fault and system call, and on a host where those are dear, half
# the suites' time (README, "A slower host"). UML warns that such
# processes could write the guest's memory: here they are the tests
# themselves. "auto" falls back to ptrace where the host cannot do it,
# and the console says which ("Checking that seccomp filters can be
# installed"). UMHMM_UML_ARGS=seccomp=off, given after it, keeps ptrace.
# 6.12 keeps ptrace but, with uml/patches/6.12/0014, can finish a page
# fault in the process's own SIGSEGV handler: one round trip less per
# fault, with the same warning (UMHMM_UML_ARGS=segv_resume=off: without).
uml_options() {
	local -a opts=()
	local found
	# One grep for both: run.sh asks on its way to UML's start.
	found=$(grep -hosF -e '__uml_setup("seccomp="' -e '__uml_setup("segv_resume="' \
		"$1/source/arch/um/os-Linux/start_up.c" \
		"$1/source/arch/um/os-Linux/skas/process.c") || true
	[[ $found != *'"seccomp="'* ]] || opts+=(seccomp=auto)
	[[ $found != *'"segv_resume="'* ]] || opts+=(segv_resume=on)
	[[ -z ${UMHMM_UML_ARGS:-} ]] || opts+=("$UMHMM_UML_ARGS")
	printf '%s\n' "${opts[*]}"
}

# KERNEL_SRC=/path: the user's tree, checked as lib.sh is sourced so that
# a wrong path is refused before packages are installed, a lock taken or a
# results dir made. KTAG comes from KERNEL_VERSION, so a tree of another
# version would reconfigure and rebuild that version's build dirs: it is
# refused too.
# missing_tree_file DIR: the first file a kernel tree needs that DIR lacks;
# fails when it has them all.
missing_tree_file() {
	local f
	for f in Makefile arch/um/Makefile; do
		if [[ ! -f $1/$f ]]; then
			printf '%s\n' "$f"
			return 0
		fi
	done
	return 1
}

check_kernel_src() {
	local v f
	[[ -n ${KERNEL_SRC:-} ]] || return 0
	[[ -d $KERNEL_SRC ]] ||
		die "KERNEL_SRC=$KERNEL_SRC is not a kernel source tree (no such directory); point it at a Linux source tree"
	if f=$(missing_tree_file "$KERNEL_SRC"); then
		die "KERNEL_SRC=$KERNEL_SRC is not a kernel source tree (no $f); point it at a Linux source tree"
	fi
	v=$(kernel_version "$KERNEL_SRC") || exit 1
	[[ $v == "$KERNEL_VERSION" ]] ||
		die "KERNEL_SRC=$KERNEL_SRC is a $v tree, but KERNEL_VERSION is $KERNEL_VERSION, which names the build dirs: set KERNEL_VERSION=$v"
}
check_kernel_src

# Sanity check used by every stage that receives SRC as an argument.
require_kernel_tree() {
	local src=${1:-} f
	[[ -n $src ]] || die "usage: $UMHMM_SCRIPT SRC (the kernel tree printed by kernel-source.sh)"
	if f=$(missing_tree_file "$src"); then
		die "$src is not a kernel source tree (no $f)"
	fi
}

# The compiler string is fixed per host: Kbuild records it in every .cmd
# file, so switching between "gcc" and "ccache gcc" would rebuild the whole
# kernel. To bypass the cache use CCACHE_DISABLE=1, which keeps the string.
umhmm_cc() {
	if command -v ccache >/dev/null 2>&1; then
		printf 'ccache gcc\n'
	else
		printf 'gcc\n'
	fi
}

series_dir() {
	printf '%s/uml/patches/%s\n' "$UMHMM_ROOT" "$(kernel_version "$1")"
}

# The suites to run: every suite in the arguments whose name matches one of
# the globs in TESTS (blank or comma separated; the "test_" prefix may be
# left out). A glob that matches nothing is an error, so a typo never turns
# into a green run of zero tests.
select_suites() {
	local -a globs all=("$@") chosen=()
	local g b name hit
	local -A seen=()
	if [[ -z ${TESTS:-} ]]; then
		printf '%s\n' "${all[@]}"
		return 0
	fi
	IFS=', ' read -r -a globs <<<"$TESTS"
	for g in "${globs[@]}"; do
		[[ -n $g ]] || continue
		hit=
		for b in "${all[@]}"; do
			name=${b##*/}
			# shellcheck disable=SC2053 # the glob is meant to match
			if [[ $name == $g || ${name#test_} == $g ]]; then
				hit=1
				if [[ -z ${seen[$b]:-} ]]; then
					seen[$b]=1
					chosen+=("$b")
				fi
			fi
		done
		if [[ -z $hit ]]; then
			local known=()
			for b in "${all[@]}"; do known+=("${b##*/}"); done
			die "TESTS: no suite matches '$g' (known: ${known[*]})"
		fi
	done
	# Only separators ("," or blanks): a run of nothing is not a pass.
	((${#chosen[@]})) ||
		die "TESTS='$TESTS' names no suite: give names separated by commas, or unset it to run them all"
	printf '%s\n' "${chosen[@]}"
}

# The settings run.sh reads at every boot: each entry script that boots
# UML checks them first, with check_settings "${RUN_SETTINGS[@]}".
# shellcheck disable=SC2034 # read by the scripts that source this file
RUN_SETTINGS=(UMHMM_CPU UMHMM_FAULT_AROUND_BYTES UMHMM_HUGE_PHYSMEM)

# check_settings NAME...: refuse, in one line naming it, a setting NAME of
# the environment that would otherwise be read only after the kernel is
# built (run.sh reads most of them, once per UML instance). Entry scripts
# call it before they lock, make a results dir or build; an empty value is
# an unset one.
check_settings() {
	local name val
	local -a names=()
	for name in "$@"; do
		val=${!name:-}
		[[ -n $val ]] || continue
		case $name in
		UMHMM_TIMEOUT)
			[[ $val =~ ^[1-9][0-9]*$ ]] ||
				die "UMHMM_TIMEOUT=$val is not a positive whole number of seconds: set e.g. UMHMM_TIMEOUT=600, or unset it for the default"
			;;
		JOBS) instance_count >/dev/null ;;
		SELFTESTS_MIN_PASS)
			[[ $val =~ ^[0-9]+$ ]] ||
				die "SELFTESTS_MIN_PASS=$val is not a whole number of cases: set e.g. SELFTESTS_MIN_PASS=20, or unset it for the default"
			;;
		UMHMM_CPU)
			[[ $val == none || $val =~ ^[0-9]+$ ]] ||
				die "UMHMM_CPU=$val is not a CPU number or none: set e.g. UMHMM_CPU=0, or unset it for one this process may use"
			if [[ $val != none ]]; then
				local -a cpus=()
				mapfile -t cpus < <(allowed_cpus)
				[[ " ${cpus[*]} " == *" $val "* ]] ||
					die "UMHMM_CPU=$val is not a CPU this process may run on (${cpus[*]}): pick one of them, or unset it"
			fi
			;;
		UMHMM_HUGE_PHYSMEM)
			[[ $val == auto || $val == on || $val == off ]] ||
				die "UMHMM_HUGE_PHYSMEM=$val is not auto, on or off: unset it for auto"
			;;
		KERNEL_BUILD)
			[[ $val == yes || $val == no ]] ||
				die "KERNEL_BUILD=$val is not yes or no: set KERNEL_BUILD=no to run on the kernel built last, or unset it"
			[[ $val == yes || -x $KOBJ/linux ]] ||
				die "KERNEL_BUILD=no: there is no $FLAVOR kernel in $KOBJ yet: run once without KERNEL_BUILD to build it"
			;;
		UMHMM_FAULT_AROUND_BYTES)
			if [[ ! $val =~ ^[1-9][0-9]{0,6}$ ]] || ((val > 2097152)); then
				die "UMHMM_FAULT_AROUND_BYTES=$val is not a size in bytes up to 2097152 (empty: the kernel's default)"
			fi
			;;
		TESTS)
			# The names tests/Makefile gives the suites it builds.
			mapfile -t names < <(make -s -C "$UMHMM_ROOT/tests" names)
			((${#names[@]})) || die "cannot list the suites (make -C tests names)"
			select_suites "${names[@]}" >/dev/null
			;;
		*) die "check_settings: no rule for $name" ;;
		esac
	done
}

# --- The patch series -------------------------------------------------------
#
# A tree is expected to carry a prefix of the series (patches 1..k): that is
# all prepare.sh ever leaves, even when interrupted between two patches.
# The state is worked out on a scratch copy of only the files the series
# touches, so it is cheap, never writes the tree, and later patches that
# rework lines of earlier ones cannot confuse a patch-by-patch check.

# Print the patches of the series for the tree at $1, in order.
series_patches() {
	local dir ver supported=() d
	local -a patches
	dir=$(series_dir "$1")
	ver=$(kernel_version "$1")
	shopt -s nullglob
	patches=("$dir"/*.patch)
	if ((${#patches[@]} == 0)); then
		for d in "$UMHMM_ROOT"/uml/patches/*/; do
			d=${d%/}
			local dp=("$d"/*.patch)
			((${#dp[@]})) && supported+=("${d##*/}")
		done
		shopt -u nullglob
		die "no patch series for kernel $ver in uml/patches/ (supported: ${supported[*]:-none})"
	fi
	shopt -u nullglob
	printf '%s\n' "${patches[@]}" | LC_ALL=C sort
}

# Files named by the patches (old and new names), one per line.
series_files() {
	sed -n -e 's#^\(---\|+++\) [ab]/\([^\t]*\).*#\2#p' \
		-e 's#^rename \(from\|to\) \(.*\)#\2#p' "$@" | LC_ALL=C sort -u
}

# _series_scratch SRC DEST FILE...: copy the files that exist in SRC.
_series_scratch() {
	local src=$1 dest=$2 f
	shift 2
	rm -rf "$dest"
	mkdir -p "$dest"
	for f in "$@"; do
		if [[ -e $src/$f ]]; then
			(cd "$src" && cp --parents -p -- "$f" "$dest/") ||
				die "cannot copy $src/$f to a scratch dir"
		fi
	done
}

# _patch DIR PATCH [patch options]: quiet, no backups, no reject files.
_patch() {
	local dir=$1 p=$2
	shift 2
	patch -d "$dir" -p1 -s -f --no-backup-if-mismatch -r - "$@" -i "$p" >/dev/null 2>&1
}

# series_applied_count SRC SCRATCH PATCH...: print k, the length of the
# series prefix applied to SRC. SCRATCH is a directory the caller owns.
series_applied_count() {
	local src=$1 scratch=$2 k i ok
	shift 2
	local -a patches=("$@") files
	mapfile -t files < <(series_files "${patches[@]}")
	for ((k = ${#patches[@]}; k > 0; k--)); do
		_series_scratch "$src" "$scratch" "${files[@]}"
		ok=1
		for ((i = k - 1; i >= 0; i--)); do
			if ! _patch "$scratch" "${patches[i]}" -R; then
				ok=
				break
			fi
		done
		if [[ -n $ok ]]; then
			printf '%s\n' "$k"
			return 0
		fi
	done
	printf '0\n'
}

# --- Pipeline helpers for test.sh and selftests.sh ---------------------------

# prepare_kernel_tree: deps, source and prepare only (the patched tree, not
# built). Sets SRC to the kernel tree.
prepare_kernel_tree() {
	local s=$UMHMM_ROOT/scripts
	# Once per script: new_run prepares before build_kernel does.
	[[ -z ${_UMHMM_TREE_READY:-} ]] || return 0
	bash "$s/deps.sh" || exit 1
	SRC=$(bash "$s/kernel-source.sh") || exit 1
	bash "$s/prepare.sh" "$SRC" || exit 1
	_UMHMM_TREE_READY=1
}

# new_run: prepare_kernel_tree, then new_results_dir. A missing package or
# a patch that does not apply then ends the script before it has made a
# results dir, and repointed latest, for a run that never started. The
# phases of the preparation (a first extract) go into the run's timings.
# Call with the lock of FLAVOR and KTAG held: the phases wait in a file of
# that flavor's until the results dir exists.
new_run() {
	local early=$BUILD_DIR/.phases-$FLAVOR$KTAG
	: >"$early" || die "cannot write $early"
	PHASE_LOG=$early
	export PHASE_LOG
	prepare_kernel_tree
	new_results_dir
	cat "$early" >>"$PHASE_LOG" || die "cannot copy $early into $PHASE_LOG"
	rm -f "$early"
}

# build_kernel: prepare_kernel_tree, then configure and build: each stage
# skips itself when its inputs did not change. Sets SRC. KERNEL_BUILD=no
# skips both (use_built_kernel).
build_kernel() {
	local s=$UMHMM_ROOT/scripts
	prepare_kernel_tree
	if [[ ${KERNEL_BUILD:-yes} == no ]]; then
		use_built_kernel
		return 0
	fi
	bash "$s/configure.sh" "$SRC" || exit 1
	bash "$s/build.sh" "$SRC" || exit 1
}

# use_built_kernel: KERNEL_BUILD=no, as kunit.py's exec: run on $KOBJ/linux
# as the last build left it, without Kbuild, whose walk of the tree costs 6
# to 9 s here even when nothing changed (How fast). For a change to the
# tests alone: the suites are still rebuilt. Edits to the kernel tree are
# not looked for, as finding them is that walk; umhmm's own inputs to the
# kernel (the series, the driver and its header, this flavor's fragments,
# the measured files) are, and a line names those newer than the kernel,
# another a kernel built from another tree. check_settings has made sure
# there is a kernel.
use_built_kernel() {
	local -a newer=() fragments
	mapfile -t fragments < <(flavor_fragments)
	mapfile -t newer < <(find "$(series_dir "$SRC")" "$UMHMM_ROOT/src/driver" \
		"$UMHMM_ROOT/src/include" "${fragments[@]}" \
		"$UMHMM_ROOT/coverage/files.list" -type f -newer "$KOBJ/linux" 2>/dev/null)
	info "KERNEL_BUILD=no: running $KOBJ/linux, built $(date -r "$KOBJ/linux" '+%F %T')"
	((${#newer[@]} == 0)) ||
		info "KERNEL_BUILD=no: newer than this kernel, which a build would take in: ${newer[*]#"$UMHMM_ROOT"/}"
	# Kbuild's O= directory links the tree it was built from.
	[[ $KOBJ/source -ef $SRC ]] ||
		info "KERNEL_BUILD=no: this kernel was built from $(readlink -f "$KOBJ/source"), not $SRC"
}

# Create $BUILD_DIR/results/<run-id>, point "latest" at it, set RESULTS and
# PHASE_LOG (so every stage after this one lands in the run's timings).
new_results_dir() {
	local id
	id=$(date +%Y%m%d-%H%M%S)-$$
	RESULTS=$BUILD_DIR/results/$id
	mkdir -p "$RESULTS" || die "cannot create $RESULTS"
	ln -sfn "$id" "$BUILD_DIR/results/latest"
	# A script run as a step of another tells it its results dir here:
	# latest is repointed by any run in this BUILD_DIR, of any flavor.
	if [[ -n ${UMHMM_RESULTS_TO:-} ]]; then
		printf '%s\n' "$RESULTS" >"$UMHMM_RESULTS_TO" ||
			die "cannot write $UMHMM_RESULTS_TO"
		unset UMHMM_RESULTS_TO
	fi
	PHASE_LOG=$RESULTS/phases.tsv
	: >"$PHASE_LOG"
	# Durations are only compared between runs of the same flavor.
	printf '%s\n' "$FLAVOR" >"$RESULTS/flavor"
	export RESULTS PHASE_LOG
}

# step_results FILE: the results dir a step announced in FILE (its
# UMHMM_RESULTS_TO), or an error naming the step when it made none.
step_results() {
	[[ -s $1 ]] || die "${1##*/}: the step made no results dir"
	printf '%s\n' "$(<"$1")"
}

# phase_value FILE PHASE [FIELD]: the last value FILE (a PHASE_LOG) holds
# for PHASE: its seconds, or with FIELD 3 the CPUs it kept busy. Fails when
# there is none.
phase_value() {
	awk -F'\t' -v p="$2" -v f="${3:-2}" '$1 == p { v = $f } END { if (v == "") exit 1; print v }' "$1"
}

# One line with every phase of this run, from PHASE_LOG.
print_phases() {
	local name secs parts=()
	[[ -s ${PHASE_LOG:-} ]] || return 0
	while IFS=$'\t' read -r name secs _; do
		parts+=("$name $secs s")
	done <"$PHASE_LOG"
	local IFS=,
	printf 'phases:%s\n' "${parts[*]/#/ }"
}

# tap_count FILE...: print "PASS FAIL SKIP" over TAP files ("ok ... # SKIP"
# is a skip, a "not ok" carrying the to-do directive is not a failure, as
# TAP defines them).
tap_count() {
	awk '
		/^ok / { if ($0 ~ /# *[Ss][Kk][Ii][Pp]/) s++; else p++; next }
		/^not ok / { if ($0 ~ /# *T[O]DO/) s++; else f++; next }
		END { printf "%d %d %d\n", p, f, s }
	' "$@" </dev/null
}

# Where prepare.sh keeps a copy of the series it applied to a tree.
saved_series_dir() {
	local key
	key=$(printf '%s' "$1" | sha256sum)
	printf '%s/series/%s\n' "$BUILD_DIR" "${key:0:16}"
}

saved_series() {
	local dir
	dir=$(saved_series_dir "$1")
	[[ -d $dir ]] || return 0
	find "$dir" -maxdepth 1 -name '*.patch' | LC_ALL=C sort
}

# The driver sources stay in the harness; the kernel tree gets symlinks in
# the drivers/umhmm directory the series creates, so an edit of
# src/driver/*.c is picked up by the next incremental build.
driver_sources() {
	local f
	shopt -s nullglob
	for f in "$UMHMM_ROOT"/src/driver/*.[ch] "$UMHMM_ROOT"/src/include/*.h; do
		printf '%s\n' "$f"
	done
	shopt -u nullglob
}

link_driver() {
	local src=$1 dir=$1/drivers/umhmm f
	[[ -d $dir ]] || return 0
	while IFS= read -r f; do
		[[ -n $f ]] || continue
		# -ef, not readlink: no exec when the link is already right.
		if [[ ! -L $dir/${f##*/} || ! $dir/${f##*/} -ef $f ]]; then
			ln -sfn "$f" "$dir/${f##*/}" || die "cannot link $f into $dir"
		fi
	done < <(driver_sources)
}

unlink_driver() {
	local dir=$1/drivers/umhmm l
	[[ -d $dir ]] || return 0
	for l in "$dir"/*; do
		if [[ -L $l && $(readlink "$l") == "$UMHMM_ROOT"/src/* ]]; then
			rm -f "$l"
		fi
	done
}

# The kernel files whose coverage is measured (coverage/files.list).
measured_files() {
	grep -v -e '^#' -e '^[[:space:]]*$' "$UMHMM_ROOT/coverage/files.list"
}

# case_results TAP...: one line per test result in the suites' TAP files,
# tab separated: FILE SUITE TEST ITERATION STATUS SECONDS DETAIL. FILE is
# the TAP file's name without .tap; STATUS is ok, fail or skip. check
# writes <suite>.xml beside the TAP file with the same results in the same
# order: SUITE, TEST, ITERATION and SECONDS (check's <duration>) come from
# there. Without it (or when the two disagree, e.g. a suite that died
# midway) SUITE is FILE, TEST the TAP description and SECONDS "-".
case_results() {
	local t x
	local -a files=()
	for t in "$@"; do
		x=${t%.tap}.xml
		[[ ! -s $x ]] || files+=("$x")
		files+=("$t")
	done
	# One awk over all of them (each TAP after its XML, if any): a process
	# per suite was a tenth of a second of every make test here.
	awk '
		function tag(s, name) {
			sub(".*<" name ">", "", s); sub("</" name ">.*", "", s)
			return s
		}
		# The results of the TAP file just read, with its XML if it had one.
		function flush(   i, xml, file) {
			if (tap == "")
				return
			file = tap; sub(/.*\//, "", file); sub(/\.tap$/, "", file)
			xml = (xmlfor == tap && nx == nt && title != "")
			for (i = 1; i <= nt; i++)
				printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", file, xml ? title : file,
					xml ? id[i] : desc[i], xml ? it[i] : 0, st[i],
					xml ? sec[i] : "-", desc[i]
			tap = ""
		}
		FNR == 1 {
			flush()
			if (FILENAME ~ /\.xml$/) {
				xmlfor = FILENAME; sub(/\.xml$/, ".tap", xmlfor)
				nx = 0; title = ""; in_test = 0
				split("", id); split("", it); split("", sec)
			} else {
				tap = FILENAME; nt = 0
				split("", st); split("", desc)
			}
		}
		FILENAME ~ /\.xml$/ {
			if ($0 ~ /<title>/) title = tag($0, "title")
			else if ($0 ~ /<test /) { nx++; in_test = 1; it[nx] = 0; sec[nx] = "-" }
			else if ($0 ~ /<\/test>/) in_test = 0
			else if (in_test && $0 ~ /<id>/) id[nx] = tag($0, "id")
			else if (in_test && $0 ~ /<iteration>/) it[nx] = tag($0, "iteration")
			else if (in_test && $0 ~ /<duration>/) {
				# check writes -1 for a test it did not time.
				sec[nx] = tag($0, "duration")
				if (sec[nx] + 0 < 0) sec[nx] = "-"
			}
			next
		}
		/^(not )?ok / {
			nt++
			st[nt] = /^not ok / ? (/# *T[O]DO/ ? "skip" : "fail") : (/# *[Ss][Kk][Ii][Pp]/ ? "skip" : "ok")
			d = $0; sub(/^(not )?ok [0-9]* *-? */, "", d); gsub(/\t/, " ", d)
			desc[nt] = d
		}
		END { flush() }' "${files[@]}" </dev/null
}

# results_to_junit OUT < case_results: one JUnit XML for CI systems, one
# <testsuite> per suite file, one <testcase> per result with check's
# duration as time=; a test check ran in a loop gets its iteration in
# brackets.
results_to_junit() {
	awk -F'\t' '
		function esc(s) {
			gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s)
			gsub(/>/, "\\&gt;", s); gsub(/"/, "\\&quot;", s)
			return s
		}
		{
			n++; file[n] = $1; suite[n] = $2; test[n] = $3; iter[n] = $4
			st[n] = $5; sec[n] = $6; desc[n] = $7
			runs[$1 SUBSEP $3]++
			if (!($1 in seen)) { seen[$1] = 1; order[++nf] = $1 }
		}
		END {
			print "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
			print "<testsuites>"
			for (k = 1; k <= nf; k++) {
				f = order[k]; t = 0; c = 0; fl = 0; sk = 0; body = ""
				for (i = 1; i <= n; i++) {
					if (file[i] != f) continue
					c++
					name = test[i]
					if (runs[f SUBSEP name] > 1) name = name "[" iter[i] "]"
					time = ""
					if (sec[i] != "-") { t += sec[i]; time = sprintf(" time=\"%.6f\"", sec[i]) }
					body = body sprintf("    <testcase classname=\"%s\" name=\"%s\"%s>", esc(suite[i]), esc(name), time)
					if (st[i] == "fail") { fl++; body = body sprintf("<failure message=\"%s\"/>", esc(desc[i])) }
					else if (st[i] == "skip") { sk++; body = body sprintf("<skipped message=\"%s\"/>", esc(desc[i])) }
					body = body "</testcase>\n"
				}
				printf "  <testsuite name=\"%s\" tests=\"%d\" failures=\"%d\" skipped=\"%d\" time=\"%.6f\">\n%s  </testsuite>\n", esc(f), c, fl, sk, t, body
			}
			print "</testsuites>"
		}' >"$1"
}

# case_durations < case_results: one line per test (the iterations of a
# looped test summed), tab separated: SUITE:TEST STATUS SECONDS RUNS FILE.
# STATUS is fail if any iteration failed, skip if all skipped, else ok.
case_durations() {
	awk -F'\t' '
		{
			k = $2 ":" $3
			if (!(k in runs)) { order[++n] = k; st[k] = $5; sec[k] = "-"; file[k] = $1 }
			runs[k]++
			if ($5 == "fail" || (st[k] == "skip" && $5 == "ok")) st[k] = $5
			if ($6 != "-") sec[k] = (sec[k] == "-" ? 0 : sec[k]) + $6
		}
		END {
			for (i = 1; i <= n; i++) {
				k = order[i]
				printf "%s\t%s\t%s\t%d\t%s\n", k, st[k], (sec[k] == "-") ? "-" : sprintf("%.3f", sec[k]), runs[k], file[k]
			}
		}'
}

# previous_durations RESULTS: SUITE:TEST SECONDS FILE for every test that an
# earlier run of this flavor in BUILD_DIR timed, from the latest such run
# that ran it (a TESTS= subset run does not hide the others).
previous_durations() {
	local -a dirs
	mapfile -t dirs < <(previous_runs "$1" durations.tsv)
	((${#dirs[@]})) || return 0
	awk -F'\t' '$3 != "-" && !seen[$1]++ { print $1 "\t" $3 "\t" $5 }' \
		"${dirs[@]/%//durations.tsv}"
}

# previous_runs RESULTS FILE: the results dirs of earlier runs of this
# flavor in BUILD_DIR that wrote FILE, newest first, at most ten (run ids
# start with the date and time).
previous_runs() {
	local cur=${1%/} file=$2 d i n=0
	# The glob sorts by byte, as the run ids are meant to sort; the
	# newest come last. Builtins only: test.sh asks on its way to UML.
	local LC_COLLATE=C
	local -a dirs=()
	shopt -s nullglob
	dirs=("$BUILD_DIR"/results/*/)
	shopt -u nullglob
	for ((i = ${#dirs[@]} - 1; i >= 0 && n < 10; i--)); do
		d=${dirs[i]%/}
		[[ $d != "$cur" && ! -L $d && -s $d/$file ]] || continue
		[[ -f $d/flavor && $(<"$d/flavor") == "$FLAVOR" ]] || continue
		printf '%s\n' "$d"
		n=$((n + 1))
	done
}

# previous_times RESULTS FILE: the lines of FILE ("NAME<tab>SECONDS") of
# the earlier runs that wrote it, newest first: a NAME's first line is its
# latest time.
previous_times() {
	local -a dirs
	mapfile -t dirs < <(previous_runs "$1" "$2")
	((${#dirs[@]} == 0)) || cat "${dirs[@]/%//$2}"
}

# suite_weights RESULTS: FILE SECONDS per suite binary for heaviest_first:
# how long the suite ran inside UML in the latest earlier run that ran it
# (suites.tsv, fixtures and coverage saving included), else the sum of its
# tests' durations (previous.tsv).
suite_weights() {
	{
		previous_times "$1" suites.tsv
		awk -F'\t' '{ s[$3] += $2 } END { for (f in s) print f "\t" s[f] }' \
			"$1/previous.tsv" 2>/dev/null
	} | awk -F'\t' '!seen[$1]++'
}

# hmm_tests_weights RESULTS: CASE SECONDS per hmm-tests case for
# shard_suites, from the latest earlier runs that timed it.
hmm_tests_weights() {
	previous_times "$1" hmm-tests-times.tsv | awk -F'\t' '!seen[$1]++'
}

# shard_suites N WEIGHTS SUITE...: "I<tab>SUITE" for each suite binary,
# I in 1..N the instance to run it in. Suites are weighed by WEIGHTS
# (suite_weights; a suite without a weight gets the mean of the others,
# or 1 with no data at all) and placed heaviest first on the least loaded
# instance. Each instance keeps the suites in their given order.
shard_suites() {
	local n=$1 prev=$2
	shift 2
	printf '%s\n' "$@" | awk -F'\t' -v n="$n" '
		FILENAME == ARGV[1] { w[$1] = $2; next }
		{ m++; bin[m] = $0; f = $0; sub(/.*\//, "", f); file[m] = f }
		END {
			for (i = 1; i <= m; i++) if (file[i] in w) { known++; tot += w[file[i]] }
			avg = known ? tot / known : 1
			for (i = 1; i <= m; i++) wt[i] = (file[i] in w) ? w[file[i]] + 0.001 : avg
			for (k = 1; k <= m; k++) {
				best = 0
				for (i = 1; i <= m; i++)
					if (!(i in job) && (best == 0 || wt[i] > wt[best])) best = i
				j = 1
				for (q = 2; q <= n; q++) if (load[q] < load[j]) j = q
				load[j] += wt[best]; job[best] = j
			}
			for (i = 1; i <= m; i++) printf "%d\t%s\n", job[i], bin[i]
		}' "$prev" -
}

# heaviest_first WEIGHTS SUITE...: the suite binaries, the heaviest by
# WEIGHTS (suite_weights) first; a suite without a weight gets the mean of
# the others, and ties keep their given order. The order in which JOBS=N
# instances claim suites (run-suites): the long ones start at once, the
# short ones fill the gaps at the end.
heaviest_first() {
	local prev=$1
	shift
	printf '%s\n' "$@" | awk -F'\t' '
		FILENAME == ARGV[1] { w[$1] = $2; next }
		{ m++; bin[m] = $0; f = $0; sub(/.*\//, "", f); file[m] = f }
		END {
			for (i = 1; i <= m; i++) if (file[i] in w) { known++; tot += w[file[i]] }
			avg = known ? tot / known : 1
			for (i = 1; i <= m; i++) wt[i] = (file[i] in w) ? w[file[i]] : avg
			for (k = 1; k <= m; k++) {
				best = 0
				for (i = 1; i <= m; i++)
					if (!(i in done) && (best == 0 || wt[i] > wt[best])) best = i
				done[best] = 1
				print bin[best]
			}
		}' "$prev" -
}

# --- Several UML instances at once (JOBS) -------------------------------------

# The number of UML instances to run at once: JOBS, else one per CPU (UML
# runs a guest on one host CPU), at most 4 (each costs 512 MiB, and more
# gain little for this many tests).
instance_count() {
	local n=${JOBS:-$(nproc)}
	[[ $n =~ ^[1-9][0-9]*$ ]] ||
		die "JOBS=$n is not a positive whole number of UML instances: set e.g. JOBS=2, or unset it for one per CPU"
	((n <= 4)) || [[ -n ${JOBS:-} ]] || n=4
	printf '%s\n' "$n"
}

_instance_pids=()
_stop_instances() {
	local p
	for p in "${_instance_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}

# run_instances N LAUNCH PHASE...: runs the function LAUNCH with 1..N, all
# at once in the background; each starts instance i's run.sh with its
# results in $RESULTS/job<i> (and PHASE_LOG there, see exec_instance). A
# signal or an error of the caller stops them all: LAUNCH must end in
# exec_instance (an exec of run.sh), so that the pid signalled is run.sh's,
# which kills its UML on TERM (a function's subshell would die alone and
# leave them running). Returns 1 when one failed. Then records each PHASE
# as the slowest instance's.
run_instances() {
	local n=$1 launch=$2 i p rc=0
	shift 2
	_instance_pids=()
	trap _stop_instances EXIT
	for ((i = 1; i <= n; i++)); do
		mkdir -p "$RESULTS/job$i" || die "cannot create $RESULTS/job$i"
		"$launch" "$i" &
		_instance_pids+=("$!")
	done
	for p in "${_instance_pids[@]}"; do
		wait "$p" || rc=1
	done
	_instance_pids=()
	trap - EXIT
	# Each phase at the slowest instance's time, in one awk.
	local -a files
	shopt -s nullglob
	files=("$RESULTS"/job*/phases.tsv)
	shopt -u nullglob
	if (($# && ${#files[@]})); then
		awk -F'\t' -v phases="$*" '
			!($1 in m) || $2 + 0 > m[$1] + 0 { m[$1] = $2 }
			END {
				n = split(phases, p, " ")
				for (i = 1; i <= n; i++)
					if (p[i] in m) printf "%s\t%s\n", p[i], m[p[i]]
			}' "${files[@]}" >>"$PHASE_LOG"
	fi
	return "$rc"
}

# exec_instance I TIMEOUT PHASE CMD...: what a LAUNCH of run_instances
# ends with: the shell becomes instance I's run.sh, which runs CMD inside
# UML for at most TIMEOUT seconds, on a CPU of its own (run.sh pins each
# UML to one), named "job I" in messages, with its results and its phase
# log in job<I> (PHASE names the job's phase there).
exec_instance() {
	local i=$1 timeout=$2 phase=$3
	shift 3
	exec env UMHMM_CPU_SLOT=$((i - 1)) "UMHMM_SCRIPT_NAME=run.sh (job $i)" \
		PHASE_LOG="$RESULTS/job$i/phases.tsv" UMHMM_JOB_PHASE="$phase" \
		bash "$UMHMM_ROOT/scripts/run.sh" -t "$timeout" "$RESULTS/job$i" -- "$@"
}

# print_durations CURRENT PREVIOUS: "ok   suite:test   0.12 s (prev 0.10 s)"
# for every line of CURRENT (case_durations) with its time in PREVIOUS
# (previous_durations).
print_durations() {
	awk -F'\t' '
		FILENAME == ARGV[1] { prev[$1] = $2; next }
		{ w = length($1) > w ? length($1) : w; line[++n] = $0 }
		END {
			for (i = 1; i <= n; i++) {
				split(line[i], f, "\t")
				s = f[3] == "-" ? "     -" : sprintf("%6.2f", f[3])
				p = (f[1] in prev) ? sprintf("%.2f s", prev[f[1]]) : "-"
				r = (f[4] > 1) ? sprintf(", %d runs", f[4]) : ""
				printf "%-4s %-*s %s s (prev %s)%s\n", (f[2] == "fail") ? "FAIL" : f[2], w, f[1], s, p, r
			}
		}' "$2" "$1"
}

# Inside the kernel under test: copy the gcov counters (CONFIG_GCOV_KERNEL)
# to $UMHMM_OUT/gcov-NAME with one exec, cp -r of the whole gcov directory
# (the kernel gives its reset file a read for this; .gcda files report a
# size of 0, which cp ignores, reading each to its end): inside UML each
# exec costs tens of milliseconds. The host files it as RESULTS/gcov/NAME
# (gcov_unpack). Nothing to do on a kernel without gcov.
GCOV_DEBUGFS=/sys/kernel/debug/gcov
gcov_snapshot() {
	local name=$1
	[[ -d $GCOV_DEBUGFS ]] || return 0
	# shellcheck disable=SC2153 # UMHMM_OUT: set by uml-init, where this runs
	cp -rT "$GCOV_DEBUGFS" "$UMHMM_OUT/gcov-$name" ||
		info "cannot save the gcov counters of $GCOV_DEBUGFS in $UMHMM_OUT/gcov-$name"
}

gcov_reset() {
	[[ ! -w $GCOV_DEBUGFS/reset ]] || echo 1 >"$GCOV_DEBUGFS/reset"
}

# Inside UML: the per-test snapshots that the suite library saved under
# DIR on the tmpfs leave UML as one archive in the results dir: hostfs pays
# for every file and directory created, a few thousand for make coverage.
gcov_pack() {
	local dir=$1
	[[ -d $dir ]] || return 0
	tar -C "$dir" -cf "$UMHMM_OUT/gcov.tar" . || info "cannot archive $dir"
}

# On the host, before a run: drop the coverage data an earlier run left in
# RESULTS, so that gcov_unpack never files a snapshot into an old one.
gcov_clear() {
	local results=$1
	remove_existing "$results/gcov" "$results/gcov.tar" "$results"/gcov-* ||
		die "cannot remove the old coverage data in $results"
}

# remove_existing PATH...: rm -rf of those PATHs that exist, and no rm at
# all when none does (a fresh results dir): run.sh calls it on its way to
# UML's start, where an exec costs 10 to 20 ms on a host where fork is
# dear. An unmatched glob among the PATHs is skipped.
remove_existing() {
	local p
	local -a found=()
	for p in "$@"; do
		[[ ! -e $p && ! -L $p ]] || found+=("$p")
	done
	((${#found[@]} == 0)) || rm -rf -- "${found[@]}"
}

# On the host: file what gcov_snapshot and gcov_pack left in RESULTS under
# RESULTS/gcov/<name>/.
gcov_unpack() {
	local results=$1 d
	if [[ -f $results/gcov.tar ]]; then
		mkdir -p "$results/gcov" || die "cannot create $results/gcov"
		tar -C "$results/gcov" -xf "$results/gcov.tar" || die "cannot unpack $results/gcov.tar"
		rm -f "$results/gcov.tar"
	fi
	for d in "$results"/gcov-*/; do
		[[ -d $d ]] || continue
		d=${d%/}
		mkdir -p "$results/gcov" || die "cannot create $results/gcov"
		mv -T "$d" "$results/gcov/${d##*/gcov-}" || die "cannot move $d to $results/gcov/"
	done
}

# --- Kernel configuration and build ------------------------------------------

# flavor_fragments: the uml/configs fragments of FLAVOR, one path per
# line. Every flavor measures coverage of the HMM files: GCOV_KERNEL
# instruments only coverage/files.list, so it costs little, and make test
# reports it.
flavor_fragments() {
	local f
	local -a fragments=("$UMHMM_ROOT/uml/configs/base.config" "$UMHMM_ROOT/uml/configs/coverage.config")
	[[ $FLAVOR == base ]] || fragments+=("$UMHMM_ROOT/uml/configs/$FLAVOR.config")
	for f in "${fragments[@]}"; do
		[[ -f $f ]] || die "missing config fragment ${f#"$UMHMM_ROOT"/} for FLAVOR=$FLAVOR"
	done
	printf '%s\n' "${fragments[@]}"
}

# merge_fragments SRC OBJ ARCH FRAGMENT...: OBJ/.config from allnoconfig and
# the fragments (merge_config.sh, later fragments win). Kconfig silently
# drops any option whose dependencies are not met, so every requested value
# is checked afterwards: returns 1, with the list, when one did not land.
#
# merge_config.sh -m only merges; the allnoconfig it would run is run here
# with the compiler the build uses and in parallel. Kconfig records CC in
# include/config/auto.conf.cmd: merge_config.sh's own run says gcc where
# the build says ccache gcc, and the first build then reran the whole
# configuration (syncconfig) before compiling anything.
merge_fragments() {
	local src=$1 obj=$2 arch=$3
	shift 3
	local -a fragments=("$@") order=() bad=()
	local log=$obj/configure.log merged=$obj/.umhmm-fragments.config f line sym val got
	mkdir -p "$obj" || die "cannot create $obj"
	rm -f "$obj/.config"
	if ! (cd "$src" && "$src/scripts/kconfig/merge_config.sh" -m -O "$obj" \
		"${fragments[@]}") >"$log" 2>&1; then
		tail -n 40 "$log" >&2
		die "merge_config.sh failed (full log: $log)"
	fi
	mv "$obj/.config" "$merged" || die "merge_config.sh wrote no $obj/.config (log: $log)"
	if ! make -C "$src" ARCH="$arch" SUBARCH=x86_64 O="$obj" CC="$(umhmm_cc)" \
		-j"$(nproc)" KCONFIG_ALLCONFIG="$merged" allnoconfig >>"$log" 2>&1; then
		tail -n 40 "$log" >&2
		die "make allnoconfig failed (full log: $log)"
	fi
	local -A req=() req_from=() have=()
	for f in "${fragments[@]}"; do
		while IFS= read -r line; do
			if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
				sym=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
			elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set ]]; then
				sym=${BASH_REMATCH[1]} val=n
			else
				continue
			fi
			[[ -n ${req[$sym]:-} ]] || order+=("$sym")
			req[$sym]=$val
			req_from[$sym]=${f##*/}
		done <"$f"
	done
	while IFS= read -r line; do
		if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
			have[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
		fi
	done <"$obj/.config"
	for sym in "${order[@]}"; do
		got=${have[$sym]:-n}
		if [[ ${req[$sym]} == n ]]; then
			[[ $got == n ]] && continue
		elif [[ ${req[$sym]} == "$got" ]]; then
			continue
		fi
		[[ $got != n ]] || got="not set"
		bad+=("$sym: requested ${req[$sym]} (${req_from[$sym]}), got $got")
	done
	((${#bad[@]})) || return 0
	{
		printf '%s: %d requested option(s) did not land in %s:\n' "$UMHMM_SCRIPT" "${#bad[@]}" "$obj/.config"
		printf '  %s\n' "${bad[@]}"
		printf '  (unmet dependencies? see the Kconfig entries; log: %s)\n' "$log"
	} >&2
	return 1
}

# gcov_profile_args CONFIG: for a coverage kernel (CONFIG_GCOV_KERNEL),
# the make arguments that instrument exactly coverage/files.list: a faster
# kernel than profiling everything, and the counters coverage.sh reads.
# Kbuild takes GCOV_PROFILE_<obj> per object name, in whatever directory
# the object is. Sets GCOV_PROFILE_ARGS.
gcov_profile_args() {
	local f b
	local -a measured
	GCOV_PROFILE_ARGS=()
	grep -qx "CONFIG_GCOV_KERNEL=y" "$1" || return 0
	mapfile -t measured < <(measured_files)
	((${#measured[@]})) || die "coverage/files.list lists no file to instrument"
	for f in "${measured[@]}"; do
		b=${f##*/}
		GCOV_PROFILE_ARGS+=("GCOV_PROFILE_${b%.c}.o=y")
	done
}

# kbuild_ccache_env: ccache's settings for every kernel build (kbuild_linux,
# vm-kernel.sh). Every build directory puts the tree at the same place
# relative to its output (BUILD_DIR/src beside BUILD_DIR/<flavor> and
# BUILD_DIR/vm, series-<flavor>/tree beside series-<flavor>/obj): with
# paths hashed relative to the directory ccache runs in, a second clone or
# build directory reuses the objects of the first. The objects built with
# gcov (coverage/files.list) are never cached: ccache 4.7 refuses the
# -fprofile-update=prefer-atomic that Kbuild adds to gcov's flags
# ("unsupported compiler option"), so every build that needs them compiles
# them, the loop of make bench too.
# ccache's default mode preprocesses a source on a miss and refuses to
# cache one whose output holds an assembler .incbin, as the file it
# includes is in no key. ccache 4.7's depend mode does not look: it served
# objects whose .incbin'd file had changed, and the VM's bzImage booted an
# older kernel (piggy.S); UML's vdso.S is exposed too. So depend mode is
# off here whatever the user's environment or ccache.conf asks for (ccache
# fixed it upstream after 4.7, in its pull request 1765). The namespace
# keeps ours apart from entries that depend mode left in a cache (umhmm
# set it for a while), which the direct mode would still hit.
kbuild_ccache_env() {
	export CCACHE_BASEDIR=${CCACHE_BASEDIR:-/}
	export CCACHE_NAMESPACE=${CCACHE_NAMESPACE:-umhmm}
	unset CCACHE_DEPEND
	export CCACHE_NODEPEND=1
}

# kbuild_linux SRC OBJ LOG: make OBJ/linux from SRC, Kbuild's output in LOG.
kbuild_linux() {
	local src=$1 obj=$2 log=$3
	kbuild_ccache_env
	gcov_profile_args "$obj/.config"
	make -C "$src" ARCH=um SUBARCH=x86_64 O="$obj" CC="$(umhmm_cc)" \
		-j"$(nproc)" "${GCOV_PROFILE_ARGS[@]}" linux >"$log" 2>&1
}

# kbuild_failed LOG: show the first compiler errors and the end of LOG.
kbuild_failed() {
	local log=$1
	# With -j the first compiler error can scroll out of the tail.
	if grep -q -E "(error|undefined reference)" "$log"; then
		printf "%s: first errors:\n" "$UMHMM_SCRIPT" >&2
		grep -E -A2 -m 5 "(: error:|undefined reference)" "$log" >&2 || true
		printf "%s: last 40 lines of %s:\n" "$UMHMM_SCRIPT" "$log" >&2
	fi
	tail -n 40 "$log" >&2
}

# make_suites SRC [COMMAND...]: make umhmm's libcheck suites into
# $BUILD_DIR/tests$KTAG, shared by every flavor and route, under their lock;
# COMMAND (e.g. nice -n 19) runs make. Records the tests-build phase.
make_suites() {
	local src=$1
	shift
	phase_begin tests-build
	(
		lock "tests$KTAG"
		"$@" make -s -j"$(nproc)" -C "$UMHMM_ROOT/tests" O="$BUILD_DIR/tests$KTAG" KSRC="$src"
	) || return 1
	phase_end tests-build
}

# suites_built: SUITES from the list of the suites make_suites built.
suites_built() {
	local list=$BUILD_DIR/tests$KTAG/suites.list
	[[ -s $list ]] || die "$list is missing or empty: tests/Makefile built no suite"
	# shellcheck disable=SC2034 # read by the caller
	mapfile -t SUITES <"$list"
}

# build_suites SRC: make_suites, then suites_built.
build_suites() {
	make_suites "$1" || die "building the test suites failed"
	suites_built
}

# build_kernel_and_suites: build_kernel, with build_suites "$SRC" beside the
# kernel's configuration at the lowest CPU priority. The suites need only
# the extracted tree (lib/test_hmm_uapi.h), and the configuration runs
# Kconfig's compiler probes one at a time: in a fresh clone the suites'
# build (9 s on two CPUs) fits in the CPU time those leave. The kernel's
# build waits for it: beside a build of ccache hits (a second clone) the
# suites slowed it by more than they took alone.
build_kernel_and_suites() {
	local s=$UMHMM_ROOT/scripts log=$RESULTS/tests-build.log pid configured=1
	prepare_kernel_tree
	# No configuration to build beside: build_kernel runs the kernel
	# already built, then the suites' build alone.
	if [[ ${KERNEL_BUILD:-yes} == no ]]; then
		build_kernel
		build_suites "$SRC"
		return 0
	fi
	make_suites "$SRC" nice -n 19 >"$log" 2>&1 &
	pid=$!
	bash "$s/configure.sh" "$SRC" || configured=
	if ! wait "$pid"; then
		tail -n 40 "$log" >&2
		die "building the test suites failed (log: $log)"
	fi
	grep '^phase ' "$log" >&2 || true
	[[ -n $configured ]] || exit 1
	bash "$s/build.sh" "$SRC" || exit 1
	suites_built
}

# --- Upstream's hmm-tests ----------------------------------------------------

# build_tool NAME [LIBS...]: src/tools/NAME.c into $BUILD_DIR/tools/NAME, its
# path in TOOL_BIN. LIBS are pkg-config package names to link with. Static,
# like the suites (tests/Makefile says why).
build_tool() {
	local name=$1 flags
	shift
	TOOL_BIN=$BUILD_DIR/tools/$name
	flags=
	if (($#)); then
		flags=$(pkg-config --static --cflags --libs "$@") ||
			die "pkg-config knows no $*: run scripts/deps.sh"
	fi
	mkdir -p "${TOOL_BIN%/*}" || die "cannot create ${TOOL_BIN%/*}"
	# shellcheck disable=SC2086 # pkg-config output is a list of flags
	gcc -O2 -static -Wall -Wextra -Werror -I"$UMHMM_ROOT/src/include" \
		-o "$TOOL_BIN" "$UMHMM_ROOT/src/tools/$name.c" $flags ||
		die "building $name failed"
}

# build_hmm_tests SRC: tools/testing/selftests/mm/hmm-tests from the tree,
# against the tree's own uapi headers; sets HMM_TESTS_BIN.
build_hmm_tests() {
	local src=$1 hdr=$BUILD_DIR/hdr$KTAG hdr_hash st stale="" f
	local -a patches inputs sources
	HMM_TESTS_BIN=$BUILD_DIR/selftests$KTAG/hmm-tests
	# hmm-tests needs the uapi of the kernel under test (PAGEMAP_SCAN and
	# friends are newer than Debian's linux-libc-dev): install the tree's
	# headers once per tree and series.
	mapfile -t patches < <(series_patches "$src")
	hdr_hash=$({
		printf '%s\n%s\n' "$src" "$(kernel_full_version "$src")"
		cat "${patches[@]}"
	} | sha256sum)
	hdr_hash=${hdr_hash%% *}
	phase_begin selftests-build
	(
		lock "hdr$KTAG"
		if [[ ! -f $hdr/.umhmm-stamp || $(<"$hdr/.umhmm-stamp") != "$hdr_hash" ]]; then
			rm -f "$hdr/.umhmm-stamp"
			make -s -C "$src" ARCH=x86 O="$hdr/obj" INSTALL_HDR_PATH="$hdr/usr" \
				headers_install >"$hdr.log" 2>&1 || {
				tail -n 20 "$hdr.log" >&2
				die "headers_install failed (log: $hdr.log)"
			}
			printf '%s\n' "$hdr_hash" >"$hdr/.umhmm-stamp"
		fi
		# Under the same lock: the binary, like the headers, is shared by
		# every flavor, whose runs do not exclude each other.
		st=$src/tools/testing/selftests
		sources=("$st/mm/hmm-tests.c" "$st/mm/vm_util.c")
		# Newer hmm-tests (7.2) take their huge page helpers from here.
		if [[ -f $st/mm/hugepage_settings.c ]]; then
			sources+=("$st/mm/hugepage_settings.c")
		fi
		inputs=("${sources[@]}" "$st/mm/vm_util.h"
			"$st/kselftest_harness.h" "$st/kselftest.h" "$src/lib/test_hmm_uapi.h"
			"$src/mm/gup_test.h" "$hdr/.umhmm-stamp")
		[[ -x $HMM_TESTS_BIN ]] || stale=1
		for f in "${inputs[@]}"; do
			[[ -e $f ]] || die "$f is missing from the kernel tree"
			[[ $HMM_TESTS_BIN -nt $f ]] || stale=1
		done
		if [[ -n $stale ]]; then
			mkdir -p "${HMM_TESTS_BIN%/*}"
			# <lib/test_hmm_uapi.h> and <mm/gup_test.h> are included from the
			# top of the tree, the harness headers from tools/testing/selftests.
			gcc -O2 -Wall -isystem "$hdr/usr/include" -I"$st" -I"$src" \
				-o "$HMM_TESTS_BIN.tmp" "${sources[@]}" -lpthread \
				>"$HMM_TESTS_BIN.log" 2>&1 || {
				cat "$HMM_TESTS_BIN.log" >&2
				die "building hmm-tests failed"
			}
			mv "$HMM_TESTS_BIN.tmp" "$HMM_TESTS_BIN"
		fi
	) || exit 1
	phase_end selftests-build
}

# hmm_tests_options BIN VERSION: the hmm-tests arguments that leave out the cases
# uml/selftests-exclude.txt and, for cases only one version's hmm-tests
# has, uml/selftests-exclude-<version>.txt list ("<name> <reason>",
# where <name> is a test name or FIXTURE.VARIANT.TEST); prints each
# exclusion and its reason.
# Sets HMM_TESTS_OPTS, and HMM_TESTS_CASES to the cases left to run.
hmm_tests_options() {
	local bin=$1 version=$2 exclude_file name reason c found
	local -a cases positive=() files=()
	local -A dropped=()
	HMM_TESTS_OPTS=()
	HMM_TESTS_CASES=()
	# Every case the binary knows, as FIXTURE.VARIANT.TEST (FIXTURE.TEST
	# when the fixture has no variants), from its -l table.
	mapfile -t cases < <("$bin" -l 2>&1 | awk '
		function flush(   i, j) {
			if (fx == "") return
			if (nv == 0) { for (j = 0; j < nt; j++) print fx "." t[j] }
			for (i = 0; i < nv; i++) for (j = 0; j < nt; j++) print fx "." v[i] "." t[j]
		}
		# The header, and what the binary logs (7.2: "# [INFO] detected ...").
		/^#/ { next }
		/^-----/ { flush(); fx = ""; nv = 0; nt = 0; next }
		{
			f = substr($0, 1, 20); gsub(/ /, "", f)
			vv = substr($0, 22, 25); gsub(/ /, "", vv)
			tt = substr($0, 48); gsub(/ /, "", tt)
			if (f != "") fx = f
			if (vv != "") v[nv++] = vv
			if (tt != "") t[nt++] = tt
		}
		END { flush() }')
	((${#cases[@]})) || die "$bin -l listed no test"
	for exclude_file in "$UMHMM_ROOT/uml/selftests-exclude.txt" \
		"$UMHMM_ROOT/uml/selftests-exclude-$version.txt"; do
		[[ ! -f $exclude_file ]] || files+=("$exclude_file")
	done
	((${#files[@]})) || return 0
	while read -r name reason; do
		[[ -n $name && $name != \#* ]] || continue
		found=
		for c in "${cases[@]}"; do
			if [[ $c == "$name" || ${c##*.} == "$name" ]]; then
				found=1
				dropped[$c]=1
			fi
		done
		[[ -n $found ]] ||
			die "uml/selftests-exclude*.txt: '$name' is not a test of hmm-tests (see $bin -l)"
		printf 'excluded: %s (%s)\n' "$name" "${reason:-no reason given}"
		[[ $name == *.* ]] || HMM_TESTS_OPTS+=(-T "$name")
	done < <(cat "${files[@]}")
	# The harness can only exclude by bare name (-T); a FIXTURE.VARIANT.TEST
	# exclusion turns into running every other case by its full name (-r).
	HMM_TESTS_CASES=()
	for c in "${cases[@]}"; do
		[[ -n ${dropped[$c]:-} ]] && continue
		positive+=(-r "$c")
		HMM_TESTS_CASES+=("$c")
	done
	if grep -qE '^[^#[:space:]]+\.' "${files[@]}"; then
		HMM_TESTS_OPTS+=("${positive[@]}")
	fi
}

# --- Benchmarks --------------------------------------------------------------

# bench_summary SAMPLES: "measure median min max runs" (tab separated) for
# every measure of SAMPLES ("measure<TAB>seconds" lines), in the order
# first sampled.
bench_summary() {
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
				printf "%s\t%.3f\t%.3f\t%.3f\t%d\n", m, med, s[1], s[c], c
			}
		}' "$1"
}

# The machine line of every benchmark table.
bench_machine() {
	printf 'machine: %s, %s cores, %s GiB, host kernel %s\n' \
		"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
		"$(nproc)" "$(awk '/^MemTotal/ { printf "%d", $2 / 1048576 }' /proc/meminfo)" \
		"$(uname -r | cut -d- -f1)"
}

# --- Guest runs (run.sh in UML, vm-run.sh in the comparison VM) ---------------

# _uptime_us 12.34: microseconds from a /proc/uptime value.
_uptime_us() {
	local s=${1%.*} f=${1#*.}00
	printf '%s\n' "$((10#$s * 1000000 + 10#${f:0:2} * 10000))"
}

# record_guest_timing RESULTS [T0_US]: the phases boot-to-init, boot (to the
# job's start) and the job's own (UMHMM_JOB_PHASE, default "job") from the
# times the guest's init wrote to RESULTS/timing. uml-init writes host
# clock microseconds (UML's clock is the host's), counted here from T0_US,
# when run.sh started UML. vm-init writes the guest's uptime in seconds
# (a VM's clock is its own), counted from the guest kernel's start.
record_guest_timing() {
	local file=$1/timing t0=${2:-} what v init="" boot="" job=""
	[[ -s $file ]] || return 0
	while read -r what v; do
		if [[ $v =~ ^[0-9]+\.[0-9]+$ ]]; then
			v=$(_uptime_us "$v")
		elif [[ $v =~ ^[0-9]+$ && -n $t0 ]]; then
			v=$((v - t0))
		else
			continue
		fi
		case $what in
		init) init=$v ;;
		boot) boot=$v ;;
		job) job=$v ;;
		esac
	done <"$file"
	[[ -z $init ]] || phase_record boot-to-init "$(fmt_ms "$init")"
	[[ -n $boot ]] || return 0
	phase_record boot "$(fmt_ms "$boot")"
	[[ -z $job ]] || phase_record "${UMHMM_JOB_PHASE:-job}" "$(fmt_seconds "$((job - boot))")"
}

# awk functions for the splat reports of a kernel without a symbol table
# (base.config leaves out KALLSYMS): sym(LINE) turns every address that
# printk's %pS wrote as 0x plus 16 hex digits into function+0xoff/0xsize,
# from System.map, as kallsyms computes them. The awk program sets
# sym_map to the System.map path ("" leaves lines as they are); the map is
# read at the first call.
# shellcheck disable=SC2016 # awk code, expanded by awk
SYMBOLIZE_AWK='
function sym_hex(h,   i, n) {
	n = 0
	for (i = 1; i <= length(h); i++)
		n = n * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
	return n
}
function sym_load(   l, f, i) {
	sym_loaded = 1
	sym_n = 0
	sym_re = "0x"
	for (i = 0; i < 16; i++)
		sym_re = sym_re "[0-9a-f]"
	if (sym_map == "")
		return
	while ((getline l < sym_map) > 0) {
		if (split(l, f, " ") < 3)
			continue
		sym_n++
		sym_a[sym_n] = sym_hex(f[1])
		sym_t[sym_n] = f[2]
		sym_s[sym_n] = f[3]
	}
	close(sym_map)
}
# The name of ADDR, or "" outside the text symbols. System.map is sorted.
function sym_name(a,   lo, hi, mid) {
	lo = 1
	hi = sym_n
	if (hi < 2 || a < sym_a[1] || a >= sym_a[hi])
		return ""
	while (hi - lo > 1) {
		mid = int((lo + hi) / 2)
		if (sym_a[mid] <= a)
			lo = mid
		else
			hi = mid
	}
	if (sym_t[lo] !~ /^[tTwW]$/)
		return ""
	# Of aliases (text symbols at one address), the first, as kallsyms.
	while (lo > 1 && sym_a[lo - 1] == sym_a[lo] && sym_t[lo - 1] ~ /^[tTwW]$/)
		lo--
	return sprintf("%s+0x%x/0x%x", sym_s[lo], a - sym_a[lo], sym_a[hi] - sym_a[lo])
}
function sym(l,   out, name) {
	if (!sym_loaded)
		sym_load()
	if (sym_n == 0)
		return l
	out = ""
	while (match(l, sym_re)) {
		name = sym_name(sym_hex(substr(l, RSTART + 2, 16)))
		out = out substr(l, 1, RSTART - 1) (name == "" ? substr(l, RSTART, RLENGTH) : name)
		l = substr(l, RSTART + RLENGTH)
	}
	return out l
}
'

# report_splats CONSOLE [SYSTEM_MAP]: print every kernel splat with what
# follows it and the test that was running (the last RUNNING_MARKER before
# it), the functions named from SYSTEM_MAP when the kernel printed bare
# addresses; returns 1 when there was one.
report_splats() {
	local console=$1 map=${2:-}
	[[ -s $console ]] || return 0
	[[ -r $map ]] || map=
	if ! awk -v re="$SPLAT_REGEX" -v marker="$RUNNING_MARKER" -v file="$console" -v sym_map="$map" "$SYMBOLIZE_AWK"'
		{ sub(/\r$/, ""); line[NR] = $0 }
		END {
			n = 0; until_ = 0; current = ""
			for (i = 1; i <= NR; i++) {
				l = line[i]
				if ((k = index(l, marker))) {
					current = substr(l, k + length(marker))
					continue
				}
				if (i <= until_ || l !~ re)
					continue
				n++
				printf "--- kernel splat at %s:%d, while running %s ---\n", file, i, (current == "" ? "(no test yet: boot or init)" : current)
				until_ = i + 20
				for (j = i; j <= until_ && j <= NR; j++)
					print sym(line[j])
				print "---"
			}
			exit n > 0
		}' "$console" >&2; then
		info "the kernel logged a splat (see above and $console)"
		return 1
	fi
	return 0
}

# huge_physmem_why_not: set HUGE_PHYSMEM_WHY_NOT to why run.sh cannot put
# UML's memory file on a tmpfs with transparent huge pages here, or to ""
# when it can. Builtins only: it runs before every boot.
# shellcheck disable=SC2034 # HUGE_PHYSMEM_WHY_NOT is the caller's answer (run.sh)
huge_physmem_why_not() {
	local thp=/sys/kernel/mm/transparent_hugepage/shmem_enabled key cap="" mode=""
	while read -r key cap; do
		[[ $key != CapEff: ]] || break
		cap=
	done </proc/self/status
	[[ ! -r $thp ]] || mode=$(<"$thp")
	HUGE_PHYSMEM_WHY_NOT=
	if [[ ! $cap =~ ^[0-9a-fA-F]+$ ]] || ((!((16#$cap >> 21) & 1))); then
		# CAP_SYS_ADMIN: bit 21
		HUGE_PHYSMEM_WHY_NOT="mounting a tmpfs of UML's own needs root (CAP_SYS_ADMIN)"
	elif ! command -v unshare >/dev/null; then
		HUGE_PHYSMEM_WHY_NOT="unshare is missing (util-linux): run scripts/deps.sh"
	elif [[ -z $mode ]]; then
		HUGE_PHYSMEM_WHY_NOT="the host kernel has no transparent huge pages for tmpfs ($thp)"
	elif [[ $mode == *"[deny]"* ]]; then
		HUGE_PHYSMEM_WHY_NOT="the host denies tmpfs huge pages ($thp)"
	fi
}

# The CPUs this process may run on, one per line, from the kernel's
# Cpus_allowed_list ("0-3,6": ranges and single CPUs).
allowed_cpus() {
	local key list='' part a b
	local -a parts
	# Builtins only: run.sh asks on its way to UML's start.
	while read -r key list; do
		[[ $key != Cpus_allowed_list: ]] || break
		list=
	done </proc/self/status
	IFS=, read -r -a parts <<<"$list"
	for part in "${parts[@]}"; do
		if [[ $part =~ ^([0-9]+)-([0-9]+)$ ]]; then
			for ((a = BASH_REMATCH[1], b = BASH_REMATCH[2]; a <= b; a++)); do
				printf '%s\n' "$a"
			done
		elif [[ $part =~ ^[0-9]+$ ]]; then
			printf '%s\n' "$part"
		fi
	done
}
