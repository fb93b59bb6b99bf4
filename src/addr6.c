/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: IPv6 addresses and prefixes.
 *
 * The same strictness as addr.c: a prefix with host bits set is refused,
 * not masked, and a zone index ("fe80::1%eth0") is not an address. The
 * text form is inet_pton's, which already refuses leading garbage, a
 * second "::" and fields over four hex digits.
 *
 * Prefix arithmetic works on the two 64-bit halves: a node subnet is a
 * /64, so the sub-prefix index and the host part never need more. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>

#include "nsagent/addr6.h"

static uint64_t half(const struct in6_addr *addr, unsigned i)
{
	uint64_t v = 0;

	for (unsigned b = 0; b < 8; b++)
		v = (v << 8) | addr->s6_addr[i * 8 + b];
	return v;
}

static void set_half(struct in6_addr *addr, unsigned i, uint64_t v)
{
	for (int b = 7; b >= 0; b--) {
		addr->s6_addr[i * 8 + (unsigned)b] = (uint8_t)v;
		v >>= 8;
	}
}

/* The mask of the len leading bits within half i (0 or 1). */
static uint64_t half_mask(uint8_t len, unsigned i)
{
	int bits = (int)len - (int)i * 64;

	if (bits <= 0)
		return 0;
	if (bits >= 64)
		return UINT64_MAX;
	return ~(UINT64_MAX >> bits);
}

int addr6_parse(const char *text, struct in6_addr *addr)
{
	/* inet_pton takes "::ffff:1.2.3.4" too, which is a valid IPv6 text
	 * form; a zone or brackets are not. */
	if (!text || strpbrk(text, "%[] \t") || inet_pton(AF_INET6, text, addr) != 1)
		return -EINVAL;
	return 0;
}

int addr6_parse_prefix(const char *text, struct prefix6 *prefix)
{
	char buf[ADDR6_STRLEN];
	const char *slash = text ? strchr(text, '/') : NULL;
	const char *p;
	unsigned len = 0;
	size_t n;

	if (!slash)
		return -EINVAL;
	n = (size_t)(slash - text);
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, n);
	buf[n] = '\0';
	p = slash + 1;
	/* 0..128, decimal, no leading zero, nothing after */
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0'))
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		len = len * 10 + (unsigned)(*p - '0');
		if (len > 128)
			return -EINVAL;
	}
	if (*p != '\0' || addr6_parse(buf, &prefix->addr) < 0)
		return -EINVAL;
	prefix->len = (uint8_t)len;
	return addr6_prefix_valid(prefix) ? 0 : -EINVAL;
}

/* What inet_ntop(AF_INET6) prints (RFC 5952: the longest run of two or
 * more zero groups as "::", the first of equal runs; an IPv4-compatible
 * or -mapped tail as a dotted quad, as glibc does), written directly:
 * glibc's inet_ntop formats each group with sprintf, about 3,000
 * instructions an address, and addresses are in every kernel request
 * and log line of the IPv6 path. test_addr6 compares the two. */
