/*
 * target: the command layer's handling of the process that freeze or send
 * moves: check that it can move, stop it under ptrace, end it.  These print
 * their own messages (prefixed with the command's name) and return exit
 * statuses (exitcode.h).
 */
#ifndef CONTMIG_TARGET_H
#define CONTMIG_TARGET_H

#include <stdbool.h>

#include "image.h"

/* How strict the checks are, and where we stand. */
enum {
	TARGET_DROP_FDS = 1,		/* files open beyond 0-2 are dropped, not refused */
	TARGET_ATTACHED = 2,		/* we are its tracer already */
	TARGET_SELF_MOVE = 4,		/* it moves itself (run): the refusal's advice
					 * speaks of sys_migrate */
	TARGET_NO_PAGES = 8,		/* capture its mappings, not which pages to
					 * store (a live send's last round plans those) */
};

/* How long target_attach waits for a process to stop, unless told. */
#define TARGET_DEFAULT_TIMEOUT_MS	30000

/* The first look: take a pidfd, so that a PID reused later (a slow connect
 * before the freeze) is never stopped by mistake.  target_capture does it
 * if nobody did before. */
int target_open(const char *cmd, int pid);
/* How long target_attach waits for the process to stop (< 0: for ever). */
void target_set_timeout(int timeout_ms);
/* The tracee layer's handle on a process held here (NULL if none), for the
 * handoff: exit-kill, pending signals. */
struct tracee *target_tracee(int pid);

/* Refuse, before it stops, whatever `contmig check PID` says breaks the
 * contract (but files beyond 0-2 with TARGET_DROP_FDS, and our own trace
 * with TARGET_ATTACHED).  flags: TARGET_*. */
int target_preflight(const char *cmd, int pid, unsigned flags);
/* Seize and stop it within the timeout, explaining the usual reasons it
 * cannot be done; one that never stops is left running. */
int target_attach(const char *cmd, int pid);
/* Stop it (unless TARGET_ATTACHED: it is stopped under our ptrace already),
 * check it again (threads or files may have come since the first check) and
 * read its state into im.  EXIT_OK leaves it stopped under our ptrace;
 * anything else has let it go untouched (or, attached, left it stopped),
 * im freed. */
struct fileref_set;
/* refs: the files its image references rather than stores (NULL: none). */
int target_capture(const char *cmd, int pid, unsigned flags, struct fileref_set *refs,
		   struct image *im);
/* Kill the stopped process (through its pidfd) and wait until it is gone. */
int target_end(const char *cmd, int pid);
/* Let go: it carries on where it stopped, or stays stopped if it was
 * stopped (SIGSTOP, ^Z) before we came. */
int target_release(const char *cmd, int pid);
/* Let it run on, untraced, but keep looking at it through the pidfd: a
 * later target_capture stops the same process. */
int target_let_run(const char *cmd, int pid);
/* Let go, leaving it stopped (SIGSTOP). */
int target_keep_stopped(const char *cmd, int pid);

#endif
