/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the running agent. Owns the event loop and wires the modules onto
 * it: the validated config, the persisted state, the kernel layer (local
 * topology and routes), the route decision engine (rde), the peer
 * sessions (peer_mgr) that feed it, and signal handling. It decides no
 * route, mode or MTU: it applies the rde's plans (on_plan) through the
 * kernel layer, in the order the plan says, and builds the local topology
 * around the subnet and data path a plan carries; drift repair is the
 * kernel layer's own business after that. The rde is given the kernel's
 * path lookup (lookup_path) at construction. Status, metrics and the
 * data-path probes (probe.c) read each peer's route view {routed, stale,
 * mode} from peer_mgr_peers(), which the rde answers.
 *
 * Startup order matters for graceful restart: the kernel's tagged routes
 * are adopted (as stale, and re-applied unchanged) before any session
 * starts, so a restart never removes a route that traffic is using.
 *
 * Invariant: nothing here changes the kernel directly; SIGTERM/SIGINT send
 * goodbye(restart) and leave the kernel state in place so that namespaces
 * keep their networking while the agent restarts; SIGUSR1 (`nsagent down`)
 * sends goodbye(leave) so peers withdraw our routes at once.
 *
 * Security: the cluster key (--key-file) is checked and loaded before any
 * socket opens and lives on only inside the TLS context (src/tls.c); the
 * raw copy here is wiped at once. With a key the process is made
 * undumpable with a zero core limit before the key is read, so no core
 * file ever holds it. Without a key the agent still runs, and
 * says loudly at start that its sessions are unauthenticated. The peer
 * listener binds the node IP unless --listen says otherwise.
 *
 * --routing bgp (issue 17): no peer sessions and no listener at all. The
 * rde still plans the local topology around the explicit subnet; routes
 * between nodes are BIRD's, which the agent drives (src/birdc.c) with the
 * include it renders (src/bird.c) from the config, the topology and this
 * host's networks. Our subnet is exported only once BIRD has shown what
 * the cluster announces (bird_export_next): a node that finds its subnet
 * already announced by another next hop is the later one, and refuses.
 * The data-path probes go to the nodes behind BIRD's routes, keyed by
 * their next hops (bird_probe_targets), and show beside those routes. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "nsagent/backend.h"
#include "nsagent/bird.h"
#include "nsagent/birdc.h"
#include "nsagent/cni_ops.h"
#include "nsagent/ctl.h"
#include "nsagent/daemon.h"
#include "nsagent/kern.h"
#include "nsagent/log.h"
#include "nsagent/metrics.h"
#include "nsagent/nodeip.h"
#include "nsagent/notify.h"
#include "nsagent/nsalloc.h"
#include "nsagent/peer.h"
#include "nsagent/persist.h"
#include "nsagent/pidfile.h"
#include "nsagent/probe.h"
#include "nsagent/rde.h"
#include "nsagent/state.h"
#include "nsagent/status.h"
#include "nsagent/tls.h"
#include "nsagent/wg.h"
#include "nsagent/xalloc.h"

#ifndef NSAGENT_VERSION
#define NSAGENT_VERSION "unknown"
#endif

struct daemon {
	const struct cfg *cfg;
	struct event_base *base;
	struct kern *kern;
	struct event *sig_term;
	struct event *sig_int;
	struct event *sig_leave;
	struct event *watchdog; /* systemd's WatchdogSec=, when set */
	struct endpoint *seeds; /* --peer, names resolved at start */
	struct kern_topology topo;
	bool have_topology;
	struct state *state;
	struct rde *rde;
	struct peer_mgr *peers;
	struct tls_ctx *tls;
	struct wg_dev *wg; /* the WireGuard device, when the node runs it */
	enum peer_goodbye goodbye;
	bool ready;
	bool failed;			/* a fatal error inside a callback: stop the loop */
	struct pidfile *pidfile;	/* locked while the agent runs (pidfile.c) */
	struct nodeaddr node_ip;	/* as chosen at start */
	unsigned underlay_mtu;		/* of the node IP's link */
	char underlay_ifname[IFNAMSIZ]; /* the node IP's link; "" = not found */
	/* Its IPv6 link-local address (dual-stack): the next hop peers on
	 * that link take for our /64. */
	struct in6_addr link_local6;
	bool link_local6_set;
	/* Operations (control socket, reload, runtime namespaces, metrics). */
	struct cfg *cfg_reloaded; /* owned; d->cfg points here after a reload */
	struct nsalloc *nsalloc;  /* namespace -> address, persisted */
	struct ctl_server *ctl;
	struct metrics_server *metrics;
	struct probe *probe;  /* data-path probes; NULL when probe-interval is off */
	struct probe *probe6; /* the same over IPv6; NULL also when ipv6 is off */
	struct event *sig_hup;
	/* --routing bgp: BIRD, whether our subnets are exported, and whether
	 * some session was up at the previous read-back. */
	struct birdc *birdc;
	enum bird_export bgp_export;
	bool bgp_was_established;
	struct timespec started;
	char problem[sizeof(
	    ((struct kern_error *)0)->message)]; /* the last kernel failure; "" = healthy */
};

/* The command line the agent started with: reload re-runs cfg_load on it. */
static int reload_argc;
static char **reload_argv;

void daemon_set_argv(int argc, char **argv)
{
	reload_argc = argc;
	reload_argv = argv;
}

/* The topology's fixed part: bridge, subnet, cluster range, and the /64
 * when the plan has one (dual-stack on and a subnet held; it moves with
 * the subnet). The namespaces and their addresses are the allocator's
 * (topology_from_nsalloc). */
static void build_topology(const struct cfg *cfg, const struct rde_plan *plan,
			   struct kern_topology *topo)
{
	memset(topo, 0, sizeof(*topo));
	snprintf(topo->bridge, sizeof(topo->bridge), "%s", cfg->bridge);
	topo->subnet = plan->subnet;
	topo->cluster = cfg->cluster_cidr;
	_Static_assert(KERN_MAX_MASQUERADE_EXCEPT >= CFG_MAX_MASQUERADE_EXCEPT,
		       "the kernel layer takes every --masquerade-except");
	memcpy(topo->masquerade_except, cfg->masquerade_except,
	       cfg->n_masquerade_except * sizeof(cfg->masquerade_except[0]));
	topo->n_masquerade_except = cfg->n_masquerade_except;
	topo->wg_port = cfg->wireguard_port;
	if (cfg->ipv6 && plan->subnet6_set) {
		topo->subnet6 = plan->subnet6;
		topo->subnet6_set = true;
		topo->cluster6 = cfg->cluster_cidr6;
		topo->masquerade6 = cfg->masquerade6;
	}
}

/* Every signal the agent handles. Until its handler is installed on the
 * event loop each one is blocked, not left at its default action, which
 * for all of them is to end the process: a SIGHUP (a reload) sent while
 * the agent starts would kill it, a SIGTERM would end it without its
 * goodbye. Blocked, they wait and are handled once the loop has them. */
static const int handled_signals[] = {SIGTERM, SIGINT, SIGUSR1, SIGHUP};

static void handled_signal_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++)
		sigaddset(set, handled_signals[i]);
}

void daemon_block_signals(void)
{
	sigset_t set;

	handled_signal_set(&set);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		fatal("cannot block signals: %s", strerror(errno));
}

/* Also undoes a mask inherited from the parent (the mask survives exec),
 * which would otherwise keep a signal from ever arriving. Threads started
 * before this (the kernel layer's) keep them blocked, so every one is
 * delivered to this thread. */
static void unblock_signals(void)
{
	sigset_t set;

	handled_signal_set(&set);
	if (sigprocmask(SIG_UNBLOCK, &set, NULL) < 0)
		fatal("cannot unblock signals: %s", strerror(errno));
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	log_info("received %s, stopping (kernel state is kept)", strsignal((int)sig));
	d->goodbye = PEER_GOODBYE_RESTART;
	event_base_loopexit(d->base, NULL);
}

static void on_leave_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)sig;
	(void)what;
	log_info("asked to leave the cluster (nsagent down), stopping");
	d->goodbye = PEER_GOODBYE_LEAVE;
	event_base_loopexit(d->base, NULL);
}

static void mark_ready(struct daemon *d);
static int open_namespaces(struct daemon *d);
static int apply_topology(struct daemon *d, struct kern_error *kerr);

/* The data path the plan wants: the namespaces' MTU and the VXLAN device. */
static void plan_datapath(struct kern_topology *topo, const struct rde_plan *plan)
{
	topo->mtu = plan->mtu;
	nodeaddr_split(&plan->vtep, &topo->vtep, &topo->vtep6);
	memcpy(topo->vtep_mac, plan->vtep_mac, KERN_MAC_LEN);
	topo->vxlan_mtu = plan->vxlan_mtu;
	topo->wg = plan->wg;
	topo->wg_mtu = plan->wg_mtu;
}

static void apply_datapath(struct daemon *d, const struct rde_plan *plan)
{
	struct kern_error kerr = {{0}};
	unsigned before = d->topo.mtu;

	if (!d->have_topology)
		return;
	plan_datapath(&d->topo, plan);
	log_info("namespace MTU %u -> %u, VXLAN device %s (%s)", before, d->topo.mtu,
		 !nodeaddr_is_zero(&plan->vtep) ? "wanted" : "not wanted",
		 plan->order == RDE_ORDER_DATAPATH_FIRST ? "a peer is reached over VXLAN"
							 : "every peer is reached directly");
	apply_topology(d, &kerr);
}

