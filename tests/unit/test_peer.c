/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Peer sessions over loopback: two and three peer_mgr instances in one
 * event loop on 127.0.0.x, plus a scripted remote that forces connection
 * collisions. Checks one session per pair, adverts and routes, peer
 * exchange along a chain, goodbye(leave) versus a dropped session
 * (stale, then restored or expired), subnet auto-claim, and that the
 * frames of a session's opening are one TCP segment (TCP_INFO). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/tcp.h>

#include "addr6_lit.h"
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "nsagent/peer.h"
#include "nsagent/state.h"
#include "nsagent/wire.h"
#include "peer_harness.h"
#include "tls_harness.h"

struct node {
	struct peer_mgr *mgr;
	uint8_t id[NODE_ID_LEN];
	uint32_t ip;
	int routes_changed;
	int claimed;
	struct prefix claimed_subnet;
	/* VXLAN: our VTEP is advertised, and a peer with a VTEP gets vxlan. */
	bool vxlan;
	int modes_chosen;
};

/* The rde's plans: a new subnet is a claim, every plan a route change. */
static void on_plan(void *arg, const struct rde_plan *plan)
{
	struct node *node = arg;

	node->routes_changed++;
	if (plan->order == RDE_ORDER_TOPOLOGY_FIRST) {
		node->claimed++;
		node->claimed_subnet = plan->subnet;
	}
}

/* The path lookup (backend auto): a node that wants vxlan sees its peers
 * behind a gateway. */
static int on_path(void *arg, const struct nodeaddr *node_ip, struct kern_path *path,
		   struct kern_error *err)
{
	struct node *node = arg;

	(void)node_ip;
	(void)err;
	node->modes_chosen++;
	memset(path, 0, sizeof(*path));
	if (node->vxlan)
		path->gateway = nodeaddr_v4(LOOP(254));
	snprintf(path->ifname, sizeof(path->ifname), "lo");
	return 0;
}

static const struct rde_ops ops = {.plan = on_plan};

static void wire_rde(struct ph_config *c, struct node *node)
{
	c->rde.backend = CFG_BACKEND_AUTO;
	c->rde.path = on_path;
	c->rde.path_arg = node;
}

static unsigned conflicts_of(const struct node *node)
{
	struct rde_stats stats;

	rde_get_stats(ph_rde(node->mgr), &stats);
	return (unsigned)stats.conflicts;
}

static void node_start(struct node *node, unsigned n, const struct endpoint *seeds,
		       unsigned n_seeds, bool explicit_subnet, uint32_t restart_ms)
{
	struct ph_config c;

	node->ip = LOOP(n);
	ph_config_node(&c, node->id, n, seeds, n_seeds);
	wire_rde(&c, node);
	c.rde.subnet_explicit = explicit_subnet;
	c.rde.restart_time_ms = restart_ms;
	if (node->vxlan) {
		c.peer.vtep = NA4(node->ip);
		for (unsigned i = 0; i < KERN_MAC_LEN; i++)
			c.peer.vtep_mac[i] = (uint8_t)(0x10 * n + i);
	}
	ph_start(&c, &ops, node, &node->mgr);
}

static void node_init(struct node *node, uint8_t first_byte)
{
	memset(node, 0, sizeof(*node));
	assert_int_equal(getrandom(node->id, NODE_ID_LEN, 0), NODE_ID_LEN);
	node->id[0] = first_byte;
}

struct mesh {
	struct node *nodes;
	unsigned n;
};

/* Every node has exactly n-1 established sessions and n-1 routes. */
static bool full_mesh(void *arg)
{
	struct mesh *m = arg;

	for (unsigned i = 0; i < m->n; i++)
		if (ph_established(m->nodes[i].mgr, NULL) != m->n - 1 ||
		    ph_n_routes(m->nodes[i].mgr) != m->n - 1)
			return false;
	return true;
}

static void free_nodes(struct node *nodes, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		ph_free(nodes[i].mgr);
		nodes[i].mgr = NULL;
	}
	ph_run_for(20); /* let closed sockets' events drain */
}

static struct peer_security_stats stats_of(const struct node *node)
{
	struct peer_security_stats s;

	peer_mgr_security_stats(node->mgr, &s);
	return s;
}

/* Two nodes (ids 0x10 and 0x20, with a VTEP when vxlan0/vxlan1), node 1
 * seeded with node 2, run until they are a full mesh. */
static void start_pair(struct node nodes[2], bool vxlan0, bool vxlan1)
{
	struct mesh m = {nodes, 2};
	struct endpoint seed;

	node_init(&nodes[0], 0x10);
	node_init(&nodes[1], 0x20);
	nodes[0].vxlan = vxlan0;
	nodes[1].vxlan = vxlan1;
	node_start(&nodes[1], 2, NULL, 0, true, 5000);
	seed = ph_endpoint(nodes[1].mgr, nodes[1].ip);
	node_start(&nodes[0], 1, &seed, 1, true, 5000);
	assert_true(ph_run_until(full_mesh, &m, DEADLINE_MS));
}

static void test_two_nodes(void **st)
{
	(void)st;
	struct node nodes[2];
	struct mesh m = {nodes, 2};
	bool out_a = false, out_b = false;

	start_pair(nodes, false, false);
	assert_true(ph_has_route(nodes[0].mgr, NET(2), LOOP(2)));
	assert_true(ph_has_route(nodes[1].mgr, NET(1), LOOP(1)));
	assert_true(nodes[0].routes_changed > 0 && nodes[1].routes_changed > 0);
	ph_established(nodes[0].mgr, &out_a);
	ph_established(nodes[1].mgr, &out_b);
	assert_true(out_a && !out_b); /* the one session, dialled by node 1 */
	/* keepalives hold it well past the hold time */
	ph_run_for(1000);
	assert_true(full_mesh(&m));
	free_nodes(nodes, 2);
}

/* The VTEP travels in the advert: a node that chooses vxlan for a peer
 * installs its subnet with the peer's VTEP address and MAC; a peer that
 * advertises no VTEP stays direct; the mode shows in peer_mgr_peers. */
static void test_vtep_in_advert(void **st)
{
	(void)st;
	struct node nodes[2];
	struct kern_route *routes;
	struct peer_info *infos;
	unsigned n;

	/* Node 1 has a VTEP and wants vxlan, node 2 has none. */
	start_pair(nodes, true, false);
	/* Node 1 sees no VTEP from node 2: direct, whatever it prefers. */
	n = rde_routes(ph_rde(nodes[0].mgr), &routes);
	assert_int_equal(n, 1);
	assert_int_equal(routes[0].mode, KERN_MODE_DIRECT);
	assert_int_equal(routes[0].vtep, 0);
	free(routes);
	/* Node 2 got node 1's VTEP; it prefers direct. */
	n = rde_routes(ph_rde(nodes[1].mgr), &routes);
	assert_int_equal(n, 1);
	assert_int_equal(routes[0].mode, KERN_MODE_DIRECT);
	free(routes);
	assert_true(nodes[0].modes_chosen > 0 && nodes[1].modes_chosen > 0);
	free_nodes(nodes, 2);

	/* Both with a VTEP: vxlan both ways, with the advertised address and MAC. */
	start_pair(nodes, true, true);
	n = rde_routes(ph_rde(nodes[0].mgr), &routes);
	assert_int_equal(n, 1);
	assert_int_equal(routes[0].mode, KERN_MODE_VXLAN);
	assert_true(na_eq(routes[0].gateway, NA4(LOOP(2))));
	assert_int_equal(routes[0].vtep, LOOP(2));
	for (unsigned i = 0; i < KERN_MAC_LEN; i++)
		assert_int_equal(routes[0].vtep_mac[i], 0x20 + i);
	free(routes);
	n = rde_routes(ph_rde(nodes[1].mgr), &routes);
	assert_int_equal(n, 1);
	assert_int_equal(routes[0].mode, KERN_MODE_VXLAN);
	assert_int_equal(routes[0].vtep, LOOP(1));
	assert_int_equal(routes[0].vtep_mac[0], 0x10);
	free(routes);
	n = peer_mgr_peers(nodes[0].mgr, &infos);
	const struct peer_info *info = ph_find_info(infos, n, nodes[1].id);

	assert_non_null(info);
	assert_int_equal(info->route.mode, KERN_MODE_VXLAN);
	free(infos);
	free_nodes(nodes, 2);
}

/* Both dial each other at the same moment, repeatedly with fresh ids:
 * always exactly one session, and it is the one the higher id dialled. */
static void config_for(struct ph_config *c, struct node *node, unsigned n, uint16_t port,
		       const struct endpoint *seed)
{
	/* the claim wait ph_config_node sets is unused: the subnet is explicit */
	ph_config_node(c, node->id, n, seed, seed ? 1 : 0);
	wire_rde(c, node);
	c->peer.listen_port = port;
}

/* A free port on 127.0.0.n: bind, read it, close (the listener reuses it). */
static uint16_t free_port(unsigned n)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(LOOP(n))};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* Both dial each other in the same loop iteration, repeatedly with fresh
 * ids: always exactly one session, the one the higher id dialled. */
static void test_simultaneous(void **st)
{
	(void)st;
	for (int round = 0; round < 6; round++) {
		struct node nodes[2];
		struct mesh m = {nodes, 2};
		struct endpoint seeds[2];
		struct ph_config c;
		bool out_a = false, out_b = false;
		int high;

		node_init(&nodes[0], (uint8_t)(round * 40));
		node_init(&nodes[1], (uint8_t)(round * 40 + (round % 2 ? -20 : 20)));
		high = memcmp(nodes[0].id, nodes[1].id, NODE_ID_LEN) > 0 ? 0 : 1;
		nodes[0].ip = LOOP(1);
		nodes[1].ip = LOOP(2);
		seeds[0] = (struct endpoint){NA4(LOOP(2)), free_port(2)};
		seeds[1] = (struct endpoint){NA4(LOOP(1)), free_port(1)};
		for (int k = 0; k < 2; k++) {
			config_for(&c, &nodes[k], k + 1, seeds[1 - k].port, &seeds[k]);
			ph_new(&c, &ops, &nodes[k], &nodes[k].mgr);
		}
		assert_int_equal(peer_mgr_start(nodes[0].mgr), 0);
		assert_int_equal(peer_mgr_start(nodes[1].mgr), 0);
		assert_true(ph_run_until(full_mesh, &m, DEADLINE_MS));
		ph_run_for(500); /* nothing flaps afterwards */
		assert_true(full_mesh(&m));
		ph_established(nodes[0].mgr, &out_a);
		ph_established(nodes[1].mgr, &out_b);
		assert_true(out_a != out_b);
		assert_true(high == 0 ? out_a : out_b);
		free_nodes(nodes, 2);
	}
}

/* C knows only B, B knows only A: C learns A from B and all three mesh. */
static void test_chain_of_three(void **st)
{
	(void)st;
	struct node nodes[3];
	struct mesh m = {nodes, 3};
	struct endpoint seed_a, seed_b;

	for (int i = 0; i < 3; i++)
		node_init(&nodes[i], (uint8_t)(0x30 + i));
	node_start(&nodes[0], 1, NULL, 0, true, 5000);
	seed_a = ph_endpoint(nodes[0].mgr, nodes[0].ip);
	node_start(&nodes[1], 2, &seed_a, 1, true, 5000);
	seed_b = ph_endpoint(nodes[1].mgr, nodes[1].ip);
	node_start(&nodes[2], 3, &seed_b, 1, true, 5000);
	assert_true(ph_run_until(full_mesh, &m, DEADLINE_MS));
	assert_true(ph_has_route(nodes[2].mgr, NET(1), LOOP(1)));
	assert_true(ph_has_route(nodes[0].mgr, NET(3), LOOP(3)));
	ph_run_for(500);
	assert_true(full_mesh(&m));
	free_nodes(nodes, 3);
}

/* Random ids for the nodes of a chain. */
static void chain_init(struct node *nodes, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t b;

		assert_int_equal(getrandom(&b, 1, 0), 1);
		node_init(&nodes[i], b);
	}
}

