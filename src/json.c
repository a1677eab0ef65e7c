#include "config.h"

#include <stdint.h>

#include "json.h"

void json_string(FILE *f, const char *s)
{
	json_string_n(f, s, SIZE_MAX);
}

/*
 * Bytes from 0x80 up are not passed on: they need not be UTF-8, and JSON
 * that is not UTF-8 is not JSON.  \u00XX with the byte's value keeps every
 * byte (a reader gets them back as the code points below 256, Latin-1), and
 * the document stays pure ASCII, so that it cannot act on a terminal either.
 */
void json_string_n(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len && s[i]; i++) {
		unsigned char c = s[i];

		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (c < 0x20 || c >= 0x7f)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}
