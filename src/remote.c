#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "ptrace.h"
#include "remote.h"

extern const char contmig_stub_elf[], contmig_stub_elf_end[];

/* What failed in the child before the exec, as it tells its parent. */
enum spawn_step { STEP_STDIO, STEP_SETGROUPS, STEP_SETRESGID, STEP_SETRESUID,
		  STEP_CAPS, STEP_BOUNDING, STEP_PDEATHSIG, STEP_IMAGE_FD, STEP_EXEC };
static const char *const step_names[] = {
	[STEP_STDIO] = "setting up its standard input and output",
	[STEP_SETGROUPS] = "setgroups", [STEP_SETRESGID] = "setresgid",
	[STEP_SETRESUID] = "setresuid", [STEP_CAPS] = "capset",
	[STEP_BOUNDING] = "prctl(PR_CAPBSET_DROP)",
	[STEP_PDEATHSIG] = "prctl(PR_SET_PDEATHSIG)",
	[STEP_IMAGE_FD] = "keeping the image file open",
	[STEP_EXEC] = "exec",
};

/* In the child: tell the parent which step failed and why, and die. */
ATTR_NORETURN static void child_fail(int report, enum spawn_step step)
{
	int msg[2] = { step, errno };

	/* Should this fail, the parent reads nothing and says -ENOEXEC. */
	(void)!write(report, msg, sizeof(msg));
	_exit(127);
}

/*
 * No capability at all, inheritable and ambient ones too: under a securebit
 * that keeps them past setresuid an ambient one would outlive the exec, and
 * an inheritable one would come back with a program that has file
 * capabilities; and a receiver that is not root gives its copy none of its
 * own.  (Dropping needs no privilege; creds_verify checks what is left.)
 */
static void drop_caps(int report)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (syscall(SYS_capset, &header, none) < 0)
		child_fail(report, STEP_CAPS);
}

/*
 * Become the copy's user: supplementary groups, then the group, then the
 * user (after the user, we could change nothing more).  Raw system calls:
 * glibc's wrappers would signal the other threads of a threaded parent.
 * Changing the effective uid clears the parent-death signal, which is why
 * it is set after this.
 */
static void drop_ids(const struct creds *c, int report)
{
	/* Dropping from the bounding set needs CAP_SETPCAP, which a copy
	 * that does not run as root has no more (restrictions.h). */
	for (long cap = 0; c->uid != 0 && cap < 64; cap++)
		if (!(c->bounding & 1ULL << cap) &&
		    syscall(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			child_fail(report, STEP_BOUNDING);
	if (syscall(SYS_setgroups, c->ngroups, c->groups) < 0)
		child_fail(report, STEP_SETGROUPS);
	if (syscall(SYS_setresgid, c->gid, c->gid, c->gid) < 0)
		child_fail(report, STEP_SETRESGID);
	if (syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0)
		child_fail(report, STEP_SETRESUID);
	if (c->uid != 0)
		drop_caps(report);
}

/* In the child, between fork and exec: only async-signal-safe calls. */
ATTR_NORETURN static void exec_stub(int memfd, const struct remote *r, pid_t parent, int report)
{
	static char name[] = "contmig-stub";
	static char *const argv[] = { name, NULL };
	static char *const envp[] = { NULL };
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	bool another_user;
	sigset_t all;

	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	/*
	 * Block every signal: one sent to the restorer must neither kill nor
	 * disturb it, and waits, pending, for the program (the mask and the
	 * pending signals survive exec).  All but SIGTRAP: the stop after exec
	 * is an ordinary SIGTRAP (no PTRACE_O_TRACEEXEC under PTRACE_TRACEME),
	 * which a blocked SIGTRAP would hold back for ever.  remote_spawn
	 * blocks it too once that stop came.
	 */
	sigfillset(&all);
	sigdelset(&all, SIGTRAP);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/*
	 * A copy that runs as another user gets no terminal of ours: not as
	 * its controlling terminal (TIOCSTI would type commands into our
	 * shell), and not as fds 0-2 either (it would read what we type).
	 */
	another_user = r->creds && r->creds->change && r->creds->uid != getuid();
	if (r->own_session || another_user)
		setsid();
	for (int fd = 0; r->stdio && fd < 3; fd++)
		if (r->stdio[fd] != fd && dup2(r->stdio[fd], fd) < 0)
			child_fail(report, STEP_STDIO);
	for (int fd = 0; another_user && fd < 3; fd++) {
		struct termios t;
		int null;

		if (ioctl(fd, TCGETS, &t) < 0)
			continue;
		null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, fd) < 0)
			child_fail(report, STEP_STDIO);
		if (null != fd)
			close(null);
	}
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	/* The one file it keeps: the image it reads into place (fill.h),
	 * already open, so that its user needs no right to the path. */
	if (r->image_fd > 2 && fcntl(r->image_fd, F_SETFD, 0) < 0)
		child_fail(report, STEP_IMAGE_FD);
	if (r->creds && r->creds->change)
		drop_ids(r->creds, report);
	else if (geteuid() != 0)
		drop_caps(report);
	/*
	 * Die with the parent until it holds us with PTRACE_O_EXITKILL.  A
	 * parent already gone would make PTRACE_TRACEME name whoever adopted
	 * us (a listener, init) as our tracer, which would keep us stopped
	 * forever.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(report, STEP_PDEATHSIG);
	if (getppid() != parent)
		_exit(127);
	/* Our tracer may trace us whoever we now are: it has CAP_SYS_PTRACE
	 * if it made us someone else. */
	if (ptrace(PTRACE_TRACEME, 0, 0, 0) == 0)
		fexecve(memfd, argv, envp);
	child_fail(report, STEP_EXEC);
}

