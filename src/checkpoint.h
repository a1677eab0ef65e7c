/*
 * checkpoint: a directory of checkpoints of one program (contmig(1), run
 * --checkpoint).
 *
 *   DIR/lock                 held (a POSIX record lock, which NFS carries)
 *                            by the one run that uses DIR; says who
 *   DIR/command              the program and its arguments, NUL after each
 *   DIR/NNNNNNNN.base        the checkpoints, numbered from 1: each an image,
 *   DIR/NNNNNNNN.delta       whole (a base) or a delta on the one before it
 *
 * A checkpoint is written under a hidden temporary name, made durable
 * (fsync) and only then renamed into place, and the directory synced: it
 * appears whole or not at all, on NFS too, and a crash at any moment leaves
 * the ones before it as they were.  The chain to resume is the newest base
 * and every delta after it with no number missing.  Functions return 0 or
 * -errno with why (a line for the user), and never print.
 */
#ifndef CONTMIG_CHECKPOINT_H
#define CONTMIG_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct checkpoint_dir {
	int fd;				/* the directory */
	int lock_fd;			/* DIR/lock, locked; -1 when only looked at */
	const char *path;		/* as the user gave it */
};

struct checkpoint_file {
	unsigned seq;			/* its number, from 1 */
	bool delta;			/* on the one before it; else a base */
	uint64_t size;			/* bytes */
	int64_t mtime;			/* when it was published (seconds) */
};

struct checkpoint_list {
	struct checkpoint_file *file;	/* in order of number */
	size_t count;
	unsigned next;			/* the number the next one gets */
};

/*
 * Open DIR for a run: create it (mode 0700) if missing, check it is a
 * directory of ours that nobody else may write (a root run restores what
 * it finds there as the user it names), take its lock (-EBUSY with why
 * naming the holder when another run has it) and remove what a run that
 * died mid-write left (temporary files).
 */
int checkpoint_open(struct checkpoint_dir *d, const char *path, char *why, size_t why_len)
	MUST_CHECK;
/* Open DIR only to look (inspect): no lock, nothing created or removed. */
int checkpoint_look(struct checkpoint_dir *d, const char *path, char *why, size_t why_len)
	MUST_CHECK;
void checkpoint_close(struct checkpoint_dir *d);
/* Who holds DIR's lock now ("HOST PID"), or "" when nobody does.  (Not
 * for the run holding it: a look through another fd would drop it.) */
int checkpoint_holder(struct checkpoint_dir *d, char *holder, size_t len) MUST_CHECK;

/*
 * The program DIR holds checkpoints of: argv (NULL-terminated) is written
 * as DIR/command when there is none; *same says whether it is argv.  Read
 * into cmd (NULs between arguments, *len bytes) when cmd is not NULL.
 */
int checkpoint_command(struct checkpoint_dir *d, char *const *argv, bool *same, char *why,
		       size_t why_len) MUST_CHECK;
int checkpoint_read_command(struct checkpoint_dir *d, char *cmd, size_t cap, size_t *len,
			    char *why, size_t why_len) MUST_CHECK;

/* Every published checkpoint in DIR, in order of number, whole or delta as
 * its name says (the resume checks its image says so too). */
int checkpoint_list(struct checkpoint_dir *d, struct checkpoint_list *l, char *why,
		    size_t why_len) MUST_CHECK;
void checkpoint_list_free(struct checkpoint_list *l);
/* The chain that resumes at l->file[upto]: the index of its base, or -1
 * when none leads to it (a number missing, no base before it). */
long checkpoint_chain_start(const struct checkpoint_list *l, size_t upto);

/* Open checkpoint f to read: its fd. */
int checkpoint_open_file(struct checkpoint_dir *d, const struct checkpoint_file *f, char *why,
			 size_t why_len) MUST_CHECK;
/* Begin checkpoint f (seq and delta set): the fd of its temporary file. */
int checkpoint_begin(struct checkpoint_dir *d, const struct checkpoint_file *f, char *why,
		     size_t why_len) MUST_CHECK;
/* Make it durable and give it its name; fd is closed.  On failure it is
 * discarded. */
int checkpoint_publish(struct checkpoint_dir *d, const struct checkpoint_file *f, int fd,
		       char *why, size_t why_len) MUST_CHECK;
/* Give up on it: closed and removed. */
void checkpoint_discard(struct checkpoint_dir *d, const struct checkpoint_file *f, int fd);
/* Remove the checkpoints before seq, and the delta numbered seq: a base
 * seq replaces them all. */
int checkpoint_prune(struct checkpoint_dir *d, unsigned seq, char *why, size_t why_len)
	MUST_CHECK;
/* Remove every checkpoint, and the command: DIR serves any command next. */
int checkpoint_clear(struct checkpoint_dir *d, char *why, size_t why_len) MUST_CHECK;
/* "NNNNNNNN.base" or "NNNNNNNN.delta" */
void checkpoint_name(const struct checkpoint_file *f, char name[32]);

#endif
