/* SPDX-License-Identifier: GPL-2.0-or-later */
/* RIB: adverts, graceful restart (stale, sweep, expiry), withdraw,
 * adoption of kernel routes, validation and overlap suppression; the
 * same for IPv6 /64s beside the IPv4 subnets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "addr6_lit.h"

#include "nsagent/log.h"
#include "nsagent/rib.h"

static const struct prefix cluster = {0xac100000, 16};
static const uint8_t A[NODE_ID_LEN] = {0xa};
static const uint8_t B[NODE_ID_LEN] = {0xb};
#define NET(x) ((struct prefix){0xac100000 | ((x) << 8), 24})
#define IPV4_A 0xc0a80105
#define IPV4_B 0xc0a80106
#define IP_A NA4(IPV4_A)
#define IP_B NA4(IPV4_B)

static unsigned routes(struct rib *rib, const struct prefix *local, struct kern_route *copy)
{
	struct kern_route *r;
	unsigned n = rib_routes(rib, local, NULL, &r);

	if (copy && n)
		memcpy(copy, r, n * sizeof(*r));
	free(r);
	return n;
}

static bool has_route(struct rib *rib, struct prefix dst, struct nodeaddr gw)
{
	struct kern_route r[64];
	unsigned n = routes(rib, NULL, r);

	for (unsigned i = 0; i < n; i++)
		if (addr_prefix_equal(&r[i].dst, &dst) && na_eq(r[i].gateway, gw))
			return true;
	return false;
}

static void test_advert_replace(void **st)
{
	(void)st;
	struct rib *rib = rib_new(&cluster, 24);
	struct prefix set1[] = {NET(1), NET(2)}, set2[] = {NET(2), NET(3)};

	assert_int_equal(rib_advert(rib, A, IP_A, set1, 2, false), 0);
	assert_int_equal(routes(rib, NULL, NULL), 2);
	/* full-set replacement: 1 goes, 3 comes */
	assert_int_equal(rib_advert(rib, A, IP_A, set2, 2, false), 0);
	assert_int_equal(routes(rib, NULL, NULL), 2);
	assert_false(has_route(rib, NET(1), IP_A));
	assert_true(has_route(rib, NET(3), IP_A));
	rib_free(rib);
}

static void test_validation(void **st)
{
	(void)st;
	struct rib *rib = rib_new(&cluster, 24);
	struct prefix bad[] = {
	    {0x0a000000, 24}, /* outside the cluster */
	    {0, 0},	      /* default route */
	    {0xac100101, 24}, /* host bits */
	    {0xac100000, 8},  /* wider than the cluster */
	    NET(5),	      /* the only good one */
	};
	struct prefix many[RIB_MAX_SUBNETS_PER_NODE + 3];

	assert_int_equal(rib_advert(rib, A, IP_A, bad, 5, false), 4);
	assert_int_equal(routes(rib, NULL, NULL), 1);
	for (unsigned i = 0; i < RIB_MAX_SUBNETS_PER_NODE + 3; i++)
		many[i] = NET(10 + i);
	assert_int_equal(rib_advert(rib, B, IP_B, many, RIB_MAX_SUBNETS_PER_NODE + 3, false), 3);
	assert_int_equal(routes(rib, NULL, NULL), 1 + RIB_MAX_SUBNETS_PER_NODE);
	rib_free(rib);
}

static void test_graceful_restart(void **st)
{
	(void)st;
	struct rib *rib = rib_new(&cluster, 24);
	struct prefix old[] = {NET(1), NET(2)}, fresh[] = {NET(2)};
	uint64_t next;
	unsigned n;
	const struct rib_entry *e;

	rib_advert(rib, A, IP_A, old, 2, false);
	rib_session_down(rib, A, 1000);
	/* still installed while stale */
	assert_int_equal(routes(rib, NULL, NULL), 2);
	e = rib_entries(rib, &n);
	for (unsigned i = 0; i < n; i++)
		assert_true(e[i].stale);
	rib_expire(rib, 1000 + 119999, 120000, &next);
	assert_int_equal(routes(rib, NULL, NULL), 2);
	assert_int_equal(next, 1000 + 120000);
	/* the node returns with only NET(2): it is fresh, NET(1) waits for EoA */
	rib_advert(rib, A, IP_A, fresh, 1, false);
	assert_int_equal(routes(rib, NULL, NULL), 2);
	rib_end_of_adverts(rib, A);
	assert_int_equal(routes(rib, NULL, NULL), 1);
	assert_true(has_route(rib, NET(2), IP_A));
	e = rib_entries(rib, &n);
	assert_false(e[0].stale);
	/* nothing stale: no expiry pending */
	rib_expire(rib, 999999, 120000, &next);
	assert_int_equal(next, 0);
	rib_free(rib);
}

