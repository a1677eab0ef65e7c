#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "contract.h"
#include "files.h"
#include "procfs.h"
#include "seccomp.h"
#include "sigstate.h"
#include "workdir.h"

/* The Continuum contract's own rules: reported, but a process that breaks
 * them still moves (its kernel state travels instead). */
static bool contract_only(const char *check)
{
	static const char *const rules[] = { "type", "static", "text", "stack-free", "stack",
					     "canary" };

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (!strcmp(check, rules[i]))
			return true;
	return false;
}

ATTR_PRINTF(4, 5)
static void add_item(struct contract_report *r, const char *check, bool ok,
		     const char *fmt, ...)
{
	struct contract_item *it;
	va_list ap;

	if (r->count == CONTRACT_MAX_ITEMS)
		abort();	/* a programming error: raise CONTRACT_MAX_ITEMS */
	it = &r->item[r->count++];
	it->check = check;
	it->ok = ok;
	it->contract_only = contract_only(check);
	va_start(ap, fmt);
	vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
	va_end(ap);
	if (!ok)
		r->keeps = false;
	if (!ok && !it->contract_only)
		r->moves = false;
}

static bool overlaps(unsigned long a, unsigned long alen, unsigned long b, unsigned long blen)
{
	return a < b + blen && b < a + alen;
}

/* The interpreter path named by a PT_INTERP header, for the message. */
static void interp_name(Elf *e, const GElf_Phdr *ph, char *out, size_t outsz)
{
	size_t size;
	const char *raw = elf_rawfile(e, &size);

	snprintf(out, outsz, "?");
	if (raw && ph->p_offset < size && ph->p_filesz <= size - ph->p_offset)
		snprintf(out, outsz, "%.*s", (int)strnlen(raw + ph->p_offset, ph->p_filesz),
			 raw + ph->p_offset);
}

static void check_elf(Elf *e, struct contract_report *r)
{
	GElf_Ehdr eh;
	GElf_Phdr ph;
	size_t phnum;
	char interp[256] = "";
	bool dynamic = false, text_found = false, entry_in_text = false;
	unsigned long stack_clash = 0, lowest_exec = 0;

	if (elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh)) {
		add_item(r, "elf", false, "not an ELF file");
		return;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64) {
		add_item(r, "elf", false, "not an x86-64 ELF64 file (class %d, machine %d)",
			 eh.e_ident[EI_CLASS], eh.e_machine);
		return;
	}
	add_item(r, "elf", true, "ELF64 x86-64");

	if (eh.e_type == ET_EXEC)
		add_item(r, "type", true, "fixed-address executable (ET_EXEC)");
	else if (eh.e_type == ET_DYN)
		add_item(r, "type", false,
			 "position-independent (ET_DYN): the kernel loads it at a random address; "
			 "link with -no-pie");
	else
		add_item(r, "type", false, "not an executable (ELF type %d)", eh.e_type);

	if (elf_getphdrnum(e, &phnum) != 0) {
		add_item(r, "segments", false, "unreadable program headers: %s", elf_errmsg(-1));
		return;
	}
	for (size_t i = 0; i < phnum; i++) {
		if (!gelf_getphdr(e, i, &ph))
			continue;
		if (ph.p_type == PT_INTERP)
			interp_name(e, &ph, interp, sizeof(interp));
		if (ph.p_type == PT_DYNAMIC)
			dynamic = true;
		if (ph.p_type != PT_LOAD)
			continue;
		if (overlaps(ph.p_vaddr, ph.p_memsz, CONTRACT_STACK_ADDR, CONTRACT_STACK_SIZE))
			stack_clash = stack_clash ? stack_clash : ph.p_vaddr;
		if (!(ph.p_flags & PF_X))
			continue;
		if (!lowest_exec || ph.p_vaddr < lowest_exec)
			lowest_exec = ph.p_vaddr;
		if (ph.p_vaddr == CONTRACT_TEXT_ADDR) {
			text_found = true;
			if (eh.e_entry >= ph.p_vaddr && eh.e_entry < ph.p_vaddr + ph.p_memsz)
				entry_in_text = true;
		}
	}

	if (interp[0])
		add_item(r, "static", false, "dynamically linked (interpreter %s); link with -static",
			 interp);
	else if (dynamic)
		add_item(r, "static", false, "has a dynamic section (PT_DYNAMIC); link with -static");
	else
		add_item(r, "static", true, "statically linked");

	if (text_found && entry_in_text)
		add_item(r, "text", true, "code and entry point at 0x%lx", CONTRACT_TEXT_ADDR);
	else if (text_found)
		add_item(r, "text", false, "entry point 0x%lx is outside the code at 0x%lx",
			 (unsigned long)eh.e_entry, CONTRACT_TEXT_ADDR);
	else if (lowest_exec)
		add_item(r, "text", false, "code at 0x%lx, not 0x%lx; link with -Ttext=0x400000",
			 lowest_exec, CONTRACT_TEXT_ADDR);
	else
		add_item(r, "text", false, "no executable segment");

	if (stack_clash)
		add_item(r, "stack-free", false, "a segment at 0x%lx overlaps the fixed stack at 0x%lx",
			 stack_clash, CONTRACT_STACK_ADDR);
	else
		add_item(r, "stack-free", true, "nothing loaded over the fixed stack at 0x%lx",
			 CONTRACT_STACK_ADDR);
}

