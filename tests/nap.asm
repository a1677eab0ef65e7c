; nap - a Continuum test target that sleeps 3 s in one nanosleep(2), with
; rem, then prints "woke" and exits 0 (4 if the sleep failed: EINTR).
;
; tests/sleeps.sh freezes it 2 s in: its copy must wake about 1 s after the
; thaw, not 3 s (the sleep's remainder travels in rem).

%include "continuum.inc"

global main

section .data
length:		dq 3, 0			; struct timespec: 3 s
woke:		db "woke", 10

section .bss
left:		resq 2			; struct timespec: what remains

section .text
main:
	push rbp
	mov rbp, rsp
	OS_NANOSLEEP length, left
	test rax, rax
	jnz .failed
	OS_WRITE 1, woke, 5
	xor eax, eax
	leave
	ret
.failed:
	OS_EXIT 4
