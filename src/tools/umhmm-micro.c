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
 * Each operation is timed over a batch, in ROUNDS rounds; the output is
 * one line per operation, "name<TAB>median microseconds per operation",
 * on standard output or into OUTPUT.
 *
 *   fault-write     first write to a fresh anonymous page
 *   fault-read      first read of one (maps the zero page)
 *   fault-cow-zero  write after that read (replaces the zero page)
 *   syscall         getppid()
 *   fork            fork(), _exit() in the child, waitpid()
 *   check-case      one empty libcheck test case in check's default fork
 *                   mode, which every umhmm suite uses
 *   check-nofork    the same with CK_FORK=no, for comparison
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS		5
#define FAULT_PAGES	2048
#define SYSCALLS	4000
#define FORKS		50
#define CHECK_CASES	50

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

static double median(double *v)
{
	qsort(v, ROUNDS, sizeof(*v), cmp_double);
	return v[ROUNDS / 2];
}

static char *map_pages(void)
{
	char *p = mmap(NULL, FAULT_PAGES * page_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("umhmm-micro: mmap");
		exit(1);
	}
	return p;
}

/* The three fault kinds, one mapping per round. */
static void faults(double *write, double *read, double *cow)
{
	for (int r = 0; r < ROUNDS; r++) {
		char *a = map_pages(), *b = map_pages();
		double t;

		t = now_us();
		for (long i = 0; i < FAULT_PAGES; i++)
			a[i * page_size] = 1;
		write[r] = (now_us() - t) / FAULT_PAGES;

		t = now_us();
		for (long i = 0; i < FAULT_PAGES; i++)
			(void)*(volatile char *)&b[i * page_size];
		read[r] = (now_us() - t) / FAULT_PAGES;

		t = now_us();
		for (long i = 0; i < FAULT_PAGES; i++)
			b[i * page_size] = 1;
		cow[r] = (now_us() - t) / FAULT_PAGES;

		munmap(a, FAULT_PAGES * page_size);
		munmap(b, FAULT_PAGES * page_size);
	}
}

static double syscalls(void)
{
	double v[ROUNDS];

	for (int r = 0; r < ROUNDS; r++) {
		double t = now_us();

		for (int i = 0; i < SYSCALLS; i++)
			syscall(SYS_getppid);
		v[r] = (now_us() - t) / SYSCALLS;
	}
	return median(v);
}

static double forks(void)
{
	double v[ROUNDS];

	for (int r = 0; r < ROUNDS; r++) {
		double t = now_us();

		for (int i = 0; i < FORKS; i++) {
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
		v[r] = (now_us() - t) / FORKS;
	}
	return median(v);
}

START_TEST(test_empty)
{
	ck_assert_int_ge(_i, 0);
}
END_TEST

static double check_cases(enum fork_status mode)
{
	double v[ROUNDS];

	for (int r = 0; r < ROUNDS; r++) {
		Suite *s = suite_create("micro");
		TCase *tc = tcase_create("empty");
		SRunner *sr;
		double t;
		int failed;

		tcase_add_loop_test(tc, test_empty, 0, CHECK_CASES);
		suite_add_tcase(s, tc);
		sr = srunner_create(s);
		srunner_set_fork_status(sr, mode);
		t = now_us();
		srunner_run_all(sr, CK_SILENT);
		v[r] = (now_us() - t) / CHECK_CASES;
		failed = srunner_ntests_failed(sr);
		srunner_free(sr);
		if (failed) {
			fprintf(stderr, "umhmm-micro: %d empty check cases failed\n", failed);
			exit(1);
		}
	}
	return median(v);
}

int main(int argc, char **argv)
{
	double write[ROUNDS], read[ROUNDS], cow[ROUNDS];

	if (argc > 2) {
		fprintf(stderr, "usage: umhmm-micro [OUTPUT]\n");
		return 2;
	}
	if (argc == 2 && !freopen(argv[1], "w", stdout)) {
		perror(argv[1]);
		return 1;
	}
	page_size = sysconf(_SC_PAGESIZE);
	faults(write, read, cow);
	printf("fault-write\t%.2f\n", median(write));
	printf("fault-read\t%.2f\n", median(read));
	printf("fault-cow-zero\t%.2f\n", median(cow));
	printf("syscall\t%.2f\n", syscalls());
	printf("fork\t%.1f\n", forks());
	printf("check-case\t%.1f\n", check_cases(CK_FORK));
	printf("check-nofork\t%.1f\n", check_cases(CK_NOFORK));
	return fclose(stdout) ? 1 : 0;
}
