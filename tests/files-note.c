/*
 * files-note IMAGE OUT N: copy IMAGE (which has a files note) to OUT with
 * that note replaced by one of N records, all /dev/null and sound: pairs of
 * an open file and a dup of it (fd 3 opened, 4 sharing 3, 5 opened, 6
 * sharing 5, ...), every path one run of bytes.  The notes grow, so the
 * data moves to the next page boundary after them, and the head sum is
 * made to match: an image a hostile writer can make, with far more files
 * than a process holds (tests/hostile-images.sh).
 */
#include "config.h"

#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "image.h"

#define NT_FILES	0x434d000f

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

int main(int argc, char **argv)
{
	static const char path[] = "/dev/null";
	size_t cap = 256 << 20, len, n, at, end, out_len, notes_len = 0, desc_len, headsum = 0;
	uint8_t *d = malloc(cap), *o, *desc, *notes;
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
	uint64_t old_data, new_data;
	FILE *f;

	if (argc != 4 || !(n = strtoul(argv[3], NULL, 10)) || n % 2) {
		fprintf(stderr, "usage: files-note IMAGE OUT N (N even)\n");
		return 64;
	}
	f = fopen(argv[1], "rb");
	if (!d || !f)
		return 2;
	len = fread(d, 1, cap, f);
	fclose(f);
	memcpy(&eh, d, sizeof(eh));
	if (len < sizeof(eh) || eh.e_phnum == PN_XNUM || eh.e_phnum < 3 ||
	    eh.e_phoff + eh.e_phnum * sizeof(Elf64_Phdr) > len)
		return 2;
	ph = (Elf64_Phdr *)(d + eh.e_phoff);
	old_data = ph[1].p_offset;

	/* The new files note's description. */
	desc_len = 8 + n * sizeof(struct image_file_rec) + sizeof(path) - 1;
	desc = calloc(1, desc_len);
	if (!desc)
		return 2;
	put64(desc, n);
	for (size_t i = 0; i < n; i++) {
		struct image_file_rec r = {
			.fd = 3 + i, .kind = IMAGE_FILE_DEVICE, .open_flags = 2,
			.shares = i % 2 ? (int32_t)(3 + i - 1) : -1, .rdev = 0x103,
			.path_off = 0, .path_len = sizeof(path) - 1,
		};
		memcpy(desc + 8 + i * sizeof(r), &r, sizeof(r));
	}
	memcpy(desc + 8 + n * sizeof(struct image_file_rec), path, sizeof(path) - 1);

	/* The notes again, the files note's description replaced. */
	notes = malloc(ph[0].p_filesz + desc_len + 64);
	if (!notes)
		return 2;
	at = ph[0].p_offset;
	end = at + ph[0].p_filesz;
	while (end - at >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		size_t name, dsz;

		memcpy(&nh, d + at, sizeof(nh));
		name = (nh.n_namesz + 3UL) & ~3UL;
		dsz = (nh.n_descsz + 3UL) & ~3UL;
		if (nh.n_type == NT_CONTMIG_HEADSUM && nh.n_descsz == 8)
			headsum = notes_len;
		if (nh.n_type == NT_FILES) {
			Elf64_Nhdr nn = nh;

			nn.n_descsz = desc_len;
			memcpy(notes + notes_len, &nn, sizeof(nn));
			memcpy(notes + notes_len + sizeof(nn), d + at + sizeof(nh), name);
			memcpy(notes + notes_len + sizeof(nn) + name, desc, desc_len);
			notes_len += sizeof(nn) + name + ((desc_len + 3) & ~3UL);
			memset(notes + notes_len - (((desc_len + 3) & ~3UL) - desc_len), 0,
			       ((desc_len + 3) & ~3UL) - desc_len);
		} else {
			memcpy(notes + notes_len, d + at, sizeof(nh) + name + dsz);
			notes_len += sizeof(nh) + name + dsz;
		}
		at += sizeof(nh) + name + dsz;
	}
	if (!headsum)
		return 2;

	new_data = (ph[0].p_offset + notes_len + 4095) & ~4095UL;
	out_len = new_data + (len - old_data);
	o = calloc(1, out_len);
	if (!o)
		return 2;
	memcpy(o, d, ph[0].p_offset);
	ph = (Elf64_Phdr *)(o + eh.e_phoff);
	ph[0].p_filesz = notes_len;
	for (size_t i = 1; i < eh.e_phnum; i++)
		ph[i].p_offset += new_data - old_data;
	memcpy(o + ph[0].p_offset, notes, notes_len);
	memcpy(o + new_data, d + old_data, len - old_data);
	put64(o + ph[0].p_offset + headsum + sizeof(Elf64_Nhdr) + 8,
	      XXH3_64bits(o, ph[0].p_offset + headsum));
	free(d);
	free(desc);
	free(notes);
	f = fopen(argv[2], "wb");
	if (!f || fwrite(o, 1, out_len, f) != out_len || fclose(f))
		return 2;
	free(o);
	return 0;
}
