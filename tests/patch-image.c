/*
 * patch-image IMAGE OUT FROM TO: copy IMAGE to OUT with the first run of the
 * bytes FROM in its notes replaced by TO (both in hex, as long as each
 * other), and the head sum made to match again: the image as another
 * contmig, or another machine, would have written it (tests/creds.sh).
 * Exits 1 when FROM is not in the notes.
 */
#include "config.h"

#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	unsigned v;

	while (*s && n < max && sscanf(s, "%2x", &v) == 1) {
		out[n++] = v;
		s += 2;
	}
	return *s ? 0 : n;
}

int main(int argc, char **argv)
{
	static uint8_t from[512], to[512];
	size_t len, cap = 64 << 20, nfrom, phoff;
	uint8_t *d = malloc(cap);
	Elf64_Phdr notes;
	FILE *f;

	if (argc != 5) {
		fprintf(stderr, "usage: patch-image IMAGE OUT FROM TO (hex)\n");
		return 64;
	}
	nfrom = unhex(argv[3], from, sizeof(from));
	if (!nfrom || unhex(argv[4], to, sizeof(to)) != nfrom) {
		fprintf(stderr, "patch-image: FROM and TO must be hex of one length\n");
		return 64;
	}
	f = fopen(argv[1], "rb");
	if (!d || !f)
		return 2;
	len = fread(d, 1, cap, f);
	fclose(f);
	if (!fuzz_phnum(d, len, &phoff) || phoff > len || len - phoff < sizeof(notes))
		return 2;
	memcpy(&notes, d + phoff, sizeof(notes));
	if (notes.p_offset > len || notes.p_filesz > len - notes.p_offset)
		return 2;
	for (size_t at = notes.p_offset; at + nfrom <= notes.p_offset + notes.p_filesz; at++) {
		if (memcmp(d + at, from, nfrom))
			continue;
		memcpy(d + at, to, nfrom);
		fuzz_repair_head_sum(d, len);
		f = fopen(argv[2], "wb");
		if (!f || fwrite(d, 1, len, f) != len || fclose(f))
			return 2;
		free(d);
		return 0;
	}
	fprintf(stderr, "patch-image: %s is not in the notes of %s\n", argv[3], argv[1]);
	free(d);
	return 1;
}
