/*
 * plain: an ordinary glibc program, built with the ordinary toolchain
 * (tests/plain-dynamic: a dynamic PIE; tests/plain-static: -static), that
 * uses what a moved program must find again, and says so when it does not.
 *
 *   plain [--log FILE] [--handler] [--timer] [--deeper] [--spin] [--period MS]
 *         [--no-dump] [--clocks] [STEPS]
 *
 * Every period (default 100 ms) it takes one step and prints "step N" on
 * stdout; with STEPS it exits 0 after that many.  Each step:
 * - grows its brk heap by 64 KiB of small allocations, kept, each filled
 *   with its step number and checked again at every step (a heap whose end
 *   the kernel forgot fails the next brk, or lands on other memory);
 * - reads CLOCK_MONOTONIC and CLOCK_REALTIME through glibc (the vDSO), which
 *   must not fail, and the monotonic clock must not go backwards;
 * - with --log FILE, appends "step N" to FILE, opened once at the start with
 *   O_APPEND (a moved copy must go on at the end: no gap, no overwrite);
 * - with --handler, prints "SIGUSR1 N" for each SIGUSR1 its handler saw
 *   (kill -USR1 after a move must reach the handler, not end the program);
 * - with --timer, an ITIMER_REAL of a quarter period keeps firing: its
 *   SIGALRM handler counts, and a step with no tick since the previous step
 *   is reported;
 * - with --spin, it waits out the period reading CLOCK_MONOTONIC over and
 *   over instead of sleeping: it is nearly always inside its vDSO;
 * - with --deeper, recurses into its main stack 32 KiB a step deeper than
 *   at the step before, touching every frame (a stack that can no longer
 *   grow, as a copy's would if it were not restored to grow down, dies of
 *   SIGSEGV there).
 * With --clocks, each step also prints "clocks MONO BOOT REAL" after its
 * "step N": CLOCK_MONOTONIC, CLOCK_BOOTTIME and CLOCK_REALTIME in seconds,
 * to the nanosecond (a move's pause by the wall clocks is how far REAL went
 * on: MONO and BOOT must go on as far), and
 * CLOCK_BOOTTIME must not go backwards either (a copy's clocks must go on
 * from its source's, contmig(1) TIME).
 * With --no-dump it makes itself not dumpable (PR_SET_DUMPABLE 0), as a
 * set-user-ID program's memory is: its user may not read it from outside.
 * Without --handler or --timer nothing may interrupt its sleep: EINTR there
 * (a move that did not restart the call right) is wrong too.
 * Anything wrong: "plain: ..." on stderr and exit 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHUNK		1024
#define CHUNKS_PER_STEP	64

struct chunk {
	struct chunk *next;
	long step;
	unsigned char fill[CHUNK - 2 * sizeof(long)];
};

static volatile sig_atomic_t usr1_seen, alarms;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void die(const char *what)
{
	fprintf(stderr, "plain: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void wrong(const char *fmt, long a, long b)
{
	fprintf(stderr, "plain: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	exit(1);
}

static struct chunk *grow(struct chunk *head, long step)
{
	for (int i = 0; i < CHUNKS_PER_STEP; i++) {
		struct chunk *c = malloc(sizeof(*c));

		if (!c)
			die("malloc");
		c->next = head;
		c->step = step;
		memset(c->fill, (int)(step & 0xff), sizeof(c->fill));
		head = c;
	}
	return head;
}

static void check_heap(const struct chunk *head, long steps)
{
	long count = 0;

	for (const struct chunk *c = head; c; c = c->next, count++)
		if (c->fill[0] != (unsigned char)(c->step & 0xff) ||
		    c->fill[sizeof(c->fill) - 1] != (unsigned char)(c->step & 0xff))
			wrong("heap chunk of step %ld holds %ld", c->step, c->fill[0]);
	if (count != steps * CHUNKS_PER_STEP)
		wrong("heap holds %ld chunks, not %ld", count, steps * CHUNKS_PER_STEP);
}

static double now(clockid_t clock)
{
	struct timespec ts;

	if (clock_gettime(clock, &ts) < 0)
		die("clock_gettime");
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Recurse kib KiB deep, a KiB a frame, each frame filled and checked on
 * the way back: the main stack must grow that far. */
