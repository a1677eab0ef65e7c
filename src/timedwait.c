#include "config.h"

#include <linux/futex.h>
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

void timed_wait_resume_regs(struct user_regs_struct *regs)
{
	long long nr = (long long)regs->orig_rax;

	if (nr < 0 || (long long)regs->rax != -ERESTART_RESTARTBLOCK)
		return;
	switch (nr == SYS_restart_syscall ? TIMED_WAIT_LOST : timed_wait_kind(nr, regs)) {
	case TIMED_WAIT_KEPT:
		/*
		 * Sleep for what rem holds, the caller's memory left as it
		 * was: the request's register names rem from now on (the
		 * system call ABI keeps it, so the program sees that after).
		 */
		if (nr == SYS_nanosleep)
			regs->rdi = regs->rsi;
		else
			regs->rdx = regs->r10;
		regs->rax = -ERESTARTNOHAND;
		break;
	case TIMED_WAIT_LOST:
		regs->rax = 0;
		regs->orig_rax = -1;
		break;
	case TIMED_WAIT_NONE:
		regs->rax = -ERESTARTNOHAND;
		break;
	}
}
