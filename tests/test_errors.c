// SPDX-License-Identifier: GPL-2.0
/*
 * errors: every umhmm ioctl fed malformed arguments, and injected device
 * failures in the middle of a migration.
 *
 * Why: the driver's argument checks are the only thing between a buggy or
 * hostile caller and migrate_vma_*() / hmm_range_fault() on a range the
 * caller did not mean; each malformed call must get its documented error
 * code (src/include/umhmm.h, umhmm_check_range(), umhmm_ioctl()) and leave
 * the process's pages, the user buffers and the device's counters exactly
 * as they were; so must every call through a mirror whose mm has exited.
 * Injected allocation and copy failures exercise the paths
 * where migrate_vma_pages() gets a partial dst[]: the pages that failed
 * must stay where they were with every byte intact, both seen by the
 * device and after the CPU faults them back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "umhmm_test.h"

#define NPAGES		8
#define BAD_PTR		((void *)8)

static int fd0, fd1;

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
	fd1 = umhmm_fd[1];
}

static int raw_ioctl(int fd, unsigned long request, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, request, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

/*
 * The state a rejected call must not change: both devices' counters, the
 * state and data of a filled range, half of it on device 0.
 */
struct world {
	unsigned char *buf;
	struct umhmm_stats stats[UMHMM_NDEV];
	unsigned char state[NPAGES];
};

static void world_make(struct world *w, unsigned int seed)
{
	w->buf = test_map_anon(NPAGES);
	fill_pattern(w->buf, NPAGES * page_size, seed);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, w->buf,
				   NPAGES / 2, NULL, 0), NPAGES / 2);
	snapshot(fd0, w->buf, NPAGES, w->state);
	umhmm_stats(fd0, &w->stats[0]);
	umhmm_stats(fd1, &w->stats[1]);
}

static void world_check(struct world *w, unsigned int seed)
{
	struct umhmm_stats now;
	unsigned char state[NPAGES];
	int i;

	for (i = 0; i < UMHMM_NDEV; i++) {
		const uint64_t *a, *b;
		size_t k;

		umhmm_stats(umhmm_fd[i], &now);
		a = (const uint64_t *)&now;
		b = (const uint64_t *)&w->stats[i];
		for (k = 0; k < sizeof(now) / 8; k++)
			ck_assert_msg(a[k] == b[k],
				      "umhmm%d: counter word %zu changed by a rejected call: %llu -> %llu",
				      i, k, (unsigned long long)b[k], (unsigned long long)a[k]);
	}
	snapshot(fd0, w->buf, NPAGES, state);
	ck_assert_mem_eq(state, w->state, NPAGES);
	/* Last: this faults the device half back. */
	ck_assert_pattern(w->buf, NPAGES * page_size, seed);
}

/* --- malformed range arguments: every range ioctl x every mistake --- */

/* wrong_flag: a known flag the command does not take (umhmm.h). */
static const struct {
	unsigned long cmd;
	const char *name;
	uint32_t wrong_flag;
} range_cmds[] = {
	{ UMHMM_IOC_READ, "READ", UMHMM_F_SELECT_SYSTEM },
	{ UMHMM_IOC_WRITE, "WRITE", UMHMM_F_PREALLOC },
	{ UMHMM_IOC_MIGRATE_TO_DEV, "MIGRATE_TO_DEV", UMHMM_F_NOFAULT },
	{ UMHMM_IOC_MIGRATE_TO_SYS, "MIGRATE_TO_SYS", UMHMM_F_PREALLOC },
	{ UMHMM_IOC_SNAPSHOT, "SNAPSHOT", UMHMM_F_NOFAULT },
	{ UMHMM_IOC_EXCLUSIVE, "EXCLUSIVE", UMHMM_F_NOFAULT },
	{ UMHMM_IOC_CHECK_EXCLUSIVE, "CHECK_EXCLUSIVE",
	  UMHMM_F_SELECT_DEVICE_PRIVATE },
};
#define NR_RANGE_CMDS	((int)(sizeof(range_cmds) / sizeof(range_cmds[0])))

enum mistake {
	SIZE_ZERO,
	SIZE_SMALL,
	SIZE_BIG,
	FLAG_UNKNOWN,
	FLAG_HIGH,
	FLAG_WRONG_CMD,
	NPAGES_ZERO,
	ADDR_UNALIGNED,
	ADDR_OVERFLOW,
	NPAGES_OVER_MAX,
	NPAGES_HUGE,
	BEYOND_TASK_SIZE,
	NR_MISTAKES
};

