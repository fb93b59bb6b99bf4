/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the status model, its counters' family table, and the people's and
 * JSON printers (the Prometheus printer is src/status_prom.c).
 *
 * struct status is plain data: the daemon fills it, the control protocol
 * carries it, and `nsagent status` prints it. Every printer reads the same
 * struct, so text, JSON and metrics cannot disagree: the text form is an
 * aligned table (column widths from the data), the JSON form is built with
 * json-c (never printf), with stable key names that tests pin. Unknown
 * values are "-" in text and null in JSON.
 *
 * Counters are described once, in the family table below: its name, help,
 * label and place in the people's table. The JSON and Prometheus printers
 * and the control protocol walk it, so a new counter needs no edit in any
 * of them. The labels of the rejected adverts are rib's verdict keys, so a
 * new verdict in rib.c is a new sample here without an edit.
 *
 * The process-wide counts (status_count) are the live storage for events
 * that modules without a struct of their own count: reloads, control
 * requests, accept pauses. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "nsagent/rde.h"
#include "nsagent/status.h"
#include "nsagent/xalloc.h"

_Static_assert(STATUS_WG_REJECT_REASONS == RDE_WG_VERDICT_COUNT, "one sample per verdict");

#define TABLE_MAX_COLUMNS 12
#define CELL_MAX 160

/* ---- counters ---- */

static const char *listener_name(unsigned i)
{
	static const char *const names[] = {"peer", "control", "metrics"};

	return i < sizeof(names) / sizeof(names[0]) ? names[i] : "?";
}

static const char *reject_reason(unsigned i)
{
	return rib_verdict_key((enum rib_verdict)(RIB_ACCEPTED + 1 + i));
}

static const char *wg_reject_reason(unsigned i)
{
	return rde_wg_verdict_key((enum rde_wg_verdict)i);
}

static const char *reload_result(unsigned i)
{
	return i == 0 ? "ok" : "failed";
}

static const char *cni_command(unsigned i)
{
	static const char *const names[STATUS_CNI_COMMANDS] = {"add", "del", "check", "gc",
							       "status"};

	return i < STATUS_CNI_COMMANDS ? names[i] : "?";
}

