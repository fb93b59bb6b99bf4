/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the local topology: the bridge, the veth pairs and the named
 * namespaces at their other ends, with eth0's address and default route
 * inside each one (IPv6 ones too when the topology is dual-stack), plus
 * forwarding and the VXLAN device (vxlan.c) of the root scope. One pass reconciles them to the
 * desired state in struct kern (kern_state.h); kern.c decides when a pass runs and over what.
 *
 * Invariants: a pass reads before it writes and changes only what differs
 * (so a second pass sends nothing); it never touches a link or namespace
 * without our mark, except the namespaces the topology names; one broken
 * namespace does not stop the others (the first error is kept, the scope
 * it belongs to stays dirty for the retry). A full pass has the
 * namespaces that do not exist yet made on a second thread
 * (knetns_maker_start) while it works on the ones before them. The
 * notifications a namespace's own building caused are read and dropped at
 * the end of its step (kwatch_read with skip), so they do not count as
 * drift. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kern_priv.h"
#include "kern_state.h"
#include "nsagent/log.h"
#include "nsagent/xalloc.h"

/* In a namespace created a moment ago only lo (ifindex 1) exists, so eth0
 * can be given a fixed ifindex and no query is needed to learn it. */
#define FRESH_ETH0_IFINDEX 2

/* Sets a boolean sysctl at path to 1 when it is not (what names it in
 * messages: "IPv4 forwarding"). */
