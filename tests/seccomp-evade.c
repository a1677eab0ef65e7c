/*
 * seccomp-evade - a sandbox whose first filter answers seccomp(2) itself
 * ("success", SECCOMP_RET_ERRNO|0) when the program it is given lies above
 * 4 GiB, as on the stack; the program installs its second filter (getpid
 * fails with EPERM) from .bss, below.  A restorer that wrote the second
 * filter on the stack would have it swallowed and believe it installed;
 * tests/seccomp.sh checks that the copy is refused instead.  Prints
 * "ok N" each 200 ms while getpid fails, "SANDBOX GONE" if it does not.
 */
#include "continuum.h"
#include "say.h"
#define SYS_prctl 157
#define SYS_seccomp 317
#define PR_SET_NO_NEW_PRIVS 38
#define SECCOMP_RET_ALLOW 0x7fff0000U
#define SECCOMP_RET_ERRNO 0x00050000U
#define AUDIT_ARCH_X86_64 0xc000003eU
struct sock_filter { unsigned short code; unsigned char jt, jf; unsigned int k; };
struct sock_fprog { unsigned short len; struct sock_filter *filter; };
#define LD_ABS(off) { 0x20, 0, 0, (off) }
#define JEQ(k, jt, jf) { 0x15, (jt), (jf), (k) }
#define RET(k) { 0x06, 0, 0, (k) }
static struct sock_filter fa[] = {
	LD_ABS(4), JEQ(AUDIT_ARCH_X86_64, 1, 0), RET(SECCOMP_RET_ALLOW),
	LD_ABS(0), JEQ(SYS_seccomp, 0, 3),
	LD_ABS(16 + 2 * 8 + 4),		/* args[2] high half */
	JEQ(0, 1, 0),
	RET(SECCOMP_RET_ERRNO | 0),	/* "installed" */
	RET(SECCOMP_RET_ALLOW),
};
static struct sock_filter fb[] = {
	LD_ABS(4), JEQ(AUDIT_ARCH_X86_64, 1, 0), RET(SECCOMP_RET_ALLOW),
	LD_ABS(0), JEQ(CONTINUUM_SYS_getpid, 0, 1), RET(SECCOMP_RET_ERRNO | 1),
	RET(SECCOMP_RET_ALLOW),
};
static struct sock_fprog pa = { sizeof(fa) / sizeof(fa[0]), fa };
static struct sock_fprog pb = { sizeof(fb) / sizeof(fb[0]), fb };
int main(int argc, char **argv, char **envp)
{
	(void)argc; (void)argv; (void)envp;
	if (continuum_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0) ||
	    continuum_syscall(SYS_seccomp, 1, 0, (long)&pa, 0, 0, 0) ||
	    continuum_syscall(SYS_seccomp, 1, 0, (long)&pb, 0, 0, 0))
		return 3;
	say("ready getpid=", continuum_getpid());
	for (long round = 1;; round++) {
		continuum_sleep_ms(200);
		long p = continuum_getpid();
		if (p != -1) { say("SANDBOX GONE getpid=", p); continuum_sleep_ms(200); continue; }
		say("ok ", round);
	}
}
