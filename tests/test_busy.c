// SPDX-License-Identifier: GPL-2.0
/*
 * busy: migrations that meet pages someone else holds: pages pinned with
 * FOLL_PIN | FOLL_LONGTERM (through the kernel's gup_test), pages a pipe
 * holds references to (vmsplice()), and, injected by the driver between
 * migrate_vma_setup() and migrate_vma_pages(), an extra reference on a
 * source page, and a CPU fault or another migration on a hole the device
 * was about to fill; before a collection (migrate_vma_setup() or an
 * eviction's migrate_device_range()), a page another holder keeps locked
 * or has taken off the LRU (as compaction or reclaim on another CPU
 * does); and a device fault that meets the migration entries of a
 * migration in flight.
 *
 * Why: a migration must never move a page another user can still reach:
 * a pinned page is refused while its page table entry is unmapped
 * (migrate_vma_collect_pmd() restores it), a page with extra references is
 * unmapped and must then be put back, migration entries removed
 * (migrate_device_unmap()'s restore loop), a page referenced after setup
 * fails folio_migrate_mapping(), and a page the CPU faulted in meanwhile
 * or another migration filled meanwhile must not be overwritten by the
 * device page (migrate_vma_insert_page()); a locked page is skipped, and
 * eviction retries it; a page off the LRU cannot be isolated, so
 * migrate_device_unmap() drains every CPU's LRU batches once and then
 * restores it; a fault that meets a migration entry waits for the
 * migration and finds the page where it went. In every case the data
 * stays where it was, intact, and the next migration once the holder is
 * gone succeeds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

/* The kernel's own gup_test ABI, from the tree under test (KSRC). */
#include "../mm/gup_test.h"

#include "umhmm_test.h"

#define GUP_TEST_PATH	"/sys/kernel/debug/gup_test"
#define NPAGES		16	/* at most a pipe's default capacity */
#define BLOCK_PAGES	512

static int fd0;

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
}

static int inject_races(int fd, uint32_t busy, uint32_t race_fault,
			uint32_t locked)
{
	struct umhmm_inject in = {
		.size = sizeof(in),
		.busy = busy,
		.race_fault = race_fault,
		.locked = locked,
	};

	return ioctl(fd, UMHMM_IOC_INJECT, &in) ? -errno : 0;
}

static void assert_range_states(int fd, void *buf, size_t first, size_t n,
				unsigned char type, const char *what)
{
	unsigned char state[BLOCK_PAGES];

	ck_assert_uint_le(n, BLOCK_PAGES);
	if (!n)
		return;
	snapshot(fd, (unsigned char *)buf + first * page_size, n, state);
	assert_states(state, n, type, what);
}

/* Static: the teardown closes it after a failure (the release unpins). */
static int gup_fd = -1;

static void close_gup(void *arg)
{
	(void)arg;
	close(gup_fd);
	gup_fd = -1;
}

/* _i: pages pinned at the start of the range, 1 or all of NPAGES. */
START_TEST(test_pinned_pages_stay)
{
	size_t pinned = _i ? NPAGES : 1;
	unsigned char *buf = test_map_anon(NPAGES);
	struct pin_longterm_test pin = {
		.addr = (uintptr_t)buf,
		.size = pinned * page_size,
		.flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE,
	};
	int gup;

	gup = open(GUP_TEST_PATH, O_RDWR);
	if (gup < 0)
		umhmm_skip("%s: %s (CONFIG_GUP_TEST)", GUP_TEST_PATH,
			   strerror(errno));
	gup_fd = gup;
	test_defer(close_gup, &gup_fd);
	fill_pattern(buf, NPAGES * page_size, 21);
	ck_assert_int_eq(ioctl(gup, PIN_LONGTERM_TEST_START, &pin), 0);

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES - pinned);
	assert_range_states(fd0, buf, 0, pinned, UMHMM_PAGE_SYSTEM, "pinned");
	assert_range_states(fd0, buf, pinned, NPAGES - pinned,
			    UMHMM_PAGE_DEVICE_LOCAL, "not pinned");
	/* The pinned page is still the one the CPU maps, data intact. */
	ck_assert_pattern(buf, pinned * page_size, 21);

	ck_assert_int_eq(ioctl(gup, PIN_LONGTERM_TEST_STOP), 0);
	test_forget_deferred(&gup_fd);
	close_gup(NULL);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), pinned);
	assert_range_states(fd0, buf, 0, NPAGES, UMHMM_PAGE_DEVICE_LOCAL,
			    "unpinned");
	ck_assert_pattern(buf, NPAGES * page_size, 21);
}
END_TEST

