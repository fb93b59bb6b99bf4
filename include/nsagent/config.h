/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent's whole configuration: one struct filled from defaults, then the
 * config file, then flags (flags win), validated as a whole before anything
 * acts on it. Parsing never touches the kernel. */
#ifndef NSAGENT_CONFIG_H
#define NSAGENT_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nsagent/addr.h"
#include "nsagent/addr6.h"
#include "nsagent/log.h"

#define CFG_DEFAULT_PORT 7470
#define CFG_DEFAULT_CONFIG_PATH "/etc/nsagent/nsagent.conf"
#define CFG_DEFAULT_STATE_DIR "/var/lib/nsagent"
#define CFG_DEFAULT_RUN_DIR "/run/nsagent"
#define CFG_DEFAULT_CLUSTER_CIDR "172.16.0.0/16"
/* A unique local address range (RFC 4193) fixed here: fd, then "nsage" in
 * ASCII as the 40-bit global ID. */
#define CFG_DEFAULT_CLUSTER_CIDR6 "fd6e:7361:6765::/48"
#define CFG_DEFAULT_BRIDGE "br0"
#define CFG_DEFAULT_NAMESPACES "NS1,NS2"
#define CFG_DEFAULT_PROBE_INTERVAL_MS 2000
#define CFG_MIN_PROBE_INTERVAL_MS 100
#define CFG_MAX_PEERS 256
#define CFG_MAX_NAMESPACES 1024
/* Namespace names: what `ip netns` accepts, minus '/', and short enough to
 * be a file name under /run/netns. */
#define CFG_NS_NAME_MAX 64
#define CFG_DEFAULT_MAX_PEERS 256 /* = PEER_MAX_PEERS, also the most */
#define CFG_DEFAULT_MAX_CONNECTIONS 1024
#define CFG_DEFAULT_DIAL_RATE 10
#define CFG_DEFAULT_ACCEPT_RATE 20

enum cfg_backend {
	CFG_BACKEND_AUTO,
	CFG_BACKEND_DIRECT,
	CFG_BACKEND_VXLAN,
	CFG_BACKEND_WIREGUARD, /* every peer over WireGuard (issue 19) */
};

/* Which peers' traffic goes through WireGuard (--encrypt). */
enum cfg_encrypt {
	CFG_ENCRYPT_OFF,    /* none (unless --backend wireguard) */
	CFG_ENCRYPT_ROUTED, /* peers behind a gateway; on-link ones stay direct */
	CFG_ENCRYPT_ALL,    /* every peer, as --backend wireguard */
};

/* Who exchanges the routes between nodes (--routing). */
enum cfg_routing {
	CFG_ROUTING_MESH, /* the agents' own full-mesh sessions */
	CFG_ROUTING_BGP,  /* BIRD, driven through its control socket (src/birdc.c) */
};

/* The length every node's IPv4 subnet has in a cluster (the rde's, and
 * what BGP import filters demand). */
#define CFG_NODE_SUBNET_LEN 24
/* A private ASN (RFC 6996) as the default local AS of --routing bgp. */
#define CFG_DEFAULT_BGP_AS 64512
/* AS_TRANS (RFC 6793): never a real AS. */
#define CFG_BGP_AS_TRANS 23456
#define CFG_MAX_BGP_PEERS 16
/* --masquerade-except: most IPv4 destination ranges left unmasqueraded. */
#define CFG_MAX_MASQUERADE_EXCEPT 16
#define CFG_DEFAULT_BIRD_CONFIG "/etc/bird/nsagent.conf"
#define CFG_DEFAULT_BIRD_SOCKET "/run/bird/bird.ctl"

/* A --bgp-peer: a route reflector or router BIRD holds a session with. */
struct cfg_bgp_peer {
	struct nodeaddr addr;
	uint32_t as; /* its AS: as given, else ours (iBGP) */
	bool as_set; /* given explicitly (printed back as IP:AS) */
};

/* WireGuard's IANA-less but customary port (wg-quick's examples, flannel). */
#define CFG_DEFAULT_WIREGUARD_PORT 51820
#define CFG_DEFAULT_WIREGUARD_USERSPACE "wireguard-go"

struct cfg {
	struct endpoint peers[CFG_MAX_PEERS]; /* --peer, repeatable */
	/* A peer given by name has it here (and address 0 in peers[], until
	 * cfg_resolve_peers); NULL until the first named peer. */
	char (*peer_hosts)[ADDR_HOST_MAX + 1];
	unsigned n_peers;
	uint16_t port; /* --port: listen port */

	struct nodeaddr node_ip; /* --node-ip; zero = derive from the route to the first peer */
	char iface[IFNAMSIZ];	 /* --iface: the node IP is this interface's; "" = not given */
	struct prefix subnet;	 /* --subnet */
	bool subnet_set;	 /* false = claim automatically */
	/* --config named a path, which must then exist (beside subnet_set,
	 * where a flag takes no padding of its own). */
	bool config_path_explicit;
	struct prefix cluster_cidr;

	char (*namespaces)[CFG_NS_NAME_MAX + 1]; /* --namespaces, in order */
	unsigned n_namespaces;
	char bridge[IFNAMSIZ]; /* --bridge */

	char *config_path; /* --config; NULL = default path, optional */
	char *state_dir;
	char *run_dir;
	enum log_level log_level;

