/* contmig inspect: what an image holds and where its process was frozen. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arch-x86_64.h"
#include "checkpoint.h"
#include "clocks.h"
#include "commands.h"
#include "contract.h"
#include "cpu.h"
#include "error.h"
#include "escape.h"
#include "exitcode.h"
#include "restrictions.h"
#include "image.h"
#include "json.h"
#include "symtab.h"
#include "timedwait.h"
#include "unwind.h"
#include "vdso.h"

static const char usage[] =
	"Usage: contmig inspect [--json] [--backtrace [--binary PROG]] [--verify] IMAGE|-\n"
	"       contmig inspect DIR\n"
	"Show what an image holds, without running it: when, where and from what it was\n"
	"frozen, its registers, mappings (bytes stored and mapped), XSAVE features, the\n"
	"canary and the checksum of every segment. '-' reads standard input. DIR, a\n"
	"directory of checkpoints (run --checkpoint), is listed with what a run would\n"
	"resume from.\n"
	"\n"
	"  -j, --json          print it as one JSON document (see contmig-image(5))\n"
	"  -b, --backtrace     the frozen call stack, unwound from the image and named\n"
	"                      with the symbols it carries\n"
	"      --binary PROG   name frames with PROG's symbols instead\n"
	"      --verify        check every checksum and rule and print one line only\n"
	"  -h, --help          show this help\n"
	"\n"
	"Exits 0 only for a sound image; a damaged one is shown as far as it can be\n"
	"read, the problem is said on standard error, and inspect exits 67.\n";

/* What reading the whole image found. */
struct findings {
	const struct image *im;
	uint64_t *got;			/* each segment's sum as read */
	uint64_t *seen;			/* each segment's bytes read */
	size_t cur;			/* the segment being read: data comes in order */
	int data_err;			/* reading the data failed: -EBADMSG, -errno */
	bool canary_seen;
	uint64_t canary;
	char problem[300];		/* the first thing wrong, for --verify */
	char call[200];			/* the call it was stopped in, or "" */
};

/* The image on a file descriptor we can read anywhere in. */
struct memory {
	const struct image *im;
	int fd;
};

static int see_canary(void *ctx, const struct image_piece *p, size_t n)
{
	struct findings *f = ctx;

	for (size_t k = 0; k < n; k++) {
		uint64_t vaddr = p[k].vaddr, len = p[k].len;

		while (f->cur < f->im->nseg &&
		       vaddr >= f->im->seg[f->cur].vaddr + f->im->seg[f->cur].size)
			f->cur++;
		if (f->cur < f->im->nseg)
			f->seen[f->cur] += len;
		/* The canary may come in two pieces. */
		for (uint64_t a = CONTRACT_CANARY_ADDR; a < CONTRACT_CANARY_ADDR + 8; a++) {
			if (a >= vaddr && a < vaddr + len) {
				((uint8_t *)&f->canary)[a - CONTRACT_CANARY_ADDR] =
					p[k].data[a - vaddr];
				f->canary_seen = true;
			}
		}
	}
	return 0;
}

/* Process memory as the image holds it: stored pages from the file, pages
 * of a mapping that were never touched read as zero.  A read may span
 * segments and mappings; it is served piece by piece. */
static int read_memory(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct memory *m = ctx;
	const struct image *im = m->im;
	uint8_t *out = buf;

	while (len) {
		const struct vma *v = vma_list_find(&im->vmas, addr);
		uint64_t end = v ? v->end : 0;
		size_t n;
		size_t i;

		if (!v)
			return -EFAULT;
		for (i = 0; i < im->nseg; i++) {
			const struct image_segment *s = &im->seg[i];

			if (addr >= s->vaddr && addr < s->vaddr + s->size) {
				end = s->vaddr + s->size;
				break;
			}
			if (s->vaddr > addr && s->vaddr < end)
				end = s->vaddr;		/* zeros until the next stored run */
		}
		n = end - addr < len ? end - addr : len;
		if (i < im->nseg) {
			if (pread(m->fd, out, n, im->seg[i].offset + (addr - im->seg[i].vaddr)) !=
			    (ssize_t)n)
				return -EFAULT;
		} else {
			memset(out, 0, n);
		}
		out += n;
		addr += n;
		len -= n;
	}
	return 0;
}

static const char *canary_status(const struct image *im, const struct findings *f)
{
	if (!vma_list_find(&im->vmas, CONTRACT_CANARY_ADDR))
		return "absent";	/* no fixed stack: not a contract process */
	if (!f->canary_seen)
		return "not stored";
	return f->canary == CONTRACT_CANARY ? "ok" : "wrong";
}

/* Is it sound?  The first problem goes to f->problem. */
static bool judge(const struct image *im, struct findings *f)
{
	if (f->data_err == -EBADMSG)
		snprintf(f->problem, sizeof(f->problem), "%s", im->why);
	else if (f->data_err)
		snprintf(f->problem, sizeof(f->problem), "reading the data: %s",
			 strerror(-f->data_err));
	for (size_t i = 0; !f->problem[0] && !f->data_err && i < im->nseg; i++)
		if (f->got[i] != im->seg[i].sum)
			snprintf(f->problem, sizeof(f->problem), "checksum mismatch in segment %zu "
				 "(%#" PRIx64 ", %" PRIu64 " bytes)", i, im->seg[i].vaddr,
				 im->seg[i].size);
	if (!f->problem[0] && !strcmp(canary_status(im, f), "wrong"))
		snprintf(f->problem, sizeof(f->problem), "stack canary at %#lx is %#" PRIx64
			 ", not %#lx", CONTRACT_CANARY_ADDR, f->canary, CONTRACT_CANARY);
	return !f->problem[0];
}

/* Without the sums note (a cut image), a segment read whole is unverified. */
static const char *seg_status(const struct image *im, const struct findings *f, size_t i)
{
	if (f->data_err) {
		if (f->seen[i] == im->seg[i].size)
			return "unverified";
		/* The image ends in the first segment not read whole. */
		return !i || f->seen[i - 1] == im->seg[i - 1].size ? "truncated" : "unread";
	}
	return f->got[i] == im->seg[i].sum ? "ok" : "mismatch";
}

static void prot_string(int prot, char out[4])
{
	out[0] = prot & PROT_READ ? 'r' : '-';
	out[1] = prot & PROT_WRITE ? 'w' : '-';
	out[2] = prot & PROT_EXEC ? 'x' : '-';
	out[3] = '\0';
}

/* Bytes stored of mapping v: its segments are a run of the sorted list. */
static uint64_t stored_in(const struct image *im, const struct vma *v)
{
	size_t lo = 0, hi = im->nseg;
	uint64_t n = 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (im->seg[mid].vaddr < v->start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < im->nseg && im->seg[lo].vaddr < v->end; lo++)
		n += im->seg[lo].size;
	return n;
}

static void frozen_when(const struct image *im, char buf[64])
{
	time_t t = im->state.frozen_at;
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(buf, 64, "%Y-%m-%d %H:%M:%S UTC", &tm);
	else
		snprintf(buf, 64, "%" PRId64, im->state.frozen_at);
}

