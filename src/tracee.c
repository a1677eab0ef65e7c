#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arch-x86_64.h"
#include "ptrace.h"
#include "testpoint.h"
#include "tracee.h"

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int tracee_pidfd_signal(int pidfd, int sig)
{
	return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

int tracee_open(struct tracee *t, pid_t pid)
{
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->pidfd = pidfd_open_(pid);
	return t->pidfd < 0 ? -errno : 0;
}

void tracee_adopt(struct tracee *t, pid_t pid, long options)
{
	memset(t, 0, sizeof(*t));
	t->pid = pid;
	/* Our own child: its PID cannot be reused while we have not reaped it. */
	t->pidfd = pidfd_open_(pid);
	t->seized = t->stopped = true;
	t->options = options;
}

int tracee_alive(const struct tracee *t)
{
	if (t->pidfd < 0)
		return kill(t->pid, 0) < 0 ? -errno : 0;
	return tracee_pidfd_signal(t->pidfd, 0);
}

static long ms_between(const struct timespec *from, const struct timespec *to)
{
	return (to->tv_sec - from->tv_sec) * 1000L + (to->tv_nsec - from->tv_nsec) / 1000000L;
}

/* The last call a stop found cut short, for each of the last few processes
 * stopped (a move holds one, run one). */
static struct {
	pid_t pid;
	long long nr;
	unsigned long long rip;
} calls_seen[8];
static unsigned calls_next;

void tracee_saw_call(pid_t pid, long long nr, unsigned long long rip)
{
	size_t i;

	if (nr < 0 || nr == SYS_restart_syscall)
		return;
	for (i = 0; i < sizeof(calls_seen) / sizeof(calls_seen[0]); i++)
		if (calls_seen[i].pid == pid)
			break;
	if (i == sizeof(calls_seen) / sizeof(calls_seen[0]))
		i = calls_next++ % i;
	calls_seen[i].pid = pid;
	calls_seen[i].nr = nr;
	calls_seen[i].rip = rip;
}

long long tracee_last_call(pid_t pid, unsigned long long *rip)
{
	for (size_t i = 0; i < sizeof(calls_seen) / sizeof(calls_seen[0]); i++)
		if (calls_seen[i].pid == pid && pid) {
			*rip = calls_seen[i].rip;
			return calls_seen[i].nr;
		}
	return -1;
}

long long tracee_call_at(pid_t pid, unsigned long long rip)
{
	unsigned long long at;
	long long nr = tracee_last_call(pid, &at);

	return nr >= 0 && at == rip ? nr : -1;
}

void tracee_note_call(pid_t pid)
{
	struct user_regs_struct regs;

	if (ptrace_get_regs(pid, &regs) == 0 && is_restart_code((long long)regs.rax))
		tracee_saw_call(pid, (long long)regs.orig_rax, regs.rip);
}

/* The CLOCK_MONOTONIC time timeout_ms from now. */
static struct timespec deadline_in(int timeout_ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += timeout_ms / 1000;
	t.tv_nsec += timeout_ms % 1000 * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/*
 * The next stop (or death) of pid, waiting until deadline at most (NULL: for
 * ever).  SIGCHLD, which the kernel sends the tracer at each stop, wakes us:
 * no polling interval.  It is blocked meanwhile so that it is queued even
 * when ignored, and the old mask is put back after.
 */
static int wait_until(pid_t pid, int *status, const struct timespec *deadline)
{
	sigset_t chld, old;
	int err;

	if (!deadline)
		return ptrace_wait(pid, status);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, &old) < 0)
		return -errno;
	for (;;) {
		struct timespec now, left;
		pid_t r = waitpid(pid, status, __WALL | WNOHANG);
		long ms;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			break;
		}
		if (r > 0) {
			err = WIFEXITED(*status) || WIFSIGNALED(*status) ? -ESRCH : 0;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = ms_between(&now, deadline);
		if (ms <= 0) {
			err = -ETIMEDOUT;
			break;
		}
		/* At most a second at a time: a SIGCHLD someone else consumed
		 * (a handler in another thread) costs no more than that. */
		if (ms > 1000)
			ms = 1000;
		left = (struct timespec){ .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L };
		if (sigtimedwait(&chld, NULL, &left) < 0 && errno != EAGAIN && errno != EINTR) {
			err = -errno;
			break;
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return err;
}

/* We seized a process that is not the one we looked at: let it go as
 * untouched as we can (it must stop before PTRACE_DETACH works). */
static void release_stranger(pid_t pid)
{
	struct timespec deadline;
	int status;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 1;
	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) == 0 &&
	    wait_until(pid, &status, &deadline) == 0) {
		if (status >> 16 != PTRACE_EVENT_STOP)	/* a signal: not ours to drop */
			ptrace(PTRACE_CONT, pid, 0, WSTOPSIG(status));
		else
			ptrace(PTRACE_DETACH, pid, 0, 0);
	}
	/* Still running and seized: the kernel detaches it when we exit. */
}

