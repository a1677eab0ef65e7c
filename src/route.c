#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "exitcode.h"
#include "route.h"

void route_close(struct route *r, struct channel *ch)
{
	close(ch->rfd);
	channel_free(ch);
	if (r->via_pid > 0)
		net_reap(r->via_pid, 2000);
	r->via_pid = 0;
}

void route_free(struct route *r)
{
	free(r->via);
	r->via = NULL;
}

/* Whose is the listener at the other end of fd?  It has accepted the
 * connection when the kernel shows a process holding its end (at once, for
 * a listener that is not busy): only then does its end say who it is. */
static int receiver_uid(int fd, int timeout_ms, uid_t *uid)
{
	struct timespec nap = { 0, 1000 * 1000 };
	int err, waited_us = 0;

	while ((err = net_peer_uid(fd, uid)) == -EINPROGRESS && waited_us / 1000 < timeout_ms) {
		nanosleep(&nap, NULL);
		waited_us += nap.tv_nsec / 1000;
		if (nap.tv_nsec < 20 * 1000 * 1000)
			nap.tv_nsec *= 2;
	}
	return err == -EINPROGRESS ? -ETIMEDOUT : err;
}

/* Without a key, to whom may we send?  Only to a listener of our own user,
 * or root's: anyone else on this machine could have taken the port, and
 * would read the process's memory and have the original ended. */
static int check_receiver(struct route *r, int fd)
{
	uid_t uid;
	int err = receiver_uid(fd, r->timeout_ms, &uid);

	if (!err && (uid == geteuid() || uid == 0))
		return EXIT_OK;
	if (err == -ENOTCONN) {
		snprintf(r->why, sizeof(r->why), "the connection closed at once");
		return EXIT_NETWORK;
	}
	if (err == -ETIMEDOUT) {
		snprintf(r->why, sizeof(r->why), "timed out: the listener on port %s did not take "
			 "the connection", r->addr.port);
		return EXIT_NETWORK;
	}
	if (err)
		snprintf(r->why, sizeof(r->why), "cannot tell which user listens on port %s (%s)",
			 r->addr.port, strerror(-err));
	else
		snprintf(r->why, sizeof(r->why), "the listener on port %s runs as uid %u; without "
			 "a key, send goes to a listener of its own user only (use --key)",
			 r->addr.port, (unsigned)uid);
	return EXIT_AUTH;
}

int route_check_key(const struct route *r, int pid)
{
	char other[64];

	/* --via and ssh:// bring their own channel; a key goes over anything. */
	if (r->via || r->key)
		return EXIT_OK;
	/* A name that does not resolve is said when route_open tries it. */
	if (net_find_beyond_loopback(&r->addr, other, sizeof(other)) != 1)
		return EXIT_OK;
	error_msg("%s: refusing to send PID %d to %s%s%s%s without --key: a genuine receiver never "
		  "listens beyond loopback without a key, so whoever listens there could read all "
		  "of the process (give both sides one: contmig keygen)", r->cmd, pid, r->addr.host,
		  strcmp(other, r->addr.host) ? " (" : "", strcmp(other, r->addr.host) ? other : "",
		  strcmp(other, r->addr.host) ? ")" : "");
	return EXIT_USAGE;
}

