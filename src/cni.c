/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the nsagent-cni plugin's logic (include/nsagent/cni.h).
 *
 * A runtime runs the plugin once per container operation with CNI_*
 * variables and a network config on stdin. This module checks them in the
 * order the reference plugins do (command, stdin as JSON, cniVersion, the
 * environment, then the config's keys), so a runtime sees the same error
 * for the same mistake, turns them into one control request, and turns the
 * agent's reply into the CNI result or error JSON of the config's version.
 *
 * Invariants: nothing here prints or exits; every error names what was
 * wrong (the variable, the config key, the socket) because a runtime shows
 * the message and nothing else; input strings reach messages only
 * truncated, and reach the agent only after the same checks the agent
 * makes (ctl_cni_*_problem). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "nsagent/cni.h"

/* How much of an outside string a message quotes. */
#define QUOTE_MAX 80

static const char *const supported_versions[] = {CNI_SUPPORTED_VERSIONS};
#define N_SUPPORTED (sizeof(supported_versions) / sizeof(supported_versions[0]))

static const struct {
	const char *name;
	enum cni_command command;
	enum ctl_cni_command request; /* 0: answered by the plugin alone */
} commands[] = {
    {"ADD", CNI_CMD_ADD, CTL_CNI_ADD},		{"DEL", CNI_CMD_DEL, CTL_CNI_DEL},
    {"CHECK", CNI_CMD_CHECK, CTL_CNI_CHECK},	{"GC", CNI_CMD_GC, CTL_CNI_GC},
    {"STATUS", CNI_CMD_STATUS, CTL_CNI_STATUS}, {"VERSION", CNI_CMD_VERSION, 0},
};

static void fail(struct cni_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct cni_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->details[0] = '\0';
}

static void set_details(struct cni_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_details(struct cni_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->details, sizeof(err->details), fmt, ap);
	va_end(ap);
}

void cni_invocation_clear(struct cni_invocation *inv)
{
	free(inv->valid);
	json_object_put(inv->dns);
	json_object_put(inv->prev_result);
	memset(inv, 0, sizeof(*inv));
	snprintf(inv->version, sizeof(inv->version), "%s", CNI_LATEST_VERSION);
}

/* "0.4.0, 1.0.0, 1.1.0", for messages. */
static const char *supported_list(void)
{
	static char list[64];

	if (!list[0])
		for (size_t i = 0; i < N_SUPPORTED; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 i ? ", " : "", supported_versions[i]);
	return list;
}

static bool version_supported(const char *version)
{
	for (size_t i = 0; i < N_SUPPORTED; i++)
		if (strcmp(version, supported_versions[i]) == 0)
			return true;
	return false;
}

static const char *command_name(enum cni_command command)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].command == command)
			return commands[i].name;
	return "?";
}

/* A JSON value's type as a message says it: "not a number". */
static const char *a_type(json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_int:
	case json_type_double:
		return "a number";
	case json_type_string:
		return "a string";
	case json_type_array:
		return "a list";
	case json_type_object:
		return "an object";
	}
	return "unknown";
}

static bool all_space(const char *in, size_t from, size_t len)
{
	for (size_t i = from; i < len; i++)
		if (!strchr(" \t\r\n", in[i]) || !in[i])
			return false;
	return true;
}

/* The whole of in as one JSON object, strictly (RFC 8259): trailing text
 * after the object is as wrong as a truncated one. */
static int decode(const char *in, size_t len, json_object **out, struct cni_error *err)
{
	json_tokener *tok = json_tokener_new();
	json_object *obj = NULL;
	enum json_tokener_error jerr;
	size_t end;

	*out = NULL;
	if (all_space(in, 0, len)) {
		fail(err, CNI_ERR_DECODE, "no network config on stdin (expected a JSON object)");
		json_tokener_free(tok);
		return -EINVAL;
	}
	if (!tok) {
		fail(err, CNI_ERR_IO, "out of memory reading the network config");
		return -ENOMEM;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, in, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_continue) {
		fail(err, CNI_ERR_DECODE,
		     "the network config on stdin is not valid JSON: it ends early (%zu bytes)",
		     len);
		goto bad;
	}
	if (!obj) {
		fail(err, CNI_ERR_DECODE,
		     "the network config on stdin is not valid JSON: %s at byte %zu",
		     json_tokener_error_desc(jerr), end);
		goto bad;
	}
	if (!all_space(in, end, len)) {
		fail(err, CNI_ERR_DECODE,
		     "the network config on stdin is not valid JSON: text after the object at "
		     "byte %zu",
		     end);
		goto bad;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		fail(err, CNI_ERR_DECODE,
		     "the network config on stdin is JSON but not an object (it is %s)",
		     a_type(obj));
		goto bad;
	}
	*out = obj;
	return 0;
bad:
	json_object_put(obj);
	return -EINVAL;
}

