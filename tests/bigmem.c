/*
 * bigmem MIB - a Continuum test target with MIB MiB of touched memory.
 *
 * Fills an anonymous mapping with a pattern derived from each word's address,
 * prints "ready", then every 200 ms checks the whole pattern, prints "ok N",
 * and exits with LED 3 if a single word is wrong.  For large freezes and thaws.
 */
#include "continuum.h"
#include "say.h"

#define SYS_mmap	9

static long parse_ulong(const char *s)
{
	long v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return v;
}

static unsigned long pattern(unsigned long *p)
{
	return (unsigned long)p * 0x9e3779b97f4a7c15UL;
}


int main(int argc, char **argv, char **envp)
{
	long mib = argc > 1 ? parse_ulong(argv[1]) : 16;
	unsigned long words = (unsigned long)mib << 17;	/* 8-byte words in MIB MiB */
	unsigned long *mem;

	(void)envp;
	mem = (unsigned long *)continuum_syscall(SYS_mmap, 0, mib << 20, 3 /* RW */,
						 0x22 /* PRIVATE|ANONYMOUS */, -1, 0);
	if ((long)mem < 0)
		return LED_IO_ERROR;
	for (unsigned long i = 0; i < words; i++)
		mem[i] = pattern(&mem[i]);
	say("ready ", mib);
	for (long round = 1;; round++) {
		continuum_sleep_ms(200);
		for (unsigned long i = 0; i < words; i++)
			if (mem[i] != pattern(&mem[i]))
				return LED_STACK_CHECK;
		say("ok ", round);
	}
}
