#!/usr/bin/env bash
# Which test cases reached a line, from the latest run's coverage (or the
# results directory given).
#
#   coverage-who.sh FILE:LINE [RESULTS_DIR]     e.g. mm/migrate_device.c:120
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# >= 1)) || die "usage: coverage-who.sh FILE:LINE [RESULTS_DIR]"
file=${1%:*}
line=${1##*:}
[[ $line =~ ^[0-9]+$ && $file != "$1" ]] || die "'$1' is not FILE:LINE (e.g. mm/hmm.c:120)"
results=${2:-$BUILD_DIR/results/latest}
tsv=$results/coverage/lines.tsv
[[ -f $tsv ]] || die "$tsv is missing: run make coverage first"

awk -F'\t' -v f="/$file" -v l="$line" '
	substr($1, length($1) - length(f) + 1) == f && $2 == l { print $3; n++ }
	END { if (!n) { print "no test case reached " substr(f, 2) ":" l > "/dev/stderr"; exit 1 } }
' "$tsv"
