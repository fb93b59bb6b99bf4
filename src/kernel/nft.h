/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Internal to the kernel layer: the agent's nftables table (family inet,
 * name KERN_NFT_TABLE), built in one batch and replaced atomically. */
#ifndef NSAGENT_KERNEL_NFT_H
#define NSAGENT_KERNEL_NFT_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "nsagent/addr.h"
#include "nsagent/addr6.h"
#include "nsagent/kern.h"

struct event_base;
struct kern_nft;

struct nft_table_spec {
	struct prefix subnet;  /* local namespaces' subnet */
	struct prefix cluster; /* cluster range: never masqueraded, not tracked */
	/* Dual-stack, when subnet6_set: the same for IPv6 (NAT66 only with
	 * masquerade6); without it the table has no IPv6 rule at all. */
	struct prefix6 subnet6;
	bool subnet6_set;
	struct prefix6 cluster6;
	bool masquerade6;
	/* IPv4 destinations outside the cluster not masqueraded: one accept
	 * rule each before the masquerade. */
	struct prefix masquerade_except[KERN_MAX_MASQUERADE_EXCEPT];
	unsigned n_masquerade_except;
	char bridge[IFNAMSIZ];
	uint32_t vtep;		  /* this node's VXLAN address (host order), 0: none */
	struct in6_addr vtep6;	  /* ... over an IPv6 underlay; zero: none */
	uint16_t vxlan_port;	  /* VXLAN UDP port, with vtep or vtep6 */
	uint32_t wg_addr;	  /* this node's WireGuard endpoint address, 0: no WireGuard */
	struct in6_addr wg_addr6; /* ... over an IPv6 underlay; zero: none */
	uint16_t wg_port;	  /* its UDP port, with wg_addr or wg_addr6 */
};

/* Opens an nfnetlink socket and subscribes to nftables events in the current
 * network namespace; on_change runs (from the event loop) when a table,
 * chain or rule changes, so the owner can re-apply. */
int nft_open(struct event_base *base, void (*on_change)(void *arg), void *arg,
	     struct kern_nft **out, struct kern_error *err);
void nft_close(struct kern_nft *nft);

/* Makes the table exactly what spec asks for. When the kernel's table
 * already matches, nothing is sent and *changed is false. Otherwise the
 * whole table is replaced in one batch (add table; delete table; add table,
 * chains, rules) so that no packet ever sees a half-built table. */
int nft_apply(struct kern_nft *nft, const struct nft_table_spec *spec, bool *changed,
	      struct kern_error *err);

/* Deletes the table if present (for `nsagent down`). The kernel frees a
 * deleted table after an RCU grace period, and closing the socket that
 * deleted it waits for that. With held non-NULL the socket is handed over
 * instead of closed: nft_close() it once other work has covered the wait. */
int nft_remove(struct kern_nft **held, struct kern_error *err);

#endif
