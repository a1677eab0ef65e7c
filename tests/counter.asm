; counter [N] - a Continuum test target: prints 1, 2, 3, ... one line every
; 100 ms, forever or until it has printed N.
;
; It keeps the count twice, in .data and on the fixed stack, where it reaches
; the stack copy through a pointer stored in the same frame (a self-referential
; pointer, seed 4.2).  Before each tick it checks that the pointer still points
; into its own frame, that both counts agree and that crt0's canary is intact;
; if not, it exits with LED 3.  A migration that moves the stack anywhere else,
; or restores a byte wrong, ends it with status 3 instead of a wrong number.

%include "continuum.inc"

global main

section .data
count:		dq 0
interval:	dq 0, 100000000		; struct timespec: 100 ms

section .text
main:
	push rbp
	mov rbp, rsp
	sub rsp, 32
	; [rbp-8]  the count's stack copy
	; [rbp-16] &[rbp-8]: a pointer into this very frame
	; [rbp-24] how many lines to print, 0 for ever
	mov qword [rbp - 8], 0
	lea rax, [rbp - 8]
	mov [rbp - 16], rax
	mov qword [rbp - 24], 0
	cmp edi, 2
	jl .tick
	mov rdi, [rsi + 8]
	call parse_u64
	mov [rbp - 24], rax

.tick:
	mov rax, [rbp - 16]
	lea rdx, [rbp - 8]
	cmp rax, rdx
	jne .corrupt
	mov rax, [rax]
	cmp rax, [rel count]
	jne .corrupt
	mov rax, CONTINUUM_STACK_TOP - 8
	mov edx, CONTINUUM_CANARY
	cmp [rax], rdx
	jne .corrupt

	inc qword [rel count]
	mov rax, [rbp - 16]
	inc qword [rax]
	mov rdi, [rel count]
	call print_u64

	mov rax, [rbp - 24]
	test rax, rax
	jz .sleep
	cmp [rel count], rax
	jae .done
.sleep:
	OS_NANOSLEEP interval, 0	; an early wake-up (EINTR) only shortens a tick
	jmp .tick

.done:
	xor eax, eax
	leave
	ret
.corrupt:
	OS_EXIT LED_STACK_CHECK

; print_u64(rdi = value): write it in decimal and a newline to stdout.
print_u64:
	push rbp
	mov rbp, rsp
	sub rsp, 32
	lea rsi, [rbp - 1]
	mov byte [rsi], 10
	mov rax, rdi
	mov ecx, 10
.digit:
	xor edx, edx
	div rcx
	add dl, '0'
	dec rsi
	mov [rsi], dl
	test rax, rax
	jnz .digit
	lea rdx, [rbp]
	sub rdx, rsi
	mov edi, 1
	call send_all
	leave
	ret

; parse_u64(rdi = NUL-terminated decimal) -> rax; stops at the first non-digit.
parse_u64:
	xor eax, eax
.next:
	movzx ecx, byte [rdi]
	sub ecx, '0'
	cmp ecx, 9
	ja .end
	imul rax, rax, 10
	add rax, rcx
	inc rdi
	jmp .next
.end:
	ret
