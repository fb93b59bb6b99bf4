/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The route decision engine, deterministically: a fake clock (now_ms is
 * an argument), a fake path lookup (which peer is behind a gateway), and
 * events given by hand in the order a case needs, where the loopback
 * tests (test_peer) can only hope for one. Pins the subnet claim and its
 * conflicts, stale expiry to the millisecond, per-peer mode changes, the
 * MTU/VXLAN order of a plan, adoption and the per-peer view; for IPv6,
 * the per-peer path (link-local direct, VXLAN fallback, none), hostile
 * /64s, peers without IPv6 and graceful restart. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "addr6_lit.h"

#include "nsagent/backend.h"
#include "nsagent/log.h"
#include "nsagent/rde.h"

#define NET(x) ((struct prefix){0xac100000u | ((x) << 8), 24})
#define IP_B 0xc0a80106u
#define IP_C 0xc0a80206u
#define VTEP_MAC                                                                                   \
	{                                                                                          \
		2, 0x6e, 1, 2, 3, 4                                                                \
	}

/* Our id is in the middle: LOW wins a claim conflict against us, HIGH
 * loses it. */
static const uint8_t OURS[NODE_ID_LEN] = {0x50};
static const uint8_t LOW[NODE_ID_LEN] = {0x10};
static const uint8_t HIGH[NODE_ID_LEN] = {0x90};

struct fixture {
	struct rde *rde;
	unsigned plans;
	struct rde_plan last; /* routes copied into routes[] */
	struct kern_route routes[16];
	struct nodeaddr behind_gateway; /* the fake path lookup: this node IP is routed */
	int path_error;			/* the fake path lookup fails with it */
	unsigned lookups;
};

static void on_plan(void *arg, const struct rde_plan *plan)
{
	struct fixture *f = arg;

	assert_true(plan->n_routes <= 16);
	f->plans++;
	f->last = *plan;
	if (plan->n_routes)
		memcpy(f->routes, plan->routes, plan->n_routes * sizeof(*plan->routes));
	f->last.routes = f->routes;
}

static int fake_path(void *arg, const struct nodeaddr *node_ip, struct kern_path *path,
		     struct kern_error *err)
{
	struct fixture *f = arg;

	f->lookups++;
	if (f->path_error) {
		snprintf(err->message, sizeof(err->message), "cannot find a route: fake");
		return f->path_error;
	}
	memset(path, 0, sizeof(*path));
	if (na_eq(*node_ip, f->behind_gateway))
		path->gateway =
		    f->behind_gateway.family == AF_INET6 ? na("2001:db8:1::1") : NA4(0xc0a80101u);
	snprintf(path->ifname, sizeof(path->ifname), "eth0");
	return 0;
}

static const struct rde_ops ops = {.plan = on_plan};

static void base_config(struct rde_config *c, struct fixture *f)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->node_id, OURS, NODE_ID_LEN);
	c->cluster = (struct prefix){0xac100000u, 16};
	c->subnet_len = 24;
	c->claim_wait_ms = 3000;
	c->restart_time_ms = 5000;
	c->backend = CFG_BACKEND_AUTO;
	c->node_ip = NA4(0xc0a80105u);
	c->underlay_mtu = 1500;
	c->path = fake_path;
	c->path_arg = f;
}

static void start(struct fixture *f, const struct rde_config *c, uint64_t now)
{
	f->rde = rde_new(c, &ops, f);
	rde_start(f->rde, now, false);
	rde_flush(f->rde, now);
}

/* Our subnet NET(1), given with --subnet. */
static void start_explicit(struct fixture *f, uint64_t now)
{
	struct rde_config c;

	base_config(&c, f);
	c.subnet = NET(1);
	c.subnet_explicit = true;
	start(f, &c, now);
}

static void advert(struct fixture *f, const uint8_t *id, uint32_t ip, struct prefix subnet,
		   bool explicit_subnet, bool vtep, uint64_t now)
{
	struct rde_advert a = {.node_ip = NA4(ip),
			       .subnets = &subnet,
			       .n_subnets = 1,
			       .explicit_subnet = explicit_subnet,
			       .vtep = vtep ? NA4(ip) : (struct nodeaddr){0},
			       .vtep_mac = VTEP_MAC};

	rde_advert(f->rde, id, "test peer", &a, now);
}

static void up_and_advert(struct fixture *f, const uint8_t *id, uint32_t ip, struct prefix subnet,
			  bool vtep, uint64_t now)
{
	rde_session_up(f->rde, id, now);
	advert(f, id, ip, subnet, false, vtep, now);
	rde_end_of_adverts(f->rde, id, now);
	rde_flush(f->rde, now);
}

static struct rde_peer_view view_of(const struct fixture *f, const uint8_t *id)
{
	struct rde_peer_view v;

	rde_peer_view(f->rde, id, &v);
	return v;
}

static bool planned(const struct fixture *f, struct prefix dst)
{
	for (unsigned i = 0; i < f->last.n_routes; i++)
		if (addr_prefix_equal(&f->last.routes[i].dst, &dst))
			return true;
	return false;
}

static int teardown(void **st)
{
	struct fixture *f = *st;

	rde_free(f->rde);
	free(f);
	return 0;
}

static int setup(void **st)
{
	*st = calloc(1, sizeof(struct fixture));
	return *st ? 0 : -1;
}

/* An explicit subnet is planned at once, topology first, with the
 * underlay's MTU and no VXLAN device while no peer needs one. */
static void test_explicit_first_plan(void **st)
{
	struct fixture *f = *st;

	start_explicit(f, 1000);
	assert_int_equal(f->plans, 1);
	assert_int_equal(f->last.order, RDE_ORDER_TOPOLOGY_FIRST);
	assert_true(f->last.subnet_set);
	assert_true(addr_prefix_equal(&f->last.subnet, &NET(1)));
	assert_int_equal(f->last.mtu, 1500);
	assert_true(nodeaddr_is_zero(&f->last.vtep));
	assert_int_equal(f->last.n_routes, 0);
	/* nothing changed: nothing pushed */
	rde_flush(f->rde, 1001);
	assert_int_equal(f->plans, 1);
	assert_int_equal(rde_next_wake(f->rde), UINT64_MAX);
}

/* Without seeds the claim happens at the first tick, never inside
 * rde_start; with initial peers it waits for them or the claim wait. */
static void test_claim_wait(void **st)
{
	struct fixture *f = *st;
	struct rde_config c;
	struct prefix got;

	base_config(&c, f);
	f->rde = rde_new(&c, &ops, f);
	rde_start(f->rde, 1000, true);
	rde_flush(f->rde, 1000);
	assert_int_equal(f->plans, 0);
	assert_false(rde_subnet(f->rde, &got, NULL));
	assert_int_equal(rde_next_wake(f->rde), 4000);
	rde_tick(f->rde, 3999);
	assert_false(rde_subnet(f->rde, &got, NULL));
	rde_tick(f->rde, 4000);
	rde_flush(f->rde, 4000);
	assert_true(rde_subnet(f->rde, &got, NULL));
	assert_int_equal(f->plans, 1);
	assert_int_equal(f->last.order, RDE_ORDER_TOPOLOGY_FIRST);
	assert_int_equal(rde_next_wake(f->rde), UINT64_MAX);
}

/* Claims for a node without lease: every run starts the same walk from
 * our id, and what the initial peers said is avoided: their adverts and
 * the subnet hints of the peers they relayed. */
