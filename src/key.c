/* contmig keygen, and loading a key for send and thaw. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "error.h"
#include "exitcode.h"
#include "key.h"

#define KEY_FILE_MAX	4096

/*
 * The channel key.  keygen's files (64 hex digits) hold 256 random bits: they
 * are the key.  Any other secret may be something a person chose, and a peer
 * without the key sees a proof made with it, so it goes through Argon2id
 * (crypto_pwhash): guessing it offline then costs a second and 64 MiB a try.
 */
static int derive(const uint8_t *secret, size_t len, uint8_t key[CHANNEL_KEY_BYTES])
{
	static const uint8_t salt[crypto_pwhash_SALTBYTES] = "contmig key v1";
	size_t bin_len;

	if (len == 2 * CHANNEL_KEY_BYTES &&
	    sodium_hex2bin(key, CHANNEL_KEY_BYTES, (const char *)secret, len, NULL, &bin_len,
			   NULL) == 0 && bin_len == CHANNEL_KEY_BYTES)
		return 0;
	return crypto_pwhash(key, CHANNEL_KEY_BYTES, (const char *)secret, len, salt,
			     crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
			     crypto_pwhash_ALG_ARGON2ID13) ? -ENOMEM : 0;
}

static bool is_symlink(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

/*
 * A key is a secret only its owner can read and only its owner can change:
 * a regular file of ours (or root's: a key root put in /etc), that no one
 * else may read or write.  Someone else's file is refused even when we may
 * read it (root may read any): its owner can read the key, or swap it for
 * one of their own and so take every process sent here.  Said, or true.
 */
static bool key_file_ok(const char *cmd, const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode)) {
		error_msg("%s: key %s: not a regular file", cmd, path);
		return false;
	}
	if (st->st_uid != geteuid() && st->st_uid != 0) {
		struct passwd *pw = getpwuid(st->st_uid);

		error_msg("%s: key %s belongs to uid %u%s%s%s, who could read or replace it; a "
			  "key file must be yours (uid %u) or root's: copy it to one of your "
			  "own, mode 0600", cmd, path, (unsigned)st->st_uid, pw ? " (" : "",
			  pw ? pw->pw_name : "", pw ? ")" : "", (unsigned)geteuid());
		return false;
	}
	if (st->st_mode & 077) {
		error_msg("%s: key %s: others may read or write it; chmod 600 it (and make a "
			  "new key if anyone did)", cmd, path);
		return false;
	}
	return true;
}

int key_load(const char *cmd, const char *path, uint8_t key[CHANNEL_KEY_BYTES])
{
	uint8_t secret[KEY_FILE_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd, err;

	if (sodium_init() < 0) {
		error_msg("%s: libsodium cannot start", cmd);
		return EXIT_INTERNAL;
	}
	/* Not through a symbolic link: whoever may change where it points
	 * chooses our key. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP && is_symlink(path)) {
		error_msg("%s: key %s is a symbolic link; give the key file's own path", cmd, path);
		return EXIT_USAGE;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		err = errno;
		errno_msg(err, "%s: key %s", cmd, path);
		if (fd >= 0)
			close(fd);
		return err == ENOENT || err == EACCES ? EXIT_NOTARGET : EXIT_IO;
	}
	if (!key_file_ok(cmd, path, &st)) {
		close(fd);
		return EXIT_USAGE;
	}
	n = read(fd, secret, sizeof(secret));
	if (n < 0) {
		errno_msg(errno, "%s: reading key %s", cmd, path);
		close(fd);
		return EXIT_IO;
	}
	close(fd);
	while (n > 0 && (secret[n - 1] == '\n' || secret[n - 1] == '\r'))
		n--;
	if (n < KEY_MIN_BYTES || n > KEY_FILE_MAX) {
		error_msg("%s: key %s holds %s%zd bytes; a key is %d to %d bytes "
			  "('contmig keygen FILE' makes one)", cmd, path,
			  n > KEY_FILE_MAX ? "more than " : "", n > KEY_FILE_MAX ? KEY_FILE_MAX : n,
			  KEY_MIN_BYTES, KEY_FILE_MAX);
		sodium_memzero(secret, sizeof(secret));
		return EXIT_USAGE;
	}
	err = derive(secret, n, key);
	sodium_memzero(secret, sizeof(secret));
	if (err) {
		error_msg("%s: deriving the key from %s: out of memory", cmd, path);
		return EXIT_INTERNAL;
	}
	return EXIT_OK;
}

static const char usage[] =
	"Usage: contmig keygen FILE|-\n"
	"Make a new shared key for 'send --key' and 'thaw --listen --key': 32 random\n"
	"bytes from the system's generator, written in hex to FILE (mode 0600; an\n"
	"existing file is never overwritten), or to standard output for '-'. Copy it\n"
	"to the other node over a channel you trust.\n"
	"\n"
	"  -h, --help   show this help\n";

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint8_t raw[32];
	char hex[2 * sizeof(raw) + 2];
	const char *path;
	int opt, fd;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (opt != 'h')
			option_error("keygen", opt, argv);
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (optind != argc - 1)
		usage_error("keygen", "keygen: %s", optind == argc ? "missing FILE" :
			    "too many arguments: give one FILE");
	path = argv[optind];
	if (sodium_init() < 0)
		error_msg_and_die(EXIT_INTERNAL, "keygen: libsodium cannot start");
	fd = !strcmp(path, "-") ? dup(STDOUT_FILENO) :
		open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (!strcmp(path, "-"))
		path = "standard output";
	if (fd < 0) {
		errno_msg(errno, "keygen: creating %s%s", path,
			  errno == EEXIST ? " (a key is never overwritten)" : "");
		return EXIT_IO;
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex) - 1, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	strcat(hex, "\n");
	errno = 0;
	if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) ||
	    (fsync(fd) < 0 && errno != EINVAL)) {	/* EINVAL: a pipe or terminal */
		errno_msg(errno ? errno : EIO, "keygen: writing %s", path);
		close(fd);
		if (strcmp(path, "standard output"))
			unlink(path);
		return EXIT_IO;
	}
	if (close(fd) < 0) {
		errno_msg(errno, "keygen: writing %s", path);
		if (strcmp(path, "standard output"))
			unlink(path);
		return EXIT_IO;
	}
	sodium_memzero(hex, sizeof(hex));
	return EXIT_OK;
}

const struct command command_keygen = {
	.name = "keygen",
	.summary = "make a shared key for send and thaw --listen",
	.usage = usage,
	.run = run,
};
