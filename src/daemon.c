/* DOC: the running agent. Owns the event loop and wires the modules onto
 * it: the validated config, the kernel layer (local topology and routes)
 * and signal handling. It derives the desired local topology from the
 * config and hands it to the kernel layer as a whole; drift repair is the
 * kernel layer's own business after that.
 *
 * Invariant: nothing here changes the kernel directly; SIGTERM/SIGINT leave
 * the kernel state in place so that namespaces keep their networking while
 * the agent restarts. */
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

#include <event2/buffer.h>
#include <event2/event.h>

#include "nsagent/ctl.h"
#include "nsagent/daemon.h"
#include "nsagent/kern.h"
#include "nsagent/log.h"
#include "nsagent/metrics.h"
#include "nsagent/nsalloc.h"
#include "nsagent/status.h"
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
	struct kern_topology topo;
	char *pid_path;

	/* Operations (control socket, reload, runtime namespaces, metrics). */
	struct cfg *cfg_reloaded; /* owned; d->cfg points here after a reload */
	struct nsalloc *nsalloc;  /* namespace -> address, persisted */
	struct ctl_server *ctl;
	struct metrics_server *metrics;
	struct event *sig_hup;
	/* Peer table, node id and key for status: the peer layer fills them. */
	struct status_provider status_provider;
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
	event_base_loopexit(d->base, NULL);
}

static void on_leave_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)sig;
	(void)what;
	log_info("asked to leave the cluster (nsagent down), stopping");
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

/* ---- operations: runtime namespaces, reload, status, metrics ---- */

/* The topology's namespaces are the allocator's: config ones, then runtime. */
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
	}
}

/* Opens the allocator for the topology's subnet and gives the config's
 * namespaces their (persisted or new) addresses. */
static int open_namespaces(struct daemon *d)
{
	char p[PREFIX_STRLEN];
	int ret;

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
			  ret == -ENOSPC ? "the subnet is full" : strerror(-ret));
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

	ret = nsalloc_add(d->nsalloc, name, &addr);
	if (ret == -EEXIST) {
		snprintf(msg, size, "namespace %s exists (%s)", name,
			 addr_format(nsalloc_find(d->nsalloc, name)->addr, a));
		return CTL_EXISTS;
	}
	if (ret == -ENOSPC) {
		snprintf(msg, size, "subnet %s has no free address for %s",
			 addr_format_prefix(&d->topo.subnet, p), name);
		return CTL_FAILED;
	}
	if (ret < 0) {
		snprintf(msg, size, "cannot record namespace %s: %s", name, strerror(-ret));
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
	log_info("%s", msg);
	return CTL_OK;
}

static enum ctl_result on_ns_del(void *arg, const char *name, char *msg, size_t size)
{
	struct daemon *d = arg;
	struct kern_error kerr = {{0}};
	int ret;

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

static bool same_peers(const struct cfg *a, const struct cfg *b)
{
	if (a->n_peers != b->n_peers)
		return false;
	for (unsigned i = 0; i < a->n_peers; i++) {
		if (a->peers[i].addr != b->peers[i].addr || a->peers[i].port != b->peers[i].port)
			return false;
	}
	return true;
}

/* Settings only a restart applies: lists the changed ones in buf and puts
 * the running values into next, so that d->cfg always says what runs. */
static void keep_restart_only(struct cfg *next, const struct cfg *old, char *buf, size_t size)
{
	struct {
		const char *name;
		bool changed;
	} keys[] = {
	    {"peer", !same_peers(next, old)},
	    {"port", next->port != old->port},
	    {"node-ip", next->node_ip != old->node_ip},
	    {"subnet", next->subnet_set != old->subnet_set ||
			   !addr_prefix_equal(&next->subnet, &old->subnet)},
	    {"cluster-cidr", !addr_prefix_equal(&next->cluster_cidr, &old->cluster_cidr)},
	    {"bridge", strcmp(next->bridge, old->bridge) != 0},
	    {"state-dir", strcmp(next->state_dir, old->state_dir) != 0},
	    {"run-dir", strcmp(next->run_dir, old->run_dir) != 0},
	    {"keepalive", next->keepalive_ms != old->keepalive_ms},
	    {"hold-time", next->hold_time_ms != old->hold_time_ms},
	    {"restart-time", next->restart_time_ms != old->restart_time_ms},
	    {"connect-retry-min", next->connect_retry_min_ms != old->connect_retry_min_ms},
	    {"connect-retry-max", next->connect_retry_max_ms != old->connect_retry_max_ms},
	    {"handshake-timeout", next->handshake_timeout_ms != old->handshake_timeout_ms},
	    {"backend", next->backend != old->backend},
	};
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].changed && len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "",
						keys[i].name);
	}
	memcpy(next->peers, old->peers, sizeof(next->peers));
	next->n_peers = old->n_peers;
	next->port = old->port;
	next->node_ip = old->node_ip;
	next->subnet = old->subnet;
	next->subnet_set = old->subnet_set;
	next->cluster_cidr = old->cluster_cidr;
	memcpy(next->bridge, old->bridge, sizeof(next->bridge));
	free(next->state_dir);
	next->state_dir = xstrdup(old->state_dir);
	free(next->run_dir);
	next->run_dir = xstrdup(old->run_dir);
	next->keepalive_ms = old->keepalive_ms;
	next->hold_time_ms = old->hold_time_ms;
	next->restart_time_ms = old->restart_time_ms;
	next->connect_retry_min_ms = old->connect_retry_min_ms;
	next->connect_retry_max_ms = old->connect_retry_max_ms;
	next->handshake_timeout_ms = old->handshake_timeout_ms;
	next->backend = old->backend;
}

