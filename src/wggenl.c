/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: kernel WireGuard over generic netlink (include/nsagent/wggenl.h).
 *
 * The messages follow linux/wireguard.h and wg(8)'s ipc-linux.h: a SET
 * carries the device's name, its private key and port when they change,
 * and a WGDEVICE_A_PEERS nest of peers, each a nest of its public key,
 * flags (WGPEER_F_REMOVE_ME, or WGPEER_F_REPLACE_ALLOWEDIPS: the peer's
 * allowed IPs are exactly the list that follows, so an update in place
 * keeps its session as the UAPI's replace_allowed_ips does), endpoint (a
 * struct sockaddr_in or sockaddr_in6) and allowed IPs. What does not fit
 * one message goes on in the next, which names the device again; a peer
 * is never split (ours have at most WGUAPI_MAX_ALLOWED allowed IPs).
 *
 * A GET is a dump: the kernel splits a device over as many messages as
 * it takes, and a peer whose allowed IPs did not fit is continued as the
 * first peer of the next message, under the same key (the uapi header's
 * comment). The parser coalesces it, and fills the same struct
 * wguapi_device as the UAPI text parser, counters and handshake included.
 * Every length is checked before a read: a short attribute is an error
 * naming it, never a read past it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>

#include "nsagent/log.h"
#include "nsagent/wggenl.h"
#include "nsagent/xalloc.h"

#define WGGENL_TIMEOUT_MS 2000
/* An answer: the kernel fills up to 32 KiB per read of a dump. */
#define WGGENL_RECV_SIZE 32768

_Static_assert(WG_KEY_LEN == WGKEY_LEN, "one key length");

struct wggenl {
	struct mnl_socket *nl;
	uint16_t family;
	uint32_t portid;
	uint32_t seq;
	char *buf; /* WGGENL_RECV_SIZE bytes, for answers */
};

/* ---- building SET messages ---- */

struct set_batch {
	uint16_t family;
	const char *ifname;
	char msg[WGGENL_MSG_MAX];
	struct nlmsghdr *nlh; /* in msg, or NULL: none open */
	struct nlattr *peers; /* its WGDEVICE_A_PEERS, or NULL */
	char *out;
	size_t len;
};

static void batch_open(struct set_batch *b)
{
	struct genlmsghdr *genl;

	memset(b->msg, 0, sizeof(b->msg));
	b->nlh = mnl_nlmsg_put_header(b->msg);
	b->nlh->nlmsg_type = b->family;
	b->nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	genl = mnl_nlmsg_put_extra_header(b->nlh, sizeof(*genl));
	genl->cmd = WG_CMD_SET_DEVICE;
	genl->version = WG_GENL_VERSION;
	mnl_attr_put_strz(b->nlh, WGDEVICE_A_IFNAME, b->ifname);
	b->peers = NULL;
}

/* The open message onto the output. */
static void batch_flush(struct set_batch *b)
{
	if (!b->nlh)
		return;
	if (b->peers)
		mnl_attr_nest_end(b->nlh, b->peers);
	b->out = xrealloc(b->out, b->len + b->nlh->nlmsg_len);
	memcpy(b->out + b->len, b->nlh, b->nlh->nlmsg_len);
	b->len += b->nlh->nlmsg_len;
	explicit_bzero(b->msg, sizeof(b->msg)); /* it may hold the private key */
	b->nlh = NULL;
	b->peers = NULL;
}

