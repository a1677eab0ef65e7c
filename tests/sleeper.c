/*
 * sleeper - an ordinary program that waits with a timeout, for tests of time
 * across a move (tests/sleeps.sh).
 *
 *   sleeper steps HOW MS   step for ever: print "N REALTIME_MS", wait MS;
 *                          a wait that fails with EINTR prints "EINTR" and
 *                          exits 3 (no signal has a handler)
 *   sleeper once HOW MS [alarm]
 *                          print "start REALTIME_MS", wait MS once, print
 *                          "woke REALTIME_MS SLEPT_MS RESULT ALARMS" and exit
 *                          0.  SLEPT is by CLOCK_MONOTONIC; RESULT is ok, or
 *                          EINTR when the wait failed so (SIGUSR1 has a
 *                          handler, without SA_RESTART).  With alarm, a
 *                          one-shot ITIMER_REAL of MS / 2 is armed first, its
 *                          SIGALRM counted in ALARMS, and the wait is made
 *                          again until MS have passed.
 *
 * HOW is the wait:
 *   rem    nanosleep(2) itself, with rem (as C++ and Rust sleep)
 *   clock  clock_nanosleep(CLOCK_MONOTONIC), relative, with rem
 *   null   usleep(3) (clock_nanosleep without rem)
 *   abs    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME): a period of MS
 *          from the start (steps: the deadline grows by MS each step)
 *   poll   poll(2) with no fds
 *   select select(2) with no fds (Linux writes the time left into its timeout)
 *   futex  FUTEX_WAIT on a word nobody wakes
 *   asm    two nanosleeps of MS / 2 in one asm block, the second at the
 *          request the first left in rdi (the system call ABI keeps it, and
 *          compiled code may count on that)
 * Output is flushed at each line.
 */
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void on_usr1(int sig)
{
	(void)sig;
}

static long long ms_of(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static struct timespec ts_of_ms(long long ms)
{
	return (struct timespec){ .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };
}

/* Two nanosleeps at one request, which stays in rdi between them. */
static long asm_sleeps(const struct timespec *req, struct timespec *rem)
{
	long first, second;

	__asm__ volatile("mov %[nr], %%eax\n\t"
			 "syscall\n\t"
			 "mov %%rax, %[first]\n\t"
			 "mov %[nr], %%eax\n\t"
			 "syscall"
			 : "=a"(second), [first] "=&r"(first)
			 : [nr] "i"(SYS_nanosleep), "D"(req), "S"(rem)
			 : "rcx", "r11", "memory");
	return first ? first : second;
}

/* One wait of ms (abs: until deadline_ms on CLOCK_MONOTONIC): 0 or errno. */
static int wait_once(const char *how, long long ms, long long deadline_ms)
{
	struct timespec req = ts_of_ms(ms), rem;
	static int word;

	if (!strcmp(how, "rem"))
		return syscall(SYS_nanosleep, &req, &rem) < 0 ? errno : 0;
	if (!strcmp(how, "clock"))
		return clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem);
	if (!strcmp(how, "null"))
		return usleep(ms * 1000) < 0 ? errno : 0;
	if (!strcmp(how, "abs")) {
		req = ts_of_ms(deadline_ms);
		return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &req, NULL);
	}
	if (!strcmp(how, "poll"))
		return poll(NULL, 0, (int)ms) < 0 ? errno : 0;
	if (!strcmp(how, "select")) {
		struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };

		return select(0, NULL, NULL, NULL, &tv) < 0 ? errno : 0;
	}
	if (!strcmp(how, "futex")) {
		if (syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &req, NULL, 0) < 0 &&
		    errno != ETIMEDOUT)
			return errno;
		return 0;
	}
	if (!strcmp(how, "asm")) {
		req = ts_of_ms(ms / 2);
		return (int)-asm_sleeps(&req, &rem);
	}
	fprintf(stderr, "sleeper: no such wait '%s'\n", how);
	exit(2);
}

static void handle(int sig, void (*handler)(int))
{
	struct sigaction sa = { .sa_handler = handler };

	sigaction(sig, &sa, NULL);
}

static int once(const char *how, long long ms, int with_alarm)
{
	long long start = ms_of(CLOCK_MONOTONIC), now;
	int err;

	handle(SIGUSR1, on_usr1);
	if (with_alarm) {
		struct itimerval half = { .it_value = { .tv_sec = ms / 2000,
							.tv_usec = ms / 2 % 1000 * 1000 } };

		handle(SIGALRM, on_alarm);
		setitimer(ITIMER_REAL, &half, NULL);
	}
	printf("start %lld\n", ms_of(CLOCK_REALTIME));
	fflush(stdout);
	err = wait_once(how, ms, start + ms);
	while (with_alarm && (now = ms_of(CLOCK_MONOTONIC)) - start < ms)
		wait_once(how, ms - (now - start), start + ms);
	printf("woke %lld %lld %s %d\n", ms_of(CLOCK_REALTIME), ms_of(CLOCK_MONOTONIC) - start,
	       err == EINTR ? "EINTR" : err ? strerror(err) : "ok", (int)alarms);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	long long ms, start;

	if (argc < 4 || (strcmp(argv[1], "steps") && strcmp(argv[1], "once")) ||
	    argc > 5 || (argc == 5 && strcmp(argv[4], "alarm"))) {
		fprintf(stderr, "usage: sleeper steps|once HOW MS [alarm]\n");
		return 2;
	}
	ms = atoll(argv[3]);
	if (!strcmp(argv[1], "once"))
		return once(argv[2], ms, argc == 5);
	start = ms_of(CLOCK_MONOTONIC);
	for (long long n = 1;; n++) {
		printf("%lld %lld\n", n, ms_of(CLOCK_REALTIME));
		fflush(stdout);
		if (wait_once(argv[2], ms, start + n * ms) == EINTR) {
			printf("EINTR\n");
			fflush(stdout);
			return 3;
		}
	}
}
