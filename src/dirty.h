/*
 * dirty: which pages of a running process were written since the last look
 * (contmig(1), send --live).
 *
 * Userfaultfd write-protection in asynchronous mode (UFFD_FEATURE_WP_ASYNC,
 * Linux 6.7) marks the pages; the PAGEMAP_SCAN ioctl of /proc/PID/pagemap
 * reports those written since they were marked and marks them again, in one
 * call, while the process runs: a write a moment later shows at the next
 * look, never lost between the two.
 *
 * A userfaultfd belongs to the memory of the process that creates it, so a
 * helper process makes one inside the source with one injected call, takes
 * it with pidfd_getfd and closes the source's at once: the source holds no
 * new fd, and when ours closes (dirty_stop, or contmig's death) the kernel
 * drops every mark and the source runs at full speed again.
 *
 * Before Linux 6.7, soft-dirty bits serve where the kernel keeps them: each
 * round stops the process a moment to read them all and clear them
 * (dirty_round).  Functions return 0 or -errno and never print.
 */
#ifndef CONTMIG_DIRTY_H
#define CONTMIG_DIRTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "runs.h"
#include "tracee.h"

struct dirty {
	pid_t pid;
	int uffd;			/* -1: not tracking with a userfaultfd */
	int pagemap;			/* /proc/PID/pagemap */
	/* Where the kernel has soft-dirty bits instead (CONFIG_MEM_SOFT_DIRTY,
	 * and no asynchronous write-protection): each round reads them all at
	 * once with the process stopped a moment, then clears them. */
	bool soft_dirty;
	struct tracee t;		/* to stop it: pid and pidfd (not ours) */
	struct runs sd_written, sd_own;	/* what that round read */
};

/*
 * Start tracking t's process (not stopped by us: a helper stops it for a
 * moment, within timeout_ms; or seized and stopped by us already, its
 * pidfd open: asked here), with a userfaultfd, or failing that with
 * soft-dirty bits.  -EOPNOTSUPP with why when this kernel or this
 * process cannot be tracked (no asynchronous write-protection, userfaultfd
 * refused, seccomp in the way): a plain send is what is left.
 * CONTMIG_TEST_DIRTY=none pretends so, for the tests; =soft-dirty takes
 * soft-dirty bits even where a userfaultfd would serve.
 */
int dirty_start(struct dirty *d, const struct tracee *t, int timeout_ms, char *why,
		size_t why_len) MUST_CHECK;
/*
 * Before a round's scans: with soft-dirty bits, stop the process a moment
 * (unless stopped, for the last round), read every page's bits and clear
 * them; the round's scans answer from what was read.  Nothing to do with a
 * userfaultfd.
 */
int dirty_round(struct dirty *d, bool stopped) MUST_CHECK;
/* Track the mapping at [start, end): its pages read as written until the
 * first scan marks them.  Again is harmless.  -EINVAL or -EBUSY: a mapping
 * that cannot be tracked (someone else's userfaultfd, a special mapping). */
int dirty_track(struct dirty *d, uint64_t start, uint64_t end) MUST_CHECK;
/*
 * The pages of [start, end), anonymous memory, written since the last scan
 * and holding something (present, or swapped out), appended to written and
 * marked again.  A page dropped and not touched since (MADV_DONTNEED) is
 * not among them: dirty_own says which pages hold something.  -EPERM: part
 * of the range is not tracked (a mapping made there since dirty_track).
 */
int dirty_scan(struct dirty *d, uint64_t start, uint64_t end, struct runs *written) MUST_CHECK;
/* The last look, the process stopped, at [start, end) of anonymous memory:
 * in one walk, the pages written since the last scan (appended to written)
 * and those that hold something (to own); nothing is marked.  -EPERM as
 * dirty_scan. */
int dirty_last(struct dirty *d, uint64_t start, uint64_t end, struct runs *written,
	       struct runs *own) MUST_CHECK;
/* The pages of [start, end), anonymous memory, that hold something (present
 * or swapped out), appended to out; nothing is marked. */
int dirty_own(struct dirty *d, uint64_t start, uint64_t end, struct runs *out) MUST_CHECK;
/* Stop tracking: the source runs unmarked. */
void dirty_stop(struct dirty *d);

#endif
