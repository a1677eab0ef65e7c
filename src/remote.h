/*
 * remote: a process under construction, driven one system call at a time.
 *
 * remote_spawn starts the restore stub (stub/restore-stub.asm) under ptrace
 * with PTRACE_O_EXITKILL, so a dying contmig never leaves a half-built
 * process.  remote_syscall runs a system call inside it at the stub's
 * `syscall; int3` gadget.  Functions return 0 or -errno (for remote_syscall:
 * the call's own result) and never print.
 */
#ifndef CONTMIG_REMOTE_H
#define CONTMIG_REMOTE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>

#include "clocks.h"
#include "creds.h"
#include "error.h"

#include "arch-x86_64.h"

/* Where the stub lives; an image may not map anything here. */
#define STUB_TEXT_ADDR		CONTMIG_STUB_TEXT_ADDR
#define STUB_GADGET_ADDR	(STUB_TEXT_ADDR + CONTMIG_STUB_GADGET_OFF)
#define STUB_TRAP_ADDR		(STUB_TEXT_ADDR + CONTMIG_STUB_TRAP_OFF)
#define STUB_AREA_START		(STUB_TEXT_ADDR - 0x1000UL)	/* its ELF headers */
#define STUB_AREA_END		(STUB_TEXT_ADDR + 0x1000UL)

/* Signals the restorer took out of the stub's way, for the program. */
#define REMOTE_MAX_NOTED	8

struct remote {
	pid_t pid;
	struct user_regs_struct regs;	/* the stub's registers at its first stop */
	/*
	 * The stub blocks every signal, so what is sent to it waits, pending,
	 * for the program.  What cannot be blocked and stops it on the way is
	 * noted here instead: a SIGSTOP (the program is to end up stopped), or
	 * a SIGTRAP sent to it (which an int3 of the stub unblocks).
	 */
	bool stop_wanted;
	siginfo_t noted[REMOTE_MAX_NOTED];
	size_t nnoted;
	size_t nlost;			/* noted beyond REMOTE_MAX_NOTED */
	const int *stdio;		/* set before spawning: the process's fds 0-2,
					 * or NULL for contmig's own */
	bool own_session;		/* set before spawning: setsid(), so that
					 * nothing aimed at our group reaches it */
	const struct creds *creds;	/* set before spawning: whom it runs as
					 * (creds.h); NULL: as we do */
	const char *spawn_failed;	/* set by remote_spawn: what failed in the
					 * child before the exec, or NULL */
	int image_fd;			/* set before spawning: > 2, an image file the
					 * restorer holds at this same fd to read the
					 * pages into place itself (fill.h); 0: none */
	struct clocks_plan clocks;	/* set before spawning (clocks_plan): with
					 * clocks.make, it is forked into a time
					 * namespace with clocks.offsets; without, it
					 * stays in ours */
	int timens_err;			/* set by remote_spawn: the errno of making that
					 * namespace, or 0 (not an error: clocks.h) */
	bool reopen_changed;		/* set before restoring: open files that changed
					 * since the freeze are opened anyway (thaw
					 * --reopen-changed) */
};

/* Fork and exec the stub; it inherits stdin, stdout and stderr only.  With
 * creds set it gets those IDs before the exec, and is then no more
 * privileged than they are: we trace it by our own privilege. */
int remote_spawn(struct remote *r) MUST_CHECK;
/*
 * Run one system call in the stub.  0 when it ran, its result in *ret (which
 * may be -errno: the call failed); -errno when it never ran or we cannot
 * tell (the stub died: -ESRCH; an unexpected stop: -EPROTO).  Every stop on
 * the way is checked with PTRACE_GETSIGINFO: only the int3 after the
 * gadget's syscall (SIGTRAP, SI_KERNEL, rip just past the int3) ends it;
 * other signals are noted (above) and the call goes on.
 */
int remote_call(struct remote *r, long *ret, long nr, long a1, long a2, long a3, long a4,
		long a5, long a6) MUST_CHECK;
/* The same, folded: the call's result, or remote_call's -errno. */
long remote_syscall(struct remote *r, long nr, long a1, long a2, long a3, long a4,
		    long a5, long a6) MUST_CHECK;
/*
 * Run one system call in the stub with a signal pending, so that a blocking
 * one returns at once, cut short as a signal cuts it: a sleep then leaves
 * the thread its restart block (restart_syscall(2)), which the program goes
 * on with (timedwait.h).  The call's result (-ERESTART_RESTARTBLOCK for a
 * sleep cut short, 0 for one with no time left), or -errno as remote_call.
 */
long remote_cut_short(struct remote *r, long nr, long a1, long a2, long a3, long a4)
	MUST_CHECK;
/* Remove the stub's own code page, the last piece of it; the process is then
 * stopped with a SIGSEGV that thaw discards when it sets the final registers. */
int remote_unmap_stub(struct remote *r) MUST_CHECK;
/*
 * After calls made elsewhere (inject.h: at the program's own syscall
 * instruction, on syscall-stops), bring the process back into the stop
 * remote_unmap_stub left it in: a SIGSEGV at the stub's vanished code, the
 * signal-delivery stop restore_release and restore_hold let go from.  Only
 * SIGSEGV is unblocked meanwhile (its action survives the fault unless the
 * program ignores it); other signals on the way are noted, as always.
 */
int remote_refault(struct remote *r) MUST_CHECK;
/* Copy into or out of the process's memory, in as few calls as possible. */
int remote_write(struct remote *r, unsigned long addr, const void *buf, size_t len) MUST_CHECK;
/* Write local[i] to remote[i] (same lengths, n at most IOV_MAX) at once. */
int remote_writev(struct remote *r, const struct iovec *local, const struct iovec *remote,
		  size_t n) MUST_CHECK;
int remote_read(struct remote *r, unsigned long addr, void *buf, size_t len) MUST_CHECK;
/* Kill it and reap it. */
void remote_kill(struct remote *r);

#define remote_mmap(r, addr, len, prot, flags, fd, off) \
	remote_syscall(r, SYS_mmap, addr, len, prot, flags, fd, off)
#define remote_munmap(r, addr, len) remote_syscall(r, SYS_munmap, addr, len, 0, 0, 0, 0)
#define remote_mprotect(r, addr, len, prot) \
	remote_syscall(r, SYS_mprotect, addr, len, prot, 0, 0, 0)

#endif
