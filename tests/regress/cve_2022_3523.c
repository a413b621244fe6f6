// SPDX-License-Identifier: GPL-2.0
/*
 * Regression: CVE-2022-3523, fixed by 16ce101db85d ("mm/memory.c: fix race
 * when faulting a device private page", v6.1).
 *
 * do_swap_page() called ->migrate_to_ram() on a device-private page it
 * held no reference on; a concurrent fault of the same page (or the driver
 * evicting and freeing it) could free the page under it: use-after-free of
 * the device page and of the driver data behind zone_device_data.  The
 * fix takes a reference and the page lock before calling migrate_to_ram()
 * and passes the faulting page to migrate_vma_setup() (fault_page).
 *
 * Scenario: several threads CPU-fault the same device pages at once while
 * another thread evicts the device memory (UMHMM_IOC_EVICT,
 * migrate_device_range()), closes the mirror or zaps the pages
 * (MADV_DONTNEED); bounded rounds, every byte checked, every device page
 * freed exactly once, no splat on the console. Every other round the
 * evictors wait until the readers are under way, and some round must
 * then be part faulted back, part evicted.
 *
 * Reproduction without the fix: not shown here (it needs a 6.0 kernel or
 * a scratch tree with the fix reverted); on this kernel the test guards
 * against the fix being lost and checks the accounting that a double free
 * would break.
 *
 * Finding: on 6.12 UML without uml/patches/6.12/0007 ("um: Let other tasks
 * run while a page fault cannot map the page") test_faults_vs_evict* hang
 * the kernel in about one run of three (5 of 9 runs; "BUG: soft lockup" on
 * the debug flavor): UML's fault handler loops on handle_mm_fault()
 * without rescheduling while the evictor, which holds the page lock,
 * waits for the CPU.  With 0007: 14 of 14 runs passed.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "umhmm_test.h"

#define NPAGES		64
#define ROUNDS		40
#define NREADERS	3

static int fd0;

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
}

struct race {
	pthread_barrier_t start;
	unsigned char *buf;
	unsigned int seed;
	int fd;			/* EVICT on it, or close it */
	int close_fd;
	long bad[NREADERS];	/* first bad offset seen by each reader */
	int pages_read;		/* by all readers so far (atomic) */
	int readers;		/* how many read */
	int readers_first;	/* evictors wait for a quarter of their reads */
};

/* Each evictor reports on its own: one failure cannot hide another. */
struct evictor {
	struct race *race;
	int ret;
	uint64_t evicted;
};

struct reader {
	struct race *race;
	int idx;
};

/*
 * Each reader walks the pages in its own order to collide, a CPU fault of
 * a device page each, and yields after every eighth page. UML runs its
 * threads on one CPU without kernel preemption: whichever thread runs
 * first after the barrier does its work until a tick or a sleep, and the
 * evictor, the last one there, evicted every page before a reader faulted
 * one in 76 of 80 rounds (2 of the others had the readers fault pages the
 * evictor held, tens of thousands of times: the livelock 0007 mends). So
 * every other round the evictors wait for the readers (readers_first) and
 * a round is then part faulted back, part evicted.
 */
static void *reader_thread(void *arg)
{
	struct reader *rd = arg;
	struct race *race = rd->race;
	long i, p, off;

	pthread_barrier_wait(&race->start);
	race->bad[rd->idx] = -1;
	for (i = 0; i < NPAGES; i++) {
		p = rd->idx % 2 ? i : NPAGES - 1 - i;
		off = pattern_mismatch_at(race->buf + p * page_size, page_size,
					  race->seed, p * page_size);
		if (off != -1 && race->bad[rd->idx] == -1)
			race->bad[rd->idx] = p * page_size + off;
		__atomic_add_fetch(&race->pages_read, 1, __ATOMIC_RELAXED);
		if (i % 8 == 7)
			sched_yield();
	}
	return NULL;
}

static void *evict_thread(void *arg)
{
	struct evictor *ev = arg;
	struct race *race = ev->race;
	__u64 n = 0;

	pthread_barrier_wait(&race->start);
	while (race->readers_first &&
	       __atomic_load_n(&race->pages_read, __ATOMIC_RELAXED) <
	       race->readers * NPAGES / 4)
		sched_yield();
	if (race->close_fd) {
		ev->ret = close(race->fd) ? -errno : 0;
	} else {
		ev->ret = ioctl(race->fd, UMHMM_IOC_EVICT, &n) ? -errno : 0;
		ev->evicted = n;
	}
	return NULL;
}

