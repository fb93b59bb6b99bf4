/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for src/cni.c, the nsagent-cni plugin's logic, and for the
 * plugin binary itself: the CNI environment and config of versions 0.4.0,
 * 1.0.0 and 1.1.0 with every error code, ADD results per version (read
 * back with json-c), chained results, CHECK against prevResult, VERSION,
 * and the agent's replies. The real nsagent-cni (NSAGENT_CNI, set by
 * ctest) runs as a runtime runs it against a fake control server in this
 * process that answers canned Responses: no agent, no namespaces. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <json-c/json.h>

#include "ctl.pb-c.h"
#include "nsagent/cni.h"
#include "nsagent/frame.h"

#define NETNS "/run/netns/cni-1234"
#define CONF_10 "{\"cniVersion\":\"1.0.0\",\"name\":\"nsagent\",\"type\":\"nsagent\"}"
#define CONF_11 "{\"cniVersion\":\"1.1.0\",\"name\":\"nsagent\",\"type\":\"nsagent\"}"

static const struct cni_env add_env = {
    .command = "ADD", .container_id = "c0ffee", .netns = NETNS, .ifname = "eth0"};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse(const struct cni_env *env, const char *text, struct cni_invocation *inv,
		 struct cni_error *err)
{
	return cni_parse(env, text, strlen(text), inv, err);
}

static void assert_contains(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("'%s' does not say '%s'", text, needle);
}

/* cni_parse fails with code, and its message says needle. */
static void expect_error(const struct cni_env *env, const char *text, int code, const char *needle)
{
	struct cni_invocation inv = {0};
	struct cni_error err;

	if (parse(env, text, &inv, &err) != -EINVAL)
		fail_msg("config %s was accepted (want code %d)", text, code);
	if (err.code != code)
		fail_msg("config %s: code %d (%s), want %d", text, err.code, err.msg, code);
	assert_contains(err.msg, needle);
	cni_invocation_clear(&inv);
}

static json_object *get(json_object *obj, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(obj, key, &v))
		fail_msg("no key \"%s\" in %s", key, json_object_to_json_string(obj));
	return v;
}

static const char *get_str(json_object *obj, const char *key)
{
	return json_object_get_string(get(obj, key));
}

/* What the plugin would print, read back the way a runtime reads it. */
static json_object *reparse(json_object *out)
{
	json_object *back = json_tokener_parse(json_object_to_json_string(out));

	assert_non_null(back);
	json_object_put(out);
	return back;
}

/* ---- environment, stdin, config ---- */

static void test_version_command(void **state)
{
	struct cni_env env = {.command = "VERSION"};
	const char *inputs[] = {"{\"cniVersion\":\"0.4.0\"}", "", "not json"};
	const char *want[] = {"0.4.0", CNI_LATEST_VERSION, CNI_LATEST_VERSION};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		json_object *out, *list;

		assert_int_equal(cni_run(&env, inputs[i], strlen(inputs[i]), 0, &out), 0);
		out = reparse(out);
		assert_string_equal(get_str(out, "cniVersion"), want[i]);
		list = get(out, "supportedVersions");
		assert_int_equal(json_object_array_length(list), 3);
		assert_string_equal(json_object_get_string(json_object_array_get_idx(list, 0)),
				    "0.4.0");
		assert_string_equal(json_object_get_string(json_object_array_get_idx(list, 1)),
				    "1.0.0");
		assert_string_equal(json_object_get_string(json_object_array_get_idx(list, 2)),
				    "1.1.0");
		json_object_put(out);
	}
}

static void test_env_errors(void **state)
{
	struct cni_env env = add_env;
	struct cni_invocation inv = {0};
	struct cni_error err;

	(void)state;
	env.command = NULL;
	expect_error(&env, CONF_10, CNI_ERR_INVALID_ENV, "CNI_COMMAND is not set");
	env.command = "ATTACH";
	expect_error(&env, CONF_10, CNI_ERR_INVALID_ENV, "CNI_COMMAND 'ATTACH'");
	env = add_env;
	env.netns = NULL;
	expect_error(&env, CONF_10, CNI_ERR_INVALID_ENV,
		     "ADD needs the environment variables CNI_NETNS");
	env.netns = "";
	expect_error(&env, CONF_10, CNI_ERR_INVALID_ENV, "CNI_NETNS");
	env.container_id = env.ifname = NULL;
	expect_error(&env, CONF_10, CNI_ERR_INVALID_ENV, "CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME");
	env = add_env;
	env.command = "CHECK";
	env.netns = NULL;
	expect_error(&env, CONF_10, CNI_ERR_INVALID_ENV,
		     "CHECK needs the environment variables CNI_NETNS");
	env = add_env;
	env.container_id = "-leading-dash";
	expect_error(&env, CONF_10, CNI_ERR_INVALID_ENV, "CNI_CONTAINERID '-leading-dash'");
	env = add_env;
	env.ifname = "a-very-long-interface";
	expect_error(&env, CONF_10, CNI_ERR_INVALID_ENV, "CNI_IFNAME 'a-very-long-interface'");
	env.ifname = "eth/0";
	expect_error(&env, CONF_10, CNI_ERR_INVALID_ENV, "CNI_IFNAME");
	env = add_env;
	env.netns = "run/netns/x";
	expect_error(&env, CONF_10, CNI_ERR_INVALID_ENV,
		     "CNI_NETNS 'run/netns/x' is not an absolute");
	env = add_env;
	env.args = "IgnoreUnknown=1;;K=V";
	expect_error(&env, CONF_10, CNI_ERR_INVALID_ENV, "CNI_ARGS");
	env.args = "=V";
	expect_error(&env, CONF_10, CNI_ERR_INVALID_ENV, "CNI_ARGS");

	/* Well-formed arguments are ignored; DEL may come without a netns. */
	env.args = "IgnoreUnknown=1;K8S_POD_NAME=web-0";
	assert_int_equal(parse(&env, CONF_10, &inv, &err), 0);
	env = add_env;
	env.command = "DEL";
	env.netns = NULL;
	assert_int_equal(parse(&env, CONF_10, &inv, &err), 0);
	assert_int_equal(inv.req.command, CTL_CNI_DEL);
	assert_string_equal(inv.req.netns, "");
	/* GC and STATUS take no attachment variables. */
	env = (struct cni_env){.command = "STATUS"};
	assert_int_equal(parse(&env, CONF_11, &inv, &err), 0);
	assert_int_equal(inv.req.command, CTL_CNI_STATUS);
	cni_invocation_clear(&inv);
}

