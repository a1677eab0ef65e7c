#include "config.h"

#include <errno.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "symtab.h"

int symtab_add(struct symtab *st, uint64_t addr, uint64_t size, const char *name, size_t name_len)
{
	struct symbol *s;

	if (st->count == st->capacity) {
		size_t cap = st->capacity ? 2 * st->capacity : 64;

		s = realloc(st->sym, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		st->sym = s;
		st->capacity = cap;
	}
	s = &st->sym[st->count];
	s->name = strndup(name, name_len);
	if (!s->name)
		return -ENOMEM;
	s->addr = addr;
	s->size = size;
	st->count++;
	return 0;
}

static int by_address(const void *a, const void *b)
{
	const struct symbol *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

void symtab_sort(struct symtab *st)
{
	if (st->count)
		qsort(st->sym, st->count, sizeof(*st->sym), by_address);
}

/* A NASM local label (main.loop) or a compiler's (.L12): not a function. */
static bool is_local_label(const char *name)
{
	return !*name || strchr(name, '.') != NULL;
}

static int read_section(Elf *e, Elf_Scn *scn, const GElf_Shdr *sh, struct symtab *st)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;

	for (size_t i = 0; data && i < n; i++) {
		GElf_Sym sym;
		GElf_Shdr target;
		Elf_Scn *in;
		const char *name;
		int type, err;

		if (!gelf_getsym(data, i, &sym))
			break;
		type = GELF_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_NOTYPE) || !sym.st_value ||
		    sym.st_shndx == SHN_UNDEF || sym.st_shndx >= SHN_LORESERVE)
			continue;
		in = elf_getscn(e, sym.st_shndx);
		if (!in || !gelf_getshdr(in, &target) || !(target.sh_flags & SHF_EXECINSTR))
			continue;
		name = elf_strptr(e, sh->sh_link, sym.st_name);
		if (!name || is_local_label(name))
			continue;
		err = symtab_add(st, sym.st_value, sym.st_size, name, strlen(name));
		if (err)
			return err;
	}
	return 0;
}

int symtab_read_elf(int fd, struct symtab *st)
{
	Elf_Scn *scn = NULL, *dynsym = NULL;
	GElf_Shdr sh, dynsh;
	bool have_symtab = false;
	Elf *e;
	int err = 0;

	memset(st, 0, sizeof(*st));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e)
		return -ENOEXEC;
	if (elf_kind(e) != ELF_K_ELF) {
		elf_end(e);
		return -ENOEXEC;
	}
	while ((scn = elf_nextscn(e, scn)) && !err) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB) {
			err = read_section(e, scn, &sh, st);
			have_symtab = true;
		} else if (sh.sh_type == SHT_DYNSYM) {
			dynsym = scn;
			dynsh = sh;
		}
	}
	if (!err && !have_symtab && dynsym)
		err = read_section(e, dynsym, &dynsh, st);
	elf_end(e);
	if (err)
		symtab_free(st);
	else
		symtab_sort(st);
	return err;
}

const struct symbol *symtab_lookup(const struct symtab *st, uint64_t addr, uint64_t *offset)
{
	size_t lo = 0, hi = st->count;
	const struct symbol *s;

	/* The last symbol at or below addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (st->sym[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	s = &st->sym[lo - 1];
	if (s->size && addr >= s->addr + s->size)
		return NULL;
	*offset = addr - s->addr;
	return s;
}

void symtab_free(struct symtab *st)
{
	for (size_t i = 0; i < st->count; i++)
		free(st->sym[i].name);
	free(st->sym);
	memset(st, 0, sizeof(*st));
}
