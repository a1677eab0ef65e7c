/*
 * record: how each migration this node received stands, so that a sender
 * that lost its connection after COMMIT can reconnect and ask (contmig(1),
 * THE HANDOFF), and so that a copy whose receiver died or stalled half-way
 * through the handoff is settled by whoever looks next.  Without it, the
 * sender could only guess, and a guess either loses the process or runs it
 * twice.
 *
 * Files in the state directory, named by the migration's id (32 hex digits):
 *   ID           "pending COPY START RECEIVER RSTART": the receiver RECEIVER
 *                holds the copy COPY stopped, waiting for COMMIT
 *   ID.decision  "committed COPY START wake|stay" or "aborted": made once,
 *                atomically (link(2) of a file written whole), never rewritten:
 *                the first decision made stands, whoever makes it (the
 *                receiver on COMMIT, or a sender's question, or whoever
 *                finds the receiver gone), and no one waits on another
 *   ID.woken     "woken by PID": the committed copy's SIGCONT, claimed
 *                (made before it is sent, by whoever sends it)
 * START is a start time from /proc/PID/stat, so that a PID used again by
 * another process is never mistaken for the copy or the receiver.  Every
 * file is written under a temporary name and renamed, so a full disk or a
 * death half-way leaves no half-written record.  Records go after an hour.
 * Functions return 0 or -errno and never print.
 */
#ifndef CONTMIG_RECORD_H
#define CONTMIG_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

enum record_outcome {
	RECORD_UNKNOWN,		/* no record (on the wire: cannot tell) */
	RECORD_COMMITTED,
	RECORD_ABORTED,
	RECORD_PENDING,		/* not decided yet (never sent on the wire) */
};

/* What a migration's record says. */
struct record_state {
	enum record_outcome outcome;
	pid_t pid;			/* the copy */
	unsigned long long start;	/* its start time, in clock ticks since boot */
	pid_t receiver;			/* the process that holds it, until decided */
	unsigned long long receiver_start;
	bool wake;			/* committed: it is to get a SIGCONT */
	bool woken;			/* ... and its wake is claimed */
	pid_t woken_by;			/* by whom (the claim holds while it lives) */
};

/* $CONTMIG_STATE_DIR, else /run/contmig for root, else
 * $XDG_RUNTIME_DIR/contmig, else /run/user/UID/contmig if that directory is
 * ours, else $XDG_STATE_HOME/contmig or ~/.local/state/contmig (contmig(1),
 * FILES); "" if there is no home either. */
const char *record_dir(void);
/* The name of id's record: 32 hex digits. */
void record_id_name(const uint8_t id[16], char name[33]);
/* Can records be kept: the directory made (with its parents, in the
 * home), ours and mode 0700?  0; -EPERM when it is another user's or its
 * mode is wider (*st says whose, and what mode); -ENOENT, and record_dir()
 * is "", when there is nowhere to keep them; or another -errno. */
struct stat;
int record_check_dir(struct stat *st) MUST_CHECK;
/* The record of a new migration, pending (st: pid, start, receiver,
 * receiver_start). */
int record_create(const uint8_t id[16], const struct record_state *st) MUST_CHECK;
/*
 * Decide (st->outcome RECORD_COMMITTED, with pid, start and wake; or
 * RECORD_ABORTED), unless a decision was made already: 0 when ours stands,
 * -EEXIST when another does (then *stands says which), or -errno.
 */
int record_decide(const uint8_t id[16], const struct record_state *st,
		  struct record_state *stands) MUST_CHECK;
/* Claim the committed copy's wake: 0 if it is ours to send its SIGCONT,
 * -EEXIST if someone claimed it before (it has had it, or is getting it):
 * a copy its user stops later is never woken again. */
int record_claim_wake(const uint8_t id[16]) MUST_CHECK;
/* What the record of id says: RECORD_UNKNOWN when there is none. */
int record_read(const uint8_t id[16], struct record_state *st) MUST_CHECK;
/* Call fn for every record there is; then remove those over an hour old. */
int record_each(void (*fn)(void *ctx, const uint8_t id[16], const struct record_state *st),
		void *ctx) MUST_CHECK;

#endif
