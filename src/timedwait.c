#include "config.h"

#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include "arch-x86_64.h"
#include "timedwait.h"

/* A relative sleep: rem is where the kernel left what remained. */
static enum timed_wait sleep_kind(unsigned long long rem)
{
	return rem ? TIMED_WAIT_KEPT : TIMED_WAIT_LOST;
}

enum timed_wait timed_wait_kind(long long nr, const struct user_regs_struct *regs)
{
	switch (nr) {
	case SYS_nanosleep:
		return sleep_kind(regs->rsi);
	case SYS_clock_nanosleep:
		/* An absolute one never has a restart block; its time is its own. */
		return regs->rsi & TIMER_ABSTIME ? TIMED_WAIT_NONE : sleep_kind(regs->r10);
	case SYS_poll:
		return (int)regs->rdx >= 0 ? TIMED_WAIT_LOST : TIMED_WAIT_NONE;
	case SYS_futex:
		/* FUTEX_WAIT's timeout is relative; the other waits' absolute. */
		return (regs->rsi & FUTEX_CMD_MASK) == FUTEX_WAIT && regs->r10 ?
		       TIMED_WAIT_LOST : TIMED_WAIT_NONE;
	default:
		return TIMED_WAIT_NONE;
	}
}

long long timed_wait_restarted(const char *wchan, unsigned long long arg1)
{
	if (!*wchan || !strcmp(wchan, "0"))
		return -1;
	if (!strncmp(wchan, "poll_", 5) || !strncmp(wchan, "do_sys_poll", 11))
		return SYS_poll;
	if (!strncmp(wchan, "futex", 5))
		return SYS_futex;
	/* A clock ID is small, or a CPU clock's negative: no user address. */
	return arg1 < 4096 || arg1 >= 0x800000000000ULL ? SYS_clock_nanosleep : SYS_nanosleep;
}

void timed_wait_resume_regs(struct user_regs_struct *regs, long cut_short, bool handler_first)
{
	long long nr = (long long)regs->orig_rax;
	enum timed_wait kind;

	if (nr < 0 || (long long)regs->rax != -ERESTART_RESTARTBLOCK)
		return;
	kind = nr == SYS_restart_syscall ? TIMED_WAIT_LOST : timed_wait_kind(nr, regs);
	if (kind == TIMED_WAIT_KEPT && cut_short == -ERESTART_RESTARTBLOCK)
		return;		/* restart_syscall, from the copy's own block */
	if (kind == TIMED_WAIT_KEPT && cut_short == 0)
		handler_first = false;	/* nothing left: done */
	if (kind == TIMED_WAIT_NONE || handler_first) {
		regs->rax = -ERESTARTNOHAND;	/* again; EINTR to a handler */
		return;
	}
	regs->rax = 0;
	regs->orig_rax = -1;
}
