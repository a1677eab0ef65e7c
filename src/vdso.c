#include "config.h"

#include <asm/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vdso.h"

/* An old function redirected to a new one: movabs $target, %rax; jmp *%rax. */
#define JUMP_LEN	12
/* ... or made its system call: mov $nr, %eax; syscall; ret. */
#define SYSCALL_LEN	8

/* The vDSO functions whose system call does what they do, with the same
 * arguments in the same registers (rdi, rsi, rdx). */
static const struct {
	const char *name;
	long nr;
} syscall_of[] = {
	{ "clock_gettime", SYS_clock_gettime },
	{ "gettimeofday", SYS_gettimeofday },
	{ "time", SYS_time },
	{ "getcpu", SYS_getcpu },
	{ "clock_getres", SYS_clock_getres },
	/* vgetrandom's state arguments are only a cache: the call needs none. */
	{ "getrandom", SYS_getrandom },
};

static const char vdso_prefix[] = "__vdso_";

/* A function a vDSO exports, at offset from the vDSO's start. */
struct export {
	char *name;
	uint64_t offset, size;
};

struct exports {
	struct export *e;
	size_t n, cap;
};

/* Where an old export goes: a jump to the new vDSO's target, or system call nr. */
struct redirect {
	uint64_t offset;
	uint64_t target;		/* offset in the new vDSO */
	long nr;			/* >= 0: its system call instead */
};

/* Everything a restore needs to know, worked out before anything is done. */
struct job {
	struct image_vdso_rec here;	/* this kernel's, as contmig has it */
	const uint8_t *here_bytes;
	bool same;			/* map this kernel's at the old address */
	struct exports old, new;
	struct redirect *redirect;	/* one per old export */
};

enum proxy_mode { PROXY_IF_NEEDED, PROXY_ALWAYS, PROXY_SYSCALLS };

/* The test switch (vdso.h). */
static enum proxy_mode proxy_mode(void)
{
	const char *s = getenv("CONTMIG_TEST_VDSO_PROXY");

	if (!s || !*s)
		return PROXY_IF_NEEDED;
	return strcmp(s, "syscall") ? PROXY_ALWAYS : PROXY_SYSCALLS;
}

void vdso_see_mapping(struct image_vdso *v, const struct vma *m)
{
	struct image_vdso_rec *rec = &v->rec;
	uint64_t end;

	if (!strcmp(m->name, "[vdso]")) {
		rec->vdso_start = m->start;
		rec->vdso_size = m->end - m->start;
	} else if (!strncmp(m->name, "[vvar", 5)) {
		/* [vvar], [vvar_vclock]: the data pages, together. */
		end = rec->vvar_size ? rec->vvar_start + rec->vvar_size : m->end;
		if (!rec->vvar_size || m->start < rec->vvar_start)
			rec->vvar_start = m->start;
		if (m->end > end)
			end = m->end;
		rec->vvar_size = end - rec->vvar_start;
	}
}

int vdso_collect(pid_t pid, struct image_vdso *v)
{
	char path[64];
	ssize_t n;
	int fd, err = 0;

	if (!v->rec.vdso_size) {
		memset(&v->rec, 0, sizeof(v->rec));	/* no vDSO: data pages alone mean nothing */
		return 0;
	}
	if (v->rec.vdso_size > IMAGE_MAX_VDSO || v->rec.vvar_size > IMAGE_MAX_VVAR)
		return -EFBIG;
	v->bytes = malloc(v->rec.vdso_size);
	if (!v->bytes)
		return -ENOMEM;
	/* /proc/PID/mem reads the vDSO as a debugger does. */
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, v->bytes, v->rec.vdso_size, v->rec.vdso_start);
	if (n != (ssize_t)v->rec.vdso_size)
		err = n < 0 ? -errno : -EIO;
	close(fd);
	return err;
}

static void exports_free(struct exports *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->e[i].name);
	free(x->e);
	memset(x, 0, sizeof(*x));
}

static int add_export(struct exports *x, const char *name, uint64_t offset, uint64_t size)
{
	char *copy;

	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		struct export *e = realloc(x->e, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		x->e = e;
		x->cap = cap;
	}
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	x->e[x->n++] = (struct export){ copy, offset, size };
	return 0;
}

/* Where file offset 0 of the vDSO is in its own addresses: its first PT_LOAD
 * says (the kernel maps the image from its first byte). */
static int image_base(Elf *e, uint64_t *base)
{
	size_t phnum;

	if (elf_getphdrnum(e, &phnum))
		return -EINVAL;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, i, &ph) && ph.p_type == PT_LOAD && ph.p_vaddr >= ph.p_offset) {
			*base = ph.p_vaddr - ph.p_offset;
			return 0;
		}
	}
	return -EINVAL;
}

/* The functions in one .dynsym section, each inside the image. */
static int read_dynsym(Elf *e, Elf_Scn *scn, const GElf_Shdr *sh, uint64_t base, size_t size,
		       struct exports *out)
{
	Elf_Data *d = elf_getdata(scn, NULL);

	if (!d || !sh->sh_entsize)
		return -EINVAL;
	for (size_t i = 0; i < sh->sh_size / sh->sh_entsize; i++) {
		const char *name;
		uint64_t off;
		GElf_Sym s;
		int err;

		if (!gelf_getsym(d, i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
		    s.st_shndx == SHN_UNDEF)
			continue;
		name = elf_strptr(e, sh->sh_link, s.st_name);
		off = s.st_value - base;
		if (!name || !*name || s.st_value < base || off >= size || s.st_size > size - off)
			return -EINVAL;
		err = add_export(out, name, off, s.st_size);
		if (err)
			return err;
	}
	return 0;
}

/* The functions the vDSO image in bytes exports: 0, -EINVAL when libelf
 * cannot read it as a vDSO, or -ENOMEM. */
static int read_exports(const uint8_t *bytes, size_t size, struct exports *out)
{
	Elf_Scn *scn = NULL;
	uint8_t *copy;
	uint64_t base;
	Elf *e;
	int err;

	memset(out, 0, sizeof(*out));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	/* libelf may write where it reads; the image's bytes stay as they are. */
	copy = malloc(size);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, bytes, size);
	e = elf_memory((char *)copy, size);
	err = !e || elf_kind(e) != ELF_K_ELF ? -EINVAL : image_base(e, &base);
	while (!err && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_DYNSYM)
			err = read_dynsym(e, scn, &sh, base, size, out);
	}
	if (e)
		elf_end(e);
	free(copy);
	if (err)
		exports_free(out);
	return err;
}

static const char *bare_name(const char *name)
{
	return strncmp(name, vdso_prefix, sizeof(vdso_prefix) - 1) ? name :
	       name + sizeof(vdso_prefix) - 1;
}

static long syscall_for(const char *name)
{
	for (size_t i = 0; i < sizeof(syscall_of) / sizeof(syscall_of[0]); i++)
		if (!strcmp(bare_name(name), syscall_of[i].name))
			return syscall_of[i].nr;
	return -1;
}

static const struct export *find_export(const struct exports *x, const char *name)
{
	for (size_t i = 0; i < x->n; i++)
		if (!strcmp(x->e[i].name, name))
			return &x->e[i];
	return NULL;
}

/* Where each old function goes; a function with neither a counterpart
 * nor a system call, or too small to patch, is refused by name. */
static int plan(struct job *j, char *why, size_t len)
{
	j->redirect = calloc(j->old.n ? j->old.n : 1, sizeof(*j->redirect));
	if (!j->redirect)
		return -ENOMEM;
	for (size_t i = 0; i < j->old.n; i++) {
		const struct export *o = &j->old.e[i], *n = find_export(&j->new, o->name);
		struct redirect *to = &j->redirect[i];

		to->offset = o->offset;
		to->nr = n ? -1 : syscall_for(o->name);
		if (!n && to->nr < 0)
			return say_why(-EOPNOTSUPP, why, len, "the process's vDSO (from another "
				       "kernel) exports %s, which this kernel's vDSO lacks and no "
				       "system call replaces", o->name);
		if (n)
			to->target = n->offset;
		if (o->size < (n ? JUMP_LEN : SYSCALL_LEN))
			return say_why(-EOPNOTSUPP, why, len, "the process's vDSO function %s has "
				       "%lu bytes, too few to redirect", o->name,
				       (unsigned long)o->size);
	}
	return 0;
}

/* This kernel's vDSO, as contmig itself has it (one image for every
 * process), and the size of its data pages. */
static int this_vdso(struct job *j)
{
	unsigned long at = getauxval(AT_SYSINFO_EHDR);
	struct image_vdso v = { 0 };
	struct vma_list maps;
	int err;

	if (!at)
		return -ENOENT;
	err = procfs_read_maps(getpid(), &maps);
	if (err)
		return err;
	for (size_t i = 0; i < maps.count; i++)
		vdso_see_mapping(&v, &maps.vma[i]);
	vma_list_free(&maps);
	if (v.rec.vdso_start != at || !v.rec.vdso_size)
		return -ENOENT;
	j->here = v.rec;
	j->here_bytes = (const uint8_t *)at;
	return 0;
}

