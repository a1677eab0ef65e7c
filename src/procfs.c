#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "procfs.h"

int array_reserve(void **array, size_t *capacity, size_t count, size_t elem_size)
{
	size_t cap = *capacity ? *capacity * 2 : 16;
	void *p;

	if (count < *capacity)
		return 0;
	p = realloc(*array, cap * elem_size);
	if (!p)
		return -ENOMEM;
	*array = p;
	*capacity = cap;
	return 0;
}

/* All of fd, from where it stands, into a malloc'd NUL-terminated buffer. */
static int read_all(int fd, char **text, size_t *len)
{
	size_t size = 0, cap = 4096;
	char *buf = NULL, *p;

	for (;;) {
		ssize_t n;

		if (!buf || size + 1 >= cap) {
			cap *= 2;
			p = realloc(buf, cap);
			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
		}
		n = read(fd, buf + size, cap - size - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return -errno;
		}
		if (n == 0)
			break;
		size += n;
	}
	buf[size] = '\0';
	*text = buf;
	if (len)
		*len = size;
	return 0;
}

int procfs_read_file(pid_t pid, const char *name, char **text, size_t *len)
{
	char path[64];
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = read_all(fd, text, len);
	close(fd);
	return err;
}

int procfs_parse_maps_line(const char *line, struct vma *v)
{
	char perms[5];
	int name_at = 0;

	memset(v, 0, sizeof(*v));
	if (sscanf(line, "%lx-%lx %4s %lx %x:%x %lu %n", &v->start, &v->end, perms,
		   &v->offset, &v->dev_major, &v->dev_minor, &v->inode, &name_at) < 7 ||
	    !name_at || v->end <= v->start || strlen(perms) != 4)
		return -EINVAL;
	v->prot = (perms[0] == 'r' ? PROT_READ : 0) |
		  (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	v->shared = perms[3] == 's';
	/* The name runs to the end of the line and may itself hold spaces. */
	v->name = strdup(line + name_at);
	return v->name ? 0 : -ENOMEM;
}

/* The mappings in text (maps), consumed. */
static int parse_maps(char *text, struct vma_list *out)
{
	char *line, *next;
	int err = 0;

	for (line = text; *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		err = array_reserve((void **)&out->vma, &out->capacity, out->count,
				    sizeof(*out->vma));
		if (!err)
			err = procfs_parse_maps_line(line, &out->vma[out->count]);
		if (err) {
			vma_list_free(out);
			break;
		}
		out->count++;
	}
	free(text);
	return err;
}

int procfs_read_maps(pid_t pid, struct vma_list *out)
{
	char *text;
	int err;

	memset(out, 0, sizeof(*out));
	err = procfs_read_file(pid, "maps", &text, NULL);
	return err ? err : parse_maps(text, out);
}

int procfs_read_maps_fd(int fd, struct vma_list *out)
{
	char *text;
	int err;

	memset(out, 0, sizeof(*out));
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	err = read_all(fd, &text, NULL);
	return err ? err : parse_maps(text, out);
}

void vma_list_free(struct vma_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->vma[i].name);
	free(list->vma);
	memset(list, 0, sizeof(*list));
}

const struct vma *vma_list_find(const struct vma_list *list, unsigned long addr)
{
	for (size_t i = 0; i < list->count; i++)
		if (addr >= list->vma[i].start && addr < list->vma[i].end)
			return &list->vma[i];
	return NULL;
}

/* The value after "KEY:\t" on its own line of a status text, or NULL. */
static const char *status_field(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (!strncmp(p, key, klen) && p[klen] == ':')
			return p + klen + 1 + strspn(p + klen + 1, " \t");
	return NULL;
}

int procfs_status_number(const char *text, const char *key, int base, uint64_t *value)
{
	const char *p = status_field(text, key);
	char *end;

	if (!p)
		return 0;
	errno = 0;
	*value = strtoull(p, &end, base);
	return end == p || errno || (*end != '\n' && *end) ? -EINVAL : 1;
}

int procfs_parse_status(const char *text, struct proc_status *st)
{
	const char *name = status_field(text, "Name");
	const char *state = status_field(text, "State");
	const char *threads = status_field(text, "Threads");
	const char *tracer = status_field(text, "TracerPid");
	const char *uid = status_field(text, "Uid");
	size_t n;

	memset(st, 0, sizeof(*st));
	if (!name || !state || !threads || !tracer || !uid)
		return -EINVAL;
	n = strcspn(name, "\n");
	if (n >= sizeof(st->name))
		n = sizeof(st->name) - 1;
	memcpy(st->name, name, n);
	st->state = *state;
	st->threads = atoi(threads);
	st->tracer_pid = atoi(tracer);
	st->uid = strtoul(uid, NULL, 10);
	return st->threads > 0 ? 0 : -EINVAL;
}

int procfs_read_status(pid_t pid, struct proc_status *st)
{
	char *text;
	int err = procfs_read_file(pid, "status", &text, NULL);

	if (err)
		return err;
	err = procfs_parse_status(text, st);
	free(text);
	return err;
}

