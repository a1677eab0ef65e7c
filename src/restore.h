/*
 * restore: build a process from an image, inside the restore stub.
 *
 * restore_build takes an image whose head has been read and validated, and the
 * stream standing at its segment data.  It spawns the stub, clears it out,
 * maps every region at its original address (MAP_FIXED_NOREPLACE), fills the
 * stored pages as they arrive, checks every sum and the canary, sets the
 * original protections, signal mask, XSAVE state and registers, and removes
 * the stub.  The process is left stopped under ptrace, its registers final:
 * detach it to let it run, or remote_kill it.
 */
#ifndef CONTMIG_RESTORE_H
#define CONTMIG_RESTORE_H

#include <stdbool.h>

#include "error.h"
#include "image.h"
#include "remote.h"
#include "stream.h"

/* Why a restore failed, for the command layer's message and exit status. */
enum restore_failure {
	RESTORE_OK,
	RESTORE_BAD_IMAGE,	/* data truncated, a sum or the canary wrong */
	RESTORE_CANNOT,		/* this machine cannot host it (CPU, address clash, ...) */
	RESTORE_INPUT,		/* reading the image failed */
};

struct restore_result {
	enum restore_failure failure;
	char why[256];
	char warning[900];	/* after a restore: what the copy has less of, or "" */
	char clocks[64];	/* for the summary line: "clocks continued (+N s)" where
				 * that is worth saying (clocks.h), or "" */
};

/* Checks that need no process: can this machine host the image at all? */
int restore_preflight(const struct image *im, struct restore_result *res) MUST_CHECK;
int restore_build(struct image *im, struct stream *in, struct remote *r,
		  struct restore_result *res) MUST_CHECK;
/*
 * The same in steps, for a live send's images (contmig(1), send --live):
 * restore_begin takes the first (its pages as restore_build takes them) and
 * leaves the process half-built; restore_update brings it from image prev
 * to next, a round or the last one (delta.h: it unmaps what next does not
 * keep, maps what is new, empties next's drops, then fills next's pages);
 * restore_finish does the rest once the last is in.  On failure each kills
 * the process.
 */
int restore_begin(struct image *im, struct stream *in, struct remote *r,
		  struct restore_result *res) MUST_CHECK;
int restore_update(struct image *next, const struct image *prev, struct stream *in,
		   struct remote *r, struct restore_result *res) MUST_CHECK;
int restore_finish(struct image *im, struct remote *r, struct restore_result *res) MUST_CHECK;
/*
 * Let the built process run: detach from it.  It is left stopped (SIGSTOP;
 * kill -CONT resumes it) if the image says the source was stopped, or if a
 * SIGSTOP reached the restorer and no SIGCONT after it; a signal that
 * reached the restorer too late to be queued is delivered as it goes.
 */
/* For a handoff: hold the restored copy in a group stop (as SIGSTOP would),
 * which outlasts our ptrace; *wake says whether it is to run once let go
 * (not if its source was stopped, or a SIGSTOP meant for it came). */
int restore_hold(struct remote *r, const struct image *im, bool *wake) MUST_CHECK;
int restore_release(struct remote *r, const struct image *im) MUST_CHECK;

#endif
