/*
 * send: moving a process to a receiver with the handoff of contmig(1).
 * The command is command_send; contmig run uses the same path for a process
 * it supervises, stopped at its sys_migrate.
 */
#ifndef CONTMIG_SEND_H
#define CONTMIG_SEND_H

#include <stdint.h>
#include <sys/types.h>

#include "progress.h"

/* Move pid, stopped under our ptrace with PTRACE_O_TRACESECCOMP, to dest
 * (HOST[:PORT] or ssh://...).  Says what fails; returns an exit status.
 * EXIT_OK: it runs there as *moved_to and is gone here.  Otherwise, but for
 * EXIT_UNKNOWN (then it is left stopped and untraced), it is still stopped
 * under our ptrace, as it was. */
int send_supervised(int pid, const char *dest, const uint8_t *key, int timeout_ms,
		    enum progress_mode progress, pid_t *moved_to);

#endif
