#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "arch-x86_64.h"
#include "inject.h"
#include "ptrace.h"

#define ALL_SIGNALS	(~0ULL)

/* len bytes at addr in pid, either way, in one call: 0 or -errno. */
static int copy_mem(pid_t pid, unsigned long addr, void *buf, size_t len, bool write)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)addr, .iov_len = len };
	ssize_t n = write ? process_vm_writev(pid, &local, 1, &remote, 1, 0) :
		    process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EFAULT;
}

int inject_find_insn(pid_t pid, const struct vma_list *vmas, unsigned long *at)
{
	enum { CHUNK = 65536 };
	uint8_t *buf = malloc(CHUNK);

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < vmas->count; i++) {
		const struct vma *v = &vmas->vma[i];

		/* Not the vDSO's: the program's own code. */
		if (!(v->prot & PROT_EXEC) || (v->name && v->name[0] == '['))
			continue;
		/* Chunks overlap by a byte: an instruction may straddle two. */
		for (unsigned long a = v->start; a + 1 < v->end; a += CHUNK - 1) {
			size_t n = v->end - a < CHUNK ? v->end - a : CHUNK;
			uint8_t *hit;

			if (copy_mem(pid, a, buf, n, false))
				break;
			hit = memmem(buf, n, "\x0f\x05", 2);
			if (hit) {
				*at = a + (hit - buf);
				free(buf);
				return 0;
			}
		}
	}
	free(buf);
	return -ENOENT;
}

int inject_find_insn_of(pid_t pid, unsigned long *at)
{
	struct vma_list maps;
	int err = procfs_read_maps(pid, &maps);

	if (err)
		return err == -ENOENT ? -ESRCH : err;
	err = inject_find_insn(pid, &maps, at);
	vma_list_free(&maps);
	return err;
}

int inject_begin(struct inject *in, pid_t pid, unsigned long insn, unsigned long sp,
		 size_t scratch_len)
{
	int err;

	memset(in, 0, sizeof(*in));
	in->pid = pid;
	in->insn = insn;
	if (scratch_len > INJECT_SCRATCH_MAX)
		return -E2BIG;
	err = ptrace_get_regs(pid, &in->regs);
	if (!err)
		err = ptrace_get_sigmask(pid, &in->mask);
	if (err)
		return err;
	/* Below the red zone, 16-byte aligned: nothing the program uses. */
	in->scratch_len = scratch_len;
	in->scratch = (sp - INJECT_RED_ZONE - scratch_len) & ~15UL;
	err = copy_mem(pid, in->scratch, in->saved, scratch_len, false);
	if (err) {
		in->scratch_len = 0;	/* nothing borrowed, nothing to give back */
		return err;
	}
	err = ptrace_set_sigmask(pid, ALL_SIGNALS);
	in->blocked = !err;
	return err;
}

/* The syscall-stop pid is in (PTRACE_GET_SYSCALL_INFO). */
static int syscall_info(pid_t pid, struct __ptrace_syscall_info *info)
{
	long n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof(*info), info);

	return n < 0 ? -errno : 0;
}

/*
 * Resume pid to its next syscall-stop: entry or exit.  A SIGSTOP on the way
 * (the only signal not blocked that stops without killing) is noted and
 * suppressed.  So is an interrupt stop still owed: a process seized in a
 * group stop traps once for the seize and once more for PTRACE_INTERRUPT
 * (ptrace(2): "another trap will happen after the current trap"), and
 * then runs.  Any other stop is -EPROTO.
 */
static int next_syscall_stop(struct inject *in, struct __ptrace_syscall_info *info)
{
	for (int owed = 0;;) {
		int status, err;

		if (ptrace(PTRACE_SYSCALL, in->pid, 0, 0) < 0)
			return -errno;
		err = ptrace_wait(in->pid, &status);
		if (err)
			return err;
		if (WSTOPSIG(status) == (SIGTRAP | 0x80))
			return syscall_info(in->pid, info);
		if (status >> 16 == PTRACE_EVENT_STOP && owed++ < 2)
			continue;
		if (status >> 16 || WSTOPSIG(status) != SIGSTOP)
			return -EPROTO;
		in->stop_wanted = true;
	}
}

