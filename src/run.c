/*
 * contmig run: start a program under supervision, and move it when it asks.
 *
 * The program runs with a seccomp filter that traps one system call, the
 * number no kernel has that sys_migrate makes (SECCOMP_RET_TRACE); we hold it
 * with PTRACE_SEIZE and PTRACE_O_TRACESECCOMP, so it stops only there and on
 * signals, never at its other system calls.  At the stop we turn the call
 * into "return 0" (orig_rax -1, rax 0) and send the process as it stands: the
 * copy carries on from the syscall instruction with 0 on the new machine.  If
 * the move fails, the call returns -errno here instead.  Without a tracer the
 * kernel answers SECCOMP_RET_TRACE with -ENOSYS, so an unsupervised program
 * (or one whose contmig run died) just gets an error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch-x86_64.h"
#include "commands.h"
#include "error.h"
#include "exitcode.h"
#include "key.h"
#include "ptrace.h"
#include "migrate.h"
#include "route.h"
#include "run-checkpoint.h"
#include "seccomp.h"
#include "target.h"
#include "tracee.h"

/* stub/continuum.inc's SYS_continuum_migrate. */
#define SYS_CONTINUUM_MIGRATE	CONTMIG_SYS_MIGRATE

static const char usage[] =
	"Usage: contmig run [--key FILE] [--timeout SECS] [--] PROG [ARGS...]\n"
	"       contmig run --checkpoint DIR [--every INTERVAL] [--on SIGNAL]\n"
	"                   [--reopen-changed] [--drop-fds] [--] PROG [ARGS...]\n"
	"Run PROG supervised: when it calls sys_migrate(\"HOST:PORT\") (continuum(7)),\n"
	"contmig moves it there as 'contmig send' would, and the call returns 0 on the\n"
	"new machine; if the move fails, it returns -errno and PROG goes on here.\n"
	"PROG has run's stdin, stdout and stderr, and run exits with its status as a\n"
	"shell would (128+N for signal N); after a move, run says on stderr where PROG\n"
	"went and exits 0. Supervision costs PROG nothing while it runs: it stops only\n"
	"at sys_migrate and on signals.\n"
	"\n"
	"With --checkpoint, PROG is resumed from DIR if DIR holds a checkpoint of it\n"
	"(the same PROG and ARGS), else started; on SIGNAL it is written to DIR and\n"
	"ended, and run exits 75: run the same command again to carry on.\n"
	"\n"
	"  -c, --checkpoint DIR checkpoint PROG into DIR (created if missing; yours\n"
	"                       alone); resume it from there\n"
	"  -e, --every INTERVAL also checkpoint it while it runs, every INTERVAL (30s,\n"
	"                       10m, 2h; seconds without a unit): only what it wrote\n"
	"                       since the last one is written\n"
	"      --on SIGNAL      the signal that checkpoints and ends it (default TERM),\n"
	"                       sent to run or to PROG\n"
	"      --reopen-changed on resume, open PROG's files even if they changed since\n"
	"                       (a log that grew after its last checkpoint: a dead\n"
	"                       machine)\n"
	"      --drop-fds       checkpoint it even with fds that do not move (pipes,\n"
	"                       sockets...); the resumed copy finds them closed\n"
	"  -k, --key FILE       the shared key of the receivers (contmig keygen)\n"
	"  -t, --timeout SECS   give up on a silent receiver after SECS (default 30)\n"
	"  -h, --help           show this help\n";

/* In the child, before exec: trap sys_migrate, allow everything else
 * (seccomp.c's filter, which a freeze knows as ours and does not carry). */
static int trap_sys_migrate(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, seccomp_run_prog()) < 0) {
		errno_msg(errno, "run: installing the seccomp filter");
		return -errno;
	}
	return 0;
}

/* The errno sys_migrate returns when the move failed with this status. */
static int errno_for(int status)
{
	switch (status) {
	case EXIT_USAGE:
		return EINVAL;		/* not HOST:PORT */
	case EXIT_CONTRACT:
		return EBUSY;		/* files still open, threads */
	case EXIT_AUTH:
		return EACCES;
	case EXIT_IMAGE:
	case EXIT_RESTORE:
		return EREMOTEIO;	/* the receiver could not take it */
	case EXIT_NETWORK:
		return ECONNREFUSED;	/* refused, lost, timed out, busy */
	default:
		return EIO;
	}
}

