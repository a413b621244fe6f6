// SPDX-License-Identifier: GPL-2.0
/*
 * umhmm-micro: what one basic operation costs in the kernel this runs on.
 *
 *   umhmm-micro [OUTPUT]
 *
 * make bench runs it on the host and inside UML and prints both, so the
 * loop's figures can be read as "this many page faults, forks and system
 * calls at this price each": under UML's ptrace userspace every fault and
 * system call of a guest process is a round trip between host processes,
 * and these numbers say what that round trip costs on this machine.
 *
 * The output is one line per operation, "name<TAB>median microseconds
 * per operation", on standard output or into OUTPUT.
 *
 *   fault-write     first write to a fresh anonymous page
 *   fault-read      first read of one (maps the zero page, if the kernel
 *                   has one for this mapping)
 *   fault-cow-zero  write after that read (replaces the zero page)
 *   syscall         getppid()
 *   fork            fork(), _exit() in the child, waitpid()
 *   check-case      one empty libcheck test case in check's default fork
 *                   mode, which every umhmm suite uses
 *   check-nofork    the same with CK_FORK=no, for comparison
 *   remap           map one page of a shared memory file at a fixed
 *                   address, write it, unmap it: what UML's host process
 *                   does for a guest page it maps and later drops
 *   remap-2cpu      the same while a second process does it on another
 *                   CPU; only where this process may use two. On a host
 *                   that serialises these changes between its CPUs (seen
 *                   on a virtual machine with pti=on: 28 us alone, 93 us
 *                   with the other CPU busy), two UML instances run no
 *                   faster than one, and JOBS=1 is the better choice.
 */
#define _GNU_SOURCE
#include <check.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * Each price is taken with a batch size that doubles until one batch takes
 * MIN_BATCH_US, so a coarse guest clock (jiffies in an emulated VM) still
 * gives a figure; the median of ROUNDS such batches is printed. The size
 * stops at MAX_BATCH_OPS: a batch's untimed setup can cost far more than
 * its timed part. A host kernel that maps no zero page on a read fault
 * makes fault-cow-zero's writes nearly free (0.07 us), and unbounded
 * doubling then faulted in gigabytes of setup reads for minutes.
 */
#define ROUNDS		5
#define MIN_BATCH_US	50000.0
#define MAX_BATCH_OPS	(1L << 16)

static long page_size;

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Microseconds per operation: batch(n) runs n operations, returns their time. */
static double price(double (*batch)(long n))
{
	double v[ROUNDS];
	long n = 8;

	while (n < MAX_BATCH_OPS && batch(n) < MIN_BATCH_US)
		n *= 2;
	for (int r = 0; r < ROUNDS; r++)
		v[r] = batch(n) / n;
	qsort(v, ROUNDS, sizeof(*v), cmp_double);
	return v[ROUNDS / 2];
}

static char *map_pages(long n)
{
	char *p = mmap(NULL, n * page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("umhmm-micro: mmap");
		exit(1);
	}
	return p;
}

static double fault_write(long n)
{
	char *p = map_pages(n);
	double t = now_us();

	for (long i = 0; i < n; i++)
		p[i * page_size] = 1;
	t = now_us() - t;
	munmap(p, n * page_size);
	return t;
}

/* The volatile read is the access being priced: the compiler must keep it. */
static double fault_read(long n)
{
	char *p = map_pages(n);
	double t = now_us();

	for (long i = 0; i < n; i++)
		(void)*(volatile char *)&p[i * page_size];
	t = now_us() - t;
	munmap(p, n * page_size);
	return t;
}

static double fault_cow_zero(long n)
{
	char *p = map_pages(n);
	double t;

	for (long i = 0; i < n; i++)
		(void)*(volatile char *)&p[i * page_size];
	t = now_us();
	for (long i = 0; i < n; i++)
		p[i * page_size] = 1;
	t = now_us() - t;
	munmap(p, n * page_size);
	return t;
}

static double syscalls(long n)
{
	double t = now_us();

	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return now_us() - t;
}

static double forks(long n)
{
	double t = now_us();

	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("umhmm-micro: fork");
			exit(1);
		}
		if (!pid)
			_exit(0);
		if (waitpid(pid, NULL, 0) != pid) {
			perror("umhmm-micro: waitpid");
			exit(1);
		}
	}
	return now_us() - t;
}

START_TEST(test_empty)
{
	ck_assert_int_ge(_i, 0);
}
END_TEST

