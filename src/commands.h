/*
 * The subcommands.  Each gets argv starting at its own name, parses its
 * options, does its work and returns an exit status (exitcode.h).
 */
#ifndef CONTMIG_COMMANDS_H
#define CONTMIG_COMMANDS_H

struct command {
	const char *name;
	const char *summary;		/* one line for `contmig --help` */
	const char *usage;		/* the whole `contmig help NAME` text */
	int (*run)(int argc, char **argv);
};

extern const struct command command_check;
extern const struct command command_freeze;
extern const struct command command_thaw;

/* Parse a decimal PID; 0 when s is not one. */
int parse_pid(const char *s);

/* Report the option getopt_long just rejected (opterr = 0, optstring
 * starting with "+:") and exit with EXIT_USAGE. */
void option_error(const char *cmd, int opt, char **argv) __attribute__((noreturn));

#endif
