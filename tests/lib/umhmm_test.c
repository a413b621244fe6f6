// SPDX-License-Identifier: GPL-2.0
/*
 * Shared helpers of the umhmm suites; see umhmm_test.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "umhmm_test.h"

#define MAX_MAPS	64

long page_size;
int umhmm_fd[UMHMM_NDEV] = { -1, -1 };
const char *volatile umhmm_mark_file;
volatile int umhmm_mark_line;

static struct {
	void *addr;
	size_t size;
} maps[MAX_MAPS];

static int64_t in_use_at_setup[UMHMM_NDEV];

#define MAX_DEFERRED	8

static struct {
	void (*fn)(void *arg);
	void *arg;
} deferred[MAX_DEFERRED];
static int ndeferred;

void test_defer(void (*fn)(void *), void *arg)
{
	ck_assert_msg(ndeferred < MAX_DEFERRED, "more than %d deferred cleanups",
		      MAX_DEFERRED);
	deferred[ndeferred].fn = fn;
	deferred[ndeferred].arg = arg;
	ndeferred++;
}

void test_forget_deferred(void *arg)
{
	int i;

	for (i = ndeferred - 1; i >= 0; i--) {
		if (deferred[i].arg != arg)
			continue;
		memmove(&deferred[i], &deferred[i + 1],
			(ndeferred - i - 1) * sizeof(deferred[0]));
		ndeferred--;
		return;
	}
}

static void run_deferred(void)
{
	while (ndeferred > 0) {
		ndeferred--;
		deferred[ndeferred].fn(deferred[ndeferred].arg);
	}
}

struct saved_sigaction {
	int sig;
	struct sigaction old;
};

static void restore_sigaction(void *arg)
{
	struct saved_sigaction *saved = arg;

	sigaction(saved->sig, &saved->old, NULL);
	free(saved);
}

void test_sigaction(int sig, const struct sigaction *sa)
{
	struct saved_sigaction *saved = test_malloc(sizeof(*saved));

	saved->sig = sig;
	if (sigaction(sig, sa, &saved->old)) {
		free(saved);
		ck_abort_msg("sigaction(%d): %s", sig, strerror(errno));
	}
	test_defer(restore_sigaction, saved);
}

static const char *dev_path(int id)
{
	static char path[32];

	snprintf(path, sizeof(path), "/dev/umhmm%d", id);
	return path;
}

int umhmm_open(int id)
{
	const char *path = dev_path(id);
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	return fd;
}

/*
 * Puts back a device a test unbound or gave another owner. The setup calls
 * it too: check's fork mode skips the checked teardown of a test that
 * failed, and one failure must not spread to the tests after it.
 */
static void restore_devices(void)
{
	int i;

	for (i = 0; i < UMHMM_NDEV; i++) {
		if (access(dev_path(i), F_OK) == 0 && umhmm_get_owner(i) == i)
			continue;
		umhmm_unbind(i);
		umhmm_set_owner(i, i);
		ck_assert_int_eq(umhmm_bind(i), 0);
	}
}

void umhmm_setup(void)
{
	int i;

	/*
	 * Each test's process starts without a location: one inherited from
	 * check's own process (an unchecked fixture's assertions) would
	 * misplace a crash.
	 */
	umhmm_mark_file = NULL;
	page_size = sysconf(_SC_PAGESIZE);
	memset(maps, 0, sizeof(maps));
	restore_devices();
	for (i = 0; i < UMHMM_NDEV; i++) {
		umhmm_fd[i] = umhmm_open(i);
		/*
		 * Injections are the device's, not the opener's: a test that
		 * failed (check's fork mode skips its teardown then) may have
		 * left some armed. Every test starts with none.
		 */
		ck_assert_int_eq(umhmm_inject(umhmm_fd[i], 0, 0), 0);
		in_use_at_setup[i] = umhmm_pages_in_use(umhmm_fd[i]);
	}
}

