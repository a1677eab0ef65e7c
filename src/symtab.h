/*
 * symtab: a program's function symbols (address, size, name), read with
 * libelf from its ELF file, carried in the image (the CONTMIG symbols
 * note) so that a backtrace needs no binary.  0 or -errno; never prints.
 */
#ifndef CONTMIG_SYMTAB_H
#define CONTMIG_SYMTAB_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct symbol {
	uint64_t addr, size;		/* size 0: unknown (NASM labels) */
	char *name;
};

struct symtab {
	struct symbol *sym;		/* sorted by address */
	size_t count, capacity;
};

/* The code symbols of the ELF file open on fd (.symtab, else .dynsym):
 * functions and untyped labels in executable sections, but local labels
 * (NASM's main.loop, .L*). */
int symtab_read_elf(int fd, struct symtab *st) MUST_CHECK;
/* Add one symbol; symtab_sort once all are in. */
int symtab_add(struct symtab *st, uint64_t addr, uint64_t size, const char *name,
	       size_t name_len) MUST_CHECK;
void symtab_sort(struct symtab *st);
/* The symbol that contains addr (or the nearest before it, for labels of
 * unknown size), and addr's offset into it; NULL if none. */
const struct symbol *symtab_lookup(const struct symtab *st, uint64_t addr, uint64_t *offset);
void symtab_free(struct symtab *st);

#endif
