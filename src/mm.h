/*
 * mm: where the kernel keeps the parts of a process (its mm fields: code,
 * data, heap, stack, arguments, environment), its auxiliary vector and the
 * program it runs.  Without them a copy keeps the restorer's: its next brk()
 * would start at the restorer's heap, its /proc/PID/cmdline would be empty.
 *
 * mm_collect reads them from a stopped source (/proc/PID/stat, its maps,
 * /proc/PID/exe); mm_restore gives them to the copy with
 * prctl(PR_SET_MM, PR_SET_MM_MAP), which needs no privilege, and then reads
 * them back.  The exe link too, but only where the kernel lets the copy set
 * it (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE) and only to a file here that
 * is the same program: a regular file of the same size and XXH3-64 of its
 * bytes.  Otherwise /proc/PID/exe keeps naming the restorer
 * (memfd:contmig-stub).  Both return 0 or -errno and never print.
 */
#ifndef CONTMIG_MM_H
#define CONTMIG_MM_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "image.h"
#include "remote.h"

/* im->vmas must be collected already: the heap's end is its [heap]'s. */
int mm_collect(pid_t pid, struct image *im) MUST_CHECK;
/* Once every mapping is in place; why says what failed. */
int mm_restore(const struct image *im, struct remote *r, char *why, size_t len) MUST_CHECK;

#endif
