/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the agent's routes in the main table, and source-address lookup.
 * A route is ours when it is an IPv4 unicast route of the main table with
 * protocol KERN_RTPROT; nothing else is ever changed or deleted here (a
 * delete request carries the protocol, so the kernel itself refuses to
 * match another owner's route). Reconcile dumps once and then adds what
 * is missing, replaces what points elsewhere and deletes what is no longer
 * wanted; a route whose key another owner already holds is reported, not
 * taken over.
 *
 * A vxlan route (kern_route.mode) is `dst via dst.addr dev
 * KERN_VXLAN_IFNAME onlink`; its neighbour and FDB entries are reconciled
 * first (vxlan.c), so that the route never points at an unresolved
 * neighbour. Reading routes back for adoption rebuilds the peer's VTEP
 * address and MAC from those entries.
 *
 * IPv6 routes (kern_route.ipv6) are reconciled the same way beside them:
 * ours are IPv6 unicast routes of the main table with KERN_RTPROT, each
 * `dst6 via gateway6 dev ifname` (a peer's link-local address on our
 * underlay link) or `dst6 via gateway6 dev KERN_VXLAN_IFNAME onlink`.
 *
 * A wireguard route is `dst via node-ip dev KERN_WG_IFNAME onlink` (IPv6:
 * via fe80::7767:node-ip); for an IPv6 node both families go via its
 * nodeaddr_wg_next_hop (fe80::, its address's halves XORed): the device
 * routes by the peer's allowed IPs, and the gateway names the peer when
 * the route is read back (an IPv6 node's stands for it as it is, until
 * the node advertises and rib.c matches the two). While the
 * device is absent (its userspace process is starting) such routes are
 * left out without an error: the device's creation is drift the watcher
 * repairs, routes included. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "kern_priv.h"
#include "kern_state.h"
#include "nsagent/log.h"
#include "nsagent/xalloc.h"

bool kroute_is_owned(const struct kroute *r)
{
	return r->table == RT_TABLE_MAIN && r->protocol == KERN_RTPROT && r->type == RTN_UNICAST;
}

struct nodeaddr kroute_kernel_gateway(const struct kern_route *want)
{
	struct in6_addr next_hop;

	if (want->mode == KERN_MODE_VXLAN)
		return nodeaddr_v4(want->dst.addr);
	/* An IPv6 node's global address is on-link through the underlay
	 * device, and the kernel refuses it as a next hop on another one. */
	if (want->mode == KERN_MODE_WIREGUARD && want->gateway.family == AF_INET6) {
		nodeaddr_wg_next_hop(&want->gateway, &next_hop);
		return nodeaddr_v6(&next_hop);
	}
	return want->gateway;
}

struct nodeaddr kroute_gateway(const struct kroute *r)
{
	return addr6_is_zero(&r->via6) ? nodeaddr_v4(r->gateway) : nodeaddr_v6(&r->via6);
}

bool kroute_same_gateway(const struct kern_route *want, const struct kroute *r)
{
	struct nodeaddr have = kroute_gateway(r), wanted = kroute_kernel_gateway(want);

	return nodeaddr_equal(&have, &wanted);
}

/* The device an IPv6 route of want goes out of: the VXLAN or WireGuard
 * device, or its ifname (looked up once per name and pass in *cache). */
static int route6_oif(struct knl *nl, const struct kern_route *want, int vx_ifindex, int wg_ifindex,
		      struct klink *cache, struct kern_error *err)
{
	int rc;

	if (want->mode == KERN_MODE_VXLAN)
		return vx_ifindex;
	if (want->mode == KERN_MODE_WIREGUARD)
		return wg_ifindex;
	if (cache->ifindex > 0 && strcmp(cache->name, want->ifname) == 0)
		return cache->ifindex;
	rc = knl_get_link(nl, want->ifname, cache, err);
	if (rc == -ENODEV)
		kern_errorf(err, "cannot route %s: no device %s",
			    addr6_format_prefix(&want->dst6, (char[PREFIX6_STRLEN]){0}),
			    want->ifname);
	return rc < 0 ? rc : cache->ifindex;
}

/* The IPv6 half of kroutes_reconcile. */
static int reconcile6(struct knl *nl, const struct kern_route *want, unsigned n, int vx_ifindex,
		      int wg_ifindex, struct kern_error *err)
{
	struct kroutes6 have = {0};
	struct kern_error e = {{0}};
	struct klink link = {0};
	bool *present = xcalloc(n + 1, sizeof(*present));
	bool *differs = xcalloc(n + 1, sizeof(*differs));
	int first = 0, rc, oif;

	rc = knl_dump_routes6(nl, &have, err);
	if (rc < 0) {
		first = rc;
		goto out;
	}
	for (unsigned i = 0; i < have.n; i++) {
		const struct kroute6 *r = &have.v[i];
		unsigned j;

		if (!kroute6_is_owned(r))
			continue;
		for (j = 0; j < n; j++)
			if (want[j].ipv6 && want[j].dst6.len == r->len &&
			    memcmp(&want[j].dst6.addr, &r->dst, sizeof(r->dst)) == 0)
				break;
		if (j == n) {
			rc = kreq_route6(nl, KREQ_ROUTE_DEL, &r->dst, r->len, NULL, 0, false, NULL,
					 &e);
			if (rc != -ESRCH)
				kern_keep_first(rc, &first, err, &e);
			continue;
		}
		oif = route6_oif(nl, &want[j], vx_ifindex, wg_ifindex, &link, &e);
		if (memcmp(&r->gateway, &want[j].gateway6, sizeof(r->gateway)) == 0 && oif > 0 &&
		    r->oif == oif)
			present[j] = true;
		else
			differs[j] = true;
	}
	for (unsigned j = 0; j < n; j++) {
		bool vxlan = want[j].mode == KERN_MODE_VXLAN;
		bool wg = want[j].mode == KERN_MODE_WIREGUARD;
		char where[IFNAMSIZ + 8];

		if (!want[j].ipv6 || present[j])
			continue;
		oif = route6_oif(nl, &want[j], vx_ifindex, wg_ifindex, &link, &e);
		/* No WireGuard device: its process is (re)starting (src/wg.c
		 * says so when it cannot); the device's creation brings the
		 * routes (watch.c). */
		if (wg && oif == 0)
			continue;
		if (oif <= 0) {
			if (oif == 0)
				kern_errorf(
				    &e, "cannot add route %s over VXLAN: no device %s",
				    addr6_format_prefix(&want[j].dst6, (char[PREFIX6_STRLEN]){0}),
				    KERN_VXLAN_IFNAME);
			kern_keep_first(oif ? oif : -ENODEV, &first, err, &e);
			continue;
		}
		snprintf(where, sizeof(where), "dev %s",
			 vxlan ? KERN_VXLAN_IFNAME
			 : wg  ? KERN_WG_IFNAME
			       : want[j].ifname);
		/* As for IPv4: replace only our own route, add the rest with EXCL. */
		rc = kreq_route6(nl, differs[j] ? KREQ_ROUTE_REPLACE : KREQ_ROUTE_ADD,
				 &want[j].dst6.addr, want[j].dst6.len, &want[j].gateway6, oif,
				 vxlan || wg, where, &e);
		kern_keep_first(rc, &first, err, &e);
	}
out:
	free(have.v);
	free(present);
	free(differs);
	return first;
}

int kroutes_reconcile(struct knl *nl, const struct kern_route *want, unsigned n,
		      struct kern_error *err)
{
	struct kroutes have = {0};
	struct kern_error e = {{0}};
	bool *present = n ? xcalloc(n, sizeof(*present)) : NULL;
	bool *differs = n ? xcalloc(n, sizeof(*differs)) : NULL;
	int first = 0, rc, vx_ifindex, wg_ifindex;

	vx_ifindex = kvxlan_ifindex(nl, err);
	if (vx_ifindex < 0) {
		first = vx_ifindex;
		goto out;
	}
	wg_ifindex = kwg_ifindex(nl, err);
	if (wg_ifindex < 0) {
		first = wg_ifindex;
		goto out;
	}
	if (vx_ifindex > 0) {
		rc = kvxlan_reconcile_entries(nl, vx_ifindex, want, n, &e);
		if (rc < 0 && first == 0) {
			first = rc;
			*err = e;
		}
	}
	rc = knl_dump_routes(nl, &have, err);
	if (rc < 0) {
		first = rc;
		goto out;
	}
	for (unsigned i = 0; i < have.n; i++) {
		const struct kroute *r = &have.v[i];
		unsigned j;

		if (!kroute_is_owned(r))
			continue;
		for (j = 0; j < n; j++)
			if (!want[j].ipv6 && want[j].dst.addr == r->dst &&
			    want[j].dst.len == r->len)
				break;
		if (j == n) {
			rc = kreq_route(nl, KREQ_ROUTE_DEL, r->dst, r->len, NULL, 0, false, NULL,
					&e);
			if (rc < 0 && rc != -ESRCH && first == 0) {
				first = rc;
				*err = e;
			}
		} else if (kroute_same_gateway(&want[j], r) && r->tos == 0 &&
			   (want[j].mode != KERN_MODE_VXLAN || r->oif == vx_ifindex) &&
			   (want[j].mode != KERN_MODE_WIREGUARD || r->oif == wg_ifindex) &&
			   (want[j].mode == KERN_MODE_WIREGUARD || !wg_ifindex ||
			    r->oif != wg_ifindex)) {
			present[j] = true;
		} else {
			differs[j] = true;
		}
	}
	for (unsigned j = 0; j < n; j++) {
		bool vxlan = want[j].mode == KERN_MODE_VXLAN;
		bool wg = want[j].mode == KERN_MODE_WIREGUARD;
		int oif = vxlan ? vx_ifindex : wg ? wg_ifindex : 0;

		struct nodeaddr gateway;

		if (present[j] || want[j].ipv6)
			continue;
		if (wg && oif == 0)
			continue; /* as for IPv6 above */
		if (vxlan && oif == 0) {
			char p[PREFIX_STRLEN];

			if (first == 0) {
				kern_errorf(
				    err, "cannot add route %s over %s: no device %s",
				    addr_format_prefix(&(struct prefix){.addr = want[j].dst.addr,
									.len = want[j].dst.len},
						       p),
				    wg ? "WireGuard" : "VXLAN",
				    wg ? KERN_WG_IFNAME : KERN_VXLAN_IFNAME);
				first = -ENODEV;
			}
			continue;
		}
		/* Replace only our own route: when the key is free or another
		 * owner's, add with EXCL so that the latter is refused. */
		gateway = kroute_kernel_gateway(&want[j]);
		rc = kreq_route(nl, differs[j] ? KREQ_ROUTE_REPLACE : KREQ_ROUTE_ADD,
				want[j].dst.addr, want[j].dst.len, &gateway, oif, vxlan || wg,
				vxlan ? "dev " KERN_VXLAN_IFNAME
				: wg  ? "dev " KERN_WG_IFNAME
				      : NULL,
				&e);
		if (rc < 0 && first == 0) {
			first = rc;
			*err = e;
		}
	}
	kern_keep_first(reconcile6(nl, want, n, vx_ifindex, wg_ifindex, &e), &first, err, &e);

out:
	free(have.v);
	free(present);
	free(differs);
	return first;
}

/* The VTEP of neighbour nb's MAC (its FDB entry on device oif) into out,
 * which becomes a vxlan route; false when there is none. */
static bool fdb_vtep(int oif, const struct kneigh *nb, const struct kneighs *fdb,
		     struct kern_route *out)
{
	for (unsigned i = 0; i < fdb->n; i++) {
		const struct kneigh *f = &fdb->v[i];

		if (f->ifindex != oif || f->family != AF_BRIDGE || !kvtep_set(f->dst, &f->dst6) ||
		    memcmp(f->mac, nb->mac, KERN_MAC_LEN) != 0)
			continue;
		out->mode = KERN_MODE_VXLAN;
		out->gateway = f->dst ? nodeaddr_v4(f->dst) : nodeaddr_v6(&f->dst6);
		out->vtep = f->dst;
		out->vtep6 = f->dst6;
		memcpy(out->vtep_mac, nb->mac, KERN_MAC_LEN);
		return true;
	}
	return false;
}

/* A route through the VXLAN device back to what it was made from: the
 * neighbour entry of its gateway gives the MAC, the FDB entry of that MAC
 * the VTEP. False when either is missing (the route is then left out, and
 * removed by the next reconcile unless someone wants it again). */
static bool vxlan_route_from(const struct kroute *r, const struct kneighs *neighs,
			     const struct kneighs *fdb, struct kern_route *out)
{
	const struct kneigh *nb = NULL;

	for (unsigned i = 0; !nb && i < neighs->n; i++)
		if (neighs->v[i].ifindex == r->oif && neighs->v[i].family == AF_INET &&
		    neighs->v[i].dst == r->gateway && (neighs->v[i].state & NUD_PERMANENT))
			nb = &neighs->v[i];
	return nb && fdb_vtep(r->oif, nb, fdb, out);
}

/* An IPv6 route through the VXLAN device back to what it was made from:
 * the IPv6 neighbour entry of its gateway gives the MAC, the FDB entry of
 * that MAC the VTEP (also its node IP, which adoption matches). */
static bool vxlan_route6_from(const struct kroute6 *r, const struct kneighs *neighs6,
			      const struct kneighs *fdb, struct kern_route *out)
{
	for (unsigned i = 0; i < neighs6->n; i++) {
		const struct kneigh *nb = &neighs6->v[i];

		if (nb->ifindex != r->oif || nb->family != AF_INET6 ||
		    memcmp(&nb->dst6, &r->gateway, sizeof(nb->dst6)) != 0 ||
		    !(nb->state & NUD_PERMANENT))
			continue;
		return fdb_vtep(r->oif, nb, fdb, out);
	}
	return false;
}

/* Owned IPv6 routes appended to v (room for have.n more from *count). */
static int owned6(struct knl *nl, int vx_ifindex, int wg_ifindex, const struct kneighs *fdb,
		  struct kern_route **v, unsigned *count, struct kern_error *err)
{
	struct kroutes6 have = {0};
	struct kneighs neighs6 = {0};
	int rc = 0;

	if (vx_ifindex > 0)
		rc = knl_dump_neighs(nl, AF_INET6, &neighs6, err);
	if (rc == 0)
		rc = knl_dump_routes6(nl, &have, err);
	if (rc < 0)
		goto out;
	*v = xreallocarray(*v, *count + have.n + 1, sizeof(**v));
	for (unsigned i = 0; i < have.n; i++) {
		const struct kroute6 *r = &have.v[i];
		struct kern_route *k = &(*v)[*count];

		if (!kroute6_is_owned(r))
			continue;
		memset(k, 0, sizeof(*k));
		k->ipv6 = true;
		k->dst6 = (struct prefix6){.addr = r->dst, .len = r->len};
		k->gateway6 = r->gateway;
		/* A global next hop is a peer's node address on an IPv6
		 * underlay: adoption matches it as the node's. */
		if (!addr6_is_link_local(&r->gateway) && !addr6_is_zero(&r->gateway))
			k->gateway = nodeaddr_v6(&r->gateway);
		if (vx_ifindex > 0 && r->oif == vx_ifindex) {
			if (!vxlan_route6_from(r, &neighs6, fdb, k))
				continue;
		} else if (wg_ifindex > 0 && r->oif == wg_ifindex) {
			uint32_t node_ip;

			if (!addr6_is_link_local(&r->gateway))
				continue;
			/* An IPv6 node's next hop cannot be read back into its
			 * address: it stands for the node until the node
			 * advertises (rib.c adopted_by matches it). */
			k->gateway = addr6_link_local_to_ipv4(&r->gateway, &node_ip)
					 ? nodeaddr_v4(node_ip)
					 : nodeaddr_v6(&r->gateway);
			k->mode = KERN_MODE_WIREGUARD;
		} else if (!if_indextoname((unsigned)r->oif, k->ifname)) {
			continue;
		}
		(*count)++;
	}
out:
	free(have.v);
	free(neighs6.v);
	return rc;
}

int kroutes_owned(struct knl *nl, struct kern_route **out, unsigned *n, struct kern_error *err)
{
	struct kroutes have = {0};
	struct kneighs neighs = {0}, fdb = {0};
	struct kern_route *v;
	unsigned count = 0;
	int rc, vx_ifindex, wg_ifindex;

	vx_ifindex = kvxlan_ifindex(nl, err);
	if (vx_ifindex < 0)
		return vx_ifindex;
	wg_ifindex = kwg_ifindex(nl, err);
	if (wg_ifindex < 0)
		return wg_ifindex;
	if (vx_ifindex > 0) {
		rc = knl_dump_neighs(nl, AF_INET, &neighs, err);
		if (rc == 0)
			rc = knl_dump_neighs(nl, AF_BRIDGE, &fdb, err);
		if (rc < 0)
			goto out;
	}
	rc = knl_dump_routes(nl, &have, err);
	if (rc < 0)
		goto out;
	v = xcalloc(have.n ? have.n : 1, sizeof(*v));
	for (unsigned i = 0; i < have.n; i++) {
		const struct kroute *r = &have.v[i];

		if (!kroute_is_owned(r))
			continue;
		memset(&v[count], 0, sizeof(v[count]));
		v[count].dst.addr = r->dst;
		v[count].dst.len = r->len;
		v[count].gateway = kroute_gateway(r);
		if (wg_ifindex > 0 && r->oif == wg_ifindex)
			v[count].mode = KERN_MODE_WIREGUARD;
		if (vx_ifindex > 0 && r->oif == vx_ifindex &&
		    !vxlan_route_from(r, &neighs, &fdb, &v[count]))
			continue;
		count++;
	}
	rc = owned6(nl, vx_ifindex, wg_ifindex, &fdb, &v, &count, err);
	if (rc < 0)
		free(v);
out:
	free(have.v);
	free(neighs.v);
	free(fdb.v);
	if (rc < 0)
		return rc;
	*out = v;
	*n = count;
	return 0;
}

struct source_ctx {
	struct nodeaddr src;
	bool found;
	struct nodeaddr gateway;
	int oif;
};

static int source_valid(struct nl_msg *msg, void *arg)
{
	struct source_ctx *ctx = arg;
	struct nlattr *tb[RTA_MAX + 1];
	struct rtmsg *rtm = nlmsg_data(nlmsg_hdr(msg));
	struct kroute6 r6;
	struct kroute r;

	/* ctx->gateway stays zero (on-link) when the route has none. */
	if (rtm->rtm_family == AF_INET6 && kparse_route6(nlmsg_hdr(msg), &r6)) {
		if (!addr6_is_zero(&r6.gateway))
			ctx->gateway = nodeaddr_v6(&r6.gateway);
		ctx->oif = r6.oif;
	} else if (kparse_route(nlmsg_hdr(msg), &r)) {
		if (r.gateway || !addr6_is_zero(&r.via6))
			ctx->gateway = kroute_gateway(&r);
		ctx->oif = r.oif;
	}
	if (nlmsg_parse(nlmsg_hdr(msg), sizeof(struct rtmsg), tb, RTA_MAX, NULL) < 0 ||
	    !tb[RTA_PREFSRC])
		return NL_OK;
	if (rtm->rtm_family == AF_INET6 && nla_len(tb[RTA_PREFSRC]) >= 16) {
		struct in6_addr src;

		memcpy(&src, nla_data(tb[RTA_PREFSRC]), sizeof(src));
		ctx->src = nodeaddr_v6(&src);
		ctx->found = true;
	} else if (rtm->rtm_family == AF_INET && nla_len(tb[RTA_PREFSRC]) >= 4) {
		uint32_t be;

		memcpy(&be, nla_data(tb[RTA_PREFSRC]), 4);
		ctx->src = nodeaddr_v4(ntohl(be));
		ctx->found = true;
	}
	return NL_OK;
}

/* RTM_GETROUTE for dst, either family (what `ip route get` asks), on an
 * open socket. */
static int route_get(struct knl *nl, const struct nodeaddr *dst, struct source_ctx *ctx,
		     struct kern_error *err)
{
	bool v6 = dst->family == AF_INET6;
	struct rtmsg rtm = {.rtm_family = v6 ? AF_INET6 : AF_INET, .rtm_dst_len = v6 ? 128 : 32};
	uint32_t be = htonl(dst->v4);
	struct nl_msg *msg;
	char a[NODEADDR_STRLEN];
	int rc;

	msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_REQUEST);
	if (!msg || nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    (v6 ? nla_put(msg, RTA_DST, 16, &dst->v6) : nla_put(msg, RTA_DST, 4, &be)) < 0)
		fatal("out of memory building a netlink request");
	rc = knl_send_query(nl, msg);
	if (rc >= 0)
		rc = knl_recv_reply(nl, source_valid, ctx);
	if (rc < 0) {
		int e = nl->kernel_errno ? nl->kernel_errno : EIO;

		kern_errorf(err, "cannot find a route to %s: %s", nodeaddr_format(dst, a),
			    nl->kernel_errno ? strerror(e) : nl_geterror(rc));
		return -e;
	}
	return 0;
}

/* Asked once per advert with --backend auto: it uses the kernel layer's
 * own socket (the agent's namespace) rather than opening one each time.
 * The link's name (only for messages) is asked for that one link: a dump
 * of every link here was two thirds of rde_advert's cost in a converging
 * 64-host mesh (tests/bench/README.md, the eighth step). */
int kern_route_path(struct kern *kern, const struct nodeaddr *dst, struct kern_path *path,
		    struct kern_error *err)
{
	struct source_ctx ctx = {0};
	int rc;

	rc = route_get(&kern->nl, dst, &ctx, err);
	if (rc < 0)
		return rc;
	memset(path, 0, sizeof(*path));
	if (ctx.found)
		path->source = ctx.src;
	path->gateway = ctx.gateway;
	if (ctx.oif > 0 && !if_indextoname((unsigned)ctx.oif, path->ifname))
		path->ifname[0] = '\0';
	return 0;
}

/* The index of the link holding addr (either family), or -EADDRNOTAVAIL. */
static int addr_ifindex(struct knl *nl, const struct nodeaddr *addr, struct kern_error *err)
{
	struct kaddrs addrs = {0};
	struct kaddrs6 addrs6 = {0};
	int rc;

	if (addr->family == AF_INET6) {
		rc = knl_dump_addrs6(nl, &addrs6, err);
		for (unsigned i = 0; rc == 0 && i < addrs6.n; i++)
			if (memcmp(&addrs6.v[i].addr, &addr->v6, sizeof(addr->v6)) == 0)
				rc = addrs6.v[i].ifindex;
	} else {
		rc = knl_dump_addrs(nl, &addrs, err);
		for (unsigned i = 0; rc == 0 && i < addrs.n; i++)
			if (addrs.v[i].addr == addr->v4)
				rc = addrs.v[i].ifindex;
	}
	free(addrs.v);
	free(addrs6.v);
	return rc == 0 ? -EADDRNOTAVAIL : rc;
}

int kern_addr_link(const struct nodeaddr *addr, unsigned *mtu, char ifname[IFNAMSIZ],
		   struct kern_error *err)
{
	struct klinks links = {0};
	const struct klink *l;
	struct knl nl;
	char a[NODEADDR_STRLEN];
	int rc, ifindex;

	rc = knl_open(&nl, NULL, NULL, err);
	if (rc < 0)
		return rc;
	ifindex = addr_ifindex(&nl, addr, err);
	rc = ifindex < 0 ? ifindex : knl_dump_links(&nl, &links, err);
	if (rc < 0)
		goto out;
	rc = -EADDRNOTAVAIL;
	if ((l = klinks_by_index(&links, ifindex)) != NULL) {
		*mtu = l->mtu;
		snprintf(ifname, IFNAMSIZ, "%s", l->name);
		rc = 0;
	}
out:
	if (rc == -EADDRNOTAVAIL)
		kern_errorf(err, "no link has address %s", nodeaddr_format(addr, a));
	free(links.v);
	knl_close(&nl);
	return rc;
}

int kern_route_source(const struct nodeaddr *dst, struct nodeaddr *src, struct kern_error *err)
{
	struct source_ctx ctx = {0};
	struct knl nl;
	char a[NODEADDR_STRLEN];
	int rc;

	rc = knl_open(&nl, NULL, NULL, err);
	if (rc < 0)
		return rc;
	rc = route_get(&nl, dst, &ctx, err);
	knl_close(&nl);
	if (rc < 0)
		return rc;
	if (!ctx.found) {
		kern_errorf(err, "cannot find a source address to reach %s: the route has none",
			    nodeaddr_format(dst, a));
		return -EADDRNOTAVAIL;
	}
	*src = ctx.src;
	return 0;
}
