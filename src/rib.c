/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: remote subnets and graceful restart.
 *
 * Owns the set of (node, subnet, nexthop) entries. Invariants: an entry is
 * created only from the announcing node's own session (rib_advert) or from
 * the kernel at startup (rib_adopt, owner unknown until a node with that
 * gateway advertises); entries are never created from relayed peer lists;
 * at most RIB_MAX_SUBNETS_PER_NODE per node and RIB_MAX_ENTRIES in all; a
 * stale entry lives until its node re-advertises it, its node's
 * end-of-adverts sweeps it, or restart time passes. The kernel route set is
 * derived on demand and never contains two overlapping prefixes.
 * rib_advert_checked (what the rde uses) also keeps the RIB free of
 * entries overlapping this host's own networks and of a second node's
 * entry over a live node's subnet, and says per entry why one was refused.
 *
 * Rule: an advertised subnet has exactly the cluster's node-subnet length
 * (/24 with the defaults), never longer, never shorter. Every node owns
 * one subnet of that length, so nothing else can be legitimate: a shorter
 * prefix (172.16.128.0/17) would take the place of every node subnet it
 * covers, and the real owners joining later would be refused as
 * overlapping it; a longer one would carve a route out of another node's
 * subnet. The length is checked with the shape, before any overlap, so
 * such an entry never defends anything. */
#include <stdlib.h>
#include <string.h>

#include "nsagent/log.h"
#include "nsagent/rib.h"
#include "nsagent/xalloc.h"

struct rib {
	struct prefix cluster;
	uint8_t subnet_len;   /* the one length an advertised subnet may have */
	struct prefix *local; /* this host's networks: never routed via a peer */
	unsigned n_local;
	struct rib_entry *entries;
	unsigned n;
	unsigned cap;
};

struct rib *rib_new(const struct prefix *cluster, uint8_t subnet_len)
{
	struct rib *rib = xcalloc(1, sizeof(*rib));

	rib->cluster = *cluster;
	rib->subnet_len = subnet_len;
	return rib;
}

void rib_free(struct rib *rib)
{
	if (!rib)
		return;
	free(rib->entries);
	free(rib->local);
	free(rib);
}

static struct rib_entry *add_entry(struct rib *rib)
{
	if (rib->n == RIB_MAX_ENTRIES)
		return NULL;
	if (rib->n == rib->cap) {
		rib->cap = rib->cap ? rib->cap * 2 : 16;
		rib->entries = xreallocarray(rib->entries, rib->cap, sizeof(*rib->entries));
	}
	memset(&rib->entries[rib->n], 0, sizeof(rib->entries[0]));
	return &rib->entries[rib->n++];
}

static void remove_at(struct rib *rib, unsigned i)
{
	rib->entries[i] = rib->entries[--rib->n];
}

static bool same_node(const struct rib_entry *e, const uint8_t *node_id)
{
	return node_id_cmp(e->node_id, node_id) == 0;
}

const char *rib_verdict_name(enum rib_verdict verdict)
{
	static const char *const names[RIB_VERDICT_COUNT] = {
	    [RIB_ACCEPTED] = "accepted",
	    [RIB_REJECT_MALFORMED] = "malformed",
	    [RIB_REJECT_DEFAULT] = "default route",
	    [RIB_REJECT_OUTSIDE_CLUSTER] = "outside the cluster range",
	    [RIB_REJECT_LENGTH] = "not the cluster's node-subnet length",
	    [RIB_REJECT_LOCAL] = "overlaps this host's own networks",
	    [RIB_REJECT_OWNED] = "overlaps a subnet another live node owns",
	    [RIB_REJECT_TOO_MANY] = "too many subnets",
	};

	return (unsigned)verdict < RIB_VERDICT_COUNT ? names[verdict] : "?";
}

const char *rib_verdict_key(enum rib_verdict verdict)
{
	static const char *const keys[RIB_VERDICT_COUNT] = {
	    [RIB_ACCEPTED] = "accepted",
	    [RIB_REJECT_MALFORMED] = "malformed",
	    [RIB_REJECT_DEFAULT] = "default_route",
	    [RIB_REJECT_OUTSIDE_CLUSTER] = "outside_cluster",
	    [RIB_REJECT_LENGTH] = "length",
	    [RIB_REJECT_LOCAL] = "local",
	    [RIB_REJECT_OWNED] = "owned",
	    [RIB_REJECT_TOO_MANY] = "too_many",
	};

	return (unsigned)verdict < RIB_VERDICT_COUNT ? keys[verdict] : "unknown";
}

void rib_set_local(struct rib *rib, const struct prefix *prefixes, unsigned n)
{
	free(rib->local);
	rib->local = NULL;
	rib->n_local = n;
	if (n) {
		rib->local = xcalloc(n, sizeof(*rib->local));
		memcpy(rib->local, prefixes, n * sizeof(*rib->local));
	}
}

