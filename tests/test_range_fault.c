// SPDX-License-Identifier: GPL-2.0
/*
 * range_fault: hmm_range_fault() as a device driver uses it to mirror a
 * process: reads and writes with and without HMM_PFN_REQ_FAULT, per-page
 * state (snapshot), protections, holes, and the mmu interval notifier that
 * tells the mirror when the CPU side changes.
 *
 * Why: hmm_range_fault() is the other half of HMM besides migration, and
 * its contract is in its error codes (-EFAULT for ranges it cannot
 * handle, -EPERM for a write it may not do) and in the flags of each pfn;
 * a wrong pfn or flag means a device reading or writing the wrong memory.
 * Pages the CPU maps but a device must not be given (a poisoned page, a
 * pfn without struct page such as another device's BAR) are errors too.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "umhmm_test.h"

static int fd0;

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
}

START_TEST(test_read_present)
{
	const size_t npages = 100;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 1);
	unsigned char *mirror = test_malloc(npages * page_size);

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, npages, mirror,
				   0), npages);
	ck_assert_pattern(mirror, size, 1);
	free(mirror);
}
END_TEST

START_TEST(test_read_faults_in_zero_pages)
{
	const size_t npages = 16;
	unsigned char *buf = test_map_anon(npages);
	unsigned char *mirror = test_malloc(npages * page_size);
	unsigned char state[16];

	memset(mirror, 0xff, npages * page_size);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, npages, mirror,
				   0), npages);
	ck_assert_int_eq(first_nonzero(mirror, npages * page_size), -1);
	/* A read fault of untouched anonymous memory maps the zero page. */
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_ZERO, "after read fault");
	assert_perm(state, npages, UMHMM_PAGE_READ);
	free(mirror);
}
END_TEST

START_TEST(test_read_nofault_untouched)
{
	const size_t npages = 16;
	unsigned char *buf = test_map_anon(npages);
	unsigned char *mirror = test_malloc(npages * page_size);
	unsigned char state[16];

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, npages, mirror,
				   UMHMM_F_NOFAULT), 0);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_NONE, "never faulted");
	free(mirror);
}
END_TEST

START_TEST(test_read_nofault_partial)
{
	const size_t npages = 16;
	unsigned char *buf = test_map_anon(npages);
	unsigned char *mirror = test_malloc(npages * page_size);
	size_t i;

	/* Touch every fourth page: only those are there to read. */
	for (i = 0; i < npages; i += 4)
		fill_pattern(buf + i * page_size, page_size, 2);
	memset(mirror, 0xa5, npages * page_size);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, npages, mirror,
				   UMHMM_F_NOFAULT), npages / 4);
	/* The pages read, and zeros where there was nothing to read. */
	for (i = 0; i < npages; i++) {
		if (i % 4 == 0)
			ck_assert_pattern(mirror + i * page_size, page_size, 2);
		else
			ck_assert_int_eq(first_nonzero(mirror + i * page_size,
						       page_size), -1);
	}
	free(mirror);
}
END_TEST

START_TEST(test_write_untouched)
{
	const size_t npages = 32;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_anon(npages);
	unsigned char *data = test_malloc(npages * page_size);
	unsigned char state[32];

	fill_pattern(data, size, 3);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_WRITE, buf, npages, data,
				   0), npages);
	/* What the device wrote, the CPU reads. */
	ck_assert_pattern(buf, size, 3);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_SYSTEM, "after device write");
	assert_perm(state, npages, UMHMM_PAGE_WRITE);
	free(data);
}
END_TEST

