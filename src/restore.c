#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch-x86_64.h"
#include "clocks.h"
#include "contract.h"
#include "cpu.h"
#include "creds.h"
#include "delta.h"
#include "fileref.h"
#include "fill.h"
#include "reopen.h"
#include "restrictions.h"
#include "mm.h"
#include "procfs.h"
#include "ptrace.h"
#include "restore.h"
#include "rseq.h"
#include "seccomp.h"
#include "sigstate.h"
#include "testpoint.h"
#include "timedwait.h"
#include "vdso.h"
#include "workdir.h"

ATTR_PRINTF(4, 5)
static int fail(struct restore_result *res, enum restore_failure f, int err, const char *fmt, ...)
{
	va_list ap;

	res->failure = f;
	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
	return err ? err : -EINVAL;
}

int restore_preflight(const struct image *im, struct restore_result *res)
{
	uint64_t missing = image_xstate_bv(im) & ~cpu_xcr0();
	const struct image_vdso_rec *vdso = &im->vdso.rec;
	char why[sizeof(res->why)];

	memset(res, 0, sizeof(*res));
	if (missing) {
		char names[128];

		cpu_xfeature_names(missing, names, sizeof(names));
		return fail(res, RESTORE_CANNOT, -EOPNOTSUPP,
			    "the process uses CPU state this machine lacks: %s", names);
	}
	for (size_t i = 0; i < im->vmas.count; i++)
		if (im->vmas.vma[i].start < STUB_AREA_END && STUB_AREA_START < im->vmas.vma[i].end)
			return fail(res, RESTORE_CANNOT, -EADDRINUSE,
				    "the image maps %#lx-%#lx, where contmig's restorer runs",
				    im->vmas.vma[i].start, im->vmas.vma[i].end);
	if (vdso->vdso_size && vdso->vdso_start < STUB_AREA_END &&
	    STUB_AREA_START < vdso->vdso_start + vdso->vdso_size)
		return fail(res, RESTORE_CANNOT, -EADDRINUSE, "the process's vDSO was at %#lx, "
			    "where contmig's restorer runs", (unsigned long)vdso->vdso_start);
	/* A vDSO this kernel cannot serve is refused before anything starts. */
	if (vdso_check(im, why, sizeof(why)))
		return fail(res, RESTORE_CANNOT, -EOPNOTSUPP, "%s", why);
	return 0;
}

/* Remove every mapping the kernel gave the stub but its code page. */
static int clear_stub(struct remote *r, struct restore_result *res)
{
	struct vma_list maps;
	int err = procfs_read_maps(r->pid, &maps);

	if (err)
		return fail(res, RESTORE_CANNOT, err, "reading the restorer's mappings: %s",
			    strerror(-err));
	for (size_t i = 0; i < maps.count && !err; i++) {
		const struct vma *v = &maps.vma[i];
		long ret;

		if (v->start == STUB_TEXT_ADDR || !strcmp(v->name, "[vsyscall]"))
			continue;
		ret = remote_munmap(r, v->start, v->end - v->start);
		if (ret < 0)
			err = fail(res, RESTORE_CANNOT, ret, "removing the restorer's %s at %#lx: %s",
				   *v->name ? v->name : "mapping", v->start, strerror(-ret));
	}
	vma_list_free(&maps);
	return err;
}

/* Has file i a mapping to make (one that starts in fresh; any without it)?
 * A file the copy maps already is neither opened nor summed again. */
static bool file_wanted(const struct image *im, uint32_t i, const struct runs *fresh)
{
	for (size_t k = 0; fresh && k < im->refs.nmaps; k++)
		for (size_t f = 0; im->refs.map[k].file == i && f < fresh->count; f++)
			if (fresh->run[f].start <= im->refs.map[k].start &&
			    im->refs.map[k].start < fresh->run[f].end)
				return true;
	return !fresh;
}

/* The mappings whose files the image references: this machine's own files,
 * each checked to be the one referenced before it is mapped (fileref.h);
 * with fresh, only those that start in it. */
static int map_referenced_files(struct image *im, const struct runs *fresh, struct remote *r,
				struct restore_result *res)
{
	/* Until the last image of a live send, the files may change (it
	 * gives up references to those that do): their sums are checked
	 * with the last, for every file it still references. */
	bool last = !(im->state.flags & IMAGE_STATE_LIVE);
	char why[sizeof(res->why)];