static bool put_allowed(struct nlmsghdr *nlh, const struct wguapi_allowed *a)
{
	struct nlattr *nest = mnl_attr_nest_start_check(nlh, WGGENL_MSG_MAX, 0);
	uint32_t v4;
	bool ok;

	if (!nest)
		return false;
	if (a->ipv6) {
		ok = mnl_attr_put_u16_check(nlh, WGGENL_MSG_MAX, WGALLOWEDIP_A_FAMILY, AF_INET6) &&
		     mnl_attr_put_check(nlh, WGGENL_MSG_MAX, WGALLOWEDIP_A_IPADDR,
					sizeof(a->v6.addr), &a->v6.addr) &&
		     mnl_attr_put_u8_check(nlh, WGGENL_MSG_MAX, WGALLOWEDIP_A_CIDR_MASK, a->v6.len);
	} else {
		v4 = htonl(a->v4.addr);
		ok = mnl_attr_put_u16_check(nlh, WGGENL_MSG_MAX, WGALLOWEDIP_A_FAMILY, AF_INET) &&
		     mnl_attr_put_check(nlh, WGGENL_MSG_MAX, WGALLOWEDIP_A_IPADDR, sizeof(v4),
					&v4) &&
		     mnl_attr_put_u8_check(nlh, WGGENL_MSG_MAX, WGALLOWEDIP_A_CIDR_MASK, a->v4.len);
	}
	if (!ok) {
		mnl_attr_nest_cancel(nlh, nest);
		return false;
	}
	mnl_attr_nest_end(nlh, nest);
	return true;
}

/* One peer into the open message's peers nest; false (and nothing
 * added) when it does not fit. */
static bool put_peer(struct nlmsghdr *nlh, const struct wguapi_peer *p, bool remove)
{
	struct nlattr *peer = mnl_attr_nest_start_check(nlh, WGGENL_MSG_MAX, 0), *allowed;
	struct sockaddr_storage ss;
	socklen_t sslen;

	if (!peer)
		return false;
	if (!mnl_attr_put_check(nlh, WGGENL_MSG_MAX, WGPEER_A_PUBLIC_KEY, WGKEY_LEN,
				p->public_key) ||
	    !mnl_attr_put_u32_check(nlh, WGGENL_MSG_MAX, WGPEER_A_FLAGS,
				    remove ? WGPEER_F_REMOVE_ME : WGPEER_F_REPLACE_ALLOWEDIPS))
		goto undo;
	if (remove)
		goto done;
	sslen = nodeaddr_to_sockaddr(&p->endpoint.addr, p->endpoint.port, &ss);
	if (sslen && !nodeaddr_is_zero(&p->endpoint.addr) &&
	    !mnl_attr_put_check(nlh, WGGENL_MSG_MAX, WGPEER_A_ENDPOINT, sslen, &ss))
		goto undo;
	allowed = mnl_attr_nest_start_check(nlh, WGGENL_MSG_MAX, WGPEER_A_ALLOWEDIPS);
	if (!allowed)
		goto undo;
	for (unsigned i = 0; i < p->n_allowed; i++)
		if (!put_allowed(nlh, &p->allowed[i]))
			goto undo;
	mnl_attr_nest_end(nlh, allowed);
done:
	mnl_attr_nest_end(nlh, peer);
	return true;
undo:
	mnl_attr_nest_cancel(nlh, peer);
	return false;
}

static void batch_peer(struct set_batch *b, const struct wguapi_peer *p, bool remove)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!b->nlh)
			batch_open(b);
		if (!b->peers)
			b->peers =
			    mnl_attr_nest_start_check(b->nlh, WGGENL_MSG_MAX, WGDEVICE_A_PEERS);
		if (b->peers && put_peer(b->nlh, p, remove))
			return;
		batch_flush(b);
	}
	fatal("a WireGuard peer does not fit an empty %d-byte netlink message", WGGENL_MSG_MAX);
}