START_TEST(test_write_nofault_zero_page)
{
	const size_t npages = 4;
	unsigned char *buf = test_map_anon(npages);
	unsigned char *data = test_malloc(npages * page_size);
	volatile unsigned char c = buf[0];

	(void)c;
	/* Not zeroes: a write that landed would show through the zero page. */
	fill_pattern(data, page_size, 7);
	/* The zero page is mapped read-only and the call may not fault. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, buf, 1, data,
				     UMHMM_F_NOFAULT, NULL), -EPERM);
	ck_assert_int_eq(first_nonzero(buf, page_size), -1);
	free(data);
}
END_TEST

START_TEST(test_read_device_pages)
{
	const size_t npages = 40;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 4);
	unsigned char *mirror = test_malloc(npages * page_size);
	unsigned char state[40];
	struct umhmm_stats before, after;

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), npages);
	umhmm_stats(fd0, &before);
	/* The owner's own device pages are read in place, not faulted back. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, npages, mirror,
				   0), npages);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.migrate_to_ram, before.migrate_to_ram);
	ck_assert_pattern(mirror, size, 4);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_DEVICE_LOCAL, "still there");
	free(mirror);
}
END_TEST

START_TEST(test_write_device_pages)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 5);
	unsigned char *data = test_malloc(npages * page_size);

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), npages);
	fill_pattern(data, size, 6);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_WRITE, buf, npages, data,
				   0), npages);
	/* The CPU faults the device's new data back. */
	ck_assert_pattern(buf, size, 6);
}
END_TEST

START_TEST(test_snapshot_read_only)
{
	const size_t npages = 8;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 7);
	unsigned char state[8];
	size_t i;

	ck_assert_int_eq(mprotect(buf, size, PROT_READ), 0);
	snapshot(fd0, buf, npages, state);
	for (i = 0; i < npages; i++)
		ck_assert_uint_eq(state[i], UMHMM_PAGE_SYSTEM | UMHMM_PAGE_READ);
}
END_TEST

START_TEST(test_write_read_only_eperm)
{
	const size_t npages = 4;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 8);
	unsigned char *data = test_malloc(npages * page_size);

	ck_assert_int_eq(mprotect(buf, size, PROT_READ), 0);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, buf, npages, data,
				     0, NULL), -EPERM);
	ck_assert_pattern(buf, size, 8);
	free(data);
}
END_TEST

START_TEST(test_read_prot_none_efault)
{
	const size_t npages = 4;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 9);
	unsigned char *mirror = test_malloc(npages * page_size);
	unsigned char state[4];

	ck_assert_int_eq(mprotect(buf, size, PROT_NONE), 0);
	/* A VMA without VM_READ cannot be faulted: -EFAULT... */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, npages, mirror,
				     0, NULL), -EFAULT);
	/* ...and only reports errors when asked for nothing. */
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages, UMHMM_PAGE_ERROR, "PROT_NONE");
	free(mirror);
}
END_TEST

START_TEST(test_read_hole_efault)
{
	const size_t npages = 8;
	unsigned char *buf = test_map_pattern(npages, 10);
	unsigned char *mirror = test_malloc(npages * page_size);
	unsigned char state[8];
	struct umhmm_range r;

	ck_assert_int_eq(munmap(buf + 2 * page_size, 2 * page_size), 0);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, npages, mirror,
				     0, &r), -EFAULT);
	/* Asking for nothing, the walk reports the hole as errors. */
	snapshot(fd0, buf, npages, state);
	assert_states(state, 2, UMHMM_PAGE_SYSTEM, "before the hole");
	assert_states(state + 2, 2, UMHMM_PAGE_ERROR, "the hole");
	assert_states(state + 4, 4, UMHMM_PAGE_SYSTEM, "after the hole");
	free(mirror);
}
END_TEST

START_TEST(test_read_beyond_batches)
{
	/* More than one hmm_range_fault() batch of 64 pages. */
	const size_t npages = 64 * 3 + 5;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_pattern(npages, 11);
	unsigned char *mirror = test_malloc(npages * page_size);

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, npages, mirror,
				   0), npages);
	ck_assert_pattern(mirror, size, 11);
	free(mirror);
}
END_TEST

/* The notifier reports each kind of CPU-side change to the mirror. */
START_TEST(test_notifier_unmap)
{
	const size_t npages = 4;
	unsigned char *buf = test_map_pattern(npages, 12);
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_int_eq(munmap(buf, npages * page_size), 0);
	test_forget(buf);
	umhmm_stats(fd0, &after);
	ck_assert_uint_gt(after.invalidations[UMHMM_EVENT_UNMAP],
			  before.invalidations[UMHMM_EVENT_UNMAP]);
}
END_TEST

START_TEST(test_notifier_mprotect)
{
	const size_t npages = 4;
	unsigned char *buf = test_map_pattern(npages, 13);
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_int_eq(mprotect(buf, npages * page_size, PROT_READ), 0);
	umhmm_stats(fd0, &after);
	ck_assert_uint_gt(after.invalidations[UMHMM_EVENT_PROTECTION_VMA],
			  before.invalidations[UMHMM_EVENT_PROTECTION_VMA]);
}
END_TEST

