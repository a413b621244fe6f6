// SPDX-License-Identifier: GPL-2.0
/*
 * exclusive: device-exclusive access to anonymous pages through
 * make_device_exclusive_range() (UMHMM_IOC_EXCLUSIVE), and every way the
 * CPU or the VMA layer takes it back (UMHMM_IOC_CHECK_EXCLUSIVE).
 *
 * Why: a device doing atomics on system memory relies on the kernel to
 * replace each PTE by a device-exclusive swap entry and to restore it, with
 * an mmu notifier the driver sees, on the first CPU access or on any
 * change to the mapping.  A lost notifier means the device keeps atomics
 * on a page the CPU writes; a lost restore means the CPU reads stale data.
 * Each case checks every byte the device got and the CPU sees afterwards,
 * the number of pages the device still holds, the per-page state
 * hmm_range_fault() reports without faulting, and the invalidation
 * counters by mmu_notifier_event.
 *
 * What the kernel does, as established by these cases (6.12):
 *  - EXCLUSIVE takes its pages with get_user_pages_remote(FOLL_WRITE), so
 *    untouched pages are faulted in (zero-filled) and a read-only VMA
 *    fails with -EFAULT; shared (non-anonymous) folios are refused by
 *    folio_make_device_exclusive() and the driver reports -EBUSY.
 *  - A CPU access restores only the touched page (the notifier range is
 *    one page); fork() restores every exclusive PTE of the parent in
 *    copy_nonpresent_pte() under an MMU_NOTIFY_PROTECTION_PAGE
 *    invalidation, so fork revokes the device's access.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "umhmm_test.h"

static int fd0, fd1;

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
	fd1 = umhmm_fd[1];
}

/* Pages of [addr, addr + npages) that fd holds exclusively. */
static uint64_t held(int fd, void *addr, size_t npages)
{
	return umhmm_ok(fd, UMHMM_IOC_CHECK_EXCLUSIVE, addr, npages, NULL, 0);
}

/*
 * Fills npages with seed, makes them exclusive to fd0 and checks the data
 * the device got, the count it holds and that the CPU PTEs are gone.
 */
static unsigned char *exclusive_filled(size_t npages, unsigned int seed)
{
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, seed);
	unsigned char *copy = test_malloc(size);
	unsigned char *state = test_malloc(npages);

	memset(copy, 0, size);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_EXCLUSIVE, buf, npages, copy,
				   0), npages);
	ck_assert_pattern(copy, size, seed);
	ck_assert_uint_eq(held(fd0, buf, npages), npages);
	/* A device-exclusive entry is not present for hmm_range_fault(). */
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_NONE, "exclusive");
	free(copy);
	free(state);
	return buf;
}

/* --- core --- */

static const size_t exclusive_sizes[] = { 1, 63, 64, 65, 200 };

START_TEST(test_exclusive_data)
{
	size_t npages = exclusive_sizes[_i];
	struct umhmm_stats before, after;
	unsigned char *buf, *state = test_malloc(npages);

	umhmm_stats(fd0, &before);
	buf = exclusive_filled(npages, 30 + _i);
	umhmm_stats(fd0, &after);
	/* One MMU_NOTIFY_EXCLUSIVE per page grabbed, all our own. */
	ck_assert_uint_eq(after.invalidations[UMHMM_EVENT_EXCLUSIVE] -
			  before.invalidations[UMHMM_EVENT_EXCLUSIVE], npages);
	/* No device memory involved: the page stays where it is. */
	ck_assert_uint_eq(after.pages_allocated, before.pages_allocated);

	/* Reading every byte restores every page, with its data. */
	ck_assert_pattern(buf, npages * page_size, 30 + _i);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_SYSTEM, "restored");
	free(state);
}
END_TEST

START_TEST(test_cpu_read_restores_touched_only)
{
	const size_t npages = 16, first = 4, count = 3;
	size_t size = npages * page_size;
	unsigned char *buf = exclusive_filled(npages, 40);
	unsigned char state[16];
	size_t i;

	/* Read every byte of pages 4..6 only. */
	ck_assert_int_eq(pattern_mismatch_at(buf + first * page_size,
					     count * page_size, 40,
					     first * page_size), -1);
	ck_assert_uint_eq(held(fd0, buf, npages), npages - count);
	ck_assert_uint_eq(held(fd0, buf + first * page_size, count), 0);
	ck_assert_uint_eq(held(fd0, buf, first), first);
	snapshot(fd0, buf, npages, state);
	for (i = 0; i < npages; i++)
		ck_assert_uint_eq(state[i] & UMHMM_PAGE_TYPE_MASK,
				  i >= first && i < first + count ?
				  UMHMM_PAGE_SYSTEM : UMHMM_PAGE_NONE);
	ck_assert_pattern(buf, size, 40);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
}
END_TEST

