/*
 * bigmem-plain MIB: tests/bigmem's ordinary twin, for tools/bench-ordinary.sh.
 * A dynamic glibc program with MIB MiB of touched memory (malloc), filled
 * with a pattern derived from each word's address; it prints "ready", then
 * every 200 ms checks the whole pattern and prints "ok N", or "bad" and
 * exits 3 if a single word is wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static unsigned long pattern(unsigned long *p)
{
	return (unsigned long)p * 0x9e3779b97f4a7c15UL;
}

int main(int argc, char **argv)
{
	size_t words = (argc > 1 ? strtoul(argv[1], NULL, 10) : 64) << 20;
	unsigned long *mem;

	words /= sizeof(*mem);
	mem = malloc(words * sizeof(*mem));
	if (!mem)
		return 2;
	for (size_t i = 0; i < words; i++)
		mem[i] = pattern(&mem[i]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	puts("ready");
	for (long n = 1;; n++) {
		usleep(200000);
		for (size_t i = 0; i < words; i++)
			if (mem[i] != pattern(&mem[i])) {
				puts("bad");
				return 3;
			}
		printf("ok %ld\n", n);
	}
}
