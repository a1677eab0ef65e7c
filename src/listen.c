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

#include "admit.h"
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

/*
 * A connection's worker does its admission and handshake in a pool of its
 * own, not in a migration's slot: peers that connect and idle, or never
 * prove the key, hold only a place in that pool, for at most
 * POOL_HANDSHAKE_MS, and never keep a migration out.  A peer gets a slot
 * (--max-clients) once it is authenticated, and only for a migration.
 * The pool is capped per peer: per user on loopback (a local user has all
 * of 127.0.0.0/8), per /64 for IPv6, per address for IPv4.  A newcomer
 * over a cap is not turned away: the oldest connection of the same peer
 * (or, the pool full, the oldest of all) is cut to make room, so a flood
 * only ever cuts itself short, while an honest handshake, done in a few
 * milliseconds, is over before its turn to be cut comes.
 */
#define POOL_MAX		32
#define POOL_PER_PEER		4
#define POOL_HANDSHAKE_MS	5000

/* Whom the pool counts a connection against. */
struct pool_key {
	sa_family_t family;	/* AF_INET, AF_INET6, or AF_LOCAL: a loopback user */
	uint8_t bytes[16];	/* the address (IPv6: its /64), or the uid */
};

struct worker {
	pid_t pid;
	int ctl;		/* our end of its line to us; -1 once it hung up */
	bool slot;		/* holds a migration's slot */
	bool cut;		/* killed to make room in the pool; being reaped */
	unsigned long seq;	/* the order workers started in */
	struct pool_key key;
};

struct listener {
	int fd, sigfd;
	const struct receive_opts *o;
	unsigned max_clients;
	unsigned slots;		/* workers holding one */
	struct worker *workers;
	unsigned nworkers, room;
	unsigned long started;	/* workers ever started */
	struct pollfd *polls;	/* room + 2 */
};

/* The worker's end of its line to the listener. */
struct slot_line {
	int fd;
	unsigned max_clients;
};

static void pool_key_of(int fd, struct pool_key *key)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uid_t uid;

	memset(key, 0, sizeof(*key));
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (net_peer_is_loopback(fd) && net_peer_uid(fd, &uid) == 0) {
		key->family = AF_LOCAL;
		memcpy(key->bytes, &uid, sizeof(uid));
	} else if (ss.ss_family == AF_INET) {
		key->family = AF_INET;
		memcpy(key->bytes, &((const struct sockaddr_in *)&ss)->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)&ss)->sin6_addr;

		/* An IPv4 peer of a dual-stack socket is that IPv4 address; an
		 * IPv6 host has a /64 to pick addresses from. */
		key->family = IN6_IS_ADDR_V4MAPPED(a) ? AF_INET : AF_INET6;
		memcpy(key->bytes, IN6_IS_ADDR_V4MAPPED(a) ? &a->s6_addr[12] : a->s6_addr,
		       IN6_IS_ADDR_V4MAPPED(a) ? 4 : 8);
	}
}

static bool in_pool(const struct worker *w)
{
	return !w->slot && !w->cut;
}

/* The oldest worker in the pool (of key's peer, unless NULL), or NULL. */
static struct worker *oldest_in_pool(struct listener *l, const struct pool_key *key)
{
	struct worker *oldest = NULL;

	for (unsigned i = 0; i < l->nworkers; i++) {
		struct worker *w = &l->workers[i];

		if (in_pool(w) && (!key || !memcmp(&w->key, key, sizeof(*key))) &&
		    (!oldest || w->seq < oldest->seq))
			oldest = w;
	}
	return oldest;
}

/* Room in the pool for one more from key's peer: cut the oldest
 * connection of that peer when it has its fill, or the oldest of all when
 * the pool is full.  It held no copy: it had no slot. */
static void pool_make_room(struct listener *l, const struct pool_key *key, const char *peer)
{
	unsigned pool = 0, same = 0;
	struct worker *cut = NULL;

	for (unsigned i = 0; i < l->nworkers; i++) {
		if (!in_pool(&l->workers[i]))
			continue;
		pool++;
		same += !memcmp(&l->workers[i].key, key, sizeof(*key));
	}
	if (same >= POOL_PER_PEER)
		cut = oldest_in_pool(l, key);
	else if (pool >= POOL_MAX)
		cut = oldest_in_pool(l, NULL);
	if (!cut)
		return;
	if (kill(cut->pid, SIGKILL) < 0 && errno != ESRCH) {
		errno_msg(errno, "thaw: cutting worker PID %d short", (int)cut->pid);
		return;
	}
	cut->cut = true;
	if (same >= POOL_PER_PEER)
		error_msg("thaw: %s: its peer has %u connections in their handshake (at most %d): "
			  "the oldest (worker PID %d) is cut to make room", peer, same,
			  POOL_PER_PEER, (int)cut->pid);
	else
		error_msg("thaw: %s: %u connections are in their handshake (at most %d): the "
			  "oldest (worker PID %d) is cut to make room", peer, pool, POOL_MAX,
			  (int)cut->pid);
}

