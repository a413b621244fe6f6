// SPDX-License-Identifier: GPL-2.0
/*
 * gpregs: a user thread's general registers and arithmetic flags survive
 * a page fault (on a fresh page, a copy-on-write fault, a CPU fault on a
 * device private page), a system call made right after a fault, and a
 * fault the kernel turns into a SIGSEGV whose handler fixes the page;
 * that SIGSEGV's siginfo tells a store to a read-only page (SEGV_ACCERR)
 * from one to no mapping (SEGV_MAPERR) and gives the address.
 *
 * Why: UML finishes a page fault by letting the host process return from
 * its SIGSEGV handler, whose signal frame holds the registers the thread
 * faulted with, instead of writing them back with ptrace
 * (uml/patches/6.12/0014); the next system call then stops the process
 * through a seccomp filter rather than PTRACE_SYSEMU.  A register the
 * return path got wrong shows up far from its cause, so every register
 * but rsp is loaded with a known value, the fault happens in the same asm
 * statement, and every register is compared at once.  The siginfo of a
 * SIGSEGV for the task is UML's to build from the fault the stub saw, not
 * the host's (uml/patches/6.12/0018 stops reading the host's).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "umhmm_test.h"

#define ROUNDS		16

#ifdef __x86_64__

/* rsp is the one register left out: the asm needs its stack. */
enum gp_reg {
	GP_RAX, GP_RBX, GP_RCX, GP_RDX, GP_RSI, GP_RDI, GP_RBP,
	GP_R8, GP_R9, GP_R10, GP_R11, GP_R12, GP_R13, GP_R14, GP_R15,
	GP_NREGS
};