START_TEST(test_cpu_write_restores_and_lands)
{
	const size_t npages = 8, page = 5;
	size_t size = npages * page_size;
	unsigned char *buf = exclusive_filled(npages, 41);
	unsigned char *copy = test_malloc(size);

	/* Overwrite page 5 with the pattern of another seed. */
	fill_pattern(buf + page * page_size, page_size, 42);
	ck_assert_uint_eq(held(fd0, buf, npages), npages - 1);
	ck_assert_uint_eq(held(fd0, buf + page * page_size, 1), 0);
	/* The device reads the page the CPU wrote (this revokes the rest). */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, npages, copy, 0),
			  npages);
	ck_assert_pattern(copy + page * page_size, page_size, 42);
	ck_assert_pattern(copy, page * page_size, 41);
	ck_assert_int_eq(pattern_mismatch_at(copy + (page + 1) * page_size,
					     size - (page + 1) * page_size, 41,
					     (page + 1) * page_size), -1);
	ck_assert_pattern(buf + page * page_size, page_size, 42);
	ck_assert_pattern(buf, page * page_size, 41);
	ck_assert_int_eq(pattern_mismatch_at(buf + (page + 1) * page_size,
					     size - (page + 1) * page_size, 41,
					     (page + 1) * page_size), -1);
	free(copy);
}
END_TEST

START_TEST(test_partial_range)
{
	const size_t npages = 32, first = 10, count = 12;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 43);
	unsigned char *copy = test_malloc(count * page_size);
	unsigned char state[32];
	size_t i;

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_EXCLUSIVE,
				   buf + first * page_size, count, copy, 0),
			  count);
	ck_assert_int_eq(pattern_mismatch_at(copy, count * page_size, 43,
					     first * page_size), -1);
	ck_assert_uint_eq(held(fd0, buf, npages), count);
	ck_assert_uint_eq(held(fd0, buf, first), 0);
	ck_assert_uint_eq(held(fd0, buf, first + 1), 1);
	ck_assert_uint_eq(held(fd0, buf + (first + count) * page_size,
			       npages - first - count), 0);
	snapshot(fd0, buf, npages, state);
	for (i = 0; i < npages; i++)
		ck_assert_uint_eq(state[i] & UMHMM_PAGE_TYPE_MASK,
				  i >= first && i < first + count ?
				  UMHMM_PAGE_NONE : UMHMM_PAGE_SYSTEM);
	ck_assert_pattern(buf, size, 43);
	free(copy);
}
END_TEST

START_TEST(test_untouched_pages)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_anon(npages);
	unsigned char *copy = test_malloc(size);
	unsigned char state[16];

	/* GUP with FOLL_WRITE faults fresh zeroed pages in first. */
	memset(copy, 0xa5, size);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_EXCLUSIVE, buf, npages, copy,
				   0), npages);
	ck_assert_int_eq(first_nonzero(copy, size), -1);
	ck_assert_uint_eq(held(fd0, buf, npages), npages);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_NONE, "exclusive");
	ck_assert_int_eq(first_nonzero(buf, size), -1);
	snapshot(fd0, buf, npages, state);
	/* Private pages, not the zero page: the write fault allocated them. */
	assert_states(state, npages, UMHMM_PAGE_SYSTEM, "restored");
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	free(copy);
}
END_TEST

START_TEST(test_exclusive_again)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	unsigned char *buf = exclusive_filled(npages, 44);
	unsigned char *copy = test_malloc(size);
	struct umhmm_range r;

	/*
	 * GUP restores the entries, then they are made exclusive anew. The
	 * restores are the grab's own doing: nothing to grab again.
	 */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_EXCLUSIVE, buf, npages,
				     copy, 0, &r), 0);
	ck_assert_uint_eq(r.done, npages);
	ck_assert_uint_eq(r.retries, 0);
	ck_assert_pattern(copy, size, 44);
	ck_assert_uint_eq(held(fd0, buf, npages), npages);
	ck_assert_pattern(buf, size, 44);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	free(copy);
}
END_TEST

