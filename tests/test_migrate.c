// SPDX-License-Identifier: GPL-2.0
/*
 * migrate: migrate_vma_setup/pages/finalize between system memory and the
 * umhmm device's MEMORY_DEVICE_PRIVATE memory, and migrate_to_ram() when
 * the CPU touches a device page.
 *
 * Why: this is the path a GPU driver drives on every page it moves. Each
 * case checks every byte after the round trip, the per-page state the
 * device sees (snapshot), and the driver's counters (pages migrated,
 * migrate_to_ram calls, pages freed), for the kinds of mappings and the
 * VMA operations that meet device pages in real programs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "umhmm_test.h"

static int fd0;

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
}

/* Fills npages, migrates them to device 0 and checks the device copy. */
static unsigned char *filled_on_device(size_t npages, unsigned int seed)
{
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, seed);
	unsigned char *copy = malloc(size);
	unsigned char *state = malloc(npages);

	ck_assert_ptr_nonnull(copy);
	ck_assert_ptr_nonnull(state);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), npages);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_DEVICE_LOCAL, "on device");
	/* The device reads its own memory. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, npages, copy,
				   UMHMM_F_NOFAULT), npages);
	ck_assert_pattern(copy, size, seed);
	free(copy);
	free(state);
	return buf;
}

static const size_t round_trip_sizes[] = { 1, 2, 63, 64, 65, 200, 1000 };

START_TEST(test_round_trip_cpu_fault)
{
	size_t npages = round_trip_sizes[_i];
	size_t size = npages * page_size;
	struct umhmm_stats before, after;
	unsigned char *buf, *state = malloc(npages);

	ck_assert_ptr_nonnull(state);
	umhmm_stats(fd0, &before);
	buf = filled_on_device(npages, _i);

	/* Reading every byte faults every page back through migrate_to_ram. */
	ck_assert_pattern(buf, size, _i);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.migrate_to_ram - before.migrate_to_ram, npages);
	ck_assert_uint_eq(after.migrated_to_device - before.migrated_to_device,
			  npages);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, npages);

	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_SYSTEM, "after CPU fault");
	free(state);
}
END_TEST

START_TEST(test_round_trip_explicit)
{
	const size_t npages = 100;
	size_t size = npages * page_size;
	struct umhmm_stats before, after;
	unsigned char *buf, state[100];

	umhmm_stats(fd0, &before);
	buf = filled_on_device(npages, 3);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_SYS, buf, npages,
				   NULL, 0), npages);
	umhmm_stats(fd0, &after);
	/* Moved back by the device: no CPU fault involved. */
	ck_assert_uint_eq(after.migrate_to_ram, before.migrate_to_ram);
	ck_assert_uint_eq(after.migrated_to_system - before.migrated_to_system,
			  npages);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, npages);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_SYSTEM, "after migrate to sys");
	ck_assert_pattern(buf, size, 3);
}
END_TEST

START_TEST(test_repeated_round_trips)
{
	const size_t npages = 32;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_anon(npages);
	unsigned int round;

	for (round = 0; round < 20; round++) {
		fill_pattern(buf, size, round);
		ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
					   npages, NULL, 0), npages);
		if (round % 2)
			ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_SYS,
						   buf, npages, NULL, 0),
					  npages);
		ck_assert_pattern(buf, size, round);
	}
}
END_TEST

START_TEST(test_write_after_migration)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	unsigned char *buf = filled_on_device(npages, 4);

	/* A CPU write to a device page must fault it back, then land. */
	fill_pattern(buf, size, 5);
	ck_assert_pattern(buf, size, 5);
}
END_TEST

START_TEST(test_partial_range)
{
	const size_t npages = 30, first = 10, count = 10;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 6);
	unsigned char state[30];

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV,
				   buf + first * page_size, count, NULL, 0),
			  count);
	snapshot(fd0, buf, npages, state);
	assert_states(state, first, UMHMM_PAGE_SYSTEM, "before the range");
	assert_states(state + first, count, UMHMM_PAGE_DEVICE_LOCAL,
		      "the range");
	assert_states(state + first + count, npages - first - count,
		      UMHMM_PAGE_SYSTEM, "after the range");
	ck_assert_pattern(buf, size, 6);
}
END_TEST

