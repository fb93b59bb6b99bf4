/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Namespace addresses: which namespace or container attachment holds which
 * address of the node's subnet, persisted in the state dir
 * (NSALLOC_FILE_NAME) so that a restart gives every namespace the address
 * it had, and runtime namespaces (`nsagent ns add`) and CNI attachments
 * survive restarts. One allocator for all three, so an address is never
 * handed out twice.
 *
 * An address is never reused while a namespace holds it: a new namespace
 * takes the lowest free host address after the bridge's (the bridge has the
 * first), and a namespace keeps its address until it is removed. */
#ifndef NSAGENT_NSALLOC_H
#define NSAGENT_NSALLOC_H

#include <stdbool.h>
#include <stdint.h>

#include "nsagent/addr.h"
#include "nsagent/attach.h"
#include "nsagent/config.h"

#define NSALLOC_FILE_NAME "namespaces.json"
#define NSALLOC_MAX CFG_MAX_NAMESPACES
/* A bigger file is corrupt (NSALLOC_MAX attachments fit in ~450 KiB). */
#define NSALLOC_MAX_FILE_SIZE (1024 * 1024)

struct nsalloc;

enum nsalloc_origin {
	NSALLOC_CONFIG,	 /* a namespace of the config */
	NSALLOC_RUNTIME, /* a namespace added at runtime (`nsagent ns add`) */
	NSALLOC_CNI,	 /* a container attachment (the CNI plugin's ADD) */
};

struct nsalloc_entry {
	char name[CFG_NS_NAME_MAX + 1]; /* "" for an attachment */
	uint32_t addr;
	enum nsalloc_origin origin;
	struct attachment cni; /* NSALLOC_CNI only */
};

/* Loads dir/NSALLOC_FILE_NAME (dir NULL: nothing is persisted). Entries of
 * another subnet, unusable addresses and bad names are dropped (logged): the
 * subnet changed or the file was edited. A corrupt file is moved aside
 * (persist_move_aside) and the allocator starts empty. Returns 0 or a negative errno
 * (unreadable file). */
int nsalloc_open(const char *dir, const struct prefix *subnet, struct nsalloc **out);
void nsalloc_free(struct nsalloc *alloc);

/* Makes the config's namespaces exactly names (in that order): existing
 * ones keep their addresses, new ones get the lowest free, config ones not
 * in names are released. A runtime namespace named in names becomes a
 * config one. Saves. -EADDRNOTAVAIL when the subnet is full (nothing
 * changed); a failed save returns its own errno (-ENOSPC: the disk is
 * full) and changes nothing either. */
int nsalloc_set_config(struct nsalloc *alloc, const char (*names)[CFG_NS_NAME_MAX + 1], unsigned n);
/* Runtime namespaces: -EEXIST when the name is taken, -EADDRNOTAVAIL when
 * the subnet is full, -EPERM (del) when the namespace comes from the config,
 * -ENOENT (del) when there is none. Saves; a failed save undoes the change. */
int nsalloc_add(struct nsalloc *alloc, const char *name, uint32_t *addr);
int nsalloc_del(struct nsalloc *alloc, const char *name);

/* Container attachments, keyed by container id and interface name:
 * -EEXIST when the key is attached already, -EADDRNOTAVAIL when the
 * subnet is full, -ENOENT (detach) when there is none. Saves; a failed
 * save undoes the change. */
int nsalloc_attach(struct nsalloc *alloc, const struct attachment *cni, uint32_t *addr);
int nsalloc_detach(struct nsalloc *alloc, const char *container_id, const char *ifname);
const struct nsalloc_entry *nsalloc_find_attachment(const struct nsalloc *alloc,
						    const char *container_id, const char *ifname);

/* Config namespaces in config order, then runtime ones and attachments in
 * the order added. */
unsigned nsalloc_count(const struct nsalloc *alloc);
const struct nsalloc_entry *nsalloc_get(const struct nsalloc *alloc, unsigned i);
/* The namespace (not attachment) named name. */
const struct nsalloc_entry *nsalloc_find(const struct nsalloc *alloc, const char *name);

#endif
