/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: configuration. Owns struct cfg: its defaults, the config file
 * reader (libinih, one [nsagent] section whose keys are the long flag names),
 * the flag parser (getopt_long), validation and printing.
 *
 * One table (options[]) describes every setting once: its flag/key name,
 * help text, setter, printer, and whether a reload may change it. Flags,
 * file keys, the usage text (defaults included: a default config printed),
 * cfg_print and reload's restart-only check all come from it, so they
 * cannot drift apart.
 *
 * Precedence is defaults < file < flags. List settings (peer, namespaces)
 * accumulate within one source, and the first occurrence in a source
 * replaces what an earlier source gave, so `--peer X` on the command line
 * means "exactly X" whatever the file says. A peer without a port uses
 * --port, resolved once every source has been read.
 *
 * Each value is checked when it is set, with the flag or file:line of its
 * origin; cfg_validate then checks the struct as a whole, blaming the origin
 * recorded in cfg->sources (or the flag name for values set by code).
 * Nothing here touches the kernel, prints to the user or exits. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "nsagent/config.h"
#include "nsagent/xalloc.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* A path must fit one config line (inih reads lines of at most 200 bytes)
 * so that cfg_print output always loads back. */
#define CFG_PATH_MAX 160
/* cfg_print wraps long namespace lists over several lines below this width. */
#define NAMESPACES_LINE_MAX 100
/* The longest peer host name: "peer = " NAME ":65535" fits a config line. */
#define CFG_PEER_HOST_MAX 180

enum cfg_key {
	KEY_PEER,
	KEY_PORT,
	KEY_NODE_IP,
	KEY_IFACE,
	KEY_SUBNET,
	KEY_CLUSTER_CIDR,
	KEY_NAMESPACES,
	KEY_BRIDGE,
	KEY_CONFIG,
	KEY_STATE_DIR,
	KEY_RUN_DIR,
	KEY_LOG_LEVEL,
	KEY_KEEPALIVE,
	KEY_HOLD_TIME,
	KEY_RESTART_TIME,
	KEY_CONNECT_RETRY_MIN,
	KEY_CONNECT_RETRY_MAX,
	KEY_HANDSHAKE_TIMEOUT,
	KEY_PROBE_INTERVAL,
	KEY_BACKEND,
	KEY_KEY_FILE,
	KEY_LISTEN,
	KEY_MAX_PEERS,
	KEY_MAX_CONNECTIONS,
	KEY_DIAL_RATE,
	KEY_ACCEPT_RATE,
	KEY_METRICS,
	KEY_IPV6,
	KEY_CLUSTER_CIDR6,
	KEY_SUBNET6,
	KEY_MASQUERADE6,
	KEY_MASQUERADE_EXCEPT,
	KEY_ENCRYPT,
	KEY_WIREGUARD_PORT,
	KEY_WIREGUARD_USERSPACE,
	KEY_ROUTING,
	KEY_BGP_AS,
	KEY_BGP_PEER,
	KEY_BIRD_CONFIG,
	KEY_BIRD_SOCKET,
	KEY_COUNT
};

struct cfg_sources {
	char where[KEY_COUNT][sizeof(((struct cfg_error *)0)->where)];
};

/* A setter checks one value and stores it; on error it writes a message
 * (without the location) into msg and returns -EINVAL. */
typedef int (*cfg_setter)(struct cfg *cfg, const char *value, char *msg, size_t size);
struct cfg_option;
typedef void (*cfg_printer)(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);

struct cfg_option {
	const char *name; /* long flag without "--", and file key */
	const char *metavar;
	const char *help;
	bool list;    /* repeatable, accumulates */
	bool in_file; /* --config only makes sense as a flag */
	/* A reload may change it. Otherwise only a restart applies it, and a
	 * reload that changes it is refused as a whole (cfg_restart_changes):
	 * never reported as reloaded while the old value still runs. */
	bool reloadable;
	cfg_setter set;
	/* A plain duration: no setter, the value goes to this uint32_t field
	 * of struct cfg, in milliseconds (and is printed from it). */
	size_t duration_ms;
	/* Writes the setting as config file lines (`name = value`, none for
	 * an empty list): cfg_print, the defaults in the usage text and
	 * reload's comparison all read a key through it. */
	cfg_printer print;
};

/* The columns after in_file: a setter (RELOADABLE_SETTER for a key the
 * running agent takes on a reload), or a duration field. */
#define SETTER(fn, print) false, fn, 0, print
#define RELOADABLE_SETTER(fn, print) true, fn, 0, print
#define DURATION_FIELD(field) false, NULL, offsetof(struct cfg, field), print_duration

