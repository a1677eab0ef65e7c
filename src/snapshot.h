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
#include "stream.h"
#include "tracee.h"

struct fileref_set;

/* pid must be stopped under our ptrace.  Mappings of the files taken in refs
 * (NULL: none; fileref.h) are referenced, not stored whole. */
int snapshot_collect(pid_t pid, struct fileref_set *refs, struct image *im) MUST_CHECK;
/* Write the whole image; *output_failed tells a failed write (disk full, a
 * closed pipe) from a failure to read the process. */
int snapshot_write(pid_t pid, struct image *im, struct stream *out, bool *output_failed) MUST_CHECK;

/* Signals pending in pid (stopped under our ptrace) that came after its image
 * was collected: a malloc'd array of *n (NULL when none), each queue's in
 * order.  SIGKILL and SIGSTOP are among them if pending, whenever they came. */
int snapshot_late_signals(pid_t pid, const struct image *im, struct tracee_signal **late,
			  size_t *n) MUST_CHECK;

#endif
