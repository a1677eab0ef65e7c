/*
 * livefiles DIR [MODE] - a target for live sends whose mappings of a file change
 * under the rounds: every few milliseconds it takes the next step of a
 * cycle on a 16-page region X, keeping what X must hold in a buffer of its
 * own, and every 100 ms it compares the two and prints "ok N" or "FAIL
 * step S page P: has W want W" (its first words; then exits 3).  The cycle: anonymous memory written; the
 * file DIR/livefiles.data mapped private and read-only where it was (the
 * kernel takes the hole just left); a page of it made writable, written and
 * read-only again; anonymous memory again, never touched (zeros).  It also rewrites
 * 2 MiB all the time, so that a live send runs several rounds.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE	4096UL
#define PAGES	16
#define LEN	(PAGES * PAGE)
#define HOT	(2UL << 20)

static uint8_t expect[LEN], file_now[LEN];
static uint8_t *x;
static int fd;

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void pattern(uint8_t *p, size_t len, unsigned tag)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = ((uint64_t)tag << 40) ^ (i * 0x9e3779b97f4a7c15ULL) ^ 1;

		memcpy(p + i, &w, 8);
	}
}

static void need(int ok, const char *what)
{
	if (!ok) {
		perror(what);
		exit(1);
	}
}

static void map_anonymous(void)
{
	if (x)
		need(munmap(x, LEN) == 0, "munmap");
	x = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	need(x != MAP_FAILED, "mmap");
}

/* Step n of the cycle on X, and what X must hold after it. */
/* X against what it must hold: 0, or the page that differs plus one. */
static size_t differs(void)
{
	for (size_t p = 0; p < PAGES; p++)
		if (memcmp(x + p * PAGE, expect + p * PAGE, PAGE))
			return p + 1;
	return 0;
}

static void step(unsigned n)
{
	switch (n % 6) {
	case 0:
		map_anonymous();
		pattern(x, LEN, n);
		memcpy(expect, x, LEN);
		break;
	case 1:
		need(munmap(x, LEN) == 0, "munmap");
		x = mmap(NULL, LEN, PROT_READ, MAP_PRIVATE, fd, 0);
		need(x != MAP_FAILED, "mmap the file");
		memcpy(expect, file_now, LEN);
		break;
	case 2:
		need(mprotect(x, PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect");
		pattern(x, PAGE, n);
		need(mprotect(x, PAGE, PROT_READ) == 0, "mprotect");
		memcpy(expect, x, PAGE);
		break;
	case 3:		/* With LIVEFILES_DROP set, that page dropped (the file's
			 * again): a plain send sometimes gives the copy a zero
			 * page there, before this issue too (under study). */
		if (getenv("LIVEFILES_DROP")) {
			need(madvise(x, PAGE, MADV_DONTNEED) == 0, "madvise");
			memcpy(expect, file_now, PAGE);
		}
		break;
	case 4:		/* nothing: a write to the file under its private
			 * mapping need not show there (mmap(2)) */
		break;
	case 5:
		map_anonymous();
		memset(expect, 0, LEN);
		break;
	}
}

int main(int argc, char **argv)
{
	char path[4096];
	uint8_t *hot = malloc(HOT);
	unsigned n = 0, checks = 0;
	double last_step, last_check;
	size_t at = 0;
	pid_t me = getpid();

	if (argc < 2 || argc > 3 || !hot) {
		fprintf(stderr, "usage: livefiles DIR [MODE]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/livefiles.data", argv[1]);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	need(fd >= 0, path);
	/* 644: a file the receiver may map itself (by reference). */
	need(fchmod(fd, argc > 2 ? (mode_t)strtoul(argv[2], NULL, 8) : 0600) == 0, "fchmod");
	pattern(file_now, LEN, 0xf11e);
	need(pwrite(fd, file_now, LEN, 0) == (ssize_t)LEN, "write the file");
	step(n++);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	last_step = last_check = now_ms();
	for (;;) {
		double t;

		/* Moved: looked at before anything else is done. */
		t = getpid() != me ? last_check + 100 : now_ms();
		if (t - last_check >= 100) {
			size_t p = differs();

			if (p) {
				printf("FAIL step %u page %zu: has %016llx want %016llx\n", (n - 1) % 6, p - 1,
				       *(unsigned long long *)(x + (p - 1) * PAGE),
				       *(unsigned long long *)(expect + (p - 1) * PAGE));
				fflush(stdout);
				exit(3);
			}
			if (getpid() != me) {
				printf("moved ok\n");
				fflush(stdout);
				exit(0);
			}
			printf("ok %u\n", ++checks);
			fflush(stdout);
			last_check = t;
		}
		memset(hot + at, (int)n, PAGE);
		at = (at + PAGE) % HOT;
		if (t - last_step >= 3) {
			step(n++);
			last_step = t;
		}
	}
}
