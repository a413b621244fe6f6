#!/usr/bin/env bash
# Boot the comparison VM of make bench-vm once to run one job: the x86_64
# kernel that vm-kernel.sh built, under QEMU's microvm machine, from an
# initramfs holding busybox, bash, umhmm's guest scripts and every file
# COMMAND names (the test binaries, with the shared libraries ldd lists).
#
#   vm-run.sh [-t TIMEOUT_S] RESULTS_DIR -- COMMAND [ARGS...]
#
# The VM's counterpart of run.sh: COMMAND runs as root with UMHMM_OUT
# pointing at a results dir, which scripts/vm-init writes as a tar archive
# to a virtio disk when the job ends; it is unpacked into RESULTS_DIR. A
# second, smaller disk is the swap area. The run fails when the job exits
# non-zero, does not finish, exceeds the timeout or the kernel logs a
# splat. QEMU never outlives this script.
#
# Environment: UMHMM_VM_ACCEL=auto|kvm|tcg (auto: KVM when /dev/kvm works,
# else TCG software emulation), UMHMM_VM_APPEND adds kernel command line
# options (transparent_hugepage=never, ...), UMHMM_JOB_PHASE names the
# job's phase.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	die "usage: vm-run.sh [-t TIMEOUT_S] RESULTS_DIR -- COMMAND [ARGS...]"
}

timeout_s=300
while getopts ':t:' opt; do
	case $opt in
	t) timeout_s=$OPTARG ;;
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

accel=${UMHMM_VM_ACCEL:-auto}
case $accel in
auto | kvm | tcg) ;;
*) die "UMHMM_VM_ACCEL=$accel: want auto, kvm or tcg" ;;
esac

qemu="qemu-system-x86_64"
command -v "$qemu" >/dev/null || die "$qemu is missing: run scripts/deps.sh vm"
command -v busybox >/dev/null || die "busybox is missing: run scripts/deps.sh vm"
command -v cpio >/dev/null || die "cpio is missing: run scripts/deps.sh vm"
image=$BUILD_DIR/vm$KTAG/arch/x86/boot/bzImage
[[ -f $image ]] || die "no VM kernel at $image: build it with scripts/vm-kernel.sh"

# kvm_works: a KVM guest must reach the kernel's panic for want of a root
# filesystem within seconds. /dev/kvm can exist without running guests
# (nested virtualisation that never schedules the vCPU, or refuses the
# CPU model): the answer is kept per host boot, as a failing probe costs
# its timeout.
kvm_works() {
	local cache=$BUILD_DIR/vm-initramfs/kvm-probe boot_id answer=no
	boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
	if [[ -f $cache && $(head -n 1 "$cache") == "$boot_id" ]]; then
		[[ $(tail -n 1 "$cache") == yes ]]
		return
	fi
	if [[ -r /dev/kvm && -w /dev/kvm ]] &&
		timeout -k 2 15 "$qemu" -accel kvm -cpu "$kvm_cpu" -M microvm,acpi=off -m 128M \
			-nodefaults -no-user-config -display none -no-reboot -serial stdio \
			-kernel "$image" -append "console=ttyS0 reboot=t panic=-1" \
			</dev/null 2>/dev/null | grep -q 'Kernel panic'; then
		answer=yes
	fi
	mkdir -p "${cache%/*}"
	printf '%s\n%s\n' "$boot_id" "$answer" >"$cache"
	[[ $answer == yes ]]
}

# The host's CPU, less the capability MSR that nested KVM often refuses.
kvm_cpu=host,-arch-capabilities
if [[ $accel == auto ]]; then
	accel=tcg
	if kvm_works; then
		accel=kvm
	fi
fi
cpu=max
[[ $accel == tcg ]] || cpu=$kvm_cpu

mkdir -p "$results" || die "cannot create $results"
results=$(cd "$results" && pwd -P)
console=$results/console.log
rm -f "$results/exit-status" "$results/timing" "$console"
gcov_clear "$results"

# --- The initramfs: a cached base archive and a small one with the job ----
#
# The kernel unpacks concatenated cpio archives in turn, so a new job
# costs one small archive, not a repack of the binaries.

vmdir=$BUILD_DIR/vm-initramfs
mkdir -p "$vmdir"
lock vm-initramfs

files=("$(command -v bash)" "$(command -v busybox)" "$UMHMM_ROOT/scripts/lib.sh" "$UMHMM_ROOT/scripts/vm-init"
	"$UMHMM_ROOT/scripts/run-suites" "$UMHMM_ROOT/scripts/run-hmm-tests")
# The suites and hmm-tests go in whatever the job, so that one base archive
# serves every job.
if [[ -s $BUILD_DIR/tests$KTAG/suites.list ]]; then
	mapfile -t -O "${#files[@]}" files <"$BUILD_DIR/tests$KTAG/suites.list"