int inject_call(struct inject *in, long *ret, long nr, long a1, long a2, long a3, long a4)
{
	struct user_regs_struct regs = in->regs;
	struct __ptrace_syscall_info info;
	bool entered = false;
	int err;

	regs.rip = in->insn;
	regs.rax = nr;
	regs.orig_rax = -1;	/* no system call of its own to restart on the way */
	regs.rdi = a1;
	regs.rsi = a2;
	regs.rdx = a3;
	regs.r10 = a4;
	err = ptrace_set_regs(in->pid, &regs);
	if (err)
		return err;
	in->calls++;
	for (;;) {
		err = next_syscall_stop(in, &info);
		if (err)
			return err;
		/* An exit before our entry is that of a call the process stood in
		 * (contmig run's sys_migrate, skipped): it goes on to ours. */
		if (info.op == PTRACE_SYSCALL_INFO_EXIT && entered) {
			*ret = info.exit.rval;
			return 0;
		}
		if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
			if (entered || info.entry.nr != (uint64_t)nr ||
			    info.instruction_pointer != in->insn + SYSCALL_INSN_LEN)
				return -EPROTO;
			entered = true;
		} else if (info.op != PTRACE_SYSCALL_INFO_EXIT) {
			return -EPROTO;
		}
	}
}

int inject_put(struct inject *in, size_t off, const void *buf, size_t len)
{
	if (off > in->scratch_len || len > in->scratch_len - off)
		return -E2BIG;
	return copy_mem(in->pid, in->scratch + off, (void *)buf, len, true);
}

int inject_get(struct inject *in, size_t off, void *buf, size_t len)
{
	if (off > in->scratch_len || len > in->scratch_len - off)
		return -E2BIG;
	return copy_mem(in->pid, in->scratch + off, buf, len, false);
}

int inject_end(struct inject *in)
{
	int err = in->scratch_len ? copy_mem(in->pid, in->scratch, in->saved, in->scratch_len,
					     true) : 0;

	if (!err)
		in->scratch_len = 0;
	return err;
}

int inject_source_begin(struct inject *in, struct tracee *t, unsigned long insn,
			bool suspend_seccomp, size_t scratch_len)
{
	long options = t->options | PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL |
		       (suspend_seccomp ? PTRACE_O_SUSPEND_SECCOMP : 0);
	struct user_regs_struct regs;
	int err = ptrace_get_regs(t->pid, &regs);

	memset(in, 0, sizeof(*in));
	if (err)
		return err;
	if (ptrace(PTRACE_SETOPTIONS, t->pid, 0, options) < 0)
		return -errno;
	return inject_begin(in, t->pid, insn, regs.rsp, scratch_len);
}

/*
 * Into an interrupt stop: the kernel takes it on the way back to user space
 * (get_signal), before a single instruction of ours or the program's runs,
 * and a system call the program stood in is restarted from there as if we
 * had never come.  Our last call is skipped should it still be at its entry.
 */
static int interrupt_stop(struct inject *in)
{
	struct user_regs_struct regs = in->regs;
	int status, err;

	regs.orig_rax = -1;
	err = ptrace_set_regs(in->pid, &regs);
	if (err)
		return err;
	if (ptrace(PTRACE_INTERRUPT, in->pid, 0, 0) < 0 || ptrace(PTRACE_CONT, in->pid, 0, 0) < 0)
		return -errno;
	for (;;) {
		err = ptrace_wait(in->pid, &status);
		if (err)
			return err;
		if (status >> 16 == PTRACE_EVENT_STOP)
			return 0;
		if (status >> 16 || WSTOPSIG(status) != SIGSTOP)
			return -EPROTO;
		in->stop_wanted = true;
		if (ptrace(PTRACE_CONT, in->pid, 0, 0) < 0)
			return -errno;
	}
}

/* Keep the first error. */
static void first(int *err, int e)
{
	if (!*err)
		*err = e;
}

int inject_source_end(struct inject *in, struct tracee *t)
{
	int err = 0;

	if (!in->pid)
		return ptrace(PTRACE_SETOPTIONS, t->pid, 0, t->options) < 0 ? -errno : 0;
	first(&err, inject_end(in));
	if (in->calls)
		first(&err, interrupt_stop(in));
	/* Its registers as they were, the restart codes of an interrupted call
	 * too: the kernel restarts it when the process goes on. */
	if (in->calls)
		first(&err, ptrace_set_regs(in->pid, &in->regs));
	if (in->blocked)
		first(&err, ptrace_set_sigmask(in->pid, in->mask));
	if (ptrace(PTRACE_SETOPTIONS, in->pid, 0, t->options) < 0)
		first(&err, -errno);
	/* Pending again, as it was when we took it. */
	if (in->stop_wanted)
		first(&err, t->pidfd >= 0 ? tracee_pidfd_signal(t->pidfd, SIGSTOP) :
		      kill(t->pid, SIGSTOP) < 0 ? -errno : 0);
	return err;
}