int contract_check_binary(const char *path, struct contract_report *r)
{
	struct stat st = { 0 };
	Elf *e;
	int fd;

	memset(r, 0, sizeof(*r));
	r->keeps = r->moves = true;
	snprintf(r->where, sizeof(r->where), "%s", path);
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int err = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;

		close(fd);
		return err;
	}
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e) {
		close(fd);
		return -EIO;
	}
	check_elf(e, r);
	elf_end(e);
	close(fd);
	return 0;
}

static void check_stack(const struct vma_list *maps, struct contract_report *r)
{
	const struct vma *v = vma_list_find(maps, CONTRACT_STACK_ADDR);

	if (!v)
		add_item(r, "stack", false, "nothing mapped at 0x%lx: the program did not set up "
			 "the fixed stack (crt0 or setup_fixed_stack)", CONTRACT_STACK_ADDR);
	else if (v->start != CONTRACT_STACK_ADDR || v->end < CONTRACT_STACK_ADDR + CONTRACT_STACK_SIZE ||
		 (v->prot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE) || v->shared)
		add_item(r, "stack", false, "unexpected mapping at the fixed stack: %lx-%lx%s%s",
			 v->start, v->end, v->shared ? " shared" : "",
			 (v->prot & PROT_WRITE) ? "" : " not writable");
	else
		add_item(r, "stack", true, "fixed stack mapped at 0x%lx-0x%lx", v->start, v->end);
}

/*
 * crt0 pushes the canary just below the top of the fixed stack, and thaw
 * refuses an image without it; a program whose own _start skipped it would
 * be frozen, ended, and then never thawed.  process_vm_readv reads it
 * without stopping the process (the same permission as ptrace, no more).
 * 0, or -errno when the memory cannot be read at all.
 */
static int check_canary(pid_t pid, struct contract_report *r)
{
	uint64_t canary = 0;
	struct iovec local = { .iov_base = &canary, .iov_len = sizeof(canary) };
	struct iovec remote = { .iov_base = (void *)CONTRACT_CANARY_ADDR,
				.iov_len = sizeof(canary) };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0 && errno != EFAULT)
		return -errno;
	if (n != (ssize_t)sizeof(canary))
		add_item(r, "canary", false, "nothing readable at 0x%lx, where _start pushes "
			 "the canary 0x%lx", CONTRACT_CANARY_ADDR, CONTRACT_CANARY);
	else if (canary != CONTRACT_CANARY)
		add_item(r, "canary", false, "the canary at 0x%lx is 0x%lx, not 0x%lx: its _start "
			 "did not push it (link with crt0, or push it as continuum(7) says)",
			 CONTRACT_CANARY_ADDR, (unsigned long)canary, CONTRACT_CANARY);
	else
		add_item(r, "canary", true, "canary 0x%lx at 0x%lx", CONTRACT_CANARY,
			 CONTRACT_CANARY_ADDR);
	return 0;
}

/*
 * A heap grown with brk() moves: its memory like any other, and the
 * kernel's idea of where it starts and ends with the other mm fields
 * (mm.h), so the copy's next brk() grows it in place.
 */
static void check_heap(const struct vma_list *maps, struct contract_report *r)
{
	for (size_t i = 0; i < maps->count; i++) {
		const struct vma *v = &maps->vma[i];

		if (v->name && !strcmp(v->name, "[heap]")) {
			add_item(r, "heap", true, "a brk heap at 0x%lx-0x%lx: it moves (brk is "
				 "carried)", v->start, v->end);
			return;
		}
	}
	add_item(r, "heap", true, "no brk heap");
}

