/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the status model's three printers over one filled model:
 * the people's table (src/status.c; exact text, columns aligned to the
 * widest cell, "-" for unknowns), the JSON document (key names and value
 * types that scripts rely on, null for unknowns) and the Prometheus text
 * (src/status_prom.c; every field and counter appears, and Prometheus's
 * own parser, promtool, accepts it when it is installed), and the counter
 * family table they all walk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "addr6_lit.h"
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
	st->node_ip = NA4(ip("192.168.1.5"));
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
	struct status_attachment *at = status_add_attachment(st);

	snprintf(at->container_id, sizeof(at->container_id), "3f2a9c");
	snprintf(at->netns, sizeof(at->netns), "/run/netns/cni-1");
	snprintf(at->ifname, sizeof(at->ifname), "eth0");
	snprintf(at->host_ifname, sizeof(at->host_ifname), "nsc0123456789ab");
	at->addr = ip("172.16.0.11");
	at = status_add_attachment(st);
	snprintf(at->container_id, sizeof(at->container_id), "77");
	snprintf(at->netns, sizeof(at->netns), "/proc/9/ns/net");
	snprintf(at->ifname, sizeof(at->ifname), "net1");
	snprintf(at->host_ifname, sizeof(at->host_ifname), "nsc000000000001");
	at->addr = ip("172.16.0.12");
	at->netns_gone = true;

	p = status_add_peer(st);
	assert_int_equal(p->last_heard_ms, -1);
	snprintf(p->node_id, sizeof(p->node_id), "5f0e");
	p->endpoint = (struct endpoint){NA4(ip("192.168.1.6")), 7470};
	snprintf(p->state, sizeof(p->state), "established");
	snprintf(p->mode, sizeof(p->mode), "direct");
	assert_int_equal(addr_parse_prefix("172.16.1.0/24", &p->subnet), 0);
	p->subnet_known = true;
	p->uptime_ms = 65000;
	p->last_heard_ms = 400;
	p->route = STATUS_ROUTE_INSTALLED;
	p->probe.result = STATUS_PROBE_OK;
	p->probe.rtt_us = 412;
	p->probe.sent = 30;
	p->probe.lost = 3;
	p->probe.loss_ratio = 0.1;
	p->probe6.result = STATUS_PROBE_FAILED;
	p->probe6.sent = 29;
	p->probe6.lost = 5;
	p->probe6.loss_ratio = 0.5;
	p = status_add_peer(st);
	p->endpoint = (struct endpoint){NA4(ip("192.168.2.17")), 7470};
	snprintf(p->state, sizeof(p->state), "connect");
	p->route = STATUS_ROUTE_STALE;
	p->probe.result = STATUS_PROBE_FAILED;
	for (unsigned i = 0; i < 4; i++)
		snprintf(st->session_states[st->n_session_states++], STATUS_STATE_MAX, "%s",
			 (const char *[]){"idle", "connect", "opensent", "established"}[i]);
}

/* Every counter gets its own value (its index + 1), so a printer showing
 * one counter's value under another's name fails. */
static void number_counters(struct status *st)
{
	for (unsigned c = 0; c < STATUS_COUNTER_COUNT; c++)
		st->counters[c] = c + 1;
}

/* What one printer prints of st. Not inlined: GCC 12 at -O2 then takes the
 * text for a pointer into this frame (open_memstream keeps &text) and
 * fails the Release build with -Wdangling-pointer. */
static __attribute__((noinline)) char *printed(void (*print)(const struct status *, FILE *),
					       const struct status *st)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	print(st, out);
	fclose(out);
	return text;
}

