/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: subnet claim logic.
 *
 * Owns the rules that make auto-claimed subnets unique without a
 * coordinator: a deterministic pick (persisted lease first, else a walk
 * from a hash of the node id) avoiding every subnet known to be taken, and
 * a total order for conflicts (explicit beats claimed, then the lower node
 * id keeps). Both ends of a conflict evaluate the same rule on the same
 * facts, so exactly one of them moves. */
#include <errno.h>

#include "nsagent/claim.h"

/* FNV-1a: stable across builds and platforms, which rand() is not. */
static uint32_t hash_node_id(const uint8_t *id)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < NODE_ID_LEN; i++) {
		h ^= id[i];
		h *= 16777619u;
	}
	return h;
}

static bool is_taken(const struct prefix *candidate, const struct prefix *taken, unsigned n_taken)
{
	for (unsigned i = 0; i < n_taken; i++)
		if (addr_prefix_overlaps(candidate, &taken[i]))
			return true;
	return false;
}

int claim_pick(const struct prefix *cluster, uint8_t sub_len, const uint8_t node_id[NODE_ID_LEN],
	       const struct prefix *preferred, const struct prefix *taken, unsigned n_taken,
	       struct prefix *out)
{
	uint64_t count;
	uint32_t start;

	if (sub_len < cluster->len || sub_len > 32)
		return -EINVAL;
	if (preferred && preferred->len == sub_len && addr_prefix_contains(cluster, preferred) &&
	    !is_taken(preferred, taken, n_taken)) {
		*out = *preferred;
		return 0;
	}
	count = (uint64_t)1 << (sub_len - cluster->len);
	start = (uint32_t)(hash_node_id(node_id) % count);
	for (uint64_t step = 0; step < count; step++) {
		struct prefix candidate;
		uint32_t index = (uint32_t)((start + step) % count);

		if (addr_prefix_subnet(cluster, sub_len, index, &candidate) < 0)
			return -EINVAL;
		if (!is_taken(&candidate, taken, n_taken)) {
			*out = candidate;
			return 0;
		}
		/* Every taken prefix can block at most a bounded run of
		 * candidates, so this ends long before count for real input;
		 * the bound only matters when the range is truly full. */
	}
	return -ENOSPC;
}

enum claim_verdict claim_resolve(const uint8_t ours[NODE_ID_LEN], bool ours_explicit,
				 const uint8_t theirs[NODE_ID_LEN], bool theirs_explicit)
{
	if (ours_explicit && theirs_explicit)
		return CLAIM_BOTH_EXPLICIT;
	if (ours_explicit)
		return CLAIM_KEEP;
	if (theirs_explicit)
		return CLAIM_YIELD;
	return node_id_cmp(ours, theirs) < 0 ? CLAIM_KEEP : CLAIM_YIELD;
}

int claim_subnet6(const struct prefix *cluster, const struct prefix *subnet,
		  const struct prefix6 *cluster6, struct prefix6 *out)
{
	uint64_t index;

	if (subnet->len < cluster->len || subnet->len > 32 ||
	    !addr_prefix_contains(cluster, subnet))
		return -ERANGE;
	index =
	    subnet->len == 0 ? 0 : (uint64_t)(subnet->addr - cluster->addr) >> (32 - subnet->len);
	return addr6_prefix_subnet(cluster6, ADDR6_NODE_SUBNET_LEN, index, out);
}
