#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "creds.h"
#include "escape.h"
#include "procfs.h"

/* ---- the user and group databases ------------------------------------- */

/* A group of many members can take a large buffer; beyond this, give up. */
#define LOOKUP_BUF_MAX	(16UL << 20)

/* The answer of a get{pw,gr}{nam,uid,gid}_r: 1 found, 0 no such entry, or
 * -errno.  "No such entry" may come as 0 with no result or as one of these
 * (getpwnam(3)). */
static int lookup_result(int ret, const void *result)
{
	if (ret == 0)
		return result != NULL;
	if (ret == ENOENT || ret == ESRCH || ret == EBADF || ret == EPERM)
		return 0;
	return -ret;
}

/* The user called name (or, name NULL, with uid uid) into *pw, whose
 * strings live in *buf (malloc'd, to free whatever the answer). */
static int find_user(const char *name, uid_t uid, struct passwd *pw, char **buf)
{
	size_t len = 1024;

	*buf = NULL;
	for (;;) {
		struct passwd *res = NULL;
		char *b = realloc(*buf, len);
		int ret;

		if (!b)
			return -ENOMEM;
		*buf = b;
		ret = name ? getpwnam_r(name, pw, b, len, &res) : getpwuid_r(uid, pw, b, len, &res);
		if (ret != ERANGE || len >= LOOKUP_BUF_MAX)
			return lookup_result(ret, res);
		len *= 2;
	}
}

/* The same for a group. */
static int find_group(const char *name, gid_t gid, struct group *gr, char **buf)
{
	size_t len = 1024;

	*buf = NULL;
	for (;;) {
		struct group *res = NULL;
		char *b = realloc(*buf, len);
		int ret;

		if (!b)
			return -ENOMEM;
		*buf = b;
		ret = name ? getgrnam_r(name, gr, b, len, &res) : getgrgid_r(gid, gr, b, len, &res);
		if (ret != ERANGE || len >= LOOKUP_BUF_MAX)
			return lookup_result(ret, res);
		len *= 2;
	}
}

/* ---- at the freeze ----------------------------------------------------- */

/* The name of a user (user) or group id here, malloc'd: "" when it has
 * none, or one too long for an image. */
static int name_of(bool user, uint32_t id, char **name)
{
	struct passwd pw;
	struct group gr;
	const char *s = "";
	char *buf;
	int found = user ? find_user(NULL, id, &pw, &buf) : find_group(NULL, id, &gr, &buf);

	if (found > 0)
		s = user ? pw.pw_name : gr.gr_name;
	if (strlen(s) >= IMAGE_MAX_NAME)
		s = "";
	*name = found < 0 ? NULL : strdup(s);
	free(buf);
	return found < 0 ? found : *name ? 0 : -ENOMEM;
}

int creds_collect(pid_t pid, struct image_creds *out)
{
	struct proc_creds pc;
	int err = procfs_read_creds(pid, &pc);

	memset(out, 0, sizeof(*out));
	if (err)
		return err;
	out->known = true;
	for (int i = 0; i < IMAGE_NIDS; i++) {
		out->uid[i] = pc.uid[i];
		out->gid[i] = pc.gid[i];
	}
	out->groups = calloc(pc.ngroups ? pc.ngroups : 1, sizeof(*out->groups));
	err = out->groups ? 0 : -ENOMEM;
	if (!err)
		err = name_of(true, out->uid[IMAGE_ID_EFFECTIVE], &out->user);
	if (!err)
		err = name_of(false, out->gid[IMAGE_ID_EFFECTIVE], &out->group);
	for (size_t i = 0; !err && i < pc.ngroups; i++) {
		out->groups[i].gid = pc.groups[i];
		err = name_of(false, pc.groups[i], &out->groups[i].name);
		if (!err)
			out->ngroups++;
	}
	proc_creds_free(&pc);
	if (err)
		image_creds_free(out);
	return err;
}

/* ---- on the receiver --------------------------------------------------- */

/* A name from an image (or the user database), fit for a message. */
static const char *shown(const char *name, char buf[IMAGE_MAX_NAME])
{
	return escape_text(buf, IMAGE_MAX_NAME, name, IMAGE_MAX_NAME);
}

