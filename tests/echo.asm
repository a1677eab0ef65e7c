; echo - a Continuum test target that copies standard input to standard
; output until end of input, blocking in read() in between.  Frozen while
; blocked, it must resume reading from the stdin of the side that thaws it.

%include "continuum.inc"

global main

section .bss
buf:	resb 4096

section .text
main:
	push rbp
	mov rbp, rsp
.next:
	OS_READ 0, buf, 4096
	cmp rax, -EINTR
	je .next
	test rax, rax
	jle .done			; end of input (or an error): stop
	mov rdx, rax
	mov edi, 1
	mov esi, buf
	call send_all
	jmp .next
.done:
	xor eax, eax
	leave
	ret
