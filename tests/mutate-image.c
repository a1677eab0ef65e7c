/*
 * mutate-image IMAGE OUT SEED: write a hostile variant of IMAGE to OUT, for
 * tests/hostile-images.sh.  SEED picks one of: bit flips, a truncation,
 * huge sizes and counts, overlapping or kernel-space segments, notes with
 * bogus lengths; most variants then get a matching head sum, so that they
 * reach the checks behind it.
 *
 * mutate-image IMAGE OUT --names COMM HOST: IMAGE with its command name and
 * hostname set to COMM and HOST, byte for byte (any bytes, and with 16 and 64
 * of them, no NUL), its head sum made to match.
 */
#include "config.h"

#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "image.h"

static uint64_t state;

static uint64_t rnd(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

static Elf64_Phdr *phdr(uint8_t *d, size_t len, size_t i)
{
	size_t phoff, n = fuzz_phnum(d, len, &phoff);
	size_t at = phoff + i * sizeof(Elf64_Phdr);

	return i < n && phoff < len && at + sizeof(Elf64_Phdr) <= len ?
	       (Elf64_Phdr *)(d + at) : NULL;
}

static const uint64_t huge[] = { 0, 1, 4095, 4096, 0x7fffffff, 0xffffffff, 1ULL << 47,
				 0xffff800000000000ULL, ~0ULL, ~0ULL - 4095 };

/* The CONTMIG state note's comm and hostname, set as given. */
static int set_names(uint8_t *d, size_t len, const char *comm, const char *host)
{
	size_t phoff, at, end;
	Elf64_Phdr *p;

	if (!fuzz_phnum(d, len, &phoff) || !(p = phdr(d, len, 0)) || p->p_offset > len ||
	    p->p_filesz > len - p->p_offset)
		return -1;
	at = p->p_offset;
	end = at + p->p_filesz;
	while (end - at >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		size_t desc;

		memcpy(&nh, d + at, sizeof(nh));
		desc = at + sizeof(nh) + ((nh.n_namesz + 3UL) & ~3UL);
		if (desc > end || nh.n_descsz > end - desc)
			return -1;
		if (nh.n_type == NT_CONTMIG_STATE && nh.n_descsz >= IMAGE_STATE_OLD_SIZE) {
			struct image_state *st = (struct image_state *)(d + desc);

			memset(st->comm, 0, sizeof(st->comm));
			memcpy(st->comm, comm, strnlen(comm, sizeof(st->comm)));
			memset(st->hostname, 0, sizeof(st->hostname));
			memcpy(st->hostname, host, strnlen(host, sizeof(st->hostname)));
			fuzz_repair_head_sum(d, len);
			return 0;
		}
		at = desc + ((nh.n_descsz + 3UL) & ~3UL);
	}
	return -1;
}

int main(int argc, char **argv)
{
	FILE *f;
	uint8_t *d;
	size_t len, cap = 64 << 20;
	Elf64_Ehdr *eh;
	Elf64_Phdr *p, *q;
	size_t phnum, phoff;
	unsigned kind;

	if (argc != 4 && !(argc == 6 && !strcmp(argv[3], "--names"))) {
		fprintf(stderr, "usage: mutate-image IMAGE OUT SEED\n"
			"       mutate-image IMAGE OUT --names COMM HOST\n");
		return 64;
	}
	state = strtoull(argv[3], NULL, 10) * 2654435761ULL + 1;
	d = malloc(cap);
	f = fopen(argv[1], "rb");
	if (!d || !f)
		return 1;
	len = fread(d, 1, cap, f);
	fclose(f);
	if (len < sizeof(Elf64_Ehdr))
		return 1;
	eh = (Elf64_Ehdr *)d;
	phnum = fuzz_phnum(d, len, &phoff);
	if (phnum < 2)
		return 1;
	if (argc == 6) {
		kind = 0;
		if (set_names(d, len, argv[4], argv[5]) < 0)
			return 1;
		goto write;
	}
	kind = rnd() % 7;
	switch (kind) {
	case 0:		/* bit flips, mostly in the head */
		for (int i = 0, n = 1 + rnd() % 8; i < n; i++) {
			size_t at = rnd() % (rnd() % 2 ? 4096 : len);

			d[at < len ? at : len - 1] ^= 1 << (rnd() % 8);
		}
		break;
	case 1:		/* truncated anywhere */
		len = rnd() % len;
		break;
	case 2:		/* a program header with a huge offset, size or address */
		if ((p = phdr(d, len, rnd() % phnum))) {
			uint64_t v = huge[rnd() % (sizeof(huge) / sizeof(huge[0]))];

			switch (rnd() % 4) {
			case 0: p->p_offset = v; break;
			case 1: p->p_filesz = p->p_memsz = v; break;
			case 2: p->p_vaddr = v; break;
			default: p->p_filesz = v; break;
			}
		}
		break;
	case 3:		/* a huge count of program headers */
		if (rnd() % 2) {
			eh->e_phnum = huge[rnd() % 6];
		} else {
			/* In section header 0 (extended numbering). */
			Elf64_Shdr sh = { .sh_size = 1, .sh_info = huge[rnd() % 6] + rnd() % 3 };

			eh->e_phnum = PN_XNUM;
			eh->e_shoff = sizeof(*eh);
			eh->e_shnum = 1;
			eh->e_shentsize = sizeof(sh);
			if (len >= sizeof(*eh) + sizeof(sh))
				memcpy(d + sizeof(*eh), &sh, sizeof(sh));
		}
		break;
	case 4:		/* two segments at the same place */
		p = phdr(d, len, 1 + rnd() % (phnum - 1));
		q = phdr(d, len, 1 + rnd() % (phnum - 1));
		if (p && q && p != q)
			q->p_vaddr = p->p_vaddr + (rnd() % 2) * 4096;
		break;
	case 5:		/* a segment in kernel space */
		if ((p = phdr(d, len, 1 + rnd() % (phnum - 1))))
			p->p_vaddr = 0xffff800000000000ULL + (rnd() % 16) * 4096;
		break;
	default:	/* a note with a bogus length */
		if ((p = phdr(d, len, 0)) && p->p_offset < len) {
			size_t at = p->p_offset, end = p->p_offset + p->p_filesz;
			int skip = rnd() % 8;

			while (skip-- && at + sizeof(Elf64_Nhdr) <= end && end <= len) {
				Elf64_Nhdr *nh = (Elf64_Nhdr *)(d + at);

				at += sizeof(*nh) + ((nh->n_namesz + 3UL) & ~3UL) +
				      ((nh->n_descsz + 3UL) & ~3UL);
			}
			if (at + sizeof(Elf64_Nhdr) <= len) {
				Elf64_Nhdr *nh = (Elf64_Nhdr *)(d + at);

				if (rnd() % 2)
					nh->n_descsz = (uint32_t)huge[rnd() % 6] + rnd() % 8;
				else
					nh->n_namesz = rnd() % 80;
			}
		}
		break;
	}
	if (rnd() % 5)
		fuzz_repair_head_sum(d, len);
write:
	f = fopen(argv[2], "wb");
	if (!f || fwrite(d, 1, len, f) != len || fclose(f))
		return 1;
	if (argc == 4)
		printf("%u\n", kind);
	free(d);
	return 0;
}
