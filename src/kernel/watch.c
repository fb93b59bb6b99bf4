/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: drift detection: the kernel layer's one netlink event socket and
 * the decisions about what its messages mean.
 *
 * The event socket listens with NETLINK_LISTEN_ALL_NSID, so it also hears
 * every namespace that has an id in the agent's namespace; each owned
 * namespace is given one (its nsid, learned when the namespace is opened),
 * and a message's nsid control message routes it to that namespace's
 * watcher, so drift inside, such as eth0's address or the default route
 * being deleted, is seen too. One socket instead of one per namespace:
 * every notification walks every listener socket, and each namespace cost
 * two sockets (event and request) plus their options at bring-up.
 *
 * Each message is compared with the desired state in struct kern; when
 * something owned is gone or differs, the scope is marked dirty (root, one
 * namespace, routes) and kwatch_schedule() activates the one deferred event
 * that runs the repair pass (kern.c), so a burst of messages costs one
 * pass. Nothing here changes the kernel: a message describing one of our
 * own intermediate states at worst costs a pass that finds nothing to do. */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "kern_priv.h"
#include "kern_state.h"
#include "nsagent/log.h"

#define EVENT_BUF_SIZE 65536

/* The one event socket: links, addresses, routes, and neighbour and FDB
 * entries (the VXLAN device's, in the agent's namespace), of the agent's
 * namespace and of every namespace with an id in it. */
int kwatch_socket_open(int *out, struct kern_error *err)
{
	/* The IPv6 groups always: the socket is opened before any topology
	 * says whether it is dual-stack, and their messages cost nothing
	 * but parsing when it is not. */
	static const int groups[] = {RTNLGRP_LINK,  RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE,
				     RTNLGRP_NEIGH, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV6_ROUTE};
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	int size = 1 << 20, one = 1;
	int fd, e;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (fd < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i],
			       sizeof(groups[i])) < 0)
			goto fail;
	if (setsockopt(fd, SOL_NETLINK, NETLINK_LISTEN_ALL_NSID, &one, sizeof(one)) < 0)
		goto fail;
	/* Bring-up of hundreds of namespaces is a burst; an overrun is
	 * survivable (full pass) but better avoided. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	*out = fd;
	return 0;
fail:
	e = errno;
	kern_errorf(err, "cannot open netlink event socket: %s", strerror(e));
	if (fd >= 0)
		close(fd);
	return -e;
}

void kwatch_schedule(struct kern *kern, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	log_debug("kernel event: %s", what);
	if (!kern->drift[0])
		snprintf(kern->drift, sizeof(kern->drift), "%s", what);
	kern->drift_events++;
	if (!kern->scheduled) {
		kern->scheduled = true;
		event_active(kern->deferred, EV_TIMEOUT, 0);
	}
}

static struct kern_ns *ns_by_host_ifname(struct kern *kern, const char *name)
{
	for (unsigned i = 0; i < kern->n_ns; i++)
		if (strcmp(kern->ns[i]->host_ifname, name) == 0)
			return kern->ns[i];
	return NULL;
}

static const struct kern_route *want_route(const struct kern *kern, uint32_t dst, uint8_t len)
{
	for (unsigned i = 0; i < kern->n_routes; i++)
		if (!kern->routes[i].ipv6 && kern->routes[i].dst.addr == dst &&
		    kern->routes[i].dst.len == len)
			return &kern->routes[i];
	return NULL;
}

static const struct kern_route *want_route6(const struct kern *kern, const struct kroute6 *r)
{
	for (unsigned i = 0; i < kern->n_routes; i++)
		if (kern->routes[i].ipv6 && kern->routes[i].dst6.len == r->len &&
		    memcmp(&kern->routes[i].dst6.addr, &r->dst, sizeof(r->dst)) == 0)
			return &kern->routes[i];
	return NULL;
}

/* A cross-node IPv6 route of ours deleted or changed, or another's taking
 * the place of one we want (as root_event does for IPv4). */
