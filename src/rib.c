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
 * entry over a live node's subnet, and says per entry why one was refused;
 * the live nodes' subnets are looked up in a sorted index of the fresh
 * entries (the owners index), O(log n) per advertised entry.
 *
 * Rule: an advertised subnet has exactly the cluster's node-subnet length
 * (/24 with the defaults), never longer, never shorter. Every node owns
 * one subnet of that length, so nothing else can be legitimate: a shorter
 * prefix (172.16.128.0/17) would take the place of every node subnet it
 * covers, and the real owners joining later would be refused as
 * overlapping it; a longer one would carve a route out of another node's
 * subnet. The length is checked with the shape, before any overlap, so
 * such an entry never defends anything.
 *
 * IPv6 follows the same rules with its own range and length (/64), plus
 * the special ranges (link-local, multicast: never a node's network).
 * Both families share the entry table and every rule of graceful restart
 * (stale marks, end-of-adverts sweep, expiry); an advert's family set
 * only replaces entries of that family, and entries of different
 * families never overlap (struct rib_key). */
#include <stdio.h>
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
	struct prefix6 cluster6;
	bool cluster6_set;
	struct prefix6 *local6;
	unsigned n_local6;
	struct rib_entry *entries;
	unsigned n;
	unsigned cap;
	/* The owners index: (key, node) of every fresh entry of a known
	 * node, sorted by key_order then node id, so that an advert's entry
	 * is checked against the others by binary search (check_entry), not
	 * against every entry (a third of rde_advert's work at 32 hosts,
	 * O(N^2) per node over a convergence). Kept by owner_add/owner_del
	 * at every change of an entry's freshness or owner. */
	struct rib_owner *owners;
	unsigned n_owners, cap_owners;
	/* A fresh entry of another length than the node subnet's (none can
	 * be: only shape-checked keys become fresh) would overlap without
	 * being equal; should one appear, check_entry scans every entry. */
	bool owners_inexact;
	unsigned long check_steps;
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
	free(rib->owners);
	free(rib->local);
	free(rib->local6);
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

/* One advertised subnet of either family: what an entry is keyed by. */
struct rib_key {
	bool ipv6;
	struct prefix v4;
	struct prefix6 v6;
};

static struct rib_key entry_key(const struct rib_entry *e)
{
	return (struct rib_key){.ipv6 = e->ipv6, .v4 = e->subnet, .v6 = e->subnet6};
}

static bool key_equal(const struct rib_key *a, const struct rib_key *b)
{
	if (a->ipv6 != b->ipv6)
		return false;
	return a->ipv6 ? addr6_prefix_equal(&a->v6, &b->v6) : addr_prefix_equal(&a->v4, &b->v4);
}

static bool key_overlaps(const struct rib_key *a, const struct rib_key *b)
{
	if (a->ipv6 != b->ipv6)
		return false;
	return a->ipv6 ? addr6_prefix_overlaps(&a->v6, &b->v6)
		       : addr_prefix_overlaps(&a->v4, &b->v4);
}

static bool entry_is(const struct rib_entry *e, const struct rib_key *k)
{
	struct rib_key ek = entry_key(e);

	return key_equal(&ek, k);
}

static bool entry_overlaps(const struct rib_entry *e, const struct rib_key *k)
{
	struct rib_key ek = entry_key(e);

	return key_overlaps(&ek, k);
}

/* ---- the owners index ---- */

struct rib_owner {
	struct rib_key key;
	uint8_t node_id[NODE_ID_LEN];
};

static int key_order(const void *pa, const void *pb);

static int owner_order(const struct rib_key *key, const uint8_t *node_id, const struct rib_owner *o)
{
	int c = key_order(key, &o->key);

	return c ? c : node_id_cmp(node_id, o->node_id);
}

/* The first place whose owner is not before (key, node_id). */
static unsigned owner_lower_bound(struct rib *rib, const struct rib_key *key,
				  const uint8_t *node_id)
{
	unsigned lo = 0, hi = rib->n_owners;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		rib->check_steps++;
		if (owner_order(key, node_id, &rib->owners[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool key_is_node_subnet(const struct rib *rib, const struct rib_key *k)
{
	return k->ipv6 ? k->v6.len == ADDR6_NODE_SUBNET_LEN : k->v4.len == rib->subnet_len;
}

/* e has just become a fresh entry of its node (or was added fresh). */
static void owner_add(struct rib *rib, const struct rib_entry *e)
{
	struct rib_key key = entry_key(e);
	unsigned at;

	if (node_id_is_zero(e->node_id))
		return;
	if (!key_is_node_subnet(rib, &key))
		rib->owners_inexact = true;
	at = owner_lower_bound(rib, &key, e->node_id);
	if (at < rib->n_owners && owner_order(&key, e->node_id, &rib->owners[at]) == 0)
		return;
	if (rib->n_owners == rib->cap_owners) {
		rib->cap_owners = rib->cap_owners ? 2 * rib->cap_owners : 16;
		rib->owners = xreallocarray(rib->owners, rib->cap_owners, sizeof(*rib->owners));
	}
	memmove(&rib->owners[at + 1], &rib->owners[at],
		(rib->n_owners - at) * sizeof(*rib->owners));
	rib->owners[at].key = key;
	memcpy(rib->owners[at].node_id, e->node_id, NODE_ID_LEN);
	rib->n_owners++;
}

/* e stops being a fresh entry of its node (stale, or removed). A node
 * holds a key once, so its one record goes. */
static void owner_del(struct rib *rib, const struct rib_entry *e)
{
	struct rib_key key = entry_key(e);
	unsigned at;

	if (e->stale || node_id_is_zero(e->node_id))
		return;
	at = owner_lower_bound(rib, &key, e->node_id);
	if (at == rib->n_owners || owner_order(&key, e->node_id, &rib->owners[at]) != 0)
		return;
	memmove(&rib->owners[at], &rib->owners[at + 1],
		(rib->n_owners - at - 1) * sizeof(*rib->owners));
	rib->n_owners--;
}

/* Whether a fresh entry of a known node other than node_id overlaps k, a
 * key of the node-subnet length: two aligned prefixes of one length
 * overlap only when equal, so the records of k itself are all there is
 * to look at. */
static bool owned_by_other(struct rib *rib, const uint8_t *node_id, const struct rib_key *k)
{
	static const uint8_t lowest[NODE_ID_LEN];

	if (rib->owners_inexact) {
		for (unsigned i = 0; i < rib->n; i++) {
			const struct rib_entry *e = &rib->entries[i];

			rib->check_steps++;
			if (!e->stale && !same_node(e, node_id) && !node_id_is_zero(e->node_id) &&
			    entry_overlaps(e, k))
				return true;
		}
		return false;
	}
	for (unsigned at = owner_lower_bound(rib, k, lowest); at < rib->n_owners; at++) {
		rib->check_steps++;
		if (!key_equal(&rib->owners[at].key, k))
			break;
		if (node_id_cmp(rib->owners[at].node_id, node_id) != 0)
			return true;
	}
	return false;
}

unsigned long rib_check_steps(const struct rib *rib)
{
	return rib->check_steps;
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
	    [RIB_REJECT_SPECIAL] = "in a special-purpose range",
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
	    [RIB_REJECT_SPECIAL] = "special",
	};

	return (unsigned)verdict < RIB_VERDICT_COUNT ? keys[verdict] : "unknown";
}

/* A copy of n items of size bytes (NULL for none) into *to, freeing the
 * old one. */
static void copy_list(void **to, const void *from, unsigned n, size_t size)
{
	free(*to);
	*to = NULL;
	if (n) {
		*to = xcalloc(n, size);
		memcpy(*to, from, n * size);
	}
}

void rib_set_local(struct rib *rib, const struct prefix *prefixes, unsigned n)
{
	copy_list((void **)&rib->local, prefixes, n, sizeof(*rib->local));
	rib->n_local = n;
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

void rib_set_cluster6(struct rib *rib, const struct prefix6 *cluster6)
{
	rib->cluster6 = *cluster6;
	rib->cluster6_set = true;
}

void rib_set_local6(struct rib *rib, const struct prefix6 *prefixes, unsigned n)
{
	copy_list((void **)&rib->local6, prefixes, n, sizeof(*rib->local6));
	rib->n_local6 = n;
}

enum rib_verdict rib_check_shape6(const struct rib *rib, const struct prefix6 *p)
{
	if (!addr6_prefix_valid(p))
		return RIB_REJECT_MALFORMED;
	if (p->len == 0)
		return RIB_REJECT_DEFAULT;
	if (addr6_range_problem(p))
		return RIB_REJECT_SPECIAL;
	if (!rib->cluster6_set || !addr6_prefix_contains(&rib->cluster6, p))
		return RIB_REJECT_OUTSIDE_CLUSTER;
	if (p->len != ADDR6_NODE_SUBNET_LEN)
		return RIB_REJECT_LENGTH;
	return RIB_ACCEPTED;
}

static enum rib_verdict check_shape(const struct rib *rib, const struct rib_key *k)
{
	return k->ipv6 ? rib_check_shape6(rib, &k->v6) : rib_check_shape(rib, &k->v4);
}

static bool overlaps_local(const struct rib *rib, const struct rib_key *k)
{
	for (unsigned i = 0; !k->ipv6 && i < rib->n_local; i++)
		if (addr_prefix_overlaps(&rib->local[i], &k->v4))
			return true;
	for (unsigned i = 0; k->ipv6 && i < rib->n_local6; i++)
		if (addr6_prefix_overlaps(&rib->local6[i], &k->v6))
			return true;
	return false;
}

static enum rib_verdict check_entry(struct rib *rib, const uint8_t *node_id,
				    const struct rib_key *k)
{
	enum rib_verdict v = check_shape(rib, k);

	if (v != RIB_ACCEPTED)
		return v;
	if (overlaps_local(rib, k))
		return RIB_REJECT_LOCAL;
	/* A stale entry's owner is gone: a live node may take its place (and
	 * is preferred by rib_routes), so only fresh entries defend. */
	if (owned_by_other(rib, node_id, k))
		return RIB_REJECT_OWNED;
	return RIB_ACCEPTED;
}

static unsigned count_node(const struct rib *rib, const uint8_t *node_id, bool ipv6)
{
	unsigned c = 0;

	for (unsigned i = 0; i < rib->n; i++)
		c += same_node(&rib->entries[i], node_id) && rib->entries[i].ipv6 == ipv6;
	return c;
}

/* Whether an adopted entry (no owner yet) is the advertising node's: its
 * node IP is the entry's (IPv4 routes, and vxlan ones of both families),
 * or its link-local address is the entry's IPv6 gateway (direct IPv6), or
 * the entry's next hop over WireGuard is the one its node address names
 * (nodeaddr_wg_next_hop: an IPv6 node's cannot be read back into it). */
static bool adopted_by(const struct rib_entry *e, const struct nodeaddr *nexthop,
		       const struct in6_addr *link_local6)
{
	if (!node_id_is_zero(e->node_id))
		return false;
	if (!nodeaddr_is_zero(&e->nexthop) && nodeaddr_equal(&e->nexthop, nexthop))
		return true;
	if (e->mode == KERN_MODE_WIREGUARD && e->nexthop.family == AF_INET6 &&
	    nodeaddr_wg_next_hop_of(nexthop, &e->nexthop.v6))
		return true;
	return e->ipv6 && link_local6 && !addr6_is_zero(link_local6) &&
	       memcmp(&e->gateway6, link_local6, sizeof(*link_local6)) == 0;
}

/* The node's complete set of one family (keys[] all ipv6 or all not). */
static unsigned advert(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], struct nodeaddr nexthop,
		       const struct in6_addr *link_local6, bool ipv6, const struct rib_key *keys,
		       unsigned n, bool explicit_subnet, bool checked, enum rib_verdict *verdicts)
{
	enum rib_verdict *v = xcalloc(n ? n : 1, sizeof(*v));
	unsigned rejected = 0;

	/* Routes adopted from the kernel at startup belong to whoever now
	 * advertises with their gateway. */
	for (unsigned i = 0; i < rib->n; i++) {
		struct rib_entry *e = &rib->entries[i];

		if (adopted_by(e, &nexthop, link_local6))
			memcpy(e->node_id, node_id, NODE_ID_LEN);
	}
	for (unsigned k = 0; k < n; k++) {
		if (k >= RIB_MAX_SUBNETS_PER_NODE)
			v[k] = RIB_REJECT_TOO_MANY;
		else if (checked)
			v[k] = check_entry(rib, node_id, &keys[k]);
		else
			v[k] = check_shape(rib, &keys[k]);
	}
	for (unsigned i = 0; i < rib->n;) {
		struct rib_entry *e = &rib->entries[i];
		bool in_set = false;

		if (!same_node(e, node_id) || e->ipv6 != ipv6) {
			i++;
			continue;
		}
		for (unsigned k = 0; k < n; k++)
			in_set |= v[k] == RIB_ACCEPTED && entry_is(e, &keys[k]);
		if (in_set) {
			if (e->stale) {
				e->stale = false;
				owner_add(rib, e);
			}
			e->nexthop = nexthop;
			e->explicit_subnet = explicit_subnet;
			i++;
		} else if (!e->stale) {
			owner_del(rib, e);
			remove_at(rib, i);
		} else {
			i++;
		}
	}
	for (unsigned k = 0; k < n; k++) {
		struct rib_entry *e;
		bool present = false;

		if (v[k] != RIB_ACCEPTED) {
			rejected++;
			continue;
		}
		for (unsigned i = 0; i < rib->n; i++)
			present |= same_node(&rib->entries[i], node_id) &&
				   entry_is(&rib->entries[i], &keys[k]);
		if (present)
			continue;
		if (count_node(rib, node_id, ipv6) >= RIB_MAX_SUBNETS_PER_NODE ||
		    !(e = add_entry(rib))) {
			v[k] = RIB_REJECT_TOO_MANY;
			rejected++;
			continue;
		}
		memcpy(e->node_id, node_id, NODE_ID_LEN);
		e->ipv6 = ipv6;
		e->subnet = keys[k].v4;
		e->subnet6 = keys[k].v6;
		e->nexthop = nexthop;
		e->explicit_subnet = explicit_subnet;
		owner_add(rib, e);
	}
	if (verdicts && n)
		memcpy(verdicts, v, n * sizeof(*v));
	free(v);
	return rejected;
}

static unsigned advert4(struct rib *rib, const uint8_t node_id[NODE_ID_LEN],
			struct nodeaddr nexthop, const struct prefix *subnets, unsigned n,
			bool explicit_subnet, bool checked, enum rib_verdict *verdicts)
{
	struct rib_key *keys = xcalloc(n ? n : 1, sizeof(*keys));
	unsigned rejected;

	for (unsigned k = 0; k < n; k++)
		keys[k].v4 = subnets[k];
	rejected =
	    advert(rib, node_id, nexthop, NULL, false, keys, n, explicit_subnet, checked, verdicts);
	free(keys);
	return rejected;
}

unsigned rib_advert(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], struct nodeaddr nexthop,
		    const struct prefix *subnets, unsigned n, bool explicit_subnet)
{
	return advert4(rib, node_id, nexthop, subnets, n, explicit_subnet, false, NULL);
}

unsigned rib_advert_checked(struct rib *rib, const uint8_t node_id[NODE_ID_LEN],
			    struct nodeaddr nexthop, const struct prefix *subnets, unsigned n,
			    bool explicit_subnet, enum rib_verdict *verdicts)
{
	return advert4(rib, node_id, nexthop, subnets, n, explicit_subnet, true, verdicts);
}

unsigned rib_advert6_checked(struct rib *rib, const uint8_t node_id[NODE_ID_LEN],
			     struct nodeaddr nexthop, const struct in6_addr *link_local6,
			     const struct prefix6 *subnets6, unsigned n, enum rib_verdict *verdicts)
{
	struct rib_key *keys = xcalloc(n ? n : 1, sizeof(*keys));
	unsigned rejected;

	for (unsigned k = 0; k < n; k++) {
		keys[k].ipv6 = true;
		keys[k].v6 = subnets6[k];
	}
	rejected = advert(rib, node_id, nexthop, link_local6, true, keys, n, false, true, verdicts);
	free(keys);
	return rejected;
}

void rib_set_path(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], enum kern_mode mode,
		  const struct nodeaddr *vtep, const uint8_t vtep_mac[KERN_MAC_LEN])
{
	for (unsigned i = 0; i < rib->n; i++) {
		struct rib_entry *e = &rib->entries[i];

		if (!same_node(e, node_id) || e->ipv6)
			continue;
		e->mode = mode;
		e->vtep = mode == KERN_MODE_VXLAN ? *vtep : (struct nodeaddr){0};
		if (mode == KERN_MODE_VXLAN)
			memcpy(e->vtep_mac, vtep_mac, KERN_MAC_LEN);
		else
			memset(e->vtep_mac, 0, KERN_MAC_LEN);
	}
}

void rib_set_routed(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], bool routed)
{
	for (unsigned i = 0; i < rib->n; i++)
		if (same_node(&rib->entries[i], node_id) && !rib->entries[i].ipv6)
			rib->entries[i].unrouted = !routed;
}

void rib_set_path6(struct rib *rib, const uint8_t node_id[NODE_ID_LEN], bool routed,
		   enum kern_mode mode, const struct in6_addr *gateway6, const char *ifname,
		   const struct nodeaddr *vtep, const uint8_t vtep_mac[KERN_MAC_LEN])
{
	for (unsigned i = 0; i < rib->n; i++) {
		struct rib_entry *e = &rib->entries[i];
		bool vxlan = routed && mode == KERN_MODE_VXLAN;

		if (!same_node(e, node_id) || !e->ipv6)
			continue;
		e->unrouted = !routed;
		e->mode = routed ? mode : KERN_MODE_DIRECT;
		memset(&e->gateway6, 0, sizeof(e->gateway6));
		memset(e->ifname, 0, sizeof(e->ifname));
		if (routed)
			e->gateway6 = *gateway6;
		if (routed && !vxlan)
			snprintf(e->ifname, sizeof(e->ifname), "%s", ifname);
		e->vtep = vxlan ? *vtep : (struct nodeaddr){0};
		if (vxlan)
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
			owner_del(rib, e);
			e->stale = true;
			e->stale_since_ms = now_ms;
		}
	}
}

