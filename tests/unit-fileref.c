/*
 * Unit tests for mapped files by reference (fileref.h): the offer and the
 * answer on the wire, what a receiver says it has (only files anyone may
 * read, within its budget), and the image's rules for the file references
 * note (image_check, and a note read back as it was written).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileref.h"
#include "image.h"
#include "stream.h"
#include "unit.h"

static char dir[] = "/tmp/unit-fileref.XXXXXX";

/* A file of n bytes under dir, mode mode; its reference in *f. */
static void make_file(const char *name, size_t n, mode_t mode, struct image_fileref *f)
{
	char path[256];
	uint8_t *bytes = malloc(n);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (size_t i = 0; i < n; i++)
		bytes[i] = i * 7 + n;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, bytes, n) == (ssize_t)n && fchmod(fd, mode) == 0);
	close(fd);
	fd = open(path, O_RDONLY);
	memset(f, 0, sizeof(*f));
	f->size = n;
	f->path = strdup(path);
	CHECK(fileref_hash(fd, n, NULL, f->sum) == 0);
	close(fd);
	free(bytes);
}

static bool have(const struct image_fileref *f)
{
	struct fileref_budget b;

	fileref_budget_init(&b);
	return fileref_have(f, &b);
}

static void test_wire(void)
{
	struct fileref_set s = { 0 };
	struct image_fileref *files;
	uint8_t *offer, *answer;
	size_t len, offered, n, alen;
	bool yes[3] = { true, false, true };

	s.c = calloc(3, sizeof(*s.c));
	s.count = s.capacity = 3;
	for (size_t i = 0; i < 3; i++) {
		s.c[i].ref.size = 1000 + i;
		memset(s.c[i].ref.sum, 'a' + i, sizeof(s.c[i].ref.sum));
	}
	s.c[0].ref.path = strdup("/lib/one");
	s.c[1].ref.path = strdup("/lib/two");
	s.c[2].ref.path = strdup("/usr/lib/three");
	CHECK(fileref_offer(&s, 1 << 20, &offer, &len, &offered) == 0);
	CHECK(offered == 3);
	CHECK(fileref_read_offer(offer, len, &files, &n) == 0);
	CHECK(n == 3 && files[2].size == 1002 && !strcmp(files[2].path, "/usr/lib/three") &&
	      files[1].sum[0] == 'b');
	fileref_files_free(files, n);
	/* Every byte counts: one less or one more is no offer. */
	CHECK(fileref_read_offer(offer, len - 1, &files, &n) == -EPROTO);
	offer[len - 1] = '\0';		/* a NUL in the last path */
	CHECK(fileref_read_offer(offer, len, &files, &n) == -EPROTO);
	offer[len - 1] = 'e';
	offer[4 + 8 + 16 + 2] = 'x';	/* a path that is not absolute */
	CHECK(fileref_read_offer(offer, len, &files, &n) == -EPROTO);
	offer[4 + 8 + 16 + 2] = '/';
	offer[4 + 8 + 16] = 0;		/* an empty path */
	CHECK(fileref_read_offer(offer, len, &files, &n) == -EPROTO);
	offer[4 + 8 + 16] = 8;
	CHECK(fileref_read_offer(offer, len, &files, &n) == 0);
	fileref_files_free(files, n);
	offer[0] = 200;			/* more files than the bytes can hold */
	CHECK(fileref_read_offer(offer, len, &files, &n) == -EPROTO);
	free(offer);
	/* What fits in max bytes goes; the rest is not offered. */
	CHECK(fileref_offer(&s, 4 + 2 * (8 + 16 + 2 + 8), &offer, &len, &offered) == 0);
	CHECK(offered == 2);
	free(offer);

	CHECK(fileref_answer(yes, 3, &answer, &alen) == 0);
	CHECK(alen == 5 && answer[4] == 5);
	CHECK(fileref_take_answer(&s, 2, answer, alen) == -EPROTO);	/* not this offer */
	CHECK(fileref_take_answer(&s, 3, answer, alen) == 0);
	CHECK(s.c[0].taken && !s.c[1].taken && s.c[2].taken);
	answer[4] |= 0x80;		/* a bit past the offer */
	CHECK(fileref_take_answer(&s, 3, answer, alen) == -EPROTO);
	free(answer);
	fileref_set_free(&s);
}

/*
 * A file anyone may read whose bytes the kernel gives root alone: a PCI
 * device's config space in sysfs (0644; 64 bytes for others, all for root).
 * Hashed as root, it would tell a sender whether its guess of root's view
 * was right: never "have".
 */
static void kernel_views(void)
{
	static const char *const pci[] = {
		"/sys/bus/pci/devices/0000:00:00.0/config",
		"/sys/bus/pci/devices/0000:00:01.0/config",
	};
	struct image_fileref f = { 0 };
	struct stat st;
	int fd;

	for (size_t i = 0; i < sizeof(pci) / sizeof(pci[0]); i++) {
		/* Its own path: the devices' names there are symbolic links. */
		char *real = realpath(pci[i], NULL);

		fd = real ? open(real, O_RDONLY | O_CLOEXEC) : -1;
		if (fd < 0 || geteuid() != 0 || fstat(fd, &st) < 0 || st.st_size <= 64 ||
		    fileref_hash(fd, st.st_size, NULL, f.sum)) {
			if (fd >= 0)
				close(fd);
			free(real);
			continue;
		}
		close(fd);
		f.size = st.st_size;
		f.path = real;
		CHECK(!have(&f));
		free(real);
	}
}

