/*
 * stream: whole reads and writes on a byte stream, counting the position, so
 * the image code can serve a file, a pipe and a network channel alike (no
 * seeking).  A stream is a file descriptor, or a pair of hooks (ops) when the
 * bytes travel inside something else, such as channel.c's frames.
 */
#ifndef CONTMIG_STREAM_H
#define CONTMIG_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct stream_ops {
	/* Bytes read (> 0), 0 at the end of the stream, or -errno. */
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	/* Write all of buf: 0 or -errno. */
	int (*write)(void *ctx, const void *buf, size_t len);
	/* Optional, for bytes that already sit in memory: like read, but point
	 * *p at them instead of copying (valid until the next call). */
	ssize_t (*view)(void *ctx, const void **p, size_t len);
};

struct stream {
	int fd;
	uint64_t pos;			/* bytes read or written so far */
	const struct stream_ops *ops;	/* NULL: read(2) and write(2) on fd */
	void *ctx;
	/* Called with pos after each read or write, when set (progress.c). */
	void (*on_progress)(void *ctx, uint64_t pos);
	void *progress_ctx;
};

/*
 * Bytes in memory as a stream: written ones are appended to data (grown as
 * needed); read ones come from data[at..len) without a copy.
 */
struct stream_mem {
	uint8_t *data;
	size_t len, cap, at;
};

/* s reads from or writes to m (pos starts at 0; a caller may set it).
 * free(m->data) when done. */
void stream_mem_writer(struct stream *s, struct stream_mem *m);
void stream_mem_reader(struct stream *s, struct stream_mem *m);

/* If fd is a pipe, widen it to 1 MiB (best effort): a default 64 KiB pipe
 * makes every chunk of an image a dozen trips through the scheduler. */
void stream_widen_pipe(int fd);

/* This machine's memory: the largest image that can be thawed here, and so
 * the most a reader takes from a file or a pipe when it is told no less.
 * (The image reader's memory grows only as bytes arrive, so a file cut
 * short costs no more than it holds, and is refused as truncated.) */
uint64_t stream_max_size(void);

/* Write all of buf; 0 or -errno. */
int stream_write(struct stream *s, const void *buf, size_t len) MUST_CHECK;
/* Write zero bytes up to offset; 0, -errno, or -EINVAL if already past it. */
int stream_pad_to(struct stream *s, uint64_t offset) MUST_CHECK;
/* Read exactly len bytes; 0, -errno, or -ENODATA at end of stream first. */
int stream_read(struct stream *s, void *buf, size_t len) MUST_CHECK;
/*
 * Read between 1 and len bytes and point *p at them: into buf, or without a
 * copy where the stream holds them (valid until the next call).  Returns the
 * count, -ENODATA at the end of the stream, or -errno.
 */
ssize_t stream_read_some(struct stream *s, void *buf, size_t len, const void **p) MUST_CHECK;
/* Read and discard up to offset; -EINVAL if already past it. */
int stream_skip_to(struct stream *s, uint64_t offset) MUST_CHECK;

#endif
