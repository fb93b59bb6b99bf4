/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: IPv4 addresses, prefixes, and endpoints of either family.
 *
 * Parsing is strict on purpose: the text comes from operators and peers, and
 * a value that could be read two ways must be rejected rather than guessed.
 * A dotted quad is exactly four decimal fields 0..255 without leading zeros
 * ("010" is octal to inet_aton, decimal to others), signs or spaces; a
 * prefix length is 0..32; a port is 1..65535; nothing may trail the value.
 * addr_parse_prefix refuses host bits so 172.16.1.1/24 is reported, not
 * silently masked to 172.16.1.0/24.
 *
 * An IPv6 endpoint is bracketed ("[2001:db8::6]:7470", as in URLs, RFC
 * 3986) or bare without a port; its address is addr6_parse's.
 *
 * Invariant: every struct prefix this module returns has its host bits zero.
 * Addresses are host byte order throughout. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "nsagent/addr.h"
#include "nsagent/addr6.h"

/* Reads a decimal number of at most max_digits digits from *text without a
 * leading zero (except "0" itself) and advances *text past it. */
static int parse_decimal(const char **text, unsigned max_digits, uint32_t max, uint32_t *out)
{
	const char *p = *text;
	uint32_t value = 0;
	unsigned digits = 0;

	while (*p >= '0' && *p <= '9') {
		if (++digits > max_digits)
			return -EINVAL;
		value = value * 10 + (uint32_t)(*p - '0');
		p++;
	}
	if (digits == 0 || (digits > 1 && **text == '0') || value > max)
		return -EINVAL;
	*text = p;
	*out = value;
	return 0;
}

/* Parses a dotted quad at the start of text; *end is set past it. */
static int parse_quad(const char *text, const char **end, uint32_t *addr)
{
	const char *p = text;
	uint32_t result = 0;

	for (int i = 0; i < 4; i++) {
		uint32_t octet;

		if (i > 0 && *p++ != '.')
			return -EINVAL;
		if (parse_decimal(&p, 3, 255, &octet) < 0)
			return -EINVAL;
		result = (result << 8) | octet;
	}
	*end = p;
	*addr = result;
	return 0;
}

int addr_parse(const char *text, uint32_t *addr)
{
	const char *end;
	uint32_t value;

	if (!text || parse_quad(text, &end, &value) < 0 || *end != '\0')
		return -EINVAL;
	*addr = value;
	return 0;
}

int addr_parse_prefix(const char *text, struct prefix *prefix)
{
	const char *p;
	uint32_t addr, len;

	if (!text || parse_quad(text, &p, &addr) < 0 || *p++ != '/')
		return -EINVAL;
	if (parse_decimal(&p, 2, 32, &len) < 0 || *p != '\0')
		return -EINVAL;
	if (addr & ~addr_mask((uint8_t)len))
		return -EINVAL;
	prefix->addr = addr;
	prefix->len = (uint8_t)len;
	return 0;
}

