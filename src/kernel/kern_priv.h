/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Internal to the kernel layer: the netlink request wrapper, snapshots of
 * kernel objects read by dumps, named-namespace helpers and the other
 * helpers the jobs of kern.c share (the state of a running struct kern is
 * in kern_state.h). Nothing outside src/kernel/ includes this. */
#ifndef NSAGENT_KERNEL_PRIV_H
#define NSAGENT_KERNEL_PRIV_H

#include <net/if.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "nsagent/kern.h"

struct nl_sock;
struct nl_msg;
struct nlmsghdr;
struct event;

/* Alias carried by both ends of a namespace's veth: KERN_ALIAS_PREFIX "ns=NAME". */
#define KERN_ALIAS_NS KERN_ALIAS_PREFIX "ns="
/* Alias carried by both ends of an attachment's veth: KERN_ALIAS_CNI
 * "CONTAINERID/IFNAME". */
#define KERN_ALIAS_CNI KERN_ALIAS_PREFIX "cni="
#define KERN_ALIAS_BRIDGE KERN_ALIAS_PREFIX "bridge"
#define KERN_ALIAS_VXLAN KERN_ALIAS_PREFIX "vxlan"
#define KERN_ALIAS_WG KERN_ALIAS_PREFIX "wireguard"
#define KERN_ALIAS_MAX 256
#define KERN_HOST_VETH_PREFIX "nsa-"
#define KERN_HOST_CNI_PREFIX "nsc"
/* lo is the first link of every network namespace. */
#define LOOPBACK_IFINDEX 1

/* One rtnetlink request socket. Every change request goes through
 * knl_change(), which counts it and turns a refusal into a kern_error with
 * the kernel's own words (errno text plus the extended ack message). */
struct knl {
	struct nl_sock *sk;
	int kernel_errno;	  /* from the last NLMSG_ERROR, 0 if none */
	char kernel_msg[256];	  /* extended ack text of that error */
	struct kern_stats *stats; /* changes (and errors) are counted here */
	const bool *repairing;	  /* when true, each change is logged as a repair */
};

/* Opens the socket in the thread's current network namespace. */
int knl_open(struct knl *nl, struct kern_stats *stats, const bool *repairing,
	     struct kern_error *err);
void knl_close(struct knl *nl);
/* Moves an open socket to another struct knl (from is left closed). */
void knl_move(struct knl *to, struct knl *from);

/* Sends msg (consumed) as one change request and waits for the ack.
 * what describes the change ("add route 172.16.1.0/24 via 192.168.1.6"). */
