/* Unit tests for the /proc parsers. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "procfs.h"
#include "unit.h"

static void test_maps_lines(void)
{
	struct vma v;

	CHECK(procfs_parse_maps_line("00400000-00401000 r-xp 00001000 fe:01 1234"
				     "                      /tmp/a b/counter", &v) == 0);
	CHECK(v.start == 0x400000 && v.end == 0x401000 && v.offset == 0x1000);
	CHECK(v.prot == (PROT_READ | PROT_EXEC) && !v.shared);
	CHECK(v.dev_major == 0xfe && v.dev_minor == 1 && v.inode == 1234);
	CHECK_STR(v.name, "/tmp/a b/counter");
	free(v.name);

	CHECK(procfs_parse_maps_line("500000000-500100000 rw-p 00000000 00:00 0 ", &v) == 0);
	CHECK(v.start == 0x500000000UL && v.prot == (PROT_READ | PROT_WRITE));
	CHECK_STR(v.name, "");
	free(v.name);

	CHECK(procfs_parse_maps_line("7ffc0000-7ffd0000 rw-s 00000000 00:01 7 "
				     "/dev/shm/x (deleted)", &v) == 0);
	CHECK(v.shared);
	CHECK_STR(v.name, "/dev/shm/x (deleted)");
	free(v.name);

	CHECK(procfs_parse_maps_line("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0"
				     "                  [vsyscall]", &v) == 0);
	CHECK(v.prot == PROT_EXEC);
	CHECK_STR(v.name, "[vsyscall]");
	free(v.name);

	CHECK(procfs_parse_maps_line("", &v) == -EINVAL);
	CHECK(procfs_parse_maps_line("garbage", &v) == -EINVAL);
	CHECK(procfs_parse_maps_line("2000-1000 r--p 0 00:00 0 x", &v) == -EINVAL);
	CHECK(procfs_parse_maps_line("1000-2000 r--p 00000000 00:00", &v) == -EINVAL);
}

static void test_status(void)
{
	struct proc_status st;
	const char *text = "Name:\tcounter\nUmask:\t0022\nState:\tS (sleeping)\n"
			   "Tgid:\t42\nPid:\t42\nPPid:\t1\nTracerPid:\t7\n"
			   "Uid:\t1000\t1000\t1000\t1000\nThreads:\t3\n";

	CHECK(procfs_parse_status(text, &st) == 0);
	CHECK_STR(st.name, "counter");
	CHECK(st.state == 'S' && st.threads == 3 && st.tracer_pid == 7 && st.uid == 1000);
	CHECK(procfs_parse_status("Name:\tx\n", &st) == -EINVAL);
	/* A key must match whole: "PPid" is not "Pid", "TracerPid" not "Pid". */
	CHECK(procfs_parse_status("Name:\tx\nState:\tR\nThreads:\t1\nXTracerPid:\t9\n"
				  "TracerPid:\t0\nUid:\t0\n", &st) == 0);
	CHECK(st.tracer_pid == 0);
}

static void test_creds(void)
{
	const char *caps = "CapInh:\t0000000000000002\nCapPrm:\t000001ffffffffff\n"
			   "CapEff:\t0000000000000001\nCapBnd:\t000001ffffffffff\n";
	char text[512];
	struct proc_creds c;

	snprintf(text, sizeof(text), "Name:\tx\nUid:\t1000\t1001\t1002\t1003\n"
		 "Gid:\t100\t101\t102\t103\nFDSize:\t64\nGroups:\t100 27 4294967294 \n"
		 "NStgid:\t1\n%sCapAmb:\t0000000000000400\n", caps);
	CHECK(procfs_parse_creds(text, &c) == 0);
	CHECK(c.uid[0] == 1000 && c.uid[1] == 1001 && c.uid[2] == 1002 && c.uid[3] == 1003);
	CHECK(c.gid[0] == 100 && c.gid[3] == 103);
	CHECK(c.ngroups == 3 && c.groups[0] == 100 && c.groups[1] == 27 &&
	      c.groups[2] == 4294967294U);
	CHECK(c.cap_inh == 2 && c.cap_prm == 0x1ffffffffffULL && c.cap_eff == 1 &&
	      c.cap_amb == 0x400);
	proc_creds_free(&c);
	/* No supplementary groups: an empty list, not an error; no CapAmb
	 * (before Linux 4.3): none. */
	snprintf(text, sizeof(text), "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n%s", caps);
	CHECK(procfs_parse_creds(text, &c) == 0);
	CHECK(c.ngroups == 0 && c.cap_amb == 0);
	proc_creds_free(&c);
	/* Three IDs, a missing line, a number too large or signed: refused. */
	snprintf(text, sizeof(text), "Uid:\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n%s", caps);
	CHECK(procfs_parse_creds(text, &c) == -EINVAL);
	snprintf(text, sizeof(text), "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n%s", caps);
	CHECK(procfs_parse_creds(text, &c) == -EINVAL);
	CHECK(procfs_parse_creds("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n", &c) ==
	      -EINVAL);
	snprintf(text, sizeof(text), "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t4294967296\n%s",
		 caps);
	CHECK(procfs_parse_creds(text, &c) == -EINVAL);
	snprintf(text, sizeof(text), "Uid:\t0\t0\t0\t0\nGid:\t0\t-1\t0\t0\nGroups:\t\n%s", caps);
	CHECK(procfs_parse_creds(text, &c) == -EINVAL);
}

static void test_live_self(void)
{
	struct vma_list maps;
	struct fd_list fds;
	struct proc_status st;
	int fd = open("/dev/null", O_RDONLY);
	int found = 0;

	CHECK(procfs_read_maps(getpid(), &maps) == 0);
	CHECK(maps.count > 3);
	CHECK(vma_list_find(&maps, (unsigned long)&maps) != NULL);	/* our stack */
	CHECK(vma_list_find(&maps, 0) == NULL);
	vma_list_free(&maps);

	CHECK(procfs_read_status(getpid(), &st) == 0);
	CHECK(st.threads == 1 && st.uid == getuid());
	{
		struct proc_creds c;

		CHECK(procfs_read_creds(getpid(), &c) == 0);
		CHECK(c.uid[0] == getuid() && c.uid[1] == geteuid() && c.gid[1] == getegid());
		CHECK((int)c.ngroups == getgroups(0, NULL));
		proc_creds_free(&c);
	}

	CHECK(procfs_list_fds(getpid(), &fds) == 0);
	for (size_t i = 0; i < fds.count; i++) {
		if (fds.fd[i].fd == fd)
			found = !strcmp(fds.fd[i].target, "/dev/null");
		if (i)
			CHECK(fds.fd[i - 1].fd < fds.fd[i].fd);
	}
	CHECK(found);
	fd_list_free(&fds);
	close(fd);

	CHECK(procfs_read_maps(999999999, &maps) == -ENOENT);
}

int main(void)
{
	test_maps_lines();
	test_status();
	test_creds();
	test_live_self();
	return unit_result();
}
