/*
 * channel: contmig's wire protocol on one connection between a sender and a
 * receiver, over any pair of file descriptors (a TCP socket, the pipes to an
 * ssh command, stdin and stdout).  contmig(1) and contmig-image(5) describe it.
 *
 * Each side first sends a fixed 64-byte hello (kind, migration id, a fresh
 * nonce).  After that everything is a frame: a little-endian u32 length, then
 * the body, one type byte and its payload.  With a key, each direction is
 * sealed by libsodium under a key derived from the shared key and both
 * hellos, so a recorded session cannot be replayed: AES-256-GCM with the
 * frame's number for nonce when both CPUs run AES in hardware (each says so
 * in its hello; libsodium seals faster with it there), else a secretstream
 * (XChaCha20-Poly1305).  Either way a frame forged, replayed, dropped or
 * moved fails authentication.  Each side's first frame (AUTH) proves it
 * holds the key before the other side parses anything more.  The image
 * travels as DATA frames, and the DATA payloads in order are exactly the
 * bytes of an image file.
 *
 * Every wait has a timeout.  Functions return 0 or -errno and never print;
 * channel_why() gives the reason in words.
 */
#ifndef CONTMIG_CHANNEL_H
#define CONTMIG_CHANNEL_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"
#include "refusal.h"
#include "stream.h"

#define CHANNEL_PROTOCOL	1
#define CHANNEL_KEY_BYTES	32
#define CHANNEL_ID_BYTES	16
#define CHANNEL_HELLO_BYTES	64
/* Largest payload of one frame; a bigger length on the wire is an error. */
#define CHANNEL_FRAME_MAX	(1U << 20)

enum channel_kind {
	CHANNEL_MIGRATE = 1,	/* a sender with an image */
	CHANNEL_QUERY = 2,	/* a sender asking how its migration ended */
	CHANNEL_SERVER = 3,	/* the receiver's hello */
};

/* What a side can do beyond protocol 1's first messages, in its hello (a
 * peer that knows none of them leaves the byte 0, and is spoken to as
 * before). */
#define CHANNEL_FEATURE_FILEREFS	1	/* MSG_FILES and MSG_HAVE (fileref.h) */
#define CHANNEL_FEATURE_AESGCM		2	/* keyed: can seal with AES-256-GCM (the
						 * CPU has AES-NI); offered only then */
#define CHANNEL_FEATURE_LIVE		4	/* images in rounds (precopy.h) */

enum channel_msg {
	MSG_AUTH = 1,		/* keyed: the first frame each way */
	MSG_DATA,		/* image bytes */
	MSG_END,		/* the image is complete */
	MSG_READY,		/* restored and held stopped; i32 new PID */
	MSG_COMMIT,		/* the source is ended: run yours */
	MSG_DONE,		/* it runs; i32 PID */
	MSG_ERROR,		/* u8 exit status, then a message */
	MSG_OUTCOME,		/* answer to a query: u8 outcome, i32 PID */
	MSG_SIGNAL,		/* before COMMIT: a signal that came for the source
				 * after its image (struct channel_signal) */
	MSG_FILES,		/* before the image, when both sides can: the files
				 * the sender may reference (fileref.h) */
	MSG_HAVE,		/* the answer: which of them the receiver has */
};

/* MSG_OUTCOME's payload: u8 outcome, then i32 PID (the copy, if committed). */
#define CHANNEL_OUTCOME_BYTES	5
enum channel_outcome {
	OUTCOME_UNKNOWN = 0,	/* no decision it can tell */
	OUTCOME_COMMITTED = 1,
	OUTCOME_ABORTED = 2,
};

/* MSG_SIGNAL's payload, little-endian. */
struct channel_signal {
	uint8_t signo;
	uint8_t shared;			/* process-wide rather than the thread's */
	uint16_t pad;
	int32_t code;			/* si_code */
	int32_t pid;			/* si_pid, si_uid: who sent it */
	uint32_t uid;
	uint64_t value;			/* sigqueue's value */
};

