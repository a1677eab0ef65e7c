#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "admit.h"
#include "commands.h"
#include "escape.h"
#include "net.h"

/* An AF_UNIX socket: its name when it has one (a path, or '@' and an
 * abstract name), and the peer's credentials, fixed when it connected. */
static void learn_unix(int fd, const struct sockaddr_un *mine, socklen_t ml,
		       struct admit_facts *f)
{
	size_t path_len = ml > offsetof(struct sockaddr_un, sun_path) ?
		ml - offsetof(struct sockaddr_un, sun_path) : 0;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	char path[sizeof(mine->sun_path) + 1], shown[ESCAPED_SIZE(sizeof(mine->sun_path))];

	/*
	 * Our end has no name: a socket pair, made by whoever started us (ssh,
	 * send --via), or a socket they connected for us.  They chose what we
	 * read, as with a pipe.  A socket accepted from a listening one has the
	 * listener's name: then anyone who may connect to it is at the other end.
	 */
	if (path_len == 0) {
		f->way = ADMIT_WAY_CHANNEL;
		return;
	}
	f->way = ADMIT_WAY_UNIX;
	memcpy(path, mine->sun_path, path_len);
	path[path_len] = '\0';
	if (path[0] == '\0')
		path[0] = '@';
	path_len = strnlen(path, path_len);
	escape_text(shown, sizeof(shown), path, path_len);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
		f->uid_err = -errno;
		snprintf(f->name, sizeof(f->name), "%.100s", shown);
		return;
	}
	f->uid = cred.uid;
	f->pid = cred.pid;
	snprintf(f->name, sizeof(f->name), "%.100s, PID %d", shown, (int)cred.pid);
}

void admit_learn(int fd, struct admit_facts *f)
{
	struct sockaddr_storage mine, theirs;
	socklen_t ml = sizeof(mine), tl = sizeof(theirs), ll = sizeof(int);
	int listening = 0;
	struct stat st;

	memset(f, 0, sizeof(*f));
	memset(&mine, 0, sizeof(mine));
	f->way = ADMIT_WAY_CHANNEL;
	if (fstat(fd, &st) < 0) {
		f->err = -errno;
		return;
	}
	if (!S_ISSOCK(st.st_mode))
		return;		/* a pipe, a file, a terminal */
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) == 0 && listening) {
		f->listening = true;
		return;
	}
	if (getsockname(fd, (struct sockaddr *)&mine, &ml) < 0) {
		f->err = -errno;
		return;
	}
	if (mine.ss_family == AF_UNIX) {
		learn_unix(fd, (const struct sockaddr_un *)&mine, ml, f);
		return;
	}
	/* TCP, or a family we do not know: then a peer from elsewhere. */
	f->way = ADMIT_WAY_REMOTE;
	net_peer_name(fd, f->name, sizeof(f->name));
	if (getpeername(fd, (struct sockaddr *)&theirs, &tl) < 0) {
		f->err = -errno;	/* gone already, or never connected */
		return;
	}
	if ((mine.ss_family != AF_INET && mine.ss_family != AF_INET6) ||
	    !net_peer_is_loopback(fd))
		return;
	f->way = ADMIT_WAY_LOOPBACK;
	f->uid_err = net_peer_uid(fd, &f->uid);
}

/* A peer on this machine without a key: our own user, or root, only.
 * Anyone else could run code as us. */
static enum admission own_user_only(const struct admit_facts *f, uid_t me, char *why,
				    size_t len)
{
	if (!f->uid_err && (f->uid == me || f->uid == 0))
		return ADMIT_OWN_USER;
	if (f->uid_err == -ENOTCONN)
		snprintf(why, len, "the sender's end of the connection is closed or closing: no "
			 "process holds it, so which user sent this cannot be told");
	else if (f->uid_err == -EINPROGRESS)
		snprintf(why, len, "no process holds the other end yet (a connection waiting in "
			 "a listener's queue), so which user it is cannot be told");
	else if (f->uid_err)
		snprintf(why, len, "cannot tell which user connected (%s)", strerror(-f->uid_err));
	else
		snprintf(why, len, "the sender runs as uid %u; without a key this receiver takes "
			 "migrations from uid %u (or root) only", (unsigned)f->uid, (unsigned)me);
	return ADMIT_REFUSE;
}

enum admission admit_decide(const struct admit_facts *f, bool keyed, uid_t me, char *why,
			    size_t len)
{
	snprintf(why, len, "admitted");
	if (f->listening) {
		snprintf(why, len, "standard input is a listening socket, not a connection: thaw "
			 "--stdio takes one connection that its starter accepted (systemd: "
			 "Accept=yes; inetd: nowait)");
		return ADMIT_REFUSE;
	}
	/* The key is the proof, whoever and wherever the sender is. */
	if (keyed)
		return ADMIT_NEEDS_KEY;
	if (f->err == -ENOTCONN) {
		snprintf(why, len, "the sender's connection is gone already, so who sent this "
			 "cannot be told");
		return ADMIT_REFUSE;
	}
	if (f->err) {
		snprintf(why, len, "cannot tell who is at the other end (%s)", strerror(-f->err));
		return ADMIT_REFUSE;
	}
	switch (f->way) {
	case ADMIT_WAY_CHANNEL:
		return ADMIT_STARTER;
	case ADMIT_WAY_LOOPBACK:
	case ADMIT_WAY_UNIX:
		return own_user_only(f, me, why, len);
	default:
		snprintf(why, len, "%s is not on this machine's loopback, and this receiver has "
			 "no key (--key): a sender from elsewhere must prove one",
			 f->name[0] ? f->name : "the sender");
		return ADMIT_REFUSE;
	}
}

enum admission admit_peer(int fd, const uint8_t *key, char *why, size_t len)
{
	struct admit_facts f;

	admit_learn(fd, &f);
	return admit_decide(&f, key != NULL, geteuid(), why, len);
}

int admit_recheck(int fd, char *why, size_t len)
{
	/* The same rules again, on what the kernel says now: the peer that
	 * gets READY must be one they admit, not one that has gone since. */
	return admit_peer(fd, NULL, why, len) == ADMIT_OWN_USER ? 0 : -EACCES;
}
