// SPDX-License-Identifier: GPL-2.0
/*
 * Regression: the v6.1 rework of ZONE_DEVICE page reference counts,
 * ef233450898f ("mm: free device private pages have zero refcount") and
 * 0dc45ca1ce18 ("mm/memremap.c: take a pgmap reference on page
 * allocation"), with zone_device_page_init().
 *
 * Free device pages went from refcount 1 to 0, and every page handed out
 * now holds a dev_pagemap reference.  Before, a device page shared by a
 * parent and a forked child (fork copies the device-private entry
 * read-only into both) could be released by the driver's teardown while
 * the child still mapped it, freed twice, or keep memunmap_pages() waiting
 * forever.
 *
 * Scenario: migrate to the device, fork, then in the parent evict the
 * device memory (UMHMM_IOC_EVICT) or unbind the device through sysfs while
 * the child still maps the pages; then both touch them.  Every page is
 * migrated back once for both processes, every device page is freed
 * exactly once (counters and free list agree), and after a rebind the
 * device works again.
 *
 * Reproduction without the fix: not shown here (the old refcount scheme
 * predates this driver's zone_device_page_init() use; reverting needs a
 * scratch tree of its own).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "umhmm_test.h"

#define NPAGES		64
#define DRV		"/sys/bus/platform/drivers/umhmm/"
#define DEV1		"umhmm.1"

static int dev1_bound(void)
{
	return access(DRV DEV1, F_OK) == 0;
}

/* Binds umhmm.1 if a failed test left it unbound; 0 or -errno. */
static int dev1_rebind(void)
{
	if (dev1_bound())
		return 0;
	return umhmm_bind(1);
}

static void setup(void)
{
	ck_assert_int_eq(dev1_rebind(), 0);
	umhmm_setup();
}

/*
 * Runs in the runner after the test case, even when a test died between
 * unbind and rebind: the next suites must find the device bound.
 */
static void rebind_after_tcase(void)
{
	if (dev1_rebind())
		fprintf(stderr, "fork_release_refcount: cannot rebind %s\n",
			DEV1);
}

static void rebind_before_tcase(void)
{
	rebind_after_tcase();
}

/*
 * Child: waits for the parent's go (a byte on the pipe), checks the
 * inherited data, writes its own and checks it.  EOF means the parent
 * failed: exit without touching anything.
 */
static void child(int rfd, unsigned char *buf, unsigned int seed)
{
	size_t size = NPAGES * page_size;
	char go;

	if (read(rfd, &go, 1) != 1)
		_exit(3);
	if (pattern_mismatch(buf, size, seed) != -1)
		_exit(1);
	fill_pattern(buf, size, seed + 1);
	_exit(pattern_mismatch(buf, size, seed + 1) == -1 ? 0 : 2);
}

static pid_t fork_holder(int fd, unsigned char **bufp, unsigned int seed,
			 int *wfd)
{
	unsigned char *buf = test_map_pattern(NPAGES, seed);
	unsigned char state[NPAGES];
	int p[2];
	pid_t pid;

	ck_assert_uint_eq(umhmm_ok(fd, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[1]);
		child(p[0], buf, seed);
	}
	close(p[0]);
	/* Parent and child both map the same device pages now. */
	snapshot(fd, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_DEVICE_LOCAL, "after fork");
	*bufp = buf;
	*wfd = p[1];
	return pid;
}

static void release_child(int wfd, pid_t pid)
{
	ck_assert_int_eq(write(wfd, "g", 1), 1);
	close(wfd);
	wait_child_ok(pid);
}

START_TEST(test_parent_evicts)
{
	int fd = umhmm_fd[0];
	struct umhmm_stats before, after;
	unsigned char state[NPAGES];
	unsigned char *buf;
	__u64 n = 0;
	int wfd;
	pid_t pid;

	umhmm_stats(fd, &before);
	pid = fork_holder(fd, &buf, 300, &wfd);
	ck_assert_int_eq(ioctl(fd, UMHMM_IOC_EVICT, &n), 0);
	/* One migration per page, for both mappings at once. */
	ck_assert_uint_eq(n, NPAGES);
	umhmm_stats(fd, &after);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, NPAGES);
	ck_assert_uint_eq(after.migrate_to_ram, before.migrate_to_ram);
	ck_assert_int_eq(umhmm_pages_in_use(fd), 0);
	snapshot(fd, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "evicted");

	release_child(wfd, pid);
	ck_assert_pattern(buf, NPAGES * page_size, 300);
	fill_pattern(buf, NPAGES * page_size, 302);
	ck_assert_pattern(buf, NPAGES * page_size, 302);
	umhmm_stats(fd, &after);
	ck_assert_uint_eq(after.pages_allocated - before.pages_allocated,
			  NPAGES);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, NPAGES);
}
END_TEST

