/*
 * sleeper - an ordinary program that waits with a timeout, for tests of time
 * across a move (tests/sleeps.sh).
 *
 *   sleeper steps HOW MS   step for ever: print "N REALTIME_MS", wait MS
 *   sleeper once HOW MS    print "start REALTIME_MS", wait MS once, print
 *                          "woke REALTIME_MS SLEPT_MS" (SLEPT by
 *                          CLOCK_MONOTONIC) and exit 0
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
 *
 * No signal has a handler, so a wait never fails with EINTR: when one does,
 * it prints "EINTR" and exits 3.  Output is flushed at each line.
 */
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

static void eintr(void)
{
	printf("EINTR\n");
	fflush(stdout);
	exit(3);
}

/* One wait of ms (abs: until deadline_ms on CLOCK_MONOTONIC). */
static void wait_once(const char *how, long long ms, long long deadline_ms)
{
	struct timespec req = ts_of_ms(ms), rem;
	static int word;
	int err;

	if (!strcmp(how, "rem")) {
		while (syscall(SYS_nanosleep, &req, &rem) < 0) {
			if (errno != EINTR)
				exit(2);
			eintr();
		}
	} else if (!strcmp(how, "clock")) {
		err = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem);
		if (err == EINTR)
			eintr();
	} else if (!strcmp(how, "null")) {
		if (usleep(ms * 1000) < 0 && errno == EINTR)
			eintr();
	} else if (!strcmp(how, "abs")) {
		req = ts_of_ms(deadline_ms);
		err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &req, NULL);
		if (err == EINTR)
			eintr();
	} else if (!strcmp(how, "poll")) {
		if (poll(NULL, 0, (int)ms) < 0 && errno == EINTR)
			eintr();
	} else if (!strcmp(how, "select")) {
		struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };

		if (select(0, NULL, NULL, NULL, &tv) < 0 && errno == EINTR)
			eintr();
	} else if (!strcmp(how, "futex")) {
		if (syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &req, NULL, 0) < 0 &&
		    errno == EINTR)
			eintr();
	} else {
		fprintf(stderr, "sleeper: no such wait '%s'\n", how);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	long long ms, start, mono;

	if (argc != 4 || (strcmp(argv[1], "steps") && strcmp(argv[1], "once"))) {
		fprintf(stderr, "usage: sleeper steps|once HOW MS\n");
		return 2;
	}
	ms = atoll(argv[3]);
	start = ms_of(CLOCK_MONOTONIC);
	if (!strcmp(argv[1], "once")) {
		printf("start %lld\n", ms_of(CLOCK_REALTIME));
		fflush(stdout);
		wait_once(argv[2], ms, start + ms);
		mono = ms_of(CLOCK_MONOTONIC);
		printf("woke %lld %lld\n", ms_of(CLOCK_REALTIME), mono - start);
		fflush(stdout);
		return 0;
	}
	for (long long n = 1;; n++) {
		printf("%lld %lld\n", n, ms_of(CLOCK_REALTIME));
		fflush(stdout);
		wait_once(argv[2], ms, start + n * ms);
	}
}
