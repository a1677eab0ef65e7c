/* Unit tests for the admission rules (admit.h) and for what they learn from
 * real sockets: pipes, socket pairs, AF_UNIX and loopback TCP connections,
 * one of whose ends has been closed. */
#include "config.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "admit.h"
#include "net.h"
#include "unit.h"

static enum admission decide(enum admit_way way, int uid_err, uid_t uid, bool keyed,
			     char *why, size_t len)
{
	struct admit_facts f = { .way = way, .uid_err = uid_err, .uid = uid };

	snprintf(f.name, sizeof(f.name), "10.0.0.9:4000");
	return admit_decide(&f, keyed, 1000, why, len);
}

static void check_rules(void)
{
	char why[300];

	/* With a key, everyone proves it, from anywhere. */
	for (int way = ADMIT_WAY_CHANNEL; way <= ADMIT_WAY_UNIX; way++)
		CHECK(decide(way, 0, 4242, true, why, sizeof(why)) == ADMIT_NEEDS_KEY);
	/* Without one: the starter's channel is taken as it is ... */
	CHECK(decide(ADMIT_WAY_CHANNEL, 0, 4242, false, why, sizeof(why)) == ADMIT_STARTER);
	/* ... nobody from elsewhere is ... */
	CHECK(decide(ADMIT_WAY_REMOTE, 0, 1000, false, why, sizeof(why)) == ADMIT_REFUSE);
	CHECK(strstr(why, "10.0.0.9:4000 is not on this machine's loopback") != NULL);
	/* ... and on this machine our own user and root only. */
	for (int i = 0; i < 2; i++) {
		enum admit_way way = i ? ADMIT_WAY_UNIX : ADMIT_WAY_LOOPBACK;

		CHECK(decide(way, 0, 1000, false, why, sizeof(why)) == ADMIT_OWN_USER);
		CHECK(decide(way, 0, 0, false, why, sizeof(why)) == ADMIT_OWN_USER);
		CHECK(decide(way, 0, 4242, false, why, sizeof(why)) == ADMIT_REFUSE);
		CHECK(strstr(why, "the sender runs as uid 4242") != NULL);
		/* A peer we cannot tell is refused, not taken for root. */
		CHECK(decide(way, -ENOTCONN, 0, false, why, sizeof(why)) == ADMIT_REFUSE);
		CHECK(strstr(why, "closed or closing") != NULL);
		CHECK(decide(way, -EINPROGRESS, 0, false, why, sizeof(why)) == ADMIT_REFUSE);
		CHECK(decide(way, -ENOENT, 0, false, why, sizeof(why)) == ADMIT_REFUSE);
	}
}

static void check_channels(void)
{
	struct admit_facts f;
	int p[2], sv[2];

	CHECK(pipe(p) == 0);
	admit_learn(p[0], &f);
	CHECK(f.way == ADMIT_WAY_CHANNEL && f.err == 0 && f.name[0] == '\0');
	close(p[0]);
	close(p[1]);
	/* A socket pair (send --via makes one) is a channel too. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	admit_learn(sv[0], &f);
	CHECK(f.way == ADMIT_WAY_CHANNEL);
	close(sv[0]);
	close(sv[1]);
}

/* A connection accepted from a listening AF_UNIX socket: its peer's uid. */
static void check_unix(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 +
		snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "contmig-unit-admit-%d", getpid());
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0), s;
	struct admit_facts f;
	char why[300];

	CHECK(bind(l, (struct sockaddr *)&a, len) == 0 && listen(l, 1) == 0);
	CHECK(connect(c, (struct sockaddr *)&a, len) == 0);
	s = accept(l, NULL, NULL);
	CHECK(s >= 0);
	admit_learn(s, &f);
	CHECK(f.way == ADMIT_WAY_UNIX && f.uid_err == 0 && f.uid == geteuid() &&
	      f.pid == getpid());
	CHECK(strstr(f.name, "@contmig-unit-admit-") == f.name);
	CHECK(admit_peer(s, NULL, why, sizeof(why)) == ADMIT_OWN_USER);
	CHECK(admit_recheck(s, why, sizeof(why)) == 0);
	/* The connecting end has no name of its own: whoever made it chose
	 * the listener, as with a pipe. */
	admit_learn(c, &f);
	CHECK(f.way == ADMIT_WAY_CHANNEL);
	close(s);
	close(c);
	close(l);
}

