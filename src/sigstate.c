#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procfs.h"
#include "ptrace.h"
#include "seccomp.h"
#include "sigstate.h"
#include "testpoint.h"

#define BIT(sig)	(1ULL << ((sig) - 1))
#define KERNEL_SS_ONSTACK	1	/* sigaltstack(2): it runs on that stack now */
#define KERNEL_SA_ONSTACK	0x08000000UL	/* its handler runs on the alternate stack */

/* The kernel's struct sigaction for rt_sigaction(2) on x86-64. */
struct ksigaction {
	uint64_t handler, flags, restorer, mask;
};

/* stack_t */
struct kstack {
	uint64_t sp;
	int32_t flags;
	int32_t pad;
	uint64_t size;
};

static const char *const timer_names[IMAGE_NTIMERS] = { "real", "virtual", "profiling" };

int sigstate_dispositions(pid_t pid, uint64_t *caught, uint64_t *ignored)
{
	char *text;
	int err = procfs_read_file(pid, "status", &text, NULL);

	if (err)
		return err;
	if (procfs_status_number(text, "SigCgt", 16, caught) != 1 ||
	    procfs_status_number(text, "SigIgn", 16, ignored) != 1)
		err = -EINVAL;
	free(text);
	return err;
}

int sigstate_posix_timers(pid_t pid, unsigned *count)
{
	char *text;
	int err = procfs_read_file(pid, "timers", &text, NULL);

	*count = 0;
	if (err)
		return err;
	/* One "ID: N" line opens each timer's lines. */
	for (const char *line = text; line && *line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (!strncmp(line, "ID:", 3))
			(*count)++;
	}
	free(text);
	return 0;
}

/* One call that answers 0; -errno otherwise. */
static int call0(struct inject *in, long nr, long a1, long a2, long a3, long a4)
{
	long ret;
	int err = inject_call(in, &ret, nr, a1, a2, a3, a4);

	if (err)
		return err;
	return ret < 0 ? (int)ret : ret ? -EPROTO : 0;
}

/*
 * What needs asking, from /proc and the mask: each call is a moment in
 * which a contmig killed would take the process with it (inject.h), so it
 * gets no more than its state needs.  An ignored signal's action is known
 * (flags and mask mean nothing to it).  The alternate stack matters to a
 * handler that runs on it (SA_ONSTACK).  A timer matters unless its signal
 * is ignored; ITIMER_VIRTUAL's and ITIMER_PROF's only to a process that
 * catches or blocks theirs (CPU-time watchdogs that end it are rlimits'
 * work: RLIMIT_CPU travels with its restrictions).
 */
struct plan {
	uint64_t caught, ignored;
	bool timer[IMAGE_NTIMERS];
};

static int plan_calls(pid_t pid, struct plan *p)
{
	static const int timer_signal[IMAGE_NTIMERS] = { SIGALRM, SIGVTALRM, SIGPROF };
	uint64_t blocked;
	int err = sigstate_dispositions(pid, &p->caught, &p->ignored);

	if (!err)
		err = ptrace_get_sigmask(pid, &blocked);
	if (err)
		return err;
	p->caught &= ~(BIT(SIGKILL) | BIT(SIGSTOP));
	p->ignored &= ~(BIT(SIGKILL) | BIT(SIGSTOP));
	for (int i = 0; i < IMAGE_NTIMERS; i++)
		p->timer[i] = i == IMAGE_ITIMER_REAL ? !(p->ignored & BIT(SIGALRM)) :
			      !!((p->caught | blocked) & BIT(timer_signal[i]));
	return 0;
}

static bool plan_has_calls(const struct plan *p)
{
	return p->caught || p->timer[IMAGE_ITIMER_REAL] || p->timer[IMAGE_ITIMER_VIRTUAL] ||
	       p->timer[IMAGE_ITIMER_PROF];
}

