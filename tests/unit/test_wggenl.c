/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Kernel WireGuard's generic netlink (src/wggenl.c), without a kernel
 * that has it: the SET messages built for a device are read back here
 * attribute by attribute with libmnl against linux/wireguard.h's
 * constants (the key and port, a peer removed, a peer set with IPv4 and
 * IPv6 allowed IPs and its endpoint; many peers split over messages of
 * at most WGGENL_MSG_MAX, none lost or split); a GET dump built here as
 * the kernel splits one (a peer continued in the next message) parses
 * into the same struct wguapi_device as the UAPI text of the same device;
 * a malformed answer is refused, naming what; and the choice of
 * implementation takes userspace where the kernel has no WireGuard (or
 * when --wireguard-userspace says so). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>

#include <cmocka.h>

#include "addr6_lit.h"
#include "nsagent/log.h"
#include "nsagent/wg.h"
#include "nsagent/wggenl.h"

#define FAMILY 0x1d
#define PORT 51820
#define MSG_BUF 8192

static const uint8_t KEY_PRIV[WGKEY_LEN] = {0x40, 1, 2, 3};
static const uint8_t KEY_A[WGKEY_LEN] = {0xa0, 1, 2, 3};
static const uint8_t KEY_B[WGKEY_LEN] = {0xb0, 1, 2, 3};

/* ---- reading messages back, as the kernel would ---- */

struct table {
	const struct nlattr *tb[16];
};

static int collect(const struct nlattr *attr, void *data)
{
	struct table *t = data;

	if (mnl_attr_get_type(attr) < 16)
		t->tb[mnl_attr_get_type(attr)] = attr;
	return MNL_CB_OK;
}

static struct table nest_table(const struct nlattr *nest)
{
	struct table t;

	memset(&t, 0, sizeof(t));
	assert_int_equal(mnl_attr_parse_nested(nest, collect, &t), MNL_CB_OK);
	return t;
}

static void assert_allowed4(const struct nlattr *nest, const char *addr, uint8_t cidr)
{
	struct table t = nest_table(nest);
	struct in_addr want;

	assert_int_equal(inet_pton(AF_INET, addr, &want), 1);
	assert_int_equal(mnl_attr_get_u16(t.tb[WGALLOWEDIP_A_FAMILY]), AF_INET);
	assert_int_equal(mnl_attr_get_payload_len(t.tb[WGALLOWEDIP_A_IPADDR]), 4);
	assert_memory_equal(mnl_attr_get_payload(t.tb[WGALLOWEDIP_A_IPADDR]), &want, 4);
	assert_int_equal(mnl_attr_get_u8(t.tb[WGALLOWEDIP_A_CIDR_MASK]), cidr);
}

static void assert_allowed6(const struct nlattr *nest, const char *addr, uint8_t cidr)
{
	struct table t = nest_table(nest);
	struct in6_addr want = ip6(addr);

	assert_int_equal(mnl_attr_get_u16(t.tb[WGALLOWEDIP_A_FAMILY]), AF_INET6);
	assert_int_equal(mnl_attr_get_payload_len(t.tb[WGALLOWEDIP_A_IPADDR]), 16);
	assert_memory_equal(mnl_attr_get_payload(t.tb[WGALLOWEDIP_A_IPADDR]), &want, 16);
	assert_int_equal(mnl_attr_get_u8(t.tb[WGALLOWEDIP_A_CIDR_MASK]), cidr);
}

static void peer_init(struct wguapi_peer *p, const uint8_t *key, const char *endpoint)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->public_key, key, WGKEY_LEN);
	if (endpoint)
		assert_int_equal(addr_parse_endpoint(endpoint, 0, &p->endpoint), 0);
}

static void peer_allow(struct wguapi_peer *p, const char *prefix)
{
	struct wguapi_allowed *a = &p->allowed[p->n_allowed++];

	memset(a, 0, sizeof(*a));
	if (strchr(prefix, ':')) {
		a->ipv6 = true;
		a->v6 = pfx6(prefix);
	} else {
		assert_int_equal(addr_parse_prefix(prefix, &a->v4), 0);
	}
}

