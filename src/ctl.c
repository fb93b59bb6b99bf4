/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the control socket, server and client.
 *
 * Owns <run-dir>/nsagent.sock, its listener and one bufferevent per client,
 * and the translation between struct status and the protobuf Status.
 *
 * Invariants: the socket file is 0600 from the moment it exists (bound
 * under umask 0177) and only root or the agent's own uid may talk to it
 * (SO_PEERCRED); a client never makes the agent buffer more than one frame
 * (read high watermark = one maximal frame) of its requests, nor more than
 * CTL_OUTPUT_MAX bytes of replies it does not read (it is dropped then);
 * at most CTL_MAX_CLIENTS are served at once and an idle one is dropped; a
 * request the agent cannot parse is answered with RESULT_BAD_REQUEST and
 * that connection is closed once the answer is out, while the daemon
 * carries on. Requests are answered in order, one Response per Request. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "ctl.pb-c.h"
#include "ctl_client.h"
#include "nsagent/ctl.h"
#include "nsagent/frame.h"
#include "nsagent/listen.h"
#include "nsagent/log.h"
#include "nsagent/wire.h"
#include "nsagent/xalloc.h"

/* Replies queued for one client: room for a few of the largest (one frame
 * each) before it counts as not reading them. */
#define CTL_OUTPUT_MAX (4 * (FRAME_HEADER_LEN + FRAME_MAX))

struct ctl_client {
	struct ctl_server *server;
	struct bufferevent *bev;
	struct ctl_client *next;
	bool closing;	   /* close once the output is written */
	bool leave;	   /* call handlers->leave once the output is written */
	bool dropped;	   /* over CTL_OUTPUT_MAX: close at once, output discarded */
	struct ucred cred; /* who it is, for the log */
};

struct ctl_server {
	struct event_base *base;
	struct evconnlistener *listener;
	struct listen_guard *guard;
	char *path;
	struct ctl_handlers handlers;
	void *arg;
	struct ctl_client *clients;
	unsigned n_clients;
};

/* ---- status <-> protobuf ---- */

static NsaCtl__Prefix *prefix_to_proto(const struct prefix *p)
{
	NsaCtl__Prefix *out = xmalloc(sizeof(*out));

	nsa_ctl__prefix__init(out);
	out->addr = p->addr;
	out->len = p->len;
	return out;
}

/* An unknown value (from a newer agent) reads as not probed yet. */
static enum status_probe probe_from_proto(NsaCtl__Probe probe)
{
	return probe <= NSA_CTL__PROBE__PROBE_FAILED ? (enum status_probe)probe
						     : STATUS_PROBE_UNKNOWN;
}

/* One family's probes as a ProbeStats (malloc'd), or NULL while none was
 * sent: the field stays unset. */
static NsaCtl__ProbeStats *probe_stats_to_proto(const struct status_probes *p)
{
	NsaCtl__ProbeStats *out;

	if (!p->sent)
		return NULL;
	out = xcalloc(1, sizeof(*out));
	nsa_ctl__probe_stats__init(out);
	out->result = (NsaCtl__Probe)p->result;
	out->rtt_us = p->rtt_us;
	out->sent = p->sent;
	out->lost = p->lost;
	out->loss_ratio = p->loss_ratio;
	return out;
}

/* An unset ProbeStats leaves p as it is (not probed). */
static void probe_stats_from_proto(const NsaCtl__ProbeStats *in, struct status_probes *p)
{
	if (!in)
		return;
	p->result = probe_from_proto(in->result);
	p->rtt_us = in->rtt_us;
	p->sent = in->sent;
	p->lost = in->lost;
	p->loss_ratio = in->loss_ratio;
}

static bool prefix_from_proto(const NsaCtl__Prefix *in, struct prefix *out)
{
	if (!in || in->len > 32)
		return false;
	out->len = (uint8_t)in->len;
	out->addr = in->addr & addr_mask(out->len);
	return true;
}

/* An IPv6 address as 16 bytes pointing into addr (which must outlive
 * the message), or no bytes at all for the all-zero "none". */
static ProtobufCBinaryData addr6_to_proto(const struct in6_addr *addr)
{
	ProtobufCBinaryData out = {0, NULL};

	if (!addr6_is_zero(addr)) {
		out.len = sizeof(*addr);
		out.data = (uint8_t *)addr;
	}
	return out;
}

/* 16 bytes into *out (true); anything else leaves it zero: none. */
static bool addr6_from_proto(const ProtobufCBinaryData *in, struct in6_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (in->len != sizeof(*out))
		return false;
	memcpy(out, in->data, sizeof(*out));
	return true;
}

/* Points into p, which must outlive the message. */
static NsaCtl__Prefix6 *prefix6_to_proto(const struct prefix6 *p)
{
	NsaCtl__Prefix6 *out = xmalloc(sizeof(*out));

	nsa_ctl__prefix6__init(out);
	out->addr = addr6_to_proto(&p->addr);
	out->len = p->len;
	return out;
}

/* Only a well-formed prefix (16 bytes, length at most 128, no host bit)
 * is taken. */