static int set_peer(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_port(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_node_ip(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_iface(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_subnet(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_cluster_cidr(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_namespaces(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_bridge(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_config(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_state_dir(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_run_dir(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_log_level(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_probe_interval(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_backend(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_key_file(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_listen(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_max_peers(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_max_connections(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_dial_rate(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_accept_rate(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_metrics(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_ipv6(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_cluster_cidr6(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_subnet6(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_masquerade6(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_masquerade_except(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_encrypt(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_wireguard_port(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_wireguard_userspace(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_routing(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_bgp_as(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_bgp_peer(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_bird_config(struct cfg *cfg, const char *value, char *msg, size_t size);
static int set_bird_socket(struct cfg *cfg, const char *value, char *msg, size_t size);
static void print_peers(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_routing(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_bgp_as(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_bgp_peers(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_bird_config(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_bird_socket(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_port(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_node_ip(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_iface(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_subnet(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_cluster_cidr(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_namespaces(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_bridge(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_nothing(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_state_dir(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_run_dir(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_log_level(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_probe_interval(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_backend(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_key_file(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_listen(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_max_peers(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_max_connections(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_dial_rate(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_accept_rate(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_metrics(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_ipv6(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_cluster_cidr6(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_subnet6(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_masquerade6(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_masquerade_except(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_encrypt(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_wireguard_port(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);
static void print_wireguard_userspace(const struct cfg *cfg, const struct cfg_option *opt,
				      FILE *out);
static void print_duration(const struct cfg *cfg, const struct cfg_option *opt, FILE *out);

static const struct cfg_option options[KEY_COUNT] = {
    [KEY_PEER] = {"peer", "ADDR|NAME[:PORT]",
		  "a node to join through, by address or host name (resolved at start and at "
		  "each redial); repeatable (port defaults to --port)",
		  true, true, SETTER(set_peer, print_peers)},
    [KEY_PORT] = {"port", "PORT", "TCP port to listen on and to dial peers at", false, true,
		  SETTER(set_port, print_port)},
    [KEY_NODE_IP] = {"node-ip", "ADDR|auto",
		     "this node's address (auto: --iface's address, else the source address "
		     "toward the first peer, else the host's only global address)",
		     false, true, SETTER(set_node_ip, print_node_ip)},
    [KEY_IFACE] = {"iface", "NAME",
		   "take the node IP from this interface (its first global IPv4 address)", false,
		   true, SETTER(set_iface, print_iface)},
    [KEY_SUBNET] = {"subnet", "PREFIX|auto",
		    "this node's subnet (auto: claim a free /24 of the cluster)", false, true,
		    SETTER(set_subnet, print_subnet)},
    [KEY_CLUSTER_CIDR] = {"cluster-cidr", "PREFIX", "range holding every node's subnet", false,
			  true, SETTER(set_cluster_cidr, print_cluster_cidr)},
    [KEY_NAMESPACES] = {"namespaces", "NAME[,NAME...]",
			"network namespaces to create on the bridge", true, true,
			RELOADABLE_SETTER(set_namespaces, print_namespaces)},
    [KEY_BRIDGE] = {"bridge", "NAME", "bridge joining the namespaces", false, true,
		    SETTER(set_bridge, print_bridge)},
    [KEY_CONFIG] = {"config", "PATH",
		    "config file (default " CFG_DEFAULT_CONFIG_PATH ", may be missing)", false,
		    false, SETTER(set_config, print_nothing)},
    [KEY_STATE_DIR] = {"state-dir", "DIR", "persisted state (node id, subnet lease, peers)", false,
		       true, SETTER(set_state_dir, print_state_dir)},
    [KEY_RUN_DIR] = {"run-dir", "DIR", "control socket directory", false, true,
		     SETTER(set_run_dir, print_run_dir)},
    [KEY_LOG_LEVEL] = {"log-level", "LEVEL", "error, warn, info or debug", false, true,
		       RELOADABLE_SETTER(set_log_level, print_log_level)},
    [KEY_KEEPALIVE] = {"keepalive", "DURATION", "interval between keepalives", false, true,
		       DURATION_FIELD(keepalive_ms)},
    [KEY_HOLD_TIME] = {"hold-time", "DURATION", "a silent session is down after this", false, true,
		       DURATION_FIELD(hold_time_ms)},
    [KEY_RESTART_TIME] = {"restart-time", "DURATION",
			  "how long a lost peer's routes are kept as stale", false, true,
			  DURATION_FIELD(restart_time_ms)},
    [KEY_CONNECT_RETRY_MIN] = {"connect-retry-min", "DURATION", "first reconnect delay", false,
			       true, DURATION_FIELD(connect_retry_min_ms)},
    [KEY_CONNECT_RETRY_MAX] = {"connect-retry-max", "DURATION", "longest reconnect delay", false,
			       true, DURATION_FIELD(connect_retry_max_ms)},
    [KEY_HANDSHAKE_TIMEOUT] = {"handshake-timeout", "DURATION",
			       "a session must finish its handshake within this", false, true,
			       DURATION_FIELD(handshake_timeout_ms)},
    [KEY_PROBE_INTERVAL] = {"probe-interval", "DURATION|off",
			    "interval between data-path probe rounds (0s = off)", false, true,
			    RELOADABLE_SETTER(set_probe_interval, print_probe_interval)},
    [KEY_BACKEND] = {"backend", "auto|direct|vxlan|wireguard",
		     "path to peers (auto: direct if on-link, else vxlan; wireguard: every peer "
		     "encrypted)",
		     false, true, SETTER(set_backend, print_backend)},
    [KEY_KEY_FILE] = {"key-file", "PATH|none",
		      "cluster key (nsagent genkey; mode 0600, owned by root): TLS for every "
		      "session; none: unauthenticated",
		      false, true, SETTER(set_key_file, print_key_file)},
    [KEY_LISTEN] = {"listen", "ADDR|auto",
		    "address to accept peers on (auto: the node IP; 0.0.0.0: all)", false, true,
		    SETTER(set_listen, print_listen)},
    [KEY_MAX_PEERS] = {"max-peers", "N",
		       "most known peers (1-" STRINGIFY(CFG_DEFAULT_MAX_PEERS) ")", false, true,
		       SETTER(set_max_peers, print_max_peers)},
    [KEY_MAX_CONNECTIONS] = {"max-connections", "N", "most open peer connections", false, true,
			     SETTER(set_max_connections, print_max_connections)},
    [KEY_DIAL_RATE] = {"dial-rate", "N", "new outbound connections per second", false, true,
		       SETTER(set_dial_rate, print_dial_rate)},
    [KEY_ACCEPT_RATE] = {"accept-rate", "N", "accepted connections per second per address", false,
			 true, SETTER(set_accept_rate, print_accept_rate)},
    [KEY_METRICS] = {"metrics", "ADDR:PORT|off",
		     "serve Prometheus metrics over HTTP at ADDR:PORT/metrics", false, true,
		     RELOADABLE_SETTER(set_metrics, print_metrics)},
    [KEY_IPV6] = {"ipv6", "on|off",
		  "dual-stack: an IPv6 /64 per node beside the IPv4 subnet (off: IPv4 only)", false,
		  true, SETTER(set_ipv6, print_ipv6)},
    [KEY_CLUSTER_CIDR6] = {"cluster-cidr6", "PREFIX",
			   "IPv6 range holding every node's /64 (default " CFG_DEFAULT_CLUSTER_CIDR6
			   ", a ULA)",
			   false, true, SETTER(set_cluster_cidr6, print_cluster_cidr6)},
    [KEY_SUBNET6] = {"subnet6", "PREFIX|auto",
		     "this node's IPv6 /64 (auto: the /64 of cluster-cidr6 with the IPv4 "
		     "subnet's index)",
		     false, true, SETTER(set_subnet6, print_subnet6)},
    [KEY_MASQUERADE6] = {"masquerade6", "on|off",
			 "masquerade IPv6 leaving the cluster (off: for a routed global prefix)",
			 false, true, SETTER(set_masquerade6, print_masquerade6)},
    [KEY_MASQUERADE_EXCEPT] = {"masquerade-except", "CIDR[,CIDR...]",
			       "IPv4 destinations outside the cluster that namespaces reach "
			       "with their own address, not masqueraded (a LAN that routes the "
			       "cluster range back, e.g. through a BGP site router); repeatable",
			       true, true, SETTER(set_masquerade_except, print_masquerade_except)},
    [KEY_ENCRYPT] = {"encrypt", "off|routed|all",
		     "WireGuard for peers' traffic (routed: only peers behind a gateway, on-link "
		     "ones stay direct; all: every peer)",
		     false, true, SETTER(set_encrypt, print_encrypt)},
    [KEY_WIREGUARD_PORT] = {"wireguard-port", "PORT", "UDP port of the WireGuard device", false,
			    true, SETTER(set_wireguard_port, print_wireguard_port)},
    [KEY_WIREGUARD_USERSPACE] = {"wireguard-userspace", "PATH|auto",
				 "the userspace WireGuard the agent runs, always (a name is looked "
				 "up in PATH; auto: the kernel's WireGuard where it has one, else "
				 "wireguard-go)",
				 false, true,
				 SETTER(set_wireguard_userspace, print_wireguard_userspace)},
    [KEY_ROUTING] = {"routing", "mesh|bgp",
		     "who exchanges routes between nodes (mesh: the agents' own sessions; bgp: "
		     "the host's BIRD, see --bgp-peer)",
		     false, true, SETTER(set_routing, print_routing)},
    [KEY_BGP_AS] = {"bgp-as", "N", "the local AS of --routing bgp (1-4294967295, not 23456)", false,
		    true, SETTER(set_bgp_as, print_bgp_as)},
    [KEY_BGP_PEER] = {"bgp-peer", "ADDR[:AS]|[IPV6]:AS",
		      "a route reflector or router BIRD peers with (AS defaults to --bgp-as: "
		      "iBGP); repeatable",
		      true, true, SETTER(set_bgp_peer, print_bgp_peers)},
    [KEY_BIRD_CONFIG] = {"bird-config", "PATH",
			 "the BIRD include nsagent writes (bird.conf: include \"PATH\";)", false,
			 true, SETTER(set_bird_config, print_bird_config)},
    [KEY_BIRD_SOCKET] = {"bird-socket", "PATH", "BIRD's control socket", false, true,
			 SETTER(set_bird_socket, print_bird_socket)},
};

static const char *const backend_names[] = {
    [CFG_BACKEND_AUTO] = "auto",
    [CFG_BACKEND_DIRECT] = "direct",
    [CFG_BACKEND_VXLAN] = "vxlan",
    [CFG_BACKEND_WIREGUARD] = "wireguard",
};

static const char *const routing_names[] = {
    [CFG_ROUTING_MESH] = "mesh",
    [CFG_ROUTING_BGP] = "bgp",
};

static const char *const encrypt_names[] = {
    [CFG_ENCRYPT_OFF] = "off",
    [CFG_ENCRYPT_ROUTED] = "routed",
    [CFG_ENCRYPT_ALL] = "all",
};

static void __attribute__((format(printf, 3, 4)))
set_error(struct cfg_error *err, const char *where, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->where, sizeof(err->where), "%s", where);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* ---- value parsing ---- */

/* Strict unsigned decimal: digits only, no sign, no leading zero. */
static int parse_uint(const char *text, uint32_t max, uint32_t *out)
{
	uint64_t value = 0;
	const char *p = text;

	if (*p == '\0' || (p[0] == '0' && p[1] != '\0'))
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		value = value * 10 + (uint64_t)(*p - '0');
		if (value > max)
			return -EINVAL;
	}
	*out = (uint32_t)value;
	return 0;
}

int cfg_parse_duration(const char *text, uint32_t *ms)
{
	static const struct {
		const char *suffix;
		uint32_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}};
	uint64_t value = 0;
	const char *p = text;

	if (!text || *p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		value = value * 10 + (uint64_t)(*p - '0');
		if (value > UINT32_MAX)
			return -ERANGE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(p, units[i].suffix) == 0) {
			value *= units[i].ms;
			if (value > UINT32_MAX)
				return -ERANGE;
			*ms = (uint32_t)value;
			return 0;
		}
	}
	return -EINVAL; /* no unit, an unknown unit or trailing text */
}

static void format_duration(uint32_t ms, char *buf, size_t size)
{
	if (ms != 0 && ms % 60000 == 0)
		snprintf(buf, size, "%um", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, size, "%us", ms / 1000);
	else
		snprintf(buf, size, "%ums", ms);
}

static bool ns_name_char_ok(char c)
{
	return isascii((unsigned char)c) &&
	       (isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-');
}

/* Names `ip netns` accepts as file names under /run/netns, restricted to a
 * portable set so they survive shells, logs and config lines unquoted. */
static const char *ns_name_problem(const char *name)
{
	if (name[0] == '\0')
		return "is empty";
	if (strlen(name) > CFG_NS_NAME_MAX)
		return "is longer than " STRINGIFY(CFG_NS_NAME_MAX) " characters";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "is not a usable file name";
	for (const char *p = name; *p; p++) {
		if (!ns_name_char_ok(*p))
			return "may only contain letters, digits, '_', '.' and '-'";
	}
	return NULL;
}

const char *cfg_namespace_name_problem(const char *name)
{
	return ns_name_problem(name);
}

/* The kernel's dev_valid_name(), plus printable ASCII only. */
static const char *ifname_problem(const char *name)
{
	if (name[0] == '\0')
		return "is empty";
	if (strlen(name) >= IFNAMSIZ)
		return "is longer than 15 characters (IFNAMSIZ)";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "is not a valid interface name";
	for (const char *p = name; *p; p++) {
		/* ';' and '#' would start a comment when the config is printed
		 * back as "bridge = NAME" and read again. */
		if (!isgraph((unsigned char)*p) || !isascii((unsigned char)*p) || *p == '/' ||
		    *p == ':' || *p == ';' || *p == '#')
			return "may not contain '/', ':', ';', '#', spaces or non-printable "
			       "characters";
	}
	return NULL;
}

static const char *path_problem(const char *path)
{
	if (path[0] != '/')
		return "must be an absolute path";
	if (strlen(path) > CFG_PATH_MAX)
		return "is longer than " STRINGIFY(CFG_PATH_MAX) " characters";
	for (const char *p = path; *p; p++) {
		if (!isgraph((unsigned char)*p) || !isascii((unsigned char)*p))
			return "may not contain spaces or non-printable characters";
	}
	return NULL;
}

/* Explains a prefix addr_parse_prefix refused, naming host bits when that
 * is the cause because it is the likeliest typo. */
static void explain_prefix(const char *value, char *msg, size_t size)
{
	char copy[PREFIX_STRLEN + 1], canonical[PREFIX_STRLEN * 2 + 2];
	char *slash;
	uint32_t addr, len;
	struct prefix masked;

	if (strlen(value) < sizeof(copy)) {
		strcpy(copy, value);
		slash = strchr(copy, '/');
		if (slash) {
			*slash = '\0';
			if (addr_parse(copy, &addr) == 0 && parse_uint(slash + 1, 32, &len) == 0) {
				masked.addr = addr & addr_mask((uint8_t)len);
				masked.len = (uint8_t)len;
				addr_format_prefix(&masked, canonical);
				snprintf(msg, size, "%s has host bits set (the network is %s)",
					 value, canonical);
				return;
			}
		}
	}
	snprintf(msg, size, "'%s' is not an IPv4 prefix (ADDR/LEN, LEN 0-32)", value);
}

/* ---- setters ---- */

const char *cfg_peer_host(const struct cfg *cfg, unsigned i)
{
	return cfg->peer_hosts && cfg->peer_hosts[i][0] ? cfg->peer_hosts[i] : NULL;
}

static int set_peer(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	struct endpoint peer = {0};
	char buf[NODEADDR_STRLEN], host[ADDR_HOST_MAX + 1] = "";

	/* Port 0 stands for "not given" until resolve_peer_ports(). */
	if (addr_parse_endpoint(value, 0, &peer) < 0 &&
	    addr_parse_host_endpoint(value, 0, host, &peer.port) < 0) {
		snprintf(msg, size,
			 "'%s' is neither an address (IPv4, IPv6, [IPv6]) nor a host name, with "
			 "an optional :PORT (1-65535)",
			 value);
		return -EINVAL;
	}
	/* `check-config` prints every peer as "peer = NAME:PORT", and the
	 * config reader takes lines of at most 197 characters (inih's
	 * INI_MAX_LINE): a longer name could not be read back. DNS allows
	 * 253; no cluster names its hosts so. */
	if (strlen(host) > CFG_PEER_HOST_MAX) {
		snprintf(msg, size, "host name '%.40s...' is longer than %d characters", host,
			 CFG_PEER_HOST_MAX);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->n_peers; i++) {
		const char *other = cfg_peer_host(cfg, i);

		if (host[0] ? other && strcasecmp(other, host) == 0
			    : !other && nodeaddr_equal(&cfg->peers[i].addr, &peer.addr)) {
			snprintf(msg, size, "%s is given twice",
				 host[0] ? host : nodeaddr_format(&peer.addr, buf));
			return -EINVAL;
		}
	}
	if (cfg->n_peers >= CFG_MAX_PEERS) {
		snprintf(msg, size, "more than %d peers", CFG_MAX_PEERS);
		return -EINVAL;
	}
	if (host[0] && !cfg->peer_hosts)
		cfg->peer_hosts = xcalloc(CFG_MAX_PEERS, sizeof(*cfg->peer_hosts));
	if (cfg->peer_hosts)
		memcpy(cfg->peer_hosts[cfg->n_peers], host, sizeof(host));
	cfg->peers[cfg->n_peers++] = peer;
	return 0;
}

/* A port number, 1-65535, into *field. */
static int parse_port(const char *value, uint16_t *field, char *msg, size_t size)
{
	uint32_t port;

	if (parse_uint(value, 65535, &port) < 0 || port == 0) {
		snprintf(msg, size, "'%s' is not a port number (1-65535)", value);
		return -EINVAL;
	}
	*field = (uint16_t)port;
	return 0;
}

static int set_port(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	return parse_port(value, &cfg->port, msg, size);
}

static int set_node_ip(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	struct nodeaddr addr;

	if (strcmp(value, "auto") == 0) {
		memset(&cfg->node_ip, 0, sizeof(cfg->node_ip));
		return 0;
	}
	if (nodeaddr_parse(value, &addr) < 0) {
		snprintf(msg, size, "'%s' is not an IPv4 or IPv6 address (or 'auto')", value);
		return -EINVAL;
	}
	if (nodeaddr_is_zero(&addr)) {
		snprintf(msg, size, "%s is not a node address (use 'auto' to derive it)", value);
		return -EINVAL;
	}
	cfg->node_ip = addr;
	return 0;
}

static int set_iface(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	const char *problem = ifname_problem(value);

	if (problem) {
		snprintf(msg, size, "interface name '%s' %s", value, problem);
		return -EINVAL;
	}
	snprintf(cfg->iface, sizeof(cfg->iface), "%s", value);
	return 0;
}

static int set_subnet(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	if (strcmp(value, "auto") == 0) {
		cfg->subnet_set = false;
		cfg->subnet = (struct prefix){0, 0};
		return 0;
	}
	if (addr_parse_prefix(value, &cfg->subnet) < 0) {
		explain_prefix(value, msg, size);
		return -EINVAL;
	}
	cfg->subnet_set = true;
	return 0;
}

static int set_cluster_cidr(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	if (addr_parse_prefix(value, &cfg->cluster_cidr) < 0) {
		explain_prefix(value, msg, size);
		return -EINVAL;
	}
	return 0;
}

static int parse_on_off(const char *value, bool *out, char *msg, size_t size)
{
	if (strcmp(value, "on") == 0 || strcmp(value, "off") == 0) {
		*out = value[1] == 'n';
		return 0;
	}
	snprintf(msg, size, "'%s' is neither on nor off", value);
	return -EINVAL;
}

static int set_ipv6(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	return parse_on_off(value, &cfg->ipv6, msg, size);
}

static int set_masquerade6(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	return parse_on_off(value, &cfg->masquerade6, msg, size);
}

/* A comma-separated list of IPv4 prefixes, appended to the ones given. */
static int set_masquerade_except(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	const char *start = value;
	char p[PREFIX_STRLEN];

	for (;;) {
		size_t len = strcspn(start, ",");
		char text[PREFIX_STRLEN + 1];
		struct prefix prefix;

		if (len < sizeof(text)) {
			memcpy(text, start, len);
			text[len] = '\0';
		}
		if (len >= sizeof(text) || addr_parse_prefix(text, &prefix) < 0) {
			snprintf(msg, size,
				 "'%.*s' is not an IPv4 network as ADDR/LEN (host bits clear, "
				 "e.g. 192.168.1.0/24)",
				 (int)(len < 40 ? len : 40), start);
			return -EINVAL;
		}
		for (unsigned i = 0; i < cfg->n_masquerade_except; i++) {
			if (addr_prefix_equal(&cfg->masquerade_except[i], &prefix)) {
				snprintf(msg, size, "%s is given twice",
					 addr_format_prefix(&prefix, p));
				return -EINVAL;
			}
		}
		if (cfg->n_masquerade_except >= CFG_MAX_MASQUERADE_EXCEPT) {
			snprintf(msg, size, "more than %d ranges", CFG_MAX_MASQUERADE_EXCEPT);
			return -EINVAL;
		}
		cfg->masquerade_except[cfg->n_masquerade_except++] = prefix;
		if (start[len] == '\0')
			return 0;
		start += len + 1;
	}
}

static void explain_prefix6(const char *value, char *msg, size_t size)
{
	snprintf(msg, size,
		 "'%s' is not an IPv6 prefix (ADDR/LEN, e.g. fd6e:7361:6765::/48, "
		 "with no host bits set)",
		 value);
}

static int set_cluster_cidr6(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	if (addr6_parse_prefix(value, &cfg->cluster_cidr6) < 0) {
		explain_prefix6(value, msg, size);
		return -EINVAL;
	}
	return 0;
}

static int set_subnet6(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	if (strcmp(value, "auto") == 0) {
		cfg->subnet6_set = false;
		memset(&cfg->subnet6, 0, sizeof(cfg->subnet6));
		return 0;
	}
	if (addr6_parse_prefix(value, &cfg->subnet6) < 0) {
		explain_prefix6(value, msg, size);
		return -EINVAL;
	}
	cfg->subnet6_set = true;
	return 0;
}

/* Appends the comma-separated names; an empty value adds none (so that
 * "namespaces =" can say "no namespaces"). */
static int set_namespaces(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	const char *start = value;

	if (*value == '\0')
		return 0;
	for (;;) {
		size_t len = strcspn(start, ",");
		char name[CFG_NS_NAME_MAX + 2];
		const char *problem;

		if (len > CFG_NS_NAME_MAX) {
			snprintf(msg, size, "namespace name '%.*s' is longer than %d characters",
				 (int)len, start, CFG_NS_NAME_MAX);
			return -EINVAL;
		}
		memcpy(name, start, len);
		name[len] = '\0';
		problem = ns_name_problem(name);
		if (problem) {
			snprintf(msg, size, "namespace name '%s' %s", name, problem);
			return -EINVAL;
		}
		for (unsigned i = 0; i < cfg->n_namespaces; i++) {
			if (strcmp(cfg->namespaces[i], name) == 0) {
				snprintf(msg, size, "namespace %s is given twice", name);
				return -EINVAL;
			}
		}
		if (cfg->n_namespaces >= CFG_MAX_NAMESPACES) {
			snprintf(msg, size, "more than %d namespaces", CFG_MAX_NAMESPACES);
			return -EINVAL;
		}
		cfg->namespaces =
		    xreallocarray(cfg->namespaces, cfg->n_namespaces + 1, sizeof(*cfg->namespaces));
		memcpy(cfg->namespaces[cfg->n_namespaces++], name, len + 1);
		if (start[len] == '\0')
			return 0;
		start += len + 1;
	}
}

static int set_bridge(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	const char *problem = ifname_problem(value);

	if (problem) {
		snprintf(msg, size, "bridge name '%s' %s", value, problem);
		return -EINVAL;
	}
	strcpy(cfg->bridge, value);
	return 0;
}

static int set_config(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	if (*value == '\0') {
		snprintf(msg, size, "empty path");
		return -EINVAL;
	}
	free(cfg->config_path);
	cfg->config_path = xstrdup(value);
	cfg->config_path_explicit = true;
	return 0;
}

static int set_path(char **field, const char *value, char *msg, size_t size)
{
	const char *problem = path_problem(value);

	if (problem) {
		snprintf(msg, size, "'%s' %s", value, problem);
		return -EINVAL;
	}
	free(*field);
	*field = xstrdup(value);
	return 0;
}

static int set_state_dir(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	return set_path(&cfg->state_dir, value, msg, size);
}

static int set_run_dir(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	return set_path(&cfg->run_dir, value, msg, size);
}

static int set_log_level(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	if (log_parse_level(value, &cfg->log_level) < 0) {
		snprintf(msg, size, "'%s' is not a log level (error, warn, info, debug)", value);
		return -EINVAL;
	}
	return 0;
}

static uint32_t *duration_field(struct cfg *cfg, enum cfg_key key)
{
	return (uint32_t *)((char *)cfg + options[key].duration_ms);
}

static int set_duration(uint32_t *field, const char *value, char *msg, size_t size)
{
	int ret = cfg_parse_duration(value, field);

	if (ret == -ERANGE)
		snprintf(msg, size, "'%s' is too long (at most 4294967295ms)", value);
	else if (ret < 0)
		snprintf(msg, size,
			 "'%s' is not a duration (a whole number and ms, s or m: 500ms, 3s, 2m)",
			 value);
	return ret < 0 ? -EINVAL : 0;
}

static int set_probe_interval(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	if (strcmp(value, "off") == 0) {
		cfg->probe_interval_ms = 0;
		return 0;
	}
	return set_duration(&cfg->probe_interval_ms, value, msg, size);
}

/* value's index in names, or -1: the keys whose value is one of a set. */
static int name_index(const char *value, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(value, names[i]) == 0)
			return (int)i;
	}
	return -1;
}

static int set_backend(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	int i = name_index(value, backend_names, ARRAY_SIZE(backend_names));

	if (i >= 0) {
		cfg->backend = (enum cfg_backend)i;
		return 0;
	}
	snprintf(msg, size, "'%s' is not a backend (auto, direct, vxlan, wireguard)", value);
	return -EINVAL;
}

static int set_encrypt(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	int i = name_index(value, encrypt_names, ARRAY_SIZE(encrypt_names));

	if (i >= 0) {
		cfg->encrypt = (enum cfg_encrypt)i;
		return 0;
	}
	snprintf(msg, size, "'%s' is not an encryption mode (off, routed, all)", value);
	return -EINVAL;
}

static int set_wireguard_port(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	return parse_port(value, &cfg->wireguard_port, msg, size);
}

static int set_wireguard_userspace(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	/* auto: the default, the kernel's WireGuard where the generic-netlink
	 * family resolves, else wireguard-go (daemon.c). A program named here
	 * is used even where the kernel has WireGuard. */
	if (!strcmp(value, "auto")) {
		cfg->wireguard_userspace_set = false;
		free(cfg->wireguard_userspace);
		cfg->wireguard_userspace = xstrdup(CFG_DEFAULT_WIREGUARD_USERSPACE);
		return 0;
	}
	cfg->wireguard_userspace_set = true;
	/* A bare name is looked up in PATH when it is run (execvp). */
	if (!strchr(value, '/') && value[0]) {
		free(cfg->wireguard_userspace);
		cfg->wireguard_userspace = xstrdup(value);
		return 0;
	}
	return set_path(&cfg->wireguard_userspace, value, msg, size);
}

static int set_routing(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	int i = name_index(value, routing_names, ARRAY_SIZE(routing_names));

	if (i >= 0) {
		cfg->routing = (enum cfg_routing)i;
		return 0;
	}
	snprintf(msg, size, "'%s' is not a routing mode (mesh, bgp)", value);
	return -EINVAL;
}

/* An AS number as BGP carries it (4 bytes, RFC 6793): 1-4294967295, and
 * not AS_TRANS, which stands in for a 4-byte AS on 2-byte sessions. */
static int parse_as(const char *text, uint32_t *as, char *msg, size_t size)
{
	if (parse_uint(text, UINT32_MAX, as) < 0 || *as == 0) {
		snprintf(msg, size, "'%s' is not an AS number (1-4294967295)", text);
		return -EINVAL;
	}
	if (*as == CFG_BGP_AS_TRANS) {
		snprintf(msg, size, "%s is AS_TRANS (RFC 6793), not an AS of its own", text);
		return -EINVAL;
	}
	return 0;
}

static int set_bgp_as(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	return parse_as(value, &cfg->bgp_as, msg, size);
}

/* The address part of a --bgp-peer into host: "IPv4", "IPv4:AS", "IPv6",
 * "[IPv6]" or "[IPv6]:AS"; *as points at the AS text, or is NULL. */
static int split_bgp_peer(const char *value, char *host, size_t size, const char **as)
{
	const char *start = value, *end;

	*as = NULL;
	if (value[0] == '[') {
		start = value + 1;
		end = strchr(start, ']');
		if (!end || (end[1] != '\0' && end[1] != ':'))
			return -EINVAL;
		if (end[1] == ':')
			*as = end + 2;
	} else {
		end = strchr(value, ':');
		/* A second colon: a bare IPv6 address, which takes no AS. */
		if (end && strchr(end + 1, ':'))
			end = NULL;
		if (end)
			*as = end + 1;
		else
			end = value + strlen(value);
	}
	if ((size_t)(end - start) >= size)
		return -EINVAL;
	memcpy(host, start, (size_t)(end - start));
	host[end - start] = '\0';
	return 0;
}

static int set_bgp_peer(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	struct cfg_bgp_peer peer = {0};
	char host[NODEADDR_STRLEN], a[NODEADDR_STRLEN];
	const char *as;

	if (split_bgp_peer(value, host, sizeof(host), &as) < 0 ||
	    nodeaddr_parse(host, &peer.addr) < 0) {
		snprintf(msg, size,
			 "'%s' is not ADDR[:AS] (an IPv4 or IPv6 address, [IPv6]:AS with an AS)",
			 value);
		return -EINVAL;
	}
	if (as) {
		if (parse_as(as, &peer.as, msg, size) < 0)
			return -EINVAL;
		peer.as_set = true;
	}
	for (unsigned i = 0; i < cfg->n_bgp_peers; i++) {
		if (nodeaddr_equal(&cfg->bgp_peers[i].addr, &peer.addr)) {
			snprintf(msg, size, "%s is given twice", nodeaddr_format(&peer.addr, a));
			return -EINVAL;
		}
	}
	if (cfg->n_bgp_peers >= CFG_MAX_BGP_PEERS) {
		snprintf(msg, size, "more than %d BGP peers", CFG_MAX_BGP_PEERS);
		return -EINVAL;
	}
	cfg->bgp_peers[cfg->n_bgp_peers++] = peer;
	return 0;
}

static int set_bird_config(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	return set_path(&cfg->bird_config, value, msg, size);
}

/* The socket path must fit a sockaddr_un (107 bytes and the NUL). */
static int set_bird_socket(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	if (strlen(value) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(msg, size, "'%.40s...' is longer than a Unix socket path may be (%zu)",
			 value, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -EINVAL;
	}
	return set_path(&cfg->bird_socket, value, msg, size);
}

bool cfg_wireguard(const struct cfg *cfg)
{
	return cfg->backend == CFG_BACKEND_WIREGUARD || cfg->encrypt != CFG_ENCRYPT_OFF;
}

static int set_key_file(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	if (strcmp(value, "none") == 0) {
		free(cfg->key_file);
		cfg->key_file = NULL;
		return 0;
	}
	return set_path(&cfg->key_file, value, msg, size);
}

static int set_listen(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	struct nodeaddr addr;

	if (strcmp(value, "auto") == 0) {
		cfg->listen_set = false;
		memset(&cfg->listen_addr, 0, sizeof(cfg->listen_addr));
		return 0;
	}
	if (nodeaddr_parse(value, &addr) < 0) {
		snprintf(msg, size, "'%s' is not an IPv4 or IPv6 address (or 'auto')", value);
		return -EINVAL;
	}
	cfg->listen_addr = addr;
	cfg->listen_set = true;
	return 0;
}

static int set_count(uint32_t *field, const char *value, uint32_t max, char *msg, size_t size)
{
	uint32_t n;

	if (parse_uint(value, max, &n) < 0 || n == 0) {
		snprintf(msg, size, "'%s' is not a number from 1 to %u", value, max);
		return -EINVAL;
	}
	*field = n;
	return 0;
}

static int set_max_peers(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	return set_count(&cfg->max_peers, value, CFG_DEFAULT_MAX_PEERS, msg, size);
}

static int set_max_connections(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	return set_count(&cfg->max_connections, value, 65535, msg, size);
}

static int set_dial_rate(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	return set_count(&cfg->dial_rate, value, 10000, msg, size);
}

static int set_accept_rate(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	return set_count(&cfg->accept_rate, value, 1000000, msg, size);
}

static int set_metrics(struct cfg *cfg, const char *value, char *msg, size_t size)
{
	struct endpoint endpoint;

	if (strcmp(value, "off") == 0) {
		cfg->metrics_enabled = false;
		memset(&cfg->metrics, 0, sizeof(cfg->metrics));
		return 0;
	}
	/* The port is required: there is no customary one to default to. */
	if (addr_parse_endpoint(value, 0, &endpoint) < 0 || endpoint.port == 0) {
		snprintf(msg, size, "'%s' is not ADDR:PORT (e.g. 127.0.0.1:9470) or 'off'", value);
		return -EINVAL;
	}
	cfg->metrics = endpoint;
	cfg->metrics_enabled = true;
	return 0;
}

/* Sets one key from one source. A list key's first occurrence in a source
 * (list_started[key] false) replaces the list instead of extending it. */
static int apply(struct cfg *cfg, enum cfg_key key, const char *value, const char *where,
		 bool *list_started, struct cfg_error *err)
{
	char msg[sizeof(err->message)];
	bool from_file = where[0] != '-';

	if (options[key].list && !list_started[key]) {
		list_started[key] = true;
		if (key == KEY_PEER)
			cfg->n_peers = 0;
		else if (key == KEY_NAMESPACES)
			cfg->n_namespaces = 0;
		else if (key == KEY_BGP_PEER)
			cfg->n_bgp_peers = 0;
		else if (key == KEY_MASQUERADE_EXCEPT)
			cfg->n_masquerade_except = 0;
	}
	if ((options[key].duration_ms
		 ? set_duration(duration_field(cfg, key), value, msg, sizeof(msg))
		 : options[key].set(cfg, value, msg, sizeof(msg))) < 0) {
		/* A file line does not name its key by itself: say which one. */
		if (from_file)
			set_error(err, where, "%s: %s", options[key].name, msg);
		else
			set_error(err, where, "%s", msg);
		return -EINVAL;
	}
	snprintf(cfg->sources->where[key], sizeof(cfg->sources->where[key]), "%s", where);
	return 0;
}

/* ---- lifecycle ---- */

static void free_fields(struct cfg *cfg)
{
	free(cfg->peer_hosts);
	free(cfg->namespaces);
	free(cfg->config_path);
	free(cfg->state_dir);
	free(cfg->run_dir);
	free(cfg->key_file);
	free(cfg->wireguard_userspace);
	free(cfg->bird_config);
	free(cfg->bird_socket);
}

static void set_defaults(struct cfg *cfg)
{
	struct cfg_sources *sources = cfg->sources;
	char msg[256];

	memset(cfg, 0, sizeof(*cfg));
	memset(sources, 0, sizeof(*sources));
	cfg->sources = sources;
	cfg->port = CFG_DEFAULT_PORT;
	if (addr_parse_prefix(CFG_DEFAULT_CLUSTER_CIDR, &cfg->cluster_cidr) < 0 ||
	    addr6_parse_prefix(CFG_DEFAULT_CLUSTER_CIDR6, &cfg->cluster_cidr6) < 0 ||
	    set_namespaces(cfg, CFG_DEFAULT_NAMESPACES, msg, sizeof(msg)) < 0)
		fatal("built-in config defaults are invalid");
	strcpy(cfg->bridge, CFG_DEFAULT_BRIDGE);
	cfg->state_dir = xstrdup(CFG_DEFAULT_STATE_DIR);
	cfg->run_dir = xstrdup(CFG_DEFAULT_RUN_DIR);
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->keepalive_ms = 1000;
	cfg->hold_time_ms = 3000;
	cfg->restart_time_ms = 120000;
	cfg->connect_retry_min_ms = 1000;
	cfg->connect_retry_max_ms = 30000;
	cfg->handshake_timeout_ms = 5000;
	cfg->probe_interval_ms = CFG_DEFAULT_PROBE_INTERVAL_MS;
	cfg->backend = CFG_BACKEND_AUTO;
	cfg->max_peers = CFG_DEFAULT_MAX_PEERS;
	cfg->max_connections = CFG_DEFAULT_MAX_CONNECTIONS;
	cfg->dial_rate = CFG_DEFAULT_DIAL_RATE;
	cfg->accept_rate = CFG_DEFAULT_ACCEPT_RATE;
	cfg->ipv6 = true;
	cfg->masquerade6 = true;
	cfg->encrypt = CFG_ENCRYPT_OFF;
	cfg->wireguard_port = CFG_DEFAULT_WIREGUARD_PORT;
	cfg->wireguard_userspace = xstrdup(CFG_DEFAULT_WIREGUARD_USERSPACE);
	cfg->routing = CFG_ROUTING_MESH;
	cfg->bgp_as = CFG_DEFAULT_BGP_AS;
	cfg->bird_config = xstrdup(CFG_DEFAULT_BIRD_CONFIG);
	cfg->bird_socket = xstrdup(CFG_DEFAULT_BIRD_SOCKET);
}

struct cfg *cfg_new(void)
{
	struct cfg *cfg = xcalloc(1, sizeof(*cfg));

	cfg->sources = xcalloc(1, sizeof(*cfg->sources));
	set_defaults(cfg);
	return cfg;
}

void cfg_free(struct cfg *cfg)
{
	if (!cfg)
		return;
	free_fields(cfg);
	free(cfg->sources);
	free(cfg);
}

/* Peers given without a port dial --port, whichever source set either. */
static void resolve_peer_ports(struct cfg *cfg)
{
	for (unsigned i = 0; i < cfg->n_peers; i++) {
		if (cfg->peers[i].port == 0)
			cfg->peers[i].port = cfg->port;
	}
}

/* ---- config file ---- */

struct file_reader {
	struct cfg *cfg;
	const char *path;
	FILE *file;
	char *line;
	size_t line_cap;
	unsigned line_no;
	unsigned error_line; /* 0 = no error yet; the first error wins */
	unsigned seen_line[KEY_COUNT];
	bool list_started[KEY_COUNT];
	struct cfg_error *err;
};

static void file_error(struct file_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void file_error(struct file_reader *r, const char *fmt, ...)
{
	va_list ap;

	if (r->error_line)
		return;
	r->error_line = r->line_no;
	snprintf(r->err->where, sizeof(r->err->where), "%s:%u", r->path, r->line_no);
	va_start(ap, fmt);
	vsnprintf(r->err->message, sizeof(r->err->message), fmt, ap);
	va_end(ap);
}

/* inih's reader callback. Counting lines here is what gives every error
 * its line number. Leading blanks are dropped so that inih never treats an
 * indented line as the continuation of the previous value. */
static char *file_read_line(char *buf, int size, void *stream)
{
	struct file_reader *r = stream;
	ssize_t n = getline(&r->line, &r->line_cap, r->file);
	const char *p;
	size_t len;

	if (n < 0)
		return NULL;
	r->line_no++;
	for (p = r->line; *p == ' ' || *p == '\t'; p++)
		;
	len = strlen(p);
	/* inih needs room for "\r\n" and the NUL. */
	if (len + 3 > (size_t)size) {
		file_error(r, "line longer than %d characters", size - 3);
		buf[0] = '\0';
		return buf;
	}
	memcpy(buf, p, len + 1);
	return buf;
}

static int file_handle(void *user, const char *section, const char *name, const char *value)
{
	struct file_reader *r = user;
	char where[sizeof(r->err->where)];
	int key = -1;

	if (r->error_line)
		return 0;
	if (strcmp(section, "nsagent") != 0) {
		if (section[0] == '\0')
			file_error(r, "'%s' must follow the [nsagent] section header", name);
		else
			file_error(r, "unknown section [%s] (expected [nsagent])", section);
		return 0;
	}
	for (int i = 0; i < KEY_COUNT; i++) {
		if (options[i].in_file && strcmp(name, options[i].name) == 0)
			key = i;
	}
	if (key < 0) {
		file_error(r, "unknown key '%s'", name);
		return 0;
	}
	if (!options[key].list && r->seen_line[key]) {
		file_error(r, "'%s' is already set on line %u", name, r->seen_line[key]);
		return 0;
	}
	r->seen_line[key] = r->line_no;
	snprintf(where, sizeof(where), "%s:%u", r->path, r->line_no);
	if (apply(r->cfg, (enum cfg_key)key, value, where, r->list_started, r->err) < 0) {
		r->error_line = r->line_no;
		return 0;
	}
	return 1;
}

/* Reads path into cfg. A missing file is fine when missing_ok; open_where
 * names the error when it cannot be read at all. */
static int load_file(struct cfg *cfg, const char *path, bool missing_ok, const char *open_where,
		     struct cfg_error *err)
{
	struct file_reader r = {.cfg = cfg, .path = path, .err = err};
	int ret = 0, rc;

	r.file = fopen(path, "re");
	if (!r.file) {
		if (errno == ENOENT && missing_ok)
			return 0;
		set_error(err, open_where, "cannot read %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	rc = ini_parse_stream(file_read_line, &r, file_handle, &r);
	if (ferror(r.file)) {
		set_error(err, open_where, "cannot read %s: %s", path, strerror(errno));
		ret = -EINVAL;
		goto out;
	}
	/* inih reports the first line it could not parse; ours may be earlier. */
	if (rc > 0 && (!r.error_line || (unsigned)rc < r.error_line)) {
		r.line_no = (unsigned)rc;
		r.error_line = 0;
		file_error(&r, "syntax error: expected 'key = value' or '[nsagent]'");
	} else if (rc < 0 && !r.error_line) {
		set_error(err, open_where, "cannot parse %s", path);
		ret = -EINVAL;
		goto out;
	}
	if (r.error_line)
		ret = -EINVAL;
out:
	free(r.line);
	fclose(r.file);
	return ret;
}

int cfg_load_file(struct cfg *cfg, const char *path, struct cfg_error *err)
{
	int ret = load_file(cfg, path, false, path, err);

	if (ret == 0)
		resolve_peer_ports(cfg);
	return ret;
}

/* ---- flags ---- */

static void build_long_options(struct option *longopts)
{
	for (int i = 0; i < KEY_COUNT; i++)
		longopts[i] = (struct option){options[i].name, required_argument, NULL, 1000 + i};
	longopts[KEY_COUNT] = (struct option){NULL, 0, NULL, 0};
}

/* One getopt_long pass over args. With only_config, just --config is
 * applied (it decides which file to read before the other flags apply). */
static int parse_flags(struct cfg *cfg, int argc, char **args, bool only_config,
		       struct cfg_error *err)
{
	struct option longopts[KEY_COUNT + 1];
	bool list_started[KEY_COUNT] = {false};
	char where[64];
	int c;

	build_long_options(longopts);
	optind = 0; /* glibc: 0 also resets getopt's internal state */
	opterr = 0;
	/* '+': stop at the first non-flag, which is then an error;
	 * ':': report a missing value apart from an unknown flag. */
	while ((c = getopt_long(argc, args, "+:", longopts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			const char *arg = args[optind - 1];

			if (optopt >= 1000 && optopt < 1000 + KEY_COUNT)
				snprintf(where, sizeof(where), "--%s", options[optopt - 1000].name);
			else if (optopt > 0 && optopt < 256)
				snprintf(where, sizeof(where), "-%c", optopt);
			else
				snprintf(where, sizeof(where), "%.*s", (int)strcspn(arg, "="), arg);
			set_error(err, where,
				  c == ':' ? "missing value"
					   : "unknown option (or an ambiguous abbreviation)");
			return -EINVAL;
		}
		if (only_config != (c - 1000 == KEY_CONFIG))
			continue;
		snprintf(where, sizeof(where), "--%s", options[c - 1000].name);
		if (apply(cfg, (enum cfg_key)(c - 1000), optarg, where, list_started, err) < 0)
			return -EINVAL;
	}
	if (optind < argc) {
		set_error(err, args[optind],
			  "unexpected argument (flags take the form --name VALUE)");
		return -EINVAL;
	}
	return 0;
}

int cfg_load(struct cfg *cfg, int argc, char **argv, struct cfg_error *err)
{
	/* getopt permutes and caches; work on a private copy of the vector. */
	char **args = xcalloc((size_t)argc + 1, sizeof(*args));
	const char *path;
	int ret;

	for (int i = 0; i < argc; i++)
		args[i] = argv[i];
	free_fields(cfg);
	set_defaults(cfg);

	ret = parse_flags(cfg, argc, args, true, err);
	if (ret < 0)
		goto out;
	path = cfg->config_path ? cfg->config_path : CFG_DEFAULT_CONFIG_PATH;
	ret = load_file(cfg, path, !cfg->config_path_explicit,
			cfg->config_path_explicit ? "--config" : path, err);
	if (ret < 0)
		goto out;
	ret = parse_flags(cfg, argc, args, false, err);
	if (ret < 0)
		goto out;
	resolve_peer_ports(cfg);
	ret = cfg_validate(cfg, err);
out:
	free(args);
	return ret;
}

/* ---- validation ---- */

/* Where key was set: its recorded origin, else its flag. */
static const char *origin(const struct cfg *cfg, enum cfg_key key, char *buf, size_t size)
{
	if (cfg->sources && cfg->sources->where[key][0])
		return cfg->sources->where[key];
	snprintf(buf, size, "--%s", options[key].name);
	return buf;
}

/* Blames a for a conflict between a and b unless only b was set explicitly. */
static enum cfg_key blame(const struct cfg *cfg, enum cfg_key a, enum cfg_key b)
{
	bool a_set = cfg->sources && cfg->sources->where[a][0];
	bool b_set = cfg->sources && cfg->sources->where[b][0];

	return !a_set && b_set ? b : a;
}

static int invalid(const struct cfg *cfg, enum cfg_key key, struct cfg_error *err, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));

static int invalid(const struct cfg *cfg, enum cfg_key key, struct cfg_error *err, const char *fmt,
		   ...)
{
	char buf[64], msg[sizeof(err->message)];
	const char *where = origin(cfg, key, buf, sizeof(buf));
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (where[0] != '-')
		set_error(err, where, "%s: %s", options[key].name, msg);
	else
		set_error(err, where, "%s", msg);
	return -EINVAL;
}

/* The cluster range of addr's family holding it, formatted into range;
 * false when it is outside. */
static bool in_cluster(const struct cfg *cfg, const struct nodeaddr *addr, enum cfg_key *key,
		       char range[PREFIX6_STRLEN])
{
	if (addr->family == AF_INET && addr_prefix_contains_addr(&cfg->cluster_cidr, addr->v4)) {
		addr_format_prefix(&cfg->cluster_cidr, range);
		*key = KEY_CLUSTER_CIDR;
		return true;
	}
	if (addr->family == AF_INET6 &&
	    addr6_prefix_contains_addr(&cfg->cluster_cidr6, &addr->v6)) {
		addr6_format_prefix(&cfg->cluster_cidr6, range);
		*key = KEY_CLUSTER_CIDR6;
		return true;
	}
	return false;
}

int cfg_validate_node_ip(const struct cfg *cfg, const struct nodeaddr *node_ip,
			 struct cfg_error *err)
{
	char a[NODEADDR_STRLEN], p[PREFIX6_STRLEN];
	const char *problem = nodeaddr_node_problem(node_ip);
	enum cfg_key range;

	if (problem)
		return invalid(cfg, KEY_NODE_IP, err, "%s %s", nodeaddr_format(node_ip, a),
			       problem);
	/* The underlay address inside the range would be both a node's
	 * next hop and a destination routed to some node's bridge. */
	if (in_cluster(cfg, node_ip, &range, p))
		return invalid(cfg, blame(cfg, KEY_NODE_IP, range), err,
			       "node-ip %s is inside %s %s", nodeaddr_format(node_ip, a),
			       options[range].name, p);
	return 0;
}

/* Peer i's address (given, or what its name resolved to) can be dialled:
 * a unicast address outside the cluster range, not this node's own. */
static int check_peer_addr(const struct cfg *cfg, unsigned i, const struct nodeaddr *addr,
			   struct cfg_error *err)
{
	const char *host = cfg_peer_host(cfg, i), *problem;
	char a[NODEADDR_STRLEN], p[PREFIX6_STRLEN], name[ADDR_HOST_MAX + NODEADDR_STRLEN + 4];
	enum cfg_key range;

	problem = addr->family == AF_INET6 ? addr6_unicast_problem(&addr->v6)
					   : addr_unicast_problem(addr->v4);
	if (host)
		snprintf(name, sizeof(name), "%s (%s)", host, nodeaddr_format(addr, a));
	else
		nodeaddr_format(addr, name);
	if (problem)
		return invalid(cfg, KEY_PEER, err, "%s %s", name, problem);
	if (in_cluster(cfg, addr, &range, p))
		return invalid(cfg, blame(cfg, KEY_PEER, range), err, "peer %s is inside %s %s",
			       name, options[range].name, p);
	if (nodeaddr_equal(addr, &cfg->node_ip))
		return invalid(cfg, blame(cfg, KEY_PEER, KEY_NODE_IP), err,
			       "peer %s is this node's own address", name);
	return 0;
}

static int validate_addresses(const struct cfg *cfg, struct cfg_error *err)
{
	char a[ADDR_STRLEN], p[PREFIX_STRLEN], s[PREFIX_STRLEN];
	const struct prefix *cluster = &cfg->cluster_cidr, *subnet = &cfg->subnet;
	const char *problem;

	if (cluster->addr & ~addr_mask(cluster->len) || cluster->len > 32)
		return invalid(cfg, KEY_CLUSTER_CIDR, err, "%s has host bits set",
			       addr_format_prefix(cluster, p));
	if (cluster->len == 0)
		return invalid(cfg, KEY_CLUSTER_CIDR, err,
			       "0.0.0.0/0 would put every destination inside the cluster");
	if (cluster->len > 30)
		return invalid(cfg, KEY_CLUSTER_CIDR, err,
			       "%s is too small for a node subnet (at most /30)",
			       addr_format_prefix(cluster, p));
	if (cluster->len < 8)
		return invalid(cfg, KEY_CLUSTER_CIDR, err,
			       "%s is wider than a /8: it would take in other networks' "
			       "destinations",
			       addr_format_prefix(cluster, p));
	problem = addr_range_problem(cluster);
	if (problem)
		return invalid(cfg, KEY_CLUSTER_CIDR, err, "%s overlaps %s",
			       addr_format_prefix(cluster, p), problem);
	addr_format_prefix(cluster, p);

	if (cfg->subnet_set) {
		enum cfg_key who = blame(cfg, KEY_SUBNET, KEY_CLUSTER_CIDR);

		if (subnet->addr & ~addr_mask(subnet->len) || subnet->len > 32)
			return invalid(cfg, KEY_SUBNET, err, "%s has host bits set",
				       addr_format_prefix(subnet, s));
		if (subnet->len > 30)
			return invalid(cfg, KEY_SUBNET, err,
				       "%s leaves no addresses for namespaces (at most /30)",
				       addr_format_prefix(subnet, s));
		if (!addr_prefix_contains(cluster, subnet))
			return invalid(cfg, who, err, "subnet %s is not inside cluster-cidr %s",
				       addr_format_prefix(subnet, s), p);
	}

	if (!nodeaddr_is_zero(&cfg->node_ip) && cfg_validate_node_ip(cfg, &cfg->node_ip, err) < 0)
		return -EINVAL;

	if (cfg->port == 0)
		return invalid(cfg, KEY_PORT, err, "0 is not a port number (1-65535)");
	if (cfg->listen_set && !nodeaddr_is_zero(&cfg->listen_addr)) {
		const struct nodeaddr *listen = &cfg->listen_addr;

		problem = listen->family == AF_INET6 ? addr6_unicast_problem(&listen->v6)
						     : addr_unicast_problem(listen->v4);
		if (problem && !nodeaddr_is_loopback(listen))
			return invalid(cfg, KEY_LISTEN, err, "%s %s", nodeaddr_format(listen, a),
				       problem);
	}

	if (cfg->iface[0] && !nodeaddr_is_zero(&cfg->node_ip))
		return invalid(cfg, blame(cfg, KEY_IFACE, KEY_NODE_IP), err,
			       "give --node-ip or --iface, not both");
	if (cfg->n_peers > CFG_MAX_PEERS)
		return invalid(cfg, KEY_PEER, err, "more than %d peers", CFG_MAX_PEERS);
	for (unsigned i = 0; i < cfg->n_peers; i++) {
		const struct endpoint *peer = &cfg->peers[i];
		const char *host = cfg_peer_host(cfg, i);

		if (peer->port == 0)
			return invalid(cfg, KEY_PEER, err, "%s: 0 is not a port number (1-65535)",
				       host ? host : nodeaddr_format(&peer->addr, a));
		/* A name's address is checked once it is resolved. */
		if (host)
			continue;
		if (check_peer_addr(cfg, i, &peer->addr, err) < 0)
			return -EINVAL;
		for (unsigned j = 0; j < i; j++) {
			if (!cfg_peer_host(cfg, j) &&
			    nodeaddr_equal(&cfg->peers[j].addr, &peer->addr))
				return invalid(cfg, KEY_PEER, err, "%s is given twice",
					       nodeaddr_format(&peer->addr, a));
		}
	}
	return 0;
}

int cfg_resolve_peers(const struct cfg *cfg, struct endpoint *out, struct cfg_error *err)
{
	char a[NODEADDR_STRLEN], b[NODEADDR_STRLEN];

	for (unsigned i = 0; i < cfg->n_peers; i++) {
		const char *host = cfg_peer_host(cfg, i);
		char msg[160];
		int ret;

		out[i] = cfg->peers[i];
		if (!host)
			continue;
		/* A name with both families takes this node's; with --node-ip
		 * auto, IPv4, as before IPv6 underlays. */
		ret = addr_resolve(host, cfg->node_ip.family, &out[i].addr, msg, sizeof(msg));
		if (ret < 0) {
			invalid(cfg, KEY_PEER, err, "%s", msg);
			return ret == -EAGAIN ? ret : -EINVAL;
		}
		if (check_peer_addr(cfg, i, &out[i].addr, err) < 0)
			return -EINVAL;
		for (unsigned j = 0; j < i; j++) {
			if (nodeaddr_equal(&out[j].addr, &out[i].addr) &&
			    out[j].port == out[i].port)
				return invalid(cfg, KEY_PEER, err, "%s (%s) and %s are one peer",
					       host, nodeaddr_format(&out[i].addr, a),
					       cfg_peer_host(cfg, j)
						   ? cfg_peer_host(cfg, j)
						   : nodeaddr_format(&out[j].addr, b));
		}
	}
	return 0;
}

/* The IPv6 range and /64 are checked even with ipv6 off, so that turning
 * it on later meets no surprise. */
static int validate_ipv6(const struct cfg *cfg, struct cfg_error *err)
{
	char p[PREFIX6_STRLEN], s[PREFIX6_STRLEN];
	const struct prefix6 *cluster = &cfg->cluster_cidr6, *subnet = &cfg->subnet6;
	const char *problem;

	if (!addr6_prefix_valid(cluster))
		return invalid(cfg, KEY_CLUSTER_CIDR6, err, "%s has host bits set",
			       addr6_format_prefix(cluster, p));
	addr6_format_prefix(cluster, p);
	if (cluster->len < 16)
		return invalid(cfg, KEY_CLUSTER_CIDR6, err,
			       "%s is wider than a /16: it would take in other networks' "
			       "destinations",
			       p);
	if (cluster->len >= ADDR6_NODE_SUBNET_LEN)
		return invalid(cfg, KEY_CLUSTER_CIDR6, err, "%s holds no node /%d (at most /%d)", p,
			       ADDR6_NODE_SUBNET_LEN, ADDR6_NODE_SUBNET_LEN - 1);
	problem = addr6_range_problem(cluster);
	if (problem)
		return invalid(cfg, KEY_CLUSTER_CIDR6, err, "%s overlaps %s", p, problem);
	if (cfg->subnet6_set) {
		addr6_format_prefix(subnet, s);
		if (subnet->len != ADDR6_NODE_SUBNET_LEN)
			return invalid(cfg, KEY_SUBNET6, err,
				       "%s is not a /%d (every node's IPv6 subnet is one)", s,
				       ADDR6_NODE_SUBNET_LEN);
		if (!addr6_prefix_contains(cluster, subnet))
			return invalid(cfg, blame(cfg, KEY_SUBNET6, KEY_CLUSTER_CIDR6), err,
				       "subnet6 %s is not inside cluster-cidr6 %s", s, p);
	}
	return 0;
}

static int validate_local(const struct cfg *cfg, struct cfg_error *err)
{
	const char *problem;

	if (cfg->n_namespaces > CFG_MAX_NAMESPACES)
		return invalid(cfg, KEY_NAMESPACES, err, "more than %d namespaces",
			       CFG_MAX_NAMESPACES);
	for (unsigned i = 0; i < cfg->n_namespaces; i++) {
		const char *name = cfg->namespaces[i];

		problem = ns_name_problem(name);
		if (problem)
			return invalid(cfg, KEY_NAMESPACES, err, "namespace name '%s' %s", name,
				       problem);
		for (unsigned j = 0; j < i; j++) {
			if (strcmp(cfg->namespaces[j], name) == 0)
				return invalid(cfg, KEY_NAMESPACES, err,
					       "namespace %s is given twice", name);
		}
	}
	if (cfg->subnet_set) {
		/* The bridge takes the first host address, each namespace one more. */
		uint64_t hosts = addr_prefix_size(&cfg->subnet) - 2;
		char s[PREFIX_STRLEN];

		if (cfg->n_namespaces > hosts - 1)
			return invalid(cfg, blame(cfg, KEY_NAMESPACES, KEY_SUBNET), err,
				       "%u namespaces do not fit subnet %s (room for %llu besides "
				       "the bridge)",
				       cfg->n_namespaces, addr_format_prefix(&cfg->subnet, s),
				       (unsigned long long)(hosts - 1));
	}

	problem = ifname_problem(cfg->bridge);
	if (problem)
		return invalid(cfg, KEY_BRIDGE, err, "bridge name '%s' %s", cfg->bridge, problem);

	problem = cfg->state_dir ? path_problem(cfg->state_dir) : "is not set";
	if (problem)
		return invalid(cfg, KEY_STATE_DIR, err, "'%s' %s",
			       cfg->state_dir ? cfg->state_dir : "", problem);
	if (cfg->key_file) {
		problem = path_problem(cfg->key_file);
		if (problem)
			return invalid(cfg, KEY_KEY_FILE, err, "'%s' %s", cfg->key_file, problem);
	}
	problem = cfg->run_dir ? path_problem(cfg->run_dir) : "is not set";
	if (problem)
		return invalid(cfg, KEY_RUN_DIR, err, "'%s' %s", cfg->run_dir ? cfg->run_dir : "",
			       problem);
	return 0;
}

static int validate_timers(const struct cfg *cfg, struct cfg_error *err)
{
	char a[24], b[24];

	if (cfg->keepalive_ms == 0)
		return invalid(cfg, KEY_KEEPALIVE, err, "must be longer than 0s");
	if (cfg->hold_time_ms <= cfg->keepalive_ms) {
		format_duration(cfg->hold_time_ms, a, sizeof(a));
		format_duration(cfg->keepalive_ms, b, sizeof(b));
		return invalid(cfg, blame(cfg, KEY_HOLD_TIME, KEY_KEEPALIVE), err,
			       "hold-time (%s) must be longer than keepalive (%s)", a, b);
	}
	if (cfg->connect_retry_min_ms == 0)
		return invalid(cfg, KEY_CONNECT_RETRY_MIN, err, "must be longer than 0s");
	if (cfg->connect_retry_min_ms > cfg->connect_retry_max_ms) {
		format_duration(cfg->connect_retry_min_ms, a, sizeof(a));
		format_duration(cfg->connect_retry_max_ms, b, sizeof(b));
		return invalid(cfg, blame(cfg, KEY_CONNECT_RETRY_MIN, KEY_CONNECT_RETRY_MAX), err,
			       "connect-retry-min (%s) is longer than connect-retry-max (%s)", a,
			       b);
	}
	if (cfg->handshake_timeout_ms == 0)
		return invalid(cfg, KEY_HANDSHAKE_TIMEOUT, err, "must be longer than 0s");
	/* Shorter would flood a large cluster with echoes and leave a reply
	 * too little time to come back before it counts as lost. */
	if (cfg->probe_interval_ms != 0 && cfg->probe_interval_ms < CFG_MIN_PROBE_INTERVAL_MS)
		return invalid(
		    cfg, KEY_PROBE_INTERVAL, err,
		    "must be 0s (off) or at least " STRINGIFY(CFG_MIN_PROBE_INTERVAL_MS) "ms");
	return 0;
}

/* --routing bgp: BIRD exchanges the routes, so nsagent peers have no job
 * (a node of each mode in one cluster would see only half of it: refused
 * here rather than half working), the subnet cannot be claimed (a claim
 * listens to the mesh's adverts) and must be of the node length the
 * other nodes' import filters take. */
static int validate_routing(const struct cfg *cfg, struct cfg_error *err)
{
	char a[NODEADDR_STRLEN], s[PREFIX_STRLEN], p[PREFIX6_STRLEN];
	enum cfg_key range;

	if ((unsigned)cfg->routing >= ARRAY_SIZE(routing_names))
		return invalid(cfg, KEY_ROUTING, err, "unknown routing mode %d", (int)cfg->routing);
	if (cfg->routing != CFG_ROUTING_BGP) {
		if (cfg->n_bgp_peers)
			return invalid(cfg, KEY_BGP_PEER, err,
				       "BGP peers are used with --routing bgp only (routing is %s)",
				       routing_names[cfg->routing]);
		return 0;
	}
	if (cfg->n_peers)
		return invalid(cfg, blame(cfg, KEY_PEER, KEY_ROUTING), err,
			       "--peer is for --routing mesh: with --routing bgp BIRD exchanges "
			       "the routes (name its route reflectors or routers with --bgp-peer); "
			       "a cluster runs one routing mode");
	if (!cfg->subnet_set)
		return invalid(cfg, blame(cfg, KEY_ROUTING, KEY_SUBNET), err,
			       "--routing bgp needs an explicit --subnet (a /%d of the cluster "
			       "range): subnets are claimed only in mesh mode",
			       CFG_NODE_SUBNET_LEN);
	if (cfg->subnet.len != CFG_NODE_SUBNET_LEN)
		return invalid(
		    cfg, KEY_SUBNET, err,
		    "%s is not a /%d: with --routing bgp every node's import filter takes "
		    "node subnets of exactly that length",
		    addr_format_prefix(&cfg->subnet, s), CFG_NODE_SUBNET_LEN);
	if (cfg_wireguard(cfg))
		return invalid(cfg,
			       blame(cfg, KEY_ROUTING,
				     cfg->encrypt != CFG_ENCRYPT_OFF ? KEY_ENCRYPT : KEY_BACKEND),
			       err,
			       "--routing bgp carries no WireGuard keys (BGP routes go direct to "
			       "their next hop): WireGuard needs --routing mesh");
	if (cfg->n_bgp_peers == 0)
		return invalid(cfg, KEY_ROUTING, err,
			       "--routing bgp needs at least one --bgp-peer (a route reflector or "
			       "router)");
	if (cfg->bgp_as == 0 || cfg->bgp_as == CFG_BGP_AS_TRANS)
		return invalid(cfg, KEY_BGP_AS, err, "%" PRIu32 " is not a usable AS", cfg->bgp_as);
	for (unsigned i = 0; i < cfg->n_bgp_peers; i++) {
		const struct nodeaddr *addr = &cfg->bgp_peers[i].addr;
		const char *problem = addr->family == AF_INET6 ? addr6_unicast_problem(&addr->v6)
							       : addr_unicast_problem(addr->v4);

		nodeaddr_format(addr, a);
		if (problem)
			return invalid(cfg, KEY_BGP_PEER, err, "%s %s", a, problem);
		if (in_cluster(cfg, addr, &range, p))
			return invalid(cfg, KEY_BGP_PEER, err, "BGP peer %s is inside %s %s", a,
				       options[range].name, p);
		if (nodeaddr_equal(addr, &cfg->node_ip))
			return invalid(cfg, blame(cfg, KEY_BGP_PEER, KEY_NODE_IP), err,
				       "BGP peer %s is this node's own address", a);
	}
	if (!cfg->bird_config || path_problem(cfg->bird_config))
		return invalid(cfg, KEY_BIRD_CONFIG, err, "'%s' %s",
			       cfg->bird_config ? cfg->bird_config : "",
			       cfg->bird_config ? path_problem(cfg->bird_config) : "is not set");
	if (!cfg->bird_socket || path_problem(cfg->bird_socket))
		return invalid(cfg, KEY_BIRD_SOCKET, err, "'%s' %s",
			       cfg->bird_socket ? cfg->bird_socket : "",
			       cfg->bird_socket ? path_problem(cfg->bird_socket) : "is not set");
	return 0;
}

int cfg_validate(const struct cfg *cfg, struct cfg_error *err)
{
	int ret;

	if ((unsigned)cfg->log_level > LOG_LEVEL_DEBUG)
		return invalid(cfg, KEY_LOG_LEVEL, err, "unknown log level %d",
			       (int)cfg->log_level);
	if ((unsigned)cfg->backend >= ARRAY_SIZE(backend_names))
		return invalid(cfg, KEY_BACKEND, err, "unknown backend %d", (int)cfg->backend);
	/* routed means "behind a gateway", which only --backend auto asks. */
	if (cfg->encrypt == CFG_ENCRYPT_ROUTED && cfg->backend != CFG_BACKEND_AUTO)
		return invalid(cfg, KEY_ENCRYPT, err,
			       "routed needs --backend auto (it chooses per peer by the route to "
			       "it); --backend %s",
			       backend_names[cfg->backend]);
	if ((unsigned)cfg->encrypt >= ARRAY_SIZE(encrypt_names))
		return invalid(cfg, KEY_ENCRYPT, err, "unknown encryption mode %d",
			       (int)cfg->encrypt);
	if (cfg->max_peers == 0 || cfg->max_peers > CFG_DEFAULT_MAX_PEERS)
		return invalid(cfg, KEY_MAX_PEERS, err, "must be from 1 to %d",
			       CFG_DEFAULT_MAX_PEERS);
	if (cfg->max_connections == 0)
		return invalid(cfg, KEY_MAX_CONNECTIONS, err, "must be at least 1");
	if (cfg->dial_rate == 0)
		return invalid(cfg, KEY_DIAL_RATE, err, "must be at least 1");
	if (cfg->accept_rate == 0)
		return invalid(cfg, KEY_ACCEPT_RATE, err, "must be at least 1");
	ret = validate_addresses(cfg, err);
	if (ret == 0)
		ret = validate_ipv6(cfg, err);
	if (ret == 0)
		ret = validate_local(cfg, err);
	if (ret == 0)
		ret = validate_timers(cfg, err);
	if (ret == 0)
		ret = validate_routing(cfg, err);
	for (unsigned i = 0; ret == 0 && i < cfg->n_masquerade_except; i++) {
		char p[PREFIX_STRLEN], c[PREFIX_STRLEN];
		const struct prefix *e = &cfg->masquerade_except[i];

		/* Inside the cluster range nothing is masqueraded anyway: a
		 * range there is a mistake (a LAN given as the cluster?). */
		if (e->len >= cfg->cluster_cidr.len && addr_prefix_overlaps(e, &cfg->cluster_cidr))
			ret = invalid(cfg, blame(cfg, KEY_MASQUERADE_EXCEPT, KEY_CLUSTER_CIDR), err,
				      "%s is inside the cluster range %s, which is never "
				      "masqueraded",
				      addr_format_prefix(e, p),
				      addr_format_prefix(&cfg->cluster_cidr, c));
	}
	return ret;
}

/* ---- output ---- */

/* ---- printing: one printer per key, named in options[] ---- */

static void print_line(FILE *out, const struct cfg_option *opt, const char *value)
{
	fprintf(out, "%s = %s\n", opt->name, value);
}

static void print_unsigned(FILE *out, const struct cfg_option *opt, unsigned value)
{
	fprintf(out, "%s = %u\n", opt->name, value);
}

static void print_peers(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	char buf[ADDR_HOST_MAX + 8];

	for (unsigned i = 0; i < cfg->n_peers; i++) {
		const char *host = cfg_peer_host(cfg, i);

		if (host && cfg->peers[i].port)
			snprintf(buf, sizeof(buf), "%s:%u", host, cfg->peers[i].port);
		else if (host)
			snprintf(buf, sizeof(buf), "%s", host);
		else if (cfg->peers[i].port)
			addr_format_endpoint(&cfg->peers[i], buf);
		else
			nodeaddr_format(&cfg->peers[i].addr, buf);
		print_line(out, opt, buf);
	}
}

static void print_port(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_unsigned(out, opt, cfg->port);
}

static void print_node_ip(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	char buf[NODEADDR_STRLEN];

	print_line(out, opt,
		   nodeaddr_is_zero(&cfg->node_ip) ? "auto" : nodeaddr_format(&cfg->node_ip, buf));
}

static void print_subnet(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	char buf[PREFIX_STRLEN];

	print_line(out, opt, cfg->subnet_set ? addr_format_prefix(&cfg->subnet, buf) : "auto");
}

static void print_ipv6(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_line(out, opt, cfg->ipv6 ? "on" : "off");
}

static void print_masquerade6(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_line(out, opt, cfg->masquerade6 ? "on" : "off");
}

static void print_masquerade_except(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	char p[PREFIX_STRLEN];

	for (unsigned i = 0; i < cfg->n_masquerade_except; i++)
		print_line(out, opt, addr_format_prefix(&cfg->masquerade_except[i], p));
}

static void print_cluster_cidr6(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	char buf[PREFIX6_STRLEN];

	print_line(out, opt, addr6_format_prefix(&cfg->cluster_cidr6, buf));
}

static void print_subnet6(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	char buf[PREFIX6_STRLEN];

	print_line(out, opt, cfg->subnet6_set ? addr6_format_prefix(&cfg->subnet6, buf) : "auto");
}

static void print_cluster_cidr(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	char buf[PREFIX_STRLEN];

	print_line(out, opt, addr_format_prefix(&cfg->cluster_cidr, buf));
}

/* An empty list prints as `namespaces =` (none, unlike the default); a
 * long one is split over several lines, each of which appends. */
static void print_namespaces(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	size_t width = 0;

	if (cfg->n_namespaces == 0) {
		fprintf(out, "%s =\n", opt->name);
		return;
	}
	for (unsigned i = 0; i < cfg->n_namespaces; i++) {
		size_t len = strlen(cfg->namespaces[i]);

		if (width && width + 1 + len > NAMESPACES_LINE_MAX) {
			fputc('\n', out);
			width = 0;
		}
		if (width == 0)
			width = (size_t)fprintf(out, "%s = %s", opt->name, cfg->namespaces[i]);
		else
			width += (size_t)fprintf(out, ",%s", cfg->namespaces[i]);
	}
	fputc('\n', out);
}

/* No interface, no line (an empty value would not read back). */
static void print_iface(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	if (cfg->iface[0])
		print_line(out, opt, cfg->iface);
}

static void print_bridge(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_line(out, opt, cfg->bridge);
}

/* --config names the file being printed: not a setting of it. */
static void print_nothing(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	(void)cfg;
	(void)opt;
	(void)out;
}

static void print_state_dir(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_line(out, opt, cfg->state_dir ? cfg->state_dir : "");
}

static void print_run_dir(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_line(out, opt, cfg->run_dir ? cfg->run_dir : "");
}

static void print_log_level(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_line(out, opt, log_level_name(cfg->log_level));
}

static void print_duration(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	char duration[24];

	format_duration(*(const uint32_t *)((const char *)cfg + opt->duration_ms), duration,
			sizeof(duration));
	print_line(out, opt, duration);
}

static void print_probe_interval(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	char duration[24];

	if (!cfg->probe_interval_ms) {
		print_line(out, opt, "off");
		return;
	}
	format_duration(cfg->probe_interval_ms, duration, sizeof(duration));
	print_line(out, opt, duration);
}

static void print_backend(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_line(out, opt, backend_names[cfg->backend]);
}

static void print_encrypt(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_line(out, opt, encrypt_names[cfg->encrypt]);
}

static void print_wireguard_port(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_unsigned(out, opt, cfg->wireguard_port);
}

static void print_wireguard_userspace(const struct cfg *cfg, const struct cfg_option *opt,
				      FILE *out)
{
	print_line(out, opt, cfg->wireguard_userspace_set ? cfg->wireguard_userspace : "auto");
}

static void print_key_file(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_line(out, opt, cfg->key_file ? cfg->key_file : "none");
}

static void print_listen(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	char buf[NODEADDR_STRLEN];

	print_line(out, opt, cfg->listen_set ? nodeaddr_format(&cfg->listen_addr, buf) : "auto");
}

static void print_max_peers(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_unsigned(out, opt, cfg->max_peers);
}

static void print_max_connections(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_unsigned(out, opt, cfg->max_connections);
}

static void print_dial_rate(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_unsigned(out, opt, cfg->dial_rate);
}

static void print_accept_rate(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_unsigned(out, opt, cfg->accept_rate);
}

static void print_metrics(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	char buf[ENDPOINT_STRLEN];

	print_line(out, opt,
		   cfg->metrics_enabled ? addr_format_endpoint(&cfg->metrics, buf) : "off");
}

static void print_routing(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_line(out, opt, routing_names[cfg->routing]);
}

static void print_bgp_as(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	fprintf(out, "%s = %" PRIu32 "\n", opt->name, cfg->bgp_as);
}

static void print_bgp_peers(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	for (unsigned i = 0; i < cfg->n_bgp_peers; i++) {
		const struct cfg_bgp_peer *p = &cfg->bgp_peers[i];
		char a[NODEADDR_STRLEN], buf[NODEADDR_STRLEN + 16];
		bool v6 = p->addr.family == AF_INET6;

		nodeaddr_format(&p->addr, a);
		if (p->as_set)
			snprintf(buf, sizeof(buf), v6 ? "[%s]:%" PRIu32 : "%s:%" PRIu32, a, p->as);
		else
			snprintf(buf, sizeof(buf), "%s", a);
		print_line(out, opt, buf);
	}
}

static void print_bird_config(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_line(out, opt, cfg->bird_config);
}

static void print_bird_socket(const struct cfg *cfg, const struct cfg_option *opt, FILE *out)
{
	print_line(out, opt, cfg->bird_socket);
}

static void print_key(const struct cfg *cfg, enum cfg_key key, FILE *out)
{
	options[key].print(cfg, &options[key], out);
}

void cfg_print(const struct cfg *cfg, FILE *out)
{
	fprintf(out, "[nsagent]\n");
	for (enum cfg_key key = 0; key < KEY_COUNT; key++)
		print_key(cfg, key, out);
}

/* One key's printed setting, for comparing two configs key by key. */
static char *key_text(const struct cfg *cfg, enum cfg_key key)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	if (out) {
		print_key(cfg, key, out);
		if (fclose(out) == 0)
			return text;
	}
	fatal("out of memory");
}

unsigned cfg_restart_changes(const struct cfg *running, const struct cfg *next, char *names,
			     size_t size)
{
	unsigned n = 0;
	size_t len = 0;

	if (size)
		names[0] = '\0';
	for (enum cfg_key key = 0; key < KEY_COUNT; key++) {
		char *a, *b;
		bool changed;

		if (options[key].reloadable)
			continue;
		a = key_text(running, key);
		b = key_text(next, key);
		changed = strcmp(a, b) != 0;
		free(a);
		free(b);
		if (!changed)
			continue;
		n++;
		if (len < size) {
			int w = snprintf(names + len, size - len, "%s%s", len ? ", " : "",
					 options[key].name);

			len += w > 0 ? (size_t)w : 0;
		}
	}
	return n;
}

/* The built-in default of a key as the usage text shows it: its printed
 * value(s) with the `name = ` taken off, comma-separated; NULL for none. */
static char *default_text(const struct cfg *defaults, enum cfg_key key)
{
	char *lines = key_text(defaults, key), *text = xcalloc(1, strlen(lines) + 1), *line, *next;
	size_t prefix = strlen(options[key].name) + strlen(" = ");

	for (line = lines; *line; line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		if (strlen(line) <= prefix)
			continue; /* an empty list: `name =` */
		if (text[0])
			strcat(text, ",");
		strcat(text, line + prefix);
	}
	free(lines);
	if (!text[0]) {
		free(text);
		return NULL;
	}
	return text;
}

void cfg_usage(FILE *out)
{
	struct cfg *defaults = cfg_new();

	fprintf(out, "Options (also keys of the [nsagent] section of the config file):\n");
	for (enum cfg_key key = 0; key < KEY_COUNT; key++) {
		int width = fprintf(out, "  --%s %s", options[key].name, options[key].metavar);
		char *def = default_text(defaults, key);

		fprintf(out, "%*s%s", width < 36 ? 36 - width : 1, "", options[key].help);
		if (def)
			fprintf(out, " [%s]", def);
		fputc('\n', out);
		free(def);
	}
	fprintf(out, "Durations take a unit: 500ms, 3s, 2m. Flags override the config file;\n"
		     "a list flag (--peer, --namespaces) replaces the file's list.\n");
	cfg_free(defaults);
}