/*
 * A pipe holds references to vmspliced pages: unmapped for migration,
 * they must be put back. _i: pages held at the end of the range, 1 (the
 * restore walks past the pages that did migrate) or all of NPAGES.
 */
START_TEST(test_referenced_pages_stay)
{
	size_t held = _i ? NPAGES : 1;
	size_t first = NPAGES - held;
	unsigned char *buf = test_map_anon(NPAGES);
	unsigned char *out = test_malloc(NPAGES * page_size);
	struct iovec iov = {
		.iov_base = buf + first * page_size,
		.iov_len = held * page_size,
	};
	size_t got = 0;
	int pfd[2];

	fill_pattern(buf, NPAGES * page_size, 22);
	ck_assert_int_eq(pipe(pfd), 0);
	ck_assert_int_eq(vmsplice(pfd[1], &iov, 1, 0), (ssize_t)iov.iov_len);

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES - held);
	assert_range_states(fd0, buf, first, held, UMHMM_PAGE_SYSTEM,
			    "referenced");
	assert_range_states(fd0, buf, 0, first, UMHMM_PAGE_DEVICE_LOCAL,
			    "not referenced");

	/* The pipe still reads the data, from the very same pages. */
	while (got < iov.iov_len) {
		ssize_t n = read(pfd[0], out + got, iov.iov_len - got);

		ck_assert_int_gt(n, 0);
		got += n;
	}
	ck_assert_msg(pattern_mismatch_at(out, iov.iov_len, 22,
					  first * page_size) == -1,
		      "the pipe read other data");
	close(pfd[0]);
	close(pfd[1]);

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), held);
	assert_range_states(fd0, buf, 0, NPAGES, UMHMM_PAGE_DEVICE_LOCAL,
			    "released");
	ck_assert_pattern(buf, NPAGES * page_size, 22);
	free(out);
}
END_TEST

/*
 * An extra reference taken after migrate_vma_setup(): the first busy
 * pages fail folio_migrate_mapping() and stay. _i: 0 to the device, 1 back.
 */
START_TEST(test_inject_busy)
{
	const uint32_t busy = 3;
	bool to_dev = _i == 0;
	unsigned char *buf = test_map_pattern(NPAGES, 23);
	struct umhmm_stats before, after;

	if (!to_dev)
		ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
					   NPAGES, NULL, 0), NPAGES);
	umhmm_stats(fd0, &before);
	ck_assert_int_eq(inject_races(fd0, busy, 0, 0), 0);
	ck_assert_uint_eq(umhmm_ok(fd0, to_dev ? UMHMM_IOC_MIGRATE_TO_DEV :
				   UMHMM_IOC_MIGRATE_TO_SYS, buf, NPAGES, NULL,
				   0), NPAGES - busy);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.busy_injected - before.busy_injected, busy);
	assert_range_states(fd0, buf, 0, busy, to_dev ? UMHMM_PAGE_SYSTEM :
			    UMHMM_PAGE_DEVICE_LOCAL, "held");
	assert_range_states(fd0, buf, busy, NPAGES - busy, to_dev ?
			    UMHMM_PAGE_DEVICE_LOCAL : UMHMM_PAGE_SYSTEM,
			    "moved");

	/* Spent: the next migration moves the rest. */
	ck_assert_uint_eq(umhmm_ok(fd0, to_dev ? UMHMM_IOC_MIGRATE_TO_DEV :
				   UMHMM_IOC_MIGRATE_TO_SYS, buf, NPAGES, NULL,
				   0), busy);
	ck_assert_pattern(buf, NPAGES * page_size, 23);
}
END_TEST

/*
 * The CPU faults in the first holes of a fresh block after
 * migrate_vma_setup(): the device page is not inserted over the CPU's.
 * _i: 0 writable (a new page), 1 read-only (the zero page, which the
 * device page does replace).
 */
