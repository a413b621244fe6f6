#!/usr/bin/env bash
# Boot UML once to run one job, and judge the result.
#
#   run.sh [-t TIMEOUT_S] [-k KERNEL] [-i] RESULTS_DIR -- COMMAND [ARGS...]
#
# COMMAND runs inside UML as root, from the host's / (hostfs, read-only),
# with UMHMM_OUT pointing at RESULTS_DIR mounted read-write. The run fails
# when the job exits non-zero, does not finish, exceeds the timeout, or the
# kernel logs a splat. -i attaches the terminal (make shell).
#
# Environment: UMHMM_VERBOSE=1 streams the kernel log too, not only the
# job's output; UMHMM_JOB_PHASE names the job's phase in the timings;
# UMHMM_WRAP is a command prefix for UML (scripts/profile.sh uses perf).
# UMHMM_UML_ARGS adds UML command-line options; UMHMM_PERF=1 counts the
# host CPU time, context switches, CPU migrations and page faults of every
# UML process (perf stat, into RESULTS_DIR/perf-stat.csv) and reports them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh" # not dirname: an exec on the way to UML

# rm, rmdir and mkdir as bash's loadable builtins (bash-builtins) where
# they are installed: the removals after UML has stopped are on every
# run's path, and an exec costs 10 to 20 ms on a host where fork is dear.
for b in rm rmdir mkdir; do
	enable -f "$b" "$b" 2>/dev/null || true
done

usage() {
	die "usage: run.sh [-t TIMEOUT_S] [-k KERNEL] [-i] RESULTS_DIR -- COMMAND [ARGS...]"
}

timeout_s=300
kernel=$KOBJ/linux
interactive=
while getopts ':t:k:i' opt; do
	case $opt in
	t) timeout_s=$OPTARG ;;
	k) kernel=$OPTARG ;;
	i) interactive=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
