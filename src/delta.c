#include "config.h"

#include <errno.h>
#include <string.h>

#include "delta.h"

enum kind {
	KIND_ANON,		/* anonymous memory */
	KIND_STACK,		/* the main stack */
	KIND_FILE,		/* a file the receiver maps itself */
	KIND_STORED,		/* a file's pages the image stores (anonymous in the copy) */
};

/*
 * Only from what the image itself says (a receiver knows no inode): a
 * mapping of a file has its path for a name ("/..."), and its offset.
 */
static enum kind kind_of(const struct image *im, const struct vma *v)
{
	if (image_mapref_of(im, v))
		return KIND_FILE;
	if (v->name[0] == '/')
		return KIND_STORED;
	return !strcmp(v->name, "[stack]") ? KIND_STACK : KIND_ANON;
}

/* Do a and b map the same file's pages at the same addresses? */
static bool same_stored(const struct vma *a, const struct vma *b)
{
	return !strcmp(a->name, b->name) && a->offset - a->start == b->offset - b->start;
}

/* Do a and b, of kind KIND_FILE, map the same file at the same offset for
 * every page of b, a covering b? */
static bool same_file(const struct image *ia, const struct vma *a, const struct image *ib,
		      const struct vma *b)
{
	const struct image_mapref *ma = image_mapref_of(ia, a), *mb = image_mapref_of(ib, b);
	const struct image_fileref *fa = &ia->refs.file[ma->file], *fb = &ib->refs.file[mb->file];

	return a->start <= b->start && b->end <= a->end &&
	       ma->offset + (b->start - a->start) == mb->offset && fa->size == fb->size &&
	       !strcmp(fa->path, fb->path) && !memcmp(fa->sum, fb->sum, sizeof(fa->sum));
}

int delta_kept(const struct image *prev, const struct image *next, size_t i, struct runs *out)
{
	const struct vma *v = &next->vmas.vma[i];
	enum kind kind = kind_of(next, v);
	int err = 0;

	/* The first mapping of prev that ends past v's start: both lists are in
	 * address order, so a process with many mappings costs no N^2. */
	size_t lo = 0, hi = prev->vmas.count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (prev->vmas.vma[mid].end <= v->start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = lo; !err && k < prev->vmas.count && prev->vmas.vma[k].start < v->end; k++) {
		const struct vma *o = &prev->vmas.vma[k];

		if (kind_of(prev, o) != kind)
			continue;
		switch (kind) {
		case KIND_STORED:
			if (!same_stored(o, v))
				break;
			/* fall through */
		case KIND_ANON:
			err = runs_append(out, o->start > v->start ? o->start : v->start,
					  o->end < v->end ? o->end : v->end);
			break;
		case KIND_STACK:
			if (o->start == v->start && o->end == v->end)
				err = runs_append(out, v->start, v->end);
			break;
		case KIND_FILE:
			if (same_file(prev, o, next, v))
				err = runs_append(out, v->start, v->end);
			break;
		}
	}
	return err;
}

int delta_gone(const struct image *prev, const struct image *next, struct runs *out)
{
	struct runs held = { 0 }, kept = { 0 };
	int err = 0;

	for (size_t k = 0; !err && k < prev->vmas.count; k++)
		err = runs_append(&held, prev->vmas.vma[k].start, prev->vmas.vma[k].end);
	for (size_t i = 0; !err && i < next->vmas.count; i++)
		err = delta_kept(prev, next, i, &kept);
	if (!err)
		err = runs_subtract(&held, &kept, out);
	runs_free(&held);
	runs_free(&kept);
	return err;
}
