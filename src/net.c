#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

int net_parse(const char *s, bool port_first, const char *default_host, struct net_addr *a)
{
	const char *colon, *host = s, *port = NULL;
	size_t host_len;

	snprintf(a->port, sizeof(a->port), "%s", NET_DEFAULT_PORT);
	if (port_first && all_digits(s)) {
		host = default_host;
		port = s;
		host_len = strlen(host);
	} else if (*s == '[') {
		const char *end = strchr(s, ']');

		if (!end || (end[1] && end[1] != ':'))
			return -EINVAL;
		host = s + 1;
		host_len = end - host;
		if (end[1] == ':')
			port = end + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			return -EINVAL;	/* a bare IPv6 address: write it [ADDR]:PORT */
		host_len = colon ? (size_t)(colon - s) : strlen(s);
		if (colon)
			port = colon + 1;
	}
	if (host_len == 0 && default_host) {
		host = default_host;
		host_len = strlen(host);
	}
	if (host_len == 0 || host_len >= sizeof(a->host))
		return -EINVAL;
	if (port && (!all_digits(port) || atoi(port) < 1 || atoi(port) > 65535))
		return -EINVAL;
	memcpy(a->host, host, host_len);
	a->host[host_len] = '\0';
	if (port)
		snprintf(a->port, sizeof(a->port), "%s", port);
	return 0;
}

static int resolve(const struct net_addr *a, int flags, struct addrinfo **res, char *why)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = flags };
	int r = getaddrinfo(a->host, a->port, &hints, res);

	if (r == 0)
		return 0;
	snprintf(why, NET_WHY, "cannot resolve %.100s: %.100s", a->host,
		 r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
	return -EHOSTUNREACH;
}

/* Connect with a timeout. */
static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);
	struct pollfd p = { .events = POLLOUT };
	int err = 0, n, one = 1;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return -errno;
	p.fd = fd;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			err = -errno;
			goto fail;
		}
		do
			n = poll(&p, 1, timeout_ms);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			err = n < 0 ? -errno : -ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			err = -err;
			goto fail;
		}
	}
	/* Small messages (READY, COMMIT) must not wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
fail:
	close(fd);
	return err;
}

int net_connect(const struct net_addr *a, int timeout_ms, char *why)
{
	struct addrinfo *res, *ai;
	int fd = -ECONNREFUSED;

	why[0] = '\0';
	if (resolve(a, 0, &res, why))
		return -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, timeout_ms);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	return fd;
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

int net_listen(const struct net_addr *a, bool *loopback, char *why)
{
	struct addrinfo *res;
	int fd, one = 1, err;

	why[0] = '\0';
	if (resolve(a, AI_PASSIVE | AI_NUMERICSERV, &res, why))
		return -EHOSTUNREACH;
	*loopback = is_loopback(res->ai_addr);
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		fd = err;
	}
	freeaddrinfo(res);
	return fd;
}

bool net_peer_is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	return getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	       is_loopback((const struct sockaddr *)&ss);
}

/* An address as /proc/net/tcp{,6} prints it: the raw 32-bit words of the
 * address in %08X (so in the host's byte order), ':', the port in %04X. */
static void proc_net_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		snprintf(buf, len, "%08X:%04X", a->sin_addr.s_addr, ntohs(a->sin_port));
	} else {
		const struct sockaddr_in6 *a = (const void *)ss;
		uint32_t w[4];

		memcpy(w, &a->sin6_addr, sizeof(w));
		snprintf(buf, len, "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3],
			 ntohs(a->sin6_port));
	}
}

int net_peer_uid(int fd, uid_t *uid)
{
	struct sockaddr_storage mine, theirs;
	socklen_t ml = sizeof(mine), tl = sizeof(theirs);
	char want_local[64], want_remote[64], line[512];
	int err = -ENOENT;
	FILE *f;

	if (getsockname(fd, (struct sockaddr *)&mine, &ml) < 0 ||
	    getpeername(fd, (struct sockaddr *)&theirs, &tl) < 0)
		return -errno;
	if (mine.ss_family != AF_INET && mine.ss_family != AF_INET6)
		return -EAFNOSUPPORT;
	/* Their socket is the one whose local end is our peer, and whose
	 * remote end is us. */
	proc_net_addr(&theirs, want_local, sizeof(want_local));
	proc_net_addr(&mine, want_remote, sizeof(want_remote));
	f = fopen(mine.ss_family == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char local[64], remote[64];
		unsigned long owner;

		/* sl local rem st tx:rx tr:when retrnsmt uid ... */
		if (sscanf(line, "%*s %63s %63s %*s %*s %*s %*s %lu", local, remote, &owner) == 3 &&
		    !strcmp(local, want_local) && !strcmp(remote, want_remote)) {
			*uid = owner;
			err = 0;
			break;
		}
	}
	fclose(f);
	/* Not there: the peer's socket is gone, the connection with it. */
	if (err == -ENOENT && getpeername(fd, (struct sockaddr *)&theirs, &tl) < 0)
		err = -errno;
	return err;
}

void net_peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *s = (const void *)&ss;

			inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
			port = ntohs(s->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *s = (const void *)&ss;

			inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
			port = ntohs(s->sin6_port);
			snprintf(buf, len, "[%s]:%u", host, port);
			return;
		}
	}
	snprintf(buf, len, "%s:%u", host, port);
}

int net_spawn(const char *cmd, pid_t *pid)
{
	int sv[2], err;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	*pid = fork();
	if (*pid < 0) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (*pid == 0) {
		/* Between fork and exec: async-signal-safe calls only.  A group
		 * of its own, so that net_reap can end all the command started. */
		setpgid(0, 0);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(sv[1], STDIN_FILENO) < 0 || dup2(sv[1], STDOUT_FILENO) < 0)
			_exit(127);
		syscall(SYS_close_range, 3, ~0U, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(*pid, *pid);	/* the child does too: whoever is first */
	close(sv[1]);
	return sv[0];
}

int net_reap(pid_t pid, int timeout_ms)
{
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	int status = 0;
	pid_t r = 0;

	for (int waited = 0; r == 0 && waited < timeout_ms; waited += 20) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == 0)
			nanosleep(&nap, NULL);
		else if (r < 0 && errno == EINTR)
			r = 0;
	}
	/* Whatever the command left running in its group goes too. */
	kill(-pid, SIGKILL);
	if (r == 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	return status;
}
