#include "config.h"

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

enum record_outcome handoff_decode_outcome(const uint8_t answer[5], pid_t *pid)
{
	int32_t p;

	memcpy(&p, answer + 1, sizeof(p));
	*pid = p;
	if (answer[0] == RECORD_COMMITTED && p > 0)
		return RECORD_COMMITTED;
	if (answer[0] == RECORD_ABORTED)
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
		uint8_t answer[5];
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
		snprintf(why, why_len, answer[0] == RECORD_UNKNOWN ? "it has no settled record of "
			 "the migration" : "it gave an answer this contmig does not know (%u)",
			 answer[0]);
	}
}

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* Did someone send the source a stop signal during the move?  (Ours is its
 * thread's; theirs, kill(2)'s, the process's.)  Then it stays stopped. */
static bool stop_sent(const struct handoff_source *src)
{
	struct tracee_signal *sigs;
	bool stop = false;
	size_t n;

	if (tracee_peek_signals(src->pid, &sigs, &n))
		return false;
	for (size_t i = 0; i < n; i++)
		stop |= sigs[i].shared && is_stop_signal(sigs[i].info.si_signo);
	free(sigs);
	return stop;
}

/* The source carries on: the queued SIGSTOP goes (a SIGCONT removes every
 * pending stop signal), and we let go (run's source stays traced). */
static void resume_source(const struct handoff_source *src)
{
	if (!src->was_stopped && !stop_sent(src) && kill(src->pid, SIGCONT) < 0)
		errno_msg(errno, "send: letting PID %d carry on", (int)src->pid);
	if (!src->supervised)
		target_release("send", src->pid);
}

/* Leave the source stopped and untraced, for the user to decide: its queued
 * SIGSTOP stops it as soon as we let go. */
static void keep_stopped(const struct handoff_source *src)
{
	target_keep_stopped("send", src->pid);
}

/* Close every fd but 0-2 and those in keep (sorted). */
static void close_all_but(const int *keep, int n)
{
	unsigned from = 3;

	for (int i = 0; i < n; i++) {
		if ((unsigned)keep[i] < from)
			continue;
		if ((unsigned)keep[i] > from)
			syscall(SYS_close_range, from, keep[i] - 1, 0);
		from = keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0U, 0);
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
	char c, last = 0, why[300];
	bool was_stopped = false;
	pid_t new_pid;
	ssize_t n;

	while ((n = read(fd, &c, 1)) != 0) {
		if (n < 0 && errno != EINTR)
			_exit(1);
		if (n == 1 && c == 'W')
			was_stopped = true;
		else if (n == 1)
			last = c;
		if (last == 'U')
			break;	/* the sender goes; we take over */
	}
	if (last != 'A' && last != 'U')
		_exit(0);	/* settled, or never armed: nothing to do */
	/* A SIGCONT that reached the source meanwhile took its queued SIGSTOP
	 * away: queue another at once, before it runs for long. */
	if (last == 'A' && syscall(SYS_pidfd_send_signal, src->pidfd, SIGSTOP, NULL, 0) < 0 &&
	    errno != ESRCH)
		errno_msg(errno, "send: %s: keeping PID %d stopped", r->dest, (int)src->pid);
	who = last == 'A' ? "the sender died, and " : "";
	switch (ask_outcome(r, id, GUARD_PATIENCE_S, &new_pid, why, sizeof(why))) {
	case RECORD_COMMITTED:
		if (syscall(SYS_pidfd_send_signal, src->pidfd, SIGKILL, NULL, 0) < 0 &&
		    errno != ESRCH)
			errno_msg(errno, "send: %s: %sthe copy runs there as PID %d, but ending PID "
				  "%d here", r->dest, who, (int)new_pid, (int)src->pid);
		else
			error_msg("send: %s: %sthe receiver says COMMIT arrived: the copy runs "
				  "there as PID %d and PID %d has ended here", r->dest, who,
				  (int)new_pid, (int)src->pid);
		break;
	case RECORD_ABORTED:
		if (!was_stopped &&
		    syscall(SYS_pidfd_send_signal, src->pidfd, SIGCONT, NULL, 0) < 0 &&
		    errno != ESRCH)
			errno_msg(errno, "send: %s: letting PID %d carry on", r->dest, (int)src->pid);
		else
			error_msg("send: %s: %sthe receiver says COMMIT never arrived: PID %d "
				  "carries on here", r->dest, who, (int)src->pid);
		break;
	default:
		error_msg("send: %s: %sthe outcome is still unknown after %d s (%s): PID %d stays "
			  "stopped here; if it does not run there, kill -CONT %d", r->dest, who,
			  GUARD_PATIENCE_S, why, (int)src->pid, (int)src->pid);
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
		sigset_t fatal;

		/* Nothing aimed at the sender (a ^C, its group) is for us, and
		 * the connection must close when the sender dies. */
		setsid();
		termination_signals(&fatal);
		sigprocmask(SIG_BLOCK, &fatal, NULL);
		close_all_but(keep, 2);
		r->via_pid = 0;
		guard(p[0], r, id, src);
	}
	close(p[0]);
	g->fd = p[1];
	return 0;
}

static void guardian_say(struct handoff_guardian *g, char c)
{
	if (g->fd >= 0 && write(g->fd, &c, 1) != 1)
		(void)0;	/* a dead guardian has nothing to do anyway */
}

void handoff_unguard(struct handoff_guardian *g)
{
	if (g->fd < 0)
		return;
	guardian_say(g, 'S');
	close(g->fd);
	g->fd = -1;
	while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Signals that came for the source after its image go to the copy. */
static int send_late_signals(struct channel *ch, const struct handoff_source *src, int *sent)
{
	struct tracee_signal *sigs;
	size_t n;
	int err = snapshot_late_signals(src->pid, src->image, &sigs, &n);

	for (size_t i = 0; !err && i < n; i++) {
		const siginfo_t *si = &sigs[i].info;
		struct channel_signal s = {
			.signo = si->si_signo, .shared = sigs[i].shared, .code = si->si_code,
			.pid = si->si_pid, .uid = si->si_uid,
			.value = (uint64_t)(uintptr_t)si->si_value.sival_ptr,
		};

		if (si->si_signo == SIGKILL || (si->si_signo == SIGSTOP && !s.shared))
			continue;	/* the end of the source anyway; ours, the arming */
		err = channel_send(ch, MSG_SIGNAL, &s, sizeof(s));
		if (!err)
			++*sent;
	}
	free(sigs);
	return err;
}

int handoff_send(struct route *r, struct channel *ch, const struct handoff_source *src,
		 struct handoff_guardian *g, pid_t new_pid)
{
	uint8_t id[CHANNEL_ID_BYTES];
	char why[300];
	int32_t done;
	int err, refusal, status, late = 0;
	bool refused;

	memcpy(id, ch->id, sizeof(id));
	if (src->was_stopped)
		guardian_say(g, 'W');
	/* Armed: from here on, our death leaves the source stopped, untraced,
	 * and the guardian settles it.  The SIGSTOP is the thread's, so that
	 * one sent to the process meanwhile still reaches the copy. */
	guardian_say(g, 'A');
	if (syscall(SYS_pidfd_send_signal, src->pidfd, SIGSTOP, NULL, PIDFD_SIGNAL_THREAD) < 0) {
		errno_msg(errno, "send: holding PID %d for the handoff", (int)src->pid);
		route_close(r, ch);
		resume_source(src);
		handoff_unguard(g);
		return EXIT_INTERNAL;
	}
	test_point("send-armed");
	err = send_late_signals(ch, src, &late);
	if (!err)
		err = channel_send(ch, MSG_COMMIT, NULL, 0);
	if (err) {
		/* Not all of COMMIT got out: the receiver discards its copy. */
		error_msg("send: %s: lost before COMMIT: %s; PID %d carries on here", r->dest,
			  err == -EIO || err == -ESRCH ? strerror(-err) : channel_why(ch, err),
			  (int)src->pid);
		route_close(r, ch);
		resume_source(src);
		handoff_unguard(g);
		return EXIT_NETWORK;
	}
	test_point("send-committed");
	err = channel_expect(ch, MSG_DONE, &done, sizeof(done));
	refusal = ch->peer_refusal;
	refused = err == -ECONNABORTED;
	if (!err) {
		route_close(r, ch);
		test_point("send-done");
		status = target_end("send", src->pid);
		handoff_unguard(g);
		return status;
	}
	/* Whatever came instead of DONE (an error the receiver sent, a reset,
	 * silence), its record alone says whether the copy runs. */
	error_msg("send: %s: %s after COMMIT (%s); asking the receiver how it ended", r->dest,
		  err == -ECONNABORTED ? "an error" : "no DONE", channel_why(ch, err));
	/* Closing first also tells a receiver still waiting for COMMIT to settle. */
	route_close(r, ch);
	switch (ask_outcome(r, id, 2 * r->timeout_ms / 1000 + 10, &new_pid, why, sizeof(why))) {
	case RECORD_COMMITTED:
		status = target_end("send", src->pid);
		break;
	case RECORD_ABORTED:
		error_msg("send: %s: the receiver discarded its copy; PID %d carries on here",
			  r->dest, (int)src->pid);
		resume_source(src);
		status = refused ? exit_status_for_refusal(refusal) : EXIT_NETWORK;
		break;
	default:
		keep_stopped(src);
		error_msg("send: %s: outcome unknown (asking the receiver: %s): it runs PID %d only "
			  "if it got COMMIT. PID %d is kept stopped here, and contmig (PID %d) asks on "
			  "for %d s and settles it; or, if PID %d runs there, kill -9 %d; if not, "
			  "kill -CONT %d", r->dest, why, (int)new_pid, (int)src->pid, (int)g->pid,
			  GUARD_PATIENCE_S, (int)new_pid, (int)src->pid, (int)src->pid);
		/* The guardian takes over; it is not ours to wait for. */
		guardian_say(g, 'U');
		close(g->fd);
		g->fd = -1;
		return EXIT_UNKNOWN;
	}
	handoff_unguard(g);
	return status;
}

/* ---- receiver ---------------------------------------------------------- */

/* The start time of pid (field 22 of /proc/PID/stat) and its state. */
static int proc_identity(pid_t pid, unsigned long long *start, char *state)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	/* The name may hold anything, ')' included: go by the last one. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			 "%*d %*d %*d %*d %llu", state, start) != 2)
		return -EPROTO;
	return 0;
}

/* Is the process pid, started at start, still there (not one that took its
 * PID since)?  1 yes, 0 gone, -errno; *state is its state. */
static int still_there(pid_t pid, unsigned long long start, char *state)
{
	unsigned long long now_start;
	int err = proc_identity(pid, &now_start, state);

	if (err == -ESRCH)
		return 0;
	if (err)
		return err;
	return now_start == start && *state != 'Z' && *state != 'X';
}

/*
 * Settle a record (locked by us).  A committed copy its receiver could not
 * wake is woken.  A pending one is decided "aborted" (its copy killed first)
 * when decide is set (a sender asks: it lost the connection, so the first
 * decision written stands) or when its receiver is gone.
 */
static void settle(struct record *rec, struct record_state *st, bool decide)
{
	struct record_state aborted = { .outcome = RECORD_ABORTED };
	char state;
	int present;

	if (st->outcome == RECORD_COMMITTED) {
		struct record_state woken = *st;

		/* Once woken the record says so: a copy its user stops later
		 * is not ours to wake again. */
		if (!st->wake)
			return;
		present = still_there(st->pid, st->start, &state);
		if (present < 0 || (present && kill(st->pid, SIGCONT) < 0 && errno != ESRCH))
			return;
		woken.wake = false;
		if (record_write(rec, &woken))
			(void)0;	/* a second SIGCONT, at worst, to a copy just woken */
		return;
	}
	if (st->outcome != RECORD_PENDING)
		return;
	if (!decide && still_there(st->receiver, st->receiver_start, &state) != 0)
		return;		/* its receiver is alive (or cannot be told): its call */
	/* Never committed, then: the copy goes before anyone hears "aborted". */
	present = still_there(st->pid, st->start, &state);
	if (present < 0 || (present && kill(st->pid, SIGKILL) < 0 && errno != ESRCH)) {
		st->outcome = RECORD_UNKNOWN;
		return;
	}
	st->outcome = record_write(rec, &aborted) ? RECORD_UNKNOWN : RECORD_ABORTED;
}

static void settle_one(void *ctx, struct record *rec, const struct record_state *st)
{
	struct record_state s = *st;

	(void)ctx;
	settle(rec, &s, false);
}

void handoff_settle_all(void)
{
	if (record_each_unheld(settle_one, NULL))
		(void)0;	/* no records to settle: nothing was left half-way */
}

int handoff_answer_query(struct channel *ch, int timeout_ms, enum record_outcome *outcome)
{
	struct record_state st;
	struct record rec;
	uint8_t answer[5];
	int32_t pid;
	int err = record_take(ch->id, timeout_ms, &rec, &st);

	if (!err && rec.fd >= 0)
		settle(&rec, &st, true);
	if (rec.fd >= 0)
		close(rec.fd);
	if (err || st.outcome == RECORD_PENDING)
		st.outcome = RECORD_UNKNOWN;
	*outcome = st.outcome;
	pid = st.outcome == RECORD_COMMITTED ? st.pid : 0;
	answer[0] = st.outcome;
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
	if (is_stop_signal(s->signo))
		*wake = false;		/* it was stopped on its way here */
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

/* No COMMIT, or a sender's query decided first: the copy goes, and the
 * record says aborted unless someone decided it already. */
static void discard(struct remote *r, struct record *rec, int timeout_ms)
{
	struct record_state st, aborted = { .outcome = RECORD_ABORTED };

	remote_kill(r);
	if (record_lock(rec, timeout_ms, &st) == 0 && st.outcome == RECORD_PENDING &&
	    record_write(rec, &aborted))
		error_msg("thaw: cannot mark migration aborted in %s", record_dir());
	/* Not locked for that long: whoever holds it finds the copy gone. */
	record_close(rec);
}

/*
 * After COMMIT: decide, under the record's lock, unless a sender's query
 * decided first; let the copy out of ptrace's hold, record the decision,
 * wake it.  Termination signals wait, so that no death of ours comes between
 * two of these steps but a SIGKILL, which the records settle.  0, or -errno
 * with the copy gone (-ECANCELED: the query decided "aborted").
 */
static int start_copy(struct remote *r, struct record *rec, bool wake, int timeout_ms,
		      struct handoff_receipt *res)
{
	struct record_state now, committed = { .outcome = RECORD_COMMITTED, .pid = r->pid,
					       .wake = wake };
	struct record_state aborted = { .outcome = RECORD_ABORTED };
	char state;
	sigset_t fatal, old;
	int err;

	termination_signals(&fatal);
	sigprocmask(SIG_BLOCK, &fatal, &old);
	err = record_lock(rec, timeout_ms, &now);
	if (!err && now.outcome != RECORD_PENDING)
		err = -ECANCELED;
	if (!err)
		err = proc_identity(r->pid, &committed.start, &state);
	if (!err && ptrace(PTRACE_SETOPTIONS, r->pid, 0, 0) < 0)
		err = -errno;
	if (!err) {
		test_point("receive-disarmed");
		err = record_write(rec, &committed);
	}
	if (!err) {
		test_point("receive-committed");
		err = ptrace_detach(r->pid, 0);		/* it stays in its group stop */
	}
	if (!err && wake && kill(r->pid, SIGCONT) < 0)
		err = -errno;
	if (!err && wake) {
		/* Woken: nobody settling records later is to wake it again. */
		committed.wake = false;
		if (record_write(rec, &committed))
			(void)0;	/* then a settler sends one more SIGCONT: harmless */
	}
	if (err) {
		remote_kill(r);
		/* Ours to undo only if we decided it (a query's "aborted", or a
		 * lock we never got, is someone else's word). */
		if (err != -ECANCELED && err != -EWOULDBLOCK && record_write(rec, &aborted))
			error_msg("thaw: cannot mark migration aborted in %s", record_dir());
	}
	r->pid = 0;		/* not ours any more: it runs, or it is gone */
	record_close(rec);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (err == -ECANCELED)
		receipt(res, "the sender asked how it ended before COMMIT was acted on; its "
			"answer, aborted, stands");
	else if (err)
		receipt(res, "cannot start PID %d: %s", (int)committed.pid, strerror(-err));
	return err;
}

void handoff_receive(struct channel *ch, struct remote *r, bool wake, struct handoff_receipt *res)
{
	struct record_state pending = { .outcome = RECORD_PENDING, .pid = r->pid,
					.receiver = getpid() };
	struct record rec;
	int32_t pid = r->pid;
	char state;
	int err;

	memset(res, 0, sizeof(*res));
	err = proc_identity(r->pid, &pending.start, &state);
	if (!err)
		err = proc_identity(getpid(), &pending.receiver_start, &state);
	if (!err)
		err = record_create(ch->id, &pending, &rec);
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
		discard(r, &rec, ch->timeout_ms);
		res->end = HANDOFF_DISCARDED;
		receipt(res, "%s", err == -EPROTO ? "protocol error: a message where COMMIT "
			"belongs" : channel_why(ch, err));
		return;
	}
	err = start_copy(r, &rec, wake, ch->timeout_ms, res);
	if (err) {
		res->end = err == -ECANCELED ? HANDOFF_DISCARDED : HANDOFF_FAILED;
		if (channel_send_error(ch, REFUSAL_RESTORE, "%s", res->why))
			(void)0;
		return;
	}
	res->end = HANDOFF_RUNNING;
	test_point("receive-running");
	res->done_sent = channel_send(ch, MSG_DONE, &pid, sizeof(pid)) == 0;
}
