/*
 * sigstate: what a process does with its signals beyond its mask and what
 * is pending (snapshot.c carries those), on each side of a move (contmig(1),
 * Signals and timers): the action of each signal it catches or ignores, its
 * alternate signal stack, and its interval timers (setitimer(2)).
 *
 * The kernel shows none of them from outside, so freeze asks the source
 * itself, one injected call each, and only what its state needs (inject.h:
 * it comes out as it went in), from a helper process when it can (so that
 * a contmig killed mid-way does not take the process with it), and the
 * restore sets them in the copy the same way, as its last calls
 * before its seccomp filters: the fault that ends the restorer's code resets
 * the action of SIGSEGV, and each of its traps that of SIGTRAP (a forced
 * signal that is blocked loses its action), so no action is set before
 * those.  A timer set there that fires before the copy runs waits, pending,
 * for it: every signal is blocked until its own mask is set.
 *
 * POSIX timers (timer_create(2)) do not move: check, freeze, send and run
 * refuse a process that has any (contract.c, rule "timers").  Functions
 * return 0 or -errno and never print.
 */
#ifndef CONTMIG_SIGSTATE_H
#define CONTMIG_SIGSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "image.h"
#include "inject.h"
#include "tracee.h"

/* The scratch memory the calls below need (inject_begin). */
#define SIGSTATE_SCRATCH	32

/* The signals pid catches and those it ignores (SigCgt: and SigIgn: of
 * /proc/PID/status), bit N-1 for signal N. */
int sigstate_dispositions(pid_t pid, uint64_t *caught, uint64_t *ignored) MUST_CHECK;
/* How many POSIX timers pid has (/proc/PID/timers); -ENOENT when this
 * kernel does not say. */
int sigstate_posix_timers(pid_t pid, unsigned *count) MUST_CHECK;

/*
 * Ask t (seized and stopped for us) for its signal actions, alternate stack
 * and interval timers.  On failure why says what failed; t is left as it
 * was all the same (or, if even that failed, why says so).
 */
int sigstate_collect(struct tracee *t, struct image_sigactions *sa, struct image_timers *tm,
		     char *why, size_t why_len) MUST_CHECK;

/* What a helper read (sigstate_collect_apart), for snapshot_collect. */
struct sigstate_read {
	struct image_sigactions sa;
	struct image_timers tm;
	uint64_t caught, ignored;	/* what /proc said it caught and ignored then */
	/* The call the helper's stop cut short (tracee_saw_call), or -1. */
	long long call_nr;
	unsigned long long call_rip;
};

/*
 * The same, asked by a helper process that seizes the process itself
 * (within timeout_ms; < 0: for ever), asks, puts it back and lets it go,
 * before this one stops it for good: a contmig killed meanwhile (kill -9)
 * leaves the helper to finish, and the process as it was.  The helper
 * ignores the signals a terminal sends.  The process runs for a moment
 * between the two stops: sigstate_still says whether what was read still
 * holds.  0; or -errno with why; *seize_err is tracee_seize's -errno when
 * the helper could not stop it (0 otherwise).
 */
int sigstate_collect_apart(const struct tracee *t, int timeout_ms, struct sigstate_read *out,
			   int *seize_err, char *why, size_t why_len) MUST_CHECK;
/* Does pid still catch and ignore the signals it did when r was read? */
bool sigstate_still(pid_t pid, const struct sigstate_read *r);

/* Does the copy of an image need any of it set? */
bool sigstate_wanted(const struct image_sigactions *sa, const struct image_timers *tm);
/*
 * Set them in the copy, through in (SIGSTATE_SCRATCH bytes borrowed): each
 * action, the alternate stack (read back), then the timers, last.  0, or
 * -errno with why saying which failed.
 */
int sigstate_restore(struct inject *in, const struct image_sigactions *sa,
		     const struct image_timers *tm, char *why, size_t why_len) MUST_CHECK;
/*
 * Once the copy is in its last stop: does /proc say it catches and ignores
 * what the image says?  A SIGSEGV the source ignored is the one action the
 * restorer cannot keep (the fault it ends in resets it): *lost_sigsegv says
 * so, for a warning, and it is not held against the copy.
 */
int sigstate_verify(pid_t pid, const struct image_sigactions *sa, bool *lost_sigsegv,
		    char *why, size_t why_len) MUST_CHECK;

#endif