static void root_route6_event(struct kern *kern, struct nlmsghdr *nlh)
{
	char p[PREFIX6_STRLEN];
	const struct kern_route *w;
	struct kroute6 r;

	if (!kern->have_routes || !kparse_route6(nlh, &r) || r.table != RT_TABLE_MAIN)
		return;
	w = want_route6(kern, &r);
	addr6_format_prefix(&(struct prefix6){.addr = r.dst, .len = r.len}, p);
	if (nlh->nlmsg_type == RTM_DELROUTE) {
		if (kroute6_is_owned(&r) && w) {
			kern->routes_dirty = true;
			kwatch_schedule(kern, "route %s deleted", p);
		}
	} else if (kroute6_is_owned(&r)
		       ? !w || memcmp(&w->gateway6, &r.gateway, sizeof(r.gateway)) != 0
		       : w != NULL) {
		kern->routes_dirty = true;
		kwatch_schedule(kern, "route %s changed", p);
	}
}

/* skip: a namespace made in this pass, whose host end's events describe
 * our own steps (the pair created before its alias was set, and so on). */
static void root_link_event(struct kern *kern, struct nlmsghdr *nlh, const struct kern_ns *skip)
{
	bool del = nlh->nlmsg_type == RTM_DELLINK;
	struct kern_ns *ns;
	struct klink l;

	if (!kparse_link(nlh, &l))
		return;
	if (kvtep_set(kern->vtep, &kern->vtep6) &&
	    (strcmp(l.name, KERN_VXLAN_IFNAME) == 0 ||
	     (kern->vxlan_ifindex && l.ifindex == kern->vxlan_ifindex))) {
		/* IPv4 sends no route deletions for routes that go with a
		 * device, so the routes and entries through it are checked too. */
		if (del || l.ifindex != kern->vxlan_ifindex) {
			kern->root_dirty = kern->routes_dirty = true;
			kwatch_schedule(kern, "VXLAN device %s %s", l.name,
					del ? "deleted" : "re-created");
		} else if (!(l.flags & IFF_UP) || (kern->vxlan_mtu && l.mtu != kern->vxlan_mtu) ||
			   strcmp(l.name, KERN_VXLAN_IFNAME) != 0 ||
			   memcmp(l.mac, kern->vtep_mac, KERN_MAC_LEN) != 0) {
			kern->root_dirty = kern->routes_dirty = true;
			kwatch_schedule(kern, "VXLAN device %s changed", l.name);
		}
		return;
	}
	if (kern->wg && (strcmp(l.name, KERN_WG_IFNAME) == 0 ||
			 (kern->wg_ifindex && l.ifindex == kern->wg_ifindex))) {
		/* Made by its process, which the agent restarts when it dies:
		 * a new device needs our settings and the routes through it. */
		if (del || l.ifindex != kern->wg_ifindex) {
			kern->root_dirty = kern->routes_dirty = true;
			if (del)
				kern->wg_ifindex = 0;
			kwatch_schedule(kern, "WireGuard device %s %s", l.name,
					del ? "deleted" : "created");
		} else if (!(l.flags & IFF_UP) || (kern->wg_mtu && l.mtu != kern->wg_mtu) ||
			   strcmp(l.alias, KERN_ALIAS_WG) != 0) {
			kern->root_dirty = true;
			kwatch_schedule(kern, "WireGuard device %s changed", l.name);
		}
		return;
	}
	if (strcmp(l.name, kern->bridge) == 0) {
		if (del) {
			kern->root_dirty = true;
			kwatch_schedule(kern, "bridge %s deleted", l.name);
		} else if (!(l.flags & IFF_UP) || (kern->mtu && l.mtu != kern->mtu) ||
			   l.ifindex != kern->bridge_ifindex) {
			kern->root_dirty = true;
			kwatch_schedule(kern, "bridge %s changed", l.name);
		}
		return;
	}
	ns = ns_by_host_ifname(kern, l.name);
	if (skip && ns == skip)
		return;
	if (!ns) {
		/* A renamed host veth still carries its alias. */
		if (!del && (strncmp(l.alias, KERN_ALIAS_NS, strlen(KERN_ALIAS_NS)) == 0 ||
			     strncmp(l.alias, KERN_ALIAS_CNI, strlen(KERN_ALIAS_CNI)) == 0)) {
			kern->root_dirty = true;
			kwatch_schedule(kern, "link %s (%s) changed", l.name, l.alias);
		}
		return;
	}
	if (del) {
		kern->root_dirty = true;
		ns->dirty = true;
		kwatch_schedule(kern, "veth %s of namespace %s deleted", l.name, ns->name);
	} else if (!(l.flags & IFF_UP) || l.master != kern->bridge_ifindex ||
		   strcmp(l.alias, ns->alias) != 0 || (kern->mtu && l.mtu != kern->mtu)) {
		kern->root_dirty = true;
		kwatch_schedule(kern, "veth %s of namespace %s changed", l.name, ns->name);
	}
}