#define REG(name) { #name, offsetof(struct user_regs_struct, name) }
static const struct { const char *name; size_t offset; } registers[] = {
	REG(rip), REG(rsp), REG(rbp), REG(rax), REG(rbx), REG(rcx), REG(rdx),
	REG(rsi), REG(rdi), REG(r8), REG(r9), REG(r10), REG(r11), REG(r12),
	REG(r13), REG(r14), REG(r15), REG(eflags), REG(orig_rax), REG(fs_base),
	REG(gs_base),
};
#define NREGISTERS (sizeof(registers) / sizeof(registers[0]))

static uint64_t reg_value(const struct image *im, size_t i)
{
	uint64_t v;

	memcpy(&v, (const char *)&im->regs + registers[i].offset, sizeof(v));
	return v;
}

/* "main+58", or "??" without a symbol. */
static void frame_name(const struct symtab *syms, uint64_t ip, char *buf, size_t len)
{
	uint64_t off;
	const struct symbol *s = symtab_lookup(syms, ip, &off);

	if (s)
		snprintf(buf, len, "%s+%" PRIu64, s->name, off);
	else
		snprintf(buf, len, "??");
}

/* "alice (uid 1000)", or "uid 1234 (no name)": the name as the source
 * machine had it, made printable. */
static void print_id(const char *name, const char *kind, uint32_t id)
{
	char shown[ESCAPED_SIZE(IMAGE_MAX_NAME)];

	if (*name)
		printf("%s (%s %" PRIu32 ")",
		       escape_text(shown, sizeof(shown), name, IMAGE_MAX_NAME), kind, id);
	else
		printf("%s %" PRIu32 " (no name)", kind, id);
}

static bool mixed_ids(const struct image_creds *c)
{
	for (int i = 1; i < IMAGE_NIDS; i++)
		if (c->uid[i] != c->uid[0] || c->gid[i] != c->gid[0])
			return true;
	return false;
}

static void print_creds_text(const struct image_creds *c)
{
	printf("user:       ");
	if (!c->known) {
		printf("unknown (an image from before contmig recorded credentials)\n");
		return;
	}
	print_id(c->user, "uid", c->uid[IMAGE_ID_EFFECTIVE]);
	printf(", group: ");
	print_id(c->group, "gid", c->gid[IMAGE_ID_EFFECTIVE]);
	printf(", groups:%s", c->ngroups ? "" : " none");
	for (size_t i = 0; i < c->ngroups; i++) {
		char shown[ESCAPED_SIZE(IMAGE_MAX_NAME)];

		if (*c->groups[i].name)
			printf(" %s(%" PRIu32 ")", escape_text(shown, sizeof(shown),
				c->groups[i].name, IMAGE_MAX_NAME), c->groups[i].gid);
		else
			printf(" %" PRIu32, c->groups[i].gid);
	}
	if (mixed_ids(c))
		printf("; uids %" PRIu32 "/%" PRIu32 "/%" PRIu32 "/%" PRIu32 ", gids %" PRIu32
		       "/%" PRIu32 "/%" PRIu32 "/%" PRIu32 " (real/effective/saved/filesystem)",
		       c->uid[0], c->uid[1], c->uid[2], c->uid[3], c->gid[0], c->gid[1],
		       c->gid[2], c->gid[3]);
	printf("\n");
}

static void json_ids(const char *key, const uint32_t id[IMAGE_NIDS])
{
	printf("\"%s\": {\"real\": %" PRIu32 ", \"effective\": %" PRIu32 ", \"saved\": %" PRIu32
	       ", \"filesystem\": %" PRIu32 "}", key, id[0], id[1], id[2], id[3]);
}

static void print_creds_json(const struct image_creds *c)
{
	printf(" \"credentials\": ");
	if (!c->known) {
		printf("null,\n");
		return;
	}
	printf("{");
	json_ids("uid", c->uid);
	printf(", ");
	json_ids("gid", c->gid);
	printf(", \"user\": ");
	json_string(stdout, c->user);
	printf(", \"group\": ");
	json_string(stdout, c->group);
	printf(", \"groups\": [");
	for (size_t i = 0; i < c->ngroups; i++) {
		printf("%s{\"gid\": %" PRIu32 ", \"name\": ", i ? ", " : "", c->groups[i].gid);
		json_string(stdout, c->groups[i].name);
		printf("}");
	}
	printf("]},\n");
}

/* ---- restrictions (contmig(1), Restrictions) ---- */

static const char *const cap_set_keys[IMAGE_NCAPS] = {
	"effective", "permitted", "inheritable", "bounding", "ambient",
};

static void print_rlimit_value(uint64_t v)
{
	if (v == UINT64_MAX)
		printf("unlimited");
	else
		printf("%" PRIu64, v);
}

static void print_limits_text(const struct image_limits *l)
{
	const struct image_limits_rec *rec = &l->rec;
	char shown[ESCAPED_SIZE(IMAGE_MAX_LABEL)];

	printf("restricted: ");
	if (!l->known) {
		printf("unknown (an image from before contmig recorded restrictions)\n");
		return;
	}
	printf("capabilities");
	for (int i = 0; i < IMAGE_NCAPS; i++)
		if (rec->flags & IMAGE_LIMITS_CAPS)
			printf(" %s 0x%" PRIx64, cap_set_keys[i], rec->cap[i]);
		else if (!i)
			printf(" unknown");
	printf("; no_new_privs %s; personality ", !(rec->flags & IMAGE_LIMITS_NNP) ? "unknown" :
	       rec->no_new_privs ? "1" : "0");
	if (rec->flags & IMAGE_LIMITS_PERSONALITY)
		printf("%#" PRIx32, rec->personality);
	else
		printf("unknown");
	printf("; securebits unknown%s\nlimits:    ", rec->flags & IMAGE_LIMITS_NOT_DUMPABLE ?
	       "; not dumpable (its user may not read its memory)" : "");
	for (uint32_t i = 0; i < rec->nrlimits; i++) {
		printf(" %s ", restrictions_rlimit_name(i));
		print_rlimit_value(l->rlim[i].cur);
		printf("/");
		print_rlimit_value(l->rlim[i].max);
	}
	printf("%s\n", rec->nrlimits ? "" : " unknown");
	if (*l->label)
		printf("LSM label:  %s (not carried)\n",
		       escape_text(shown, sizeof(shown), l->label, IMAGE_MAX_LABEL));
}

static void json_rlimit_value(uint64_t v)
{
	if (v == UINT64_MAX)
		printf("null");
	else
		printf("%" PRIu64, v);
}

