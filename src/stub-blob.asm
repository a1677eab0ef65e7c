; The restore stub's ELF file, built from stub/restore-stub.asm, carried inside
; contmig so that thaw needs no installed helper (it runs it from a memfd).
section .note.GNU-stack noalloc noexec nowrite progbits
section .rodata
global contmig_stub_elf
global contmig_stub_elf_end
contmig_stub_elf:
	incbin "stub/contmig-stub"
contmig_stub_elf_end:
