/*
 * avxsum [ROUNDS] - a freestanding C Continuum test target.
 *
 * Iterates the logistic map x <- r x (1 - x) on AVX vectors (4 doubles and 8
 * floats per register) for ROUNDS million steps and prints a checksum of the
 * final state.  The map is chaotic: one wrong bit in any lane, anywhere in the
 * run, changes the checksum.  The working state lives in ymm registers, so a
 * migration that does not carry the XSAVE state cannot get it right.
 */
#include "continuum.h"

typedef double v4d __attribute__((vector_size(32)));
typedef float v8f __attribute__((vector_size(32)));

static long parse_ulong(const char *s)
{
	long v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return v;
}

static void put_line(const char *label, unsigned long value)
{
	static const char hex[] = "0123456789abcdef";
	char buf[64];
	size_t n = 0;

	while (*label)
		buf[n++] = *label++;
	for (int shift = 60; shift >= 0; shift -= 4)
		buf[n++] = hex[(value >> shift) & 0xf];
	buf[n++] = '\n';
	send_all(1, buf, n);
}

static unsigned long bits_of(double d)
{
	union { double d; unsigned long u; } v = { .d = d };

	return v.u;
}

int main(int argc, char **argv, char **envp)
{
	long rounds = argc > 1 ? parse_ulong(argv[1]) : 1500;
	v4d x = { 0.11, 0.23, 0.37, 0.41 }, r = { 3.91, 3.93, 3.95, 3.97 };
	v8f y = { 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f };
	v4d acc = { 0 };
	unsigned long sum = 0;

	(void)envp;
	for (long round = 0; round < rounds; round++) {
		for (long i = 0; i < 1000000; i++) {
			x = r * x * (1.0 - x);
			y = 3.99f * y * (1.0f - y);
			acc += x;
		}
		acc += (v4d){ y[0], y[1], y[2], y[3] } * 1e-3;
	}
	for (int lane = 0; lane < 4; lane++)
		sum = sum * 31 + bits_of(acc[lane]) + bits_of(x[lane]);
	put_line("checksum ", sum);
	return 0;
}
