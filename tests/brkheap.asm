; brkheap - a contract program that takes memory from brk(): it grows its
; heap by one page, prints "tick" every 100 ms, for ever.
;
; brk is carried with the other mm fields, so it moves, and its copy's [heap]
; is a heap again (tests/refuse.sh).

%include "continuum.inc"

%define SYS_brk	12

global main

section .data
interval:	dq 0, 100000000		; struct timespec: 100 ms
tick:		db "tick", 10

section .text
main:
	push rbp
	mov rbp, rsp
	OS_SYSCALL SYS_brk, 0
	lea rdi, [rax + 4096]
	OS_SYSCALL SYS_brk, rdi
	mov qword [rax - 8], 1		; touch it
.tick:
	OS_WRITE 1, tick, 5
	OS_NANOSLEEP interval, 0
	jmp .tick