static const char *const mistake_names[] = {
	[SIZE_ZERO] = "size 0",
	[SIZE_SMALL] = "size too small",
	[SIZE_BIG] = "size too big",
	[FLAG_UNKNOWN] = "unknown flag bit 5",
	[FLAG_HIGH] = "unknown flag bit 31",
	[FLAG_WRONG_CMD] = "a flag of another command",
	[NPAGES_ZERO] = "npages 0",
	[ADDR_UNALIGNED] = "unaligned addr",
	[ADDR_OVERFLOW] = "addr + len wraps",
	[NPAGES_OVER_MAX] = "npages UMHMM_MAX_PAGES + 1",
	[NPAGES_HUGE] = "npages 2^60 (npages << PAGE_SHIFT wraps)",
	[BEYOND_TASK_SIZE] = "range beyond the address space",
};

static void malform(struct umhmm_range *r, enum mistake m, int c)
{
	switch (m) {
	case SIZE_ZERO:
		r->size = 0;
		break;
	case SIZE_SMALL:
		r->size = sizeof(*r) - 8;
		break;
	case SIZE_BIG:
		r->size = sizeof(*r) + 8;
		break;
	case FLAG_UNKNOWN:
		r->flags = UMHMM_F_ALL + 1;
		break;
	case FLAG_HIGH:
		r->flags = 1U << 31;
		break;
	case FLAG_WRONG_CMD:
		r->flags = range_cmds[c].wrong_flag;
		break;
	case NPAGES_ZERO:
		r->npages = 0;
		break;
	case ADDR_UNALIGNED:
		r->addr += 1;
		break;
	case ADDR_OVERFLOW:
		r->addr = -(uint64_t)(2 * page_size);
		r->npages = 4;
		break;
	case NPAGES_OVER_MAX:
		r->npages = UMHMM_MAX_PAGES + 1;
		break;
	case NPAGES_HUGE:
		r->npages = 1ULL << 60;
		break;
	case BEYOND_TASK_SIZE:
		/* Ends at 2^63 (wider than any user address space). */
		r->addr = (1ULL << 63) - 2 * page_size;
		r->npages = 2;
		break;
	case NR_MISTAKES:
		break;
	}
}

START_TEST(test_malformed_range)
{
	int c = _i % NR_RANGE_CMDS;
	enum mistake m = _i / NR_RANGE_CMDS;
	size_t size = NPAGES * page_size;
	unsigned char *data = test_malloc(size);
	struct umhmm_range r, sent;
	struct world w;

	/*
	 * A buffer the kernel must neither read into nor write from, filled
	 * before the baseline: its write faults are invalidations too.
	 */
	fill_pattern(data, size, 200 + _i);
	world_make(&w, 100 + _i);
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.addr = (uintptr_t)w.buf;
	r.npages = NPAGES;
	r.ptr = (uintptr_t)data;
	r.done = 0x5eed;
	r.retries = 0x5eed;
	malform(&r, m, c);
	sent = r;

	ck_assert_msg(raw_ioctl(fd0, range_cmds[c].cmd, &r) == -EINVAL,
		      "%s with %s: not EINVAL", range_cmds[c].name,
		      mistake_names[m]);
	/* Rejected before anything was counted: the struct comes back as is. */
	ck_assert_mem_eq(&r, &sent, sizeof(r));
	ck_assert_pattern(data, size, 200 + _i);
	world_check(&w, 100 + _i);
	free(data);
}
END_TEST

/* NULL and unmapped argument pointers. */
static const unsigned long all_cmds[] = {
	UMHMM_IOC_VERSION, UMHMM_IOC_READ, UMHMM_IOC_WRITE,
	UMHMM_IOC_MIGRATE_TO_DEV, UMHMM_IOC_MIGRATE_TO_SYS,
	UMHMM_IOC_SNAPSHOT, UMHMM_IOC_EXCLUSIVE, UMHMM_IOC_CHECK_EXCLUSIVE,
	UMHMM_IOC_STATS, UMHMM_IOC_INJECT, UMHMM_IOC_EVICT, UMHMM_IOC_PGMAP,
};
#define NR_ALL_CMDS	((int)(sizeof(all_cmds) / sizeof(all_cmds[0])))

