#include "config.h"

#include <dirent.h>
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

		if (strlen(e->d_name) == 32 &&
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

int record_create(const uint8_t id[16], struct record *rec)
{
	char name[33];
	int dfd = open_dir(), err;

	if (dfd < 0)
		return dfd;
	id_name(id, name);
	rec->fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	err = rec->fd < 0 ? -errno : 0;
	close(dfd);
	if (!err && flock(rec->fd, LOCK_EX) < 0)
		err = -errno;
	if (!err)
		err = write_text(rec->fd, "pending\n");
	if (err && rec->fd >= 0) {
		close(rec->fd);
		rec->fd = -1;
	}
	return err;
}

int record_write(struct record *rec, enum record_outcome outcome, pid_t pid)
{
	char text[64];

	if (rec->fd < 0)
		return -EBADF;
	if (outcome == RECORD_COMMITTED)
		snprintf(text, sizeof(text), "committed %d\n", (int)pid);
	else
		snprintf(text, sizeof(text), "aborted\n");
	return write_text(rec->fd, text);
}

void record_close(struct record *rec)
{
	int dfd;

	if (rec->fd >= 0)
		close(rec->fd);		/* and with it the lock */
	rec->fd = -1;
	/* Tidy up here, once the process runs, not while it waits. */
	dfd = open_dir();
	if (dfd >= 0) {
		remove_old(dfd);
		close(dfd);
	}
}

int record_lookup(const uint8_t id[16], int timeout_ms, enum record_outcome *outcome, pid_t *pid)
{
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	char name[33], text[64];
	int dfd = open_dir(), fd, n, waited = 0;

	*outcome = RECORD_UNKNOWN;
	*pid = 0;
	if (dfd < 0)
		return dfd;
	id_name(id, name);
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	while (flock(fd, LOCK_SH | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || waited >= timeout_ms) {
			int err = errno == EWOULDBLOCK ? 0 : -errno;

			close(fd);
			return err;	/* still pending: unknown */
		}
		nanosleep(&nap, NULL);
		waited += 50;
	}
	n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	if (n < 0)
		return -errno;
	text[n] = '\0';
	if (sscanf(text, "committed %d", pid) == 1)
		*outcome = RECORD_COMMITTED;
	else
		*outcome = RECORD_ABORTED;	/* aborted, or its receiver died pending */
	return 0;
}
