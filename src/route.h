/*
 * route: how a sender reaches a receiver: a TCP address (HOST[:PORT]), a
 * command speaking to 'contmig thaw --stdio' on its stdin and stdout
 * (--via CMD), or ssh:// (a --via command built from the destination).
 * route_open gives a connection with the handshake done, or says why not.
 */
#ifndef CONTMIG_ROUTE_H
#define CONTMIG_ROUTE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "channel.h"
#include "net.h"
#include "progress.h"

struct route {
	const char *dest;		/* as the user wrote it */
	const char *cmd;		/* the command the user ran, for messages */
	struct net_addr addr;
	char *via;			/* the command (malloc'd), or NULL for TCP */
	pid_t via_pid;
	int timeout_ms;
	const uint8_t *key;
	char why[600];			/* why route_open failed */
	enum progress_mode progress;
};

/* What a destination may be, for messages. */
#define ROUTE_DEST_FORMS "HOST[:PORT] (a port is 1 to 65535; an IPv6 address is written " \
	"[ADDR]:PORT) or ssh://[USER@]HOST[:PORT]"

/* Where dest leads: TCP, or ssh as a command.  0, -EINVAL for a destination
 * that is none of ROUTE_DEST_FORMS, or -ENOMEM. */
int route_parse(struct route *r, const char *dest) MUST_CHECK;
/* Use cmd as the transport; dest then only names the node in messages. */
int route_set_via(struct route *r, const char *cmd) MUST_CHECK;
/* Without a key, send goes to loopback only: a destination that resolves
 * beyond it is refused (said, EXIT_USAGE) before anything is touched.
 * --via and ssh:// are exempt: their channel is the command's. */
int route_check_key(const struct route *r, int pid) MUST_CHECK;
/* One connection, handshake done: an exit status, the failure in r->why
 * (and said, unless quiet) and nothing left open. */
int route_open(struct route *r, struct channel *ch, enum channel_kind kind,
	       const uint8_t id[CHANNEL_ID_BYTES], bool quiet);
void route_close(struct route *r, struct channel *ch);
void route_free(struct route *r);

#endif