/*
 * Pages a child shares copy-on-write: the grab's GUP breaks COW, an
 * MMU_NOTIFY_CLEAR per page from the grabbing task itself. That is not a
 * foreign invalidation: one grab, no retry, and the child keeps its data.
 */
START_TEST(test_cow_pages_grabbed_once)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 67);
	unsigned char *copy = test_malloc(size);
	struct umhmm_stats before, after;
	struct umhmm_range r;
	int go[2], ret;
	pid_t pid;

	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char c;

		/* Holds its copies until the parent's grab is over. */
		close(go[1]);
		if (read(go[0], &c, 1) != 0)
			_exit(1);
		_exit(pattern_mismatch(buf, size, 67) == -1 ? 0 : 2);
	}
	close(go[0]);
	umhmm_stats(fd0, &before);
	ret = umhmm_range(fd0, UMHMM_IOC_EXCLUSIVE, buf, npages, copy, 0, &r);
	umhmm_stats(fd0, &after);
	close(go[1]);
	wait_child_ok(pid);

	ck_assert_int_eq(ret, 0);
	ck_assert_uint_eq(r.done, npages);
	ck_assert_uint_ge(after.invalidations[UMHMM_EVENT_CLEAR] -
			  before.invalidations[UMHMM_EVENT_CLEAR], npages);
	ck_assert_uint_eq(r.retries, 0);
	ck_assert_pattern(copy, size, 67);
	ck_assert_uint_eq(held(fd0, buf, npages), npages);
	ck_assert_pattern(buf, size, 67);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	free(copy);
}
END_TEST

START_TEST(test_device_pages_come_back)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 45);
	unsigned char *copy = test_malloc(size);
	struct umhmm_stats before, after;

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), npages);
	umhmm_stats(fd0, &before);
	/* GUP faults device-private pages back through migrate_to_ram(). */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_EXCLUSIVE, buf, npages, copy,
				   0), npages);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.migrate_to_ram - before.migrate_to_ram, npages);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, npages);
	ck_assert_pattern(copy, size, 45);
	ck_assert_uint_eq(held(fd0, buf, npages), npages);
	ck_assert_pattern(buf, size, 45);
	free(copy);
}
END_TEST

START_TEST(test_migrate_leaves_exclusive)
{
	const size_t npages = 8;
	unsigned char *buf = exclusive_filled(npages, 46);
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	/*
	 * migrate_vma_setup() selects neither device-exclusive entries
	 * (they are not device-private) nor present pages, and its
	 * MMU_NOTIFY_MIGRATE carries our owner, so nothing moves and the
	 * device keeps its access.
	 */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), 0);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.pages_allocated, before.pages_allocated);
	ck_assert_uint_eq(held(fd0, buf, npages), npages);
	ck_assert_pattern(buf, npages * page_size, 46);
}
END_TEST

/* --- revoke --- */

START_TEST(test_mprotect_read_only_revokes)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	unsigned char *buf = exclusive_filled(npages, 50);
	unsigned char *copy = test_malloc(size);
	struct umhmm_stats before, after;
	struct umhmm_range r;

	umhmm_stats(fd0, &before);
	ck_assert_int_eq(mprotect(buf, size, PROT_READ), 0);
	umhmm_stats(fd0, &after);
	ck_assert_uint_gt(after.invalidations[UMHMM_EVENT_PROTECTION_VMA],
			  before.invalidations[UMHMM_EVENT_PROTECTION_VMA]);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	/* No write access any more: the device cannot take them again. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_EXCLUSIVE, buf, npages,
				     copy, 0, &r), -EFAULT);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	ck_assert_pattern(buf, size, 50);
	free(copy);
}
END_TEST

START_TEST(test_fork_revokes)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	unsigned char *buf = exclusive_filled(npages, 51);
	struct umhmm_stats before, after;
	unsigned char state[16];
	pid_t pid;

	umhmm_stats(fd0, &before);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The child gets the data, then writes its own copy. */
		if (pattern_mismatch(buf, size, 51) != -1)
			_exit(1);
		fill_pattern(buf, size, 52);
		_exit(pattern_mismatch(buf, size, 52) == -1 ? 0 : 2);
	}
	wait_child_ok(pid);
	umhmm_stats(fd0, &after);
	/*
	 * copy_nonpresent_pte() restores the parent's exclusive PTEs so it
	 * can copy them as present ones, inside the COW invalidation of the
	 * whole VMA: the device lost its access before the parent touched
	 * anything.
	 */
	ck_assert_uint_gt(after.invalidations[UMHMM_EVENT_PROTECTION_PAGE],
			  before.invalidations[UMHMM_EVENT_PROTECTION_PAGE]);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_SYSTEM, "after fork");
	ck_assert_pattern(buf, size, 51);
	fill_pattern(buf, size, 53);
	ck_assert_pattern(buf, size, 53);
}
END_TEST

