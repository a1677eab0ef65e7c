#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dirty.h"
#include "inject.h"
#include "procfs.h"
#include "seccomp.h"
#include "testpoint.h"

/* Newer than the headers this builds with (Linux 6.7 and later). */
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC	(1 << 15)
#endif

struct scan_region {
	uint64_t start, end, categories;
};

struct scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#define PAGEMAP_SCAN_IOCTL	_IOWR('f', 16, struct scan_arg)
#define PAGE_IS_WRITTEN		(1 << 1)
#define PAGE_IS_PRESENT		(1 << 3)
#define PAGE_IS_SWAPPED		(1 << 4)
#define SCAN_WP_MATCHING	(1 << 0)
#define SCAN_CHECK_WPASYNC	(1 << 1)

#define SCAN_REGIONS		512

void dirty_stop(struct dirty *d)
{
	if (d->uffd >= 0)
		close(d->uffd);
	if (d->pagemap >= 0)
		close(d->pagemap);
	d->uffd = d->pagemap = -1;
	d->soft_dirty = false;
	runs_free(&d->sd_written);
	runs_free(&d->sd_own);
}

/* What the helper answers: an error and its why; the fd rides along. */
struct helper_answer {
	int err;
	char why[200];
	long long call_nr;		/* the call its stop cut short (tracee.h) */
	unsigned long long call_rip;
};

/* Send a and, when fd >= 0, fd with it (SCM_RIGHTS). */
static void answer(int sock, const struct helper_answer *a, int fd)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)a, .iov_len = sizeof(*a) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	while (sendmsg(sock, &msg, 0) < 0 && errno == EINTR)
		;
}

/*
 * In the stopped source t: userfaultfd() by an injected call, ours by
 * pidfd_getfd, and the source's closed by another: 0 with *fd, or -errno
 * with why.  Its seccomp could refuse the calls or kill it for them: only
 * one we may suspend (CAP_SYS_ADMIN) or none at all is asked.
 */
static int take_uffd(struct tracee *t, int *fd, char *why, size_t why_len)
{
	struct seccomp_status st;
	struct inject in = { 0 };
	unsigned long insn;
	long theirs = -1, ret;
	int err, back;

	*fd = -1;
	err = seccomp_read_status(t->pid, &st);
	if (err)
		return say_why(err, why, why_len, "reading its seccomp state: %s", strerror(-err));
	/* Not even where we could set its filters aside: the call would be one
	 * its sandbox may forbid it, and the fd, for a moment, its own. */
	if (st.mode)
		return say_why(-EOPNOTSUPP, why, why_len, "it runs under seccomp %s, which a "
			       "userfaultfd made inside it would go around",
			       st.mode == 1 ? "strict mode" : "filters");
	err = inject_find_insn_of(t->pid, &insn);
	if (err)
		return say_why(err == -ENOENT ? -EOPNOTSUPP : err, why, why_len, "%s",
			       err == -ENOENT ? "no syscall instruction in its code" :
			       strerror(-err));
	err = inject_source_begin(&in, t, insn, false, 0);
	if (!err)
		err = inject_call(&in, &theirs, SYS_userfaultfd,
				  O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0, 0, 0);
	if (!err && theirs < 0)
		say_why(err = theirs == -EPERM || theirs == -ENOSYS ? -EOPNOTSUPP : theirs, why,
			why_len, "userfaultfd() in it: %s", strerror(-theirs));
	else if (err)
		say_why(err, why, why_len, "calling userfaultfd() in it: %s", strerror(-err));
	if (!err) {
		*fd = syscall(SYS_pidfd_getfd, t->pidfd, (int)theirs, 0);
		if (*fd < 0)
			say_why(err = -errno, why, why_len, "taking its userfaultfd: %s",
				strerror(errno));
	}
	test_point("dirty-taken");
	if (theirs >= 0) {
		int closed = inject_call(&in, &ret, SYS_close, theirs, 0, 0, 0);

		if (closed || ret < 0)
			say_why(err = closed ? closed : (int)ret, why, why_len, "closing fd %ld in "
				"it: %s", theirs, strerror(closed ? -closed : (int)-ret));
	}
	back = inject_source_end(&in, t);
	if (back && !err)
		err = say_why(back, why, why_len, "putting it back as it was: %s", strerror(-back));
	if (err && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return err;
}

/* The helper: out of contmig's process group (a kill -9 of contmig's job must
 * not take the helper, which holds the process mid-call under
 * PTRACE_O_EXITKILL), deaf to the terminal's signals. */
ATTR_NORETURN static void helper(const struct tracee *src, int timeout_ms, int sock)
{
	static const int terminal_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE };
	struct tracee t = { .pid = src->pid, .pidfd = src->pidfd };
	struct helper_answer a = { 0 };
	int fd = -1, back;

	for (size_t i = 0; i < sizeof(terminal_signals) / sizeof(terminal_signals[0]); i++)
		signal(terminal_signals[i], SIG_IGN);
	(void)setpgid(0, 0);
	a.call_nr = -1;
	a.err = tracee_seize(&t, 0, timeout_ms);
	if (!a.err)
		a.call_nr = tracee_last_call(t.pid, &a.call_rip);
	if (a.err) {
		say_why(a.err, a.why, sizeof(a.why), "stopping it: %s", strerror(-a.err));
	} else {
		a.err = take_uffd(&t, &fd, a.why, sizeof(a.why));
		back = tracee_detach(&t);
		if (back && !a.err)
			a.err = say_why(back, a.why, sizeof(a.why), "letting it go: %s",
					strerror(-back));
	}
	answer(sock, &a, a.err ? -1 : fd);
	_exit(0);
}