static void print_limits_json(const struct image_limits *l)
{
	const struct image_limits_rec *rec = &l->rec;

	printf(" \"restrictions\": ");
	if (!l->known) {
		printf("null,\n");
		return;
	}
	printf("{\"capabilities\": ");
	if (rec->flags & IMAGE_LIMITS_CAPS) {
		printf("{");
		for (int i = 0; i < IMAGE_NCAPS; i++)
			printf("\"%s\": \"0x%" PRIx64 "\"%s", cap_set_keys[i], rec->cap[i],
			       i + 1 < IMAGE_NCAPS ? ", " : "}");
	} else {
		printf("null");
	}
	printf(", \"no_new_privs\": %s", !(rec->flags & IMAGE_LIMITS_NNP) ? "null" :
	       rec->no_new_privs ? "true" : "false");
	printf(", \"personality\": ");
	if (rec->flags & IMAGE_LIMITS_PERSONALITY)
		printf("\"%#" PRIx32 "\"", rec->personality);
	else
		printf("null");
	printf(", \"dumpable\": %s", rec->flags & IMAGE_LIMITS_NOT_DUMPABLE ? "false" : "true");
	printf(", \"securebits\": null, \"resource_limits\": ");
	if (rec->nrlimits) {
		/* null: unlimited */
		for (uint32_t i = 0; i < rec->nrlimits; i++) {
			printf("%s\"%s\": {\"soft\": ", i ? ", " : "{",
			       restrictions_rlimit_name(i));
			json_rlimit_value(l->rlim[i].cur);
			printf(", \"hard\": ");
			json_rlimit_value(l->rlim[i].max);
			printf("}");
		}
		printf("}");
	} else {
		printf("null");
	}
	printf(", \"lsm_label\": ");
	if (*l->label)
		json_string(stdout, l->label);
	else
		printf("null");
	printf("},\n");
}

/* Seccomp, only for an image that has it: the filters oldest first, as the
 * copy gets them. */
static void print_seccomp_text(const struct image_seccomp *sc)
{
	if (!sc->mode)
		return;
	printf("seccomp:    %s mode", sc->mode == 1 ? "strict" : "filter");
	if (sc->nfilters)
		printf(", %zu filter%s (oldest first)", sc->nfilters, sc->nfilters == 1 ? "" : "s");
	printf("%s\n", sc->no_new_privs ? "; no_new_privs" : "");
	for (size_t i = 0; i < sc->nfilters; i++)
		printf("  #%-2zu %5" PRIu32 " instructions%s\n", i, sc->filter[i].len,
		       sc->filter[i].flags ? "  flags: log" : "");
}

static void print_seccomp_json(const struct image_seccomp *sc)
{
	if (!sc->mode)
		return;
	printf(" \"seccomp\": {\"mode\": \"%s\", \"no_new_privs\": %s, \"filters\": [",
	       sc->mode == 1 ? "strict" : "filter", sc->no_new_privs ? "true" : "false");
	for (size_t i = 0; i < sc->nfilters; i++)
		printf("%s{\"instructions\": %" PRIu32 ", \"log\": %s}", i ? ", " : "",
		       sc->filter[i].len, sc->filter[i].flags ? "true" : "false");
	printf("]},\n");
}

static const char *file_kind(uint32_t kind)
{
	static const char *const names[] = {
		[IMAGE_FILE_REGULAR] = "file", [IMAGE_FILE_DIRECTORY] = "directory",
		[IMAGE_FILE_DEVICE] = "device", [IMAGE_FILE_TERMINAL] = "terminal",
	};

	return kind < sizeof(names) / sizeof(names[0]) && names[kind] ? names[kind] : "?";
}

static const char *file_access(uint32_t open_flags)
{
	static const char *const modes[] = { "r", "w", "rw", "none" };

	return open_flags & O_PATH ? "path" : modes[open_flags & O_ACCMODE];
}

/* The open files, which the copy opens again (contmig(1), Open files). */
static void print_files_text(const struct image *im)
{
	if (!im->nfile)
		return;
	printf("files:      %zu, opened again in the copy\n", im->nfile);
	for (size_t i = 0; i < im->nfile; i++) {
		const struct image_file *f = &im->file[i];

		printf("  fd %d: ", f->fd);
		if (f->shares != -1)
			printf("the open file of fd %d", f->shares);
		else
			printf("%s, %s%s%s", file_kind(f->kind), file_access(f->open_flags),
			       f->open_flags & O_APPEND ? ", append" : "",
			       f->open_flags & O_NONBLOCK ? ", nonblocking" : "");
		printf("%s", f->flags & IMAGE_FILE_CLOEXEC ? ", close-on-exec" : "");
		if (f->shares == -1 && f->kind == IMAGE_FILE_REGULAR)
			printf(", at %" PRIu64 " of %" PRIu64 " bytes%s", f->offset, f->size,
			       f->flags & IMAGE_FILE_HASHED ? ", hashed" : "");
		printf(": ");
		escape_fputs(stdout, f->path, SIZE_MAX);
		putchar('\n');
	}
}

static void print_files_json(const struct image *im)
{
	printf(" \"files\": [");
	for (size_t i = 0; i < im->nfile; i++) {
		const struct image_file *f = &im->file[i];

		printf("%s\n  {\"fd\": %d, \"kind\": \"%s\", \"path\": ", i ? "," : "", f->fd,
		       file_kind(f->kind));
		json_string(stdout, f->path);
		printf(", \"access\": \"%s\", \"open_flags\": \"%#o\", \"cloexec\": %s, "
		       "\"offset\": %" PRIu64 ", \"size\": %" PRIu64 ", \"mtime\": \"%" PRId64
		       ".%09" PRIu32 "\", ", file_access(f->open_flags), f->open_flags,
		       f->flags & IMAGE_FILE_CLOEXEC ? "true" : "false", f->offset, f->size,
		       f->mtime_sec, f->mtime_nsec);
		if (f->flags & IMAGE_FILE_HASHED)
			printf("\"hash\": \"0x%016" PRIx64 "\", ", f->hash);
		else
			printf("\"hash\": null, ");
		if (f->shares != -1)
			printf("\"shares\": %d}", f->shares);
		else
			printf("\"shares\": null}");
	}
	printf("],\n");
}

/* Its working directory came from the image: escaped. */
static void print_workdir_text(const struct image_workdir *wd)
{
	if (!wd->known)
		return;
	printf("workdir:    ");
	escape_fputs(stdout, wd->path, strlen(wd->path));
	printf(" (umask %03o)\n", wd->umask);
}

static void print_workdir_json(const struct image_workdir *wd)
{
	if (!wd->known)
		return;
	printf(" \"workdir\": {\"path\": ");
	json_string(stdout, wd->path);
	printf(", \"umask\": \"%03o\"},\n", wd->umask);
}

/* ---- the kernel state of an ordinary program (mm.h, vdso.h, rseq.h) ---- */

