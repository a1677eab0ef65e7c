; mem.asm - memcpy, memmove and memset for freestanding C targets.
; GCC may emit calls to these even with -ffreestanding (struct copies,
; zero-initialized arrays); without a libc somebody has to provide them.

section .note.GNU-stack noalloc noexec nowrite progbits
section .text

; void *memcpy(void *dst = rdi, const void *src = rsi, size_t n = rdx)
global memcpy
memcpy:
	mov rax, rdi
	mov rcx, rdx
	rep movsb
	ret

; void *memmove(void *dst = rdi, const void *src = rsi, size_t n = rdx)
global memmove
memmove:
	mov rax, rdi
	mov rcx, rdx
	cmp rdi, rsi
	jbe .forward
	lea rsi, [rsi + rdx - 1]
	lea rdi, [rdi + rdx - 1]
	std
	rep movsb
	cld
	ret
.forward:
	rep movsb
	ret

; void *memset(void *dst = rdi, int c = esi, size_t n = rdx)
global memset
memset:
	mov r8, rdi
	mov eax, esi
	mov rcx, rdx
	rep stosb
	mov rax, r8
	ret