START_TEST(test_already_on_device)
{
	const size_t npages = 8;
	unsigned char *buf = filled_on_device(npages, 7);

	/* Nothing left in system memory to select: nothing moves. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), 0);
	ck_assert_pattern(buf, npages * page_size, 7);
}
END_TEST

START_TEST(test_untouched_pages)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_anon(npages);
	unsigned char state[16];

	/* pte_none pages migrate too: the device zero-fills them. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), npages);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_DEVICE_LOCAL, "untouched");
	ck_assert_int_eq(first_nonzero(buf, size), -1);
}
END_TEST

START_TEST(test_zero_page_source)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_anon(npages);
	unsigned char state[16];
	volatile unsigned char sum = 0;
	size_t i;

	for (i = 0; i < npages; i++)
		sum += buf[i * page_size];
	ck_assert_uint_eq(sum, 0);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_ZERO, "read-faulted");

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), npages);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_DEVICE_LOCAL, "migrated");
	ck_assert_int_eq(first_nonzero(buf, size), -1);
}
END_TEST

START_TEST(test_shared_anon_refused)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	unsigned char *buf = test_map(npages, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	unsigned char state[8];

	fill_pattern(buf, size, 8);
	/* Device private memory cannot back shared mappings. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), 0);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_SYSTEM, "shared anon");
	ck_assert_pattern(buf, size, 8);
}
END_TEST

static int tmpfile_of(size_t npages, unsigned int seed)
{
	size_t size = npages * page_size;
	unsigned char *data = malloc(size);
	int fd;

	ck_assert_ptr_nonnull(data);
	fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	ck_assert_msg(fd >= 0, "O_TMPFILE in /tmp: %s", strerror(errno));
	fill_pattern(data, size, seed);
	ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
	free(data);
	return fd;
}

START_TEST(test_private_file_cow_pages)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	int fd = tmpfile_of(npages, 9);
	unsigned char *buf = test_map(npages, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE, fd, 0);
	unsigned char state[16];
	size_t i;

	/* Write the even pages: they become private anonymous copies. */
	for (i = 0; i < npages; i += 2)
		buf[i * page_size] = pattern_byte(9, i * page_size);
	ck_assert_pattern(buf, size, 9);

	/* Only anonymous pages can move; the page cache stays put. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), npages / 2);
	snapshot(fd0, buf, npages, state);
	for (i = 0; i < npages; i++)
		ck_assert_uint_eq(state[i] & UMHMM_PAGE_TYPE_MASK,
				  i % 2 ? UMHMM_PAGE_SYSTEM :
					  UMHMM_PAGE_DEVICE_LOCAL);
	ck_assert_pattern(buf, size, 9);
	close(fd);
}
END_TEST

START_TEST(test_shared_file_refused)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	int fd = tmpfile_of(npages, 10);
	unsigned char *buf = test_map(npages, PROT_READ | PROT_WRITE,
				      MAP_SHARED, fd, 0);

	ck_assert_pattern(buf, size, 10);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), 0);
	ck_assert_pattern(buf, size, 10);
	close(fd);
}
END_TEST

START_TEST(test_hole_in_range)
{
	const size_t npages = 12;
	unsigned char *buf = test_map_pattern(npages, 11);
	struct umhmm_range r;

	ck_assert_int_eq(munmap(buf + 4 * page_size, 4 * page_size), 0);
	/* The walk stops with -EFAULT at the hole, after the first VMA. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				     npages, NULL, 0, &r), -EFAULT);
	ck_assert_uint_eq(r.done, 4);
	ck_assert_pattern(buf, 4 * page_size, 11);
	ck_assert_int_eq(pattern_mismatch_at(buf + 8 * page_size, 4 * page_size,
					     11, 8 * page_size), -1);
}
END_TEST

START_TEST(test_prot_none)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 12);
	struct umhmm_range r;

	ck_assert_int_eq(mprotect(buf, size, PROT_NONE), 0);
	/*
	 * migrate_vma_setup() looks at PTEs, not at VMA permissions: the
	 * device may take pages the process cannot touch right now.
	 */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				     npages, NULL, 0, &r), 0);
	ck_assert_uint_eq(r.done, npages);
	ck_assert_int_eq(mprotect(buf, size, PROT_READ), 0);
	ck_assert_pattern(buf, size, 12);
}
END_TEST

START_TEST(test_munmap_frees_device_pages)
{
	const size_t npages = 64;
	struct umhmm_stats before, after;
	unsigned char *buf;

	umhmm_stats(fd0, &before);
	buf = filled_on_device(npages, 13);
	ck_assert_int_eq(munmap(buf, npages * page_size), 0);
	test_forget(buf);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.pages_allocated - before.pages_allocated,
			  npages);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, npages);
	/* Freed without coming back to system memory. */
	ck_assert_uint_eq(after.migrate_to_ram, before.migrate_to_ram);
}
END_TEST

START_TEST(test_madv_dontneed)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	struct umhmm_stats before, after;
	unsigned char *buf;

	umhmm_stats(fd0, &before);
	buf = filled_on_device(npages, 14);
	ck_assert_int_eq(madvise(buf, size, MADV_DONTNEED), 0);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, npages);
	ck_assert_int_eq(first_nonzero(buf, size), -1);
	/* zap_page_range_single() tells the mirror with MMU_NOTIFY_CLEAR. */
	ck_assert_uint_gt(after.invalidations[UMHMM_EVENT_CLEAR],
			  before.invalidations[UMHMM_EVENT_CLEAR]);
}
END_TEST