static struct prefix claim_with(struct fixture *f, const struct prefix *advertised,
				const struct prefix *hint)
{
	struct rde_config c;
	struct prefix got = {0, 0};

	base_config(&c, f);
	rde_free(f->rde);
	f->rde = rde_new(&c, &ops, f);
	rde_start(f->rde, 0, true);
	if (advertised)
		up_and_advert(f, LOW, IP_B, *advertised, false, 0);
	if (hint)
		rde_hint(f->rde, HIGH, hint, 0);
	rde_initial_answered(f->rde, 10);
	rde_flush(f->rde, 10);
	assert_true(rde_subnet(f->rde, &got, NULL));
	assert_int_equal(f->last.order, RDE_ORDER_TOPOLOGY_FIRST);
	return got;
}

static void test_claim_avoids_taken(void **st)
{
	struct fixture *f = *st;
	struct prefix first = claim_with(f, NULL, NULL);
	struct prefix second = claim_with(f, &first, NULL);
	struct prefix third = claim_with(f, &first, &second);

	assert_int_equal(first.len, 24);
	assert_false(addr_prefix_overlaps(&second, &first));
	assert_false(addr_prefix_overlaps(&third, &first));
	assert_false(addr_prefix_overlaps(&third, &second));
	assert_true(planned(f, first));
}

/* Claimed vs claimed: a lower id holding our subnet makes us move (a new
 * topology plan) and gets its route; a higher id is told to move: its
 * route waits until it has, then comes without another advert from it. */
static void test_claim_conflict(void **st)
{
	struct fixture *f = *st;
	struct rde_config c;
	struct prefix ours, moved;
	unsigned plans;

	base_config(&c, f);
	c.lease = NET(1);
	c.lease_set = true;
	start(f, &c, 0);
	assert_true(rde_subnet(f->rde, &ours, NULL));
	assert_true(addr_prefix_equal(&ours, &NET(1)));

	/* HIGH claims our subnet too: we keep it, no route to it */
	up_and_advert(f, HIGH, IP_C, NET(1), false, 10);
	assert_false(view_of(f, HIGH).routed);
	assert_false(planned(f, NET(1)));
	/* it moves to NET(3): routed */
	advert(f, HIGH, IP_C, NET(3), false, false, 20);
	rde_flush(f->rde, 20);
	assert_true(view_of(f, HIGH).routed);

	/* LOW claims our subnet: we move, it is routed, HIGH keeps its route */
	plans = f->plans;
	up_and_advert(f, LOW, IP_B, NET(1), false, 30);
	assert_int_equal(f->plans, plans + 1);
	assert_int_equal(f->last.order, RDE_ORDER_TOPOLOGY_FIRST);
	assert_true(rde_subnet(f->rde, &moved, NULL));
	assert_false(addr_prefix_overlaps(&moved, &NET(1)));
	assert_false(addr_prefix_overlaps(&moved, &NET(3)));
	assert_true(addr_prefix_equal(&f->last.subnet, &moved));
	assert_true(planned(f, NET(1)));
	assert_true(planned(f, NET(3)));
}

/* Both configured by hand with the same subnet: nobody moves, no route,
 * counted. */
static void test_conflict_both_explicit(void **st)
{
	struct fixture *f = *st;
	struct rde_stats stats;
	struct prefix ours;

	start_explicit(f, 0);
	rde_session_up(f->rde, LOW, 5);
	advert(f, LOW, IP_B, NET(1), true, false, 5);
	rde_flush(f->rde, 5);
	rde_get_stats(f->rde, &stats);
	assert_int_equal(stats.conflicts, 1);
	assert_int_equal(stats.rejected[RIB_REJECT_LOCAL], 1);
	assert_true(rde_subnet(f->rde, &ours, NULL));
	assert_true(addr_prefix_equal(&ours, &NET(1)));
	assert_false(view_of(f, LOW).routed);
	assert_int_equal(f->last.n_routes, 0);
}

/* A lost session keeps the route, stale, for exactly the restart time;
 * the owner's return refreshes it; goodbye(leave) withdraws at once. */
static void test_stale_expiry(void **st)
{
	struct fixture *f = *st;
	struct rde_peer_view v;
	unsigned plans;

	start_explicit(f, 0);
	up_and_advert(f, LOW, IP_B, NET(2), false, 100);
	assert_true(view_of(f, LOW).routed);
	assert_false(view_of(f, LOW).stale);

	rde_session_down(f->rde, LOW, false, 1000);
	rde_flush(f->rde, 1000);
	v = view_of(f, LOW);
	assert_true(v.routed && v.stale);
	assert_int_equal(rde_next_wake(f->rde), 6000);
	plans = f->plans;
	rde_tick(f->rde, 5999);
	rde_flush(f->rde, 5999);
	assert_int_equal(f->plans, plans);
	assert_true(view_of(f, LOW).routed);
	rde_tick(f->rde, 6000);
	rde_flush(f->rde, 6000);
	assert_int_equal(f->plans, plans + 1);
	assert_false(planned(f, NET(2)));
	v = view_of(f, LOW);
	assert_false(v.routed || v.stale || v.subnet_known); /* forgotten with its route */
	assert_int_equal(rde_next_wake(f->rde), UINT64_MAX);

	/* back within the restart time: fresh, never withdrawn */
	up_and_advert(f, LOW, IP_B, NET(2), false, 7000);
	rde_session_down(f->rde, LOW, false, 8000);
	rde_flush(f->rde, 8000);
	plans = f->plans;
	up_and_advert(f, LOW, IP_B, NET(2), false, 9000);
	assert_int_equal(f->plans, plans); /* the route never changed */
	v = view_of(f, LOW);
	assert_true(v.routed && !v.stale);
	rde_tick(f->rde, 13000);
	rde_flush(f->rde, 13000);
	assert_true(view_of(f, LOW).routed);

	/* leave: gone at once */
	rde_session_down(f->rde, LOW, true, 14000);
	rde_flush(f->rde, 14000);
	assert_false(planned(f, NET(2)));
	assert_false(view_of(f, LOW).subnet_known);
}

/* A node goes down at the moment another one's stale route expires: the
 * expired one is forgotten and the one going down is stale, whatever their
 * places in the rde's node table. */
static void test_down_while_another_expires(void **st)
{
	struct fixture *f = *st;
	struct rde_peer_view v;

	start_explicit(f, 0);
	up_and_advert(f, LOW, IP_B, NET(2), false, 10);
	up_and_advert(f, HIGH, IP_C, NET(3), false, 20);
	rde_session_down(f->rde, LOW, false, 1000);
	rde_session_down(f->rde, HIGH, false, 6000); /* LOW expires now */
	rde_flush(f->rde, 6000);
	assert_false(view_of(f, LOW).subnet_known);
	v = view_of(f, HIGH);
	assert_true(v.routed && v.stale);
	assert_int_equal(rde_next_wake(f->rde), 11000);
}

/* backend auto: a peer behind a gateway with a VTEP is reached over
 * VXLAN: the plan lowers the MTU and wants the device before the route
 * goes in; when it is on-link again the route goes direct and the MTU is
 * raised and the device dropped after the routes. */
