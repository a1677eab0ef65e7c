/* json: the few pieces of JSON output contmig needs, written to a FILE. */
#ifndef CONTMIG_JSON_H
#define CONTMIG_JSON_H

#include <stddef.h>
#include <stdio.h>

/* s as a JSON string literal, quotes included: printable ASCII as it is,
 * every other byte (controls, DEL, 0x80 and up) as \u00XX, its value. */
void json_string(FILE *f, const char *s);
/* The same for at most len bytes of s, up to a NUL (a fixed-size field). */
void json_string_n(FILE *f, const char *s, size_t len);

#endif
