/*
 * progress: bytes, rate and time left of a long copy, on one line of stderr
 * that redraws itself, and the one-line summary at the end.  Shown only on
 * a terminal (or when forced), and only once the work takes more than a
 * moment.  Command layer: it prints.
 */
#ifndef CONTMIG_PROGRESS_H
#define CONTMIG_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "error.h"
#include "stream.h"

enum progress_mode {
	PROGRESS_AUTO,			/* when stderr is a terminal */
	PROGRESS_ALWAYS,		/* --progress */
	PROGRESS_NEVER,			/* --quiet */
};

struct progress {
	const char *what;		/* "freeze PID 42" */
	uint64_t total;
	bool enabled, drawn;
	double delay;			/* seconds before anything is drawn */
	struct timespec start, last;
};

/* Start timing; with mode allowing it, draw as the stream moves. */
void progress_start(struct progress *p, enum progress_mode mode, const char *what,
		    uint64_t total, struct stream *s);
/* Erase the line, if drawn. */
void progress_end(struct progress *p);
/* Seconds since progress_start. */
double progress_seconds(const struct progress *p);
/* "contmig: ..." once the work is over, when progress is enabled. */
void progress_summary(const struct progress *p, const char *fmt, ...) ATTR_PRINTF(2, 3);

#endif