/* The helper's answer and its fd: 0 with *fd, or -errno with why.  The
 * call its stop cut short is told to tracee.h for pid. */
static int hear(int sock, pid_t pid, int *fd, char *why, size_t why_len)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct helper_answer a;
	struct iovec iov = { .iov_base = &a, .iov_len = sizeof(a) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			      .msg_controllen = sizeof(control) };
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != sizeof(a))
		return say_why(-EPROTO, why, why_len, "the helper that tracks its writes died "
			       "without an answer");
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	a.why[sizeof(a.why) - 1] = '\0';
	tracee_saw_call(pid, a.call_nr, a.call_rip);
	if (a.err) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		snprintf(why, why_len, "%s", a.why);
		return a.err;
	}
	return *fd < 0 ? say_why(-EPROTO, why, why_len, "the helper sent no userfaultfd") : 0;
}

/* Asynchronous write-protection on our userfaultfd; the kernel's refusal
 * says it has none (before 6.7). */
static int enable_wp_async(int uffd, char *why, size_t why_len)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC };

	if (ioctl(uffd, UFFDIO_API, &api) < 0)
		return say_why(errno == EINVAL ? -EOPNOTSUPP : -errno, why, why_len,
			       "this kernel has no asynchronous userfaultfd write-protection "
			       "(UFFD_FEATURE_WP_ASYNC, Linux 6.7): %s", strerror(errno));
	return 0;
}

/* Does this kernel have asynchronous write-protection and PAGEMAP_SCAN?
 * Asked of a userfaultfd of our own, before anything is done to the
 * process. */
static bool kernel_has_wp_async(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC };
	struct scan_arg a = { .size = sizeof(a) };
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY), pm;
	bool ok = fd >= 0 && ioctl(fd, UFFDIO_API, &api) == 0;

	if (fd >= 0)
		close(fd);
	pm = ok ? open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC) : -1;
	/* An empty range: any answer but "no such ioctl" will do. */
	ok = pm >= 0 && (ioctl(pm, PAGEMAP_SCAN_IOCTL, &a) >= 0 || errno != ENOTTY);
	if (pm >= 0)
		close(pm);
	return ok;
}

#define PM_SOFT_DIRTY	(1ULL << 55)
#define PM_FILE		(1ULL << 61)
#define PM_SWAP		(1ULL << 62)
#define PM_PRESENT	(1ULL << 63)

/* Write "4" (clear the soft-dirty bits) to /proc/PID/clear_refs. */
static int clear_soft_dirty(pid_t pid)
{
	char path[64];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "4", 1) != 1)
		err = -errno;
	close(fd);
	return err;
}

/* Does this kernel keep soft-dirty bits?  A page of ours written after
 * they were cleared has its bit set only if it does. */
static bool kernel_has_soft_dirty(void)
{
	static volatile uint64_t page[512] __attribute__((aligned(4096)));
	uint64_t entry = 0;
	int pm;

	page[0] = 1;
	if (clear_soft_dirty(getpid()))
		return false;
	page[0] = 2;
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		return false;
	if (pread(pm, &entry, sizeof(entry), (uintptr_t)page / 4096 * 8) != sizeof(entry))
		entry = 0;
	close(pm);
	return entry & PM_SOFT_DIRTY;
}

/* Does pid hold a userfaultfd?  Ours would take its ranges: its own
 * registrations there would fail (EBUSY) while we track. */
static bool has_own_userfaultfd(pid_t pid)
{
	struct fd_list fds = { 0 };
	bool has = false;

	if (procfs_list_fds(pid, &fds) == 0)
		for (size_t i = 0; i < fds.count && !has; i++)
			has = strstr(fds.fd[i].target, "[userfaultfd]") != NULL;
	fd_list_free(&fds);
	return has;
}

