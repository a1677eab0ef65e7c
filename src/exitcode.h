/*
 * contmig's exit statuses (contmig(1), EXIT STATUS).
 *
 * They sit in 64..73 (and 75), clear of the small codes a program and its Continuum
 * runtime use (the LEDs 1-4) and of 128+N for a program killed by signal N:
 * a foreground thaw exits with the program's own status, and the two must
 * not be mistaken for each other.
 */
#ifndef CONTMIG_EXITCODE_H
#define CONTMIG_EXITCODE_H

#include "refusal.h"

enum {
	EXIT_OK = 0,		/* done; for check: keeps the contract */
	EXIT_USAGE = 64,	/* bad command line */
	EXIT_CONTRACT = 65,	/* the target breaks the contract (threads, fds, layout) */
	EXIT_NOTARGET = 66,	/* target not found, or no permission to look at it */
	EXIT_IMAGE = 67,	/* image invalid or corrupt */
	EXIT_IO = 68,		/* reading or writing a file or pipe failed */
	EXIT_NETWORK = 69,	/* connection refused, lost or timed out */
	EXIT_AUTH = 70,		/* the peer failed authentication */
	EXIT_RESTORE = 71,	/* the process could not be restored */
	EXIT_UNKNOWN = 72,	/* handoff outcome unknown: look on the receiver */
	EXIT_INTERNAL = 73,	/* out of memory or another unexpected failure */
	/* run --checkpoint: the program was checkpointed and ended here, to
	 * carry on when the same command runs again (sysexits' EX_TEMPFAIL) */
	EXIT_CHECKPOINTED = 75,
};

/* The exit status for a refusal on the wire (channel.h, enum refusal): the
 * protocol keeps its numbers whatever ours become. */
static inline int exit_status_for_refusal(int refusal)
{
	switch (refusal) {
	case REFUSAL_IMAGE:
		return EXIT_IMAGE;
	case REFUSAL_AUTH:
		return EXIT_AUTH;
	case REFUSAL_RESTORE:
		return EXIT_RESTORE;
	case REFUSAL_INTERNAL:
		return EXIT_INTERNAL;
	default:	/* REFUSAL_BUSY, and anything we do not know */
		return EXIT_NETWORK;
	}
}

#endif
