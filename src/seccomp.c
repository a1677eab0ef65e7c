#include "config.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch-x86_64.h"
#include "procfs.h"
#include "ptrace.h"
#include "seccomp.h"

#define CAP_SYS_ADMIN_BIT	21

static const struct sock_filter run_filter[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CONTMIG_SYS_MIGRATE, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

static const struct sock_fprog run_prog = {
	.len = sizeof(run_filter) / sizeof(run_filter[0]),
	.filter = (struct sock_filter *)run_filter,
};

const struct sock_fprog *seccomp_run_prog(void)
{
	return &run_prog;
}

int seccomp_read_status(pid_t pid, struct seccomp_status *st)
{
	uint64_t mode = 0, filters = 0, nnp = 0;
	char *text;
	int err = procfs_read_file(pid, "status", &text, NULL);

	memset(st, 0, sizeof(*st));
	if (err)
		return err;
	/* Before Linux 5.9 there is no Seccomp_filters line: 0. */
	if (procfs_status_number(text, "Seccomp", 10, &mode) < 0 ||
	    procfs_status_number(text, "Seccomp_filters", 10, &filters) < 0 ||
	    procfs_status_number(text, "NoNewPrivs", 10, &nnp) < 0)
		err = -EINVAL;
	free(text);
	st->mode = mode;
	st->filters = filters;
	st->no_new_privs = nnp;
	return err;
}

/* The kernel's rule (get_seccomp_filter()): CAP_SYS_ADMIN, and no seccomp
 * of our own (contmig in a container's default filter may not). */
bool seccomp_may_read_filters(void)
{
	struct seccomp_status own;
	struct proc_creds c;
	bool may;

	if (seccomp_read_status(getpid(), &own) || own.mode || procfs_read_creds(getpid(), &c))
		return false;
	may = c.cap_eff & (1ULL << CAP_SYS_ADMIN_BIT);
	proc_creds_free(&c);
	return may;
}

/* Filter index of pid: the kernel counts from the oldest (get_nth_filter()
 * walks back from the newest), as they are installed again.  -ENOENT past
 * the newest. */
static int read_filter(pid_t pid, unsigned long index, struct image_filter *f)
{
	struct __ptrace_seccomp_metadata md = { .filter_off = index };
	long n;

	errno = 0;
	n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, index, NULL);

	if (n < 0)
		return -errno;
	if (n == 0 || n > IMAGE_MAX_FILTER_INSNS)
		return -E2BIG;
	f->insn = malloc(n * sizeof(uint64_t));
	if (!f->insn)
		return -ENOMEM;
	f->len = n;
	if (ptrace(PTRACE_SECCOMP_GET_FILTER, pid, index, f->insn) != n ||
	    ptrace(PTRACE_SECCOMP_GET_METADATA, pid, sizeof(md), &md) < 0)
		return errno ? -errno : -EIO;
	f->flags = md.flags;
	return 0;
}

static bool is_run_filter(const struct image_filter *f)
{
	return f->len == run_prog.len && !memcmp(f->insn, run_filter, sizeof(run_filter));
}

int seccomp_collect(pid_t pid, struct image_seccomp *sc, char *why, size_t why_len)
{
	struct seccomp_status st;
	size_t cap = 0;
	int err = seccomp_read_status(pid, &st);

	memset(sc, 0, sizeof(*sc));
	if (err || st.mode != SECCOMP_MODE_FILTER) {
		sc->mode = err ? 0 : st.mode;
		/* Only an image with the note says so (restrictions.c carries
		 * no_new_privs itself). */
		sc->no_new_privs = sc->mode && st.no_new_privs;
		return err;
	}
	/* Without CAP_SYS_ADMIN target_preflight lets one filter through,
	 * for contmig run only: its own (run.c). */
	if (st.filters == 1 && !seccomp_may_read_filters())
		return 0;
	for (;;) {
		struct image_filter f = { 0 };

		err = read_filter(pid, sc->nfilters, &f);
		if (err == -ENOENT && sc->nfilters) {
			err = 0;
			free(f.insn);
			break;
		}
		if (!err && array_reserve((void **)&sc->filter, &cap, sc->nfilters,
					  sizeof(*sc->filter)))
			err = -ENOMEM;
		if (err) {
			free(f.insn);
			snprintf(why, why_len, "reading its seccomp filter %zu: %s%s", sc->nfilters,
				 strerror(-err), err == -EACCES || err == -EPERM ?
				 " (it takes CAP_SYS_ADMIN and no seccomp of contmig's own)" : "");
			image_seccomp_free(sc);
			return err;
		}
		sc->filter[sc->nfilters++] = f;
	}
	if (is_run_filter(&sc->filter[0])) {
		free(sc->filter[0].insn);
		memmove(sc->filter, sc->filter + 1, --sc->nfilters * sizeof(*sc->filter));
	}
	if (sc->nfilters) {
		sc->mode = SECCOMP_MODE_FILTER;
		sc->no_new_privs = st.no_new_privs;
	}
	return 0;
}

