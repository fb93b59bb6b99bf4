/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A node address: the underlay address peers dial, routes point at and
 * sessions are keyed by, IPv4 or IPv6 (DESIGN.md "Address families"). One
 * type for both families, so that the peer table, the rde, the kernel
 * layer and status hold and compare a node address the same way whatever
 * its family. */
#ifndef NSAGENT_NODEADDR_H
#define NSAGENT_NODEADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>

/* "ffff:...:255.255.255.255" + NUL (INET6_ADDRSTRLEN); an IPv4 one fits. */
#define NODEADDR_STRLEN 46

/* family AF_INET: v4, host byte order as struct prefix holds it; AF_INET6:
 * v6, network order as the kernel and the wire hold it; 0: none. Every
 * constructor zero-fills the whole struct (the union's unused bytes and
 * pad included), so zero-filled structs holding it (struct kern_route)
 * still compare equal with memcmp. */
struct nodeaddr {
	sa_family_t family;
	uint8_t pad[2]; /* zero: no hidden padding */
	union {
		uint32_t v4;
		struct in6_addr v6;
	};
};

struct nodeaddr nodeaddr_v4(uint32_t v4);
struct nodeaddr nodeaddr_v6(const struct in6_addr *v6);

/* A dotted quad (addr_parse) or an IPv6 address without brackets or zone
 * (addr6_parse); returns 0 or -EINVAL. */
int nodeaddr_parse(const char *text, struct nodeaddr *addr);
/* Into buf (NODEADDR_STRLEN); "none" for family 0. Returns buf. */
const char *nodeaddr_format(const struct nodeaddr *addr, char *buf);

/* No address: family 0, or 0.0.0.0 / :: (the wire's "absent"). */
bool nodeaddr_is_zero(const struct nodeaddr *addr);
bool nodeaddr_equal(const struct nodeaddr *a, const struct nodeaddr *b);
/* A total order: IPv4 before IPv6, then by address. */
int nodeaddr_compare(const struct nodeaddr *a, const struct nodeaddr *b);
/* A hash-like mix of the address's bytes (seeding, not security). */
uint32_t nodeaddr_mix(const struct nodeaddr *addr);

/* Why addr cannot be a node address (addr_node_ip_problem or
 * addr6_node_ip_problem), as a phrase after it; NULL when it can. */
const char *nodeaddr_node_problem(const struct nodeaddr *addr);
bool nodeaddr_is_loopback(const struct nodeaddr *addr);
/* Into the kernel layer's pair of fields: *v4 (0 unless IPv4) and *v6
 * (zero unless IPv6). */
void nodeaddr_split(const struct nodeaddr *addr, uint32_t *v4, struct in6_addr *v6);

/* The next hop that names the node at addr in routes over the WireGuard
 * device (a layer-3 device resolves no next hop: the address only says,
 * when a route is read back after a restart, whose it is). An IPv4 node
 * is fe80::7767:a.b.c.d (addr6_link_local_from_ipv4); an IPv6 node is
 * fe80::/64 with, as interface ID, the XOR of its address's two 64-bit
 * halves (2001:db8:1::6 gives fe80::2001:db8:1:6), so that nodes of one
 * /64 can never share one; an ID that would read as an IPv4 node's
 * (0:7767:x:x) has its top bit set. Nodes of different prefixes can
 * collide: nodeaddr_wg_next_hop_of says which address is whose, and the
 * rde refuses the later of two colliding peers. A link-local address (a
 * next hop read back from the kernel, standing for its node until it
 * advertises; never a node address) is its own. */
void nodeaddr_wg_next_hop(const struct nodeaddr *addr, struct in6_addr *next_hop);
/* Whether next_hop is nodeaddr_wg_next_hop(addr). */
bool nodeaddr_wg_next_hop_of(const struct nodeaddr *addr, const struct in6_addr *next_hop);

/* To a sockaddr_in or sockaddr_in6 with port (host order); returns its
 * length, or 0 for family 0. */
socklen_t nodeaddr_to_sockaddr(const struct nodeaddr *addr, uint16_t port,
			       struct sockaddr_storage *ss);
/* From a sockaddr_in or sockaddr_in6 (an IPv4-mapped IPv6 address, as a
 * dual-stack listener reports an IPv4 client, is taken as the IPv4 address
 * it maps); port may be NULL. -EAFNOSUPPORT for any other family. */
int nodeaddr_from_sockaddr(const struct sockaddr *sa, struct nodeaddr *addr, uint16_t *port);

#endif