void test_release(void)
{
	int i;

	/* First: a thread the test left running may still use its maps. */
	run_deferred();

	for (i = 0; i < MAX_MAPS; i++)
		if (maps[i].addr)
			munmap(maps[i].addr, maps[i].size);
	memset(maps, 0, sizeof(maps));
}

void umhmm_teardown(void)
{
	int i, fd;

	test_release();

	for (i = 0; i < UMHMM_NDEV; i++) {
		if (umhmm_fd[i] >= 0)
			close(umhmm_fd[i]);
		umhmm_fd[i] = -1;
	}

	restore_devices();

	/* Counters outlive rebinds: read them through a fresh open. */
	for (i = 0; i < UMHMM_NDEV; i++) {
		fd = umhmm_open(i);
		/* Unmapping freed this process's device pages synchronously. */
		ck_assert_msg(umhmm_pages_in_use(fd) == in_use_at_setup[i],
			      "umhmm%d: %lld device pages in use after the test, %lld before",
			      i, (long long)umhmm_pages_in_use(fd),
			      (long long)in_use_at_setup[i]);
		close(fd);
	}
}

int umhmm_range(int fd, unsigned long request, void *addr, uint64_t npages,
		void *ptr, uint32_t flags, struct umhmm_range *out)
{
	struct umhmm_range r = {
		.size = sizeof(r),
		.flags = flags,
		.addr = (uintptr_t)addr,
		.npages = npages,
		.ptr = (uintptr_t)ptr,
	};
	int ret;

	do {
		ret = ioctl(fd, request, &r);
	} while (ret < 0 && errno == EINTR);
	if (out)
		*out = r;
	return ret < 0 ? -errno : 0;
}

uint64_t umhmm_ok(int fd, unsigned long request, void *addr,
		  uint64_t npages, void *ptr, uint32_t flags)
{
	struct umhmm_range r;
	int ret;

	ret = umhmm_range(fd, request, addr, npages, ptr, flags, &r);
	ck_assert_msg(ret == 0, "ioctl %#lx on %llu pages: %s", request,
		      (unsigned long long)npages, strerror(-ret));
	return r.done;
}

void umhmm_stats(int fd, struct umhmm_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->size = sizeof(*s);
	ck_assert_msg(ioctl(fd, UMHMM_IOC_STATS, s) == 0, "stats: %s",
		      strerror(errno));
}

int umhmm_inject(int fd, uint32_t fail_alloc, uint32_t fail_copy)
{
	struct umhmm_inject in = {
		.size = sizeof(in),
		.fail_alloc = fail_alloc,
		.fail_copy = fail_copy,
	};

	return ioctl(fd, UMHMM_IOC_INJECT, &in) ? -errno : 0;
}

int64_t umhmm_pages_in_use(int fd)
{
	struct umhmm_stats s;

	umhmm_stats(fd, &s);
	/* Two views of the same fact: the counters and the free list. */
	ck_assert_int_eq(s.pages_allocated - s.pages_freed,
			 s.pages_total - s.pages_free);
	return (int64_t)(s.pages_allocated - s.pages_freed);
}

void *test_map_try(size_t npages, int prot, int flags, int fd, off_t off)
{
	size_t size = npages * page_size;
	void *addr;
	int i;

	addr = mmap(NULL, size, prot, flags, fd, off);
	if (addr == MAP_FAILED)
		return MAP_FAILED;
	for (i = 0; i < MAX_MAPS; i++) {
		if (!maps[i].addr) {
			maps[i].addr = addr;
			maps[i].size = size;
			return addr;
		}
	}
	munmap(addr, size);
	ck_abort_msg("more than %d mappings in one test", MAX_MAPS);
	return NULL;
}

void *test_map(size_t npages, int prot, int flags, int fd, off_t off)
{
	void *addr = test_map_try(npages, prot, flags, fd, off);

	ck_assert_msg(addr != MAP_FAILED, "mmap %zu pages: %s", npages,
		      strerror(errno));
	return addr;
}

