#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testpoint.h"

void test_point(const char *name)
{
	const char *hook = getenv("CONTMIG_TEST_HOOK"), *until = getenv("CONTMIG_TEST_HOOK_UNTIL");
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	char line[128];
	int n;

	if (!hook || strcmp(hook, name))
		return;
	n = snprintf(line, sizeof(line), "contmig: test point %s reached\n", name);
	if (write(STDERR_FILENO, line, n) != n)
		(void)0;
	/* Until the file appears (at most 20 s), or for good. */
	for (int i = 0; until && i < 2000; i++) {
		if (access(until, F_OK) == 0)
			return;
		nanosleep(&nap, NULL);
	}
	for (;;)
		pause();
}