/* The action of each signal it catches (asked) or ignores (known). */
static int read_actions(struct inject *in, const struct plan *p, struct image_sigactions *sa,
			char *why, size_t why_len)
{
	for (unsigned sig = 1; sig <= IMAGE_MAX_SIGNAL; sig++) {
		struct ksigaction k = { .handler = (uint64_t)(uintptr_t)SIG_IGN };
		int err;

		if (!((p->caught | p->ignored) & BIT(sig)))
			continue;
		if (p->caught & BIT(sig)) {
			err = call0(in, SYS_rt_sigaction, sig, 0, in->scratch, sizeof(k.mask));
			if (!err)
				err = inject_get(in, 0, &k, sizeof(k));
			if (err)
				return say_why(err, why, why_len, "asking it for its action on "
					       "signal %u at %#lx: %s", sig, in->insn,
					       strerror(-err));
		}
		sa->act[sa->head.count++] = (struct image_sigaction_rec){
			.signo = sig, .handler = k.handler, .flags = k.flags,
			.restorer = k.restorer, .mask = k.mask };
	}
	return 0;
}

static int read_altstack(struct inject *in, struct image_sigactions *sa, char *why,
			 size_t why_len)
{
	struct kstack k;
	int err = call0(in, SYS_sigaltstack, 0, in->scratch, 0, 0);

	if (!err)
		err = inject_get(in, 0, &k, sizeof(k));
	if (err)
		return say_why(err, why, why_len, "asking it for its alternate signal stack: %s",
			       strerror(-err));
	if (k.flags & IMAGE_SS_DISABLE) {
		sa->head.ss_flags = IMAGE_SS_DISABLE;
	} else {
		sa->head.ss_sp = k.sp;
		sa->head.ss_size = k.size;
		sa->head.ss_flags = (uint32_t)k.flags & ~KERNEL_SS_ONSTACK;
	}
	return 0;
}

static int read_timers(struct inject *in, const struct plan *p, struct image_timers *tm,
		       char *why, size_t why_len)
{
	for (int which = 0; which < IMAGE_NTIMERS; which++) {
		int err;

		if (!p->timer[which])
			continue;
		err = call0(in, SYS_getitimer, which, in->scratch, 0, 0);

		if (!err)
			err = inject_get(in, 0, &tm->timer[which], sizeof(tm->timer[which]));
		if (err)
			return say_why(err, why, why_len, "asking it for its %s interval timer: %s",
				       timer_names[which], strerror(-err));
	}
	return 0;
}

/*
 * Whether our calls may run in it: its seccomp filters or strict mode could
 * refuse them or kill it, unless suspended, which takes what reading its
 * filters takes.  contmig run's own filter alone lets them through.
 */
static int may_call(pid_t pid, bool *suspend, char *why, size_t why_len)
{
	struct seccomp_status st;
	int err = seccomp_read_status(pid, &st);

	if (err)
		return say_why(err, why, why_len, "reading its seccomp state: %s", strerror(-err));
	*suspend = st.mode && seccomp_may_read_filters();
	if (!st.mode || *suspend || (st.mode == SECCOMP_MODE_FILTER && st.filters == 1))
		return 0;
	return say_why(-EBADMSG, why, why_len, "its seccomp %s would refuse (or kill it for) the "
		       "calls that read its signal actions and timers; only a freeze with "
		       "CAP_SYS_ADMIN (root), itself under no seccomp, can set it aside",
		       st.mode == SECCOMP_MODE_STRICT ? "strict mode" : "filters");
}

/* Does a handler run on the alternate stack? */
static bool onstack_handler(const struct image_sigactions *sa)
{
	for (size_t i = 0; i < sa->head.count; i++)
		if (sa->act[i].handler != (uint64_t)(uintptr_t)SIG_IGN &&
		    sa->act[i].flags & KERNEL_SA_ONSTACK)
			return true;
	return false;
}

/* Ask t, through in, what p says needs asking. */
static int ask(struct inject *in, const struct plan *p, struct image_sigactions *sa,
	       struct image_timers *tm, char *why, size_t why_len)
{
	int err = read_actions(in, p, sa, why, why_len);