/* A config key's value as a string: -ENOENT when absent (and not
 * required), -EINVAL with err filled when wrong. where names the key as a
 * person would look for it ("dns.domain"). */
static int get_string(json_object *obj, const char *key, const char *where, bool required,
		      const char **out, struct cni_error *err)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null)) {
		if (!required)
			return -ENOENT;
		fail(err, CNI_ERR_INVALID_CONFIG, "network config key \"%s\" is missing", where);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		fail(err, CNI_ERR_INVALID_CONFIG,
		     "network config key \"%s\" must be a string, not %s", where, a_type(v));
		return -EINVAL;
	}
	*out = json_object_get_string(v);
	return 0;
}

static int check_version(json_object *conf, struct cni_invocation *inv, struct cni_error *err)
{
	const char *version;
	int ret = get_string(conf, "cniVersion", "cniVersion", true, &version, err);

	if (ret < 0)
		return ret;
	if (!version_supported(version)) {
		fail(err, CNI_ERR_INCOMPATIBLE_VERSION,
		     "cniVersion \"%.*s\" is not supported by nsagent (supported: %s)", QUOTE_MAX,
		     version, supported_list());
		return -EINVAL;
	}
	snprintf(inv->version, sizeof(inv->version), "%s", version);
	/* STATUS and GC came with 1.1.0 (the reference plugins refuse them
	 * from an older config in the same words). */
	if ((inv->command == CNI_CMD_GC || inv->command == CNI_CMD_STATUS) &&
	    strcmp(version, "1.1.0") != 0) {
		fail(err, CNI_ERR_INCOMPATIBLE_VERSION,
		     "config version %s does not allow %s (it needs cniVersion 1.1.0)", version,
		     command_name(inv->command));
		return -EINVAL;
	}
	return 0;
}

/* CNI_ARGS: "KEY=VALUE;KEY=VALUE". nsagent takes no arguments, and
 * ignores every key (runtimes pass IgnoreUnknown, K8S_POD_NAME...), but a
 * malformed list says the runtime is broken. */
static const char *args_problem(const char *args)
{
	const char *p = args;

	if (!*args)
		return NULL;
	for (;;) {
		size_t len = strcspn(p, ";");
		const char *eq = memchr(p, '=', len);

		if (!eq || eq == p)
			return "is not a list of KEY=VALUE pairs separated by ';'";
		if (!p[len])
			return NULL;
		p += len + 1;
	}
}

static int take_env(const struct cni_env *env, struct cni_invocation *inv, struct cni_error *err)
{
	enum cni_command c = inv->command;
	bool attach = c == CNI_CMD_ADD || c == CNI_CMD_DEL || c == CNI_CMD_CHECK;
	bool need_netns = c == CNI_CMD_ADD || c == CNI_CMD_CHECK;
	const char *id = env->container_id, *ifname = env->ifname, *netns = env->netns;
	const char *problem;
	char missing[128] = "";

	if (!attach)
		return 0;
	if (!id || !*id)
		strcat(missing, ", CNI_CONTAINERID");
	if (need_netns && (!netns || !*netns))
		strcat(missing, ", CNI_NETNS");
	if (!ifname || !*ifname)
		strcat(missing, ", CNI_IFNAME");
	if (missing[0]) {
		fail(err, CNI_ERR_INVALID_ENV,
		     "%s needs the environment variables %s (unset or empty)", command_name(c),
		     missing + 2);
		return -EINVAL;
	}
	if ((problem = ctl_cni_id_problem(id))) {
		fail(err, CNI_ERR_INVALID_ENV, "CNI_CONTAINERID '%.*s' %s", QUOTE_MAX, id, problem);
		return -EINVAL;
	}
	if ((problem = ctl_cni_ifname_problem(ifname))) {
		fail(err, CNI_ERR_INVALID_ENV, "CNI_IFNAME '%.*s' %s", QUOTE_MAX, ifname, problem);
		return -EINVAL;
	}
	/* DEL may come after the runtime removed the namespace. */
	if (netns && *netns && (problem = ctl_cni_netns_problem(netns))) {
		fail(err, CNI_ERR_INVALID_ENV, "CNI_NETNS '%.*s' %s", QUOTE_MAX, netns, problem);
		return -EINVAL;
	}
	if (env->args && (problem = args_problem(env->args))) {
		fail(err, CNI_ERR_INVALID_ENV, "CNI_ARGS '%.*s' %s", QUOTE_MAX, env->args, problem);
		return -EINVAL;
	}
	snprintf(inv->req.key.container_id, sizeof(inv->req.key.container_id), "%s", id);
	snprintf(inv->req.key.ifname, sizeof(inv->req.key.ifname), "%s", ifname);
	snprintf(inv->req.netns, sizeof(inv->req.netns), "%s", netns ? netns : "");
	return 0;
}