	for (uint32_t i = 0; i < im->refs.nfiles; i++) {
		int err = 0;

		if (file_wanted(im, i, fresh))
			err = fileref_map(r, im, i, fresh, last ? 0 : FILEREF_NO_SUM, why,
					  sizeof(why));
		else if (last)
			err = fileref_map(r, im, i, NULL, FILEREF_NO_MAP, why, sizeof(why));
		if (err)
			return fail(res, RESTORE_CANNOT, err, "%s", why);
	}
	return 0;
}

/* Anonymous memory at [start, end) of mapping v, read and write for now. */
static int map_anonymous(const struct vma *v, uint64_t start, uint64_t end, struct remote *r,
			 struct restore_result *res)
{
	/* The main stack grows down again as it did: the copy may go deeper
	 * than the source ever went. */
	int grows = !strcmp(v->name, "[stack]") ? MAP_GROWSDOWN : 0;
	long ret = remote_mmap(r, start, end - start, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | grows, -1, 0);

	if (ret == -EEXIST)
		return fail(res, RESTORE_CANNOT, -EEXIST,
			    "%#lx-%#lx (%s) clashes with a mapping already there",
			    (unsigned long)start, (unsigned long)end,
			    *v->name ? v->name : "anonymous");
	if (ret < 0 || (unsigned long)ret != start)
		return fail(res, RESTORE_CANNOT, ret < 0 ? ret : -EADDRNOTAVAIL,
			    "mapping %#lx-%#lx: %s", (unsigned long)start, (unsigned long)end,
			    ret < 0 ? strerror(-ret) : "the kernel chose another address");
	return 0;
}

/* Unmap what the copy holds and im does not keep (delta.h). */
static int unmap_gone(struct image *im, const struct image *prev, struct remote *r,
		      struct restore_result *res)
{
	struct runs gone = { 0 };
	int err = delta_gone(prev, im, &gone);

	if (err)
		err = fail(res, RESTORE_CANNOT, err, "out of memory");
	for (size_t i = 0; !err && i < gone.count; i++) {
		long ret = remote_munmap(r, gone.run[i].start, gone.run[i].end - gone.run[i].start);

		if (ret < 0)
			err = fail(res, RESTORE_CANNOT, ret, "unmapping %#lx-%#lx: %s",
				   (unsigned long)gone.run[i].start, (unsigned long)gone.run[i].end,
				   strerror(-ret));
	}
	runs_free(&gone);
	return err;
}

/*
 * Map the pages of im the copy does not hold yet: all of them, or, after
 * the round prev of a live send, those it does not keep (delta.h), once
 * what it does not keep is gone.
 */
static int map_regions(struct image *im, const struct image *prev, struct remote *r,
		       struct restore_result *res)
{
	struct runs kept = { 0 }, whole = { 0 }, fresh = { 0 }, files = { 0 };
	int err = prev ? unmap_gone(im, prev, r, res) : 0;

	for (size_t i = 0; !err && i < im->vmas.count; i++) {
		const struct vma *v = &im->vmas.vma[i];

		runs_clear(&kept);
		runs_clear(&whole);
		err = prev ? delta_kept(prev, im, i, &kept) : 0;
		if (!err)
			err = runs_append(&whole, v->start, v->end);
		if (!err)
			err = runs_subtract(&whole, &kept, &fresh);
		if (err)
			err = fail(res, RESTORE_CANNOT, err, "out of memory");
		for (size_t k = 0; !err && k < fresh.count; k++)
			if (!image_mapref_of(im, v))
				err = map_anonymous(v, fresh.run[k].start, fresh.run[k].end, r, res);
			else if (runs_append(&files, fresh.run[k].start, fresh.run[k].end))
				err = fail(res, RESTORE_CANNOT, -ENOMEM, "out of memory");
	}
	if (!err)
		err = map_referenced_files(im, prev ? &files : NULL, r, res);
	runs_free(&kept);
	runs_free(&whole);
	runs_free(&fresh);
	runs_free(&files);
	return err;
}

/* A round's drops: pages the source emptied since, emptied in the copy
 * (anonymous memory reads zero again, a file's pages the file's). */
static int drop_pages(const struct image *im, struct remote *r, struct restore_result *res)
{
	for (size_t i = 0; i < im->drops.count; i++) {
		const struct run *d = &im->drops.run[i];
		long ret = remote_syscall(r, SYS_madvise, d->start, d->end - d->start,
					  MADV_DONTNEED, 0, 0, 0);

		if (ret < 0)
			return fail(res, RESTORE_CANNOT, ret, "emptying %#lx-%#lx: %s",
				    (unsigned long)d->start, (unsigned long)d->end, strerror(-ret));
	}
	return 0;
}

