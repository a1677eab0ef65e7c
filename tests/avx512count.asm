; avx512count - a Continuum test target that keeps AVX-512 state live:
; prints 1, 2, 3, ... one line every 100 ms, for ever.
;
; Before counting it puts a pattern in opmask k1, in all of zmm0 (its upper
; half is the zmm_hi256 component) and in zmm16 (hi16_zmm), so a freeze's
; XSAVE state uses all three AVX-512 components; before each tick it checks
; that they still hold it (else it exits with LED 3).  A machine without
; AVX-512 cannot run it: contmig must refuse the move by name
; (tests/cross-kernel-cpu.sh).  On a CPU or kernel without AVX-512 it says
; so and exits 77 before touching it.

%include "continuum.inc"

%define XCR0_AVX512	0xe6		; SSE, AVX, opmask, zmm_hi256, hi16_zmm

global main

section .data
count:		dq 0
interval:	dq 0, 100000000		; struct timespec: 100 ms
pattern0:	dq 0x0123456789abcdef
pattern16:	dq 0xfedcba9876543210
nope:		db "avx512count: no AVX-512 here", 10
nope_len	equ $ - nope

section .text
main:
	push rbp
	mov rbp, rsp
	push rbx
	sub rsp, 8
	; AVX512F (CPUID.7.0:EBX[16]), OSXSAVE (CPUID.1:ECX[27]), and the
	; kernel enabled all three components in XCR0.
	mov eax, 1
	cpuid
	bt ecx, 27
	jnc .none
	mov eax, 7
	xor ecx, ecx
	cpuid
	bt ebx, 16
	jnc .none
	xor ecx, ecx
	xgetbv
	and eax, XCR0_AVX512
	cmp eax, XCR0_AVX512
	jne .none

	mov eax, 0x5a5a
	kmovw k1, eax
	vpbroadcastq zmm0, [rel pattern0]
	vpbroadcastq zmm16, [rel pattern16]

.tick:
	kmovw eax, k1
	cmp eax, 0x5a5a
	jne .corrupt
	vpcmpeqq k2, zmm0, [rel pattern0]{1to8}
	kmovw eax, k2
	cmp eax, 0xff
	jne .corrupt
	vpcmpeqq k2, zmm16, [rel pattern16]{1to8}
	kmovw eax, k2
	cmp eax, 0xff
	jne .corrupt

	inc qword [rel count]
	mov rdi, [rel count]
	call print_u64
	OS_NANOSLEEP interval, 0
	jmp .tick

.none:
	OS_WRITE 2, nope, nope_len
	OS_EXIT 77
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