static void test_expiry(void **st)
{
	(void)st;
	struct rib *rib = rib_new(&cluster, 24);
	struct prefix a[] = {NET(1)}, b[] = {NET(2)};
	uint64_t next;

	rib_advert(rib, A, IP_A, a, 1, false);
	rib_advert(rib, B, IP_B, b, 1, false);
	rib_session_down(rib, A, 0);
	rib_session_down(rib, A, 500); /* a second drop keeps the first deadline */
	rib_expire(rib, 999, 1000, &next);
	assert_int_equal(next, 1000);
	assert_int_equal(routes(rib, NULL, NULL), 2);
	rib_expire(rib, 1000, 1000, &next);
	assert_int_equal(routes(rib, NULL, NULL), 1);
	assert_true(has_route(rib, NET(2), IP_B));
	assert_int_equal(next, 0);
	rib_free(rib);
}

static void test_withdraw(void **st)
{
	(void)st;
	struct rib *rib = rib_new(&cluster, 24);
	struct prefix a[] = {NET(1), NET(3)}, b[] = {NET(2)};

	rib_advert(rib, A, IP_A, a, 2, false);
	rib_advert(rib, B, IP_B, b, 1, false);
	rib_withdraw(rib, A);
	assert_int_equal(routes(rib, NULL, NULL), 1);
	assert_true(has_route(rib, NET(2), IP_B));
	rib_free(rib);
}

static void test_adopt(void **st)
{
	(void)st;
	struct rib *rib = rib_new(&cluster, 24);
	struct kern_route kr[] = {{.dst = NET(1), .gateway = IP_A},
				  {.dst = NET(4), .gateway = IP_A},
				  {.dst = NET(2), .gateway = IP_B}};
	struct prefix a[] = {NET(1)};
	uint64_t next;

	rib_adopt(rib, kr, 3, 100);
	rib_adopt(rib, kr, 3, 100); /* idempotent */
	assert_int_equal(routes(rib, NULL, NULL), 3);
	/* A returns advertising only NET(1); its EoA sweeps NET(4) */
	rib_advert(rib, A, IP_A, a, 1, false);
	rib_end_of_adverts(rib, A);
	assert_int_equal(routes(rib, NULL, NULL), 2);
	assert_true(has_route(rib, NET(1), IP_A));
	assert_false(has_route(rib, NET(4), IP_A));
	/* B never returns */
	rib_expire(rib, 100 + 5000, 5000, &next);
	assert_int_equal(routes(rib, NULL, NULL), 1);
	rib_free(rib);
}

/* Two nodes claiming the same subnet, or one overlapping the local subnet,
 * never produce overlapping kernel routes. */
/* The path set for a node reaches its routes; an adopted vxlan route keeps
 * its VTEP until the owner re-advertises the same path (no change). */
static void test_vxlan_path(void **st)
{
	static const uint8_t mac[KERN_MAC_LEN] = {0x02, 0x6e, 192, 168, 2, 6};
	struct rib *rib = rib_new(&cluster, 24);
	struct kern_route r[4], adopted;
	struct prefix s1 = NET(1);

	(void)st;
	rib_advert(rib, A, IP_A, &s1, 1, false);
	assert_int_equal(routes(rib, NULL, r), 1);
	assert_int_equal(r[0].mode, KERN_MODE_DIRECT);
	rib_set_path(rib, A, KERN_MODE_VXLAN, (struct nodeaddr[]){IP_A}, mac);
	assert_int_equal(routes(rib, NULL, r), 1);
	assert_int_equal(r[0].mode, KERN_MODE_VXLAN);
	assert_true(na_eq(r[0].gateway, IP_A));
	assert_int_equal(r[0].vtep, IPV4_A);
	assert_memory_equal(r[0].vtep_mac, mac, KERN_MAC_LEN);
	/* another node's entries are untouched */
	rib_set_path(rib, B, KERN_MODE_DIRECT, &(struct nodeaddr){0}, mac);
	assert_int_equal(routes(rib, NULL, r), 1);
	assert_int_equal(r[0].mode, KERN_MODE_VXLAN);
	/* back to direct: no VTEP left in the route */
	rib_set_path(rib, A, KERN_MODE_DIRECT, (struct nodeaddr[]){IP_A}, mac);
	assert_int_equal(routes(rib, NULL, r), 1);
	assert_int_equal(r[0].mode, KERN_MODE_DIRECT);
	assert_int_equal(r[0].vtep, 0);
	rib_free(rib);

	/* Adopted from the kernel as vxlan, then re-advertised identically. */
	rib = rib_new(&cluster, 24);
	memset(&adopted, 0, sizeof(adopted));
	adopted.dst = s1;
	adopted.gateway = IP_A;
	adopted.mode = KERN_MODE_VXLAN;
	adopted.vtep = IPV4_A;
	memcpy(adopted.vtep_mac, mac, KERN_MAC_LEN);
	rib_adopt(rib, &adopted, 1, 0);
	assert_int_equal(routes(rib, NULL, r), 1);
	assert_memory_equal(&r[0], &adopted, sizeof(adopted));
	rib_advert(rib, A, IP_A, &s1, 1, false);
	rib_set_path(rib, A, KERN_MODE_VXLAN, (struct nodeaddr[]){IP_A}, mac);
	assert_int_equal(routes(rib, NULL, r), 1);
	assert_memory_equal(&r[0], &adopted, sizeof(adopted));
	rib_free(rib);
}

