#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "record.h"

#define RECORD_KEEP_SECONDS	3600

/* dir is a directory of ours that no one else may write in. */
static bool own_dir(const char *dir)
{
	struct stat st;

	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       !(st.st_mode & 022);
}

/*
 * The state directory of last resort, in the home: $XDG_STATE_HOME/contmig,
 * else ~/.local/state/contmig; "" when there is no home to speak of.  *from
 * is how much of it must exist already (the home, or $XDG_STATE_HOME's
 * parent): what follows is made along with it, never the home itself.
 */
static void in_home(char *buf, size_t size, size_t *from)
{
	const char *env = getenv("XDG_STATE_HOME"), *home = getenv("HOME"), *slash;
	struct passwd *pw;

	buf[0] = '\0';
	if (env && *env == '/') {
		snprintf(buf, size, "%s/contmig", env);
		slash = strrchr(env, '/');
		*from = slash == env ? 1 : (size_t)(slash - env);
		return;
	}
	if (!home || *home != '/') {
		pw = getpwuid(geteuid());
		home = pw && pw->pw_dir && *pw->pw_dir == '/' ? pw->pw_dir : NULL;
	}
	if (home) {
		snprintf(buf, size, "%s/.local/state/contmig", home);
		*from = strlen(home);
	}
}

/* The parents to make before the directory (in_home); 0: none. */
static size_t parents_from;

/*
 * Never a name made up in a directory anyone may write in (it used to be
 * /tmp/contmig-UID): another user could make it first and so read, forge or
 * withhold the records.  The runtime directory the login manager made for
 * us, else one in our home.
 */
const char *record_dir(void)
{
	static char dir[4096];
	const char *env = getenv("CONTMIG_STATE_DIR"), *run = getenv("XDG_RUNTIME_DIR");
	char user_run[64];

	if (dir[0])
		return dir;
	snprintf(user_run, sizeof(user_run), "/run/user/%u", (unsigned)geteuid());
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	else if (geteuid() == 0)
		snprintf(dir, sizeof(dir), "/run/contmig");
	else if (run && *run == '/')
		snprintf(dir, sizeof(dir), "%s/contmig", run);
	else if (own_dir(user_run))
		snprintf(dir, sizeof(dir), "%s/contmig", user_run);
	else
		in_home(dir, sizeof(dir), &parents_from);
	return dir;
}

/* mkdir the parents of dir from its byte 'from' on, mode 0700 where one is
 * made. */
static int make_parents(const char *dir, size_t from)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s", dir);
	for (char *slash = strchr(path + from + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		*slash = '/';
	}
	return 0;
}

/*
 * The state directory, opened: made (mode 0700) if need be, and then ours,
 * mode 0700 exactly, never reached through a symbolic link.  -EPERM (with
 * *st telling whose it is and its mode) for another user's or one others may
 * look in; -ENOENT when there is no directory to use at all.
 */
static int open_dir(struct stat *st)
{
	const char *dir = record_dir();
	bool made;
	int fd, err;

	if (!dir[0])
		return -ENOENT;
	if (parents_from && (err = make_parents(dir, parents_from)))
		return err;
	made = mkdir(dir, 0700) == 0;
	if (!made && errno != EEXIST)
		return -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0)
		goto fail_errno;
	/* Made by us just now: 0700 whatever the umask. */
	if (made && (st->st_mode & 0777) != 0700 && (fchmod(fd, 0700) < 0 || fstat(fd, st) < 0))
		goto fail_errno;
	if (st->st_uid != geteuid() || (st->st_mode & 0777) != 0700) {
		close(fd);
		return -EPERM;
	}
	return fd;
fail_errno:
	err = -errno;
	close(fd);
	return err;
}

int record_check_dir(struct stat *st)
{
	int fd = open_dir(st);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

void record_id_name(const uint8_t id[16], char name[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(name + 2 * i, 3, "%02x", id[i]);
}

static bool id_parse(const char *name, uint8_t id[16])
{
	for (int i = 0; i < 16; i++) {
		unsigned v;

		if (sscanf(name + 2 * i, "%2x", &v) != 1)
			return false;
		id[i] = v;
	}
	return strspn(name, "0123456789abcdef") == 32 && name[32] == '\0';
}

/*
 * Make the file dir/name hold text, all or nothing: written under a fresh
 * name, then linked as name (-EEXIST if name exists: the first one made
 * stands).  No fsync: records must outlive the receiver, not the
 * machine; a crash of the machine kills the copy too, and a record lost with
 * it makes the sender keep the original, where "committed" would have it end.
 */
static int make_file(int dfd, const char *name, const char *text)
{
	char tmp[64];
	size_t len = strlen(text);
	unsigned nonce;
	ssize_t n;
	int fd, err = 0;

	if (getentropy(&nonce, sizeof(nonce)) < 0)
		nonce = (unsigned)getpid() * 2654435761U ^ (unsigned)time(NULL);
	snprintf(tmp, sizeof(tmp), ".%.40s.%08x.new", name, nonce);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n != (ssize_t)len)
		err = n < 0 ? -errno : -ENOSPC;
	if (close(fd) < 0 && !err)
		err = -errno;
	/* link(2) fails with EEXIST, all or nothing, on every filesystem
	 * (renameat2's RENAME_NOREPLACE is missing on some, NFS among them). */
	if (!err && linkat(dfd, tmp, dfd, name, 0) < 0)
		err = -errno;
	unlinkat(dfd, tmp, 0);
	return err;
}

/* The text of dir/name (NUL-terminated, at most len - 1 bytes): 0, -ENOENT. */
static int read_file(int dfd, const char *name, char *text, size_t len)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, text, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	text[n] = '\0';
	return 0;
}

