/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Persisted state: id stability, round trip, modes, atomic replace,
 * corrupt files moved aside (each its own bounded copy), recovery from the
 * backup, failed saves reported with the kernel's errno and counted,
 * bounded peer list. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "addr6_lit.h"

#include "nsagent/log.h"
#include "nsagent/persist.h"
#include "nsagent/state.h"

static char base[256];

static int setup(void **st)
{
	(void)st;
	snprintf(base, sizeof(base), "/tmp/nsagent-state-test.XXXXXX");
	assert_non_null(mkdtemp(base));
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* state holds node_id, subnet and peer as its one peer. */
static void assert_same_state(const struct state *state, const uint8_t *node_id,
			      const struct prefix *subnet, const struct endpoint *peer)
{
	assert_memory_equal(state->node_id, node_id, NODE_ID_LEN);
	assert_true(state->subnet_set);
	assert_true(addr_prefix_equal(&state->subnet, subnet));
	assert_int_equal(state->n_peers, 1);
	assert_true(na_eq(state->peers[0].addr, peer->addr));
	assert_int_equal(state->peers[0].port, peer->port);
}

static void read_file(const char *path, char *buf, size_t size);

/* A learned IPv6 peer is saved as [addr]:port and read back equal, beside
 * an IPv4 one; the same IPv6 address at another port is another entry. */
static void test_ipv6_peer_saved(void **st)
{
	(void)st;
	char dir[512], path[600], text[4096];
	struct state *a, *b;
	struct endpoint v6 = {na("2001:db8::6"), 7470}, v6b = {na("2001:db8::6"), 7471},
			v4 = {NA4(0xc0a80106), 7470};

	snprintf(dir, sizeof(dir), "%s/v6", base);
	assert_int_equal(state_open(dir, &a), 0);
	state_add_peer(a, &v6);
	state_add_peer(a, &v4);
	state_add_peer(a, &v6b);
	state_add_peer(a, &v6); /* no duplicate */
	assert_int_equal(state_save_pending(a), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE_NAME);
	read_file(path, text, sizeof(text));
	assert_non_null(strstr(text, "\"[2001:db8::6]:7470\""));
	assert_int_equal(state_open(dir, &b), 0);
	assert_int_equal(b->n_peers, 3);
	assert_true(na_eq(b->peers[0].addr, v6.addr) && b->peers[0].port == 7470);
	assert_true(na_eq(b->peers[1].addr, v4.addr));
	assert_int_equal(b->peers[2].port, 7471);
	state_remove_peer(b, &v6);
	assert_int_equal(b->n_peers, 2);
	state_free(a);
	state_free(b);
}

static void test_fresh_and_reload(void **st)
{
	(void)st;
	char dir[512], path[600];
	struct state *a, *b;
	struct stat sb;
	struct prefix subnet = {0xac100300, 24};
	struct endpoint peer = {NA4(0xc0a80106), 7470};

	snprintf(dir, sizeof(dir), "%s/nested/state", base);
	assert_int_equal(state_open(dir, &a), 0);
	assert_false(node_id_is_zero(a->node_id));
	assert_false(a->subnet_set);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE_NAME);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	assert_int_equal(state_set_subnet(a, &subnet), 0);
	state_add_peer(a, &peer);
	state_add_peer(a, &peer); /* no duplicate */
	assert_int_equal(state_save_pending(a), 0);

	assert_int_equal(state_open(dir, &b), 0);
	assert_same_state(b, a->node_id, &subnet, &peer);

	state_remove_peer(b, &peer);
	assert_int_equal(state_clear_subnet(b), 0); /* takes the removal along */
	state_free(a);
	assert_int_equal(state_open(dir, &a), 0);
	assert_int_equal(a->n_peers, 0);
	assert_false(a->subnet_set);
	assert_memory_equal(a->node_id, b->node_id, NODE_ID_LEN);
	/* no temp file left behind */
	snprintf(path, sizeof(path), "%s/%s.tmp", dir, STATE_FILE_NAME);
	assert_int_equal(access(path, F_OK), -1);
	state_free(a);
	state_free(b);
}

static void read_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = 0;
	fclose(f);
}

/* A fresh dir under base named after what the test checks. */
static void fresh_dir(char *dir, size_t size, const char *name)
{
	snprintf(dir, size, "%s/%s", base, name);
	assert_int_equal(mkdir(dir, 0700), 0);
}

/* No backup: the corrupt file is kept as state.json.corrupt.1, byte for
 * byte, and the agent starts from defaults with a new node id. */
static void check_corrupt(const char *content)
{
	static unsigned n_checks;
	char dir[512], name[32], path[600], aside[700], kept[256];
	struct state *s;

	snprintf(name, sizeof(name), "corrupt%u", n_checks++);
	fresh_dir(dir, sizeof(dir), name);
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE_NAME);
	snprintf(aside, sizeof(aside), "%s.corrupt.1", path);
	write_file(path, content);
	assert_int_equal(state_open(dir, &s), 0);
	assert_false(node_id_is_zero(s->node_id));
	assert_false(s->subnet_set);
	assert_int_equal(s->n_peers, 0);
	read_file(aside, kept, sizeof(kept));
	assert_string_equal(kept, content);
	/* a fresh, valid file replaced it */
	state_free(s);
	assert_int_equal(state_open(dir, &s), 0);
	state_free(s);
}