/* Is this kernel's vDSO the source's, and can ARCH_MAP_VDSO_64 put it
 * where the source had it (its data pages as large, right below it)? */
static bool same_vdso(const struct image_vdso *old, const struct job *j)
{
	const struct image_vdso_rec *o = &old->rec, *h = &j->here;

	return o->vdso_size == h->vdso_size && !memcmp(old->bytes, j->here_bytes, o->vdso_size) &&
	       o->vvar_size && o->vvar_size == h->vvar_size &&
	       o->vvar_start + o->vvar_size == o->vdso_start &&
	       h->vvar_start + h->vvar_size == h->vdso_start;
}

static void job_free(struct job *j)
{
	exports_free(&j->old);
	exports_free(&j->new);
	free(j->redirect);
	memset(j, 0, sizeof(*j));
}

/*
 * A proxy runs only the entries of the old functions: the rest of the old
 * code reads the old kernel's data pages, which are not there.  A process
 * frozen inside its vDSO (a clock read, a system call made from there)
 * would go on in that code: refused.  (Its callers' frames are not in the
 * vDSO: it calls nothing outside itself.)
 */
static int proxy_may_run(const struct image *im, char *why, size_t len)
{
	const struct image_vdso_rec *v = &im->vdso.rec;
	uint64_t rip = im->regs.rip;

	if (rip >= v->vdso_start && rip - v->vdso_start < v->vdso_size)
		return say_why(-EOPNOTSUPP, why, len, "the process was frozen inside its vDSO (at "
			       "%#lx), which this kernel's cannot go on with; freeze it again",
			       (unsigned long)rip);
	return 0;
}

static int prepare(const struct image *im, struct job *j, char *why, size_t len)
{
	enum proxy_mode mode = proxy_mode();
	int err;

	memset(j, 0, sizeof(*j));
	err = this_vdso(j);
	if (err)
		return say_why(err == -ENOENT ? -EOPNOTSUPP : err, why, len, "the process used a "
			       "vDSO, and this machine's kernel gives none%s%s",
			       err == -ENOENT ? "" : ": ", err == -ENOENT ? "" : strerror(-err));
	j->same = mode == PROXY_IF_NEEDED && same_vdso(&im->vdso, j);
	err = read_exports(im->vdso.bytes, im->vdso.rec.vdso_size, &j->old);
	if (err)
		return say_why(err, why, len, "reading the functions of the process's vDSO: %s",
			       err == -EINVAL ? "not an ELF image libelf reads" : strerror(-err));
	if (mode != PROXY_SYSCALLS)
		err = read_exports(j->here_bytes, j->here.vdso_size, &j->new);
	if (err)
		return say_why(err, why, len, "reading the functions of this kernel's vDSO: %s",
			       err == -EINVAL ? "not an ELF image libelf reads" : strerror(-err));
	err = j->same ? 0 : proxy_may_run(im, why, len);
	return err ? err : plan(j, why, len);
}

int vdso_check(const struct image *im, char *why, size_t len)
{
	struct job j;
	int err;

	if (!im->vdso.rec.vdso_size)
		return 0;
	err = prepare(im, &j, why, len);
	job_free(&j);
	return err;
}

/* Map this kernel's vDSO at hint (0: where it fits) and find it, by its
 * names in /proc/PID/maps (the address is only a hint). */
static int map_here(struct remote *r, const struct job *j, uint64_t hint,
		    struct image_vdso_rec *landed, char *why, size_t len)
{
	long ret = remote_syscall(r, SYS_arch_prctl, ARCH_MAP_VDSO_64, hint, 0, 0, 0, 0);
	struct image_vdso v = { 0 };
	struct vma_list maps;
	int err;

	if (ret < 0)
		return say_why((int)ret, why, len, "arch_prctl(ARCH_MAP_VDSO_64, %#lx): %s",
			       (unsigned long)hint, strerror(-ret));
	err = procfs_read_maps(r->pid, &maps);
	if (err)
		return say_why(err, why, len, "reading the restorer's mappings: %s",
			       strerror(-err));
	for (size_t i = 0; i < maps.count; i++)
		vdso_see_mapping(&v, &maps.vma[i]);
	vma_list_free(&maps);
	if (v.rec.vdso_size != j->here.vdso_size || v.rec.vvar_size != j->here.vvar_size)
		return say_why(-EPROTO, why, len, "the vDSO mapped into the copy is not in its "
			       "maps as this kernel's is (%lu bytes)",
			       (unsigned long)v.rec.vdso_size);
	*landed = v.rec;
	return 0;
}

