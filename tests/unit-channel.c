/*
 * Unit tests for the wire protocol: a sender and a receiver, each in its own
 * process, over a real socket pair.  The image bytes arrive intact; the
 * wrong key, a forged frame and a silent peer are refused.  With a key,
 * under either cipher (AES-256-GCM, or XChaCha20-Poly1305 when a side has
 * no AES-NI): a man in the middle who flips, replays, reorders, drops or
 * holds back frames, or who steers the choice of cipher, is refused.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "handoff.h"
#include "unit.h"

#define IMAGE_BYTES	(3 * CHANNEL_FRAME_MAX + 12345)

static uint8_t key_a[CHANNEL_KEY_BYTES], key_b[CHANNEL_KEY_BYTES];
static const uint8_t id[CHANNEL_ID_BYTES] = "migration-id-01";

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 12));
}

/* The receiver: accept, read the image, check it, say READY.  Exit 0 when
 * all went as expected; 10 + errno class otherwise, for the parent to see. */
static int receive_image(struct channel *ch)
{
	static uint8_t buf[IMAGE_BYTES];
	struct stream in;
	int32_t pid = 4242;
	int err = channel_accept(ch);

	if (err == -EACCES)
		return 3;
	if (err)
		return 4;
	if (ch->kind != CHANNEL_MIGRATE || memcmp(ch->id, id, sizeof(id)))
		return 5;
	channel_stream(ch, &in);
	err = stream_read(&in, buf, sizeof(buf));
	if (err == -CHANNEL_EFORGED)
		return 6;
	if (err)
		return 7;
	for (size_t i = 0; i < sizeof(buf); i++)
		if (buf[i] != pattern(i))
			return 8;
	if (channel_expect_end(ch) || channel_send(ch, MSG_READY, &pid, sizeof(pid)))
		return 9;
	return 0;
}

/* In a child: make this side a CPU without AES-NI, as far as contmig knows. */
static void without_aesgcm(void)
{
	setenv("CONTMIG_TEST_NO_AESGCM", "1", 1);
}

static int receiver(int fd, const uint8_t *key, bool no_aes)
{
	struct channel ch;
	int status;

	if (no_aes)
		without_aesgcm();
	if (channel_init(&ch, fd, fd, key, 2000))
		return 2;
	status = receive_image(&ch);
	channel_free(&ch);
	return status;
}

/* Run a receiver in a child on one end of a socket pair; the other end. */
static int spawn_receiver_as(const uint8_t *key, bool no_aes, pid_t *child)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	*child = fork();
	if (*child == 0) {
		close(sv[0]);
		_exit(receiver(sv[1], key, no_aes));
	}
	close(sv[1]);
	return sv[0];
}

static int spawn_receiver(const uint8_t *key, pid_t *child)
{
	return spawn_receiver_as(key, false, child);
}

