/*
 * image: the contmig image, an ELF core file read and written as a byte
 * stream (contmig-image(5) describes every byte).
 *
 *   ELF header | [section header 0: the real program header count, when
 *   there are PN_XNUM or more] | program headers: PT_NOTE, PT_LOAD...,
 *   PT_NOTE (sums)
 *   notes: NT_PRSTATUS, NT_PRPSINFO, NT_FPREGSET, NT_X86_XSTATE, NT_AUXV,
 *          CONTMIG state, mappings, [symbols], [signals], credentials,
 *          restrictions, [seccomp], working directory, mm, [vDSO], [rseq],
 *          signal actions, timers, [clocks], CONTMIG head sum (last)
 *   zero padding to a page boundary
 *   segment data, one page-aligned run of stored pages per PT_LOAD
 *   CONTMIG segment sums (a note after the data, so a writer can stream)
 *
 * The head sum covers every byte before it; each segment has its own sum in
 * the trailing note.  Sums are XXH3-64.  This module knows nothing of ptrace
 * or sockets; it fills or reads a struct image and moves bytes on a stream.
 */
#ifndef CONTMIG_IMAGE_H
#define CONTMIG_IMAGE_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/user.h>

#include "error.h"
#include "procfs.h"
#include "runs.h"
#include "symtab.h"
#include "stream.h"

#define IMAGE_VERSION		1
#define IMAGE_NOTE_OWNER	"CONTMIG"
#define IMAGE_PAGE		4096UL

/*
 * A reader's limits come from the image's own declared sizes, bounded by the
 * largest image its caller takes (max_size): the count of mappings, segments
 * and symbols and the size of the notes are only as large as a process
 * needs.  These two are the hardware's and the kernel's own bounds.
 */
#define IMAGE_MAX_XSTATE	(64UL << 10)
#define IMAGE_MAX_AUXV		4096
#define IMAGE_MAX_PATH		4096	/* a path, its NUL included: PATH_MAX */
/* Runs in a drops note: each costs the reader a call in the copy; a sender
 * with more empties whole mappings instead (precopy.c). */
#define IMAGE_MAX_DROPS		(1 << 17)

enum {
	NT_CONTMIG_STATE = 0x434d0001,	/* struct image_state */
	NT_CONTMIG_VMAS = 0x434d0002,	/* u64 count, image_vma_rec[count], names */
	NT_CONTMIG_HEADSUM = 0x434d0003,	/* XXH3-64 of every byte before this note */
	NT_CONTMIG_SEGSUMS = 0x434d0004,	/* XXH3-64 of each PT_LOAD's data, in order */
	NT_CONTMIG_SYMBOLS = 0x434d0005,	/* u64 count, image_sym_rec[count], names */
	NT_CONTMIG_SIGNALS = 0x434d0006,	/* u64 count, image_signal_rec[count] */
	NT_CONTMIG_CREDS = 0x434d0007,	/* image_creds_rec, u32 groups[], names */
	NT_CONTMIG_LIMITS = 0x434d0008,	/* image_limits_rec, image_rlimit[], LSM label */
	NT_CONTMIG_SECCOMP = 0x434d0009,	/* image_seccomp_rec, filters (oldest first) */
	NT_CONTMIG_FILES = 0x434d000f,	/* u64 count, image_file_rec[count], paths */
	NT_CONTMIG_WORKDIR = 0x434d0010,	/* u32 umask, u32 0, the directory's path, NUL */
	NT_CONTMIG_MM = 0x434d000a,	/* image_mm_rec, the program's path */
	NT_CONTMIG_VDSO = 0x434d000b,	/* image_vdso_rec, the vDSO's bytes */
	NT_CONTMIG_RSEQ = 0x434d000c,	/* image_rseq_rec */
	NT_CONTMIG_SIGACTIONS = 0x434d000d,	/* image_sigactions_rec, image_sigaction_rec[] */
	NT_CONTMIG_TIMERS = 0x434d000e,	/* image_itimer_rec[IMAGE_NTIMERS] */
	NT_CONTMIG_FILEREFS = 0x434d0011,	/* image_filerefs_rec, files, mappings, paths */
	NT_CONTMIG_DROPS = 0x434d0012,	/* u64 count, { u64 start, end }[count] */
	NT_CONTMIG_CLOCKS = 0x434d0013,	/* image_clocks_rec */
};

