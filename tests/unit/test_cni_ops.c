/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for src/cni_ops.c: the CNI commands' meaning for the agent,
 * with a real allocator in a temporary state dir and fake kernel
 * operations (the kernel side is proven by the lab tests with podman and
 * with the plugin run directly). Covers: not ready, a missing netns, the
 * address from the shared allocator, a repeated ADD, a key attached in a
 * live or a gone namespace, a kernel refusal undone, a full subnet, DEL of
 * unknown and known attachments, CHECK, GC keeping namespaces, STATUS, and
 * the request and error counters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nsagent/cni_ops.h"
#include "nsagent/log.h"
#include "nsagent/status.h"

/* The fake kernel: namespaces are paths with an inode each; apply fails
 * when told to; info reports the MAC and whether the namespace is gone. */
struct fake {
	char dir[256];
	struct cni_node node;
	unsigned applies;
	int apply_rc;
	int check_rc;
	bool gone_after_apply;
	const char *removed; /* a namespace path that no longer exists */
};

static struct fake *the_fake;

static int fake_identity(const char *path, uint64_t *dev, uint64_t *ino, struct kern_error *err)
{
	/* /ns/NAME/INODE exists; /ns/missing/... does not. */
	const char *slash = strrchr(path, '/');

	if (strncmp(path, "/ns/missing", 11) == 0 || !slash ||
	    (the_fake->removed && strcmp(path, the_fake->removed) == 0)) {
		snprintf(err->message, sizeof(err->message), "%s does not exist", path);
		return -ENOENT;
	}
	*dev = 7;
	*ino = strtoull(slash + 1, NULL, 10);
	return 0;
}

static int fake_apply(void *arg, struct kern_error *err)
{
	struct fake *f = arg;

	f->applies++;
	if (f->apply_rc < 0)
		snprintf(err->message, sizeof(err->message), "cannot add link: File exists");
	return f->apply_rc;
}

static int fake_info(void *arg, const char *id, const char *ifname, struct kern_attach_info *info)
{
	struct fake *f = arg;

	if (!nsalloc_find_attachment(f->node.alloc, id, ifname))
		return -ENOENT;
	memset(info, 0, sizeof(*info));
	memcpy(info->mac, "\x02\x00\x00\x00\x00\x01", 6);
	info->mtu = 1450;
	info->gone = f->gone_after_apply;
	return 0;
}

static int fake_check(void *arg, const char *id, const char *ifname, struct kern_error *err)
{
	struct fake *f = arg;

	(void)id;
	(void)ifname;
	if (f->check_rc < 0)
		snprintf(err->message, sizeof(err->message), "eth0 in /ns/a/1 has no address");
	return f->check_rc;
}

static const struct cni_ops ops = {fake_apply, fake_info, fake_check, fake_identity};

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(f->dir, sizeof(f->dir), "%s/nsagent-cni-ops.XXXXXX", tmp);
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(addr_parse_prefix("172.16.0.0/29", &f->node.subnet), 0);
	assert_int_equal(nsalloc_open(f->dir, &f->node.subnet, &f->node.alloc), 0);
	f->node.mtu = 1450;
	f->node.problem = "";
	f->node.ready = true;
	f->node.state_dir = f->dir;
	status_count_reset();
	the_fake = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	char cmd[300];

	nsalloc_free(f->node.alloc);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static enum ctl_result call(struct fake *f, enum ctl_cni_command c, const char *id,
			    const char *netns, struct ctl_cni_result *res, char *msg)
{
	struct ctl_cni_request req = {.command = c};

	snprintf(req.key.container_id, sizeof(req.key.container_id), "%s", id);
	snprintf(req.key.ifname, sizeof(req.key.ifname), "eth0");
	snprintf(req.netns, sizeof(req.netns), "%s", netns);
	memset(res, 0, sizeof(*res));
	return cni_handle(&f->node, &ops, f, &req, res, msg, CTL_MESSAGE_MAX);
}

static const char *addr_text(uint32_t addr)
{
	static char buf[ADDR_STRLEN];

	return addr_format(addr, buf);
}

