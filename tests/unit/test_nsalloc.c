/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for src/nsalloc.c: lowest-free allocation after the bridge,
 * no reuse of a held address, config vs runtime namespaces, persistence
 * across reopen, subnet change, corrupt files (each copy kept), undo on a
 * failed save, and a full disk told apart from a full subnet. */
#include <errno.h>
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

#include "nsagent/nsalloc.h"
#include "nsagent/persist.h"

typedef char ns_name[CFG_NS_NAME_MAX + 1];

struct fixture {
	char dir[256];
	struct prefix subnet;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(f->dir, sizeof(f->dir), "%s/nsagent-nsalloc.XXXXXX", tmp);
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(addr_parse_prefix("172.16.0.0/24", &f->subnet), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static const char *addr_of(const struct nsalloc *a, const char *name)
{
	static char buf[ADDR_STRLEN];
	const struct nsalloc_entry *e = nsalloc_find(a, name);

	return e ? addr_format(e->addr, buf) : "(none)";
}

static void test_config_then_runtime(void **state)
{
	struct fixture *f = *state;
	const ns_name config[] = {"NS1", "NS2"};
	struct nsalloc *a;
	uint32_t addr;

	assert_int_equal(nsalloc_open(f->dir, &f->subnet, &a), 0);
	assert_int_equal(nsalloc_set_config(a, config, 2), 0);
	assert_string_equal(addr_of(a, "NS1"), "172.16.0.2");
	assert_string_equal(addr_of(a, "NS2"), "172.16.0.3");
	assert_int_equal(nsalloc_add(a, "web", &addr), 0);
	assert_string_equal(addr_of(a, "web"), "172.16.0.4");
	assert_int_equal(nsalloc_add(a, "web", &addr), -EEXIST);
	assert_int_equal(nsalloc_add(a, "NS1", &addr), -EEXIST);
	assert_int_equal(nsalloc_del(a, "NS1"), -EPERM);
	assert_int_equal(nsalloc_del(a, "nope"), -ENOENT);
	/* Order: config first (config order), then runtime. */
	assert_int_equal(nsalloc_count(a), 3);
	assert_string_equal(nsalloc_get(a, 0)->name, "NS1");
	assert_int_equal(nsalloc_get(a, 0)->origin, NSALLOC_CONFIG);
	assert_string_equal(nsalloc_get(a, 2)->name, "web");
	assert_int_equal(nsalloc_get(a, 2)->origin, NSALLOC_RUNTIME);
	assert_null(nsalloc_get(a, 3));
	nsalloc_free(a);
}

static void test_no_reuse_while_held(void **state)
{
	struct fixture *f = *state;
	const ns_name config[] = {"NS1", "NS2", "NS3"};
	const ns_name fewer[] = {"NS3"};
	const ns_name more[] = {"NS3", "NEW"};
	struct nsalloc *a;
	uint32_t addr;

	assert_int_equal(nsalloc_open(f->dir, &f->subnet, &a), 0);
	assert_int_equal(nsalloc_set_config(a, config, 3), 0);
	assert_int_equal(nsalloc_add(a, "r1", &addr), 0); /* .5 */
	/* NS1 and NS2 leave the config: their addresses are free, NS3 and r1
	 * keep theirs. */
	assert_int_equal(nsalloc_set_config(a, fewer, 1), 0);
	assert_string_equal(addr_of(a, "NS3"), "172.16.0.4");
	assert_string_equal(addr_of(a, "r1"), "172.16.0.5");
	assert_null(nsalloc_find(a, "NS1"));
	/* New ones take the lowest free, never a held one. */
	assert_int_equal(nsalloc_add(a, "r2", &addr), 0);
	assert_string_equal(addr_of(a, "r2"), "172.16.0.2");
	assert_int_equal(nsalloc_set_config(a, more, 2), 0);
	assert_string_equal(addr_of(a, "NEW"), "172.16.0.3");
	assert_string_equal(addr_of(a, "r1"), "172.16.0.5");
	/* Deleting r2 frees .2 for the next one. */
	assert_int_equal(nsalloc_del(a, "r2"), 0);
	assert_int_equal(nsalloc_add(a, "r3", &addr), 0);
	assert_string_equal(addr_of(a, "r3"), "172.16.0.2");
	nsalloc_free(a);
}

static void test_runtime_becomes_config(void **state)
{
	struct fixture *f = *state;
	const ns_name config[] = {"NS1", "web"};
	struct nsalloc *a;
	uint32_t addr;

	assert_int_equal(nsalloc_open(f->dir, &f->subnet, &a), 0);
	assert_int_equal(nsalloc_add(a, "web", &addr), 0);
	assert_string_equal(addr_of(a, "web"), "172.16.0.2");
	assert_int_equal(nsalloc_set_config(a, config, 2), 0);
	/* web keeps its address; NS1 takes the next free one. */
	assert_string_equal(addr_of(a, "web"), "172.16.0.2");
	assert_string_equal(addr_of(a, "NS1"), "172.16.0.3");
	assert_int_equal(nsalloc_find(a, "web")->origin, NSALLOC_CONFIG);
	assert_int_equal(nsalloc_del(a, "web"), -EPERM);
	nsalloc_free(a);
}

static void test_persisted(void **state)
{
	struct fixture *f = *state;
	const ns_name config[] = {"NS1", "NS2"};
	const ns_name reordered[] = {"NS2", "NS1"};
	struct nsalloc *a;
	uint32_t addr;

	assert_int_equal(nsalloc_open(f->dir, &f->subnet, &a), 0);
	assert_int_equal(nsalloc_set_config(a, config, 2), 0);
	assert_int_equal(nsalloc_add(a, "web", &addr), 0);
	nsalloc_free(a);

	assert_int_equal(nsalloc_open(f->dir, &f->subnet, &a), 0);
	assert_int_equal(nsalloc_count(a), 3);
	assert_string_equal(addr_of(a, "web"), "172.16.0.4");
	assert_int_equal(nsalloc_find(a, "web")->origin, NSALLOC_RUNTIME);
	/* Reordering the config does not move addresses. */
	assert_int_equal(nsalloc_set_config(a, reordered, 2), 0);
	assert_string_equal(addr_of(a, "NS1"), "172.16.0.2");
	assert_string_equal(addr_of(a, "NS2"), "172.16.0.3");
	assert_string_equal(nsalloc_get(a, 0)->name, "NS2");
	nsalloc_free(a);
}

static void test_subnet_change(void **state)
{
	struct fixture *f = *state;
	struct prefix other;
	struct nsalloc *a;
	uint32_t addr;

	assert_int_equal(nsalloc_open(f->dir, &f->subnet, &a), 0);
	assert_int_equal(nsalloc_add(a, "web", &addr), 0);
	nsalloc_free(a);
	assert_int_equal(addr_parse_prefix("172.16.9.0/24", &other), 0);
	assert_int_equal(nsalloc_open(f->dir, &other, &a), 0);
	assert_int_equal(nsalloc_count(a), 0);
	nsalloc_free(a);
}

static void test_full(void **state)
{
	struct prefix small;
	struct nsalloc *a;
	const ns_name two[] = {"a", "b"};
	uint32_t addr;

	(void)state;
	/* A /29: bridge .1, namespaces .2 .. .6 (5 of them). */
	assert_int_equal(addr_parse_prefix("172.16.0.0/29", &small), 0);
	assert_int_equal(nsalloc_open(NULL, &small, &a), 0);
	for (int i = 0; i < 5; i++) {
		char name[8];

		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(nsalloc_add(a, name, &addr), 0);
	}
	assert_string_equal(addr_of(a, "n4"), "172.16.0.6");
	/* Not ENOSPC: that is a full disk (test_disk_full). */
	assert_int_equal(nsalloc_add(a, "n5", &addr), -EADDRNOTAVAIL);
	/* A config that does not fit changes nothing. */
	assert_int_equal(nsalloc_set_config(a, two, 2), -EADDRNOTAVAIL);
	assert_int_equal(nsalloc_count(a), 5);
	nsalloc_free(a);
}

static void write_file(const char *path, const char *text)
{
	FILE *file = fopen(path, "w");

	assert_non_null(file);
	fputs(text, file);
	fclose(file);
}

static void test_corrupt_and_bad_entries(void **state)
{
	struct fixture *f = *state;
	char path[400], corrupt[420];
	struct nsalloc *a;
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", f->dir, NSALLOC_FILE_NAME);
	snprintf(corrupt, sizeof(corrupt), "%s.corrupt.1", path);
	write_file(path, "{ not json");
	assert_int_equal(nsalloc_open(f->dir, &f->subnet, &a), 0);
	assert_int_equal(nsalloc_count(a), 0);
	assert_int_equal(stat(corrupt, &st), 0);
	nsalloc_free(a);
	/* A second corruption does not overwrite the first copy. */
	write_file(path, "[]");
	assert_int_equal(nsalloc_open(f->dir, &f->subnet, &a), 0);
	nsalloc_free(a);
	assert_int_equal(stat(corrupt, &st), 0);
	assert_int_equal(st.st_size, strlen("{ not json"));
	snprintf(corrupt, sizeof(corrupt), "%s.corrupt.2", path);
	assert_int_equal(stat(corrupt, &st), 0);

	/* Entries outside the subnet, on the bridge, on broadcast, duplicates
	 * and bad names are dropped; the good one stays. */
	write_file(path, "{\"subnet\": \"172.16.0.0/24\", \"namespaces\": ["
			 "{\"name\": \"ok\", \"addr\": \"172.16.0.7\", \"origin\": \"runtime\"},"
			 "{\"name\": \"out\", \"addr\": \"172.16.1.7\"},"
			 "{\"name\": \"bridge\", \"addr\": \"172.16.0.1\"},"
			 "{\"name\": \"bcast\", \"addr\": \"172.16.0.255\"},"
			 "{\"name\": \"dupaddr\", \"addr\": \"172.16.0.7\"},"
			 "{\"name\": \"ok\", \"addr\": \"172.16.0.8\"},"
			 "{\"name\": \"bad/name\", \"addr\": \"172.16.0.9\"},"
			 "{\"addr\": \"172.16.0.10\"}, 17]}");
	assert_int_equal(nsalloc_open(f->dir, &f->subnet, &a), 0);
	assert_int_equal(nsalloc_count(a), 1);
	assert_string_equal(addr_of(a, "ok"), "172.16.0.7");
	assert_int_equal(nsalloc_find(a, "ok")->origin, NSALLOC_RUNTIME);
	nsalloc_free(a);
}

/* Attachments share the allocator with namespaces, survive a config change
 * and a reopen, and a bad attachment entry is dropped alone. */
static void test_attachments(void **state)
{
	struct fixture *f = *state;
	ns_name config[1] = {"NS1"};
	struct attachment c1 = {.container_id = "c1",
				.ifname = "eth0",
				.netns = "/run/netns/x",
				.netns_dev = 4,
				.netns_ino = 4026532300ull};
	char path[300];
	struct nsalloc *a;
	uint32_t addr;

	assert_int_equal(nsalloc_open(f->dir, &f->subnet, &a), 0);
	assert_int_equal(nsalloc_attach(a, &c1, &addr), 0);
	assert_string_equal(addr_format(addr, (char[ADDR_STRLEN]){0}), "172.16.0.2");
	assert_int_equal(nsalloc_attach(a, &c1, &addr), -EEXIST);
	/* A namespace named like nothing an attachment has: no clash. */
	assert_null(nsalloc_find(a, ""));
	assert_int_equal(nsalloc_set_config(a, config, 1), 0);
	assert_string_equal(addr_of(a, "NS1"), "172.16.0.3");
	assert_non_null(nsalloc_find_attachment(a, "c1", "eth0"));
	assert_int_equal(nsalloc_detach(a, "c1", "eth1"), -ENOENT);
	nsalloc_free(a);

	assert_int_equal(nsalloc_open(f->dir, &f->subnet, &a), 0);
	const struct nsalloc_entry *e = nsalloc_find_attachment(a, "c1", "eth0");

	assert_non_null(e);
	assert_int_equal(e->origin, NSALLOC_CNI);
	assert_int_equal(e->cni.netns_ino, 4026532300ull);
	assert_string_equal(e->cni.netns, "/run/netns/x");
	assert_int_equal(nsalloc_detach(a, "c1", "eth0"), 0);
	assert_int_equal(nsalloc_count(a), 1);
	nsalloc_free(a);

	snprintf(path, sizeof(path), "%s/%s", f->dir, NSALLOC_FILE_NAME);
	write_file(path, "{\"subnet\": \"172.16.0.0/24\", \"namespaces\": ["
			 "{\"addr\": \"172.16.0.7\", \"origin\": \"cni\", \"container_id\": \"c\","
			 " \"ifname\": \"eth0\", \"netns\": \"/proc/1/ns/net\", \"netns_dev\": 4,"
			 " \"netns_ino\": 9},"
			 "{\"addr\": \"172.16.0.8\", \"origin\": \"cni\", \"container_id\": \"c\","
			 " \"ifname\": \"eth0\", \"netns\": \"/proc/2/ns/net\", \"netns_dev\": 4,"
			 " \"netns_ino\": 10},"
			 "{\"addr\": \"172.16.0.9\", \"origin\": \"cni\", \"container_id\": \"d\","
			 " \"ifname\": \"eth0\", \"netns\": \"relative\", \"netns_dev\": 4,"
			 " \"netns_ino\": 11}]}");
	assert_int_equal(nsalloc_open(f->dir, &f->subnet, &a), 0);
	assert_int_equal(nsalloc_count(a), 1);
	assert_string_equal(nsalloc_find_attachment(a, "c", "eth0")->cni.netns, "/proc/1/ns/net");
	nsalloc_free(a);
}

static void test_failed_save_undoes(void **state)
{
	struct fixture *f = *state;
	char sub[300], aside[310];
	struct nsalloc *a;
	uint32_t addr;

	snprintf(sub, sizeof(sub), "%s/state", f->dir);
	snprintf(aside, sizeof(aside), "%s/aside", f->dir);
	assert_int_equal(nsalloc_open(sub, &f->subnet, &a), 0);
	assert_int_equal(nsalloc_add(a, "one", &addr), 0);
	/* The state dir becomes a plain file: saving cannot work. */
	assert_int_equal(rename(sub, aside), 0);
	write_file(sub, "");
	assert_true(nsalloc_add(a, "two", &addr) < 0);
	assert_null(nsalloc_find(a, "two"));
	assert_true(nsalloc_del(a, "one") < 0);
	assert_non_null(nsalloc_find(a, "one"));
	nsalloc_free(a);
}

/* A full disk (the kernel's ENOSPC, from /dev/full) is reported as such,
 * counted, and changes nothing; once there is room the same add works. */
static void test_disk_full(void **state)
{
	struct fixture *f = *state;
	char tmp[420];
	struct nsalloc *a;
	uint32_t addr;
	uint64_t errors = persist_save_errors();

	assert_int_equal(nsalloc_open(f->dir, &f->subnet, &a), 0);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", f->dir, NSALLOC_FILE_NAME);
	assert_int_equal(symlink("/dev/full", tmp), 0);
	assert_int_equal(nsalloc_add(a, "web", &addr), -ENOSPC);
	assert_int_equal(persist_save_errors(), errors + 1);
	assert_null(nsalloc_find(a, "web"));
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(nsalloc_add(a, "web", &addr), 0);
	assert_string_equal(addr_of(a, "web"), "172.16.0.2");
	nsalloc_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_config_then_runtime, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_reuse_while_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_runtime_becomes_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_persisted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_subnet_change, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_and_bad_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attachments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_save_undoes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
