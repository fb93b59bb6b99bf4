/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The WireGuard UAPI text protocol (src/wguapi.c) on canned text: a get=1
 * answer as wireguard-go writes it (the example of
 * https://www.wireguard.com/xplatform/, keys in hex, an IPv6 endpoint,
 * keys we do not know) parsed into peers, allowed IPs, endpoints and
 * counters; malformed answers refused with the line named (a private key
 * never echoed); and the set=1 builder: nothing for a device that is as
 * wanted, a missing peer added, a changed one updated in place
 * (replace_allowed_ips, never replace_peers), an unwanted one removed,
 * adopted (keyless) peers kept, and our key and port set when they
 * differ. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "addr6_lit.h"

#include "nsagent/wguapi.h"

#define KEY_A "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define KEY_B "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376"
#define KEY_C "662e14fd594556f522604703340351258903b64f35553763f19426ab2a515c58"

static const char canned[] =
    "private_key=" KEY_A "\n"
    "listen_port=12912\n"
    "fwmark=0\n"
    "public_key=" KEY_B "\n"
    "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
    "protocol_version=1\n"
    "endpoint=192.168.1.6:51820\n"
    "last_handshake_time_sec=1700000000\n"
    "last_handshake_time_nsec=42\n"
    "tx_bytes=38333\n"
    "rx_bytes=2224\n"
    "persistent_keepalive_interval=0\n"
    "allowed_ip=172.16.1.0/24\n"
    "allowed_ip=fd6e:7361:6765:1::/64\n"
    "public_key=" KEY_C "\n"
    "endpoint=[abcd:23::33%2]:51820\n"
    "last_handshake_time_sec=0\n"
    "tx_bytes=0\n"
    "rx_bytes=0\n"
    "allowed_ip=172.16.2.0/24\n"
    "a_key_from_the_future=1\n"
    "errno=0\n"
    "\n";

static void key(const char *hex, uint8_t out[WGKEY_LEN])
{
	assert_int_equal(wgkey_from_hex(hex, strlen(hex), out), 0);
}

static void test_parse(void **st)
{
	struct wguapi_device dev;
	uint8_t k[WGKEY_LEN];
	char msg[256];
	int err;

	(void)st;
	assert_int_equal(wguapi_parse(canned, &dev, &err, msg, sizeof(msg)), 0);
	assert_int_equal(err, 0);
	assert_true(dev.has_private_key);
	key(KEY_A, k);
	assert_memory_equal(dev.private_key, k, WGKEY_LEN);
	assert_int_equal(dev.listen_port, 12912);
	assert_int_equal(dev.n_peers, 2);
	key(KEY_B, k);
	assert_memory_equal(dev.peers[0].public_key, k, WGKEY_LEN);
	assert_true(na_eq(dev.peers[0].endpoint.addr, NA4(0xc0a80106u)));
	assert_int_equal(dev.peers[0].endpoint.port, 51820);
	assert_int_equal(dev.peers[0].last_handshake_sec, 1700000000);
	assert_int_equal(dev.peers[0].tx_bytes, 38333);
	assert_int_equal(dev.peers[0].rx_bytes, 2224);
	assert_int_equal(dev.peers[0].n_allowed, 2);
	assert_false(dev.peers[0].allowed[0].ipv6);
	assert_int_equal(dev.peers[0].allowed[0].v4.addr, 0xac100100u);
	assert_int_equal(dev.peers[0].allowed[0].v4.len, 24);
	assert_true(dev.peers[0].allowed[1].ipv6);
	assert_int_equal(dev.peers[0].allowed[1].v6.len, 64);
	/* an IPv6 endpoint with a scope is not one we set: none */
	assert_true(nodeaddr_is_zero(&dev.peers[1].endpoint.addr));
	assert_int_equal(dev.peers[1].n_allowed, 1);
	assert_ptr_equal(wguapi_find_peer(&dev, k), &dev.peers[0]);
	wguapi_device_free(&dev);

	/* the device's own errno */
	assert_int_equal(wguapi_parse("errno=22\n\n", &dev, &err, msg, sizeof(msg)), 0);
	assert_int_equal(err, 22);
	wguapi_device_free(&dev);
}

static void test_parse_refused(void **st)
{
	static const char *const bad[] = {
	    "public_key=1234\n",
	    "public_key=" KEY_B "\nallowed_ip=172.16.1.1/24\n",
	    "public_key=" KEY_B "\nendpoint=192.168.1.6\n",
	    "public_key=" KEY_B "\nrx_bytes=-1\n",
	    "listen_port=70000\n",
	    "no equals sign\n",
	};
	struct wguapi_device dev;
	char msg[256];
	int err;

	(void)st;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(wguapi_parse(bad[i], &dev, &err, msg, sizeof(msg)), -EBADMSG);
		assert_non_null(strstr(msg, "line"));
		assert_int_equal(dev.n_peers, 0);
	}
	/* a bad private key is named, never shown */
	assert_int_equal(wguapi_parse("private_key=" KEY_A "zz\n", &dev, &err, msg, sizeof(msg)),
			 -EBADMSG);
	assert_null(strstr(msg, KEY_A));
	assert_non_null(strstr(msg, "private_key=..."));
}

