/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the kernel layer's public API (include/nsagent/kern.h), its desired
 * state and its repair passes.
 *
 * struct kern (kern_state.h) holds the desired local topology and route
 * set, one request socket and one event socket in the agent's namespace.
 * The work is split by job: watch.c reads the event socket and marks what
 * drifted, topo.c builds the bridge, veths and namespaces, down.c tears
 * down what the agent owns; this file validates and stores what callers
 * want, runs the passes and applies the nft table.
 *
 * Reconcile reads before it writes: one link dump and one address dump of
 * the agent's namespace per pass, small dumps inside a namespace only when
 * it already existed (a namespace created in this pass is known to be
 * empty), and a change request only where the kernel differs from what is
 * wanted. Applying the same state twice therefore sends nothing, and
 * starting over existing state adopts it (same ifindexes).
 *
 * Ownership: the bridge carries KERN_ALIAS_BRIDGE when we created it (a
 * bridge that existed is adopted and managed, but left to its owner by
 * kern_down); both veth ends carry KERN_ALIAS_NS NAME (an attachment's:
 * KERN_ALIAS_CNI ID/IFNAME; its namespace is its runtime's, never
 * created or removed here); the VXLAN device
 * carries KERN_ALIAS_VXLAN, and every neighbour and FDB entry on it is
 * ours (vxlan.c); routes carry
 * protocol KERN_RTPROT. Nothing without a mark is changed or removed,
 * except the named namespaces listed in the topology, which are managed.
 *
 * Repair: the deferred event watch.c activates runs one pass over the
 * dirty scopes. Changes made by that pass are counted as repairs and
 * logged one by one. A pass that fails is retried with backoff; a pass
 * that finds nothing to do is free of side effects, so messages
 * describing our own intermediate states are harmless. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "kern_priv.h"
#include "kern_state.h"
#include "nft.h"
#include "nsagent/log.h"
#include "nsagent/xalloc.h"

#define RETRY_MIN_S 1
#define RETRY_MAX_S 30

/* Namespace entries ------------------------------------------------------ */

static void ns_free(struct kern_ns *ns)
{
	free(ns);
}

static bool is_attachment(const struct kern_namespace *want)
{
	return want->cni.container_id[0] != '\0';
}

static struct kern_ns *ns_new(struct kern *kern, const struct kern_namespace *want)
{
	struct kern_ns *ns = xcalloc(1, sizeof(*ns));

	ns->kern = kern;
	ns->nsid = -1;
	if (is_attachment(want)) {
		ns->is_cni = true;
		ns->cni = want->cni;
		snprintf(ns->name, sizeof(ns->name), "cni:%.12s/%s", want->cni.container_id,
			 want->cni.ifname);
		snprintf(ns->ifname, sizeof(ns->ifname), "%s", want->cni.ifname);
		kern_cni_host_ifname(&want->cni, ns->host_ifname);
		snprintf(ns->alias, sizeof(ns->alias), KERN_ALIAS_CNI "%s/%s",
			 want->cni.container_id, want->cni.ifname);
		return ns;
	}
	snprintf(ns->name, sizeof(ns->name), "%s", want->name);
	snprintf(ns->ifname, sizeof(ns->ifname), "%s", KERN_NS_IFNAME);
	kern_host_ifname(ns->name, ns->host_ifname);
	snprintf(ns->alias, sizeof(ns->alias), KERN_ALIAS_NS "%s", ns->name);
	return ns;
}

/* Whether entry ns is what want asks for (the same namespace, or the same
 * attachment in the same runtime namespace). */
static bool ns_matches(const struct kern_ns *ns, const struct kern_namespace *want)
{
	if (is_attachment(want))
		return ns->is_cni && attachment_equal(&ns->cni, &want->cni);
	return !ns->is_cni && strcmp(ns->name, want->name) == 0;
}

