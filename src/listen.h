/*
 * listen: the receiving node's commands, thaw --listen and thaw --stdio.
 * They print their own messages and return exit statuses.
 */
#ifndef CONTMIG_LISTEN_H
#define CONTMIG_LISTEN_H

#include <stdbool.h>

#include "receive.h"

/* Accept migrations on [ADDR:]PORT until a signal (or, with once, until
 * the first migration ends: its status). */
int listen_serve(const char *where, const struct receive_opts *o, bool once,
		 unsigned max_clients);
/* One migration on stdin and stdout; the process's output goes to output
 * (appended), or to /dev/null when NULL. */
int listen_stdio(const struct receive_opts *o, const char *output);

#endif
