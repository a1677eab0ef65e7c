/*
 * snapshot: the state of a stopped process, as an image.
 * snapshot_collect reads registers, XSAVE state, signal mask and mappings and
 * decides which pages to store; snapshot_write streams those pages from the
 * process's memory into the image, summing each segment as it goes.
 * Returns 0 or -errno; never prints.
 */
#ifndef CONTMIG_SNAPSHOT_H
#define CONTMIG_SNAPSHOT_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "image.h"
#include "sigstate.h"
#include "stream.h"
#include "tracee.h"

struct fileref_set;

/*
 * t must be stopped under our ptrace.  Mappings of the files taken in refs
 * (NULL: none; fileref.h) are referenced, not stored whole.  The state the
 * kernel keeps for it and shows nobody (sigstate.h) is pre's when it still
 * holds (a helper read it just before), else it is asked of it here with
 * injected calls, which leave it as it was; on failure im->why may say
 * what failed.
 */
int snapshot_collect(struct tracee *t, const struct sigstate_read *pre,
		     struct fileref_set *refs, struct image *im) MUST_CHECK;
/* Write the whole image; *output_failed tells a failed write (disk full, a
 * closed pipe) from a failure to read the process. */
int snapshot_write(pid_t pid, struct image *im, struct stream *out, bool *output_failed) MUST_CHECK;

/* Signals pending in pid (stopped under our ptrace) that came after its image
 * was collected: a malloc'd array of *n (NULL when none), each queue's in
 * order.  SIGKILL and SIGSTOP are among them if pending, whenever they came. */
int snapshot_late_signals(pid_t pid, const struct image *im, struct tracee_signal **late,
			  size_t *n) MUST_CHECK;

#endif