static void test_decode_errors(void **state)
{
	struct cni_invocation inv = {0};
	struct cni_error err;
	size_t big_len = CNI_STDIN_MAX + 1;
	char *big = malloc(big_len);
	const char nul[] = "{\"cniVersion\":\"1.0.0\"}\0{}";

	(void)state;
	expect_error(&add_env, "", CNI_ERR_DECODE, "no network config on stdin");
	expect_error(&add_env, " \n\t", CNI_ERR_DECODE, "no network config on stdin");
	expect_error(&add_env, "{\"cniVersion\": \"1.0.0\", \"name\":", CNI_ERR_DECODE,
		     "not valid JSON");
	expect_error(&add_env, CONF_10 " {}", CNI_ERR_DECODE, "not valid JSON");
	expect_error(&add_env, "{'cniVersion': '1.0.0'}", CNI_ERR_DECODE, "not valid JSON");
	expect_error(&add_env, "[1, 2]", CNI_ERR_DECODE, "not an object (it is a list)");
	/* A NUL inside the input is not the end of it. */
	assert_int_equal(cni_parse(&add_env, nul, sizeof(nul) - 1, &inv, &err), -EINVAL);
	assert_int_equal(err.code, CNI_ERR_DECODE);
	/* Over the bound: refused before any parsing. */
	assert_non_null(big);
	memset(big, ' ', big_len);
	assert_int_equal(cni_parse(&add_env, big, big_len, &inv, &err), -EINVAL);
	assert_int_equal(err.code, CNI_ERR_DECODE);
	assert_contains(err.msg, "is over 1048576 bytes");
	free(big);
	cni_invocation_clear(&inv);
}

static void test_version_errors(void **state)
{
	struct cni_env env = {.command = "GC"};

	(void)state;
	expect_error(&add_env, "{\"name\":\"n\",\"type\":\"nsagent\"}", CNI_ERR_INVALID_CONFIG,
		     "\"cniVersion\" is missing");
	expect_error(&add_env, "{\"cniVersion\":1,\"name\":\"n\",\"type\":\"nsagent\"}",
		     CNI_ERR_INVALID_CONFIG, "\"cniVersion\" must be a string, not a number");
	expect_error(&add_env, "{\"cniVersion\":\"0.3.1\",\"name\":\"n\",\"type\":\"nsagent\"}",
		     CNI_ERR_INCOMPATIBLE_VERSION,
		     "cniVersion \"0.3.1\" is not supported by nsagent (supported: 0.4.0, 1.0.0, "
		     "1.1.0)");
	expect_error(&add_env, "{\"cniVersion\":\"2.0.0\",\"name\":\"n\",\"type\":\"nsagent\"}",
		     CNI_ERR_INCOMPATIBLE_VERSION, "\"2.0.0\"");
	/* GC and STATUS exist from 1.1.0 on. */
	expect_error(&env, CONF_10, CNI_ERR_INCOMPATIBLE_VERSION, "does not allow GC");
	env.command = "STATUS";
	expect_error(&env, "{\"cniVersion\":\"0.4.0\",\"name\":\"n\",\"type\":\"nsagent\"}",
		     CNI_ERR_INCOMPATIBLE_VERSION, "does not allow STATUS");
}

#define CONF(extra) "{\"cniVersion\":\"1.0.0\",\"name\":\"nsagent\",\"type\":\"nsagent\"," extra "}"

static void test_config_errors(void **state)
{
	struct cni_env gc = {.command = "GC"};
	char *many;
	size_t off;

	(void)state;
	expect_error(&add_env, "{\"cniVersion\":\"1.0.0\",\"type\":\"nsagent\"}",
		     CNI_ERR_INVALID_CONFIG, "\"name\" is missing");
	expect_error(&add_env, "{\"cniVersion\":\"1.0.0\",\"name\":\"nsagent\"}",
		     CNI_ERR_INVALID_CONFIG, "\"type\" is missing");
	expect_error(&add_env, "{\"cniVersion\":\"1.0.0\",\"name\":\"my net\",\"type\":\"x\"}",
		     CNI_ERR_INVALID_CONFIG, "\"name\" ('my net')");
	expect_error(&add_env, CONF("\"socket\":5"), CNI_ERR_INVALID_CONFIG,
		     "\"socket\" must be a string, not a number");
	expect_error(&add_env, CONF("\"socket\":\"run/nsagent.sock\""), CNI_ERR_INVALID_CONFIG,
		     "\"socket\" ('run/nsagent.sock') must be an absolute path");
	expect_error(
	    &add_env,
	    CONF("\"socket\":\"/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\""),
	    CNI_ERR_INVALID_CONFIG, "\"socket\"");
	expect_error(&add_env, CONF("\"ipam\":{\"type\":\"host-local\"}"),
		     CNI_ERR_UNSUPPORTED_FIELD,
		     "unsupported field \"ipam\": {\"type\":\"host-local\"}");
	expect_error(&add_env, CONF("\"dns\":[]"), CNI_ERR_INVALID_CONFIG,
		     "\"dns\" must be an object, not a list");
	expect_error(&add_env, CONF("\"dns\":{\"nameservers\":[\"10.0.0.53\",\"dns.example\"]}"),
		     CNI_ERR_INVALID_CONFIG,
		     "\"dns.nameservers[1]\" is 'dns.example', not an IPv4 or IPv6 address");
	expect_error(&add_env, CONF("\"dns\":{\"search\":\"example.com\"}"), CNI_ERR_INVALID_CONFIG,
		     "\"dns.search\" must be a list of strings");
	expect_error(&add_env, CONF("\"dns\":{\"options\":[1]}"), CNI_ERR_INVALID_CONFIG,
		     "\"dns.options[0]\" must be a string");
	expect_error(&add_env, CONF("\"dns\":{\"domain\":[]}"), CNI_ERR_INVALID_CONFIG,
		     "\"dns.domain\" must be a string");
	expect_error(&add_env, CONF("\"prevResult\":\"x\""), CNI_ERR_INVALID_CONFIG,
		     "\"prevResult\" must be an object");

	/* GC's list of attachments to keep. */
	expect_error(&gc, CONF_11, CNI_ERR_INVALID_CONFIG,
		     "\"cni.dev/valid-attachments\" is missing");
	expect_error(&gc,
		     "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\","
		     "\"cni.dev/valid-attachments\":{}}",
		     CNI_ERR_INVALID_CONFIG, "must be a list, not an object");
	expect_error(&gc,
		     "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\","
		     "\"cni.dev/valid-attachments\":[{\"containerID\":\"a\",\"ifname\":\"eth0\"},"
		     "{\"containerID\":\"b\"}]}",
		     CNI_ERR_INVALID_CONFIG, "\"cni.dev/valid-attachments[1].ifname\" is missing");
	expect_error(
	    &gc,
	    "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\","
	    "\"cni.dev/valid-attachments\":[{\"containerID\":\"_a\",\"ifname\":\"eth0\"}]}",
	    CNI_ERR_INVALID_CONFIG, "\"cni.dev/valid-attachments[0].containerID\" ('_a')");
	many = malloc(64 * (CNI_GC_VALID_MAX + 1) + 200);
	assert_non_null(many);
	off = (size_t)sprintf(many, "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\","
				    "\"cni.dev/valid-attachments\":[");
	for (int i = 0; i <= CNI_GC_VALID_MAX; i++)
		off += (size_t)sprintf(
		    many + off, "%s{\"containerID\":\"c%d\",\"ifname\":\"eth0\"}", i ? "," : "", i);
	strcpy(many + off, "]}");
	expect_error(&gc, many, CNI_ERR_INVALID_CONFIG,
		     "lists 401 attachments (nsagent takes at most 400)");
	free(many);
}

