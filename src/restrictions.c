#include "config.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "restrictions.h"
#include "procfs.h"

/* Capabilities by number, as setpriv(1) and capabilities(7) name them. */
static const char *const cap_names[] = {
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid",
	"setuid", "setpcap", "linux_immutable", "net_bind_service", "net_broadcast",
	"net_admin", "net_raw", "ipc_lock", "ipc_owner", "sys_module", "sys_rawio",
	"sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
	"sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write",
	"audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
	"block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};
#define NCAP_NAMES	(sizeof(cap_names) / sizeof(cap_names[0]))

/* Resource limits by number, as prlimit(1) names them. */
static const char *const rlimit_names[IMAGE_MAX_RLIMITS] = {
	"cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile", "memlock", "as",
	"locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime",
};

const char *restrictions_rlimit_name(int res)
{
	return res >= 0 && res < IMAGE_MAX_RLIMITS ? rlimit_names[res] : "?";
}

static const char *const cap_set_names[IMAGE_NCAPS] = {
	"effective", "permitted", "inheritable", "bounding", "ambient",
};
static const char *const cap_set_keys[IMAGE_NCAPS] = {
	"CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb",
};

const char *restrictions_cap_names(uint64_t caps, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < 64 && at < len; i++) {
		if (!(caps & 1ULL << i))
			continue;
		if (i < NCAP_NAMES)
			at += snprintf(buf + at, len - at, "%s%s", at ? " " : "", cap_names[i]);
		else
			at += snprintf(buf + at, len - at, "%scap_%u", at ? " " : "", i);
	}
	return buf;
}

/* The capability sets and no_new_privs in pid's status: which were there
 * into *flags (IMAGE_LIMITS_CAPS, IMAGE_LIMITS_NNP). */
static int read_status(pid_t pid, uint64_t cap[IMAGE_NCAPS], uint32_t *nnp, uint32_t *flags)
{
	uint64_t v = 0;
	char *text;
	int err = procfs_read_file(pid, "status", &text, NULL), found = 1;

	*flags = 0;
	if (err)
		return err;
	for (int i = 0; i < IMAGE_NCAPS && found > 0; i++) {
		found = procfs_status_number(text, cap_set_keys[i], 16, &cap[i]);
		/* A kernel without ambient capabilities (before 4.3) has none
		 * to give: raising one there fails, and refuses the move. */
		if (!found && i == IMAGE_CAP_AMB) {
			cap[i] = 0;
			found = 1;
		}
	}
	if (found > 0)
		*flags |= IMAGE_LIMITS_CAPS;
	err = found < 0 ? found : 0;
	found = err ? 0 : procfs_status_number(text, "NoNewPrivs", 10, &v);
	if (found > 0 && v <= 1) {
		*nnp = v;
		*flags |= IMAGE_LIMITS_NNP;
	}
	free(text);
	return err ? err : found < 0 ? found : 0;
}

static int read_personality(pid_t pid, uint32_t *persona)
{
	unsigned long v;
	char *text, *end;
	int err = procfs_read_file(pid, "personality", &text, NULL);

	if (err)
		return err;
	errno = 0;
	v = strtoul(text, &end, 16);
	err = end == text || errno || v > UINT32_MAX || (*end != '\n' && *end) ? -EINVAL : 0;
	*persona = v;
	free(text);
	return err;
}

/* A limit as /proc/PID/limits shows it: "unlimited" or a decimal. */
static int parse_limit(const char *text, uint64_t *v)
{
	char *end;

	if (!strcmp(text, "unlimited")) {
		*v = UINT64_MAX;
		return 0;
	}
	errno = 0;
	*v = strtoull(text, &end, 10);
	return end == text || *end || errno || *text == '-' ? -EINVAL : 0;
}

/*
 * Every resource limit of pid, from /proc/PID/limits: a line each, in the
 * order of their numbers, the soft and the hard limit after the name's 26
 * columns.  (prlimit(2) on another user's process needs CAP_SYS_RESOURCE,
 * which a root without it lacks; the file anyone may read.)
 */
