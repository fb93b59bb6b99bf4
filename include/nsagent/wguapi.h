/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The WireGuard cross-platform UAPI (https://www.wireguard.com/xplatform/):
 * the text protocol of a userspace implementation's Unix socket
 * (/var/run/wireguard/<ifname>.sock), as wireguard-go and wg(8) speak it.
 *
 * Three layers, the first two pure (tests/unit/test_wguapi.c runs them on
 * canned text): a parser of a `get=1` answer into struct wguapi_device;
 * a builder of the `set=1` text that turns the device as it is into the
 * device as wanted, peer by peer (no replace_peers: that would drop every
 * session and cost each peer a handshake); and the socket exchange. */
#ifndef NSAGENT_WGUAPI_H
#define NSAGENT_WGUAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsagent/addr.h"
#include "nsagent/addr6.h"
#include "nsagent/wgkey.h"

#define WGUAPI_DIR "/var/run/wireguard"
/* A peer's allowed IPs: a node's subnets of both families. */
#define WGUAPI_MAX_ALLOWED 32
/* A get=1 answer longer than this is not from a device we configured. */
#define WGUAPI_MAX_REPLY (1024 * 1024)

struct wguapi_allowed {
	bool ipv6;
	struct prefix v4;
	struct prefix6 v6;
};

struct wguapi_peer {
	uint8_t public_key[WGKEY_LEN];
	struct endpoint endpoint; /* addr zero = none */
	struct wguapi_allowed allowed[WGUAPI_MAX_ALLOWED];
	unsigned n_allowed;
	/* From get=1 only. */
	uint64_t last_handshake_sec; /* Unix time; 0 = never */
	uint64_t rx_bytes;
	uint64_t tx_bytes;
	/* The builder's input only: true leaves the peer alone if the device
	 * has it (graceful restart adopts peers it cannot name yet). */
	bool keep;
};

struct wguapi_device {
	bool has_private_key;
	uint8_t private_key[WGKEY_LEN];
	uint16_t listen_port;
	struct wguapi_peer *peers;
	unsigned n_peers;
	/* The builder's input only: remove no peer of the device (nothing is
	 * known yet of which peers are wanted: an agent just started over a
	 * running device). */
	bool keep_other_peers;
};

void wguapi_device_free(struct wguapi_device *dev);
/* Parses the text of a get=1 answer (up to, without, the final errno
 * line, or with it: *errno_out gets its value, 0 when absent). 0, or
 * -EBADMSG with msg naming the line it could not take. */
int wguapi_parse(const char *text, struct wguapi_device *dev, int *errno_out, char *msg,
		 size_t size);

/* What makes have into want, whichever way it is sent (the set=1 text
 * below, or generic netlink: wggenl.h): the private key and the port when
 * they differ, the peers of have to remove (indices into have->peers:
 * those want neither has nor keeps) and the peers of want to set (indices
 * into want->peers: missing or differing in endpoint or allowed IPs).
 * Returns the number of changes; wguapi_plan_free frees the arrays. */
struct wguapi_plan {
	bool private_key;
	bool listen_port;
	unsigned *remove, n_remove;
	unsigned *set, n_set;
};
unsigned wguapi_plan(const struct wguapi_device *want, const struct wguapi_device *have,
		     struct wguapi_plan *plan);
void wguapi_plan_free(struct wguapi_plan *plan);

/* The set=1 request (with its blank line) that makes have into want:
 * private key and port when they differ, each wanted peer that is
 * missing or differs in endpoint or allowed IPs (replace_allowed_ips),
 * and remove=true for each peer of have that want neither has nor keeps.
 * malloc'd into *out; returns the number of changes (0: nothing to send,
 * *out NULL). want->peers with keep set and without a key are ignored. */
unsigned wguapi_build_set(const struct wguapi_device *want, const struct wguapi_device *have,
			  char **out);
/* The peer of dev with this key, or NULL. */
const struct wguapi_peer *wguapi_find_peer(const struct wguapi_device *dev,
					   const uint8_t key[WGKEY_LEN]);

/* The socket of ifname under dir (WGUAPI_DIR unless a test says). */
void wguapi_socket_path(const char *dir, const char *ifname, char *out, size_t size);
/* get=1 on the socket at path. -ENOENT/-ECONNREFUSED when no device
 * answers there; msg says what failed. */
int wguapi_get(const char *path, struct wguapi_device *dev, char *msg, size_t size);
/* Sends a set request built above; the device's errno, negated, when it
 * refuses. */
int wguapi_set(const char *path, const char *request, char *msg, size_t size);

#endif
