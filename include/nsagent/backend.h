/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Data-path modes (DESIGN.md "Data-path modes"): the pure decisions behind
 * them, kept out of the kernel layer so that they can be unit-tested.
 *
 * direct: `subnet via node-ip`, for a peer whose node IP is on-link.
 * vxlan:  `subnet via <subnet's network address> dev KERN_VXLAN_IFNAME
 *         onlink`, with a permanent neighbour entry (that address -> the
 *         peer's VTEP MAC) and a permanent FDB entry (the MAC -> the peer's
 *         VTEP address), for a peer behind a router.
 * --backend auto chooses per peer from the kernel's route to its node IP. */
#ifndef NSAGENT_BACKEND_H
#define NSAGENT_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "nsagent/config.h"
#include "nsagent/kern.h"
#include "nsagent/nodeaddr.h"

/* Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers;
 * over an IPv6 underlay the outer header is 40 bytes, so 70. */
#define BACKEND_VXLAN_OVERHEAD 50
#define BACKEND_VXLAN_OVERHEAD6 70
/* WireGuard's overhead (issue 19): outer IP (20 for IPv4, 40 for IPv6) +
 * UDP (8) + WireGuard's data header (16) and authentication tag (16). */
#define BACKEND_WG_OVERHEAD4 60
#define BACKEND_WG_OVERHEAD6 80
/* Underlay MTU assumed when the node IP's device cannot be read. */
#define BACKEND_DEFAULT_MTU 1500
/* IPv4's minimum MTU (RFC 791): nothing smaller is ever configured. */
#define BACKEND_MIN_MTU 576

/* The mode for one peer. onlink: the kernel's route to the peer's node IP
 * has no gateway. peer_vtep: the peer advertised a VTEP (it has a VXLAN
 * device). When vxlan is wanted but the peer has no VTEP, direct is the
 * only thing left to try, and *fallback is set (may be NULL) so that the
 * caller can say so. */
enum kern_mode backend_choose(enum cfg_backend backend, bool onlink, bool peer_vtep,
			      bool *fallback);

/* Whether this node runs a VXLAN device at all (auto and vxlan do). */
bool backend_has_vtep(enum cfg_backend backend);

/* The VTEP MAC of a node: locally administered, unicast, derived from its
 * VTEP address (02:6e:a.b.c.d), so a re-created device keeps it and peers'
 * entries stay right. An IPv6 VTEP gives 02:6e and the XOR of its four
 * 32-bit words: two IPv6 nodes whose words fold alike would share a MAC
 * (an underlay's addresses differ in their interface identifiers, which
 * the fold keeps apart). */
void backend_vtep_mac(const struct nodeaddr *vtep, uint8_t mac[KERN_MAC_LEN]);

/* The MTU of the bridge, veths and namespaces' eth0: the underlay's when
 * every path is direct, the underlay's minus the VXLAN overhead when any
 * path may cross VXLAN (backend vxlan, or a peer in vxlan mode), so that
 * no full-size packet of a namespace ever has to be fragmented or dropped
 * on the way. */
unsigned backend_namespace_mtu(unsigned underlay, enum cfg_backend backend, bool any_vxlan,
			       sa_family_t underlay_family);
/* The VXLAN device's MTU: room for the headers inside the underlay's, whose
 * family (AF_INET6, else IPv4) sets the outer header's size. */
unsigned backend_vxlan_mtu(unsigned underlay, sa_family_t underlay_family);

/* WireGuard's overhead over an underlay of this family (IPv4 or IPv6). */
unsigned backend_wg_overhead(bool underlay_ipv6);
/* The WireGuard device's MTU, and the namespaces' when any peer is
 * reached through it. */
unsigned backend_wg_mtu(unsigned underlay, bool underlay_ipv6);
/* Whether a peer's traffic goes through WireGuard: every peer's with
 * --backend wireguard or --encrypt all, a peer's that is not on-link with
 * --encrypt routed, none otherwise. */
bool backend_encrypts(enum cfg_backend backend, enum cfg_encrypt encrypt, bool onlink);
const char *backend_mode_name(enum kern_mode mode);
const char *backend_name(enum cfg_backend backend);

#endif
