#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "contract.h"
#include "clocks.h"
#include "cpu.h"
#include "creds.h"
#include "fileref.h"
#include "mm.h"
#include "restrictions.h"
#include "ptrace.h"
#include "rseq.h"
#include "seccomp.h"
#include "sigstate.h"
#include "snapshot.h"
#include "tracee.h"
#include "vdso.h"
#include "workdir.h"

#define PM_PRESENT	(1ULL << 63)
#define PM_SWAPPED	(1ULL << 62)
#define PM_FILE		(1ULL << 61)	/* a page of the file (or shared), not copied */

/* How much of the process's memory one read moves: little enough that the
 * bytes are still in the CPU's cache when they are summed and written. */
#define COPY_CHUNK	(1UL << 20)
/* Pieces of segments in one chunk: the kernel's IOV_MAX. */
#define COPY_PIECES	1024

/* Kernel mappings that belong to the running kernel, not to the program. */
static bool is_kernel_mapping(const struct vma *v)
{
	return !strcmp(v->name, "[vdso]") || !strncmp(v->name, "[vvar", 5) ||
	       !strcmp(v->name, "[vsyscall]");
}

/* A private file mapping's untouched pages come from a file the other machine
 * may not have: store them all. Anonymous memory never touched is zero. */
static bool store_every_page(const struct vma *v)
{
	return v->inode != 0;
}

/* Can the page at addr be read?  A file mapping's pages past the end of its
 * file cannot (the process itself would get SIGBUS there). */
static bool page_readable(int mem, unsigned long addr)
{
	char c;

	return pread(mem, &c, 1, addr) == 1;
}

/*
 * How many pages of file mapping v lie within its file: every page not yet
 * present is readable below the file's end and not past it, so a binary
 * search over those pages finds it with a few one-byte reads, whatever the
 * file is now (truncated, grown, replaced).  Present pages (copied on write)
 * are readable anywhere and do not count.
 */
static size_t pages_in_file(int mem, const struct vma *v, const uint64_t *pm, size_t npages)
{
	size_t lo = 0, hi = npages;	/* the first page past the end is in [lo, hi] */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2, probe = mid;

		/* The next page that is not present says where the end is. */
		while (probe < hi && pm[probe] & (PM_PRESENT | PM_SWAPPED))
			probe++;
		if (probe == hi) {
			hi = mid;
			continue;
		}
		if (page_readable(mem, v->start + probe * IMAGE_PAGE))
			lo = probe + 1;
		else
			hi = probe;
	}
	return lo;
}

/* One segment: [start, end) of mapping v.  Segments never join across
 * mappings, even adjacent ones with the same protection (a .data and the
 * .bss after it): a reader checks each segment against its mapping. */
static int add_segment(struct image *im, size_t *cap, const struct vma *v, unsigned long start,
		       unsigned long end)
{
	if (array_reserve((void **)&im->seg, cap, im->nseg, sizeof(*im->seg)))
		return -ENOMEM;
	im->seg[im->nseg++] = (struct image_segment){ .vaddr = start, .size = end - start,
						     .prot = v->prot };
	return 0;
}

/*
 * Is the page whose pagemap entry is pm, in a mapping whose file the copy
 * maps itself, the process's own (copied on write: present and not the
 * file's, or swapped out)?  Pages never touched, and those still the
 * file's, are the file's there too.
 */
static bool changed_page(uint64_t pm)
{
	return pm & PM_SWAPPED || (pm & PM_PRESENT && !(pm & PM_FILE));
}

/*
 * The pages of [start, end) of mapping v a freeze stores, appended to out:
 * the present ones, and for a file mapping every page within the file too.
 * Pages of a file mapping past the end of its file hold nothing to store
 * (contmig-image(5)).  Of a mapping whose file is referenced, only the pages
 * the process changed.
 */