START_TEST(test_bad_arg_pointer)
{
	unsigned long cmd = all_cmds[_i % NR_ALL_CMDS];
	struct world w;
	void *arg;

	world_make(&w, 120 + _i);
	if (_i < NR_ALL_CMDS) {
		arg = NULL;
	} else {
		/* A mapped address the process cannot access. */
		arg = test_map(1, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	}
	ck_assert_msg(raw_ioctl(fd0, cmd, arg) == -EFAULT,
		      "ioctl %#lx with arg %p: not EFAULT", cmd, arg);
	world_check(&w, 120 + _i);
}
END_TEST

START_TEST(test_arg_struct_straddles_end)
{
	unsigned char *two = test_map_anon(2);
	struct umhmm_range *r;
	struct world w;

	ck_assert_int_eq(mprotect(two + page_size, page_size, PROT_NONE), 0);
	world_make(&w, 130);
	/* The struct starts in an accessible page, ends in a PROT_NONE one. */
	r = (struct umhmm_range *)(two + page_size - 16);
	ck_assert_int_eq(raw_ioctl(fd0, UMHMM_IOC_MIGRATE_TO_DEV, r), -EFAULT);
	world_check(&w, 130);
}
END_TEST

/* Data buffers the kernel cannot use. */
START_TEST(test_read_bad_data_ptr)
{
	struct umhmm_range r;
	struct world w;

	world_make(&w, 140);
	/*
	 * The whole world, device half too: refused before the faults that
	 * would bring those pages back (ABI 5).
	 */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, w.buf, NPAGES,
				     BAD_PTR, 0, &r), -EFAULT);
	ck_assert_uint_eq(r.done, 0);
	world_check(&w, 140);
}
END_TEST

START_TEST(test_read_into_read_only_buffer)
{
	unsigned char *ro = test_map(NPAGES, PROT_READ,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct world w;

	world_make(&w, 141);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, w.buf, NPAGES, ro, 0,
				     NULL), -EFAULT);
	ck_assert_int_eq(first_nonzero(ro, NPAGES * page_size), -1);
	world_check(&w, 141);
}
END_TEST

START_TEST(test_write_bad_data_ptr)
{
	struct world w;

	world_make(&w, 142);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, w.buf, NPAGES,
				     BAD_PTR, 0, NULL), -EFAULT);
	world_check(&w, 142);
}
END_TEST

START_TEST(test_write_short_data_buffer)
{
	unsigned char *data = test_map_pattern(NPAGES, 144);
	struct world w;

	/*
	 * The last page of the source cannot be read: nothing may be written.
	 * PROT_NONE, not unmapped: world_make()'s own mappings could fill a hole.
	 */
	ck_assert_int_eq(mprotect(data + (NPAGES - 1) * page_size, page_size,
				  PROT_NONE), 0);
	world_make(&w, 143);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, w.buf, NPAGES,
				     data, 0, NULL), -EFAULT);
	world_check(&w, 143);
}
END_TEST

START_TEST(test_snapshot_bad_data_ptr)
{
	struct world w;

	world_make(&w, 145);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_SNAPSHOT, w.buf, NPAGES,
				     BAD_PTR, 0, NULL), -EFAULT);
	world_check(&w, 145);
}
END_TEST