static bool prefix6_from_proto(const NsaCtl__Prefix6 *in, struct prefix6 *out)
{
	if (!in || in->len > 128 || !addr6_from_proto(&in->addr, &out->addr))
		return false;
	out->len = (uint8_t)in->len;
	return addr6_prefix_valid(out);
}

/* Every counter as a {name, label, value}, walking the model's family
 * table: a new counter needs no edit here. */
static void counters_to_proto(const struct status *st, NsaCtl__Status *out)
{
	out->n_counters = STATUS_COUNTER_COUNT;
	out->counters = xcalloc(STATUS_COUNTER_COUNT, sizeof(*out->counters));
	for (unsigned c = 0; c < STATUS_COUNTER_COUNT; c++) {
		NsaCtl__Counter *counter = xmalloc(sizeof(*counter));
		const struct status_family *fam;
		const char *label;

		nsa_ctl__counter__init(counter);
		fam = status_counter_family((enum status_counter)c, &label);
		if (!fam)
			fatal("status counter %u is in no family of the table", c);
		counter->name = (char *)fam->name;
		counter->label = (char *)label;
		counter->value = st->counters[c];
		out->counters[c] = counter;
	}
}

/* Counters this side does not know (another version of the agent) are
 * left out rather than refused: the rest of the status still counts. */
static void counters_from_proto(const NsaCtl__Status *in, struct status *st)
{
	for (size_t i = 0; i < in->n_counters; i++) {
		const NsaCtl__Counter *counter = in->counters[i];
		enum status_counter c;

		if (status_counter_find(counter->name ? counter->name : "",
					counter->label ? counter->label : "", &c) == 0)
			st->counters[c] = counter->value;
	}
}

static void copy_text(char *dst, size_t size, const char *src);

/* --routing bgp's part of a Status; addresses as text, into bufs (one
 * NODEADDR_STRLEN slot per session, then per route), which must outlive it. */
static void bgp_to_proto(const struct status *st, NsaCtl__Status *out,
			 char (*bufs)[NODEADDR_STRLEN])
{
	out->routing = (char *)st->routing;
	out->bird_socket = (char *)st->bird_socket;
	out->bird_up = st->bird_up;
	out->bgp_export = (char *)st->bgp_export;
	out->n_bgp_sessions = st->n_bgp_sessions;
	out->bgp_sessions = xcalloc(st->n_bgp_sessions + 1, sizeof(*out->bgp_sessions));
	for (unsigned i = 0; i < st->n_bgp_sessions; i++) {
		const struct status_bgp_session *s = &st->bgp_sessions[i];
		NsaCtl__BgpSession *ps = xmalloc(sizeof(*ps));

		nsa_ctl__bgp_session__init(ps);
		ps->name = (char *)s->name;
		ps->peer = (char *)nodeaddr_format(&s->peer, bufs[i]);
		ps->as = s->as;
		ps->state = (char *)s->state;
		ps->info = (char *)s->info;
		ps->established = s->established;
		out->bgp_sessions[i] = ps;
	}
	out->n_bgp_routes = st->n_bgp_routes;
	out->bgp_routes = xcalloc(st->n_bgp_routes + 1, sizeof(*out->bgp_routes));
	for (unsigned i = 0; i < st->n_bgp_routes; i++) {
		const struct status_bgp_route *r = &st->bgp_routes[i];
		NsaCtl__BgpRoute *pr = xmalloc(sizeof(*pr));
		char *via = bufs[st->n_bgp_sessions + i];

		nsa_ctl__bgp_route__init(pr);
		pr->prefix = (char *)r->prefix;
		via[0] = '\0';
		if (!nodeaddr_is_zero(&r->via))
			nodeaddr_format(&r->via, via);
		pr->next_hop = via;
		pr->probe = probe_stats_to_proto(&r->probe);
		out->bgp_routes[i] = pr;
	}
}

static void bgp_from_proto(const NsaCtl__Status *in, struct status *st)
{
	copy_text(st->routing, sizeof(st->routing), in->routing);
	copy_text(st->bird_socket, sizeof(st->bird_socket), in->bird_socket);
	st->bird_up = in->bird_up;
	copy_text(st->bgp_export, sizeof(st->bgp_export), in->bgp_export);
	for (size_t i = 0; i < in->n_bgp_sessions && i < STATUS_MAX_BGP_SESSIONS; i++) {
		const NsaCtl__BgpSession *ps = in->bgp_sessions[i];
		struct status_bgp_session *s = &st->bgp_sessions[st->n_bgp_sessions++];

		copy_text(s->name, sizeof(s->name), ps->name);
		/* A malformed address reads as none. */
		if (!ps->peer || nodeaddr_parse(ps->peer, &s->peer) < 0)
			memset(&s->peer, 0, sizeof(s->peer));
		s->as = ps->as;
		copy_text(s->state, sizeof(s->state), ps->state);
		copy_text(s->info, sizeof(s->info), ps->info);
		s->established = ps->established;
	}
	for (size_t i = 0; i < in->n_bgp_routes; i++) {
		const NsaCtl__BgpRoute *pr = in->bgp_routes[i];
		struct status_bgp_route *r = status_add_bgp_route(st);

		if (!r)
			break;
		copy_text(r->prefix, sizeof(r->prefix), pr->prefix);
		if (!pr->next_hop || nodeaddr_parse(pr->next_hop, &r->via) < 0)
			memset(&r->via, 0, sizeof(r->via));
		probe_stats_from_proto(pr->probe, &r->probe);
	}
}

