#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>

#include "contract.h"
#include "error.h"
#include "exitcode.h"
#include "ptrace.h"
#include "snapshot.h"
#include "target.h"

int target_preflight(const char *cmd, int pid, unsigned flags)
{
	bool drop_fds = flags & TARGET_DROP_FDS, attached = flags & TARGET_ATTACHED;
	bool self = flags & TARGET_SELF_MOVE;
	struct contract_report r;
	int err = contract_check_pid(pid, &r);

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
		bool fatal = !strcmp(it->check, "threads") || !strcmp(it->check, "tracer") ||
			     (!strcmp(it->check, "fds") && !drop_fds) ||
			     (self && !strcmp(it->check, "stack"));

		if (it->ok || (!fatal && !strcmp(it->check, "fds")))
			continue;
		if (attached && !strcmp(it->check, "tracer"))
			continue;	/* that is us now */
		/* Of the rest only a missing fixed stack matters: the binary rules
		 * judge /proc/PID/exe, which after a thaw is contmig's stub. */
		if (!fatal && (attached || strcmp(it->check, "stack")))
			continue;
		if (fatal) {
			error_msg("%s PID %d (%s): %s%s", cmd, pid, r.name, it->detail,
				  strcmp(it->check, "fds") ? "" : self ? "; close them before sys_migrate" :
				  "; close them first, or use --drop-fds");
			return EXIT_CONTRACT;
		}
		error_msg("warning: PID %d (%s) breaks the contract: %s", pid, r.name, it->detail);
	}
	return EXIT_OK;
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
	if (status == EXIT_OK && (err = snapshot_collect(pid, im)) == -EBADMSG) {
		/* The image rules refuse it (image_check): thaw could not take it. */
		error_msg("%s PID %d: no image can carry it: %s", cmd, pid, im->why);
		status = EXIT_CONTRACT;
	} else if (status == EXIT_OK && err) {
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
