/*
 * selfmig DEST FILE - a Continuum test target, in freestanding C, that moves
 * itself the close-move-reopen way: it appends "before" to FILE and closes
 * it, calls sys_migrate(DEST), prints "sys_migrate returned RC", then reopens
 * FILE (on whichever machine it now runs), appends "after RC", prints three
 * more ticks 100 ms apart and exits 0.
 */
#include "continuum.h"

#define O_WRONLY	01
#define O_CREAT		0100
#define O_APPEND	02000

static size_t put_long(char *buf, long n)
{
	char digits[24];
	size_t len = 0, d = 0;
	unsigned long u = n < 0 ? -(unsigned long)n : (unsigned long)n;

	if (n < 0)
		buf[len++] = '-';
	do
		digits[d++] = '0' + u % 10;
	while (u /= 10);
	while (d)
		buf[len++] = digits[--d];
	return len;
}

/* "TEXT N\n" to fd. */
static void say(int fd, const char *text, long n)
{
	char buf[64];
	size_t len = 0;

	while (*text)
		buf[len++] = *text++;
	buf[len++] = ' ';
	len += put_long(buf + len, n);
	buf[len++] = '\n';
	send_all(fd, buf, len);
}

/* Append "TEXT N" to path, opening and closing it around the write. */
static int append(const char *path, const char *text, long n)
{
	int fd = continuum_open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);

	if (fd < 0)
		return fd;
	say(fd, text, n);
	return continuum_close(fd);
}

int main(int argc, char **argv, char **envp)
{
	long rc;

	(void)envp;
	if (argc != 3)
		return LED_IO_ERROR;
	if (append(argv[2], "before", continuum_getpid()) < 0)
		return LED_IO_ERROR;
	rc = sys_migrate(argv[1]);
	say(1, "sys_migrate returned", rc);
	if (append(argv[2], "after", rc) < 0)
		return LED_IO_ERROR;
	for (int i = 1; i <= 3; i++) {
		continuum_sleep_ms(100);
		say(1, "tick", i);
	}
	return 0;
}
