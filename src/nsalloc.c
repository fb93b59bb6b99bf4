/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: namespace and attachment address allocation, persisted.
 *
 * Owns the mapping namespace name (or attachment: container id and
 * interface name) -> address inside the node's subnet and its file in the
 * state dir (NSALLOC_FILE_NAME, JSON through json-c, replaced atomically
 * by persist_write).
 *
 * Invariants: names are unique, and so are attachment keys; addresses are
 * unique, inside the subnet,
 * past the bridge's (host 1) and before the broadcast address; an entry
 * keeps its address for as long as it exists, so an address is never
 * handed to a second namespace while the first holds it; entries are
 * ordered config ones first (config order), then runtime ones and
 * attachments (added order).
 * A change that cannot be saved is undone, so memory and disk agree. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "nsagent/log.h"
#include "nsagent/nsalloc.h"
#include "nsagent/persist.h"
#include "nsagent/xalloc.h"

struct nsalloc {
	char *dir; /* NULL: not persisted */
	char *path;
	struct prefix subnet;
	struct nsalloc_entry *entries;
	unsigned n;
};

unsigned nsalloc_count(const struct nsalloc *alloc)
{
	return alloc->n;
}

const struct nsalloc_entry *nsalloc_get(const struct nsalloc *alloc, unsigned i)
{
	return i < alloc->n ? &alloc->entries[i] : NULL;
}

const struct nsalloc_entry *nsalloc_find(const struct nsalloc *alloc, const char *name)
{
	for (unsigned i = 0; i < alloc->n; i++) {
		if (alloc->entries[i].origin != NSALLOC_CNI &&
		    strcmp(alloc->entries[i].name, name) == 0)
			return &alloc->entries[i];
	}
	return NULL;
}

const struct nsalloc_entry *nsalloc_find_attachment(const struct nsalloc *alloc,
						    const char *container_id, const char *ifname)
{
	for (unsigned i = 0; i < alloc->n; i++) {
		if (alloc->entries[i].origin == NSALLOC_CNI &&
		    attachment_is(&alloc->entries[i].cni, container_id, ifname))
			return &alloc->entries[i];
	}
	return NULL;
}

static const char *const origin_names[] = {
    [NSALLOC_CONFIG] = "config", [NSALLOC_RUNTIME] = "runtime", [NSALLOC_CNI] = "cni"};

static bool addr_held(const struct nsalloc_entry *entries, unsigned n, uint32_t addr)
{
	for (unsigned i = 0; i < n; i++) {
		if (entries[i].addr == addr)
			return true;
	}
	return false;
}

/* The lowest host address past the bridge's that no entry holds. */
static int lowest_free(const struct prefix *subnet, const struct nsalloc_entry *entries, unsigned n,
		       uint32_t *out)
{
	uint32_t addr;

	for (uint32_t host = 2; addr_prefix_host(subnet, host, &addr) == 0; host++) {
		if (!addr_held(entries, n, addr)) {
			*out = addr;
			return 0;
		}
	}
	return -EADDRNOTAVAIL;
}

/* A usable namespace address of this subnet: past the bridge, not broadcast. */
static bool addr_usable(const struct prefix *subnet, uint32_t addr)
{
	uint32_t first, last;

	if (addr_prefix_host(subnet, 2, &first) < 0 ||
	    addr_prefix_host(subnet, (uint32_t)(addr_prefix_size(subnet) - 2), &last) < 0)
		return false;
	return addr >= first && addr <= last;
}

/* ---- persistence ---- */