/* The checks that need no other entry: shape, range and length. */
enum rib_verdict rib_check_shape(const struct rib *rib, const struct prefix *p)
{
	if (p->len > 32 || (p->addr & ~addr_mask(p->len)) != 0)
		return RIB_REJECT_MALFORMED;
	if (p->len == 0)
		return RIB_REJECT_DEFAULT;
	if (!addr_prefix_contains(&rib->cluster, p))
		return RIB_REJECT_OUTSIDE_CLUSTER;
	if (p->len != rib->subnet_len)
		return RIB_REJECT_LENGTH;
	return RIB_ACCEPTED;
}

static enum rib_verdict check_entry(const struct rib *rib, const uint8_t *node_id,
				    const struct prefix *p)
{
	enum rib_verdict v = rib_check_shape(rib, p);

	if (v != RIB_ACCEPTED)
		return v;
	for (unsigned i = 0; i < rib->n_local; i++)
		if (addr_prefix_overlaps(&rib->local[i], p))
			return RIB_REJECT_LOCAL;
	/* A stale entry's owner is gone: a live node may take its place (and
	 * is preferred by rib_routes), so only fresh entries defend. */
	for (unsigned i = 0; i < rib->n; i++) {
		const struct rib_entry *e = &rib->entries[i];

		if (!e->stale && !same_node(e, node_id) && !node_id_is_zero(e->node_id) &&
		    addr_prefix_overlaps(&e->subnet, p))
			return RIB_REJECT_OWNED;
	}
	return RIB_ACCEPTED;
}

static unsigned count_node(const struct rib *rib, const uint8_t *node_id)
{
	unsigned c = 0;

	for (unsigned i = 0; i < rib->n; i++)
		c += same_node(&rib->entries[i], node_id);
	return c;
}

static unsigned advert(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], uint32_t nexthop,
		       const struct prefix *subnets, unsigned n, bool explicit_subnet, bool checked,
		       enum rib_verdict *verdicts)
{
	enum rib_verdict *v = xcalloc(n ? n : 1, sizeof(*v));
	unsigned rejected = 0;

	/* Routes adopted from the kernel at startup belong to whoever now
	 * advertises with their gateway. */
	for (unsigned i = 0; i < rib->n; i++) {
		struct rib_entry *e = &rib->entries[i];

		if (node_id_is_zero(e->node_id) && e->nexthop == nexthop)
			memcpy(e->node_id, node_id, NODE_ID_LEN);
	}
	for (unsigned k = 0; k < n; k++) {
		if (k >= RIB_MAX_SUBNETS_PER_NODE)
			v[k] = RIB_REJECT_TOO_MANY;
		else if (checked)
			v[k] = check_entry(rib, node_id, &subnets[k]);
		else
			v[k] = rib_check_shape(rib, &subnets[k]);
	}
	for (unsigned i = 0; i < rib->n;) {
		struct rib_entry *e = &rib->entries[i];
		bool in_set = false;

		if (!same_node(e, node_id)) {
			i++;
			continue;
		}
		for (unsigned k = 0; k < n; k++)
			in_set |=
			    v[k] == RIB_ACCEPTED && addr_prefix_equal(&e->subnet, &subnets[k]);
		if (in_set) {
			e->stale = false;
			e->nexthop = nexthop;
			e->explicit_subnet = explicit_subnet;
			i++;
		} else if (!e->stale) {
			remove_at(rib, i);
		} else {
			i++;
		}
	}
	for (unsigned k = 0; k < n; k++) {
		const struct prefix *p = &subnets[k];
		struct rib_entry *e;
		bool present = false;

		if (v[k] != RIB_ACCEPTED) {
			rejected++;
			continue;
		}
		for (unsigned i = 0; i < rib->n; i++)
			present |= same_node(&rib->entries[i], node_id) &&
				   addr_prefix_equal(&rib->entries[i].subnet, p);
		if (present)
			continue;
		if (count_node(rib, node_id) >= RIB_MAX_SUBNETS_PER_NODE || !(e = add_entry(rib))) {
			v[k] = RIB_REJECT_TOO_MANY;
			rejected++;
			continue;
		}
		memcpy(e->node_id, node_id, NODE_ID_LEN);
		e->subnet = *p;
		e->nexthop = nexthop;
		e->explicit_subnet = explicit_subnet;
	}
	if (verdicts && n)
		memcpy(verdicts, v, n * sizeof(*v));
	free(v);
	return rejected;
}

unsigned rib_advert(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], uint32_t nexthop,
		    const struct prefix *subnets, unsigned n, bool explicit_subnet)
{
	return advert(rib, node_id, nexthop, subnets, n, explicit_subnet, false, NULL);
}

unsigned rib_advert_checked(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], uint32_t nexthop,
			    const struct prefix *subnets, unsigned n, bool explicit_subnet,
			    enum rib_verdict *verdicts)
{
	return advert(rib, node_id, nexthop, subnets, n, explicit_subnet, true, verdicts);
}

