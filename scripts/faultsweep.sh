#!/usr/bin/env bash
# make faultsweep: src/tools/umhmm-faultsweep inside UML on the debug kernel
# (FLAVOR=debug unless FLAVOR says otherwise): every allocation of each
# migrate and memremap operation fails once, in turn, through
# /proc/thread-self/fail-nth (failslab, fail_page_alloc). Fails on a kernel
# splat, a leaked device page, an undocumented error or changed data; then
# prints which allocation sites were hit: for each injected failure, the
# innermost frame of its stack in the HMM code, the driver or the mm code
# they call (sites.tsv in the results).
#
# Environment: FAULTSWEEP_MAX_STEPS (default 2000) bounds the steps of one
# operation; UMHMM_TIMEOUT (default 1200) the whole UML run.
set -euo pipefail
FLAVOR=${FLAVOR:-debug}
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

max_steps=${FAULTSWEEP_MAX_STEPS:-2000}
[[ $max_steps =~ ^[1-9][0-9]*$ ]] || die "FAULTSWEEP_MAX_STEPS=$max_steps is not a positive number"
check_settings KERNEL_BUILD UMHMM_TIMEOUT "${RUN_SETTINGS[@]}"

lock "$FLAVOR$KTAG"
new_run
build_kernel
for o in CONFIG_FAULT_INJECTION CONFIG_FAILSLAB CONFIG_FAIL_PAGE_ALLOC CONFIG_FAULT_INJECTION_DEBUG_FS; do
	grep -qx "$o=y" "$KOBJ/.config" ||
		die "the FLAVOR=$FLAVOR kernel has no $o: the sweep needs FLAVOR=debug"
done

build_tool umhmm-faultsweep
bin=$TOOL_BIN

run_ok=1
UMHMM_JOB_PHASE=faultsweep bash "$UMHMM_ROOT/scripts/run.sh" -t "${UMHMM_TIMEOUT:-1200}" \
	"$RESULTS" -- "$bin" "$max_steps" || run_ok=
# run.sh can fail before UML starts (it said why): nothing to read below.
[[ -e $RESULTS/console.log ]] || die "FAILED: UML did not run (results: $RESULTS)"

# function -> file for the code an allocation site is reported in: the
# text symbols of these objects (static functions included).
objs=(mm/migrate_device.o mm/memremap.o mm/hmm.o drivers/umhmm/umhmm.o
	mm/memory_hotplug.o mm/sparse.o mm/sparse-vmemmap.o mm/memory.o
	mm/migrate.o mm/mmu_notifier.o kernel/resource.o)
funcs=$RESULTS/site-functions.tsv
: >"$funcs"
for o in "${objs[@]}"; do
	[[ -f $KOBJ/$o ]] || continue
	nm --defined-only "$KOBJ/$o" |
		awk -v f="${o%.o}.c" '$2 ~ /^[tTW]$/ { print $3 "\t" f }' >>"$funcs"
done

# Each step is framed by "umhmm: sweep OP step N" and "... end
# injected=I ..."; an injected failure between them printed
# "FAULT_INJECTION: forcing a failure." and its stack (verbose=2). Frames
# the unwinder marks "?" (UML scans the stack for text addresses) are used
# only when no reliable one matches.
sites=$RESULTS/sites.tsv
alloc='^(_+)?(dump_stack|show_stack|fail_dump|should_fail|kmalloc|kmem_cache|kzalloc|kvmalloc|kvzalloc|kcalloc|krealloc|kmemdup|kstrdup|kvasprintf|kasprintf|slab|alloc_slab|new_slab|allocate_slab|alloc_pages|prepare_alloc_pages|get_page_from_freelist|folio_alloc|alloc_page|get_free_pages|get_zeroed_page|vmalloc|vzalloc|xa_|xas_|kobject_set_name|idr_|ida_|radix_tree|devres_alloc|devm_kmalloc|devm_kzalloc)'
awk -v funcs="$funcs" -v alloc="$alloc" '
	BEGIN { while ((getline l < funcs) > 0) { split(l, p, "\t"); file[p[1]] = p[2] } }
	function site(   i) {
		for (i = 1; i <= nr; i++) if (file[rel_fn[i]] != "") return rel[i]
		for (i = 1; i <= na; i++) if (file[any_fn[i]] != "") return any[i]
		return ""
	}
	# Else the first caller of the allocator outside the listed files.
	function caller(   i) {
		for (i = 1; i <= nr; i++) if (rel_fn[i] !~ alloc) return rel[i]
		for (i = 1; i <= na; i++) if (any_fn[i] !~ alloc) return any[i]
		return "?"
	}
	/umhmm: sweep [a-z_]+ step [0-9]+$/ {
		op = $0; sub(/.*umhmm: sweep /, "", op); sub(/ step.*/, "", op)
		stack = 0; nr = 0; na = 0; attr = ""; next
	}
	/FAULT_INJECTION: forcing a failure/ { stack = 1; next }
	stack && /name (failslab|fail_page_alloc),/ { attr = $0; sub(/.*name /, "", attr); sub(/,.*/, "", attr); next }
	# A function start (+0x0) on the stack is a stale pointer, never a
	# return address.
	stack && /\+0x0\/0x[0-9a-f]+/ { next }
	stack && /\+0x[0-9a-f]+\/0x[0-9a-f]+/ {
		f = $0; sub(/^.*\] /, "", f); unreliable = (f ~ /^\? /); sub(/^\? /, "", f)
		sub(/ .*/, "", f); fn = f; sub(/\+.*/, "", fn); sub(/\/0x[0-9a-f]+$/, "", f)
		if (!unreliable) { rel[++nr] = f; rel_fn[nr] = fn }
		any[++na] = f; any_fn[na] = fn
		next
	}
	/umhmm: sweep [a-z_]+ step [0-9]+ end injected=1/ {
		s = site()
		if (!stack) { s = "(__GFP_NOWARN, no stack)"; where = "-"; attr = "-" }
		else if (s == "") { s = caller(); where = "(other)" }
		else { fn = s; sub(/\+.*/, "", fn); where = file[fn] }
		printf "%s\t%s\t%s\t%s\n", op, s, where, attr
		stack = 0
	}' "$RESULTS/console.log" >"$sites"

printf '\nallocation sites failed by the sweep (innermost frame in the HMM, driver or mm code):\n'
printf '%5s  %-46s %-26s %-16s %s\n' count site file injector operations
awk -F'\t' '
	# Failures without a stack are counted per operation.
	{ if ($3 == "-") $2 = $2 " in " $1
	  k = $2 "\t" $3 "\t" $4; n[k]++; if (index(ops[k], " " $1 " ") == 0) ops[k] = ops[k] " " $1 " " }
	END { for (k in n) { split(k, p, "\t"); o = ops[k]; gsub(/  +/, " ", o); gsub(/^ | $/, "", o)
		printf "%5d  %-46s %-26s %-16s %s\n", n[k], p[1], p[2], p[3], o } }' "$sites" |
	sort -k1,1nr -k2
printf '%5d  allocations failed in all\n' "$(wc -l <"$sites")"

print_phases >&2
info "results: $RESULTS"
[[ -n $run_ok ]] || die "FAILED (results: $RESULTS)"
