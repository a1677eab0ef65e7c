/*
 * ptrace: stop a process, read and write its registers, let it go.
 * Functions return 0 or -errno and never print.
 */
#ifndef CONTMIG_PTRACE_H
#define CONTMIG_PTRACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "error.h"

/* Seizing and letting go of a process we move: tracee.h. */
/* Wait for the next stop of a tracee: its waitpid status, or -errno;
 * -ESRCH if it exited or was killed instead. */
int ptrace_wait(pid_t pid, int *status) MUST_CHECK;
int ptrace_detach(pid_t pid, int sig) MUST_CHECK;

int ptrace_get_regs(pid_t pid, struct user_regs_struct *regs) MUST_CHECK;
int ptrace_set_regs(pid_t pid, const struct user_regs_struct *regs) MUST_CHECK;
/* The XSAVE area (NT_X86_XSTATE) in a malloc'd buffer of *len bytes. */
int ptrace_get_xstate(pid_t pid, uint8_t **buf, size_t *len) MUST_CHECK;
int ptrace_set_xstate(pid_t pid, const uint8_t *buf, size_t len) MUST_CHECK;
int ptrace_get_sigmask(pid_t pid, uint64_t *mask) MUST_CHECK;
int ptrace_set_sigmask(pid_t pid, uint64_t mask) MUST_CHECK;

#endif