static char *text_of(const struct status *st)
{
	return printed(status_print_text, st);
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
	    "CONTAINER  IFNAME  ADDRESS      NETNS                  HOST END         ORIGIN\n"
	    "3f2a9c     eth0    172.16.0.11  /run/netns/cni-1       nsc0123456789ab  cni\n"
	    "77         net1    172.16.0.12  /proc/9/ns/net (gone)  nsc000000000001  cni\n"
	    "\n"
	    "NODE  ADDRESS            STATE        MODE    SUBNET         UPTIME  LAST HEARD  "
	    "ROUTE      PROBE   RTT      PROBE6   RTT6\n"
	    "5f0e  192.168.1.6:7470   established  direct  172.16.1.0/24  1m05s   0s ago      "
	    "installed  ok      0.412ms  failed   -\n"
	    "-     192.168.2.17:7470  connect      -       -              -       never       "
	    "stale      failed  -        unknown  -\n");
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
	st.counters[STATUS_STATE_SAVE_ERRORS] = 3;
	st.counters[STATUS_ACCEPTS_PAUSED_PEER] = 1;
	st.counters[STATUS_ACCEPTS_PAUSED_METRICS] = 2;
	st.counters[STATUS_CONTROL_CLIENTS_DROPPED] = 1;
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
	char *text = printed(status_print_json, st);
	json_object *root;

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
	st.counters[STATUS_ACCEPTS_PAUSED_CONTROL] = 7;
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
	list = get(root, "attachments", json_type_array);
	assert_int_equal(json_object_array_length(list), 2);
	json_object *at = json_object_array_get_idx(list, 1);

	assert_string_equal(json_object_get_string(get(at, "container_id", json_type_string)),
			    "77");
	assert_string_equal(json_object_get_string(get(at, "netns", json_type_string)),
			    "/proc/9/ns/net");
	assert_string_equal(json_object_get_string(get(at, "ifname", json_type_string)), "net1");
	assert_string_equal(json_object_get_string(get(at, "ip", json_type_string)), "172.16.0.12");
	assert_string_equal(json_object_get_string(get(at, "origin", json_type_string)), "cni");
	assert_true(json_object_get_boolean(get(at, "netns_gone", json_type_boolean)));
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
	/* not probed over IPv6: no probe6 fields at all */
	assert_false(json_object_object_get_ex(peer, "probe6", NULL));
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

/* The table names every counter exactly once, in enum order, families
 * adjacent, and a counter's name and label find it again (the control
 * protocol carries counters so). */
static void test_families(void **state)
{
	unsigned next = 0;

	(void)state;
	for (unsigned f = 0; f < status_family_count(); f++) {
		const struct status_family *fam = status_family_get(f);

		assert_int_equal(fam->first, next);
		assert_true(fam->n >= 1);
		assert_true((fam->n > 1) == (fam->label != NULL));
		assert_true((fam->label != NULL) == (fam->label_value != NULL));
		assert_true((fam->text_row != NULL) == (fam->text_what != NULL));
		for (unsigned g = 0; g < f; g++)
			assert_string_not_equal(status_family_get(g)->name, fam->name);
		next += fam->n;
	}
	assert_int_equal(next, STATUS_COUNTER_COUNT);
	assert_null(status_family_get(status_family_count()));
	for (unsigned c = 0; c < STATUS_COUNTER_COUNT; c++) {
		const struct status_family *fam;
		enum status_counter found;
		const char *label;

		fam = status_counter_family((enum status_counter)c, &label);
		assert_non_null(fam);
		assert_int_equal(status_counter_find(fam->name, label, &found), 0);
		assert_int_equal(found, c);
	}
	assert_int_equal(status_counter_find("reloads", "maybe", &(enum status_counter){0}),
			 -ENOENT);
	/* Rejections follow rib's verdict list, labelled with its keys. */
	for (unsigned v = RIB_ACCEPTED + 1; v < RIB_VERDICT_COUNT; v++) {
		const char *label;

		assert_string_equal(
		    status_counter_family(STATUS_ADVERTS_REJECTED_BY(v), &label)->name,
		    "adverts_rejected");
		assert_string_equal(label, rib_verdict_key(v));
	}
}

