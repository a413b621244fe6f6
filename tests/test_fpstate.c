// SPDX-License-Identifier: GPL-2.0
/*
 * fpstate: a user thread's vector registers and MXCSR survive every way
 * the kernel takes the thread off the CPU: a fault on a fresh page, a
 * copy-on-write fault, a CPU fault on a device private page (which runs
 * the driver's migrate_to_ram()), a system call, a signal whose handler
 * loads other values, a fork() (in parent and child), and a switch to
 * another thread of the same process.
 *
 * Why: UML runs a user process in a host process that it drives with
 * ptrace, and saves and restores the FP state around every stop of it
 * (uml/patches/6.12/0011 and 0012 changed where and when).  A lost
 * restore does not crash on the spot: it corrupts a memcpy() or a
 * computation later, far from its cause.  Here the registers are loaded,
 * the event happens in the same asm statement, and every byte is
 * compared at once.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "umhmm_test.h"

#define NREGS		16
#define REG_BYTES	32	/* a ymm register; SSE uses the first 16 */
#define ROUNDS		16
/* Round toward zero, all exceptions masked: not the default 0x1f80. */
#define TEST_MXCSR	0x7f80u

struct vec_state {
	unsigned char regs[NREGS * REG_BYTES];
	uint32_t mxcsr;
};

static int fd0;

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
}

#ifdef __x86_64__

static int have_avx;

static void fp_setup(void)
{
	setup();
	__builtin_cpu_init();
	have_avx = __builtin_cpu_supports("avx");
}

#define VEC_LOAD(insn, r, off)	insn " " #off "(%[in]), %%" r "\n\t"
#define VEC_STORE(insn, r, off)	insn " %%" r ", " #off "(%[out])\n\t"
#define VEC_ALL(op, insn, x)					\
	op(insn, x "0", 0) op(insn, x "1", 32)			\
	op(insn, x "2", 64) op(insn, x "3", 96)			\
	op(insn, x "4", 128) op(insn, x "5", 160)		\
	op(insn, x "6", 192) op(insn, x "7", 224)		\
	op(insn, x "8", 256) op(insn, x "9", 288)		\
	op(insn, x "10", 320) op(insn, x "11", 352)		\
	op(insn, x "12", 384) op(insn, x "13", 416)		\
	op(insn, x "14", 448) op(insn, x "15", 480)
#define VEC_CLOBBERS						\
	"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",	\
	"xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",	\
	"xmm13", "xmm14", "xmm15", "memory"

/*
 * Loads @in, makes the system call @nr (when not -1) and touches @addr
 * (when not NULL: a byte store when @write, else a byte load), then
 * stores the registers into @out.  One asm statement: the compiler cannot
 * use a vector register in between.
 */
#define VEC_AROUND(load, store, x)					\
	__asm__ volatile(						\
		"ldmxcsr %[mxcsr_in]\n\t"				\
		VEC_ALL(VEC_LOAD, load, x)				\
		"cmpq $-1, %%rax\n\t"					\
		"je 1f\n\t"						\
		"syscall\n"						\
		"1:\n\t"						\
		"testq %[addr], %[addr]\n\t"				\
		"jz 3f\n\t"						\
		"testl %[write], %[write]\n\t"				\
		"jz 2f\n\t"						\
		"movb $0x5a, (%[addr])\n\t"				\
		"jmp 3f\n"						\
		"2:\n\t"						\
		"movzbl (%[addr]), %%ecx\n"				\
		"3:\n\t"						\
		VEC_ALL(VEC_STORE, store, x)				\
		"stmxcsr %[mxcsr_out]\n\t"				\
		"ldmxcsr %[mxcsr_saved]\n\t"				\
		: "+a" (ret), [mxcsr_out] "=m" (out->mxcsr)		\
		: [in] "r" (in->regs), [out] "r" (out->regs),		\
		  [mxcsr_in] "m" (in->mxcsr),				\
		  [mxcsr_saved] "m" (saved_mxcsr),			\
		  [addr] "r" (addr), [write] "r" (write),		\
		  "D" (a1), "S" (a2)					\
		: "rcx", "r11", "cc", VEC_CLOBBERS)

