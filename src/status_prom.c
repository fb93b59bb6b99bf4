/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the status model printed as Prometheus text (exposition format
 * 0.0.4), the third printer beside status.c's text and JSON.
 *
 * The metrics endpoint serves exactly this, from a model the daemon fills
 * at each scrape, so a metric is a view of a status field and never a
 * second count kept beside it. Counters come from the family table
 * (status.h), which names each family once; the gauges below are views of
 * the model's other fields. Each family is written once, its HELP and TYPE
 * right before its samples (Prometheus refuses a family split in two), and
 * a family with no sample is left out. Label values are escaped as the
 * format says (backslash, double quote, newline). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsagent/status.h"
#include "nsagent/xalloc.h"

#define PROM_PREFIX "nsagent_"

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"} or name alone when label is NULL (value NULL = ""). */
static void sample_name(FILE *out, const char *name, const char *label, const char *value)
{
	fputs(name, out);
	if (!label)
		return;
	fprintf(out, "{%s=\"", label);
	for (const char *c = value ? value : ""; *c; c++) {
		if (*c == '\\' || *c == '"')
			fprintf(out, "\\%c", *c);
		else if (*c == '\n')
			fputs("\\n", out);
		else
			fputc(*c, out);
	}
	fputs("\"}", out);
}

static void sample_count(FILE *out, const char *name, const char *label, const char *value,
			 uint64_t n)
{
	sample_name(out, name, label, value);
	fprintf(out, " %" PRIu64 "\n", n);
}

/* A gauge of one sample and no label: its HELP, TYPE and value. */
static void gauge(FILE *out, const char *name, const char *help, uint64_t n)
{
	family(out, name, "gauge", help);
	sample_count(out, name, NULL, NULL, n);
}

static void node_gauges(const struct status *st, FILE *out)
{
	family(out, PROM_PREFIX "build_info", "gauge", "The agent's version; always 1.");
	sample_count(out, PROM_PREFIX "build_info", "version",
		     st->version[0] ? st->version : "unknown", 1);
	gauge(out, PROM_PREFIX "healthy", "1 when the last reconcile and reload succeeded.",
	      st->healthy);
	gauge(out, PROM_PREFIX "authenticated",
	      "1 when sessions use the cluster key (TLS), 0 when unauthenticated.", st->key);
	gauge(out, PROM_PREFIX "namespaces", "Namespaces on this node.", st->n_namespaces);
	gauge(out, PROM_PREFIX "attachments",
	      "Container interfaces attached through CNI on this node.", st->n_attachments);
	if (st->n_session_states) {
		family(out, PROM_PREFIX "sessions", "gauge", "Peer sessions by state.");
		for (unsigned i = 0; i < st->n_session_states; i++)
			sample_count(out, PROM_PREFIX "sessions", "state", st->session_states[i],
				     status_sessions_in(st, st->session_states[i]));
	}
	if (status_bgp(st)) {
		gauge(out, PROM_PREFIX "bird_up",
		      "1 when BIRD answers on its control socket (--routing bgp).", st->bird_up);
		gauge(out, PROM_PREFIX "bgp_sessions_up",
		      "BGP sessions in state Established (--routing bgp).",
		      status_bgp_established(st));
		gauge(out, PROM_PREFIX "bgp_sessions",
		      "BGP sessions configured (--bgp-peer), as BIRD shows them.",
		      st->n_bgp_sessions);
		gauge(out, PROM_PREFIX "bgp_routes",
		      "Cluster routes BIRD gives the kernel (--routing bgp).", st->n_bgp_routes);
	}
	family(out, PROM_PREFIX "routes", "gauge", "Cross-node routes in the kernel, by state.");
	for (enum status_route r = STATUS_ROUTE_INSTALLED; r <= STATUS_ROUTE_STALE; r++)
		sample_count(out, PROM_PREFIX "routes", "state", status_route_name(r),
			     status_routes_in(st, r));
}

static void counters(const struct status *st, FILE *out)
{
	for (unsigned f = 0; f < status_family_count(); f++) {
		const struct status_family *fam = status_family_get(f);
		char name[96];

		snprintf(name, sizeof(name), PROM_PREFIX "%s_total", fam->name);
		family(out, name, "counter", fam->help);
		for (unsigned i = 0; i < fam->n; i++)
			sample_count(out, name, fam->label,
				     fam->label_value ? fam->label_value(i) : NULL,
				     st->counters[fam->first + i]);
	}
}

/* Per-peer probe series: one value of a peer's probes of one family, false
 * when it has none. */
static bool probe_rtt_seconds(const struct status_probes *p, double *v)
{
	*v = p->rtt_us / 1e6;
	return p->rtt_us != 0;
}

static bool probe_sent(const struct status_probes *p, double *v)
{
	*v = (double)p->sent;
	return true;
}

static bool probe_lost(const struct status_probes *p, double *v)
{
	*v = (double)p->lost;
	return true;
}

static bool probe_loss_ratio(const struct status_probes *p, double *v)
{
	*v = p->loss_ratio;
	return true;
}

static bool probe_up(const struct status_probes *p, double *v)
{
	*v = p->result == STATUS_PROBE_OK;
	return true;
}

/* One probed node of one family: a peer, or (--routing bgp) the node
 * behind a BGP route, named by its next hop. */
