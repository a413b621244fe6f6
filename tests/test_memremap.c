// SPDX-License-Identifier: GPL-2.0
/*
 * memremap: memremap_pages() and devm_memremap_pages() beyond the one way
 * the driver's own memory uses them: two ranges in one pgmap, the
 * device-managed and the plain unmap, the lookups (get_dev_pagemap() with
 * and without a reference in hand, pgmap_pfn_valid()), and the failures
 * that must unwind cleanly: a range past the hotpluggable physical address
 * space (alone, or after a range that had already been added) and the
 * types that need a direct mapping, which UML cannot give hot-added memory.
 *
 * Why: the driver's chunks only ever take the one-range, devm,
 * MEMORY_DEVICE_PRIVATE path, so the rest of mm/memremap.c (multi-range
 * bookkeeping, the error unwinding, the lookups other drivers rely on) ran
 * nowhere. A failed remap that does not unwind leaves pfns pointing at a
 * freed pgmap: the GONE check looks every range up again afterwards. The
 * throwaway pgmaps come from UMHMM_IOC_PGMAP and never hand a page out.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "umhmm_test.h"

#define PROBE_PAGES	512
#define ALL_CHECKS	(UMHMM_PGMAP_PFN_VALID | UMHMM_PGMAP_PFN_OUTSIDE | \
			 UMHMM_PGMAP_LOOKUP | UMHMM_PGMAP_CACHED |	   \
			 UMHMM_PGMAP_LOOKUP_OUTSIDE | UMHMM_PGMAP_GONE)
/* SUBSECTION_SIZE: the same on every architecture. */
#define SUBSECTION_BYTES	(2UL << 20)

static const char *const type_names[] = { "private", "coherent", "generic" };

