// SPDX-License-Identifier: GPL-2.0
/*
 * Regression: uml/patches/6.12/0010, "um: Fault on PROT_NONE user pages in
 * kernel accesses" (found by umhmm: errors:test_write_short_data_buffer).
 *
 * UML's kernel reads and writes user memory through its own mapping of
 * physical memory and checks the user's page table itself. That check took
 * a PROT_NONE pte for a present one, so copy_from_user() and friends read
 * pages user space had made inaccessible: a driver given a buffer whose
 * last page is PROT_NONE copied it instead of failing with -EFAULT.
 *
 * Scenario: a page filled with a pattern, then mprotect(PROT_NONE). A
 * plain write(2) from it to a pipe must fail with EFAULT and leave the pipe
 * empty; umhmm's WRITE ioctl (the device reads the page) must fail with
 * -EFAULT and move nothing. READ (the device writes into it) was refused
 * before the fix too, as a write checks pte_write(), and must stay so,
 * with the page unchanged. After mprotect(PROT_READ) the same write(2)
 * copies every byte: the check refuses only what it should.
 *
 * Reproduction without the fix: write(2) returns the page size and the
 * ioctl 0 (UML only; other architectures always faulted).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "umhmm_test.h"

#define NPAGES		4	/* the device's range */
#define SEED		0x5eed

static int fd0;
static int pipefd[2] = { -1, -1 };
static unsigned char *hidden;	/* one page, pattern, then PROT_NONE */

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
	ck_assert_int_eq(pipe2(pipefd, O_NONBLOCK), 0);
	hidden = test_map_anon(1);
	fill_pattern(hidden, page_size, SEED);
	ck_assert_int_eq(mprotect(hidden, page_size, PROT_NONE), 0);
}

static void teardown(void)
{
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	pipefd[0] = pipefd[1] = -1;
	umhmm_teardown();
}

/* Bytes waiting in the pipe, 0 when it is empty. */
static ssize_t pipe_pending(void)
{
	unsigned char *buf = test_malloc(page_size);
	ssize_t n = read(pipefd[0], buf, page_size);

	free(buf);
	if (n < 0 && errno == EAGAIN)
		return 0;
	return n;
}

START_TEST(test_syscall_reads_prot_none)
{
	errno = 0;
	ck_assert_int_eq(write(pipefd[1], hidden, page_size), -1);
	ck_assert_int_eq(errno, EFAULT);
	ck_assert_int_eq(pipe_pending(), 0);
}
END_TEST

START_TEST(test_syscall_reads_after_prot_read)
{
	unsigned char *buf = test_malloc(page_size);

	ck_assert_int_eq(mprotect(hidden, page_size, PROT_READ), 0);
	ck_assert_int_eq(write(pipefd[1], hidden, page_size), page_size);
	ck_assert_int_eq(read(pipefd[0], buf, page_size), page_size);
	ck_assert_pattern(buf, page_size, SEED);
	free(buf);
}
END_TEST

/* The device reads the data argument: a WRITE of one page from it. */
START_TEST(test_driver_reads_prot_none)
{
	unsigned char *buf = test_map_pattern(NPAGES, SEED + 1);
	unsigned char state[NPAGES];
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, buf, 1, hidden, 0, NULL),
			 -EFAULT);
	umhmm_stats(fd0, &after);
	/* Refused before the device touched anything: no counter moved. */
	ck_assert_mem_eq(&after, &before, sizeof(after));
	snapshot(fd0, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "after the refused write");
	ck_assert_pattern(buf, NPAGES * page_size, SEED + 1);
}
END_TEST

/* The device writes the data argument: a READ of one page into it. */
START_TEST(test_driver_writes_prot_none)
{
	unsigned char *buf = test_map_pattern(NPAGES, SEED + 2);

	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, 1, hidden, 0, NULL),
			 -EFAULT);
	ck_assert_int_eq(mprotect(hidden, page_size, PROT_READ), 0);
	ck_assert_pattern(hidden, page_size, SEED);
}
END_TEST

static Suite *uaccess_prot_none_suite(void)
{
	Suite *s = umhmm_suite_create("uaccess_prot_none");
	TCase *syscall = umhmm_tcase_create("syscall", setup, teardown);
	TCase *driver = umhmm_tcase_create("driver", setup, teardown);

	tcase_add_test(syscall, test_syscall_reads_prot_none);
	tcase_add_test(syscall, test_syscall_reads_after_prot_read);
	suite_add_tcase(s, syscall);

	tcase_add_test(driver, test_driver_reads_prot_none);
	tcase_add_test(driver, test_driver_writes_prot_none);
	suite_add_tcase(s, driver);
	return s;
}

int main(void)
{
	return run_suite(uaccess_prot_none_suite());
}
