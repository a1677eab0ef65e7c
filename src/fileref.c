#include "config.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xxhash.h>

#include "fileref.h"

/* How much of a file one read hashes: its bytes are still in the cache. */
#define HASH_CHUNK	(256UL << 10)
#define DELETED_SUFFIX	" (deleted)"
/* Program headers and note bytes looked through for a build ID. */
#define BUILD_ID_MAX_PHDRS	256
#define BUILD_ID_MAX_NOTES	(64UL << 10)
/* One file in an offer: size, sum, path_len, then the path. */
#define OFFER_ENTRY_BYTES	(8 + IMAGE_SUM128_BYTES + 2)

void fileref_set_free(struct fileref_set *s)
{
	for (size_t i = 0; i < s->count; i++)
		free(s->c[i].ref.path);
	free(s->c);
	memset(s, 0, sizeof(*s));
}

void fileref_files_free(struct image_fileref *files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(files[i].path);
	free(files);
}

static bool past(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

int fileref_hash(int fd, uint64_t size, const struct timespec *deadline,
		 uint8_t sum[IMAGE_SUM128_BYTES])
{
	XXH3_state_t *state = XXH3_createState();
	uint8_t *buf = malloc(HASH_CHUNK);
	XXH128_canonical_t canon;
	uint64_t done = 0;
	int err = 0;

	if (!state || !buf) {
		err = -ENOMEM;
		goto out;
	}
	XXH3_128bits_reset(state);
	/* pread, not mmap: a file truncated under a mapping would kill us
	 * with SIGBUS, and anyone may own a file we are asked about. */
	while (!err && done < size) {
		size_t want = size - done < HASH_CHUNK ? size - done : HASH_CHUNK;
		ssize_t n = pread(fd, buf, want, done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;	/* shorter than it was */
			break;
		}
		XXH3_128bits_update(state, buf, n);
		done += n;
		if (deadline && past(deadline))
			err = -ETIMEDOUT;
	}
	/* Nor longer. */
	if (!err && pread(fd, buf, 1, size) != 0)
		err = -EIO;
	if (!err) {
		XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(state));
		memcpy(sum, canon.digest, IMAGE_SUM128_BYTES);
	}
out:
	free(buf);
	XXH3_freeState(state);
	return err;
}

/* Look for NT_GNU_BUILD_ID in notes[0..len), notes aligned to align. */
static void build_id_in_notes(const uint8_t *notes, size_t len, size_t align,
			      struct image_fileref *f)
{
	size_t pos = 0;

	while (len - pos >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		size_t name_at = pos + sizeof(nh), desc_at, next;

		memcpy(&nh, notes + pos, sizeof(nh));
		desc_at = name_at + ((nh.n_namesz + align - 1) & ~(align - 1));
		next = desc_at + ((nh.n_descsz + align - 1) & ~(align - 1));
		if (nh.n_namesz > len || nh.n_descsz > len || desc_at > len || next > len)
			return;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    !memcmp(notes + name_at, "GNU", 4) && nh.n_descsz &&
		    nh.n_descsz <= IMAGE_MAX_BUILD_ID) {
			memcpy(f->build_id, notes + desc_at, nh.n_descsz);
			f->build_id_len = nh.n_descsz;
			return;
		}
		pos = next;
	}
}

/* Its ELF build ID, for people (inspect shows it): best effort, and never
 * part of the identity, which is the size and the checksum. */
static void read_build_id(int fd, struct image_fileref *f)
{
	Elf64_Ehdr eh;

	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum > BUILD_ID_MAX_PHDRS)
		return;
	for (size_t i = 0; i < eh.e_phnum && !f->build_id_len; i++) {
		Elf64_Phdr ph;
		uint8_t *notes;

		if (pread(fd, &ph, sizeof(ph), eh.e_phoff + i * sizeof(ph)) != sizeof(ph))
			return;
		if (ph.p_type != PT_NOTE || !ph.p_filesz || ph.p_filesz > BUILD_ID_MAX_NOTES)
			continue;
		notes = malloc(ph.p_filesz);
		if (notes && pread(fd, notes, ph.p_filesz, ph.p_offset) == (ssize_t)ph.p_filesz)
			build_id_in_notes(notes, ph.p_filesz, ph.p_align == 8 ? 8 : 4, f);
		free(notes);
	}
}

