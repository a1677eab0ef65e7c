/*
 * bss - a Continuum test target in freestanding C with initialized data and
 * a large .bss right after it: two adjacent mappings with the same
 * protection (the file's rw-p page and anonymous rw-p memory).  It fills
 * both with a pattern, prints "ready", then checks them every 100 ms and
 * prints "ok N"; a wrong word ends it with LED 3.
 */
#include "continuum.h"

#define DATA_WORDS	1000
#define BSS_WORDS	200000

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

int main(int argc, char **argv, char **envp)
{
	(void)argc;
	(void)argv;
	(void)envp;
	for (int i = 0; i < DATA_WORDS; i++)
		data[i] = pattern(&data[i]);
	for (int i = 0; i < BSS_WORDS; i++)
		bss[i] = pattern(&bss[i]);
	say("ready ", 1);
	for (unsigned long round = 1;; round++) {
		pause_tick();
		for (int i = 0; i < DATA_WORDS; i++)
			if (data[i] != pattern(&data[i]))
				return LED_STACK_CHECK;
		for (int i = 0; i < BSS_WORDS; i++)
			if (bss[i] != pattern(&bss[i]))
				return LED_STACK_CHECK;
		say("ok ", round);
	}
}