static void test_parse_requests(void **state)
{
	struct cni_invocation inv = {0};
	struct cni_error err;
	struct cni_env gc = {.command = "GC"};

	(void)state;
	assert_int_equal(parse(&add_env, CONF_10, &inv, &err), 0);
	assert_int_equal(inv.command, CNI_CMD_ADD);
	assert_int_equal(inv.req.command, CTL_CNI_ADD);
	assert_string_equal(inv.version, "1.0.0");
	assert_string_equal(inv.req.key.container_id, "c0ffee");
	assert_string_equal(inv.req.key.ifname, "eth0");
	assert_string_equal(inv.req.netns, NETNS);
	/* The agent's own default run directory and socket name. */
	assert_string_equal(inv.socket, "/run/nsagent/nsagent.sock");
	assert_null(inv.dns);
	assert_null(inv.prev_result);
	/* Unknown keys (runtimeConfig, args, ipMasq...) pass. */
	assert_int_equal(parse(&add_env,
			       CONF("\"socket\":\"/run/other/nsagent.sock\",\"runtimeConfig\":{},"
				    "\"ipMasq\":true,\"dns\":{\"nameservers\":[\"fd00::53\"],"
				    "\"domain\":\"cluster\",\"extra\":1}"),
			       &inv, &err),
			 0);
	assert_string_equal(inv.socket, "/run/other/nsagent.sock");
	assert_non_null(inv.dns);
	assert_string_equal(get_str(inv.dns, "domain"), "cluster");
	assert_false(json_object_object_get_ex(inv.dns, "extra", NULL));

	assert_int_equal(parse(&gc,
			       "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\","
			       "\"cni.dev/valid-attachments\":[{\"containerID\":\"a1\",\"ifname\":"
			       "\"eth0\"},{\"containerID\":\"b2\",\"ifname\":\"net1\"}]}",
			       &inv, &err),
			 0);
	assert_int_equal(inv.req.command, CTL_CNI_GC);
	assert_int_equal(inv.req.n_valid, 2);
	assert_string_equal(inv.req.valid[1].container_id, "b2");
	assert_string_equal(inv.req.valid[1].ifname, "net1");
	/* An empty list is a real "keep nothing". */
	assert_int_equal(parse(&gc,
			       "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\","
			       "\"cni.dev/valid-attachments\":[]}",
			       &inv, &err),
			 0);
	assert_int_equal(inv.req.n_valid, 0);
	cni_invocation_clear(&inv);
}

/* ---- results ---- */

static const struct ctl_cni_result attachment = {
    .ifname = "eth0",
    .mac = {0x0a, 0x58, 0xac, 0x10, 0x00, 0x05},
    .mtu = 1450,
    .netns = NETNS,
    .addr = 0xac100005, /* 172.16.0.5 */
    .prefix_len = 24,
    .gateway = 0xac100001,
};

static json_object *add_result(const char *conf)
{
	struct cni_invocation inv = {0};
	struct cni_error err;
	json_object *out;

	if (parse(&add_env, conf, &inv, &err) < 0)
		fail_msg("%s: %s", conf, err.msg);
	out = reparse(cni_add_result_json(&inv, &attachment));
	cni_invocation_clear(&inv);
	return out;
}

static void test_add_result_per_version(void **state)
{
	const char *versions[] = {"0.4.0", "1.0.0", "1.1.0"};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		char conf[256];
		json_object *out, *iface, *ip, *route, *dns;

		snprintf(conf, sizeof(conf),
			 "{\"cniVersion\":\"%s\",\"name\":\"nsagent\",\"type\":\"nsagent\","
			 "\"dns\":{\"nameservers\":[\"172.16.0.1\"],\"search\":[\"svc\"]}}",
			 versions[i]);
		out = add_result(conf);
		assert_string_equal(get_str(out, "cniVersion"), versions[i]);
		assert_int_equal(json_object_array_length(get(out, "interfaces")), 1);
		iface = json_object_array_get_idx(get(out, "interfaces"), 0);
		assert_string_equal(get_str(iface, "name"), "eth0");
		assert_string_equal(get_str(iface, "mac"), "0a:58:ac:10:00:05");
		assert_string_equal(get_str(iface, "sandbox"), NETNS);
		/* An interface's "mtu" is a 1.1.0 key. */
		if (i == 2)
			assert_int_equal(json_object_get_int(get(iface, "mtu")), 1450);
		else
			assert_false(json_object_object_get_ex(iface, "mtu", NULL));

		assert_int_equal(json_object_array_length(get(out, "ips")), 1);
		ip = json_object_array_get_idx(get(out, "ips"), 0);
		assert_string_equal(get_str(ip, "address"), "172.16.0.5/24");
		assert_string_equal(get_str(ip, "gateway"), "172.16.0.1");
		assert_true(json_object_is_type(get(ip, "interface"), json_type_int));
		assert_int_equal(json_object_get_int(get(ip, "interface")), 0);
		/* 0.4.0's ips carry the address family; 1.x dropped it. */
		if (i == 0)
			assert_string_equal(get_str(ip, "version"), "4");
		else
			assert_false(json_object_object_get_ex(ip, "version", NULL));

		assert_int_equal(json_object_array_length(get(out, "routes")), 1);
		route = json_object_array_get_idx(get(out, "routes"), 0);
		assert_string_equal(get_str(route, "dst"), "0.0.0.0/0");
		assert_string_equal(get_str(route, "gw"), "172.16.0.1");

		dns = get(out, "dns");
		assert_string_equal(
		    json_object_get_string(json_object_array_get_idx(get(dns, "nameservers"), 0)),
		    "172.16.0.1");
		assert_string_equal(
		    json_object_get_string(json_object_array_get_idx(get(dns, "search"), 0)),
		    "svc");
		json_object_put(out);
	}
	/* No "dns" in the config, none in the result. */
	{
		json_object *out = add_result(CONF_10);

		assert_false(json_object_object_get_ex(out, "dns", NULL));
		json_object_put(out);
	}
}