static const struct status_family families[] = {
    {"state_save_errors", "Failed writes of the state dir's files (full or failing disk).",
     STATUS_STATE_SAVE_ERRORS, 1, NULL, NULL, "state", "saves failed (see the log)"},
    {"accepts_paused",
     "Accepts paused after an accept error (out of file descriptors), by listener.",
     STATUS_ACCEPTS_PAUSED_PEER, 3, "listener", listener_name, "limits", "accept pause(s)"},
    {"control_clients_dropped", "Control clients dropped for not reading their replies.",
     STATUS_CONTROL_CLIENTS_DROPPED, 1, NULL, NULL, "limits", "control client(s) dropped"},
    {"accepts_refused", "Connections refused by a connection or rate limit.",
     STATUS_ACCEPTS_REFUSED, 1, NULL, NULL, "limits", "connection(s) refused"},
    {"peers_refused", "Learned or inbound peers over max-peers.", STATUS_PEERS_REFUSED, 1, NULL,
     NULL, "limits", "peer(s) over max-peers"},
    {"dials", "Outbound connection attempts to peers.", STATUS_DIALS, 1, NULL, NULL, NULL, NULL},
    {"dials_deferred", "Dials that waited for the dial rate limit.", STATUS_DIALS_DEFERRED, 1, NULL,
     NULL, NULL, NULL},
    {"collisions", "Connections dropped because both nodes of a pair had dialled.",
     STATUS_COLLISIONS, 1, NULL, NULL, NULL, NULL},
    {"peers_evicted", "Learned peers forgotten (never reached).", STATUS_PEERS_EVICTED, 1, NULL,
     NULL, NULL, NULL},
    {"tls_failures", "TLS handshakes that failed (no or another cluster key).", STATUS_TLS_FAILURES,
     1, NULL, NULL, "security", "TLS failure(s)"},
    {"hellos_refused", "Hellos refused (own id, taken node IP, bad values).", STATUS_HELLOS_REFUSED,
     1, NULL, NULL, "security", "hello(s) refused"},
    {"handshake_timeouts", "Connections without a hello within the timeout.",
     STATUS_HANDSHAKE_TIMEOUTS, 1, NULL, NULL, "security", "handshake timeout(s)"},
    {"frames_oversize", "Peer frames over the 64 KiB limit (session closed).",
     STATUS_FRAMES_OVERSIZE, 1, NULL, NULL, "security", "oversize frame(s)"},
    {"frames_malformed", "Peer frames that did not decode or came out of order.",
     STATUS_FRAMES_MALFORMED, 1, NULL, NULL, "security", "malformed frame(s)"},
    {"adverts_rejected", "Advertised subnets rejected, by reason.", STATUS_ADVERTS_REJECTED,
     RIB_VERDICT_COUNT - 1, "reason", reject_reason, "adverts", "entries rejected (see the log)"},
    {"adverts6_rejected", "Advertised IPv6 subnets rejected, by reason.", STATUS_ADVERTS6_REJECTED,
     RIB_VERDICT_COUNT - 1, "reason", reject_reason, "adverts",
     "IPv6 entries rejected (see the log)"},
    {"reconcile_changes", "Kernel changes made by reconcile.", STATUS_RECONCILE_CHANGES, 1, NULL,
     NULL, NULL, NULL},
    {"reconcile_repairs", "Kernel changes made to repair drift.", STATUS_RECONCILE_REPAIRS, 1, NULL,
     NULL, "kernel", "drift repair(s)"},
    {"reconcile_errors", "Kernel requests that failed.", STATUS_RECONCILE_ERRORS, 1, NULL, NULL,
     "kernel", "failed request(s)"},
    {"reloads", "Config reloads, by result.", STATUS_RELOADS_OK, 2, "result", reload_result, NULL,
     NULL},
    {"control_requests", "Requests served on the control socket.", STATUS_CONTROL_REQUESTS, 1, NULL,
     NULL, NULL, NULL},
    {"cni_requests", "CNI requests from the nsagent-cni plugin, by command.", STATUS_CNI_REQUESTS,
     STATUS_CNI_COMMANDS, "command", cni_command, NULL, NULL},
    {"cni_errors", "CNI requests that failed, by command.", STATUS_CNI_ERRORS, STATUS_CNI_COMMANDS,
     "command", cni_command, "cni", "failed request(s) (see the log)"},
    {"adverts_wg_rejected", "Advertised WireGuard keys and ports rejected, by reason.",
     STATUS_ADVERTS_WG_REJECTED, STATUS_WG_REJECT_REASONS, "reason", wg_reject_reason, "adverts",
     "WireGuard keys rejected (see the log)"},
    {"wireguard_starts", "WireGuard processes (wireguard-go) started.", STATUS_WG_STARTS, 1, NULL,
     NULL, NULL, NULL},
    {"wireguard_repairs", "Read-backs that found the WireGuard device changed and repaired it.",
     STATUS_WG_REPAIRS, 1, NULL, NULL, "wireguard", "repair(s)"},
    {"wireguard_errors", "Exchanges with the WireGuard device that failed.", STATUS_WG_ERRORS, 1,
     NULL, NULL, "wireguard", "failed exchange(s) (see the log)"},
};

#define N_FAMILIES (sizeof(families) / sizeof(families[0]))

static uint64_t counted[STATUS_COUNTER_COUNT];

unsigned status_family_count(void)
{
	return N_FAMILIES;
}

const struct status_family *status_family_get(unsigned i)
{
	return i < N_FAMILIES ? &families[i] : NULL;
}

const struct status_family *status_counter_family(enum status_counter c, const char **label)
{
	for (unsigned f = 0; f < N_FAMILIES; f++) {
		const struct status_family *fam = &families[f];

		if ((unsigned)c < fam->first || (unsigned)c >= fam->first + fam->n)
			continue;
		*label = fam->label_value ? fam->label_value(c - fam->first) : "";
		return fam;
	}
	*label = "";
	return NULL;
}

int status_counter_find(const char *name, const char *label, enum status_counter *c)
{
	for (unsigned f = 0; f < N_FAMILIES; f++) {
		const struct status_family *fam = &families[f];

		if (strcmp(fam->name, name) != 0)
			continue;
		for (unsigned i = 0; i < fam->n; i++) {
			const char *value = fam->label_value ? fam->label_value(i) : "";

			if (strcmp(value, label) == 0) {
				*c = (enum status_counter)(fam->first + i);
				return 0;
			}
		}
	}
	return -ENOENT;
}

void status_count(enum status_counter c)
{
	if ((unsigned)c < STATUS_COUNTER_COUNT)
		counted[c]++;
}

uint64_t status_counted(enum status_counter c)
{
	return (unsigned)c < STATUS_COUNTER_COUNT ? counted[c] : 0;
}

void status_take_counts(struct status *st)
{
	memcpy(st->counters, counted, sizeof(st->counters));
}

void status_count_reset(void)
{
	memset(counted, 0, sizeof(counted));
}

uint64_t status_family_sum(const struct status *st, const struct status_family *f)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < f->n; i++)
		sum += st->counters[f->first + i];
	return sum;
}