static void neigh_event(struct kern *kern, struct nlmsghdr *nlh)
{
	bool del = nlh->nlmsg_type == RTM_DELNEIGH;
	char a[ADDR6_STRLEN];
	struct kneigh e;

	if (!kern->have_routes || !kern->vxlan_ifindex || !kparse_neigh(nlh, &e) ||
	    e.ifindex != kern->vxlan_ifindex || kvxlan_entry_kernels(&e))
		return;
	/* Ours are permanent and exactly the wanted set: a wanted one deleted,
	 * or anything else appearing, is drift. */
	if (del ? kvxlan_entry_wanted(&e, kern->routes, kern->n_routes)
		: !kvxlan_entry_wanted(&e, kern->routes, kern->n_routes)) {
		kern->routes_dirty = true;
		kwatch_schedule(
		    kern, "%s %s on %s %s", e.family == AF_BRIDGE ? "fdb entry" : "neighbour",
		    e.family == AF_INET6 ? addr6_format(&e.dst6, a) : addr_format(e.dst, a),
		    KERN_VXLAN_IFNAME, del ? "deleted" : "changed");
	}
}

/* The bridge's IPv6 address removed (dual-stack only). */
static void root_addr6_event(struct kern *kern, struct nlmsghdr *nlh)
{
	char a6[ADDR6_STRLEN];
	struct kaddr6 a;

	if (kern->subnet6_set && kparse_addr6(nlh, &a) && a.ifindex == kern->bridge_ifindex &&
	    memcmp(&a.addr, &kern->bridge_addr6, sizeof(a.addr)) == 0) {
		kern->root_dirty = true;
		kwatch_schedule(kern, "address %s/%u removed from bridge %s",
				addr6_format(&a.addr, a6), a.len, kern->bridge);
	}
}