static void print_mm_text(const struct image_mm *mm)
{
	const struct image_mm_rec *m = &mm->rec;
	char size[32];

	if (!mm->known) {
		printf("mm:         unknown (an image from before contmig recorded them)\n");
		return;
	}
	printf("program:    ");
	if (m->flags & IMAGE_MM_EXE) {
		escape_fputs(stdout, mm->exe, SIZE_MAX);
		printf(" (%s, xxh3 %#" PRIx64 ")\n", human_size(m->exe_size, size), m->exe_sum);
	} else {
		printf("not named (deleted, unreadable, or a copy's restorer)\n");
	}
	printf("mm:         code %#" PRIx64 "-%#" PRIx64 ", data %#" PRIx64 "-%#" PRIx64
	       ", heap %#" PRIx64 "-%#" PRIx64 ", stack %#" PRIx64 "\n", m->start_code,
	       m->end_code, m->start_data, m->end_data, m->start_brk, m->brk, m->start_stack);
	printf("            arguments %#" PRIx64 "-%#" PRIx64 ", environment %#" PRIx64 "-%#"
	       PRIx64 "\n", m->arg_start, m->arg_end, m->env_start, m->env_end);
}

static void print_vdso_text(const struct image *im)
{
	const struct image_vdso_rec *v = &im->vdso.rec;
	char exports[512], size[32];

	if (!v->vdso_size) {
		printf("vdso:       none\n");
		return;
	}
	vdso_exports(im->vdso.bytes, v->vdso_size, exports, sizeof(exports));
	printf("vdso:       %#" PRIx64 "-%#" PRIx64 " (%s): %s\n", v->vdso_start,
	       v->vdso_start + v->vdso_size, human_size(v->vdso_size, size),
	       exports[0] ? exports : "no functions read");
	if (v->vvar_size)
		printf("            data (vvar) %#" PRIx64 "-%#" PRIx64 " (%s)\n", v->vvar_start,
		       v->vvar_start + v->vvar_size, human_size(v->vvar_size, size));
}

static void print_rseq_text(const struct image_rseq_rec *q)
{
	if (!q->len)
		printf("rseq:       none registered\n");
	else
		printf("rseq:       area %#" PRIx64 " (%" PRIu32 " bytes), signature %#" PRIx32 "\n",
		       q->addr, q->len, q->sig);
}

static void json_hex(const char *key, uint64_t v, bool comma);

static void print_kernel_state_json(const struct image *im)
{
	const struct image_mm_rec *m = &im->mm.rec;
	const struct image_vdso_rec *v = &im->vdso.rec;
	char exports[512];

	printf(" \"mm\": ");
	if (!im->mm.known) {
		printf("null,\n");
	} else {
		printf("{");
		json_hex("start_code", m->start_code, true);
		json_hex("end_code", m->end_code, true);
		json_hex("start_data", m->start_data, true);
		json_hex("end_data", m->end_data, true);
		json_hex("start_brk", m->start_brk, true);
		json_hex("brk", m->brk, true);
		json_hex("start_stack", m->start_stack, true);
		json_hex("arg_start", m->arg_start, true);
		json_hex("arg_end", m->arg_end, true);
		json_hex("env_start", m->env_start, true);
		json_hex("env_end", m->env_end, true);
		printf("\"program\": ");
		if (m->flags & IMAGE_MM_EXE) {
			printf("{\"path\": ");
			json_string(stdout, im->mm.exe);
			printf(", \"size\": %" PRIu64 ", ", m->exe_size);
			json_hex("xxh3", m->exe_sum, false);
			printf("}},\n");
		} else {
			printf("null},\n");
		}
	}
	printf(" \"vdso\": ");
	if (!v->vdso_size) {
		printf("null,\n");
	} else {
		vdso_exports(im->vdso.bytes, v->vdso_size, exports, sizeof(exports));
		printf("{");
		json_hex("start", v->vdso_start, true);
		printf("\"size\": %" PRIu64 ", ", v->vdso_size);
		json_hex("vvar_start", v->vvar_start, true);
		printf("\"vvar_size\": %" PRIu64 ", \"exports\": [", v->vvar_size);
		for (char *name = exports[0] ? exports : NULL, *next; name; name = next) {
			next = strstr(name, ", ");
			if (next) {
				*next = '\0';
				next += 2;
			}
			json_string(stdout, name);
			printf("%s", next ? ", " : "");
		}
		printf("]},\n");
	}
	printf(" \"rseq\": ");
	if (!im->rseq.len) {
		printf("null,\n");
	} else {
		printf("{");
		json_hex("address", im->rseq.addr, true);
		printf("\"size\": %" PRIu32 ", ", im->rseq.len);
		json_hex("signature", im->rseq.sig, false);
		printf("},\n");
	}
}

/* A file's checksum or build ID, as hex, into buf (2 * len + 1 bytes). */
static const char *hex(const uint8_t *bytes, size_t len, char *buf)
{
	for (size_t i = 0; i < len; i++)
		sprintf(buf + 2 * i, "%02x", bytes[i]);
	buf[2 * len] = '\0';
	return buf;
}

/* The files its copy maps from the receiver's disk; paths from the image:
 * escaped. */
static void print_filerefs_text(const struct image_filerefs *fr)
{
	char size[32], sum[2 * IMAGE_SUM128_BYTES + 1], id[2 * IMAGE_MAX_BUILD_ID + 1];

	if (!fr->nfiles)
		return;
	printf("files:      %zu referenced (the copy maps them where it is thawed)\n", fr->nfiles);
	for (size_t i = 0; i < fr->nfiles; i++) {
		const struct image_fileref *f = &fr->file[i];

		printf("  ");
		escape_fputs(stdout, f->path, SIZE_MAX);
		printf("\n    %s (%" PRIu64 " bytes), xxh128 %s%s%s\n", human_size(f->size, size),
		       f->size, hex(f->sum, sizeof(f->sum), sum),
		       f->build_id_len ? ", build ID " : "",
		       f->build_id_len ? hex(f->build_id, f->build_id_len, id) : "");
	}
}

static void print_filerefs_json(const struct image_filerefs *fr)
{
	char sum[2 * IMAGE_SUM128_BYTES + 1], id[2 * IMAGE_MAX_BUILD_ID + 1];

	if (!fr->nfiles)
		return;
	printf(" \"files\": [");
	for (size_t i = 0; i < fr->nfiles; i++) {
		const struct image_fileref *f = &fr->file[i];

		printf("%s\n  {\"path\": ", i ? "," : "");
		json_string(stdout, f->path);
		printf(", \"size\": %" PRIu64 ", \"xxh128\": \"%s\", \"build_id\": ", f->size,
		       hex(f->sum, sizeof(f->sum), sum));
		if (f->build_id_len)
			printf("\"%s\"}", hex(f->build_id, f->build_id_len, id));
		else
			printf("null}");
	}
	printf("],\n");
}

/* The SA_* flags an action may have, by name (asm/signal.h). */
static const struct { uint64_t bit; const char *name; } sa_flags[] = {
	{ 0x00000001, "nocldstop" }, { 0x00000002, "nocldwait" }, { 0x00000004, "siginfo" },
	{ 0x04000000, "restorer" }, { 0x08000000, "onstack" }, { 0x10000000, "restart" },
	{ 0x40000000, "nodefer" }, { 0x80000000, "resethand" },
};

