; selfmig-asm DEST FILE - self-migration in assembly: with known values in
; every callee-saved register (rbx, rbp, r12-r15), it calls sys_migrate(DEST)
; and checks they survived the call, here or on the other machine (LED 3 if
; not); prints "moved" if the call returned 0, "stayed" if not; then reopens
; FILE, appends the same word, closes it and exits 0.

%include "continuum.inc"

%define O_WRONLY	1
%define O_CREAT		0x40
%define O_APPEND	0x400

global main

section .rodata
moved:		db "moved", 10
stayed:		db "stayed", 10

section .text
main:
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	push r13
	push r14
	push r15
	sub rsp, 8
	cmp edi, 3
	jne .usage
	mov r12, [rsi + 8]		; DEST
	mov r13, [rsi + 16]		; FILE
	mov rbx, 0x1111111111111111
	mov r14, 0x4444444444444444
	mov r15, 0x5555555555555555
	mov rdi, r12
	call sys_migrate
	mov rcx, 0x1111111111111111
	cmp rbx, rcx
	jne .clobbered
	mov rcx, 0x4444444444444444
	cmp r14, rcx
	jne .clobbered
	mov rcx, 0x5555555555555555
	cmp r15, rcx
	jne .clobbered
	lea rcx, [rsp + 48]		; where rbp must still point
	cmp rbp, rcx
	jne .clobbered
	lea r14, [rel moved]
	mov r15, 6
	test rax, rax
	jz .say
	lea r14, [rel stayed]
	mov r15, 7
.say:
	OS_WRITE 1, r14, r15
	; Reopen FILE wherever we are now, and say it there too.
	OS_OPEN r13, O_WRONLY | O_CREAT | O_APPEND, 420
	test rax, rax
	js .io_error
	mov rbx, rax
	OS_WRITE rbx, r14, r15
	OS_CLOSE rbx
	xor eax, eax
	add rsp, 8
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbx
	leave
	ret
.usage:
.io_error:
	OS_EXIT LED_IO_ERROR
.clobbered:
	OS_EXIT LED_STACK_CHECK
