/*
 * contmig run --checkpoint DIR: keep a program through preemption and dead
 * machines (contmig(1), "contmig run --checkpoint").
 *
 * We start PROG, or resume it from the newest sound chain in DIR, and hold
 * it under ptrace (PTRACE_SEIZE, no other option: it stops only on signals
 * and when we interrupt it).  On the checkpoint signal, whether it reaches
 * us or PROG (a scheduler sends it to every process of the job), PROG is
 * interrupted, written to DIR and ended, and we exit EXIT_CHECKPOINTED; the
 * signal never reaches PROG.  With --every, PROG is also interrupted every
 * interval: with write tracking (dirty.h) only the pages written since the
 * checkpoint before go, as a delta on it (precopy.h), taken into our memory
 * while it waits and written once it runs again; the chain is merged into a
 * base in the background (compact.h).  A checkpoint that cannot be written
 * never ends PROG: it is said, and PROG carries on.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "commands.h"
#include "compact.h"
#include "creds.h"
#include "error.h"
#include "escape.h"
#include "exitcode.h"
#include "image.h"
#include "precopy.h"
#include "ptrace.h"
#include "remote.h"
#include "restore.h"
#include "run-checkpoint.h"
#include "snapshot.h"
#include "target.h"
#include "testpoint.h"
#include "tracee.h"

/* A delta of at most this much is taken into memory while PROG waits, and
 * written to the disk once it goes on: its stop lasts a copy in memory, not
 * a write (a base waits for the disk: memory for all of it is not ours). */
#define SPOOL_MAX	(256UL << 20)
#define SPOOL_KEPT	(64UL << 20)

/* A new base, the program stopped for it, once the deltas since the last
 * hold this much more than it (it rewrites most of its memory: a base costs
 * little more than a delta), or there are this many (no merge kept up). */
#define REBASE_RATIO	1
#define REBASE_DELTAS	64
/* The chain is merged into a base in the background (compact.h) once it
 * has this many deltas, or deltas of half the base's size (and of a few
 * MiB: a small program's merges would cost more than they save). */
#define COMPACT_DELTAS	8
#define COMPACT_BYTES	(4UL << 20)

struct keeper {
	const struct checkpoint_opts *o;
	struct checkpoint_dir dir;
	unsigned next;			/* the number the next checkpoint gets */
	uint64_t base_bytes;		/* stored by the chain's base */
	uint64_t delta_bytes;		/* by the deltas since */
	unsigned deltas;
	pid_t pid;
	struct tracee t;		/* PROG, held: its pidfd, for dirty.h */
	struct precopy pc;
	bool tracking;			/* pc tracks its writes */
	bool untrackable;		/* tried, and said why not */
	struct stream_mem spool;	/* a delta's bytes, taken while PROG waits */
	long let_go;			/* set: once they are, PROG goes on (the ptrace
					 * request) while they go to the disk */
	bool let_go_done;
	struct timespec released;	/* when PROG went on */
	pid_t compactor;		/* merging the chain in the background, or 0 */
	unsigned compacting;		/* the deltas it merges */
	unsigned compacting_seq;	/* the number of the base it writes */
	uint64_t compacting_bytes;	/* and their bytes */
	char comm[ESCAPED_SIZE(16)];
};

/* The signals run takes through its signalfd. */
static void keeper_signals(const struct checkpoint_opts *o, sigset_t *set)
{
	termination_signals(set);
	sigaddset(set, o->signal);
	sigaddset(set, SIGCHLD);
}

/* Hold k->pid: its pidfd, and what the tracee layer knows of it. */
static int hold(struct keeper *k)
{
	k->t = (struct tracee){ .pid = k->pid, .seized = true };
	k->t.pidfd = syscall(SYS_pidfd_open, k->pid, 0);
	return k->t.pidfd < 0 ? -errno : 0;
}

/* Write im, laid out, into checkpoint f of DIR and publish it.  An exit
 * status, said. */
