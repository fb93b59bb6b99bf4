/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Subnet claiming: which per-node subnet of the cluster range a node takes
 * when none is configured, and who keeps a subnet two nodes both hold.
 * Pure functions, no I/O. */
#ifndef NSAGENT_CLAIM_H
#define NSAGENT_CLAIM_H

#include <stdbool.h>
#include <stdint.h>

#include "nsagent/addr.h"
#include "nsagent/addr6.h"
#include "nsagent/nodeid.h"

/* Picks a subnet of length sub_len inside cluster that overlaps none of
 * taken[]. A preferred subnet (the persisted lease) is kept when it is
 * still valid and free; otherwise the walk starts at an index derived from
 * the node id and steps forward, wrapping, so the result is deterministic
 * and different nodes tend to start far apart.
 * Returns 0, -EINVAL (sub_len shorter than the cluster, or over 32), or
 * -ENOSPC when every subnet is taken. */
int claim_pick(const struct prefix *cluster, uint8_t sub_len, const uint8_t node_id[NODE_ID_LEN],
	       const struct prefix *preferred, const struct prefix *taken, unsigned n_taken,
	       struct prefix *out);

/* A node's IPv6 /64 follows its IPv4 subnet, so that one claim serves both
 * families: the /64 of cluster6 whose index is the IPv4 subnet's index
 * inside cluster (172.16.5.0/24 of 172.16.0.0/16 -> fd6e:7361:6765:5::/64
 * of fd6e:7361:6765::/48). Returns 0, or -ERANGE when the index does not
 * fit cluster6 (a wider IPv4 range than cluster6 has /64s for) or subnet
 * is not inside cluster. */
int claim_subnet6(const struct prefix *cluster, const struct prefix *subnet,
		  const struct prefix6 *cluster6, struct prefix6 *out);

enum claim_verdict {
	CLAIM_KEEP,	     /* we keep the subnet; the other node must move */
	CLAIM_YIELD,	     /* we must claim another subnet */
	CLAIM_BOTH_EXPLICIT, /* both configured by hand: nobody moves, say so loudly */
};

/* Two nodes hold overlapping subnets. An explicit (--subnet) subnet beats a
 * claimed one; between two claimed ones the lower node id keeps it. */
enum claim_verdict claim_resolve(const uint8_t ours[NODE_ID_LEN], bool ours_explicit,
				 const uint8_t theirs[NODE_ID_LEN], bool theirs_explicit);

#endif