/* Open what an O_PATH fd names, for reading: the very inode it found. */
static int reopen(int path_fd)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", path_fd);
	return open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
}

/* Open path for reading if it is a regular file, with its stat: never a
 * device or a FIFO, whose opening may do something.  -1 otherwise. */
static int open_regular(const char *path, struct stat *st)
{
	int path_fd = open(path, O_PATH | O_CLOEXEC), fd = -1;

	if (path_fd < 0)
		return -1;
	if (fstat(path_fd, st) == 0 && S_ISREG(st->st_mode))
		fd = reopen(path_fd);
	close(path_fd);
	return fd;
}

static bool maps_private_file(const struct vma *v)
{
	size_t n = strlen(v->name), m = strlen(DELETED_SUFFIX);

	return v->inode && !v->shared && v->name[0] == '/' &&
	       !(n >= m && !strcmp(v->name + n - m, DELETED_SUFFIX));
}

static bool is_mapped_file(const struct stat *st, unsigned maj, unsigned min, unsigned long ino)
{
	return S_ISREG(st->st_mode) && major(st->st_dev) == maj && minor(st->st_dev) == min &&
	       st->st_ino == ino;
}

static bool same_times(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Unchanged between two looks: same file, size and times. */
static bool unchanged(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       same_times(&a->st_mtim, &b->st_mtim) && same_times(&a->st_ctim, &b->st_ctim);
}

/* The path of a mapped file as pid sees it, from its own root. */
static void path_in(pid_t pid, const char *path, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/%d/root%s", (int)pid, path);
}

static struct fileref_candidate *find_file(struct fileref_set *s, const struct vma *v)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->c[i].dev_major == v->dev_major && s->c[i].dev_minor == v->dev_minor &&
		    s->c[i].inode == v->inode)
			return &s->c[i];
	return NULL;
}

/* Mapping v's file as a candidate, if its path still names it and it holds
 * still while hashed; 0 when it is no candidate, -ENOMEM. */
static int add_candidate(pid_t pid, const struct vma *v, struct fileref_set *out)
{
	char path[IMAGE_MAX_PATH + 32];
	struct fileref_candidate c = { .dev_major = v->dev_major, .dev_minor = v->dev_minor,
				       .inode = v->inode };
	struct stat before, after;
	int fd, err;

	if (strlen(v->name) >= IMAGE_MAX_PATH)
		return 0;
	path_in(pid, v->name, path, sizeof(path));
	fd = open_regular(path, &before);
	if (fd < 0)
		return 0;		/* gone, or not ours to read: stored */
	if (!is_mapped_file(&before, v->dev_major, v->dev_minor, v->inode) || !before.st_size ||
	    (uint64_t)before.st_size > FILEREF_MAX_BYTES) {
		close(fd);
		return 0;
	}
	err = fileref_hash(fd, before.st_size, NULL, c.ref.sum);
	if (!err && (fstat(fd, &after) < 0 || !unchanged(&before, &after)))
		err = -EAGAIN;		/* written meanwhile */
	if (!err)
		read_build_id(fd, &c.ref);
	close(fd);
	if (err)
		return err == -ENOMEM ? err : 0;
	c.ref.size = before.st_size;
	c.mtime = before.st_mtim;
	c.ctime = before.st_ctim;
	if (array_reserve((void **)&out->c, &out->capacity, out->count, sizeof(c)) ||
	    !(c.ref.path = strdup(v->name)))
		return -ENOMEM;
	out->c[out->count++] = c;
	return 0;
}

int fileref_candidates(pid_t pid, struct fileref_set *out)
{
	struct vma_list maps;
	int err;

	memset(out, 0, sizeof(*out));
	err = procfs_read_maps(pid, &maps);
	if (err)
		return err;
	for (size_t i = 0; i < maps.count && !err && out->count < FILEREF_MAX_FILES; i++) {
		const struct vma *v = &maps.vma[i];

		if (maps_private_file(v) && !find_file(out, v))
			err = add_candidate(pid, v, out);
	}
	vma_list_free(&maps);
	if (err)
		fileref_set_free(out);
	return err;
}

