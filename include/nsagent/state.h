/* Persisted agent state in the state dir (default /var/lib/nsagent):
 * node id, subnet lease, learned peers. One JSON file, replaced atomically
 * on every change. A corrupt file is moved aside and the agent starts from
 * defaults rather than refusing to run. */
#ifndef NSAGENT_STATE_H
#define NSAGENT_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "nsagent/addr.h"
#include "nsagent/nodeid.h"

#define STATE_FILE_NAME "state.json"
#define STATE_MAX_PEERS 256
/* A state file bigger than this is corrupt (256 peers fit in a few KiB). */
#define STATE_MAX_FILE_SIZE (1024 * 1024)

struct state {
	char *dir;
	char *path; /* dir/STATE_FILE_NAME */
	uint8_t node_id[NODE_ID_LEN];
	bool subnet_set; /* a lease exists */
	struct prefix subnet;
	struct endpoint peers[STATE_MAX_PEERS]; /* oldest first */
	unsigned n_peers;
};

/* Creates dir (0700) when missing, loads the file, or starts from defaults
 * when there is none or it is corrupt (logged, renamed to *.corrupt). A
 * missing node id is generated and saved at once, so the id is stable from
 * the first run. Returns 0 or a negative errno (dir not creatable, file not
 * writable, no randomness). */
int state_open(const char *dir, struct state **out);
void state_free(struct state *state);

/* Write the whole state atomically: temp file, fsync, rename, fsync dir. */
int state_save(const struct state *state);

/* Setters save when the value changed; they return 0 or a negative errno
 * from the save. */
int state_set_subnet(struct state *state, const struct prefix *subnet);
int state_clear_subnet(struct state *state);
/* Remembers a peer to dial after a restart; when full, the oldest entry is
 * dropped. */
int state_add_peer(struct state *state, const struct endpoint *peer);
int state_remove_peer(struct state *state, const struct endpoint *peer);

#endif
