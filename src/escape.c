#include "config.h"

#include <stdio.h>
#include <string.h>

#include "escape.h"

/*
 * Printable ASCII stays as it is, a backslash doubles (so that \x1b in the
 * output can only mean the byte 0x1b, never a name's own four characters),
 * and every other byte becomes \xNN: C0 controls and DEL, and every byte
 * from 0x80 up too, since C1 controls (raw, or as UTF-8) act on some
 * terminals and a lone byte need not be UTF-8 at all.  Names in UTF-8 come
 * out as their bytes, as git's quoted paths do.  piece gets 1 to 4
 * characters and a NUL.
 */
static size_t escape_byte(unsigned char c, char piece[5])
{
	if (c == '\\')
		return (size_t)snprintf(piece, 5, "\\\\");
	if (c >= 0x20 && c < 0x7f)
		return (size_t)snprintf(piece, 5, "%c", c);
	return (size_t)snprintf(piece, 5, "\\x%02x", c);
}

char *escape_text(char *out, size_t size, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && s[i]; i++) {
		char piece[5];
		size_t n = escape_byte(s[i], piece);

		if (o + n >= size)
			break;		/* cut short, but never half an escape */
		memcpy(out + o, piece, n);
		o += n;
	}
	if (size)
		out[o] = '\0';
	return out;
}

void escape_fputs(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len && s[i]; i++) {
		char piece[5];

		escape_byte(s[i], piece);
		fputs(piece, f);
	}
}