/* Four decimal IDs after "KEY:", as the kernel writes them. */
static int parse_ids(const char *text, const char *key, uint32_t id[4])
{
	const char *p = status_field(text, key);

	for (int i = 0; p && i < 4; i++) {
		char *end;
		unsigned long v;

		p += strspn(p, " \t");
		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno || v > UINT32_MAX || (*end != '\t' && *end != ' ' && *end != '\n' && *end))
			return -EINVAL;
		id[i] = v;
		p = end;
	}
	return p ? 0 : -EINVAL;
}

/* A capability set after "KEY:", in hex; 0 where the kernel has no such line. */
static int parse_caps(const char *text, const char *key, bool required, uint64_t *caps)
{
	const char *p = status_field(text, key);
	char *end;

	*caps = 0;
	if (!p)
		return required ? -EINVAL : 0;
	errno = 0;
	*caps = strtoull(p, &end, 16);
	return end == p || errno || (*end != '\n' && *end) ? -EINVAL : 0;
}

int procfs_parse_creds(const char *text, struct proc_creds *c)
{
	uint32_t uid[4], gid[4];
	const char *p = status_field(text, "Groups");
	size_t cap = 0;
	int err;

	memset(c, 0, sizeof(*c));
	err = parse_ids(text, "Uid", uid);
	if (!err)
		err = parse_ids(text, "Gid", gid);
	if (!err)
		err = parse_caps(text, "CapInh", true, &c->cap_inh);
	if (!err)
		err = parse_caps(text, "CapPrm", true, &c->cap_prm);
	if (!err)
		err = parse_caps(text, "CapEff", true, &c->cap_eff);
	if (!err)
		err = parse_caps(text, "CapAmb", false, &c->cap_amb);
	if (!err && !p)
		err = -EINVAL;
	if (err)
		return err;
	for (int i = 0; i < 4; i++) {
		c->uid[i] = uid[i];
		c->gid[i] = gid[i];
	}
	/* Groups: one line of decimal gids, each followed by a space. */
	for (;;) {
		unsigned long v;
		char *end;

		p += strspn(p, " \t");
		if (*p == '\n' || !*p)
			return 0;
		errno = 0;
		v = *p >= '0' && *p <= '9' ? strtoul(p, &end, 10) : ULONG_MAX;
		if (errno || v > UINT32_MAX) {
			proc_creds_free(c);
			return -EINVAL;
		}
		if (array_reserve((void **)&c->groups, &cap, c->ngroups, sizeof(gid_t))) {
			proc_creds_free(c);
			return -ENOMEM;
		}
		c->groups[c->ngroups++] = v;
		p = end;
	}
}

int procfs_read_creds(pid_t pid, struct proc_creds *c)
{
	char *text;
	int err = procfs_read_file(pid, "status", &text, NULL);

	if (err)
		return err;
	err = procfs_parse_creds(text, c);
	free(text);
	return err;
}

void proc_creds_free(struct proc_creds *c)
{
	free(c->groups);
	memset(c, 0, sizeof(*c));
}

static int compare_fd(const void *a, const void *b)
{
	return ((const struct fd_entry *)a)->fd - ((const struct fd_entry *)b)->fd;
}

int procfs_list_fds(pid_t pid, struct fd_list *out)
{
	char dir_path[64], link[PATH_MAX];
	struct dirent *de;
	DIR *dir;
	int err = 0;

	memset(out, 0, sizeof(*out));
	snprintf(dir_path, sizeof(dir_path), "/proc/%d/fd", (int)pid);
	dir = opendir(dir_path);
	if (!dir)
		return -errno;
	while ((errno = 0, de = readdir(dir))) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		err = array_reserve((void **)&out->fd, &out->capacity, out->count,
				    sizeof(*out->fd));
		if (err)
			break;
		n = readlinkat(dirfd(dir), de->d_name, link, sizeof(link) - 1);
		if (n < 0) {
			if (errno == ENOENT)	/* closed while we looked */
				continue;
			err = -errno;
			break;
		}
		link[n] = '\0';
		out->fd[out->count].fd = atoi(de->d_name);
		out->fd[out->count].target = strdup(link);
		if (!out->fd[out->count].target) {
			err = -ENOMEM;
			break;
		}
		out->count++;
	}
	if (!err && errno)
		err = -errno;
	closedir(dir);
	if (err) {
		fd_list_free(out);
		return err;
	}
	qsort(out->fd, out->count, sizeof(*out->fd), compare_fd);
	return 0;
}

void fd_list_free(struct fd_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->fd[i].target);
	free(list->fd);
	memset(list, 0, sizeof(*list));
}

int procfs_may_write(pid_t pid, unsigned long start)
{
	char *text, *line, *next;
	bool in_it = false;
	int err = procfs_read_file(pid, "smaps", &text, NULL), found = -ENOENT;

	if (err)
		return err;
	for (line = text; *line && found == -ENOENT; line = next) {
		unsigned long from, to;

		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		/* A mapping's block starts with its maps line, ends with VmFlags. */
		if (sscanf(line, "%lx-%lx ", &from, &to) == 2 && strchr(line, ' ') < next)
			in_it = from == start;
		else if (in_it && !strncmp(line, "VmFlags:", 8))
			found = memmem(line, next - line, " mw", 3) != NULL;
	}
	free(text);
	return found;
}

int procfs_read_start(pid_t pid, unsigned long long *start, char *state)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	/* The name may hold anything, ')' included: go by the last one. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			 "%*d %*d %*d %*d %llu", state, start) != 2)
		return -EPROTO;
	return 0;
}
