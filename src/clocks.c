#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clocks.h"

#define NS_PER_S	1000000000LL

static int64_t read_ns(clockid_t clock)
{
	struct timespec ts;

	/* These clocks always exist: it cannot fail. */
	clock_gettime(clock, &ts);
	return ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* The inode of /proc/<who>/ns/<name> in *ino; -errno (-ENOENT: a kernel
 * without time namespaces). */
static int ns_inode(const char *who, const char *name, ino_t *ino)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%s/ns/%s", who, name);
	if (stat(path, &st) < 0)
		return -errno;
	*ino = st.st_ino;
	return 0;
}

/*
 * The offsets of the time namespace of who's children, from
 * /proc/<who>/timens_offsets ("monotonic SEC NSEC", "boottime SEC NSEC"),
 * in ns; both 0 on a kernel without time namespaces.
 */
static int read_offsets(const char *who, int64_t *mono, int64_t *boot)
{
	char path[64], name[16];
	long long sec;
	long nsec;
	int err = 0, seen = 0;
	FILE *f;

	*mono = *boot = 0;
	snprintf(path, sizeof(path), "/proc/%s/timens_offsets", who);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (fscanf(f, "%15s %lld %ld", name, &sec, &nsec) == 3) {
		int64_t ns = sec * NS_PER_S + nsec;

		if (!strcmp(name, "monotonic") || !strcmp(name, "1"))
			*mono = ns, seen |= 1;
		else if (!strcmp(name, "boottime") || !strcmp(name, "7"))
			*boot = ns, seen |= 2;
	}
	if (ferror(f))
		err = -EIO;
	else if (seen != 3)
		err = -EPROTO;
	fclose(f);
	return err;
}

/*
 * The offsets of who's own time namespace: only to be read where it is
 * also its children's (the file shows theirs).  -ESRCH where it is not.
 */
static int own_offsets(const char *who, int64_t *mono, int64_t *boot)
{
	ino_t in = 0, children = 0;
	int err = ns_inode(who, "time", &in);

	*mono = *boot = 0;
	if (err == -ENOENT)
		return 0;		/* no time namespaces at all */
	if (!err)
		err = ns_inode(who, "time_for_children", &children);
	if (err)
		return err;
	return in == children ? read_offsets(who, mono, boot) : -ESRCH;
}

void clocks_boot_id(uint8_t id[16])
{
	char text[64];
	size_t n = 0;
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	memset(id, 0, 16);
	if (!f)
		return;
	if (fgets(text, sizeof(text), f)) {
		for (const char *p = text; *p && n < 32; p++) {
			unsigned v;

			if (*p == '-')
				continue;
			if (sscanf(p, "%1x", &v) != 1)
				break;
			id[n / 2] |= (uint8_t)(v << (n % 2 ? 0 : 4));
			n++;
		}
	}
	fclose(f);
	if (n != 32)
		memset(id, 0, 16);
}

/* The machine's clocks now: what we read less our own namespace's offsets. */
static int host_clocks(int64_t *real, int64_t *mono, int64_t *boot)
{
	int64_t off_mono, off_boot;
	int err = own_offsets("self", &off_mono, &off_boot);

	*real = read_ns(CLOCK_REALTIME);
	*mono = read_ns(CLOCK_MONOTONIC) - off_mono;
	*boot = read_ns(CLOCK_BOOTTIME) - off_boot;
	return err;
}

void clocks_collect(pid_t pid, struct image_clocks *c)
{
	struct image_clocks_rec *r = &c->rec;
	char who[16];
	ino_t ours = 0, theirs = 0, children = 0;
	int err;

	memset(c, 0, sizeof(*c));
	c->known = true;
	err = host_clocks(&r->realtime, &r->monotonic, &r->boottime);
	clocks_boot_id(r->boot_id);
	snprintf(who, sizeof(who), "%d", (int)pid);
	if (!err && ns_inode("self", "time", &ours) == -ENOENT)
		return;			/* no time namespaces: none to carry */
	if (!err)
		err = ns_inode("self", "time", &ours);
	if (!err)
		err = ns_inode(who, "time", &theirs);
	if (!err)
		err = ns_inode(who, "time_for_children", &children);
	if (!err && theirs == ours)
		err = own_offsets("self", &r->ns_monotonic, &r->ns_boottime);
	else if (!err && theirs == children)
		err = read_offsets(who, &r->ns_monotonic, &r->ns_boottime);
	else if (!err)
		err = -ESRCH;		/* it entered one that is not its children's */
	if (err) {
		r->ns_monotonic = r->ns_boottime = 0;
		r->flags |= IMAGE_CLOCKS_OFFSETS_UNKNOWN;
	}
}

/* "1 SEC NSEC\n7 SEC NSEC\n" (clock IDs: every kernel with time namespaces
 * takes them), nsec from 0 to 999999999 as the kernel wants. */
static void offsets_text(int64_t mono, int64_t boot, char *out, size_t len)
{
	int64_t ms = mono / NS_PER_S, mn = mono % NS_PER_S;
	int64_t bs = boot / NS_PER_S, bn = boot % NS_PER_S;

	if (mn < 0)
		ms--, mn += NS_PER_S;
	if (bn < 0)
		bs--, bn += NS_PER_S;
	snprintf(out, len, "%d %lld %lld\n%d %lld %lld\n", CLOCK_MONOTONIC, (long long)ms,
		 (long long)mn, CLOCK_BOOTTIME, (long long)bs, (long long)bn);
}