void *test_map_anon(size_t npages)
{
	return test_map(npages, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

void *test_map_pattern(size_t npages, unsigned int seed)
{
	/* Populated for writing: real pages, not the shared zero page. */
	void *buf = test_map(npages, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	fill_pattern(buf, npages * page_size, seed);
	return buf;
}

void test_forget(void *addr)
{
	int i;

	for (i = 0; i < MAX_MAPS; i++)
		if (maps[i].addr == addr)
			maps[i].addr = NULL;
}

void fill_pattern(void *buf, size_t size, unsigned int seed)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < size; i++)
		p[i] = pattern_byte(seed, i);
}

long pattern_mismatch_at(const void *buf, size_t size, unsigned int seed,
			 size_t base)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < size; i++)
		if (p[i] != pattern_byte(seed, base + i))
			return (long)i;
	return -1;
}

long pattern_mismatch(const void *buf, size_t size, unsigned int seed)
{
	return pattern_mismatch_at(buf, size, seed, 0);
}

long first_not(const void *buf, size_t size, unsigned char c)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < size; i++)
		if (p[i] != c)
			return (long)i;
	return -1;
}

long first_nonzero(const void *buf, size_t size)
{
	return first_not(buf, size, 0);
}

void *test_malloc(size_t size)
{
	void *p = calloc(1, size);

	ck_assert_msg(p != NULL, "cannot allocate %zu bytes", size);
	return p;
}

void wait_child_ok(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child %d: status %#x", (int)pid, status);
}

unsigned char *umhmm_bar_map(int fd, size_t npages, size_t pgoff,
			     const char *test)
{
	void *p = test_map_try(npages, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			       (off_t)pgoff * page_size);

	if (p == MAP_FAILED && errno == ENODEV) {
		umhmm_skip_at(test, "mmap of /dev/umhmm: no BAR (UML iomem=%s,<file>, set by run.sh, 6.12 only)",
			      UMHMM_BAR_NAME);
		return NULL;
	}
	ck_assert_msg(p != MAP_FAILED, "mmap of the BAR at page %zu: %s", pgoff,
		      strerror(errno));
	return p;
}

void snapshot(int fd, void *addr, size_t npages, unsigned char *state)
{
	ck_assert_uint_eq(umhmm_ok(fd, UMHMM_IOC_SNAPSHOT, addr, npages, state,
				   0), npages);
}

void assert_states(const unsigned char *state, size_t npages,
		   unsigned char type, const char *what)
{
	size_t i;

	for (i = 0; i < npages; i++)
		ck_assert_msg((state[i] & UMHMM_PAGE_TYPE_MASK) == type,
			      "%s: page %zu is in state %#x, not type %#x",
			      what, i, state[i], type);
}

void assert_perm(const unsigned char *state, size_t npages,
		 unsigned char perm)
{
	size_t i;

	for (i = 0; i < npages; i++)
		ck_assert_msg((state[i] & (UMHMM_PAGE_READ | UMHMM_PAGE_WRITE)) ==
			      perm, "page %zu: state 0x%02x, want permission 0x%02x",
			      i, state[i], perm);
}

static void store_each_page(unsigned char *buf, size_t npages,
			    unsigned int seed, checked_access_fn store,
			    const char *event)
{
	size_t i;

	for (i = 0; i < npages; i++)
		store(buf + i * page_size, seed + i, event);
	for (i = 0; i < npages; i++)
		ck_assert_uint_eq(buf[i * page_size], 0x5a);
}

void fault_fresh_pages(size_t npages, unsigned int seed,
		       checked_access_fn store, const char *event)
{
	store_each_page(test_map_anon(npages), npages, seed, store, event);
}

void fault_cow_pages(size_t npages, unsigned int seed,
		     checked_access_fn store, const char *event)
{
	unsigned char *buf = test_map_anon(npages);

	/* A read maps the zero page: the store then breaks COW. */
	ck_assert_int_eq(first_nonzero(buf, npages * page_size), -1);
	store_each_page(buf, npages, seed, store, event);
}