/* The destination string at addr in the program's memory. */
static int read_dest(pid_t pid, unsigned long addr, char *dest, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, dest, len - 1, addr);	/* short at the end of its mapping */
	close(fd);
	if (n <= 0)
		return -EFAULT;
	dest[n] = '\0';
	return memchr(dest, '\0', n) ? 0 : -ENAMETOOLONG;
}

/* Move PROG, stopped at its sys_migrate under our ptrace, to dest. */
static int move(pid_t pid, const char *dest, const uint8_t *key, int timeout_ms,
		pid_t *moved_to)
{
	struct route r = { .cmd = "run", .timeout_ms = timeout_ms, .key = key };
	int status;

	if (route_parse(&r, dest)) {
		error_msg("run: sys_migrate(\"%.200s\"): not %s", dest, ROUTE_DEST_FORMS);
		route_free(&r);
		return EXIT_USAGE;
	}
	status = migrate_process(&r, pid, TARGET_ATTACHED | TARGET_SELF_MOVE, moved_to);
	route_free(&r);
	return status;
}

/*
 * PROG stopped at sys_migrate.  EXIT_OK: it moved and is gone here; another
 * exit status: run ends with it (the outcome is unknown); -1: the call was
 * answered with an error and PROG may go on.
 */
static int migrate(pid_t pid, const uint8_t *key, int timeout_ms)
{
	struct user_regs_struct regs;
	char dest[256];
	pid_t moved_to;
	int err = ptrace_get_regs(pid, &regs), status;

	if (err) {
		errno_msg(-err, "run: reading the registers of PID %d", (int)pid);
		return -1;
	}
	err = read_dest(pid, regs.rdi, dest, sizeof(dest));
	/* Skip the call itself; in the image it has returned 0. */
	regs.orig_rax = -1;
	regs.rax = err ? err : 0;
	err = err ? err : ptrace_set_regs(pid, &regs);
	if (err) {
		regs.rax = err;
		if (ptrace_set_regs(pid, &regs))
			errno_msg(errno, "run: answering sys_migrate of PID %d", (int)pid);
		return -1;
	}
	status = move(pid, dest, key, timeout_ms, &moved_to);
	if (status == EXIT_OK) {
		error_msg("run: PID %d moved to %s, where it runs as PID %d", (int)pid, dest,
			  (int)moved_to);
		return EXIT_OK;
	}
	if (status == EXIT_UNKNOWN)
		return status;
	regs.rax = -errno_for(status);
	err = ptrace_set_regs(pid, &regs);
	if (err)
		errno_msg(-err, "run: answering sys_migrate of PID %d", (int)pid);
	return -1;
}

/* Follow PROG until it ends or moves: run's exit status. */
static int supervise(pid_t pid, const uint8_t *key, int timeout_ms)
{
	for (;;) {
		int st, event, sig;
		long req = PTRACE_CONT, data = 0;

		if (waitpid(pid, &st, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			errno_msg(errno, "run: waiting for PID %d", (int)pid);
			return EXIT_INTERNAL;
		}
		if (WIFEXITED(st))
			return WEXITSTATUS(st);
		if (WIFSIGNALED(st))
			return 128 + WTERMSIG(st);
		event = (unsigned)st >> 16;
		sig = WSTOPSIG(st);
		if (event == PTRACE_EVENT_SECCOMP) {
			int status = migrate(pid, key, timeout_ms);

			if (status >= 0)
				return status;
		} else if (event == PTRACE_EVENT_STOP && signal_is_stop(sig)) {
			req = PTRACE_LISTEN;	/* a group-stop: stay stopped till SIGCONT */
		} else if (!event) {
			data = sig;		/* a signal for PROG: deliver it */
		}
		if (ptrace(req, pid, 0, data) < 0 && errno != ESRCH) {
			errno_msg(errno, "run: letting PID %d go on", (int)pid);
			return EXIT_INTERNAL;
		}
	}
}

/* "30s", "10m", "2h", "1d", or seconds: milliseconds, at most a week's;
 * or -1. */
static int parse_interval(const char *s)
{
	static const struct { const char *unit; long ms; } units[] = {
		{ "", 1000 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	};
	const long most = 7 * 86400000L;
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	for (size_t i = 0; !errno && v > 0 && i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].unit))
			return v <= most / units[i].ms ? (int)(v * units[i].ms) : -1;
	return -1;
}

/* "TERM", "SIGTERM", "USR1" or a number: the signal, or 0.  Not one the C
 * library keeps for its threads (32, 33): run could not take it through its
 * signalfd, and it would end run, not checkpoint the program. */