/* A dual-stack attachment: both addresses on the one interface and both
 * default routes, in every version, IPv4 first as an IPv4-only result has
 * it; an IPv4-only one (test_add_result_per_version) has exactly one of
 * each. */
static void test_add_result_dual_stack(void **state)
{
	const char *versions[] = {"0.4.0", "1.0.0", "1.1.0"};
	struct ctl_cni_result dual = attachment;

	(void)state;
	assert_int_equal(addr6_parse("fd6e:7361:6765::5", &dual.addr6), 0);
	assert_int_equal(addr6_parse("fd6e:7361:6765::1", &dual.gateway6), 0);
	for (size_t i = 0; i < 3; i++) {
		struct cni_invocation inv = {0};
		struct cni_error err;
		char conf[256];
		json_object *out, *ips, *routes, *ip;

		snprintf(conf, sizeof(conf),
			 "{\"cniVersion\":\"%s\",\"name\":\"nsagent\",\"type\":\"nsagent\"}",
			 versions[i]);
		if (parse(&add_env, conf, &inv, &err) < 0)
			fail_msg("%s: %s", conf, err.msg);
		out = reparse(cni_add_result_json(&inv, &dual));
		cni_invocation_clear(&inv);
		assert_int_equal(json_object_array_length(get(out, "interfaces")), 1);
		ips = get(out, "ips");
		assert_int_equal(json_object_array_length(ips), 2);
		assert_string_equal(get_str(json_object_array_get_idx(ips, 0), "address"),
				    "172.16.0.5/24");
		ip = json_object_array_get_idx(ips, 1);
		assert_string_equal(get_str(ip, "address"), "fd6e:7361:6765::5/64");
		assert_string_equal(get_str(ip, "gateway"), "fd6e:7361:6765::1");
		assert_int_equal(json_object_get_int(get(ip, "interface")), 0);
		if (i == 0)
			assert_string_equal(get_str(ip, "version"), "6");
		else
			assert_false(json_object_object_get_ex(ip, "version", NULL));
		routes = get(out, "routes");
		assert_int_equal(json_object_array_length(routes), 2);
		assert_string_equal(get_str(json_object_array_get_idx(routes, 0), "dst"),
				    "0.0.0.0/0");
		assert_string_equal(get_str(json_object_array_get_idx(routes, 1), "dst"), "::/0");
		assert_string_equal(get_str(json_object_array_get_idx(routes, 1), "gw"),
				    "fd6e:7361:6765::1");
		json_object_put(out);
	}
}

static void test_add_result_chained(void **state)
{
	json_object *out, *ip;

	(void)state;
	out = add_result(CONF("\"dns\":{\"domain\":\"ours\"},\"prevResult\":{\"cniVersion\":"
			      "\"1.0.0\",\"interfaces\":[{\"name\":\"lo\",\"sandbox\":\"" NETNS
			      "\"}],\"ips\":[{\"address\":\"127.0.0.1/8\",\"interface\":0}],"
			      "\"dns\":{\"domain\":\"theirs\"}}"));
	assert_int_equal(json_object_array_length(get(out, "interfaces")), 2);
	assert_string_equal(get_str(json_object_array_get_idx(get(out, "interfaces"), 0), "name"),
			    "lo");
	assert_string_equal(get_str(json_object_array_get_idx(get(out, "interfaces"), 1), "name"),
			    "eth0");
	assert_int_equal(json_object_array_length(get(out, "ips")), 2);
	ip = json_object_array_get_idx(get(out, "ips"), 1);
	assert_string_equal(get_str(ip, "address"), "172.16.0.5/24");
	assert_int_equal(json_object_get_int(get(ip, "interface")), 1);
	assert_int_equal(json_object_array_length(get(out, "routes")), 1);
	/* The earlier plugin's DNS stands. */
	assert_string_equal(get_str(get(out, "dns"), "domain"), "theirs");
	json_object_put(out);
}

static void test_error_json(void **state)
{
	struct cni_error err = {.code = 7, .msg = "network config key \"name\" is missing"};
	json_object *out;

	(void)state;
	out = reparse(cni_error_json("1.0.0", &err));
	assert_string_equal(get_str(out, "cniVersion"), "1.0.0");
	assert_int_equal(json_object_get_int(get(out, "code")), 7);
	assert_string_equal(get_str(out, "msg"), err.msg);
	assert_false(json_object_object_get_ex(out, "details", NULL));
	json_object_put(out);
	strcpy(err.details, "more");
	out = reparse(cni_error_json("0.4.0", &err));
	assert_string_equal(get_str(out, "details"), "more");
	json_object_put(out);
}

/* ---- the agent's replies ---- */

/* The agent's attachment in outcome()'s replies. */
static const struct ctl_cni_result *outcome_cni = &attachment;

static int outcome(const struct cni_env *env, const char *conf, enum ctl_result result,
		   bool has_result, json_object **out, struct cni_error *err)
{
	struct cni_invocation inv = {0};
	struct ctl_cni_reply reply = {
	    .result = result, .has_result = has_result, .cni = *outcome_cni};
	int ret;

	snprintf(reply.message, sizeof(reply.message), "the agent's words");
	if (parse(env, conf, &inv, err) < 0)
		fail_msg("%s: %s", conf, err->msg);
	ret = cni_reply_outcome(&inv, &reply, out, err);
	cni_invocation_clear(&inv);
	return ret;
}

static void expect_outcome(const struct cni_env *env, const char *conf, enum ctl_result result,
			   int code, const char *needle)
{
	struct cni_error err;
	json_object *out;

	assert_int_equal(outcome(env, conf, result, false, &out, &err), -EIO);
	assert_null(out);
	if (err.code != code)
		fail_msg("result %d: code %d (%s), want %d", result, err.code, err.msg, code);
	assert_contains(err.msg, needle);
	assert_contains(err.msg, "the agent's words");
}