START_TEST(test_exclusive_bad_data_ptr)
{
	unsigned char *buf = test_map_pattern(NPAGES, 146);
	struct umhmm_range r;
	uint64_t held;

	unsigned char state[NPAGES];

	/* Refused before a page is grabbed (ABI 5): nothing to undo. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_EXCLUSIVE, buf, NPAGES,
				     BAD_PTR, 0, &r), -EFAULT);
	ck_assert_uint_eq(r.done, 0);
	held = umhmm_ok(fd0, UMHMM_IOC_CHECK_EXCLUSIVE, buf, NPAGES, NULL, 0);
	ck_assert_uint_eq(held, 0);
	snapshot(fd0, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "not grabbed");
	ck_assert_pattern(buf, NPAGES * page_size, 146);
}
END_TEST

/* Commands the driver does not know. */
static const unsigned long unknown_cmds[] = {
	_IOWR(UMHMM_IOC_MAGIC, 0x0c, struct umhmm_range),	/* next nr */
	_IOWR(UMHMM_IOC_MAGIC, 0xff, struct umhmm_range),
	_IOWR('V', 0x01, struct umhmm_range),			/* magic */
	_IOWR('H', 0x00, struct umhmm_range),			/* test_hmm */
	_IOWR(UMHMM_IOC_MAGIC, 0x01, __u32),			/* size */
	_IOWR(UMHMM_IOC_MAGIC, 0x01, struct umhmm_stats),
	_IOC(_IOC_READ | _IOC_WRITE, UMHMM_IOC_MAGIC, 0x01, 4096),
	_IOR(UMHMM_IOC_MAGIC, 0x01, struct umhmm_range),	/* direction */
	_IO(UMHMM_IOC_MAGIC, 0x01),
	_IOWR(UMHMM_IOC_MAGIC, 0x09, struct umhmm_range),	/* STATS */
	_IOW(UMHMM_IOC_MAGIC, 0x08, __u64),			/* EVICT */
	_IOR(UMHMM_IOC_MAGIC, 0x00, __u64),			/* VERSION */
};

START_TEST(test_unknown_cmd)
{
	unsigned char arg[8192];
	struct world w;

	/*
	 * A valid, big argument: only the command is wrong. Written before
	 * the world is recorded: the first write to a stack page still shared
	 * with check's parent process is a copy-on-write, an invalidation the
	 * mirror counts (seen in an x86_64 VM, depending on the stack's place).
	 */
	memset(arg, 0, sizeof(arg));
	((struct umhmm_range *)arg)->size = sizeof(struct umhmm_range);
	world_make(&w, 150 + _i);
	ck_assert_msg(raw_ioctl(fd0, unknown_cmds[_i], arg) == -ENOTTY,
		      "ioctl %#lx: not ENOTTY", unknown_cmds[_i]);
	ck_assert_int_eq(first_nonzero(arg + sizeof(struct umhmm_range),
				       sizeof(arg) -
				       sizeof(struct umhmm_range)), -1);
	world_check(&w, 150 + _i);
}
END_TEST

START_TEST(test_stats_bad_size)
{
	static const uint32_t sizes[] = {
		0, 4, sizeof(struct umhmm_stats) - 8,
		sizeof(struct umhmm_stats) + 8, ~0U,
	};
	struct umhmm_stats s;
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(&s, 0, sizeof(s));
		s.size = sizes[i];
		ck_assert_msg(raw_ioctl(fd0, UMHMM_IOC_STATS, &s) == -EINVAL,
			      "STATS with size %u: not EINVAL", sizes[i]);
		/* Nothing was filled in. */
		ck_assert_uint_eq(s.size, sizes[i]);
		ck_assert_uint_eq(s.bound, 0);
		ck_assert_uint_eq(s.pages_total, 0);
	}
}
END_TEST

START_TEST(test_inject_bad_args)
{
	static const struct umhmm_inject bad[] = {
		{ .size = sizeof(struct umhmm_inject), .fail_alloc = 3,
		  .fail_copy = 3, .reserved = 1 },
		{ .size = sizeof(struct umhmm_inject), .fail_alloc = 3,
		  .reserved = 0x80000000 },
		{ .size = 0, .fail_alloc = 3, .fail_copy = 3 },
		{ .size = sizeof(struct umhmm_inject) - 4, .fail_alloc = 3 },
		{ .size = sizeof(struct umhmm_inject) + 4, .fail_copy = 3 },
	};
	struct umhmm_stats before, after;
	struct umhmm_inject in;
	unsigned char *buf;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		in = bad[i];
		ck_assert_msg(raw_ioctl(fd0, UMHMM_IOC_INJECT, &in) == -EINVAL,
			      "INJECT row %zu: not EINVAL", i);
	}
	/* None of them armed anything: a migration fully succeeds. */
	buf = test_map_pattern(NPAGES, 160);
	umhmm_stats(fd0, &before);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_SYS, buf, NPAGES,
				   NULL, 0), NPAGES);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.alloc_failures, before.alloc_failures);
	ck_assert_uint_eq(after.copy_failures, before.copy_failures);
	ck_assert_pattern(buf, NPAGES * page_size, 160);
}
END_TEST

START_TEST(test_version)
{
	__u32 v = 0;

	ck_assert_int_eq(raw_ioctl(fd0, UMHMM_IOC_VERSION, &v), 0);
	ck_assert_uint_eq(v, UMHMM_ABI_VERSION);
}
END_TEST

/* --- ranges the mm cannot serve --- */

/* A range with an unmapped middle: pages 2..5 of NPAGES. */
static unsigned char *map_with_hole(unsigned int seed)
{
	unsigned char *buf = test_map_pattern(NPAGES, seed);

	ck_assert_int_eq(munmap(buf + 2 * page_size, 4 * page_size), 0);
	return buf;
}

static void check_around_hole(unsigned char *buf, unsigned int seed)
{
	ck_assert_pattern(buf, 2 * page_size, seed);
	ck_assert_int_eq(pattern_mismatch_at(buf + 6 * page_size,
					     2 * page_size, seed,
					     6 * page_size), -1);
}