	/* (Where the tests kill a contmig mid-way: the process is ours now.) */
	test_point("sigstate-asking");
	if (!err && onstack_handler(sa))
		err = read_altstack(in, sa, why, why_len);
	if (!err)
		err = read_timers(in, p, tm, why, why_len);
	return err;
}

int sigstate_collect(struct tracee *t, struct image_sigactions *sa, struct image_timers *tm,
		     char *why, size_t why_len)
{
	unsigned long insn;
	struct inject in = { 0 };
	struct plan p;
	bool suspend;
	int err, back;

	memset(sa, 0, sizeof(*sa));
	memset(tm, 0, sizeof(*tm));
	sa->head.ss_flags = IMAGE_SS_DISABLE;	/* unless a handler runs on one */
	err = plan_calls(t->pid, &p);
	if (err)
		return say_why(err, why, why_len, "reading its signal dispositions and mask: %s",
			       strerror(-err));
	if (!plan_has_calls(&p)) {
		/* Only ignored signals, known from /proc: nothing to ask. */
		err = read_actions(NULL, &p, sa, why, why_len);
		if (!err)
			sa->known = tm->known = true;
		return err;
	}
	err = may_call(t->pid, &suspend, why, why_len);
	if (err)
		return err;
	err = inject_find_insn_of(t->pid, &insn);
	if (err)
		return say_why(err == -ENOENT ? -EBADMSG : err, why, why_len, "%s",
			       err == -ENOENT ? "no syscall instruction in its code to ask it for "
			       "its signal actions and timers at" : strerror(-err));
	err = inject_source_begin(&in, t, insn, suspend, SIGSTATE_SCRATCH);
	if (err)
		say_why(err, why, why_len, "preparing to ask it for its signal actions at %#lx "
			"(below its stack pointer %#llx): %s", insn, in.regs.rsp, strerror(-err));
	else
		err = ask(&in, &p, sa, tm, why, why_len);
	back = inject_source_end(&in, t);
	if (back)
		return say_why(back, why, why_len, "putting it back as it was after asking it for "
			       "its signal actions and timers: %s", strerror(-back));
	if (err)
		return err;
	sa->known = tm->known = true;
	return 0;
}

/* What the helper of sigstate_collect_apart says, in one write. */
struct apart_answer {
	int err, seize_err;
	struct sigstate_read r;
	char why[256];
};

/* In the helper: stop the process, ask, let it go, answer on fd. */
ATTR_NORETURN static void ask_apart(const struct tracee *t, int timeout_ms, int fd)
{
	static const int terminal_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE };
	struct tracee h = { .pid = t->pid, .pidfd = t->pidfd };
	struct apart_answer a;
	const char *at = (const char *)&a;
	size_t left = sizeof(a);
	int back;

	memset(&a, 0, sizeof(a));
	for (size_t i = 0; i < sizeof(terminal_signals) / sizeof(terminal_signals[0]); i++)
		signal(terminal_signals[i], SIG_IGN);
	/* Out of contmig's process group: a kill -9 of the whole job (kill -9
	 * %1, timeout -s KILL) ends contmig, not a helper that holds the process
	 * mid-call (PTRACE_O_EXITKILL: its death would end the process too). */
	(void)setpgid(0, 0);
	a.r.call_nr = -1;
	a.seize_err = tracee_seize(&h, 0, timeout_ms);
	if (!a.seize_err)
		a.r.call_nr = tracee_last_call(h.pid, &a.r.call_rip);
	if (!a.seize_err) {
		a.err = sigstate_dispositions(h.pid, &a.r.caught, &a.r.ignored);
		if (a.err)
			say_why(a.err, a.why, sizeof(a.why), "reading its signal dispositions: %s",
				strerror(-a.err));
		else
			a.err = sigstate_collect(&h, &a.r.sa, &a.r.tm, a.why, sizeof(a.why));
		back = tracee_detach(&h);
		if (back && !a.err)
			a.err = say_why(back, a.why, sizeof(a.why), "letting it go after asking it "
					"for its signal actions: %s", strerror(-back));
	}
	while (left) {
		ssize_t n = write(fd, at, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;		/* the parent sees a short answer */
		at += n;
		left -= n;
	}
	_exit(0);
}

