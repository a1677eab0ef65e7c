/*
 * rseq: the restartable-sequences area a process registered with the kernel
 * (glibc does at startup; sched_getcpu reads the CPU number there).  Read
 * from the source with PTRACE_GET_RSEQ_CONFIGURATION; registered again in
 * the copy, once its memory is in place, with the same area, length and
 * signature, and read back the same way.  A kernel too old to tell (before
 * Linux 5.13) gives the image no rseq note.  Return 0 or -errno; never print.
 */
#ifndef CONTMIG_RSEQ_H
#define CONTMIG_RSEQ_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "image.h"
#include "remote.h"

/* pid stopped under our ptrace; q->len stays 0 when it registered none. */
int rseq_collect(pid_t pid, struct image_rseq_rec *q) MUST_CHECK;
int rseq_restore(const struct image *im, struct remote *r, char *why, size_t len) MUST_CHECK;

#endif
