/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the peer table, eviction and peer exchange.
 *
 * One struct peer per remote node, found by node id or by the endpoint we
 * dial; created for seeds and persisted peers at start, for a node that
 * connects to us, and for the peers another node relays (peer exchange:
 * addresses to dial only, never routes; a relayed subnet is only a hint
 * for the rde's claim). The table is bounded (max-peers): a learned peer
 * never reached gives its place to a node that did connect, and one not
 * reached in PEER_LEARNED_MAX_FAILURES attempts is forgotten, so a
 * poisoned peer list cannot crowd out real nodes. Only unicast addresses
 * outside the cluster range are dialled (undialable). Peers are freed
 * from a deferred reaper, never inside their own callbacks. It also
 * keeps the sessions' timers: one keepalive timer for all sessions, on
 * the wall clock's grid of their interval, and each session's hold
 * timer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsagent/grid.h"
#include "nsagent/log.h"
#include "nsagent/peer.h"
#include "nsagent/rde.h"
#include "nsagent/xalloc.h"

#include "session_priv.h"

/* "192.168.1.6:7470 (1a2b3c4d)" for logs. */
const char *peer_name(const struct peer *peer, char *buf, size_t size)
{
	char ep[ENDPOINT_STRLEN], id[NODE_ID_STRLEN];

	/* A named peer shows its name with the address it resolved to. */
	if (peer->id_known)
		snprintf(buf, size, "%s%s%s (%.8s)", peer->host, peer->host[0] ? " " : "",
			 addr_format_endpoint(&peer->endpoint, ep),
			 node_id_format(peer->node_id, id));
	else
		snprintf(buf, size, "%s%s%s", peer->host, peer->host[0] ? " " : "",
			 addr_format_endpoint(&peer->endpoint, ep));
	return buf;
}

/* ---- peers: lookup, creation, reaping ---- */

struct peer *find_by_id(struct peer_mgr *mgr, const uint8_t *id)
{
	struct peer *peer;

	TAILQ_FOREACH(peer, &mgr->peers, entry)
	if (!peer->dead && peer->id_known && node_id_cmp(peer->node_id, id) == 0)
		return peer;
	return NULL;
}

struct peer *find_by_endpoint(struct peer_mgr *mgr, const struct nodeaddr *addr, uint16_t port)
{
	struct peer *peer;

	TAILQ_FOREACH(peer, &mgr->peers, entry)
	if (!peer->dead && nodeaddr_equal(&peer->endpoint.addr, addr) &&
	    peer->endpoint.port == port)
		return peer;
	return NULL;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	peer_fsm(arg, PEER_EV_RETRY_TIMER);
}

static void handshake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	peer_fsm(arg, PEER_EV_HANDSHAKE_TIMER);
}

static void hold_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hold_check(arg);
}

/* The first moment more than after_ms after now_mono (CLOCK_MONOTONIC
 * ms) on the wall-clock grid of interval_ms (nsagent/grid.h): every node
 * sends its keepalives at those moments, so a node's peers' keepalives
 * arrive together; with 31 peers an idle agent woke 30 times a second to
 * read them one by one (tests/bench/README.md, the fourth step). */
static uint64_t keepalive_grid_next(uint64_t now_mono, uint32_t interval_ms, uint32_t after_ms)
{
	return now_mono + grid_wait_ms(interval_ms, after_ms + 1);
}

/* The one keepalive timer at the earliest session's next keepalive. */
static void keepalive_rearm(struct peer_mgr *mgr, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	struct peer *p;

	TAILQ_FOREACH(p, &mgr->peers, entry)
	if (!p->dead && p->state == PEER_ESTABLISHED && p->keepalive_due_ms < next)
		next = p->keepalive_due_ms;
	mgr->keepalive_next_ms = 0;
	evtimer_del(mgr->keepalive_timer);
	if (next == UINT64_MAX)
		return;
	mgr->keepalive_next_ms = next;
	timer_arm(mgr->keepalive_timer, next > now ? next - now : 0);
}

/* The first keepalive of a session is due at the next point of its grid,
 * sooner than its interval (never later). */
