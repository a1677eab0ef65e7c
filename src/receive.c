#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admit.h"
#include "channel.h"
#include "commands.h"
#include "creds.h"
#include "error.h"
#include "escape.h"
#include "exitcode.h"
#include "fileref.h"
#include "handoff.h"
#include "image.h"
#include "progress.h"
#include "ptrace.h"
#include "precopy.h"
#include "receive.h"
#include "testpoint.h"
#include "record.h"
#include "remote.h"
#include "restore.h"

/* The whole handshake, unless the caller sets another (receive_opts): a
 * silent or trickling peer must not hold a worker for long. */
#define HANDSHAKE_TIMEOUT_MS	10000

struct migration {
	struct channel ch;
	const char *peer;
	struct timespec start;
	struct image im;
	bool have_image;
	struct remote r;
	struct creds creds;	/* whom the copy runs as */
	bool wake;		/* the copy runs once committed (not stopped) */
	char clocks[64];	/* restore_result.clocks, for the log line */
	struct image_fileref *have;	/* the files offered that we said we have */
	size_t nhave;
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
	char what[400] = "", outcome[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(outcome, sizeof(outcome), fmt, ap);
	va_end(ap);
	if (m->have_image) {
		char comm[ESCAPED_SIZE(sizeof(m->im.state.comm))];
		char host[ESCAPED_SIZE(sizeof(m->im.state.hostname))];

		/* Both come from the peer's image, and need not end in a NUL. */
		escape_text(comm, sizeof(comm), m->im.state.comm, sizeof(m->im.state.comm));
		escape_text(host, sizeof(host), m->im.state.hostname,
			    sizeof(m->im.state.hostname));
		snprintf(what, sizeof(what), "PID %d (%s from %s)%s", m->im.state.source_pid,
			 comm, host, outcome[0] == ' ' ? "" : ": ");
	}
	char size[32];

	error_msg("thaw: %s: %s%s; %s in %.2f s", m->peer, what, outcome,
		  human_size(m->ch.wire_in, size), seconds_since(&m->start));
}

/* Tell the sender why (best effort: it may be gone) and log it: the exit
 * status the refusal stands for. */
ATTR_PRINTF(3, 4)
static int refuse(struct migration *m, enum refusal refusal, const char *fmt, ...)
{
	char why[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (channel_send_error(&m->ch, refusal, "%s", why) == 0) {
		log_line(m, "refused: %s", why);
		channel_linger(&m->ch);
	} else {
		log_line(m, "failed: %s", why);
	}
	return exit_status_for_refusal(refusal);
}

static int answer_query(struct migration *m)
{
	static const char *const names[] = {
		[RECORD_UNKNOWN] = "unknown", [RECORD_COMMITTED] = "committed",
		[RECORD_ABORTED] = "aborted", [RECORD_PENDING] = "unknown",
	};
	enum record_outcome outcome;
	int err = handoff_answer_query(&m->ch, &outcome);

	if (err && err != -EPIPE && err != -ECONNRESET && err != -ETIMEDOUT && err != -EAGAIN)
		errno_msg(-err, "thaw: %s: looking up a migration in %s", m->peer, record_dir());
	log_line(m, "query: %s%s", names[outcome], err ? " (answer not delivered)" : "");
	return err ? EXIT_NETWORK : EXIT_OK;
}

/* Why a failure to receive refuses: a forged frame is an authentication
 * failure, not a damaged image or a network error. */
static enum refusal input_refusal(int err)
{
	return err == -CHANNEL_EFORGED ? REFUSAL_AUTH : REFUSAL_BUSY;
}

/* Keep of files[n] those we have (have[i]) in m: the image may reference
 * those and no others. */
static void keep_files_we_have(struct migration *m, struct image_fileref *files, size_t n,
			       const bool *have)
{
	for (size_t i = 0; i < n; i++) {
		if (have[i])
			files[m->nhave++] = files[i];
		else
			free(files[i].path);
	}
	m->have = files;
}

/*
 * The sender's offer of the files its process maps (before it stops it):
 * say which this machine has, identical, where anyone may read them, within
 * a budget of files, bytes and time (fileref_have).  A sender learns no more
 * than it could find out here by itself.  An exit status.
 */
static int answer_files(struct migration *m)
{
	uint8_t *offer = malloc(CHANNEL_FRAME_MAX), *answer = NULL, type;
	struct image_fileref *files = NULL;
	struct fileref_budget budget;
	size_t len, n = 0;
	bool *have = NULL;
	int err, status = EXIT_OK;

	if (!offer)
		return refuse(m, REFUSAL_INTERNAL, "out of memory");
	err = channel_next(&m->ch, &type, offer, CHANNEL_FRAME_MAX, &len);
	if (err) {
		status = refuse(m, input_refusal(err), "receiving the files offered: %s",
				channel_why(&m->ch, err));
		goto out;
	}
	if (type != MSG_FILES || (err = fileref_read_offer(offer, len, &files, &n))) {
		status = err == -ENOMEM ? refuse(m, REFUSAL_INTERNAL, "out of memory") :
			 refuse(m, REFUSAL_IMAGE, "protocol error: a bad offer of files");
		goto out;
	}
	have = calloc(n ? n : 1, sizeof(*have));
	if (!have) {
		status = refuse(m, REFUSAL_INTERNAL, "out of memory");
		goto out;
	}
	fileref_budget_init(&budget);
	for (size_t i = 0; i < n; i++)
		have[i] = fileref_have(&files[i], &budget);
	if (fileref_answer(have, n, &answer, &len)) {
		status = refuse(m, REFUSAL_INTERNAL, "out of memory");
		goto out;
	}
	err = channel_send(&m->ch, MSG_HAVE, answer, len);
	if (err) {
		log_line(m, "failed: answering the files offered: %s", channel_why(&m->ch, err));
		status = EXIT_NETWORK;
		goto out;
	}
	keep_files_we_have(m, files, n, have);
	files = NULL;
out:
	if (files)
		fileref_files_free(files, n);
	free(have);
	free(answer);
	free(offer);
	return status;
}

/* Does the image reference only files we said we have?  Whatever else it
 * names, the sender was never told. */
static const char *unoffered_in(const struct migration *m, const struct image *im)
{
	for (size_t i = 0; i < im->refs.nfiles; i++) {
		const struct image_fileref *f = &im->refs.file[i];
		bool found = false;

		for (size_t k = 0; k < m->nhave && !found; k++)
			found = m->have[k].size == f->size && !strcmp(m->have[k].path, f->path) &&
				!memcmp(m->have[k].sum, f->sum, sizeof(f->sum));
		if (!found)
			return f->path;
	}
	return NULL;
}

static const char *unoffered_file(const struct migration *m)
{
	return unoffered_in(m, &m->im);
}

/* Will a later image of a live send do, before a byte of its pages?
 * 0, or -EBADMSG with res saying why. */
static int check_round(struct migration *m, const struct receive_opts *o,
		       const struct image *next, struct restore_result *res)
{
	const char *unoffered;

	res->failure = RESTORE_BAD_IMAGE;
	if (!(next->state.flags & IMAGE_STATE_DELTA))
		return say_why(-EBADMSG, res->why, sizeof(res->why), "a whole image amid a live "
			       "send's rounds");
	res->failure = RESTORE_CANNOT;
	if (!image_same_creds(&m->im, next))
		return say_why(-EBADMSG, res->why, sizeof(res->why), "the process changed its user "
			       "or groups during the live send's rounds");
	if (next->vmas.count > o->max_regions)
		return say_why(-EBADMSG, res->why, sizeof(res->why), "a round has %zu mappings; "
			       "this receiver takes at most %u (--max-regions)",
			       next->vmas.count, o->max_regions);
	if ((unoffered = unoffered_in(m, next)))
		return say_why(-EBADMSG, res->why, sizeof(res->why), "it references the file %s, "
			       "which this receiver did not say it has", unoffered);
	return 0;
}

/*
 * A live send's later images, each brought into the copy as it arrives
 * (restore_update), until the last (not IMAGE_STATE_LIVE), which m->im is
 * then.  0, or -errno with res saying why (the copy is gone).
 */
static int take_rounds(struct migration *m, const struct receive_opts *o, struct stream *in,
		       struct restore_result *res)
{
	/* All rounds together: an honest sender stops its rounds at three
	 * times the first, and its last image is no larger than a whole one. */
	uint64_t total = m->im.size, most = o->max_size > UINT64_MAX / 4 ? UINT64_MAX :
					     4 * o->max_size;
	int err = 0;

	for (unsigned round = 1; !err && m->im.state.flags & IMAGE_STATE_LIVE; round++) {
		struct image next = { 0 };
		char point[32];

		snprintf(point, sizeof(point), "receive-round-%u", round);
		test_point(point);
		/* A sender that never ends its rounds holds a slot for ever. */
		if (round > PRECOPY_MAX_ROUNDS) {
			remote_kill(&m->r);
			res->failure = RESTORE_BAD_IMAGE;
			return say_why(-EBADMSG, res->why, sizeof(res->why), "more than %d rounds "
				       "in a live send", PRECOPY_MAX_ROUNDS);
		}

		err = channel_expect_end(&m->ch);
		if (err) {
			res->failure = RESTORE_INPUT;
			remote_kill(&m->r);
			break;
		}
		channel_next_image(&m->ch);
		in->pos = 0;	/* offsets are the image's own */
		err = image_read_head(&next, in, o->max_size);
		if (err == -EBADMSG || err == -EFBIG)
			snprintf(res->why, sizeof(res->why), "%s", next.why);
		res->failure = err == -EBADMSG || err == -EFBIG ? RESTORE_BAD_IMAGE : RESTORE_INPUT;
		if (err) {
			/* The log goes on naming the process the last image did. */
			image_free(&next);
			remote_kill(&m->r);
			break;
		}
		total += next.size;
		err = check_round(m, o, &next, res);
		if (!err && total > most) {
			char size[32], max[32];

			res->failure = RESTORE_CANNOT;
			err = say_why(-EBADMSG, res->why, sizeof(res->why), "a live send of more "
				      "than %s in all its rounds; this receiver takes at most four "
				      "times %s (--max-size)", human_size(most, size),
				      human_size(o->max_size, max));
		}
		if (!err && !(next.state.flags & IMAGE_STATE_LIVE))
			err = restore_preflight(&next, res);
		if (!err)
			err = restore_update(&next, &m->im, in, &m->r, res);
		else
			remote_kill(&m->r);
		image_free(&m->im);
		m->im = next;
	}
	if (!err)
		res->failure = RESTORE_OK;
	return err;
}

/* Read, check and restore the image as it arrives; the copy ends up
 * stopped under our ptrace.  An exit status. */
static int restore_image(struct migration *m, const struct receive_opts *o)
{
	char size[32], max[32], what[160], why[512];
	const char *unoffered;
	struct restore_result res;
	struct progress progress;
	struct stream in;
	int err;

	channel_stream(&m->ch, &in);
	err = image_read_head(&m->im, &in, o->max_size);
	if (err == -EFBIG)
		return refuse(m, REFUSAL_RESTORE, "the image is %s; this receiver takes at most "
			      "%s (--max-size)", human_size(m->im.size, size),
			      human_size(o->max_size, max));
	if (err == -EBADMSG)
		return refuse(m, REFUSAL_IMAGE, "invalid image: %s", m->im.why);
	if (err)
		return refuse(m, input_refusal(err), "receiving the image: %s",
			      channel_why(&m->ch, err));
	m->have_image = true;
	if ((unoffered = unoffered_file(m)))
		return refuse(m, REFUSAL_IMAGE, "invalid image: it references the file %s, which "
			      "this receiver did not say it has", unoffered);
	if (m->im.vmas.count > o->max_regions)
		return refuse(m, REFUSAL_RESTORE, "the image has %zu mappings; this receiver takes at "
			      "most %u (--max-regions)", m->im.vmas.count, o->max_regions);
	if (restore_credentials(&m->im, o->as_user, &m->creds, why, sizeof(why)))
		return refuse(m, REFUSAL_RESTORE, "cannot restore: %s", why);
	if (m->creds.warning[0])
		error_msg("thaw: %s: %s", m->peer, m->creds.warning);
	m->r.creds = &m->creds;
	snprintf(what, sizeof(what), "receive PID %d from %s", m->im.state.source_pid, m->peer);
	progress_start(&progress, o->progress, what, m->im.size, &in);
	m->r.stdio = o->stdio;
	m->r.reopen_changed = o->reopen_changed;
	/* A process received lives apart from the receiver: stopping the
	 * listener (^C in its terminal) must not stop it. */
	m->r.own_session = true;
	if (m->im.state.flags & IMAGE_STATE_DELTA)
		return refuse(m, REFUSAL_IMAGE, "invalid image: a live send's later round first");
	if (m->im.state.flags & IMAGE_STATE_LIVE)
		err = restore_preflight(&m->im, &res) || restore_begin(&m->im, &in, &m->r, &res) ||
		      take_rounds(m, o, &in, &res) || restore_finish(&m->im, &m->r, &res);
	else
		err = restore_preflight(&m->im, &res) || restore_build(&m->im, &in, &m->r, &res);
	progress_end(&progress);
	if (err) {
		if (res.failure == RESTORE_INPUT)
			return refuse(m, input_refusal(m->ch.last_err), "receiving the image: %s",
				      channel_why(&m->ch, -EIO));
		return refuse(m, res.failure == RESTORE_BAD_IMAGE ? REFUSAL_IMAGE : REFUSAL_RESTORE,
			      "%s%s", res.failure == RESTORE_BAD_IMAGE ? "invalid image: " :
			      "cannot restore: ", res.why);
	}
	if (res.warning[0])
		error_msg("thaw: %s: the copy has less than its source: %s", m->peer, res.warning);
	memcpy(m->clocks, res.clocks, sizeof(m->clocks));
	err = channel_expect_end(&m->ch);
	if (err) {
		remote_kill(&m->r);
		return refuse(m, err == -EPROTO ? REFUSAL_IMAGE : REFUSAL_BUSY, "%s",
			      channel_why(&m->ch, err));
	}
	err = restore_hold(&m->r, &m->im, &m->wake);
	if (err) {
		remote_kill(&m->r);
		return refuse(m, REFUSAL_RESTORE, "cannot hold the copy stopped: %s",
			      strerror(-err));
	}
	return EXIT_OK;
}

/* READY, COMMIT, DONE: the copy runs only if COMMIT arrives. */
static int hand_over(struct migration *m)
{
	struct handoff_receipt res;
	pid_t pid = m->r.pid;
	char refs[64];

	handoff_receive(&m->ch, &m->r, m->wake, &res);
	switch (res.end) {
	case HANDOFF_RUNNING:
		log_line(m, " -> PID %d: running%s%s%s%s", (int)pid, referenced_files(&m->im, refs),
			 m->clocks[0] ? "; " : "", m->clocks,
			 res.done_sent ? "" : " (DONE not delivered: the sender will ask)");
		return EXIT_OK;
	case HANDOFF_DISCARDED:
		log_line(m, " -> PID %d: discarded, no COMMIT: %s", (int)pid, res.why);
		return EXIT_NETWORK;
	default:
		log_line(m, "failed: %s", res.why);
		return EXIT_RESTORE;
	}
}

/* The one admission (admit.h), before a byte from the peer is read: a
 * refused peer hears why in our hello, and that is all it gets. */
static int admit(struct migration *m, const struct receive_opts *o, enum admission *how)
{
	char why[300];

	*how = admit_peer(m->ch.rfd, o->key, why, sizeof(why));
	if (*how != ADMIT_REFUSE)
		return EXIT_OK;
	if (channel_refuse(&m->ch, REFUSAL_AUTH, why) == 0)
		channel_linger(&m->ch);
	log_line(m, "rejected: %s", why);
	return EXIT_AUTH;
}

/* A migration takes one of the receiver's slots (--max-clients), once its
 * sender is admitted: before our hello without a key (a busy receiver
 * refuses in it, before the sender stops its process), after the proofs
 * with one.  A query needs none.  EXIT_OK, or the refusal's status. */
static int take_slot(struct migration *m, const struct receive_opts *o, bool in_hello)
{
	char why[200];
	int err;

	if (m->ch.kind != CHANNEL_MIGRATE || !o->claim_slot)
		return EXIT_OK;
	err = o->claim_slot(o->slot_ctx, why, sizeof(why));
	if (!err)
		return EXIT_OK;
	if (err != -EBUSY)
		snprintf(why, sizeof(why), "cannot take a slot: %s", strerror(-err));
	if (!in_hello)
		return refuse(m, REFUSAL_BUSY, "%s", why);
	if (channel_refuse(&m->ch, REFUSAL_BUSY, why) == 0)
		channel_linger(&m->ch);
	log_line(m, "refused: %s", why);
	return EXIT_NETWORK;
}

/* The handshake, from the sender's hello to the proofs, all within the
 * handshake's deadline however slowly the peer trickles its bytes. */
static int handshake(struct migration *m, const struct receive_opts *o)
{
	int ms = o->handshake_ms ? o->handshake_ms : HANDSHAKE_TIMEOUT_MS;
	int err, status = EXIT_OK;

	channel_set_deadline(&m->ch, o->timeout_ms < ms ? o->timeout_ms : ms);
	err = channel_accept_hello(&m->ch);
	if (!err && !o->key) {
		status = take_slot(m, o, true);
		if (status != EXIT_OK)
			goto out;
	}
	if (!err)
		err = channel_accept_finish(&m->ch);
	if (err) {
		log_line(m, "rejected: %s", channel_why(&m->ch, err));
		status = err == -EACCES || err == -CHANNEL_EFORGED ? EXIT_AUTH : EXIT_NETWORK;
	}
out:
	channel_set_deadline(&m->ch, 0);
	return status;
}

/* Just before READY: the peer that gets it must still be one the rules
 * admit, not a socket its owner has left since (admit_recheck). */
static int check_sender_again(struct migration *m)
{
	char why[300];

	if (admit_recheck(m->ch.rfd, why, sizeof(why)) == 0)
		return EXIT_OK;
	remote_kill(&m->r);
	return refuse(m, REFUSAL_AUTH, "%s", why);
}

int receive_one(int rfd, int wfd, const char *peer, const struct receive_opts *o,
		bool *migration)
{
	struct migration m = { .peer = peer };
	enum admission how;
	int err, status;

	*migration = false;
	clock_gettime(CLOCK_MONOTONIC, &m.start);
	err = channel_init(&m.ch, rfd, wfd, o->key, o->timeout_ms);
	if (err) {
		errno_msg(-err, "thaw: %s: setting up the connection", peer);
		return EXIT_INTERNAL;
	}
	status = admit(&m, o, &how);
	if (status == EXIT_OK)
		status = handshake(&m, o);
	if (status != EXIT_OK)
		goto out;
	if (m.ch.kind == CHANNEL_QUERY) {
		status = answer_query(&m);
		goto out;
	}
	/* Authenticated now: a key proven, or our own user's. */
	if (o->key) {
		status = take_slot(&m, o, false);
		if (status != EXIT_OK)
			goto out;
	}
	*migration = true;
	if (channel_both_can(&m.ch, CHANNEL_FEATURE_FILEREFS))
		status = answer_files(&m);
	if (status == EXIT_OK)
		status = restore_image(&m, o);
	if (status == EXIT_OK && how == ADMIT_OWN_USER)
		status = check_sender_again(&m);
	if (status == EXIT_OK)
		status = hand_over(&m);
out:
	image_free(&m.im);
	creds_free(&m.creds);
	channel_free(&m.ch);
	fileref_files_free(m.have, m.nhave);
	return status;
}
