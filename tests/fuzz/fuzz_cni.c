/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the nsagent-cni plugin's reading of a runtime's input.
 * The first byte picks the CNI command, the rest is the network config on
 * stdin (with a valid CNI_* environment). Parsing must fail with a CNI
 * error code and a message, or succeed; a parsed ADD must format a result
 * (merged into any prevResult) and a parsed CHECK must compare against
 * any prevResult, without crashing, leaking or reading out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "nsagent/cni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const commands[] = {"ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"};
	struct cni_env env = {.container_id = "c0ffee",
			      .netns = "/run/netns/cni-1",
			      .ifname = "eth0",
			      .args = "IgnoreUnknown=1"};
	struct ctl_cni_reply reply = {.result = CTL_OK, .has_result = true};
	struct cni_invocation inv = {0};
	struct cni_error err;
	json_object *out = NULL;

	if (size == 0)
		return 0;
	env.command = commands[data[0] % 6];
	reply.cni.addr = 0xac100005;
	reply.cni.prefix_len = 24;
	reply.cni.gateway = 0xac100001;
	reply.cni.mtu = 1450;
	if (cni_parse(&env, (const char *)data + 1, size - 1, &inv, &err) < 0) {
		if (err.code <= 0 || !err.msg[0])
			abort(); /* every refusal has a code and a message */
		json_object_put(cni_error_json(inv.version, &err));
	} else if (inv.command == CNI_CMD_VERSION) {
		json_object_put(cni_version_json(&inv));
	} else if (cni_reply_outcome(&inv, &reply, &out, &err) == 0 && out) {
		if (!json_object_to_json_string(out))
			abort();
	}
	json_object_put(out);
	cni_invocation_clear(&inv);
	return 0;
}