/* Room for one more worker (and its place in poll's array). */
static int grow(struct listener *l)
{
	unsigned room = l->room ? 2 * l->room : 16;
	struct worker *w;
	struct pollfd *p;

	if (l->nworkers < l->room)
		return 0;
	w = realloc(l->workers, room * sizeof(*w));
	if (!w)
		return -ENOMEM;
	l->workers = w;
	p = realloc(l->polls, (room + 2) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	l->polls = p;
	l->room = room;
	return 0;
}

/* In a worker: ask the listener for a migration's slot. */
static int claim_slot(void *ctx, char *why, size_t len)
{
	const struct slot_line *line = ctx;
	struct pollfd p = { .fd = line->fd, .events = POLLIN };
	char ask = 'S', answer;
	ssize_t n;
	int r;

	if (write(line->fd, &ask, 1) != 1)
		return -errno;
	/* The listener answers at once; a listener that does not is gone. */
	do
		r = poll(&p, 1, 5000);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r < 0 ? -errno : -ETIMEDOUT;
	n = read(line->fd, &answer, 1);
	if (n < 0)
		return -errno;
	if (n == 1 && answer == 'Y')
		return 0;
	if (n == 0)
		return -EPIPE;
	snprintf(why, len, "the receiver is busy: %u migration%s under way (--max-clients); try "
		 "again later", line->max_clients, line->max_clients == 1 ? " is" : "s are");
	return -EBUSY;
}

/* In the listener: a worker asks for a slot; yes while there is one. */
static void answer_worker(struct listener *l, struct worker *w)
{
	char ask, answer = 'N';
	ssize_t n = read(w->ctl, &ask, 1);

	if (n <= 0) {
		/* It ended, or is ending: reap() takes it off the list. */
		if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			close(w->ctl);
			w->ctl = -1;
		}
		return;
	}
	if (!w->slot && l->slots < l->max_clients) {
		w->slot = true;
		l->slots++;
	}
	if (w->slot)
		answer = 'Y';
	if (write(w->ctl, &answer, 1) != 1)
		(void)0;	/* it is gone; reap() hears of it */
}

static void start_worker(struct listener *l, int fd, const char *peer, const struct pool_key *key)
{
	struct receive_opts mine = *l->o;
	struct slot_line line = { .max_clients = l->max_clients };
	int sv[2], err = grow(l);
	sigset_t none;
	pid_t pid;

	if (err || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		errno_msg(err ? -err : errno, "thaw: %s: starting a worker", peer);
		return;
	}
	pid = fork();
	if (pid < 0) {
		errno_msg(errno, "thaw: %s: starting a worker", peer);
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid > 0) {
		close(sv[1]);
		l->workers[l->nworkers++] = (struct worker){ .pid = pid, .ctl = sv[0], .key = *key,
							     .seq = l->started++ };
		return;
	}
	close(l->fd);
	close(l->sigfd);
	close(sv[0]);
	for (unsigned i = 0; i < l->nworkers; i++)
		if (l->workers[i].ctl >= 0)
			close(l->workers[i].ctl);
	bool migration;
	int status;

	line.fd = sv[1];
	mine.claim_slot = claim_slot;
	mine.slot_ctx = &line;
	mine.handshake_ms = POOL_HANDSHAKE_MS;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	status = receive_one(fd, fd, peer, &mine, &migration);
	exit(migration ? status : RECEIVE_NO_MIGRATION);
}

static void accept_one(struct listener *l)
{
	char peer[64];
	struct pool_key key;
	int one = 1, fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			errno_msg(errno, "thaw: accepting a connection");
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	net_peer_name(fd, peer, sizeof(peer));
	pool_key_of(fd, &key);
	pool_make_room(l, &key, peer);
	start_worker(l, fd, peer, &key);
	close(fd);
}