void keepalive_schedule(struct peer *peer)
{
	struct peer_mgr *mgr = peer->mgr;
	uint64_t now = now_ms();

	peer->keepalive_due_ms = keepalive_grid_next(now, peer->keepalive_ms, 0);
	if (!mgr->keepalive_next_ms || peer->keepalive_due_ms < mgr->keepalive_next_ms)
		keepalive_rearm(mgr, now);
}

/* Every session whose keepalive is due gets it (the FSM's event), and its
 * next one is due at the next point of its grid: at most its interval
 * later. One timer for all sessions: they share the grid, so an idle
 * agent wakes once per interval to send, however many peers it has. */
void keepalive_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer_mgr *mgr = arg;
	uint64_t now = now_ms();
	struct peer *p;

	(void)fd;
	(void)what;
	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		if (p->dead || p->state != PEER_ESTABLISHED ||
		    p->keepalive_due_ms > now + PEER_KEEPALIVE_SLACK_MS)
			continue;
		/* Past the slack: the two clocks read apart may put a tick a
		 * millisecond before its grid point, whose next point is then
		 * the same one (every keepalive sent twice). */
		p->keepalive_due_ms =
		    keepalive_grid_next(now, p->keepalive_ms, PEER_KEEPALIVE_SLACK_MS);
		peer_fsm(p, PEER_EV_KEEPALIVE_TIMER);
	}
	keepalive_rearm(mgr, now);
}

static bool is_self_endpoint(const struct peer_mgr *mgr, const struct nodeaddr *addr, uint16_t port)
{
	return nodeaddr_equal(addr, &mgr->config.node_ip) && port == mgr->port;
}

/* A learned peer that has never had a session and is not in one now: the
 * first to go when a node that did connect needs its place. */
static struct peer *eviction_victim(struct peer_mgr *mgr)
{
	struct peer *p, *victim = NULL;

	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		if (p->dead || !p->learned || p->seed || p->ever_established || p->incoming ||
		    p->state == PEER_ESTABLISHED)
			continue;
		if (!victim || p->failures > victim->failures)
			victim = p;
	}
	return victim;
}

static bool slot_test(const uint64_t *set, unsigned slot)
{
	return set[slot / 64] >> (slot % 64) & 1;
}

static void slot_set(uint64_t *set, unsigned slot)
{
	set[slot / 64] |= UINT64_C(1) << (slot % 64);
}

static void slot_clear(uint64_t *set, unsigned slot)
{
	set[slot / 64] &= ~(UINT64_C(1) << (slot % 64));
}

/* A free slot: there is one, since live peers are fewer than max_peers
 * (<= PEER_MAX_PEERS) whenever one is made. What the sessions knew of the
 * slot's last holder is not about the new one. */
static unsigned slot_take(struct peer_mgr *mgr)
{
	struct peer *p;

	for (unsigned w = 0; w < PEER_SLOT_WORDS; w++) {
		unsigned slot;

		if (mgr->slots_used[w] == UINT64_MAX)
			continue;
		slot = w * 64 + (unsigned)__builtin_ctzll(~mgr->slots_used[w]);
		slot_set(mgr->slots_used, slot);
		TAILQ_FOREACH(p, &mgr->peers, entry)
		{
			slot_clear(p->knows, slot);
			slot_clear(p->delegated, slot);
		}
		return slot;
	}
	fatal("peer table: no free slot for %u peers", mgr->n_peers - mgr->n_dead);
}

/* may_evict: the peer is a node that has connected to us (not a rumour),
 * worth more than a learned address nobody has reached. */
struct peer *peer_new(struct peer_mgr *mgr, const struct endpoint *endpoint, bool may_evict)
{
	struct peer *peer;