/* Node i of a chain, at 127.0.0.(i+1):17470, seeded with node i-1. */
static void chain_node_start(struct node *nodes, unsigned i)
{
	struct endpoint seed = {.addr = NA4(LOOP(i)), .port = 17470};
	struct ph_config c;

	nodes[i].ip = LOOP(i + 1);
	config_for(&c, &nodes[i], i + 1, 17470, i ? &seed : NULL);
	ph_start(&c, &ops, &nodes[i], &nodes[i].mgr);
}

/* A chain (node i seeded with node i-1 only, random ids) started in a
 * random order, some nodes a little later than others, so that parts of
 * it come up apart and meet, closes into a full mesh: nothing but the
 * peer exchange introduces the nodes to one another. */
static void test_chain_closes(void **st)
{
	(void)st;
	enum { N_CHAIN = 24 };
	struct node nodes[N_CHAIN];
	struct mesh m = {nodes, N_CHAIN};
	bool closed;

	chain_init(nodes, N_CHAIN);
	unsigned order[N_CHAIN];
	for (unsigned i = 0; i < N_CHAIN; i++)
		order[i] = i;
	for (unsigned i = N_CHAIN - 1; i > 0; i--) {
		uint8_t b;
		unsigned j, t;

		assert_int_equal(getrandom(&b, 1, 0), 1);
		j = b % (i + 1);
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned k = 0; k < N_CHAIN; k++) {
		uint8_t b;

		chain_node_start(nodes, order[k]);
		assert_int_equal(getrandom(&b, 1, 0), 1);
		if (b % 4 == 0)
			ph_run_for(b % 40);
	}
	closed = ph_run_until(full_mesh, &m, 3 * DEADLINE_MS);
	for (unsigned i = 0; i < N_CHAIN && !closed; i++)
		fprintf(stderr, "node %u (id %02x): %u sessions\n", i + 1, nodes[i].id[0],
			ph_established(nodes[i].mgr, NULL));
	assert_true(closed);
	free_nodes(nodes, N_CHAIN);
}

struct route_cond {
	struct node *node;
	struct prefix dst;
	uint32_t gw;
	bool want;
};

static bool route_is(void *arg)
{
	struct route_cond *c = arg;

	return ph_has_route(c->node->mgr, c->dst, c->gw) == c->want;
}

static bool peer_stale(const struct node *node, const uint8_t *id)
{
	struct peer_info *infos;
	unsigned n = peer_mgr_peers(node->mgr, &infos);
	const struct peer_info *info = ph_find_info(infos, n, id);
	bool stale = info && info->route.stale && info->state != PEER_ESTABLISHED;

	free(infos);
	return stale;
}

static bool a_sees_b_stale(void *arg)
{
	struct node *nodes = arg;

	return peer_stale(&nodes[0], nodes[1].id);
}

/* A dropped session keeps routes (stale) until restart time; the peer's
 * return refreshes them; goodbye(leave) withdraws at once. */
static void test_graceful_restart_and_leave(void **st)
{
	(void)st;
	struct node nodes[2];
	struct mesh m = {nodes, 2};
	struct endpoint seed;
	struct route_cond gone = {&nodes[0], NET(2), LOOP(2), false};
	uint64_t t0;

	node_init(&nodes[0], 0x50);
	node_init(&nodes[1], 0x60);
	node_start(&nodes[0], 1, NULL, 0, true, 1500);
	seed = ph_endpoint(nodes[0].mgr, nodes[0].ip);
	node_start(&nodes[1], 2, &seed, 1, true, 1500);
	assert_true(ph_run_until(full_mesh, &m, DEADLINE_MS));

	/* crash: no goodbye, sockets just close */
	ph_free(nodes[1].mgr);
	nodes[1].mgr = NULL;
	t0 = ph_now_ms();
	assert_true(ph_run_until(a_sees_b_stale, nodes, DEADLINE_MS));
	assert_true(ph_has_route(nodes[0].mgr, NET(2), LOOP(2)));
	/* it comes back within restart time: fresh again, route never left */
	node_start(&nodes[1], 2, &seed, 1, true, 1500);
	assert_true(ph_run_until(full_mesh, &m, DEADLINE_MS));
	assert_false(peer_stale(&nodes[0], nodes[1].id));

	/* goodbye(restart): stale, kept until the restart time, then removed */
	peer_mgr_shutdown(nodes[1].mgr, PEER_GOODBYE_RESTART);
	ph_free(nodes[1].mgr);
	nodes[1].mgr = NULL;
	t0 = ph_now_ms();
	assert_true(ph_run_until(a_sees_b_stale, nodes, DEADLINE_MS));
	assert_true(ph_has_route(nodes[0].mgr, NET(2), LOOP(2)));
	assert_true(ph_run_until(route_is, &gone, DEADLINE_MS));
	assert_true(ph_now_ms() - t0 >= 1400);

	/* leave: withdrawn at once (well before the 1.5 s restart time) */
	node_start(&nodes[1], 2, &seed, 1, true, 1500);
	assert_true(ph_run_until(full_mesh, &m, DEADLINE_MS));
	peer_mgr_shutdown(nodes[1].mgr, PEER_GOODBYE_LEAVE);
	ph_free(nodes[1].mgr);
	nodes[1].mgr = NULL;
	t0 = ph_now_ms();
	assert_true(ph_run_until(route_is, &gone, DEADLINE_MS));
	assert_true(ph_now_ms() - t0 < 1000);
	free_nodes(nodes, 2);
}

/* Routes adopted from the kernel stay until their owner returns and sweeps
 * what it no longer advertises. */
static void test_adopt(void **st)
{
	(void)st;
	struct node nodes[2];
	struct mesh m = {nodes, 2};
	struct endpoint seed;
	struct kern_route adopted[] = {{.dst = NET(2), .gateway = NA4(LOOP(2))},
				       {.dst = NET(9), .gateway = NA4(LOOP(2))}};
	struct route_cond swept = {&nodes[0], NET(9), LOOP(2), false};
	struct ph_config c;

	node_init(&nodes[0], 0x70);
	node_init(&nodes[1], 0x71);
	nodes[0].ip = LOOP(1);
	ph_config(&c, nodes[0].id, 1);
	wire_rde(&c, &nodes[0]);
	c.rde.subnet = NET(1);
	c.rde.subnet_explicit = true;
	c.rde.restart_time_ms = 60000;
	ph_new(&c, &ops, &nodes[0], &nodes[0].mgr);
	rde_adopt(ph_rde(nodes[0].mgr), adopted, 2, ph_now_ms());
	assert_int_equal(peer_mgr_start(nodes[0].mgr), 0);
	assert_int_equal(ph_n_routes(nodes[0].mgr), 2);
	ph_run_for(100);
	assert_int_equal(ph_n_routes(nodes[0].mgr), 2);
	seed = ph_endpoint(nodes[0].mgr, nodes[0].ip);
	node_start(&nodes[1], 2, &seed, 1, true, 5000);
	assert_true(ph_run_until(route_is, &swept, DEADLINE_MS));
	assert_true(ph_run_until(full_mesh, &m, DEADLINE_MS));
	assert_true(ph_has_route(nodes[0].mgr, NET(2), LOOP(2)));
	free_nodes(nodes, 2);
}

static bool all_claimed_distinct(void *arg)
{
	struct mesh *m = arg;

	if (!full_mesh(arg))
		return false;
	for (unsigned i = 0; i < m->n; i++) {
		struct prefix a;

		if (!ph_subnet(m->nodes[i].mgr, &a))
			return false;
		for (unsigned k = i + 1; k < m->n; k++) {
			struct prefix b;

			if (!ph_subnet(m->nodes[k].mgr, &b) || addr_prefix_overlaps(&a, &b))
				return false;
		}
	}
	return true;
}

/* Auto-claim: three nodes forced to the same starting subnet (same lease)
 * end with three distinct subnets; the lowest id keeps the lease. */
static void test_auto_claim_conflict(void **st)
{
	(void)st;
	struct node nodes[3];
	struct mesh m = {nodes, 3};
	struct endpoint seed;
	struct prefix lease = NET(42), got;

	for (int i = 0; i < 3; i++) {
		struct ph_config c;

		node_init(&nodes[i], (uint8_t)(0x90 + i));
		nodes[i].ip = LOOP(i + 1);
		ph_config(&c, nodes[i].id, i + 1);
		wire_rde(&c, &nodes[i]);
		c.rde.lease = lease;
		c.rde.lease_set = true;
		if (i > 0) {
			c.peer.seeds = &seed;
			c.peer.n_seeds = 1;
		}
		ph_new(&c, &ops, &nodes[i], &nodes[i].mgr);
		if (i == 0)
			seed = ph_endpoint(nodes[0].mgr, nodes[0].ip);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(peer_mgr_start(nodes[i].mgr), 0);
	assert_true(ph_run_until(all_claimed_distinct, &m, DEADLINE_MS));
	assert_true(ph_subnet(nodes[0].mgr, &got));
	assert_true(addr_prefix_equal(&got, &lease));
	assert_true(nodes[1].claimed >= 2 && nodes[2].claimed >= 2);
	/* each node routes to the others' final subnets */
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 3; k++) {
			if (i == k)
				continue;
			assert_true(ph_subnet(nodes[k].mgr, &got));
			assert_true(ph_has_route(nodes[i].mgr, got, nodes[k].ip));
		}
	free_nodes(nodes, 3);
}

/* Without seeds or lease a node claims at once from its id. */
static void test_claim_alone(void **st)
{
	(void)st;
	struct node node;
	struct prefix got;

	node_init(&node, 0xa0);
	node_start(&node, 1, NULL, 0, false, 5000);
	assert_int_equal(node.claimed, 0); /* never from inside peer_mgr_start */
	ph_run_for(50);
	assert_int_equal(node.claimed, 1);
	assert_true(ph_subnet(node.mgr, &got));
	assert_true(addr_prefix_equal(&got, &node.claimed_subnet));
	assert_int_equal(got.len, 24);
	free_nodes(&node, 1);
}

/* Both configured with the same --subnet: both report the conflict and
 * neither installs a route overlapping its own subnet. */
static void test_explicit_conflict(void **st)
{
	(void)st;
	struct node nodes[2];
	struct endpoint seed;

	node_init(&nodes[0], 0xb0);
	node_init(&nodes[1], 0xb1);
	node_start(&nodes[0], 1, NULL, 0, true, 5000);
	seed = ph_endpoint(nodes[0].mgr, nodes[0].ip);
	/* node 2 with node 1's subnet */
	struct ph_config c;

	nodes[1].ip = LOOP(2);
	config_for(&c, &nodes[1], 2, 0, &seed);
	c.rde.subnet = NET(1);
	ph_start(&c, &ops, &nodes[1], &nodes[1].mgr);
	ph_run_for(500);
	assert_true(conflicts_of(&nodes[0]) > 0);
	assert_true(conflicts_of(&nodes[1]) > 0);
	assert_int_equal(ph_n_routes(nodes[0].mgr), 0);
	assert_int_equal(ph_n_routes(nodes[1].mgr), 0);
	free_nodes(nodes, 2);
}

/* ---- a scripted remote, to force the collision orderings ---- */

/* The mgr dials the script (OPENSENT), then the script dials the mgr:
 * the connection initiated by the higher id must survive, on both paths. */
