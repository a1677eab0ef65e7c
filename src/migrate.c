#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "commands.h"
#include "error.h"
#include "escape.h"
#include "exitcode.h"
#include "fileref.h"
#include "handoff.h"
#include "image.h"
#include "migrate.h"
#include "precopy.h"
#include "ptrace.h"
#include "snapshot.h"
#include "target.h"
#include "testpoint.h"
#include "tracee.h"

/* In run, the source stands at its sys_migrate with "returned 0" in rax for
 * its image; the process itself must not believe it moved should it carry on
 * here without us (run died, the move failed): run answers with the real
 * error when it can. */
static int mark_unmoved(int pid)
{
	struct user_regs_struct regs;
	int err = ptrace_get_regs(pid, &regs);

	if (err)
		return err;
	regs.rax = -ECONNABORTED;
	return ptrace_set_regs(pid, &regs);
}

/* Sending failed: did the receiver refuse first, and say why? */
static int pending_refusal(struct channel *ch, int err)
{
	char why[sizeof(ch->why)];
	int read_err;

	memcpy(why, ch->why, sizeof(why));
	ch->timeout_ms = 1000;
	read_err = channel_expect(ch, MSG_READY, NULL, 0);
	if (read_err == -ECONNABORTED)
		return read_err;
	memcpy(ch->why, why, sizeof(why));
	return err;
}

/* Stream the image of the stopped process into the connection; an exit
 * status, said. */
static int stream_image(struct route *r, struct channel *ch, int pid, int mem_fd,
			struct image *im, struct progress *progress, struct runs *unread)
{
	char what[64];
	struct stream out;
	bool output_failed;
	int err;

	channel_stream(ch, &out);
	ch->watch_peer = true;
	snprintf(what, sizeof(what), "%s PID %d", r->cmd, pid);
	progress_start(progress, r->progress, what, im->size, &out);
	err = snapshot_write_running(pid, mem_fd, im, &out, &output_failed, unread);
	progress_end(progress);
	if (!err) {
		err = channel_end_image(ch);
		output_failed = true;
	}
	ch->watch_peer = false;
	if (err && output_failed && err != -ECONNABORTED)
		err = pending_refusal(ch, err);
	if (!err)
		return EXIT_OK;
	if (err == -ECONNABORTED) {
		error_msg("%s: %s: the receiver refused the process: %s; PID %d carries on here",
			  r->cmd, r->dest, channel_why(ch, err), pid);
		return exit_status_for_refusal(ch->peer_refusal);
	}
	if (output_failed) {
		error_msg("%s: %s: sending the image: %s; PID %d carries on here", r->cmd,
			  r->dest, channel_why(ch, err), pid);
		return EXIT_NETWORK;
	}
	errno_msg(-err, "%s: reading the memory of PID %d", r->cmd, pid);
	if (channel_send_error(ch, REFUSAL_INTERNAL, "the sender could not read the process: %s",
			       strerror(-err)))
		(void)0;	/* the receiver gives up on its own */
	return EXIT_INTERNAL;
}

/* What went wrong on the wire while the files were offered: said, and the
 * exit status. */
static int offer_failed(struct route *r, struct channel *ch, int pid, int err)
{
	if (err == -ECONNABORTED) {
		error_msg("%s: %s: the receiver refused the process: %s; PID %d carries on here",
			  r->cmd, r->dest, channel_why(ch, err), pid);
		return exit_status_for_refusal(ch->peer_refusal);
	}
	error_msg("%s: %s: offering the files PID %d maps: %s; it carries on here", r->cmd,
		  r->dest, pid, channel_why(ch, err));
	return err == -CHANNEL_EFORGED ? EXIT_AUTH : EXIT_NETWORK;
}

/*
 * Before the process stops: offer the receiver the files it maps (its
 * binary, its libraries), and take those it has, identical, to reference
 * rather than send (fileref.h).  A receiver without MSG_FILES gets none and
 * every page, as before.  An exit status, said.
 */
