/*
 * record: how each migration this node received ended, so that a sender that
 * lost its connection after COMMIT can reconnect and ask (contmig(1), THE
 * HANDOFF).  Without it, the sender could only guess, and a guess either
 * loses the process or runs it twice.
 *
 * One small file per migration in the state directory, named by the
 * migration's id: "pending" while the receiver holds its copy stopped (and
 * an exclusive lock on the file), then "committed PID" or "aborted".  A
 * pending record nobody locks belonged to a receiver that died, and its copy
 * died with it (PTRACE_O_EXITKILL).  Records are removed after an hour.
 * Functions return 0 or -errno and never print.
 */
#ifndef CONTMIG_RECORD_H
#define CONTMIG_RECORD_H

#include <stdint.h>
#include <sys/types.h>

#include "error.h"

enum record_outcome {
	RECORD_UNKNOWN,		/* no record, or still pending */
	RECORD_COMMITTED,
	RECORD_ABORTED,
};

struct record {
	int fd;
};

/* $CONTMIG_STATE_DIR, else /run/contmig for root, else
 * $XDG_RUNTIME_DIR/contmig, else /tmp/contmig-UID. */
const char *record_dir(void);
/* Can records be kept (the directory made, ours, closed to others)? */
int record_check_dir(void) MUST_CHECK;
/* A new pending record, locked. */
int record_create(const uint8_t id[16], struct record *rec) MUST_CHECK;
/* Write the outcome (the record stays locked). */
int record_write(struct record *rec, enum record_outcome outcome, pid_t pid) MUST_CHECK;
/* Let go of the record: what it says is final. */
void record_close(struct record *rec);
/* Read a record, waiting up to timeout_ms while it is pending. */
int record_lookup(const uint8_t id[16], int timeout_ms, enum record_outcome *outcome,
		  pid_t *pid) MUST_CHECK;

#endif
