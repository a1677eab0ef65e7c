/*
 * The tracee layer on real processes: seize and detach, a stopped process
 * recorded and left stopped, pending signals read, and a PID reused between
 * the first look and the seize refused.  The reuse is made exact in a PID
 * namespace of our own, where we are init and choose the next PID
 * (/proc/sys/kernel/ns_last_pid).  Needs root; skips without it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tracee.h"
#include "unit.h"

static pid_t start_child(void)
{
	sigset_t usr1, old;
	pid_t pid;

	/* Blocked before the fork: a SIGUSR1 sent at once must not kill it. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old);
	pid = fork();
	if (pid == 0)
		for (;;)
			pause();
	sigprocmask(SIG_SETMASK, &old, NULL);
	return pid;
}

static void end_child(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
}

static int set_last_pid(pid_t pid)
{
	char buf[32];
	int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
	int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
	int ok = fd >= 0 && write(fd, buf, n) == n;

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

/* Runs as init of a new PID namespace. */
static int in_namespace(void)
{
	struct tracee t, t2;
	struct tracee_signal *sigs;
	size_t n;
	pid_t a, b;
	int status;

	/* An ordinary seize, a pending signal, detach. */
	a = start_child();
	CHECK(tracee_open(&t, a) == 0);
	CHECK(kill(a, SIGUSR1) == 0);
	CHECK(tracee_seize(&t, 0, 5000) == 0);
	CHECK(!t.was_stopped);
	CHECK(t.saved_mask & (1ULL << (SIGUSR1 - 1)));
	CHECK(tracee_pending_signals(&t, &sigs, &n) == 0);
	CHECK(n == 1 && sigs[0].info.si_signo == SIGUSR1 && sigs[0].shared);
	free(sigs);
	CHECK(tracee_detach(&t) == 0);
	tracee_close(&t);

	/* A stopped process: recorded, and stopped after we let go. */
	CHECK(kill(a, SIGSTOP) == 0);
	CHECK(waitpid(a, &status, WUNTRACED) == a && WIFSTOPPED(status));
	CHECK(tracee_open(&t, a) == 0);
	CHECK(tracee_seize(&t, 0, 5000) == 0);
	CHECK(t.was_stopped);
	CHECK(tracee_detach(&t) == 0);
	tracee_close(&t);
	/* Still stopped: a seize now sees the group stop again. */
	CHECK(tracee_open(&t2, a) == 0);
	CHECK(tracee_seize(&t2, 0, 5000) == 0);
	CHECK(t2.was_stopped);
	CHECK(tracee_end(&t2) == 0);
	tracee_close(&t2);
	while (waitpid(a, NULL, 0) < 0 && errno == EINTR)
		;

	/* The PID reused between the first look and the seize. */
	a = start_child();
	CHECK(tracee_open(&t, a) == 0);
	end_child(a);
	if (set_last_pid(a - 1) < 0) {
		fprintf(stderr, "cannot set ns_last_pid: %m\n");
		return 77;
	}
	b = start_child();
	if (b != a) {
		fprintf(stderr, "got PID %d, not %d\n", (int)b, (int)a);
		end_child(b);
		return 77;
	}
	CHECK(tracee_seize(&t, 0, 5000) == -ESRCH);
	tracee_close(&t);
	/* The stranger was let go: we can seize it afresh. */
	CHECK(ptrace(PTRACE_SEIZE, b, 0, 0) == 0);
	end_child(b);
	return unit_result();
}

int main(void)
{
	pid_t init;
	int status;

	if (geteuid() != 0) {
		fprintf(stderr, "skip: PID namespaces need root\n");
		return 77;
	}
	if (unshare(CLONE_NEWPID) < 0) {
		fprintf(stderr, "skip: unshare(CLONE_NEWPID): %m\n");
		return 77;
	}
	init = fork();
	if (init < 0)
		return 99;
	if (init == 0)
		_exit(in_namespace());
	if (waitpid(init, &status, 0) < 0 || !WIFEXITED(status))
		return 99;
	/* Not return: with its PID namespace's init gone, this process can
	 * start no other, and LeakSanitizer's check at exit needs one. */
	_exit(WEXITSTATUS(status));
}