static int offer_files(struct route *r, struct channel *ch, int pid, struct fileref_set *refs)
{
	uint8_t answer[4 + (FILEREF_MAX_FILES + 7) / 8], *offer, type;
	size_t offer_len, offered, len;
	int err;

	if (!channel_both_can(ch, CHANNEL_FEATURE_FILEREFS))
		return EXIT_OK;
	err = fileref_candidates(pid, refs);
	if (err == -ESRCH || err == -ENOENT) {
		error_msg("%s PID %d: no such process (it ended after the first look)", r->cmd,
			  pid);
		return EXIT_NOTARGET;
	}
	if (!err)
		err = fileref_offer(refs, CHANNEL_FRAME_MAX, &offer, &offer_len, &offered);
	if (err) {
		errno_msg(-err, "%s: looking at the files PID %d maps", r->cmd, pid);
		return EXIT_INTERNAL;
	}
	err = channel_send(ch, MSG_FILES, offer, offer_len);
	free(offer);
	if (!err)
		err = channel_next(ch, &type, answer, sizeof(answer), &len);
	if (err)
		return offer_failed(r, ch, pid, err);
	if (type != MSG_HAVE || fileref_take_answer(refs, offered, answer, len)) {
		error_msg("%s: %s: protocol error: a bad answer to the files offered; PID %d "
			  "carries on here", r->cmd, r->dest, pid);
		return EXIT_NETWORK;
	}
	test_point("send-answered");
	return EXIT_OK;
}

/* "64.0 MiB, 12.0 MiB, 1.2 MiB": what each round stored. */
static void live_summary(const struct precopy *pc, char *out, size_t len)
{
	size_t at = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < pc->rounds && i <= PRECOPY_MAX_ROUNDS && at < len; i++) {
		char size[32];

		at += snprintf(out + at, len - at, "%s%s", i ? ", " : "",
			       human_size(pc->stored[i], size));
	}
}

/*
 * A live send's rounds, the process running: track its writes, take its
 * state once (a brief stop), then send its pages, and what it wrote since,
 * round after round, until they stop shrinking.  *live turns false where
 * writes cannot be tracked here (said in one line): the plain send then.
 * An exit status; the process runs on, untraced, whatever happened.
 */
static int send_rounds(struct route *r, struct channel *ch, int pid, unsigned flags,
		       struct fileref_set *refs, struct precopy *pc, bool *live)
{
	struct progress progress;
	struct image base, round;
	char why[256], point[32];
	int status, err;

	err = precopy_start(pc, target_tracee(pid), r->timeout_ms, refs, why, sizeof(why));
	if (err == -EOPNOTSUPP) {
		error_msg("%s PID %d: no live send: %s; it is sent the plain way", r->cmd, pid,
			  why);
		*live = false;
		return EXIT_OK;
	}
	if (err) {
		error_msg("%s PID %d: tracking its writes: %s", r->cmd, pid, why);
		return err == -ESRCH ? EXIT_NOTARGET : EXIT_INTERNAL;
	}
	status = target_capture(r->cmd, pid, flags, refs, &base);
	if (status == EXIT_OK)
		status = target_let_run(r->cmd, pid);
	while (status == EXIT_OK) {
		struct runs unread = { 0 };

		err = precopy_round(pc, &base, &round);
		if (err == -ESRCH || (err && tracee_alive(target_tracee(pid)) == -ESRCH)) {
			if (tracee_alive(target_tracee(pid)) == -ESRCH)
				error_msg("%s PID %d: no such process (it ended during the rounds)",
					  r->cmd, pid);
			else
				error_msg("%s PID %d: it runs another program than when the send "
					  "began (it exec'd); it carries on here", r->cmd, pid);
			status = EXIT_NOTARGET;
			break;
		}
		if (err) {
			errno_msg(-err, "%s: round %u of PID %d", r->cmd, pc->rounds + 1, pid);
			status = EXIT_INTERNAL;
			break;
		}
		status = stream_image(r, ch, pid, pc->mem, &round, &progress, &unread);
		precopy_sent(pc, &round, &unread);
		runs_free(&unread);
		snprintf(point, sizeof(point), "send-round-%u", pc->rounds);
		test_point(point);
		if (!precopy_again(pc))
			break;
	}
	image_free(&base);
	return status;
}