static long dig(long kib)
{
	volatile unsigned char frame[1024];
	long below = 0;

	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (unsigned char)kib;
	if (kib > 1)
		below = dig(kib - 1);
	if (frame[0] != (unsigned char)kib || frame[sizeof(frame) - 1] != (unsigned char)kib)
		wrong("stack frame %ld of %ld holds something else", kib, below + 1);
	return below + 1;
}

static void install(int sig, void (*fn)(int))
{
	struct sigaction sa = { .sa_handler = fn, .sa_flags = SA_RESTART };

	if (sigaction(sig, &sa, NULL) < 0)
		die("sigaction");
}

/*
 * Sleep a whole period, through the signals its handlers take.  With no
 * handler nothing may interrupt it (a stop and a continue, or a move,
 * restart it): EINTR then is wrong.
 */
static void sleep_ms(long ms, int handled)
{
	struct timespec left = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&left, &left) < 0)
		if (errno != EINTR || !handled)
			die("nanosleep");
}

int main(int argc, char **argv)
{
	const char *log = NULL;
	int handler = 0, timer = 0, deeper = 0, spin = 0, clocks = 0, logfd = -1;
	long period = 100, steps = -1, alarms_before = 0, usr1_told = 0, depth;
	struct chunk *heap = NULL;
	double last_mono = 0, last_boot = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--log") && i + 1 < argc)
			log = argv[++i];
		else if (!strcmp(argv[i], "--handler"))
			handler = 1;
		else if (!strcmp(argv[i], "--timer"))
			timer = 1;
		else if (!strcmp(argv[i], "--deeper"))
			deeper = 1;
		else if (!strcmp(argv[i], "--spin"))
			spin = 1;
		else if (!strcmp(argv[i], "--clocks"))
			clocks = 1;
		else if (!strcmp(argv[i], "--period") && i + 1 < argc)
			period = atol(argv[++i]);
		else if (!strcmp(argv[i], "--no-dump") && prctl(PR_SET_DUMPABLE, 0) < 0)
			die("PR_SET_DUMPABLE");
		else if (!strcmp(argv[i], "--no-dump"))
			continue;
		else
			steps = atol(argv[i]);
	}
	if (log && (logfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)
		die(log);
	if (handler)
		install(SIGUSR1, on_usr1);
	if (timer) {
		struct itimerval it = { { 0, period * 250 }, { 0, period * 250 } };

		install(SIGALRM, on_alarm);
		if (setitimer(ITIMER_REAL, &it, NULL) < 0)
			die("setitimer");
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (long step = 1; steps < 0 || step <= steps; step++) {
		double mono = now(CLOCK_MONOTONIC), boot = now(CLOCK_BOOTTIME);
		double real = now(CLOCK_REALTIME);

		if (real < 1e9)
			wrong("CLOCK_REALTIME is %ld s at step %ld", (long)real, step);
		if (mono < last_mono)
			wrong("CLOCK_MONOTONIC went back %ld us at step %ld",
			      (long)((last_mono - mono) * 1e6), step);
		last_mono = mono;
		if (clocks && boot < last_boot)
			wrong("CLOCK_BOOTTIME went back %ld us at step %ld",
			      (long)((last_boot - boot) * 1e6), step);
		last_boot = boot;
		heap = grow(heap, step);
		check_heap(heap, step);
		if (deeper && (depth = dig(32 * step)) != 32 * step)
			wrong("the stack went %ld KiB deep, not %ld", depth, 32 * step);
		if (timer && step > 2 && alarms == alarms_before)
			wrong("no SIGALRM between steps %ld and %ld", step - 1, step);
		alarms_before = alarms;
		while (handler && usr1_told < usr1_seen)
			printf("SIGUSR1 %ld\n", ++usr1_told);
		printf("step %ld\n", step);
		if (clocks)
			printf("clocks %.9f %.9f %.9f\n", mono, boot, real);
		if (logfd >= 0 && dprintf(logfd, "step %ld\n", step) < 0)
			die(log);
		if (spin)
			while (now(CLOCK_MONOTONIC) < mono + period / 1000.0)
				;
		else
			sleep_ms(period, handler || timer);
	}
	return 0;
}