START_TEST(test_migrate_over_hole)
{
	unsigned char *buf = map_with_hole(170);
	struct umhmm_range r;
	unsigned char state[2];

	/* Starting in the hole: nothing done. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_MIGRATE_TO_DEV,
				     buf + 2 * page_size, 4, NULL, 0, &r),
			 -EFAULT);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_MIGRATE_TO_SYS,
				     buf + 2 * page_size, 6, NULL, 0, &r),
			 -EFAULT);
	ck_assert_uint_eq(r.done, 0);
	snapshot(fd0, buf + 6 * page_size, 2, state);
	assert_states(state, 2, UMHMM_PAGE_SYSTEM, "after the hole");
	check_around_hole(buf, 170);
}
END_TEST

START_TEST(test_read_over_hole)
{
	unsigned char *buf = map_with_hole(171);
	unsigned char *data = test_malloc(NPAGES * page_size);
	struct umhmm_range r;

	memset(data, 0xa5, NPAGES * page_size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, NPAGES, data, 0,
				     &r), -EFAULT);
	/* The failed read copied nothing out. */
	ck_assert_int_eq(first_not(data, NPAGES * page_size, 0xa5), -1);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, buf, NPAGES, data, 0,
				     &r), -EFAULT);
	check_around_hole(buf, 171);
	free(data);
}
END_TEST

