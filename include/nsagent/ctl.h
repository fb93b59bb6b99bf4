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

#include <stdbool.h>
#include <stddef.h>

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
};

enum ctl_op {
	CTL_OP_STATUS,
	CTL_OP_NS_ADD,
	CTL_OP_NS_DEL,
	CTL_OP_RELOAD,
	CTL_OP_LEAVE,
};

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
