// SPDX-License-Identifier: GPL-2.0
/*
 * pagemap: the life of device memory from devm_memremap_pages(): chunks
 * added on demand, eviction with migrate_device_range(), unbind and rebind
 * through sysfs while processes map device pages, and pagemap owners
 * shared or not between devices.
 *
 * Why: upstream's test_hmm never tears its memory down through devres, and
 * this is where drivers get it wrong: unbind must move every page a process
 * still maps back to system memory, losing no byte, before
 * memunmap_pages() can finish; a page left behind is a hang or a
 * use-after-free. The owner decides whether hmm_range_fault() and
 * migrate_vma_setup() treat another device's pages as their own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "umhmm_test.h"

/* Fills npages and moves them to device id through a fresh open. */
static unsigned char *on_device(int fd, size_t npages, unsigned int seed)
{
	unsigned char *buf = test_map_pattern(npages, seed);

	ck_assert_uint_eq(umhmm_ok(fd, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), npages);
	return buf;
}

static void assert_system(void *buf, size_t npages)
{
	unsigned char *state = malloc(npages);

	ck_assert_ptr_nonnull(state);
	/* Device 0 sees system pages whichever device they came from. */
	snapshot(umhmm_fd[0], buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_SYSTEM, "back in system");
	free(state);
}

START_TEST(test_unbind_evicts_mapped_pages)
{
	const size_t npages = 1000;
	struct umhmm_stats before, after;
	unsigned char *buf;
	int fd;

	umhmm_stats(umhmm_fd[1], &before);
	buf = on_device(umhmm_fd[1], npages, 1);
	close(umhmm_fd[1]);
	umhmm_fd[1] = -1;

	ck_assert_int_eq(umhmm_unbind(1), 0);
	ck_assert_int_eq(access("/dev/umhmm1", F_OK), -1);
	/* Every page is in system memory before any CPU access. */
	assert_system(buf, npages);
	ck_assert_int_eq(umhmm_bind(1), 0);

	fd = umhmm_open(1);
	umhmm_stats(fd, &after);
	close(fd);
	ck_assert_uint_eq(after.evicted - before.evicted, npages);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, npages);
	ck_assert_uint_eq(after.migrate_to_ram, before.migrate_to_ram);
	ck_assert_uint_eq(after.bound, 1);
	ck_assert_pattern(buf, npages * page_size, 1);
}
END_TEST

START_TEST(test_unbind_without_pages)
{
	struct umhmm_stats before, after;
	int fd;

	umhmm_stats(umhmm_fd[1], &before);
	ck_assert_int_eq(umhmm_unbind(1), 0);
	ck_assert_int_eq(umhmm_bind(1), 0);
	fd = umhmm_open(1);
	umhmm_stats(fd, &after);
	close(fd);
	ck_assert_uint_eq(after.evicted, before.evicted);
	/* A new bind maps a new first chunk. */
	ck_assert_uint_eq(after.chunks, 1);
	ck_assert_uint_eq(after.chunks_added, before.chunks_added + 1);
}
END_TEST

START_TEST(test_ioctl_after_unbind)
{
	const size_t npages = 4;
	unsigned char *buf = test_map_pattern(npages, 66);
	struct umhmm_stats before, after;
	uint64_t evicted = 0;
	uint32_t version = 0;
	int fd = umhmm_open(1);

	umhmm_stats(fd, &before);
	ck_assert_uint_eq(umhmm_ok(fd, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), npages);
	ck_assert_int_eq(umhmm_unbind(1), 0);
	/* The open file outlives the device; its calls fail cleanly. */
	ck_assert_int_eq(umhmm_range(fd, UMHMM_IOC_MIGRATE_TO_DEV, buf, 1,
				     NULL, 0, NULL), -ENODEV);
	ck_assert_int_eq(ioctl(fd, UMHMM_IOC_EVICT, &evicted), -1);
	ck_assert_int_eq(errno, ENODEV);
	/* Its counters still answer: the unbind evicted and freed the pages. */
	ck_assert_int_eq(ioctl(fd, UMHMM_IOC_VERSION, &version), 0);
	ck_assert_uint_eq(version, UMHMM_ABI_VERSION);
	umhmm_stats(fd, &after);
	ck_assert_uint_eq(after.bound, 0);
	ck_assert_uint_eq(after.chunks, 0);
	ck_assert_uint_eq(after.pages_total, 0);
	ck_assert_uint_eq(after.pages_free, 0);
	ck_assert_uint_eq(after.evicted - before.evicted, npages);
	ck_assert_uint_eq(after.pages_allocated - before.pages_allocated,
			  npages);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, npages);
	ck_assert_pattern(buf, npages * page_size, 66);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(umhmm_bind(1), 0);
}
END_TEST