static void test_have(void)
{
	struct image_fileref pub, priv, other;
	struct fileref_budget b;
	char sub[256], link[256];

	CHECK(mkdtemp(dir) != NULL && chmod(dir, 0755) == 0);
	make_file("public", 10000, 0644, &pub);
	make_file("private", 10000, 0640, &priv);
	CHECK(have(&pub));
	CHECK(!have(&priv));		/* root may read it; not everyone */
	/* Another size, another sum: not the file. */
	pub.size++;
	CHECK(!have(&pub));
	pub.size--;
	pub.sum[3] ^= 1;
	CHECK(!have(&pub));
	pub.sum[3] ^= 1;
	/* A directory on the way that others may not search. */
	CHECK(chmod(dir, 0750) == 0);
	CHECK(!have(&pub));
	CHECK(chmod(dir, 0755) == 0);
	/* No symbolic link on the way, and no "..". */
	snprintf(link, sizeof(link), "%s/link", dir);
	CHECK(symlink(pub.path, link) == 0);
	other = pub;
	other.path = link;
	CHECK(!have(&other));
	snprintf(sub, sizeof(sub), "%s/../%s/public", dir, strrchr(dir, '/') + 1);
	other.path = sub;
	CHECK(!have(&other));
	/* A budget spent is a no. */
	fileref_budget_init(&b);
	b.bytes = pub.size - 1;
	CHECK(!fileref_have(&pub, &b));
	fileref_budget_init(&b);
	b.files = 0;
	CHECK(!fileref_have(&pub, &b));
	kernel_views();
	unlink(link);
	unlink(pub.path);
	unlink(priv.path);
	rmdir(dir);
	free(pub.path);
	free(priv.path);
}

/* An image of two mappings, the first referencing one file. */
static void sample(struct image *im)
{
	memset(im, 0, sizeof(*im));
	im->state.version = IMAGE_VERSION;
	im->state.flags = IMAGE_STATE_FILEREFS;
	im->xstate_size = 576;
	im->xstate = calloc(1, im->xstate_size);
	im->vmas.vma = calloc(2, sizeof(struct vma));
	im->vmas.count = im->vmas.capacity = 2;
	im->vmas.vma[0] = (struct vma){ .start = 0x10000, .end = 0x12000, .offset = 0x3000,
					.prot = PROT_READ | PROT_EXEC, .name = strdup("/lib/x") };
	im->vmas.vma[1] = (struct vma){ .start = 0x20000, .end = 0x21000,
					.prot = PROT_READ | PROT_WRITE, .name = strdup("") };
	im->refs.file = calloc(1, sizeof(*im->refs.file));
	im->refs.file[0] = (struct image_fileref){ .size = 0x5000, .path = strdup("/lib/x"),
						   .build_id_len = 2, .build_id = { 1, 2 } };
	im->refs.nfiles = 1;
	im->refs.map = calloc(1, sizeof(*im->refs.map));
	im->refs.map[0] = (struct image_mapref){ .start = 0x10000, .offset = 0x3000 };
	im->refs.nmaps = 1;
}

static int check_sample(void (*spoil)(struct image *))
{
	struct image im;
	int err;

	sample(&im);
	spoil(&im);
	err = image_layout(&im);
	image_free(&im);
	return err;
}

static void nothing(struct image *im) { (void)im; }
static void no_flag(struct image *im) { im->state.flags = 0; }
static void flag_alone(struct image *im) { image_filerefs_free(&im->refs); }
static void other_offset(struct image *im) { im->refs.map[0].offset = 0x4000; }
static void mid_mapping(struct image *im) { im->refs.map[0].start = 0x11000; }
static void shared(struct image *im) { im->vmas.vma[0].shared = true; }
static void no_such_file(struct image *im) { im->refs.map[0].file = 1; }
static void relative(struct image *im) { im->refs.file[0].path[0] = 'l'; }
static void long_build_id(struct image *im) { im->refs.file[0].build_id_len = 33; }
static void unreferenced(struct image *im)
{
	im->refs.file = realloc(im->refs.file, 2 * sizeof(*im->refs.file));
	im->refs.file[1] = (struct image_fileref){ .size = 1, .path = strdup("/lib/y") };
	im->refs.nfiles = 2;
}

static void test_rules(void)
{
	struct stream_mem mem = { 0 };
	struct stream s;
	struct image im, back;

	CHECK(check_sample(nothing) == 0);
	CHECK(check_sample(no_flag) == -EBADMSG);
	CHECK(check_sample(flag_alone) == -EBADMSG);
	CHECK(check_sample(other_offset) == -EBADMSG);
	CHECK(check_sample(mid_mapping) == -EBADMSG);
	CHECK(check_sample(shared) == -EBADMSG);
	CHECK(check_sample(no_such_file) == -EBADMSG);
	CHECK(check_sample(relative) == -EBADMSG);
	CHECK(check_sample(long_build_id) == -EBADMSG);
	CHECK(check_sample(unreferenced) == -EBADMSG);

	/* Written, it reads back the same; the reader finds the mapping's. */
	sample(&im);
	CHECK(image_layout(&im) == 0);
	stream_mem_writer(&s, &mem);
	CHECK(image_write_head(&im, &s) == 0);
	stream_mem_reader(&s, &mem);
	CHECK(image_read_head(&back, &s, 1 << 20) == 0);
	CHECK(back.refs.nfiles == 1 && back.refs.nmaps == 1 &&
	      !strcmp(back.refs.file[0].path, "/lib/x") && back.refs.file[0].size == 0x5000 &&
	      back.refs.file[0].build_id_len == 2 && back.refs.file[0].build_id[1] == 2);
	CHECK(image_mapref_of(&back, &back.vmas.vma[0]) == &back.refs.map[0]);
	CHECK(image_mapref_of(&back, &back.vmas.vma[1]) == NULL);
	image_free(&back);
	image_free(&im);
	free(mem.data);
}

int main(void)
{
	test_wire();
	test_have();
	test_rules();
	return unit_result();
}
