/* DOC: the status model and its two printers.
 *
 * struct status is plain data: the daemon fills it, the control protocol
 * carries it, and `nsagent status` prints it. Both printers read the same
 * struct, so text and JSON cannot disagree: the text form is an aligned
 * table (column widths from the data), the JSON form is built with json-c
 * (never printf), with stable key names that tests pin. Unknown values are
 * "-" in text and null in JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "nsagent/status.h"
#include "nsagent/xalloc.h"

#define TABLE_MAX_COLUMNS 12
#define CELL_MAX 96

void status_init(struct status *st)
{
	memset(st, 0, sizeof(*st));
}

void status_clear(struct status *st)
{
	free(st->namespaces);
	free(st->peers);
	status_init(st);
}

struct status_peer *status_add_peer(struct status *st)
{
	struct status_peer *p;

	if (st->n_peers >= STATUS_MAX_PEERS)
		return NULL;
	st->peers = xreallocarray(st->peers, st->n_peers + 1, sizeof(*st->peers));
	p = &st->peers[st->n_peers++];
	memset(p, 0, sizeof(*p));
	p->last_heard_ms = -1;
	return p;
}

struct status_namespace *status_add_namespace(struct status *st)
{
	struct status_namespace *ns;

	if (st->n_namespaces >= STATUS_MAX_NAMESPACES)
		return NULL;
	st->namespaces =
	    xreallocarray(st->namespaces, st->n_namespaces + 1, sizeof(*st->namespaces));
	ns = &st->namespaces[st->n_namespaces++];
	memset(ns, 0, sizeof(*ns));
	return ns;
}

const char *status_route_name(enum status_route route)
{
	switch (route) {
	case STATUS_ROUTE_INSTALLED:
		return "installed";
	case STATUS_ROUTE_STALE:
		return "stale";
	case STATUS_ROUTE_NONE:
		break;
	}
	return "none";
}

const char *status_probe_name(enum status_probe probe)
{
	switch (probe) {
	case STATUS_PROBE_OK:
		return "ok";
	case STATUS_PROBE_FAILED:
		return "failed";
	case STATUS_PROBE_UNKNOWN:
		break;
	}
	return "unknown";
}

void status_format_duration(uint64_t ms, char *buf, size_t size)
{
	uint64_t s = ms / 1000;

	if (s < 60)
		snprintf(buf, size, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, size, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
}

/* ---- text ---- */

/* A table printed with every column as wide as its widest cell, two spaces
 * apart; the last column is not padded (no trailing blanks). */
struct table {
	unsigned n_columns, n_rows;
	char (*cells)[CELL_MAX]; /* n_rows * n_columns */
};

static void table_row(struct table *t, const char *const *cells)
{
	t->cells =
	    xreallocarray(t->cells, (size_t)(t->n_rows + 1) * t->n_columns, sizeof(*t->cells));
	for (unsigned c = 0; c < t->n_columns; c++)
		/* Truncation is wanted; the precision tells gcc -O3 so. */
		snprintf(t->cells[t->n_rows * t->n_columns + c], CELL_MAX, "%.*s", CELL_MAX - 1,
			 cells[c]);
	t->n_rows++;
}

static void table_print(struct table *t, FILE *out)
{
	size_t width[TABLE_MAX_COLUMNS] = {0};

	for (unsigned r = 0; r < t->n_rows; r++) {
		for (unsigned c = 0; c < t->n_columns; c++) {
			size_t len = strlen(t->cells[r * t->n_columns + c]);

			if (len > width[c])
				width[c] = len;
		}
	}
	for (unsigned r = 0; r < t->n_rows; r++) {
		for (unsigned c = 0; c < t->n_columns; c++) {
			const char *cell = t->cells[r * t->n_columns + c];

			if (c + 1 == t->n_columns)
				fprintf(out, "%s\n", cell);
			else
				fprintf(out, "%-*s  ", (int)width[c], cell);
		}
	}
	free(t->cells);
	t->cells = NULL;
	t->n_rows = 0;
}

static const char *or_dash(const char *s)
{
	return s && s[0] ? s : "-";
}