unsigned wggenl_build_set(uint16_t family, const char *ifname, const struct wguapi_device *want,
			  const struct wguapi_device *have, void **out, size_t *len)
{
	struct set_batch *b = xcalloc(1, sizeof(*b));
	struct wguapi_plan plan;
	unsigned changes = wguapi_plan(want, have, &plan);

	*out = NULL;
	*len = 0;
	if (!changes)
		goto out;
	b->family = family;
	b->ifname = ifname;
	batch_open(b);
	if (plan.private_key)
		mnl_attr_put(b->nlh, WGDEVICE_A_PRIVATE_KEY, WGKEY_LEN, want->private_key);
	if (plan.listen_port)
		mnl_attr_put_u16(b->nlh, WGDEVICE_A_LISTEN_PORT, want->listen_port);
	for (unsigned i = 0; i < plan.n_remove; i++)
		batch_peer(b, &have->peers[plan.remove[i]], true);
	for (unsigned i = 0; i < plan.n_set; i++)
		batch_peer(b, &want->peers[plan.set[i]], false);
	batch_flush(b);
	*out = b->out;
	*len = b->len;
out:
	wguapi_plan_free(&plan);
	free(b);
	return changes;
}

/* ---- parsing GET answers ---- */

struct get_ctx {
	struct wguapi_device *dev;
	bool first_peer; /* the next peer is its message's first */
	char *msg;
	size_t size;
};

/* Collects the attributes of a nest by type (the last of a type wins),
 * dropping types over max. */
struct attr_table {
	const struct nlattr **tb;
	unsigned max;
};

static int collect(const struct nlattr *attr, void *data)
{
	struct attr_table *t = data;
	unsigned type = mnl_attr_get_type(attr);

	if (type <= t->max)
		t->tb[type] = attr;
	return MNL_CB_OK;
}

static int nested(const struct nlattr *nest, const struct nlattr **tb, unsigned max)
{
	struct attr_table t = {tb, max};

	memset(tb, 0, (max + 1) * sizeof(*tb));
	return mnl_attr_parse_nested(nest, collect, &t) == MNL_CB_OK ? 0 : -EBADMSG;
}

static int bad(struct get_ctx *c, const char *what)
{
	snprintf(c->msg, c->size, "WireGuard netlink answer: cannot read %s", what);
	return -EBADMSG;
}

static int parse_allowed(struct get_ctx *c, const struct nlattr *nest, struct wguapi_allowed *a)
{
	const struct nlattr *tb[WGALLOWEDIP_A_MAX + 1];
	uint16_t family;
	uint8_t cidr;
	uint32_t v4;

	if (nested(nest, tb, WGALLOWEDIP_A_MAX) < 0 || !tb[WGALLOWEDIP_A_FAMILY] ||
	    !tb[WGALLOWEDIP_A_IPADDR] || !tb[WGALLOWEDIP_A_CIDR_MASK] ||
	    mnl_attr_validate(tb[WGALLOWEDIP_A_FAMILY], MNL_TYPE_U16) < 0 ||
	    mnl_attr_validate(tb[WGALLOWEDIP_A_CIDR_MASK], MNL_TYPE_U8) < 0)
		return bad(c, "an allowed IP (family, address and mask)");
	family = mnl_attr_get_u16(tb[WGALLOWEDIP_A_FAMILY]);
	cidr = mnl_attr_get_u8(tb[WGALLOWEDIP_A_CIDR_MASK]);
	memset(a, 0, sizeof(*a));
	if (family == AF_INET && mnl_attr_get_payload_len(tb[WGALLOWEDIP_A_IPADDR]) == 4 &&
	    cidr <= 32) {
		memcpy(&v4, mnl_attr_get_payload(tb[WGALLOWEDIP_A_IPADDR]), 4);
		a->v4 = (struct prefix){.addr = ntohl(v4), .len = cidr};
		return 0;
	}
	if (family == AF_INET6 && mnl_attr_get_payload_len(tb[WGALLOWEDIP_A_IPADDR]) == 16 &&
	    cidr <= 128) {
		a->ipv6 = true;
		memcpy(&a->v6.addr, mnl_attr_get_payload(tb[WGALLOWEDIP_A_IPADDR]), 16);
		a->v6.len = cidr;
		return 0;
	}
	return bad(c, "an allowed IP (not IPv4 /0-32 or IPv6 /0-128)");
}