/* A device with our key and port and peer A (both families, an IPv4
 * endpoint), against one that has only peer B: the key, the port, B
 * removed and A set, in one message. */
static void test_build_set(void **state)
{
	struct wguapi_peer want_peers[1], have_peers[1];
	struct wguapi_device want = {.has_private_key = true,
				     .listen_port = PORT,
				     .peers = want_peers,
				     .n_peers = 1},
			     have = {.peers = have_peers, .n_peers = 1};
	const struct nlattr *peer;
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;
	struct sockaddr_in sin;
	struct table dev, p;
	unsigned changes, n = 0;
	void *buf;
	size_t len;

	(void)state;
	memcpy(want.private_key, KEY_PRIV, WGKEY_LEN);
	peer_init(&want_peers[0], KEY_A, "192.168.1.6:51820");
	peer_allow(&want_peers[0], "172.16.1.0/24");
	peer_allow(&want_peers[0], "fd6e:7361:6765:1::/64");
	peer_init(&have_peers[0], KEY_B, "192.168.1.7:51820");
	changes = wggenl_build_set(FAMILY, "nsa-wg", &want, &have, &buf, &len);
	assert_int_equal(changes, 4);
	nlh = buf;
	assert_true(mnl_nlmsg_ok(nlh, (int)len));
	assert_int_equal(nlh->nlmsg_len, len); /* one message */
	assert_int_equal(nlh->nlmsg_type, FAMILY);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	genl = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(genl->cmd, WG_CMD_SET_DEVICE);
	assert_int_equal(genl->version, WG_GENL_VERSION);
	memset(&dev, 0, sizeof(dev));
	assert_int_equal(mnl_attr_parse(nlh, sizeof(*genl), collect, &dev), MNL_CB_OK);
	assert_string_equal(mnl_attr_get_str(dev.tb[WGDEVICE_A_IFNAME]), "nsa-wg");
	assert_int_equal(mnl_attr_get_payload_len(dev.tb[WGDEVICE_A_PRIVATE_KEY]), WG_KEY_LEN);
	assert_memory_equal(mnl_attr_get_payload(dev.tb[WGDEVICE_A_PRIVATE_KEY]), KEY_PRIV,
			    WG_KEY_LEN);
	assert_int_equal(mnl_attr_get_u16(dev.tb[WGDEVICE_A_LISTEN_PORT]), PORT);
	assert_null(dev.tb[WGDEVICE_A_FLAGS]); /* never REPLACE_PEERS: sessions survive */
	mnl_attr_for_each_nested(peer, dev.tb[WGDEVICE_A_PEERS])
	{
		const struct nlattr *a;
		unsigned k = 0;

		p = nest_table(peer);
		if (n++ == 0) {
			assert_memory_equal(mnl_attr_get_payload(p.tb[WGPEER_A_PUBLIC_KEY]), KEY_B,
					    WG_KEY_LEN);
			assert_int_equal(mnl_attr_get_u32(p.tb[WGPEER_A_FLAGS]),
					 WGPEER_F_REMOVE_ME);
			assert_null(p.tb[WGPEER_A_ENDPOINT]);
			assert_null(p.tb[WGPEER_A_ALLOWEDIPS]);
			continue;
		}
		assert_memory_equal(mnl_attr_get_payload(p.tb[WGPEER_A_PUBLIC_KEY]), KEY_A,
				    WG_KEY_LEN);
		assert_int_equal(mnl_attr_get_u32(p.tb[WGPEER_A_FLAGS]),
				 WGPEER_F_REPLACE_ALLOWEDIPS);
		assert_int_equal(mnl_attr_get_payload_len(p.tb[WGPEER_A_ENDPOINT]), sizeof(sin));
		memcpy(&sin, mnl_attr_get_payload(p.tb[WGPEER_A_ENDPOINT]), sizeof(sin));
		assert_int_equal(sin.sin_family, AF_INET);
		assert_int_equal(ntohs(sin.sin_port), PORT);
		assert_int_equal(ntohl(sin.sin_addr.s_addr), 0xc0a80106u);
		mnl_attr_for_each_nested(a, p.tb[WGPEER_A_ALLOWEDIPS])
		{
			if (k++ == 0)
				assert_allowed4(a, "172.16.1.0", 24);
			else
				assert_allowed6(a, "fd6e:7361:6765:1::", 64);
		}
		assert_int_equal(k, 2);
	}
	assert_int_equal(n, 2);
	free(buf);

	/* The same device as wanted: nothing to send. */
	have = want;
	assert_int_equal(wggenl_build_set(FAMILY, "nsa-wg", &want, &have, &buf, &len), 0);
	assert_null(buf);
}