/* Our subnet is new (given, leased or claimed) or moved: the whole local
 * topology is rebuilt around it. */
static int apply_local(struct daemon *d, const struct rde_plan *plan)
{
	struct kern_error kerr = {{0}};
	struct kern_stats stats;
	char buf[PREFIX_STRLEN];

	free(d->topo.namespaces);
	d->topo.namespaces = NULL;
	build_topology(d->cfg, plan, &d->topo);
	nodeaddr_split(&d->node_ip, &d->topo.wg_addr, &d->topo.wg_addr6);
	d->topo.wg_kernel = d->wg && wg_is_kernel(d->wg);
	plan_datapath(&d->topo, plan);
	/* Namespace addresses are the allocator's (persisted, runtime ones too). */
	if (open_namespaces(d) < 0) {
		d->failed = true;
		event_base_loopexit(d->base, NULL);
		return -1;
	}
	if (kern_set_topology(d->kern, &d->topo, &kerr) < 0) {
		log_error("%s", kerr.message);
		if (!d->have_topology) {
			d->failed = true;
			event_base_loopexit(d->base, NULL);
		}
		return -1;
	}
	d->have_topology = true;
	kern_get_stats(d->kern, &stats);
	log_info("local topology reconciled: bridge %s, subnet %s, %u namespaces (%llu changes)",
		 d->topo.bridge, addr_format_prefix(&d->topo.subnet, buf), d->topo.n_namespaces,
		 (unsigned long long)stats.changes);
	return 0;
}

/* rde: what the kernel should have changed; applied in the plan's order. */
static void on_plan(void *arg, const struct rde_plan *plan)
{
	struct daemon *d = arg;
	struct kern_error kerr = {{0}};

	if (plan->order == RDE_ORDER_TOPOLOGY_FIRST && apply_local(d, plan) < 0)
		return;
	if (plan->order == RDE_ORDER_DATAPATH_FIRST)
		apply_datapath(d, plan);
	/* The device's peers before the routes into it. */
	if (d->wg)
		wg_set_routes(d->wg, plan->routes, plan->n_routes);
	if (kern_set_routes(d->kern, plan->routes, plan->n_routes, &kerr) < 0)
		log_error("%s", kerr.message);
	else
		log_debug("routes reconciled: %u cross-node routes", plan->n_routes);
	if (plan->order == RDE_ORDER_ROUTES_FIRST)
		apply_datapath(d, plan);
	if (plan->order == RDE_ORDER_TOPOLOGY_FIRST)
		mark_ready(d);
}

/* rde: the kernel's path to a peer's node IP, for --backend auto. */
static int lookup_path(void *arg, const struct nodeaddr *node_ip, struct kern_path *path,
		       struct kern_error *err)
{
	return kern_route_path(arg, node_ip, path, err);
}

/* The --peer addresses, names resolved now (again at each redial, by the
 * session code). */
static int resolve_seeds(struct daemon *d)
{
	struct cfg_error err;
	int ret;

	d->seeds = xcalloc(d->cfg->n_peers + 1, sizeof(*d->seeds));
	ret = cfg_resolve_peers(d->cfg, d->seeds, &err);
	if (ret < 0) {
		log_error("%s: %s", err.where, err.message);
		return ret;
	}
	for (unsigned i = 0; i < d->cfg->n_peers; i++) {
		if (cfg_peer_host(d->cfg, i))
			log_info("peer %s is at %s", cfg_peer_host(d->cfg, i),
				 addr_format_endpoint(&d->seeds[i], (char[ENDPOINT_STRLEN]){0}));
	}
	return 0;
}

/* --node-ip, else --iface's address, else the source address towards the
 * first peer (given or persisted), else the host's only global address
 * (src/nodeip.c says why not the first one). A derived address that no
 * peer could reach (loopback, link-local) is refused, naming the flags. */
static int choose_node_ip(const struct daemon *d, struct nodeaddr *node_ip)
{
	struct kern_error kerr = {{0}};
	const struct endpoint *first = NULL;
	char buf[NODEADDR_STRLEN], how[ADDR_HOST_MAX + 64], msg[512];
	const char *problem;
	uint32_t v4 = 0;
	int ret;

	if (!nodeaddr_is_zero(&d->cfg->node_ip)) {
		*node_ip = d->cfg->node_ip;
		return 0;
	}
	if (d->cfg->n_peers)
		first = &d->seeds[0];
	else if (d->state->n_peers)
		first = &d->state->peers[0];
	if (d->cfg->iface[0]) {
		ret = nodeip_host_address(&d->cfg->cluster_cidr, d->cfg->iface, &v4, msg,
					  sizeof(msg));
		if (ret < 0) {
			log_error("cannot choose a node IP: %s", msg);
			return ret;
		}
		*node_ip = nodeaddr_v4(v4);
		snprintf(how, sizeof(how), "the address of --iface %s", d->cfg->iface);
	} else if (first) {
		/* Of the first peer's family: an IPv6 peer gives an IPv6 node
		 * address (the IPv6 route's source). */
		ret = kern_route_source(&first->addr, node_ip, &kerr);
		if (ret < 0) {
			log_error("cannot choose a node IP (give --node-ip or --iface): %s",
				  kerr.message);
			return ret;
		}
		snprintf(how, sizeof(how), "the source address towards %s%s%s",
			 nodeaddr_format(&first->addr, (char[NODEADDR_STRLEN]){0}),
			 d->cfg->n_peers && cfg_peer_host(d->cfg, 0) ? ", peer " : "",
			 d->cfg->n_peers && cfg_peer_host(d->cfg, 0) ? cfg_peer_host(d->cfg, 0)
								     : "");
	} else {
		ret = nodeip_host_address(&d->cfg->cluster_cidr, NULL, &v4, msg, sizeof(msg));
		if (ret < 0) {
			log_error("cannot choose a node IP: %s", msg);
			return ret;
		}
		*node_ip = nodeaddr_v4(v4);
		snprintf(how, sizeof(how), "no --peer: the host's only global address");
	}
	problem = nodeaddr_node_problem(node_ip);
	if (problem) {
		log_error("node IP %s (%s) %s: no peer could reach it; give --iface or --node-ip",
			  nodeaddr_format(node_ip, buf), how, problem);
		return -EADDRNOTAVAIL;
	}
	log_info("node IP %s (%s)", nodeaddr_format(node_ip, buf), how);
	return 0;
}

/* ---- operations: runtime namespaces, reload, status, metrics ---- */

/* The IPv6 address of the namespace or attachment with IPv4 address addr
 * (all zero without IPv6). It is derived, not allocated: the same host
 * part in the /64 as addr has in the subnet. The allocator that persists
 * the one then keeps the other stable and unique too, and a second
 * allocation could only drift from it. */
static void entry_addr6(const struct daemon *d, uint32_t addr, struct in6_addr *addr6)
{
	memset(addr6, 0, sizeof(*addr6));
	/* The allocator hands out host addresses of the subnet only, and a /64
	 * holds every host part of an IPv4 subnet. */
	if (d->topo.subnet6_set &&
	    addr6_same_host(&d->topo.subnet, addr, &d->topo.subnet6, addr6) < 0)
		fatal("namespace address outside the node's subnet");
}

/* The topology's namespaces are the allocator's: config ones, then runtime
 * ones and attachments. */
static void topology_from_nsalloc(struct daemon *d)
{
	unsigned n = nsalloc_count(d->nsalloc);

	free(d->topo.namespaces);
	d->topo.namespaces = xcalloc(n ? n : 1, sizeof(*d->topo.namespaces));
	d->topo.n_namespaces = n;
	for (unsigned i = 0; i < n; i++) {
		const struct nsalloc_entry *e = nsalloc_get(d->nsalloc, i);

		snprintf(d->topo.namespaces[i].name, sizeof(d->topo.namespaces[i].name), "%s",
			 e->name);
		d->topo.namespaces[i].addr = e->addr;
		entry_addr6(d, e->addr, &d->topo.namespaces[i].addr6);
		if (e->origin == NSALLOC_CNI)
			d->topo.namespaces[i].cni = e->cni;
	}
}

/* Opens the allocator for the topology's subnet and gives the config's
 * namespaces their (persisted or new) addresses. */
static int open_namespaces(struct daemon *d)
{
	char p[PREFIX_STRLEN];
	int ret;

	/* A new subnet (a claim moved) makes every address of the old one moot. */
	nsalloc_free(d->nsalloc);
	d->nsalloc = NULL;
	ret = nsalloc_open(d->cfg->state_dir, &d->topo.subnet, &d->nsalloc);
	if (ret < 0) {
		log_error("cannot read namespace addresses in %s: %s", d->cfg->state_dir,
			  strerror(-ret));
		return ret;
	}
	ret =
	    nsalloc_set_config(d->nsalloc, (const char(*)[CFG_NS_NAME_MAX + 1]) d->cfg->namespaces,
			       d->cfg->n_namespaces);
	if (ret < 0) {
		log_error("cannot give the namespaces addresses of %s: %s",
			  addr_format_prefix(&d->topo.subnet, p),
			  ret == -EADDRNOTAVAIL ? "the subnet is full" : strerror(-ret));
		return ret;
	}
	topology_from_nsalloc(d);
	return 0;
}

