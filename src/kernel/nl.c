/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: netlink I/O of the kernel layer. The one place that builds rtnetlink
 * requests, sends them, and reads dumps (iproute2's lib/libnetlink.c plays
 * the same role). Every change request goes through knl_change(), so that
 * each one is counted in kern_stats.changes and each refusal becomes a
 * message naming the object with the kernel's own words: the errno text
 * plus the extended-ack string when the kernel gave one. Dumps are parsed
 * into small snapshot structs (klink, kaddr, kroute) holding only what
 * reconcile compares; the event watchers reuse the same parsers. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "kern_priv.h"
#include "nsagent/log.h"
#include "nsagent/xalloc.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

void kern_errorf(struct kern_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

void kern_keep_first(int rc, int *first, struct kern_error *err, const struct kern_error *e)
{
	if (rc < 0 && *first == 0) {
		*first = rc;
		if (err)
			*err = *e;
	}
	if (rc < 0)
		log_debug("kernel: %s", e->message);
}

/* Records the kernel's errno and extended-ack text of a refused request;
 * returning NL_STOP keeps libnl's own error return. */
static int knl_error_cb(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct knl *nl = arg;
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t payload;

	(void)who;
	nl->kernel_errno = -e->error;
	nl->kernel_msg[0] = '\0';
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	payload = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		payload += e->msg.nlmsg_len - NLMSG_HDRLEN;
	if (NLMSG_HDRLEN + NLMSG_ALIGN(payload) >= nlh->nlmsg_len)
		return NL_STOP;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)e + NLMSG_ALIGN(payload)),
		      (int)(nlh->nlmsg_len - NLMSG_HDRLEN - NLMSG_ALIGN(payload)), NULL) < 0)
		return NL_STOP;
	if (tb[NLMSGERR_ATTR_MSG])
		nla_strlcpy(nl->kernel_msg, tb[NLMSGERR_ATTR_MSG], sizeof(nl->kernel_msg));
	return NL_STOP;
}

int knl_open(struct knl *nl, struct kern_stats *stats, const bool *repairing,
	     struct kern_error *err)
{
	int one = 1;
	int rc;

	memset(nl, 0, sizeof(*nl));
	nl->stats = stats;
	nl->repairing = repairing;
	nl->sk = nl_socket_alloc();
	if (!nl->sk)
		fatal("out of memory allocating a netlink socket");
	rc = nl_connect(nl->sk, NETLINK_ROUTE);
	if (rc < 0) {
		kern_errorf(err, "cannot open rtnetlink socket: %s", nl_geterror(rc));
		nl_socket_free(nl->sk);
		nl->sk = NULL;
		return -EIO;
	}
	/* Dumps of a few hundred veths come in large multipart batches. */
	nl_socket_enable_msg_peek(nl->sk);
	nl_socket_set_buffer_size(nl->sk, 1 << 20, 1 << 20);
	/* Extended acks carry the kernel's explanation; capped acks avoid
	 * echoing our own request back. Both are best effort. */
	setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	nl_socket_modify_err_cb(nl->sk, NL_CB_CUSTOM, knl_error_cb, nl);
	return 0;
}

void knl_move(struct knl *to, struct knl *from)
{
	*to = *from;
	from->sk = NULL;
	/* The error callback writes into the struct it was given. */
	if (to->sk)
		nl_socket_modify_err_cb(to->sk, NL_CB_CUSTOM, knl_error_cb, to);
}

void knl_close(struct knl *nl)
{
	if (nl && nl->sk) {
		nl_socket_free(nl->sk);
		nl->sk = NULL;
	}
}

int knl_change(struct knl *nl, struct nl_msg *msg, struct kern_error *err, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);

	nl->kernel_errno = 0;
	nl->kernel_msg[0] = '\0';
	rc = nl_send_sync(nl->sk, msg);
	if (rc < 0) {
		int e = nl->kernel_errno ? nl->kernel_errno : EIO;

		if (nl->kernel_errno && nl->kernel_msg[0])
			kern_errorf(err, "cannot %s: %s (%s)", what, strerror(e), nl->kernel_msg);
		else if (nl->kernel_errno)
			kern_errorf(err, "cannot %s: %s", what, strerror(e));
		else
			kern_errorf(err, "cannot %s: %s", what, nl_geterror(rc));
		if (nl->stats)
			nl->stats->errors++;
		return -e;
	}
	if (nl->stats)
		nl->stats->changes++;
	if (nl->repairing && *nl->repairing)
		log_info("repaired: %s", what);
	else
		log_debug("kernel: %s", what);
	return 0;
}

/* Dumps ------------------------------------------------------------------ */

int knl_send_query(struct knl *nl, struct nl_msg *msg)
{
	int rc;

	nl->kernel_errno = 0;
	rc = nl_send_auto(nl->sk, msg);
	nlmsg_free(msg);
	return rc;
}

static int ack_seen(struct nl_msg *msg, void *arg)
{
	(void)msg;
	*(bool *)arg = true;
	return NL_STOP;
}

int knl_recv_reply(struct knl *nl, int (*valid)(struct nl_msg *msg, void *arg), void *arg)
{
	struct nl_cb *base, *cb;
	bool acked = false;
	int rc;

	base = nl_socket_get_cb(nl->sk);
	cb = nl_cb_clone(base);
	nl_cb_put(base);
	if (!cb)
		fatal("out of memory cloning a netlink callback");
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, valid, arg);
	/* A request that is not a dump is answered by its reply and then by
	 * the ack libnl asked for (libnl only advances its expected sequence
	 * number on the ack); read both, or the ack would be taken for the
	 * next request's. */
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, ack_seen, &acked);
	do
		rc = nl_recvmsgs(nl->sk, cb);
	while (rc >= 0 && !acked);
	nl_cb_put(cb);
	return rc;
}

