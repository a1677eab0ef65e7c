#include "config.h"

#include <elf.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "fuzz.h"
#include "image.h"

int fuzz_fd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if ((size && write(fd, data, size) != (ssize_t)size) || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

size_t fuzz_phnum(const uint8_t *d, size_t len, size_t *phoff)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh;

	if (len < sizeof(eh))
		return 0;
	memcpy(&eh, d, sizeof(eh));
	*phoff = eh.e_phoff;
	if (eh.e_phnum != PN_XNUM)
		return eh.e_phnum;
	if (eh.e_shoff > len || len - eh.e_shoff < sizeof(sh))
		return 0;
	memcpy(&sh, d + eh.e_shoff, sizeof(sh));
	return sh.sh_info;
}

void fuzz_repair_head_sum(uint8_t *d, size_t len)
{
	Elf64_Phdr ph;
	Elf64_Nhdr nh;
	size_t at, end, last = 0, phoff;
	bool found = false;

	if (!fuzz_phnum(d, len, &phoff) || phoff > len || len - phoff < sizeof(ph))
		return;
	memcpy(&ph, d + phoff, sizeof(ph));
	at = ph.p_offset;
	if (at > len || ph.p_filesz > len - at)
		return;
	end = at + ph.p_filesz;
	while (end - at >= sizeof(nh)) {
		size_t name, desc;

		memcpy(&nh, d + at, sizeof(nh));
		name = (nh.n_namesz + 3UL) & ~3UL;
		desc = (nh.n_descsz + 3UL) & ~3UL;
		if (name > end - at - sizeof(nh) || desc > end - at - sizeof(nh) - name)
			break;
		if (nh.n_type == NT_CONTMIG_HEADSUM && nh.n_descsz == 8) {
			last = at;
			found = true;
		}
		at += sizeof(nh) + name + desc;
	}
	if (found) {
		uint64_t sum = XXH3_64bits(d, last);

		memcpy(&nh, d + last, sizeof(nh));
		memcpy(d + last + sizeof(nh) + ((nh.n_namesz + 3UL) & ~3UL), &sum, sizeof(sum));
	}
}