START_TEST(test_notifier_migrate)
{
	const size_t npages = 4;
	unsigned char *buf = test_map_pattern(npages, 14);
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), npages);
	umhmm_stats(fd0, &after);
	ck_assert_uint_gt(after.invalidations[UMHMM_EVENT_MIGRATE],
			  before.invalidations[UMHMM_EVENT_MIGRATE]);
}
END_TEST

struct churn {
	unsigned char *buf;
	size_t npages;
	int rounds;		/* out: zap and refill rounds done */
	int madvise_errors;	/* check's assertions are the main thread's */
	volatile int stop;	/* the reads are done, or the test failed */
	pthread_t thread;
};

/* Static: the teardown may stop the thread after a failed assertion. */
static struct churn churn;

/* Zaps and refills the buffer until the mirror is done reading it. */
static void *churn_thread(void *arg)
{
	struct churn *c = arg;

	while (!c->stop) {
		if (madvise(c->buf, c->npages * page_size, MADV_DONTNEED))
			c->madvise_errors++;
		fill_pattern(c->buf, c->npages * page_size, 15);
		c->rounds++;
	}
	return NULL;
}

static void stop_churn(void *arg)
{
	struct churn *c = arg;

	c->stop = 1;
	pthread_join(c->thread, NULL);
}

START_TEST(test_read_during_invalidations)
{
	const size_t npages = 16;
	size_t size = npages * page_size;
	struct churn *c = &churn;
	unsigned char *mirror = test_malloc(npages * page_size);
	struct umhmm_stats before, after;
	int round, zapped_rounds = 0, filled_rounds = 0;
	size_t i, p;

	*c = (struct churn){ .buf = test_map_anon(npages), .npages = npages };
	fill_pattern(c->buf, size, 15);
	umhmm_stats(fd0, &before);
	ck_assert_int_eq(pthread_create(&c->thread, NULL, churn_thread, c), 0);
	test_defer(stop_churn, c);
	for (round = 0; round < 200; round++) {
		bool zapped = false, filled = false;

		ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, c->buf, npages,
					   mirror, 0), npages);
		/*
		 * The refill races the copy, so a page may be half
		 * written; but every byte is 0 (zapped) or the pattern,
		 * never stale or foreign data.
		 */
		for (i = 0; i < size; i++)
			if (mirror[i] && mirror[i] != pattern_byte(15, i))
				break;
		/* One assertion per round: check logs every one it runs. */
		ck_assert_msg(i == size, "round %d: byte %zu is %#x", round,
			      i, i < size ? mirror[i] : 0);
		for (p = 0; p < npages; p++) {
			zapped |= first_nonzero(mirror + p * page_size,
						page_size) < 0;
			filled |= pattern_mismatch_at(mirror + p * page_size,
						      page_size, 15,
						      p * page_size) < 0;
		}
		zapped_rounds += zapped;
		filled_rounds += filled;
	}
	test_forget_deferred(c);
	c->stop = 1;
	ck_assert_int_eq(pthread_join(c->thread, NULL), 0);
	ck_assert_int_eq(c->madvise_errors, 0);
	/*
	 * The reads ran between the zaps, not before or after them all: some
	 * found pages zapped and faulted them in as zero pages, some found
	 * them refilled. On one CPU without kernel preemption no zap lands
	 * inside a read (the driver's retries stay 0), so this is as close
	 * as the reads get to the invalidations here.
	 */
	ck_assert_msg(zapped_rounds > 0 && filled_rounds > 0,
		      "%d of 200 reads saw a zapped page, %d a refilled one, in %d zap rounds",
		      zapped_rounds, filled_rounds, c->rounds);
	umhmm_stats(fd0, &after);
	ck_assert_uint_ge(after.invalidations[UMHMM_EVENT_CLEAR] -
			  before.invalidations[UMHMM_EVENT_CLEAR],
			  (uint64_t)c->rounds);
	/* Zeros alone would pass the rounds: the settled data, every byte. */
	memset(mirror, 0, size);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, c->buf, npages, mirror,
				   0), npages);
	ck_assert_pattern(mirror, size, 15);
	free(mirror);
}
END_TEST

