// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror: upstream's lib/test_hmm device (/dev/hmm_dmirror0), driven from
 * a libcheck suite.
 *
 * Why: it proves the whole chain the port enables on UML, from
 * memremap_pages() of MEMORY_DEVICE_PRIVATE memory through
 * migrate_vma_*() and hmm_range_fault() to migrate_to_ram() on a CPU
 * fault, with assertions on every byte, on the driver's page counts and on
 * the per-page state the device sees; and that bad arguments get the
 * documented error codes.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test_hmm_uapi.h"
#include "umhmm_test.h"

#define DMIRROR_DEV	"/dev/hmm_dmirror0"
#define NPAGES		64

static int dmirror_fd = -1;

static void dmirror_setup(void)
{
	page_size = sysconf(_SC_PAGESIZE);
	dmirror_fd = open(DMIRROR_DEV, O_RDWR);
	ck_assert_msg(dmirror_fd >= 0, "open %s: %s", DMIRROR_DEV,
		      strerror(errno));
}

static void dmirror_teardown(void)
{
	test_release();
	if (dmirror_fd >= 0)
		close(dmirror_fd);
	dmirror_fd = -1;
}

/* Every byte of the buffer gets a value that depends on its offset. */
static unsigned char dm_pattern_byte(size_t offset)
{
	return (unsigned char)(offset * 7 + offset / 4096 + 3);
}

static void *dm_map_filled(size_t npages)
{
	size_t size = npages * page_size;
	unsigned char *buf;
	size_t i;

	buf = test_map(npages, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (i = 0; i < size; i++)
		buf[i] = dm_pattern_byte(i);
	return buf;
}

/* Returns the number of the first byte that differs, or -1. */
static long dm_first_bad_byte(const unsigned char *buf, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++)
		if (buf[i] != dm_pattern_byte(i))
			return (long)i;
	return -1;
}

static int dmirror_cmd(unsigned long request, void *addr, void *ptr,
		       uint64_t npages, struct hmm_dmirror_cmd *out)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)ptr,
		.npages = npages,
	};
	int ret;

	do {
		ret = ioctl(dmirror_fd, request, &cmd);
	} while (ret < 0 && errno == EINTR);
	if (out)
		*out = cmd;
	return ret < 0 ? -errno : 0;
}

static void dm_snapshot(void *addr, unsigned char *perm, size_t npages)
{
	struct hmm_dmirror_cmd cmd;

	ck_assert_int_eq(dmirror_cmd(HMM_DMIRROR_SNAPSHOT, addr, perm, npages,
				     &cmd), 0);
	ck_assert_uint_eq(cmd.cpages, npages);
}

START_TEST(test_migrate_round_trip)
{
	size_t size = NPAGES * page_size;
	unsigned char perm[NPAGES];
	struct hmm_dmirror_cmd cmd;
	unsigned char *buf, *mirror;
	size_t i;

	buf = dm_map_filled(NPAGES);
	mirror = calloc(1, size);
	ck_assert_ptr_nonnull(mirror);

	ck_assert_int_eq(dmirror_cmd(HMM_DMIRROR_MIGRATE_TO_DEV, buf, mirror,
				     NPAGES, &cmd), 0);
	ck_assert_uint_eq(cmd.cpages, NPAGES);
	/* What the device copied is what the CPU wrote. */
	ck_assert_int_eq(dm_first_bad_byte(mirror, size), -1);

	dm_snapshot(buf, perm, NPAGES);
	for (i = 0; i < NPAGES; i++)
		ck_assert_msg((perm[i] & 0xf0) ==
			      HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
			      "page %zu: state %#x after migration", i,
			      perm[i]);

	/* A CPU read faults every page back through migrate_to_ram(). */
	ck_assert_int_eq(dm_first_bad_byte(buf, size), -1);

	dm_snapshot(buf, perm, NPAGES);
	for (i = 0; i < NPAGES; i++)
		ck_assert_msg((perm[i] & 0xf0) == HMM_DMIRROR_PROT_NONE &&
			      (perm[i] & (HMM_DMIRROR_PROT_READ |
					  HMM_DMIRROR_PROT_WRITE)),
			      "page %zu: state %#x after CPU fault", i,
			      perm[i]);

	free(mirror);
}
END_TEST