static int read_rlimits(pid_t pid, struct image_rlimit rlim[IMAGE_MAX_RLIMITS])
{
	char *text, *line, *next;
	int err = procfs_read_file(pid, "limits", &text, NULL), n = -1;

	if (err)
		return err;
	for (line = text; !err && *line; line = next) {
		char soft[32], hard[32];

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		if (n++ < 0)
			continue;	/* the heading */
		if (n > IMAGE_MAX_RLIMITS)
			break;		/* a newer kernel's: not in an image */
		if (strlen(line) < 26 ||
		    sscanf(line + 26, "%31s %31s", soft, hard) != 2)
			err = -EINVAL;
		if (!err)
			err = parse_limit(soft, &rlim[n - 1].cur);
		if (!err)
			err = parse_limit(hard, &rlim[n - 1].max);
	}
	free(text);
	return err ? err : n >= IMAGE_MAX_RLIMITS ? 0 : -EINVAL;
}

int restrictions_label(pid_t pid, char label[IMAGE_MAX_LABEL])
{
	size_t len;
	char *text;
	int err = procfs_read_file(pid, "attr/current", &text, &len);

	label[0] = '\0';
	/* No LSM that labels processes: nothing to name. */
	if (err == -ENOENT || err == -EINVAL || err == -EOPNOTSUPP)
		return 0;
	if (err)
		return err;
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\0'))
		len--;
	text[len] = '\0';
	if (strcmp(text, "unconfined"))
		snprintf(label, IMAGE_MAX_LABEL, "%.*s", (int)strnlen(text, len), text);
	free(text);
	return 0;
}

/* Is pid not dumpable (PR_SET_DUMPABLE 0, a set-user-ID program)?  Its
 * /proc files (not /proc/PID itself) are then its root's, not its
 * effective user's (proc(5)). */
static bool not_dumpable(pid_t pid)
{
	struct proc_creds c;
	struct stat st;
	char path[64];
	bool no = false;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (stat(path, &st) == 0 && procfs_read_creds(pid, &c) == 0) {
		no = st.st_uid != c.uid[1];
		proc_creds_free(&c);
	}
	return no;
}

int restrictions_collect(pid_t pid, struct image_limits *out)
{
	uint32_t flags;
	int err;

	memset(out, 0, sizeof(*out));
	err = read_status(pid, out->rec.cap, &out->rec.no_new_privs, &flags);
	if (err)
		return err;
	out->rec.flags = flags;
	if (!read_personality(pid, &out->rec.personality))
		out->rec.flags |= IMAGE_LIMITS_PERSONALITY;
	err = read_rlimits(pid, out->rlim);
	if (err)
		return err;
	out->rec.flags |= IMAGE_LIMITS_RLIMITS;
	out->rec.nrlimits = IMAGE_MAX_RLIMITS;
	if (!restrictions_label(pid, out->label) && *out->label)
		out->rec.flags |= IMAGE_LIMITS_LSM;
	if (not_dumpable(pid))
		out->rec.flags |= IMAGE_LIMITS_NOT_DUMPABLE;
	out->known = true;
	return 0;
}

/*
 * What the copy could not be shown to keep, refused by name (0, or -EBADMSG
 * with why):
 * - capabilities held in a user namespace of the source's own: /proc shows
 *   them as they count there, and in the receiver's namespace the same bits
 *   would be real ones;
 * - a root process holding fewer capabilities than its bounding set allows:
 *   only securebits (SECBIT_NOROOT), which no interface shows from outside
 *   it, keep it from taking them all back at its next execve, and the copy
 *   would not have them.
 */
