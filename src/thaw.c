/* contmig thaw: bring an image back to life on this machine. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>

#include "commands.h"
#include "creds.h"
#include "error.h"
#include "escape.h"
#include "exitcode.h"
#include "fill.h"
#include "image.h"
#include "key.h"
#include "listen.h"
#include "net.h"
#include "progress.h"
#include "ptrace.h"
#include "remote.h"
#include "restore.h"
#include "userfile.h"

static const char usage[] =
	"Usage: contmig thaw [--detach] [--stdin FILE] [--stdout FILE] [--stderr FILE]\n"
	"                    [--pid-file FILE] [--as USER] [--reopen-changed]\n"
	"                    [--quiet|--progress] IMAGE|-\n"
	"       contmig thaw --listen [ADDR:]PORT [--key FILE] [--once] [--stdin FILE]\n"
	"                    [--stdout FILE] [--stderr FILE] [--as USER]\n"
	"                    [--reopen-changed] [LIMITS]\n"
	"       contmig thaw --stdio [--key FILE] [--as USER] [--reopen-changed] [LIMITS]\n"
	"Bring a frozen process back to life on this machine, at the same addresses.\n"
	"The whole image is checked (headers, notes, every segment's checksum, the\n"
	"canary) before the process runs; a bad image starts nothing.\n"
	"By default thaw stays in the foreground as the process's parent: the process\n"
	"has thaw's stdin, stdout and stderr, gets the SIGINT, SIGTERM, SIGHUP and\n"
	"SIGQUIT sent to thaw, and thaw exits with its status (128+N for signal N,\n"
	"saying on stderr which signal it died of).\n"
	"'-' reads the image from standard input.\n"
	"The process runs as the user it ran as (see contmig(1), Credentials): found\n"
	"by name when thaw runs as root, else only thaw's own user's are taken.\n"
	"\n"
	"  -d, --detach          print the new PID on standard output and exit once it\n"
	"                        runs; the process reads and writes /dev/null unless\n"
	"                        told otherwise, so P=$(contmig thaw -d IMAGE) returns\n"
	"      --stdin FILE      the process reads FILE\n"
	"      --stdout FILE     the process writes to FILE (created, or appended to)\n"
	"      --stderr FILE     the same for its standard error\n"
	"      --pid-file FILE   write its PID to FILE once it runs\n"
	"      --as USER         (root only) run the process as USER, with USER's group\n"
	"                        and groups here, whoever it ran as; also with --listen\n"
	"                        and --stdio\n"
	"      --reopen-changed  open the process's files even where they changed since\n"
	"                        the freeze (size, time or content); by default such a\n"
	"                        file refuses the restore; also with --listen, --stdio\n"
	"\n"
	"Receiving migrations from 'contmig send' (see contmig(1), THE HANDOFF):\n"
	"  -l, --listen [ADDR:]PORT  accept them on ADDR (default 127.0.0.1), PORT (" NET_DEFAULT_PORT ");\n"
	"                        the processes get the listener's stdin, stdout and stderr\n"
	"                        (or --stdin, --stdout, --stderr)\n"
	"      --stdio           one migration on stdin and stdout (behind ssh, inetd,\n"
	"                        systemd); the process reads /dev/null, writes to\n"
	"                        /dev/null or --output\n"
	"  -O, --output FILE     with --stdio: append the process's output to FILE\n"
	"  -k, --key FILE        the shared key (contmig keygen); needed to listen beyond\n"
	"                        loopback, and by any sender that is not on loopback as\n"
	"                        this user or root\n"
	"      --once            exit after the first migration: 0 once the process\n"
	"                        runs here (it carries on), else its failure's status\n"
	"  -t, --timeout SECS    give up on a silent sender after SECS (default 30)\n"
	"      --max-size SIZE   refuse larger images (K, M, G suffixes; default: this\n"
	"                        machine's memory)\n"
	"      --max-regions N   refuse images with more mappings (default: the kernel's\n"
	"                        vm.max_map_count)\n"
	"      --max-clients N   authenticated migrations at the same time (default 4);\n"
	"                        connections in their handshake and queries do not count\n"
	"\n"
	PROGRESS_HELP
	"  -h, --help            show this help\n";

/* A foreground thaw ends as its process does, and says so when a signal
 * killed it: a copy that crashes as soon as it runs must not pass in
 * silence.  Like a shell, it keeps quiet about SIGINT and SIGPIPE, the
 * usual ways a foreground program is ended on purpose. */