static void test_counts(void **state)
{
	struct status st;

	(void)state;
	status_count_reset();
	status_count(STATUS_RELOADS_OK);
	status_count(STATUS_RELOADS_OK);
	status_count(STATUS_CONTROL_REQUESTS);
	status_count(STATUS_COUNTER_COUNT); /* ignored */
	assert_int_equal(status_counted(STATUS_RELOADS_OK), 2);
	status_init(&st);
	status_take_counts(&st);
	assert_int_equal(st.counters[STATUS_RELOADS_OK], 2);
	assert_int_equal(st.counters[STATUS_CONTROL_REQUESTS], 1);
	assert_int_equal(st.counters[STATUS_RELOADS_FAILED], 0);
	status_count_reset();
	assert_int_equal(status_counted(STATUS_RELOADS_OK), 0);
}

/* Trouble counters get rows (sums, only the ones not 0); routine ones do
 * not. */
static void test_text_counters(void **state)
{
	static const struct {
		enum status_counter counter;
		uint64_t value;
	} counts[] = {
	    {STATUS_TLS_FAILURES, 2},
	    {STATUS_HANDSHAKE_TIMEOUTS, 1},
	    {STATUS_ADVERTS_REJECTED_BY(RIB_REJECT_OWNED), 3},
	    {STATUS_ADVERTS_REJECTED_BY(RIB_REJECT_DEFAULT), 1},
	    {STATUS_RECONCILE_ERRORS, 5},
	    {STATUS_RECONCILE_CHANGES, 40}, /* routine: no row */
	    {STATUS_CONTROL_REQUESTS, 9},   /* routine: no row */
	};
	struct status st;
	char *text;

	(void)state;
	sample(&st);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		st.counters[counts[i].counter] = counts[i].value;
	text = text_of(&st);
	assert_non_null(strstr(text, "health    ok\n"
				     "security  2 TLS failure(s), 1 handshake timeout(s)\n"
				     "adverts   4 entries rejected (see the log)\n"
				     "kernel    5 failed request(s)\n"
				     "agent     0.1.0\n"));
	assert_null(strstr(text, "limits"));
	assert_null(strstr(text, "40"));
	free(text);
	status_clear(&st);
}

static void test_json_counters(void **state)
{
	struct status st;
	json_object *root, *counters, *fam, *peer;

	(void)state;
	sample(&st);
	number_counters(&st);
	root = json_of(&st);
	counters = get(root, "counters", json_type_object);
	for (unsigned f = 0; f < status_family_count(); f++) {
		const struct status_family *family = status_family_get(f);

		if (!family->label) {
			assert_int_equal(
			    json_object_get_int64(get(counters, family->name, json_type_int)),
			    family->first + 1);
			continue;
		}
		fam = get(counters, family->name, json_type_object);
		for (unsigned i = 0; i < family->n; i++)
			assert_int_equal(
			    json_object_get_int64(get(fam, family->label_value(i), json_type_int)),
			    family->first + i + 1);
	}
	/* The older keys stay, from the same counters. */
	assert_int_equal(json_object_get_int64(get(root, "state_save_errors", json_type_int)),
			 STATUS_STATE_SAVE_ERRORS + 1);
	assert_int_equal(json_object_get_int64(get(get(root, "limits", json_type_object),
						   "accepts_paused", json_type_int)),
			 (STATUS_ACCEPTS_PAUSED_PEER + 1) + (STATUS_ACCEPTS_PAUSED_CONTROL + 1) +
			     (STATUS_ACCEPTS_PAUSED_METRICS + 1));
	fam = get(root, "sessions", json_type_object);
	assert_int_equal(json_object_get_int(get(fam, "established", json_type_int)), 1);
	assert_int_equal(json_object_get_int(get(fam, "connect", json_type_int)), 1);
	assert_int_equal(json_object_get_int(get(fam, "idle", json_type_int)), 0);
	fam = get(root, "routes", json_type_object);
	assert_int_equal(json_object_get_int(get(fam, "installed", json_type_int)), 1);
	assert_int_equal(json_object_get_int(get(fam, "stale", json_type_int)), 1);
	peer = json_object_array_get_idx(get(root, "peers", json_type_array), 0);
	assert_int_equal(json_object_get_int64(get(peer, "probe_sent", json_type_int)), 30);
	assert_int_equal(json_object_get_int64(get(peer, "probe_lost", json_type_int)), 3);
	assert_float_equal(json_object_get_double(get(peer, "probe_loss_ratio", json_type_double)),
			   0.1, 1e-9);
	assert_string_equal(json_object_get_string(get(peer, "probe6", json_type_string)),
			    "failed");
	get(peer, "probe6_rtt_ms", json_type_null);
	assert_int_equal(json_object_get_int64(get(peer, "probe6_sent", json_type_int)), 29);
	assert_int_equal(json_object_get_int64(get(peer, "probe6_lost", json_type_int)), 5);
	json_object_put(root);
	status_clear(&st);
}

