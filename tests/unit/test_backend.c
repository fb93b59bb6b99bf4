/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pure data-path decisions: per-peer mode, VTEP MAC, MTUs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nsagent/backend.h"

static void test_choose(void **st)
{
	bool fallback = true;

	(void)st;
	/* auto: direct when on-link, vxlan behind a gateway. */
	assert_int_equal(backend_choose(CFG_BACKEND_AUTO, true, true, &fallback), KERN_MODE_DIRECT);
	assert_false(fallback);
	assert_int_equal(backend_choose(CFG_BACKEND_AUTO, false, true, &fallback), KERN_MODE_VXLAN);
	assert_false(fallback);
	/* A peer without a VTEP cannot be reached over VXLAN: direct, flagged. */
	assert_int_equal(backend_choose(CFG_BACKEND_AUTO, false, false, &fallback),
			 KERN_MODE_DIRECT);
	assert_true(fallback);
	assert_int_equal(backend_choose(CFG_BACKEND_AUTO, true, false, &fallback),
			 KERN_MODE_DIRECT);
	assert_false(fallback);
	/* Forced modes ignore the route. */
	assert_int_equal(backend_choose(CFG_BACKEND_DIRECT, false, true, &fallback),
			 KERN_MODE_DIRECT);
	assert_false(fallback);
	assert_int_equal(backend_choose(CFG_BACKEND_VXLAN, true, true, &fallback), KERN_MODE_VXLAN);
	assert_int_equal(backend_choose(CFG_BACKEND_VXLAN, true, false, NULL), KERN_MODE_DIRECT);
	assert_true(backend_has_vtep(CFG_BACKEND_AUTO));
	assert_true(backend_has_vtep(CFG_BACKEND_VXLAN));
	assert_false(backend_has_vtep(CFG_BACKEND_DIRECT));
}

static void test_vtep_mac(void **st)
{
	uint8_t mac[KERN_MAC_LEN], other[KERN_MAC_LEN];
	static const uint8_t want[KERN_MAC_LEN] = {0x02, 0x6e, 192, 168, 2, 6};

	(void)st;
	backend_vtep_mac(&(struct nodeaddr){.family = AF_INET, .v4 = 0xc0a80206}, mac);
	assert_memory_equal(mac, want, KERN_MAC_LEN);
	/* locally administered, unicast */
	assert_int_equal(mac[0] & 0x03, 0x02);
	backend_vtep_mac(&(struct nodeaddr){.family = AF_INET, .v4 = 0xc0a80105}, other);
	assert_memory_not_equal(mac, other, KERN_MAC_LEN);
}

/* An IPv6 VTEP: the fold of its words, so nodes of one underlay /64 that
 * differ in the interface identifier differ in the MAC. */
static void test_vtep_mac6(void **st)
{
	uint8_t mac[KERN_MAC_LEN], other[KERN_MAC_LEN];
	/* 2001:db8:1:0 ^ 0:0:0:6 = 0x20010db8 ^ 0x00010000 ^ 0 ^ 6 */
	static const uint8_t want[KERN_MAC_LEN] = {0x02, 0x6e, 0x20, 0x00, 0x0d, 0xbe};
	struct nodeaddr a, b;

	(void)st;
	assert_int_equal(nodeaddr_parse("2001:db8:1::6", &a), 0);
	assert_int_equal(nodeaddr_parse("2001:db8:1::7", &b), 0);
	backend_vtep_mac(&a, mac);
	assert_memory_equal(mac, want, KERN_MAC_LEN);
	backend_vtep_mac(&b, other);
	assert_memory_not_equal(mac, other, KERN_MAC_LEN);
}

static void test_mtu(void **st)
{
	(void)st;
	assert_int_equal(backend_vxlan_mtu(1500, AF_INET), 1450);
	assert_int_equal(backend_vxlan_mtu(9000, AF_INET), 8950);
	assert_int_equal(backend_vxlan_mtu(0, AF_INET), 1450); /* unknown: 1500 assumed */
	assert_int_equal(backend_vxlan_mtu(600, AF_INET), BACKEND_MIN_MTU);
	/* an IPv6 outer header is 20 bytes longer */
	assert_int_equal(backend_vxlan_mtu(1500, AF_INET6), 1430);
	assert_int_equal(backend_vxlan_mtu(640, AF_INET6), BACKEND_MIN_MTU);
	assert_int_equal(backend_namespace_mtu(1500, CFG_BACKEND_VXLAN, false, AF_INET6), 1430);
	/* auto: the underlay's until a peer is over VXLAN */
	assert_int_equal(backend_namespace_mtu(1500, CFG_BACKEND_AUTO, false, AF_INET), 1500);
	assert_int_equal(backend_namespace_mtu(1500, CFG_BACKEND_AUTO, true, AF_INET), 1450);
	assert_int_equal(backend_namespace_mtu(9000, CFG_BACKEND_AUTO, true, AF_INET), 8950);
	/* vxlan: always room for the header; direct: never */
	assert_int_equal(backend_namespace_mtu(1500, CFG_BACKEND_VXLAN, false, AF_INET), 1450);
	assert_int_equal(backend_namespace_mtu(1500, CFG_BACKEND_DIRECT, false, AF_INET), 1500);
	assert_int_equal(backend_namespace_mtu(0, CFG_BACKEND_DIRECT, false, AF_INET), 1500);
}

static void test_names(void **st)
{
	(void)st;
	assert_string_equal(backend_mode_name(KERN_MODE_DIRECT), "direct");
	assert_string_equal(backend_mode_name(KERN_MODE_VXLAN), "vxlan");
	assert_string_equal(backend_name(CFG_BACKEND_AUTO), "auto");
	assert_string_equal(backend_name(CFG_BACKEND_VXLAN), "vxlan");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_choose),    cmocka_unit_test(test_vtep_mac),
	    cmocka_unit_test(test_vtep_mac6), cmocka_unit_test(test_mtu),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
