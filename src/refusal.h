/* refusal: why a receiver refuses a sender, as the wire says it. */
#ifndef CONTMIG_REFUSAL_H
#define CONTMIG_REFUSAL_H

/*
 * Why a receiver refuses, in its hello or MSG_ERROR: the protocol's own
 * numbers (they happen to be the exit statuses of the first version, and
 * stay what they are whatever the exit statuses become).
 */
enum refusal {
	REFUSAL_IMAGE = 67,	/* the image is invalid */
	REFUSAL_BUSY = 69,	/* too many migrations at once, or a network failure */
	REFUSAL_AUTH = 70,	/* the sender may not send here */
	REFUSAL_RESTORE = 71,	/* this node cannot host the process */
	REFUSAL_INTERNAL = 73,	/* the other side failed on its own */
};

#endif