void fault_device_pages(int fd, size_t npages, unsigned int seed,
			checked_access_fn read, const char *event)
{
	unsigned char *buf = test_map_pattern(npages, seed);
	struct umhmm_stats before, after;
	size_t i;

	ck_assert_uint_eq(umhmm_ok(fd, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, 0), npages);
	umhmm_stats(fd, &before);
	for (i = 0; i < npages; i++)
		read(buf + i * page_size + 8, seed + 20 + i, event);
	umhmm_stats(fd, &after);
	ck_assert_uint_eq(after.migrate_to_ram - before.migrate_to_ram,
			  npages);
	ck_assert_pattern(buf, npages * page_size, seed);
}

void kmsg(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int fd, n;

	n = snprintf(buf, sizeof(buf), "umhmm: ");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, buf, strlen(buf)) < 0)
		fprintf(stderr, "kmsg: %s\n", strerror(errno));
	close(fd);
}

/*
 * The test process dies of a signal: tell check where it was (see
 * umhmm_mark()), then die of it. SA_RESETHAND has put the default action
 * back and SA_NODEFER lets raise() deliver it at once.
 */
static void report_mark(int sig)
{
	if (umhmm_mark_file)
		_mark_point(umhmm_mark_file, umhmm_mark_line);
	raise(sig);
}

int run_suite(Suite *s)
{
	/*
	 * Not SIGABRT: glibc aborts from inside malloc() on a corrupt heap, and
	 * _mark_point() allocates, so the handler would wait for the arena
	 * lock for good. A SIGSEGV inside malloc() can do the same; that test
	 * is then reported at its timeout.
	 */
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE };
	struct sigaction sa = {
		.sa_handler = report_mark,
		.sa_flags = SA_RESETHAND | SA_NODEFER,
	};
	SRunner *sr;
	int failed;
	size_t i;

	/* Inherited by the process check forks for every test. */
	for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int write_file(const char *path, const char *value)
{
	ssize_t len = (ssize_t)strlen(value), n;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, value, len);
	n = n < 0 ? -errno : n == len ? 0 : -EIO;
	close(fd);
	return (int)n;
}

static int bind_op(const char *op, int id)
{
	char path[96], name[16];

	snprintf(path, sizeof(path), "/sys/bus/platform/drivers/umhmm/%s", op);
	snprintf(name, sizeof(name), "umhmm.%d", id);
	return write_file(path, name);
}

int umhmm_bind(int id)
{
	return bind_op("bind", id);
}

int umhmm_unbind(int id)
{
	return bind_op("unbind", id);
}

int umhmm_set_owner(int id, int owner)
{
	char path[96], value[16];

	snprintf(path, sizeof(path), "/sys/bus/platform/devices/umhmm.%d/owner",
		 id);
	snprintf(value, sizeof(value), "%d", owner);
	return write_file(path, value);
}

int umhmm_get_owner(int id)
{
	char path[96];
	int owner = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/platform/devices/umhmm.%d/owner",
		 id);
	f = fopen(path, "re");
	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fscanf(f, "%d", &owner), 1);
	fclose(f);
	return owner;
}

/*
 * Per-test-case coverage. When UMHMM_GCOV_OUT names a directory, the
 * gcov counters (CONFIG_GCOV_KERNEL, /sys/kernel/debug/gcov) are reset
 * before each test case and their .gcda files copied afterwards to
 * $UMHMM_GCOV_OUT/<suite>.<tcase>/, so coverage can be attributed to test
 * cases. The fixtures (tcase_begin/tcase_end) are unchecked: they run in
 * the runner process, once around each test case, in the order the cases
 * were added, and they also keep cur_tcase, the case whose tests check
 * forks next, for the timeout timer (arm_timeout_mark()).
 */
#define GCOV_ROOT	"/sys/kernel/debug/gcov"
#define MAX_TCASES	32

