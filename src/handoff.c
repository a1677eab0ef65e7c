#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "error.h"
#include "exitcode.h"
#include "handoff.h"
#include "ptrace.h"
#include "snapshot.h"
#include "target.h"
#include "testpoint.h"
#include "tracee.h"

#ifndef PIDFD_SIGNAL_THREAD
#define PIDFD_SIGNAL_THREAD	(1UL << 0)	/* Linux 6.9 */
#endif

/* ---- sender ------------------------------------------------------------ */

enum record_outcome handoff_decode_outcome(const uint8_t answer[CHANNEL_OUTCOME_BYTES],
					   pid_t *pid)
{
	int32_t p;

	memcpy(&p, answer + 1, sizeof(p));
	*pid = p;
	if (answer[0] == OUTCOME_COMMITTED && p > 0)
		return RECORD_COMMITTED;
	if (answer[0] == OUTCOME_ABORTED)
		return RECORD_ABORTED;
	return RECORD_UNKNOWN;
}


/* How long a guardian keeps asking a receiver that cannot tell, or cannot
 * be reached, before it leaves the source stopped for good. */
#define GUARD_PATIENCE_S	600

/*
 * DONE never came: ask the receiver how the migration ended, on a new
 * connection, for patience_s seconds.  It answers from its record once its
 * own wait is over, which may take its --timeout; a busy receiver frees a
 * slot within its handshake limit.  An answer "unknown" (a record locked for
 * long, or none) is asked again too.  *new_pid is set only from an answer
 * "committed".
 */
static enum record_outcome ask_outcome(struct route *r, const uint8_t id[CHANNEL_ID_BYTES],
				       int patience_s, pid_t *new_pid, char *why, size_t why_len)
{
	struct timespec pause = { 1, 0 }, start, now;

	snprintf(why, why_len, "no answer");
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int attempt = 0;; attempt++) {
		struct channel ch;
		uint8_t answer[CHANNEL_OUTCOME_BYTES];
		enum record_outcome outcome;
		pid_t answered_pid;
		int err;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (attempt && now.tv_sec - start.tv_sec >= patience_s)
			return RECORD_UNKNOWN;
		if (attempt) {
			nanosleep(&pause, NULL);
			/* Asking for long, ask less often: at most every 10 s. */
			if (pause.tv_sec < 10)
				pause.tv_sec++;
		}
		if (route_open(r, &ch, CHANNEL_QUERY, id, true) != EXIT_OK) {
			snprintf(why, why_len, "%.*s", (int)why_len - 1, r->why);
			continue;
		}
		err = channel_expect(&ch, MSG_OUTCOME, answer, sizeof(answer));
		if (err)
			snprintf(why, why_len, "%s", channel_why(&ch, err));
		route_close(r, &ch);
		if (err)
			continue;
		outcome = handoff_decode_outcome(answer, &answered_pid);
		if (outcome == RECORD_COMMITTED)
			*new_pid = answered_pid;
		if (outcome != RECORD_UNKNOWN)
			return outcome;
		snprintf(why, why_len, answer[0] == OUTCOME_UNKNOWN ? "it has no settled record of "
			 "the migration" : "it gave an answer this contmig does not know (%u)",
			 answer[0]);
	}
}

/*
 * Was the source sent a stop signal (kill(2)'s, the process's; ours is its
 * thread's) or a SIGCONT during the move?  The kernel keeps one or the
 * other pending, never both: the last sent.  -1 stop, 1 continue, 0 none
 * (or sent: what was seen before our own SIGSTOP, which takes a pending
 * SIGCONT away).
 */
static int job_control_sent(const struct handoff_source *src, int sent)
{
	struct tracee_signal *sigs;
	size_t n;

	if (tracee_peek_signals(src->pid, &sigs, &n))
		return sent;
	for (size_t i = 0; i < n; i++) {
		if (sigs[i].shared && signal_is_stop(sigs[i].info.si_signo))
			sent = -1;
		else if (sigs[i].info.si_signo == SIGCONT)
			sent = 1;
	}
	free(sigs);
	return sent;
}

/* The source carries on: the queued SIGSTOP goes (a SIGCONT removes every
 * pending stop signal), and we let go (run's source stays traced).  It stays
 * stopped if it was stopped before, or was sent a stop signal meanwhile,
 * unless a SIGCONT came after. */
