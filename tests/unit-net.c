/* Unit tests for the address and size parsers of the command line. */
#include "config.h"

#include <stdint.h>

#include "commands.h"
#include "net.h"
#include "unit.h"

static void check_addr(const char *s, bool port_first, const char *host, const char *port)
{
	struct net_addr a;
	/* send gives no default host; thaw --listen gives loopback. */
	int err = net_parse(s, port_first, port_first ? "127.0.0.1" : NULL, &a);

	if (!host) {
		CHECK(err != 0);
		return;
	}
	CHECK(err == 0);
	if (!err) {
		CHECK_STR(a.host, host);
		CHECK_STR(a.port, port);
	}
}

int main(void)
{
	uint64_t v;

	check_addr("10.0.0.2", false, "10.0.0.2", NET_DEFAULT_PORT);
	check_addr("10.0.0.2:99", false, "10.0.0.2", "99");
	check_addr("node-b.example", false, "node-b.example", NET_DEFAULT_PORT);
	check_addr("[::1]:7000", false, "::1", "7000");
	check_addr("[fe80::1]", false, "fe80::1", NET_DEFAULT_PORT);
	check_addr("7742", true, "127.0.0.1", "7742");
	check_addr("0.0.0.0:7742", true, "0.0.0.0", "7742");
	check_addr(":7742", true, "127.0.0.1", "7742");
	check_addr("::1", false, NULL, NULL);		/* write [::1] */
	check_addr("host:", false, NULL, NULL);
	check_addr("host:0", false, NULL, NULL);
	check_addr("host:65536", false, NULL, NULL);
	check_addr("host:12x", false, NULL, NULL);
	check_addr("[::1", false, NULL, NULL);
	check_addr("", false, NULL, NULL);

	CHECK(parse_size("0", &v) == 0 && v == 0);
	CHECK(parse_size("512K", &v) == 0 && v == 512 << 10);
	CHECK(parse_size("3M", &v) == 0 && v == 3 << 20);
	CHECK(parse_size("8G", &v) == 0 && v == 8ULL << 30);
	CHECK(parse_size("2t", &v) == 0 && v == 2ULL << 40);
	CHECK(parse_size("", &v) != 0);
	CHECK(parse_size("-1", &v) != 0);
	CHECK(parse_size("5X", &v) != 0);
	CHECK(parse_size("5MB", &v) != 0);
	CHECK(parse_size("99999999999999999999", &v) != 0);
	CHECK(parse_size("17179869184G", &v) != 0);	/* 2^64 bytes */
	return unit_result();
}
