#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procfs.h"
#include "workdir.h"

#define DELETED_SUFFIX	" (deleted)"

/* readlink of /proc/PID/NAME into buf (NUL-terminated): 0 or -errno. */
static int proc_link(pid_t pid, const char *name, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n == len - 1)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

int workdir_refusal(pid_t pid, char *why, size_t why_len)
{
	char root[PATH_MAX], cwd[PATH_MAX];
	int err = proc_link(pid, "root", root, sizeof(root));

	if (!err)
		err = proc_link(pid, "cwd", cwd, sizeof(cwd));
	if (err == -ENAMETOOLONG)
		return say_why(-EBADMSG, why, why_len, "its working directory's path is longer "
			       "than %d bytes", PATH_MAX - 1);
	if (err)
		return err;
	/* Seen from here, a process sharing our root has "/" for its own. */
	if (strcmp(root, "/"))
		return say_why(-EBADMSG, why, why_len, "it runs under chroot (its root is %s "
			       "here): its paths mean nothing on another machine", root);
	if (cwd[0] != '/' || ends_with(cwd, DELETED_SUFFIX))
		return say_why(-EBADMSG, why, why_len, "its working directory %s was removed: "
			       "no copy could find it", cwd);
	return 0;
}

int workdir_collect(pid_t pid, struct image_workdir *out)
{
	char *status;
	size_t len;
	uint64_t mask;
	int err;

	memset(out, 0, sizeof(*out));
	err = proc_link(pid, "cwd", out->path, sizeof(out->path));
	if (err)
		return err;
	err = procfs_read_file(pid, "status", &status, &len);
	if (err)
		return err;
	/* "Umask:" since Linux 4.7; before, the copy keeps the restorer's. */
	err = procfs_status_number(status, "Umask", 8, &mask);
	free(status);
	if (err < 0)
		return err;
	out->umask = err == 1 ? (uint32_t)mask & 0777 : 022;
	out->known = true;
	return 0;
}

int workdir_restore(struct remote *r, const struct image_workdir *wd, char *why,
		    size_t why_len)
{
	size_t len = strlen(wd->path) + 1;
	size_t pages = (len + IMAGE_PAGE - 1) / IMAGE_PAGE * IMAGE_PAGE;
	long page, ret;
	int err;

	if (!wd->known)
		return 0;
	page = remote_mmap(r, 0, pages, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	if (page < 0)
		return say_why((int)page, why, why_len, "a scratch page: %s", strerror(-page));
	err = remote_write(r, page, wd->path, len);
	ret = err ? err : remote_syscall(r, SYS_chdir, page, 0, 0, 0, 0, 0);
	/* On failure the restorer is killed, scratch page and all.  The name
	 * came from the image: error_msg filters the line. */
	if (ret < 0)
		return say_why((int)ret, why, why_len, "its working directory %s: %s", wd->path,
			       strerror(-ret));
	ret = remote_munmap(r, page, pages);
	if (ret < 0)
		return say_why((int)ret, why, why_len, "a scratch page: %s", strerror(-ret));
	ret = remote_syscall(r, SYS_umask, wd->umask, 0, 0, 0, 0, 0);
	return ret < 0 ? say_why((int)ret, why, why_len, "umask: %s", strerror(-ret)) : 0;
}