static void test_add_result_and_shared_allocator(void **state)
{
	struct fake *f = *state;
	struct ctl_cni_result res;
	char msg[CTL_MESSAGE_MAX];
	uint32_t ns_addr;

	/* A namespace holds .2: the container gets .3, never the same. */
	assert_int_equal(nsalloc_add(f->node.alloc, "NS1", &ns_addr), 0);
	assert_int_equal(call(f, CTL_CNI_ADD, "c1", "/ns/a/11", &res, msg), CTL_OK);
	assert_string_equal(addr_text(res.addr), "172.16.0.3");
	assert_string_equal(addr_text(res.gateway), "172.16.0.1");
	assert_int_equal(res.prefix_len, 29);
	assert_int_equal(res.mtu, 1450);
	assert_string_equal(res.ifname, "eth0");
	assert_string_equal(res.netns, "/ns/a/11");
	assert_memory_equal(res.mac, "\x02\x00\x00\x00\x00\x01", 6);
	assert_int_equal(f->applies, 1);
	/* Persisted with the namespace's identity. */
	const struct nsalloc_entry *e = nsalloc_find_attachment(f->node.alloc, "c1", "eth0");

	assert_non_null(e);
	assert_int_equal(e->cni.netns_ino, 11);
	assert_int_equal(status_counted(STATUS_CNI_REQUESTS), 1);
	assert_int_equal(status_counted(STATUS_CNI_ERRORS), 0);

	/* The same ADD again: the same attachment, no second address. */
	assert_int_equal(call(f, CTL_CNI_ADD, "c1", "/ns/a/11", &res, msg), CTL_OK);
	assert_string_equal(addr_text(res.addr), "172.16.0.3");
	assert_int_equal(nsalloc_count(f->node.alloc), 2);

	/* Reopened from disk, the attachment keeps its address. */
	nsalloc_free(f->node.alloc);
	assert_int_equal(nsalloc_open(f->dir, &f->node.subnet, &f->node.alloc), 0);
	e = nsalloc_find_attachment(f->node.alloc, "c1", "eth0");
	assert_non_null(e);
	assert_string_equal(addr_text(e->addr), "172.16.0.3");
	assert_string_equal(e->cni.netns, "/ns/a/11");
	assert_int_equal(e->cni.netns_dev, 7);
}

/* Dual-stack: the attachment's IPv6 address has its IPv4 host part in the
 * /64 (derived, not allocated), the gateway is the bridge's ::1; IPv4-only
 * (test_add_result_and_shared_allocator) leaves both all zero. */
static void test_add_result_dual_stack(void **state)
{
	struct fake *f = *state;
	struct ctl_cni_result res;
	char msg[CTL_MESSAGE_MAX], a[ADDR6_STRLEN];
	uint32_t ns_addr;

	assert_int_equal(call(f, CTL_CNI_ADD, "c0", "/ns/a/10", &res, msg), CTL_OK);
	assert_true(addr6_is_zero(&res.addr6) && addr6_is_zero(&res.gateway6));
	assert_int_equal(addr6_parse_prefix("fd6e:7361:6765:7::/64", &f->node.subnet6), 0);
	f->node.subnet6_set = true;
	assert_int_equal(nsalloc_add(f->node.alloc, "NS1", &ns_addr), 0);
	assert_int_equal(call(f, CTL_CNI_ADD, "c1", "/ns/a/11", &res, msg), CTL_OK);
	assert_string_equal(addr_text(res.addr), "172.16.0.4");
	assert_string_equal(addr6_format(&res.addr6, a), "fd6e:7361:6765:7::4");
	assert_string_equal(addr6_format(&res.gateway6, a), "fd6e:7361:6765:7::1");
	/* CHECK answers with the same result. */
	assert_int_equal(call(f, CTL_CNI_CHECK, "c1", "/ns/a/11", &res, msg), CTL_OK);
	assert_string_equal(addr6_format(&res.addr6, a), "fd6e:7361:6765:7::4");
}

