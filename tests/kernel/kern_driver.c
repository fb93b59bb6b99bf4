/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Drives the kernel layer from the command line for tests/kernel/test_*.sh.
 *
 *   kern_driver apply --bridge B --subnet CIDR --ns NS1,NS2 [--mtu N]
 *                     [--subnet6 CIDR6 [--cluster6 CIDR6] [--no-masquerade6]]
 *                     [--attach ID/IFNAME=NETNS]... [--route CIDR=GW]... [--stay]
 *                     [--vtep ADDR --vtep-mac MAC [--vxlan-mtu N]]
 *   kern_driver routes CIDR=GW... [--stay]
 *   kern_driver get-routes
 *   kern_driver down [--bridge B]
 *   kern_driver source ADDR
 *
 * apply prints "changes=N" after the reconcile (and "route-changes=N" when
 * routes were given). Namespace i (from 0) gets host address i+2 of the
 * subnet, the attachments the addresses after the namespaces' (an
 * attachment is container ID's interface IFNAME in the network namespace
 * at path NETNS, taken as it is when the driver starts); the bridge takes
 * the first. With --subnet6 the topology is dual-stack: each namespace and
 * attachment also gets the IPv6 address of the same host part
 * (addr6_same_host), the cluster IPv6 range is --cluster6 (default: the
 * subnet6 itself) and NAT66 is on unless --no-masquerade6. --vtep (IPv4 or
 * IPv6) makes the VXLAN device, and a route CIDR=vxlan,VTEP,MAC goes
 * through it to that peer (an IPv6 CIDR via the EUI-64 address of MAC).
 * `attached` lists each attachment's host
 * end and MAC, and whether its namespace is gone. With --stay it keeps running the event loop,
 * printing "ready" and then "repairs=N changes=M" each time the repair count moves, until SIGTERM
 * or SIGINT. Errors go to stderr with exit 1. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "nsagent/addr.h"
#include "nsagent/addr6.h"
#include "nsagent/kern.h"
#include "nsagent/log.h"
#include "nsagent/xalloc.h"

#define MAX_ROUTES 64
#define MAX_ATTACH 16

/* ID/IFNAME=NETNS */
static int parse_attach(const char *text, struct attachment *a)
{
	char buf[512], *slash, *eq;
	struct kern_error err;

	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	slash = strchr(buf, '/');
	eq = strchr(buf, '=');
	if (!slash || !eq || eq < slash)
		return -EINVAL;
	*slash = *eq = '\0';
	if (strlen(buf) > ATTACH_ID_MAX || strlen(slash + 1) >= IFNAMSIZ ||
	    strlen(eq + 1) > ATTACH_NETNS_MAX)
		return -EINVAL;
	snprintf(a->container_id, sizeof(a->container_id), "%.*s", ATTACH_ID_MAX, buf);
	snprintf(a->ifname, sizeof(a->ifname), "%.*s", IFNAMSIZ - 1, slash + 1);
	snprintf(a->netns, sizeof(a->netns), "%.*s", ATTACH_NETNS_MAX, eq + 1);
	if (kern_netns_identity(a->netns, &a->netns_dev, &a->netns_ino, &err) < 0) {
		fprintf(stderr, "attach: %s\n", err.message);
		return -EINVAL;
	}
	return 0;
}

static void print_attached(const struct kern *kern, const struct attachment *a, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct kern_attach_info info;

		if (kern_attachment_info(kern, a[i].container_id, a[i].ifname, &info) < 0)
			continue;
		printf("attached %s/%s host=%s mac=%02x:%02x:%02x:%02x:%02x:%02x mtu=%u gone=%d\n",
		       a[i].container_id, a[i].ifname, info.host_ifname, info.mac[0], info.mac[1],
		       info.mac[2], info.mac[3], info.mac[4], info.mac[5], info.mtu, info.gone);
	}
}