/* Reconciles the kernel to the current topology; a failure makes the agent
 * unhealthy until a later apply succeeds. */
static int apply_topology(struct daemon *d, struct kern_error *kerr)
{
	int ret;

	topology_from_nsalloc(d);
	ret = kern_set_topology(d->kern, &d->topo, kerr);
	if (ret < 0) {
		snprintf(d->problem, sizeof(d->problem), "%s", kerr->message);
		log_error("%s", kerr->message);
	} else {
		d->problem[0] = '\0';
	}
	return ret;
}

static enum ctl_result on_ns_add(void *arg, const char *name, char *msg, size_t size)
{
	struct daemon *d = arg;
	struct kern_error kerr = {{0}};
	char a[ADDR_STRLEN], p[PREFIX_STRLEN];
	uint32_t addr;
	int ret;

	if (!d->nsalloc) {
		snprintf(msg, size, "this node has no subnet yet (waiting for peers); try again");
		return CTL_FAILED;
	}
	ret = nsalloc_add(d->nsalloc, name, &addr);
	if (ret == -EEXIST) {
		snprintf(msg, size, "namespace %s exists (%s)", name,
			 addr_format(nsalloc_find(d->nsalloc, name)->addr, a));
		return CTL_EXISTS;
	}
	if (ret == -EADDRNOTAVAIL) {
		snprintf(msg, size, "subnet %s has no free address for %s",
			 addr_format_prefix(&d->topo.subnet, p), name);
		return CTL_FAILED;
	}
	if (ret < 0) {
		/* The save failed (a full disk is -ENOSPC): nothing changed. */
		snprintf(msg, size, "cannot record namespace %s in %s: %s", name, d->cfg->state_dir,
			 strerror(-ret));
		return CTL_FAILED;
	}
	if (apply_topology(d, &kerr) < 0) {
		/* Give the address back and put the kernel back as it was. */
		struct kern_error again = {{0}};

		nsalloc_del(d->nsalloc, name);
		if (apply_topology(d, &again) == 0)
			d->problem[0] = '\0';
		snprintf(msg, size, "%s", kerr.message);
		return CTL_FAILED;
	}
	snprintf(msg, size, "added namespace %s with address %s/%u", name, addr_format(addr, a),
		 d->topo.subnet.len);
	if (d->topo.subnet6_set) {
		struct in6_addr addr6;
		size_t len = strlen(msg);

		entry_addr6(d, addr, &addr6);
		snprintf(msg + len, size - len, " and %s/%u",
			 addr6_format(&addr6, (char[ADDR6_STRLEN]){0}), d->topo.subnet6.len);
	}
	log_info("%s", msg);
	return CTL_OK;
}

static enum ctl_result on_ns_del(void *arg, const char *name, char *msg, size_t size)
{
	struct daemon *d = arg;
	struct kern_error kerr = {{0}};
	int ret;

	if (!d->nsalloc) {
		snprintf(msg, size, "no namespace %s (this node has no subnet yet)", name);
		return CTL_NOT_FOUND;
	}
	ret = nsalloc_del(d->nsalloc, name);
	if (ret == -ENOENT) {
		snprintf(msg, size, "no namespace %s", name);
		return CTL_NOT_FOUND;
	}
	if (ret == -EPERM) {
		snprintf(msg, size,
			 "namespace %s comes from the config; remove it from 'namespaces' and "
			 "reload",
			 name);
		return CTL_INVALID;
	}
	if (ret < 0) {
		snprintf(msg, size, "cannot record the removal of %s: %s", name, strerror(-ret));
		return CTL_FAILED;
	}
	if (apply_topology(d, &kerr) < 0) {
		snprintf(msg, size, "%s", kerr.message);
		return CTL_FAILED;
	}
	/* The kernel layer logs the removal itself. */
	snprintf(msg, size, "removed namespace %s", name);
	return CTL_OK;
}

static unsigned probe_targets(void *arg, int family, struct probe_source *source,
			      struct probe_target **out);

/* Starts, stops or retimes one family's data-path probes to match the
 * config (wanted: that family is probed at all). */
static void apply_probe_family(struct daemon *d, int family, bool wanted, struct probe **probe)
{
	if (d->cfg->probe_interval_ms == 0 || !wanted) {
		if (*probe)
			log_info("data-path probes%s off", family == AF_INET6 ? " over IPv6" : "");
		probe_free(*probe);
		*probe = NULL;
	} else if (*probe) {
		probe_set_interval(*probe, d->cfg->probe_interval_ms);
	} else if (probe_new(d->base, family, d->cfg->probe_interval_ms, probe_targets, d, probe) <
		   0) {
		fatal("cannot start the data-path probes");
	}
}

static void apply_probe_interval(struct daemon *d)
{
	apply_probe_family(d, AF_INET, true, &d->probe);
	apply_probe_family(d, AF_INET6, d->cfg->ipv6, &d->probe6);
}

/* The metrics name peers, addresses and counters of hostile input: on
 * another address than loopback they are for whoever reaches the port. */
static void warn_exposed_metrics(const struct cfg *cfg)
{
	char where[ENDPOINT_STRLEN];

	if (cfg->metrics_enabled && !nodeaddr_is_loopback(&cfg->metrics.addr))
		log_warn("metrics endpoint %s is not a loopback address: it exposes the agent's "
			 "metrics (peers, addresses, routes) to every host that reaches it",
			 addr_format_endpoint(&cfg->metrics, where));
}

static bool same_metrics(const struct cfg *a, const struct cfg *b)
{
	return a->metrics_enabled == b->metrics_enabled &&
	       (!a->metrics_enabled || (nodeaddr_equal(&a->metrics.addr, &b->metrics.addr) &&
					a->metrics.port == b->metrics.port));
}

static void on_status(void *arg, struct status *st);

/* Re-reads the config from the original command line, validates it whole,
 * and applies only what changed. Everything that can fail (parsing, a
 * changed key that only a restart applies, binding a new metrics address,
 * finding addresses for new namespaces) happens before anything is
 * switched, so a failure keeps the running config untouched. */
static enum ctl_result reload_config(struct daemon *d, char *msg, size_t size)
{
	struct cfg *next = cfg_new();
	struct metrics_server *metrics = NULL;
	struct kern_error kerr = {{0}};
	struct cfg_error err;
	char restart[CTL_MESSAGE_MAX], bind_err[256];
	bool metrics_changed;
	unsigned n_restart;
	int ret;

	if (!reload_argv) {
		snprintf(msg, size, "this agent cannot reload (started without its command line)");
		goto fail;
	}
	if (cfg_load(next, reload_argc, reload_argv, &err) < 0) {
		snprintf(msg, size, "%s: %s (the running config is kept)", err.where, err.message);
		log_error("reload: %s", msg);
		status_count(STATUS_RELOADS_FAILED);
		cfg_free(next);
		return CTL_INVALID_CONFIG;
	}
	/* Applying the rest and keeping these would leave a config that no
	 * file says, and a reply of success for a change that did not happen. */
	n_restart = cfg_restart_changes(d->cfg, next, restart, sizeof(restart));
	if (n_restart) {
		snprintf(msg, size,
			 "%s need%s a restart of the agent: nothing was reloaded (the running "
			 "config is kept)",
			 restart, n_restart == 1 ? "s" : "");
		log_error("reload: %s", msg);
		status_count(STATUS_RELOADS_FAILED);
		cfg_free(next);
		return CTL_INVALID_CONFIG;
	}
	metrics_changed = !same_metrics(next, d->cfg);
	if (metrics_changed && next->metrics_enabled) {
		/* The new address is bound before the old server goes, unless both
		 * use one port (they would collide); then the old one comes back
		 * when the new one cannot be bound. */
		bool freed = false;

		if (d->metrics && next->metrics.port == d->cfg->metrics.port) {
			metrics_server_free(d->metrics);
			d->metrics = NULL;
			freed = true;
		}
		if (metrics_server_new(d->base, &next->metrics, on_status, d, &metrics, bind_err,
				       sizeof(bind_err)) < 0) {
			snprintf(msg, size, "%s (the running config is kept)", bind_err);
			log_error("reload: %s", msg);
			if (freed &&
			    metrics_server_new(d->base, &d->cfg->metrics, on_status, d, &d->metrics,
					       bind_err, sizeof(bind_err)) < 0)
				log_error("%s", bind_err);
			goto fail;
		}
	}
	/* Without a subnet yet, the new list is used once one is claimed. */
	ret = 0;
	if (d->nsalloc)
		ret = nsalloc_set_config(d->nsalloc,
					 (const char(*)[CFG_NS_NAME_MAX + 1]) next->namespaces,
					 next->n_namespaces);
	if (ret < 0) {
		char p[PREFIX_STRLEN];

		snprintf(msg, size, "namespaces: %s (the running config is kept)",
			 ret == -EADDRNOTAVAIL
			     ? "they do not all fit the subnet with the runtime ones"
			     : strerror(-ret));
		if (ret == -EADDRNOTAVAIL)
			log_error(
			    "reload: namespaces do not fit subnet %s; keeping the running config",
			    addr_format_prefix(&d->topo.subnet, p));
		else
			log_error("reload: %s", msg);
		metrics_server_free(metrics);
		goto fail;
	}