static void test_no_overlap(void **st)
{
	(void)st;
	struct rib *rib = rib_new(&cluster, 24);
	struct prefix same[] = {NET(7)};
	struct prefix wide[] = {{0xac100000, 20}}; /* covers NET(0..15) */
	enum rib_verdict v;
	struct prefix local = NET(9);
	struct kern_route r[8];
	unsigned n;

	rib_advert(rib, B, IP_B, same, 1, false);
	rib_advert(rib, A, IP_A, same, 1, false);
	n = routes(rib, NULL, r);
	assert_int_equal(n, 1);
	assert_true(na_eq(r[0].gateway, IP_A)); /* lower id */
	/* explicit beats the lower id */
	rib_advert(rib, B, IP_B, same, 1, true);
	n = routes(rib, NULL, r);
	assert_int_equal(n, 1);
	assert_true(na_eq(r[0].gateway, IP_B));
	/* fresh beats stale */
	rib_session_down(rib, B, 0);
	n = routes(rib, NULL, r);
	assert_int_equal(n, 1);
	assert_true(na_eq(r[0].gateway, IP_A));
	/* a subnet overlapping our own is never installed */
	rib_withdraw(rib, B);
	n = routes(rib, &(struct prefix){NET(7).addr, 24}, r);
	assert_int_equal(n, 0);
	assert_int_equal(rib_advert_checked(rib, B, IP_B, wide, 1, false, &v), 1);
	assert_int_equal(v, RIB_REJECT_LENGTH);
	/* No advert is wider than a node subnet (test_subnet_length), but a
	 * route adopted from the kernel at startup can be. */
	rib_adopt(rib, &(struct kern_route){.dst = wide[0], .gateway = IP_B}, 1, 0);
	n = routes(rib, &local, r);
	/* wide overlaps local and is out, so A's NET(7) no longer competes */
	assert_int_equal(n, 1);
	assert_true(addr_prefix_equal(&r[0].dst, &same[0]));
	assert_true(na_eq(r[0].gateway, IP_A));
	rib_free(rib);
}

/* Overlaps found wherever the entries sit in the table: a wide adopted
 * route holding two node subnets, with a third, apart, between them in
 * the table; disjoint entries all routed. */
static void test_overlap_nested(void **st)
{
	(void)st;
	struct rib *rib = rib_new(&cluster, 24);
	static const uint8_t C[NODE_ID_LEN] = {0xc};
	struct prefix a[] = {NET(1)}, b[] = {NET(40)}, c[] = {NET(3)};
	struct kern_route r[16];
	unsigned n;

	rib_advert(rib, A, IP_A, a, 1, false);
	rib_advert(rib, B, IP_B, b, 1, false);
	rib_advert(rib, C, NA4(0xc0a80107), c, 1, false);
	assert_int_equal(routes(rib, NULL, NULL), 3);
	/* 172.16.0.0/20 (adopted from the kernel, stale) holds NET(1) and
	 * NET(3), which are fresh and win: it is not routed, NET(40) is */
	rib_adopt(rib, &(struct kern_route){.dst = {0xac100000, 20}, .gateway = IP_B}, 1, 0);
	n = routes(rib, NULL, r);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(r[i].dst.len, 24);
	assert_int_equal(n, 3);
	assert_true(has_route(rib, NET(40), IP_B));
	/* once NET(1) and NET(3) go stale too, the lowest id wins: the
	 * adopted route (no owner) */
	rib_session_down(rib, A, 0);
	rib_session_down(rib, C, 0);
	n = routes(rib, NULL, r);
	assert_int_equal(n, 2);
	assert_true(has_route(rib, (struct prefix){0xac100000, 20}, IP_B));
	assert_true(has_route(rib, NET(40), IP_B));
	rib_free(rib);
}

