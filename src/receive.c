#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "channel.h"
#include "error.h"
#include "exitcode.h"
#include "image.h"
#include "ptrace.h"
#include "receive.h"
#include "record.h"
#include "remote.h"
#include "restore.h"

/* The handshake is short: a silent peer must not hold a slot for long. */
#define HANDSHAKE_TIMEOUT_MS	10000

struct migration {
	struct channel ch;
	const char *peer;
	struct timespec start;
	struct image im;
	bool have_image;
	struct remote r;
};

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) + (now.tv_nsec - t->tv_nsec) / 1e9;
}

/* The one log line of a migration: who, what, how much, how it ended.
 * outcome starts with " -> " or is said after a colon. */
ATTR_PRINTF(2, 3)
static void log_line(const struct migration *m, const char *fmt, ...)
{
	char what[160] = "", outcome[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(outcome, sizeof(outcome), fmt, ap);
	va_end(ap);
	if (m->have_image)
		snprintf(what, sizeof(what), "PID %d (%.16s from %.64s)%s",
			 m->im.state.source_pid, m->im.state.comm, m->im.state.hostname,
			 outcome[0] == ' ' ? "" : ": ");
	error_msg("thaw: %s: %s%s; %.1f %s in %.2f s", m->peer, what, outcome,
		  m->ch.wire_in < (1 << 20) ? m->ch.wire_in / 1024.0 : m->ch.wire_in / 1048576.0,
		  m->ch.wire_in < (1 << 20) ? "KiB" : "MiB", seconds_since(&m->start));
}

/* Tell the sender why (best effort: it may be gone) and log it. */
ATTR_PRINTF(3, 4)
static int refuse(struct migration *m, int status, const char *fmt, ...)
{
	char why[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (channel_send_error(&m->ch, status, "%s", why) == 0) {
		log_line(m, "refused: %s", why);
		channel_linger(&m->ch);
	} else {
		log_line(m, "failed: %s", why);
	}
	return status;
}

static int answer_query(struct migration *m, const struct receive_opts *o)
{
	static const char *const names[] = { "unknown", "committed", "aborted" };
	enum record_outcome outcome;
	uint8_t answer[5];
	pid_t pid;
	int err = record_lookup(m->ch.id, o->timeout_ms, &outcome, &pid);

	if (err)
		errno_msg(-err, "thaw: %s: looking up a migration in %s", m->peer, record_dir());
	answer[0] = outcome;
	memcpy(answer + 1, &pid, sizeof(int32_t));
	err = channel_send(&m->ch, MSG_OUTCOME, answer, sizeof(answer));
	log_line(m, "query: %s%s", names[outcome], err ? " (answer not delivered)" : "");
	return err ? EXIT_NETWORK : EXIT_OK;
}

/* Read, check and restore the image as it arrives; the copy ends up
 * stopped under our ptrace.  An exit status. */
static int restore_image(struct migration *m, const struct receive_opts *o)
{
	struct restore_result res;
	struct stream in;
	int err;

	channel_stream(&m->ch, &in);
	err = image_read_head(&m->im, &in);
	if (err == -EBADMSG)
		return refuse(m, EXIT_IMAGE, "invalid image: %s", m->im.why);
	if (err)
		return refuse(m, EXIT_NETWORK, "receiving the image: %s",
			      channel_why(&m->ch, err));
	m->have_image = true;
	if (m->im.size > o->max_size)
		return refuse(m, EXIT_RESTORE, "the image is %.1f MiB; this receiver takes at most "
			      "%.1f MiB (--max-size)", m->im.size / 1048576.0,
			      o->max_size / 1048576.0);
	if (m->im.vmas.count > o->max_regions)
		return refuse(m, EXIT_RESTORE, "the image has %zu mappings; this receiver takes at "
			      "most %u (--max-regions)", m->im.vmas.count, o->max_regions);
	m->r.stdio = o->stdio;
	/* A process received lives apart from the receiver: stopping the
	 * listener (^C in its terminal) must not stop it. */
	m->r.own_session = true;
	if (restore_preflight(&m->im, &res) || restore_build(&m->im, &in, &m->r, &res)) {
		if (res.failure == RESTORE_INPUT)
			return refuse(m, EXIT_NETWORK, "receiving the image: %s",
				      channel_why(&m->ch, -EIO));
		return refuse(m, res.failure == RESTORE_BAD_IMAGE ? EXIT_IMAGE : EXIT_RESTORE,
			      "%s%s", res.failure == RESTORE_BAD_IMAGE ? "invalid image: " :
			      "cannot restore: ", res.why);
	}
	err = channel_expect_end(&m->ch);
	if (err) {
		remote_kill(&m->r);
		return refuse(m, err == -EPROTO ? EXIT_IMAGE : EXIT_NETWORK, "%s",
			      channel_why(&m->ch, err));
	}
	return EXIT_OK;
}

/* READY, COMMIT, DONE: the copy runs only if COMMIT arrives. */
static int hand_over(struct migration *m)
{
	struct record rec;
	int32_t pid = m->r.pid;
	int err = record_create(m->ch.id, &rec);

	if (err) {
		remote_kill(&m->r);
		return refuse(m, EXIT_INTERNAL, "cannot keep a record of the migration in %s: %s",
			      record_dir(), strerror(-err));
	}
	err = channel_send(&m->ch, MSG_READY, &pid, sizeof(pid));
	if (!err)
		err = channel_expect(&m->ch, MSG_COMMIT, NULL, 0);
	if (err) {
		remote_kill(&m->r);
		if (record_settle(&rec, RECORD_ABORTED, 0))
			errno_msg(errno, "thaw: %s: writing the record of the migration", m->peer);
		log_line(m, " -> PID %d: discarded, no COMMIT: %s", (int)pid,
			 channel_why(&m->ch, err));
		return EXIT_NETWORK;
	}
	/* Durably committed before it runs: a sender that loses DONE asks. */
	err = record_settle(&rec, RECORD_COMMITTED, pid);
	if (!err)
		err = ptrace_detach(m->r.pid, 0);
	if (err) {
		remote_kill(&m->r);
		return refuse(m, EXIT_RESTORE, "cannot start PID %d: %s", (int)pid, strerror(-err));
	}
	err = channel_send(&m->ch, MSG_DONE, &pid, sizeof(pid));
	log_line(m, " -> PID %d: running%s", (int)pid,
		 err ? " (DONE not delivered: the sender will ask)" : "");
	return EXIT_OK;
}

int receive_one(int rfd, int wfd, const char *peer, const struct receive_opts *o,
		bool *migration)
{
	struct migration m = { .peer = peer };
	int err, status;

	*migration = false;
	clock_gettime(CLOCK_MONOTONIC, &m.start);
	err = channel_init(&m.ch, rfd, wfd, o->key,
			   o->timeout_ms < HANDSHAKE_TIMEOUT_MS ? o->timeout_ms : HANDSHAKE_TIMEOUT_MS);
	if (err) {
		errno_msg(-err, "thaw: %s: setting up the connection", peer);
		return EXIT_INTERNAL;
	}
	err = channel_accept(&m.ch);
	m.ch.timeout_ms = o->timeout_ms;
	if (err) {
		log_line(&m, "rejected: %s", channel_why(&m.ch, err));
		status = err == -EACCES ? EXIT_AUTH : EXIT_NETWORK;
	} else if (m.ch.kind == CHANNEL_QUERY) {
		status = answer_query(&m, o);
	} else {
		*migration = true;
		status = restore_image(&m, o);
		if (status == EXIT_OK)
			status = hand_over(&m);
	}
	image_free(&m.im);
	channel_free(&m.ch);
	return status;
}