/* want: our key A, port 51820, and peers given as (key, endpoint, allowed). */
static struct wguapi_peer peer(const char *hex, uint32_t ep, const char *a4, const char *a6)
{
	struct wguapi_peer p = {.endpoint = {.port = ep ? 51820 : 0}};

	if (ep)
		p.endpoint.addr = NA4(ep);

	if (hex)
		key(hex, p.public_key);
	if (a4) {
		assert_int_equal(addr_parse_prefix(a4, &p.allowed[p.n_allowed].v4), 0);
		p.n_allowed++;
	}
	if (a6) {
		p.allowed[p.n_allowed].ipv6 = true;
		assert_int_equal(addr6_parse_prefix(a6, &p.allowed[p.n_allowed].v6), 0);
		p.n_allowed++;
	}
	return p;
}

static void test_build(void **st)
{
	struct wguapi_device have, want = {.has_private_key = true, .listen_port = 12912};
	struct wguapi_peer peers[3];
	char msg[256], *req;
	int err;

	(void)st;
	assert_int_equal(wguapi_parse(canned, &have, &err, msg, sizeof(msg)), 0);
	key(KEY_A, want.private_key);
	/* B as it is, C as it is: nothing to send */
	peers[0] = peer(KEY_B, 0xc0a80106u, "172.16.1.0/24", "fd6e:7361:6765:1::/64");
	peers[1] = peer(KEY_C, 0, "172.16.2.0/24", NULL);
	want.peers = peers;
	want.n_peers = 2;
	assert_int_equal(wguapi_build_set(&want, &have, &req), 0);
	assert_null(req);

	/* C no longer wanted; B's /64 gone; a new peer; another port */
	want.listen_port = 51820;
	peers[0] = peer(KEY_B, 0xc0a80106u, "172.16.1.0/24", NULL);
	peers[1] = peer(KEY_A, 0xc0a80107u, "172.16.3.0/24", "fd6e:7361:6765:3::/64");
	assert_int_equal(wguapi_build_set(&want, &have, &req), 4);
	assert_string_equal(req, "set=1\n"
				 "listen_port=51820\n"
				 "public_key=" KEY_C "\nremove=true\n"
				 "public_key=" KEY_B "\n"
				 "endpoint=192.168.1.6:51820\n"
				 "replace_allowed_ips=true\n"
				 "allowed_ip=172.16.1.0/24\n"
				 "public_key=" KEY_A "\n"
				 "endpoint=192.168.1.7:51820\n"
				 "replace_allowed_ips=true\n"
				 "allowed_ip=172.16.3.0/24\n"
				 "allowed_ip=fd6e:7361:6765:3::/64\n"
				 "\n");
	assert_null(strstr(req, "replace_peers"));
	free(req);

	/* a keyless keep entry (an adopted route) keeps C, whatever it holds */
	want.listen_port = 12912;
	peers[0] = peer(KEY_B, 0xc0a80106u, "172.16.1.0/24", "fd6e:7361:6765:1::/64");
	peers[1] = peer(NULL, 0, "172.16.2.0/24", NULL);
	peers[1].keep = true;
	assert_int_equal(wguapi_build_set(&want, &have, &req), 0);
	/* nothing known yet (an agent just started): no peer is removed */
	want.n_peers = 0;
	want.keep_other_peers = true;
	assert_int_equal(wguapi_build_set(&want, &have, &req), 0);
	want.keep_other_peers = false;
	assert_int_equal(wguapi_build_set(&want, &have, &req), 2);
	free(req);

	/* an IPv6 underlay's endpoint, bracketed, read back as written */
	peers[0] = peer(KEY_B, 0, "172.16.1.0/24", "fd6e:7361:6765:1::/64");
	peers[0].endpoint = (struct endpoint){na("2001:db8:1::6"), 51820};
	want.n_peers = 1;
	want.keep_other_peers = true;
	assert_int_equal(wguapi_build_set(&want, &have, &req), 1);
	assert_non_null(strstr(req, "endpoint=[2001:db8:1::6]:51820\n"));
	free(req);
	{
		struct wguapi_device six;

		assert_int_equal(wguapi_parse("public_key=" KEY_B
					      "\nendpoint=[2001:db8:1::6]:51820\n",
					      &six, &err, msg, sizeof(msg)),
				 0);
		assert_true(na_eq(six.peers[0].endpoint.addr, na("2001:db8:1::6")));
		wguapi_device_free(&six);
	}

	/* a rotated key: only the private key line */
	want.n_peers = 0;
	want.keep_other_peers = true;
	key(KEY_B, want.private_key);
	assert_int_equal(wguapi_build_set(&want, &have, &req), 1);
	assert_string_equal(req, "set=1\nprivate_key=" KEY_B "\n\n");
	free(req);
	wguapi_device_free(&have);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_refused),
	    cmocka_unit_test(test_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