int restrictions_refusal(pid_t pid, const struct image_limits *l, uid_t uid, char *why,
			 size_t len)
{
	const uint64_t *cap = l->rec.cap;
	char path[64];
	struct stat mine, theirs;

	if (!l->known || !(l->rec.flags & IMAGE_LIMITS_CAPS))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	if (stat(path, &theirs) == 0 && stat("/proc/self/ns/user", &mine) == 0 &&
	    (theirs.st_ino != mine.st_ino || theirs.st_dev != mine.st_dev) &&
	    (cap[IMAGE_CAP_EFF] | cap[IMAGE_CAP_PRM] | cap[IMAGE_CAP_INH] | cap[IMAGE_CAP_AMB])) {
		snprintf(why, len, "it holds capabilities in a user namespace of its own, which "
			 "would be real ones in its copy's; contmig does not move such a process");
		return -EBADMSG;
	}
	if (uid == 0 && cap[IMAGE_CAP_PRM] != cap[IMAGE_CAP_BND]) {
		snprintf(why, len, "it runs as root with fewer capabilities than its bounding set "
			 "allows: only securebits, which cannot be read from outside it, keep it "
			 "from taking them back at its next execve; drop them from its bounding "
			 "set too (setpriv --bounding-set), and it can move");
		return -EBADMSG;
	}
	return 0;
}

/* ---- on the receiver --------------------------------------------------- */

/* Add "text" to a one-line warning. */
static void warn(char *warning, size_t len, const char *text)
{
	size_t at = strlen(warning);

	if (at < len - 1)
		snprintf(warning + at, len - at, "%s%s", at ? "; " : "", text);
}

/* prlimit64(0, res, new, old) in r, the limits on a scratch page. */
static long remote_prlimit(struct remote *r, long page, int res, const struct image_rlimit *want,
			   struct image_rlimit *old)
{
	long ret = want ? remote_write(r, page, want, sizeof(*want)) : 0;

	if (!ret)
		ret = remote_syscall(r, SYS_prlimit64, 0, res, want ? page : 0,
				     old ? page + sizeof(*want) : 0, 0, 0);
	if (ret >= 0 && old)
		ret = remote_read(r, page + sizeof(*want), old, sizeof(*old));
	return ret;
}

/*
 * The source's resource limits, set by r itself: exactly where it may (it
 * has CAP_SYS_RESOURCE: a copy running as root); otherwise no hard limit
 * above the one it has, which is less, never more.
 */
static int impose_rlimits(const struct image_limits *l, struct remote *r, long page,
			  char *warning, size_t warning_len, char *why, size_t why_len)
{
	for (int i = 0; i < (int)l->rec.nrlimits; i++) {
		struct image_rlimit want = l->rlim[i], have;
		char text[160];
		long ret = remote_prlimit(r, page, i, NULL, &have);

		if (ret < 0)
			return say_why(ret, why, why_len, "reading the restorer's %s limit: %s",
				   rlimit_names[i], strerror(-ret));
		ret = remote_prlimit(r, page, i, &want, NULL);
		if (ret == -EPERM && want.max > have.max) {
			want.max = have.max;
			if (want.cur > want.max)
				want.cur = want.max;
			ret = remote_prlimit(r, page, i, &want, NULL);
			snprintf(text, sizeof(text), "the %s limit is %llu/%llu, below its source's "
				 "(this receiver may not raise a hard limit)", rlimit_names[i],
				 (unsigned long long)want.cur, (unsigned long long)want.max);
			if (ret >= 0)
				warn(warning, warning_len, text);
		}
		if (ret < 0)
			return say_why(ret, why, why_len, "setting the %s limit to %llu/%llu: %s",
				   rlimit_names[i], (unsigned long long)want.cur,
				   (unsigned long long)want.max, strerror(-ret));
	}
	return 0;
}

/* capset(2) in r, its arguments on a scratch page. */
static long remote_capset(struct remote *r, uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct {
		struct __user_cap_header_struct header;
		struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	} arg = {
		.header = { .version = _LINUX_CAPABILITY_VERSION_3 },
		.data = { { (uint32_t)eff, (uint32_t)prm, (uint32_t)inh },
			  { eff >> 32, prm >> 32, inh >> 32 } },
	};
	long page = remote_mmap(r, 0, IMAGE_PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), ret, unmapped;

	if (page < 0)
		return page;
	ret = remote_write(r, page, &arg, sizeof(arg));
	if (!ret)
		ret = remote_syscall(r, SYS_capset, page, page + sizeof(arg.header), 0, 0, 0, 0);
	unmapped = remote_munmap(r, page, IMAGE_PAGE);
	return ret < 0 ? ret : unmapped;
}