/* SIGBUS of a poisoned page: what was reported, and where to go on. */
static volatile sig_atomic_t sigbus_code;
static void *volatile sigbus_addr;
static sigjmp_buf sigbus_jmp;
static volatile sig_atomic_t sigbus_jmp_armed;

static void sigbus_handler(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	sigbus_code = si->si_code;
	sigbus_addr = si->si_addr;
	if (sigbus_jmp_armed) {
		sigbus_jmp_armed = 0;
		siglongjmp(sigbus_jmp, 1);
	}
}

/*
 * A page poisoned by MADV_HWPOISON (software memory failure, which the
 * series lets UML select): the CPU mapping is replaced by a hwpoison
 * entry. hmm_range_fault() must refuse to fault it (-EFAULT: it is
 * neither swap nor a device entry, mm/hmm.c's "everything else"), report
 * it as not valid when asked for nothing, and hand out the other pages;
 * a migration skips it and a CPU access gets SIGBUS BUS_MCEERR_AR.
 */
START_TEST(test_read_hwpoison_efault)
{
	const size_t npages = 4, bad = 1;
	size_t size = npages * page_size;
	unsigned char *buf = test_map_anon(npages);
	unsigned char *mirror = test_malloc(size);
	unsigned char *poisoned = buf + bad * page_size;
	struct sigaction sa = { .sa_sigaction = sigbus_handler,
				.sa_flags = SA_SIGINFO };
	unsigned char state[4];
	struct umhmm_range r;
	int64_t in_use;
	size_t i;

	fill_pattern(buf, size, 41);
	sigemptyset(&sa.sa_mask);
	test_sigaction(SIGBUS, &sa);
	sigbus_code = 0;
	sigbus_addr = NULL;
	if (madvise(poisoned, page_size, MADV_HWPOISON)) {
		int err = errno;

		free(mirror);
		umhmm_skip("madvise(MADV_HWPOISON): %s (needs CONFIG_MEMORY_FAILURE)",
			   strerror(err));
	}
	/* The injector is the task that "consumed" the error. */
	ck_assert_int_eq(sigbus_code, BUS_MCEERR_AR);
	ck_assert_ptr_eq(sigbus_addr, poisoned);

	/* Faulting: the whole read fails, on the poisoned page. */
	memset(mirror, 0xa5, size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, npages, mirror,
				     0, NULL), -EFAULT);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, poisoned, 1, mirror,
				     0, NULL), -EFAULT);
	/*
	 * Not faulting: every page but the poisoned one, data intact (a
	 * page not read comes back zeroed).
	 */
	memset(mirror, 0xa5, size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, npages, mirror,
				     UMHMM_F_NOFAULT, &r), 0);
	ck_assert_uint_eq(r.done, npages - 1);
	for (i = 0; i < npages; i++) {
		unsigned char *m = mirror + i * page_size;

		if (i == bad)
			ck_assert_int_eq(first_nonzero(m, page_size), -1);
		else
			ck_assert_int_eq(pattern_mismatch_at(m, page_size, 41,
							     i * page_size),
					 -1);
	}
	snapshot(fd0, buf, npages, state);
	assert_states(state, bad, UMHMM_PAGE_SYSTEM, "before the poison");
	assert_states(state + bad, 1, UMHMM_PAGE_NONE, "poisoned");
	assert_states(state + bad + 1, npages - bad - 1, UMHMM_PAGE_SYSTEM,
		      "after the poison");

	/* A migration leaves the poisoned page alone and moves the others. */
	in_use = umhmm_pages_in_use(fd0);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), npages - 1);
	ck_assert_int_eq(umhmm_pages_in_use(fd0), in_use + npages - 1);
	snapshot(fd0, buf, npages, state);
	assert_states(state + bad, 1, UMHMM_PAGE_NONE, "poisoned, migrated");
	assert_states(state, bad, UMHMM_PAGE_DEVICE_LOCAL, "migrated");
	assert_states(state + bad + 1, npages - bad - 1,
		      UMHMM_PAGE_DEVICE_LOCAL, "migrated, after the poison");
	ck_assert_pattern(buf, page_size, 41);
	ck_assert_int_eq(pattern_mismatch_at(buf + (bad + 1) * page_size,
					     (npages - bad - 1) * page_size,
					     41, (bad + 1) * page_size), -1);
	ck_assert_int_eq(umhmm_pages_in_use(fd0), in_use);

	/* The CPU touching it gets SIGBUS for that page, not an oops. */
	sigbus_code = 0;
	sigbus_addr = NULL;
	if (!sigsetjmp(sigbus_jmp, 1)) {
		sigbus_jmp_armed = 1;
		(void)*(volatile unsigned char *)poisoned;
		sigbus_jmp_armed = 0;
		ck_abort_msg("reading a poisoned page did not fault");
	}
	ck_assert_int_eq(sigbus_code, BUS_MCEERR_AR);
	ck_assert_ptr_eq(sigbus_addr, poisoned);
	free(mirror);
}
END_TEST

