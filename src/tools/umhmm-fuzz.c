// SPDX-License-Identifier: GPL-2.0
/*
 * umhmm-fuzz: a bounded random-input run against /dev/umhmm0.
 *
 *   umhmm-fuzz ITERATIONS SEED
 *
 * Issues ITERATIONS ioctls with random command numbers (right and wrong
 * magic, number, direction and size), random structure sizes and flags,
 * and addresses and pointers drawn from: a scratch mapping (aligned or
 * not, in range or running past its end into a PROT_NONE guard), NULL,
 * kernel-looking addresses, unmapped space and random 64-bit values.
 * Output buffers are followed by a guard, so a driver that writes past
 * what it was given faults instead of corrupting this program.
 *
 * Passes when every call returned 0 or one of the errors the ABI
 * documents, and when, after unmapping everything, every device page the
 * driver handed out was freed. A kernel oops fails the surrounding run
 * (scripts/run.sh scans the console).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "umhmm.h"

#define SCRATCH_PAGES	64
#define GUARD_PAGES	256

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the seed, no libc state. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static uint64_t pick(const uint64_t *v, size_t n)
{
	return v[rnd() % n];
}

static long page;
static unsigned char *scratch, *out;

static uint64_t random_addr(void)
{
	switch (rnd() % 8) {
	case 0:
		return 0;
	case 1:
		return 0xffff800000000000ULL + (rnd() % 4096) * 4096;
	case 2:
		return rnd();
	case 3:
		return (uintptr_t)scratch + (rnd() % SCRATCH_PAGES) * page + 1;
	case 4:	/* Runs into the guard. */
		return (uintptr_t)scratch + (SCRATCH_PAGES - 1) * page;
	default:
		return (uintptr_t)scratch + (rnd() % SCRATCH_PAGES) * page;
	}
}

static uint64_t random_npages(void)
{
	static const uint64_t edge[] = {
		0, 1, 2, 63, 64, 65, SCRATCH_PAGES, UMHMM_MAX_PAGES,
		UMHMM_MAX_PAGES + 1, 1ULL << 52, ~0ULL,
	};

	return rnd() % 2 ? 1 + rnd() % SCRATCH_PAGES :
			   pick(edge, sizeof(edge) / sizeof(edge[0]));
}

static uint64_t random_ptr(void)
{
	switch (rnd() % 6) {
	case 0:
		return 0;
	case 1:
		return rnd();
	case 2:
		return 0xffff800000000000ULL;
	default:
		return (uintptr_t)out + (rnd() % SCRATCH_PAGES) * page;
	}
}

static unsigned long random_cmd(void)
{
	static const unsigned long known[] = {
		UMHMM_IOC_VERSION, UMHMM_IOC_READ, UMHMM_IOC_WRITE,
		UMHMM_IOC_MIGRATE_TO_DEV, UMHMM_IOC_MIGRATE_TO_SYS,
		UMHMM_IOC_SNAPSHOT, UMHMM_IOC_EXCLUSIVE,
		UMHMM_IOC_CHECK_EXCLUSIVE, UMHMM_IOC_EVICT, UMHMM_IOC_STATS,
		UMHMM_IOC_INJECT,
	};
	unsigned long cmd = pick(known, sizeof(known) / sizeof(known[0]));

	switch (rnd() % 8) {
	case 0:	/* Another size encoded in the command. */
		return (cmd & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT)) |
		       ((rnd() % 512) << _IOC_SIZESHIFT);
	case 1:	/* Another number. */
		return (cmd & ~0xffUL) | (rnd() & 0xff);
	case 2:
		return rnd() & 0xffffffff;
	default:
		return cmd;
	}
}

