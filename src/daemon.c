/* DOC: the running agent. Owns the event loop and wires the modules onto
 * it: the validated config, the persisted state, the kernel layer (local
 * topology and routes), the peer sessions (peer_mgr) and signal handling.
 * It derives the desired local topology from the node subnet (given, or
 * claimed by peer_mgr) and hands it to the kernel layer as a whole, and
 * hands peer_mgr's wanted routes to the kernel layer whenever they change;
 * drift repair is the kernel layer's own business after that.
 *
 * Data path: each peer's mode (direct or vxlan) is chosen when its advert
 * arrives (on_choose_mode: --backend, and for auto whether the kernel's
 * route to its node IP has a gateway). The MTU of the bridge, veths and
 * namespaces is the underlay's (the node IP's link) while every route is
 * direct, and the underlay's minus the VXLAN header as soon as one route
 * (or --backend vxlan) may cross VXLAN, so a full-size packet of a
 * namespace never needs fragmenting on any path (backend.h).
 *
 * Startup order matters for graceful restart: the kernel's tagged routes
 * are adopted (as stale, and re-applied unchanged) before any session
 * starts, so a restart never removes a route that traffic is using.
 *
 * Invariant: nothing here changes the kernel directly; SIGTERM/SIGINT send
 * goodbye(restart) and leave the kernel state in place so that namespaces
 * keep their networking while the agent restarts; SIGUSR1 (`nsagent down`)
 * sends goodbye(leave) so peers withdraw our routes at once. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <event2/event.h>

#include "nsagent/backend.h"
#include "nsagent/daemon.h"
#include "nsagent/kern.h"
#include "nsagent/log.h"
#include "nsagent/peer.h"
#include "nsagent/state.h"
#include "nsagent/xalloc.h"

struct daemon {
	const struct cfg *cfg;
	struct event_base *base;
	struct kern *kern;
	struct event *sig_term;
	struct event *sig_int;
	struct event *sig_leave;
	struct kern_topology topo;
	bool have_topology;
	uint32_t node_ip;
	unsigned underlay_mtu;
	struct state *state;
	struct peer_mgr *peers;
	enum peer_goodbye goodbye;
	bool ready;
	bool failed; /* a fatal error inside a callback: stop the loop */
	char *pid_path;
};

/* Namespaces take the subnet's addresses in order after the bridge's:
 * .2, .3, ... (the bridge has .1). */
