#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>
#include <xxhash.h>

#include "error.h"
#include "escape.h"
#include "reopen.h"

/* The restorer's scratch: a path in the first page, what comes back (a
 * struct stat, termios) in the second. */
#define SCRATCH_SIZE	(2 * IMAGE_PAGE)
#define SCRATCH_OUT	IMAGE_PAGE

/* "fd N -> PATH", the path escaped (it comes from the image) and cut short. */
static const char *file_name(const struct image_file *f, char *out, size_t len)
{
	char path[120];		/* cut short: a message holds more */

	escape_text(path, sizeof(path), f->path, strlen(f->path));
	snprintf(out, len, "fd %d -> %s", f->fd, path);
	return out;
}

/* Whom the copy runs as, for messages. */
static const char *copy_user(const struct remote *r, char *out, size_t len)
{
	uid_t uid = r->creds && r->creds->change ? r->creds->uid : geteuid();
	struct passwd *pw;

	if (r->creds && r->creds->change)
		return r->creds->user;
	pw = getpwuid(uid);
	if (pw)
		snprintf(out, len, "%s", pw->pw_name);
	else
		snprintf(out, len, "uid %u", (unsigned int)uid);
	return out;
}

static const char *file_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	case S_IFLNK:
		return "a symbolic link";
	}
	return "something else";
}

/* Is st (found here) the file f was?  0, or -ESTALE with why saying what
 * differs.  With reopen_changed only what kind of file it is counts. */
