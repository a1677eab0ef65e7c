/*
 * bench-target MAPPED_MIB [TOUCHED_PERCENT] - the benchmark's Continuum target.
 *
 * Maps MAPPED_MIB MiB and fills TOUCHED_PERCENT of its pages (spread evenly;
 * default 100) with a pattern derived from each word's address, prints
 * "ready", then ticks every millisecond.  The first tick in a new process (a
 * copy restored by contmig: its PID changed) checks every touched page and
 * prints "PID gap MICROSECONDS ok" (or "bad"), the time since the tick before,
 * which the original took: the downtime as the process itself lived it.  The
 * tick sleeps, so the target leaves the CPUs to the tools being measured.
 */
#include "continuum.h"

#define SYS_mmap		9
#define SYS_clock_gettime	228
#define CLOCK_MONOTONIC		1
#define PAGE			4096UL

static long parse_ulong(const char *s)
{
	long v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return v;
}

static long now_us(void)
{
	long ts[2];

	continuum_syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (long)ts, 0, 0, 0, 0);
	return ts[0] * 1000000 + ts[1] / 1000;
}

static unsigned long pattern(const unsigned long *p)
{
	return (unsigned long)p * 0x9e3779b97f4a7c15UL;
}

/* Every stride-th page of mem, npages in all: fill (check == 0) or check. */
static int walk(unsigned long *mem, unsigned long npages, unsigned long stride, int check)
{
	for (unsigned long pg = 0; pg < npages; pg += stride) {
		unsigned long *w = mem + pg * (PAGE / sizeof(*w));

		for (unsigned long i = 0; i < PAGE / sizeof(*w); i++) {
			if (!check)
				w[i] = pattern(&w[i]);
			else if (w[i] != pattern(&w[i]))
				return 0;
		}
	}
	return 1;
}

static size_t put_num(char *buf, long n)
{
	char digits[24];
	size_t len = 0, k = 0;

	do
		digits[k++] = '0' + n % 10;
	while (n /= 10);
	while (k)
		buf[len++] = digits[--k];
	return len;
}

static void put_str(char *buf, size_t *len, const char *s)
{
	while (*s)
		buf[(*len)++] = *s++;
}

int main(int argc, char **argv, char **envp)
{
	long mib = argc > 1 ? parse_ulong(argv[1]) : 16;
	long percent = argc > 2 ? parse_ulong(argv[2]) : 100;
	unsigned long npages = (unsigned long)mib << 8;
	unsigned long stride = percent > 0 && percent < 100 ? 100 / percent : 1;
	unsigned long *mem = 0;
	long last, me = continuum_getpid();

	(void)envp;
	if (mib > 0) {
		mem = (unsigned long *)continuum_syscall(SYS_mmap, 0, mib << 20, 3 /* RW */,
							 0x22 /* PRIVATE|ANONYMOUS */, -1, 0);
		if ((long)mem < 0)
			return LED_IO_ERROR;
		walk(mem, npages, stride, 0);
	}
	send_all(1, "ready\n", 6);
	last = now_us();
	for (;;) {
		long t, gap;
		char line[64];
		size_t len = 0;

		continuum_sleep_ms(1);
		t = now_us();
		gap = t - last;
		last = t;
		if (continuum_getpid() == me)
			continue;
		me = continuum_getpid();
		len = put_num(line, continuum_getpid());
		put_str(line, &len, " gap ");
		len += put_num(line + len, gap);
		put_str(line, &len, walk(mem, npages, stride, 1) ? " ok\n" : " bad\n");
		send_all(1, line, len);
		last = now_us();
	}
}