/* Every error code the ABI may return. */
static int documented(int err)
{
	switch (err) {
	case EINVAL: case EFAULT: case ENOTTY: case EPERM: case EBUSY:
	case ENOMEM: case ENODEV: case ESRCH: case EAGAIN:
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long iterations, i, ok = 0, errs[256] = { 0 };
	struct umhmm_stats st = { .size = sizeof(st) };
	struct umhmm_inject off = { .size = sizeof(off) };
	union {
		struct umhmm_range range;
		struct umhmm_stats stats;
		struct umhmm_inject inject;
		unsigned char raw[512];
	} arg;
	unsigned char *region;
	int fd, bad = 0, e;

	if (argc != 3) {
		fprintf(stderr, "usage: %s ITERATIONS SEED\n", argv[0]);
		return 2;
	}
	iterations = strtoul(argv[1], NULL, 0);
	rng_state = strtoull(argv[2], NULL, 0) | 1;
	page = sysconf(_SC_PAGESIZE);

	fd = open("/dev/umhmm0", O_RDWR);
	if (fd < 0) {
		perror("/dev/umhmm0");
		return 1;
	}
	/* scratch | guard | out | guard, guards PROT_NONE. */
	region = mmap(NULL, (2 * SCRATCH_PAGES + 2 * GUARD_PAGES) * page,
		      PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	scratch = region;
	out = region + (SCRATCH_PAGES + GUARD_PAGES) * page;
	if (mprotect(scratch, SCRATCH_PAGES * page, PROT_READ | PROT_WRITE) ||
	    mprotect(out, SCRATCH_PAGES * page, PROT_READ | PROT_WRITE)) {
		perror("mprotect");
		return 1;
	}
	memset(scratch, 0x5a, SCRATCH_PAGES * page);

	for (i = 0; i < iterations; i++) {
		unsigned long cmd = random_cmd();
		size_t k;

		for (k = 0; k < sizeof(arg.raw); k++)
			arg.raw[k] = rnd();
		if (rnd() % 4) {
			arg.range.size = rnd() % 8 ? sizeof(arg.range) :
						     rnd() % 128;
			/* Mostly flags the command takes: they get past its check. */
			arg.range.flags = rnd() % 4 ? rnd() & umhmm_range_flags(cmd) :
						      rnd();
			arg.range.addr = random_addr();
			arg.range.npages = random_npages();
			arg.range.ptr = random_ptr();
		}
		if (cmd == UMHMM_IOC_INJECT && rnd() % 2) {
			/* Bounded injections keep later calls meaningful. */
			arg.inject.size = sizeof(arg.inject);
			arg.inject.fail_alloc = rnd() % 4;
			arg.inject.fail_copy = rnd() % 4;
			arg.inject.busy = rnd() % 4;
			arg.inject.race_fault = rnd() % 4;
			arg.inject.locked = rnd() % 4;
			arg.inject.stall = rnd() % 2;
			arg.inject.race_migrate = rnd() % 4;
			arg.inject.race_zap = rnd() % 4;
			arg.inject.reserved = 0;
		}
		/* An argument pointer that is not ours, now and then. */
		if (ioctl(fd, cmd, rnd() % 16 ? (void *)&arg :
				   (void *)(uintptr_t)random_ptr()) == 0) {
			ok++;
			continue;
		}
		e = errno;
		errs[e & 0xff]++;
		if (!documented(e)) {
			fprintf(stderr, "iteration %lu: cmd %#lx: undocumented error %d (%s)\n",
				i, cmd, e, strerror(e));
			bad++;
		}
	}

	ioctl(fd, UMHMM_IOC_INJECT, &off);
	munmap(region, (2 * SCRATCH_PAGES + 2 * GUARD_PAGES) * page);
	if (ioctl(fd, UMHMM_IOC_STATS, &st)) {
		perror("UMHMM_IOC_STATS");
		return 1;
	}
	printf("%lu ioctls: %lu returned 0", iterations, ok);
	for (e = 0; e < 256; e++)
		if (errs[e])
			printf(", %lu %s", errs[e], strerror(e));
	printf("\ndevice pages allocated %llu, freed %llu\n",
	       (unsigned long long)st.pages_allocated,
	       (unsigned long long)st.pages_freed);
	if (st.pages_allocated != st.pages_freed) {
		fprintf(stderr, "umhmm-fuzz: %llu device pages leaked\n",
			(unsigned long long)(st.pages_allocated - st.pages_freed));
		bad++;
	}
	close(fd);
	return bad ? 1 : 0;
}