unsigned status_sessions_in(const struct status *st, const char *state)
{
	unsigned n = 0;

	for (unsigned i = 0; i < st->n_peers; i++)
		n += strcmp(st->peers[i].state, state) == 0;
	return n;
}

unsigned status_routes_in(const struct status *st, enum status_route route)
{
	unsigned n = 0;

	for (unsigned i = 0; i < st->n_peers; i++)
		n += st->peers[i].route == route;
	return n;
}

void status_init(struct status *st)
{
	memset(st, 0, sizeof(*st));
}

void status_clear(struct status *st)
{
	free(st->namespaces);
	free(st->attachments);
	free(st->peers);
	free(st->bgp_routes);
	status_init(st);
}

/* Appends a zeroed element of size bytes to the array *v of *n, unless it
 * holds max already (NULL then). */
static void *append_zeroed(void **v, unsigned *n, unsigned max, size_t size)
{
	char *e;

	if (*n >= max)
		return NULL;
	*v = xreallocarray(*v, *n + 1, size);
	e = (char *)*v + (size_t)(*n)++ * size;
	memset(e, 0, size);
	return e;
}

struct status_bgp_route *status_add_bgp_route(struct status *st)
{
	return append_zeroed((void **)&st->bgp_routes, &st->n_bgp_routes, STATUS_MAX_PEERS,
			     sizeof(*st->bgp_routes));
}

const char *status_bgp_route_family(const struct status_bgp_route *route)
{
	return strchr(route->prefix, ':') ? "ipv6" : "ipv4";
}

bool status_bgp(const struct status *st)
{
	return strcmp(st->routing, "bgp") == 0;
}

unsigned status_bgp_established(const struct status *st)
{
	unsigned n = 0;

	for (unsigned i = 0; i < st->n_bgp_sessions; i++)
		n += st->bgp_sessions[i].established;
	return n;
}

struct status_peer *status_add_peer(struct status *st)
{
	struct status_peer *p =
	    append_zeroed((void **)&st->peers, &st->n_peers, STATUS_MAX_PEERS, sizeof(*st->peers));

	if (p)
		p->last_heard_ms = -1;
	return p;
}

struct status_namespace *status_add_namespace(struct status *st)
{
	return append_zeroed((void **)&st->namespaces, &st->n_namespaces, STATUS_MAX_NAMESPACES,
			     sizeof(*st->namespaces));
}