void rib_withdraw(struct rib *rib, const uint8_t node_id[NODE_ID_LEN])
{
	for (unsigned i = 0; i < rib->n;) {
		if (same_node(&rib->entries[i], node_id)) {
			owner_del(rib, &rib->entries[i]);
			remove_at(rib, i);
		} else {
			i++;
		}
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
			char buf[PREFIX6_STRLEN];

			log_info("route %s: stale for %u ms, removing",
				 e->ipv6 ? addr6_format_prefix(&e->subnet6, buf)
					 : addr_format_prefix(&e->subnet, buf),
				 restart_ms);
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
		const struct kern_route *r = &routes[k];
		struct rib_key key = {.ipv6 = r->ipv6, .v4 = r->dst, .v6 = r->dst6};
		struct rib_entry *e;
		bool present = false;

		for (unsigned i = 0; i < rib->n; i++)
			present |= entry_is(&rib->entries[i], &key) &&
				   nodeaddr_equal(&rib->entries[i].nexthop, &r->gateway) &&
				   (!r->ipv6 || memcmp(&rib->entries[i].gateway6, &r->gateway6,
						       sizeof(r->gateway6)) == 0);
		if (present || !(e = add_entry(rib)))
			continue;
		e->ipv6 = r->ipv6;
		e->subnet = r->dst;
		e->subnet6 = r->dst6;
		e->nexthop = r->gateway;
		e->gateway6 = r->gateway6;
		memcpy(e->ifname, r->ifname, sizeof(e->ifname));
		e->mode = r->mode;
		memset(&e->vtep, 0, sizeof(e->vtep));
		if (r->mode == KERN_MODE_VXLAN)
			e->vtep = r->vtep ? nodeaddr_v4(r->vtep) : nodeaddr_v6(&r->vtep6);
		memcpy(e->vtep_mac, r->vtep_mac, KERN_MAC_LEN);
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

static bool entry_is_local(const struct rib_entry *e, const struct prefix *local,
			   const struct prefix6 *local6)
{
	if (e->ipv6)
		return local6 && addr6_prefix_overlaps(&e->subnet6, local6);
	return local && addr_prefix_overlaps(&e->subnet, local);
}

/* A key's first address as two numbers that sort as the address does. */
static void key_start(const struct rib_key *k, uint64_t *hi, uint64_t *lo)
{
	*hi = 0;
	*lo = 0;
	if (!k->ipv6) {
		*hi = k->v4.addr;
		return;
	}
	for (unsigned b = 0; b < 8; b++) {
		*hi = *hi << 8 | k->v6.addr.s6_addr[b];
		*lo = *lo << 8 | k->v6.addr.s6_addr[8 + b];
	}
}

/* Family, first address, then length (the holder before what it holds). */
static int key_order(const void *pa, const void *pb)
{
	const struct rib_key *a = pa, *b = pb;
	uint64_t ahi, alo, bhi, blo;
	uint8_t alen = a->ipv6 ? a->v6.len : a->v4.len, blen = b->ipv6 ? b->v6.len : b->v4.len;

	if (a->ipv6 != b->ipv6)
		return a->ipv6 ? 1 : -1;
	key_start(a, &ahi, &alo);
	key_start(b, &bhi, &blo);
	if (ahi != bhi)
		return ahi < bhi ? -1 : 1;
	if (alo != blo)
		return alo < blo ? -1 : 1;
	return alen < blen ? -1 : alen > blen;
}

/* Whether any two entries overlap. In key_order, of two prefixes that
 * overlap (one holds the other) the holder comes first, and the entry
 * right after the holder starts inside it, so it overlaps the holder
 * too: comparing neighbours is enough, O(n log n). Node subnets do not
 * overlap in a healthy cluster, and the pairwise rule below (O(n^2),
 * 20 % of a node's instructions in a 32-host convergence, more at 64)
 * is then skipped. */
static bool any_overlap(const struct rib *rib)
{
	struct rib_key *keys;
	bool found = false;

	if (rib->n < 2)
		return false;
	keys = xcalloc(rib->n, sizeof(*keys));
	for (unsigned i = 0; i < rib->n; i++)
		keys[i] = entry_key(&rib->entries[i]);
	qsort(keys, rib->n, sizeof(*keys), key_order);
	for (unsigned i = 1; i < rib->n && !found; i++)
		found = key_overlaps(&keys[i - 1], &keys[i]);
	free(keys);
	return found;
}

unsigned rib_routes(const struct rib *rib, const struct prefix *local, const struct prefix6 *local6,
		    struct kern_route **out)
{
	struct kern_route *routes = NULL;
	bool overlaps = any_overlap(rib);
	unsigned n = 0;

	*out = NULL;
	for (unsigned i = 0; i < rib->n; i++) {
		const struct rib_entry *e = &rib->entries[i];
		struct rib_key key = entry_key(e);
		bool keep = !e->unrouted && !entry_is_local(e, local, local6);

		for (unsigned k = 0; keep && overlaps && k < rib->n; k++) {
			const struct rib_entry *o = &rib->entries[k];

			if (k == i || !entry_overlaps(o, &key))
				continue;
			if (entry_is_local(o, local, local6))
				continue;
			/* identical rank (same node id, both adopted): the first wins */
			if (better(o, e) || (!better(e, o) && k < i))
				keep = false;
		}
		if (!keep)
			continue;
		if (!routes)
			routes = xcalloc(rib->n, sizeof(*routes));
		routes[n].ipv6 = e->ipv6;
		routes[n].dst = e->subnet;
		routes[n].dst6 = e->subnet6;
		routes[n].gateway = e->nexthop;
		routes[n].gateway6 = e->gateway6;
		memcpy(routes[n].ifname, e->ifname, sizeof(routes[n].ifname));
		routes[n].mode = e->mode;
		nodeaddr_split(&e->vtep, &routes[n].vtep, &routes[n].vtep6);
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
