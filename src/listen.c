/*
 * thaw --listen: accept migrations, one worker process each, and reap what
 * they leave running.  thaw --stdio: one migration on stdin and stdout.
 *
 * A worker per connection keeps the listener out of harm's way: a slow or
 * hostile peer only ever holds its own worker (and every wait there has a
 * timeout), and a worker that dies takes only its half-built copy with it
 * (PTRACE_O_EXITKILL), or leaves a copy it held for the handoff to the
 * records, which the listener settles as soon as the worker is gone.  The
 * listener is a child subreaper, so the processes it restored become its
 * children when their workers exit, and it reaps them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "commands.h"
#include "error.h"
#include "exitcode.h"
#include "handoff.h"
#include "listen.h"
#include "net.h"
#include "receive.h"
#include "record.h"
#include "userfile.h"

/* How long a busy listener spends telling a peer so. */
#define REFUSE_TIMEOUT_MS	200

struct listener {
	int fd, sigfd;
	const struct receive_opts *o;
	unsigned max_clients;
	pid_t *workers;
	unsigned nworkers;
};

static void refuse_busy(struct listener *l, int fd, const char *peer)
{
	struct channel ch;

	if (channel_init(&ch, fd, fd, NULL, REFUSE_TIMEOUT_MS) == 0) {
		if (channel_refuse(&ch, REFUSAL_BUSY, "the receiver is busy; try again later"))
			(void)0;	/* it hears of it as a closed connection */
		channel_free(&ch);
	}
	error_msg("thaw: %s: refused: busy, %u connection%s open (--max-clients)", peer,
		  l->nworkers, l->nworkers == 1 ? "" : "s");
}

static void start_worker(struct listener *l, int fd, const char *peer)
{
	sigset_t none;
	pid_t pid = fork();

	if (pid < 0) {
		errno_msg(errno, "thaw: %s: starting a worker", peer);
		return;
	}
	if (pid > 0) {
		l->workers[l->nworkers++] = pid;
		return;
	}
	close(l->fd);
	close(l->sigfd);
	bool migration;
	int status;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	status = receive_one(fd, fd, peer, l->o, &migration);
	exit(migration ? status : RECEIVE_NO_MIGRATION);
}

static void accept_one(struct listener *l)
{
	char peer[64];
	int one = 1, fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			errno_msg(errno, "thaw: accepting a connection");
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	net_peer_name(fd, peer, sizeof(peer));
	if (l->nworkers >= l->max_clients)
		refuse_busy(l, fd, peer);
	else
		start_worker(l, fd, peer);
	close(fd);
}

/* Reap every child that ended: workers, and the restored processes that
 * came to us when their workers exited.  How each copy ended goes to the
 * log: a copy that dies as soon as it runs must not pass for a success.
 * Returns the first status of a worker that carried a migration, or -1. */
static int reap(struct listener *l)
{
	int status, first = -1;
	char comm[64], how[64];
	bool worker, worker_ended = false;
	pid_t pid;

	while ((pid = wait_child(-1, WNOHANG, &status, comm, sizeof(comm))) > 0) {
		worker = false;
		for (unsigned i = 0; i < l->nworkers; i++) {
			int code = WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_INTERNAL;

			if (l->workers[i] != pid)
				continue;
			worker = worker_ended = true;
			l->workers[i] = l->workers[--l->nworkers];
			if (WIFSIGNALED(status))
				error_msg("thaw: a worker (PID %d) died of signal %d", (int)pid,
					  WTERMSIG(status));
			if (code != RECEIVE_NO_MIGRATION && first < 0)
				first = code;
			break;
		}
		if (!worker)
			error_msg("thaw: PID %d (%s) %s", (int)pid, comm,
				  wait_status_text(status, how, sizeof(how)));
	}
	/* A worker that died mid-handoff leaves its copy to the records. */
	if (worker_ended)
		handoff_settle_all();
	return first;
}

static int serve(struct listener *l, bool once)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = l->sigfd, .events = POLLIN },
			{ .fd = l->fd, .events = POLLIN },
		};
		struct signalfd_siginfo si;
		int status;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			errno_msg(errno, "thaw: waiting for connections");
			return EXIT_INTERNAL;
		}
		if (p[0].revents & POLLIN) {
			if (read(l->sigfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo != SIGCHLD) {
				error_msg("thaw: stopping on signal %u", si.ssi_signo);
				return EXIT_OK;
			}
			status = reap(l);
			if (once && status >= 0)
				return status;
		}
		if (p[1].revents & POLLIN)
			accept_one(l);
	}
}

/* A receiver that cannot keep records would refuse every migration at its
 * very end; say so at the start instead. */
static bool records_ok(void)
{
	struct stat st;
	int err = record_check_dir(&st);
	const char *dir = record_dir();

	if (err == -EPERM && st.st_uid != geteuid()) {
		struct passwd *pw = getpwuid(st.st_uid);

		error_msg("thaw: the state directory %s belongs to uid %u%s%s%s, not to you "
			  "(uid %u): its owner could read, forge or remove the records; remove "
			  "it, or set CONTMIG_STATE_DIR", dir, (unsigned)st.st_uid, pw ? " (" : "",
			  pw ? pw->pw_name : "", pw ? ")" : "", (unsigned)geteuid());
	} else if (err == -EPERM) {
		error_msg("thaw: the state directory %s has mode %04o; others may look at its "
			  "records: chmod 700 %s", dir, (unsigned)(st.st_mode & 07777), dir);
	} else if (err == -ENOENT && !dir[0]) {
		error_msg("thaw: no state directory: no home to keep one in; set "
			  "CONTMIG_STATE_DIR or XDG_RUNTIME_DIR");
	} else if (err) {
		error_msg("thaw: the state directory %s: %s; set CONTMIG_STATE_DIR to a "
			  "directory of yours", dir, strerror(-err));
	}
	return err == 0;
}

