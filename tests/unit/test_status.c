/* Unit tests for src/status.c: the people's table (exact text, columns
 * aligned to the widest cell, "-" for unknowns) and the JSON document
 * (key names and value types that scripts rely on, null for unknowns). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "nsagent/status.h"

static uint32_t ip(const char *text)
{
	uint32_t addr;

	assert_int_equal(addr_parse(text, &addr), 0);
	return addr;
}

static void sample(struct status *st)
{
	struct status_namespace *ns;
	struct status_peer *p;

	status_init(st);
	snprintf(st->version, sizeof(st->version), "0.1.0");
	st->pid = 42;
	st->uptime_ms = 3723000; /* 1h02m03s */
	st->healthy = true;
	st->node_ip = ip("192.168.1.5");
	assert_int_equal(addr_parse_prefix("172.16.0.0/24", &st->subnet), 0);
	st->subnet_known = true;
	snprintf(st->bridge, sizeof(st->bridge), "br0");
	st->bridge_addr = ip("172.16.0.1");
	ns = status_add_namespace(st);
	snprintf(ns->name, sizeof(ns->name), "NS1");
	ns->addr = ip("172.16.0.2");
	ns = status_add_namespace(st);
	snprintf(ns->name, sizeof(ns->name), "database");
	ns->addr = ip("172.16.0.10");
	ns->runtime = true;

	p = status_add_peer(st);
	assert_int_equal(p->last_heard_ms, -1);
	snprintf(p->node_id, sizeof(p->node_id), "5f0e");
	p->endpoint = (struct endpoint){ip("192.168.1.6"), 7470};
	snprintf(p->state, sizeof(p->state), "established");
	snprintf(p->mode, sizeof(p->mode), "direct");
	assert_int_equal(addr_parse_prefix("172.16.1.0/24", &p->subnet), 0);
	p->subnet_known = true;
	p->uptime_ms = 65000;
	p->last_heard_ms = 400;
	p->route = STATUS_ROUTE_INSTALLED;
	p->probe = STATUS_PROBE_OK;
	p->probe_rtt_us = 412;
	p = status_add_peer(st);
	p->endpoint = (struct endpoint){ip("192.168.2.17"), 7470};
	snprintf(p->state, sizeof(p->state), "connect");
	p->route = STATUS_ROUTE_STALE;
	p->probe = STATUS_PROBE_FAILED;
}

static char *text_of(const struct status *st)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	status_print_text(st, out);
	fclose(out);
	return text;
}

static void test_text(void **state)
{
	struct status st;
	char *text;

	(void)state;
	sample(&st);
	text = text_of(&st);
	assert_string_equal(
	    text,
	    "node     -\n"
	    "node ip  192.168.1.5\n"
	    "subnet   172.16.0.0/24\n"
	    "bridge   br0 172.16.0.1\n"
	    "key      off (sessions unauthenticated)\n"
	    "health   ok\n"
	    "agent    0.1.0\n"
	    "uptime   1h02m\n"
	    "\n"
	    "NAMESPACE  ADDRESS      ORIGIN\n"
	    "NS1        172.16.0.2   config\n"
	    "database   172.16.0.10  runtime\n"
	    "\n"
	    "NODE  ADDRESS            STATE        MODE    SUBNET         UPTIME  LAST HEARD  "
	    "ROUTE      PROBE   RTT\n"
	    "5f0e  192.168.1.6:7470   established  direct  172.16.1.0/24  1m05s   0s ago      "
	    "installed  ok      0.412ms\n"
	    "-     192.168.2.17:7470  connect      -       -              -       never       "
	    "stale      failed  -\n");
	free(text);
	status_clear(&st);
}

static void test_text_unhealthy_and_empty(void **state)
{
	struct status st;
	char *text;

	(void)state;
	status_init(&st);
	st.healthy = false;
	snprintf(st.problem, sizeof(st.problem), "cannot add route: Network is unreachable");
	st.key = true;
	st.state_save_errors = 3;
	st.accepts_paused = 3;
	st.control_clients_dropped = 1;
	text = text_of(&st);
	assert_non_null(strstr(text, "health   NOT HEALTHY\n"
				     "problem  cannot add route: Network is unreachable\n"
				     "state    3 saves failed (see the log)\n"
				     "limits   3 accept pause(s), 1 control client(s) dropped\n"));
	assert_non_null(strstr(text, "key      on (sessions authenticated)\n"));
	assert_non_null(strstr(text, "\nno namespaces\n\nno peers\n"));
	/* No trailing blanks anywhere. */
	assert_null(strstr(text, " \n"));
	free(text);
	status_clear(&st);
}

static json_object *json_of(const struct status *st)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	json_object *root;

	status_print_json(st, out);
	fclose(out);
	root = json_tokener_parse(text);
	assert_non_null(root);
	free(text);
	return root;
}

