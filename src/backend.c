/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the data-path decisions that need no kernel: which mode a peer gets,
 * the VTEP MAC of a node, and the MTUs that keep every path free of
 * black holes. The rde (src/rde.c) feeds them with what the kernel layer
 * reports (the route to a peer, the underlay's MTU); see
 * include/nsagent/backend.h. */
#include <arpa/inet.h>
#include <string.h>

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

void backend_vtep_mac(const struct nodeaddr *vtep, uint8_t mac[KERN_MAC_LEN])
{
	uint32_t fold = 0, word;

	if (vtep->family != AF_INET6) {
		addr_local_mac(KERN_MAC_KIND_VTEP, vtep->family == AF_INET ? vtep->v4 : 0, mac);
		return;
	}
	for (unsigned i = 0; i < 4; i++) {
		memcpy(&word, &vtep->v6.s6_addr[4 * i], sizeof(word));
		fold ^= ntohl(word);
	}
	addr_local_mac(KERN_MAC_KIND_VTEP, fold, mac);
}

unsigned backend_vxlan_mtu(unsigned underlay, sa_family_t underlay_family)
{
	unsigned overhead =
	    underlay_family == AF_INET6 ? BACKEND_VXLAN_OVERHEAD6 : BACKEND_VXLAN_OVERHEAD;

	if (!underlay)
		underlay = BACKEND_DEFAULT_MTU;
	if (underlay < BACKEND_MIN_MTU + overhead)
		return BACKEND_MIN_MTU;
	return underlay - overhead;
}

unsigned backend_namespace_mtu(unsigned underlay, enum cfg_backend backend, bool any_vxlan,
			       sa_family_t underlay_family)
{
	if (!underlay)
		underlay = BACKEND_DEFAULT_MTU;
	if (backend == CFG_BACKEND_VXLAN || (backend == CFG_BACKEND_AUTO && any_vxlan))
		return backend_vxlan_mtu(underlay, underlay_family);
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