static struct kern_ns *find_attachment(const struct kern *kern, const char *container_id,
				       const char *ifname)
{
	for (unsigned i = 0; i < kern->n_ns; i++)
		if (kern->ns[i]->is_cni && attachment_is(&kern->ns[i]->cni, container_id, ifname))
			return kern->ns[i];
	return NULL;
}

/* The nft table ---------------------------------------------------------- */

/* The nft table follows the topology: masquerade what leaves the cluster
 * from the local subnet, and keep cluster-internal flows out of conntrack.
 * One application of it: nft_begin() takes what the table follows
 * from kern, nft_run() talks to the kernel and touches nothing else of kern
 * (so it can run on a kjob beside a full pass: nftables takes none of the
 * locks rtnetlink requests do, and a new table's NAT hooks cost a patch of
 * the running kernel code on every CPU), nft_end() books the result. */
struct nft_job {
	struct kern_nft *nft;
	struct nft_table_spec spec;
	bool changed;
	int rc;
	struct kern_error err;
};

static void nft_begin(struct kern *kern, struct nft_job *job)
{
	*job = (struct nft_job){.nft = kern->nft,
				.spec = {.subnet = kern->subnet,
					 .cluster = kern->cluster,
					 .subnet6 = kern->subnet6,
					 .subnet6_set = kern->subnet6_set,
					 .cluster6 = kern->cluster6,
					 .masquerade6 = kern->masquerade6,
					 .vtep = kern->vtep,
					 .vtep6 = kern->vtep6,
					 .vxlan_port = KERN_VXLAN_PORT,
					 .wg_addr = kern->wg ? kern->wg_addr : 0,
					 .wg_addr6 = kern->wg ? kern->wg_addr6 : in6addr_any,
					 .wg_port = kern->wg_port}};
	memcpy(job->spec.masquerade_except, kern->masquerade_except,
	       sizeof(job->spec.masquerade_except));
	job->spec.n_masquerade_except = kern->n_masquerade_except;
	snprintf(job->spec.bridge, sizeof(job->spec.bridge), "%s", kern->bridge);
	kern->nft_dirty = false;
}

static void nft_run(void *arg)
{
	struct nft_job *job = arg;

	job->rc = nft_apply(job->nft, &job->spec, &job->changed, &job->err);
}

static int nft_end(struct kern *kern, const struct nft_job *job, struct kern_error *err)
{
	if (job->rc < 0) {
		kern->nft_dirty = true;
		kern->stats.errors++;
		if (err)
			*err = job->err;
		return job->rc;
	}
	if (job->changed)
		kern->stats.changes++;
	return 0;
}

static int apply_nft(struct kern *kern, struct kern_error *err)
{
	struct nft_job job;

	nft_begin(kern, &job);
	nft_run(&job);
	return nft_end(kern, &job, err);
}

static void on_nft_change(void *arg)
{
	struct kern *kern = arg;

	kern->nft_dirty = true;
	kwatch_schedule(kern, "nftables table %s changed", KERN_NFT_TABLE);
}

