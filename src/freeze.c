/* contmig freeze: snapshot a running process into an image. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "error.h"
#include "escape.h"
#include "exitcode.h"
#include "fileref.h"
#include "image.h"
#include "progress.h"
#include "ptrace.h"
#include "snapshot.h"
#include "target.h"
#include "testpoint.h"
#include "tracee.h"
#include "userfile.h"

static const char usage[] =
	"Usage: contmig freeze [-o IMAGE|-] [--leave-running|--leave-stopped] [--drop-fds]\n"
	"                      [--reference-files] [--timeout SECS] [--quiet|--progress] PID\n"
	"Snapshot a running process into an image (an ELF core file). Only once the\n"
	"image is complete is the process ended (the default), resumed or left stopped;\n"
	"on any failure before that it carries on untouched.\n"
	"\n"
	"  -o, --output IMAGE   write the image to IMAGE (default PID.contmig); '-' streams\n"
	"                       it to standard output\n"
	"  -r, --leave-running  let the process carry on after the snapshot (a process\n"
	"                       that was stopped stays stopped)\n"
	"  -s, --leave-stopped  leave the process stopped (SIGSTOP) after the snapshot\n"
	"      --drop-fds       freeze even with fds that do not move (pipes, sockets...:\n"
	"                       'contmig check PID' names them); the restored process\n"
	"                       finds them closed, and its files open again\n"
	"      --reference-files  store the files it maps (its binary, libraries) by\n"
	"                       path and checksum, not whole: only where the identical\n"
	"                       files are may the image be thawed\n"
	"  -t, --timeout SECS   give up if the process has not stopped after SECS\n"
	"                       (default 30); it then carries on untouched. With -o -,\n"
	"                       also how long the image's reader may take nothing\n"
	"                       before the process is kept stopped\n"
	PROGRESS_HELP
	"  -h, --help           show this help\n";

enum after { AFTER_END, AFTER_RUN, AFTER_STOP };

/*
 * The image is written to an unnamed file in the output's directory
 * (O_TMPFILE): a freeze killed even with SIGKILL leaves nothing behind, and
 * only a complete image ever gets a name.  Filesystems without O_TMPFILE get
 * a named temporary instead, removed on SIGINT, SIGTERM and SIGHUP.
 */
static bool unnamed;
/* A named temporary, removed if contmig is interrupted. */
static char tmp_path[4096];

static void on_fatal_signal(int sig)
{
	if (tmp_path[0])
		unlink(tmp_path);
	/* The kernel detaches us from the target, which carries on. */
	signal(sig, SIG_DFL);
	raise(sig);
}

static int open_output(const char *output)
{
	struct sigaction sa = { .sa_handler = on_fatal_signal };
	char dir[4096];
	int fd;

	/* Either way a temporary name may exist for a moment (tmp_path). */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	snprintf(dir, sizeof(dir), "%s", output);
	fd = open(dirname(dir), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0) {
		unnamed = true;
		return fd;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		snprintf(dir, sizeof(dir), "%s", output);
		errno_msg(errno, "freeze: creating an image in %s", dirname(dir));
		return -1;
	}
	snprintf(tmp_path, sizeof(tmp_path), "%s.XXXXXX", output);
	fd = mkostemp(tmp_path, O_CLOEXEC);
	if (fd < 0) {
		errno_msg(errno, "freeze: creating %s", tmp_path);
		tmp_path[0] = '\0';
	}
	return fd;
}

/*
 * Name the unnamed file path: at once if path is free (nothing else ever
 * shows), else under a fresh temporary name that commit_file renames over
 * path (linkat cannot replace a file).  0, or -1 said.
 */
static int name_file(int fd, const char *path, bool *named)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	*named = linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0;
	if (*named)
		return 0;
	if (errno != EEXIST) {
		errno_msg(errno, "freeze: naming the image %s", path);
		return -1;
	}
	for (unsigned tries = 0; tries < 100; tries++) {
		unsigned suffix;

		if (getrandom(&suffix, sizeof(suffix), GRND_NONBLOCK) != sizeof(suffix))
			suffix = getpid() * 7919U + tries;	/* still new at each try */
		snprintf(tmp_path, sizeof(tmp_path), "%s.%08x", path, suffix);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp_path, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	errno_msg(errno, "freeze: naming the image %s", tmp_path);
	tmp_path[0] = '\0';
	return -1;
}

