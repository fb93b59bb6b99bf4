/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Kernel WireGuard through its generic-netlink API (linux/wireguard.h),
 * as wg(8) speaks it when the kernel has the module: WG_CMD_GET_DEVICE
 * (a dump, its answer possibly split over several messages) and
 * WG_CMD_SET_DEVICE. The device itself (kind "wireguard") is made by the
 * kernel layer over rtnetlink; this module only configures and reads it.
 *
 * The same domain struct as the userspace path (wguapi.h): a read-back
 * fills a struct wguapi_device, and a change is the wguapi_plan between
 * two of them, so src/wg.c holds one logic over both transports. The
 * builder and the parser are pure (tests/unit/test_wggenl.c runs them on
 * messages built and read with libmnl); the exchange is blocking with a
 * short timeout, like the UAPI socket's. */
#ifndef NSAGENT_WGGENL_H
#define NSAGENT_WGGENL_H

#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>

#include "nsagent/wguapi.h"

/* One SET message at most: a page, as the kernel's own dumps. A peer
 * with WGUAPI_MAX_ALLOWED allowed IPs takes about 1.5 KiB. */
#define WGGENL_MSG_MAX 4096

struct wggenl;

/* Opens a generic-netlink socket and resolves the "wireguard" family.
 * -ENOENT when the kernel has no WireGuard (msg says so): the caller
 * takes the userspace path. */
int wggenl_open(struct wggenl **out, char *msg, size_t size);
/* The same for the generic-netlink family of that name (a test resolves
 * "nlctrl", which every kernel has, through the same exchange). */
int wggenl_open_family(const char *family, struct wggenl **out, char *msg, size_t size);
void wggenl_close(struct wggenl *g);

/* The WG_CMD_SET_DEVICE messages (family id family, ifname) that make
 * have into want (wguapi_plan), back to back in one malloc'd buffer
 * (*out, *len; each message at most WGGENL_MSG_MAX, a peer never split);
 * the device's key and port in the first. Returns the number of changes
 * (0: *out NULL). Peers set replace their allowed IPs, removed ones carry
 * WGPEER_F_REMOVE_ME. */
unsigned wggenl_build_set(uint16_t family, const char *ifname, const struct wguapi_device *want,
			  const struct wguapi_device *have, void **out, size_t *len);

/* One message of a WG_CMD_GET_DEVICE dump into dev (zeroed by the caller
 * before the first): a message's first peer with the key of the previous
 * message's last one continues it (its allowed IPs did not fit). 0, or
 * -EBADMSG with msg naming what could not be read. */
int wggenl_parse_get(const struct nlmsghdr *nlh, struct wguapi_device *dev, char *msg, size_t size);

/* The device ifname read back: -ENODEV when there is none (the kernel
 * layer has not made it yet, or it was deleted). */
int wggenl_get(struct wggenl *g, const char *ifname, struct wguapi_device *dev, char *msg,
	       size_t size);
/* Sends what wggenl_build_set made, one message at a time, each
 * acknowledged; the kernel's errno, negated, when it refuses one. */
int wggenl_set(struct wggenl *g, const void *msgs, size_t len, char *msg, size_t size);
/* The family id resolved by wggenl_open. */
uint16_t wggenl_family(const struct wggenl *g);

#endif