/* rib_advert_checked: one verdict per entry; the valid ones apply. */
static void test_verdicts(void **st)
{
	(void)st;
	struct rib *rib = rib_new(&cluster, 24);
	struct prefix local[] = {{0xac10c800, 24}, {0xc0a80105, 32}};
	struct prefix set[] = {
	    {0, 0},	      NET(1),		{0x0a000000, 8}, {0xac10c880, 25},
	    {0xac100501, 24}, {0xac100000, 16}, NET(7),
	};
	enum rib_verdict v[7];
	/* the /25 inside local and the /16 covering it are refused for their
	 * length before any overlap is looked at */
	const enum rib_verdict want[7] = {
	    RIB_REJECT_DEFAULT, RIB_REJECT_OWNED,     RIB_REJECT_OUTSIDE_CLUSTER,
	    RIB_REJECT_LENGTH,	RIB_REJECT_MALFORMED, RIB_REJECT_LENGTH,
	    RIB_ACCEPTED,
	};
	struct prefix many[20];

	rib_set_local(rib, local, 2);
	assert_int_equal(rib_advert_checked(rib, A, IP_A, (struct prefix[]){NET(1)}, 1, false, v),
			 0);
	assert_int_equal(rib_advert_checked(rib, B, IP_B, set, 7, false, v), 6);
	for (int i = 0; i < 7; i++)
		assert_int_equal(v[i] * 100 + i, want[i] * 100 + i);
	assert_true(has_route(rib, NET(7), IP_B));
	assert_true(has_route(rib, NET(1), IP_A));
	assert_string_equal(rib_verdict_name(RIB_REJECT_OWNED),
			    "overlaps a subnet another live node owns");

	/* the owner's session drops: its entry is stale and no longer defends */
	rib_session_down(rib, A, 1000);
	assert_int_equal(
	    rib_advert_checked(rib, B, IP_B, (struct prefix[]){NET(1), NET(7)}, 2, false, v), 0);
	assert_int_equal(v[0], RIB_ACCEPTED);
	assert_true(has_route(rib, NET(1), IP_B));

	/* at most RIB_MAX_SUBNETS_PER_NODE, A's stale entry included */
	for (int i = 0; i < 20; i++)
		many[i] = NET(100 + i);
	assert_int_equal(rib_advert_checked(rib, A, IP_A, many, 20, false, NULL), 5);
	rib_free(rib);
}

/* An advert is exactly one node subnet long: a wider prefix would take
 * the place of every node subnet it covers (the /17 hijack), a longer one
 * would cut into one. Neither is stored, so neither defends against the
 * real owner. */
static void test_subnet_length(void **st)
{
	(void)st;
	struct rib *rib = rib_new(&cluster, 24);
	struct prefix set[] = {
	    {0xac108000, 17}, /* 172.16.128.0/17 */
	    {0xac10c880, 25}, /* 172.16.200.128/25 */
	    {0xac100000, 16}, /* the whole cluster */
	    {0xac10c801, 32}, /* one address */
	    NET(77),
	};
	const enum rib_verdict want[5] = {RIB_REJECT_LENGTH, RIB_REJECT_LENGTH, RIB_REJECT_LENGTH,
					  RIB_REJECT_LENGTH, RIB_ACCEPTED};
	enum rib_verdict v[5];
	struct prefix real = NET(200);
	const struct prefix pods = {0x0af40000, 16}; /* 10.244.0.0/16 in /26s */
	struct prefix pod_set[] = {{0x0af40040, 26}, {0x0af40100, 24}, {0x0af40080, 27}};

	assert_int_equal(rib_advert_checked(rib, A, IP_A, set, 5, false, v), 4);
	for (int i = 0; i < 5; i++)
		assert_int_equal(v[i] * 100 + i, want[i] * 100 + i);
	assert_int_equal(routes(rib, NULL, NULL), 1);
	assert_true(has_route(rib, NET(77), IP_A));
	/* the real owner of 172.16.200.0/24 joins afterwards and gets its route */
	assert_int_equal(rib_advert_checked(rib, B, IP_B, &real, 1, false, v), 0);
	assert_int_equal(v[0], RIB_ACCEPTED);
	assert_true(has_route(rib, NET(200), IP_B));
	/* the unchecked path refuses the length too */
	assert_int_equal(rib_advert(rib, A, IP_A, set, 5, false), 4);
	assert_string_equal(rib_verdict_name(RIB_REJECT_LENGTH),
			    "not the cluster's node-subnet length");
	assert_string_equal(rib_verdict_key(RIB_REJECT_LENGTH), "length");
	rib_free(rib);

	/* another node-subnet length: /26 is the one accepted */
	rib = rib_new(&pods, 26);
	assert_int_equal(rib_advert_checked(rib, A, IP_A, pod_set, 3, false, v), 2);
	assert_int_equal(v[0], RIB_ACCEPTED);
	assert_int_equal(v[1], RIB_REJECT_LENGTH);
	assert_int_equal(v[2], RIB_REJECT_LENGTH);
	assert_true(has_route(rib, pod_set[0], IP_A));
	rib_free(rib);
}

