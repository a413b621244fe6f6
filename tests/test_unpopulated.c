// SPDX-License-Identifier: GPL-2.0
/*
 * unpopulated: mirroring and migrating address ranges the CPU never
 * touched, whose page tables do not exist yet (a whole 2 MiB block with no
 * page table under it), in private, read-only and shared mappings, and
 * zero pages that a migration does or does not select, and written pages:
 * to system memory only anonymous ones move, never page cache.
 *
 * Why: a fresh range is the common case for a device that allocates
 * first and computes later, and it takes its own paths: the page walk
 * reports the missing page table as a hole (hmm_vma_walk_hole(),
 * migrate_vma_collect_hole()), hmm_range_fault() must fault it in, and
 * migrate_vma_pages() must build the page table and insert the new page
 * itself (migrate_vma_insert_page()) with the right permissions: read-only
 * in a read-only mapping, never in a shared one (only anonymous memory may
 * be populated). Tests that fill their buffers first never get there.
 * Building that page table can fail for lack of memory (pmd, pte page or
 * anon_vma allocation): the sweep fails every allocation of such a
 * migration in turn (/proc/thread-self/fail-nth) and checks that the
 * page it could not insert stays a hole and its device page is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "umhmm_test.h"

/* A 2 MiB block: one page table's worth of pages. */
#define BLOCK_PAGES	512

static int fd0;

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
}

/*
 * A 2 MiB-aligned block of BLOCK_PAGES pages inside a fresh mapping of
 * three blocks that nothing touches: no page table covers it.
 */
static unsigned char *fresh_block(int prot, int flags)
{
	size_t block = BLOCK_PAGES * page_size;
	unsigned char *map = test_map(3 * BLOCK_PAGES, prot, flags, -1, 0);
	uintptr_t aligned = ((uintptr_t)map + block - 1) & ~(block - 1);

	return (unsigned char *)aligned;
}

static void assert_zeroes(const unsigned char *buf, size_t npages)
{
	long off = first_nonzero(buf, npages * page_size);

	ck_assert_msg(off == -1, "byte %ld is not zero", off);
}

START_TEST(test_migrate_fresh_block_to_device)
{
	unsigned char *buf = fresh_block(PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS);
	unsigned char state[BLOCK_PAGES];
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   BLOCK_PAGES, NULL, 0), BLOCK_PAGES);
	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_DEVICE_LOCAL, "populated");
	assert_perm(state, BLOCK_PAGES, UMHMM_PAGE_WRITE);

	/* The device page reads as zeroes and the CPU writes through. */
	assert_zeroes(buf, BLOCK_PAGES);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.migrate_to_ram - before.migrate_to_ram,
			  BLOCK_PAGES);
	fill_pattern(buf, BLOCK_PAGES * page_size, 3);
	ck_assert_pattern(buf, BLOCK_PAGES * page_size, 3);
}
END_TEST

/* Read-only: the device page is inserted read-only, and stays so. */
START_TEST(test_migrate_fresh_read_only_block)
{
	unsigned char *buf = fresh_block(PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
	unsigned char *data = test_malloc(BLOCK_PAGES * page_size);
	unsigned char state[BLOCK_PAGES];
	struct umhmm_range r;

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   BLOCK_PAGES, NULL, 0), BLOCK_PAGES);
	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_DEVICE_LOCAL, "read-only");
	assert_perm(state, BLOCK_PAGES, UMHMM_PAGE_READ);

	/* The device may not write it either. */
	memset(data, 0x5a, BLOCK_PAGES * page_size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, buf, BLOCK_PAGES,
				     data, 0, &r), -EPERM);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, BLOCK_PAGES,
				   data, 0), BLOCK_PAGES);
	assert_zeroes(data, BLOCK_PAGES);
	assert_zeroes(buf, BLOCK_PAGES);
	free(data);
}
END_TEST

