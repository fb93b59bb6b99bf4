/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: node addresses of either family.
 *
 * A node's underlay may be IPv4 or IPv6, so everything that holds the
 * address a peer is dialled at, its routes point at and its session is
 * keyed by holds a struct nodeaddr. The family-specific rules (what may be
 * a node address, the strict text forms) stay in addr.c and addr6.c; this
 * module only dispatches on the family, so that no caller needs an IPv4
 * and an IPv6 path of its own.
 *
 * Invariant: every struct nodeaddr made here is zero-filled first (see
 * nodeaddr.h), and an IPv4 address comes back as AF_INET even when the
 * kernel handed it over IPv4-mapped on a dual-stack socket. */
#include <errno.h>
#include <string.h>

#include <arpa/inet.h>

#include "nsagent/addr.h"
#include "nsagent/addr6.h"
#include "nsagent/nodeaddr.h"

struct nodeaddr nodeaddr_v4(uint32_t v4)
{
	struct nodeaddr addr;

	memset(&addr, 0, sizeof(addr));
	addr.family = AF_INET;
	addr.v4 = v4;
	return addr;
}

struct nodeaddr nodeaddr_v6(const struct in6_addr *v6)
{
	struct nodeaddr addr;

	memset(&addr, 0, sizeof(addr));
	addr.family = AF_INET6;
	addr.v6 = *v6;
	return addr;
}

int nodeaddr_parse(const char *text, struct nodeaddr *addr)
{
	struct in6_addr v6;
	uint32_t v4;

	if (!text)
		return -EINVAL;
	if (addr_parse(text, &v4) == 0) {
		*addr = nodeaddr_v4(v4);
		return 0;
	}
	/* IPv4-mapped text would name an IPv4 node in IPv6 clothing: refused
	 * later by addr6_unicast_problem, and not parsed as IPv4 here. */
	if (addr6_parse(text, &v6) == 0) {
		*addr = nodeaddr_v6(&v6);
		return 0;
	}
	return -EINVAL;
}

const char *nodeaddr_format(const struct nodeaddr *addr, char *buf)
{
	if (addr->family == AF_INET)
		return addr_format(addr->v4, buf);
	if (addr->family == AF_INET6)
		return addr6_format(&addr->v6, buf);
	memcpy(buf, "none", 5);
	return buf;
}

bool nodeaddr_is_zero(const struct nodeaddr *addr)
{
	if (addr->family == AF_INET)
		return addr->v4 == 0;
	if (addr->family == AF_INET6)
		return addr6_is_zero(&addr->v6);
	return true;
}

int nodeaddr_compare(const struct nodeaddr *a, const struct nodeaddr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->family == AF_INET)
		return a->v4 < b->v4 ? -1 : a->v4 > b->v4;
	if (a->family == AF_INET6)
		return memcmp(&a->v6, &b->v6, sizeof(a->v6));
	return 0;
}

bool nodeaddr_equal(const struct nodeaddr *a, const struct nodeaddr *b)
{
	return nodeaddr_compare(a, b) == 0;
}

uint32_t nodeaddr_mix(const struct nodeaddr *addr)
{
	uint32_t words[4], mix = 0;

	if (addr->family == AF_INET)
		return addr->v4;
	if (addr->family != AF_INET6)
		return 0;
	memcpy(words, &addr->v6, sizeof(words));
	for (unsigned i = 0; i < 4; i++)
		mix = mix * 2654435761u + words[i];
	return mix;
}

void nodeaddr_wg_next_hop(const struct nodeaddr *addr, struct in6_addr *next_hop)
{
	uint32_t ignored;

	if (addr->family == AF_INET) {
		addr6_link_local_from_ipv4(addr->v4, next_hop);
		return;
	}
	memset(next_hop, 0, sizeof(*next_hop));
	if (addr->family != AF_INET6)
		return;
	/* No node address is link-local: one is such a next hop already,
	 * read back from the kernel, standing for its node. */
	if (addr6_is_link_local(&addr->v6)) {
		*next_hop = addr->v6;
		return;
	}
	next_hop->s6_addr[0] = 0xfe;
	next_hop->s6_addr[1] = 0x80;
	for (unsigned i = 0; i < 8; i++)
		next_hop->s6_addr[8 + i] = addr->v6.s6_addr[i] ^ addr->v6.s6_addr[8 + i];
	/* Read back, an IPv4 node's form would name an IPv4 node. */
	if (addr6_link_local_to_ipv4(next_hop, &ignored))
		next_hop->s6_addr[8] |= 0x80;
}

bool nodeaddr_wg_next_hop_of(const struct nodeaddr *addr, const struct in6_addr *next_hop)
{
	struct in6_addr want;

	if (nodeaddr_is_zero(addr))
		return false;
	nodeaddr_wg_next_hop(addr, &want);
	return memcmp(&want, next_hop, sizeof(want)) == 0;
}

const char *nodeaddr_node_problem(const struct nodeaddr *addr)
{
	if (addr->family == AF_INET)
		return addr_node_ip_problem(addr->v4);
	if (addr->family == AF_INET6)
		return addr6_node_ip_problem(&addr->v6);
	return "is not an address";
}

bool nodeaddr_is_loopback(const struct nodeaddr *addr)
{
	if (addr->family == AF_INET)
		return (addr->v4 >> 24) == 127;
	return addr->family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&addr->v6);
}

socklen_t nodeaddr_to_sockaddr(const struct nodeaddr *addr, uint16_t port,
			       struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (addr->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(addr->v4);
		sin->sin_port = htons(port);
		return sizeof(*sin);
	}
	if (addr->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = addr->v6;
		sin6->sin6_port = htons(port);
		return sizeof(*sin6);
	}
	return 0;
}

int nodeaddr_from_sockaddr(const struct sockaddr *sa, struct nodeaddr *addr, uint16_t *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		*addr = nodeaddr_v4(ntohl(sin->sin_addr.s_addr));
		if (port)
			*port = ntohs(sin->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			uint32_t v4;

			memcpy(&v4, &sin6->sin6_addr.s6_addr[12], sizeof(v4));
			*addr = nodeaddr_v4(ntohl(v4));
		} else {
			*addr = nodeaddr_v6(&sin6->sin6_addr);
		}
		if (port)
			*port = ntohs(sin6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

void nodeaddr_split(const struct nodeaddr *addr, uint32_t *v4, struct in6_addr *v6)
{
	*v4 = addr->family == AF_INET ? addr->v4 : 0;
	if (addr->family == AF_INET6)
		*v6 = addr->v6;
	else
		memset(v6, 0, sizeof(*v6));
}