static int wait_for_child(pid_t pid)
{
	char comm[64], how[64];
	int status;
	pid_t got = wait_child(pid, 0, &status, comm, sizeof(comm));

	if (got < 0) {
		errno_msg(-got, "thaw: waiting for PID %d", (int)pid);
		return EXIT_INTERNAL;
	}
	if (!WIFSIGNALED(status))
		return WEXITSTATUS(status);
	if (WTERMSIG(status) != SIGINT && WTERMSIG(status) != SIGPIPE)
		error_msg("thaw: PID %d (%s) %s", (int)pid, comm,
			  wait_status_text(status, how, sizeof(how)));
	return 128 + WTERMSIG(status);
}

static void close_stdio(int fds[3])
{
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	fds[0] = fds[1] = fds[2] = -1;
}

/*
 * The process's fds 0-2: FILE where one was given (stdin read, output
 * created or appended to, as a shell's < and >> do), else /dev/null when
 * it is detached (it must not hold the terminal or the pipe of whoever ran
 * thaw: P=$(contmig thaw -d IMAGE) would never return), else ours.
 * A FILE is opened by userfile's rules: a root thaw would otherwise append
 * to, or hand the process, whatever a link another user planted names.
 * EXIT_OK with fds[i] set (-1: ours), or an exit status, said.
 */
static int open_stdio(const char *const path[3], bool detach, int fds[3])
{
	static const char *const option[3] = { "--stdin", "--stdout", "--stderr" };

	for (int i = 0; i < 3; i++) {
		const char *p = path[i] ? path[i] : detach ? "/dev/null" : NULL;
		char why[USERFILE_WHY];
		int fd;

		fds[i] = -1;
		if (!p)
			continue;
		fd = i == 0 ? userfile_open(p, O_RDONLY, 0, why) :
			userfile_open(p, O_WRONLY | O_CREAT | O_APPEND, 0666, why);
		/* With our own 0-2 closed, open may hand out one of them: the
		 * stub's exec would then close it (O_CLOEXEC, and no dup2 on
		 * itself).  Keep every one above 2. */
		if (fd >= 0 && fd < 3) {
			int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);

			close(fd);
			fd = high;
		}
		if (fd < 0) {
			if (path[i])
				error_msg("thaw: %s %s: %s", option[i], p, why);
			else
				error_msg("thaw: %s: %s", p, why);
			close_stdio(fds);
			return path[i] ? EXIT_IO : EXIT_INTERNAL;
		}
		fds[i] = fd;
	}
	return EXIT_OK;
}

/*
 * --pid-file: made as a temporary next to FILE before the restore (a
 * directory we cannot write in is said before anything runs), renamed over
 * FILE once the process runs, so a reader never sees it half written.
 * What FILE names is checked first (userfile_check_replace): the rename
 * would replace a symbolic link, a device or another user's file.
 */
struct pid_file {
	const char *path;
	char tmp[4096];
	int fd;
};

static int pid_file_prepare(struct pid_file *pf)
{
	char why[USERFILE_WHY];

	pf->fd = -1;
	if (!pf->path)
		return EXIT_OK;
	if (userfile_check_replace(pf->path, why)) {
		error_msg("thaw: --pid-file %s: %s", pf->path, why);
		return EXIT_IO;
	}
	if (snprintf(pf->tmp, sizeof(pf->tmp), "%s.XXXXXX", pf->path) >= (int)sizeof(pf->tmp)) {
		errno_msg(ENAMETOOLONG, "thaw: %s", pf->path);
		return EXIT_USAGE;
	}
	pf->fd = mkostemp(pf->tmp, O_CLOEXEC);
	if (pf->fd < 0) {
		errno_msg(errno, "thaw: creating the PID file %s", pf->path);
		return EXIT_IO;
	}
	return EXIT_OK;
}

static void pid_file_discard(struct pid_file *pf)
{
	if (pf->fd < 0)
		return;
	close(pf->fd);
	unlink(pf->tmp);
	pf->fd = -1;
}

static int pid_file_commit(struct pid_file *pf, pid_t pid)
{
	char line[16];
	int len = snprintf(line, sizeof(line), "%d\n", (int)pid);

	if (pf->fd < 0)
		return EXIT_OK;
	errno = 0;	/* a short write sets none */
	if (write(pf->fd, line, len) != len || fchmod(pf->fd, 0644) < 0 ||
	    close(pf->fd) < 0 || rename(pf->tmp, pf->path) < 0) {
		errno_msg(errno ? errno : EIO, "thaw: writing the PID file %s (PID %d runs)",
			  pf->path, (int)pid);
		pf->fd = -1;
		unlink(pf->tmp);
		return EXIT_IO;
	}
	pf->fd = -1;
	return EXIT_OK;
}

