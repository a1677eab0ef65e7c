/*
 * dropper [TICKS [LOG]] - a target whose emptied pages are never looked at
 * until it is asked: 16 MiB written page by page, then every 10 ms one more page
 * emptied (MADV_DONTNEED) and a count printed; SIGUSR1 makes it check every
 * page (zeros where emptied, the page's own pattern elsewhere) and print
 * "ok N" or "FAIL page P" and exit 3.  With TICKS (0: for ever), it exits
 * 0 after that many; with LOG, it appends each count to LOG too, opened
 * once with O_APPEND.  A copy built from checkpoints that
 * lost a drop holds old bytes where zeros belong.  An ordinary glibc
 * program.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE	4096UL
#define PAGES	4096UL

static volatile sig_atomic_t asked;

static void on_usr1(int sig)
{
	(void)sig;
	asked = 1;
}

static uint64_t word(size_t page, size_t i)
{
	return (page + 1) * 0x9e3779b97f4a7c15ULL ^ i;
}

int main(int argc, char **argv)
{
	unsigned long ticks = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;
	FILE *log = argc > 2 ? fopen(argv[2], "a") : NULL;
	struct timespec tick = { 0, 10 * 1000000L };
	uint64_t *mem = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t emptied = 0;

	if (mem == MAP_FAILED || (argc > 2 && !log)) {
		perror(mem == MAP_FAILED ? "mmap" : argv[2]);
		return 1;
	}
	signal(SIGUSR1, on_usr1);
	for (size_t p = 0; p < PAGES; p++)
		for (size_t i = 0; i < PAGE / 8; i++)
			mem[p * PAGE / 8 + i] = word(p, i);
	for (unsigned long n = 1; !ticks || n <= ticks; n++) {
		if (asked) {
			asked = 0;
			for (size_t p = 0; p < PAGES; p++)
				for (size_t i = 0; i < PAGE / 8; i++)
					if (mem[p * PAGE / 8 + i] != (p < emptied ? 0 : word(p, i))) {
						printf("FAIL page %zu (emptied %zu)\n", p, emptied);
						fflush(stdout);
						return 3;
					}
			printf("ok %zu\n", emptied);
			fflush(stdout);
		}
		if (emptied < PAGES && madvise(mem + emptied * PAGE / 8, PAGE, MADV_DONTNEED) < 0) {
			perror("madvise");
			return 1;
		}
		emptied += emptied < PAGES;
		printf("%lu\n", n);
		fflush(stdout);
		if (log) {
			fprintf(log, "%lu\n", n);
			fflush(log);
		}
		nanosleep(&tick, NULL);
	}
	return 0;
}