struct dump_ctx {
	bool (*parse)(struct nlmsghdr *nlh, void *item);
	size_t item_size;
	void **v;
	unsigned *n;
	unsigned cap;
};

static int dump_valid(struct nl_msg *msg, void *arg)
{
	struct dump_ctx *ctx = arg;
	char item[sizeof(struct klink)]; /* the largest snapshot */

	if (!ctx->parse(nlmsg_hdr(msg), item))
		return NL_OK;
	if (*ctx->n == ctx->cap) {
		ctx->cap = ctx->cap ? ctx->cap * 2 : 16;
		*ctx->v = xreallocarray(*ctx->v, ctx->cap, ctx->item_size);
	}
	memcpy((char *)*ctx->v + (size_t)*ctx->n * ctx->item_size, item, ctx->item_size);
	(*ctx->n)++;
	return NL_OK;
}

/* The kernel marks a dump NLM_F_DUMP_INTR when the table changed while it
 * was being read (libnl: -NLE_DUMP_INTR, after reading it all); the
 * snapshot may then be inconsistent, so read it again, as iproute2 does. */
#define KNL_DUMP_ATTEMPTS 5

static int knl_dump_once(struct knl *nl, int type, const void *hdr, size_t hdrlen,
			 struct dump_ctx *ctx)
{
	struct nl_msg *msg;
	struct nl_cb *base, *cb;
	int rc;

	msg = nlmsg_alloc_simple(type, NLM_F_REQUEST | NLM_F_DUMP);
	if (!msg || nlmsg_append(msg, (void *)hdr, hdrlen, NLMSG_ALIGNTO) < 0)
		fatal("out of memory building a netlink dump request");
	rc = knl_send_query(nl, msg);
	if (rc < 0)
		return rc;
	base = nl_socket_get_cb(nl->sk);
	cb = nl_cb_clone(base);
	nl_cb_put(base);
	if (!cb)
		fatal("out of memory cloning a netlink callback");
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, dump_valid, ctx);
	rc = nl_recvmsgs(nl->sk, cb);
	nl_cb_put(cb);
	return rc;
}

static int knl_dump(struct knl *nl, int type, const void *hdr, size_t hdrlen, struct dump_ctx *ctx,
		    const char *what, struct kern_error *err)
{
	int rc;

	for (int attempt = 1;; attempt++) {
		*ctx->n = 0;
		rc = knl_dump_once(nl, type, hdr, hdrlen, ctx);
		if (rc != -NLE_DUMP_INTR || attempt == KNL_DUMP_ATTEMPTS)
			break;
		log_debug("dump of %s changed while read, reading it again", what);
	}
	if (rc < 0) {
		kern_errorf(err, "cannot dump %s: %s", what,
			    nl->kernel_errno ? strerror(nl->kernel_errno) : nl_geterror(rc));
		return nl->kernel_errno ? -nl->kernel_errno : -EIO;
	}
	return 0;
}

int knl_dump_items(struct knl *nl, int type, const void *hdr, size_t hdrlen,
		   bool (*parse)(struct nlmsghdr *nlh, void *item), size_t item_size, void **v,
		   unsigned *n, const char *what, struct kern_error *err)
{
	struct dump_ctx ctx = {parse, item_size, v, n, 0};

	if (item_size > sizeof(struct klink))
		fatal("netlink dump item of %zu bytes is larger than its buffer", item_size);
	*v = NULL;
	*n = 0;
	return knl_dump(nl, type, hdr, hdrlen, &ctx, what, err);
}

static bool parse_link_item(struct nlmsghdr *nlh, void *item)
{
	return kparse_link(nlh, item);
}

static bool parse_addr_item(struct nlmsghdr *nlh, void *item)
{
	return kparse_addr(nlh, item);
}

static bool parse_route_item(struct nlmsghdr *nlh, void *item)
{
	return kparse_route(nlh, item);
}

static bool parse_neigh_item(struct nlmsghdr *nlh, void *item)
{
	return kparse_neigh(nlh, item);
}

int knl_dump_links(struct knl *nl, struct klinks *out, struct kern_error *err)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	struct dump_ctx ctx = {parse_link_item, sizeof(struct klink), (void **)&out->v, &out->n, 0};

	out->v = NULL;
	out->n = 0;
	return knl_dump(nl, RTM_GETLINK, &ifi, sizeof(ifi), &ctx, "links", err);
}

int knl_dump_addrs(struct knl *nl, struct kaddrs *out, struct kern_error *err)
{
	struct ifaddrmsg ifa = {.ifa_family = AF_INET};
	struct dump_ctx ctx = {parse_addr_item, sizeof(struct kaddr), (void **)&out->v, &out->n, 0};

	out->v = NULL;
	out->n = 0;
	return knl_dump(nl, RTM_GETADDR, &ifa, sizeof(ifa), &ctx, "addresses", err);
}

int knl_dump_routes(struct knl *nl, struct kroutes *out, struct kern_error *err)
{
	struct rtmsg rtm = {.rtm_family = AF_INET};
	struct dump_ctx ctx = {parse_route_item, sizeof(struct kroute), (void **)&out->v, &out->n,
			       0};

	out->v = NULL;
	out->n = 0;
	return knl_dump(nl, RTM_GETROUTE, &rtm, sizeof(rtm), &ctx, "routes", err);
}

int knl_dump_neighs(struct knl *nl, uint8_t family, struct kneighs *out, struct kern_error *err)
{
	struct ndmsg ndm = {.ndm_family = family};
	struct dump_ctx ctx = {parse_neigh_item, sizeof(struct kneigh), (void **)&out->v, &out->n,
			       0};

	out->v = NULL;
	out->n = 0;
	return knl_dump(nl, RTM_GETNEIGH, &ndm, sizeof(ndm), &ctx,
			family == AF_BRIDGE  ? "forwarding database"
			: family == AF_INET6 ? "IPv6 neighbours"
					     : "neighbours",
			err);
}