START_TEST(test_read_prot_none)
{
	unsigned char *buf = test_map_pattern(NPAGES, 172);
	unsigned char *data = test_malloc(NPAGES * page_size);

	ck_assert_int_eq(mprotect(buf, NPAGES * page_size, PROT_NONE), 0);
	/* hmm_vma_walk_test(): a fault is required in a !VM_READ VMA. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, NPAGES, data, 0,
				     NULL), -EFAULT);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, buf, NPAGES, data, 0,
				     NULL), -EFAULT);
	ck_assert_int_eq(mprotect(buf, NPAGES * page_size, PROT_READ), 0);
	ck_assert_pattern(buf, NPAGES * page_size, 172);
	free(data);
}
END_TEST

START_TEST(test_write_read_only_mapping)
{
	size_t size = NPAGES * page_size;
	unsigned char *buf = test_map_pattern(NPAGES, 173);
	unsigned char *data = test_malloc(size);
	struct umhmm_range r;

	ck_assert_int_eq(mprotect(buf, size, PROT_READ), 0);
	fill_pattern(data, size, 174);
	/* Faulting: hmm_vma_fault() refuses a write fault without VM_WRITE. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, buf, NPAGES, data, 0,
				     &r), -EPERM);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_pattern(buf, size, 173);
	/* Not faulting: present read-only PTEs, the driver refuses. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, buf, NPAGES, data,
				     UMHMM_F_NOFAULT, &r), -EPERM);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_pattern(buf, size, 173);
}
END_TEST

START_TEST(test_write_read_only_after_device)
{
	size_t size = NPAGES * page_size;
	unsigned char *buf = test_map_pattern(NPAGES, 175);
	unsigned char *data = test_malloc(size);
	struct umhmm_range r;

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES);
	ck_assert_int_eq(mprotect(buf, size, PROT_READ), 0);
	fill_pattern(data, size, 176);
	/* Device-private, now read-only: its own device may not write. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, buf, NPAGES, data,
				     UMHMM_F_NOFAULT, &r), -EPERM);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_pattern(buf, size, 175);
}
END_TEST

/*
 * A mirror whose mm is gone: a child opens the device, the parent takes a
 * copy of that fd (pidfd_getfd(); UML has no sockets here to pass it),
 * and the child exits. Every command that walks the mm must then refuse
 * with ESRCH, not fault an address space exit_mmap() has torn down.
 */
static struct {
	pid_t pid;
	int to_child;
} opener;

/* After a failure: EOF lets the child exit, and it is reaped. */
static void release_opener(void *arg)
{
	(void)arg;
	close(opener.to_child);
	waitpid(opener.pid, NULL, 0);
}

static int fd_of_exited_child(void)
{
	int to_child[2], from_child[2], child_fd, pidfd, fd;
	pid_t pid;

	ck_assert_int_eq(pipe2(to_child, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(from_child, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char go;

		close(to_child[1]);
		child_fd = open("/dev/umhmm0", O_RDWR | O_CLOEXEC);
		if (write(from_child[1], &child_fd, sizeof(child_fd)) !=
		    sizeof(child_fd))
			_exit(2);
		/* Exits once the parent has its copy (or has failed: EOF). */
		_exit(read(to_child[0], &go, 1) < 0 ? 3 : 0);
	}
	close(to_child[0]);
	close(from_child[1]);
	opener.pid = pid;
	opener.to_child = to_child[1];
	test_defer(release_opener, &opener);
	ck_assert_int_eq(read(from_child[0], &child_fd, sizeof(child_fd)),
			 sizeof(child_fd));
	close(from_child[0]);
	ck_assert_msg(child_fd >= 0, "the child could not open /dev/umhmm0");
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	ck_assert_msg(pidfd >= 0, "pidfd_open: %s", strerror(errno));
	fd = syscall(SYS_pidfd_getfd, pidfd, child_fd, 0);
	ck_assert_msg(fd >= 0, "pidfd_getfd: %s", strerror(errno));
	close(pidfd);
	test_forget_deferred(&opener);
	close(to_child[1]);
	/* The child's mm was released before it could be reaped. */
	wait_child_ok(pid);
	return fd;
}

START_TEST(test_mm_gone)
{
	static const unsigned long walk_cmds[] = {
		UMHMM_IOC_READ, UMHMM_IOC_WRITE, UMHMM_IOC_SNAPSHOT,
		UMHMM_IOC_MIGRATE_TO_DEV, UMHMM_IOC_MIGRATE_TO_SYS,
		UMHMM_IOC_EXCLUSIVE,
	};
	size_t size = NPAGES * page_size;
	unsigned char *data = test_malloc(size);
	struct umhmm_range r;
	struct world w;
	size_t i;
	int fd;

	/* First: the fork and the exit are invalidations of their own. */
	fd = fd_of_exited_child();
	world_make(&w, 175);
	for (i = 0; i < sizeof(walk_cmds) / sizeof(walk_cmds[0]); i++) {
		memset(data, 0xa5, size);
		ck_assert_msg(umhmm_range(fd, walk_cmds[i], w.buf, NPAGES, data,
					  0, &r) == -ESRCH,
			      "ioctl %#lx on an exited mm: not ESRCH",
			      walk_cmds[i]);
		ck_assert_uint_eq(r.done, 0);
		if (walk_cmds[i] != UMHMM_IOC_WRITE)
			ck_assert_int_eq(first_not(data, size, 0xa5), -1);
	}
	/* It holds nothing exclusive, and closing it is a normal release. */
	ck_assert_uint_eq(umhmm_ok(fd, UMHMM_IOC_CHECK_EXCLUSIVE, w.buf, NPAGES,
				   NULL, 0), 0);
	ck_assert_int_eq(close(fd), 0);
	world_check(&w, 175);
	free(data);
}
END_TEST

/*
 * The largest range a call takes is taken whole, a READ's 64 MiB buffer
 * too. The bound is what UML's host process can map (umhmm.h): make fuzz
 * found a 256 MiB buffer (ABI 3's bound) panicking UML once its memory
 * was fragmented, which a fresh test process does not reproduce.
 */
START_TEST(test_max_pages_accepted)
{
	size_t size = (size_t)UMHMM_MAX_PAGES * page_size;
	unsigned char *state = test_malloc(UMHMM_MAX_PAGES);
	unsigned char *buf = test_map(UMHMM_MAX_PAGES, PROT_READ,
				      MAP_PRIVATE | MAP_ANONYMOUS |
				      MAP_NORESERVE, -1, 0);
	/* Populated: the copy out then takes no fault per page. */
	unsigned char *data = test_map(UMHMM_MAX_PAGES, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS |
				       MAP_POPULATE, -1, 0);
	struct umhmm_range r;

	memset(state, 0xff, UMHMM_MAX_PAGES);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_SNAPSHOT, buf,
				     UMHMM_MAX_PAGES, state, 0, &r), 0);
	ck_assert_uint_eq(r.done, UMHMM_MAX_PAGES);
	/* Never touched: no page behind any of it. */
	ck_assert_int_eq(first_not(state, UMHMM_MAX_PAGES, UMHMM_PAGE_NONE), -1);
	memset(data, 0xa5, size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, UMHMM_MAX_PAGES,
				     data, UMHMM_F_NOFAULT, &r), 0);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_int_eq(first_nonzero(data, size), -1);
	free(state);
}
END_TEST

/* --- injected failures --- */

struct inject_case {
	size_t npages;		/* M */
	uint32_t nfail;		/* N */
};

