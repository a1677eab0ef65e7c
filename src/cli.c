/* Pieces of command-line handling that every subcommand shares. */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>

#include "commands.h"
#include "error.h"

int parse_pid(const char *s)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return 0;
	v = strtol(s, &end, 10);
	if (*end || v <= 0 || v > INT_MAX)
		return 0;
	return (int)v;
}

void option_error(const char *cmd, int opt, char **argv)
{
	const char *arg = argv[optind - 1];

	if (opt == ':')
		usage_error(cmd, "%s: option '%s' needs an argument", cmd, arg);
	if (optopt)
		usage_error(cmd, "%s: unknown option '-%c'", cmd, optopt);
	usage_error(cmd, "%s: unknown option '%s'", cmd, arg);
}
