/*
 * continuum.h - the Continuum fixed-address runtime for freestanding C targets.
 *
 * Build with `pkg-config --cflags --libs continuum` (continuum(7)): your
 * program defines main(argc, argv, envp); crt0 pivots to the fixed stack,
 * pushes the canary and calls it.  There is no libc: use the system call
 * helpers below, and memcpy/memmove/memset from the runtime library.
 */
#ifndef CONTINUUM_H
#define CONTINUUM_H

#define CONTINUUM_TEXT_BASE	0x400000UL
#define CONTINUUM_STACK_BASE	0x500000000UL
#define CONTINUUM_STACK_SIZE	0x100000UL
#define CONTINUUM_STACK_TOP	0x5000FFFF8UL
#define CONTINUUM_CANARY	0xCAFEBABEUL
/* Where crt0 leaves the canary: the first push below the stack top. */
#define CONTINUUM_CANARY_ADDR	(CONTINUUM_STACK_TOP - 8)

/* LED exit codes of the runtime (seed chapter 5). */
#define LED_IO_ERROR		1
#define LED_PEER_CLOSED		2
#define LED_STACK_CHECK		3
#define LED_NO_FIXED_STACK	4

#include <stddef.h>	/* size_t: a freestanding header, no libc needed */

/* Read or write exactly len bytes, looping over short transfers and
 * retrying EINTR; an error exits the process with LED 1, end of stream with
 * LED 2.  Return len. */
long recv_all(int fd, void *buf, size_t len);
long send_all(int fd, const void *buf, size_t len);

/* Ask the supervising `contmig run` to move this process to dest
 * ("HOST:PORT"): 0 on the new machine, -errno here when the move did not
 * happen (-ENOSYS: not supervised).  Close sockets and pipes first; reopen
 * them after (continuum(7), CLOSE, MOVE, REOPEN).  Files move. */
long sys_migrate(const char *dest);

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);

/* Raw system calls: the result, or -errno. */
static inline long continuum_syscall(long nr, long a1, long a2, long a3,
				     long a4, long a5, long a6)
{
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10),
			   "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define CONTINUUM_SYS_read	0
#define CONTINUUM_SYS_write	1
#define CONTINUUM_SYS_close	3
#define CONTINUUM_SYS_nanosleep	35
#define CONTINUUM_SYS_getpid	39
#define CONTINUUM_SYS_exit_group 231
#define CONTINUUM_SYS_openat	257
#define CONTINUUM_SYS_migrate	0x434d	/* trapped by contmig run; -ENOSYS otherwise */

static inline long continuum_read(int fd, void *buf, size_t len)
{
	return continuum_syscall(CONTINUUM_SYS_read, fd, (long)buf, (long)len, 0, 0, 0);
}

static inline long continuum_write(int fd, const void *buf, size_t len)
{
	return continuum_syscall(CONTINUUM_SYS_write, fd, (long)buf, (long)len, 0, 0, 0);
}

static inline int continuum_open(const char *path, int flags, int mode)
{
	return (int)continuum_syscall(CONTINUUM_SYS_openat, -100 /* AT_FDCWD */,
				      (long)path, flags, mode, 0, 0);
}

static inline int continuum_close(int fd)
{
	return (int)continuum_syscall(CONTINUUM_SYS_close, fd, 0, 0, 0, 0, 0);
}

/* Sleep for ms milliseconds; returns early (-EINTR) if a signal arrives. */
static inline int continuum_sleep_ms(long ms)
{
	long ts[2] = { ms / 1000, (ms % 1000) * 1000000 };

	return (int)continuum_syscall(CONTINUUM_SYS_nanosleep, (long)ts, 0, 0, 0, 0, 0);
}

static inline int continuum_getpid(void)
{
	return (int)continuum_syscall(CONTINUUM_SYS_getpid, 0, 0, 0, 0, 0, 0);
}

__attribute__((noreturn)) static inline void continuum_exit(int status)
{
	continuum_syscall(CONTINUUM_SYS_exit_group, status, 0, 0, 0, 0, 0);
	__builtin_unreachable();
}

#endif /* CONTINUUM_H */