static void run_rounds(int close_fd)
{
	size_t size = NPAGES * page_size;
	unsigned char *buf = test_map_anon(NPAGES);
	struct umhmm_stats before, after;
	unsigned char state[NPAGES];
	struct reader rd[NREADERS];
	pthread_t readers[NREADERS], evictor;
	unsigned int round, mixed = 0;
	struct evictor ev;
	struct race race;
	int i;

	for (round = 0; round < ROUNDS; round++) {
		int fd = close_fd ? umhmm_open(0) : fd0;

		memset(&race, 0, sizeof(race));
		memset(&ev, 0, sizeof(ev));
		ev.race = &race;
		race.buf = buf;
		race.seed = round;
		race.fd = fd;
		race.close_fd = close_fd;
		race.readers = NREADERS;
		race.readers_first = round % 2;
		fill_pattern(buf, size, round);
		umhmm_stats(fd0, &before);
		ck_assert_uint_eq(umhmm_ok(fd, UMHMM_IOC_MIGRATE_TO_DEV, buf,
					   NPAGES, NULL, 0), NPAGES);

		ck_assert_int_eq(pthread_barrier_init(&race.start, NULL,
						      NREADERS + 1), 0);
		for (i = 0; i < NREADERS; i++) {
			rd[i].race = &race;
			rd[i].idx = i;
			ck_assert_int_eq(pthread_create(&readers[i], NULL,
							reader_thread, &rd[i]),
					 0);
		}
		/* The barrier holds the readers until the evictor is up. */
		ck_assert_int_eq(pthread_create(&evictor, NULL, evict_thread,
						&ev), 0);
		for (i = 0; i < NREADERS; i++)
			ck_assert_int_eq(pthread_join(readers[i], NULL), 0);
		ck_assert_int_eq(pthread_join(evictor, NULL), 0);
		ck_assert_int_eq(pthread_barrier_destroy(&race.start), 0);

		ck_assert_int_eq(ev.ret, 0);
		for (i = 0; i < NREADERS; i++)
			ck_assert_msg(race.bad[i] == -1,
				      "round %u reader %d: byte %ld wrong",
				      round, i, race.bad[i]);
		umhmm_stats(fd0, &after);
		/* Every device page came back and was freed exactly once. */
		ck_assert_uint_eq(after.pages_allocated - before.pages_allocated,
				  NPAGES);
		ck_assert_uint_eq(after.pages_freed - before.pages_freed,
				  NPAGES);
		ck_assert_uint_eq(after.evicted - before.evicted, ev.evicted);
		ck_assert_uint_le(ev.evicted, NPAGES);
		/* The pages not evicted came back through CPU faults. */
		ck_assert_uint_ge(after.migrate_to_ram - before.migrate_to_ram,
				  NPAGES - ev.evicted);
		snapshot(fd0, buf, NPAGES, state);
		assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "after race");
		ck_assert_pattern(buf, size, round);
		mixed += ev.evicted > 0 && ev.evicted < NPAGES;
	}
	/* A close evicts nothing: its pages all come back by CPU faults. */
	if (!close_fd)
		ck_assert_msg(mixed > 0,
			      "no round was part faulted back, part evicted");
}

START_TEST(test_faults_vs_evict)
{
	run_rounds(0);
}
END_TEST

START_TEST(test_faults_vs_close)
{
	run_rounds(1);
}
END_TEST

/*
 * Faults against a zap of the same pages by another thread: MADV_DONTNEED
 * drops each device-private entry and with it the device page, perhaps
 * while the reader is migrating that page back. It must be freed once, by
 * the zap or after its migration, and never under migrate_to_ram().
 */
struct zap_race {
	pthread_barrier_t start;
	unsigned char *buf;
	int zap_ret;
};

static void *zap_thread(void *arg)
{
	struct zap_race *race = arg;

	pthread_barrier_wait(&race->start);
	race->zap_ret = madvise(race->buf, NPAGES * page_size,
				MADV_DONTNEED) ? -errno : 0;
	return NULL;
}

/* Offset of the first byte that is neither the pattern nor zero, or -1. */
static long pattern_or_zero_mismatch(const unsigned char *buf, size_t size,
				     unsigned int seed)
{
	size_t i;

	for (i = 0; i < size; i++)
		if (buf[i] && buf[i] != pattern_byte(seed, i))
			return (long)i;
	return -1;
}