if (($# < 3)) || [[ $2 != -- ]]; then
	usage
fi
results=$1
shift 2

[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "-t wants a whole number of seconds, not '$timeout_s'"
check_settings "${RUN_SETTINGS[@]}"
# Why 256 KiB: where it goes on the kernel command line, below.
fault_around=${UMHMM_FAULT_AROUND_BYTES-262144}
[[ -x $kernel ]] || die "no UML kernel at $kernel: build it first (make test builds it)"
# Parameter expansions, not dirname and basename: every exec on the way
# to UML's start is 10 to 20 ms on a host where a fork is dear.
[[ $kernel == */* ]] || kernel=./$kernel
kernel=$(cd "${kernel%/*}" && pwd -P)/${kernel##*/}

[[ -d $results ]] || mkdir -p "$results" || die "cannot create $results"
results=$(cd "$results" && pwd -P)
# The kernel command line is split at blanks: these paths travel on it.
for p in "$results" "$UMHMM_ROOT"; do
	[[ $p != *[[:space:]]* ]] || die "'$p' contains blanks, which the UML command line cannot carry"
done

# UML maps its memory file from TMPDIR with PROT_EXEC. Unless TMPDIR is
# set, use a tmpfs as UML itself prefers: guest memory in a disk-backed
# file is dirty page cache the host writes back. Only one with room for
# four instances' memory (JOBS defaults to at most 4): a full tmpfs is a
# SIGBUS in UML (a container's /dev/shm is often 64 MiB).
# One findmnt per directory looked at, read by bash.
fs_type='' fs_options='' fs_avail='' tmpdir_read=''
mount_of() {
	fs_type='' fs_options='' fs_avail=''
	read -r fs_type fs_options fs_avail < <(findmnt -n -f -b -o FSTYPE,OPTIONS,AVAIL -T "$1" 2>/dev/null) || true
}
if [[ -z ${TMPDIR:-} ]]; then
	TMPDIR=/tmp
	for d in /dev/shm /run/shm; do
		[[ -d $d && -w $d ]] || continue
		mount_of "$d"
		if [[ $fs_type == tmpfs && ,$fs_options, != *,noexec,* &&
			$fs_avail =~ ^[0-9]+$ ]] && ((fs_avail >= 4 * 512 * 1048576)); then
			TMPDIR=$d tmpdir_read=1
			break
		fi
	done
fi
export TMPDIR
[[ -d $TMPDIR && -w $TMPDIR ]] || die "TMPDIR=$TMPDIR is not a writable directory"
[[ -n $tmpdir_read ]] || mount_of "$TMPDIR"
if [[ ,$fs_options, == *,noexec,* ]]; then
	die "TMPDIR=$TMPDIR is on a noexec mount; UML needs exec mappings there: set TMPDIR to another directory"
fi

# UML's memory file on a tmpfs of its own that backs it with transparent
# huge pages. The kernel's view of its memory, one host mapping, then
# takes one host page fault per 2 MiB instead of one per page: on a host
# where a page fault costs 17 us, booting (mostly writing the memmap of
# RAM and of test_hmm's device memory) takes a fifth less, hmm-tests 4%
# less, the suites no less: their time is ptrace stops (README, "Guest
# memory in huge pages"). The tmpfs is mounted in a
# mount namespace of UML's own, so it goes away with UML whatever ends it,
# and nothing else on the host sees it; that takes root.
physmem=()
physmem_dir=
case ${UMHMM_HUGE_PHYSMEM:-auto} in
off) ;;
auto | on)
	huge_physmem_why_not
	if [[ -z $HUGE_PHYSMEM_WHY_NOT ]]; then
		physmem_dir=$results/.physmem
		# sh, not bash: each host exec on UML's way to boot counts. A
		# failed mount leaves UML on TMPDIR and says so in the console log.
		# shellcheck disable=SC2016 # expanded by that sh
		physmem=(unshare --mount --propagation private -- sh -c '
			if mount -t tmpfs -o huge=always,mode=0700 umhmm-physmem "$0"; then
				TMPDIR=$0
				export TMPDIR
			else
				echo "run.sh: no huge-page tmpfs at $0 for the memory file, using $TMPDIR" >&2
			fi
			exec "$@"' "$physmem_dir")
	elif [[ ${UMHMM_HUGE_PHYSMEM:-auto} == on ]]; then
		die "UMHMM_HUGE_PHYSMEM=on, but $HUGE_PHYSMEM_WHY_NOT: unset it, or set it to off"
	fi
	;;
esac

console=$results/console.log
# What an earlier run into this results dir left: a fresh results dir, the
# usual case, needs no rm.
remove_existing "$results"/{exit-status,timing,console.log,umid,perf-stat.csv,.swap.img,.umhmm-bar.img,.timed-out} ||
	die "cannot remove what an earlier run left in $results"
gcov_clear "$results"

umid=umhmm-$$-$RANDOM
uml_dir=$results/.uml
# UML puts its mconsole socket in uml_dir/umid/; a socket path is limited
# to 107 bytes, so deep results dirs fall back to TMPDIR.
if ((${#uml_dir} + ${#umid} + 10 > 107)); then
	uml_dir=$TMPDIR/umhmm-uml
	[[ $uml_dir != *[[:space:]]* ]] ||
		die "TMPDIR='$TMPDIR' contains blanks, which the UML command line cannot carry (the results dir's path is too long to use instead): set TMPDIR to a path without them"
fi
# Both in one mkdir, and none when they exist.
if [[ ! -d $uml_dir || ( -n $physmem_dir && ! -d $physmem_dir ) ]]; then
	mkdir -p "$uml_dir" ${physmem_dir:+"$physmem_dir"} || die "cannot create $uml_dir $physmem_dir"
fi
printf '%s\n' "$umid" >"$results/umid"

# The job, sourced by uml-init in a subshell of its own. A leading "env
# NAME=VALUE..." becomes exports: inside UML every exec costs tens of
# milliseconds.
job=$results/job
{
	printf '#!/usr/bin/env bash\n# Written by run.sh; runs inside UML.\n'
	if [[ $1 == env ]]; then
		shift
		while (($# > 1)) && [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do
			printf 'export %s=%q\n' "${1%%=*}" "${1#*=}"
			shift
		done
		# An option of env's own: leave it to env.
		[[ $1 != -* ]] || set -- env "$@"
	fi
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
} >"$job"

# uml-init's mounts in one mount -a: scripts/uml-fstab, then the results
# dir, read-write over hostfs, at GUEST_RESULTS (uml-init reads this file
# through the read-only root before it mounts anything).
mapfile -t fstab <"$UMHMM_ROOT/scripts/uml-fstab" || die "cannot read $UMHMM_ROOT/scripts/uml-fstab"
printf '%s\n' "${fstab[@]}" "none	$GUEST_RESULTS	hostfs	X-mount.mkdir,$results	0 0" >"$results/fstab" ||
	die "cannot write $results/fstab"

if [[ -n $interactive ]]; then
	con0=con0=fd:0,fd:1
else
	con0=con0=null,fd:1
fi
args=(
	mem=512M rootfstype=hostfs rootflags=/ ro
	"init=$UMHMM_ROOT/scripts/uml-init"
	"$con0" con=null ssl=null "umid=$umid" "uml_dir=$uml_dir"
	"UMHMM_RESULTS=$results" "UMHMM_JOB=$job"
)
perf=()
perf_out=$results/perf-stat.csv
if [[ ${UMHMM_PERF:-0} == 1 && -z $interactive ]]; then
	command -v perf >/dev/null || die "UMHMM_PERF=1 needs perf (Debian package linux-perf)"
	# Counts follow every process UML forks (perf stat inherits).
	perf=(perf stat -x "," -o "$perf_out" -e "task-clock,context-switches,cpu-migrations,page-faults" --)
fi

# A sparse file as the UML block device ubda: uml-init makes it the swap
# area, so reclaim paths (swap cache, MADV_PAGEOUT) can be tested.
swap_img=$results/.swap.img
truncate -s 256M "$swap_img" || die "cannot create $swap_img"
# Formatted here: mkswap inside UML would cost a slow exec at every boot.
mkswap_bin=$(PATH=$PATH:/usr/sbin:/sbin command -v mkswap) ||
	die "mkswap is missing (util-linux): run scripts/deps.sh"
"$mkswap_bin" -q "$swap_img" >/dev/null || die "mkswap $swap_img failed"
args+=("ubd0=$swap_img")
# A sparse host file as UML's iomem region umhmm_bar: the driver maps 64
# KiB of it, past the 128 MiB memory section where RAM ends, as device
# memory without struct pages, a GPU BAR's stand-in (UMHMM_BAR_PAGES in
# src/include/umhmm.h). UML maps it at boot: no cost beyond one mmap.
bar_img=$results/.umhmm-bar.img
truncate -s $((128 * 1024 * 1024 + 64 * 1024)) "$bar_img" || die "cannot create $bar_img"
args+=("iomem=umhmm_bar,$bar_img")
# The boot calibrates the delay loop, ~45 ms of busy-waiting that measures
# the host CPU. The first boot leaves its figure (lpj=) in the build
# directory and later boots, of any kernel, pass it on, which skips the
# loop; only udelay() and friends read it.
lpj_file=$BUILD_DIR/.umhmm-lpj
lpj=
if [[ -s $lpj_file ]]; then
	{ lpj=$(<"$lpj_file"); } 2>/dev/null || lpj=
fi
if [[ $lpj =~ ^[1-9][0-9]*$ ]]; then
	args+=("lpj=$lpj")
fi
# Fault-around: a read fault on a file page also maps the neighbouring
# pages already in the page cache, up to fault_around_bytes. A guest page
# fault costs three host round trips here (45 to 65 us, 1.5 us natively), so
# UML gains from a wider window than the kernel's default of 64 KiB: with
# 256 KiB the suites fault 6% less (48,000 to 45,000 times) and the make
# test loop's UML phase drops by about 0.2 s. Mostly the forks of check's
# test cases: a child refaults the libraries' text, which fork does not
# copy. UMHMM_FAULT_AROUND_BYTES= (empty) keeps the kernel's default.
[[ -z $fault_around ]] || args+=("UMHMM_FAULT_AROUND_BYTES=$fault_around")
[[ -z $interactive ]] || args+=(UMHMM_INTERACTIVE=1)
# Seccomp userspace where the kernel has it, then UMHMM_UML_ARGS: asked
# of the tree of the kernel that runs (-k: make series boots each patch
# prefix, which may not have the options yet).
read -r -a extra <<<"$(uml_options "${kernel%/*}")"
args+=("${extra[@]}")

# Every process of this run: the UML process group (UML forks host helper
# processes) plus anything still carrying our umid on its command line.
run_processes() {
	local d p stat rest state pgrp a
	local -a argv
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		[[ $p != "$$" ]] || continue
		{ stat=$(<"$d/stat"); } 2>/dev/null || continue
		rest=${stat##*) }
		read -r state _ pgrp _ <<<"$rest"
		# Zombies are dead already; reaping them is their new parent's job.
		[[ $state != [ZX] ]] || continue
		if [[ $pgrp == "${uml_group:-x}" ]]; then
			printf '%s\n' "$p"
			continue
		fi
		{ mapfile -d "" -t argv <"$d/cmdline"; } 2>/dev/null || continue
		for a in "${argv[@]}"; do
			if [[ $a == "umid=$umid" ]]; then
				printf "%s\n" "$p"
				break
			fi
		done
	done
	return 0
}

# Runs from the EXIT trap under set -e: a kill that finds nothing to kill
# must not end it before the sweep.
kill_run() {
	local pids
	if [[ -n ${uml_pid:-} ]]; then
		kill -KILL -- "${uml_group:+-}$uml_pid" 2>/dev/null || true
	fi
	mapfile -t pids < <(run_processes)
	if ((${#pids[@]})); then
		kill -KILL "${pids[@]}" 2>/dev/null || true
	fi
	return 0
}

cleanup() {
	kill_run
	rm -f "${swap_img:-}" "${bar_img:-}"
	# Empty on the host: the tmpfs was only ever mounted in UML's namespace.
	[[ -z ${physmem_dir:-} ]] || rmdir "$physmem_dir" 2>/dev/null || true
	# UML removes its pid file and mconsole socket only when it shuts down;
	# a killed run leaves them, and the shared fallback dir would fill.
	if [[ -n ${uml_dir:-} && -n ${umid:-} ]]; then
		rm -rf -- "${uml_dir:?}/${umid:?}"
	fi
	# Every job still running: the watchdog and the console's tail, also
	# when a signal came before their pid was assigned. An orphaned
	# watchdog would hold this run's lock until its sleep ended. Both end
	# on TERM; waiting for them makes run.sh's end theirs.
	local job
	for job in $(jobs -p); do
		kill "$job" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	return 0
}
trap cleanup EXIT
die_of_signals

# UMHMM_WRAP: a command that runs UML (perf stat, taskset), for
# scripts/profile.sh; it becomes the process group that a timeout kills.
wrap=()
if [[ -n ${UMHMM_WRAP:-} ]]; then
	read -r -a wrap <<<"$UMHMM_WRAP"
fi

# All of UML on one host CPU. A guest page fault or system call is a
# hand-off between UML's host processes; on two CPUs each hand-off is a
# cross-CPU wake-up, which on a virtual machine host costs several times a
# switch on one CPU (hmm-tests: 14.5 s spread, 4.9 s pinned). UMHMM_CPU
# picks the CPU, UMHMM_CPU=none leaves UML to the scheduler; by default the
# CPU is one this process may use, the UMHMM_CPU_SLOT-th (test.sh gives each
# JOBS instance its own slot), else one picked by the process id.
pin=()
cpu=${UMHMM_CPU:-}
if [[ -z $cpu ]]; then
	mapfile -t allowed < <(allowed_cpus)
	((${#allowed[@]})) || die "cannot read the CPUs this process may use (/proc/self/status)"
	slot=${UMHMM_CPU_SLOT:-$$}
	[[ $slot =~ ^[0-9]+$ ]] || die "UMHMM_CPU_SLOT=$slot is not a number"
	cpu=${allowed[slot % ${#allowed[@]}]}
fi
if [[ $cpu != none ]]; then
	command -v taskset >/dev/null || die "taskset is missing (util-linux): run scripts/deps.sh"
	pin=(taskset -c "$cpu")
fi

# UML's host processes without address space randomisation. UML counts
# the gap between the end of its binary and the start of its heap as
# guest memory, added to mem= "for exec-shield users", and the host
# randomises that gap over up to 1 GiB on x86_64: each boot had a guest
# of another size, up to twice mem=, with that much more memmap to write.
# Boot to init, 25 boots each, interleaved: 0.229 s (0.210..0.304)
# against 0.247 s (0.210..0.379).
command -v setarch >/dev/null || die "setarch is missing (util-linux): run scripts/deps.sh"
norandom=(setarch -R)

# A crash of UML must not leave a core file in the caller's directory.
ulimit -c 0

# A kernel without a symbol table (base.config) prints bare addresses in
# its stack traces: the reports name them from the build's System.map.
sysmap=
config=()
{ mapfile -t config <"${kernel%/*}/.config"; } 2>/dev/null || true
for line in "${config[@]}"; do
	if [[ $line == "# CONFIG_KALLSYMS is not set" ]]; then
		sysmap=${kernel%/*}/System.map
		break
	fi
done

t0=$(now_us)
if [[ -n $interactive ]]; then
	# Stays in our session, so that the terminal is its controlling tty
	# (UML resizes the console on SIGWINCH); an explicit <&0 because a
	# background job would get /dev/null.
	"${physmem[@]}" "${norandom[@]}" "$kernel" "${args[@]}" <&0 &
	uml_pid=$!
	uml_group=
else
	setsid "${pin[@]}" "${physmem[@]}" "${wrap[@]}" "${perf[@]}" "${norandom[@]}" "$kernel" "${args[@]}" </dev/null >"$console" 2>&1 &
	uml_pid=$!
	uml_group=$uml_pid
	# Stream the console while the file stays complete; by default only
	# the job's output and splat lines, not the kernel's boot chatter.
	# tail notices that UML has gone only when it checks the pid, every -s
	# seconds (file changes wake it through inotify): run.sh waits for
	# it, so a longer interval is that much added to every run.
	poll=0.02
	if [[ -n ${UMHMM_VERBOSE:-} ]]; then
		tail -s "$poll" -n +1 -F --pid="$uml_pid" "$console" 2>/dev/null &
	else
		tail -s "$poll" -n +1 -F --pid="$uml_pid" "$console" 2>/dev/null |
			awk -v re="$SPLAT_REGEX" -v sym_map="$sysmap" "$SYMBOLIZE_AWK"'
				{ sub(/\r$/, "") }
				$0 ~ re { print sym($0); fflush(); next }
				/ as init process$/ { init = 1; next }
				init && !/^\[ *[0-9]+\.[0-9]+\]/ { print; fflush() }' &
	fi
	tail_pid=$!
fi

# setsid(1) forks only when the caller leads a process group, which a
# script without job control never does: uml_pid becomes the group to kill
# once the child has called setsid(), a moment after the fork.
pgrp=""
for _ in {1..50}; do
	[[ -n $uml_group ]] || break
	{ read -r _ _ _ _ pgrp _ <"/proc/$uml_pid/stat"; } 2>/dev/null || break
	[[ $pgrp == "$uml_pid" ]] && break
	sleep 0.02
done
[[ -z $pgrp || $pgrp == "$uml_pid" ]] ||
	info "warning: UML (pid $uml_pid) did not become a process group leader"

flag=$results/.timed-out
(
	# jobs -p, not $!: a TERM right after the sleep starts finds it too.
	trap 'kill $(jobs -p) 2>/dev/null; exit 0' TERM
	sleep "$timeout_s" &
	wait "$!"
	: >"$flag"
	kill -KILL -- "${uml_group:+-}$uml_pid" 2>/dev/null
) &
watchdog_pid=$!

uml_rc=0
# Braces keep bash's "Aborted" job report off the terminal; the status
# is reported below.
{ wait "$uml_pid"; } 2>/dev/null || uml_rc=$?
t1=$(now_us)
kill "$watchdog_pid" 2>/dev/null || true
wait "$watchdog_pid" 2>/dev/null || true
if [[ -n ${tail_pid:-} ]]; then
	wait "$tail_pid" 2>/dev/null || true
fi

# UML helpers are not our children: wait a moment for them to go, then
# kill whatever is left so no run ever outlives run.sh.
for _ in 1 2 3 4 5 6 7 8 9 10; do
	[[ -z $(run_processes) ]] && break
	sleep 0.1
done
mapfile -t left < <(run_processes)
if ((${#left[@]})); then
	info "killing ${#left[@]} leftover process(es) of $umid: ${left[*]}"
	kill_run
fi
uml_pid=""
uml_group=""

# The console is a tty that turns every \n into \r\n; stty -onlcr inside
# UML would cost an exec at every boot, so the log is mended here.
[[ ! -s $console ]] || sed -i 's/\r$//' "$console" || true
if [[ ! -s $lpj_file && -s $console ]]; then
	lpj=$(sed -n 's/^.*Calibrating delay loop\.\.\. .*(lpj=\([0-9]*\))$/\1/p' "$console")
	# Written whole, then renamed: a concurrent boot reads all of it or
	# none. Not writable (the build directory of another user): every
	# boot calibrates.
	if [[ -n $lpj ]]; then
		{ printf '%s\n' "$lpj" >"$lpj_file.$$" && mv -f "$lpj_file.$$" "$lpj_file"; } 2>/dev/null ||
			rm -f "$lpj_file.$$"
	fi
fi

# The coverage counters left UML as gcov-<name> dirs or one archive
# (gcov_snapshot, gcov_pack in lib.sh).
gcov_unpack "$results"

fail=
if [[ -e $flag ]]; then
	rm -f "$flag"
	# What hung: the last marker, as report_splats names the test of a
	# splat.
	running=
	[[ ! -s $console ]] || running=$(last_running "$console")
	info "timeout after $timeout_s s while running ${running:-no suite yet (boot, init or a job that names none)} (console: $console)"
	fail=1
elif [[ ! -s $results/exit-status ]]; then
	info "the job did not finish: kernel crash or hang? see $console (UML exit status $uml_rc)"
	fail=1
else
	status=$(<"$results/exit-status")
	if [[ $status != 0 ]]; then
		info "the job failed with exit status $status"
		fail=1
	fi
fi

# uml-init wrote host clock times: its start, the job's start and end.
record_guest_timing "$results" "$t0"
info "UML ran for $(fmt_seconds "$((t1 - t0))") s"
if [[ -s $perf_out ]]; then
	info "host $(awk -F, '$3 ~ /^(context-switches|cpu-migrations)$/ { printf "%s%s %s", sep, $1, $3; sep = ", " }' "$perf_out")"
fi

report_splats "$console" "$sysmap" || fail=1

[[ -z $fail ]] || exit 1
