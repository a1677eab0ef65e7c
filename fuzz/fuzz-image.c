/*
 * fuzz-image: libFuzzer harness for the image reader (headers, notes,
 * segments, checksums), fed as contmig thaw and inspect feed it: a stream.
 *
 * The input is an image.  Before reading it, the harness repairs the head
 * checksum when it can find it, so that mutations reach the layout checks
 * and the segment data instead of all stopping at "checksum mismatch"; the
 * reader itself is the production one.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "image.h"
#include "restore.h"

static int visit(void *ctx, const struct image_piece *p, size_t n)
{
	uint64_t *bytes = ctx;

	for (size_t i = 0; i < n; i++)
		*bytes += p[i].len + p[i].data[0] + p[i].data[p[i].len - 1];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	struct stream in = { .fd = -1 };
	struct image im;
	int fd, err;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	fuzz_repair_head_sum(copy, size);
	fd = fuzz_fd(copy, size);
	free(copy);
	if (fd < 0)
		return 0;
	in.fd = fd;
	err = image_read_head(&im, &in, size);
	if (!err) {
		struct restore_result res;
		uint64_t *got = calloc(im.nseg ? im.nseg : 1, sizeof(*got)), bytes = 0;
		bool visit_failed;

		(void)!restore_preflight(&im, &res);
		(void)!image_mapped_bytes(&im);
		if (got && !image_read_data(&im, &in, visit, &bytes, got, &visit_failed))
			for (size_t i = 0; i < im.nseg; i++)
				bytes += got[i] == im.seg[i].sum;
		free(got);
	}
	image_free(&im);
	close(fd);
	return 0;
}
