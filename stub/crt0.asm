; crt0.asm - _start for Continuum targets written in C or assembly.
;
; Pivots to the fixed stack, pushes the canary, calls
; main(argc, argv, envp) and exits with its return value.  argv and envp stay
; on the kernel's original stack, which migrates like every other mapping.
;
; Stack at main's entry (continuum(7)):
;   0x5000FFFF0  0x00000000CAFEBABE   canary
;   0x5000FFFE8  return address into _start
; so RSP is 8 mod 16 at main's first instruction, as the System V ABI wants.

%define CONTINUUM_MACROS_ONLY
%include "continuum.inc"

extern main
extern setup_fixed_stack
global _start

section .text
_start:
	mov r12, rsp			; [r12] = argc, then argv[], NULL, envp[]
	call setup_fixed_stack		; preserves r12
	mov eax, CONTINUUM_CANARY	; zero-extends: `push imm32` would sign-extend
	push rax
	mov edi, [r12]
	lea rsi, [r12 + 8]
	lea rdx, [rsi + rdi * 8 + 8]
	call main
	OS_EXIT rax
