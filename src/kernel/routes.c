/* DOC: the agent's routes in the main table, and source-address lookup.
 * A route is ours when it is an IPv4 unicast route of the main table with
 * protocol KERN_RTPROT; nothing else is ever changed or deleted here (a
 * delete request carries the protocol, so the kernel itself refuses to
 * match another owner's route). Reconcile dumps once and then adds what
 * is missing, replaces what points elsewhere and deletes what is no longer
 * wanted; a route whose key another owner already holds is reported, not
 * taken over. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "kern_priv.h"
#include "nsagent/log.h"
#include "nsagent/xalloc.h"

bool kroute_is_owned(const struct kroute *r)
{
	return r->table == RT_TABLE_MAIN && r->protocol == KERN_RTPROT && r->type == RTN_UNICAST;
}

int kroutes_reconcile(struct knl *nl, const struct kern_route *want, unsigned n,
		      struct kern_error *err)
{
	struct kroutes have = {0};
	struct kern_error e = {{0}};
	bool *present = n ? xcalloc(n, sizeof(*present)) : NULL;
	bool *differs = n ? xcalloc(n, sizeof(*differs)) : NULL;
	int first = 0, rc;

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
			if (want[j].dst.addr == r->dst && want[j].dst.len == r->len)
				break;
		if (j == n) {
			rc = kreq_route(nl, KREQ_ROUTE_DEL, r->dst, r->len, 0, 0, NULL, &e);
			if (rc < 0 && rc != -ESRCH && first == 0) {
				first = rc;
				*err = e;
			}
		} else if (r->gateway == want[j].gateway && r->tos == 0) {
			present[j] = true;
		} else {
			differs[j] = true;
		}
	}
	for (unsigned j = 0; j < n; j++) {
		if (present[j])
			continue;
		/* Replace only our own route: when the key is free or another
		 * owner's, add with EXCL so that the latter is refused. */
		rc = kreq_route(nl, differs[j] ? KREQ_ROUTE_REPLACE : KREQ_ROUTE_ADD,
				want[j].dst.addr, want[j].dst.len, want[j].gateway, 0, NULL, &e);
		if (rc < 0 && first == 0) {
			first = rc;
			*err = e;
		}
	}
out:
	free(have.v);
	free(present);
	free(differs);
	return first;
}

int kroutes_owned(struct knl *nl, struct kern_route **out, unsigned *n, struct kern_error *err)
{
	struct kroutes have = {0};
	struct kern_route *v;
	unsigned count = 0;
	int rc;

	rc = knl_dump_routes(nl, &have, err);
	if (rc < 0)
		return rc;
	v = xcalloc(have.n ? have.n : 1, sizeof(*v));
	for (unsigned i = 0; i < have.n; i++) {
		if (!kroute_is_owned(&have.v[i]))
			continue;
		v[count].dst.addr = have.v[i].dst;
		v[count].dst.len = have.v[i].len;
		v[count].gateway = have.v[i].gateway;
		count++;
	}
	free(have.v);
	*out = v;
	*n = count;
	return 0;
}

struct source_ctx {
	uint32_t src;
	bool found;
};

static int source_valid(struct nl_msg *msg, void *arg)
{
	struct source_ctx *ctx = arg;
	struct nlattr *tb[RTA_MAX + 1];
	uint32_t be;

	if (nlmsg_parse(nlmsg_hdr(msg), sizeof(struct rtmsg), tb, RTA_MAX, NULL) < 0 ||
	    !tb[RTA_PREFSRC] || nla_len(tb[RTA_PREFSRC]) < 4)
		return NL_OK;
	memcpy(&be, nla_data(tb[RTA_PREFSRC]), 4);
	ctx->src = ntohl(be);
	ctx->found = true;
	return NL_OK;
}

int kern_route_source(uint32_t dst, uint32_t *src, struct kern_error *err)
{
	struct rtmsg rtm = {.rtm_family = AF_INET, .rtm_dst_len = 32};
	struct source_ctx ctx = {0, false};
	uint32_t be = htonl(dst);
	struct nl_msg *msg;
	struct knl nl;
	char a[ADDR_STRLEN];
	int rc;

	rc = knl_open(&nl, NULL, NULL, err);
	if (rc < 0)
		return rc;
	msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_REQUEST);
	if (!msg || nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, RTA_DST, 4, &be) < 0)
		fatal("out of memory building a netlink request");
	rc = knl_send_query(&nl, msg);
	if (rc >= 0)
		rc = knl_recv_reply(&nl, source_valid, &ctx);
	if (rc < 0) {
		int e = nl.kernel_errno ? nl.kernel_errno : EIO;

		kern_errorf(err, "cannot find a route to %s: %s", kfmt_addr(dst, a),
			    nl.kernel_errno ? strerror(e) : nl_geterror(rc));
		rc = -e;
	} else if (!ctx.found) {
		kern_errorf(err, "cannot find a source address to reach %s: the route has none",
			    kfmt_addr(dst, a));
		rc = -EADDRNOTAVAIL;
	} else {
		*src = ctx.src;
		rc = 0;
	}
	knl_close(&nl);
	return rc;
}