/* "bob (uid 1001)", or "uid 1001" for a uid with no name here. */
static const char *describe_uid(uid_t uid, char *buf, size_t len)
{
	char name[IMAGE_MAX_NAME], *pwbuf;
	struct passwd pw;

	if (find_user(NULL, uid, &pw, &pwbuf) > 0)
		snprintf(buf, len, "%s (uid %u)", shown(pw.pw_name, name), (unsigned)uid);
	else
		snprintf(buf, len, "uid %u", (unsigned)uid);
	free(pwbuf);
	return buf;
}

/* Did the process run as one user and one group, its real, effective,
 * saved and filesystem IDs alike (not a set-user-ID program's mix)? */
static bool one_user(const struct image_creds *c)
{
	for (int i = 1; i < IMAGE_NIDS; i++)
		if (c->uid[i] != c->uid[0] || c->gid[i] != c->gid[0])
			return false;
	return true;
}

/* user's groups here, as initgroups(3) would give them (gid, its primary
 * group, among them), into *groups (malloc'd) and *n. */
static int groups_here(const char *user, gid_t gid, gid_t **groups, size_t *n, char *why,
		       size_t len)
{
	char name[IMAGE_MAX_NAME];
	int room = 32;

	for (;;) {
		gid_t *g = realloc(*groups, room * sizeof(gid_t));
		int want = room;

		if (!g)
			return say_why(-ENOMEM, why, len, "out of memory");
		*groups = g;
		if (getgrouplist(user, gid, g, &want) >= 0) {
			*n = want;
			return 0;
		}
		/* want is now how many there are. */
		if (want <= room || want > IMAGE_MAX_GROUPS)
			return say_why(-EIO, why, len, "cannot list the groups of %s",
				   shown(user, name));
		room = want;
	}
}

/* --as USER: USER, USER's primary group and USER's groups here, as
 * initgroups(3) would give them. */
static int as_named_user(const char *as_user, struct creds *out, char *why, size_t len)
{
	char name[IMAGE_MAX_NAME], *buf;
	struct passwd pw;
	int err, found = find_user(as_user, 0, &pw, &buf);

	if (found <= 0) {
		free(buf);
		return found < 0 ? say_why(found, why, len, "looking up the user %s: %s",
				       shown(as_user, name), strerror(-found)) :
			say_why(-EPERM, why, len, "--as %s: no such user on this machine",
			    shown(as_user, name));
	}
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	shown(pw.pw_name, out->user);
	err = groups_here(pw.pw_name, pw.pw_gid, &out->groups, &out->ngroups, why, len);
	free(buf);
	if (err)
		return err;
	out->change = true;
	return 0;
}

/* Add a group the image names but this machine lacks to the warning. */
static void note_dropped(struct creds *out, const char *name, uint32_t gid, const char *role)
{
	size_t at = strlen(out->warning);
	char shown_name[IMAGE_MAX_NAME];

	if (!at)
		at = snprintf(out->warning, sizeof(out->warning), "the image's groups that its "
			      "user does not have on this machine are left out:");
	if (at >= sizeof(out->warning) - 1)
		return;
	if (*name)
		snprintf(out->warning + at, sizeof(out->warning) - at, " %s%s",
			 shown(name, shown_name), role);
	else
		snprintf(out->warning + at, sizeof(out->warning) - at, " gid %u (no name)%s",
			 gid, role);
}

