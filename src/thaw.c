/* contmig thaw: bring an image back to life on this machine. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>

#include "commands.h"
#include "error.h"
#include "exitcode.h"
#include "image.h"
#include "key.h"
#include "listen.h"
#include "net.h"
#include "progress.h"
#include "ptrace.h"
#include "remote.h"
#include "restore.h"

static const char usage[] =
	"Usage: contmig thaw [--detach] [--quiet|--progress] IMAGE|-\n"
	"       contmig thaw --listen [ADDR:]PORT [--key FILE] [--once] [LIMITS]\n"
	"       contmig thaw --stdio [--key FILE] [LIMITS]\n"
	"Bring a frozen process back to life on this machine, at the same addresses.\n"
	"The whole image is checked (headers, notes, every segment's checksum, the\n"
	"canary) before the process runs; a bad image starts nothing.\n"
	"By default thaw stays in the foreground as the process's parent: the process\n"
	"has thaw's stdin, stdout and stderr, gets the SIGINT, SIGTERM, SIGHUP and\n"
	"SIGQUIT sent to thaw, and thaw exits with its status (128+N for signal N).\n"
	"'-' reads the image from standard input.\n"
	"\n"
	"  -d, --detach          print the new PID on standard output and exit once it runs\n"
	"\n"
	"Receiving migrations from 'contmig send' (see contmig(1), THE HANDOFF):\n"
	"  -l, --listen [ADDR:]PORT  accept them on ADDR (default 127.0.0.1), PORT (" NET_DEFAULT_PORT ");\n"
	"                        the processes get the listener's stdin, stdout and stderr\n"
	"      --stdio           one migration on stdin and stdout (behind ssh, inetd,\n"
	"                        systemd); the process reads /dev/null, writes to\n"
	"                        /dev/null or --output\n"
	"  -O, --output FILE     with --stdio: append the process's output to FILE\n"
	"  -k, --key FILE        the shared key (contmig keygen); needed to listen beyond\n"
	"                        loopback\n"
	"      --once            exit after the first migration, with its status\n"
	"  -t, --timeout SECS    give up on a silent sender after SECS (default 30)\n"
	"      --max-size SIZE   refuse larger images (K, M, G suffixes; default: this\n"
	"                        machine's memory)\n"
	"      --max-regions N   refuse images with more mappings (default: the kernel's\n"
	"                        vm.max_map_count)\n"
	"      --max-clients N   migrations at the same time (default 4)\n"
	"\n"
	PROGRESS_HELP
	"  -h, --help            show this help\n";

static int wait_for_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			errno_msg(errno, "thaw: waiting for PID %d", (int)pid);
			return EXIT_INTERNAL;
		}
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int exit_status_for(enum restore_failure f)
{
	switch (f) {
	case RESTORE_BAD_IMAGE:
		return EXIT_IMAGE;
	case RESTORE_INPUT:
		return EXIT_IO;
	default:
		return EXIT_RESTORE;
	}
}

/* thaw --listen and --stdio. */
static int receive(const char *listen, bool stdio, const char *output, const char *key_path,
		   bool once, struct receive_opts *o, unsigned max_clients)
{
	uint8_t key[CHANNEL_KEY_BYTES];
	int status;

	/* The hellos' nonces come from libsodium, key or not. */
	if (sodium_init() < 0)
		error_msg_and_die(EXIT_INTERNAL, "thaw: libsodium cannot start");
	if (key_path) {
		status = key_load("thaw", key_path, key);
		if (status != EXIT_OK)
			return status;
		o->key = key;
	}
	if (stdio)
		status = listen_stdio(o, output);
	else
		status = listen_serve(listen, o, once, max_clients);
	sodium_memzero(key, sizeof(key));
	return status;
}

/* As many mappings as this kernel lets one process have: any process that
 * runs here may come here.  65530 is the kernel's own default. */
