/* json: the few pieces of JSON output contmig needs, written to a FILE. */
#ifndef CONTMIG_JSON_H
#define CONTMIG_JSON_H

#include <stdio.h>

/* s as a JSON string literal, quotes included. */
void json_string(FILE *f, const char *s);

#endif