int snapshot_stored_pages(int pagemap, int mem, const struct vma *v, uint64_t start,
			  uint64_t end, bool referenced, struct runs *out)
{
	struct vma part = *v;
	size_t npages = (end - start) / IMAGE_PAGE, in_file = 0;
	uint64_t *pm;
	unsigned long run = 0;
	int err = 0;

	part.start = start;
	part.end = end;
	part.offset = v->offset + (start - v->start);
	pm = malloc((npages ? npages : 1) * sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	errno = 0;
	if (pread(pagemap, pm, npages * sizeof(*pm), start / IMAGE_PAGE * sizeof(*pm)) !=
	    (ssize_t)(npages * sizeof(*pm))) {
		err = errno ? -errno : -EIO;
		goto out;
	}
	if (store_every_page(v) && !referenced)
		in_file = pages_in_file(mem, &part, pm, npages);
	for (size_t i = 0; i <= npages && !err; i++) {
		unsigned long addr = start + i * IMAGE_PAGE;
		bool present = i < npages && (referenced ? changed_page(pm[i]) :
					      i < in_file || (pm[i] & (PM_PRESENT | PM_SWAPPED)));

		if (present && !run)
			run = addr;
		else if (!present && run) {
			err = runs_append(out, run, addr);
			run = 0;
		}
	}
out:
	free(pm);
	return err;
}

int snapshot_add_segments(struct image *im, size_t *cap, const struct vma *v,
			  const struct runs *stored)
{
	int err = 0;

	for (size_t i = 0; !err && i < stored->count; i++)
		err = add_segment(im, cap, v, stored->run[i].start, stored->run[i].end);
	return err;
}

/* One segment per run of stored pages of v. */
static int plan_vma(struct image *im, size_t *cap, int pagemap, int mem, const struct vma *v,
		    bool referenced)
{
	struct runs stored = { 0 };
	int err = snapshot_stored_pages(pagemap, mem, v, v->start, v->end, referenced, &stored);

	if (!err)
		err = snapshot_add_segments(im, cap, v, &stored);
	runs_free(&stored);
	return err;
}

/* Where the image references candidate c's file: its index, added once. */
static int file_index(struct image *im, size_t *cap, const struct fileref_candidate *c,
		      uint32_t *index)
{
	struct image_fileref *f;

	for (size_t i = 0; i < im->refs.nfiles; i++)
		if (!strcmp(im->refs.file[i].path, c->ref.path)) {
			*index = i;
			return 0;
		}
	if (array_reserve((void **)&im->refs.file, cap, im->refs.nfiles, sizeof(*f)))
		return -ENOMEM;
	f = &im->refs.file[im->refs.nfiles];
	*f = c->ref;
	f->path = strdup(c->ref.path);
	if (!f->path)
		return -ENOMEM;
	*index = im->refs.nfiles++;
	return 0;
}

/* Mapping v maps candidate c's file, which the copy maps itself. */
static int add_mapref(struct image *im, size_t caps[2], const struct fileref_candidate *c,
		      const struct vma *v)
{
	uint32_t index;
	int err = file_index(im, &caps[0], c, &index);

	if (!err)
		err = array_reserve((void **)&im->refs.map, &caps[1], im->refs.nmaps,
				    sizeof(*im->refs.map));
	if (err)
		return err;
	im->refs.map[im->refs.nmaps++] = (struct image_mapref){ .start = v->start,
								 .offset = v->offset,
								 .file = index };
	return 0;
}

/* The mappings of pid into im (with the files it references, from refs)
 * and, with pages, the segments a freeze stores. */
static int plan_mappings(pid_t pid, int maps_fd, struct fileref_set *refs, struct image *im,
			 bool pages)
{
	struct vma_list all;
	size_t cap = 0, vcap = 0, ref_caps[2] = { 0, 0 };
	char path[64];
	int pagemap, mem, err;

	err = maps_fd >= 0 ? procfs_read_maps_fd(maps_fd, &all) : procfs_read_maps(pid, &all);
	if (err)
		return err;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	pagemap = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = pagemap < 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0) {
		err = -errno;
		if (pagemap >= 0)
			close(pagemap);
		vma_list_free(&all);
		return err;
	}
	for (size_t i = 0; i < all.count && !err; i++) {
		struct vma *v = &all.vma[i];

		const struct fileref_candidate *c = fileref_find(refs, v);

		if (is_kernel_mapping(v)) {
			vdso_see_mapping(&im->vdso, v);	/* carried apart (vdso.h) */
			continue;
		}
		err = pages ? plan_vma(im, &cap, pagemap, mem, v, c != NULL) : 0;
		if (!err && c)
			err = add_mapref(im, ref_caps, c, v);
		if (!err)
			err = array_reserve((void **)&im->vmas.vma, &vcap, im->vmas.count,
					    sizeof(*v));
		if (!err) {
			/* Move the mapping, name and all, into the image's list. */
			im->vmas.vma[im->vmas.count++] = *v;
			v->name = NULL;
		}
	}
	im->vmas.capacity = vcap;
	if (im->refs.nfiles)
		im->state.flags |= IMAGE_STATE_FILEREFS;
	close(mem);
	close(pagemap);
	vma_list_free(&all);
	return err;
}

