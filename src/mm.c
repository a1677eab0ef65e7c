#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xxhash.h>

#include "mm.h"
#include "procfs.h"

/* Fields of /proc/PID/stat, numbered as in proc(5). */
enum {
	STAT_STATE = 3,
	STAT_START_CODE = 26, STAT_END_CODE, STAT_START_STACK,
	STAT_START_DATA = 45, STAT_END_DATA, STAT_START_BRK, STAT_ARG_START, STAT_ARG_END,
	STAT_ENV_START, STAT_ENV_END,
	STAT_FIELDS
};

/* Capabilities that let a process set its exe link (prctl(2), PR_SET_MM). */
#define CAP_BIT_SYS_ADMIN		21
#define CAP_BIT_CHECKPOINT_RESTORE	40

/* The numbers of /proc/PID/stat after the command name (which may hold
 * spaces and parentheses: it ends at the last ')').  -EPROTO for a kernel
 * that shows fewer (before Linux 3.5). */
static int read_stat_fields(pid_t pid, uint64_t field[STAT_FIELDS])
{
	char *text, *p, *end;
	int n, err = procfs_read_file(pid, "stat", &text, NULL);

	if (err)
		return err;
	p = strrchr(text, ')');
	for (n = STAT_STATE; p && *p && n < STAT_FIELDS; n++) {
		p += strspn(p + 1, " ") + 1;
		if (n == STAT_STATE) {
			p += strcspn(p, " ");
			continue;
		}
		field[n] = strtoull(p, &end, 10);
		if (end == p)
			break;
		p = end;
	}
	free(text);
	return n == STAT_FIELDS ? 0 : -EPROTO;
}

static void stat_to_rec(const uint64_t f[STAT_FIELDS], struct image_mm_rec *m)
{
	m->start_code = f[STAT_START_CODE];
	m->end_code = f[STAT_END_CODE];
	m->start_stack = f[STAT_START_STACK];
	m->start_data = f[STAT_START_DATA];
	m->end_data = f[STAT_END_DATA];
	m->start_brk = f[STAT_START_BRK];
	m->arg_start = f[STAT_ARG_START];
	m->arg_end = f[STAT_ARG_END];
	m->env_start = f[STAT_ENV_START];
	m->env_end = f[STAT_ENV_END];
}

/*
 * The heap's end.  The kernel shows start_brk but not brk itself; its
 * [heap] mappings end at brk rounded up to a page, which is all the
 * kernel's brk() goes by (it maps and unmaps whole pages), and the
 * allocator keeps the exact end in its own memory.
 */
static uint64_t heap_end(const struct vma_list *vmas, uint64_t start_brk)
{
	uint64_t end = start_brk;

	for (size_t i = 0; i < vmas->count; i++)
		if (!strcmp(vmas->vma[i].name, "[heap]") && vmas->vma[i].end > end)
			end = vmas->vma[i].end;
	return end;
}

