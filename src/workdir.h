/*
 * workdir: where a process works, on each side of a move (contmig(1),
 * Working directory): its current directory, by path, and its umask.
 *
 * A program that opens "out.txt" after the move must find the directory it
 * had, not the receiver's: the copy changes to the same path, with its own
 * user's permission (it runs as the image's user), and a receiver without
 * that directory refuses the copy before it runs.  A process under chroot
 * does not move: its paths mean nothing outside its root.  Functions return
 * 0 or -errno and never print.
 */
#ifndef CONTMIG_WORKDIR_H
#define CONTMIG_WORKDIR_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "image.h"
#include "remote.h"

/*
 * Why pid cannot keep its working directory in a copy, in one line into
 * why: it lives under chroot, or its directory was removed.  0 when it can;
 * -EBADMSG when it cannot; another -errno when /proc cannot say.
 */
int workdir_refusal(pid_t pid, char *why, size_t why_len) MUST_CHECK;
/* Its directory and umask, into out (known set). */
int workdir_collect(pid_t pid, struct image_workdir *out) MUST_CHECK;
/* Change the process under construction to im's directory and umask, and
 * look that it is there: -errno with why saying which directory, and why. */
int workdir_restore(struct remote *r, const struct image_workdir *wd, char *why,
		    size_t why_len) MUST_CHECK;

#endif
