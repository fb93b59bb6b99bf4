/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: IPv6 netlink of the kernel layer, beside nl.c's IPv4: the address
 * and route snapshots (kaddr6, kroute6), their dumps and parsers, and the
 * change requests for an address, a route and a neighbour entry. A separate file so that the
 * IPv4 snapshots, compared everywhere by value as host-order integers, stay
 * as they are; the I/O itself (knl_change, knl_dump_items) is nl.c's, so
 * every IPv6 change is counted and every refusal carries the kernel's words
 * exactly as an IPv4 one does. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

#include "kern_priv.h"
#include "nsagent/log.h"

/* The family header of an RTM_NEW<x> or RTM_DEL<x> message of family
 * AF_INET6, its attributes parsed into tb; NULL otherwise. */
static void *parse_change6(struct nlmsghdr *nlh, int new_type, size_t hdrlen, struct nlattr **tb,
			   int max)
{
	if (nlh->nlmsg_type != new_type && nlh->nlmsg_type != new_type + 1)
		return NULL;
	if (nlmsg_parse(nlh, (int)hdrlen, tb, max, NULL) < 0)
		return NULL;
	/* Every family header here starts with its family byte. */
	if (*(const uint8_t *)nlmsg_data(nlh) != AF_INET6)
		return NULL;
	return nlmsg_data(nlh);
}

static void attr_in6(const struct nlattr *a, struct in6_addr *out)
{
	if (a && nla_len(a) >= (int)sizeof(*out))
		memcpy(out, nla_data(a), sizeof(*out));
	else
		memset(out, 0, sizeof(*out));
}

bool kparse_addr6(struct nlmsghdr *nlh, struct kaddr6 *out)
{
	struct nlattr *tb[IFA_MAX + 1];
	struct ifaddrmsg *ifa = parse_change6(nlh, RTM_NEWADDR, sizeof(*ifa), tb, IFA_MAX);

	if (!ifa)
		return false;
	memset(out, 0, sizeof(*out));
	out->ifindex = (int)ifa->ifa_index;
	out->len = ifa->ifa_prefixlen;
	attr_in6(tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS], &out->addr);
	return true;
}

bool kparse_route6(struct nlmsghdr *nlh, struct kroute6 *out)
{
	struct nlattr *tb[RTA_MAX + 1];
	struct rtmsg *rtm = parse_change6(nlh, RTM_NEWROUTE, sizeof(*rtm), tb, RTA_MAX);

	if (!rtm)
		return false;
	memset(out, 0, sizeof(*out));
	out->len = rtm->rtm_dst_len;
	out->protocol = rtm->rtm_protocol;
	out->type = rtm->rtm_type;
	out->table = tb[RTA_TABLE] && nla_len(tb[RTA_TABLE]) >= 4 ? nla_get_u32(tb[RTA_TABLE])
								  : rtm->rtm_table;
	attr_in6(tb[RTA_DST], &out->dst);
	attr_in6(tb[RTA_GATEWAY], &out->gateway);
	out->oif = tb[RTA_OIF] && nla_len(tb[RTA_OIF]) >= 4 ? (int)nla_get_u32(tb[RTA_OIF]) : 0;
	return true;
}

static bool parse_addr6_item(struct nlmsghdr *nlh, void *item)
{
	return kparse_addr6(nlh, item);
}

static bool parse_route6_item(struct nlmsghdr *nlh, void *item)
{
	return kparse_route6(nlh, item);
}

int knl_dump_addrs6(struct knl *nl, struct kaddrs6 *out, struct kern_error *err)
{
	struct ifaddrmsg ifa = {.ifa_family = AF_INET6};

	return knl_dump_items(nl, RTM_GETADDR, &ifa, sizeof(ifa), parse_addr6_item,
			      sizeof(struct kaddr6), (void **)&out->v, &out->n, "IPv6 addresses",
			      err);
}

int knl_dump_routes6(struct knl *nl, struct kroutes6 *out, struct kern_error *err)
{
	struct rtmsg rtm = {.rtm_family = AF_INET6};

	return knl_dump_items(nl, RTM_GETROUTE, &rtm, sizeof(rtm), parse_route6_item,
			      sizeof(struct kroute6), (void **)&out->v, &out->n, "IPv6 routes",
			      err);
}

static void put6(struct nl_msg *msg, int type, const struct in6_addr *addr)
{
	if (nla_put(msg, type, sizeof(*addr), addr) < 0)
		fatal("netlink request does not fit its buffer");
}

