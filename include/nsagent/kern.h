/* SPDX-License-Identifier: GPL-2.0-or-later */
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
 *   - links: the IFLA_IFALIAS starts with KERN_ALIAS_PREFIX (the bridge,
 *     veths and the VXLAN device KERN_VXLAN_IFNAME); those in the root
 *     namespace are also in device group KERN_LINK_GROUP, so that
 *     `nsagent down` can delete them all with one request;
 *   - neighbour and FDB entries on the VXLAN device (all of them);
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
#include "nsagent/addr6.h"
#include "nsagent/attach.h"
#include "nsagent/config.h"

#define KERN_RTPROT 78
/* The device group of the links nsagent makes in the root namespace
 * ("nsagent" in iproute2's group file; `ip link show group nsagent`). */
#define KERN_LINK_GROUP 7470u
#define KERN_ALIAS_PREFIX "nsagent:"
#define KERN_NFT_TABLE "nsagent"
/* Rules exempting destinations from the masquerade (config's bound). */
#define KERN_MAX_MASQUERADE_EXCEPT 16
#define KERN_NS_IFNAME "eth0"
#define KERN_NETNS_DIR "/run/netns"
/* The VXLAN device for peers that are not on-link. Its VNI and UDP port are
 * fixed: every node of a cluster must use the same ones. Port 4789 is
 * IANA's VXLAN port (RFC 7348), not Linux's historic default 8472. */
#define KERN_VXLAN_IFNAME "nsa-vxlan"
#define KERN_VXLAN_VNI 7470
#define KERN_VXLAN_PORT 4789
/* The WireGuard device (issue 19). The userspace implementation the agent
 * runs (wireguard-go) creates it; the kernel layer gives it our alias and
 * group, its MTU, the subnet's network address and brings it up, routes
 * through it, and removes it with everything else. */
#define KERN_WG_IFNAME "nsa-wg"
#define KERN_WG_KEY_LEN 32
#define KERN_MAC_LEN ADDR_MAC_LEN
/* addr_local_mac() kinds: the VXLAN device's MAC from the VTEP address, the
 * bridge's (when nsagent creates it) from the bridge address. */
#define KERN_MAC_KIND_VTEP 0x6e
#define KERN_MAC_KIND_BRIDGE 0x62

/* How a remote subnet is reached (DESIGN.md "Data-path modes"). */
enum kern_mode {
	KERN_MODE_DIRECT, /* dst via gateway, the peer's node IP, on-link */
	KERN_MODE_VXLAN,  /* dst via dst's network address dev KERN_VXLAN_IFNAME onlink */
	/* dst via gateway dev KERN_WG_IFNAME onlink: the gateway means nothing
	 * on a layer-3 device (WireGuard picks the peer by its allowed IPs)
	 * and is there so that the route names its peer for adoption. */
	KERN_MODE_WIREGUARD,
};

struct event_base;
struct kern;

struct kern_error {
	char message[512];
};

/* A named namespace (name, made and removed by the agent, eth0 inside) or
 * an attachment (cni.container_id set, name ""): the interface cni.ifname
 * in the runtime's namespace at cni.netns, which the agent never creates
 * or removes. Both get a veth pair with its host end on the bridge, the
 * address, and a default route via the bridge. */
struct kern_namespace {
	char name[CFG_NS_NAME_MAX + 1];
	uint32_t addr; /* address of the interface inside; prefix length is the subnet's */
	/* Its IPv6 address (prefix length: subnet6's), all zero for none;
	 * set exactly when the topology has subnet6. */
	struct in6_addr addr6;
	struct attachment cni;
};

/* What the kernel layer knows of an attachment since its last pass. */
struct kern_attach_info {
	uint8_t mac[KERN_MAC_LEN]; /* of the interface inside */
	unsigned mtu;
	char host_ifname[IFNAMSIZ];
	bool gone; /* its namespace no longer exists (or is another one) */
};

