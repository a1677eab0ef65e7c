/*
 * contmig send: freeze a process straight into a connection and hand it over
 * to the receiver, exactly once (contmig(1), THE HANDOFF).
 *
 * The source stays stopped under our ptrace until the receiver holds a
 * stopped copy (READY).  Just before COMMIT we set PTRACE_O_EXITKILL on it:
 * from then on, if send dies, the source dies too, and the receiver's copy
 * runs only if COMMIT arrived; it never runs beside the source.  Before that,
 * a dying send lets the kernel detach, and the source simply carries on.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "commands.h"
#include "error.h"
#include "exitcode.h"
#include "image.h"
#include "key.h"
#include "net.h"
#include "progress.h"
#include "ptrace.h"
#include "record.h"
#include "snapshot.h"
#include "send.h"
#include "target.h"

static const char usage[] =
	"Usage: contmig send [--key FILE] [--via CMD] [--timeout SECS] [--drop-fds]\n"
	"                    [--quiet|--progress] PID DEST\n"
	"Move a running process to another node: freeze it straight into a connection\n"
	"to a receiver ('contmig thaw --listen' there), which restores it; the process\n"
	"then runs there and ends here, exactly once. DEST is HOST[:PORT] (port "
	NET_DEFAULT_PORT "),\n"
	"or ssh://[USER@]HOST[:PORT] to run 'contmig thaw --stdio' there through ssh.\n"
	"On success it prints the new PID and DEST. Until the receiver holds its copy,\n"
	"any failure leaves the process running here as if nothing happened.\n"
	"\n"
	"  -k, --key FILE       a shared key (contmig keygen): both sides prove they hold\n"
	"                       it, and the stream is encrypted\n"
	"      --via CMD        speak to 'contmig thaw --stdio' through CMD's stdin and\n"
	"                       stdout (DEST then only names the node in messages)\n"
	"  -t, --timeout SECS   give up on a silent receiver after SECS (default 30)\n"
	"      --drop-fds       send even with files open beyond 0-2; the process finds\n"
	"                       them closed\n"
	PROGRESS_HELP
	"  -h, --help           show this help\n";

/* How the bytes reach the receiver: a TCP address or a command. */
struct route {
	const char *dest;		/* as the user wrote it */
	struct net_addr addr;
	char *via;			/* the command, or NULL for TCP */
	pid_t via_pid;
	int timeout_ms;
	const uint8_t *key;
	char why[600];			/* why route_open failed */
	enum progress_mode progress;
	/* contmig run: the source is stopped under our ptrace already, at its
	 * sys_migrate; never seize it, never let it go: a failure leaves it
	 * stopped for run to answer the call. */
	bool supervised;
};

/* The command the user ran, for messages. */
static const char *route_cmd(const struct route *r)
{
	return r->supervised ? "run" : "send";
}

static void route_close(struct route *r, struct channel *ch)
{
	close(ch->rfd);
	channel_free(ch);
	if (r->via_pid > 0)
		net_reap(r->via_pid, 2000);
	r->via_pid = 0;
}

/* A receiver's status passes on only if it is one of those a receiver
 * sends; anything else from the wire is a network error. */
static int peer_exit_status(int status)
{
	switch (status) {
	case EXIT_IMAGE:
	case EXIT_AUTH:
	case EXIT_RESTORE:
	case EXIT_INTERNAL:
		return status;
	default:
		return EXIT_NETWORK;
	}
}

/* Without a key, to whom may we send?  Only to a listener of our own user,
 * or root's: anyone else on this machine could have taken the port, and
 * would read the process's memory and have the original ended. */
static int check_receiver(struct route *r, int fd)
{
	uid_t uid;
	int err = net_peer_uid(fd, &uid);

	if (!err && (uid == geteuid() || uid == 0))
		return EXIT_OK;
	if (err == -ENOTCONN) {
		snprintf(r->why, sizeof(r->why), "the connection closed at once");
		return EXIT_NETWORK;
	}
	if (err)
		snprintf(r->why, sizeof(r->why), "cannot tell which user listens on port %s (%s)",
			 r->addr.port, strerror(-err));
	else
		snprintf(r->why, sizeof(r->why), "the listener on port %s runs as uid %u; without "
			 "a key, send goes to a listener of its own user only (use --key)",
			 r->addr.port, (unsigned)uid);
	return EXIT_AUTH;
}