static int tcp_listener(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	*a = (struct sockaddr_in){ .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK(bind(l, (struct sockaddr *)a, sizeof(*a)) == 0 && listen(l, 4) == 0 &&
	      getsockname(l, (struct sockaddr *)a, &len) == 0);
	return l;
}

/* Loopback TCP: our own connection, and one waiting in a listener's queue. */
static void check_tcp(void)
{
	struct sockaddr_in a;
	int l = tcp_listener(&a), c = socket(AF_INET, SOCK_STREAM, 0), s;
	struct admit_facts f;
	char why[300];
	uid_t uid;

	CHECK(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0);
	/* Not accepted yet: no process holds the listener's end. */
	CHECK(net_peer_uid(c, &uid) == -EINPROGRESS);
	s = accept(l, NULL, NULL);
	CHECK(s >= 0);
	CHECK(net_peer_uid(c, &uid) == 0 && uid == geteuid());
	admit_learn(s, &f);
	CHECK(f.way == ADMIT_WAY_LOOPBACK && f.uid_err == 0 && f.uid == geteuid());
	CHECK(strstr(f.name, "127.0.0.1:") == f.name);
	CHECK(admit_peer(s, NULL, why, sizeof(why)) == ADMIT_OWN_USER);
	CHECK(admit_peer(s, (const uint8_t *)"key", why, sizeof(why)) == ADMIT_NEEDS_KEY);
	close(c);
	close(s);
	close(l);
}

/* IPv6 loopback, and an IPv4 peer of a dual-stack socket (::ffff:127.0.0.1),
 * which the kernel lists as an IPv4 socket.  Skipped without IPv6. */
static void check_tcp6(const char *listen_on, const char *connect_from)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	struct sockaddr_in a4 = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET6, SOCK_STREAM, 0), off = 0, c, s;
	bool v4 = !strcmp(connect_from, "127.0.0.1");
	struct admit_facts f;

	inet_pton(AF_INET6, listen_on, &a.sin6_addr);
	setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0) {
		fprintf(stderr, "unit-admit: no IPv6 here (%s): skipped\n", strerror(errno));
		close(l);
		return;
	}
	a4.sin_port = a.sin6_port;
	c = socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM, 0);
	CHECK(connect(c, v4 ? (struct sockaddr *)&a4 : (struct sockaddr *)&a,
		      v4 ? sizeof(a4) : sizeof(a)) == 0);
	s = accept(l, NULL, NULL);
	CHECK(s >= 0);
	admit_learn(s, &f);
	CHECK(f.way == ADMIT_WAY_LOOPBACK && f.uid_err == 0 && f.uid == geteuid());
	close(c);
	close(s);
	close(l);
}

/*
 * Another user connects and hangs up at once.  While its socket is open it
 * is that user's; once closed, what the kernel keeps of it (a FIN_WAIT2
 * remnant, listed with uid 0) must never pass for root.  Needs root.
 */
static void check_closed_peer(void)
{
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	struct sockaddr_in a;
	int l = tcp_listener(&a), p[2], s, err = 0;
	char why[300], go;
	uid_t uid = 4242;
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "unit-admit: not root: the closed peer's check is skipped\n");
		close(l);
		return;
	}
	CHECK(pipe(p) == 0);
	pid = fork();
	if (pid == 0) {
		int c;

		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(1);
		c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    write(c, "contmig\n", 8) != 8)
			_exit(1);
		/* Hang up once the other side has looked. */
		if (read(p[0], &go, 1) != 1)
			_exit(1);
		close(c);
		_exit(0);
	}
	close(p[0]);
	s = accept(l, NULL, NULL);
	CHECK(s >= 0);
	CHECK(net_peer_uid(s, &uid) == 0 && uid == 65534);
	CHECK(admit_peer(s, NULL, why, sizeof(why)) == ADMIT_REFUSE);
	CHECK(strstr(why, "runs as uid 65534") != NULL);
	CHECK(write(p[1], "x", 1) == 1);
	CHECK(waitpid(pid, NULL, 0) == pid);
	/* Its FIN acknowledged, the remnant stays; look for a while. */
	for (int i = 0; i < 25; i++) {
		err = net_peer_uid(s, &uid);
		CHECK(err == 0 ? uid == 65534 : err == -ENOTCONN);
		nanosleep(&nap, NULL);
	}
	CHECK(err == -ENOTCONN);
	CHECK(admit_peer(s, NULL, why, sizeof(why)) == ADMIT_REFUSE);
	CHECK(strstr(why, "closed or closing") != NULL);
	CHECK(admit_recheck(s, why, sizeof(why)) == -EACCES);
	close(p[1]);
	close(s);
	close(l);
}

int main(void)
{
	check_rules();
	check_channels();
	check_unix();
	check_tcp();
	check_tcp6("::1", "::1");
	check_tcp6("::", "127.0.0.1");
	check_closed_peer();
	return unit_result();
}