static void test_mode_changes_and_mtu_order(void **st)
{
	struct fixture *f = *st;
	static const uint8_t mac[KERN_MAC_LEN] = VTEP_MAC;

	start_explicit(f, 0);
	f->behind_gateway = NA4(IP_B);
	up_and_advert(f, LOW, IP_B, NET(2), true, 10);
	assert_int_equal(f->lookups, 1);
	assert_int_equal(view_of(f, LOW).mode, KERN_MODE_VXLAN);
	assert_int_equal(f->last.order, RDE_ORDER_DATAPATH_FIRST);
	assert_int_equal(f->last.mtu, 1450);
	assert_true(nodeaddr_equal(&f->last.vtep, &(struct nodeaddr[]){NA4(0xc0a80105u)}[0]));
	assert_int_equal(f->last.vxlan_mtu, 1450);
	assert_int_equal(f->last.n_routes, 1);
	assert_int_equal(f->last.routes[0].mode, KERN_MODE_VXLAN);
	assert_int_equal(f->last.routes[0].vtep, IP_B);
	assert_memory_equal(f->last.routes[0].vtep_mac, mac, KERN_MAC_LEN);

	/* a second vxlan peer: routes only, the data path is already there */
	f->behind_gateway = NA4(IP_C);
	up_and_advert(f, HIGH, IP_C, NET(3), true, 20);
	assert_int_equal(f->last.order, RDE_ORDER_ROUTES_ONLY);
	assert_int_equal(f->last.n_routes, 2);

	/* LOW's path turns on-link (its next advert asks again): direct; HIGH
	 * still needs VXLAN, so the MTU stays */
	advert(f, LOW, IP_B, NET(2), false, true, 30);
	rde_flush(f->rde, 30);
	assert_int_equal(view_of(f, LOW).mode, KERN_MODE_DIRECT);
	assert_int_equal(f->last.order, RDE_ORDER_ROUTES_ONLY);
	assert_int_equal(f->last.mtu, 1450);

	/* HIGH leaves: no vxlan route left, routes go first, then the MTU */
	rde_session_down(f->rde, HIGH, true, 40);
	rde_flush(f->rde, 40);
	assert_int_equal(f->last.order, RDE_ORDER_ROUTES_FIRST);
	assert_int_equal(f->last.mtu, 1500);
	assert_true(nodeaddr_is_zero(&f->last.vtep));
	assert_int_equal(f->last.n_routes, 1);
	assert_int_equal(f->last.routes[0].mode, KERN_MODE_DIRECT);
}

/* Behind a gateway without a VTEP, or with a failing lookup: direct is
 * all there is; --backend direct never asks the kernel. */
static void test_mode_fallbacks(void **st)
{
	struct fixture *f = *st;
	struct rde_config c;

	start_explicit(f, 0);
	f->behind_gateway = NA4(IP_B);
	up_and_advert(f, LOW, IP_B, NET(2), false, 10);
	assert_int_equal(view_of(f, LOW).mode, KERN_MODE_DIRECT);
	assert_int_equal(f->last.mtu, 1500);
	f->path_error = -ENETUNREACH;
	up_and_advert(f, HIGH, IP_C, NET(3), true, 20);
	assert_int_equal(view_of(f, HIGH).mode, KERN_MODE_VXLAN);
	rde_free(f->rde);

	base_config(&c, f);
	c.backend = CFG_BACKEND_DIRECT;
	c.subnet = NET(1);
	c.subnet_explicit = true;
	f->lookups = 0;
	start(f, &c, 0);
	up_and_advert(f, HIGH, IP_C, NET(3), true, 20);
	assert_int_equal(f->lookups, 0);
	assert_int_equal(view_of(f, HIGH).mode, KERN_MODE_DIRECT);
}

/* --backend vxlan: the device and the lowered MTU from the first plan, and
 * no data-path change ever after. */
static void test_backend_vxlan_fixed_datapath(void **st)
{
	struct fixture *f = *st;
	struct rde_config c;

	base_config(&c, f);
	c.backend = CFG_BACKEND_VXLAN;
	c.subnet = NET(1);
	c.subnet_explicit = true;
	start(f, &c, 0);
	assert_int_equal(f->last.mtu, 1450);
	assert_true(nodeaddr_equal(&f->last.vtep, &(struct nodeaddr[]){NA4(0xc0a80105u)}[0]));
	up_and_advert(f, LOW, IP_B, NET(2), true, 10);
	assert_int_equal(f->last.order, RDE_ORDER_ROUTES_ONLY);
	rde_session_down(f->rde, LOW, true, 20);
	rde_flush(f->rde, 20);
	assert_int_equal(f->last.order, RDE_ORDER_ROUTES_ONLY);
	assert_int_equal(f->last.mtu, 1450);
}

/* Routes adopted from the kernel are planned without a push, stay until
 * their owner's end-of-adverts sweeps what it no longer has, or expire. */
static void test_adopt(void **st)
{
	struct fixture *f = *st;
	struct rde_config c;
	struct kern_route adopted[] = {{.dst = NET(2), .gateway = NA4(IP_B)},
				       {.dst = NET(9), .gateway = NA4(IP_B)},
				       {.dst = NET(8), .gateway = NA4(IP_C)}};
	struct kern_route *routes;
	unsigned n;

	base_config(&c, f);
	c.subnet = NET(1);
	c.subnet_explicit = true;
	f->rde = rde_new(&c, &ops, f);
	rde_adopt(f->rde, adopted, 3, 0);
	rde_start(f->rde, 0, true);
	rde_flush(f->rde, 0);
	assert_int_equal(f->plans, 1); /* the topology, with the adopted routes */
	assert_int_equal(f->last.n_routes, 3);
	assert_int_equal(rde_next_wake(f->rde), 5000);
	up_and_advert(f, LOW, IP_B, NET(2), false, 100);
	assert_int_equal(f->last.n_routes, 2);
	assert_false(planned(f, NET(9)));
	rde_tick(f->rde, 5000);
	rde_flush(f->rde, 5000);
	n = rde_routes(f->rde, &routes);
	assert_int_equal(n, 1);
	assert_true(addr_prefix_equal(&routes[0].dst, &NET(2)));
	free(routes);
}

/* Undecodable and excess entries are counted with the RIB's verdicts; a
 * hint of another length than the node subnet's is ignored. */
static void test_rejections_counted(void **st)
{
	struct fixture *f = *st;
	struct prefix subnets[] = {NET(2), {0, 0}, {0xac100000u | (5 << 8), 25}};
	struct rde_advert a = {.node_ip = NA4(IP_B),
			       .subnets = subnets,
			       .n_subnets = 3,
			       .n_malformed = 2,
			       .n_over = 4};
	struct prefix wide = {0xac100000u, 17};
	struct rde_stats stats;

	start_explicit(f, 0);
	rde_session_up(f->rde, LOW, 1);
	rde_advert(f->rde, LOW, "test peer", &a, 1);
	rde_flush(f->rde, 1);
	rde_get_stats(f->rde, &stats);
	assert_int_equal(stats.rejected[RIB_REJECT_MALFORMED], 2);
	assert_int_equal(stats.rejected[RIB_REJECT_TOO_MANY], 4);
	assert_int_equal(stats.rejected[RIB_REJECT_DEFAULT], 1);
	assert_int_equal(stats.rejected[RIB_REJECT_LENGTH], 1);
	assert_int_equal(f->last.n_routes, 1);
	rde_hint(f->rde, HIGH, &wide, 1);
	rde_hint(f->rde, HIGH, NULL, 1);
	assert_false(view_of(f, HIGH).subnet_known);
}

/* ---- IPv6 ---- */

/* Dual-stack, our subnet NET(1) given, so our /64 is fd6e:7361:6765:1::. */
/* Our subnet NET(1), backend, dual-stack when ipv6, IPv6 on eth0. */
static void dual_config(struct rde_config *c, struct fixture *f, enum cfg_backend backend,
			bool ipv6)
{
	base_config(c, f);
	c->subnet = NET(1);
	c->subnet_explicit = true;
	c->backend = backend;
	c->ipv6 = ipv6;
	c->cluster6 = pfx6("fd6e:7361:6765::/48");
	snprintf(c->underlay_ifname, sizeof(c->underlay_ifname), "eth0");
	c->underlay_ipv6 = true;
}