START_TEST(test_child_touches_first)
{
	int fd = umhmm_fd[0];
	struct umhmm_stats before, after;
	unsigned char state[NPAGES];
	unsigned char *buf;
	__u64 n = 0;
	int wfd;
	pid_t pid;

	umhmm_stats(fd, &before);
	pid = fork_holder(fd, &buf, 310, &wfd);
	/* The child faults the shared pages back; the parent keeps none. */
	release_child(wfd, pid);
	snapshot(fd, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "after child");
	ck_assert_int_eq(ioctl(fd, UMHMM_IOC_EVICT, &n), 0);
	ck_assert_uint_eq(n, 0);
	umhmm_stats(fd, &after);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, NPAGES);
	ck_assert_pattern(buf, NPAGES * page_size, 310);
}
END_TEST

START_TEST(test_parent_unbinds)
{
	struct umhmm_stats before, after;
	unsigned char *buf;
	int unbind_ret, rebind_ret, wfd;
	long bad_parent;
	pid_t pid;

	umhmm_stats(umhmm_fd[1], &before);
	pid = fork_holder(umhmm_fd[1], &buf, 320, &wfd);

	unbind_ret = umhmm_unbind(1);
	/* Both processes touch the pages with the device gone. */
	bad_parent = pattern_mismatch(buf, NPAGES * page_size, 320);
	if (write(wfd, "g", 1) != 1)
		bad_parent = -2;
	close(wfd);
	/* Rebind before any assertion can end the test. */
	rebind_ret = dev1_rebind();

	ck_assert_int_eq(unbind_ret, 0);
	ck_assert_int_eq(rebind_ret, 0);
	ck_assert_int_eq(bad_parent, -1);
	wait_child_ok(pid);

	/*
	 * The old file's device is gone, not the rebound one: it says so and
	 * serves nothing. The fixture gets a file on the new device.
	 */
	umhmm_stats(umhmm_fd[1], &after);
	ck_assert_uint_eq(after.bound, 0);
	ck_assert_uint_eq(after.chunks, 0);
	ck_assert_int_eq(umhmm_range(umhmm_fd[1], UMHMM_IOC_MIGRATE_TO_DEV, buf,
				     NPAGES, NULL, 0, NULL), -ENODEV);
	close(umhmm_fd[1]);
	umhmm_fd[1] = umhmm_open(1);
	umhmm_stats(umhmm_fd[1], &after);
	ck_assert_uint_eq(after.bound, 1);
	/* Unbind evicted every page once; none was left or freed twice. */
	ck_assert_uint_eq(after.evicted - before.evicted, NPAGES);
	ck_assert_uint_eq(after.pages_allocated - before.pages_allocated,
			  NPAGES);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, NPAGES);
	ck_assert_uint_eq(after.migrate_to_ram, before.migrate_to_ram);
	ck_assert_uint_eq(after.pages_free, after.pages_total);

	/* And the rebound device works. */
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[1], UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   NPAGES, NULL, 0), NPAGES);
	ck_assert_pattern(buf, NPAGES * page_size, 320);
}
END_TEST

START_TEST(test_evict_after_child_exits)
{
	int fd = umhmm_fd[0];
	struct umhmm_stats before, after;
	int64_t in_use;
	unsigned char *buf;
	__u64 n = 0;
	int wfd, status;
	pid_t pid;

	umhmm_stats(fd, &before);
	in_use = umhmm_pages_in_use(fd);
	pid = fork_holder(fd, &buf, 330, &wfd);
	/* The child exits without touching; then the parent evicts. */
	close(wfd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 3,
		      "child status %#x", status);
	ck_assert_int_eq(umhmm_pages_in_use(fd), in_use + NPAGES);
	ck_assert_int_eq(ioctl(fd, UMHMM_IOC_EVICT, &n), 0);
	ck_assert_uint_eq(n, NPAGES);
	umhmm_stats(fd, &after);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, NPAGES);
	ck_assert_pattern(buf, NPAGES * page_size, 330);
}
END_TEST

static Suite *fork_release_refcount_suite(void)
{
	Suite *s = umhmm_suite_create("fork_release_refcount");
	TCase *evict = umhmm_tcase_create("evict", setup, umhmm_teardown);
	TCase *unbind = umhmm_tcase_create("unbind", setup, umhmm_teardown);

	tcase_add_test(evict, test_parent_evicts);
	tcase_add_test(evict, test_child_touches_first);
	tcase_add_test(evict, test_evict_after_child_exits);
	suite_add_tcase(s, evict);

	tcase_add_unchecked_fixture(unbind, rebind_before_tcase,
				    rebind_after_tcase);
	tcase_add_test(unbind, test_parent_unbinds);
	suite_add_tcase(s, unbind);
	return s;
}

int main(void)
{
	return run_suite(fork_release_refcount_suite());
}