struct channel {
	int rfd, wfd;
	int timeout_ms;			/* for every single wait */
	struct timespec deadline;	/* and, when set, for all waits together
					 * (a handshake), CLOCK_MONOTONIC */
	const uint8_t *key;		/* CHANNEL_KEY_BYTES, or NULL */
	enum channel_kind kind;		/* the sender's, after a handshake */
	uint8_t id[CHANNEL_ID_BYTES];	/* the migration's */
	uint8_t features;		/* CHANNEL_FEATURE_*, in our hello */
	bool aesgcm;			/* keyed, both offered AES-256-GCM: frames
					 * are sealed with it, else with a secretstream */
	crypto_secretstream_xchacha20poly1305_state tx, rx;
	crypto_aead_aes256gcm_state gcm_tx, gcm_rx;
	uint64_t tx_seq, rx_seq;	/* AES-256-GCM: the next frame's number */
	uint8_t *in;			/* the body of the frame being read */
	size_t in_pos, in_len;
	bool in_end;			/* MSG_END seen */
	uint8_t *out;			/* a DATA frame being filled; out[0] is its type */
	size_t out_len;
	uint8_t *cipher;		/* an encrypted body */
	size_t used;			/* the most bytes any of in, out, cipher held */
	uint64_t wire_in, wire_out;	/* bytes on the wire, frames and all */
	bool watch_peer;		/* while a write blocks, take a MSG_ERROR the
					 * peer sends (a refusal mid-image) */
	int peer_refusal;		/* enum refusal, in the peer's MSG_ERROR */
	int last_err;			/* of the last failure, with why */
	char why[256];
	uint8_t peer_hello[CHANNEL_HELLO_BYTES];	/* the sender's, between the two
							 * steps of an accept */
	uint8_t peer_features;		/* CHANNEL_FEATURE_*, from the peer's hello */
};

/* Frames that fail authentication (forged, damaged, replayed) give this. */
#define CHANNEL_EFORGED		EKEYREJECTED

/* fds are made non-blocking; key may be NULL. */
int channel_init(struct channel *ch, int rfd, int wfd, const uint8_t *key,
		 int timeout_ms) MUST_CHECK;
/* Frees the buffers and forgets the keys; closes nothing. */
void channel_free(struct channel *ch);

/* Do both sides speak CHANNEL_FEATURE_x?  (After a handshake.) */
bool channel_both_can(const struct channel *ch, unsigned feature);

/* The sender's side: hello, and with a key, proof both ways.  A receiver
 * that refuses gives -ECONNABORTED (peer_status and why say why); the wrong
 * key -EACCES. */
int channel_connect(struct channel *ch, enum channel_kind kind,
		    const uint8_t id[CHANNEL_ID_BYTES]) MUST_CHECK;
/* The receiver's side; sets kind and id.  -EACCES for a sender without the
 * key, -EPROTO for anything that does not speak the protocol. */
int channel_accept(struct channel *ch) MUST_CHECK;
/* The same in two steps, so that a receiver can refuse in its hello once it
 * knows what the sender wants: the sender's hello (kind and id set; one
 * whose key or lack of one differs from ours is refused), then our hello
 * and, with a key, the proofs both ways. */
int channel_accept_hello(struct channel *ch) MUST_CHECK;
int channel_accept_finish(struct channel *ch) MUST_CHECK;
/* Refuse a sender before the handshake: a hello saying so (enum refusal),
 * and the reason (in the clear: it comes before any key is proven). */
int channel_refuse(struct channel *ch, int refusal, const char *reason) MUST_CHECK;

/* Send one message (DATA waiting in the buffer goes first); its payload
 * at most CHANNEL_FRAME_MAX bytes. */
int channel_send(struct channel *ch, enum channel_msg type, const void *payload,
		 size_t len) MUST_CHECK;
/* MSG_ERROR: a refusal (enum refusal) and why. */
int channel_send_error(struct channel *ch, int refusal, const char *fmt, ...)
	ATTR_PRINTF(3, 4) MUST_CHECK;
/* Receive the next message, which must be of type want, with a payload of
 * exactly len bytes.  A MSG_ERROR instead gives -ECONNABORTED. */
int channel_expect(struct channel *ch, enum channel_msg want, void *payload,
		   size_t len) MUST_CHECK;

/* Receive the next message, whatever its type, with a payload of at most
 * max bytes (at most CHANNEL_FRAME_MAX).  A MSG_ERROR gives -ECONNABORTED. */
int channel_next(struct channel *ch, uint8_t *type, void *payload, size_t max,
		 size_t *len) MUST_CHECK;

/* After an error was sent: stop sending, and take what the peer still sends
 * for a moment, so that it reads our error rather than a reset connection. */
void channel_linger(struct channel *ch);

/* The image as a stream: writes become DATA frames, reads take DATA frames
 * and end at MSG_END.  The sender's writes watch for a refusal meanwhile. */
void channel_stream(struct channel *ch, struct stream *s);
/* After the image: send the buffered DATA and MSG_END. */
int channel_end_image(struct channel *ch) MUST_CHECK;
/* After reading an image: the next message must be MSG_END. */
int channel_expect_end(struct channel *ch) MUST_CHECK;
/* After channel_expect_end: the image stream reads the next image (a live
 * send's next round). */
void channel_next_image(struct channel *ch);

/* From now on, all waits together end within ms (0: no such limit). */
void channel_set_deadline(struct channel *ch, int ms);

/* Why the last call failed, in words ("timed out: ...", "the peer closed the
 * connection", "the receiver says: ..."); err is its result. */
const char *channel_why(struct channel *ch, int err);

#endif