static int write_pieces(void *ctx, const struct image_piece *p, size_t n)
{
	struct iovec local[IMAGE_MAX_PIECES], remote[IMAGE_MAX_PIECES];

	for (size_t i = 0; i < n; i++) {
		local[i] = (struct iovec){ .iov_base = (void *)p[i].data, .iov_len = p[i].len };
		remote[i] = (struct iovec){ .iov_base = (void *)p[i].vaddr, .iov_len = p[i].len };
	}
	return remote_writev(ctx, local, remote, n);
}

/* Stream every segment from the image into place, summing as it arrives;
 * or from an image file, have the restorer read it into place (fill.h). */
static int fill_segments(struct image *im, struct stream *in, struct remote *r,
			 struct restore_result *res)
{
	uint64_t *got = calloc(im->nseg ? im->nseg : 1, sizeof(*got));
	bool write_failed;
	int err;

	if (!got)
		return fail(res, RESTORE_CANNOT, -ENOMEM, "out of memory");
	if (r->image_fd > 0)
		err = fill_from_file(im, in, r, got, &write_failed);
	else
		err = image_read_data(im, in, write_pieces, r, got, &write_failed);
	if (err == -EBADMSG)
		err = fail(res, RESTORE_BAD_IMAGE, err, "%s", im->why);
	else if (err && write_failed)
		err = fail(res, RESTORE_CANNOT, err, "writing the process's memory: %s",
			   strerror(-err));
	else if (err)
		err = fail(res, RESTORE_INPUT, err, "reading the image: %s", strerror(-err));
	for (size_t i = 0; !err && i < im->nseg; i++)
		if (got[i] != im->seg[i].sum)
			err = fail(res, RESTORE_BAD_IMAGE, -EBADMSG,
				   "checksum mismatch in segment %zu (%#lx, %lu bytes)", i,
				   (unsigned long)im->seg[i].vaddr, (unsigned long)im->seg[i].size);
	free(got);
	return err;
}

/* In a Continuum program, crt0's canary must be where it left it. */
static int check_canary(const struct image *im, struct remote *r, struct restore_result *res)
{
	uint64_t canary;
	int err;

	if (!(im->state.flags & IMAGE_STATE_CANARY))
		return 0;
	err = remote_read(r, CONTRACT_CANARY_ADDR, &canary, sizeof(canary));
	if (err)
		return fail(res, RESTORE_CANNOT, err, "reading the canary: %s", strerror(-err));
	if (canary != CONTRACT_CANARY)
		return fail(res, RESTORE_BAD_IMAGE, -EBADMSG,
			    "stack canary at %#lx is %#lx, not %#lx", CONTRACT_CANARY_ADDR,
			    (unsigned long)canary, CONTRACT_CANARY);
	return 0;
}

static int protect_regions(const struct image *im, struct remote *r, struct restore_result *res)
{
	for (size_t i = 0; i < im->vmas.count; i++) {
		const struct vma *v = &im->vmas.vma[i];
		long ret;

		if (v->prot == (PROT_READ | PROT_WRITE))
			continue;
		ret = remote_mprotect(r, v->start, v->end - v->start, v->prot);
		if (ret < 0)
			return fail(res, RESTORE_CANNOT, ret, "mprotect %#lx-%#lx: %s", v->start,
				    v->end, strerror(-ret));
	}
	return 0;
}

/*
 * What an ordinary program finds the kernel keeping for it, once its memory
 * is in place: the vDSO first (at its old address, which a scratch page
 * must not take), then the mm fields (brk, ...), then its rseq area.
 */
static int restore_kernel_state(const struct image *im, struct remote *r,
				struct restore_result *res)
{
	char why[sizeof(res->why) - 32];
	int err = vdso_restore(im, r, why, sizeof(why));

	if (err)
		return fail(res, RESTORE_CANNOT, err, "the vDSO: %s", why);
	err = mm_restore(im, r, why, sizeof(why));
	if (err)
		return fail(res, RESTORE_CANNOT, err, "the mm fields: %s", why);
	err = rseq_restore(im, r, why, sizeof(why));
	return err ? fail(res, RESTORE_CANNOT, err, "rseq: %s", why) : 0;
}

