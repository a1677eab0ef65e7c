/*
 * migrate: the sender's engine.  Freeze a process straight into a route's
 * connection and hand it over (handoff.h): contmig send for a process it
 * seizes, contmig run for the one it supervises, stopped at its sys_migrate.
 * Says what fails; returns an exit status.
 */
#ifndef CONTMIG_MIGRATE_H
#define CONTMIG_MIGRATE_H

#include <sys/types.h>

#include "route.h"

/*
 * Move pid along r.  flags: TARGET_* (target.h); with TARGET_ATTACHED it is
 * stopped under our ptrace already, and stays so unless it moved.  EXIT_OK:
 * it runs there as *moved_to and is gone here.  EXIT_UNKNOWN: it is left
 * stopped and untraced.  Otherwise it carries on as it was.
 */
int migrate_process(struct route *r, int pid, unsigned flags, pid_t *moved_to);

/* A flag of migrate_process beside TARGET_*: send the pages in rounds while
 * the process runs first (precopy.h), where the receiver and the kernel can. */
#define MIGRATE_LIVE	0x100

#endif
