#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch-x86_64.h"
#include "contract.h"
#include "error.h"
#include "escape.h"
#include "exitcode.h"
#include "files.h"
#include "procfs.h"
#include "ptrace.h"
#include "sigstate.h"
#include "snapshot.h"
#include "target.h"
#include "testpoint.h"
#include "timedwait.h"
#include "tracee.h"

/*
 * Whatever `contmig check PID` says does not move is refused here, before
 * the process stops even for a moment: freezing it would end a process
 * whose copy thaw then refuses, or one that breaks as soon as it runs.
 * The Continuum contract's own rules (contract_only) are reported, not
 * enforced.  Two exceptions, both asked for: files beyond 0-2 with
 * --drop-fds, and the tracer that is us.
 */
int target_preflight(const char *cmd, int pid, unsigned flags)
{
	bool drop_fds = flags & TARGET_DROP_FDS, attached = flags & TARGET_ATTACHED;
	bool self = flags & TARGET_SELF_MOVE;
	const struct contract_item *first = NULL;
	struct contract_report r;
	int err = contract_check_pid(pid, &r);
	char rest[96] = "", detail[ESCAPED_SIZE(sizeof(r.item[0].detail))];
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

		/* A lone filter of run's program is run's own (seccomp.c). */
		if (it->ok || it->contract_only || (drop_fds && !strcmp(it->check, "fds")) ||
		    (attached && !strcmp(it->check, "tracer")) ||
		    (self && !strcmp(it->check, "seccomp") && r.seccomp_filters == 1))
			continue;
		if (first)
			more++;
		else
			first = it;
	}
	if (!first)
		return EXIT_OK;
	if (more)
		snprintf(rest, sizeof(rest), "; %u more rule%s broken ('contmig check %d' lists "
			 "them)", more, more == 1 ? "" : "s", pid);
	/* The process chose the paths it opened. */
	escape_text(detail, sizeof(detail), first->detail, sizeof(first->detail));
	error_msg("%s PID %d (%s): %s%s%s", cmd, pid, r.name, detail,
		  strcmp(first->check, "fds") ? "" : self ?
		  "; close what does not move before sys_migrate" :
		  "; close what does not move first, or use --drop-fds", rest);
	return EXIT_CONTRACT;
}

/*
 * The processes this command holds, from the first look to the end: a
 * command moves one at a time, but nothing here depends on that.
 */
#define TARGET_SLOTS	4
static struct tracee held[TARGET_SLOTS];
static int seize_timeout_ms = TARGET_DEFAULT_TIMEOUT_MS;

void target_set_timeout(int timeout_ms)
{
	seize_timeout_ms = timeout_ms;
}

struct tracee *target_tracee(int pid)
{
	for (size_t i = 0; i < TARGET_SLOTS; i++)
		if (held[i].pid == pid)
			return &held[i];
	return NULL;
}

static struct tracee *free_slot(void)
{
	return target_tracee(0);
}

static void forget(struct tracee *t)
{
	tracee_close(t);
	memset(t, 0, sizeof(*t));
}

int target_open(const char *cmd, int pid)
{
	struct tracee *t = target_tracee(pid);
	int err;

	if (t)
		return EXIT_OK;
	t = free_slot();
	if (!t) {
		error_msg("%s PID %d: too many processes held at once", cmd, pid);
		return EXIT_INTERNAL;
	}
	err = tracee_open(t, pid);
	if (err) {
		memset(t, 0, sizeof(*t));
		if (err == -ESRCH)
			error_msg("%s PID %d: no such process", cmd, pid);
		else
			errno_msg(-err, "%s: looking at PID %d", cmd, pid);
		return EXIT_NOTARGET;
	}
	return EXIT_OK;
}

/* Why t did not stop for us (tracee_seize's err), said; and forget it. */
static int seize_failed(const char *cmd, struct tracee *t, int err)
{
	int pid = t->pid;
	char state[160];

	if (err == -ETIMEDOUT) {
		tracee_describe_state(pid, state, sizeof(state));
		error_msg("%s: PID %d did not stop within %d s (%s); it carries on untouched",
			  cmd, pid, (seize_timeout_ms + 999) / 1000, state);
	} else if (err == -ESRCH) {
		error_msg("%s PID %d: no such process (it ended after the first look)", cmd, pid);
	} else if (err == -EPERM) {
		errno_msg(EPERM, "%s: cannot attach to PID %d (another user's process, already "
			  "traced, or ptrace restricted by Yama's ptrace_scope or a container)", cmd, pid);
	} else {
		errno_msg(-err, "%s: cannot attach to PID %d", cmd, pid);
	}
	forget(t);
	return EXIT_NOTARGET;
}

int target_attach(const char *cmd, int pid)
{
	int status = target_open(cmd, pid), err;

	if (status != EXIT_OK)
		return status;
	err = tracee_seize(target_tracee(pid), 0, seize_timeout_ms);
	return err ? seize_failed(cmd, target_tracee(pid), err) : EXIT_OK;
}

/*
 * Its signal actions and timers are read by injected calls, during which a
 * contmig killed would take the process with it (inject.h): a helper
 * process stops it and asks, and lets it go, before we stop it for good.
 */