/* A list of strings under dns: copied into out (a new array). */
static int dns_list(json_object *dns, const char *key, bool addresses, json_object *out,
		    struct cni_error *err)
{
	json_object *list;
	size_t n;

	if (!json_object_object_get_ex(dns, key, &list) ||
	    json_object_is_type(list, json_type_null))
		return -ENOENT;
	if (!json_object_is_type(list, json_type_array)) {
		fail(err, CNI_ERR_INVALID_CONFIG,
		     "network config key \"dns.%s\" must be a list of strings, not %s", key,
		     a_type(list));
		return -EINVAL;
	}
	n = json_object_array_length(list);
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(list, i);
		const char *s = json_object_get_string(v);
		unsigned char buf[sizeof(struct in6_addr)];

		if (!json_object_is_type(v, json_type_string)) {
			fail(err, CNI_ERR_INVALID_CONFIG,
			     "network config key \"dns.%s[%zu]\" must be a string, not %s", key, i,
			     a_type(v));
			return -EINVAL;
		}
		if (addresses && inet_pton(AF_INET, s, buf) != 1 &&
		    inet_pton(AF_INET6, s, buf) != 1) {
			fail(err, CNI_ERR_INVALID_CONFIG,
			     "network config key \"dns.%s[%zu]\" is '%.*s', not an IPv4 or IPv6 "
			     "address",
			     key, i, QUOTE_MAX, s);
			return -EINVAL;
		}
		json_object_array_add(out, json_object_new_string(s));
	}
	return 0;
}

/* "dns": checked, and kept as a fresh object holding only the keys the
 * specification defines (what a result may carry). */
static int take_dns(json_object *conf, struct cni_invocation *inv, struct cni_error *err)
{
	static const struct {
		const char *key;
		bool addresses;
	} lists[] = {{"nameservers", true}, {"search", false}, {"options", false}};
	json_object *dns, *out;
	const char *domain;
	int ret;

	if (!json_object_object_get_ex(conf, "dns", &dns) ||
	    json_object_is_type(dns, json_type_null))
		return 0;
	if (!json_object_is_type(dns, json_type_object)) {
		fail(err, CNI_ERR_INVALID_CONFIG,
		     "network config key \"dns\" must be an object, not %s", a_type(dns));
		return -EINVAL;
	}
	out = json_object_new_object();
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		json_object *list = json_object_new_array();

		ret = dns_list(dns, lists[i].key, lists[i].addresses, list, err);
		if (ret == 0)
			json_object_object_add(out, lists[i].key, list);
		else
			json_object_put(list);
		if (ret == -EINVAL)
			goto bad;
	}
	ret = get_string(dns, "domain", "dns.domain", false, &domain, err);
	if (ret == -EINVAL)
		goto bad;
	if (ret == 0)
		json_object_object_add(out, "domain", json_object_new_string(domain));
	inv->dns = out;
	return 0;
bad:
	json_object_put(out);
	return -EINVAL;
}

#define VALID_KEY "cni.dev/valid-attachments"

/* One field of entry i of the GC list, checked as the agent checks it. */
static int valid_field(json_object *entry, size_t i, const char *field,
		       const char *(*problem_of)(const char *), const char **out,
		       struct cni_error *err)
{
	const char *problem;
	char where[64];

	snprintf(where, sizeof(where), VALID_KEY "[%zu].%s", i, field);
	if (get_string(entry, field, where, true, out, err) < 0)
		return -EINVAL;
	if ((problem = problem_of(*out))) {
		fail(err, CNI_ERR_INVALID_CONFIG, "network config key \"%s\" ('%.*s') %s", where,
		     QUOTE_MAX, *out, problem);
		return -EINVAL;
	}
	return 0;
}