/* Shared memory is not anonymous: nothing is populated or selected. */
START_TEST(test_migrate_fresh_shared_block)
{
	unsigned char *buf = fresh_block(PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_ANONYMOUS);
	unsigned char state[BLOCK_PAGES];
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   BLOCK_PAGES, NULL, 0), 0);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_SYS, buf,
				   BLOCK_PAGES, NULL, UMHMM_F_SELECT_SYSTEM), 0);
	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_NONE, "shared, untouched");
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.pages_allocated, before.pages_allocated);
	assert_zeroes(buf, BLOCK_PAGES);
}
END_TEST

/*
 * MIGRATE_TO_SYS with SELECT_SYSTEM moves written anonymous pages to new
 * system pages and leaves page cache pages (shared memory) where they
 * are: the driver once gave those to migrate_vma_pages(), which moves
 * them without their mapping's migrate_folio() and BUG()s on one under
 * writeback. _i: 0 shared, 1 private.
 */
START_TEST(test_written_pages_to_system)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	unsigned char *buf = test_map(npages, PROT_READ | PROT_WRITE,
				      (_i ? MAP_PRIVATE : MAP_SHARED) |
				      MAP_ANONYMOUS, -1, 0);
	unsigned char state[8];
	struct umhmm_stats before, after;
	uint64_t want = _i ? npages : 0;

	fill_pattern(buf, size, 23);
	umhmm_stats(fd0, &before);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_SYS, buf, npages,
				   NULL, UMHMM_F_SELECT_SYSTEM), want);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.migrated_to_system - before.migrated_to_system,
			  want);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_SYSTEM, "written");
	ck_assert_pattern(buf, size, 23);
}
END_TEST

/* hmm_range_fault() faults a range with no page table in. */
START_TEST(test_read_fresh_block_faults_in)
{
	unsigned char *buf = fresh_block(PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS);
	unsigned char *data = test_malloc(BLOCK_PAGES * page_size);
	unsigned char state[BLOCK_PAGES];

	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_NONE, "before");

	memset(data, 0xa5, BLOCK_PAGES * page_size);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, BLOCK_PAGES,
				   data, 0), BLOCK_PAGES);
	assert_zeroes(data, BLOCK_PAGES);
	/* A read fault maps the zero page, read-only. */
	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_ZERO, "after read");
	assert_perm(state, BLOCK_PAGES, UMHMM_PAGE_READ);
	free(data);
}
END_TEST

/* A write through the mirror populates a fresh block with writable pages. */
START_TEST(test_write_fresh_block_faults_in)
{
	unsigned char *buf = fresh_block(PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS);
	unsigned char *data = test_malloc(BLOCK_PAGES * page_size);
	unsigned char state[BLOCK_PAGES];

	fill_pattern(data, BLOCK_PAGES * page_size, 11);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_WRITE, buf, BLOCK_PAGES,
				   data, 0), BLOCK_PAGES);
	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_SYSTEM, "after write");
	assert_perm(state, BLOCK_PAGES, UMHMM_PAGE_WRITE);
	ck_assert_pattern(buf, BLOCK_PAGES * page_size, 11);
	free(data);
}
END_TEST

/*
 * MIGRATE_TO_SYS with SELECT_SYSTEM populates holes and replaces zero
 * pages with zeroed system pages. _i: 0 holes, 1 zero pages.
 */
START_TEST(test_populate_to_system)
{
	unsigned char *buf = fresh_block(PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS);
	unsigned char state[BLOCK_PAGES];
	volatile unsigned char sink = 0;
	struct umhmm_stats before, after;
	size_t i;

	if (_i == 1) {
		for (i = 0; i < BLOCK_PAGES; i++)
			sink += buf[i * page_size];
		snapshot(fd0, buf, BLOCK_PAGES, state);
		assert_states(state, BLOCK_PAGES, UMHMM_PAGE_ZERO, "read");
		ck_assert_uint_eq(sink, 0);
	}
	umhmm_stats(fd0, &before);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_SYS, buf,
				   BLOCK_PAGES, NULL, UMHMM_F_SELECT_SYSTEM),
			  BLOCK_PAGES);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.migrated_to_system - before.migrated_to_system,
			  BLOCK_PAGES);
	ck_assert_uint_eq(after.pages_allocated, before.pages_allocated);
	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_SYSTEM, "populated");
	assert_perm(state, BLOCK_PAGES, UMHMM_PAGE_WRITE);
	assert_zeroes(buf, BLOCK_PAGES);
}
END_TEST

