#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xxhash.h>

#include "escape.h"
#include "files.h"
#include "procfs.h"

/* What readlink of /proc/PID/fd/N shows for the kernel's own objects, and
 * what to call them; the first prefix that matches wins. */
static const struct { const char *prefix, *what; } kernel_objects[] = {
	{ "pipe:", "a pipe" },
	{ "socket:", "a socket" },
	{ "anon_inode:[eventfd]", "an eventfd" },
	{ "anon_inode:[signalfd]", "a signalfd" },
	{ "anon_inode:[timerfd]", "a timerfd" },
	{ "anon_inode:[eventpoll]", "an epoll instance" },
	{ "anon_inode:inotify", "an inotify instance" },
	{ "anon_inode:[fanotify]", "a fanotify instance" },
	{ "anon_inode:[io_uring]", "an io_uring instance" },
	{ "anon_inode:[pidfd]", "a pidfd" },
	{ "pidfd:", "a pidfd" },
	{ "anon_inode:[userfaultfd]", "a userfaultfd" },
	{ "anon_inode:[perf_event]", "a perf event" },
	{ "anon_inode:bpf", "a BPF object" },
	{ "/memfd:", "a memfd" },
	{ "anon_inode:", "a kernel object" },
};

static const char *kernel_object(const char *target)
{
	for (size_t i = 0; i < sizeof(kernel_objects) / sizeof(kernel_objects[0]); i++)
		if (!strncmp(target, kernel_objects[i].prefix, strlen(kernel_objects[i].prefix)))
			return kernel_objects[i].what;
	return NULL;
}

/* The files of these filesystems are views of the kernel's state, which
 * another machine (or a later moment) does not share. */
static const char *kernel_filesystem(long type)
{
	switch (type) {
	case PROC_SUPER_MAGIC:
		return "a file of /proc";
	case SYSFS_MAGIC:
		return "a file of /sys";
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
		return "a file of a cgroup filesystem";
	case DEBUGFS_MAGIC:
	case TRACEFS_MAGIC:
	case SECURITYFS_MAGIC:
	case BPF_FS_MAGIC:
		return "a file of a kernel filesystem";
	}
	return NULL;
}

/* Terminals by device number: pseudo-terminal slaves (136-143), virtual
 * consoles (4:0-63), /dev/tty (5:0) and /dev/console (5:1).  Serial ports
 * (4:64 and up) are hardware: other devices. */
static bool is_terminal(dev_t rdev)
{
	unsigned int maj = major(rdev), min = minor(rdev);

	return (maj >= 136 && maj <= 143) || (maj == 4 && min < 64) || (maj == 5 && min <= 1);
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && !strcmp(s + n - t, tail);
}

/* What /proc/PID/fdinfo/N says: the offset, the open flags (O_CLOEXEC for
 * FD_CLOEXEC) and whether a lock or lease is held through it. */
struct fdinfo {
	unsigned long long pos;
	unsigned int flags;
	bool locked;
};

static int read_fdinfo(pid_t pid, int fd, struct fdinfo *fi)
{
	char name[32], *text, *line, *next;
	int err;

	snprintf(name, sizeof(name), "fdinfo/%d", fd);
	err = procfs_read_file(pid, name, &text, NULL);
	if (err)
		return err;
	memset(fi, 0, sizeof(*fi));
	for (line = text; *line; line = next) {
		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		if (sscanf(line, "pos: %llu", &fi->pos) == 1 ||
		    sscanf(line, "flags: %o", &fi->flags) == 1)
			continue;
		if (!strncmp(line, "lock:", 5))
			fi->locked = true;
	}
	free(text);
	return 0;
}

ATTR_PRINTF(2, 3)
static void refuse(struct file_look *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->why, sizeof(l->why), fmt, ap);
	va_end(ap);
}

/*
 * Does the path still lead to the file the fd holds, as the process sees
 * the filesystem (its root)?  The copy opens the path: a file renamed or
 * replaced since it was opened would be another one.  NULL, or why not.
 */
static const char *path_astray(pid_t pid, const char *path, const struct stat *st)
{
	char *in_root;
	struct stat now;
	int ret;

	if (asprintf(&in_root, "/proc/%d/root%s", (int)pid, path) < 0)
		return "its path could not be looked up (out of memory)";
	ret = stat(in_root, &now);
	free(in_root);
	if (ret < 0)
		return "its path leads nowhere now (renamed or removed since it was opened)";
	if (now.st_dev != st->st_dev || now.st_ino != st->st_ino)
		return "its path names another file now (renamed or replaced since it was opened)";
	return NULL;
}

/* A character device: one the receiver has its own of, a terminal, or not
 * to be moved. */