/* fd moved above 0-2 (which the child replaces), close-on-exec; or -errno. */
static int above_stdio(int fd)
{
	int high, err;

	if (fd < 0 || fd > 2)
		return fd < 0 ? -errno : fd;
	high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	err = -errno;
	close(fd);
	return high < 0 ? err : high;
}

/* After the child died before its exec: what it said failed, as -errno. */
static int child_report(struct remote *r, int report)
{
	int msg[2];

	if (read(report, msg, sizeof(msg)) != (ssize_t)sizeof(msg) || msg[0] < 0 ||
	    msg[0] > STEP_EXEC || msg[1] <= 0)
		return -ENOEXEC;
	r->spawn_failed = step_names[msg[0]];
	return -msg[1];
}

/*
 * The copy's clocks (clocks.h): a time namespace with the planned offsets
 * for our children, which the fork that follows puts the restorer in.
 * (Not made in the child between fork and exec: Linux 6.1 moves no task to
 * its children's namespace at exec.)  Ours stays ours: only our children's
 * is set, and set back once the restorer is forked (own_time_again), and it
 * is done before the child drops to the copy's user, who may never change
 * its offsets (the kernel takes them only while no task is inside, and
 * from CAP_SYS_TIME).  Not being allowed is no error: r->timens_err says
 * why, and the copy runs on the machine's clocks.  *own: our own
 * namespace, held open to go back to, or -1.
 */
static void time_for_children(struct remote *r, int *own)
{
	size_t len = strlen(r->clocks.offsets);
	ssize_t n;
	int fd;

	*own = -1;
	r->timens_err = 0;
	if (!r->clocks.make)
		return;
	*own = open("/proc/self/ns/time", O_RDONLY | O_CLOEXEC);
	/* First whether we may come back (setns into ours, where we are):
	 * root of a user namespace may make one, but not return to ours. */
	if (*own < 0 || setns(*own, CLONE_NEWTIME) < 0 || unshare(CLONE_NEWTIME) < 0) {
		r->timens_err = errno;
		if (*own >= 0)
			close(*own);
		*own = -1;
		return;
	}
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : write(fd, r->clocks.offsets, len);
	if (n != (ssize_t)len)
		r->timens_err = n < 0 ? errno : EIO;
	if (fd >= 0)
		close(fd);
}

/* Our children's time namespace is ours again (setns: ours, and theirs). */
static int own_time_again(int *own)
{
	int err = 0;

	if (*own < 0)
		return 0;
	if (setns(*own, CLONE_NEWTIME) < 0)
		err = -errno;
	close(*own);
	*own = -1;
	return err;
}