/* npages of the BAR from page off, or NULL with the test skipped. */
static unsigned char *bar_map(size_t npages, size_t off, const char *test)
{
	return umhmm_bar_map(fd0, npages, off, test);
}

static void bar_unmap(unsigned char *p, size_t npages)
{
	test_forget(p);
	ck_assert_int_eq(munmap(p, npages * page_size), 0);
}

/*
 * The BAR is memory the CPU can use: data written through one mapping is
 * there in the next one and at the same offset in a mapping of part of it
 * (each mapping faults its pages in, as the counter shows).
 */
START_TEST(test_bar_data)
{
	const size_t npages = 4;
	size_t size = npages * page_size;
	struct umhmm_stats before, after;
	unsigned char *bar = bar_map(npages, 0, __func__);

	if (!bar)
		return;
	umhmm_stats(fd0, &before);
	fill_pattern(bar, size, 42);
	bar_unmap(bar, npages);
	bar = bar_map(npages, 0, __func__);
	ck_assert_pattern(bar, size, 42);
	bar_unmap(bar, npages);
	bar = bar_map(1, 2, __func__);
	ck_assert_int_eq(pattern_mismatch_at(bar, page_size, 42,
					     2 * page_size), -1);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.bar_faults - before.bar_faults,
			  2 * npages + 1);
	ck_assert_uint_eq(after.pages_allocated, before.pages_allocated);
}
END_TEST

/*
 * hmm_range_fault() on the BAR: the CPU maps the pfns, but
 * vm_normal_page() refuses them (no struct page, VM_MIXEDMAP), so a
 * device must not be given them: -EFAULT when faulting (after faulting
 * them in for the CPU), an error per page when asked for nothing, and
 * migrate_vma_setup() refuses the vma. The data stays.
 */