fi
[[ ! -x $BUILD_DIR/selftests$KTAG/hmm-tests ]] || files+=("$BUILD_DIR/selftests$KTAG/hmm-tests")
for a in "$@"; do
	if [[ $a == /* && -f $a ]]; then
		files+=("$a")
	fi
done

# Every file and the libraries its ELF binaries load, by their host paths.
pack_list() {
	local f l magic
	for f in "${files[@]}"; do
		printf '%s\n' "$f"
		magic=
		LC_ALL=C read -r -n 4 magic <"$f" || true
		# ldd fails on a static binary (busybox): it has no library.
		if [[ $magic == $'\x7fELF' ]]; then
			{ ldd "$f" 2>/dev/null || true; } |
				awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
		fi
	done | LC_ALL=C sort -u | while IFS= read -r l; do
		printf '%s\n' "$l"
		# A library is often a symlink: the target goes in too.
		if [[ -L $l ]]; then
			readlink -f "$l"
		fi
	done | LC_ALL=C sort -u
}
mapfile -t packed < <(pack_list)

# The archive is remade when any file in it changed: its size, inode and
# times to the nanosecond (whole seconds would miss a binary rebuilt
# within the second of its last build with the same size).
key=$({
	for f in "${packed[@]}"; do
		stat -c '%n %s %i %.9Y %.9Z' "$f"
	done
} | sha256sum)
key=${key%% *}
base=$vmdir/base.cpio
if [[ ! -f $base || ! -f $base.key || $(<"$base.key") != "$key" ]]; then
	phase_begin vm-pack
	root=$vmdir/root
	rm -rf "$root" "$base.key"
	# Debian's merged /usr: /bin, /lib and /lib64 are links into /usr.
	mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/{proc,sys,dev,tmp,run,root}
	for d in bin sbin lib lib64; do
		ln -s "usr/$d" "$root/$d"
	done
	for f in "${packed[@]}"; do
		rel=${f#/}
		# A host path through /bin or /lib lands in /usr, as on the host.
		case $rel in
		bin/* | sbin/* | lib/* | lib64/*) rel=usr/$rel ;;
		esac
		mkdir -p "$root/${rel%/*}"
		rm -f "$root/$rel"
		cp -P "$f" "$root/$rel" || die "cannot copy $f into the initramfs"
	done
	# busybox provides the rest of the userland, where bash does not.
	while read -r applet; do
		[[ -e $root/usr/bin/$applet ]] || ln -s busybox "$root/usr/bin/$applet"
	done < <(busybox --list)
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet >"$base.tmp") || die "cpio failed"
	mv "$base.tmp" "$base"
	rm -rf "$root"
	printf '%s\n' "$key" >"$base.key"
	phase_end vm-pack
fi

# The job, like run.sh's: one exec line.
jobroot=$results/.vm-job
rm -rf "$jobroot"
mkdir -p "$jobroot"
{
	printf '#!/usr/bin/env bash\n# Written by vm-run.sh; runs inside the VM.\n'
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
} >"$jobroot/umhmm-job"
initrd=$results/.initrd.cpio
(cd "$jobroot" && printf 'umhmm-job\n' | cpio -o -H newc -R 0:0 --quiet >"$jobroot.cpio") ||
	die "cpio failed"
cat "$base" "$jobroot.cpio" >"$initrd"
rm -rf "$jobroot" "$jobroot.cpio"

# Sparse disks: swap, and a larger one the guest writes its results to.
swap_img=$results/.swap.img
out_img=$results/.out.img
rm -f "$swap_img" "$out_img"
if ! truncate -s 256M "$swap_img" || ! truncate -s 1G "$out_img"; then
	die "cannot create the VM's disks in $results"
fi

pidfile=$results/.qemu.pid
rm -f "$pidfile"
cleanup() {
	local p
	# QEMU first, by its pid file: timeout(1) then ends on its own.
	if [[ -s $pidfile ]]; then
		p=$(<"$pidfile")
		if [[ $(cat "/proc/$p/comm" 2>/dev/null) == qemu-system-* ]]; then
			kill -KILL "$p" 2>/dev/null || true
		fi
	fi
	if [[ -n ${vm_pid:-} ]]; then
		kill -KILL "$vm_pid" 2>/dev/null || true
		{ wait "$vm_pid"; } 2>/dev/null || true
	fi
	rm -f "${swap_img:-}" "${out_img:-}" "${initrd:-}" "$pidfile"
	return 0
}
trap cleanup EXIT
die_of_signals

args=(
	-accel "$accel" -cpu "$cpu" -M "microvm,acpi=off" -m 512M -smp 1
	-nodefaults -no-user-config -display none -no-reboot
	-serial "file:$console" -pidfile "$pidfile"
	-kernel "$image" -initrd "$initrd"
	-append "console=ttyS0 reboot=t panic=-1 PATH=/usr/bin:/bin rdinit=$UMHMM_ROOT/scripts/vm-init UMHMM_JOB=/umhmm-job${UMHMM_VM_APPEND:+ $UMHMM_VM_APPEND}"
	-drive "if=none,id=swap,file=$swap_img,format=raw,cache=unsafe"
	-device "virtio-blk-device,drive=swap"
	-drive "if=none,id=out,file=$out_img,format=raw,cache=unsafe"
	-device "virtio-blk-device,drive=out"
)

info "booting the VM ($accel)"
t0=$(now_us)
vm_rc=0
timeout -k 5 "$timeout_s" "$qemu" "${args[@]}" </dev/null >"$results/qemu.log" 2>&1 &
vm_pid=$!
wait "$vm_pid" || vm_rc=$?
vm_pid=
t1=$(now_us)
phase_record vm-wall "$(fmt_seconds "$((t1 - t0))")"

fail=
if ((vm_rc == 124 || vm_rc == 137)); then
	info "timeout after $timeout_s s (console: $console)"
	fail=1
elif ((vm_rc != 0)); then
	info "QEMU failed with exit status $vm_rc (see $results/qemu.log)"
	fail=1
fi
tar -xf "$out_img" -C "$results" 2>/dev/null || true
# The coverage counters travel inside it (gcov_snapshot, gcov_pack).
gcov_unpack "$results"
if [[ -z $fail ]]; then
	if [[ ! -s $results/exit-status ]]; then
		info "the job did not finish: kernel crash or hang? see $console"
		fail=1
	elif [[ $(<"$results/exit-status") != 0 ]]; then
		info "the job failed with exit status $(<"$results/exit-status")"
		fail=1
	fi
fi

record_guest_timing "$results"
report_splats "$console" || fail=1
[[ -z $fail ]] || exit 1