/*
 * The source's capabilities, in r when it may set them (it has
 * CAP_SETPCAP: a copy running as root): the bounding set first (dropping
 * needs CAP_SETPCAP), the ambient ones (raising needs them permitted and
 * inheritable), then capset.  A restorer with none (a copy not running as
 * root: remote_spawn dropped them all) gets none: said in the warning.
 */
static int impose_caps(const struct image_limits *l, struct remote *r, char *warning,
		       size_t warning_len, char *why, size_t why_len)
{
	const uint64_t *src = l->rec.cap;
	uint64_t have[IMAGE_NCAPS], lacking = 0;
	uint32_t nnp, flags;
	char names[400], text[460];
	long ret;
	int err = read_status(r->pid, have, &nnp, &flags);

	if (!err && !(flags & IMAGE_LIMITS_CAPS))
		err = -ENOTSUP;
	if (err)
		return say_why(err, why, why_len, "reading the restorer's capabilities: %s",
			   strerror(-err));
	if (have[IMAGE_CAP_EFF] & 1ULL << CAP_SETPCAP) {
		for (unsigned cap = 0; cap < 64; cap++) {
			if (!(have[IMAGE_CAP_BND] & ~src[IMAGE_CAP_BND] & 1ULL << cap))
				continue;
			ret = remote_syscall(r, SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0, 0);
			if (ret < 0)
				return say_why(ret, why, why_len, "dropping %s from the bounding set: "
					   "%s", restrictions_cap_names(1ULL << cap, names, sizeof(names)),
					   strerror(-ret));
		}
		ret = src[IMAGE_CAP_AMB] ? remote_capset(r, have[IMAGE_CAP_EFF],
							 have[IMAGE_CAP_PRM], src[IMAGE_CAP_INH]) : 0;
		if (ret < 0)
			return say_why(ret, why, why_len, "setting the inheritable capabilities: %s",
				   strerror(-ret));
		for (unsigned cap = 0; cap < 64; cap++) {
			if (!(src[IMAGE_CAP_AMB] & 1ULL << cap))
				continue;
			ret = remote_syscall(r, SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap,
					     0, 0, 0);
			if (ret < 0)
				return say_why(ret, why, why_len, "raising the ambient capability %s: "
					   "%s", restrictions_cap_names(1ULL << cap, names, sizeof(names)),
					   strerror(-ret));
		}
		ret = remote_capset(r, src[IMAGE_CAP_EFF], src[IMAGE_CAP_PRM], src[IMAGE_CAP_INH]);
		if (ret < 0)
			return say_why(ret, why, why_len, "setting the capabilities to effective 0x%llx, "
				   "permitted 0x%llx, inheritable 0x%llx: %s",
				   (unsigned long long)src[IMAGE_CAP_EFF],
				   (unsigned long long)src[IMAGE_CAP_PRM],
				   (unsigned long long)src[IMAGE_CAP_INH], strerror(-ret));
		return 0;
	}
	for (int i = 0; i < IMAGE_NCAPS; i++)
		if (i != IMAGE_CAP_BND)
			lacking |= src[i] & ~have[i];
	/* (A root process's forty are counted, not named: the rest of the
	 * line, the clocks say, must fit too.) */
	if (lacking && __builtin_popcountll(lacking) > 6)
		snprintf(text, sizeof(text), "it runs without the %d capabilities its source had "
			 "(inspect names them): only a copy running as root gets any",
			 __builtin_popcountll(lacking));
	else if (lacking)
		snprintf(text, sizeof(text), "it runs without the capabilities its source had (%s): "
			 "only a copy running as root gets any",
			 restrictions_cap_names(lacking, names, sizeof(names)));
	if (lacking)
		warn(warning, warning_len, text);
	return 0;
}

