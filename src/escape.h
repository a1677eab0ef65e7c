/*
 * escape: names a program, an image or a peer chose, made safe to show.
 * Such a name may hold any byte: an escape sequence would act on the
 * terminal of whoever reads the output, a newline would forge a log line.
 * Printable ASCII passes as it is, a backslash as \\, any other byte as
 * \xNN (contmig(1), inspect).
 */
#ifndef CONTMIG_ESCAPE_H
#define CONTMIG_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* Room for any len bytes escaped, and the NUL. */
#define ESCAPED_SIZE(len)	(4 * (len) + 1)

/* At most len bytes of s, up to a NUL (a fixed-size field need not hold
 * one), escaped into out: cut short to fit size, never in the middle of an
 * escape.  Returns out. */
char *escape_text(char *out, size_t size, const char *s, size_t len);

/* The same, written to f whole. */
void escape_fputs(FILE *f, const char *s, size_t len);

#endif