static char *prom_of(const struct status *st)
{
	return printed(status_print_prom, st);
}

/* needle is in text exactly once. */
static void assert_once(const char *text, const char *needle)
{
	const char *at = strstr(text, needle);

	if (!at || strstr(at + 1, needle))
		fail_msg("'%s' is not in the text exactly once:\n%s", needle, text);
}

static void assert_line(const char *text, const char *line)
{
	char want[320]; /* room for any line assert_line is given */

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (!strstr(text, want))
		fail_msg("no line '%s' in:\n%s", line, text);
}

/* promtool check metrics on text, when promtool is installed (deploy/deps.sh
 * installs it): exit 0 and not a word of complaint. */
static void promtool_accepts(const char *text)
{
	char path[] = "/tmp/test_status_prom.XXXXXX", cmd[128], said[4096] = "";
	int fd = mkstemp(path);
	size_t n = 0;
	FILE *p;
	int rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		fprintf(stderr, "promtool not installed: the exposition is not checked by it\n");
		unlink(path);
		return;
	}
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(said, 1, sizeof(said) - 1, p);
	said[n] = '\0';
	rc = pclose(p);
	unlink(path);
	if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0 || n != 0)
		fail_msg("promtool check metrics (exit %d) said: %s\non:\n%s",
			 WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, said, text);
}

static void test_prom(void **state)
{
	struct status st;
	char *text, line[256];

	(void)state;
	sample(&st);
	number_counters(&st);
	text = prom_of(&st);
	assert_line(text, "nsagent_build_info{version=\"0.1.0\"} 1");
	assert_line(text, "nsagent_healthy 1");
	assert_line(text, "nsagent_authenticated 0");
	assert_line(text, "nsagent_namespaces 2");
	assert_line(text, "nsagent_attachments 2");
	assert_line(text, "nsagent_sessions{state=\"idle\"} 0");
	assert_line(text, "nsagent_sessions{state=\"connect\"} 1");
	assert_line(text, "nsagent_sessions{state=\"opensent\"} 0");
	assert_line(text, "nsagent_sessions{state=\"established\"} 1");
	assert_line(text, "nsagent_routes{state=\"installed\"} 1");
	assert_line(text, "nsagent_routes{state=\"stale\"} 1");
	/* Every counter, under its own name and label, with its own value. */
	for (unsigned c = 0; c < STATUS_COUNTER_COUNT; c++) {
		const char *label;
		const struct status_family *fam =
		    status_counter_family((enum status_counter)c, &label);

		if (fam->label)
			snprintf(line, sizeof(line), "nsagent_%s_total{%s=\"%s\"} %u", fam->name,
				 fam->label, label, c + 1);
		else
			snprintf(line, sizeof(line), "nsagent_%s_total %u", fam->name, c + 1);
		assert_line(text, line);
		snprintf(line, sizeof(line), "# TYPE nsagent_%s_total counter\n", fam->name);
		assert_once(text, line);
	}
	/* Probe series for the probed peer only. */
	assert_line(text,
		    "nsagent_probe_rtt_seconds{peer=\"192.168.1.6\",family=\"ipv4\"} 0.000412");
	assert_line(text, "nsagent_probe_sent_total{peer=\"192.168.1.6\",family=\"ipv4\"} 30");
	assert_line(text, "nsagent_probe_lost_total{peer=\"192.168.1.6\",family=\"ipv4\"} 3");
	assert_line(text, "nsagent_probe_loss_ratio{peer=\"192.168.1.6\",family=\"ipv4\"} 0.1");
	assert_line(text, "nsagent_probe_up{peer=\"192.168.1.6\",family=\"ipv4\"} 1");
	/* ... and per family: IPv6 is failing, with no round trip to show */
	assert_line(text, "nsagent_probe_up{peer=\"192.168.1.6\",family=\"ipv6\"} 0");
	assert_line(text, "nsagent_probe_lost_total{peer=\"192.168.1.6\",family=\"ipv6\"} 5");
	assert_null(
	    strstr(text, "nsagent_probe_rtt_seconds{peer=\"192.168.1.6\",family=\"ipv6\"}"));
	assert_null(strstr(text, "192.168.2.17"));
	promtool_accepts(text);
	free(text);
	status_clear(&st);
}

