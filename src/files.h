/*
 * files: what a process has open beyond fds 0-2 (contmig(1), Open files).
 *
 * Regular files and directories are opened again by path, with their open
 * flags, FD_CLOEXEC and offset, once each is shown to be the file it was
 * (size and modification time to the nanosecond; the content's hash for a
 * small readable file); /dev/null and the other memory devices are the
 * receiver's own; a terminal is the receiving side's.  Everything else
 * (pipes, sockets, eventfd and the other kernel objects, deleted files,
 * files of /proc and /sys, other devices) does not move and is named.
 *
 * files_look only looks (check, and the refusal before a freeze);
 * files_collect records a stopped process's files into its image, which the
 * copy opens again (reopen.h).  Functions return 0 or -errno and never
 * print.
 */
#ifndef CONTMIG_FILES_H
#define CONTMIG_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "image.h"

/* One fd beyond 2 and whether it moves. */
struct file_look {
	char *target;			/* what /proc/PID/fd/N names */
	char why[96];			/* why it does not move ("a pipe does not move"),
					 * or "" when it moves */
	struct image_file rec;		/* what moves: fd, kind, open flags, offset, size,
					 * time, device; its path (set when it moves) */
	dev_t dev;			/* the file itself, to find dups of one open file */
	ino_t ino;
};

struct file_looks {
	struct file_look *look;
	size_t count;
};

/* Every fd of pid beyond 2, in order, without disturbing it. */
int files_look(pid_t pid, struct file_looks *out) MUST_CHECK;
void files_looks_free(struct file_looks *l);

/*
 * Record the files of pid (stopped under our ptrace) that move into im
 * (file, nfile, IMAGE_STATE_FILES): which fds share one open file, and the
 * hash of each small file it may read.  What does not move is left out
 * when drop is set, else refused: -EBADMSG with im->why naming it.
 */
int files_collect(pid_t pid, bool drop, struct image *im) MUST_CHECK;

#endif