int knl_change(struct knl *nl, struct nl_msg *msg, struct kern_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sends msg (consumed) as a query; knl_recv_reply() then reads the reply of
 * a request that is not a dump, through valid, and its ack. */
int knl_send_query(struct knl *nl, struct nl_msg *msg);
int knl_recv_reply(struct knl *nl, int (*valid)(struct nl_msg *msg, void *arg), void *arg);

/* Snapshots filled by dumps; only what reconcile compares. */
struct klink {
	int ifindex;
	unsigned flags;
	int master;
	int link; /* IFLA_LINK: for a veth, the peer's ifindex in the peer's namespace */
	unsigned mtu;
	uint32_t group; /* IFLA_GROUP */
	char name[IFNAMSIZ];
	char alias[KERN_ALIAS_MAX];
	char kind[16];
	uint8_t mac[KERN_MAC_LEN]; /* IFLA_ADDRESS, zero when absent */
	/* kind "vxlan" only */
	uint32_t vxlan_vni;
	uint32_t vxlan_local; /* host order */
	struct in6_addr vxlan_local6;
	uint16_t vxlan_port; /* host order */
	bool vxlan_learning;
	bool vxlan_has_remote; /* a default remote or group: it would flood */
	bool hairpin;	       /* a bridge port in hairpin mode (IFLA_BRPORT_MODE) */
};

struct kaddr {
	int ifindex;
	uint32_t addr; /* host order */
	uint8_t len;
};

/* A neighbour (family AF_INET or AF_INET6) or FDB (family AF_BRIDGE)
 * entry. */
struct kneigh {
	int ifindex;
	uint8_t family;
	uint16_t state;	      /* NUD_* */
	uint8_t flags;	      /* NTF_* */
	uint32_t dst;	      /* host order: the neighbour's address, or the FDB remote */
	struct in6_addr dst6; /* AF_INET6: the neighbour's address */
	uint8_t mac[KERN_MAC_LEN];
};

struct kroute {
	uint32_t dst; /* host order */
	uint8_t len;
	uint8_t protocol;
	uint8_t type;
	uint8_t tos;
	uint32_t table;
	uint32_t priority;
	uint32_t gateway; /* host order, 0 if none */
	/* RTA_VIA's IPv6 next hop (an IPv4 route over an IPv6 underlay,
	 * "via inet6 ..."); all zero if none. */
	struct in6_addr via6;
	int oif;
	unsigned flags; /* rtm_flags (RTNH_F_ONLINK) */
};

struct klinks {
	struct klink *v;
	unsigned n;
};
struct kaddrs {
	struct kaddr *v;
	unsigned n;
};
struct kroutes {
	struct kroute *v;
	unsigned n;
};
struct kneighs {
	struct kneigh *v;
	unsigned n;
};

int knl_dump_links(struct knl *nl, struct klinks *out, struct kern_error *err);
int knl_dump_addrs(struct knl *nl, struct kaddrs *out, struct kern_error *err);
/* IPv4 routes of every table. */
int knl_dump_routes(struct knl *nl, struct kroutes *out, struct kern_error *err);
/* Neighbour (AF_INET, AF_INET6) or FDB (AF_BRIDGE) entries of every link. */
int knl_dump_neighs(struct knl *nl, uint8_t family, struct kneighs *out, struct kern_error *err);
/* One link by name; -ENODEV when absent. */
int knl_get_link(struct knl *nl, const char *name, struct klink *out, struct kern_error *err);
const struct klink *klinks_by_name(const struct klinks *links, const char *name);
/* The id the socket's namespace gives the namespace behind nsfd (what
 * NETLINK_LISTEN_ALL_NSID reports with its events); assign: give it one when
 * it has none. *nsid is -1 when it has none and assign is false. */
int knl_nsid(struct knl *nl, int nsfd, bool assign, int *nsid, struct kern_error *err);
const struct klink *klinks_by_index(const struct klinks *links, int ifindex);

/* Message parsers shared by dumps and the event watchers; return false when
 * the message is not the expected kind or is malformed. */
bool kparse_link(struct nlmsghdr *nlh, struct klink *out);
bool kparse_addr(struct nlmsghdr *nlh, struct kaddr *out);
bool kparse_route(struct nlmsghdr *nlh, struct kroute *out);
bool kparse_neigh(struct nlmsghdr *nlh, struct kneigh *out);

/* Change requests (each one knl_change). */
/* What kreq_link_set() changes; whatever is left zero stays as it is (all
 * zero: no request at all). */
struct kreq_link {
	bool up;		 /* bring it up */
	int master;		 /* > 0: enslave it to this index... */
	const char *master_name; /* ...named so in messages */
	unsigned mtu;		 /* non-zero: set it */
	const char *alias;	 /* non-NULL: set it */
	bool group;		 /* put it in KERN_LINK_GROUP */
	bool no_ipv6_ll;	 /* IPv6 address generation mode "none" */
	/* Hairpin mode on, for a bridge port: port data in the same
	 * request, or in a second one when the request enslaves it. A frame may then leave by
	 * the port it came in by, so a namespace reaches its own address
	 * through a path that comes back to the bridge (a DNAT on the host, a
	 * service address) instead of the bridge dropping the reply. */
	bool hairpin;
};
/* ifindex 0 finds the link by ifname. */
int kreq_link_set(struct knl *nl, int ifindex, const char *ifname, const struct kreq_link *change,
		  struct kern_error *err);
int kreq_link_del(struct knl *nl, int ifindex, const char *ifname, struct kern_error *err);
/* Deletes every link of device group KERN_LINK_GROUP in one request: one
 * batch for the kernel, so one round of RCU grace periods for all of them
 * instead of one per link. */
int kreq_group_del(struct knl *nl, struct kern_error *err);
/* Created links are up (except a veth peer) but carry no alias yet: the
 * kernel ignores IFLA_IFALIAS on creation, so callers set it next. They are
 * in KERN_LINK_GROUP (a veth's peer is not: it lives in its namespace). */
/* The bridge gets a fixed MAC: without one it takes the lowest of its ports'
 * and changes as namespaces come and go, and every change moves its IPv6
 * link-local address (DAD and MLD reports flooded to every port: N^2 work
 * in a bring-up) and the gateway MAC every namespace has cached. */
int kreq_bridge_add(struct knl *nl, const char *name, unsigned mtu, const uint8_t mac[KERN_MAC_LEN],
		    struct kern_error *err);
int kreq_veth_add(struct knl *nl, const char *host_name, int master, unsigned mtu, int peer_nsfd,
		  int peer_ifindex, const char *peer_name, const char *ns_name,
		  struct kern_error *err);
/* A VXLAN device: created up, no learning, no default remote (no flooding),
 * with the given MAC and MTU (0 = default). Its local address is local, or
 * local6 over an IPv6 underlay (local 0). */
int kreq_vxlan_add(struct knl *nl, const char *name, uint32_t vni, uint32_t local,
		   const struct in6_addr *local6, uint16_t port, const uint8_t mac[KERN_MAC_LEN],
		   unsigned mtu, struct kern_error *err);
/* A kernel WireGuard device (`ip link add NAME type wireguard`), in our
 * group, with mtu (0 = default); up. */
int kreq_wireguard_add(struct knl *nl, const char *name, unsigned mtu, struct kern_error *err);
/* A permanent neighbour (family AF_INET: dst -> mac) or FDB entry (family
 * AF_BRIDGE: mac -> remote dst), created or replaced; del removes it. */
int kreq_neigh(struct knl *nl, bool del, uint8_t family, int ifindex, const char *ifname,
	       uint32_t dst, const uint8_t mac[KERN_MAC_LEN], struct kern_error *err);
int kreq_addr(struct knl *nl, bool add, int ifindex, const char *ifname, uint32_t addr, uint8_t len,
	      struct kern_error *err);
/* Makes addr/32 the only IPv4 address of link ifindex: the others in
 * addrs (a dump; NULL for a link just created, which has none) are
 * removed, addr is added when missing (addr 0: none is added). The
 * tunnel devices' subnet address (vxlan.c, wg.c). */
int kaddr_only(struct knl *nl, const struct kaddrs *addrs, int ifindex, const char *ifname,
	       uint32_t addr, struct kern_error *err);
/* add: create (fails if a route with that key exists, whoever owns it);
 * replace: create or replace. oif 0 = let the kernel pick. onlink: the
 * gateway is on-link on oif whatever its addresses say (RTNH_F_ONLINK). */
enum kreq_route_op { KREQ_ROUTE_ADD, KREQ_ROUTE_REPLACE, KREQ_ROUTE_DEL };
/* gateway NULL or zero: none; IPv6: RTA_VIA inet6 (Linux 5.2). */
int kreq_route(struct knl *nl, enum kreq_route_op op, uint32_t dst, uint8_t len,
	       const struct nodeaddr *gateway, int oif, bool onlink, const char *where,
	       struct kern_error *err);

/* IPv6 (nl6.c): the snapshots, dumps, parsers and change requests the
 * local dual-stack topology needs, beside their IPv4 counterparts above. */
struct kaddr6 {
	int ifindex;
	struct in6_addr addr;
	uint8_t len;
};
struct kroute6 {
	struct in6_addr dst;
	uint8_t len;
	uint8_t protocol;
	uint8_t type;
	uint32_t table;
	struct in6_addr gateway; /* all zero if none */
	int oif;
};
struct kaddrs6 {
	struct kaddr6 *v;
	unsigned n;
};
struct kroutes6 {
	struct kroute6 *v;
	unsigned n;
};
int knl_dump_addrs6(struct knl *nl, struct kaddrs6 *out, struct kern_error *err);
/* IPv6 routes of every table. */
int knl_dump_routes6(struct knl *nl, struct kroutes6 *out, struct kern_error *err);
bool kparse_addr6(struct nlmsghdr *nlh, struct kaddr6 *out);
bool kparse_route6(struct nlmsghdr *nlh, struct kroute6 *out);
/* Added with IFA_F_NODAD: an address of a link the agent owns is usable at
 * once (duplicate address detection would hold it tentative for a second
 * or more, and the addresses come from the agent's own allocator). */
int kreq_addr6(struct knl *nl, bool add, int ifindex, const char *ifname,
	       const struct in6_addr *addr, uint8_t len, struct kern_error *err);
/* A route request of either family with its header and table (the
 * attributes of dst and next hop are the caller's); kreq_route_verbs[op]
 * names it in messages. */
struct nl_msg *kreq_route_msg(uint8_t family, enum kreq_route_op op, uint8_t len, bool onlink);
extern const char *const kreq_route_verbs[];
/* As kreq_route, for IPv6 (gateway NULL: none). */
int kreq_route6(struct knl *nl, enum kreq_route_op op, const struct in6_addr *dst, uint8_t len,
		const struct in6_addr *gateway, int oif, bool onlink, const char *where,
		struct kern_error *err);
/* A permanent FDB entry mac -> remote dst over an IPv6 underlay, created
 * or replaced (kreq_neigh's AF_BRIDGE delete removes either kind). */
int kreq_fdb6(struct knl *nl, int ifindex, const char *ifname, const uint8_t mac[KERN_MAC_LEN],
	      const struct in6_addr *dst, struct kern_error *err);
/* A permanent IPv6 neighbour entry dst -> mac, created or replaced; del
 * removes it (the VXLAN device's next hops of IPv6 routes). */
int kreq_neigh6(struct knl *nl, bool del, int ifindex, const char *ifname,
		const struct in6_addr *dst, const uint8_t mac[KERN_MAC_LEN],
		struct kern_error *err);
/* An IPv6 route the agent owns: KERN_RTPROT, main table, unicast. */
bool kroute6_is_owned(const struct kroute6 *r);
/* The generic dump behind every knl_dump_*: each message of the dump that
 * parse accepts becomes an item of item_size bytes (at most a struct
 * klink's) in *v, *n of them; what names the dump in messages. */
int knl_dump_items(struct knl *nl, int type, const void *hdr, size_t hdrlen,
		   bool (*parse)(struct nlmsghdr *nlh, void *item), size_t item_size, void **v,
		   unsigned *n, const char *what, struct kern_error *err);

/* Owned routes (routes.c): reconcile the main table's KERN_RTPROT routes to
 * exactly want[], and list them. */
int kroutes_reconcile(struct knl *nl, const struct kern_route *want, unsigned n,
		      struct kern_error *err);
int kroutes_owned(struct knl *nl, struct kern_route **out, unsigned *n, struct kern_error *err);
bool kroute_is_owned(const struct kroute *r);
/* The gateway and device a wanted route has in the kernel (vxlan routes go
 * via their own network address on the VXLAN device). */
struct nodeaddr kroute_kernel_gateway(const struct kern_route *want);
/* A kernel route's next hop: RTA_VIA's IPv6 one, else RTA_GATEWAY's. */
struct nodeaddr kroute_gateway(const struct kroute *r);
/* r, a kernel route, goes where want's route would. */
bool kroute_same_gateway(const struct kern_route *want, const struct kroute *r);

/* The VXLAN device and its per-peer entries (vxlan.c). */
/* Whether a VTEP address is set, over IPv4 (vtep) or IPv6 (vtep6). */
bool kvtep_set(uint32_t vtep, const struct in6_addr *vtep6);
/* Root scope: the device as topo asks, local address vtep or vtep6
 * (neither: remove an owned one). *ifindex is the device's, or 0. */
int kvxlan_reconcile_device(struct knl *nl, const struct klinks *links, const struct kaddrs *addrs,
			    uint32_t vtep, const struct in6_addr *vtep6,
			    const uint8_t mac[KERN_MAC_LEN], unsigned mtu, uint32_t addr,
			    int *ifindex, struct kern_error *err);
/* The owned device's ifindex, 0 when there is none (-errno on failure). */
int kvxlan_ifindex(struct knl *nl, struct kern_error *err);
/* The WireGuard device (wg.c): when wanted and present, ours, up, with
 * mtu and addr/32; when absent, made here (create: kernel WireGuard), or
 * *ifindex 0 and no error (its process makes it); when not wanted, an
 * owned one is deleted. */
int kwg_reconcile_device(struct knl *nl, const struct klinks *links, const struct kaddrs *addrs,
			 bool wanted, bool create, unsigned mtu, uint32_t addr, int *ifindex,
			 struct kern_error *err);
/* The index of KERN_WG_IFNAME, 0 when there is none. */
int kwg_ifindex(struct knl *nl, struct kern_error *err);
/* Neighbour and FDB entries of the device: exactly those the vxlan routes
 * of want[] need. */
int kvxlan_reconcile_entries(struct knl *nl, int ifindex, const struct kern_route *want, unsigned n,
			     struct kern_error *err);
/* An entry the kernel keeps on the device for itself (IPv6 multicast):
 * never reconciled, never drift. */
bool kvxlan_entry_kernels(const struct kneigh *e);
/* Whether a neighbour event on the device describes a state we want. */
bool kvxlan_entry_wanted(const struct kneigh *e, const struct kern_route *want, unsigned n);

/* Error helpers. */
void kern_errorf(struct kern_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Keeps the first error of a pass (rc and e, into *first and err) and goes
 * on with the rest: one broken namespace must not keep the others down. */
void kern_keep_first(int rc, int *first, struct kern_error *err, const struct kern_error *e);

/* Named namespaces (netns.c). */
/* Opens /run/netns/NAME when it is a network namespace; -ENOENT otherwise. */
int knetns_open(const char *name, int *nsfd);
/* Creates /run/netns/NAME as `ip netns add` does, without spawning anything,
 * with lo up, and returns an fd of the new namespace and in *inside the
 * request socket (opened in it) that brought lo up, for the caller to go on
 * with. The thread stays in return_fd. */
int knetns_create(const char *name, int return_fd, int *nsfd, struct knl *inside,
		  struct kern_error *err);
/* Unmounts and unlinks /run/netns/NAME. */
int knetns_remove(const char *name, struct kern_error *err);
/* A job on a second thread (job.c): kjob_start() runs fn(arg) there, or in
 * line when no thread can be started; kjob_wait() waits for it. What the
 * job touches, the caller leaves alone until then. */
struct kjob {
	pthread_t thread;
	bool threaded;
	void (*fn)(void *arg);
	void *arg;
};
void kjob_start(struct kjob *job, void (*fn)(void *arg), void *arg);
void kjob_wait(struct kjob *job);

/* Creates named namespaces on a second thread, in order, while the caller
 * goes on: unshare() is a third of the kernel's work in a bring-up and
 * takes no lock the netlink requests hold for long, so on two CPUs it
 * overlaps them. The caller takes each result with knetns_maker_take(),
 * which waits for it. */
struct knetns_maker;
struct knetns_maker *knetns_maker_start(const char *const *names, unsigned n, int return_fd);
/* The result of names[i] (as knetns_create() gives it): 0 with *nsfd and
 * *inside, which the caller then owns, or a negative errno and err. */
int knetns_maker_take(struct knetns_maker *m, unsigned i, int *nsfd, struct knl *inside,
		      struct kern_error *err);
/* Waits for the thread, closes the namespaces nobody took, frees m. */
void knetns_maker_finish(struct knetns_maker *m);
/* True when the namespace's eth0 carries our alias. */
bool knetns_is_owned(int nsfd, int return_fd, struct kern_stats *stats);
/* Opens a request socket inside the namespace behind nsfd; the thread
 * returns to return_fd before this returns. */
int knetns_knl_open(struct knl *nl, int nsfd, int return_fd, struct kern_stats *stats,
		    const bool *repairing, struct kern_error *err);
/* setns() into nsfd; the thread must go back with knetns_leave(). */
int knetns_enter(int nsfd, struct kern_error *err, const char *what);
/* Going back cannot be allowed to fail: the thread would then keep
 * working in a namespace it does not mean to. */
void knetns_leave(int return_fd);
/* The host end of a namespace's veth: "nsa-NAME" when that is a valid
 * interface name, else "nsa-" and 8 hex digits of a hash of NAME. */
void kern_host_ifname(const char *ns_name, char out[IFNAMSIZ]);
/* The namespace whose host end l is (a veth carrying KERN_ALIAS_NS NAME in
 * the agent's namespace), or NULL. */
const char *kern_host_end_of(const struct klink *l);
/* The host end of an attachment's veth: KERN_HOST_CNI_PREFIX and 12 hex
 * digits of a hash of its key. */
void kern_cni_host_ifname(const struct attachment *cni, char out[IFNAMSIZ]);
/* Whether l is the host end of an attachment's veth (KERN_ALIAS_CNI). */
bool kern_is_cni_host_end(const struct klink *l);
/* Opens an attachment's namespace: -ENOENT when nothing is at its path,
 * -ESTALE when what is there is not the namespace it was attached to. */
int knetns_open_attachment(const struct attachment *cni, int *nsfd);

#endif
