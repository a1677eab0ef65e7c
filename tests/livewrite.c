/*
 * livewrite MIB HOT_MIB [--churn] - a target for live sends (send --live):
 * MIB MiB of memory, every page of it written once, then HOT_MIB of it
 * rewritten all the time; each page's first word says which write it holds
 * (a table in the process's own memory keeps count), the rest follows from
 * it.  It ticks every millisecond and, every CHECK_MS, checks every page
 * against the table and prints "ok N pause MS" (the longest gap between two
 * looks at the clock since the last line, which it takes after every page
 * it writes and every 64 it checks: a stop, a move) or "FAIL page P ..." and
 * exits 3.  With --churn it also, between ticks, unmaps and maps again a
 * small mapping at a moving address (moving some with mremap and making
 * half of some read-only), empties a page (MADV_DONTNEED: zeros expected),
 * and grows and shrinks the heap, so mappings change while a
 * live send's rounds run.  SIGUSR2 makes it exec sleep 60.  An ordinary
 * glibc program.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE		4096UL
#define CHECK_MS	500
#define CHURN_PAGES	16
#define CHURN_SLOTS	8

static uint64_t *mem, *version;
static size_t pages;
/* The longest gap between two looks at the clock: a stop, a move. */
static double last_tick, longest;
/* Mappings made and unmapped as it runs, each with its own version. */
static uint8_t *churn[CHURN_SLOTS];
static uint64_t churn_version[CHURN_SLOTS];

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double tick(void)
{
	double t = now_ms();

	if (t - last_tick > longest)
		longest = t - last_tick;
	last_tick = t;
	return t;
}

static uint64_t word(uint64_t page, uint64_t v, size_t i)
{
	return (page * 0x9e3779b97f4a7c15ULL) ^ (v << 20) ^ i;
}

static void fill(uint64_t *p, uint64_t page, uint64_t v)
{
	p[0] = v;
	for (size_t i = 1; i < PAGE / 8; i++)
		p[i] = word(page, v, i);
}

/* 0 when p holds write v of page (v 0: zeros, a page emptied). */
static int wrong(const uint64_t *p, uint64_t page, uint64_t v)
{
	if (v == 0) {
		for (size_t i = 0; i < PAGE / 8; i++)
			if (p[i])
				return 1;
		return 0;
	}
	if (p[0] != v)
		return 1;
	for (size_t i = 1; i < PAGE / 8; i++)
		if (p[i] != word(page, v, i))
			return 1;
	return 0;
}

static void fail(const char *what, size_t index, uint64_t want, uint64_t got)
{
	printf("FAIL %s %zu: want write %llu, found %llu\n", what, index,
	       (unsigned long long)want, (unsigned long long)got);
	fflush(stdout);
	exit(3);
}

static void check(void)
{
	for (size_t p = 0; p < pages; p++)
		if (p % 64 == 0 && tick() < 0)
			return;
		else if (wrong(mem + p * PAGE / 8, p, version[p]))
			fail("page", p, version[p], mem[p * PAGE / 8]);
	for (int s = 0; s < CHURN_SLOTS; s++)
		for (size_t p = 0; churn[s] && p < CHURN_PAGES; p++)
			if (wrong((uint64_t *)(churn[s] + p * PAGE), 1000000 + p, churn_version[s]))
				fail("churned page", (size_t)s * CHURN_PAGES + p, churn_version[s],
				     *(uint64_t *)(churn[s] + p * PAGE));
}

/* One change to the mappings: a slot unmapped and made again, a page
 * emptied, the heap moved. */
static void churn_once(unsigned long n)
{
	int s = n % CHURN_SLOTS;
	size_t len = CHURN_PAGES * PAGE;
	size_t empty = (n * 7919) % pages;
	static void *heap_top;

	if (churn[s] && munmap(churn[s], len) < 0) {
		perror("munmap");
		exit(1);
	}
	churn[s] = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (churn[s] == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	churn_version[s] = n + 1;
	for (size_t p = 0; p < CHURN_PAGES; p++)
		fill((uint64_t *)(churn[s] + p * PAGE), 1000000 + p, churn_version[s]);
	/* Every other one is moved elsewhere (mremap, as realloc does), every
	 * third half made read-only (mprotect splits it). */
	if (n % 2) {
		void *to = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (to == MAP_FAILED ||
		    mremap(churn[s], len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to) == MAP_FAILED) {
			perror("mremap");
			exit(1);
		}
		churn[s] = to;
	}
	if (n % 3 == 0 && mprotect(churn[s], len / 2, PROT_READ) < 0) {
		perror("mprotect");
		exit(1);
	}
	if (madvise(mem + empty * PAGE / 8, PAGE, MADV_DONTNEED) < 0) {
		perror("madvise");
		exit(1);
	}
	version[empty] = 0;
	if (!heap_top)
		heap_top = sbrk(0);
	if (brk((char *)heap_top + (n % 2 ? 64 * PAGE : 0)) < 0) {
		perror("brk");
		exit(1);
	}
	if (n % 2)
		memset(heap_top, (int)n, 64 * PAGE);
}

/* SIGUSR2: become another program (sleep 60), as an exec during a live
 * send's rounds would. */
static void become_sleep(int sig)
{
	static char *const args[] = { "sleep", "60", NULL };

	(void)sig;
	execv("/bin/sleep", args);
	_exit(1);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
	size_t hot = argc > 2 ? strtoul(argv[2], NULL, 10) : 4;
	int churning = argc > 3 && !strcmp(argv[3], "--churn");
	size_t hot_pages, next = 0;
	unsigned long checks = 0, ticks = 0;
	double last_check, last_ms;

	pages = mib << 20 >> 12;
	hot_pages = hot << 20 >> 12;
	if (!pages || hot_pages > pages) {
		fprintf(stderr, "usage: livewrite MIB HOT_MIB [--churn]\n");
		return 2;
	}
	signal(SIGUSR2, become_sleep);
	mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	version = calloc(pages, sizeof(*version));
	if (mem == MAP_FAILED || !version) {
		perror("livewrite: memory");
		return 1;
	}
	for (size_t p = 0; p < pages; p++)
		fill(mem + p * PAGE / 8, p, version[p] = 1);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	last_tick = last_check = last_ms = now_ms();
	for (;;) {
		double t;

		/* A millisecond's worth of rewriting the hot set, then a tick. */
		do {
			size_t p = next++ % (hot_pages ? hot_pages : 1);

			if (hot_pages)
				fill(mem + p * PAGE / 8, p, ++version[p]);
			t = tick();
		} while (t - last_ms < 1);
		last_ms = t;
		if (churning && ++ticks % 5 == 0)
			churn_once(ticks / 5);
		if (t - last_check >= CHECK_MS) {
			check();
			printf("ok %lu pause %.1f\n", ++checks, longest);
			fflush(stdout);
			longest = 0;
			last_check = tick();
		}
	}
}