START_TEST(test_munmap_revokes)
{
	const size_t npages = 8;
	unsigned char *buf = exclusive_filled(npages, 54);
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_int_eq(munmap(buf, npages * page_size), 0);
	test_forget(buf);
	umhmm_stats(fd0, &after);
	ck_assert_uint_gt(after.invalidations[UMHMM_EVENT_UNMAP],
			  before.invalidations[UMHMM_EVENT_UNMAP]);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
}
END_TEST

START_TEST(test_munmap_part_revokes_part)
{
	const size_t npages = 12;
	unsigned char *buf = exclusive_filled(npages, 55);

	ck_assert_int_eq(munmap(buf + 4 * page_size, 4 * page_size), 0);
	ck_assert_uint_eq(held(fd0, buf, npages), 8);
	ck_assert_uint_eq(held(fd0, buf + 4 * page_size, 4), 0);
	ck_assert_pattern(buf, 4 * page_size, 55);
	ck_assert_int_eq(pattern_mismatch_at(buf + 8 * page_size, 4 * page_size,
					     55, 8 * page_size), -1);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
}
END_TEST

START_TEST(test_madv_dontneed_revokes)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	unsigned char *buf = exclusive_filled(npages, 56);
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_int_eq(madvise(buf, size, MADV_DONTNEED), 0);
	umhmm_stats(fd0, &after);
	ck_assert_uint_gt(after.invalidations[UMHMM_EVENT_CLEAR],
			  before.invalidations[UMHMM_EVENT_CLEAR]);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	/* The pages are gone: fresh zero pages. */
	ck_assert_int_eq(first_nonzero(buf, size), -1);
}
END_TEST

START_TEST(test_device_read_revokes)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	unsigned char *buf = exclusive_filled(npages, 57);
	unsigned char *copy = test_malloc(size);

	/* Without faulting, hmm_range_fault() reports nothing to read. */
	memset(copy, 0, size);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, npages, copy,
				   UMHMM_F_NOFAULT), 0);
	ck_assert_int_eq(first_nonzero(copy, size), -1);
	ck_assert_uint_eq(held(fd0, buf, npages), npages);
	/* A faulting mirror read restores the entries like a CPU access. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, npages, copy, 0),
			  npages);
	ck_assert_pattern(copy, size, 57);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	free(copy);
}
END_TEST

START_TEST(test_other_device_takes_over)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	unsigned char *buf = exclusive_filled(npages, 58);
	unsigned char *copy = test_malloc(size);

	/* Device 1 has another owner: its grab invalidates device 0. */
	ck_assert_uint_eq(umhmm_ok(fd1, UMHMM_IOC_EXCLUSIVE, buf, npages, copy,
				   0), npages);
	ck_assert_pattern(copy, size, 58);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	ck_assert_uint_eq(held(fd1, buf, npages), npages);
	ck_assert_pattern(buf, size, 58);
	ck_assert_uint_eq(held(fd1, buf, npages), 0);
	free(copy);
}
END_TEST

START_TEST(test_close_forgets)
{
	const size_t npages = 8;
	unsigned char *buf = exclusive_filled(npages, 59);
	unsigned char *state = test_malloc(npages);
	int fd = umhmm_open(0);

	/* Another mirror of the same process holds nothing. */
	ck_assert_uint_eq(held(fd, buf, npages), 0);
	close(fd);
	/* Closing the holder leaves device-exclusive PTEs the CPU restores. */
	close(fd0);
	fd0 = umhmm_open(0);
	umhmm_fd[0] = fd0;
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_NONE, "after close");
	ck_assert_pattern(buf, npages * page_size, 59);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_SYSTEM, "restored");
	free(state);
}
END_TEST

/* --- mappings --- */

