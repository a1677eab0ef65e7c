#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

/* Without a key, to whom may we send?  Only to a listener of our own user,
 * or root's: anyone else on this machine could have taken the port, and
 * would read the process's memory and have the original ended. */
static int check_receiver(struct route *r, int fd)
{
	uid_t uid;
	int err = net_peer_uid(fd, &uid);

	if (!err && (uid == geteuid() || uid == 0))
		return EXIT_OK;
	if (err == -ENOTCONN) {
		snprintf(r->why, sizeof(r->why), "the connection closed at once");
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

int route_open(struct route *r, struct channel *ch, enum channel_kind kind,
	       const uint8_t id[CHANNEL_ID_BYTES], bool quiet)
{
	char why[NET_WHY];
	int fd, err, status = EXIT_NETWORK;

	r->via_pid = 0;
	if (r->via)
		fd = net_spawn(r->via, &r->via_pid);
	else
		fd = net_connect(&r->addr, r->timeout_ms, why);
	if (fd < 0) {
		if (!r->via && why[0])
			snprintf(r->why, sizeof(r->why), "%s", why);
		else if (r->via)
			snprintf(r->why, sizeof(r->why), "running %.300s: %s", r->via, strerror(-fd));
		else
			snprintf(r->why, sizeof(r->why), "connecting to %s port %s: %s", r->addr.host,
				 r->addr.port, strerror(-fd));
		goto fail;
	}
	if (!r->via && !r->key && net_peer_is_loopback(fd)) {
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