START_TEST(test_unbind_twice)
{
	ck_assert_int_eq(umhmm_unbind(1), 0);
	ck_assert_int_eq(umhmm_unbind(1), -ENODEV);
	ck_assert_int_eq(umhmm_bind(1), 0);
	/* Binding a bound device is refused by the driver core. */
	ck_assert_int_eq(umhmm_bind(1), -EBUSY);
}
END_TEST

START_TEST(test_bind_unknown_device)
{
	ck_assert_int_eq(umhmm_bind(7), -ENODEV);
}
END_TEST

START_TEST(test_rebind_cycles)
{
	const size_t npages = 100;
	unsigned char *buf = test_map_anon(npages);
	int cycle, fd;

	for (cycle = 0; cycle < 5; cycle++) {
		fill_pattern(buf, npages * page_size, 10 + cycle);
		fd = umhmm_open(1);
		ck_assert_uint_eq(umhmm_ok(fd, UMHMM_IOC_MIGRATE_TO_DEV, buf,
					   npages, NULL, 0), npages);
		close(fd);
		ck_assert_int_eq(umhmm_unbind(1), 0);
		ck_assert_int_eq(umhmm_bind(1), 0);
		ck_assert_pattern(buf, npages * page_size, 10 + cycle);
	}
}
END_TEST

/*
 * Measured from what the device has: a suite run again in the same boot
 * (make shell) finds the chunk the first run added still there.
 */
START_TEST(test_chunk_growth)
{
	struct umhmm_stats before, s;
	size_t npages;
	unsigned char *buf;

	umhmm_stats(umhmm_fd[0], &before);
	/* The driver remaps its first chunk when it binds. */
	ck_assert_uint_ge(before.chunks, 1);
	/* One page more than its chunks hold free. */
	npages = before.pages_free + 1;
	buf = on_device(umhmm_fd[0], npages, 20);
	umhmm_stats(umhmm_fd[0], &s);
	ck_assert_uint_eq(s.chunks, before.chunks + 1);
	ck_assert_uint_eq(s.chunks_added, before.chunks_added + 1);
	ck_assert_uint_eq(s.pages_total - s.pages_free,
			  before.pages_total - before.pages_free + npages);
	ck_assert_pattern(buf, npages * page_size, 20);
}
END_TEST

START_TEST(test_evict)
{
	const size_t npages = 300;
	struct umhmm_stats before, after;
	unsigned char *buf;
	uint64_t evicted = 0;

	umhmm_stats(umhmm_fd[0], &before);
	buf = on_device(umhmm_fd[0], npages, 21);
	ck_assert_int_eq(ioctl(umhmm_fd[0], UMHMM_IOC_EVICT, &evicted), 0);
	ck_assert_uint_eq(evicted, npages);
	umhmm_stats(umhmm_fd[0], &after);
	ck_assert_uint_eq(after.evicted - before.evicted, npages);
	ck_assert_uint_eq(after.migrate_to_ram, before.migrate_to_ram);
	ck_assert_uint_eq(after.pages_total, after.pages_free);
	assert_system(buf, npages);
	ck_assert_pattern(buf, npages * page_size, 21);
}
END_TEST

START_TEST(test_evict_nothing)
{
	uint64_t evicted = 1;

	ck_assert_int_eq(ioctl(umhmm_fd[0], UMHMM_IOC_EVICT, &evicted), 0);
	ck_assert_uint_eq(evicted, 0);
}
END_TEST

START_TEST(test_two_devices)
{
	const size_t npages = 20;
	unsigned char *buf = test_map_pattern(npages, 22);
	unsigned char state[20];

	ck_assert_uint_eq(umhmm_ok(umhmm_fd[0], UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   10, NULL, 0), 10);
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[1], UMHMM_IOC_MIGRATE_TO_DEV,
				   buf + 10 * page_size, 10, NULL, 0), 10);
	snapshot(umhmm_fd[0], buf, npages, state);
	assert_states(state, 10, UMHMM_PAGE_DEVICE_LOCAL, "device 0's");
	/* Another owner's pages are not this device's to report. */
	assert_states(state + 10, 10, UMHMM_PAGE_NONE, "device 1's");
	ck_assert_pattern(buf, npages * page_size, 22);
}
END_TEST

START_TEST(test_other_owner_read_faults_back)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	struct umhmm_stats before, after;
	unsigned char *buf, *mirror = malloc(size);

	ck_assert_ptr_nonnull(mirror);
	buf = on_device(umhmm_fd[0], npages, 23);
	umhmm_stats(umhmm_fd[0], &before);
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[1], UMHMM_IOC_READ, buf, npages,
				   mirror, 0), npages);
	umhmm_stats(umhmm_fd[0], &after);
	ck_assert_pattern(mirror, size, 23);
	ck_assert_uint_eq(after.migrate_to_ram - before.migrate_to_ram, npages);
	assert_system(buf, npages);
	free(mirror);
}
END_TEST