/* A corrupt main file with a good backup: the node keeps its id, lease
 * and peers, and the main file is rewritten from the backup. */
static void test_corrupt_recovered_from_backup(void **st)
{
	(void)st;
	char dir[512], path[600], aside[800], backup[700];
	struct state *a, *b;
	struct prefix subnet = {0xac100500, 24};
	struct endpoint peer = {NA4(0xc0a80107), 7470};
	struct stat sb;

	fresh_dir(dir, sizeof(dir), "recover");
	assert_int_equal(state_open(dir, &a), 0);
	state_add_peer(a, &peer);
	assert_int_equal(state_set_subnet(a, &subnet), 0); /* takes the peer along */
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE_NAME);
	snprintf(backup, sizeof(backup), "%s/%s", dir, STATE_BACKUP_NAME);
	assert_int_equal(stat(backup, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	write_file(path, "{\"version\":1,\"node_id\":\"0123");
	assert_int_equal(state_open(dir, &b), 0);
	assert_same_state(b, a->node_id, &subnet, &peer);
	snprintf(aside, sizeof(aside), "%s.corrupt.1", path);
	assert_int_equal(access(aside, F_OK), 0);
	state_free(b);

	/* The main file itself holds the recovered state again. */
	assert_int_equal(unlink(backup), 0);
	assert_int_equal(state_open(dir, &b), 0);
	assert_memory_equal(a->node_id, b->node_id, NODE_ID_LEN);
	assert_true(addr_prefix_equal(&b->subnet, &subnet));
	state_free(b);

	/* Both corrupt: a new id, and both files kept under their own names. */
	write_file(path, "main garbage");
	write_file(backup, "backup garbage");
	assert_int_equal(state_open(dir, &b), 0);
	assert_memory_not_equal(a->node_id, b->node_id, NODE_ID_LEN);
	assert_false(b->subnet_set);
	snprintf(aside, sizeof(aside), "%s.corrupt.2", path);
	assert_int_equal(access(aside, F_OK), 0);
	snprintf(aside, sizeof(aside), "%s.corrupt.1", backup);
	assert_int_equal(access(aside, F_OK), 0);
	state_free(b);
	state_free(a);
}

/* Every corruption keeps its own copy; only the newest
 * PERSIST_CORRUPT_KEEP are kept. */
static void test_corrupt_copies_bounded(void **st)
{
	(void)st;
	const unsigned rounds = PERSIST_CORRUPT_KEEP + 3;
	char dir[512], path[600], aside[700], text[64], kept[64];
	struct state *s;

	fresh_dir(dir, sizeof(dir), "bounded");
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE_NAME);
	for (unsigned i = 1; i <= rounds; i++) {
		snprintf(text, sizeof(text), "garbage %u", i);
		write_file(path, text);
		assert_int_equal(state_open(dir, &s), 0);
		state_free(s);
	}
	for (unsigned i = 1; i <= rounds; i++) {
		snprintf(aside, sizeof(aside), "%s.corrupt.%u", path, i);
		if (i <= rounds - PERSIST_CORRUPT_KEEP) {
			assert_int_equal(access(aside, F_OK), -1);
			continue;
		}
		snprintf(text, sizeof(text), "garbage %u", i);
		read_file(aside, kept, sizeof(kept));
		assert_string_equal(kept, text);
	}
}

/* A failed save returns the kernel's errno (here ENOSPC, from /dev/full)
 * and is counted; the file on disk stays the previous version. */
static void test_failed_save(void **st)
{
	(void)st;
	char dir[512], tmp[700];
	struct state *s, *again;
	struct prefix subnet = {0xac100600, 24};
	uint64_t errors;

	fresh_dir(dir, sizeof(dir), "full");
	assert_int_equal(state_open(dir, &s), 0);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, STATE_FILE_NAME);
	assert_int_equal(symlink("/dev/full", tmp), 0);
	errors = persist_save_errors();
	assert_int_equal(state_set_subnet(s, &subnet), -ENOSPC);
	assert_int_equal(persist_save_errors(), errors + 1);
	assert_int_equal(access(tmp, F_OK), -1); /* the temp file is removed */
	assert_int_equal(state_open(dir, &again), 0);
	assert_false(again->subnet_set);
	state_free(again);

	/* A failed backup is counted, but the state itself is saved. */
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, STATE_BACKUP_NAME);
	assert_int_equal(symlink("/dev/full", tmp), 0);
	assert_int_equal(state_save(s), 0);
	assert_int_equal(persist_save_errors(), errors + 2);
	assert_int_equal(state_open(dir, &again), 0);
	assert_true(again->subnet_set);
	state_free(again);
	state_free(s);
}

