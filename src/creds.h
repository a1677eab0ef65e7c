/*
 * creds: who a process runs as, on each side of a move (contmig(1),
 * Credentials).
 *
 * freeze records the source's IDs and their names on its machine
 * (creds_collect); a receiver decides, by one rule for every way in (thaw
 * IMAGE, --listen, --stdio), whom its copy runs as (restore_credentials):
 * never with more privilege than its source had.  Functions return 0 or
 * -errno and never print.
 */
#ifndef CONTMIG_CREDS_H
#define CONTMIG_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "image.h"

/* Who a restored copy runs as: set in its restorer between fork and exec,
 * all resolved beforehand (the child makes system calls only). */
struct creds {
	bool change;		/* false: the copy runs as the receiver does */
	uid_t uid;		/* real, effective and saved alike */
	gid_t gid;
	gid_t *groups;		/* supplementary; malloc'd */
	size_t ngroups;
	uint64_t bounding;	/* the source's bounding set, all ones if unknown:
				 * a copy not run as root can drop no more later */
	char user[IMAGE_MAX_NAME];	/* who that is, for messages (printable) */
	char warning[400];	/* groups dropped, said in one line; or "" */
};

/* The IDs of pid (stopped) and their names here, into out (known set). */
int creds_collect(pid_t pid, struct image_creds *out) MUST_CHECK;

/*
 * Whom the copy of im runs as here: as_user (--as, root only) or else the
 * image's user found by name (a root receiver), or this receiver itself if
 * the image's user is its own (any other).  0 with *out set; -EPERM when
 * the image may not be restored here, or another -errno (a lookup failed):
 * why says so, in one line.  Free out with creds_free.
 */
int restore_credentials(const struct image *im, const char *as_user, struct creds *out,
			char *why, size_t why_len) MUST_CHECK;
void creds_free(struct creds *c);

/*
 * Does pid (the restorer, just exec'd) run as c says: every uid and gid
 * c's, its groups c's, and no capability left unless it is root?  The
 * kernel's rules decide what a change of IDs keeps (securebits, ambient
 * capabilities), so look rather than trust.  0, or -EPERM (why says what
 * differs) or another -errno.  Nothing to check without c or c->change.
 */
int creds_verify(pid_t pid, const struct creds *c, char *why, size_t why_len) MUST_CHECK;

#endif