int remote_spawn(struct remote *r)
{
	size_t len = contmig_stub_elf_end - contmig_stub_elf;
	int memfd, status, err, back, pipefd[2], own_time;
	pid_t pid, parent;
	long ret;

	r->spawn_failed = NULL;
	memfd = above_stdio(memfd_create("contmig-stub", MFD_CLOEXEC));
	if (memfd < 0)
		return memfd;
	if (write(memfd, contmig_stub_elf, len) != (ssize_t)len) {
		err = errno ? -errno : -EIO;
		close(memfd);
		return err;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		err = -errno;
		close(memfd);
		return err;
	}
	pipefd[0] = above_stdio(pipefd[0]);
	pipefd[1] = above_stdio(pipefd[1]);
	if (pipefd[0] < 0 || pipefd[1] < 0) {
		err = pipefd[0] < 0 ? pipefd[0] : pipefd[1];
		goto close_fds;
	}
	parent = getpid();
	time_for_children(r, &own_time);
	pid = fork();
	if (pid == 0)
		exec_stub(memfd, r, parent, pipefd[1]);
	err = pid < 0 ? -errno : 0;
	/* Should this fail, what we fork later would run on the copy's clocks. */
	back = own_time_again(&own_time);
	if (back && !err) {
		err = back;
		r->spawn_failed = "entering contmig's own time namespace again";
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	if (err)
		goto close_fds;
	close(memfd);
	close(pipefd[1]);
	r->pid = pid;

	/* The first stop we want is the SIGTRAP after a successful exec, at
	 * the stub's entry; a SIGSTOP may come first. */
	for (;;) {
		err = ptrace_wait(pid, &status);
		if (err) {
			waitpid(pid, &status, 0);
			err = child_report(r, pipefd[0]);
			close(pipefd[0]);
			r->pid = 0;
			return err;
		}
		err = ptrace_get_regs(pid, &r->regs);
		if (err) {
			close(pipefd[0]);
			remote_kill(r);
			return err;
		}
		if (WSTOPSIG(status) == SIGTRAP && r->regs.rip == STUB_TEXT_ADDR)
			break;
		if (WSTOPSIG(status) == SIGSTOP) {
			r->stop_wanted = true;
		} else if (WSTOPSIG(status) != SIGTRAP) {
			close(pipefd[0]);
			remote_kill(r);		/* exec failed: the child dies */
			return -ENOEXEC;
		}
		if (ptrace(PTRACE_CONT, pid, 0, 0) < 0) {
			err = -errno;
			close(pipefd[0]);
			remote_kill(r);
			return err;
		}
	}
	close(pipefd[0]);
	/* TRACESYSGOOD: calls made at the program's own code once ours is
	 * gone run on syscall-stops (inject.h), which it tells apart. */
	if (ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD) < 0) {
		err = -errno;
		remote_kill(r);
		return err;
	}
	err = ptrace_set_sigmask(pid, ~0ULL);
	if (err) {
		remote_kill(r);
		return err;
	}
	/* EXITKILL holds it now; the restored process must outlive us. */
	ret = remote_syscall(r, SYS_prctl, PR_SET_PDEATHSIG, 0, 0, 0, 0, 0);
	if (ret) {
		remote_kill(r);
		return ret < 0 ? (int)ret : -EPROTO;
	}
	return 0;

close_fds:
	for (int i = 0; i < 2; i++)
		if (pipefd[i] >= 0)
			close(pipefd[i]);
	close(memfd);
	return err;
}

/* Load the registers for one call at the gadget and let it run (request:
 * PTRACE_CONT, or PTRACE_SYSCALL for its syscall-stops). */
static int start_syscall(struct remote *r, long request, long nr, long a1, long a2, long a3,
			 long a4, long a5, long a6)
{
	struct user_regs_struct regs = r->regs;

	regs.rip = STUB_GADGET_ADDR;
	regs.rax = nr;
	regs.orig_rax = -1;		/* not inside a system call: no restart games */
	regs.rdi = a1;
	regs.rsi = a2;
	regs.rdx = a3;
	regs.r10 = a4;
	regs.r8 = a5;
	regs.r9 = a6;
	if (ptrace_set_regs(r->pid, &regs) < 0 || ptrace(request, r->pid, 0, 0) < 0)
		return -errno;
	return 0;
}

/* Keep a signal that stopped the stub for the program. */
static void note_signal(struct remote *r, int sig, const siginfo_t *si)
{
	if (sig == SIGSTOP) {
		r->stop_wanted = true;
		return;
	}
	if (r->nnoted < REMOTE_MAX_NOTED)
		r->noted[r->nnoted++] = *si;
	else
		r->nlost++;
}

/* A fault of the stub itself: something is badly wrong, give up. */
static bool is_fault(int sig, const siginfo_t *si)
{
	return (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE) &&
	       si->si_code > 0 && si->si_code != SI_KERNEL;
}