/* Make the written file durable under its final name. */
static int commit_file(int fd, const char *path)
{
	bool named = false;
	char dir[4096];
	int dfd;

	if (fsync(fd) < 0) {
		errno_msg(errno, "freeze: writing %s", unnamed ? path : tmp_path);
		close(fd);
		return -1;
	}
	if (unnamed && name_file(fd, path, &named) < 0) {
		close(fd);
		return -1;
	}
	if (close(fd) < 0) {
		errno_msg(errno, "freeze: writing %s", named ? path : tmp_path);
		return -1;
	}
	if (!named && rename(tmp_path, path) < 0) {
		errno_msg(errno, "freeze: renaming %s to %s", tmp_path, path);
		return -1;
	}
	tmp_path[0] = '\0';
	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);	/* best effort: the rename itself is done */
		close(dfd);
	}
	return 0;
}

/*
 * Read back what was written, as thaw will read it, before the process may
 * end: a file's head, notes, sums and size, a pipe's head and sums note
 * rebuilt in memory (image_verify).  An exit status, said.
 */
static int verify(int pid, struct image *im, struct stream *out, const char *output)
{
	struct stream back = { .fd = -1 };
	int err;

	if (out) {
		if (lseek(out->fd, 0, SEEK_SET) < 0) {
			errno_msg(errno, "freeze: reading back %s", unnamed ? output : tmp_path);
			return EXIT_IO;
		}
		back.fd = out->fd;
	}
	err = image_verify(im, out ? &back : NULL);
	if (err == -EBADMSG) {
		error_msg("freeze PID %d: the image does not read back as written: %s; the "
			  "process carries on", pid, im->why);
		return EXIT_IMAGE;
	}
	if (err) {
		errno_msg(-err, "freeze: reading back %s", !out ? "the image's head" :
			  unnamed ? output : tmp_path);
		return err == -ENOMEM ? EXIT_INTERNAL : EXIT_IO;
	}
	return EXIT_OK;
}

/*
 * Signals that came while the image was written would die with the process:
 * they go into the image.  A file's head is written again, in place: the
 * signals note grows into the padding before the data, which is there for
 * it (a page's worth).  A pipe's head has gone; then, or if the padding is
 * too small, they are left out, and say_lost_signals names them at the end.
 * An exit status, said.
 */
static int add_late_signals(int pid, struct image *im, struct stream *out, const char *output)
{
	uint64_t data_offset = im->data_offset;
	uint32_t flags = im->state.flags;
	size_t nsig = im->nsig, n;
	struct tracee_signal *late;
	struct image_signal_rec *sig;
	int err;

	/* What cannot go in (a pipe's head has gone) is named at the end. */
	if (out->fd < 0 || snapshot_late_signals(pid, im, &late, &n) || !n)
		return EXIT_OK;
	sig = realloc(im->sig, (im->nsig + n) * sizeof(*sig));
	if (!sig) {
		free(late);
		error_msg("freeze: out of memory");
		return EXIT_INTERNAL;
	}
	im->sig = sig;
	for (size_t i = 0; i < n; i++) {
		int signo = late[i].info.si_signo;

		if (signo == SIGKILL)
			continue;	/* it ends anyway */
		if (signo == SIGSTOP) {
			im->state.flags |= IMAGE_STATE_STOPPED;
			continue;
		}
		im->sig[im->nsig] = (struct image_signal_rec){
			.flags = late[i].shared ? IMAGE_SIGNAL_SHARED : 0 };
		memcpy(im->sig[im->nsig++].info, &late[i].info, sizeof(im->sig[0].info));
	}
	free(late);
	if (im->nsig == nsig && im->state.flags == flags)
		return EXIT_OK;
	err = image_layout(im);
	if (!err && im->data_offset != data_offset) {
		/* More than the head has room for: left out, and named at the end. */
		im->nsig = nsig;
		im->state.flags = flags;
		err = image_layout(im);
		if (err)
			errno_msg(-err, "freeze: laying out the image of PID %d again", pid);
		return err ? EXIT_INTERNAL : EXIT_OK;
	}
	if (!err) {
		ssize_t w = pwrite(out->fd, im->head, im->head_size, 0);

		if (w != (ssize_t)im->head_size)
			err = w < 0 ? -errno : -EIO;
	}
	if (err) {
		errno_msg(-err, "freeze: adding the signals that came meanwhile to %s",
			  unnamed ? output : tmp_path);
		return EXIT_IO;
	}
	/* The head as it now stands, rebuilt in memory, reads as thaw will
	 * read it (the bytes just written are those bytes). */
	return verify(pid, im, NULL, output);
}