static void collision(bool script_higher)
{
	struct node node;
	uint8_t script_id[NODE_ID_LEN];
	uint16_t script_port;
	int lfd = ph_listen(LOOP(9), &script_port);
	struct endpoint seed = {NA4(LOOP(9)), script_port};
	struct evbuffer *in_out = evbuffer_new(), *in_in = evbuffer_new();
	int out_fd, in_fd;
	bool eof;

	node_init(&node, 0x80);
	memset(script_id, 0, sizeof(script_id));
	script_id[0] = script_higher ? 0xff : 0x01;
	node_start(&node, 1, &seed, 1, true, 5000);
	/* its outbound connection arrives, with its hello */
	out_fd = ph_accept(lfd);
	assert_int_equal(ph_next_msg(out_fd, in_out, &eof), NSA_PEER__ENVELOPE__MSG_HELLO);
	/* we dial it too and say hello: a collision while it is in OPENSENT */
	in_fd = ph_connect(ph_endpoint(node.mgr, node.ip), LOOP(9));
	ph_send_hello(in_fd, script_id, LOOP(9), script_port, 3000);
	if (script_higher) {
		/* ours wins: it answers on our connection and drops its own */
		assert_int_equal(ph_next_msg(in_fd, in_in, &eof), NSA_PEER__ENVELOPE__MSG_HELLO);
		assert_int_equal(ph_next_msg(in_fd, in_in, &eof), NSA_PEER__ENVELOPE__MSG_ADVERT);
		ph_next_msg(out_fd, in_out, &eof);
		assert_true(eof);
		assert_int_equal(ph_established(node.mgr, NULL), 1);
	} else {
		/* its own wins: ours is closed unanswered */
		ph_next_msg(in_fd, in_in, &eof);
		assert_true(eof);
		ph_send_hello(out_fd, script_id, LOOP(9), script_port, 3000);
		assert_int_equal(ph_next_msg(out_fd, in_out, &eof), NSA_PEER__ENVELOPE__MSG_ADVERT);
		assert_int_equal(ph_established(node.mgr, NULL), 1);
		/* a second connection in ESTABLISHED with another initiator:
		 * refused as well */
		close(in_fd);
		evbuffer_drain(in_in, evbuffer_get_length(in_in));
		in_fd = ph_connect(ph_endpoint(node.mgr, node.ip), LOOP(9));
		ph_send_hello(in_fd, script_id, LOOP(9), script_port, 3000);
		ph_next_msg(in_fd, in_in, &eof);
		assert_true(eof);
		assert_int_equal(ph_established(node.mgr, NULL), 1);
	}
	/* each connection thrown away is counted: one, or two when the
	 * second one in ESTABLISHED was refused too */
	assert_int_equal(stats_of(&node).collisions, script_higher ? 1 : 2);
	close(in_fd);
	close(out_fd);
	close(lfd);
	evbuffer_free(in_in);
	evbuffer_free(in_out);
	free_nodes(&node, 1);
}

static void test_collision_remote_higher(void **st)
{
	(void)st;
	collision(true);
}

static void test_collision_local_higher(void **st)
{
	(void)st;
	collision(false);
}

/* A peer presenting our own node id, or a node IP another live peer
 * has, is refused. */
static void test_refusals(void **st)
{
	(void)st;
	struct node node, other;
	struct endpoint seed;
	struct evbuffer *in = evbuffer_new();
	uint8_t id[NODE_ID_LEN] = {0x42};
	int fd;
	bool eof;

	node_init(&node, 0xc0);
	node_init(&other, 0xc1);
	node_start(&node, 1, NULL, 0, true, 5000);
	seed = ph_endpoint(node.mgr, node.ip);
	/* our own id */
	fd = ph_connect(seed, LOOP(7));
	ph_send_hello(fd, node.id, LOOP(7), 7470, 3000);
	ph_next_msg(fd, in, &eof);
	assert_true(eof);
	close(fd);
	/* a real peer at 127.0.0.2, then an impostor with its IP */
	node_start(&other, 2, &seed, 1, true, 5000);
	struct node pair[2] = {node, other};
	struct mesh m = {pair, 2};
	assert_true(ph_run_until(full_mesh, &m, DEADLINE_MS));
	/* from 127.0.0.2 itself: refused for the taken IP, not for a spoofed source */
	fd = ph_connect(seed, LOOP(2));
	evbuffer_drain(in, evbuffer_get_length(in));
	ph_send_hello(fd, id, LOOP(2), 7470, 3000);
	ph_next_msg(fd, in, &eof);
	assert_true(eof);
	close(fd);
	assert_int_equal(ph_established(node.mgr, NULL), 1);
	evbuffer_free(in);
	free_nodes(pair, 2);
}

/* ---- what peer exchange costs an existing session ---- */

/* A scripted node at 127.0.0.n with a session to the node under test. */
struct script {
	int fd;
	struct evbuffer *in;
	uint8_t id[NODE_ID_LEN];
	unsigned n; /* at 127.0.0.n, listening (it says) on port 7000 + n */
};

/* Connects to mgr from 127.0.0.n and says hello; nothing read yet, so
 * several scripts can arrive in the same loop pass. */
static void script_hello(struct script *s, struct peer_mgr *mgr, unsigned n)
{
	s->in = evbuffer_new();
	assert_int_equal(getrandom(s->id, NODE_ID_LEN, 0), NODE_ID_LEN);
	s->id[0] = (uint8_t)n;
	s->n = n;
	s->fd = ph_connect(ph_endpoint(mgr, LOOP(1)), LOOP(n));
	ph_send_hello(s->fd, s->id, LOOP(n), (uint16_t)(7000 + n), 30000);
}

/* The next peer list on the script's session (other messages skipped);
 * wire_free it. */
static NsaPeer__Envelope *script_next_list(struct script *s)
{
	for (;;) {
		NsaPeer__Envelope *env = ph_next_envelope(s->fd, s->in);

		assert_non_null(env);
		if (env->msg_case == NSA_PEER__ENVELOPE__MSG_PEER_LIST)
			return env;
		wire_free(env);
	}
}

static bool list_names(const NsaPeer__PeerList *list, const uint8_t *id)
{
	for (size_t i = 0; i < list->n_peers; i++)
		if (list->peers[i]->node_id.len == NODE_ID_LEN &&
		    memcmp(list->peers[i]->node_id.data, id, NODE_ID_LEN) == 0)
			return true;
	return false;
}

/* The script's next peer list names exactly one node: id. */
static void script_expect_news_of(struct script *s, const uint8_t *id)
{
	NsaPeer__Envelope *env = script_next_list(s);

	assert_int_equal(env->peer_list->n_peers, 1);
	assert_true(list_names(env->peer_list, id));
	wire_free(env);
}

/* Lists on s until it has heard of every script in `of` but itself. */
static void script_hear_all(struct script *s, const struct script *of, unsigned n)
{
	bool heard[8] = {false};
	unsigned missing = n - 1;

	assert_true(n <= 8);
	while (missing) {
		NsaPeer__Envelope *env = script_next_list(s);

		for (unsigned i = 0; i < n; i++)
			if (&of[i] != s && !heard[i] && list_names(env->peer_list, of[i].id)) {
				heard[i] = true;
				missing--;
			}
		wire_free(env);
	}
}

static void script_close(struct script *s)
{
	close(s->fd);
	evbuffer_free(s->in);
}

static void scripts_close(struct script *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		script_close(&s[i]);
}

/* The node under test at 127.0.0.1, scripts connect to it; no keepalive
 * nor hold expiry within a test, so only the exchange's messages come. */
static void script_node_start_hold(struct node *node, uint8_t first_byte, uint32_t keepalive_ms,
				   uint32_t hold_ms)
{
	struct ph_config c;

	node_init(node, first_byte);
	node->ip = LOOP(1);
	ph_config_node(&c, node->id, 1, NULL, 0);
	wire_rde(&c, node);
	c.peer.keepalive_ms = keepalive_ms;
	c.peer.hold_time_ms = hold_ms;
	ph_start(&c, &ops, node, &node->mgr);
}

static void script_node_start(struct node *node, uint8_t first_byte, uint32_t keepalive_ms)
{
	script_node_start_hold(node, first_byte, keepalive_ms, 30000);
}

static void exchange_node_start(struct node *node, uint8_t first_byte)
{
	script_node_start(node, first_byte, 10000);
}

/* A newcomer gets the full list; an existing session gets only the
 * news: new sessions that come up together reach it as one list of
 * exactly those peers (one message, not one per newcomer), and a single
 * later newcomer as one list of one entry, whatever the cluster's size.
 * Before, every new session sent every existing session a list of its
 * own, so a node of a growing mesh sent and parsed a message per pair
 * of sessions. */
static void test_exchange_incremental(void **st)
{
	(void)st;
	struct node node;
	struct script old[4], burst[3], last;
	NsaPeer__Envelope *env;

	exchange_node_start(&node, 0x50);

	for (unsigned i = 0; i < 4; i++)
		script_hello(&old[i], node.mgr, 20 + i);
	for (unsigned i = 0; i < 4; i++)
		script_hear_all(&old[i], old, 4);
	assert_int_equal(ph_established(node.mgr, NULL), 4);

	/* three newcomers in one loop pass: each gets the full list ... */
	for (unsigned i = 0; i < 3; i++)
		script_hello(&burst[i], node.mgr, 30 + i);
	for (unsigned i = 0; i < 3; i++) {
		unsigned missing = 0;

		env = script_next_list(&burst[i]);
		for (unsigned j = 0; j < 4; j++)
			assert_true(list_names(env->peer_list, old[j].id));
		for (unsigned j = 0; j < 3; j++)
			missing += j != i && !list_names(env->peer_list, burst[j].id);
		wire_free(env);
		/* the burst's later sessions come as its news, in one list */
		if (missing) {
			env = script_next_list(&burst[i]);
			assert_int_equal(env->peer_list->n_peers, missing);
			wire_free(env);
		}
	}
	/* ... and each existing session one list naming exactly them */
	for (unsigned i = 0; i < 4; i++) {
		env = script_next_list(&old[i]);
		assert_int_equal(env->peer_list->n_peers, 3);
		for (unsigned j = 0; j < 3; j++)
			assert_true(list_names(env->peer_list, burst[j].id));
		wire_free(env);
	}

	/* one more: every session, old or from the burst, gets one entry */
	script_hello(&last, node.mgr, 40);
	env = script_next_list(&last);
	assert_int_equal(env->peer_list->n_peers, 7);
	wire_free(env);
	for (unsigned i = 0; i < 7; i++) {
		script_expect_news_of(i < 4 ? &old[i] : &burst[i - 4], last.id);
	}
	assert_int_equal(ph_established(node.mgr, NULL), 8);

	scripts_close(old, 4);
	scripts_close(burst, 3);
	script_close(&last);
	free_nodes(&node, 1);
}

/* A session is not told of a peer it told us of: the news of a new
 * session goes only to the sessions that did not list that node to us.
 * In a converging mesh a node hears of most peers from several sessions
 * before it dials them, and used to tell each of them back. */
static void test_exchange_leaves_out_known(void **st)
{
	(void)st;
	struct node node;
	struct script old[3], relayed, last;
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__PeerList list = NSA_PEER__PEER_LIST__INIT;
	NsaPeer__PeerInfo info = NSA_PEER__PEER_INFO__INIT;
	NsaPeer__PeerInfo *infos[1] = {&info};

	exchange_node_start(&node, 0x70);
	for (unsigned i = 0; i < 3; i++)
		script_hello(&old[i], node.mgr, 20 + i);
	for (unsigned i = 0; i < 3; i++)
		script_hear_all(&old[i], old, 3);

	/* old[0] lists a node that then connects (its id is lower than the
	 * node's: the node would dial it, and the script answers first) */
	assert_int_equal(getrandom(relayed.id, NODE_ID_LEN, 0), NODE_ID_LEN);
	relayed.id[0] = 30;
	info.node_id.data = relayed.id;
	info.node_id.len = NODE_ID_LEN;
	info.addr = LOOP(30);
	info.port = 7030;
	list.peers = infos;
	list.n_peers = 1;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_PEER_LIST;
	env.peer_list = &list;
	ph_send_msg(old[0].fd, &env);
	relayed.in = evbuffer_new();
	relayed.fd = ph_connect(ph_endpoint(node.mgr, LOOP(1)), LOOP(30));
	ph_send_hello(relayed.fd, relayed.id, LOOP(30), 7030, 30000);
	for (unsigned i = 1; i < 3; i++)
		script_expect_news_of(&old[i], relayed.id);
	/* one more: old[0]'s next list names it alone, never `relayed` */
	script_hello(&last, node.mgr, 40);
	script_expect_news_of(&old[0], last.id);
	assert_int_equal(ph_established(node.mgr, NULL), 5);

	for (unsigned i = 0; i < 3; i++)
		script_close(&old[i]);
	script_close(&relayed);
	script_close(&last);
	free_nodes(&node, 1);
}