static const char *suite_name;
static const char *tcase_names[MAX_TCASES];
static int ntcases, cur_tcase;
static char gcov_dest[512];

/*
 * check ends a test that overruns its timeout with SIGKILL, from its own
 * process, so the location umhmm_mark() keeps in memory would die with
 * the test and check would name the START_TEST line. Half a second before
 * the timeout the test hands the location over itself (SIGALRM, set by the
 * first checked fixture of every test case; a case's own timeout must be
 * set with umhmm_tcase_set_timeout() for the timer to know it). The
 * location is the last assertion that passed by then. The signal reaches
 * only a test within half a second of its timeout: it may cut short a
 * sleep or a poll there (SA_RESTART restarts the rest), and _mark_point()
 * takes check's lock and allocates, so if it lands in a malloc() or in
 * check's own sending the test hangs until the timeout and is reported as
 * timed out.
 */
#define MARK_LEAD_S	0.5

static TCase *tcases[MAX_TCASES];
/* Seconds given to umhmm_tcase_set_timeout(); 0: check's default. */
static double tcase_timeouts[MAX_TCASES];

static double env_seconds(const char *name, double fallback)
{
	const char *s = getenv(name);
	char *end;
	double v;

	if (!s || !*s)
		return fallback;
	v = strtod(s, &end);
	return *end || v < 0 ? fallback : v;
}

static void hand_over_mark(int sig)
{
	(void)sig;
	if (umhmm_mark_file)
		_mark_point(umhmm_mark_file, umhmm_mark_line);
}

static struct sigaction timeout_mark_old;
static bool timeout_mark_armed;

static void arm_timeout_mark(void)
{
	struct sigaction sa = {
		.sa_handler = hand_over_mark,
		.sa_flags = SA_RESTART,
	};
	struct itimerval it = { 0 };
	const char *fork_mode = getenv("CK_FORK");
	double timeout = 0;

	/* Without a fork per test check enforces no timeout. */
	if (fork_mode && !strcmp(fork_mode, "no"))
		return;
	/* The case running, as tcase_begin() and tcase_end() count them. */
	if (cur_tcase < ntcases)
		timeout = tcase_timeouts[cur_tcase];
	if (!timeout)
		timeout = env_seconds("CK_DEFAULT_TIMEOUT", 4);
	timeout *= env_seconds("CK_TIMEOUT_MULTIPLIER", 1);
	if (timeout <= 2 * MARK_LEAD_S)
		return;
	timeout -= MARK_LEAD_S;
	/* Replaces the handler inherited from check's process. */
	sigaction(SIGALRM, &sa, &timeout_mark_old);
	it.it_value.tv_sec = (time_t)timeout;
	it.it_value.tv_usec = (suseconds_t)((timeout - (double)it.it_value.tv_sec) * 1e6);
	setitimer(ITIMER_REAL, &it, NULL);
	timeout_mark_armed = true;
}

/* The test is over: the next one may run in this process. */
static void disarm_timeout_mark(void)
{
	struct itimerval it = { 0 };

	if (!timeout_mark_armed)
		return;
	setitimer(ITIMER_REAL, &it, NULL);
	sigaction(SIGALRM, &timeout_mark_old, NULL);
	timeout_mark_armed = false;
}

/*
 * What a test gives back. run-suites first runs a suite without a fork
 * per test (CK_FORK=no: a forked test costs milliseconds of page faults
 * under UML), so the next test inherits the process: a thread left
 * running, an open file or a signal disposition changed would reach it.
 * The state is taken before a test's setup and compared after its
 * teardown, whether or not check forks, so a test that leaks fails the
 * same way in both modes. Threads, blocked, ignored and caught signals
 * come from /proc/self/status; the handler of each signal the suites
 * catch is compared too, since replacing one handler with another leaves
 * the caught mask as it was. Only the standard signals count: glibc
 * takes two real-time ones for itself when the first thread starts.
 */
#define STANDARD_SIGNALS	0x7fffffffULL	/* bits of signals 1 to 31 */