static int parse_signal(const char *s)
{
	sigset_t set;
	char *end;
	long v;

	if (*s >= '0' && *s <= '9') {
		v = strtol(s, &end, 10);
		sigemptyset(&set);
		return !*end && v > 0 && v < NSIG && sigaddset(&set, (int)v) == 0 ? (int)v : 0;
	}
	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (int sig = 1; sig < SIGRTMIN; sig++) {
		const char *name = sigabbrev_np(sig);

		if (name && !strcmp(name, s))
			return sig;
	}
	return 0;
}

static int run(int argc, char **argv)
{
	enum { OPT_ON = 256, OPT_REOPEN_CHANGED, OPT_DROP_FDS };
	static const struct option longopts[] = {
		{ "checkpoint", required_argument, NULL, 'c' },
		{ "every", required_argument, NULL, 'e' },
		{ "on", required_argument, NULL, OPT_ON },
		{ "reopen-changed", no_argument, NULL, OPT_REOPEN_CHANGED },
		{ "drop-fds", no_argument, NULL, OPT_DROP_FDS },
		{ "key", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint8_t key[CHANNEL_KEY_BYTES];
	const char *key_path = NULL;
	int timeout_ms = DEFAULT_TIMEOUT_S * 1000;
	struct checkpoint_opts co = { .signal = SIGTERM };
	bool timeout_given = false, checkpoint_opt = false;
	int opt, status, err;
	pid_t pid;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:c:e:k:t:h", longopts, NULL)) != -1) {
		checkpoint_opt |= opt == 'e' || opt == OPT_ON || opt == OPT_REOPEN_CHANGED ||
				  opt == OPT_DROP_FDS;
		switch (opt) {
		case 'c':
			if (!*optarg)
				usage_error("run", "run: --checkpoint needs a DIR");
			co.dir = optarg;
			break;
		case 'e':
			co.every_ms = parse_interval(optarg);
			if (co.every_ms <= 0)
				usage_error("run", "run: --every '%s' is not an interval (such as 30s, "
					    "10m or 2h; at most 7 days)", optarg);
			break;
		case OPT_ON:
			co.signal = parse_signal(optarg);
			if (!co.signal || co.signal == SIGKILL || co.signal == SIGSTOP ||
			    co.signal == SIGCHLD)
				usage_error("run", "run: --on '%s' is not a signal that can checkpoint "
					    "(such as TERM, USR1; not KILL, STOP, CHLD, 32 or 33)", optarg);
			break;
		case OPT_REOPEN_CHANGED:
			co.reopen_changed = true;
			break;
		case OPT_DROP_FDS:
			co.drop_fds = true;
			break;
		case 'k':
			key_path = optarg;
			break;
		case 't':
			timeout_ms = parse_timeout("run", optarg);
			timeout_given = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			option_error("run", opt, argv);
		}
	}
	if (optind == argc)
		usage_error("run", "run: missing PROG");
	if (checkpoint_opt && !co.dir)
		usage_error("run", "run: --every, --on, --reopen-changed and --drop-fds go with "
			    "--checkpoint");
	if (co.dir && (key_path || timeout_given))
		usage_error("run", "run: --key and --timeout are for sys_migrate, which a program "
			    "run with --checkpoint does not make");
	if (co.dir) {
		fflush(stdout);
		signal(SIGPIPE, SIG_IGN);
		return run_checkpointed(&co, argv + optind);
	}
	if (sodium_init() < 0)
		error_msg_and_die(EXIT_INTERNAL, "run: libsodium cannot start");
	if (key_path) {
		status = key_load("run", key_path, key);
		if (status != EXIT_OK)
			return status;
	}
	/* A vanished receiver must be an error we report, not our death. */
	signal(SIGPIPE, SIG_IGN);
	fflush(stdout);
	err = start_program(argv + optind, NULL, trap_sys_migrate, PTRACE_O_TRACESECCOMP, &pid,
			    &status);
	if (err == -ECHILD)
		return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_INTERNAL;
	if (err) {
		errno_msg(-err, "run: starting %s", argv[optind]);
		return EXIT_INTERNAL;
	}
	forward_signals(pid);
	status = supervise(pid, key_path ? key : NULL, timeout_ms);
	sodium_memzero(key, sizeof(key));
	return status;
}

const struct command command_run = {
	.name = "run",
	.summary = "run a program that may move itself, or keep it through checkpoints",
	.usage = usage,
	.run = run,
};