/* Connects from 127.0.0.n and says hello with a peer-exchange digest:
 * the XOR of `ids` (its own is added) and their count. */
static void script_hello_as(struct script *s, struct peer_mgr *mgr,
			    const uint8_t (*ids)[NODE_ID_LEN], unsigned n_ids);

static void script_hello_digest(struct script *s, struct peer_mgr *mgr, unsigned n,
				const uint8_t (*ids)[NODE_ID_LEN], unsigned n_ids)
{
	assert_int_equal(getrandom(s->id, NODE_ID_LEN, 0), NODE_ID_LEN);
	s->id[0] = (uint8_t)n;
	s->n = n;
	script_hello_as(s, mgr, ids, n_ids);
}

/* The hello of a script whose id, n and fd are set: with summary, it
 * lists the short ids of `ids` and its own (known_ids). */
static void script_say_hello(struct script *s, const uint8_t (*ids)[NODE_ID_LEN], unsigned n_ids,
			     bool summary)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Hello hello = NSA_PEER__HELLO__INIT;
	unsigned n = s->n;
	uint8_t digest[NODE_ID_LEN];
	uint32_t short_ids[16];

	assert_true(n_ids < 16);
	short_ids[0] = (uint32_t)s->id[0] << 24 | (uint32_t)s->id[1] << 16 |
		       (uint32_t)s->id[2] << 8 | s->id[3];
	for (unsigned i = 0; i < n_ids; i++)
		short_ids[i + 1] = (uint32_t)ids[i][0] << 24 | (uint32_t)ids[i][1] << 16 |
				   (uint32_t)ids[i][2] << 8 | ids[i][3];
	if (summary) {
		hello.known_ids = short_ids;
		hello.n_known_ids = n_ids + 1;
	}

	memcpy(digest, s->id, NODE_ID_LEN);
	for (unsigned i = 0; i < n_ids; i++)
		for (unsigned b = 0; b < NODE_ID_LEN; b++)
			digest[b] ^= ids[i][b];
	hello.version = 1;
	hello.node_id.data = s->id;
	hello.node_id.len = NODE_ID_LEN;
	hello.node_ip = LOOP(n);
	hello.listen_port = 7000 + n;
	hello.keepalive_ms = 10000;
	hello.hold_ms = 30000;
	hello.known_peers = n_ids + 1;
	hello.known_digest.data = digest;
	hello.known_digest.len = NODE_ID_LEN;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_HELLO;
	env.hello = &hello;
	ph_send_msg(s->fd, &env);
}

/* A script whose id and n are set connects to mgr and says that hello. */
static void script_hello_known(struct script *s, struct peer_mgr *mgr,
			       const uint8_t (*ids)[NODE_ID_LEN], unsigned n_ids, bool summary)
{
	s->in = evbuffer_new();
	s->fd = ph_connect(ph_endpoint(mgr, LOOP(1)), LOOP(s->n));
	script_say_hello(s, ids, n_ids, summary);
}

static void script_hello_as(struct script *s, struct peer_mgr *mgr,
			    const uint8_t (*ids)[NODE_ID_LEN], unsigned n_ids)
{
	script_hello_known(s, mgr, ids, n_ids, false);
}

/* The type of the next message on the script's session. */
static NsaPeer__Envelope__MsgCase script_next_case(struct script *s)
{
	NsaPeer__Envelope *env = ph_next_envelope(s->fd, s->in);
	NsaPeer__Envelope__MsgCase c;

	assert_non_null(env);
	c = env->msg_case;
	wire_free(env);
	return c;
}

/* The messages up to end-of-adverts: whether a peer list was among them. */
static bool script_welcome_has_list(struct script *s)
{
	bool list = false;

	for (;;) {
		NsaPeer__Envelope__MsgCase c = script_next_case(s);

		if (c == NSA_PEER__ENVELOPE__MSG_END_OF_ADVERTS)
			return list;
		list |= c == NSA_PEER__ENVELOPE__MSG_PEER_LIST;
	}
}

/* The peer list among the messages up to end-of-adverts, or NULL;
 * wire_free it. */
static NsaPeer__Envelope *script_welcome_list(struct script *s)
{
	NsaPeer__Envelope *list = NULL;

	for (;;) {
		NsaPeer__Envelope *env = ph_next_envelope(s->fd, s->in);

		assert_non_null(env);
		if (env->msg_case == NSA_PEER__ENVELOPE__MSG_END_OF_ADVERTS) {
			wire_free(env);
			return list;
		}
		if (env->msg_case == NSA_PEER__ENVELOPE__MSG_PEER_LIST && !list)
			list = env;
		else
			wire_free(env);
	}
}

/* A node whose hello says it knows exactly the nodes we know is sent no
 * peer list when its session comes up, and one that knows other nodes
 * only our adoptees; one that knows only itself (or says nothing, as an
 * older agent) gets the whole list. */
static void test_exchange_skips_known(void **st)
{
	(void)st;
	struct node node;
	struct script first, same, other, older;
	uint8_t ids[3][NODE_ID_LEN];

	exchange_node_start(&node, 0x60);
	script_hello(&first, node.mgr, 20);
	assert_true(script_welcome_has_list(&first));

	/* it knows the node and `first`, as the node does */
	memcpy(ids[0], node.id, NODE_ID_LEN);
	memcpy(ids[1], first.id, NODE_ID_LEN);
	script_hello_digest(&same, node.mgr, 21, ids, 2);
	assert_false(script_welcome_has_list(&same));
	/* `first` still hears of it */
	NsaPeer__Envelope *env = script_next_list(&first);
	assert_true(list_names(env->peer_list, same.id));
	wire_free(env);

	/* it knows the node and another one: it is in the cluster, and
	 * gets only our adoptee (`first`, whose first session was ours);
	 * knowing only itself (its first session, a newcomer or a
	 * restart), the list (first, same) */
	script_hello_digest(&other, node.mgr, 22, &ids[1], 1);
	env = script_welcome_list(&other);
	assert_non_null(env);
	assert_int_equal(env->peer_list->n_peers, 1);
	assert_true(list_names(env->peer_list, first.id));
	wire_free(env);
	script_close(&other);
	script_hello_digest(&other, node.mgr, 24, ids, 0);
	assert_true(script_welcome_has_list(&other));
	/* no digest at all (an older agent): the list */
	script_hello(&older, node.mgr, 23);
	assert_true(script_welcome_has_list(&older));
	assert_int_equal(ph_established(node.mgr, NULL), 4);

	script_close(&first);
	script_close(&same);
	script_close(&other);
	script_close(&older);
	free_nodes(&node, 1);
}

/* A script that is not connected yet, with its id: for being listed. */
static void script_prepare(struct script *s, unsigned n)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(getrandom(s->id, NODE_ID_LEN, 0), NODE_ID_LEN);
	s->id[0] = (uint8_t)n;
	s->n = n;
	s->fd = -1;
}

/* A peer list on fd: node ids[i] at 127.0.0.ns[i], port ports[i]. */
static void send_list(int fd, uint8_t (*ids)[NODE_ID_LEN], const unsigned *ns,
		      const uint16_t *ports, unsigned n)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__PeerList list = NSA_PEER__PEER_LIST__INIT;
	NsaPeer__PeerInfo infos[8], *ptrs[8];

	assert_true(n <= 8);
	for (unsigned i = 0; i < n; i++) {
		nsa_peer__peer_info__init(&infos[i]);
		infos[i].node_id.data = ids[i];
		infos[i].node_id.len = NODE_ID_LEN;
		infos[i].addr = LOOP(ns[i]);
		infos[i].port = ports[i];
		ptrs[i] = &infos[i];
	}
	list.peers = ptrs;
	list.n_peers = n;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_PEER_LIST;
	env.peer_list = &list;
	ph_send_msg(fd, &env);
}

/* `from` lists the scripts `of` to the node under test. */
static void script_list(struct script *from, struct script *of, unsigned n)
{
	uint8_t ids[8][NODE_ID_LEN];
	unsigned ns[8];
	uint16_t ports[8];

	assert_true(n <= 8);
	for (unsigned i = 0; i < n; i++) {
		memcpy(ids[i], of[i].id, NODE_ID_LEN);
		ns[i] = of[i].n;
		ports[i] = (uint16_t)(7000 + of[i].n);
	}
	send_list(from->fd, ids, ns, ports, n);
}

/* Peer-list entries per node stay linear in the cluster's size: a node
 * is relayed once, by its first contact. A node that joined elsewhere and
 * knows what we know (its hello's digest) costs the existing sessions
 * nothing but the one entry that introduces it to our adoptee (a node
 * whose first session was ours, which learnt the cluster from our list);
 * a newcomer on its first session here costs each of them one entry and
 * gets the full list. Before, each session that came up was told to every
 * session that had not listed it to us: a node sent O(N) entries per
 * newcomer. */
static void test_exchange_relayed_once(void **st)
{
	(void)st;
	struct node node;
	struct script adoptee, members[3], joined, newcomer;
	uint8_t ids[5][NODE_ID_LEN];
	NsaPeer__Envelope *env;

	exchange_node_start(&node, 0x70);
	script_hello(&adoptee, node.mgr, 20);
	assert_true(script_welcome_has_list(&adoptee));
	/* it lists three nodes, which then connect knowing what we know */
	for (unsigned i = 0; i < 3; i++)
		script_prepare(&members[i], 21 + i);
	script_list(&adoptee, members, 3);
	ph_run_for(50); /* the list is read first */
	memcpy(ids[0], node.id, NODE_ID_LEN);
	memcpy(ids[1], adoptee.id, NODE_ID_LEN);
	for (unsigned i = 0; i < 3; i++) {
		unsigned n = 2;

		for (unsigned j = 0; j < 3; j++)
			if (j != i)
				memcpy(ids[n++], members[j].id, NODE_ID_LEN);
		script_hello_as(&members[i], node.mgr, ids, n);
		assert_null(script_welcome_list(&members[i]));
	}

	/* members[0] lists a node that joined elsewhere, which connects */
	script_prepare(&joined, 30);
	script_list(&members[0], &joined, 1);
	ph_run_for(50);
	for (unsigned j = 0; j < 3; j++)
		memcpy(ids[2 + j], members[j].id, NODE_ID_LEN);
	script_hello_as(&joined, node.mgr, ids, 5);
	assert_null(script_welcome_list(&joined));
	script_expect_news_of(&adoptee, joined.id);

	/* a newcomer: the full list, and one entry for every session; the
	 * members' next list is that entry (before: `joined` came first) */
	script_hello(&newcomer, node.mgr, 40);
	env = script_welcome_list(&newcomer);
	assert_non_null(env);
	assert_int_equal(env->peer_list->n_peers, 5);
	wire_free(env);
	script_expect_news_of(&adoptee, newcomer.id);
	script_expect_news_of(&joined, newcomer.id);
	for (unsigned i = 0; i < 3; i++)
		script_expect_news_of(&members[i], newcomer.id);
	assert_int_equal(ph_established(node.mgr, NULL), 6);

	script_close(&adoptee);
	for (unsigned i = 0; i < 3; i++)
		script_close(&members[i]);
	script_close(&joined);
	script_close(&newcomer);
	free_nodes(&node, 1);
}

/* Whether a peer list came on the script's session within ms (every
 * message that came is read and dropped). */
