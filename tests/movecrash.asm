; movecrash - a contract program that crashes as soon as it has been moved:
; it remembers its PID, prints "ready", then looks every 50 ms; once its PID
; has changed (a thaw or a migration gave it a new one) it writes to address
; 0 and dies of SIGSEGV.
;
; It stands for a copy that dies right after a move, which thaw and the
; listener must report rather than keep quiet about.

%include "continuum.inc"

global main

section .data
interval:	dq 0, 50000000		; struct timespec: 50 ms
ready:		db "ready", 10
first_pid:	dq 0

section .text
main:
	push rbp
	mov rbp, rsp
	OS_GETPID
	mov [rel first_pid], rax
	OS_WRITE 1, ready, 6
.look:
	OS_NANOSLEEP interval, 0
	OS_GETPID
	cmp rax, [rel first_pid]
	je .look
	mov qword [0], 0		; moved: crash
	leave
	ret