/*
 * PTRACE_INTERRUPT a running tracee and wait until it is stopped for us.
 * Signals that arrive meanwhile are delivered as the kernel would have.
 * -ETIMEDOUT: it is still asked to stop; the wait's error, with t->seized
 * cleared: it is gone or no longer ours; another -errno: a ptrace request
 * failed.
 */
static int interrupt_wait(struct tracee *t, const struct timespec *deadline)
{
	int status, err;

	for (;;) {
		err = wait_until(t->pid, &status, deadline);
		if (err == -ETIMEDOUT)
			return err;
		if (err) {
			t->seized = false;
			return err;
		}
		if (status >> 16 == PTRACE_EVENT_STOP) {
			/* A group stop reports its stop signal, our interrupt
			 * SIGTRAP (ptrace(2), "Group-stop" under PTRACE_SEIZE). */
			t->was_stopped = signal_is_stop(WSTOPSIG(status));
			t->stopped = true;
			return 0;
		}
		/* A signal-delivery-stop: deliver it as the kernel would have,
		 * then ask for the stop again.  A stop signal puts it in a group
		 * stop, which we then see and keep. */
		if (ptrace(PTRACE_CONT, t->pid, 0, WSTOPSIG(status)) < 0 ||
		    ptrace(PTRACE_INTERRUPT, t->pid, 0, 0) < 0)
			return -errno;
	}
}

static int interrupt(struct tracee *t, const struct timespec *deadline)
{
	if (ptrace(PTRACE_INTERRUPT, t->pid, 0, 0) < 0)
		return -errno;
	return interrupt_wait(t, deadline);
}

int tracee_seize(struct tracee *t, long options, int timeout_ms)
{
	struct timespec deadline;
	int err;

	err = tracee_alive(t);
	if (err)
		return err;
	if (ptrace(PTRACE_SEIZE, t->pid, 0, options) < 0)
		return -errno;
	t->seized = t->ours = true;
	t->options = options;
	/* The PID might have been reused between the first look and the
	 * seize: if the process the pidfd names still lives, its PID cannot
	 * have been given to another, so the one we seized is it. */
	err = tracee_alive(t);
	if (err) {
		release_stranger(t->pid);
		t->seized = false;
		return -ESRCH;
	}
	if (timeout_ms >= 0)
		deadline = deadline_in(timeout_ms);
	err = interrupt(t, timeout_ms >= 0 ? &deadline : NULL);
	if (err == -ETIMEDOUT || !t->seized)
		return err;	/* still asked to stop; or gone */
	if (err) {
		errno = -err;
		goto fail;
	}
	err = ptrace_get_sigmask(t->pid, &t->saved_mask);
	if (err) {
		errno = -err;
		goto fail;
	}
	tracee_note_call(t->pid);
	return 0;
fail:
	err = -errno;
	if (ptrace(PTRACE_DETACH, t->pid, 0, 0) == 0 || errno == ESRCH)
		t->seized = t->stopped = false;
	return err;
}