/*
 * Into a pipe or a socket (-o -), the process may end only once its reader
 * has taken the whole image: a reader that goes away first (thaw killed,
 * `| head`) would otherwise leave it running nowhere.  More they cannot tell:
 * a reader that dies after the last byte, before its copy runs, still loses
 * it (contmig(1)); send --via is the way with a handoff.  EXIT_OK once all is
 * taken (or stdout is a file); EXIT_IO if the reader left first; EXIT_UNKNOWN
 * if it took nothing for timeout_ms.  Said.
 */
static int wait_taken(int pid, int fd, int timeout_ms)
{
	struct timespec nap = { 0, 1000 * 1000 };
	int left, last = -1, still_ms = 0;
	unsigned long queued;
	struct stat st;

	if (fstat(fd, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return EXIT_OK;
	/* A pipe's unread bytes; a socket's not yet taken by the other side. */
	queued = S_ISFIFO(st.st_mode) ? FIONREAD : SIOCOUTQ;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT | POLLRDHUP };
		bool gone;

		if (ioctl(fd, queued, &left) < 0)
			return EXIT_OK;
		gone = poll(&p, 1, 0) == 1 && p.revents & (POLLERR | POLLHUP | POLLRDHUP);
		/* A socket drops what its reader left unread when it goes: none
		 * queued then may mean all taken, or all thrown away. */
		if (left == 0 && gone && S_ISSOCK(st.st_mode)) {
			error_msg("freeze PID %d: the image's reader went away, and a socket cannot "
				  "tell whether it took the whole image first; the process is kept "
				  "stopped: if its copy runs, kill -9 %d; if not, kill -CONT %d", pid,
				  pid, pid);
			return EXIT_UNKNOWN;
		}
		if (left == 0)
			return EXIT_OK;
		if (gone) {
			error_msg("freeze PID %d: the image's reader went away with %d bytes "
				  "of it not taken; the process carries on", pid, left);
			return EXIT_IO;
		}
		still_ms = left == last ? still_ms + (int)(nap.tv_nsec / 1000000) : 0;
		last = left;
		if (still_ms >= timeout_ms) {
			error_msg("freeze PID %d: the image's reader took nothing for %d s (%d bytes "
				  "not taken); the process is kept stopped: if its copy runs, "
				  "kill -9 %d; if not, kill -CONT %d", pid, timeout_ms / 1000, left,
				  pid, pid);
			return EXIT_UNKNOWN;
		}
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 10 * 1000 * 1000)
			nap.tv_nsec += 1000 * 1000;
	}
}

/* Signals that came after the image was complete die with the process:
 * say so. */