static int read_sigstate_apart(const char *cmd, int pid, struct sigstate_read *pre)
{
	int status = target_open(cmd, pid), seize_err, err;
	char why[256];

	if (status != EXIT_OK)
		return status;
	err = sigstate_collect_apart(target_tracee(pid), seize_timeout_ms, pre, &seize_err, why,
				     sizeof(why));
	if (seize_err)
		return seize_failed(cmd, target_tracee(pid), seize_err);
	if (err == -EBADMSG) {
		error_msg("%s PID %d: no image can carry it: %s", cmd, pid, why);
		return EXIT_CONTRACT;
	}
	if (err) {
		error_msg("%s: reading the state of PID %d: %s", cmd, pid, why);
		return EXIT_INTERNAL;
	}
	return EXIT_OK;
}

/* The call pid's registers show it in: orig_rax, or for restart_syscall the
 * call it goes on with where a stop saw it (tracee_saw_call). */
static long long call_in(int pid, const struct user_regs_struct *regs)
{
	long long nr = (long long)regs->orig_rax, was;

	if (nr != SYS_restart_syscall)
		return nr;
	was = tracee_call_at(pid, regs->rip);
	return was >= 0 ? was : nr;
}

/*
 * A call with a restart block (nanosleep, clock_nanosleep, poll...) that an
 * earlier stop of ours cut short (freeze's helpers', a live send's rounds',
 * run's) was turned by the kernel, as the process went on, into
 * restart_syscall, whose saved state cannot travel.  Still in it at the same
 * instruction, it is still in the call that stop saw, which goes into the
 * image in its place (restore.c then makes the copy go on with it).
 */
static void undo_restart_syscall(int pid, struct image *im)
{
	im->regs.orig_rax = call_in(pid, &im->regs);
}

/*
 * A process blocked in restart_syscall at the first look (a copy still in
 * the sleep it came with, a process a stop cut short before) goes on with
 * a call no stop of ours saw: which one, /proc tells enough to guess
 * (timedwait.h), for the image and for let_wait_end.
 */
static void guess_restarted_call(int pid)
{
	unsigned long long nr, arg1, pc;
	char *text = NULL, *wchan = NULL;
	size_t len;

	/* "NR ARG1 ... ARG6 SP PC" while it is blocked in a call. */
	if (procfs_read_file(pid, "syscall", &text, &len) == 0 &&
	    sscanf(text, "%llu 0x%llx 0x%*x 0x%*x 0x%*x 0x%*x 0x%*x 0x%*x 0x%llx", &nr, &arg1,
		   &pc) == 3 && nr == SYS_restart_syscall &&
	    procfs_read_file(pid, "wchan", &wchan, &len) == 0)
		tracee_saw_call(pid, timed_wait_restarted(wchan, arg1), pc);
	free(text);
	free(wchan);
}

/*
 * A wait whose time left only this kernel knows (timedwait.h: a poll, a
 * FUTEX_WAIT, a sleep without rem) would end at once in the copy: let it end
 * here first, when that takes no more than a second.  The process runs
 * meanwhile, as it would have; a signal that comes first is given to it as
 * the kernel would have (pre: what the helper read of its actions).  Not
 * with ITIMER_REAL armed: the helper read it before, and the image would
 * hold it as it was then, which the time the wait took makes wrong.
 */
static int let_wait_end(const char *cmd, struct tracee *t, const struct sigstate_read *pre)
{
	/* SIGCHLD, SIGCONT, SIGURG, SIGWINCH: ignored unless caught. */
	const uint64_t ignored_by_default = 1ULL << (SIGCHLD - 1) | 1ULL << (SIGCONT - 1) |
					    1ULL << (SIGURG - 1) | 1ULL << (SIGWINCH - 1);
	const struct image_itimer_rec *alarm = &pre->tm.timer[IMAGE_ITIMER_REAL];
	struct user_regs_struct regs;
	bool ended;
	long long nr;
	int err;

	if (t->was_stopped || alarm->value_sec || alarm->value_usec ||
	    ptrace_get_regs(t->pid, &regs))
		return EXIT_OK;		/* (a failure to read them is said by the snapshot) */
	nr = call_in(t->pid, &regs);
	if ((long long)regs.rax != -ERESTART_RESTARTBLOCK ||
	    timed_wait_kind(nr, &regs) != TIMED_WAIT_LOST)
		return EXIT_OK;
	err = tracee_finish_call(t, TIMED_WAIT_FINISH_MS,
				 pre->ignored | (ignored_by_default & ~pre->caught), &ended);
	if (!err)
		return EXIT_OK;		/* (the wait ended, or it did not in time) */
	if (err == -ETIMEDOUT)
		return seize_failed(cmd, t, err);
	if (err == -ESRCH) {
		error_msg("%s PID %d: it ended while its wait ran out", cmd, t->pid);
		return EXIT_NOTARGET;
	}
	errno_msg(-err, "%s: letting PID %d's wait run out", cmd, t->pid);
	return EXIT_INTERNAL;
}