/* Builds a Status whose strings point into st (st must outlive it). */
static NsaCtl__Status *status_to_proto(const struct status *st, char (*bufs)[NODEADDR_STRLEN])
{
	NsaCtl__Status *out = xmalloc(sizeof(*out));

	nsa_ctl__status__init(out);
	out->version = (char *)st->version;
	out->pid = st->pid;
	out->uptime_ms = st->uptime_ms;
	out->healthy = st->healthy;
	out->problem = (char *)st->problem;
	out->node_id = (char *)st->node_id;
	wire_put_nodeaddr(&st->node_ip, &out->node_ip, &out->node_ip6);
	out->subnet = st->subnet_known ? prefix_to_proto(&st->subnet) : NULL;
	out->bridge = (char *)st->bridge;
	out->bridge_addr = st->bridge_addr;
	if (st->subnet6_known) {
		out->subnet6 = prefix6_to_proto(&st->subnet6);
		out->bridge_addr6 = addr6_to_proto(&st->bridge_addr6);
	}
	out->key = st->key;
	out->wg_public_key = (char *)st->wg_public_key;
	out->wg_port = st->wg_port;
	out->wg_impl = (char *)st->wg_impl;
	out->n_namespaces = st->n_namespaces;
	out->namespaces = xcalloc(st->n_namespaces + 1, sizeof(*out->namespaces));
	for (unsigned i = 0; i < st->n_namespaces; i++) {
		NsaCtl__Namespace *ns = xmalloc(sizeof(*ns));

		nsa_ctl__namespace__init(ns);
		ns->name = (char *)st->namespaces[i].name;
		ns->addr = st->namespaces[i].addr;
		ns->runtime = st->namespaces[i].runtime;
		ns->addr6 = addr6_to_proto(&st->namespaces[i].addr6);
		out->namespaces[i] = ns;
	}
	out->n_attachments = st->n_attachments;
	out->attachments = xcalloc(st->n_attachments + 1, sizeof(*out->attachments));
	for (unsigned i = 0; i < st->n_attachments; i++) {
		const struct status_attachment *at = &st->attachments[i];
		NsaCtl__Attachment *pa = xmalloc(sizeof(*pa));

		nsa_ctl__attachment__init(pa);
		pa->container_id = (char *)at->container_id;
		pa->netns = (char *)at->netns;
		pa->ifname = (char *)at->ifname;
		pa->addr = at->addr;
		pa->addr6 = addr6_to_proto(&at->addr6);
		pa->host_ifname = (char *)at->host_ifname;
		pa->netns_gone = at->netns_gone;
		out->attachments[i] = pa;
	}
	out->n_peers = st->n_peers;
	out->peers = xcalloc(st->n_peers + 1, sizeof(*out->peers));
	for (unsigned i = 0; i < st->n_peers; i++) {
		const struct status_peer *p = &st->peers[i];
		NsaCtl__Peer *pp = xmalloc(sizeof(*pp));

		nsa_ctl__peer__init(pp);
		pp->node_id = (char *)p->node_id;
		wire_put_nodeaddr(&p->endpoint.addr, &pp->addr, &pp->addr6);
		pp->port = p->endpoint.port;
		pp->state = (char *)p->state;
		pp->mode = (char *)p->mode;
		pp->subnet = p->subnet_known ? prefix_to_proto(&p->subnet) : NULL;
		pp->uptime_ms = p->uptime_ms;
		pp->last_heard_ms = p->last_heard_ms;
		pp->route = (NsaCtl__Route)p->route;
		pp->probe = (NsaCtl__Probe)p->probe.result;
		pp->probe_rtt_us = p->probe.rtt_us;
		pp->probe_sent = p->probe.sent;
		pp->probe_lost = p->probe.lost;
		pp->probe_loss_ratio = p->probe.loss_ratio;
		pp->probe6 = probe_stats_to_proto(&p->probe6);
		pp->subnet6 = p->subnet6_known ? prefix6_to_proto(&p->subnet6) : NULL;
		pp->route6 = (NsaCtl__Route)p->route6;
		pp->mode6 = (char *)p->mode6;
		if (p->link_local6_set) {
			pp->link_local6.data = (uint8_t *)p->link_local6.s6_addr;
			pp->link_local6.len = sizeof(p->link_local6.s6_addr);
		}
		if (!addr6_is_zero(&p->via6)) {
			pp->via6.data = (uint8_t *)p->via6.s6_addr;
			pp->via6.len = sizeof(p->via6.s6_addr);
		}
		pp->wireguard = p->wireguard;
		pp->wg_last_handshake_ms = p->wg_handshake_ms;
		pp->wg_rx_bytes = p->wg_rx_bytes;
		pp->wg_tx_bytes = p->wg_tx_bytes;
		pp->mode_reason = (char *)p->mode_reason;
		out->peers[i] = pp;
	}
	out->n_session_states = st->n_session_states;
	out->session_states = xcalloc(st->n_session_states + 1, sizeof(*out->session_states));
	for (unsigned i = 0; i < st->n_session_states; i++)
		out->session_states[i] = (char *)st->session_states[i];
	counters_to_proto(st, out);
	bgp_to_proto(st, out, bufs);
	return out;
}