	/* Session timers, milliseconds. */
	uint32_t keepalive_ms;
	uint32_t hold_time_ms;
	uint32_t restart_time_ms;
	uint32_t connect_retry_min_ms;
	uint32_t connect_retry_max_ms;
	uint32_t handshake_timeout_ms;
	/* Data-path probes (src/probe.c), milliseconds; 0 = off. */
	uint32_t probe_interval_ms;

	enum cfg_backend backend;

	/* Security and limits (issue 5). */
	char *key_file;		     /* --key-file: cluster key; NULL = unauthenticated */
	struct nodeaddr listen_addr; /* --listen; meaningful when listen_set (zero: any) */
	bool listen_set;	     /* false = listen on the node IP */
	uint32_t max_peers;
	uint32_t max_connections;
	uint32_t dial_rate;	 /* new dials per second */
	uint32_t accept_rate;	 /* accepted connections per second per source */
	struct endpoint metrics; /* --metrics: Prometheus endpoint, when enabled */
	bool metrics_enabled;

	/* Dual-stack (DESIGN.md "IPv6"). */
	bool ipv6;		      /* --ipv6: on by default */
	struct prefix6 cluster_cidr6; /* --cluster-cidr6 */
	struct prefix6 subnet6;	      /* --subnet6, when subnet6_set */
	bool subnet6_set;	      /* false = the /64 with the IPv4 subnet's index */
	bool masquerade6;	      /* --masquerade6: NAT66 for IPv6 leaving the cluster */
	/* --masquerade-except: IPv4 destinations outside the cluster that
	 * namespaces reach with their own address (a LAN routed to the
	 * cluster, e.g. through a site router that learns it over BGP). */
	struct prefix masquerade_except[CFG_MAX_MASQUERADE_EXCEPT];
	unsigned n_masquerade_except;
	/* WireGuard (issue 19). */
	char *wireguard_userspace; /* --wireguard-userspace: wireguard-go to run */
	enum cfg_encrypt encrypt;  /* --encrypt */
	uint16_t wireguard_port;   /* --wireguard-port: the device's UDP port */
	/* --wireguard-userspace was given: userspace even where the kernel
	 * has WireGuard. */
	bool wireguard_userspace_set;

	/* Routing through BIRD (issue 17). */
	enum cfg_routing routing; /* --routing */
	uint32_t bgp_as;	  /* --bgp-as: the local AS */
	unsigned n_bgp_peers;
	struct cfg_bgp_peer bgp_peers[CFG_MAX_BGP_PEERS]; /* --bgp-peer, repeatable */
	char *bird_config; /* --bird-config: the include nsagent renders */
	char *bird_socket; /* --bird-socket: BIRD's control socket */

	/* Private to config.c: where each setting was last set ("--flag" or
	 * "file:line"), so that cfg_validate can point at the right place. */
	struct cfg_sources *sources;
};

/* Error report: what was wrong and where ("--subnet", "nsagent.conf:12"). */
struct cfg_error {
	char where[128];
	char message[256];
};

/* A config with every default filled in. Never NULL (fatal on OOM). */
struct cfg *cfg_new(void);
void cfg_free(struct cfg *cfg);

/* The whole load: defaults, then the file (--config or the default path, a
 * missing default file is fine), then flags. argv[0] is the subcommand or
 * program name and is skipped. Returns 0, or -EINVAL with err filled. */
int cfg_load(struct cfg *cfg, int argc, char **argv, struct cfg_error *err);
int cfg_load_file(struct cfg *cfg, const char *path, struct cfg_error *err);
int cfg_validate(const struct cfg *cfg, struct cfg_error *err);

/* A node IP chosen at start (--node-ip auto) checked as cfg_validate checks
 * an explicit one: a unicast address outside the cluster range. Returns 0,
 * or -EINVAL with err naming the key to change. */
int cfg_validate_node_ip(const struct cfg *cfg, const struct nodeaddr *node_ip,
			 struct cfg_error *err);

/* The name peer i was given by, or NULL when it was given as an address. */
const char *cfg_peer_host(const struct cfg *cfg, unsigned i);

/* The peers' addresses, names resolved now (getaddrinfo: this node's
 * family first, see addr_resolve), into out
 * (n_peers entries), each checked as cfg_validate checks an address given
 * as such. Returns 0, or -EINVAL (-EAGAIN for a name that did not
 * resolve) with err naming the peer and what was wrong. */
int cfg_resolve_peers(const struct cfg *cfg, struct endpoint *out, struct cfg_error *err);

/* The keys that only a restart applies and that differ between running and
 * next: returns how many, and their names (", "-separated, truncated to
 * size) in names. A reload that finds any applies nothing. */
unsigned cfg_restart_changes(const struct cfg *running, const struct cfg *next, char *names,
			     size_t size);

/* Durations: "500ms", "3s", "2m"; a bare number is rejected. */
int cfg_parse_duration(const char *text, uint32_t *ms);

/* Prints the effective config in config-file syntax (round-trips). */
void cfg_print(const struct cfg *cfg, FILE *out);

/* Why name cannot be a namespace name ("is empty", ...), or NULL. */
const char *cfg_namespace_name_problem(const char *name);

/* Whether this node runs the WireGuard device (and advertises its key):
 * --backend wireguard or --encrypt routed|all. */
bool cfg_wireguard(const struct cfg *cfg);

/* Usage text for the run flags. */
void cfg_usage(FILE *out);

#endif
