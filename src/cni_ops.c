/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the CNI commands' meaning for the agent (see cni_ops.h).
 *
 * Invariants: an ADD that fails leaves nothing behind (the address goes
 * back and the kernel is reconciled without the attachment); an ADD
 * repeated for the same key and namespace answers with the attachment that
 * exists; a key attached in another namespace that still exists is
 * refused, while one whose namespace is gone is replaced (a runtime that
 * restarts a container after a crash); DEL and GC never fail for an
 * attachment that is not there; every address comes from the one
 * allocator, so namespaces and containers never share one. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nsagent/cni_ops.h"
#include "nsagent/log.h"
#include "nsagent/status.h"

static const char *command_name(enum ctl_cni_command c)
{
	switch (c) {
	case CTL_CNI_ADD:
		return "ADD";
	case CTL_CNI_DEL:
		return "DEL";
	case CTL_CNI_CHECK:
		return "CHECK";
	case CTL_CNI_GC:
		return "GC";
	case CTL_CNI_STATUS:
		return "STATUS";
	}
	return "?";
}

static void fill_result(const struct cni_node *node, const struct nsalloc_entry *e,
			const struct kern_attach_info *info, struct ctl_cni_result *res)
{
	snprintf(res->ifname, sizeof(res->ifname), "%s", e->cni.ifname);
	snprintf(res->netns, sizeof(res->netns), "%s", e->cni.netns);
	memcpy(res->mac, info->mac, sizeof(res->mac));
	res->mtu = info->mtu ? info->mtu : node->mtu;
	res->addr = e->addr;
	res->prefix_len = node->subnet.len;
	/* The default route's next hop: the bridge. */
	if (addr_prefix_host(&node->subnet, 1, &res->gateway) < 0)
		res->gateway = 0;
	memset(&res->addr6, 0, sizeof(res->addr6));
	memset(&res->gateway6, 0, sizeof(res->gateway6));
	if (node->subnet6_set &&
	    (addr6_same_host(&node->subnet, e->addr, &node->subnet6, &res->addr6) < 0 ||
	     addr6_prefix_host(&node->subnet6, 1, &res->gateway6) < 0)) {
		memset(&res->addr6, 0, sizeof(res->addr6));
		memset(&res->gateway6, 0, sizeof(res->gateway6));
	}
}

/* Puts the kernel back as the allocator says after a failed step; a second
 * failure is the daemon's (it stays unhealthy and retries). */
static void reapply(const struct cni_ops *ops, void *arg)
{
	struct kern_error again = {{0}};

	ops->apply(arg, &again);
}

/* An existing attachment of the key: the same namespace is a repeated ADD
 * (1: answer with it), a namespace that still exists is another container's
 * (-EEXIST), a gone one is replaced (0: the entry was removed). */
static int add_existing(const struct cni_node *node, const struct cni_ops *ops,
			const struct nsalloc_entry *e, const struct attachment *want, char *msg,
			size_t size)
{
	struct kern_error kerr = {{0}};
	uint64_t dev, ino;
	int ret;

	if (e->cni.netns_dev == want->netns_dev && e->cni.netns_ino == want->netns_ino)
		return 1;
	if (ops->identity(e->cni.netns, &dev, &ino, &kerr) == 0 && dev == e->cni.netns_dev &&
	    ino == e->cni.netns_ino) {
		snprintf(msg, size, "container %s already has %s, in namespace %s",
			 want->container_id, want->ifname, e->cni.netns);
		return -EEXIST;
	}
	log_info("CNI ADD %s/%s: its earlier namespace %s is gone; attaching it anew",
		 want->container_id, want->ifname, e->cni.netns);
	ret = nsalloc_detach(node->alloc, want->container_id, want->ifname);
	if (ret < 0) {
		snprintf(msg, size, "cannot record the removal of %s/%s in %s: %s",
			 want->container_id, want->ifname, node->state_dir, strerror(-ret));
		return ret;
	}
	return 0;
}

