/* Persisted state: id stability, round trip, modes, atomic replace,
 * corrupt files moved aside, bounded peer list. */
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

#include "nsagent/log.h"
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

static void test_fresh_and_reload(void **st)
{
	(void)st;
	char dir[512], path[600];
	struct state *a, *b;
	struct stat sb;
	struct prefix subnet = {0xac100300, 24};
	struct endpoint peer = {0xc0a80106, 7470};

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
	assert_int_equal(state_add_peer(a, &peer), 0);
	assert_int_equal(state_add_peer(a, &peer), 0); /* no duplicate */

	assert_int_equal(state_open(dir, &b), 0);
	assert_memory_equal(a->node_id, b->node_id, NODE_ID_LEN);
	assert_true(b->subnet_set);
	assert_true(addr_prefix_equal(&b->subnet, &subnet));
	assert_int_equal(b->n_peers, 1);
	assert_int_equal(b->peers[0].addr, peer.addr);
	assert_int_equal(b->peers[0].port, peer.port);

	assert_int_equal(state_remove_peer(b, &peer), 0);
	assert_int_equal(state_clear_subnet(b), 0);
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

static void check_corrupt(const char *content)
{
	char dir[512], path[600], aside[700];
	struct state *s;

	snprintf(dir, sizeof(dir), "%s/corrupt", base);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE_NAME);
	snprintf(aside, sizeof(aside), "%s.corrupt", path);
	unlink(aside);
	write_file(path, content);
	assert_int_equal(state_open(dir, &s), 0);
	assert_false(node_id_is_zero(s->node_id));
	assert_false(s->subnet_set);
	assert_int_equal(s->n_peers, 0);
	assert_int_equal(access(aside, F_OK), 0);
	/* a fresh, valid file replaced it */
	state_free(s);
	assert_int_equal(state_open(dir, &s), 0);
	state_free(s);
	assert_int_equal(unlink(aside), 0);
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
		struct endpoint e = {0x0a000001 + i, 7470};

		assert_int_equal(state_add_peer(s, &e), 0);
	}
	assert_int_equal(s->n_peers, STATE_MAX_PEERS);
	/* the oldest ten were dropped */
	assert_int_equal(s->peers[0].addr, 0x0a000001 + 10);
	state_free(s);
	assert_int_equal(state_open(dir, &s), 0);
	assert_int_equal(s->n_peers, STATE_MAX_PEERS);
	state_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fresh_and_reload), cmocka_unit_test(test_corrupt),
	    cmocka_unit_test(test_dir_tightened),    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_peer_bound),
	};
	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, setup, teardown);
}