static void test_reply_outcomes(void **state)
{
	struct cni_env check = add_env, del = add_env, status = {.command = "STATUS"};
	struct cni_env gc = {.command = "GC"};
	const char *gc_conf = "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\","
			      "\"cni.dev/valid-attachments\":[]}";
	struct cni_error err;
	json_object *out;

	(void)state;
	check.command = "CHECK";
	del.command = "DEL";
	expect_outcome(&add_env, CONF_10, CTL_NOT_READY, CNI_ERR_TRY_AGAIN, "is not ready");
	expect_outcome(&add_env, CONF_10, CTL_FULL, CNI_ERR_SUBNET_FULL, "no free address");
	expect_outcome(&add_env, CONF_10, CTL_NOT_FOUND, CNI_ERR_INVALID_ENV,
		       "CNI_NETNS '" NETNS "' is not a network namespace");
	expect_outcome(&check, CONF_10, CTL_NOT_FOUND, CNI_ERR_UNKNOWN_CONTAINER,
		       "no attachment c0ffee/eth0");
	expect_outcome(&add_env, CONF_10, CTL_EXISTS, CNI_ERR_ATTACHED_ELSEWHERE,
		       "attached in another netns");
	expect_outcome(&add_env, CONF_10, CTL_INVALID, CNI_ERR_INVALID_ENV, "refused the ADD");
	expect_outcome(&add_env, CONF_10, CTL_BAD_REQUEST, CNI_ERR_AGENT_PROTOCOL,
		       "does not serve CNI requests");
	expect_outcome(&add_env, CONF_10, CTL_FAILED, CNI_ERR_AGENT_FAILED,
		       "ADD of c0ffee/eth0 failed");
	expect_outcome(&del, CONF_10, CTL_FAILED, CNI_ERR_AGENT_FAILED, "DEL of c0ffee/eth0");
	expect_outcome(&check, CONF_10, CTL_FAILED, CNI_ERR_CHECK_FAILED, "CHECK of c0ffee/eth0");
	expect_outcome(&gc, gc_conf, CTL_FAILED, CNI_ERR_AGENT_FAILED, "GC failed");
	expect_outcome(&status, CONF_11, CTL_NOT_READY, CNI_ERR_NOT_AVAILABLE, "cannot serve ADDs");
	expect_outcome(&status, CONF_11, CTL_BAD_REQUEST, CNI_ERR_NOT_AVAILABLE,
		       "cannot serve ADDs");
	expect_outcome(&add_env, CONF_10, (enum ctl_result)42, CNI_ERR_AGENT_PROTOCOL,
		       "with result 42");

	/* Success: ADD prints its result, the others print nothing. */
	assert_int_equal(outcome(&add_env, CONF_10, CTL_OK, true, &out, &err), 0);
	assert_non_null(out);
	json_object_put(out);
	assert_int_equal(outcome(&add_env, CONF_10, CTL_OK, false, &out, &err), -EIO);
	assert_int_equal(err.code, CNI_ERR_AGENT_PROTOCOL);
	assert_contains(err.msg, "sent no attachment");
	assert_int_equal(outcome(&del, CONF_10, CTL_OK, false, &out, &err), 0);
	assert_null(out);
	assert_int_equal(outcome(&status, CONF_11, CTL_OK, false, &out, &err), 0);
	assert_null(out);
	assert_int_equal(outcome(&gc, gc_conf, CTL_OK, false, &out, &err), 0);
	assert_null(out);
	assert_int_equal(outcome(&check, CONF_10, CTL_OK, true, &out, &err), 0);
	assert_null(out);
}

#define PREV(iface, ips)                                                                           \
	CONF("\"prevResult\":{\"cniVersion\":\"1.0.0\",\"interfaces\":[" iface "],\"ips\":[" ips   \
	     "]}")
#define OUR_IFACE "{\"name\":\"eth0\",\"mac\":\"0A:58:AC:10:00:05\",\"sandbox\":\"" NETNS "\"}"

static void test_check_against_prev_result(void **state)
{
	struct cni_env check = add_env;
	struct cni_error err;
	json_object *out;

	(void)state;
	check.command = "CHECK";
	/* As ADD made it (MAC case does not matter). */
	assert_int_equal(outcome(&check,
				 PREV(OUR_IFACE, "{\"address\":\"172.16.0.5/24\",\"interface\":0}"),
				 CTL_OK, true, &out, &err),
			 0);
	/* Our interface after another plugin's. */
	assert_int_equal(outcome(&check,
				 PREV("{\"name\":\"lo\"}," OUR_IFACE,
				      "{\"address\":\"10.9.0.1/8\",\"interface\":0},"
				      "{\"address\":\"172.16.0.5/24\",\"interface\":1}"),
				 CTL_OK, true, &out, &err),
			 0);
	assert_int_equal(
	    outcome(&check,
		    PREV("{\"name\":\"eth0\",\"mac\":\"0a:58:ac:10:00:06\",\"sandbox\":\"" NETNS
			 "\"}",
			 "{\"address\":\"172.16.0.5/24\",\"interface\":0}"),
		    CTL_OK, true, &out, &err),
	    -EIO);
	assert_int_equal(err.code, CNI_ERR_CHECK_FAILED);
	assert_contains(err.msg, "eth0 in " NETNS " has MAC 0a:58:ac:10:00:05, but prevResult "
				 "says 0a:58:ac:10:00:06");
	assert_int_equal(outcome(&check,
				 PREV(OUR_IFACE, "{\"address\":\"172.16.0.9/24\",\"interface\":0}"),
				 CTL_OK, true, &out, &err),
			 -EIO);
	assert_int_equal(err.code, CNI_ERR_CHECK_FAILED);
	assert_contains(err.msg, "has address 172.16.0.5/24, but prevResult says 172.16.0.9/24");
	assert_int_equal(outcome(&check, PREV(OUR_IFACE, ""), CTL_OK, true, &out, &err), -EIO);
	assert_contains(err.msg, "prevResult lists no address for eth0");
	assert_int_equal(outcome(&check,
				 PREV("{\"name\":\"eth0\",\"sandbox\":\"/run/netns/other\"}",
				      "{\"address\":\"172.16.0.5/24\",\"interface\":0}"),
				 CTL_OK, true, &out, &err),
			 -EIO);
	assert_contains(err.msg, "prevResult lists no interface eth0 in " NETNS);
}

