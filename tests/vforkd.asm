; vforkd - a Continuum test target that cannot be stopped for a while.
;
; It calls vfork(): the kernel suspends the parent, uninterruptibly (State D,
; in do_vfork... wait_for_vfork_done), until the child exits or execs.  The
; child prints "ready" and sleeps 60 s before it exits, so for a minute the
; parent, the target, answers no PTRACE_INTERRUPT: the case of a process in
; uninterruptible sleep that freeze --timeout bounds.  Then the parent exits 0.

%include "continuum.inc"

%define SYS_vfork	58

global main

section .data
ready:		db "ready", 10
interval:	dq 60, 0		; struct timespec: 60 s

section .text
main:
	mov eax, SYS_vfork
	syscall
	test rax, rax
	jnz .parent
	; The child borrows the parent's memory and stack: only system calls
	; here, and _exit, never a return.
	OS_SYSCALL SYS_write, 1, ready, 6
	OS_SYSCALL SYS_nanosleep, interval, 0
	OS_SYSCALL SYS_exit, 0
.parent:
	xor eax, eax
	ret
