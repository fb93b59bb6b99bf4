/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Subnet claim: determinism, avoidance of taken subnets, lease reuse,
 * exhaustion, and the conflict rule seen from both sides. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nsagent/claim.h"

static const struct prefix cluster = {0xac100000, 16}; /* 172.16.0.0/16 */

static void make_id(uint8_t *id, uint8_t seed)
{
	for (int i = 0; i < NODE_ID_LEN; i++)
		id[i] = (uint8_t)(seed * 37 + i * 11);
}

static void test_deterministic_and_inside(void **state)
{
	(void)state;
	uint8_t id[NODE_ID_LEN];
	struct prefix a, b;

	make_id(id, 1);
	assert_int_equal(claim_pick(&cluster, 24, id, NULL, NULL, 0, &a), 0);
	assert_int_equal(claim_pick(&cluster, 24, id, NULL, NULL, 0, &b), 0);
	assert_true(addr_prefix_equal(&a, &b));
	assert_int_equal(a.len, 24);
	assert_true(addr_prefix_contains(&cluster, &a));
}

static void test_avoids_taken(void **state)
{
	(void)state;
	uint8_t id[NODE_ID_LEN];
	struct prefix first, second, taken[2];

	make_id(id, 2);
	assert_int_equal(claim_pick(&cluster, 24, id, NULL, NULL, 0, &first), 0);
	taken[0] = first;
	assert_int_equal(claim_pick(&cluster, 24, id, NULL, taken, 1, &second), 0);
	assert_false(addr_prefix_overlaps(&first, &second));
	/* a taken supernet blocks everything inside it */
	taken[0] = (struct prefix){first.addr & 0xfffff000u, 20};
	assert_int_equal(claim_pick(&cluster, 24, id, NULL, taken, 1, &second), 0);
	assert_false(addr_prefix_overlaps(&taken[0], &second));
}

/* Many nodes claiming one after another, each seeing the others' claims,
 * all end up distinct. */
static void test_many_distinct(void **state)
{
	(void)state;
	struct prefix claimed[256];

	for (unsigned n = 0; n < 256; n++) {
		uint8_t id[NODE_ID_LEN];

		make_id(id, (uint8_t)n);
		id[0] = (uint8_t)n;
		assert_int_equal(claim_pick(&cluster, 24, id, NULL, claimed, n, &claimed[n]), 0);
		for (unsigned k = 0; k < n; k++)
			assert_false(addr_prefix_equal(&claimed[k], &claimed[n]));
	}
	uint8_t id[NODE_ID_LEN];
	struct prefix out;

	make_id(id, 9);
	assert_int_equal(claim_pick(&cluster, 24, id, NULL, claimed, 256, &out), -ENOSPC);
}

static void test_preferred_lease(void **state)
{
	(void)state;
	uint8_t id[NODE_ID_LEN];
	struct prefix lease = {0xac102a00, 24}; /* 172.16.42.0/24 */
	struct prefix out, outside = {0x0a000000, 24}, wrong_len = {0xac102a00, 25};

	make_id(id, 3);
	assert_int_equal(claim_pick(&cluster, 24, id, &lease, NULL, 0, &out), 0);
	assert_true(addr_prefix_equal(&out, &lease));
	/* lease now taken by someone else: moves */
	assert_int_equal(claim_pick(&cluster, 24, id, &lease, &lease, 1, &out), 0);
	assert_false(addr_prefix_equal(&out, &lease));
	/* a lease outside the range or of another length is not reused */
	assert_int_equal(claim_pick(&cluster, 24, id, &outside, NULL, 0, &out), 0);
	assert_true(addr_prefix_contains(&cluster, &out));
	assert_int_equal(claim_pick(&cluster, 24, id, &wrong_len, NULL, 0, &out), 0);
	assert_int_equal(out.len, 24);
}

static void test_invalid(void **state)
{
	(void)state;
	uint8_t id[NODE_ID_LEN] = {0};
	struct prefix out;

	assert_int_equal(claim_pick(&cluster, 8, id, NULL, NULL, 0, &out), -EINVAL);
	assert_int_equal(claim_pick(&cluster, 33, id, NULL, NULL, 0, &out), -EINVAL);
}

static void test_resolve(void **state)
{
	(void)state;
	uint8_t low[NODE_ID_LEN] = {0x01}, high[NODE_ID_LEN] = {0x02};

	/* both claimed: lower id keeps, and both sides agree */
	assert_int_equal(claim_resolve(low, false, high, false), CLAIM_KEEP);
	assert_int_equal(claim_resolve(high, false, low, false), CLAIM_YIELD);
	/* explicit wins whatever the ids */
	assert_int_equal(claim_resolve(high, true, low, false), CLAIM_KEEP);
	assert_int_equal(claim_resolve(low, false, high, true), CLAIM_YIELD);
	assert_int_equal(claim_resolve(low, true, high, true), CLAIM_BOTH_EXPLICIT);
	assert_int_equal(claim_resolve(high, true, low, true), CLAIM_BOTH_EXPLICIT);
}

/* The /64 follows the IPv4 subnet's index; an index past cluster6's /64s
 * or a subnet outside the cluster has none. */
static void test_subnet6(void **state)
{
	struct prefix subnet = {0xac10ff00, 24};
	struct prefix wide = {0x0a000000, 8}, far = {0x0affff00, 24};
	struct prefix6 cluster6, narrow6, out;
	char buf[PREFIX6_STRLEN];

	(void)state;
	assert_int_equal(addr6_parse_prefix("fd6e:7361:6765::/48", &cluster6), 0);
	assert_int_equal(addr6_parse_prefix("fd00:1:2:3300::/56", &narrow6), 0);
	assert_int_equal(claim_subnet6(&cluster, &subnet, &cluster6, &out), 0);
	assert_string_equal(addr6_format_prefix(&out, buf), "fd6e:7361:6765:ff::/64");
	subnet.addr = 0xac100000;
	assert_int_equal(claim_subnet6(&cluster, &subnet, &cluster6, &out), 0);
	assert_string_equal(addr6_format_prefix(&out, buf), "fd6e:7361:6765::/64");
	/* 65536 /24s of a /8: the last fits a /48's /64s, a /56 has only 256 */
	assert_int_equal(claim_subnet6(&wide, &far, &cluster6, &out), 0);
	assert_string_equal(addr6_format_prefix(&out, buf), "fd6e:7361:6765:ffff::/64");
	assert_int_equal(claim_subnet6(&wide, &far, &narrow6, &out), -ERANGE);
	subnet.addr = 0x0a000000;
	assert_int_equal(claim_subnet6(&cluster, &subnet, &cluster6, &out), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deterministic_and_inside),
	    cmocka_unit_test(test_avoids_taken),
	    cmocka_unit_test(test_many_distinct),
	    cmocka_unit_test(test_preferred_lease),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_resolve),
	    cmocka_unit_test(test_subnet6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