/* The host's local network. */
struct kern_topology {
	char bridge[IFNAMSIZ];
	struct prefix subnet;  /* bridge takes the first host address */
	struct prefix cluster; /* cluster range: NAT exempts it */
	/* Dual-stack, when subnet6_set: the bridge takes subnet6's ::1, every
	 * namespace its addr6 and a default IPv6 route via ::1, IPv6
	 * forwarding is on, and the nft table does for IPv6 what it does for
	 * IPv4 (NAT66 only with masquerade6). Without it nothing of IPv6 is
	 * added anywhere (--ipv6 off). */
	struct prefix6 subnet6;
	bool subnet6_set;
	struct prefix6 cluster6;
	bool masquerade6;
	/* IPv4 destinations outside the cluster left unmasqueraded. */
	struct prefix masquerade_except[KERN_MAX_MASQUERADE_EXCEPT];
	unsigned n_masquerade_except;
	unsigned mtu; /* 0 = leave the kernel's default */
	struct kern_namespace *namespaces;
	unsigned n_namespaces;
	/* The VXLAN device KERN_VXLAN_IFNAME, wanted when vtep is not 0: local
	 * address vtep, MAC vtep_mac, no learning, no flooding (only the
	 * per-peer FDB entries of vxlan routes), and the subnet's network
	 * address as a /32. Without vtep an owned device is removed. */
	uint32_t vtep;
	/* Over an IPv6 underlay the local address is vtep6 instead (vtep is
	 * then 0; the device is wanted when either is set). The outer header
	 * is then 20 bytes longer: the caller's vxlan_mtu says so. */
	struct in6_addr vtep6;
	uint8_t vtep_mac[KERN_MAC_LEN];
	unsigned vxlan_mtu; /* 0 = leave the kernel's default */
	/* The WireGuard device KERN_WG_IFNAME is ours when wg: when it
	 * exists (its userspace process made it) it gets our alias and group,
	 * wg_mtu, the subnet's network address as a /32 (the source of this
	 * host's own packets to peers, inside the subnet their allowed IPs
	 * hold for us) and is up. Without wg an owned device is removed. The
	 * nft table leaves wg_port's UDP untracked. wg_kernel: kernel
	 * WireGuard, whose device (kind "wireguard") the kernel layer makes
	 * itself when it is absent; else a userspace process makes it. */
	bool wg;
	bool wg_kernel;
	uint32_t wg_addr;	  /* the node IP: WireGuard's UDP to and from it */
	struct in6_addr wg_addr6; /* ... an IPv6 one (wg_addr then 0) */
	uint16_t wg_port;
	unsigned wg_mtu;
};

/* One cross-node route in the main table. direct: dst via gateway.
 * vxlan: dst via dst.addr dev KERN_VXLAN_IFNAME onlink, plus a permanent
 * neighbour entry dst.addr -> vtep_mac and a permanent FDB entry vtep_mac
 * -> vtep on that device (no ARP, no flooding, no learning).
 *
 * ipv6: the route is dst6 instead. Linux takes no IPv4 next hop for an
 * IPv6 route, so gateway6 is a link-local address: direct, the peer's
 * own on the shared link, dev ifname (our underlay link); vxlan, the
 * EUI-64 address of vtep_mac, dev KERN_VXLAN_IFNAME onlink, with a
 * permanent IPv6 neighbour entry gateway6 -> vtep_mac (the FDB entry is
 * the one IPv4 uses). gateway is then the peer's node IP, for adoption.
 * Zero-filled fields compare equal (callers memcmp route sets). */
struct kern_route {
	struct prefix dst;
	/* The peer's node address. IPv4 direct over an IPv6 underlay: the
	 * route's next hop is this IPv6 address (RTA_VIA, Linux 5.2). */
	struct nodeaddr gateway;
	enum kern_mode mode;
	uint32_t vtep; /* vxlan: the peer's VTEP address (underlay) */
	/* vxlan over an IPv6 underlay: the peer's VTEP address, in the FDB
	 * entry of vtep_mac (vtep is then 0). */
	struct in6_addr vtep6;
	uint8_t vtep_mac[KERN_MAC_LEN];
	bool ipv6;
	struct prefix6 dst6;
	struct in6_addr gateway6;
	char ifname[IFNAMSIZ]; /* ipv6 direct: the device of gateway6 */
	/* wireguard: the peer's public key and UDP port (its endpoint is
	 * gateway:wg_port). Zero in a route read back from the kernel: the
	 * device keeps that peer until its owner re-advertises. For IPv6,
	 * gateway6 is backend_wg_gateway6(gateway). */
	uint8_t wg_key[KERN_WG_KEY_LEN];
	uint16_t wg_port;
};