/* ---- IPv6 ---- */

static struct rib *rib6_new(void)
{
	struct rib *rib = rib_new(&cluster, 24);
	struct prefix6 cluster6 = pfx6("fd6e:7361:6765::/48");

	rib_set_cluster6(rib, &cluster6);
	return rib;
}

/* The route to dst6 in the set, or NULL. */
static const struct kern_route *route6(const struct kern_route *r, unsigned n, const char *dst6)
{
	struct prefix6 want = pfx6(dst6);

	for (unsigned i = 0; i < n; i++)
		if (r[i].ipv6 && addr6_prefix_equal(&r[i].dst6, &want))
			return &r[i];
	return NULL;
}

/* Hostile IPv6 adverts, each refused for its own reason: wrong length,
 * outside the range, our own /64 (and this host's networks), ::/0,
 * link-local, multicast, host bits, another live node's /64. */
static void test_verdicts6(void **st)
{
	(void)st;
	struct rib *rib = rib6_new();
	struct prefix6 local6[] = {pfx6("fd6e:7361:6765:1::/64"), pfx6("fd00:1::5/128")};
	struct prefix6 set[] = {
	    pfx6("::/0"),
	    pfx6("fd6e:7361:6765::/56"),
	    pfx6("fd6e:7361:6765:3::/80"),
	    pfx6("fe80::/64"),
	    pfx6("ff02::/64"),
	    pfx6("fd00:9::/64"),
	    pfx6("fd6e:7361:6765:1::/64"),
	    pfx6("fd6e:7361:6765:2::/64"),
	    {ip6("fd6e:7361:6765:3::1"), 64},
	    pfx6("fd00:1::/64"),
	    pfx6("fd6e:7361:6765:4::/64"),
	};
	const enum rib_verdict want[] = {
	    RIB_REJECT_DEFAULT,	  RIB_REJECT_LENGTH,	      RIB_REJECT_LENGTH, RIB_REJECT_SPECIAL,
	    RIB_REJECT_SPECIAL,	  RIB_REJECT_OUTSIDE_CLUSTER, RIB_REJECT_LOCAL,	 RIB_REJECT_OWNED,
	    RIB_REJECT_MALFORMED, RIB_REJECT_OUTSIDE_CLUSTER, RIB_ACCEPTED,
	};
	enum rib_verdict v[11];
	struct kern_route r[16];
	unsigned n;

	rib_set_local6(rib, local6, 2);
	assert_int_equal(rib_advert6_checked(rib, A, IP_A, NULL,
					     (struct prefix6[]){pfx6("fd6e:7361:6765:2::/64")}, 1,
					     v),
			 0);
	assert_int_equal(rib_advert6_checked(rib, B, IP_B, NULL, set, 11, v), 10);
	for (int i = 0; i < 11; i++)
		assert_int_equal(v[i] * 100 + i, want[i] * 100 + i);
	assert_string_equal(rib_verdict_key(RIB_REJECT_SPECIAL), "special");
	/* without a path yet they are direct, via nothing: the paths come next */
	rib_set_path6(rib, B, true, KERN_MODE_DIRECT, (struct in6_addr[]){ip6("fe80::b")}, "eth0",
		      0, NULL);
	n = routes(rib, NULL, r);
	assert_int_equal(n, 2);
	assert_non_null(route6(r, n, "fd6e:7361:6765:4::/64"));
	assert_memory_equal(&route6(r, n, "fd6e:7361:6765:4::/64")->gateway6,
			    (struct in6_addr[]){ip6("fe80::b")}, 16);
	assert_string_equal(route6(r, n, "fd6e:7361:6765:4::/64")->ifname, "eth0");

	/* an IPv4 advert leaves the node's IPv6 entries alone... */
	assert_int_equal(rib_advert_checked(rib, B, IP_B, (struct prefix[]){NET(2)}, 1, false, v),
			 0);
	assert_int_equal(routes(rib, NULL, r), 3);
	/* ...and its complete IPv6 set without it (an --ipv6 off restart) removes it */
	assert_int_equal(rib_advert6_checked(rib, B, IP_B, NULL, NULL, 0, v), 0);
	n = routes(rib, NULL, r);
	assert_int_equal(n, 2);
	assert_null(route6(r, n, "fd6e:7361:6765:4::/64"));

	/* without a cluster6 (--ipv6 off) nothing is inside the range */
	rib_free(rib);
	rib = rib_new(&cluster, 24);
	assert_int_equal(rib_check_shape6(rib, &set[10]), RIB_REJECT_OUTSIDE_CLUSTER);
	rib_free(rib);
}

