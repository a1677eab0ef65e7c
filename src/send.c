/*
 * contmig send: move a running process to a receiver, exactly once
 * (contmig(1), THE HANDOFF).  The arguments; the work is migrate's.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "error.h"
#include "exitcode.h"
#include "key.h"
#include "migrate.h"
#include "net.h"
#include "route.h"
#include "target.h"

static const char usage[] =
	"Usage: contmig send [--live] [--key FILE] [--via CMD] [--timeout SECS]\n"
	"                    [--drop-fds] [--quiet|--progress] PID DEST\n"
	"Move a running process to another node: freeze it straight into a connection\n"
	"to a receiver ('contmig thaw --listen' there), which restores it; the process\n"
	"then runs there and ends here, exactly once. DEST is HOST[:PORT] (port "
	NET_DEFAULT_PORT "),\n"
	"or ssh://[USER@]HOST[:PORT] to run 'contmig thaw --stdio' there through ssh.\n"
	"On success it prints the new PID and DEST. Until the receiver holds its copy,\n"
	"any failure leaves the process running here as if nothing happened.\n"
	"\n"
	"  -l, --live           send its memory while it runs, in rounds, then stop it\n"
	"                       only for what it wrote since: the pause no longer\n"
	"                       grows with its memory (userfaultfd write-protection,\n"
	"                       Linux 6.7, or soft-dirty bits)\n"
	"  -k, --key FILE       a shared key (contmig keygen): both sides prove they hold\n"
	"                       it, and the stream is encrypted; without one, send goes\n"
	"                       to loopback only\n"
	"      --via CMD        speak to 'contmig thaw --stdio' through CMD's stdin and\n"
	"                       stdout (DEST then only names the node in messages)\n"
	"  -t, --timeout SECS   give up on a silent receiver after SECS (default 30)\n"
	"      --drop-fds       send even with fds that do not move (pipes, sockets...:\n"
	"                       'contmig check PID' names them); the process finds them\n"
	"                       closed, and its files open again\n"
	PROGRESS_HELP
	"  -h, --help           show this help\n";

static int run(int argc, char **argv)
{
	enum { OPT_VIA = 256, OPT_DROP_FDS };
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "live", no_argument, NULL, 'l' },
		{ "via", required_argument, NULL, OPT_VIA },
		{ "timeout", required_argument, NULL, 't' },
		{ "drop-fds", no_argument, NULL, OPT_DROP_FDS },
		PROGRESS_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct route r = { .timeout_ms = DEFAULT_TIMEOUT_S * 1000, .cmd = "send" };
	uint8_t key[CHANNEL_KEY_BYTES];
	const char *key_path = NULL, *via = NULL;
	bool drop_fds = false, live = false;
	pid_t new_pid;
	int opt, pid, status;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:k:lt:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			key_path = optarg;
			break;
		case 'l':
			live = true;
			break;
		case OPT_VIA:
			via = optarg;
			if (!*via)
				usage_error("send", "send: --via needs a command");
			break;
		case 't':
			r.timeout_ms = parse_timeout("send", optarg);
			break;
		case OPT_DROP_FDS:
			drop_fds = true;
			break;
		case 'q':
			r.progress = PROGRESS_NEVER;
			break;
		case OPT_PROGRESS:
			r.progress = PROGRESS_ALWAYS;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			option_error("send", opt, argv);
		}
	}
	if (argc - optind != 2)
		usage_error("send", "send: %s", argc - optind < 2 ? "give a PID and a DEST" :
			    "too many arguments: give one PID and one DEST");
	pid = parse_pid(argv[optind]);
	if (!pid)
		usage_error("send", "send: '%s' is not a PID", argv[optind]);
	r.dest = argv[optind + 1];
	if (!*r.dest)
		usage_error("send", "send: an empty DEST");
	if (via && !strncmp(r.dest, "ssh://", 6))
		usage_error("send", "send: ssh:// and --via exclude each other");
	if (via) {
		if (route_set_via(&r, via))
			error_msg_and_die(EXIT_INTERNAL, "send: out of memory");
	} else if (route_parse(&r, r.dest)) {
		usage_error("send", "send: '%s' is not %s", r.dest, ROUTE_DEST_FORMS);
	}
	if (sodium_init() < 0)
		error_msg_and_die(EXIT_INTERNAL, "send: libsodium cannot start");
	if (key_path) {
		status = key_load("send", key_path, key);
		if (status != EXIT_OK) {
			route_free(&r);
			return status;
		}
		r.key = key;
	}
	/* A vanished receiver must be an error we report, not our death. */
	signal(SIGPIPE, SIG_IGN);
	status = migrate_process(&r, pid, (drop_fds ? TARGET_DROP_FDS : 0) |
				 (live ? MIGRATE_LIVE : 0), &new_pid);
	if (status == EXIT_OK) {
		printf("%d %s\n", (int)new_pid, r.dest);
		fflush(stdout);
	}
	sodium_memzero(key, sizeof(key));
	route_free(&r);
	return status;
}

const struct command command_send = {
	.name = "send",
	.summary = "move a running process to another node, exactly once",
	.usage = usage,
	.run = run,
};