static bool same_metrics(const struct cfg *a, const struct cfg *b)
{
	return a->metrics_enabled == b->metrics_enabled &&
	       (!a->metrics_enabled ||
		(a->metrics.addr == b->metrics.addr && a->metrics.port == b->metrics.port));
}

/* Re-reads the config from the original command line, validates it whole,
 * and applies only what changed. Everything that can fail (parsing,
 * binding a new metrics address, finding addresses for new namespaces)
 * happens before anything is switched, so a failure keeps the running
 * config untouched. */
static enum ctl_result daemon_reload(struct daemon *d, char *msg, size_t size)
{
	struct cfg *next = cfg_new();
	struct metrics_server *metrics = NULL;
	struct kern_error kerr = {{0}};
	struct cfg_error err;
	char restart[256], bind_err[256];
	bool metrics_changed;
	int ret;

	if (!reload_argv) {
		snprintf(msg, size, "this agent cannot reload (started without its command line)");
		goto fail;
	}
	if (cfg_load(next, reload_argc, reload_argv, &err) < 0) {
		snprintf(msg, size, "%s: %s (the running config is kept)", err.where, err.message);
		log_error("reload: %s", msg);
		metrics_inc(METRICS_RELOADS_FAILED);
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
		if (metrics_server_new(d->base, &next->metrics, &metrics, bind_err,
				       sizeof(bind_err)) < 0) {
			snprintf(msg, size, "%s (the running config is kept)", bind_err);
			log_error("reload: %s", msg);
			if (freed && metrics_server_new(d->base, &d->cfg->metrics, &d->metrics,
							bind_err, sizeof(bind_err)) < 0)
				log_error("%s", bind_err);
			goto fail;
		}
	}
	ret = nsalloc_set_config(d->nsalloc, (const char(*)[CFG_NS_NAME_MAX + 1]) next->namespaces,
				 next->n_namespaces);
	if (ret < 0) {
		char p[PREFIX_STRLEN];

		snprintf(msg, size, "namespaces: %s (the running config is kept)",
			 ret == -ENOSPC ? "they do not all fit the subnet with the runtime ones"
					: strerror(-ret));
		if (ret == -ENOSPC)
			log_error(
			    "reload: namespaces do not fit subnet %s; keeping the running config",
			    addr_format_prefix(&d->topo.subnet, p));
		else
			log_error("reload: %s", msg);
		metrics_server_free(metrics);
		goto fail;
	}

	/* From here on the new config is in force. */
	keep_restart_only(next, d->cfg, restart, sizeof(restart));
	if (metrics_changed) {
		metrics_server_free(d->metrics);
		d->metrics = metrics;
	}
	if (next->log_level != d->cfg->log_level) {
		log_set_level(next->log_level);
		log_info("log level is now %s", log_level_name(next->log_level));
	}
	/* The first config belongs to the caller of daemon_run; later ones are ours. */
	cfg_free(d->cfg_reloaded);
	d->cfg = next;
	d->cfg_reloaded = next;
	metrics_inc(METRICS_RELOADS_OK);
	ret = apply_topology(d, &kerr);
	if (ret < 0) {
		snprintf(msg, size, "config reloaded, but: %s", kerr.message);
		return CTL_FAILED;
	}
	if (restart[0]) {
		snprintf(msg, size,
			 "config reloaded; changes to %s take effect at the next restart", restart);
		log_warn("reload: %s", msg);
	} else {
		snprintf(msg, size, "config reloaded");
		log_info("reload: config reloaded");
	}
	return CTL_OK;
fail:
	metrics_inc(METRICS_RELOADS_FAILED);
	cfg_free(next);
	return CTL_FAILED;
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

static void on_leave(void *arg)
{
	struct daemon *d = arg;

	log_info("asked to leave the cluster (control socket), stopping");
	event_base_loopexit(d->base, NULL);
}

static uint64_t ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - start->tv_sec) * 1000 +
	       (uint64_t)((now.tv_nsec - start->tv_nsec) / 1000000);
}