static int receiver_status(pid_t child)
{
	int status;

	waitpid(child, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* Send the image; 0, or the first error. */
static int send_image(struct channel *ch)
{
	static uint8_t buf[IMAGE_BYTES];
	struct stream out;
	int32_t pid = 0;
	int err;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	channel_stream(ch, &out);
	/* In odd pieces, to cross frame boundaries every which way. */
	for (size_t done = 0, n; done < sizeof(buf); done += n) {
		n = sizeof(buf) - done < 777777 ? sizeof(buf) - done : 777777;
		err = stream_write(&out, buf + done, n);
		if (err)
			return err;
	}
	err = channel_end_image(ch);
	if (!err)
		err = channel_expect(ch, MSG_READY, &pid, sizeof(pid));
	return err ? err : pid == 4242 ? 0 : -EPROTO;
}

static void test_round_trip(const uint8_t *key)
{
	struct channel ch;
	pid_t child;
	int fd = spawn_receiver(key, &child);

	CHECK(channel_init(&ch, fd, fd, key, 2000) == 0);
	CHECK(channel_connect(&ch, CHANNEL_MIGRATE, id) == 0);
	CHECK(send_image(&ch) == 0);
	/* With a key, not a byte of the image in clear: the wire carries more
	 * than the image (framing and tags) but never its plaintext size. */
	CHECK(ch.wire_out > IMAGE_BYTES);
	/* Both sides run on this CPU: with a key, they seal with AES-256-GCM
	 * if it has AES-NI. */
	CHECK(ch.aesgcm == (key && crypto_aead_aes256gcm_is_available()));
	channel_free(&ch);
	close(fd);
	CHECK(receiver_status(child) == 0);
}

/* A side without AES-NI (either one): both seal with XChaCha20-Poly1305,
 * and the image arrives. */
static void test_mixed_ciphers(void)
{
	for (int side = 0; side < 2; side++) {
		struct channel ch;
		pid_t child;
		int fd = spawn_receiver_as(key_a, side == 1, &child);

		if (side == 0)
			without_aesgcm();
		CHECK(channel_init(&ch, fd, fd, key_a, 2000) == 0);
		unsetenv("CONTMIG_TEST_NO_AESGCM");
		CHECK(channel_connect(&ch, CHANNEL_MIGRATE, id) == 0);
		CHECK(!ch.aesgcm);
		CHECK(send_image(&ch) == 0);
		channel_free(&ch);
		close(fd);
		CHECK(receiver_status(child) == 0);
	}
}

static void test_wrong_key(void)
{
	struct channel ch;
	pid_t child;
	int fd = spawn_receiver(key_b, &child);

	CHECK(channel_init(&ch, fd, fd, key_a, 2000) == 0);
	CHECK(channel_connect(&ch, CHANNEL_MIGRATE, id) == -EACCES);
	CHECK(strstr(channel_why(&ch, -EACCES), "does not hold this key") != NULL);
	channel_free(&ch);
	close(fd);
	CHECK(receiver_status(child) == 3);	/* it refused us too */
}

static void test_key_mismatch(void)
{
	struct channel ch;
	pid_t child;
	int fd = spawn_receiver(NULL, &child);

	CHECK(channel_init(&ch, fd, fd, key_a, 2000) == 0);
	CHECK(channel_connect(&ch, CHANNEL_MIGRATE, id) == -ECONNABORTED);
	CHECK(strstr(channel_why(&ch, 0), "no key") != NULL);
	channel_free(&ch);
	close(fd);
	CHECK(receiver_status(child) == 3);
}

/* A keyed stream with one bit flipped on the wire is refused, not used. */
static void test_forged_frame(void)
{
	struct channel ch;
	pid_t child;
	int sv[2], fd = spawn_receiver(key_a, &child);
	uint8_t buf[65536];

	/* Stand in the middle: we talk to the receiver through our own pair. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	if (fork() == 0) {
		/* The sender, in a child, on sv[1]. */
		close(sv[0]);
		close(fd);
		int status;

		CHECK(channel_init(&ch, sv[1], sv[1], key_a, 2000) == 0);
		status = channel_connect(&ch, CHANNEL_MIGRATE, id) == 0 && send_image(&ch) != 0;
		channel_free(&ch);
		_exit(status ? 0 : 1);
	}
	close(sv[1]);
	/* Relay both ways; flip a bit in the 200th KiB going to the receiver. */
	{
		size_t up = 0;

		for (;;) {
			struct pollfd p[2] = { { .fd = sv[0], .events = POLLIN },
					       { .fd = fd, .events = POLLIN } };
			ssize_t n;

			if (poll(p, 2, 3000) <= 0)
				break;
			if (p[0].revents) {
				n = read(sv[0], buf, sizeof(buf));
				if (n <= 0)
					break;
				if (up <= 200000 && up + n > 200000)
					buf[200000 - up] ^= 1;
				up += n;
				if (write(fd, buf, n) != n)
					break;
			}
			if (p[1].revents) {
				n = read(fd, buf, sizeof(buf));
				if (n <= 0 || write(sv[0], buf, n) != n)
					break;
			}
		}
	}
	close(sv[0]);
	close(fd);
	CHECK(receiver_status(child) == 6);	/* forged */
	wait(NULL);
}

/* ---- a man in the middle, frame by frame ---- */

/* What he does to what the sender sends (frame 0 is AUTH, 1 to 4 DATA, 5
 * END), or to the hellos. */
enum tamper {
	TAMPER_NONE,
	TAMPER_FLIP,		/* flip a bit in frame 2 */
	TAMPER_REPLAY,		/* frame 2 twice */
	TAMPER_SWAP,		/* frame 3 before frame 2 */
	TAMPER_DROP,		/* frame 2 left out */
	TAMPER_CUT,		/* the whole image, then hang up before END */
	TAMPER_DOWNGRADE,	/* the AES-256-GCM bit cleared in the receiver's hello */
	TAMPER_UPGRADE,		/* that bit set in the sender's hello */
};

#define HELLO_FEATURES	13	/* the features byte's offset in a hello */
#define SS_HEADER	crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define FRAME_BYTES_MAX	(4 + 1 + CHANNEL_FRAME_MAX + 32)

static bool read_exactly(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool write_exactly(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Read the sender's next frame whole into f: its length on the wire, or 0. */
static size_t read_frame_up(int fd, uint8_t *f)
{
	uint32_t len;

	if (!read_exactly(fd, f, 4))
		return 0;
	memcpy(&len, f, 4);
	if (len > FRAME_BYTES_MAX - 4 || !read_exactly(fd, f + 4, len))
		return 0;
	return 4 + len;
}

/* Pass what the receiver sends on to the sender, as it comes. */
static bool pass_down(int receiver, int sender)
{
	uint8_t buf[4096];
	ssize_t n = read(receiver, buf, sizeof(buf));

	return n > 0 && write_exactly(sender, buf, (size_t)n);
}

struct mitm {
	int sender, receiver;		/* his ends of the two connections */
	enum tamper tamper;
	bool aesgcm;			/* the sender seals with AES-256-GCM */
	uint32_t auth_len;		/* the length of the sender's AUTH frame */
};

/* Pass on what the receiver says until the sender has more to say: false
 * when either hangs up, or both fall silent. */
static bool wait_for_sender(struct mitm *m)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = m->sender, .events = POLLIN },
				       { .fd = m->receiver, .events = POLLIN } };

		if (poll(p, 2, 3000) <= 0)
			return false;
		/* The receiver first: what the sender says next may answer it. */
		if (!p[1].revents)
			return true;
		if (!pass_down(m->receiver, m->sender))
			return false;
	}
}

