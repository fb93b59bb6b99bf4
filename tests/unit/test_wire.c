/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Frame codec: round trip, partial reads, oversize, zero length, garbage,
 * and tolerance of messages from a newer protocol version; the advert's
 * IPv6 fields (version 2) and their strict decoding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "addr6_lit.h"
#include "nsagent/wire.h"

static void put_header(struct evbuffer *buf, uint32_t len)
{
	unsigned char h[4] = {len >> 24, len >> 16, len >> 8, len};
	evbuffer_add(buf, h, 4);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct evbuffer *buf = evbuffer_new();
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Hello hello = NSA_PEER__HELLO__INIT;
	uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	NsaPeer__Envelope *got;

	hello.version = 1;
	hello.node_id.data = id;
	hello.node_id.len = sizeof(id);
	hello.node_ip = 0xac100001;
	hello.listen_port = 7470;
	hello.hold_ms = 3000;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_HELLO;
	env.hello = &hello;
	assert_int_equal(wire_write(buf, &env), 0);

	NsaPeer__Keepalive ka = NSA_PEER__KEEPALIVE__INIT;
	NsaPeer__Envelope env2 = NSA_PEER__ENVELOPE__INIT;
	env2.msg_case = NSA_PEER__ENVELOPE__MSG_KEEPALIVE;
	env2.keepalive = &ka;
	assert_int_equal(wire_write(buf, &env2), 0);

	assert_int_equal(wire_read(buf, &got), 1);
	assert_int_equal(got->msg_case, NSA_PEER__ENVELOPE__MSG_HELLO);
	assert_int_equal(got->hello->node_ip, 0xac100001);
	assert_int_equal(got->hello->listen_port, 7470);
	assert_int_equal(got->hello->node_id.len, 16);
	assert_memory_equal(got->hello->node_id.data, id, 16);
	wire_free(got);
	assert_int_equal(wire_read(buf, &got), 1);
	assert_int_equal(got->msg_case, NSA_PEER__ENVELOPE__MSG_KEEPALIVE);
	wire_free(got);
	assert_int_equal(wire_read(buf, &got), 0);
	assert_null(got);
	evbuffer_free(buf);
}

/* Feed a frame one byte at a time: "need more" until the last byte, and
 * nothing is consumed in between. */
static void test_partial(void **state)
{
	(void)state;
	struct evbuffer *whole = evbuffer_new(), *buf = evbuffer_new();
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__Goodbye bye = NSA_PEER__GOODBYE__INIT;
	NsaPeer__Envelope *got;
	unsigned char bytes[64];
	size_t n;

	bye.reason = NSA_PEER__GOODBYE__REASON__LEAVE;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_GOODBYE;
	env.goodbye = &bye;
	assert_int_equal(wire_write(whole, &env), 0);
	n = evbuffer_get_length(whole);
	assert_true(n > 4 && n < sizeof(bytes));
	evbuffer_remove(whole, bytes, n);
	for (size_t i = 0; i < n - 1; i++) {
		evbuffer_add(buf, &bytes[i], 1);
		assert_int_equal(wire_read(buf, &got), 0);
		assert_int_equal(evbuffer_get_length(buf), i + 1);
	}
	evbuffer_add(buf, &bytes[n - 1], 1);
	assert_int_equal(wire_read(buf, &got), 1);
	assert_int_equal(got->msg_case, NSA_PEER__ENVELOPE__MSG_GOODBYE);
	assert_int_equal(got->goodbye->reason, NSA_PEER__GOODBYE__REASON__LEAVE);
	wire_free(got);
	assert_int_equal(evbuffer_get_length(buf), 0);
	evbuffer_free(buf);
	evbuffer_free(whole);
}

/* An oversize length is refused from the header alone, before the payload
 * arrives (nothing is buffered waiting for 4 GiB). */
static void test_oversize(void **state)
{
	(void)state;
	struct evbuffer *buf = evbuffer_new();
	NsaPeer__Envelope *got;

	put_header(buf, WIRE_MAX_FRAME + 1);
	assert_int_equal(wire_read(buf, &got), -EMSGSIZE);
	assert_null(got);
	evbuffer_drain(buf, evbuffer_get_length(buf));
	put_header(buf, 0xffffffffu);
	assert_int_equal(wire_read(buf, &got), -EMSGSIZE);
	evbuffer_free(buf);
}

static void test_oversize_write(void **state)
{
	(void)state;
	struct evbuffer *buf = evbuffer_new();
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__PeerList list = NSA_PEER__PEER_LIST__INIT;
	enum { N = 5000 };
	static NsaPeer__PeerInfo infos[N];
	static NsaPeer__PeerInfo *ptrs[N];
	static uint8_t id[16];

	for (int i = 0; i < N; i++) {
		nsa_peer__peer_info__init(&infos[i]);
		infos[i].node_id.data = id;
		infos[i].node_id.len = sizeof(id);
		infos[i].addr = 0x0a000000 + i;
		infos[i].port = 7470;
		ptrs[i] = &infos[i];
	}
	list.n_peers = N;
	list.peers = ptrs;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_PEER_LIST;
	env.peer_list = &list;
	assert_int_equal(wire_write(buf, &env), -EMSGSIZE);
	assert_int_equal(evbuffer_get_length(buf), 0);
	evbuffer_free(buf);
}