#define IMAGE_XCOMPONENTS	32

/* The CONTMIG state note, as stored (little-endian, no padding holes). */
struct image_state {
	uint32_t version;		/* IMAGE_VERSION */
	int32_t source_pid;
	int64_t frozen_at;		/* seconds since the epoch */
	uint64_t xfeatures;		/* XCR0 of the source CPU */
	uint64_t sigmask;		/* blocked signals */
	char comm[16];
	char hostname[64];
	/* Where the source CPU put each XSAVE component (CPUID 0xD), so a CPU
	 * with another layout can still load the state. */
	struct { uint32_t offset, size; } xcomp[IMAGE_XCOMPONENTS];
	/* Added after the first images were written: a state note that ends
	 * before it (IMAGE_STATE_OLD_SIZE bytes) reads as flags 0. */
	uint32_t flags;			/* IMAGE_STATE_* */
	uint32_t reserved;		/* 0 */
};

#define IMAGE_STATE_OLD_SIZE	offsetof(struct image_state, flags)
/* The process was stopped (SIGSTOP, ^Z: a group stop) when it was frozen;
 * its copy is left stopped too. */
#define IMAGE_STATE_STOPPED	1
/* crt0's canary was in place (a Continuum program): thaw checks it is
 * still there.  An ordinary program has none, and may map that address. */
#define IMAGE_STATE_CANARY	2
/* The image carries open files (the files note): a reader that does not
 * know this bit refuses the image rather than restore a copy without them. */
#define IMAGE_STATE_FILES	16
/* Some mappings are the receiver's own files (the file references note): a
 * reader that does not know this bit refuses the image rather than restore
 * those mappings empty. */
#define IMAGE_STATE_FILEREFS	32
/* It carries kernel state its copy needs (working directory, mm, vDSO,
 * rseq, signal actions, timers): a reader that does not know those notes
 * refuses the image rather than restore a copy without them. */
#define IMAGE_STATE_KERNEL	64
/* A round of a live send (contmig(1), send --live): another image follows
 * on the same stream, and the copy must not run yet. */
#define IMAGE_STATE_LIVE	128
/* Not a whole image: the copy holds the pages it does not store from the
 * rounds before it, less the drops note's, which it empties first. */
#define IMAGE_STATE_DELTA	256
#define IMAGE_STATE_KNOWN	(IMAGE_STATE_STOPPED | IMAGE_STATE_CANARY | IMAGE_STATE_FILES | \
				 IMAGE_STATE_FILEREFS | IMAGE_STATE_KERNEL | IMAGE_STATE_LIVE | \
				 IMAGE_STATE_DELTA)

/* One mapping in the CONTMIG mappings note. */
struct image_vma_rec {
	uint64_t start, end, offset;
	uint32_t prot;			/* PROT_* */
	uint32_t flags;			/* IMAGE_VMA_* */
	uint32_t name_off, name_len;	/* in the names after the records */
};

#define IMAGE_VMA_SHARED	1	/* was MAP_SHARED; restored private */

/* One symbol in the CONTMIG symbols note (optional: the program's own
 * symbol table, for backtraces without the binary). */
struct image_sym_rec {
	uint64_t addr, size;
	uint32_t name_off, name_len;	/* in the names after the records */
};

/* One pending signal in the CONTMIG signals note (optional). */
struct image_signal_rec {
	uint32_t flags;			/* IMAGE_SIGNAL_* */
	uint32_t reserved;		/* 0 */
	uint8_t info[128];		/* siginfo_t, as PTRACE_PEEKSIGINFO gave it */
};