/*
 * Wait for the stop that ends a step (done() says which), noting and
 * suppressing every other one: the stub goes on from where it was, and an
 * interrupted system call is restarted by the kernel as it would be after
 * a signal with no handler.
 */
static int wait_step(struct remote *r, bool (*done)(int, const siginfo_t *, unsigned long),
		     struct user_regs_struct *regs)
{
	for (;;) {
		siginfo_t si;
		int status, sig, err = ptrace_wait(r->pid, &status);

		if (err)
			return err;
		sig = WSTOPSIG(status);
		if (ptrace(PTRACE_GETSIGINFO, r->pid, 0, &si) < 0)
			return -errno;
		err = ptrace_get_regs(r->pid, regs);
		if (err)
			return err;
		if (done(sig, &si, regs->rip))
			return 0;
		if (sig == SIGTRAP && regs->rip == STUB_TRAP_ADDR) {
			/* Our int3 ran, but its SIGTRAP merged with one sent to
			 * the stub (a standard signal is queued once): the call
			 * is done, and this one was meant for the program. */
			note_signal(r, sig, &si);
			return 0;
		}
		if (is_fault(sig, &si))
			return -EPROTO;
		note_signal(r, sig, &si);
		if (ptrace(PTRACE_CONT, r->pid, 0, 0) < 0)
			return -errno;
	}
}

static bool is_our_trap(int sig, const siginfo_t *si, unsigned long rip)
{
	return sig == SIGTRAP && si->si_code == SI_KERNEL && rip == STUB_TRAP_ADDR;
}

int remote_call(struct remote *r, long *ret, long nr, long a1, long a2, long a3, long a4,
		long a5, long a6)
{
	struct user_regs_struct regs;
	int err = start_syscall(r, PTRACE_CONT, nr, a1, a2, a3, a4, a5, a6);

	if (!err)
		err = wait_step(r, is_our_trap, &regs);
	/* The int3 unblocked SIGTRAP (the kernel forces the signal of a
	 * trap); block it again, so one sent to the stub waits. */
	if (!err)
		err = ptrace_set_sigmask(r->pid, ~0ULL);
	if (err)
		return err;
	*ret = (long)regs.rax;
	return 0;
}

/* What remote_cut_short cuts its call short with: a real-time signal, queued
 * apart from any of the same number sent to the stub.  (SIGRTMAX.) */
#define CUT_SIGNAL	64

/* At our signal's stop, past the call: nothing restarts it from here. */
static int leave_call(struct remote *r)
{
	struct user_regs_struct regs;
	int err = ptrace_get_regs(r->pid, &regs);

	if (err)
		return err;
	regs.orig_rax = -1;
	return ptrace_set_regs(r->pid, &regs);
}

long remote_cut_short(struct remote *r, long nr, long a1, long a2, long a3, long a4)
{
	bool entered = false, exited = false;
	int err = start_syscall(r, PTRACE_SYSCALL, nr, a1, a2, a3, a4, 0, 0);
	long ret = 0;

	if (err)
		return err;
	for (;;) {
		struct user_regs_struct regs;
		long req = PTRACE_SYSCALL;
		int status, sig;
		siginfo_t si;

		err = ptrace_wait(r->pid, &status);
		if (err)
			return err;
		sig = WSTOPSIG(status);
		if (sig == (SIGTRAP | 0x80) && !entered) {
			/* In the call, before it runs: with our signal pending it
			 * returns at once, as it would on any signal. */
			entered = true;
			err = ptrace_set_sigmask(r->pid, ~(1ULL << (CUT_SIGNAL - 1)));
			if (err)
				return err;
			if (syscall(SYS_tgkill, r->pid, r->pid, CUT_SIGNAL) < 0)
				return -errno;
		} else if (sig == (SIGTRAP | 0x80)) {
			err = ptrace_get_regs(r->pid, &regs);
			if (err)
				return err;
			ret = (long)regs.rax;
			exited = true;
			req = PTRACE_CONT;	/* to our signal's stop */
		} else {
			if (ptrace(PTRACE_GETSIGINFO, r->pid, 0, &si) < 0)
				return -errno;
			if (exited && sig == CUT_SIGNAL && si.si_code == SI_TKILL &&
			    si.si_pid == getpid()) {
				/* Taken: the next call's start discards it. */
				err = ptrace_set_sigmask(r->pid, ~0ULL);
				if (!err)
					err = leave_call(r);
				return err ? err : ret;
			}
			if (is_fault(sig, &si))
				return -EPROTO;
			note_signal(r, sig, &si);
			if (exited && (err = leave_call(r)))
				return err;
			req = exited ? PTRACE_CONT : PTRACE_SYSCALL;
		}
		if (ptrace(req, r->pid, 0, 0) < 0)
			return -errno;
	}
}

