#!/usr/bin/env bash
# make clean: remove everything generated ($BUILD_DIR). A KERNEL_SRC tree
# stays patched: scripts/unprepare.sh reverts it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# BUILD_DIR comes from the environment: refuse paths that cannot be ours,
# as the directory they name (a trailing slash, a symlink or .. must not
# get past the checks).
[[ -e $BUILD_DIR ]] || exit 0
dir=$(cd "$BUILD_DIR" && pwd -P) || die "cannot resolve BUILD_DIR=$BUILD_DIR"
home=$(cd "${HOME:-/}" 2>/dev/null && pwd -P) || home=/
refuse() {
	die "refusing to remove BUILD_DIR=$BUILD_DIR ($dir): $1"
}
[[ $dir != / ]] || refuse "the root"
# Resolved, so no trailing or doubled slash: one level is /NAME.
[[ $dir == /*/* ]] || refuse "a top-level directory"
[[ $UMHMM_ROOT/ != "$dir"/* ]] || refuse "it holds the project"
[[ $home/ != "$dir"/* ]] || refuse "it holds the home directory"
case $dir in
/usr | /usr/* | /etc | /etc/*) refuse "a system directory" ;;
esac
# Every lock a run of this build dir may hold: a make test still running
# finishes before its objects go.
shopt -s nullglob
for f in "$BUILD_DIR"/.lock-*; do
	lock "${f##*/.lock-}"
done
shopt -u nullglob
rm -rf "$dir"