static int parse_mac(const char *text, uint8_t mac[KERN_MAC_LEN])
{
	unsigned b[KERN_MAC_LEN];
	char end;

	if (sscanf(text, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) !=
	    KERN_MAC_LEN)
		return -EINVAL;
	for (int i = 0; i < KERN_MAC_LEN; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

/* VTEP, either family, into vtep or vtep6. */
static int parse_vtep(const char *text, uint32_t *vtep, struct in6_addr *vtep6)
{
	return strchr(text, ':') ? addr6_parse(text, vtep6) : addr_parse(text, vtep);
}

/* The vxlan half of CIDR=vxlan,VTEP,MAC. */
static int parse_vxlan_route(char *spec, struct kern_route *r)
{
	char *vtep = spec + strlen("vxlan,"), *mac = strrchr(spec, ',');

	if (mac == spec + strlen("vxlan,") - 1)
		return -EINVAL;
	*mac++ = '\0';
	r->mode = KERN_MODE_VXLAN;
	if (parse_vtep(vtep, &r->vtep, &r->vtep6) < 0 || parse_mac(mac, r->vtep_mac) < 0)
		return -EINVAL;
	r->gateway = r->vtep ? nodeaddr_v4(r->vtep) : nodeaddr_v6(&r->vtep6); /* the peer's node IP */
	if (r->ipv6)
		addr6_link_local_from_mac(r->vtep_mac, &r->gateway6);
	return 0;
}

/* CIDR=GW, or for IPv6 CIDR6=GW6%DEV (a direct route via a link-local
 * address on DEV), or either CIDR=vxlan,VTEP,MAC. */
static int parse_route(const char *text, struct kern_route *r)
{
	char buf[128], *eq, *dev;

	memset(r, 0, sizeof(*r));
	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	eq = strchr(buf, '=');
	if (!eq)
		return -EINVAL;
	*eq = '\0';
	if (strncmp(eq + 1, "vxlan,", strlen("vxlan,")) == 0) {
		r->ipv6 = strchr(buf, ':') != NULL;
		if (r->ipv6 ? addr6_parse_prefix(buf, &r->dst6) < 0
			    : addr_parse_prefix(buf, &r->dst) < 0)
			return -EINVAL;
		return parse_vxlan_route(eq + 1, r);
	}
	if (strchr(buf, ':')) {
		dev = strchr(eq + 1, '%');
		if (!dev)
			return -EINVAL;
		*dev++ = '\0';
		r->ipv6 = true;
		snprintf(r->ifname, sizeof(r->ifname), "%s", dev);
		return addr6_parse_prefix(buf, &r->dst6) < 0 ||
			       addr6_parse(eq + 1, &r->gateway6) < 0
			   ? -EINVAL
			   : 0;
	}
	if (addr_parse_prefix(buf, &r->dst) < 0 || nodeaddr_parse(eq + 1, &r->gateway) < 0)
		return -EINVAL;
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: kern_driver apply --bridge B --subnet CIDR --ns NS1,NS2 [--mtu N] "
		"[--subnet6 CIDR6 [--cluster6 CIDR6] [--no-masquerade6]] "
		"[--attach ID/IFNAME=NETNS]... [--route CIDR=GW]... [--stay] "
		"[--vtep ADDR --vtep-mac MAC [--vxlan-mtu N]] (a route: CIDR=vxlan,VTEP,MAC)\n"
		"       kern_driver routes CIDR=GW... CIDR6=GW6%%DEV... [--stay]\n"
		"       kern_driver get-routes | down [--bridge B] | source ADDR\n");
	return 2;
}

struct watch {
	struct kern *kern;
	uint64_t repairs;
};

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	struct kern_stats st;

	(void)fd;
	(void)what;
	kern_get_stats(w->kern, &st);
	if (st.repairs != w->repairs) {
		w->repairs = st.repairs;
		printf("repairs=%llu changes=%llu\n", (unsigned long long)st.repairs,
		       (unsigned long long)st.changes);
		fflush(stdout);
	}
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static int stay(struct event_base *base, struct kern *kern)
{
	struct timeval tick = {0, 20000};
	struct watch w = {kern, 0};
	struct kern_stats st;
	struct event *timer, *sigterm, *sigint;

	kern_get_stats(kern, &st);
	w.repairs = st.repairs;
	timer = event_new(base, -1, EV_PERSIST, on_tick, &w);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	event_add(timer, &tick);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	printf("ready\n");
	fflush(stdout);
	event_base_dispatch(base);
	event_free(timer);
	event_free(sigterm);
	event_free(sigint);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_apply(int argc, char **argv, bool routes_only)
{
	struct kern_topology topo = {.subnet = {0, 0}};
	struct kern_route routes[MAX_ROUTES];
	struct attachment attach[MAX_ATTACH];
	unsigned n_routes = 0, n_attach = 0;
	bool have_routes = routes_only, do_stay = false, have_subnet = false;
	bool no_masquerade6 = false;
	char *ns_list = NULL;
	struct kern_error err = {{0}};
	struct event_base *base;
	struct kern *kern = NULL;
	struct kern_stats st;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--stay") == 0) {
			do_stay = true;
		} else if (!routes_only && strcmp(a, "--bridge") == 0 && v) {
			snprintf(topo.bridge, sizeof(topo.bridge), "%s", v);
			i++;
		} else if (!routes_only && strcmp(a, "--subnet") == 0 && v) {
			if (addr_parse_prefix(v, &topo.subnet) < 0)
				return usage();
			have_subnet = true;
			i++;
		} else if (!routes_only && strcmp(a, "--ns") == 0 && v) {
			ns_list = xstrdup(v);
			i++;
		} else if (!routes_only && strcmp(a, "--attach") == 0 && v &&
			   n_attach < MAX_ATTACH) {
			if (parse_attach(v, &attach[n_attach++]) < 0)
				return usage();
			i++;
		} else if (!routes_only && strcmp(a, "--subnet6") == 0 && v) {
			if (addr6_parse_prefix(v, &topo.subnet6) < 0)
				return usage();
			topo.subnet6_set = true;
			topo.masquerade6 = true;
			i++;
		} else if (!routes_only && strcmp(a, "--cluster6") == 0 && v) {
			if (addr6_parse_prefix(v, &topo.cluster6) < 0)
				return usage();
			i++;
		} else if (!routes_only && strcmp(a, "--no-masquerade6") == 0) {
			no_masquerade6 = true;
		} else if (!routes_only && strcmp(a, "--vtep") == 0 && v) {
			if (parse_vtep(v, &topo.vtep, &topo.vtep6) < 0)
				return usage();
			i++;
		} else if (!routes_only && strcmp(a, "--vtep-mac") == 0 && v) {
			if (parse_mac(v, topo.vtep_mac) < 0)
				return usage();
			i++;
		} else if (!routes_only && strcmp(a, "--vxlan-mtu") == 0 && v) {
			topo.vxlan_mtu = (unsigned)strtoul(v, NULL, 10);
			i++;
		} else if (!routes_only && strcmp(a, "--mtu") == 0 && v) {
			topo.mtu = (unsigned)strtoul(v, NULL, 10);
			i++;
		} else if ((routes_only || strcmp(a, "--route") == 0) && n_routes < MAX_ROUTES) {
			const char *text = routes_only ? a : v;

			if (!text || parse_route(text, &routes[n_routes]) < 0)
				return usage();
			n_routes++;
			have_routes = true;
			if (!routes_only)
				i++;
		} else {
			return usage();
		}
	}
	if (!routes_only && (!topo.bridge[0] || !have_subnet))
		return usage();
	if (ns_list || n_attach) {
		unsigned cap = 1 + n_attach;

		for (char *c = ns_list; c && *c; c++)
			cap += *c == ',';
		topo.namespaces = xcalloc(cap, sizeof(*topo.namespaces));
		for (char *save = NULL, *tok = ns_list ? strtok_r(ns_list, ",", &save) : NULL; tok;
		     tok = strtok_r(NULL, ",", &save)) {
			struct kern_namespace *ns = &topo.namespaces[topo.n_namespaces];

			snprintf(ns->name, sizeof(ns->name), "%s", tok);
			ns->addr = topo.subnet.addr + 2 + topo.n_namespaces;
			topo.n_namespaces++;
		}
		for (unsigned i = 0; i < n_attach; i++) {
			struct kern_namespace *ns = &topo.namespaces[topo.n_namespaces];

			ns->cni = attach[i];
			ns->addr = topo.subnet.addr + 2 + topo.n_namespaces;
			topo.n_namespaces++;
		}
	}
	topo.cluster = topo.subnet;
	if (topo.subnet6_set) {
		if (topo.cluster6.len == 0)
			topo.cluster6 = topo.subnet6;
		topo.masquerade6 = !no_masquerade6;
		for (unsigned i = 0; i < topo.n_namespaces; i++)
			if (addr6_same_host(&topo.subnet, topo.namespaces[i].addr, &topo.subnet6,
					    &topo.namespaces[i].addr6) < 0)
				return usage();
	}

	base = event_base_new();
	if (!base || kern_new(base, &kern, &err) < 0) {
		fprintf(stderr, "kern_new: %s\n", err.message);
		goto out;
	}
	if (!routes_only) {
		double t0 = now_s();

		if (kern_set_topology(kern, &topo, &err) < 0) {
			fprintf(stderr, "apply: %s\n", err.message);
			goto out;
		}
		kern_get_stats(kern, &st);
		printf("changes=%llu\n", (unsigned long long)st.changes);
		printf("seconds=%.3f\n", now_s() - t0);
		print_attached(kern, attach, n_attach);
	}
	if (have_routes) {
		uint64_t before;

		kern_get_stats(kern, &st);
		before = st.changes;
		if (kern_set_routes(kern, routes, n_routes, &err) < 0) {
			fprintf(stderr, "routes: %s\n", err.message);
			goto out;
		}
		kern_get_stats(kern, &st);
		printf("route-changes=%llu\n", (unsigned long long)(st.changes - before));
	}
	fflush(stdout);
	rc = do_stay ? stay(base, kern) : 0;
out:
	kern_free(kern);
	if (base)
		event_base_free(base);
	free(topo.namespaces);
	free(ns_list);
	return rc;
}