/* An empty model (no peers, no probes) and label values that need escaping. */
static void test_prom_empty_and_escaped(void **state)
{
	struct status st;
	struct status_peer *p;
	char *text;

	(void)state;
	status_init(&st);
	snprintf(st.version, sizeof(st.version), "1.0 \"rc\\1\"");
	text = prom_of(&st);
	assert_line(text, "nsagent_build_info{version=\"1.0 \\\"rc\\\\1\\\"\"} 1");
	assert_null(strstr(text, "nsagent_probe_"));
	assert_null(strstr(text, "nsagent_sessions"));
	promtool_accepts(text);
	free(text);
	/* Two peer entries of one node IP share its probe series once. */
	for (unsigned i = 0; i < 2; i++) {
		p = status_add_peer(&st);
		p->endpoint = (struct endpoint){NA4(ip("192.168.1.6")), (uint16_t)(7470 + i)};
		p->probe.sent = 1;
	}
	text = prom_of(&st);
	assert_once(text, "nsagent_probe_sent_total{peer=\"192.168.1.6\",family=\"ipv4\"} 1\n");
	assert_null(strstr(text, "nsagent_probe_rtt_seconds"));
	promtool_accepts(text);
	free(text);
	status_clear(&st);
}

/* Dual-stack peers: a table of the /64s after the peers (only when some
 * peer has one: an IPv4-only status prints as before), the JSON keys, and
 * the IPv6 rejections as a family of their own, promtool-valid. */
