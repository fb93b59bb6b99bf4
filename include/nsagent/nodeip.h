/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host's own addresses a node IP may be taken from (--iface, or the
 * first node of a cluster, which has no peer to route towards). */
#ifndef NSAGENT_NODEIP_H
#define NSAGENT_NODEIP_H

#include <stddef.h>
#include <stdint.h>

#include "nsagent/addr.h"

/* With iface: that interface's first IPv4 address a peer could reach
 * (addr_node_ip_problem says none) outside cluster. Without (NULL or ""):
 * the host's only such address on any interface. Returns 0, or a negative
 * errno with msg saying what was found instead and which flag to give:
 * -ENODEV (no such interface), -EADDRNOTAVAIL (no usable address),
 * -EEXIST (several, and no way to know which one peers reach). */
int nodeip_host_address(const struct prefix *cluster, const char *iface, uint32_t *addr, char *msg,
			size_t size);

#endif