static enum ctl_result cni_add(const struct cni_node *node, const struct cni_ops *ops, void *arg,
			       const struct ctl_cni_request *req, struct ctl_cni_result *res,
			       char *msg, size_t size)
{
	struct attachment want = {0};
	struct kern_error kerr = {{0}};
	struct kern_attach_info info;
	const struct nsalloc_entry *e;

	memset(&info, 0, sizeof(info));
	char a[ADDR_STRLEN], p[PREFIX_STRLEN];
	uint32_t addr;
	int ret;

	if (!node->alloc || !node->ready) {
		snprintf(msg, size, "this node is not ready: %s", node->problem);
		return CTL_NOT_READY;
	}
	snprintf(want.container_id, sizeof(want.container_id), "%s", req->key.container_id);
	snprintf(want.ifname, sizeof(want.ifname), "%s", req->key.ifname);
	snprintf(want.netns, sizeof(want.netns), "%s", req->netns);
	ret = ops->identity(want.netns, &want.netns_dev, &want.netns_ino, &kerr);
	if (ret < 0) {
		snprintf(msg, size, "netns %s", kerr.message);
		return CTL_NOT_FOUND;
	}
	/* Its interfaces, addresses and default route are the host's: an
	 * attachment there would take them over. */
	if (want.netns_dev == node->self_netns_dev && want.netns_ino == node->self_netns_ino) {
		snprintf(msg, size,
			 "netns %s is the host's own network namespace, not a container's",
			 want.netns);
		return CTL_INVALID;
	}
	e = nsalloc_find_attachment(node->alloc, want.container_id, want.ifname);
	if (e) {
		ret = add_existing(node, ops, e, &want, msg, size);
		if (ret == -EEXIST)
			return CTL_EXISTS;
		if (ret < 0)
			return CTL_FAILED;
	}
	if (!e || ret == 0) {
		ret = nsalloc_attach(node->alloc, &want, &addr);
		if (ret == -EADDRNOTAVAIL) {
			snprintf(msg, size, "subnet %s has no free address for container %s",
				 addr_format_prefix(&node->subnet, p), want.container_id);
			return CTL_FULL;
		}
		if (ret < 0) {
			snprintf(msg, size, "cannot record the attachment of %s in %s: %s",
				 want.container_id, node->state_dir, strerror(-ret));
			return CTL_FAILED;
		}
	}
	e = nsalloc_find_attachment(node->alloc, want.container_id, want.ifname);
	ret = ops->apply(arg, &kerr);
	if (ret == 0 && (ops->info(arg, want.container_id, want.ifname, &info) < 0 || info.gone)) {
		/* The namespace went away between our look and the build. */
		snprintf(kerr.message, sizeof(kerr.message), "netns %s is gone", want.netns);
		ret = -ENOENT;
	}
	if (ret < 0) {
		nsalloc_detach(node->alloc, want.container_id, want.ifname);
		reapply(ops, arg);
		snprintf(msg, size, "%s", kerr.message);
		return ret == -ENOENT ? CTL_NOT_FOUND : CTL_FAILED;
	}
	fill_result(node, e, &info, res);
	snprintf(msg, size, "attached container %s (%s in %s) with address %s/%u",
		 want.container_id, want.ifname, want.netns, addr_format(e->addr, a),
		 node->subnet.len);
	return CTL_OK;
}

static enum ctl_result cni_del(const struct cni_node *node, const struct cni_ops *ops, void *arg,
			       const struct ctl_cni_request *req, char *msg, size_t size)
{
	struct kern_error kerr = {{0}};
	int ret;

	/* Before the node has its subnet its attachments are not loaded: a
	 * DEL answered "nothing there" now would leave the address taken. */
	if (!node->alloc) {
		snprintf(msg, size, "this node is not ready: %s; try again later", node->problem);
		return CTL_NOT_READY;
	}
	/* The specification: DEL of something never added, or already
	 * removed, succeeds. */
	if (!nsalloc_find_attachment(node->alloc, req->key.container_id, req->key.ifname)) {
		snprintf(msg, size, "container %s has no %s here (nothing to remove)",
			 req->key.container_id, req->key.ifname);
		return CTL_OK;
	}
	ret = nsalloc_detach(node->alloc, req->key.container_id, req->key.ifname);
	if (ret < 0) {
		snprintf(msg, size, "cannot record the removal of %s/%s in %s: %s",
			 req->key.container_id, req->key.ifname, node->state_dir, strerror(-ret));
		return CTL_FAILED;
	}
	/* The address is free now; a kernel refusal leaves a pair the next
	 * repair pass removes, so the runtime's retry finds nothing to do. */
	if (ops->apply(arg, &kerr) < 0) {
		snprintf(msg, size, "%s", kerr.message);
		return CTL_FAILED;
	}
	snprintf(msg, size, "removed container %s's %s", req->key.container_id, req->key.ifname);
	return CTL_OK;
}