/* Give the process its old name (comm), through a scratch page. */
static int restore_name(const struct image *im, struct remote *r, struct restore_result *res)
{
	char name[16] = { 0 };
	long page = remote_mmap(r, 0, IMAGE_PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long ret;
	int err;

	if (page < 0)
		return fail(res, RESTORE_CANNOT, page, "scratch page: %s", strerror(-page));
	memcpy(name, im->state.comm, sizeof(name) - 1);
	err = remote_write(r, page, name, sizeof(name));
	ret = err ? err : remote_syscall(r, SYS_prctl, PR_SET_NAME, page, 0, 0, 0, 0);
	if (ret < 0)
		return fail(res, RESTORE_CANNOT, ret, "setting the name: %s", strerror(-ret));
	ret = remote_munmap(r, page, IMAGE_PAGE);
	return ret < 0 ? fail(res, RESTORE_CANNOT, ret, "scratch page: %s", strerror(-ret)) : 0;
}

/* Its working directory, by path: refused where this machine has none. */
static int restore_workdir(const struct image *im, struct remote *r, struct restore_result *res)
{
	char why[sizeof(res->why)];
	int err = workdir_restore(r, &im->workdir, why, sizeof(why));

	return err ? fail(res, RESTORE_CANNOT, err, "%s", why) : 0;
}

/* Say what the copy has less of, after what is said already. */
static void add_warning(struct restore_result *res, const char *text)
{
	size_t at = strlen(res->warning);

	snprintf(res->warning + at, sizeof(res->warning) - at, "%s%s", at ? "; " : "", text);
}

/*
 * What only the program's own code can give the copy once the restorer's is
 * gone: its signal actions, alternate stack and timers (the fault that
 * removed that code reset SIGSEGV's action, and each of its traps SIGTRAP's:
 * sigstate.h), then its seccomp filters, last (they may forbid any call,
 * those above included).  Each call runs at a syscall instruction of the
 * program (inject.h); then the process goes back into the stop the removal
 * left it in, and /proc must show the actions it was given.
 */
static int call_from_program(const struct image *im, struct remote *r,
			     struct restore_result *res)
{
	char why[sizeof(res->why)];
	unsigned long insn;
	struct inject in;
	bool lost_sigsegv;
	int err;

	if (!sigstate_wanted(&im->sigactions, &im->timers) && !im->seccomp.mode)
		return 0;
	err = inject_find_insn(r->pid, &im->vmas, &insn);
	if (err)
		return fail(res, RESTORE_CANNOT, err, "%s", err == -ENOENT ? "no syscall "
			    "instruction in the program's code to set its signal actions, timers "
			    "and seccomp at" : strerror(-err));
	err = inject_begin(&in, r->pid, insn, im->regs.rsp, SIGSTATE_SCRATCH);
	if (err)
		return fail(res, RESTORE_CANNOT, err, "preparing calls at %#lx, with results below "
			    "the stack pointer %#llx: %s", insn, im->regs.rsp, strerror(-err));
	err = sigstate_restore(&in, &im->sigactions, &im->timers, why, sizeof(why));
	/* (Where the tests let its timers fire into the restorer.) */
	test_point("restore-timers-set");
	if (!err)
		err = seccomp_install(&in, im, why, sizeof(why));
	r->stop_wanted |= in.stop_wanted;
	if (err)
		return fail(res, RESTORE_CANNOT, err, "%s", why);
	err = inject_end(&in);
	if (!err)
		err = remote_refault(r);
	if (err)
		return fail(res, RESTORE_CANNOT, err, "returning the restorer to its last stop: %s",
			    strerror(-err));
	err = sigstate_verify(r->pid, &im->sigactions, &lost_sigsegv, why, sizeof(why));
	if (err)
		return fail(res, RESTORE_CANNOT, err, "%s", why);
	if (lost_sigsegv)
		add_warning(res, "it ignored SIGSEGV, which the copy takes with the default action "
			    "(the fault that ends the restorer resets an ignored SIGSEGV)");
	return 0;
}

/*
 * A sleep the freeze cut short, whose rem holds what was left, goes on in
 * the copy for that as it would have gone on in its source: from a restart
 * block, which the kernel keeps for the thread and cannot take from another
 * machine.  The same call, made by the restorer for the remainder and cut
 * short at once (remote_cut_short), leaves the copy one of its own; the
 * program then goes on with restart_syscall, its registers as they were.
 * *cut_short: that call's result (timed_wait_resume_regs), or 0.
 */
static int arm_sleep(const struct image *im, struct remote *r, long *cut_short,
		     struct restore_result *res)
{
	const struct user_regs_struct *g = &im->regs;
	long long nr = (long long)g->orig_rax;
	long ret;

	*cut_short = 0;
	if ((long long)g->rax != -ERESTART_RESTARTBLOCK || timed_wait_kind(nr, g) != TIMED_WAIT_KEPT)
		return 0;
	/* For what rem holds, into rem, on the clock it slept on. */
	if (nr == SYS_nanosleep)
		ret = remote_cut_short(r, nr, g->rsi, g->rsi, 0, 0);
	else
		ret = remote_cut_short(r, nr, g->rdi, 0, g->r10, g->r10);
	/* (A call that failed is the copy's loss, not a reason to refuse it:
	 * a stub that died fails the next step.) */
	if (ret != -ERESTART_RESTARTBLOCK && ret != 0)
		add_warning(res, "the sleep it was in could not go on for what remained, so it "
			    "ends at once");
	*cut_short = ret;
	return 0;
}

/* Does a handler run as the copy starts: a signal pending that it does not
 * block and catches?  (Only it can cut a wait short in the copy.) */
static bool handler_first(const struct image *im)
{
	for (size_t i = 0; i < im->nsig; i++) {
		int32_t signo;

		memcpy(&signo, im->sig[i].info, sizeof(signo));
		if (signo < 1 || signo > IMAGE_MAX_SIGNAL ||
		    im->state.sigmask & (1ULL << (signo - 1)))
			continue;
		for (uint32_t a = 0; a < im->sigactions.head.count; a++)
			if (im->sigactions.act[a].signo == (uint32_t)signo &&
			    im->sigactions.act[a].handler > 1)
				return true;
	}
	return false;
}

static int set_cpu_state(const struct image *im, struct remote *r, long cut_short,
			 struct restore_result *res)
{
	struct user_regs_struct regs = im->regs;
	uint8_t *host;
	size_t host_len;
	int err;

	err = ptrace_get_xstate(r->pid, &host, &host_len);
	if (err)
		return fail(res, RESTORE_CANNOT, err, "reading XSAVE state: %s", strerror(-err));
	err = cpu_convert_xstate(im, host, host_len);
	if (err)
		err = fail(res, RESTORE_CANNOT, err, "the XSAVE layout of this CPU cannot hold "
			   "the process's state");
	else if ((err = ptrace_set_xstate(r->pid, host, host_len)))
		err = fail(res, RESTORE_CANNOT, err, "setting XSAVE state: %s", strerror(-err));
	free(host);
	if (err)
		return err;
	err = remote_unmap_stub(r);
	if (err)
		return fail(res, RESTORE_CANNOT, err, "removing the restorer's code: %s",
			    strerror(-err));
	err = call_from_program(im, r, res);
	if (err)
		return err;
	/*
	 * The program's mask only now: with it, the signals pending for the
	 * program that it does not block would be delivered at the stub's next
	 * step.
	 */
	err = ptrace_set_sigmask(r->pid, im->state.sigmask);
	if (err)
		return fail(res, RESTORE_CANNOT, err, "setting the signal mask: %s", strerror(-err));
	/*
	 * A process stopped inside a blocking call has it in orig_rax and a
	 * restart code in rax.  The copy goes on from a signal stop (the
	 * restorer's last fault), after which the kernel decides on its way
	 * back to user space as it would have on the old machine: run the call
	 * again, or return EINTR to a handler that runs first (restarting it
	 * ourselves would take a signal that came first for nothing: a pause(2)
	 * waiting for it would wait for ever).  Only a call the old kernel
	 * would have restarted from its restart block, which stayed behind,
	 * changes (timedwait.h).
	 */
	timed_wait_resume_regs(&regs, cut_short, handler_first(im));
	/* The selectors are the same on every x86-64 Linux; do not trust the image's. */
	regs.cs = r->regs.cs;
	regs.ss = r->regs.ss;
	regs.ds = regs.es = regs.fs = regs.gs = 0;
	err = ptrace_set_regs(r->pid, &regs);
	return err ? fail(res, RESTORE_CANNOT, err, "setting the registers: %s", strerror(-err)) : 0;
}

/* Queue one signal in the process, from inside it (info is in page). */
static long queue_signal(struct remote *r, unsigned long page, const void *info, bool shared)
{
	int32_t signo;
	long ret;
	int err;

	memcpy(&signo, info, sizeof(signo));
	/*
	 * A SIGTRAP or SIGSEGV for the thread would merge with the one our own
	 * int3 or the final fault raises there (a standard signal is queued
	 * once per queue) and be taken for it: queue those for the process,
	 * which in a single-threaded process is the same to the program.
	 */
	if (signo == SIGTRAP || signo == SIGSEGV)
		shared = true;
	err = remote_write(r, page, info, sizeof(siginfo_t));
	if (err)
		return err;
	/* From the process itself any si_code is allowed, and si_pid, si_uid
	 * and the value stay those of the sender. */
	if (shared)
		ret = remote_syscall(r, SYS_rt_sigqueueinfo, r->pid, signo, page, 0, 0, 0);
	else
		ret = remote_syscall(r, SYS_rt_tgsigqueueinfo, r->pid, r->pid, signo, page, 0, 0);
	return ret;
}

/*
 * Make the signals pending at the freeze pending again, and those that
 * stopped the restorer on the way: every signal is blocked in the stub, so
 * they wait there until the program runs with its own mask.
 */
static int queue_signals(const struct image *im, struct remote *r, struct restore_result *res)
{
	long page, ret = 0;
	size_t i;

	if (!im->nsig && !r->nnoted)
		return 0;
	page = remote_mmap(r, 0, IMAGE_PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page < 0)
		return fail(res, RESTORE_CANNOT, page, "scratch page: %s", strerror(-page));
	for (i = 0; i < im->nsig && ret >= 0; i++)
		ret = queue_signal(r, page, im->sig[i].info, im->sig[i].flags & IMAGE_SIGNAL_SHARED);
	if (ret < 0)
		return fail(res, RESTORE_CANNOT, ret, "queuing pending signal %zu: %s", i - 1,
			    strerror(-ret));
	/* Noting goes on while we queue: take them one at a time. */
	while (r->nnoted && ret >= 0) {
		siginfo_t si = r->noted[0];

		memmove(r->noted, r->noted + 1, --r->nnoted * sizeof(si));
		ret = queue_signal(r, page, &si, true);
	}
	if (ret < 0)
		return fail(res, RESTORE_CANNOT, ret, "queuing a signal sent to the restorer: %s",
			    strerror(-ret));
	ret = remote_munmap(r, page, IMAGE_PAGE);
	return ret < 0 ? fail(res, RESTORE_CANNOT, ret, "scratch page: %s", strerror(-ret)) : 0;
}

/* Is SIGCONT pending in pid (its thread's queue or its process's)? */
static bool sigcont_pending(pid_t pid)
{
	char path[64], line[128];
	bool pending = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long mask;

		if ((sscanf(line, "SigPnd: %llx", &mask) == 1 ||
		     sscanf(line, "ShdPnd: %llx", &mask) == 1) && mask & (1ULL << (SIGCONT - 1)))
			pending = true;
	}
	if (f)
		fclose(f);
	return pending;
}