static int parse_endpoint(struct get_ctx *c, const struct nlattr *attr, struct endpoint *ep)
{
	struct sockaddr_storage ss;
	size_t len = mnl_attr_get_payload_len(attr);
	size_t want;

	memset(&ss, 0, sizeof(ss));
	if (len < sizeof(sa_family_t) || len > sizeof(ss))
		return bad(c, "a peer's endpoint (length)");
	memcpy(&ss, mnl_attr_get_payload(attr), len);
	want = ss.ss_family == AF_INET	  ? sizeof(struct sockaddr_in)
	       : ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					  : 0;
	if (!want || len < want ||
	    nodeaddr_from_sockaddr((struct sockaddr *)&ss, &ep->addr, &ep->port) < 0)
		return bad(c, "a peer's endpoint (not IPv4 or IPv6)");
	return 0;
}

static int parse_u64(struct get_ctx *c, const struct nlattr *attr, uint64_t *out, const char *what)
{
	if (mnl_attr_validate(attr, MNL_TYPE_U64) < 0)
		return bad(c, what);
	*out = mnl_attr_get_u64(attr);
	return 0;
}

static int parse_peer(struct get_ctx *c, const struct nlattr *nest)
{
	const struct nlattr *tb[WGPEER_A_MAX + 1], *a;
	struct wguapi_device *dev = c->dev;
	struct wguapi_peer *peer;
	bool first = c->first_peer;
	int rc = 0;

	c->first_peer = false;
	if (nested(nest, tb, WGPEER_A_MAX) < 0 || !tb[WGPEER_A_PUBLIC_KEY] ||
	    mnl_attr_get_payload_len(tb[WGPEER_A_PUBLIC_KEY]) != WGKEY_LEN)
		return bad(c, "a peer's public key");
	peer = dev->n_peers ? &dev->peers[dev->n_peers - 1] : NULL;
	/* The previous message's last peer, continued. */
	if (!(first && peer &&
	      memcmp(peer->public_key, mnl_attr_get_payload(tb[WGPEER_A_PUBLIC_KEY]), WGKEY_LEN) ==
		  0)) {
		dev->peers = xreallocarray(dev->peers, dev->n_peers + 1, sizeof(*dev->peers));
		peer = &dev->peers[dev->n_peers++];
		memset(peer, 0, sizeof(*peer));
		memcpy(peer->public_key, mnl_attr_get_payload(tb[WGPEER_A_PUBLIC_KEY]), WGKEY_LEN);
	}
	if (tb[WGPEER_A_ENDPOINT])
		rc = parse_endpoint(c, tb[WGPEER_A_ENDPOINT], &peer->endpoint);
	if (rc == 0 && tb[WGPEER_A_LAST_HANDSHAKE_TIME]) {
		struct __kernel_timespec ts;

		if (mnl_attr_get_payload_len(tb[WGPEER_A_LAST_HANDSHAKE_TIME]) != sizeof(ts))
			return bad(c, "a peer's last handshake time");
		memcpy(&ts, mnl_attr_get_payload(tb[WGPEER_A_LAST_HANDSHAKE_TIME]), sizeof(ts));
		peer->last_handshake_sec = ts.tv_sec > 0 ? (uint64_t)ts.tv_sec : 0;
	}
	if (rc == 0 && tb[WGPEER_A_RX_BYTES])
		rc = parse_u64(c, tb[WGPEER_A_RX_BYTES], &peer->rx_bytes, "a peer's rx bytes");
	if (rc == 0 && tb[WGPEER_A_TX_BYTES])
		rc = parse_u64(c, tb[WGPEER_A_TX_BYTES], &peer->tx_bytes, "a peer's tx bytes");
	if (rc < 0 || !tb[WGPEER_A_ALLOWEDIPS])
		return rc;
	mnl_attr_for_each_nested(a, tb[WGPEER_A_ALLOWEDIPS])
	{
		if (peer->n_allowed == WGUAPI_MAX_ALLOWED)
			break; /* more than we ever set: someone else's peer */
		rc = parse_allowed(c, a, &peer->allowed[peer->n_allowed]);
		if (rc < 0)
			return rc;
		peer->n_allowed++;
	}
	return 0;
}