	if (mgr->n_peers - mgr->n_dead >= mgr->config.max_peers) {
		struct peer *victim = may_evict ? eviction_victim(mgr) : NULL;
		char name[64];

		if (!victim) {
			mgr->stats.peers_refused++;
			return NULL;
		}
		log_info("forgetting learned peer %s (never reached) to make room",
			 peer_name(victim, name, sizeof(name)));
		mgr->stats.peers_evicted++;
		peer_delete(victim);
	}
	peer = xcalloc(1, sizeof(*peer));
	peer->mgr = mgr;
	peer->state = PEER_IDLE;
	peer->endpoint = *endpoint;
	peer->slot = slot_take(mgr);
	backoff_init(&peer->backoff, mgr->config.connect_retry_min_ms,
		     mgr->config.connect_retry_max_ms,
		     mgr->rng_seed + mgr->n_peers * 7919 + nodeaddr_mix(&endpoint->addr));
	peer->retry_timer = evtimer_new(mgr->base, retry_cb, peer);
	peer->handshake_timer = evtimer_new(mgr->base, handshake_cb, peer);
	peer->hold_timer = evtimer_new(mgr->base, hold_cb, peer);
	if (!peer->retry_timer || !peer->handshake_timer || !peer->hold_timer)
		fatal("out of memory creating peer timers");
	TAILQ_INSERT_TAIL(&mgr->peers, peer, entry);
	mgr->n_peers++;
	return peer;
}

void peer_free(struct peer *peer)
{
	if (!peer)
		return;
	if (peer->conn)
		conn_close(peer->conn);
	if (peer->incoming)
		conn_close(peer->incoming);
	event_free(peer->retry_timer);
	event_free(peer->handshake_timer);
	event_free(peer->hold_timer);
	free(peer);
}

void reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer_mgr *mgr = arg;
	struct peer *peer, *next;
	struct conn *conn;

	(void)fd;
	(void)what;
	for (peer = TAILQ_FIRST(&mgr->peers); peer; peer = next) {
		next = TAILQ_NEXT(peer, entry);
		if (!peer->dead)
			continue;
		TAILQ_REMOVE(&mgr->peers, peer, entry);
		mgr->n_peers--;
		mgr->n_dead--;
		peer_free(peer);
	}
	while ((conn = TAILQ_FIRST(&mgr->dead_conns))) {
		TAILQ_REMOVE(&mgr->dead_conns, conn, entry);
		conn_free(conn);
	}
}

void schedule_reap(struct peer_mgr *mgr)
{
	event_active(mgr->reaper, EV_TIMEOUT, 0);
}

/* The peer goes away for good (left, duplicate, ourselves). */
void peer_delete(struct peer *peer)
{
	peer_fsm(peer, PEER_EV_STOP);
	if (peer->id_known && !peer->dead)
		rde_hint(peer->mgr->rde, peer->node_id, NULL, now_ms());
	if (!peer->dead) {
		peer->mgr->n_dead++;
		slot_clear(peer->mgr->slots_used, peer->slot);
	}
	peer->dead = true;
	evtimer_del(peer->retry_timer);
	schedule_reap(peer->mgr);
}

/* What a peer list carries (send_peer_list). */
enum pex_list {
	PEX_FULL,     /* every established peer: a node on its first session */
	PEX_MISSING,  /* the established peers it is not known to know */
	PEX_ADOPTEES, /* our adoptees: a node that is in the cluster already */
	PEX_NEWS,     /* the sessions that came up since the last list */
};

/* Whether `to` is told of p: an established peer other than itself that
 * its other end is not known to know (to->knows), of the kind asked for.
 * News is a session that came up since `since` (pex_seq) whose news goes
 * to every session (relay_all), or any such session when `to` is one of
 * our adoptees: it learnt the cluster from our list, and we introduce it
 * to whoever comes later. */
static bool pex_wanted(const struct peer *to, const struct peer *p, enum pex_list what,
		       uint64_t since, const uint64_t *skip)
{
	if (p == to || p->dead || p->state != PEER_ESTABLISHED || slot_test(to->knows, p->slot) ||
	    (skip && slot_test(skip, p->slot)))
		return false;
	switch (what) {
	case PEX_FULL:
	case PEX_MISSING:
		return true;
	case PEX_ADOPTEES:
		return p->adopted;
	case PEX_NEWS:
		return p->pex_seq > since && (p->relay_all || to->adopted);
	}
	return false;
}

/* Peer exchange: to `to`, the peers pex_wanted names; a full list is
 * sent even when empty. The arrays are sized by the table, not by the
 * most it may hold: a 1-entry list used to clear 26 KB (PEER_MAX_PEERS
 * entries, three arrays), which was half of an agent's instructions in a
 * 64-host convergence (tests/bench/README.md). Returns the entries sent. */