/* The ":port" after an endpoint's address (nothing: default_port). */
static int parse_port(const char *p, uint16_t default_port, uint16_t *port)
{
	uint32_t value = default_port;

	if (*p == ':') {
		p++;
		if (parse_decimal(&p, 5, 65535, &value) < 0 || value == 0)
			return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	*port = (uint16_t)value;
	return 0;
}

int addr_parse_endpoint(const char *text, uint16_t default_port, struct endpoint *endpoint)
{
	char v6[ADDR6_STRLEN];
	struct in6_addr addr6;
	const char *p, *close;
	uint32_t addr;
	uint16_t port;

	if (!text)
		return -EINVAL;
	if (parse_quad(text, &p, &addr) == 0) {
		if (parse_port(p, default_port, &port) < 0)
			return -EINVAL;
		endpoint->addr = nodeaddr_v4(addr);
		endpoint->port = port;
		return 0;
	}
	if (text[0] == '[') {
		close = strchr(text, ']');
		if (!close || (size_t)(close - text - 1) >= sizeof(v6))
			return -EINVAL;
		memcpy(v6, text + 1, (size_t)(close - text - 1));
		v6[close - text - 1] = '\0';
		if (addr6_parse(v6, &addr6) < 0 || parse_port(close + 1, default_port, &port) < 0)
			return -EINVAL;
	} else {
		/* Bare: the whole text is the address, and there is no port. */
		if (addr6_parse(text, &addr6) < 0)
			return -EINVAL;
		port = default_port;
	}
	endpoint->addr = nodeaddr_v6(&addr6);
	endpoint->port = port;
	return 0;
}

/* Decimal digits of v at p; returns the end. The formatters below are
 * in every log line about a peer and in every kernel request, and
 * snprintf's "%u.%u.%u.%u" costs about twenty times this. */
char *addr_put_decimal(char *p, unsigned v)
{
	char digits[10];
	unsigned n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = digits[--n];
	return p;
}

char *addr_put(char *p, uint32_t addr)
{
	for (int shift = 24; shift >= 0; shift -= 8) {
		p = addr_put_decimal(p, (addr >> shift) & 0xff);
		if (shift)
			*p++ = '.';
	}
	return p;
}

const char *addr_format(uint32_t addr, char *buf)
{
	*addr_put(buf, addr) = '\0';
	return buf;
}

const char *addr_format_prefix(const struct prefix *prefix, char *buf)
{
	char *p = addr_put(buf, prefix->addr);

	*p++ = '/';
	*addr_put_decimal(p, prefix->len > 32 ? 32u : prefix->len) = '\0';
	return buf;
}

const char *addr_format_endpoint(const struct endpoint *endpoint, char *buf)
{
	bool v6 = endpoint->addr.family == AF_INET6;
	char *p = buf;

	if (v6)
		*p++ = '[';
	nodeaddr_format(&endpoint->addr, p);
	p += strlen(p);
	if (v6)
		*p++ = ']';
	*p++ = ':';
	*addr_put_decimal(p, endpoint->port) = '\0';
	return buf;
}

/* The ranges no host's address, and no node subnet, can lie in: they are
 * never routed between hosts. The one list of them: a single address
 * (addr_unicast_problem), a node IP (addr_node_ip_problem) and a cluster
 * range (addr_range_problem) are checked against it. 169.254/16 holds host
 * addresses, link-local only: a peer may have one, but a node IP there
 * could be reached from its own link at most. */
static const struct {
	struct prefix prefix;
	const char *range;   /* as a range overlapping it is told */
	const char *address; /* as an address in it is told; NULL = allowed */
	const char *node_ip; /* as a node IP in it is told; NULL = allowed */
} special_ranges[] = {
    {{0x00000000u, 8}, "0.0.0.0/8 (this network)", "is in 0.0.0.0/8 (this network)", NULL},
    {{0x7f000000u, 8}, "127.0.0.0/8 (loopback)", "is a loopback address", NULL},
    {{0xa9fe0000u, 16},
     "169.254.0.0/16 (link-local)",
     NULL,
     "is a link-local address (169.254.0.0/16), which no peer beyond its link can reach"},
    {{0xe0000000u, 4}, "224.0.0.0/4 (multicast)", "is a multicast address", NULL},
    {{0xf0000000u, 4}, "240.0.0.0/4 (reserved)", "is a reserved or broadcast address", NULL},
};

const char *addr_unicast_problem(uint32_t addr)
{
	for (size_t i = 0; i < sizeof(special_ranges) / sizeof(special_ranges[0]); i++) {
		if (special_ranges[i].address &&
		    addr_prefix_contains_addr(&special_ranges[i].prefix, addr))
			return special_ranges[i].address;
	}
	return NULL;
}

const char *addr_node_ip_problem(uint32_t addr)
{
	for (size_t i = 0; i < sizeof(special_ranges) / sizeof(special_ranges[0]); i++) {
		if (special_ranges[i].node_ip &&
		    addr_prefix_contains_addr(&special_ranges[i].prefix, addr))
			return special_ranges[i].node_ip;
	}
	return addr_unicast_problem(addr);
}

/* RFC 1123 host names: dot-separated labels of letters, digits and
 * hyphens, 1-63 characters each, not starting or ending with a hyphen, at
 * most ADDR_HOST_MAX in all; a final dot (fully qualified) is allowed. A
 * name of digits and dots only is refused: it is a malformed address
 * ("192.168.1"), not a name. */
static bool valid_host(const char *host, size_t len)
{
	size_t label = 0;
	bool all_digits = true;

	if (len == 0 || len > ADDR_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = host[i];

		if (c == '.') {
			if (label == 0 || host[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
		if (c < '0' || c > '9')
			all_digits = false;
	}
	return !all_digits && host[len - 1] != '-';
}

int addr_parse_host_endpoint(const char *text, uint16_t default_port, char *host, uint16_t *port)
{
	const char *colon = text ? strchr(text, ':') : NULL;
	size_t len = text ? (colon ? (size_t)(colon - text) : strlen(text)) : 0;
	uint32_t value = default_port;

	if (!text || !valid_host(text, len))
		return -EINVAL;
	if (colon) {
		const char *p = colon + 1;

		if (parse_decimal(&p, 5, 65535, &value) < 0 || value == 0 || *p != '\0')
			return -EINVAL;
	}
	memcpy(host, text, len);
	host[len] = '\0';
	*port = (uint16_t)value;
	return 0;
}

const char *addr_range_problem(const struct prefix *range)
{
	for (size_t i = 0; i < sizeof(special_ranges) / sizeof(special_ranges[0]); i++) {
		if (addr_prefix_overlaps(range, &special_ranges[i].prefix))
			return special_ranges[i].range;
	}
	return NULL;
}

uint32_t addr_mask(uint8_t len)
{
	/* A shift by 32 is undefined in C, so /0 is its own case. */
	if (len == 0)
		return 0;
	if (len >= 32)
		return 0xffffffffu;
	return 0xffffffffu << (32 - len);
}

bool addr_prefix_contains_addr(const struct prefix *prefix, uint32_t addr)
{
	uint32_t mask = addr_mask(prefix->len);

	return (addr & mask) == (prefix->addr & mask);
}

bool addr_prefix_contains(const struct prefix *outer, const struct prefix *inner)
{
	return inner->len >= outer->len && addr_prefix_contains_addr(outer, inner->addr);
}

bool addr_prefix_overlaps(const struct prefix *a, const struct prefix *b)
{
	/* Two prefixes overlap exactly when the shorter one contains the other. */
	return a->len <= b->len ? addr_prefix_contains(a, b) : addr_prefix_contains(b, a);
}

bool addr_prefix_equal(const struct prefix *a, const struct prefix *b)
{
	return a->len == b->len && (a->addr & addr_mask(a->len)) == (b->addr & addr_mask(b->len));
}

uint64_t addr_prefix_size(const struct prefix *prefix)
{
	return (uint64_t)1 << (32 - (prefix->len > 32 ? 32 : prefix->len));
}

/* Usable hosts: all but the network and broadcast addresses, except that a
 * /31 has two usable addresses and no broadcast (RFC 3021) and a /32 is a
 * single host. n counts from 1 in every case. */
int addr_prefix_host(const struct prefix *prefix, uint32_t n, uint32_t *addr)
{
	uint64_t size = addr_prefix_size(prefix);
	uint32_t base = prefix->addr & addr_mask(prefix->len);

	if (n == 0)
		return -ERANGE;
	if (prefix->len >= 31) {
		if (n > size)
			return -ERANGE;
		*addr = base + (n - 1);
		return 0;
	}
	if ((uint64_t)n > size - 2)
		return -ERANGE;
	*addr = base + n;
	return 0;
}

int addr_prefix_subnet(const struct prefix *prefix, uint8_t sub_len, uint32_t index,
		       struct prefix *out)
{
	uint32_t base = prefix->addr & addr_mask(prefix->len);
	uint64_t count;

	if (sub_len < prefix->len || sub_len > 32)
		return -EINVAL;
	count = (uint64_t)1 << (sub_len - prefix->len);
	if ((uint64_t)index >= count)
		return -ERANGE;
	out->len = sub_len;
	/* index < 2^(sub_len - len), so index << (32 - sub_len) stays inside the host bits. */
	out->addr = base | (uint32_t)((uint64_t)index << (32 - sub_len));
	return 0;
}

void addr_local_mac(uint8_t kind, uint32_t addr, uint8_t mac[ADDR_MAC_LEN])
{
	/* 0x02: locally administered (IEEE 802 U/L bit), unicast. */
	mac[0] = 0x02;
	mac[1] = kind;
	mac[2] = (uint8_t)(addr >> 24);
	mac[3] = (uint8_t)(addr >> 16);
	mac[4] = (uint8_t)(addr >> 8);
	mac[5] = (uint8_t)addr;
}

int addr_resolve(const char *host, int prefer, struct nodeaddr *addr, char *msg, size_t size)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	const struct addrinfo *ai, *pick = NULL;
	int ret = getaddrinfo(host, NULL, &hints, &res);

	if (ret != 0) {
		snprintf(msg, size, "cannot resolve %s: %s", host,
			 ret == EAI_SYSTEM ? strerror(errno) : gai_strerror(ret));
		return ret == EAI_AGAIN ? -EAGAIN : -ENOENT;
	}
	if (!prefer)
		prefer = AF_INET;
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (!pick || (ai->ai_family == prefer && pick->ai_family != prefer))
			pick = ai;
	}
	if (!pick) {
		freeaddrinfo(res);
		snprintf(msg, size, "cannot resolve %s: no IPv4 or IPv6 address", host);
		return -ENOENT;
	}
	ret = nodeaddr_from_sockaddr(pick->ai_addr, addr, NULL);
	freeaddrinfo(res);
	return ret;
}