/*
 * Without SELECT_SYSTEM, neither system pages nor the zero page are
 * selected: nothing moves. _i: 0 system pages, 1 zero pages.
 */
START_TEST(test_unselected_pages_stay)
{
	const size_t npages = 16;
	unsigned char *buf = test_map_anon(npages);
	unsigned char state[16];
	volatile unsigned char sink = 0;
	size_t i;

	if (_i == 0)
		fill_pattern(buf, npages * page_size, 5);
	else
		for (i = 0; i < npages; i++)
			sink += buf[i * page_size];
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, UMHMM_F_SELECT_DEVICE_PRIVATE), 0);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages,
		      _i == 0 ? UMHMM_PAGE_SYSTEM : UMHMM_PAGE_ZERO, "unselected");
	if (_i == 0) {
		ck_assert_pattern(buf, npages * page_size, 5);
	} else {
		assert_zeroes(buf, npages);
		ck_assert_uint_eq(sink, 0);
	}
}
END_TEST

/*
 * Allocation failures under fail-nth: the fault-injection knobs the sweep
 * sets (both injectors consulted for every allocation, sleeping ones too,
 * never at random, quietly). check's process saves their values before the
 * test case and puts them back after it (an unchecked fixture): a test
 * that fails ends its process without its own teardown, and the knobs are
 * the kernel's, not the process's.
 */
#define FI_DIR		"/sys/kernel/debug"
#define SWEEP_PAGES	16
#define SWEEP_MAX_STEPS	400
/* 1 GiB: a pgd entry of 6.12's 3-level UML, a pud entry of 7.2's 4 levels. */
#define PGD_SPAN	(1UL << 30)

static const char *const fi_knobs[][3] = {
	{ "failslab", "probability", "0" },
	{ "failslab", "ignore-gfp-wait", "N" },
	{ "failslab", "verbose", "0" },
	{ "fail_page_alloc", "probability", "0" },
	{ "fail_page_alloc", "ignore-gfp-wait", "N" },
	{ "fail_page_alloc", "ignore-gfp-highmem", "N" },
	{ "fail_page_alloc", "min-order", "0" },
	{ "fail_page_alloc", "verbose", "0" },
};
#define FI_NKNOBS	(sizeof(fi_knobs) / sizeof(fi_knobs[0]))
static char fi_saved[FI_NKNOBS][32];
static size_t fi_nsaved;
/*
 * Why the knobs could not be saved: the test's reason to skip, or (a knob
 * that exists but cannot be read) to fail. The fixture itself does not
 * assert: a failed assertion in check's own process skips the fixtures
 * after it and, in a teardown, ends the runner.
 */
static char fi_missing[256];
static int fi_unreadable;
static int nth_fd = -1;

static void fi_path(size_t i, char *path, size_t size)
{
	snprintf(path, size, FI_DIR "/%s/%s", fi_knobs[i][0], fi_knobs[i][1]);
}

/* Unchecked setup, in check's process: the knobs' values before the tests. */
static void fi_save(void)
{
	char path[128];
	size_t i;

	fi_nsaved = 0;
	fi_unreadable = 0;
	fi_missing[0] = '\0';
	for (i = 0; i < FI_NKNOBS; i++) {
		ssize_t n;
		int fd;

		fi_path(i, path, sizeof(path));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(fi_missing, sizeof(fi_missing),
				 "%s: %s (CONFIG_FAILSLAB, FAIL_PAGE_ALLOC, FAULT_INJECTION_DEBUG_FS)",
				 path, strerror(errno));
			return;
		}
		n = read(fd, fi_saved[i], sizeof(fi_saved[i]) - 1);
		if (n <= 0) {
			snprintf(fi_missing, sizeof(fi_missing), "%s: %s", path,
				 n < 0 ? strerror(errno) : "empty");
			fi_unreadable = 1;
		}
		close(fd);
		if (fi_unreadable)
			return;
		fi_saved[i][n] = '\0';
		fi_saved[i][strcspn(fi_saved[i], "\n")] = '\0';
		fi_nsaved = i + 1;
	}
}

