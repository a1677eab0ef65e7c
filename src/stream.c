#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream.h"

#define PIPE_SIZE	(1 << 20)

static int mem_write(void *ctx, const void *buf, size_t len)
{
	struct stream_mem *m = ctx;

	if (len > m->cap - m->len) {
		size_t cap = m->cap ? m->cap : 4096;
		uint8_t *d;

		while (cap - m->len < len)
			cap *= 2;
		d = realloc(m->data, cap);
		if (!d)
			return -ENOMEM;
		m->data = d;
		m->cap = cap;
	}
	memcpy(m->data + m->len, buf, len);
	m->len += len;
	return 0;
}

static ssize_t mem_view(void *ctx, const void **p, size_t len)
{
	struct stream_mem *m = ctx;
	size_t n = m->len - m->at < len ? m->len - m->at : len;

	*p = m->data + m->at;
	m->at += n;
	return n;
}

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
	const void *p;
	ssize_t n = mem_view(ctx, &p, len);

	if (n)
		memcpy(buf, p, n);
	return n;
}

static const struct stream_ops mem_ops = {
	.read = mem_read,
	.write = mem_write,
	.view = mem_view,
};

void stream_mem_writer(struct stream *s, struct stream_mem *m)
{
	*s = (struct stream){ .fd = -1, .ops = &mem_ops, .ctx = m };
}

void stream_mem_reader(struct stream *s, struct stream_mem *m)
{
	*s = (struct stream){ .fd = -1, .ops = &mem_ops, .ctx = m };
}

void stream_widen_pipe(int fd)
{
	struct stat st;

	/* A refusal (a lower pipe-max-size, a user over its pipe quota) only
	 * means the image flows slower. */
	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && fcntl(fd, F_GETPIPE_SZ) < PIPE_SIZE)
		fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE);
}

uint64_t stream_max_size(void)
{
	return (uint64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
}

int stream_write(struct stream *s, const void *buf, size_t len)
{
	const char *p = buf;

	if (s->ops) {
		int err = s->ops->write(s->ctx, buf, len);

		if (!err)
			s->pos += len;
		if (!err && s->on_progress)
			s->on_progress(s->progress_ctx, s->pos);
		return err;
	}
	while (len) {
		ssize_t n = write(s->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
		s->pos += n;
	}
	if (s->on_progress)
		s->on_progress(s->progress_ctx, s->pos);
	return 0;
}

static const char zeros[4096];

int stream_pad_to(struct stream *s, uint64_t offset)
{
	if (offset < s->pos)
		return -EINVAL;
	while (s->pos < offset) {
		size_t n = offset - s->pos < sizeof(zeros) ? offset - s->pos : sizeof(zeros);
		int err = stream_write(s, zeros, n);

		if (err)
			return err;
	}
	return 0;
}

int stream_read(struct stream *s, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		const void *got;
		ssize_t n = stream_read_some(s, p, len, &got);

		if (n < 0)
			return (int)n;
		if (got != p)
			memcpy(p, got, n);
		p += n;
		len -= n;
	}
	return 0;
}

ssize_t stream_read_some(struct stream *s, void *buf, size_t len, const void **p)
{
	ssize_t n;

	*p = buf;
	if (s->ops && s->ops->view)
		n = s->ops->view(s->ctx, p, len);
	else if (s->ops)
		n = s->ops->read(s->ctx, buf, len);
	else
		while ((n = read(s->fd, buf, len)) < 0 && errno == EINTR)
			;
	if (n < 0)
		return s->ops ? n : -errno;
	if (n == 0)
		return -ENODATA;
	s->pos += n;
	if (s->on_progress)
		s->on_progress(s->progress_ctx, s->pos);
	return n;
}

int stream_skip_to(struct stream *s, uint64_t offset)
{
	char buf[4096];

	if (offset < s->pos)
		return -EINVAL;
	while (s->pos < offset) {
		size_t n = offset - s->pos < sizeof(buf) ? offset - s->pos : sizeof(buf);
		int err = stream_read(s, buf, n);

		if (err)
			return err;
	}
	return 0;
}
