/*
 * handlers [read] [posix] [migrate DEST] - a Continuum test target that
 * keeps what the kernel holds for its signals, and says when any of it is
 * gone.
 *
 * It installs, with rt_sigaction and its own rt_sigreturn restorer:
 * - handlers that count SIGUSR1, SIGTRAP (a restorer's trap resets its
 *   action if it is set too early) and SIGSEGV (so does the fault that ends
 *   the restorer); the first SIGUSR1 also has it ignore SIGWINCH from then
 *   on (its actions change);
 * - a SIGUSR2 handler on an alternate signal stack (SA_ONSTACK), which notes
 *   whether it ran on it;
 * - SIG_IGN for SIGPIPE and SIGHUP: kill -PIPE must not end it;
 * - an ITIMER_REAL firing every 20 ms, whose SIGALRM handler counts the
 *   ticks and prints "ticks N" at every 25th.
 * It prints "ready", then every 100 ms (nanosleep, going on with what was
 * left when a tick cuts it short) or, with "read", after each read(2) of
 * its standard input (restarted by the kernel after each tick: SA_RESTART),
 * reports each signal its handlers saw since: "SIGUSR1 N", "SIGUSR2 N on
 * the alternate stack" (or "off"), "SIGTRAP N", "SIGSEGV N"; and "read
 * TEXT" for what it read.  In the 100 ms steps, a step with no tick since
 * the one before prints "no SIGALRM" and exits 1, and a nanosleep that
 * fails otherwise than with EINTR prints "nanosleep returned -E" and exits
 * 1; a read that fails exits 1.
 * With "posix" it also creates a POSIX timer (timer_create, never armed),
 * which no move can carry.  With "migrate DEST" it calls sys_migrate(DEST)
 * once ready and prints "sys_migrate returned N" (under contmig run).
 */
#include "continuum.h"
#include "say.h"

#define SYS_rt_sigaction	13
#define SYS_sigaltstack		131
#define SYS_setitimer		38
#define SYS_timer_create	222

#define SIGHUP		1
#define SIGTRAP		5
#define SIGUSR1		10
#define SIGSEGV		11
#define SIGUSR2		12
#define SIGPIPE		13
#define SIGALRM		14
#define SIGWINCH	28
#define SIG_IGN		1UL
#define SA_RESTORER	0x04000000UL
#define SA_ONSTACK	0x08000000UL
#define SA_RESTART	0x10000000UL
#define ITIMER_REAL	0
#define CLOCK_MONOTONIC	1
#define EINTR		4
#define TICK_US		20000
#define ALTSTACK_SIZE	16384

/* The kernel's struct sigaction and stack_t on x86-64. */
struct ksigaction {
	unsigned long handler, flags, restorer, mask;
};

struct kstack {
	void *sp;
	int flags;
	unsigned long size;
};

/* rt_sigreturn, as a handler returns into it (SA_RESTORER). */
void handlers_restorer(void);
__asm__(".text\n"
	".globl handlers_restorer\n"
	"handlers_restorer:\n"
	"	mov $15, %eax\n"
	"	syscall\n");

static volatile long usr1, usr2, usr2_off, trap, segv, ticks;
static char altstack[ALTSTACK_SIZE] __attribute__((aligned(16)));

static long action(int sig, unsigned long handler, unsigned long flags);

static void on_count(int sig)
{
	if (sig == SIGUSR1) {
		/* The first one changes its actions: SIGWINCH is ignored from then on. */
		if (!usr1++)
			action(SIGWINCH, SIG_IGN, 0);
	} else if (sig == SIGTRAP) {
		trap++;
	} else if (sig == SIGSEGV) {
		segv++;
	}
}

static void on_usr2(int sig)
{
	char here;

	(void)sig;
	if (&here >= altstack && &here < altstack + ALTSTACK_SIZE)
		usr2++;
	else
		usr2_off++;
}

static void on_alarm(int sig)
{
	(void)sig;
	if (++ticks % 25 == 0)
		say("ticks ", ticks);
}