static void print_sa_flags(uint64_t flags)
{
	const char *sep = "";

	printf("%#" PRIx64, flags);
	for (size_t i = 0; i < sizeof(sa_flags) / sizeof(sa_flags[0]); i++)
		if (flags & sa_flags[i].bit) {
			printf("%s%s", *sep ? sep : " (", sa_flags[i].name);
			sep = ",";
		}
	printf("%s", *sep ? ")" : "");
}

static bool is_ignored(const struct image_sigaction_rec *a)
{
	return a->handler == 1;	/* SIG_IGN */
}

/* Signal actions and the alternate stack, for an image that has the note. */
static void print_sigactions_text(const struct image_sigactions *sa)
{
	char name[16], size[32];

	if (!sa->known)
		return;
	if (sa->head.count)
		printf("handlers:   %u signal%s\n", sa->head.count, sa->head.count == 1 ? "" : "s");
	else
		printf("handlers:   none\n");
	for (size_t i = 0; i < sa->head.count; i++) {
		const struct image_sigaction_rec *a = &sa->act[i];

		printf("  %-11s ", signal_abbrev(a->signo, name));
		if (is_ignored(a)) {
			printf("ignored\n");
			continue;
		}
		printf("%#" PRIx64 "  flags ", a->handler);
		print_sa_flags(a->flags);
		printf("  mask %#" PRIx64, a->mask);
		if (a->flags & 0x04000000)
			printf("  restorer %#" PRIx64, a->restorer);
		printf("\n");
	}
	if (sa->head.ss_flags & IMAGE_SS_DISABLE) {
		printf("altstack:   none\n");
		return;
	}
	human_size(sa->head.ss_size, size);
	printf("altstack:   %#" PRIx64 ", %s%s\n", sa->head.ss_sp, size,
	       sa->head.ss_flags & IMAGE_SS_AUTODISARM ? " (autodisarm)" : "");
}

static void print_sigactions_json(const struct image_sigactions *sa)
{
	char name[16];

	if (!sa->known) {
		printf(" \"signal_actions\": null,\n \"altstack\": null,\n");
		return;
	}
	printf(" \"signal_actions\": [");
	for (size_t i = 0; i < sa->head.count; i++) {
		const struct image_sigaction_rec *a = &sa->act[i];

		printf("%s{\"signal\": %u, \"name\": \"%s\", \"ignored\": %s, ", i ? ", " : "",
		       a->signo, signal_abbrev(a->signo, name), is_ignored(a) ? "true" : "false");
		printf("\"handler\": \"%#" PRIx64 "\", \"flags\": \"%#" PRIx64 "\", "
		       "\"restorer\": \"%#" PRIx64 "\", \"mask\": \"%#" PRIx64 "\"}", a->handler,
		       a->flags, a->restorer, a->mask);
	}
	printf("],\n \"altstack\": ");
	if (sa->head.ss_flags & IMAGE_SS_DISABLE)
		printf("null,\n");
	else
		printf("{\"sp\": \"%#" PRIx64 "\", \"size\": %" PRIu64 ", \"autodisarm\": %s},\n",
		       sa->head.ss_sp, sa->head.ss_size,
		       sa->head.ss_flags & IMAGE_SS_AUTODISARM ? "true" : "false");
}

static const char *const itimer_names[IMAGE_NTIMERS] = { "real", "virtual", "prof" };

static bool timer_armed(const struct image_itimer_rec *t)
{
	return t->value_sec || t->value_usec;
}

/* The interval timers, with what each had left at the freeze. */
static void print_timers_text(const struct image_timers *tm)
{
	bool any = false;

	if (!tm->known)
		return;
	printf("timers:     ");
	for (int i = 0; i < IMAGE_NTIMERS; i++) {
		const struct image_itimer_rec *t = &tm->timer[i];

		if (timer_armed(t))
			printf("%s%s %" PRId64 ".%06" PRId64 " s left", any ? "; " : "",
			       itimer_names[i], t->value_sec, t->value_usec);
		else if (i == IMAGE_ITIMER_REAL && (t->interval_sec || t->interval_usec))
			printf("%s%s expired, its SIGALRM not yet taken", any ? "; " : "",
			       itimer_names[i]);
		else
			continue;
		if (t->interval_sec || t->interval_usec)
			printf(", every %" PRId64 ".%06" PRId64 " s", t->interval_sec,
			       t->interval_usec);
		any = true;
	}
	printf("%s\n", any ? "" : "none");
}

static void print_timers_json(const struct image_timers *tm)
{
	if (!tm->known) {
		printf(" \"timers\": null,\n");
		return;
	}
	printf(" \"timers\": [");
	for (int i = 0; i < IMAGE_NTIMERS; i++) {
		const struct image_itimer_rec *t = &tm->timer[i];

		printf("%s{\"timer\": \"%s\", \"armed\": %s, \"value\": %" PRId64 ".%06" PRId64
		       ", \"interval\": %" PRId64 ".%06" PRId64 "}", i ? ", " : "", itimer_names[i],
		       timer_armed(t) ? "true" : "false", t->value_sec, t->value_usec,
		       t->interval_sec, t->interval_usec);
	}
	printf("],\n");
}

/* ---- the clocks at the freeze (clocks.h) ---- */

/* "SEC.NSEC" of ns, its sign first where asked. */
static const char *seconds(int64_t ns, bool sign, char buf[32])
{
	uint64_t mag = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;

	snprintf(buf, 32, "%s%" PRIu64 ".%09" PRIu64, ns < 0 ? "-" : sign ? "+" : "",
		 mag / 1000000000, mag % 1000000000);
	return buf;
}

static void boot_text(const uint8_t id[16], char buf[40])
{
	snprintf(buf, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10],
		 id[11], id[12], id[13], id[14], id[15]);
}

static bool this_boot(const uint8_t id[16])
{
	uint8_t ours[16];

	clocks_boot_id(ours);
	return !memcmp(ours, id, sizeof(ours));
}

/* The clocks as the process saw them at the freeze, and on what boot. */
static void print_clocks_text(const struct image_clocks *c)
{
	const struct image_clocks_rec *r = &c->rec;
	char a[32], b[32], when[64], boot[40];
	time_t t;
	struct tm tm;

	if (!c->known)
		return;
	t = (time_t)(r->realtime / 1000000000);
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	else
		snprintf(when, sizeof(when), "%" PRId64 " ns", r->realtime);
	printf("clocks:     monotonic %s s, boottime %s s, realtime %s\n",
	       seconds(r->monotonic + r->ns_monotonic, false, a),
	       seconds(r->boottime + r->ns_boottime, false, b), when);
	boot_text(r->boot_id, boot);
	if (r->flags & IMAGE_CLOCKS_OFFSETS_UNKNOWN)
		printf("            in a time namespace whose offsets could not be read");
	else if (r->ns_monotonic || r->ns_boottime)
		printf("            in a time namespace: %s s and %s s from its machine's",
		       seconds(r->ns_monotonic, true, a), seconds(r->ns_boottime, true, b));
	else
		printf("            its machine's own");
	printf("; boot %s%s\n", boot, this_boot(r->boot_id) ? " (this machine's, still up)" : "");
}