void tracee_describe_state(pid_t pid, char *buf, size_t len)
{
	char path[64], line[256], wchan[128] = "";
	char state[64] = "?";
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "State: %63[^\n]", state) == 1)
			break;
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, wchan, sizeof(wchan) - 1);

		wchan[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	if (*wchan && strcmp(wchan, "0"))
		snprintf(buf, len, "state %s, waiting in %s", state, wchan);
	else
		snprintf(buf, len, "state %s", state);
}

/*
 * PTRACE_SYSCALL takes it through the restarted call: a syscall-stop at its
 * entry, another at its end.  Any other stop is a signal's, delivered (with
 * PTRACE_CONT: no more syscall-stops).  Leaving either, it is asked to stop
 * again, which it does as it next returns to user space (a ptrace stop
 * answers a PTRACE_INTERRUPT asked before it, so the one asked at the time
 * limit, while it runs, may be answered by the end of the call it cut
 * short: asked again there).  Whichever way, it ends in a
 * PTRACE_EVENT_STOP, as after tracee_seize.
 */
static int finish_call(struct tracee *t, int timeout_ms, uint64_t ignored, bool *ended)
{
	struct timespec deadline = deadline_in(timeout_ms);
	bool entered = false, asked = false, hooked = false;
	int status, err;

	if (ptrace(PTRACE_SYSCALL, t->pid, 0, 0) < 0)
		return -errno;
	t->stopped = false;
	for (;;) {
		struct user_regs_struct regs;
		long req = PTRACE_CONT, data = 0;

		err = wait_until(t->pid, &status, &deadline);
		if (err == -ETIMEDOUT && !asked) {
			if (ptrace(PTRACE_INTERRUPT, t->pid, 0, 0) < 0)
				return -errno;
			asked = true;
			deadline = deadline_in(1000);
			continue;
		}
		if (err) {
			t->seized = err == -ETIMEDOUT;
			return err;
		}
		if (status >> 16 == PTRACE_EVENT_STOP) {
			t->was_stopped = signal_is_stop(WSTOPSIG(status));
			t->stopped = true;
			return 0;
		}
		if (WSTOPSIG(status) == (SIGTRAP | 0x80) && !entered) {
			entered = true;
			req = PTRACE_SYSCALL;
		} else if (WSTOPSIG(status) == (SIGTRAP | 0x80)) {
			err = ptrace_get_regs(t->pid, &regs);
			if (err)
				return err;
			/* Not a restart code: it was not cut short. */
			*ended = !is_restart_code((long long)regs.rax);
			/* Cut short by a signal, not by us: see which, at its
			 * stop, then the restarted call's entry. */
			if (!*ended && !asked) {
				entered = false;
				req = PTRACE_SYSCALL;
			}
		} else if (WSTOPSIG(status) < 64 && ignored & (1ULL << (WSTOPSIG(status) - 1))) {
			/* One it ignores, which without us would not have cut
			 * its wait short: dropped, and the call goes on. */
			entered = false;
			req = PTRACE_SYSCALL;
			data = WSTOPSIG(status);
		} else {
			data = WSTOPSIG(status);
		}
		if (req == PTRACE_CONT && ptrace(PTRACE_INTERRUPT, t->pid, 0, 0) < 0)
			return -errno;
		if (ptrace(req, t->pid, 0, data) < 0)
			return -errno;
		/* (Where the tests kill us while it waits under PTRACE_SYSCALL.) */
		if (entered && !hooked) {
			hooked = true;
			test_point("wait-running-out");
		}
	}
}

int tracee_finish_call(struct tracee *t, int timeout_ms, uint64_t ignored, bool *ended)
{
	int err;

	*ended = false;
	if (ptrace(PTRACE_SETOPTIONS, t->pid, 0, t->options | PTRACE_O_TRACESYSGOOD) < 0)
		return -errno;
	err = finish_call(t, timeout_ms, ignored, ended);
	if (t->stopped && ptrace(PTRACE_SETOPTIONS, t->pid, 0, t->options) < 0)
		return -errno;
	return err;
}

int tracee_set_options(struct tracee *t, long options)
{
	if (ptrace(PTRACE_SETOPTIONS, t->pid, 0, options) < 0)
		return -errno;
	t->options = options;
	return 0;
}

