/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the VXLAN device and its per-peer entries.
 *
 * The device KERN_VXLAN_IFNAME carries KERN_ALIAS_VXLAN. It is created
 * with VNI KERN_VXLAN_VNI, UDP port KERN_VXLAN_PORT, the node IP as local
 * address (IPv4 or IPv6: the underlay's family; one device has one), a
 * MAC the caller derives from that address, no learning and no
 * default remote: a frame whose destination MAC has no FDB entry is
 * dropped, never flooded. Settings that cannot be changed in place (VNI,
 * local, port, learning, MAC, a remote) make reconcile re-create it.
 *
 * Every neighbour and FDB entry on the owned device is ours: reconcile
 * makes them exactly the set that the vxlan routes need (per route one
 * permanent neighbour, dst's network address -> the peer's VTEP MAC; per
 * MAC one permanent FDB entry -> the peer's VTEP address, of either
 * family) and deletes
 * anything else, such as an all-zero MAC entry that would flood. An IPv6
 * route's neighbour is its link-local gateway (the EUI-64 address of the
 * peer's VTEP MAC) -> that MAC; it shares the FDB entry of the MAC with
 * the peer's IPv4 route. The kernel's own IPv6 multicast entries (ff00::/8
 * -> 33:33:..., made when the device, which has IPv6 for those routes,
 * sends MLD reports) are left alone: they come back whenever the kernel
 * sends again, and no FDB entry takes those MACs anywhere. */
#include <errno.h>
#include <linux/neighbour.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kern_priv.h"
#include "nsagent/log.h"
#include "nsagent/xalloc.h"

bool kvtep_set(uint32_t vtep, const struct in6_addr *vtep6)
{
	return vtep || !addr6_is_zero(vtep6);
}

static bool same_settings(const struct klink *l, uint32_t vtep, const struct in6_addr *vtep6,
			  const uint8_t mac[KERN_MAC_LEN])
{
	return strcmp(l->kind, "vxlan") == 0 && l->vxlan_vni == KERN_VXLAN_VNI &&
	       l->vxlan_local == vtep && memcmp(&l->vxlan_local6, vtep6, sizeof(*vtep6)) == 0 &&
	       l->vxlan_port == KERN_VXLAN_PORT && !l->vxlan_learning && !l->vxlan_has_remote &&
	       memcmp(l->mac, mac, KERN_MAC_LEN) == 0;
}

int kvxlan_reconcile_device(struct knl *nl, const struct klinks *links, const struct kaddrs *addrs,
			    uint32_t vtep, const struct in6_addr *vtep6,
			    const uint8_t mac[KERN_MAC_LEN], unsigned mtu, uint32_t addr,
			    int *ifindex, struct kern_error *err)
{
	const struct klink *l = klinks_by_name(links, KERN_VXLAN_IFNAME);
	struct klink created = {0};
	int rc;

	*ifindex = 0;
	if (!kvtep_set(vtep, vtep6)) {
		/* No VXLAN wanted (backend direct): an owned device goes, under
		 * whatever name it has now. */
		for (unsigned i = 0; i < links->n; i++) {
			if (strcmp(links->v[i].alias, KERN_ALIAS_VXLAN) != 0)
				continue;
			rc = kreq_link_del(nl, links->v[i].ifindex, links->v[i].name, err);
			if (rc < 0 && rc != -ENODEV)
				return rc;
		}
		return 0;
	}
	if (l && strcmp(l->alias, KERN_ALIAS_VXLAN) != 0) {
		kern_errorf(err,
			    "cannot use %s as the VXLAN device: a %s link by that name exists "
			    "that nsagent did not create",
			    KERN_VXLAN_IFNAME, l->kind[0] ? l->kind : "non-vxlan");
		return -EEXIST;
	}
	if (l && !same_settings(l, vtep, vtep6, mac)) {
		log_info("VXLAN device %s has other settings than wanted: re-creating it",
			 KERN_VXLAN_IFNAME);
		rc = kreq_link_del(nl, l->ifindex, l->name, err);
		if (rc < 0 && rc != -ENODEV)
			return rc;
		l = NULL;
	}
	if (!l) {
		rc = kreq_vxlan_add(nl, KERN_VXLAN_IFNAME, KERN_VXLAN_VNI, vtep, vtep6,
				    KERN_VXLAN_PORT, mac, mtu, err);
		if (rc == 0)
			rc = kreq_link_set(nl, 0, KERN_VXLAN_IFNAME,
					   &(struct kreq_link){.alias = KERN_ALIAS_VXLAN}, err);
		if (rc == 0)
			rc = knl_get_link(nl, KERN_VXLAN_IFNAME, &created, err);
		if (rc < 0)
			return rc;
		l = &created;
	} else {
		rc = kreq_link_set(nl, l->ifindex, l->name,
				   &(struct kreq_link){.up = !(l->flags & IFF_UP),
						       .mtu = mtu && l->mtu != mtu ? mtu : 0,
						       .group = l->group != KERN_LINK_GROUP},
				   err);
		if (rc < 0)
			return rc;
	}
	*ifindex = l->ifindex;
	return kaddr_only(nl, l == &created ? NULL : addrs, l->ifindex, KERN_VXLAN_IFNAME, addr,
			  err);
}

int kvxlan_ifindex(struct knl *nl, struct kern_error *err)
{
	struct klink l;
	int rc = knl_get_link(nl, KERN_VXLAN_IFNAME, &l, err);

	if (rc == -ENODEV)
		return 0;
	if (rc < 0)
		return rc;
	return strcmp(l.alias, KERN_ALIAS_VXLAN) == 0 ? l.ifindex : 0;
}

/* Index of the vxlan route that wants this entry exactly, or -1. */
static int wanted_by(const struct kneigh *e, const struct kern_route *want, unsigned n)
{
	if (!(e->state & NUD_PERMANENT))
		return -1;
	for (unsigned i = 0; i < n; i++) {
		const struct kern_route *r = &want[i];

		if (r->mode != KERN_MODE_VXLAN || memcmp(r->vtep_mac, e->mac, KERN_MAC_LEN) != 0)
			continue;
		if (e->family == AF_BRIDGE
			? e->dst == r->vtep && memcmp(&e->dst6, &r->vtep6, sizeof(e->dst6)) == 0
		    : e->family == AF_INET6
			? r->ipv6 && memcmp(&e->dst6, &r->gateway6, sizeof(e->dst6)) == 0
			: !r->ipv6 && e->dst == r->dst.addr)
			return (int)i;
	}
	return -1;
}

bool kvxlan_entry_kernels(const struct kneigh *e)
{
	return e->family == AF_INET6 && e->dst6.s6_addr[0] == 0xff;
}

bool kvxlan_entry_wanted(const struct kneigh *e, const struct kern_route *want, unsigned n)
{
	return wanted_by(e, want, n) >= 0;
}

static int reconcile_family(struct knl *nl, uint8_t family, int ifindex,
			    const struct kern_route *want, unsigned n, struct kern_error *err)
{
	struct kneighs have = {0};
	struct kern_error e = {{0}};
	bool *present = xcalloc(n + 1, sizeof(*present));
	int first = 0, rc;

	rc = knl_dump_neighs(nl, family, &have, err);
	if (rc < 0) {
		first = rc;
		goto out;
	}
	for (unsigned i = 0; i < have.n; i++) {
		const struct kneigh *h = &have.v[i];
		int w;

		if (h->ifindex != ifindex || h->family != family || kvxlan_entry_kernels(h))
			continue;
		w = wanted_by(h, want, n);
		if (w >= 0) {
			present[w] = true;
			continue;
		}
		rc = family == AF_INET6
			 ? kreq_neigh6(nl, true, ifindex, KERN_VXLAN_IFNAME, &h->dst6, h->mac, &e)
			 : kreq_neigh(nl, true, family, ifindex, KERN_VXLAN_IFNAME, h->dst, h->mac,
				      &e);
		if (rc < 0 && rc != -ENOENT && first == 0) {
			first = rc;
			*err = e;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		const struct kern_route *r = &want[i];
		bool dup = false;

		if (r->mode != KERN_MODE_VXLAN || present[i] || (family == AF_INET && r->ipv6) ||
		    (family == AF_INET6 && !r->ipv6))
			continue;
		/* One FDB entry per MAC (a peer with several subnets). */
		for (unsigned j = 0; family == AF_BRIDGE && j < i; j++)
			dup |= want[j].mode == KERN_MODE_VXLAN &&
			       memcmp(want[j].vtep_mac, r->vtep_mac, KERN_MAC_LEN) == 0;
		for (unsigned j = 0; family == AF_BRIDGE && !dup && j < n; j++)
			dup |= present[j] && want[j].mode == KERN_MODE_VXLAN &&
			       memcmp(want[j].vtep_mac, r->vtep_mac, KERN_MAC_LEN) == 0;
		if (dup)
			continue;
		if (family == AF_INET6)
			rc = kreq_neigh6(nl, false, ifindex, KERN_VXLAN_IFNAME, &r->gateway6,
					 r->vtep_mac, &e);
		else if (family == AF_BRIDGE && !r->vtep)
			rc = kreq_fdb6(nl, ifindex, KERN_VXLAN_IFNAME, r->vtep_mac, &r->vtep6, &e);
		else
			rc = kreq_neigh(nl, false, family, ifindex, KERN_VXLAN_IFNAME,
					family == AF_BRIDGE ? r->vtep : r->dst.addr, r->vtep_mac,
					&e);
		if (rc < 0 && first == 0) {
			first = rc;
			*err = e;
		}
	}
out:
	free(have.v);
	free(present);
	return first;
}

int kvxlan_reconcile_entries(struct knl *nl, int ifindex, const struct kern_route *want, unsigned n,
			     struct kern_error *err)
{
	struct kern_error e = {{0}};
	int first;

	first = reconcile_family(nl, AF_BRIDGE, ifindex, want, n, err);
	kern_keep_first(reconcile_family(nl, AF_INET, ifindex, want, n, &e), &first, err, &e);
	kern_keep_first(reconcile_family(nl, AF_INET6, ifindex, want, n, &e), &first, err, &e);
	return first;
}