/*
 * Anyone who can write an image can write any user into it: root thawing a
 * file that alice wrote must not run it as root, or as bob, on the image's
 * word.  So an image root names by path restores only as the owner of what
 * the path leads to (a file or a FIFO; --as overrides), and not at all from
 * /proc or /sys, whose files root owns whatever bytes they hold (a process's
 * environment, say).  Standard input says nothing of who wrote it: whoever
 * ran thaw chose what to feed it.
 */
static bool image_file_may_claim(int fd, bool named, const struct creds *c, char *why,
				 size_t len)
{
	uid_t runs_as = c->change ? c->uid : geteuid();
	const char *who = c->change ? c->user : "root";
	struct statfs fs;
	struct stat st;
	struct passwd *pw;

	if (geteuid() != 0 || !named)
		return true;
	if (fstat(fd, &st) < 0 || fstatfs(fd, &fs) < 0) {
		snprintf(why, len, "cannot tell who wrote the image file: %s", strerror(errno));
		return false;
	}
	if (fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC) {
		snprintf(why, len, "the image is a file of /proc or /sys, whose owner says nothing "
			 "of who wrote it, and it says its process ran as %s (uid %u); --as USER "
			 "picks whom to run it as", who, (unsigned)runs_as);
		return false;
	}
	if (st.st_uid == 0 || st.st_uid == runs_as)
		return true;
	pw = getpwuid(st.st_uid);
	snprintf(why, len, "the image file belongs to %s (uid %u), but says its process ran as "
		 "%s (uid %u); whoever writes an image can write any user into it, so root "
		 "restores another user's file only as its owner (--as USER picks one)",
		 pw ? pw->pw_name : "nobody known here", (unsigned)st.st_uid, who,
		 (unsigned)runs_as);
	return false;
}

/* A copy that runs as another user gets /dev/null for a terminal of ours
 * (remote.c says why): say so, or its silence would puzzle. */