static void on_status(void *arg, struct status *st)
{
	struct daemon *d = arg;

	snprintf(st->version, sizeof(st->version), "%s", NSAGENT_VERSION);
	st->pid = (uint32_t)getpid();
	st->uptime_ms = ms_since(&d->started);
	st->healthy = d->problem[0] == '\0';
	snprintf(st->problem, sizeof(st->problem), "%s", d->problem);
	st->node_ip = d->cfg->node_ip;
	st->subnet = d->topo.subnet;
	st->subnet_known = true;
	snprintf(st->bridge, sizeof(st->bridge), "%s", d->topo.bridge);
	if (addr_prefix_host(&d->topo.subnet, 1, &st->bridge_addr) < 0)
		st->bridge_addr = 0;
	for (unsigned i = 0; i < nsalloc_count(d->nsalloc); i++) {
		const struct nsalloc_entry *e = nsalloc_get(d->nsalloc, i);
		struct status_namespace *ns = status_add_namespace(st);

		if (!ns)
			break;
		snprintf(ns->name, sizeof(ns->name), "%s", e->name);
		ns->addr = e->addr;
		ns->runtime = e->runtime;
	}
	if (d->status_provider.fill)
		d->status_provider.fill(d->status_provider.arg, st);
}

/* Scrape time: copy in what other modules keep themselves. */
static void collect_metrics(void *arg, struct evbuffer *extra)
{
	struct daemon *d = arg;
	struct kern_stats stats;

	(void)extra;
	kern_get_stats(d->kern, &stats);
	metrics_set(METRICS_RECONCILE_CHANGES, stats.changes);
	metrics_set(METRICS_RECONCILE_REPAIRS, stats.repairs);
	metrics_set(METRICS_RECONCILE_ERRORS, stats.errors);
	metrics_set(METRICS_NAMESPACES, nsalloc_count(d->nsalloc));
	metrics_set(METRICS_HEALTHY, d->problem[0] == '\0');
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

	metrics_set_collector(collect_metrics, d);
	if (d->cfg->metrics_enabled) {
		ret = metrics_server_new(d->base, &d->cfg->metrics, &d->metrics, err, sizeof(err));
		if (ret < 0) {
			log_error("%s", err);
			return ret;
		}
	}
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_hup_signal, d);
	if (!d->sig_hup || evsignal_add(d->sig_hup, NULL) < 0)
		fatal("cannot install the SIGHUP handler");
	return 0;
}

static void stop_operations(struct daemon *d)
{
	metrics_set_collector(NULL, NULL);
	metrics_server_free(d->metrics);
	ctl_server_free(d->ctl);
	if (d->sig_hup)
		event_free(d->sig_hup);
	nsalloc_free(d->nsalloc);
	cfg_free(d->cfg_reloaded);
}

static void daemon_free(struct daemon *d)
{
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
	stop_operations(d);
	kern_free(d->kern);
	free(d->topo.namespaces);
	if (d->base)
		event_base_free(d->base);
}

int daemon_run(const struct cfg *cfg)
{
	struct daemon d = {.cfg = cfg};
	struct kern_error kerr = {{0}};
	struct kern_stats stats;
	char subnet[PREFIX_STRLEN];
	int status = 1, ret;

	if (!cfg->subnet_set) {
		log_error("no subnet: give --subnet CIDR");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &d.started);
	d.base = event_base_new();
	if (!d.base)
		fatal("cannot create the event loop");
	if (build_topology(cfg, &cfg->subnet, &d.topo) < 0) {
		log_error("subnet %s has too few addresses for %u namespaces",
			  addr_format_prefix(&cfg->subnet, subnet), cfg->n_namespaces);
		goto out;
	}
	if (open_namespaces(&d) < 0 || start_control(&d) < 0)
		goto out;
	ret = kern_new(d.base, &d.kern, &kerr);
	if (ret < 0) {
		log_error("%s", kerr.message);
		goto out;
	}
	ret = kern_set_topology(d.kern, &d.topo, &kerr);
	kern_get_stats(d.kern, &stats);
	if (ret < 0) {
		log_error("%s", kerr.message);
		goto out;
	}
	log_info("local topology reconciled: bridge %s, subnet %s, %u namespaces (%llu changes)",
		 d.topo.bridge, addr_format_prefix(&d.topo.subnet, subnet), d.topo.n_namespaces,
		 (unsigned long long)stats.changes);

	d.sig_term = evsignal_new(d.base, SIGTERM, on_stop_signal, &d);
	d.sig_int = evsignal_new(d.base, SIGINT, on_stop_signal, &d);
	d.sig_leave = evsignal_new(d.base, SIGUSR1, on_leave_signal, &d);
	if (!d.sig_term || !d.sig_int || !d.sig_leave || evsignal_add(d.sig_term, NULL) < 0 ||
	    evsignal_add(d.sig_int, NULL) < 0 || evsignal_add(d.sig_leave, NULL) < 0)
		fatal("cannot install signal handlers");
	signal(SIGPIPE, SIG_IGN);
	if (start_operations(&d) < 0)
		goto out;
	ret = write_pid_file(&d);
	if (ret < 0) {
		log_error("cannot write pid file in %s: %s", cfg->run_dir, strerror(-ret));
		goto out;
	}
	log_info("ready");
	notify_systemd("READY=1");
	event_base_dispatch(d.base);
	status = 0;
	notify_systemd("STOPPING=1");
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
