/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: teardown: kern_down() removes everything the agent owns in the
 * current network namespace, and the named namespaces it made, without a
 * running daemon (`nsagent down`, or an operator cleaning up after one that
 * died). It needs no struct kern: what is ours is read from the kernel's
 * own marks (kern.h), never from state the agent kept.
 *
 * Invariants: nothing without one of our marks is removed (an adopted
 * bridge stays); ownership of a namespace is read while its veth still
 * says so, so before any link goes; one failure does not stop the rest,
 * and the first error is what the caller sees. Order matters for time, not
 * for correctness: the nft table first (the kernel frees it after a grace
 * period, which passes while the links go), the links in one batch when
 * the device group allows it, then the namespaces and the routes left. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kern_priv.h"
#include "nft.h"
#include "nsagent/log.h"
#include "nsagent/xalloc.h"

/* Whether down removes link l: the bridge (only the one named, when a name
 * is given), the VXLAN device and the host ends of namespace and
 * attachment veths (an attachment's pair goes with it; its namespace is
 * the runtime's and stays). */
static bool down_removes(const struct klink *l, const char *bridge)
{
	if (strcmp(l->alias, KERN_ALIAS_BRIDGE) == 0)
		return !bridge || strcmp(l->name, bridge) == 0;
	return strcmp(l->alias, KERN_ALIAS_VXLAN) == 0 || strcmp(l->alias, KERN_ALIAS_WG) == 0 ||
	       kern_host_end_of(l) != NULL || kern_is_cni_host_end(l);
}

/* Removes our root-namespace links. When everything in KERN_LINK_GROUP is
 * ours to remove, that is one request for all of them (the kernel then
 * unregisters them as one batch: one round of RCU grace periods, where one
 * request per link waits for a round each). Anything of ours outside the
 * group (made by an older nsagent), or a group that holds a link we must
 * keep, goes link by link. */
static int down_links(struct knl *nl, const struct klinks *links, const char *bridge,
		      struct kern_error *err)
{
	struct kern_error e = {{0}};
	bool whole_group = true;
	unsigned in_group = 0;
	int first = 0;

	for (unsigned i = 0; i < links->n; i++) {
		const struct klink *l = &links->v[i];

		if (l->group != KERN_LINK_GROUP)
			continue;
		in_group++;
		if (!down_removes(l, bridge))
			whole_group = false;
	}
	if (in_group && whole_group) {
		kern_keep_first(kreq_group_del(nl, &e), &first, err, &e);
		if (first == 0)
			log_debug("removed %u links of group %u", in_group, KERN_LINK_GROUP);
	}
	for (unsigned i = 0; i < links->n; i++) {
		const struct klink *l = &links->v[i];
		int rc;

		if (!down_removes(l, bridge) || (whole_group && l->group == KERN_LINK_GROUP))
			continue;
		rc = kreq_link_del(nl, l->ifindex, l->name, &e);
		/* A host end goes with its peer's namespace, or went with the
		 * group. */
		if (rc != -ENODEV)
			kern_keep_first(rc, &first, err, &e);
	}
	return first;
}

/* Whether the named namespace is ours: a host end of ours names it, or else
 * its eth0 carries our alias (read inside it, so before the links go). */
static bool down_owns_ns(const char *name, const struct klinks *links, int self_fd)
{
	bool owned = false;
	int nsfd;

	for (unsigned i = 0; i < links->n; i++) {
		const char *owner = kern_host_end_of(&links->v[i]);

		if (owner && strcmp(owner, name) == 0)
			return true;
	}
	if (knetns_open(name, &nsfd) < 0)
		return false;
	owned = knetns_is_owned(nsfd, self_fd, NULL);
	close(nsfd);
	return owned;
}

/* The names of the namespaces under KERN_NETNS_DIR that are ours. */
struct down_names {
	char (*v)[CFG_NS_NAME_MAX + 1];
	unsigned n, cap;
};

