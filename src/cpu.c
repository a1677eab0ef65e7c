#include "config.h"

#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch-x86_64.h"
#include "cpu.h"

uint64_t cpu_xcr0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

void cpu_xstate_layout(struct image *im)
{
	memset(im->state.xcomp, 0, sizeof(im->state.xcomp));
	for (unsigned i = 2; i < IMAGE_XCOMPONENTS; i++) {
		unsigned eax, ebx, ecx, edx;

		if (__get_cpuid_count(0xd, i, &eax, &ebx, &ecx, &edx)) {
			im->state.xcomp[i].size = eax;
			im->state.xcomp[i].offset = ebx;
		}
	}
}

int cpu_convert_xstate(const struct image *im, uint8_t *dst, size_t dst_len)
{
	uint64_t bv = image_xstate_bv(im), xcr0 = cpu_xcr0();
	struct image host;

	if (bv & ~xcr0)
		return -EOPNOTSUPP;
	if (dst_len < XSAVE_LEGACY_SIZE + XSAVE_HEADER_SIZE || im->xstate_size < XSAVE_LEGACY_SIZE + XSAVE_HEADER_SIZE)
		return -EINVAL;
	cpu_xstate_layout(&host);
	memcpy(dst, im->xstate, XSAVE_LEGACY_SIZE);
	memset(dst + XSAVE_LEGACY_SIZE, 0, XSAVE_HEADER_SIZE);
	memcpy(dst + XSAVE_XSTATE_BV_OFFSET, &bv, sizeof(bv));	/* XCOMP_BV 0: standard format */
	/* Components 0 and 1 (x87, SSE) live in the legacy area. */
	for (unsigned i = 2; i < IMAGE_XCOMPONENTS; i++) {
		uint32_t so = im->state.xcomp[i].offset, ss = im->state.xcomp[i].size;
		uint32_t ho = host.state.xcomp[i].offset, hs = host.state.xcomp[i].size;

		if (!(bv & (1ULL << i)))
			continue;
		if (ss != hs || (uint64_t)so + ss > im->xstate_size || (uint64_t)ho + hs > dst_len)
			return -EOPNOTSUPP;
		memcpy(dst + ho, im->xstate + so, ss);
	}
	return 0;
}

void cpu_xfeature_names(uint64_t mask, char *out, size_t outsz)
{
	static const char *const names[] = {
		"x87", "sse", "avx", "mpx-bndregs", "mpx-bndcsr", "avx512-opmask",
		"avx512-zmm-hi256", "avx512-hi16-zmm", "pt", "pkru", "pasid", "cet-u",
		"cet-s", "hdc", "uintr", "lbr", "hwp", "amx-tilecfg", "amx-tiledata",
	};
	size_t used = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < 64 && used < outsz; i++) {
		if (!(mask & (1ULL << i)))
			continue;
		if (i < sizeof(names) / sizeof(names[0]))
			used += snprintf(out + used, outsz - used, "%s%s", used ? " " : "", names[i]);
		else
			used += snprintf(out + used, outsz - used, "%sbit%u", used ? " " : "", i);
	}
}