/* Repair ----------------------------------------------------------------- */

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct kern *kern = arg;
	struct kern_error err = {{0}};
	uint64_t before = kern->stats.changes;
	char drift[sizeof(kern->drift)];
	bool topo = kern->root_dirty, routes = kern->routes_dirty;
	int rc = 0;

	(void)fd;
	(void)what;
	kern->scheduled = false;
	for (unsigned i = 0; i < kern->n_ns; i++)
		topo = topo || kern->ns[i]->dirty;
	unsigned events = kern->drift_events;

	snprintf(drift, sizeof(drift), "%s", kern->drift);
	kern->drift[0] = '\0';
	kern->drift_events = 0;

	kern->repairing = true;
	if (topo && kern->have_topo)
		rc = ktopo_reconcile(kern, false, &err);
	if (routes && kern->have_routes) {
		struct kern_error e = {{0}};

		kern->routes_dirty = false;
		int r = kroutes_reconcile(&kern->nl, kern->routes, kern->n_routes, &e);

		if (r < 0) {
			kern->routes_dirty = true;
			if (rc == 0) {
				rc = r;
				err = e;
			}
		}
	}
	if (kern->nft_dirty && kern->have_topo) {
		struct kern_error e = {{0}};
		int r = apply_nft(kern, &e);

		if (r < 0 && rc == 0) {
			rc = r;
			err = e;
		}
	}
	kern->repairing = false;
	kern->stats.repairs += kern->stats.changes - before;
	if (kern->stats.changes != before)
		log_info("repaired %llu kernel object(s) after %u netlink event(s), first: %s",
			 (unsigned long long)(kern->stats.changes - before), events, drift);
	if (rc < 0) {
		struct timeval tv = {.tv_sec = kern->retry_s};

		log_error("repair failed, retrying in %us: %s", kern->retry_s, err.message);
		evtimer_add(kern->retry, &tv);
		kern->retry_s = kern->retry_s * 2 > RETRY_MAX_S ? RETRY_MAX_S : kern->retry_s * 2;
	} else {
		kern->retry_s = RETRY_MIN_S;
	}
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct kern *kern = arg;

	(void)fd;
	(void)what;
	if (kern->have_topo)
		kern->root_dirty = true;
	if (kern->have_routes)
		kern->routes_dirty = true;
	if (kern->have_topo)
		kern->nft_dirty = true;
	kwatch_schedule(kern, "retry after a failed repair");
}

/* Public API ------------------------------------------------------------- */

int kern_new(struct event_base *base, struct kern **out, struct kern_error *err)
{
	struct kern *kern = xcalloc(1, sizeof(*kern));
	int rc;

	kern->base = base;
	kern->ev_fd = -1;
	kern->self_nsid = -1;
	kern->retry_s = RETRY_MIN_S;
	kern->self_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (kern->self_fd < 0) {
		rc = -errno;
		kern_errorf(err, "cannot open the current network namespace: %s", strerror(-rc));
		goto fail;
	}
	rc = knl_open(&kern->nl, &kern->stats, &kern->repairing, err);
	if (rc < 0)
		goto fail;
	/* Normally none; if someone gave the agent's namespace an id, its own
	 * messages carry it. */
	rc = knl_nsid(&kern->nl, kern->self_fd, false, &kern->self_nsid, err);
	if (rc < 0)
		goto fail;
	rc = kwatch_socket_open(&kern->ev_fd, err);
	if (rc < 0)
		goto fail;
	kern->ev = event_new(base, kern->ev_fd, EV_READ | EV_PERSIST, kwatch_on_events, kern);
	kern->deferred = event_new(base, -1, 0, on_deferred, kern);
	kern->retry = evtimer_new(base, on_retry, kern);
	if (!kern->ev || !kern->deferred || !kern->retry || event_add(kern->ev, NULL) < 0)
		fatal("cannot register netlink watchers with libevent");
	rc = nft_open(base, on_nft_change, kern, &kern->nft, err);
	if (rc < 0)
		goto fail;
	*out = kern;
	return 0;
fail:
	kern_free(kern);
	return rc;
}

void kern_free(struct kern *kern)
{
	if (!kern)
		return;
	for (unsigned i = 0; i < kern->n_ns; i++)
		ns_free(kern->ns[i]);
	free(kern->ns);
	free(kern->routes);
	nft_close(kern->nft);
	if (kern->ev)
		event_free(kern->ev);
	if (kern->deferred)
		event_free(kern->deferred);
	if (kern->retry)
		event_free(kern->retry);
	if (kern->ev_fd >= 0)
		close(kern->ev_fd);
	knl_close(&kern->nl);
	if (kern->self_fd >= 0)
		close(kern->self_fd);
	free(kern);
}