/* The names of groups here (n of them), malloc'd, "" for one with none. */
static int group_names(const gid_t *groups, size_t n, char ***names)
{
	int err = 0;

	*names = calloc(n ? n : 1, sizeof(**names));
	if (!*names)
		return -ENOMEM;
	for (size_t i = 0; !err && i < n; i++)
		err = name_of(false, groups[i], &(*names)[i]);
	return err;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/* Among the user's groups here (gids, with their names), the one called
 * name: true with *gid set, or false. */
static bool group_called(const char *name, const gid_t *gids, char **names, size_t n,
			 gid_t *gid)
{
	for (size_t i = 0; *name && i < n; i++)
		if (!strcmp(names[i], name)) {
			*gid = gids[i];
			return true;
		}
	return false;
}

/* A root receiver: the image's user, found here by name, with those of the
 * image's groups (by name) that this user has here: an image may name any
 * group (its writer chose its bytes), and a group the user lacks here
 * would be more than its source had.  Only the user's own groups are
 * looked up, however many the image names. */
static int as_image_user(const struct image_creds *c, struct creds *out, char *why, size_t len)
{
	char name[IMAGE_MAX_NAME], role[IMAGE_MAX_NAME + 64], *buf, **names = NULL;
	gid_t *mine = NULL, gid;
	size_t nmine = 0;
	struct passwd pw;
	int found, err;

	if (!*c->user)
		return say_why(-EPERM, why, len, "the image's user (uid %u) had no name on its "
			   "machine, so none to find here; --as USER picks one",
			   c->uid[IMAGE_ID_EFFECTIVE]);
	found = find_user(c->user, 0, &pw, &buf);
	err = found > 0 ? groups_here(pw.pw_name, pw.pw_gid, &mine, &nmine, why, len) : 0;
	if (found > 0) {
		out->uid = pw.pw_uid;
		out->gid = pw.pw_gid;
		shown(pw.pw_name, out->user);
	}
	free(buf);
	if (found < 0)
		err = say_why(found, why, len, "looking up the image's user %s: %s",
			  shown(c->user, name), strerror(-found));
	else if (!found)
		err = say_why(-EPERM, why, len, "the image's user %s does not exist on this machine; "
			  "--as USER picks one", shown(c->user, name));
	if (!err && (found = group_names(mine, nmine, &names)) < 0)
		err = say_why(found, why, len, "looking up the groups of %s: %s", out->user,
			  strerror(-found));
	if (!err && !(out->groups = malloc((c->ngroups ? c->ngroups : 1) * sizeof(gid_t))))
		err = say_why(-ENOMEM, why, len, "out of memory");
	if (err)
		goto out;
	/* Without its own group here, the copy takes its user's. */
	if (group_called(c->group, mine, names, nmine, &gid)) {
		out->gid = gid;
	} else {
		snprintf(role, sizeof(role), " (its group: the copy has %s's, gid %u)", out->user,
			 (unsigned)out->gid);
		note_dropped(out, c->group, c->gid[IMAGE_ID_EFFECTIVE], role);
	}
	for (size_t i = 0; i < c->ngroups; i++) {
		const struct image_group *g = &c->groups[i];

		if (group_called(g->name, mine, names, nmine, &gid))
			out->groups[out->ngroups++] = gid;
		else if (g->gid != c->gid[IMAGE_ID_EFFECTIVE] || strcmp(g->name, c->group))
			note_dropped(out, g->name, g->gid, "");	/* its group: said already */
	}
	out->change = true;
out:
	free_names(names, nmine);
	free(mine);
	return err;
}

/* Any other receiver: only its own user's processes, which it could have
 * run itself; they run as it does. */
static int own_user_only(const struct image_creds *c, char *why, size_t len)
{
	char name[IMAGE_MAX_NAME], me_text[IMAGE_MAX_NAME + 32], *buf;
	uid_t me = geteuid();
	struct passwd pw;
	bool mine;
	int found;

	describe_uid(me, me_text, sizeof(me_text));
	if (!*c->user) {
		if (c->uid[IMAGE_ID_EFFECTIVE] == me)
			return 0;
		return say_why(-EPERM, why, len, "the image's process ran as uid %u (no name); this "
			   "receiver runs as %s and takes only its own user's processes",
			   c->uid[IMAGE_ID_EFFECTIVE], me_text);
	}
	found = find_user(c->user, 0, &pw, &buf);
	mine = found > 0 && pw.pw_uid == me;
	free(buf);
	if (found < 0)
		return say_why(found, why, len, "looking up the image's user %s: %s",
			   shown(c->user, name), strerror(-found));
	if (mine)
		return 0;
	return say_why(-EPERM, why, len, "the image's process ran as %s%s; this receiver runs as %s "
		   "and takes only its own user's processes", shown(c->user, name),
		   found ? "" : ", who does not exist on this machine", me_text);
}

int restore_credentials(const struct image *im, const char *as_user, struct creds *out,
			char *why, size_t why_len)
{
	const struct image_creds *c = &im->creds;
	bool root = geteuid() == 0;
	int err;

	memset(out, 0, sizeof(*out));
	why[0] = '\0';
	if (as_user && !root)
		return say_why(-EPERM, why, why_len, "--as is for root: any other receiver runs what "
			   "it restores as itself");
	if (as_user)
		err = as_named_user(as_user, out, why, why_len);
	else if (!c->known)
		/* An image from before the note: a receiver that is not root
		 * runs it as itself, as it always did. */
		err = root ? say_why(-EPERM, why, why_len, "the image does not say which user its "
				 "process ran as (an older contmig wrote it); --as USER picks "
				 "one") : 0;
	else if (!one_user(c))
		err = say_why(-EPERM, why, why_len, "the image's process ran with uids %u/%u/%u/%u and "
			  "gids %u/%u/%u/%u (real/effective/saved/filesystem), as a set-user-ID or "
			  "set-group-ID program does; contmig restores a process as one user%s",
			  c->uid[0], c->uid[1], c->uid[2], c->uid[3], c->gid[0], c->gid[1],
			  c->gid[2], c->gid[3], root ? "; --as USER picks one" : "");
	else
		err = root ? as_image_user(c, out, why, why_len) : own_user_only(c, why, why_len);
	if (err)
		creds_free(out);
	out->bounding = im->limits.known && im->limits.rec.flags & IMAGE_LIMITS_CAPS ?
		im->limits.rec.cap[IMAGE_CAP_BND] : ~0ULL;
	return err;
}

static int compare_gid(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;

	return x < y ? -1 : x > y;
}

/* The same groups, whatever their order (the kernel sorts them). */
static int same_groups(const gid_t *want, size_t nwant, gid_t *have, size_t nhave)
{
	gid_t *sorted;
	bool same;

	if (nwant != nhave)
		return 0;
	if (!nwant)
		return 1;
	sorted = malloc(nwant * sizeof(gid_t));
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, want, nwant * sizeof(gid_t));
	qsort(sorted, nwant, sizeof(gid_t), compare_gid);
	qsort(have, nhave, sizeof(gid_t), compare_gid);
	same = !memcmp(sorted, have, nwant * sizeof(gid_t));
	free(sorted);
	return same;
}