static double check_cases(long n, enum fork_status mode)
{
	Suite *s = suite_create("micro");
	TCase *tc = tcase_create("empty");
	SRunner *sr;
	double t;
	int failed;

	tcase_add_loop_test(tc, test_empty, 0, n);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, mode);
	t = now_us();
	srunner_run_all(sr, CK_SILENT);
	t = now_us() - t;
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (failed) {
		fprintf(stderr, "umhmm-micro: %d empty check cases failed\n", failed);
		exit(1);
	}
	return t;
}

static double check_case_forked(long n)
{
	return check_cases(n, CK_FORK);
}

static double check_case_unforked(long n)
{
	return check_cases(n, CK_NOFORK);
}

/* The pages remap() maps, in a memfd, and the reserved range it maps them in. */
#define REMAP_FILE_PAGES	4096
#define REMAP_SLOTS		65536

static int remap_fd = -1;
static char *remap_area;

static void remap_setup(void)
{
	remap_fd = memfd_create("umhmm-micro", 0);
	if (remap_fd < 0 || ftruncate(remap_fd, REMAP_FILE_PAGES * page_size)) {
		perror("umhmm-micro: memfd");
		exit(1);
	}
	remap_area = mmap(NULL, REMAP_SLOTS * page_size, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (remap_area == MAP_FAILED) {
		perror("umhmm-micro: mmap");
		exit(1);
	}
}

/* Scattered pages and slots, as a guest's faults are: no run to merge. */
static void remap_one(unsigned int *seed)
{
	long off = rand_r(seed) % REMAP_FILE_PAGES * page_size;
	char *at = remap_area + rand_r(seed) % REMAP_SLOTS * page_size;
	char *p = mmap(at, page_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_FIXED, remap_fd, off);

	if (p == MAP_FAILED) {
		perror("umhmm-micro: mmap");
		exit(1);
	}
	p[0]++;
	/* Back to PROT_NONE: the slot stays reserved. */
	if (mmap(at, page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED) {
		perror("umhmm-micro: mmap");
		exit(1);
	}
}

static double remaps(long n)
{
	unsigned int seed = 1;
	double t = now_us();

	for (long i = 0; i < n; i++)
		remap_one(&seed);
	return now_us() - t;
}

/*
 * remap's price with a child remapping on another CPU all along, this
 * process pinned to the CPU it is on. Returns -1 where this process may
 * use only one CPU.
 */
static double remap_two_cpus(void)
{
	int self = sched_getcpu(), other = -1;
	cpu_set_t allowed, one;
	double v;
	pid_t pid;

	if (self < 0 || sched_getaffinity(0, sizeof(allowed), &allowed))
		return -1;
	for (int c = 0; c < CPU_SETSIZE && other < 0; c++)
		if (c != self && CPU_ISSET(c, &allowed))
			other = c;
	if (other < 0)
		return -1;
	CPU_ZERO(&one);
	CPU_SET(self, &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		return -1;
	/* The child must not write out a copy of what is buffered. */
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("umhmm-micro: fork");
		exit(1);
	}
	if (!pid) {
		unsigned int seed = 2;

		CPU_ZERO(&one);
		CPU_SET(other, &one);
		if (sched_setaffinity(0, sizeof(one), &one))
			_exit(1);
		for (;;)
			remap_one(&seed);
	}
	v = price(remaps);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	sched_setaffinity(0, sizeof(allowed), &allowed);
	return v;
}

int main(int argc, char **argv)
{
	double v;

	/* It takes no options: "--help" would otherwise become a file. */
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: umhmm-micro [OUTPUT]\n");
		return 2;
	}
	if (argc == 2 && !freopen(argv[1], "w", stdout)) {
		perror(argv[1]);
		return 1;
	}
	page_size = sysconf(_SC_PAGESIZE);
	printf("fault-write\t%.2f\n", price(fault_write));
	printf("fault-read\t%.2f\n", price(fault_read));
	printf("fault-cow-zero\t%.2f\n", price(fault_cow_zero));
	printf("syscall\t%.2f\n", price(syscalls));
	printf("fork\t%.1f\n", price(forks));
	printf("check-case\t%.1f\n", price(check_case_forked));
	printf("check-nofork\t%.1f\n", price(check_case_unforked));
	remap_setup();
	printf("remap\t%.2f\n", price(remaps));
	v = remap_two_cpus();
	if (v >= 0)
		printf("remap-2cpu\t%.2f\n", v);
	return fclose(stdout) ? 1 : 0;
}