static const struct inject_case inject_cases[] = {
	{ 8, 1 }, { 8, 7 }, { 100, 70 }, { 130, 64 },
};
#define NR_INJECT	((int)(sizeof(inject_cases) / sizeof(inject_cases[0])))

static void assert_split(int fd, unsigned char *buf, size_t npages,
			 size_t nfirst, unsigned char first,
			 unsigned char rest)
{
	unsigned char *state = test_malloc(npages);

	snapshot(fd, buf, npages, state);
	assert_states(state, nfirst, first, "failed pages");
	assert_states(state + nfirst, npages - nfirst, rest, "the others");
	free(state);
}

/* fail_alloc (alloc == 1) or fail_copy (alloc == 0) on MIGRATE_TO_DEV. */
static void inject_to_dev(int _i, int alloc)
{
	size_t m = inject_cases[_i].npages, n = inject_cases[_i].nfail;
	size_t size = m * page_size;
	unsigned char *buf = test_map_anon(m);
	unsigned char *copy = test_malloc(size);
	struct umhmm_stats before, after;
	unsigned int seed = 180 + _i + 10 * alloc;

	fill_pattern(buf, size, seed);
	umhmm_stats(fd0, &before);
	ck_assert_int_eq(umhmm_inject(fd0, alloc ? n : 0, alloc ? 0 : n), 0);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, m, NULL,
				   0), m - n);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.alloc_failures - before.alloc_failures,
			  alloc ? n : 0);
	ck_assert_uint_eq(after.copy_failures - before.copy_failures,
			  alloc ? 0 : n);
	ck_assert_uint_eq(after.pages_allocated - before.pages_allocated, m - n);
	ck_assert_uint_eq(after.migrated_to_device - before.migrated_to_device,
			  m - n);
	/* The first N selected pages failed and stayed in system memory. */
	assert_split(fd0, buf, m, n, UMHMM_PAGE_SYSTEM,
		     UMHMM_PAGE_DEVICE_LOCAL);
	/* The device sees every byte, wherever the page is. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, m, copy,
				   UMHMM_F_NOFAULT), m);
	ck_assert_pattern(copy, size, seed);
	/* The injection was used up: the rest migrates now. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, m, NULL,
				   0), n);
	ck_assert_pattern(buf, size, seed);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.migrate_to_ram - before.migrate_to_ram, m);
	free(copy);
}

START_TEST(test_inject_alloc_to_dev)
{
	inject_to_dev(_i, 1);
}
END_TEST

START_TEST(test_inject_copy_to_dev)
{
	inject_to_dev(_i, 0);
}
END_TEST

START_TEST(test_inject_copy_to_sys)
{
	size_t m = inject_cases[_i].npages, n = inject_cases[_i].nfail;
	size_t size = m * page_size;
	unsigned char *buf = test_map_anon(m);
	unsigned char *copy = test_malloc(size);
	struct umhmm_stats before, after;
	unsigned int seed = 200 + _i;

	fill_pattern(buf, size, seed);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, m, NULL,
				   0), m);
	umhmm_stats(fd0, &before);
	ck_assert_int_eq(umhmm_inject(fd0, 0, n), 0);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_SYS, buf, m, NULL,
				   0), m - n);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.copy_failures - before.copy_failures, n);
	ck_assert_uint_eq(after.migrated_to_system - before.migrated_to_system,
			  m - n);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, m - n);
	/* The failed pages stay on the device. */
	assert_split(fd0, buf, m, n, UMHMM_PAGE_DEVICE_LOCAL,
		     UMHMM_PAGE_SYSTEM);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, m, copy,
				   UMHMM_F_NOFAULT), m);
	ck_assert_pattern(copy, size, seed);
	/* A CPU read brings them back intact (migrate_to_ram: no injection). */
	ck_assert_pattern(buf, size, seed);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.migrate_to_ram - before.migrate_to_ram, n);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, m);
	assert_split(fd0, buf, m, 0, 0, UMHMM_PAGE_SYSTEM);
	free(copy);
}
END_TEST

START_TEST(test_inject_more_than_needed)
{
	const size_t m = 8;
	size_t size = m * page_size;
	unsigned char *buf = test_map_pattern(m, 210);
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_int_eq(umhmm_inject(fd0, m + 5, 0), 0);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, m, NULL,
				   0), 0);
	/* Five failures are still armed. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, m, NULL,
				   0), m - 5);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.alloc_failures - before.alloc_failures, m + 5);
	ck_assert_pattern(buf, size, 210);
	/* Re-arming replaces the counts: 0 disarms. */
	ck_assert_int_eq(umhmm_inject(fd0, 3, 0), 0);
	ck_assert_int_eq(umhmm_inject(fd0, 0, 0), 0);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, m, NULL,
				   0), m);
	ck_assert_pattern(buf, size, 210);
}
END_TEST

