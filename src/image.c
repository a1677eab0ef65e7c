#include "config.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xxhash.h>

#include "arch-x86_64.h"
#include "image.h"

#define NOTE_ALIGN(n)	(((n) + 3) & ~(size_t)3)
#define PAGE_ALIGN(n)	(((n) + IMAGE_PAGE - 1) & ~(IMAGE_PAGE - 1))

/* A growing byte buffer for the head. */
struct buf {
	uint8_t *data;
	size_t len, cap;
	bool failed;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
	/* Nothing to add (memcpy's pointers may not be NULL even then). */
	if (b->failed || !n)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d) {
			b->failed = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void buf_zeros(struct buf *b, size_t n)
{
	static const uint8_t zeros[8];

	while (n) {
		size_t k = n < sizeof(zeros) ? n : sizeof(zeros);

		buf_put(b, zeros, k);
		n -= k;
	}
}

static size_t note_size(const char *owner, size_t desc_len)
{
	return sizeof(Elf64_Nhdr) + NOTE_ALIGN(strlen(owner) + 1) + NOTE_ALIGN(desc_len);
}

static void put_note(struct buf *b, const char *owner, uint32_t type, const void *desc,
		     size_t len)
{
	Elf64_Nhdr nh = {
		.n_namesz = strlen(owner) + 1,
		.n_descsz = len,
		.n_type = type,
	};

	buf_put(b, &nh, sizeof(nh));
	buf_put(b, owner, nh.n_namesz);
	buf_zeros(b, NOTE_ALIGN(nh.n_namesz) - nh.n_namesz);
	buf_put(b, desc, len);
	buf_zeros(b, NOTE_ALIGN(len) - len);
}

static void put_vmas_note(struct buf *b, const struct vma_list *vmas)
{
	struct buf desc = { 0 };
	uint64_t count = vmas->count;
	uint32_t name_off = 0;

	buf_put(&desc, &count, sizeof(count));
	for (size_t i = 0; i < vmas->count; i++) {
		const struct vma *v = &vmas->vma[i];
		struct image_vma_rec rec = {
			.start = v->start,
			.end = v->end,
			.offset = v->offset,
			.prot = v->prot,
			.flags = v->shared ? IMAGE_VMA_SHARED : 0,
			.name_off = name_off,
			.name_len = strlen(v->name),
		};

		buf_put(&desc, &rec, sizeof(rec));
		name_off += rec.name_len;
	}
	for (size_t i = 0; i < vmas->count; i++)
		buf_put(&desc, vmas->vma[i].name, strlen(vmas->vma[i].name));
	if (desc.failed)
		b->failed = true;
	put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_VMAS, desc.data, desc.len);
	free(desc.data);
}

static void put_symbols_note(struct buf *b, const struct symtab *st)
{
	struct buf desc = { 0 };
	uint64_t count = st->count;
	uint32_t name_off = 0;

	buf_put(&desc, &count, sizeof(count));
	for (size_t i = 0; i < st->count; i++) {
		struct image_sym_rec rec = {
			.addr = st->sym[i].addr,
			.size = st->sym[i].size,
			.name_off = name_off,
			.name_len = strlen(st->sym[i].name),
		};

		buf_put(&desc, &rec, sizeof(rec));
		name_off += rec.name_len;
	}
	for (size_t i = 0; i < st->count; i++)
		buf_put(&desc, st->sym[i].name, strlen(st->sym[i].name));
	if (desc.failed)
		b->failed = true;
	put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_SYMBOLS, desc.data, desc.len);
	free(desc.data);
}

static void put_signals_note(struct buf *b, const struct image *im)
{
	struct buf desc = { 0 };
	uint64_t count = im->nsig;

	buf_put(&desc, &count, sizeof(count));
	buf_put(&desc, im->sig, im->nsig * sizeof(*im->sig));
	if (desc.failed)
		b->failed = true;
	put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_SIGNALS, desc.data, desc.len);
	free(desc.data);
}

static void put_creds_note(struct buf *b, const struct image_creds *c)
{
	struct image_creds_rec rec = { .ngroups = c->ngroups };
	struct buf desc = { 0 };

	memcpy(rec.uid, c->uid, sizeof(rec.uid));
	memcpy(rec.gid, c->gid, sizeof(rec.gid));
	buf_put(&desc, &rec, sizeof(rec));
	for (size_t i = 0; i < c->ngroups; i++)
		buf_put(&desc, &c->groups[i].gid, sizeof(uint32_t));
	buf_put(&desc, c->user, strlen(c->user) + 1);
	buf_put(&desc, c->group, strlen(c->group) + 1);
	for (size_t i = 0; i < c->ngroups; i++)
		buf_put(&desc, c->groups[i].name, strlen(c->groups[i].name) + 1);
	if (desc.failed)
		b->failed = true;
	put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_CREDS, desc.data, desc.len);
	free(desc.data);
}

static void put_limits_note(struct buf *b, const struct image_limits *l)
{
	struct buf desc = { 0 };

	buf_put(&desc, &l->rec, sizeof(l->rec));
	buf_put(&desc, l->rlim, l->rec.nrlimits * sizeof(*l->rlim));
	buf_put(&desc, l->label, strlen(l->label) + 1);
	if (desc.failed)
		b->failed = true;
	put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_LIMITS, desc.data, desc.len);
	free(desc.data);
}

static void put_seccomp_note(struct buf *b, const struct image_seccomp *sc)
{
	struct image_seccomp_rec rec = { .mode = sc->mode, .nfilters = sc->nfilters,
					 .flags = sc->no_new_privs ? IMAGE_SECCOMP_NNP : 0 };
	struct buf desc = { 0 };

	buf_put(&desc, &rec, sizeof(rec));
	for (size_t i = 0; i < sc->nfilters; i++) {
		struct image_filter_rec f = { .flags = sc->filter[i].flags,
					      .len = sc->filter[i].len };

		buf_put(&desc, &f, sizeof(f));
		buf_put(&desc, sc->filter[i].insn, f.len * sizeof(uint64_t));
	}
	if (desc.failed)
		b->failed = true;
	put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_SECCOMP, desc.data, desc.len);
	free(desc.data);
}

static void put_files_note(struct buf *b, const struct image *im)
{
	struct buf desc = { 0 };
	uint64_t count = im->nfile;
	uint32_t path_off = 0;

	buf_put(&desc, &count, sizeof(count));
	for (size_t i = 0; i < im->nfile; i++) {
		const struct image_file *f = &im->file[i];
		struct image_file_rec rec = {
			.fd = f->fd, .kind = f->kind, .open_flags = f->open_flags,
			.flags = f->flags, .shares = f->shares, .mtime_nsec = f->mtime_nsec,
			.offset = f->offset, .size = f->size, .mtime_sec = f->mtime_sec,
			.rdev = f->rdev, .hash = f->hash,
			.path_off = path_off, .path_len = strlen(f->path),
		};

		buf_put(&desc, &rec, sizeof(rec));
		path_off += rec.path_len;
	}
	for (size_t i = 0; i < im->nfile; i++)
		buf_put(&desc, im->file[i].path, strlen(im->file[i].path));
	if (desc.failed)
		b->failed = true;
	put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_FILES, desc.data, desc.len);
	free(desc.data);
}

static void put_workdir_note(struct buf *b, const struct image_workdir *wd)
{
	struct buf desc = { 0 };
	uint32_t head[2] = { wd->umask, 0 };

	buf_put(&desc, head, sizeof(head));
	buf_put(&desc, wd->path, strlen(wd->path) + 1);
	if (desc.failed)
		b->failed = true;
	put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_WORKDIR, desc.data, desc.len);
	free(desc.data);
}

static void put_mm_note(struct buf *b, const struct image_mm *mm)
{
	struct buf desc = { 0 };

	buf_put(&desc, &mm->rec, sizeof(mm->rec));
	buf_put(&desc, mm->exe, strlen(mm->exe) + 1);
	if (desc.failed)
		b->failed = true;
	put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_MM, desc.data, desc.len);
	free(desc.data);
}

static void put_vdso_note(struct buf *b, const struct image_vdso *v)
{
	struct buf desc = { 0 };

	buf_put(&desc, &v->rec, sizeof(v->rec));
	buf_put(&desc, v->bytes, v->rec.vdso_size);
	if (desc.failed)
		b->failed = true;
	put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_VDSO, desc.data, desc.len);
	free(desc.data);
}

static void put_filerefs_note(struct buf *b, const struct image_filerefs *fr)
{
	struct image_filerefs_rec head = { .nfiles = fr->nfiles, .nmaps = fr->nmaps };
	struct buf desc = { 0 };

	buf_put(&desc, &head, sizeof(head));
	for (size_t i = 0; i < fr->nfiles; i++) {
		const struct image_fileref *f = &fr->file[i];
		struct image_fileref_rec rec = { .size = f->size, .build_id_len = f->build_id_len,
						 .path_len = strlen(f->path) };

		memcpy(rec.sum, f->sum, sizeof(rec.sum));
		memcpy(rec.build_id, f->build_id, sizeof(rec.build_id));
		buf_put(&desc, &rec, sizeof(rec));
	}
	for (size_t i = 0; i < fr->nmaps; i++) {
		struct image_mapref_rec rec = { .start = fr->map[i].start,
						.offset = fr->map[i].offset,
						.file = fr->map[i].file };

		buf_put(&desc, &rec, sizeof(rec));
	}
	for (size_t i = 0; i < fr->nfiles; i++)
		buf_put(&desc, fr->file[i].path, strlen(fr->file[i].path));
	if (desc.failed)
		b->failed = true;
	put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_FILEREFS, desc.data, desc.len);
	free(desc.data);
}

static void put_sigactions_note(struct buf *b, const struct image_sigactions *sa)
{
	struct buf desc = { 0 };

	buf_put(&desc, &sa->head, sizeof(sa->head));
	buf_put(&desc, sa->act, sa->head.count * sizeof(sa->act[0]));
	if (desc.failed)
		b->failed = true;
	put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_SIGACTIONS, desc.data, desc.len);
	free(desc.data);
}

static void put_drops_note(struct buf *b, const struct runs *drops)
{
	uint64_t count = drops->count;
	Elf64_Nhdr nh = {
		.n_namesz = sizeof(IMAGE_NOTE_OWNER),
		.n_descsz = sizeof(count) + drops->count * 2 * sizeof(uint64_t),
		.n_type = NT_CONTMIG_DROPS,
	};

	buf_put(b, &nh, sizeof(nh));
	buf_put(b, IMAGE_NOTE_OWNER, nh.n_namesz);
	buf_zeros(b, NOTE_ALIGN(nh.n_namesz) - nh.n_namesz);
	buf_put(b, &count, sizeof(count));
	for (size_t i = 0; i < drops->count; i++) {
		buf_put(b, &drops->run[i].start, sizeof(uint64_t));
		buf_put(b, &drops->run[i].end, sizeof(uint64_t));
	}
}

