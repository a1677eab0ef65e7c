/*
 * unwind: the call stack of a frozen process, from its registers and memory
 * alone (no live process, no binary), with libunwind over a custom address
 * space.  Unwind tables come from the program's own .eh_frame_hdr, found
 * through the ELF headers that lie in its first mapped page; where a frame
 * has none (hand-written assembly), libunwind follows the frame-pointer
 * chain, and the frame says so.  0 or -errno; never prints.
 */
#ifndef CONTMIG_UNWIND_H
#define CONTMIG_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/user.h>

#include "error.h"
#include "procfs.h"

#define UNWIND_MAX_FRAMES	64

struct unwind_frame {
	uint64_t ip, sp;
	bool by_frame_pointer;		/* found by the frame chain, not unwind tables */
};

/* Read len bytes of the process's memory at addr: 0 or -EFAULT. */
typedef int (*unwind_read_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

int unwind_stack(const struct user_regs_struct *regs, const struct vma_list *vmas,
		 unwind_read_fn read, void *ctx, struct unwind_frame *frames, size_t max,
		 size_t *count) MUST_CHECK;

#endif
