#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "runs.h"

void runs_free(struct runs *r)
{
	free(r->run);
	*r = (struct runs){ 0 };
}

void runs_clear(struct runs *r)
{
	r->count = 0;
}

int runs_append(struct runs *r, uint64_t start, uint64_t end)
{
	struct run *last = r->count ? &r->run[r->count - 1] : NULL;

	if (end <= start)
		return 0;
	if (last && start <= last->end) {
		if (end > last->end)
			last->end = end;
		return 0;
	}
	if (r->count == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct run *run = realloc(r->run, cap * sizeof(*run));

		if (!run)
			return -ENOMEM;
		r->run = run;
		r->cap = cap;
	}
	r->run[r->count++] = (struct run){ start, end };
	return 0;
}

int runs_intersect(const struct runs *a, const struct runs *b, struct runs *out)
{
	size_t i = 0, k = 0;
	int err = 0;

	runs_clear(out);
	while (!err && i < a->count && k < b->count) {
		uint64_t s = a->run[i].start > b->run[k].start ? a->run[i].start : b->run[k].start;
		uint64_t e = a->run[i].end < b->run[k].end ? a->run[i].end : b->run[k].end;

		err = runs_append(out, s, e);
		if (a->run[i].end < b->run[k].end)
			i++;
		else
			k++;
	}
	return err;
}

int runs_union(const struct runs *a, const struct runs *b, struct runs *out)
{
	size_t i = 0, k = 0;
	int err = 0;

	runs_clear(out);
	while (!err && (i < a->count || k < b->count)) {
		const struct run *next = k == b->count ||
					 (i < a->count && a->run[i].start <= b->run[k].start) ?
					 &a->run[i++] : &b->run[k++];

		err = runs_append(out, next->start, next->end);
	}
	return err;
}

int runs_subtract(const struct runs *a, const struct runs *b, struct runs *out)
{
	size_t k = 0;
	int err = 0;

	runs_clear(out);
	for (size_t i = 0; !err && i < a->count; i++) {
		uint64_t at = a->run[i].start, end = a->run[i].end;

		while (k < b->count && b->run[k].end <= at)
			k++;
		for (size_t j = k; !err && j < b->count && b->run[j].start < end; j++) {
			err = runs_append(out, at, b->run[j].start);
			if (b->run[j].end > at)
				at = b->run[j].end;
		}
		if (!err)
			err = runs_append(out, at, end);
	}
	return err;
}

/* Append every run of b (all at or past a's end) to a. */
int runs_append_all(struct runs *a, const struct runs *b)
{
	int err = 0;

	for (size_t i = 0; !err && i < b->count; i++)
		err = runs_append(a, b->run[i].start, b->run[i].end);
	return err;
}

int runs_clip(const struct runs *r, uint64_t start, uint64_t end, struct runs *out)
{
	size_t lo = 0, hi = r->count;
	int err = 0;

	/* The first run that ends past start: many runs cost no linear walk. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->run[mid].end <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; !err && i < r->count && r->run[i].start < end; i++) {
		uint64_t s = r->run[i].start > start ? r->run[i].start : start;
		uint64_t e = r->run[i].end < end ? r->run[i].end : end;

		err = runs_append(out, s, e);
	}
	return err;
}

uint64_t runs_bytes(const struct runs *r)
{
	uint64_t n = 0;

	for (size_t i = 0; i < r->count; i++)
		n += r->run[i].end - r->run[i].start;
	return n;
}
