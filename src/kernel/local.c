/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the host's own networks, for advert validation (kern.h).
 *
 * Read once through getifaddrs(3) (netlink underneath): every IPv4 address
 * of the host as a /32 plus its connected prefix. Owns nothing and
 * changes nothing. */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsagent/kern.h"
#include "nsagent/xalloc.h"

int kern_local_prefixes(const char *skip_ifname, struct prefix **prefixes, unsigned *n,
			struct kern_error *err)
{
	struct ifaddrs *ifas, *ifa;
	struct prefix *out = NULL;
	unsigned count = 0, cap = 0;

	*prefixes = NULL;
	*n = 0;
	if (getifaddrs(&ifas) < 0) {
		int ret = -errno;

		snprintf(err->message, sizeof(err->message), "cannot list the host's addresses: %s",
			 strerror(errno));
		return ret;
	}
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
