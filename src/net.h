/*
 * net: where a migration's bytes go.  Parse HOST[:PORT], connect and listen
 * over TCP with a timeout on every wait, and run a --via command with a
 * socket as its stdin and stdout.  Functions return an fd, 0 or -errno and
 * never print; `why` (NET_WHY bytes) says more where a number cannot.
 */
#ifndef CONTMIG_NET_H
#define CONTMIG_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* The receiver's port when none is given (contmig(1)). */
#define NET_DEFAULT_PORT	"7742"
#define NET_WHY			256

struct net_addr {
	char host[256];
	char port[32];
};

/* "HOST", "HOST:PORT", "[V6ADDR]:PORT"; with port_first, a bare "PORT"
 * too (thaw --listen's [ADDR:]PORT).  Missing parts get the defaults. */
int net_parse(const char *s, bool port_first, const char *default_host,
	      struct net_addr *a) MUST_CHECK;
/* A connected TCP socket, or -errno (-EHOSTUNREACH when the name does not
 * resolve, with why saying so).  With loopback_only, an address beyond
 * loopback is never connected to: -EPERM, why saying so, if that was all. */
int net_connect(const struct net_addr *a, int timeout_ms, bool loopback_only,
		char *why) MUST_CHECK;
/* Does the host resolve to any address beyond loopback?  1 (the first
 * such, numeric, in other), 0, or -EHOSTUNREACH when it does not resolve. */
int net_find_beyond_loopback(const struct net_addr *a, char *other, size_t len) MUST_CHECK;
/* A listening TCP socket; *loopback tells whether it listens on loopback only. */
int net_listen(const struct net_addr *a, bool *loopback, char *why) MUST_CHECK;
/* Is the other end of this connected socket on this machine's loopback? */
bool net_peer_is_loopback(int fd);
/* What the kernel says of the socket at the other end of a TCP connection
 * on this machine (sock_diag). */
struct net_peer_socket {
	int state;		/* TCP_ESTABLISHED, ... (netinet/tcp.h) */
	uid_t uid;		/* who made it */
	unsigned long inode;	/* 0: no process holds it any more */
};
/* 0 or -errno: -ENOTCONN if the connection is gone, -ENOENT if the kernel
 * lists no such socket, -EAFNOSUPPORT if fd is no TCP socket. */
int net_peer_socket(int fd, struct net_peer_socket *ps) MUST_CHECK;
/* The uid of the process that holds the other end of a TCP connection on
 * this machine (loopback): 0 or -errno, -ENOTCONN when no process holds it
 * any more (closed, or the connection is gone), -EINPROGRESS when none
 * holds it yet (a listener has not accepted it). */
int net_peer_uid(int fd, uid_t *uid) MUST_CHECK;
/* "ADDR:PORT" of a connected socket's peer. */
void net_peer_name(int fd, char *buf, size_t len);
/* Run `sh -c cmd`, in a process group of its own, with one end of a socket
 * pair as its stdin and stdout; the other end is returned. */
int net_spawn(const char *cmd, pid_t *pid) MUST_CHECK;
/* Wait up to timeout_ms for a --via command to exit, then kill what is
 * left of its process group: its waitpid status. */
int net_reap(pid_t pid, int timeout_ms);

#endif
