#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "escape.h"


#define HELLO_MAGIC	"contmig\n"
#define HEADER_BYTES	crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define SS_ABYTES	crypto_secretstream_xchacha20poly1305_ABYTES
#define GCM_ABYTES	crypto_aead_aes256gcm_ABYTES
#define GCM_NONCE_BYTES	crypto_aead_aes256gcm_NPUBBYTES
/* The largest body on the wire: type, payload, tag (the longer of the two). */
#define BODY_MAX	(1 + CHANNEL_FRAME_MAX + SS_ABYTES)
/* AES-256-GCM frames one way under one key: far beyond any image (4 PiB in
 * full frames), well within what GCM's bounds allow for a key. */
#define GCM_FRAMES_MAX	(UINT64_C(1) << 32)

_Static_assert(GCM_ABYTES <= SS_ABYTES, "BODY_MAX holds a frame of either AEAD");

struct hello {
	char magic[8];			/* HELLO_MAGIC */
	uint16_t version;		/* CHANNEL_PROTOCOL */
	uint8_t kind;			/* enum channel_kind */
	uint8_t keyed;			/* 1: the sender proves a key, and expects proof */
	uint8_t status;			/* receiver: 0, or why it refuses (enum refusal) */
	uint8_t features;		/* CHANNEL_FEATURE_*; 0 from a contmig without them
					 * (in the transcript: none can be changed unseen) */
	uint8_t pad[2];
	uint8_t id[CHANNEL_ID_BYTES];
	uint8_t nonce[32];
};

_Static_assert(sizeof(struct hello) == CHANNEL_HELLO_BYTES, "the hello is 64 bytes on the wire");

static const char auth_text[] = "contmig: I hold the key";

ATTR_PRINTF(3, 4)
static int why(struct channel *ch, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ch->why, sizeof(ch->why), fmt, ap);
	va_end(ap);
	ch->last_err = err;
	return err;
}

/*
 * May frames be sealed with AES-256-GCM here?  Only where libsodium runs it
 * in hardware (AES-NI and PCLMULQDQ: it has no other implementation).  For
 * tests, CONTMIG_TEST_NO_AESGCM=1 makes a CPU without them.
 */
static bool aesgcm_usable(void)
{
	const char *no = getenv("CONTMIG_TEST_NO_AESGCM");

	if (no && strcmp(no, "0"))
		return false;
	return sodium_init() >= 0 && crypto_aead_aes256gcm_is_available();
}

int channel_init(struct channel *ch, int rfd, int wfd, const uint8_t *key, int timeout_ms)
{
	memset(ch, 0, sizeof(*ch));
	ch->rfd = rfd;
	ch->wfd = wfd;
	ch->key = key;
	ch->timeout_ms = timeout_ms;
	ch->features = CHANNEL_FEATURE_FILEREFS | CHANNEL_FEATURE_LIVE;
	if (key && aesgcm_usable())
		ch->features |= CHANNEL_FEATURE_AESGCM;
	ch->in = malloc(BODY_MAX);
	ch->out = malloc(1 + CHANNEL_FRAME_MAX);
	ch->cipher = key ? malloc(BODY_MAX) : NULL;
	if (!ch->in || !ch->out || (key && !ch->cipher)) {
		channel_free(ch);
		return -ENOMEM;
	}
	ch->out[0] = MSG_DATA;
	ch->out_len = 1;
	for (int i = 0; i < 2; i++) {
		int fd = i ? wfd : rfd, fl = fcntl(fd, F_GETFL);

		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			int err = -errno;

			channel_free(ch);
			return err;
		}
		stream_widen_pipe(fd);		/* ssh, --via, --stdio */
	}
	return 0;
}

/* Bytes up to n of a buffer may now hold something worth wiping. */
static void note_used(struct channel *ch, size_t n)
{
	if (n > ch->used)
		ch->used = n;
}

