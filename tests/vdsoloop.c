/*
 * vdsoloop: an ordinary glibc program that reads CLOCK_MONOTONIC in a tight
 * loop, so that nearly all its time is spent in its vDSO.  It prints
 * "ready", then "tick S" each new second.  Its SIGUSR1 handler, when the
 * signal cut into the vDSO's code (the rip in its frame says so), prints
 * "in vdso" and waits, in pause(2), for SIGUSR2; the handler then returns
 * into that vDSO code, and the loop prints "back".  (Otherwise the handler
 * returns at once: send SIGUSR1 again.)  Anything wrong: exit 1.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static unsigned long vdso_start, vdso_end;
static volatile sig_atomic_t go, returned;

static void on_usr2(int sig)
{
	(void)sig;
	go = 1;
}

static void on_usr1(int sig, siginfo_t *si, void *context)
{
	const ucontext_t *uc = context;
	unsigned long ip = uc->uc_mcontext.gregs[REG_RIP];

	(void)sig;
	(void)si;
	if (ip < vdso_start || ip >= vdso_end)
		return;
	if (write(STDOUT_FILENO, "in vdso\n", 8) != 8)
		_exit(1);
	while (!go)
		pause();
	returned = 1;
}

int main(void)
{
	struct sigaction usr1 = { .sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO | SA_RESTART };
	struct sigaction usr2 = { .sa_handler = on_usr2, .sa_flags = SA_RESTART };
	struct timespec t, last = { 0, 0 };
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];

	while (maps && fgets(line, sizeof(line), maps))
		if (strstr(line, "[vdso]"))
			sscanf(line, "%lx-%lx", &vdso_start, &vdso_end);
	if (!maps || !vdso_start)
		return 1;
	fclose(maps);
	setvbuf(stdout, NULL, _IONBF, 0);
	if (sigaction(SIGUSR1, &usr1, NULL) || sigaction(SIGUSR2, &usr2, NULL))
		return 1;
	printf("ready\n");
	for (;;) {
		if (clock_gettime(CLOCK_MONOTONIC, &t))
			return 1;
		if (returned) {
			returned = 0;
			printf("back\n");
		}
		if (t.tv_sec != last.tv_sec) {
			printf("tick %ld\n", (long)t.tv_sec);
			last = t;
		}
	}
}