static bool script_list_within(struct script *s, uint64_t ms)
{
	NsaPeer__Envelope *env;
	bool list = false;
	char buf[4096];
	ssize_t len;

	ph_run_for(ms);
	while ((len = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		evbuffer_add(s->in, buf, (size_t)len);
	while (wire_read(s->in, &env) == 1) {
		list |= env->msg_case == NSA_PEER__ENVELOPE__MSG_PEER_LIST;
		wire_free(env);
	}
	return list;
}

/* A peer whose hello lists the nodes it knows (known_ids) is sent, when
 * its session comes up, exactly the established peers it lacks, and
 * nothing later: a new peer costs the existing sessions no message at
 * all (it dials them; they know it then), not a list each. Before, a
 * node that knew others was sent our adoptees whatever it knew, and our
 * adoptees were sent every newcomer. */
static void test_exchange_summary(void **st)
{
	(void)st;
	struct node node;
	struct script members[3], late;
	uint8_t ids[2][NODE_ID_LEN];
	NsaPeer__Envelope *env;
	struct peer_security_stats sec;

	exchange_node_start(&node, 0x74);
	/* three nodes on their first session: each gets the ones before it */
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(getrandom(members[i].id, NODE_ID_LEN, 0), NODE_ID_LEN);
		members[i].id[0] = (uint8_t)(21 + i);
		members[i].n = 21 + i;
		script_hello_known(&members[i], node.mgr, NULL, 0, true);
		env = script_welcome_list(&members[i]);
		if (i == 0) {
			assert_null(env);
			continue;
		}
		assert_non_null(env);
		assert_int_equal(env->peer_list->n_peers, i);
		for (unsigned j = 0; j < i; j++)
			assert_true(list_names(env->peer_list, members[j].id));
		wire_free(env);
	}
	/* a node that knows members 0 and 1 gets member 2 alone */
	assert_int_equal(getrandom(late.id, NODE_ID_LEN, 0), NODE_ID_LEN);
	late.id[0] = 30;
	late.n = 30;
	memcpy(ids[0], members[0].id, NODE_ID_LEN);
	memcpy(ids[1], members[1].id, NODE_ID_LEN);
	script_hello_known(&late, node.mgr, ids, 2, true);
	env = script_welcome_list(&late);
	assert_non_null(env);
	assert_int_equal(env->peer_list->n_peers, 1);
	assert_true(list_names(env->peer_list, members[2].id));
	wire_free(env);
	/* and the existing sessions hear of nobody, batches later */
	for (unsigned i = 0; i < 3; i++)
		assert_false(script_list_within(&members[i], i ? 0 : 100));
	assert_int_equal(ph_established(node.mgr, NULL), 4);
	peer_mgr_security_stats(node.mgr, &sec);
	assert_int_equal(sec.pex_entries_sent, 1 + 2 + 1);

	scripts_close(members, 3);
	script_close(&late);
	free_nodes(&node, 1);
}

/* A chain of N nodes started together (node i seeded with node i-1)
 * closes into a full mesh with peer-list entries per node bounded by a
 * small multiple of N: each node hears of each other about once. Before
 * (news relayed to every session that did not know it), a node of a
 * chain that starts from nothing received O(N) entries per node: 8 to
 * 10 N at 24 nodes; with known_ids and no pex_delegated, twice N. */
static void test_exchange_linear(void **st)
{
	(void)st;
	enum { N_CHAIN = 24 };
	struct node nodes[N_CHAIN];
	struct mesh m = {nodes, N_CHAIN};
	uint64_t total = 0, most = 0;

	chain_init(nodes, N_CHAIN);
	for (unsigned i = 0; i < N_CHAIN; i++)
		chain_node_start(nodes, i);
	assert_true(ph_run_until(full_mesh, &m, 3 * DEADLINE_MS));
	for (unsigned i = 0; i < N_CHAIN; i++) {
		uint64_t got = stats_of(&nodes[i]).pex_entries_received;

		total += got;
		if (got > most)
			most = got;
	}
	fprintf(stderr, "chain of %u: peer-list entries received per node %.1f, at most %llu\n",
		N_CHAIN, (double)total / N_CHAIN, (unsigned long long)most);
	assert_true(2 * total <= 3 * N_CHAIN * N_CHAIN);
	assert_true(most <= 3 * N_CHAIN);
	free_nodes(nodes, N_CHAIN);
}

/* Whether node has an established session with the node whose id is id. */
static bool has_session(const struct node *node, const uint8_t *id)
{
	struct peer_info *infos;
	unsigned n = peer_mgr_peers(node->mgr, &infos);
	const struct peer_info *info = ph_find_info(infos, n, id);
	bool up = info && info->state == PEER_ESTABLISHED;

	free(infos);
	return up;
}

/* Every node of m has a session with every other (routes aside: a dead
 * node's stay stale for the restart time). */
static bool sessions_meshed(void *arg)
{
	struct mesh *m = arg;

	for (unsigned i = 0; i < m->n; i++)
		for (unsigned j = 0; j < m->n; j++)
			if (i != j && !has_session(&m->nodes[i], m->nodes[j].id))
				return false;
	return true;
}

/* A delegate that dies before it introduces: X leaves P's introduction
 * to N to L (a lower id than X's that N knows, and that knows P), and N
 * never reaches L (the address it was given for L answers nothing).
 * While L lives, N does not hear of P (the limit pex_delegated states);
 * once L's session with X goes down, X tells N of P, and the survivors
 * X, P and N close their mesh. Before, nothing told N of P, nor P of N
 * (a session with known_ids hears no news), until a restart. */
static void test_delegate_dies(void **st)
{
	(void)st;
	enum { L, P, X, N };
	struct node nodes[4];
	struct node survivors[3];
	struct mesh three = {survivors, 3};
	struct mesh lp = {nodes, 2}, lpx = {nodes, 3};
	struct endpoint seed_l, seed_m;
	struct script m;
	uint8_t listed[2][NODE_ID_LEN];
	unsigned listed_at[2] = {6, 3};
	uint16_t listed_port[2], m_port;
	int m_listen;

	node_init(&nodes[L], 0x10);
	node_init(&nodes[P], 0x30);
	node_init(&nodes[X], 0x50);
	node_init(&nodes[N], 0x70);
	/* L and P, then X seeded with L: L tells X of P, so X knows L knows P */
	node_start(&nodes[L], 1, NULL, 0, true, 5000);
	seed_l = ph_endpoint(nodes[L].mgr, nodes[L].ip);
	node_start(&nodes[P], 2, &seed_l, 1, true, 5000);
	assert_true(ph_run_until(sessions_meshed, &lp, DEADLINE_MS));
	node_start(&nodes[X], 3, &seed_l, 1, true, 5000);
	assert_true(ph_run_until(sessions_meshed, &lpx, DEADLINE_MS));

	/* N's first contact, a script M, lists L (at 127.0.0.6, where
	 * nothing answers) and X: N's hello to X lists L, not P */
	m_listen = ph_listen(LOOP(5), &m_port);
	seed_m = (struct endpoint){NA4(LOOP(5)), m_port};
	node_start(&nodes[N], 4, &seed_m, 1, true, 5000);
	script_prepare(&m, 5);
	m.in = evbuffer_new();
	m.fd = ph_accept(m_listen);
	script_say_hello(&m, NULL, 0, true);
	memcpy(listed[0], nodes[L].id, NODE_ID_LEN);
	memcpy(listed[1], nodes[X].id, NODE_ID_LEN);
	listed_port[0] = ph_endpoint(nodes[L].mgr, nodes[L].ip).port;
	listed_port[1] = ph_endpoint(nodes[X].mgr, nodes[X].ip).port;
	send_list(m.fd, listed, listed_at, listed_port, 2);
	struct node xn[2] = {nodes[X], nodes[N]};
	struct mesh pair_xn = {xn, 2};
	assert_true(ph_run_until(sessions_meshed, &pair_xn, DEADLINE_MS));
	ph_run_for(300);
	assert_false(has_session(&nodes[N], nodes[P].id));
	script_close(&m);
	close(m_listen);

	/* L dies: X offers P to N, and the survivors mesh */
	ph_free(nodes[L].mgr);
	nodes[L].mgr = NULL;
	survivors[0] = nodes[P];
	survivors[1] = nodes[X];
	survivors[2] = nodes[N];
	assert_true(ph_run_until(sessions_meshed, &three, DEADLINE_MS));
	/* the route follows the session by the rde's batch: polled */
	struct route_cond to_p = {&nodes[N], NET(2), LOOP(2), true};
	assert_true(ph_run_until(route_is, &to_p, DEADLINE_MS));
	free_nodes(&nodes[P], 3);
}

/* ---- a peer whose node address is IPv6 ---- */

/* A hello from id with an IPv6 node address (addr6 bytes, len of them). */
static void send_hello6(int fd, const uint8_t *id, const uint8_t *addr6, size_t len, uint16_t port)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Hello hello = NSA_PEER__HELLO__INIT;

	hello.version = PEER_PROTOCOL_VERSION;
	hello.node_id.data = (uint8_t *)id;
	hello.node_id.len = NODE_ID_LEN;
	hello.node_ip6.data = (uint8_t *)addr6;
	hello.node_ip6.len = len;
	hello.listen_port = port;
	hello.keepalive_ms = 10000;
	hello.hold_ms = 30000;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_HELLO;
	env.hello = &hello;
	ph_send_msg(fd, &env);
}

static bool established_n(void *arg)
{
	const struct node *node = arg;

	return ph_established(node->mgr, NULL) == (unsigned)node->modes_chosen;
}

/* The peer at [addr]:port in the node's table, or NULL (infos freed by the
 * caller). */
static const struct peer_info *info_at(const struct peer_info *infos, unsigned n, const char *addr,
				       uint16_t port)
{
	for (unsigned i = 0; i < n; i++)
		if (na_eq(infos[i].endpoint.addr, na(addr)) && infos[i].endpoint.port == port)
			return &infos[i];
	return NULL;
}

/* A node listening on both families takes a session from a peer whose
 * node address is IPv6 (::1, the session's source), lists it as
 * [::1]:7031, relays it in PeerInfo addr6 (addr 0), and learns an IPv6
 * peer from a list. Strict: node_ip6 or addr6 of another length than 16
 * bytes is malformed and counted; the hello is refused, the list entry
 * dropped and its session kept. */