#define IMAGE_SIGNAL_SHARED	1	/* pending for the process, not its thread */

/* The four IDs of each kind, in the order of /proc/PID/status's Uid: and
 * Gid: lines. */
enum { IMAGE_ID_REAL, IMAGE_ID_EFFECTIVE, IMAGE_ID_SAVED, IMAGE_ID_FS, IMAGE_NIDS };

#define IMAGE_MAX_GROUPS	65536	/* supplementary groups: the kernel's NGROUPS_MAX */
#define IMAGE_MAX_NAME		256	/* a user or group name, its NUL included */

/*
 * The CONTMIG credentials note, as stored: this, then u32 groups[ngroups],
 * then 2 + ngroups names, each ending in its NUL: the user of the effective
 * uid, the group of the effective gid, then the group of each groups[i];
 * "" where the source machine had no name for the ID.
 */
struct image_creds_rec {
	uint32_t uid[IMAGE_NIDS];
	uint32_t gid[IMAGE_NIDS];
	uint32_t ngroups;		/* supplementary groups */
	uint32_t reserved;		/* 0 */
};

struct image_group {
	uint32_t gid;
	char *name;			/* "" when the source had none for it */
};

/* Who the process ran as, and the names of its IDs on its machine, by which
 * a receiver finds them on its own (contmig(1), Credentials). */
struct image_creds {
	bool known;			/* false: an image from before the note */
	uint32_t uid[IMAGE_NIDS], gid[IMAGE_NIDS];
	char *user;			/* of uid[IMAGE_ID_EFFECTIVE]; "" if it had none */
	char *group;			/* of gid[IMAGE_ID_EFFECTIVE]; "" if it had none */
	struct image_group *groups;	/* supplementary, in the kernel's order */
	size_t ngroups;
};

void image_creds_free(struct image_creds *c);

/* The restrictions note: which of its parts the freeze could read. */
#define IMAGE_LIMITS_CAPS	1	/* cap[] */
#define IMAGE_LIMITS_NNP	2	/* no_new_privs */
#define IMAGE_LIMITS_PERSONALITY 4	/* personality */
#define IMAGE_LIMITS_RLIMITS	8	/* the image_rlimit records */
#define IMAGE_LIMITS_LSM	16	/* the LSM label */
/* Not a part read but what was seen: the process was not dumpable (its
 * /proc files its root's: PR_SET_DUMPABLE 0, a set-user-ID program), so
 * its user may not read its memory; nor may they its copy's. */
#define IMAGE_LIMITS_NOT_DUMPABLE	32
#define IMAGE_LIMITS_ALL	63
/* Capability sets, in the order of cap[]. */
enum { IMAGE_CAP_EFF, IMAGE_CAP_PRM, IMAGE_CAP_INH, IMAGE_CAP_BND, IMAGE_CAP_AMB, IMAGE_NCAPS };
#define IMAGE_MAX_RLIMITS	16	/* RLIM_NLIMITS */
#define IMAGE_MAX_LABEL		256	/* the LSM label, its NUL included */

/*
 * The CONTMIG restrictions note, as stored: this, then nrlimits
 * image_rlimit (resource 0, 1, ...), then the LSM label ending in its NUL
 * ("" unless IMAGE_LIMITS_LSM).  Securebits cannot be read from outside a
 * process: not recorded.
 */
struct image_limits_rec {
	uint32_t flags;			/* IMAGE_LIMITS_*: what was read */
	uint32_t nrlimits;		/* 0, or the source kernel's RLIM_NLIMITS */
	uint64_t cap[IMAGE_NCAPS];
	uint32_t no_new_privs;		/* 0 or 1 */
	uint32_t personality;
};

struct image_rlimit {
	uint64_t cur, max;		/* RLIM_INFINITY: ~0 */
};