static void print_node(const struct status *st, FILE *out)
{
	char a[ADDR_STRLEN], p[PREFIX_STRLEN], up[32], saves[64],
	    bridge[IFNAMSIZ + ADDR_STRLEN + 2];
	char limits[96];
	struct table t = {.n_columns = 2};

	status_format_duration(st->uptime_ms, up, sizeof(up));
	if (st->bridge_addr)
		snprintf(bridge, sizeof(bridge), "%s %s", or_dash(st->bridge),
			 addr_format(st->bridge_addr, a));
	else
		snprintf(bridge, sizeof(bridge), "%s", or_dash(st->bridge));
	table_row(&t, (const char *[]){"node", or_dash(st->node_id)});
	table_row(&t, (const char *[]){"node ip", st->node_ip ? addr_format(st->node_ip, a) : "-"});
	table_row(&t, (const char *[]){
			  "subnet", st->subnet_known ? addr_format_prefix(&st->subnet, p) : "-"});
	table_row(&t, (const char *[]){"bridge", bridge});
	table_row(&t, (const char *[]){"key", st->key ? "on (sessions authenticated)"
						      : "off (sessions unauthenticated)"});
	table_row(&t, (const char *[]){"health", st->healthy ? "ok" : "NOT HEALTHY"});
	if (!st->healthy)
		table_row(&t, (const char *[]){"problem", or_dash(st->problem)});
	/* Only when there were any: the data path does not depend on it, but
	 * what a restart would remember may be lost. */
	if (st->state_save_errors) {
		snprintf(saves, sizeof(saves), "%" PRIu64 " saves failed (see the log)",
			 st->state_save_errors);
		table_row(&t, (const char *[]){"state", saves});
	}
	if (st->accepts_paused || st->control_clients_dropped) {
		snprintf(limits, sizeof(limits),
			 "%" PRIu64 " accept pause(s), %" PRIu64 " control client(s) dropped",
			 st->accepts_paused, st->control_clients_dropped);
		table_row(&t, (const char *[]){"limits", limits});
	}
	table_row(&t, (const char *[]){"agent", st->version[0] ? st->version : "-"});
	table_row(&t, (const char *[]){"uptime", up});
	table_print(&t, out);
}

static void print_namespaces(const struct status *st, FILE *out)
{
	struct table t = {.n_columns = 3};
	char a[ADDR_STRLEN];

	if (st->n_namespaces == 0) {
		fprintf(out, "no namespaces\n");
		return;
	}
	table_row(&t, (const char *[]){"NAMESPACE", "ADDRESS", "ORIGIN"});
	for (unsigned i = 0; i < st->n_namespaces; i++) {
		const struct status_namespace *ns = &st->namespaces[i];

		table_row(&t, (const char *[]){ns->name, addr_format(ns->addr, a),
					       ns->runtime ? "runtime" : "config"});
	}
	table_print(&t, out);
}

static void print_peers(const struct status *st, FILE *out)
{
	struct table t = {.n_columns = 10};

	if (st->n_peers == 0) {
		fprintf(out, "no peers\n");
		return;
	}
	table_row(&t, (const char *[]){"NODE", "ADDRESS", "STATE", "MODE", "SUBNET", "UPTIME",
				       "LAST HEARD", "ROUTE", "PROBE", "RTT"});
	for (unsigned i = 0; i < st->n_peers; i++) {
		const struct status_peer *p = &st->peers[i];
		char e[ENDPOINT_STRLEN], s[PREFIX_STRLEN], up[32], heard[40], rtt[24];

		if (p->uptime_ms)
			status_format_duration(p->uptime_ms, up, sizeof(up));
		else
			snprintf(up, sizeof(up), "-");
		if (p->last_heard_ms >= 0) {
			status_format_duration((uint64_t)p->last_heard_ms, heard, sizeof(heard));
			strncat(heard, " ago", sizeof(heard) - strlen(heard) - 1);
		} else {
			snprintf(heard, sizeof(heard), "never");
		}
		if (p->probe == STATUS_PROBE_OK)
			snprintf(rtt, sizeof(rtt), "%.3fms", p->probe_rtt_us / 1000.0);
		else
			snprintf(rtt, sizeof(rtt), "-");
		table_row(
		    &t, (const char *[]){or_dash(p->node_id), addr_format_endpoint(&p->endpoint, e),
					 or_dash(p->state), or_dash(p->mode),
					 p->subnet_known ? addr_format_prefix(&p->subnet, s) : "-",
					 up, heard, status_route_name(p->route),
					 status_probe_name(p->probe), rtt});
	}
	table_print(&t, out);
}

void status_print_text(const struct status *st, FILE *out)
{
	print_node(st, out);
	fputc('\n', out);
	print_namespaces(st, out);
	fputc('\n', out);
	print_peers(st, out);
}

/* ---- JSON ---- */

