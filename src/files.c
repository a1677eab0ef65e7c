#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/magic.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>
#include <xxhash.h>

#include "escape.h"
#include "files.h"
#include "procfs.h"

/* ---- looking at a process's fds ------------------------------------------ */

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

/* ---- recording them at the freeze ------------------------------------------ */

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

int files_collect(pid_t pid, bool drop, struct image *im)
{
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
		if (hashable(f))
			err = hash_file(pidfd, f);
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

/* ---- opening them again in the copy ---------------------------------------- */

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
				       "now, %llu then); thaw --reopen-changed opens it anyway",
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

/* A system call in the copy failed on f: say which, as whom, and why. */
static int failed_on(const struct remote *r, const struct image_file *f, long ret,
		     const char *what, char *why, size_t len)
{
	char name[160], user[64];

	if (ret == -EACCES || ret == -EPERM || ret == -ENOENT || ret == -ENOTDIR ||
	    ret == -ELOOP)
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

int files_precheck(const struct image *im, struct remote *r, bool reopen_changed, char *why,
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
			err = failed_on(r, f, ret, "stat", why, why_len);
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
			      "time, other content); thaw --reopen-changed opens it anyway",
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
		return failed_on(r, f, got, "opening it", why, why_len);
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

int files_reopen(const struct image *im, struct remote *r, bool reopen_changed, char *warning,
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