START_TEST(test_inject_race_fault)
{
	const uint32_t race = 5;
	bool writable = _i == 0;
	size_t block = BLOCK_PAGES * page_size;
	unsigned char *map = test_map(3 * BLOCK_PAGES, writable ?
				      PROT_READ | PROT_WRITE : PROT_READ,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *buf = (unsigned char *)(((uintptr_t)map + block - 1) &
					       ~(block - 1));
	struct umhmm_stats before, after;
	size_t moved = writable ? BLOCK_PAGES - race : BLOCK_PAGES;
	long off;

	umhmm_stats(fd0, &before);
	ck_assert_int_eq(inject_races(fd0, 0, race, 0), 0);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   BLOCK_PAGES, NULL, 0), moved);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.race_faults - before.race_faults, race);
	/* Device pages not inserted were freed again. */
	ck_assert_uint_eq(after.pages_allocated - before.pages_allocated,
			  BLOCK_PAGES);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed,
			  BLOCK_PAGES - moved);
	assert_range_states(fd0, buf, 0, BLOCK_PAGES - moved,
			    UMHMM_PAGE_SYSTEM, "faulted by the CPU");
	assert_range_states(fd0, buf, BLOCK_PAGES - moved, moved,
			    UMHMM_PAGE_DEVICE_LOCAL, "populated");
	off = first_nonzero(buf, BLOCK_PAGES * page_size);
	ck_assert_msg(off == -1, "byte %ld is not zero", off);
}
END_TEST

/* Racing write faults on zero pages: the copies stay, with their data. */
START_TEST(test_inject_race_fault_zero_pages)
{
	const uint32_t race = 4;
	unsigned char *buf = test_map_anon(NPAGES);
	volatile unsigned char sink = 0;
	size_t i;

	for (i = 0; i < NPAGES; i++)
		sink += buf[i * page_size];
	assert_range_states(fd0, buf, 0, NPAGES, UMHMM_PAGE_ZERO, "read");
	ck_assert_int_eq(inject_races(fd0, 0, race, 0), 0);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES - race);
	assert_range_states(fd0, buf, 0, race, UMHMM_PAGE_SYSTEM, "copied");
	assert_range_states(fd0, buf, race, NPAGES - race,
			    UMHMM_PAGE_DEVICE_LOCAL, "migrated");
	ck_assert_int_eq(first_nonzero(buf, NPAGES * page_size), -1);
	ck_assert_uint_eq(sink, 0);
}
END_TEST

/* Pages locked by someone else are skipped by the collection and stay. */
START_TEST(test_inject_locked_to_device)
{
	const uint32_t locked = 3;
	unsigned char *buf = test_map_pattern(NPAGES, 25);
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_int_eq(inject_races(fd0, 0, 0, locked), 0);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES - locked);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.locked_injected - before.locked_injected,
			  locked);
	assert_range_states(fd0, buf, 0, locked, UMHMM_PAGE_SYSTEM, "locked");
	assert_range_states(fd0, buf, locked, NPAGES - locked,
			    UMHMM_PAGE_DEVICE_LOCAL, "moved");
	ck_assert_pattern(buf, locked * page_size, 25);

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), locked);
	assert_range_states(fd0, buf, 0, NPAGES, UMHMM_PAGE_DEVICE_LOCAL,
			    "all moved");
	ck_assert_pattern(buf, NPAGES * page_size, 25);
}
END_TEST

/*
 * A page someone else took off the LRU (compaction or reclaim on another
 * CPU) before the migration unmapped it: migrate_device_unmap() finds it
 * off the LRU, drains every CPU's LRU batches (lru_add_drain_all()), still
 * cannot isolate it and restores its mapping. It stays in system memory
 * with its data, the others move, and no device page is spent on it.
 */
START_TEST(test_inject_isolated_to_device)
{
	unsigned char *buf = test_map_pattern(NPAGES, 27);
	struct umhmm_inject in = { .size = sizeof(in), .isolate = 1 };
	struct umhmm_stats before, after;
	int64_t in_use;

	umhmm_stats(fd0, &before);
	in_use = umhmm_pages_in_use(fd0);
	ck_assert_int_eq(ioctl(fd0, UMHMM_IOC_INJECT, &in), 0);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES - 1);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.isolated - before.isolated, 1);
	ck_assert_uint_eq(after.pages_allocated - before.pages_allocated,
			  NPAGES - 1);
	ck_assert_uint_eq(after.pages_freed, before.pages_freed);
	ck_assert_int_eq(umhmm_pages_in_use(fd0), in_use + NPAGES - 1);
	assert_range_states(fd0, buf, 0, 1, UMHMM_PAGE_SYSTEM, "isolated");
	assert_range_states(fd0, buf, 1, NPAGES - 1, UMHMM_PAGE_DEVICE_LOCAL,
			    "moved");
	ck_assert_pattern(buf, page_size, 27);

	/* Back on the LRU, it migrates like the others. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), 1);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.isolated - before.isolated, 1);
	assert_range_states(fd0, buf, 0, NPAGES, UMHMM_PAGE_DEVICE_LOCAL,
			    "all moved");
	ck_assert_int_eq(umhmm_pages_in_use(fd0), in_use + NPAGES);
	ck_assert_pattern(buf, NPAGES * page_size, 27);
	ck_assert_int_eq(umhmm_pages_in_use(fd0), in_use);
}
END_TEST

/*
 * Eviction skips device pages someone else holds locked and retries
 * them: every page comes back, none lost.
 */
