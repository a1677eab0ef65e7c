/*
 * timedwait: what a timed wait that a move interrupted becomes in the copy.
 *
 * A stop interrupts a blocking call; the kernel then either runs it again
 * as it was (its timeout is absolute, or updated in the caller's memory, as
 * select, pselect6 and ppoll do) or, for -ERESTART_RESTARTBLOCK, keeps the
 * time left in the old kernel's restart block, which cannot travel.  Of
 * those calls, nanosleep and a relative clock_nanosleep also write what is
 * left into the caller's rem when it gave one: the copy sleeps for that.
 * For the others (no rem, a poll or FUTEX_WAIT with a timeout) only the old
 * kernel knew: freeze lets such a wait end before it takes the process
 * (tracee_finish_call), and a copy still in one returns 0 (slept, timed
 * out, woken), never waiting longer in all than the program asked.
 * contmig(1), TIME, says what a moved program sees for each call.
 */
#ifndef CONTMIG_TIMEDWAIT_H
#define CONTMIG_TIMEDWAIT_H

#include <stdbool.h>
#include <sys/user.h>

/* How long freeze lets such a wait run on to its end, at most. */
#define TIMED_WAIT_FINISH_MS	1000

enum timed_wait {
	TIMED_WAIT_NONE,	/* runs again as it was: no time lost, or none to lose */
	TIMED_WAIT_KEPT,	/* a relative sleep whose rem holds what is left */
	TIMED_WAIT_LOST,	/* a relative timeout only the old kernel knew */
};

/* Call nr with the arguments in regs, stopped with -ERESTART_RESTARTBLOCK. */
enum timed_wait timed_wait_kind(long long nr, const struct user_regs_struct *regs);

/*
 * The call a process blocked in restart_syscall goes on with, as far as
 * what the kernel shows tells (a copy starts its sleep in one, and so does
 * a process a stop cut short before): wchan, the kernel function it sleeps
 * in (/proc/PID/wchan), names a poll or a futex wait; otherwise it is a
 * sleep, nanosleep or clock_nanosleep by its first argument (a clock, not
 * an address).  -1 when it cannot tell (it was running).  A wrong guess
 * costs no more than a lost wait (TIMED_WAIT_LOST): its rem is not one.
 */
long long timed_wait_restarted(const char *wchan, unsigned long long arg1);

/*
 * The registers a copy goes on with, for a process stopped inside a call
 * (orig_rax, rax: its restart code).  Only a call the old kernel would have
 * restarted from its restart block changes:
 * - a sleep whose rem holds what is left goes on from the copy's own
 *   restart block, which remote_cut_short made (cut_short: that call's
 *   result, -ERESTART_RESTARTBLOCK; 0: no time was left, the sleep is done),
 *   its registers untouched;
 * - a lost one (or one that could not be armed, or restart_syscall itself,
 *   whose call stayed behind) returns 0, or EINTR when a signal's handler
 *   runs first (handler_first), as a signal would have cut it short;
 * - the others run again as they were (-ERESTARTNOHAND).
 */
void timed_wait_resume_regs(struct user_regs_struct *regs, long cut_short, bool handler_first);

#endif