static void look_at_device(const char *target, const struct stat *st, struct file_look *l)
{
	const char *memory = image_memory_device(st->st_rdev);

	l->rec.rdev = st->st_rdev;
	if (memory) {
		l->rec.kind = IMAGE_FILE_DEVICE;
		l->rec.path = strdup(memory);
	} else if (is_terminal(st->st_rdev)) {
		l->rec.kind = IMAGE_FILE_TERMINAL;
		l->rec.path = strdup(target);
	} else if (major(st->st_rdev) == 5 && minor(st->st_rdev) == 2) {
		refuse(l, "a pseudo-terminal's master does not move");
	} else {
		refuse(l, "a device (%u:%u) does not move", major(st->st_rdev),
		       minor(st->st_rdev));
	}
}

static void look_at_file(pid_t pid, const char *target, const struct stat *st,
			 const struct fdinfo *fi, struct file_look *l)
{
	const char *astray;

	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
		/* Where a listing stands is a cookie of its filesystem (a hash on
		 * ext4), meaningless in another directory. */
		if (S_ISDIR(st->st_mode) && fi->pos) {
			refuse(l, "a directory read part-way (offset %llu) does not move", fi->pos);
			return;
		}
		astray = path_astray(pid, target, st);
		if (astray) {
			refuse(l, "%s", astray);
			return;
		}
		l->rec.kind = S_ISDIR(st->st_mode) ? IMAGE_FILE_DIRECTORY : IMAGE_FILE_REGULAR;
		l->rec.path = strdup(target);
		if (S_ISDIR(st->st_mode))
			return;
		l->rec.offset = fi->pos;
		l->rec.size = st->st_size;
		l->rec.mtime_sec = st->st_mtim.tv_sec;
		l->rec.mtime_nsec = st->st_mtim.tv_nsec;
		return;
	case S_IFCHR:
		look_at_device(target, st, l);
		return;
	case S_IFBLK:
		refuse(l, "a block device does not move");
		return;
	case S_IFIFO:
		refuse(l, "a FIFO does not move");
		return;
	case S_IFSOCK:
		refuse(l, "a socket does not move");
		return;
	case S_IFLNK:
		refuse(l, "a symbolic link held with O_PATH does not move");
		return;
	default:
		refuse(l, "a kernel object does not move");
	}
}

/* Look at fd of pid, which names target.  0; 1 when it was closed while we
 * looked; or -errno. */
static int look_at(pid_t pid, int fd, const char *target, struct file_look *l)
{
	const char *what = kernel_object(target);
	struct fdinfo fi;
	struct statfs fs;
	struct stat st;
	char path[64];
	int err;

	l->rec.fd = fd;
	l->rec.shares = -1;
	if (what) {
		refuse(l, "%s does not move", what);
		return 0;
	}
	if (ends_with(target, " (deleted)")) {
		refuse(l, "a deleted file does not move");
		return 0;
	}
	if (target[0] != '/') {
		refuse(l, "a kernel object does not move");
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	if (stat(path, &st) < 0 || statfs(path, &fs) < 0)
		return errno == ENOENT ? 1 : -errno;
	err = read_fdinfo(pid, fd, &fi);
	if (err)
		return err == -ENOENT ? 1 : err;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	l->rec.open_flags = fi.flags & IMAGE_FILE_OPEN_FLAGS;
	l->rec.flags = fi.flags & O_CLOEXEC ? IMAGE_FILE_CLOEXEC : 0;
	what = kernel_filesystem(fs.f_type);
	if (what)
		refuse(l, "%s does not move", what);
	else if (fi.flags & O_ASYNC)
		refuse(l, "signal-driven I/O (O_ASYNC) does not move");
	else if (fi.locked)
		refuse(l, "a lock or lease held through it does not move");
	else
		look_at_file(pid, target, &st, &fi, l);
	if (!l->why[0] && !l->rec.path)
		return -ENOMEM;
	return 0;
}

void files_looks_free(struct file_looks *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->look[i].target);
		free(l->look[i].rec.path);
	}
	free(l->look);
	memset(l, 0, sizeof(*l));
}

int files_look(pid_t pid, struct file_looks *out)
{
	struct fd_list fds;
	int err = procfs_list_fds(pid, &fds);

	memset(out, 0, sizeof(*out));
	if (err)
		return err;
	out->look = calloc(fds.count ? fds.count : 1, sizeof(*out->look));
	if (!out->look) {
		fd_list_free(&fds);
		return -ENOMEM;
	}
	for (size_t i = 0; i < fds.count && !err; i++) {
		struct file_look *l = &out->look[out->count];

		if (fds.fd[i].fd <= 2)
			continue;
		err = look_at(pid, fds.fd[i].fd, fds.fd[i].target, l);
		if (err == 1) {
			free(l->rec.path);
			memset(l, 0, sizeof(*l));
			err = 0;
			continue;
		}
		/* The target moves into the look, even one that failed. */
		l->target = fds.fd[i].target;
		fds.fd[i].target = NULL;
		out->count++;
	}
	fd_list_free(&fds);
	if (err)
		files_looks_free(out);
	return err;
}