void channel_free(struct channel *ch)
{
	/* They held pieces of the image, the process's secrets among them:
	 * wipe what was used (the rest was never touched, not even faulted in). */
	if (ch->in)
		sodium_memzero(ch->in, ch->used);
	if (ch->out)
		sodium_memzero(ch->out, ch->used < 1 + CHANNEL_FRAME_MAX ? ch->used :
			       1 + CHANNEL_FRAME_MAX);
	if (ch->cipher)
		sodium_memzero(ch->cipher, ch->used);
	free(ch->in);
	free(ch->out);
	free(ch->cipher);
	sodium_memzero(&ch->tx, sizeof(ch->tx));
	sodium_memzero(&ch->rx, sizeof(ch->rx));
	sodium_memzero(&ch->gcm_tx, sizeof(ch->gcm_tx));
	sodium_memzero(&ch->gcm_rx, sizeof(ch->gcm_rx));
	ch->in = ch->out = ch->cipher = NULL;
}

const char *channel_why(struct channel *ch, int err)
{
	if (ch->why[0])
		return ch->why;
	return strerror(-err);
}

/* ---- bytes on the wire, with a timeout on every wait ------------------- */

void channel_set_deadline(struct channel *ch, int ms)
{
	ch->deadline = (struct timespec){ 0 };
	if (ms <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ch->deadline);
	ch->deadline.tv_sec += ms / 1000;
	ch->deadline.tv_nsec += (ms % 1000) * 1000000L;
	if (ch->deadline.tv_nsec >= 1000000000L) {
		ch->deadline.tv_sec++;
		ch->deadline.tv_nsec -= 1000000000L;
	}
}

/* How long the next wait may last: the timeout, or less to meet a deadline. */
static int wait_ms(const struct channel *ch)
{
	struct timespec now;
	long left;

	if (!ch->deadline.tv_sec)
		return ch->timeout_ms;
	clock_gettime(CLOCK_MONOTONIC, &now);
	left = (ch->deadline.tv_sec - now.tv_sec) * 1000 +
	       (ch->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return left < 0 ? 0 : left < ch->timeout_ms ? (int)left : ch->timeout_ms;
}

/* Wait for events on the fds; which one woke in *ready.  A timeout says
 * what we waited for. */
static int wait_fds(struct channel *ch, struct pollfd *p, int n, const char *waiting_for)
{
	int ms = wait_ms(ch), r;

	do
		r = poll(p, n, ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return why(ch, -errno, "waiting for the peer: %s", strerror(errno));
	if (r == 0 && ms < ch->timeout_ms)
		return why(ch, -ETIMEDOUT, "timed out: the handshake took too long");
	if (r == 0)
		return why(ch, -ETIMEDOUT, "timed out: %s for %d s", waiting_for,
			   ch->timeout_ms / 1000);
	return 0;
}

static int wait_fd(struct channel *ch, int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	return wait_fds(ch, &p, 1, events == POLLIN ? "no word from the peer" :
			"the peer took nothing");
}

/*
 * An errno of the socket as this module returns it.  -ECONNABORTED means one
 * thing only, that the peer sent MSG_ERROR: a connection the kernel aborted
 * (ss -K, a socket destroyed by a load balancer) is a reset like any other,
 * or a sender would take it for a receiver that said it failed.
 */
static int io_errno(int e)
{
	return e == ECONNABORTED ? -ECONNRESET : -e;
}

static int read_all(struct channel *ch, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(ch->rfd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			int err = wait_fd(ch, ch->rfd, POLLIN);

			if (err)
				return err;
			continue;
		}
		if (n < 0)
			return why(ch, io_errno(errno), "reading from the peer: %s", strerror(errno));
		if (n == 0)
			return why(ch, -ECONNRESET, "the peer closed the connection");
		p += n;
		len -= n;
		ch->wire_in += n;
	}
	return 0;
}

static int read_frame(struct channel *ch);
static int peer_error(struct channel *ch);

/* The peer speaks while we send the image: only a refusal may come. */
static int take_refusal(struct channel *ch)
{
	int err = read_frame(ch);

	if (err)
		return err;
	if (ch->in[0] == MSG_ERROR)
		return peer_error(ch);
	return why(ch, -EPROTO, "protocol error: a message in the middle of the image");
}

/* Wait until we may write; with watch_peer, a refusal ends the wait. */
static int wait_writable(struct channel *ch)
{
	struct pollfd p[2] = {
		{ .fd = ch->wfd, .events = POLLOUT },
		{ .fd = ch->rfd, .events = POLLIN },
	};
	int err;

	if (!ch->watch_peer)
		return wait_fd(ch, ch->wfd, POLLOUT);
	err = wait_fds(ch, p, 2, "the peer took nothing");
	if (err)
		return err;
	if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
		return take_refusal(ch);
	return 0;
}

static int write_all(struct channel *ch, struct iovec *iov, int iovcnt)
{
	while (iovcnt) {
		ssize_t n = writev(ch->wfd, iov, iovcnt);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			int err = wait_writable(ch);

			if (err)
				return err;
			continue;
		}
		if (n < 0)
			return why(ch, io_errno(errno), "sending to the peer: %s",
				   errno == EPIPE ? "the peer closed the connection" :
				   strerror(errno));
		ch->wire_out += n;
		while (iovcnt && (size_t)n >= iov->iov_len) {
			n -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= n;
		}
	}
	return 0;
}