int restore_release(struct remote *r, const struct image *im)
{
	bool stop = im->state.flags & IMAGE_STATE_STOPPED;
	int sig = 0, err;

	/* A SIGSTOP sent to the restorer was meant for the program, unless a
	 * SIGCONT came after it (sending SIGSTOP discards a pending SIGCONT,
	 * so one still pending came later). */
	if (r->stop_wanted && !stop)
		stop = !sigcont_pending(r->pid);
	/*
	 * It stops as we let go, before it takes any pending signal: a stopped
	 * process with, say, a SIGTERM pending is stopped, and dies only when
	 * continued.  (The signal we let go with is handled first: a SIGSTOP
	 * sent instead would come after lower-numbered pending signals.)
	 * A signal that reached the restorer after the others were queued goes
	 * in as we let go (delivered, or pending if the program blocks it), or
	 * by kill() when the SIGSTOP takes that place.
	 */
	if (stop)
		sig = SIGSTOP;
	for (size_t i = 0; i < r->nnoted; i++) {
		if (!sig && ptrace(PTRACE_SETSIGINFO, r->pid, 0, &r->noted[i]) == 0)
			sig = r->noted[i].si_signo;
		else if (kill(r->pid, r->noted[i].si_signo) < 0)
			return -errno;
	}
	err = ptrace_detach(r->pid, sig);
	if (!err)
		r->nnoted = 0;
	return err;
}

