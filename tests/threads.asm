; threads - a Continuum test target with two threads that both sleep for ever.
; contmig must see it as multi-threaded and refuse to move it.

%include "continuum.inc"

%define SYS_clone	56
%define CLONE_THREAD_FLAGS	0x50f00	; VM|FS|FILES|SIGHAND|THREAD|SYSVSEM

global main

section .bss
	resb 16384
thread_stack_top:

section .data
second:	dq 1, 0

section .text
main:
	mov edi, CLONE_THREAD_FLAGS
	mov rsi, thread_stack_top
	xor edx, edx
	xor r10d, r10d
	xor r8d, r8d
	mov eax, SYS_clone
	syscall
	test rax, rax
	js .fail			; both threads fall through to the loop
.sleep:
	OS_NANOSLEEP second, 0
	jmp .sleep
.fail:
	OS_EXIT LED_IO_ERROR
