/*
 * restrictions: a process's restrictions, which travel with it (contmig(1),
 * Restrictions): its capability sets, no_new_privs, personality and
 * resource limits.  freeze records them (restrictions_collect); the restorer
 * takes them on before the copy runs (restrictions_impose), and then shows that
 * it holds nothing more than its source did (restrictions_verify).  The LSM label
 * is recorded and named, not carried.  Functions return 0 or -errno and
 * never print.
 */
#ifndef CONTMIG_RESTRICTIONS_H
#define CONTMIG_RESTRICTIONS_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "image.h"
#include "remote.h"

/* The restrictions of pid (stopped, traced by us) into out (known set). */
int restrictions_collect(pid_t pid, struct image_limits *out) MUST_CHECK;
/* What a copy could not be shown to keep (a user namespace's capabilities,
 * a root process relying on securebits): -EBADMSG with why, or 0. */
int restrictions_refusal(pid_t pid, const struct image_limits *l, uid_t uid, char *why,
			 size_t len) MUST_CHECK;

/* pid's LSM label (/proc/PID/attr/current) into label, "" when it has none
 * or is "unconfined"; 0 or -errno. */
int restrictions_label(pid_t pid, char label[IMAGE_MAX_LABEL]) MUST_CHECK;

/*
 * Give the restorer r the restrictions l records, by its own system calls
 * (and prlimit from here): resource limits, personality, capabilities
 * (bounding set, ambient, then capset), no_new_privs.  A restorer without
 * the privilege to give what the source had gives less: warning says what
 * in one line ("" if nothing).  0, or -errno with why: a restriction the
 * copy could not take.  Nothing to do when l is not known.
 */
int restrictions_impose(const struct image_limits *l, struct remote *r, char *warning,
		  size_t warning_len, char *why, size_t why_len) MUST_CHECK;

/* Does pid hold no capability, limit or privilege beyond l's?  0, -EPERM
 * with why saying what is more, or another -errno. */
int restrictions_verify(pid_t pid, const struct image_limits *l, char *why, size_t why_len) MUST_CHECK;

/* The name of resource limit res (< IMAGE_MAX_RLIMITS), prlimit(1)'s. */
const char *restrictions_rlimit_name(int res);

/* Capability names ("sys_admin ...", setpriv's), of caps, into buf. */
const char *restrictions_cap_names(uint64_t caps, char *buf, size_t len);

#endif
