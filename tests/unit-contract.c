/* Unit tests for the contract checks. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "contract.h"
#include "unit.h"

/* Whether rule check is in r and has the given outcome. */
static bool rule_is(const struct contract_report *r, const char *check, bool ok)
{
	for (size_t i = 0; i < r->count; i++)
		if (!strcmp(r->item[i].check, check))
			return r->item[i].ok == ok;
	return false;
}

int main(void)
{
	struct contract_report r;
	char notelf[] = "/tmp/contmig-unit-XXXXXX";
	int fd;

	CHECK(contract_check_binary(build_path("tests/counter"), &r) == 0);
	CHECK(r.keeps && r.count == 5);

	CHECK(contract_check_binary(build_path("tests/avxsum"), &r) == 0);
	CHECK(r.keeps);

	CHECK(contract_check_binary("/bin/true", &r) == 0);
	CHECK(!r.keeps);
	CHECK(rule_is(&r, "elf", true) && rule_is(&r, "type", false));
	CHECK(rule_is(&r, "static", false) && rule_is(&r, "text", false));

	fd = mkstemp(notelf);
	CHECK(fd >= 0 && write(fd, "#!/bin/sh\n", 10) == 10);
	CHECK(contract_check_binary(notelf, &r) == 0);
	CHECK(!r.keeps && r.count == 1 && rule_is(&r, "elf", false));
	close(fd);
	unlink(notelf);

	CHECK(contract_check_binary("/nonexistent/prog", &r) == -ENOENT);
	CHECK_STR(r.where, "/nonexistent/prog");
	CHECK(contract_check_binary("/", &r) == -EISDIR);

	/* This test program itself is an ordinary process: no fixed stack. */
	CHECK(contract_check_pid(getpid(), &r) == 0);
	CHECK(!r.keeps && rule_is(&r, "stack", false) && rule_is(&r, "threads", true));
	/* ... so no canary either, read without stopping anything. */
	CHECK(rule_is(&r, "canary", false));
	CHECK(rule_is(&r, "heap", true) || rule_is(&r, "heap", false));
	CHECK(contract_check_pid(999999999, &r) == -ESRCH);
	return unit_result();
}