static long vec_around(const struct vec_state *in, struct vec_state *out,
		       long nr, long a1, long a2, volatile unsigned char *addr,
		       int write)
{
	uint32_t saved_mxcsr;
	long ret = nr;

	__asm__ volatile("stmxcsr %0" : "=m" (saved_mxcsr));
	if (have_avx)
		VEC_AROUND("vmovdqu", "vmovdqu", "ymm");
	else
		VEC_AROUND("movdqu", "movdqu", "xmm");
	return ret;
}

/* The register bytes this CPU has: ymm with AVX, else the xmm halves. */
static void vec_fill(struct vec_state *s, unsigned int seed)
{
	size_t i;

	for (i = 0; i < sizeof(s->regs); i++)
		s->regs[i] = pattern_byte(seed, i);
	s->mxcsr = TEST_MXCSR;
}

/*
 * The first register that differs in the bytes this CPU has (ymm with
 * AVX, else the xmm halves), NREGS for MXCSR, or -1 when none does.
 */
static int vec_first_diff(const struct vec_state *a,
			  const struct vec_state *b)
{
	size_t bytes = have_avx ? REG_BYTES : 16;
	int r;

	for (r = 0; r < NREGS; r++)
		if (memcmp(a->regs + r * REG_BYTES, b->regs + r * REG_BYTES,
			   bytes))
			return r;
	return a->mxcsr != b->mxcsr ? NREGS : -1;
}

static int vec_equal(const struct vec_state *a, const struct vec_state *b)
{
	return vec_first_diff(a, b) == -1;
}

static void assert_vec_equal(const struct vec_state *want,
			     const struct vec_state *got, const char *event)
{
	int r = vec_first_diff(want, got);

	ck_assert_msg(r != NREGS, "%s: MXCSR %#x, want %#x", event,
		      got->mxcsr, want->mxcsr);
	ck_assert_msg(r == -1, "%s: %cmm%d changed", event,
		      have_avx ? 'y' : 'x', r);
}

/* Loads a pattern, touches @addr, checks the registers came back. */
static void around_access(volatile unsigned char *addr, int write,
			  unsigned int seed, const char *event)
{
	struct vec_state in, out;

	vec_fill(&in, seed);
	memset(&out, 0, sizeof(out));
	vec_around(&in, &out, -1, 0, 0, addr, write);
	assert_vec_equal(&in, &out, event);
}

static void vec_store(unsigned char *addr, unsigned int seed,
		      const char *event)
{
	around_access(addr, 1, seed, event);
}

static void vec_load(unsigned char *addr, unsigned int seed,
		     const char *event)
{
	around_access(addr, 0, seed, event);
}

START_TEST(test_fresh_page_fault)
{
	fault_fresh_pages(ROUNDS, 900, vec_store,
			  "write fault on a fresh page");
}
END_TEST

START_TEST(test_cow_fault)
{
	fault_cow_pages(ROUNDS, 920, vec_store, "copy-on-write fault");
}
END_TEST

START_TEST(test_device_page_fault)
{
	fault_device_pages(fd0, ROUNDS, 940, vec_load,
			   "CPU fault on a device private page");
}
END_TEST

START_TEST(test_syscall)
{
	struct vec_state in, out;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		vec_fill(&in, 980 + i);
		ck_assert_int_eq(vec_around(&in, &out, SYS_getppid, 0, 0,
					    NULL, 0), getppid());
		assert_vec_equal(&in, &out, "getppid()");
	}
}
END_TEST

static volatile sig_atomic_t handled;

/* Leaves other values and another MXCSR: sigreturn must undo both. */
static void clobber_handler(int sig)
{
	struct vec_state other, out;
	uint32_t round_down = 0x3f80;

	(void)sig;
	vec_fill(&other, 999);
	vec_around(&other, &out, -1, 0, 0, NULL, 0);
	__asm__ volatile("ldmxcsr %0" : : "m" (round_down));
	handled++;
}