static void say_lost_signals(int pid, const struct image *im)
{
	struct tracee_signal *late;
	char name[16];
	size_t n, lost = 0;
	int first = 0;

	if (snapshot_late_signals(pid, im, &late, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		int signo = late[i].info.si_signo;

		/* A SIGSTOP is in the image as its stopped state, when it is. */
		if (signo == SIGKILL || (signo == SIGSTOP && im->state.flags & IMAGE_STATE_STOPPED))
			continue;
		if (!lost++)
			first = signo;
	}
	free(late);
	if (lost)
		error_msg("warning: freeze PID %d: %zu signal%s (%s first) came after the image "
			  "was complete; the copy will not get %s", pid, lost, lost == 1 ? "" : "s",
			  signal_abbrev(first, name), lost == 1 ? "it" : "them");
}

/*
 * --reference-files: every file the process maps that can be referenced, found
 * while it runs (fileref_candidates).  The image may go anywhere: whoever
 * thaws it needs the identical files, and is refused where they differ.
 * An exit status, said.
 */
static int reference_all(const char *cmd, int pid, struct fileref_set *refs)
{
	int err = fileref_candidates(pid, refs);

	if (err) {
		errno_msg(-err, "%s: looking at the files PID %d maps", cmd, pid);
		return err == -ENOMEM ? EXIT_INTERNAL : EXIT_NOTARGET;
	}
	for (size_t i = 0; i < refs->count; i++)
		refs->c[i].taken = true;
	return EXIT_OK;
}

static int finish(int pid, enum after after)
{
	switch (after) {
	case AFTER_END:
		return target_end("freeze", pid);
	case AFTER_STOP:
		return target_keep_stopped("freeze", pid);
	case AFTER_RUN:
		break;
	}
	/* Stopped before the freeze, it stays stopped. */
	return target_release("freeze", pid);
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "leave-running", no_argument, NULL, 'r' },
		{ "leave-stopped", no_argument, NULL, 's' },
		{ "drop-fds", no_argument, NULL, 'D' },
		{ "reference-files", no_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 't' },
		PROGRESS_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *output = NULL;
	char default_output[64];
	enum after after = AFTER_END;
	bool drop_fds = false, reference_files = false, output_failed, to_stdout;
	struct fileref_set refs = { 0 };
	char referenced[64] = "";
	enum progress_mode mode = PROGRESS_AUTO;
	struct progress progress;
	char what[64], stored[32], mapped[32], why[USERFILE_WHY];
	struct stream out = { .fd = -1 };
	struct image im;
	char comm[ESCAPED_SIZE(sizeof(im.state.comm))];
	int opt, pid, status, err, timeout_ms = DEFAULT_TIMEOUT_S * 1000;
	struct stat out_st;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:o:rst:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			output = optarg;
			break;
		case 'r':
		case 's':
			if (after != AFTER_END && after != (opt == 'r' ? AFTER_RUN : AFTER_STOP))
				usage_error("freeze", "freeze: --leave-running and --leave-stopped "
					    "exclude each other");
			after = opt == 'r' ? AFTER_RUN : AFTER_STOP;
			break;
		case 'D':
			drop_fds = true;
			break;
		case 'R':
			reference_files = true;
			break;
		case 't':
			timeout_ms = parse_timeout("freeze", optarg);
			target_set_timeout(timeout_ms);
			break;
		case 'q':
			mode = PROGRESS_NEVER;
			break;
		case OPT_PROGRESS:
			mode = PROGRESS_ALWAYS;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			option_error("freeze", opt, argv);
		}
	}
	if (optind != argc - 1)
		usage_error("freeze", "freeze: %s", optind == argc ? "missing PID" :
			    "too many arguments: give one PID");
	pid = parse_pid(argv[optind]);
	if (!pid)
		usage_error("freeze", "freeze: '%s' is not a PID", argv[optind]);
	if (!output) {
		snprintf(default_output, sizeof(default_output), "%d.contmig", pid);
		output = default_output;
	}
	/* Not "is out.fd 1?": with stdout closed, the image file may be fd 1. */
	to_stdout = !strcmp(output, "-");
	if (to_stdout && isatty(STDOUT_FILENO))
		usage_error("freeze", "freeze: refusing to write an image to a terminal; "
			    "redirect standard output or use -o IMAGE");
	/* /dev/null and its kind: the process would end with its image nowhere. */
	if (to_stdout && fstat(STDOUT_FILENO, &out_st) == 0 && S_ISCHR(out_st.st_mode))
		usage_error("freeze", "freeze: standard output is a device, not a file, pipe or "
			    "socket: the image would go nowhere");

	/* The image is renamed over IMAGE: not over a link, a device (as root,
	 * -o /dev/null would replace /dev/null itself) or another user's file. */
	if (!to_stdout && userfile_check_replace(output, why)) {
		error_msg("freeze: -o %s: %s", output, why);
		return EXIT_IO;
	}
	status = target_open("freeze", pid);
	if (status != EXIT_OK)
		return status;
	status = target_preflight("freeze", pid, drop_fds ? TARGET_DROP_FDS : 0);
	if (status != EXIT_OK)
		return status;

	if (to_stdout) {
		out.fd = STDOUT_FILENO;
		stream_widen_pipe(out.fd);
	} else {
		out.fd = open_output(output);
		if (out.fd < 0)
			return EXIT_IO;
	}
	/* A closed pipe must be an error we report, not a silent death. */
	signal(SIGPIPE, SIG_IGN);

	if (reference_files && (status = reference_all("freeze", pid, &refs)) != EXIT_OK)
		goto remove_tmp;
	status = target_capture("freeze", pid, drop_fds ? TARGET_DROP_FDS : 0,
				reference_files ? &refs : NULL, &im);
	fileref_set_free(&refs);
	if (status != EXIT_OK)
		goto remove_tmp;
	/* What goes down a pipe cannot be taken back: its head is read back
	 * before the first byte leaves. */
	if (to_stdout && (status = verify(pid, &im, NULL, output)) != EXIT_OK)
		goto free_image;
	snprintf(what, sizeof(what), "freeze PID %d", pid);
	progress_start(&progress, mode, what, im.size, &out);
	err = snapshot_write(pid, &im, &out, &output_failed);
	progress_end(&progress);
	if (err) {
		if (output_failed)
			errno_msg(-err, "freeze: writing %s", !strcmp(output, "-") ?
				  "the image to standard output" : unnamed ? output : tmp_path);
		else
			errno_msg(-err, "freeze: reading the memory of PID %d", pid);
		status = output_failed ? EXIT_IO : EXIT_INTERNAL;
		goto free_image;
	}
	test_point("freeze-written");
	status = verify(pid, &im, to_stdout ? NULL : &out, output);
	if (status == EXIT_OK && after == AFTER_END)
		status = add_late_signals(pid, &im, to_stdout ? &(struct stream){ .fd = -1 } : &out,
					  output);
	if (status == EXIT_OK && to_stdout && after == AFTER_END) {
		/* The whole image has gone: its reader may run the copy any
		 * moment now.  Should we die while it takes the rest, the kernel
		 * lets the process go: a queued SIGSTOP keeps it from running
		 * beside its copy. */
		if (syscall(SYS_tgkill, pid, pid, SIGSTOP) < 0) {
			errno_msg(errno, "freeze: holding PID %d while the image is taken", pid);
			status = EXIT_INTERNAL;
			goto free_image;
		}
		test_point("freeze-streamed");
		status = wait_taken(pid, out.fd, timeout_ms);
		if (status == EXIT_IO && !target_tracee(pid)->was_stopped &&
		    kill(pid, SIGCONT) < 0)	/* the SIGSTOP goes: it carries on */
			errno_msg(errno, "freeze: letting PID %d carry on", pid);
	}
	if (status == EXIT_UNKNOWN) {
		image_free(&im);
		target_keep_stopped("freeze", pid);
		return status;
	}
	if (status != EXIT_OK)
		goto free_image;
	if (!to_stdout) {
		err = commit_file(out.fd, output);
		out.fd = -1;
		if (err) {
			status = EXIT_IO;
			goto free_image;
		}
	}
	/* The process chose its name: escaped, it cannot act on a terminal. */
	escape_text(comm, sizeof(comm), im.state.comm, sizeof(im.state.comm));
	progress_summary(&progress, "froze PID %d (%s): %s stored of %s mapped%s in %.2f s "
			 "(%.0f MiB/s)", pid, comm,
			 human_size(image_stored_bytes(&im), stored),
			 human_size(image_mapped_bytes(&im), mapped),
			 referenced_files(&im, referenced), progress_seconds(&progress),
			 im.size / 1048576.0 / progress_seconds(&progress));
	if (after == AFTER_END)
		say_lost_signals(pid, &im);
	image_free(&im);
	return finish(pid, after);

free_image:
	image_free(&im);
	target_release("freeze", pid);
remove_tmp:
	if (out.fd >= 0 && !to_stdout)
		close(out.fd);
	if (tmp_path[0])
		unlink(tmp_path);
	return status;
}

const struct command command_freeze = {
	.name = "freeze",
	.summary = "snapshot a running process into an image",
	.usage = usage,
	.run = run,
};
