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

/* Lower-case hex into buf (NODE_ID_STRLEN bytes); returns buf. By table,
 * not one snprintf per byte: every session state change logs a peer's
 * name with its id, and sixteen snprintf calls per id were a tenth of
 * a converging agent's instructions (tests/bench/README.md). */
static inline const char *node_id_format(const uint8_t *id, char *buf)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < NODE_ID_LEN; i++) {
		buf[2 * i] = hex[id[i] >> 4];
		buf[2 * i + 1] = hex[id[i] & 0xf];
	}
	buf[2 * NODE_ID_LEN] = '\0';
	return buf;
}

#endif