START_TEST(test_inject_not_on_cpu_fault)
{
	const size_t m = 8;
	size_t size = m * page_size;
	unsigned char *buf = test_map_pattern(m, 211);
	struct umhmm_stats before, after;

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, m, NULL,
				   0), m);
	umhmm_stats(fd0, &before);
	ck_assert_int_eq(umhmm_inject(fd0, 0, 3), 0);
	/* migrate_to_ram() must not fail (it would SIGBUS/OOM the CPU). */
	ck_assert_pattern(buf, size, 211);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.migrate_to_ram - before.migrate_to_ram, m);
	ck_assert_uint_eq(after.copy_failures, before.copy_failures);
	/* The armed copy failures hit the next device migration. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, m, NULL,
				   0), m - 3);
	ck_assert_pattern(buf, size, 211);
}
END_TEST

START_TEST(test_inject_per_device)
{
	const size_t m = 8;
	size_t size = m * page_size;
	unsigned char *buf = test_map_pattern(m, 212);
	struct umhmm_stats before, after;

	umhmm_stats(fd1, &before);
	ck_assert_int_eq(umhmm_inject(fd0, m, m), 0);
	/* Device 0's injections do not touch device 1. */
	ck_assert_uint_eq(umhmm_ok(fd1, UMHMM_IOC_MIGRATE_TO_DEV, buf, m, NULL,
				   0), m);
	umhmm_stats(fd1, &after);
	ck_assert_uint_eq(after.alloc_failures, before.alloc_failures);
	ck_assert_uint_eq(after.copy_failures, before.copy_failures);
	ck_assert_pattern(buf, size, 212);
	ck_assert_int_eq(umhmm_inject(fd0, 0, 0), 0);
}
END_TEST

static Suite *errors_suite(void)
{
	Suite *s = umhmm_suite_create("errors");
	TCase *args = umhmm_tcase_create("args", setup, umhmm_teardown);
	TCase *ranges = umhmm_tcase_create("ranges", setup, umhmm_teardown);
	TCase *inject = umhmm_tcase_create("inject", setup, umhmm_teardown);

	tcase_add_loop_test(args, test_malformed_range, 0,
			    NR_RANGE_CMDS * NR_MISTAKES);
	tcase_add_loop_test(args, test_bad_arg_pointer, 0, 2 * NR_ALL_CMDS);
	tcase_add_test(args, test_arg_struct_straddles_end);
	tcase_add_test(args, test_read_bad_data_ptr);
	tcase_add_test(args, test_read_into_read_only_buffer);
	tcase_add_test(args, test_write_bad_data_ptr);
	tcase_add_test(args, test_write_short_data_buffer);
	tcase_add_test(args, test_snapshot_bad_data_ptr);
	tcase_add_test(args, test_exclusive_bad_data_ptr);
	tcase_add_loop_test(args, test_unknown_cmd, 0,
			    sizeof(unknown_cmds) / sizeof(unknown_cmds[0]));
	tcase_add_test(args, test_stats_bad_size);
	tcase_add_test(args, test_inject_bad_args);
	tcase_add_test(args, test_version);
	suite_add_tcase(s, args);

	tcase_add_test(ranges, test_migrate_over_hole);
	tcase_add_test(ranges, test_read_over_hole);
	tcase_add_test(ranges, test_read_prot_none);
	tcase_add_test(ranges, test_write_read_only_mapping);
	tcase_add_test(ranges, test_write_read_only_after_device);
	tcase_add_test(ranges, test_mm_gone);
	tcase_add_test(ranges, test_max_pages_accepted);
	suite_add_tcase(s, ranges);

	tcase_add_loop_test(inject, test_inject_alloc_to_dev, 0, NR_INJECT);
	tcase_add_loop_test(inject, test_inject_copy_to_dev, 0, NR_INJECT);
	tcase_add_loop_test(inject, test_inject_copy_to_sys, 0, NR_INJECT);
	tcase_add_test(inject, test_inject_more_than_needed);
	tcase_add_test(inject, test_inject_not_on_cpu_fault);
	tcase_add_test(inject, test_inject_per_device);
	suite_add_tcase(s, inject);

	return s;
}

int main(void)
{
	return run_suite(errors_suite());
}
