/*
 * mapped: a dynamically linked program whose memory is mostly files (its own
 * binary, libc, ld.so, and FILE), for the tests of mapped files by reference.
 *
 *   mapped FILE
 *
 * It maps FILE whole (two pages or more) MAP_PRIVATE read-write and closes
 * it, writes a marker into its second page (copied on write: the process's
 * own now), then every 100 ms prints "N" and checks that the first page still
 * holds FILE's bytes (read at the start) and the second its marker.
 * Anything wrong: "mapped: ..." on stderr and exit 1.
 *
 * It keeps to what moves before the rest of an ordinary program does: no
 * stdio or malloc (no brk heap), no clock through the vDSO.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE	4096

static const char marker[] = "changed by the process";
static char first[PAGE];		/* FILE's first page, as read */

static void say(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) < 0)
		_exit(2);
}

static void fail(const char *why)
{
	say(2, "mapped: ");
	say(2, why);
	say(2, "\n");
	_exit(1);
}

static void print_number(unsigned long n)
{
	char buf[24];
	int i = sizeof(buf);

	buf[--i] = '\n';
	do
		buf[--i] = '0' + n % 10;
	while (n /= 10);
	if (write(1, buf + i, sizeof(buf) - i) < 0)
		_exit(2);
}

int main(int argc, char **argv)
{
	struct timespec period = { 0, 100 * 1000 * 1000 };
	struct stat st;
	char *map;
	int fd;

	if (argc != 2)
		fail("usage: mapped FILE");
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 2 * PAGE ||
	    pread(fd, first, PAGE, 0) != PAGE)
		fail("cannot read two pages of FILE");
	map = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		fail("cannot map FILE");
	close(fd);
	memcpy(map + PAGE, marker, sizeof(marker));
	for (unsigned long n = 0;; n++) {
		if (memcmp(map, first, PAGE))
			fail("the first page of FILE is not FILE's any more");
		if (memcmp(map + PAGE, marker, sizeof(marker)))
			fail("the page the process changed lost its change");
		print_number(n);
		nanosleep(&period, NULL);
	}
}
