#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "delta.h"
#include "fileref.h"
#include "precopy.h"
#include "snapshot.h"

/* Emptied runs of one mapping past which it is sent whole again: each
 * costs the receiver a call while the source waits.  A checkpoint's are
 * paid only by a resume, and a second between two checkpoints empties far
 * more than a round's milliseconds: storing the mapping again would cost
 * far more. */
#define MAX_LOST_RUNS		64
#define MAX_LOST_RUNS_CHECKPOINT 4096

/* A round storing this little is the last worth running before the stop. */
#define SMALL_ROUND	(256UL << 10)

int precopy_start(struct precopy *p, const struct tracee *t, int timeout_ms,
		  struct fileref_set *refs, char *why, size_t why_len)
{
	char path[64];
	int err;

	memset(p, 0, sizeof(*p));
	p->pid = t->pid;
	p->refs = refs;
	p->pagemap = p->mem = p->maps = -1;
	err = dirty_start(&p->dirty, t, timeout_ms, why, why_len);
	if (err)
		return err;
	/* Opened once: each holds the memory the process has now, and reads
	 * nothing of a program it may exec during the rounds (a set-user-ID
	 * one's memory must never reach a copy run as its user). */
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)t->pid);
	p->pagemap = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)t->pid);
	p->mem = p->pagemap < 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)t->pid);
	p->maps = p->mem < 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (p->maps < 0) {
		err = say_why(-errno, why, why_len, "%s: %s", path, strerror(errno));
		precopy_end(p);
	}
	return err;
}

void precopy_end(struct precopy *p)
{
	dirty_stop(&p->dirty);
	if (p->pagemap >= 0)
		close(p->pagemap);
	if (p->mem >= 0)
		close(p->mem);
	if (p->maps >= 0)
		close(p->maps);
	p->pagemap = p->mem = p->maps = -1;
	image_free(&p->prev);
	runs_free(&p->held);
	runs_free(&p->unread);
}

/*
 * Does the kernel write to the process's memory where no page table sees it
 * (pages pinned for an io_uring's fixed buffers, RDMA, a device: VmPin), or
 * may it soon (an io_uring)?  Then no write tracking can be trusted, and the
 * last round stores everything.
 */
static bool writes_unseen(pid_t pid)
{
	struct fd_list fds = { 0 };
	uint64_t pinned = 0;
	size_t len;
	char *status;
	bool unseen = false;

	if (procfs_read_file(pid, "status", &status, &len) == 0) {
		unseen = procfs_status_number(status, "VmPin", 10, &pinned) == 1 && pinned;
		free(status);
	}
	if (!unseen && procfs_list_fds(pid, &fds) == 0)
		for (size_t i = 0; i < fds.count && !unseen; i++)
			unseen = strstr(fds.fd[i].target, "[io_uring]") != NULL;
	fd_list_free(&fds);
	return unseen;
}

/* The working sets of one mapping's planning. */
struct plan {
	struct runs kept, fresh, refresh, store, anon, own, held, lost, tmp, tmp2;
	bool own_known;			/* own is of every kept page already */
};

static void plan_free(struct plan *w)
{
	struct runs *all[] = { &w->kept, &w->fresh, &w->refresh, &w->store, &w->anon,
			       &w->own, &w->held, &w->lost, &w->tmp, &w->tmp2 };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		runs_free(all[i]);
}

/* a = a ∪ b, through tmp. */
static int add_to(struct runs *a, const struct runs *b, struct runs *tmp)
{
	int err = runs_union(a, b, tmp);
	struct runs swap = *a;

	if (err)
		return err;
	*a = *tmp;
	*tmp = swap;
	return 0;
}

/*
 * What an image planned against the copy is: a round of the running
 * process (its untracked mappings wait for the last; its pages are marked
 * again), the last one of a live send (the process stopped: everything is
 * in, and nothing need be marked, since no look comes after), or a
 * checkpoint (stopped and complete, and marked again for the next one).
 */
enum plan_kind { PLAN_ROUND, PLAN_LAST, PLAN_CHECKPOINT };

/*
 * Scan the kept pages of v: what was written joins store (its own pages)
 * or nothing (a file's, which the copy has); a run where the mapping is not
 * the one tracked (made again since) joins refresh, to be stored whole.
 */
