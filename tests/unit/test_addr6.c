/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for src/addr6.c: strict IPv6 parsing, formatting and the
 * prefix arithmetic that carves node /64s and host addresses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "nsagent/addr6.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct prefix6 P6(const char *text) {
	struct prefix6 p;

	if (addr6_parse_prefix(text, &p) < 0)
		fail_msg("bad prefix in test: %s", text);
	return p;
}

static struct in6_addr
A6(const char *text) {
	struct in6_addr a;

	if (addr6_parse(text, &a) < 0)
		fail_msg("bad address in test: %s", text);
	return a;
}

static void
test_parse(void **state)
{
	static const char *good[] = {"::",	    "::1",     "fd6e:7361:6765::1",
				     "2001:db8::6", "fe80::1", "::ffff:10.0.0.1"};
	static const char *bad[] = {
	    "",	    "1.2.3.4",		 "fe80::1%eth0", "[2001:db8::6]", "2001:db8::6 ",
	    " ::1", "1:2:3:4:5:6:7:8:9", "12345::",	 "::1::2",	  "g::1"};
	struct in6_addr a;
	char buf[ADDR6_STRLEN];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		assert_int_equal(addr6_parse(good[i], &a), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (addr6_parse(bad[i], &a) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	a = A6("fd6e:7361:6765:0:0:0:0:1");
	assert_string_equal(addr6_format(&a, buf), "fd6e:7361:6765::1");
}

static void test_parse_prefix(void **state)
{
	static const char *bad[] = {"fd00::",	  "fd00::/",   "fd00::/129", "fd00::/064",
				    "fd00::1/64", "fd00::/-1", "/64",	     "fd00::/64x",
				    "fd00::/ 64", "1.2.3.0/24"};
	struct prefix6 p;
	char buf[PREFIX6_STRLEN];

	(void)state;
	assert_int_equal(addr6_parse_prefix("fd6e:7361:6765::/48", &p), 0);
	assert_int_equal(p.len, 48);
	assert_string_equal(addr6_format_prefix(&p, buf), "fd6e:7361:6765::/48");
	assert_int_equal(addr6_parse_prefix("::/0", &p), 0);
	assert_int_equal(addr6_parse_prefix("2001:db8::1/128", &p), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (addr6_parse_prefix(bad[i], &p) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
}

static void test_contains(void **state)
{
	struct prefix6 cluster = P6("fd6e:7361:6765::/48");
	struct prefix6 node = P6("fd6e:7361:6765:1::/64");
	struct prefix6 other = P6("fd6e:7361:6766::/64");
	struct in6_addr a = A6("fd6e:7361:6765:1::5");

	(void)state;
	assert_true(addr6_prefix_contains(&cluster, &node));
	assert_false(addr6_prefix_contains(&node, &cluster));
	assert_false(addr6_prefix_contains(&cluster, &other));
	assert_true(addr6_prefix_overlaps(&node, &cluster));
	assert_false(addr6_prefix_overlaps(&node, &other));
	assert_true(addr6_prefix_contains_addr(&node, &a));
	assert_false(addr6_prefix_contains_addr(&other, &a));
	assert_true(addr6_prefix_equal(&node, &(struct prefix6){node.addr, 64}));
	assert_false(addr6_prefix_equal(&node, &(struct prefix6){node.addr, 63}));
}

static void test_subnet_and_host(void **state)
{
	struct prefix6 cluster = P6("fd6e:7361:6765::/48"), out;
	struct prefix6 want = P6("fd6e:7361:6765:ff01::/64");
	struct prefix6 wide = P6("fd00::/8");
	struct prefix6 straddle = P6("2001:db8::/60");
	struct in6_addr a, want_a = A6("fd6e:7361:6765:ff01::5");
	char buf[PREFIX6_STRLEN];

	(void)state;
	assert_int_equal(addr6_prefix_subnet(&cluster, 64, 0xff01, &out), 0);
	assert_true(addr6_prefix_equal(&out, &want));
	assert_int_equal(addr6_prefix_subnet(&cluster, 64, 0x10000, &out), -ERANGE);
	assert_int_equal(addr6_prefix_subnet(&cluster, 40, 0, &out), -ERANGE);
	/* a /8 carved into /64s: a 56-bit index */
	assert_int_equal(addr6_prefix_subnet(&wide, 64, 0x12345678, &out), 0);
	assert_string_equal(addr6_format_prefix(&out, buf), "fd00:0:1234:5678::/64");
	assert_int_equal(addr6_prefix_subnet(&wide, 80, 1, &out), -ERANGE);
	/* an index that crosses from the high into the low half */
	assert_int_equal(addr6_prefix_subnet(&straddle, 68, 0x1f, &out), 0);
	assert_string_equal(addr6_format_prefix(&out, buf), "2001:db8:0:1:f000::/68");

	assert_int_equal(addr6_prefix_host(&want, 5, &a), 0);
	assert_memory_equal(&a, &want_a, sizeof(a));
	assert_int_equal(addr6_prefix_host(&want, 0, &a), -ERANGE);
	out = P6("2001:db8::/126");
	assert_int_equal(addr6_prefix_host(&out, 3, &a), 0);
	assert_int_equal(addr6_prefix_host(&out, 4, &a), -ERANGE);
}

static void test_problems(void **state)
{
	struct in6_addr a;
	struct prefix6 p;

	(void)state;
	a = A6("::");
	assert_non_null(addr6_unicast_problem(&a));
	a = A6("::1");
	assert_non_null(addr6_unicast_problem(&a));
	a = A6("ff02::1");
	assert_non_null(addr6_unicast_problem(&a));
	a = A6("::ffff:10.0.0.1");
	assert_non_null(addr6_unicast_problem(&a));
	a = A6("fe80::1");
	assert_null(addr6_unicast_problem(&a));
	assert_string_equal(addr6_node_ip_problem(&a), "is a link-local address");
	a = A6("2001:db8::6");
	assert_null(addr6_node_ip_problem(&a));

	p = P6("fe80::/64");
	assert_string_equal(addr6_range_problem(&p), "fe80::/10 (link-local)");
	p = P6("::/0");
	assert_non_null(addr6_range_problem(&p));
	p = P6("fd6e:7361:6765::/48");
	assert_null(addr6_range_problem(&p));
}

static void test_link_local_from_mac(void **state)
{
	static const uint8_t mac[ADDR_MAC_LEN] = {0x02, 0x6e, 0xc0, 0xa8, 0x01, 0x06};
	struct in6_addr a, want = A6("fe80::6e:c0ff:fea8:106");

	(void)state;
	addr6_link_local_from_mac(mac, &a);
	assert_memory_equal(&a, &want, sizeof(a));
	assert_true(addr6_is_link_local(&a));
}

/* A namespace's IPv6 address has its IPv4 address's host part. */
static void test_same_host(void **state)
{
	struct prefix6 subnet6 = P6("fd6e:7361:6765:5::/64"), small6 = P6("2001:db8::/126");
	struct prefix subnet = {0xac100500, 24}; /* 172.16.5.0/24 */
	struct in6_addr a, want = A6("fd6e:7361:6765:5::7");
	char buf[ADDR6_STRLEN];

	(void)state;
	assert_int_equal(addr6_same_host(&subnet, 0xac100507, &subnet6, &a), 0);
	assert_memory_equal(&a, &want, sizeof(a));
	assert_int_equal(addr6_same_host(&subnet, 0xac1005fe, &subnet6, &a), 0);
	assert_string_equal(addr6_format(&a, buf), "fd6e:7361:6765:5::fe");
	/* not in the subnet; the network address; too big for a /126 */
	assert_int_equal(addr6_same_host(&subnet, 0xac100607, &subnet6, &a), -ERANGE);
	assert_int_equal(addr6_same_host(&subnet, 0xac100500, &subnet6, &a), -ERANGE);
	assert_int_equal(addr6_same_host(&subnet, 0xac100507, &small6, &a), -ERANGE);
}

/* addr6_format writes what inet_ntop writes: every run of zero groups
 * in every place (each of the 256 patterns of zero and non-zero groups,
 * with small and large values), the IPv4-compatible and -mapped tails,
 * and a prefix's length as given. */
static void test_format_as_inet_ntop(void **state)
{
	static const char *const fixed[] = {
	    "::",
	    "::1",
	    "::2",
	    "1::",
	    "::ffff:1.2.3.4",
	    "::1.2.3.4",
	    "::0.1.0.0",
	    "::ffff:0.0.0.0",
	    "::fffe:102:304",
	    "1:0:0:2::3",
	    "fe80::1",
	    "2001:db8::6",
	    "fd6e:7361:6765:f::1",
	};
	char ours[ADDR6_STRLEN], theirs[ADDR6_STRLEN], p[PREFIX6_STRLEN];
	struct in6_addr a;
	struct prefix6 prefix;

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(fixed); i++) {
		assert_int_equal(inet_pton(AF_INET6, fixed[i], &a), 1);
		assert_string_equal(addr6_format(&a, ours), fixed[i]);
	}
	for (unsigned pattern = 0; pattern < 256; pattern++) {
		for (unsigned value = 0; value < 4; value++) {
			static const unsigned values[] = {0x1, 0xa, 0xbeef, 0xffff};

			memset(&a, 0, sizeof(a));
			for (unsigned g = 0; g < 8; g++) {
				unsigned w = pattern >> g & 1 ? values[(value + g) % 4] : 0;

				a.s6_addr[2 * g] = (uint8_t)(w >> 8);
				a.s6_addr[2 * g + 1] = (uint8_t)w;
			}
			assert_non_null(inet_ntop(AF_INET6, &a, theirs, sizeof(theirs)));
			assert_string_equal(addr6_format(&a, ours), theirs);
		}
	}
	prefix = P6("fd6e:7361:6765:f::/64");
	assert_string_equal(addr6_format_prefix(&prefix, p), "fd6e:7361:6765:f::/64");
	prefix.len = 200;
	assert_string_equal(addr6_format_prefix(&prefix, p), "fd6e:7361:6765:f::/200");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),     cmocka_unit_test(test_parse_prefix),
	    cmocka_unit_test(test_contains),  cmocka_unit_test(test_subnet_and_host),
	    cmocka_unit_test(test_problems),  cmocka_unit_test(test_link_local_from_mac),
	    cmocka_unit_test(test_same_host), cmocka_unit_test(test_format_as_inet_ntop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
