/* contmig check: can a binary or a process move, and does it keep the
 * Continuum contract? */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "clocks.h"
#include "commands.h"
#include "contract.h"
#include "error.h"
#include "escape.h"
#include "exitcode.h"
#include "json.h"
#include "restrictions.h"

static const char usage[] =
	"Usage: contmig check [--json] BINARY|PID\n"
	"Say, rule by rule, whether a program or a running process can move (an\n"
	"x86-64 program; for a process also one thread, only files that can be\n"
	"reopened, no tracer...), and whether it also keeps the Continuum contract\n"
	"(continuum(7): static code at 0x400000, the fixed stack at 0x500000000 with\n"
	"crt0's canary), which is reported but not required. What check says does not\n"
	"move, freeze, send and run refuse, in the same words.\n"
	"A number is taken as a PID; write ./123 for a file named 123.\n"
	"Checking a process never stops or disturbs it.\n"
	"\n"
	"  -j, --json    print the verdict as one JSON document\n"
	"  -h, --help    show this help\n"
	"\n"
	"Exit status: 0 moves, 65 does not move, 66 could not check\n"
	"(not found, no permission).\n";

/* A process chose its name and the names of what it maps: escaped. */
static void print_human(const char *what, const struct contract_report *r)
{
	printf("%s: %s; %s the Continuum contract\n", what,
	       r->moves ? "moves" : "does not move", r->keeps ? "keeps" : "breaks");
	for (size_t i = 0; i < r->count; i++) {
		const struct contract_item *it = &r->item[i];

		/* A contract rule it breaks is only information: "no", not "FAIL". */
		printf("  %-4s  %-10s  ", it->ok ? "ok" : it->contract_only ? "no" : "FAIL",
		       it->check);
		escape_fputs(stdout, r->item[i].detail, SIZE_MAX);
		putchar('\n');
	}
}

static void print_json(const char *target, const char *kind, const struct contract_report *r,
		       const char *error, const char *label, const char *clocks)
{
	printf("{\"target\": ");
	json_string(stdout, target);
	printf(", \"kind\": \"%s\", \"verdict\": \"%s\", \"contract\": \"%s\"", kind,
	       error ? "unknown" : r->moves ? "moves" : "refused",
	       error ? "unknown" : r->keeps ? "keeps" : "breaks");
	if (error) {
		printf(", \"error\": ");
		json_string(stdout, error);
	}
	printf(", \"checks\": [");
	for (size_t i = 0; !error && i < r->count; i++) {
		printf("%s{\"check\": \"%s\", \"ok\": %s, \"contract_only\": %s, "
		       "\"detail\": ", i ? ", " : "", r->item[i].check,
		       r->item[i].ok ? "true" : "false",
		       r->item[i].contract_only ? "true" : "false");
		json_string(stdout, r->item[i].detail);
		printf("}");
	}
	printf("]");
	if (*label) {
		printf(", \"lsm_label\": ");
		json_string(stdout, label);
	}
	if (clocks) {
		printf(", \"clocks\": ");
		json_string(stdout, clocks);
	}
	printf("}\n");
}

/* A process confined by its LSM (AppArmor): the label is not carried, so
 * say it (contmig(1), Restrictions). */
static void print_label(const char *label)
{
	char shown[ESCAPED_SIZE(IMAGE_MAX_LABEL)];

	if (*label)
		printf("  note  lsm         runs under the LSM label %s, which its copy does not "
		       "carry\n", escape_text(shown, sizeof(shown), label, IMAGE_MAX_LABEL));
}

/* What a move does to its clocks (contmig(1), TIME), in a word. */
static const char *clocks_note(int pid)
{
	struct image_clocks c;

	clocks_collect(pid, &c);
	if (c.rec.flags & IMAGE_CLOCKS_OFFSETS_UNKNOWN)
		return "it entered a time namespace whose offsets cannot be read: its copy "
		       "runs on its receiver's CLOCK_MONOTONIC and CLOCK_BOOTTIME";
	if (c.rec.ns_monotonic || c.rec.ns_boottime)
		return "it runs in a time namespace: its copy's CLOCK_MONOTONIC and "
		       "CLOCK_BOOTTIME go on from its own only where the receiver runs as root";
	return "on another machine, its copy's CLOCK_MONOTONIC and CLOCK_BOOTTIME go on from "
	       "its own only where the receiver runs as root";
}

/* Why we could not look, in words a user can act on. */
static void describe_error(int err, const char *where, char *out, size_t outsz)
{
	const char *hint = "";

	if (err == -ESRCH) {
		snprintf(out, outsz, "no such process");
		return;
	}
	if (err == -EACCES || err == -EPERM)
		hint = " (another user's process? run as that user or as root)";
	snprintf(out, outsz, "%s%s%s%s", where, *where ? ": " : "", strerror(-err), hint);
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct contract_report r;
	char what[96 + ESCAPED_SIZE(sizeof(r.name))], error[256];
	const char *target, *kind, *clocks = NULL;
	char name[ESCAPED_SIZE(sizeof(r.name))], label[IMAGE_MAX_LABEL] = "";
	bool json = false;
	int opt, pid, err;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			option_error("check", opt, argv);
		}
	}
	if (optind != argc - 1)
		usage_error("check", "check: %s", optind == argc ? "missing BINARY or PID" :
			    "too many arguments: give one BINARY or PID");
	target = argv[optind];
	pid = parse_pid(target);
	if (pid) {
		kind = "process";
		snprintf(what, sizeof(what), "PID %d", pid);
		err = contract_check_pid(pid, &r);
		/* Only a name to show: one we cannot read is left out. */
		if (!err && restrictions_label(pid, label))
			label[0] = '\0';
	} else {
		kind = "binary";
		/* Whoever named the file chose its name: escaped too. */
		escape_text(what, sizeof(what), target, strlen(target));
		err = contract_check_binary(target, &r);
	}

	if (err) {
		describe_error(err, pid ? r.where : "", error, sizeof(error));
		if (json)
			print_json(target, kind, &r, error, label, NULL);
		error_msg("check %s: %s", what, error);
		return EXIT_NOTARGET;
	}
	if (pid) {
		snprintf(what, sizeof(what), "PID %d (%s)", pid,
			 escape_text(name, sizeof(name), r.name, sizeof(r.name)));
		clocks = clocks_note(pid);
	}
	if (json)
		print_json(target, kind, &r, NULL, label, clocks);
	else
		print_human(what, &r);
	if (!json)
		print_label(label);
	if (!json && clocks)
		printf("  note  clocks      %s\n", clocks);
	return r.moves ? EXIT_OK : EXIT_CONTRACT;
}

const struct command command_check = {
	.name = "check",
	.summary = "can a program or process move? does it keep the Continuum contract?",
	.usage = usage,
	.run = run,
};