struct probed {
	struct nodeaddr addr;
	const char *family;
	const struct status_probes *probes;
};

/* Every node probed at least once, per family, each (address, family)
 * once: the probes are per node IP, so a second peer entry with the same
 * address (another port) shares the first one's series, and a label set
 * may appear only once in a family. Returns how many (malloc'd). */
static unsigned probed_nodes(const struct status *st, struct probed **out)
{
	struct probed *list = xcalloc(2 * st->n_peers + st->n_bgp_routes + 1, sizeof(*list));
	unsigned n = 0;

	for (unsigned i = 0; i < 2 * st->n_peers + st->n_bgp_routes; i++) {
		struct probed c;
		bool seen = false;

		if (i < 2 * st->n_peers) {
			const struct status_peer *p = &st->peers[i / 2];

			c.addr = p->endpoint.addr;
			c.family = i % 2 ? "ipv6" : "ipv4";
			c.probes = i % 2 ? &p->probe6 : &p->probe;
		} else {
			const struct status_bgp_route *r = &st->bgp_routes[i - 2 * st->n_peers];

			c.addr = r->via;
			c.family = status_bgp_route_family(r);
			c.probes = &r->probe;
		}
		for (unsigned j = 0; j < n && !seen; j++)
			seen = nodeaddr_equal(&list[j].addr, &c.addr) &&
			       strcmp(list[j].family, c.family) == 0;
		if (c.probes->sent && !seen)
			list[n++] = c;
	}
	*out = list;
	return n;
}

/* Only nodes probed at least once have probe series (none with probes
 * off), one per address family they are probed over (label family). */
static void probes(const struct status *st, FILE *out)
{
	static const struct {
		const char *name, *type, *help;
		bool (*read)(const struct status_probes *p, double *v);
	} series[] = {
	    {PROM_PREFIX "probe_rtt_seconds", "gauge",
	     "Round trip of the last answered data-path probe, by peer and family.",
	     probe_rtt_seconds},
	    {PROM_PREFIX "probe_sent_total", "counter",
	     "Data-path probes sent, by peer and family.", probe_sent},
	    {PROM_PREFIX "probe_lost_total", "counter",
	     "Data-path probes lost, by peer and family.", probe_lost},
	    {PROM_PREFIX "probe_loss_ratio", "gauge",
	     "Share of the last 10 data-path probes lost, by peer and family.", probe_loss_ratio},
	    {PROM_PREFIX "probe_up", "gauge",
	     "1 when the data path to the peer works, by peer and family.", probe_up},
	};
	struct probed *nodes;
	unsigned n = probed_nodes(st, &nodes);

	for (size_t s = 0; s < sizeof(series) / sizeof(series[0]); s++) {
		bool any = false;

		for (unsigned i = 0; i < n; i++) {
			char a[NODEADDR_STRLEN];
			double v;

			if (!series[s].read(nodes[i].probes, &v))
				continue;
			if (!any)
				family(out, series[s].name, series[s].type, series[s].help);
			any = true;
			/* both label values are plain: an address, a constant */
			fprintf(out, "%s{peer=\"%s\",family=\"%s\"} %.15g\n", series[s].name,
				nodeaddr_format(&nodes[i].addr, a), nodes[i].family, v);
		}
	}
	free(nodes);
}

/* Per-peer WireGuard series, for peers whose traffic goes through it;
 * one series per node IP, as the probes'. */
static void wireguard(const struct status *st, FILE *out)
{
	static const struct {
		const char *name, *type, *help;
	} series[] = {
	    {PROM_PREFIX "wireguard_handshake_age_seconds", "gauge",
	     "Time since the latest WireGuard handshake with the peer (absent before the first)."},
	    {PROM_PREFIX "wireguard_received_bytes_total", "counter",
	     "Bytes received from the peer through WireGuard."},
	    {PROM_PREFIX "wireguard_sent_bytes_total", "counter",
	     "Bytes sent to the peer through WireGuard."},
	};

	for (size_t s = 0; s < sizeof(series) / sizeof(series[0]); s++) {
		bool any = false;

		for (unsigned i = 0; i < st->n_peers; i++) {
			const struct status_peer *p = &st->peers[i];
			char a[NODEADDR_STRLEN];
			bool seen = false;
			double v;

			for (unsigned j = 0; j < i; j++)
				seen = seen || (st->peers[j].wireguard &&
						nodeaddr_equal(&st->peers[j].endpoint.addr,
							       &p->endpoint.addr));
			if (!p->wireguard || seen || (s == 0 && p->wg_handshake_ms < 0))
				continue;
			v = s == 0   ? (double)p->wg_handshake_ms / 1000
			    : s == 1 ? (double)p->wg_rx_bytes
				     : (double)p->wg_tx_bytes;
			if (!any)
				family(out, series[s].name, series[s].type, series[s].help);
			any = true;
			fprintf(out, "%s{peer=\"%s\"} %.15g\n", series[s].name,
				nodeaddr_format(&p->endpoint.addr, a), v);
		}
	}
}

void status_print_prom(const struct status *st, FILE *out)
{
	node_gauges(st, out);
	counters(st, out);
	probes(st, out);
	wireguard(st, out);
}