static int compare_file(const struct image_file *f, const struct stat *st, bool reopen_changed,
			char *why, size_t len)
{
	char name[160];

	switch (f->kind) {
	case IMAGE_FILE_REGULAR:
		if (!S_ISREG(st->st_mode))
			return say_why(-ESTALE, why, len, "%s: not a regular file any more (%s)",
				       file_name(f, name, sizeof(name)), file_type(st->st_mode));
		if (reopen_changed)
			return 0;
		if ((uint64_t)st->st_size != f->size)
			return say_why(-ESTALE, why, len, "%s: changed since the freeze (%lld bytes "
				       "now, %llu then); --reopen-changed (thaw, run) opens it anyway",
				       file_name(f, name, sizeof(name)), (long long)st->st_size,
				       (unsigned long long)f->size);
		if (st->st_mtim.tv_sec != f->mtime_sec || st->st_mtim.tv_nsec != f->mtime_nsec)
			return say_why(-ESTALE, why, len, "%s: changed since the freeze (modified "
				       "at %lld.%09ld now, %lld.%09u then); thaw --reopen-changed "
				       "opens it anyway", file_name(f, name, sizeof(name)),
				       (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
				       (long long)f->mtime_sec, f->mtime_nsec);
		return 0;
	case IMAGE_FILE_DIRECTORY:
		if (!S_ISDIR(st->st_mode))
			return say_why(-ESTALE, why, len, "%s: not a directory any more (%s)",
				       file_name(f, name, sizeof(name)), file_type(st->st_mode));
		return 0;
	case IMAGE_FILE_DEVICE:
		if (!S_ISCHR(st->st_mode) || st->st_rdev != f->rdev)
			return say_why(-ESTALE, why, len, "%s: not device %u:%u here",
				       file_name(f, name, sizeof(name)), major(f->rdev),
				       minor(f->rdev));
		return 0;
	}
	return 0;
}

/* A system call in the copy failed on f: say which (what; NULL: finding or
 * opening it, as whom) and why. */
static int failed_on(const struct remote *r, const struct image_file *f, long ret,
		     const char *what, char *why, size_t len)
{
	char name[160], user[64];

	if (!what)
		return say_why(ret, why, len, "%s: %s cannot open it here: %s",
			       file_name(f, name, sizeof(name)), copy_user(r, user, sizeof(user)),
			       strerror(-ret));
	return say_why(ret, why, len, "%s: %s in the copy: %s", file_name(f, name, sizeof(name)),
		       what, strerror(-ret));
}

static long scratch_map(struct remote *r)
{
	return remote_mmap(r, 0, SCRATCH_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/* Read back the struct stat a call left in the scratch. */
static int scratch_stat(struct remote *r, long scratch, struct stat *st)
{
	return remote_read(r, scratch + SCRATCH_OUT, st, sizeof(*st));
}

int reopen_precheck(const struct image *im, struct remote *r, bool reopen_changed, char *why,
		    size_t why_len)
{
	long scratch, ret = 0;
	int err = 0;

	if (!im->nfile)
		return 0;
	scratch = scratch_map(r);
	if (scratch < 0)
		return say_why(scratch, why, why_len, "a scratch page for the files: %s",
			       strerror(-scratch));
	for (size_t i = 0; i < im->nfile && !err; i++) {
		const struct image_file *f = &im->file[i];
		struct stat st;

		if (f->shares != -1 || f->kind == IMAGE_FILE_TERMINAL)
			continue;
		err = remote_write(r, scratch, f->path, strlen(f->path) + 1);
		ret = err ? err : remote_syscall(r, SYS_newfstatat, AT_FDCWD, scratch,
						 scratch + SCRATCH_OUT, 0, 0, 0);
		if (ret < 0)
			err = failed_on(r, f, ret, NULL, why, why_len);
		else if (!(err = scratch_stat(r, scratch, &st)))
			err = compare_file(f, &st, reopen_changed, why, why_len);
	}
	ret = remote_munmap(r, scratch, SCRATCH_SIZE);
	if (!err && ret < 0)
		err = say_why(ret, why, why_len, "a scratch page for the files: %s", strerror(-ret));
	return err;
}

ATTR_PRINTF(3, 4)
static void add_warning(char *warning, size_t len, const char *fmt, ...)
{
	size_t used = strlen(warning);
	va_list ap;

	if (used && used + 2 < len) {
		memcpy(warning + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(warning + used, len - used, fmt, ap);
	va_end(ap);
}

/* The first of the copy's fds 0-2 that is a terminal, or -1. */
static int copy_terminal(struct remote *r, long scratch)
{
	for (int fd = 0; fd < 3; fd++)
		if (remote_syscall(r, SYS_ioctl, fd, TCGETS, scratch + SCRATCH_OUT, 0, 0, 0) == 0)
			return fd;
	return -1;
}

/*
 * Open f in the copy, by its path (or, for a terminal, the receiving side's
 * own, through /proc/self/fd); the fd it got, or -errno.  O_NONBLOCK: a
 * FIFO or a device put at the path meanwhile must not hang the restorer
 * (the file's own flags are set once it is placed); O_NOCTTY: no terminal
 * becomes the copy's controlling one.
 */
static long open_in_copy(struct remote *r, long scratch, const char *path, uint32_t flags)
{
	int err = remote_write(r, scratch, path, strlen(path) + 1);

	if (err)
		return err;
	return remote_syscall(r, SYS_openat, AT_FDCWD, scratch,
			      flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0, 0, 0);
}

/* Put the open file at got at f's number, with f's FD_CLOEXEC. */
static long place_fd(struct remote *r, long got, const struct image_file *f)
{
	int cloexec = f->flags & IMAGE_FILE_CLOEXEC ? O_CLOEXEC : 0;
	long ret, closed;

	if (got == f->fd)
		return cloexec ? 0 : remote_syscall(r, SYS_fcntl, got, F_SETFD, 0, 0, 0, 0);
	ret = remote_syscall(r, SYS_dup3, got, f->fd, cloexec, 0, 0, 0);
	closed = remote_syscall(r, SYS_close, got, 0, 0, 0, 0, 0);
	return ret < 0 ? ret : closed;
}

/* The content of f, now at its number in the copy, read by the copy: the
 * same as at the freeze?  0, or -errno with why. */
static int check_content(struct remote *r, const struct image_file *f, char *why, size_t len)
{
	size_t map = (f->size + IMAGE_PAGE - 1) / IMAGE_PAGE * IMAGE_PAGE;
	uint8_t *local = malloc(f->size);
	long buf, ret = 0;
	char name[160];
	int err = 0;

	if (!local)
		return say_why(-ENOMEM, why, len, "out of memory");
	buf = remote_mmap(r, 0, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf < 0) {
		free(local);
		return failed_on(r, f, buf, "mapping room to read it", why, len);
	}
	for (size_t done = 0; done < f->size && ret >= 0; done += ret) {
		ret = remote_syscall(r, SYS_pread64, f->fd, buf + done, f->size - done, done, 0, 0);
		if (ret == 0)
			ret = -ESTALE;	/* shorter than fstat said a moment ago */
	}
	if (ret < 0)
		err = failed_on(r, f, ret, "reading it", why, len);
	else if ((err = remote_read(r, buf, local, f->size)))
		err = failed_on(r, f, err, "reading it", why, len);
	else if (XXH3_64bits(local, f->size) != f->hash)
		err = say_why(-ESTALE, why, len, "%s: changed since the freeze (the same size and "
			      "time, other content); --reopen-changed (thaw, run) opens it anyway",
			      file_name(f, name, sizeof(name)));
	free(local);
	ret = remote_munmap(r, buf, map);
	if (!err && ret < 0)
		err = failed_on(r, f, ret, "unmapping", why, len);
	return err;
}

/* Open one file that is not a dup, put it at its number and check it. */
static int reopen_one(struct remote *r, long scratch, const struct image_file *f,
		      bool reopen_changed, int *terminal, char *warning, size_t warning_len,
		      char *why, size_t why_len)
{
	const char *path = f->path;
	char tty[32];
	struct stat st;
	long got, ret;
	int err;

	if (f->kind == IMAGE_FILE_TERMINAL) {
		if (*terminal == -2)
			*terminal = copy_terminal(r, scratch);
		snprintf(tty, sizeof(tty), "/proc/self/fd/%d", *terminal);
		path = *terminal >= 0 ? tty : "/dev/null";
	}
	got = open_in_copy(r, scratch, path, f->open_flags);
	if (got < 0 && f->kind == IMAGE_FILE_TERMINAL && *terminal >= 0) {
		*terminal = -1;	/* ours but not the copy's to open: none */
		got = open_in_copy(r, scratch, "/dev/null", f->open_flags);
	}
	if (got < 0)
		return failed_on(r, f, got, NULL, why, why_len);
	if (f->kind == IMAGE_FILE_TERMINAL && *terminal < 0)
		add_warning(warning, warning_len, "fd %d was a terminal; it is /dev/null, as the "
			    "copy has no terminal here", f->fd);
	ret = place_fd(r, got, f);
	if (ret >= 0 && !(f->open_flags & (O_PATH | O_NONBLOCK)))
		ret = remote_syscall(r, SYS_fcntl, f->fd, F_SETFL, f->open_flags, 0, 0, 0);
	if (ret < 0)
		return failed_on(r, f, ret, "placing it", why, why_len);
	ret = remote_syscall(r, SYS_fstat, f->fd, scratch + SCRATCH_OUT, 0, 0, 0, 0);
	if (ret < 0 || (err = scratch_stat(r, scratch, &st)))
		return failed_on(r, f, ret < 0 ? ret : err, "fstat", why, why_len);
	err = compare_file(f, &st, reopen_changed, why, why_len);
	if (err)
		return err;
	if (f->kind == IMAGE_FILE_REGULAR && f->offset && !(f->open_flags & O_PATH)) {
		ret = remote_syscall(r, SYS_lseek, f->fd, f->offset, SEEK_SET, 0, 0, 0);
		if (ret != (long)f->offset)
			return failed_on(r, f, ret < 0 ? ret : -EIO, "seeking to its offset", why,
					 why_len);
	}
	if (f->flags & IMAGE_FILE_HASHED && f->size && !reopen_changed)
		return check_content(r, f, why, why_len);
	return 0;
}

int reopen_files(const struct image *im, struct remote *r, bool reopen_changed, char *warning,
		 size_t warning_len, char *why, size_t why_len)
{
	int terminal = -2;	/* not looked for yet */
	long scratch, ret;
	int err = 0;

	if (!im->nfile)
		return 0;
	scratch = scratch_map(r);
	if (scratch < 0)
		return say_why(scratch, why, why_len, "a scratch page for the files: %s",
			       strerror(-scratch));
	for (size_t i = 0; i < im->nfile && !err; i++) {
		const struct image_file *f = &im->file[i];

		if (f->shares == -1) {
			err = reopen_one(r, scratch, f, reopen_changed, &terminal, warning,
					 warning_len, why, why_len);
			continue;
		}
		/* One open file under two numbers: one offset, as before. */
		ret = remote_syscall(r, SYS_dup3, f->shares, f->fd,
				     f->flags & IMAGE_FILE_CLOEXEC ? O_CLOEXEC : 0, 0, 0, 0);
		if (ret < 0)
			err = failed_on(r, f, ret, "dup3", why, why_len);
	}
	ret = remote_munmap(r, scratch, SCRATCH_SIZE);
	if (!err && ret < 0)
		err = say_why(ret, why, why_len, "a scratch page for the files: %s", strerror(-ret));
	return err;
}