/* Put filter f, as a struct sock_fprog and its instructions, below sp. */
static int write_prog(pid_t pid, unsigned long sp, const struct image_filter *f,
		      unsigned long *prog)
{
	size_t size = f->len * sizeof(uint64_t);
	unsigned long insns = (sp - INJECT_RED_ZONE - size) & ~15UL;
	struct { uint16_t len; uint16_t pad[3]; uint64_t filter; } fprog = {
		.len = f->len, .filter = insns };
	struct iovec local[2] = { { (void *)f->insn, size }, { &fprog, sizeof(fprog) } };
	struct iovec remote[2] = { { (void *)insns, size },
				   { (void *)(insns - sizeof(fprog)), sizeof(fprog) } };
	ssize_t n = process_vm_writev(pid, local, 2, remote, 2, 0);

	*prog = insns - sizeof(fprog);
	if (n < 0)
		return -errno;
	return n == (ssize_t)(size + sizeof(fprog)) ? 0 : -EFAULT;
}

/*
 * Does the copy now have what its source had: the same mode and as many
 * filters?  A filter may answer seccomp() itself with a success it never
 * performed (one judging its arguments, which point elsewhere in the copy
 * than they did in the source): look, rather than trust the calls' answers.
 */
static int seccomp_verify(pid_t pid, const struct image_seccomp *sc, char *why, size_t why_len)
{
	struct seccomp_status st;
	int err = seccomp_read_status(pid, &st);

	if (err) {
		snprintf(why, why_len, "reading the copy's seccomp state: %s", strerror(-err));
		return err;
	}
	if ((uint32_t)st.mode == sc->mode && st.filters == sc->nfilters &&
	    (!sc->no_new_privs || st.no_new_privs))
		return 0;
	snprintf(why, why_len, "the copy has seccomp mode %d with %u filter%s%s, not its "
		 "source's mode %u with %zu (a filter answered for the kernel?)", st.mode,
		 st.filters, st.filters == 1 ? "" : "s",
		 sc->no_new_privs && !st.no_new_privs ? " and no no_new_privs" : "", sc->mode,
		 sc->nfilters);
	return -EPERM;
}

int seccomp_install(struct inject *in, const struct image *im, char *why, size_t why_len)
{
	const struct image_seccomp *sc = &im->seccomp;
	unsigned long prog;
	long ret = 0;
	int err;

	if (!sc->mode)
		return 0;
	/* Needed for the filters (as it was in the source): after its merge
	 * with the other restrictions, this is already done and costs nothing. */
	if (sc->no_new_privs) {
		err = inject_call(in, &ret, SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0);
		if (!err && ret)
			err = (int)ret;
		if (err) {
			snprintf(why, why_len, "setting no_new_privs at %#lx: %s", in->insn,
				 strerror(-err));
			return err;
		}
	}
	for (size_t i = 0; i < sc->nfilters; i++) {
		err = write_prog(in->pid, im->regs.rsp, &sc->filter[i], &prog);
		if (err) {
			snprintf(why, why_len, "writing seccomp filter %zu below the stack pointer "
				 "%#llx: %s", i, im->regs.rsp, strerror(-err));
			return err;
		}
		err = inject_call(in, &ret, SYS_seccomp, SECCOMP_SET_MODE_FILTER,
				  sc->filter[i].flags, prog, 0);
		if (!err && ret)
			err = ret < 0 ? (int)ret : -EPROTO;
		if (err) {
			snprintf(why, why_len, "installing seccomp filter %zu of %zu (%u "
				 "instructions): %s", i + 1, sc->nfilters, sc->filter[i].len,
				 strerror(-err));
			return err;
		}
	}
	if (sc->mode == SECCOMP_MODE_STRICT) {
		err = inject_call(in, &ret, SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0);
		if (!err && ret)
			err = ret < 0 ? (int)ret : -EPROTO;
		if (err) {
			snprintf(why, why_len, "setting seccomp strict mode: %s", strerror(-err));
			return err;
		}
	}
	return seccomp_verify(in->pid, sc, why, why_len);
}