static void root_event(struct kern *kern, struct nlmsghdr *nlh, const struct kern_ns *skip)
{
	char p[PREFIX_STRLEN];
	struct kaddr a;
	struct kroute r;

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		root_link_event(kern, nlh, skip);
		break;
	case RTM_DELADDR:
		root_addr6_event(kern, nlh);
		if (kparse_addr(nlh, &a) && a.ifindex == kern->bridge_ifindex &&
		    a.addr == kern->bridge_addr) {
			kern->root_dirty = true;
			kwatch_schedule(
			    kern, "address %s removed from bridge %s",
			    addr_format_prefix(&(struct prefix){.addr = a.addr, .len = a.len}, p),
			    kern->bridge);
		} else if (kern->vxlan_ifindex && a.ifindex == kern->vxlan_ifindex &&
			   a.addr == kern->subnet.addr) {
			kern->root_dirty = true;
			kwatch_schedule(
			    kern, "address %s removed from %s",
			    addr_format_prefix(&(struct prefix){.addr = a.addr, .len = a.len}, p),
			    KERN_VXLAN_IFNAME);
		}
		break;
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		neigh_event(kern, nlh);
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		root_route6_event(kern, nlh);
		if (!kern->have_routes || !kparse_route(nlh, &r) || r.table != RT_TABLE_MAIN)
			break;
		const struct kern_route *w = want_route(kern, r.dst, r.len);

		if (nlh->nlmsg_type == RTM_DELROUTE) {
			if (kroute_is_owned(&r) && w) {
				kern->routes_dirty = true;
				kwatch_schedule(
				    kern, "route %s deleted",
				    addr_format_prefix(
					&(struct prefix){.addr = r.dst, .len = r.len}, p));
			}
		} else if (kroute_is_owned(&r) ? !w || !kroute_same_gateway(w, &r) : w != NULL) {
			kern->routes_dirty = true;
			kwatch_schedule(
			    kern, "route %s changed",
			    addr_format_prefix(&(struct prefix){.addr = r.dst, .len = r.len}, p));
		}
		break;
	default:
		break;
	}
}

/* The namespace's IPv6 address removed, or its default IPv6 route deleted
 * or changed (dual-stack only). */
static void ns_event6(struct kern_ns *ns, struct nlmsghdr *nlh)
{
	struct kern *kern = ns->kern;
	char a6[ADDR6_STRLEN];
	struct kaddr6 a;
	struct kroute6 r;

	if (!kern->subnet6_set)
		return;
	if (nlh->nlmsg_type == RTM_DELADDR && kparse_addr6(nlh, &a) &&
	    memcmp(&a.addr, &ns->addr6, sizeof(a.addr)) == 0) {
		ns->dirty = true;
		kwatch_schedule(kern, "address %s/%u removed in namespace %s",
				addr6_format(&a.addr, a6), a.len, ns->name);
	}
	if ((nlh->nlmsg_type != RTM_NEWROUTE && nlh->nlmsg_type != RTM_DELROUTE) ||
	    !kparse_route6(nlh, &r) || r.table != RT_TABLE_MAIN || r.len != 0)
		return;
	if (nlh->nlmsg_type == RTM_DELROUTE ||
	    memcmp(&r.gateway, &kern->bridge_addr6, sizeof(r.gateway)) != 0) {
		ns->dirty = true;
		kwatch_schedule(kern, "default IPv6 route in namespace %s %s", ns->name,
				nlh->nlmsg_type == RTM_DELROUTE ? "deleted" : "changed");
	}
}

static void ns_event(struct kern_ns *ns, struct nlmsghdr *nlh)
{
	struct kern *kern = ns->kern;
	char p[PREFIX_STRLEN];
	struct klink l;
	struct kaddr a;
	struct kroute r;

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		if (!kparse_link(nlh, &l))
			break;
		if (strcmp(l.name, ns->ifname) == 0 &&
		    (nlh->nlmsg_type == RTM_DELLINK || !(l.flags & IFF_UP) ||
		     strcmp(l.alias, ns->alias) != 0 || (kern->mtu && l.mtu != kern->mtu))) {
			ns->dirty = true;
			kwatch_schedule(kern, "%s in namespace %s %s", l.name, ns->name,
					nlh->nlmsg_type == RTM_DELLINK ? "deleted" : "changed");
		} else if (!ns->is_cni && l.ifindex == LOOPBACK_IFINDEX && !(l.flags & IFF_UP)) {
			ns->dirty = true;
			kwatch_schedule(kern, "lo in namespace %s down", ns->name);
		}
		break;
	case RTM_DELADDR:
		if (kparse_addr(nlh, &a) && a.addr == ns->addr) {
			ns->dirty = true;
			kwatch_schedule(
			    kern, "address %s removed in namespace %s",
			    addr_format_prefix(&(struct prefix){.addr = a.addr, .len = a.len}, p),
			    ns->name);
		}
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		if (!kparse_route(nlh, &r) || r.table != RT_TABLE_MAIN || r.len != 0)
			break;
		if (nlh->nlmsg_type == RTM_DELROUTE || r.gateway != kern->bridge_addr) {
			ns->dirty = true;
			kwatch_schedule(kern, "default route in namespace %s %s", ns->name,
					nlh->nlmsg_type == RTM_DELROUTE ? "deleted" : "changed");
		}
		break;
	default:
		break;
	}
}

