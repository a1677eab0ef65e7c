/*
 * clocks: a copy's CLOCK_MONOTONIC and CLOCK_BOOTTIME go on from its
 * source's (contmig(1), TIME).
 *
 * The freeze notes the clocks while the process is stopped: the machine's
 * own (its root time namespace's), the offsets of the source's time
 * namespace, and the boot.  The receiver plans the copy's offsets from
 * that note: on the same boot exactly the source's (none at all, the
 * common case: nothing is made); after another boot, so that the copy's
 * clocks read what the source's did plus the real time since the freeze
 * (by the two machines' CLOCK_REALTIME, assumed synchronized).  The
 * receiver makes the time namespace for its children and forks the
 * restorer into it (remote.h), then checks it is there.  A receiver that may not make one runs
 * the copy on its own clocks, and says so.  CLOCK_REALTIME is always the
 * machine's own.  Functions return 0 or -errno and never print.
 */
#ifndef CONTMIG_CLOCKS_H
#define CONTMIG_CLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "image.h"

/* The clocks note of pid, stopped under our ptrace: always known; offsets
 * that cannot be read are flagged so. */
void clocks_collect(pid_t pid, struct image_clocks *c);

struct clocks_plan {
	bool matters;		/* another boot, or a source in a time namespace:
				 * the copy's clocks are worth a word */
	bool make;		/* a time namespace to make, with these offsets */
	bool lost;		/* the copy runs on this machine's clocks: why says why */
	int64_t monotonic, boottime;	/* the copy's offsets, ns */
	char offsets[128];	/* make: what /proc/self/timens_offsets takes
				 * (remote.h) */
	char why[200];
};

/*
 * What the copy of an image with clocks note c needs, here and now.  A copy
 * that runs as another user than we do (another_user) gets no clocks behind
 * our own: whoever wrote its note would choose the time that set-user-ID
 * programs it runs see (an expired sudo ticket valid again).
 */
void clocks_plan(const struct image_clocks *c, bool another_user, struct clocks_plan *p);
/*
 * After the restorer's first stop: is it in a time namespace of its own
 * with the planned offsets?  Where it is in none (none could be made:
 * spawn_err, the errno), the plan is lost, with why.  -EPROTO (why) for a
 * namespace with other offsets.
 */
int clocks_check(pid_t pid, struct clocks_plan *p, int spawn_err, char *why,
		 size_t len) MUST_CHECK;
/* For a summary line: "clocks continued (+N s)" where that matters and
 * they did; or "". */
void clocks_summary(const struct clocks_plan *p, char *out, size_t len);

/* The machine's boot id (16 bytes), or zeros when it cannot be read. */
void clocks_boot_id(uint8_t id[16]);
/* Can this process make the copy a time namespace (root here)? */
bool clocks_may_continue(void);

#endif