/* Graceful restart covers IPv6 entries: stale on session loss (the route
 * stays), the end-of-adverts sweep, expiry; a node without a usable path
 * holds its /64 but gets no route. */
static void test_graceful_restart6(void **st)
{
	(void)st;
	struct rib *rib = rib6_new();
	struct prefix6 a6 = pfx6("fd6e:7361:6765:a::/64");
	struct in6_addr ll = ip6("fe80::a");
	struct kern_route r[8];
	enum rib_verdict v[2];
	uint64_t next;
	unsigned n, n_entries;

	rib_advert_checked(rib, A, IP_A, (struct prefix[]){NET(1)}, 1, false, v);
	rib_advert6_checked(rib, A, IP_A, &ll, &a6, 1, v);
	rib_set_path6(rib, A, true, KERN_MODE_DIRECT, &ll, "eth0", 0, NULL);
	assert_int_equal(routes(rib, NULL, r), 2);
	rib_session_down(rib, A, 1000);
	n = routes(rib, NULL, r);
	assert_int_equal(n, 2);
	assert_non_null(route6(r, n, "fd6e:7361:6765:a::/64"));
	assert_true(rib_entries(rib, &n_entries)[1].stale);
	/* back with its IPv4 subnet only: the IPv6 one is swept at end-of-adverts */
	rib_advert_checked(rib, A, IP_A, (struct prefix[]){NET(1)}, 1, false, v);
	rib_advert6_checked(rib, A, IP_A, &ll, NULL, 0, v);
	assert_int_equal(routes(rib, NULL, r), 2);
	rib_end_of_adverts(rib, A);
	n = routes(rib, NULL, r);
	assert_int_equal(n, 1);
	assert_null(route6(r, n, "fd6e:7361:6765:a::/64"));

	/* expiry after the restart time */
	rib_advert6_checked(rib, A, IP_A, &ll, &a6, 1, v);
	rib_set_path6(rib, A, true, KERN_MODE_DIRECT, &ll, "eth0", 0, NULL);
	rib_session_down(rib, A, 2000);
	rib_expire(rib, 2999, 1000, &next);
	assert_int_equal(next, 3000);
	assert_int_equal(routes(rib, NULL, r), 2);
	rib_expire(rib, 3000, 1000, &next);
	assert_int_equal(routes(rib, NULL, r), 0);

	/* no usable path: no route, but the /64 is still held */
	rib_advert_checked(rib, A, IP_A, (struct prefix[]){NET(1)}, 1, false, v);
	rib_advert6_checked(rib, A, IP_A, NULL, &a6, 1, v);
	rib_set_path6(rib, A, false, KERN_MODE_DIRECT, NULL, NULL, 0, NULL);
	assert_int_equal(routes(rib, NULL, r), 1);
	assert_int_equal(rib_advert6_checked(rib, B, IP_B, NULL, &a6, 1, v), 1);
	assert_int_equal(v[0], RIB_REJECT_OWNED);
	/* our own /64 is never routed via a peer */
	rib_set_path6(rib, A, true, KERN_MODE_DIRECT, &ll, "eth0", 0, NULL);
	{
		struct kern_route *out;

		n = rib_routes(rib, NULL, &a6, &out);
		free(out);
		assert_int_equal(n, 1);
	}
	rib_free(rib);
}

