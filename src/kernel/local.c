/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the host's own networks, for advert validation (kern.h), and the
 * link-local address peers use as the next hop of our /64.
 *
 * Read once through getifaddrs(3) (netlink underneath): every IPv4 address
 * of the host as a /32 plus its connected prefix, and the same for IPv6
 * (/128 and prefix), link-local ones left out (every link has fe80::/64,
 * and rib.c refuses that range anyway). Owns nothing and changes
 * nothing. */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsagent/kern.h"
#include "nsagent/xalloc.h"

static int list_addresses(struct ifaddrs **ifas, struct kern_error *err)
{
	int e;

	if (getifaddrs(ifas) == 0)
		return 0;
	e = errno;
	snprintf(err->message, sizeof(err->message), "cannot list the host's addresses: %s",
		 strerror(e));
	errno = e;
	return -e;
}

int kern_local_prefixes(const char *skip_ifname, struct prefix **prefixes, unsigned *n,
			struct kern_error *err)
{
	struct ifaddrs *ifas, *ifa;
	struct prefix *out = NULL;
	unsigned count = 0, cap = 0;

	*prefixes = NULL;
	*n = 0;
	if (list_addresses(&ifas, err) < 0)
		return -errno;
	for (ifa = ifas; ifa; ifa = ifa->ifa_next) {
		uint32_t addr, mask;
		uint8_t len = 0;

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET || !ifa->ifa_netmask)
			continue;
		if (skip_ifname && strcmp(ifa->ifa_name, skip_ifname) == 0)
			continue;
		addr = ntohl(((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr);
		mask = ntohl(((struct sockaddr_in *)ifa->ifa_netmask)->sin_addr.s_addr);
		while (len < 32 && (mask & (0x80000000u >> len)))
			len++;
		if (count + 2 > cap) {
			cap = cap ? 2 * cap : 16;
			out = xreallocarray(out, cap, sizeof(*out));
		}
		out[count++] = (struct prefix){addr, 32};
		out[count++] = (struct prefix){len ? addr & (0xffffffffu << (32 - len)) : 0, len};
	}
	freeifaddrs(ifas);
	*prefixes = out;
	*n = count;
	return 0;
}

/* The prefix length of an IPv6 netmask. */
static uint8_t mask6_len(const struct in6_addr *mask)
{
	uint8_t len = 0;

	while (len < 128 && (mask->s6_addr[len / 8] & (0x80 >> (len % 8))))
		len++;
	return len;
}

int kern_local_prefixes6(const char *skip_ifname, struct prefix6 **prefixes, unsigned *n,
			 struct kern_error *err)
{
	struct ifaddrs *ifas, *ifa;
	struct prefix6 *out = NULL;
	unsigned count = 0, cap = 0;

	*prefixes = NULL;
	*n = 0;
	if (list_addresses(&ifas, err) < 0)
		return -errno;
	for (ifa = ifas; ifa; ifa = ifa->ifa_next) {
		struct prefix6 host, net;

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET6 || !ifa->ifa_netmask)
			continue;
		if (skip_ifname && strcmp(ifa->ifa_name, skip_ifname) == 0)
			continue;
		host.addr = ((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;
		host.len = 128;
		if (addr6_is_link_local(&host.addr))
			continue;
		net.len = mask6_len(&((struct sockaddr_in6 *)ifa->ifa_netmask)->sin6_addr);
		for (unsigned i = 0; i < 16; i++)
			net.addr.s6_addr[i] =
			    host.addr.s6_addr[i] &
			    ((struct sockaddr_in6 *)ifa->ifa_netmask)->sin6_addr.s6_addr[i];
		if (count + 2 > cap) {
			cap = cap ? 2 * cap : 16;
			out = xreallocarray(out, cap, sizeof(*out));
		}
		out[count++] = host;
		out[count++] = net;
	}
	freeifaddrs(ifas);
	*prefixes = out;
	*n = count;
	return 0;
}

int kern_link_local6(const char *ifname, struct in6_addr *addr, struct kern_error *err)
{
	struct ifaddrs *ifas, *ifa;
	int rc = -EADDRNOTAVAIL;

	if (list_addresses(&ifas, err) < 0)
		return -errno;
	for (ifa = ifas; ifa; ifa = ifa->ifa_next) {
		const struct in6_addr *a;

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET6 ||
		    strcmp(ifa->ifa_name, ifname) != 0)
			continue;
		a = &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;
		if (!addr6_is_link_local(a))
			continue;
		*addr = *a;
		rc = 0;
		break;
	}
	freeifaddrs(ifas);
	if (rc < 0)
		snprintf(err->message, sizeof(err->message),
			 "%s has no IPv6 link-local address (IPv6 disabled there)", ifname);
	return rc;
}
