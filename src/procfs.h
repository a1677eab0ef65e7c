/*
 * procfs: what /proc says about a process, read without disturbing it.
 * Functions return 0 or -errno and never print.
 */
#ifndef CONTMIG_PROCFS_H
#define CONTMIG_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* One line of /proc/PID/maps. */
struct vma {
	unsigned long start, end;	/* [start, end) */
	unsigned long offset;		/* file offset of start */
	unsigned long inode;
	unsigned int dev_major, dev_minor;
	int prot;			/* PROT_READ | PROT_WRITE | PROT_EXEC */
	bool shared;			/* MAP_SHARED ('s') rather than private ('p') */
	char *name;			/* path, "[heap]", "[stack]", ... or "" */
};

struct vma_list {
	struct vma *vma;
	size_t count, capacity;
};

/* Parse one maps line (without its newline) into *v; v->name is malloc'd. */
int procfs_parse_maps_line(const char *line, struct vma *v) MUST_CHECK;
int procfs_read_maps(pid_t pid, struct vma_list *out) MUST_CHECK;
/* The same from an open /proc/PID/maps, read again from its start: the
 * memory it was opened on, whatever the process runs since (an exec).
 * Empty once that memory is gone. */
int procfs_read_maps_fd(int fd, struct vma_list *out) MUST_CHECK;
void vma_list_free(struct vma_list *list);
/* The mapping that contains addr, or NULL. */
const struct vma *vma_list_find(const struct vma_list *list, unsigned long addr);

/* The fields of /proc/PID/status that contmig needs. */
struct proc_status {
	char name[64];			/* comm, as in "Name:" */
	char state;			/* 'R', 'S', 't', 'Z', ... */
	int threads;
	pid_t tracer_pid;		/* 0 when nobody traces it */
	uid_t uid;			/* real uid */
};

int procfs_parse_status(const char *text, struct proc_status *st) MUST_CHECK;
/* The number after "KEY:" in a status file's text, in base: 1 with *value
 * set, 0 when there is no such line, -EINVAL when it is not a number. */
int procfs_status_number(const char *text, const char *key, int base, uint64_t *value);
int procfs_read_status(pid_t pid, struct proc_status *st) MUST_CHECK;

/* Who a process runs as: the Uid:, Gid: (real, effective, saved, filesystem),
 * Groups: and capability lines of /proc/PID/status. */
struct proc_creds {
	uid_t uid[4];
	gid_t gid[4];
	gid_t *groups;			/* malloc'd */
	size_t ngroups;
	uint64_t cap_inh, cap_prm, cap_eff, cap_amb;	/* CapAmb: 0 before Linux 4.3 */
};

int procfs_parse_creds(const char *text, struct proc_creds *c) MUST_CHECK;
int procfs_read_creds(pid_t pid, struct proc_creds *c) MUST_CHECK;
void proc_creds_free(struct proc_creds *c);

/* An open file descriptor and what it refers to (readlink of /proc/PID/fd/N). */
struct fd_entry {
	int fd;
	char *target;
};

struct fd_list {
	struct fd_entry *fd;
	size_t count, capacity;
};

/* All open fds, sorted by number. */
int procfs_list_fds(pid_t pid, struct fd_list *out) MUST_CHECK;
void fd_list_free(struct fd_list *list);

/* Can the mapping of pid that starts at start ever be written (VM_MAYWRITE:
 * "mw" among its VmFlags in /proc/PID/smaps)?  1 or 0, or -errno (-ENOENT:
 * no such mapping). */
int procfs_may_write(pid_t pid, unsigned long start) MUST_CHECK;

/* Read /proc/PID/NAME whole into a malloc'd NUL-terminated buffer. */
int procfs_read_file(pid_t pid, const char *name, char **text, size_t *len) MUST_CHECK;

/* When pid started (field 22 of /proc/PID/stat, clock ticks since boot: with
 * the PID, what names one process for good) and its state ('R', 'T', 'Z',
 * ...).  -ESRCH if there is no such process. */
int procfs_read_start(pid_t pid, unsigned long long *start, char *state) MUST_CHECK;

/* Grow an array of elem_size elements so that one more fits; 0 or -ENOMEM. */
int array_reserve(void **array, size_t *capacity, size_t count, size_t elem_size) MUST_CHECK;

#endif