/* ---- sealing -------------------------------------------------------------- */

/* What sealing adds to a frame's body. */
static size_t tag_bytes(const struct channel *ch)
{
	if (!ch->key)
		return 0;
	return ch->aesgcm ? GCM_ABYTES : SS_ABYTES;
}

/*
 * AES-256-GCM's nonce for frame number seq of one direction: the number,
 * little-endian.  Each direction has a key of its own, made for this session
 * from both hellos' fresh nonces, so no nonce ever serves twice under a key;
 * and as both sides count, a frame dropped, replayed or moved is opened
 * with another nonce than it was sealed with, and fails, as in a
 * secretstream.
 */
static void gcm_nonce(uint8_t nonce[GCM_NONCE_BYTES], uint64_t seq)
{
	memset(nonce, 0, GCM_NONCE_BYTES);
	for (int i = 0; i < 8; i++)
		nonce[i] = seq >> (8 * i);
}

/* Seal body m (mlen bytes) as our next frame into c: 0 or -1.  (The caller
 * sees that AES-256-GCM's count has not run out.) */
static int seal(struct channel *ch, uint8_t *c, unsigned long long *clen, const uint8_t *m,
		size_t mlen)
{
	uint8_t nonce[GCM_NONCE_BYTES];

	if (!ch->aesgcm)
		return crypto_secretstream_xchacha20poly1305_push(&ch->tx, c, clen, m, mlen, NULL,
								  0, 0);
	gcm_nonce(nonce, ch->tx_seq++);
	return crypto_aead_aes256gcm_encrypt_afternm(c, clen, m, mlen, NULL, 0, NULL, nonce,
						     &ch->gcm_tx);
}

/* Open the peer's next frame c (clen bytes) into m: 0, or -1 when it is not
 * the one the peer sealed next (forged, damaged, replayed, out of order). */
static int unseal(struct channel *ch, uint8_t *m, unsigned long long *mlen, const uint8_t *c,
		  size_t clen)
{
	uint8_t nonce[GCM_NONCE_BYTES], tag;

	if (!ch->aesgcm)
		return crypto_secretstream_xchacha20poly1305_pull(&ch->rx, m, mlen, &tag, c, clen,
								  NULL, 0);
	if (ch->rx_seq >= GCM_FRAMES_MAX)
		return -1;
	gcm_nonce(nonce, ch->rx_seq);
	if (crypto_aead_aes256gcm_decrypt_afternm(m, mlen, NULL, c, clen, NULL, 0, nonce,
						  &ch->gcm_rx))
		return -1;
	ch->rx_seq++;
	return 0;
}

/* ---- frames -------------------------------------------------------------- */