int creds_verify(pid_t pid, const struct creds *c, char *why, size_t why_len)
{
	struct proc_creds pc;
	int err, same;

	if (!c || !c->change)
		return 0;
	err = procfs_read_creds(pid, &pc);
	if (err)
		return say_why(err, why, why_len, "reading the restorer's credentials: %s",
			   strerror(-err));
	same = same_groups(c->groups, c->ngroups, pc.groups, pc.ngroups);
	for (int i = 0; i < IMAGE_NIDS && same > 0; i++)
		if (pc.uid[i] != c->uid || pc.gid[i] != c->gid)
			same = 0;
	if (same < 0)
		err = say_why(same, why, why_len, "out of memory");
	else if (!same)
		err = say_why(-EPERM, why, why_len, "the restorer runs as uid %u, gid %u with %zu "
			  "groups, not as %s (uid %u, gid %u, %zu groups)", (unsigned)pc.uid[1],
			  (unsigned)pc.gid[1], pc.ngroups, c->user, (unsigned)c->uid,
			  (unsigned)c->gid, c->ngroups);
	else if (c->uid != 0 && (pc.cap_inh || pc.cap_prm || pc.cap_eff || pc.cap_amb))
		err = say_why(-EPERM, why, why_len, "the restorer, as %s, kept capabilities (CapInh "
			  "%#llx, CapPrm %#llx, CapEff %#llx, CapAmb %#llx)", c->user,
			  (unsigned long long)pc.cap_inh, (unsigned long long)pc.cap_prm,
			  (unsigned long long)pc.cap_eff, (unsigned long long)pc.cap_amb);
	proc_creds_free(&pc);
	return err;
}

void creds_free(struct creds *c)
{
	free(c->groups);
	c->groups = NULL;
	c->ngroups = 0;
	c->change = false;
}
