/* Pieces of command-line handling that every subcommand shares. */
#include "config.h"

#include <getopt.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "commands.h"
#include "error.h"
#include "escape.h"
#include "exitcode.h"
#include "image.h"
#include "procfs.h"

const char *human_size(uint64_t bytes, char buf[32])
{
	if (bytes < (1 << 20))
		snprintf(buf, 32, "%.1f KiB", bytes / 1024.0);
	else if (bytes < (1 << 30))
		snprintf(buf, 32, "%.1f MiB", bytes / 1048576.0);
	else
		snprintf(buf, 32, "%.1f GiB", bytes / 1073741824.0);
	return buf;
}

const char *referenced_files(const struct image *im, char buf[64])
{
	size_t n = im->refs.nfiles;

	buf[0] = '\0';
	if (!n)
		return buf;
	snprintf(buf, 64, " (%zu file%s by reference)", n, n == 1 ? "" : "s");
	return buf;
}

static volatile pid_t forward_to;

/* Pass on a signal someone sent to us alone.  A terminal's ^C already
 * reaches the whole foreground process group, the child included. */
static void forward(int sig, siginfo_t *si, void *uctx)
{
	(void)uctx;
	if (forward_to > 0 && si->si_code != SI_KERNEL)
		kill(forward_to, sig);
}

void forward_signals(pid_t pid)
{
	struct sigaction sa = { .sa_sigaction = forward, .sa_flags = SA_SIGINFO };
	sigset_t set;

	forward_to = pid;
	termination_signals(&set);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&set, sig) == 1)
			sigaction(sig, &sa, NULL);
}

void termination_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
}

int parse_pid(const char *s)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return 0;
	v = strtol(s, &end, 10);
	if (*end || v <= 0 || v > INT_MAX)
		return 0;
	return (int)v;
}

void option_error(const char *cmd, int opt, char **argv)
{
	const char *arg = argv[optind - 1];

	if (opt == ':')
		usage_error(cmd, "%s: option '%s' needs an argument", cmd, arg);
	if (optopt)
		usage_error(cmd, "%s: unknown option '-%c'", cmd, optopt);
	usage_error(cmd, "%s: unknown option '%s'", cmd, arg);
}

int parse_size(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long n;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	}
	if (*end || n > (UINT64_MAX >> shift))
		return -EINVAL;
	*v = (uint64_t)n << shift;
	return 0;
}

int parse_timeout(const char *cmd, const char *s)
{
	uint64_t v;

	if (parse_size(s, &v) || v < 1 || v > 86400)
		usage_error(cmd, "%s: --timeout '%s' is not a number of seconds from 1 to 86400",
			    cmd, s);
	return (int)v * 1000;
}

pid_t wait_child(pid_t pid, int options, int *status, char *comm, size_t commsz)
{
	siginfo_t si = { 0 };
	struct proc_status st;

	/* Look first without reaping (WNOWAIT): a zombie still has its name. */
	while (waitid(pid > 0 ? P_PID : P_ALL, pid > 0 ? (id_t)pid : 0, &si,
		      WEXITED | WNOWAIT | (options & WNOHANG)) < 0)
		if (errno != EINTR)
			return -errno;
	if (!si.si_pid)
		return 0;	/* WNOHANG, and none has ended */
	snprintf(comm, commsz, "?");
	/* The program (or an image from a peer) chose that name. */
	if (procfs_read_status(si.si_pid, &st) == 0)
		escape_text(comm, commsz, st.name, sizeof(st.name));
	while (waitpid(si.si_pid, status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return si.si_pid;
}

const char *signal_abbrev(int sig, char buf[16])
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev)
		snprintf(buf, 16, "SIG%s", abbrev);
	else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, 16, "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, 16, "signal %d", sig);
	return buf;
}

const char *wait_status_text(int status, char *buf, size_t size)
{
	if (WIFSIGNALED(status)) {
		char name[16];

		snprintf(buf, size, "died of signal %d (%s)%s", WTERMSIG(status),
			 signal_abbrev(WTERMSIG(status), name),
			 WCOREDUMP(status) ? ", core dumped" : "");
	} else {
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
	}
	return buf;
}

int start_program(char **argv, const sigset_t *mask, int (*prepare)(void), long options,
		  pid_t *pid, int *ended)
{
	int status, err;

	*pid = fork();
	if (*pid < 0)
		return -errno;
	if (*pid == 0) {
		if (mask)
			sigprocmask(SIG_SETMASK, mask, NULL);
		if (prepare && prepare())
			_exit(EXIT_INTERNAL);
		signal(SIGPIPE, SIG_DFL);	/* ours, not PROG's */
		raise(SIGSTOP);		/* until the parent has seized us */
		execvp(argv[0], argv);
		errno_msg(errno, "run: %s", argv[0]);
		_exit(errno == ENOENT ? 127 : 126);
	}
	while (waitpid(*pid, &status, WUNTRACED) < 0)
		if (errno != EINTR)
			return -errno;	/* (not ours to wait for: nothing left) */
	if (!WIFSTOPPED(status)) {
		*ended = status;
		return -ECHILD;
	}
	if (ptrace(PTRACE_SEIZE, *pid, 0, options) < 0 || kill(*pid, SIGCONT) < 0) {
		err = -errno;
		kill(*pid, SIGKILL);
		while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
			;
		return err;
	}
	return 0;
}