static bool valid_ns_name(const char *name)
{
	size_t len = strnlen(name, CFG_NS_NAME_MAX + 1);

	if (len == 0 || len > CFG_NS_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	return strchr(name, '/') == NULL;
}

/* A namespace's name for messages: its name, or its attachment's key. */
static void want_label(const struct kern_namespace *ns, char *buf, size_t size)
{
	if (is_attachment(ns))
		snprintf(buf, size, "attachment %s/%s", ns->cni.container_id, ns->cni.ifname);
	else
		snprintf(buf, size, "namespace %s", ns->name);
}

/* A namespace's IPv6 address: none without subnet6; with it, a host
 * address of subnet6 other than the subnet-router anycast (host part 0)
 * and the bridge's ::1. */
static int validate_namespace6(const struct kern_topology *topo, const struct kern_namespace *ns,
			       const char *label, struct kern_error *err)
{
	char a[ADDR6_STRLEN], p[PREFIX6_STRLEN];
	struct in6_addr bridge6;

	if (!topo->subnet6_set) {
		if (addr6_is_zero(&ns->addr6))
			return 0;
		kern_errorf(err, "%s has IPv6 address %s but the topology has no IPv6 subnet",
			    label, addr6_format(&ns->addr6, a));
		return -EINVAL;
	}
	if (addr6_prefix_host(&topo->subnet6, 1, &bridge6) < 0 ||
	    !addr6_prefix_contains_addr(&topo->subnet6, &ns->addr6) ||
	    memcmp(&topo->subnet6.addr, &ns->addr6, sizeof(ns->addr6)) == 0 ||
	    memcmp(&bridge6, &ns->addr6, sizeof(bridge6)) == 0) {
		kern_errorf(err, "IPv6 address %s of %s is not a free host address of %s",
			    addr6_format(&ns->addr6, a), label,
			    addr6_format_prefix(&topo->subnet6, p));
		return -EINVAL;
	}
	return 0;
}

static int validate_namespace(const struct kern_topology *topo, const struct kern_namespace *ns,
			      uint32_t first, uint32_t last, struct kern_error *err)
{
	char p[PREFIX_STRLEN], a[ADDR_STRLEN], label[ATTACH_ID_MAX + IFNAMSIZ + 16];

	if (is_attachment(ns)) {
		if (strnlen(ns->cni.container_id, ATTACH_ID_MAX + 1) > ATTACH_ID_MAX ||
		    !ns->cni.ifname[0] || strnlen(ns->cni.ifname, IFNAMSIZ) >= IFNAMSIZ ||
		    strchr(ns->cni.ifname, '/') || ns->cni.netns[0] != '/' ||
		    strnlen(ns->cni.netns, ATTACH_NETNS_MAX + 1) > ATTACH_NETNS_MAX ||
		    ns->name[0]) {
			kern_errorf(err, "invalid attachment \"%.*s/%.*s\"", ATTACH_ID_MAX,
				    ns->cni.container_id, IFNAMSIZ - 1, ns->cni.ifname);
			return -EINVAL;
		}
	} else if (!valid_ns_name(ns->name)) {
		kern_errorf(err, "invalid namespace name \"%.*s\"", CFG_NS_NAME_MAX, ns->name);
		return -EINVAL;
	}
	want_label(ns, label, sizeof(label));
	if (ns->addr <= first || ns->addr > last) {
		kern_errorf(
		    err, "address %s of %s is not a free host address of %s",
		    addr_format(ns->addr, a), label,
		    addr_format_prefix(
			&(struct prefix){.addr = topo->subnet.addr, .len = topo->subnet.len}, p));
		return -EINVAL;
	}
	return validate_namespace6(topo, ns, label, err);
}

static void want_host_ifname(const struct kern_namespace *ns, char out[IFNAMSIZ])
{
	if (is_attachment(ns))
		kern_cni_host_ifname(&ns->cni, out);
	else
		kern_host_ifname(ns->name, out);
}

static int validate_topology(const struct kern_topology *topo, uint32_t *bridge_addr,
			     struct kern_error *err)
{
	uint32_t mask = addr_mask(topo->subnet.len);
	uint32_t first = topo->subnet.addr + 1, last = (topo->subnet.addr | ~mask) - 1;
	char p[PREFIX_STRLEN], a[ADDR_STRLEN];
	char(*labels)[ATTACH_ID_MAX + IFNAMSIZ + 16] = NULL;
	char(*hosts)[IFNAMSIZ] = NULL;
	int rc = -EINVAL;

	if (!topo->bridge[0] || strnlen(topo->bridge, IFNAMSIZ) >= IFNAMSIZ) {
		kern_errorf(err, "invalid bridge name");
		return -EINVAL;
	}
	if (topo->subnet.len > 30 || (topo->subnet.addr & ~mask)) {
		kern_errorf(
		    err, "invalid subnet %s: need a network address with room for hosts",
		    addr_format_prefix(
			&(struct prefix){.addr = topo->subnet.addr, .len = topo->subnet.len}, p));
		return -EINVAL;
	}
	if (topo->subnet6_set && (!addr6_prefix_valid(&topo->subnet6) || topo->subnet6.len > 126 ||
				  !addr6_prefix_valid(&topo->cluster6))) {
		kern_errorf(err,
			    "invalid IPv6 subnet %s: need a network address with room for hosts",
			    addr6_format_prefix(&topo->subnet6, (char[PREFIX6_STRLEN]){0}));
		return -EINVAL;
	}
	if (topo->n_namespaces > CFG_MAX_NAMESPACES) {
		kern_errorf(err, "too many namespaces (%u, at most %u)", topo->n_namespaces,
			    CFG_MAX_NAMESPACES);
		return -EINVAL;
	}
	*bridge_addr = first;
	hosts = xcalloc(topo->n_namespaces + 1, sizeof(*hosts));
	labels = xcalloc(topo->n_namespaces + 1, sizeof(*labels));
	for (unsigned i = 0; i < topo->n_namespaces; i++) {
		const struct kern_namespace *ns = &topo->namespaces[i];

		if (validate_namespace(topo, ns, first, last, err) < 0)
			goto out;
		want_label(ns, labels[i], sizeof(labels[i]));
		want_host_ifname(ns, hosts[i]);
		if (kvtep_set(topo->vtep, &topo->vtep6) &&
		    strcmp(hosts[i], KERN_VXLAN_IFNAME) == 0) {
			kern_errorf(err, "%s would have host interface %s, the VXLAN device's name",
				    labels[i], hosts[i]);
			goto out;
		}
		for (unsigned j = 0; j < i; j++) {
			if (strcmp(labels[i], labels[j]) == 0) {
				kern_errorf(err, "%s listed twice", labels[i]);
				goto out;
			}
			if (strcmp(hosts[i], hosts[j]) == 0) {
				kern_errorf(err, "%s and %s would share host interface %s",
					    labels[j], labels[i], hosts[i]);
				goto out;
			}
			if (topo->namespaces[j].addr == ns->addr) {
				kern_errorf(err, "%s and %s share address %s", labels[j], labels[i],
					    addr_format(ns->addr, a));
				goto out;
			}
			if (topo->subnet6_set && memcmp(&topo->namespaces[j].addr6, &ns->addr6,
							sizeof(ns->addr6)) == 0) {
				kern_errorf(err, "%s and %s share IPv6 address %s", labels[j],
					    labels[i],
					    addr6_format(&ns->addr6, (char[ADDR6_STRLEN]){0}));
				goto out;
			}
		}
	}
	rc = 0;
out:
	free(hosts);
	free(labels);
	return rc;
}

int kern_set_topology(struct kern *kern, const struct kern_topology *topo, struct kern_error *err)
{
	struct kern_ns **next;
	uint32_t bridge_addr;
	int rc;

	rc = validate_topology(topo, &bridge_addr, err);
	if (rc < 0)
		return rc;

	/* Only namespaces added or dropped, everything else as it was: a
	 * pass over the new ones (and whatever is dirty) does it, and the nft
	 * table, which follows none of them, stays. A runtime starting many
	 * containers adds them one by one. */
	bool only_namespaces =
	    kern->have_topo && !kern->nft_dirty && strcmp(kern->bridge, topo->bridge) == 0 &&
	    addr_prefix_equal(&kern->subnet, &topo->subnet) &&
	    addr_prefix_equal(&kern->cluster, &topo->cluster) &&
	    kern->subnet6_set == topo->subnet6_set &&
	    (!topo->subnet6_set || (addr6_prefix_equal(&kern->subnet6, &topo->subnet6) &&
				    addr6_prefix_equal(&kern->cluster6, &topo->cluster6) &&
				    kern->masquerade6 == topo->masquerade6)) &&
	    kern->n_masquerade_except == topo->n_masquerade_except &&
	    memcmp(kern->masquerade_except, topo->masquerade_except,
		   topo->n_masquerade_except * sizeof(topo->masquerade_except[0])) == 0 &&
	    kern->mtu == topo->mtu && kern->vtep == topo->vtep &&
	    memcmp(&kern->vtep6, &topo->vtep6, sizeof(kern->vtep6)) == 0 &&
	    memcmp(kern->vtep_mac, topo->vtep_mac, KERN_MAC_LEN) == 0 &&
	    kern->vxlan_mtu == topo->vxlan_mtu && kern->wg == topo->wg &&
	    kern->wg_kernel == topo->wg_kernel && kern->wg_port == topo->wg_port &&
	    kern->wg_addr == topo->wg_addr &&
	    memcmp(&kern->wg_addr6, &topo->wg_addr6, sizeof(kern->wg_addr6)) == 0 &&
	    kern->wg_mtu == topo->wg_mtu;

	/* Keep the entries (and their watchers) of namespaces still wanted. */
	next = xcalloc(topo->n_namespaces ? topo->n_namespaces : 1, sizeof(*next));
	for (unsigned i = 0; i < topo->n_namespaces; i++) {
		for (unsigned j = 0; j < kern->n_ns; j++) {
			if (kern->ns[j] && ns_matches(kern->ns[j], &topo->namespaces[i])) {
				next[i] = kern->ns[j];
				kern->ns[j] = NULL;
				break;
			}
		}
		if (!next[i])
			next[i] = ns_new(kern, &topo->namespaces[i]);
		else if (next[i]->addr != topo->namespaces[i].addr ||
			 memcmp(&next[i]->addr6, &topo->namespaces[i].addr6,
				sizeof(next[i]->addr6)) != 0)
			only_namespaces = false;
		next[i]->addr = topo->namespaces[i].addr;
		next[i]->addr6 = topo->namespaces[i].addr6;
	}
	struct kern_ns **old = kern->ns;
	unsigned n_old = kern->n_ns;
	char old_bridge[IFNAMSIZ];

	snprintf(old_bridge, sizeof(old_bridge), "%s", kern->bridge);
	kern->ns = next;
	kern->n_ns = topo->n_namespaces;
	kern->have_topo = true;
	snprintf(kern->bridge, sizeof(kern->bridge), "%s", topo->bridge);
	kern->subnet = topo->subnet;
	kern->cluster = topo->cluster;
	kern->subnet6_set = topo->subnet6_set;
	kern->subnet6 = topo->subnet6_set ? topo->subnet6 : (struct prefix6){0};
	kern->cluster6 = topo->subnet6_set ? topo->cluster6 : (struct prefix6){0};
	kern->masquerade6 = topo->subnet6_set && topo->masquerade6;
	memcpy(kern->masquerade_except, topo->masquerade_except, sizeof(kern->masquerade_except));
	kern->n_masquerade_except = topo->n_masquerade_except;
	memset(&kern->bridge_addr6, 0, sizeof(kern->bridge_addr6));
	if (topo->subnet6_set)
		addr6_prefix_host(&topo->subnet6, 1, &kern->bridge_addr6);
	kern->mtu = topo->mtu;
	kern->vtep = topo->vtep;
	kern->vtep6 = topo->vtep6;
	memcpy(kern->vtep_mac, topo->vtep_mac, KERN_MAC_LEN);
	kern->vxlan_mtu = topo->vxlan_mtu;
	kern->wg = topo->wg;
	kern->wg_kernel = topo->wg && topo->wg_kernel;
	kern->wg_port = topo->wg ? topo->wg_port : 0;
	kern->wg_addr = topo->wg ? topo->wg_addr : 0;
	kern->wg_addr6 = topo->wg ? topo->wg_addr6 : in6addr_any;
	kern->wg_mtu = topo->wg ? topo->wg_mtu : 0;
	kern->bridge_addr = bridge_addr;

	int first = 0;
	struct kern_error e = {{0}};

	/* Namespaces dropped from the topology. */
	for (unsigned j = 0; j < n_old; j++) {
		if (!old[j])
			continue;
		struct klink host;
		bool have_host = knl_get_link(&kern->nl, old[j]->host_ifname, &host, &e) == 0;

		/* An attachment's namespace is its runtime's: only the pair goes
		 * (with its host end). */
		if (old[j]->is_cni && have_host) {
			rc = kreq_link_del(&kern->nl, host.ifindex, host.name, &e);
			if (rc != -ENODEV)
				kern_keep_first(rc, &first, err, &e);
		} else if (!old[j]->is_cni) {
			kern_keep_first(ktopo_remove_namespace(kern, old[j]->name,
							       have_host ? &host : NULL, true, &e),
					&first, err, &e);
		}
		ns_free(old[j]);
	}
	free(old);
	if (old_bridge[0] && strcmp(old_bridge, kern->bridge) != 0) {
		struct klink br;

		if (knl_get_link(&kern->nl, old_bridge, &br, &e) == 0 &&
		    strcmp(br.alias, KERN_ALIAS_BRIDGE) == 0)
			kern_keep_first(kreq_link_del(&kern->nl, br.ifindex, br.name, &e), &first,
					err, &e);
	}

	if (only_namespaces) {
		kern_keep_first(ktopo_reconcile(kern, false, &e), &first, err, &e);
		return first;
	}

	struct nft_job nft;
	struct kjob job;

	nft_begin(kern, &nft);
	kjob_start(&job, nft_run, &nft);
	rc = ktopo_reconcile(kern, true, &e);
	kern_keep_first(rc, &first, err, &e);
	kjob_wait(&job);
	kern_keep_first(nft_end(kern, &nft, NULL), &first, err, &nft.err);
	return first;
}

int kern_attachment_info(const struct kern *kern, const char *container_id, const char *ifname,
			 struct kern_attach_info *info)
{
	const struct kern_ns *ns = find_attachment(kern, container_id, ifname);

	if (!ns)
		return -ENOENT;
	memcpy(info->mac, ns->mac, KERN_MAC_LEN);
	info->mtu = ns->mtu;
	snprintf(info->host_ifname, sizeof(info->host_ifname), "%s", ns->host_ifname);
	info->gone = ns->gone;
	return 0;
}

int kern_attachment_check(struct kern *kern, const char *container_id, const char *ifname,
			  struct kern_error *err)
{
	struct kern_ns *ns = find_attachment(kern, container_id, ifname);
	struct kern_error e = {{0}};
	struct klink host;

	if (!ns) {
		kern_errorf(err, "no attachment %s/%s", container_id, ifname);
		return -ENOENT;
	}
	if (knl_get_link(&kern->nl, ns->host_ifname, &host, &e) < 0) {
		kern_errorf(err, "the host end %s of %s is missing", ns->host_ifname, ns->name);
		return -ENODEV;
	}
	if (host.master != kern->bridge_ifindex || !(host.flags & IFF_UP)) {
		kern_errorf(err, "the host end %s of %s is %s", ns->host_ifname, ns->name,
			    host.master != kern->bridge_ifindex ? "not on the bridge" : "down");
		return -EINVAL;
	}
	return ktopo_check_attachment(kern, ns, err);
}

/* What is wrong with a wanted route, or NULL. */
static const char *route_problem(const struct kern_route *r)
{
	static const uint8_t zero_mac[KERN_MAC_LEN];

	if (r->mode == KERN_MODE_VXLAN &&
	    (!kvtep_set(r->vtep, &r->vtep6) || !memcmp(r->vtep_mac, zero_mac, KERN_MAC_LEN)))
		return "a vxlan route without a VTEP";
	if (r->mode == KERN_MODE_VXLAN && r->vtep && !addr6_is_zero(&r->vtep6))
		return "a vxlan route with both an IPv4 and an IPv6 VTEP";
	if (r->mode == KERN_MODE_WIREGUARD && nodeaddr_is_zero(&r->gateway))
		return "a wireguard route without the peer's node address";
	if (!r->ipv6)
		return r->dst.len > 32 || (r->dst.addr & ~addr_mask(r->dst.len)) ||
			       nodeaddr_is_zero(&r->gateway)
			   ? "no gateway or a bad prefix"
			   : NULL;
	/* Direct: the peer's link-local address on an IPv4 underlay, its
	 * node address on an IPv6 one; through the tunnel, always an EUI-64
	 * link-local one. */
	if (!addr6_prefix_valid(&r->dst6) || addr6_is_zero(&r->gateway6) ||
	    (r->mode == KERN_MODE_VXLAN && !addr6_is_link_local(&r->gateway6)))
		return "a bad prefix, no gateway, or a tunnel gateway that is not link-local";
	if (r->mode == KERN_MODE_DIRECT && !r->ifname[0])
		return "a direct IPv6 route without a device";
	return NULL;
}

static bool same_dst(const struct kern_route *a, const struct kern_route *b)
{
	if (a->ipv6 != b->ipv6)
		return false;
	return a->ipv6 ? addr6_prefix_equal(&a->dst6, &b->dst6)
		       : a->dst.addr == b->dst.addr && a->dst.len == b->dst.len;
}

int kern_set_routes(struct kern *kern, const struct kern_route *routes, unsigned n,
		    struct kern_error *err)
{
	char p[PREFIX6_STRLEN];
	const char *problem;
	int rc;

	for (unsigned i = 0; i < n; i++) {
		const struct kern_route *r = &routes[i];

		if (r->ipv6)
			addr6_format_prefix(&r->dst6, p);
		else
			addr_format_prefix(&(struct prefix){.addr = r->dst.addr, .len = r->dst.len},
					   p);
		if ((problem = route_problem(r)) != NULL) {
			kern_errorf(err, "invalid route %s: %s", p, problem);
			return -EINVAL;
		}
		for (unsigned j = 0; j < i; j++)
			if (same_dst(&routes[j], r)) {
				kern_errorf(err, "route %s listed twice", p);
				return -EINVAL;
			}
	}
	free(kern->routes);
	kern->routes = n ? xmalloc(n * sizeof(*routes)) : NULL;
	if (n)
		memcpy(kern->routes, routes, n * sizeof(*routes));
	kern->n_routes = n;
	kern->have_routes = true;
	kern->routes_dirty = false;
	rc = kroutes_reconcile(&kern->nl, kern->routes, n, err);
	if (rc < 0)
		kern->routes_dirty = true;
	return rc;
}

int kern_get_routes(struct kern *kern, struct kern_route **routes, unsigned *n,
		    struct kern_error *err)
{
	return kroutes_owned(&kern->nl, routes, n, err);
}

void kern_get_stats(const struct kern *kern, struct kern_stats *stats)
{
	*stats = kern->stats;
}