/* Send body[0..len) (type byte first) as one frame. */
static int send_body(struct channel *ch, const uint8_t *body, size_t len)
{
	uint32_t wire_len;
	struct iovec iov[2];

	if (ch->key) {
		unsigned long long clen;

		note_used(ch, len + tag_bytes(ch));
		if (ch->aesgcm && ch->tx_seq >= GCM_FRAMES_MAX)
			return why(ch, -EMSGSIZE, "sealing a frame: %llu frames under one session "
				   "key is the most", (unsigned long long)GCM_FRAMES_MAX);
		if (seal(ch, ch->cipher, &clen, body, len))
			return why(ch, -EMSGSIZE, "encrypting a frame of %zu bytes", len);
		body = ch->cipher;
		len = clen;
	}
	wire_len = len;
	iov[0] = (struct iovec){ .iov_base = &wire_len, .iov_len = sizeof(wire_len) };
	iov[1] = (struct iovec){ .iov_base = (void *)body, .iov_len = len };
	return write_all(ch, iov, 2);
}

static int flush_data(struct channel *ch)
{
	int err;

	if (ch->out_len == 1)
		return 0;
	err = send_body(ch, ch->out, ch->out_len);
	ch->out_len = 1;
	return err;
}

int channel_send(struct channel *ch, enum channel_msg type, const void *payload, size_t len)
{
	uint8_t body[1 + 256];
	int err = flush_data(ch);

	if (err)
		return err;
	if (len > CHANNEL_FRAME_MAX)
		return -EMSGSIZE;
	if (len > sizeof(body) - 1) {
		/* A large one (MSG_FILES) is built where DATA frames are: empty now. */
		ch->out[0] = type;
		memcpy(ch->out + 1, payload, len);
		note_used(ch, 1 + len);
		err = send_body(ch, ch->out, 1 + len);
		ch->out[0] = MSG_DATA;
		return err;
	}
	body[0] = type;
	if (len)
		memcpy(body + 1, payload, len);
	return send_body(ch, body, 1 + len);
}

int channel_send_error(struct channel *ch, int refusal, const char *fmt, ...)
{
	char text[200];
	uint8_t msg[1 + sizeof(text)];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(text))
		n = sizeof(text) - 1;
	msg[0] = refusal;
	memcpy(msg + 1, text, n);
	return channel_send(ch, MSG_ERROR, msg, 1 + n);
}

/* Read the body of a frame of len bytes into ch->in (opened); in_pos stands
 * at its payload. */
static int read_body(struct channel *ch, uint32_t len)
{
	unsigned long long mlen = 0;
	int err;

	note_used(ch, len);
	if (!ch->key) {
		err = read_all(ch, ch->in, len);
		mlen = len;
	} else {
		err = read_all(ch, ch->cipher, len);
		if (!err && unseal(ch, ch->in, &mlen, ch->cipher, len))
			err = why(ch, -CHANNEL_EFORGED, "a frame failed authentication (forged, "
				  "damaged or replayed)");
	}
	if (err)
		return err;
	ch->in_len = mlen;
	ch->in_pos = 1;
	return 0;
}

/* Read the next frame into ch->in (opened); in_pos stands at its payload. */
static int read_frame(struct channel *ch)
{
	uint32_t len;
	int err;

	/* Nothing of a frame that failed to arrive is ever read. */
	ch->in_pos = ch->in_len = 0;
	err = read_all(ch, &len, sizeof(len));
	if (err)
		return err;
	if (len < 1 + tag_bytes(ch) || len > 1 + CHANNEL_FRAME_MAX + tag_bytes(ch))
		return why(ch, -EPROTO, "protocol error: a frame of %u bytes", len);
	return read_body(ch, len);
}

/* The frame in ch->in is MSG_ERROR: remember what the peer said. */
static int peer_error(struct channel *ch)
{
	const uint8_t *p = ch->in + 1;
	size_t n = ch->in_len - 1;
	char text[sizeof(ch->why)];

	ch->peer_refusal = n ? p[0] : 1;
	ch->in_pos = ch->in_len;
	if (n)
		n--, p++;
	/* The peer chose these bytes: escaped, they can neither act on a
	 * terminal nor split a log line. */
	escape_text(text, sizeof(text), (const char *)p, n);
	return why(ch, -ECONNABORTED, "%s", text);
}