/* 64 peers of 32 allowed IPs each (an IPv6 endpoint): several messages,
 * each within WGGENL_MSG_MAX and naming the device; the key only in the
 * first; every peer exactly once, whole. */
static void test_build_set_split(void **state)
{
	enum { N = 64 };
	struct wguapi_peer *peers = calloc(N, sizeof(*peers));
	struct wguapi_device want = {.has_private_key = true, .peers = peers, .n_peers = N},
			     have = {0};
	unsigned seen[N] = {0}, messages = 0;
	struct nlmsghdr *nlh;
	void *buf;
	size_t len;
	int left;

	(void)state;
	memcpy(want.private_key, KEY_PRIV, WGKEY_LEN);
	for (unsigned i = 0; i < N; i++) {
		uint8_t key[WGKEY_LEN] = {0xc0, (uint8_t)i};

		peer_init(&peers[i], key, "[2001:db8:1::6]:51820");
		for (unsigned k = 0; k < WGUAPI_MAX_ALLOWED; k++) {
			char p[32];

			snprintf(p, sizeof(p), "172.%u.%u.0/24", 16 + i / 8, k);
			peer_allow(&peers[i], p);
		}
	}
	assert_int_equal(wggenl_build_set(FAMILY, "nsa-wg", &want, &have, &buf, &len), N + 1);
	left = (int)len;
	for (nlh = buf; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		struct table dev;
		const struct nlattr *peer;

		assert_true(nlh->nlmsg_len <= WGGENL_MSG_MAX);
		memset(&dev, 0, sizeof(dev));
		assert_int_equal(mnl_attr_parse(nlh, sizeof(struct genlmsghdr), collect, &dev),
				 MNL_CB_OK);
		assert_string_equal(mnl_attr_get_str(dev.tb[WGDEVICE_A_IFNAME]), "nsa-wg");
		assert_true((dev.tb[WGDEVICE_A_PRIVATE_KEY] != NULL) == (messages == 0));
		mnl_attr_for_each_nested(peer, dev.tb[WGDEVICE_A_PEERS])
		{
			struct table p = nest_table(peer);
			const uint8_t *key = mnl_attr_get_payload(p.tb[WGPEER_A_PUBLIC_KEY]);
			const struct nlattr *a;
			unsigned k = 0;

			assert_int_equal(mnl_attr_get_payload_len(p.tb[WGPEER_A_ENDPOINT]),
					 sizeof(struct sockaddr_in6));
			mnl_attr_for_each_nested(a, p.tb[WGPEER_A_ALLOWEDIPS]) k++;
			assert_int_equal(k, WGUAPI_MAX_ALLOWED);
			seen[key[1]]++;
		}
		messages++;
	}
	assert_int_equal(left, 0);
	assert_true(messages > 1);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	free(buf);
	free(peers);
}

/* ---- a GET dump, as the kernel splits one ---- */

static struct nlmsghdr *dump_msg(char *buf)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));

	nlh->nlmsg_type = FAMILY;
	nlh->nlmsg_flags = NLM_F_MULTI;
	genl->cmd = WG_CMD_GET_DEVICE;
	genl->version = WG_GENL_VERSION;
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "nsa-wg");
	return nlh;
}

static void put_allowed(struct nlmsghdr *nlh, int family, const char *addr, uint8_t cidr)
{
	struct nlattr *a = mnl_attr_nest_start(nlh, 0);
	struct in6_addr bytes;

	assert_int_equal(inet_pton(family, addr, &bytes), 1);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, (uint16_t)family);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, family == AF_INET ? 4 : 16, &bytes);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, cidr);
	mnl_attr_nest_end(nlh, a);
}