/* Between the hellos and the end: the sender's frames one by one, tampered
 * with; whatever the receiver says, as it comes.  Until either hangs up. */
static void relay_frames(struct mitm *m)
{
	static uint8_t f[FRAME_BYTES_MAX], held[FRAME_BYTES_MAX];
	size_t held_len = 0;

	for (int frame = 0;;) {
		size_t n;

		if (!wait_for_sender(m))
			return;
		n = read_frame_up(m->sender, f);
		if (!n)
			return;
		if (frame == 0)
			memcpy(&m->auth_len, f, 4);
		if (frame == 5 && m->tamper == TAMPER_CUT)
			return;
		if (frame == 2 && m->tamper == TAMPER_FLIP)
			f[n / 2] ^= 1;
		if (frame == 2 && m->tamper == TAMPER_SWAP) {
			memcpy(held, f, n);
			held_len = n;
			frame++;
			continue;
		}
		if (frame == 2 && m->tamper == TAMPER_DROP) {
			frame++;
			continue;
		}
		if (!write_exactly(m->receiver, f, n))
			return;
		if (frame == 2 && m->tamper == TAMPER_REPLAY && !write_exactly(m->receiver, f, n))
			return;
		if (held_len && !write_exactly(m->receiver, held, held_len))
			return;
		held_len = 0;
		frame++;
	}
}

/* The man in the middle, from the first hello to the end. */
static void run_mitm(struct mitm *m)
{
	uint8_t up[CHANNEL_HELLO_BYTES], down[CHANNEL_HELLO_BYTES], header[SS_HEADER];
	uint8_t sender_offers;

	if (!read_exactly(m->sender, up, sizeof(up)))
		return;
	sender_offers = up[HELLO_FEATURES];
	if (m->tamper == TAMPER_UPGRADE)
		up[HELLO_FEATURES] |= CHANNEL_FEATURE_AESGCM;
	if (!write_exactly(m->receiver, up, sizeof(up)) ||
	    !read_exactly(m->receiver, down, sizeof(down)))
		return;
	if (m->tamper == TAMPER_DOWNGRADE)
		down[HELLO_FEATURES] &= ~CHANNEL_FEATURE_AESGCM;
	if (!write_exactly(m->sender, down, sizeof(down)))
		return;
	/* How the sender seals, from what it offered and what it saw. */
	m->aesgcm = sender_offers & down[HELLO_FEATURES] & CHANNEL_FEATURE_AESGCM;
	if (!m->aesgcm && (!wait_for_sender(m) ||
			   !read_exactly(m->sender, header, sizeof(header)) ||
			   !write_exactly(m->receiver, header, sizeof(header))))
		return;
	relay_frames(m);
}

/* The sender, in a child: 0 sent and READY came, 1 refused in the
 * handshake for the key (-EACCES), 2 other handshake failure, 3 failed
 * sending. */
static int mitm_sender(int fd, bool no_aes)
{
	struct channel ch;
	int err, status;

	if (no_aes)
		without_aesgcm();
	if (channel_init(&ch, fd, fd, key_a, 2000))
		return 4;
	err = channel_connect(&ch, CHANNEL_MIGRATE, id);
	status = err == -EACCES ? 1 : err ? 2 : send_image(&ch) ? 3 : 0;
	channel_free(&ch);
	return status;
}

/*
 * Sender and receiver (each in a child; no_aes: bit 0 the sender, bit 1 the
 * receiver has no AES-NI) through the man in the middle; their statuses, and
 * what he saw.
 */
static void through_mitm(enum tamper tamper, int no_aes, int *sent, int *received,
			 struct mitm *m)
{
	pid_t receiver_pid, sender_pid;
	int sv[2], status;