	/* From here on the new config is in force. */
	if (metrics_changed) {
		metrics_server_free(d->metrics);
		d->metrics = metrics;
		warn_exposed_metrics(next);
	}
	if (next->log_level != d->cfg->log_level) {
		log_set_level(next->log_level);
		log_info("log level is now %s", log_level_name(next->log_level));
	}
	/* The first config belongs to the caller of daemon_run; later ones are ours. */
	cfg_free(d->cfg_reloaded);
	d->cfg = next;
	d->cfg_reloaded = next;
	status_count(STATUS_RELOADS_OK);
	apply_probe_interval(d);
	ret = d->have_topology ? apply_topology(d, &kerr) : 0;
	if (ret < 0) {
		snprintf(msg, size, "config reloaded, but: %s", kerr.message);
		return CTL_FAILED;
	}
	snprintf(msg, size, "config reloaded");
	log_info("reload: config reloaded");
	return CTL_OK;
fail:
	status_count(STATUS_RELOADS_FAILED);
	cfg_free(next);
	return CTL_FAILED;
}

/* A reload, as systemd sees it: reloading, then running again with the
 * outcome as status (`systemctl status` shows why a reload failed). */
static enum ctl_result daemon_reload(struct daemon *d, char *msg, size_t size)
{
	enum ctl_result result;

	notify_send("RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=reloading the config",
		    notify_monotonic_usec());
	result = reload_config(d, msg, size);
	notify_send("READY=1\nSTATUS=running: %s%s",
		    result == CTL_OK ? "" : "reload failed: ", msg);
	return result;
}

static void on_hup_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	char msg[CTL_MESSAGE_MAX];

	(void)sig;
	(void)what;
	log_info("received SIGHUP, reloading the config");
	daemon_reload(d, msg, sizeof(msg));
}

static enum ctl_result on_reload(void *arg, char *msg, size_t size)
{
	return daemon_reload(arg, msg, size);
}

/* `nsagent rotate-key`: a new pair, on the device, then to every peer. */
static enum ctl_result on_rotate_key(void *arg, char *msg, size_t size)
{
	struct daemon *d = arg;
	uint8_t pub[WGKEY_LEN];
	char text[WGKEY_B64_LEN];

	if (!d->wg) {
		snprintf(
		    msg, size,
		    "this node runs no WireGuard (--backend wireguard or --encrypt routed|all)");
		return CTL_INVALID;
	}
	if (wg_rotate_key(d->wg, msg, size) < 0) {
		log_error("%s", msg);
		return CTL_FAILED;
	}
	wg_public_key(d->wg, pub);
	peer_mgr_set_wg_key(d->peers, pub);
	wgkey_base64(pub, text);
	snprintf(msg, size, "new WireGuard public key %s, advertised to every peer", text);
	return CTL_OK;
}

static void on_leave(void *arg)
{
	struct daemon *d = arg;

	log_info("asked to leave the cluster (control socket), stopping");
	d->goodbye = PEER_GOODBYE_LEAVE;
	event_base_loopexit(d->base, NULL);
}

static uint64_t ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - start->tv_sec) * 1000 +
	       (uint64_t)((now.tv_nsec - start->tv_nsec) / 1000000);
}

/* The bridge's address of family in a peer's (or our) subnet: the first
 * host of the IPv4 subnet or of the IPv6 /64. */
static bool bridge_address(int family, const struct rde_peer_view *view, uint32_t *addr,
			   struct in6_addr *addr6)
{
	if (family == AF_INET6)
		return view->subnet6_known && addr6_prefix_host(&view->subnet6, 1, addr6) == 0;
	return view->subnet_known && addr_prefix_host(&view->subnet, 1, addr) == 0;
}

/* Probed: every established peer whose subnet of the family is known and
 * routed (not stale), at its bridge address, from ours. With --routing
 * bgp there are no peers: every node behind a route BIRD installed, at
 * the bridge address of the route's subnet, keyed by its next hop. */
static unsigned probe_targets(void *arg, int family, struct probe_source *source,
			      struct probe_target **out)
{
	struct daemon *d = arg;
	struct peer_info *peers = NULL;
	struct probe_target *targets;
	struct rde_peer_view self = {0};
	unsigned n_peers, n = 0;

	*out = NULL;
	if (!d->have_topology || (!d->peers && !d->birdc))
		return 0;
	self.subnet = d->topo.subnet;
	self.subnet_known = true;
	self.subnet6_known = d->rde && rde_subnet6(d->rde, &self.subnet6);
	if (!bridge_address(family, &self, &source->addr, &source->addr6))
		return 0;
	if (d->birdc) {
		const struct birdc_view *v = birdc_view(d->birdc);

		*out = xcalloc(v->n_routes ? v->n_routes : 1, sizeof(**out));
		return bird_probe_targets(v->routes, v->n_routes, family, *out);
	}
	n_peers = peer_mgr_peers(d->peers, &peers);
	targets = xcalloc(n_peers ? n_peers : 1, sizeof(*targets));
	for (unsigned i = 0; i < n_peers; i++) {
		const struct peer_info *pi = &peers[i];
		bool routed = family == AF_INET6 ? pi->route.routed6 : pi->route.routed;

		if (pi->state != PEER_ESTABLISHED || !routed || pi->route.stale ||
		    !bridge_address(family, &pi->route, &targets[n].addr, &targets[n].addr6))
			continue;
		targets[n++].node_ip = pi->endpoint.addr;
	}
	free(peers);
	*out = targets;
	return n;
}

/* A peer's probes of one family (probe may be NULL: none). */
static void probe_status(const struct probe *probe, const struct nodeaddr *node_ip,
			 struct status_probes *p)
{
	const struct probe_peer *pr =
	    probe ? probe_table_find(probe_get_table(probe), node_ip) : NULL;

	_Static_assert(PROBE_WINDOW == 10, "nsagent_probe_loss_ratio's help names the window");
	if (!pr)
		return;
	if (pr->result == PROBE_OK)
		p->result = STATUS_PROBE_OK;
	else if (pr->result == PROBE_FAILED)
		p->result = STATUS_PROBE_FAILED;
	/* 0 means none answered: a round trip measured as 0 us is shown as 1. */
	if (pr->has_rtt)
		p->rtt_us = pr->rtt_us ? pr->rtt_us : 1;
	p->sent = pr->sent;
	p->lost = pr->lost;
	p->loss_ratio = pr->window_count ? (double)pr->window_lost / pr->window_count : 0;
}

/* A peer reached through WireGuard: what the device's last read-back
 * says of it. */
static void wireguard_peer_status(struct daemon *d, const struct rde_peer_view *view,
				  struct status_peer *p)
{
	struct wg_peer_stats ws;
	time_t now = time(NULL);

	p->wg_handshake_ms = -1;
	if (!d->wg || !view->encrypted)
		return;
	p->wireguard = true;
	wg_peer_stats(d->wg, view->wg_key, &ws);
	if (ws.last_handshake_sec && (uint64_t)now >= ws.last_handshake_sec)
		p->wg_handshake_ms = (int64_t)((uint64_t)now - ws.last_handshake_sec) * 1000;
	p->wg_rx_bytes = ws.rx_bytes;
	p->wg_tx_bytes = ws.tx_bytes;
}

/* The peer table from peer_mgr; a peer's route is "installed" when the
 * rde routes its subnet, "stale" when kept for a lost session. */
static void peer_status(struct daemon *d, struct status *st)
{
	struct peer_info *peers = NULL;
	unsigned n_peers;
	char id[NODE_ID_STRLEN];

	for (enum peer_state s = PEER_IDLE; s <= PEER_ESTABLISHED; s++)
		snprintf(st->session_states[st->n_session_states++], STATUS_STATE_MAX, "%s",
			 peer_state_name(s));
	if (!d->peers)
		return;
	n_peers = peer_mgr_peers(d->peers, &peers);
	for (unsigned i = 0; i < n_peers; i++) {
		const struct peer_info *pi = &peers[i];
		struct status_peer *p = status_add_peer(st);

		if (!p)
			break;
		if (pi->node_id_known)
			snprintf(p->node_id, sizeof(p->node_id), "%s",
				 node_id_format(pi->node_id, id));
		p->endpoint = pi->endpoint;
		snprintf(p->state, sizeof(p->state), "%s", peer_state_name(pi->state));
		p->subnet = pi->route.subnet;
		p->subnet_known = pi->route.subnet_known;
		p->uptime_ms = pi->uptime_ms;
		p->last_heard_ms =
		    pi->last_heard_ms == UINT64_MAX ? -1 : (int64_t)pi->last_heard_ms;
		if (pi->route.routed) {
			p->route = pi->route.stale ? STATUS_ROUTE_STALE : STATUS_ROUTE_INSTALLED;
			snprintf(p->mode, sizeof(p->mode), "%s", backend_mode_name(pi->route.mode));
		}
		/* No path at all (an underlay of the other family): mode says
		 * so, where a peer merely not advertised yet has none. */
		if (pi->route.no_path)
			snprintf(p->mode, sizeof(p->mode), "none");
		p->subnet6 = pi->route.subnet6;
		p->subnet6_known = pi->route.subnet6_known;
		p->link_local6 = pi->route.link_local6;
		p->link_local6_set = !addr6_is_zero(&pi->route.link_local6);
		p->via6 = pi->route.via6;
		if (pi->route.routed6) {
			p->route6 = pi->route.stale ? STATUS_ROUTE_STALE : STATUS_ROUTE_INSTALLED;
			snprintf(p->mode6, sizeof(p->mode6), "%s",
				 backend_mode_name(pi->route.mode6));
		}
		probe_status(d->probe, &pi->endpoint.addr, &p->probe);
		probe_status(d->probe6, &pi->endpoint.addr, &p->probe6);
		snprintf(p->mode_reason, sizeof(p->mode_reason), "%s", pi->route.why);
		wireguard_peer_status(d, &pi->route, p);
	}
	free(peers);
}