static json_object *get(json_object *o, const char *key, json_type type)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("JSON key '%s' missing", key);
	if (!json_object_is_type(v, type))
		fail_msg("JSON key '%s' has type %s", key,
			 json_type_to_name(json_object_get_type(v)));
	return v;
}

static void test_json(void **state)
{
	struct status st;
	json_object *root, *node, *list, *peer, *limits;

	(void)state;
	sample(&st);
	st.accepts_paused = 7;
	root = json_of(&st);
	assert_string_equal(json_object_get_string(get(root, "version", json_type_string)),
			    "0.1.0");
	assert_int_equal(json_object_get_int(get(root, "pid", json_type_int)), 42);
	assert_true(json_object_get_boolean(get(root, "healthy", json_type_boolean)));
	get(root, "problem", json_type_null);
	get(root, "uptime_ms", json_type_int);
	assert_int_equal(json_object_get_int64(get(root, "state_save_errors", json_type_int)), 0);
	node = get(root, "node", json_type_object);
	get(node, "id", json_type_null);
	assert_string_equal(json_object_get_string(get(node, "ip", json_type_string)),
			    "192.168.1.5");
	assert_string_equal(json_object_get_string(get(node, "subnet", json_type_string)),
			    "172.16.0.0/24");
	assert_string_equal(json_object_get_string(get(node, "bridge", json_type_string)), "br0");
	assert_string_equal(json_object_get_string(get(node, "bridge_ip", json_type_string)),
			    "172.16.0.1");
	assert_false(json_object_get_boolean(get(node, "key", json_type_boolean)));
	list = get(root, "namespaces", json_type_array);
	assert_int_equal(json_object_array_length(list), 2);
	assert_string_equal(json_object_get_string(get(json_object_array_get_idx(list, 1), "origin",
						       json_type_string)),
			    "runtime");
	assert_string_equal(
	    json_object_get_string(get(json_object_array_get_idx(list, 1), "ip", json_type_string)),
	    "172.16.0.10");
	list = get(root, "peers", json_type_array);
	assert_int_equal(json_object_array_length(list), 2);
	peer = json_object_array_get_idx(list, 0);
	assert_string_equal(json_object_get_string(get(peer, "node_id", json_type_string)), "5f0e");
	assert_string_equal(json_object_get_string(get(peer, "address", json_type_string)),
			    "192.168.1.6");
	assert_int_equal(json_object_get_int(get(peer, "port", json_type_int)), 7470);
	assert_string_equal(json_object_get_string(get(peer, "state", json_type_string)),
			    "established");
	assert_string_equal(json_object_get_string(get(peer, "mode", json_type_string)), "direct");
	assert_string_equal(json_object_get_string(get(peer, "subnet", json_type_string)),
			    "172.16.1.0/24");
	assert_int_equal(json_object_get_int(get(peer, "uptime_ms", json_type_int)), 65000);
	assert_int_equal(json_object_get_int(get(peer, "last_heard_ms", json_type_int)), 400);
	assert_string_equal(json_object_get_string(get(peer, "route", json_type_string)),
			    "installed");
	assert_string_equal(json_object_get_string(get(peer, "probe", json_type_string)), "ok");
	assert_float_equal(json_object_get_double(get(peer, "probe_rtt_ms", json_type_double)),
			   0.412, 1e-9);
	peer = json_object_array_get_idx(list, 1);
	get(peer, "node_id", json_type_null);
	get(peer, "subnet", json_type_null);
	get(peer, "mode", json_type_null);
	get(peer, "last_heard_ms", json_type_null);
	get(peer, "probe_rtt_ms", json_type_null);
	assert_string_equal(json_object_get_string(get(peer, "route", json_type_string)), "stale");
	limits = get(root, "limits", json_type_object);
	assert_int_equal(json_object_get_int64(get(limits, "accepts_paused", json_type_int)), 7);
	assert_int_equal(
	    json_object_get_int64(get(limits, "control_clients_dropped", json_type_int)), 0);
	json_object_put(root);
	status_clear(&st);
}

static void test_durations(void **state)
{
	static const struct {
		uint64_t ms;
		const char *text;
	} cases[] = {
	    {0, "0s"},		 {999, "0s"},	     {59999, "59s"},	   {60000, "1m00s"},
	    {3599000, "59m59s"}, {3600000, "1h00m"}, {86399000, "23h59m"}, {90000000, "1d01h"},
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		status_format_duration(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
	}
}

static void test_bounds(void **state)
{
	struct status st;

	(void)state;
	status_init(&st);
	for (unsigned i = 0; i < STATUS_MAX_PEERS; i++)
		assert_non_null(status_add_peer(&st));
	assert_null(status_add_peer(&st));
	status_clear(&st);
	assert_int_equal(st.n_peers, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text),   cmocka_unit_test(test_text_unhealthy_and_empty),
	    cmocka_unit_test(test_json),   cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