/*
 * A process that contmig restored runs from the restore stub, so its
 * /proc/PID/exe is the stub, not the program (remote.c names the stub's
 * memfd "contmig-stub"), unless thaw could point it at the same program
 * again (mm.h), which is then checked as any other.  Its binary was checked
 * when it was first frozen; what can still be judged is its memory: the
 * code at 0x400000.
 */
static bool restored_by_contmig(pid_t pid)
{
	static const char stub[] = "/memfd:contmig-stub";
	char path[64], exe[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n < 0)
		return false;	/* contract_check_binary says why */
	exe[n] = '\0';
	return !strncmp(exe, stub, sizeof(stub) - 1);
}

static void check_restored_text(const struct vma_list *maps, struct contract_report *r)
{
	const struct vma *v = vma_list_find(maps, CONTRACT_TEXT_ADDR);

	if (v && (v->prot & PROT_EXEC))
		add_item(r, "text", true, "restored by contmig (its program was checked when "
			 "first frozen): code mapped at 0x%lx", CONTRACT_TEXT_ADDR);
	else
		add_item(r, "text", false, "restored by contmig, but no code is mapped at 0x%lx",
			 CONTRACT_TEXT_ADDR);
}

/* Append text to list (used bytes of it so far), after sep if not the first. */
ATTR_PRINTF(5, 6)
static void list_add(char *list, size_t size, size_t *used, const char *sep, const char *fmt, ...)
{
	va_list ap;

	if (*used >= size)
		return;
	if (*used)
		*used += snprintf(list + *used, size - *used, "%s", sep);
	if (*used >= size)
		return;
	va_start(ap, fmt);
	*used += vsnprintf(list + *used, size - *used, fmt, ap);
	va_end(ap);
}

/* How a file that moves comes back, for the list. */
static const char *reopened_as(const struct image_file *f)
{
	switch (f->kind) {
	case IMAGE_FILE_DEVICE:
		return " (the receiver's own)";
	case IMAGE_FILE_TERMINAL:
		return " (a terminal: the receiving side's)";
	case IMAGE_FILE_DIRECTORY:
		return " (a directory)";
	}
	return (f->open_flags & O_APPEND) ? " (appended to)" : "";
}

/*
 * Files beyond 0-2: what does not move, each with why, then what its copy
 * opens again.  The fds are those of the whole list, in order.
 */
static void check_fds(const struct file_looks *fl, struct contract_report *r)
{
	char bad[sizeof(r->item[0].detail)] = "", good[sizeof(r->item[0].detail)] = "";
	size_t nbad = 0, ngood = 0;

	for (size_t i = 0; i < fl->count; i++) {
		const struct file_look *l = &fl->look[i];

		if (l->why[0])
			list_add(bad, sizeof(bad), &nbad, "; ", "fd %d -> %s: %s", l->rec.fd, l->target,
				 l->why);
		else
			list_add(good, sizeof(good), &ngood, ", ", "fd %d -> %s%s", l->rec.fd,
				 l->rec.path, reopened_as(&l->rec));
	}
	if (nbad)
		add_item(r, "fds", false, "%s%s%s%s", bad, ngood ? " (reopened in the copy: " : "",
			 good, ngood ? ")" : "");
	else if (ngood)
		add_item(r, "fds", true, "reopened in the copy: %s", good);
	else
		add_item(r, "fds", true, "no open files beyond 0-2");
}

/* What a shared mapping is, by its name in /proc/PID/maps. */
static const char *shared_kind(const struct vma *v)
{
	if (!strncmp(v->name, "/SYSV", 5))
		return "SysV shared memory";
	if (!strcmp(v->name, "/dev/zero (deleted)") || !strncmp(v->name, "[anon_shmem", 11) ||
	    !*v->name)
		return "shared anonymous memory";
	if (!strncmp(v->name, "/memfd:", 7))
		return "a shared memfd";
	return "a shared file mapping";
}

/*
 * A shared mapping of a file that can never be written through (no write
 * permission, and none to be had: the file was opened read-only) moves as
 * a private copy of what it held, as a private mapping does: the program
 * loses no write of its own, only the sight of the file's later changes.
 * glibc's gconv-modules.cache, mapped so by every setlocale(), is one.
 * 1 when v is one, 0 when not, -errno when smaps cannot say.
 */