/* A process's restrictions, which its copy keeps (contmig(1), Restrictions). */
struct image_limits {
	bool known;			/* false: an image from before the note */
	struct image_limits_rec rec;
	struct image_rlimit rlim[IMAGE_MAX_RLIMITS];
	char label[IMAGE_MAX_LABEL];	/* the LSM's, not carried; may be any bytes */
};

/* Seccomp (contmig-image(5)): the kernel's own bounds on a filter and on a
 * chain of them (BPF_MAXINSNS; MAX_INSNS_PER_PATH, each filter counting 4
 * more). */
#define IMAGE_MAX_FILTER_INSNS	4096
#define IMAGE_MAX_CHAIN_INSNS	32768
#define IMAGE_SECCOMP_NNP	1	/* image_seccomp_rec.flags: no_new_privs was set */

/* The CONTMIG seccomp note, as stored: this, then per filter (oldest first)
 * an image_filter_rec and its len 8-byte BPF instructions. */
struct image_seccomp_rec {
	uint32_t mode;			/* 1 strict, 2 filter (SECCOMP_MODE_*) */
	uint32_t nfilters;		/* 0 in strict mode */
	uint32_t flags;			/* IMAGE_SECCOMP_NNP */
	uint32_t reserved;		/* 0 */
};

struct image_filter_rec {
	uint32_t flags;			/* SECCOMP_FILTER_FLAG_LOG or 0 */
	uint32_t len;			/* instructions, 1..IMAGE_MAX_FILTER_INSNS */
};

struct image_filter {
	uint32_t flags, len;
	uint64_t *insn;			/* struct sock_filter, as the kernel gives them */
};

/* mode 0: no note (the process had no seccomp). */
struct image_seccomp {
	uint32_t mode;
	bool no_new_privs;		/* the source had it: needed for the filters */
	struct image_filter *filter;	/* oldest first */
	size_t nfilters;
};

void image_seccomp_free(struct image_seccomp *sc);

/*
 * Open files (contmig(1), Open files): each fd beyond 2 that its copy opens
 * again, by path, as its own user, once it is shown to be the same file.
 * The CONTMIG files note, as stored: a u64 count, the records (in fd order),
 * then their paths, one after another with no NUL.
 */
enum {
	IMAGE_FILE_REGULAR = 1,		/* reopened at its offset; size and mtime checked */
	IMAGE_FILE_DIRECTORY = 2,	/* reopened; still a directory */
	IMAGE_FILE_DEVICE = 3,		/* /dev/null, /dev/zero, /dev/full, /dev/random,
					 * /dev/urandom: the receiver's own */
	IMAGE_FILE_TERMINAL = 4,	/* the receiving side's terminal, or /dev/null */
};
#define IMAGE_FILE_CLOEXEC	1	/* FD_CLOEXEC */
#define IMAGE_FILE_HASHED	2	/* hash holds the XXH3-64 of the whole file */
#define IMAGE_FILE_FLAGS	(IMAGE_FILE_CLOEXEC | IMAGE_FILE_HASHED)
/* The open flags a file is opened again with (O_CLOEXEC is a record flag). */
#define IMAGE_FILE_OPEN_FLAGS	(O_ACCMODE | O_APPEND | O_NONBLOCK | O_DSYNC | O_DIRECT | \
				 O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | \
				 O_SYNC | O_PATH)
/* Files of at most this size that the process may read are hashed. */
#define IMAGE_FILE_HASH_MAX	(1UL << 20)
#define IMAGE_MAX_FD		(1 << 30)	/* the kernel's bound on fs.nr_open */