/* An existing state dir open to others is made private (0700). */
static void test_dir_tightened(void **st)
{
	(void)st;
	char dir[512];
	struct state *state;
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/loose", base);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(state_open(dir, &state), 0);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	state_free(state);
}

static void test_corrupt(void **st)
{
	(void)st;
	check_corrupt("{ this is not json");
	check_corrupt("[1,2,3]");
	check_corrupt("{\"version\":1,\"node_id\":\"xyz\"}");
	check_corrupt("{\"version\":1,\"node_id\":\"00000000000000000000000000000000\"}");
	check_corrupt("{\"version\":1,\"node_id\":\"0123456789abcdef0123456789abcdef\","
		      "\"subnet\":\"172.16.1.1/24\"}");
	check_corrupt("{\"version\":1,\"node_id\":\"0123456789abcdef0123456789abcdef\","
		      "\"peers\":[\"1.2.3.4\"]}");
	check_corrupt("");
}

/* A newer agent's extra keys do not make the file corrupt. */
static void test_unknown_keys(void **st)
{
	(void)st;
	char dir[512], path[600];
	struct state *s;

	snprintf(dir, sizeof(dir), "%s/newer", base);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE_NAME);
	write_file(path, "{\"version\":2,\"node_id\":\"0123456789abcdef0123456789abcdef\","
			 "\"subnet\":\"172.16.7.0/24\",\"peers\":[\"10.0.0.1:7470\"],"
			 "\"vtep\":{\"mac\":\"aa:bb\"}}");
	assert_int_equal(state_open(dir, &s), 0);
	assert_int_equal(s->node_id[0], 0x01);
	assert_int_equal(s->node_id[15], 0xef);
	assert_true(s->subnet_set);
	assert_int_equal(s->subnet.addr, 0xac100700);
	assert_int_equal(s->n_peers, 1);
	state_free(s);
}

static void test_peer_bound(void **st)
{
	(void)st;
	char dir[512];
	struct state *s;

	snprintf(dir, sizeof(dir), "%s/bound", base);
	assert_int_equal(state_open(dir, &s), 0);
	for (unsigned i = 0; i < STATE_MAX_PEERS + 10; i++) {
		struct endpoint e = {NA4(0x0a000001 + i), 7470};

		state_add_peer(s, &e);
	}
	assert_int_equal(state_save_pending(s), 0);
	assert_int_equal(s->n_peers, STATE_MAX_PEERS);
	/* the oldest ten were dropped */
	assert_true(na_eq(s->peers[0].addr, NA4(0x0a000001 + 10)));
	state_free(s);
	assert_int_equal(state_open(dir, &s), 0);
	assert_int_equal(s->n_peers, STATE_MAX_PEERS);
	state_free(s);
}

/* Learned peers are not a write each: they wait in memory until
 * state_save_pending() (the peer code calls it a moment later) or the next
 * lease change, which is written at once and takes them along. */
static void test_peers_saved_in_batches(void **st)
{
	(void)st;
	char dir[512];
	struct state *s, *disk;
	struct prefix subnet = {0xac100900, 24};
	uint64_t saves;

	snprintf(dir, sizeof(dir), "%s/batch", base);
	assert_int_equal(state_open(dir, &s), 0);
	saves = s->saves;
	for (unsigned i = 0; i < 10; i++) {
		struct endpoint e = {NA4(0x0a000101 + i), 7470};

		state_add_peer(s, &e);
	}
	assert_int_equal(s->saves, saves);
	assert_true(s->unsaved);
	assert_int_equal(state_open(dir, &disk), 0);
	assert_int_equal(disk->n_peers, 0);
	state_free(disk);
	/* one write for the ten, and none when nothing is pending */
	assert_int_equal(state_save_pending(s), 0);
	assert_int_equal(s->saves, saves + 1);
	assert_int_equal(state_save_pending(s), 0);
	assert_int_equal(s->saves, saves + 1);
	assert_int_equal(state_open(dir, &disk), 0);
	assert_int_equal(disk->n_peers, 10);
	state_free(disk);
	/* a lease is on disk when the setter returns, with any pending peer */
	state_remove_peer(s, &(struct endpoint){NA4(0x0a000101), 7470});
	assert_int_equal(state_set_subnet(s, &subnet), 0);
	assert_false(s->unsaved);
	assert_int_equal(state_open(dir, &disk), 0);
	assert_true(disk->subnet_set);
	assert_int_equal(disk->subnet.addr, subnet.addr);
	assert_int_equal(disk->n_peers, 9);
	state_free(disk);
	state_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fresh_and_reload),
	    cmocka_unit_test(test_ipv6_peer_saved),
	    cmocka_unit_test(test_corrupt),
	    cmocka_unit_test(test_dir_tightened),
	    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_peer_bound),
	    cmocka_unit_test(test_corrupt_recovered_from_backup),
	    cmocka_unit_test(test_corrupt_copies_bounded),
	    cmocka_unit_test(test_failed_save),
	    cmocka_unit_test(test_peers_saved_in_batches),
	};
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, setup, teardown);
}
