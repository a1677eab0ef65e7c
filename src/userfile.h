/*
 * userfile: the files contmig writes or reads because a user named them
 * (thaw --stdin, --stdout, --stderr, --output, --pid-file; freeze -o).
 *
 * A receiver often runs as root and is told a name in a directory others
 * may write in (/tmp), so the name may be a trap another user set: a
 * symbolic link or a hard link to /etc/shadow (root would append to it, or
 * hand it to the process it restores), or a file they made first, so as to
 * read what goes into it.  So a file named on the command line:
 *  - is never reached through a symbolic link in its last component
 *    (O_NOFOLLOW; the directories on the way are the user's to choose);
 *  - belongs to the caller or to root (/dev/null, /dev/tty);
 *  - is a regular file with one name, a character device or a FIFO.
 * Functions return 0 or an fd, or -errno with why in words, and never print.
 */
#ifndef CONTMIG_USERFILE_H
#define CONTMIG_USERFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#define USERFILE_WHY	256

/* open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode), then the rules above:
 * an fd, or -errno (-ELOOP: a symbolic link; -EPERM: another user's file,
 * or one with more names; -EINVAL: neither a regular file, a character
 * device nor a FIFO).  A FIFO with no reader is not waited for (-ENXIO). */
int userfile_open(const char *path, int flags, mode_t mode, char why[USERFILE_WHY]) MUST_CHECK;

/* Before a file is made under a temporary name and renamed over path: is
 * what path names now one the caller may replace?  Nothing there, or a
 * regular file of the caller's or root's: 0.  A symbolic link (-ELOOP: the
 * rename would not go where it points), anything but a regular file
 * (-EINVAL: a rename as root would replace /dev/null itself), another
 * user's file (-EPERM). */
int userfile_check_replace(const char *path, char why[USERFILE_WHY]) MUST_CHECK;

#endif