struct status_attachment *status_add_attachment(struct status *st)
{
	return append_zeroed((void **)&st->attachments, &st->n_attachments, STATUS_MAX_NAMESPACES,
			     sizeof(*st->attachments));
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

/* The counters that tell of trouble, one row per text_row of the family
 * table, each only when one of its counts is not 0 ("limits  3 accept
 * pause(s), 1 control client(s) dropped"): routine counts would bury the
 * node's state, and JSON and the metrics have them all. The row of the
 * families from *f on: its name (NULL past the last) and its cell ("" when
 * every count is 0); *f moves past them. */
static const char *counter_row(const struct status *st, unsigned *f, char *cell, size_t size)
{
	const char *row = NULL;
	size_t len = 0;

	cell[0] = '\0';
	for (; *f < N_FAMILIES; (*f)++) {
		const struct status_family *fam = &families[*f];
		uint64_t sum;

		if (!fam->text_row)
			continue;
		if (row && strcmp(fam->text_row, row) != 0)
			break;
		row = fam->text_row;
		sum = status_family_sum(st, fam);
		if (sum && len < size)
			len += (size_t)snprintf(cell + len, size - len, "%s%" PRIu64 " %s",
						len ? ", " : "", sum, fam->text_what);
	}
	return row;
}

static void print_node(const struct status *st, FILE *out)
{
	char a[ADDR_STRLEN], p[PREFIX_STRLEN], up[32];
	char bridge[IFNAMSIZ + ADDR_STRLEN + ADDR6_STRLEN + 3], a6[ADDR6_STRLEN],
	    p6[PREFIX6_STRLEN], na[NODEADDR_STRLEN];
	char counts[CELL_MAX];
	struct table t = {.n_columns = 2};
	const char *row;

	status_format_duration(st->uptime_ms, up, sizeof(up));
	if (st->bridge_addr)
		snprintf(bridge, sizeof(bridge), "%s %s", or_dash(st->bridge),
			 addr_format(st->bridge_addr, a));
	else
		snprintf(bridge, sizeof(bridge), "%s", or_dash(st->bridge));
	/* Dual-stack rows and cells only when there is a /64: an IPv4-only
	 * node's status reads as it always did. */
	if (st->subnet6_known)
		snprintf(bridge + strlen(bridge), sizeof(bridge) - strlen(bridge), " %s",
			 addr6_format(&st->bridge_addr6, a6));
	table_row(&t, (const char *[]){"node", or_dash(st->node_id)});
	table_row(&t, (const char *[]){"node ip", nodeaddr_is_zero(&st->node_ip)
						      ? "-"
						      : nodeaddr_format(&st->node_ip, na)});
	table_row(&t, (const char *[]){
			  "subnet", st->subnet_known ? addr_format_prefix(&st->subnet, p) : "-"});
	if (st->subnet6_known)
		table_row(&t, (const char *[]){"subnet6", addr6_format_prefix(&st->subnet6, p6)});
	table_row(&t, (const char *[]){"bridge", bridge});
	table_row(&t, (const char *[]){"key", st->key ? "on (sessions authenticated)"
						      : "off (sessions unauthenticated)"});
	if (st->wg_public_key[0]) {
		char wg[STATUS_WG_KEY_MAX + STATUS_WG_IMPL_MAX + 32];

		snprintf(wg, sizeof(wg), "%s port %u%s%s", st->wg_public_key, st->wg_port,
			 st->wg_impl[0] ? ", " : "", st->wg_impl);
		table_row(&t, (const char *[]){"wireguard", wg});
	}
	if (status_bgp(st)) {
		char routing[sizeof(st->bird_socket) + 96];

		snprintf(routing, sizeof(routing), "bgp (BIRD %s: %s; our subnets: %s)",
			 st->bird_socket, st->bird_up ? "answering" : "NOT ANSWERING",
			 or_dash(st->bgp_export));
		table_row(&t, (const char *[]){"routing", routing});
	}
	table_row(&t, (const char *[]){"health", st->healthy ? "ok" : "NOT HEALTHY"});
	if (!st->healthy)
		table_row(&t, (const char *[]){"problem", or_dash(st->problem)});
	for (unsigned f = 0; (row = counter_row(st, &f, counts, sizeof(counts)));) {
		if (counts[0])
			table_row(&t, (const char *[]){row, counts});
	}
	table_row(&t, (const char *[]){"agent", st->version[0] ? st->version : "-"});
	table_row(&t, (const char *[]){"uptime", up});
	table_print(&t, out);
}

/* An IPv6 address cell: "-" for none. */
static const char *addr6_cell(const struct in6_addr *addr, char buf[ADDR6_STRLEN])
{
	return addr6_is_zero(addr) ? "-" : addr6_format(addr, buf);
}

/* The namespaces and attachments tables have an IPV6 ADDRESS column after
 * ADDRESS on a dual-stack node only; v6 is the column index past which
 * cells shift (the cells arrays hold it in every case). */
static void table_row6(struct table *t, bool dual, const char *const *cells, unsigned v6)
{
	const char *row[8];
	unsigned n = 0;

	for (unsigned c = 0; c < t->n_columns + (dual ? 0 : 1); c++)
		if (dual || c != v6)
			row[n++] = cells[c];
	table_row(t, row);
}

static void print_namespaces(const struct status *st, FILE *out)
{
	bool dual = st->subnet6_known;
	struct table t = {.n_columns = dual ? 4 : 3};
	char a[ADDR_STRLEN], a6[ADDR6_STRLEN];

	if (st->n_namespaces == 0) {
		fprintf(out, "no namespaces\n");
		return;
	}
	table_row6(&t, dual, (const char *[]){"NAMESPACE", "ADDRESS", "IPV6 ADDRESS", "ORIGIN"}, 2);
	for (unsigned i = 0; i < st->n_namespaces; i++) {
		const struct status_namespace *ns = &st->namespaces[i];

		table_row6(&t, dual,
			   (const char *[]){ns->name, addr_format(ns->addr, a),
					    addr6_cell(&ns->addr6, a6),
					    ns->runtime ? "runtime" : "config"},
			   2);
	}
	table_print(&t, out);
}

static void print_attachments(const struct status *st, FILE *out)
{
	bool dual = st->subnet6_known;
	struct table t = {.n_columns = dual ? 7 : 6};
	char a[ADDR_STRLEN], a6[ADDR6_STRLEN];

	table_row6(&t, dual,
		   (const char *[]){"CONTAINER", "IFNAME", "ADDRESS", "IPV6 ADDRESS", "NETNS",
				    "HOST END", "ORIGIN"},
		   3);
	for (unsigned i = 0; i < st->n_attachments; i++) {
		const struct status_attachment *at = &st->attachments[i];
		char netns[ATTACH_NETNS_MAX + 8];

		snprintf(netns, sizeof(netns), "%s%s", at->netns, at->netns_gone ? " (gone)" : "");
		table_row6(&t, dual,
			   (const char *[]){at->container_id, at->ifname, addr_format(at->addr, a),
					    addr6_cell(&at->addr6, a6), netns, at->host_ifname,
					    "cni"},
			   3);
	}
	table_print(&t, out);
}

static void format_rtt(const struct status_probes *p, char *buf, size_t size)
{
	if (p->result == STATUS_PROBE_OK)
		snprintf(buf, size, "%.3fms", p->rtt_us / 1000.0);
	else
		snprintf(buf, size, "-");
}

static void print_peers(const struct status *st, FILE *out)
{
	struct table t = {.n_columns = 10};

	if (st->n_peers == 0) {
		fprintf(out, "no peers\n");
		return;
	}
	/* The IPv6 probe columns only where some peer is probed over IPv6. */
	for (unsigned i = 0; i < st->n_peers; i++)
		if (st->peers[i].probe6.sent)
			t.n_columns = 12;
	table_row(&t, (const char *[]){"NODE", "ADDRESS", "STATE", "MODE", "SUBNET", "UPTIME",
				       "LAST HEARD", "ROUTE", "PROBE", "RTT", "PROBE6", "RTT6"});
	for (unsigned i = 0; i < st->n_peers; i++) {
		const struct status_peer *p = &st->peers[i];
		char e[ENDPOINT_STRLEN], s[PREFIX_STRLEN], up[32], heard[40], rtt[24], rtt6[24];

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
		format_rtt(&p->probe, rtt, sizeof(rtt));
		format_rtt(&p->probe6, rtt6, sizeof(rtt6));
		table_row(
		    &t, (const char *[]){or_dash(p->node_id), addr_format_endpoint(&p->endpoint, e),
					 or_dash(p->state), or_dash(p->mode),
					 p->subnet_known ? addr_format_prefix(&p->subnet, s) : "-",
					 up, heard, status_route_name(p->route),
					 status_probe_name(p->probe.result), rtt,
					 status_probe_name(p->probe6.result), rtt6});
	}
	table_print(&t, out);
}

/* The peers' IPv6 /64s, a table of its own so that an IPv4-only node's
 * output is what it always was: printed only when some peer has one. */
static void print_peers6(const struct status *st, FILE *out)
{
	struct table t = {.n_columns = 5};
	bool any = false;

	for (unsigned i = 0; i < st->n_peers; i++)
		any = any || st->peers[i].subnet6_known;
	if (!any)
		return;
	table_row(&t, (const char *[]){"NODE", "SUBNET6", "MODE6", "ROUTE6", "VIA"});
	for (unsigned i = 0; i < st->n_peers; i++) {
		const struct status_peer *p = &st->peers[i];
		char s[PREFIX6_STRLEN], ll[ADDR6_STRLEN];

		if (!p->subnet6_known)
			continue;
		table_row(&t, (const char *[]){
				  or_dash(p->node_id), addr6_format_prefix(&p->subnet6, s),
				  or_dash(p->mode6), status_route_name(p->route6),
				  addr6_is_zero(&p->via6) ? "-" : addr6_format(&p->via6, ll)});
	}
	fputc('\n', out);
	table_print(&t, out);
}

/* Why each peer has its mode (printed when some peer has a reason). */
static void print_paths(const struct status *st, FILE *out)
{
	struct table t = {.n_columns = 3};
	bool any = false;

	for (unsigned i = 0; i < st->n_peers; i++)
		any = any || st->peers[i].mode_reason[0];
	if (!any)
		return;
	table_row(&t, (const char *[]){"NODE", "MODE", "WHY"});
	for (unsigned i = 0; i < st->n_peers; i++) {
		const struct status_peer *p = &st->peers[i];

		if (p->mode_reason[0])
			table_row(&t, (const char *[]){or_dash(p->node_id), or_dash(p->mode),
						       p->mode_reason});
	}
	fputc('\n', out);
	table_print(&t, out);
}

/* The WireGuard peers: latest handshake and bytes each way. */
static void print_wireguard(const struct status *st, FILE *out)
{
	struct table t = {.n_columns = 4};
	bool any = false;

	for (unsigned i = 0; i < st->n_peers; i++)
		any = any || st->peers[i].wireguard;
	if (!any)
		return;
	table_row(&t, (const char *[]){"NODE", "HANDSHAKE", "RECEIVED", "SENT"});
	for (unsigned i = 0; i < st->n_peers; i++) {
		const struct status_peer *p = &st->peers[i];
		char hs[40], rx[24], tx[24];

		if (!p->wireguard)
			continue;
		if (p->wg_handshake_ms >= 0) {
			status_format_duration((uint64_t)p->wg_handshake_ms, hs, sizeof(hs));
			strncat(hs, " ago", sizeof(hs) - strlen(hs) - 1);
		} else {
			snprintf(hs, sizeof(hs), "never");
		}
		snprintf(rx, sizeof(rx), "%llu B", (unsigned long long)p->wg_rx_bytes);
		snprintf(tx, sizeof(tx), "%llu B", (unsigned long long)p->wg_tx_bytes);
		table_row(&t, (const char *[]){or_dash(p->node_id), hs, rx, tx});
	}
	fputc('\n', out);
	table_print(&t, out);
}

/* --routing bgp: BIRD's sessions, and the routes it gives the kernel. */
static void print_bgp(const struct status *st, FILE *out)
{
	struct table t = {.n_columns = 5};
	struct table r = {.n_columns = 5};

	fputc('\n', out);
	if (!st->n_bgp_sessions)
		fprintf(out, "no BGP sessions (BIRD %s)\n",
			st->bird_up ? "answers" : "does not answer");
	else
		table_row(&t, (const char *[]){"BGP SESSION", "PEER", "AS", "STATE", "BGP STATE"});
	for (unsigned i = 0; i < st->n_bgp_sessions; i++) {
		const struct status_bgp_session *s = &st->bgp_sessions[i];
		char a[NODEADDR_STRLEN], as[16];

		snprintf(as, sizeof(as), "%" PRIu32, s->as);
		table_row(&t, (const char *[]){s->name, nodeaddr_format(&s->peer, a), as,
					       or_dash(s->state), or_dash(s->info)});
	}
	if (st->n_bgp_sessions)
		table_print(&t, out);
	fputc('\n', out);
	if (!st->n_bgp_routes) {
		fprintf(out, "no routes from BGP\n");
		return;
	}
	table_row(&r, (const char *[]){"SUBNET", "VIA", "SOURCE", "PROBE", "RTT"});
	for (unsigned i = 0; i < st->n_bgp_routes; i++) {
		const struct status_bgp_route *route = &st->bgp_routes[i];
		char a[NODEADDR_STRLEN], rtt[24];

		format_rtt(&route->probe, rtt, sizeof(rtt));
		table_row(&r, (const char *[]){route->prefix,
					       nodeaddr_is_zero(&route->via)
						   ? "-"
						   : nodeaddr_format(&route->via, a),
					       "bgp", status_probe_name(route->probe.result), rtt});
	}
	table_print(&r, out);
}

void status_print_text(const struct status *st, FILE *out)
{
	print_node(st, out);
	fputc('\n', out);
	print_namespaces(st, out);
	if (st->n_attachments) {
		fprintf(out, "\n");
		print_attachments(st, out);
	}
	fputc('\n', out);
	print_peers(st, out);
	print_peers6(st, out);
	print_paths(st, out);
	print_wireguard(st, out);
	if (status_bgp(st))
		print_bgp(st, out);
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

static json_object *json_nodeaddr_or_null(const struct nodeaddr *addr)
{
	char a[NODEADDR_STRLEN];

	return nodeaddr_is_zero(addr) ? NULL : json_object_new_string(nodeaddr_format(addr, a));
}

static json_object *json_prefix_or_null(bool known, const struct prefix *prefix)
{
	char p[PREFIX_STRLEN];

	return known ? json_object_new_string(addr_format_prefix(prefix, p)) : NULL;
}

static json_object *json_addr6_or_null(const struct in6_addr *addr)
{
	char a[ADDR6_STRLEN];

	return addr6_is_zero(addr) ? NULL : json_object_new_string(addr6_format(addr, a));
}

static json_object *node_json(const struct status *st)
{
	json_object *node = json_object_new_object();
	char p6[PREFIX6_STRLEN];

	json_object_object_add(node, "id", json_string_or_null(st->node_id));
	json_object_object_add(node, "ip", json_nodeaddr_or_null(&st->node_ip));
	json_object_object_add(node, "subnet", json_prefix_or_null(st->subnet_known, &st->subnet));
	json_object_object_add(node, "bridge", json_string_or_null(st->bridge));
	json_object_object_add(node, "bridge_ip", json_addr_or_null(st->bridge_addr));
	/* null without IPv6, as every unknown value is. */
	json_object_object_add(node, "subnet6",
			       st->subnet6_known
				   ? json_object_new_string(addr6_format_prefix(&st->subnet6, p6))
				   : NULL);
	json_object_object_add(node, "bridge_ip6",
			       st->subnet6_known ? json_addr6_or_null(&st->bridge_addr6) : NULL);
	json_object_object_add(node, "key", json_object_new_boolean(st->key));
	json_object_object_add(node, "wg_public_key", json_string_or_null(st->wg_public_key));
	json_object_object_add(node, "wg_port",
			       st->wg_public_key[0] ? json_object_new_int(st->wg_port) : NULL);
	json_object_object_add(node, "wg_impl", json_string_or_null(st->wg_impl));
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
		json_object_object_add(o, "ip6", json_addr6_or_null(&ns->addr6));
		json_object_object_add(o, "origin",
				       json_object_new_string(ns->runtime ? "runtime" : "config"));
		json_object_array_add(list, o);
	}
	return list;
}

static json_object *attachments_json(const struct status *st)
{
	json_object *list = json_object_new_array();
	char a[ADDR_STRLEN];

	for (unsigned i = 0; i < st->n_attachments; i++) {
		const struct status_attachment *at = &st->attachments[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "container_id", json_object_new_string(at->container_id));
		json_object_object_add(o, "netns", json_object_new_string(at->netns));
		json_object_object_add(o, "netns_gone", json_object_new_boolean(at->netns_gone));
		json_object_object_add(o, "ifname", json_object_new_string(at->ifname));
		json_object_object_add(o, "host_ifname", json_object_new_string(at->host_ifname));
		json_object_object_add(o, "ip", json_object_new_string(addr_format(at->addr, a)));
		json_object_object_add(o, "ip6", json_addr6_or_null(&at->addr6));
		json_object_object_add(o, "origin", json_object_new_string("cni"));
		json_object_array_add(list, o);
	}
	return list;
}

/* One family's probe fields, named prefix, prefix_rtt_ms, prefix_sent... */
static void probes_json(json_object *o, const char *prefix, const struct status_probes *p)
{
	char key[32];

	json_object_object_add(o, prefix, json_object_new_string(status_probe_name(p->result)));
	snprintf(key, sizeof(key), "%s_rtt_ms", prefix);
	json_object_object_add(
	    o, key,
	    p->result == STATUS_PROBE_OK ? json_object_new_double(p->rtt_us / 1000.0) : NULL);
	snprintf(key, sizeof(key), "%s_sent", prefix);
	json_object_object_add(o, key, json_object_new_int64((int64_t)p->sent));
	snprintf(key, sizeof(key), "%s_lost", prefix);
	json_object_object_add(o, key, json_object_new_int64((int64_t)p->lost));
	snprintf(key, sizeof(key), "%s_loss_ratio", prefix);
	json_object_object_add(o, key, json_object_new_double(p->loss_ratio));
}

static json_object *peers_json(const struct status *st)
{
	json_object *list = json_object_new_array();

	for (unsigned i = 0; i < st->n_peers; i++) {
		const struct status_peer *p = &st->peers[i];
		json_object *o = json_object_new_object();
		char a[NODEADDR_STRLEN], p6[PREFIX6_STRLEN], ll6[ADDR6_STRLEN];

		json_object_object_add(o, "node_id", json_string_or_null(p->node_id));
		json_object_object_add(
		    o, "address", json_object_new_string(nodeaddr_format(&p->endpoint.addr, a)));
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
		json_object_object_add(
		    o, "subnet6",
		    p->subnet6_known ? json_object_new_string(addr6_format_prefix(&p->subnet6, p6))
				     : NULL);
		json_object_object_add(o, "mode6", json_string_or_null(p->mode6));
		json_object_object_add(o, "route6",
				       json_object_new_string(status_route_name(p->route6)));
		json_object_object_add(
		    o, "link_local6",
		    p->link_local6_set ? json_object_new_string(addr6_format(&p->link_local6, ll6))
				       : NULL);
		json_object_object_add(o, "via6",
				       addr6_is_zero(&p->via6)
					   ? NULL
					   : json_object_new_string(addr6_format(&p->via6, ll6)));
		json_object_object_add(o, "mode_reason", json_string_or_null(p->mode_reason));
		if (p->wireguard) {
			json_object *w = json_object_new_object();

			json_object_object_add(w, "last_handshake_ms",
					       p->wg_handshake_ms >= 0
						   ? json_object_new_int64(p->wg_handshake_ms)
						   : NULL);
			json_object_object_add(w, "rx_bytes",
					       json_object_new_int64((int64_t)p->wg_rx_bytes));
			json_object_object_add(w, "tx_bytes",
					       json_object_new_int64((int64_t)p->wg_tx_bytes));
			json_object_object_add(o, "wireguard", w);
		}
		probes_json(o, "probe", &p->probe);
		if (p->probe6.sent)
			probes_json(o, "probe6", &p->probe6);
		json_object_array_add(list, o);
	}
	return list;
}

static json_object *json_count(uint64_t n)
{
	return json_object_new_int64((int64_t)n);
}

/* Kept beside "counters" for the scripts that read them here. */
static json_object *limits_json(const struct status *st)
{
	json_object *limits = json_object_new_object();

	json_object_object_add(limits, "accepts_paused",
			       json_count(st->counters[STATUS_ACCEPTS_PAUSED_PEER] +
					  st->counters[STATUS_ACCEPTS_PAUSED_CONTROL] +
					  st->counters[STATUS_ACCEPTS_PAUSED_METRICS]));
	json_object_object_add(limits, "control_clients_dropped",
			       json_count(st->counters[STATUS_CONTROL_CLIENTS_DROPPED]));
	return limits;
}

/* Every family of the table: a number, or an object by label value. */
static json_object *counters_json(const struct status *st)
{
	json_object *counters = json_object_new_object();

	for (unsigned f = 0; f < N_FAMILIES; f++) {
		const struct status_family *fam = &families[f];
		json_object *by_label;

		if (!fam->label_value) {
			json_object_object_add(counters, fam->name,
					       json_count(st->counters[fam->first]));
			continue;
		}
		by_label = json_object_new_object();
		for (unsigned i = 0; i < fam->n; i++)
			json_object_object_add(by_label, fam->label_value(i),
					       json_count(st->counters[fam->first + i]));
		json_object_object_add(counters, fam->name, by_label);
	}
	return counters;
}

/* Sessions by state (every state, 0 included) and routes by state. */
static json_object *sessions_json(const struct status *st)
{
	json_object *sessions = json_object_new_object();

	for (unsigned i = 0; i < st->n_session_states; i++)
		json_object_object_add(sessions, st->session_states[i],
				       json_count(status_sessions_in(st, st->session_states[i])));
	return sessions;
}

static json_object *routes_json(const struct status *st)
{
	json_object *routes = json_object_new_object();

	for (enum status_route r = STATUS_ROUTE_INSTALLED; r <= STATUS_ROUTE_STALE; r++)
		json_object_object_add(routes, status_route_name(r),
				       json_count(status_routes_in(st, r)));
	return routes;
}

/* --routing bgp's part; null in mesh mode. */
static json_object *bgp_json(const struct status *st)
{
	json_object *bgp, *sessions, *routes;

	if (!status_bgp(st))
		return NULL;
	bgp = json_object_new_object();
	json_object_object_add(bgp, "bird_socket", json_string_or_null(st->bird_socket));
	json_object_object_add(bgp, "bird_up", json_object_new_boolean(st->bird_up));
	json_object_object_add(bgp, "export", json_string_or_null(st->bgp_export));
	sessions = json_object_new_array();
	for (unsigned i = 0; i < st->n_bgp_sessions; i++) {
		const struct status_bgp_session *s = &st->bgp_sessions[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(s->name));
		json_object_object_add(o, "peer", json_nodeaddr_or_null(&s->peer));
		json_object_object_add(o, "as", json_object_new_int64(s->as));
		json_object_object_add(o, "state", json_string_or_null(s->state));
		json_object_object_add(o, "bgp_state", json_string_or_null(s->info));
		json_object_object_add(o, "established", json_object_new_boolean(s->established));
		json_object_array_add(sessions, o);
	}
	json_object_object_add(bgp, "sessions", sessions);
	routes = json_object_new_array();
	for (unsigned i = 0; i < st->n_bgp_routes; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "subnet",
				       json_object_new_string(st->bgp_routes[i].prefix));
		json_object_object_add(o, "next_hop",
				       json_nodeaddr_or_null(&st->bgp_routes[i].via));
		json_object_object_add(o, "source", json_object_new_string("bgp"));
		probes_json(o, "probe", &st->bgp_routes[i].probe);
		json_object_array_add(routes, o);
	}
	json_object_object_add(bgp, "routes", routes);
	return bgp;
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
			       json_count(st->counters[STATUS_STATE_SAVE_ERRORS]));
	json_object_object_add(root, "node", node_json(st));
	json_object_object_add(root, "routing",
			       json_object_new_string(st->routing[0] ? st->routing : "mesh"));
	json_object_object_add(root, "bgp", bgp_json(st));
	json_object_object_add(root, "namespaces", namespaces_json(st));
	json_object_object_add(root, "attachments", attachments_json(st));
	json_object_object_add(root, "peers", peers_json(st));
	json_object_object_add(root, "limits", limits_json(st));
	json_object_object_add(root, "sessions", sessions_json(st));
	json_object_object_add(root, "routes", routes_json(st));
	json_object_object_add(root, "counters", counters_json(st));
	fprintf(out, "%s\n",
		json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_SPACED |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}