int restrictions_impose(const struct image_limits *l, struct remote *r, char *warning,
		  size_t warning_len, char *why, size_t why_len)
{
	long ret, page;
	int err;

	/* (warning may hold what the restore said before: added to.) */
	if (!l->known)
		return 0;
	page = remote_mmap(r, 0, IMAGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
	if (page < 0)
		return say_why(page, why, why_len, "scratch page: %s", strerror(-page));
	err = impose_rlimits(l, r, page, warning, warning_len, why, why_len);
	ret = remote_munmap(r, page, IMAGE_PAGE);
	if (!err && ret < 0)
		err = say_why(ret, why, why_len, "scratch page: %s", strerror(-ret));
	if (err)
		return err;
	if (l->rec.flags & IMAGE_LIMITS_PERSONALITY) {
		ret = remote_syscall(r, SYS_personality, l->rec.personality, 0, 0, 0, 0, 0);
		if (ret < 0)
			return say_why(ret, why, why_len, "setting the personality 0x%x: %s",
				   l->rec.personality, strerror(-ret));
	}
	if (l->rec.flags & IMAGE_LIMITS_CAPS) {
		err = impose_caps(l, r, warning, warning_len, why, why_len);
		if (err)
			return err;
	}
	if (l->rec.flags & IMAGE_LIMITS_NNP && l->rec.no_new_privs) {
		ret = remote_syscall(r, SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
		if (ret < 0)
			return say_why(ret, why, why_len, "setting no_new_privs: %s", strerror(-ret));
	}
	return 0;
}

int restrictions_verify(pid_t pid, const struct image_limits *l, char *why, size_t why_len)
{
	struct image_rlimit rlim[IMAGE_MAX_RLIMITS];
	uint64_t have[IMAGE_NCAPS];
	uint32_t nnp = 0, flags, persona;
	char names[400];
	int err;

	if (!l->known)
		return 0;
	err = read_status(pid, have, &nnp, &flags);
	if (err)
		return say_why(err, why, why_len, "reading the restorer's status: %s", strerror(-err));
	for (int i = 0; i < IMAGE_NCAPS && l->rec.flags & IMAGE_LIMITS_CAPS; i++)
		if (!(flags & IMAGE_LIMITS_CAPS) || have[i] & ~l->rec.cap[i])
			return say_why(-EPERM, why, why_len, "the restorer holds %s capabilities its "
				   "source had not: %s", cap_set_names[i],
				   restrictions_cap_names(have[i] & ~l->rec.cap[i], names, sizeof(names)));
	if (l->rec.flags & IMAGE_LIMITS_NNP && l->rec.no_new_privs &&
	    !(flags & IMAGE_LIMITS_NNP && nnp))
		return say_why(-EPERM, why, why_len, "the restorer lacks its source's no_new_privs");
	if (l->rec.flags & IMAGE_LIMITS_PERSONALITY) {
		err = read_personality(pid, &persona);
		if (err)
			return say_why(err, why, why_len, "reading the restorer's personality: %s",
				   strerror(-err));
		if (persona != l->rec.personality)
			return say_why(-EPERM, why, why_len, "the restorer's personality is 0x%x, not its "
				   "source's 0x%x", persona, l->rec.personality);
	}
	err = l->rec.nrlimits ? read_rlimits(pid, rlim) : 0;
	if (err)
		return say_why(err, why, why_len, "reading the restorer's limits: %s", strerror(-err));
	for (int i = 0; i < (int)l->rec.nrlimits; i++) {
		const struct image_rlimit rl = rlim[i];

		if (rl.cur > l->rlim[i].cur || rl.max > l->rlim[i].max)
			return say_why(-EPERM, why, why_len, "the restorer's %s limit %llu/%llu is above "
				   "its source's %llu/%llu", rlimit_names[i],
				   (unsigned long long)rl.cur, (unsigned long long)rl.max,
				   (unsigned long long)l->rlim[i].cur,
				   (unsigned long long)l->rlim[i].max);
	}
	return 0;
}
