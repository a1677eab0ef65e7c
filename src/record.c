#include "config.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "record.h"

#define RECORD_KEEP_SECONDS	3600

const char *record_dir(void)
{
	static char dir[4096];
	const char *env = getenv("CONTMIG_STATE_DIR"), *run = getenv("XDG_RUNTIME_DIR");

	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	else if (geteuid() == 0)
		snprintf(dir, sizeof(dir), "/run/contmig");
	else if (run && *run)
		snprintf(dir, sizeof(dir), "%s/contmig", run);
	else
		snprintf(dir, sizeof(dir), "/tmp/contmig-%u", (unsigned)geteuid());
	return dir;
}

/* The directory exists, is ours and nobody else may write in it. */
static int open_dir(void)
{
	const char *dir = record_dir();
	struct stat st;
	int fd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

int record_check_dir(void)
{
	int fd = open_dir();

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static void id_name(const uint8_t id[16], char name[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(name + 2 * i, 3, "%02x", id[i]);
}

/* Remove records older than RECORD_KEEP_SECONDS. */
static void remove_old(int dfd)
{
	int fd = dup(dfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;
	time_t now = time(NULL);

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d))) {
		struct stat st;

		/* Records, and the new ones a crash left unnamed. */
		bool ours = strlen(e->d_name) == 32 ||
			    (e->d_name[0] == '.' && strstr(e->d_name, ".new"));

		if (ours &&
		    fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && now - st.st_mtime > RECORD_KEEP_SECONDS)
			unlinkat(dfd, e->d_name, 0);
	}
	closedir(d);
}

static int write_text(int fd, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;

	if (ftruncate(fd, 0) < 0)
		return -errno;
	n = pwrite(fd, text, len, 0);
	if (n != (ssize_t)len)
		return n < 0 ? -errno : -EIO;
	/* No fsync: the record must outlive the receiver, not the machine.  A
	 * crash of the machine kills the copy too; a record lost with it makes
	 * the sender keep the original, where "committed" would have it end. */
	return 0;
}

static void format_state(const struct record_state *st, char *text, size_t len)
{
	switch (st->outcome) {
	case RECORD_COMMITTED:
		snprintf(text, len, "committed %d %llu %s\n", (int)st->pid, st->start,
			 st->wake ? "wake" : "stay");
		break;
	case RECORD_ABORTED:
		snprintf(text, len, "aborted\n");
		break;
	default:
		snprintf(text, len, "pending %d %llu %d %llu\n", (int)st->pid, st->start,
			 (int)st->receiver, st->receiver_start);
	}
}

/* Anything but the three forms is unknown: never guess a decision. */
static void parse_state(const char *text, struct record_state *st)
{
	char wake[8] = "";
	int pid;

	memset(st, 0, sizeof(*st));
	if (sscanf(text, "committed %d %llu %7s", &pid, &st->start, wake) == 3 && pid > 0 &&
	    (!strcmp(wake, "wake") || !strcmp(wake, "stay"))) {
		st->outcome = RECORD_COMMITTED;
		st->pid = pid;
		st->wake = !strcmp(wake, "wake");
	} else if (sscanf(text, "pending %d %llu %d %llu", &pid, &st->start, &st->receiver,
			  &st->receiver_start) == 4 && pid > 0) {
		st->outcome = RECORD_PENDING;
		st->pid = pid;
	} else if (!strcmp(text, "aborted\n")) {
		st->outcome = RECORD_ABORTED;
	}
}

int record_create(const uint8_t id[16], const struct record_state *pending, struct record *rec)
{
	char name[33], tmp[48], text[96];
	int dfd = open_dir(), err = 0;

	rec->fd = -1;
	if (dfd < 0)
		return dfd;
	id_name(id, name);
	/* Written under another name, then renamed: nobody ever reads half of
	 * it. */
	snprintf(tmp, sizeof(tmp), ".%s.new", name);
	rec->fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (rec->fd < 0)
		err = -errno;
	format_state(pending, text, sizeof(text));
	if (!err)
		err = write_text(rec->fd, text);
	if (!err && renameat2(dfd, tmp, dfd, name, RENAME_NOREPLACE) < 0)
		err = -errno;
	if (err && rec->fd >= 0) {
		unlinkat(dfd, tmp, 0);
		close(rec->fd);
		rec->fd = -1;
	}
	close(dfd);
	return err;
}

int record_write(struct record *rec, const struct record_state *st)
{
	char text[96];

	if (rec->fd < 0)
		return -EBADF;
	format_state(st, text, sizeof(text));
	return write_text(rec->fd, text);
}

void record_close(struct record *rec)
{
	int dfd;

	if (rec->fd < 0)
		return;
	close(rec->fd);		/* and with it the lock */
	rec->fd = -1;
	/* Tidy up here, once the process runs, not while it waits. */
	dfd = open_dir();
	if (dfd >= 0) {
		remove_old(dfd);
		close(dfd);
	}
}

static int read_state(int fd, struct record_state *st)
{
	char text[96];
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);

	if (n < 0)
		return -errno;
	text[n] = '\0';
	parse_state(text, st);
	return 0;
}

/* Lock the record open at fd, waiting up to timeout_ms: 0, -EWOULDBLOCK
 * when its receiver still holds it, or -errno. */
static int lock_record(int fd, int timeout_ms)
{
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	int waited = 0;

	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || waited >= timeout_ms)
			return -errno;
		nanosleep(&nap, NULL);
		waited += 50;
	}
	return 0;
}

int record_lock(struct record *rec, int timeout_ms, struct record_state *st)
{
	int err = lock_record(rec->fd, timeout_ms);

	return err ? err : read_state(rec->fd, st);
}

int record_take(const uint8_t id[16], int timeout_ms, struct record *rec,
		struct record_state *st)
{
	char name[33];
	int dfd = open_dir(), err;

	memset(st, 0, sizeof(*st));
	rec->fd = -1;
	if (dfd < 0)
		return dfd;
	id_name(id, name);
	rec->fd = openat(dfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (rec->fd < 0)
		return errno == ENOENT ? 0 : -errno;
	err = lock_record(rec->fd, timeout_ms);
	if (!err)
		err = read_state(rec->fd, st);
	if (err) {
		close(rec->fd);
		rec->fd = -1;
		memset(st, 0, sizeof(*st));
	}
	return err == -EWOULDBLOCK ? 0 : err;	/* still held: unknown */
}

int record_each_unheld(void (*fn)(void *ctx, struct record *rec, const struct record_state *st),
		       void *ctx)
{
	int dfd = open_dir(), fd;
	DIR *d;
	struct dirent *e;

	if (dfd < 0)
		return dfd;
	fd = dup(dfd);
	d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		close(dfd);
		return err;
	}
	while ((e = readdir(d))) {
		struct record rec;
		struct record_state st;

		if (strlen(e->d_name) != 32)
			continue;
		rec.fd = openat(dfd, e->d_name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (rec.fd < 0)
			continue;
		if (lock_record(rec.fd, 0) == 0 && read_state(rec.fd, &st) == 0)
			fn(ctx, &rec, &st);
		if (rec.fd >= 0)
			close(rec.fd);
	}
	closedir(d);
	close(dfd);
	return 0;
}
