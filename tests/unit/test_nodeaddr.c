/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Node addresses of either family (src/nodeaddr.c): parse and format
 * round trips, equality and order across families, the node-address rules
 * per family, and sockaddr conversion both ways (IPv4-mapped included). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>

#include <cmocka.h>

#include "addr6_lit.h"
#include "nsagent/nodeaddr.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void test_parse_format(void **state)
{
	static const char *good[] = {"192.168.1.6", "2001:db8::6", "fd00::1",
				     "::1",	    "10.0.0.1",	   "2001:db8:1:2:3:4:5:6"};
	static const char *bad[] = {"",
				    "192.168.1",
				    "192.168.1.256",
				    "2001:db8::g",
				    "[2001:db8::6]",
				    "fe80::1%eth0",
				    "192.168.1.6/32",
				    "host",
				    "2001:db8::6 ",
				    " 10.0.0.1",
				    "010.0.0.1"};
	char buf[NODEADDR_STRLEN];
	struct nodeaddr a;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(nodeaddr_parse(good[i], &a), 0);
		assert_string_equal(nodeaddr_format(&a, buf), good[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (nodeaddr_parse(bad[i], &a) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_int_equal(nodeaddr_parse(NULL, &a), -EINVAL);
	assert_int_equal(na("10.1.2.3").family, AF_INET);
	assert_int_equal(na("10.1.2.3").v4, 0x0a010203u);
	assert_int_equal(na("2001:db8::6").family, AF_INET6);
	memset(&a, 0, sizeof(a));
	assert_string_equal(nodeaddr_format(&a, buf), "none");
}

static void test_equal_compare_zero(void **state)
{
	struct nodeaddr none, v4 = na("192.168.1.6"), v4b = na("192.168.1.7"),
			      v6 = na("2001:db8::6"), v6b = na("2001:db8::7");

	(void)state;
	memset(&none, 0, sizeof(none));
	assert_true(nodeaddr_is_zero(&none));
	assert_true(nodeaddr_is_zero(&(struct nodeaddr){.family = AF_INET}));
	assert_true(nodeaddr_is_zero(&(struct nodeaddr){.family = AF_INET6}));
	assert_false(nodeaddr_is_zero(&v4));
	assert_false(nodeaddr_is_zero(&v6));
	assert_true(na_eq(v4, NA4(0xc0a80106u)));
	assert_false(na_eq(v4, v4b));
	assert_false(na_eq(v6, v6b));
	/* The same bits in another family are another address. */
	assert_false(na_eq(NA4(0), na("::")));
	assert_true(nodeaddr_compare(&v4, &v4b) < 0);
	assert_true(nodeaddr_compare(&v4b, &v4) > 0);
	assert_true(nodeaddr_compare(&v6, &v6b) < 0);
	assert_true(nodeaddr_compare(&v4b, &v6) < 0); /* IPv4 first */
	assert_int_equal(nodeaddr_compare(&v6, &v6), 0);
	/* Constructors zero-fill: zero-filled structs holding one memcmp equal. */
	struct nodeaddr x = nodeaddr_v4(5), y;

	memset(&y, 0xff, sizeof(y));
	y = nodeaddr_v4(5);
	assert_memory_equal(&x, &y, sizeof(x));
	assert_int_not_equal(nodeaddr_mix(&v6), nodeaddr_mix(&v6b));
}

static void test_node_problem(void **state)
{
	static const struct {
		const char *addr;
		const char *problem; /* NULL: a node address */
	} cases[] = {
	    {"192.168.1.6", NULL},
	    {"127.0.0.1", "is a loopback address"},
	    {"169.254.1.1", "is a link-local address"},
	    {"2001:db8::6", NULL},
	    {"fd00::6", NULL},
	    {"::1", "loopback"},
	    {"::", "unspecified"},
	    {"fe80::1", "link-local"},
	    {"ff02::1", "multicast"},
	    {"::ffff:10.0.0.1", "IPv4-mapped"},
	};
	struct nodeaddr none;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct nodeaddr a = na(cases[i].addr);
		const char *problem = nodeaddr_node_problem(&a);

		if (!cases[i].problem ? problem != NULL
				      : !problem || !strstr(problem, cases[i].problem))
			fail_msg("%s: '%s', want '%s'", cases[i].addr, problem ? problem : "(none)",
				 cases[i].problem ? cases[i].problem : "(none)");
	}
	memset(&none, 0, sizeof(none));
	assert_non_null(nodeaddr_node_problem(&none));
	assert_true(nodeaddr_is_loopback(&(struct nodeaddr){.family = AF_INET, .v4 = 0x7f000002u}));
	struct nodeaddr lo6 = na("::1"), g6 = na("2001:db8::1");

	assert_true(nodeaddr_is_loopback(&lo6));
	assert_false(nodeaddr_is_loopback(&g6));
}

static void test_sockaddr(void **state)
{
	struct sockaddr_storage ss;
	struct nodeaddr a = na("2001:db8::6"), back;
	struct sockaddr_in6 mapped = {.sin6_family = AF_INET6, .sin6_port = htons(7470)};
	uint16_t port = 0;
	char buf[NODEADDR_STRLEN];

	(void)state;
	assert_int_equal(nodeaddr_to_sockaddr(&a, 7470, &ss), sizeof(struct sockaddr_in6));
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(nodeaddr_from_sockaddr((struct sockaddr *)&ss, &back, &port), 0);
	assert_true(na_eq(a, back));
	assert_int_equal(port, 7470);

	a = na("192.168.1.6");
	assert_int_equal(nodeaddr_to_sockaddr(&a, 80, &ss), sizeof(struct sockaddr_in));
	assert_int_equal(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), 0xc0a80106u);
	assert_int_equal(nodeaddr_from_sockaddr((struct sockaddr *)&ss, &back, NULL), 0);
	assert_true(na_eq(a, back));

	/* A dual-stack listener's IPv4 client is taken as IPv4. */
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.168.1.6", &mapped.sin6_addr), 1);
	assert_int_equal(nodeaddr_from_sockaddr((struct sockaddr *)&mapped, &back, &port), 0);
	assert_int_equal(back.family, AF_INET);
	assert_string_equal(nodeaddr_format(&back, buf), "192.168.1.6");
	assert_int_equal(port, 7470);

	memset(&a, 0, sizeof(a));
	assert_int_equal(nodeaddr_to_sockaddr(&a, 80, &ss), 0);
	ss.ss_family = AF_UNIX;
	assert_int_equal(nodeaddr_from_sockaddr((struct sockaddr *)&ss, &back, NULL),
			 -EAFNOSUPPORT);
}

/* The next hop naming a node on the WireGuard device: an IPv4 node's
 * fe80::7767:a.b.c.d, an IPv6 node's fe80:: with its halves XORed (never
 * shared within one /64, never of the IPv4 form), read back by
 * nodeaddr_wg_next_hop_of; two IPv6 nodes of different prefixes that fold
 * to one next hop are the collision the rde refuses. */
static void test_wg_next_hop(void **state)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr nh, nh2;
	struct nodeaddr none;

	(void)state;
	nodeaddr_wg_next_hop(&(struct nodeaddr[]){na("192.168.1.6")}[0], &nh);
	assert_string_equal(inet_ntop(AF_INET6, &nh, buf, sizeof(buf)), "fe80::7767:c0a8:106");
	nodeaddr_wg_next_hop(&(struct nodeaddr[]){na("2001:db8:1::6")}[0], &nh);
	assert_string_equal(inet_ntop(AF_INET6, &nh, buf, sizeof(buf)), "fe80::2001:db8:1:6");
	assert_true(nodeaddr_wg_next_hop_of(&(struct nodeaddr[]){na("2001:db8:1::6")}[0], &nh));
	assert_false(nodeaddr_wg_next_hop_of(&(struct nodeaddr[]){na("2001:db8:1::5")}[0], &nh));
	memset(&none, 0, sizeof(none));
	assert_false(nodeaddr_wg_next_hop_of(&none, &nh));
	/* A next hop read back from the kernel stands for itself. */
	nodeaddr_wg_next_hop(&(struct nodeaddr[]){na("fe80::2001:db8:1:6")}[0], &nh2);
	assert_memory_equal(&nh, &nh2, sizeof(nh));
	/* Every address of one /64 has its own. */
	nodeaddr_wg_next_hop(&(struct nodeaddr[]){na("2001:db8:1::5")}[0], &nh2);
	assert_memory_not_equal(&nh, &nh2, sizeof(nh));
	/* 2001:db8:2::3:6 folds to the same as 2001:db8:1::6: a collision. */
	nodeaddr_wg_next_hop(&(struct nodeaddr[]){na("2001:db8:2::3:6")}[0], &nh2);
	assert_memory_equal(&nh, &nh2, sizeof(nh));
	/* A fold of the IPv4 form (0:7767:x:x) gets its top bit set, so that
	 * it is not read back as an IPv4 node's. */
	nodeaddr_wg_next_hop(&(struct nodeaddr[]){na("2001:db8:1:0:2001:7adf:c0a9:106")}[0], &nh);
	assert_string_equal(inet_ntop(AF_INET6, &nh, buf, sizeof(buf)), "fe80::8000:7767:c0a8:106");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_format), cmocka_unit_test(test_equal_compare_zero),
	    cmocka_unit_test(test_node_problem), cmocka_unit_test(test_sockaddr),
	    cmocka_unit_test(test_wg_next_hop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
