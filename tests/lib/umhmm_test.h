/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the umhmm suites: device access through the umhmm ABI,
 * buffers with a checkable byte pattern, and the fixture that checks after
 * every test that the driver's device pages balance (nothing leaked).
 */
#ifndef UMHMM_TEST_H
#define UMHMM_TEST_H

#include <check.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "umhmm.h"

/*
 * check's assertions hand every one that passes to the runner
 * (_mark_point(): a write(2) each, 51,000 in one make test; inside UML a
 * system call costs ~15 us, the host's 0.2). The suites keep the last
 * passing one in memory instead, and run_suite() hands it to check only
 * when the test dies of a signal, the case in which check prints it
 * ("(after this point) Received signal"), and half a second before the
 * test's timeout, when check is about to kill it (see arm_timeout_mark()).
 */
/* volatile: the signal handler reads them, at any assertion. */
extern const char *volatile umhmm_mark_file;
extern volatile int umhmm_mark_line;

static inline void umhmm_mark(const char *file, int line)
{
	umhmm_mark_file = file;
	umhmm_mark_line = line;
}

#undef ck_assert_msg
#define ck_assert_msg(expr, ...)					\
	((expr) ? umhmm_mark(__FILE__, __LINE__) :			\
		  _ck_assert_failed(__FILE__, __LINE__,			\
				    "Assertion '" #expr "' failed", ##__VA_ARGS__))

#define UMHMM_NDEV	2

extern long page_size;

/* fds of /dev/umhmm0 and /dev/umhmm1, opened by umhmm_setup(). */
extern int umhmm_fd[UMHMM_NDEV];

/*
 * Checked fixture: opens both devices and records the page counters;
 * umhmm_teardown() unmaps every buffer made with test_map*() and asserts
 * that every device page handed out since setup was freed again.
 */
void umhmm_setup(void);
void umhmm_teardown(void);

/* Opens /dev/umhmm<id>, failing the test when it cannot. */
int umhmm_open(int id);

/* A range ioctl; returns 0 or -errno, *out gets the updated range. */
int umhmm_range(int fd, unsigned long request, void *addr, uint64_t npages,
		void *ptr, uint32_t flags, struct umhmm_range *out);

/* Like umhmm_range() and asserts success; returns range.done. */
uint64_t umhmm_ok(int fd, unsigned long request, void *addr,
		  uint64_t npages, void *ptr, uint32_t flags);

void umhmm_stats(int fd, struct umhmm_stats *s);
int umhmm_inject(int fd, uint32_t fail_alloc, uint32_t fail_copy);

/* Device pages handed out and not freed yet. */
int64_t umhmm_pages_in_use(int fd);

/* mmap() that the teardown fixture unmaps; fails the test on error. */
void *test_map(size_t npages, int prot, int flags, int fd, off_t off);
/* The same, returning MAP_FAILED (errno set) for the test to judge. */
void *test_map_try(size_t npages, int prot, int flags, int fd, off_t off);
void *test_map_anon(size_t npages);
/*
 * A private anonymous mapping holding fill_pattern(seed), its pages
 * allocated by mmap() (MAP_POPULATE) rather than by a fault on each: for
 * the data a test starts from, when first-touch faults are not what it
 * tests. Inside UML every user page fault is three host round trips.
 */
void *test_map_pattern(size_t npages, unsigned int seed);
/* Forgets a mapping the test unmapped or moved itself. */
void test_forget(void *addr);

/*
 * Has umhmm_teardown() call fn(arg), the last one deferred first: for what
 * a test must undo even when an assertion ends it early (a thread to join,
 * a signal handler, a pin, a child to reap). Without a fork per test the
 * next test runs in the same process, and check runs the teardown after a
 * failure. arg must outlive the test's stack frame. test_forget_deferred()
 * drops what the test undid itself.
 */
void test_defer(void (*fn)(void *), void *arg);
void test_forget_deferred(void *arg);
/*
 * What umhmm_teardown() does first, for a fixture of its own: the
 * deferred cleanups, then unmapping every test_map*() buffer.
 */
void test_release(void);
/* sigaction() that the teardown undoes; fails the test on error. */
void test_sigaction(int sig, const struct sigaction *sa);

/* The byte at offset off of a buffer filled with seed. */
static inline unsigned char pattern_byte(unsigned int seed, size_t off)
{
	return (unsigned char)((off * 7) ^ (off >> 12) ^ (seed * 131) ^ 0x5a);
}

void fill_pattern(void *buf, size_t size, unsigned int seed);
/* Offset of the first byte that differs from the pattern, or -1. */
long pattern_mismatch(const void *buf, size_t size, unsigned int seed);
/* The same for a buffer that starts at offset base of the pattern. */
long pattern_mismatch_at(const void *buf, size_t size, unsigned int seed,
			 size_t base);
/* Offset of the first byte that is not c, or -1. */
long first_not(const void *buf, size_t size, unsigned char c);
/* Offset of the first non-zero byte, or -1. */
long first_nonzero(const void *buf, size_t size);

/* Zeroed memory, or the test fails. */
void *test_malloc(size_t size);
/* Reaps child pid and fails the test unless it exited with status 0. */
void wait_child_ok(pid_t pid);
/*
 * Maps npages of the driver's BAR (see umhmm.h) from page pgoff:
 * UMHMM_BAR_PFNMAP_PGOFF and on, the VM_PFNMAP window. NULL, with the
 * test (the function test) skipped, where the kernel has no BAR.
 */
unsigned char *umhmm_bar_map(int fd, size_t npages, size_t pgoff,
			     const char *test);

#define ck_assert_pattern(buf, size, seed)				\
	ck_assert_msg(pattern_mismatch(buf, size, seed) == -1,		\
		      "byte %ld of %zu differs from pattern %u",	\
		      pattern_mismatch(buf, size, seed), (size_t)(size),\
		      (unsigned int)(seed))

/* Asserts the type bits of every state byte. */
void assert_states(const unsigned char *state, size_t npages,
		   unsigned char type, const char *what);
/* Asserts the READ and WRITE bits of every state byte: exactly @perm. */
void assert_perm(const unsigned char *state, size_t npages,
		 unsigned char perm);

/*
 * A register check around one access (fpstate, gpregs): loads values
 * from @seed, stores 0x5a to @addr or reads it, asserts they came back.
 */
typedef void (*checked_access_fn)(unsigned char *addr, unsigned int seed,
				  const char *event);
/* One store per fresh anonymous page, one fault each: seed + i. */
void fault_fresh_pages(size_t npages, unsigned int seed,
		       checked_access_fn store, const char *event);
/* The same after a read has mapped the zero page: copy-on-write faults. */
void fault_cow_pages(size_t npages, unsigned int seed,
		     checked_access_fn store, const char *event);
/*
 * Pattern @seed migrated to the device, then one read per page: a CPU
 * fault each (migrate_to_ram(), counted), registers from seed + 20 + i.
 */
void fault_device_pages(int fd, size_t npages, unsigned int seed,
			checked_access_fn read, const char *event);
/* Snapshot of npages at addr through fd. */
void snapshot(int fd, void *addr, size_t npages, unsigned char *state);

/* Writes value to a sysfs, debugfs or procfs file: 0, or -errno (-EIO short). */
int write_file(const char *path, const char *value);

/*
 * Driver core bind/unbind of platform device umhmm.<id> through sysfs;
 * 0 or -errno of the write.
 */
int umhmm_bind(int id);
int umhmm_unbind(int id);
/* Sets the pagemap owner id of an unbound device; 0 or -errno. */
int umhmm_set_owner(int id, int owner);
int umhmm_get_owner(int id);

/* Writes "umhmm: ..." into the kernel log, to place test events there. */
void kmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Suite and test case constructors of every umhmm suite: the test case
 * gets the checked fixture and, when UMHMM_GCOV_OUT is set, its coverage
 * is saved apart (see umhmm_test.c). Add test cases to the suite in the
 * order they are created.
 */
Suite *umhmm_suite_create(const char *name);
TCase *umhmm_tcase_create(const char *name, void (*setup)(void),
			  void (*teardown)(void));
/* tcase_set_timeout(), and the test hands its location over before it. */
void umhmm_tcase_set_timeout(TCase *tc, double seconds);

/*
 * Ends the current test as skipped, with a reason: check has no skip
 * status, so the reason goes to $UMHMM_OUT/<binary>.skips and run-suites
 * marks the TAP line "# SKIP <reason>". Never a pass.
 */
#define umhmm_skip(...)						\
	do {							\
		umhmm_skip_at(__func__, __VA_ARGS__);		\
		return;						\
	} while (0)

/* A test case that only SKIPs: what this build cannot test, and why. */
#define UMHMM_SKIP_TEST(name, reason)				\
	START_TEST(name)					\
	{							\
		umhmm_skip(reason);				\
	}							\
	END_TEST

void umhmm_skip_at(const char *func, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Runs one suite with TAP/XML from the environment; the exit status. */
int run_suite(Suite *s);

#endif /* UMHMM_TEST_H */