struct image_file_rec {
	int32_t fd;			/* 3 and up */
	uint32_t kind;			/* IMAGE_FILE_* */
	uint32_t open_flags;		/* within IMAGE_FILE_OPEN_FLAGS */
	uint32_t flags;			/* IMAGE_FILE_CLOEXEC | IMAGE_FILE_HASHED */
	int32_t shares;			/* -1, or the earlier fd whose open file this one
					 * is (a dup: one offset, one set of flags) */
	uint32_t mtime_nsec;
	uint64_t offset;		/* regular files */
	uint64_t size;			/* regular files: st_size */
	int64_t mtime_sec;		/* regular files: st_mtim */
	uint64_t rdev;			/* devices and terminals: st_rdev */
	uint64_t hash;			/* with IMAGE_FILE_HASHED */
	uint32_t path_off, path_len;	/* in the paths after the records */
};

struct image_file {
	int fd;
	uint32_t kind, open_flags, flags;
	int shares;
	uint64_t offset, size, rdev, hash;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	char *path;			/* absolute; may hold any byte but NUL */
};

/* Where it works (workdir.h). */
struct image_workdir {
	bool known;			/* false: an image from before the note */
	uint32_t umask;			/* 0 to 0777 */
	char path[IMAGE_MAX_PATH];	/* absolute, NUL-terminated */
};

/*
 * Where the kernel keeps the parts of the process (mm.h): the mm note, as
 * stored: this, then the program's path ending in its NUL ("" without
 * IMAGE_MM_EXE).  brk is the end of the heap rounded up to its page (the
 * exact value is not shown outside the process; the kernel maps by pages).
 */
struct image_mm_rec {
	uint64_t start_code, end_code, start_data, end_data;
	uint64_t start_brk, brk, start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint64_t exe_size;		/* bytes of the program's file */
	uint64_t exe_sum;		/* XXH3-64 of them */
	uint32_t flags;			/* IMAGE_MM_* */
	uint32_t reserved;		/* 0 */
};

#define IMAGE_MM_EXE		1	/* exe_size, exe_sum and the path say what ran */

struct image_mm {
	bool known;			/* false: an image from before the note */
	struct image_mm_rec rec;
	char *exe;			/* the program's path; "" without IMAGE_MM_EXE */
};

/* The vDSO note, as stored: this, then the source's vDSO, vdso_size bytes
 * (vdso.h).  vvar_size 0: no [vvar] was seen. */
struct image_vdso_rec {
	uint64_t vdso_start, vdso_size;
	uint64_t vvar_start, vvar_size;
};

#define IMAGE_MAX_VDSO		(256UL << 10)
#define IMAGE_MAX_VVAR		(1UL << 20)

struct image_vdso {
	struct image_vdso_rec rec;	/* vdso_size 0: no note (no vDSO) */
	uint8_t *bytes;
};

/* The rseq note: the area the process registered (rseq(2)), as
 * PTRACE_GET_RSEQ_CONFIGURATION gives it.  No note: none registered. */
struct image_rseq_rec {
	uint64_t addr;
	uint32_t len;
	uint32_t sig;
	uint32_t flags;			/* 0 */
	uint32_t reserved;		/* 0 */
};

#define IMAGE_MAX_RSEQ		4096

/*
 * Mapped files by reference (fileref.h): the CONTMIG file references note,
 * as stored: this, nfiles image_fileref_rec, nmaps image_mapref_rec (in
 * address order), then the files' paths one after another, no NUL.
 */
#define IMAGE_SUM128_BYTES	16	/* XXH3-128, in its canonical (big-endian) form */
#define IMAGE_MAX_BUILD_ID	32	/* bytes of an ELF build ID kept (SHA-1's are 20) */

struct image_filerefs_rec {
	uint32_t nfiles, nmaps;
};

struct image_fileref_rec {
	uint64_t size;			/* bytes of the file */
	uint8_t sum[IMAGE_SUM128_BYTES];	/* XXH3-128 of all of them */
	uint8_t build_id[IMAGE_MAX_BUILD_ID];	/* for people; zeros past build_id_len */
	uint32_t build_id_len;		/* 0: none */
	uint32_t path_len;		/* 1 .. IMAGE_MAX_PATH - 1 */
};