static void start_dual(struct fixture *f, enum cfg_backend backend, bool ipv6, uint64_t now)
{
	struct rde_config c;

	dual_config(&c, f, backend, ipv6);
	start(f, &c, now);
}

/* A peer's advert of subnet and its /64 p6 (pointed at, not copied). */
static struct rde_advert advert6_of(uint32_t ip, const struct prefix *subnet,
				    const struct prefix6 *p6, bool vtep)
{
	return (struct rde_advert){.node_ip = NA4(ip),
				   .subnets = subnet,
				   .n_subnets = 1,
				   .subnets6 = p6,
				   .n_subnets6 = 1,
				   .vtep = vtep ? NA4(ip) : (struct nodeaddr){0},
				   .vtep_mac = VTEP_MAC};
}

/* The peer's session comes up with the advert, then end-of-adverts and a
 * flush. */
static void deliver(struct fixture *f, const uint8_t *id, const struct rde_advert *a, uint64_t now)
{
	rde_session_up(f->rde, id, now);
	rde_advert(f->rde, id, "test peer", a, now);
	rde_end_of_adverts(f->rde, id, now);
	rde_flush(f->rde, now);
}

/* A peer's advert with its /64 (ll: its link-local next hop, or NULL). */
static void up_and_advert6(struct fixture *f, const uint8_t *id, uint32_t ip, struct prefix subnet,
			   const char *subnet6, const char *ll, bool vtep, uint64_t now)
{
	struct prefix6 p6 = pfx6(subnet6);
	struct rde_advert a = advert6_of(ip, &subnet, &p6, vtep);

	if (ll) {
		a.link_local6 = ip6(ll);
		a.link_local6_set = true;
	}
	deliver(f, id, &a, now);
}

static const struct kern_route *planned6(const struct fixture *f, const char *dst6)
{
	struct prefix6 want = pfx6(dst6);

	for (unsigned i = 0; i < f->last.n_routes; i++)
		if (f->last.routes[i].ipv6 && addr6_prefix_equal(&f->last.routes[i].dst6, &want))
			return &f->last.routes[i];
	return NULL;
}

/* A node without a subnet claims one while a peer's IPv6 /64 is in the
 * RIB: IPv6 entries take no IPv4 subnet (their empty IPv4 field once made
 * every subnet look taken, and the claim failed). */
static void test_claim_beside_ipv6(void **st)
{
	struct fixture *f = *st;
	struct rde_config c;
	struct prefix got = {0, 0};

	base_config(&c, f);
	c.ipv6 = true;
	c.cluster6 = pfx6("fd6e:7361:6765::/48");
	snprintf(c.underlay_ifname, sizeof(c.underlay_ifname), "eth0");
	c.underlay_ipv6 = true;
	f->rde = rde_new(&c, &ops, f);
	rde_start(f->rde, 0, true);
	up_and_advert6(f, LOW, IP_B, NET(2), "fd6e:7361:6765:2::/64", "fe80::2", false, 0);
	rde_initial_answered(f->rde, 10);
	rde_flush(f->rde, 10);
	assert_true(rde_subnet(f->rde, &got, NULL));
	assert_int_equal(got.len, 24);
	assert_false(addr_prefix_overlaps(&got, &NET(2)));
	assert_int_equal(f->last.order, RDE_ORDER_TOPOLOGY_FIRST);
}

/* On-link with a link-local address: direct via it on our underlay link.
 * Behind a router: in the tunnel, via the EUI-64 address of its VTEP MAC.
 * On-link without a link-local address: the tunnel too (auto). */
static void test_ipv6_paths(void **st)
{
	struct fixture *f = *st;
	const uint8_t mac[KERN_MAC_LEN] = VTEP_MAC;
	const struct kern_route *r;
	struct in6_addr eui;
	struct rde_peer_view v;

	start_dual(f, CFG_BACKEND_AUTO, true, 0);
	f->behind_gateway = NA4(IP_C);
	up_and_advert6(f, HIGH, IP_B, NET(2), "fd6e:7361:6765:2::/64", "fe80::2", true, 1);
	r = planned6(f, "fd6e:7361:6765:2::/64");
	assert_non_null(r);
	assert_int_equal(r->mode, KERN_MODE_DIRECT);
	assert_memory_equal(&r->gateway6, (struct in6_addr[]){ip6("fe80::2")}, 16);
	assert_string_equal(r->ifname, "eth0");
	assert_true(nodeaddr_is_zero(&f->last.vtep)); /* IPv4 and IPv6 direct: no tunnel */
	v = view_of(f, HIGH);
	assert_true(v.subnet6_known && v.routed6);
	assert_int_equal(v.mode6, KERN_MODE_DIRECT);
	assert_true(
	    addr6_prefix_equal(&v.subnet6, (struct prefix6[]){pfx6("fd6e:7361:6765:2::/64")}));

	up_and_advert6(f, LOW, IP_C, NET(3), "fd6e:7361:6765:3::/64", "fe80::3", true, 2);
	r = planned6(f, "fd6e:7361:6765:3::/64");
	assert_non_null(r);
	addr6_link_local_from_mac(mac, &eui);
	assert_int_equal(r->mode, KERN_MODE_VXLAN);
	assert_memory_equal(&r->gateway6, &eui, 16);
	assert_memory_equal(r->vtep_mac, mac, KERN_MAC_LEN);
	assert_int_equal(r->vtep, IP_C);
	assert_int_equal(view_of(f, LOW).mode6, KERN_MODE_VXLAN);

	/* HIGH again without its link-local address: IPv4 stays direct, IPv6
	 * falls back to the tunnel, which the plan now has */
	up_and_advert6(f, HIGH, IP_B, NET(2), "fd6e:7361:6765:2::/64", NULL, true, 3);
	r = planned6(f, "fd6e:7361:6765:2::/64");
	assert_non_null(r);
	assert_int_equal(r->mode, KERN_MODE_VXLAN);
	assert_int_equal(view_of(f, HIGH).mode, KERN_MODE_DIRECT);
	assert_false(nodeaddr_is_zero(&f->last.vtep));
	/* a "link-local" next hop that is not one is ignored */
	up_and_advert6(f, HIGH, IP_B, NET(2), "fd6e:7361:6765:2::/64", "fd00::2", true, 4);
	assert_int_equal(planned6(f, "fd6e:7361:6765:2::/64")->mode, KERN_MODE_VXLAN);
	assert_true(planned(f, NET(2)) && planned(f, NET(3)));
}

/* --backend direct and no link-local address: no IPv6 route at all, the
 * /64 still known; IPv4 unaffected. */
static void test_ipv6_no_path(void **st)
{
	struct fixture *f = *st;
	struct rde_peer_view v;

	start_dual(f, CFG_BACKEND_DIRECT, true, 0);
	up_and_advert6(f, HIGH, IP_B, NET(2), "fd6e:7361:6765:2::/64", NULL, false, 1);
	assert_true(planned(f, NET(2)));
	assert_null(planned6(f, "fd6e:7361:6765:2::/64"));
	v = view_of(f, HIGH);
	assert_true(v.subnet6_known);
	assert_false(v.routed6);
	/* with it, direct */
	up_and_advert6(f, HIGH, IP_B, NET(2), "fd6e:7361:6765:2::/64", "fe80::2", false, 2);
	assert_non_null(planned6(f, "fd6e:7361:6765:2::/64"));
	assert_true(view_of(f, HIGH).routed6);
}

/* Hostile /64s are refused and counted per reason, apart from IPv4's;
 * undecodable ones too; none is routed, the good one is. */