/* Returns the number of knobs it could not restore, each named on stderr. */
static int fi_restore(void)
{
	char path[128];
	int failed = 0;
	size_t i;

	for (i = 0; i < fi_nsaved; i++) {
		int ret;

		fi_path(i, path, sizeof(path));
		ret = write_file(path, fi_saved[i]);
		if (ret) {
			fprintf(stderr, "unpopulated: cannot restore %s=%s: %s\n",
				path, fi_saved[i], strerror(-ret));
			failed++;
		}
	}
	return failed;
}

/* Unchecked teardown, in check's process. */
static void fi_restore_all(void)
{
	fi_restore();
}

/* Arms the knobs; NULL, or why the kernel cannot do it. */
static const char *fi_arm(char *why, size_t size)
{
	char path[128];
	size_t i;

	if (fi_nsaved < FI_NKNOBS) {
		ck_assert_msg(!fi_unreadable, "%s", fi_missing);
		snprintf(why, size, "%s", fi_missing);
		return why;
	}
	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (nth_fd < 0) {
		snprintf(why, size, "/proc/thread-self/fail-nth: %s (CONFIG_FAULT_INJECTION)",
			 strerror(errno));
		return why;
	}
	for (i = 0; i < FI_NKNOBS; i++) {
		fi_path(i, path, sizeof(path));
		ck_assert_int_eq(write_file(path, fi_knobs[i][2]), 0);
	}
	return NULL;
}

static void nth_set(unsigned long n)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%lu", n);

	ck_assert_int_eq(pwrite(nth_fd, buf, len, 0), len);
}

/* Whether the n-th allocation was reached (and failed); disarms. */
static int nth_fired(void)
{
	char buf[32] = "";
	ssize_t n = pread(nth_fd, buf, sizeof(buf) - 1, 0);

	ck_assert_int_gt(n, 0);
	nth_set(0);
	return strtoul(buf, NULL, 10) == 0;
}

/*
 * The common teardown before any assertion: a failed one ends the
 * teardown, and without a fork per test check runs no other (the devices
 * would stay open, the deferred cleanups and the process check undone).
 */
static void fi_teardown(void)
{
	bool disarmed = true;
	int restored;

	if (nth_fd >= 0) {
		disarmed = pwrite(nth_fd, "0", 1, 0) == 1;
		close(nth_fd);
		nth_fd = -1;
	}
	restored = fi_restore();
	umhmm_teardown();
	ck_assert_msg(disarmed, "cannot disarm fail-nth");
	ck_assert_int_eq(restored, 0);
}

/*
 * SWEEP_PAGES pages at the start of a 1 GiB-aligned range of a fresh
 * 2 GiB reservation: no pmd or pte page covers them (on 7.2's 4 levels the
 * pud page may exist already), so inserting the first page allocates a pmd
 * and a pte page, and the vma has no anon_vma yet. Unmapping the reservation frees those page tables again.
 */
