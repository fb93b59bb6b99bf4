/* The kernel layer: the only code that includes libnl or libnftnl.
 *
 * Callers describe what they want (struct kern_topology, a route set) and
 * the layer reconciles the kernel to it: create what is missing, fix what
 * differs, remove what it owns and no longer wants, and never touch what it
 * does not own. Applying the same state twice makes no kernel change.
 * After the first apply it watches netlink and repairs drift of anything it
 * owns as soon as the event arrives.
 *
 * Ownership marks (what `nsagent down` removes and nothing else):
 *   - routes: protocol KERN_RTPROT ("nsagent" in rt_protos.d), main table;
 *   - links: the IFLA_IFALIAS starts with KERN_ALIAS_PREFIX;
 *   - named namespaces under /run/netns whose eth0 carries that alias;
 *   - the nftables table KERN_NFT_TABLE (family inet).
 *
 * Functions return 0 or a negative errno. Where the kernel refused
 * something, the message names the object and carries the kernel's words,
 * e.g. "cannot add route 172.16.1.0/24 via 192.168.1.6: Network is
 * unreachable".
 *
 * The unit tests link a fake implementation of this header instead. */
#ifndef NSAGENT_KERN_H
#define NSAGENT_KERN_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "nsagent/addr.h"
#include "nsagent/config.h"

#define KERN_RTPROT 78
#define KERN_ALIAS_PREFIX "nsagent:"
#define KERN_NFT_TABLE "nsagent"
#define KERN_NS_IFNAME "eth0"
#define KERN_NETNS_DIR "/run/netns"

struct event_base;
struct kern;

struct kern_error {
	char message[512];
};

struct kern_namespace {
	char name[CFG_NS_NAME_MAX + 1];
	uint32_t addr; /* address of eth0 inside; prefix length is the subnet's */
};

/* The host's local network. */
struct kern_topology {
	char bridge[IFNAMSIZ];
	struct prefix subnet;  /* bridge takes the first host address */
	struct prefix cluster; /* cluster range: NAT exempts it */
	unsigned mtu;	       /* 0 = leave the kernel's default */
	struct kern_namespace *namespaces;
	unsigned n_namespaces;
};

/* One cross-node route in the main table: dst via gateway. */
struct kern_route {
	struct prefix dst;
	uint32_t gateway;
};

struct kern_stats {
	uint64_t changes; /* netlink/nft requests that changed something */
	uint64_t repairs; /* changes made because of drift seen in events */
	uint64_t errors;
};

/* Opens netlink sockets in the current network namespace and registers its
 * event watchers on base. */
int kern_new(struct event_base *base, struct kern **out, struct kern_error *err);
void kern_free(struct kern *kern);

/* Reconcile the local topology (bridge, namespaces, veths, addresses, default
 * routes, ip_forward, nft table). Copies topo. */
int kern_set_topology(struct kern *kern, const struct kern_topology *topo, struct kern_error *err);

/* Reconcile the owned routes of the main table to exactly this set. Copies. */
int kern_set_routes(struct kern *kern, const struct kern_route *routes, unsigned n,
		    struct kern_error *err);

/* Owned routes already in the kernel (graceful restart adopts them as stale).
 * *routes is malloc'd; the caller frees it. */
int kern_get_routes(struct kern *kern, struct kern_route **routes, unsigned *n,
		    struct kern_error *err);

void kern_get_stats(const struct kern *kern, struct kern_stats *stats);

/* The source address the kernel would use to reach dst (the default node IP). */
int kern_route_source(uint32_t dst, uint32_t *src, struct kern_error *err);

/* This host's own IPv4 networks and addresses (each address as a /32 and
 * its connected prefix), on every interface but skip_ifname (the agent's
 * bridge, whose subnet follows the claim). Peers' adverts overlapping them
 * are refused. *prefixes is malloc'd; the caller frees it. */
int kern_local_prefixes(const char *skip_ifname, struct prefix **prefixes, unsigned *n,
			struct kern_error *err);

/* Remove everything the agent owns in the current network namespace (and
 * the named namespaces it made). Works without a running daemon. */
int kern_down(const char *bridge, struct kern_error *err);

#endif
