/* Facts about x86-64 Linux that the rest of contmig relies on. */
#ifndef CONTMIG_ARCH_X86_64_H
#define CONTMIG_ARCH_X86_64_H

#define PAGE_SIZE_X86	4096UL
/* The highest user-space address (47-bit virtual addresses, 4-level paging). */
#define USER_SPACE_END	0x7ffffffff000UL

#endif