struct get_ctx {
	struct klink *out;
	bool found;
};

static int get_link_valid(struct nl_msg *msg, void *arg)
{
	struct get_ctx *ctx = arg;

	if (kparse_link(nlmsg_hdr(msg), ctx->out))
		ctx->found = true;
	return NL_OK;
}

int knl_get_link(struct knl *nl, const char *name, struct klink *out, struct kern_error *err)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	struct get_ctx ctx = {out, false};
	struct nl_msg *msg;
	int rc;

	msg = nlmsg_alloc_simple(RTM_GETLINK, NLM_F_REQUEST);
	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    nla_put_string(msg, IFLA_IFNAME, name) < 0)
		fatal("out of memory building a netlink request");
	rc = knl_send_query(nl, msg);
	if (rc < 0) {
		kern_errorf(err, "cannot query link %s: %s", name, nl_geterror(rc));
		return -EIO;
	}
	rc = knl_recv_reply(nl, get_link_valid, &ctx);
	if (rc < 0 && nl->kernel_errno == ENODEV)
		return -ENODEV;
	if (rc < 0) {
		kern_errorf(err, "cannot query link %s: %s", name,
			    nl->kernel_errno ? strerror(nl->kernel_errno) : nl_geterror(rc));
		return nl->kernel_errno ? -nl->kernel_errno : -EIO;
	}
	return ctx.found ? 0 : -ENODEV;
}

/* Namespace ids -------------------------------------------------------- */

static int nsid_valid(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[NETNSA_MAX + 1];

	if (nlh->nlmsg_type != RTM_NEWNSID ||
	    nlmsg_parse(nlh, sizeof(struct rtgenmsg), tb, NETNSA_MAX, NULL) < 0 ||
	    !tb[NETNSA_NSID] || nla_len(tb[NETNSA_NSID]) < (int)sizeof(int32_t))
		return NL_OK;
	*(int *)arg = nla_get_s32(tb[NETNSA_NSID]);
	return NL_OK;
}

static int nsid_request(struct knl *nl, int type, int nsfd, int *nsid)
{
	struct rtgenmsg g = {.rtgen_family = AF_UNSPEC};
	struct nl_msg *msg;
	int rc;

	msg = nlmsg_alloc_simple(type, NLM_F_REQUEST);
	if (!msg || nlmsg_append(msg, &g, sizeof(g), NLMSG_ALIGNTO) < 0 ||
	    nla_put_u32(msg, NETNSA_FD, (uint32_t)nsfd) < 0 ||
	    (type == RTM_NEWNSID && nla_put_s32(msg, NETNSA_NSID, -1) < 0))
		fatal("out of memory building a netlink request");
	rc = knl_send_query(nl, msg);
	if (rc < 0)
		return -EIO;
	rc = knl_recv_reply(nl, nsid_valid, nsid);
	if (rc < 0)
		return nl->kernel_errno ? -nl->kernel_errno : -EIO;
	return 0;
}

int knl_nsid(struct knl *nl, int nsfd, bool assign, int *nsid, struct kern_error *err)
{
	int rc;

	*nsid = -1;
	rc = nsid_request(nl, RTM_GETNSID, nsfd, nsid);
	if (rc == 0 && *nsid < 0 && assign) {
		/* -1: the kernel picks a free id. EEXIST: one appeared
		 * meanwhile; either way it is read back. Not counted as a
		 * change: an id is bookkeeping, not configuration. */
		rc = nsid_request(nl, RTM_NEWNSID, nsfd, nsid);
		if (rc == 0 || rc == -EEXIST)
			rc = nsid_request(nl, RTM_GETNSID, nsfd, nsid);
	}
	if (rc < 0) {
		kern_errorf(err, "cannot get a namespace id: %s", strerror(-rc));
		return rc;
	}
	if (assign && *nsid < 0) {
		kern_errorf(err, "cannot get a namespace id: none assigned");
		return -EIO;
	}
	return 0;
}

const struct klink *klinks_by_name(const struct klinks *links, const char *name)
{
	for (unsigned i = 0; i < links->n; i++)
		if (strcmp(links->v[i].name, name) == 0)
			return &links->v[i];
	return NULL;
}

const struct klink *klinks_by_index(const struct klinks *links, int ifindex)
{
	for (unsigned i = 0; i < links->n; i++)
		if (links->v[i].ifindex == ifindex)
			return &links->v[i];
	return NULL;
}

/* Parsers ---------------------------------------------------------------- */

static uint32_t attr_in4(struct nlattr *a);
/* A u32 attribute's value, or dflt when it is absent or short. */
static uint32_t attr_u32(const struct nlattr *a, uint32_t dflt)
{
	return a && nla_len(a) >= 4 ? nla_get_u32(a) : dflt;
}

static void parse_vxlan(struct nlattr *data, struct klink *out)
{
	struct nlattr *vx[IFLA_VXLAN_MAX + 1];

	if (nla_parse_nested(vx, IFLA_VXLAN_MAX, data, NULL) < 0)
		return;
	out->vxlan_vni = attr_u32(vx[IFLA_VXLAN_ID], 0);
	out->vxlan_local = attr_in4(vx[IFLA_VXLAN_LOCAL]);
	if (vx[IFLA_VXLAN_LOCAL6] && nla_len(vx[IFLA_VXLAN_LOCAL6]) >= (int)sizeof(struct in6_addr))
		memcpy(&out->vxlan_local6, nla_data(vx[IFLA_VXLAN_LOCAL6]),
		       sizeof(struct in6_addr));
	if (vx[IFLA_VXLAN_PORT] && nla_len(vx[IFLA_VXLAN_PORT]) >= 2)
		out->vxlan_port = ntohs(nla_get_u16(vx[IFLA_VXLAN_PORT]));
	if (vx[IFLA_VXLAN_LEARNING] && nla_len(vx[IFLA_VXLAN_LEARNING]) >= 1)
		out->vxlan_learning = nla_get_u8(vx[IFLA_VXLAN_LEARNING]) != 0;
	out->vxlan_has_remote = attr_in4(vx[IFLA_VXLAN_GROUP]) != 0;
	if (vx[IFLA_VXLAN_GROUP6] &&
	    nla_len(vx[IFLA_VXLAN_GROUP6]) >= (int)sizeof(struct in6_addr)) {
		struct in6_addr g;

		memcpy(&g, nla_data(vx[IFLA_VXLAN_GROUP6]), sizeof(g));
		out->vxlan_has_remote |= !addr6_is_zero(&g);
	}
}

