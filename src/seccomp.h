/*
 * seccomp: a process's seccomp mode and filters travel with it (contmig(1),
 * Seccomp).  The freeze reads them from the stopped source (which takes
 * CAP_SYS_ADMIN), the restore installs them in the copy as its last step
 * before its registers.  Functions return 0 or -errno and never print.
 */
#ifndef CONTMIG_SECCOMP_H
#define CONTMIG_SECCOMP_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "image.h"
#include "inject.h"

/* The Seccomp:, Seccomp_filters: and NoNewPrivs: lines of /proc/PID/status. */
struct seccomp_status {
	int mode;			/* 0 none, 1 strict, 2 filter */
	unsigned filters;
	bool no_new_privs;
};

int seccomp_read_status(pid_t pid, struct seccomp_status *st) MUST_CHECK;
/* May we read another process's filters (CAP_SYS_ADMIN)? */
bool seccomp_may_read_filters(void);

/* The filter contmig run puts in its program (trap sys_migrate): contmig's,
 * not the program's, so never carried. */
const struct sock_fprog *seccomp_run_prog(void);

/*
 * The seccomp state of pid (stopped under our ptrace) into sc, oldest filter
 * first, contmig run's own left out.  -EPERM when its filters cannot be read
 * (why says so); a filter no image can carry is left to image_check.
 */
int seccomp_collect(pid_t pid, struct image_seccomp *sc, char *why, size_t why_len) MUST_CHECK;

/*
 * Install im's seccomp state in the copy (its restorer's code gone): each
 * call runs through in (inject.h) at a syscall instruction of the program's
 * own code, its data below the stack pointer, signals blocked.  The
 * registers are left to the caller to set.  0, or -errno with why saying
 * what failed.
 */
int seccomp_install(struct inject *in, const struct image *im, char *why, size_t why_len)
	MUST_CHECK;

#endif