/* UMHMM_IOC_PGMAP on device 0: 0 or -errno of the ioctl; *p is updated. */
static int pgmap_probe(struct umhmm_pgmap *p)
{
	int ret;

	do {
		ret = ioctl(umhmm_fd[0], UMHMM_IOC_PGMAP, p);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

static struct umhmm_pgmap probe_args(uint32_t type, uint32_t nr_range,
				     uint32_t flags)
{
	struct umhmm_pgmap p = {
		.size = sizeof(p),
		.type = type,
		.nr_range = nr_range,
		.flags = flags,
		.npages = PROBE_PAGES,
		/* Poisoned: the driver must write every output. */
		.error = 1,
		.checks = 0xdead,
	};

	return p;
}

/* The device's own memory, which no probe may touch. */
static void assert_memory_unchanged(const struct umhmm_stats *before)
{
	struct umhmm_stats now;

	umhmm_stats(umhmm_fd[0], &now);
	ck_assert_uint_eq(now.chunks, before->chunks);
	ck_assert_uint_eq(now.pages_total, before->pages_total);
	ck_assert_uint_eq(now.pages_free, before->pages_free);
	ck_assert_uint_eq(now.pages_allocated, before->pages_allocated);
	ck_assert_uint_eq(now.pages_freed, before->pages_freed);
}

/* _i: bit 0 two ranges, bit 1 devm. */
START_TEST(test_private_remap_and_lookups)
{
	uint32_t nr_range = _i & 1 ? 2 : 1;
	uint32_t flags = _i & 2 ? UMHMM_PGMAP_DEVM : 0;
	struct umhmm_pgmap p = probe_args(UMHMM_PGMAP_PRIVATE, nr_range, flags);
	struct umhmm_stats before;

	umhmm_stats(umhmm_fd[0], &before);
	ck_assert_int_eq(pgmap_probe(&p), 0);
	ck_assert_msg(p.error == 0, "%u range(s)%s: memremap_pages: %d",
		      nr_range, flags ? " devm" : "", p.error);
	ck_assert_msg(p.checks == ALL_CHECKS,
		      "%u range(s)%s: checks 0x%x, want 0x%x", nr_range,
		      flags ? " devm" : "", p.checks, (unsigned int)ALL_CHECKS);
	ck_assert_uint_eq(p.compat_align, SUBSECTION_BYTES);
	assert_memory_unchanged(&before);
}
END_TEST

/* Larger pgmaps, remapped again and again: nothing is left behind. */
START_TEST(test_private_remap_cycles)
{
	int i;

	for (i = 0; i < 32; i++) {
		struct umhmm_pgmap p = probe_args(UMHMM_PGMAP_PRIVATE, 2,
						  i & 1 ? UMHMM_PGMAP_DEVM : 0);

		p.npages = PROBE_PAGES * (1 + i % 4);
		ck_assert_int_eq(pgmap_probe(&p), 0);
		ck_assert_msg(p.error == 0 && p.checks == ALL_CHECKS,
			      "cycle %d: error %d checks 0x%x", i, p.error,
			      p.checks);
	}
}
END_TEST

/* _i: bit 0 two ranges (the first one remaps fine), bit 1 devm. */
START_TEST(test_unreachable_range_unwinds)
{
	uint32_t nr_range = _i & 1 ? 2 : 1;
	uint32_t flags = UMHMM_PGMAP_UNREACHABLE |
			 (_i & 2 ? UMHMM_PGMAP_DEVM : 0);
	struct umhmm_pgmap p = probe_args(UMHMM_PGMAP_PRIVATE, nr_range, flags);
	struct umhmm_pgmap again;
	struct umhmm_stats before;

	umhmm_stats(umhmm_fd[0], &before);
	ck_assert_int_eq(pgmap_probe(&p), 0);
	ck_assert_msg(p.error == -EINVAL, "%u range(s): error %d, want %d",
		      nr_range, p.error, -EINVAL);
	/* No lookup ran, and no range is left pointing at the pgmap. */
	ck_assert_uint_eq(p.checks, UMHMM_PGMAP_GONE);
	assert_memory_unchanged(&before);

	/* The unwound range can be remapped. */
	again = probe_args(UMHMM_PGMAP_PRIVATE, nr_range, 0);
	ck_assert_int_eq(pgmap_probe(&again), 0);
	ck_assert_int_eq(again.error, 0);
	ck_assert_uint_eq(again.checks, ALL_CHECKS);
}
END_TEST

/* UML says so in /proc/cpuinfo: "vendor_id : User Mode Linux". */
static int running_on_uml(void)
{
	char line[256];
	int uml = 0;
	FILE *f = fopen("/proc/cpuinfo", "re");

	if (!f)
		return 0;
	while (!uml && fgets(line, sizeof(line), f))
		uml = !strncmp(line, "vendor_id", 9) &&
		      strstr(line, "User Mode Linux");
	fclose(f);
	return uml;
}

/*
 * Coherent and generic memory is CPU-addressable and needs
 * arch_add_memory(), which refuses on UML (-EOPNOTSUPP): the remap fails
 * and unwinds. _i: type (1 or 2) x two ranges x devm.
 */
START_TEST(test_direct_map_types_refused)
{
	uint32_t type = 1 + (_i >> 2);
	uint32_t nr_range = _i & 1 ? 2 : 1;
	uint32_t flags = _i & 2 ? UMHMM_PGMAP_DEVM : 0;
	struct umhmm_pgmap p = probe_args(type, nr_range, flags);
	struct umhmm_stats before;

	if (!running_on_uml())
		umhmm_skip("this kernel is not UML: its arch_add_memory() maps %s memory instead of refusing it",
			   type_names[type]);
	umhmm_stats(umhmm_fd[0], &before);
	ck_assert_int_eq(pgmap_probe(&p), 0);
	ck_assert_msg(p.error == -EOPNOTSUPP, "%s, %u range(s)%s: error %d",
		      type_names[type], nr_range, flags ? " devm" : "",
		      p.error);
	ck_assert_uint_eq(p.checks, UMHMM_PGMAP_GONE);
	ck_assert_uint_eq(p.compat_align, SUBSECTION_BYTES);
	assert_memory_unchanged(&before);
}
END_TEST

/*
 * Regression: uml/patches/6.12/0008 ("kasan: Leave the shadow of hot-added
 * memory alone on UML"). A refused direct-map pgmap used to leave init_mm
 * a range to sync past swapper_pg_dir (the KASAN zero-shadow walk wrapped
 * around UML's page tables); the next memmap free read beyond the table.
 * The debug flavor's KASAN reports that read as a splat, which fails the
 * run; every flavor checks that the private remap after it still works.
 */
START_TEST(test_refusal_then_memmap_free)
{
	struct umhmm_pgmap refused = probe_args(UMHMM_PGMAP_COHERENT, 1, 0);
	struct umhmm_pgmap p = probe_args(UMHMM_PGMAP_PRIVATE, 1, 0);

	if (!running_on_uml())
		umhmm_skip("this kernel is not UML: its arch_add_memory() maps coherent memory");
	ck_assert_int_eq(pgmap_probe(&refused), 0);
	ck_assert_int_eq(refused.error, -EOPNOTSUPP);
	/* Maps a memmap and frees it again: vmemmap_free(), um_tlb_sync(). */
	ck_assert_int_eq(pgmap_probe(&p), 0);
	ck_assert_int_eq(p.error, 0);
	ck_assert_uint_eq(p.checks, ALL_CHECKS);
}
END_TEST

enum bad_arg {
	BAD_SIZE_SMALL,
	BAD_SIZE_BIG,
	BAD_TYPE,
	BAD_TYPE_HIGH,
	BAD_NR_RANGE_0,
	BAD_NR_RANGE_3,
	BAD_FLAGS,
	BAD_NPAGES_0,
	BAD_NPAGES_SMALL,
	BAD_NPAGES_UNALIGNED,
	BAD_NPAGES_BIG,
	NR_BAD_ARGS
};

START_TEST(test_bad_args)
{
	struct umhmm_pgmap p = probe_args(UMHMM_PGMAP_PRIVATE, 1, 0);
	struct umhmm_stats before;

	switch ((enum bad_arg)_i) {
	case BAD_SIZE_SMALL:
		p.size = sizeof(p) - 8;
		break;
	case BAD_SIZE_BIG:
		p.size = sizeof(p) + 8;
		break;
	case BAD_TYPE:
		p.type = UMHMM_PGMAP_NR_TYPES;
		break;
	case BAD_TYPE_HIGH:
		p.type = 0x80000000u;
		break;
	case BAD_NR_RANGE_0:
		p.nr_range = 0;
		break;
	case BAD_NR_RANGE_3:
		p.nr_range = 3;
		break;
	case BAD_FLAGS:
		p.flags = UMHMM_PGMAP_ALL + 1;
		break;
	case BAD_NPAGES_0:
		p.npages = 0;
		break;
	case BAD_NPAGES_SMALL:
		p.npages = 511;
		break;
	case BAD_NPAGES_UNALIGNED:
		p.npages = 513;
		break;
	case BAD_NPAGES_BIG:
		p.npages = 65536 + 512;
		break;
	case NR_BAD_ARGS:
		ck_abort();
	}
	umhmm_stats(umhmm_fd[0], &before);
	ck_assert_int_eq(pgmap_probe(&p), -EINVAL);
	assert_memory_unchanged(&before);
}
END_TEST

/* A probe beside device pages in use leaves them and their data alone. */
START_TEST(test_remap_beside_device_pages)
{
	const size_t npages = 64;
	unsigned char *buf = test_map_pattern(npages, 7);
	unsigned char state[64];
	struct umhmm_pgmap p = probe_args(UMHMM_PGMAP_PRIVATE, 2, 0);

	ck_assert_uint_eq(umhmm_ok(umhmm_fd[0], UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   npages, NULL, 0), npages);
	ck_assert_int_eq(pgmap_probe(&p), 0);
	ck_assert_int_eq(p.error, 0);
	ck_assert_uint_eq(p.checks, ALL_CHECKS);
	snapshot(umhmm_fd[0], buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_DEVICE_LOCAL, "after probe");
	ck_assert_pattern(buf, npages * page_size, 7);
}
END_TEST

static Suite *memremap_suite(void)
{
	Suite *s = umhmm_suite_create("memremap");
	TCase *remap = umhmm_tcase_create("remap", umhmm_setup, umhmm_teardown);
	TCase *fail = umhmm_tcase_create("fail", umhmm_setup, umhmm_teardown);

	tcase_add_loop_test(remap, test_private_remap_and_lookups, 0, 4);
	tcase_add_test(remap, test_private_remap_cycles);
	tcase_add_test(remap, test_remap_beside_device_pages);
	suite_add_tcase(s, remap);

	tcase_add_loop_test(fail, test_unreachable_range_unwinds, 0, 4);
	tcase_add_loop_test(fail, test_direct_map_types_refused, 0, 8);
	tcase_add_test(fail, test_refusal_then_memmap_free);
	tcase_add_loop_test(fail, test_bad_args, 0, NR_BAD_ARGS);
	suite_add_tcase(s, fail);
	return s;
}

int main(void)
{
	return run_suite(memremap_suite());
}