static void put_notes(struct buf *b, const struct image *im)
{
	struct elf_prstatus prs = { 0 };
	struct elf_prpsinfo psinfo = { 0 };

	prs.pr_pid = im->state.source_pid;
	memcpy(&prs.pr_reg, &im->regs, sizeof(im->regs));
	put_note(b, "CORE", NT_PRSTATUS, &prs, sizeof(prs));

	psinfo.pr_pid = im->state.source_pid;
	memcpy(psinfo.pr_fname, im->state.comm, sizeof(psinfo.pr_fname));
	memcpy(psinfo.pr_psargs, im->state.comm, sizeof(im->state.comm));
	put_note(b, "CORE", NT_PRPSINFO, &psinfo, sizeof(psinfo));

	/* The legacy FXSAVE part of the XSAVE area is the FP register set. */
	put_note(b, "CORE", NT_FPREGSET, im->xstate, sizeof(struct user_fpregs_struct));
	put_note(b, "LINUX", NT_X86_XSTATE, im->xstate, im->xstate_size);
	if (im->auxv_size)
		put_note(b, "CORE", NT_AUXV, im->auxv, im->auxv_size);
	put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_STATE, &im->state, sizeof(im->state));
	put_vmas_note(b, &im->vmas);
	if (im->syms.count)
		put_symbols_note(b, &im->syms);
	if (im->nsig)
		put_signals_note(b, im);
	if (im->creds.known)
		put_creds_note(b, &im->creds);
	if (im->limits.known)
		put_limits_note(b, &im->limits);
	if (im->seccomp.mode)
		put_seccomp_note(b, &im->seccomp);
	if (im->nfile)
		put_files_note(b, im);
	if (im->workdir.known)
		put_workdir_note(b, &im->workdir);
	if (im->mm.known)
		put_mm_note(b, &im->mm);
	if (im->vdso.rec.vdso_size)
		put_vdso_note(b, &im->vdso);
	if (im->rseq.len)
		put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_RSEQ, &im->rseq, sizeof(im->rseq));
	if (im->sigactions.known)
		put_sigactions_note(b, &im->sigactions);
	if (im->timers.known)
		put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_TIMERS, im->timers.timer,
			 sizeof(im->timers.timer));
	if (im->refs.nfiles)
		put_filerefs_note(b, &im->refs);
	if (im->drops.count)
		put_drops_note(b, &im->drops);
	if (im->clocks.known)
		put_note(b, IMAGE_NOTE_OWNER, NT_CONTMIG_CLOCKS, &im->clocks.rec,
			 sizeof(im->clocks.rec));
}

static size_t sums_note_size(size_t nseg)
{
	return note_size(IMAGE_NOTE_OWNER, nseg * sizeof(uint64_t));
}

/*
 * Where the program headers go.  With PN_XNUM or more of them e_phnum cannot
 * hold the count: as in the kernel's core dumps (fs/binfmt_elf.c,
 * fill_extnum_info), e_phnum is PN_XNUM and section header 0's sh_info has
 * the count.  That section header sits right after the ELF header, so a
 * reader going front to back meets it before the table it counts.
 */
static uint64_t phdrs_offset(size_t phnum)
{
	return sizeof(Elf64_Ehdr) + (phnum >= PN_XNUM ? sizeof(Elf64_Shdr) : 0);
}

int image_layout(struct image *im)
{
	struct buf notes = { 0 }, head = { 0 };
	size_t phnum = im->nseg + 2;
	uint64_t notes_offset = phdrs_offset(phnum) + phnum * sizeof(Elf64_Phdr);
	uint64_t notes_len, off;
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph;
	uint64_t sum;
	int err;

	put_notes(&notes, im);
	notes_len = notes.len + note_size(IMAGE_NOTE_OWNER, sizeof(uint64_t));
	im->data_offset = PAGE_ALIGN(notes_offset + notes_len);
	off = im->data_offset;
	for (size_t i = 0; i < im->nseg; i++) {
		im->seg[i].offset = off;
		off += im->seg[i].size;
	}
	im->sums_offset = off;
	im->size = off + sums_note_size(im->nseg);
	/* What the reader would refuse is never written. */
	err = notes.failed ? -ENOMEM : image_check(im);
	if (err) {
		free(notes.data);
		return err;
	}

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh.e_type = ET_CORE;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = phdrs_offset(phnum);
	eh.e_ehsize = sizeof(Elf64_Ehdr);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = phnum < PN_XNUM ? phnum : PN_XNUM;
	if (phnum >= PN_XNUM) {
		eh.e_shoff = sizeof(Elf64_Ehdr);
		eh.e_shentsize = sizeof(Elf64_Shdr);
		eh.e_shnum = 1;
		eh.e_shstrndx = SHN_UNDEF;
	}
	buf_put(&head, &eh, sizeof(eh));
	if (phnum >= PN_XNUM) {
		Elf64_Shdr sh = {
			.sh_type = SHT_NULL,
			.sh_size = eh.e_shnum,
			.sh_link = eh.e_shstrndx,
			.sh_info = phnum,
		};

		buf_put(&head, &sh, sizeof(sh));
	}

	ph = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = notes_offset,
			   .p_filesz = notes_len, .p_align = 4 };
	buf_put(&head, &ph, sizeof(ph));
	for (size_t i = 0; i < im->nseg; i++) {
		const struct image_segment *s = &im->seg[i];

		ph = (Elf64_Phdr){
			.p_type = PT_LOAD,
			.p_flags = ((s->prot & PROT_READ) ? PF_R : 0) |
				   ((s->prot & PROT_WRITE) ? PF_W : 0) |
				   ((s->prot & PROT_EXEC) ? PF_X : 0),
			.p_offset = s->offset,
			.p_vaddr = s->vaddr,
			.p_filesz = s->size,
			.p_memsz = s->size,
			.p_align = IMAGE_PAGE,
		};
		buf_put(&head, &ph, sizeof(ph));
	}
	ph = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = im->sums_offset,
			   .p_filesz = sums_note_size(im->nseg), .p_align = 4 };
	buf_put(&head, &ph, sizeof(ph));
	if (notes.data)
		buf_put(&head, notes.data, notes.len);
	free(notes.data);
	if (head.failed) {
		free(head.data);
		return -ENOMEM;
	}
	sum = XXH3_64bits(head.data, head.len);
	put_note(&head, IMAGE_NOTE_OWNER, NT_CONTMIG_HEADSUM, &sum, sizeof(sum));
	if (head.failed) {
		free(head.data);
		return -ENOMEM;
	}
	free(im->head);
	im->head = head.data;
	im->head_size = head.len;
	return 0;
}

int image_write_head(const struct image *im, struct stream *out)
{
	int err = stream_write(out, im->head, im->head_size);

	return err ? err : stream_pad_to(out, im->data_offset);
}

int image_write_tail(const struct image *im, struct stream *out)
{
	struct buf b = { 0 };
	int err;

	if (out->pos != im->sums_offset)
		return -EINVAL;
	for (size_t i = 0; i < im->nseg; i++)
		buf_put(&b, &im->seg[i].sum, sizeof(uint64_t));
	{
		struct buf note = { 0 };

		put_note(&note, IMAGE_NOTE_OWNER, NT_CONTMIG_SEGSUMS, b.data, b.len);
		err = note.failed || b.failed ? -ENOMEM : stream_write(out, note.data, note.len);
		free(note.data);
	}
	free(b.data);
	return err;
}

/* ---- reading ---------------------------------------------------------- */