int tracee_exit_kill(struct tracee *t, bool on)
{
	return tracee_set_options(t, on ? t->options | PTRACE_O_EXITKILL :
				  t->options & ~(long)PTRACE_O_EXITKILL);
}

/* Append the queue PTRACE_PEEKSIGINFO shows with flags to *sigs. */
static int peek_queue(pid_t pid, unsigned flags, struct tracee_signal **sigs, size_t *n,
		      size_t *cap)
{
	siginfo_t batch[32];
	struct __ptrace_peeksiginfo_args args = { .flags = flags, .nr = 32 };

	for (;;) {
		long got = ptrace(PTRACE_PEEKSIGINFO, pid, &args, batch);

		if (got < 0)
			return -errno;
		if (got == 0)
			return 0;
		for (long i = 0; i < got; i++) {
			if (*n == *cap) {
				size_t c = *cap ? *cap * 2 : 16;
				struct tracee_signal *s = realloc(*sigs, c * sizeof(*s));

				if (!s)
					return -ENOMEM;
				*sigs = s;
				*cap = c;
			}
			(*sigs)[(*n)++] = (struct tracee_signal){
				.info = batch[i],
				.shared = flags & PTRACE_PEEKSIGINFO_SHARED,
			};
		}
		args.off += got;
	}
}

int tracee_peek_signals(pid_t pid, struct tracee_signal **sigs, size_t *n)
{
	size_t cap = 0;
	int err;

	*sigs = NULL;
	*n = 0;
	err = peek_queue(pid, 0, sigs, n, &cap);
	if (!err)
		err = peek_queue(pid, PTRACE_PEEKSIGINFO_SHARED, sigs, n, &cap);
	if (err) {
		free(*sigs);
		*sigs = NULL;
		*n = 0;
	}
	return err;
}

int tracee_pending_signals(const struct tracee *t, struct tracee_signal **sigs, size_t *n)
{
	return tracee_peek_signals(t->pid, sigs, n);
}

static int detach(struct tracee *t)
{
	if (ptrace(PTRACE_DETACH, t->pid, 0, 0) < 0)
		return -errno;
	t->seized = t->stopped = false;
	return 0;
}

int tracee_detach(struct tracee *t)
{
	/* Detaching from a group stop leaves it stopped by itself (the kernel
	 * re-arms the stop, kernel/ptrace.c __ptrace_unlink); the SIGSTOP makes
	 * sure, even if the stop ended while we held it. */
	if (t->was_stopped)
		return tracee_keep_stopped(t);
	return detach(t);
}

int tracee_keep_stopped(struct tracee *t)
{
	int err = tracee_alive(t);

	/* Stopped under our ptrace it cannot act on the SIGSTOP before we let
	 * go; then it stops at once. */
	if (!err)
		err = t->pidfd >= 0 ? tracee_pidfd_signal(t->pidfd, SIGSTOP) :
		      kill(t->pid, SIGSTOP) < 0 ? -errno : 0;
	if (!err)
		err = detach(t);
	if (!err)
		t->was_stopped = true;
	return err;
}

int tracee_end(struct tracee *t)
{
	int status, err;

	err = t->pidfd >= 0 ? tracee_pidfd_signal(t->pidfd, SIGKILL) :
	      kill(t->pid, SIGKILL) < 0 ? -errno : 0;
	if (err)
		return err;
	/* A tracee reports its death to us: wait for it, letting each stop
	 * it passes through go on (there are none after SIGKILL but exit). */
	while (t->seized && ptrace_wait(t->pid, &status) == 0)
		ptrace(PTRACE_CONT, t->pid, 0, 0);
	t->seized = t->stopped = false;
	return 0;
}

void tracee_close(struct tracee *t)
{
	if (t->seized && t->stopped && t->ours && tracee_detach(t))
		(void)0;	/* gone meanwhile: nothing left to let go */
	if (t->pidfd >= 0)
		close(t->pidfd);
	t->pidfd = -1;
}