static void test_ipv6_peer(void **st)
{
	(void)st;
	static const uint8_t bad[5] = {0x20, 0x01};
	struct in6_addr lo6 = ip6("::1"), far6 = ip6("2001:db8::9");
	struct node node;
	struct ph_config c;
	struct script v4;
	struct peer_security_stats sec;
	struct peer_info *infos;
	const struct peer_info *info;
	struct endpoint to6;
	uint8_t id6[NODE_ID_LEN], learned[NODE_ID_LEN], odd[NODE_ID_LEN];
	struct evbuffer *in = evbuffer_new();
	NsaPeer__Envelope *env;
	bool eof, relayed = false;
	unsigned n;
	int fd;

	node_init(&node, 0x70);
	node.ip = LOOP(1);
	ph_config_node(&c, node.id, 1, NULL, 0);
	wire_rde(&c, &node);
	memset(&c.peer.listen_addr, 0, sizeof(c.peer.listen_addr)); /* both families */
	c.peer.keepalive_ms = 10000;
	c.peer.hold_time_ms = 30000;
	ph_start(&c, &ops, &node, &node.mgr);
	to6 = (struct endpoint){na("::1"), peer_mgr_listen_port(node.mgr)};

	assert_int_equal(getrandom(id6, NODE_ID_LEN, 0), NODE_ID_LEN);
	fd = ph_connect(to6, 0);
	send_hello6(fd, id6, lo6.s6_addr, 16, 7031);
	node.modes_chosen = 1; /* established_n's count */
	assert_true(ph_run_until(established_n, &node, DEADLINE_MS));
	n = peer_mgr_peers(node.mgr, &infos);
	info = info_at(infos, n, "::1", 7031);
	assert_non_null(info);
	assert_int_equal(info->state, PEER_ESTABLISHED);
	free(infos);

	/* an IPv4 node hears of it by its IPv6 address */
	script_hello(&v4, node.mgr, 20);
	node.modes_chosen = 2;
	assert_true(ph_run_until(established_n, &node, DEADLINE_MS));
	while (!relayed) {
		env = script_next_list(&v4);
		for (size_t i = 0; i < env->peer_list->n_peers; i++) {
			const NsaPeer__PeerInfo *pi = env->peer_list->peers[i];

			if (pi->node_id.len != NODE_ID_LEN ||
			    memcmp(pi->node_id.data, id6, NODE_ID_LEN))
				continue;
			assert_int_equal(pi->addr, 0);
			assert_int_equal(pi->addr6.len, 16);
			assert_memory_equal(pi->addr6.data, lo6.s6_addr, 16);
			assert_int_equal(pi->port, 7031);
			relayed = true;
		}
		wire_free(env);
	}

	/* a list from it: an IPv6 entry is learned, one of 5 bytes dropped */
	{
		NsaPeer__Envelope out = NSA_PEER__ENVELOPE__INIT;
		NsaPeer__PeerList list = NSA_PEER__PEER_LIST__INIT;
		NsaPeer__PeerInfo good = NSA_PEER__PEER_INFO__INIT,
				  malformed = NSA_PEER__PEER_INFO__INIT;
		NsaPeer__PeerInfo *entries[2] = {&malformed, &good};

		assert_int_equal(getrandom(learned, NODE_ID_LEN, 0), NODE_ID_LEN);
		assert_int_equal(getrandom(odd, NODE_ID_LEN, 0), NODE_ID_LEN);
		good.node_id = (ProtobufCBinaryData){NODE_ID_LEN, learned};
		good.addr6 = (ProtobufCBinaryData){16, far6.s6_addr};
		good.port = 7470;
		malformed.node_id = (ProtobufCBinaryData){NODE_ID_LEN, odd};
		malformed.addr6 = (ProtobufCBinaryData){sizeof(bad), (uint8_t *)bad};
		malformed.port = 7470;
		list.peers = entries;
		list.n_peers = 2;
		out.msg_case = NSA_PEER__ENVELOPE__MSG_PEER_LIST;
		out.peer_list = &list;
		ph_send_msg(v4.fd, &out);
	}
	ph_run_for(200);
	n = peer_mgr_peers(node.mgr, &infos);
	assert_non_null(info_at(infos, n, "2001:db8::9", 7470));
	for (unsigned i = 0; i < n; i++)
		assert_false(infos[i].node_id_known && !memcmp(infos[i].node_id, odd, NODE_ID_LEN));
	free(infos);
	peer_mgr_security_stats(node.mgr, &sec);
	assert_int_equal(sec.frames_malformed, 1);
	assert_int_equal(ph_established(node.mgr, NULL), 2);

	/* a hello whose node_ip6 is 5 bytes: refused, counted */
	close(fd);
	fd = ph_connect(to6, 0);
	send_hello6(fd, id6, bad, sizeof(bad), 7031);
	ph_next_msg(fd, in, &eof);
	assert_true(eof);
	peer_mgr_security_stats(node.mgr, &sec);
	assert_int_equal(sec.frames_malformed, 2);
	assert_int_equal(sec.hellos_refused, 1);

	close(fd);
	script_close(&v4);
	evbuffer_free(in);
	free_nodes(&node, 1);
}

/* ---- dial scheduling: one connection per pair ---- */

/* B (id 0x30) joins through A, then C (0x20): A tells C of B (what C's
 * hello lacks) and B of nothing, so C dials B at once although its id is
 * the lower: nobody told B of C, and waiting for B's dial would be
 * waiting for nothing. One connection for the pair, no collision. (Told
 * both, as an older relay does, the higher id dials and the lower waits:
 * test_learned_lower_dials_late.) */
static bool b_joined(void *arg)
{
	struct node *nodes = arg;

	return ph_established(nodes[1].mgr, NULL) == 1 && ph_established(nodes[0].mgr, NULL) == 1;
}

static void test_learned_higher_dials(void **st)
{
	(void)st;
	struct node nodes[3];
	struct mesh m = {nodes, 3};
	struct endpoint seed;
	struct peer_info *infos;
	const struct peer_info *b_at_c;
	unsigned n;

	node_init(&nodes[0], 0x10);
	node_init(&nodes[1], 0x30);
	node_init(&nodes[2], 0x20);
	node_start(&nodes[0], 1, NULL, 0, true, 5000);
	seed = ph_endpoint(nodes[0].mgr, nodes[0].ip);
	node_start(&nodes[1], 2, &seed, 1, true, 5000);
	assert_true(ph_run_until(b_joined, nodes, DEADLINE_MS));
	node_start(&nodes[2], 3, &seed, 1, true, 5000);
	assert_true(ph_run_until(full_mesh, &m, DEADLINE_MS));
	/* B dialled its seed only; C its seed and B */
	assert_int_equal(stats_of(&nodes[1]).dials, 1);
	assert_int_equal(stats_of(&nodes[2]).dials, 2);
	for (int i = 0; i < 3; i++)
		assert_int_equal(stats_of(&nodes[i]).collisions, 0);
	n = peer_mgr_peers(nodes[2].mgr, &infos);
	b_at_c = ph_find_info(infos, n, nodes[1].id);
	assert_non_null(b_at_c);
	assert_true(b_at_c->outbound);
	free(infos);
	ph_run_for(PEER_YIELD_DIAL_MS + 100); /* and nobody dials later */
	assert_int_equal(stats_of(&nodes[1]).dials, 1);
	assert_int_equal(stats_of(&nodes[2]).dials, 2);
	assert_true(full_mesh(&m));
	free_nodes(nodes, 3);
}

/* A higher node that never dials (it did not hear of us): we dial it
 * ourselves once the wait for it is over, so the pair still meets. */
static void test_learned_lower_dials_late(void **st)
{
	(void)st;
	struct node node;
	struct script relay;
	uint8_t high_id[NODE_ID_LEN];
	uint16_t high_port;
	int lfd = ph_listen(LOOP(9), &high_port), fd;
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__PeerList list = NSA_PEER__PEER_LIST__INIT;
	NsaPeer__PeerInfo info = NSA_PEER__PEER_INFO__INIT;
	NsaPeer__PeerInfo *infos[1] = {&info};
	uint64_t t0;

	exchange_node_start(&node, 0x10);
	memset(high_id, 0xf0, sizeof(high_id));
	script_hello(&relay, node.mgr, 20);
	wire_free(script_next_list(&relay));
	info.node_id.data = high_id;
	info.node_id.len = NODE_ID_LEN;
	info.addr = LOOP(9);
	info.port = high_port;
	list.peers = infos;
	list.n_peers = 1;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_PEER_LIST;
	env.peer_list = &list;
	t0 = ph_now_ms();
	ph_send_msg(relay.fd, &env);
	fd = ph_accept(lfd);
	assert_true(ph_now_ms() - t0 >= PEER_YIELD_DIAL_MS);
	assert_int_equal(stats_of(&node).dials, 1);
	close(fd);
	close(lfd);
	script_close(&relay);
	free_nodes(&node, 1);
}

/* A peer list of six nodes with lower ids is dialled at once, whatever
 * the dial rate (here 1 a second): a peer's first dial is not held to
 * it. Redials are: the six dials failing together take tokens again. */
static void test_learned_dials_at_once(void **st)
{
	(void)st;
	enum { N_LISTED = 6 };
	struct node node;
	struct ph_config c;
	struct script relay;
	int lfd[N_LISTED], fd[N_LISTED];
	uint8_t ids[N_LISTED][NODE_ID_LEN];
	NsaPeer__PeerInfo infos[N_LISTED], *ptrs[N_LISTED];
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__PeerList list = NSA_PEER__PEER_LIST__INIT;
	struct peer_security_stats s;
	uint64_t t0;

	node_init(&node, 0xf0);
	node.ip = LOOP(1);
	ph_config_node(&c, node.id, 1, NULL, 0);
	wire_rde(&c, &node);
	c.peer.keepalive_ms = 10000;
	c.peer.hold_time_ms = 30000;
	c.peer.dial_rate = 1;
	ph_start(&c, &ops, &node, &node.mgr);
	script_hello(&relay, node.mgr, 20);
	wire_free(script_next_list(&relay));
	for (unsigned i = 0; i < N_LISTED; i++) {
		uint16_t port;

		lfd[i] = ph_listen(LOOP(40 + i), &port);
		memset(ids[i], 0, NODE_ID_LEN);
		ids[i][0] = (uint8_t)(0x10 + i);
		nsa_peer__peer_info__init(&infos[i]);
		infos[i].node_id.data = ids[i];
		infos[i].node_id.len = NODE_ID_LEN;
		infos[i].addr = LOOP(40 + i);
		infos[i].port = port;
		ptrs[i] = &infos[i];
	}
	list.peers = ptrs;
	list.n_peers = N_LISTED;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_PEER_LIST;
	env.peer_list = &list;
	t0 = ph_now_ms();
	ph_send_msg(relay.fd, &env);
	for (unsigned i = 0; i < N_LISTED; i++)
		fd[i] = ph_accept(lfd[i]);
	/* at one a second the last would have come 5 s later */
	assert_true(ph_now_ms() - t0 < 1000);
	peer_mgr_security_stats(node.mgr, &s);
	assert_int_equal(s.dials, N_LISTED);
	assert_int_equal(s.dials_deferred, 0);

	/* all six fail: their redials (20 ms later) wait for tokens */
	for (unsigned i = 0; i < N_LISTED; i++)
		close(fd[i]);
	t0 = ph_now_ms();
	ph_run_for(300);
	peer_mgr_security_stats(node.mgr, &s);
	assert_true(s.dials_deferred > 0);
	assert_true(s.dials <= N_LISTED + 1 + (ph_now_ms() - t0) / 1000);
	for (unsigned i = 0; i < N_LISTED; i++)
		close(lfd[i]);
	script_close(&relay);
	free_nodes(&node, 1);
}

/* The script's advert: its subnet 172.16.n.0/24, then end-of-adverts. */
static void script_advert(struct script *s, unsigned n)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT, eoa_env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Advert advert = NSA_PEER__ADVERT__INIT;
	NsaPeer__EndOfAdverts eoa = NSA_PEER__END_OF_ADVERTS__INIT;
	NsaPeer__Prefix p = NSA_PEER__PREFIX__INIT;
	NsaPeer__Prefix *ps[1] = {&p};

	p.addr = NET(n).addr;
	p.len = 24;
	advert.subnets = ps;
	advert.n_subnets = 1;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_ADVERT;
	env.advert = &advert;
	ph_send_msg(s->fd, &env);
	eoa_env.msg_case = NSA_PEER__ENVELOPE__MSG_END_OF_ADVERTS;
	eoa_env.end_of_adverts = &eoa;
	ph_send_msg(s->fd, &eoa_env);
}

/* Adverts that arrive one per loop pass, as a converging mesh's do, make
 * one route-set rebuild and plan per PEER_RDE_BATCH_MS, not one each;
 * and every route is there at the end, as it is after a lone advert. */
static void test_rde_batches_adverts(void **st)
{
	(void)st;
	enum { N_SCRIPTS = 12 };
	struct node node;
	struct script s[N_SCRIPTS], late;
	uint64_t t0, elapsed;
	int plans;

	exchange_node_start(&node, 0x50);
	for (unsigned i = 0; i < N_SCRIPTS; i++) {
		script_hello(&s[i], node.mgr, 20 + i);
		script_welcome_has_list(&s[i]);
	}
	ph_run_for(2 * PEER_RDE_BATCH_MS);
	plans = node.routes_changed;
	t0 = ph_now_ms();
	for (unsigned i = 0; i < N_SCRIPTS; i++) {
		script_advert(&s[i], 20 + i);
		ph_run_for(2);
	}
	elapsed = ph_now_ms() - t0;
	ph_run_for(2 * PEER_RDE_BATCH_MS);
	assert_int_equal(ph_n_routes(node.mgr), N_SCRIPTS);
	/* one at once, then one per batch (12 before) */
	assert_true(node.routes_changed - plans <= (int)(1 + elapsed / PEER_RDE_BATCH_MS + 1));
	assert_true(node.routes_changed - plans < N_SCRIPTS);

	ph_run_for(2 * PEER_RDE_BATCH_MS);
	plans = node.routes_changed;
	script_hello(&late, node.mgr, 40);
	script_welcome_has_list(&late);
	ph_run_for(2 * PEER_RDE_BATCH_MS);
	script_advert(&late, 40);
	while (ph_n_routes(node.mgr) != N_SCRIPTS + 1)
		ph_run_for(1);
	assert_int_equal(node.routes_changed - plans, 1);
	for (unsigned i = 0; i < N_SCRIPTS; i++)
		script_close(&s[i]);
	script_close(&late);
	free_nodes(&node, 1);
}