size_t fileref_recheck(pid_t pid, struct fileref_set *s)
{
	size_t given_up = 0;

	for (size_t i = 0; i < s->count; i++) {
		struct fileref_candidate *c = &s->c[i];
		char path[IMAGE_MAX_PATH + 32];
		struct stat st;

		if (!c->taken)
			continue;
		path_in(pid, c->ref.path, path, sizeof(path));
		if (stat(path, &st) == 0 && is_mapped_file(&st, c->dev_major, c->dev_minor, c->inode) &&
		    (uint64_t)st.st_size == c->ref.size && same_times(&st.st_mtim, &c->mtime) &&
		    same_times(&st.st_ctim, &c->ctime))
			continue;
		c->taken = false;
		given_up++;
	}
	return given_up;
}

struct fileref_candidate *fileref_find(struct fileref_set *s, const struct vma *v)
{
	struct fileref_candidate *c;

	if (!s || !maps_private_file(v))
		return NULL;
	c = find_file(s, v);
	return c && c->taken ? c : NULL;
}

/* ---- the wire ------------------------------------------------------------ */

static void put_le(uint8_t *p, uint64_t v, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++)
		p[i] = v >> (8 * i);
}

static uint64_t get_le(const uint8_t *p, size_t bytes)
{
	uint64_t v = 0;

	for (size_t i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int fileref_offer(const struct fileref_set *s, size_t max, uint8_t **payload, size_t *len,
		  size_t *offered)
{
	size_t n = 0, total = 4;
	uint8_t *p;

	while (n < s->count && total + OFFER_ENTRY_BYTES + strlen(s->c[n].ref.path) <= max)
		total += OFFER_ENTRY_BYTES + strlen(s->c[n++].ref.path);
	p = malloc(total);
	if (!p)
		return -ENOMEM;
	*payload = p;
	*len = total;
	*offered = n;
	put_le(p, n, 4);
	p += 4;
	for (size_t i = 0; i < n; i++) {
		const struct image_fileref *f = &s->c[i].ref;
		size_t plen = strlen(f->path);

		put_le(p, f->size, 8);
		memcpy(p + 8, f->sum, IMAGE_SUM128_BYTES);
		put_le(p + 8 + IMAGE_SUM128_BYTES, plen, 2);
		memcpy(p + OFFER_ENTRY_BYTES, f->path, plen);
		p += OFFER_ENTRY_BYTES + plen;
	}
	return 0;
}

int fileref_read_offer(const uint8_t *payload, size_t len, struct image_fileref **files,
		       size_t *n)
{
	size_t count, pos = 4;
	struct image_fileref *f;

	*files = NULL;
	*n = 0;
	if (len < 4)
		return -EPROTO;
	count = get_le(payload, 4);
	/* The payload's own length bounds the count, and so what it costs. */
	if (count > (len - 4) / (OFFER_ENTRY_BYTES + 1))
		return -EPROTO;
	f = calloc(count ? count : 1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		size_t plen;

		if (len - pos < OFFER_ENTRY_BYTES)
			goto bad;
		plen = get_le(payload + pos + 8 + IMAGE_SUM128_BYTES, 2);
		if (!plen || plen >= IMAGE_MAX_PATH || len - pos - OFFER_ENTRY_BYTES < plen ||
		    payload[pos + OFFER_ENTRY_BYTES] != '/' ||
		    memchr(payload + pos + OFFER_ENTRY_BYTES, '\0', plen))
			goto bad;
		f[i].size = get_le(payload + pos, 8);
		memcpy(f[i].sum, payload + pos + 8, IMAGE_SUM128_BYTES);
		f[i].path = strndup((const char *)payload + pos + OFFER_ENTRY_BYTES, plen);
		if (!f[i].path) {
			fileref_files_free(f, count);
			return -ENOMEM;
		}
		pos += OFFER_ENTRY_BYTES + plen;
	}
	if (pos != len)
		goto bad;
	*files = f;
	*n = count;
	return 0;
bad:
	fileref_files_free(f, count);
	return -EPROTO;
}

int fileref_answer(const bool *have, size_t n, uint8_t **payload, size_t *len)
{
	uint8_t *p = calloc(1, 4 + (n + 7) / 8);

	if (!p)
		return -ENOMEM;
	put_le(p, n, 4);
	for (size_t i = 0; i < n; i++)
		if (have[i])
			p[4 + i / 8] |= 1U << (i % 8);
	*payload = p;
	*len = 4 + (n + 7) / 8;
	return 0;
}

int fileref_take_answer(struct fileref_set *s, size_t offered, const uint8_t *payload,
			size_t len)
{
	if (len != 4 + (offered + 7) / 8 || get_le(payload, 4) != offered ||
	    (offered % 8 && payload[len - 1] >> (offered % 8)))
		return -EPROTO;
	for (size_t i = 0; i < offered; i++)
		s->c[i].taken = payload[4 + i / 8] >> (i % 8) & 1;
	return 0;
}

/* ---- the receiver --------------------------------------------------------- */

void fileref_budget_init(struct fileref_budget *b)
{
	b->files = FILEREF_MAX_FILES;
	b->bytes = FILEREF_MAX_BYTES;
	clock_gettime(CLOCK_MONOTONIC, &b->deadline);
	b->deadline.tv_sec += FILEREF_MAX_MS / 1000;
	b->deadline.tv_nsec += (FILEREF_MAX_MS % 1000) * 1000000L;
	if (b->deadline.tv_nsec >= 1000000000L) {
		b->deadline.tv_sec++;
		b->deadline.tv_nsec -= 1000000000L;
	}
}

/*
 * Is at on a file system whose files read otherwise for root than for
 * others, whatever their mode says (a PCI device's config in sysfs is 0644:
 * 4096 bytes for root, 64 for anyone else)?  No program maps such a file
 * from its own copy, and hashing it as root would answer for root's view.
 */
static bool kernel_view(int at)
{
	static const unsigned long kinds[] = {
		PROC_SUPER_MAGIC, SYSFS_MAGIC, DEBUGFS_MAGIC, TRACEFS_MAGIC, SECURITYFS_MAGIC,
		CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, BPF_FS_MAGIC, EFIVARFS_MAGIC,
		PSTOREFS_MAGIC,
	};
	struct statfs fs;

	if (fstatfs(at, &fs) < 0)
		return true;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if ((unsigned long)fs.f_type == kinds[i])
			return true;
	return false;
}

/*
 * Open path for reading if anyone on this machine may read it: from the root
 * down, each directory o+x, then the file regular and o+r; no symbolic link,
 * "." or ".." on the way (a mapped file's path, as the kernel shows it, has
 * none), so what is checked is what is opened.  An fd with *st, or -1.
 */
static int open_public(const char *path, struct stat *st)
{
	const char *p = path;
	int at = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), fd = -1;

	while (at >= 0 && *p == '/') {
		const char *name = p + 1, *end = strchrnul(name, '/');
		size_t n = end - name;
		char comp[NAME_MAX + 1];
		int next;

		if (fstat(at, st) < 0 || !S_ISDIR(st->st_mode) || !(st->st_mode & S_IXOTH) ||
		    !n || n > NAME_MAX)
			break;
		memcpy(comp, name, n);
		comp[n] = '\0';
		if (!strcmp(comp, ".") || !strcmp(comp, ".."))
			break;
		next = openat(at, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		close(at);
		at = next;
		p = end;
		if (!*p) {
			if (at >= 0 && fstat(at, st) == 0 && S_ISREG(st->st_mode) &&
			    st->st_mode & S_IROTH && !kernel_view(at))
				fd = reopen(at);
			break;
		}
	}
	if (at >= 0)
		close(at);
	return fd;
}

bool fileref_have(const struct image_fileref *f, struct fileref_budget *b)
{
	uint8_t sum[IMAGE_SUM128_BYTES];
	struct stat st;
	bool same;
	int fd;

	if (!b->files || f->size > b->bytes || past(&b->deadline))
		return false;
	b->files--;
	fd = open_public(f->path, &st);
	if (fd < 0)
		return false;
	if ((uint64_t)st.st_size != f->size) {
		close(fd);
		return false;
	}
	b->bytes -= f->size;
	same = fileref_hash(fd, f->size, &b->deadline, sum) == 0 &&
	       !memcmp(sum, f->sum, sizeof(sum));
	close(fd);
	return same;
}

/* ---- the restore ---------------------------------------------------------- */

/* Is the file the restorer holds open as fd the one referenced? */
static int check_same(pid_t pid, long fd, const struct image_fileref *f, bool sum_too,
		      char *why, size_t why_len)
{
	uint8_t sum[IMAGE_SUM128_BYTES];
	char proc[64];
	struct stat st;
	int ours, err = 0;

	snprintf(proc, sizeof(proc), "/proc/%d/fd/%ld", (int)pid, fd);
	ours = open_regular(proc, &st);
	if (ours < 0)
		return say_why(-EINVAL, why, why_len, "the mapped file %s is not a regular file "
			       "here", f->path);
	if ((uint64_t)st.st_size != f->size)
		err = say_why(-ESTALE, why, why_len, "the mapped file %s has %llu bytes here, not "
			      "the %llu of the file the image references", f->path,
			      (unsigned long long)st.st_size, (unsigned long long)f->size);
	else if (sum_too && (err = fileref_hash(ours, f->size, NULL, sum)))
		err = say_why(err, why, why_len, "reading the mapped file %s: %s", f->path,
			      strerror(-err));
	else if (sum_too && memcmp(sum, f->sum, sizeof(sum)))
		err = say_why(-ESTALE, why, why_len, "the mapped file %s here is not the one the "
			      "image references (another checksum)", f->path);
	close(ours);
	return err;
}

/* The mapping of im that starts at start (there is one: image_check). */
static const struct vma *vma_at(const struct image *im, uint64_t start)
{
	size_t lo = 0, hi = im->vmas.count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (im->vmas.vma[mid].start == start)
			return &im->vmas.vma[mid];
		if (im->vmas.vma[mid].start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Map every mapping of im that references file, from the restorer's fd. */
/* Is the mapping at start among those to map (all of them without a list)? */
static bool wanted(const struct runs *only, uint64_t start)
{
	for (size_t i = 0; only && i < only->count; i++)
		if (only->run[i].start <= start && start < only->run[i].end)
			return true;
	return !only;
}

static int map_file(struct remote *r, const struct image *im, uint32_t file,
		    const struct runs *only, long fd, char *why, size_t why_len)
{
	const char *path = im->refs.file[file].path;

	for (size_t i = 0; i < im->refs.nmaps; i++) {
		const struct image_mapref *m = &im->refs.map[i];
		const struct vma *v = m->file == file && wanted(only, m->start) ?
				      vma_at(im, m->start) : NULL;
		long ret;

		if (!v)
			continue;
		ret = remote_mmap(r, v->start, v->end - v->start, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, m->offset);
		if (ret == -EEXIST)
			return say_why(-EEXIST, why, why_len, "%#lx-%#lx (%s) clashes with a "
				       "mapping already there", v->start, v->end, path);
		if (ret < 0 || (unsigned long)ret != v->start)
			return say_why(ret < 0 ? (int)ret : -EADDRNOTAVAIL, why, why_len,
				       "mapping %s at %#lx-%#lx: %s", path, v->start, v->end,
				       ret < 0 ? strerror(-ret) : "the kernel chose another address");
	}
	return 0;
}

int fileref_map(struct remote *r, const struct image *im, uint32_t file,
		const struct runs *only, unsigned how, char *why, size_t why_len)
{
	const struct image_fileref *f = &im->refs.file[file];
	size_t len = strlen(f->path) + 1;	/* at most a page (image_check) */
	long page, fd, ret;
	int err;

	/*
	 * The path goes in through a scratch page where no mapping of the image
	 * may lie (restore_preflight): anywhere the kernel chose, it might take
	 * the place of a mapping not made yet.
	 */
	page = remote_mmap(r, STUB_AREA_START, IMAGE_PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (page < 0)
		return say_why((int)page, why, why_len, "a scratch page: %s", strerror(-page));
	err = remote_write(r, page, f->path, len);
	/* Non-blocking: a FIFO put in its place must not hang the restore. */
	fd = err ? err : remote_syscall(r, SYS_openat, AT_FDCWD, page,
					O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0, 0, 0);
	ret = remote_munmap(r, page, IMAGE_PAGE);
	/* The path came from the image: error_msg filters the line. */
	if (fd < 0)
		return say_why((int)fd, why, why_len, "the mapped file %s: %s", f->path,
			       strerror(-fd));
	if (ret < 0)
		return say_why((int)ret, why, why_len, "a scratch page: %s", strerror(-ret));
	err = check_same(r->pid, fd, f, !(how & FILEREF_NO_SUM), why, why_len);
	if (!err && !(how & FILEREF_NO_MAP))
		err = map_file(r, im, file, only, fd, why, why_len);
	ret = remote_syscall(r, SYS_close, fd, 0, 0, 0, 0, 0);
	if (!err && ret < 0)
		err = say_why((int)ret, why, why_len, "closing the mapped file %s: %s", f->path,
			      strerror(-ret));
	return err;
}
