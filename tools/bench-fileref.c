/*
 * bench-fileref PID [REPS] - what the checksums of mapped files by reference
 * cost (fileref.h), for the process PID, in REPS runs (default 15):
 *
 *   sender    fileref_candidates: read its maps, and stat, hash (XXH3-128,
 *             whole files) and look for the build ID of each file it maps
 *   receiver  fileref_have of each of them: walk the path, hash, compare
 *             (the restore hashes each referenced file once more)
 *
 * Prints the files and bytes, then each side's median, min and max in
 * milliseconds, and the median's rate.  The files are in the page cache
 * after the first run, as a program's libraries usually are.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fileref.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int reps, uint64_t bytes)
{
	qsort(t, reps, sizeof(*t), by_value);
	printf("%-9s %8.3f ms (%.3f-%.3f)  %6.0f MiB/s\n", what, t[reps / 2] * 1e3, t[0] * 1e3,
	       t[reps - 1] * 1e3, bytes / 1048576.0 / t[reps / 2]);
}

int main(int argc, char **argv)
{
	int pid = argc > 1 ? atoi(argv[1]) : 0, reps = argc > 2 ? atoi(argv[2]) : 15;
	double *sender, *receiver;
	uint64_t bytes = 0;
	struct fileref_set s;

	if (pid <= 0 || reps < 1) {
		fprintf(stderr, "usage: bench-fileref PID [REPS]\n");
		return 64;
	}
	sender = calloc(reps, sizeof(double));
	receiver = calloc(reps, sizeof(double));
	if (!sender || !receiver || fileref_candidates(pid, &s)) {
		fprintf(stderr, "bench-fileref: cannot look at PID %d\n", pid);
		return 1;
	}
	for (size_t i = 0; i < s.count; i++)
		bytes += s.c[i].ref.size;
	printf("%zu files, %.1f KiB\n", s.count, bytes / 1024.0);
	for (size_t i = 0; i < s.count; i++)
		printf("  %s %lu bytes\n", s.c[i].ref.path, (unsigned long)s.c[i].ref.size);
	fileref_set_free(&s);
	for (int r = 0; r < reps; r++) {
		struct fileref_budget b;
		double t0 = now();

		if (fileref_candidates(pid, &s))
			return 1;
		sender[r] = now() - t0;
		fileref_budget_init(&b);
		t0 = now();
		for (size_t i = 0; i < s.count; i++)
			if (!fileref_have(&s.c[i].ref, &b))
				printf("  (not everyone may read %s)\n", s.c[i].ref.path);
		receiver[r] = now() - t0;
		fileref_set_free(&s);
	}
	report("sender", sender, reps, bytes);
	report("receiver", receiver, reps, bytes);
	free(sender);
	free(receiver);
	return 0;
}