/* All zeros: no boot id could be read (never the same boot as another). */
static bool known_boot(const uint8_t id[16])
{
	for (int i = 0; i < 16; i++)
		if (id[i])
			return true;
	return false;
}

void clocks_plan(const struct image_clocks *c, bool another_user, struct clocks_plan *p)
{
	const struct image_clocks_rec *r = &c->rec;
	int64_t real, mono, boot, own_mono, own_boot, pause;
	uint8_t boot_id[16];

	memset(p, 0, sizeof(*p));
	if (!c->known)
		return;			/* an older contmig's image: the machine's clocks */
	clocks_boot_id(boot_id);
	if (r->flags & IMAGE_CLOCKS_OFFSETS_UNKNOWN) {
		p->matters = p->lost = true;
		snprintf(p->why, sizeof(p->why), "its source had entered a time namespace whose "
			 "offsets cannot be read (not its children's)");
		return;
	}
	if (host_clocks(&real, &mono, &boot) ||
	    own_offsets("self", &own_mono, &own_boot)) {
		p->matters = p->lost = true;
		snprintf(p->why, sizeof(p->why), "contmig runs in a time namespace whose offsets "
			 "cannot be read");
		return;
	}
	if (!memcmp(boot_id, r->boot_id, sizeof(boot_id)) && known_boot(boot_id)) {
		/* The same boot: these clocks are the source's. */
		p->monotonic = r->ns_monotonic;
		p->boottime = r->ns_boottime;
		p->matters = r->ns_monotonic || r->ns_boottime;
	} else {
		/* Another: what the source's showed, plus the real time since. */
		pause = real > r->realtime ? real - r->realtime : 0;
		p->monotonic = r->monotonic + r->ns_monotonic + pause - mono;
		p->boottime = r->boottime + r->ns_boottime + pause - boot;
		p->matters = true;
	}
	/* Our own namespace's offsets already: the restorer stays in it. */
	p->make = p->monotonic != own_mono || p->boottime != own_boot;
	if (p->make && another_user && (p->monotonic < own_mono || p->boottime < own_boot)) {
		p->make = false;
		p->lost = true;
		snprintf(p->why, sizeof(p->why), "they would be behind this machine's, and it runs "
			 "as another user (the image would choose the time its set-user-ID programs "
			 "see)");
		return;
	}
	if (p->make)
		offsets_text(p->monotonic, p->boottime, p->offsets, sizeof(p->offsets));
}

static void lose(struct clocks_plan *p, int spawn_err)
{
	p->lost = true;
	if (spawn_err == EPERM)
		snprintf(p->why, sizeof(p->why), "making it a time namespace takes root "
			 "(CAP_SYS_ADMIN and CAP_SYS_TIME)");
	else if (spawn_err == EINVAL)
		snprintf(p->why, sizeof(p->why), "this kernel has no time namespaces "
			 "(CONFIG_TIME_NS)");
	else if (spawn_err == ERANGE)
		snprintf(p->why, sizeof(p->why), "this kernel refuses offsets that large");
	else if (spawn_err)
		snprintf(p->why, sizeof(p->why), "making it a time namespace: %s",
			 strerror(spawn_err));
	else
		snprintf(p->why, sizeof(p->why), "the kernel left the restorer out of its time "
			 "namespace");
}

int clocks_check(pid_t pid, struct clocks_plan *p, int spawn_err, char *why, size_t len)
{
	int64_t mono, boot, own_mono, own_boot;
	ino_t ours = 0, theirs = 0;
	char who[16];
	int err;

	if (!p->make)
		return 0;
	snprintf(who, sizeof(who), "%d", (int)pid);
	err = ns_inode("self", "time", &ours);
	if (err == -ENOENT) {
		lose(p, spawn_err ? spawn_err : EINVAL);
		return 0;
	}
	if (!err)
		err = ns_inode(who, "time", &theirs);
	if (err)
		return say_why(err, why, len, "reading the restorer's time namespace "
			       "(/proc/%d/ns/time): %s", (int)pid, strerror(-err));
	if (theirs == ours) {
		lose(p, spawn_err);
		return 0;
	}
	/* Its own now, and its children's (exec moved it there). */
	err = read_offsets(who, &mono, &boot);
	if (!err)
		err = own_offsets("self", &own_mono, &own_boot);
	if (err)
		return say_why(err, why, len, "reading the restorer's time namespace offsets "
			       "(/proc/%d/timens_offsets): %s", (int)pid, strerror(-err));
	if (mono == p->monotonic && boot == p->boottime)
		return 0;
	if (spawn_err && mono == own_mono && boot == own_boot) {
		lose(p, spawn_err);	/* made, but its offsets refused: ours */
		return 0;
	}
	return say_why(-EPROTO, why, len, "the restorer's time namespace has the offsets "
		       "%lld and %lld ns, not %lld and %lld", (long long)mono, (long long)boot,
		       (long long)p->monotonic, (long long)p->boottime);
}

void clocks_summary(const struct clocks_plan *p, char *out, size_t len)
{
	if (!p->matters || p->lost)
		snprintf(out, len, "%s", "");
	else
		snprintf(out, len, "clocks continued (%+.1f s)", p->monotonic / 1e9);
}

bool clocks_may_continue(void)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
	ino_t ino;

	if (ns_inode("self", "time", &ino) || syscall(SYS_capget, &header, caps) < 0)
		return false;
	return caps[CAP_SYS_ADMIN / 32].effective & 1U << (CAP_SYS_ADMIN % 32) &&
	       caps[CAP_SYS_TIME / 32].effective & 1U << (CAP_SYS_TIME % 32);
}
