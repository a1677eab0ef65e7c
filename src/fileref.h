/*
 * fileref: mapped files by reference (contmig(1), Mapped files).
 *
 * A private mapping of a regular file (a program's own binary, libc, ld.so)
 * holds mostly the file's own bytes.  Where the receiving machine has the
 * identical file (same size, same XXH3-128 of its bytes), the image names
 * the file and stores only the pages the process changed (copied on write);
 * the copy maps the file again, MAP_PRIVATE at the same address and offset,
 * and gets the changed pages written over it.
 *
 *   sender:   fileref_candidates (while the process runs), fileref_offer
 *             (the wire), fileref_recheck (once it is stopped)
 *   receiver: fileref_read_offer, fileref_have (only files anyone there may
 *             read, within a budget), fileref_answer
 *   restore:  fileref_map (opens the file as the copy's user, checks it is
 *             the one referenced, maps it)
 *
 * Functions return 0 or -errno and never print; a reason goes into why.
 */
#ifndef CONTMIG_FILEREF_H
#define CONTMIG_FILEREF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"
#include "image.h"
#include "runs.h"
#include "procfs.h"
#include "remote.h"

/*
 * What one receiver does for one sender, at most: files it looks at, bytes
 * it hashes, and how long it takes; what lies beyond is answered "not
 * here" (stored).  A sender offers no more than a receiver would take.
 */
#define FILEREF_MAX_FILES	512
#define FILEREF_MAX_BYTES	(1ULL << 30)
#define FILEREF_MAX_MS		5000

/* A file the sender may reference: what the image says of it, and how it
 * was found here, to tell later that it is still the file hashed. */
struct fileref_candidate {
	struct image_fileref ref;	/* ref.path malloc'd */
	unsigned dev_major, dev_minor;	/* as /proc/PID/maps shows them */
	unsigned long inode;
	struct timespec mtime, ctime;
	bool taken;			/* reference it (the receiver has it) */
};

struct fileref_set {
	struct fileref_candidate *c;
	size_t count, capacity;
};

void fileref_set_free(struct fileref_set *s);

/*
 * The private mappings of regular files in pid whose path still names the
 * mapped file (dev:inode as maps shows them, seen from pid's root), each
 * file once, at most FILEREF_MAX_FILES of them and none larger than
 * FILEREF_MAX_BYTES, hashed whole; none taken yet.  A file that changes
 * while it is hashed is left out.
 */
int fileref_candidates(pid_t pid, struct fileref_set *out) MUST_CHECK;
/* Once pid is stopped: a taken file whose path no longer names the file
 * hashed (replaced, removed, written since: size or times differ) is taken
 * no more, and is stored instead.  How many were given up. */
size_t fileref_recheck(pid_t pid, struct fileref_set *s);
/* The taken candidate that mapping v maps (a private mapping of it), or NULL. */
struct fileref_candidate *fileref_find(struct fileref_set *s, const struct vma *v);

/*
 * The wire (contmig(1), The wire): the sender's offer, MSG_FILES: u32
 * count, then per file u64 size, u8 sum[16], u16 path_len, the path (no
 * NUL); and the receiver's answer, MSG_HAVE: u32 count, then a bit per file
 * (bit i % 8 of byte i / 8), set for a file it has identical.
 */
/* As many candidates as fit in max bytes; *offered says how many (the
 * first ones).  A malloc'd payload. */
int fileref_offer(const struct fileref_set *s, size_t max, uint8_t **payload, size_t *len,
		  size_t *offered) MUST_CHECK;
/* Decode an offer into files (malloc'd, paths too): -EPROTO if it breaks
 * the format. */
int fileref_read_offer(const uint8_t *payload, size_t len, struct image_fileref **files,
		       size_t *n) MUST_CHECK;
void fileref_files_free(struct image_fileref *files, size_t n);
/* The answer for n files, have[i] true where the receiver has file i. */
int fileref_answer(const bool *have, size_t n, uint8_t **payload, size_t *len) MUST_CHECK;
/* Take the answer to an offer of the first `offered` candidates: mark them
 * taken.  -EPROTO if it does not answer that offer. */
int fileref_take_answer(struct fileref_set *s, size_t offered, const uint8_t *payload,
			size_t len) MUST_CHECK;

/* What a receiver may still do for one sender (FILEREF_MAX_*). */
struct fileref_budget {
	size_t files;
	uint64_t bytes;
	struct timespec deadline;	/* CLOCK_MONOTONIC */
};

void fileref_budget_init(struct fileref_budget *b);
/*
 * Does this machine have file f, identical, where anyone may read it (the
 * file o+r, every directory on its path o+x, no symbolic link on the way),
 * within budget b?  So a sender learns nothing of a file it could not read
 * here itself.  Every failure is a no.
 */
bool fileref_have(const struct image_fileref *f, struct fileref_budget *b);

/*
 * In the process under construction: open file f (as the copy's user: it
 * is whom the restorer runs as), check it is the file referenced (size and
 * checksum), and map it at each mapping of im that references it, MAP_PRIVATE,
 * read and write (the stored pages are then written over it; restore sets
 * the final protection); with only, just the mappings that start in it (a
 * round of a live send: those the copy does not hold yet).  how: 0, or
 * FILEREF_NO_SUM (a live send's round: a regular file of the size
 * referenced will do for now, since the copy reads its pages only once it
 * runs, and the last image checks the sum) or FILEREF_NO_MAP (the last
 * image: the sum checked, the mappings there already).  -errno with why
 * saying which file and why.
 */
#define FILEREF_NO_SUM	1
#define FILEREF_NO_MAP	2
int fileref_map(struct remote *r, const struct image *im, uint32_t file,
		const struct runs *only, unsigned how, char *why, size_t why_len) MUST_CHECK;

/* XXH3-128 of the size bytes of fd, canonical; -EIO if it holds another
 * number of bytes, -ETIMEDOUT past deadline (NULL: none). */
int fileref_hash(int fd, uint64_t size, const struct timespec *deadline,
		 uint8_t sum[IMAGE_SUM128_BYTES]) MUST_CHECK;

#endif
