/* SPDX-License-Identifier: GPL-2.0-or-later */
/* IPv4 addresses, prefixes, and endpoints of either family (a node
 * address, nodeaddr.h, and a port). IPv4 addresses are held in host byte
 * order so that arithmetic reads naturally; convert at the kernel and wire
 * boundaries only. */
#ifndef NSAGENT_ADDR_H
#define NSAGENT_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsagent/nodeaddr.h"

#define ADDR_STRLEN 16	   /* "255.255.255.255" + NUL */
#define PREFIX_STRLEN 19   /* + "/32" */
#define ENDPOINT_STRLEN 54 /* "[" IPv6 "]:65535" + NUL */
#define ADDR_HOST_MAX 253  /* a DNS name's longest text form, without NUL */

struct prefix {
	uint32_t addr; /* host order, host bits zero */
	uint8_t len;   /* 0..32 */
};

struct endpoint {
	struct nodeaddr addr;
	uint16_t port;
};

/* Strict dotted quad; returns 0 or -EINVAL. */
int addr_parse(const char *text, uint32_t *addr);
/* "a.b.c.d/len"; host bits must be zero (-EINVAL otherwise, so that a typo
 * like 172.16.1.1/24 is caught rather than silently masked). */
int addr_parse_prefix(const char *text, struct prefix *prefix);
/* "a.b.c.d", "a.b.c.d:port", "[v6]", "[v6]:port" or a bare "v6" (no
 * port: its colons leave none to tell it by); a missing port takes
 * default_port. */
int addr_parse_endpoint(const char *text, uint16_t default_port, struct endpoint *endpoint);

/* "name" or "name:port" with an RFC 1123 host name (host holds at least
 * ADDR_HOST_MAX + 1 bytes); a missing port takes default_port. Returns 0
 * or -EINVAL. */
int addr_parse_host_endpoint(const char *text, uint16_t default_port, char *host, uint16_t *port);

/* host's address, as the C library resolves it (/etc/hosts, DNS, as
 * nsswitch.conf says): its first of family prefer (AF_INET or AF_INET6,
 * this node's node address's) when it has one, else its first of the
 * other (prefer 0: IPv4 first). Blocks: for start-up only. Returns 0, or
 * -EAGAIN (a temporary failure) or -ENOENT with msg saying why. */
int addr_resolve(const char *host, int prefer, struct nodeaddr *addr, char *msg, size_t size);

/* Format into buf (size at least ADDR_STRLEN / PREFIX_STRLEN /
 * ENDPOINT_STRLEN); returns buf, so it can be used inside printf. An IPv6
 * endpoint is "[addr]:port", which addr_parse_endpoint reads back. */
const char *addr_format(uint32_t addr, char *buf);
const char *addr_format_prefix(const struct prefix *prefix, char *buf);
/* The decimal digits of v, or addr as a dotted quad, written at p (no
 * NUL); return their end. The formatters here and in addr6.c share them. */
char *addr_put_decimal(char *p, unsigned v);
char *addr_put(char *p, uint32_t addr);
const char *addr_format_endpoint(const struct endpoint *endpoint, char *buf);

/* Why addr cannot be a host's unicast address (0.0.0.0/8, loopback,
 * multicast, reserved or the limited broadcast 255.255.255.255), as a
 * phrase after the address ("is a loopback address"); NULL when it can. */
const char *addr_unicast_problem(uint32_t addr);
/* Why addr cannot be a node IP, the address every peer must reach: what
 * addr_unicast_problem says, and link-local; NULL when it can. */
const char *addr_node_ip_problem(uint32_t addr);
/* The special range (0/8, loopback, link-local, multicast, reserved) a
 * range overlaps, as "127.0.0.0/8 (loopback)"; NULL when none. */
const char *addr_range_problem(const struct prefix *range);

uint32_t addr_mask(uint8_t len);
bool addr_prefix_contains_addr(const struct prefix *prefix, uint32_t addr);
/* true when inner lies entirely inside outer */
bool addr_prefix_contains(const struct prefix *outer, const struct prefix *inner);
bool addr_prefix_overlaps(const struct prefix *a, const struct prefix *b);
bool addr_prefix_equal(const struct prefix *a, const struct prefix *b);
/* Number of addresses in the prefix (2^(32-len)), as 64 bits for /0. */
uint64_t addr_prefix_size(const struct prefix *prefix);
/* The n-th address of the prefix (n = 1 is the first host address).
 * Returns 0 or -ERANGE when n is past the last usable host address
 * (the broadcast address is not usable). */
int addr_prefix_host(const struct prefix *prefix, uint32_t n, uint32_t *addr);
/* The index-th sub-prefix of length sub_len inside prefix; -ERANGE past the end. */
int addr_prefix_subnet(const struct prefix *prefix, uint8_t sub_len, uint32_t index,
		       struct prefix *out);

#define ADDR_MAC_LEN 6
/* A fixed MAC made from an IPv4 address: 02:KIND:a:b:c:d, locally
 * administered and unicast. kind tells the devices of one node apart. */
void addr_local_mac(uint8_t kind, uint32_t addr, uint8_t mac[ADDR_MAC_LEN]);

#endif
