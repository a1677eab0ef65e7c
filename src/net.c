#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
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

/* A numeric address for messages. */
static void numeric_host(const struct addrinfo *ai, char *buf, size_t len)
{
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, len, NULL, 0, NI_NUMERICHOST))
		snprintf(buf, len, "?");
}

int net_connect(const struct net_addr *a, int timeout_ms, bool loopback_only, char *why)
{
	struct addrinfo *res, *ai;
	char other[INET6_ADDRSTRLEN] = "";
	int fd = -ECONNREFUSED;

	why[0] = '\0';
	if (resolve(a, 0, &res, why))
		return -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		/* Checked here too, not only by the caller beforehand: a name
		 * may resolve to something else the second time. */
		if (loopback_only && !is_loopback(ai->ai_addr)) {
			if (!other[0])
				numeric_host(ai, other, sizeof(other));
			fd = -EPERM;
			continue;
		}
		fd = connect_one(ai, timeout_ms);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd == -EPERM)
		snprintf(why, NET_WHY, "%.100s is not on loopback, and without a key only "
			 "loopback is reached", other);
	return fd;
}

int net_find_beyond_loopback(const struct net_addr *a, char *other, size_t len)
{
	struct addrinfo *res, *ai;
	char why[NET_WHY];
	int found = 0;

	other[0] = '\0';
	if (resolve(a, 0, &res, why))
		return -EHOSTUNREACH;
	for (ai = res; ai && !found; ai = ai->ai_next) {
		if (is_loopback(ai->ai_addr))
			continue;
		numeric_host(ai, other, len);
		found = 1;
	}
	freeaddrinfo(res);
	return found;
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

/* A v4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 one it carries:
 * the other end of such a connection is an IPv4 socket, mostly. */
static void unmap_v4(struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *a6 = (const void *)ss;
	struct sockaddr_in a4 = { .sin_family = AF_INET };

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
		return;
	a4.sin_port = a6->sin6_port;
	memcpy(&a4.sin_addr, &a6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &a4, sizeof(a4));
}

/* The other way: an IPv4 address as the v4-mapped IPv6 one. */
static void map_v4(struct sockaddr_storage *ss)
{
	const struct sockaddr_in *a4 = (const void *)ss;
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };

	if (ss->ss_family != AF_INET)
		return;
	a6.sin6_port = a4->sin_port;
	a6.sin6_addr.s6_addr[10] = a6.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&a6.sin6_addr.s6_addr[12], &a4->sin_addr, 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &a6, sizeof(a6));
}

/* An endpoint as sock_diag's id holds it: the port and the address, both
 * in network byte order. */
static void diag_endpoint(const struct sockaddr_storage *ss, __be16 *port, __be32 addr[4])
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		*port = a->sin_port;
		addr[0] = a->sin_addr.s_addr;
	} else {
		const struct sockaddr_in6 *a = (const void *)ss;

		*port = a->sin6_port;
		memcpy(addr, &a->sin6_addr, 16);
	}
}

/*
 * Ask the kernel (sock_diag, as ss(8) does) about the TCP socket whose own
 * end is `local` and whose other end is `remote`.  An exact lookup by the
 * four numbers: the answer is that socket, live or only a TIME_WAIT
 * remnant, never another one.  0, or -ENOENT when there is none.
 */