static void test_ipv6_rejections_counted(void **st)
{
	struct fixture *f = *st;
	struct prefix subnet = NET(2);
	struct prefix6 set[] = {
	    pfx6("fd6e:7361:6765:1::/64"), /* ours */
	    pfx6("::/0"),
	    pfx6("fe80::/64"),
	    pfx6("ff02::/64"),
	    pfx6("fd6e:7361:6765::/56"),
	    pfx6("fd00:5::/64"),
	    pfx6("fd6e:7361:6765:3::/64"), /* LOW's */
	    pfx6("fd6e:7361:6765:2::/64"),
	};
	struct rde_advert a = {.node_ip = NA4(IP_B),
			       .subnets = &subnet,
			       .n_subnets = 1,
			       .subnets6 = set,
			       .n_subnets6 = 8,
			       .n_malformed6 = 3,
			       .link_local6 = ip6("fe80::2"),
			       .link_local6_set = true};
	struct rde_stats stats;
	struct rde_peer_view v;

	start_dual(f, CFG_BACKEND_AUTO, true, 0);
	up_and_advert6(f, LOW, IP_C, NET(3), "fd6e:7361:6765:3::/64", "fe80::3", false, 1);
	rde_session_up(f->rde, HIGH, 2);
	rde_advert(f->rde, HIGH, "test peer", &a, 2);
	rde_flush(f->rde, 2);
	rde_get_stats(f->rde, &stats);
	assert_int_equal(stats.rejected6[RIB_REJECT_MALFORMED], 3);
	assert_int_equal(stats.rejected6[RIB_REJECT_LOCAL], 1);
	assert_int_equal(stats.rejected6[RIB_REJECT_DEFAULT], 1);
	assert_int_equal(stats.rejected6[RIB_REJECT_SPECIAL], 2);
	assert_int_equal(stats.rejected6[RIB_REJECT_LENGTH], 1);
	assert_int_equal(stats.rejected6[RIB_REJECT_OUTSIDE_CLUSTER], 1);
	assert_int_equal(stats.rejected6[RIB_REJECT_OWNED], 1);
	for (unsigned i = 0; i < RIB_VERDICT_COUNT; i++)
		assert_int_equal(stats.rejected[i], 0);
	/* only LOW's and HIGH's own /64 are routed, HIGH's direct */
	assert_int_equal(f->last.n_routes, 4);
	assert_non_null(planned6(f, "fd6e:7361:6765:2::/64"));
	assert_non_null(planned6(f, "fd6e:7361:6765:3::/64"));
	assert_memory_equal(&planned6(f, "fd6e:7361:6765:3::/64")->gateway6,
			    (struct in6_addr[]){ip6("fe80::3")}, 16);
	v = view_of(f, HIGH);
	assert_true(
	    addr6_prefix_equal(&v.subnet6, (struct prefix6[]){pfx6("fd6e:7361:6765:2::/64")}));
}

/* A peer without IPv6 (an older agent: no subnets6) gets and gives no
 * IPv6 route and nothing is counted; with --ipv6 off here, a peer's /64
 * is ignored, not counted either. */
static void test_ipv6_old_peer_and_off(void **st)
{
	struct fixture *f = *st;
	struct rde_stats stats;

	start_dual(f, CFG_BACKEND_AUTO, true, 0);
	up_and_advert(f, HIGH, IP_B, NET(2), true, 1);
	assert_int_equal(f->last.n_routes, 1);
	assert_false(view_of(f, HIGH).subnet6_known);
	rde_get_stats(f->rde, &stats);
	for (unsigned i = 0; i < RIB_VERDICT_COUNT; i++)
		assert_int_equal(stats.rejected6[i] + stats.rejected[i], 0);
	rde_free(f->rde);

	start_dual(f, CFG_BACKEND_AUTO, false, 0);
	assert_false(f->last.subnet6_set);
	up_and_advert6(f, HIGH, IP_B, NET(2), "fd6e:7361:6765:2::/64", "fe80::2", true, 1);
	up_and_advert6(f, LOW, IP_C, NET(3), "fe80::/64", "fe80::3", true, 1);
	assert_int_equal(f->last.n_routes, 2);
	assert_null(planned6(f, "fd6e:7361:6765:2::/64"));
	assert_false(view_of(f, HIGH).subnet6_known);
	rde_get_stats(f->rde, &stats);
	for (unsigned i = 0; i < RIB_VERDICT_COUNT; i++)
		assert_int_equal(stats.rejected6[i] + stats.rejected[i], 0);
}

/* A lost session keeps the /64's route (stale) for the restart time; the
 * peer's return refreshes it; a leave withdraws it at once. */
static void test_ipv6_stale_expiry(void **st)
{
	struct fixture *f = *st;

	start_dual(f, CFG_BACKEND_AUTO, true, 0);
	up_and_advert6(f, HIGH, IP_B, NET(2), "fd6e:7361:6765:2::/64", "fe80::2", true, 1000);
	rde_session_down(f->rde, HIGH, false, 2000);
	rde_flush(f->rde, 2000);
	assert_non_null(planned6(f, "fd6e:7361:6765:2::/64"));
	assert_true(view_of(f, HIGH).routed6);
	assert_true(view_of(f, HIGH).stale);
	rde_tick(f->rde, 6999);
	rde_flush(f->rde, 6999);
	assert_non_null(planned6(f, "fd6e:7361:6765:2::/64"));
	rde_tick(f->rde, 7000);
	rde_flush(f->rde, 7000);
	assert_int_equal(f->last.n_routes, 0);
	assert_false(view_of(f, HIGH).subnet6_known);

	up_and_advert6(f, HIGH, IP_B, NET(2), "fd6e:7361:6765:2::/64", "fe80::2", true, 8000);
	rde_session_down(f->rde, HIGH, false, 9000);
	up_and_advert6(f, HIGH, IP_B, NET(2), "fd6e:7361:6765:2::/64", "fe80::2", true, 9500);
	rde_tick(f->rde, 20000);
	rde_flush(f->rde, 20000);
	assert_non_null(planned6(f, "fd6e:7361:6765:2::/64"));
	assert_false(view_of(f, HIGH).stale);
	rde_session_down(f->rde, HIGH, true, 21000);
	rde_flush(f->rde, 21000);
	assert_int_equal(f->last.n_routes, 0);
}

/* ---- an IPv6 underlay ---- */

/* Our node address node_ip, dual-stack, NET(1) ours, backend auto. */
static void underlay_config(struct rde_config *c, struct fixture *f, const char *node_ip)
{
	base_config(c, f);
	c->node_ip = na(node_ip);
	c->subnet = NET(1);
	c->subnet_explicit = true;
	c->ipv6 = true;
	c->cluster6 = pfx6("fd6e:7361:6765::/48");
	snprintf(c->underlay_ifname, sizeof(c->underlay_ifname), "eth0");
	c->underlay_ipv6 = true;
}

static void start_underlay(struct fixture *f, const char *node_ip)
{
	struct rde_config c;

	underlay_config(&c, f, node_ip);
	start(f, &c, 0);
}

/* The advert of a node at address ip (either family) of NET(net) and
 * fd6e:7361:6765:NET::/64 (held in *subnet, *p6), no VTEP (an IPv6 node
 * has no IPv4 one). */
static struct rde_advert advert_at(const char *ip, unsigned net, struct prefix *subnet,
				   struct prefix6 *p6)
{
	char text[PREFIX6_STRLEN];

	snprintf(text, sizeof(text), "fd6e:7361:6765:%x::/64", net);
	*subnet = NET(net);
	*p6 = pfx6(text);
	return (struct rde_advert){
	    .node_ip = na(ip), .subnets = subnet, .n_subnets = 1, .subnets6 = p6, .n_subnets6 = 1};
}

