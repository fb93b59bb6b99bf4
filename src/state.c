/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: persisted agent state.
 *
 * Owns STATE_FILE_NAME in the state dir: the node id (generated once), the
 * subnet lease and the learned peers (bounded, oldest dropped first).
 * Invariants: the file on disk is always either the previous or the new
 * complete version (temp file + fsync + rename + dir fsync), mode 0600 in a
 * 0700 dir; the in-memory struct is the truth and the file is rewritten
 * whole on every save (at once for the node id and the lease, in batches
 * for learned peers: state_save_pending), then copied whole to
 * STATE_BACKUP_NAME, so a
 * corrupt main file costs neither the node id nor the lease; unknown keys
 * are ignored so a newer agent's file still loads; anything unreadable is
 * moved aside (persist_move_aside), never silently overwritten, so an
 * operator can look at it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "nsagent/log.h"
#include "nsagent/persist.h"
#include "nsagent/state.h"
#include "nsagent/xalloc.h"

#define STATE_VERSION 1

/* A state dir made by someone else (or by an older agent) may be open to
 * other users: it names the node and its peers, so it is made private. */
static int tighten_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		log_error("cannot stat state dir %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("state dir %s is not a directory", dir);
		return -ENOTDIR;
	}
	if ((st.st_mode & 077) == 0)
		return 0;
	if (chmod(dir, st.st_mode & 0700) < 0) {
		log_error("state dir %s has mode %04o and cannot be made private: %s", dir,
			  (unsigned)(st.st_mode & 07777), strerror(errno));
		return -errno;
	}
	log_warn("state dir %s had mode %04o; made it %04o (root only)", dir,
		 (unsigned)(st.st_mode & 07777), (unsigned)(st.st_mode & 0700));
	return 0;
}

static int make_dir(const char *dir)
{
	char *copy = xstrdup(dir);
	int ret = 0;

	/* Parents as an administrator would make them; the state dir itself
	 * private, since it names the node and its peers. */
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
			ret = -errno;
			log_error("cannot create %s: %s", copy, strerror(errno));
			goto out;
		}
		*p = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		log_error("cannot create state dir %s: %s", dir, strerror(errno));
		goto out;
	}
	ret = tighten_dir(dir);
out:
	free(copy);
	return ret;
}

