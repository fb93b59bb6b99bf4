/* DOC: the state of a running struct kern, shared by the three files that
 * run it and by nothing else: kern.c (the public API, the desired state,
 * the deferred and retry passes), watch.c (drift seen in netlink events)
 * and topo.c (building the bridge, veths and namespaces). The helpers
 * below them (nl.c, netns.c, routes.c, vxlan.c, nft.c) take what they need
 * as arguments and never see it.
 *
 * Invariants: the desired state (have_topo and what follows it, have_routes
 * and routes[]) changes only through the public API; the dirty flags say
 * which scope a pass must check, and are set by watch.c (drift), by a
 * failed step and by the retry timer, and cleared by the pass that checks
 * that scope; scheduled is true exactly while the deferred event is
 * active, so a burst of events costs one pass. */
#ifndef NSAGENT_KERNEL_STATE_H
#define NSAGENT_KERNEL_STATE_H

#include "kern_priv.h"

struct kern_nft;

struct kern_ns {
	struct kern *kern;
	char name[CFG_NS_NAME_MAX + 1];
	char host_ifname[IFNAMSIZ];
	char alias[KERN_ALIAS_MAX];
	uint32_t addr;
	int eth0_ifindex; /* inside the namespace; 0 = not known yet */
	int nsid;	  /* its id in the agent's namespace; -1 = not known yet */
	bool dirty;
};

struct kern {
	struct event_base *base;
	int self_fd;   /* the network namespace the agent runs in */
	int self_nsid; /* the id it has for itself, normally none (-1) */
	struct knl nl;
	int ev_fd;
	struct event *ev;
	struct event *deferred;
	struct event *retry;
	unsigned retry_s;
	bool scheduled;

	bool have_topo;
	char bridge[IFNAMSIZ];
	struct prefix subnet;
	struct prefix cluster;
	unsigned mtu;
	uint32_t vtep; /* 0: no VXLAN device wanted */
	uint8_t vtep_mac[KERN_MAC_LEN];
	unsigned vxlan_mtu;
	int vxlan_ifindex;
	uint32_t bridge_addr;
	int bridge_ifindex;
	struct kern_ns **ns;
	unsigned n_ns;
	bool root_dirty;

	bool have_routes;
	struct kern_route *routes;
	unsigned n_routes;
	bool routes_dirty;

	struct kern_nft *nft;
	bool nft_dirty;

	struct kern_stats stats;
	bool repairing;
	char drift[256]; /* first drift seen since the last pass, for the log */
	unsigned drift_events;
};

#endif