/* The family header of an RTM_NEW<x> or RTM_DEL<x> message (rtnetlink
 * numbers DEL<x> right after NEW<x>), its attributes parsed into tb; NULL
 * when the message is another kind or malformed. */
_Static_assert(RTM_DELLINK == RTM_NEWLINK + 1 && RTM_DELADDR == RTM_NEWADDR + 1 &&
		   RTM_DELROUTE == RTM_NEWROUTE + 1 && RTM_DELNEIGH == RTM_NEWNEIGH + 1,
	       "rtnetlink numbers DEL<x> right after NEW<x>");

static void *parse_change(struct nlmsghdr *nlh, int new_type, size_t hdrlen, struct nlattr **tb,
			  int max)
{
	if (nlh->nlmsg_type != new_type && nlh->nlmsg_type != new_type + 1)
		return NULL;
	if (nlmsg_parse(nlh, (int)hdrlen, tb, max, NULL) < 0)
		return NULL;
	return nlmsg_data(nlh);
}

/* A bridge port's state, as the link dump carries it for an enslaved link. */
static void parse_bridge_port(struct nlattr *data, struct klink *out)
{
	struct nlattr *port[IFLA_BRPORT_MAX + 1];

	if (nla_parse_nested(port, IFLA_BRPORT_MAX, data, NULL) == 0 && port[IFLA_BRPORT_MODE] &&
	    nla_len(port[IFLA_BRPORT_MODE]) >= 1)
		out->hairpin = nla_get_u8(port[IFLA_BRPORT_MODE]) != 0;
}

bool kparse_link(struct nlmsghdr *nlh, struct klink *out)
{
	struct nlattr *tb[IFLA_MAX + 1];
	struct ifinfomsg *ifi;

	ifi = parse_change(nlh, RTM_NEWLINK, sizeof(*ifi), tb, IFLA_MAX);
	/* A bridge also announces its ports' bridging state (STP state,
	 * flags) as link messages of family AF_BRIDGE: without the link's
	 * alias or group, they are not a state of the link. */
	if (!ifi || ifi->ifi_family == AF_BRIDGE)
		return false;
	memset(out, 0, sizeof(*out));
	out->ifindex = ifi->ifi_index;
	out->flags = ifi->ifi_flags;
	if (tb[IFLA_IFNAME])
		nla_strlcpy(out->name, tb[IFLA_IFNAME], sizeof(out->name));
	if (tb[IFLA_IFALIAS])
		nla_strlcpy(out->alias, tb[IFLA_IFALIAS], sizeof(out->alias));
	out->master = (int)attr_u32(tb[IFLA_MASTER], 0);
	out->link = (int)attr_u32(tb[IFLA_LINK], 0);
	out->mtu = attr_u32(tb[IFLA_MTU], 0);
	out->group = attr_u32(tb[IFLA_GROUP], 0);
	if (tb[IFLA_ADDRESS] && nla_len(tb[IFLA_ADDRESS]) == KERN_MAC_LEN)
		memcpy(out->mac, nla_data(tb[IFLA_ADDRESS]), KERN_MAC_LEN);
	if (tb[IFLA_LINKINFO]) {
		struct nlattr *li[IFLA_INFO_MAX + 1];

		if (nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) == 0 &&
		    li[IFLA_INFO_KIND])
			nla_strlcpy(out->kind, li[IFLA_INFO_KIND], sizeof(out->kind));
		if (strcmp(out->kind, "vxlan") == 0 && li[IFLA_INFO_DATA])
			parse_vxlan(li[IFLA_INFO_DATA], out);
		if (li[IFLA_INFO_SLAVE_KIND] && li[IFLA_INFO_SLAVE_DATA] &&
		    strcmp(nla_get_string(li[IFLA_INFO_SLAVE_KIND]), "bridge") == 0)
			parse_bridge_port(li[IFLA_INFO_SLAVE_DATA], out);
	}
	return true;
}

static uint32_t attr_in4(struct nlattr *a)
{
	uint32_t v;

	if (!a || nla_len(a) < 4)
		return 0;
	memcpy(&v, nla_data(a), 4);
	return ntohl(v);
}

bool kparse_addr(struct nlmsghdr *nlh, struct kaddr *out)
{
	struct nlattr *tb[IFA_MAX + 1];
	struct ifaddrmsg *ifa;

	ifa = parse_change(nlh, RTM_NEWADDR, sizeof(*ifa), tb, IFA_MAX);
	if (!ifa || ifa->ifa_family != AF_INET)
		return false;
	memset(out, 0, sizeof(*out));
	out->ifindex = (int)ifa->ifa_index;
	out->len = ifa->ifa_prefixlen;
	out->addr = attr_in4(tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS]);
	return true;
}

