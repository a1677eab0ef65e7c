#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "userfile.h"

/* Someone else's: "belongs to uid 1001 (alice), not to you or root". */
static int not_ours(const struct stat *st, char why[USERFILE_WHY])
{
	struct passwd *pw = getpwuid(st->st_uid);

	return say_why(-EPERM, why, USERFILE_WHY, "it belongs to uid %u%s%s%s, not to you (uid %u) or root; "
		      "contmig writes and reads only its own user's files there (remove it, or "
		      "choose another name)", (unsigned)st->st_uid, pw ? " (" : "",
		      pw ? pw->pw_name : "", pw ? ")" : "", (unsigned)geteuid());
}

static int check_open(const struct stat *st, char why[USERFILE_WHY])
{
	if (!S_ISREG(st->st_mode) && !S_ISCHR(st->st_mode) && !S_ISFIFO(st->st_mode))
		return say_why(-EINVAL, why, USERFILE_WHY, "not a regular file, a character device or a FIFO");
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return not_ours(st, why);
	/* Its other name may be a file we would never write (protected_hardlinks
	 * is a sysctl, not a promise). */
	if (S_ISREG(st->st_mode) && st->st_nlink > 1)
		return say_why(-EPERM, why, USERFILE_WHY, "it has %lu names (hard links), and contmig uses only "
			      "a file with one", (unsigned long)st->st_nlink);
	return 0;
}

int userfile_open(const char *path, int flags, mode_t mode, char why[USERFILE_WHY])
{
	struct stat st;
	int fd, fl, err;

	/* O_NONBLOCK: a FIFO someone left there must not hold us before we can
	 * look at it; cleared once it has passed. */
	fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode);
	if (fd < 0) {
		err = -errno;
		if (err == -ELOOP && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			return say_why(err, why, USERFILE_WHY, "it is a symbolic link, and contmig does not follow "
				      "one there (give the file's own path)");
		if (err == -ENXIO && lstat(path, &st) == 0 && S_ISFIFO(st.st_mode))
			return say_why(err, why, USERFILE_WHY, "a FIFO with no reader");
		return say_why(err, why, USERFILE_WHY, "%s", strerror(-err));
	}
	err = fstat(fd, &st) < 0 ? say_why(-errno, why, USERFILE_WHY, "%s", strerror(errno)) :
		check_open(&st, why);
	if (!err && ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0))
		err = say_why(-errno, why, USERFILE_WHY, "%s", strerror(errno));
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int userfile_check_replace(const char *path, char why[USERFILE_WHY])
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : say_why(-errno, why, USERFILE_WHY, "%s", strerror(errno));
	if (S_ISLNK(st.st_mode))
		return say_why(-ELOOP, why, USERFILE_WHY, "it is a symbolic link, and contmig does not replace "
			      "one (give the file's own path, or remove the link)");
	if (!S_ISREG(st.st_mode))
		return say_why(-EINVAL, why, USERFILE_WHY, "it exists and is not a regular file");
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return not_ours(&st, why);
	return 0;
}