/* Size and XXH3-64 of the regular file open on fd, read from its start. */
static int hash_file(int fd, uint64_t *size, uint64_t *sum)
{
	XXH3_state_t *state = XXH3_createState();
	size_t cap = 1UL << 20;
	uint8_t *buf = malloc(cap);
	uint64_t done = 0;
	struct stat st;
	int err = 0;

	if (!state || !buf) {
		err = -ENOMEM;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	XXH3_64bits_reset(state);
	for (;;) {
		ssize_t n = pread(fd, buf, cap, done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		XXH3_64bits_update(state, buf, n);
		done += n;
	}
	*size = done;
	*sum = XXH3_64bits_digest(state);
out:
	free(buf);
	XXH3_freeState(state);
	return err;
}

/* What program the process runs: best effort (a program deleted since, a
 * restorer's memfd or one we cannot read is not named). */
static int collect_exe(pid_t pid, struct image_mm *mm)
{
	static const char deleted[] = " (deleted)";
	char path[64], target[IMAGE_MAX_PATH];
	ssize_t n;
	int fd, err;

	mm->exe = strdup("");
	if (!mm->exe)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, target, sizeof(target));
	if (n <= 0 || n >= (ssize_t)sizeof(target))
		return 0;
	target[n] = '\0';
	if ((size_t)n >= sizeof(deleted) - 1 && !strcmp(target + n - (sizeof(deleted) - 1), deleted))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	err = hash_file(fd, &mm->rec.exe_size, &mm->rec.exe_sum);
	close(fd);
	if (err)
		return err == -ENOMEM ? err : 0;
	free(mm->exe);
	mm->exe = strdup(target);
	if (!mm->exe)
		return -ENOMEM;
	mm->rec.flags |= IMAGE_MM_EXE;
	return 0;
}

int mm_collect(pid_t pid, struct image *im)
{
	uint64_t field[STAT_FIELDS] = { 0 };
	struct image_mm *mm = &im->mm;
	int err = read_stat_fields(pid, field);

	if (err)
		return err;
	memset(&mm->rec, 0, sizeof(mm->rec));
	stat_to_rec(field, &mm->rec);
	/* The kernel shows zeros to whoever may not ptrace the process. */
	if (!mm->rec.start_code && !mm->rec.end_code && !mm->rec.start_stack)
		return -EACCES;
	mm->rec.brk = heap_end(&im->vmas, mm->rec.start_brk);
	err = collect_exe(pid, mm);
	if (err)
		return err;
	mm->known = true;
	return 0;
}

/* ---- in the copy ---- */

#define PAGE		4096UL

/* Scratch pages in the restorer: the map, the auxv, the program's path. */
enum { SCRATCH_MAP, SCRATCH_AUXV, SCRATCH_PATH, SCRATCH_PAGES };

/* May the restorer (so the copy) set its exe link?  Its effective set says. */
static bool may_set_exe(pid_t pid)
{
	uint64_t caps = 0;
	char *text;

	if (procfs_read_file(pid, "status", &text, NULL))
		return false;
	if (procfs_status_number(text, "CapEff", 16, &caps) != 1)
		caps = 0;
	free(text);
	return caps & (1ULL << CAP_BIT_SYS_ADMIN | 1ULL << CAP_BIT_CHECKPOINT_RESTORE);
}

static long remote_close(struct remote *r, long fd)
{
	return remote_syscall(r, SYS_close, fd, 0, 0, 0, 0, 0);
}

/*
 * The image's program, opened in the restorer, if the file at its path here
 * is the same program: a regular file (looked at through an O_PATH
 * descriptor first, so that opening the path never opens a device) of the
 * same size and sum.  Its fd in the restorer, or -1 when it is not there or
 * not the same.  The sum is of the very file the fd names.
 */
static long open_same_exe(const struct image *im, struct remote *r, unsigned long path_page)
{
	char fdpath[64];
	uint64_t size, sum;
	struct stat st;
	long pfd, fd;
	int local, err;

	if (remote_write(r, path_page, im->mm.exe, strlen(im->mm.exe) + 1))
		return -1;
	pfd = remote_syscall(r, SYS_openat, AT_FDCWD, path_page, O_PATH | O_CLOEXEC, 0, 0, 0);
	if (pfd < 0)
		return -1;
	snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/%ld", (int)r->pid, pfd);
	if (stat(fdpath, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != im->mm.rec.exe_size) {
		(void)!remote_close(r, pfd);
		return -1;
	}
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%ld", pfd);
	fd = remote_write(r, path_page, fdpath, strlen(fdpath) + 1) ? -1 :
	     remote_syscall(r, SYS_openat, AT_FDCWD, path_page, O_RDONLY | O_CLOEXEC, 0, 0, 0);
	(void)!remote_close(r, pfd);
	if (fd < 0)
		return -1;
	snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/%ld", (int)r->pid, fd);
	local = open(fdpath, O_RDONLY | O_CLOEXEC);
	err = local < 0 ? -errno : hash_file(local, &size, &sum);
	if (local >= 0)
		close(local);
	if (err || size != im->mm.rec.exe_size || sum != im->mm.rec.exe_sum) {
		(void)!remote_close(r, fd);
		return -1;
	}
	return fd;
}

/*
 * The exe link cannot change while the old program is still mapped
 * (the kernel says EBUSY), and the restorer's code page is a mapping of its
 * memfd.  Put an anonymous copy of that page in its place with one mremap:
 * the gadget's next instruction, the int3, then runs from the copy.
 */
static int unpin_stub_file(struct remote *r)
{
	uint8_t page[PAGE];
	long copy, ret;
	int err = remote_read(r, STUB_TEXT_ADDR, page, sizeof(page));

	if (err)
		return err;
	copy = remote_mmap(r, 0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (copy < 0)
		return (int)copy;
	err = remote_write(r, copy, page, sizeof(page));
	ret = err ? err : remote_mprotect(r, copy, PAGE, PROT_READ | PROT_EXEC);
	if (!ret)
		ret = remote_syscall(r, SYS_mremap, copy, PAGE, PAGE,
				     MREMAP_MAYMOVE | MREMAP_FIXED, STUB_TEXT_ADDR, 0);
	if (ret == (long)STUB_TEXT_ADDR)
		return 0;
	(void)!remote_munmap(r, copy, PAGE);
	return ret < 0 ? (int)ret : -EPROTO;
}

/* Read the fields back: what the kernel now shows is the image's. */
static int verify_mm(const struct image *im, pid_t pid, bool exe_set, char *why, size_t len)
{
	uint64_t field[STAT_FIELDS] = { 0 };
	struct image_mm_rec got = im->mm.rec;
	char path[64], target[IMAGE_MAX_PATH];
	size_t auxv_len;
	char *auxv;
	ssize_t n;
	int err = read_stat_fields(pid, field);

	if (err)
		return say_why(err, why, len, "reading the copy's mm fields back: %s",
			       strerror(-err));
	stat_to_rec(field, &got);
	if (memcmp(&got, &im->mm.rec, sizeof(got)))
		return say_why(-EPROTO, why, len, "the copy's mm fields read back otherwise "
			       "(code %#lx-%#lx, stack %#lx)", (unsigned long)got.start_code,
			       (unsigned long)got.end_code, (unsigned long)got.start_stack);
	if (im->auxv_size) {
		err = procfs_read_file(pid, "auxv", &auxv, &auxv_len);
		if (err)
			return say_why(err, why, len, "reading the copy's auxv back: %s",
				       strerror(-err));
		err = auxv_len != im->auxv_size || memcmp(auxv, im->auxv, auxv_len) ? -EPROTO : 0;
		free(auxv);
		if (err)
			return say_why(err, why, len, "the copy's auxiliary vector reads back "
				       "otherwise (%zu bytes, not %zu)", auxv_len, im->auxv_size);
	}
	if (!exe_set)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n >= 0)
		target[n] = '\0';
	if (n < 0 || strcmp(target, im->mm.exe))
		return say_why(-EPROTO, why, len, "the copy's /proc/PID/exe does not name %s",
			       im->mm.exe);
	return 0;
}

/* PR_SET_MM_MAP with the map in scratch; exe_fd -1 leaves the link. */
static long set_mm_map(const struct image *im, struct remote *r, unsigned long scratch,
		       long exe_fd)
{
	unsigned long auxv_page = scratch + SCRATCH_AUXV * PAGE;
	const struct image_mm_rec *m = &im->mm.rec;
	struct prctl_mm_map map = {
		.start_code = m->start_code, .end_code = m->end_code,
		.start_data = m->start_data, .end_data = m->end_data,
		.start_brk = m->start_brk, .brk = m->brk, .start_stack = m->start_stack,
		.arg_start = m->arg_start, .arg_end = m->arg_end,
		.env_start = m->env_start, .env_end = m->env_end,
		.auxv = im->auxv_size ? (__u64 *)auxv_page : NULL,
		.auxv_size = im->auxv_size,
		.exe_fd = exe_fd < 0 ? (uint32_t)-1 : (uint32_t)exe_fd,
	};
	int err = remote_write(r, scratch, &map, sizeof(map));

	if (!err && im->auxv_size)
		err = remote_write(r, auxv_page, im->auxv, im->auxv_size);
	return err ? err : remote_syscall(r, SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, scratch,
					  sizeof(map), 0, 0);
}

int mm_restore(const struct image *im, struct remote *r, char *why, size_t len)
{
	long scratch, exe_fd = -1, ret;
	int err;

	if (!im->mm.known)
		return 0;	/* an image from before the note: the copy keeps the restorer's */
	scratch = remote_mmap(r, 0, SCRATCH_PAGES * PAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (scratch < 0)
		return say_why((int)scratch, why, len, "scratch pages: %s", strerror(-scratch));
	if (im->mm.rec.flags & IMAGE_MM_EXE && may_set_exe(r->pid))
		exe_fd = open_same_exe(im, r, scratch + SCRATCH_PATH * PAGE);
	if (exe_fd >= 0 && (err = unpin_stub_file(r))) {
		(void)!remote_close(r, exe_fd);
		return say_why(err, why, len, "replacing the restorer's code page: %s",
			       strerror(-err));
	}
	ret = set_mm_map(im, r, scratch, exe_fd);
	/* A link the kernel will not take leaves the restorer's; the rest stands. */
	if (exe_fd >= 0 && (ret == -EPERM || ret == -EACCES || ret == -EBUSY)) {
		(void)!remote_close(r, exe_fd);
		exe_fd = -1;
		ret = set_mm_map(im, r, scratch, exe_fd);
	}
	if (ret < 0)
		return say_why((int)ret, why, len, "prctl(PR_SET_MM_MAP) (code %#lx-%#lx, heap "
			       "%#lx-%#lx, stack %#lx): %s", (unsigned long)im->mm.rec.start_code,
			       (unsigned long)im->mm.rec.end_code,
			       (unsigned long)im->mm.rec.start_brk, (unsigned long)im->mm.rec.brk,
			       (unsigned long)im->mm.rec.start_stack, strerror(-ret));
	if (exe_fd >= 0 && (ret = remote_close(r, exe_fd)) < 0)
		return say_why((int)ret, why, len, "closing the program: %s", strerror(-ret));
	ret = remote_munmap(r, scratch, SCRATCH_PAGES * PAGE);
	if (ret < 0)
		return say_why((int)ret, why, len, "scratch pages: %s", strerror(-ret));
	return verify_mm(im, r->pid, exe_fd >= 0, why, len);
}