struct process_state {
	unsigned long long status[4];	/* Threads:, SigBlk:, SigIgn:, SigCgt: */
	int nfds;
	struct sigaction act[6];
};

static const int watched_signals[] = {
	SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGALRM, SIGUSR1,
};
static const char *const status_keys[] = {
	"Threads:", "SigBlk:", "SigIgn:", "SigCgt:",
};
static struct process_state state_before;

static void read_process_state(struct process_state *ps)
{
	char line[256];
	struct dirent *de;
	size_t i;
	FILE *f;
	DIR *d;

	memset(ps, 0, sizeof(*ps));
	f = fopen("/proc/self/status", "re");
	ck_assert_msg(f, "cannot open /proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		for (i = 0; i < 4; i++)
			if (!strncmp(line, status_keys[i],
				     strlen(status_keys[i])))
				ps->status[i] = strtoull(line +
						strlen(status_keys[i]), NULL,
						i ? 16 : 10) &
						(i ? STANDARD_SIGNALS : ~0ULL);
	fclose(f);
	d = opendir("/proc/self/fd");
	ck_assert_msg(d, "cannot open /proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d)))
		ps->nfds += de->d_name[0] != '.';
	closedir(d);
	for (i = 0; i < sizeof(watched_signals) / sizeof(watched_signals[0]); i++)
		sigaction(watched_signals[i], NULL, &ps->act[i]);
}

static void take_process_state(void)
{
	read_process_state(&state_before);
}

/*
 * Not memcmp() of sa_mask: the kernel reports _NSIG bits, and glibc
 * leaves the rest of its larger sigset_t as its stack had it.
 */
static bool same_action(const struct sigaction *a, const struct sigaction *b)
{
	int sig;

	if (a->sa_handler != b->sa_handler)
		return false;
	/* sigaction() adds SA_RESTORER to a default action put back. */
	if (a->sa_handler == SIG_DFL || a->sa_handler == SIG_IGN)
		return true;
	if (a->sa_flags != b->sa_flags)
		return false;
	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(&a->sa_mask, sig) != sigismember(&b->sa_mask, sig))
			return false;
	return true;
}

static void check_process_state(void)
{
	struct process_state now;
	size_t i;
	int ms;

	/*
	 * A thread pthread_join() has waited for can still be listed for a
	 * moment while the kernel finishes its exit: poll, for a second.
	 */
	for (ms = 0;; ms++) {
		read_process_state(&now);
		if (now.status[0] == state_before.status[0] || ms == 1000)
			break;
		usleep(1000);
	}
	for (i = 0; i < 4; i++)
		ck_assert_msg(now.status[i] == state_before.status[i],
			      "the test left the process changed: %s %llx before, %llx after",
			      status_keys[i], state_before.status[i],
			      now.status[i]);
	ck_assert_msg(now.nfds == state_before.nfds,
		      "the test left %d files open (%d before, %d after)",
		      now.nfds - state_before.nfds, state_before.nfds, now.nfds);
	for (i = 0; i < sizeof(watched_signals) / sizeof(watched_signals[0]); i++)
		ck_assert_msg(same_action(&now.act[i], &state_before.act[i]),
			      "the test left the action of signal %d (%s) changed",
			      watched_signals[i], strsignal(watched_signals[i]));
}

void umhmm_tcase_set_timeout(TCase *tc, double seconds)
{
	int i;

	for (i = 0; i < ntcases; i++)
		if (tcases[i] == tc)
			tcase_timeouts[i] = seconds;
	tcase_set_timeout(tc, seconds);
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in, out, ret = 0;
	ssize_t n;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		ret = -errno;
		close(in);
		return ret;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n) {
			ret = -EIO;
			break;
		}
	if (n < 0)
		ret = -errno;
	close(in);
	close(out);
	return ret;
}

static int mkdir_p(char *path)
{
	char *p;

	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(path, 0755) && errno != EEXIST ? -errno : 0;
}