/* Make id's file with suffix ("" the record itself) hold text: make_file. */
static int make_record_file(const uint8_t id[16], const char *suffix, const char *text)
{
	char name[33], file[48];
	struct stat dir_st;
	int dfd = open_dir(&dir_st), err;

	if (dfd < 0)
		return dfd;
	record_id_name(id, name);
	snprintf(file, sizeof(file), "%s%s", name, suffix);
	err = make_file(dfd, file, text);
	close(dfd);
	return err;
}

int record_create(const uint8_t id[16], const struct record_state *st)
{
	char text[128];

	snprintf(text, sizeof(text), "pending %d %llu %d %llu\n", (int)st->pid, st->start,
		 (int)st->receiver, st->receiver_start);
	return make_record_file(id, "", text);
}

/* Read id's files into st, from dfd. */
static int read_state(int dfd, const char *name, struct record_state *st)
{
	char file[48], text[128], wake[8] = "";
	int pid, err;

	memset(st, 0, sizeof(*st));
	err = read_file(dfd, name, text, sizeof(text));
	if (err == -ENOENT)
		return 0;	/* no record: unknown */
	if (err)
		return err;
	/* Anything but the forms written is unknown: never guess a decision. */
	if (sscanf(text, "pending %d %llu %d %llu", &st->pid, &st->start, &st->receiver,
		   &st->receiver_start) != 4 || st->pid <= 0)
		return 0;
	st->outcome = RECORD_PENDING;
	snprintf(file, sizeof(file), "%s.decision", name);
	err = read_file(dfd, file, text, sizeof(text));
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	if (sscanf(text, "committed %d %llu %7s", &pid, &st->start, wake) == 3 &&
	    pid == st->pid && (!strcmp(wake, "wake") || !strcmp(wake, "stay"))) {
		st->outcome = RECORD_COMMITTED;
		st->wake = !strcmp(wake, "wake");
		snprintf(file, sizeof(file), "%s.woken", name);
		st->woken = read_file(dfd, file, text, sizeof(text)) == 0;
		if (st->woken && sscanf(text, "woken by %d", &pid) == 1)
			st->woken_by = pid;
	} else if (!strcmp(text, "aborted\n")) {
		st->outcome = RECORD_ABORTED;
	} else {
		st->outcome = RECORD_UNKNOWN;
	}
	return 0;
}

int record_read(const uint8_t id[16], struct record_state *st)
{
	char name[33];
	struct stat dir_st;
	int dfd = open_dir(&dir_st), err;

	memset(st, 0, sizeof(*st));
	if (dfd < 0)
		return dfd;
	record_id_name(id, name);
	err = read_state(dfd, name, st);
	close(dfd);
	return err;
}

int record_decide(const uint8_t id[16], const struct record_state *st,
		  struct record_state *stands)
{
	char text[128];
	int err;

	if (st->outcome == RECORD_COMMITTED)
		snprintf(text, sizeof(text), "committed %d %llu %s\n", (int)st->pid, st->start,
			 st->wake ? "wake" : "stay");
	else
		snprintf(text, sizeof(text), "aborted\n");
	err = make_record_file(id, ".decision", text);
	if (err == -EEXIST) {
		int read_err = record_read(id, stands);

		if (read_err)
			err = read_err;
	}
	return err;
}

int record_claim_wake(const uint8_t id[16])
{
	char text[32];

	snprintf(text, sizeof(text), "woken by %d\n", (int)getpid());
	return make_record_file(id, ".woken", text);
}

/* Is dir/name older than RECORD_KEEP_SECONDS? */
static bool is_old(int dfd, const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	       time(NULL) - st.st_mtime > RECORD_KEEP_SECONDS;
}

/*
 * A migration's files go together, an hour after it was decided (one still
 * pending has a receiver alive, stalled: its copy still needs the record).
 * The record first: without it the rest says nothing ("unknown"), where a
 * record left without its decision would read as pending, and be decided
 * anew.  Decisions and claims whose record went, and files a death left
 * half-made, go once an hour old too.
 */
static void remove_old(int dfd, const char *name)
{
	static const char *const suffixes[] = { "", ".decision", ".woken" };
	struct record_state st;
	char file[48];
	uint8_t id[16];

	if (!id_parse(name, id)) {
		/* "<id>.decision", "<id>.woken" alone, or ".<...>.new" */
		snprintf(file, sizeof(file), "%.32s", name);
		if ((name[0] == '.' && strstr(name, ".new")) ||
		    (strlen(name) > 32 && id_parse(file, id) &&
		     faccessat(dfd, file, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT))
			if (is_old(dfd, name))
				unlinkat(dfd, name, 0);
		return;
	}
	snprintf(file, sizeof(file), "%.32s.decision", name);
	if (!is_old(dfd, file) || read_state(dfd, name, &st) || st.outcome == RECORD_PENDING)
		return;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(file, sizeof(file), "%.32s%s", name, suffixes[i]);
		unlinkat(dfd, file, 0);
	}
}

int record_each(void (*fn)(void *ctx, const uint8_t id[16], const struct record_state *st),
		void *ctx)
{
	struct stat dir_st;
	int dfd = open_dir(&dir_st), fd;
	struct dirent *e;
	DIR *d;

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
		struct record_state st;
		uint8_t id[16];

		if (id_parse(e->d_name, id) && read_state(dfd, e->d_name, &st) == 0)
			fn(ctx, id, &st);
	}
	/* Then, settled, what is over an hour old goes. */
	rewinddir(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			remove_old(dfd, e->d_name);
	closedir(d);
	close(dfd);
	return 0;
}