static void test_add_refusals(void **state)
{
	struct fake *f = *state;
	struct ctl_cni_result res;
	char msg[CTL_MESSAGE_MAX];
	struct nsalloc *alloc = f->node.alloc;

	/* No subnet yet: try again later. */
	f->node.alloc = NULL;
	f->node.problem = "it has no subnet yet (waiting for peers)";
	assert_int_equal(call(f, CTL_CNI_ADD, "c1", "/ns/a/1", &res, msg), CTL_NOT_READY);
	assert_non_null(strstr(msg, "no subnet yet"));
	assert_int_equal(call(f, CTL_CNI_STATUS, "", "", &res, msg), CTL_NOT_READY);
	/* Nor DEL: the node's attachments are not loaded yet, so "nothing
	 * there" would leak an address. */
	assert_int_equal(call(f, CTL_CNI_DEL, "c1", "", &res, msg), CTL_NOT_READY);
	/* Attachments loaded, topology not built yet (a kernel refusal at
	 * start): no ADD, but a DEL is served. */
	f->node.alloc = alloc;
	f->node.ready = false;
	assert_int_equal(call(f, CTL_CNI_ADD, "c1", "/ns/a/1", &res, msg), CTL_NOT_READY);
	assert_int_equal(call(f, CTL_CNI_DEL, "c1", "", &res, msg), CTL_OK);
	f->node.ready = true;
	f->node.problem = "";
	assert_int_equal(call(f, CTL_CNI_STATUS, "", "", &res, msg), CTL_OK);

	/* The host's own namespace (inode 99 here) is never a container's. */
	f->node.self_netns_dev = 7;
	f->node.self_netns_ino = 99;
	assert_int_equal(call(f, CTL_CNI_ADD, "c1", "/ns/host/99", &res, msg), CTL_INVALID);
	assert_non_null(strstr(msg, "host's own"));
	assert_int_equal(nsalloc_count(alloc), 0);
	assert_int_equal(f->applies, 0);

	/* The netns is missing: named, nothing allocated. */
	assert_int_equal(call(f, CTL_CNI_ADD, "c1", "/ns/missing/1", &res, msg), CTL_NOT_FOUND);
	assert_non_null(strstr(msg, "/ns/missing/1"));
	assert_int_equal(nsalloc_count(alloc), 0);

	/* The kernel refuses: the address goes back, the kernel is put back. */
	f->apply_rc = -EEXIST;
	assert_int_equal(call(f, CTL_CNI_ADD, "c1", "/ns/a/1", &res, msg), CTL_FAILED);
	assert_non_null(strstr(msg, "File exists"));
	assert_int_equal(nsalloc_count(alloc), 0);
	assert_int_equal(f->applies, 2);
	f->apply_rc = 0;

	/* The namespace vanished while it was built. */
	f->gone_after_apply = true;
	assert_int_equal(call(f, CTL_CNI_ADD, "c1", "/ns/a/1", &res, msg), CTL_NOT_FOUND);
	assert_int_equal(nsalloc_count(alloc), 0);
	f->gone_after_apply = false;

	/* A /29 has five addresses past the bridge. */
	for (int i = 0; i < 5; i++) {
		char id[16], netns[32];

		snprintf(id, sizeof(id), "c%d", i);
		snprintf(netns, sizeof(netns), "/ns/a/%d", 100 + i);
		assert_int_equal(call(f, CTL_CNI_ADD, id, netns, &res, msg), CTL_OK);
	}
	assert_int_equal(call(f, CTL_CNI_ADD, "c9", "/ns/a/200", &res, msg), CTL_FULL);
	assert_non_null(strstr(msg, "no free address"));
	assert_int_equal(status_counted(STATUS_CNI_ERRORS), 7);	    /* add */
	assert_int_equal(status_counted(STATUS_CNI_ERRORS + 4), 1); /* status */
}