static int copy_gcda(const char *path, const struct stat *st, int type,
		     struct FTW *ftw)
{
	char to[1024], dir[1024];
	size_t len = strlen(path);
	char *slash;

	(void)st;
	(void)ftw;
	if (type != FTW_F || len < 5 || strcmp(path + len - 5, ".gcda"))
		return 0;
	snprintf(to, sizeof(to), "%s%s", gcov_dest,
		 path + strlen(GCOV_ROOT));
	snprintf(dir, sizeof(dir), "%s", to);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (mkdir_p(dir) || copy_file(path, to))
		fprintf(stderr, "umhmm: cannot save %s: %s\n", path,
			strerror(errno));
	return 0;
}

static void gcov_reset(void)
{
	int fd = open(GCOV_ROOT "/reset", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, "1", 1) != 1)
		fprintf(stderr, "umhmm: gcov reset: %s\n", strerror(errno));
	close(fd);
}

static void gcov_save(const char *out, const char *name)
{
	snprintf(gcov_dest, sizeof(gcov_dest), "%s/%s", out, name);
	nftw(GCOV_ROOT, copy_gcda, 16, FTW_PHYS);
}

static void tcase_begin(void)
{
	const char *out = getenv("UMHMM_GCOV_OUT");
	const char *only = getenv("CK_RUN_CASE");
	char boot[512];

	/*
	 * check runs no fixture of a case CK_RUN_CASE leaves out: the case
	 * starting is the next one it selects.
	 */
	while (only && cur_tcase < ntcases && strcmp(only, tcase_names[cur_tcase]))
		cur_tcase++;
	if (!out)
		return;
	/* What ran before the first reset (boot, driver probe) is kept too. */
	snprintf(boot, sizeof(boot), "%s/boot", out);
	if (access(boot, F_OK))
		gcov_save(out, "boot");
	gcov_reset();
}

static void tcase_end(void)
{
	const char *out = getenv("UMHMM_GCOV_OUT");
	int i = cur_tcase++;
	char name[128];

	if (!out || i >= ntcases)
		return;
	snprintf(name, sizeof(name), "%s.%s", suite_name, tcase_names[i]);
	gcov_save(out, name);
}

Suite *umhmm_suite_create(const char *name)
{
	suite_name = name;
	return suite_create(name);
}

TCase *umhmm_tcase_create(const char *name, void (*setup)(void),
			  void (*teardown)(void))
{
	TCase *tc = tcase_create(name);

	if (ntcases >= MAX_TCASES) {
		fprintf(stderr, "umhmm: more than %d test cases\n", MAX_TCASES);
		exit(EXIT_FAILURE);
	}
	tcases[ntcases] = tc;
	tcase_names[ntcases++] = name;
	tcase_add_unchecked_fixture(tc, tcase_begin, tcase_end);
	/* Setups run in this order, teardowns in the reverse one. */
	tcase_add_checked_fixture(tc, take_process_state, check_process_state);
	tcase_add_checked_fixture(tc, arm_timeout_mark, disarm_timeout_mark);
	tcase_add_checked_fixture(tc, setup, teardown);
	return tc;
}

void umhmm_skip_at(const char *func, const char *fmt, ...)
{
	const char *out = getenv("UMHMM_OUT");
	size_t len = strlen(func);
	char reason[256], path[512];
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	/* START_TEST(name) defines name_fn: TAP lines carry name. */
	if (len > 3 && !strcmp(func + len - 3, "_fn"))
		len -= 3;
	printf("# SKIP %.*s: %s\n", (int)len, func, reason);
	fflush(stdout);
	if (!out)
		return;
	/* Named like the binary's TAP file, which run-suites rewrites. */
	snprintf(path, sizeof(path), "%s/%s.skips", out,
		 program_invocation_short_name);
	f = fopen(path, "ae");
	if (!f)
		return;
	fprintf(f, "%.*s\t%s\n", (int)len, func, reason);
	fclose(f);
}