/* A dual-stack attachment: the IPv6 entry of prevResult must be its IPv6
 * address; a prevResult without one (made before the node had IPv6)
 * still checks. */
static void test_check_prev_result_dual_stack(void **state)
{
	struct ctl_cni_result dual = attachment;
	struct cni_env check = add_env;
	struct cni_error err;
	json_object *out;

	(void)state;
	check.command = "CHECK";
	assert_int_equal(addr6_parse("fd6e:7361:6765::5", &dual.addr6), 0);
	assert_int_equal(addr6_parse("fd6e:7361:6765::1", &dual.gateway6), 0);
	outcome_cni = &dual;
	assert_int_equal(
	    outcome(&check,
		    PREV(OUR_IFACE, "{\"address\":\"172.16.0.5/24\",\"interface\":0},"
				    "{\"address\":\"fd6e:7361:6765::5/64\",\"interface\":0}"),
		    CTL_OK, true, &out, &err),
	    0);
	assert_int_equal(outcome(&check,
				 PREV(OUR_IFACE, "{\"address\":\"172.16.0.5/24\",\"interface\":0}"),
				 CTL_OK, true, &out, &err),
			 0);
	assert_int_equal(
	    outcome(&check,
		    PREV(OUR_IFACE, "{\"address\":\"172.16.0.5/24\",\"interface\":0},"
				    "{\"address\":\"fd6e:7361:6765::9/64\",\"interface\":0}"),
		    CTL_OK, true, &out, &err),
	    -EIO);
	assert_int_equal(err.code, CNI_ERR_CHECK_FAILED);
	assert_contains(
	    err.msg, "has address fd6e:7361:6765::5/64, but prevResult says fd6e:7361:6765::9/64");
	/* The IPv4 address must be there whatever the IPv6 one says. */
	assert_int_equal(
	    outcome(&check,
		    PREV(OUR_IFACE, "{\"address\":\"fd6e:7361:6765::5/64\",\"interface\":0}"),
		    CTL_OK, true, &out, &err),
	    -EIO);
	assert_contains(err.msg, "prevResult lists no address for eth0");
	outcome_cni = &attachment;
}

static void test_call_errors(void **state)
{
	struct cni_invocation inv = {0};
	struct cni_env status = {.command = "STATUS"};
	struct cni_error err;

	(void)state;
	assert_int_equal(parse(&add_env, CONF_10, &inv, &err), 0);
	cni_call_error(&inv, -ENOENT, "no agent answers on /run/nsagent/nsagent.sock: gone", &err);
	assert_int_equal(err.code, CNI_ERR_TRY_AGAIN);
	assert_contains(err.msg, "not running or cannot be reached on /run/nsagent/nsagent.sock");
	assert_contains(err.details, "gone");
	cni_call_error(&inv, -ETIMEDOUT, "late", &err);
	assert_int_equal(err.code, CNI_ERR_TRY_AGAIN);
	assert_contains(err.msg, "did not answer the ADD in time");
	assert_int_equal(parse(&status, CONF_11, &inv, &err), 0);
	cni_call_error(&inv, -ECONNREFUSED, "refused", &err);
	assert_int_equal(err.code, CNI_ERR_NOT_AVAILABLE);
	cni_invocation_clear(&inv);
}

/* ---- a fake agent: a control socket answering one canned Response ---- */

struct fake_agent {
	char dir[64];
	char path[96];
	int listen_fd;
	pthread_t thread;
	bool silent; /* read the request, never answer */
	bool stopping;
	enum ctl_result result;
	bool with_attachment;
	bool with_ipv6; /* the attachment is dual-stack */
	/* What the last request said. */
	int requests;
	int command;
	char container_id[CTL_CNI_ID_MAX + 1];
	char ifname[IFNAMSIZ];
	char netns[CTL_CNI_NETNS_MAX + 1];
};

static void fake_answer(struct fake_agent *fa, int fd)
{
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	NsaCtl__Response resp = NSA_CTL__RESPONSE__INIT;
	NsaCtl__CniResult cni = NSA_CTL__CNI_RESULT__INIT;
	ProtobufCMessage *msg = NULL;
	int ret = 0;

	while ((ret = frame_read(in, &nsa_ctl__request__descriptor, &msg, NULL)) == 0)
		if (evbuffer_read(in, fd, 4096) <= 0)
			break;
	if (ret == 1) {
		NsaCtl__Request *req = (NsaCtl__Request *)msg;

		fa->requests++;
		if (req->request_case == NSA_CTL__REQUEST__REQUEST_CNI) {
			fa->command = req->cni->command;
			if (req->cni->key) {
				snprintf(fa->container_id, sizeof(fa->container_id), "%s",
					 req->cni->key->container_id);
				snprintf(fa->ifname, sizeof(fa->ifname), "%s",
					 req->cni->key->ifname);
			}
			snprintf(fa->netns, sizeof(fa->netns), "%s", req->cni->netns);
		}
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	if (ret == 1 && !fa->silent) {
		resp.result = (NsaCtl__Result)fa->result;
		resp.message = "canned";
		if (fa->with_attachment) {
			cni.ifname = (char *)attachment.ifname;
			cni.mac.data = (uint8_t *)attachment.mac;
			cni.mac.len = sizeof(attachment.mac);
			cni.mtu = attachment.mtu;
			cni.netns = (char *)attachment.netns;
			cni.addr = attachment.addr;
			cni.prefix_len = attachment.prefix_len;
			cni.gateway = attachment.gateway;
			if (fa->with_ipv6) {
				static const uint8_t addr6[16] = {0xfd, 0x6e, 0x73,    0x61,
								  0x67, 0x65, [15] = 5},
						     gateway6[16] = {0xfd, 0x6e, 0x73,	  0x61,
								     0x67, 0x65, [15] = 1};

				cni.addr6.data = (uint8_t *)addr6;
				cni.addr6.len = sizeof(addr6);
				cni.gateway6.data = (uint8_t *)gateway6;
				cni.gateway6.len = sizeof(gateway6);
			}
			resp.cni = &cni;
		}
		/* No cmocka assertion off the test's thread: a failed write
		 * shows as the plugin's error. */
		if (frame_write(out, &resp.base) < 0)
			fprintf(stderr, "fake agent: cannot encode the response\n");
		while (evbuffer_get_length(out) && evbuffer_write(out, fd) > 0)
			;
	}
	/* Until the client hangs up (a silent agent: until it gives up). */
	while (evbuffer_read(in, fd, 4096) > 0)
		;
	evbuffer_free(in);
	evbuffer_free(out);
}

static void *fake_agent_run(void *arg)
{
	struct fake_agent *fa = arg;

	for (;;) {
		int fd = accept(fa->listen_fd, NULL, NULL);

		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0 || __atomic_load_n(&fa->stopping, __ATOMIC_SEQ_CST)) {
			if (fd >= 0)
				close(fd);
			return NULL;
		}
		fake_answer(fa, fd);
		close(fd);
	}
}