static int scan_kept(struct precopy *p, struct plan *w, enum plan_kind kind)
{
	int err = 0;

	/* The last look at anonymous memory takes what find_lost needs too,
	 * in the same walk: the process is stopped, and every walk is pause. */
	w->own_known = kind == PLAN_LAST;
	for (size_t k = 0; !err && k < w->kept.count; k++) {
		err = w->own_known ?
		      dirty_last(&p->dirty, w->kept.run[k].start, w->kept.run[k].end, &w->anon,
				 &w->own) :
		      dirty_scan(&p->dirty, w->kept.run[k].start, w->kept.run[k].end, &w->anon);
		if (err == -EPERM)
			err = runs_append(&w->refresh, w->kept.run[k].start, w->kept.run[k].end);
	}
	return err;
}

/*
 * Of anonymous mapping v: pages the copy holds bytes of that the process
 * emptied since (MADV_DONTNEED) are w->lost, for the copy to empty too;
 * w->held is what the copy holds of v after this round.
 */
static int find_lost(struct precopy *p, const struct vma *v, struct plan *w)
{
	int err = 0;

	runs_clear(&w->held);
	runs_clear(&w->tmp2);
	err = runs_clip(&p->held, v->start, v->end, &w->tmp2);
	if (!err)
		err = runs_intersect(&w->tmp2, &w->kept, &w->held);
	/* What it holds of a refreshed part is what it is sent again. */
	if (!err)
		err = runs_subtract(&w->held, &w->refresh, &w->tmp2);
	/* One walk of the mapping, not one per run of a scattered set. */
	if (!err && w->tmp2.count && !w->own_known)
		err = dirty_own(&p->dirty, w->tmp2.run[0].start,
				w->tmp2.run[w->tmp2.count - 1].end, &w->own);
	if (!err)
		err = runs_subtract(&w->tmp2, &w->own, &w->lost);
	if (!err)
		err = runs_subtract(&w->tmp2, &w->lost, &w->held);
	return err;
}

/*
 * Plan mapping i of next against what the copy holds: next's segments for
 * it, its drops, and what the copy will hold of it (new_held).
 */
static int plan_mapping(struct precopy *p, struct image *next, size_t i, enum plan_kind kind,
			size_t *cap, struct runs *new_held)
{
	bool complete = kind != PLAN_ROUND, mark = kind != PLAN_LAST;
	const struct vma *v = &next->vmas.vma[i];
	bool referenced = image_mapref_of(next, v) != NULL;
	bool anon = v->name[0] != '/' && !referenced;	/* as delta.c sees it */
	/* Only anonymous memory: a file's pages change with the file, and a
	 * page the process copied and then dropped goes back to the file's
	 * without a trace a scan can tell.  Mappings of files go whole again
	 * in the last round. */
	bool tracked = anon && !p->blind;
	struct plan w = { 0 };
	int err = 0;

	if (p->have_prev)
		err = delta_kept(&p->prev, next, i, &w.kept);
	if (!err)
		err = runs_append(&w.tmp, v->start, v->end);
	if (!err)
		err = runs_subtract(&w.tmp, &w.kept, &w.fresh);
	if (!err && tracked && dirty_track(&p->dirty, v->start, v->end))
		tracked = false;	/* not now: the kept pages wait */
	if (!err && tracked)
		err = scan_kept(p, &w, kind);
	else if (!err && complete)
		err = runs_clip(&w.kept, v->start, v->end, &w.refresh);
	/* Marked before they are read: a write from now on shows next round
	 * (none comes after the last). */
	for (size_t k = 0; !err && tracked && mark && k < w.fresh.count; k++) {
		runs_clear(&w.tmp2);
		err = dirty_scan(&p->dirty, w.fresh.run[k].start, w.fresh.run[k].end, &w.tmp2);
		if (err == -EPERM)
			err = 0;	/* made again since: refreshed next round */
	}
	if (!err && anon)
		err = find_lost(p, v, &w);
	/* Scattered empty pages cost the receiver a call each: past a few
	 * dozen, the mapping is emptied and stored whole again instead. */
	if (!err && (w.lost.count > (kind == PLAN_CHECKPOINT ? MAX_LOST_RUNS_CHECKPOINT :
				     MAX_LOST_RUNS) ||
		     next->drops.count + w.lost.count > IMAGE_MAX_DROPS / 2)) {
		runs_clear(&w.refresh);
		runs_clear(&w.lost);
		runs_clear(&w.anon);
		err = runs_clip(&w.kept, v->start, v->end, &w.refresh);
		runs_clear(&w.held);
	}
	/* A part stored whole is emptied first: what the copy held there goes.
	 * Mapping by mapping in address order: each one's drops come after
	 * those of the ones before. */
	if (!err)
		err = runs_union(&w.lost, &w.refresh, &w.tmp);
	if (!err)
		err = runs_append_all(&next->drops, &w.tmp);
	/* What to store: the fresh and refreshed parts as a freeze would, the
	 * process's own pages written since, and what a round could not read. */
	if (!err)
		err = runs_union(&w.fresh, &w.refresh, &w.tmp);
	for (size_t k = 0; !err && k < w.tmp.count; k++)
		err = snapshot_stored_pages(p->pagemap, p->mem, v, w.tmp.run[k].start,
					    w.tmp.run[k].end, referenced, &w.store);
	if (!err)
		err = add_to(&w.store, &w.anon, &w.tmp);
	if (!err) {
		runs_clear(&w.tmp2);
		err = runs_clip(&p->unread, v->start, v->end, &w.tmp2);
	}
	if (!err)
		err = add_to(&w.store, &w.tmp2, &w.tmp);
	if (!err)
		err = snapshot_add_segments(next, cap, v, &w.store);
	if (!err && anon)
		err = add_to(&w.held, &w.store, &w.tmp);
	if (!err && anon)
		err = runs_append_all(new_held, &w.held);
	plan_free(&w);
	return err;
}