static void print_clocks_json(const struct image_clocks *c)
{
	const struct image_clocks_rec *r = &c->rec;
	char boot[40];

	if (!c->known) {
		printf(" \"clocks\": null,\n");
		return;
	}
	boot_text(r->boot_id, boot);
	printf(" \"clocks\": {\"realtime_ns\": %" PRId64 ", \"monotonic_ns\": %" PRId64
	       ", \"boottime_ns\": %" PRId64 ", \"namespace\": ", r->realtime, r->monotonic,
	       r->boottime);
	if (r->flags & IMAGE_CLOCKS_OFFSETS_UNKNOWN)
		printf("\"unknown\"");
	else
		printf("{\"monotonic_ns\": %" PRId64 ", \"boottime_ns\": %" PRId64 "}",
		       r->ns_monotonic, r->ns_boottime);
	printf(", \"boot_id\": \"%s\", \"this_boot\": %s},\n", boot,
	       this_boot(r->boot_id) ? "true" : "false");
}

/* The names of the calls timedwait.h knows; others by number. */
static const char *call_name(long long nr, char buf[40])
{
	switch (nr) {
	case SYS_nanosleep:		return "nanosleep";
	case SYS_clock_nanosleep:	return "clock_nanosleep";
	case SYS_poll:			return "poll";
	case SYS_futex:			return "futex";
	case SYS_restart_syscall:	return "restart_syscall";
	default:
		snprintf(buf, 40, "system call %lld", nr);
		return buf;
	}
}

/*
 * The blocking call it was stopped in and what its copy does with it
 * (timedwait.h, contmig(1) TIME), into f->call; "" when in none.  m: its
 * memory, for what rem holds (NULL: not read).
 */
static void describe_call(const struct image *im, const struct memory *m, struct findings *f)
{
	const struct user_regs_struct *g = &im->regs;
	long long nr = (long long)g->orig_rax, rax = (long long)g->rax;
	const char *what = "made again in the copy";
	int64_t left[2];
	char name[40], text[120];

	if (nr < 0)
		return;
	if (!is_restart_code(rax)) {
		snprintf(f->call, sizeof(f->call), "%s, done (%lld)", call_name(nr, name), rax);
		return;
	}
	if (rax == -ERESTART_RESTARTBLOCK)
		switch (nr == SYS_restart_syscall ? TIMED_WAIT_LOST : timed_wait_kind(nr, g)) {
		case TIMED_WAIT_KEPT:
			if (m && read_memory((void *)m, nr == SYS_nanosleep ? g->rsi : g->r10, left,
					     sizeof(left)) == 0) {
				snprintf(text, sizeof(text), "its copy sleeps the %" PRId64 ".%09"
					 PRId64 " s left in rem", left[0], left[1]);
				what = text;
			} else {
				what = "its copy sleeps what rem holds";
			}
			break;
		case TIMED_WAIT_LOST:
			what = "its time left stayed with the old kernel: 0 in the copy";
			break;
		case TIMED_WAIT_NONE:
			break;
		}
	snprintf(f->call, sizeof(f->call), "%s, cut short: %s", call_name(nr, name), what);
}

static void print_text(const char *path, const struct image *im, const struct findings *f,
		       const struct unwind_frame *frames, size_t nframes,
		       const struct symtab *syms, bool backtrace)
{
	char when[64], size[32], mapped_h[32], stored_h[32], names[256];
	uint64_t mapped = 0, stored = 0;

	char comm[ESCAPED_SIZE(sizeof(im->state.comm))];
	char host[ESCAPED_SIZE(sizeof(im->state.hostname))];

	frozen_when(im, when);
	human_size(im->size, size);
	printf("image:      ");
	escape_fputs(stdout, path, strlen(path));
	printf(": contmig image format %u, %s\n", im->state.version, size);
	/* Every string from the image is escaped, and a fixed-size field read
	 * within its size: it need not end in a NUL. */
	printf("process:    PID %d (%s), frozen %s on %s\n", im->state.source_pid,
	       escape_text(comm, sizeof(comm), im->state.comm, sizeof(im->state.comm)), when,
	       escape_text(host, sizeof(host), im->state.hostname, sizeof(im->state.hostname)));
	print_creds_text(&im->creds);
	print_limits_text(&im->limits);
	print_workdir_text(&im->workdir);
	printf("registers:");
	for (size_t i = 0; i < NREGISTERS; i++)
		printf("%s%-8s 0x%016" PRIx64, i % 3 ? "   " : "\n  ", registers[i].name,
		       reg_value(im, i));
	printf("\n");
	cpu_xfeature_names(im->state.xfeatures, names, sizeof(names));
	printf("xsave:      %zu bytes; source CPU: %s\n", im->xstate_size, names);
	cpu_xfeature_names(image_xstate_bv(im), names, sizeof(names));
	printf("            in use: %s\n", names[0] ? names : "none");
	if (f->call[0])
		printf("call:       %s\n", f->call);
	printf("signals:    blocked %#" PRIx64 "\n", im->state.sigmask);
	print_sigactions_text(&im->sigactions);
	print_timers_text(&im->timers);
	print_clocks_text(&im->clocks);
	print_seccomp_text(&im->seccomp);
	print_files_text(im);
	print_mm_text(&im->mm);
	print_vdso_text(im);
	print_rseq_text(&im->rseq);
	printf("canary:     %s", canary_status(im, f));
	if (f->canary_seen)
		printf(" (%#" PRIx64 " at %#lx)", f->canary, CONTRACT_CANARY_ADDR);
	printf("\nmappings:   %zu\n", im->vmas.count);
	printf("  %-18s %-18s %-4s %10s %10s  %s\n", "start", "end", "prot", "stored", "mapped",
	       "name");
	for (size_t i = 0; i < im->vmas.count; i++) {
		const struct vma *v = &im->vmas.vma[i];
		char prot[4];
		uint64_t st = stored_in(im, v);

		prot_string(v->prot, prot);
		human_size(st, stored_h);
		human_size(v->end - v->start, mapped_h);
		printf("  %#-18lx %#-18lx %-4s %10s %10s  ", v->start, v->end, prot, stored_h,
		       mapped_h);
		escape_fputs(stdout, v->name, SIZE_MAX);
		printf("%s\n", v->shared ? " (was shared)" :
		       image_mapref_of(im, v) ? " (by reference)" : "");
		mapped += v->end - v->start;
		stored += st;
	}
	human_size(stored, stored_h);
	human_size(mapped, mapped_h);
	printf("  %-18s %-18s %-4s %10s %10s\n", "total", "", "", stored_h, mapped_h);
	print_filerefs_text(&im->refs);
	printf("segments:   %zu\n", im->nseg);
	for (size_t i = 0; i < im->nseg; i++) {
		human_size(im->seg[i].size, size);
		printf("  %#-18" PRIx64 " %10s  at offset %-10" PRIu64 " checksum %s\n",
		       im->seg[i].vaddr, size, im->seg[i].offset, seg_status(im, f, i));
	}
	if (f->problem[0]) {
		printf("problem:    ");
		escape_fputs(stdout, f->problem, sizeof(f->problem));
		putchar('\n');
	}
	printf("symbols:    %zu\n", syms->count);
	if (!backtrace)
		return;
	printf("backtrace:\n");
	for (size_t i = 0; i < nframes; i++) {
		char name[160];

		frame_name(syms, frames[i].ip, name, sizeof(name));
		printf("  #%-2zu 0x%016" PRIx64 " in ", i, frames[i].ip);
		escape_fputs(stdout, name, sizeof(name));
		printf("%s\n", frames[i].by_frame_pointer ?
		       "  (frame pointer: no unwind information)" : "");
	}
	if (!syms->count)
		printf("  (no symbols in the image: --binary PROG names the frames)\n");
}

