#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "compact.h"
#include "delta.h"
#include "image.h"
#include "runs.h"
#include "stream.h"
#include "testpoint.h"

/* Bytes of the copy at [start, end), held at off in chain image src. */
struct extent {
	uint64_t start, end;
	uint32_t src;
	uint64_t off;
};

/* Sorted, not overlapping. */
struct extents {
	struct extent *e;
	size_t n, cap;
};

static void extents_free(struct extents *x)
{
	free(x->e);
	*x = (struct extents){ 0 };
}

/* Append [start, end) (at or past the last), joined to the last where the
 * bytes follow on in the same image. */
static int push(struct extents *x, uint64_t start, uint64_t end, uint32_t src, uint64_t off)
{
	struct extent *last = x->n ? &x->e[x->n - 1] : NULL;

	if (start >= end)
		return 0;
	if (last && last->end == start && last->src == src && last->off + (start - last->start) == off) {
		last->end = end;
		return 0;
	}
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 256;
		struct extent *more = realloc(x->e, cap * sizeof(*more));

		if (!more)
			return -ENOMEM;
		x->e = more;
		x->cap = cap;
	}
	x->e[x->n++] = (struct extent){ start, end, src, off };
	return 0;
}

/* out = m less the pages of cut. */
static int cut_out(const struct extents *m, const struct runs *cut, struct extents *out)
{
	size_t c = 0;
	int err = 0;

	out->n = 0;
	for (size_t i = 0; !err && i < m->n; i++) {
		const struct extent *e = &m->e[i];
		uint64_t at = e->start;

		while (c < cut->count && cut->run[c].end <= at)
			c++;
		for (size_t k = c; !err && at < e->end; k++) {
			uint64_t stop = k < cut->count ? cut->run[k].start : UINT64_MAX;

			if (stop > at)
				err = push(out, at, stop < e->end ? stop : e->end, e->src,
					   e->off + (at - e->start));
			if (k >= cut->count || cut->run[k].start >= e->end)
				break;
			at = cut->run[k].end;
		}
	}
	return err;
}

/* out = a ∪ b, which do not overlap. */
static int merge(const struct extents *a, const struct extents *b, struct extents *out)
{
	size_t i = 0, k = 0;
	int err = 0;

	out->n = 0;
	while (!err && (i < a->n || k < b->n)) {
		const struct extent *e = k >= b->n || (i < a->n && a->e[i].start < b->e[k].start) ?
					 &a->e[i++] : &b->e[k++];

		err = push(out, e->start, e->end, e->src, e->off);
	}
	return err;
}

/* The pages of im's segments, as extents of image src, and as runs. */
static int segments_of(const struct image *im, uint32_t src, struct extents *x, struct runs *r)
{
	int err = 0;

	x->n = 0;
	for (size_t i = 0; !err && i < im->nseg; i++) {
		const struct image_segment *s = &im->seg[i];

		err = push(x, s->vaddr, s->vaddr + s->size, src, s->offset);
		if (!err)
			err = runs_append(r, s->vaddr, s->vaddr + s->size);
	}
	return err;
}

/* The chain's images, open, their heads read. */
struct chain {
	int *fd;
	size_t count;
	struct image prev, last;
	struct extents held, tmp, seg;
};

static void chain_free(struct chain *c)
{
	for (size_t i = 0; i < c->count; i++)
		if (c->fd[i] >= 0)
			close(c->fd[i]);
	free(c->fd);
	image_free(&c->prev);
	image_free(&c->last);
	extents_free(&c->held);
	extents_free(&c->tmp);
	extents_free(&c->seg);
}