/* "cni.dev/valid-attachments" of a GC: the attachments to keep. */
static int take_valid(json_object *conf, struct cni_invocation *inv, struct cni_error *err)
{
	static const char key[] = VALID_KEY;
	json_object *list;
	size_t n;

	/* Absent is not "keep nothing": that would remove every container. */
	if (!json_object_object_get_ex(conf, key, &list)) {
		fail(err, CNI_ERR_INVALID_CONFIG,
		     "network config key \"%s\" is missing (GC needs the list of attachments "
		     "to keep)",
		     key);
		return -EINVAL;
	}
	if (!json_object_is_type(list, json_type_array)) {
		fail(err, CNI_ERR_INVALID_CONFIG,
		     "network config key \"%s\" must be a list, not %s", key, a_type(list));
		return -EINVAL;
	}
	n = json_object_array_length(list);
	if (n > CNI_GC_VALID_MAX) {
		fail(err, CNI_ERR_INVALID_CONFIG,
		     "network config key \"%s\" lists %zu attachments (nsagent takes at most %d)",
		     key, n, CNI_GC_VALID_MAX);
		return -EINVAL;
	}
	inv->valid = calloc(n + 1, sizeof(*inv->valid));
	if (!inv->valid) {
		fail(err, CNI_ERR_IO, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *entry = json_object_array_get_idx(list, i);
		const char *id, *ifname;

		if (!json_object_is_type(entry, json_type_object)) {
			fail(err, CNI_ERR_INVALID_CONFIG,
			     "network config key \"%s[%zu]\" must be an object, not %s", key, i,
			     a_type(entry));
			return -EINVAL;
		}
		if (valid_field(entry, i, "containerID", ctl_cni_id_problem, &id, err) < 0 ||
		    valid_field(entry, i, "ifname", ctl_cni_ifname_problem, &ifname, err) < 0)
			return -EINVAL;
		snprintf(inv->valid[i].container_id, sizeof(inv->valid[i].container_id), "%s", id);
		snprintf(inv->valid[i].ifname, sizeof(inv->valid[i].ifname), "%s", ifname);
	}
	inv->req.valid = inv->valid;
	inv->req.n_valid = (unsigned)n;
	return 0;
}

static int take_config(json_object *conf, struct cni_invocation *inv, struct cni_error *err)
{
	const char *name, *type, *socket, *problem;
	json_object *v;
	int ret;

	if (get_string(conf, "name", "name", true, &name, err) < 0 ||
	    get_string(conf, "type", "type", true, &type, err) < 0)
		return -EINVAL;
	/* The specification's rule for network names (that of container ids). */
	if ((problem = ctl_cni_id_problem(name))) {
		fail(err, CNI_ERR_INVALID_CONFIG, "network config key \"name\" ('%.*s') %s",
		     QUOTE_MAX, name, problem);
		return -EINVAL;
	}
	ret = get_string(conf, "socket", "socket", false, &socket, err);
	if (ret == -EINVAL)
		return ret;
	if (ret == -ENOENT)
		socket = CNI_DEFAULT_SOCKET;
	if (socket[0] != '/' || strlen(socket) >= sizeof(inv->socket)) {
		fail(err, CNI_ERR_INVALID_CONFIG,
		     "network config key \"socket\" ('%.*s') must be an absolute path of at most "
		     "%zu bytes",
		     QUOTE_MAX, socket, sizeof(inv->socket) - 1);
		return -EINVAL;
	}
	snprintf(inv->socket, sizeof(inv->socket), "%s", socket);
	/* An "ipam" section would be silently ignored: the agent hands out
	 * addresses from the node's subnet, the same allocator as its own
	 * namespaces, so that no address is ever given twice. */
	if (json_object_object_get_ex(conf, "ipam", &v)) {
		fail(err, CNI_ERR_UNSUPPORTED_FIELD,
		     "unsupported field \"ipam\": %.*s (nsagent assigns addresses from the node's "
		     "subnet: remove \"ipam\")",
		     QUOTE_MAX, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		return -EINVAL;
	}
	if ((ret = take_dns(conf, inv, err)) < 0)
		return ret;
	if (json_object_object_get_ex(conf, "prevResult", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_object)) {
			fail(err, CNI_ERR_INVALID_CONFIG,
			     "network config key \"prevResult\" must be an object, not %s",
			     a_type(v));
			return -EINVAL;
		}
		inv->prev_result = json_object_get(v);
	}
	if (inv->command == CNI_CMD_GC)
		return take_valid(conf, inv, err);
	return 0;
}

static int parse_command(const char *name, struct cni_invocation *inv, struct cni_error *err)
{
	if (!name || !*name) {
		fail(err, CNI_ERR_INVALID_ENV,
		     "CNI_COMMAND is not set (nsagent-cni is a CNI plugin: a container runtime "
		     "runs it)");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(name, commands[i].name) == 0) {
			inv->command = commands[i].command;
			inv->req.command = commands[i].request;
			return 0;
		}
	}
	fail(err, CNI_ERR_INVALID_ENV,
	     "CNI_COMMAND '%.*s' is not one of ADD, DEL, CHECK, GC, STATUS, VERSION", QUOTE_MAX,
	     name);
	return -EINVAL;
}

