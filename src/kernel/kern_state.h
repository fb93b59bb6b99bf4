/* SPDX-License-Identifier: GPL-2.0-or-later */
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

#include <event2/util.h>

#include "kern_priv.h"

struct kern_nft;

/* A named namespace, or an attachment (is_cni): then name is a label for
 * messages ("cni:ID/IFNAME", the id cut short), and the namespace is
 * opened at cni.netns, never created or removed. */
struct kern_ns {
	struct kern *kern;
	char name[CFG_NS_NAME_MAX + 1];
	bool is_cni;
	struct attachment cni;
	char ifname[IFNAMSIZ]; /* the interface inside: KERN_NS_IFNAME or cni.ifname */
	char host_ifname[IFNAMSIZ];
	char alias[KERN_ALIAS_MAX];
	uint32_t addr;
	struct in6_addr addr6; /* all zero: none */
	int eth0_ifindex;      /* of ifname, inside the namespace; 0 = not known yet */
	int nsid;	       /* its id in the agent's namespace; -1 = not known yet */
	bool dirty;
	/* Attachments: the runtime's namespace is gone (or is another one):
	 * nothing to build until the runtime's DEL removes the entry. */
	bool gone;
	uint8_t mac[KERN_MAC_LEN]; /* ifname's, as last seen */
	unsigned mtu;		   /* ifname's, as last seen */
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
	struct prefix6 subnet6; /* with subnet6_set: dual-stack */
	bool subnet6_set;
	struct prefix6 cluster6;
	bool masquerade6;
	struct prefix masquerade_except[KERN_MAX_MASQUERADE_EXCEPT];
	unsigned n_masquerade_except;
	struct in6_addr bridge_addr6; /* subnet6's ::1, with subnet6_set */
	unsigned mtu;
	uint32_t vtep;	       /* the device's local address over IPv4 */
	struct in6_addr vtep6; /* ... over IPv6; neither: no VXLAN device wanted */
	uint8_t vtep_mac[KERN_MAC_LEN];
	unsigned vxlan_mtu;
	int vxlan_ifindex;
	bool wg;	/* the WireGuard device is wanted */
	bool wg_kernel; /* ... and made here (kernel WireGuard) */
	uint16_t wg_port;
	uint32_t wg_addr;
	struct in6_addr wg_addr6;
	unsigned wg_mtu;
	int wg_ifindex;
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

/* Drift detection (watch.c). */
/* The one event socket: links, addresses, routes, and neighbour and FDB
 * entries, of the agent's namespace and of every namespace with an id in
 * it. */
int kwatch_socket_open(int *out, struct kern_error *err);
/* The event socket's read callback (arg: the struct kern). */
void kwatch_on_events(evutil_socket_t fd, short what, void *arg);
/* Reads everything queued on the event socket; skip is a namespace made in
 * this pass, whose messages (and its host end's) describe our own steps. */
void kwatch_read(struct kern *kern, const struct kern_ns *skip);
/* Records drift (what, for the log) and activates the deferred repair
 * pass unless it is already active. The caller marks the dirty scope. */
void kwatch_schedule(struct kern *kern, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Learns (giving one if needed) the namespace's id, which routes its
 * events to it. */
int kwatch_learn_nsid(struct kern *kern, struct kern_ns *ns, int nsfd, struct kern_error *err);

/* The local topology (topo.c). */
/* Root scope (ip_forward, bridge, VXLAN device, host ends, namespaces we
 * own but no longer want), then every namespace (all) or only the dirty
 * ones. Clears root_dirty and the dirty flag of each namespace it checks;
 * sets them again where a step failed. */
int ktopo_reconcile(struct kern *kern, bool all, struct kern_error *err);
/* Reads an attachment's namespace and checks its interface, address and
 * default route (kern_attachment_check). */
int ktopo_check_attachment(struct kern *kern, struct kern_ns *ns, struct kern_error *err);
/* Removes the host end host (NULL: none) of namespace name, and the
 * namespace itself when it is ours (known_ours, or its eth0 carries our
 * alias). */
int ktopo_remove_namespace(struct kern *kern, const char *name, const struct klink *host,
			   bool known_ours, struct kern_error *err);

#endif