static const char *msg_name(int type)
{
	static const char *const names[] = {
		"?", "AUTH", "DATA", "END", "READY", "COMMIT", "DONE", "ERROR", "OUTCOME", "SIGNAL",
		"FILES", "HAVE",
	};

	return type > 0 && type <= MSG_HAVE ? names[type] : "unknown";
}

int channel_expect(struct channel *ch, enum channel_msg want, void *payload, size_t len)
{
	int err = read_frame(ch);

	if (err)
		return err;
	if (ch->in[0] == MSG_ERROR && want != MSG_ERROR)
		return peer_error(ch);
	if (ch->in[0] != want)
		return why(ch, -EPROTO, "protocol error: %s where %s belongs", msg_name(ch->in[0]),
			   msg_name(want));
	if (ch->in_len - 1 != len)
		return why(ch, -EPROTO, "protocol error: %s of %zu bytes", msg_name(want),
			   ch->in_len - 1);
	if (len)
		memcpy(payload, ch->in + 1, len);
	ch->in_pos = ch->in_len;
	return 0;
}

int channel_next(struct channel *ch, uint8_t *type, void *payload, size_t max, size_t *len)
{
	int err = read_frame(ch);

	if (err)
		return err;
	if (ch->in[0] == MSG_ERROR)
		return peer_error(ch);
	if (ch->in_len - 1 > max)
		return why(ch, -EPROTO, "protocol error: %s of %zu bytes", msg_name(ch->in[0]),
			   ch->in_len - 1);
	*type = ch->in[0];
	*len = ch->in_len - 1;
	if (*len)
		memcpy(payload, ch->in + 1, *len);
	ch->in_pos = ch->in_len;
	return 0;
}

/* ---- the image as a stream ---------------------------------------------- */

/* Make the next image bytes available in ch->in: 0, or -errno. */
static int next_data(struct channel *ch)
{
	while (ch->in_pos == ch->in_len && !ch->in_end) {
		int err = read_frame(ch);

		if (err)
			return err;
		if (ch->in[0] == MSG_END) {
			ch->in_end = true;
			ch->in_pos = ch->in_len;
		} else if (ch->in[0] == MSG_ERROR) {
			return peer_error(ch);
		} else if (ch->in[0] != MSG_DATA) {
			return why(ch, -EPROTO, "protocol error: %s inside the image",
				   msg_name(ch->in[0]));
		}
	}
	return 0;
}

/* The next image bytes where they lie in ch->in; 0 at MSG_END. */
static ssize_t data_view(void *ctx, const void **p, size_t len)
{
	struct channel *ch = ctx;
	int err = next_data(ch);
	size_t n;

	if (err)
		return err;
	n = ch->in_len - ch->in_pos < len ? ch->in_len - ch->in_pos : len;
	*p = ch->in + ch->in_pos;
	ch->in_pos += n;
	return n;
}

static ssize_t data_read(void *ctx, void *buf, size_t len)
{
	const void *p;
	ssize_t n = data_view(ctx, &p, len);

	if (n > 0)
		memcpy(buf, p, n);
	return n;
}

/* Without a key, a write this big goes from the caller's buffer straight to
 * the wire, in frames of its own. */
#define DIRECT_MIN	(64U << 10)

static int send_data_direct(struct channel *ch, const uint8_t *p, size_t len)
{
	int err = flush_data(ch);

	while (!err && len) {
		size_t n = len < CHANNEL_FRAME_MAX ? len : CHANNEL_FRAME_MAX;
		uint8_t type = MSG_DATA;
		uint32_t wire_len = 1 + n;
		struct iovec iov[3] = {
			{ .iov_base = &wire_len, .iov_len = sizeof(wire_len) },
			{ .iov_base = &type, .iov_len = 1 },
			{ .iov_base = (void *)p, .iov_len = n },
		};

		err = write_all(ch, iov, 3);
		p += n;
		len -= n;
	}
	return err;
}

