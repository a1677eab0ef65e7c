/*
 * sandboxed [0|2|strict|notify] [privileged] [migrate DEST] - a Continuum
 * test target inside its own seccomp sandbox.
 *
 * Sets no_new_privs (not with "privileged": root needs it not) and installs
 * a filter making getpid fail with EPERM (with "2", a second one making
 * getppid fail too, and getpid with EACCES: of filters that answer alike
 * the newest wins, so their order shows; with "0", none), prints "ready",
 * calls sys_migrate(DEST) if told to (under contmig run), then every 200 ms
 * checks that the calls still fail so and prints "ok N".  If the sandbox is gone (a copy restored
 * without its filters), it exits with 5.  With "strict" it enters seccomp's
 * strict mode instead and prints "ok N" from a busy loop (only read, write,
 * exit and sigreturn are left to it: a copy out of strict mode still runs,
 * /proc shows it).  With "notify" its one filter sends getppid to a
 * listener (SECCOMP_RET_USER_NOTIF), whose fd it closes; it only ticks.
 */
#include "continuum.h"
#include "say.h"

#define SYS_getppid		110
#define SYS_prctl		157
#define SYS_seccomp		317
#define PR_SET_NO_NEW_PRIVS	38
#define PR_SET_SECCOMP		22
#define SECCOMP_MODE_STRICT	1
#define SECCOMP_SET_MODE_FILTER	1
#define SECCOMP_RET_ALLOW	0x7fff0000U
#define SECCOMP_RET_ERRNO	0x00050000U
#define SECCOMP_RET_USER_NOTIF	0x7fc00000U
#define SECCOMP_FILTER_FLAG_NEW_LISTENER 8
#define AUDIT_ARCH_X86_64	0xc000003eU
#define EPERM			1
#define EACCES			13
#define LED_SANDBOX_GONE	5

/* linux/filter.h's, for a freestanding program. */
struct sock_filter {
	unsigned short code;
	unsigned char jt, jf;
	unsigned int k;
};

struct sock_fprog {
	unsigned short len;
	struct sock_filter *filter;
};

#define LD_ABS(off)		{ 0x20, 0, 0, (off) }	/* BPF_LD | BPF_W | BPF_ABS */
#define JEQ(k, jt, jf)		{ 0x15, (jt), (jf), (k) }	/* BPF_JMP | BPF_JEQ | BPF_K */
#define RET(k)			{ 0x06, 0, 0, (k) }	/* BPF_RET | BPF_K */

/* Make system call nr fail with errno e, and nr2 (if not 0) with e2; allow
 * everything else.  7 instructions, or 9 with nr2. */
static long deny(unsigned int nr, unsigned int e, unsigned int nr2, unsigned int e2)
{
	struct sock_filter f[] = {
		LD_ABS(4),				/* seccomp_data.arch */
		JEQ(AUDIT_ARCH_X86_64, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		LD_ABS(0),				/* seccomp_data.nr */
		JEQ(nr, 0, 1),
		RET(SECCOMP_RET_ERRNO | e),
		JEQ(nr2, 0, 1),
		RET(SECCOMP_RET_ERRNO | e2),
		RET(SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (!nr2) {
		f[6] = f[8];
		prog.len = 7;
	}
	return continuum_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog, 0, 0, 0);
}


/* getppid goes to a listener; the listener's fd is closed at once. */
static long notify(void)
{
	struct sock_filter f[] = {
		LD_ABS(0),				/* seccomp_data.nr */
		JEQ(SYS_getppid, 0, 1),
		RET(SECCOMP_RET_USER_NOTIF),
		RET(SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	long fd = continuum_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
				    SECCOMP_FILTER_FLAG_NEW_LISTENER, (long)&prog, 0, 0, 0);

	return fd < 0 ? fd : continuum_close(fd);
}

/* Strict mode: no nanosleep, so a busy loop between lines. */
static int strict(void)
{
	if (continuum_syscall(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0, 0))
		return LED_IO_ERROR;
	say("ready ", 0);
	for (long round = 1;; round++) {
		for (volatile long spin = 0; spin < 100000000; spin++)
			;
		say("ok ", round);
	}
}

int main(int argc, char **argv, char **envp)
{
	int one = 1, two = 0, nnp = 1;
	const char *dest = 0;

	(void)envp;
	if (argc > 1 && argv[1][0] == 's')
		return strict();
	for (int i = 1; i < argc; i++) {
		one &= argv[i][0] != '0' && argv[i][0] != 'n';
		two |= argv[i][0] == '2';
		nnp &= argv[i][0] != 'p';
		if (argv[i][0] == 'm' && i + 1 < argc)
			dest = argv[++i];
	}
	if ((nnp && continuum_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0)) ||
	    (one && deny(CONTINUUM_SYS_getpid, EPERM, 0, 0)) ||
	    (two && deny(SYS_getppid, EPERM, CONTINUUM_SYS_getpid, EACCES)) ||
	    (argc > 1 && argv[1][0] == 'n' && notify()))
		return LED_IO_ERROR;
	say("ready ", one + two);
	if (dest)
		say("sys_migrate returned ", sys_migrate(dest));
	for (long round = 1;; round++) {
		continuum_sleep_ms(200);
		if ((one && continuum_getpid() != (two ? -EACCES : -EPERM)) ||
		    (two && continuum_syscall(SYS_getppid, 0, 0, 0, 0, 0, 0) != -EPERM))
			return LED_SANDBOX_GONE;
		say("ok ", round);
	}
}
