/*
 * reopen: the copy's files (contmig(1), Open files).  In the restorer, which
 * runs as the copy's user, the files an image records (files.h) are opened
 * again by path, never with contmig's own privilege, and each is shown to
 * be the file it was before the copy runs.  Functions return 0 or -errno
 * with a reason in one line, and never print.
 */
#ifndef CONTMIG_REOPEN_H
#define CONTMIG_REOPEN_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "image.h"
#include "remote.h"

/*
 * In the restorer, before its memory comes: is each file at its path still
 * the file it was (its size and time, unless reopen_changed)?  So a changed
 * file refuses the move before the image is taken whole.  0, or -errno
 * with why naming the fd, its path and what differs.
 */
int reopen_precheck(const struct image *im, struct remote *r, bool reopen_changed, char *why,
		    size_t why_len) MUST_CHECK;

/*
 * In the restorer, once it holds no more privilege than its source did:
 * open each file again as the copy's user, put it at its number with its
 * FD_CLOEXEC, seek to its offset, and check in the copy that it is the file
 * it was (and its content, when hashed), unless reopen_changed.  A terminal
 * becomes the first of the copy's fds 0-2 that is one, or /dev/null, which
 * warning (warning_len bytes, appended to) then says.  0, or -errno with
 * why naming the fd, its path and what is wrong.
 */
int reopen_files(const struct image *im, struct remote *r, bool reopen_changed, char *warning,
		 size_t warning_len, char *why, size_t why_len) MUST_CHECK;

#endif
