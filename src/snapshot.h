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
#include "runs.h"
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
 * what failed.  Without pages, the image has mappings and no segments.
 */
int snapshot_collect(struct tracee *t, const struct sigstate_read *pre,
		     struct fileref_set *refs, bool pages, struct image *im) MUST_CHECK;
/* Write the whole image; *output_failed tells a failed write (disk full, a
 * closed pipe) from a failure to read the process. */
int snapshot_write(pid_t pid, struct image *im, struct stream *out, bool *output_failed) MUST_CHECK;
/* The same from a process that runs (a round of a live send), through
 * mem_fd, its /proc/PID/mem opened before (so only the memory it had then
 * is read, whatever it runs since): a page it unmapped meanwhile is written
 * as zeros and added to unread, to be read again in the next round.
 * Without unread (mem_fd -1) it is snapshot_write. */
int snapshot_write_running(pid_t pid, int mem_fd, struct image *im, struct stream *out,
			   bool *output_failed, struct runs *unread) MUST_CHECK;

/*
 * The pages of [start, end) of mapping v that a freeze stores, appended to
 * out (pagemap and mem: the process's /proc files, open): present pages,
 * every page within the file of a file mapping, only those the process
 * changed of one whose file is referenced.  And the segments of im for such
 * runs of v (cap: im->seg's capacity).
 */
int snapshot_stored_pages(int pagemap, int mem, const struct vma *v, uint64_t start,
			  uint64_t end, bool referenced, struct runs *out) MUST_CHECK;
/* Only the mappings of pid (running or not), from maps_fd (its
 * /proc/PID/maps opened before: the memory it had then), into im's vmas
 * and refs, none of its pages: a round of a live send plans those itself. */
int snapshot_read_mappings(pid_t pid, int maps_fd, struct fileref_set *refs, struct image *im)
	MUST_CHECK;
int snapshot_add_segments(struct image *im, size_t *cap, const struct vma *v,
			  const struct runs *stored) MUST_CHECK;

/* Signals pending in pid (stopped under our ptrace) that came after its image
 * was collected: a malloc'd array of *n (NULL when none), each queue's in
 * order.  SIGKILL and SIGSTOP are among them if pending, whenever they came. */
int snapshot_late_signals(pid_t pid, const struct image *im, struct tracee_signal **late,
			  size_t *n) MUST_CHECK;

#endif
