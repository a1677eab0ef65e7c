/*
 * runs: sets of pages as sorted runs [start, end), page-aligned, neither
 * overlapping nor touching (adjacent runs are one).  What dirty tracking
 * reports, what a copy holds, what a round of a live send stores or drops.
 * Functions return 0 or -ENOMEM.
 */
#ifndef CONTMIG_RUNS_H
#define CONTMIG_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct run {
	uint64_t start, end;
};

struct runs {
	struct run *run;
	size_t count, cap;
};

void runs_free(struct runs *r);
void runs_clear(struct runs *r);
/* Add [start, end) at or after the end of the last run (joined to it when
 * they touch or overlap); an empty range adds nothing. */
int runs_append(struct runs *r, uint64_t start, uint64_t end) MUST_CHECK;
/* out = a ∩ b, a ∪ b, a \ b (out is cleared first; it may not be a or b). */
int runs_intersect(const struct runs *a, const struct runs *b, struct runs *out) MUST_CHECK;
int runs_union(const struct runs *a, const struct runs *b, struct runs *out) MUST_CHECK;
int runs_subtract(const struct runs *a, const struct runs *b, struct runs *out) MUST_CHECK;
/* Append every run of b, which lie at or past a's last, to a. */
int runs_append_all(struct runs *a, const struct runs *b) MUST_CHECK;
/* The runs of r within [start, end), appended to out. */
int runs_clip(const struct runs *r, uint64_t start, uint64_t end, struct runs *out) MUST_CHECK;
/* Bytes in r. */
uint64_t runs_bytes(const struct runs *r);

#endif
