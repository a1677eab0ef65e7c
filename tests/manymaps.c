/*
 * manymaps - a Continuum test target with more mappings, or more runs of
 * stored pages, than a small fixed limit would take; or a private file
 * mapping that reaches past the end of its file.
 *
 *   manymaps maps N    N one-page anonymous mappings, read-write and
 *                      read-only in turn (so the kernel cannot merge them)
 *   manymaps runs N    one anonymous mapping of 2N pages, every other page
 *                      touched: N runs of present pages
 *   manymaps file PATH PATH (at most 64 KiB) mapped private over 4 pages
 *                      more than it holds, the file closed again
 *
 * Each page it touches holds a pattern; it prints "ready", then every
 * 200 ms checks them all and prints "ok N", and exits with LED 3 at the
 * first wrong byte.  The file mapping must read as the file's bytes then
 * zeros to the end of the last page; once it runs under another PID (it
 * was moved) the pages past the file's end are read too, and must be zero
 * (contmig-image(5)): it then prints "moved ok N".
 */
#include "continuum.h"
#include "say.h"

#define SYS_mmap	9
#define SYS_mprotect	10
#define PAGE		4096UL
#define FILE_MAX	(64UL << 10)
#define EXTRA_PAGES	4

static unsigned char file_copy[FILE_MAX];

static long parse_ulong(const char *s)
{
	long v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return v;
}

static unsigned long pattern(unsigned long addr)
{
	return addr * 0x9e3779b97f4a7c15UL;
}


static unsigned char *map(unsigned long len, int prot, int flags, int fd)
{
	long p = continuum_syscall(SYS_mmap, 0, len, prot, flags, fd, 0);

	if (p < 0)
		continuum_exit(LED_IO_ERROR);
	return (unsigned char *)p;
}

static void fill(unsigned char *page)
{
	volatile unsigned long *w = (volatile unsigned long *)page;

	for (unsigned long i = 0; i < PAGE / 8; i++)
		w[i] = pattern((unsigned long)&w[i]);
}

static void check(const unsigned char *page)
{
	const volatile unsigned long *w = (const volatile unsigned long *)page;

	for (unsigned long i = 0; i < PAGE / 8; i++)
		if (w[i] != pattern((unsigned long)&w[i]))
			continuum_exit(LED_STACK_CHECK);
}

int main(int argc, char **argv, char **envp)
{
	const char *mode = argc > 2 ? argv[1] : "";
	long n = argc > 2 ? parse_ulong(argv[2]) : 0;
	unsigned char **pages = 0, *mem = 0;
	long size = 0, fd, pid = continuum_getpid();

	(void)envp;
	if (mode[0] == 'm') {
		/* The list of pages lives in a mapping of its own. */
		pages = (unsigned char **)map((n * sizeof(*pages) + PAGE - 1) & ~(PAGE - 1), 3,
					      0x22, -1);
		for (long i = 0; i < n; i++) {
			pages[i] = map(PAGE, 3 /* RW */, 0x22 /* PRIVATE|ANONYMOUS */, -1);
			fill(pages[i]);
			if (i % 2 && continuum_syscall(SYS_mprotect, (long)pages[i], PAGE,
						       1 /* R */, 0, 0, 0) < 0)
				continuum_exit(LED_IO_ERROR);
		}
	} else if (mode[0] == 'r') {
		mem = map(2 * n * PAGE, 3, 0x22, -1);
		for (long i = 0; i < n; i++)
			fill(mem + 2 * i * PAGE);
	} else if (mode[0] == 'f') {
		fd = continuum_open(argv[2], 0 /* O_RDONLY */, 0);
		if (fd < 0)
			continuum_exit(LED_IO_ERROR);
		while ((n = continuum_read(fd, file_copy + size, FILE_MAX - size)) > 0)
			size += n;
		if (n < 0 || size == 0 || size == FILE_MAX)
			continuum_exit(LED_IO_ERROR);
		n = (size + PAGE - 1) / PAGE + EXTRA_PAGES;	/* pages mapped */
		mem = map(n * PAGE, 1 /* R */, 0x02 /* PRIVATE */, fd);
		continuum_close(fd);
	} else {
		continuum_exit(LED_IO_ERROR);
	}
	say("ready ", n);
	for (long round = 1;; round++) {
		int moved;

		continuum_sleep_ms(200);
		moved = continuum_getpid() != pid;
		if (mode[0] == 'm')
			for (long i = 0; i < n; i++)
				check(pages[i]);
		else if (mode[0] == 'r')
			for (long i = 0; i < n; i++)
				check(mem + 2 * i * PAGE);
		else
			for (long i = 0; i < (moved ? n * (long)PAGE : (size + PAGE - 1) &
					      ~(long)(PAGE - 1)); i++)
				if (mem[i] != (i < size ? file_copy[i] : 0))
					continuum_exit(LED_STACK_CHECK);
		say(moved ? "moved ok " : "ok ", round);
	}
}