/* A peer at node address ip advertising NET(2) and its /64, with a
 * link-local next hop. */
static void up_and_advert_at(struct fixture *f, const uint8_t *id, const char *ip, uint64_t now)
{
	struct prefix subnet;
	struct prefix6 p6;
	struct rde_advert a = advert_at(ip, 2, &subnet, &p6);

	a.link_local6 = ip6("fe80::2");
	a.link_local6_set = true;
	deliver(f, id, &a, now);
}

/* Both node addresses IPv6, on-link: the /24 via inet6 the peer's node
 * address (RTA_VIA), the /64 via that same global address on our underlay
 * link, not its link-local one; no tunnel. */
static void test_underlay6_direct(void **st)
{
	struct fixture *f = *st;
	const struct kern_route *r;
	struct rde_peer_view v;

	start_underlay(f, "2001:db8::5");
	up_and_advert_at(f, HIGH, "2001:db8::6", 1);
	assert_true(planned(f, NET(2)));
	for (unsigned i = 0; i < f->last.n_routes; i++)
		if (!f->last.routes[i].ipv6) {
			assert_true(na_eq(f->last.routes[i].gateway, na("2001:db8::6")));
			assert_int_equal(f->last.routes[i].mode, KERN_MODE_DIRECT);
		}
	r = planned6(f, "fd6e:7361:6765:2::/64");
	assert_non_null(r);
	assert_int_equal(r->mode, KERN_MODE_DIRECT);
	assert_memory_equal(&r->gateway6, (struct in6_addr[]){ip6("2001:db8::6")}, 16);
	assert_string_equal(r->ifname, "eth0");
	assert_true(nodeaddr_is_zero(&f->last.vtep));
	v = view_of(f, HIGH);
	assert_true(v.routed && v.routed6);
	assert_null(v.no_path);
	assert_int_equal(f->lookups, 1); /* the path asked for the IPv6 address */
}

/* Node addresses of the two families: no route in either family, and the
 * view says why; the peer keeps its subnet against others. */
static void test_underlay_mixed_families(void **st)
{
	struct fixture *f = *st;
	struct rde_peer_view v;

	start_underlay(f, "192.168.1.5");
	up_and_advert_at(f, HIGH, "2001:db8::6", 1);
	assert_int_equal(f->last.n_routes, 0);
	v = view_of(f, HIGH);
	assert_true(v.subnet_known && v.subnet6_known);
	assert_false(v.routed || v.routed6);
	assert_non_null(v.no_path);
	assert_non_null(strstr(v.no_path, "IPv6 and ours IPv4"));
	/* another node's advert of the same /24 is still refused */
	advert(f, LOW, 0xc0a80107u, NET(2), false, false, 2);
	rde_flush(f->rde, 2);
	assert_int_equal(f->last.n_routes, 0);
	teardown(st);
	assert_int_equal(setup(st), 0);
	f = *st;

	start_underlay(f, "2001:db8::5");
	up_and_advert(f, HIGH, 0xc0a80106u, NET(2), true, 1);
	assert_int_equal(f->last.n_routes, 0);
	assert_non_null(strstr(view_of(f, HIGH).no_path, "IPv4 and ours IPv6"));
}

/* An IPv6 node address behind a router: VXLAN over IPv6 when it
 * advertises a VTEP (of its node address's family): both families through
 * the tunnel, the FDB entry to its IPv6 VTEP, our device on our IPv6 node
 * address with room for the 70-byte overhead of an IPv6 outer header. */
static void test_underlay6_behind_router(void **st)
{
	struct fixture *f = *st;
	struct prefix subnet = NET(2);
	struct prefix6 p6 = pfx6("fd6e:7361:6765:2::/64");
	struct rde_advert a = {.node_ip = na("2001:db8:2::6"),
			       .subnets = &subnet,
			       .n_subnets = 1,
			       .subnets6 = &p6,
			       .n_subnets6 = 1,
			       .vtep = na("2001:db8:2::6"),
			       .vtep_mac = VTEP_MAC};
	const struct kern_route *r6;
	uint8_t mac[KERN_MAC_LEN];

	start_underlay(f, "2001:db8::5");
	f->behind_gateway = na("2001:db8:2::6");
	rde_session_up(f->rde, HIGH, 1);
	rde_advert(f->rde, HIGH, "test peer", &a, 1);
	rde_end_of_adverts(f->rde, HIGH, 1);
	rde_flush(f->rde, 1);
	assert_true(planned(f, NET(2)));
	for (unsigned i = 0; i < f->last.n_routes; i++) {
		const struct kern_route *r = &f->last.routes[i];

		assert_int_equal(r->mode, KERN_MODE_VXLAN);
		assert_int_equal(r->vtep, 0);
		assert_memory_equal(&r->vtep6, (struct in6_addr[]){ip6("2001:db8:2::6")}, 16);
	}
	r6 = planned6(f, "fd6e:7361:6765:2::/64");
	assert_non_null(r6);
	assert_true(addr6_is_link_local(&r6->gateway6));
	assert_true(nodeaddr_equal(&f->last.vtep, &(struct nodeaddr[]){na("2001:db8::5")}[0]));
	backend_vtep_mac(&f->last.vtep, mac);
	assert_memory_equal(f->last.vtep_mac, mac, KERN_MAC_LEN);
	assert_int_equal(f->last.vxlan_mtu, 1430);
	assert_int_equal(f->last.mtu, 1430);
	assert_null(view_of(f, HIGH).no_path);
	/* on-link again: direct, and the tunnel goes */
	f->behind_gateway = NA4(0);
	up_and_advert_at(f, HIGH, "2001:db8:2::6", 2);
	assert_true(planned(f, NET(2)));
	assert_int_equal(f->last.routes[0].mode, KERN_MODE_DIRECT);
	assert_true(nodeaddr_is_zero(&f->last.vtep));
	assert_int_equal(f->last.mtu, 1500);
}

/* ---- WireGuard (issue 19) ---- */

static const uint8_t KEY_B[KERN_WG_KEY_LEN] = {0xb0, 1, 2, 3};
static const uint8_t KEY_C[KERN_WG_KEY_LEN] = {0xc0, 1, 2, 3};

/* A dual-stack node running WireGuard with backend and encrypt. */
static void start_wg(struct fixture *f, enum cfg_backend backend, enum cfg_encrypt encrypt)
{
	struct rde_config c;

	dual_config(&c, f, backend, true);
	c.wireguard = true;
	c.encrypt = encrypt;
	start(f, &c, 0);
}

/* Delivers advert a with (key_len bytes of) key and port. */
static void deliver_wg(struct fixture *f, const uint8_t *id, struct rde_advert *a,
		       const uint8_t *key, size_t key_len, uint32_t port, uint64_t now)
{
	a->wg_key = key;
	a->wg_key_len = key_len;
	a->wg_port = port;
	deliver(f, id, a, now);
}

/* A peer's advert with its /64 and (key_len bytes of) key and port. */
static void up_and_advert_wg(struct fixture *f, const uint8_t *id, uint32_t ip,
			     struct prefix subnet, const char *subnet6, const uint8_t *key,
			     size_t key_len, uint32_t port, uint64_t now)
{
	struct prefix6 p6 = pfx6(subnet6);
	struct rde_advert a = advert6_of(ip, &subnet, &p6, true);

	deliver_wg(f, id, &a, key, key_len, port, now);
}

/* --backend wireguard: every peer, both families, through the device,
 * with its key and port on each route; WireGuard's MTU from the start. */
