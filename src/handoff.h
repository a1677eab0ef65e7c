/*
 * handoff: the exactly-once protocol between a sender and a receiver, both
 * sides, its messages and its records (contmig(1), THE HANDOFF).
 *
 *   sender                               receiver
 *   (guardian forked)
 *   DATA ... END                   --->  restore; hold the copy in a group
 *                                        stop; record "pending"
 *                                  <---  READY pid
 *   SIGNAL ...                     --->  signals that came for the source
 *                                        meanwhile, queued to the copy
 *   arm: a SIGSTOP queued to the
 *   source (the guardian told first)
 *   SIGNAL ...                     --->  (those that came meanwhile)
 *   COMMIT                         --->  let the copy out of ptrace; decide
 *                                        "committed"; wake it
 *                                  <---  DONE pid
 *   end the source
 *
 * A migration's decision is a file made once (record.h): the first decision
 * made stands, whoever makes it, and nobody waits on anybody.  Neither
 * side's death or stall loses the process or runs it twice:
 * - The source never dies with the sender.  From the arming on it has a
 *   SIGSTOP queued: if the sender dies, the kernel lets it go and it stops,
 *   untraced, and the sender's guardian (a process of its own that outlives
 *   the sender) asks the receiver, then ends it (committed) or lets it carry
 *   on (aborted); if nobody can tell, it stays stopped.
 * - The copy dies with its receiver only until it leaves ptrace, just
 *   before the receiver decides; from then on its group stop alone holds
 *   it, and whoever looks next (a sender's question, the listener) settles
 *   it by the decision: "committed" wakes it; none yet, and the receiver
 *   gone (or a sender asking), makes it "aborted" first, then kills it.
 * - An answer that is not one of the known outcomes is unknown: the source
 *   stays stopped, never resumed on a guess.
 */
#ifndef CONTMIG_HANDOFF_H
#define CONTMIG_HANDOFF_H

#include <stdbool.h>
#include <time.h>
#include <stdint.h>
#include <sys/types.h>

#include "channel.h"
#include "image.h"
#include "record.h"
#include "remote.h"
#include "route.h"

/* ---- sender ------------------------------------------------------------ */

/* The process being moved, stopped under our ptrace. */
struct handoff_source {
	const char *cmd;	/* "send" or "run", for messages */
	pid_t pid;
	int pidfd;
	bool supervised;	/* contmig run's: it stays traced when it carries on */
	bool was_stopped;	/* in a group stop before we came: it stays stopped */
	/* Its image, as sent: signals pending beyond those it holds came later. */
	const struct image *image;
	struct timespec done_at;	/* when DONE came: its copy runs (set by handoff_send) */
};

/* A process of its own that outlives the sender and settles the source if
 * the sender dies once the source is armed (handoff_send). */
struct handoff_guardian {
	pid_t pid;
	int fd;			/* to it: 'W' was stopped, 'A' armed, 'U' take over,
				 * 'S' settled; -1 once dismissed */
};

/* Start the guardian of the migration id along r, before the source stops
 * (a fork is no part of the pause).  0 or -errno. */
int handoff_guard(struct handoff_guardian *g, struct route *r,
		  const uint8_t id[CHANNEL_ID_BYTES], const struct handoff_source *src) MUST_CHECK;
/* Nothing for it to do (the migration ended before READY, or is settled). */
void handoff_unguard(struct handoff_guardian *g);

/*
 * The receiver said READY: hand the source over (COMMIT, DONE) and settle it,
 * whatever happens to the connection.  Says what fails; an exit status:
 * EXIT_OK (the copy runs there as new_pid and the source has ended),
 * EXIT_UNKNOWN (the source is left stopped and untraced), or another (the
 * source carries on as before: untraced, or still traced if supervised).
 * The connection is closed on return.
 */
int handoff_send(struct route *r, struct channel *ch, struct handoff_source *src,
		 struct handoff_guardian *g, pid_t new_pid);

/* The outcome in a MSG_OUTCOME answer; anything unexpected is unknown. */
enum record_outcome handoff_decode_outcome(const uint8_t answer[CHANNEL_OUTCOME_BYTES],
					   pid_t *pid);

/* ---- receiver ---------------------------------------------------------- */

enum handoff_end {
	HANDOFF_RUNNING,	/* committed: the copy runs (or stays stopped, as its source was) */
	HANDOFF_DISCARDED,	/* no COMMIT came: the copy is gone */
	HANDOFF_FAILED,		/* this side failed: the copy is gone, the sender told */
};

struct handoff_receipt {
	enum handoff_end end;
	bool done_sent;
	int signals;		/* late signals queued to the copy */
	char why[256];
};

/* READY, COMMIT, DONE for the copy r holds (in a group stop, restore_hold);
 * wake: it runs once committed (its source was not stopped). */
void handoff_receive(struct channel *ch, struct remote *r, bool wake,
		     struct handoff_receipt *res);
/* Answer a sender's query about migration ch->id, settling it first if its
 * receiver is gone.  *outcome says what was answered. */
int handoff_answer_query(struct channel *ch, enum record_outcome *outcome) MUST_CHECK;
/* Settle every migration whose receiver died mid-handoff (the listener calls
 * this when it starts and when a worker ends). */
void handoff_settle_all(void);

#endif