struct image_mapref_rec {
	uint64_t start;			/* the mapping's start (mappings note) */
	uint64_t offset;		/* its offset in the file: the mapping's own */
	uint32_t file;			/* index of the file */
	uint32_t reserved;		/* 0 */
};

struct image_fileref {
	uint64_t size;
	uint8_t sum[IMAGE_SUM128_BYTES];
	uint8_t build_id[IMAGE_MAX_BUILD_ID];
	uint32_t build_id_len;
	char *path;			/* absolute */
};

struct image_mapref {
	uint64_t start, offset;
	uint32_t file;
};

/* nfiles 0: the image stores every mapping's pages itself. */
struct image_filerefs {
	struct image_fileref *file;
	size_t nfiles;
	struct image_mapref *map;	/* in address order, one per referenced mapping */
	size_t nmaps;
};

void image_filerefs_free(struct image_filerefs *fr);

/*
 * Signal actions (contmig(1), Signals and timers): the CONTMIG signal
 * actions note, as stored, is this, then count image_sigaction_rec in
 * signal order.
 */
struct image_sigactions_rec {
	uint64_t ss_sp;			/* the alternate signal stack (sigaltstack(2)) */
	uint64_t ss_size;
	uint32_t ss_flags;		/* SS_DISABLE (none), or 0 / SS_AUTODISARM */
	uint32_t count;			/* signals with an action other than the default */
};

/* One signal's action: the kernel's struct sigaction of rt_sigaction(2). */
struct image_sigaction_rec {
	uint32_t signo;			/* 1 to 64, not SIGKILL or SIGSTOP */
	uint32_t reserved;		/* 0 */
	uint64_t handler;		/* SIG_IGN (1) or the handler's address */
	uint64_t flags;			/* SA_* */
	uint64_t restorer;		/* with SA_RESTORER */
	uint64_t mask;			/* blocked while the handler runs */
};

#define IMAGE_MAX_SIGNAL	64
/* ss_flags as stored: the kernel's SS_DISABLE and SS_AUTODISARM (never
 * SS_ONSTACK: whether it runs on the stack is its stack pointer's to say). */
#define IMAGE_SS_DISABLE	2U
#define IMAGE_SS_AUTODISARM	(1U << 31)

/* What the process does with its signals. */
struct image_sigactions {
	bool known;			/* false: an image from before the note */
	struct image_sigactions_rec head;
	struct image_sigaction_rec act[IMAGE_MAX_SIGNAL];	/* head.count of them */
};

/* The interval timers (setitimer(2)), in the CONTMIG timers note in this
 * order: a struct itimerval each, the reload and the time left. */
enum { IMAGE_ITIMER_REAL, IMAGE_ITIMER_VIRTUAL, IMAGE_ITIMER_PROF, IMAGE_NTIMERS };

struct image_itimer_rec {
	int64_t interval_sec, interval_usec;
	int64_t value_sec, value_usec;	/* 0 and 0: not armed */
};

struct image_timers {
	bool known;			/* false: an image from before the note */
	struct image_itimer_rec timer[IMAGE_NTIMERS];
};

/*
 * The clocks at the freeze (clocks.h, contmig(1) TIME): the CONTMIG clocks
 * note, as stored.  monotonic and boottime are the machine's own (its root
 * time namespace's); the source saw them plus its time namespace's offsets.
 */
struct image_clocks_rec {
	int64_t realtime;		/* CLOCK_REALTIME, ns since the epoch */
	int64_t monotonic;		/* CLOCK_MONOTONIC, ns */
	int64_t boottime;		/* CLOCK_BOOTTIME, ns */
	int64_t ns_monotonic;		/* the source's time namespace offsets, ns */
	int64_t ns_boottime;
	uint8_t boot_id[16];		/* /proc/sys/kernel/random/boot_id */
	uint32_t flags;			/* IMAGE_CLOCKS_* */
	uint32_t reserved;		/* 0 */
};

