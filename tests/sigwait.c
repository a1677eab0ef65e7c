/*
 * sigwait [MIB] - a Continuum test target that keeps every signal it is sent.
 *
 * Blocks every signal, touches MIB MiB of memory (default 0: a large image
 * makes a slow restore), prints "ready", then every 20 ms looks for a file
 * named "go" in its directory.  When it is there it takes each pending
 * signal with rt_sigtimedwait (no waiting) and prints
 * "signal N code C value V", then "done", and exits 0.  What a migration
 * loses or adds shows in those lines.  It exits with LED 3 if its memory
 * changed.
 */
#include "continuum.h"

#define SYS_mmap		9
#define SYS_rt_sigprocmask	14
#define SYS_rt_sigtimedwait	128
#define AT_FDCWD		-100

struct timespec_ {
	long tv_sec, tv_nsec;
};

/* The kernel's siginfo_t, as far as we read it. */
struct siginfo_ {
	int signo, errno_, code, pad;
	int pid, uid;
	int value;			/* si_value.sival_int */
	char rest[128 - 28];
};

static long parse_ulong(const char *s)
{
	long v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return v;
}

static size_t put_num(char *buf, long n)
{
	char digits[24];
	size_t len = 0, k = 0;

	if (n < 0) {
		buf[len++] = '-';
		n = -n;
	}
	do
		digits[k++] = '0' + n % 10;
	while (n /= 10);
	while (k)
		buf[len++] = digits[--k];
	return len;
}

static size_t put_str(char *buf, const char *s)
{
	size_t len = 0;

	while (s[len]) {
		buf[len] = s[len];
		len++;
	}
	return len;
}

static unsigned long pattern(unsigned long *p)
{
	return (unsigned long)p * 0x9e3779b97f4a7c15UL;
}

int main(int argc, char **argv, char **envp)
{
	long mib = argc > 1 ? parse_ulong(argv[1]) : 0;
	unsigned long words = (unsigned long)mib << 17, all = ~0UL;
	unsigned long *mem = 0;
	struct timespec_ now = { 0, 0 };
	char line[96];
	size_t len;

	(void)envp;
	if (continuum_syscall(SYS_rt_sigprocmask, 2 /* SIG_SETMASK */, (long)&all, 0, 8, 0, 0))
		return LED_IO_ERROR;
	if (mib) {
		mem = (unsigned long *)continuum_syscall(SYS_mmap, 0, mib << 20, 3, 0x22, -1, 0);
		if ((long)mem < 0)
			return LED_IO_ERROR;
	}
	for (unsigned long i = 0; i < words; i++)
		mem[i] = pattern(&mem[i]);
	send_all(1, "ready\n", 6);
	for (;;) {
		long fd = continuum_syscall(CONTINUUM_SYS_openat, AT_FDCWD, (long)"go", 0, 0, 0, 0);

		if (fd >= 0) {
			continuum_syscall(CONTINUUM_SYS_close, fd, 0, 0, 0, 0, 0);
			break;
		}
		continuum_sleep_ms(20);
	}
	for (unsigned long i = 0; i < words; i++)
		if (mem[i] != pattern(&mem[i]))
			return LED_STACK_CHECK;
	for (;;) {
		struct siginfo_ si;
		long sig = continuum_syscall(SYS_rt_sigtimedwait, (long)&all, (long)&si,
					     (long)&now, 8, 0, 0);

		if (sig < 0)
			break;
		len = put_str(line, "signal ");
		len += put_num(line + len, sig);
		len += put_str(line + len, " code ");
		len += put_num(line + len, si.code);
		len += put_str(line + len, " value ");
		len += put_num(line + len, si.code == -1 ? si.value : 0);
		line[len++] = '\n';
		send_all(1, line, len);
	}
	send_all(1, "done\n", 5);
	return 0;
}