int snapshot_read_mappings(pid_t pid, int maps_fd, struct fileref_set *refs, struct image *im)
{
	return plan_mappings(pid, maps_fd, refs, im, false);
}

/* The program's symbols, for backtraces from the image: best effort.  A
 * process restored by contmig runs from the restorer's memfd, whose symbols
 * are not the program's; it has none to give. */
static void read_symbols(pid_t pid, struct image *im)
{
	char path[64], target[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return;
	target[n] = '\0';
	if (strstr(target, "memfd:contmig-stub"))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (symtab_read_elf(fd, &im->syms))
		symtab_free(&im->syms);
	close(fd);
}

/* Signals pending for it, the thread's and the process's, in the order the
 * kernel would deliver them within each queue. */
static int collect_signals(pid_t pid, struct image *im)
{
	struct tracee_signal *sigs;
	size_t n;
	int err = tracee_peek_signals(pid, &sigs, &n);

	if (err || !n)
		return err;
	im->sig = calloc(n, sizeof(*im->sig));
	if (!im->sig) {
		free(sigs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct image_signal_rec *rec = &im->sig[im->nsig];

		/* Neither can wait in a queue for the copy: SIGKILL ends the
		 * process, a stop is its state (IMAGE_STATE_STOPPED). */
		if (sigs[i].info.si_signo == SIGKILL || sigs[i].info.si_signo == SIGSTOP)
			continue;
		rec->flags = sigs[i].shared ? IMAGE_SIGNAL_SHARED : 0;
		memcpy(rec->info, &sigs[i].info, sizeof(rec->info));
		im->nsig++;
	}
	free(sigs);
	return 0;
}

int snapshot_late_signals(pid_t pid, const struct image *im, struct tracee_signal **late,
			  size_t *n)
{
	struct tracee_signal *sigs;
	size_t count, k = 0;
	int err = tracee_peek_signals(pid, &sigs, &count);

	*late = NULL;
	*n = 0;
	if (err)
		return err;
	/* The image holds a prefix of each queue (less SIGKILL and SIGSTOP),
	 * in the same order: what does not match it came later. */
	for (size_t i = 0; i < count; i++) {
		const struct image_signal_rec *rec = k < im->nsig ? &im->sig[k] : NULL;

		if (rec && sigs[i].info.si_signo != SIGKILL && sigs[i].info.si_signo != SIGSTOP &&
		    !(rec->flags & IMAGE_SIGNAL_SHARED) == !sigs[i].shared &&
		    !memcmp(rec->info, &sigs[i].info, sizeof(rec->info))) {
			k++;
			continue;
		}
		sigs[(*n)++] = sigs[i];
	}
	if (*n)
		*late = sigs;
	else
		free(sigs);
	return 0;
}

/* Does crt0's canary sit at the top of the fixed stack (a Continuum program)? */
static bool has_canary(pid_t pid)
{
	uint64_t canary = 0;
	struct iovec local = { .iov_base = &canary, .iov_len = sizeof(canary) };
	struct iovec remote = { .iov_base = (void *)CONTRACT_CANARY_ADDR,
				.iov_len = sizeof(canary) };

	return process_vm_readv(pid, &local, 1, &remote, 1, 0) == sizeof(canary) &&
	       canary == CONTRACT_CANARY;
}

int snapshot_collect(struct tracee *t, const struct sigstate_read *pre,
		     struct fileref_set *refs, bool pages, struct image *im)
{
	pid_t pid = t->pid;
	struct proc_status st;
	char *auxv;
	size_t auxv_len;
	int err;

	memset(im, 0, sizeof(*im));
	im->state.version = IMAGE_VERSION;
	im->state.source_pid = pid;
	im->state.frozen_at = time(NULL);
	im->state.xfeatures = cpu_xcr0();
	cpu_xstate_layout(im);
	if (gethostname(im->state.hostname, sizeof(im->state.hostname) - 1) < 0)
		snprintf(im->state.hostname, sizeof(im->state.hostname), "?");
	err = procfs_read_status(pid, &st);
	if (err)
		return err;
	memcpy(im->state.comm, st.name, sizeof(im->state.comm) - 1);

	err = ptrace_get_regs(pid, &im->regs);
	if (!err)
		err = ptrace_get_xstate(pid, &im->xstate, &im->xstate_size);
	if (!err)
		err = ptrace_get_sigmask(pid, &im->state.sigmask);
	if (!err)
		err = collect_signals(pid, im);
	/* Who it runs as, so that a receiver gives its copy no more. */
	if (!err)
		err = creds_collect(pid, &im->creds);
	/* And what it may not do, so that its copy may not either. */
	if (!err)
		err = restrictions_collect(pid, &im->limits);
	if (!err)
		err = restrictions_refusal(pid, &im->limits, im->creds.uid[IMAGE_ID_EFFECTIVE],
					   im->why, sizeof(im->why));
	/* Its sandbox, so that the copy stays in it. */
	if (!err && (err = seccomp_collect(pid, &im->seccomp, im->why, sizeof(im->why))) &&
	    (err == -EACCES || err == -EPERM))
		err = -EBADMSG;		/* its filters are not ours to read: im->why says why */
	/* Where it works, so that its relative paths mean the same there. */
	if (!err && (err = workdir_refusal(pid, im->why, sizeof(im->why))) == 0)
		err = workdir_collect(pid, &im->workdir);
	/* What it does with its signals, and its timers: asked of it. */
	if (!err && pre && sigstate_still(pid, pre)) {
		im->sigactions = pre->sa;
		im->timers = pre->tm;
	} else if (!err) {
		err = sigstate_collect(t, &im->sigactions, &im->timers, im->why, sizeof(im->why));
	}
	if (!err)
		err = procfs_read_file(pid, "auxv", &auxv, &auxv_len);
	if (err)
		return err;
	im->auxv = (uint8_t *)auxv;
	im->auxv_size = auxv_len;
	if (has_canary(pid))
		im->state.flags |= IMAGE_STATE_CANARY;
	read_symbols(pid, im);
	/* Stopped now: a file written or replaced since it was hashed is stored. */
	if (refs)
		fileref_recheck(pid, refs);
	err = plan_mappings(pid, -1, refs, im, pages);
	/* What an ordinary program finds the kernel keeping for it. */
	if (!err)
		err = vdso_collect(pid, &im->vdso);
	if (!err)
		err = mm_collect(pid, im);
	if (!err)
		err = rseq_collect(pid, &im->rseq);
	/* Its clocks, so that the copy's go on from them (clocks.h). */
	if (!err)
		clocks_collect(pid, &im->clocks);
	if (im->workdir.known || im->mm.known || im->vdso.rec.vdso_size || im->rseq.len ||
	    im->sigactions.known || im->timers.known)
		im->state.flags |= IMAGE_STATE_KERNEL;
	return err ? err : image_layout(im);
}

/* A stretch of one segment in the copy buffer. */
struct piece {
	const struct image_segment *seg;
	uint64_t addr;
	size_t len;
};

/*
 * Copy the pieces of the process's memory into buf, one after the other.
 * process_vm_readv copies straight from the process's pages, all of them in
 * one call; /proc/PID/mem copies each page twice, through a kernel buffer,
 * but also reads pages the process itself may not (PROT_NONE, guard pages),
 * so it serves those, and any piece the first call could not finish.
 */
static int read_pieces(pid_t pid, int mem, const struct piece *p, size_t n, uint8_t *buf,
		       struct runs *unread)
{
	/* Running, the process may exec another program meanwhile: only mem,
	 * opened on its memory before, never reads the new one. */
	bool by_pid = !unread;
	struct iovec local[COPY_PIECES], remote[COPY_PIECES];
	size_t nread = 0, total = 0;
	ssize_t got = 0;
	uint8_t *at = buf;

	for (size_t i = 0; i < n; at += p[i].len, i++) {
		if (!(p[i].seg->prot & PROT_READ))
			continue;
		local[nread] = (struct iovec){ .iov_base = at, .iov_len = p[i].len };
		remote[nread++] = (struct iovec){ .iov_base = (void *)p[i].addr,
						  .iov_len = p[i].len };
		total += p[i].len;
	}
	if (nread && by_pid)
		got = process_vm_readv(pid, local, nread, remote, nread, 0);
	at = buf;
	for (size_t i = 0; i < n; at += p[i].len, i++) {
		ssize_t r;

		if (p[i].seg->prot & PROT_READ && got == (ssize_t)total)
			continue;
		r = pread(mem, at, p[i].len, p[i].addr);
		if (r == (ssize_t)p[i].len)
			continue;
		if (!unread)
			return r < 0 ? -errno : -EIO;
		/* Running, it may have unmapped it since: zeros for now. */
		memset(at, 0, p[i].len);
		if (runs_append(unread, p[i].addr, p[i].addr + p[i].len))
			return -ENOMEM;
	}
	return 0;
}

int snapshot_write(pid_t pid, struct image *im, struct stream *out, bool *output_failed)
{
	return snapshot_write_running(pid, -1, im, out, output_failed, NULL);
}

int snapshot_write_running(pid_t pid, int mem_fd, struct image *im, struct stream *out,
			   bool *output_failed, struct runs *unread)
{
	XXH3_state_t *sum = XXH3_createState();
	struct piece *pieces = malloc(COPY_PIECES * sizeof(*pieces));
	uint8_t *buf = malloc(COPY_CHUNK);
	size_t i = 0;			/* the segment being copied */
	uint64_t done = 0;		/* of it */
	char path[64];
	int mem, err;

	*output_failed = false;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = mem_fd >= 0 ? mem_fd : open(path, O_RDONLY | O_CLOEXEC);
	if (!sum || !pieces || !buf || mem < 0) {
		err = mem < 0 ? -errno : -ENOMEM;
		goto out;
	}
	err = image_write_head(im, out);
	*output_failed = err != 0;
	XXH3_64bits_reset(sum);
	/* A chunk is the end of one segment and as many after it as fit:
	 * small segments cost no system calls of their own. */
	while (!err && i < im->nseg) {
		size_t n = 0, len = 0;
		uint8_t *at = buf;

		for (size_t k = i; k < im->nseg && len < COPY_CHUNK && n < COPY_PIECES; k++) {
			const struct image_segment *s = &im->seg[k];
			uint64_t from = k == i ? done : 0;
			size_t take = s->size - from < COPY_CHUNK - len ? s->size - from :
				      COPY_CHUNK - len;

			pieces[n++] = (struct piece){ s, s->vaddr + from, take };
			len += take;
		}
		err = read_pieces(pid, mem, pieces, n, buf, unread);
		if (err)
			break;
		for (size_t k = 0; k < n; at += pieces[k++].len) {
			XXH3_64bits_update(sum, at, pieces[k].len);
			done += pieces[k].len;
			if (done == im->seg[i].size) {
				im->seg[i++].sum = XXH3_64bits_digest(sum);
				XXH3_64bits_reset(sum);
				done = 0;
			}
		}
		err = stream_write(out, buf, len);
		*output_failed = err != 0;
	}
	if (!err) {
		err = image_write_tail(im, out);
		*output_failed = err != 0;
	}
out:
	if (mem >= 0 && mem != mem_fd)
		close(mem);
	free(buf);
	free(pieces);
	XXH3_freeState(sum);
	return err;
}
