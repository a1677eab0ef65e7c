#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include "rseq.h"

#define GET_RSEQ_CONFIGURATION	0x420f	/* PTRACE_GET_RSEQ_CONFIGURATION, Linux 5.13 */

/* What the kernel answers (struct ptrace_rseq_configuration). */
struct rseq_config {
	uint64_t addr;
	uint32_t len;
	uint32_t sig;
	uint32_t flags;
	uint32_t pad;
};

/* 1 with *c filled, 0 when this kernel cannot tell, or -errno. */
static int get_config(pid_t pid, struct rseq_config *c)
{
	memset(c, 0, sizeof(*c));
	if (ptrace(GET_RSEQ_CONFIGURATION, pid, sizeof(*c), c) >= 0)
		return 1;
	return errno == EIO ? 0 : -errno;
}

int rseq_collect(pid_t pid, struct image_rseq_rec *q)
{
	struct rseq_config c;
	int ret = get_config(pid, &c);

	memset(q, 0, sizeof(*q));
	if (ret <= 0 || !c.addr)
		return ret < 0 ? ret : 0;
	*q = (struct image_rseq_rec){ .addr = c.addr, .len = c.len, .sig = c.sig,
				      .flags = c.flags };
	return 0;
}

int rseq_restore(const struct image *im, struct remote *r, char *why, size_t len)
{
	const struct image_rseq_rec *q = &im->rseq;
	struct rseq_config c;
	long ret;

	if (!q->len)
		return 0;
	ret = remote_syscall(r, SYS_rseq, q->addr, q->len, 0, q->sig, 0, 0);
	if (ret < 0)
		return say_why((int)ret, why, len, "registering the rseq area at %#lx (%u bytes, "
			       "signature %#x): %s", (unsigned long)q->addr, q->len, q->sig,
			       strerror(-ret));
	ret = get_config(r->pid, &c);
	if (ret < 0)
		return say_why((int)ret, why, len, "reading the copy's rseq area back: %s",
			       strerror(-ret));
	if (ret && (c.addr != q->addr || c.len != q->len || c.sig != q->sig))
		return say_why(-EPROTO, why, len, "the copy's rseq area reads back as %#lx (%u "
			       "bytes, signature %#x), not %#lx", (unsigned long)c.addr, c.len,
			       c.sig, (unsigned long)q->addr);
	return 0;
}