static unsigned send_peer_list(struct peer *to, enum pex_list what, uint64_t since,
			       const uint64_t *skip)
{
	struct peer_mgr *mgr = to->mgr;
	NsaPeer__Envelope env = NSA_PEER__ENVELOPE__INIT;
	NsaPeer__PeerList list = NSA_PEER__PEER_LIST__INIT;
	unsigned cap = mgr->n_peers < PEER_MAX_PEERS ? mgr->n_peers : PEER_MAX_PEERS;
	NsaPeer__PeerInfo *infos = xcalloc(cap + 1, sizeof(*infos));
	NsaPeer__PeerInfo **ptrs = xcalloc(cap + 1, sizeof(*ptrs));
	NsaPeer__Prefix *hints = xcalloc(cap + 1, sizeof(*hints));
	struct peer *p;
	unsigned n = 0;

	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		struct rde_peer_view view;

		if (!pex_wanted(to, p, what, since, skip))
			continue;
		if (n == cap)
			break;
		nsa_peer__peer_info__init(&infos[n]);
		infos[n].node_id.data = p->node_id;
		infos[n].node_id.len = NODE_ID_LEN;
		wire_put_nodeaddr(&p->endpoint.addr, &infos[n].addr, &infos[n].addr6);
		infos[n].port = p->endpoint.port;
		rde_peer_view(mgr->rde, p->node_id, &view);
		if (view.subnet_known) {
			nsa_peer__prefix__init(&hints[n]);
			hints[n].addr = view.subnet.addr;
			hints[n].len = view.subnet.len;
			infos[n].subnet_hint = &hints[n];
		}
		ptrs[n] = &infos[n];
		slot_set(to->knows, p->slot);
		n++;
	}
	mgr->stats.pex_entries_sent += n;
	if (n || what == PEX_FULL) {
		list.peers = ptrs;
		list.n_peers = n;
		env.msg_case = NSA_PEER__ENVELOPE__MSG_PEER_LIST;
		env.peer_list = &list;
		conn_send(to->conn, &env);
	}
	to->pex_sent = mgr->pex_seq;
	free(hints);
	free(ptrs);
	free(infos);
	return n;
}

/* The node ids we know, ours included: their count, and their XOR in
 * digest (the hello's known_peers and known_digest). Two nodes with the
 * same count and digest know the same nodes (ids are random 128-bit
 * values; an accidental match is as likely as a guessed id), so neither
 * has a peer to tell the other. */
uint32_t pex_digest(struct peer_mgr *mgr, uint8_t digest[NODE_ID_LEN])
{
	struct peer *p;
	uint32_t n = 1;

	memcpy(digest, mgr->config.node_id, NODE_ID_LEN);
	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		if (p->dead || !p->id_known)
			continue;
		for (unsigned i = 0; i < NODE_ID_LEN; i++)
			digest[i] ^= p->node_id[i];
		n++;
	}
	return n;
}

/* Its hello said it knows exactly the nodes we know now: in a mesh that
 * is closing, most sessions come up between nodes that have both heard
 * of everyone, and a full list each way was most of the bytes. */
static bool knows_what_we_know(struct peer *peer)
{
	const struct hello_info *h = &peer->conn->hello;
	uint8_t digest[NODE_ID_LEN];

	return h->known_peers && pex_digest(peer->mgr, digest) == h->known_peers &&
	       memcmp(digest, h->known_digest, NODE_ID_LEN) == 0;
}

/* Its hello says it knows no node but itself: its first session since
 * it started (a newcomer, or a restart), or an older agent, which does
 * not say. */
static bool first_session(struct peer *peer)
{
	return peer->conn->hello.known_peers <= 1;
}