static int cmd_get_routes(void)
{
	struct kern_error err = {{0}};
	struct event_base *base = event_base_new();
	struct kern *kern = NULL;
	struct kern_route *routes = NULL;
	unsigned n = 0;
	int rc = 1;

	if (!base || kern_new(base, &kern, &err) < 0 ||
	    kern_get_routes(kern, &routes, &n, &err) < 0) {
		fprintf(stderr, "get-routes: %s\n", err.message);
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		struct in_addr d = {htonl(routes[i].dst.addr)};
		char ds[INET_ADDRSTRLEN], gs[NODEADDR_STRLEN], p6[PREFIX6_STRLEN], g6[ADDR6_STRLEN];

		if (routes[i].mode == KERN_MODE_VXLAN) {
			const uint8_t *m = routes[i].vtep_mac;
			char v4[ADDR_STRLEN], v6[ADDR6_STRLEN];

			printf("%s=vxlan,%s,%02x:%02x:%02x:%02x:%02x:%02x\n",
			       routes[i].ipv6 ? addr6_format_prefix(&routes[i].dst6, p6)
					      : addr_format_prefix(&routes[i].dst, p6),
			       routes[i].vtep ? addr_format(routes[i].vtep, v4)
					      : addr6_format(&routes[i].vtep6, v6),
			       m[0], m[1], m[2], m[3], m[4], m[5]);
			continue;
		}
		if (routes[i].ipv6) {
			printf("%s=%s%%%s\n", addr6_format_prefix(&routes[i].dst6, p6),
			       addr6_format(&routes[i].gateway6, g6), routes[i].ifname);
			continue;
		}
		printf("%s/%u=%s\n", inet_ntop(AF_INET, &d, ds, sizeof(ds)), routes[i].dst.len,
		       nodeaddr_format(&routes[i].gateway, gs));
	}
	rc = 0;
out:
	free(routes);
	kern_free(kern);
	if (base)
		event_base_free(base);
	return rc;
}