long remote_syscall(struct remote *r, long nr, long a1, long a2, long a3, long a4, long a5,
		    long a6)
{
	long ret;
	int err = remote_call(r, &ret, nr, a1, a2, a3, a4, a5, a6);

	return err ? err : ret;
}

/* The fetch of the instruction after the syscall faults once its page is gone. */
static bool is_stub_gone(int sig, const siginfo_t *si, unsigned long rip)
{
	return sig == SIGSEGV && si->si_code == SEGV_MAPERR && rip == STUB_GADGET_ADDR + 2;
}

int remote_unmap_stub(struct remote *r)
{
	struct user_regs_struct regs;
	int err = start_syscall(r, PTRACE_CONT, SYS_munmap, STUB_TEXT_ADDR,
				STUB_AREA_END - STUB_TEXT_ADDR, 0, 0, 0, 0);

	/* munmap succeeded if the very next instruction fetch faulted. */
	return err ? err : wait_step(r, is_stub_gone, &regs);
}

int remote_refault(struct remote *r)
{
	struct user_regs_struct regs;
	int err = ptrace_get_regs(r->pid, &regs);

	if (err)
		return err;
	/* Where the stub's code ended, gone: the fetch faults at once. */
	regs.rip = STUB_GADGET_ADDR + SYSCALL_INSN_LEN;
	regs.orig_rax = -1;
	err = ptrace_set_regs(r->pid, &regs);
	/* SIGSEGV not blocked: the kernel resets the action of a forced signal
	 * that is blocked, and the program's may be set by now. */
	if (!err)
		err = ptrace_set_sigmask(r->pid, ~(1ULL << (SIGSEGV - 1)));
	if (!err && ptrace(PTRACE_CONT, r->pid, 0, 0) < 0)
		err = -errno;
	return err ? err : wait_step(r, is_stub_gone, &regs);
}

/* process_vm_readv and process_vm_writev share one signature. */
typedef ssize_t (*vm_copy_fn)(pid_t, const struct iovec *, unsigned long,
			      const struct iovec *, unsigned long, unsigned long);

/* Copy len bytes between buf and addr, one system call per stretch the
 * kernel accepts (all of it, unless a page refuses). */
static int vm_copy(vm_copy_fn copy, pid_t pid, unsigned long addr, char *buf, size_t len)
{
	while (len) {
		struct iovec local = { .iov_base = buf, .iov_len = len };
		struct iovec remote = { .iov_base = (void *)addr, .iov_len = len };
		ssize_t n = copy(pid, &local, 1, &remote, 1, 0);

		if (n < 0)
			return -errno;
		if (n == 0)
			return -EFAULT;
		buf += n;
		addr += n;
		len -= n;
	}
	return 0;
}

int remote_write(struct remote *r, unsigned long addr, const void *buf, size_t len)
{
	return vm_copy(process_vm_writev, r->pid, addr, (char *)buf, len);
}

int remote_writev(struct remote *r, const struct iovec *local, const struct iovec *remote,
		  size_t n)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += local[i].iov_len;
	if (process_vm_writev(r->pid, local, n, remote, n, 0) == (ssize_t)total)
		return 0;
	/* Short (a page refused): piece by piece, to learn which. */
	for (size_t i = 0; i < n; i++) {
		int err = remote_write(r, (unsigned long)remote[i].iov_base, local[i].iov_base,
				       local[i].iov_len);

		if (err)
			return err;
	}
	return 0;
}

int remote_read(struct remote *r, unsigned long addr, void *buf, size_t len)
{
	return vm_copy(process_vm_readv, r->pid, addr, buf, len);
}

void remote_kill(struct remote *r)
{
	int status;

	if (r->pid <= 0)
		return;
	kill(r->pid, SIGKILL);
	while (waitpid(r->pid, &status, __WALL) < 0 && errno == EINTR)
		;
	r->pid = 0;
	r->nnoted = r->nlost = 0;
	r->stop_wanted = false;
}
