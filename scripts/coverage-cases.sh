#!/usr/bin/env bash
# Per-test-case attribution from the tracefiles coverage.sh wrote to
# OUT/cases/<suite.tcase>.info: lines each case reaches, lines only it
# reaches among umhmm's cases, and the cases that add nothing unique.
# Also writes OUT/lines.tsv (file, line, case) for coverage-who.sh.
#
#   coverage-cases.sh OUT
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# == 1)) || die "usage: coverage-cases.sh OUT"
OUT=$1
compgen -G "$OUT/cases/*.info" >/dev/null || die "no per-case tracefiles in $OUT/cases"

awk '
FNR == 1 { c = FILENAME; sub(/.*\//, "", c); sub(/\.info$/, "", c) }
/^SF:/ { sf = substr($0, 4) }
/^DA:/ {
	split(substr($0, 4), d, ",")
	if (d[2] > 0)
		print sf "\t" d[1] "\t" c
}' "$OUT"/cases/*.info | sort -u >"$OUT/lines.tsv"

awk -F'\t' '
{ key = $1 ":" $2; hits[$3]++; cases[$3] = 1
  if ($3 != "hmm-tests" && $3 != "boot") { owners[key] = owners[key] " " $3; n[key]++ } }
END {
	for (k in n)
		if (n[k] == 1) { c = substr(owners[k], 2); uniq[c]++ }
	printf "%-40s %8s %8s\n", "test case", "lines", "unique"
	for (c in cases)
		printf "%-40s %8d %8d\n", c, hits[c], uniq[c] + 0 | "sort"
	close("sort")
	printf "\ncases that reach no line another umhmm case does not:\n"
	none = 0
	for (c in cases)
		if (c != "hmm-tests" && c != "boot" && !uniq[c]) { printf "  %s\n", c; none++ }
	if (!none)
		printf "  (none)\n"
}' "$OUT/lines.tsv"