int restore_hold(struct remote *r, const struct image *im, bool *wake)
{
	bool stop = im->state.flags & IMAGE_STATE_STOPPED;
	siginfo_t si;
	int status, err;

	if (r->stop_wanted && !stop)
		stop = !sigcont_pending(r->pid);
	/* Signals that reached the restorer too late to be queued inside wait
	 * in the copy's queue while it is held. */
	for (size_t i = 0; i < r->nnoted; i++)
		if (kill(r->pid, r->noted[i].si_signo) < 0)
			return -errno;
	r->nnoted = 0;
	/* In place of the restorer's last signal, a SIGSTOP: the copy enters a
	 * group stop, which outlasts our ptrace. */
	if (ptrace(PTRACE_CONT, r->pid, 0, SIGSTOP) < 0)
		return -errno;
	err = ptrace_wait(r->pid, &status);
	if (err)
		return err;
	/* A group stop has no siginfo; a signal-delivery stop has one. */
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP ||
	    ptrace(PTRACE_GETSIGINFO, r->pid, 0, &si) == 0)
		return -EPROTO;
	*wake = !stop;
	return 0;
}

/*
 * The source's restrictions (restrictions.h), taken on before the copy runs, and
 * then looked at: a copy that holds more than its source did is not let go.
 */
static int impose_restrictions(const struct image *im, struct remote *r,
			       struct restore_result *res)
{
	char why[sizeof(res->why) - 64];
	int err = restrictions_impose(&im->limits, r, res->warning, sizeof(res->warning), why,
				sizeof(why));

