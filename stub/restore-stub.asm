; restore-stub.asm - the body that contmig thaw turns into the restored process.
;
; thaw runs this tiny static program under ptrace and drives it one system call
; at a time through the gadget: it sets RIP to `gadget` and the registers of
; the call, continues, and reads the result at the int3 stop.  Through it thaw
; removes everything else the kernel mapped for the stub, maps and fills the
; image's regions, and finally unmaps this page too.
;
; Linked at 0x7e0000000000 (Makefile.am), an address the Continuum contract
; never uses and that lies below the kernel's mmap area; the text is a
; single page with no data, so unmapping it leaves nothing of the stub behind.
; src/restore.c knows the gadget's offset (16).

section .note.GNU-stack noalloc noexec nowrite progbits
section .text
global _start
_start:
	; Run on its own (its tracer gone before it was set up): just leave.
	mov edi, 127
	mov eax, 231			; exit_group
	syscall
	align 16, db 0xcc
gadget:
	syscall
	int3
