/*
 * tracee: one process we trace, from the first look to the moment we let go
 * (reptyr's struct ptrace_child, CRIU compel's compel_wait_task).
 *
 * tracee_open takes a pidfd at the first look, so that a PID reused later
 * (during a slow connect) is never stopped by mistake: every later step
 * checks that the pidfd still names a live process, and ends it through the
 * pidfd.  tracee_seize is bounded in time (a process in uninterruptible sleep
 * never stops).  A process that was already stopped (SIGSTOP, ^Z: a group
 * stop) is recorded as such and is left stopped when we let go.
 *
 * Functions return 0 or -errno and never print.
 */
#ifndef CONTMIG_TRACEE_H
#define CONTMIG_TRACEE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct tracee {
	pid_t pid;
	int pidfd;			/* -1 when we hold none (tracee_adopt) */
	bool seized;			/* we are its tracer */
	bool stopped;			/* in a ptrace stop we asked for */
	bool was_stopped;		/* it was in a group stop (SIGSTOP, ^Z, a stop
					 * signal during the seize) when it stopped for us */
	bool ours;			/* seized by tracee_seize: we detach it */
	long options;			/* the PTRACE_O_* in effect */
	uint64_t saved_mask;		/* its signal mask when it stopped for us */
};

/* A signal pending in a tracee: in its own queue or in its process's. */
struct tracee_signal {
	siginfo_t info;
	bool shared;			/* the process's queue, not the thread's */
};

/* SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU: what stops a process by default. */
static inline bool signal_is_stop(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* Send sig through a pidfd: 0 or -errno (-ESRCH: it is gone). */
int tracee_pidfd_signal(int pidfd, int sig) MUST_CHECK;

/* The first look: pidfd_open(pid).  -ESRCH if there is no such process. */
int tracee_open(struct tracee *t, pid_t pid) MUST_CHECK;
/* A process someone else already stopped under our ptrace (run's child). */
void tracee_adopt(struct tracee *t, pid_t pid, long options);
/* 0 if the process the pidfd names is alive; -ESRCH if it is gone, whatever
 * now holds its PID. */
int tracee_alive(const struct tracee *t) MUST_CHECK;

/*
 * PTRACE_SEIZE with options, PTRACE_INTERRUPT, and wait at most timeout_ms
 * (< 0: for ever) for the stop.  Signals that arrive meanwhile are passed on,
 * as the kernel would have delivered them.  Then check through the pidfd
 * that the process we stopped is the one we first looked at.
 * -ETIMEDOUT: it never stopped (uninterruptible sleep); it stays seized, with
 * the stop still asked for, until tracee_close lets go (or contmig exits:
 * the kernel detaches a dead tracer's tracees), and otherwise runs on.
 * -ESRCH: it is gone, or its PID names another process now (left untouched).
 */
int tracee_seize(struct tracee *t, long options, int timeout_ms) MUST_CHECK;
/* Why a process does not stop: "D (disk sleep) in do_vfork" into buf. */
void tracee_describe_state(pid_t pid, char *buf, size_t len);

/*
 * It is stopped for us inside a call the stop interrupted, which the kernel
 * will restart: let that call run to its end, for at most timeout_ms, and
 * stop it again just after (*ended), or, at the time limit, where it is
 * then (in the call still).  A signal that comes meanwhile is given to it:
 * one it ignores (the bits of ignored: signal n is bit n - 1) is dropped
 * and the call goes on; another ends the wait where it leaves the process
 * (in its handler, its wait cut short with EINTR).  0: stopped for us
 * again; -ETIMEDOUT: it did not stop again (still asked to); other -errno
 * as tracee_seize.
 */
int tracee_finish_call(struct tracee *t, int timeout_ms, uint64_t ignored, bool *ended)
	MUST_CHECK;

/*
 * The call a stop of ours found pid in and cut short (nr: orig_rax; rip:
 * just past its syscall instruction), kept for a later stop in the same
 * place, which finds restart_syscall there instead: the kernel went on with
 * the call from its restart block, and an image must name it (timedwait.h).
 * tracee_seize tells it of its own stops; whoever sees another stop (a
 * helper process's, run's) tells it too.  nr < 0 and restart_syscall
 * itself are not kept.
 */
void tracee_saw_call(pid_t pid, long long nr, unsigned long long rip);
/* The same, from the registers of pid, stopped for us, when it cut one short. */
void tracee_note_call(pid_t pid);
/* The call pid's restart_syscall at rip goes on with, or -1 if none seen. */
long long tracee_call_at(pid_t pid, unsigned long long rip);
/* The last call kept for pid, and *rip; or -1 (a helper's, for its parent). */
long long tracee_last_call(pid_t pid, unsigned long long *rip);

int tracee_set_options(struct tracee *t, long options) MUST_CHECK;
/* Arm or disarm PTRACE_O_EXITKILL: with it the process dies with us. */
int tracee_exit_kill(struct tracee *t, bool on) MUST_CHECK;

/* Its pending signals, the thread's and the process's (PTRACE_PEEKSIGINFO),
 * in a malloc'd array of *n (NULL when none).  It must be stopped for us. */
int tracee_pending_signals(const struct tracee *t, struct tracee_signal **sigs,
			   size_t *n) MUST_CHECK;
/* The same for any process stopped under our ptrace. */
int tracee_peek_signals(pid_t pid, struct tracee_signal **sigs, size_t *n) MUST_CHECK;

/* Let go: it carries on where it stopped, or stays stopped if it was. */
int tracee_detach(struct tracee *t) MUST_CHECK;
/* Let go, leaving it stopped (SIGSTOP): kill -CONT resumes it. */
int tracee_keep_stopped(struct tracee *t) MUST_CHECK;
/* SIGKILL through the pidfd, and wait until it is gone. */
int tracee_end(struct tracee *t) MUST_CHECK;
/* Forget it: close the pidfd.  A tracee still seized is detached if it is
 * stopped; otherwise the kernel lets go when contmig exits. */
void tracee_close(struct tracee *t);

#endif