static int read_only_file(pid_t pid, const struct vma *v)
{
	int may_write;

	if (v->prot & PROT_WRITE || v->name[0] != '/' || strstr(v->name, " (deleted)") ||
	    !strncmp(v->name, "/SYSV", 5) || !strncmp(v->name, "/memfd:", 7))
		return 0;
	may_write = procfs_may_write(pid, v->start);
	return may_write < 0 ? may_write : !may_write;
}

/*
 * Any other shared mapping would be restored private: the program's later
 * writes would no longer reach the file or the other processes that map it,
 * nor theirs the program.  Not carried: refused by name.
 */
static int check_shared(pid_t pid, const struct vma_list *maps, struct contract_report *r)
{
	char bad[sizeof(r->item[0].detail)] = "", good[sizeof(r->item[0].detail)] = "";
	size_t nbad = 0, ngood = 0;

	for (size_t i = 0; i < maps->count; i++) {
		const struct vma *v = &maps->vma[i];
		int ro;

		if (!v->shared)
			continue;
		ro = read_only_file(pid, v);
		if (ro == -ENOENT)
			continue;	/* unmapped since maps was read */
		if (ro < 0)
			return ro;
		if (ro)
			list_add(good, sizeof(good), &ngood, ", ", "%#lx-%#lx %s", v->start, v->end,
				 v->name);
		else
			list_add(bad, sizeof(bad), &nbad, "; ", "%#lx-%#lx%s%s: %s does not move",
				 v->start, v->end, *v->name ? " " : "", v->name, shared_kind(v));
	}
	if (nbad)
		add_item(r, "shared", false, "%s (its copy would be private memory, cut off from "
			 "the file and the other processes)", bad);
	else if (ngood)
		add_item(r, "shared", true, "read-only shared mappings of files, carried as "
			 "private copies: %s", good);
	else
		add_item(r, "shared", true, "no shared mappings");
	return 0;
}

static void check_tracer(pid_t tracer, struct contract_report *r)
{
	struct proc_status tst;

	if (!tracer)
		add_item(r, "tracer", true, "not traced");
	else if (procfs_read_status(tracer, &tst) == 0)
		add_item(r, "tracer", false, "already traced by PID %d (%s)", (int)tracer, tst.name);
	else
		add_item(r, "tracer", false, "already traced by PID %d", (int)tracer);
}

/* Its working directory travels by path; under chroot it cannot. */
static int check_workdir(pid_t pid, struct contract_report *r)
{
	char why[sizeof(r->item[0].detail)], cwd[IMAGE_MAX_PATH];
	char link[64];
	ssize_t n;
	int err = workdir_refusal(pid, why, sizeof(why));

	if (err == -EBADMSG) {
		add_item(r, "workdir", false, "%s", why);
		return 0;
	}
	if (err)
		return err;
	snprintf(link, sizeof(link), "/proc/%d/cwd", (int)pid);
	n = readlink(link, cwd, sizeof(cwd) - 1);
	if (n < 0)
		return -errno;
	cwd[n] = '\0';
	add_item(r, "workdir", true, "works in %s (the copy changes to it by path)", cwd);
	return 0;
}

/* "SIGUSR1 SIGALRM" for the signals in mask, or "none", into buf. */
static const char *signal_list(uint64_t mask, char *buf, size_t len)
{
	size_t used = 0;

	snprintf(buf, len, "none");
	for (int sig = 1; sig <= 64 && used < len; sig++) {
		const char *abbrev = sigabbrev_np(sig);

		if (!(mask & 1ULL << (sig - 1)))
			continue;
		if (abbrev)
			used += snprintf(buf + used, len - used, "%sSIG%s", used ? " " : "", abbrev);
		else
			used += snprintf(buf + used, len - used, "%s%d", used ? " " : "", sig);
	}
	return buf;
}

/*
 * What it does with its signals travels (sigstate.h): said, for the user to
 * see.  Its POSIX timers do not (timer_create(2): a kernel object with an ID
 * the program holds, which the copy could not be given back): refused.
 */