void rib_set_path(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], enum kern_mode mode,
		  uint32_t vtep, const uint8_t vtep_mac[KERN_MAC_LEN])
{
	for (unsigned i = 0; i < rib->n; i++) {
		struct rib_entry *e = &rib->entries[i];

		if (!same_node(e, node_id))
			continue;
		e->mode = mode;
		e->vtep = mode == KERN_MODE_VXLAN ? vtep : 0;
		if (mode == KERN_MODE_VXLAN)
			memcpy(e->vtep_mac, vtep_mac, KERN_MAC_LEN);
		else
			memset(e->vtep_mac, 0, KERN_MAC_LEN);
	}
}

void rib_end_of_adverts(struct rib *rib, const uint8_t node_id[NODE_ID_LEN])
{
	for (unsigned i = 0; i < rib->n;) {
		if (same_node(&rib->entries[i], node_id) && rib->entries[i].stale)
			remove_at(rib, i);
		else
			i++;
	}
}

void rib_session_down(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], uint64_t now_ms)
{
	for (unsigned i = 0; i < rib->n; i++) {
		struct rib_entry *e = &rib->entries[i];

		/* An entry already stale keeps its original deadline: a flapping
		 * session must not extend it forever. */
		if (same_node(e, node_id) && !e->stale) {
			e->stale = true;
			e->stale_since_ms = now_ms;
		}
	}
}

void rib_withdraw(struct rib *rib, const uint8_t node_id[NODE_ID_LEN])
{
	for (unsigned i = 0; i < rib->n;) {
		if (same_node(&rib->entries[i], node_id))
			remove_at(rib, i);
		else
			i++;
	}
}

void rib_expire(struct rib *rib, uint64_t now_ms, uint32_t restart_ms, uint64_t *next_ms)
{
	uint64_t next = 0;

	for (unsigned i = 0; i < rib->n;) {
		struct rib_entry *e = &rib->entries[i];
		uint64_t deadline = e->stale_since_ms + restart_ms;

		if (!e->stale) {
			i++;
			continue;
		}
		if (deadline <= now_ms) {
			char buf[PREFIX_STRLEN];

			log_info("route %s: stale for %u ms, removing",
				 addr_format_prefix(&e->subnet, buf), restart_ms);
			remove_at(rib, i);
			continue;
		}
		if (!next || deadline < next)
			next = deadline;
		i++;
	}
	if (next_ms)
		*next_ms = next;
}

void rib_adopt(struct rib *rib, const struct kern_route *routes, unsigned n, uint64_t now_ms)
{
	for (unsigned k = 0; k < n; k++) {
		struct rib_entry *e;
		bool present = false;

		for (unsigned i = 0; i < rib->n; i++)
			present |= addr_prefix_equal(&rib->entries[i].subnet, &routes[k].dst) &&
				   rib->entries[i].nexthop == routes[k].gateway;
		if (present || !(e = add_entry(rib)))
			continue;
		e->subnet = routes[k].dst;
		e->nexthop = routes[k].gateway;
		e->mode = routes[k].mode;
		e->vtep = routes[k].vtep;
		memcpy(e->vtep_mac, routes[k].vtep_mac, KERN_MAC_LEN);
		e->stale = true;
		e->stale_since_ms = now_ms;
	}
}

/* true when a should be installed rather than b */
static bool better(const struct rib_entry *a, const struct rib_entry *b)
{
	if (a->stale != b->stale)
		return !a->stale;
	if (a->explicit_subnet != b->explicit_subnet)
		return a->explicit_subnet;
	return node_id_cmp(a->node_id, b->node_id) < 0;
}

unsigned rib_routes(const struct rib *rib, const struct prefix *local, struct kern_route **out)
{
	struct kern_route *routes = NULL;
	unsigned n = 0;

	*out = NULL;
	for (unsigned i = 0; i < rib->n; i++) {
		const struct rib_entry *e = &rib->entries[i];
		bool keep = !(local && addr_prefix_overlaps(&e->subnet, local));

		for (unsigned k = 0; keep && k < rib->n; k++) {
			const struct rib_entry *o = &rib->entries[k];

			if (k == i || !addr_prefix_overlaps(&e->subnet, &o->subnet))
				continue;
			if (local && addr_prefix_overlaps(&o->subnet, local))
				continue;
			/* identical rank (same node id, both adopted): the first wins */
			if (better(o, e) || (!better(e, o) && k < i))
				keep = false;
		}
		if (!keep)
			continue;
		if (!routes)
			routes = xcalloc(rib->n, sizeof(*routes));
		routes[n].dst = e->subnet;
		routes[n].gateway = e->nexthop;
		routes[n].mode = e->mode;
		routes[n].vtep = e->vtep;
		memcpy(routes[n].vtep_mac, e->vtep_mac, KERN_MAC_LEN);
		n++;
	}
	*out = routes;
	return n;
}

const struct rib_entry *rib_entries(const struct rib *rib, unsigned *n)
{
	*n = rib->n;
	return rib->entries;
}
