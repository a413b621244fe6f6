// SPDX-License-Identifier: GPL-2.0
/*
 * umhmm-faultsweep: fails every allocation of each HMM operation once, in
 * turn, the way syzkaller does it: before step n of an operation, n goes
 * to /proc/thread-self/fail-nth, so the n-th allocation this thread makes
 * in the kernel (slab or page allocator: failslab, fail_page_alloc) fails.
 * n = 1, 2, 3, ... until the operation completes without reaching an n-th
 * allocation. Needs CONFIG_FAULT_INJECTION, FAILSLAB, FAIL_PAGE_ALLOC and
 * FAULT_INJECTION_DEBUG_FS (FLAVOR=debug).
 *
 *   umhmm-faultsweep [MAX_STEPS]      (default 2000 steps per operation)
 *
 * The operations: UMHMM_IOC_MIGRATE_TO_DEV, MIGRATE_TO_SYS and EVICT; a
 * migration to a device whose memory is all in use (it grows by a chunk:
 * devm_memremap_pages()); binding the device (the probe remaps the first
 * chunk); a CPU fault on a device page (migrate_to_ram());
 * UMHMM_IOC_READ through hmm_range_fault() on pages not present yet and on
 * pages of another device (faulted back to system memory);
 * UMHMM_IOC_EXCLUSIVE (make_device_exclusive(), then the driver records
 * each page under the lock its invalidate callback takes: under lockdep,
 * an allocation there that may reclaim is a reported deadlock, as reclaim
 * can invalidate the range). After every step: the error is 0 or one the
 * ABI documents, the data reads back unchanged, byte for byte, whether the
 * operation failed or not, an exclusive grab holds every page it counts
 * as done (on success all) until the CPU reads them back, and once the
 * buffer is unmapped every device page handed out was freed (driver
 * counters). A kernel splat fails the surrounding run (scripts/run.sh
 * scans the console), and names the operation that was running.
 *
 * Each step is announced in the kernel log ("umhmm: sweep OP step N") and
 * closed with its outcome ("umhmm: sweep OP step N end injected=I
 * err=E"); with the failslab and fail_page_alloc "verbose" knobs at 2 the
 * kernel prints the stack of each injected failure between the two, which
 * scripts/faultsweep.sh turns into the table of allocation sites hit.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "umhmm.h"

#define NPAGES		16
#define FI_DIR		"/sys/kernel/debug"
#define DRV_DIR		"/sys/bus/platform/drivers/umhmm"

static long page;
static int fd[2] = { -1, -1 };
static int nth_fd = -1;
static int failures;
static unsigned long max_steps = 2000;

/* Outcome of one step, for the operation's summary line. */
struct tally {
	unsigned long steps, injected, ok, partial, sigbus;
	unsigned long err[256];
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("FAIL: ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
	failures++;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("umhmm-faultsweep: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void kmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void kmsg(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int k, n;

	n = snprintf(buf, sizeof(buf), "umhmm: ");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	k = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (k < 0)
		die("/dev/kmsg: %s", strerror(errno));
	if (write(k, buf, strlen(buf)) < 0)
		die("/dev/kmsg: %s", strerror(errno));
	close(k);
}

static int write_file(const char *path, const char *value)
{
	ssize_t n;
	int f;

	f = open(path, O_WRONLY | O_CLOEXEC);
	if (f < 0)
		return -errno;
	n = write(f, value, strlen(value));
	n = n < 0 ? -errno : 0;
	close(f);
	return (int)n;
}

static void knob(const char *attr, const char *name, const char *value)
{
	char path[128];
	int ret;

	snprintf(path, sizeof(path), FI_DIR "/%s/%s", attr, name);
	ret = write_file(path, value);
	if (ret)
		die("%s: %s (FLAVOR=debug has FAILSLAB, FAIL_PAGE_ALLOC and FAULT_INJECTION_DEBUG_FS)",
		    path, strerror(-ret));
}

/*
 * Both injectors consulted for every allocation (not only the non-sleeping
 * order > 0 ones they default to), never at random (probability 0: only
 * fail-nth fails), each failure with its stack, none rate-limited away.
 */
static void setup_injection(void)
{
	static const char *const attrs[] = { "failslab", "fail_page_alloc" };
	unsigned int i;

	for (i = 0; i < 2; i++) {
		knob(attrs[i], "probability", "0");
		knob(attrs[i], "ignore-gfp-wait", "N");
		knob(attrs[i], "verbose", "2");
		knob(attrs[i], "verbose_ratelimit_interval_ms", "0");
	}
	knob("fail_page_alloc", "ignore-gfp-highmem", "N");
	knob("fail_page_alloc", "min-order", "0");

	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (nth_fd < 0)
		die("/proc/thread-self/fail-nth: %s (needs CONFIG_FAULT_INJECTION)",
		    strerror(errno));
}

/* No allocation between these two calls but the operation's own. */
static void nth_set(unsigned long n)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%lu", n);

	if (pwrite(nth_fd, buf, len, 0) != len)
		die("fail-nth: %s", strerror(errno));
}

/* 1 when the n-th allocation was reached (and failed), then disarms. */
static int nth_fired(void)
{
	char buf[32] = "";
	ssize_t n;

	n = pread(nth_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		die("fail-nth: %s", n < 0 ? strerror(errno) : "empty");
	nth_set(0);
	return strtoul(buf, NULL, 10) == 0;
}

static int dev_open(int id)
{
	char path[32];
	int f;

	snprintf(path, sizeof(path), "/dev/umhmm%d", id);
	f = open(path, O_RDWR | O_CLOEXEC);
	if (f < 0)
		die("%s: %s", path, strerror(errno));
	return f;
}

static int64_t in_use(int id)
{
	struct umhmm_stats s = { .size = sizeof(s) };
	int f = dev_open(id);

	if (ioctl(f, UMHMM_IOC_STATS, &s))
		die("stats: %s", strerror(errno));
	close(f);
	if (s.pages_allocated - s.pages_freed != s.pages_total - s.pages_free)
		fail("umhmm%d: counters disagree: %llu allocated - %llu freed != %llu - %llu free",
		     id, (unsigned long long)s.pages_allocated,
		     (unsigned long long)s.pages_freed,
		     (unsigned long long)s.pages_total,
		     (unsigned long long)s.pages_free);
	return (int64_t)(s.pages_allocated - s.pages_freed);
}

static unsigned long free_pages(int id)
{
	struct umhmm_stats s = { .size = sizeof(s) };

	if (ioctl(fd[id], UMHMM_IOC_STATS, &s))
		die("stats: %s", strerror(errno));
	return (unsigned long)s.pages_free;
}

static int range_ioctl(int f, unsigned long req, void *addr, uint64_t n,
		       void *ptr, struct umhmm_range *out)
{
	struct umhmm_range r = {
		.size = sizeof(r),
		.addr = (uintptr_t)addr,
		.npages = n,
		.ptr = (uintptr_t)ptr,
	};
	int ret;

	ret = ioctl(f, req, &r);
	if (out)
		*out = r;
	return ret < 0 ? errno : 0;
}

static int documented(int err)
{
	switch (err) {
	case 0: case EINVAL: case EFAULT: case ENOTTY: case EPERM: case EBUSY:
	case ENOMEM: case ENODEV: case ESRCH: case EAGAIN:
		return 1;
	}
	return 0;
}

static unsigned char pattern(unsigned int seed, size_t off)
{
	return (unsigned char)((off * 7) ^ (off >> 12) ^ (seed * 131) ^ 0x5a);
}

static unsigned char *map_pattern(unsigned int seed)
{
	size_t i, size = NPAGES * page;
	unsigned char *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	for (i = 0; i < size; i++)
		p[i] = pattern(seed, i);
	return p;
}

/* Every byte, through the CPU (device pages fault back on the way). */
static void check_data(const char *op, unsigned long n,
		       const unsigned char *p, unsigned int seed)
{
	size_t i, size = NPAGES * page;

	for (i = 0; i < size; i++) {
		if (p[i] != pattern(seed, i)) {
			fail("%s step %lu: byte %zu is %#x, not %#x", op, n, i,
			     p[i], pattern(seed, i));
			return;
		}
	}
}

/* Pages the device holds exclusive in [p, p + NPAGES). */
static uint64_t exclusive_count(void *p)
{
	struct umhmm_range r;
	int err = range_ioctl(fd[0], UMHMM_IOC_CHECK_EXCLUSIVE, p, NPAGES,
			      NULL, &r);

	if (err)
		die("CHECK_EXCLUSIVE: %s", strerror(err));
	return r.done;
}

static void migrate_ok(int f, unsigned long req, void *p, const char *what)
{
	struct umhmm_range r;
	int err = range_ioctl(f, req, p, NPAGES, NULL, &r);

	if (err || r.done != NPAGES)
		die("%s: %s, %llu of %d pages", what, strerror(err),
		    (unsigned long long)r.done, NPAGES);
}

static void rebind(int id)
{
	char name[16];
	int ret;

	if (fd[id] >= 0)
		close(fd[id]);
	fd[id] = -1;
	snprintf(name, sizeof(name), "umhmm.%d", id);
	write_file(DRV_DIR "/unbind", name);
	ret = write_file(DRV_DIR "/bind", name);
	if (ret)
		die("bind %s: %s", name, strerror(-ret));
	fd[id] = dev_open(id);
}

static sigjmp_buf fault_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

/* Reads a byte of every page: 0, or -1 when that raised SIGBUS. */
static __attribute__((noinline)) int touch(const unsigned char *p)
{
	volatile unsigned char sink = 0;
	int i;

	if (sigsetjmp(fault_jmp, 1))
		return -1;
	for (i = 0; i < NPAGES; i++)
		sink += p[i * page];
	(void)sink;
	return 0;
}

enum op {
	OP_MIGRATE_TO_DEV, OP_MIGRATE_TO_SYS, OP_EVICT, OP_CHUNK_GROWTH, OP_BIND,
	OP_CPU_FAULT, OP_READ_ABSENT, OP_READ_REMOTE, OP_EXCLUSIVE, NR_OPS
};

static const char *const op_name[NR_OPS] = {
	"migrate_to_dev", "migrate_to_sys", "evict", "chunk_growth", "bind",
	"cpu_fault", "read_absent", "read_remote", "exclusive",
};

/*
 * Operation op under fail-nth = n, then its checks. Returns the error (0,
 * an errno, -1 for SIGBUS); sets *fired when the n-th allocation was
 * reached (and failed).
 */
static int step(enum op op, unsigned long n, struct tally *t, int *fired)
{
	static unsigned char out[NPAGES * 4096 * 4];
	unsigned int seed = (unsigned int)(op * 1000 + n);
	unsigned char *p = NULL, *filler = NULL;
	unsigned long nfill = 0;
	struct umhmm_range r = { 0 };
	int64_t base0, base1;
	uint64_t held;
	int err = 0, i, bind_fd = -1;
	uint64_t evicted;
	char name[] = "umhmm.0";

	if ((size_t)NPAGES * page > sizeof(out))
		die("page size %ld too large", page);

	/* Set up without injection. */
	if (op == OP_CHUNK_GROWTH) {
		/* A fresh device whose memory is all in use: the next page
		 * needs a new chunk (devm_memremap_pages()).
		 */
		rebind(0);
		nfill = free_pages(0);
		filler = mmap(NULL, nfill * page, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (filler == MAP_FAILED)
			die("mmap: %s", strerror(errno));
		if (range_ioctl(fd[0], UMHMM_IOC_MIGRATE_TO_DEV, filler, nfill,
				NULL, &r) || r.done != nfill || free_pages(0))
			die("cannot fill the device: %llu of %lu pages",
			    (unsigned long long)r.done, nfill);
		memset(&r, 0, sizeof(r));
	}
	base0 = in_use(0);
	base1 = in_use(1);
	if (op == OP_BIND) {
		close(fd[0]);
		fd[0] = -1;
		write_file(DRV_DIR "/unbind", name);
		bind_fd = open(DRV_DIR "/bind", O_WRONLY | O_CLOEXEC);
		if (bind_fd < 0)
			die("bind: %s", strerror(errno));
	}
	if (op != OP_BIND)
		p = map_pattern(seed);
	switch (op) {
	case OP_MIGRATE_TO_SYS:
	case OP_EVICT:
	case OP_CPU_FAULT:
		migrate_ok(fd[0], UMHMM_IOC_MIGRATE_TO_DEV, p, "setup");
		break;
	case OP_READ_REMOTE:
		migrate_ok(fd[1], UMHMM_IOC_MIGRATE_TO_DEV, p, "setup");
		break;
	case OP_READ_ABSENT:
		/* Not present: hmm_range_fault() faults every page in. */
		if (madvise(p, NPAGES * page, MADV_DONTNEED))
			die("madvise: %s", strerror(errno));
		break;
	default:
		break;
	}
	memset(out, 0, sizeof(out));

	kmsg("sweep %s step %lu", op_name[op], n);
	nth_set(n);
	switch (op) {
	case OP_MIGRATE_TO_DEV:
	case OP_CHUNK_GROWTH:
		err = range_ioctl(fd[0], UMHMM_IOC_MIGRATE_TO_DEV, p, NPAGES,
				  NULL, &r);
		break;
	case OP_MIGRATE_TO_SYS:
		err = range_ioctl(fd[0], UMHMM_IOC_MIGRATE_TO_SYS, p, NPAGES,
				  NULL, &r);
		break;
	case OP_EVICT:
		err = ioctl(fd[0], UMHMM_IOC_EVICT, &evicted) ? errno : 0;
		r.done = err ? 0 : evicted;
		break;
	case OP_BIND:
		err = write(bind_fd, name, strlen(name)) < 0 ? errno : 0;
		r.done = NPAGES;
		break;
	case OP_CPU_FAULT:
		err = touch(p);
		r.done = err ? 0 : NPAGES;
		break;
	case OP_READ_ABSENT:
	case OP_READ_REMOTE:
		err = range_ioctl(fd[0], UMHMM_IOC_READ, p, NPAGES, out, &r);
		break;
	case OP_EXCLUSIVE:
		err = range_ioctl(fd[0], UMHMM_IOC_EXCLUSIVE, p, NPAGES, out,
				  &r);
		break;
	default:
		break;
	}
	*fired = nth_fired();
	kmsg("sweep %s step %lu end injected=%d err=%d done=%llu", op_name[op],
	     n, *fired, err, (unsigned long long)r.done);

	t->steps++;
	if (err > 0 && !documented(err))
		fail("%s step %lu: undocumented error %d (%s)", op_name[op], n,
		     err, strerror(err));
	if (!*fired) {
		/* The last step: nothing failed, so everything must work. */
		if (err || (op != OP_EVICT && r.done != NPAGES))
			fail("%s step %lu: error %d, %llu of %d pages with no failure injected",
			     op_name[op], n, err, (unsigned long long)r.done,
			     NPAGES);
	} else if (err == -1) {
		t->injected++;
		t->sigbus++;
	} else if (err) {
		t->injected++;
		t->err[err & 0xff]++;
	} else if (op != OP_EVICT && r.done < NPAGES) {
		t->injected++;
		t->partial++;
	} else {
		t->injected++;
		t->ok++;
	}

	/*
	 * Data: unchanged, failed or not; a READ or an exclusive grab returns
	 * it. A grab, failed or not, holds the pages it counts as done (all of
	 * them when it succeeded) until the CPU touches them again.
	 */
	if (p) {
		if (op == OP_EXCLUSIVE) {
			held = exclusive_count(p);
			if (held != r.done)
				fail("%s step %lu: %llu pages held exclusive after the grab, %llu done",
				     op_name[op], n, (unsigned long long)held,
				     (unsigned long long)r.done);
		}
		if ((op == OP_READ_ABSENT || op == OP_READ_REMOTE ||
		     op == OP_EXCLUSIVE) && !err && r.done == NPAGES) {
			for (i = 0; i < NPAGES * page; i++) {
				unsigned char want = op == OP_READ_ABSENT ?
					0 : pattern(seed, i);
				if (out[i] != want) {
					fail("%s step %lu: READ byte %d is %#x, not %#x",
					     op_name[op], n, i, out[i], want);
					break;
				}
			}
		}
		if (op == OP_READ_ABSENT) {
			for (i = 0; i < NPAGES * page; i++)
				if (p[i]) {
					fail("%s step %lu: byte %d of an untouched page is %#x",
					     op_name[op], n, i, p[i]);
					break;
				}
		} else {
			check_data(op_name[op], n, p, seed);
		}
		/* The CPU's accesses ended every exclusive hold. */
		held = op == OP_EXCLUSIVE ? exclusive_count(p) : 0;
		if (held)
			fail("%s step %lu: %llu pages still held exclusive after the CPU read them",
			     op_name[op], n, (unsigned long long)held);
		munmap(p, NPAGES * page);
	}
	if (op == OP_BIND) {
		close(bind_fd);
		/* A failed probe leaves it unbound; a good one bound. */
		write_file(DRV_DIR "/unbind", name);
		rebind(0);
	}
	if (in_use(0) != base0 || in_use(1) != base1)
		fail("%s step %lu: device pages in use %lld/%lld after, %lld/%lld before",
		     op_name[op], n, (long long)in_use(0), (long long)in_use(1),
		     (long long)base0, (long long)base1);
	if (filler)
		munmap(filler, nfill * page);
	return err;
}

static void sweep(enum op op)
{
	struct tally t;
	unsigned long n;
	int fired = 1, e;

	memset(&t, 0, sizeof(t));
	/* RUNNING_MARKER (scripts/lib.sh): a splat names the operation. */
	kmsg("running faultsweep %s", op_name[op]);
	for (n = 1; fired; n++) {
		if (n > max_steps) {
			fail("%s: still failing allocations after %lu steps",
			     op_name[op], max_steps);
			break;
		}
		step(op, n, &t, &fired);
	}
	printf("%-15s %4lu allocations failed: %lu completed anyway, %lu partly (done < %d), %lu SIGBUS",
	       op_name[op], t.injected, t.ok, t.partial, NPAGES, t.sigbus);
	for (e = 1; e < 256; e++)
		if (t.err[e])
			printf(", %lu %s", t.err[e], strerror(e));
	printf("\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int op;

	if (argc > 2)
		die("usage: umhmm-faultsweep [MAX_STEPS]");
	if (argc == 2) {
		char *end;

		max_steps = strtoul(argv[1], &end, 10);
		if (*end || !max_steps)
			die("MAX_STEPS must be a positive number, not '%s'",
			    argv[1]);
	}
	page = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigaction(SIGBUS, &sa, NULL);

	fd[0] = dev_open(0);
	fd[1] = dev_open(1);
	setup_injection();

	for (op = 0; op < NR_OPS; op++)
		sweep(op);

	if (failures) {
		printf("%d check(s) failed\n", failures);
		return 1;
	}
	printf("every step passed its checks\n");
	return 0;
}
