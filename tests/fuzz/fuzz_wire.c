/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the peer protocol decoder and the advert validator.
 * The input is a byte stream as a peer would send it; every frame wire_read
 * takes off it is decoded, and adverts go through rib_advert_checked (and
 * their IPv6 entries, decoded by wire_get_prefix6, rib_advert6_checked)
 * against a RIB that already holds another node's subnet and /64 and has
 * local prefixes, so every verdict path is reachable. Nothing may crash, leak
 * or trip a sanitizer, and the RIB invariants must hold afterwards. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "nsagent/log.h"
#include "nsagent/rib.h"
#include "nsagent/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t other_id[NODE_ID_LEN] = {0x0b};
static const uint8_t peer_id[NODE_ID_LEN] = {0x0c};
/* The IPv6 side: the cluster's range, a local network, the other's /64. */
static const struct prefix6 cluster6 = {{{{0xfd, 0x6e, 0x73, 0x61, 0x67, 0x65}}}, 48};
static const struct prefix6 local6 = {{{{0xfd, 0x6e, 0x73, 0x61, 0x67, 0x65, 0, 0xc8}}}, 64};
static const struct prefix6 other6 = {{{{0xfd, 0x6e, 0x73, 0x61, 0x67, 0x65, 0, 1}}}, 64};

static void check_advert6(struct rib *rib, const NsaPeer__Advert *advert)
{
	struct prefix6 subnets[64];
	enum rib_verdict verdicts[64];
	struct in6_addr ll;
	unsigned n = 0;

	for (size_t i = 0; i < advert->n_subnets6 && n < 64; i++)
		if (wire_get_prefix6(advert->subnets6[i], &subnets[n]) == 0)
			n++;
	rib_advert6_checked(rib, peer_id, nodeaddr_v4(0xc0a80107),
			    wire_get_addr6(&advert->link_local6, &ll) == 0 ? &ll : NULL, subnets, n,
			    verdicts);
}

/* What the validator let in of IPv6 is a /64 inside the range, not local,
 * and not over the other node's live /64. */
static void check_entry6(const struct rib_entry *e)
{
	if (!addr6_prefix_contains(&cluster6, &e->subnet6) || e->subnet6.len != 64 ||
	    addr6_prefix_overlaps(&local6, &e->subnet6))
		abort();
	if (memcmp(e->node_id, peer_id, NODE_ID_LEN) == 0 &&
	    addr6_prefix_overlaps(&e->subnet6, &other6))
		abort();
}

static void check_advert(struct rib *rib, const NsaPeer__Advert *advert)
{
	struct prefix subnets[64];
	enum rib_verdict verdicts[64];
	unsigned n = 0;
	const struct rib_entry *entries;
	unsigned n_entries;

	for (size_t i = 0; i < advert->n_subnets && n < 64; i++) {
		if (advert->subnets[i]->len > 32)
			continue;
		subnets[n].addr = advert->subnets[i]->addr;
		subnets[n].len = (uint8_t)advert->subnets[i]->len;
		n++;
	}
	rib_advert_checked(rib, peer_id, nodeaddr_v4(0xc0a80107), subnets, n,
			   advert->explicit_subnet, verdicts);
	check_advert6(rib, advert);
	entries = rib_entries(rib, &n_entries);
	for (unsigned i = 0; i < n_entries; i++) {
		const struct prefix cluster = {0xac100000, 16}, local = {0xac10c800, 24};

		if (entries[i].ipv6) {
			check_entry6(&entries[i]);
			continue;
		}
		/* what the validator let in is a node subnet (/24) inside the
		 * cluster, not local, and does not overlap the other node's live
		 * subnet */
		if (!addr_prefix_contains(&cluster, &entries[i].subnet) ||
		    entries[i].subnet.len != 24 || addr_prefix_overlaps(&local, &entries[i].subnet))
			abort();
		if (memcmp(entries[i].node_id, peer_id, NODE_ID_LEN) == 0 &&
		    addr_prefix_overlaps(&entries[i].subnet, &(struct prefix){0xac100100, 24}))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	const struct prefix cluster = {0xac100000, 16}, local = {0xac10c800, 24};
	struct evbuffer *in = evbuffer_new();
	struct rib *rib = rib_new(&cluster, 24);
	NsaPeer__Envelope *env;

	if (!quiet) {
		log_set_level(LOG_LEVEL_ERROR);
		quiet = true;
	}
	rib_set_local(rib, &local, 1);
	rib_set_cluster6(rib, &cluster6);
	rib_set_local6(rib, &local6, 1);
	rib_advert(rib, other_id, nodeaddr_v4(0xc0a80106), &(struct prefix){0xac100100, 24}, 1,
		   false);
	rib_advert6_checked(rib, other_id, nodeaddr_v4(0xc0a80106), NULL, &other6, 1, NULL);
	evbuffer_add(in, data, size);
	while (wire_read(in, &env) == 1) {
		if (env->msg_case == NSA_PEER__ENVELOPE__MSG_ADVERT)
			check_advert(rib, env->advert);
		wire_free(env);
	}
	rib_free(rib);
	evbuffer_free(in);
	return 0;
}