/* IPv6 routes found in the kernel at start are kept stale and become the
 * node's whose link-local address is their gateway (direct) or whose node
 * IP is their VTEP (vxlan). */
static void test_adopt6(void **st)
{
	(void)st;
	struct rib *rib = rib6_new();
	uint8_t mac_b[KERN_MAC_LEN] = {0x6e, 0, 0xc0, 0xa8, 1, 6};
	struct kern_route kr[] = {
	    {.ipv6 = true,
	     .dst6 = pfx6("fd6e:7361:6765:a::/64"),
	     .gateway6 = ip6("fe80::a"),
	     .ifname = "eth0"},
	    {.ipv6 = true,
	     .dst6 = pfx6("fd6e:7361:6765:b::/64"),
	     .gateway = IP_B,
	     .mode = KERN_MODE_VXLAN,
	     .vtep = IPV4_B},
	};
	const struct rib_entry *e;
	struct in6_addr ll_a = ip6("fe80::a");
	enum rib_verdict v[1];
	unsigned n;

	memcpy(kr[1].vtep_mac, mac_b, KERN_MAC_LEN);
	addr6_link_local_from_mac(mac_b, &kr[1].gateway6);
	rib_adopt(rib, kr, 2, 0);
	rib_adopt(rib, kr, 2, 0); /* twice: no duplicate */
	e = rib_entries(rib, &n);
	assert_int_equal(n, 2);
	assert_true(e[0].stale && e[1].stale);
	assert_int_equal(routes(rib, NULL, NULL), 2);
	/* A's IPv4 advert does not claim the direct one (no node IP on it)... */
	rib_advert_checked(rib, A, IP_A, (struct prefix[]){NET(1)}, 1, false, v);
	assert_true(node_id_is_zero(rib_entries(rib, &n)[0].node_id));
	/* ...its IPv6 advert with that link-local address does */
	rib_advert6_checked(rib, A, IP_A, &ll_a, (struct prefix6[]){pfx6("fd6e:7361:6765:a::/64")},
			    1, v);
	e = rib_entries(rib, &n);
	assert_memory_equal(e[0].node_id, A, NODE_ID_LEN);
	assert_false(e[0].stale);
	/* B's IPv4 advert claims the vxlan one (its node IP), stale until B
	 * re-advertises it: B's end-of-adverts without it sweeps it */
	rib_advert_checked(rib, B, IP_B, (struct prefix[]){NET(2)}, 1, false, v);
	e = rib_entries(rib, &n);
	assert_memory_equal(e[1].node_id, B, NODE_ID_LEN);
	assert_true(e[1].stale);
	rib_end_of_adverts(rib, B);
	assert_int_equal(routes(rib, NULL, NULL), 3);
	rib_free(rib);
}

static enum rib_verdict verdict_of(struct rib *rib, const uint8_t *node, struct nodeaddr ip,
				   struct prefix p)
{
	enum rib_verdict v = RIB_VERDICT_COUNT;

	rib_advert_checked(rib, node, ip, &p, 1, false, &v);
	return v;
}

/* "Overlaps a subnet another live node owns" follows every change of an
 * entry's freshness and owner (the owners index): a fresh entry defends,
 * a stale, withdrawn, dropped or expired one does not, and an adopted
 * route defends once its node has re-advertised it. */