/* The counts of events: the process-wide ones (status_count), then those
 * other modules keep themselves, copied in at each request. */
static void counter_status(struct daemon *d, struct status *st)
{
	struct peer_security_stats s;
	struct kern_stats k;

	status_take_counts(st);
	st->counters[STATUS_STATE_SAVE_ERRORS] = persist_save_errors();
	kern_get_stats(d->kern, &k);
	st->counters[STATUS_RECONCILE_CHANGES] = k.changes;
	st->counters[STATUS_RECONCILE_REPAIRS] = k.repairs;
	st->counters[STATUS_RECONCILE_ERRORS] = k.errors;
	if (d->wg) {
		struct wg_stats w;

		wg_get_stats(d->wg, &w);
		st->counters[STATUS_WG_STARTS] = w.starts;
		st->counters[STATUS_WG_REPAIRS] = w.repairs;
		st->counters[STATUS_WG_ERRORS] = w.errors;
	}
	if (d->rde) {
		struct rde_stats r;

		rde_get_stats(d->rde, &r);
		for (unsigned v = 0; v < RDE_WG_VERDICT_COUNT; v++)
			st->counters[STATUS_ADVERTS_WG_REJECTED + v] = r.wg_rejected[v];
	}
	if (!d->peers)
		return;
	peer_mgr_security_stats(d->peers, &s);
	st->counters[STATUS_ACCEPTS_REFUSED] = s.accepts_refused;
	st->counters[STATUS_PEERS_REFUSED] = s.peers_refused;
	st->counters[STATUS_DIALS] = s.dials;
	st->counters[STATUS_DIALS_DEFERRED] = s.dials_deferred;
	st->counters[STATUS_COLLISIONS] = s.collisions;
	st->counters[STATUS_PEERS_EVICTED] = s.peers_evicted;
	st->counters[STATUS_TLS_FAILURES] = s.tls_failures;
	st->counters[STATUS_HELLOS_REFUSED] = s.hellos_refused;
	st->counters[STATUS_HANDSHAKE_TIMEOUTS] = s.handshake_timeouts;
	st->counters[STATUS_FRAMES_OVERSIZE] = s.frames_oversize;
	st->counters[STATUS_FRAMES_MALFORMED] = s.frames_malformed;
	for (unsigned v = RIB_ACCEPTED + 1; v < RIB_VERDICT_COUNT; v++) {
		st->counters[STATUS_ADVERTS_REJECTED_BY(v)] = s.rejected[v];
		st->counters[STATUS_ADVERTS6_REJECTED_BY(v)] = s.rejected6[v];
	}
}

static void namespace_status(const struct daemon *d, const struct nsalloc_entry *e,
			     struct status *st)
{
	struct status_namespace *ns = status_add_namespace(st);

	if (!ns)
		return;
	snprintf(ns->name, sizeof(ns->name), "%s", e->name);
	ns->addr = e->addr;
	entry_addr6(d, e->addr, &ns->addr6);
	ns->runtime = e->origin == NSALLOC_RUNTIME;
}

static void attachment_status(struct daemon *d, const struct nsalloc_entry *e, struct status *st)
{
	struct status_attachment *at = status_add_attachment(st);
	struct kern_attach_info info;

	if (!at)
		return;
	memset(&info, 0, sizeof(info));
	snprintf(at->container_id, sizeof(at->container_id), "%s", e->cni.container_id);
	snprintf(at->netns, sizeof(at->netns), "%s", e->cni.netns);
	snprintf(at->ifname, sizeof(at->ifname), "%s", e->cni.ifname);
	at->addr = e->addr;
	entry_addr6(d, e->addr, &at->addr6);
	if (d->kern &&
	    kern_attachment_info(d->kern, e->cni.container_id, e->cni.ifname, &info) == 0) {
		snprintf(at->host_ifname, sizeof(at->host_ifname), "%s", info.host_ifname);
		at->netns_gone = info.gone;
	}
}

/* --routing bgp: what BIRD says, and why the node is not healthy. */
static void bgp_status(struct daemon *d, struct status *st)
{
	const struct birdc_view *v;
	char p[PREFIX_STRLEN], a[NODEADDR_STRLEN];

	snprintf(st->routing, sizeof(st->routing), "%s",
		 d->cfg->routing == CFG_ROUTING_BGP ? "bgp" : "mesh");
	if (d->cfg->routing != CFG_ROUTING_BGP)
		return;
	snprintf(st->bird_socket, sizeof(st->bird_socket), "%s", d->cfg->bird_socket);
	snprintf(st->bgp_export, sizeof(st->bgp_export), "%s", bird_export_name(d->bgp_export));
	if (!d->birdc)
		return;
	v = birdc_view(d->birdc);
	st->bird_up = v->up;
	for (unsigned i = 0; i < v->n_sessions && i < STATUS_MAX_BGP_SESSIONS; i++) {
		const struct bird_session *s = &v->sessions[i];
		struct status_bgp_session *out = &st->bgp_sessions[st->n_bgp_sessions++];

		snprintf(out->name, sizeof(out->name), "%s", s->name);
		if (s->peer < d->cfg->n_bgp_peers) {
			out->peer = d->cfg->bgp_peers[s->peer].addr;
			out->as = d->cfg->bgp_peers[s->peer].as_set ? d->cfg->bgp_peers[s->peer].as
								    : d->cfg->bgp_as;
		}
		snprintf(out->state, sizeof(out->state), "%s", s->state);
		snprintf(out->info, sizeof(out->info), "%s", s->info);
		out->established = s->established;
	}
	for (unsigned i = 0; i < v->n_routes; i++) {
		const struct bird_route *r = &v->routes[i];
		struct status_bgp_route *out = status_add_bgp_route(st);

		if (!out)
			break;
		if (r->family == AF_INET6)
			addr6_format_prefix(&r->prefix6, out->prefix);
		else
			addr_format_prefix(&r->prefix, out->prefix);
		out->via = r->via;
		/* The probes to the node behind it (bird_probe_targets). */
		probe_status(r->family == AF_INET6 ? d->probe6 : d->probe, &r->via, &out->probe);
	}
	if (!st->healthy)
		return;
	if (v->problem[0]) {
		st->healthy = false;
		snprintf(st->problem, sizeof(st->problem), "%s", v->problem);
	} else if (d->bgp_export == BIRD_EXPORT_REFUSED) {
		st->healthy = false;
		snprintf(st->problem, sizeof(st->problem),
			 "subnet %s is announced over BGP by %s: this node refuses to announce it "
			 "too (give it another --subnet)",
			 addr_format_prefix(&d->topo.subnet, p),
			 nodeaddr_format(&v->conflict_via, a));
	}
}

static void on_status(void *arg, struct status *st)
{
	struct daemon *d = arg;
	char id[NODE_ID_STRLEN];

	snprintf(st->version, sizeof(st->version), "%s", NSAGENT_VERSION);
	st->pid = (uint32_t)getpid();
	st->uptime_ms = ms_since(&d->started);
	st->healthy = d->problem[0] == '\0' && d->have_topology;
	if (!d->have_topology)
		snprintf(st->problem, sizeof(st->problem),
			 "no local topology yet (waiting for a subnet)");
	else
		snprintf(st->problem, sizeof(st->problem), "%s", d->problem);
	if (d->state)
		snprintf(st->node_id, sizeof(st->node_id), "%s",
			 node_id_format(d->state->node_id, id));
	st->node_ip = d->node_ip;
	snprintf(st->bridge, sizeof(st->bridge), "%s", d->cfg->bridge);
	if (d->have_topology) {
		st->subnet = d->topo.subnet;
		st->subnet_known = true;
		if (addr_prefix_host(&d->topo.subnet, 1, &st->bridge_addr) < 0)
			st->bridge_addr = 0;
		st->subnet6_known = d->topo.subnet6_set;
		st->subnet6 = d->topo.subnet6;
		if (st->subnet6_known)
			addr6_prefix_host(&d->topo.subnet6, 1, &st->bridge_addr6);
	}
	st->key = d->tls != NULL;
	if (d->wg) {
		uint8_t pub[WGKEY_LEN];

		wg_public_key(d->wg, pub);
		wgkey_base64(pub, st->wg_public_key);
		st->wg_port = d->cfg->wireguard_port;
		snprintf(st->wg_impl, sizeof(st->wg_impl), "%s", wg_impl_name(d->wg));
	}
	counter_status(d, st);
	for (unsigned i = 0; d->nsalloc && i < nsalloc_count(d->nsalloc); i++) {
		const struct nsalloc_entry *e = nsalloc_get(d->nsalloc, i);

		if (e->origin == NSALLOC_CNI)
			attachment_status(d, e, st);
		else
			namespace_status(d, e, st);
	}
	peer_status(d, st);
	bgp_status(d, st);
}

/* ---- CNI attachments (src/cni_ops.c decides; these do) ---- */

static int cni_apply(void *arg, struct kern_error *err)
{
	return apply_topology(arg, err);
}

