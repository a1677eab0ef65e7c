#include "config.h"

#include <elf.h>
#include <errno.h>
#include <libunwind.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "unwind.h"

/* libunwind's own search of an .eh_frame_hdr table, which it exports but does
 * not declare (libunwind-ptrace and perf call it the same way). */
extern int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t as, unw_word_t ip,
					      unw_dyn_info_t *di, unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);

#define DW_EH_PE_udata4		0x03
#define DW_EH_PE_sdata4		0x0b
#define DW_EH_PE_datarel	0x30

struct space {
	const struct user_regs_struct *regs;
	const struct vma_list *vmas;
	unwind_read_fn read;
	void *ctx;
};

/* An ELF file mapped at v->start whose PT_LOADs cover ip: where its
 * .eh_frame_hdr lies (0 if it has none). */
static int find_eh_frame_hdr(struct space *s, const struct vma *v, uint64_t ip, uint64_t *hdr)
{
	Elf64_Ehdr eh;
	uint64_t bias = 0;
	bool covers = false, have_bias = false;

	*hdr = 0;
	if (s->read(s->ctx, v->start, &eh, sizeof(eh)) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum > 64)
		return -ENOENT;
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;

			if (s->read(s->ctx, v->start + eh.e_phoff + i * sizeof(ph), &ph, sizeof(ph)))
				return -ENOENT;
			/* The mapping holds file offset 0: the load bias follows. */
			if (pass == 0 && ph.p_type == PT_LOAD && ph.p_offset == 0 && !have_bias) {
				bias = v->start - (ph.p_vaddr & ~(uint64_t)0xfff);
				have_bias = true;
			} else if (pass == 1 && ph.p_type == PT_LOAD && ip >= ph.p_vaddr + bias &&
				   ip < ph.p_vaddr + bias + ph.p_memsz) {
				covers = true;
			} else if (pass == 1 && ph.p_type == PT_GNU_EH_FRAME) {
				*hdr = ph.p_vaddr + bias;
			}
		}
	}
	return have_bias && covers ? 0 : -ENOENT;
}

static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
			  int need_unwind_info, void *arg)
{
	struct space *s = arg;
	const struct vma *text = vma_list_find(s->vmas, ip);
	uint64_t hdr = 0;
	uint8_t enc[4];
	uint32_t fde_count;
	unw_dyn_info_t di;

	if (!text || !(text->prot & PROT_EXEC))
		return -UNW_ENOINFO;
	/* Whichever mapping starts with the ELF file that covers ip. */
	for (size_t i = 0; i < s->vmas->count && !hdr; i++)
		if (find_eh_frame_hdr(s, &s->vmas->vma[i], ip, &hdr) == 0 && !hdr)
			return -UNW_ENOINFO;
	if (!hdr || s->read(s->ctx, hdr, enc, sizeof(enc)) ||
	    s->read(s->ctx, hdr + 8, &fde_count, sizeof(fde_count)))
		return -UNW_ENOINFO;
	/* Version 1, a 4-byte FDE count and a table of sdata4 pairs relative
	 * to the header: what every linker writes. */
	if (enc[0] != 1 || enc[2] != DW_EH_PE_udata4 ||
	    enc[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
		return -UNW_ENOINFO;
	memset(&di, 0, sizeof(di));
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.start_ip = text->start;
	di.end_ip = text->end;
	di.u.rti.segbase = hdr;
	di.u.rti.table_data = hdr + 12;
	di.u.rti.table_len = (uint64_t)fde_count * 8 / sizeof(unw_word_t);
	return _Ux86_64_dwarf_search_unwind_table(as, ip, &di, pi, need_unwind_info, arg);
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	(void)as;
	(void)arg;
	free(pi->unwind_info);
	pi->unwind_info = NULL;
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr, void *arg)
{
	(void)as;
	(void)addr;
	(void)arg;
	return -UNW_ENOINFO;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
	struct space *s = arg;

	(void)as;
	if (write)
		return -UNW_EINVAL;	/* an image is read, never written */
	return s->read(s->ctx, addr, val, sizeof(*val)) ? -UNW_EINVAL : 0;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write, void *arg)
{
	const struct user_regs_struct *r = ((struct space *)arg)->regs;
	const unsigned long long *by_number[] = {
		[UNW_X86_64_RAX] = &r->rax, [UNW_X86_64_RDX] = &r->rdx,
		[UNW_X86_64_RCX] = &r->rcx, [UNW_X86_64_RBX] = &r->rbx,
		[UNW_X86_64_RSI] = &r->rsi, [UNW_X86_64_RDI] = &r->rdi,
		[UNW_X86_64_RBP] = &r->rbp, [UNW_X86_64_RSP] = &r->rsp,
		[UNW_X86_64_R8] = &r->r8, [UNW_X86_64_R9] = &r->r9,
		[UNW_X86_64_R10] = &r->r10, [UNW_X86_64_R11] = &r->r11,
		[UNW_X86_64_R12] = &r->r12, [UNW_X86_64_R13] = &r->r13,
		[UNW_X86_64_R14] = &r->r14, [UNW_X86_64_R15] = &r->r15,
		[UNW_X86_64_RIP] = &r->rip,
	};

	(void)as;
	if (write || reg < 0 || reg > UNW_X86_64_RIP)
		return -UNW_EBADREG;
	*val = *by_number[reg];
	return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			void *arg)
{
	(void)as;
	(void)reg;
	(void)val;
	(void)write;
	(void)arg;
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	(void)as;
	(void)c;
	(void)arg;
	return -UNW_EINVAL;
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
			 unw_word_t *off, void *arg)
{
	(void)as;
	(void)addr;
	(void)buf;
	(void)len;
	(void)off;
	(void)arg;
	return -UNW_ENOINFO;	/* the image's symbols name frames, not libunwind */
}

int unwind_stack(const struct user_regs_struct *regs, const struct vma_list *vmas,
		 unwind_read_fn read, void *ctx, struct unwind_frame *frames, size_t max,
		 size_t *count)
{
	static unw_accessors_t accessors = {
		.find_proc_info = find_proc_info,
		.put_unwind_info = put_unwind_info,
		.get_dyn_info_list_addr = get_dyn_info_list_addr,
		.access_mem = access_mem,
		.access_reg = access_reg,
		.access_fpreg = access_fpreg,
		.resume = resume,
		.get_proc_name = get_proc_name,
	};
	struct space s = { .regs = regs, .vmas = vmas, .read = read, .ctx = ctx };
	unw_addr_space_t as = unw_create_addr_space(&accessors, 0);
	unw_cursor_t cursor;
	bool next_by_fp = false;
	int ret;

	*count = 0;
	if (!as)
		return -ENOMEM;
	ret = unw_init_remote(&cursor, as, &s);
	while (ret >= 0 && *count < max) {
		unw_word_t ip, sp;
		unw_proc_info_t pi;

		if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 ||
		    unw_get_reg(&cursor, UNW_REG_SP, &sp) < 0 || !ip)
			break;
		frames[*count] = (struct unwind_frame){ .ip = ip, .sp = sp,
							.by_frame_pointer = next_by_fp };
		(*count)++;
		/* Without unwind info here, the step to the caller follows RBP.
		 * (For a frame without info, libunwind's x86-64 get_proc_info
		 * does not fail: it makes up a one-byte range at ip.) */
		next_by_fp = unw_get_proc_info(&cursor, &pi) < 0 ||
			     (pi.start_ip == ip && pi.end_ip == ip + 1);
		if (unw_step(&cursor) <= 0)
			break;
	}
	unw_destroy_addr_space(as);
	return ret < 0 && !*count ? -EINVAL : 0;
}
