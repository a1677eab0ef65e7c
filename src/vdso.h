/*
 * vdso: the kernel's code in every process (clock_gettime, gettimeofday,
 * time, getcpu, clock_getres, getrandom, ...), which libc calls through
 * pointers it took at startup.  A copy must have working code at the old
 * address.
 *
 * The source's [vdso] bytes and where its [vdso] and [vvar] pages were go
 * into the image.  In the copy (after the restorer's own are gone):
 * - this kernel's vDSO is byte-identical to the source's and its data pages
 *   ([vvar]) are as large: arch_prctl(ARCH_MAP_VDSO_64) maps it at the old
 *   address (a hint: /proc/PID/maps says where it landed);
 * - otherwise, a proxy as CRIU makes one: this kernel's vDSO is mapped where
 *   it fits, and at the old address go the old vDSO's bytes with each
 *   exported function patched to jump to the new vDSO's function of the
 *   same name.  An old function the new vDSO lacks becomes its system call
 *   where it has one; one that has none is refused by name (vdso_check),
 *   before anything is restored.
 * Test switch: CONTMIG_TEST_VDSO_PROXY=1 makes the proxy even for an
 * identical vDSO, =syscall makes it as if this kernel's vDSO exported
 * nothing (every function its system call).
 * Functions return 0 or -errno and never print; why says what failed.
 */
#ifndef CONTMIG_VDSO_H
#define CONTMIG_VDSO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "image.h"
#include "procfs.h"
#include "remote.h"

/* Note a kernel mapping of the source ([vdso], [vvar], [vvar_vclock]). */
void vdso_see_mapping(struct image_vdso *v, const struct vma *m);
/* Read the bytes of the vDSO vdso_see_mapping found (none: nothing to do). */
int vdso_collect(pid_t pid, struct image_vdso *v) MUST_CHECK;
/* Can this machine give the copy the image's vDSO?  Nothing is changed. */
int vdso_check(const struct image *im, char *why, size_t len) MUST_CHECK;
/* Give it, once every mapping of the image is in place. */
int vdso_restore(const struct image *im, struct remote *r, char *why, size_t len) MUST_CHECK;
/* The names of the functions the vDSO in bytes exports, ", "-separated,
 * into buf (for inspect); "" when it cannot be read. */
void vdso_exports(const uint8_t *bytes, size_t size, char *buf, size_t len);

#endif
