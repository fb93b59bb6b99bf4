/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The control socket: <run-dir>/CTL_SOCKET_NAME, a Unix stream socket
 * (mode 0600, directory 0700, peers must be root or the agent's own user)
 * carrying proto/ctl.proto Requests and Responses in frames (frame.h).
 *
 * The server runs on the daemon's event loop and calls the daemon back
 * through struct ctl_handlers; the client half is what `nsagent status`,
 * `nsagent ns` and `nsagent reload` use. Neither prints anything. */
#ifndef NSAGENT_CTL_H
#define NSAGENT_CTL_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nsagent/attach.h"
#include "nsagent/status.h"

#define CTL_SOCKET_NAME "nsagent.sock"
#define CTL_MAX_CLIENTS 16
/* A client that sends nothing for this long is dropped. */
#define CTL_IDLE_TIMEOUT_S 10
/* How long the client waits for an answer (a reload reconciles the kernel). */
#define CTL_CALL_TIMEOUT_MS 30000
#define CTL_MESSAGE_MAX 512

/* Same values as nsa_ctl.Result in proto/ctl.proto. */
enum ctl_result {
	CTL_OK = 1,
	CTL_BAD_REQUEST = 2,
	CTL_INVALID = 3,
	CTL_NOT_FOUND = 4,
	CTL_EXISTS = 5,
	CTL_FAILED = 6,
	CTL_INVALID_CONFIG = 7,
	CTL_NOT_READY = 8, /* the node has no subnet yet: try again later */
	CTL_FULL = 9,	   /* the node's subnet has no free address */
};

enum ctl_op {
	CTL_OP_STATUS,
	CTL_OP_NS_ADD,
	CTL_OP_NS_DEL,
	CTL_OP_RELOAD,
	CTL_OP_LEAVE,
	CTL_OP_ROTATE_KEY,
};

/* ---- CNI attachments (the nsagent-cni plugin; proto/ctl.proto CniRequest) ---- */

#define CTL_CNI_ID_MAX ATTACH_ID_MAX
#define CTL_CNI_NETNS_MAX ATTACH_NETNS_MAX

enum ctl_cni_command {
	CTL_CNI_ADD = 1,
	CTL_CNI_DEL = 2,
	CTL_CNI_CHECK = 3,
	CTL_CNI_GC = 4,
	CTL_CNI_STATUS = 5,
};

struct ctl_cni_key {
	char container_id[CTL_CNI_ID_MAX + 1];
	char ifname[IFNAMSIZ];
};

struct ctl_cni_request {
	enum ctl_cni_command command;
	struct ctl_cni_key key; /* ADD, DEL, CHECK */
	char netns[CTL_CNI_NETNS_MAX + 1];
	const struct ctl_cni_key *valid; /* GC: the attachments to keep */
	unsigned n_valid;
};

/* The attachment ADD made or CHECK found. */
struct ctl_cni_result {
	char ifname[IFNAMSIZ];
	uint8_t mac[6];
	unsigned mtu;
	char netns[CTL_CNI_NETNS_MAX + 1];
	uint32_t addr;
	unsigned prefix_len;
	uint32_t gateway; /* the bridge's address, the default route's next hop */
	/* Dual-stack: the IPv6 address (prefix length ADDR6_NODE_SUBNET_LEN)
	 * and the bridge's ::1; all zero without IPv6. */
	struct in6_addr addr6;
	struct in6_addr gateway6;
};

/* What is wrong with a container id, interface name or netns path from a
 * runtime, or NULL when it is fine. Both the plugin and the agent check. */
const char *ctl_cni_id_problem(const char *id);
const char *ctl_cni_ifname_problem(const char *ifname);
const char *ctl_cni_netns_problem(const char *path);

struct ctl_cni_reply {
	enum ctl_result result;
	char message[CTL_MESSAGE_MAX];
	bool has_result;
	struct ctl_cni_result cni;
};

/* One CNI request to the agent listening on socket_path, answered within
 * timeout_ms. Returns 0 when a reply arrived (whatever its result),
 * -ENOENT / -ECONNREFUSED when no agent listens there, -ETIMEDOUT, another
 * negative errno otherwise; err says what. (src/ctl_client.c: links only
 * framing and protobuf-c, for the plugin.) */
int ctl_cni_call(const char *socket_path, const struct ctl_cni_request *req, int timeout_ms,
		 struct ctl_cni_reply *reply, char *err, size_t err_size);

struct event_base;
struct ctl_server;

/* The daemon's side. Each handler fills msg (a sentence for the operator)
 * and returns the result; status fills st (already status_init'ed). leave
 * is called after its reply has been written, so the daemon may stop. */
struct ctl_handlers {
	void (*status)(void *arg, struct status *st);
	enum ctl_result (*ns_add)(void *arg, const char *name, char *msg, size_t size);
	enum ctl_result (*ns_del)(void *arg, const char *name, char *msg, size_t size);
	enum ctl_result (*reload)(void *arg, char *msg, size_t size);
	void (*leave)(void *arg);
	/* A new WireGuard key (`nsagent rotate-key`). */
	enum ctl_result (*rotate_key)(void *arg, char *msg, size_t size);
	/* req was validated (ids, names, paths); res is zeroed, filled for a
	 * successful ADD or CHECK. */
	enum ctl_result (*cni)(void *arg, const struct ctl_cni_request *req,
			       struct ctl_cni_result *res, char *msg, size_t size);
};

/* Creates run_dir (0700) when missing, refuses to start when another agent
 * answers on the socket (-EADDRINUSE), replaces a stale socket file, and
 * listens. err says what failed. */
int ctl_server_new(struct event_base *base, const char *run_dir,
		   const struct ctl_handlers *handlers, void *arg, struct ctl_server **out,
		   char *err, size_t err_size);
/* Closes every client and removes the socket file. */
void ctl_server_free(struct ctl_server *server);

struct ctl_reply {
	enum ctl_result result;
	char message[CTL_MESSAGE_MAX];
	bool has_status;
	struct status status; /* status_clear() it */
};

/* One request to the agent on run_dir. name is for CTL_OP_NS_*. Returns 0
 * when a reply arrived (whatever its result), -ENOENT / -ECONNREFUSED when
 * no agent listens there, another negative errno otherwise; err says what. */
int ctl_call(const char *run_dir, enum ctl_op op, const char *name, struct ctl_reply *reply,
	     char *err, size_t err_size);

#endif