static void test_wg_backend_every_peer(void **st)
{
	struct fixture *f = *st;
	const struct kern_route *r6;
	struct in6_addr gw6;
	struct rde_peer_view v;

	start_wg(f, CFG_BACKEND_WIREGUARD, CFG_ENCRYPT_OFF);
	assert_true(f->last.wg);
	assert_int_equal(f->last.wg_mtu, 1440);
	assert_int_equal(f->last.mtu, 1440);
	up_and_advert_wg(f, LOW, IP_B, NET(2), "fd6e:7361:6765:2::/64", KEY_B, 32, 51820, 1);
	assert_int_equal(f->lookups, 0); /* nothing to ask: every peer is encrypted */
	assert_true(nodeaddr_is_zero(&f->last.vtep));
	assert_int_equal(f->last.n_routes, 2);
	assert_false(f->last.routes[0].ipv6);
	assert_int_equal(f->last.routes[0].mode, KERN_MODE_WIREGUARD);
	assert_true(na_eq(f->last.routes[0].gateway, NA4(IP_B)));
	assert_memory_equal(f->last.routes[0].wg_key, KEY_B, KERN_WG_KEY_LEN);
	assert_int_equal(f->last.routes[0].wg_port, 51820);
	r6 = planned6(f, "fd6e:7361:6765:2::/64");
	assert_non_null(r6);
	assert_int_equal(r6->mode, KERN_MODE_WIREGUARD);
	addr6_link_local_from_ipv4(IP_B, &gw6);
	assert_memory_equal(&r6->gateway6, &gw6, sizeof(gw6));
	assert_memory_equal(r6->wg_key, KEY_B, KERN_WG_KEY_LEN);
	v = view_of(f, LOW);
	assert_int_equal(v.mode, KERN_MODE_WIREGUARD);
	assert_int_equal(v.mode6, KERN_MODE_WIREGUARD);
	assert_true(v.wg_known && v.encrypted);
	assert_string_equal(v.why, "--backend wireguard; encrypted");

	/* A new key (rotate-key on that node): the routes carry it at once. */
	up_and_advert_wg(f, LOW, IP_B, NET(2), "fd6e:7361:6765:2::/64", KEY_C, 32, 51820, 2);
	assert_memory_equal(f->last.routes[0].wg_key, KEY_C, KERN_WG_KEY_LEN);
}

/* --encrypt routed: a peer behind a gateway through WireGuard, an on-link
 * one direct; a peer that should be encrypted but has no key: the
 * unencrypted path, said in why. */
static void test_wg_encrypt_routed(void **st)
{
	struct fixture *f = *st;
	struct rde_peer_view v;

	start_wg(f, CFG_BACKEND_AUTO, CFG_ENCRYPT_ROUTED);
	assert_int_equal(f->last.mtu, 1500);
	f->behind_gateway = NA4(IP_C);
	up_and_advert_wg(f, LOW, IP_B, NET(2), "fd6e:7361:6765:2::/64", KEY_B, 32, 51820, 1);
	v = view_of(f, LOW);
	assert_int_equal(v.mode, KERN_MODE_DIRECT);
	assert_string_equal(v.why, "auto: on-link on eth0");
	up_and_advert_wg(f, HIGH, IP_C, NET(3), "fd6e:7361:6765:3::/64", KEY_C, 32, 51821, 2);
	v = view_of(f, HIGH);
	assert_int_equal(v.mode, KERN_MODE_WIREGUARD);
	assert_int_equal(v.mode6, KERN_MODE_WIREGUARD);
	assert_non_null(strstr(v.why, "behind gateway"));
	assert_non_null(strstr(v.why, "--encrypt routed; encrypted"));
	assert_int_equal(f->last.mtu, 1440); /* a path through WireGuard: its MTU */
	assert_int_equal(planned6(f, "fd6e:7361:6765:3::/64")->mode, KERN_MODE_WIREGUARD);

	/* HIGH again, without a key: VXLAN (it has a VTEP), unencrypted. */
	up_and_advert_wg(f, HIGH, IP_C, NET(3), "fd6e:7361:6765:3::/64", NULL, 0, 0, 3);
	v = view_of(f, HIGH);
	assert_int_equal(v.mode, KERN_MODE_VXLAN);
	assert_false(v.wg_known || v.encrypted);
	assert_non_null(strstr(v.why, "UNENCRYPTED"));
}

/* Hostile WireGuard adverts: each refused and counted under its reason,
 * the subnet still routed (unencrypted, said so). */
static void test_wg_rejections_counted(void **st)
{
	struct fixture *f = *st;
	struct rde_stats s;
	static const uint8_t short_key[31] = {1};

	start_wg(f, CFG_BACKEND_WIREGUARD, CFG_ENCRYPT_OFF);
	up_and_advert_wg(f, LOW, IP_B, NET(2), "fd6e:7361:6765:2::/64", short_key, 31, 51820, 1);
	assert_false(view_of(f, LOW).wg_known);
	up_and_advert_wg(f, HIGH, IP_C, NET(3), "fd6e:7361:6765:3::/64", KEY_C, 32, 0, 2);
	assert_false(view_of(f, HIGH).wg_known);
	up_and_advert_wg(f, HIGH, IP_C, NET(3), "fd6e:7361:6765:3::/64", KEY_C, 32, 65536, 3);
	/* LOW with a good key, then HIGH with the same one */
	up_and_advert_wg(f, LOW, IP_B, NET(2), "fd6e:7361:6765:2::/64", KEY_B, 32, 51820, 4);
	assert_true(view_of(f, LOW).wg_known);
	up_and_advert_wg(f, HIGH, IP_C, NET(3), "fd6e:7361:6765:3::/64", KEY_B, 32, 51820, 5);
	assert_false(view_of(f, HIGH).wg_known);
	assert_int_equal(view_of(f, HIGH).mode, KERN_MODE_DIRECT);
	assert_true(view_of(f, HIGH).routed);
	rde_get_stats(f->rde, &s);
	assert_int_equal(s.wg_rejected[RDE_WG_MALFORMED_KEY], 1);
	assert_int_equal(s.wg_rejected[RDE_WG_BAD_PORT], 2);
	assert_int_equal(s.wg_rejected[RDE_WG_DUPLICATE_KEY], 1);
	assert_string_equal(rde_wg_verdict_key(RDE_WG_DUPLICATE_KEY), "duplicate_key");
}

/* Routes read back at start (mode wireguard, no key) are adopted; the
 * peer's advert gives them its key with no other change. */
static void test_wg_adopt(void **st)
{
	struct fixture *f = *st;
	struct kern_route adopted = {
	    .dst = NET(2), .gateway = NA4(IP_B), .mode = KERN_MODE_WIREGUARD};
	struct rde_config c;
	unsigned plans;

	base_config(&c, f);
	c.subnet = NET(1);
	c.subnet_explicit = true;
	c.backend = CFG_BACKEND_WIREGUARD;
	c.wireguard = true;
	f->rde = rde_new(&c, &ops, f);
	rde_adopt(f->rde, &adopted, 1, 0);
	rde_start(f->rde, 0, true);
	rde_flush(f->rde, 0);
	plans = f->plans;
	assert_int_equal(f->last.n_routes, 1);
	assert_true(f->last.routes[0].wg_key[0] == 0);
	up_and_advert_wg(f, LOW, IP_B, NET(2), "fd6e:7361:6765:2::/64", KEY_B, 32, 51820, 1);
	assert_int_equal(f->plans, plans + 1);
	assert_int_equal(f->last.n_routes, 1);
	assert_int_equal(f->last.routes[0].mode, KERN_MODE_WIREGUARD);
	assert_memory_equal(f->last.routes[0].wg_key, KEY_B, KERN_WG_KEY_LEN);
}

