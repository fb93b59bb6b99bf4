/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: nsagent-cni, the CNI plugin (installed as /usr/lib/cni/nsagent, so
 * a network config says "type": "nsagent").
 *
 * A container runtime runs it once per operation with the CNI_* variables
 * set and the network config on stdin; it asks the local agent over the
 * control socket and prints the CNI result or error JSON on stdout (exit 0
 * or 1), as the specification wants. Everything it decides is in
 * src/cni.c, where tests reach it; this file only reads, runs and prints,
 * and links nothing but the control client and json-c so that it starts
 * fast (runtimes start many containers at once). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "nsagent/cni.h"

/* Reads all of stdin, up to CNI_STDIN_MAX + 1 bytes (one more tells
 * cni_parse that it was too long). Returns the length or -errno. */
static ssize_t read_stdin(char *buf, size_t size)
{
	size_t len = 0;

	while (len < size) {
		ssize_t n = read(STDIN_FILENO, buf + len, size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return (ssize_t)len;
}

static int print(json_object *out)
{
	const char *text = json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE);

	if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "nsagent-cni: cannot write the result to stdout: %s\n",
			strerror(errno));
		return -EIO;
	}
	return 0;
}

int main(void)
{
	const struct cni_env env = {
	    .command = getenv("CNI_COMMAND"),
	    .container_id = getenv("CNI_CONTAINERID"),
	    .netns = getenv("CNI_NETNS"),
	    .ifname = getenv("CNI_IFNAME"),
	    .args = getenv("CNI_ARGS"),
	    .path = getenv("CNI_PATH"),
	};
	size_t size = CNI_STDIN_MAX + 1;
	char *in = malloc(size);
	json_object *out = NULL;
	ssize_t len = 0;
	int ret = 1;

	if (!in) {
		fprintf(stderr, "nsagent-cni: out of memory\n");
		return 1;
	}
	/* VERSION echoes the cniVersion it is given, but a person probing
	 * the plugin from a terminal is not made to type a config. */
	if (!env.command || strcmp(env.command, "VERSION") != 0 || !isatty(STDIN_FILENO))
		len = read_stdin(in, size);
	if (len < 0) {
		struct cni_error err = {.code = CNI_ERR_IO};

		snprintf(err.msg, sizeof(err.msg), "cannot read the network config from stdin: %s",
			 strerror((int)-len));
		out = cni_error_json(CNI_LATEST_VERSION, &err);
	} else if (cni_run(&env, in, (size_t)len, 0, &out) == 0) {
		ret = 0;
	}
	if (out && print(out) < 0)
		ret = 1;
	json_object_put(out);
	free(in);
	return ret;
}
