/*
 * admit: who may send to this receiver.  One set of rules for every way in,
 * thaw --listen's connections and thaw --stdio's standard input alike,
 * decided from what the input is (contmig(1), thaw, WHO MAY SEND):
 *
 *   - with a key, every sender proves it in the handshake;
 *   - without one, a TCP peer must be on this machine's loopback and run
 *     as our user or root, read from the kernel's own table of sockets;
 *     a peer on an AF_UNIX socket accepted from a listening one likewise
 *     (SO_PEERCRED); one from anywhere else is refused at once;
 *   - a pipe, a socket pair or a file: whoever gave it to us could start
 *     us, so could have sent anything anyway (ssh's session, send --via).
 *
 * admit_decide is the rules alone, over what admit_learn found out, so
 * that they can be tested without sockets.
 */
#ifndef CONTMIG_ADMIT_H
#define CONTMIG_ADMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

enum admission {
	ADMIT_REFUSE,		/* refuse now; why says why */
	ADMIT_NEEDS_KEY,	/* only if the handshake proves the key */
	ADMIT_OWN_USER,		/* our user or root on this machine: check again
				 * before READY (admit_recheck) */
	ADMIT_STARTER,		/* the channel whoever started us made */
};

/* What the input is. */
enum admit_way {
	ADMIT_WAY_CHANNEL,	/* a pipe, an unnamed socket pair, a file */
	ADMIT_WAY_LOOPBACK,	/* TCP from this machine's loopback */
	ADMIT_WAY_REMOTE,	/* TCP from elsewhere, or a socket of another kind */
	ADMIT_WAY_UNIX,		/* AF_UNIX, accepted from a listening socket */
};

struct admit_facts {
	enum admit_way way;
	int err;		/* 0, or why the other end could not be told */
	int uid_err;		/* LOOPBACK and UNIX: 0 when uid is known */
	uid_t uid;
	pid_t pid;		/* UNIX: the peer's PID when it connected */
	bool listening;		/* a listening socket, not a connection */
	char name[128];		/* the peer for logs: ADDR:PORT, or the socket's path
				 * and PID; "" for a channel */
};

/* Find out what fd is and who is at its other end. */
void admit_learn(int fd, struct admit_facts *f);
/* The rules: what to do with such a peer, for a receiver running as uid
 * `me`, with a key or not.  why (len bytes) says why on ADMIT_REFUSE. */
enum admission admit_decide(const struct admit_facts *f, bool keyed, uid_t me, char *why,
			    size_t len);
/* Both, for fd: the one admission every receiver makes before it reads a
 * byte from the peer. */
enum admission admit_peer(int fd, const uint8_t *key, char *why, size_t len);
/* Just before READY, for a peer admitted as ADMIT_OWN_USER: is the same
 * kind of peer still there (a live socket of our user or root)?  0, or
 * -EACCES with why. */
int admit_recheck(int fd, char *why, size_t len) MUST_CHECK;

#endif