/* next's segments and drops against what the copy holds; p->held is what
 * it will hold once next is in. */
static int plan_delta(struct precopy *p, struct image *next, enum plan_kind kind)
{
	struct runs new_held = { 0 }, tmp = { 0 };
	size_t cap = 0;
	int err = 0;

	free(next->seg);
	next->seg = NULL;
	next->nseg = 0;
	runs_clear(&next->drops);
	if (writes_unseen(p->pid))
		p->blind = true;
	err = dirty_round(&p->dirty, kind != PLAN_ROUND);
	for (size_t i = 0; !err && i < next->vmas.count; i++)
		err = plan_mapping(p, next, i, kind, &cap, &new_held);
	/* Drops outside next's mappings are the gone ones', unmapped anyway. */
	if (!err) {
		runs_free(&p->held);
		p->held = new_held;
		new_held = (struct runs){ 0 };
	}
	runs_free(&new_held);
	runs_free(&tmp);
	return err;
}

/* What precopy_round's out owns (the rest is base's). */
static void free_round(struct image *out)
{
	vma_list_free(&out->vmas);
	image_filerefs_free(&out->refs);
	runs_free(&out->drops);
	free(out->seg);
	free(out->head);
	memset(out, 0, sizeof(*out));
}

int precopy_round(struct precopy *p, const struct image *base, struct image *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	/* The state the receiver needs before the last round: whom the copy
	 * runs as, what it may not do, its files (checked early).  The rest
	 * comes with the last. */
	out->state = base->state;
	out->state.flags &= ~IMAGE_STATE_FILEREFS;	/* as this round's mappings say */
	out->state.flags |= IMAGE_STATE_LIVE | (p->have_prev ? IMAGE_STATE_DELTA : 0);
	out->regs = base->regs;
	out->xstate = base->xstate;
	out->xstate_size = base->xstate_size;
	out->creds = base->creds;
	out->limits = base->limits;
	out->seccomp = base->seccomp;
	out->file = base->file;
	out->nfile = base->nfile;
	out->workdir = base->workdir;
	/* The receiver sets the copy's clocks as it starts it, with the first. */
	out->clocks = base->clocks;
	/* A file written since it was offered is the receiver's no more. */
	if (p->refs)
		fileref_recheck(p->pid, p->refs);
	err = snapshot_read_mappings(p->pid, p->maps, p->refs, out);
	if (!err && !out->vmas.count)
		err = -ESRCH;	/* the memory we looked at is gone: it ended, or exec'd */
	memset(&out->vdso, 0, sizeof(out->vdso));	/* the last round's */
	if (!err)
		err = plan_delta(p, out, PLAN_ROUND);
	if (!err)
		err = image_layout(out);
	if (err)
		free_round(out);
	return err;
}