START_TEST(test_inject_locked_evict)
{
	const uint32_t locked = 2;
	unsigned char *buf = test_map_pattern(NPAGES, 26);
	struct umhmm_stats before, after;
	uint64_t evicted = 0;

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES);
	umhmm_stats(fd0, &before);
	ck_assert_int_eq(inject_races(fd0, 0, 0, locked), 0);
	ck_assert_int_eq(ioctl(fd0, UMHMM_IOC_EVICT, &evicted), 0);
	ck_assert_uint_eq(evicted, NPAGES);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.locked_injected - before.locked_injected,
			  locked);
	ck_assert_uint_eq(after.evicted - before.evicted, NPAGES);
	ck_assert_int_eq(umhmm_pages_in_use(fd0), 0);
	assert_range_states(fd0, buf, 0, NPAGES, UMHMM_PAGE_SYSTEM, "evicted");
	ck_assert_pattern(buf, NPAGES * page_size, 26);
}
END_TEST

/*
 * A device fault meets a migration in flight: hmm_range_fault() from a
 * worker sleeps on the migration entry of the first page until the
 * migration is done, then finds the page in device memory.
 */
START_TEST(test_fault_waits_for_migration)
{
	unsigned char *buf = test_map_pattern(NPAGES, 27);
	struct umhmm_inject in = { .size = sizeof(in), .stall = 1 };
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_int_eq(ioctl(fd0, UMHMM_IOC_INJECT, &in), 0);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.stalls - before.stalls, 1);
	ck_assert_uint_eq(after.stall_waits - before.stall_waits, 1);
	ck_assert_uint_eq(after.stall_device - before.stall_device, 1);
	assert_range_states(fd0, buf, 0, NPAGES, UMHMM_PAGE_DEVICE_LOCAL,
			    "migrated");
	ck_assert_pattern(buf, NPAGES * page_size, 27);
}
END_TEST

/*
 * Another migration fills the first holes with device pages after
 * migrate_vma_setup(): the outer migration leaves them, and frees the
 * destinations it had allocated for them.
 */
START_TEST(test_inject_race_migrate)
{
	const uint32_t race = 4;
	unsigned char *buf = test_map_anon(NPAGES);
	struct umhmm_inject in = { .size = sizeof(in), .race_migrate = race };
	struct umhmm_stats before, after;
	int64_t in_use = umhmm_pages_in_use(fd0);

	umhmm_stats(fd0, &before);
	ck_assert_int_eq(ioctl(fd0, UMHMM_IOC_INJECT, &in), 0);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES - race);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.race_migrations - before.race_migrations, race);
	ck_assert_uint_eq(after.pages_allocated - before.pages_allocated,
			  NPAGES + race);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, race);
	ck_assert_int_eq(umhmm_pages_in_use(fd0), in_use + NPAGES);
	assert_range_states(fd0, buf, 0, NPAGES, UMHMM_PAGE_DEVICE_LOCAL,
			    "on device");
	ck_assert_int_eq(first_nonzero(buf, NPAGES * page_size), -1);
}
END_TEST

static Suite *busy_suite(void)
{
	Suite *s = umhmm_suite_create("busy");
	TCase *held = umhmm_tcase_create("held", setup, umhmm_teardown);
	TCase *inject = umhmm_tcase_create("inject", setup, umhmm_teardown);

	tcase_add_loop_test(held, test_pinned_pages_stay, 0, 2);
	tcase_add_loop_test(held, test_referenced_pages_stay, 0, 2);
	suite_add_tcase(s, held);

	tcase_add_loop_test(inject, test_inject_busy, 0, 2);
	tcase_add_loop_test(inject, test_inject_race_fault, 0, 2);
	tcase_add_test(inject, test_inject_race_fault_zero_pages);
	tcase_add_test(inject, test_inject_race_migrate);
	tcase_add_test(inject, test_inject_locked_to_device);
	tcase_add_test(inject, test_inject_locked_evict);
	tcase_add_test(inject, test_inject_isolated_to_device);
	tcase_add_test(inject, test_fault_waits_for_migration);
	suite_add_tcase(s, inject);
	return s;
}

int main(void)
{
	return run_suite(busy_suite());
}