int image_refuse(struct image *im, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(im->why, sizeof(im->why), fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

struct note {
	const char *owner;
	uint32_t type;
	const uint8_t *desc;
	size_t len;
	size_t at;			/* offset of the note in the notes region */
};

/* The next note of notes[*pos..len); 1, 0 at the end, or -EBADMSG. */
static int next_note(struct image *im, const uint8_t *notes, size_t len, size_t *pos,
		     struct note *n)
{
	Elf64_Nhdr nh;
	size_t p = *pos;

	if (p == len)
		return 0;
	if (len - p < sizeof(nh))
		return image_refuse(im, "truncated note header at notes offset %zu", p);
	memcpy(&nh, notes + p, sizeof(nh));
	n->at = p;
	p += sizeof(nh);
	if (nh.n_namesz == 0 || nh.n_namesz > 64 || NOTE_ALIGN(nh.n_namesz) > len - p ||
	    notes[p + nh.n_namesz - 1] != '\0')
		return image_refuse(im, "bad note name at notes offset %zu", n->at);
	n->owner = (const char *)notes + p;
	p += NOTE_ALIGN(nh.n_namesz);
	if (nh.n_descsz > len - p || NOTE_ALIGN(nh.n_descsz) > len - p)
		return image_refuse(im, "note at notes offset %zu runs past the notes (%u bytes)", n->at,
			      nh.n_descsz);
	n->type = nh.n_type;
	n->desc = notes + p;
	n->len = nh.n_descsz;
	*pos = p + NOTE_ALIGN(nh.n_descsz);
	return 1;
}

static int read_vmas(struct image *im, const struct note *n)
{
	const struct image_vma_rec *rec = (const void *)(n->desc + sizeof(uint64_t));
	size_t names_len;
	uint64_t count;
	const char *names;

	if (n->len < sizeof(count))
		return image_refuse(im, "mappings note of %zu bytes", n->len);
	memcpy(&count, n->desc, sizeof(count));
	/* The note's own length bounds the count, and so what it costs. */
	if (count > (n->len - sizeof(count)) / sizeof(*rec))
		return image_refuse(im, "%lu mappings in a note of %zu bytes", (unsigned long)count,
			      n->len);
	names = (const char *)(rec + count);
	names_len = n->len - sizeof(count) - count * sizeof(*rec);
	im->vmas.vma = calloc(count ? count : 1, sizeof(struct vma));
	if (!im->vmas.vma)
		return -ENOMEM;
	im->vmas.capacity = count;
	for (size_t i = 0; i < count; i++) {
		struct image_vma_rec r;
		struct vma *v = &im->vmas.vma[i];

		memcpy(&r, rec + i, sizeof(r));
		if (r.name_off > names_len || r.name_len > names_len - r.name_off)
			return image_refuse(im, "mapping %zu has a bad name", i);
		v->name = strndup(names + r.name_off, r.name_len);
		if (!v->name)
			return -ENOMEM;
		im->vmas.count++;
		v->start = r.start;
		v->end = r.end;
		v->offset = r.offset;
		/* Kept whole, so that image_check sees a bad bit. */
		v->prot = r.prot > INT_MAX ? -1 : (int)r.prot;
		v->shared = r.flags & IMAGE_VMA_SHARED;
	}
	return 0;
}

static int read_symbols(struct image *im, const struct note *n)
{
	const struct image_sym_rec *rec = (const void *)(n->desc + sizeof(uint64_t));
	const char *names;
	size_t names_len;
	uint64_t count;

	if (n->len < sizeof(count) || im->syms.count)
		return image_refuse(im, "symbols note of %zu bytes, or a second one", n->len);
	memcpy(&count, n->desc, sizeof(count));
	if (count > (n->len - sizeof(count)) / sizeof(*rec))
		return image_refuse(im, "%lu symbols in a note of %zu bytes", (unsigned long)count,
			      n->len);
	names = (const char *)(rec + count);
	names_len = n->len - sizeof(count) - count * sizeof(*rec);
	for (size_t i = 0; i < count; i++) {
		struct image_sym_rec r;
		int err;

		memcpy(&r, rec + i, sizeof(r));
		if (r.name_off > names_len || r.name_len > names_len - r.name_off)
			return image_refuse(im, "symbol %zu has a bad name", i);
		err = symtab_add(&im->syms, r.addr, r.size, names + r.name_off, r.name_len);
		if (err)
			return err;
	}
	symtab_sort(&im->syms);
	return 0;
}

/* The signals note: its size says how many records it holds, exactly. */
static int read_signals(struct image *im, const struct note *n)
{
	uint64_t count;

	if (n->len < sizeof(count) || im->sig)
		return image_refuse(im, "signals note of %zu bytes, or a second one", n->len);
	memcpy(&count, n->desc, sizeof(count));
	if (count != (n->len - sizeof(count)) / sizeof(*im->sig) ||
	    (n->len - sizeof(count)) % sizeof(*im->sig))
		return image_refuse(im, "%lu pending signals in a note of %zu bytes",
			      (unsigned long)count, n->len);
	im->sig = malloc(count ? count * sizeof(*im->sig) : 1);
	if (!im->sig)
		return -ENOMEM;
	memcpy(im->sig, n->desc + sizeof(count), count * sizeof(*im->sig));
	im->nsig = count;
	for (size_t i = 0; i < count; i++) {
		int32_t signo;

		memcpy(&signo, im->sig[i].info, sizeof(signo));	/* si_signo comes first */
		if (signo < 1 || signo > 64 || signo == SIGKILL || signo == SIGSTOP ||
		    im->sig[i].flags & ~IMAGE_SIGNAL_SHARED)
			return image_refuse(im, "pending signal %zu is not one a process can have "
				      "pending (signal %d, flags %#x)", i, (int)signo,
				      im->sig[i].flags);
	}
	return 0;
}

/* The next name of the credentials note, NUL-terminated within
 * IMAGE_MAX_NAME bytes and within the note. */
static int next_name(struct image *im, const struct note *n, size_t *pos, const char *what,
		     char **name)
{
	size_t left = n->len - *pos, max = left < IMAGE_MAX_NAME ? left : IMAGE_MAX_NAME;
	const char *s = (const char *)n->desc + *pos;
	const char *nul = memchr(s, '\0', max);

	if (!left)
		return image_refuse(im, "credentials note: the name of %s is missing", what);
	if (!nul)
		return image_refuse(im, "credentials note: the name of %s is not NUL-terminated within "
			      "%zu bytes", what, max);
	*name = strdup(s);
	if (!*name)
		return -ENOMEM;
	*pos += nul - s + 1;
	return 0;
}

/* The credentials note: its fixed part, the groups it counts, their names,
 * and nothing after them. */
static int read_creds(struct image *im, const struct note *n)
{
	struct image_creds *c = &im->creds;
	struct image_creds_rec rec;
	size_t pos = sizeof(rec);
	int err;

	if (n->len < sizeof(rec) || c->known)
		return image_refuse(im, "credentials note of %zu bytes, or a second one", n->len);
	memcpy(&rec, n->desc, sizeof(rec));
	if (rec.ngroups > IMAGE_MAX_GROUPS || rec.ngroups > (n->len - pos) / sizeof(uint32_t) ||
	    rec.reserved)
		return image_refuse(im, "credentials note: %u groups (at most %d) in %zu bytes, or "
			      "reserved bits set", rec.ngroups, IMAGE_MAX_GROUPS, n->len);
	c->known = true;
	memcpy(c->uid, rec.uid, sizeof(c->uid));
	memcpy(c->gid, rec.gid, sizeof(c->gid));
	c->groups = calloc(rec.ngroups ? rec.ngroups : 1, sizeof(*c->groups));
	if (!c->groups)
		return -ENOMEM;
	for (size_t i = 0; i < rec.ngroups; i++, pos += sizeof(uint32_t))
		memcpy(&c->groups[i].gid, n->desc + pos, sizeof(uint32_t));
	err = next_name(im, n, &pos, "the user", &c->user);
	if (!err)
		err = next_name(im, n, &pos, "the group", &c->group);
	for (; !err && c->ngroups < rec.ngroups; c->ngroups++) {
		char what[48];

		snprintf(what, sizeof(what), "group %zu", c->ngroups);
		err = next_name(im, n, &pos, what, &c->groups[c->ngroups].name);
	}
	if (!err && pos != n->len)
		err = image_refuse(im, "credentials note: %zu bytes after the last name", n->len - pos);
	return err;
}

/* The restrictions note: its fixed part, the limits it counts, the label
 * (NUL-terminated, within IMAGE_MAX_LABEL) and nothing after it; what it
 * says is checked by check_limits. */
static int read_limits(struct image *im, const struct note *n)
{
	struct image_limits *l = &im->limits;
	size_t pos = sizeof(l->rec), left, max;
	const char *label, *nul;

	if (n->len < sizeof(l->rec) || l->known)
		return image_refuse(im, "restrictions note of %zu bytes, or a second one", n->len);
	memcpy(&l->rec, n->desc, sizeof(l->rec));
	if (l->rec.nrlimits > IMAGE_MAX_RLIMITS ||
	    l->rec.nrlimits * sizeof(*l->rlim) > n->len - pos)
		return image_refuse(im, "restrictions note: %u resource limits (at most %d) in %zu bytes",
			      l->rec.nrlimits, IMAGE_MAX_RLIMITS, n->len);
	memcpy(l->rlim, n->desc + pos, l->rec.nrlimits * sizeof(*l->rlim));
	pos += l->rec.nrlimits * sizeof(*l->rlim);
	left = n->len - pos;
	max = left < IMAGE_MAX_LABEL ? left : IMAGE_MAX_LABEL;
	label = (const char *)n->desc + pos;
	nul = memchr(label, '\0', max);
	if (!nul || (size_t)(nul - label) + 1 != left)
		return image_refuse(im, "restrictions note: the LSM label is not NUL-terminated within "
			      "%d bytes at the note's end", IMAGE_MAX_LABEL);
	memcpy(l->label, label, nul - label + 1);
	l->known = true;
	return 0;
}

/* The working directory note: umask, a zero, the path and its NUL, no more
 * (check_workdir judges what they say). */
static int read_workdir(struct image *im, const struct note *n)
{
	struct image_workdir *wd = &im->workdir;
	uint32_t head[2];
	const char *path = (const char *)n->desc + sizeof(head);
	size_t left = n->len - sizeof(head);

	if (n->len <= sizeof(head) || left > IMAGE_MAX_PATH || wd->known)
		return image_refuse(im, "working directory note of %zu bytes, or a second one", n->len);
	memcpy(head, n->desc, sizeof(head));
	if (memchr(path, '\0', left) != path + left - 1 || head[1])
		return image_refuse(im, "working directory note: the path is not NUL-terminated at the "
			      "note's end, or reserved bits are set");
	wd->umask = head[0];
	memcpy(wd->path, path, left);
	wd->known = true;
	return 0;
}

/*
 * The file references note: its counts, the records they count and the
 * paths, which fill the rest exactly, none empty, too long or holding a NUL
 * (image_check judges what the records say).
 */
static int read_filerefs(struct image *im, const struct note *n)
{
	struct image_filerefs *fr = &im->refs;
	struct image_filerefs_rec head;
	const uint8_t *p = n->desc + sizeof(head);
	size_t left = n->len - sizeof(head);

	if (n->len < sizeof(head) || fr->nfiles || fr->file)
		return image_refuse(im, "file references note of %zu bytes, or a second one", n->len);
	memcpy(&head, n->desc, sizeof(head));
	if (!head.nfiles || head.nfiles > left / sizeof(struct image_fileref_rec) ||
	    head.nmaps > (left - head.nfiles * sizeof(struct image_fileref_rec)) /
			 sizeof(struct image_mapref_rec))
		return image_refuse(im, "file references note: %u files and %u mappings in %zu bytes",
			      head.nfiles, head.nmaps, n->len);
	fr->file = calloc(head.nfiles, sizeof(*fr->file));
	fr->map = calloc(head.nmaps ? head.nmaps : 1, sizeof(*fr->map));
	if (!fr->file || !fr->map)
		return -ENOMEM;
	fr->nfiles = head.nfiles;
	left -= head.nfiles * sizeof(struct image_fileref_rec) +
		head.nmaps * sizeof(struct image_mapref_rec);
	for (size_t i = 0; i < head.nmaps; i++) {
		struct image_mapref_rec rec;

		memcpy(&rec, p + head.nfiles * sizeof(struct image_fileref_rec) + i * sizeof(rec),
		       sizeof(rec));
		if (rec.reserved)
			return image_refuse(im, "file references note: reserved bits set in mapping %zu", i);
		fr->map[fr->nmaps++] = (struct image_mapref){ .start = rec.start,
							      .offset = rec.offset,
							      .file = rec.file };
	}
	{
		const char *path = (const char *)p + head.nfiles * sizeof(struct image_fileref_rec) +
				   head.nmaps * sizeof(struct image_mapref_rec);

		for (size_t i = 0; i < head.nfiles; i++) {
			struct image_fileref *f = &fr->file[i];
			struct image_fileref_rec rec;

			memcpy(&rec, p + i * sizeof(rec), sizeof(rec));
			if (!rec.path_len || rec.path_len >= IMAGE_MAX_PATH || rec.path_len > left ||
			    memchr(path, '\0', rec.path_len))
				return image_refuse(im, "file references note: file %zu has a bad path", i);
			f->path = strndup(path, rec.path_len);
			if (!f->path)
				return -ENOMEM;
			f->size = rec.size;
			memcpy(f->sum, rec.sum, sizeof(f->sum));
			memcpy(f->build_id, rec.build_id, sizeof(f->build_id));
			f->build_id_len = rec.build_id_len;
			path += rec.path_len;
			left -= rec.path_len;
		}
	}
	if (left)
		return image_refuse(im, "file references note: %zu bytes after the last path", left);
	return 0;
}

/* The signal actions note: its fixed part and the records it counts, no
 * more (check_sigactions judges what they say). */
static int read_sigactions(struct image *im, const struct note *n)
{
	struct image_sigactions *sa = &im->sigactions;

	if (n->len < sizeof(sa->head) || sa->known)
		return image_refuse(im, "signal actions note of %zu bytes, or a second one", n->len);
	memcpy(&sa->head, n->desc, sizeof(sa->head));
	if (sa->head.count > IMAGE_MAX_SIGNAL ||
	    n->len != sizeof(sa->head) + sa->head.count * sizeof(sa->act[0]))
		return image_refuse(im, "signal actions note: %u actions in %zu bytes", sa->head.count,
			      n->len);
	memcpy(sa->act, n->desc + sizeof(sa->head), sa->head.count * sizeof(sa->act[0]));
	sa->known = true;
	return 0;
}

/* The drops note: its count, then as many runs, nothing more. */
static int read_drops(struct image *im, const struct note *n)
{
	uint64_t count;

	if (im->drops.count || n->len < sizeof(count))
		return image_refuse(im, "a second drops note, or one of %zu bytes", n->len);
	memcpy(&count, n->desc, sizeof(count));
	if (count == 0 || count > IMAGE_MAX_DROPS || count > (n->len - sizeof(count)) / 16 ||
	    n->len != sizeof(count) + count * 16)
		return image_refuse(im, "drops note of %zu bytes for %lu runs", n->len,
			      (unsigned long)count);
	for (uint64_t i = 0; i < count; i++) {
		uint64_t r[2];

		memcpy(r, n->desc + sizeof(count) + i * 16, sizeof(r));
		if (r[0] >= r[1] || (im->drops.count && r[0] <= im->drops.run[im->drops.count - 1].end))
			return image_refuse(im, "drops note: run %lu (%#lx-%#lx) is empty, out of order "
				      "or touches the one before", (unsigned long)i,
				      (unsigned long)r[0], (unsigned long)r[1]);
		if (runs_append(&im->drops, r[0], r[1]))
			return -ENOMEM;
	}
	return 0;
}

static int read_timers(struct image *im, const struct note *n)
{
	if (n->len != sizeof(im->timers.timer) || im->timers.known)
		return image_refuse(im, "timers note of %zu bytes, not %zu, or a second one", n->len,
			      sizeof(im->timers.timer));
	memcpy(im->timers.timer, n->desc, n->len);
	im->timers.known = true;
	return 0;
}

static int read_clocks(struct image *im, const struct note *n)
{
	if (n->len != sizeof(im->clocks.rec) || im->clocks.known)
		return image_refuse(im, "clocks note of %zu bytes, not %zu, or a second one", n->len,
			      sizeof(im->clocks.rec));
	memcpy(&im->clocks.rec, n->desc, n->len);
	im->clocks.known = true;
	return 0;
}

/* The seccomp note: its fixed part, then each filter it counts, every one
 * within the note (image_check judges what they hold). */
static int read_seccomp(struct image *im, const struct note *n)
{
	struct image_seccomp *sc = &im->seccomp;
	struct image_seccomp_rec rec;
	size_t pos = sizeof(rec);

	if (n->len < sizeof(rec) || sc->mode)
		return image_refuse(im, "seccomp note of %zu bytes, or a second one", n->len);
	memcpy(&rec, n->desc, sizeof(rec));
	if (!rec.mode || rec.flags & ~IMAGE_SECCOMP_NNP || rec.reserved ||
	    rec.nfilters > (n->len - pos) / sizeof(struct image_filter_rec))
		return image_refuse(im, "seccomp note: mode %u, %u filters in %zu bytes, or unknown "
			      "flags %#x", rec.mode, rec.nfilters, n->len, rec.flags);
	sc->mode = rec.mode;
	sc->no_new_privs = rec.flags & IMAGE_SECCOMP_NNP;
	sc->filter = calloc(rec.nfilters ? rec.nfilters : 1, sizeof(*sc->filter));
	if (!sc->filter)
		return -ENOMEM;
	for (; sc->nfilters < rec.nfilters; sc->nfilters++) {
		struct image_filter *f = &sc->filter[sc->nfilters];
		struct image_filter_rec fr;

		if (n->len - pos < sizeof(fr))
			return image_refuse(im, "seccomp note: filter %zu is missing", sc->nfilters);
		memcpy(&fr, n->desc + pos, sizeof(fr));
		pos += sizeof(fr);
		if (!fr.len || fr.len > IMAGE_MAX_FILTER_INSNS ||
		    fr.len > (n->len - pos) / sizeof(uint64_t))
			return image_refuse(im, "seccomp note: filter %zu of %u instructions (1 to %d, "
				      "within the note)", sc->nfilters, fr.len,
				      IMAGE_MAX_FILTER_INSNS);
		f->insn = malloc(fr.len * sizeof(uint64_t));
		if (!f->insn)
			return -ENOMEM;
		memcpy(f->insn, n->desc + pos, fr.len * sizeof(uint64_t));
		f->flags = fr.flags;
		f->len = fr.len;
		pos += fr.len * sizeof(uint64_t);
	}
	if (pos != n->len)
		return image_refuse(im, "seccomp note: %zu bytes after the last filter", n->len - pos);
	return 0;
}

/* The files note: records and paths within the note (check_files judges
 * what they say). */
static int read_files(struct image *im, const struct note *n)
{
	const struct image_file_rec *rec = (const void *)(n->desc + sizeof(uint64_t));
	const char *paths;
	size_t paths_len;
	uint64_t count;

	if (n->len < sizeof(count) || im->file)
		return image_refuse(im, "files note of %zu bytes, or a second one", n->len);
	memcpy(&count, n->desc, sizeof(count));
	if (!count || count > (n->len - sizeof(count)) / sizeof(*rec))
		return image_refuse(im, "%lu open files in a note of %zu bytes", (unsigned long)count,
			      n->len);
	paths = (const char *)(rec + count);
	paths_len = n->len - sizeof(count) - count * sizeof(*rec);
	im->file = calloc(count, sizeof(*im->file));
	if (!im->file)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		struct image_file *f = &im->file[i];
		struct image_file_rec r;

		memcpy(&r, rec + i, sizeof(r));
		if (r.path_off > paths_len || r.path_len > paths_len - r.path_off)
			return image_refuse(im, "open file %zu has a bad path", i);
		f->path = strndup(paths + r.path_off, r.path_len);
		if (!f->path)
			return -ENOMEM;
		im->nfile++;
		/* A NUL inside the path shows as a shorter one: refused. */
		if (strlen(f->path) != r.path_len)
			return image_refuse(im, "open file %zu has a NUL in its path", i);
		*f = (struct image_file){
			.fd = r.fd, .kind = r.kind, .open_flags = r.open_flags, .flags = r.flags,
			.shares = r.shares, .mtime_nsec = r.mtime_nsec, .offset = r.offset,
			.size = r.size, .mtime_sec = r.mtime_sec, .rdev = r.rdev, .hash = r.hash,
			.path = f->path,
		};
	}
	return 0;
}

/* The mm note: its fixed part, then the path ending in its NUL exactly
 * where the note does (image_check judges the rest). */
static int read_mm(struct image *im, const struct note *n)
{
	const char *path = (const char *)n->desc + sizeof(im->mm.rec);
	size_t left = n->len - sizeof(im->mm.rec);

	if (n->len < sizeof(im->mm.rec) || im->mm.known)
		return image_refuse(im, "mm note of %zu bytes, or a second one", n->len);
	if (!left || left > IMAGE_MAX_PATH || memchr(path, '\0', left) != path + left - 1)
		return image_refuse(im, "mm note: the program's path does not end in its NUL within "
			      "%d bytes at the note's end", IMAGE_MAX_PATH);
	im->mm.exe = strdup(path);
	if (!im->mm.exe)
		return -ENOMEM;
	memcpy(&im->mm.rec, n->desc, sizeof(im->mm.rec));
	im->mm.known = true;
	return 0;
}

/* The vDSO note: its fixed part, then exactly the bytes it counts. */
static int read_vdso(struct image *im, const struct note *n)
{
	struct image_vdso_rec rec;

	if (n->len < sizeof(rec) || im->vdso.bytes)
		return image_refuse(im, "vDSO note of %zu bytes, or a second one", n->len);
	memcpy(&rec, n->desc, sizeof(rec));
	if (!rec.vdso_size || rec.vdso_size > IMAGE_MAX_VDSO ||
	    rec.vdso_size != n->len - sizeof(rec))
		return image_refuse(im, "vDSO note: a vDSO of %lu bytes (1 to %lu) in a note of %zu",
			      (unsigned long)rec.vdso_size, IMAGE_MAX_VDSO, n->len);
	im->vdso.bytes = malloc(rec.vdso_size);
	if (!im->vdso.bytes)
		return -ENOMEM;
	memcpy(im->vdso.bytes, n->desc + sizeof(rec), rec.vdso_size);
	im->vdso.rec = rec;
	return 0;
}

static int read_rseq(struct image *im, const struct note *n)
{
	if (n->len != sizeof(im->rseq) || im->rseq.len)
		return image_refuse(im, "rseq note of %zu bytes, not %zu, or a second one", n->len,
			      sizeof(im->rseq));
	memcpy(&im->rseq, n->desc, sizeof(im->rseq));
	if (!im->rseq.len)
		return image_refuse(im, "rseq note: an area of 0 bytes");
	return 0;
}

static int read_notes(struct image *im, const uint8_t *head, size_t notes_at, size_t len)
{
	const uint8_t *notes = head + notes_at;
	bool have_regs = false, have_state = false, have_vmas = false, have_sum = false;
	struct note n;
	size_t pos = 0;
	int r;

	while ((r = next_note(im, notes, len, &pos, &n)) > 0) {
		bool core = !strcmp(n.owner, "CORE"), ours = !strcmp(n.owner, IMAGE_NOTE_OWNER);

		if (have_sum)
			return image_refuse(im, "a note follows the head sum");
		if (core && n.type == NT_PRSTATUS) {
			struct elf_prstatus prs;

			if (n.len != sizeof(prs))
				return image_refuse(im, "NT_PRSTATUS has %zu bytes, not %zu", n.len,
					      sizeof(prs));
			memcpy(&prs, n.desc, sizeof(prs));
			memcpy(&im->regs, &prs.pr_reg, sizeof(im->regs));
			have_regs = true;
		} else if (!strcmp(n.owner, "LINUX") && n.type == NT_X86_XSTATE) {
			if (n.len < 576 || n.len > IMAGE_MAX_XSTATE || im->xstate)
				return image_refuse(im, "NT_X86_XSTATE of %zu bytes", n.len);
			im->xstate = malloc(n.len);
			if (!im->xstate)
				return -ENOMEM;
			memcpy(im->xstate, n.desc, n.len);
			im->xstate_size = n.len;
		} else if (core && n.type == NT_AUXV) {
			if (n.len > IMAGE_MAX_AUXV || im->auxv)
				return image_refuse(im, "NT_AUXV of %zu bytes", n.len);
			im->auxv = malloc(n.len ? n.len : 1);
			if (!im->auxv)
				return -ENOMEM;
			memcpy(im->auxv, n.desc, n.len);
			im->auxv_size = n.len;
		} else if (ours && n.type == NT_CONTMIG_STATE) {
			if (n.len != sizeof(im->state) && n.len != IMAGE_STATE_OLD_SIZE)
				return image_refuse(im, "state note has %zu bytes, not %zu", n.len,
					      sizeof(im->state));
			memset(&im->state, 0, sizeof(im->state));
			memcpy(&im->state, n.desc, n.len);
			if (im->state.flags & ~IMAGE_STATE_KNOWN)
				return image_refuse(im, "unknown state flags %#x", im->state.flags);
			if (im->state.version != IMAGE_VERSION)
				return image_refuse(im, "image format version %u; this contmig reads "
					      "version %d", im->state.version, IMAGE_VERSION);
			have_state = true;
		} else if (ours && n.type == NT_CONTMIG_VMAS) {
			if (have_vmas)
				return image_refuse(im, "two mappings notes");
			r = read_vmas(im, &n);
			if (r)
				return r;
			have_vmas = true;
		} else if (ours && n.type == NT_CONTMIG_SYMBOLS) {
			r = read_symbols(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_SIGNALS) {
			r = read_signals(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_CREDS) {
			r = read_creds(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_LIMITS) {
			r = read_limits(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_SECCOMP) {
			r = read_seccomp(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_FILES) {
			r = read_files(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_WORKDIR) {
			r = read_workdir(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_MM) {
			r = read_mm(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_VDSO) {
			r = read_vdso(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_RSEQ) {
			r = read_rseq(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_SIGACTIONS) {
			r = read_sigactions(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_TIMERS) {
			r = read_timers(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_CLOCKS) {
			r = read_clocks(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_FILEREFS) {
			r = read_filerefs(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_DROPS) {
			r = read_drops(im, &n);
			if (r)
				return r;
		} else if (ours && n.type == NT_CONTMIG_HEADSUM) {
			uint64_t want;

			if (n.len != sizeof(want))
				return image_refuse(im, "head sum note of %zu bytes", n.len);
			memcpy(&want, n.desc, sizeof(want));
			if (XXH3_64bits(head, notes_at + n.at) != want)
				return image_refuse(im, "checksum mismatch in the image header or notes");
			have_sum = true;
		}
		/* Other notes (NT_PRPSINFO, NT_FPREGSET, ...) are for other tools. */
	}
	if (r < 0)
		return r;
	if (!have_sum)
		return image_refuse(im, "no head sum note");
	if (!have_state)
		return image_refuse(im, "not a contmig image (no CONTMIG state note)");
	if (!have_regs || !im->xstate || !have_vmas)
		return image_refuse(im, "missing %s note", !have_regs ? "NT_PRSTATUS" :
			      !im->xstate ? "NT_X86_XSTATE" : "mappings");
	return 0;
}

/* What the writer may put in the credentials note and the reader takes. */
static int check_creds(struct image *im)
{
	const struct image_creds *c = &im->creds;

	if (!c->known)
		return 0;
	if (c->ngroups > IMAGE_MAX_GROUPS)
		return image_refuse(im, "%zu supplementary groups; at most %d", c->ngroups,
			      IMAGE_MAX_GROUPS);
	if (!c->user || !c->group || strlen(c->user) >= IMAGE_MAX_NAME ||
	    strlen(c->group) >= IMAGE_MAX_NAME)
		return image_refuse(im, "the user's or group's name is missing or has %d bytes or more",
			      IMAGE_MAX_NAME);
	for (size_t i = 0; i < c->ngroups; i++)
		if (!c->groups[i].name || strlen(c->groups[i].name) >= IMAGE_MAX_NAME)
			return image_refuse(im, "the name of group %zu (gid %u) is missing or has %d "
				      "bytes or more", i, c->groups[i].gid, IMAGE_MAX_NAME);
	return 0;
}

/* What the writer may put in the restrictions note and the reader takes:
 * known parts only, as a kernel has them (effective and ambient within
 * permitted, ambient within inheritable, a soft limit within its hard). */
static int check_limits(struct image *im)
{
	const struct image_limits *l = &im->limits;
	const uint64_t *cap = l->rec.cap;
	bool rlimits = l->rec.flags & IMAGE_LIMITS_RLIMITS;

	if (!l->known)
		return 0;
	if (l->rec.flags & ~IMAGE_LIMITS_ALL || l->rec.no_new_privs > 1)
		return image_refuse(im, "restrictions note: unknown flags %#x or no_new_privs %u",
			      l->rec.flags, l->rec.no_new_privs);
	if (l->rec.nrlimits != (rlimits ? IMAGE_MAX_RLIMITS : 0))
		return image_refuse(im, "restrictions note: %u resource limits, not %d", l->rec.nrlimits,
			      rlimits ? IMAGE_MAX_RLIMITS : 0);
	if (l->rec.flags & IMAGE_LIMITS_CAPS &&
	    ((cap[IMAGE_CAP_EFF] | cap[IMAGE_CAP_AMB]) & ~cap[IMAGE_CAP_PRM] ||
	     cap[IMAGE_CAP_AMB] & ~cap[IMAGE_CAP_INH]))
		return image_refuse(im, "restrictions note: capabilities no process can have (effective "
			      "or ambient outside permitted, ambient outside inheritable)");
	for (size_t i = 0; i < l->rec.nrlimits; i++)
		if (l->rlim[i].cur > l->rlim[i].max)
			return image_refuse(im, "restrictions note: resource limit %zu has its soft limit "
				      "above its hard one", i);
	if (strnlen(l->label, IMAGE_MAX_LABEL) >= IMAGE_MAX_LABEL ||
	    (*l->label && !(l->rec.flags & IMAGE_LIMITS_LSM)))
		return image_refuse(im, "restrictions note: a bad LSM label");
	return 0;
}

/* Does BPF instruction insn (struct sock_filter) return SECCOMP_RET_USER_NOTIF? */
static bool returns_user_notif(uint64_t insn)
{
	uint16_t code = insn & 0xffff;
	uint32_t k = insn >> 32;

	return code == (BPF_RET | BPF_K) && (k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF;
}

/* What the writer may put in the seccomp note and the reader takes: what the
 * kernel would install, less a listener the copy cannot have. */
static int check_seccomp(struct image *im)
{
	const struct image_seccomp *sc = &im->seccomp;
	size_t chain = 0;

	if (sc->mode > SECCOMP_MODE_FILTER || (sc->mode == SECCOMP_MODE_FILTER) != !!sc->nfilters)
		return image_refuse(im, "seccomp mode %u with %zu filters", sc->mode, sc->nfilters);
	for (size_t i = 0; i < sc->nfilters; i++) {
		const struct image_filter *f = &sc->filter[i];

		if (!f->len || f->len > IMAGE_MAX_FILTER_INSNS || f->flags & ~SECCOMP_FILTER_FLAG_LOG)
			return image_refuse(im, "seccomp filter %zu: %u instructions (1 to %d) or flags "
				      "%#x", i, f->len, IMAGE_MAX_FILTER_INSNS, f->flags);
		chain += f->len + 4;
		if (chain > IMAGE_MAX_CHAIN_INSNS)
			return image_refuse(im, "seccomp filters: more than the kernel's %d instructions "
				      "in a chain", IMAGE_MAX_CHAIN_INSNS);
		for (size_t k = 0; k < f->len; k++)
			if (returns_user_notif(f->insn[k]))
				return image_refuse(im, "seccomp filter %zu returns SECCOMP_RET_USER_NOTIF: "
					      "its listener cannot move", i);
	}
	return 0;
}

/* The memory devices a copy gets its receiver's own of, by number and name. */
static const struct { unsigned major, minor; const char *path; } memory_devices[] = {
	{ 1, 3, "/dev/null" }, { 1, 5, "/dev/zero" }, { 1, 7, "/dev/full" },
	{ 1, 8, "/dev/random" }, { 1, 9, "/dev/urandom" },
};

const char *image_memory_device(uint64_t rdev)
{
	for (size_t i = 0; i < sizeof(memory_devices) / sizeof(memory_devices[0]); i++)
		if (major(rdev) == memory_devices[i].major && minor(rdev) == memory_devices[i].minor)
			return memory_devices[i].path;
	return NULL;
}

/* One open file as the writer may record it and the reader takes it. */
static int check_file(struct image *im, size_t i)
{
	const struct image_file *f = &im->file[i];
	const char *device = image_memory_device(f->rdev);

	if (f->fd < 3 || f->fd >= IMAGE_MAX_FD || (i && f->fd <= im->file[i - 1].fd))
		return image_refuse(im, "open file %zu: fd %d is not above 2, below %d and after the "
			      "one before", i, f->fd, IMAGE_MAX_FD);
	if (f->kind < IMAGE_FILE_REGULAR || f->kind > IMAGE_FILE_TERMINAL ||
	    f->flags & ~IMAGE_FILE_FLAGS || f->open_flags & ~IMAGE_FILE_OPEN_FLAGS ||
	    f->mtime_nsec >= 1000000000 || f->offset > INT64_MAX)
		return image_refuse(im, "open file %zu (fd %d): unknown kind %u, flags %#x or open flags "
			      "%#o, or a bad offset or time", i, f->fd, f->kind, f->flags,
			      f->open_flags);
	if (f->path[0] != '/' || strlen(f->path) >= IMAGE_MAX_PATH)
		return image_refuse(im, "open file %zu (fd %d): the path is not absolute, or has %d "
			      "bytes or more", i, f->fd, IMAGE_MAX_PATH);
	if (f->kind == IMAGE_FILE_DEVICE && (!device || strcmp(device, f->path)))
		return image_refuse(im, "open file %zu (fd %d): device %u:%u at the path given is not "
			      "one a copy gets its own of", i, f->fd, major(f->rdev), minor(f->rdev));
	if (f->flags & IMAGE_FILE_HASHED &&
	    (f->kind != IMAGE_FILE_REGULAR || f->size > IMAGE_FILE_HASH_MAX))
		return image_refuse(im, "open file %zu (fd %d): a content hash for other than a regular "
			      "file of at most %lu bytes", i, f->fd, IMAGE_FILE_HASH_MAX);
	if (f->shares == -1)
		return 0;
	/* The earlier files are in fd order (checked above, file by file): a
	 * binary search, so that a note of a million dups costs no more than a
	 * million files. */
	for (size_t lo = 0, hi = i; lo < hi;) {
		size_t k = lo + (hi - lo) / 2;

		if (im->file[k].fd < f->shares) {
			lo = k + 1;
		} else if (im->file[k].fd > f->shares) {
			hi = k;
		} else {
			if (im->file[k].shares == -1 && im->file[k].kind == f->kind)
				return 0;
			break;
		}
	}
	return image_refuse(im, "open file %zu (fd %d) shares fd %d, which is not an earlier file of "
		      "its kind", i, f->fd, f->shares);
}

static int check_files(struct image *im)
{
	int err = 0;

	if (!im->nfile != !(im->state.flags & IMAGE_STATE_FILES))
		return image_refuse(im, "%zu open files, and the state says it has %s", im->nfile,
			      im->state.flags & IMAGE_STATE_FILES ? "some" : "none");
	for (size_t i = 0; !err && i < im->nfile; i++)
		err = check_file(im, i);
	return err;
}

/* What the writer may put in the working directory note and the reader
 * takes: an absolute path that fits, and a umask. */
static int check_workdir(struct image *im)
{
	const struct image_workdir *wd = &im->workdir;

	if (!wd->known)
		return 0;
	if (wd->path[0] != '/' || strnlen(wd->path, IMAGE_MAX_PATH) >= IMAGE_MAX_PATH ||
	    wd->umask & ~0777U)
		return image_refuse(im, "working directory note: a path that is not absolute or too "
			      "long, or umask %#o", wd->umask);
	return 0;
}

/* What the writer may put in the mm note and the reader takes: addresses
 * in user space, each pair in order, the program's path with it. */
static int check_mm(struct image *im)
{
	const struct image_mm_rec *m = &im->mm.rec;
	const uint64_t addr[] = { m->start_code, m->end_code, m->start_data, m->end_data,
				  m->start_brk, m->brk, m->start_stack, m->arg_start,
				  m->arg_end, m->env_start, m->env_end };

	if (!im->mm.known)
		return 0;
	if (m->flags & ~IMAGE_MM_EXE || m->reserved)
		return image_refuse(im, "mm note: unknown flags %#x or reserved bits", m->flags);
	for (size_t i = 0; i < sizeof(addr) / sizeof(addr[0]); i++)
		if (addr[i] > USER_SPACE_END)
			return image_refuse(im, "mm note: address %#lx is not in user space",
				      (unsigned long)addr[i]);
	if (m->start_code > m->end_code || m->start_data > m->end_data ||
	    m->start_brk > m->brk || m->arg_start > m->arg_end || m->env_start > m->env_end)
		return image_refuse(im, "mm note: a range (code, data, heap, arguments, environment) "
			      "ends before it starts");
	if (!im->mm.exe || strlen(im->mm.exe) >= IMAGE_MAX_PATH ||
	    !(m->flags & IMAGE_MM_EXE) != !*im->mm.exe)
		return image_refuse(im, "mm note: the program's path is missing, too long, or "
			      "disagrees with its flag");
	return 0;
}

/* Does [start, start + len) overlap a mapping of the image? */
static bool overlaps_mapping(const struct image *im, uint64_t start, uint64_t len)
{
	for (size_t i = 0; i < im->vmas.count; i++)
		if (im->vmas.vma[i].start < start + len && start < im->vmas.vma[i].end)
			return true;
	return false;
}

static bool page_range_ok(uint64_t start, uint64_t len, uint64_t max)
{
	return start % IMAGE_PAGE == 0 && len % IMAGE_PAGE == 0 && len <= max &&
	       start <= USER_SPACE_END - len;
}

/* The vDSO and its data pages: page-aligned user space, clear of each other
 * and of every mapping, as they were in the process. */
static int check_vdso(struct image *im)
{
	const struct image_vdso_rec *v = &im->vdso.rec;

	if (!v->vdso_size)
		return 0;
	if (!im->vdso.bytes || !page_range_ok(v->vdso_start, v->vdso_size, IMAGE_MAX_VDSO) ||
	    !page_range_ok(v->vvar_start, v->vvar_size, IMAGE_MAX_VVAR))
		return image_refuse(im, "vDSO note: the vDSO (%#lx, %lu bytes) or its data (%#lx, %lu "
			      "bytes) is not a page-aligned run of user space of at most %lu "
			      "and %lu bytes", (unsigned long)v->vdso_start,
			      (unsigned long)v->vdso_size, (unsigned long)v->vvar_start,
			      (unsigned long)v->vvar_size, IMAGE_MAX_VDSO, IMAGE_MAX_VVAR);
	if ((v->vvar_size && v->vvar_start < v->vdso_start + v->vdso_size &&
	     v->vdso_start < v->vvar_start + v->vvar_size) ||
	    overlaps_mapping(im, v->vdso_start, v->vdso_size) ||
	    overlaps_mapping(im, v->vvar_start, v->vvar_size))
		return image_refuse(im, "vDSO note: the vDSO at %#lx or its data at %#lx overlaps a "
			      "mapping", (unsigned long)v->vdso_start, (unsigned long)v->vvar_start);
	return 0;
}

/* The rseq area: as rseq(2) takes it (32-byte aligned, 32 bytes at least),
 * inside one writable mapping (the kernel writes there). */
/* Pages a round empties: only in a delta, in order (read_drops), each
 * within the mappings, none in a gap between them. */
static int check_drops(struct image *im)
{
	size_t v = 0;

	if (im->drops.count && !(im->state.flags & IMAGE_STATE_DELTA))
		return image_refuse(im, "a drops note in a whole image");
	if (im->drops.count > IMAGE_MAX_DROPS)
		return image_refuse(im, "%zu runs in the drops note, more than %d", im->drops.count,
			      IMAGE_MAX_DROPS);
	for (size_t i = 0; i < im->drops.count; i++) {
		const struct run *r = &im->drops.run[i];
		uint64_t at = r->start;

		if (r->start % IMAGE_PAGE || r->end % IMAGE_PAGE)
			return image_refuse(im, "drops note: %#lx-%#lx is not page-aligned",
				      (unsigned long)r->start, (unsigned long)r->end);
		while (at < r->end) {
			while (v < im->vmas.count && im->vmas.vma[v].end <= at)
				v++;
			if (v == im->vmas.count || im->vmas.vma[v].start > at)
				return image_refuse(im, "drops note: %#lx-%#lx is not within the mappings",
					      (unsigned long)r->start, (unsigned long)r->end);
			at = im->vmas.vma[v].end;
		}
	}
	return 0;
}

static int check_rseq(struct image *im)
{
	const struct image_rseq_rec *q = &im->rseq;
	const struct vma *v;

	if (!q->len)
		return 0;
	v = vma_list_find(&im->vmas, q->addr);
	if (q->len < 32 || q->len > IMAGE_MAX_RSEQ || q->addr % 32 || q->flags || q->reserved ||
	    !v || q->addr + q->len > v->end || !(v->prot & PROT_WRITE))
		return image_refuse(im, "rseq note: an area of %u bytes at %#lx (32 to %d bytes, "
			      "32-byte aligned, in one writable mapping) or flags %#x",
			      q->len, (unsigned long)q->addr, IMAGE_MAX_RSEQ, q->flags);
	return 0;
}

/* Bytes of a build ID past its length are zero; its length fits. */
static bool sound_build_id(const struct image_fileref *f)
{
	if (f->build_id_len > IMAGE_MAX_BUILD_ID)
		return false;
	for (size_t k = f->build_id_len; k < IMAGE_MAX_BUILD_ID; k++)
		if (f->build_id[k])
			return false;
	return true;
}

/*
 * What the writer may put in the file references note and the reader
 * takes: files with absolute paths, each referenced; references in address
 * order, each to the start of a private mapping, at its offset (page-aligned,
 * the mapping within what mmap can reach), and to a file of the note; and
 * the state flag that makes an older reader refuse the image.
 */
static int check_filerefs(struct image *im)
{
	const struct image_filerefs *fr = &im->refs;
	bool flagged = im->state.flags & IMAGE_STATE_FILEREFS;
	size_t v = 0, used = 0;
	bool *referenced;

	if (flagged != (fr->nfiles > 0) || (!fr->nfiles && fr->nmaps))
		return image_refuse(im, "file references: the state flag says %s, the note holds %zu "
			      "files", flagged ? "some" : "none", fr->nfiles);
	if (!fr->nfiles)
		return 0;
	if (fr->nmaps > im->vmas.count || fr->nfiles > fr->nmaps)
		return image_refuse(im, "file references: %zu files and %zu references for %zu mappings",
			      fr->nfiles, fr->nmaps, im->vmas.count);
	for (size_t i = 0; i < fr->nfiles; i++) {
		const struct image_fileref *f = &fr->file[i];

		if (!f->path || f->path[0] != '/' || strnlen(f->path, IMAGE_MAX_PATH) >= IMAGE_MAX_PATH ||
		    !sound_build_id(f))
			return image_refuse(im, "file references: file %zu has a path that is not absolute "
				      "or too long, or a bad build ID", i);
	}
	referenced = calloc(fr->nfiles, sizeof(*referenced));
	if (!referenced)
		return -ENOMEM;
	for (size_t i = 0; i < fr->nmaps; i++) {
		const struct image_mapref *m = &fr->map[i];
		const struct vma *vm;

		while (v < im->vmas.count && im->vmas.vma[v].start < m->start)
			v++;
		vm = v < im->vmas.count ? &im->vmas.vma[v] : NULL;
		if (!vm || vm->start != m->start || (i && m->start <= fr->map[i - 1].start) ||
		    vm->shared || m->file >= fr->nfiles || m->offset != vm->offset ||
		    m->offset % IMAGE_PAGE || m->offset > (uint64_t)INT64_MAX - (vm->end - vm->start)) {
			free(referenced);
			return image_refuse(im, "file reference %zu (%#lx) is not to the start of a private "
				      "mapping in address order, at its offset, of a file of the note",
				      i, (unsigned long)m->start);
		}
		if (!referenced[m->file]) {
			referenced[m->file] = true;
			used++;
		}
	}
	free(referenced);
	if (used != fr->nfiles)
		return image_refuse(im, "file references: %zu of %zu files are referenced by no mapping",
			      fr->nfiles - used, fr->nfiles);
	return 0;
}

/*
 * What the writer may put in the signal actions note and the reader takes:
 * actions a kernel can have (each signal once, in order, none for SIGKILL or
 * SIGSTOP, flags of 32 bits), and an alternate stack that is one or none.
 */
static int check_sigactions(struct image *im)
{
	const struct image_sigactions *sa = &im->sigactions;
	uint32_t ss_mode = sa->head.ss_flags & ~IMAGE_SS_AUTODISARM;

	if (!sa->known)
		return 0;
	if (sa->head.count > IMAGE_MAX_SIGNAL)
		return image_refuse(im, "signal actions note: %u actions", sa->head.count);
	for (size_t i = 0; i < sa->head.count; i++) {
		const struct image_sigaction_rec *a = &sa->act[i];

		if (a->signo < 1 || a->signo > IMAGE_MAX_SIGNAL || a->signo == SIGKILL ||
		    a->signo == SIGSTOP || (i && a->signo <= sa->act[i - 1].signo) ||
		    a->reserved || a->handler == 0 || a->flags > UINT32_MAX)
			return image_refuse(im, "signal action %zu: signal %u, handler %#" PRIx64 ", flags "
				      "%#" PRIx64 ": not an action a process can have", i, a->signo,
				      a->handler, a->flags);
	}
	if (ss_mode == IMAGE_SS_DISABLE ? sa->head.ss_sp || sa->head.ss_size ||
	    sa->head.ss_flags != IMAGE_SS_DISABLE : ss_mode != 0 || !sa->head.ss_size ||
	    sa->head.ss_sp > USER_SPACE_END || sa->head.ss_size > USER_SPACE_END - sa->head.ss_sp)
		return image_refuse(im, "signal actions note: an alternate stack of %" PRIu64 " bytes at "
			      "%#" PRIx64 " with flags %#x", sa->head.ss_size, sa->head.ss_sp,
			      sa->head.ss_flags);
	return 0;
}

/* Times a timer can have: whole microseconds, nothing negative. */
static int check_timers(struct image *im)
{
	for (size_t i = 0; im->timers.known && i < IMAGE_NTIMERS; i++) {
		const struct image_itimer_rec *t = &im->timers.timer[i];

		if (t->interval_sec < 0 || t->value_sec < 0 || t->interval_usec < 0 ||
		    t->interval_usec >= 1000000 || t->value_usec < 0 || t->value_usec >= 1000000)
			return image_refuse(im, "timers note: timer %zu has a time no timer has", i);
	}
	return 0;
}

/*
 * Clocks a machine can have shown: no time negative or past the kernel's
 * bound, boottime never behind monotonic (it adds the time suspended), and
 * what the source saw through its offsets no less.
 */
static int check_clocks(struct image *im)
{
	const struct image_clocks_rec *c = &im->clocks.rec;
	const int64_t max = IMAGE_CLOCKS_MAX;

	if (!im->clocks.known)
		return 0;
	if (c->flags & ~IMAGE_CLOCKS_OFFSETS_UNKNOWN || c->reserved ||
	    (c->flags & IMAGE_CLOCKS_OFFSETS_UNKNOWN && (c->ns_monotonic || c->ns_boottime)))
		return image_refuse(im, "clocks note: flags %#x, reserved %#x", c->flags, c->reserved);
	if (c->realtime <= 0 || c->realtime > max || c->monotonic < 0 || c->monotonic > max ||
	    c->boottime < c->monotonic || c->boottime > max)
		return image_refuse(im, "clocks note: times no machine shows (realtime %" PRId64
			      ", monotonic %" PRId64 ", boottime %" PRId64 " ns)", c->realtime,
			      c->monotonic, c->boottime);
	if (c->ns_monotonic < -max || c->ns_monotonic > max || c->ns_boottime < -max ||
	    c->ns_boottime > max || c->monotonic + c->ns_monotonic < 0 ||
	    c->monotonic + c->ns_monotonic > max || c->boottime + c->ns_boottime < 0 ||
	    c->boottime + c->ns_boottime > max)
		return image_refuse(im, "clocks note: time namespace offsets no namespace has "
			      "(monotonic %" PRId64 ", boottime %" PRId64 " ns)", c->ns_monotonic,
			      c->ns_boottime);
	return 0;
}

int image_check(struct image *im)
{
	uint64_t off = im->data_offset;
	unsigned long prev_end = 0;
	size_t v = 0;
	int err = check_creds(im);

	if (!err)
		err = check_limits(im);
	if (!err)
		err = check_seccomp(im);
	if (!err)
		err = check_files(im);
	if (!err)
		err = check_workdir(im);
	if (!err)
		err = check_mm(im);
	if (!err)
		err = check_sigactions(im);
	if (!err)
		err = check_timers(im);
	if (!err)
		err = check_clocks(im);
	if (err)
		return err;

	/* Section header 0's sh_info holds the program header count. */
	if (im->nseg > UINT32_MAX - 2)
		return image_refuse(im, "%zu segments: more than an ELF file can count", im->nseg);
	for (size_t i = 0; i < im->vmas.count; i++) {
		const struct vma *m = &im->vmas.vma[i];

		if (m->start >= m->end || m->start % IMAGE_PAGE || m->end % IMAGE_PAGE ||
		    m->end > USER_SPACE_END || m->start < prev_end)
			return image_refuse(im, "mapping %zu (%#lx-%#lx) is not page-aligned user space "
				      "in address order", i, m->start, m->end);
		if (m->prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC))
			return image_refuse(im, "mapping %zu (%#lx) has a bad protection %#x", i, m->start,
				      (unsigned)m->prot);
		prev_end = m->end;
	}
	for (size_t i = 0; i < im->nseg; i++) {
		const struct image_segment *s = &im->seg[i];

		if (!s->size || s->vaddr % IMAGE_PAGE || s->size % IMAGE_PAGE ||
		    s->offset != off || s->size > USER_SPACE_END ||
		    s->vaddr > USER_SPACE_END - s->size)
			return image_refuse(im, "segment %zu (%#lx, %lu bytes at offset %lu) is not a "
				      "page-aligned run of user space in file order", i,
				      (unsigned long)s->vaddr, (unsigned long)s->size,
				      (unsigned long)s->offset);
		if (i && s->vaddr < im->seg[i - 1].vaddr + im->seg[i - 1].size)
			return image_refuse(im, "segment %zu (%#lx) overlaps the one before or is out of "
				      "order", i, (unsigned long)s->vaddr);
		while (v < im->vmas.count && im->vmas.vma[v].end <= s->vaddr)
			v++;
		if (v == im->vmas.count || s->vaddr < im->vmas.vma[v].start ||
		    s->vaddr + s->size > im->vmas.vma[v].end)
			return image_refuse(im, "segment %zu (%#lx) does not lie inside one mapping", i,
				      (unsigned long)s->vaddr);
		if ((int)s->prot != im->vmas.vma[v].prot)
			return image_refuse(im, "segment %zu (%#lx) has another protection than its "
				      "mapping", i, (unsigned long)s->vaddr);
		/* In order, apart, in user space: together under 2^47 bytes. */
		off += s->size;
	}
	if (im->sums_offset != off)
		return image_refuse(im, "the segment sums are not right after the data");
	/* Against the mappings, now known to be sound. */
	err = check_vdso(im);
	if (!err)
		err = check_rseq(im);
	if (!err)
		err = check_drops(im);
	return err ? err : check_filerefs(im);
}

ATTR_PRINTF(3, 4)
static int too_big(struct image *im, uint64_t max_size, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(im->why, sizeof(im->why), "%s; at most %lu bytes are taken", what,
		 (unsigned long)max_size);
	return -EFBIG;
}

/*
 * Read len more bytes into *buf (which holds have bytes), growing it as the
 * bytes arrive: a size an image declares costs memory only once the stream
 * really holds that much (twice at most).
 */
static int read_growing(struct stream *in, uint8_t **buf, size_t have, size_t len)
{
	size_t total = have + len;

	while (have < total) {
		size_t step = have > (1UL << 20) ? have : 1UL << 20;
		uint8_t *b;
		int err;

		if (step > total - have)
			step = total - have;
		b = realloc(*buf, have + step);
		if (!b)
			return -ENOMEM;
		*buf = b;
		err = stream_read(in, *buf + have, step);
		if (err)
			return err;
		have += step;
	}
	return 0;
}

int image_read_head(struct image *im, struct stream *in, uint64_t max_size)
{
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
	uint64_t phnum, phoff, notes_at, notes_len, declared;
	int err;

	memset(im, 0, sizeof(*im));
	err = stream_read(in, &eh, sizeof(eh));
	if (err)
		return err == -ENODATA ? image_refuse(im, "truncated: shorter than an ELF header") : err;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG))
		return image_refuse(im, "not an image: no ELF magic");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_type != ET_CORE || eh.e_machine != EM_X86_64)
		return image_refuse(im, "not an x86-64 ELF core file");
	im->head = malloc(sizeof(eh));
	if (!im->head)
		return -ENOMEM;
	memcpy(im->head, &eh, sizeof(eh));
	phnum = eh.e_phnum;
	if (eh.e_phnum == PN_XNUM) {
		Elf64_Shdr sh;

		/* Extended numbering: the count is in section header 0. */
		if (eh.e_shoff != sizeof(eh) || eh.e_shentsize != sizeof(sh) || eh.e_shnum != 1)
			return image_refuse(im, "PN_XNUM program headers without section header 0 "
				      "right after the ELF header");
		err = read_growing(in, &im->head, sizeof(eh), sizeof(sh));
		if (err)
			return err == -ENODATA ? image_refuse(im, "truncated in section header 0") : err;
		memcpy(&sh, im->head + sizeof(eh), sizeof(sh));
		phnum = sh.sh_info;
		if (sh.sh_type != SHT_NULL || phnum < PN_XNUM)
			return image_refuse(im, "section header 0 counts %lu program headers; extended "
				      "numbering is for %d or more", (unsigned long)phnum, PN_XNUM);
	} else if (eh.e_shoff || eh.e_shnum) {
		return image_refuse(im, "section headers in an image of %lu program headers",
			      (unsigned long)phnum);
	}
	phoff = phdrs_offset(phnum);
	if (eh.e_phoff != phoff || eh.e_phentsize != sizeof(Elf64_Phdr) || phnum < 2)
		return image_refuse(im, "bad program header table (%lu entries at %lu)",
			      (unsigned long)phnum, (unsigned long)eh.e_phoff);
	/* Each segment holds a page at least: the count alone bounds the size. */
	notes_at = phoff + phnum * sizeof(Elf64_Phdr);
	declared = notes_at + (phnum - 2) * IMAGE_PAGE;
	if (declared > max_size) {
		im->size = declared;
		return too_big(im, max_size, "%lu program headers make an image of %lu bytes or "
			       "more", (unsigned long)phnum, (unsigned long)declared);
	}
	err = read_growing(in, &im->head, eh.e_phoff, notes_at - eh.e_phoff);
	if (err)
		return err == -ENODATA ? image_refuse(im, "truncated in the program headers") : err;
	ph = (Elf64_Phdr *)(im->head + phoff);
	if (ph[0].p_type != PT_NOTE || ph[0].p_offset != notes_at || ph[0].p_filesz == 0 ||
	    ph[phnum - 1].p_type != PT_NOTE)
		return image_refuse(im, "the program headers do not start and end with the notes");
	notes_len = ph[0].p_filesz;
	im->nseg = phnum - 2;
	im->sums_offset = ph[phnum - 1].p_offset;
	if (ph[phnum - 1].p_filesz != sums_note_size(im->nseg))
		return image_refuse(im, "the segment sums note has the wrong size");
	if (notes_len > max_size - notes_at || im->sums_offset > max_size ||
	    sums_note_size(im->nseg) > max_size - im->sums_offset) {
		im->size = notes_len > max_size - notes_at ? notes_at + notes_len :
			   im->sums_offset + sums_note_size(im->nseg);
		return too_big(im, max_size, "the image declares %lu bytes",
			       (unsigned long)im->size);
	}
	im->size = im->sums_offset + sums_note_size(im->nseg);
	im->data_offset = PAGE_ALIGN(notes_at + notes_len);
	im->seg = calloc(im->nseg ? im->nseg : 1, sizeof(*im->seg));
	if (!im->seg)
		return -ENOMEM;
	for (size_t i = 0; i < im->nseg; i++) {
		const Elf64_Phdr *p = &ph[i + 1];

		if (p->p_type != PT_LOAD || p->p_filesz != p->p_memsz)
			return image_refuse(im, "program header %zu is not a stored PT_LOAD", i + 1);
		im->seg[i] = (struct image_segment){
			.vaddr = p->p_vaddr,
			.size = p->p_filesz,
			.offset = p->p_offset,
			.prot = ((p->p_flags & PF_R) ? PROT_READ : 0) |
				((p->p_flags & PF_W) ? PROT_WRITE : 0) |
				((p->p_flags & PF_X) ? PROT_EXEC : 0),
		};
	}

	err = read_growing(in, &im->head, notes_at, notes_len);
	if (err)
		return err == -ENODATA ? image_refuse(im, "truncated in the notes") : err;
	im->head_size = notes_at + notes_len;
	err = read_notes(im, im->head, notes_at, notes_len);
	if (err)
		return err;
	err = image_check(im);
	if (err)
		return err;
	err = stream_skip_to(in, im->data_offset);
	return err == -ENODATA ? image_refuse(im, "truncated before the data") : err;
}

int image_read_tail(struct image *im, struct stream *in)
{
	size_t len = sums_note_size(im->nseg);
	uint8_t *note = malloc(len);
	struct note n;
	size_t pos = 0;
	int err;

	if (!note)
		return -ENOMEM;
	if (in->pos != im->sums_offset) {
		free(note);
		return -EINVAL;
	}
	err = stream_read(in, note, len);
	if (err == -ENODATA)
		err = image_refuse(im, "truncated in the segment sums");
	if (!err && next_note(im, note, len, &pos, &n) != 1)
		err = image_refuse(im, "bad segment sums note");
	if (!err && (strcmp(n.owner, IMAGE_NOTE_OWNER) || n.type != NT_CONTMIG_SEGSUMS ||
		     n.len != im->nseg * sizeof(uint64_t)))
		err = image_refuse(im, "the last note is not the segment sums");
	for (size_t i = 0; !err && i < im->nseg; i++)
		memcpy(&im->seg[i].sum, n.desc + i * sizeof(uint64_t), sizeof(uint64_t));
	free(note);
	return err;
}

/* How much of a segment one read moves: little enough that the bytes are
 * still in the CPU's cache when they are summed and handed on. */
#define DATA_CHUNK	(1UL << 20)

int image_read_data(struct image *im, struct stream *in, image_visit_fn visit, void *ctx,
		    uint64_t *got, bool *visit_failed)
{
	XXH3_state_t *state = XXH3_createState();
	struct image_piece *pieces = malloc(IMAGE_MAX_PIECES * sizeof(*pieces));
	uint8_t *buf = malloc(DATA_CHUNK);
	uint64_t left = im->sums_offset - im->data_offset, done = 0;	/* in segment i */
	size_t i = 0;
	int err = 0;

	*visit_failed = false;
	if (!state || !pieces || !buf) {
		err = -ENOMEM;
		goto out;
	}
	XXH3_64bits_reset(state);
	/* Each read may hold the end of one segment and many small ones after. */
	while (!err && left) {
		const uint8_t *p;
		ssize_t n = stream_read_some(in, buf, left < DATA_CHUNK ? left : DATA_CHUNK,
					     (const void **)&p);
		size_t npieces = 0;

		if (n == -ENODATA)
			err = image_refuse(im, "truncated in segment %zu (%#lx)", i,
				     (unsigned long)im->seg[i].vaddr);
		else if (n < 0)
			err = n;
		if (err)
			break;
		left -= n;
		while (n) {
			const struct image_segment *s = &im->seg[i];
			size_t k = s->size - done < (uint64_t)n ? s->size - done : (size_t)n;

			XXH3_64bits_update(state, p, k);
			pieces[npieces++] = (struct image_piece){ s->vaddr + done, p, k };
			p += k;
			n -= k;
			done += k;
			if (done == s->size) {
				got[i++] = XXH3_64bits_digest(state);
				XXH3_64bits_reset(state);
				done = 0;
			}
			if (visit && (npieces == IMAGE_MAX_PIECES || !n)) {
				if ((err = visit(ctx, pieces, npieces))) {
					*visit_failed = true;
					break;
				}
				npieces = 0;
			}
			npieces %= IMAGE_MAX_PIECES;
		}
	}
	if (!err)
		err = image_read_tail(im, in);
out:
	free(buf);
	free(pieces);
	XXH3_freeState(state);
	return err;
}

static bool same_creds(const struct image_creds *a, const struct image_creds *b)
{
	if (a->known != b->known)
		return false;
	if (!a->known)
		return true;
	if (memcmp(a->uid, b->uid, sizeof(a->uid)) || memcmp(a->gid, b->gid, sizeof(a->gid)) ||
	    strcmp(a->user, b->user) || strcmp(a->group, b->group) || a->ngroups != b->ngroups)
		return false;
	for (size_t i = 0; i < a->ngroups; i++)
		if (a->groups[i].gid != b->groups[i].gid ||
		    strcmp(a->groups[i].name, b->groups[i].name))
			return false;
	return true;
}

static bool same_seccomp(const struct image_seccomp *a, const struct image_seccomp *b)
{
	if (a->mode != b->mode || a->no_new_privs != b->no_new_privs || a->nfilters != b->nfilters)
		return false;
	for (size_t i = 0; i < a->nfilters; i++)
		if (a->filter[i].flags != b->filter[i].flags || a->filter[i].len != b->filter[i].len ||
		    memcmp(a->filter[i].insn, b->filter[i].insn, a->filter[i].len * sizeof(uint64_t)))
			return false;
	return true;
}

static bool same_files(const struct image *a, const struct image *b)
{
	if (a->nfile != b->nfile)
		return false;
	for (size_t i = 0; i < a->nfile; i++) {
		const struct image_file *x = &a->file[i], *y = &b->file[i];

		if (x->fd != y->fd || x->kind != y->kind || x->open_flags != y->open_flags ||
		    x->flags != y->flags || x->shares != y->shares || x->offset != y->offset ||
		    x->size != y->size || x->mtime_sec != y->mtime_sec ||
		    x->mtime_nsec != y->mtime_nsec || x->rdev != y->rdev || x->hash != y->hash ||
		    strcmp(x->path, y->path))
			return false;
	}
	return true;
}

/* The mm fields, the vDSO and the rseq area. */
static bool same_kernel_state(const struct image *a, const struct image *b)
{
	if (a->mm.known != b->mm.known || memcmp(&a->rseq, &b->rseq, sizeof(a->rseq)) ||
	    memcmp(&a->vdso.rec, &b->vdso.rec, sizeof(a->vdso.rec)))
		return false;
	if (a->mm.known && (memcmp(&a->mm.rec, &b->mm.rec, sizeof(a->mm.rec)) ||
			    strcmp(a->mm.exe, b->mm.exe)))
		return false;
	return !a->vdso.rec.vdso_size ||
	       !memcmp(a->vdso.bytes, b->vdso.bytes, a->vdso.rec.vdso_size);
}

static bool same_filerefs(const struct image_filerefs *a, const struct image_filerefs *b)
{
	if (a->nfiles != b->nfiles || a->nmaps != b->nmaps)
		return false;
	for (size_t i = 0; i < a->nfiles; i++) {
		const struct image_fileref *x = &a->file[i], *y = &b->file[i];

		if (x->size != y->size || memcmp(x->sum, y->sum, sizeof(x->sum)) ||
		    x->build_id_len != y->build_id_len ||
		    memcmp(x->build_id, y->build_id, sizeof(x->build_id)) || strcmp(x->path, y->path))
			return false;
	}
	for (size_t i = 0; i < a->nmaps; i++)
		if (a->map[i].start != b->map[i].start || a->map[i].offset != b->map[i].offset ||
		    a->map[i].file != b->map[i].file)
			return false;
	return true;
}

/* Does the image read back say what the written one does? */
static int same_image(struct image *im, const struct image *back)
{
	if (memcmp(&back->regs, &im->regs, sizeof(im->regs)) ||
	    memcmp(&back->state, &im->state, sizeof(im->state)) ||
	    back->xstate_size != im->xstate_size ||
	    memcmp(back->xstate, im->xstate, im->xstate_size) ||
	    back->auxv_size != im->auxv_size ||
	    (im->auxv_size && memcmp(back->auxv, im->auxv, im->auxv_size)) ||
	    back->syms.count != im->syms.count)
		return image_refuse(im, "the image read back holds other registers, state or symbols");
	if (!same_creds(&im->creds, &back->creds))
		return image_refuse(im, "the image read back holds other credentials");
	if (!same_seccomp(&im->seccomp, &back->seccomp))
		return image_refuse(im, "the image read back holds other seccomp filters");
	if (!same_files(im, back))
		return image_refuse(im, "the image read back holds other open files");
	if (!same_kernel_state(im, back))
		return image_refuse(im, "the image read back holds other mm fields, vDSO or rseq area");
	if (im->sigactions.known != back->sigactions.known ||
	    memcmp(&im->sigactions.head, &back->sigactions.head, sizeof(im->sigactions.head)) ||
	    memcmp(im->sigactions.act, back->sigactions.act,
		   im->sigactions.head.count * sizeof(im->sigactions.act[0])) ||
	    im->timers.known != back->timers.known ||
	    memcmp(im->timers.timer, back->timers.timer, sizeof(im->timers.timer)))
		return image_refuse(im, "the image read back holds other signal actions or timers");
	if (im->clocks.known != back->clocks.known ||
	    memcmp(&im->clocks.rec, &back->clocks.rec, sizeof(im->clocks.rec)))
		return image_refuse(im, "the image read back holds other clocks");
	if (!same_filerefs(&im->refs, &back->refs))
		return image_refuse(im, "the image read back references other files");
	if (back->vmas.count != im->vmas.count || back->nseg != im->nseg ||
	    back->data_offset != im->data_offset || back->size != im->size)
		return image_refuse(im, "the image read back has %zu mappings and %zu segments, not "
			      "%zu and %zu", back->vmas.count, back->nseg, im->vmas.count,
			      im->nseg);
	for (size_t i = 0; i < im->vmas.count; i++) {
		const struct vma *a = &im->vmas.vma[i], *b = &back->vmas.vma[i];

		if (a->start != b->start || a->end != b->end || a->prot != b->prot ||
		    a->offset != b->offset || a->shared != b->shared || strcmp(a->name, b->name))
			return image_refuse(im, "mapping %zu (%#lx) reads back otherwise", i, a->start);
	}
	for (size_t i = 0; i < im->nseg; i++) {
		const struct image_segment *a = &im->seg[i], *b = &back->seg[i];

		if (a->vaddr != b->vaddr || a->size != b->size || a->offset != b->offset ||
		    a->prot != b->prot)
			return image_refuse(im, "segment %zu (%#lx) reads back otherwise", i,
				      (unsigned long)a->vaddr);
	}
	return 0;
}

/*
 * The written file as thaw will read it: its head and notes by every rule,
 * the sums note after the data, and its size.  Not the data again: those
 * bytes were summed on their way to write(2), and reading a file back from
 * the page cache proves no more about them than that did, at a quarter of a
 * second a GiB.
 */
static int verify_stream(struct image *im, struct image *back, struct stream *in)
{
	struct stat st;
	int err = image_read_head(back, in, im->size);

	if (!err)
		err = same_image(im, back);
	if (!err && lseek(in->fd, im->sums_offset, SEEK_SET) < 0)
		err = -errno;
	if (!err) {
		in->pos = im->sums_offset;
		err = image_read_tail(back, in);
	}
	for (size_t i = 0; !err && i < im->nseg; i++)
		if (back->seg[i].sum != im->seg[i].sum)
			err = image_refuse(im, "segment %zu (%#lx) reads back with another checksum", i,
				     (unsigned long)im->seg[i].vaddr);
	/* Nothing else wrote into it: it ends where the image does. */
	if (!err && fstat(in->fd, &st) < 0)
		err = -errno;
	if (!err && (uint64_t)st.st_size != im->size)
		err = image_refuse(im, "the image file holds %lld bytes, not the %llu written",
			     (long long)st.st_size, (unsigned long long)im->size);
	return err;
}

/* No bytes to read again (a pipe): rebuild the head and the sums note as
 * they were written, and read those. */
static int verify_memory(struct image *im, struct image *back)
{
	struct stream_mem mem = { 0 };
	struct stream s;
	int err;

	stream_mem_writer(&s, &mem);
	err = image_write_head(im, &s);
	if (!err) {
		/* The sums note stands after the data, which is not kept. */
		s.pos = im->sums_offset;
		err = image_write_tail(im, &s);
	}
	if (!err) {
		stream_mem_reader(&s, &mem);
		err = image_read_head(back, &s, im->size);
	}
	if (!err)
		err = same_image(im, back);
	if (!err) {
		s.pos = im->sums_offset;
		err = image_read_tail(back, &s);
	}
	for (size_t i = 0; !err && i < im->nseg; i++)
		if (back->seg[i].sum != im->seg[i].sum)
			err = image_refuse(im, "segment %zu's checksum reads back otherwise", i);
	free(mem.data);
	return err;
}

int image_verify(struct image *im, struct stream *in)
{
	struct image back = { 0 };
	int err;

	im->why[0] = '\0';
	err = in ? verify_stream(im, &back, in) : verify_memory(im, &back);

	/* The reader's refusal is the one to tell. */
	if ((err == -EBADMSG || err == -EFBIG) && back.why[0] && !im->why[0])
		snprintf(im->why, sizeof(im->why), "%s", back.why);
	if (err == -EFBIG)
		err = -EBADMSG;
	image_free(&back);
	return err;
}

void image_creds_free(struct image_creds *c)
{
	for (size_t i = 0; i < c->ngroups; i++)
		free(c->groups[i].name);
	free(c->groups);
	free(c->user);
	free(c->group);
	memset(c, 0, sizeof(*c));
}

void image_seccomp_free(struct image_seccomp *sc)
{
	for (size_t i = 0; i < sc->nfilters; i++)
		free(sc->filter[i].insn);
	free(sc->filter);
	memset(sc, 0, sizeof(*sc));
}

void image_files_free(struct image *im)
{
	for (size_t i = 0; i < im->nfile; i++)
		free(im->file[i].path);
	free(im->file);
	im->file = NULL;
	im->nfile = 0;
}

void image_filerefs_free(struct image_filerefs *fr)
{
	for (size_t i = 0; i < fr->nfiles; i++)
		free(fr->file[i].path);
	free(fr->file);
	free(fr->map);
	memset(fr, 0, sizeof(*fr));
}

const struct image_mapref *image_mapref_of(const struct image *im, const struct vma *v)
{
	size_t lo = 0, hi = im->refs.nmaps;

	/* In address order (image_check): a binary search. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (im->refs.map[mid].start == v->start)
			return &im->refs.map[mid];
		if (im->refs.map[mid].start < v->start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void image_free(struct image *im)
{
	runs_free(&im->drops);
	image_filerefs_free(&im->refs);
	image_files_free(im);
	image_creds_free(&im->creds);
	image_seccomp_free(&im->seccomp);
	free(im->mm.exe);
	free(im->vdso.bytes);
	free(im->xstate);
	free(im->auxv);
	free(im->sig);
	free(im->seg);
	free(im->head);
	vma_list_free(&im->vmas);
	symtab_free(&im->syms);
	memset(im, 0, sizeof(*im));
}

uint64_t image_mapped_bytes(const struct image *im)
{
	uint64_t n = 0;

	for (size_t i = 0; i < im->vmas.count; i++)
		n += im->vmas.vma[i].end - im->vmas.vma[i].start;
	return n;
}

uint64_t image_stored_bytes(const struct image *im)
{
	uint64_t n = 0;

	for (size_t i = 0; i < im->nseg; i++)
		n += im->seg[i].size;
	return n;
}

uint64_t image_xstate_bv(const struct image *im)
{
	uint64_t bv = 0;

	if (im->xstate_size >= XSAVE_XSTATE_BV_OFFSET + sizeof(bv))
		memcpy(&bv, im->xstate + XSAVE_XSTATE_BV_OFFSET, sizeof(bv));
	return bv;
}

bool image_same_creds(const struct image *a, const struct image *b)
{
	const struct image_creds *x = &a->creds, *y = &b->creds;

	if (x->known != y->known)
		return false;
	if (!x->known)
		return true;
	if (memcmp(x->uid, y->uid, sizeof(x->uid)) ||
	    memcmp(x->gid, y->gid, sizeof(x->gid)) || x->ngroups != y->ngroups ||
	    strcmp(x->user, y->user) || strcmp(x->group, y->group))
		return false;
	for (size_t i = 0; i < x->ngroups; i++)
		if (x->groups[i].gid != y->groups[i].gid ||
		    strcmp(x->groups[i].name, y->groups[i].name))
			return false;
	return true;
}

bool image_same_source(const struct image *a, const struct image *b)
{
	const struct image_mm_rec *x = &a->mm.rec, *y = &b->mm.rec;

	if (a->state.source_pid != b->state.source_pid || a->mm.known != b->mm.known)
		return false;
	/* Its code and stack are where its exec put them (at random, ASLR)
	 * for as long as it runs that program: another process of the same
	 * PID (another host's, another container's) has its own.  Not the
	 * host's name, which may change under a process. */
	return !a->mm.known || (x->start_code == y->start_code && x->start_stack == y->start_stack);
}
