/* cpu: what this CPU's XSAVE looks like, and moving XSAVE state between layouts. */
#ifndef CONTMIG_CPU_H
#define CONTMIG_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* XCR0: the state components the OS has enabled on this CPU. */
uint64_t cpu_xcr0(void);
/* Where this CPU's standard-format XSAVE puts each component (CPUID 0xD). */
void cpu_xstate_layout(struct image *im);
/*
 * Rewrite the image's XSAVE area into dst, a buffer of dst_len bytes laid out
 * for this CPU (as PTRACE_GETREGSET returned it), component by component.
 * 0, or -EOPNOTSUPP when the state uses a component this CPU lacks.
 */
int cpu_convert_xstate(const struct image *im, uint8_t *dst, size_t dst_len) MUST_CHECK;
/* Names of the XSAVE components in mask, for messages ("avx512 zmm_hi256 ..."). */
void cpu_xfeature_names(uint64_t mask, char *out, size_t outsz);

#endif