static void json_hex(const char *key, uint64_t v, bool comma)
{
	printf("\"%s\": \"0x%" PRIx64 "\"%s", key, v, comma ? ", " : "");
}

static void print_json(const char *path, const struct image *im, const struct findings *f,
		       const struct unwind_frame *frames, size_t nframes,
		       const struct symtab *syms, bool backtrace, bool sound)
{
	char when[64], names[256];

	frozen_when(im, when);
	printf("{\"image\": {\"path\": ");
	json_string(stdout, path);
	printf(", \"format_version\": %u, \"size\": %" PRIu64 "},\n", im->state.version, im->size);
	printf(" \"process\": {\"pid\": %d, \"command\": ", im->state.source_pid);
	json_string_n(stdout, im->state.comm, sizeof(im->state.comm));
	printf(", \"host\": ");
	json_string_n(stdout, im->state.hostname, sizeof(im->state.hostname));
	printf(", \"frozen_at\": %" PRId64 ", \"frozen_at_utc\": \"%s\"},\n", im->state.frozen_at,
	       when);
	print_creds_json(&im->creds);
	print_limits_json(&im->limits);
	print_workdir_json(&im->workdir);
	printf(" \"registers\": {");
	for (size_t i = 0; i < NREGISTERS; i++)
		json_hex(registers[i].name, reg_value(im, i), i + 1 < NREGISTERS);
	cpu_xfeature_names(im->state.xfeatures, names, sizeof(names));
	printf("},\n \"xsave\": {\"size\": %zu, \"source_features\": ", im->xstate_size);
	json_string(stdout, names);
	cpu_xfeature_names(image_xstate_bv(im), names, sizeof(names));
	printf(", \"in_use\": ");
	json_string(stdout, names);
	printf("},\n \"call\": ");
	if (f->call[0])
		json_string(stdout, f->call);
	else
		printf("null");
	printf(",\n \"signal_mask\": \"0x%" PRIx64 "\",\n", im->state.sigmask);
	print_sigactions_json(&im->sigactions);
	print_timers_json(&im->timers);
	print_clocks_json(&im->clocks);
	print_seccomp_json(&im->seccomp);
	print_files_json(im);
	print_kernel_state_json(im);
	printf(" \"canary\": {\"status\": \"%s\"", canary_status(im, f));
	if (f->canary_seen)
		printf(", \"value\": \"%#" PRIx64 "\", \"address\": \"%#lx\"", f->canary,
		       CONTRACT_CANARY_ADDR);
	printf("},\n \"mappings\": [");
	for (size_t i = 0; i < im->vmas.count; i++) {
		const struct vma *v = &im->vmas.vma[i];
		char prot[4];

		prot_string(v->prot, prot);
		printf("%s\n  {", i ? "," : "");
		json_hex("start", v->start, true);
		json_hex("end", v->end, true);
		printf("\"prot\": \"%s\", \"shared\": %s, \"by_reference\": %s, \"mapped\": %lu, "
		       "\"stored\": %" PRIu64 ", \"name\": ", prot, v->shared ? "true" : "false",
		       image_mapref_of(im, v) ? "true" : "false", v->end - v->start,
		       stored_in(im, v));
		json_string(stdout, v->name);
		printf("}");
	}
	printf("],\n");
	print_filerefs_json(&im->refs);
	printf(" \"segments\": [");
	for (size_t i = 0; i < im->nseg; i++) {
		printf("%s\n  {", i ? "," : "");
		json_hex("vaddr", im->seg[i].vaddr, true);
		printf("\"size\": %" PRIu64 ", \"offset\": %" PRIu64 ", \"checksum\": \"%s\"}",
		       im->seg[i].size, im->seg[i].offset, seg_status(im, f, i));
	}
	printf("],\n \"symbols\": %zu,\n \"sound\": %s", syms->count, sound ? "true" : "false");
	if (f->problem[0]) {
		printf(", \"problem\": ");
		json_string(stdout, f->problem);
	}
	if (backtrace) {
		printf(",\n \"backtrace\": [");
		for (size_t i = 0; i < nframes; i++) {
			char name[160];

			frame_name(syms, frames[i].ip, name, sizeof(name));
			printf("%s\n  {\"frame\": %zu, ", i ? "," : "", i);
			json_hex("ip", frames[i].ip, true);
			json_hex("sp", frames[i].sp, true);
			printf("\"function\": ");
			json_string(stdout, name);
			printf(", \"method\": \"%s\"}", !i ? "registers" :
			       frames[i].by_frame_pointer ? "frame-pointer" : "unwind-info");
		}
		printf("]");
	}
	printf("}\n");
}

/* A pipe cannot be read twice: keep its bytes in memory for the backtrace. */
static int spool(int in)
{
	char buf[65536];
	int fd = memfd_create("contmig-inspect", MFD_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write(fd, buf, n) != n) {
			int err = n < 0 ? -errno : -EIO;

			close(fd);
			return err;
		}
	}
	return lseek(fd, 0, SEEK_SET) < 0 ? -errno : fd;
}

/* A directory of checkpoints (run --checkpoint): what it holds, and what a
 * run would resume from.  An exit status. */