static enum ctl_result cni_check(const struct cni_node *node, const struct cni_ops *ops, void *arg,
				 const struct ctl_cni_request *req, struct ctl_cni_result *res,
				 char *msg, size_t size)
{
	struct kern_error kerr = {{0}};
	struct kern_attach_info info;
	const struct nsalloc_entry *e =
	    node->alloc
		? nsalloc_find_attachment(node->alloc, req->key.container_id, req->key.ifname)
		: NULL;

	memset(&info, 0, sizeof(info));
	if (!e) {
		snprintf(msg, size, "container %s has no %s here", req->key.container_id,
			 req->key.ifname);
		return CTL_NOT_FOUND;
	}
	if (strcmp(e->cni.netns, req->netns) != 0) {
		snprintf(msg, size, "container %s's %s is in netns %s, not %s",
			 req->key.container_id, req->key.ifname, e->cni.netns, req->netns);
		return CTL_FAILED;
	}
	if (ops->check(arg, req->key.container_id, req->key.ifname, &kerr) < 0 ||
	    ops->info(arg, req->key.container_id, req->key.ifname, &info) < 0) {
		snprintf(msg, size, "%s", kerr.message[0] ? kerr.message : "not in the kernel");
		return CTL_FAILED;
	}
	fill_result(node, e, &info, res);
	snprintf(msg, size, "container %s's %s is as it should be", req->key.container_id,
		 req->key.ifname);
	return CTL_OK;
}

static bool in_valid(const struct ctl_cni_request *req, const struct attachment *cni)
{
	for (unsigned i = 0; i < req->n_valid; i++)
		if (attachment_is(cni, req->valid[i].container_id, req->valid[i].ifname))
			return true;
	return false;
}

static enum ctl_result cni_gc(const struct cni_node *node, const struct cni_ops *ops, void *arg,
			      const struct ctl_cni_request *req, char *msg, size_t size)
{
	struct kern_error kerr = {{0}};
	unsigned removed = 0;
	int ret;

	if (!node->alloc) {
		snprintf(msg, size, "this node is not ready: %s; try again later", node->problem);
		return CTL_NOT_READY;
	}
	for (unsigned i = 0; i < nsalloc_count(node->alloc);) {
		const struct nsalloc_entry *e = nsalloc_get(node->alloc, i);
		struct attachment cni;

		if (e->origin != NSALLOC_CNI || in_valid(req, &e->cni)) {
			i++;
			continue;
		}
		cni = e->cni;
		ret = nsalloc_detach(node->alloc, cni.container_id, cni.ifname);
		if (ret < 0) {
			snprintf(msg, size, "cannot record the removal of %s/%s in %s: %s",
				 cni.container_id, cni.ifname, node->state_dir, strerror(-ret));
			if (removed)
				reapply(ops, arg);
			return CTL_FAILED;
		}
		log_info("CNI GC: removed container %s's %s (%s)", cni.container_id, cni.ifname,
			 cni.netns);
		removed++;
	}
	if (removed && ops->apply(arg, &kerr) < 0) {
		snprintf(msg, size, "%s", kerr.message);
		return CTL_FAILED;
	}
	snprintf(msg, size, "removed %u attachment(s) not in the valid list", removed);
	return CTL_OK;
}

enum ctl_result cni_handle(const struct cni_node *node, const struct cni_ops *ops, void *arg,
			   const struct ctl_cni_request *req, struct ctl_cni_result *res, char *msg,
			   size_t size)
{
	enum ctl_result result = CTL_BAD_REQUEST;
	unsigned i = (unsigned)req->command - CTL_CNI_ADD;

	switch (req->command) {
	case CTL_CNI_ADD:
		result = cni_add(node, ops, arg, req, res, msg, size);
		break;
	case CTL_CNI_DEL:
		result = cni_del(node, ops, arg, req, msg, size);
		break;
	case CTL_CNI_CHECK:
		result = cni_check(node, ops, arg, req, res, msg, size);
		break;
	case CTL_CNI_GC:
		result = cni_gc(node, ops, arg, req, msg, size);
		break;
	case CTL_CNI_STATUS:
		result = node->alloc && node->ready && !node->problem[0] ? CTL_OK : CTL_NOT_READY;
		snprintf(msg, size, "%s%s", result == CTL_OK ? "ready" : "not ready: ",
			 result == CTL_OK ? "" : node->problem);
		break;
	default:
		snprintf(msg, size, "unknown CNI command %d", (int)req->command);
		return CTL_BAD_REQUEST;
	}
	status_count((enum status_counter)(STATUS_CNI_REQUESTS + i));
	if (result != CTL_OK) {
		status_count((enum status_counter)(STATUS_CNI_ERRORS + i));
		/* A STATUS that is not ready is an answer, not an error to log. */
		if (req->command != CTL_CNI_STATUS)
			log_warn("CNI %s %s/%s: %s", command_name(req->command),
				 req->key.container_id, req->key.ifname, msg);
	} else if (req->command == CTL_CNI_ADD || req->command == CTL_CNI_DEL) {
		log_info("CNI %s: %s", command_name(req->command), msg);
	}
	return result;
}