static int data_write(void *ctx, const void *buf, size_t len)
{
	struct channel *ch = ctx;
	const uint8_t *p = buf;

	if (!ch->key && len >= DIRECT_MIN)
		return send_data_direct(ch, p, len);
	while (len) {
		size_t room = 1 + CHANNEL_FRAME_MAX - ch->out_len;
		size_t n = len < room ? len : room;
		int err;

		memcpy(ch->out + ch->out_len, p, n);
		ch->out_len += n;
		note_used(ch, ch->out_len);
		p += n;
		len -= n;
		if (ch->out_len == 1 + CHANNEL_FRAME_MAX && (err = flush_data(ch)))
			return err;
	}
	return 0;
}

void channel_stream(struct channel *ch, struct stream *s)
{
	static const struct stream_ops ops = {
		.read = data_read, .write = data_write, .view = data_view,
	};

	*s = (struct stream){ .fd = -1, .ops = &ops, .ctx = ch };
}

void channel_linger(struct channel *ch)
{
	struct pollfd p = { .fd = ch->rfd, .events = POLLIN };
	struct timespec start, now;
	char sink[65536];

	/* Half-close: the peer reads our last message, then end of stream. */
	shutdown(ch->wfd, SHUT_WR);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		long left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = 1000 - ((now.tv_sec - start.tv_sec) * 1000 +
			       (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, left) <= 0 || read(ch->rfd, sink, sizeof(sink)) <= 0)
			return;
	}
}

int channel_end_image(struct channel *ch)
{
	return channel_send(ch, MSG_END, NULL, 0);
}

int channel_expect_end(struct channel *ch)
{
	if (ch->in_end)
		return 0;
	if (ch->in_pos < ch->in_len)
		return why(ch, -EPROTO, "protocol error: the image goes on past its end");
	return channel_expect(ch, MSG_END, NULL, 0);
}

void channel_next_image(struct channel *ch)
{
	ch->in_end = false;
}

/* ---- the handshake ------------------------------------------------------- */

/* Each direction's key, from the shared key and both hellos: a keyed BLAKE2b
 * of the transcript, so nothing of an old session serves in a new one. */
static void session_keys(const struct channel *ch, const struct hello *client,
			 const struct hello *server, uint8_t to_server[32], uint8_t to_client[32])
{
	uint8_t transcript[2 * sizeof(struct hello)], out[64];

	memcpy(transcript, client, sizeof(*client));
	memcpy(transcript + sizeof(*client), server, sizeof(*server));
	crypto_generichash(out, sizeof(out), transcript, sizeof(transcript), ch->key,
			   CHANNEL_KEY_BYTES);
	memcpy(to_server, out, 32);
	memcpy(to_client, out + 32, 32);
	sodium_memzero(out, sizeof(out));
}

/* Both hellos offered AES-256-GCM: seal with it (each side decides alike). */
static void choose_cipher(struct channel *ch, const struct hello *theirs)
{
	ch->aesgcm = ch->key && (ch->features & theirs->features & CHANNEL_FEATURE_AESGCM);
}

/* Start our direction's sealing and send our AUTH, after the secretstream's
 * header (AES-256-GCM has none: its nonces are the frames' numbers). */