/* Message 1: the device, peer A with its IPv6 endpoint, handshake,
 * counters and an IPv4 allowed IP; message 2: A continued (its IPv6
 * allowed IP), then peer B. */
static void build_dump(char *m1, char *m2)
{
	struct __kernel_timespec hs = {.tv_sec = 1700000000, .tv_nsec = 5};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(PORT)};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(51821)};
	struct nlattr *peers, *peer, *allowed;
	struct nlmsghdr *nlh = dump_msg(m1);

	sin6.sin6_addr = ip6("2001:db8:1::6");
	sin.sin_addr.s_addr = htonl(0xc0a80107u);
	mnl_attr_put(nlh, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, KEY_PRIV);
	mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, PORT);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	peer = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, KEY_A);
	mnl_attr_put(nlh, WGPEER_A_ENDPOINT, sizeof(sin6), &sin6);
	mnl_attr_put(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, sizeof(hs), &hs);
	mnl_attr_put_u64(nlh, WGPEER_A_RX_BYTES, 1000);
	mnl_attr_put_u64(nlh, WGPEER_A_TX_BYTES, 2000);
	allowed = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	put_allowed(nlh, AF_INET, "172.16.1.0", 24);
	mnl_attr_nest_end(nlh, allowed);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);

	nlh = dump_msg(m2);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	peer = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, KEY_A);
	allowed = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	put_allowed(nlh, AF_INET6, "fd6e:7361:6765:1::", 64);
	mnl_attr_nest_end(nlh, allowed);
	mnl_attr_nest_end(nlh, peer);
	peer = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, KEY_B);
	mnl_attr_put(nlh, WGPEER_A_ENDPOINT, sizeof(sin), &sin);
	allowed = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	put_allowed(nlh, AF_INET, "172.16.2.0", 24);
	mnl_attr_nest_end(nlh, allowed);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
}

static void assert_same_device(const struct wguapi_device *a, const struct wguapi_device *b)
{
	assert_int_equal(a->has_private_key, b->has_private_key);
	assert_memory_equal(a->private_key, b->private_key, WGKEY_LEN);
	assert_int_equal(a->listen_port, b->listen_port);
	assert_int_equal(a->n_peers, b->n_peers);
	for (unsigned i = 0; i < a->n_peers; i++) {
		const struct wguapi_peer *p = &a->peers[i], *q = &b->peers[i];

		assert_memory_equal(p->public_key, q->public_key, WGKEY_LEN);
		assert_true(nodeaddr_equal(&p->endpoint.addr, &q->endpoint.addr));
		assert_int_equal(p->endpoint.port, q->endpoint.port);
		assert_int_equal(p->last_handshake_sec, q->last_handshake_sec);
		assert_int_equal(p->rx_bytes, q->rx_bytes);
		assert_int_equal(p->tx_bytes, q->tx_bytes);
		assert_int_equal(p->n_allowed, q->n_allowed);
		assert_memory_equal(p->allowed, q->allowed, p->n_allowed * sizeof(p->allowed[0]));
	}
}

