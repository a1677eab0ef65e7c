/*
 * delta: between two images of one live send (contmig(1), send --live),
 * what the copy built from the first keeps when the second arrives.  Both
 * sides ask the same question of the same two images: the sender to know
 * which pages it must store again, the receiver to know which it maps anew,
 * so they can never disagree: it looks only at what the images say (no
 * inode: a receiver has none).
 *
 * The copy keeps a page when it lies in a mapping of both images of the
 * same kind: anonymous memory (or a file's pages the image stores, which
 * the copy holds as anonymous memory), wherever it was; the main stack
 * ([stack], which grows down) and a file the image references only
 * unchanged as a whole (the same extent; for a file, the same file at the
 * same offset).  Functions return 0 or -ENOMEM.
 */
#ifndef CONTMIG_DELTA_H
#define CONTMIG_DELTA_H

#include <stddef.h>

#include "error.h"
#include "image.h"
#include "runs.h"

/* The pages of next's mapping i that the copy, built from prev, keeps:
 * appended to out. */
int delta_kept(const struct image *prev, const struct image *next, size_t i, struct runs *out)
	MUST_CHECK;
/* The pages the copy built from prev holds that next does not keep: out is
 * set to them. */
int delta_gone(const struct image *prev, const struct image *next, struct runs *out) MUST_CHECK;

#endif