static void test_peers6(void **state)
{
	struct status st;
	struct status_peer *p;
	json_object *root, *peer;
	char *text;

	(void)state;
	sample(&st);
	p = &st.peers[0];
	assert_int_equal(addr6_parse_prefix("fd6e:7361:6765:1::/64", &p->subnet6), 0);
	p->subnet6_known = true;
	p->route6 = STATUS_ROUTE_INSTALLED;
	snprintf(p->mode6, sizeof(p->mode6), "direct");
	assert_int_equal(addr6_parse("fe80::1:2ff:fe03:405", &p->link_local6), 0);
	p->link_local6_set = true;
	p->via6 = p->link_local6; /* direct: the route goes via what it advertised */
	st.counters[STATUS_ADVERTS6_REJECTED_BY(RIB_REJECT_SPECIAL)] = 2;
	text = text_of(&st);
	assert_non_null(
	    strstr(text, "\n\nNODE  SUBNET6                MODE6   ROUTE6     VIA\n"
			 "5f0e  fd6e:7361:6765:1::/64  direct  installed  fe80::1:2ff:fe03:405\n"));
	free(text);
	/* VIA is the route's next hop, not what the peer advertised: through
	 * WireGuard the one its node address derives on nsa-wg. */
	snprintf(p->mode6, sizeof(p->mode6), "wireguard");
	assert_int_equal(addr6_parse("fe80::2001:db8:1:6", &p->via6), 0);
	text = text_of(&st);
	assert_non_null(
	    strstr(text, "5f0e  fd6e:7361:6765:1::/64  wireguard  installed  fe80::2001:db8:1:6\n"));
	assert_null(strstr(text, "fe80::1:2ff:fe03:405"));
	assert_non_null(strstr(text, "adverts  2 IPv6 entries rejected (see the log)\n"));
	free(text);

	root = json_of(&st);
	peer = json_object_array_get_idx(get(root, "peers", json_type_array), 0);
	assert_string_equal(json_object_get_string(get(peer, "subnet6", json_type_string)),
			    "fd6e:7361:6765:1::/64");
	assert_string_equal(json_object_get_string(get(peer, "mode6", json_type_string)),
			    "wireguard");
	assert_string_equal(json_object_get_string(get(peer, "route6", json_type_string)),
			    "installed");
	assert_string_equal(json_object_get_string(get(peer, "link_local6", json_type_string)),
			    "fe80::1:2ff:fe03:405");
	assert_string_equal(json_object_get_string(get(peer, "via6", json_type_string)),
			    "fe80::2001:db8:1:6");
	peer = json_object_array_get_idx(get(root, "peers", json_type_array), 1);
	get(peer, "subnet6", json_type_null);
	get(peer, "link_local6", json_type_null);
	get(peer, "via6", json_type_null);
	assert_string_equal(json_object_get_string(get(peer, "route6", json_type_string)), "none");
	json_object_put(root);

	text = prom_of(&st);
	assert_line(text, "nsagent_adverts6_rejected_total{reason=\"special\"} 2");
	assert_line(text, "nsagent_adverts_rejected_total{reason=\"special\"} 0");
	promtool_accepts(text);
	free(text);
	status_clear(&st);
}

/* sample() on a dual-stack node: the /64, the bridge's ::1, and each
 * namespace's and attachment's IPv6 address (the second attachment has
 * none: "-" and null). */
static void sample_dual(struct status *st)
{
	sample(st);
	assert_int_equal(addr6_parse_prefix("fd6e:7361:6765::/64", &st->subnet6), 0);
	st->subnet6_known = true;
	assert_int_equal(addr6_parse("fd6e:7361:6765::1", &st->bridge_addr6), 0);
	assert_int_equal(addr6_parse("fd6e:7361:6765::2", &st->namespaces[0].addr6), 0);
	assert_int_equal(addr6_parse("fd6e:7361:6765::a", &st->namespaces[1].addr6), 0);
	assert_int_equal(addr6_parse("fd6e:7361:6765::b", &st->attachments[0].addr6), 0);
}

static void test_text_dual_stack(void **state)
{
	struct status st;
	char *text;

	(void)state;
	sample_dual(&st);
	text = text_of(&st);
	assert_non_null(strstr(text, "subnet   172.16.0.0/24\n"
				     "subnet6  fd6e:7361:6765::/64\n"
				     "bridge   br0 172.16.0.1 fd6e:7361:6765::1\n"));
	assert_non_null(strstr(text, "NAMESPACE  ADDRESS      IPV6 ADDRESS       ORIGIN\n"
				     "NS1        172.16.0.2   fd6e:7361:6765::2  config\n"
				     "database   172.16.0.10  fd6e:7361:6765::a  runtime\n"));
	assert_non_null(strstr(
	    text, "CONTAINER  IFNAME  ADDRESS      IPV6 ADDRESS       NETNS                  "
		  "HOST END         ORIGIN\n"
		  "3f2a9c     eth0    172.16.0.11  fd6e:7361:6765::b  /run/netns/cni-1       "
		  "nsc0123456789ab  cni\n"
		  "77         net1    172.16.0.12  -                  /proc/9/ns/net (gone)  "
		  "nsc000000000001  cni\n"));
	assert_null(strstr(text, " \n"));
	free(text);
	status_clear(&st);
}