START_TEST(test_migrate_to_sys)
{
	size_t size = NPAGES * page_size;
	unsigned char perm[NPAGES];
	struct hmm_dmirror_cmd cmd;
	unsigned char *buf, *mirror;
	size_t i;

	buf = dm_map_filled(NPAGES);
	mirror = calloc(1, size);
	ck_assert_ptr_nonnull(mirror);

	ck_assert_int_eq(dmirror_cmd(HMM_DMIRROR_MIGRATE_TO_DEV, buf, mirror,
				     NPAGES, &cmd), 0);
	ck_assert_uint_eq(cmd.cpages, NPAGES);

	/* Back to system memory by the device, without any CPU fault. */
	ck_assert_int_eq(dmirror_cmd(HMM_DMIRROR_MIGRATE_TO_SYS, buf, mirror,
				     NPAGES, &cmd), 0);
	ck_assert_uint_eq(cmd.cpages, NPAGES);

	dm_snapshot(buf, perm, NPAGES);
	for (i = 0; i < NPAGES; i++)
		ck_assert_msg((perm[i] & 0xf0) == HMM_DMIRROR_PROT_NONE,
			      "page %zu: state %#x after migrate to sys", i,
			      perm[i]);
	ck_assert_int_eq(dm_first_bad_byte(buf, size), -1);

	free(mirror);
}
END_TEST

START_TEST(test_mirror_read)
{
	size_t size = NPAGES * page_size;
	struct hmm_dmirror_cmd cmd;
	unsigned char *buf, *mirror;

	buf = dm_map_filled(NPAGES);
	mirror = calloc(1, size);
	ck_assert_ptr_nonnull(mirror);

	ck_assert_int_eq(dmirror_cmd(HMM_DMIRROR_READ, buf, mirror, NPAGES,
				     &cmd), 0);
	ck_assert_uint_eq(cmd.cpages, NPAGES);
	/* The device mirrored nothing yet: it took one fault for the range. */
	ck_assert_uint_eq(cmd.faults, 1);
	ck_assert_int_eq(dm_first_bad_byte(mirror, size), -1);

	/* Now it mirrors the range: a second read takes no fault. */
	memset(mirror, 0, size);
	ck_assert_int_eq(dmirror_cmd(HMM_DMIRROR_READ, buf, mirror, NPAGES,
				     &cmd), 0);
	ck_assert_uint_eq(cmd.cpages, NPAGES);
	ck_assert_uint_eq(cmd.faults, 0);
	ck_assert_int_eq(dm_first_bad_byte(mirror, size), -1);

	free(mirror);
}
END_TEST

START_TEST(test_unaligned_address)
{
	unsigned char *buf = dm_map_filled(1);
	unsigned char mirror[64];

	ck_assert_int_eq(dmirror_cmd(HMM_DMIRROR_READ, buf + 1, mirror, 1,
				     NULL), -EINVAL);
}
END_TEST

START_TEST(test_overflowing_range)
{
	unsigned char mirror[64];

	ck_assert_int_eq(dmirror_cmd(HMM_DMIRROR_READ,
				     (void *)(uintptr_t)-(4096UL * 4), mirror,
				     8, NULL), -EINVAL);
}
END_TEST

START_TEST(test_bad_command_pointer)
{
	errno = 0;
	ck_assert_int_eq(ioctl(dmirror_fd, HMM_DMIRROR_READ, (void *)8), -1);
	ck_assert_int_eq(errno, EFAULT);
}
END_TEST

START_TEST(test_unknown_ioctl)
{
	ck_assert_int_eq(dmirror_cmd(_IOWR('H', 0x7f, struct hmm_dmirror_cmd),
				     NULL, NULL, 0, NULL), -EINVAL);
}
END_TEST

static Suite *dmirror_suite(void)
{
	Suite *s = umhmm_suite_create("dmirror");
	TCase *core =
		umhmm_tcase_create("core", dmirror_setup, dmirror_teardown);
	TCase *errors =
		umhmm_tcase_create("errors", dmirror_setup, dmirror_teardown);

	tcase_add_test(core, test_migrate_round_trip);
	tcase_add_test(core, test_migrate_to_sys);
	tcase_add_test(core, test_mirror_read);
	suite_add_tcase(s, core);

	tcase_add_test(errors, test_unaligned_address);
	tcase_add_test(errors, test_overflowing_range);
	tcase_add_test(errors, test_bad_command_pointer);
	tcase_add_test(errors, test_unknown_ioctl);
	suite_add_tcase(s, errors);

	return s;
}

int main(void)
{
	return run_suite(dmirror_suite());
}