static struct kern_ns *ns_by_nsid(struct kern *kern, int nsid)
{
	for (unsigned i = 0; i < kern->n_ns; i++)
		if (kern->ns[i]->nsid == nsid)
			return kern->ns[i];
	return NULL;
}

/* The nsid a message came from (NETLINK_LISTEN_ALL_NSID); -1 when it came
 * from the agent's own namespace, which carries none. */
static int msg_nsid(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		int nsid;

		if (c->cmsg_level != SOL_NETLINK || c->cmsg_type != NETLINK_LISTEN_ALL_NSID ||
		    c->cmsg_len < CMSG_LEN(sizeof(nsid)))
			continue;
		memcpy(&nsid, CMSG_DATA(c), sizeof(nsid));
		return nsid;
	}
	return -1;
}

/* Reads everything queued on the event socket and routes each message to
 * the agent's namespace or to the owned namespace it came from; messages
 * of other namespaces are dropped, and so are those of skip (a namespace
 * created in this pass, where every message describes our own steps) and
 * those about its host end. On overrun the messages are lost, whoever
 * they came from, so every scope is checked. */
void kwatch_read(struct kern *kern, const struct kern_ns *skip)
{
	static char buf[EVENT_BUF_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	char cbuf[CMSG_SPACE(sizeof(int))] __attribute__((aligned(sizeof(size_t))));

	for (;;) {
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		ssize_t n = recvmsg(kern->ev_fd, &mh, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			kern->root_dirty = kern->routes_dirty = true;
			for (unsigned i = 0; i < kern->n_ns; i++)
				kern->ns[i]->dirty = true;
			if (kern->have_topo || kern->have_routes)
				kwatch_schedule(kern, "netlink events lost (overrun)");
			continue;
		}
		if (n <= 0)
			return;
		if (!kern->have_topo && !kern->have_routes)
			continue;
		int len = (int)n, nsid = msg_nsid(&mh);
		struct kern_ns *ns = NULL;

		if (nsid >= 0 && nsid != kern->self_nsid) {
			ns = ns_by_nsid(kern, nsid);
			if (!ns || ns == skip)
				continue;
		}
		for (struct nlmsghdr *nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, len);
		     nlh = NLMSG_NEXT(nlh, len)) {
			if (ns) {
				ns_event(ns, nlh);
				ns_event6(ns, nlh);
			} else if (kern->have_topo || nlh->nlmsg_type == RTM_NEWROUTE ||
				   nlh->nlmsg_type == RTM_DELROUTE)
				root_event(kern, nlh, skip);
		}
	}
}

void kwatch_on_events(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	kwatch_read(arg, NULL);
}

/* Learns (giving one if needed) the namespace's id, which routes its
 * events here. A namespace re-created may get an id another entry held
 * for a namespace now gone: the newest holder wins. */
int kwatch_learn_nsid(struct kern *kern, struct kern_ns *ns, int nsfd, struct kern_error *err)
{
	int nsid, rc;

	rc = knl_nsid(&kern->nl, nsfd, true, &nsid, err);
	if (rc < 0) {
		ns->nsid = -1;
		return rc;
	}
	for (unsigned i = 0; i < kern->n_ns; i++)
		if (kern->ns[i] != ns && kern->ns[i]->nsid == nsid)
			kern->ns[i]->nsid = -1;
	ns->nsid = nsid;
	return 0;
}
