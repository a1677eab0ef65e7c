/*
 * fuzz-wire: libFuzzer harness for the network protocol (hellos, frames,
 * the handshake with and without a key, DATA/END/ERROR inside an image,
 * the handoff messages), from either end.
 *
 * The first input byte picks the side and whether a key is used; the rest
 * is everything the peer sends, already waiting in a socketpair whose far
 * end is then closed.  Our side's own writes land in that socket's buffer.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "fuzz.h"
#include "image.h"

static const uint8_t key[CHANNEL_KEY_BYTES] = "contmig fuzzing key, 32 bytes!!";

/* The receiver: a sender's hello, then an image in DATA frames. */
static void receiver(struct channel *ch)
{
	struct stream in;
	struct image im;

	if (channel_accept(ch))
		return;
	channel_stream(ch, &in);
	/* The peer sent no more than the input: the limit a receiver's
	 * --max-size would be. */
	if (!image_read_head(&im, &in, 128 << 10)) {
		uint64_t got[64];
		bool visit_failed;

		if (im.nseg <= 64 && !image_read_data(&im, &in, NULL, NULL, got, &visit_failed))
			(void)!channel_expect_end(ch);
	}
	image_free(&im);
}

/* The sender: the receiver's hello, then READY and DONE, or an OUTCOME. */
static void sender(struct channel *ch, enum channel_kind kind)
{
	uint8_t id[CHANNEL_ID_BYTES] = { 1 }, outcome[5];
	int32_t pid;

	if (channel_connect(ch, kind, id))
		return;
	if (kind == CHANNEL_QUERY) {
		(void)!channel_expect(ch, MSG_OUTCOME, outcome, sizeof(outcome));
		return;
	}
	if (channel_expect(ch, MSG_READY, &pid, sizeof(pid)) ||
	    channel_send(ch, MSG_COMMIT, NULL, 0))
		return;
	(void)!channel_expect(ch, MSG_DONE, &pid, sizeof(pid));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct channel ch;
	int sv[2], big = 1 << 20;
	uint8_t mode;

	/* More than a socket buffer takes would block the write below. */
	if (size < 1 || size > (128 << 10))
		return 0;
	mode = data[0];
	data++;
	size--;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (size && write(sv[1], data, size) != (ssize_t)size)
		goto out;
	shutdown(sv[1], SHUT_WR);
	if (channel_init(&ch, sv[0], sv[0], mode & 1 ? key : NULL, 50))
		goto out;
	switch ((mode >> 1) % 3) {
	case 0:
		receiver(&ch);
		break;
	case 1:
		sender(&ch, CHANNEL_MIGRATE);
		break;
	default:
		sender(&ch, CHANNEL_QUERY);
		break;
	}
	(void)!channel_why(&ch, -EPROTO);
	channel_free(&ch);
out:
	close(sv[0]);
	close(sv[1]);
	return 0;
}