/* One connection, handshake done; an exit status, the failure in r->why
 * (and said, unless quiet) and nothing left open. */
static int route_open(struct route *r, struct channel *ch, enum channel_kind kind,
		      const uint8_t id[CHANNEL_ID_BYTES], bool quiet)
{
	char why[NET_WHY];
	int fd, err, status = EXIT_NETWORK;

	r->via_pid = 0;
	if (r->via)
		fd = net_spawn(r->via, &r->via_pid);
	else
		fd = net_connect(&r->addr, r->timeout_ms, why);
	if (fd < 0) {
		if (!r->via && why[0])
			snprintf(r->why, sizeof(r->why), "%s", why);
		else if (r->via)
			snprintf(r->why, sizeof(r->why), "running %.300s: %s", r->via, strerror(-fd));
		else
			snprintf(r->why, sizeof(r->why), "connecting to %s port %s: %s", r->addr.host,
				 r->addr.port, strerror(-fd));
		goto fail;
	}
	if (!r->via && !r->key && net_peer_is_loopback(fd)) {
		status = check_receiver(r, fd);
		if (status != EXIT_OK) {
			close(fd);
			goto fail;
		}
	}
	err = channel_init(ch, fd, fd, r->key, r->timeout_ms);
	if (err) {
		close(fd);
		if (r->via_pid > 0)
			net_reap(r->via_pid, 0);
		snprintf(r->why, sizeof(r->why), "%s", strerror(-err));
		status = EXIT_INTERNAL;
		goto fail;
	}
	err = channel_connect(ch, kind, id);
	if (!err)
		return EXIT_OK;
	status = err == -EACCES || err == -CHANNEL_EFORGED ? EXIT_AUTH :
		err == -ECONNABORTED ? peer_exit_status(ch->peer_status) : EXIT_NETWORK;
	if (r->via && err == -ECONNRESET) {
		/* The command ended before the handshake: say how. */
		pid_t via_pid = r->via_pid;
		int wstatus;

		r->via_pid = 0;
		route_close(r, ch);
		wstatus = net_reap(via_pid, r->timeout_ms);
		snprintf(r->why, sizeof(r->why), "'%.300s' %s %d before the handshake", r->via,
			 WIFSIGNALED(wstatus) ? "died of signal" : "exited with status",
			 WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus));
		goto fail;
	}
	snprintf(r->why, sizeof(r->why), "%s%s", err == -ECONNABORTED ? "the receiver refused: " :
		 "", channel_why(ch, err));
	route_close(r, ch);
fail:
	if (!quiet)
		error_msg("%s: %s: %s", route_cmd(r), r->dest, r->why);
	return status;
}

/*
 * DONE never came: ask the receiver how the migration ended, on a new
 * connection.  It answers from its record once its own wait is over, which
 * may take its --timeout; a busy receiver frees a slot within its handshake
 * limit.  So keep asking for a good while before calling it unknown.
 */
static enum record_outcome ask_outcome(struct route *r, const uint8_t id[CHANNEL_ID_BYTES],
				       pid_t *new_pid, char *why, size_t why_len)
{
	struct timespec pause = { 1, 0 }, start, now;
	int patience_s = 2 * r->timeout_ms / 1000 + 10;

	snprintf(why, why_len, "no answer");
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int attempt = 0;; attempt++) {
		struct channel ch;
		uint8_t answer[5];
		int err;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (attempt && now.tv_sec - start.tv_sec >= patience_s)
			return RECORD_UNKNOWN;
		if (attempt)
			nanosleep(&pause, NULL);
		if (route_open(r, &ch, CHANNEL_QUERY, id, true) != EXIT_OK) {
			snprintf(why, why_len, "%.*s", (int)why_len - 1, r->why);
			continue;
		}
		err = channel_expect(&ch, MSG_OUTCOME, answer, sizeof(answer));
		if (err)
			snprintf(why, why_len, "%s", channel_why(&ch, err));
		route_close(r, &ch);
		if (err)
			continue;
		if (answer[0] == RECORD_UNKNOWN) {
			snprintf(why, why_len, "it has no record of the migration");
			return RECORD_UNKNOWN;
		}
		memcpy(new_pid, answer + 1, sizeof(int32_t));
		return answer[0] == RECORD_COMMITTED ? RECORD_COMMITTED : RECORD_ABORTED;
	}
}

