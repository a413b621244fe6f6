// SPDX-License-Identifier: GPL-2.0
/*
 * Regression: dfd8562c52a5 ("mm/rmap.c: avoid double faults migrating
 * device private pages", A. Popple, 2021, v5.16; posted as
 * https://lkml.kernel.org/r/20211018045247.3128058-1-apopple@nvidia.com).
 * The id is the one a public tree carrying mainline's history gives it,
 * with the Signed-off-by of Linus Torvalds that mainline adds to patches
 * taken from Andrew Morton; -mm and linux-next carried it under other ids.
 *
 * When a device-private page migrated back to system memory other than
 * through the faulting path (eviction by the driver, remove_migration_pte()
 * on the rmap), the new PTE was installed read-only even for a writable
 * device-private entry, so the next CPU write took a second (write-protect)
 * fault.  The fix carries the write permission of the device-private
 * entry over to the restored PTE.
 *
 * The fixed code is try_to_migrate_one(), which only the eviction cases
 * reach (migrate_device_range() unmaps through the rmap).  MIGRATE_TO_SYS
 * and a CPU read go through migrate_vma_collect_pmd(), which copied the
 * permission already: they are there so that all three ways back are held
 * to the same rule.
 *
 * Scenario: migrate to the device, bring the pages back without any CPU
 * access (UMHMM_IOC_EVICT, UMHMM_IOC_MIGRATE_TO_SYS) or with a CPU read;
 * the snapshot (hmm_range_fault() without faulting, so pte_write() of the
 * restored PTE) must show UMHMM_PAGE_WRITE on every page, and a write to
 * every page afterwards lands.  A read-only mapping is the control: its
 * pages come back without WRITE.  The faults of those writes are not
 * counted: UML emulates the dirty bit, so a writable but clean PTE is
 * mapped read-only in the host and its first write faults once, with the
 * fix or without (x86 would take none with it, one without).
 *
 * Reproduction without the fix: not shown here (needs a pre-5.16 kernel).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "umhmm_test.h"

#define NPAGES		64

static int fd0;

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
}

static void assert_writable(unsigned char *buf)
{
	unsigned char state[NPAGES];
	size_t i;

	snapshot(fd0, buf, NPAGES, state);
	for (i = 0; i < NPAGES; i++)
		ck_assert_msg(state[i] == (UMHMM_PAGE_SYSTEM | UMHMM_PAGE_WRITE),
			      "page %zu: state %#x, not system+write", i,
			      state[i]);
}

/* Writes the first byte of each page. */
static void write_first_bytes(volatile unsigned char *buf, unsigned int seed)
{
	size_t i;

	for (i = 0; i < NPAGES; i++)
		buf[i * page_size] = pattern_byte(seed, i * page_size);
}

enum back { BY_EVICT, BY_MIGRATE_TO_SYS, BY_CPU_READ };

static void round_trip(enum back how, int untouched, unsigned int seed)
{
	size_t size = NPAGES * page_size;
	unsigned char *buf = test_map_anon(NPAGES);
	struct umhmm_stats before, after;
	__u64 n = 0;

	if (!untouched)
		fill_pattern(buf, size, seed);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES);
	umhmm_stats(fd0, &before);
	switch (how) {
	case BY_EVICT:
		ck_assert_int_eq(ioctl(fd0, UMHMM_IOC_EVICT, &n), 0);
		ck_assert_uint_eq(n, NPAGES);
		break;
	case BY_MIGRATE_TO_SYS:
		ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_SYS, buf,
					   NPAGES, NULL, 0), NPAGES);
		break;
	case BY_CPU_READ:
		if (untouched)
			ck_assert_int_eq(first_nonzero(buf, size), -1);
		else
			ck_assert_pattern(buf, size, seed);
		break;
	}
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.migrate_to_ram - before.migrate_to_ram,
			  how == BY_CPU_READ ? NPAGES : 0);
	assert_writable(buf);
	write_first_bytes(buf, seed + 1);
	/* The first byte of each page is the new pattern, the rest the old. */
	{
		size_t i;

		for (i = 0; i < NPAGES; i++) {
			unsigned char *p = buf + i * page_size;

			ck_assert_uint_eq(p[0], pattern_byte(seed + 1,
							     i * page_size));
			if (untouched)
				ck_assert_int_eq(first_nonzero(p + 1,
							       page_size - 1),
						 -1);
			else
				ck_assert_int_eq(pattern_mismatch_at(p + 1,
						page_size - 1, seed,
						i * page_size + 1), -1);
		}
	}
}

START_TEST(test_evict_keeps_write)
{
	round_trip(BY_EVICT, 0, 800);
}
END_TEST

START_TEST(test_evict_untouched_keeps_write)
{
	round_trip(BY_EVICT, 1, 801);
}
END_TEST

START_TEST(test_migrate_to_sys_keeps_write)
{
	round_trip(BY_MIGRATE_TO_SYS, 0, 802);
}
END_TEST

START_TEST(test_migrate_to_sys_untouched_keeps_write)
{
	round_trip(BY_MIGRATE_TO_SYS, 1, 803);
}
END_TEST

START_TEST(test_cpu_read_keeps_write)
{
	round_trip(BY_CPU_READ, 0, 804);
}
END_TEST

START_TEST(test_read_only_stays_read_only)
{
	size_t size = NPAGES * page_size;
	unsigned char *buf = test_map_pattern(NPAGES, 805);
	unsigned char state[NPAGES];
	__u64 n = 0;
	size_t i;

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES);
	ck_assert_int_eq(mprotect(buf, size, PROT_READ), 0);
	ck_assert_int_eq(ioctl(fd0, UMHMM_IOC_EVICT, &n), 0);
	ck_assert_uint_eq(n, NPAGES);
	snapshot(fd0, buf, NPAGES, state);
	for (i = 0; i < NPAGES; i++)
		ck_assert_msg(state[i] == (UMHMM_PAGE_SYSTEM | UMHMM_PAGE_READ),
			      "page %zu: state %#x, not system+read", i,
			      state[i]);
	ck_assert_pattern(buf, size, 805);
}
END_TEST

static Suite *double_fault_writable_suite(void)
{
	Suite *s = umhmm_suite_create("double_fault_writable");
	TCase *core = umhmm_tcase_create("core", setup, umhmm_teardown);

	tcase_add_test(core, test_evict_keeps_write);
	tcase_add_test(core, test_evict_untouched_keeps_write);
	tcase_add_test(core, test_migrate_to_sys_keeps_write);
	tcase_add_test(core, test_migrate_to_sys_untouched_keeps_write);
	tcase_add_test(core, test_cpu_read_keeps_write);
	tcase_add_test(core, test_read_only_stays_read_only);
	suite_add_tcase(s, core);
	return s;
}

int main(void)
{
	return run_suite(double_fault_writable_suite());
}
