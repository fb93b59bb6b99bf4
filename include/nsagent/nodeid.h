/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Node ids: 16 random bytes generated once per node and persisted in the
 * state dir (see state.h). Compared as big-endian byte strings: the lower
 * id keeps a disputed subnet, the higher id's connection wins a collision. */
#ifndef NSAGENT_NODEID_H
#define NSAGENT_NODEID_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NODE_ID_LEN 16
#define NODE_ID_STRLEN (2 * NODE_ID_LEN + 1)

static inline int node_id_cmp(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, NODE_ID_LEN);
}

static inline bool node_id_is_zero(const uint8_t *id)
{
	static const uint8_t zero[NODE_ID_LEN];

	return memcmp(id, zero, NODE_ID_LEN) == 0;
}

/* Lower-case hex into buf (NODE_ID_STRLEN bytes); returns buf. */
static inline const char *node_id_format(const uint8_t *id, char *buf)
{
	for (int i = 0; i < NODE_ID_LEN; i++)
		snprintf(buf + 2 * i, 3, "%02x", id[i]);
	return buf;
}

#endif
