# shellcheck shell=bash
# Shared helpers for every umhmm script; sourced, never run.
#
# Each script sources this first, so an unknown FLAVOR or a relative
# BUILD_DIR is refused before any stage touches the disk.

UMHMM_SCRIPT=${UMHMM_SCRIPT_NAME:-$(basename "$0")}

die() {
	printf '%s: %s\n' "$UMHMM_SCRIPT" "$*" >&2
	exit 1
}

info() {
	printf '%s: %s\n' "$UMHMM_SCRIPT" "$*" >&2
}

UMHMM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

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
KOBJ=$BUILD_DIR/$FLAVOR$KTAG
export UMHMM_ROOT BUILD_DIR FLAVOR KOBJ KERNEL_VERSION KTAG

# One regex for every kind of kernel splat, so run.sh and the self-tests
# agree on what counts as one.
export SPLAT_REGEX='Oops|BUG:|WARNING:|kernel BUG|KASAN:|possible circular locking|lockdep|INFO: task .* blocked|Kernel panic|general protection|Unable to handle'

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

# Record a phase that was timed elsewhere (e.g. inside UML).
phase_record() {
	local name=$1 seconds=$2
	printf 'phase %s: %s s\n' "$name" "$seconds" >&2
	if [[ -n ${PHASE_LOG:-} ]]; then
		printf '%s\t%s\n' "$name" "$seconds" >>"$PHASE_LOG"
	fi
}

declare -A _UMHMM_PHASE_T0=()
_UMHMM_PHASE_LAST=

phase_begin() {
	_UMHMM_PHASE_T0[$1]=$(now_us)
	_UMHMM_PHASE_LAST=$1
}

# phase_end [NAME]: NAME defaults to the last phase begun.
phase_end() {
	local name=${1:-$_UMHMM_PHASE_LAST} t1
	[[ -n ${_UMHMM_PHASE_T0[$name]:-} ]] || die "phase_end: phase '$name' was never begun"
	t1=$(now_us)
	phase_record "$name" "$(fmt_seconds "$((t1 - _UMHMM_PHASE_T0[$name]))")"
	unset "_UMHMM_PHASE_T0[$name]"
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

# Print "6.12" for the tree at $1, from its top-level Makefile.
kernel_version() {
	local mk=$1/Makefile v p
	[[ -f $mk ]] || die "$1 has no Makefile"
	v=$(sed -n 's/^VERSION[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$mk" | head -n1)
	p=$(sed -n 's/^PATCHLEVEL[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$mk" | head -n1)
	[[ -n $v && -n $p ]] || die "$mk has no VERSION/PATCHLEVEL"
	printf '%s.%s\n' "$v" "$p"
}

# Print "6.12.117" (SUBLEVEL included) for messages and stamps.
kernel_full_version() {
	local mk=$1/Makefile s
	s=$(sed -n 's/^SUBLEVEL[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$mk" | head -n1)
	printf '%s.%s\n' "$(kernel_version "$1")" "${s:-0}"
}

# Sanity check used by every stage that receives SRC as an argument.
require_kernel_tree() {
	local src=${1:-}
	[[ -n $src ]] || die "usage: $UMHMM_SCRIPT SRC (the kernel tree printed by kernel-source.sh)"
	[[ -f $src/Makefile && -f $src/arch/um/Makefile ]] ||
		die "$src is not a kernel source tree (no arch/um/Makefile)"
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
	printf '%s\n' "${chosen[@]}"
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

# deps, source, prepare, configure, build: each stage skips itself when its
# inputs did not change. Sets SRC to the kernel tree.
build_kernel() {
	local s=$UMHMM_ROOT/scripts
	bash "$s/deps.sh" || exit 1
	SRC=$(bash "$s/kernel-source.sh") || exit 1
	bash "$s/prepare.sh" "$SRC" || exit 1
	bash "$s/configure.sh" "$SRC" || exit 1
	bash "$s/build.sh" "$SRC" || exit 1
}

# Create $BUILD_DIR/results/<run-id>, point "latest" at it, set RESULTS and
# PHASE_LOG (so every stage after this one lands in the run's timings).
new_results_dir() {
	local id
	id=$(date +%Y%m%d-%H%M%S)-$$
	RESULTS=$BUILD_DIR/results/$id
	mkdir -p "$RESULTS" || die "cannot create $RESULTS"
	ln -sfn "$id" "$BUILD_DIR/results/latest"
	PHASE_LOG=$RESULTS/phases.tsv
	: >"$PHASE_LOG"
	export RESULTS PHASE_LOG
}

# One line with every phase of this run, from PHASE_LOG.
print_phases() {
	local name secs parts=()
	[[ -s ${PHASE_LOG:-} ]] || return 0
	while IFS=$'\t' read -r name secs; do
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
		if [[ $(readlink "$dir/${f##*/}" 2>/dev/null) != "$f" ]]; then
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

# tap_to_junit OUT TAP...: one JUnit XML for CI systems, one <testsuite>
# per TAP file (named after it), one <testcase> per result line.
tap_to_junit() {
	local out=$1
	shift
	awk '
		function esc(s) {
			gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s)
			gsub(/>/, "\\&gt;", s); gsub(/"/, "\\&quot;", s)
			return s
		}
		function flush() {
			if (suite == "") return
			printf "  <testsuite name=\"%s\" tests=\"%d\" failures=\"%d\" skipped=\"%d\">\n%s  </testsuite>\n", esc(suite), n, f, s, body
		}
		FNR == 1 {
			flush()
			suite = FILENAME; sub(/.*\//, "", suite); sub(/\.tap$/, "", suite)
			n = 0; f = 0; s = 0; body = ""
		}
		/^(not )?ok / {
			ok = ($0 ~ /^ok /)
			d = $0; sub(/^(not )?ok [0-9]* *-? */, "", d)
			n++
			body = body sprintf("    <testcase classname=\"%s\" name=\"%s\">", esc(suite), esc(d))
			if (!ok) { f++; body = body sprintf("<failure message=\"%s\"/>", esc(d)) }
			else if (d ~ /# *[Ss][Kk][Ii][Pp]/) { s++; body = body "<skipped/>" }
			body = body "</testcase>\n"
		}
		BEGIN { print "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"; print "<testsuites>" }
		END { flush(); print "</testsuites>" }
	' "$@" >"$out"
}