	*m = (struct mitm){ .tamper = tamper };
	m->receiver = spawn_receiver_as(key_a, no_aes & 2, &receiver_pid);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	sender_pid = fork();
	if (sender_pid == 0) {
		close(sv[0]);
		close(m->receiver);
		_exit(mitm_sender(sv[1], no_aes & 1));
	}
	close(sv[1]);
	m->sender = sv[0];
	run_mitm(m);
	close(m->sender);
	close(m->receiver);
	*received = receiver_status(receiver_pid);
	waitpid(sender_pid, &status, 0);
	*sent = WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* Each attack on the frames, under each cipher: refused, never taken. */
static void test_tampered_frames(void)
{
	static const struct {
		enum tamper tamper;
		int received;		/* the receiver's status */
	} cases[] = {
		{ TAMPER_FLIP, 6 }, { TAMPER_REPLAY, 6 }, { TAMPER_SWAP, 6 },
		{ TAMPER_DROP, 6 },
		{ TAMPER_CUT, 9 },	/* the image whole, but no END: not taken */
	};
	bool gcm = crypto_aead_aes256gcm_is_available();

	for (int no_aes = 0; no_aes < 3; no_aes++) {
		int sent, received;
		struct mitm m;

		/* Untouched, it goes through; AES-256-GCM's AUTH comes first
		 * (type, the text, GCM's tag), the secretstream's after its
		 * header (and its tag is a byte longer). */
		through_mitm(TAMPER_NONE, no_aes, &sent, &received, &m);
		CHECK(sent == 0 && received == 0);
		CHECK(m.aesgcm == (gcm && !no_aes));
		CHECK(m.auth_len == 1 + sizeof("contmig: I hold the key") +
		      (m.aesgcm ? crypto_aead_aes256gcm_ABYTES :
		       crypto_secretstream_xchacha20poly1305_ABYTES));
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			through_mitm(cases[i].tamper, no_aes, &sent, &received, &m);
			if (received != cases[i].received || sent != 3)
				fprintf(stderr, "tamper %d, no AES %d: receiver %d, sender %d\n",
					cases[i].tamper, no_aes, received, sent);
			CHECK(received == cases[i].received);
			CHECK(sent == 3);
		}
	}
}

/*
 * A man in the middle who steers the choice of cipher, by a feature bit in
 * either hello, changes the transcript the session keys come from: neither
 * side's proof of the key holds for the other, and both refuse.
 */
static void test_steered_cipher(void)
{
	int sent, received;
	struct mitm m;

	if (!crypto_aead_aes256gcm_is_available())
		return;
	through_mitm(TAMPER_DOWNGRADE, 0, &sent, &received, &m);
	CHECK(sent == 1 && received == 3);
	/* A sender without AES-NI said to have it. */
	through_mitm(TAMPER_UPGRADE, 1, &sent, &received, &m);
	CHECK(sent == 1 && received == 3);
}

/* A peer that says nothing: the wait ends after the timeout. */
static void test_silent_peer(void)
{
	struct channel ch;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(channel_init(&ch, sv[0], sv[0], NULL, 200) == 0);
	CHECK(channel_accept(&ch) == -ETIMEDOUT);
	CHECK(strstr(channel_why(&ch, 0), "timed out") != NULL);
	channel_free(&ch);
	close(sv[0]);
	close(sv[1]);
}

/* An answer to a query decides the source's fate: only the two known
 * decisions count; any other byte is unknown, and unknown never resumes. */
static void test_outcome_answers(void)
{
	uint8_t answer[CHANNEL_OUTCOME_BYTES] = { OUTCOME_COMMITTED, 42, 0, 0, 0 };
	pid_t pid;

	CHECK(handoff_decode_outcome(answer, &pid) == RECORD_COMMITTED && pid == 42);
	answer[0] = OUTCOME_ABORTED;
	CHECK(handoff_decode_outcome(answer, &pid) == RECORD_ABORTED);
	for (int b = 0; b < 256; b++) {
		answer[0] = b;
		if (b != OUTCOME_COMMITTED && b != OUTCOME_ABORTED)
			CHECK(handoff_decode_outcome(answer, &pid) == RECORD_UNKNOWN);
	}
	/* Committed, yet no PID runs it there: not a decision we can act on. */
	memset(answer, 0, sizeof(answer));
	answer[0] = OUTCOME_COMMITTED;
	CHECK(handoff_decode_outcome(answer, &pid) == RECORD_UNKNOWN);
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	randombytes_buf(key_a, sizeof(key_a));
	randombytes_buf(key_b, sizeof(key_b));
	signal(SIGPIPE, SIG_IGN);
	test_round_trip(NULL);
	test_round_trip(key_a);
	test_mixed_ciphers();
	test_wrong_key();
	test_key_mismatch();
	test_forged_frame();
	test_tampered_frames();
	test_steered_cipher();
	test_silent_peer();
	test_outcome_answers();
	return unit_result();
}