static const char *const gp_name[GP_NREGS] = {
	"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

struct gp_state {
	uint64_t r[GP_NREGS];
	uint64_t flags;
};

/* CF, PF, AF, ZF, SF, DF and OF: all set going in, all must come back. */
#define TEST_FLAGS	0xcd5ul

/*
 * Static, so that the asm reaches them without a base register: it
 * loads every general register.  The access goes through rdi, whose
 * value going in is the address.
 */
static struct gp_state gp_in, gp_out;
static uint64_t gp_saved_rbp, gp_scratch;

/*
 * 128 bytes below rsp may hold the compiler's data (the red zone): the
 * flags go through the stack below that.  rbp may be the frame pointer,
 * so it is saved and restored by hand instead of being clobbered.
 */
#define GP_AROUND(event)						\
	__asm__ volatile(						\
		"lea -128(%%rsp), %%rsp\n\t"				\
		"movq %%rbp, %[saved]\n\t"				\
		"pushq 120+%[in]\n\t"					\
		"popfq\n\t"						\
		"movq 0+%[in], %%rax\n\t"				\
		"movq 8+%[in], %%rbx\n\t"				\
		"movq 16+%[in], %%rcx\n\t"				\
		"movq 24+%[in], %%rdx\n\t"				\
		"movq 32+%[in], %%rsi\n\t"				\
		"movq 40+%[in], %%rdi\n\t"				\
		"movq 48+%[in], %%rbp\n\t"				\
		"movq 56+%[in], %%r8\n\t"				\
		"movq 64+%[in], %%r9\n\t"				\
		"movq 72+%[in], %%r10\n\t"				\
		"movq 80+%[in], %%r11\n\t"				\
		"movq 88+%[in], %%r12\n\t"				\
		"movq 96+%[in], %%r13\n\t"				\
		"movq 104+%[in], %%r14\n\t"				\
		"movq 112+%[in], %%r15\n\t"				\
		event							\
		"movq %%rax, 0+%[out]\n\t"				\
		"movq %%rbx, 8+%[out]\n\t"				\
		"movq %%rcx, 16+%[out]\n\t"				\
		"movq %%rdx, 24+%[out]\n\t"				\
		"movq %%rsi, 32+%[out]\n\t"				\
		"movq %%rdi, 40+%[out]\n\t"				\
		"movq %%rbp, 48+%[out]\n\t"				\
		"movq %%r8, 56+%[out]\n\t"				\
		"movq %%r9, 64+%[out]\n\t"				\
		"movq %%r10, 72+%[out]\n\t"				\
		"movq %%r11, 80+%[out]\n\t"				\
		"movq %%r12, 88+%[out]\n\t"				\
		"movq %%r13, 96+%[out]\n\t"				\
		"movq %%r14, 104+%[out]\n\t"				\
		"movq %%r15, 112+%[out]\n\t"				\
		"pushfq\n\t"						\
		"popq 120+%[out]\n\t"					\
		"cld\n\t"						\
		"movq %[saved], %%rbp\n\t"				\
		"lea 128(%%rsp), %%rsp"					\
		: [out] "=m" (gp_out), [saved] "=m" (gp_saved_rbp),	\
		  [scratch] "=m" (gp_scratch)				\
		: [in] "m" (gp_in)					\
		: "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9",	\
		  "r10", "r11", "r12", "r13", "r14", "r15", "cc", "memory")

enum gp_event { GP_WRITE, GP_READ, GP_WRITE_SYSCALL };

/*
 * Loads gp_in, then stores 0x5a through rdi, or reads 8 bytes through it
 * (push and pop: no register or flag changes), or stores and then makes
 * system call rax.
 */
static void gp_around(enum gp_event event)
{
	memset(&gp_out, 0, sizeof(gp_out));
	switch (event) {
	case GP_WRITE:
		GP_AROUND("movb $0x5a, (%%rdi)\n\t");
		break;
	case GP_READ:
		GP_AROUND("pushq (%%rdi)\n\tpopq %[scratch]\n\t");
		break;
	case GP_WRITE_SYSCALL:
		GP_AROUND("movb $0x5a, (%%rdi)\n\tsyscall\n\t");
		break;
	}
}

static void gp_fill(void *addr, unsigned int seed)
{
	int i;

	for (i = 0; i < GP_NREGS; i++)
		gp_in.r[i] = 0x0101010101010101ull * (seed + i) ^
			     (uint64_t)i << 56;
	gp_in.r[GP_RDI] = (uintptr_t)addr;
	/* IF and the reserved bit 1 are always set in user mode. */
	gp_in.flags = TEST_FLAGS | 0x202;
}

/* Every register but @skip1 and @skip2 (-1: none) came back. */
static void assert_gp_equal(int skip1, int skip2, const char *event)
{
	int i;

	for (i = 0; i < GP_NREGS; i++) {
		if (i == skip1 || i == skip2)
			continue;
		ck_assert_msg(gp_out.r[i] == gp_in.r[i],
			      "%s: %s is %#llx, want %#llx", event,
			      gp_name[i], (unsigned long long)gp_out.r[i],
			      (unsigned long long)gp_in.r[i]);
	}
	ck_assert_msg((gp_out.flags & TEST_FLAGS) == TEST_FLAGS,
		      "%s: flags %#llx, want %#lx set", event,
		      (unsigned long long)gp_out.flags, TEST_FLAGS);
}

static void gp_store(unsigned char *addr, unsigned int seed,
		     const char *event)
{
	gp_fill(addr, seed);
	gp_around(GP_WRITE);
	assert_gp_equal(-1, -1, event);
}

static void gp_load(unsigned char *addr, unsigned int seed, const char *event)
{
	uint64_t want;

	gp_fill(addr, seed);
	gp_around(GP_READ);
	assert_gp_equal(-1, -1, event);
	memcpy(&want, addr, sizeof(want));
	ck_assert_uint_eq(gp_scratch, want);
}

START_TEST(test_fresh_page_fault)
{
	fault_fresh_pages(ROUNDS, 1100, gp_store,
			  "write fault on a fresh page");
}
END_TEST

START_TEST(test_cow_fault)
{
	fault_cow_pages(ROUNDS, 1120, gp_store, "copy-on-write fault");
}
END_TEST

START_TEST(test_device_page_fault)
{
	fault_device_pages(umhmm_fd[0], ROUNDS, 1140, gp_load,
			   "CPU fault on a device private page");
}
END_TEST

/*
 * System call @nr (rdi: the address) right after a store to each of
 * ROUNDS fresh pages must return @want and leave every register but rax
 * and the two the syscall instruction itself takes (rcx, r11).
 */
static void syscall_after_faults(long nr, long want, unsigned int seed,
				 const char *event)
{
	unsigned char *buf = test_map_anon(ROUNDS);
	int i;

	for (i = 0; i < ROUNDS; i++) {
		gp_fill(buf + i * page_size, seed + i);
		gp_in.r[GP_RAX] = nr;
		gp_around(GP_WRITE_SYSCALL);
		ck_assert_int_eq((long)gp_out.r[GP_RAX], want);
		gp_out.r[GP_RAX] = gp_in.r[GP_RAX];
		assert_gp_equal(GP_RCX, GP_R11, event);
		ck_assert_uint_eq(buf[i * page_size], 0x5a);
	}
}

START_TEST(test_syscall_after_fault)
{
	syscall_after_faults(SYS_getppid, getppid(), 1180,
			     "getppid() after a fault");
}
END_TEST

/*
 * An error comes back as such: a system call number x86-64 does not have
 * fails with ENOSYS whatever its arguments (close() of the address could
 * have closed a real file had the address's low 32 bits been one).
 */
#define NO_SUCH_SYSCALL	1000

START_TEST(test_failing_syscall_after_fault)
{
	syscall_after_faults(NO_SUCH_SYSCALL, -ENOSYS, 1200,
			     "an unknown system call after a fault");
}
END_TEST

/* How the pages a store faults on are taken away, and given back. */
enum guard { GUARD_READ_ONLY, GUARD_UNMAPPED };

static unsigned char *guarded;
static enum guard guard_kind;
static volatile sig_atomic_t segv_count, segv_code;
static volatile uint64_t segv_rdi, segv_rbx, segv_addr;

/* Records what the kernel saw and makes the pages writable again. */
static void unguard_handler(int sig, siginfo_t *si, void *ctx)
{
	size_t len = ROUNDS * page_size;
	ucontext_t *uc = ctx;
	bool failed;

	(void)sig;
	segv_count++;
	segv_code = si->si_code;
	segv_addr = (uintptr_t)si->si_addr;
	segv_rdi = uc->uc_mcontext.gregs[REG_RDI];
	segv_rbx = uc->uc_mcontext.gregs[REG_RBX];
	if (guard_kind == GUARD_READ_ONLY)
		failed = mprotect(guarded, len, PROT_READ | PROT_WRITE);
	else
		failed = mmap(guarded, len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			      0) == MAP_FAILED;
	if (failed)
		_exit(2);
}

/*
 * A store to each of ROUNDS pages taken away as @kind says: the kernel
 * delivers SIGSEGV with @want_code, so the registers the task resumes
 * with are not the ones it faulted with.
 */
static void fault_to_signal(enum guard kind, int want_code,
			    unsigned int seed)
{
	struct sigaction sa = {
		.sa_sigaction = unguard_handler,
		.sa_flags = SA_SIGINFO,
	};
	size_t len = ROUNDS * page_size;
	int i;

	guard_kind = kind;
	guarded = test_map_anon(ROUNDS);
	test_sigaction(SIGSEGV, &sa);
	for (i = 0; i < ROUNDS; i++) {
		unsigned char *addr = guarded + i * page_size;

		if (kind == GUARD_READ_ONLY)
			ck_assert_int_eq(mprotect(guarded, len, PROT_READ), 0);
		else
			ck_assert_int_eq(munmap(guarded, len), 0);
		segv_count = 0;
		segv_code = 0;
		gp_fill(addr, seed + i);
		gp_around(GP_WRITE);
		ck_assert_int_eq(segv_count, 1);
		ck_assert_int_eq(segv_code, want_code);
		ck_assert_ptr_eq((void *)(uintptr_t)segv_addr, addr);
		ck_assert_uint_eq(segv_rdi, gp_in.r[GP_RDI]);
		ck_assert_uint_eq(segv_rbx, gp_in.r[GP_RBX]);
		assert_gp_equal(-1, -1, "a store the kernel signalled");
		ck_assert_uint_eq(*addr, 0x5a);
	}
}

START_TEST(test_fault_to_signal)
{
	fault_to_signal(GUARD_READ_ONLY, SEGV_ACCERR, 1220);
}
END_TEST

/* No mapping at all: the handler maps fresh pages back. */
START_TEST(test_unmapped_fault_to_signal)
{
	fault_to_signal(GUARD_UNMAPPED, SEGV_MAPERR, 1240);
}
END_TEST

#else /* !__x86_64__ */

#define SKIP_TEST(name) \
	UMHMM_SKIP_TEST(name, "the register checks are x86_64 asm")
SKIP_TEST(test_fresh_page_fault)
SKIP_TEST(test_cow_fault)
SKIP_TEST(test_device_page_fault)
SKIP_TEST(test_syscall_after_fault)
SKIP_TEST(test_failing_syscall_after_fault)
SKIP_TEST(test_fault_to_signal)
SKIP_TEST(test_unmapped_fault_to_signal)

#endif

static void *thread_start(void *arg)
{
	return (char *)arg + 1;
}

/*
 * A new thread's first run, while its creator waits in pthread_join()
 * right after a page fault: the thread must start once, in the thread
 * function, and hand back its result.  Its registers come from the
 * clone() that created it; the process is stopped in the creator's
 * join, a system call the kernel must not let the host run with the
 * new thread's registers (the number would be clone()'s).
 */
START_TEST(test_thread_start_after_fault)
{
	unsigned char *buf = test_map_anon(ROUNDS);
	char token[ROUNDS];
	pthread_t th;
	void *ret;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		ck_assert_int_eq(pthread_create(&th, NULL, thread_start,
						&token[i]), 0);
		buf[i * page_size] = 0x5a;
		ck_assert_int_eq(pthread_join(th, &ret), 0);
		ck_assert_ptr_eq(ret, &token[i] + 1);
	}
	for (i = 0; i < ROUNDS; i++)
		ck_assert_uint_eq(buf[i * page_size], 0x5a);
}
END_TEST

static Suite *gpregs_suite(void)
{
	Suite *s = umhmm_suite_create("gpregs");
	TCase *faults = umhmm_tcase_create("faults", umhmm_setup,
					   umhmm_teardown);
	TCase *after = umhmm_tcase_create("after_faults", umhmm_setup,
					  umhmm_teardown);

	tcase_add_test(faults, test_fresh_page_fault);
	tcase_add_test(faults, test_cow_fault);
	tcase_add_test(faults, test_device_page_fault);
	suite_add_tcase(s, faults);

	tcase_add_test(after, test_syscall_after_fault);
	tcase_add_test(after, test_failing_syscall_after_fault);
	tcase_add_test(after, test_fault_to_signal);
	tcase_add_test(after, test_unmapped_fault_to_signal);
	tcase_add_test(after, test_thread_start_after_fault);
	suite_add_tcase(s, after);
	return s;
}

int main(void)
{
	return run_suite(gpregs_suite());
}