/* The source's time namespace offsets could not be read (it had entered
 * one other than its children's): ns_* are 0 and mean nothing. */
#define IMAGE_CLOCKS_OFFSETS_UNKNOWN	1
/* Bound of every time in the note, in ns: the kernel's own (KTIME_SEC_MAX / 2). */
#define IMAGE_CLOCKS_MAX		(INT64_MAX / 2)

struct image_clocks {
	bool known;			/* false: an image from before the note */
	struct image_clocks_rec rec;
};

struct image_segment {
	uint64_t vaddr, size;
	uint64_t offset;		/* in the image */
	uint32_t prot;
	uint64_t sum;			/* XXH3-64 of the data */
};

struct image {
	struct image_state state;
	struct user_regs_struct regs;
	uint8_t *xstate;		/* NT_X86_XSTATE: standard-format XSAVE area */
	size_t xstate_size;
	uint8_t *auxv;
	size_t auxv_size;
	struct vma_list vmas;		/* every mapping, stored pages or not */
	struct symtab syms;		/* the program's code symbols; may be empty */
	struct image_signal_rec *sig;	/* signals pending at the freeze, in order */
	size_t nsig;
	struct image_creds creds;	/* creds.known: the image has the note */
	struct image_limits limits;	/* limits.known: the image has the note */
	struct image_seccomp seccomp;	/* mode 0: the image has no seccomp note */
	struct image_file *file;	/* open files beyond 0-2, in fd order */
	size_t nfile;
	struct image_workdir workdir;	/* workdir.known: the image has the note */
	struct image_mm mm;		/* mm.known: the image has the note */
	struct image_vdso vdso;		/* rec.vdso_size 0: the image has none */
	struct image_rseq_rec rseq;	/* len 0: the image has no rseq note */
	struct image_sigactions sigactions;	/* known: the image has the note */
	struct image_timers timers;	/* known: the image has the note */
	struct image_filerefs refs;	/* nfiles 0: the image has no such note */
	struct runs drops;		/* IMAGE_STATE_DELTA: pages the copy empties */
	struct image_clocks clocks;	/* known: the image has the note */
	struct image_segment *seg;
	size_t nseg;
	/* Layout, set by image_layout or image_read_head. */
	uint64_t data_offset, sums_offset, size;
	uint8_t *head;			/* ELF header, program headers and notes */
	size_t head_size;
	char why[256];			/* why an image was refused */
};

/*
 * The rules every image keeps, checked by the writer (image_layout) before a
 * byte is written and by the reader (image_read_head) before any data is
 * read, so whatever the one emits the other accepts: mappings page-aligned,
 * in address order, not overlapping, in user space, with valid protection;
 * segments page-aligned, not empty, each inside one mapping and with its
 * protection, in address order, their data one after another from
 * data_offset up to sums_offset; credentials with at most IMAGE_MAX_GROUPS
 * groups, every name shorter than IMAGE_MAX_NAME; seccomp filters within
 * the kernel's bounds, none returning SECCOMP_RET_USER_NOTIF; mm fields in
 * user space, in order; the vDSO and its data page-aligned and clear of every
 * mapping; the rseq area inside one writable mapping; open files in fd order
 * from 3, of known kinds and flags, with absolute paths, a dup only of an
 * earlier file, and IMAGE_STATE_FILES set exactly when there are any.
 * 0, or -EBADMSG with im->why.
 */
int image_check(struct image *im) MUST_CHECK;
/* Say in im->why why an image is refused; -EBADMSG (for its readers). */
int image_refuse(struct image *im, const char *fmt, ...) ATTR_PRINTF(2, 3);

/* Lay the image out: set every offset from vmas and seg (vaddr, size and
 * prot set by the caller), check it (image_check) and build the head.
 * 0, -EBADMSG (im->why: a process no image can carry) or -ENOMEM. */
