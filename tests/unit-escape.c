/* Unit tests for escape_text and json_string: what a name an image or a
 * peer chose looks like when contmig shows it. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>

#include "escape.h"
#include "json.h"
#include "unit.h"

static const char *json(const char *s, size_t len)
{
	static char buf[512];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	if (!f)
		return NULL;
	json_string_n(f, s, len);
	fclose(f);
	return buf;
}

int main(void)
{
	char out[64], small[8];
	const char fixed[4] = { 'a', 'b', 'c', 'd' };	/* no NUL */

	CHECK_STR(escape_text(out, sizeof(out), "counter", SIZE_MAX), "counter");
	CHECK_STR(escape_text(out, sizeof(out), "\033[2J\a\x7f\x9b\xc3\xa4", SIZE_MAX),
		  "\\x1b[2J\\x07\\x7f\\x9b\\xc3\\xa4");
	/* A backslash doubles: "\x1b" in the output is always the byte. */
	CHECK_STR(escape_text(out, sizeof(out), "a\\x1b", SIZE_MAX), "a\\\\x1b");
	CHECK_STR(escape_text(out, sizeof(out), "line\nforged", SIZE_MAX), "line\\x0aforged");
	/* A fixed-size field is read within its size, NUL or not. */
	CHECK_STR(escape_text(out, sizeof(out), fixed, sizeof(fixed)), "abcd");
	CHECK_STR(escape_text(out, sizeof(out), "ab\0cd", 5), "ab");
	/* Cut short to fit, never in the middle of an escape. */
	CHECK_STR(escape_text(small, sizeof(small), "abcd\033e", SIZE_MAX), "abcd");
	CHECK_STR(escape_text(small, sizeof(small), "ab\033\033", SIZE_MAX), "ab\\x1b");
	CHECK_STR(escape_text(small, 1, "abc", SIZE_MAX), "");

	/* JSON: ASCII only, every other byte \u00XX with its value. */
	CHECK_STR(json("a\"b\\c\n\t", SIZE_MAX), "\"a\\\"b\\\\c\\n\\t\"");
	CHECK_STR(json("\033\x7f\x9b\xc3\xa4", SIZE_MAX),
		  "\"\\u001b\\u007f\\u009b\\u00c3\\u00a4\"");
	CHECK_STR(json(fixed, sizeof(fixed)), "\"abcd\"");
	return unit_result();
}
