/*
 * openfiles LOG INPUT DIR [STEPS [map|mapw]] - a Continuum test target
 * with files open beyond 0-2, which a move must carry (contmig(1), Open
 * files).
 *
 * At the start it opens LOG to append (fd 3, close-on-exec), DIR (fd 4)
 * and /dev/null (fd 5), then every 100 ms takes a step N = 1, 2, ...:
 * - appends "N\n" to LOG (a copy must go on at the end: no gap, no
 *   overwrite) and prints "N" on standard output;
 * - at step 3 opens INPUT read-only (fd 6); from then on reads one record
 *   of 5 bytes a step, which must be the next of "0001\n", "0002\n", ...
 *   (the copy goes on from the offset);
 * - opens DIR/probe through fd 4 and reads "probe" from it;
 * - writes to and reads from /dev/null;
 * - checks that fd 3 still appends and is close-on-exec, and fd 4 is not.
 * With STEPS (0: for ever) it exits 0 after that many.  With "map" it also
 * maps INPUT's first page shared and read-only, opened read-only (which
 * moves: it can never be written), and checks at each step that it holds
 * "0001\n"; with "mapw" the same through a descriptor opened to read and
 * write (which does not move: it could be made writable).  Anything wrong:
 * a line on standard error naming it, and exit 5.
 */
#include "continuum.h"
#include "say.h"

#define SYS_mmap	9
#define SYS_fcntl	72
#define PROT_READ	1
#define MAP_SHARED	1
#define O_RDONLY	0
#define O_WRONLY	1
#define O_RDWR		2
#define O_CREAT		0100
#define O_APPEND	02000
#define O_DIRECTORY	0200000
#define O_CLOEXEC	02000000
#define F_GETFD		1
#define F_GETFL		3
#define FD_CLOEXEC	1
#define LED_FILES	5

#define LOG_FD		3
#define DIR_FD		4
#define NULL_FD		5
#define INPUT_FD	6
#define RECORD		5	/* "0001\n" */

/* "openfiles: WHAT VALUE" on standard error, and the exit that says so. */
static void fail(const char *what, long value)
{
	char line[96];
	size_t n = 0, digits = 1;
	unsigned long u = value < 0 ? -(unsigned long)value : (unsigned long)value;

	for (const char *s = "openfiles: "; *s;)
		line[n++] = *s++;
	while (*what && n < 70)
		line[n++] = *what++;
	line[n++] = ' ';
	if (value < 0)
		line[n++] = '-';
	for (unsigned long t = u; t /= 10;)
		digits++;
	for (size_t i = 0; i < digits; i++, u /= 10)
		line[n + digits - 1 - i] = '0' + u % 10;
	n += digits;
	line[n++] = '\n';
	continuum_write(2, line, n);
	continuum_exit(LED_FILES);
}

static long fcntl(int fd, int cmd)
{
	return continuum_syscall(SYS_fcntl, fd, cmd, 0, 0, 0, 0);
}

static long parse(const char *s)
{
	long n = 0;

	while (*s >= '0' && *s <= '9')
		n = n * 10 + (*s++ - '0');
	return n;
}

/* Open fd's file as exactly that fd (the files before it are open). */
static void open_as(int fd, int dirfd, const char *path, int flags)
{
	long got = continuum_syscall(CONTINUUM_SYS_openat, dirfd, (long)path, flags, 0644, 0, 0);

	if (got != fd)
		fail("open as fd", got < 0 ? got : fd);
}

/* The record the reader must see next, as the text of number n. */
static void record_of(long n, char out[RECORD])
{
	for (int i = 3; i >= 0; i--, n /= 10)
		out[i] = '0' + n % 10;
	out[4] = '\n';
}

static const char *mapped;	/* INPUT's first page, shared; or 0 */

static void step(long n, long *reads)
{
	char line[24], want[RECORD], got[8];
	size_t len = 0;
	long ret;

	for (long t = n; t; t /= 10)
		len++;
	for (long t = n, i = len - 1; i >= 0; i--, t /= 10)
		line[i] = '0' + t % 10;
	line[len++] = '\n';
	ret = continuum_write(LOG_FD, line, len);
	if (ret != (long)len)
		fail("append to the log", ret);

	if (*reads >= 0) {
		ret = continuum_read(INPUT_FD, got, RECORD);
		record_of(*reads + 1, want);
		if (ret != RECORD)
			fail("read a record", ret);
		for (int i = 0; i < RECORD; i++)
			if (got[i] != want[i])
				fail("the record after", *reads);
		++*reads;
	}

	ret = continuum_syscall(CONTINUUM_SYS_openat, DIR_FD, (long)"probe", O_RDONLY, 0, 0, 0);
	if (ret < 0)
		fail("open probe through the directory", ret);
	if (continuum_read((int)ret, got, 5) != 5 || got[0] != 'p' || got[4] != 'e')
		fail("read probe", 0);
	continuum_close((int)ret);

	if (continuum_write(NULL_FD, "x", 1) != 1 || continuum_read(NULL_FD, got, 1) != 0)
		fail("use /dev/null", 0);

	if (fcntl(LOG_FD, F_GETFD) != FD_CLOEXEC || !(fcntl(LOG_FD, F_GETFL) & O_APPEND))
		fail("the log's flags", fcntl(LOG_FD, F_GETFL));
	if (fcntl(DIR_FD, F_GETFD) != 0)
		fail("the directory's FD_CLOEXEC", fcntl(DIR_FD, F_GETFD));
	if (mapped && (mapped[0] != '0' || mapped[3] != '1' || mapped[4] != '\n'))
		fail("the shared mapping", mapped[0]);
	say("", n);
}

int main(int argc, char **argv, char **envp)
{
	long steps = argc > 4 ? parse(argv[4]) : 0, reads = -1;

	(void)envp;
	if (argc < 4)
		fail("usage: openfiles LOG INPUT DIR [STEPS]", argc);
	open_as(LOG_FD, -100, argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC);
	open_as(DIR_FD, -100, argv[3], O_RDONLY | O_DIRECTORY);
	open_as(NULL_FD, -100, "/dev/null", O_RDWR);
	if (argc > 5 && argv[5][0] == 'm') {
		long fd = continuum_open(argv[2], argv[5][3] == 'w' ? O_RDWR : O_RDONLY, 0);
		long at = fd < 0 ? fd : continuum_syscall(SYS_mmap, 0, 4096, PROT_READ, MAP_SHARED,
							   fd, 0);

		if (at < 0 && at > -4096)
			fail("map the input shared", at);
		continuum_close((int)fd);
		mapped = (const char *)at;
	}
	for (long n = 1; !steps || n <= steps; n++) {
		if (n == 3) {
			open_as(INPUT_FD, -100, argv[2], O_RDONLY);
			reads = 0;
		}
		step(n, &reads);
		continuum_sleep_ms(100);
	}
	return 0;
}
