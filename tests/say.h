/*
 * say(TEXT, N): write "TEXTN\n" to standard output in one write, for the
 * freestanding test targets (no libc, no printf).  TEXT is at most 40 bytes.
 */
#ifndef CONTMIG_TESTS_SAY_H
#define CONTMIG_TESTS_SAY_H

#include "continuum.h"

static inline void say(const char *s, long n)
{
	char buf[64];
	size_t len = 0, digits = 1;
	unsigned long u = n < 0 ? -(unsigned long)n : (unsigned long)n;

	while (*s)
		buf[len++] = *s++;
	if (n < 0)
		buf[len++] = '-';
	for (unsigned long t = u; t /= 10;)
		digits++;
	for (size_t i = 0; i < digits; i++, u /= 10)
		buf[len + digits - 1 - i] = '0' + u % 10;
	len += digits;
	buf[len++] = '\n';
	send_all(1, buf, len);
}

#endif
