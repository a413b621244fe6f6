#!/usr/bin/env bash
# make clean: remove everything generated ($BUILD_DIR). A KERNEL_SRC tree
# stays patched: scripts/unprepare.sh reverts it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# BUILD_DIR comes from the environment: refuse paths that cannot be ours.
case $BUILD_DIR in
/ | "$UMHMM_ROOT" | "${HOME:-/}" | /usr | /usr/* | /etc | /etc/*)
	die "refusing to remove BUILD_DIR=$BUILD_DIR"
	;;
esac
rm -rf "$BUILD_DIR"