uint32_t pex_short_id(const uint8_t id[NODE_ID_LEN])
{
	return (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
}

int pex_cmp_id(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

unsigned pex_known_ids(struct peer_mgr *mgr, uint32_t *ids)
{
	struct peer *p;
	unsigned n = 0;

	ids[n++] = pex_short_id(mgr->config.node_id);
	TAILQ_FOREACH(p, &mgr->peers, entry)
	if (!p->dead && p->id_known && n < PEER_MAX_PEERS + 1)
		ids[n++] = pex_short_id(p->node_id);
	qsort(ids, n, sizeof(*ids), pex_cmp_id);
	return n;
}

/* Whether the hello of `peer`'s session listed v among the nodes it
 * knew (known_ids). A short id is 32 bits: two nodes of one cluster
 * sharing one (about 2^-18 for 256 nodes) would cost one introduction,
 * which the other's own dials still make. */
static bool hello_listed(const struct peer *peer, const struct peer *v)
{
	const struct hello_info *h = &peer->conn->hello;
	uint32_t id = pex_short_id(v->node_id);

	return bsearch(&id, h->known_ids, h->n_known_ids, sizeof(id), pex_cmp_id) != NULL;
}

/* What its hello's known_ids say it knows, as peer->knows. */
static void knows_from_summary(struct peer *peer)
{
	struct peer *p;

	TAILQ_FOREACH(p, &peer->mgr->peers, entry)
	if (!p->dead && p->id_known && hello_listed(peer, p))
		slot_set(peer->knows, p->slot);
}

/* The peers whose introduction to `peer` another node makes: those known
 * to a session of ours with a lower node id than ours that `peer` knows
 * (its known_ids). That node will have sessions with both (each dials
 * whom it knows), so when the later of them comes up there it tells the
 * other of the pair, or hands the pair on to a lower id in the same way:
 * ids fall, so some node tells. A node that dials many peers at once
 * (all it heard of in a list) says hello to each with the same known_ids,
 * and without this each of them told it of the same nodes: at 24 nodes
 * a node heard of each other about twice, at 48 four times.
 *
 * If the delegate's session with us goes down before it has made the
 * introduction, pex_session_down makes it. What this node cannot see is
 * a delegate that stays up with us while `peer` never reaches it (a
 * firewall between the two only): no message tells us whether `peer`
 * has a session with it, and an offer on a timer would be sent in every
 * run without failures too, doubling the exchange. Then `peer` lacks the
 * delegated peers as well as the delegate until the delegate's session
 * or a delegated peer's with us goes down (its next hello lacks `peer`,
 * which it is then told of); tests/bench/README.md, the fifth step. */
static void pex_delegated(const struct peer *peer, uint64_t delegated[PEER_SLOT_WORDS])
{
	struct peer_mgr *mgr = peer->mgr;
	struct peer *v;

	memset(delegated, 0, PEER_SLOT_WORDS * sizeof(*delegated));
	TAILQ_FOREACH(v, &mgr->peers, entry)
	{
		if (v == peer || v->dead || v->state != PEER_ESTABLISHED || !v->summary ||
		    node_id_cmp(v->node_id, mgr->config.node_id) > 0 || !hello_listed(peer, v))
			continue;
		for (unsigned w = 0; w < PEER_SLOT_WORDS; w++)
			delegated[w] |= v->knows[w];
	}
}

/* A session came up. With a peer whose hello listed the nodes it knew
 * (known_ids), the whole exchange is one list at that moment: the
 * established peers it lacks. It is relayed to nobody, and hears no news
 * later: of any two sessions here, the one that comes up later is told
 * of the other's node when it lacks it, and dials it (a pair of our
 * sessions is introduced once, by whichever comes later), so the mesh
 * closes with each node hearing of each other about once. Relaying every
 * new session to every session that did not know it, as below for older
 * peers, cost a node O(N) entries per node in a chain that starts from
 * nothing (10.6 KB at 32 hosts, 2.5 KB at 16: tests/bench/README.md).
 *
 * An older peer (no known_ids) is told as before, and so that a cluster
 * of both kinds closes, every session is still classed for it:
 * - a node on its first session is our adoptee: it gets the whole list
 *   at once, and every session hears of it in the next batch. It dials
 *   every peer in the list, and they know it: no one else relays it.
 * - a node that knows exactly what we know (its hello's digest, which
 *   counts it and us) gets nothing, and only our adoptees hear of it: it
 *   dials everyone we know, and everyone we know knows it.
 * - any other node (two parts of a cluster that came up apart, meeting)
 *   gets our adoptees, and every session that does not know it hears of
 *   it, so the parts learn each other through the nodes that meet.
 * Our adoptees hear of every session that comes up here: they learnt
 * the cluster from our list, and we introduce them to whoever comes
 * later (each dials whom it knows, so introducing a pair is enough). */
void pex_session_up(struct peer *peer)
{
	struct peer_mgr *mgr = peer->mgr;
	bool first = first_session(peer), same = knows_what_we_know(peer);

	peer->pex_seq = ++mgr->pex_seq;
	memset(peer->knows, 0, sizeof(peer->knows));
	peer->adopted = first;
	peer->relay_all = first || !same;
	peer->summary = peer->conn->hello.n_known_ids != 0;
	memset(peer->delegated, 0, sizeof(peer->delegated));
	if (peer->summary) {
		uint64_t delegated[PEER_SLOT_WORDS];

		knows_from_summary(peer);
		pex_delegated(peer, delegated);
		send_peer_list(peer, PEX_MISSING, 0, delegated);
		for (unsigned w = 0; w < PEER_SLOT_WORDS; w++)
			peer->delegated[w] = delegated[w] & ~peer->knows[w];
	} else if (same) {
		peer->pex_sent = mgr->pex_seq;
	} else {
		send_peer_list(peer, first ? PEX_FULL : PEX_ADOPTEES, 0, NULL);
	}
	if (!evtimer_pending(mgr->pex_timer, NULL))
		timer_arm(mgr->pex_timer, PEER_PEX_BATCH_MS);
}

/* A session goes down: a delegate (pex_delegated) may not have made the
 * introductions left to it, and nothing else would, since a session
 * with known_ids hears no news (a node lacked a peer's route until a
 * restart). So each session that relied on it (its hello listed the
 * delegate) is offered, once, the peers left to it: those we withheld
 * that the delegate knew. Only what the other end is not known to know
 * goes out (knows: its known_ids, what it told us, what we told it).
 * Not a full PEX_MISSING list: a summary session's knows is not told
 * of the nodes that joined after it came up, so that list would offer
 * every later joiner to every session at each failure. A run without
 * failures costs nothing; one with failures at most the entries that
 * delegation saved, each once. */
void pex_session_down(struct peer *peer)
{
	struct peer_mgr *mgr = peer->mgr;
	struct peer *v;

	if (!peer->summary)
		return;
	TAILQ_FOREACH(v, &mgr->peers, entry)
	{
		uint64_t offer[PEER_SLOT_WORDS], skip[PEER_SLOT_WORDS];
		char name[64], to_name[64];
		bool any = false;
		unsigned n;

		if (v == peer || v->dead || v->state != PEER_ESTABLISHED || !v->summary ||
		    !hello_listed(v, peer))
			continue;
		for (unsigned w = 0; w < PEER_SLOT_WORDS; w++) {
			offer[w] = v->delegated[w] & peer->knows[w];
			any |= offer[w] != 0;
		}
		if (!any)
			continue;
		slot_clear(offer, peer->slot);
		for (unsigned w = 0; w < PEER_SLOT_WORDS; w++) {
			v->delegated[w] &= ~offer[w];
			skip[w] = ~offer[w];
		}
		n = send_peer_list(v, PEX_MISSING, 0, skip);
		if (n)
			log_info("peer %s: told of %u peer(s) left to %s, whose session went down",
				 peer_name(v, to_name, sizeof(to_name)), n,
				 peer_name(peer, name, sizeof(name)));
	}
}

/* The batch: every older session gets one list of the news since the
 * last list it got (pex_wanted), so a burst of k newcomers costs each
 * existing session one message of k entries, not k messages (nor a full
 * list); nothing at all when it has heard of them already. A session
 * with known_ids got all it needs when it came up (pex_session_up). */
void pex_batch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer_mgr *mgr = arg;
	struct peer *p;

	(void)fd;
	(void)what;
	TAILQ_FOREACH(p, &mgr->peers, entry)
	if (!p->dead && p->state == PEER_ESTABLISHED && !p->summary && p->pex_sent < mgr->pex_seq)
		send_peer_list(p, PEX_NEWS, p->pex_sent, NULL);
}

/* Rule: the agent dials, and takes as a node IP (a next hop), only a
 * unicast address outside the cluster range: never 0.0.0.0/8, loopback
 * (127.0.0.0/8), multicast (224.0.0.0/4), reserved (240.0.0.0/4) or the
 * limited broadcast 255.255.255.255, nor an address inside the cluster
 * range (node IPs never are; cfg_validate refuses that). It holds for
 * every source of addresses: seeds, persisted peers, peer lists and
 * hellos, so a relayed list cannot make the agent connect to a service
 * of its own host or to a namespace. Loopback is let through only by
 * config.allow_loopback, the unit-test harness's switch. Returns why addr
 * is refused, as a phrase after it, or NULL. */
const char *undialable(const struct peer_mgr *mgr, const struct nodeaddr *addr)
{
	const char *problem;

	if (addr->family == AF_INET6)
		problem = addr6_unicast_problem(&addr->v6);
	else if (addr->family == AF_INET)
		problem = addr_unicast_problem(addr->v4);
	else
		problem = "is not an address";
	if (problem && !(mgr->config.allow_loopback && nodeaddr_is_loopback(addr)))
		return problem;
	if ((addr->family == AF_INET &&
	     addr_prefix_contains_addr(&mgr->config.cluster, addr->v4)) ||
	    (addr->family == AF_INET6 && mgr->config.cluster6.len &&
	     addr6_prefix_contains_addr(&mgr->config.cluster6, &addr->v6)))
		return "is inside the cluster range";
	return NULL;
}

/* ---- peer exchange ---- */

/* Two nodes usually hear of each other from the same relay within one
 * batch (it tells the newcomer of everyone and everyone of the
 * newcomer), and when both dialled at once one connection was thrown away
 * by the collision rule, with its TLS handshake: 17 to 22 per node in a
 * 64-host chain (tests/bench/README.md). So the node with the higher id,
 * whose connection the rule keeps (incoming_wins), dials at once; the
 * other waits PEER_YIELD_DIAL_MS for it and dials only if it has not
 * come, so a node that never heard of us is still reached. */
static void start_learned(struct peer *p, const struct peer *from)
{
	struct peer_mgr *mgr = p->mgr;

	/* A list on a session with known_ids told us alone (pex_session_up):
	 * the other node was not told of us, so waiting for it is waiting
	 * PEER_YIELD_DIAL_MS for nothing. */
	if (from->summary || node_id_cmp(mgr->config.node_id, p->node_id) > 0) {
		peer_fsm(p, PEER_EV_START);
		return;
	}
	timer_arm(p->retry_timer, PEER_YIELD_DIAL_MS + mgr->rng_seed++ % 50);
}

void learn_peers(struct peer *from, const NsaPeer__PeerList *list)
{
	struct peer_mgr *mgr = from->mgr;

	/* Formatted only for a warning: most lists have none, and a name
	 * formatted for every list received showed in the profile. */
	char from_name[64] = "";
	unsigned refused = 0, undialable_n = 0;

	mgr->stats.pex_entries_received += list->n_peers;
	for (size_t i = 0; i < list->n_peers && i < PEER_MAX_PEERS; i++) {
		const NsaPeer__PeerInfo *info = list->peers[i];
		const char *problem;
		struct endpoint ep = {0};
		struct peer *p;

		/* An address that does not decode is malformed input: counted,
		 * the entry dropped, the session kept. */
		if (wire_get_nodeaddr(info->addr, &info->addr6, &ep.addr) < 0) {
			mgr->stats.frames_malformed++;
			continue;
		}
		ep.port = (uint16_t)info->port;
		if (info->node_id.len != NODE_ID_LEN || node_id_is_zero(info->node_id.data) ||
		    node_id_cmp(info->node_id.data, mgr->config.node_id) == 0 || info->port == 0 ||
		    info->port > 65535 || is_self_endpoint(mgr, &ep.addr, ep.port))
			continue;
		problem = undialable(mgr, &ep.addr);
		if (problem) {
			char buf[NODEADDR_STRLEN];

			if (!from_name[0])
				peer_name(from, from_name, sizeof(from_name));
			if (undialable_n++ < PEER_REJECT_LOG_MAX)
				log_warn("peer %s: relayed peer %s ignored: it %s", from_name,
					 nodeaddr_format(&ep.addr, buf), problem);
			continue;
		}
		p = find_by_id(mgr, info->node_id.data);
		if (!p)
			p = find_by_endpoint(mgr, &ep.addr, ep.port);
		if (!p) {
			char buf[ENDPOINT_STRLEN];

			p = peer_new(mgr, &ep, false);
			if (!p) {
				refused++;
				continue;
			}
			memcpy(p->node_id, info->node_id.data, NODE_ID_LEN);
			p->id_known = true;
			p->learned = true;
			log_info("learned peer %s from %s", addr_format_endpoint(&ep, buf),
				 from->conn ? from->conn->remote : "?");
			start_learned(p, from);
		}
		/* It knows that one, so we need not tell it. */
		slot_set(from->knows, p->slot);
		/* The rde judges the hint (claim input only). It is kept under
		 * the id of a peer in our table, which goes with that peer
		 * (peer_delete), so a relayed list naming known addresses
		 * under ever new ids cannot grow the rde's node table. */
		if (info->subnet_hint && info->subnet_hint->len <= 32 && p->id_known) {
			struct prefix hint = {info->subnet_hint->addr,
					      (uint8_t)info->subnet_hint->len};

			rde_hint(mgr->rde, p->node_id, &hint, now_ms());
		}
	}
	if ((undialable_n || refused) && !from_name[0])
		peer_name(from, from_name, sizeof(from_name));
	if (undialable_n > PEER_REJECT_LOG_MAX)
		log_warn("peer %s: %u more relayed peers ignored: not dialable", from_name,
			 undialable_n - PEER_REJECT_LOG_MAX);
	if (refused)
		log_warn("peer %s: %u relayed peer(s) ignored: already %u known peers (max-peers)",
			 from_name, refused, mgr->config.max_peers);
}

void add_initial(struct peer_mgr *mgr, const struct endpoint *ep, bool seed, const char *host)
{
	const char *problem = undialable(mgr, &ep->addr);
	struct peer *peer;

	if (problem) {
		char buf[ENDPOINT_STRLEN];

		/* cfg_validate refuses such a --peer; a state dir may still hold one */
		log_warn("not dialling %s %s: it %s", seed ? "seed" : "persisted peer",
			 addr_format_endpoint(ep, buf), problem);
		return;
	}
	if (is_self_endpoint(mgr, &ep->addr, ep->port))
		return;
	peer = find_by_endpoint(mgr, &ep->addr, ep->port);
	if (!peer)
		peer = peer_new(mgr, ep, false);
	if (!peer)
		return;
	peer->seed |= seed;
	peer->initial = true;
	if (host && host[0])
		snprintf(peer->host, sizeof(peer->host), "%s", host);
}

unsigned peer_mgr_peers(const struct peer_mgr *mgr, struct peer_info **out)
{
	struct peer_info *infos = xcalloc(mgr->n_peers + 1, sizeof(*infos));
	uint64_t now = now_ms();
	struct peer *p;
	unsigned n = 0;

	TAILQ_FOREACH(p, &mgr->peers, entry)
	{
		struct peer_info *info = &infos[n];

		if (p->dead)
			continue;
		memcpy(info->node_id, p->node_id, NODE_ID_LEN);
		info->node_id_known = p->id_known;
		info->endpoint = p->endpoint;
		info->state = p->state;
		info->outbound = p->state == PEER_ESTABLISHED && p->conn && p->conn->outbound;
		info->seed = p->seed;
		if (p->id_known)
			rde_peer_view(mgr->rde, p->node_id, &info->route);
		info->uptime_ms = p->state == PEER_ESTABLISHED ? now - p->established_ms : 0;
		info->last_heard_ms = p->last_heard_ms ? now - p->last_heard_ms : UINT64_MAX;
		n++;
	}
	*out = infos;
	return n;
}