int image_layout(struct image *im) MUST_CHECK;
/* Write the head and the padding up to the segment data. */
int image_write_head(const struct image *im, struct stream *out) MUST_CHECK;
/* Write the segment sums; out must stand at im->sums_offset. */
int image_write_tail(const struct image *im, struct stream *out) MUST_CHECK;

/*
 * Read and validate everything before the segment data.  max_size is the
 * largest image the caller takes (the size of an image file, the memory of
 * this machine, --max-size): every size the image declares is checked
 * against it before the reader allocates for it, and memory grows only as
 * the bytes really arrive.  Returns 0; -EBADMSG (with im->why saying what
 * is wrong); -EFBIG when the image declares more than max_size bytes (im->size
 * and im->why say how many); or a -errno from reading.  On success the stream
 * stands at im->data_offset and seg[].sum are still to be read.
 */
int image_read_head(struct image *im, struct stream *in, uint64_t max_size) MUST_CHECK;
/* Read the segment sums into seg[].sum; in must stand at im->sums_offset. */
int image_read_tail(struct image *im, struct stream *in) MUST_CHECK;

/* A stretch of one segment's data, where it goes and where it lies now. */
struct image_piece {
	uint64_t vaddr;
	const uint8_t *data;
	size_t len;
};

/* At most this many pieces in one visit (the kernel's IOV_MAX). */
#define IMAGE_MAX_PIECES	1024

/* What image_read_data does with the segment data, a batch of pieces at a
 * time (valid only during the call). */
typedef int (*image_visit_fn)(void *ctx, const struct image_piece *p, size_t n);

/*
 * Read every segment's data (in stands at im->data_offset), hand it to visit
 * in batches of pieces (visit may be NULL), then the segment sums.  got[i] is the
 * sum of what segment i held; compare it with im->seg[i].sum.  Returns 0,
 * -EBADMSG (im->why) for a stream that ends early or a bad sums note, the
 * stream's -errno, or visit's error (then *visit_failed is set).
 */
int image_read_data(struct image *im, struct stream *in, image_visit_fn visit, void *ctx,
		    uint64_t *got, bool *visit_failed) MUST_CHECK;

/*
 * Read back the image just written from im and check it is the one im
 * describes: the head parses with image_read_head and says the same
 * (registers, state, mappings, segments), and the segment sums are im's.
 * in: the written image from its first byte (a file): its head, its sums
 * note and its size are read back (the data were summed on their way to
 * write(2)); NULL where the bytes are gone (a pipe): the head and the sums
 * note are rebuilt in memory and read back instead.
 * 0, -EBADMSG (im->why), or a -errno from reading.
 */
int image_verify(struct image *im, struct stream *in) MUST_CHECK;

void image_free(struct image *im);
void image_files_free(struct image *im);
/* The name of rdev if it is a memory device a copy gets its receiver's own
 * of (/dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom); or NULL. */
const char *image_memory_device(uint64_t rdev);

/* The reference of mapping v (one of im's), or NULL when the image stores
 * its pages itself. */
const struct image_mapref *image_mapref_of(const struct image *im, const struct vma *v);

/* Bytes the process had mapped, and bytes the image stores. */
uint64_t image_mapped_bytes(const struct image *im);
uint64_t image_stored_bytes(const struct image *im);

/* Do a and b say the process ran as the same user and groups?  A copy
 * built from several images (a live send's, a chain of checkpoints) runs
 * as the first one's. */
bool image_same_creds(const struct image *a, const struct image *b);
/* Are a and b images of one process: the same source PID, its code and
 * stack where they were?  A delta is of the process of the image it follows
 * (a chain of checkpoints is one run's), never of another's with its own
 * layout. */
bool image_same_source(const struct image *a, const struct image *b);

/* XSTATE_BV: the XSAVE components the saved state really uses. */
uint64_t image_xstate_bv(const struct image *im);

#endif
