/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Persisted agent state in the state dir (default /var/lib/nsagent):
 * node id, subnet lease, learned peers. One JSON file, replaced atomically
 * on every save, and a backup copy of the last state saved whole. The
 * lease is saved the moment it changes; learned peers are only marked
 * unsaved, and the owner saves them in batches (state_save_pending). A
 * corrupt file is moved aside and the agent carries on from the backup, or
 * from defaults when there is none, rather than refusing to run. */
#ifndef NSAGENT_STATE_H
#define NSAGENT_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "nsagent/addr.h"
#include "nsagent/nodeid.h"

#define STATE_FILE_NAME "state.json"
/* The last state saved whole, rewritten after every save of the main file. */
#define STATE_BACKUP_NAME STATE_FILE_NAME ".bak"
#define STATE_MAX_PEERS 256
/* A state file bigger than this is corrupt (256 peers fit in a few KiB). */
#define STATE_MAX_FILE_SIZE (1024 * 1024)

struct state {
	char *dir;
	char *path;	   /* dir/STATE_FILE_NAME */
	char *backup_path; /* dir/STATE_BACKUP_NAME */
	uint8_t node_id[NODE_ID_LEN];
	bool subnet_set; /* a lease exists */
	struct prefix subnet;
	struct endpoint peers[STATE_MAX_PEERS]; /* oldest first */
	unsigned n_peers;
	bool unsaved;	/* peers changed since the last save */
	uint64_t saves; /* main files written, for tests and benchmarks */
};

/* Creates dir (0700) when missing and loads the file. A corrupt file is
 * moved aside (persist_move_aside) and the backup loaded instead, then saved
 * as the main file; without a usable backup (a corrupt one is moved aside
 * too) the agent starts from defaults. Which file was used and why is
 * logged. A missing node id is generated and saved at once, so the id is
 * stable from the first run. Returns 0 or a negative errno (dir not
 * creatable, file not readable or writable, no randomness). */
int state_open(const char *dir, struct state **out);
void state_free(struct state *state);

/* Write the whole state atomically (persist_write), then the backup. Returns
 * the main file's result: a failed backup is logged and counted only. */
int state_save(struct state *state);
/* state_save() when something is unsaved (state->unsaved), else 0. */
int state_save_pending(struct state *state);

/* The lease: saved at once when the value changed (a crash must not lose
 * it); they return 0 or a negative errno from the save. */
int state_set_subnet(struct state *state, const struct prefix *subnet);
int state_clear_subnet(struct state *state);
/* Remembers a peer to dial after a restart; when full, the oldest entry is
 * dropped. Peers are only marked unsaved: a converging node learns dozens
 * a second, and a file written for each was an eighth of its work
 * (tests/bench/README.md); the caller saves them soon after with
 * state_save_pending(), and any save (a lease's) takes them along. */
void state_add_peer(struct state *state, const struct endpoint *peer);
void state_remove_peer(struct state *state, const struct endpoint *peer);

#endif