static void test_json_dual_stack(void **state)
{
	struct status st;
	json_object *root, *node, *list;

	(void)state;
	/* IPv4 only: the IPv6 keys are there, null. */
	sample(&st);
	root = json_of(&st);
	node = get(root, "node", json_type_object);
	get(node, "subnet6", json_type_null);
	get(node, "bridge_ip6", json_type_null);
	get(json_object_array_get_idx(get(root, "namespaces", json_type_array), 0), "ip6",
	    json_type_null);
	get(json_object_array_get_idx(get(root, "attachments", json_type_array), 0), "ip6",
	    json_type_null);
	json_object_put(root);
	status_clear(&st);

	sample_dual(&st);
	root = json_of(&st);
	node = get(root, "node", json_type_object);
	assert_string_equal(json_object_get_string(get(node, "subnet6", json_type_string)),
			    "fd6e:7361:6765::/64");
	assert_string_equal(json_object_get_string(get(node, "bridge_ip6", json_type_string)),
			    "fd6e:7361:6765::1");
	list = get(root, "namespaces", json_type_array);
	assert_string_equal(json_object_get_string(
				get(json_object_array_get_idx(list, 1), "ip6", json_type_string)),
			    "fd6e:7361:6765::a");
	list = get(root, "attachments", json_type_array);
	assert_string_equal(json_object_get_string(
				get(json_object_array_get_idx(list, 0), "ip6", json_type_string)),
			    "fd6e:7361:6765::b");
	get(json_object_array_get_idx(list, 1), "ip6", json_type_null);
	json_object_put(root);
	status_clear(&st);
}

/* An IPv6 underlay: the node's address and a peer's in text ("[addr]:port"),
 * JSON (the address string) and the metrics' peer label (promtool-valid). */
static void test_underlay6(void **state)
{
	struct status st;
	json_object *root, *peer;
	char *text;

	(void)state;
	sample(&st);
	st.node_ip = na("2001:db8:1::5");
	st.peers[0].endpoint = (struct endpoint){na("2001:db8:1::6"), 7470};
	text = text_of(&st);
	assert_non_null(strstr(text, "node ip  2001:db8:1::5\n"));
	assert_non_null(strstr(text, "  [2001:db8:1::6]:7470  established  direct"));
	free(text);
	root = json_of(&st);
	assert_string_equal(json_object_get_string(
				get(get(root, "node", json_type_object), "ip", json_type_string)),
			    "2001:db8:1::5");
	peer = json_object_array_get_idx(get(root, "peers", json_type_array), 0);
	assert_string_equal(json_object_get_string(get(peer, "address", json_type_string)),
			    "2001:db8:1::6");
	assert_int_equal(json_object_get_int(get(peer, "port", json_type_int)), 7470);
	json_object_put(root);
	text = prom_of(&st);
	assert_line(text, "nsagent_probe_up{peer=\"2001:db8:1::6\",family=\"ipv4\"} 1");
	promtool_accepts(text);
	free(text);
	status_clear(&st);
}

/* --routing bgp: no peers, BIRD's routes, and the probes to the node
 * behind each (keyed by its next hop, of the route's family). */
static void bgp_sample(struct status *st)
{
	struct status_bgp_route *r;

	status_init(st);
	st->healthy = true;
	snprintf(st->routing, sizeof(st->routing), "bgp");
	snprintf(st->bird_socket, sizeof(st->bird_socket), "/run/bird/bird.ctl");
	snprintf(st->bgp_export, sizeof(st->bgp_export), "on");
	st->bird_up = true;
	r = status_add_bgp_route(st);
	snprintf(r->prefix, sizeof(r->prefix), "172.16.1.0/24");
	r->via = NA4(ip("192.168.1.6"));
	r->probe = (struct status_probes){STATUS_PROBE_OK, 412, 30, 3, 0.1};
	r = status_add_bgp_route(st);
	snprintf(r->prefix, sizeof(r->prefix), "172.16.2.0/24");
	r->via = NA4(ip("192.168.1.7"));
	r->probe = (struct status_probes){STATUS_PROBE_FAILED, 0, 12, 6, 0.6};
	r = status_add_bgp_route(st);
	snprintf(r->prefix, sizeof(r->prefix), "fd00:0:0:1::/64");
	r->via = na("2001:db8:1::6");
	r->probe = (struct status_probes){STATUS_PROBE_OK, 1500, 4, 0, 0};
	/* Not probed (yet, or probes off). */
	r = status_add_bgp_route(st);
	snprintf(r->prefix, sizeof(r->prefix), "172.16.3.0/24");
	r->via = NA4(ip("192.168.1.8"));
}

