#!/usr/bin/env bash
# make check: the project's own tests. Lint, the harness self-tests, the
# two user-facing jobs end to end, then the driver under every allocation
# failure of its operations (debug kernel: KASAN, lockdep) and under
# random malformed ioctls.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

s=$UMHMM_ROOT/scripts
# The harness runs before test.sh would install what is missing (lint
# installs its own): on a fresh host linux-source is not there yet.
bash "$s/deps.sh" || exit 1
failed=()
# Each step runs even when an earlier one failed, so one make check shows
# every problem; the exit status still reports any failure.
step() {
	local name=$1
	shift
	printf '== %s\n' "$name"
	"$@" || failed+=("$name")
}

step lint bash "$s/lint.sh"
for t in "$s"/selftest/*.sh; do
	step "selftest ${t##*/}" bash "$t"
done
step test bash "$s/test.sh"
step selftests bash "$s/selftests.sh"
step faultsweep bash "$s/faultsweep.sh"
step fuzz bash "$s/fuzz.sh"

if ((${#failed[@]})); then
	die "failed: ${failed[*]}"
fi
info "all checks passed"