bool kparse_route(struct nlmsghdr *nlh, struct kroute *out)
{
	struct nlattr *tb[RTA_MAX + 1];
	struct rtmsg *rtm;

	rtm = parse_change(nlh, RTM_NEWROUTE, sizeof(*rtm), tb, RTA_MAX);
	if (!rtm || rtm->rtm_family != AF_INET)
		return false;
	memset(out, 0, sizeof(*out));
	out->len = rtm->rtm_dst_len;
	out->protocol = rtm->rtm_protocol;
	out->type = rtm->rtm_type;
	out->tos = rtm->rtm_tos;
	out->table = attr_u32(tb[RTA_TABLE], rtm->rtm_table);
	out->dst = attr_in4(tb[RTA_DST]);
	out->gateway = attr_in4(tb[RTA_GATEWAY]);
	if (tb[RTA_VIA] &&
	    nla_len(tb[RTA_VIA]) >= (int)(sizeof(struct rtvia) + sizeof(out->via6))) {
		const struct rtvia *via = nla_data(tb[RTA_VIA]);

		if (via->rtvia_family == AF_INET6)
			memcpy(&out->via6, via->rtvia_addr, sizeof(out->via6));
	}
	out->oif = (int)attr_u32(tb[RTA_OIF], 0);
	out->priority = attr_u32(tb[RTA_PRIORITY], 0);
	out->flags = rtm->rtm_flags;
	return true;
}

bool kparse_neigh(struct nlmsghdr *nlh, struct kneigh *out)
{
	struct nlattr *tb[NDA_MAX + 1];
	struct ndmsg *ndm;

	ndm = parse_change(nlh, RTM_NEWNEIGH, sizeof(*ndm), tb, NDA_MAX);
	if (!ndm || (ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6 &&
		     ndm->ndm_family != AF_BRIDGE))
		return false;
	memset(out, 0, sizeof(*out));
	out->ifindex = ndm->ndm_ifindex;
	out->family = ndm->ndm_family;
	out->state = ndm->ndm_state;
	out->flags = ndm->ndm_flags;
	/* An IPv6 neighbour, or an FDB entry with an IPv6 remote. */
	if (ndm->ndm_family != AF_INET && tb[NDA_DST] &&
	    nla_len(tb[NDA_DST]) >= (int)sizeof(out->dst6))
		memcpy(&out->dst6, nla_data(tb[NDA_DST]), sizeof(out->dst6));
	else
		out->dst = attr_in4(tb[NDA_DST]);
	if (tb[NDA_LLADDR] && nla_len(tb[NDA_LLADDR]) == KERN_MAC_LEN)
		memcpy(out->mac, nla_data(tb[NDA_LLADDR]), KERN_MAC_LEN);
	return true;
}

/* Change requests -------------------------------------------------------- */

static struct nl_msg *link_msg(int type, int flags, int ifindex, unsigned ifi_flags,
			       unsigned ifi_change)
{
	struct ifinfomsg ifi = {
	    .ifi_family = AF_UNSPEC,
	    .ifi_index = ifindex,
	    .ifi_flags = ifi_flags,
	    .ifi_change = ifi_change,
	};
	struct nl_msg *msg = nlmsg_alloc_simple(type, NLM_F_REQUEST | flags);

	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0)
		fatal("out of memory building a netlink request");
	return msg;
}

static void put_or_die(int rc)
{
	if (rc < 0)
		fatal("netlink request does not fit its buffer");
}

/* Hairpin mode on, as bridge-port ("slave") data in the link's own
 * request (`ip link set dev X type bridge_slave hairpin on`): the kernel
 * applies it through the port's master before the rest of the request, so
 * the link must be a port already. One request, by name or by index,
 * where the AF_BRIDGE form needs the index and so a lookup first: two
 * round trips more per namespace in a bring-up. */
static void put_port_hairpin(struct nl_msg *msg)
{
	struct nlattr *info = nla_nest_start(msg, IFLA_LINKINFO);
	struct nlattr *data;

	if (!info)
		fatal("netlink request does not fit its buffer");
	put_or_die(nla_put_string(msg, IFLA_INFO_SLAVE_KIND, "bridge"));
	data = nla_nest_start(msg, IFLA_INFO_SLAVE_DATA);
	if (!data)
		fatal("netlink request does not fit its buffer");
	put_or_die(nla_put_u8(msg, IFLA_BRPORT_MODE, BRIDGE_MODE_HAIRPIN));
	nla_nest_end(msg, data);
	nla_nest_end(msg, info);
}

int kreq_link_set(struct knl *nl, int ifindex, const char *ifname, const struct kreq_link *change,
		  struct kern_error *err)
{
	/* The port data goes to the link's master as it is before the
	 * request: with a new master, in a request of its own after it. */
	bool hairpin_here = change->hairpin && change->master <= 0;
	struct nl_msg *msg;
	char what[200];
	size_t off;
	int rc;