static void test_zero_length(void **state)
{
	(void)state;
	struct evbuffer *buf = evbuffer_new();
	NsaPeer__Envelope *got;

	put_header(buf, 0);
	assert_int_equal(wire_read(buf, &got), -EBADMSG);
	evbuffer_free(buf);
}

static void test_garbage(void **state)
{
	(void)state;
	struct evbuffer *buf = evbuffer_new();
	NsaPeer__Envelope *got;
	/* field 1 (hello), wire type 2, length 100 but only 3 bytes follow */
	unsigned char junk[] = {0x0a, 100, 1, 2, 3};

	put_header(buf, sizeof(junk));
	evbuffer_add(buf, junk, sizeof(junk));
	assert_int_equal(wire_read(buf, &got), -EBADMSG);
	assert_null(got);
	evbuffer_free(buf);
}

/* A newer peer: an unknown Envelope case (field 15) and an unknown field
 * inside a known message both decode; the unknown case is "not set". */
static void test_unknown_tolerated(void **state)
{
	(void)state;
	struct evbuffer *buf = evbuffer_new();
	NsaPeer__Envelope *got;
	/* field 15, length-delimited, 2 bytes: an unknown message type */
	unsigned char unknown_case[] = {(15 << 3) | 2, 2, 0x08, 0x01};
	/* field 5 keepalive containing unknown field 9 varint 7 */
	unsigned char unknown_field[] = {(5 << 3) | 2, 2, (9 << 3) | 0, 7};

	put_header(buf, sizeof(unknown_case));
	evbuffer_add(buf, unknown_case, sizeof(unknown_case));
	put_header(buf, sizeof(unknown_field));
	evbuffer_add(buf, unknown_field, sizeof(unknown_field));
	assert_int_equal(wire_read(buf, &got), 1);
	assert_int_equal(got->msg_case, NSA_PEER__ENVELOPE__MSG__NOT_SET);
	wire_free(got);
	assert_int_equal(wire_read(buf, &got), 1);
	assert_int_equal(got->msg_case, NSA_PEER__ENVELOPE__MSG_KEEPALIVE);
	wire_free(got);
	evbuffer_free(buf);
}

/* Version 2: an advert's /64 and link-local next hop go through the
 * frame codec and come back as they were put. */
static void test_advert6_round_trip(void **state)
{
	(void)state;
	struct evbuffer *buf = evbuffer_new();
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT, *got;
	NsaPeer__Advert advert = NSA_PEER__ADVERT__INIT;
	NsaPeer__Prefix6 p6;
	NsaPeer__Prefix6 *p6s[1] = {&p6};
	struct prefix6 subnet6, back;
	struct in6_addr ll, ll_back;

	assert_int_equal(addr6_parse_prefix("fd6e:7361:6765:5::/64", &subnet6), 0);
	assert_int_equal(addr6_parse("fe80::1:2ff:fe03:405", &ll), 0);
	wire_put_prefix6(&p6, &subnet6);
	advert.subnets6 = p6s;
	advert.n_subnets6 = 1;
	advert.link_local6.data = ll.s6_addr;
	advert.link_local6.len = 16;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_ADVERT;
	env.advert = &advert;
	assert_int_equal(wire_write(buf, &env), 0);
	assert_int_equal(wire_read(buf, &got), 1);
	assert_int_equal(got->advert->n_subnets6, 1);
	assert_int_equal(wire_get_prefix6(got->advert->subnets6[0], &back), 0);
	assert_true(addr6_prefix_equal(&back, &subnet6));
	assert_int_equal(wire_get_addr6(&got->advert->link_local6, &ll_back), 0);
	assert_memory_equal(&ll_back, &ll, 16);
	wire_free(got);
	evbuffer_free(buf);
}

/* Decoding is strict: an address of another length than 16 bytes, or a
 * length over 128, is malformed; an advert of version 1 (no IPv6 fields)
 * decodes with none. */