static void test_add_same_key_other_namespace(void **state)
{
	struct fake *f = *state;
	struct ctl_cni_result res;
	char msg[CTL_MESSAGE_MAX];

	assert_int_equal(call(f, CTL_CNI_ADD, "c1", "/ns/a/1", &res, msg), CTL_OK);
	/* Its namespace still exists: another ADD of the key is refused. */
	assert_int_equal(call(f, CTL_CNI_ADD, "c1", "/ns/b/2", &res, msg), CTL_EXISTS);
	assert_non_null(strstr(msg, "/ns/a/1"));
	/* Its namespace is gone (the runtime restarts the container after a
	 * crash, with no DEL): the new attachment replaces the old. */
	f->removed = "/ns/a/1";
	assert_int_equal(call(f, CTL_CNI_ADD, "c1", "/ns/b/2", &res, msg), CTL_OK);
	assert_int_equal(nsalloc_count(f->node.alloc), 1);
	assert_string_equal(nsalloc_find_attachment(f->node.alloc, "c1", "eth0")->cni.netns,
			    "/ns/b/2");
}

static void test_del_check_gc(void **state)
{
	struct fake *f = *state;
	struct ctl_cni_result res;
	char msg[CTL_MESSAGE_MAX];
	struct ctl_cni_request gc = {.command = CTL_CNI_GC};
	struct ctl_cni_key keep = {.container_id = "c2", .ifname = "eth0"};
	unsigned applies;

	/* DEL of something never added succeeds, with no kernel work. */
	assert_int_equal(call(f, CTL_CNI_DEL, "nope", "", &res, msg), CTL_OK);
	assert_int_equal(f->applies, 0);
	assert_int_equal(nsalloc_add(f->node.alloc, "NS1", NULL), 0);
	assert_int_equal(call(f, CTL_CNI_ADD, "c1", "/ns/a/1", &res, msg), CTL_OK);
	assert_int_equal(call(f, CTL_CNI_ADD, "c2", "/ns/a/2", &res, msg), CTL_OK);
	assert_int_equal(call(f, CTL_CNI_ADD, "c3", "/ns/a/3", &res, msg), CTL_OK);

	/* CHECK: unknown, wrong netns, a kernel difference, fine. */
	assert_int_equal(call(f, CTL_CNI_CHECK, "nope", "/ns/a/1", &res, msg), CTL_NOT_FOUND);
	assert_int_equal(call(f, CTL_CNI_CHECK, "c1", "/ns/a/2", &res, msg), CTL_FAILED);
	f->check_rc = -EINVAL;
	assert_int_equal(call(f, CTL_CNI_CHECK, "c1", "/ns/a/1", &res, msg), CTL_FAILED);
	assert_non_null(strstr(msg, "has no address"));
	f->check_rc = 0;
	assert_int_equal(call(f, CTL_CNI_CHECK, "c1", "/ns/a/1", &res, msg), CTL_OK);
	assert_string_equal(addr_text(res.addr), "172.16.0.3");

	/* DEL frees the address (a new ADD gets it), twice is fine. */
	applies = f->applies;
	assert_int_equal(call(f, CTL_CNI_DEL, "c1", "", &res, msg), CTL_OK);
	assert_int_equal(f->applies, applies + 1);
	assert_null(nsalloc_find_attachment(f->node.alloc, "c1", "eth0"));
	assert_int_equal(call(f, CTL_CNI_DEL, "c1", "/ns/a/1", &res, msg), CTL_OK);
	assert_int_equal(call(f, CTL_CNI_ADD, "c4", "/ns/a/4", &res, msg), CTL_OK);
	assert_string_equal(addr_text(res.addr), "172.16.0.3");

	/* GC keeps c2 and the namespace, removes c3 and c4. */
	gc.valid = &keep;
	gc.n_valid = 1;
	assert_int_equal(cni_handle(&f->node, &ops, f, &gc, &res, msg, sizeof(msg)), CTL_OK);
	assert_non_null(strstr(msg, "removed 2"));
	assert_int_equal(nsalloc_count(f->node.alloc), 2);
	assert_non_null(nsalloc_find(f->node.alloc, "NS1"));
	assert_non_null(nsalloc_find_attachment(f->node.alloc, "c2", "eth0"));
	assert_int_equal(status_counted(STATUS_CNI_REQUESTS + 3), 1); /* gc */
	assert_int_equal(status_counted(STATUS_CNI_REQUESTS + 1), 3); /* del */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_add_result_and_shared_allocator, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_result_dual_stack, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_same_key_other_namespace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_del_check_gc, setup, teardown),
	};

	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
