#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "error.h"

#define LOCK_NAME	"lock"
#define COMMAND_NAME	"command"
#define COMMAND_TMP	".tmp-command"
#define TMP_PREFIX	".tmp-"
#define COMMAND_MAX	(256UL << 10)

void checkpoint_name(const struct checkpoint_file *f, char name[32])
{
	snprintf(name, 32, "%08u.%s", f->seq, f->delta ? "delta" : "base");
}

static void tmp_name(const struct checkpoint_file *f, char name[48])
{
	snprintf(name, 48, TMP_PREFIX "%08u", f->seq);
}

/* A directory or file of DIR is trusted only as its owner's: the user
 * running, and nobody else may write it. */
static int check_ours(const struct stat *st, const char *what, const char *path, char *why,
		      size_t why_len)
{
	if (st->st_uid != geteuid())
		return say_why(-EPERM, why, why_len, "%s%s%s is owned by uid %u, not by you (uid "
			       "%u): a checkpoint found there could be anyone's", path, *what ? "/" :
			       "", what, (unsigned)st->st_uid, (unsigned)geteuid());
	if (st->st_mode & 022)
		return say_why(-EPERM, why, why_len, "%s%s%s may be written by others (mode %04o): "
			       "a checkpoint found there could be anyone's", path, *what ? "/" : "",
			       what, (unsigned)(st->st_mode & 07777));
	return 0;
}

