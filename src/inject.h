/*
 * inject: one system call run inside a process stopped under our ptrace, at
 * a syscall instruction (0f 05) of its own code: to read what the kernel
 * keeps for a source (its signal actions, its timers), and to give a copy
 * what no restorer's call can (seccomp_install, sigstate_restore).
 *
 * A call runs on syscall-stops (PTRACE_SYSCALL, with PTRACE_O_TRACESYSGOOD),
 * never by single-stepping or at a breakpoint: a trap's SIGTRAP is forced,
 * and the kernel resets the action of a forced signal that is blocked or
 * ignored (kernel/signal.c, force_sig_info_to_task), so a step would undo a
 * SIGTRAP handler or an ignored SIGTRAP in the very process we read or
 * build.  Every signal is blocked while calls run: what is pending stays
 * pending; a SIGSTOP, which cannot be blocked, is taken out of the way and
 * noted for the caller.
 *
 * A source comes out exactly as it went in (inject_source_begin/_end): its
 * registers, its mask, its ptrace options, the bytes its calls' results
 * borrowed below its stack pointer, and an interrupt stop to rest in, so
 * that a system call the freeze interrupted restarts as the kernel would
 * have restarted it.  Functions return 0 or -errno and never print.
 */
#ifndef CONTMIG_INJECT_H
#define CONTMIG_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "error.h"
#include "procfs.h"
#include "tracee.h"

/* The x86-64 red zone: the 128 bytes below rsp a leaf function may use. */
#define INJECT_RED_ZONE		128
/* The most a call's results may borrow below the red zone. */
#define INJECT_SCRATCH_MAX	256

struct inject {
	pid_t pid;
	unsigned long insn;		/* the syscall instruction the calls run at */
	struct user_regs_struct regs;	/* as it stopped: each call runs with these,
					 * but rip, rax, orig_rax and the arguments */
	uint64_t mask;			/* its signal mask when we came */
	bool blocked;			/* we blocked every signal: mask is to go back */
	unsigned calls;			/* calls run: its stop is not the one it had */
	bool stop_wanted;		/* a SIGSTOP came meanwhile, kept from it */
	/* Scratch memory: bytes below the red zone, lent to calls and given back. */
	unsigned long scratch;
	size_t scratch_len;
	uint8_t saved[INJECT_SCRATCH_MAX];
};

/*
 * The address of a syscall instruction in pid's own code: an executable
 * mapping of vmas that is not the kernel's ([vdso], [vsyscall]).  -ENOENT
 * when there is none.
 */
int inject_find_insn(pid_t pid, const struct vma_list *vmas, unsigned long *at) MUST_CHECK;
/* The same, reading pid's mappings (-ESRCH: it is gone). */
int inject_find_insn_of(pid_t pid, unsigned long *at) MUST_CHECK;

/*
 * Calls in a process stopped under our ptrace with PTRACE_O_TRACESYSGOOD set
 * (the restorer's, after its code is gone): its registers are read, every
 * signal is blocked, and scratch_len bytes (at most INJECT_SCRATCH_MAX) are
 * borrowed below sp's red zone, at in->scratch.
 */
int inject_begin(struct inject *in, pid_t pid, unsigned long insn, unsigned long sp,
		 size_t scratch_len) MUST_CHECK;
/*
 * Run nr(a1, ..., a4) in it: 0 with its result in *ret (which may be
 * -errno: the call failed), or -errno when it did not run or we cannot tell
 * (-ESRCH: it died; -EPROTO: a stop no call makes).
 */
int inject_call(struct inject *in, long *ret, long nr, long a1, long a2, long a3, long a4)
	MUST_CHECK;
/* Copy into or out of the scratch memory, off bytes into it. */
int inject_put(struct inject *in, size_t off, const void *buf, size_t len) MUST_CHECK;
int inject_get(struct inject *in, size_t off, void *buf, size_t len) MUST_CHECK;
/* Give the scratch memory its bytes back. */
int inject_end(struct inject *in) MUST_CHECK;

/*
 * The same for a source t, seized and stopped for us (an interrupt, group
 * or seccomp stop): its options get PTRACE_O_TRACESYSGOOD, PTRACE_O_EXITKILL
 * (a contmig that dies mid-call must not leave it running from our syscall
 * instruction) and, with suspend_seccomp, PTRACE_O_SUSPEND_SECCOMP (its
 * filters, or strict mode, might refuse or kill our calls; it takes
 * CAP_SYS_ADMIN).
 */
int inject_source_begin(struct inject *in, struct tracee *t, unsigned long insn,
			bool suspend_seccomp, size_t scratch_len) MUST_CHECK;
/*
 * Put the source back as it was, whatever failed before: its scratch bytes,
 * an interrupt stop (PTRACE_INTERRUPT) in place of our last syscall-stop,
 * then its registers, mask and options, and a SIGSTOP taken from it sent
 * again.  0, or the first -errno.
 */
int inject_source_end(struct inject *in, struct tracee *t) MUST_CHECK;

#endif