static void resume_source(const struct handoff_source *src, int seen)
{
	int sent = job_control_sent(src, seen);
	struct tracee *t = target_tracee(src->pid);

	if ((src->was_stopped && sent <= 0) || sent < 0) {
		if (!src->supervised)
			target_keep_stopped(src->cmd, src->pid);
		return;
	}
	if (kill(src->pid, SIGCONT) < 0)
		errno_msg(errno, "%s: letting PID %d carry on", src->cmd, (int)src->pid);
	if (t)
		t->was_stopped = false;	/* continued meanwhile: it runs */
	if (!src->supervised)
		target_release(src->cmd, src->pid);
}

/* Leave the source stopped and untraced, for the user to decide: its queued
 * SIGSTOP stops it as soon as we let go. */
static void keep_stopped(const struct handoff_source *src)
{
	target_keep_stopped(src->cmd, src->pid);
}

/* Close every fd but 0-2 and those in keep (sorted): 0, or -errno. */
static int close_all_but(const int *keep, int n)
{
	unsigned from = 3;
	DIR *d;

	for (int i = 0; i < n; i++) {
		if ((unsigned)keep[i] < from)
			continue;
		if ((unsigned)keep[i] > from && syscall(SYS_close_range, from, keep[i] - 1, 0) < 0)
			goto one_by_one;
		from = keep[i] + 1;
	}
	if (syscall(SYS_close_range, from, ~0U, 0) == 0)
		return 0;
one_by_one:
	/* No close_range (a seccomp profile that refuses it): what is open. */
	d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	for (struct dirent *e; (e = readdir(d));) {
		int fd = atoi(e->d_name);
		bool kept = fd <= 2 || fd == dirfd(d);

		for (int i = 0; i < n; i++)
			kept |= fd == keep[i];
		if (!kept && e->d_name[0] != '.')
			close(fd);
	}
	closedir(d);
	return 0;
}

/*
 * The guardian, in its own process: it waits for the sender to say how the
 * handoff ended.  If the sender dies after arming the source instead, the
 * kernel has let the source go and it has stopped on its queued SIGSTOP;
 * the guardian asks the receiver and settles it.  If the sender gave up
 * asking ('U': the outcome unknown, the source left stopped), the guardian
 * asks on, in the background, for GUARD_PATIENCE_S.  It acts only through
 * the pidfd: a PID used again meanwhile is never touched.
 */
static void guard(int fd, struct route *r, const uint8_t id[CHANNEL_ID_BYTES],
		  const struct handoff_source *src)
{
	const char *who;
	char c, last = 0, why[300], idhex[2 * CHANNEL_ID_BYTES + 1];
	bool was_stopped = false, stays_stopped;
	int job = 0, err;
	pid_t new_pid;
	ssize_t n;

	/* What the sender says: 'W' it was stopped before; 'T', 'C', 'N' a stop
	 * signal, a SIGCONT or neither came during the move (the last word
	 * counts); 'A' armed; 'U' take over; 'S' settled. */
	while ((n = read(fd, &c, 1)) != 0) {
		if (n < 0 && errno != EINTR)
			_exit(1);
		if (n != 1)
			continue;
		if (c == 'W')
			was_stopped = true;
		else if (c == 'T' || c == 'C' || c == 'N')
			job = c == 'T' ? -1 : c == 'C' ? 1 : 0;
		else
			last = c;
		if (last == 'U')
			break;	/* the sender goes; we take over */
	}
	if (last != 'A' && last != 'U')
		_exit(0);	/* settled, or never armed: nothing to do */
	stays_stopped = (was_stopped && job <= 0) || job < 0;
	/* A SIGCONT that reached the source meanwhile took its queued SIGSTOP
	 * away: queue another at once, before it runs for long. */
	if (last == 'A' && (err = tracee_pidfd_signal(src->pidfd, SIGSTOP)) && err != -ESRCH)
		errno_msg(-err, "%s: %s: keeping PID %d stopped", r->cmd, r->dest, (int)src->pid);
	who = last == 'A' ? "the sender died, and " : "";
	switch (ask_outcome(r, id, GUARD_PATIENCE_S, &new_pid, why, sizeof(why))) {
	case RECORD_COMMITTED:
		if ((err = tracee_pidfd_signal(src->pidfd, SIGKILL)) && err != -ESRCH)
			errno_msg(-err, "%s: %s: %sthe copy runs there as PID %d, but ending "
				  "PID %d here", r->cmd, r->dest, who, (int)new_pid, (int)src->pid);
		else
			error_msg("%s: %s: %sthe receiver says COMMIT arrived: the copy runs "
				  "there as PID %d and PID %d has ended here", r->cmd, r->dest, who,
				  (int)new_pid, (int)src->pid);
		break;
	case RECORD_ABORTED:
		if (!stays_stopped && (err = tracee_pidfd_signal(src->pidfd, SIGCONT)) &&
		    err != -ESRCH)
			errno_msg(-err, "%s: %s: letting PID %d carry on", r->cmd, r->dest,
				  (int)src->pid);
		else
			error_msg("%s: %s: %sthe receiver says COMMIT never arrived: PID %d %s here",
				  r->cmd, r->dest, who, (int)src->pid,
				  stays_stopped ? "stays stopped, as it was" : "carries on");
		break;
	default:
		error_msg("%s: %s: %sthe outcome is still unknown after %d s (%s): PID %d stays "
			  "stopped here; the receiver's state directory holds %s.decision: if it "
			  "says aborted, kill -CONT %d; if committed, kill -9 %d", r->cmd, r->dest, who,
			  GUARD_PATIENCE_S, why, (int)src->pid, (record_id_name(id, idhex), idhex), (int)src->pid,
			  (int)src->pid);
	}
	_exit(0);
}