/* Read image i of the chain whole into im, its sums checked. */
static int read_whole(struct checkpoint_dir *d, const struct checkpoint_file *f, bool first,
		      int *fd, struct image *im, char *why, size_t why_len)
{
	struct stream in = { .fd = -1 };
	char name[32];
	uint64_t *got = NULL;
	bool visit_failed;
	struct stat st;
	int err;

	checkpoint_name(f, name);
	*fd = in.fd = checkpoint_open_file(d, f, why, why_len);
	if (in.fd < 0)
		return in.fd;
	err = fstat(in.fd, &st) < 0 ? -errno : image_read_head(im, &in, st.st_size);
	if (err == -EBADMSG || err == -EFBIG)
		return say_why(-EBADMSG, why, why_len, "%s/%s: invalid image: %s", d->path, name,
			       im->why);
	if (err)
		return say_why(err, why, why_len, "reading %s/%s: %s", d->path, name, strerror(-err));
	if (im->state.flags & IMAGE_STATE_LIVE || !(im->state.flags & IMAGE_STATE_DELTA) != first)
		return say_why(-EBADMSG, why, why_len, "%s/%s: invalid image: not a %s", d->path,
			       name, first ? "whole image" : "delta");
	got = calloc(im->nseg ? im->nseg : 1, sizeof(*got));
	if (!got)
		return say_why(-ENOMEM, why, why_len, "%s", strerror(ENOMEM));
	err = image_read_data(im, &in, NULL, NULL, got, &visit_failed);
	for (size_t i = 0; !err && i < im->nseg; i++)
		if (got[i] != im->seg[i].sum)
			err = image_refuse(im, "segment %zu at 0x%llx: checksum mismatch", i,
					   (unsigned long long)im->seg[i].vaddr);
	free(got);
	if (err == -EBADMSG)
		return say_why(err, why, why_len, "%s/%s: invalid image: %s", d->path, name, im->why);
	if (err)
		return say_why(err, why, why_len, "reading %s/%s: %s", d->path, name, strerror(-err));
	return 0;
}

/* Bring the copy's bytes from c->last to next, image src of the chain. */
static int apply(struct chain *c, struct image *next, uint32_t src)
{
	struct runs cut = { 0 }, gone = { 0 }, tmp = { 0 };
	int err = delta_gone(&c->last, next, &gone);

	if (!err)
		err = runs_union(&gone, &next->drops, &tmp);
	if (!err)
		err = segments_of(next, src, &c->seg, &cut);
	if (!err)
		err = runs_union(&tmp, &cut, &gone);	/* gone: all that goes */
	if (!err)
		err = cut_out(&c->held, &gone, &c->tmp);
	if (!err)
		err = merge(&c->tmp, &c->seg, &c->held);
	runs_free(&cut);
	runs_free(&gone);
	runs_free(&tmp);
	return err;
}

/* The merged image's segments: what the copy holds within each mapping of
 * the last image, one segment per stretch of pages, with its protection. */
static int lay_out(struct chain *c)
{
	struct image *im = &c->last;
	size_t cap = 0, e = 0;

	free(im->seg);
	im->seg = NULL;
	im->nseg = 0;
	for (size_t i = 0; i < im->vmas.count; i++) {
		const struct vma *v = &im->vmas.vma[i];

		while (e < c->held.n && c->held.e[e].end <= v->start)
			e++;
		size_t first = im->nseg;	/* no segment spans two mappings */

		for (size_t k = e; k < c->held.n && c->held.e[k].start < v->end; k++) {
			uint64_t start = c->held.e[k].start > v->start ? c->held.e[k].start : v->start;
			uint64_t end = c->held.e[k].end < v->end ? c->held.e[k].end : v->end;
			struct image_segment *s = im->nseg ? &im->seg[im->nseg - 1] : NULL;

			if (im->nseg > first && s->vaddr + s->size == start) {
				s->size += end - start;
				continue;
			}
			if (im->nseg == cap) {
				struct image_segment *more;

				cap = cap ? 2 * cap : 64;
				more = realloc(im->seg, cap * sizeof(*more));
				if (!more)
					return -ENOMEM;
				im->seg = more;
			}
			im->seg[im->nseg++] = (struct image_segment){ .vaddr = start,
								      .size = end - start,
								      .prot = v->prot };
		}
	}
	im->state.flags &= ~IMAGE_STATE_DELTA;
	runs_free(&im->drops);
	free(im->head);
	im->head = NULL;
	return image_layout(im);
}

/* Copy [vaddr, vaddr + len) of the copy into out, from the images that
 * hold it, summing it into state. */
static int copy_bytes(struct chain *c, size_t *e, uint64_t vaddr, uint64_t len,
		      struct stream *out, XXH3_state_t *state)
{
	static uint8_t buf[1 << 20];
	uint64_t end = vaddr + len;

