#!/usr/bin/env bash
# make shell: boot the UML kernel with an interactive bash on the terminal,
# for poking at the HMM devices by hand. Results go to a normal run dir.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -t 0 ]] || die "make shell needs a terminal on standard input"
check_settings KERNEL_BUILD "${RUN_SETTINGS[@]}"
build_kernel
new_results_dir
info "results: $RESULTS (exit the shell to power off)"
# A day: the timeout is there for unattended runs, not for a person.
exec bash "$UMHMM_ROOT/scripts/run.sh" -i -t 86400 "$RESULTS" -- bash -i
