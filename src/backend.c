/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the data-path decisions that need no kernel: which mode a peer gets,
 * the VTEP MAC of a node, and the MTUs that keep every path free of
 * black holes. The rde (src/rde.c) feeds them with what the kernel layer
 * reports (the route to a peer, the underlay's MTU); see
 * include/nsagent/backend.h. */
#include "nsagent/backend.h"

enum kern_mode backend_choose(enum cfg_backend backend, bool onlink, bool peer_vtep, bool *fallback)
{
	bool vxlan = backend == CFG_BACKEND_VXLAN || (backend == CFG_BACKEND_AUTO && !onlink);

	if (fallback)
		*fallback = vxlan && !peer_vtep;
	return vxlan && peer_vtep ? KERN_MODE_VXLAN : KERN_MODE_DIRECT;
}

bool backend_has_vtep(enum cfg_backend backend)
{
	return backend == CFG_BACKEND_AUTO || backend == CFG_BACKEND_VXLAN;
}

unsigned backend_wg_overhead(bool underlay_ipv6)
{
	return underlay_ipv6 ? BACKEND_WG_OVERHEAD6 : BACKEND_WG_OVERHEAD4;
}

unsigned backend_wg_mtu(unsigned underlay, bool underlay_ipv6)
{
	unsigned overhead = backend_wg_overhead(underlay_ipv6);

	if (!underlay)
		underlay = BACKEND_DEFAULT_MTU;
	if (underlay < BACKEND_MIN_MTU + overhead)
		return BACKEND_MIN_MTU;
	return underlay - overhead;
}

bool backend_encrypts(enum cfg_backend backend, enum cfg_encrypt encrypt, bool onlink)
{
	return backend == CFG_BACKEND_WIREGUARD || encrypt == CFG_ENCRYPT_ALL ||
	       (encrypt == CFG_ENCRYPT_ROUTED && !onlink);
}

void backend_vtep_mac(uint32_t vtep, uint8_t mac[KERN_MAC_LEN])
{
	addr_local_mac(KERN_MAC_KIND_VTEP, vtep, mac);
}

unsigned backend_vxlan_mtu(unsigned underlay)
{
	if (!underlay)
		underlay = BACKEND_DEFAULT_MTU;
	if (underlay < BACKEND_MIN_MTU + BACKEND_VXLAN_OVERHEAD)
		return BACKEND_MIN_MTU;
	return underlay - BACKEND_VXLAN_OVERHEAD;
}

unsigned backend_namespace_mtu(unsigned underlay, enum cfg_backend backend, bool any_vxlan)
{
	if (!underlay)
		underlay = BACKEND_DEFAULT_MTU;
	if (backend == CFG_BACKEND_VXLAN || (backend == CFG_BACKEND_AUTO && any_vxlan))
		return backend_vxlan_mtu(underlay);
	return underlay;
}

const char *backend_mode_name(enum kern_mode mode)
{
	switch (mode) {
	case KERN_MODE_DIRECT:
		return "direct";
	case KERN_MODE_VXLAN:
		return "vxlan";
	case KERN_MODE_WIREGUARD:
		return "wireguard";
	}
	return "?";
}

const char *backend_name(enum cfg_backend backend)
{
	switch (backend) {
	case CFG_BACKEND_AUTO:
		return "auto";
	case CFG_BACKEND_DIRECT:
		return "direct";
	case CFG_BACKEND_VXLAN:
		return "vxlan";
	case CFG_BACKEND_WIREGUARD:
		return "wireguard";
	}
	return "?";
}