/* Runs until the script's session brings a keepalive (other messages
 * skipped); returns when it did. */
static uint64_t script_next_keepalive(struct script *s)
{
	while (script_next_case(s) != NSA_PEER__ENVELOPE__MSG_KEEPALIVE)
		;
	return ph_now_ms();
}

/* Sessions that came up 150 ms apart get their keepalives in the same
 * wakeup (the later one's is sent early, never late): an idle agent
 * with many peers wakes about once per interval, not once per session. */
static void test_keepalives_together(void **st)
{
	(void)st;
	struct node node;
	struct script a, b;
	uint64_t ta, tb;

	script_node_start(&node, 0x58, 400);
	script_hello(&a, node.mgr, 20);
	script_welcome_has_list(&a);
	ph_run_for(150);
	script_hello(&b, node.mgr, 21);
	script_welcome_has_list(&b);
	/* a's keepalives from before b came up are not the point */
	script_list_within(&a, 0);
	for (int round = 0; round < 2; round++) {
		ta = script_next_keepalive(&a);
		tb = script_next_keepalive(&b);
		assert_true(tb - ta < 75);
	}
	script_close(&a);
	script_close(&b);
	free_nodes(&node, 1);
}

/* The wall clock's milliseconds modulo interval_ms. */
static uint64_t wall_phase(uint32_t interval_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) % interval_ms;
}

/* Keepalives go out when the wall clock is a whole multiple of the
 * interval, whenever the session came up (here halfway between two):
 * every node of a cluster sends at the same moments, so a node's peers'
 * keepalives arrive together and one wakeup reads them all, where each
 * peer's used to arrive at a moment of its own (a wakeup per peer and
 * interval: 30 a second for an idle agent with 31 peers). */
static void test_keepalives_on_grid(void **st)
{
	(void)st;
	enum { INTERVAL = 1000 };
	struct node node;
	struct script a;

	script_node_start(&node, 0x59, INTERVAL);
	while (wall_phase(INTERVAL) < INTERVAL / 2 || wall_phase(INTERVAL) > INTERVAL / 2 + 20)
		ph_run_for(5);
	script_hello(&a, node.mgr, 20);
	script_welcome_has_list(&a);
	for (int round = 0; round < 3; round++) {
		uint64_t phase;

		script_next_keepalive(&a);
		phase = wall_phase(INTERVAL);
		/* Received in the first half interval after a grid point, or
		 * a few ms before it (the timer runs on the monotonic clock,
		 * the grid on the wall clock: seen 1 ms early). Kept to the
		 * session's own moment (up at a phase of 500 ms) it would come
		 * in the second half. The margin is a scheduling delay of up
		 * to half an interval, which a loaded machine stays under (a
		 * quarter of 400 ms it did not, 2 runs in 8). */
		assert_true(phase < INTERVAL / 2 || phase > INTERVAL - 20);
	}
	script_close(&a);
	free_nodes(&node, 1);
}

/* Messages keep a session up past its hold time, and it goes down hold
 * time after the last one, not later and not sooner: the hold timer is
 * armed once and put off when it fires (hold_check), not re-armed for
 * every message. */
static void test_hold_expires(void **st)
{
	(void)st;
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Keepalive keepalive = NSA_PEER__KEEPALIVE__INIT;
	struct node node;
	struct script a;
	uint64_t last, gone;
	bool eof = false;

	script_node_start_hold(&node, 0x5a, 100, 300);
	script_hello(&a, node.mgr, 20);
	script_welcome_has_list(&a);
	env.msg_case = NSA_PEER__ENVELOPE__MSG_KEEPALIVE;
	env.keepalive = &keepalive;
	for (int i = 0; i < 8; i++) {
		ph_send_msg(a.fd, &env);
		ph_run_for(100);
	}
	ph_send_msg(a.fd, &env);
	last = ph_now_ms();
	assert_int_equal(ph_established(node.mgr, NULL), 1);
	while (!eof)
		ph_next_msg(a.fd, a.in, &eof);
	gone = ph_now_ms() - last;
	assert_true(gone >= 250);
	assert_true(gone < 600);
	script_close(&a);
	free_nodes(&node, 1);
}

/* ---- one write per burst ---- */

/* A keepalive interval none of whose wall-clock grid points
 * (keepalive_tick_cb) falls within the next minute: the segments counted
 * after a session comes up are its opening burst alone. */
static uint32_t quiet_keepalive_ms(void)
{
	uint32_t interval = 3600 * 1000;

	while (interval - wall_phase(interval) < 60 * 1000)
		interval += 1000;
	return interval;
}

/* The one connected TCP socket of this process from local_ip (and
 * local_port, unless 0) to remote_ip (and remote_port, unless 0): an
 * agent's end of a session, found among our file descriptors. */
static int find_conn_fd(uint32_t local_ip, uint16_t local_port, uint32_t remote_ip,
			uint16_t remote_port)
{
	int found = -1;

	for (int fd = 0; fd < 1024; fd++) {
		struct sockaddr_in l, r;
		socklen_t l_len = sizeof(l), r_len = sizeof(r), t_len;
		int type;

		t_len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &t_len) < 0 || type != SOCK_STREAM ||
		    getsockname(fd, (struct sockaddr *)&l, &l_len) < 0 || l.sin_family != AF_INET ||
		    getpeername(fd, (struct sockaddr *)&r, &r_len) < 0)
			continue;
		if (ntohl(l.sin_addr.s_addr) != local_ip || ntohl(r.sin_addr.s_addr) != remote_ip ||
		    (local_port && ntohs(l.sin_port) != local_port) ||
		    (remote_port && ntohs(r.sin_port) != remote_port))
			continue;
		assert_int_equal(found, -1); /* one connection per pair */
		found = fd;
	}
	assert_true(found >= 0);
	return found;
}

static struct tcp_info tcp_info_of(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	return ti;
}

/* The kernel's count of the TCP segments with data a socket sent, and of
 * their bytes, retransmissions aside: on a loaded machine a delayed ACK
 * now and then has the sender's tail loss probe send the last one again. */
static unsigned segs_sent(int fd)
{
	struct tcp_info ti = tcp_info_of(fd);

	return ti.tcpi_data_segs_out - ti.tcpi_total_retrans;
}

static uint64_t bytes_sent(int fd)
{
	struct tcp_info ti = tcp_info_of(fd);

	return ti.tcpi_bytes_sent - ti.tcpi_bytes_retrans;
}

static void burst_node_start(struct node *node, unsigned n, const struct endpoint *seed,
			     struct tls_ctx *key, uint32_t keepalive_ms)
{
	struct ph_config c;

	node->ip = LOOP(n);
	config_for(&c, node, n, 0, seed);
	c.peer.tls = key;
	c.peer.keepalive_ms = keepalive_ms;
	c.peer.hold_time_ms = 3 * keepalive_ms;
	ph_start(&c, &ops, node, &node->mgr);
}

struct sent_cond {
	int from, to; /* the sender's socket and the receiver's */
	unsigned segs_before;
};

/* The sender wrote since segs_before, and all it wrote has arrived. */
static bool sent_and_arrived(void *arg)
{
	struct sent_cond *c = arg;

	return segs_sent(c->from) > c->segs_before &&
	       tcp_info_of(c->to).tcpi_bytes_received == bytes_sent(c->from);
}

enum { BURST_REMOTES = 40 };

/* Scripted sessions of A's, so that the list A sends B is long. */
static void burst_remotes_open(struct ph_remote *r, const struct node *a, struct tls_ctx *key,
			       uint32_t hold_ms)
{
	struct endpoint ep = ph_endpoint(a->mgr, a->ip);

	for (unsigned i = 0; i < BURST_REMOTES; i++) {
		uint8_t id[NODE_ID_LEN];
		uint32_t ip = LOOP(10 + i);
		struct evbuffer *out;

		assert_int_equal(getrandom(id, sizeof(id), 0), (ssize_t)sizeof(id));
		if (key) {
			ph_tls_open(&r[i], key, ep, ip);
			out = bufferevent_get_output(r[i].bev);
		} else {
			r[i] = (struct ph_remote){.fd = ph_connect(ep, ip)};
			out = evbuffer_new();
		}
		/* port 1: nothing listens there, so B's dials are refused */
		ph_put_hello(out, id, ip, 1, hold_ms);
		if (!key) {
			while (evbuffer_get_length(out))
				assert_true(evbuffer_write(out, r[i].fd) > 0);
			evbuffer_free(out);
		}
	}
}

struct burst_lab {
	struct node *nodes;
	unsigned a_sessions;
};

/* A has its sessions with C and the remotes. */
static bool a_ready(void *arg)
{
	struct burst_lab *l = arg;

	return ph_established(l->nodes[0].mgr, NULL) == l->a_sessions;
}

/* B (127.0.0.3) has routes to A and C, and they to B. */
static bool b_meshed(void *arg)
{
	struct burst_lab *l = arg;
	struct node *n = l->nodes;

	return ph_has_route(n[0].mgr, NET(3), LOOP(3)) && ph_has_route(n[1].mgr, NET(3), LOOP(3)) &&
	       ph_has_route(n[2].mgr, NET(1), LOOP(1)) && ph_has_route(n[2].mgr, NET(2), LOOP(2));
}

/* The frames a node sends a session in one go are one write, so one TCP
 * segment (and with a key one TLS record): the acceptor's hello, advert,
 * peer list and end-of-adverts, the dialler's advert, list and
 * end-of-adverts after the hello it sent on connect, and the advert and
 * end-of-adverts every session gets again when ours changes. Each frame
 * was a write and a segment of its own (a wakeup each at the other end):
 * 4 + 3 per session, 2 per advert. With a key the frames of a callback
 * shared a record while they fitted the first chunk of the TLS
 * bufferevent's output (about a kilobyte): a longer burst was several.
 * So A, which B dials, has sessions with C and BURST_REMOTES scripted
 * remotes: its list to B is 1.2 KB. Counted by the kernel (TCP_INFO data
 * segments out) on both ends of B's sessions with A and with C (which it
 * dials when A tells it of C); with a key the TLS handshake's flights
 * count too (the server's one, the client's two). */
