/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The nsagent-cni plugin's logic: the CNI environment and network config
 * in, one control request to the agent, a CNI result or error out
 * (containernetworking/cni SPEC.md, versions 0.4.0, 1.0.0 and 1.1.0).
 *
 * The plugin is a thin client: the agent makes the veth, the address and
 * the route; this module only translates between a runtime's words and
 * the control protocol (ctl.h), so that all of it is testable without a
 * runtime, and agent/cni.c only reads, calls and prints.
 *
 * Error codes (the "code" of a CNI error result). 1-99 are the
 * specification's:
 *    1  incompatible cniVersion (not one of CNI_SUPPORTED_VERSIONS, or GC
 *       and STATUS with a config older than 1.1.0)
 *    2  unsupported field: "ipam" (the agent assigns addresses)
 *    3  CHECK: the agent has no such attachment
 *    4  a CNI_* environment variable is missing or invalid (msg names it),
 *       CNI_NETNS is not a network namespace (the agent looked), or it is
 *       the plugin's own (the host's) on ADD or CHECK
 *    5  stdin could not be read
 *    6  stdin is not one JSON object (malformed, empty, over 1 MiB)
 *    7  invalid network config (msg names the key)
 *   11  try again later: the agent cannot be reached (msg names the
 *       socket), did not answer in time, or has no subnet yet
 *   50  STATUS: the plugin cannot serve ADDs now (same causes as 11)
 * 100 and up are this plugin's (CNI_ERR_*): see enum cni_error_code. */
#ifndef NSAGENT_CNI_H
#define NSAGENT_CNI_H

#include <stdbool.h>
#include <stddef.h>

#include "nsagent/ctl.h"

struct json_object;

/* The control socket a config without "socket" uses: the agent's default
 * run directory (config.h) and socket name (ctl.h). */
#define CNI_DEFAULT_SOCKET CFG_DEFAULT_RUN_DIR "/" CTL_SOCKET_NAME
#define CNI_SUPPORTED_VERSIONS "0.4.0", "1.0.0", "1.1.0"
#define CNI_LATEST_VERSION "1.1.0"
/* Larger stdin is refused (code 6): a real network config is a few KiB. */
#define CNI_STDIN_MAX (1024 * 1024)
/* GC's valid list: 400 keys of the longest kind (128-character id,
 * 15-character ifname: about 150 bytes each encoded) fit the control
 * protocol's 64 KiB frame; a node holds at most a /24 of attachments. */
#define CNI_GC_VALID_MAX 400
/* How long the plugin waits for the agent. ADD, DEL, CHECK and GC make the
 * agent work on the kernel (a veth, addresses, routes, a state file):
 * well under a second normally, seconds on a loaded host; 20 s leaves room
 * and stays below runtimes' own deadlines. STATUS only reads. */
#define CNI_TIMEOUT_MS 20000
#define CNI_STATUS_TIMEOUT_MS 5000

enum cni_command {
	CNI_CMD_ADD,
	CNI_CMD_DEL,
	CNI_CMD_CHECK,
	CNI_CMD_GC,
	CNI_CMD_STATUS,
	CNI_CMD_VERSION,
};

enum cni_error_code {
	CNI_ERR_INCOMPATIBLE_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_AGAIN = 11,
	CNI_ERR_NOT_AVAILABLE = 50,
	/* The node's subnet has no free address (ADD). */
	CNI_ERR_SUBNET_FULL = 100,
	/* The agent tried and the kernel or its state file refused; msg
	 * carries the agent's words (ADD, DEL, GC). */
	CNI_ERR_AGENT_FAILED = 101,
	/* CHECK: the attachment is not as it should be, or not as the
	 * prevResult says; msg names what differs. */
	CNI_ERR_CHECK_FAILED = 102,
	/* ADD: this container id and ifname are attached in another netns. */
	CNI_ERR_ATTACHED_ELSEWHERE = 103,
	/* The agent does not serve CNI requests (older agent) or answered
	 * something the plugin cannot use. */
	CNI_ERR_AGENT_PROTOCOL = 104,
};

/* The CNI_* environment as the runtime set it (NULL = unset). */
struct cni_env {
	const char *command;	  /* CNI_COMMAND */
	const char *container_id; /* CNI_CONTAINERID */
	const char *netns;	  /* CNI_NETNS */
	const char *ifname;	  /* CNI_IFNAME */
	const char *args;	  /* CNI_ARGS */
	const char *path;	  /* CNI_PATH (unused: nothing is delegated) */
};

#define CNI_MSG_MAX 640

struct cni_error {
	int code; /* enum cni_error_code; 0 = no error */
	char msg[CNI_MSG_MAX];
	char details[CNI_MSG_MAX];
};

/* One invocation, parsed and validated. */
struct cni_invocation {
	enum cni_command command;
	/* The config's cniVersion (one of CNI_SUPPORTED_VERSIONS), or the
	 * latest until it is known: results and errors are written in it. */
	char version[16];
	char socket[108]; /* sizeof(sun_path) */
	struct ctl_cni_request req;
	struct ctl_cni_key *valid;	 /* GC: owned, req.valid points here */
	struct json_object *dns;	 /* the config's "dns", or NULL */
	struct json_object *prev_result; /* the config's "prevResult", or NULL */
};

/* Reads env and the stdin text (len bytes, not NUL-terminated) into inv.
 * Returns 0, or -EINVAL with err filled (inv->version says in which
 * version to report it); cni_invocation_clear() inv either way. VERSION
 * needs no valid config: it is answered from whatever stdin holds. */
int cni_parse(const struct cni_env *env, const char *in, size_t len, struct cni_invocation *inv,
	      struct cni_error *err);
void cni_invocation_clear(struct cni_invocation *inv);

/* The VERSION answer: {cniVersion, supportedVersions}. */
struct json_object *cni_version_json(const struct cni_invocation *inv);
/* The CNI error object {cniVersion, code, msg[, details]}. */
struct json_object *cni_error_json(const char *version, const struct cni_error *err);
/* ADD's result for this attachment in inv->version, merged into the
 * prevResult of a chain when there is one. */
struct json_object *cni_add_result_json(const struct cni_invocation *inv,
					const struct ctl_cni_result *res);

/* The agent's reply to inv's request as a CNI outcome: 0 with *out the
 * JSON to print (NULL = print nothing: DEL, CHECK, GC, STATUS), or
 * -EIO with err filled. */
int cni_reply_outcome(const struct cni_invocation *inv, const struct ctl_cni_reply *reply,
		      struct json_object **out, struct cni_error *err);
/* A failed ctl_cni_call (ret < 0, call_err its words) as a CNI error. */
void cni_call_error(const struct cni_invocation *inv, int ret, const char *call_err,
		    struct cni_error *err);

/* The whole plugin run: parse, refuse the host's own netns, ask the agent
 * on inv's socket (waiting at
 * most timeout_ms, or CNI_TIMEOUT_MS / CNI_STATUS_TIMEOUT_MS when 0), and
 * the JSON to print in *out (NULL: nothing). Returns 0 on success, or -1
 * when *out is a CNI error (the process exits 1). */
int cni_run(const struct cni_env *env, const char *in, size_t len, int timeout_ms,
	    struct json_object **out);

#endif