START_TEST(test_read_only_mapping)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 60);
	unsigned char *copy = test_malloc(size);
	struct umhmm_range r;

	ck_assert_int_eq(mprotect(buf, size, PROT_READ), 0);
	/* get_user_pages_remote(FOLL_WRITE) refuses a read-only VMA. */
	memset(copy, 0, size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_EXCLUSIVE, buf, npages,
				     copy, 0, &r), -EFAULT);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_int_eq(first_nonzero(copy, size), -1);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	ck_assert_pattern(buf, size, 60);
	free(copy);
}
END_TEST

START_TEST(test_shared_anon_mapping)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	unsigned char *buf = test_map(npages, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char *copy = test_malloc(size);
	unsigned char state[8];
	struct umhmm_range r;

	fill_pattern(buf, size, 61);
	/* shmem folios are not anonymous: none can be made exclusive. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_EXCLUSIVE, buf, npages,
				     copy, 0, &r), -EBUSY);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_SYSTEM, "shared");
	ck_assert_pattern(buf, size, 61);
	free(copy);
}
END_TEST

START_TEST(test_private_file_mapping)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	unsigned char *data = test_malloc(size), *copy = test_malloc(size);
	unsigned char *buf;
	int fd;

	fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	ck_assert_msg(fd >= 0, "O_TMPFILE: %s", strerror(errno));
	fill_pattern(data, size, 62);
	ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
	buf = test_map(npages, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	/* FOLL_WRITE breaks COW: the device gets private anonymous copies. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_EXCLUSIVE, buf, npages, copy,
				   0), npages);
	ck_assert_pattern(copy, size, 62);
	ck_assert_uint_eq(held(fd0, buf, npages), npages);
	fill_pattern(buf, size, 63);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	/* The file kept its data. */
	ck_assert_int_eq(pread(fd, data, size, 0), (ssize_t)size);
	ck_assert_pattern(data, size, 62);
	ck_assert_pattern(buf, size, 63);
	close(fd);
	free(data);
	free(copy);
}
END_TEST

START_TEST(test_hole_in_range)
{
	const size_t npages = 12;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 64);
	unsigned char *copy = test_malloc(size);
	struct umhmm_range r;

	ck_assert_int_eq(munmap(buf + 4 * page_size, 4 * page_size), 0);
	/*
	 * GUP stops at the hole: the pages before it are taken, and the call
	 * fails there as one starting in the hole does.
	 */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_EXCLUSIVE, buf, npages,
				     copy, 0, &r), -EFAULT);
	ck_assert_uint_eq(r.done, 4);
	ck_assert_uint_eq(held(fd0, buf, npages), 4);
	ck_assert_pattern(buf, 4 * page_size, 64);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	/* Starting in the hole: GUP fails outright. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_EXCLUSIVE,
				     buf + 4 * page_size, 8, copy, 0, &r),
			 -EFAULT);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	ck_assert_int_eq(pattern_mismatch_at(buf + 8 * page_size, 4 * page_size,
					     64, 8 * page_size), -1);
	free(copy);
}
END_TEST

/* --- races --- */

/*
 * Bit 62 of a pagemap entry (PM_SWAP): a swap-type PTE, as device-exclusive
 * ones are; a zapped PTE has neither it nor the present bit.
 */
static bool pte_is_swap_entry(const void *addr)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t entry = 0;
	ssize_t got;

	ck_assert_int_ge(fd, 0);
	got = pread(fd, &entry, sizeof(entry),
		    (off_t)((uintptr_t)addr / page_size * sizeof(entry)));
	close(fd);
	ck_assert_int_eq(got, (ssize_t)sizeof(entry));
	return entry >> 62 & 1;
}

/*
 * race_zap rows: a range, the zaps armed, and the batches grabbed again.
 * Only the range's first page is zapped, as batches are one page (7.2) or
 * more: one page is zapped on each of three tries, or the first page of
 * 200 on the first.
 */
static const struct {
	size_t npages;
	uint32_t zaps;
	uint64_t retries;
} zap_rows[] = {
	{ 1, 3, 3 },
	{ 200, 1, 1 },
};

/*
 * A page zapped (another thread's MADV_DONTNEED, injected) after it was
 * made exclusive and before the mirror recorded it must not be recorded:
 * CHECK_EXCLUSIVE would report a page the CPU no longer maps, and the
 * device would hold the data of a freed page.  The driver grabs the batch
 * again and holds the zero-filled page the CPU now maps.
 */
