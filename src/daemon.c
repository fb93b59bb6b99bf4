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

#include <event2/event.h>

#include "nsagent/daemon.h"
#include "nsagent/kern.h"
#include "nsagent/log.h"
#include "nsagent/xalloc.h"

struct daemon {
	const struct cfg *cfg;
	struct event_base *base;
	struct kern *kern;
	struct event *sig_term;
	struct event *sig_int;
	struct event *sig_leave;
	struct kern_topology topo;
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
	d.base = event_base_new();
	if (!d.base)
		fatal("cannot create the event loop");
	if (build_topology(cfg, &cfg->subnet, &d.topo) < 0) {
		log_error("subnet %s has too few addresses for %u namespaces",
			  addr_format_prefix(&cfg->subnet, subnet), cfg->n_namespaces);
		goto out;
	}
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