static void say_no_terminal(const struct creds *c, const int *stdio)
{
	for (int i = 0; c->change && c->uid != getuid() && i < 3; i++)
		if (isatty(stdio ? stdio[i] : i)) {
			error_msg("thaw: the copy runs as %s, so it gets /dev/null instead of this "
				  "terminal (--stdin, --stdout, --stderr FILE give it files)",
				  c->user);
			return;
		}
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
	enum { OPT_STDIO = 256, OPT_ONCE, OPT_MAX_SIZE, OPT_MAX_REGIONS, OPT_MAX_CLIENTS,
	       OPT_STDIN, OPT_STDOUT, OPT_STDERR, OPT_PID_FILE, OPT_AS, OPT_REOPEN_CHANGED };
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
		{ "stdin", required_argument, NULL, OPT_STDIN },
		{ "stdout", required_argument, NULL, OPT_STDOUT },
		{ "stderr", required_argument, NULL, OPT_STDERR },
		{ "pid-file", required_argument, NULL, OPT_PID_FILE },
		{ "as", required_argument, NULL, OPT_AS },
		{ "reopen-changed", no_argument, NULL, OPT_REOPEN_CHANGED },
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
	const char *stdio_path[3] = { NULL, NULL, NULL };
	int stdio_fds[3] = { -1, -1, -1 }, child_stdio[3];
	struct pid_file pid_file = { .fd = -1 };
	struct creds creds = { 0 };
	char why[512];
	bool stdio_given = false;
	unsigned max_clients = 4;
	bool receiving_opt = false, stdio = false, once = false;
	struct restore_result res;
	struct progress progress;
	struct stream in = { .fd = -1 };
	struct remote r = { 0 };
	char size[32];
	struct image im;
	char comm[ESCAPED_SIZE(sizeof(im.state.comm))];
	const char *path;
	bool detach = false;
	int opt, err, status, image_fd = 0;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:dl:k:t:O:qh", longopts, NULL)) != -1) {
		receiving_opt |= opt != 'd' && opt != 'l' && opt != OPT_STDIO && opt != 'q' &&
				 opt != OPT_PROGRESS && opt != OPT_AS && opt != OPT_REOPEN_CHANGED &&
				 (opt < OPT_STDIN || opt > OPT_PID_FILE);
		switch (opt) {
		case OPT_STDIN:
		case OPT_STDOUT:
		case OPT_STDERR:
			if (!*optarg)
				usage_error("thaw", "thaw: %s needs a FILE", argv[optind - 1]);
			stdio_path[opt - OPT_STDIN] = optarg;
			stdio_given = true;
			break;
		case OPT_PID_FILE:
			if (!*optarg)
				usage_error("thaw", "thaw: --pid-file needs a FILE");
			pid_file.path = optarg;
			break;
		case OPT_AS:
			/* Anyone else can run a process only as themselves. */
			if (geteuid() != 0)
				usage_error("thaw", "thaw: --as is for root: thaw runs what it "
					    "restores as its own user");
			if (!getpwnam(optarg))
				usage_error("thaw", "thaw: --as %s: no such user on this machine",
					    optarg);
			ro.as_user = optarg;
			break;
		case OPT_REOPEN_CHANGED:
			ro.reopen_changed = true;
			break;
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
			usage_error("thaw", "thaw: --output goes with --stdio (with --listen, use "
				    "--stdout and --stderr)");
		if (stdio && stdio_given)
			usage_error("thaw", "thaw: with --stdio the process reads /dev/null and "
				    "writes to --output");
		if (pid_file.path)
			usage_error("thaw", "thaw: --pid-file goes with an IMAGE (a listener "
				    "starts many processes)");
		if (stdio_given) {
			status = open_stdio(stdio_path, false, stdio_fds);
			if (status != EXIT_OK)
				return status;
			for (int i = 0; i < 3; i++)
				child_stdio[i] = stdio_fds[i] >= 0 ? stdio_fds[i] : i;
			ro.stdio = child_stdio;
		}
		status = receive(listen, stdio, output, key_path, once, &ro, max_clients);
		close_stdio(stdio_fds);
		return status;
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
	memset(&im, 0, sizeof(im));	/* out: frees it */
	/* Said before anything is read, let alone restored. */
	status = open_stdio(stdio_path, detach, stdio_fds);
	if (status != EXIT_OK)
		goto out;
	for (int i = 0; i < 3; i++)
		child_stdio[i] = stdio_fds[i] >= 0 ? stdio_fds[i] : i;
	if (stdio_given || detach)
		r.stdio = child_stdio;
	status = pid_file_prepare(&pid_file);
	if (status != EXIT_OK)
		goto out;

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
	if (im.state.flags & (IMAGE_STATE_LIVE | IMAGE_STATE_DELTA)) {
		error_msg("thaw %s: invalid image: a round of a live send (send --live), which "
			  "only its receiver can use, not a whole image", path);
		status = EXIT_IMAGE;
		goto out;
	}
	/* Whom it runs as is settled before anything runs. */
	if (restore_credentials(&im, ro.as_user, &creds, why, sizeof(why))) {
		error_msg("thaw %s: cannot restore: %s", path, why);
		status = EXIT_RESTORE;
		goto out;
	}
	if (!ro.as_user && !image_file_may_claim(in.fd, in.fd != STDIN_FILENO, &creds, why, sizeof(why))) {
		error_msg("thaw %s: cannot restore: %s", path, why);
		status = EXIT_RESTORE;
		goto out;
	}
	if (creds.warning[0])
		error_msg("thaw %s: %s", path, creds.warning);
	/* From a file, the restorer reads the pages into place itself. */
	image_fd = fill_image_fd(&im, &in);
	r.image_fd = image_fd;
	r.creds = &creds;
	r.reopen_changed = ro.reopen_changed;
	say_no_terminal(&creds, r.stdio);
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
	if (res.warning[0])
		error_msg("thaw %s: the copy has less than its source: %s", path, res.warning);
	/* Forward signals from before the process runs, so none is lost. */
	if (!detach)
		forward_signals(r.pid);
	err = restore_release(&r, &im);
	if (err) {
		errno_msg(-err, "thaw: starting PID %d", (int)r.pid);
		remote_kill(&r);
		status = EXIT_RESTORE;
		goto out;
	}
	/* The image's name, escaped: it may hold any bytes, and no NUL. */
	escape_text(comm, sizeof(comm), im.state.comm, sizeof(im.state.comm));
	progress_summary(&progress, "thawed PID %d (%s) as PID %d: %s in %.2f s%s%s",
			 im.state.source_pid, comm, (int)r.pid,
			 human_size(image_stored_bytes(&im), size), progress_seconds(&progress),
			 res.clocks[0] ? "; " : "", res.clocks);
	close_stdio(stdio_fds);		/* it has its own now */
	status = pid_file_commit(&pid_file, r.pid);
	if (!detach) {
		image_free(&im);
		creds_free(&creds);
		if (in.fd != STDIN_FILENO)
			close(in.fd);
		if (image_fd > 0)
			close(image_fd);
		err = wait_for_child(r.pid);
		/* A PID file we could not write was said and is our status. */
		return status != EXIT_OK ? status : err;
	}
	printf("%d\n", (int)r.pid);
out:
	image_free(&im);
	creds_free(&creds);
	if (in.fd >= 0 && in.fd != STDIN_FILENO)
		close(in.fd);
	if (image_fd > 0)
		close(image_fd);
	close_stdio(stdio_fds);
	pid_file_discard(&pid_file);
	return status;
}

const struct command command_thaw = {
	.name = "thaw",
	.summary = "bring an image back to life on this machine",
	.usage = usage,
	.run = run,
};