static unsigned default_max_regions(void)
{
	unsigned long n = 0;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");

	if (f) {
		if (fscanf(f, "%lu", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n < 65530 ? 65530 : n > 1000000 ? 1000000 : n;
}

static unsigned parse_count(const char *opt, const char *s)
{
	uint64_t v;

	if (parse_size(s, &v) || v < 1 || v > 1000000)
		usage_error("thaw", "thaw: %s '%s' is not a number from 1 to 1000000", opt, s);
	return v;
}

static int run(int argc, char **argv)
{
	enum { OPT_STDIO = 256, OPT_ONCE, OPT_MAX_SIZE, OPT_MAX_REGIONS, OPT_MAX_CLIENTS };
	static const struct option longopts[] = {
		{ "detach", no_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "stdio", no_argument, NULL, OPT_STDIO },
		{ "output", required_argument, NULL, 'O' },
		{ "key", required_argument, NULL, 'k' },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "timeout", required_argument, NULL, 't' },
		{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
		{ "max-regions", required_argument, NULL, OPT_MAX_REGIONS },
		{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
		PROGRESS_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct receive_opts ro = {
		.timeout_ms = DEFAULT_TIMEOUT_S * 1000,
		.max_size = (uint64_t)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE),
		.max_regions = default_max_regions(),
	};
	const char *listen = NULL, *key_path = NULL, *output = NULL;
	unsigned max_clients = 4;
	bool receiving_opt = false, stdio = false, once = false;
	struct restore_result res;
	struct progress progress;
	struct stream in = { .fd = -1 };
	struct remote r = { 0 };
	char size[32];
	struct image im;
	const char *path;
	bool detach = false;
	int opt, err, status;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:dl:k:t:O:qh", longopts, NULL)) != -1) {
		receiving_opt |= opt != 'd' && opt != 'l' && opt != OPT_STDIO && opt != 'q' &&
				 opt != OPT_PROGRESS;
		switch (opt) {
		case 'd':
			detach = true;
			break;
		case 'l':
			if (listen || !*optarg)
				usage_error("thaw", "thaw: %s", listen ? "give --listen once" :
					    "--listen needs [ADDR:]PORT");
			listen = optarg;
			break;
		case OPT_STDIO:
			stdio = true;
			break;
		case 'O':
			output = optarg;
			break;
		case 'k':
			key_path = optarg;
			break;
		case OPT_ONCE:
			once = true;
			break;
		case 't':
			ro.timeout_ms = parse_timeout("thaw", optarg);
			break;
		case OPT_MAX_SIZE:
			if (parse_size(optarg, &ro.max_size) || ro.max_size == 0)
				usage_error("thaw", "thaw: --max-size '%s' is not a size "
					    "(such as 512M or 8G)", optarg);
			break;
		case OPT_MAX_REGIONS:
			ro.max_regions = parse_count("--max-regions", optarg);
			break;
		case OPT_MAX_CLIENTS:
			max_clients = parse_count("--max-clients", optarg);
			break;
		case 'q':
			ro.progress = PROGRESS_NEVER;
			break;
		case OPT_PROGRESS:
			ro.progress = PROGRESS_ALWAYS;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			option_error("thaw", opt, argv);
		}
	}
	if (listen && stdio)
		usage_error("thaw", "thaw: --listen and --stdio exclude each other");
	if (listen || stdio) {
		if (optind != argc || detach)
			usage_error("thaw", "thaw: --%s takes no IMAGE and no --detach",
				    listen ? "listen" : "stdio");
		if (once && !listen)
			usage_error("thaw", "thaw: --once goes with --listen");
		if (output && !stdio)
			usage_error("thaw", "thaw: --output goes with --stdio (a listener's processes "
				    "write to its own stdout)");
		return receive(listen, stdio, output, key_path, once, &ro, max_clients);
	}
	if (receiving_opt)
		usage_error("thaw", "thaw: --key, --once, --output, --timeout and the limits go "
			    "with --listen or --stdio");
	if (optind != argc - 1)
		usage_error("thaw", "thaw: %s", optind == argc ? "missing IMAGE (or - for stdin)" :
			    "too many arguments: give one IMAGE");
	path = argv[optind];
	if (!strcmp(path, "-")) {
		in.fd = STDIN_FILENO;
		stream_widen_pipe(in.fd);
		path = "standard input";
	} else {
		in.fd = open(path, O_RDONLY | O_CLOEXEC);
		if (in.fd < 0) {
			errno_msg(errno, "thaw: %s", path);
			return errno == ENOENT || errno == EACCES ? EXIT_NOTARGET : EXIT_IO;
		}
	}

	/* What is thawed here must fit here. */
	err = image_read_head(&im, &in, stream_max_size());
	if (err == -EBADMSG || err == -EFBIG) {
		error_msg("thaw %s: invalid image: %s", path, im.why);
		status = EXIT_IMAGE;
		goto out;
	}
	if (err) {
		errno_msg(-err, "thaw: reading %s", path);
		status = EXIT_IO;
		goto out;
	}
	/* A detached process outlives the terminal thaw ran in. */
	r.own_session = detach;
	progress_start(&progress, ro.progress, "thaw", im.size, &in);
	err = restore_preflight(&im, &res) || restore_build(&im, &in, &r, &res);
	progress_end(&progress);
	if (err) {
		error_msg("thaw %s: %s%s", path,
			  res.failure == RESTORE_BAD_IMAGE ? "invalid image: " : "cannot restore: ",
			  res.why);
		status = exit_status_for(res.failure);
		goto out;
	}
	/* Forward signals from before the process runs, so none is lost. */
	if (!detach)
		forward_signals(r.pid);
	err = ptrace_detach(r.pid, 0);
	if (err) {
		errno_msg(-err, "thaw: starting PID %d", (int)r.pid);
		remote_kill(&r);
		status = EXIT_RESTORE;
		goto out;
	}
	progress_summary(&progress, "thawed PID %d (%.16s) as PID %d: %s in %.2f s",
			 im.state.source_pid, im.state.comm, (int)r.pid,
			 human_size(image_stored_bytes(&im), size), progress_seconds(&progress));
	if (!detach) {
		image_free(&im);
		if (in.fd != STDIN_FILENO)
			close(in.fd);
		return wait_for_child(r.pid);
	}
	printf("%d\n", (int)r.pid);
	status = EXIT_OK;
out:
	image_free(&im);
	if (in.fd >= 0 && in.fd != STDIN_FILENO)
		close(in.fd);
	return status;
}

const struct command command_thaw = {
	.name = "thaw",
	.summary = "bring an image back to life on this machine",
	.usage = usage,
	.run = run,
};
