/*
 * Unit tests for the wire protocol: a sender and a receiver, each in its own
 * process, over a real socket pair.  The image bytes arrive intact; the
 * wrong key, a forged frame and a silent peer are refused.
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

static int receiver(int fd, const uint8_t *key)
{
	struct channel ch;
	int status;

	if (channel_init(&ch, fd, fd, key, 2000))
		return 2;
	status = receive_image(&ch);
	channel_free(&ch);
	return status;
}

/* Run a receiver in a child on one end of a socket pair; the other end. */
static int spawn_receiver(const uint8_t *key, pid_t *child)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	*child = fork();
	if (*child == 0) {
		close(sv[0]);
		_exit(receiver(sv[1], key));
	}
	close(sv[1]);
	return sv[0];
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
	channel_free(&ch);
	close(fd);
	CHECK(receiver_status(child) == 0);
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
	test_wrong_key();
	test_key_mismatch();
	test_forged_frame();
	test_silent_peer();
	test_outcome_answers();
	return unit_result();
}