/* The copy holds im's mappings now: keep them to plan the next. */
static void hold(struct precopy *p, struct image *im)
{
	image_free(&p->prev);
	p->prev.vmas = im->vmas;
	p->prev.refs = im->refs;
	im->vmas = (struct vma_list){ 0 };
	im->refs = (struct image_filerefs){ 0 };
	p->have_prev = true;
}

void precopy_sent(struct precopy *p, struct image *out, struct runs *unread)
{
	runs_free(&p->unread);
	p->unread = *unread;
	*unread = (struct runs){ 0 };
	if (p->rounds <= PRECOPY_MAX_ROUNDS)
		p->stored[p->rounds] = image_stored_bytes(out);
	p->rounds++;
	hold(p, out);
	free_round(out);
}

bool precopy_again(const struct precopy *p)
{
	uint64_t last = p->rounds ? p->stored[p->rounds - 1] : 0, total = 0;

	for (unsigned i = 0; i < p->rounds && i <= PRECOPY_MAX_ROUNDS; i++)
		total += p->stored[i];
	if (p->blind)
		return false;	/* the last round stores everything anyway */
	if (p->rounds < 2)
		return true;
	if (p->rounds >= PRECOPY_MAX_ROUNDS || last <= SMALL_ROUND)
		return false;
	/* A bound on bytes too: rounds past twice the first are a program
	 * that writes faster than the wire carries. */
	if (total > 3 * p->stored[0])
		return false;
	/* Shrinking by a fifth at least: else the rest is the program's
	 * working set, and only the stop ends it. */
	return last * 5 < p->stored[p->rounds - 2] * 4;
}

/* Is im, read by PID with the process stopped, of the memory the send
 * began with?  Not if the process exec'd another program since: then the
 * memory we hold is gone, or is another's (a CLONE_VM sibling's). */
static bool same_memory(struct precopy *p, const struct image *im)
{
	struct vma_list now;
	size_t k = 0;
	bool same;

	if (procfs_read_maps_fd(p->maps, &now))
		return false;
	/* The same mappings, but those im leaves out (vDSO, vvar, vsyscall). */
	for (size_t i = 0; i < now.count && k <= im->vmas.count; i++)
		if (k < im->vmas.count && now.vma[i].start == im->vmas.vma[k].start &&
		    now.vma[i].end == im->vmas.vma[k].end)
			k++;
	same = now.count && k == im->vmas.count;
	vma_list_free(&now);
	return same;
}

/* im, the stopped process's whole image, planned as kind against the
 * copy, and laid out again. */
static int plan_stopped(struct precopy *p, struct image *im, enum plan_kind kind)
{
	int err;

	if (!same_memory(p, im))
		return -ESRCH;
	if (p->have_prev)
		im->state.flags |= IMAGE_STATE_DELTA;
	err = plan_delta(p, im, kind);
	if (!err) {
		free(im->head);
		im->head = NULL;
		err = image_layout(im);
	}
	if (!err && p->rounds <= PRECOPY_MAX_ROUNDS)
		p->stored[p->rounds] = image_stored_bytes(im);
	if (!err)
		p->rounds++;
	return err;
}

int precopy_last(struct precopy *p, struct image *im)
{
	return plan_stopped(p, im, PLAN_LAST);
}

int precopy_checkpoint(struct precopy *p, struct image *im)
{
	return plan_stopped(p, im, PLAN_CHECKPOINT);
}

void precopy_rebase(struct precopy *p)
{
	image_free(&p->prev);
	p->have_prev = false;
	runs_clear(&p->held);
	runs_clear(&p->unread);
}

void precopy_held(struct precopy *p, struct image *im, struct runs *unread)
{
	runs_free(&p->unread);
	p->unread = *unread;
	*unread = (struct runs){ 0 };
	hold(p, im);
}