static void status_proto_free(NsaCtl__Status *out)
{
	if (!out)
		return;
	free(out->subnet);
	free(out->subnet6);
	for (size_t i = 0; i < out->n_namespaces; i++)
		free(out->namespaces[i]);
	free(out->namespaces);
	for (size_t i = 0; i < out->n_attachments; i++)
		free(out->attachments[i]);
	free(out->attachments);
	for (size_t i = 0; i < out->n_peers; i++) {
		free(out->peers[i]->subnet);
		free(out->peers[i]->probe6);
		free(out->peers[i]->subnet6);
		free(out->peers[i]);
	}
	free(out->peers);
	free(out->session_states);
	for (size_t i = 0; i < out->n_bgp_sessions; i++)
		free(out->bgp_sessions[i]);
	free(out->bgp_sessions);
	for (size_t i = 0; i < out->n_bgp_routes; i++) {
		free(out->bgp_routes[i]->probe);
		free(out->bgp_routes[i]);
	}
	free(out->bgp_routes);
	for (size_t i = 0; i < out->n_counters; i++)
		free(out->counters[i]);
	free(out->counters);
	free(out);
}

static void copy_text(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

/* Everything from the wire is bounded: strings are truncated to their
 * fields, counts to the status bounds. */
static void status_from_proto(const NsaCtl__Status *in, struct status *st)
{
	status_init(st);
	copy_text(st->version, sizeof(st->version), in->version);
	st->pid = in->pid;
	st->uptime_ms = in->uptime_ms;
	st->healthy = in->healthy;
	copy_text(st->problem, sizeof(st->problem), in->problem);
	copy_text(st->node_id, sizeof(st->node_id), in->node_id);
	/* A malformed address reads as none. */
	if (wire_get_nodeaddr(in->node_ip, &in->node_ip6, &st->node_ip) < 0)
		memset(&st->node_ip, 0, sizeof(st->node_ip));
	st->subnet_known = prefix_from_proto(in->subnet, &st->subnet);
	copy_text(st->bridge, sizeof(st->bridge), in->bridge);
	st->bridge_addr = in->bridge_addr;
	st->subnet6_known = prefix6_from_proto(in->subnet6, &st->subnet6);
	if (st->subnet6_known)
		addr6_from_proto(&in->bridge_addr6, &st->bridge_addr6);
	st->key = in->key;
	copy_text(st->wg_public_key, sizeof(st->wg_public_key), in->wg_public_key);
	st->wg_port = (uint16_t)in->wg_port;
	copy_text(st->wg_impl, sizeof(st->wg_impl), in->wg_impl);
	for (size_t i = 0; i < in->n_namespaces; i++) {
		struct status_namespace *ns = status_add_namespace(st);

		if (!ns)
			break;
		copy_text(ns->name, sizeof(ns->name), in->namespaces[i]->name);
		ns->addr = in->namespaces[i]->addr;
		ns->runtime = in->namespaces[i]->runtime;
		addr6_from_proto(&in->namespaces[i]->addr6, &ns->addr6);
	}
	for (size_t i = 0; i < in->n_attachments; i++) {
		const NsaCtl__Attachment *pa = in->attachments[i];
		struct status_attachment *at = status_add_attachment(st);

		if (!at)
			break;
		copy_text(at->container_id, sizeof(at->container_id), pa->container_id);
		copy_text(at->netns, sizeof(at->netns), pa->netns);
		copy_text(at->ifname, sizeof(at->ifname), pa->ifname);
		copy_text(at->host_ifname, sizeof(at->host_ifname), pa->host_ifname);
		at->addr = pa->addr;
		addr6_from_proto(&pa->addr6, &at->addr6);
		at->netns_gone = pa->netns_gone;
	}
	for (size_t i = 0; i < in->n_peers; i++) {
		const NsaCtl__Peer *pp = in->peers[i];
		struct status_peer *p = status_add_peer(st);

		if (!p)
			break;
		copy_text(p->node_id, sizeof(p->node_id), pp->node_id);
		if (wire_get_nodeaddr(pp->addr, &pp->addr6, &p->endpoint.addr) < 0)
			memset(&p->endpoint.addr, 0, sizeof(p->endpoint.addr));
		p->endpoint.port = (uint16_t)pp->port;
		copy_text(p->state, sizeof(p->state), pp->state);
		copy_text(p->mode, sizeof(p->mode), pp->mode);
		p->subnet_known = prefix_from_proto(pp->subnet, &p->subnet);
		p->uptime_ms = pp->uptime_ms;
		p->last_heard_ms = pp->last_heard_ms < 0 ? -1 : pp->last_heard_ms;
		p->route = pp->route <= NSA_CTL__ROUTE__ROUTE_STALE ? (enum status_route)pp->route
								    : STATUS_ROUTE_NONE;
		p->probe.result = probe_from_proto(pp->probe);
		p->probe.rtt_us = pp->probe_rtt_us;
		p->probe.sent = pp->probe_sent;
		p->probe.lost = pp->probe_lost;
		p->probe.loss_ratio = pp->probe_loss_ratio;
		probe_stats_from_proto(pp->probe6, &p->probe6);
		p->subnet6_known = prefix6_from_proto(pp->subnet6, &p->subnet6);
		p->route6 = pp->route6 <= NSA_CTL__ROUTE__ROUTE_STALE
				? (enum status_route)pp->route6
				: STATUS_ROUTE_NONE;
		copy_text(p->mode6, sizeof(p->mode6), pp->mode6);
		p->link_local6_set = addr6_from_proto(&pp->link_local6, &p->link_local6);
		(void)addr6_from_proto(&pp->via6, &p->via6); /* zero when absent */
		p->wireguard = pp->wireguard;
		p->wg_handshake_ms = pp->wg_last_handshake_ms < 0 ? -1 : pp->wg_last_handshake_ms;
		p->wg_rx_bytes = pp->wg_rx_bytes;
		p->wg_tx_bytes = pp->wg_tx_bytes;
		copy_text(p->mode_reason, sizeof(p->mode_reason), pp->mode_reason);
	}
	for (size_t i = 0; i < in->n_session_states && i < STATUS_MAX_SESSION_STATES; i++)
		copy_text(st->session_states[st->n_session_states++], STATUS_STATE_MAX,
			  in->session_states[i]);
	counters_from_proto(in, st);
	bgp_from_proto(in, st);
}

/* ---- server ---- */

static void client_free(struct ctl_client *c)
{
	struct ctl_server *s = c->server;

	for (struct ctl_client **pp = &s->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	s->n_clients--;
	bufferevent_free(c->bev);
	free(c);
	/* A slot is free again. */
	listen_guard_hold(s->guard, false);
}

static void reply_with(struct ctl_client *c, enum ctl_result result, const char *message,
		       const struct status *st, NsaCtl__CniResult *cni)
{
	NsaCtl__Response resp = NSA_CTL__RESPONSE__INIT;
	/* The BGP sessions' and routes' addresses as text, for the Status. */
	char(*addrs)[NODEADDR_STRLEN] =
	    st ? xcalloc(st->n_bgp_sessions + st->n_bgp_routes + 1, NODEADDR_STRLEN) : NULL;
	NsaCtl__Status *status = st ? status_to_proto(st, addrs) : NULL;
	int ret;

	resp.result = (NsaCtl__Result)result;
	resp.message = (char *)(message ? message : "");
	resp.status = status;
	resp.cni = cni;
	ret = frame_write(bufferevent_get_output(c->bev), &resp.base);
	if (ret == -EMSGSIZE) {
		/* Only a status with very many peers can be this big. */
		resp.status = NULL;
		resp.result = (NsaCtl__Result)CTL_FAILED;
		resp.message = "the status does not fit one control frame";
		ret = frame_write(bufferevent_get_output(c->bev), &resp.base);
	}
	if (ret < 0) {
		log_warn("control: cannot queue a reply: %s", strerror(-ret));
		c->closing = true;
	}
	status_proto_free(status);
	free(addrs);
	/* A client that sends requests and never reads the answers (they pile
	 * up here, not in its socket) would grow the agent without bound. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > CTL_OUTPUT_MAX) {
		log_warn("control: dropping a client that does not read its replies (pid %ld, uid "
			 "%u; over %d bytes queued)",
			 (long)c->cred.pid, (unsigned)c->cred.uid, CTL_OUTPUT_MAX);
		status_count(STATUS_CONTROL_CLIENTS_DROPPED);
		c->dropped = true;
		c->closing = true;
	}
}

static void reply(struct ctl_client *c, enum ctl_result result, const char *message,
		  const struct status *st)
{
	reply_with(c, result, message, st, NULL);
}

static void reply_cni(struct ctl_client *c, const struct ctl_cni_result *res, const char *message)
{
	NsaCtl__CniResult cni = NSA_CTL__CNI_RESULT__INIT;

	cni.ifname = (char *)res->ifname;
	cni.mac.data = (uint8_t *)res->mac;
	cni.mac.len = sizeof(res->mac);
	cni.mtu = res->mtu;
	cni.netns = (char *)res->netns;
	cni.addr = res->addr;
	cni.prefix_len = res->prefix_len;
	cni.gateway = res->gateway;
	if (!addr6_is_zero(&res->addr6)) {
		cni.addr6 = addr6_to_proto(&res->addr6);
		cni.gateway6 = addr6_to_proto(&res->gateway6);
	}
	reply_with(c, CTL_OK, message, NULL, &cni);
}

/* The key's problem, written into msg, or false when it is fine. */
static bool cni_key_problem(const NsaCtl__CniKey *key, char *msg, size_t size)
{
	const char *id = key && key->container_id ? key->container_id : "";
	const char *ifname = key && key->ifname ? key->ifname : "";
	const char *problem;

	if ((problem = ctl_cni_id_problem(id))) {
		snprintf(msg, size, "container id '%.*s' %s", CTL_CNI_ID_MAX, id, problem);
		return true;
	}
	if ((problem = ctl_cni_ifname_problem(ifname))) {
		snprintf(msg, size, "interface name '%.*s' %s", IFNAMSIZ, ifname, problem);
		return true;
	}
	return false;
}

static void cni_key_from_proto(const NsaCtl__CniKey *in, struct ctl_cni_key *out)
{
	copy_text(out->container_id, sizeof(out->container_id), in->container_id);
	copy_text(out->ifname, sizeof(out->ifname), in->ifname);
}

/* Validates a CNI request from the wire, hands it to the daemon and
 * answers with its result (and the attachment for ADD and CHECK). */
static void handle_cni(struct ctl_client *c, const NsaCtl__CniRequest *in)
{
	const struct ctl_handlers *h = &c->server->handlers;
	struct ctl_cni_request req = {.command = (enum ctl_cni_command)in->command};
	struct ctl_cni_result res;
	struct ctl_cni_key *valid = NULL;
	char msg[CTL_MESSAGE_MAX] = "";
	const char *netns = in->netns ? in->netns : "", *problem;
	enum ctl_result result = CTL_INVALID;

	switch (in->command) {
	case NSA_CTL__CNI_REQUEST__COMMAND__ADD:
	case NSA_CTL__CNI_REQUEST__COMMAND__CHECK:
	case NSA_CTL__CNI_REQUEST__COMMAND__DEL:
		if (cni_key_problem(in->key, msg, sizeof(msg)))
			goto answer;
		cni_key_from_proto(in->key, &req.key);
		/* DEL may come after the runtime removed the namespace. */
		if ((problem = ctl_cni_netns_problem(netns)) &&
		    (in->command != NSA_CTL__CNI_REQUEST__COMMAND__DEL || netns[0])) {
			snprintf(msg, sizeof(msg), "netns path '%.*s' %s", CTL_CNI_NETNS_MAX, netns,
				 problem);
			goto answer;
		}
		copy_text(req.netns, sizeof(req.netns), netns);
		break;
	case NSA_CTL__CNI_REQUEST__COMMAND__GC:
		if (in->n_valid > STATUS_MAX_NAMESPACES) {
			snprintf(msg, sizeof(msg), "GC lists %zu attachments (at most %d)",
				 in->n_valid, STATUS_MAX_NAMESPACES);
			goto answer;
		}
		valid = xcalloc(in->n_valid + 1, sizeof(*valid));
		for (size_t i = 0; i < in->n_valid; i++) {
			if (cni_key_problem(in->valid[i], msg, sizeof(msg)))
				goto answer;
			cni_key_from_proto(in->valid[i], &valid[i]);
		}
		req.valid = valid;
		req.n_valid = (unsigned)in->n_valid;
		break;
	case NSA_CTL__CNI_REQUEST__COMMAND__STATUS:
		break;
	default:
		result = CTL_BAD_REQUEST;
		snprintf(msg, sizeof(msg), "unknown CNI command %d (is the agent older?)",
			 (int)in->command);
		goto answer;
	}
	if (!h->cni) {
		result = CTL_BAD_REQUEST;
		snprintf(msg, sizeof(msg), "this agent serves no CNI requests");
		goto answer;
	}
	memset(&res, 0, sizeof(res));
	result = h->cni(c->server->arg, &req, &res, msg, sizeof(msg));
	if (result == CTL_OK && (req.command == CTL_CNI_ADD || req.command == CTL_CNI_CHECK)) {
		reply_cni(c, &res, msg);
		free(valid);
		return;
	}
answer:
	free(valid);
	reply(c, result, msg, NULL);
}

static void handle(struct ctl_client *c, const NsaCtl__Request *req)
{
	const struct ctl_handlers *h = &c->server->handlers;
	void *arg = c->server->arg;
	char msg[CTL_MESSAGE_MAX] = "";
	struct status st;
	enum ctl_result result;
	const char *name;

	status_count(STATUS_CONTROL_REQUESTS);
	switch (req->request_case) {
	case NSA_CTL__REQUEST__REQUEST_STATUS:
		status_init(&st);
		h->status(arg, &st);
		reply(c, CTL_OK, "", &st);
		status_clear(&st);
		return;
	case NSA_CTL__REQUEST__REQUEST_NS_ADD:
	case NSA_CTL__REQUEST__REQUEST_NS_DEL:
		name = req->request_case == NSA_CTL__REQUEST__REQUEST_NS_ADD ? req->ns_add->name
									     : req->ns_del->name;
		if (!name || cfg_namespace_name_problem(name)) {
			snprintf(msg, sizeof(msg), "namespace name '%.*s' %s", CFG_NS_NAME_MAX,
				 name ? name : "", cfg_namespace_name_problem(name ? name : ""));
			reply(c, CTL_INVALID, msg, NULL);
			return;
		}
		result = req->request_case == NSA_CTL__REQUEST__REQUEST_NS_ADD
			     ? h->ns_add(arg, name, msg, sizeof(msg))
			     : h->ns_del(arg, name, msg, sizeof(msg));
		reply(c, result, msg, NULL);
		return;
	case NSA_CTL__REQUEST__REQUEST_RELOAD:
		result = h->reload(arg, msg, sizeof(msg));
		reply(c, result, msg, NULL);
		return;
	case NSA_CTL__REQUEST__REQUEST_CNI:
		handle_cni(c, req->cni);
		return;
	case NSA_CTL__REQUEST__REQUEST_ROTATE_KEY:
		result = h->rotate_key(arg, msg, sizeof(msg));
		reply(c, result, msg, NULL);
		return;
	case NSA_CTL__REQUEST__REQUEST_LEAVE:
		reply(c, CTL_OK, "leaving the cluster", NULL);
		c->leave = true;
		c->closing = true;
		return;
	case NSA_CTL__REQUEST__REQUEST__NOT_SET:
	default:
		reply(c, CTL_BAD_REQUEST, "unknown or empty request (is the agent older?)", NULL);
		return;
	}
}

static void on_client_read(struct bufferevent *bev, void *arg)
{
	struct ctl_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	ProtobufCMessage *msg;
	char text[CTL_MESSAGE_MAX];
	size_t len = 0;
	int ret;

	while (!c->closing) {
		ret = frame_read(in, &nsa_ctl__request__descriptor, &msg, &len);
		if (ret == 0)
			return;
		if (ret < 0) {
			if (ret == -EMSGSIZE)
				snprintf(text, sizeof(text),
					 "request of %zu bytes is over the %d-byte frame limit",
					 len, FRAME_MAX);
			else
				snprintf(text, sizeof(text), "not a control request (bad frame)");
			log_warn("control: %s; closing that connection", text);
			reply(c, CTL_BAD_REQUEST, text, NULL);
			c->closing = true;
			break;
		}
		handle(c, (NsaCtl__Request *)msg);
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	/* Stop reading; the write callback closes once the reply is out. */
	bufferevent_disable(bev, EV_READ);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (c->dropped || evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		bool leave = c->leave;
		struct ctl_server *s = c->server;

		client_free(c);
		if (leave)
			s->handlers.leave(s->arg);
	}
}

static void on_client_write(struct bufferevent *bev, void *arg)
{
	struct ctl_client *c = arg;
	struct ctl_server *s = c->server;
	bool leave = c->leave;

	(void)bev;
	if (!c->closing)
		return;
	client_free(c);
	if (leave)
		s->handlers.leave(s->arg);
}

static void on_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_client *c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("control: dropping an idle client");
	else if (what & BEV_EVENT_ERROR)
		log_debug("control: client error: %s", strerror(EVUTIL_SOCKET_ERROR()));
	client_free(c);
}

/* Root, or whoever the agent runs as; cred gets who it is. */
static bool peer_allowed(int fd, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0)
		return false;
	return cred->uid == 0 || cred->uid == geteuid();
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct ctl_server *s = arg;
	struct timeval idle = {.tv_sec = CTL_IDLE_TIMEOUT_S};
	struct ctl_client *c;
	struct ucred cred = {0};

	(void)listener;
	(void)sa;
	(void)socklen;
	if (!peer_allowed(fd, &cred)) {
		log_warn(
		    "control: refusing a client (pid %ld, uid %u) that is neither root nor the "
		    "agent's user",
		    (long)cred.pid, (unsigned)cred.uid);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->server = s;
	c->cred = cred;
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		fatal("out of memory");
	bufferevent_setcb(c->bev, on_client_read, on_client_write, on_client_event, c);
	/* Never buffer more than one maximal frame from a client. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, FRAME_HEADER_LEN + FRAME_MAX);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = s->clients;
	s->clients = c;
	listen_guard_accepted(s->guard);
	if (++s->n_clients >= CTL_MAX_CLIENTS)
		listen_guard_hold(s->guard, true);
}

static int socket_path(const char *run_dir, struct sockaddr_un *sun, char **path)
{
	if (asprintf(path, "%s/%s", run_dir, CTL_SOCKET_NAME) < 0)
		fatal("out of memory");
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(*path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memcpy(sun->sun_path, *path, strlen(*path));
	return 0;
}

/* Whether an agent answers on the socket file at sun. */
static bool socket_alive(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return alive;
}

static int prepare_run_dir(const char *run_dir, char *err, size_t err_size)
{
	struct stat st;

	if (mkdir(run_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, err_size, "cannot create %s: %s", run_dir, strerror(errno));
		return -errno;
	}
	if (stat(run_dir, &st) < 0) {
		snprintf(err, err_size, "cannot stat %s: %s", run_dir, strerror(errno));
		return -errno;
	}
	/* The socket is root-only by its own mode too; a private directory is
	 * the second lock. Only a directory of ours is tightened. */
	if ((st.st_mode & 077) && st.st_uid == geteuid() && chmod(run_dir, 0700) < 0)
		log_warn("cannot make %s private: %s", run_dir, strerror(errno));
	return 0;
}

int ctl_server_new(struct event_base *base, const char *run_dir,
		   const struct ctl_handlers *handlers, void *arg, struct ctl_server **out,
		   char *err, size_t err_size)
{
	struct ctl_server *s = xcalloc(1, sizeof(*s));
	struct sockaddr_un sun;
	mode_t old_umask;
	int fd = -1, ret;

	s->base = base;
	s->handlers = *handlers;
	s->arg = arg;
	ret = prepare_run_dir(run_dir, err, err_size);
	if (ret < 0)
		goto fail;
	ret = socket_path(run_dir, &sun, &s->path);
	if (ret < 0) {
		snprintf(err, err_size, "control socket path %s is too long", s->path);
		goto fail;
	}
	if (socket_alive(&sun)) {
		snprintf(err, err_size, "another nsagent is running (it answers on %s)", s->path);
		ret = -EADDRINUSE;
		goto fail;
	}
	if (unlink(s->path) < 0 && errno != ENOENT) {
		ret = -errno;
		snprintf(err, err_size, "cannot remove the stale %s: %s", s->path, strerror(errno));
		goto fail;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_size, "cannot create the control socket: %s", strerror(errno));
		goto fail;
	}
	old_umask = umask(0177);
	ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (ret < 0 || listen(fd, CTL_MAX_CLIENTS) < 0) {
		ret = -errno;
		snprintf(err, err_size, "cannot listen on %s: %s", s->path, strerror(errno));
		goto fail;
	}
	s->listener = evconnlistener_new(base, on_accept, s,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (!s->listener)
		fatal("out of memory");
	s->guard =
	    listen_guard_new(base, s->listener, "control socket", STATUS_ACCEPTS_PAUSED_CONTROL);
	*out = s;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	/* Never remove the socket of the agent that answered. */
	if (ret != -EADDRINUSE && s->path && fd >= 0)
		unlink(s->path);
	free(s->path);
	free(s);
	return ret;
}

void ctl_server_free(struct ctl_server *s)
{
	if (!s)
		return;
	while (s->clients) {
		struct ctl_client *c = s->clients;

		s->clients = c->next;
		bufferevent_free(c->bev);
		free(c);
	}
	listen_guard_free(s->guard);
	if (s->listener)
		evconnlistener_free(s->listener);
	unlink(s->path);
	free(s->path);
	free(s);
}

/* ---- client ---- */

int ctl_call(const char *run_dir, enum ctl_op op, const char *name, struct ctl_reply *reply_out,
	     char *err, size_t err_size)
{
	NsaCtl__Request req = NSA_CTL__REQUEST__INIT;
	NsaCtl__StatusRequest status = NSA_CTL__STATUS_REQUEST__INIT;
	NsaCtl__NamespaceRequest ns = NSA_CTL__NAMESPACE_REQUEST__INIT;
	NsaCtl__ReloadRequest reload = NSA_CTL__RELOAD_REQUEST__INIT;
	NsaCtl__LeaveRequest leave = NSA_CTL__LEAVE_REQUEST__INIT;
	NsaCtl__RotateKeyRequest rotate = NSA_CTL__ROTATE_KEY_REQUEST__INIT;
	NsaCtl__Response *resp = NULL;
	char *path = NULL;
	int ret;

	memset(reply_out, 0, sizeof(*reply_out));
	ns.name = (char *)(name ? name : "");
	switch (op) {
	case CTL_OP_STATUS:
		req.request_case = NSA_CTL__REQUEST__REQUEST_STATUS;
		req.status = &status;
		break;
	case CTL_OP_NS_ADD:
		req.request_case = NSA_CTL__REQUEST__REQUEST_NS_ADD;
		req.ns_add = &ns;
		break;
	case CTL_OP_NS_DEL:
		req.request_case = NSA_CTL__REQUEST__REQUEST_NS_DEL;
		req.ns_del = &ns;
		break;
	case CTL_OP_RELOAD:
		req.request_case = NSA_CTL__REQUEST__REQUEST_RELOAD;
		req.reload = &reload;
		break;
	case CTL_OP_LEAVE:
		req.request_case = NSA_CTL__REQUEST__REQUEST_LEAVE;
		req.leave = &leave;
		break;
	case CTL_OP_ROTATE_KEY:
		req.request_case = NSA_CTL__REQUEST__REQUEST_ROTATE_KEY;
		req.rotate_key = &rotate;
		break;
	}
	if (asprintf(&path, "%s/%s", run_dir, CTL_SOCKET_NAME) < 0)
		fatal("out of memory");
	ret = ctl_client_exchange(path, &req, CTL_CALL_TIMEOUT_MS, &resp, err, err_size);
	if (ret < 0)
		goto out;
	reply_out->result = (enum ctl_result)resp->result;
	copy_text(reply_out->message, sizeof(reply_out->message), resp->message);
	if (resp->status) {
		status_from_proto(resp->status, &reply_out->status);
		reply_out->has_status = true;
	}
	nsa_ctl__response__free_unpacked(resp, NULL);
out:
	free(path);
	return ret;
}