int cni_parse(const struct cni_env *env, const char *in, size_t len, struct cni_invocation *inv,
	      struct cni_error *err)
{
	json_object *conf = NULL;
	int ret;

	cni_invocation_clear(inv);
	memset(err, 0, sizeof(*err));
	if ((ret = parse_command(env->command, inv, err)) < 0)
		return ret;
	if (inv->command == CNI_CMD_VERSION) {
		const char *version;

		/* Answered whatever stdin holds: it is how a runtime probes. */
		if (decode(in, len, &conf, err) == 0 &&
		    get_string(conf, "cniVersion", "cniVersion", true, &version, err) == 0)
			snprintf(inv->version, sizeof(inv->version), "%.*s",
				 (int)sizeof(inv->version) - 1, version);
		memset(err, 0, sizeof(*err));
		json_object_put(conf);
		return 0;
	}
	if (len > CNI_STDIN_MAX) {
		fail(err, CNI_ERR_DECODE, "the network config on stdin is over %d bytes",
		     CNI_STDIN_MAX);
		return -EINVAL;
	}
	if ((ret = decode(in, len, &conf, err)) < 0)
		goto out;
	if ((ret = check_version(conf, inv, err)) < 0 || (ret = take_env(env, inv, err)) < 0 ||
	    (ret = take_config(conf, inv, err)) < 0)
		goto out;
out:
	json_object_put(conf);
	return ret < 0 ? -EINVAL : 0;
}

/* ---- results ---- */

json_object *cni_version_json(const struct cni_invocation *inv)
{
	json_object *root = json_object_new_object(), *list = json_object_new_array();

	json_object_object_add(root, "cniVersion", json_object_new_string(inv->version));
	for (size_t i = 0; i < N_SUPPORTED; i++)
		json_object_array_add(list, json_object_new_string(supported_versions[i]));
	json_object_object_add(root, "supportedVersions", list);
	return root;
}

json_object *cni_error_json(const char *version, const struct cni_error *err)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "cniVersion", json_object_new_string(version));
	json_object_object_add(root, "code", json_object_new_int(err->code));
	json_object_object_add(root, "msg", json_object_new_string(err->msg));
	if (err->details[0])
		json_object_object_add(root, "details", json_object_new_string(err->details));
	return root;
}

