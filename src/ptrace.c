#include "config.h"

#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "ptrace.h"

int ptrace_wait(pid_t pid, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, __WALL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (WIFEXITED(*status) || WIFSIGNALED(*status))
			return -ESRCH;
		return 0;
	}
}

int ptrace_detach(pid_t pid, int sig)
{
	return ptrace(PTRACE_DETACH, pid, 0, sig) < 0 ? -errno : 0;
}

int ptrace_get_regs(pid_t pid, struct user_regs_struct *regs)
{
	return ptrace(PTRACE_GETREGS, pid, 0, regs) < 0 ? -errno : 0;
}

int ptrace_set_regs(pid_t pid, const struct user_regs_struct *regs)
{
	return ptrace(PTRACE_SETREGS, pid, 0, regs) < 0 ? -errno : 0;
}

int ptrace_get_xstate(pid_t pid, uint8_t **buf, size_t *len)
{
	/* Large enough for any XSAVE layout (AMX tiles included). */
	size_t max = 64 << 10;
	struct iovec iov = { .iov_base = malloc(max), .iov_len = max };
	void *shrunk;

	if (!iov.iov_base)
		return -ENOMEM;
	if (ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov) < 0) {
		int err = -errno;

		free(iov.iov_base);
		return err;
	}
	shrunk = realloc(iov.iov_base, iov.iov_len);
	*buf = shrunk ? shrunk : iov.iov_base;
	*len = iov.iov_len;
	return 0;
}

int ptrace_set_xstate(pid_t pid, const uint8_t *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return ptrace(PTRACE_SETREGSET, pid, NT_X86_XSTATE, &iov) < 0 ? -errno : 0;
}

int ptrace_get_sigmask(pid_t pid, uint64_t *mask)
{
	return ptrace(PTRACE_GETSIGMASK, pid, sizeof(*mask), mask) < 0 ? -errno : 0;
}

int ptrace_set_sigmask(pid_t pid, uint64_t mask)
{
	return ptrace(PTRACE_SETSIGMASK, pid, sizeof(mask), &mask) < 0 ? -errno : 0;
}