START_TEST(test_zap_before_record)
{
	size_t npages = zap_rows[_i].npages;
	size_t size = npages * page_size, zsize = page_size;
	unsigned char *buf = test_map_pattern(npages, 65);
	unsigned char *copy = test_malloc(size);
	struct umhmm_inject in = {
		.size = sizeof(in), .race_zap = zap_rows[_i].zaps,
	};
	struct umhmm_stats before, after;
	struct umhmm_range r;
	size_t i;

	umhmm_stats(fd0, &before);
	ck_assert_int_eq(ioctl(fd0, UMHMM_IOC_INJECT, &in), 0);
	memset(copy, 0xff, size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_EXCLUSIVE, buf, npages,
				     copy, 0, &r), 0);
	ck_assert_uint_eq(r.done, npages);

	/* The device got the zeroed pages, and holds every page it reports. */
	ck_assert_int_eq(first_nonzero(copy, zsize), -1);
	ck_assert_int_eq(pattern_mismatch_at(copy + zsize, size - zsize, 65,
					     zsize), -1);
	ck_assert_uint_eq(held(fd0, buf, npages), npages);
	for (i = 0; i < npages; i++)
		ck_assert_msg(pte_is_swap_entry(buf + i * page_size),
			      "page %zu held but not device-exclusive", i);

	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.race_zaps - before.race_zaps, zap_rows[_i].zaps);
	ck_assert_uint_ge(after.invalidations[UMHMM_EVENT_CLEAR] -
			  before.invalidations[UMHMM_EVENT_CLEAR],
			  zap_rows[_i].zaps);
	ck_assert_uint_eq(r.retries, zap_rows[_i].retries);

	/* The CPU sees the same, and takes every page back. */
	ck_assert_int_eq(first_nonzero(buf, zsize), -1);
	ck_assert_int_eq(pattern_mismatch_at(buf + zsize, size - zsize, 65,
					     zsize), -1);
	ck_assert_uint_eq(held(fd0, buf, npages), 0);
	free(copy);
}
END_TEST

static Suite *exclusive_suite(void)
{
	Suite *s = umhmm_suite_create("exclusive");
	TCase *core = umhmm_tcase_create("core", setup, umhmm_teardown);
	TCase *revoke = umhmm_tcase_create("revoke", setup, umhmm_teardown);
	TCase *mappings = umhmm_tcase_create("mappings", setup, umhmm_teardown);
	TCase *races = umhmm_tcase_create("races", setup, umhmm_teardown);

	tcase_add_loop_test(core, test_exclusive_data, 0,
			    sizeof(exclusive_sizes) /
			    sizeof(exclusive_sizes[0]));
	tcase_add_test(core, test_cpu_read_restores_touched_only);
	tcase_add_test(core, test_cpu_write_restores_and_lands);
	tcase_add_test(core, test_partial_range);
	tcase_add_test(core, test_untouched_pages);
	tcase_add_test(core, test_exclusive_again);
	tcase_add_test(core, test_cow_pages_grabbed_once);
	tcase_add_test(core, test_device_pages_come_back);
	tcase_add_test(core, test_migrate_leaves_exclusive);
	suite_add_tcase(s, core);

	tcase_add_test(revoke, test_mprotect_read_only_revokes);
	tcase_add_test(revoke, test_fork_revokes);
	tcase_add_test(revoke, test_munmap_revokes);
	tcase_add_test(revoke, test_munmap_part_revokes_part);
	tcase_add_test(revoke, test_madv_dontneed_revokes);
	tcase_add_test(revoke, test_device_read_revokes);
	tcase_add_test(revoke, test_other_device_takes_over);
	tcase_add_test(revoke, test_close_forgets);
	suite_add_tcase(s, revoke);

	tcase_add_test(mappings, test_read_only_mapping);
	tcase_add_test(mappings, test_shared_anon_mapping);
	tcase_add_test(mappings, test_private_file_mapping);
	tcase_add_test(mappings, test_hole_in_range);
	suite_add_tcase(s, mappings);

	tcase_add_loop_test(races, test_zap_before_record, 0,
			    sizeof(zap_rows) / sizeof(zap_rows[0]));
	suite_add_tcase(s, races);

	return s;
}

int main(void)
{
	return run_suite(exclusive_suite());
}