/* Leave the source stopped and untraced, for the user to decide. */
static void keep_stopped(int pid)
{
	int err = kill(pid, SIGSTOP) < 0 ? -errno : ptrace_detach(pid, 0);

	if (err)
		errno_msg(-err, "send: leaving PID %d stopped", pid);
}

/* The ptrace options the source had before COMMIT armed PTRACE_O_EXITKILL. */
static long base_options(const struct route *r)
{
	return r->supervised ? PTRACE_O_TRACESECCOMP : 0;
}

/* Undo PTRACE_O_EXITKILL and let the source carry on (run's: stay stopped). */
static void resume_source(const struct route *r, int pid)
{
	ptrace(PTRACE_SETOPTIONS, pid, 0, base_options(r));
	if (!r->supervised)
		target_release("send", pid);
}

/* The receiver holds a stopped copy: COMMIT, then DONE, or find out.  The
 * connection is closed on return. */
static int commit(struct route *r, struct channel *ch, int pid, pid_t new_pid)
{
	uint8_t id[CHANNEL_ID_BYTES];
	char why[200];
	int32_t done;
	int err, peer_status;

	memcpy(id, ch->id, sizeof(id));
	if (ptrace(PTRACE_SETOPTIONS, pid, 0, base_options(r) | PTRACE_O_EXITKILL) < 0) {
		errno_msg(errno, "send: holding PID %d", pid);
		route_close(r, ch);
		resume_source(r, pid);
		return EXIT_INTERNAL;
	}
	err = channel_send(ch, MSG_COMMIT, NULL, 0);
	if (err) {
		/* Not a byte of COMMIT got out: the receiver discards its copy. */
		error_msg("send: %s: lost before COMMIT: %s; PID %d carries on here", r->dest,
			  channel_why(ch, err), pid);
		route_close(r, ch);
		resume_source(r, pid);
		return EXIT_NETWORK;
	}
	err = channel_expect(ch, MSG_DONE, &done, sizeof(done));
	peer_status = ch->peer_status;
	if (!err) {
		route_close(r, ch);
		return target_end("send", pid);
	}
	if (err == -ECONNABORTED) {
		/* The receiver could not start its copy, and says so. */
		error_msg("send: %s: the receiver failed: %s; PID %d carries on here", r->dest,
			  channel_why(ch, err), pid);
		route_close(r, ch);
		resume_source(r, pid);
		return peer_exit_status(peer_status);
	}
	error_msg("send: %s: no DONE after COMMIT (%s); asking the receiver how it ended",
		  r->dest, channel_why(ch, err));
	/* Closing first also tells a receiver still waiting for COMMIT to settle. */
	route_close(r, ch);
	switch (ask_outcome(r, id, &new_pid, why, sizeof(why))) {
	case RECORD_COMMITTED:
		return target_end("send", pid);
	case RECORD_ABORTED:
		error_msg("send: %s: the receiver never got COMMIT and discarded its copy; "
			  "PID %d carries on here", r->dest, pid);
		resume_source(r, pid);
		return EXIT_NETWORK;
	default:
		keep_stopped(pid);
		error_msg("send: %s: outcome unknown (asking the receiver: %s): it runs PID %d only "
			  "if it got COMMIT. PID %d is kept stopped here: if PID %d runs there, "
			  "kill -9 %d; if not, kill -CONT %d", r->dest, why, (int)new_pid, pid,
			  (int)new_pid, pid, pid);
		return EXIT_UNKNOWN;
	}
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

/* Freeze pid into the connection and hand it over. */
static int send_process(struct route *r, int pid, bool drop_fds, pid_t *moved_to)
{
	uint8_t id[CHANNEL_ID_BYTES];
	sigset_t fatal_signals, old_mask;
	char what[64], comm[17], stored[32], mapped[32];
	struct progress progress;
	struct channel ch;
	struct stream out;
	struct image im;
	bool output_failed;
	int32_t new_pid;
	int status, err;

	unsigned target_flags = (drop_fds ? TARGET_DROP_FDS : 0) |
				(r->supervised ? TARGET_ATTACHED | TARGET_SELF_MOVE : 0);

	termination_signals(&fatal_signals);
	target_set_timeout(r->timeout_ms);
	status = r->supervised ? EXIT_OK : target_open(route_cmd(r), pid);
	if (status == EXIT_OK)
		status = target_preflight(route_cmd(r), pid, target_flags);
	if (status != EXIT_OK)
		return status;
	randombytes_buf(id, sizeof(id));
	/* Reach the receiver before the process stops even for a moment. */
	status = route_open(r, &ch, CHANNEL_MIGRATE, id, false);
	if (status != EXIT_OK)
		return status;
	status = target_capture(route_cmd(r), pid, target_flags, &im);
	if (status != EXIT_OK)
		goto close;
	channel_stream(&ch, &out);
	ch.watch_peer = true;
	snprintf(what, sizeof(what), "send PID %d", pid);
	progress_start(&progress, r->progress, what, im.size, &out);
	err = snapshot_write(pid, &im, &out, &output_failed);
	progress_end(&progress);
	if (!err) {
		err = channel_end_image(&ch);
		output_failed = true;
	}
	ch.watch_peer = false;
	if (err && output_failed && err != -ECONNABORTED)
		err = pending_refusal(&ch, err);
	if (err) {
		if (err == -ECONNABORTED) {
			error_msg("send: %s: the receiver refused the process: %s; PID %d carries "
				  "on here", r->dest, channel_why(&ch, err), pid);
			status = peer_exit_status(ch.peer_status);
		} else if (output_failed) {
			error_msg("send: %s: sending the image: %s; PID %d carries on here",
				  r->dest, channel_why(&ch, err), pid);
			status = EXIT_NETWORK;
		} else {
			errno_msg(-err, "send: reading the memory of PID %d", pid);
			if (channel_send_error(&ch, EXIT_INTERNAL, "the sender could not read the "
					       "process: %s", strerror(-err)))
				(void)0;	/* the receiver gives up on its own */
			status = EXIT_INTERNAL;
		}
		goto free_image;
	}
	human_size(image_stored_bytes(&im), stored);
	human_size(image_mapped_bytes(&im), mapped);
	snprintf(comm, sizeof(comm), "%.16s", im.state.comm);
	image_free(&im);

	err = channel_expect(&ch, MSG_READY, &new_pid, sizeof(new_pid));
	if (err) {
		if (err == -ECONNABORTED)
			error_msg("send: %s: the receiver refused the process: %s; PID %d carries "
				  "on here", r->dest, channel_why(&ch, err), pid);
		else
			error_msg("send: %s: waiting for READY: %s; PID %d carries on here",
				  r->dest, channel_why(&ch, err), pid);
		status = err == -ECONNABORTED ? peer_exit_status(ch.peer_status) :
			err == -CHANNEL_EFORGED ? EXIT_AUTH : EXIT_NETWORK;
		goto release;
	}
	/* From COMMIT until the outcome is settled, the source lives or dies
	 * with us (PTRACE_O_EXITKILL): a ^C or a lost terminal then could lose
	 * the process, so those signals wait until it is settled. */
	sigprocmask(SIG_BLOCK, &fatal_signals, &old_mask);
	status = commit(r, &ch, pid, new_pid);
	if (status == EXIT_OK) {
		progress_summary(&progress, "sent PID %d (%s) to %s: %s stored of %s mapped in "
				 "%.2f s; it runs there as PID %d", pid, comm, r->dest, stored,
				 mapped, progress_seconds(&progress), (int)new_pid);
		if (!r->supervised)
			printf("%d %s\n", (int)new_pid, r->dest);
		*moved_to = new_pid;
	}
	fflush(stdout);
	/* Settled: a signal that came meanwhile has nothing left to stop, and
	 * the status must tell what happened, not 128+N. */
	while (sigtimedwait(&fatal_signals, NULL, &(struct timespec){ 0 }) > 0)
		;
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	return status;

free_image:
	image_free(&im);
release:
	if (!r->supervised)
		target_release("send", pid);
close:
	route_close(r, &ch);
	return status;
}

/* What a destination may be, for messages. */
#define DEST_FORMS "HOST[:PORT] (a port is 1 to 65535; an IPv6 address is written " \
	"[ADDR]:PORT) or ssh://[USER@]HOST[:PORT]"

static char *ssh_command(const char *dest);

/* Where a destination leads: TCP, or ssh as a command.  0 or -EINVAL. */
static int route_to(struct route *r, const char *dest)
{
	r->dest = dest;
	if (!strncmp(dest, "ssh://", 6)) {
		r->via = ssh_command(dest);
		return r->via ? 0 : -EINVAL;
	}
	return net_parse(dest, false, NULL, &r->addr) ? -EINVAL : 0;
}

int send_supervised(int pid, const char *dest, const uint8_t *key, int timeout_ms,
		    enum progress_mode progress, pid_t *moved_to)
{
	struct route r = { .timeout_ms = timeout_ms, .key = key, .progress = progress,
			   .supervised = true };
	int status;

	if (!*dest || route_to(&r, dest)) {
		error_msg("run: sys_migrate(\"%.200s\"): not %s", dest, DEST_FORMS);
		return EXIT_USAGE;
	}
	status = send_process(&r, pid, false, moved_to);
	free(r.via);
	return status;
}

/* ssh://[USER@]HOST[:PORT] as a --via command, run by $CONTMIG_SSH or ssh.
 * The destination goes into a shell command line, so only the characters of
 * user and host names pass. */
static char *ssh_command(const char *dest)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789._-@:[]";
	const char *ssh = getenv("CONTMIG_SSH"), *target = dest + strlen("ssh://");
	const char *at = strchr(target, '@'), *host = at ? at + 1 : target;
	const char *close_bracket = strchr(host, ']');
	bool has_port = *host == '[' ? close_bracket && close_bracket[1] == ':' :
		strchr(host, ':') != NULL;
	struct net_addr a;
	char *cmd;

	/* No part may start with '-': ssh would take it for an option. */
	if (strspn(target, allowed) != strlen(target) || (at && strchr(host, '@')) ||
	    (at && at == target) || *target == '-' || *host == '-' ||
	    net_parse(host, false, NULL, &a))
		return NULL;
	if (asprintf(&cmd, "%s%s%s %.*s%s contmig thaw --stdio", ssh && *ssh ? ssh : "ssh",
		     has_port ? " -p " : "", has_port ? a.port : "", (int)(host - target), target,
		     a.host) < 0)
		return NULL;
	return cmd;
}