	if (!change->up && change->master <= 0 && !change->mtu && !change->alias &&
	    !change->group && !change->no_ipv6_ll && !change->hairpin)
		return 0;
	/* RTM_NEWLINK without NLM_F_CREATE changes an existing link as
	 * RTM_SETLINK does, and also takes its port data. */
	msg = link_msg(hairpin_here ? RTM_NEWLINK : RTM_SETLINK, 0, ifindex,
		       change->up ? IFF_UP : 0, change->up ? IFF_UP : 0);
	/* Without an index the kernel finds the link by name. */
	if (ifindex == 0)
		put_or_die(nla_put_string(msg, IFLA_IFNAME, ifname));
	off = (size_t)snprintf(what, sizeof(what), "set link %s", ifname);
	if (change->up)
		off += (size_t)snprintf(what + off, sizeof(what) - off, " up");
	if (change->master > 0) {
		put_or_die(nla_put_u32(msg, IFLA_MASTER, (uint32_t)change->master));
		off += (size_t)snprintf(what + off, sizeof(what) - off, " master %s",
					change->master_name ? change->master_name : "(index)");
	}
	if (change->mtu) {
		put_or_die(nla_put_u32(msg, IFLA_MTU, change->mtu));
		off += (size_t)snprintf(what + off, sizeof(what) - off, " mtu %u", change->mtu);
	}
	if (change->group) {
		put_or_die(nla_put_u32(msg, IFLA_GROUP, KERN_LINK_GROUP));
		off +=
		    (size_t)snprintf(what + off, sizeof(what) - off, " group %u", KERN_LINK_GROUP);
	}
	if (change->no_ipv6_ll) {
		struct nlattr *spec = nla_nest_start(msg, IFLA_AF_SPEC);
		struct nlattr *inet6 = spec ? nla_nest_start(msg, AF_INET6) : NULL;

		if (!inet6)
			fatal("netlink request does not fit its buffer");
		put_or_die(nla_put_u8(msg, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE));
		nla_nest_end(msg, inet6);
		nla_nest_end(msg, spec);
		off += (size_t)snprintf(what + off, sizeof(what) - off, " addrgenmode none");
	}
	if (change->alias) {
		put_or_die(nla_put_string(msg, IFLA_IFALIAS, change->alias));
		off += (size_t)snprintf(what + off, sizeof(what) - off, " alias %s", change->alias);
	}
	if (hairpin_here) {
		put_port_hairpin(msg);
		snprintf(what + off, sizeof(what) - off, " hairpin on");
	}
	rc = knl_change(nl, msg, err, "%s", what);
	if (rc == 0 && change->hairpin && !hairpin_here)
		rc = kreq_link_set(nl, ifindex, ifname, &(struct kreq_link){.hairpin = true}, err);
	return rc;
}

int kreq_link_del(struct knl *nl, int ifindex, const char *ifname, struct kern_error *err)
{
	struct nl_msg *msg = link_msg(RTM_DELLINK, 0, ifindex, 0, 0);

	return knl_change(nl, msg, err, "delete link %s", ifname);
}

int kreq_group_del(struct knl *nl, struct kern_error *err)
{
	struct nl_msg *msg = link_msg(RTM_DELLINK, 0, 0, 0, 0);

	put_or_die(nla_put_u32(msg, IFLA_GROUP, KERN_LINK_GROUP));
	return knl_change(nl, msg, err, "delete the links of group %u", KERN_LINK_GROUP);
}

/* A link of a kind that takes no IFLA_INFO_DATA, up, in our group, with
 * mac (NULL: the kernel's) and mtu (0: the kind's default). */
static int link_add_plain(struct knl *nl, const char *kind, const char *name, unsigned mtu,
			  const uint8_t *mac, struct kern_error *err)
{
	struct nl_msg *msg;
	struct nlattr *info;

	msg = link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, IFF_UP, IFF_UP);
	put_or_die(nla_put_string(msg, IFLA_IFNAME, name));
	put_or_die(nla_put_u32(msg, IFLA_GROUP, KERN_LINK_GROUP));
	if (mac)
		put_or_die(nla_put(msg, IFLA_ADDRESS, KERN_MAC_LEN, mac));
	if (mtu)
		put_or_die(nla_put_u32(msg, IFLA_MTU, mtu));
	info = nla_nest_start(msg, IFLA_LINKINFO);
	if (!info)
		fatal("netlink request does not fit its buffer");
	put_or_die(nla_put_string(msg, IFLA_INFO_KIND, kind));
	nla_nest_end(msg, info);
	return knl_change(nl, msg, err, "create %s %s", kind, name);
}

int kreq_bridge_add(struct knl *nl, const char *name, unsigned mtu, const uint8_t mac[KERN_MAC_LEN],
		    struct kern_error *err)
{
	return link_add_plain(nl, "bridge", name, mtu, mac, err);
}

/* One tx and one rx queue, said explicitly. Without them a veth is
 * allocated with a queue per possible CPU and veth_init_queues() then cuts
 * the real count down to one, which for a registered device means
 * synchronize_net(): two expedited RCU grace periods per pair, the largest
 * single wait of a bring-up (bench_bringup.sh, off-CPU profile). The
 * result, one real queue each, is what the kernel default gives anyway. */
static void put_veth_queues(struct nl_msg *msg)
{
	put_or_die(nla_put_u32(msg, IFLA_NUM_TX_QUEUES, 1));
	put_or_die(nla_put_u32(msg, IFLA_NUM_RX_QUEUES, 1));
}

int kreq_veth_add(struct knl *nl, const char *host_name, int master, unsigned mtu, int peer_nsfd,
		  int peer_ifindex, const char *peer_name, const char *ns_name,
		  struct kern_error *err)
{
	struct ifinfomsg peer = {
	    .ifi_family = AF_UNSPEC,
	    .ifi_index = peer_ifindex,
	};
	struct nlattr *info, *data, *peer_nest;
	struct nl_msg *msg;

