#!/usr/bin/env bash
# make lint: shellcheck every bash script, refuse leftover work markers in
# the project's own files, and run the kernel's checkpatch.pl --strict on
# the patch series and the driver.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# make lint alone too: on a fresh host shellcheck and linux-source (for
# checkpatch.pl) are not there yet.
bash "$UMHMM_ROOT/scripts/deps.sh" || exit 1
cd "$UMHMM_ROOT"
failed=()

# Bash scripts are found by their shebang: uml-init and run-suites have no
# .sh suffix. lib.sh has none (it is only sourced) and is checked on its
# own too: sourced from the others, shellcheck sees only what they use.
scripts=(scripts/lib.sh)
while IFS= read -r f; do
	if head -n1 "$f" | grep -qE '^#!.*\bbash\b'; then
		scripts+=("$f")
	fi
done < <(find scripts .ci -type f 2>/dev/null | LC_ALL=C sort)
if ! shellcheck -x "${scripts[@]}"; then
	failed+=(shellcheck)
fi

# Spelled in pieces so that this file does not match itself.
marker='(^|[^A-Za-z0-9_])(TO''DO|FIX''ME|X''XX)([^A-Za-z0-9_]|$)'
own=()
for d in scripts src tests uml vm coverage; do
	[[ -d $d ]] || continue
	while IFS= read -r f; do own+=("$f"); done < <(find "$d" -type f ! -name '*.patch' | LC_ALL=C sort)
done
own+=(Makefile README.md .ci/run)
hits=
if ((${#own[@]})); then
	hits=$(grep -nHE "$marker" "${own[@]}" || true)
fi
# In patches only the lines the series adds are ours, not kernel context.
shopt -s nullglob
patches=("$UMHMM_ROOT"/uml/patches/*/*.patch)
drivers=("$UMHMM_ROOT"/src/driver/*.[ch] "$UMHMM_ROOT"/src/include/*.h)
shopt -u nullglob
for p in "${patches[@]}"; do
	hits+=$(awk -v re="$marker" -v f="$p" '
		/^\+\+\+ / { next }
		/^\+/ && $0 ~ re { printf "\n%s:%d:%s", f, NR, $0 }' "$p")
done
if [[ -n ${hits//[[:space:]]/} ]]; then
	printf '%s\n' "$hits" | sed '/^$/d' >&2
	info "leftover work markers (see above)"
	failed+=(markers)
fi

# Each series is checked by the checkpatch of its own kernel when that tree
# is extracted under $BUILD_DIR/src (KERNEL_VERSION=<v> make test does it),
# else by the default tree's; the driver by every one of those trees, since
# it builds on all of them.
checkpatch() {
	local tree=$1
	shift
	# checkpatch runs from the kernel tree, as it expects: from inside
	# another git work tree it misreads the patches. FILE_PATH_CHANGES
	# only asks whether MAINTAINERS needs an entry for a new file; arch/um/
	# covers sparsemem.h and drivers/umhmm is harness glue.
	(cd "$tree" && perl "$tree/scripts/checkpatch.pl" --strict --no-tree -q "$@") >&2
}

if ((${#patches[@]} + ${#drivers[@]})); then
	src=$(bash "$UMHMM_ROOT/scripts/kernel-source.sh") || exit 1
	[[ -f $src/scripts/checkpatch.pl ]] || die "$src/scripts/checkpatch.pl is missing"
	trees=("$src")
	for p in "${patches[@]}"; do
		v=${p%/*}
		v=${v##*/}
		tree=$BUILD_DIR/src/linux-source-$v
		if [[ $(kernel_version "$src") == "$v" || ! -f $tree/scripts/checkpatch.pl ]]; then
			tree=$src
		fi
		[[ " ${trees[*]} " == *" $tree "* ]] || trees+=("$tree")
		checkpatch "$tree" --ignore FILE_PATH_CHANGES "$p" ||
			failed+=("checkpatch ${p##*/} ($v)")
	done
	for f in "${drivers[@]}"; do
		for tree in "${trees[@]}"; do
			checkpatch "$tree" -f "$f" ||
				failed+=("checkpatch $f ($(kernel_version "$tree"))")
		done
	done
fi

if ((${#failed[@]})); then
	die "failed: ${failed[*]}"
fi
info "clean"