static int build_topology(const struct cfg *cfg, const struct prefix *subnet,
			  struct kern_topology *topo)
{
	memset(topo, 0, sizeof(*topo));
	snprintf(topo->bridge, sizeof(topo->bridge), "%s", cfg->bridge);
	topo->subnet = *subnet;
	topo->cluster = cfg->cluster_cidr;
	topo->namespaces =
	    xcalloc(cfg->n_namespaces ? cfg->n_namespaces : 1, sizeof(*topo->namespaces));
	topo->n_namespaces = cfg->n_namespaces;
	for (unsigned i = 0; i < cfg->n_namespaces; i++) {
		struct kern_namespace *ns = &topo->namespaces[i];

		snprintf(ns->name, sizeof(ns->name), "%s", cfg->namespaces[i]);
		if (addr_prefix_host(subnet, i + 2, &ns->addr) < 0)
			return -ERANGE;
	}
	return 0;
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

static int write_pid_file(struct daemon *d)
{
	char buf[32];
	int fd, len, ret = 0;

	if (mkdir(d->cfg->run_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (asprintf(&d->pid_path, "%s/nsagent.pid", d->cfg->run_dir) < 0)
		fatal("out of memory");
	fd = open(d->pid_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len)
		ret = -EIO;
	close(fd);
	return ret;
}

/* systemd's readiness protocol (sd_notify(3)): one datagram to
 * $NOTIFY_SOCKET; an abstract socket name starts with '@'. Quiet without it. */
static void notify_systemd(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, len);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		log_warn("cannot notify systemd at %s: %s", path, strerror(errno));
	close(fd);
}

static void mark_ready(struct daemon *d);

static bool any_vxlan(const struct kern_route *routes, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (routes[i].mode == KERN_MODE_VXLAN)
			return true;
	return false;
}

/* The data-path part of the topology: MTUs and the VXLAN device. */
static void topology_datapath(const struct daemon *d, struct kern_topology *topo, bool vxlan)
{
	topo->mtu = backend_namespace_mtu(d->underlay_mtu, d->cfg->backend, vxlan);
	topo->vtep = backend_has_vtep(d->cfg->backend) ? d->node_ip : 0;
	backend_vtep_mac(d->node_ip, topo->vtep_mac);
	topo->vxlan_mtu = backend_vxlan_mtu(d->underlay_mtu);
}

/* The namespaces' MTU follows the routes: lowered before the first vxlan
 * route goes in, raised only after the last one is gone. */
static void set_topology_mtu(struct daemon *d, unsigned mtu, bool vxlan)
{
	struct kern_error kerr = {{0}};

	log_info("namespace MTU %u -> %u (%s)", d->topo.mtu, mtu,
		 vxlan ? "a peer is reached over VXLAN" : "every peer is reached directly");
	d->topo.mtu = mtu;
	if (kern_set_topology(d->kern, &d->topo, &kerr) < 0)
		log_error("%s", kerr.message);
}

/* peer_mgr: the wanted route set changed. */
static void on_routes_changed(void *arg)
{
	struct daemon *d = arg;
	struct kern_error kerr = {{0}};
	struct kern_route *routes;
	unsigned n, mtu;
	bool vxlan;

	peer_mgr_routes(d->peers, &routes, &n);
	vxlan = any_vxlan(routes, n);
	mtu = backend_namespace_mtu(d->underlay_mtu, d->cfg->backend, vxlan);
	if (d->have_topology && mtu < d->topo.mtu)
		set_topology_mtu(d, mtu, vxlan);
	if (kern_set_routes(d->kern, routes, n, &kerr) < 0)
		log_error("%s", kerr.message);
	else
		log_debug("routes reconciled: %u cross-node routes", n);
	if (d->have_topology && mtu > d->topo.mtu)
		set_topology_mtu(d, mtu, vxlan);
	free(routes);
}

/* peer_mgr: a peer's advert arrived; which data path reaches it. */
static enum kern_mode on_choose_mode(void *arg, uint32_t node_ip, bool peer_vtep, char *why,
				     size_t why_size)
{
	struct daemon *d = arg;
	struct kern_error kerr = {{0}};
	struct kern_path path = {0};
	char gw[ADDR_STRLEN];
	bool onlink = true, fallback = false;
	enum kern_mode mode;
	int len = 0;

	if (d->cfg->backend == CFG_BACKEND_AUTO) {
		if (kern_route_path(node_ip, &path, &kerr) < 0) {
			onlink = false;
			len = snprintf(why, why_size, "%s", kerr.message);
		} else if (path.gateway) {
			onlink = false;
			len = snprintf(why, why_size, "auto: behind gateway %s on %s",
				       addr_format(path.gateway, gw), path.ifname);
		} else {
			len = snprintf(why, why_size, "auto: on-link on %s", path.ifname);
		}
	} else {
		len = snprintf(why, why_size, "--backend %s", backend_name(d->cfg->backend));
	}
	mode = backend_choose(d->cfg->backend, onlink, peer_vtep, &fallback);
	if (fallback && len >= 0 && (size_t)len < why_size)
		snprintf(why + len, why_size - (size_t)len, "; it advertises no VTEP, so direct");
	return mode;
}

/* peer_mgr: our subnet is known (given, leased or claimed) or moved. */
static void on_subnet_claimed(void *arg, const struct prefix *subnet)
{
	struct daemon *d = arg;
	struct kern_error kerr = {{0}};
	struct kern_stats stats;
	char buf[PREFIX_STRLEN];

	struct kern_route *routes;
	unsigned n;

	free(d->topo.namespaces);
	d->topo.namespaces = NULL;
	peer_mgr_routes(d->peers, &routes, &n);
	bool vxlan = any_vxlan(routes, n);

	free(routes);
	if (build_topology(d->cfg, subnet, &d->topo) < 0) {
		log_error("subnet %s has too few addresses for %u namespaces",
			  addr_format_prefix(subnet, buf), d->cfg->n_namespaces);
		d->failed = true;
		event_base_loopexit(d->base, NULL);
		return;
	}
	topology_datapath(d, &d->topo, vxlan);
	if (kern_set_topology(d->kern, &d->topo, &kerr) < 0) {
		log_error("%s", kerr.message);
		if (!d->have_topology) {
			d->failed = true;
			event_base_loopexit(d->base, NULL);
		}
		return;
	}
	d->have_topology = true;
	kern_get_stats(d->kern, &stats);
	log_info("local topology reconciled: bridge %s, subnet %s, %u namespaces (%llu changes)",
		 d->topo.bridge, addr_format_prefix(&d->topo.subnet, buf), d->topo.n_namespaces,
		 (unsigned long long)stats.changes);
	/* Routes that overlapped the old subnet may be wanted now, and the
	 * other way round. */
	on_routes_changed(d);
	mark_ready(d);
}

static void on_subnet_conflict(void *arg, const struct prefix *subnet,
			       const uint8_t other_node_id[NODE_ID_LEN], uint32_t other_node_ip)
{
	(void)arg;
	(void)subnet;
	(void)other_node_id;
	(void)other_node_ip;
	/* peer_mgr has logged it with the details; nothing else to do until
	 * the operator fixes one of the two configurations. */
}

static const struct peer_mgr_ops peer_ops = {
    .routes_changed = on_routes_changed,
    .subnet_claimed = on_subnet_claimed,
    .subnet_conflict = on_subnet_conflict,
    .choose_mode = on_choose_mode,
};

/* A global IPv4 address of this host outside the cluster range, for a node
 * started without --peer and --node-ip (the first node of a cluster). */
static int first_host_address(const struct cfg *cfg, uint32_t *out)
{
	struct ifaddrs *ifas, *ifa;
	int ret = -EADDRNOTAVAIL;

	if (getifaddrs(&ifas) < 0)
		return -errno;
	for (ifa = ifas; ifa; ifa = ifa->ifa_next) {
		uint32_t addr;

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET)
			continue;
		addr = ntohl(((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr);
		if ((addr >> 24) == 127 || addr_prefix_contains_addr(&cfg->cluster_cidr, addr))
			continue;
		*out = addr;
		ret = 0;
		break;
	}
	freeifaddrs(ifas);
	return ret;
}

/* --node-ip, else the source address towards the first peer (given or
 * persisted), else the host's first global address. */
static int choose_node_ip(const struct daemon *d, uint32_t *node_ip)
{
	struct kern_error kerr = {{0}};
	const struct endpoint *first = NULL;
	char buf[ADDR_STRLEN];
	int ret;

	if (d->cfg->node_ip) {
		*node_ip = d->cfg->node_ip;
		return 0;
	}
	if (d->cfg->n_peers)
		first = &d->cfg->peers[0];
	else if (d->state->n_peers)
		first = &d->state->peers[0];
	if (first) {
		ret = kern_route_source(first->addr, node_ip, &kerr);
		if (ret < 0) {
			log_error("cannot choose a node IP (give --node-ip): %s", kerr.message);
			return ret;
		}
		log_info("node IP %s (the source address towards %s)", addr_format(*node_ip, buf),
			 addr_format(first->addr, (char[ADDR_STRLEN]){0}));
		return 0;
	}
	ret = first_host_address(d->cfg, node_ip);
	if (ret < 0) {
		log_error("cannot choose a node IP: no --peer and no global IPv4 address; give "
			  "--node-ip");
		return ret;
	}
	log_info("node IP %s (no --peer: the host's first global address)",
		 addr_format(*node_ip, buf));
	return 0;
}

/* The underlay MTU: the node IP's link's. */
static void choose_underlay(struct daemon *d)
{
	struct kern_error kerr = {{0}};
	char ifname[IFNAMSIZ] = "", ip[ADDR_STRLEN];
	unsigned mtu = 0;

	if (kern_addr_link(d->node_ip, &mtu, ifname, &kerr) < 0 || mtu == 0) {
		log_warn("cannot read the underlay MTU (%s): assuming %u", kerr.message,
			 BACKEND_DEFAULT_MTU);
		mtu = BACKEND_DEFAULT_MTU;
	}
	d->underlay_mtu = mtu;
	if (backend_has_vtep(d->cfg->backend))
		log_info("data path: backend %s, underlay %s MTU %u; VXLAN device %s (VNI %u, UDP "
			 "port %u, local %s, MTU %u) for peers that are not on-link",
			 backend_name(d->cfg->backend), ifname[0] ? ifname : "?", mtu,
			 KERN_VXLAN_IFNAME, KERN_VXLAN_VNI, KERN_VXLAN_PORT,
			 addr_format(d->node_ip, ip), backend_vxlan_mtu(mtu));
	else
		log_info("data path: backend direct, underlay %s MTU %u", ifname[0] ? ifname : "?",
			 mtu);
}

static void daemon_free(struct daemon *d)
{
	peer_mgr_free(d->peers);
	state_free(d->state);
	if (d->pid_path) {
		unlink(d->pid_path);
		free(d->pid_path);
	}
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_leave)
		event_free(d->sig_leave);
	kern_free(d->kern);
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
	ret = write_pid_file(d);
	if (ret < 0)
		log_warn("cannot write pid file in %s: %s", d->cfg->run_dir, strerror(-ret));
	log_info("ready");
	notify_systemd("READY=1");
}

int daemon_run(const struct cfg *cfg)
{
	struct daemon d = {.cfg = cfg, .goodbye = PEER_GOODBYE_RESTART};
	struct kern_error kerr = {{0}};
	struct peer_mgr_config pc = {0};
	struct kern_route *adopted = NULL;
	unsigned n_adopted = 0;
	char id[NODE_ID_STRLEN];
	int status = 1, ret;

	d.base = event_base_new();
	if (!d.base)
		fatal("cannot create the event loop");
	signal(SIGPIPE, SIG_IGN);
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

	memcpy(pc.node_id, d.state->node_id, NODE_ID_LEN);
	if (choose_node_ip(&d, &pc.node_ip) < 0)
		goto out;
	d.node_ip = pc.node_ip;
	choose_underlay(&d);
	if (backend_has_vtep(cfg->backend)) {
		pc.vtep = d.node_ip;
		backend_vtep_mac(d.node_ip, pc.vtep_mac);
	}
	pc.listen_port = cfg->port;
	pc.cluster = cfg->cluster_cidr;
	pc.subnet_len = 24;
	pc.subnet = cfg->subnet;
	pc.subnet_explicit = cfg->subnet_set;
	pc.lease = d.state->subnet;
	pc.lease_set = d.state->subnet_set;
	pc.seeds = cfg->peers;
	pc.n_seeds = cfg->n_peers;
	pc.keepalive_ms = cfg->keepalive_ms;
	pc.hold_time_ms = cfg->hold_time_ms;
	pc.restart_time_ms = cfg->restart_time_ms;
	pc.connect_retry_min_ms = cfg->connect_retry_min_ms;
	pc.connect_retry_max_ms = cfg->connect_retry_max_ms;
	pc.handshake_timeout_ms = cfg->handshake_timeout_ms;
	pc.state = d.state;
	ret = peer_mgr_new(d.base, &pc, &peer_ops, &d, &d.peers);
	if (ret < 0)
		goto out;

	/* Graceful restart: what an earlier run installed stays installed,
	 * as stale, until its owners re-advertise or the restart time ends. */
	ret = kern_get_routes(d.kern, &adopted, &n_adopted, &kerr);
	if (ret < 0) {
		log_warn("cannot read existing routes (none adopted): %s", kerr.message);
		n_adopted = 0;
	}
	if (n_adopted)
		log_info("adopting %u existing route(s) as stale", n_adopted);
	peer_mgr_adopt_stale(d.peers, adopted, n_adopted);
	if (kern_set_routes(d.kern, adopted, n_adopted, &kerr) < 0)
		log_error("%s", kerr.message);
	free(adopted);

	d.sig_term = evsignal_new(d.base, SIGTERM, on_stop_signal, &d);
	d.sig_int = evsignal_new(d.base, SIGINT, on_stop_signal, &d);
	d.sig_leave = evsignal_new(d.base, SIGUSR1, on_leave_signal, &d);
	if (!d.sig_term || !d.sig_int || !d.sig_leave || evsignal_add(d.sig_term, NULL) < 0 ||
	    evsignal_add(d.sig_int, NULL) < 0 || evsignal_add(d.sig_leave, NULL) < 0)
		fatal("cannot install signal handlers");

	/* With --subnet or a lease this reconciles the topology at once
	 * (on_subnet_claimed); otherwise after the seeds have answered. */
	ret = peer_mgr_start(d.peers);
	if (ret < 0 || d.failed)
		goto out;
	event_base_dispatch(d.base);
	if (d.failed)
		goto out;
	status = 0;
	notify_systemd("STOPPING=1");
	peer_mgr_shutdown(d.peers, d.goodbye);
out:
	daemon_free(&d);
	return status;
}

int daemon_stop_running(const struct cfg *cfg, unsigned timeout_ms)
{
	char *path = NULL, buf[32] = "";
	struct timespec step = {.tv_nsec = 10 * 1000 * 1000};
	long pid;
	FILE *f;
	int ret = 0;

	if (asprintf(&path, "%s/nsagent.pid", cfg->run_dir) < 0)
		fatal("out of memory");
	f = fopen(path, "re");
	if (!f)
		goto out; /* no agent running here */
	if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%ld", &pid) != 1 || pid <= 1) {
		fclose(f);
		ret = -EINVAL;
		goto out;
	}
	fclose(f);
	if (kill((pid_t)pid, SIGUSR1) < 0) {
		ret = errno == ESRCH ? 0 : -errno; /* a stale pid file */
		goto out;
	}
	for (unsigned waited = 0; kill((pid_t)pid, 0) == 0; waited += 10) {
		if (waited >= timeout_ms) {
			ret = -ETIMEDOUT;
			goto out;
		}
		nanosleep(&step, NULL);
	}
out:
	free(path);
	return ret;
}