	/* The host end is created up and already enslaved, and the peer is
	 * created directly inside the namespace: no moment where eth0 sits in
	 * the host namespace. The peer cannot be created up (veth_open()
	 * refuses with ENOTCONN until the pair is linked), so the caller
	 * brings it up afterwards, together with the aliases (the kernel
	 * ignores IFLA_IFALIAS on creation). */
	msg = link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, IFF_UP, IFF_UP);
	put_or_die(nla_put_string(msg, IFLA_IFNAME, host_name));
	put_or_die(nla_put_u32(msg, IFLA_GROUP, KERN_LINK_GROUP));
	if (master > 0)
		put_or_die(nla_put_u32(msg, IFLA_MASTER, (uint32_t)master));
	if (mtu)
		put_or_die(nla_put_u32(msg, IFLA_MTU, mtu));
	put_veth_queues(msg);
	info = nla_nest_start(msg, IFLA_LINKINFO);
	if (!info)
		fatal("netlink request does not fit its buffer");
	put_or_die(nla_put_string(msg, IFLA_INFO_KIND, "veth"));
	data = nla_nest_start(msg, IFLA_INFO_DATA);
	peer_nest = data ? nla_nest_start(msg, VETH_INFO_PEER) : NULL;
	if (!peer_nest)
		fatal("netlink request does not fit its buffer");
	put_or_die(nlmsg_append(msg, &peer, sizeof(peer), NLMSG_ALIGNTO));
	put_or_die(nla_put_string(msg, IFLA_IFNAME, peer_name));
	put_or_die(nla_put_u32(msg, IFLA_NET_NS_FD, (uint32_t)peer_nsfd));
	if (mtu)
		put_or_die(nla_put_u32(msg, IFLA_MTU, mtu));
	put_veth_queues(msg);
	nla_nest_end(msg, peer_nest);
	nla_nest_end(msg, data);
	nla_nest_end(msg, info);
	return knl_change(nl, msg, err, "create veth %s with peer %s in namespace %s", host_name,
			  peer_name, ns_name);
}

int kreq_addr(struct knl *nl, bool add, int ifindex, const char *ifname, uint32_t addr, uint8_t len,
	      struct kern_error *err)
{
	struct ifaddrmsg ifa = {
	    .ifa_family = AF_INET,
	    .ifa_prefixlen = len,
	    .ifa_index = (uint32_t)ifindex,
	    .ifa_scope = RT_SCOPE_UNIVERSE,
	};
	uint32_t be = htonl(addr);
	struct nl_msg *msg;
	char p[PREFIX_STRLEN];

	msg = nlmsg_alloc_simple(add ? RTM_NEWADDR : RTM_DELADDR,
				 NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
	if (!msg || nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0)
		fatal("out of memory building a netlink request");
	put_or_die(nla_put(msg, IFA_LOCAL, 4, &be));
	put_or_die(nla_put(msg, IFA_ADDRESS, 4, &be));
	if (add && len < 31) {
		uint32_t brd = htonl(addr | ~addr_mask(len));

		put_or_die(nla_put(msg, IFA_BROADCAST, 4, &brd));
	}
	return knl_change(nl, msg, err, "%s address %s %s %s", add ? "add" : "delete",
			  addr_format_prefix(&(struct prefix){.addr = addr, .len = len}, p),
			  add ? "to" : "from", ifname);
}

int kaddr_only(struct knl *nl, const struct kaddrs *addrs, int ifindex, const char *ifname,
	       uint32_t addr, struct kern_error *err)
{
	bool found = false;
	int rc;

	for (unsigned i = 0; addrs && i < addrs->n; i++) {
		const struct kaddr *a = &addrs->v[i];

		if (a->ifindex != ifindex)
			continue;
		if (a->addr == addr && a->len == 32) {
			found = true;
			continue;
		}
		rc = kreq_addr(nl, false, a->ifindex, ifname, a->addr, a->len, err);
		if (rc < 0 && rc != -EADDRNOTAVAIL)
			return rc;
	}
	if (!found && addr)
		return kreq_addr(nl, true, ifindex, ifname, addr, 32, err);
	return 0;
}

const char *const kreq_route_verbs[] = {"add", "replace", "delete"};

struct nl_msg *kreq_route_msg(uint8_t family, enum kreq_route_op op, uint8_t len, bool onlink)
{
	struct rtmsg rtm = {
	    .rtm_family = family,
	    .rtm_dst_len = len,
	    .rtm_table = RT_TABLE_MAIN,
	    .rtm_protocol = KERN_RTPROT,
	    .rtm_scope = op == KREQ_ROUTE_DEL ? RT_SCOPE_NOWHERE : RT_SCOPE_UNIVERSE,
	    .rtm_type = RTN_UNICAST,
	    .rtm_flags = op != KREQ_ROUTE_DEL && onlink ? RTNH_F_ONLINK : 0,
	};
	int flags = op == KREQ_ROUTE_ADD       ? NLM_F_CREATE | NLM_F_EXCL
		    : op == KREQ_ROUTE_REPLACE ? NLM_F_CREATE | NLM_F_REPLACE
					       : 0;
	struct nl_msg *msg;

	msg = nlmsg_alloc_simple(op == KREQ_ROUTE_DEL ? RTM_DELROUTE : RTM_NEWROUTE,
				 NLM_F_REQUEST | flags);
	if (!msg || nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0)
		fatal("out of memory building a netlink request");
	put_or_die(nla_put_u32(msg, RTA_TABLE, RT_TABLE_MAIN));
	return msg;
}

int kreq_route(struct knl *nl, enum kreq_route_op op, uint32_t dst, uint8_t len,
	       const struct nodeaddr *gateway, int oif, bool onlink, const char *where,
	       struct kern_error *err)
{
	uint32_t be_dst = htonl(dst);
	struct nl_msg *msg = kreq_route_msg(AF_INET, op, len, onlink);
	char p[PREFIX_STRLEN], g[NODEADDR_STRLEN + 6];
	bool has_gateway = gateway && !nodeaddr_is_zero(gateway);