static void test_advert6_strict(void **state)
{
	(void)state;
	uint8_t bytes[17] = {0xfd};
	NsaPeer__Prefix6 p6 = NSA_PEER__PREFIX6__INIT;
	struct prefix6 out;
	struct in6_addr a;
	struct evbuffer *buf = evbuffer_new();
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT, *got;
	NsaPeer__Advert v1 = NSA_PEER__ADVERT__INIT;
	NsaPeer__Prefix p4 = NSA_PEER__PREFIX__INIT;
	NsaPeer__Prefix *p4s[1] = {&p4};

	p6.addr.data = bytes;
	p6.len = 64;
	for (size_t len = 0; len <= sizeof(bytes); len++) {
		p6.addr.len = len;
		assert_int_equal(wire_get_prefix6(&p6, &out), len == 16 ? 0 : -EBADMSG);
	}
	p6.addr.len = 16;
	p6.len = 128;
	assert_int_equal(wire_get_prefix6(&p6, &out), 0);
	p6.len = 129;
	assert_int_equal(wire_get_prefix6(&p6, &out), -EBADMSG);
	p6.len = UINT32_MAX;
	assert_int_equal(wire_get_prefix6(&p6, &out), -EBADMSG);
	assert_int_equal(wire_get_prefix6(NULL, &out), -EBADMSG);
	assert_int_equal(wire_get_addr6(&(ProtobufCBinaryData){.len = 4, .data = bytes}, &a),
			 -EBADMSG);

	p4.addr = 0xac100100;
	p4.len = 24;
	v1.subnets = p4s;
	v1.n_subnets = 1;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_ADVERT;
	env.advert = &v1;
	assert_int_equal(wire_write(buf, &env), 0);
	assert_int_equal(wire_read(buf, &got), 1);
	assert_int_equal(got->advert->n_subnets, 1);
	assert_int_equal(got->advert->n_subnets6, 0);
	assert_int_equal(wire_get_addr6(&got->advert->link_local6, &a), -ENOENT);
	wire_free(got);
	evbuffer_free(buf);
}

/* Node addresses (Hello node_ip/node_ip6, PeerInfo addr/addr6): an IPv6
 * one crosses the wire as 16 bytes and comes back equal; an IPv4 one as
 * before, with nothing in the bytes field (what an older agent reads). */
static void test_nodeaddr_round_trip(void **state)
{
	struct in6_addr v6 = ip6("2001:db8::6");
	struct nodeaddr sent6 = nodeaddr_v6(&v6), sent4 = nodeaddr_v4(0xc0a80106u), back;
	struct evbuffer *buf = evbuffer_new();
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT, *got;
	NsaPeer__Hello hello = NSA_PEER__HELLO__INIT;
	NsaPeer__PeerList list = NSA_PEER__PEER_LIST__INIT;
	NsaPeer__PeerInfo info = NSA_PEER__PEER_INFO__INIT, *infos[1] = {&info};

	(void)state;
	wire_put_nodeaddr(&sent6, &hello.node_ip, &hello.node_ip6);
	assert_int_equal(hello.node_ip, 0);
	assert_int_equal(hello.node_ip6.len, 16);
	env.msg_case = NSA_PEER__ENVELOPE__MSG_HELLO;
	env.hello = &hello;
	assert_int_equal(wire_write(buf, &env), 0);
	assert_int_equal(wire_read(buf, &got), 1);
	assert_int_equal(wire_get_nodeaddr(got->hello->node_ip, &got->hello->node_ip6, &back), 0);
	assert_true(na_eq(back, sent6));
	wire_free(got);

	wire_put_nodeaddr(&sent4, &info.addr, &info.addr6);
	assert_int_equal(info.addr6.len, 0);
	list.peers = infos;
	list.n_peers = 1;
	env.msg_case = NSA_PEER__ENVELOPE__MSG_PEER_LIST;
	env.peer_list = &list;
	assert_int_equal(wire_write(buf, &env), 0);
	assert_int_equal(wire_read(buf, &got), 1);
	assert_int_equal(got->peer_list->peers[0]->addr, 0xc0a80106u);
	assert_int_equal(wire_get_nodeaddr(got->peer_list->peers[0]->addr,
					   &got->peer_list->peers[0]->addr6, &back),
			 0);
	assert_true(na_eq(back, sent4));
	wire_free(got);
	evbuffer_free(buf);
}

/* Strict: the bytes of another length than 0 or 16, or both fields set,
 * are malformed; neither set is no address. */
static void test_nodeaddr_strict(void **state)
{
	uint8_t bytes[17] = {0x20, 0x01, 0x0d, 0xb8};
	struct nodeaddr out;

	(void)state;
	for (size_t len = 1; len <= sizeof(bytes); len++) {
		int rc =
		    wire_get_nodeaddr(0, &(ProtobufCBinaryData){.len = len, .data = bytes}, &out);

		if (len == 16 ? rc != 0 : rc != -EBADMSG)
			fail_msg("node_ip6 of %zu bytes: %d", len, rc);
	}
	assert_int_equal(
	    wire_get_nodeaddr(0xc0a80106u, &(ProtobufCBinaryData){.len = 16, .data = bytes}, &out),
	    -EBADMSG);
	assert_int_equal(wire_get_nodeaddr(0, &(ProtobufCBinaryData){0}, &out), 0);
	assert_true(nodeaddr_is_zero(&out));
	assert_int_equal(out.family, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),	      cmocka_unit_test(test_partial),
	    cmocka_unit_test(test_oversize),	      cmocka_unit_test(test_oversize_write),
	    cmocka_unit_test(test_zero_length),	      cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_unknown_tolerated), cmocka_unit_test(test_advert6_round_trip),
	    cmocka_unit_test(test_advert6_strict),    cmocka_unit_test(test_nodeaddr_round_trip),
	    cmocka_unit_test(test_nodeaddr_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