/*
 * Does fd (a file of im, at index i) share its open file with an earlier
 * one (dup, or inherited together)?  Those share one offset and one set of
 * flags, and so must their copies: the copy dups the first.  kcmp says;
 * where it cannot (a kernel without it), each is opened on its own.
 */
static int find_share(pid_t pid, const struct image *im, const struct file_look *const *from,
		      size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (im->file[k].shares == -1 && from[k]->dev == from[i]->dev &&
		    from[k]->ino == from[i]->ino &&
		    syscall(SYS_kcmp, pid, pid, KCMP_FILE, im->file[k].fd, im->file[i].fd) == 0)
			return im->file[k].fd;
	return -1;
}

static bool hashable(const struct image_file *f)
{
	unsigned int access = f->open_flags & O_ACCMODE;

	return f->kind == IMAGE_FILE_REGULAR && f->shares == -1 && f->size <= IMAGE_FILE_HASH_MAX &&
	       (access == O_RDONLY || access == O_RDWR) && !(f->open_flags & (O_PATH | O_DIRECT));
}

/* Read len bytes at offset 0 of fd whole; 0 or -errno (-ESTALE: it ended
 * sooner). */
static int read_whole(int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ESTALE;
		done += n;
	}
	return 0;
}

/*
 * Hash the content of f, a small file the process may read, through its own
 * open file (pidfd_getfd: we open nothing of our own, and its O_NOATIME, if
 * any, holds).  The size and time are taken again around the reading: a
 * file that changes meanwhile is left unhashed (its size and time are
 * what the copy checks).  0, or -errno.
 */
static int hash_file(int pidfd, struct image_file *f)
{
	struct stat before, after;
	uint8_t *buf = NULL;
	int fd, err = 0;

	fd = syscall(SYS_pidfd_getfd, pidfd, f->fd, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &before) < 0) {
		err = -errno;
		goto out;
	}
	if ((uint64_t)before.st_size > IMAGE_FILE_HASH_MAX)
		goto out;	/* grown since: too big to hash */
	buf = malloc(before.st_size ? before.st_size : 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	err = read_whole(fd, buf, before.st_size);
	if (err == -ESTALE) {
		err = 0;
		goto out;
	}
	if (err || fstat(fd, &after) < 0) {
		err = err ? err : -errno;
		goto out;
	}
	if (after.st_size == before.st_size && after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
	    after.st_mtim.tv_nsec == before.st_mtim.tv_nsec) {
		f->size = after.st_size;
		f->mtime_sec = after.st_mtim.tv_sec;
		f->mtime_nsec = after.st_mtim.tv_nsec;
		f->hash = XXH3_64bits(buf, after.st_size);
		f->flags |= IMAGE_FILE_HASHED;
	}
out:
	free(buf);
	close(fd);
	return err;
}

/* The first file that does not move, as im->why says it. */
static int refuse_file(struct image *im, const struct file_look *l)
{
	char target[120];	/* cut short: the line must hold why too */

	escape_text(target, sizeof(target), l->target, strlen(l->target));
	snprintf(im->why, sizeof(im->why), "fd %d -> %s: %s", l->rec.fd, target, l->why);
	return -EBADMSG;
}

/*
 * Hashing a file costs a read of it at the freeze and another in the copy:
 * 0.12 ms a MiB read and hashed from the page cache (measured here), a
 * little more in the copy, lost in the noise of a freeze (8 ms) and a thaw
 * (11 ms) of a small process with a 1 MiB file open.  A bound in all keeps
 * a process with a great many small files from costing more than that.
 */
#define HASH_BUDGET	(64UL << 20)

int files_collect(pid_t pid, bool drop, struct image *im)
{
	uint64_t hashed = 0;
	const struct file_look **from = NULL;
	struct file_looks looks;
	int pidfd = -1, err = files_look(pid, &looks);

	if (err)
		return err;
	im->file = calloc(looks.count ? looks.count : 1, sizeof(*im->file));
	from = calloc(looks.count ? looks.count : 1, sizeof(*from));
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (!im->file || !from || pidfd < 0) {
		err = pidfd < 0 && im->file && from ? -errno : -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < looks.count && !err; i++) {
		struct file_look *l = &looks.look[i];
		struct image_file *f = &im->file[im->nfile];

		if (l->why[0] && drop)
			continue;
		if (l->why[0]) {
			err = refuse_file(im, l);
			break;
		}
		*f = l->rec;
		l->rec.path = NULL;	/* the image's now */
		from[im->nfile] = l;
		f->shares = find_share(pid, im, from, im->nfile);
		im->nfile++;
		if (hashable(f) && hashed + f->size <= HASH_BUDGET) {
			err = hash_file(pidfd, f);
			hashed += f->size;
		}
	}
	if (!err && im->nfile)
		im->state.flags |= IMAGE_STATE_FILES;
out:
	if (err)
		image_files_free(im);
	if (pidfd >= 0)
		close(pidfd);
	free(from);
	files_looks_free(&looks);
	return err;
}