static char *put_addr6(char *p, const struct in6_addr *addr)
{
	static const char hex[] = "0123456789abcdef";
	int best = -1, best_len = 0, cur = -1, cur_len = 0;
	unsigned words[8];

	for (int i = 0; i < 8; i++) {
		words[i] = (unsigned)addr->s6_addr[2 * i] << 8 | addr->s6_addr[2 * i + 1];
		if (words[i] == 0) {
			if (cur < 0) {
				cur = i;
				cur_len = 0;
			}
			if (++cur_len > best_len) {
				best = cur;
				best_len = cur_len;
			}
		} else {
			cur = -1;
		}
	}
	if (best_len < 2)
		best = -1;
	for (int i = 0; i < 8; i++) {
		if (best >= 0 && i >= best && i < best + best_len) {
			if (i == best)
				*p++ = ':';
			continue;
		}
		if (i)
			*p++ = ':';
		if (i == 6 && best == 0 &&
		    (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
			return addr_put(p, (uint32_t)addr->s6_addr[12] << 24 |
					       (uint32_t)addr->s6_addr[13] << 16 |
					       (uint32_t)addr->s6_addr[14] << 8 |
					       addr->s6_addr[15]);
		}
		for (int shift = 12, started = 0; shift >= 0; shift -= 4) {
			unsigned nibble = words[i] >> shift & 0xf;

			started |= nibble || shift == 0;
			if (started)
				*p++ = hex[nibble];
		}
	}
	if (best >= 0 && best + best_len == 8)
		*p++ = ':';
	return p;
}

const char *addr6_format(const struct in6_addr *addr, char *buf)
{
	*put_addr6(buf, addr) = '\0';
	return buf;
}

const char *addr6_format_prefix(const struct prefix6 *prefix, char *buf)
{
	char *p = put_addr6(buf, &prefix->addr);

	*p++ = '/';
	*addr_put_decimal(p, prefix->len) = '\0';
	return buf;
}

bool addr6_is_zero(const struct in6_addr *addr)
{
	return half(addr, 0) == 0 && half(addr, 1) == 0;
}

bool addr6_is_link_local(const struct in6_addr *addr)
{
	return addr->s6_addr[0] == 0xfe && (addr->s6_addr[1] & 0xc0) == 0x80;
}

bool addr6_prefix_valid(const struct prefix6 *prefix)
{
	if (prefix->len > 128)
		return false;
	for (unsigned i = 0; i < 2; i++)
		if (half(&prefix->addr, i) & ~half_mask(prefix->len, i))
			return false;
	return true;
}

bool addr6_prefix_contains_addr(const struct prefix6 *prefix, const struct in6_addr *addr)
{
	for (unsigned i = 0; i < 2; i++) {
		uint64_t mask = half_mask(prefix->len, i);

		if ((half(addr, i) & mask) != (half(&prefix->addr, i) & mask))
			return false;
	}
	return true;
}

bool addr6_prefix_contains(const struct prefix6 *outer, const struct prefix6 *inner)
{
	return inner->len >= outer->len && addr6_prefix_contains_addr(outer, &inner->addr);
}

bool addr6_prefix_overlaps(const struct prefix6 *a, const struct prefix6 *b)
{
	return addr6_prefix_contains(a, b) || addr6_prefix_contains(b, a);
}

bool addr6_prefix_equal(const struct prefix6 *a, const struct prefix6 *b)
{
	return a->len == b->len && memcmp(&a->addr, &b->addr, sizeof(a->addr)) == 0;
}

int addr6_prefix_subnet(const struct prefix6 *prefix, uint8_t sub_len, uint64_t index,
			struct prefix6 *out)
{
	unsigned bits;
	uint64_t hi, lo;

	if (sub_len < prefix->len || sub_len > 128 || sub_len - prefix->len > 64)
		return -ERANGE;
	bits = sub_len - prefix->len;
	if (bits < 64 && index >> bits)
		return -ERANGE;
	/* index goes into bits [prefix->len, sub_len) of the address */
	hi = half(&prefix->addr, 0);
	lo = half(&prefix->addr, 1);
	if (bits > 0) {
		if (sub_len <= 64) {
			hi |= index << (64 - sub_len);
		} else if (prefix->len >= 64) {
			lo |= index << (128 - sub_len);
		} else {
			/* straddles the halves */
			unsigned low_bits = sub_len - 64;

			lo |= low_bits < 64 ? index << (64 - low_bits) : 0;
			hi |= index >> low_bits;
		}
	}
	out->len = sub_len;
	set_half(&out->addr, 0, hi);
	set_half(&out->addr, 1, lo);
	return 0;
}

int addr6_prefix_host(const struct prefix6 *prefix, uint64_t n, struct in6_addr *addr)
{
	unsigned host_bits = 128u - prefix->len;

	if (n == 0 || prefix->len > 128 || (host_bits < 64 && n >> host_bits))
		return -ERANGE;
	*addr = prefix->addr;
	set_half(addr, 1, half(&prefix->addr, 1) | n);
	return 0;
}

int addr6_same_host(const struct prefix *subnet, uint32_t addr, const struct prefix6 *subnet6,
		    struct in6_addr *out)
{
	uint32_t host = addr & ~addr_mask(subnet->len);

	if (subnet->len > 32 || (addr & addr_mask(subnet->len)) != subnet->addr)
		return -ERANGE;
	return addr6_prefix_host(subnet6, host, out);
}

/* The ranges no cluster range or node address may touch. */
static const struct {
	const char *prefix;
	const char *range; /* for addr6_range_problem */
	const char *addr;  /* for addr6_unicast_problem; NULL: a unicast address */
} special6[] = {
    {"::/128", "::/128 (unspecified)", "is the unspecified address"},
    {"::1/128", "::1/128 (loopback)", "is the loopback address"},
    {"::ffff:0:0/96", "::ffff:0:0/96 (IPv4-mapped)", "is an IPv4-mapped address"},
    {"ff00::/8", "ff00::/8 (multicast)", "is a multicast address"},
    {"fe80::/10", "fe80::/10 (link-local)", NULL},
};

#define N_SPECIAL6 (sizeof(special6) / sizeof(special6[0]))

static bool special_prefix(size_t i, struct prefix6 *p)
{
	return addr6_parse_prefix(special6[i].prefix, p) == 0;
}

const char *addr6_unicast_problem(const struct in6_addr *addr)
{
	for (size_t i = 0; i < N_SPECIAL6; i++) {
		struct prefix6 p;

		if (special6[i].addr && special_prefix(i, &p) &&
		    addr6_prefix_contains_addr(&p, addr))
			return special6[i].addr;
	}
	return NULL;
}

const char *addr6_node_ip_problem(const struct in6_addr *addr)
{
	const char *problem = addr6_unicast_problem(addr);

	if (problem)
		return problem;
	return addr6_is_link_local(addr) ? "is a link-local address" : NULL;
}

const char *addr6_range_problem(const struct prefix6 *range)
{
	for (size_t i = 0; i < N_SPECIAL6; i++) {
		struct prefix6 p;

		if (special_prefix(i, &p) && addr6_prefix_overlaps(&p, range))
			return special6[i].range;
	}
	return NULL;
}

void addr6_link_local_from_mac(const uint8_t mac[ADDR_MAC_LEN], struct in6_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->s6_addr[0] = 0xfe;
	addr->s6_addr[1] = 0x80;
	addr->s6_addr[8] = mac[0] ^ 0x02; /* the universal/local bit, inverted */
	addr->s6_addr[9] = mac[1];
	addr->s6_addr[10] = mac[2];
	addr->s6_addr[11] = 0xff;
	addr->s6_addr[12] = 0xfe;
	addr->s6_addr[13] = mac[3];
	addr->s6_addr[14] = mac[4];
	addr->s6_addr[15] = mac[5];
}

void addr6_link_local_from_ipv4(uint32_t addr4, struct in6_addr *addr)
{
	memset(addr, 0, sizeof(*addr));
	addr->s6_addr[0] = 0xfe;
	addr->s6_addr[1] = 0x80;
	addr->s6_addr[10] = 0x77; /* "wg" */
	addr->s6_addr[11] = 0x67;
	addr->s6_addr[12] = (uint8_t)(addr4 >> 24);
	addr->s6_addr[13] = (uint8_t)(addr4 >> 16);
	addr->s6_addr[14] = (uint8_t)(addr4 >> 8);
	addr->s6_addr[15] = (uint8_t)addr4;
}

bool addr6_link_local_to_ipv4(const struct in6_addr *addr, uint32_t *addr4)
{
	struct in6_addr check;
	uint32_t a = (uint32_t)addr->s6_addr[12] << 24 | (uint32_t)addr->s6_addr[13] << 16 |
		     (uint32_t)addr->s6_addr[14] << 8 | addr->s6_addr[15];

	addr6_link_local_from_ipv4(a, &check);
	if (memcmp(&check, addr, sizeof(check)) != 0)
		return false;
	*addr4 = a;
	return true;
}