	if (len)
		put_or_die(nla_put(msg, RTA_DST, 4, &be_dst));
	if (op != KREQ_ROUTE_DEL && has_gateway && gateway->family == AF_INET) {
		uint32_t be_gw = htonl(gateway->v4);

		put_or_die(nla_put(msg, RTA_GATEWAY, 4, &be_gw));
	} else if (op != KREQ_ROUTE_DEL && has_gateway) {
		/* An IPv4 route with an IPv6 next hop (RFC 5549's), which
		 * RTA_GATEWAY cannot carry. */
		uint8_t via[sizeof(struct rtvia) + sizeof(struct in6_addr)];
		struct rtvia *v = (struct rtvia *)via;

		v->rtvia_family = AF_INET6;
		memcpy(v->rtvia_addr, &gateway->v6, sizeof(gateway->v6));
		put_or_die(nla_put(msg, RTA_VIA, sizeof(via), via));
	}
	if (op != KREQ_ROUTE_DEL && oif > 0)
		put_or_die(nla_put_u32(msg, RTA_OIF, (uint32_t)oif));
	/* "via 10.0.0.1", "via inet6 2001:db8::6" as ip-route(8) says them. */
	if (has_gateway) {
		char a[NODEADDR_STRLEN];

		snprintf(g, sizeof(g), "%s%s", gateway->family == AF_INET6 ? "inet6 " : "",
			 nodeaddr_format(gateway, a));
	} else {
		snprintf(g, sizeof(g), "none");
	}
	if (op == KREQ_ROUTE_DEL)
		return knl_change(
		    nl, msg, err, "delete route %s%s%s",
		    len ? addr_format_prefix(&(struct prefix){.addr = dst, .len = len}, p)
			: "default",
		    where ? " " : "", where ? where : "");
	return knl_change(nl, msg, err, "%s route %s via %s%s%s%s", kreq_route_verbs[op],
			  len ? addr_format_prefix(&(struct prefix){.addr = dst, .len = len}, p)
			      : "default",
			  g, where ? " " : "", where ? where : "", onlink ? " onlink" : "");
}

static const char *fmt_mac(const uint8_t mac[KERN_MAC_LEN], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	return buf;
}

int kreq_vxlan_add(struct knl *nl, const char *name, uint32_t vni, uint32_t local,
		   const struct in6_addr *local6, uint16_t port, const uint8_t mac[KERN_MAC_LEN],
		   unsigned mtu, struct kern_error *err)
{
	uint32_t be_local = htonl(local);
	struct nlattr *info, *data;
	struct nl_msg *msg;
	char a[ADDR6_STRLEN], m[18];

	msg = link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, IFF_UP, IFF_UP);
	put_or_die(nla_put_string(msg, IFLA_IFNAME, name));
	put_or_die(nla_put_u32(msg, IFLA_GROUP, KERN_LINK_GROUP));
	put_or_die(nla_put(msg, IFLA_ADDRESS, KERN_MAC_LEN, mac));
	if (mtu)
		put_or_die(nla_put_u32(msg, IFLA_MTU, mtu));
	info = nla_nest_start(msg, IFLA_LINKINFO);
	if (!info)
		fatal("netlink request does not fit its buffer");
	put_or_die(nla_put_string(msg, IFLA_INFO_KIND, "vxlan"));
	data = nla_nest_start(msg, IFLA_INFO_DATA);
	if (!data)
		fatal("netlink request does not fit its buffer");
	put_or_die(nla_put_u32(msg, IFLA_VXLAN_ID, vni));
	if (local)
		put_or_die(nla_put(msg, IFLA_VXLAN_LOCAL, 4, &be_local));
	else
		put_or_die(nla_put(msg, IFLA_VXLAN_LOCAL6, sizeof(*local6), local6));
	put_or_die(nla_put_u16(msg, IFLA_VXLAN_PORT, htons(port)));
	/* Peers are known from adverts: learning from received frames would
	 * only let a forged packet redirect a peer's traffic. */
	put_or_die(nla_put_u8(msg, IFLA_VXLAN_LEARNING, 0));
	nla_nest_end(msg, data);
	nla_nest_end(msg, info);
	return knl_change(nl, msg, err, "create vxlan %s id %u local %s dstport %u address %s",
			  name, vni, local ? addr_format(local, a) : addr6_format(local6, a), port,
			  fmt_mac(mac, m));
}

int kreq_wireguard_add(struct knl *nl, const char *name, unsigned mtu, struct kern_error *err)
{
	return link_add_plain(nl, "wireguard", name, mtu, NULL, err);
}

int kreq_neigh(struct knl *nl, bool del, uint8_t family, int ifindex, const char *ifname,
	       uint32_t dst, const uint8_t mac[KERN_MAC_LEN], struct kern_error *err)
{
	struct ndmsg ndm = {
	    .ndm_family = family,
	    .ndm_ifindex = ifindex,
	    .ndm_state = NUD_PERMANENT,
	    .ndm_flags = family == AF_BRIDGE ? NTF_SELF : 0,
	};
	uint32_t be = htonl(dst);
	struct nl_msg *msg;
	char a[ADDR_STRLEN], m[18];

	msg = nlmsg_alloc_simple(del ? RTM_DELNEIGH : RTM_NEWNEIGH,
				 NLM_F_REQUEST | (del ? 0 : NLM_F_CREATE | NLM_F_REPLACE));
	if (!msg || nlmsg_append(msg, &ndm, sizeof(ndm), NLMSG_ALIGNTO) < 0)
		fatal("out of memory building a netlink request");
	put_or_die(nla_put(msg, NDA_LLADDR, KERN_MAC_LEN, mac));
	/* An FDB delete without NDA_DST removes the whole entry. */
	if (family == AF_INET || !del)
		put_or_die(nla_put(msg, NDA_DST, 4, &be));
	/* A delete names no remote: it takes the MAC's entry whatever its
	 * remote's family (an IPv6 one is not dst's). */
	if (family == AF_BRIDGE && del)
		return knl_change(nl, msg, err, "delete fdb entry %s dev %s", fmt_mac(mac, m),
				  ifname);
	if (family == AF_BRIDGE)
		return knl_change(nl, msg, err, "replace fdb entry %s dst %s dev %s",
				  fmt_mac(mac, m), addr_format(dst, a), ifname);
	return knl_change(nl, msg, err, "%s neighbour %s lladdr %s dev %s",
			  del ? "delete" : "replace", addr_format(dst, a), fmt_mac(mac, m), ifname);
}
