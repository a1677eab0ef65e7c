/* A minimal unit-test harness: CHECK records a failure and goes on. */
#ifndef CONTMIG_TESTS_UNIT_H
#define CONTMIG_TESTS_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_failures;

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,   \
				__LINE__, #cond);                                \
			unit_failures++;                                         \
		}                                                                \
	} while (0)

#define CHECK_STR(a, b)                                                          \
	do {                                                                     \
		const char *a_ = (a), *b_ = (b);                                 \
		if (!a_ || !b_ || strcmp(a_, b_)) {                              \
			fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__,   \
				__LINE__, a_ ? a_ : "(null)", b_ ? b_ : "(null)");\
			unit_failures++;                                         \
		}                                                                \
	} while (0)

/* A file in the build tree (make check exports builddir). */
static inline const char *build_path(const char *rel)
{
	static char path[4096];
	const char *dir = getenv("builddir");

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", rel);
	return path;
}

static inline int unit_result(void)
{
	if (unit_failures)
		fprintf(stderr, "%d check(s) failed\n", unit_failures);
	return unit_failures ? 1 : 0;
}

#endif
