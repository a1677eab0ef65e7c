/*
 * compact: a chain of checkpoints (checkpoint.h) merged into one whole
 * image, from the images alone, while the program runs on.
 *
 * Every image of the chain is read whole first and its sums checked.  Then
 * which bytes the copy would hold after the last one is worked out as a
 * resume would build it, page range by page range (delta.h says what each
 * image keeps of the one before; its drops and its segments do the rest),
 * and the merged image is written with the last one's state and mappings,
 * its pages copied from the images that hold them.  It is published as a
 * base numbered as the last checkpoint (the same process, so the deltas
 * after it apply to it alike), read back first, and only then are the
 * chain's files removed.
 */
#ifndef CONTMIG_COMPACT_H
#define CONTMIG_COMPACT_H

#include <stddef.h>

#include "checkpoint.h"

/* Merge l->file[from..upto] of DIR; 0, or -errno with why. */
int compact_chain(struct checkpoint_dir *d, const struct checkpoint_list *l, size_t from,
		  size_t upto, char *why, size_t why_len) MUST_CHECK;

#endif