static void test_owned_fresh(void **st)
{
	static const uint8_t C[NODE_ID_LEN] = {0xc}, D[NODE_ID_LEN] = {0xd};
	struct rib *rib = rib_new(&cluster, 24);
	struct prefix both[] = {NET(1), NET(2)};
	struct kern_route adopted = {.dst = NET(9), .gateway = NA4(0xc0a80109)};

	(void)st;
	assert_int_equal(verdict_of(rib, A, IP_A, NET(1)), RIB_ACCEPTED);
	assert_int_equal(verdict_of(rib, B, IP_B, NET(1)), RIB_REJECT_OWNED);
	/* A's session drops: its stale entry no longer defends */
	rib_session_down(rib, A, 1000);
	assert_int_equal(verdict_of(rib, B, IP_B, NET(1)), RIB_ACCEPTED);
	/* A returns: B's fresh entry defends against it */
	assert_int_equal(verdict_of(rib, A, IP_A, NET(1)), RIB_REJECT_OWNED);
	/* B leaves: A takes it back, and defends it again */
	rib_withdraw(rib, B);
	assert_int_equal(verdict_of(rib, A, IP_A, NET(1)), RIB_ACCEPTED);
	assert_int_equal(verdict_of(rib, C, IP_B, NET(1)), RIB_REJECT_OWNED);
	/* A advertises another set without it: free for C */
	assert_int_equal(verdict_of(rib, A, IP_A, NET(2)), RIB_ACCEPTED);
	assert_int_equal(verdict_of(rib, C, IP_B, NET(1)), RIB_ACCEPTED);
	assert_int_equal(verdict_of(rib, D, IP_B, NET(2)), RIB_REJECT_OWNED);
	/* A's own re-advert of what it holds is not refused by itself */
	assert_int_equal(rib_advert_checked(rib, A, IP_A, both, 2, false, NULL), 1);
	/* stale, then expired: nothing defends */
	rib_session_down(rib, C, 1000);
	rib_expire(rib, 5000, 1000, NULL);
	assert_int_equal(verdict_of(rib, D, IP_B, NET(1)), RIB_ACCEPTED);
	/* an adopted route defends once its node (by gateway) re-advertised it */
	rib_adopt(rib, &adopted, 1, 0);
	assert_int_equal(verdict_of(rib, D, IP_B, NET(9)), RIB_ACCEPTED);
	rib_withdraw(rib, D);
	rib_adopt(rib, &adopted, 1, 0);
	assert_int_equal(verdict_of(rib, C, NA4(0xc0a80109), NET(9)), RIB_ACCEPTED);
	assert_int_equal(verdict_of(rib, D, IP_B, NET(9)), RIB_REJECT_OWNED);
	/* the unchecked advert holds its entries against checked ones too */
	assert_int_equal(rib_advert(rib, D, IP_B, &both[0], 1, false), 0);
	assert_int_equal(verdict_of(rib, A, IP_A, NET(1)), RIB_REJECT_OWNED);
	/* both families: a /64 held by A's fresh entry is refused to B */
	{
		struct prefix6 p6 = pfx6("fd00:0:0:1::/64"), cluster6 = pfx6("fd00::/48");
		enum rib_verdict v = RIB_VERDICT_COUNT;

		rib_set_cluster6(rib, &cluster6);
		rib_advert6_checked(rib, A, IP_A, NULL, &p6, 1, &v);
		assert_int_equal(v, RIB_ACCEPTED);
		rib_advert6_checked(rib, B, IP_B, NULL, &p6, 1, &v);
		assert_int_equal(v, RIB_REJECT_OWNED);
		rib_session_down(rib, A, 9000);
		rib_advert6_checked(rib, B, IP_B, NULL, &p6, 1, &v);
		assert_int_equal(v, RIB_ACCEPTED);
	}
	rib_free(rib);
}

/* The check against other nodes' entries is a search, not a scan: 1,000
 * nodes advertising one subnet each look at O(log n) index places per
 * entry (a scan looked at every entry: 500,000 in all). */
static void test_owned_search(void **st)
{
	static const struct prefix wide = {0x0a000000, 8};
	struct rib *rib = rib_new(&wide, 24);
	const unsigned n = 1000;

	(void)st;
	for (unsigned i = 0; i < n; i++) {
		uint8_t id[NODE_ID_LEN] = {0};
		struct prefix p = {0x0a000000 | i << 8, 24};

		id[0] = (uint8_t)(i >> 8);
		id[1] = (uint8_t)i;
		id[2] = 1;
		assert_int_equal(verdict_of(rib, id, NA4(0xc0a80000 | i), p), RIB_ACCEPTED);
	}
	/* binary search over at most n records: 11 probes, plus a record
	 * read; the index's own upkeep (its insertion search) as much again */
	assert_true(rib_check_steps(rib) <= 3ul * 12 * n);
	print_message("%lu index steps for %u adverts\n", rib_check_steps(rib), n);
	rib_free(rib);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_advert_replace),   cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_graceful_restart), cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_withdraw),	     cmocka_unit_test(test_adopt),
	    cmocka_unit_test(test_no_overlap),	     cmocka_unit_test(test_verdicts),
	    cmocka_unit_test(test_vxlan_path),	     cmocka_unit_test(test_subnet_length),
	    cmocka_unit_test(test_verdicts6),	     cmocka_unit_test(test_graceful_restart6),
	    cmocka_unit_test(test_adopt6),	     cmocka_unit_test(test_overlap_nested),
	    cmocka_unit_test(test_owned_fresh),	     cmocka_unit_test(test_owned_search),
	};
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
