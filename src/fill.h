/*
 * fill: the restorer reads an image file's pages into place itself.
 *
 * From a pipe or a socket the pages pass through contmig on their way
 * (image_read_data, then process_vm_writev: two copies).  From a regular
 * file the restorer reads them straight into their final addresses with
 * preadv(2) of the image, which it holds open from its spawn (remote.h:
 * image_fd): one copy, from the page cache into the process's pages.  Each
 * segment's sum is computed meanwhile, on another thread, over a read-only
 * mapping of the file, which copies nothing; the caller compares the sums
 * before the process may run.  Returns 0 or -errno; never prints.
 */
#ifndef CONTMIG_FILL_H
#define CONTMIG_FILL_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "image.h"
#include "remote.h"
#include "stream.h"

/*
 * For remote.h's image_fd: a duplicate of in's fd (above 2, close-on-exec:
 * only the restorer keeps it past its exec) when in is a regular file whose
 * first byte is the image's, standing at the image's data (image_read_head
 * is done); else 0, and the image is streamed.  The caller closes it.
 */
int fill_image_fd(const struct image *im, const struct stream *in);

/*
 * Fill every segment of im from the image file r holds at r->image_fd, which
 * it then closes, and read the segment sums into im (in ends at im->size).
 * got[i] is the sum of what segment i holds in the file.  0; -EBADMSG with
 * im->why (the file is cut short, or shrank meanwhile; a bad sums note); or a
 * -errno, with *restorer_failed set when the restorer's calls failed rather
 * than the file.
 */
int fill_from_file(struct image *im, struct stream *in, struct remote *r, uint64_t *got,
		   bool *restorer_failed) MUST_CHECK;

#endif
