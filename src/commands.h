/*
 * The subcommands.  Each gets argv starting at its own name, parses its
 * options, does its work and returns an exit status (exitcode.h).
 */
#ifndef CONTMIG_COMMANDS_H
#define CONTMIG_COMMANDS_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct command {
	const char *name;
	const char *summary;		/* one line for `contmig --help` */
	const char *usage;		/* the whole `contmig help NAME` text */
	int (*run)(int argc, char **argv);
};

extern const struct command command_check;
extern const struct command command_freeze;
extern const struct command command_thaw;
extern const struct command command_send;
extern const struct command command_keygen;
extern const struct command command_inspect;
extern const struct command command_run;

/* How long send and thaw wait on a silent peer, unless told (--timeout). */
#define DEFAULT_TIMEOUT_S	30

/* The signals that end a command when someone stops it: SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT. */
void termination_signals(sigset_t *set);

/* The help lines and long options every copying command shares. */
#define PROGRESS_HELP \
	"  -q, --quiet          no progress and no summary on stderr\n" \
	"      --progress       show progress and a summary even when stderr is not a\n" \
	"                       terminal\n"
#define OPT_PROGRESS	1000
#define PROGRESS_OPTIONS \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "progress", no_argument, NULL, OPT_PROGRESS }

/* "1.5 MiB", "512.0 KiB", "2.0 GiB" into buf. */
const char *human_size(uint64_t bytes, char buf[32]);
struct image;
/* For a summary: " (3 files by reference)", or "" when it references none. */
const char *referenced_files(const struct image *im, char buf[64]);

/*
 * run's PROG: forked, stopped before its exec until we hold it with
 * PTRACE_SEIZE and options, then let go to exec.  In the child first, mask
 * (NULL: ours) and prepare (NULL: nothing; it says why it failed, and the
 * child exits EXIT_INTERNAL).  0 with *pid; -ECHILD when it ended before
 * that (said), its wait status in *ended; else -errno, nothing left.
 */
int start_program(char **argv, const sigset_t *mask, int (*prepare)(void), long options,
		  pid_t *pid, int *ended) MUST_CHECK;

/* From now on, SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to contmig alone go
 * on to pid (thaw's and run's child). */
void forward_signals(pid_t pid);

/* Wait for the child pid (-1: any child) to end and reap it, retrying on
 * EINTR; options may hold WNOHANG.  Its command name, read while it is a
 * zombie, goes to comm ("?" when it cannot be read), escaped (escape_text;
 * 64 bytes hold any).  Returns the PID
 * reaped, 0 (WNOHANG: none has ended) or -errno. */
pid_t wait_child(pid_t pid, int options, int *status, char *comm, size_t commsz);
/* "exited with status 3", "died of signal 11 (SIGSEGV)", for a message. */
const char *wait_status_text(int status, char *buf, size_t size);

/* Parse a decimal PID; 0 when s is not one. */
int parse_pid(const char *s);

/* "123", "64K", "512M", "8G" (powers of 1024) into *v: 0, or -EINVAL. */
int parse_size(const char *s, uint64_t *v);
/* --timeout SECONDS in milliseconds; a usage error unless 1 to 86400. */
int parse_timeout(const char *cmd, const char *s);

/* Report the option getopt_long just rejected (opterr = 0, optstring
 * starting with "+:") and exit with EXIT_USAGE. */
void option_error(const char *cmd, int opt, char **argv) __attribute__((noreturn));

/* "SIGTERM", "SIGRTMIN+3" (sigabbrev_np knows no real-time signal). */
const char *signal_abbrev(int sig, char buf[16]);

#endif