static int cni_info(void *arg, const char *container_id, const char *ifname,
		    struct kern_attach_info *info)
{
	return kern_attachment_info(((struct daemon *)arg)->kern, container_id, ifname, info);
}

static int cni_check(void *arg, const char *container_id, const char *ifname,
		     struct kern_error *err)
{
	return kern_attachment_check(((struct daemon *)arg)->kern, container_id, ifname, err);
}

static enum ctl_result on_cni(void *arg, const struct ctl_cni_request *req,
			      struct ctl_cni_result *res, char *msg, size_t size)
{
	static const struct cni_ops ops = {.apply = cni_apply,
					   .info = cni_info,
					   .check = cni_check,
					   .identity = kern_netns_identity};
	struct daemon *d = arg;
	struct cni_node node = {
	    .alloc = d->nsalloc,
	    .ready = d->have_topology,
	    .subnet = d->topo.subnet,
	    .subnet6 = d->topo.subnet6,
	    .subnet6_set = d->topo.subnet6_set,
	    .mtu = d->topo.mtu,
	    .problem = !d->have_topology ? "it has no subnet yet (waiting for peers)" : d->problem,
	    .state_dir = d->cfg->state_dir,
	};

	struct kern_error kerr;

	if (kern_netns_identity("/proc/thread-self/ns/net", &node.self_netns_dev,
				&node.self_netns_ino, &kerr) < 0) {
		snprintf(msg, size, "cannot read the agent's own network namespace: %s",
			 kerr.message);
		return CTL_FAILED;
	}
	return cni_handle(&node, &ops, d, req, res, msg, size);
}

/* The control socket comes first: it also tells whether another agent
 * already runs here, before this one touches the kernel. */
static int start_control(struct daemon *d)
{
	static const struct ctl_handlers handlers = {
	    .status = on_status,
	    .ns_add = on_ns_add,
	    .ns_del = on_ns_del,
	    .reload = on_reload,
	    .leave = on_leave,
	    .rotate_key = on_rotate_key,
	    .cni = on_cni,
	};
	char err[256];
	int ret;

	ret = ctl_server_new(d->base, d->cfg->run_dir, &handlers, d, &d->ctl, err, sizeof(err));
	if (ret < 0)
		log_error("%s", err);
	return ret;
}

/* Metrics endpoint and SIGHUP: after the local topology is up, before the
 * agent says it is ready. */
static int start_operations(struct daemon *d)
{
	char err[256];
	int ret;

	if (d->cfg->metrics_enabled) {
		ret = metrics_server_new(d->base, &d->cfg->metrics, on_status, d, &d->metrics, err,
					 sizeof(err));
		if (ret < 0) {
			log_error("%s", err);
			return ret;
		}
		warn_exposed_metrics(d->cfg);
	}
	apply_probe_interval(d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_hup_signal, d);
	if (!d->sig_hup || evsignal_add(d->sig_hup, NULL) < 0)
		fatal("cannot install the SIGHUP handler");
	return 0;
}

static void stop_operations(struct daemon *d)
{
	metrics_server_free(d->metrics);
	probe_free(d->probe);
	probe_free(d->probe6);
	ctl_server_free(d->ctl);
	if (d->sig_hup)
		event_free(d->sig_hup);
	nsalloc_free(d->nsalloc);
	cfg_free(d->cfg_reloaded);
}

/* The underlay MTU: the node IP's link's. */
static void choose_underlay(struct daemon *d)
{
	struct kern_error kerr = {{0}};
	char ifname[IFNAMSIZ] = "", ip[NODEADDR_STRLEN];
	unsigned mtu = 0;

	if (kern_addr_link(&d->node_ip, &mtu, ifname, &kerr) < 0 || mtu == 0) {
		log_warn("cannot read the underlay MTU (%s): assuming %u", kerr.message,
			 BACKEND_DEFAULT_MTU);
		mtu = BACKEND_DEFAULT_MTU;
	}
	d->underlay_mtu = mtu;
	snprintf(d->underlay_ifname, sizeof(d->underlay_ifname), "%s", ifname);
	if (d->cfg->ipv6 && ifname[0]) {
		d->link_local6_set = kern_link_local6(ifname, &d->link_local6, &kerr) == 0;
		/* Not an error: peers on this link then reach our /64 over VXLAN. */
		if (!d->link_local6_set)
			log_info("%s; IPv6 to and from peers on it goes over VXLAN where the "
				 "backend allows",
				 kerr.message);
	}
	if (backend_has_vtep(d->cfg->backend))
		log_info("data path: backend %s, underlay %s MTU %u; VXLAN device %s (VNI %u, UDP "
			 "port %u, local %s, MTU %u) for peers that are not on-link",
			 backend_name(d->cfg->backend), ifname[0] ? ifname : "?", mtu,
			 KERN_VXLAN_IFNAME, KERN_VXLAN_VNI, KERN_VXLAN_PORT,
			 nodeaddr_format(&d->node_ip, ip),
			 backend_vxlan_mtu(mtu, d->node_ip.family));
	else
		log_info("data path: backend direct, underlay %s MTU %u", ifname[0] ? ifname : "?",
			 mtu);
}

static void daemon_free(struct daemon *d)
{
	birdc_free(d->birdc);
	peer_mgr_free(d->peers);
	wg_free(d->wg);
	rde_free(d->rde);
	tls_ctx_free(d->tls);
	state_free(d->state);
	pidfile_remove(d->pidfile);
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_leave)
		event_free(d->sig_leave);
	if (d->watchdog)
		event_free(d->watchdog);
	stop_operations(d);
	kern_free(d->kern);
	free(d->seeds);
	free(d->topo.namespaces);
	if (d->base)
		event_base_free(d->base);
}

static void mark_ready(struct daemon *d)
{
	int ret;

	if (d->ready)
		return;
	d->ready = true;
	ret = pidfile_write(d->cfg->run_dir, &d->pidfile);
	if (ret < 0)
		log_warn("no pid file in %s (the step that failed is logged above): `nsagent "
			 "down` will not find this agent, stop it by its pid",
			 d->cfg->run_dir);
	log_info("ready");
	notify_send("READY=1\nSTATUS=running: node IP %s",
		    nodeaddr_format(&d->node_ip, (char[NODEADDR_STRLEN]){0}));
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	notify_send("WATCHDOG=1");
}

/* systemd's watchdog (WatchdogSec=): the keep-alive comes from a timer of
 * the event loop itself at half the interval, so a loop that stalls
 * misses it and systemd restarts the agent (the kernel keeps forwarding
 * meanwhile). */
static void start_watchdog(struct daemon *d)
{
	uint64_t usec = notify_watchdog_usec();
	struct timeval half;

	if (!usec)
		return;
	half.tv_sec = (time_t)(usec / 2 / 1000000);
	half.tv_usec = (suseconds_t)(usec / 2 % 1000000);
	d->watchdog = event_new(d->base, -1, EV_PERSIST, on_watchdog, d);
	if (!d->watchdog || event_add(d->watchdog, &half) < 0)
		fatal("cannot start the watchdog timer");
	log_info("systemd watchdog: a keep-alive every %" PRIu64 " ms", usec / 2 / 1000);
	notify_send("WATCHDOG=1");
}

/* The cluster key is in this process's memory from its loading to the
 * agent's exit (inside the TLS context): a core file would carry it to
 * disk, for whoever reads cores. So before it is read the process stops
 * being dumpable (no core, whatever the limit and core_pattern; no ptrace
 * or /proc/PID/mem for processes without CAP_SYS_PTRACE) and its core
 * limit goes to 0, soft and hard. Without a key nothing here is secret,
 * and cores stay as the operator set them up, for debugging. */
static int forbid_core_dumps(const char *key_file)
{
	const struct rlimit none = {0, 0};
	struct rlimit now;
	int dumpable, ret;

	if (setrlimit(RLIMIT_CORE, &none) < 0) {
		ret = -errno;
		log_error("cannot set the core-file limit to 0 (setrlimit RLIMIT_CORE) before "
			  "loading cluster key %s: %s",
			  key_file, strerror(-ret));
		return ret;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		ret = -errno;
		log_error("cannot make the agent non-dumpable (prctl PR_SET_DUMPABLE) before "
			  "loading cluster key %s: %s",
			  key_file, strerror(-ret));
		return ret;
	}
	/* Reported as the kernel now has it. */
	dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	getrlimit(RLIMIT_CORE, &now);
	log_info("core dumps off while the cluster key is in memory (dumpable %d, core limit %llu)",
		 dumpable, (unsigned long long)now.rlim_max);
	return 0;
}

/* Loads the cluster key into a TLS context, or warns that there is none. */
static int setup_security(struct daemon *d)
{
	uint8_t key[TLS_KEY_LEN];
	char msg[512];
	int ret;

	if (!d->cfg->key_file) {
		log_warn("NO CLUSTER KEY: sessions are unauthenticated and unencrypted; any host "
			 "that reaches port %u can join and announce routes. Create a key with "
			 "`nsagent genkey` and start every node with --key-file.",
			 d->cfg->port);
		return 0;
	}
	ret = forbid_core_dumps(d->cfg->key_file);
	if (ret < 0)
		return ret;
	ret = tls_key_load(d->cfg->key_file, key, msg, sizeof(msg));
	if (ret == 0) {
		ret = tls_ctx_new(key, &d->tls);
		if (ret < 0)
			snprintf(msg, sizeof(msg), "cannot set up TLS with the cluster key");
	}
	tls_wipe(key, sizeof(key));
	if (ret < 0) {
		log_error("%s", msg);
		return ret;
	}
	log_info("cluster key %s: every session is TLS 1.3 with the key as PSK", d->cfg->key_file);
	return 0;
}

