/* SPDX-License-Identifier: GPL-2.0-or-later */
/* IPv6 literals for the unit tests (after <cmocka.h>): pfx6("fd00::/64")
 * and ip6("fe80::1"), asserted to parse, so that a case reads like the
 * adverts and routes it is about; node addresses of either family too:
 * na("2001:db8::6"), NA4(0xc0a80105), compared with na_eq. */
#ifndef NSAGENT_TESTS_ADDR6_LIT_H
#define NSAGENT_TESTS_ADDR6_LIT_H

#include "nsagent/addr6.h"
#include "nsagent/nodeaddr.h"

static inline struct prefix6 pfx6(const char *text)
{
	struct prefix6 p;

	assert_int_equal(addr6_parse_prefix(text, &p), 0);
	return p;
}

static inline struct in6_addr ip6(const char *text)
{
	struct in6_addr a;

	assert_int_equal(addr6_parse(text, &a), 0);
	return a;
}

static inline struct nodeaddr na(const char *text)
{
	struct nodeaddr a;

	assert_int_equal(nodeaddr_parse(text, &a), 0);
	return a;
}

#define NA4(v4) nodeaddr_v4(v4)

static inline bool na_eq(struct nodeaddr a, struct nodeaddr b)
{
	return nodeaddr_equal(&a, &b);
}

#endif
