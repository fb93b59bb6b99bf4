/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Bounds of a CNI attachment's identity, shared by the control protocol,
 * the address allocator, the kernel layer and the status model. The CNI
 * specification sets none; runtimes use 64 hex digits for a container id
 * and short netns paths (/run/netns/cni-UUID, /proc/PID/ns/net). */
#ifndef NSAGENT_ATTACH_H
#define NSAGENT_ATTACH_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define ATTACH_ID_MAX 128    /* CNI_CONTAINERID, characters */
#define ATTACH_NETNS_MAX 255 /* CNI_NETNS, characters */

/* One container interface: ifname in the network namespace at netns,
 * which a container runtime made and owns. container_id and ifname name it
 * (the CNI specification's key). netns_dev and netns_ino are the
 * namespace's identity when it was attached: a file at the same path that
 * is another namespace (a /proc/PID path whose PID was reused, a runtime
 * that re-created its namespace) is not this attachment's, and the agent
 * never touches it. */
struct attachment {
	char container_id[ATTACH_ID_MAX + 1];
	char ifname[IFNAMSIZ];
	char netns[ATTACH_NETNS_MAX + 1];
	uint64_t netns_dev;
	uint64_t netns_ino;
};

static inline bool attachment_equal(const struct attachment *a, const struct attachment *b)
{
	return strcmp(a->container_id, b->container_id) == 0 && strcmp(a->ifname, b->ifname) == 0 &&
	       strcmp(a->netns, b->netns) == 0 && a->netns_dev == b->netns_dev &&
	       a->netns_ino == b->netns_ino;
}

static inline bool attachment_is(const struct attachment *a, const char *container_id,
				 const char *ifname)
{
	return strcmp(a->container_id, container_id) == 0 && strcmp(a->ifname, ifname) == 0;
}

#endif