static json_object *to_json(const struct nsalloc *alloc)
{
	json_object *root = json_object_new_object(), *list = json_object_new_array();
	char p[PREFIX_STRLEN], a[ADDR_STRLEN];

	json_object_object_add(root, "subnet",
			       json_object_new_string(addr_format_prefix(&alloc->subnet, p)));
	for (unsigned i = 0; i < alloc->n; i++) {
		const struct nsalloc_entry *e = &alloc->entries[i];
		json_object *o = json_object_new_object();

		if (e->origin != NSALLOC_CNI)
			json_object_object_add(o, "name", json_object_new_string(e->name));
		json_object_object_add(o, "addr", json_object_new_string(addr_format(e->addr, a)));
		json_object_object_add(o, "origin",
				       json_object_new_string(origin_names[e->origin]));
		if (e->origin == NSALLOC_CNI) {
			json_object_object_add(o, "container_id",
					       json_object_new_string(e->cni.container_id));
			json_object_object_add(o, "ifname", json_object_new_string(e->cni.ifname));
			json_object_object_add(o, "netns", json_object_new_string(e->cni.netns));
			json_object_object_add(o, "netns_dev",
					       json_object_new_uint64(e->cni.netns_dev));
			json_object_object_add(o, "netns_ino",
					       json_object_new_uint64(e->cni.netns_ino));
		}
		json_object_array_add(list, o);
	}
	json_object_object_add(root, "namespaces", list);
	return root;
}