/* Why a userfaultfd will not do for pid, or NULL: it will. */
static const char *no_userfaultfd(pid_t pid)
{
	struct seccomp_status st;

	if (!kernel_has_wp_async())
		return "this kernel has no asynchronous userfaultfd write-protection (Linux 6.7)";
	if (has_own_userfaultfd(pid))
		return "it uses a userfaultfd of its own, which ours would get in the way of";
	/* Not even where we could set its filters aside: the call would be one
	 * its sandbox may forbid it, and the fd, for a moment, its own. */
	if (seccomp_read_status(pid, &st) || st.mode)
		return "it runs under seccomp, which a userfaultfd made inside it would go around";
	return NULL;
}

/* Soft-dirty bits, where a userfaultfd will not do (why_not says why). */
static int start_soft_dirty(struct dirty *d, const struct tracee *t, const char *why_not,
			    char *why, size_t why_len)
{
	int err;

	if (!kernel_has_soft_dirty())
		return say_why(-EOPNOTSUPP, why, why_len, "%s, and it has no soft-dirty bits",
			       why_not);
	d->t = (struct tracee){ .pid = t->pid, .pidfd = t->pidfd };
	d->soft_dirty = true;
	err = clear_soft_dirty(t->pid);
	return err ? say_why(err, why, why_len, "clearing its soft-dirty bits: %s",
			     strerror(-err)) : 0;
}

int dirty_start(struct dirty *d, const struct tracee *t, int timeout_ms, char *why,
		size_t why_len)
{
	const char *test = getenv("CONTMIG_TEST_DIRTY"), *why_not;
	char path[64];
	int sock[2], status, err;
	pid_t pid;

	memset(d, 0, sizeof(*d));
	d->pid = t->pid;
	d->uffd = d->pagemap = -1;
	if (test && !strcmp(test, "none"))
		return say_why(-EOPNOTSUPP, why, why_len, "CONTMIG_TEST_DIRTY=none says this "
			       "kernel cannot track writes");
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)t->pid);
	d->pagemap = open(path, O_RDONLY | O_CLOEXEC);
	if (d->pagemap < 0)
		return say_why(-errno, why, why_len, "%s: %s", path, strerror(errno));
	why_not = test && !strcmp(test, "soft-dirty") ? "CONTMIG_TEST_DIRTY=soft-dirty" :
		  no_userfaultfd(t->pid);
	if (why_not) {
		err = start_soft_dirty(d, t, why_not, why, why_len);
		if (err)
			dirty_stop(d);
		return err;
	}
	/* Held stopped already (run's program): asked here, under our own
	 * ptrace; the injection's PTRACE_O_EXITKILL covers a death of ours
	 * mid-call as the helper's does. */
	if (t->seized && t->stopped) {
		struct tracee held = *t;

		err = take_uffd(&held, &d->uffd, why, why_len);
		if (!err)
			err = enable_wp_async(d->uffd, why, why_len);
		if (!err)
			return 0;
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) < 0) {
		err = say_why(-errno, why, why_len, "a socket to the helper that tracks its "
			      "writes: %s", strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid == 0) {
		close(sock[0]);
		helper(t, timeout_ms, sock[1]);
	}
	close(sock[1]);
	if (pid < 0)
		err = say_why(-errno, why, why_len, "starting the helper that tracks its writes: "
			      "%s", strerror(errno));
	else
		err = hear(sock[0], t->pid, &d->uffd, why, why_len);
	close(sock[0]);
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!err)
		err = enable_wp_async(d->uffd, why, why_len);
	if (!err)
		return 0;
fail:
	dirty_stop(d);
	return err;
}

int dirty_track(struct dirty *d, uint64_t start, uint64_t end)
{
	struct uffdio_register reg = { .range = { start, end - start },
				       .mode = UFFDIO_REGISTER_MODE_WP };

	if (d->soft_dirty)
		return 0;	/* every page has its bit */
	return ioctl(d->uffd, UFFDIO_REGISTER, &reg) < 0 ? -errno : 0;
}

/* Walk [start, end) with PAGEMAP_SCAN as a asks; each region reported is
 * appended to out. */
static int scan(struct dirty *d, struct scan_arg *a, uint64_t start, uint64_t end,
		struct runs *out)
{
	struct scan_region v[SCAN_REGIONS];
	int err = 0;

	a->size = sizeof(*a);
	a->vec = (uintptr_t)v;
	a->vec_len = SCAN_REGIONS;
	for (a->start = start; !err && a->start < end; a->start = a->walk_end) {
		long n;

		a->end = end;
		n = ioctl(d->pagemap, PAGEMAP_SCAN_IOCTL, a);
		if (n < 0)
			return -errno;
		for (long i = 0; !err && i < n; i++)
			err = runs_append(out, v[i].start, v[i].end);
		if (a->walk_end <= a->start)
			return -EIO;	/* no progress: never loop for ever */
	}
	return err;
}