START_TEST(test_signal)
{
	struct sigaction sa = { .sa_handler = clobber_handler };
	struct vec_state in, out;
	int i;

	test_sigaction(SIGUSR1, &sa);
	for (i = 0; i < ROUNDS; i++) {
		handled = 0;
		vec_fill(&in, 1000 + i);
		/* The handler runs on the way back from kill(). */
		ck_assert_int_eq(vec_around(&in, &out, SYS_kill, getpid(),
					    SIGUSR1, NULL, 0), 0);
		ck_assert_int_eq(handled, 1);
		assert_vec_equal(&in, &out, "a signal handler");
	}
}
END_TEST

START_TEST(test_fork)
{
	struct vec_state in, out;
	long pid;

	vec_fill(&in, 1300);
	pid = vec_around(&in, &out, SYS_fork, 0, 0, NULL, 0);
	if (pid == 0)
		_exit(vec_equal(&in, &out) ? 0 : 1);
	ck_assert_int_gt(pid, 0);
	assert_vec_equal(&in, &out, "fork(), in the parent");
	/* The child exits 1 when its registers differ. */
	wait_child_ok(pid);
}
END_TEST

struct yielder {
	pthread_barrier_t *start;
	unsigned int seed;
	int id;
	int *last;		/* the id of the thread that last yielded */
	int others;		/* yields the other thread ran across */
	int bad;		/* the round a register came back wrong, or -1 */
};

/* Yields with its own values loaded, so that the other thread runs. */
static void *yield_loop(void *arg)
{
	struct yielder *y = arg;
	struct vec_state in, out;
	int i;

	pthread_barrier_wait(y->start);
	for (i = 0; i < ROUNDS * 4; i++) {
		vec_fill(&in, y->seed + i);
		__atomic_store_n(y->last, y->id, __ATOMIC_RELAXED);
		vec_around(&in, &out, SYS_sched_yield, 0, 0, NULL, 0);
		if (__atomic_load_n(y->last, __ATOMIC_RELAXED) != y->id)
			y->others++;
		if (!vec_equal(&in, &out)) {
			y->bad = i;
			break;
		}
	}
	return NULL;
}

START_TEST(test_thread_switch)
{
	pthread_barrier_t start;
	int last = -1;
	struct yielder y[2] = {
		{ .start = &start, .seed = 1100, .id = 0, .last = &last,
		  .bad = -1 },
		{ .start = &start, .seed = 1200, .id = 1, .last = &last,
		  .bad = -1 },
	};
	pthread_t t;

	ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, yield_loop, &y[1]), 0);
	yield_loop(&y[0]);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	pthread_barrier_destroy(&start);
	ck_assert_msg(y[0].bad == -1, "thread 0: registers changed in round %d",
		      y[0].bad);
	ck_assert_msg(y[1].bad == -1, "thread 1: registers changed in round %d",
		      y[1].bad);
	/* Each thread ran while the other was inside its yield. */
	ck_assert_msg(y[0].others > 0 && y[1].others > 0,
		      "no switch between the threads: %d and %d of %d yields",
		      y[0].others, y[1].others, ROUNDS * 4);
}
END_TEST

#else /* !__x86_64__ */

static void fp_setup(void)
{
	setup();
}

#define SKIP_TEST(name) \
	UMHMM_SKIP_TEST(name, "the register checks are x86_64 asm")
SKIP_TEST(test_fresh_page_fault)
SKIP_TEST(test_cow_fault)
SKIP_TEST(test_device_page_fault)
SKIP_TEST(test_syscall)
SKIP_TEST(test_signal)
SKIP_TEST(test_fork)
SKIP_TEST(test_thread_switch)

#endif

static Suite *fpstate_suite(void)
{
	Suite *s = umhmm_suite_create("fpstate");
	TCase *faults = umhmm_tcase_create("faults", fp_setup, umhmm_teardown);
	TCase *switches = umhmm_tcase_create("switches", fp_setup,
					     umhmm_teardown);

	tcase_add_test(faults, test_fresh_page_fault);
	tcase_add_test(faults, test_cow_fault);
	tcase_add_test(faults, test_device_page_fault);
	suite_add_tcase(s, faults);

	tcase_add_test(switches, test_syscall);
	tcase_add_test(switches, test_signal);
	tcase_add_test(switches, test_fork);
	tcase_add_test(switches, test_thread_switch);
	suite_add_tcase(s, switches);
	return s;
}

int main(void)
{
	return run_suite(fpstate_suite());
}