static void test_parse_dump(void **state)
{
	static const char text[] =
	    "private_key=4001020300000000000000000000000000000000000000000000000000000000\n"
	    "listen_port=51820\n"
	    "public_key=a001020300000000000000000000000000000000000000000000000000000000\n"
	    "endpoint=[2001:db8:1::6]:51820\n"
	    "last_handshake_time_sec=1700000000\n"
	    "last_handshake_time_nsec=5\n"
	    "rx_bytes=1000\n"
	    "tx_bytes=2000\n"
	    "allowed_ip=172.16.1.0/24\n"
	    "allowed_ip=fd6e:7361:6765:1::/64\n"
	    "public_key=b001020300000000000000000000000000000000000000000000000000000000\n"
	    "endpoint=192.168.1.7:51821\n"
	    "allowed_ip=172.16.2.0/24\n"
	    "errno=0\n";
	char m1[MSG_BUF] = {0}, m2[MSG_BUF] = {0}, msg[256];
	struct wguapi_device genl, uapi;
	int err;

	(void)state;
	build_dump(m1, m2);
	memset(&genl, 0, sizeof(genl));
	assert_int_equal(wggenl_parse_get((struct nlmsghdr *)m1, &genl, msg, sizeof(msg)), 0);
	assert_int_equal(wggenl_parse_get((struct nlmsghdr *)m2, &genl, msg, sizeof(msg)), 0);
	assert_int_equal(wguapi_parse(text, &uapi, &err, msg, sizeof(msg)), 0);
	assert_int_equal(err, 0);
	assert_int_equal(genl.n_peers, 2); /* A continued, not a second A */
	assert_int_equal(genl.peers[0].n_allowed, 2);
	assert_same_device(&genl, &uapi);
	wguapi_device_free(&genl);
	wguapi_device_free(&uapi);
}

/* nlh, parsed, is refused with a message holding what. */
static void assert_refused(const struct nlmsghdr *nlh, const char *what)
{
	struct wguapi_device dev;
	char msg[256];

	memset(&dev, 0, sizeof(dev));
	assert_int_equal(wggenl_parse_get(nlh, &dev, msg, sizeof(msg)), -EBADMSG);
	assert_non_null(strstr(msg, what));
	wguapi_device_free(&dev);
}

/* A peer whose key is short, and an allowed IP of family 7: refused,
 * named; nothing read past an attribute. */
static void test_parse_malformed(void **state)
{
	char buf[MSG_BUF] = {0};
	struct nlattr *peers, *peer, *allowed, *one;
	struct nlmsghdr *nlh = dump_msg(buf);

	(void)state;
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	peer = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, 31, KEY_A);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
	assert_refused(nlh, "public key");

	memset(buf, 0, sizeof(buf));
	nlh = dump_msg(buf);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	peer = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, KEY_A);
	allowed = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	one = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, 7);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 4, "\xac\x10\x01\x00");
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, 24);
	mnl_attr_nest_end(nlh, one);
	mnl_attr_nest_end(nlh, allowed);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
	assert_refused(nlh, "allowed IP");
}

/* This kernel's answer decides: where its generic-netlink family does
 * not resolve (no WireGuard module), userspace, saying so; where it does,
 * the kernel's. --wireguard-userspace: userspace either way. */
static void test_impl_choice(void **state)
{
	struct wggenl *g = NULL;
	char why[384];
	bool kernel;

	(void)state;
	kernel = wg_impl_choose(false, &g, why, sizeof(why));
	if (access("/sys/module/wireguard", F_OK) == 0) {
		assert_true(kernel);
		assert_non_null(g);
	} else {
		assert_false(kernel);
		assert_null(g);
		assert_non_null(strstr(why, "userspace: the kernel has no WireGuard"));
	}
	wggenl_close(g);
	assert_false(wg_impl_choose(true, &g, why, sizeof(why)));
	assert_null(g);
	assert_non_null(strstr(why, "--wireguard-userspace"));
}

/* The exchange against this kernel: "nlctrl" (every kernel's) resolves
 * to GENL_ID_CTRL through a request, its answer and its ack; a family
 * nobody registered is -ENOENT, named. */
static void test_family_lookup(void **state)
{
	struct wggenl *g = NULL;
	char msg[256] = "";

	(void)state;
	assert_int_equal(wggenl_open_family("nlctrl", &g, msg, sizeof(msg)), 0);
	assert_int_equal(wggenl_family(g), GENL_ID_CTRL);
	wggenl_close(g);
	g = NULL;
	assert_int_equal(wggenl_open_family("nsagent-none", &g, msg, sizeof(msg)), -ENOENT);
	assert_null(g);
	assert_string_equal(msg, "no generic netlink family \"nsagent-none\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build_set),	cmocka_unit_test(test_build_set_split),
	    cmocka_unit_test(test_parse_dump),	cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_impl_choice), cmocka_unit_test(test_family_lookup),
	};

	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
