#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"

/* Nothing is drawn for work done within this ($CONTMIG_PROGRESS_DELAY
 * seconds), and at most this often. */
#define QUIET_SECONDS	0.3
#define REDRAW_SECONDS	0.1

static double since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) + (now.tv_nsec - t->tv_nsec) / 1e9;
}

static void draw(void *ctx, uint64_t done)
{
	struct progress *p = ctx;
	double elapsed = since(&p->start), rate;
	char line[200];
	int n;

	if (elapsed < p->delay || (p->drawn && since(&p->last) < REDRAW_SECONDS))
		return;
	clock_gettime(CLOCK_MONOTONIC, &p->last);
	rate = done / elapsed;
	n = snprintf(line, sizeof(line), "\rcontmig: %s: %.1f of %.1f MiB (%d%%), %.0f MiB/s",
		     p->what, done / 1048576.0, p->total / 1048576.0,
		     p->total ? (int)(100 * done / p->total) : 100, rate / 1048576.0);
	if (rate > 0 && done < p->total && n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - n, ", %.1f s left",
			      (p->total - done) / rate);
	if (n < (int)sizeof(line))
		n += snprintf(line + n, sizeof(line) - n, "\033[K");
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	if (write(STDERR_FILENO, line, n) == n)
		p->drawn = true;
}

void progress_start(struct progress *p, enum progress_mode mode, const char *what,
		    uint64_t total, struct stream *s)
{
	const char *delay = getenv("CONTMIG_PROGRESS_DELAY");

	memset(p, 0, sizeof(*p));
	p->what = what;
	p->total = total;
	p->enabled = mode == PROGRESS_ALWAYS ||
		     (mode == PROGRESS_AUTO && isatty(STDERR_FILENO));
	p->delay = delay && *delay ? strtod(delay, NULL) : QUIET_SECONDS;
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	if (p->enabled && s) {
		s->on_progress = draw;
		s->progress_ctx = p;
	}
}

void progress_end(struct progress *p)
{
	static const char erase[] = "\r\033[K";

	if (p->drawn && write(STDERR_FILENO, erase, sizeof(erase) - 1) < 0) {
		/* Nowhere to say so. */
	}
	p->drawn = false;
}

double progress_seconds(const struct progress *p)
{
	return since(&p->start);
}

void progress_summary(const struct progress *p, const char *fmt, ...)
{
	char line[400];
	va_list ap;

	if (!p->enabled)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	error_msg("%s", line);
}
