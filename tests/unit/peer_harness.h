/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Loopback harness shared by the peer session tests (test_peer,
 * test_peer_sec): one event loop, peer_mgr instances on 127.0.0.n, each
 * with its own rde (wired as the daemon wires them), with cluster
 * 172.16.0.0/16 and subnet 172.16.n.0/24, loop-running helpers that
 * wait on a condition with a deadline, and a scripted remote speaking the
 * wire protocol over plain TCP or over TLS with a cluster key. Asserts
 * through cmocka. */
#ifndef NSAGENT_TESTS_PEER_HARNESS_H
#define NSAGENT_TESTS_PEER_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "nsagent/peer.h"
#include "nsagent/rde.h"
#include "nsagent/tls.h"
#include "nsagent/wire.h"

struct bufferevent;

#define LOOP(n) (0x7f000000u | (n)) /* 127.0.0.n */
#define NET(n) ((struct prefix){0xac100000u | ((n) << 8), 24})
#define DEADLINE_MS 10000

/* The one event loop every peer_mgr of a test program runs on. */
extern struct event_base *ph_base;

/* Log level from NSAGENT_TEST_DEBUG, and a fresh ph_base; 0 or -1. */
int ph_init(void);
void ph_fini(void);

uint64_t ph_now_ms(void);
/* Runs the loop until cond(arg) holds or timeout_ms passes. */
bool ph_run_until(bool (*cond)(void *), void *arg, uint64_t timeout_ms);
void ph_run_for(uint64_t ms);

/* A node's two halves: its sessions and its route decision engine. */
struct ph_config {
	struct peer_mgr_config peer;
	struct rde_config rde;
};

/* The config every loopback node starts from: node n at 127.0.0.n (with
 * allow_loopback, the harness's switch: clear it to test what production
 * refuses), fast
 * keepalives (100 ms, hold 300 ms), short retries, 5 s restart time. No
 * subnet, seeds or claim wait: the caller adds what its case needs. */
void ph_config(struct ph_config *c, const uint8_t *id, unsigned n);
/* ph_config plus the explicit subnet 172.16.n.0/24, the seeds, and a
 * 500 ms claim wait should the caller drop subnet_explicit. */
void ph_config_node(struct ph_config *c, const uint8_t *id, unsigned n,
		    const struct endpoint *seeds, unsigned n_seeds);
/* rde_new + peer_mgr_new (asserted), not started: the rde's plans go to
 * ops (may be NULL). */
void ph_new(struct ph_config *c, const struct rde_ops *ops, void *arg, struct peer_mgr **mgr);
/* ph_new + peer_mgr_start. */
void ph_start(struct ph_config *c, const struct rde_ops *ops, void *arg, struct peer_mgr **mgr);
/* The rde of a node made by ph_new. */
struct rde *ph_rde(const struct peer_mgr *mgr);
/* peer_mgr_free and its rde (NULL-safe). */
void ph_free(struct peer_mgr *mgr);
/* The node's subnet, false while not claimed. */
bool ph_subnet(const struct peer_mgr *mgr, struct prefix *subnet);

struct endpoint ph_endpoint(const struct peer_mgr *mgr, uint32_t ip);
/* Established sessions; *outbound_of_first (if not NULL) says whether the
 * first of them was dialled by mgr. */
unsigned ph_established(const struct peer_mgr *mgr, bool *outbound_of_first);
const struct peer_info *ph_find_info(const struct peer_info *infos, unsigned n, const uint8_t *id);
bool ph_has_route(const struct peer_mgr *mgr, struct prefix dst, uint32_t gw);
unsigned ph_n_routes(const struct peer_mgr *mgr);

/* ---- a scripted remote (plain TCP) ---- */

/* Blocking connect to ep (either family), from the IPv4 source address
 * `from` (0: the kernel's choice), then switched to non-blocking. */
int ph_connect(struct endpoint ep, uint32_t from);
void ph_send_msg(int fd, const NsaPeer__Envelope *env);
/* A hello frame appended to out; ph_send_hello sends one on fd. */
void ph_put_hello(struct evbuffer *out, const uint8_t *id, uint32_t ip, uint16_t port,
		  uint32_t hold_ms);
void ph_send_hello(int fd, const uint8_t *id, uint32_t ip, uint16_t port, uint32_t hold_ms);
/* A non-blocking listener on ip, any port (*port gets it), for a scripted
 * remote that a peer_mgr dials; ph_accept runs the loop until a
 * connection arrives (asserted within DEADLINE_MS) and returns it,
 * non-blocking. */
int ph_listen(uint32_t ip, uint16_t *port);
int ph_accept(int listen_fd);
/* Runs the loop until one message arrives on fd (buffered in `in`) or the
 * connection ends (*eof; then MSG__NOT_SET), asserted within DEADLINE_MS. */
NsaPeer__Envelope__MsgCase ph_next_msg(int fd, struct evbuffer *in, bool *eof);
/* The same, the whole message (wire_free it); NULL at EOF. */
NsaPeer__Envelope *ph_next_envelope(int fd, struct evbuffer *in);

/* A scripted remote's session: a plain socket (bev NULL), or TLS with a
 * cluster key through the agent's own tls module (bev; what arrives is
 * read and dropped). */
struct ph_remote {
	int fd;
	struct bufferevent *bev;
	bool connected, closed;
};

/* A TLS session with the cluster key ctx to ep, from the address `from`,
 * its handshake complete (asserted within DEADLINE_MS). */
void ph_tls_open(struct ph_remote *r, struct tls_ctx *ctx, struct endpoint ep, uint32_t from);
void ph_remote_close(struct ph_remote *r);

#endif