static unsigned char *fresh_pgd_range(unsigned char **res)
{
	uintptr_t aligned;
	void *p;

	/* The teardown unmaps it, should the test fail before it does. */
	*res = test_map(2 * PGD_SPAN / page_size, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	aligned = ((uintptr_t)*res + PGD_SPAN - 1) & ~(PGD_SPAN - 1);
	p = mmap((void *)aligned, SWEEP_PAGES * page_size,
		 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0);
	ck_assert_msg(p == (void *)aligned, "map: %s", strerror(errno));
	return p;
}

/*
 * Migrating a never-touched range to the device while the n-th
 * allocation fails, for n = 1, 2, ... until the migration no longer
 * reaches an n-th allocation. migrate_vma_insert_page() must give up a
 * page whose page table, pmd or anon_vma it cannot allocate and leave a
 * hole there, and migrate_vma_finalize() free its device page. After each
 * step: the error is 0 or -ENOMEM, the pages reported migrated are the
 * device's, the others holes, device pages in use match, every page reads
 * zero; once unmapped, nothing is left in use.
 */
START_TEST(test_migrate_fresh_alloc_failures)
{
	unsigned long n, partial = 0;
	unsigned char state[SWEEP_PAGES];
	size_t last = 0;
	char why[256];
	int64_t in_use;
	int fired = 1;

	if (fi_arm(why, sizeof(why)))
		umhmm_skip("%s", why);
	in_use = umhmm_pages_in_use(fd0);
	for (n = 1; fired && n <= SWEEP_MAX_STEPS; n++) {
		unsigned char *res, *buf = fresh_pgd_range(&res);
		struct umhmm_range r;
		size_t i, ndev = 0;
		int ret;

		nth_set(n);
		ret = umhmm_range(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				  SWEEP_PAGES, NULL, 0, &r);
		fired = nth_fired();
		ck_assert_msg(ret == 0 || (fired && ret == -ENOMEM),
			      "step %lu: %s", n, strerror(-ret));
		snapshot(fd0, buf, SWEEP_PAGES, state);
		for (i = 0; i < SWEEP_PAGES; i++) {
			unsigned char type = state[i] & UMHMM_PAGE_TYPE_MASK;

			ck_assert_msg(type == UMHMM_PAGE_DEVICE_LOCAL ||
				      type == UMHMM_PAGE_NONE,
				      "step %lu: page %zu state 0x%02x", n, i,
				      state[i]);
			ndev += type == UMHMM_PAGE_DEVICE_LOCAL;
		}
		if (!ret)
			ck_assert_uint_eq(r.done, ndev);
		ck_assert_int_eq(umhmm_pages_in_use(fd0), in_use + (int64_t)ndev);
		if (!ret && ndev < SWEEP_PAGES)
			partial++;
		last = ndev;
		assert_zeroes(buf, SWEEP_PAGES);
		test_forget(res);
		ck_assert_int_eq(munmap(res, 2 * PGD_SPAN), 0);
		ck_assert_int_eq(umhmm_pages_in_use(fd0), in_use);
	}
	ck_assert_msg(!fired, "still failing after %d steps", SWEEP_MAX_STEPS);
	/* The last step, with nothing failed, migrated every page. */
	ck_assert_uint_eq(last, SWEEP_PAGES);
	/* Page table or anon_vma allocations failed some insertions. */
	ck_assert_uint_gt(partial, 0);
}
END_TEST

static Suite *unpopulated_suite(void)
{
	Suite *s = umhmm_suite_create("unpopulated");
	TCase *migrate = umhmm_tcase_create("migrate", setup, umhmm_teardown);
	TCase *mirror = umhmm_tcase_create("mirror", setup, umhmm_teardown);
	TCase *alloc = umhmm_tcase_create("alloc_failure", setup, fi_teardown);

	tcase_add_test(migrate, test_migrate_fresh_block_to_device);
	tcase_add_test(migrate, test_migrate_fresh_read_only_block);
	tcase_add_test(migrate, test_migrate_fresh_shared_block);
	tcase_add_loop_test(migrate, test_populate_to_system, 0, 2);
	tcase_add_loop_test(migrate, test_unselected_pages_stay, 0, 2);
	tcase_add_loop_test(migrate, test_written_pages_to_system, 0, 2);
	suite_add_tcase(s, migrate);

	tcase_add_test(mirror, test_read_fresh_block_faults_in);
	tcase_add_test(mirror, test_write_fresh_block_faults_in);
	suite_add_tcase(s, mirror);

	tcase_add_unchecked_fixture(alloc, fi_save, fi_restore_all);
	tcase_add_test(alloc, test_migrate_fresh_alloc_failures);
	suite_add_tcase(s, alloc);
	return s;
}

int main(void)
{
	return run_suite(unpopulated_suite());
}