static void test_bgp_probes(void **state)
{
	struct status st;
	json_object *root, *routes, *r;
	char *text;

	(void)state;
	bgp_sample(&st);
	text = text_of(&st);
	assert_line(text, "SUBNET           VIA            SOURCE  PROBE    RTT");
	assert_line(text, "172.16.1.0/24    192.168.1.6    bgp     ok       0.412ms");
	assert_line(text, "172.16.2.0/24    192.168.1.7    bgp     failed   -");
	assert_line(text, "fd00:0:0:1::/64  2001:db8:1::6  bgp     ok       1.500ms");
	assert_line(text, "172.16.3.0/24    192.168.1.8    bgp     unknown  -");
	free(text);

	root = json_of(&st);
	routes = get(get(root, "bgp", json_type_object), "routes", json_type_array);
	r = json_object_array_get_idx(routes, 0);
	assert_string_equal(json_object_get_string(get(r, "probe", json_type_string)), "ok");
	assert_float_equal(json_object_get_double(get(r, "probe_rtt_ms", json_type_double)), 0.412,
			   1e-9);
	assert_int_equal(json_object_get_int64(get(r, "probe_sent", json_type_int)), 30);
	r = json_object_array_get_idx(routes, 1);
	assert_string_equal(json_object_get_string(get(r, "probe", json_type_string)), "failed");
	get(r, "probe_rtt_ms", json_type_null);
	assert_int_equal(json_object_get_int64(get(r, "probe_lost", json_type_int)), 6);
	assert_float_equal(json_object_get_double(get(r, "probe_loss_ratio", json_type_double)),
			   0.6, 1e-9);
	r = json_object_array_get_idx(routes, 3);
	assert_string_equal(json_object_get_string(get(r, "probe", json_type_string)), "unknown");
	assert_int_equal(json_object_get_int64(get(r, "probe_sent", json_type_int)), 0);
	json_object_put(root);

	/* The metrics: the same series as a mesh peer's, named by the next
	 * hop, of the route's family; none for the route not probed. */
	text = prom_of(&st);
	assert_line(text, "nsagent_probe_up{peer=\"192.168.1.6\",family=\"ipv4\"} 1");
	assert_line(text,
		    "nsagent_probe_rtt_seconds{peer=\"192.168.1.6\",family=\"ipv4\"} 0.000412");
	assert_line(text, "nsagent_probe_up{peer=\"192.168.1.7\",family=\"ipv4\"} 0");
	assert_line(text, "nsagent_probe_lost_total{peer=\"192.168.1.7\",family=\"ipv4\"} 6");
	assert_line(text, "nsagent_probe_up{peer=\"2001:db8:1::6\",family=\"ipv6\"} 1");
	assert_null(strstr(text, "192.168.1.8"));
	assert_once(text, "# TYPE nsagent_probe_up gauge\n");
	promtool_accepts(text);
	free(text);
	status_clear(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_peers6),
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_text_unhealthy_and_empty),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_text_dual_stack),
	    cmocka_unit_test(test_json_dual_stack),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_families),
	    cmocka_unit_test(test_counts),
	    cmocka_unit_test(test_text_counters),
	    cmocka_unit_test(test_json_counters),
	    cmocka_unit_test(test_prom),
	    cmocka_unit_test(test_prom_empty_and_escaped),
	    cmocka_unit_test(test_underlay6),
	    cmocka_unit_test(test_bgp_probes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