static int run(int argc, char **argv)
{
	enum { OPT_VIA = 256, OPT_DROP_FDS };
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "via", required_argument, NULL, OPT_VIA },
		{ "timeout", required_argument, NULL, 't' },
		{ "drop-fds", no_argument, NULL, OPT_DROP_FDS },
		PROGRESS_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct route r = { .timeout_ms = DEFAULT_TIMEOUT_S * 1000 };
	uint8_t key[CHANNEL_KEY_BYTES];
	const char *key_path = NULL, *via = NULL;
	bool drop_fds = false;
	pid_t new_pid;
	int opt, pid, status;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:k:t:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			key_path = optarg;
			break;
		case OPT_VIA:
			via = optarg;
			if (!*via)
				usage_error("send", "send: --via needs a command");
			break;
		case 't':
			r.timeout_ms = parse_timeout("send", optarg);
			break;
		case OPT_DROP_FDS:
			drop_fds = true;
			break;
		case 'q':
			r.progress = PROGRESS_NEVER;
			break;
		case OPT_PROGRESS:
			r.progress = PROGRESS_ALWAYS;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			option_error("send", opt, argv);
		}
	}
	if (argc - optind != 2)
		usage_error("send", "send: %s", argc - optind < 2 ? "give a PID and a DEST" :
			    "too many arguments: give one PID and one DEST");
	pid = parse_pid(argv[optind]);
	if (!pid)
		usage_error("send", "send: '%s' is not a PID", argv[optind]);
	r.dest = argv[optind + 1];
	if (!*r.dest)
		usage_error("send", "send: an empty DEST");
	if (via && !strncmp(r.dest, "ssh://", 6))
		usage_error("send", "send: ssh:// and --via exclude each other");
	if (via) {
		r.via = strdup(via);
		if (!r.via)
			error_msg_and_die(EXIT_INTERNAL, "send: out of memory");
	} else if (route_to(&r, r.dest)) {
		usage_error("send", "send: '%s' is not %s", r.dest, DEST_FORMS);
	}
	if (sodium_init() < 0)
		error_msg_and_die(EXIT_INTERNAL, "send: libsodium cannot start");
	if (key_path) {
		status = key_load("send", key_path, key);
		if (status != EXIT_OK) {
			free(r.via);
			return status;
		}
		r.key = key;
	}
	/* A vanished receiver must be an error we report, not our death. */
	signal(SIGPIPE, SIG_IGN);
	status = send_process(&r, pid, drop_fds, &new_pid);
	sodium_memzero(key, sizeof(key));
	free(r.via);
	return status;
}

const struct command command_send = {
	.name = "send",
	.summary = "move a running process to another node, exactly once",
	.usage = usage,
	.run = run,
};
