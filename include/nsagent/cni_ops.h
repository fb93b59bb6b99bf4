/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent's side of the CNI commands (the nsagent-cni plugin's requests
 * on the control socket): what ADD, DEL, CHECK, GC and STATUS mean for the
 * node's attachments, decided here and done through struct cni_ops, so
 * that the semantics are tested without a kernel (tests/unit/test_cni_ops.c).
 *
 * An attachment is desired state like a namespace: its address comes from
 * the node's allocator (nsalloc), which persists it, and the kernel layer
 * builds and repairs it. */
#ifndef NSAGENT_CNI_OPS_H
#define NSAGENT_CNI_OPS_H

#include <stddef.h>

#include "nsagent/ctl.h"
#include "nsagent/kern.h"
#include "nsagent/nsalloc.h"

struct cni_ops {
	/* Reconciles the kernel to the allocator's entries (0 or a negative
	 * errno, err says what the kernel refused). */
	int (*apply)(void *arg, struct kern_error *err);
	int (*info)(void *arg, const char *container_id, const char *ifname,
		    struct kern_attach_info *info);
	int (*check)(void *arg, const char *container_id, const char *ifname,
		     struct kern_error *err);
	int (*identity)(const char *path, uint64_t *dev, uint64_t *ino, struct kern_error *err);
};

/* The node as a CNI request sees it. alloc is NULL until the node has a
 * subnet and has loaded its attachments (then DEL, CHECK and GC say "not
 * ready"); ready is false until its topology is built (then ADD says so
 * too); problem is why it is not ready ("" when it is). */
struct cni_node {
	struct nsalloc *alloc;
	bool ready;
	struct prefix subnet; /* the bridge has its first address */
	/* Dual-stack (subnet6_set): the /64, whose ::1 is the bridge's; an
	 * attachment's IPv6 address has its IPv4 address's host part. */
	struct prefix6 subnet6;
	bool subnet6_set;
	unsigned mtu; /* the data path's (0: the kernel's default) */
	const char *problem;
	const char *state_dir; /* for messages */
	/* The agent's own network namespace (the host's): never a
	 * container's, whatever a client asks. */
	uint64_t self_netns_dev;
	uint64_t self_netns_ino;
};

/* Serves one validated request (ctl.c checked ids, names and paths); res
 * is filled for a successful ADD or CHECK, msg always. Counts the request
 * and, when it fails, the error (status counters, by command). */
enum ctl_result cni_handle(const struct cni_node *node, const struct cni_ops *ops, void *arg,
			   const struct ctl_cni_request *req, struct ctl_cni_result *res, char *msg,
			   size_t size);

#endif