int handoff_guard(struct handoff_guardian *g, struct route *r,
		  const uint8_t id[CHANNEL_ID_BYTES], const struct handoff_source *src)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	g->pid = fork();
	if (g->pid < 0) {
		int err = -errno;

		close(p[0]);
		close(p[1]);
		return err;
	}
	if (g->pid == 0) {
		int keep[2] = { p[0] < src->pidfd ? p[0] : src->pidfd,
				p[0] < src->pidfd ? src->pidfd : p[0] };
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		sigset_t fatal;

		/* The write end first: while we hold it, the sender's death
		 * would never show. */
		close(p[1]);
		/* Nothing aimed at the sender (a ^C, its group) is for us, the
		 * connection must close when the sender dies, and its stdout
		 * too (P=$(contmig send ...) must not wait for us): we keep
		 * stderr alone, for our word. */
		setsid();
		termination_signals(&fatal);
		sigprocmask(SIG_BLOCK, &fatal, NULL);
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
		    close_all_but(keep, 2) < 0)
			_exit(1);	/* the sender finds us gone at 'A' */
		r->via_pid = 0;
		guard(p[0], r, id, src);
	}
	close(p[0]);
	g->fd = p[1];
	return 0;
}

static int guardian_say(struct handoff_guardian *g, char c)
{
	if (g->fd < 0)
		return -EBADF;
	return write(g->fd, &c, 1) == 1 ? 0 : errno ? -errno : -EIO;
}