int main(int argc, char **argv)
{
	struct kern_error err = {{0}};

	if (getenv("KERN_DRIVER_DEBUG"))
		log_set_level(LOG_LEVEL_DEBUG);
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "apply") == 0)
		return cmd_apply(argc - 1, argv + 1, false);
	if (strcmp(argv[1], "routes") == 0)
		return cmd_apply(argc - 1, argv + 1, true);
	if (strcmp(argv[1], "get-routes") == 0)
		return cmd_get_routes();
	if (strcmp(argv[1], "down") == 0) {
		const char *bridge = argc >= 4 && strcmp(argv[2], "--bridge") == 0 ? argv[3] : NULL;

		if (kern_down(bridge, &err) < 0) {
			fprintf(stderr, "down: %s\n", err.message);
			return 1;
		}
		printf("down\n");
		return 0;
	}
	if (strcmp(argv[1], "source") == 0 && argc == 3) {
		struct nodeaddr dst, src;
		char buf[NODEADDR_STRLEN];

		if (nodeaddr_parse(argv[2], &dst) < 0)
			return usage();
		if (kern_route_source(&dst, &src, &err) < 0) {
			fprintf(stderr, "source: %s\n", err.message);
			return 1;
		}
		printf("%s\n", nodeaddr_format(&src, buf));
		return 0;
	}
	return usage();
}