int migrate_process(struct route *r, int pid, unsigned flags, pid_t *moved_to)
{
	struct handoff_source src = { .cmd = r->cmd, .pid = pid, .pidfd = -1,
				      .supervised = flags & TARGET_ATTACHED };
	uint8_t id[CHANNEL_ID_BYTES];
	sigset_t fatal_signals, old_mask;
	char stored[32], mapped[32], referenced[64];
	struct handoff_guardian guardian = { .fd = -1 };
	struct fileref_set refs = { 0 };
	bool live = flags & MIGRATE_LIVE;
	struct timespec stop_at = { 0 };
	double pause_ms = 0;
	char rounds[200];
	struct precopy pc = { .dirty = { .uffd = -1, .pagemap = -1 }, .pagemap = -1, .mem = -1,
			      .maps = -1 };
	struct progress progress;
	struct channel ch;
	struct image im;
	char comm[ESCAPED_SIZE(sizeof(im.state.comm))];
	int32_t new_pid;
	int status, err;

	flags &= ~MIGRATE_LIVE;
	termination_signals(&fatal_signals);
	/* Before the first look at the process, let alone a stop. */
	status = route_check_key(r, pid);
	if (status != EXIT_OK)
		return status;
	target_set_timeout(r->timeout_ms);
	/* The first look takes a pidfd: the process we look at now is the one
	 * we stop, whatever its PID names after a slow connect. */
	status = src.supervised ? EXIT_OK : target_open(r->cmd, pid);
	if (status == EXIT_OK)
		status = target_preflight(r->cmd, pid, flags);
	if (status != EXIT_OK)
		goto forget;
	/* The guardian acts through a pidfd; run's own child has none yet. */
	src.pidfd = src.supervised ? syscall(SYS_pidfd_open, pid, 0) :
		    target_tracee(pid)->pidfd;
	if (src.pidfd < 0) {
		errno_msg(errno, "%s: PID %d", r->cmd, pid);
		status = EXIT_INTERNAL;
		goto forget;
	}
	randombytes_buf(id, sizeof(id));
	/* Reach the receiver before the process stops even for a moment. */
	status = route_open(r, &ch, CHANNEL_MIGRATE, id, false);
	if (status != EXIT_OK)
		goto forget;
	err = handoff_guard(&guardian, r, id, &src);
	if (err) {
		errno_msg(-err, "%s: starting the guardian of PID %d", r->cmd, pid);
		status = EXIT_INTERNAL;
		goto close;
	}
	status = offer_files(r, &ch, pid, &refs);
	if (status == EXIT_OK && live && !channel_both_can(&ch, CHANNEL_FEATURE_LIVE)) {
		error_msg("%s: %s: the receiver takes no live send; PID %d is sent the plain way",
			  r->cmd, r->dest, pid);
		live = false;
	} else if (status == EXIT_OK && live)
		status = send_rounds(r, &ch, pid, flags, &refs, &pc, &live);
	if (status == EXIT_OK)
		status = target_capture(r->cmd, pid, flags | (live ? TARGET_NO_PAGES : 0), &refs,
					&im);
	if (status != EXIT_OK) {
		if (live)
			precopy_end(&pc);
		fileref_set_free(&refs);
		goto close;
	}
	if (src.supervised && (err = mark_unmoved(pid))) {
		errno_msg(-err, "%s: PID %d", r->cmd, pid);
		status = EXIT_INTERNAL;
		goto release;
	}
	src.was_stopped = im.state.flags & IMAGE_STATE_STOPPED;
	src.image = &im;
	if (live && status == EXIT_OK)
		clock_gettime(CLOCK_MONOTONIC, &stop_at);
	if (live && status == EXIT_OK && (err = precopy_last(&pc, &im))) {
		if (err == -ESRCH)
			error_msg("%s PID %d: it runs another program than when the send began "
				  "(it exec'd); it carries on here", r->cmd, pid);
		else
			errno_msg(-err, "%s: the last round of PID %d", r->cmd, pid);
		status = err == -ESRCH ? EXIT_NOTARGET : EXIT_INTERNAL;
		goto release;
	}
	status = stream_image(r, &ch, pid, -1, &im, &progress, NULL);
	human_size(image_stored_bytes(&im), stored);
	human_size(image_mapped_bytes(&im), mapped);
	referenced_files(&im, referenced);
	escape_text(comm, sizeof(comm), im.state.comm, sizeof(im.state.comm));
	if (status != EXIT_OK)
		goto release;
	test_point("send-imaged");

	err = channel_expect(&ch, MSG_READY, &new_pid, sizeof(new_pid));
	if (err) {
		if (err == -ECONNABORTED)
			error_msg("%s: %s: the receiver refused the process: %s; PID %d carries "
				  "on here", r->cmd, r->dest, channel_why(&ch, err), pid);
		else
			error_msg("%s: %s: waiting for READY: %s; PID %d carries on here",
				  r->cmd, r->dest, channel_why(&ch, err), pid);
		status = err == -ECONNABORTED ? exit_status_for_refusal(ch.peer_refusal) :
			err == -CHANNEL_EFORGED ? EXIT_AUTH : EXIT_NETWORK;
		goto release;
	}
	/* From here until the outcome is settled a ^C or a lost terminal must
	 * not come between two steps of the handoff: those signals wait. */
	sigprocmask(SIG_BLOCK, &fatal_signals, &old_mask);
	status = handoff_send(r, &ch, &src, &guardian, new_pid);
	image_free(&im);
	/* From the last stop to DONE: its copy ran by then (the end of the
	 * source, after DONE, is no part of its pause). */
	if (live)
		pause_ms = (src.done_at.tv_sec - stop_at.tv_sec) * 1e3 +
			   (src.done_at.tv_nsec - stop_at.tv_nsec) / 1e6;
	if (status == EXIT_OK && live) {
		live_summary(&pc, rounds, sizeof(rounds));
		progress_summary(&progress, "sent PID %d (%s) to %s live: %u rounds (%s), paused "
				 "%.1f ms; it runs there as PID %d", pid, comm, r->dest, pc.rounds,
				 rounds, pause_ms, (int)new_pid);
		*moved_to = new_pid;
	} else if (status == EXIT_OK) {
		progress_summary(&progress, "%s PID %d (%s) to %s: %s stored of %s mapped%s in "
				 "%.2f s; it runs there as PID %d", flags & TARGET_ATTACHED ?
				 "moved" : "sent", pid, comm, r->dest, stored, mapped, referenced,
				 progress_seconds(&progress), (int)new_pid);
		*moved_to = new_pid;
	}
	/* Settled: a signal that came meanwhile has nothing left to stop, and
	 * the status must tell what happened, not 128+N.  Run's program, when
	 * it stays here, gets what was meant for it (run passes those on). */
	for (int sig; (sig = sigtimedwait(&fatal_signals, NULL, &(struct timespec){ 0 })) > 0;)
		if (src.supervised && status != EXIT_OK && status != EXIT_UNKNOWN)
			kill(pid, sig);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	if (src.supervised)
		close(src.pidfd);
	if (live)
		precopy_end(&pc);
	fileref_set_free(&refs);
	return status;

release:
	/* Failed with the process stopped for us: it carries on as it was. */
	image_free(&im);
	if (live)
		precopy_end(&pc);
	fileref_set_free(&refs);
close:
	route_close(r, &ch);
	handoff_unguard(&guardian);
forget:
	if (src.supervised && src.pidfd >= 0)
		close(src.pidfd);
	if (!src.supervised)
		target_release(r->cmd, pid);	/* and the pidfd with it */
	return status;
}
