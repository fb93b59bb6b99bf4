/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The WireGuard device of the node (issue 19), one interface over two
 * implementations chosen at start: kernel WireGuard, configured over
 * generic netlink (wggenl.h), where the kernel has it; else (or with
 * --wireguard-userspace) wireguard-go, which the agent runs for
 * KERN_WG_IFNAME and configures through its UAPI socket (wguapi.h). The
 * kernel layer gives the device its MTU, address and routes, and makes
 * a kernel one (kern.h); this module owns the process, the key pair and
 * the peers.
 *
 * The device outlives the agent on purpose: a graceful restart (SIGTERM)
 * leaves it (and wireguard-go) running with its peers, so encrypted
 * traffic keeps flowing, and the next agent adopts it. Only leaving
 * (`nsagent down`, which also deletes the device) stops it. */
#ifndef NSAGENT_WG_H
#define NSAGENT_WG_H

#include <stdbool.h>
#include <stdint.h>

#include "nsagent/kern.h"
#include "nsagent/wgkey.h"

struct event_base;
struct wg_dev;

struct wg_config {
	const char *userspace; /* the program (wireguard-go): a path, or a name looked up in PATH */
	const char *state_dir; /* the key file's */
	const char *run_dir;   /* wireguard-go.log */
	const char *uapi_dir;  /* NULL = WGUAPI_DIR */
	uint16_t port;
	bool force_userspace; /* --wireguard-userspace given: never the kernel's */
};

/* What status shows of one peer, from the last read-back. */
struct wg_peer_stats {
	bool present;		     /* the device has the peer */
	uint64_t last_handshake_sec; /* Unix time; 0 = never */
	uint64_t rx_bytes;
	uint64_t tx_bytes;
};

struct wg_stats {
	uint64_t starts;  /* wireguard-go processes started */
	uint64_t repairs; /* read-backs that found the device differing and fixed it */
	uint64_t errors;  /* UAPI exchanges that failed */
	bool running;	  /* the device answered the last read-back */
};

/* Loads (or makes, at first start) the key pair, adopts a running device
 * or starts wireguard-go, and checks it every second from then on. A key
 * file that cannot be used is an error (msg names it). */
int wg_new(struct event_base *base, const struct wg_config *config, struct wg_dev **out, char *msg,
	   size_t size);
/* Leaves the process and the device running (graceful restart). */
void wg_free(struct wg_dev *wg);
/* Ends the process (leave): the device goes with it. */
void wg_stop(struct wg_dev *wg);

struct wggenl;
/* The choice made at start: kernel WireGuard (true, *genl open) when not
 * force_userspace and the kernel's generic-netlink family resolves; else
 * userspace (false, *genl NULL). why says which and why, for the log. */
bool wg_impl_choose(bool force_userspace, struct wggenl **genl, char *why, size_t size);
bool wg_is_kernel(const struct wg_dev *wg);
/* "kernel" or "userspace (PROGRAM)", as status shows it. */
const char *wg_impl_name(const struct wg_dev *wg);

void wg_public_key(const struct wg_dev *wg, uint8_t key[WGKEY_LEN]);
/* The planned routes: those of mode wireguard make the device's peers
 * (key, endpoint gateway:wg_port, allowed IPs their destinations);
 * applied at once and on every check. Copies. */
void wg_set_routes(struct wg_dev *wg, const struct kern_route *routes, unsigned n);
/* A new key pair, saved, then given to the device. */
int wg_rotate_key(struct wg_dev *wg, char *msg, size_t size);

void wg_peer_stats(const struct wg_dev *wg, const uint8_t key[WGKEY_LEN],
		   struct wg_peer_stats *stats);
void wg_get_stats(const struct wg_dev *wg, struct wg_stats *stats);

/* `nsagent down` without an agent: ends the process that serves ifname's
 * UAPI socket under uapi_dir (NULL = WGUAPI_DIR), found by the socket's
 * peer credentials, and waits (bounded) for it to go. 0 when none runs. */
int wg_stop_process(const char *uapi_dir, const char *ifname, char *msg, size_t size);

#endif
