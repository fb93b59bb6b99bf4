/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the node IP from the host's own addresses. The node IP is the
 * address every peer dials and routes through, so a guess that picks the
 * wrong interface breaks the cluster quietly. A Vagrant VM shows why: its
 * first interface is VirtualBox's NAT (10.0.2.15 on every VM), which the
 * other VMs cannot reach, and it also holds the default route, so neither
 * "the first interface" nor "the default route's" is safe. Hence:
 *   - --iface NAME takes that interface's first usable address (as
 *     flannel's --iface does);
 *   - without it (and without --peer, whose route would tell), the host's
 *     address is taken only when there is exactly one candidate; with
 *     several the agent refuses and lists them, naming --iface and
 *     --node-ip.
 * A candidate is an IPv4 address that is not loopback, link-local or
 * otherwise unreachable (addr_node_ip_problem) and lies outside the
 * cluster range (the agent's own bridge address is inside it). */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "nsagent/nodeip.h"

/* Appends text to msg at *len, truncating quietly. */
static void append(char *msg, size_t size, size_t *len, const char *text)
{
	int n;

	if (*len >= size)
		return;
	n = snprintf(msg + *len, size - *len, "%s", text);
	if (n > 0)
		*len += (size_t)n;
}

int nodeip_host_address(const struct prefix *cluster, const char *iface, uint32_t *addr, char *msg,
			size_t size)
{
	char found[256] = "", a[ADDR_STRLEN], item[ADDR_STRLEN + IFNAMSIZ + 96];
	struct ifaddrs *ifas, *ifa;
	size_t found_len = 0;
	unsigned n_found = 0, n_usable = 0;
	int ret;

	if (iface && !iface[0])
		iface = NULL;
	if (iface && if_nametoindex(iface) == 0) {
		snprintf(msg, size, "--iface %s: no such interface", iface);
		return -ENODEV;
	}
	if (getifaddrs(&ifas) < 0) {
		ret = -errno;
		snprintf(msg, size, "cannot list the host's addresses (getifaddrs): %s",
			 strerror(-ret));
		return ret;
	}
	for (ifa = ifas; ifa; ifa = ifa->ifa_next) {
		const char *problem;
		uint32_t candidate;

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET)
			continue;
		if (iface && strcmp(ifa->ifa_name, iface) != 0)
			continue;
		candidate = ntohl(((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr);
		problem = addr_node_ip_problem(candidate);
		if (!problem && addr_prefix_contains_addr(cluster, candidate))
			problem = "is inside the cluster range";
		/* Loopback is on every host: not worth listing without --iface. */
		if (problem && !iface)
			continue;
		if (problem)
			snprintf(item, sizeof(item), "%s%s %s", n_found ? ", " : "",
				 addr_format(candidate, a), problem);
		else
			snprintf(item, sizeof(item), "%s%s on %s", n_found ? ", " : "",
				 addr_format(candidate, a), ifa->ifa_name);
		append(found, sizeof(found), &found_len, item);
		n_found++;
		if (problem)
			continue;
		if (n_usable++ == 0)
			*addr = candidate;
		if (iface)
			break;
	}
	freeifaddrs(ifas);
	if (n_usable == 1 || (iface && n_usable))
		return 0;
	if (iface) {
		snprintf(msg, size, "--iface %s has no IPv4 address a peer could reach%s%s%s",
			 iface, n_found ? " (" : "", found, n_found ? ")" : "");
		return -EADDRNOTAVAIL;
	}
	if (n_usable == 0) {
		snprintf(msg, size,
			 "no --peer and no global IPv4 address outside the cluster range on this "
			 "host; give --node-ip");
		return -EADDRNOTAVAIL;
	}
	snprintf(msg, size,
		 "no --peer to route towards, and this host has several addresses (%s): give "
		 "--iface or --node-ip to say which one the other nodes reach",
		 found);
	return -EEXIST;
}