/* Wait up to ms for the workers to end, then kill what is left (a worker
 * stopped or frozen never acts on SIGTERM) and reap it. */
static void end_workers(struct listener *l, int ms)
{
	struct timespec nap = { 0, 20 * 1000 * 1000 };

	for (int waited = 0; l->nworkers; waited += 20) {
		for (unsigned i = 0; i < l->nworkers;) {
			pid_t r = waitpid(l->workers[i], NULL, WNOHANG);

			if (r == l->workers[i] || (r < 0 && errno == ECHILD))
				l->workers[i] = l->workers[--l->nworkers];
			else
				i++;
		}
		if (!l->nworkers)
			break;
		if (waited >= ms) {
			for (unsigned i = 0; i < l->nworkers; i++)
				kill(l->workers[i], SIGKILL);
			ms = INT_MAX;	/* now they go at once */
		}
		nanosleep(&nap, NULL);
	}
}

int listen_serve(const char *where, const struct receive_opts *o, bool once,
		 unsigned max_clients)
{
	struct listener l = { .max_clients = max_clients };
	struct receive_opts mine = *o;
	char why[NET_WHY];
	struct net_addr a;
	sigset_t mask;
	bool loopback;
	int status;

	if (!records_ok())
		return EXIT_IO;
	if (net_parse(where, true, "127.0.0.1", &a))
		usage_error("thaw", "thaw: --listen '%s' is not [ADDR:]PORT", where);
	l.fd = net_listen(&a, &loopback, why);
	if (l.fd < 0) {
		if (why[0])
			error_msg("thaw: cannot listen on %s: %s", where, why);
		else
			errno_msg(-l.fd, "thaw: cannot listen on %s port %s", a.host, a.port);
		return EXIT_NETWORK;
	}
	l.o = &mine;
	mine.own_user_only = !o->key;
	if (!loopback && !o->key) {
		error_msg("thaw: refusing to listen on %s without --key: anyone who can reach it "
			  "could run code here and read the processes sent to it", a.host);
		close(l.fd);
		return EXIT_USAGE;
	}
	termination_signals(&mask);
	sigaddset(&mask, SIGCHLD);
	l.workers = calloc(max_clients, sizeof(*l.workers));
	if (!l.workers || sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (l.sigfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0 ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		errno_msg(l.workers ? errno : ENOMEM, "thaw: setting up the listener");
		close(l.fd);
		free(l.workers);
		return EXIT_INTERNAL;
	}
	/* A peer that goes away must be an error we report, not our death. */
	signal(SIGPIPE, SIG_IGN);
	/* A receiver that died before us may have left a copy half-handed. */
	handoff_settle_all();
	error_msg("thaw: listening on %s port %s%s", a.host, a.port, o->key ? " (with a key)" : "");

	status = serve(&l, once);
	close(l.fd);

	/* Migrations in progress are abandoned: their workers end (one that is
	 * stopped or frozen too, after a moment), their unfinished copies die
	 * with them or are decided "aborted" below, and their senders resume.
	 * The processes received before run on, without us. */
	if (l.nworkers)
		error_msg("thaw: abandoning %u migration%s in progress", l.nworkers,
			  l.nworkers == 1 ? "" : "s");
	for (unsigned i = 0; i < l.nworkers; i++)
		kill(l.workers[i], SIGTERM);
	end_workers(&l, 2000);
	/* What they held is decided before we go: a sender that asks a later
	 * listener on this state directory hears "aborted", not nothing. */
	handoff_settle_all();
	close(l.sigfd);
	free(l.workers);
	return status;
}

int listen_stdio(const struct receive_opts *o, const char *output)
{
	struct receive_opts mine = *o;
	const char *ssh = getenv("SSH_CLIENT");
	int stdio[3] = { -1, -1, -1 };
	char peer[80] = "stdio", why[USERFILE_WHY];
	bool migration;
	int status;

	/*
	 * Standard input and output carry the protocol, and behind ssh they and
	 * stderr are the session: a process that kept any of them would keep
	 * the session open and die of SIGPIPE when it closed.  So it reads
	 * /dev/null and writes to /dev/null or to --output.
	 */
	if (!records_ok())
		return EXIT_IO;
	stdio[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (stdio[0] < 0) {
		errno_msg(errno, "thaw: /dev/null");
		status = EXIT_INTERNAL;
		goto out;
	}
	/* Whoever may write in its directory must not choose what we append
	 * to (userfile.h): a root receiver would append to any file. */
	stdio[1] = output ? userfile_open(output, O_WRONLY | O_CREAT | O_APPEND, 0600, why) :
		open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (stdio[1] < 0) {
		if (output)
			error_msg("thaw: --output %s: %s", output, why);
		else
			errno_msg(errno, "thaw: /dev/null");
		status = output ? EXIT_IO : EXIT_INTERNAL;
		goto out;
	}
	stdio[2] = stdio[1];
	mine.stdio = stdio;
	if (ssh && *ssh)
		snprintf(peer, sizeof(peer), "ssh %.*s", (int)strcspn(ssh, " "), ssh);
	signal(SIGPIPE, SIG_IGN);
	status = receive_one(STDIN_FILENO, STDOUT_FILENO, peer, &mine, &migration);
out:
	for (int i = 0; i < 2; i++)
		if (stdio[i] >= 0)
			close(stdio[i]);
	return status;
}