static int write_checkpoint(struct keeper *k, const struct checkpoint_file *f, struct image *im)
{
	struct stream out = { .fd = -1 }, back = { .fd = -1 };
	char why[512], name[32];
	bool output_failed = false;
	int err;

	checkpoint_name(f, name);
	out.fd = checkpoint_begin(&k->dir, f, why, sizeof(why));
	if (out.fd < 0) {
		error_msg("run: checkpoint of PID %d: %s", (int)k->pid, why);
		return EXIT_IO;
	}
	if (k->let_go && f->delta && im->size <= SPOOL_MAX) {
		struct stream spool;

		k->spool.len = 0;
		stream_mem_writer(&spool, &k->spool);
		err = snapshot_write(k->pid, im, &spool, &output_failed);
		if (!err) {
			if (ptrace(k->let_go, k->pid, 0, 0) == 0)
				k->let_go_done = true;
			clock_gettime(CLOCK_MONOTONIC, &k->released);
			err = stream_write(&out, k->spool.data, k->spool.len);
			output_failed = true;
		}
		/* Kept for the next, unless a large one: run's memory is not PROG's. */
		if (k->spool.cap > SPOOL_KEPT) {
			free(k->spool.data);
			k->spool = (struct stream_mem){ 0 };
		}
	} else {
		err = snapshot_write(k->pid, im, &out, &output_failed);
	}
	if (err) {
		if (output_failed)
			errno_msg(-err, "run: writing %s/%s", k->o->dir, name);
		else
			errno_msg(-err, "run: reading the memory of PID %d", (int)k->pid);
		checkpoint_discard(&k->dir, f, out.fd);
		return output_failed ? EXIT_IO : EXIT_INTERNAL;
	}
	/* Read back as a resume will read it, before it counts. */
	back.fd = out.fd;
	err = lseek(out.fd, 0, SEEK_SET) < 0 ? -errno : image_verify(im, &back);
	if (err) {
		if (err == -EBADMSG)
			error_msg("run: %s/%s does not read back as written: %s", k->o->dir, name,
				  im->why);
		else
			errno_msg(-err, "run: reading back %s/%s", k->o->dir, name);
		checkpoint_discard(&k->dir, f, out.fd);
		return EXIT_IO;
	}
	/* (Where the tests kill run with a checkpoint written but not named.) */
	test_point("run-publishing");
	err = checkpoint_publish(&k->dir, f, out.fd, why, sizeof(why));
	if (err) {
		error_msg("run: %s", why);
		return EXIT_IO;
	}
	return EXIT_OK;
}

/* Start tracking PROG's writes (stopped for us), once; said when it cannot. */
static void start_tracking(struct keeper *k)
{
	char why[256];
	int err;

	if (k->tracking || k->untrackable || !k->o->every_ms)
		return;
	k->t.stopped = true;
	err = precopy_start(&k->pc, &k->t, TARGET_DEFAULT_TIMEOUT_MS, NULL, why, sizeof(why));
	k->t.stopped = false;
	if (err) {
		error_msg("run: PID %d: its writes cannot be tracked (%s): every checkpoint "
			  "stores all its memory", (int)k->pid, why);
		k->untrackable = true;
		return;
	}
	k->tracking = true;
}

/* Is it time for a new base, the deltas outgrowing the one they are on? */
static bool want_base(const struct keeper *k)
{
	return !k->tracking || !k->pc.have_prev || k->deltas >= REBASE_DELTAS ||
	       k->delta_bytes > REBASE_RATIO * k->base_bytes;
}

/*
 * In the compactor, a child of ours: merge the chain that ends at seq into
 * a base.  It dies with us (a run killed must not leave it writing), and
 * yields the CPU to PROG.
 */