int kreq_addr6(struct knl *nl, bool add, int ifindex, const char *ifname,
	       const struct in6_addr *addr, uint8_t len, struct kern_error *err)
{
	struct ifaddrmsg ifa = {
	    .ifa_family = AF_INET6,
	    .ifa_prefixlen = len,
	    .ifa_flags = add ? IFA_F_NODAD : 0,
	    .ifa_index = (uint32_t)ifindex,
	    .ifa_scope = RT_SCOPE_UNIVERSE,
	};
	struct prefix6 shown = {.addr = *addr, .len = len};
	char p[PREFIX6_STRLEN], a[ADDR6_STRLEN];
	struct nl_msg *msg;

	msg = nlmsg_alloc_simple(add ? RTM_NEWADDR : RTM_DELADDR,
				 NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
	if (!msg || nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0)
		fatal("out of memory building a netlink request");
	put6(msg, IFA_LOCAL, addr);
	put6(msg, IFA_ADDRESS, addr);
	/* "addr/len", the address itself (its host bits set), as ip shows it. */
	snprintf(p, sizeof(p), "%s/%u", addr6_format(&shown.addr, a), len);
	return knl_change(nl, msg, err, "%s address %s %s %s%s", add ? "add" : "delete", p,
			  add ? "to" : "from", ifname, add ? " nodad" : "");
}

int kreq_route6(struct knl *nl, enum kreq_route_op op, const struct in6_addr *dst, uint8_t len,
		const struct in6_addr *gateway, int oif, bool onlink, const char *where,
		struct kern_error *err)
{
	struct nl_msg *msg = kreq_route_msg(AF_INET6, op, len, onlink);
	char p[PREFIX6_STRLEN], g[ADDR6_STRLEN];

	if (len)
		put6(msg, RTA_DST, dst);
	if (op != KREQ_ROUTE_DEL && gateway)
		put6(msg, RTA_GATEWAY, gateway);
	if (op != KREQ_ROUTE_DEL && oif > 0 && nla_put_u32(msg, RTA_OIF, (uint32_t)oif) < 0)
		fatal("netlink request does not fit its buffer");
	if (len)
		addr6_format_prefix(&(struct prefix6){.addr = *dst, .len = len}, p);
	else
		snprintf(p, sizeof(p), "default");
	if (op == KREQ_ROUTE_DEL)
		return knl_change(nl, msg, err, "delete route %s%s%s", p, where ? " " : "",
				  where ? where : "");
	return knl_change(nl, msg, err, "%s route %s via %s%s%s%s", kreq_route_verbs[op], p,
			  gateway ? addr6_format(gateway, g) : "(none)", where ? " " : "",
			  where ? where : "", onlink ? " onlink" : "");
}

bool kroute6_is_owned(const struct kroute6 *r)
{
	return r->table == RT_TABLE_MAIN && r->protocol == KERN_RTPROT && r->type == RTN_UNICAST;
}

/* A permanent entry with an IPv6 NDA_DST: an IPv6 neighbour (AF_INET6)
 * or an FDB entry's remote (AF_BRIDGE), created or replaced, or deleted. */
static struct nl_msg *neigh6_msg(uint8_t family, bool del, int ifindex, const struct in6_addr *dst,
				 const uint8_t mac[KERN_MAC_LEN])
{
	struct ndmsg ndm = {
	    .ndm_family = family,
	    .ndm_ifindex = ifindex,
	    .ndm_state = NUD_PERMANENT,
	    .ndm_flags = family == AF_BRIDGE ? NTF_SELF : 0,
	};
	struct nl_msg *msg;

	msg = nlmsg_alloc_simple(del ? RTM_DELNEIGH : RTM_NEWNEIGH,
				 NLM_F_REQUEST | (del ? 0 : NLM_F_CREATE | NLM_F_REPLACE));
	if (!msg || nlmsg_append(msg, &ndm, sizeof(ndm), NLMSG_ALIGNTO) < 0)
		fatal("out of memory building a netlink request");
	put6(msg, NDA_DST, dst);
	if (nla_put(msg, NDA_LLADDR, KERN_MAC_LEN, mac) < 0)
		fatal("netlink request does not fit its buffer");
	return msg;
}

int kreq_fdb6(struct knl *nl, int ifindex, const char *ifname, const uint8_t mac[KERN_MAC_LEN],
	      const struct in6_addr *dst, struct kern_error *err)
{
	char a[ADDR6_STRLEN];

	return knl_change(nl, neigh6_msg(AF_BRIDGE, false, ifindex, dst, mac), err,
			  "replace fdb entry %02x:%02x:%02x:%02x:%02x:%02x dst %s dev %s", mac[0],
			  mac[1], mac[2], mac[3], mac[4], mac[5], addr6_format(dst, a), ifname);
}

int kreq_neigh6(struct knl *nl, bool del, int ifindex, const char *ifname,
		const struct in6_addr *dst, const uint8_t mac[KERN_MAC_LEN], struct kern_error *err)
{
	char a[ADDR6_STRLEN];

	return knl_change(nl, neigh6_msg(AF_INET6, del, ifindex, dst, mac), err,
			  "%s neighbour %s lladdr %02x:%02x:%02x:%02x:%02x:%02x dev %s",
			  del ? "delete" : "replace", addr6_format(dst, a), mac[0], mac[1], mac[2],
			  mac[3], mac[4], mac[5], ifname);
}
