/*
 * Facts about x86-64 Linux that the rest of contmig relies on, in one place
 * (reptyr's platform/linux/arch/).  Included by C only; Makefile.am checks
 * that its STUB_ADDR is the CONTMIG_STUB_TEXT_ADDR here, and stub/continuum.inc
 * and stub/continuum.h repeat CONTMIG_SYS_MIGRATE for the targets (a test
 * compares them).
 */
#ifndef CONTMIG_ARCH_X86_64_H
#define CONTMIG_ARCH_X86_64_H

#define PAGE_SIZE_X86	4096UL
/* The highest user-space address (47-bit virtual addresses, 4-level paging). */
#define USER_SPACE_END	0x7ffffffff000UL

/*
 * XSAVE area, standard format (Intel SDM vol. 1, 13.4): the legacy FXSAVE
 * region, then the 64-byte header whose first word is XSTATE_BV, the
 * components the saved state really uses, and whose second is XCOMP_BV.
 */
#define XSAVE_LEGACY_SIZE	512
#define XSAVE_HEADER_SIZE	64
#define XSAVE_XSTATE_BV_OFFSET	XSAVE_LEGACY_SIZE
#define XSAVE_XCOMP_BV_OFFSET	(XSAVE_LEGACY_SIZE + 8)

/* Kernel-internal restart codes a system call interrupted by a stop leaves
 * in rax (include/linux/errno.h, never seen by user space). */
#define ERESTARTSYS		512
#define ERESTARTNOINTR		513
#define ERESTARTNOHAND		514
#define ERESTART_RESTARTBLOCK	516

/* Is rax one of them: the call was cut short, and the kernel would go on? */
static inline int is_restart_code(long long rax)
{
	return rax >= -ERESTART_RESTARTBLOCK && rax <= -ERESTARTSYS;
}

/* The length of the syscall instruction (0f 05): a restart backs rip up by it. */
#define SYSCALL_INSN_LEN	2

/*
 * Where the restore stub lives: an address the Continuum contract never
 * uses, below the kernel's mmap area.  Makefile.am links the stub there
 * (STUB_ADDR) and refuses to build if the two differ.  The gadget
 * (`syscall; int3`) is at offset 16 of its text (stub/restore-stub.asm).
 */
#define CONTMIG_STUB_TEXT_ADDR	0x7e0000000000UL
#define CONTMIG_STUB_GADGET_OFF	16
/* rip after the gadget's int3 trapped: syscall (2 bytes), int3 (1 byte). */
#define CONTMIG_STUB_TRAP_OFF	(CONTMIG_STUB_GADGET_OFF + 3)

/* The system call number sys_migrate uses: no kernel has it, so it fails
 * with -ENOSYS unless `contmig run` traps it (stub/continuum.inc has it too). */
#define CONTMIG_SYS_MIGRATE	0x434d

#endif
