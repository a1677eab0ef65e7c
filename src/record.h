/*
 * record: how each migration this node received stands, so that a sender
 * that lost its connection after COMMIT can reconnect and ask (contmig(1),
 * THE HANDOFF), and so that a copy whose receiver died half-way through the
 * handoff is settled by whoever looks next.  Without it, the sender could
 * only guess, and a guess either loses the process or runs it twice.
 *
 * One small file per migration in the state directory, named by the
 * migration's id:
 *   pending PID START R RSTART
 *                            the receiver R (started at RSTART) holds its
 *                            copy stopped, waiting for COMMIT
 *   committed PID START W    the copy runs (W "wake": it is held in a group
 *                            stop and is still to get its SIGCONT; "stay":
 *                            it got it, or stays stopped as its source was)
 *   aborted                  no copy runs here
 * START is the copy's start time (/proc/PID/stat), so that a PID used again
 * by another process is never mistaken for the copy.  Whoever decides locks
 * the record first (flock), and the first decision written stands: the
 * receiver commits only a record still pending, and a sender's query finds
 * a pending record aborted (it asks because it lost the connection: the
 * handoff settles it so, and the receiver then discards its copy).
 * Records are removed after an hour.  Functions return 0 or -errno and never
 * print.
 */
#ifndef CONTMIG_RECORD_H
#define CONTMIG_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

enum record_outcome {
	RECORD_UNKNOWN,		/* no record, or one locked for too long */
	RECORD_COMMITTED,
	RECORD_ABORTED,
	RECORD_PENDING,		/* undecided (never sent on the wire) */
};

/* What a record says. */
struct record_state {
	enum record_outcome outcome;
	pid_t pid;			/* the copy, unless aborted */
	unsigned long long start;	/* its start time, in clock ticks since boot */
	bool wake;			/* committed: it is still to be sent SIGCONT */
	pid_t receiver;			/* pending: the process that holds the copy */
	unsigned long long receiver_start;
};

struct record {
	int fd;
};

/* $CONTMIG_STATE_DIR, else /run/contmig for root, else
 * $XDG_RUNTIME_DIR/contmig, else /tmp/contmig-UID. */
const char *record_dir(void);
/* Can records be kept (the directory made, ours, closed to others)? */
int record_check_dir(void) MUST_CHECK;
/* A new record saying pending (RECORD_PENDING, its copy and receiver), open
 * in rec and not locked. */
int record_create(const uint8_t id[16], const struct record_state *pending,
		  struct record *rec) MUST_CHECK;
/* Lock the record, waiting up to timeout_ms, and read what it says now.
 * -EWOULDBLOCK if someone holds it that long. */
int record_lock(struct record *rec, int timeout_ms, struct record_state *st) MUST_CHECK;
/* Write what it says now (locked: the lock stays). */
int record_write(struct record *rec, const struct record_state *st) MUST_CHECK;
/* Let go of the record (and of its lock). */
void record_close(struct record *rec);
/*
 * Open the record of id and lock it, waiting up to timeout_ms while someone
 * holds it: 0 with *st and rec locked (the caller may settle it and
 * record_write), or 0 with st->outcome RECORD_UNKNOWN and rec->fd -1 when
 * there is no record or it stayed locked; -errno on failure.
 */
int record_take(const uint8_t id[16], int timeout_ms, struct record *rec,
		struct record_state *st) MUST_CHECK;
/* Call fn for every record nobody holds now, locked (as record_take gives it). */
int record_each_unheld(void (*fn)(void *ctx, struct record *rec, const struct record_state *st),
		       void *ctx) MUST_CHECK;

#endif
