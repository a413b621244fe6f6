#!/usr/bin/env bash
# make fuzz: src/tools/umhmm-fuzz inside UML: FUZZ_ITERATIONS (default
# 100000) random malformed ioctls against /dev/umhmm0 with FUZZ_SEED
# (default 1, so a failure can be replayed). Fails on an undocumented
# error code, a leaked device page, or any kernel splat on the console.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

iterations=${FUZZ_ITERATIONS:-100000}
seed=${FUZZ_SEED:-1}
[[ $iterations =~ ^[0-9]+$ && $seed =~ ^[0-9]+$ ]] ||
	die "FUZZ_ITERATIONS and FUZZ_SEED must be numbers"
check_settings KERNEL_BUILD UMHMM_TIMEOUT "${RUN_SETTINGS[@]}"

lock "$FLAVOR$KTAG"
new_run
build_kernel

build_tool umhmm-fuzz
bin=$TOOL_BIN

info "$iterations ioctls, seed $seed"
UMHMM_JOB_PHASE=fuzz bash "$UMHMM_ROOT/scripts/run.sh" -t "${UMHMM_TIMEOUT:-600}" \
	"$RESULTS" -- "$bin" "$iterations" "$seed" || die "FAILED (results: $RESULTS)"
print_phases >&2
info "results: $RESULTS"