START_TEST(test_owner_change_while_bound)
{
	ck_assert_int_eq(umhmm_set_owner(1, 0), -EBUSY);
	ck_assert_int_eq(umhmm_get_owner(1), 1);
	ck_assert_int_eq(umhmm_unbind(1), 0);
	ck_assert_int_eq(umhmm_set_owner(1, 8), -EINVAL);
	ck_assert_int_eq(umhmm_set_owner(1, -1), -EINVAL);
	ck_assert_int_eq(umhmm_bind(1), 0);
}
END_TEST

/* Makes device 1 share device 0's owner; teardown restores it. */
static int share_owner(void)
{
	/* Closed now: a failed unbind must not have the teardown close it. */
	close(umhmm_fd[1]);
	umhmm_fd[1] = -1;
	ck_assert_int_eq(umhmm_unbind(1), 0);
	ck_assert_int_eq(umhmm_set_owner(1, 0), 0);
	ck_assert_int_eq(umhmm_bind(1), 0);
	umhmm_fd[1] = umhmm_open(1);
	return umhmm_fd[1];
}

START_TEST(test_shared_owner_remote_pages)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	struct umhmm_stats before, after;
	unsigned char *buf, *mirror = malloc(size);
	unsigned char state[16];
	int fd1 = share_owner();

	ck_assert_ptr_nonnull(mirror);
	buf = on_device(umhmm_fd[0], npages, 24);
	snapshot(fd1, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_DEVICE_REMOTE, "same owner");

	/* Same owner: device 1 reads device 0's memory in place. */
	umhmm_stats(umhmm_fd[0], &before);
	ck_assert_uint_eq(umhmm_ok(fd1, UMHMM_IOC_READ, buf, npages, mirror,
				   0), npages);
	umhmm_stats(umhmm_fd[0], &after);
	ck_assert_uint_eq(after.migrate_to_ram, before.migrate_to_ram);
	ck_assert_pattern(mirror, size, 24);
	free(mirror);
}
END_TEST

START_TEST(test_shared_owner_device_to_device)
{
	const size_t npages = 16;
	unsigned char *buf;
	unsigned char state[16];
	int fd1 = share_owner();

	buf = on_device(umhmm_fd[0], npages, 25);
	/* Device 1 takes device 0's pages without a trip through RAM. */
	ck_assert_uint_eq(umhmm_ok(fd1, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, UMHMM_F_SELECT_DEVICE_PRIVATE),
			  npages);
	snapshot(fd1, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_DEVICE_LOCAL, "moved");
	snapshot(umhmm_fd[0], buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_DEVICE_REMOTE, "moved away");
	ck_assert_pattern(buf, npages * page_size, 25);
}
END_TEST

START_TEST(test_select_coherent_selects_nothing)
{
	const size_t npages = 8;
	unsigned char *buf = on_device(umhmm_fd[0], npages, 26);

	/* There is no coherent device memory to select. */
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[0], UMHMM_IOC_MIGRATE_TO_SYS, buf,
				   npages, NULL,
				   UMHMM_F_SELECT_DEVICE_COHERENT), 0);
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[0], UMHMM_IOC_MIGRATE_TO_SYS, buf,
				   npages, NULL,
				   UMHMM_F_SELECT_DEVICE_PRIVATE), npages);
	assert_system(buf, npages);
	ck_assert_pattern(buf, npages * page_size, 26);
}
END_TEST

static Suite *pagemap_suite(void)
{
	Suite *s = umhmm_suite_create("pagemap");
	TCase *bind = umhmm_tcase_create("bind", umhmm_setup, umhmm_teardown);
	TCase *memory =
		umhmm_tcase_create("memory", umhmm_setup, umhmm_teardown);
	TCase *owners =
		umhmm_tcase_create("owners", umhmm_setup, umhmm_teardown);

	tcase_add_test(bind, test_unbind_evicts_mapped_pages);
	tcase_add_test(bind, test_unbind_without_pages);
	tcase_add_test(bind, test_ioctl_after_unbind);
	tcase_add_test(bind, test_unbind_twice);
	tcase_add_test(bind, test_bind_unknown_device);
	tcase_add_test(bind, test_rebind_cycles);
	suite_add_tcase(s, bind);

	tcase_add_test(memory, test_chunk_growth);
	tcase_add_test(memory, test_evict);
	tcase_add_test(memory, test_evict_nothing);
	tcase_add_test(memory, test_select_coherent_selects_nothing);
	suite_add_tcase(s, memory);

	tcase_add_test(owners, test_two_devices);
	tcase_add_test(owners, test_other_owner_read_faults_back);
	tcase_add_test(owners, test_owner_change_while_bound);
	tcase_add_test(owners, test_shared_owner_remote_pages);
	tcase_add_test(owners, test_shared_owner_device_to_device);
	suite_add_tcase(s, owners);

	return s;
}

int main(void)
{
	return run_suite(pagemap_suite());
}
