/*
 * bss - a Continuum test target in freestanding C with initialized data and
 * a large .bss right after it: two adjacent mappings with the same
 * protection (the file's rw-p page and anonymous rw-p memory).  It fills
 * both with a pattern, prints "ready", then checks them every 100 ms and
 * prints "ok N"; a wrong word ends it with LED 3.  A third mapping holds the
 * pattern behind PROT_NONE (opened only to check it): a freeze must read
 * pages the process itself cannot.
 */
#include "continuum.h"

#define DATA_WORDS	1000
#define BSS_WORDS	200000
#define HIDDEN_WORDS	1024		/* two pages */

#define SYS_mmap	9
#define SYS_mprotect	10

static volatile unsigned long data[DATA_WORDS] = { 1 };
static volatile unsigned long bss[BSS_WORDS];

static unsigned long pattern(const volatile unsigned long *p)
{
	return (unsigned long)p * 0x9e3779b97f4a7c15UL;
}

static void say(const char *s, unsigned long n)
{
	char buf[32];
	size_t len = 0, digits = 1;

	while (*s)
		buf[len++] = *s++;
	for (unsigned long t = n; t /= 10;)
		digits++;
	for (size_t i = 0; i < digits; i++, n /= 10)
		buf[len + digits - 1 - i] = '0' + n % 10;
	len += digits;
	buf[len++] = '\n';
	send_all(1, buf, len);
}

/* Not inlined: a backtrace from an image frozen in the sleep names it, then
 * main, then _start, unwound with the C code's unwind tables. */
void pause_tick(void) __attribute__((noinline));
void pause_tick(void)
{
	continuum_sleep_ms(100);
}

static void protect(volatile unsigned long *p, int prot)
{
	if (continuum_syscall(SYS_mprotect, (long)p, HIDDEN_WORDS * 8, prot, 0, 0, 0) < 0)
		continuum_exit(LED_IO_ERROR);
}

int main(int argc, char **argv, char **envp)
{
	volatile unsigned long *hidden;

	(void)argc;
	(void)argv;
	(void)envp;
	for (int i = 0; i < DATA_WORDS; i++)
		data[i] = pattern(&data[i]);
	for (int i = 0; i < BSS_WORDS; i++)
		bss[i] = pattern(&bss[i]);
	hidden = (volatile unsigned long *)continuum_syscall(SYS_mmap, 0, HIDDEN_WORDS * 8,
							     3 /* RW */, 0x22, -1, 0);
	if ((long)hidden < 0)
		return LED_IO_ERROR;
	for (int i = 0; i < HIDDEN_WORDS; i++)
		hidden[i] = pattern(&hidden[i]);
	protect(hidden, 0);
	say("ready ", 1);
	for (unsigned long round = 1;; round++) {
		pause_tick();
		for (int i = 0; i < DATA_WORDS; i++)
			if (data[i] != pattern(&data[i]))
				return LED_STACK_CHECK;
		for (int i = 0; i < BSS_WORDS; i++)
			if (bss[i] != pattern(&bss[i]))
				return LED_STACK_CHECK;
		protect(hidden, 1 /* PROT_READ */);
		for (int i = 0; i < HIDDEN_WORDS; i++)
			if (hidden[i] != pattern(&hidden[i]))
				return LED_STACK_CHECK;
		protect(hidden, 0);
		say("ok ", round);
	}
}