static const char *ipv4(uint32_t addr, char *buf)
{
	struct in_addr a = {.s_addr = htonl(addr)};

	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static void format_mac(const uint8_t mac[6], char *buf, size_t size)
{
	snprintf(buf, size, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

static void format_cidr(const struct ctl_cni_result *res, char *buf, size_t size)
{
	char a[INET_ADDRSTRLEN];

	snprintf(buf, size, "%s/%u", ipv4(res->addr, a), res->prefix_len);
}

/* The array under key in obj, made when missing (a prevResult may lack
 * routes; a wrong type is replaced: the result's shape is ours to keep). */
static json_object *array_of(json_object *obj, const char *key)
{
	json_object *list;

	if (json_object_object_get_ex(obj, key, &list) &&
	    json_object_is_type(list, json_type_array))
		return list;
	list = json_object_new_array();
	json_object_object_add(obj, key, list);
	return list;
}

/* "addr6/64", or "" for an IPv4-only result. */
static void format_cidr6(const struct ctl_cni_result *res, char *buf, size_t size)
{
	char a6[ADDR6_STRLEN];

	if (addr6_is_zero(&res->addr6))
		buf[0] = '\0';
	else
		snprintf(buf, size, "%s/%u", addr6_format(&res->addr6, a6), ADDR6_NODE_SUBNET_LEN);
}

/* A dual-stack attachment's IPv6 address (on the same interface, index)
 * and default route via the bridge's ::1, after the IPv4 ones. */
static void add_ipv6(json_object *root, const struct ctl_cni_result *res, size_t index, bool v04)
{
	char cidr6[PREFIX6_STRLEN], gw6[ADDR6_STRLEN];
	json_object *ip, *route;

	format_cidr6(res, cidr6, sizeof(cidr6));
	addr6_format(&res->gateway6, gw6);
	ip = json_object_new_object();
	if (v04)
		json_object_object_add(ip, "version", json_object_new_string("6"));
	json_object_object_add(ip, "address", json_object_new_string(cidr6));
	json_object_object_add(ip, "gateway", json_object_new_string(gw6));
	json_object_object_add(ip, "interface", json_object_new_int64((int64_t)index));
	json_object_array_add(array_of(root, "ips"), ip);

	route = json_object_new_object();
	json_object_object_add(route, "dst", json_object_new_string("::/0"));
	json_object_object_add(route, "gw", json_object_new_string(gw6));
	json_object_array_add(array_of(root, "routes"), route);
}

json_object *cni_add_result_json(const struct cni_invocation *inv, const struct ctl_cni_result *res)
{
	bool v04 = strcmp(inv->version, "0.4.0") == 0;
	json_object *root, *iface, *ip, *route, *interfaces;
	char mac[18], cidr[INET_ADDRSTRLEN + 4], gw[INET_ADDRSTRLEN];
	size_t index;

	/* A chained plugin's result carries the chain's so far. */
	root = NULL;
	if (!inv->prev_result || json_object_deep_copy(inv->prev_result, &root, NULL) < 0) {
		json_object_put(root);
		root = json_object_new_object();
	}
	json_object_object_add(root, "cniVersion", json_object_new_string(inv->version));
	interfaces = array_of(root, "interfaces");
	index = json_object_array_length(interfaces);

	format_mac(res->mac, mac, sizeof(mac));
	iface = json_object_new_object();
	json_object_object_add(iface, "name", json_object_new_string(inv->req.key.ifname));
	json_object_object_add(iface, "mac", json_object_new_string(mac));
	/* "mtu" of an interface is new in 1.1.0. */
	if (strcmp(inv->version, "1.1.0") == 0 && res->mtu)
		json_object_object_add(iface, "mtu", json_object_new_int64(res->mtu));
	json_object_object_add(iface, "sandbox", json_object_new_string(inv->req.netns));
	json_object_array_add(interfaces, iface);

	format_cidr(res, cidr, sizeof(cidr));
	ipv4(res->gateway, gw);
	ip = json_object_new_object();
	if (v04)
		json_object_object_add(ip, "version", json_object_new_string("4"));
	json_object_object_add(ip, "address", json_object_new_string(cidr));
	json_object_object_add(ip, "gateway", json_object_new_string(gw));
	json_object_object_add(ip, "interface", json_object_new_int64((int64_t)index));
	json_object_array_add(array_of(root, "ips"), ip);

	route = json_object_new_object();
	json_object_object_add(route, "dst", json_object_new_string("0.0.0.0/0"));
	json_object_object_add(route, "gw", json_object_new_string(gw));
	json_object_array_add(array_of(root, "routes"), route);
	if (!addr6_is_zero(&res->addr6))
		add_ipv6(root, res, index, v04);

	/* An earlier plugin's DNS stands; ours fills in when there is none. */
	if (inv->dns && !json_object_object_get_ex(root, "dns", NULL))
		json_object_object_add(root, "dns", json_object_get(inv->dns));
	return root;
}

static const char *string_at(json_object *obj, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* CHECK against the ADD's result the runtime kept: this attachment's
 * interface (by name and sandbox), its MAC and its address there must be
 * what the agent has now. */
static int check_prev_result(const struct cni_invocation *inv, const struct ctl_cni_result *res,
			     struct cni_error *err)
{
	json_object *interfaces, *ips;
	const char *ifname = inv->req.key.ifname, *netns = inv->req.netns, *other = NULL;
	char mac[18], cidr[INET_ADDRSTRLEN + 4], cidr6[PREFIX6_STRLEN];
	bool found = false;
	size_t n;
	int64_t index = -1;

	format_mac(res->mac, mac, sizeof(mac));
	format_cidr(res, cidr, sizeof(cidr));
	if (json_object_object_get_ex(inv->prev_result, "interfaces", &interfaces) &&
	    json_object_is_type(interfaces, json_type_array)) {
		n = json_object_array_length(interfaces);
		for (size_t i = 0; i < n && index < 0; i++) {
			json_object *e = json_object_array_get_idx(interfaces, i);
			const char *name = string_at(e, "name"), *sandbox = string_at(e, "sandbox");

			if (name && strcmp(name, ifname) == 0 && sandbox &&
			    strcmp(sandbox, netns) == 0)
				index = (int64_t)i;
		}
	}
	if (index < 0) {
		fail(err, CNI_ERR_CHECK_FAILED,
		     "prevResult lists no interface %s in %s: it is not the result of this "
		     "attachment's ADD",
		     ifname, netns);
		return -EINVAL;
	}
	other = string_at(json_object_array_get_idx(interfaces, (size_t)index), "mac");
	if (other && strcasecmp(other, mac) != 0) {
		fail(err, CNI_ERR_CHECK_FAILED, "%s in %s has MAC %s, but prevResult says %.*s",
		     ifname, netns, mac, QUOTE_MAX, other);
		return -EINVAL;
	}
	other = NULL;
	format_cidr6(res, cidr6, sizeof(cidr6));
	if (json_object_object_get_ex(inv->prev_result, "ips", &ips) &&
	    json_object_is_type(ips, json_type_array)) {
		n = json_object_array_length(ips);
		for (size_t i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(ips, i), *at;
			const char *address = string_at(e, "address");

			if (!address || !json_object_object_get_ex(e, "interface", &at) ||
			    json_object_get_int64(at) != index)
				continue;
			/* An IPv6 entry is checked against the IPv6 address (a
			 * result from before the node had IPv6 has none, and
			 * that is no mismatch); the IPv4 one must be there. */
			if (strchr(address, ':')) {
				if (cidr6[0] && strcmp(address, cidr6) != 0) {
					fail(err, CNI_ERR_CHECK_FAILED,
					     "%s in %s has address %s, but prevResult says %.*s",
					     ifname, netns, cidr6, QUOTE_MAX, address);
					return -EINVAL;
				}
				continue;
			}
			if (strcmp(address, cidr) == 0)
				found = true;
			else
				other = address;
		}
	}
	if (found)
		return 0;
	if (other)
		fail(err, CNI_ERR_CHECK_FAILED, "%s in %s has address %s, but prevResult says %.*s",
		     ifname, netns, cidr, QUOTE_MAX, other);
	else
		fail(err, CNI_ERR_CHECK_FAILED,
		     "prevResult lists no address for %s in %s (the agent gave it %s)", ifname,
		     netns, cidr);
	return -EINVAL;
}

/* A reply other than CTL_OK, as the CNI error a runtime can act on. */
static void reply_error(const struct cni_invocation *inv, const struct ctl_cni_reply *reply,
			struct cni_error *err)
{
	const char *say = reply->message[0] ? reply->message : "(no message)";
	enum cni_command c = inv->command;

	/* STATUS asks one thing: can an ADD be served now. */
	if (c == CNI_CMD_STATUS) {
		fail(err, CNI_ERR_NOT_AVAILABLE, "the nsagent agent on %s cannot serve ADDs: %s",
		     inv->socket, say);
		return;
	}
	switch (reply->result) {
	case CTL_NOT_READY:
		fail(err, CNI_ERR_TRY_AGAIN, "the nsagent agent on %s is not ready: %s",
		     inv->socket, say);
		return;
	case CTL_FULL:
		fail(err, CNI_ERR_SUBNET_FULL, "no free address for %s/%s: %s",
		     inv->req.key.container_id, inv->req.key.ifname, say);
		set_details(err, "remove containers or namespaces on this node to free addresses");
		return;
	case CTL_NOT_FOUND:
		if (c == CNI_CMD_CHECK) {
			fail(err, CNI_ERR_UNKNOWN_CONTAINER,
			     "the nsagent agent has no attachment %s/%s: %s",
			     inv->req.key.container_id, inv->req.key.ifname, say);
			return;
		}
		fail(err, CNI_ERR_INVALID_ENV, "CNI_NETNS '%s' is not a network namespace: %s",
		     inv->req.netns, say);
		return;
	case CTL_EXISTS:
		fail(err, CNI_ERR_ATTACHED_ELSEWHERE, "%s/%s is attached in another netns: %s",
		     inv->req.key.container_id, inv->req.key.ifname, say);
		return;
	case CTL_INVALID:
		fail(err, c == CNI_CMD_GC ? CNI_ERR_INVALID_CONFIG : CNI_ERR_INVALID_ENV,
		     "the nsagent agent refused the %s: %s", command_name(c), say);
		return;
	case CTL_BAD_REQUEST:
		fail(err, CNI_ERR_AGENT_PROTOCOL,
		     "the nsagent agent on %s does not serve CNI requests: %s", inv->socket, say);
		set_details(err, "the agent may be older than this plugin: upgrade it");
		return;
	case CTL_FAILED:
		if (c == CNI_CMD_GC)
			fail(err, CNI_ERR_AGENT_FAILED, "GC failed: %s", say);
		else
			fail(err, c == CNI_CMD_CHECK ? CNI_ERR_CHECK_FAILED : CNI_ERR_AGENT_FAILED,
			     "%s of %s/%s failed: %s", command_name(c), inv->req.key.container_id,
			     inv->req.key.ifname, say);
		return;
	default:
		fail(err, CNI_ERR_AGENT_PROTOCOL,
		     "the nsagent agent on %s answered the %s with result %d: %s", inv->socket,
		     command_name(c), (int)reply->result, say);
		return;
	}
}

int cni_reply_outcome(const struct cni_invocation *inv, const struct ctl_cni_reply *reply,
		      json_object **out, struct cni_error *err)
{
	bool needs_result = inv->command == CNI_CMD_ADD || inv->command == CNI_CMD_CHECK;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	if (reply->result != CTL_OK) {
		reply_error(inv, reply, err);
		return -EIO;
	}
	if (needs_result && !reply->has_result) {
		fail(err, CNI_ERR_AGENT_PROTOCOL,
		     "the nsagent agent on %s accepted the %s but sent no attachment", inv->socket,
		     command_name(inv->command));
		return -EIO;
	}
	if (inv->command == CNI_CMD_CHECK)
		return inv->prev_result && check_prev_result(inv, &reply->cni, err) < 0 ? -EIO : 0;
	if (inv->command == CNI_CMD_ADD)
		*out = cni_add_result_json(inv, &reply->cni);
	return 0;
}

void cni_call_error(const struct cni_invocation *inv, int ret, const char *call_err,
		    struct cni_error *err)
{
	int code = inv->command == CNI_CMD_STATUS ? CNI_ERR_NOT_AVAILABLE : CNI_ERR_TRY_AGAIN;

	if (ret == -ETIMEDOUT)
		fail(err, code, "the nsagent agent on %s did not answer the %s in time",
		     inv->socket, command_name(inv->command));
	else
		fail(err, code, "the nsagent agent is not running or cannot be reached on %s",
		     inv->socket);
	set_details(err,
		    "%s; is nsagent running (systemctl status nsagent)? A config's "
		    "\"socket\" names another socket",
		    call_err);
}

/* ADD or CHECK on the namespace the plugin runs in (the host's, for a
 * runtime) would put the container's interface on the host: refused before
 * the agent is asked, as the reference plugins refuse it. */
static int own_netns_problem(const struct cni_invocation *inv, struct cni_error *err)
{
	struct stat given, own;

	if (inv->command != CNI_CMD_ADD && inv->command != CNI_CMD_CHECK)
		return 0;
	/* A path that is not there is the agent's to report (code 4). */
	if (stat(inv->req.netns, &given) < 0 || stat("/proc/self/ns/net", &own) < 0)
		return 0;
	if (given.st_dev == own.st_dev && given.st_ino == own.st_ino) {
		fail(err, CNI_ERR_INVALID_ENV,
		     "CNI_NETNS '%s' is the network namespace the plugin runs in (the host's), "
		     "not a container's",
		     inv->req.netns);
		return -EINVAL;
	}
	return 0;
}

int cni_run(const struct cni_env *env, const char *in, size_t len, int timeout_ms,
	    json_object **out)
{
	struct cni_invocation inv = {0};
	struct ctl_cni_reply reply;
	struct cni_error err;
	char call_err[CNI_MSG_MAX] = "";
	int ret;

	*out = NULL;
	if (cni_parse(env, in, len, &inv, &err) < 0)
		goto failed;
	if (inv.command == CNI_CMD_VERSION) {
		*out = cni_version_json(&inv);
		cni_invocation_clear(&inv);
		return 0;
	}
	if (own_netns_problem(&inv, &err) < 0)
		goto failed;
	if (timeout_ms <= 0)
		timeout_ms = inv.command == CNI_CMD_STATUS ? CNI_STATUS_TIMEOUT_MS : CNI_TIMEOUT_MS;
	ret = ctl_cni_call(inv.socket, &inv.req, timeout_ms, &reply, call_err, sizeof(call_err));
	if (ret < 0) {
		cni_call_error(&inv, ret, call_err, &err);
		goto failed;
	}
	if (cni_reply_outcome(&inv, &reply, out, &err) < 0)
		goto failed;
	cni_invocation_clear(&inv);
	return 0;
failed:
	*out = cni_error_json(inv.version, &err);
	cni_invocation_clear(&inv);
	return -1;
}
