/*
 * contract: does a binary or a live process keep the Continuum contract
 * (continuum(7))?  Checks only look (libelf, /proc); they never stop or
 * disturb a process.
 */
#ifndef CONTMIG_CONTRACT_H
#define CONTMIG_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

#define CONTRACT_TEXT_ADDR	0x400000UL
#define CONTRACT_STACK_ADDR	0x500000000UL
#define CONTRACT_STACK_SIZE	0x100000UL
#define CONTRACT_STACK_TOP	0x5000FFFF8UL
#define CONTRACT_CANARY		0xCAFEBABEUL
#define CONTRACT_CANARY_ADDR	(CONTRACT_STACK_TOP - 8)

#define CONTRACT_MAX_ITEMS	24

/* One rule and how the target fares against it. */
struct contract_item {
	const char *check;		/* stable name: "elf", "static", "fds", ... */
	bool ok;
	bool contract_only;		/* a rule of the Continuum contract that
					 * does not stop a move */
	char detail[512];		/* one line for a human */
};

struct contract_report {
	struct contract_item item[CONTRACT_MAX_ITEMS];
	size_t count;
	bool keeps;			/* every item ok: keeps the contract */
	bool moves;			/* every item but contract_only ok */
	char name[64];			/* for a process: its command name */
	char where[64];			/* on -errno: the file that could not be read */
	unsigned seccomp_filters;	/* for a process: its count, contmig run's too */
};

/*
 * Check the file at path.  0 with the verdict in *r (a file that is not ELF
 * at all simply breaks the contract); -errno when the file cannot be read,
 * with r->where naming it.
 */
int contract_check_binary(const char *path, struct contract_report *r) MUST_CHECK;

/*
 * Check the running process pid and the binary it runs.  -errno when it
 * cannot be looked at (-ESRCH: gone or a zombie; -EACCES: another user's),
 * with r->where naming what could not be read.
 */
int contract_check_pid(pid_t pid, struct contract_report *r) MUST_CHECK;

#endif