/* Lists our named namespaces, while their veths still say so. */
static void down_list_ns(const struct klinks *links, int self_fd, struct down_names *out)
{
	DIR *dir = opendir(KERN_NETNS_DIR);
	struct dirent *d;

	while (dir && (d = readdir(dir))) {
		size_t len = strlen(d->d_name);

		if (d->d_name[0] == '.' || len > CFG_NS_NAME_MAX ||
		    !down_owns_ns(d->d_name, links, self_fd))
			continue;
		if (out->n == out->cap) {
			out->cap = out->cap ? 2 * out->cap : 64;
			out->v = xreallocarray(out->v, out->cap, sizeof(*out->v));
		}
		/* len fits: checked above (snprintf here made GCC's Debug
		 * build warn of truncation from d_name's 256 bytes). */
		memcpy(out->v[out->n++], d->d_name, len + 1);
	}
	if (dir)
		closedir(dir);
}

/* Deletes our IPv6 routes (kroute6_is_owned). Their VXLAN neighbour
 * entries went with the device. */
static int down_routes6(struct knl *nl, struct kern_error *err)
{
	struct kern_error e = {{0}};
	struct kroutes6 routes = {0};
	int first = 0, rc;

	rc = knl_dump_routes6(nl, &routes, &e);
	kern_keep_first(rc, &first, err, &e);
	for (unsigned i = 0; rc == 0 && i < routes.n; i++) {
		const struct kroute6 *r = &routes.v[i];

		if (!kroute6_is_owned(r))
			continue;
		int r_rc =
		    kreq_route6(nl, KREQ_ROUTE_DEL, &r->dst, r->len, NULL, 0, false, NULL, &e);

		if (r_rc != -ESRCH)
			kern_keep_first(r_rc, &first, err, &e);
	}
	free(routes.v);
	return first;
}

/* Deletes our routes (kroute_is_owned: protocol KERN_RTPROT, main table),
 * both families. */
static int down_routes(struct knl *nl, struct kern_error *err)
{
	struct kern_error e = {{0}};
	struct kroutes routes = {0};
	int first = 0, rc;

	rc = knl_dump_routes(nl, &routes, &e);
	kern_keep_first(rc, &first, err, &e);
	for (unsigned i = 0; rc == 0 && i < routes.n; i++) {
		const struct kroute *r = &routes.v[i];

		if (!kroute_is_owned(r))
			continue;
		int r_rc = kreq_route(nl, KREQ_ROUTE_DEL, r->dst, r->len, NULL, 0, false, NULL, &e);

		/* A route may already have gone with its device. */
		if (r_rc != -ESRCH)
			kern_keep_first(r_rc, &first, err, &e);
	}
	free(routes.v);
	kern_keep_first(down_routes6(nl, &e), &first, err, &e);
	return first;
}

int kern_down(const char *bridge, struct kern_error *err)
{
	struct kern_stats stats = {0};
	struct kern_error e = {{0}};
	struct klinks links = {0};
	struct down_names names = {0};
	struct knl nl = {0};
	struct kern_nft *nft = NULL;
	int self_fd, first = 0, rc;

	self_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self_fd < 0) {
		rc = -errno;
		kern_errorf(err, "cannot open the current network namespace: %s", strerror(-rc));
		return rc;
	}
	rc = knl_open(&nl, &stats, NULL, err);
	if (rc < 0)
		goto out;
	/* Without the dump, namespaces are still recognised by their eth0. */
	kern_keep_first(knl_dump_links(&nl, &links, &e), &first, err, &e);
	down_list_ns(&links, self_fd, &names);

	/* The table first: the kernel frees it after a grace period, which
	 * passes while the links go. */
	kern_keep_first(nft_remove(&nft, &e), &first, err, &e);
	/* The links in one batch: a veth takes its peer with it, so the
	 * namespaces are then left with nothing but lo to free. */
	kern_keep_first(down_links(&nl, &links, bridge, &e), &first, err, &e);
	for (unsigned i = 0; i < names.n; i++) {
		rc = knetns_remove(names.v[i], &e);
		kern_keep_first(rc, &first, err, &e);
		if (rc == 0)
			log_info("removed namespace %s", names.v[i]);
	}
	kern_keep_first(down_routes(&nl, &e), &first, err, &e);
	rc = first;
out:
	nft_close(nft);
	free(names.v);
	free(links.v);
	knl_close(&nl);
	close(self_fd);
	return rc;
}