/* A worker has ended: off the list, its slot free. */
static void forget_worker(struct listener *l, unsigned i)
{
	struct worker *w = &l->workers[i];

	if (w->slot)
		l->slots--;
	if (w->ctl >= 0)
		close(w->ctl);
	*w = l->workers[--l->nworkers];
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

			if (l->workers[i].pid != pid)
				continue;
			worker = worker_ended = true;
			/* One cut short had no migration: --once waits on. */
			if (l->workers[i].cut)
				code = RECEIVE_NO_MIGRATION;
			else if (WIFSIGNALED(status))
				error_msg("thaw: a worker (PID %d) died of signal %d", (int)pid,
					  WTERMSIG(status));
			forget_worker(l, i);
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
		struct pollfd *p = l->polls;
		unsigned n = l->nworkers;
		struct signalfd_siginfo si;
		int status;

		p[0] = (struct pollfd){ .fd = l->sigfd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = l->fd, .events = POLLIN };
		for (unsigned i = 0; i < n; i++)
			p[2 + i] = (struct pollfd){ .fd = l->workers[i].ctl, .events = POLLIN };
		if (poll(p, n + 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			errno_msg(errno, "thaw: waiting for connections");
			return EXIT_INTERNAL;
		}
		/* The workers' questions first: reap and accept change the list. */
		for (unsigned i = 0; i < n; i++)
			if (p[2 + i].revents)
				answer_worker(l, &l->workers[i]);
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
			pid_t r = waitpid(l->workers[i].pid, NULL, WNOHANG);

			if (r == l->workers[i].pid || (r < 0 && errno == ECHILD))
				forget_worker(l, i);
			else
				i++;
		}
		if (!l->nworkers)
			break;
		if (waited >= ms) {
			for (unsigned i = 0; i < l->nworkers; i++)
				kill(l->workers[i].pid, SIGKILL);
			ms = INT_MAX;	/* now they go at once */
		}
		nanosleep(&nap, NULL);
	}
}

int listen_serve(const char *where, const struct receive_opts *o, bool once,
		 unsigned max_clients)
{
	struct listener l = { .max_clients = max_clients };
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
	l.o = o;
	if (!loopback && !o->key) {
		error_msg("thaw: refusing to listen on %s without --key: anyone who can reach it "
			  "could run code here and read the processes sent to it", a.host);
		close(l.fd);
		return EXIT_USAGE;
	}
	termination_signals(&mask);
	sigaddset(&mask, SIGCHLD);
	if (grow(&l) < 0 || sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (l.sigfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0 ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		errno_msg(l.room ? errno : ENOMEM, "thaw: setting up the listener");
		close(l.fd);
		free(l.workers);
		free(l.polls);
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
	if (l.slots)
		error_msg("thaw: abandoning %u migration%s in progress", l.slots,
			  l.slots == 1 ? "" : "s");
	if (l.nworkers > l.slots)
		error_msg("thaw: closing %u connection%s still in the handshake",
			  l.nworkers - l.slots, l.nworkers - l.slots == 1 ? "" : "s");
	for (unsigned i = 0; i < l.nworkers; i++)
		kill(l.workers[i].pid, SIGTERM);
	end_workers(&l, 2000);
	/* What they held is decided before we go: a sender that asks a later
	 * listener on this state directory hears "aborted", not nothing. */
	handoff_settle_all();
	close(l.sigfd);
	free(l.workers);
	free(l.polls);
	return status;
}

int listen_stdio(const struct receive_opts *o, const char *output)
{
	struct receive_opts mine = *o;
	const char *ssh = getenv("SSH_CLIENT");
	int stdio[3] = { -1, -1, -1 };
	struct admit_facts facts;
	char peer[sizeof(facts.name)] = "stdio", why[USERFILE_WHY];
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
	/* Who is at the other end, for the log: a socket's peer (inetd,
	 * systemd), else ssh's client when ssh started us. */
	admit_learn(STDIN_FILENO, &facts);
	if (facts.name[0])
		snprintf(peer, sizeof(peer), "%s", facts.name);
	else if (ssh && *ssh)
		snprintf(peer, sizeof(peer), "ssh %.*s", (int)strcspn(ssh, " "), ssh);
	signal(SIGPIPE, SIG_IGN);
	status = receive_one(STDIN_FILENO, STDOUT_FILENO, peer, &mine, &migration);
out:
	for (int i = 0; i < 2; i++)
		if (stdio[i] >= 0)
			close(stdio[i]);
	return status;
}