static int send_proof(struct channel *ch, const uint8_t key[32])
{
	uint8_t header[HEADER_BYTES];
	uint32_t wire_len = 1 + sizeof(auth_text) + tag_bytes(ch);
	uint8_t body[1 + sizeof(auth_text)];
	unsigned long long clen;
	struct iovec iov[3];
	int n = 0;

	body[0] = MSG_AUTH;
	memcpy(body + 1, auth_text, sizeof(auth_text));
	note_used(ch, sizeof(body) + tag_bytes(ch));
	if (ch->aesgcm ? crypto_aead_aes256gcm_beforenm(&ch->gcm_tx, key) :
	    crypto_secretstream_xchacha20poly1305_init_push(&ch->tx, header, key))
		return why(ch, -EPROTO, "starting the encrypted stream");
	if (!ch->aesgcm)
		iov[n++] = (struct iovec){ .iov_base = header, .iov_len = sizeof(header) };
	if (seal(ch, ch->cipher, &clen, body, sizeof(body)))
		return why(ch, -EPROTO, "starting the encrypted stream");
	iov[n++] = (struct iovec){ .iov_base = &wire_len, .iov_len = sizeof(wire_len) };
	iov[n++] = (struct iovec){ .iov_base = ch->cipher, .iov_len = clen };
	return write_all(ch, iov, n);
}

/* Read the peer's stream header (secretstream) and AUTH: does it hold the key? */
static int check_proof(struct channel *ch, const uint8_t key[32], const char *peer)
{
	uint8_t header[HEADER_BYTES];
	uint32_t len;
	int err = 0;

	ch->in_pos = ch->in_len = 0;
	if (ch->aesgcm && crypto_aead_aes256gcm_beforenm(&ch->gcm_rx, key))
		return why(ch, -EPROTO, "starting the encrypted stream");
	if (!ch->aesgcm)
		err = read_all(ch, header, sizeof(header));
	if (!err && !ch->aesgcm &&
	    crypto_secretstream_xchacha20poly1305_init_pull(&ch->rx, header, key))
		err = -CHANNEL_EFORGED;
	if (!err)
		err = read_all(ch, &len, sizeof(len));
	/* A proof of another length was sealed with another cipher than both
	 * hellos chose (one of them changed on the way), or is none at all. */
	if (!err && len != 1 + sizeof(auth_text) + tag_bytes(ch))
		err = -CHANNEL_EFORGED;
	if (!err)
		err = read_body(ch, len);
	if (err == -CHANNEL_EFORGED || (!err && (ch->in[0] != MSG_AUTH ||
					 ch->in_len != 1 + sizeof(auth_text) ||
					 memcmp(ch->in + 1, auth_text, sizeof(auth_text)))))
		return why(ch, -EACCES, "authentication failed: the %s does not hold this key",
			   peer);
	ch->in_pos = ch->in_len;
	return err;
}

static int check_hello(struct channel *ch, const struct hello *h, const char *peer)
{
	if (memcmp(h->magic, HELLO_MAGIC, sizeof(h->magic)))
		return why(ch, -EPROTO, "protocol error: the peer is not a contmig %s", peer);
	if (h->version != CHANNEL_PROTOCOL)
		return why(ch, -EPROTO, "the %s speaks protocol version %u; this contmig speaks %d",
			   peer, h->version, CHANNEL_PROTOCOL);
	return 0;
}

bool channel_both_can(const struct channel *ch, unsigned feature)
{
	return ch->features & ch->peer_features & feature;
}

int channel_connect(struct channel *ch, enum channel_kind kind, const uint8_t id[CHANNEL_ID_BYTES])
{
	struct hello mine = { .magic = HELLO_MAGIC, .version = CHANNEL_PROTOCOL, .kind = kind,
			      .keyed = ch->key != NULL, .features = ch->features }, theirs;
	struct iovec iov = { .iov_base = &mine, .iov_len = sizeof(mine) };
	uint8_t to_server[32], to_client[32];
	int err;

	ch->kind = kind;
	memcpy(ch->id, id, CHANNEL_ID_BYTES);
	memcpy(mine.id, id, CHANNEL_ID_BYTES);
	randombytes_buf(mine.nonce, sizeof(mine.nonce));
	err = write_all(ch, &iov, 1);
	if (!err)
		err = read_all(ch, &theirs, sizeof(theirs));
	if (!err)
		err = check_hello(ch, &theirs, "receiver");
	if (err)
		return err;
	if (theirs.status) {
		/* The refusal's reason follows in a plain frame. */
		const uint8_t *key = ch->key;

		ch->key = NULL;
		err = read_frame(ch);
		ch->key = key;
		if (!err && ch->in[0] == MSG_ERROR)
			err = peer_error(ch);
		ch->peer_refusal = theirs.status;
		return err == -ECONNABORTED ? err : why(ch, -ECONNABORTED, "refused (status %d)",
							theirs.status);
	}
	if (theirs.kind != CHANNEL_SERVER || theirs.keyed != mine.keyed)
		return why(ch, -EPROTO, "protocol error: a bad hello from the receiver");
	ch->peer_features = theirs.features;
	if (!ch->key)
		return 0;
	choose_cipher(ch, &theirs);
	session_keys(ch, &mine, &theirs, to_server, to_client);
	err = check_proof(ch, to_client, "receiver");
	if (!err)
		err = send_proof(ch, to_server);
	sodium_memzero(to_server, sizeof(to_server));
	sodium_memzero(to_client, sizeof(to_client));
	return err;
}

