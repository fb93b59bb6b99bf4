/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the WireGuard device, as the kernel layer sees it (issue 19).
 *
 * The device KERN_WG_IFNAME is made by the userspace implementation the
 * agent runs (src/wg.c starts wireguard-go), not here: a tun device is
 * only alive while its process holds it. With kernel WireGuard (src/wg.c
 * found its generic-netlink family) it is made here, kind "wireguard",
 * and configured by src/wggenl.c. What this file owns is its
 * network side: the alias KERN_ALIAS_WG and device group that make it
 * ours for `nsagent down`, its MTU (the underlay's less WireGuard's
 * overhead), the subnet's network address as a /32 (the source the
 * kernel picks for this host's own packets to peers, an address inside
 * the subnet peers allow from us), and up. A device absent when wanted
 * is not an error: its process is (re)starting, and the link event of
 * the new device makes the watcher run this again (watch.c).
 *
 * Routes through it are routes.c's: `dst via node-ip dev nsa-wg onlink`. */
#include <errno.h>
#include <string.h>

#include "kern_priv.h"
#include "nsagent/log.h"

int kwg_reconcile_device(struct knl *nl, const struct klinks *links, const struct kaddrs *addrs,
			 bool wanted, bool create, unsigned mtu, uint32_t addr, int *ifindex,
			 struct kern_error *err)
{
	const struct klink *l = klinks_by_name(links, KERN_WG_IFNAME);
	struct klink made;
	int rc;

	memset(&made, 0, sizeof(made));
	*ifindex = 0;
	if (!wanted) {
		for (unsigned i = 0; i < links->n; i++) {
			if (strcmp(links->v[i].alias, KERN_ALIAS_WG) != 0)
				continue;
			rc = kreq_link_del(nl, links->v[i].ifindex, links->v[i].name, err);
			if (rc < 0 && rc != -ENODEV)
				return rc;
		}
		return 0;
	}
	if (!l && create) {
		rc = kreq_wireguard_add(nl, KERN_WG_IFNAME, mtu, err);
		if (rc == 0)
			rc = knl_get_link(nl, KERN_WG_IFNAME, &made, err);
		if (rc < 0)
			return rc;
		l = &made;
	}
	if (!l)
		return 0;
	/* A tun device by our name without our alias is the one our process
	 * just made (the kernel takes no alias at creation); anything else by
	 * that name is someone else's. */
	if (strcmp(l->alias, KERN_ALIAS_WG) != 0 && strcmp(l->kind, "tun") != 0 &&
	    strcmp(l->kind, "wireguard") != 0) {
		kern_errorf(err,
			    "cannot use %s as the WireGuard device: a %s link by that name exists "
			    "that nsagent did not create",
			    KERN_WG_IFNAME, l->kind[0] ? l->kind : "non-tun");
		return -EEXIST;
	}
	rc = kreq_link_set(nl, l->ifindex, l->name,
			   &(struct kreq_link){
			       .up = !(l->flags & IFF_UP),
			       .mtu = mtu && l->mtu != mtu ? mtu : 0,
			       .alias = strcmp(l->alias, KERN_ALIAS_WG) != 0 ? KERN_ALIAS_WG : NULL,
			       .group = l->group != KERN_LINK_GROUP},
			   err);
	if (rc < 0)
		return rc;
	*ifindex = l->ifindex;
	return kaddr_only(nl, addrs, l->ifindex, KERN_WG_IFNAME, addr, err);
}

int kwg_ifindex(struct knl *nl, struct kern_error *err)
{
	struct klink l;
	int rc = knl_get_link(nl, KERN_WG_IFNAME, &l, err);

	if (rc == -ENODEV)
		return 0;
	return rc < 0 ? rc : l.ifindex;
}