static int check_signals(pid_t pid, struct contract_report *r)
{
	char caught_list[200], ignored_list[200];
	uint64_t caught, ignored;
	unsigned timers;
	int err = sigstate_dispositions(pid, &caught, &ignored);

	if (err)
		return err;
	add_item(r, "signals", true, "catches %s; ignores %s: these actions travel, as do its "
		 "alternate signal stack and interval timers", signal_list(caught, caught_list,
		 sizeof(caught_list)), signal_list(ignored, ignored_list, sizeof(ignored_list)));
	err = sigstate_posix_timers(pid, &timers);
	if (err == -ENOENT)
		add_item(r, "timers", true, "this kernel does not list POSIX timers "
			 "(/proc/PID/timers): any it has are not seen");
	else if (err)
		return err;
	else if (timers)
		add_item(r, "timers", false, "%u POSIX timer%s (timer_create): they do not move; "
			 "delete them first", timers, timers == 1 ? "" : "s");
	else
		add_item(r, "timers", true, "no POSIX timers");
	return 0;
}

/*
 * Filters travel only if the freeze can read them (CAP_SYS_ADMIN): a copy
 * without them would have left its sandbox.  Said only for a process that
 * has seccomp at all.
 */
static void check_seccomp(const struct seccomp_status *sc, struct contract_report *r)
{
	r->seccomp_filters = sc->filters;
	if (sc->mode == SECCOMP_MODE_STRICT && seccomp_may_read_filters())
		add_item(r, "seccomp", true, "seccomp strict mode (it travels)");
	else if (sc->mode == SECCOMP_MODE_STRICT)
		add_item(r, "seccomp", false, "seccomp strict mode: only a freeze with "
			 "CAP_SYS_ADMIN (root), itself under no seccomp, can set it aside to read "
			 "the process's signal actions and timers (any other call kills it)");
	else if (sc->mode && seccomp_may_read_filters())
		add_item(r, "seccomp", true, "%u seccomp filter%s (they travel)", sc->filters,
			 sc->filters == 1 ? "" : "s");
	else if (sc->mode)
		add_item(r, "seccomp", false, "%u seccomp filter%s: only a freeze with "
			 "CAP_SYS_ADMIN (root), itself under no seccomp, can read them to "
			 "carry them", sc->filters,
			 sc->filters == 1 ? "" : "s");
}

int contract_check_pid(pid_t pid, struct contract_report *r)
{
	struct seccomp_status sc;
	struct proc_status st;
	struct vma_list maps;
	struct file_looks fds;
	char exe[64];
	bool restored;
	int err;

	memset(r, 0, sizeof(*r));
	snprintf(r->where, sizeof(r->where), "/proc/%d/status", (int)pid);
	err = procfs_read_status(pid, &st);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	if (st.state == 'Z' || st.state == 'X')
		return -ESRCH;

	restored = restored_by_contmig(pid);
	if (restored) {
		r->keeps = r->moves = true;
	} else {
		snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
		err = contract_check_binary(exe, r);
		if (err)
			return err;
	}
	snprintf(r->name, sizeof(r->name), "%s", st.name);

	snprintf(r->where, sizeof(r->where), "/proc/%d/maps", (int)pid);
	err = procfs_read_maps(pid, &maps);
	if (err)
		return err;
	if (restored)
		check_restored_text(&maps, r);
	check_stack(&maps, r);
	snprintf(r->where, sizeof(r->where), "/proc/%d/mem at 0x%lx", (int)pid,
		 CONTRACT_CANARY_ADDR);
	err = check_canary(pid, r);
	if (!err)
		check_heap(&maps, r);
	if (!err) {
		snprintf(r->where, sizeof(r->where), "/proc/%d/smaps", (int)pid);
		err = check_shared(pid, &maps, r);
	}
	vma_list_free(&maps);
	if (err)
		return err;

	if (st.threads == 1)
		add_item(r, "threads", true, "single-threaded");
	else
		add_item(r, "threads", false, "%d threads: only single-threaded processes move",
			 st.threads);

	snprintf(r->where, sizeof(r->where), "/proc/%d/fd", (int)pid);
	err = files_look(pid, &fds);
	if (err)
		return err;
	check_fds(&fds, r);
	files_looks_free(&fds);

	check_tracer(st.tracer_pid, r);
	snprintf(r->where, sizeof(r->where), "/proc/%d/timers", (int)pid);
	err = check_signals(pid, r);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	snprintf(r->where, sizeof(r->where), "/proc/%d/cwd", (int)pid);
	err = check_workdir(pid, r);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	snprintf(r->where, sizeof(r->where), "/proc/%d/status", (int)pid);
	err = seccomp_read_status(pid, &sc);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	check_seccomp(&sc, r);
	r->where[0] = '\0';
	return 0;
}