/* Its open files (files.h), which the preflight let through: those that do
 * not move only with TARGET_DROP_FDS. */
static int capture_files(const char *cmd, int pid, unsigned flags, struct image *im)
{
	int err = files_collect(pid, flags & TARGET_DROP_FDS, im);

	if (err == -EBADMSG) {
		error_msg("%s PID %d: %s; close what does not move first, or use --drop-fds", cmd,
			  pid, im->why);
		return EXIT_CONTRACT;
	}
	if (err) {
		errno_msg(-err, "%s: reading the open files of PID %d", cmd, pid);
		return EXIT_INTERNAL;
	}
	return EXIT_OK;
}

int target_capture(const char *cmd, int pid, unsigned flags, struct fileref_set *refs,
		   struct image *im)
{
	bool attached = flags & TARGET_ATTACHED;
	struct sigstate_read pre;
	struct tracee *t;
	int status = EXIT_OK, err;

	memset(im, 0, sizeof(*im));
	if (attached) {
		t = target_tracee(pid);
		if (!t && (t = free_slot()))
			tracee_adopt(t, pid, PTRACE_O_TRACESECCOMP);
		if (!t) {
			error_msg("%s PID %d: too many processes held at once", cmd, pid);
			return EXIT_INTERNAL;
		}
	} else {
		guess_restarted_call(pid);
		status = read_sigstate_apart(cmd, pid, &pre);
		test_point("sigstate-apart");
		if (status == EXIT_OK)
			tracee_saw_call(pid, pre.call_nr, pre.call_rip);
		if (status == EXIT_OK)
			status = target_attach(cmd, pid);
		if (status != EXIT_OK)
			return status;
		t = target_tracee(pid);
	}
	status = target_preflight(cmd, pid, flags | TARGET_ATTACHED);
	if (status == EXIT_OK && !attached)
		status = let_wait_end(cmd, t, &pre);
	/* (Where the tests signal the process held for its image.) */
	test_point("target-held");
	if (status == EXIT_OK &&
	    (err = snapshot_collect(t, attached ? NULL : &pre, refs,
						!(flags & TARGET_NO_PAGES), im)) == -EBADMSG) {
		/* The image rules refuse it (image_check): thaw could not take it. */
		error_msg("%s PID %d: no image can carry it: %s", cmd, pid, im->why);
		status = EXIT_CONTRACT;
	} else if (status == EXIT_OK && err && im->why[0]) {
		error_msg("%s: reading the state of PID %d: %s", cmd, pid, im->why);
		status = EXIT_INTERNAL;
	} else if (status == EXIT_OK && err) {
		errno_msg(-err, "%s: reading the state of PID %d", cmd, pid);
		status = EXIT_INTERNAL;
	}
	if (status == EXIT_OK)
		undo_restart_syscall(pid, im);
	if (status == EXIT_OK)
		status = capture_files(cmd, pid, flags, im);
	/* Lay the image out again: the state note changed. */
	if (status == EXIT_OK) {
		if (t->was_stopped)
			im->state.flags |= IMAGE_STATE_STOPPED;
		err = image_layout(im);
	}
	if (status == EXIT_OK && err == -EBADMSG) {
		error_msg("%s PID %d: no image can carry it: %s", cmd, pid, im->why);
		status = EXIT_CONTRACT;
	} else if (status == EXIT_OK && err) {
		errno_msg(-err, "%s: laying out the image of PID %d", cmd, pid);
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
	struct tracee *t = target_tracee(pid);
	int err;

	if (!t) {
		if (kill(pid, SIGKILL) < 0) {
			errno_msg(errno, "%s: ending PID %d", cmd, pid);
			return EXIT_INTERNAL;
		}
		return EXIT_OK;
	}
	err = tracee_end(t);
	forget(t);
	if (err) {
		errno_msg(-err, "%s: ending PID %d", cmd, pid);
		return EXIT_INTERNAL;
	}
	return EXIT_OK;
}

/* Let go of it one way or the other, and forget it. */
static int let_go(const char *cmd, int pid, bool stopped)
{
	struct tracee *t = target_tracee(pid);
	struct tracee gone;
	int err;

	if (!t) {
		/* Not held by this layer (run's child): as before. */
		t = &gone;
		tracee_adopt(t, pid, 0);
	}
	err = stopped ? tracee_keep_stopped(t) : tracee_detach(t);
	forget(t);
	if (err && err != -ESRCH) {
		errno_msg(-err, stopped ? "%s: leaving PID %d stopped" : "%s: letting PID %d go on",
			  cmd, pid);
		return EXIT_INTERNAL;
	}
	return EXIT_OK;
}

int target_let_run(const char *cmd, int pid)
{
	struct tracee *t = target_tracee(pid);
	int err = t ? tracee_detach(t) : -ESRCH;

	if (err) {
		errno_msg(-err, "%s: letting PID %d go on", cmd, pid);
		return EXIT_INTERNAL;
	}
	return EXIT_OK;
}

int target_release(const char *cmd, int pid)
{
	return let_go(cmd, pid, false);
}

int target_keep_stopped(const char *cmd, int pid)
{
	return let_go(cmd, pid, true);
}