int wggenl_parse_get(const struct nlmsghdr *nlh, struct wguapi_device *dev, char *msg, size_t size)
{
	struct get_ctx c = {.dev = dev, .first_peer = true, .msg = msg, .size = size};
	const struct nlattr *tb[WGDEVICE_A_MAX + 1], *a;
	struct attr_table t = {tb, WGDEVICE_A_MAX};
	int rc;

	memset(tb, 0, sizeof(tb));
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct genlmsghdr)) ||
	    mnl_attr_parse(nlh, sizeof(struct genlmsghdr), collect, &t) != MNL_CB_OK)
		return bad(&c, "the message");
	if (tb[WGDEVICE_A_PRIVATE_KEY]) {
		if (mnl_attr_get_payload_len(tb[WGDEVICE_A_PRIVATE_KEY]) != WGKEY_LEN)
			return bad(&c, "the device's private key");
		memcpy(dev->private_key, mnl_attr_get_payload(tb[WGDEVICE_A_PRIVATE_KEY]),
		       WGKEY_LEN);
		dev->has_private_key = !wgkey_is_zero(dev->private_key);
	}
	if (tb[WGDEVICE_A_LISTEN_PORT]) {
		if (mnl_attr_validate(tb[WGDEVICE_A_LISTEN_PORT], MNL_TYPE_U16) < 0)
			return bad(&c, "the device's listen port");
		dev->listen_port = mnl_attr_get_u16(tb[WGDEVICE_A_LISTEN_PORT]);
	}
	if (!tb[WGDEVICE_A_PEERS])
		return 0;
	mnl_attr_for_each_nested(a, tb[WGDEVICE_A_PEERS])
	{
		rc = parse_peer(&c, a);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- the socket ---- */

struct answer {
	int (*parse)(const struct nlmsghdr *nlh, void *data);
	void *data;
	int rc; /* the parser's, when it failed */
};

static int on_answer(const struct nlmsghdr *nlh, void *data)
{
	struct answer *a = data;

	if (!a->parse)
		return MNL_CB_OK;
	a->rc = a->parse(nlh, a->data);
	if (a->rc < 0) {
		errno = -a->rc;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

/* Sends req (seq set here) and reads until its ack, error or dump end. */
static int exchange(struct wggenl *g, struct nlmsghdr *req, struct answer *a, const char *what,
		    char *msg, size_t size)
{
	uint32_t seq = ++g->seq;
	int rc;

	req->nlmsg_seq = seq;
	if (mnl_socket_sendto(g->nl, req, req->nlmsg_len) < 0) {
		rc = -errno;
		snprintf(msg, size, "WireGuard netlink: cannot send %s: %s", what, strerror(errno));
		return rc;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(g->nl, g->buf, WGGENL_RECV_SIZE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
			snprintf(msg, size, "WireGuard netlink: no answer to %s: %s", what,
				 errno == EAGAIN ? "timed out" : strerror(errno));
			return rc;
		}
		rc = mnl_cb_run(g->buf, (size_t)n, seq, g->portid, on_answer, a);
		if (rc == MNL_CB_STOP)
			return 0;
		if (rc == MNL_CB_ERROR) {
			rc = a->rc < 0 ? a->rc : -errno;
			/* A parse error already said what it could not read. */
			if (a->rc >= 0)
				snprintf(msg, size, "WireGuard netlink: %s refused: %s", what,
					 strerror(errno));
			return rc;
		}
	}
}

static int on_family(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[CTRL_ATTR_MAX + 1];
	struct attr_table t = {tb, CTRL_ATTR_MAX};

	memset(tb, 0, sizeof(tb));
	if (mnl_attr_parse(nlh, sizeof(struct genlmsghdr), collect, &t) != MNL_CB_OK ||
	    !tb[CTRL_ATTR_FAMILY_ID] ||
	    mnl_attr_validate(tb[CTRL_ATTR_FAMILY_ID], MNL_TYPE_U16) < 0)
		return -EBADMSG;
	*(uint16_t *)data = mnl_attr_get_u16(tb[CTRL_ATTR_FAMILY_ID]);
	return 0;
}

int wggenl_open(struct wggenl **out, char *msg, size_t size)
{
	int rc = wggenl_open_family(WG_GENL_NAME, out, msg, size);

	if (rc == -ENOENT)
		snprintf(msg, size,
			 "the kernel has no WireGuard (generic netlink family \"%s\" not found)",
			 WG_GENL_NAME);
	return rc;
}

int wggenl_open_family(const char *family, struct wggenl **out, char *msg, size_t size)
{
	struct wggenl *g = xcalloc(1, sizeof(*g));
	struct timeval tv = {.tv_sec = WGGENL_TIMEOUT_MS / 1000,
			     .tv_usec = (WGGENL_TIMEOUT_MS % 1000) * 1000};
	char req[WGGENL_MSG_MAX];
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;
	struct answer a = {.parse = on_family};
	int rc;

	g->nl = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	if (!g->nl || mnl_socket_bind(g->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		snprintf(msg, size, "cannot open a generic netlink socket: %s", strerror(errno));
		goto fail;
	}
	setsockopt(mnl_socket_get_fd(g->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	g->portid = mnl_socket_get_portid(g->nl);
	g->buf = xmalloc(WGGENL_RECV_SIZE);
	nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = CTRL_CMD_GETFAMILY;
	genl->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, family);
	a.data = &g->family;
	rc = exchange(g, nlh, &a, "the family lookup", msg, size);
	if (rc == -ENOENT)
		snprintf(msg, size, "no generic netlink family \"%s\"", family);
	if (rc < 0)
		goto fail;
	*out = g;
	return 0;
fail:
	wggenl_close(g);
	return rc;
}

void wggenl_close(struct wggenl *g)
{
	if (!g)
		return;
	if (g->nl)
		mnl_socket_close(g->nl);
	free(g->buf);
	free(g);
}

uint16_t wggenl_family(const struct wggenl *g)
{
	return g->family;
}

static int on_device(const struct nlmsghdr *nlh, void *data)
{
	struct get_ctx *c = data;

	return wggenl_parse_get(nlh, c->dev, c->msg, c->size);
}

int wggenl_get(struct wggenl *g, const char *ifname, struct wguapi_device *dev, char *msg,
	       size_t size)
{
	char req[WGGENL_MSG_MAX];
	struct get_ctx c = {.dev = dev, .msg = msg, .size = size};
	struct answer a = {.parse = on_device, .data = &c};
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	struct genlmsghdr *genl;
	char what[64];
	int rc;

	memset(dev, 0, sizeof(*dev));
	nlh->nlmsg_type = g->family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = WG_CMD_GET_DEVICE;
	genl->version = WG_GENL_VERSION;
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
	snprintf(what, sizeof(what), "the read-back of %s", ifname);
	rc = exchange(g, nlh, &a, what, msg, size);
	if (rc < 0)
		wguapi_device_free(dev);
	return rc;
}

int wggenl_set(struct wggenl *g, const void *msgs, size_t len, char *msg, size_t size)
{
	struct answer a = {0};
	char *copy = xmalloc(len ? len : 1);
	size_t off = 0;
	int rc = 0;

	/* A private copy: seq numbers are written into it, and it is wiped
	 * (it may hold the private key). */
	memcpy(copy, msgs, len);
	while (rc == 0 && off + sizeof(struct nlmsghdr) <= len) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)(copy + off);

		if (nlh->nlmsg_len < sizeof(*nlh) || off + nlh->nlmsg_len > len)
			break;
		rc = exchange(g, nlh, &a, "the device's configuration", msg, size);
		off += NLMSG_ALIGN(nlh->nlmsg_len);
	}
	explicit_bzero(copy, len);
	free(copy);
	return rc;
}
