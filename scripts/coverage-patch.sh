#!/usr/bin/env bash
# Patch coverage: the lines of the measured files changed since BASE in a
# git kernel tree, and whether the run executed them.
#
#   coverage-patch.sh SRC BASE TRACEFILE
#
# Prints one line per changed line, "covered", "uncovered" or "no code"
# (gcov has no line record: a comment, a declaration, a merged return),
# then a table per file.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# == 3)) || die "usage: coverage-patch.sh SRC BASE TRACEFILE"
SRC=$1
BASE=$2
INFO=$3
git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1 ||
	die "BASE=$BASE needs KERNEL_SRC to be a git tree; $SRC is not"
git -C "$SRC" rev-parse --verify --quiet "$BASE^{commit}" >/dev/null ||
	die "BASE=$BASE is not a commit of $SRC"

mapfile -t FILES < <(measured_files)

# "file line" for every line added or changed since BASE (working tree).
git -C "$SRC" diff --no-color -U0 "$BASE" -- "${FILES[@]}" |
	awk '
	/^\+\+\+ / { f = substr($2, 3) }
	/^@@ / {
		split($3, a, ","); start = substr(a[1], 2); len = (a[2] == "") ? 1 : a[2]
		for (i = 0; i < len; i++) print f, start + i
	}' >"$INFO.changed"

awk -v changed="$INFO.changed" '
BEGIN { while ((getline l < changed) > 0) { split(l, p, " "); want[p[1] ":" p[2]] = 1; order[++n] = p[1] ":" p[2] } }
/^SF:/ { sf = substr($0, 4) }
/^DA:/ {
	split(substr($0, 4), d, ",")
	for (k in want) {
		split(k, q, ":")
		if (d[1] == q[2] && substr(sf, length(sf) - length(q[1])) == "/" q[1])
			count[k] = d[2]
	}
}
END {
	for (i = 1; i <= n; i++) {
		k = order[i]; split(k, q, ":")
		if (!(k in count)) { print "no code   " k; nocode[q[1]]++; files[q[1]] = 1; continue }
		if (count[k] > 0) { print "covered   " k; cov[q[1]]++ }
		else { print "uncovered " k; unc[q[1]]++ }
		files[q[1]] = 1
	}
	printf "\n%-24s %8s %8s %9s %8s\n", "file", "changed", "covered", "uncovered", "no code"
	for (f in files)
		printf "%-24s %8d %8d %9d %8d\n", f, cov[f] + unc[f] + nocode[f], cov[f], unc[f], nocode[f]
	if (!n) print "no line of the measured files changed since BASE"
}' "$INFO"
rm -f "$INFO.changed"
