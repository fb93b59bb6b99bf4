/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the node's WireGuard device (include/nsagent/wg.h).
 *
 * Owns the key pair (wgkey.c), the choice of implementation, the
 * wireguard-go process and the device's configuration; the kernel layer
 * owns the device's network side (MTU, address, routes; the device
 * itself when it is the kernel's). One timer drives everything, once a
 * second (every 100 ms while the device is not there): a read-back
 * (`get=1` on the UAPI socket, or WG_CMD_GET_DEVICE over generic
 * netlink: both fill a struct wguapi_device), and what differs from what
 * is wanted (our key, our port, one peer per key of the planned
 * wireguard routes) is set at once (the one wguapi_plan, sent as UAPI
 * text or as netlink messages). That one pass is the supervision (no
 * answer from userspace: the process is started again, with backoff from
 * 250 ms to 10 s; no kernel device: the kernel layer makes it), the drift
 * repair (a peer removed or changed by hand comes back within a second)
 * and the source of the per-peer handshake and byte counts status shows.
 *
 * Kernel WireGuard is used where its generic-netlink family resolves
 * (wg_impl_choose), unless --wireguard-userspace names a program: the
 * same choice wg-quick(8) makes (no process to supervise, no copy of
 * every packet through a tun device).
 *
 * The process is started in its own session with WG_PROCESS_FOREGROUND=1
 * (`wireguard-go -f`), signals unblocked and at their defaults, output to
 * <run-dir>/wireguard-go.log. It is not stopped when the agent exits: a
 * graceful restart keeps the device, its peers and their sessions, and
 * the next agent adopts the device through its socket without a change.
 * Leaving stops it (wg_stop; `nsagent down` without an agent finds it by
 * the socket's peer credentials).
 *
 * Routes read back from the kernel at start have no key: the device's
 * peers that hold their destinations are kept as they are until their
 * owners re-advertise (wguapi_build_set's keep). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "nsagent/log.h"
#include "nsagent/wg.h"
#include "nsagent/wggenl.h"
#include "nsagent/wguapi.h"
#include "nsagent/xalloc.h"

#define WG_CHECK_MS 1000
#define WG_STARTING_CHECK_MS 100
#define WG_BACKOFF_MIN_MS 250
#define WG_BACKOFF_MAX_MS 10000
/* A process up this long has its backoff reset. */
#define WG_STABLE_MS 10000
#define WG_STOP_WAIT_MS 3000
#define WG_LOG_NAME "wireguard-go.log"
#define WG_IMPL_LEN 128

struct wg_dev {
	struct event_base *base;
	struct event *timer;
	struct wggenl *genl; /* kernel WireGuard; NULL: userspace */
	char impl[WG_IMPL_LEN];
	char *userspace;
	char *state_dir;
	char *run_dir;
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint16_t port;
	struct wgkey_pair keys;
	struct kern_route *routes;
	unsigned n_routes;
	bool routes_known;	   /* wg_set_routes was called: peers not in them go */
	struct wguapi_device have; /* the last read-back */
	bool configured;	   /* set at least once since the device answered */
	pid_t child;		   /* the process we started, until reaped */
	uint64_t started_ms;
	uint64_t next_start_ms;
	uint64_t backoff_ms;
	char last_problem[512]; /* logged once, until it changes */
	struct wg_stats stats;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A problem worth a line once, not every second. */
static void problem(struct wg_dev *wg, const char *msg)
{
	if (strcmp(wg->last_problem, msg) == 0)
		return;
	snprintf(wg->last_problem, sizeof(wg->last_problem), "%s", msg);
	log_error("WireGuard: %s", msg);
}

static void arm(struct wg_dev *wg, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	evtimer_add(wg->timer, &tv);
}

/* In the child: a clean slate for wireguard-go, then exec. The agent has
 * a second thread (the kernel layer's), so only async-signal-safe calls
 * here: envp was built before the fork. */
static void __attribute__((noreturn))
exec_userspace(const char *program, char *const envp[], int log_fd)
{
	static const char failed[] = "nsagent: cannot run the userspace WireGuard\n";
	sigset_t none;
	char *argv[] = {(char *)program, "-f", (char *)KERN_WG_IFNAME, NULL};

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	setsid();
	if (log_fd >= 0) {
		dup2(log_fd, STDOUT_FILENO);
		dup2(log_fd, STDERR_FILENO);
	}
	close(STDIN_FILENO);
	open("/dev/null", O_RDONLY);
	execvpe(program, argv, envp);
	if (write(STDERR_FILENO, failed, sizeof(failed) - 1) < 0)
		_exit(126);
	_exit(127);
}

/* The agent's environment plus WG_PROCESS_FOREGROUND=1 (malloc'd array
 * of borrowed strings). */
static char **userspace_env(void)
{
	extern char **environ;
	size_t n = 0, k = 0;
	char **envp;

	while (environ[n])
		n++;
	envp = xcalloc(n + 2, sizeof(*envp));
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "WG_PROCESS_FOREGROUND=", 22) != 0)
			envp[k++] = environ[i];
	envp[k] = "WG_PROCESS_FOREGROUND=1";
	return envp;
}

static void start_process(struct wg_dev *wg)
{
	char log_path[4096], **envp = userspace_env();
	int log_fd;
	pid_t pid;

	snprintf(log_path, sizeof(log_path), "%s/%s", wg->run_dir, WG_LOG_NAME);
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	pid = fork();
	if (pid == 0)
		exec_userspace(wg->userspace, envp, log_fd);
	free(envp);
	if (log_fd >= 0)
		close(log_fd);
	if (pid < 0) {
		char msg[256];

		snprintf(msg, sizeof(msg), "cannot start %s for %s: fork: %s", wg->userspace,
			 KERN_WG_IFNAME, strerror(errno));
		problem(wg, msg);
		return;
	}
	wg->child = pid;
	wg->started_ms = mono_ms();
	wg->stats.starts++;
	log_info("WireGuard: started %s -f %s (pid %ld; its output goes to %s)", wg->userspace,
		 KERN_WG_IFNAME, (long)pid, log_path);
}

/* Our child ended: say how (it may have failed to start at all). */
static void reap(struct wg_dev *wg)
{
	int status;

	if (wg->child <= 0 || waitpid(wg->child, &status, WNOHANG) != wg->child)
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		log_error("WireGuard: cannot run %s (--wireguard-userspace; is wireguard-go "
			  "installed?); trying again with backoff",
			  wg->userspace);
	else if (WIFEXITED(status))
		log_warn("WireGuard: %s (pid %ld) exited with status %d; restarting it",
			 wg->userspace, (long)wg->child, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_warn("WireGuard: %s (pid %ld) killed by signal %d; restarting it",
			 wg->userspace, (long)wg->child, WTERMSIG(status));
	wg->child = 0;
}

static void add_allowed(struct wguapi_peer *p, const struct kern_route *r)
{
	struct wguapi_allowed *a;

	if (p->n_allowed == WGUAPI_MAX_ALLOWED)
		return;
	a = &p->allowed[p->n_allowed++];
	memset(a, 0, sizeof(*a));
	a->ipv6 = r->ipv6;
	if (r->ipv6)
		a->v6 = r->dst6;
	else
		a->v4 = r->dst;
}

/* The device as wanted: our key and port, a peer per key of the
 * wireguard routes, and one keep entry for the keyless (adopted) ones. */
static void build_want(const struct wg_dev *wg, struct wguapi_device *want)
{
	memset(want, 0, sizeof(*want));
	want->has_private_key = true;
	memcpy(want->private_key, wg->keys.private_key, WGKEY_LEN);
	want->listen_port = wg->port;
	want->keep_other_peers = !wg->routes_known;
	want->peers = xcalloc(wg->n_routes + 1, sizeof(*want->peers));
	for (unsigned i = 0; i < wg->n_routes; i++) {
		const struct kern_route *r = &wg->routes[i];
		struct wguapi_peer *p = NULL;
		bool keep = wgkey_is_zero(r->wg_key);

		if (r->mode != KERN_MODE_WIREGUARD)
			continue;
		for (unsigned k = 0; !p && k < want->n_peers; k++)
			if (want->peers[k].keep == keep &&
			    memcmp(want->peers[k].public_key, r->wg_key, WGKEY_LEN) == 0)
				p = &want->peers[k];
		if (!p) {
			p = &want->peers[want->n_peers++];
			memcpy(p->public_key, r->wg_key, WGKEY_LEN);
			p->keep = keep;
			p->endpoint = (struct endpoint){.addr = r->gateway, .port = r->wg_port};
		}
		add_allowed(p, r);
	}
}

/* The device as it is, through the implementation in use. */
static int read_back(struct wg_dev *wg, struct wguapi_device *have, char *msg, size_t size)
{
	if (wg->genl)
		return wggenl_get(wg->genl, KERN_WG_IFNAME, have, msg, size);
	return wguapi_get(wg->sock_path, have, msg, size);
}

/* Sets what makes have into want; *changes says how many (0: nothing
 * sent). */
static int apply(struct wg_dev *wg, const struct wguapi_device *want,
		 const struct wguapi_device *have, unsigned *changes, char *msg, size_t size)
{
	char *request = NULL;
	size_t len = 0;
	int ret = 0;

	if (wg->genl) {
		void *msgs = NULL;

		*changes = wggenl_build_set(wggenl_family(wg->genl), KERN_WG_IFNAME, want, have,
					    &msgs, &len);
		request = msgs;
		if (*changes)
			ret = wggenl_set(wg->genl, msgs, len, msg, size);
	} else {
		*changes = wguapi_build_set(want, have, &request);
		len = request ? strlen(request) : 0;
		if (*changes)
			ret = wguapi_set(wg->sock_path, request, msg, size);
	}
	if (request)
		explicit_bzero(request, len); /* it may hold the private key */
	free(request);
	return ret;
}

/* No device answered: a kernel one is the kernel layer's to make (its
 * link event brings the next pass); a userspace one is our process's. */
static void not_answering(struct wg_dev *wg, int ret, const char *msg, uint64_t now)
{
	bool was_running = wg->stats.running;
	bool absent = wg->genl ? ret == -ENODEV : ret == -ENOENT || ret == -ECONNREFUSED;
	char text[512];

	wg->stats.running = false;
	wg->configured = false;
	if (!absent) {
		wg->stats.errors++;
		problem(wg, msg);
	} else if (was_running) {
		log_warn("WireGuard: device %s stopped answering (%s)", KERN_WG_IFNAME, msg);
	}
	if (wg->genl)
		return;
	/* Nobody serves the socket: start (again), unless ours is still
	 * starting or the backoff says wait. */
	if (wg->child <= 0 && now >= wg->next_start_ms) {
		start_process(wg);
		wg->next_start_ms = now + wg->backoff_ms;
		wg->backoff_ms =
		    wg->backoff_ms * 2 > WG_BACKOFF_MAX_MS ? WG_BACKOFF_MAX_MS : wg->backoff_ms * 2;
	} else if (wg->child > 0 && now - wg->started_ms > WG_BACKOFF_MAX_MS) {
		snprintf(text, sizeof(text),
			 "%s (pid %ld) has not opened %s after %d ms; see %s/%s", wg->userspace,
			 (long)wg->child, wg->sock_path, WG_BACKOFF_MAX_MS, wg->run_dir,
			 WG_LOG_NAME);
		problem(wg, text);
	}
}

/* One pass: read the device back, set what differs. repair: a pass of
 * the timer, whose changes are drift (counted as repairs). */
static void check(struct wg_dev *wg, bool repair)
{
	struct wguapi_device have, want;
	char msg[512];
	unsigned changes;
	uint64_t now = mono_ms();
	int ret;

	reap(wg);
	ret = read_back(wg, &have, msg, sizeof(msg));
	if (ret < 0) {
		not_answering(wg, ret, msg, now);
		return;
	}
	if (!wg->stats.running)
		log_info("WireGuard: device %s answers (%s)", KERN_WG_IFNAME, wg->impl);
	wg->stats.running = true;
	wg->last_problem[0] = '\0';
	if (now - wg->started_ms > WG_STABLE_MS)
		wg->backoff_ms = WG_BACKOFF_MIN_MS;
	build_want(wg, &want);
	ret = apply(wg, &want, &have, &changes, msg, sizeof(msg));
	explicit_bzero(want.private_key, sizeof(want.private_key));
	wguapi_device_free(&want);
	if (ret < 0) {
		wg->stats.errors++;
		problem(wg, msg);
	} else if (changes && repair && wg->configured) {
		wg->stats.repairs++;
		log_info("WireGuard: device %s differed from what is wanted (%u change(s)); "
			 "repaired",
			 KERN_WG_IFNAME, changes);
	} else if (changes) {
		log_info("WireGuard: device %s configured (%u change(s))", KERN_WG_IFNAME, changes);
	}
	explicit_bzero(have.private_key, sizeof(have.private_key));
	wguapi_device_free(&wg->have);
	wg->have = have;
	wg->configured = wg->configured || ret == 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct wg_dev *wg = arg;

	(void)fd;
	(void)what;
	check(wg, true);
	arm(wg, wg->stats.running ? WG_CHECK_MS : WG_STARTING_CHECK_MS);
}

bool wg_impl_choose(bool force_userspace, struct wggenl **genl, char *why, size_t size)
{
	char msg[256];

	*genl = NULL;
	if (force_userspace) {
		snprintf(why, size, "userspace, as --wireguard-userspace asks");
		return false;
	}
	if (wggenl_open(genl, msg, sizeof(msg)) < 0) {
		snprintf(why, size, "userspace: %s", msg);
		return false;
	}
	snprintf(why, size, "the kernel's, over generic netlink (family %u)", wggenl_family(*genl));
	return true;
}

bool wg_is_kernel(const struct wg_dev *wg)
{
	return wg->genl != NULL;
}

const char *wg_impl_name(const struct wg_dev *wg)
{
	return wg->impl;
}

int wg_new(struct event_base *base, const struct wg_config *config, struct wg_dev **out, char *msg,
	   size_t size)
{
	struct wg_dev *wg = xcalloc(1, sizeof(*wg));
	char why[384];
	int created, ret;

	ret = wgkey_load_or_create(config->state_dir, &wg->keys, &created, msg, size);
	if (ret < 0) {
		free(wg);
		return ret;
	}
	wg->base = base;
	wg->userspace = xstrdup(config->userspace);
	wg->state_dir = xstrdup(config->state_dir);
	wg->run_dir = xstrdup(config->run_dir);
	wg->port = config->port;
	wg->backoff_ms = WG_BACKOFF_MIN_MS;
	wguapi_socket_path(config->uapi_dir, KERN_WG_IFNAME, wg->sock_path, sizeof(wg->sock_path));
	wg->timer = evtimer_new(base, on_timer, wg);
	if (!wg->timer)
		fatal("cannot create the WireGuard timer");
	if (wg_impl_choose(config->force_userspace, &wg->genl, why, sizeof(why)))
		snprintf(wg->impl, sizeof(wg->impl), "kernel");
	else
		snprintf(wg->impl, sizeof(wg->impl), "userspace (%s)", wg->userspace);
	log_info("WireGuard: %s is %s", KERN_WG_IFNAME, why);
	{
		char pub[WGKEY_B64_LEN];

		wgkey_base64(wg->keys.public_key, pub);
		log_info("WireGuard: %s key pair in %s/%s; public key %s, UDP port %u",
			 created ? "made a new" : "using the", config->state_dir, WGKEY_FILE_NAME,
			 pub, wg->port);
	}
	check(wg, false);
	arm(wg, wg->stats.running ? WG_CHECK_MS : WG_STARTING_CHECK_MS);
	*out = wg;
	return 0;
}

void wg_free(struct wg_dev *wg)
{
	if (!wg)
		return;
	if (wg->timer)
		event_free(wg->timer);
	wggenl_close(wg->genl);
	wgkey_wipe(&wg->keys);
	explicit_bzero(wg->have.private_key, sizeof(wg->have.private_key));
	wguapi_device_free(&wg->have);
	free(wg->routes);
	free(wg->userspace);
	free(wg->state_dir);
	free(wg->run_dir);
	free(wg);
}

void wg_stop(struct wg_dev *wg)
{
	char msg[512];
	const char *dir = NULL;
	char *slash;
	char copy[sizeof(wg->sock_path)];

	evtimer_del(wg->timer);
	/* A kernel device goes with the kernel layer's teardown (by alias). */
	if (wg->genl)
		return;
	snprintf(copy, sizeof(copy), "%s", wg->sock_path);
	slash = strrchr(copy, '/');
	if (slash) {
		*slash = '\0';
		dir = copy;
	}
	if (wg_stop_process(dir, KERN_WG_IFNAME, msg, sizeof(msg)) < 0)
		log_warn("WireGuard: %s", msg);
	else
		log_info("WireGuard: %s stopped", KERN_WG_IFNAME);
	reap(wg);
}

void wg_public_key(const struct wg_dev *wg, uint8_t key[WGKEY_LEN])
{
	memcpy(key, wg->keys.public_key, WGKEY_LEN);
}

void wg_set_routes(struct wg_dev *wg, const struct kern_route *routes, unsigned n)
{
	free(wg->routes);
	wg->routes = n ? xcalloc(n, sizeof(*routes)) : NULL;
	if (n)
		memcpy(wg->routes, routes, n * sizeof(*routes));
	wg->n_routes = n;
	wg->routes_known = true;
	if (wg->stats.running)
		check(wg, false);
}

int wg_rotate_key(struct wg_dev *wg, char *msg, size_t size)
{
	struct wgkey_pair fresh;
	char pub[WGKEY_B64_LEN];
	int ret;

	ret = wgkey_generate(&fresh, msg, size);
	if (ret == 0)
		ret = wgkey_save(wg->state_dir, &fresh, msg, size);
	if (ret < 0) {
		wgkey_wipe(&fresh);
		return ret;
	}
	wgkey_wipe(&wg->keys);
	wg->keys = fresh;
	wgkey_wipe(&fresh);
	wgkey_base64(wg->keys.public_key, pub);
	log_info("WireGuard: key rotated; new public key %s", pub);
	check(wg, false);
	return 0;
}

void wg_peer_stats(const struct wg_dev *wg, const uint8_t key[WGKEY_LEN],
		   struct wg_peer_stats *stats)
{
	const struct wguapi_peer *p = wguapi_find_peer(&wg->have, key);

	memset(stats, 0, sizeof(*stats));
	if (!p)
		return;
	stats->present = true;
	stats->last_handshake_sec = p->last_handshake_sec;
	stats->rx_bytes = p->rx_bytes;
	stats->tx_bytes = p->tx_bytes;
}

void wg_get_stats(const struct wg_dev *wg, struct wg_stats *stats)
{
	*stats = wg->stats;
}

/* The pid of the process serving the socket at path (SO_PEERCRED): 0
 * when nothing answers there. */
static pid_t socket_owner(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct ucred cred;
	socklen_t len = sizeof(cred);
	pid_t pid = 0;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return 0;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		pid = cred.pid;
	close(fd);
	return pid;
}

int wg_stop_process(const char *uapi_dir, const char *ifname, char *msg, size_t size)
{
	struct timespec step = {.tv_nsec = 10 * 1000 * 1000};
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pid_t pid;

	wguapi_socket_path(uapi_dir, ifname, path, sizeof(path));
	pid = socket_owner(path);
	if (pid <= 0)
		return 0;
	if (kill(pid, SIGTERM) < 0 && errno != ESRCH) {
		int ret = -errno;

		snprintf(msg, size, "cannot stop the WireGuard process of %s (pid %ld): %s", ifname,
			 (long)pid, strerror(errno));
		return ret;
	}
	for (unsigned waited = 0; kill(pid, 0) == 0 || errno != ESRCH; waited += 10) {
		/* Our own child stays a zombie until reaped: gone enough. */
		if (waitpid(pid, NULL, WNOHANG) == pid)
			break;
		if (waited >= WG_STOP_WAIT_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, WNOHANG);
			break;
		}
		nanosleep(&step, NULL);
	}
	return 0;
}