static int parse_hex_id(const char *text, uint8_t *id)
{
	if (strlen(text) != 2 * NODE_ID_LEN)
		return -EINVAL;
	for (int i = 0; i < NODE_ID_LEN; i++) {
		unsigned v = 0;

		for (int k = 0; k < 2; k++) {
			char c = text[2 * i + k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				v |= c - 'A' + 10;
			else
				return -EINVAL;
		}
		id[i] = (uint8_t)v;
	}
	return node_id_is_zero(id) ? -EINVAL : 0;
}

/* Fills state from the document; on failure *why says what is wrong. */
static int parse_document(struct state *state, json_object *root, const char **why)
{
	json_object *v, *peers;

	if (!json_object_is_type(root, json_type_object)) {
		*why = "top level is not an object";
		return -EINVAL;
	}
	if (!json_object_object_get_ex(root, "version", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int(v) < 1) {
		*why = "missing or invalid \"version\"";
		return -EINVAL;
	}
	if (!json_object_object_get_ex(root, "node_id", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    parse_hex_id(json_object_get_string(v), state->node_id) < 0) {
		*why = "missing or invalid \"node_id\" (want 32 hex digits, not all zero)";
		return -EINVAL;
	}
	if (json_object_object_get_ex(root, "subnet", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string) ||
		    addr_parse_prefix(json_object_get_string(v), &state->subnet) < 0) {
			*why = "invalid \"subnet\"";
			return -EINVAL;
		}
		state->subnet_set = true;
	}
	if (json_object_object_get_ex(root, "peers", &peers)) {
		size_t n;

		if (!json_object_is_type(peers, json_type_array)) {
			*why = "\"peers\" is not an array";
			return -EINVAL;
		}
		n = json_object_array_length(peers);
		if (n > STATE_MAX_PEERS) {
			*why = "too many \"peers\"";
			return -EINVAL;
		}
		for (size_t i = 0; i < n; i++) {
			json_object *p = json_object_array_get_idx(peers, i);

			if (!json_object_is_type(p, json_type_string) ||
			    addr_parse_endpoint(json_object_get_string(p), 0,
						&state->peers[state->n_peers]) < 0 ||
			    state->peers[state->n_peers].port == 0) {
				*why = "invalid entry in \"peers\" (want \"address:port\")";
				return -EINVAL;
			}
			state->n_peers++;
		}
	}
	return 0;
}

static void reset(struct state *state)
{
	memset(state->node_id, 0, sizeof(state->node_id));
	state->subnet_set = false;
	state->n_peers = 0;
}

/* Fills state from path. 0 loaded, -ENOENT no file, -EINVAL corrupt (*why
 * says how; state reset), other negative errno: unreadable (logged). */
static int load(struct state *state, const char *path, const char **why)
{
	json_object *root = NULL;
	struct stat st;
	char *text = NULL;
	int fd, ret = 0;
	ssize_t got;

	*why = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		log_error("cannot stat %s: %s", path, strerror(-ret));
		goto out;
	}
	if (st.st_size > STATE_MAX_FILE_SIZE) {
		*why = "file too large";
		goto corrupt;
	}
	text = xmalloc((size_t)st.st_size + 1);
	got = read(fd, text, (size_t)st.st_size);
	if (got < 0) {
		ret = -errno;
		log_error("cannot read %s: %s", path, strerror(-ret));
		goto out;
	}
	text[got] = 0;
	if (strlen(text) != (size_t)got) {
		*why = "file contains a NUL byte";
		goto corrupt;
	}
	root = json_tokener_parse(text);
	if (!root) {
		*why = "not valid JSON";
		goto corrupt;
	}
	if (parse_document(state, root, why) < 0)
		goto corrupt;
	goto out;
corrupt:
	reset(state);
	ret = -EINVAL;
out:
	json_object_put(root);
	free(text);
	close(fd);
	return ret;
}

/* The main file is corrupt: it goes aside and the backup (the last state
 * saved whole) gives back the node id and lease, so that one bad file does
 * not make this node a stranger to its peers. Returns 0 (state from the
 * backup, or reset when there is none usable) or a negative errno (the
 * corrupt file cannot be moved aside: it would be overwritten). */
static int recover(struct state *state, const char *why)
{
	char aside[4096], backup_aside[4096], id[NODE_ID_STRLEN], p[PREFIX_STRLEN];
	const char *backup_why;
	int ret;

	ret = persist_move_aside(state->path, aside, sizeof(aside));
	if (ret < 0)
		return ret;
	ret = load(state, state->backup_path, &backup_why);
	if (ret == 0) {
		log_warn("state file %s is corrupt (%s), moved to %s; using the backup %s: node id "
			 "%s, subnet %s, %u peers",
			 state->path, why, aside, state->backup_path,
			 node_id_format(state->node_id, id),
			 state->subnet_set ? addr_format_prefix(&state->subnet, p) : "none",
			 state->n_peers);
		return 0;
	}
	if (ret == -EINVAL &&
	    persist_move_aside(state->backup_path, backup_aside, sizeof(backup_aside)) == 0)
		log_warn("state file %s is corrupt (%s), moved to %s; its backup %s is corrupt "
			 "too (%s), moved to %s; starting with a new node id",
			 state->path, why, aside, state->backup_path, backup_why, backup_aside);
	else
		log_warn("state file %s is corrupt (%s), moved to %s; no usable backup %s (%s); "
			 "starting with a new node id",
			 state->path, why, aside, state->backup_path,
			 ret == -EINVAL ? backup_why : strerror(-ret));
	reset(state);
	return 0;
}

int state_open(const char *dir, struct state **out)
{
	struct state *state = xcalloc(1, sizeof(*state));
	const char *why;
	bool save = false;
	int ret;

	*out = NULL;
	state->dir = xstrdup(dir);
	if (asprintf(&state->path, "%s/%s", dir, STATE_FILE_NAME) < 0 ||
	    asprintf(&state->backup_path, "%s/%s", dir, STATE_BACKUP_NAME) < 0)
		fatal("out of memory");
	ret = make_dir(dir);
	if (ret < 0)
		goto fail;
	ret = load(state, state->path, &why);
	if (ret == -EINVAL) {
		ret = recover(state, why);
		if (ret < 0)
			goto fail;
		/* The main file is rewritten from what was recovered. */
		save = true;
	} else if (ret < 0 && ret != -ENOENT) {
		log_error("cannot read state file %s: %s", state->path, strerror(-ret));
		goto fail;
	}
	if (node_id_is_zero(state->node_id)) {
		do {
			if (getrandom(state->node_id, NODE_ID_LEN, 0) != NODE_ID_LEN) {
				ret = -errno;
				log_error("cannot generate a node id: %s", strerror(errno));
				goto fail;
			}
		} while (node_id_is_zero(state->node_id));
		save = true;
	}
	if (save) {
		ret = state_save(state);
		if (ret < 0)
			goto fail;
	}
	*out = state;
	return 0;
fail:
	state_free(state);
	return ret;
}

void state_free(struct state *state)
{
	if (!state)
		return;
	free(state->dir);
	free(state->path);
	free(state->backup_path);
	free(state);
}

int state_save(struct state *state)
{
	char id[NODE_ID_STRLEN];
	json_object *root = json_object_new_object(), *peers = json_object_new_array();
	const char *text;
	int ret;

	json_object_object_add(root, "version", json_object_new_int(STATE_VERSION));
	json_object_object_add(root, "node_id",
			       json_object_new_string(node_id_format(state->node_id, id)));
	if (state->subnet_set) {
		char buf[PREFIX_STRLEN];

		json_object_object_add(
		    root, "subnet",
		    json_object_new_string(addr_format_prefix(&state->subnet, buf)));
	}
	for (unsigned i = 0; i < state->n_peers; i++) {
		char buf[ENDPOINT_STRLEN];

		json_object_array_add(
		    peers, json_object_new_string(addr_format_endpoint(&state->peers[i], buf)));
	}
	json_object_object_add(root, "peers", peers);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);

	ret = persist_write(state->dir, state->path, text);
	if (ret < 0)
		goto out;
	state->unsaved = false;
	state->saves++;
	/* Written only once the main file is complete, so the backup is always
	 * a state that was saved whole. Its failure is logged and counted by
	 * persist_write; the state itself is saved, so the caller's change
	 * stands. Not synced: the main file is, and it is what a crash leaves;
	 * two more fsyncs per save (a peer learned is a save) cost a
	 * cluster's convergence 15% on a disk-backed state dir (bench_converge,
	 * 8 hosts). */
	if (persist_write_sync(state->dir, state->backup_path, text, false) < 0)
		log_warn("backup %s is older than %s until the next save", state->backup_path,
			 state->path);
out:
	json_object_put(root);
	return ret;
}