START_TEST(test_faults_vs_evict_repeated)
{
	/* Two evictors and two readers on the same pages, many rounds. */
	size_t size = NPAGES * page_size;
	unsigned char *buf = test_map_anon(NPAGES);
	struct umhmm_stats before, after;
	struct race race;
	struct reader rd[NREADERS];
	struct evictor ev[2];
	pthread_t th[4];
	unsigned int round, mixed = 0;
	uint64_t evicted;
	int i;

	for (round = 0; round < ROUNDS; round++) {
		memset(&race, 0, sizeof(race));
		race.buf = buf;
		race.seed = 1000 + round;
		race.fd = fd0;
		race.readers = 2;
		race.readers_first = round % 2;
		memset(ev, 0, sizeof(ev));
		fill_pattern(buf, size, race.seed);
		umhmm_stats(fd0, &before);
		ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
					   NPAGES, NULL, 0), NPAGES);
		ck_assert_int_eq(pthread_barrier_init(&race.start, NULL, 4),
				 0);
		for (i = 0; i < 2; i++) {
			rd[i].race = &race;
			rd[i].idx = i;
			ck_assert_int_eq(pthread_create(&th[i], NULL,
							reader_thread, &rd[i]),
					 0);
		}
		for (i = 0; i < 2; i++) {
			ev[i].race = &race;
			ck_assert_int_eq(pthread_create(&th[2 + i], NULL,
							evict_thread, &ev[i]),
					 0);
		}
		for (i = 0; i < 4; i++)
			ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		ck_assert_int_eq(pthread_barrier_destroy(&race.start), 0);
		ck_assert_int_eq(ev[0].ret, 0);
		ck_assert_int_eq(ev[1].ret, 0);
		/* Each page was evicted by one of them at most. */
		umhmm_stats(fd0, &after);
		ck_assert_uint_eq(after.evicted - before.evicted,
				  ev[0].evicted + ev[1].evicted);
		ck_assert_uint_le(ev[0].evicted + ev[1].evicted, NPAGES);
		ck_assert_uint_eq(after.pages_freed - before.pages_freed,
				  NPAGES);
		ck_assert_int_eq(race.bad[0], -1);
		ck_assert_int_eq(race.bad[1], -1);
		ck_assert_int_eq(umhmm_pages_in_use(fd0), 0);
		ck_assert_pattern(buf, size, race.seed);
		evicted = ev[0].evicted + ev[1].evicted;
		mixed += evicted > 0 && evicted < NPAGES;
	}
	ck_assert_msg(mixed > 0, "no round was part faulted back, part evicted");
}
END_TEST

START_TEST(test_faults_vs_zap)
{
	size_t size = NPAGES * page_size;
	unsigned char *buf = test_map_anon(NPAGES);
	struct umhmm_stats before, after;
	int64_t in_use;
	struct zap_race race;
	pthread_t th;
	unsigned int round;
	long bad;

	for (round = 0; round < ROUNDS; round++) {
		fill_pattern(buf, size, 2000 + round);
		umhmm_stats(fd0, &before);
		in_use = umhmm_pages_in_use(fd0);
		ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
					   NPAGES, NULL, 0), NPAGES);
		memset(&race, 0, sizeof(race));
		race.buf = buf;
		ck_assert_int_eq(pthread_barrier_init(&race.start, NULL, 2), 0);
		ck_assert_int_eq(pthread_create(&th, NULL, zap_thread, &race),
				 0);
		pthread_barrier_wait(&race.start);
		/* Migrated back before its zap, or zeroed; a page may be both. */
		bad = pattern_or_zero_mismatch(buf, size, 2000 + round);
		ck_assert_int_eq(pthread_join(th, NULL), 0);
		ck_assert_int_eq(pthread_barrier_destroy(&race.start), 0);
		ck_assert_int_eq(race.zap_ret, 0);
		ck_assert_msg(bad == -1, "round %u: byte %ld wrong", round, bad);
		umhmm_stats(fd0, &after);
		ck_assert_uint_eq(after.pages_freed - before.pages_freed,
				  NPAGES);
		ck_assert_int_eq(umhmm_pages_in_use(fd0), in_use);
		/* The zap came last: nothing of the round is left. */
		ck_assert_int_eq(first_nonzero(buf, size), -1);
	}
}
END_TEST

static Suite *cve_2022_3523_suite(void)
{
	Suite *s = umhmm_suite_create("cve_2022_3523");
	TCase *race = umhmm_tcase_create("race", setup, umhmm_teardown);

	umhmm_tcase_set_timeout(race, 60);
	tcase_add_test(race, test_faults_vs_evict);
	tcase_add_test(race, test_faults_vs_close);
	tcase_add_test(race, test_faults_vs_evict_repeated);
	tcase_add_test(race, test_faults_vs_zap);
	suite_add_tcase(s, race);
	return s;
}

int main(void)
{
	return run_suite(cve_2022_3523_suite());
}