static int save(const struct nsalloc *alloc)
{
	json_object *root;
	int ret;

	if (!alloc->dir)
		return 0;
	if (mkdir(alloc->dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		log_error("cannot create %s for %s: %s", alloc->dir, alloc->path, strerror(-ret));
		return ret;
	}
	root = to_json(alloc);
	ret = persist_write(
	    alloc->dir, alloc->path,
	    json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return ret;
}

static const char *json_get_string(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool json_get_u64(json_object *o, const char *key, uint64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_uint64(v);
	return true;
}

/* An attachment entry's fields; false when one is missing or bad. */
static bool load_attachment(json_object *o, struct attachment *cni)
{
	const char *id = json_get_string(o, "container_id");
	const char *ifname = json_get_string(o, "ifname");
	const char *netns = json_get_string(o, "netns");

	if (!id || !ifname || !netns || strlen(id) > ATTACH_ID_MAX || strlen(ifname) >= IFNAMSIZ ||
	    strlen(netns) > ATTACH_NETNS_MAX || !id[0] || !ifname[0] || netns[0] != '/' ||
	    !json_get_u64(o, "netns_dev", &cni->netns_dev) ||
	    !json_get_u64(o, "netns_ino", &cni->netns_ino))
		return false;
	snprintf(cni->container_id, sizeof(cni->container_id), "%s", id);
	snprintf(cni->ifname, sizeof(cni->ifname), "%s", ifname);
	snprintf(cni->netns, sizeof(cni->netns), "%s", netns);
	return true;
}

static bool parse_origin(const char *text, enum nsalloc_origin *origin)
{
	for (unsigned i = 0; text && i < sizeof(origin_names) / sizeof(origin_names[0]); i++) {
		if (strcmp(text, origin_names[i]) == 0) {
			*origin = (enum nsalloc_origin)i;
			return true;
		}
	}
	return false;
}

/* Takes the entries of a parsed file that are still valid for our subnet. */
static void load_entries(struct nsalloc *alloc, json_object *root)
{
	char p[PREFIX_STRLEN];
	const char *subnet_text = json_get_string(root, "subnet");
	struct prefix subnet;
	json_object *list;
	size_t n;

	if (!subnet_text || addr_parse_prefix(subnet_text, &subnet) < 0)
		return;
	if (!addr_prefix_equal(&subnet, &alloc->subnet)) {
		log_info("subnet is now %s (was %s): namespace addresses are allocated afresh",
			 addr_format_prefix(&alloc->subnet, p), subnet_text);
		return;
	}
	if (!json_object_object_get_ex(root, "namespaces", &list) ||
	    !json_object_is_type(list, json_type_array))
		return;
	n = json_object_array_length(list);
	for (size_t i = 0; i < n && alloc->n < NSALLOC_MAX; i++) {
		json_object *o = json_object_array_get_idx(list, i);
		const char *name = json_get_string(o, "name");
		const char *addr_text = json_get_string(o, "addr");
		struct nsalloc_entry e = {.origin = NSALLOC_CONFIG};
		bool cni, bad;

		/* Files before attachments have no origin "cni"; a bad origin
		 * reads as config (the config then decides). */
		parse_origin(json_get_string(o, "origin"), &e.origin);
		cni = e.origin == NSALLOC_CNI;
		bad = !addr_text || addr_parse(addr_text, &e.addr) < 0 ||
		      !addr_usable(&alloc->subnet, e.addr) ||
		      addr_held(alloc->entries, alloc->n, e.addr);
		if (cni)
			bad = bad || !load_attachment(o, &e.cni) ||
			      nsalloc_find_attachment(alloc, e.cni.container_id, e.cni.ifname);
		else
			bad = bad || !name || cfg_namespace_name_problem(name) ||
			      nsalloc_find(alloc, name);
		if (bad) {
			log_warn("%s: ignoring %s entry %zu (bad or duplicate %s or address)",
				 alloc->path, cni ? "attachment" : "namespace", i + 1,
				 cni ? "key" : "name");
			continue;
		}
		if (!cni)
			snprintf(e.name, sizeof(e.name), "%s", name);
		alloc->entries = xreallocarray(alloc->entries, alloc->n + 1, sizeof(e));
		alloc->entries[alloc->n++] = e;
	}
}

static int load(struct nsalloc *alloc)
{
	struct stat stbuf;
	json_object *root;
	char aside[4096];
	FILE *f;
	char *text;
	size_t len;
	int ret = 0;

	f = fopen(alloc->path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fileno(f), &stbuf) < 0) {
		ret = -errno;
		fclose(f);
		return ret;
	}
	if (stbuf.st_size > NSALLOC_MAX_FILE_SIZE) {
		fclose(f);
		root = NULL;
		goto corrupt;
	}
	text = xmalloc((size_t)stbuf.st_size + 1);
	len = fread(text, 1, (size_t)stbuf.st_size, f);
	text[len] = '\0';
	fclose(f);
	root = json_tokener_parse(text);
	free(text);
	if (!root || !json_object_is_type(root, json_type_object))
		goto corrupt;
	load_entries(alloc, root);
	json_object_put(root);
	return 0;
corrupt:
	json_object_put(root);
	ret = persist_move_aside(alloc->path, aside, sizeof(aside));
	if (ret == 0)
		log_error("%s is corrupt; moved to %s, namespace addresses are allocated afresh",
			  alloc->path, aside);
	return ret;
}

int nsalloc_open(const char *dir, const struct prefix *subnet, struct nsalloc **out)
{
	struct nsalloc *alloc = xcalloc(1, sizeof(*alloc));
	int ret;

	alloc->subnet = *subnet;
	if (dir) {
		alloc->dir = xstrdup(dir);
		if (asprintf(&alloc->path, "%s/%s", dir, NSALLOC_FILE_NAME) < 0)
			fatal("out of memory");
		ret = load(alloc);
		if (ret < 0) {
			nsalloc_free(alloc);
			return ret;
		}
	}
	*out = alloc;
	return 0;
}

void nsalloc_free(struct nsalloc *alloc)
{
	if (!alloc)
		return;
	free(alloc->entries);
	free(alloc->dir);
	free(alloc->path);
	free(alloc);
}

static bool same_entries(const struct nsalloc_entry *a, unsigned na, const struct nsalloc_entry *b,
			 unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++) {
		if (strcmp(a[i].name, b[i].name) != 0 || a[i].addr != b[i].addr ||
		    a[i].origin != b[i].origin || !attachment_equal(&a[i].cni, &b[i].cni))
			return false;
	}
	return true;
}

/* Installs entries (taking ownership) and saves; on a failed save the old
 * entries come back. */
static int commit(struct nsalloc *alloc, struct nsalloc_entry *entries, unsigned n)
{
	struct nsalloc_entry *old = alloc->entries;
	unsigned old_n = alloc->n;
	int ret;

	if (same_entries(old, old_n, entries, n)) {
		free(entries);
		return 0;
	}
	alloc->entries = entries;
	alloc->n = n;
	ret = save(alloc);
	if (ret < 0) {
		alloc->entries = old;
		alloc->n = old_n;
		free(entries);
		return ret;
	}
	free(old);
	return 0;
}

int nsalloc_set_config(struct nsalloc *alloc, const char (*names)[CFG_NS_NAME_MAX + 1], unsigned n)
{
	/* Kept entries first (their addresses are held), then the new names
	 * take the lowest free addresses in config order. */
	struct nsalloc_entry *next = xcalloc((size_t)alloc->n + n + 1, sizeof(*next));
	unsigned n_next = 0;
	bool *fresh = xcalloc((size_t)n + 1, sizeof(*fresh));
	int ret = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct nsalloc_entry *old = nsalloc_find(alloc, names[i]);

		if (old) {
			next[n_next] = *old;
			next[n_next].origin = NSALLOC_CONFIG;
		} else {
			snprintf(next[n_next].name, sizeof(next[n_next].name), "%s", names[i]);
			fresh[i] = true;
		}
		n_next++;
	}
	for (unsigned i = 0; i < alloc->n; i++) {
		const struct nsalloc_entry *old = &alloc->entries[i];
		bool named = false;

		for (unsigned j = 0; j < n && !named && old->origin != NSALLOC_CNI; j++)
			named = strcmp(names[j], old->name) == 0;
		if (old->origin != NSALLOC_CONFIG && !named)
			next[n_next++] = *old;
	}
	if (n_next > NSALLOC_MAX) {
		ret = -EADDRNOTAVAIL;
		goto fail;
	}
	for (unsigned i = 0; i < n; i++) {
		if (!fresh[i])
			continue;
		/* next[i].addr is 0 for the fresh ones, never a held address. */
		ret = lowest_free(&alloc->subnet, next, n_next, &next[i].addr);
		if (ret < 0)
			goto fail;
	}
	free(fresh);
	return commit(alloc, next, n_next);
fail:
	free(fresh);
	free(next);
	return ret;
}