void handoff_unguard(struct handoff_guardian *g)
{
	if (g->fd < 0)
		return;
	if (guardian_say(g, 'S'))
		(void)0;	/* gone: nothing to tell */
	close(g->fd);
	g->fd = -1;
	while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* The same signal, as the kernel keeps it? */
static bool same_signal(const struct tracee_signal *a, const struct tracee_signal *b)
{
	return a->shared == b->shared && !memcmp(&a->info, &b->info, sizeof(a->info));
}

/* Is sig not among prev[*k..nprev)?  Both are queues in order, and some of
 * prev may have gone since (a stop signal takes a pending SIGCONT away, and
 * the reverse); *k moves past what sig matched. */
static bool new_signal(const struct tracee_signal *sig, const struct tracee_signal *prev,
		       size_t nprev, size_t *k)
{
	for (size_t m = *k; m < nprev; m++)
		if (same_signal(&prev[m], sig)) {
			*k = m + 1;
			return false;
		}
	return true;
}

/*
 * Signals that came for the source after its image go to the copy, but for
 * those in *sent already (the queues in order; some may have gone since,
 * as a stop signal takes a pending SIGCONT away, and the reverse).  *sent
 * becomes what is pending beyond the image now; *job the last job-control
 * signal among them (-1 a stop, 1 SIGCONT), if any.
 */
static int send_late_signals(struct channel *ch, const struct handoff_source *src,
			     struct tracee_signal **sent, size_t *nsent, int *job)
{
	struct tracee_signal *sigs;
	size_t n, k = 0;
	int err = snapshot_late_signals(src->pid, src->image, &sigs, &n);

	for (size_t i = 0; !err && i < n; i++) {
		const siginfo_t *si = &sigs[i].info;
		struct channel_signal s = {
			.signo = si->si_signo, .shared = sigs[i].shared, .code = si->si_code,
			.pid = si->si_pid, .uid = si->si_uid,
			.value = (uint64_t)(uintptr_t)si->si_value.sival_ptr,
		};

		if (!new_signal(&sigs[i], *sent, *nsent, &k))
			continue;	/* sent already */
		if (si->si_signo == SIGKILL || (si->si_signo == SIGSTOP && !s.shared))
			continue;	/* the end of the source anyway; ours, the arming */
		if (signal_is_stop(si->si_signo))
			*job = -1;
		else if (si->si_signo == SIGCONT)
			*job = 1;
		err = channel_send(ch, MSG_SIGNAL, &s, sizeof(s));
	}
	free(*sent);
	*sent = err ? NULL : sigs;
	*nsent = err ? 0 : n;
	if (err)
		free(sigs);
	return err;
}

/* Queue the source's own thread a SIGSTOP: a stop signal sent to the process
 * meanwhile then stays apart and reaches the copy.  Before Linux 6.9 a pidfd
 * cannot aim at a thread: tgkill, safe while we trace it (no one else can
 * reap it, so its PID is its own). */
static int arm(const struct handoff_source *src)
{
	if (syscall(SYS_pidfd_send_signal, src->pidfd, SIGSTOP, NULL, PIDFD_SIGNAL_THREAD) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	return syscall(SYS_tgkill, src->pid, src->pid, SIGSTOP) < 0 ? -errno : 0;
}

/* Signals that came after those sent with COMMIT die with the source: say
 * so (sent: what was pending beyond the image then). */
static void say_lost_signals(const struct route *r, const struct handoff_source *src,
			     const struct tracee_signal *sent, size_t nsent)
{
	struct tracee_signal *sigs;
	char name[16];
	size_t n, lost = 0, k = 0;
	int first = 0;

	if (snapshot_late_signals(src->pid, src->image, &sigs, &n))
		return;
	for (size_t i = 0; i < n; i++)
		if (new_signal(&sigs[i], sent, nsent, &k) && sigs[i].info.si_signo != SIGKILL &&
		    sigs[i].info.si_signo != SIGSTOP && !lost++)
			first = sigs[i].info.si_signo;
	free(sigs);
	if (lost)
		error_msg("warning: %s PID %d: %zu signal%s (%s first) came after COMMIT; its "
			  "copy on %s does not get %s", r->cmd, (int)src->pid, lost,
			  lost == 1 ? "" : "s", signal_abbrev(first, name), r->dest,
			  lost == 1 ? "it" : "them");
}

int handoff_send(struct route *r, struct channel *ch, struct handoff_source *src,
		 struct handoff_guardian *g, pid_t new_pid)
{
	uint8_t id[CHANNEL_ID_BYTES];
	char why[300];
	int32_t done;
	struct tracee_signal *sent = NULL;
	char idhex[2 * CHANNEL_ID_BYTES + 1], why2[80];
	bool asks_on;
	size_t nsent = 0;
	int err, refusal, status, job = 0;
	bool refused;

	memcpy(id, ch->id, sizeof(id));
	if (src->was_stopped && guardian_say(g, 'W'))
		(void)0;	/* a guardian gone is found out at 'A' */
	/* Signals that came meanwhile first: our SIGSTOP takes a pending
	 * SIGCONT away. */
	err = send_late_signals(ch, src, &sent, &nsent, &job);
	if (!err)
		err = guardian_say(g, job < 0 ? 'T' : job > 0 ? 'C' : 'N');
	/* Armed: from here on, our death leaves the source stopped, untraced,
	 * and the guardian settles it.  The guardian hears of it first: the
	 * other way round, a death between the two would leave the source
	 * stopped with nobody to settle it. */
	if (!err)
		err = guardian_say(g, 'A');
	if (!err)
		err = arm(src);
	if (err) {
		errno_msg(-err, "%s: holding PID %d for the handoff (its guardian, its "
			  "pending signals, a SIGSTOP)", r->cmd, (int)src->pid);
		route_close(r, ch);
		resume_source(src, job);
		status = EXIT_INTERNAL;
		goto unguard;
	}
	test_point("send-armed");
	/* And those that came since, a stop signal in the arming's place among
	 * them. */
	err = send_late_signals(ch, src, &sent, &nsent, &job);
	if (!err)
		err = guardian_say(g, job < 0 ? 'T' : job > 0 ? 'C' : 'N');
	if (!err)
		err = channel_send(ch, MSG_COMMIT, NULL, 0);
	if (err) {
		/* Not all of COMMIT got out: the receiver discards its copy. */
		error_msg("%s: %s: lost before COMMIT: %s; PID %d carries on here", r->cmd, r->dest,
			  err == -EIO || err == -ESRCH ? strerror(-err) : channel_why(ch, err),
			  (int)src->pid);
		route_close(r, ch);
		resume_source(src, job);
		status = EXIT_NETWORK;
		goto unguard;
	}
	test_point("send-committed");
	err = channel_expect(ch, MSG_DONE, &done, sizeof(done));
	refusal = ch->peer_refusal;
	refused = err == -ECONNABORTED;
	if (!err) {
		clock_gettime(CLOCK_MONOTONIC, &src->done_at);
		route_close(r, ch);
		test_point("send-done");
		say_lost_signals(r, src, sent, nsent);
		status = target_end(src->cmd, src->pid);
		goto unguard;
	}
	/* Whatever came instead of DONE (an error the receiver sent, a reset,
	 * silence), its record alone says whether the copy runs. */
	error_msg("%s: %s: %s after COMMIT (%s); asking the receiver how it ended", r->cmd,
		  r->dest,
		  err == -ECONNABORTED ? "an error" : "no DONE", channel_why(ch, err));
	/* Closing first also tells a receiver still waiting for COMMIT to settle. */
	route_close(r, ch);
	switch (ask_outcome(r, id, 2 * r->timeout_ms / 1000 + 10, &new_pid, why, sizeof(why))) {
	case RECORD_COMMITTED:
		say_lost_signals(r, src, sent, nsent);
		status = target_end(src->cmd, src->pid);
		break;
	case RECORD_ABORTED:
		error_msg("%s: %s: the receiver discarded its copy; PID %d carries on here",
			  r->cmd, r->dest, (int)src->pid);
		resume_source(src, job);
		status = refused ? exit_status_for_refusal(refusal) : EXIT_NETWORK;
		break;
	default:
		keep_stopped(src);
		record_id_name(id, idhex);
		/* The guardian takes over, if it is there; not ours to wait for. */
		asks_on = guardian_say(g, 'U') == 0;
		close(g->fd);
		g->fd = -1;
		if (asks_on)
			snprintf(why2, sizeof(why2), ", and contmig (PID %d) asks on for %d s and "
				 "settles it", (int)g->pid, GUARD_PATIENCE_S);
		error_msg("%s: %s: outcome unknown (asking the receiver: %s). PID %d is kept "
			  "stopped here%s; by hand: the receiver's state directory holds "
			  "%s.decision: if it says committed (its copy is PID %d), kill -9 %d; if "
			  "aborted, kill -CONT %d", r->cmd, r->dest, why, (int)src->pid,
			  asks_on ? why2 : "", idhex, (int)new_pid, (int)src->pid, (int)src->pid);
		status = EXIT_UNKNOWN;
	}
unguard:
	handoff_unguard(g);	/* nothing left to do if it took over */
	free(sent);
	return status;
}

/* ---- receiver ---------------------------------------------------------- */


/* Is the process pid, started at start, still there (not one that took its
 * PID since)?  1 yes, 0 gone, -errno; *state is its state. */
static int still_there(pid_t pid, unsigned long long start, char *state)
{
	unsigned long long now_start;
	int err = procfs_read_start(pid, &now_start, state);

	if (err == -ESRCH)
		return 0;
	if (err)
		return err;
	return now_start == start && *state != 'Z' && *state != 'X';
}

/* Send sig to pid if it is still the process started at start: through a
 * pidfd taken before the check, so that what was checked is what gets it.
 * 0 (sent, or gone), -errno. */
static int signal_if_same(pid_t pid, unsigned long long start, int sig)
{
	int fd = syscall(SYS_pidfd_open, pid, 0), err = 0;
	char state;

	if (fd < 0)
		return errno == ESRCH ? 0 : -errno;
	if (still_there(pid, start, &state) > 0 && (err = tracee_pidfd_signal(fd, sig)) == -ESRCH)
		err = 0;
	close(fd);
	return err;
}

/*
 * Wake a committed copy that has not had its SIGCONT (its receiver died or
 * stalled after deciding), claiming the wake first.  A copy still traced by
 * its receiver (stalled between deciding and letting it go) is freed, when
 * free is set (a sender asks), by ending that receiver: its one job left
 * was to let the copy go.
 */
static void wake_copy(const uint8_t id[16], const struct record_state *st, bool free)
{
	struct proc_status ps;
	bool freed = false;
	char state;
	int err;

	if (st->outcome != RECORD_COMMITTED)
		return;
	if (free && procfs_read_status(st->pid, &ps) == 0 && ps.tracer_pid == st->receiver &&
	    still_there(st->pid, st->start, &state) > 0 &&
	    signal_if_same(st->receiver, st->receiver_start, SIGKILL) == 0) {
		struct timespec nap = { 0, 10 * 1000 * 1000 };

		/* The kernel lets it go as the receiver dies. */
		for (int i = 0; i < 100 && procfs_read_status(st->pid, &ps) == 0 &&
		     ps.tracer_pid; i++)
			nanosleep(&nap, NULL);
		freed = true;
	}
	if (!st->wake)
		return;		/* it was stopped when frozen: it stays so */
	err = record_claim_wake(id);
	/* Claimed by the receiver we just ended, maybe before it could send
	 * its SIGCONT: the claim dies with it, and we wake the copy. */
	if (err == -EEXIST && !(freed && st->woken_by == st->receiver))
		return;
	if (err && err != -EEXIST) {
		errno_msg(-err, "thaw: claiming the wake of PID %d in %s (a later look wakes it)",
			  (int)st->pid, record_dir());
		return;
	}
	err = signal_if_same(st->pid, st->start, SIGCONT);
	if (err)
		errno_msg(-err, "thaw: waking PID %d, committed", (int)st->pid);
}

/*
 * Decide a pending migration "aborted", unless a decision stands already,
 * and see to its copy as the decision that stands says.  The decision comes
 * first, the kill after: the receiver wakes its copy only once it decided
 * "committed" itself.  *st becomes what stands (RECORD_UNKNOWN if no
 * decision could be written).
 */
static void abort_pending(const uint8_t id[16], struct record_state *st)
{
	struct record_state aborted = { .outcome = RECORD_ABORTED }, stands;
	int err = record_decide(id, &aborted, &stands);

	if (err == -EEXIST) {
		stands.pid = st->pid;
		*st = stands;
		wake_copy(id, st, true);
		if (st->outcome != RECORD_ABORTED)
			return;
	} else if (err) {
		st->outcome = RECORD_UNKNOWN;
		return;
	}
	st->outcome = RECORD_ABORTED;
	err = signal_if_same(st->pid, st->start, SIGKILL);
	if (err)
		errno_msg(-err, "thaw: ending PID %d, a copy decided aborted", (int)st->pid);
}

/*
 * Settle a record: a committed copy not yet woken is woken; a pending one
 * is decided "aborted" when decide is set (a sender asks: it lost the
 * connection, and the first decision stands) or when its receiver is gone.
 */
static void settle(const uint8_t id[16], struct record_state *st, bool decide)
{
	char state;

	if (st->outcome == RECORD_COMMITTED)
		wake_copy(id, st, decide);
	else if (st->outcome == RECORD_PENDING &&
		 (decide || still_there(st->receiver, st->receiver_start, &state) == 0))
		abort_pending(id, st);
}

static void settle_one(void *ctx, const uint8_t id[16], const struct record_state *st)
{
	struct record_state s = *st;

	(void)ctx;
	settle(id, &s, false);
}

void handoff_settle_all(void)
{
	if (record_each(settle_one, NULL))
		(void)0;	/* no records to settle: nothing was left half-way */
}

int handoff_answer_query(struct channel *ch, enum record_outcome *outcome)
{
	struct record_state st;
	uint8_t answer[CHANNEL_OUTCOME_BYTES];
	int32_t pid;
	int err = record_read(ch->id, &st);

	if (!err)
		settle(ch->id, &st, true);
	if (err || st.outcome == RECORD_PENDING)
		st.outcome = RECORD_UNKNOWN;
	*outcome = st.outcome;
	pid = st.outcome == RECORD_COMMITTED ? st.pid : 0;
	answer[0] = st.outcome == RECORD_COMMITTED ? OUTCOME_COMMITTED :
		    st.outcome == RECORD_ABORTED ? OUTCOME_ABORTED : OUTCOME_UNKNOWN;
	memcpy(answer + 1, &pid, sizeof(pid));
	if (err)
		return err;
	return channel_send(ch, MSG_OUTCOME, answer, sizeof(answer));
}


/* A signal that came for the source after its image: the copy gets it.
 * The kernel lets a process queue to another one only what no kernel would
 * send (si_code < 0); the rest goes as kill(2) does. */
static void queue_signal(pid_t copy, const struct channel_signal *s, bool *wake)
{
	siginfo_t si = { .si_signo = s->signo, .si_code = s->code };

	if (s->signo < 1 || s->signo >= NSIG || s->signo == SIGKILL)
		return;
	if (signal_is_stop(s->signo))
		*wake = false;		/* it was stopped on its way here */
	if (s->signo == SIGCONT) {
		/* Continued on its way here: the SIGCONT that wakes it once
		 * "committed" stands is this one.  Sent now, it would end the
		 * group stop that holds it, and it would run, undecided, as soon
		 * as it left ptrace. */
		*wake = true;
		return;
	}
	if (s->code < 0 && s->code != SI_TKILL) {
		si.si_pid = s->pid;
		si.si_uid = s->uid;
		si.si_value.sival_ptr = (void *)(uintptr_t)s->value;
		if (syscall(SYS_rt_sigqueueinfo, copy, s->signo, &si) == 0)
			return;
	}
	if (kill(copy, s->signo) < 0)
		(void)0;	/* the copy is ours and alive: this does not fail */
}

ATTR_PRINTF(2, 3)
static void receipt(struct handoff_receipt *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
}

/* No COMMIT: decide "aborted" (unless a sender's question did first) and
 * let the copy go. */
static void discard(const uint8_t id[16], struct remote *r)
{
	struct record_state aborted = { .outcome = RECORD_ABORTED }, stands;
	int err = record_decide(id, &aborted, &stands);

	remote_kill(r);
	if (err && err != -EEXIST)
		error_msg("thaw: cannot record migration as aborted in %s: %s", record_dir(),
			  strerror(-err));
}

/*
 * After COMMIT: let the copy out of ptrace first (held by its group stop
 * alone, it no longer dies with us), then decide "committed", unless a
 * sender's question decided "aborted" first, then wake it.  Termination
 * signals wait meanwhile.  Whatever we die or stall at, the record tells
 * whoever looks next what to do with the held copy.  0, or -errno with the
 * copy gone (-ECANCELED: the question decided first).
 */
static int start_copy(const uint8_t id[16], struct remote *r, bool wake,
		      struct handoff_receipt *res)
{
	struct record_state committed = { .outcome = RECORD_COMMITTED, .pid = r->pid,
					  .wake = wake }, stands;
	const char *step = "reading its record";
	pid_t pid = r->pid;
	char state;
	sigset_t fatal, old;
	int err;

	termination_signals(&fatal);
	sigprocmask(SIG_BLOCK, &fatal, &old);
	/* A question that came first has decided, and killed the copy. */
	err = record_read(id, &stands);
	if (!err && stands.outcome != RECORD_PENDING)
		err = -ECANCELED;
	if (!err) {
		step = "reading its start time";
		err = procfs_read_start(pid, &committed.start, &state);
	}
	if (!err) {
		/* From here on it no longer dies with us: should we die, the
		 * kernel lets it go, into its group stop, and the record says
		 * what becomes of it.  Still traced, nothing but ending us lets
		 * it run (a SIGCONT from anyone waits for the detach). */
		step = "disarming its exit-kill";
		if (ptrace(PTRACE_SETOPTIONS, pid, 0, 0) < 0)
			err = -errno;
	}
	if (!err) {
		test_point("receive-disarmed");
		step = "recording the decision";
		err = record_decide(id, &committed, &stands);
		if (err == -EEXIST)
			err = stands.outcome == RECORD_COMMITTED ? 0 : -ECANCELED;
	}
	if (err) {
		if (err == -ECANCELED)
			remote_kill(r);		/* killed already by the question's "aborted" */
		else
			discard(id, r);		/* "aborted", unless decided otherwise */
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (err == -ECANCELED)
			receipt(res, "the sender asked how it ended before COMMIT was acted on; "
				"its answer, aborted, stands");
		else
			receipt(res, "cannot start PID %d: %s: %s", (int)pid, step, strerror(-err));
		return err;
	}
	/* "committed" stands: from here on nothing of ours may end the copy. */
	test_point("receive-committed");
	r->pid = 0;
	err = ptrace_detach(pid, 0);	/* it stays in its group stop */
	if (err && err != -ESRCH)
		errno_msg(-err, "thaw: letting PID %d out of ptrace", (int)pid);
	/* Claimed first: whoever else looks (a question, the listener) never
	 * wakes it twice, even after its user stopped it. */
	if (wake && (err = record_claim_wake(id)) == 0 && kill(pid, SIGCONT) < 0)
		errno_msg(errno, "thaw: waking PID %d, committed", (int)pid);
	else if (wake && err && err != -EEXIST)
		errno_msg(-err, "thaw: claiming the wake of PID %d in %s (a later look wakes it)",
			  (int)pid, record_dir());
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}

void handoff_receive(struct channel *ch, struct remote *r, bool wake, struct handoff_receipt *res)
{
	struct record_state pending = { .outcome = RECORD_PENDING, .pid = r->pid,
					.receiver = getpid() };
	int32_t pid = r->pid;
	char state;
	int err;

	memset(res, 0, sizeof(*res));
	err = procfs_read_start(r->pid, &pending.start, &state);
	if (!err)
		err = procfs_read_start(getpid(), &pending.receiver_start, &state);
	if (!err)
		err = record_create(ch->id, &pending);
	if (err) {
		remote_kill(r);
		res->end = HANDOFF_FAILED;
		receipt(res, "cannot keep a record of the migration in %s: %s", record_dir(),
			strerror(-err));
		if (channel_send_error(ch, REFUSAL_RESTORE, "%s", res->why))
			(void)0;	/* it hears of it as a closed connection */
		return;
	}
	err = channel_send(ch, MSG_READY, &pid, sizeof(pid));
	test_point("receive-ready");
	while (!err) {
		struct channel_signal s;
		uint8_t type;
		size_t len;

		err = channel_next(ch, &type, &s, sizeof(s), &len);
		if (err || type == MSG_COMMIT)
			break;
		if (type != MSG_SIGNAL || len != sizeof(s)) {
			err = -EPROTO;
			break;
		}
		queue_signal(r->pid, &s, &wake);
		res->signals++;
	}
	if (err) {
		discard(ch->id, r);
		res->end = HANDOFF_DISCARDED;
		receipt(res, "%s", err == -EPROTO ? "protocol error: a message where COMMIT "
			"belongs" : channel_why(ch, err));
		return;
	}
	err = start_copy(ch->id, r, wake, res);
	if (err) {
		struct record_state st;

		res->end = err == -ECANCELED ? HANDOFF_DISCARDED : HANDOFF_FAILED;
		/* An error after COMMIT is a promise that the copy is gone: only
		 * when "aborted" stands. */
		if (record_read(ch->id, &st) == 0 && st.outcome == RECORD_ABORTED &&
		    channel_send_error(ch, REFUSAL_RESTORE, "%s", res->why))
			(void)0;
		return;
	}
	res->end = HANDOFF_RUNNING;
	test_point("receive-running");
	res->done_sent = channel_send(ch, MSG_DONE, &pid, sizeof(pid)) == 0;
}