static long action(int sig, unsigned long handler, unsigned long flags)
{
	struct ksigaction sa = { handler, flags | SA_RESTORER, (unsigned long)handlers_restorer, 0 };

	return continuum_syscall(SYS_rt_sigaction, sig, (long)&sa, 0, 8, 0, 0);
}

static long setup(int posix)
{
	struct kstack ss = { altstack, 0, ALTSTACK_SIZE };
	long tick[4] = { 0, TICK_US, 0, TICK_US };	/* interval, then the first */
	int timer;

	if (action(SIGUSR1, (unsigned long)on_count, SA_RESTART) ||
	    action(SIGTRAP, (unsigned long)on_count, SA_RESTART) ||
	    action(SIGSEGV, (unsigned long)on_count, SA_RESTART) ||
	    action(SIGUSR2, (unsigned long)on_usr2, SA_RESTART | SA_ONSTACK) ||
	    action(SIGALRM, (unsigned long)on_alarm, SA_RESTART) ||
	    action(SIGPIPE, SIG_IGN, 0) || action(SIGHUP, SIG_IGN, 0) ||
	    continuum_syscall(SYS_sigaltstack, (long)&ss, 0, 0, 0, 0, 0))
		return -1;
	/* sevp NULL: it would send SIGALRM, were it ever armed. */
	if (posix && continuum_syscall(SYS_timer_create, CLOCK_MONOTONIC, 0, (long)&timer,
				       0, 0, 0))
		return -1;
	return continuum_syscall(SYS_setitimer, ITIMER_REAL, (long)tick, 0, 0, 0, 0);
}

/* Say what the handlers saw since the last report. */
static void report(void)
{
	static long told_usr1, told_usr2, told_off, told_trap, told_segv;

	while (told_usr1 < usr1)
		say("SIGUSR1 ", ++told_usr1);
	while (told_usr2 < usr2)
		say("SIGUSR2 on the alternate stack ", ++told_usr2);
	while (told_off < usr2_off)
		say("SIGUSR2 off the alternate stack ", ++told_off);
	while (told_trap < trap)
		say("SIGTRAP ", ++told_trap);
	while (told_segv < segv)
		say("SIGSEGV ", ++told_segv);
}

/* 100 ms, through the ticks that cut it short.  Any other failure (a
 * restart code leaked by a move) is said, and ends it. */
static void sleep_step(void)
{
	long left[2] = { 0, 100 * 1000000L }, ret;

	while ((ret = continuum_syscall(CONTINUUM_SYS_nanosleep, (long)left, (long)left, 0, 0,
					0, 0)) == -EINTR)
		;
	if (ret) {
		say("nanosleep returned ", ret);
		continuum_exit(1);
	}
}

int main(int argc, char **argv, char **envp)
{
	int reading = 0, posix = 0;
	const char *dest = 0;
	long ticks_before = 0;

	(void)envp;
	for (int i = 1; i < argc; i++) {
		reading |= argv[i][0] == 'r';
		posix |= argv[i][0] == 'p';
		if (argv[i][0] == 'm' && i + 1 < argc)
			dest = argv[++i];
	}
	if (setup(posix))
		return LED_IO_ERROR;
	say("ready ", 0);
	if (dest)
		say("sys_migrate returned ", sys_migrate(dest));
	for (long step = 1;; step++) {
		char buf[64] = "read ";
		long n;

		if (!reading) {
			sleep_step();
			if (step > 1 && ticks == ticks_before) {
				send_all(1, "no SIGALRM\n", 11);
				return 1;
			}
			ticks_before = ticks;
			report();
			continue;
		}
		n = continuum_read(0, buf + 5, sizeof(buf) - 6);
		report();
		if (n <= 0)
			return n ? LED_IO_ERROR : 0;
		if (buf[5 + n - 1] != '\n')
			buf[5 + n++] = '\n';
		send_all(1, buf, 5 + n);
	}
}