int dirty_scan(struct dirty *d, uint64_t start, uint64_t end, struct runs *written)
{
	/* Not PAGE_IS_WRITTEN alone as the return mask: that fast path of the
	 * kernel counts an empty page as written and marks it, which hides
	 * whether a page written holds anything.  And no PAGE_IS_FILE: it
	 * costs the kernel a look at every page's struct page, several times
	 * the walk itself, and anonymous memory is all the process's own. */
	struct scan_arg a = { .flags = SCAN_WP_MATCHING | SCAN_CHECK_WPASYNC,
			      .category_mask = PAGE_IS_WRITTEN,
			      .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			      .return_mask = PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_SWAPPED };

	return d->soft_dirty ? runs_clip(&d->sd_written, start, end, written) :
	       scan(d, &a, start, end, written);
}

int dirty_last(struct dirty *d, uint64_t start, uint64_t end, struct runs *written,
	       struct runs *own)
{
	/* One walk, nothing marked: the tracking ends with this look. */
	struct scan_arg a = { .flags = SCAN_CHECK_WPASYNC,
			      .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			      .return_mask = PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_SWAPPED };
	struct scan_region v[SCAN_REGIONS];
	int err = 0;

	if (d->soft_dirty) {
		err = runs_clip(&d->sd_written, start, end, written);
		return err ? err : runs_clip(&d->sd_own, start, end, own);
	}
	a.size = sizeof(a);
	a.vec = (uintptr_t)v;
	a.vec_len = SCAN_REGIONS;
	for (a.start = start; !err && a.start < end; a.start = a.walk_end) {
		long n;

		a.end = end;
		n = ioctl(d->pagemap, PAGEMAP_SCAN_IOCTL, &a);
		if (n < 0)
			return -errno;
		for (long i = 0; !err && i < n; i++) {
			err = runs_append(own, v[i].start, v[i].end);
			if (!err && v[i].categories & PAGE_IS_WRITTEN)
				err = runs_append(written, v[i].start, v[i].end);
		}
		if (a.walk_end <= a.start)
			return -EIO;
	}
	return err;
}

int dirty_own(struct dirty *d, uint64_t start, uint64_t end, struct runs *out)
{
	struct scan_arg a = { .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			      .return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED };

	return d->soft_dirty ? runs_clip(&d->sd_own, start, end, out) :
	       scan(d, &a, start, end, out);
}

/* One mapping's soft-dirty bits into the round's sets. */
static int read_bits(struct dirty *d, const struct vma *v, uint64_t *pm, size_t max)
{
	int err = 0;

	for (uint64_t at = v->start; !err && at < v->end;) {
		size_t n = (v->end - at) / 4096 < max ? (v->end - at) / 4096 : max;
		ssize_t got = pread(d->pagemap, pm, n * 8, at / 4096 * 8);

		if (got != (ssize_t)(n * 8))
			return got < 0 ? -errno : -ESRCH;	/* gone, or another mm */
		for (size_t i = 0; !err && i < n; i++, at += 4096) {
			bool content = pm[i] & (PM_PRESENT | PM_SWAP);
			bool own = pm[i] & PM_SWAP || (pm[i] & PM_PRESENT && !(pm[i] & PM_FILE));

			if (own)
				err = runs_append(&d->sd_own, at, at + 4096);
			if (!err && content && pm[i] & PM_SOFT_DIRTY)
				err = runs_append(&d->sd_written, at, at + 4096);
		}
	}
	return err;
}

int dirty_round(struct dirty *d, bool stopped)
{
	enum { CHUNK = 4096 };
	struct vma_list maps = { 0 };
	uint64_t *pm;
	int err, back = 0;

	if (!d->soft_dirty)
		return 0;
	runs_clear(&d->sd_written);
	runs_clear(&d->sd_own);
	pm = malloc(CHUNK * sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	/* Stopped while its bits are read and cleared: a write in between
	 * would be lost.  No PTRACE_O_EXITKILL: our death lets it go. */
	err = stopped ? 0 : tracee_seize(&d->t, 0, 10000);
	if (!err)
		err = procfs_read_maps(d->pid, &maps);
	for (size_t i = 0; !err && i < maps.count; i++)
		if (maps.vma[i].name[0] != '[' || !strcmp(maps.vma[i].name, "[heap]") ||
		    !strcmp(maps.vma[i].name, "[stack]"))
			err = read_bits(d, &maps.vma[i], pm, CHUNK);
	if (!err)
		err = clear_soft_dirty(d->pid);
	if (!stopped && d->t.seized)
		back = tracee_detach(&d->t);
	free(pm);
	vma_list_free(&maps);
	return err ? err : back;
}
