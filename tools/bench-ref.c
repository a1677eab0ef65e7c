/*
 * bench-ref memcpy|tcp|peek MIB - what the machine itself does with MIB MiB,
 * for the benchmark to compare contmig with.  Prints seconds.
 *
 *   memcpy  copy touched memory into freshly mapped pages (as any image file
 *           or restored process gets): the page faults are part of the cost
 *   tcp     send it over a loopback TCP connection to a process that reads it
 *           into an 8 MiB buffer, until that process answers
 *   peek    read it from a stopped child with PTRACE_PEEKDATA, a word at a
 *           time, the way the simplest dumpers do
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "bench-ref: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned char *touched(size_t size)
{
	unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	for (size_t i = 0; i < size; i += sizeof(unsigned long))
		*(unsigned long *)(p + i) = (unsigned long)(p + i) * 0x9e3779b97f4a7c15UL;
	return p;
}

static double ref_memcpy(size_t size)
{
	unsigned char *src = touched(size), *dst;
	double t = now();

	dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dst == MAP_FAILED)
		die("mmap");
	memcpy(dst, src, size);
	t = now() - t;
	if (memcmp(dst, src, size))
		die("memcpy");
	return t;
}

static double ref_tcp(size_t size)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	unsigned char *src = touched(size);
	int ls = socket(AF_INET, SOCK_STREAM, 0), s;
	char ack;
	double t;
	pid_t pid;

	if (ls < 0 || bind(ls, (void *)&a, sizeof(a)) || listen(ls, 1) ||
	    getsockname(ls, (void *)&a, &alen))
		die("listening socket");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		static char buf[8 << 20];
		size_t got = 0;
		int c = accept(ls, NULL, NULL);

		while (c >= 0 && got < size) {
			ssize_t n = read(c, buf, sizeof(buf));

			if (n <= 0)
				_exit(1);
			got += n;
		}
		_exit(c < 0 || write(c, "k", 1) != 1);
	}
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (void *)&a, sizeof(a)))
		die("connect");
	t = now();
	for (size_t done = 0; done < size; ) {
		ssize_t n = write(s, src + done, size - done);

		if (n < 0)
			die("write");
		done += n;
	}
	if (read(s, &ack, 1) != 1)
		die("the reader did not answer");
	t = now() - t;
	waitpid(pid, NULL, 0);
	return t;
}

static double ref_peek(size_t size)
{
	unsigned long *src = (unsigned long *)touched(size);
	unsigned long *dst = malloc(size);
	double t;
	pid_t pid;

	if (!dst)
		die("malloc");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		raise(SIGSTOP);
		_exit(0);
	}
	if (ptrace(PTRACE_ATTACH, pid, 0, 0) < 0 || waitpid(pid, NULL, 0) < 0)
		die("attach");
	t = now();
	/* The child's copy of src is at the same address. */
	for (size_t i = 0; i < size / sizeof(*src); i++) {
		errno = 0;
		dst[i] = ptrace(PTRACE_PEEKDATA, pid, src + i, 0);
		if (errno)
			die("PTRACE_PEEKDATA");
	}
	t = now() - t;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return t;
}

int main(int argc, char **argv)
{
	size_t size;

	if (argc != 3) {
		fprintf(stderr, "usage: bench-ref memcpy|tcp|peek MIB\n");
		return 64;
	}
	size = strtoul(argv[2], NULL, 10) << 20;
	if (!strcmp(argv[1], "memcpy"))
		printf("%.4f\n", ref_memcpy(size));
	else if (!strcmp(argv[1], "tcp"))
		printf("%.4f\n", ref_tcp(size));
	else if (!strcmp(argv[1], "peek"))
		printf("%.4f\n", ref_peek(size));
	else
		return 64;
	return 0;
}