/* Appends e with the lowest free address and saves. */
static int append(struct nsalloc *alloc, struct nsalloc_entry *e, uint32_t *addr)
{
	struct nsalloc_entry *next;
	int ret;

	if (alloc->n >= NSALLOC_MAX)
		return -EADDRNOTAVAIL;
	ret = lowest_free(&alloc->subnet, alloc->entries, alloc->n, &e->addr);
	if (ret < 0)
		return ret;
	next = xcalloc((size_t)alloc->n + 1, sizeof(*next));
	if (alloc->n)
		memcpy(next, alloc->entries, alloc->n * sizeof(*next));
	next[alloc->n] = *e;
	ret = commit(alloc, next, alloc->n + 1);
	if (ret == 0 && addr)
		*addr = e->addr;
	return ret;
}

/* Removes entry e (one of alloc->entries) and saves. */
static int remove_entry(struct nsalloc *alloc, const struct nsalloc_entry *e)
{
	struct nsalloc_entry *next = xcalloc(alloc->n, sizeof(*next));
	unsigned n_next = 0;

	for (unsigned i = 0; i < alloc->n; i++) {
		if (&alloc->entries[i] != e)
			next[n_next++] = alloc->entries[i];
	}
	return commit(alloc, next, n_next);
}

int nsalloc_add(struct nsalloc *alloc, const char *name, uint32_t *addr)
{
	struct nsalloc_entry e = {.origin = NSALLOC_RUNTIME};

	if (nsalloc_find(alloc, name))
		return -EEXIST;
	if (strlen(name) > CFG_NS_NAME_MAX)
		return -EINVAL;
	snprintf(e.name, sizeof(e.name), "%s", name);
	return append(alloc, &e, addr);
}

int nsalloc_del(struct nsalloc *alloc, const char *name)
{
	const struct nsalloc_entry *e = nsalloc_find(alloc, name);

	if (!e)
		return -ENOENT;
	if (e->origin != NSALLOC_RUNTIME)
		return -EPERM;
	return remove_entry(alloc, e);
}

int nsalloc_attach(struct nsalloc *alloc, const struct attachment *cni, uint32_t *addr)
{
	struct nsalloc_entry e = {.origin = NSALLOC_CNI, .cni = *cni};

	if (nsalloc_find_attachment(alloc, cni->container_id, cni->ifname))
		return -EEXIST;
	return append(alloc, &e, addr);
}

int nsalloc_detach(struct nsalloc *alloc, const char *container_id, const char *ifname)
{
	const struct nsalloc_entry *e = nsalloc_find_attachment(alloc, container_id, ifname);

	return e ? remove_entry(alloc, e) : -ENOENT;
}
