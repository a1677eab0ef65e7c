#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "exitcode.h"

/*
 * The last guard of "one line that cannot act on a terminal": names from a
 * process, an image or a peer are escaped where they are put into a message
 * (escape.h); any control byte or byte from 0x80 up that is left, from a
 * path or a name nobody thought of, becomes \xNN here.  Backslashes stay as
 * they are, so that what was escaped already is not escaped twice.
 */
static size_t make_safe(char *out, size_t size, const char *in, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = in[i];
		int n = c >= 0x20 && c < 0x7f ? 1 : 4;

		if (o + n >= size)
			break;
		if (n == 1)
			out[o] = c;
		else
			snprintf(out + o, size - o, "\\x%02x", c);
		o += n;
	}
	return o;
}

/* Format the whole line first so that it reaches stderr in one write and
 * never interleaves with another process's output. */
static void vmsg(int err, const char *fmt, va_list ap)
{
	char text[1024], line[1024];
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	size_t len;

	if (n < 0)
		n = 0;
	if (n < (int)sizeof(text) && err)
		n += snprintf(text + n, sizeof(text) - n, ": %s", strerror(err));
	if (n > (int)sizeof(text) - 1)
		n = sizeof(text) - 1;
	len = (size_t)snprintf(line, sizeof(line), "contmig: ");
	len += make_safe(line + len, sizeof(line) - len - 1, text, (size_t)n);
	line[len++] = '\n';
	if (write(STDERR_FILENO, line, len) < 0) {
		/* Nowhere left to report it. */
	}
}

void error_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(0, fmt, ap);
	va_end(ap);
}

void errno_msg(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(err, fmt, ap);
	va_end(ap);
}

void error_msg_and_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(0, fmt, ap);
	va_end(ap);
	exit(status);
}

void usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(0, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'contmig %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
	exit(EXIT_USAGE);
}

int say_why(int err, char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return err;
}
