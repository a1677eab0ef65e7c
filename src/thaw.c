/* contmig thaw: bring an image back to life on this machine. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "error.h"
#include "exitcode.h"
#include "image.h"
#include "ptrace.h"
#include "remote.h"
#include "restore.h"

static const char usage[] =
	"Usage: contmig thaw [--detach] IMAGE|-\n"
	"Bring a frozen process back to life on this machine, at the same addresses.\n"
	"The whole image is checked (headers, notes, every segment's checksum, the\n"
	"canary) before the process runs; a bad image starts nothing.\n"
	"By default thaw stays in the foreground as the process's parent: the process\n"
	"has thaw's stdin, stdout and stderr, gets the SIGINT, SIGTERM, SIGHUP and\n"
	"SIGQUIT sent to thaw, and thaw exits with its status (128+N for signal N).\n"
	"'-' reads the image from standard input.\n"
	"\n"
	"  -d, --detach   print the new PID on standard output and exit once it runs\n"
	"  -h, --help     show this help\n";

static volatile pid_t child;

/* Pass on a signal someone sent to thaw alone.  A terminal's ^C already
 * reaches the whole foreground process group, the child included. */
static void forward(int sig, siginfo_t *si, void *uctx)
{
	(void)uctx;
	if (child > 0 && si->si_code != SI_KERNEL)
		kill(child, sig);
}

static void forward_signals(pid_t pid)
{
	static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa = { .sa_sigaction = forward, .sa_flags = SA_SIGINFO };

	child = pid;
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaction(forwarded[i], &sa, NULL);
}

static int wait_for_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			errno_msg(errno, "thaw: waiting for PID %d", (int)pid);
			return EXIT_INTERNAL;
		}
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int exit_status_for(enum restore_failure f)
{
	switch (f) {
	case RESTORE_BAD_IMAGE:
		return EXIT_IMAGE;
	case RESTORE_INPUT:
		return EXIT_IO;
	default:
		return EXIT_RESTORE;
	}
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "detach", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct restore_result res;
	struct stream in = { .fd = -1 };
	struct remote r = { 0 };
	struct image im;
	const char *path;
	bool detach = false;
	int opt, err, status;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:dh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			detach = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			option_error("thaw", opt, argv);
		}
	}
	if (optind != argc - 1)
		usage_error("thaw", "thaw: %s", optind == argc ? "missing IMAGE (or - for stdin)" :
			    "too many arguments: give one IMAGE");
	path = argv[optind];
	if (!strcmp(path, "-")) {
		in.fd = STDIN_FILENO;
		path = "standard input";
	} else {
		in.fd = open(path, O_RDONLY | O_CLOEXEC);
		if (in.fd < 0) {
			errno_msg(errno, "thaw: %s", path);
			return errno == ENOENT || errno == EACCES ? EXIT_NOTARGET : EXIT_IO;
		}
	}

	err = image_read_head(&im, &in);
	if (err == -EBADMSG) {
		error_msg("thaw %s: invalid image: %s", path, im.why);
		status = EXIT_IMAGE;
		goto out;
	}
	if (err) {
		errno_msg(-err, "thaw: reading %s", path);
		status = EXIT_IO;
		goto out;
	}
	if (restore_preflight(&im, &res) || restore_build(&im, &in, &r, &res)) {
		error_msg("thaw %s: %s%s", path,
			  res.failure == RESTORE_BAD_IMAGE ? "invalid image: " : "cannot restore: ",
			  res.why);
		status = exit_status_for(res.failure);
		goto out;
	}
	/* Forward signals from before the process runs, so none is lost. */
	if (!detach)
		forward_signals(r.pid);
	err = ptrace_detach(r.pid, 0);
	if (err) {
		errno_msg(-err, "thaw: starting PID %d", (int)r.pid);
		remote_kill(&r);
		status = EXIT_RESTORE;
		goto out;
	}
	if (!detach) {
		image_free(&im);
		if (in.fd != STDIN_FILENO)
			close(in.fd);
		return wait_for_child(r.pid);
	}
	printf("%d\n", (int)r.pid);
	status = EXIT_OK;
out:
	image_free(&im);
	if (in.fd >= 0 && in.fd != STDIN_FILENO)
		close(in.fd);
	return status;
}

const struct command command_thaw = {
	.name = "thaw",
	.summary = "bring an image back to life on this machine",
	.usage = usage,
	.run = run,
};