START_TEST(test_mremap_device_pages)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	unsigned char *buf = filled_on_device(npages, 15);
	/* A place to move to, so that the mapping cannot grow in place. */
	unsigned char *to = test_map(npages * 2, PROT_NONE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *moved, state[16];

	moved = mremap(buf, size, size * 2, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	ck_assert_ptr_eq(moved, to);
	test_forget(buf);
	/* The device entries moved with the page tables. */
	snapshot(fd0, moved, npages, state);
	assert_states(state, npages, UMHMM_PAGE_DEVICE_LOCAL, "after mremap");
	ck_assert_pattern(moved, size, 15);
}
END_TEST

START_TEST(test_mprotect_read_only)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	unsigned char *buf = filled_on_device(npages, 16);
	unsigned char state[16];

	ck_assert_int_eq(mprotect(buf, size, PROT_READ), 0);
	ck_assert_pattern(buf, size, 16);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_SYSTEM, "read-only");
	assert_perm(state, npages, UMHMM_PAGE_READ);
}
END_TEST

START_TEST(test_fork_cow)
{
	const size_t npages = 32;
	size_t size = npages * page_size;
	unsigned char *buf = filled_on_device(npages, 17);
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The child sees the data, then writes its own copy. */
		if (pattern_mismatch(buf, size, 17) != -1)
			_exit(1);
		fill_pattern(buf, size, 18);
		_exit(pattern_mismatch(buf, size, 18) == -1 ? 0 : 2);
	}
	wait_child_ok(pid);
	/* The child's writes stayed in the child. */
	ck_assert_pattern(buf, size, 17);
	fill_pattern(buf, size, 19);
	ck_assert_pattern(buf, size, 19);
}
END_TEST

START_TEST(test_child_exit_frees_pages)
{
	const size_t npages = 64;
	struct umhmm_stats before, after;
	pid_t pid;

	umhmm_stats(fd0, &before);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		unsigned char *buf = mmap(NULL, npages * page_size,
					  PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int fd = open("/dev/umhmm0", O_RDWR);
		struct umhmm_range r;

		/* A device file mirrors the process that opened it. */
		if (buf == MAP_FAILED || fd < 0)
			_exit(1);
		fill_pattern(buf, npages * page_size, 20);
		if (umhmm_range(fd, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				NULL, 0, &r) || r.done != npages)
			_exit(2);
		/* Exit with the pages on the device. */
		_exit(0);
	}
	wait_child_ok(pid);
	/* The child's exit freed the device pages its migration took. */
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.pages_allocated - before.pages_allocated, npages);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, npages);
}
END_TEST

/*
 * A driver that allocates a destination for every page of the range,
 * selected or not: the unused ones are left alone and freed by
 * migrate_vma_finalize(); only the selected pages move.
 */
START_TEST(test_bulk_allocated_destinations)
{
	const size_t npages = 16, half = 8;
	unsigned char *buf = test_map_pattern(npages, 41);
	unsigned char state[16];
	struct umhmm_stats before, after;
	int64_t in_use = umhmm_pages_in_use(fd0);

	/* The second half is already on the device: not selected again. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV,
				   buf + half * page_size, half, NULL, 0), half);
	umhmm_stats(fd0, &before);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, UMHMM_F_PREALLOC), half);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.pages_allocated - before.pages_allocated,
			  npages);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, half);
	ck_assert_int_eq(umhmm_pages_in_use(fd0), in_use + (int64_t)npages);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_DEVICE_LOCAL, "all on device");
	ck_assert_pattern(buf, npages * page_size, 41);
}
END_TEST

static Suite *migrate_suite(void)
{
	Suite *s = umhmm_suite_create("migrate");
	TCase *core = umhmm_tcase_create("core", setup, umhmm_teardown);
	TCase *mappings = umhmm_tcase_create("mappings", setup, umhmm_teardown);
	TCase *vma_ops = umhmm_tcase_create("vma_ops", setup, umhmm_teardown);

	tcase_add_loop_test(core, test_round_trip_cpu_fault, 0,
			    sizeof(round_trip_sizes) /
			    sizeof(round_trip_sizes[0]));
	tcase_add_test(core, test_round_trip_explicit);
	tcase_add_test(core, test_repeated_round_trips);
	tcase_add_test(core, test_write_after_migration);
	tcase_add_test(core, test_partial_range);
	tcase_add_test(core, test_already_on_device);
	tcase_add_test(core, test_bulk_allocated_destinations);
	suite_add_tcase(s, core);

	tcase_add_test(mappings, test_untouched_pages);
	tcase_add_test(mappings, test_zero_page_source);
	tcase_add_test(mappings, test_shared_anon_refused);
	tcase_add_test(mappings, test_private_file_cow_pages);
	tcase_add_test(mappings, test_shared_file_refused);
	tcase_add_test(mappings, test_hole_in_range);
	tcase_add_test(mappings, test_prot_none);
	suite_add_tcase(s, mappings);

	tcase_add_test(vma_ops, test_munmap_frees_device_pages);
	tcase_add_test(vma_ops, test_madv_dontneed);
	tcase_add_test(vma_ops, test_mremap_device_pages);
	tcase_add_test(vma_ops, test_mprotect_read_only);
	tcase_add_test(vma_ops, test_fork_cow);
	tcase_add_test(vma_ops, test_child_exit_frees_pages);
	suite_add_tcase(s, vma_ops);

	return s;
}

int main(void)
{
	return run_suite(migrate_suite());
}