static void opening_bursts(bool tls)
{
	struct node nodes[3];
	struct burst_lab lab = {nodes, 1 + BURST_REMOTES};
	struct ph_remote remotes[BURST_REMOTES];
	struct tls_ctx *keys[4] = {NULL, NULL, NULL, NULL};
	uint32_t keepalive = quiet_keepalive_ms(), server_hs = tls ? 1 : 0, client_hs = tls ? 2 : 0;
	uint8_t wg_key[KERN_WG_KEY_LEN] = {1};
	struct endpoint seed;
	uint16_t port_a, port_c;
	int a_b, b_a, c_b, b_c;
	struct sent_cond advert;

	for (unsigned i = 0; i < 3; i++)
		node_init(&nodes[i], (uint8_t)(0x60 + 0x10 * i));
	for (unsigned i = 0; tls && i < 4; i++)
		keys[i] = th_ctx_with_key(0x61);
	/* A at 127.0.0.1, C at .2 seeded with A, the remotes, then B at .3
	 * seeded with A */
	burst_node_start(&nodes[0], 1, NULL, keys[0], keepalive);
	seed = ph_endpoint(nodes[0].mgr, nodes[0].ip);
	burst_node_start(&nodes[1], 2, &seed, keys[1], keepalive);
	burst_remotes_open(remotes, &nodes[0], keys[3], 3 * keepalive);
	assert_true(ph_run_until(a_ready, &lab, DEADLINE_MS));
	burst_node_start(&nodes[2], 3, &seed, keys[2], keepalive);
	assert_true(ph_run_until(b_meshed, &lab, DEADLINE_MS));
	port_a = peer_mgr_listen_port(nodes[0].mgr);
	port_c = peer_mgr_listen_port(nodes[1].mgr);
	a_b = find_conn_fd(LOOP(1), port_a, LOOP(3), 0);
	b_a = find_conn_fd(LOOP(3), 0, LOOP(1), port_a);
	c_b = find_conn_fd(LOOP(2), port_c, LOOP(3), 0);
	b_c = find_conn_fd(LOOP(3), 0, LOOP(2), port_c);
	fprintf(stderr, "%s: data segments A->B %u (%llu bytes), B->A %u, C->B %u, B->C %u\n",
		tls ? "TLS" : "TCP", segs_sent(a_b), (unsigned long long)bytes_sent(a_b),
		segs_sent(b_a), segs_sent(c_b), segs_sent(b_c));
	/* A: hello, advert, C and the remotes in a peer list, end-of-adverts */
	assert_int_equal(segs_sent(a_b), server_hs + 1);
	/* B: its hello on connect; advert and end-of-adverts on A's hello */
	assert_int_equal(segs_sent(b_a), client_hs + 2);
	/* C: hello, advert, end-of-adverts (B knows A, C's only peer) */
	assert_int_equal(segs_sent(c_b), server_hs + 1);
	assert_int_equal(segs_sent(b_c), client_hs + 2);

	/* A's advert changes (a new WireGuard key): advert and end-of-adverts
	 * to each session, one write each */
	advert = (struct sent_cond){a_b, b_a, segs_sent(a_b)};
	peer_mgr_set_wg_key(nodes[0].mgr, wg_key);
	assert_true(ph_run_until(sent_and_arrived, &advert, DEADLINE_MS));
	assert_int_equal(segs_sent(a_b), advert.segs_before + 1);
	for (unsigned i = 0; i < BURST_REMOTES; i++)
		ph_remote_close(&remotes[i]);
	free_nodes(nodes, 3);
	for (unsigned i = 0; i < 4; i++)
		tls_ctx_free(keys[i]);
}

static void test_opening_burst_one_write(void **st)
{
	(void)st;
	opening_bursts(false);
}

static void test_opening_burst_one_record(void **st)
{
	(void)st;
	opening_bursts(true);
}

static void test_persisted_peers(void **st)
{
	(void)st;
	/* covered by the lab rejoin scenario; here: learned peers land in
	 * the state handle */
	char dir[] = "/tmp/nsagent-peer-test.XXXXXX";
	struct state *state;
	struct node nodes[2];
	struct mesh m = {nodes, 2};
	struct endpoint seed;
	struct ph_config c;
	char cmd[128];

	assert_non_null(mkdtemp(dir));
	assert_int_equal(state_open(dir, &state), 0);
	node_init(&nodes[0], 0xd0);
	node_init(&nodes[1], 0xd1);
	node_start(&nodes[1], 2, NULL, 0, true, 5000);
	seed = ph_endpoint(nodes[1].mgr, nodes[1].ip);
	memcpy(nodes[0].id, state->node_id, NODE_ID_LEN);
	nodes[0].ip = LOOP(1);
	ph_config(&c, state->node_id, 1);
	wire_rde(&c, &nodes[0]);
	c.rde.claim_wait_ms = 2000;
	c.peer.state = state;
	c.rde.state = state;
	c.peer.seeds = &seed;
	c.peer.n_seeds = 1;
	ph_start(&c, &ops, &nodes[0], &nodes[0].mgr);
	assert_true(ph_run_until(full_mesh, &m, DEADLINE_MS));
	assert_int_equal(state->n_peers, 1);
	assert_true(na_eq(state->peers[0].addr, NA4(LOOP(2))));
	assert_int_equal(state->peers[0].port, seed.port);
	/* the claim happened once the seed's end-of-adverts arrived, well
	 * before the claim wait, and avoided the seed's subnet; it is the lease */
	assert_true(state->subnet_set);
	assert_false(addr_prefix_overlaps(&state->subnet, &(struct prefix)NET(2)));
	free_nodes(nodes, 2);
	state_free(state);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- protocol version 2 against version 1 ---- */

struct old_peer {
	struct peer_mgr *mgr;
	unsigned malformed6; /* wait for this many malformed IPv6 entries */
};

static bool old_peer_routed(void *arg)
{
	return ph_has_route(((struct old_peer *)arg)->mgr, NET(9), LOOP(9));
}

static bool old_peer_counted(void *arg)
{
	struct old_peer *o = arg;
	struct rde_stats stats;

	rde_get_stats(ph_rde(o->mgr), &stats);
	return stats.rejected6[RIB_REJECT_MALFORMED] == o->malformed6;
}

/* The scripted remote's advert: its IPv4 subnet, and n6 IPv6 entries that
 * do not decode (an address of 3 bytes, a length over 128). */
static void old_peer_advert(int fd, unsigned n6)
{
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT, eoa_env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Advert advert = NSA_PEER__ADVERT__INIT;
	NsaPeer__EndOfAdverts eoa = NSA_PEER__END_OF_ADVERTS__INIT;
	NsaPeer__Prefix p = NSA_PEER__PREFIX__INIT;
	NsaPeer__Prefix *ps[1] = {&p};
	NsaPeer__Prefix6 bad[2], *bads[2] = {&bad[0], &bad[1]};
	uint8_t addr[16] = {0xfd, 0x6e, 0x73, 0x61, 0x67, 0x65, 0, 9};

	p.addr = NET(9).addr;
	p.len = 24;
	advert.subnets = ps;
	advert.n_subnets = 1;
	for (unsigned i = 0; i < 2; i++) {
		nsa_peer__prefix6__init(&bad[i]);
		bad[i].addr.data = addr;
		bad[i].addr.len = i == 0 ? 3 : 16;
		bad[i].len = i == 0 ? 64 : 129;
	}
	advert.subnets6 = bads;
	advert.n_subnets6 = n6;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_ADVERT;
	env.advert = &advert;
	ph_send_msg(fd, &env);
	eoa_env.msg_case = NSA_PEER__ENVELOPE__MSG_END_OF_ADVERTS;
	eoa_env.end_of_adverts = &eoa;
	ph_send_msg(fd, &eoa_env);
}

/* A version 1 peer (the scripted remote: a version 1 hello, adverts with
 * no IPv6): the session comes up; our hello says version 2 with the IPv6
 * capability and our advert carries our /64 and link-local next hop
 * (fields an older decoder skips); its subnet is routed, nothing IPv6 is
 * and nothing is counted. IPv6 entries that do not decode are counted
 * malformed, and the session stays up. */
static void test_old_peer(void **st)
{
	(void)st;
	uint8_t id[NODE_ID_LEN] = {0x31};
	struct ph_config c;
	struct old_peer o = {0};
	struct script s;
	struct prefix6 want6, got6;
	struct in6_addr ll, got_ll;
	struct kern_route *routes;
	struct rde_stats stats;
	bool hello = false, advert = false;
	unsigned n;

	assert_int_equal(addr6_parse("fe80::1:ff:fe00:1", &ll), 0);
	assert_int_equal(addr6_parse_prefix("fd6e:7361:6765:1::/64", &want6), 0);
	ph_config_node(&c, id, 1, NULL, 0);
	c.rde.ipv6 = c.peer.ipv6 = true;
	assert_int_equal(addr6_parse_prefix("fd6e:7361:6765::/48", &c.rde.cluster6), 0);
	c.peer.link_local6 = ll;
	c.peer.link_local6_set = true;
	ph_start(&c, NULL, NULL, &o.mgr);
	script_hello(&s, o.mgr, 9);
	while (!hello || !advert) {
		NsaPeer__Envelope *env = ph_next_envelope(s.fd, s.in);

		assert_non_null(env);
		if (env->msg_case == NSA_PEER__ENVELOPE__MSG_HELLO) {
			hello = true;
			assert_int_equal(env->hello->version, PEER_PROTOCOL_VERSION);
			assert_int_equal(PEER_PROTOCOL_VERSION, 2);
			assert_true(env->hello->capabilities & PEER_CAP_IPV6);
		} else if (env->msg_case == NSA_PEER__ENVELOPE__MSG_ADVERT) {
			advert = true;
			assert_int_equal(env->advert->n_subnets6, 1);
			assert_int_equal(wire_get_prefix6(env->advert->subnets6[0], &got6), 0);
			assert_true(addr6_prefix_equal(&got6, &want6));
			assert_int_equal(wire_get_addr6(&env->advert->link_local6, &got_ll), 0);
			assert_memory_equal(&got_ll, &ll, sizeof(ll));
		}
		wire_free(env);
	}
	old_peer_advert(s.fd, 0);
	assert_true(ph_run_until(old_peer_routed, &o, DEADLINE_MS));
	n = rde_routes(ph_rde(o.mgr), &routes);
	assert_int_equal(n, 1);
	assert_false(routes[0].ipv6);
	free(routes);
	rde_get_stats(ph_rde(o.mgr), &stats);
	for (unsigned v = 0; v < RIB_VERDICT_COUNT; v++)
		assert_int_equal(stats.rejected6[v] + stats.rejected[v], 0);
	assert_int_equal(ph_established(o.mgr, NULL), 1);

	o.malformed6 = 2;
	old_peer_advert(s.fd, 2);
	assert_true(ph_run_until(old_peer_counted, &o, DEADLINE_MS));
	/* a close would follow the advert at once; well within the hold time */
	ph_run_for(50);
	assert_int_equal(ph_established(o.mgr, NULL), 1);
	assert_true(ph_has_route(o.mgr, NET(9), LOOP(9)));
	close(s.fd);
	evbuffer_free(s.in);
	ph_free(o.mgr);
	ph_run_for(20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_nodes),
	    cmocka_unit_test(test_vtep_in_advert),
	    cmocka_unit_test(test_simultaneous),
	    cmocka_unit_test(test_chain_of_three),
	    cmocka_unit_test(test_chain_closes),
	    cmocka_unit_test(test_graceful_restart_and_leave),
	    cmocka_unit_test(test_adopt),
	    cmocka_unit_test(test_auto_claim_conflict),
	    cmocka_unit_test(test_claim_alone),
	    cmocka_unit_test(test_explicit_conflict),
	    cmocka_unit_test(test_collision_remote_higher),
	    cmocka_unit_test(test_collision_local_higher),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_persisted_peers),
	    cmocka_unit_test(test_exchange_incremental),
	    cmocka_unit_test(test_exchange_skips_known),
	    cmocka_unit_test(test_ipv6_peer),
	    cmocka_unit_test(test_old_peer),
	    cmocka_unit_test(test_exchange_leaves_out_known),
	    cmocka_unit_test(test_exchange_relayed_once),
	    cmocka_unit_test(test_exchange_summary),
	    cmocka_unit_test(test_exchange_linear),
	    cmocka_unit_test(test_delegate_dies),
	    cmocka_unit_test(test_learned_higher_dials),
	    cmocka_unit_test(test_learned_lower_dials_late),
	    cmocka_unit_test(test_learned_dials_at_once),
	    cmocka_unit_test(test_rde_batches_adverts),
	    cmocka_unit_test(test_keepalives_together),
	    cmocka_unit_test(test_keepalives_on_grid),
	    cmocka_unit_test(test_hold_expires),
	    cmocka_unit_test(test_opening_burst_one_write),
	    cmocka_unit_test(test_opening_burst_one_record),
	};
	int ret;

	if (ph_init())
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	ph_fini();
	return ret;
}