/* The old vDSO's bytes, each export redirected into the vDSO at new_start. */
static uint8_t *proxy_bytes(const struct image *im, const struct job *j, uint64_t new_start)
{
	uint8_t *buf = malloc(im->vdso.rec.vdso_size);

	if (!buf)
		return NULL;
	memcpy(buf, im->vdso.bytes, im->vdso.rec.vdso_size);
	for (size_t i = 0; i < j->old.n; i++) {
		const struct redirect *to = &j->redirect[i];
		uint8_t *at = buf + to->offset;
		uint64_t target = new_start + to->target;
		uint32_t nr = (uint32_t)to->nr;

		if (to->nr >= 0) {
			at[0] = 0xb8;			/* mov $nr, %eax */
			memcpy(at + 1, &nr, 4);
			memcpy(at + 5, "\x0f\x05\xc3", 3);	/* syscall; ret */
		} else {
			memcpy(at, "\x48\xb8", 2);	/* movabs $target, %rax */
			memcpy(at + 2, &target, 8);
			memcpy(at + 10, "\xff\xe0", 2);	/* jmp *%rax */
		}
	}
	return buf;
}

/* The proxy at the old address, into the vDSO mapped at landed. */
static int make_proxy(const struct image *im, struct remote *r, const struct job *j,
		      const struct image_vdso_rec *landed, char *why, size_t len)
{
	const struct image_vdso_rec *old = &im->vdso.rec;
	uint8_t *bytes = proxy_bytes(im, j, landed->vdso_start);
	long ret;
	int err;

	if (!bytes)
		return say_why(-ENOMEM, why, len, "out of memory");
	err = remote_write(r, old->vdso_start, bytes, old->vdso_size);
	free(bytes);
	ret = err ? err : remote_mprotect(r, old->vdso_start, old->vdso_size,
					  PROT_READ | PROT_EXEC);
	return ret < 0 ? say_why((int)ret, why, len, "writing the vDSO proxy at %#lx: %s",
				 (unsigned long)old->vdso_start, strerror(-ret)) : 0;
}

int vdso_restore(const struct image *im, struct remote *r, char *why, size_t len)
{
	const struct image_vdso_rec *old = &im->vdso.rec;
	struct image_vdso_rec landed;
	struct job j;
	long ret;
	int err;

	if (!old->vdso_size)
		return 0;
	err = prepare(im, &j, why, len);
	if (!err && j.same) {
		err = map_here(r, &j, old->vvar_start, &landed, why, len);
		if (!err && landed.vdso_start == old->vdso_start &&
		    landed.vvar_start == old->vvar_start)
			goto out;
		/* Mapped elsewhere: the old address gets a proxy into it. */
		if (!err)
			err = proxy_may_run(im, why, len);
	}
	if (err)
		goto out;
	ret = remote_mmap(r, old->vdso_start, old->vdso_size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (ret != (long)old->vdso_start) {
		err = say_why(ret < 0 ? (int)ret : -EADDRNOTAVAIL, why, len, "mapping the vDSO "
			      "proxy at %#lx: %s", (unsigned long)old->vdso_start,
			      ret < 0 ? strerror(-ret) : "the kernel chose another address");
		goto out;
	}
	/* After the proxy: the new vDSO fits anywhere but there. */
	if (!j.same)
		err = map_here(r, &j, 0, &landed, why, len);
	if (!err)
		err = make_proxy(im, r, &j, &landed, why, len);
out:
	job_free(&j);
	return err;
}

void vdso_exports(const uint8_t *bytes, size_t size, char *buf, size_t len)
{
	struct exports x;
	size_t used = 0;

	if (len)
		buf[0] = '\0';
	if (!len || read_exports(bytes, size, &x))
		return;
	/* Each function once, by its bare name: __vdso_time and its alias time. */
	for (size_t i = 0; i < x.n && used < len; i++) {
		const char *name = bare_name(x.e[i].name);
		bool seen = false;

		for (size_t k = 0; k < i && !seen; k++)
			seen = !strcmp(bare_name(x.e[k].name), name);
		if (!seen)
			used += snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
	}
	exports_free(&x);
}