	while (vaddr < end) {
		const struct extent *x;
		size_t n;
		ssize_t got;

		while (*e < c->held.n && c->held.e[*e].end <= vaddr)
			(*e)++;
		if (*e >= c->held.n || c->held.e[*e].start > vaddr)
			return -EIO;	/* lay_out made segments only of what is held */
		x = &c->held.e[*e];
		n = x->end - vaddr < end - vaddr ? x->end - vaddr : end - vaddr;
		if (n > sizeof(buf))
			n = sizeof(buf);
		got = pread(c->fd[x->src], buf, n, x->off + (vaddr - x->start));
		if (got < 0)
			return -errno;
		if ((size_t)got != n)
			return -EIO;	/* the file shrank under us */
		XXH3_64bits_update(state, buf, n);
		if (stream_write(out, buf, n))
			return -errno ? -errno : -EIO;
		vaddr += n;
	}
	return 0;
}

static int write_merged(struct chain *c, int fd)
{
	struct stream out = { .fd = fd }, back = { .fd = fd };
	XXH3_state_t *state = XXH3_createState();
	struct image *im = &c->last;
	size_t e = 0;
	int err;

	if (!state)
		return -ENOMEM;
	err = image_write_head(im, &out);
	for (size_t i = 0; !err && i < im->nseg; i++) {
		XXH3_64bits_reset(state);
		err = copy_bytes(c, &e, im->seg[i].vaddr, im->seg[i].size, &out, state);
		im->seg[i].sum = XXH3_64bits_digest(state);
	}
	XXH3_freeState(state);
	if (!err)
		err = image_write_tail(im, &out);
	if (!err && lseek(fd, 0, SEEK_SET) < 0)
		err = -errno;
	return err ? err : image_verify(im, &back);
}

int compact_chain(struct checkpoint_dir *d, const struct checkpoint_list *l, size_t from,
		  size_t upto, char *why, size_t why_len)
{
	struct checkpoint_file merged = { .seq = l->file[upto].seq, .delta = false };
	struct chain c = { 0 };
	int err = 0, fd;

	why[0] = '\0';
	c.count = upto - from + 1;
	c.fd = malloc(c.count * sizeof(*c.fd));
	if (!c.fd)
		return say_why(-ENOMEM, why, why_len, "%s", strerror(ENOMEM));
	for (size_t i = 0; i < c.count; i++)
		c.fd[i] = -1;
	for (size_t i = 0; !err && i < c.count; i++) {
		struct image next = { 0 };

		err = read_whole(d, &l->file[from + i], i == 0, &c.fd[i], &next, why, why_len);
		if (!err && i && !image_same_source(&c.last, &next))
			err = say_why(-EBADMSG, why, why_len, "checkpoint %u is not of the process of "
				      "the one before it (PID %d, stack at %#llx there; PID %d, "
				      "stack at %#llx here)", l->file[from + i].seq,
				      (int)c.last.state.source_pid,
				      (unsigned long long)c.last.mm.rec.start_stack,
				      (int)next.state.source_pid,
				      (unsigned long long)next.mm.rec.start_stack);
		if (!err && i && !image_same_creds(&c.last, &next))
			err = say_why(-EBADMSG, why, why_len, "checkpoint %u ran as another user "
				      "than the one before it", l->file[from + i].seq);
		if (!err && i == 0) {
			struct runs all = { 0 };

			err = segments_of(&next, 0, &c.held, &all);
			runs_free(&all);
		} else if (!err) {
			err = apply(&c, &next, i);
		}
		if (err && !why[0])
			say_why(err, why, why_len, "merging checkpoint %u: %s", l->file[from + i].seq,
				strerror(-err));
		image_free(&c.prev);
		c.prev = c.last;
		c.last = next;
	}
	if (!err && (err = lay_out(&c)))
		say_why(err, why, why_len, "laying out the merged image: %s",
			err == -EBADMSG ? c.last.why : strerror(-err));
	if (err) {
		chain_free(&c);
		return err;
	}
	fd = checkpoint_begin(d, &merged, why, why_len);
	if (fd < 0) {
		chain_free(&c);
		return fd;
	}
	/* (Where the tests end a merge mid-write.) */
	test_point("compact-writing");
	err = write_merged(&c, fd);
	if (err) {
		say_why(err, why, why_len, "writing the merged checkpoint %u in %s: %s", merged.seq,
			d->path, err == -EBADMSG ? c.last.why : strerror(-err));
		checkpoint_discard(d, &merged, fd);
	} else {
		err = checkpoint_publish(d, &merged, fd, why, why_len);
	}
	chain_free(&c);
	return err ? err : checkpoint_prune(d, merged.seq, why, why_len);
}
