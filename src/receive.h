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
#include <stddef.h>
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
	int progress;			/* enum progress_mode */
	const char *as_user;		/* --as: run every copy as this user (root) */
	bool reopen_changed;		/* --reopen-changed: open files that changed
					 * since the freeze anyway */
	int handshake_ms;		/* the whole handshake's deadline; 0: 10 s */
	/* A migration's slot, asked for once its sender is authenticated
	 * (NULL: no limit): 0, -EBUSY with why (len bytes), or -errno. */
	int (*claim_slot)(void *ctx, char *why, size_t len);
	void *slot_ctx;
};

/* *migration: whether the sender got past the handshake with an image. */
int receive_one(int rfd, int wfd, const char *peer, const struct receive_opts *o,
		bool *migration);

#endif