static void fake_agent_start(struct fake_agent *fa)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	snprintf(fa->dir, sizeof(fa->dir), "/tmp/nsagent-cni-test.XXXXXX");
	assert_non_null(mkdtemp(fa->dir));
	snprintf(fa->path, sizeof(fa->path), "%s/nsagent.sock", fa->dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fa->path);
	fa->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fa->listen_fd >= 0);
	assert_int_equal(bind(fa->listen_fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fa->listen_fd, 8), 0);
	assert_int_equal(pthread_create(&fa->thread, NULL, fake_agent_run, fa), 0);
}

/* Wakes the accept loop with one last connection, then removes it all. */
static void fake_agent_stop(struct fake_agent *fa)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	__atomic_store_n(&fa->stopping, true, __ATOMIC_SEQ_CST);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", fa->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	pthread_join(fa->thread, NULL);
	close(fd);
	close(fa->listen_fd);
	unlink(fa->path);
	rmdir(fa->dir);
}

/* ---- the real binary, run as a runtime runs it ---- */

struct run {
	int status; /* exit status, -1 when killed */
	int64_t elapsed_ms;
	json_object *out; /* stdout as JSON, NULL when empty */
	char text[8192];
};

/* Runs $NSAGENT_CNI with exactly the variables in envp and stdin text. */
static void run_plugin(char *const envp[], const char *stdin_text, struct run *r)
{
	const char *binary = getenv("NSAGENT_CNI");
	int in[2], out[2], wstatus;
	size_t len = 0;
	ssize_t n;
	int64_t start = now_ms();
	pid_t pid;

	if (!binary)
		fail_msg("NSAGENT_CNI must name the nsagent-cni binary (ctest sets it)");
	memset(r, 0, sizeof(*r));
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = {(char *)binary, NULL};

		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		execve(binary, argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	assert_int_equal(write(in[1], stdin_text, strlen(stdin_text)), (ssize_t)strlen(stdin_text));
	close(in[1]);
	while ((n = read(out[0], r->text + len, sizeof(r->text) - 1 - len)) > 0)
		len += (size_t)n;
	close(out[0]);
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	r->elapsed_ms = now_ms() - start;
	r->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
	r->text[len] = '\0';
	if (len)
		r->out = json_tokener_parse(r->text);
	if (len && !r->out)
		fail_msg("nsagent-cni printed something that is not JSON: %s", r->text);
}

static void expect_plugin_error(char *const envp[], const char *conf, int code, const char *needle,
				struct run *r)
{
	run_plugin(envp, conf, r);
	if (r->status != 1 || !r->out)
		fail_msg("nsagent-cni exited %d with '%s' (want 1 and error %d)", r->status,
			 r->text, code);
	if (json_object_get_int(get(r->out, "code")) != code)
		fail_msg("nsagent-cni said %s (want code %d)", r->text, code);
	assert_contains(get_str(r->out, "msg"), needle);
	json_object_put(r->out);
}

static void test_binary_errors(void **state)
{
	char *add[] = {"CNI_COMMAND=ADD", "CNI_CONTAINERID=c0ffee", "CNI_NETNS=" NETNS,
		       "CNI_IFNAME=eth0", "CNI_PATH=/usr/lib/cni",  NULL};
	char *no_netns[] = {"CNI_COMMAND=ADD", "CNI_CONTAINERID=c0ffee", "CNI_IFNAME=eth0", NULL};
	char conf[256], sock[160];
	struct fake_agent fa = {0};
	struct run r;

	(void)state;
	/* No agent: code 11 naming the socket, at once. */
	fake_agent_start(&fa);
	snprintf(sock, sizeof(sock), "%s/none.sock", fa.dir);
	snprintf(conf, sizeof(conf), CONF("\"socket\":\"%s\""), sock);
	expect_plugin_error(add, conf, CNI_ERR_TRY_AGAIN, sock, &r);
	if (r.elapsed_ms > 1000)
		fail_msg("nsagent-cni took %lld ms to find no agent", (long long)r.elapsed_ms);
	expect_plugin_error(add, "{\"cniVersion\": \"1.0.0\", \"name\": ", CNI_ERR_DECODE,
			    "not valid JSON", &r);
	expect_plugin_error(add, "{\"cniVersion\":\"0.2.0\",\"name\":\"n\",\"type\":\"nsagent\"}",
			    CNI_ERR_INCOMPATIBLE_VERSION, "cniVersion \"0.2.0\" is not supported",
			    &r);
	expect_plugin_error(no_netns, CONF_10, CNI_ERR_INVALID_ENV, "CNI_NETNS", &r);
	expect_plugin_error(add, CONF("\"socket\":[\"/run/x.sock\"]"), CNI_ERR_INVALID_CONFIG,
			    "\"socket\" must be a string", &r);
	/* None of them reached the agent. */
	assert_int_equal(fa.requests, 0);
	fake_agent_stop(&fa);
}

static void test_binary_against_fake_agent(void **state)
{
	char *add[] = {"CNI_COMMAND=ADD", "CNI_CONTAINERID=c0ffee",   "CNI_NETNS=" NETNS,
		       "CNI_IFNAME=eth0", "CNI_ARGS=IgnoreUnknown=1", NULL};
	char *del[] = {"CNI_COMMAND=DEL", "CNI_CONTAINERID=c0ffee", "CNI_IFNAME=eth0", NULL};
	char *version[] = {"CNI_COMMAND=VERSION", NULL};
	struct fake_agent fa = {.result = CTL_OK, .with_attachment = true};
	char conf[256];
	json_object *iface;
	struct run r;

	(void)state;
	fake_agent_start(&fa);
	snprintf(conf, sizeof(conf),
		 "{\"cniVersion\":\"1.1.0\",\"name\":\"nsagent\",\"type\":\"nsagent\","
		 "\"socket\":\"%s\"}",
		 fa.path);
	run_plugin(add, conf, &r);
	if (r.status != 0 || !r.out)
		fail_msg("ADD exited %d: %s", r.status, r.text);
	assert_int_equal(fa.requests, 1);
	assert_int_equal(fa.command, CTL_CNI_ADD);
	assert_string_equal(fa.container_id, "c0ffee");
	assert_string_equal(fa.ifname, "eth0");
	assert_string_equal(fa.netns, NETNS);
	assert_string_equal(get_str(r.out, "cniVersion"), "1.1.0");
	iface = json_object_array_get_idx(get(r.out, "interfaces"), 0);
	assert_string_equal(get_str(iface, "sandbox"), NETNS);
	assert_int_equal(json_object_get_int(get(iface, "mtu")), 1450);
	assert_string_equal(get_str(json_object_array_get_idx(get(r.out, "ips"), 0), "address"),
			    "172.16.0.5/24");
	assert_int_equal(json_object_array_length(get(r.out, "ips")), 1);
	json_object_put(r.out);

	/* A dual-stack agent's reply: the plugin prints both addresses and
	 * both default routes. */
	fa.with_ipv6 = true;
	run_plugin(add, conf, &r);
	if (r.status != 0 || !r.out)
		fail_msg("dual-stack ADD exited %d: %s", r.status, r.text);
	assert_int_equal(json_object_array_length(get(r.out, "ips")), 2);
	assert_string_equal(get_str(json_object_array_get_idx(get(r.out, "ips"), 1), "address"),
			    "fd6e:7361:6765::5/64");
	assert_string_equal(get_str(json_object_array_get_idx(get(r.out, "routes"), 1), "gw"),
			    "fd6e:7361:6765::1");
	json_object_put(r.out);
	fa.with_ipv6 = false;

	/* DEL without a netns: success prints nothing. */
	fa.with_attachment = false;
	run_plugin(del, conf, &r);
	assert_int_equal(r.status, 0);
	assert_null(r.out);
	assert_int_equal(fa.command, CTL_CNI_DEL);
	assert_string_equal(fa.netns, "");

	/* An agent without CNI (main's before the agent side): code 104. */
	fa.result = CTL_BAD_REQUEST;
	expect_plugin_error(add, conf, CNI_ERR_AGENT_PROTOCOL, "does not serve CNI requests", &r);
	/* A full subnet: 100, with the agent's words. */
	fa.result = CTL_FULL;
	expect_plugin_error(add, conf, CNI_ERR_SUBNET_FULL, "canned", &r);

	run_plugin(version, "{\"cniVersion\":\"1.0.0\"}", &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(get_str(r.out, "cniVersion"), "1.0.0");
	json_object_put(r.out);
	assert_int_equal(fa.requests, 5);
	fake_agent_stop(&fa);
}

/* An agent that takes the request and never answers: the plugin gives up
 * at its deadline (shortened here in-process; the binary's is
 * CNI_TIMEOUT_MS) with code 11 naming the socket. */
static void test_silent_agent_times_out(void **state)
{
	struct fake_agent fa = {.silent = true};
	struct cni_env status = {.command = "STATUS"};
	char conf[256];
	json_object *out;
	int64_t start, elapsed;

	(void)state;
	fake_agent_start(&fa);
	snprintf(conf, sizeof(conf), CONF("\"socket\":\"%s\""), fa.path);
	start = now_ms();
	assert_int_equal(cni_run(&add_env, conf, strlen(conf), 300, &out), -1);
	elapsed = now_ms() - start;
	if (elapsed < 250 || elapsed > 2000)
		fail_msg("the call returned after %lld ms (deadline 300 ms)", (long long)elapsed);
	out = reparse(out);
	assert_int_equal(json_object_get_int(get(out, "code")), CNI_ERR_TRY_AGAIN);
	assert_contains(get_str(out, "msg"), fa.path);
	assert_contains(get_str(out, "msg"), "did not answer the ADD in time");
	json_object_put(out);

	/* STATUS says "not available". */
	snprintf(conf, sizeof(conf),
		 "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"t\",\"socket\":\"%s\"}",
		 fa.path);
	assert_int_equal(cni_run(&status, conf, strlen(conf), 200, &out), -1);
	out = reparse(out);
	assert_int_equal(json_object_get_int(get(out, "code")), CNI_ERR_NOT_AVAILABLE);
	json_object_put(out);
	assert_int_equal(fa.requests, 2);
	fake_agent_stop(&fa);
}

/* ADD or CHECK into the namespace the plugin runs in is refused before
 * any agent is asked (none listens on the config's socket here). */
static void test_own_netns_refused(void **state)
{
	struct cni_env env = add_env;
	const char *conf = CONF("\"socket\":\"/nonexistent/nsagent.sock\"");
	json_object *out;

	(void)state;
	env.netns = "/proc/self/ns/net";
	assert_int_equal(cni_run(&env, conf, strlen(conf), 0, &out), -1);
	out = reparse(out);
	assert_int_equal(json_object_get_int(get(out, "code")), CNI_ERR_INVALID_ENV);
	assert_contains(get_str(out, "msg"), "CNI_NETNS '/proc/self/ns/net' is the network "
					     "namespace the plugin runs in");
	json_object_put(out);
	env.command = "CHECK";
	assert_int_equal(cni_run(&env, conf, strlen(conf), 0, &out), -1);
	out = reparse(out);
	assert_int_equal(json_object_get_int(get(out, "code")), CNI_ERR_INVALID_ENV);
	json_object_put(out);
	/* Another namespace's path goes on to the agent (unreachable here). */
	env.command = "ADD";
	env.netns = "/nonexistent/netns";
	assert_int_equal(cni_run(&env, conf, strlen(conf), 0, &out), -1);
	out = reparse(out);
	assert_int_equal(json_object_get_int(get(out, "code")), CNI_ERR_TRY_AGAIN);
	json_object_put(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version_command),
	    cmocka_unit_test(test_env_errors),
	    cmocka_unit_test(test_decode_errors),
	    cmocka_unit_test(test_version_errors),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_parse_requests),
	    cmocka_unit_test(test_add_result_dual_stack),
	    cmocka_unit_test(test_add_result_per_version),
	    cmocka_unit_test(test_add_result_chained),
	    cmocka_unit_test(test_error_json),
	    cmocka_unit_test(test_reply_outcomes),
	    cmocka_unit_test(test_check_prev_result_dual_stack),
	    cmocka_unit_test(test_check_against_prev_result),
	    cmocka_unit_test(test_call_errors),
	    cmocka_unit_test(test_binary_errors),
	    cmocka_unit_test(test_binary_against_fake_agent),
	    cmocka_unit_test(test_silent_agent_times_out),
	    cmocka_unit_test(test_own_netns_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
