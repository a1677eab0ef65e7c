/*
 * run --checkpoint (contmig(1), Checkpoints): run a program, or resume it
 * from a directory of checkpoints, and checkpoint it there on a signal and
 * every so often.  The command layer: it prints, and returns exit statuses.
 */
#ifndef CONTMIG_RUN_CHECKPOINT_H
#define CONTMIG_RUN_CHECKPOINT_H

#include <stdbool.h>

struct checkpoint_opts {
	const char *dir;
	int every_ms;			/* 0: only on the signal */
	int signal;			/* the one that checkpoints and ends it */
	bool reopen_changed;		/* thaw --reopen-changed, on resume */
	bool drop_fds;			/* freeze --drop-fds, at each checkpoint */
};

/* PROG's status when it ends, EXIT_CHECKPOINTED once it was checkpointed
 * on the signal and ended, or another exit status, said. */
int run_checkpointed(const struct checkpoint_opts *o, char **argv);

#endif