static bool trusted_owner(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* The path of name in directory dir_path, for messages. */
static void child_path(char *out, size_t len, const char *dir_path, const char *name)
{
	if (!strcmp(dir_path, "."))
		snprintf(out, len, "%s", name);
	else
		snprintf(out, len, "%s%s%s", dir_path, strcmp(dir_path, "/") ? "/" : "", name);
}

/* What a name in directory dir leads to (entry) is as root or we left it
 * when the directory is root's or ours and nobody else may write it, or
 * it is sticky (/tmp) and the entry is root's or ours: nobody else may
 * rename or remove that (entry NULL: not looked at yet).  0, or -EPERM
 * with why. */
static int check_lookup(const struct stat *dir, const char *dir_path, const struct stat *entry,
			const char *name, char *why, size_t why_len)
{
	char there[PATH_MAX];

	child_path(there, sizeof(there), dir_path, name);
	if (!trusted_owner(dir->st_uid))
		return say_why(-EPERM, why, why_len, "%s is owned by uid %u, who could put "
			       "another directory in place of %s", dir_path, (unsigned)dir->st_uid,
			       there);
	if (!(dir->st_mode & 022))
		return 0;
	if (!(dir->st_mode & S_ISVTX))
		return say_why(-EPERM, why, why_len, "%s may be written by others (mode %04o), "
			       "who could put another directory in place of %s", dir_path,
			       (unsigned)(dir->st_mode & 07777), there);
	if (entry && !trusted_owner(entry->st_uid))
		return say_why(-EPERM, why, why_len, "%s is owned by uid %u, in %s which others "
			       "may write", there, (unsigned)entry->st_uid, dir_path);
	return 0;
}

/* walked, a directory's path (for messages), made its entry name's. */
static void walk_to(char *walked, size_t len, const char *name)
{
	char *slash = strrchr(walked, '/');
	const char *last = slash ? slash + 1 : walked;
	char there[PATH_MAX];

	if (strcmp(name, "..") || !strcmp(last, "..")) {
		child_path(there, sizeof(there), walked, name);
		snprintf(walked, len, "%s", there);
	} else if (!strcmp(walked, ".")) {
		snprintf(walked, len, "..");
	} else if (slash == walked) {
		walked[1] = '\0';	/* "/x/.." is "/", and "/.." too */
	} else if (slash) {
		*slash = '\0';
	} else {
		snprintf(walked, len, ".");
	}
}

/* Name in directory fd, not followed; made a directory (0700) first when
 * make and it is missing.  0, or -errno. */
static int stat_entry(int fd, const char *name, bool make, struct stat *st)
{
	if (fstatat(fd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != ENOENT || !make)
		return -errno;
	if (mkdirat(fd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	return fstatat(fd, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/*
 * Open directory path for its checkpoints, its symbolic links followed by
 * hand: every name on the way is looked up in a directory where only root
 * or we could have put what it leads to (check_lookup).  A run as root must
 * not be sent elsewhere (into /etc, or another user's directory) by a user
 * who owns a directory on the way, a link, or renames something.  The last
 * name is made a directory (0700) when create and it is missing.  Its fd,
 * or -errno with why.
 */
static int open_trusted(const char *path, bool create, char *why, size_t why_len)
{
	char rest[2 * PATH_MAX], walked[PATH_MAX], name[NAME_MAX + 1], target[PATH_MAX];
	struct stat dir, entry, got;
	size_t at = 0, len;
	int cur, next, links = 0, err = 0;

	if (strlen(path) >= sizeof(rest))
		return say_why(-ENAMETOOLONG, why, why_len, "%s: %s", path, strerror(ENAMETOOLONG));
	snprintf(rest, sizeof(rest), "%s", path);
	snprintf(walked, sizeof(walked), "%s", path[0] == '/' ? "/" : ".");
	cur = open(walked, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0)
		return say_why(-errno, why, why_len, "%s: %s", walked, strerror(errno));
	while (!err) {
		bool last;

		at += strspn(rest + at, "/");
		if (!rest[at])
			break;
		len = strcspn(rest + at, "/");
		if (len > NAME_MAX) {
			err = say_why(-ENAMETOOLONG, why, why_len, "%s: %s", path,
				      strerror(ENAMETOOLONG));
			break;
		}
		memcpy(name, rest + at, len);
		name[len] = '\0';
		at += len;
		last = !rest[at + strspn(rest + at, "/")];
		if (!strcmp(name, "."))
			continue;
		if (strcmp(name, "..")) {
			if (fstat(cur, &dir) < 0) {
				err = say_why(-errno, why, why_len, "%s: %s", walked, strerror(errno));
				break;
			}
			/* Nothing is made where it could not be trusted. */
			err = check_lookup(&dir, walked, NULL, name, why, why_len);
			if (err)
				break;
			err = stat_entry(cur, name, last && create, &entry);
			if (err) {
				child_path(target, sizeof(target), walked, name);
				err = say_why(err, why, why_len, "%s: %s", target, strerror(-err));
				break;
			}
			err = check_lookup(&dir, walked, &entry, name, why, why_len);
			if (err)
				break;
		}
		if (strcmp(name, "..") && S_ISLNK(entry.st_mode)) {
			ssize_t n = readlinkat(cur, name, target, sizeof(target) - 1);

			if (n < 0 || ++links > 40 || n + strlen(rest + at) + 2 > sizeof(rest)) {
				err = n < 0 ? -errno : links > 40 ? -ELOOP : -ENAMETOOLONG;
				err = say_why(err, why, why_len, "%s: %s", path, strerror(-err));
				break;
			}
			target[n] = '\0';
			/* The link's target, then what followed it. */
			memmove(rest + n + 1, rest + at, strlen(rest + at) + 1);
			memcpy(rest, target, n);
			rest[n] = '/';
			at = 0;
			if (target[0] == '/') {
				next = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
				if (next < 0) {
					err = say_why(-errno, why, why_len, "/: %s", strerror(errno));
					break;
				}
				close(cur);
				cur = next;
				snprintf(walked, sizeof(walked), "/");
			}
			continue;
		}
		next = openat(cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		walk_to(walked, sizeof(walked), name);
		if (next < 0) {
			err = say_why(-errno, why, why_len, "%s: %s", walked, strerror(errno));
			break;
		}
		close(cur);
		cur = next;
		/* What was checked is what we hold. */
		if (strcmp(name, "..") && (fstat(cur, &got) < 0 || got.st_dev != entry.st_dev ||
					   got.st_ino != entry.st_ino))
			err = say_why(-EAGAIN, why, why_len, "%s changed while it was opened",
				      walked);
	}
	next = err ? -1 : openat(cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!err && next < 0)
		err = say_why(-errno, why, why_len, "%s: %s", path, strerror(errno));
	close(cur);
	return err ? err : next;
}

static int open_dir(struct checkpoint_dir *d, const char *path, bool create, char *why,
		    size_t why_len)
{
	struct stat st;
	int err;

	d->path = path;
	d->lock_fd = -1;
	d->fd = open_trusted(path, create, why, why_len);
	if (d->fd < 0)
		return d->fd;
	if (fstat(d->fd, &st) < 0) {
		err = say_why(-errno, why, why_len, "%s: %s", path, strerror(errno));
	} else {
		err = check_ours(&st, "", path, why, why_len);
		if (!err)
			return 0;
	}
	close(d->fd);
	d->fd = -1;
	return err;
}

/* Who holds the lock, as its file says ("HOST PID"), for the message. */
static void lock_holder(int fd, char *out, size_t len)
{
	ssize_t n = pread(fd, out, len - 1, 0);

	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	for (char *c = out; *c; c++)
		if (*c < ' ' || *c > '~')
			*c = '?';
	if (!*out)
		snprintf(out, len, "unknown");
}

static int take_lock(struct checkpoint_dir *d, char *why, size_t why_len)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char me[128], holder[128];
	struct stat st;
	int n, err;

	/* One open of the lock file for as long as we run: closing any fd of
	 * it would drop a POSIX lock. */
	d->lock_fd = openat(d->fd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (d->lock_fd < 0)
		return say_why(-errno, why, why_len, "%s/" LOCK_NAME ": %s", d->path,
			       strerror(errno));
	if (fstat(d->lock_fd, &st) < 0)
		return say_why(-errno, why, why_len, "%s/" LOCK_NAME ": %s", d->path,
			       strerror(errno));
	if (!S_ISREG(st.st_mode))
		return say_why(-EINVAL, why, why_len, "%s/" LOCK_NAME ": not a regular file",
			       d->path);
	err = check_ours(&st, LOCK_NAME, d->path, why, why_len);
	if (err)
		return err;
	if (fcntl(d->lock_fd, F_SETLK, &fl) < 0) {
		if (errno != EAGAIN && errno != EACCES)
			return say_why(-errno, why, why_len, "locking %s/" LOCK_NAME ": %s",
				       d->path, strerror(errno));
		lock_holder(d->lock_fd, holder, sizeof(holder));
		return say_why(-EBUSY, why, why_len, "%s is in use by another contmig run (%s)",
			       d->path, holder);
	}
	if (gethostname(me, sizeof(me) - 24) < 0)
		snprintf(me, sizeof(me), "?");
	me[sizeof(me) - 24] = '\0';
	n = strlen(me);
	n += snprintf(me + n, sizeof(me) - n, " %d\n", (int)getpid());
	if (ftruncate(d->lock_fd, 0) < 0 || pwrite(d->lock_fd, me, n, 0) != n)
		return say_why(-errno, why, why_len, "writing %s/" LOCK_NAME ": %s", d->path,
			       strerror(errno));
	return 0;
}

/* DIR, open to read its entries (closedir it), or NULL with why. */
static DIR *open_listing(struct checkpoint_dir *d, char *why, size_t why_len, int *err)
{
	int fd = openat(d->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = fd < 0 ? NULL : fdopendir(fd);

	if (!dir) {
		*err = say_why(-errno, why, why_len, "listing %s: %s", d->path, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return dir;
}

/* What a run that died mid-write left: its temporary files. */
static int remove_leftovers(struct checkpoint_dir *d, char *why, size_t why_len)
{
	int err = 0;
	struct dirent *e;
	DIR *dir = open_listing(d, why, why_len, &err);

	if (!dir)
		return err;
	while (!err && (errno = 0, e = readdir(dir)))
		if (!strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) &&
		    unlinkat(d->fd, e->d_name, 0) < 0 && errno != ENOENT)
			err = say_why(-errno, why, why_len, "removing %s/%s: %s", d->path,
				      e->d_name, strerror(errno));
	if (!err && errno)
		err = say_why(-errno, why, why_len, "listing %s: %s", d->path, strerror(errno));
	closedir(dir);
	return err;
}

int checkpoint_open(struct checkpoint_dir *d, const char *path, char *why, size_t why_len)
{
	int err = open_dir(d, path, true, why, why_len);

	if (!err)
		err = take_lock(d, why, why_len);
	if (!err)
		err = remove_leftovers(d, why, why_len);
	if (err && d->fd >= 0)
		checkpoint_close(d);
	return err;
}

int checkpoint_look(struct checkpoint_dir *d, const char *path, char *why, size_t why_len)
{
	return open_dir(d, path, false, why, why_len);
}

void checkpoint_close(struct checkpoint_dir *d)
{
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	if (d->fd >= 0)
		close(d->fd);
	d->fd = d->lock_fd = -1;
}

/* Open a file of DIR that must be ours, a regular file, to read (without
 * waiting: a FIFO would hold the open until someone writes it). */
static int open_ours(struct checkpoint_dir *d, const char *name, char *why, size_t why_len)
{
	struct stat st;
	int fd = openat(d->fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), err;

	if (fd < 0)
		return say_why(-errno, why, why_len, "%s/%s: %s", d->path, name, strerror(errno));
	if (fstat(fd, &st) < 0)
		err = say_why(-errno, why, why_len, "%s/%s: %s", d->path, name, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		err = say_why(-EINVAL, why, why_len, "%s/%s: not a regular file", d->path, name);
	else
		err = check_ours(&st, name, d->path, why, why_len);
	if (!err)
		return fd;
	close(fd);
	return err;
}

int checkpoint_read_command(struct checkpoint_dir *d, char *cmd, size_t cap, size_t *len,
			    char *why, size_t why_len)
{
	int fd = open_ours(d, COMMAND_NAME, why, why_len);
	ssize_t n;

	if (fd < 0)
		return fd;
	n = pread(fd, cmd, cap, 0);
	if (n < 0)
		n = say_why(-errno, why, why_len, "reading %s/" COMMAND_NAME ": %s", d->path,
			    strerror(errno));
	else if ((size_t)n == cap || n == 0 || cmd[n - 1])
		n = say_why(-EINVAL, why, why_len, "%s/" COMMAND_NAME ": not a command contmig "
			    "wrote", d->path);
	close(fd);
	if (n < 0)
		return n;
	*len = n;
	return 0;
}

/* Write DIR/command as a checkpoint is written: whole or not at all. */
static int write_command(struct checkpoint_dir *d, const char *cmd, size_t len, char *why,
			 size_t why_len)
{
	int fd = openat(d->fd, COMMAND_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			0600), err = 0;

	if (fd < 0)
		return say_why(-errno, why, why_len, "%s/" COMMAND_TMP ": %s", d->path,
			       strerror(errno));
	if (write(fd, cmd, len) != (ssize_t)len || fsync(fd) < 0)
		err = say_why(errno ? -errno : -EIO, why, why_len, "writing %s/" COMMAND_TMP ": %s",
			      d->path, strerror(errno ? errno : EIO));
	if (close(fd) < 0 && !err)
		err = say_why(-errno, why, why_len, "writing %s/" COMMAND_TMP ": %s", d->path,
			      strerror(errno));
	if (!err && renameat(d->fd, COMMAND_TMP, d->fd, COMMAND_NAME) < 0)
		err = say_why(-errno, why, why_len, "naming %s/" COMMAND_NAME ": %s", d->path,
			      strerror(errno));
	if (err)
		unlinkat(d->fd, COMMAND_TMP, 0);
	else
		(void)fsync(d->fd);	/* best effort: the rename is done */
	return err;
}

int checkpoint_command(struct checkpoint_dir *d, char *const *argv, bool *same, char *why,
		       size_t why_len)
{
	size_t len = 0, had_len;
	char *cmd, *had;
	int err;

	for (char *const *a = argv; *a; a++)
		len += strlen(*a) + 1;
	if (len > COMMAND_MAX)
		return say_why(-E2BIG, why, why_len, "the command is longer than %lu bytes",
			       COMMAND_MAX);
	cmd = malloc(len);
	had = malloc(COMMAND_MAX + 1);
	if (!cmd || !had) {
		free(cmd);
		free(had);
		return say_why(-ENOMEM, why, why_len, "%s", strerror(ENOMEM));
	}
	len = 0;
	for (char *const *a = argv; *a; a++) {
		memcpy(cmd + len, *a, strlen(*a) + 1);
		len += strlen(*a) + 1;
	}
	err = checkpoint_read_command(d, had, COMMAND_MAX + 1, &had_len, why, why_len);
	if (err == -ENOENT) {
		err = write_command(d, cmd, len, why, why_len);
		*same = true;
	} else if (!err) {
		*same = had_len == len && !memcmp(had, cmd, len);
	}
	free(cmd);
	free(had);
	return err;
}

/* "NNNNNNNN.base" or "NNNNNNNN.delta": true with f's number and kind. */
static bool parse_name(const char *name, struct checkpoint_file *f)
{
	unsigned seq = 0;
	size_t i;

	for (i = 0; i < 8; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		seq = seq * 10 + (name[i] - '0');
	}
	if (!seq)
		return false;
	f->seq = seq;
	if (!strcmp(name + 8, ".base"))
		f->delta = false;
	else if (!strcmp(name + 8, ".delta"))
		f->delta = true;
	else
		return false;
	return true;
}

static int by_seq(const void *a, const void *b)
{
	const struct checkpoint_file *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int checkpoint_list(struct checkpoint_dir *d, struct checkpoint_list *l, char *why,
		    size_t why_len)
{
	size_t cap = 0;
	struct dirent *e;
	int err = 0;
	DIR *dir;

	memset(l, 0, sizeof(*l));
	l->next = 1;
	dir = open_listing(d, why, why_len, &err);
	if (!dir)
		return err;
	while (!err && (errno = 0, e = readdir(dir))) {
		struct checkpoint_file f = { 0 };
		struct stat st;

		if (!parse_name(e->d_name, &f))
			continue;
		if (fstatat(d->fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;	/* pruned meanwhile */
			err = say_why(-errno, why, why_len, "%s/%s: %s", d->path, e->d_name,
				      strerror(errno));
			break;
		}
		if (!S_ISREG(st.st_mode)) {
			err = say_why(-EINVAL, why, why_len, "%s/%s: not a regular file", d->path,
				      e->d_name);
			break;
		}
		err = check_ours(&st, e->d_name, d->path, why, why_len);
		if (err)
			break;
		f.size = st.st_size;
		f.mtime = st.st_mtim.tv_sec;
		if (l->count == cap) {
			struct checkpoint_file *more = realloc(l->file, (cap ? 2 * cap : 16) *
							       sizeof(*more));

			if (!more) {
				err = say_why(-ENOMEM, why, why_len, "%s", strerror(ENOMEM));
				break;
			}
			l->file = more;
			cap = cap ? 2 * cap : 16;
		}
		l->file[l->count++] = f;
		if (f.seq >= l->next)
			l->next = f.seq + 1;
	}
	if (!err && errno)
		err = say_why(-errno, why, why_len, "listing %s: %s", d->path, strerror(errno));
	closedir(dir);
	if (err) {
		checkpoint_list_free(l);
		return err;
	}
	if (l->count)	/* qsort's array must not be NULL, even empty */
		qsort(l->file, l->count, sizeof(*l->file), by_seq);
	/* A base and a delta of one number: the base merged from the chain
	 * that the delta ends (compact.h), whose removal a crash cut short.
	 * They are the same process: the base, which needs no chain, serves. */
	for (size_t i = 1; i < l->count; i++)
		if (l->file[i].seq == l->file[i - 1].seq) {
			if (l->file[i].delta)
				l->file[i] = l->file[i - 1];
			memmove(&l->file[i - 1], &l->file[i], (l->count - i) * sizeof(*l->file));
			l->count--;
			i--;
		}
	return 0;
}

void checkpoint_list_free(struct checkpoint_list *l)
{
	free(l->file);
	l->file = NULL;
	l->count = 0;
}

long checkpoint_chain_start(const struct checkpoint_list *l, size_t upto)
{
	size_t i = upto;

	if (upto >= l->count)
		return -1;
	while (l->file[i].delta) {
		if (i == 0 || l->file[i - 1].seq + 1 != l->file[i].seq)
			return -1;
		i--;
	}
	return (long)i;
}

int checkpoint_open_file(struct checkpoint_dir *d, const struct checkpoint_file *f, char *why,
			 size_t why_len)
{
	char name[32];

	checkpoint_name(f, name);
	return open_ours(d, name, why, why_len);
}

int checkpoint_begin(struct checkpoint_dir *d, const struct checkpoint_file *f, char *why,
		     size_t why_len)
{
	char name[48];
	int fd;

	tmp_name(f, name);
	fd = openat(d->fd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return say_why(-errno, why, why_len, "creating %s/%s: %s", d->path, name,
			       strerror(errno));
	return fd;
}

int checkpoint_publish(struct checkpoint_dir *d, const struct checkpoint_file *f, int fd,
		       char *why, size_t why_len)
{
	char tmp[48], name[32];

	tmp_name(f, tmp);
	checkpoint_name(f, name);
	/* Its bytes are on the disk (the server's, on NFS) before its name. */
	if (fsync(fd) < 0) {
		int err = say_why(-errno, why, why_len, "writing %s/%s: %s", d->path, tmp,
				  strerror(errno));

		checkpoint_discard(d, f, fd);
		return err;
	}
	if (close(fd) < 0 || renameat(d->fd, tmp, d->fd, name) < 0) {
		int err = say_why(-errno, why, why_len, "publishing %s/%s: %s", d->path, name,
				  strerror(errno));

		unlinkat(d->fd, tmp, 0);
		return err;
	}
	if (fsync(d->fd) < 0)
		return say_why(-errno, why, why_len, "syncing %s: %s", d->path, strerror(errno));
	return 0;
}

void checkpoint_discard(struct checkpoint_dir *d, const struct checkpoint_file *f, int fd)
{
	char tmp[48];

	tmp_name(f, tmp);
	if (fd >= 0)
		close(fd);
	unlinkat(d->fd, tmp, 0);
}

int checkpoint_prune(struct checkpoint_dir *d, unsigned seq, char *why, size_t why_len)
{
	struct checkpoint_list l;
	int err = checkpoint_list(d, &l, why, why_len);

	/* And the delta of that number, which the base replaces (compact.h). */
	for (size_t i = 0; !err && i <= l.count; i++) {
		struct checkpoint_file same = { .seq = seq, .delta = true };
		const struct checkpoint_file *f = i < l.count ? &l.file[i] : &same;
		char name[32];

		if (i < l.count && f->seq >= seq)
			continue;
		checkpoint_name(f, name);
		if (unlinkat(d->fd, name, 0) < 0 && errno != ENOENT)
			err = say_why(-errno, why, why_len, "removing %s/%s: %s", d->path, name,
				      strerror(errno));
	}
	checkpoint_list_free(&l);
	return err;
}

int checkpoint_holder(struct checkpoint_dir *d, char *holder, size_t len)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	int fd = openat(d->fd, LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), err = 0;
	struct stat st;

	holder[0] = '\0';
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0)
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -EINVAL;		/* not a lock of ours: nobody holds it */
	else if (fcntl(fd, F_GETLK, &fl) < 0)
		err = -errno;
	else if (fl.l_type != F_UNLCK)
		lock_holder(fd, holder, len);
	close(fd);
	return err;
}

int checkpoint_clear(struct checkpoint_dir *d, char *why, size_t why_len)
{
	int err = checkpoint_prune(d, UINT_MAX, why, why_len);

	if (!err && unlinkat(d->fd, COMMAND_NAME, 0) < 0 && errno != ENOENT)
		err = say_why(-errno, why, why_len, "removing %s/" COMMAND_NAME ": %s", d->path,
			      strerror(errno));
	return err;
}