int state_save_pending(struct state *state)
{
	return state->unsaved ? state_save(state) : 0;
}

int state_set_subnet(struct state *state, const struct prefix *subnet)
{
	if (state->subnet_set && addr_prefix_equal(&state->subnet, subnet))
		return 0;
	state->subnet = *subnet;
	state->subnet_set = true;
	return state_save(state);
}

int state_clear_subnet(struct state *state)
{
	if (!state->subnet_set)
		return 0;
	state->subnet_set = false;
	return state_save(state);
}

static int find_peer(const struct state *state, const struct endpoint *peer)
{
	for (unsigned i = 0; i < state->n_peers; i++)
		if (nodeaddr_equal(&state->peers[i].addr, &peer->addr) &&
		    state->peers[i].port == peer->port)
			return (int)i;
	return -1;
}

void state_add_peer(struct state *state, const struct endpoint *peer)
{
	if (find_peer(state, peer) >= 0)
		return;
	if (state->n_peers == STATE_MAX_PEERS) {
		memmove(&state->peers[0], &state->peers[1],
			(STATE_MAX_PEERS - 1) * sizeof(state->peers[0]));
		state->n_peers--;
	}
	state->peers[state->n_peers++] = *peer;
	state->unsaved = true;
}

void state_remove_peer(struct state *state, const struct endpoint *peer)
{
	int i = find_peer(state, peer);

	if (i < 0)
		return;
	memmove(&state->peers[i], &state->peers[i + 1],
		(state->n_peers - (unsigned)i - 1) * sizeof(state->peers[0]));
	state->n_peers--;
	state->unsaved = true;
}
