/*
 * replay FILE|DIR...: run a fuzz harness once on each input, without
 * libFuzzer, so that make check replays the corpus (every crash ever found
 * is kept there) with an ordinary compiler.  Exits 0 if no input crashed.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t size = 0, cap = 0, n;

	if (!f) {
		perror(path);
		return 1;
	}
	do {
		if (size == cap) {
			uint8_t *d = realloc(data, cap = cap ? 2 * cap : 65536);

			if (!d) {
				fclose(f);
				free(data);
				return 1;
			}
			data = d;
		}
		n = fread(data + size, 1, cap - size, f);
		size += n;
	} while (n);
	fclose(f);
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	int failed = 0, count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *e;

			while (d && (e = readdir(d))) {
				char path[4096];

				if (e->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
				failed |= run_file(path);
				count++;
			}
			if (d)
				closedir(d);
		} else {
			failed |= run_file(argv[i]);
			count++;
		}
	}
	printf("replayed %d inputs\n", count);
	return failed;
}