int sigstate_collect_apart(const struct tracee *t, int timeout_ms, struct sigstate_read *out,
			   int *seize_err, char *why, size_t why_len)
{
	struct apart_answer a;
	size_t got = 0;
	int p[2], status, err = 0;
	pid_t helper;

	*seize_err = 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return say_why(-errno, why, why_len, "a pipe to the helper that asks it for its "
			       "signal actions: %s", strerror(errno));
	helper = fork();
	if (helper == 0) {
		close(p[0]);
		ask_apart(t, timeout_ms, p[1]);
	}
	if (helper < 0)
		err = -errno;
	close(p[1]);
	while (!err && got < sizeof(a)) {
		ssize_t n = read(p[0], (char *)&a + got, sizeof(a) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(p[0]);
	while (helper > 0 && waitpid(helper, &status, 0) < 0 && errno == EINTR)
		;
	if (err)
		return say_why(err, why, why_len, "starting the helper that asks it for its signal "
			       "actions: %s", strerror(-err));
	if (got != sizeof(a))
		return say_why(-EPROTO, why, why_len, "the helper that asks it for its signal "
			       "actions died without an answer");
	a.why[sizeof(a.why) - 1] = '\0';
	*seize_err = a.seize_err;
	if (a.seize_err)
		return a.seize_err;
	if (a.err) {
		snprintf(why, why_len, "%s", a.why);
		return a.err;
	}
	*out = a.r;
	return 0;
}

bool sigstate_still(pid_t pid, const struct sigstate_read *r)
{
	uint64_t caught, ignored;

	return !sigstate_dispositions(pid, &caught, &ignored) && caught == r->caught &&
	       ignored == r->ignored;
}

/*
 * The time to arm timer which with in the copy; 0: none.  An ITIMER_REAL
 * that has expired is idle until its SIGALRM is taken (dequeue_signal()
 * re-arms it then, for its interval): it reads as 0 left with an interval,
 * which setitimer(2) cannot set (0 left disarms it).  Its copy is armed for
 * one interval, with that SIGALRM pending if the image holds it.
 */
static const int64_t *time_left(const struct image_itimer_rec *t, int which)
{
	if (t->value_sec || t->value_usec)
		return &t->value_sec;
	if (which == IMAGE_ITIMER_REAL && (t->interval_sec || t->interval_usec))
		return &t->interval_sec;
	return NULL;
}

bool sigstate_wanted(const struct image_sigactions *sa, const struct image_timers *tm)
{
	for (int i = 0; tm->known && i < IMAGE_NTIMERS; i++)
		if (time_left(&tm->timer[i], i))
			return true;
	return sa->known && (sa->head.count || !(sa->head.ss_flags & IMAGE_SS_DISABLE));
}

static int set_actions(struct inject *in, const struct image_sigactions *sa, char *why,
		       size_t why_len)
{
	for (size_t i = 0; i < sa->head.count; i++) {
		const struct image_sigaction_rec *a = &sa->act[i];
		struct ksigaction k = { a->handler, a->flags, a->restorer, a->mask };
		int err = inject_put(in, 0, &k, sizeof(k));

		if (!err)
			err = call0(in, SYS_rt_sigaction, a->signo, in->scratch, 0, sizeof(k.mask));
		if (err)
			return say_why(err, why, why_len, "setting the action of signal %u (handler "
				       "%#lx, flags %#lx): %s", a->signo, (unsigned long)a->handler,
				       (unsigned long)a->flags, strerror(-err));
	}
	return 0;
}

static int set_altstack(struct inject *in, const struct image_sigactions *sa, char *why,
			size_t why_len)
{
	struct kstack want = { .sp = sa->head.ss_sp, .flags = (int32_t)sa->head.ss_flags,
			       .size = sa->head.ss_size }, got;
	int err;

	if (sa->head.ss_flags & IMAGE_SS_DISABLE)
		return 0;
	err = inject_put(in, 0, &want, sizeof(want));
	if (!err)
		err = call0(in, SYS_sigaltstack, in->scratch, 0, 0, 0);
	if (!err)
		err = call0(in, SYS_sigaltstack, 0, in->scratch, 0, 0);
	if (!err)
		err = inject_get(in, 0, &got, sizeof(got));
	if (!err && (got.sp != want.sp || got.size != want.size ||
		     (got.flags & ~KERNEL_SS_ONSTACK) != want.flags))
		err = -EPROTO;
	if (err)
		return say_why(err, why, why_len, "setting its alternate signal stack (%#lx, %lu "
			       "bytes, flags %#x): %s", (unsigned long)want.sp,
			       (unsigned long)want.size, (unsigned)want.flags,
			       err == -EPROTO ? "it reads back otherwise" : strerror(-err));
	return 0;
}

/* With the time each had left at the freeze: a timer does not run between
 * machines, as a sleep does not (contmig(1), What travels). */
static int set_timers(struct inject *in, const struct image_timers *tm, char *why,
		      size_t why_len)
{
	for (int which = 0; tm->known && which < IMAGE_NTIMERS; which++) {
		const int64_t *left = time_left(&tm->timer[which], which);
		struct image_itimer_rec t = tm->timer[which];
		int err;

		if (!left)
			continue;
		t.value_sec = left[0];
		t.value_usec = left[1];
		err = inject_put(in, 0, &t, sizeof(t));
		if (!err)
			err = call0(in, SYS_setitimer, which, in->scratch, 0, 0);
		if (err)
			return say_why(err, why, why_len, "setting its %s interval timer: %s",
				       timer_names[which], strerror(-err));
	}
	return 0;
}

int sigstate_restore(struct inject *in, const struct image_sigactions *sa,
		     const struct image_timers *tm, char *why, size_t why_len)
{
	int err = 0;

	if (sa->known)
		err = set_actions(in, sa, why, why_len);
	if (!err && sa->known)
		err = set_altstack(in, sa, why, why_len);
	/* Last: from here on they run, the restorer's time counts for them. */
	if (!err)
		err = set_timers(in, tm, why, why_len);
	return err;
}

int sigstate_verify(pid_t pid, const struct image_sigactions *sa, bool *lost_sigsegv,
		    char *why, size_t why_len)
{
	uint64_t want_caught = 0, want_ignored = 0, caught, ignored;
	int err;

	*lost_sigsegv = false;
	if (!sa->known)
		return 0;
	for (size_t i = 0; i < sa->head.count; i++) {
		if (sa->act[i].handler == (uint64_t)(uintptr_t)SIG_IGN)
			want_ignored |= BIT(sa->act[i].signo);
		else
			want_caught |= BIT(sa->act[i].signo);
	}
	*lost_sigsegv = want_ignored & BIT(SIGSEGV);
	want_ignored &= ~BIT(SIGSEGV);
	err = sigstate_dispositions(pid, &caught, &ignored);
	if (err)
		return say_why(err, why, why_len, "reading the copy's signal dispositions: %s",
			       strerror(-err));
	if (*lost_sigsegv)
		ignored &= ~BIT(SIGSEGV);
	if (caught == want_caught && ignored == want_ignored)
		return 0;
	return say_why(-EPROTO, why, why_len, "the copy catches signals %#llx and ignores %#llx, "
		       "not %#llx and %#llx as its source did", (unsigned long long)caught,
		       (unsigned long long)ignored, (unsigned long long)want_caught,
		       (unsigned long long)want_ignored);
}