	if (!err)
		err = restrictions_verify(r->pid, &im->limits, why, sizeof(why));
	return err ? fail(res, RESTORE_CANNOT, err, "giving the copy its source's restrictions: "
			  "%s", why) : 0;
}

/* Each open file's path is looked at before the memory comes: a file
 * changed since the freeze refuses the move before the image is taken
 * whole (a pipe's writer then keeps its process). */
static int precheck_files(const struct image *im, struct remote *r, struct restore_result *res)
{
	char why[sizeof(res->why)];
	int err = reopen_precheck(im, r, r->reopen_changed, why, sizeof(why));

	return err ? fail(res, RESTORE_CANNOT, err, "%s", why) : 0;
}

/* The files are opened once the copy holds no more privilege than its
 * source did (impose_restrictions), as its own user: it gets at no file
 * its source could not have opened. */
static int open_files(const struct image *im, struct remote *r, struct restore_result *res)
{
	char why[sizeof(res->why)];
	int err = reopen_files(im, r, r->reopen_changed, res->warning, sizeof(res->warning), why,
			       sizeof(why));

	return err ? fail(res, RESTORE_CANNOT, err, "%s", why) : 0;
}

/*
 * A process that was not dumpable (a set-user-ID program's memory) is
 * restored into a restorer made so before a byte of it arrives, and stays
 * so: its user may read neither.  Only root may (CAP_SYS_PTRACE), which is
 * also what it takes to write into such a process.
 */
static int keep_undumpable(const struct image *im, struct remote *r, struct restore_result *res)
{
	long ret;

	if (!(im->limits.rec.flags & IMAGE_LIMITS_NOT_DUMPABLE))
		return 0;
	if (geteuid() != 0)
		return fail(res, RESTORE_CANNOT, -EPERM, "the process was not dumpable (a "
			    "set-user-ID program, or PR_SET_DUMPABLE 0): only root restores it, "
			    "its memory kept from its user");
	ret = remote_syscall(r, SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0, 0);
	return ret < 0 ? fail(res, RESTORE_CANNOT, ret, "making the restorer not dumpable: %s",
			      strerror(-ret)) : 0;
}

/* Is the restorer in the time namespace planned for the copy (clocks.h)? */
static int check_clocks(struct remote *r, struct restore_result *res)
{
	char why[sizeof(res->why)];
	int err = clocks_check(r->pid, &r->clocks, r->timens_err, why, sizeof(why));

	return err ? fail(res, RESTORE_CANNOT, err, "%s", why) : 0;
}

/*
 * How the copy's clocks went, where that matters (another boot, a source
 * in a time namespace): on for the summary line, or this machine's, which
 * the copy has less of.
 */
static void say_clocks(const struct image *im, const struct remote *r,
		       struct restore_result *res)
{
	char text[sizeof(r->clocks.why) + 96];
	struct clocks_plan last;

