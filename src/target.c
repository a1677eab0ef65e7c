#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>

#include "contract.h"
#include "error.h"
#include "exitcode.h"
#include "ptrace.h"
#include "snapshot.h"
#include "target.h"

/* The rules about the program itself rather than its present state. */
static bool binary_rule(const char *check)
{
	static const char *const rules[] = { "elf", "type", "static", "text", "stack-free",
					     "stack" };

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (!strcmp(check, rules[i]))
			return true;
	return false;
}

/*
 * Whatever `contmig check PID` says breaks the contract is refused here,
 * before the process stops even for a moment: freezing it would end a
 * process whose copy thaw then refuses, or one that crashes as soon as it
 * runs (an ordinary program jumps into the vDSO it had, or grows its heap
 * past what was carried).  Two exceptions, both asked for: files beyond
 * 0-2 with --drop-fds, and the tracer that is us.
 */
int target_preflight(const char *cmd, int pid, unsigned flags)
{
	bool drop_fds = flags & TARGET_DROP_FDS, attached = flags & TARGET_ATTACHED;
	bool self = flags & TARGET_SELF_MOVE;
	const struct contract_item *first = NULL;
	struct contract_report r;
	int err = contract_check_pid(pid, &r);
	char rest[96] = "";
	unsigned more = 0;

	if (err == -ESRCH) {
		error_msg("%s PID %d: no such process", cmd, pid);
		return EXIT_NOTARGET;
	}
	if (err) {
		errno_msg(-err, "%s PID %d: %s", cmd, pid, r.where);
		return EXIT_NOTARGET;
	}
	for (size_t i = 0; i < r.count; i++) {
		const struct contract_item *it = &r.item[i];

		if (it->ok || (drop_fds && !strcmp(it->check, "fds")) ||
		    (attached && !strcmp(it->check, "tracer")))
			continue;
		/* No fixed stack says "not a Continuum program" best: it
		 * goes first, whatever the binary rules add. */
		if (first)
			more++;
		if (!first || !strcmp(it->check, "stack"))
			first = it;
	}
	if (!first)
		return EXIT_OK;
	if (more)
		snprintf(rest, sizeof(rest), "; %u more rule%s broken ('contmig check %d' lists "
			 "them)", more, more == 1 ? "" : "s", pid);
	error_msg("%s PID %d (%s): %s%s%s%s", cmd, pid, r.name,
		  binary_rule(first->check) ? "not a Continuum program (ordinary programs do "
		  "not move yet): " : "", first->detail,
		  strcmp(first->check, "fds") ? "" : self ? "; close them before sys_migrate" :
		  "; close them first, or use --drop-fds", rest);
	return EXIT_CONTRACT;
}

int target_attach(const char *cmd, int pid)
{
	int err = ptrace_seize_stop(pid);

	if (!err)
		return EXIT_OK;
	if (err == -ESRCH) {
		error_msg("%s PID %d: no such process", cmd, pid);
	} else if (err == -EPERM) {
		errno_msg(EPERM, "%s: cannot attach to PID %d (another user's process, already "
			  "traced, or ptrace restricted by Yama's ptrace_scope or a container)", cmd, pid);
	} else {
		errno_msg(-err, "%s: cannot attach to PID %d", cmd, pid);
	}
	return EXIT_NOTARGET;
}

int target_capture(const char *cmd, int pid, unsigned flags, struct image *im)
{
	bool attached = flags & TARGET_ATTACHED;
	int status = attached ? EXIT_OK : target_attach(cmd, pid), err;

	memset(im, 0, sizeof(*im));
	if (status != EXIT_OK)
		return status;
	status = target_preflight(cmd, pid, flags | TARGET_ATTACHED);
	if (status == EXIT_OK && (err = snapshot_collect(pid, im))) {
		errno_msg(-err, "%s: reading the state of PID %d", cmd, pid);
		status = EXIT_INTERNAL;
	}
	if (status != EXIT_OK) {
		image_free(im);
		if (!attached)
			target_release(cmd, pid);
	}
	return status;
}

int target_end(const char *cmd, int pid)
{
	int status;

	if (kill(pid, SIGKILL) < 0) {
		errno_msg(errno, "%s: ending PID %d", cmd, pid);
		return EXIT_INTERNAL;
	}
	while (ptrace_wait(pid, &status) == 0)
		ptrace(PTRACE_CONT, pid, 0, 0);	/* let it die */
	return EXIT_OK;
}

int target_release(const char *cmd, int pid)
{
	int err = ptrace_detach(pid, 0);

	if (err && err != -ESRCH) {
		errno_msg(-err, "%s: letting PID %d go on", cmd, pid);
		return EXIT_INTERNAL;
	}
	return EXIT_OK;
}