static int ensure_sysctl_on(struct kern *kern, const char *path, const char *what,
			    struct kern_error *err)
{
	char c = 0;
	int fd, rc = 0;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || read(fd, &c, 1) != 1) {
		rc = -errno;
		kern_errorf(err, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (c == '1')
		goto out;
	if (pwrite(fd, "1\n", 2, 0) != 2) {
		rc = -errno;
		kern_errorf(err, "cannot enable %s: %s", what, strerror(errno));
		kern->stats.errors++;
		goto out;
	}
	kern->stats.changes++;
	if (kern->repairing)
		log_info("repaired: enable %s", what);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* IPv4 forwarding, and IPv6 forwarding when the topology is dual-stack
 * (never otherwise: --ipv6 off adds nothing of IPv6). conf/all/forwarding
 * turns it on for every link, and makes the host ignore router adverts on
 * links whose accept_ra is 1 (the default): a host that takes its own
 * IPv6 address or default route from adverts needs accept_ra 2 on that
 * link, which is the operator's to set (README, nsagent(8)). */
static int ensure_forwarding(struct kern *kern, struct kern_error *err)
{
	int rc = ensure_sysctl_on(kern, "/proc/sys/net/ipv4/ip_forward", "IPv4 forwarding", err);

	if (rc == 0 && kern->subnet6_set)
		rc = ensure_sysctl_on(kern, "/proc/sys/net/ipv6/conf/all/forwarding",
				      "IPv6 forwarding", err);
	return rc;
}

/* The bridge's IPv6 address (subnet6's ::1): ours, and on a bridge we made
 * no other global one (another /64's, after the subnet moved). Link-local
 * addresses are the kernel's and stay. */
static int reconcile_bridge6(struct kern *kern, const struct klink *br, bool owned, bool created,
			     const struct kaddrs6 *addrs, struct kern_error *err)
{
	bool found = false;
	int rc;

	for (unsigned i = 0; !created && i < addrs->n; i++) {
		const struct kaddr6 *a = &addrs->v[i];

		if (a->ifindex != br->ifindex || addr6_is_link_local(&a->addr))
			continue;
		if (a->len == kern->subnet6.len &&
		    memcmp(&a->addr, &kern->bridge_addr6, sizeof(a->addr)) == 0) {
			found = true;
			continue;
		}
		if (owned) {
			rc = kreq_addr6(&kern->nl, false, br->ifindex, kern->bridge, &a->addr,
					a->len, err);
			if (rc < 0 && rc != -EADDRNOTAVAIL)
				return rc;
		}
	}
	if (found)
		return 0;
	return kreq_addr6(&kern->nl, true, br->ifindex, kern->bridge, &kern->bridge_addr6,
			  kern->subnet6.len, err);
}

static int reconcile_bridge(struct kern *kern, struct klinks *links, struct kaddrs *addrs,
			    const struct kaddrs6 *addrs6, struct kern_error *err)
{
	const struct klink *br = klinks_by_name(links, kern->bridge);
	struct klink created;
	bool owned, found = false;
	int rc;

	if (br && strcmp(br->kind, "bridge") != 0) {
		kern_errorf(err, "cannot use %s as the bridge: it exists and is a %s link",
			    kern->bridge, br->kind[0] ? br->kind : "non-bridge");
		return -EEXIST;
	}
	if (!br) {
		uint8_t mac[KERN_MAC_LEN];

		addr_local_mac(KERN_MAC_KIND_BRIDGE, kern->bridge_addr, mac);
		rc = kreq_bridge_add(&kern->nl, kern->bridge, kern->mtu, mac, err);
		if (rc < 0)
			return rc;
		rc = knl_get_link(&kern->nl, kern->bridge, &created, err);
		if (rc < 0)
			return rc;
		br = &created;
	}
	owned = strcmp(br->alias, KERN_ALIAS_BRIDGE) == 0 || br == &created;
	kern->bridge_ifindex = br->ifindex;
	struct kreq_link change = {
	    .up = !(br->flags & IFF_UP),
	    .mtu = kern->mtu && br->mtu != kern->mtu ? kern->mtu : 0,
	    .alias = br == &created && strcmp(br->alias, KERN_ALIAS_BRIDGE) != 0 ? KERN_ALIAS_BRIDGE
										 : NULL,
	    .group = owned && br->group != KERN_LINK_GROUP,
	};

	rc = kreq_link_set(&kern->nl, br->ifindex, kern->bridge, &change, err);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; br != &created && i < addrs->n; i++) {
		const struct kaddr *a = &addrs->v[i];

		if (a->ifindex != br->ifindex)
			continue;
		if (a->addr == kern->bridge_addr && a->len == kern->subnet.len) {
			found = true;
			continue;
		}
		/* Another subnet's address on a bridge we made is ours to drop;
		 * on an adopted bridge it is its owner's business. */
		if (owned) {
			rc = kreq_addr(&kern->nl, false, br->ifindex, kern->bridge, a->addr, a->len,
				       err);
			if (rc < 0 && rc != -EADDRNOTAVAIL)
				return rc;
		}
	}
	if (!found) {
		rc = kreq_addr(&kern->nl, true, br->ifindex, kern->bridge, kern->bridge_addr,
			       kern->subnet.len, err);
		if (rc < 0)
			return rc;
	}
	if (kern->subnet6_set)
		return reconcile_bridge6(kern, br, owned, br == &created, addrs6, err);
	return 0;
}

/* The host end as the root dump shows it; fixes what differs. Returns
 * whether it exists. */
static int reconcile_host_veth(struct kern *kern, struct kern_ns *ns, const struct klink *host,
			       struct kern_error *err)
{
	struct kreq_link change = {
	    .up = !(host->flags & IFF_UP),
	    .master = host->master != kern->bridge_ifindex ? kern->bridge_ifindex : 0,
	    .master_name = kern->bridge,
	    .mtu = kern->mtu && host->mtu != kern->mtu ? kern->mtu : 0,
	    .alias = strcmp(host->alias, ns->alias) != 0 ? ns->alias : NULL,
	    .group = host->group != KERN_LINK_GROUP,
	    .hairpin = !host->hairpin || host->master != kern->bridge_ifindex,
	};

	return kreq_link_set(&kern->nl, host->ifindex, host->name, &change, err);
}

int ktopo_remove_namespace(struct kern *kern, const char *name, const struct klink *host,
			   bool known_ours, struct kern_error *err)
{
	bool exists, owned = known_ours;
	int nsfd, rc;

	/* Ownership is read from eth0, so before the pair goes. */
	exists = knetns_open(name, &nsfd) == 0;
	if (exists) {
		if (!owned)
			owned = knetns_is_owned(nsfd, kern->self_fd, NULL);
		close(nsfd);
	}
	/* Deleting the host end first frees its name at once; the namespace
	 * itself is torn down by the kernel asynchronously. */
	if (host) {
		rc = kreq_link_del(&kern->nl, host->ifindex, host->name, err);
		if (rc < 0 && rc != -ENODEV)
			return rc;
	}
	if (!exists || !owned)
		return 0;
	rc = knetns_remove(name, err);
	if (rc < 0) {
		kern->stats.errors++;
		return rc;
	}
	kern->stats.changes++;
	log_info("removed namespace %s", name);
	return 0;
}

static bool desired_ns(const struct kern *kern, const char *name)
{
	for (unsigned i = 0; i < kern->n_ns; i++)
		if (!kern->ns[i]->is_cni && strcmp(kern->ns[i]->name, name) == 0)
			return true;
	return false;
}

static bool desired_host_end(const struct kern *kern, const char *host_ifname)
{
	for (unsigned i = 0; i < kern->n_ns; i++)
		if (strcmp(kern->ns[i]->host_ifname, host_ifname) == 0)
			return true;
	return false;
}

struct ns_made {
	struct knetns_maker *maker;
	unsigned job;
};

/* One namespace's pass (reconcile_ns), shared by its steps. The dumps are
 * read only when the namespace existed before the pass, and stay empty
 * otherwise. p->nl is never copied: its error callback points at it. */
struct ns_pass {
	struct kern *kern;
	struct kern_ns *ns;
	const struct klink *host; /* our host end in the root dump, or NULL */
	int nsfd;
	struct knl nl; /* the request socket inside the namespace */
	bool fresh;    /* made in this pass: nothing in it but lo, up */
	bool new_eth0; /* the pair was made in this pass: eth0 has nothing yet */
	struct klinks links;
	struct kaddrs addrs;
	struct kroutes routes;
	struct kaddrs6 addrs6;	 /* with subnet6 only */
	struct kroutes6 routes6; /* with subnet6 only */
};

/* ns_open()'s answer for an attachment whose namespace is gone. */
#define NS_GONE 1

/* An attachment's namespace: the runtime's, opened and never made. When it
 * is gone, or the file at its path is another namespace now, there is
 * nothing to build (NS_GONE) until the runtime's DEL removes the entry. */
static int ns_open_attachment(struct ns_pass *p, struct kern_error *err)
{
	struct kern_ns *ns = p->ns;
	int rc = knetns_open_attachment(&ns->cni, &p->nsfd);

	if (rc == -ENOENT || rc == -ESTALE) {
		if (!ns->gone)
			log_info("%s: namespace %s %s; waiting for the runtime to remove it",
				 ns->name, ns->cni.netns,
				 rc == -ENOENT ? "no longer exists" : "is another namespace now");
		ns->gone = true;
		return NS_GONE;
	}
	if (rc < 0) {
		kern_errorf(err, "cannot open namespace %s of %s: %s", ns->cni.netns, ns->name,
			    strerror(-rc));
		return rc;
	}
	ns->gone = false;
	return kwatch_learn_nsid(p->kern, ns, p->nsfd, err);
}

/* Opens the namespace, or takes it from the maker (made) or creates it
 * when it is missing, and learns its id. */
static int ns_open(struct ns_pass *p, const struct ns_made *made, struct kern_error *err)
{
	struct kern *kern = p->kern;
	struct kern_ns *ns = p->ns;
	int rc;

	if (ns->is_cni)
		return ns_open_attachment(p, err);
	rc = made ? -ENOENT : knetns_open(ns->name, &p->nsfd);
	if (rc == -ENOENT) {
		rc = made ? knetns_maker_take(made->maker, made->job, &p->nsfd, &p->nl, err)
			  : knetns_create(ns->name, kern->self_fd, &p->nsfd, &p->nl, err);
		if (rc < 0) {
			kern->stats.errors++;
			return rc;
		}
		kern->stats.changes++;
		log_info("%s namespace %s", kern->repairing ? "repaired: created" : "created",
			 ns->name);
		p->fresh = true;
	} else if (rc < 0) {
		kern_errorf(err, "cannot open namespace %s: %s", ns->name, strerror(-rc));
		return rc;
	}
	return kwatch_learn_nsid(kern, ns, p->nsfd, err);
}

/* The request socket inside and, when the namespace existed, what is in it. */
static int ns_read(struct ns_pass *p, struct kern_error *err)
{
	struct kern *kern = p->kern;
	int rc;

	/* A namespace just made comes with the socket that brought its lo up. */
	if (p->fresh) {
		p->nl.stats = &kern->stats;
		p->nl.repairing = &kern->repairing;
		return 0;
	}
	rc = knetns_knl_open(&p->nl, p->nsfd, kern->self_fd, &kern->stats, &kern->repairing, err);
	if (rc == 0)
		rc = knl_dump_links(&p->nl, &p->links, err);
	if (rc == 0)
		rc = knl_dump_addrs(&p->nl, &p->addrs, err);
	if (rc == 0)
		rc = knl_dump_routes(&p->nl, &p->routes, err);
	if (rc == 0 && kern->subnet6_set)
		rc = knl_dump_addrs6(&p->nl, &p->addrs6, err);
	if (rc == 0 && kern->subnet6_set)
		rc = knl_dump_routes6(&p->nl, &p->routes6, err);
	return rc;
}

/* A new pair: the host end on the bridge, eth0 up inside with our alias. */
static int ns_make_pair(struct ns_pass *p, struct kern_error *err)
{
	struct kern *kern = p->kern;
	struct kern_ns *ns = p->ns;
	struct klink now;
	int rc;

	/* The host end's peer is gone or elsewhere: start the pair over. */
	if (p->host) {
		rc = kreq_link_del(&kern->nl, p->host->ifindex, p->host->name, err);
		if (rc < 0 && rc != -ENODEV)
			return rc;
	}
	/* Neither end gets an IPv6 link-local address: the host end is
	 * a bridge port and needs none, and eth0 needs none either
	 * (ns_addr6 says why; an operator can still give it one). Each one would
	 * be announced with MLD reports, which the bridge floods to
	 * every port while no querier is present: N namespaces made
	 * N^2 deliveries, the largest cost left in a bring-up of
	 * hundreds. The host end is told before eth0 is up (so before
	 * it has a carrier); eth0 inherits it from the default of a
	 * namespace we made (knetns_create): told in the same request
	 * that brings it up, the kernel may already have made one. */
	rc = kreq_veth_add(&kern->nl, ns->host_ifname, kern->bridge_ifindex, kern->mtu, p->nsfd,
			   p->fresh ? FRESH_ETH0_IFINDEX : 0, ns->ifname, ns->name, err);
	if (rc == 0)
		rc = kreq_link_set(
		    &kern->nl, 0, ns->host_ifname,
		    &(struct kreq_link){.alias = ns->alias, .no_ipv6_ll = true, .hairpin = true},
		    err);
	if (rc < 0)
		return rc;
	p->new_eth0 = true;
	if (p->fresh) {
		ns->eth0_ifindex = FRESH_ETH0_IFINDEX;
	} else {
		rc = knl_get_link(&p->nl, ns->ifname, &now, err);
		if (rc < 0)
			return rc;
		ns->eth0_ifindex = now.ifindex;
		memcpy(ns->mac, now.mac, KERN_MAC_LEN);
		ns->mtu = now.mtu;
	}
	return kreq_link_set(&p->nl, ns->eth0_ifindex, ns->ifname,
			     &(struct kreq_link){.up = true, .alias = ns->alias}, err);
}

/* The pair exists: fixes what differs on either end. */
static int ns_fix_pair(struct ns_pass *p, const struct klink *eth0, struct kern_error *err)
{
	struct kern *kern = p->kern;
	struct kern_ns *ns = p->ns;
	int rc;

	ns->eth0_ifindex = eth0->ifindex;
	if (p->host) {
		rc = reconcile_host_veth(kern, ns, p->host, err);
		if (rc < 0)
			return rc;
	}
	struct kreq_link change = {
	    .up = !(eth0->flags & IFF_UP),
	    .mtu = kern->mtu && eth0->mtu != kern->mtu ? kern->mtu : 0,
	    .alias = strcmp(eth0->alias, ns->alias) != 0 ? ns->alias : NULL,
	};

	memcpy(ns->mac, eth0->mac, KERN_MAC_LEN);
	ns->mtu = change.mtu ? change.mtu : eth0->mtu;
	return kreq_link_set(&p->nl, eth0->ifindex, ns->ifname, &change, err);
}

/* The veth pair and lo. */
static int ns_links(struct ns_pass *p, struct kern_error *err)
{
	const struct klink *eth0 = klinks_by_name(&p->links, p->ns->ifname);
	const struct klink *lo = klinks_by_index(&p->links, LOOPBACK_IFINDEX);
	const struct klink *host = p->host;
	int rc;

	/* eth0 must be the peer of our host end; anything else by that name
	 * is not ours to touch. */
	if (eth0 && (!host || strcmp(eth0->kind, "veth") != 0 || eth0->link != host->ifindex)) {
		if (strcmp(eth0->alias, p->ns->alias) != 0) {
			if (p->ns->is_cni)
				kern_errorf(err,
					    "cannot attach %s: namespace %s has an %s that nsagent "
					    "did not create",
					    p->ns->name, p->ns->cni.netns, p->ns->ifname);
			else
				kern_errorf(err,
					    "cannot set up namespace %s: it has an %s that nsagent "
					    "did not create",
					    p->ns->name, p->ns->ifname);
			return -EEXIST;
		}
		rc = kreq_link_del(&p->nl, eth0->ifindex, p->ns->ifname, err);
		if (rc < 0)
			return rc;
		eth0 = NULL;
	}
	rc = eth0 ? ns_fix_pair(p, eth0, err) : ns_make_pair(p, err);
	if (rc < 0)
		return rc;
	/* A namespace just made has lo up already (knetns_create); an
	 * attachment's lo is its runtime's business. */
	if (!p->fresh && !p->ns->is_cni && (!lo || !(lo->flags & IFF_UP)))
		rc = kreq_link_set(&p->nl, LOOPBACK_IFINDEX, "lo", &(struct kreq_link){.up = true},
				   err);
	return rc;
}

/* eth0's address: ours, and no other. */
static int ns_addr(struct ns_pass *p, struct kern_error *err)
{
	struct kern_ns *ns = p->ns;
	bool have_addr = false;
	int rc;

	for (unsigned i = 0; !p->new_eth0 && i < p->addrs.n; i++) {
		const struct kaddr *a = &p->addrs.v[i];

		if (a->ifindex != ns->eth0_ifindex)
			continue;
		if (a->addr == ns->addr && a->len == p->kern->subnet.len) {
			have_addr = true;
			continue;
		}
		rc = kreq_addr(&p->nl, false, a->ifindex, ns->ifname, a->addr, a->len, err);
		if (rc < 0 && rc != -EADDRNOTAVAIL)
			return rc;
	}
	if (have_addr)
		return 0;
	return kreq_addr(&p->nl, true, ns->eth0_ifindex, ns->ifname, ns->addr, p->kern->subnet.len,
			 err);
}

/* The default route via the bridge's address. */
static int ns_default_route(struct ns_pass *p, struct kern_error *err)
{
	struct kern *kern = p->kern;
	char where[CFG_NS_NAME_MAX + 16];
	struct nodeaddr gateway;

	for (unsigned i = 0; !p->new_eth0 && i < p->routes.n; i++) {
		const struct kroute *r = &p->routes.v[i];

		if (r->table == RT_TABLE_MAIN && r->len == 0 && r->type == RTN_UNICAST &&
		    r->gateway == kern->bridge_addr && r->oif == p->ns->eth0_ifindex)
			return 0;
	}
	snprintf(where, sizeof(where), "in namespace %s", p->ns->name);
	gateway = nodeaddr_v4(kern->bridge_addr);
	return kreq_route(&p->nl, KREQ_ROUTE_REPLACE, 0, 0, &gateway, p->ns->eth0_ifindex, false,
			  where, err);
}

/* eth0's IPv6 address: ours, and no other global one; its link-local
 * address, if it has one (an attachment's runtime may give it one), stays.
 * Neither end of a namespace's veth gets a link-local address (see
 * ns_make_pair): neighbour discovery works from the global addresses
 * (solicitations from eth0's, answers from the target's), and the default
 * route's gateway is the bridge's global ::1, on-link through eth0's /64.
 * RFC 4861 wants routers to be reached by link-local addresses only for
 * redirects and router adverts, which the bridge never sends. */
static int ns_addr6(struct ns_pass *p, struct kern_error *err)
{
	struct kern_ns *ns = p->ns;
	uint8_t len = p->kern->subnet6.len;
	bool have_addr = false;
	int rc;

	for (unsigned i = 0; !p->new_eth0 && i < p->addrs6.n; i++) {
		const struct kaddr6 *a = &p->addrs6.v[i];

		if (a->ifindex != ns->eth0_ifindex || addr6_is_link_local(&a->addr))
			continue;
		if (a->len == len && memcmp(&a->addr, &ns->addr6, sizeof(a->addr)) == 0) {
			have_addr = true;
			continue;
		}
		rc = kreq_addr6(&p->nl, false, a->ifindex, ns->ifname, &a->addr, a->len, err);
		if (rc < 0 && rc != -EADDRNOTAVAIL)
			return rc;
	}
	if (have_addr)
		return 0;
	return kreq_addr6(&p->nl, true, ns->eth0_ifindex, ns->ifname, &ns->addr6, len, err);
}

static bool is_default6_via(const struct kroute6 *r, const struct in6_addr *gateway, int oif)
{
	return r->table == RT_TABLE_MAIN && r->len == 0 && r->type == RTN_UNICAST &&
	       memcmp(&r->gateway, gateway, sizeof(*gateway)) == 0 && r->oif == oif;
}

/* The default IPv6 route via the bridge's ::1. */
static int ns_default_route6(struct ns_pass *p, struct kern_error *err)
{
	struct kern *kern = p->kern;
	char where[CFG_NS_NAME_MAX + 16];

	for (unsigned i = 0; !p->new_eth0 && i < p->routes6.n; i++)
		if (is_default6_via(&p->routes6.v[i], &kern->bridge_addr6, p->ns->eth0_ifindex))
			return 0;
	snprintf(where, sizeof(where), "in namespace %s", p->ns->name);
	return kreq_route6(&p->nl, KREQ_ROUTE_REPLACE, NULL, 0, &kern->bridge_addr6,
			   p->ns->eth0_ifindex, false, where, err);
}

/* made: the namespace's result from the maker (it was missing when the pass
 * began), or NULL to open it, or create it when missing. */
static int reconcile_ns(struct kern *kern, struct kern_ns *ns, const struct klinks *root_links,
			const struct ns_made *made, struct kern_error *err)
{
	struct ns_pass p = {.kern = kern,
			    .ns = ns,
			    .host = klinks_by_name(root_links, ns->host_ifname),
			    .nsfd = -1};
	int rc;

	ns->dirty = false;
	rc = ns_open(&p, made, err);
	if (rc == NS_GONE) {
		rc = 0;
		goto out;
	}
	if (rc == 0)
		rc = ns_read(&p, err);
	if (rc == 0)
		rc = ns_links(&p, err);
	if (rc == 0)
		rc = ns_addr(&p, err);
	if (rc == 0)
		rc = ns_default_route(&p, err);
	if (rc == 0 && kern->subnet6_set)
		rc = ns_addr6(&p, err);
	if (rc == 0 && kern->subnet6_set)
		rc = ns_default_route6(&p, err);
	if (rc < 0)
		goto out;
	/* Everything our steps caused is queued by now (notifications are
	 * sent before the acks): read it, dropping this namespace's. */
	if (p.fresh)
		kwatch_read(kern, ns);
out:
	if (rc < 0)
		ns->dirty = true;
	knl_close(&p.nl);
	if (p.nsfd >= 0)
		close(p.nsfd);
	free(p.links.v);
	free(p.addrs.v);
	free(p.routes.v);
	free(p.addrs6.v);
	free(p.routes6.v);
	return rc;
}

int ktopo_check_attachment(struct kern *kern, struct kern_ns *ns, struct kern_error *err)
{
	struct ns_pass p = {.kern = kern, .ns = ns, .nsfd = -1};
	const struct klink *link;
	bool have_addr = false, have_route = false;
	int rc = knetns_open_attachment(&ns->cni, &p.nsfd);

	if (rc < 0) {
		kern_errorf(err, "namespace %s of %s %s", ns->cni.netns, ns->name,
			    rc == -ENOENT   ? "does not exist"
			    : rc == -ESTALE ? "is another namespace now"
					    : strerror(-rc));
		return rc;
	}
	rc = ns_read(&p, err);
	if (rc < 0)
		goto out;
	rc = -EINVAL;
	link = klinks_by_name(&p.links, ns->ifname);
	if (!link || strcmp(link->kind, "veth") != 0 || strcmp(link->alias, ns->alias) != 0) {
		kern_errorf(err, "%s in %s is %s", ns->ifname, ns->cni.netns,
			    !link ? "missing" : "not the veth nsagent made");
		rc = -ENODEV;
		goto out;
	}
	if (!(link->flags & IFF_UP) || (kern->mtu && link->mtu != kern->mtu)) {
		kern_errorf(err, "%s in %s is %s", ns->ifname, ns->cni.netns,
			    !(link->flags & IFF_UP) ? "down" : "not at the data path's MTU");
		goto out;
	}
	for (unsigned i = 0; i < p.addrs.n; i++)
		have_addr |= p.addrs.v[i].ifindex == link->ifindex &&
			     p.addrs.v[i].addr == ns->addr && p.addrs.v[i].len == kern->subnet.len;
	for (unsigned i = 0; i < p.routes.n; i++) {
		const struct kroute *r = &p.routes.v[i];

		have_route |= r->table == RT_TABLE_MAIN && r->len == 0 && r->type == RTN_UNICAST &&
			      r->gateway == kern->bridge_addr && r->oif == link->ifindex;
	}
	if (!have_addr || !have_route) {
		char a[ADDR_STRLEN], gw[ADDR_STRLEN];

		kern_errorf(err, "%s in %s has no %s %s", ns->ifname, ns->cni.netns,
			    !have_addr ? "address" : "default route via",
			    !have_addr ? addr_format(ns->addr, a)
				       : addr_format(kern->bridge_addr, gw));
		goto out;
	}
	if (kern->subnet6_set) {
		have_addr = have_route = false;
		for (unsigned i = 0; i < p.addrs6.n; i++)
			have_addr |=
			    p.addrs6.v[i].ifindex == link->ifindex &&
			    p.addrs6.v[i].len == kern->subnet6.len &&
			    memcmp(&p.addrs6.v[i].addr, &ns->addr6, sizeof(ns->addr6)) == 0;
		for (unsigned i = 0; i < p.routes6.n; i++)
			have_route |=
			    is_default6_via(&p.routes6.v[i], &kern->bridge_addr6, link->ifindex);
		if (!have_addr || !have_route) {
			char a[ADDR6_STRLEN];

			kern_errorf(err, "%s in %s has no %s %s", ns->ifname, ns->cni.netns,
				    !have_addr ? "IPv6 address" : "default route via",
				    addr6_format(!have_addr ? &ns->addr6 : &kern->bridge_addr6, a));
			goto out;
		}
	}
	rc = 0;
out:
	knl_close(&p.nl);
	close(p.nsfd);
	free(p.links.v);
	free(p.addrs.v);
	free(p.routes.v);
	free(p.addrs6.v);
	free(p.routes6.v);
	return rc;
}

#define NO_JOB UINT_MAX

/* A full pass first hands the namespaces that do not exist yet, when there
 * are two or more, to a maker thread (knetns_maker_start): job_of[i] is
 * kern->ns[i]'s job, or NO_JOB. NULL (and no job_of) otherwise. */
static struct knetns_maker *start_maker(struct kern *kern, unsigned **job_of)
{
	const char **names = xcalloc(kern->n_ns ? kern->n_ns : 1, sizeof(*names));
	unsigned *jobs = xcalloc(kern->n_ns ? kern->n_ns : 1, sizeof(*jobs));
	struct knetns_maker *maker = NULL;
	unsigned n = 0;

	for (unsigned i = 0; i < kern->n_ns; i++) {
		int fd, rc;

		if (kern->ns[i]->is_cni) {
			jobs[i] = NO_JOB;
			continue;
		}
		rc = knetns_open(kern->ns[i]->name, &fd);
		if (rc == 0)
			close(fd);
		jobs[i] = rc == -ENOENT ? n : NO_JOB;
		if (rc == -ENOENT)
			names[n++] = kern->ns[i]->name;
	}
	if (n >= 2)
		maker = knetns_maker_start(names, n, kern->self_fd);
	free(names);
	if (maker)
		*job_of = jobs;
	else
		free(jobs);
	return maker;
}

/* Root scope (ip_forward, bridge, host ends, namespaces we own but no longer
 * want), then every namespace (all) or only the dirty ones. */
int ktopo_reconcile(struct kern *kern, bool all, struct kern_error *err)
{
	struct klinks links = {0};
	struct kaddrs addrs = {0};
	struct kaddrs6 addrs6 = {0};
	struct kern_error e = {{0}};
	struct knetns_maker *maker = NULL;
	unsigned *job_of = NULL;
	int first = 0, rc;

	kern->root_dirty = false;
	if (all)
		maker = start_maker(kern, &job_of);
	kern_keep_first(ensure_forwarding(kern, &e), &first, err, &e);
	rc = knl_dump_links(&kern->nl, &links, &e);
	if (rc == 0)
		rc = knl_dump_addrs(&kern->nl, &addrs, &e);
	if (rc == 0 && kern->subnet6_set)
		rc = knl_dump_addrs6(&kern->nl, &addrs6, &e);
	if (rc == 0)
		rc = reconcile_bridge(kern, &links, &addrs, &addrs6, &e);
	if (rc < 0) {
		kern_keep_first(rc, &first, err, &e);
		kern->root_dirty = true;
		goto out;
	}
	int vx_before = kern->vxlan_ifindex;

	rc = kvxlan_reconcile_device(&kern->nl, &links, &addrs, kern->vtep, &kern->vtep6,
				     kern->vtep_mac, kern->vxlan_mtu, kern->subnet.addr,
				     &kern->vxlan_ifindex, &e);
	if (rc < 0) {
		kern_keep_first(rc, &first, err, &e);
		kern->root_dirty = true;
	} else if (kern->vxlan_ifindex != vx_before && kern->have_routes) {
		/* A new device has none of the per-peer entries and routes. */
		kern->routes_dirty = true;
		kwatch_schedule(kern, "VXLAN device %s (re)created", KERN_VXLAN_IFNAME);
	}
	int wg_before = kern->wg_ifindex;

	rc = kwg_reconcile_device(&kern->nl, &links, &addrs, kern->wg, kern->wg_kernel,
				  kern->wg_mtu, kern->subnet.addr, &kern->wg_ifindex, &e);
	if (rc < 0) {
		kern_keep_first(rc, &first, err, &e);
		kern->root_dirty = true;
	} else if (kern->wg_ifindex && kern->wg_ifindex != wg_before && kern->have_routes) {
		/* Routes through a device go with it. */
		kern->routes_dirty = true;
		kwatch_schedule(kern, "WireGuard device %s (re)created", KERN_WG_IFNAME);
	}

	for (unsigned i = 0; i < links.n; i++) {
		const struct klink *l = &links.v[i];
		const char *owner = kern_host_end_of(l);

		/* An attachment no longer wanted: its pair goes, its namespace
		 * stays with the runtime. */
		if (kern_is_cni_host_end(l) && !desired_host_end(kern, l->name)) {
			rc = kreq_link_del(&kern->nl, l->ifindex, l->name, &e);
			if (rc != -ENODEV)
				kern_keep_first(rc, &first, err, &e);
			continue;
		}
		if (!owner || desired_ns(kern, owner))
			continue;
		kern_keep_first(ktopo_remove_namespace(kern, owner, l, false, &e), &first, err, &e);
	}
	for (unsigned i = 0; i < kern->n_ns; i++) {
		struct kern_ns *ns = kern->ns[i];
		const struct klink *host = klinks_by_name(&links, ns->host_ifname);

		struct ns_made made = {maker, job_of ? job_of[i] : NO_JOB};

		if (made.job != NO_JOB) {
			kern_keep_first(reconcile_ns(kern, ns, &links, &made, &e), &first, err, &e);
			continue;
		}
		if (all || ns->dirty || !host || ns->nsid < 0) {
			kern_keep_first(reconcile_ns(kern, ns, &links, NULL, &e), &first, err, &e);
			continue;
		}
		kern_keep_first(reconcile_host_veth(kern, ns, host, &e), &first, err, &e);
	}
out:
	knetns_maker_finish(maker);
	free(job_of);
	free(links.v);
	free(addrs.v);
	free(addrs6.v);
	return first;
}