	if (r->clocks.lost && r->clocks.matters) {
		snprintf(text, sizeof(text), "it runs on this machine's CLOCK_MONOTONIC and "
			 "CLOCK_BOOTTIME, not its source's: %s", r->clocks.why);
		add_warning(res, text);
	}
	/*
	 * The offsets were set by the first image (a live send's first round,
	 * a chain's base), before the source ran on: by its last, with this
	 * machine's wall clock behind the source's by more than the pause,
	 * the copy's clocks are behind where the source's were (more than a
	 * 10 ms off: not the noise of two readings, or of NTP slewing one).
	 */
	if (r->clocks.make && !r->clocks.lost) {
		clocks_plan(&im->clocks, false, &last);
		if (last.monotonic - r->clocks.monotonic > 10000000) {
			snprintf(text, sizeof(text), "its CLOCK_MONOTONIC went back %.3f s across "
				 "the move: this machine's wall clock is behind its source's",
				 (last.monotonic - r->clocks.monotonic) / 1e9);
			add_warning(res, text);
		}
	}
	clocks_summary(&r->clocks, res->clocks, sizeof(res->clocks));
}

int restore_begin(struct image *im, struct stream *in, struct remote *r,
		  struct restore_result *res)
{
	int err;

	memset(res, 0, sizeof(*res));
	/* By the first image's clocks: a live send's rounds all map the
	 * source's clocks to real time the same way (clocks.h). */
	clocks_plan(&im->clocks, r->creds && r->creds->change && r->creds->uid != getuid(),
		    &r->clocks);
	err = remote_spawn(r);
	if (err)
		return fail(res, RESTORE_CANNOT, err, "starting the restorer%s%s%s: %s",
			    r->spawn_failed ? " (" : "", r->spawn_failed ? r->spawn_failed : "",
			    r->spawn_failed ? ")" : "", strerror(-err));
	/* Before it maps anything: the restorer is whom the copy runs as. */
	err = creds_verify(r->pid, r->creds, res->why, sizeof(res->why));
	if (err) {
		res->failure = RESTORE_CANNOT;
		remote_kill(r);
		return err;
	}
	err = check_clocks(r, res);
	if (!err)
		err = keep_undumpable(im, r, res);
	if (!err)
		err = clear_stub(r, res);
	if (!err)
		err = map_regions(im, NULL, r, res);
	/* A live send's files are looked at with its last image: they may
	 * change until the process stops. */
	if (!err && !(im->state.flags & IMAGE_STATE_LIVE))
		err = precheck_files(im, r, res);
	/*
	 * No huge pages asked for (MADV_HUGEPAGE) where the kernel gives them
	 * only on request: on a machine whose memory the host takes back, a
	 * 2 MiB page costs a compaction as often as not, and a 1 GiB thaw
	 * streamed into them took twice as long as into 4 KiB pages (medians;
	 * contmig(1)).  (Under THP "always" the kernel does as it is set to.)
	 */
	if (!err)
		err = fill_segments(im, in, r, res);
	if (err)
		remote_kill(r);
	return err;
}

int restore_update(struct image *next, const struct image *prev, struct stream *in,
		   struct remote *r, struct restore_result *res)
{
	int err = map_regions(next, prev, r, res);

	if (!err)
		err = drop_pages(next, r, res);
	if (!err && !(next->state.flags & IMAGE_STATE_LIVE))
		err = precheck_files(next, r, res);
	if (!err)
		err = fill_segments(next, in, r, res);
	if (err)
		remote_kill(r);
	return err;
}

int restore_finish(struct image *im, struct remote *r, struct restore_result *res)
{
	int err = check_canary(im, r, res);
	long cut_short = 0;

	if (!err)
		err = protect_regions(im, r, res);
	if (!err)
		err = restore_kernel_state(im, r, res);
	if (!err)
		err = restore_name(im, r, res);
	if (!err)
		err = restore_workdir(im, r, res);
	/* (Before any signal is pending for the program: see remote_cut_short.) */
	if (!err)
		err = arm_sleep(im, r, &cut_short, res);
	if (!err)
		err = queue_signals(im, r, res);
	if (!err)
		err = impose_restrictions(im, r, res);
	if (!err)
		err = open_files(im, r, res);
	if (!err)
		err = set_cpu_state(im, r, cut_short, res);
	if (err)
		remote_kill(r);
	else
		say_clocks(im, r, res);
	return err;
}

int restore_build(struct image *im, struct stream *in, struct remote *r,
		  struct restore_result *res)
{
	int err = restore_begin(im, in, r, res);

	return err ? err : restore_finish(im, r, res);
}