/* ---- WireGuard over an IPv6 underlay ---- */

/* Our IPv6 node address 2001:db8:1::5, --backend wireguard. */
static void start_wg_underlay6(struct fixture *f)
{
	struct rde_config c;

	underlay_config(&c, f, "2001:db8:1::5");
	c.backend = CFG_BACKEND_WIREGUARD;
	c.wireguard = true;
	start(f, &c, 0);
}

/* A peer at IPv6 node address ip advertising NET(net), its /64 and a key. */
static void advert_wg_at(struct fixture *f, const uint8_t *id, const char *ip, unsigned net,
			 const uint8_t *key, uint64_t now)
{
	struct prefix subnet;
	struct prefix6 p6;
	struct rde_advert a = advert_at(ip, net, &subnet, &p6);

	deliver_wg(f, id, &a, key, KERN_WG_KEY_LEN, 51820, now);
}

/* Both families through the device to an IPv6 node: the /24's next hop
 * its node address (the kernel layer writes it as its WireGuard next
 * hop), the /64 via that next hop, its key and port on both; the MTU the
 * underlay's less 80; encrypted, said so. */
static void test_wg_underlay6(void **st)
{
	struct fixture *f = *st;
	const struct kern_route *r6;
	struct in6_addr nh;
	struct rde_peer_view v;

	start_wg_underlay6(f);
	assert_int_equal(f->last.wg_mtu, 1420);
	assert_int_equal(f->last.mtu, 1420);
	advert_wg_at(f, HIGH, "2001:db8:1::6", 2, KEY_B, 1);
	assert_int_equal(f->last.n_routes, 2);
	assert_true(planned(f, NET(2)));
	for (unsigned i = 0; i < f->last.n_routes; i++) {
		assert_int_equal(f->last.routes[i].mode, KERN_MODE_WIREGUARD);
		assert_true(na_eq(f->last.routes[i].gateway, na("2001:db8:1::6")));
		assert_memory_equal(f->last.routes[i].wg_key, KEY_B, KERN_WG_KEY_LEN);
		assert_int_equal(f->last.routes[i].wg_port, 51820);
	}
	r6 = planned6(f, "fd6e:7361:6765:2::/64");
	assert_non_null(r6);
	nh = ip6("fe80::2001:db8:1:6");
	assert_memory_equal(&r6->gateway6, &nh, sizeof(nh));
	v = view_of(f, HIGH);
	assert_true(v.routed && v.routed6 && v.encrypted);
	assert_null(v.no_path);
	assert_int_equal(v.mode6, KERN_MODE_WIREGUARD);
	/* status's VIA: the route's next hop, not anything advertised. */
	assert_memory_equal(&v.via6, &nh, sizeof(nh));
	assert_string_equal(v.why, "--backend wireguard; encrypted");
}

/* Two IPv6 peers whose node addresses fold to one WireGuard next hop:
 * the first keeps its routes, the later one gets none and says why (not
 * routed unencrypted, not over the first one's next hop), until the
 * first leaves. */
static void test_wg_underlay6_next_hop_collision(void **st)
{
	static const uint8_t MID[NODE_ID_LEN] = {0x50};
	struct fixture *f = *st;
	struct rde_peer_view v;

	start_wg_underlay6(f);
	advert_wg_at(f, HIGH, "2001:db8:1::6", 2, KEY_B, 1);
	advert_wg_at(f, LOW, "2001:db8:2::3:6", 3, KEY_C, 2);
	assert_true(planned(f, NET(2)));
	assert_false(planned(f, NET(3)));
	assert_int_equal(f->last.n_routes, 2);
	v = view_of(f, LOW);
	assert_false(v.routed || v.routed6);
	assert_non_null(v.no_path);
	assert_non_null(strstr(v.no_path, "WireGuard next hop"));
	assert_true(view_of(f, HIGH).routed);
	/* A third peer with its own next hop is routed. */
	advert_wg_at(f, MID, "2001:db8:1::7", 4, (const uint8_t[KERN_WG_KEY_LEN]){0xd0}, 3);
	assert_true(planned(f, NET(4)));
	assert_null(view_of(f, MID).no_path);
	/* The first leaves: the later one takes the next hop. */
	rde_session_down(f->rde, HIGH, true, 4);
	rde_flush(f->rde, 4);
	assert_false(planned(f, NET(2)));
	assert_true(planned(f, NET(3)));
	assert_non_null(planned6(f, "fd6e:7361:6765:3::/64"));
	v = view_of(f, LOW);
	assert_true(v.routed && v.routed6 && v.encrypted);
	assert_null(v.no_path);
}

/* Routes through the device to an IPv6 node read back at start: both
 * via its next hop, which cannot be read back into its address; its
 * advert claims them with no other change than its key. */
static void test_wg_underlay6_adopt(void **st)
{
	struct fixture *f = *st;
	struct in6_addr nh = ip6("fe80::2001:db8:1:6");
	struct kern_route adopted[3] = {
	    {.dst = NET(2), .gateway = nodeaddr_v6(&nh), .mode = KERN_MODE_WIREGUARD},
	    {.dst = NET(5), .gateway = nodeaddr_v6(&nh), .mode = KERN_MODE_WIREGUARD},
	    {.ipv6 = true,
	     .dst6 = pfx6("fd6e:7361:6765:2::/64"),
	     .gateway = nodeaddr_v6(&nh),
	     .gateway6 = nh,
	     .mode = KERN_MODE_WIREGUARD},
	};
	struct rde_config c;
	unsigned plans;

	underlay_config(&c, f, "2001:db8:1::5");
	c.backend = CFG_BACKEND_WIREGUARD;
	c.wireguard = true;
	f->rde = rde_new(&c, &ops, f);
	rde_adopt(f->rde, adopted, 3, 0);
	rde_start(f->rde, 0, true);
	rde_flush(f->rde, 0);
	assert_int_equal(f->last.n_routes, 3);
	plans = f->plans;
	advert_wg_at(f, HIGH, "2001:db8:1::6", 2, KEY_B, 1);
	assert_int_equal(f->plans, plans + 1);
	/* The three were its own: its end-of-adverts swept NET(5), which it
	 * no longer advertises, at once rather than at restart time. */
	assert_int_equal(f->last.n_routes, 2);
	assert_false(planned(f, NET(5)));
	for (unsigned i = 0; i < 2; i++) {
		assert_true(na_eq(f->last.routes[i].gateway, na("2001:db8:1::6")));
		assert_memory_equal(f->last.routes[i].wg_key, KEY_B, KERN_WG_KEY_LEN);
	}
	assert_false(view_of(f, HIGH).stale);
	assert_true(planned(f, NET(2)));
	assert_non_null(planned6(f, "fd6e:7361:6765:2::/64"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_explicit_first_plan, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim_wait, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim_avoids_taken, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim_conflict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim_beside_ipv6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conflict_both_explicit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_down_while_another_expires, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mode_changes_and_mtu_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mode_fallbacks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backend_vxlan_fixed_datapath, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_adopt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rejections_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_no_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_rejections_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_old_peer_and_off, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_stale_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_underlay6_direct, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_underlay_mixed_families, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_underlay6_behind_router, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wg_backend_every_peer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wg_encrypt_routed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wg_rejections_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wg_adopt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wg_underlay6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wg_underlay6_next_hop_collision, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wg_underlay6_adopt, setup, teardown),
	};

	log_set_level(getenv("NSAGENT_TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