/* What the kernel's route to an address looks like. */
struct kern_path {
	struct nodeaddr source;	 /* preferred source address, zero if none */
	struct nodeaddr gateway; /* zero: the address is on-link */
	char ifname[IFNAMSIZ];
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

/* The attachment container_id/ifname of the current topology: -ENOENT when
 * there is none. */
int kern_attachment_info(const struct kern *kern, const char *container_id, const char *ifname,
			 struct kern_attach_info *info);
/* Reads the attachment's namespace and checks that its interface, addresses
 * and default routes (IPv6 ones too, with subnet6) are as the topology wants them (CNI CHECK): 0,
 * or a negative errno with err saying what differs. Changes nothing. */
int kern_attachment_check(struct kern *kern, const char *container_id, const char *ifname,
			  struct kern_error *err);
/* The identity (device and inode of its nsfs file) of the network
 * namespace at path: -ENOENT when nothing is there, -EINVAL when the file
 * is not a network namespace. */
int kern_netns_identity(const char *path, uint64_t *dev, uint64_t *ino, struct kern_error *err);

/* Reconcile the owned routes of the main table to exactly this set. Copies. */
int kern_set_routes(struct kern *kern, const struct kern_route *routes, unsigned n,
		    struct kern_error *err);

/* Owned routes already in the kernel (graceful restart adopts them as stale).
 * *routes is malloc'd; the caller frees it. */
int kern_get_routes(struct kern *kern, struct kern_route **routes, unsigned *n,
		    struct kern_error *err);

void kern_get_stats(const struct kern *kern, struct kern_stats *stats);

/* The source address the kernel would use to reach dst (the default node IP). */
int kern_route_source(const struct nodeaddr *dst, struct nodeaddr *src, struct kern_error *err);

/* This host's own IPv4 networks and addresses (each address as a /32 and
 * its connected prefix), on every interface but skip_ifname (the agent's
 * bridge, whose subnet follows the claim). Peers' adverts overlapping them
 * are refused. *prefixes is malloc'd; the caller frees it. */
int kern_local_prefixes(const char *skip_ifname, struct prefix **prefixes, unsigned *n,
			struct kern_error *err);
/* This host's own IPv6 networks and addresses, as kern_local_prefixes
 * (each address as a /128 and its connected prefix), leaving out
 * link-local ones: every link has fe80::/64, and no peer can advertise a
 * range there anyway. */
int kern_local_prefixes6(const char *skip_ifname, struct prefix6 **prefixes, unsigned *n,
			 struct kern_error *err);
/* The fe80:: address of link ifname (the next hop peers on that link use
 * for our /64): -EADDRNOTAVAIL when it has none (IPv6 disabled there). */
int kern_link_local6(const char *ifname, struct in6_addr *addr, struct kern_error *err);
/* The kernel's route to dst (for the per-peer mode: a gateway means the
 * peer is not on-link), asked on the kernel layer's own socket. */
int kern_route_path(struct kern *kern, const struct nodeaddr *dst, struct kern_path *path,
		    struct kern_error *err);

/* The MTU and name of the link that holds the local address addr (the
 * underlay's, for the node IP); -EADDRNOTAVAIL when no link has it. */
int kern_addr_link(const struct nodeaddr *addr, unsigned *mtu, char ifname[IFNAMSIZ],
		   struct kern_error *err);

/* Remove everything the agent owns in the current network namespace (and
 * the named namespaces it made). Works without a running daemon. */
int kern_down(const char *bridge, struct kern_error *err);

#endif
