/*
 * precopy: the rounds of a live send (contmig(1), send --live).  While the
 * process runs, each round is an image of its mappings that stores only
 * what the copy does not hold yet: the first every page a freeze would
 * store, each later one the pages written since the one before (dirty.h),
 * those of mappings new since, and drops for pages the process emptied.
 * The last round is the whole image of the stopped process, turned into
 * such a delta.  A checkpoint is one too, on the checkpoint before it.  Which pages the copy keeps from one image to the next is
 * delta.h's to say, for both sides alike.
 *
 * Only anonymous memory is tracked: a mapping of a file goes again in the
 * last round as a freeze stores it (the pages the process changed, where
 * the receiver has the file; else all).  A process whose memory the kernel
 * writes where no page table sees it (pinned pages: VmPin, an io_uring)
 * at any round has everything stored again in the last.  Functions return
 * 0 or -errno and never print.
 */
#ifndef CONTMIG_PRECOPY_H
#define CONTMIG_PRECOPY_H

#include <stdbool.h>
#include <stdint.h>

#include "dirty.h"
#include "error.h"
#include "image.h"
#include "runs.h"

struct fileref_set;

#define PRECOPY_MAX_ROUNDS	12

struct precopy {
	pid_t pid;
	struct dirty dirty;
	struct fileref_set *refs;	/* the mapped files the receiver has */
	struct image prev;		/* the last image sent: what the copy holds */
	bool have_prev;
	struct runs held;		/* pages of anonymous mappings the copy holds
					 * the process's own bytes of */
	struct runs unread;		/* pages a round could not read: again */
	int pagemap, mem, maps;		/* the process's /proc files, opened on the
					 * memory it had when the send began */
	bool blind;			/* the kernel writes its memory unseen (pinned
					 * pages, io_uring): the last round stores all */
	unsigned rounds;		/* images sent, the last one included */
	uint64_t stored[PRECOPY_MAX_ROUNDS + 1];	/* bytes each stored */
};

/*
 * Start tracking t's process (see dirty_start; -EOPNOTSUPP with why: it
 * cannot be).  refs: the files the receiver has, kept until precopy_end.
 */
int precopy_start(struct precopy *p, const struct tracee *t, int timeout_ms,
		  struct fileref_set *refs, char *why, size_t why_len) MUST_CHECK;
/*
 * The first image (from base, the stopped process's whole image, which
 * precopy takes the state of) or the next round's, of the running process,
 * into out: IMAGE_STATE_LIVE, and DELTA after the first.  Free it with
 * precopy_sent once written.
 */
int precopy_round(struct precopy *p, const struct image *base, struct image *out) MUST_CHECK;
/* out was written: the copy holds it now; unread (taken) is what could not
 * be read of it, for the next round. */
void precopy_sent(struct precopy *p, struct image *out, struct runs *unread);
/* Worth another round?  Not when the last stored little, or not a fifth
 * less than the one before, or the rounds are all used, or they stored
 * three times the first already. */
bool precopy_again(const struct precopy *p);
/* Turn im, the whole image of the process stopped at last, into the final
 * delta (IMAGE_STATE_DELTA without LIVE), laid out again.  -ESRCH: im is
 * not of the memory the send began with (the process exec'd since). */
int precopy_last(struct precopy *p, struct image *im) MUST_CHECK;
/*
 * The same for a checkpoint (contmig(1), run --checkpoint): im, the whole
 * image of the process stopped for it, becomes a delta on the checkpoint
 * before (IMAGE_STATE_DELTA, unless it is the first), complete, and its
 * pages are marked again for the next.  Once im is written,
 * precopy_held(p, im, unread) says the checkpoint holds it (taking im's
 * mappings; image_free the rest).  -ESRCH as precopy_last.
 */
int precopy_checkpoint(struct precopy *p, struct image *im) MUST_CHECK;
void precopy_held(struct precopy *p, struct image *im, struct runs *unread);
/* Forget what the copy holds: the next image is a whole one (a new base,
 * or after one that was not written). */
void precopy_rebase(struct precopy *p);
/* Stop tracking (the source runs unmarked) and free what precopy holds. */
void precopy_end(struct precopy *p);

#endif