int route_open(struct route *r, struct channel *ch, enum channel_kind kind,
	       const uint8_t id[CHANNEL_ID_BYTES], bool quiet)
{
	char why[NET_WHY];
	int fd, err, status = EXIT_NETWORK;

	r->via_pid = 0;
	if (r->via)
		fd = net_spawn(r->via, &r->via_pid);
	else
		fd = net_connect(&r->addr, r->timeout_ms, !r->key, why);
	if (fd < 0) {
		if (!r->via && why[0])
			snprintf(r->why, sizeof(r->why), "%s", why);
		else if (r->via)
			snprintf(r->why, sizeof(r->why), "running %.300s: %s", r->via, strerror(-fd));
		else
			snprintf(r->why, sizeof(r->why), "connecting to %s port %s: %s", r->addr.host,
				 r->addr.port, strerror(-fd));
		if (fd == -EPERM && !r->via)
			status = EXIT_USAGE;
		goto fail;
	}
	if (!r->via && !r->key) {
		status = check_receiver(r, fd);
		if (status != EXIT_OK) {
			close(fd);
			goto fail;
		}
	}
	err = channel_init(ch, fd, fd, r->key, r->timeout_ms);
	if (err) {
		close(fd);
		if (r->via_pid > 0)
			net_reap(r->via_pid, 0);
		snprintf(r->why, sizeof(r->why), "%s", strerror(-err));
		status = EXIT_INTERNAL;
		goto fail;
	}
	err = channel_connect(ch, kind, id);
	if (!err)
		return EXIT_OK;
	status = err == -EACCES || err == -CHANNEL_EFORGED ? EXIT_AUTH :
		err == -ECONNABORTED ? exit_status_for_refusal(ch->peer_refusal) : EXIT_NETWORK;
	if (r->via && err == -ECONNRESET) {
		/* The command ended before the handshake: say how. */
		pid_t via_pid = r->via_pid;
		int wstatus;

		r->via_pid = 0;
		route_close(r, ch);
		wstatus = net_reap(via_pid, r->timeout_ms);
		snprintf(r->why, sizeof(r->why), "'%.300s' %s %d before the handshake", r->via,
			 WIFSIGNALED(wstatus) ? "died of signal" : "exited with status",
			 WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus));
		goto fail;
	}
	snprintf(r->why, sizeof(r->why), "%s%s", err == -ECONNABORTED ? "the receiver refused: " :
		 "", channel_why(ch, err));
	route_close(r, ch);
fail:
	if (!quiet)
		error_msg("%s: %s: %s", r->cmd, r->dest, r->why);
	return status;
}

/* A user or host name as ssh gets it: one word of these characters, not
 * empty, and not starting with '-' (ssh would take it for an option). */
static bool ssh_word_ok(const char *s, size_t len, const char *allowed)
{
	for (size_t i = 0; i < len; i++)
		if (!s[i] || !strchr(allowed, s[i]))
			return false;
	return len > 0 && s[0] != '-';
}

/*
 * ssh://[USER@]HOST[:PORT] as a --via command, run by $CONTMIG_SSH or ssh.
 * The destination goes into a shell command line and then to ssh's, so the
 * checks apply to what ssh is given, after parsing: USER, HOST without its
 * brackets (ssh://[-oProxyCommand]:22 gives the host -oProxyCommand), and a
 * PORT that net_parse has made sure is a number.
 */
static char *ssh_command(const char *dest)
{
	static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789._-";
	static const char host_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789._-:";	/* ':' in IPv6 */
	const char *ssh = getenv("CONTMIG_SSH"), *target = dest + strlen("ssh://");
	const char *at = strchr(target, '@'), *host = at ? at + 1 : target;
	size_t user_len = at ? (size_t)(at - target) : 0;
	bool has_port = *host == '[' ? strstr(host, "]:") != NULL : strchr(host, ':') != NULL;
	struct net_addr a;
	char *cmd;

	if ((at && !ssh_word_ok(target, user_len, name_chars)) ||
	    net_parse(host, false, NULL, &a) || !ssh_word_ok(a.host, strlen(a.host), host_chars))
		return NULL;
	if (asprintf(&cmd, "%s%s%s %.*s%s%s contmig thaw --stdio", ssh && *ssh ? ssh : "ssh",
		     has_port ? " -p " : "", has_port ? a.port : "", (int)user_len, target,
		     at ? "@" : "", a.host) < 0)
		return NULL;
	return cmd;
}

int route_parse(struct route *r, const char *dest)
{
	r->dest = dest;
	if (!*dest)
		return -EINVAL;
	if (!strncmp(dest, "ssh://", 6)) {
		r->via = ssh_command(dest);
		return r->via ? 0 : -EINVAL;
	}
	return net_parse(dest, false, NULL, &r->addr) ? -EINVAL : 0;
}

int route_set_via(struct route *r, const char *cmd)
{
	free(r->via);
	r->via = strdup(cmd);
	return r->via ? 0 : -ENOMEM;
}
