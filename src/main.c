/* contmig: move a running Continuum process to another machine. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#include "exitcode.h"

static const struct command *const commands[] = {
	&command_check,
	&command_freeze,
	&command_thaw,
	&command_send,
	&command_inspect,
	&command_run,
	&command_keygen,
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_help(void)
{
	printf("Usage: contmig COMMAND [OPTIONS] [ARGS]\n"
	       "Move a running single-threaded process (an ordinary program, or one built to\n"
	       "the Continuum contract) to another machine.\n"
	       "\n"
	       "Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		printf("  %-8s  %s\n", commands[i]->name, commands[i]->summary);
	printf("  %-8s  %s\n", "help", "show the help of a command");
	printf("\n"
	       "Options:\n"
	       "  -h, --help     show this help\n"
	       "  -V, --version  show the version\n"
	       "\n"
	       "'contmig help COMMAND' shows a command's options. See contmig(1) and continuum(7).\n");
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

static int help(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		print_help();
		return EXIT_OK;
	}
	if (argc > 2)
		usage_error(NULL, "help: give one command");
	if (!strcmp(argv[1], "help")) {
		printf("Usage: contmig help [COMMAND]\n"
		       "Show contmig's commands, or the options of COMMAND.\n");
		return EXIT_OK;
	}
	c = find_command(argv[1]);
	if (!c)
		usage_error(NULL, "help: unknown command '%s'", argv[1]);
	fputs(c->usage, stdout);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	const struct command *c;
	int status;

	if (argc < 2)
		usage_error(NULL, "missing command");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		print_help();
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("contmig %s\n", PACKAGE_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "help"))
		return help(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		usage_error(NULL, "unknown option '%s'", argv[1]);
	c = find_command(argv[1]);
	if (!c)
		usage_error(NULL, "unknown command '%s'", argv[1]);
	status = c->run(argc - 1, argv + 1);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		errno_msg(errno, "writing standard output");
		return EXIT_IO;
	}
	return status;
}