ATTR_NORETURN static void compactor(struct keeper *k, unsigned seq, pid_t parent)
{
	struct checkpoint_list l;
	struct timespec t0, t1;
	char why[512];
	long from = -1;
	size_t upto = 0;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	(void)setpriority(PRIO_PROCESS, 0, 10);
	err = checkpoint_list(&k->dir, &l, why, sizeof(why));
	for (upto = 0; !err && upto < l.count && l.file[upto].seq != seq; upto++)
		;
	if (!err && upto < l.count)
		from = checkpoint_chain_start(&l, upto);
	if (!err && from < 0)
		err = say_why(-ENOENT, why, sizeof(why), "no chain in %s ends at checkpoint %u",
			      k->o->dir, seq);
	if (!err)
		err = compact_chain(&k->dir, &l, (size_t)from, upto, why, sizeof(why));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (err)
		error_msg("run: merging the checkpoints of PID %d in %s: %s; they are kept as "
			  "they were", (int)k->pid, k->o->dir, why);
	else
		error_msg("run: merged checkpoints %u to %u of PID %d (%s) in %s into a base, in "
			  "%.0f ms", l.file[from].seq, seq, (int)k->pid, k->comm, k->o->dir,
			  (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	_exit(err ? 1 : 0);
}

/* After checkpoint seq, a delta: merge the chain behind it if it is time
 * and no merge runs. */
static void maybe_compact(struct keeper *k, unsigned seq)
{
	pid_t parent = getpid(), pid;

	if (k->compactor || (k->deltas < COMPACT_DELTAS &&
			     (2 * k->delta_bytes < k->base_bytes || k->delta_bytes < COMPACT_BYTES)))
		return;
	fflush(stderr);
	pid = fork();
	if (pid == 0)
		compactor(k, seq, parent);
	if (pid < 0) {
		errno_msg(errno, "run: starting a merge of the checkpoints in %s", k->o->dir);
		return;
	}
	k->compactor = pid;
	k->compacting = k->deltas;
	k->compacting_bytes = k->delta_bytes;
	k->compacting_seq = seq;
}

/* Has the merge ended?  Once it has, the chain is shorter by what it
 * merged (or, if it failed, as it was). */
static void reap_compactor(struct keeper *k, bool wait)
{
	int st;
	pid_t got;

	if (!k->compactor)
		return;
	do
		got = waitpid(k->compactor, &st, wait ? 0 : WNOHANG);
	while (got < 0 && errno == EINTR);
	if (got == 0)
		return;
	if (got > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && k->deltas >= k->compacting) {
		k->deltas -= k->compacting;
		k->delta_bytes -= k->compacting_bytes;
		k->base_bytes += k->compacting_bytes / 2;	/* about what it grew by */
	}
	/* Killed mid-write (by us, by the OOM killer): its temporary file, as
	 * large as a base, would stay (for good, once the program ends). */
	if (got > 0 && WIFSIGNALED(st))
		checkpoint_discard(&k->dir, &(struct checkpoint_file){ .seq = k->compacting_seq },
				   -1);
	k->compactor = 0;
}

/* We end: a merge under way is given up, its temporary file removed. */
static void stop_compactor(struct keeper *k)
{
	if (k->compactor && kill(k->compactor, SIGKILL) == 0)
		reap_compactor(k, true);
}

/* Is si our SIGCONT, which let PROG run after we seized it (start,
 * take_over)?  Its continuing was all it was for: a handler of PROG's never
 * sees it, here or in a copy resumed from a checkpoint taken before it was
 * taken. */
static bool our_wake(const siginfo_t *si)
{
	return si->si_signo == SIGCONT && si->si_code == SI_USER && si->si_pid == getpid();
}

/*
 * The checkpoint signal pending in PROG was meant for us (a scheduler sends
 * it to every process of the job) and is acted on here: in the image it
 * would checkpoint and end the program again as soon as it is resumed.
 * Out of im's pending signals, with our SIGCONT; true if there was one.
 */
static bool drop_ours(const struct keeper *k, struct image *im)
{
	size_t kept = 0;

	for (size_t i = 0; i < im->nsig; i++) {
		siginfo_t si;

		memcpy(&si, im->sig[i].info, sizeof(si));
		if (si.si_signo != k->o->signal && !our_wake(&si))
			im->sig[kept++] = im->sig[i];
	}
	if (kept == im->nsig)
		return false;
	im->nsig = kept;
	return true;
}

/*
 * Does PROG run in the namespaces we do?  Its copy is made by us, in ours:
 * a program that shut itself in a namespace of its own (unshare: no
 * network, say) would come out of it by raising the checkpoint signal.
 * EXIT_OK, or EXIT_CONTRACT naming the first that differs.
 */
static int same_namespaces(const struct keeper *k)
{
	/* (Not time: its offsets go with the clocks note, clocks.h.) */
	static const char *const kinds[] = { "user", "mnt", "net", "pid", "ipc", "uts",
					     "cgroup" };
	char path[64];

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct stat mine, theirs;

		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)k->pid, kinds[i]);
		if (stat(path, &theirs) < 0) {
			if (errno == ENOENT)
				continue;	/* a kernel without that kind */
			errno_msg(errno, "run: %s", path);
			return EXIT_NOTARGET;
		}
		snprintf(path, sizeof(path), "/proc/self/ns/%s", kinds[i]);
		if (stat(path, &mine) < 0) {
			errno_msg(errno, "run: %s", path);
			return EXIT_INTERNAL;
		}
		if (mine.st_dev != theirs.st_dev || mine.st_ino != theirs.st_ino) {
			error_msg("run PID %d (%s): it runs in a %s namespace of its own, which its "
				  "copy would not (run makes it in run's): not checkpointed",
				  (int)k->pid, k->comm, kinds[i]);
			return EXIT_CONTRACT;
		}
	}
	return EXIT_OK;
}

/*
 * PROG stopped for us: write a checkpoint of it.  With let_go (a ptrace
 * request), PROG may go on as soon as a delta's bytes are taken
 * (k->let_go_done says it did); else it stays stopped.  An exit status,
 * said; on failure nothing was published, and the next is a base.  *again
 * when it runs another program than when its writes were first tracked (it
 * exec'd): their tracking ended, and a checkpoint taken again is a base.
 */