static int diag_lookup(const struct sockaddr_storage *local,
		       const struct sockaddr_storage *remote, struct net_peer_socket *ps)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 1 },
		.req = { .sdiag_family = local->ss_family, .sdiag_protocol = IPPROTO_TCP,
			 .idiag_states = ~0U,
			 .id.idiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE } },
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr h;
		char buf[8192];
	} reply;
	struct pollfd p = { .events = POLLIN };
	struct inet_diag_sockid want;
	struct nlmsghdr *h;
	int err = -ENOENT, nl, len;
	ssize_t n;

	diag_endpoint(local, &msg.req.id.idiag_sport, msg.req.id.idiag_src);
	diag_endpoint(remote, &msg.req.id.idiag_dport, msg.req.id.idiag_dst);
	want = msg.req.id;
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	p.fd = nl;
	if (sendto(nl, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		err = -errno;
		goto out;
	}
	/* The kernel answers while it takes the request; a moment is plenty. */
	do
		n = poll(&p, 1, 1000);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		err = n < 0 ? -errno : -ETIMEDOUT;
		goto out;
	}
	n = recv(nl, &reply, sizeof(reply), 0);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	len = n;
	for (h = &reply.h; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
		const struct inet_diag_msg *m = NLMSG_DATA(h);

		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			err = h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error ? e->error : -EPROTO;
			break;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
			continue;
		/* Only that very socket will do. */
		if (m->id.idiag_sport != want.idiag_sport || m->id.idiag_dport != want.idiag_dport ||
		    memcmp(m->id.idiag_src, want.idiag_src, sizeof(want.idiag_src)) ||
		    memcmp(m->id.idiag_dst, want.idiag_dst, sizeof(want.idiag_dst)))
			continue;
		ps->state = m->idiag_state;
		ps->uid = m->idiag_uid;
		ps->inode = m->idiag_inode;
		err = 0;
		break;
	}
out:
	close(nl);
	return err;
}

int net_peer_socket(int fd, struct net_peer_socket *ps)
{
	struct sockaddr_storage mine, theirs;
	socklen_t ml = sizeof(mine), tl = sizeof(theirs);
	int err;

	memset(&mine, 0, sizeof(mine));
	memset(&theirs, 0, sizeof(theirs));
	if (getsockname(fd, (struct sockaddr *)&mine, &ml) < 0 ||
	    getpeername(fd, (struct sockaddr *)&theirs, &tl) < 0)
		return -errno;
	unmap_v4(&mine);
	unmap_v4(&theirs);
	if ((mine.ss_family != AF_INET && mine.ss_family != AF_INET6) ||
	    theirs.ss_family != mine.ss_family)
		return -EAFNOSUPPORT;
	/* Their socket is the one whose own end is our peer, and whose other
	 * end is us: an IPv4 socket, or an IPv6 one that connected to a
	 * v4-mapped address (::ffff:127.0.0.1), which the kernel lists as IPv6. */
	err = diag_lookup(&theirs, &mine, ps);
	if (err == -ENOENT && mine.ss_family == AF_INET) {
		map_v4(&mine);
		map_v4(&theirs);
		err = diag_lookup(&theirs, &mine, ps);
	}
	/* Not there: the connection may have gone with it. */
	if (err == -ENOENT && getpeername(fd, (struct sockaddr *)&theirs, &tl) < 0)
		err = -errno;
	return err;
}

int net_peer_uid(int fd, uid_t *uid)
{
	struct net_peer_socket ps;
	int err = net_peer_socket(fd, &ps);

	if (err)
		return err;
	/*
	 * Only a socket that a process holds says who is there: inode 0 means
	 * no process has it.  Either it waits in a listener's queue, not yet
	 * accepted, or its owner has closed it, and what the kernel keeps of
	 * it then (an orphan, a FIN_WAIT2 or TIME_WAIT remnant) lists uid 0:
	 * taking that for root let anyone pass by sending everything and
	 * hanging up.  A holder may have shut down its writing half (FIN_WAIT1,
	 * FIN_WAIT2): it is still there, and still who it was.
	 */
	if (ps.state == TCP_ESTABLISHED && ps.inode == 0)
		return -EINPROGRESS;
	if ((ps.state != TCP_ESTABLISHED && ps.state != TCP_FIN_WAIT1 &&
	     ps.state != TCP_FIN_WAIT2) || ps.inode == 0)
		return -ENOTCONN;
	*uid = ps.uid;
	return 0;
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