static json_object *json_string_or_null(const char *s)
{
	return s && s[0] ? json_object_new_string(s) : NULL;
}

static json_object *json_addr_or_null(uint32_t addr)
{
	char a[ADDR_STRLEN];

	return addr ? json_object_new_string(addr_format(addr, a)) : NULL;
}

static json_object *json_prefix_or_null(bool known, const struct prefix *prefix)
{
	char p[PREFIX_STRLEN];

	return known ? json_object_new_string(addr_format_prefix(prefix, p)) : NULL;
}

static json_object *node_json(const struct status *st)
{
	json_object *node = json_object_new_object();

	json_object_object_add(node, "id", json_string_or_null(st->node_id));
	json_object_object_add(node, "ip", json_addr_or_null(st->node_ip));
	json_object_object_add(node, "subnet", json_prefix_or_null(st->subnet_known, &st->subnet));
	json_object_object_add(node, "bridge", json_string_or_null(st->bridge));
	json_object_object_add(node, "bridge_ip", json_addr_or_null(st->bridge_addr));
	json_object_object_add(node, "key", json_object_new_boolean(st->key));
	return node;
}

static json_object *namespaces_json(const struct status *st)
{
	json_object *list = json_object_new_array();
	char a[ADDR_STRLEN];

	for (unsigned i = 0; i < st->n_namespaces; i++) {
		const struct status_namespace *ns = &st->namespaces[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(ns->name));
		json_object_object_add(o, "ip", json_object_new_string(addr_format(ns->addr, a)));
		json_object_object_add(o, "origin",
				       json_object_new_string(ns->runtime ? "runtime" : "config"));
		json_object_array_add(list, o);
	}
	return list;
}

static json_object *peers_json(const struct status *st)
{
	json_object *list = json_object_new_array();

	for (unsigned i = 0; i < st->n_peers; i++) {
		const struct status_peer *p = &st->peers[i];
		json_object *o = json_object_new_object();
		char a[ADDR_STRLEN];

		json_object_object_add(o, "node_id", json_string_or_null(p->node_id));
		json_object_object_add(o, "address",
				       json_object_new_string(addr_format(p->endpoint.addr, a)));
		json_object_object_add(o, "port", json_object_new_int(p->endpoint.port));
		json_object_object_add(o, "state", json_string_or_null(p->state));
		json_object_object_add(o, "mode", json_string_or_null(p->mode));
		json_object_object_add(o, "subnet",
				       json_prefix_or_null(p->subnet_known, &p->subnet));
		json_object_object_add(o, "uptime_ms",
				       json_object_new_int64((int64_t)p->uptime_ms));
		json_object_object_add(
		    o, "last_heard_ms",
		    p->last_heard_ms >= 0 ? json_object_new_int64(p->last_heard_ms) : NULL);
		json_object_object_add(o, "route",
				       json_object_new_string(status_route_name(p->route)));
		json_object_object_add(o, "probe",
				       json_object_new_string(status_probe_name(p->probe)));
		json_object_object_add(o, "probe_rtt_ms",
				       p->probe == STATUS_PROBE_OK
					   ? json_object_new_double(p->probe_rtt_us / 1000.0)
					   : NULL);
		json_object_array_add(list, o);
	}
	return list;
}

static json_object *limits_json(const struct status *st)
{
	json_object *limits = json_object_new_object();

	json_object_object_add(limits, "accepts_paused",
			       json_object_new_int64((int64_t)st->accepts_paused));
	json_object_object_add(limits, "control_clients_dropped",
			       json_object_new_int64((int64_t)st->control_clients_dropped));
	return limits;
}

void status_print_json(const struct status *st, FILE *out)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "version", json_string_or_null(st->version));
	json_object_object_add(root, "pid", json_object_new_int64(st->pid));
	json_object_object_add(root, "uptime_ms", json_object_new_int64((int64_t)st->uptime_ms));
	json_object_object_add(root, "healthy", json_object_new_boolean(st->healthy));
	json_object_object_add(root, "problem",
			       st->healthy ? NULL : json_string_or_null(st->problem));
	json_object_object_add(root, "state_save_errors",
			       json_object_new_int64((int64_t)st->state_save_errors));
	json_object_object_add(root, "node", node_json(st));
	json_object_object_add(root, "namespaces", namespaces_json(st));
	json_object_object_add(root, "peers", peers_json(st));
	json_object_object_add(root, "limits", limits_json(st));
	fprintf(out, "%s\n",
		json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_SPACED |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}