static int inspect_checkpoints(const char *path)
{
	char why[512], cmd[4096], holder[128], when[64], size[32];
	struct checkpoint_dir d;
	struct checkpoint_list l;
	size_t len = 0;
	long from = -1;
	size_t upto = 0;

	if (checkpoint_look(&d, path, why, sizeof(why))) {
		error_msg("inspect: %s", why);
		return EXIT_NOTARGET;
	}
	if (checkpoint_list(&d, &l, why, sizeof(why))) {
		error_msg("inspect: %s", why);
		checkpoint_close(&d);
		return EXIT_IO;
	}
	printf("checkpoints: %s\n", path);
	if (checkpoint_read_command(&d, cmd, sizeof(cmd), &len, why, sizeof(why)) == 0) {
		char arg[ESCAPED_SIZE(sizeof(cmd))];

		fputs("command:    ", stdout);
		for (size_t at = 0; at < len; at += strlen(cmd + at) + 1) {
			escape_text(arg, sizeof(arg), cmd + at, strlen(cmd + at));
			printf(" %s", arg);
		}
		putchar('\n');
	}
	if (checkpoint_holder(&d, holder, sizeof(holder)) == 0)
		printf("in use:      %s\n", holder[0] ? holder : "no");
	for (size_t i = 0; i < l.count; i++) {
		time_t t = (time_t)l.file[i].mtime;

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
		printf("  %08u  %-5s  %10s  %s\n", l.file[i].seq, l.file[i].delta ? "delta" : "base",
		       human_size(l.file[i].size, size), when);
	}
	for (upto = l.count; upto-- > 0 && (from = checkpoint_chain_start(&l, upto)) < 0;)
		;
	if (from >= 0)
		printf("resumes:     from checkpoint %u (a base and %zu delta%s)\n",
		       l.file[upto].seq, upto - (size_t)from, upto - (size_t)from == 1 ? "" : "s");
	else
		printf("resumes:     nothing (%s)\n", l.count ? "no base before the checkpoints, "
		       "or one missing" : "no checkpoints: the program starts afresh");
	checkpoint_list_free(&l);
	checkpoint_close(&d);
	return EXIT_OK;
}

static int run(int argc, char **argv)
{
	enum { OPT_BINARY = 256, OPT_VERIFY };
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "backtrace", no_argument, NULL, 'b' },
		{ "binary", required_argument, NULL, OPT_BINARY },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool json = false, backtrace = false, verify = false, sound;
	const char *path, *binary = NULL;
	struct findings f = { 0 };
	struct unwind_frame frames[UNWIND_MAX_FRAMES];
	struct symtab binsyms = { 0 };
	const struct symtab *syms;
	struct stream in = { .fd = -1 };
	struct image im = { 0 };
	size_t nframes = 0;
	bool visit_failed;
	struct stat st;
	int opt, err, status = EXIT_OK;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:jbh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'b':
			backtrace = true;
			break;
		case OPT_BINARY:
			binary = optarg;
			break;
		case OPT_VERIFY:
			verify = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			option_error("inspect", opt, argv);
		}
	}
	if (optind != argc - 1)
		usage_error("inspect", "inspect: %s", optind == argc ? "missing IMAGE (or - for stdin)" :
			    "too many arguments: give one IMAGE");
	if (binary && !backtrace)
		usage_error("inspect", "inspect: --binary goes with --backtrace");
	path = argv[optind];
	if (strcmp(path, "-") && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (json || backtrace || verify)
			usage_error("inspect", "inspect: %s is a directory of checkpoints, which "
				    "inspect lists as text only", path);
		return inspect_checkpoints(path);
	}
	if (!strcmp(path, "-") && isatty(STDIN_FILENO))
		usage_error("inspect", "inspect: refusing to read an image from a terminal; "
			    "redirect standard input or give IMAGE");
	in.fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (in.fd < 0) {
		errno_msg(errno, "inspect: %s", path);
		return errno == ENOENT || errno == EACCES ? EXIT_NOTARGET : EXIT_IO;
	}
	if (!strcmp(path, "-") && !json)
		path = "standard input";
	/* A backtrace reads memory anywhere in the image: a pipe is kept first. */
	if (backtrace && (fstat(in.fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		int fd = spool(in.fd);

		if (fd < 0) {
			errno_msg(-fd, "inspect: keeping %s in memory", path);
			status = EXIT_IO;
			goto out;
		}
		if (in.fd != STDIN_FILENO)
			close(in.fd);
		in.fd = fd;
	}
	if (binary) {
		int fd = open(binary, O_RDONLY | O_CLOEXEC);

		err = fd < 0 ? -errno : symtab_read_elf(fd, &binsyms);
		if (fd >= 0)
			close(fd);
		if (!err && !binsyms.count) {
			error_msg("inspect: %s has no symbols to name frames with", binary);
			status = EXIT_NOTARGET;
			goto out;
		}
		if (err) {
			errno_msg(-err, "inspect: symbols of %s%s", binary,
				  err == -ENOEXEC ? " (not an ELF file)" : "");
			status = err == -ENOENT || err == -ENOEXEC ? EXIT_NOTARGET : EXIT_IO;
			goto out;
		}
	}

	err = image_read_head(&im, &in, stream_max_size());
	if (err == -EBADMSG || err == -EFBIG) {
		error_msg("inspect %s: invalid image: %s", path, im.why);
		if (json) {	/* still one document, saying so */
			printf("{\"image\": {\"path\": ");
			json_string(stdout, path);
			printf("}, \"sound\": false, \"problem\": ");
			json_string(stdout, im.why);
			printf("}\n");
		}
		status = EXIT_IMAGE;
		goto out;
	}
	if (err) {
		errno_msg(-err, "inspect: reading %s", path);
		status = EXIT_IO;
		goto out;
	}
	f.im = &im;
	f.got = calloc(im.nseg ? im.nseg : 1, sizeof(*f.got));
	f.seen = calloc(im.nseg ? im.nseg : 1, sizeof(*f.seen));
	if (!f.got || !f.seen) {
		error_msg("inspect: out of memory");
		status = EXIT_INTERNAL;
		goto out;
	}
	f.data_err = image_read_data(&im, &in, see_canary, &f, f.got, &visit_failed);
	if (f.data_err && f.data_err != -EBADMSG) {
		errno_msg(-f.data_err, "inspect: reading %s", path);
		status = EXIT_IO;
		goto out;
	}
	sound = judge(&im, &f);
	{
		struct memory mem = { .im = &im, .fd = in.fd };

		describe_call(&im, f.data_err ? NULL : &mem, &f);
	}
	syms = binary ? &binsyms : &im.syms;
	if (backtrace && !f.data_err) {
		struct memory mem = { .im = &im, .fd = in.fd };

		if (unwind_stack(&im.regs, &im.vmas, read_memory, &mem, frames, UNWIND_MAX_FRAMES,
				 &nframes))
			nframes = 0;
	}
	if (verify && !json) {
		if (sound) {
			escape_fputs(stdout, path, strlen(path));
			printf(": sound: %zu segments, every checksum matches; canary %s\n",
			       im.nseg, canary_status(&im, &f));
		} else
			error_msg("inspect %s: unsound: %s", path, f.problem);
	} else {
		if (json)
			print_json(path, &im, &f, frames, nframes, syms, backtrace, sound);
		else
			print_text(path, &im, &f, frames, nframes, syms, backtrace);
		/* All that could be read is shown; the status still says it is
		 * damaged, so a script never takes it for a sound image. */
		if (!sound)
			error_msg("inspect %s: unsound: %s", path, f.problem);
	}
	if (!sound)
		status = EXIT_IMAGE;
out:
	free(f.got);
	free(f.seen);
	image_free(&im);
	symtab_free(&binsyms);
	if (in.fd >= 0 && in.fd != STDIN_FILENO)
		close(in.fd);
	return status;
}

const struct command command_inspect = {
	.name = "inspect",
	.summary = "show what an image holds and where it was frozen",
	.usage = usage,
	.run = run,
};
