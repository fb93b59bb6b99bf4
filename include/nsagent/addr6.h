/* SPDX-License-Identifier: GPL-2.0-or-later */
/* IPv6 addresses and prefixes, for dual-stack (DESIGN.md "IPv6"). Addresses
 * are struct in6_addr, network byte order as the kernel and the wire hold
 * them; nothing here needs arithmetic wider than the 64-bit interface
 * identifier. */
#ifndef NSAGENT_ADDR6_H
#define NSAGENT_ADDR6_H

#include <stdbool.h>
#include <stdint.h>

#include <netinet/in.h>

#include "nsagent/addr.h"

#define ADDR6_STRLEN 46	  /* INET6_ADDRSTRLEN */
#define PREFIX6_STRLEN 50 /* + "/128" */
/* Every node's IPv6 subnet is exactly this long. */
#define ADDR6_NODE_SUBNET_LEN 64

struct prefix6 {
	struct in6_addr addr; /* host bits zero */
	uint8_t len;	      /* 0..128 */
};

/* inet_pton's IPv6 form, without a zone ("%eth0") or brackets; returns 0
 * or -EINVAL. */
int addr6_parse(const char *text, struct in6_addr *addr);
/* "addr/len"; host bits must be zero (-EINVAL otherwise, as for IPv4). */
int addr6_parse_prefix(const char *text, struct prefix6 *prefix);

/* Format into buf (ADDR6_STRLEN / PREFIX6_STRLEN); returns buf. */
const char *addr6_format(const struct in6_addr *addr, char *buf);
const char *addr6_format_prefix(const struct prefix6 *prefix, char *buf);

bool addr6_is_zero(const struct in6_addr *addr);
bool addr6_is_link_local(const struct in6_addr *addr);
/* len at most 128 and no host bit set. */
bool addr6_prefix_valid(const struct prefix6 *prefix);
bool addr6_prefix_contains_addr(const struct prefix6 *prefix, const struct in6_addr *addr);
bool addr6_prefix_contains(const struct prefix6 *outer, const struct prefix6 *inner);
bool addr6_prefix_overlaps(const struct prefix6 *a, const struct prefix6 *b);
bool addr6_prefix_equal(const struct prefix6 *a, const struct prefix6 *b);

/* The index-th sub-prefix of length sub_len inside prefix (sub_len - len
 * at most 64); -ERANGE past the end or for a bad length. */
int addr6_prefix_subnet(const struct prefix6 *prefix, uint8_t sub_len, uint64_t index,
			struct prefix6 *out);
/* The address with host part n in prefix (n = 1: "prefix::1"); -ERANGE
 * when n is 0 or does not fit the host bits (a prefix longer than /64
 * holds fewer than 2^64 addresses). */
int addr6_prefix_host(const struct prefix6 *prefix, uint64_t n, struct in6_addr *addr);

/* The address of subnet6 with the host part addr has in subnet
 * (172.16.5.7 in 172.16.5.0/24, fd6e:7361:6765:5::/64: fd6e:7361:6765:5::7):
 * a namespace's IPv6 address follows from its IPv4 one, so the allocator
 * that persists the one gives the other. -ERANGE when addr is not a host
 * address of subnet or its host part does not fit subnet6. */
int addr6_same_host(const struct prefix *subnet, uint32_t addr, const struct prefix6 *subnet6,
		    struct in6_addr *out);

/* Why addr cannot be a host's unicast address (unspecified, loopback,
 * multicast, IPv4-mapped), as a phrase after the address; NULL when it
 * can. */
const char *addr6_unicast_problem(const struct in6_addr *addr);
/* Why addr cannot be a node IP, the address every peer must reach: what
 * addr6_unicast_problem says, and link-local; NULL when it can. */
const char *addr6_node_ip_problem(const struct in6_addr *addr);
/* The special range (unspecified, loopback, IPv4-mapped, link-local,
 * multicast) a range overlaps, as "fe80::/10 (link-local)"; NULL when
 * none. */
const char *addr6_range_problem(const struct prefix6 *range);

/* The modified EUI-64 link-local address (RFC 4291 appendix A) the kernel
 * gives a link with this MAC: fe80::xxxx:xxff:fexx:xxxx. */
void addr6_link_local_from_mac(const uint8_t mac[ADDR_MAC_LEN], struct in6_addr *addr);
/* fe80::7767:a.b.c.d: the next hop of IPv6 routes over WireGuard to the
 * node at IPv4 address addr4 (a layer-3 device resolves no next hop; the
 * address only names the peer, so that a route read back from the kernel
 * says whose it is). addr6_link_local_to_ipv4 reads it back: false for
 * any other address. */
void addr6_link_local_from_ipv4(uint32_t addr4, struct in6_addr *addr);
bool addr6_link_local_to_ipv4(const struct in6_addr *addr, uint32_t *addr4);

#endif