/* File descriptors the agent holds besides its peer connections (bounded
 * by max-connections), each term an upper bound of what it holds at once:
 * stdio; the event loop (epoll, signal pipe, wake-up fds); the control
 * socket and its clients; the metrics listener and its connections; the
 * peer listener; the kernel layer (netlink sockets for routes, events and
 * nftables, the agent's own namespace, and the sockets and namespace files
 * of the namespaces being made); files opened for a moment (state, pid
 * file, config on reload, /proc); the probe socket. */
#define FD_MARGIN (3 + 4 + (1 + CTL_MAX_CLIENTS) + (1 + METRICS_MAX_CONNECTIONS) + 1 + 16 + 8 + 2)

/* Raises the soft open-file limit to the hard one (the soft default, 1024,
 * is below the default max-connections alone) and says so when even the
 * hard limit leaves too little room. A warning, not a refusal: the margin
 * is an upper bound and max-connections a ceiling that small clusters
 * never reach, so refusing would stop nodes that work today; and running
 * short is no longer fatal (accepts pause and resume, src/listen.c). */
static void raise_file_limit(const struct cfg *cfg)
{
	unsigned long long need = (unsigned long long)cfg->max_connections + FD_MARGIN;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_warn("cannot read the open-file limit (RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit raised = {.rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max};

		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl.rlim_cur = rl.rlim_max;
		else
			log_warn(
			    "cannot raise the open-file limit from %llu to the hard limit %llu: "
			    "%s",
			    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
			    strerror(errno));
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return;
	log_warn("open-file limit %llu (hard limit %llu) is below what the agent may need: "
		 "max-connections %u + %u of its own = %llu; under load it will pause accepting "
		 "connections for lack of file descriptors. Raise the limit to %llu "
		 "(LimitNOFILE= in the systemd unit, ulimit -n) or lower max-connections to %llu",
		 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
		 cfg->max_connections, (unsigned)FD_MARGIN, need, need,
		 rl.rlim_cur > FD_MARGIN ? (unsigned long long)rl.rlim_cur - FD_MARGIN : 1ULL);
}

/* The WireGuard device, when this node runs it: the key pair (made at
 * first start), and wireguard-go started or adopted. */
static int start_wireguard(struct daemon *d)
{
	const struct cfg *cfg = d->cfg;
	struct wg_config wc = {.userspace = cfg->wireguard_userspace,
			       .state_dir = cfg->state_dir,
			       .run_dir = cfg->run_dir,
			       .port = cfg->wireguard_port,
			       .force_userspace = cfg->wireguard_userspace_set};
	char msg[512];
	int ret;

	if (!cfg_wireguard(cfg))
		return 0;
	if (!cfg->key_file)
		log_warn("WIREGUARD WITHOUT A CLUSTER KEY: peers' WireGuard keys come over "
			 "unauthenticated sessions; any host that reaches port %u can announce a "
			 "key and receive the traffic meant for a node. Use --key-file.",
			 cfg->port);
	ret = wg_new(d->base, &wc, &d->wg, msg, sizeof(msg));
	if (ret < 0)
		log_error("%s", msg);
	return ret;
}

/* This host's own networks (IPv6 ones with ipv6 on): routes into them are
 * refused, from adverts (rde) and from BGP (BIRD's import filter). */
static void local_networks(const struct cfg *cfg, struct prefix **local, unsigned *n_local,
			   struct prefix6 **local6, unsigned *n_local6)
{
	struct kern_error kerr = {{0}};

	if (kern_local_prefixes(cfg->bridge, local, n_local, &kerr) < 0)
		log_warn("%s; routes from other nodes are checked against the cluster range only",
			 kerr.message);
	if (cfg->ipv6 && kern_local_prefixes6(cfg->bridge, local6, n_local6, &kerr) < 0)
		log_warn("%s; IPv6 routes from other nodes are checked against the cluster range "
			 "only",
			 kerr.message);
}

/* The route decision engine, with the routes an earlier run installed:
 * they stay installed, as stale, until their owners re-advertise or the
 * restart time ends (graceful restart). */
static void start_rde(struct daemon *d)
{
	static const struct rde_ops ops = {.plan = on_plan};
	const struct cfg *cfg = d->cfg;
	struct rde_config rc = {0};
	struct kern_error kerr = {{0}};
	struct kern_route *adopted = NULL;
	struct prefix *local = NULL;
	struct prefix6 *local6 = NULL;
	unsigned n_adopted = 0, n_local = 0, n_local6 = 0;
	struct timespec now;

	local_networks(cfg, &local, &n_local, &local6, &n_local6);
	memcpy(rc.node_id, d->state->node_id, NODE_ID_LEN);
	rc.cluster = cfg->cluster_cidr;
	rc.subnet_len = 24;
	rc.subnet = cfg->subnet;
	rc.subnet_explicit = cfg->subnet_set;
	rc.ipv6 = cfg->ipv6;
	rc.cluster6 = cfg->cluster_cidr6;
	rc.subnet6 = cfg->subnet6;
	rc.subnet6_explicit = cfg->subnet6_set;
	rc.lease = d->state->subnet;
	rc.lease_set = d->state->subnet_set;
	rc.restart_time_ms = cfg->restart_time_ms;
	rc.local_prefixes = local;
	rc.n_local_prefixes = n_local;
	rc.local_prefixes6 = local6;
	rc.n_local_prefixes6 = n_local6;
	snprintf(rc.underlay_ifname, sizeof(rc.underlay_ifname), "%s", d->underlay_ifname);
	rc.underlay_ipv6 = d->link_local6_set;
	rc.state = d->state;
	rc.backend = cfg->backend;
	rc.wireguard = d->wg != NULL;
	rc.encrypt = cfg->encrypt;
	rc.node_ip = d->node_ip;
	rc.underlay_mtu = d->underlay_mtu;
	rc.path = lookup_path;
	rc.path_arg = d->kern;
	d->rde = rde_new(&rc, &ops, d);
	free(local);
	free(local6);
	/* BIRD's routes are BIRD's; ours from an earlier mesh run go with
	 * the first plan (it has none). */
	if (cfg->routing == CFG_ROUTING_BGP)
		return;
	if (kern_get_routes(d->kern, &adopted, &n_adopted, &kerr) < 0) {
		log_warn("cannot read existing routes (none adopted): %s", kerr.message);
		n_adopted = 0;
	}
	if (n_adopted)
		log_info("adopting %u existing route(s) as stale", n_adopted);
	clock_gettime(CLOCK_MONOTONIC, &now);
	rde_adopt(d->rde, adopted, n_adopted,
		  (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000);
	if (d->wg)
		wg_set_routes(d->wg, adopted, n_adopted);
	if (kern_set_routes(d->kern, adopted, n_adopted, &kerr) < 0)
		log_error("%s", kerr.message);
	free(adopted);
}

/* The include for BIRD, from the config, the topology (our /64 follows
 * the subnet) and this host's networks, as they are now. */
static char *render_bird(struct daemon *d)
{
	const struct cfg *cfg = d->cfg;
	struct bird_config bc = {0};
	struct prefix *local = NULL;
	struct prefix6 *local6 = NULL;
	unsigned n_local = 0, n_local6 = 0;
	char *text;

	local_networks(cfg, &local, &n_local, &local6, &n_local6);
	bc.node_ip = d->node_ip;
	bc.local_as = cfg->bgp_as;
	bc.peers = cfg->bgp_peers;
	bc.n_peers = cfg->n_bgp_peers;
	bc.bridge = cfg->bridge;
	bc.underlay = d->underlay_ifname;
	bc.cluster = cfg->cluster_cidr;
	bc.subnet_len = CFG_NODE_SUBNET_LEN;
	bc.subnet = d->topo.subnet;
	bc.ipv6 = cfg->ipv6;
	bc.cluster6 = cfg->cluster_cidr6;
	bc.subnet6 = d->topo.subnet6;
	bc.subnet6_set = d->topo.subnet6_set;
	bc.link_local6 = d->link_local6;
	bc.link_local6_set = d->link_local6_set;
	bc.local = local;
	bc.n_local = n_local;
	bc.local6 = local6;
	bc.n_local6 = n_local6;
	bc.export = d->bgp_export;
	bc.bfd = true;
	text = bird_render(&bc);
	free(local);
	free(local6);
	return text;
}

static void update_bird(struct daemon *d)
{
	char *text = render_bird(d);

	birdc_set_include(d->birdc, text);
	free(text);
}

/* BIRD was read back: export our subnets once a session has been up for
 * two read-backs (BIRD has had the table) and nobody else announces them. */
static void on_bird_polled(void *arg)
{
	struct daemon *d = arg;
	const struct birdc_view *v = birdc_view(d->birdc);
	enum bird_export next;
	bool established = false;
	char p[PREFIX_STRLEN], a[NODEADDR_STRLEN];

	for (unsigned i = 0; i < v->n_sessions; i++)
		established = established || v->sessions[i].established;
	next = bird_export_next(d->bgp_export, established && d->bgp_was_established, v->conflict);
	d->bgp_was_established = established;
	addr_format_prefix(&d->topo.subnet, p);
	nodeaddr_format(&v->conflict_via, a);
	if (next == d->bgp_export)
		return;
	if (next == BIRD_EXPORT_REFUSED)
		log_error("subnet %s is already announced over BGP by %s: this node is the later "
			  "one and does NOT announce it (give it another --subnet)",
			  p, a);
	else if (d->bgp_export == BIRD_EXPORT_REFUSED)
		log_info("subnet %s is no longer announced by another node: announcing it", p);
	else
		log_info("announcing subnet %s over BGP (no other node announces it)", p);
	d->bgp_export = next;
	update_bird(d);
}

/* A restart of the agent alone: the include on disk is the very one we
 * would write with our subnet announced, so the previous run had seen the
 * cluster's table and announced it. Holding it now would rewrite the
 * include and withdraw the subnet from the whole cluster until BIRD has
 * been read back twice: seconds of lost traffic for a restart that is
 * meant to disturb nothing. Any other include (none, another subnet or
 * peers, a held or refused export) starts held, as a first start does. */
static bool restarted_announcing(struct daemon *d)
{
	char *on, *found = bird_read_include(d->cfg->bird_config);
	char p[PREFIX_STRLEN];
	bool same;

	d->bgp_export = BIRD_EXPORT_ON;
	on = render_bird(d);
	same = found && strcmp(found, on) == 0;
	if (same)
		log_info("the BIRD include %s already announces subnet %s (an agent restart): "
			 "announcing it on, not held",
			 d->cfg->bird_config, addr_format_prefix(&d->topo.subnet, p));
	free(on);
	free(found);
	return same;
}

/* --routing bgp: the include written now (BIRD may start after us), and
 * BIRD driven from here on. */
static int start_bird(struct daemon *d)
{
	static const struct birdc_ops ops = {.polled = on_bird_polled};
	struct birdc_config bc = {0};

	bc.socket_path = d->cfg->bird_socket;
	bc.include_path = d->cfg->bird_config;
	bc.subnet = d->topo.subnet;
	bc.node_ip = d->node_ip;
	d->bgp_export = restarted_announcing(d) ? BIRD_EXPORT_ON : BIRD_EXPORT_HELD;
	if (birdc_new(d->base, &bc, &ops, d, &d->birdc) < 0)
		return -1;
	log_info("routing bgp: BIRD at %s, include %s, AS %u, %u BGP peer(s); no nsagent peer "
		 "sessions",
		 d->cfg->bird_socket, d->cfg->bird_config, d->cfg->bgp_as, d->cfg->n_bgp_peers);
	update_bird(d);
	return 0;
}

/* The peer sessions, feeding the rde. Nothing is dialled before
 * peer_mgr_start(). */
static int start_sessions(struct daemon *d)
{
	const struct cfg *cfg = d->cfg;
	struct peer_mgr_config pc = {0};

	memcpy(pc.node_id, d->state->node_id, NODE_ID_LEN);
	pc.node_ip = d->node_ip;
	/* An IPv4 VTEP only: VXLAN over an IPv6 underlay is not ours to
	 * advertise here (see struct rde_config). */
	if (backend_has_vtep(cfg->backend)) {
		pc.vtep = d->node_ip;
		backend_vtep_mac(&d->node_ip, pc.vtep_mac);
	}
	pc.ipv6 = cfg->ipv6;
	pc.link_local6 = d->link_local6;
	pc.link_local6_set = d->link_local6_set;
	if (d->wg) {
		wg_public_key(d->wg, pc.wg_key);
		pc.wg_port = cfg->wireguard_port;
	}
	pc.listen_port = cfg->port;
	pc.listen_addr = cfg->listen_set ? cfg->listen_addr : d->node_ip;
	pc.tls = d->tls;
	pc.max_peers = cfg->max_peers;
	pc.max_connections = cfg->max_connections;
	pc.dial_rate = cfg->dial_rate;
	pc.accept_rate = cfg->accept_rate;
	pc.rde = d->rde;
	pc.cluster = cfg->cluster_cidr;
	pc.cluster6 = cfg->cluster_cidr6;
	pc.seeds = d->seeds;
	pc.seed_hosts = (const char(*)[ADDR_HOST_MAX + 1]) cfg->peer_hosts;
	pc.n_seeds = cfg->n_peers;
	pc.keepalive_ms = cfg->keepalive_ms;
	pc.hold_time_ms = cfg->hold_time_ms;
	pc.connect_retry_min_ms = cfg->connect_retry_min_ms;
	pc.connect_retry_max_ms = cfg->connect_retry_max_ms;
	pc.handshake_timeout_ms = cfg->handshake_timeout_ms;
	pc.state = d->state;
	return peer_mgr_new(d->base, &pc, &d->peers);
}

int daemon_run(const struct cfg *cfg)
{
	struct daemon d = {.cfg = cfg, .goodbye = PEER_GOODBYE_RESTART};
	struct kern_error kerr = {{0}};
	struct cfg_error cerr;
	char id[NODE_ID_STRLEN];
	int status = 1, ret;

	clock_gettime(CLOCK_MONOTONIC, &d.started);
	raise_file_limit(cfg);
	d.base = event_base_new();
	if (!d.base)
		fatal("cannot create the event loop");
	signal(SIGPIPE, SIG_IGN);
	if (setup_security(&d) < 0 || start_control(&d) < 0)
		goto out;
	ret = state_open(cfg->state_dir, &d.state);
	if (ret < 0) {
		log_error("cannot use state dir %s: %s", cfg->state_dir, strerror(-ret));
		goto out;
	}
	log_info("node id %s", node_id_format(d.state->node_id, id));
	ret = kern_new(d.base, &d.kern, &kerr);
	if (ret < 0) {
		log_error("%s", kerr.message);
		goto out;
	}

	if (resolve_seeds(&d) < 0 || choose_node_ip(&d, &d.node_ip) < 0)
		goto out;
	/* An explicit --node-ip was checked with the config; a derived one
	 * only now. */
	if (cfg_validate_node_ip(cfg, &d.node_ip, &cerr) < 0) {
		log_error("%s: %s", cerr.where, cerr.message);
		goto out;
	}
	choose_underlay(&d);
	if (start_wireguard(&d) < 0)
		goto out;
	start_rde(&d);
	if (cfg->routing == CFG_ROUTING_MESH && start_sessions(&d) < 0)
		goto out;

	d.sig_term = evsignal_new(d.base, SIGTERM, on_stop_signal, &d);
	d.sig_int = evsignal_new(d.base, SIGINT, on_stop_signal, &d);
	d.sig_leave = evsignal_new(d.base, SIGUSR1, on_leave_signal, &d);
	if (!d.sig_term || !d.sig_int || !d.sig_leave || evsignal_add(d.sig_term, NULL) < 0 ||
	    evsignal_add(d.sig_int, NULL) < 0 || evsignal_add(d.sig_leave, NULL) < 0)
		fatal("cannot install signal handlers");
	if (start_operations(&d) < 0)
		goto out;
	start_watchdog(&d);
	/* Every handled signal has its handler now; one sent during start-up
	 * is delivered here and handled by the loop. */
	unblock_signals();

	/* With --subnet or a lease this reconciles the topology at once
	 * (the rde's first plan); otherwise after the seeds have answered. */
	if (cfg->routing == CFG_ROUTING_BGP) {
		/* The explicit subnet is planned at once: the topology first. */
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		rde_start(d.rde, (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000,
			  false);
		rde_flush(d.rde, (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000);
		ret = d.failed || !d.have_topology ? -1 : start_bird(&d);
	} else {
		ret = peer_mgr_start(d.peers);
	}
	if (ret < 0 || d.failed)
		goto out;
	event_base_dispatch(d.base);
	if (d.failed)
		goto out;
	status = 0;
	notify_send("STOPPING=1\nSTATUS=stopping");
	if (d.peers)
		peer_mgr_shutdown(d.peers, d.goodbye);
	/* Leaving takes the device down with its process; a restart keeps
	 * both, so encrypted traffic flows on meanwhile. */
	if (d.wg && d.goodbye == PEER_GOODBYE_LEAVE)
		wg_stop(d.wg);
out:
	daemon_free(&d);
	return status;
}

/* Waits for the agent to exit: its pidfd turns readable when it does;
 * without one (kernels before 5.3) polls with kill(pid, 0) every
 * millisecond. */
static int wait_exit(int pidfd, pid_t pid, unsigned timeout_ms)
{
	struct timespec step = {.tv_nsec = 1000 * 1000};

	if (pidfd >= 0) {
		struct pollfd p = {.fd = pidfd, .events = POLLIN};
		int n;

		do
			n = poll(&p, 1, (int)timeout_ms);
		while (n < 0 && errno == EINTR);
		return n > 0 ? 0 : n == 0 ? -ETIMEDOUT : -errno;
	}
	for (unsigned waited = 0; kill(pid, 0) == 0; waited++) {
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		nanosleep(&step, NULL);
	}
	return 0;
}

int daemon_stop_running(const struct cfg *cfg, unsigned timeout_ms, pid_t *pid)
{
	int pidfd, ret;

	ret = pidfile_signal(cfg->run_dir, SIGUSR1, &pidfd, pid);
	if (ret < 0)
		return ret;
	ret = wait_exit(pidfd, *pid, timeout_ms);
	if (pidfd >= 0)
		close(pidfd);
	return ret;
}