static int checkpoint_try(struct keeper *k, long let_go, bool *again)
{
	struct checkpoint_file f = { .seq = k->next };
	struct timespec t0, t1;
	struct image im;
	struct runs none = { 0 };
	char size[32], why[512];
	int status, err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	k->let_go = let_go;
	k->let_go_done = false;
	status = same_namespaces(k);
	if (status != EXIT_OK)
		return status;
	start_tracking(k);
	if (k->tracking && want_base(k))
		precopy_rebase(&k->pc);
	status = target_capture("run", k->pid, TARGET_ATTACHED |
				(k->tracking ? TARGET_NO_PAGES : 0) |
				(k->o->drop_fds ? TARGET_DROP_FDS : 0), NULL, &im);
	if (status != EXIT_OK)
		return status;
	/* As the kernel names it now (it may have exec'd). */
	escape_text(k->comm, sizeof(k->comm), im.state.comm, sizeof(im.state.comm));
	if (drop_ours(k, &im) && !k->tracking && (err = image_layout(&im))) {
		errno_msg(-err, "run: laying out the checkpoint of PID %d", (int)k->pid);
		image_free(&im);
		return EXIT_INTERNAL;
	}
	if (k->tracking && (err = precopy_checkpoint(&k->pc, &im))) {
		if (err == -ESRCH)
			error_msg("run: PID %d (%s) runs another program than when its writes were "
				  "first tracked: this checkpoint stores all its memory", (int)k->pid,
				  k->comm);
		else
			errno_msg(-err, "run: PID %d: planning its checkpoint; its next one stores "
				  "all its memory", (int)k->pid);
		*again = err == -ESRCH;
		precopy_end(&k->pc);
		k->tracking = false;
		image_free(&im);
		return EXIT_INTERNAL;
	}
	f.delta = im.state.flags & IMAGE_STATE_DELTA;
	status = write_checkpoint(k, &f, &im);
	if (status != EXIT_OK) {
		if (k->tracking)
			precopy_rebase(&k->pc);
		image_free(&im);
		return status;
	}
	if (k->let_go_done)
		t1 = k->released;
	else
		clock_gettime(CLOCK_MONOTONIC, &t1);
	k->next++;
	if (f.delta) {
		k->deltas++;
		k->delta_bytes += image_stored_bytes(&im);
	} else {
		k->deltas = 0;
		k->delta_bytes = 0;
		k->base_bytes = image_stored_bytes(&im);
	}
	error_msg("run: checkpoint %u of PID %d (%s) in %s: %s %s, stopped %.0f ms", f.seq,
		  (int)k->pid, k->comm, k->o->dir, f.delta ? "a delta of" : "a base of",
		  human_size(image_stored_bytes(&im), size),
		  (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	if (k->tracking)
		precopy_held(&k->pc, &im, &none);
	image_free(&im);
	/* A base replaces the chain before it. */
	if (!f.delta && checkpoint_prune(&k->dir, f.seq, why, sizeof(why)))
		error_msg("run: %s", why);
	if (f.delta)
		maybe_compact(k, f.seq);
	return EXIT_OK;
}

/* PROG stopped for us: write a checkpoint of it (checkpoint_try), taken
 * again as a base when it exec'd since its writes were first tracked. */
static int checkpoint(struct keeper *k, long let_go)
{
	bool again = false;
	int status = checkpoint_try(k, let_go, &again);

	return again ? checkpoint_try(k, let_go, &again) : status;
}

/* PROG ended by itself: its checkpoints are of a program that is no more,
 * and the next run starts afresh. */
static void forget_checkpoints(struct keeper *k)
{
	char why[512];

	stop_compactor(k);
	if (checkpoint_clear(&k->dir, why, sizeof(why)))
		error_msg("run: %s", why);
}

/* Our status for PROG's wait status. */
static int ended(struct keeper *k, int st)
{
	if (WIFEXITED(st)) {
		forget_checkpoints(k);
		return WEXITSTATUS(st);
	}
	error_msg("run: PID %d (%s) died of signal %d (%s); its checkpoints in %s are kept",
		  (int)k->pid, k->comm, WTERMSIG(st), strsignal(WTERMSIG(st)), k->o->dir);
	return 128 + WTERMSIG(st);
}

/* What the loop is waiting to do at PROG's next interrupt stop. */
struct wants {
	bool final, periodic, interrupted;
};

/*
 * An interrupt stop: checkpoint as wanted.  EXIT_CHECKPOINTED when PROG was
 * checkpointed and ended; -1 to carry on.
 */
static int at_interrupt(struct keeper *k, struct wants *w, long go_on)
{
	int status;

	w->interrupted = false;
	k->let_go_done = false;
	if (w->final) {
		w->final = w->periodic = false;
		status = checkpoint(k, 0);
		if (status == EXIT_OK) {
			/* Our child, stopped for us: it ends here, and is reaped. */
			if (kill(k->pid, SIGKILL) < 0)
				errno_msg(errno, "run: ending PID %d", (int)k->pid);
			while (waitpid(k->pid, NULL, __WALL) < 0 && errno == EINTR)
				;
			error_msg("run: PID %d (%s) is checkpointed in %s and ended; the same "
				  "command carries on from there", (int)k->pid, k->comm, k->o->dir);
			/* (Where the tests signal run as it ends.) */
			test_point("run-checkpointed");
			return EXIT_CHECKPOINTED;
		}
		error_msg("run: PID %d (%s) carries on without its checkpoint", (int)k->pid,
			  k->comm);
		return -1;
	}
	if (w->periodic) {
		w->periodic = false;
		(void)checkpoint(k, go_on);	/* said; PROG carries on either way */
	}
	return -1;
}

/* Interrupt PROG once for what w wants. */
static int interrupt(struct keeper *k, struct wants *w)
{
	if (w->interrupted || !(w->final || w->periodic))
		return 0;
	if (ptrace(PTRACE_INTERRUPT, k->pid, 0, 0) < 0)
		return errno == ESRCH ? 0 : -errno;
	w->interrupted = true;
	return 0;
}

/* Is PROG's signal-delivery stop for our SIGCONT (our_wake)? */
static bool is_our_wake(const struct keeper *k, int sig)
{
	siginfo_t si;

	return sig == SIGCONT && ptrace(PTRACE_GETSIGINFO, k->pid, 0, &si) == 0 && our_wake(&si);
}

/*
 * Take PROG's reports until none is waiting: a status to exit with, or -1
 * to go on waiting.
 */
static int take_reports(struct keeper *k, struct wants *w)
{
	for (;;) {
		int st, event, sig, status;
		long req = PTRACE_CONT, data = 0;
		pid_t got = waitpid(k->pid, &st, __WALL | WNOHANG);

		if (got == 0)
			return -1;
		if (got < 0) {
			if (errno == EINTR)
				continue;
			errno_msg(errno, "run: waiting for PID %d", (int)k->pid);
			return EXIT_INTERNAL;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return ended(k, st);
		event = (unsigned)st >> 16;
		/* (Each of PROG's stops is ours: a checkpoint at a later one
		 * within the same call must know the call.) */
		tracee_note_call(k->pid);
		sig = WSTOPSIG(st);
		if (event == PTRACE_EVENT_STOP && signal_is_stop(sig) && !w->interrupted) {
			req = PTRACE_LISTEN;	/* a group stop: stays stopped till SIGCONT */
		} else if (event == PTRACE_EVENT_STOP) {
			if (signal_is_stop(sig))
				req = PTRACE_LISTEN;
			status = at_interrupt(k, w, req);
			if (status >= 0)
				return status;
			if (k->let_go_done)
				continue;	/* it went on while its delta was written */
		} else if (event == PTRACE_EVENT_EXEC) {
			/* What no checkpoint could take is said as it starts, not
			 * at the first checkpoint, which may be hours away. */
			if (target_preflight("run", k->pid, TARGET_ATTACHED |
					     (k->o->drop_fds ? TARGET_DROP_FDS : 0)) != EXIT_OK)
				error_msg("run: PID %d (%s) runs, but no checkpoint of it can be taken "
					  "until that changes", (int)k->pid, k->comm);
		} else if (!event && sig == k->o->signal) {
			/* Never PROG's death: a checkpoint, at the stop that follows. */
			w->final = true;
			if (interrupt(k, w))
				errno_msg(errno, "run: stopping PID %d", (int)k->pid);
		} else if (!event && !is_our_wake(k, sig)) {
			data = sig;		/* a signal for PROG: deliver it */
		}
		if (ptrace(req, k->pid, 0, data) < 0 && errno != ESRCH) {
			errno_msg(errno, "run: letting PID %d go on", (int)k->pid);
			return EXIT_INTERNAL;
		}
	}
}

/* Follow PROG until it ends or is checkpointed and ended: run's status. */
static int supervise(struct keeper *k, int sigfd)
{
	struct itimerspec every = { 0 };
	struct wants w = { 0 };
	int tfd = -1, status = -1;

	if (k->o->every_ms) {
		every.it_interval.tv_sec = k->o->every_ms / 1000;
		every.it_interval.tv_nsec = (k->o->every_ms % 1000) * 1000000L;
		every.it_value = every.it_interval;
		tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (tfd < 0 || timerfd_settime(tfd, 0, &every, NULL) < 0) {
			errno_msg(errno, "run: a timer for --every");
			return EXIT_INTERNAL;
		}
	}
	/* Reports that came before the signalfd could say so. */
	status = take_reports(k, &w);
	while (status < 0) {
		struct pollfd pfd[2] = { { .fd = sigfd, .events = POLLIN },
					 { .fd = tfd, .events = POLLIN } };
		struct signalfd_siginfo si;
		uint64_t ticks;

		if (poll(pfd, tfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			errno_msg(errno, "run: waiting for PID %d", (int)k->pid);
			status = EXIT_INTERNAL;
			break;
		}
		if (tfd >= 0 && (pfd[1].revents & POLLIN) && read(tfd, &ticks, sizeof(ticks)) > 0)
			w.periodic = true;
		while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
			if ((int)si.ssi_signo == k->o->signal)
				w.final = true;
			else if (si.ssi_signo != SIGCHLD)
				kill(k->pid, si.ssi_signo);	/* PROG's to take */
		}
		reap_compactor(k, false);
		if (interrupt(k, &w))
			errno_msg(errno, "run: stopping PID %d", (int)k->pid);
		status = take_reports(k, &w);
	}
	if (tfd >= 0)
		close(tfd);
	return status;
}

/* How a chain's resume failed: the images (another, older chain may do),
 * or something else (no older one would do better). */
enum resume_failure { RESUME_OK, RESUME_BAD_IMAGE, RESUME_FAILED };

/* Read and check the head of checkpoint f, to follow first (NULL: f is the
 * chain's base). */
static enum resume_failure read_checkpoint(struct keeper *k, const struct checkpoint_file *f,
					   const struct image *first, struct stream *in,
					   struct image *im)
{
	char why[512], name[32];
	struct stat st;
	int err;

	checkpoint_name(f, name);
	memset(im, 0, sizeof(*im));
	in->fd = checkpoint_open_file(&k->dir, f, why, sizeof(why));
	if (in->fd < 0) {
		error_msg("run: %s", why);
		return RESUME_FAILED;
	}
	in->pos = 0;
	err = fstat(in->fd, &st) < 0 ? -errno : image_read_head(im, in, st.st_size);
	if (err == -EBADMSG || err == -EFBIG) {
		error_msg("run: %s/%s: invalid image: %s", k->o->dir, name, im->why);
		return RESUME_BAD_IMAGE;
	}
	if (err) {
		errno_msg(-err, "run: reading %s/%s", k->o->dir, name);
		return RESUME_FAILED;
	}
	if (im->state.flags & IMAGE_STATE_LIVE ||
	    !(im->state.flags & IMAGE_STATE_DELTA) != !first) {
		error_msg("run: %s/%s: invalid image: not a %s", k->o->dir, name,
			  first ? "delta" : "whole image");
		return RESUME_BAD_IMAGE;
	}
	if (first && !image_same_source(first, im)) {
		error_msg("run: %s/%s: invalid image: not of the process of the checkpoint it "
			  "follows (PID %d, stack at %#llx there; PID %d, stack at %#llx here)",
			  k->o->dir, name, (int)first->state.source_pid,
			  (unsigned long long)first->mm.rec.start_stack, (int)im->state.source_pid,
			  (unsigned long long)im->mm.rec.start_stack);
		return RESUME_BAD_IMAGE;
	}
	if (first && !image_same_creds(first, im)) {
		error_msg("run: %s/%s: invalid image: its process ran as another user than in the "
			  "checkpoint it follows", k->o->dir, name);
		return RESUME_BAD_IMAGE;
	}
	return RESUME_OK;
}

/*
 * Let the copy r built go from the restorer's ptrace into ours without a
 * moment of its own: a scheduler signals every process of the job, the
 * copy too, and a signal of that moment must find us its tracer (a
 * checkpoint), never the program's handler or its death.  So it is held in
 * a group stop (restore_hold: a signal that came during the resume waits in
 * its queue), let go there, seized, and only then continued (unless its
 * source was stopped).  0 or -errno.
 */
static int take_over(struct remote *r, const struct image *im)
{
	bool wake;
	int err = restore_hold(r, im, &wake);

	if (!err)
		err = ptrace_detach(r->pid, 0);
	/* (Where the tests signal it between the two tracers.) */
	test_point("run-let-go");
	if (!err && ptrace(PTRACE_SEIZE, r->pid, 0, 0) < 0)
		err = -errno;
	if (!err && wake && kill(r->pid, SIGCONT) < 0)
		err = -errno;
	return err;
}

/* Build PROG from the chain l->file[from..upto] and let it run under our
 * hold; k->pid. */
static enum resume_failure resume_chain(struct keeper *k, const struct checkpoint_list *l,
					size_t from, size_t upto)
{
	struct image first = { 0 }, prev = { 0 }, next = { 0 };
	struct stream in = { .fd = -1 };
	struct restore_result res = { 0 };
	struct remote r = { 0 };
	struct creds creds = { 0 };
	enum resume_failure fail;
	char why[512], when[64];
	int err = 0;

	fail = read_checkpoint(k, &l->file[from], NULL, &in, &first);
	if (fail == RESUME_OK && restore_credentials(&first, NULL, &creds, why, sizeof(why))) {
		error_msg("run: cannot resume from %s: %s", k->o->dir, why);
		fail = RESUME_FAILED;
	}
	if (fail != RESUME_OK)
		goto out;
	r.creds = &creds;
	r.reopen_changed = k->o->reopen_changed;
	/* Its open files are looked at with the last image only, as a live
	 * send's are: an earlier one's record of a log it appends to is older
	 * than the log (LIVE, in memory only: more images follow). */
	if (upto > from)
		first.state.flags |= IMAGE_STATE_LIVE;
	err = restore_preflight(&first, &res) || restore_begin(&first, &in, &r, &res);
	close(in.fd);
	in.fd = -1;
	for (size_t i = from + 1; !err && i <= upto; i++) {
		fail = read_checkpoint(k, &l->file[i], &first, &in, &next);
		if (fail != RESUME_OK) {
			remote_kill(&r);
			image_free(&next);
			goto out;
		}
		if (i < upto)
			next.state.flags |= IMAGE_STATE_LIVE;
		/* The last one says what this machine must have (restore_finish). */
		if (i == upto && (err = restore_preflight(&next, &res)))
			remote_kill(&r);
		else
			err = restore_update(&next, i == from + 1 ? &first : &prev, &in, &r, &res);
		close(in.fd);
		in.fd = -1;
		image_free(&prev);
		prev = next;
		next = (struct image){ 0 };
	}
	if (!err)
		err = restore_finish(upto == from ? &first : &prev, &r, &res);
	if (err) {
		error_msg("run: cannot resume from %s: %s%s", k->o->dir,
			  res.failure == RESTORE_BAD_IMAGE ? "invalid image: " : "", res.why);
		fail = res.failure == RESTORE_BAD_IMAGE ? RESUME_BAD_IMAGE : RESUME_FAILED;
		goto out;
	}
	if (res.warning[0])
		error_msg("run: the resumed copy has less than its source: %s", res.warning);
	err = take_over(&r, upto == from ? &first : &prev);
	if (err) {
		errno_msg(-err, "run: starting the resumed PID %d", (int)r.pid);
		kill(r.pid, SIGKILL);
		waitpid(r.pid, NULL, __WALL);
		fail = RESUME_FAILED;
		goto out;
	}
	k->pid = r.pid;
	/* It goes on with its call in restart_syscall (timedwait.h): which
	 * call, for its checkpoints. */
	tracee_saw_call(r.pid, (long long)(upto == from ? first : prev).regs.orig_rax,
			(upto == from ? first : prev).regs.rip);
	escape_text(k->comm, sizeof(k->comm), first.state.comm, sizeof(first.state.comm));
	{
		time_t at = (time_t)(upto == from ? first : prev).state.frozen_at;
		char host[ESCAPED_SIZE(sizeof(first.state.hostname))];

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&at));
		escape_text(host, sizeof(host), (upto == from ? first : prev).state.hostname,
			    sizeof(first.state.hostname));
		char chain[48] = "a base";

		if (upto > from)
			snprintf(chain, sizeof(chain), "a base and %zu delta%s", upto - from,
				 upto - from == 1 ? "" : "s");
		error_msg("run: resumed %s from checkpoint %u in %s (taken %s on %s; %s) as PID %d",
			  k->comm, l->file[upto].seq, k->o->dir, when, host, chain, (int)k->pid);
	}
out:
	if (in.fd >= 0)
		close(in.fd);
	image_free(&first);
	image_free(&prev);
	creds_free(&creds);
	return fail;
}

/* Say why no chain leads to checkpoint l->file[upto], passed over for an
 * older one: never silently. */
static void say_no_chain(const struct keeper *k, const struct checkpoint_list *l, size_t upto)
{
	size_t i = upto;

	while (i > 0 && l->file[i].delta && l->file[i - 1].seq + 1 == l->file[i].seq)
		i--;
	if (l->file[i].delta && i > 0)
		error_msg("run: checkpoint %u in %s cannot be resumed: checkpoint %u before it is "
			  "missing; passed over", l->file[upto].seq, k->o->dir, l->file[i].seq - 1);
	else
		error_msg("run: checkpoint %u in %s cannot be resumed: no base before it; passed "
			  "over", l->file[upto].seq, k->o->dir);
}

/*
 * Resume from the newest chain that reads as sound; older ones only while
 * the newer ones' images are bad.  EXIT_OK with k->pid; -1 when DIR holds
 * no checkpoint; another exit status, said.
 */
static int resume(struct keeper *k)
{
	struct checkpoint_list l;
	size_t passed_over = 0;
	char why[512];
	int status = -1;

	if (checkpoint_list(&k->dir, &l, why, sizeof(why))) {
		error_msg("run: %s", why);
		return EXIT_IO;
	}
	k->next = l.next;
	for (size_t upto = l.count; upto-- > 0;) {
		long from = checkpoint_chain_start(&l, upto);
		enum resume_failure fail;

		if (from < 0) {
			if (!passed_over++)
				say_no_chain(k, &l, upto);
			continue;
		}
		fail = resume_chain(k, &l, (size_t)from, upto);
		if (fail == RESUME_OK) {
			status = EXIT_OK;
			break;
		}
		if (fail == RESUME_FAILED) {
			status = EXIT_RESTORE;
			break;
		}
		status = EXIT_IMAGE;	/* unless an older one does */
	}
	if (status == -1 && l.count) {
		error_msg("run: %s holds checkpoints but no chain a program can resume from "
			  "(no base before them, or one missing)", k->o->dir);
		status = EXIT_IMAGE;
	}
	if (status != EXIT_OK && status != -1)
		error_msg("run: %s is left as it is; nothing was started", k->o->dir);
	checkpoint_list_free(&l);
	return status;
}

int run_checkpointed(const struct checkpoint_opts *o, char **argv)
{
	struct keeper k = { .o = o, .t.pidfd = -1,
			    .pc = { .dirty = { .uffd = -1, .pagemap = -1 }, .pagemap = -1,
				    .mem = -1, .maps = -1 } };
	sigset_t set, old_mask;
	char why[512];
	bool same;
	int sigfd, status, err, st;

	if (checkpoint_open(&k.dir, o->dir, why, sizeof(why))) {
		error_msg("run: %s", why);
		return EXIT_IO;
	}
	if (checkpoint_command(&k.dir, argv, &same, why, sizeof(why))) {
		error_msg("run: %s", why);
		checkpoint_close(&k.dir);
		return EXIT_IO;
	}
	if (!same) {
		char held[512] = "", cmd[4096];
		size_t len = 0;

		/* Which, as the user would type it (each argument escaped). */
		if (checkpoint_read_command(&k.dir, cmd, sizeof(cmd), &len, why, sizeof(why)) == 0)
			for (size_t at = 0, n = 0; at < len && n < sizeof(held) - 1;
			     at += strlen(cmd + at) + 1) {
				char arg[ESCAPED_SIZE(64)];

				escape_text(arg, sizeof(arg), cmd + at, strnlen(cmd + at, 64));
				n += snprintf(held + n, sizeof(held) - n, "%s%s", n ? " " : "", arg);
			}
		error_msg("run: %s holds checkpoints of another command than this one (%s); give "
			  "another directory, or remove that one", o->dir, held[0] ? held : "?");
		checkpoint_close(&k.dir);
		return EXIT_USAGE;
	}
	/* Every signal that matters comes through one fd, from now on. */
	keeper_signals(o, &set);
	sigprocmask(SIG_BLOCK, &set, &old_mask);
	sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0) {
		errno_msg(errno, "run: a signalfd");
		status = EXIT_INTERNAL;
		goto out;
	}
	status = resume(&k);
	if (status == -1) {
		const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

		/* As the kernel names it (comm): what a resume will say. */
		escape_text(k.comm, sizeof(k.comm), name, strnlen(name, 15));
		/* PTRACE_O_TRACEEXEC: a look at what it holds once it is PROG. */
		err = start_program(argv, &old_mask, NULL, PTRACE_O_TRACEEXEC, &k.pid, &st);
		if (err == -ECHILD) {
			status = WIFEXITED(st) ? WEXITSTATUS(st) : EXIT_INTERNAL;
			goto out;
		}
		if (err) {
			errno_msg(-err, "run: starting %s", argv[0]);
			status = EXIT_INTERNAL;
			goto out;
		}
		status = EXIT_OK;
	}
	if (status != EXIT_OK)
		goto out;
	err = hold(&k);
	if (err) {
		errno_msg(-err, "run: PID %d", (int)k.pid);
		status = EXIT_INTERNAL;
		kill(k.pid, SIGKILL);
		waitpid(k.pid, NULL, __WALL);
		goto out;
	}
	status = supervise(&k, sigfd);
out:
	free(k.spool.data);
	stop_compactor(&k);
	if (k.tracking)
		precopy_end(&k.pc);
	if (k.t.pidfd >= 0)
		close(k.t.pidfd);
	if (sigfd >= 0)
		close(sigfd);
	checkpoint_close(&k.dir);
	/* The signals stay blocked: run exits with status now, and one still
	 * pending (a scheduler's SIGTERM to every process of the job, which
	 * the checkpoint took already through PROG's) must not end it with
	 * another. */
	return status;
}
