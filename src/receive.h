/*
 * receive: one connection on the receiving node, from the hello to the end
 * of the handoff (contmig(1), THE HANDOFF): authenticate, restore the image
 * while it arrives, hold the copy stopped and say READY, start it on COMMIT
 * and say DONE; or answer a sender's query about an earlier migration.
 * Logs one line per connection on stderr; returns an exit status.
 */
#ifndef CONTMIG_RECEIVE_H
#define CONTMIG_RECEIVE_H

#include <stdbool.h>
#include <stdint.h>

/* A worker's exit status for a connection that carried no migration (a
 * query, a failed handshake): thaw --listen --once waits on. */
#define RECEIVE_NO_MIGRATION	100

struct receive_opts {
	const uint8_t *key;		/* NULL: no key (loopback or --stdio) */
	int timeout_ms;			/* for every wait on the sender */
	uint64_t max_size;		/* largest image accepted, in bytes */
	unsigned max_regions;		/* most mappings accepted */
	const int *stdio;		/* the restored process's fds 0-2; NULL: ours */
	bool own_user_only;		/* a loopback listener without a key: take
					 * migrations from our own user (or root) only */
	int progress;			/* enum progress_mode */
	const char *as_user;		/* --as: run every copy as this user (root) */
};

/* *migration: whether the sender got past the handshake with an image. */
int receive_one(int rfd, int wfd, const char *peer, const struct receive_opts *o,
		bool *migration);

#endif