int channel_refuse(struct channel *ch, int refusal, const char *reason)
{
	struct hello h = { .magic = HELLO_MAGIC, .version = CHANNEL_PROTOCOL,
			   .kind = CHANNEL_SERVER, .status = refusal ? refusal : 1 };
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	const uint8_t *key = ch->key;
	int err = write_all(ch, &iov, 1);

	ch->key = NULL;		/* the reason goes in the clear */
	if (!err)
		err = channel_send_error(ch, refusal, "%s", reason);
	ch->key = key;
	return err;
}

int channel_accept_hello(struct channel *ch)
{
	struct hello theirs;
	bool keyed = ch->key != NULL;
	int err = read_all(ch, &theirs, sizeof(theirs));

	if (!err)
		err = check_hello(ch, &theirs, "sender");
	if (err)
		return err;
	if (theirs.kind != CHANNEL_MIGRATE && theirs.kind != CHANNEL_QUERY)
		return why(ch, -EPROTO, "protocol error: a hello of kind %u", theirs.kind);
	ch->kind = theirs.kind;
	ch->peer_features = theirs.features;
	memcpy(ch->id, theirs.id, CHANNEL_ID_BYTES);
	memcpy(ch->peer_hello, &theirs, sizeof(theirs));
	if (theirs.keyed != keyed) {
		const char *reason = keyed ? "this receiver needs a key (--key)" :
			"this receiver has no key; send without --key, or give the listener one";

		err = channel_refuse(ch, REFUSAL_AUTH, reason);
		return why(ch, err ? err : -EACCES, "authentication failed: %s", keyed ?
			   "the sender has no key" : "the sender has a key and this receiver none");
	}
	return 0;
}

int channel_accept_finish(struct channel *ch)
{
	struct hello theirs, mine = { .magic = HELLO_MAGIC, .version = CHANNEL_PROTOCOL,
				      .kind = CHANNEL_SERVER, .keyed = ch->key != NULL,
				      .features = ch->features };
	struct iovec iov = { .iov_base = &mine, .iov_len = sizeof(mine) };
	uint8_t to_server[32], to_client[32];
	int err;

	memcpy(&theirs, ch->peer_hello, sizeof(theirs));
	randombytes_buf(mine.nonce, sizeof(mine.nonce));
	if (!ch->key)
		return write_all(ch, &iov, 1);
	choose_cipher(ch, &theirs);
	session_keys(ch, &theirs, &mine, to_server, to_client);
	err = write_all(ch, &iov, 1);
	if (!err)
		err = send_proof(ch, to_client);
	if (!err)
		err = check_proof(ch, to_server, "sender");
	/* A sender with another key hangs up on our proof. */
	if (err == -ECONNRESET)
		err = why(ch, -EACCES, "authentication failed: the sender hung up on our proof "
			  "of the key (it holds another key?)");
	sodium_memzero(to_server, sizeof(to_server));
	sodium_memzero(to_client, sizeof(to_client));
	return err;
}

int channel_accept(struct channel *ch)
{
	int err = channel_accept_hello(ch);

	return err ? err : channel_accept_finish(ch);
}
