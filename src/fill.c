#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include "fill.h"
#include "testpoint.h"

/* Bytes one preadv of the restorer moves at most: the progress line moves
 * between two calls. */
#define FILL_STEP	(64UL << 20)
/* Pieces at least this large are faulted in by one madvise before they are
 * read: a fault taken in a batch costs a fraction of one taken in the copy,
 * and below this the call costs more than it saves. */
#define POPULATE_MIN	(256UL << 10)
/* The sums are taken over the file mapped a window at a time. */
#define SUM_WINDOW	(64UL << 20)

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23	/* Linux 5.14; older kernels refuse it: no harm */
#endif

static size_t min_size(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

int fill_image_fd(const struct image *im, const struct stream *in)
{
	struct stat st;
	off_t at;
	int fd;

	if (in->ops || in->fd < 0 || fstat(in->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	/* Standing where the stream does: the image starts at the file's first
	 * byte (not so for `thaw - < FILE` after something read some of it). */
	at = lseek(in->fd, 0, SEEK_CUR);
	if (at < 0 || (uint64_t)at != in->pos || in->pos != im->data_offset)
		return 0;
	fd = fcntl(in->fd, F_DUPFD_CLOEXEC, 3);
	return fd < 0 ? 0 : fd;
}

/* The file ends at size, short of the image: say where, as the stream
 * reader does. */
static int cut_short(struct image *im, uint64_t size)
{
	for (size_t i = 0; i < im->nseg; i++)
		if (im->seg[i].offset + im->seg[i].size > size)
			return image_refuse(im, "truncated in segment %zu (%#lx)", i,
				      (unsigned long)im->seg[i].vaddr);
	return image_refuse(im, "truncated in the segment sums");
}

/* It ended early after it was measured: it shrank while it was read. */
static int shrank(struct image *im, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	return image_refuse(im, "the image file shrank to %lld bytes while it was read",
		      (long long)st.st_size);
}

/* ---- the sums, on a thread of their own ------------------------------- */

struct summer {
	struct image *im;
	int fd;
	uint64_t *got;
	int err;			/* 0, -EBADMSG (why), or -errno */
	char why[sizeof(((struct image *)0)->why)];
	uint8_t *volatile map;		/* the window mapped now, for the way out */
	size_t map_len;
};

/*
 * A page of the mapping past the end of the file (someone truncated it) or
 * one the disk cannot give (an I/O error) raises SIGBUS in the thread that
 * touches it.  In the summing thread it ends the sums; anywhere else, the
 * default action comes back and the fault, taken again, kills as it would
 * have without us.
 */
static __thread sigjmp_buf *bus_exit;

static void on_sigbus(int sig)
{
	if (bus_exit)
		siglongjmp(*bus_exit, 1);
	signal(sig, SIG_DFL);
}

static void *sum_segments(void *arg)
{
	struct summer *s = arg;
	const struct image *im = s->im;
	XXH3_state_t *state = XXH3_createState();
	uint64_t at = im->data_offset, done = 0;
	sigjmp_buf jump;
	size_t i = 0;

	if (!state) {
		s->err = -ENOMEM;
		return NULL;
	}
	if (sigsetjmp(jump, 1)) {
		struct stat st;

		bus_exit = NULL;
		munmap(s->map, s->map_len);
		if (fstat(s->fd, &st) == 0 && (uint64_t)st.st_size < im->size) {
			snprintf(s->why, sizeof(s->why), "the image file shrank to %lld bytes "
				 "while it was read", (long long)st.st_size);
			s->err = -EBADMSG;
		} else {
			s->err = -EIO;
		}
		XXH3_freeState(state);
		return NULL;
	}
	bus_exit = &jump;
	XXH3_64bits_reset(state);
	while (at < im->sums_offset) {
		size_t len = min_size(SUM_WINDOW, im->sums_offset - at);
		uint8_t *p = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, s->fd, at);

		if (p == MAP_FAILED) {
			s->err = -errno;
			break;
		}
		s->map_len = len;
		s->map = p;
		for (size_t off = 0; off < len; ) {
			size_t k = min_size(im->seg[i].size - done, len - off);

			XXH3_64bits_update(state, p + off, k);
			off += k;
			done += k;
			if (done == im->seg[i].size) {
				s->got[i++] = XXH3_64bits_digest(state);
				XXH3_64bits_reset(state);
				done = 0;
			}
		}
		s->map = NULL;
		munmap(p, len);
		at += len;
	}
	bus_exit = NULL;
	XXH3_freeState(state);
	return NULL;
}

/* ---- the pages, read by the restorer ---------------------------------- */

/* Fault the larger pieces in ahead of the read.  Best effort: where the
 * kernel refuses (before Linux 5.14), the read faults them in instead, and
 * *works says not to ask again. */
static void populate(struct remote *r, const struct iovec *iov, size_t n, bool *works)
{
	for (size_t k = 0; *works && k < n; k++)
		if (iov[k].iov_len >= POPULATE_MIN &&
		    remote_syscall(r, SYS_madvise, (long)iov[k].iov_base, iov[k].iov_len,
				   MADV_POPULATE_WRITE, 0, 0, 0) < 0)
			*works = false;
}

/*
 * The restorer reads the data, a stretch of the file at a time, into the
 * pieces of segments it makes up (the segments lie one after another in the
 * file), through an array of iovecs in its page at iov_at.
 */
static int read_into_place(struct image *im, struct stream *in, struct remote *r, long iov_at,
			   bool *restorer_failed)
{
	struct iovec *iov = malloc(IMAGE_MAX_PIECES * sizeof(*iov));
	uint64_t pos = im->data_offset, done = 0;	/* of segment i */
	bool populating = true;
	size_t i = 0;
	int err = 0;

	if (!iov)
		return -ENOMEM;
	while (!err && i < im->nseg) {
		size_t n = 0, len = 0;
		long got;

		for (size_t k = i; k < im->nseg && n < IMAGE_MAX_PIECES && len < FILL_STEP; k++) {
			const struct image_segment *s = &im->seg[k];
			uint64_t from = k == i ? done : 0;
			size_t take = min_size(s->size - from, FILL_STEP - len);

			iov[n++] = (struct iovec){ .iov_base = (void *)(s->vaddr + from),
						   .iov_len = take };
			len += take;
		}
		populate(r, iov, n, &populating);
		err = remote_write(r, iov_at, iov, n * sizeof(*iov));
		got = err ? err : remote_syscall(r, SYS_preadv, r->image_fd, iov_at, n, pos, 0, 0);
		if (got < 0) {
			*restorer_failed = true;
			err = got;
			break;
		}
		if (got == 0) {
			err = shrank(im, in->fd);
			break;
		}
		/* A short read (the file ended meanwhile) goes on from there. */
		pos += got;
		while (got > 0) {
			size_t k = min_size(im->seg[i].size - done, got);

			done += k;
			got -= k;
			if (done == im->seg[i].size) {
				i++;
				done = 0;
			}
		}
		if (in->on_progress)
			in->on_progress(in->progress_ctx, pos);
	}
	free(iov);
	return err;
}

/* The restorer's own calls: a page for the iovecs, the reads, and the image
 * file closed, so that the copy never holds it. */
static int restorer_reads(struct image *im, struct stream *in, struct remote *r,
			  bool *restorer_failed)
{
	size_t iov_bytes = IMAGE_MAX_PIECES * sizeof(struct iovec);
	long page = remote_mmap(r, 0, iov_bytes, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long ret;
	int err;

	if (page < 0) {
		*restorer_failed = true;
		return page;
	}
	err = read_into_place(im, in, r, page, restorer_failed);
	ret = remote_syscall(r, SYS_close, r->image_fd, 0, 0, 0, 0, 0);
	if (ret >= 0)
		ret = remote_munmap(r, page, iov_bytes);
	if (!err && ret < 0) {
		*restorer_failed = true;
		err = ret;
	}
	return err;
}

int fill_from_file(struct image *im, struct stream *in, struct remote *r, uint64_t *got,
		   bool *restorer_failed)
{
	struct summer s = { .im = im, .fd = in->fd, .got = got };
	struct sigaction bus = { .sa_handler = on_sigbus }, old;
	struct stat st;
	pthread_t thread;
	bool threaded;
	int err;

	*restorer_failed = false;
	if (fstat(in->fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size < im->size)
		return cut_short(im, st.st_size);
	/* The sums first: they stand after the data. */
	if (lseek(in->fd, im->sums_offset, SEEK_SET) < 0)
		return -errno;
	in->pos = im->sums_offset;
	err = image_read_tail(im, in);
	if (err)
		return err;
	/* (Where the tests cut the file.) */
	test_point("thaw-file-measured");
	if (sigaction(SIGBUS, &bus, &old) < 0)
		return -errno;
	/* On the other core while the restorer reads; here, first, if no
	 * thread can start. */
	threaded = pthread_create(&thread, NULL, sum_segments, &s) == 0;
	if (!threaded)
		sum_segments(&s);
	if (threaded || !s.err)
		err = restorer_reads(im, in, r, restorer_failed);
	if (threaded)
		pthread_join(thread, NULL);
	sigaction(SIGBUS, &old, NULL);
	if (!err && s.err) {
		err = s.err;
		if (err == -EBADMSG)
			snprintf(im->why, sizeof(im->why), "%s", s.why);
	}
	return err;
}