START_TEST(test_bar_range_fault)
{
	const size_t npages = 4;
	size_t size = npages * page_size;
	struct umhmm_stats before, after;
	unsigned char *bar = bar_map(npages, 0, __func__);
	unsigned char *mirror;
	unsigned char state[4];
	struct umhmm_range r;

	if (!bar)
		return;
	mirror = test_malloc(size);
	umhmm_stats(fd0, &before);
	/* Nothing mapped yet: holes. */
	snapshot(fd0, bar, npages, state);
	assert_states(state, npages, UMHMM_PAGE_NONE, "BAR, not faulted");
	/* The read faults the pages in for the CPU, then refuses them. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, bar, npages, mirror,
				     0, NULL), -EFAULT);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.bar_faults - before.bar_faults, npages);
	snapshot(fd0, bar, npages, state);
	assert_states(state, npages, UMHMM_PAGE_ERROR, "BAR, mapped");
	fill_pattern(bar, size, 43);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, bar, npages, mirror,
				     0, NULL), -EFAULT);
	memset(mirror, 0xa5, size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, bar, npages, mirror,
				     UMHMM_F_NOFAULT, &r), 0);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_int_eq(first_nonzero(mirror, size), -1);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_MIGRATE_TO_DEV, bar, npages,
				     NULL, 0, NULL), -EINVAL);
	ck_assert_pattern(bar, size, 43);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.bar_faults - before.bar_faults, npages);
	ck_assert_uint_eq(after.pages_allocated, before.pages_allocated);
	free(mirror);
}
END_TEST

/* The BAR's mmap() takes shared mappings inside it only. */
START_TEST(test_bar_mmap_einval)
{
	const size_t n = UMHMM_BAR_PAGES;
	unsigned char *bar = bar_map(1, 0, __func__);
	void *p;

	if (!bar)
		return;
	p = mmap(NULL, page_size, PROT_READ, MAP_PRIVATE, fd0, 0);
	ck_assert_msg(p == MAP_FAILED && errno == EINVAL, "private: %s",
		      p == MAP_FAILED ? strerror(errno) : "mapped");
	p = mmap(NULL, (n + 1) * page_size, PROT_READ, MAP_SHARED, fd0, 0);
	ck_assert_msg(p == MAP_FAILED && errno == EINVAL, "too long: %s",
		      p == MAP_FAILED ? strerror(errno) : "mapped");
	p = mmap(NULL, page_size, PROT_READ, MAP_SHARED, fd0, n * page_size);
	ck_assert_msg(p == MAP_FAILED && errno == EINVAL, "past the end: %s",
		      p == MAP_FAILED ? strerror(errno) : "mapped");
	/* The same for the VM_PFNMAP window. */
	p = mmap(NULL, page_size, PROT_READ, MAP_PRIVATE, fd0,
		 (off_t)UMHMM_BAR_PFNMAP_PGOFF * page_size);
	ck_assert_msg(p == MAP_FAILED && errno == EINVAL, "pfnmap, private: %s",
		      p == MAP_FAILED ? strerror(errno) : "mapped");
	p = mmap(NULL, page_size, PROT_READ, MAP_SHARED, fd0,
		 (off_t)(UMHMM_BAR_PFNMAP_PGOFF + n) * page_size);
	ck_assert_msg(p == MAP_FAILED && errno == EINVAL,
		      "pfnmap, past the end: %s",
		      p == MAP_FAILED ? strerror(errno) : "mapped");
	/* The whole BAR is fine, and cannot grow. */
	p = mmap(NULL, n * page_size, PROT_READ, MAP_SHARED, fd0, 0);
	ck_assert_msg(p != MAP_FAILED, "whole BAR: %s", strerror(errno));
	ck_assert_ptr_eq(mremap(p, n * page_size, (n + 1) * page_size, 0),
			 MAP_FAILED);
	ck_assert_int_eq(munmap(p, n * page_size), 0);
}
END_TEST

static Suite *range_fault_suite(void)
{
	Suite *s = umhmm_suite_create("range_fault");
	TCase *core = umhmm_tcase_create("core", setup, umhmm_teardown);
	TCase *protections =
		umhmm_tcase_create("protections", setup, umhmm_teardown);
	TCase *notifier = umhmm_tcase_create("notifier", setup, umhmm_teardown);
	TCase *unmappable =
		umhmm_tcase_create("unmappable", setup, umhmm_teardown);

	tcase_add_test(core, test_read_present);
	tcase_add_test(core, test_read_faults_in_zero_pages);
	tcase_add_test(core, test_read_nofault_untouched);
	tcase_add_test(core, test_read_nofault_partial);
	tcase_add_test(core, test_write_untouched);
	tcase_add_test(core, test_read_device_pages);
	tcase_add_test(core, test_write_device_pages);
	tcase_add_test(core, test_read_beyond_batches);
	suite_add_tcase(s, core);

	tcase_add_test(protections, test_write_nofault_zero_page);
	tcase_add_test(protections, test_snapshot_read_only);
	tcase_add_test(protections, test_write_read_only_eperm);
	tcase_add_test(protections, test_read_prot_none_efault);
	tcase_add_test(protections, test_read_hole_efault);
	suite_add_tcase(s, protections);

	tcase_add_test(notifier, test_notifier_unmap);
	tcase_add_test(notifier, test_notifier_mprotect);
	tcase_add_test(notifier, test_notifier_migrate);
	tcase_add_test(notifier, test_read_during_invalidations);
	suite_add_tcase(s, notifier);

	tcase_add_test(unmappable, test_read_hwpoison_efault);
	tcase_add_test(unmappable, test_bar_data);
	tcase_add_test(unmappable, test_bar_range_fault);
	tcase_add_test(unmappable, test_bar_mmap_einval);
	suite_add_tcase(s, unmappable);

	return s;
}

int main(void)
{
	return run_suite(range_fault_suite());
}
