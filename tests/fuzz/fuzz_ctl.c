/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the control socket's request decoder, end to end. A
 * real ctl_server (src/ctl.c) listens in a private temporary run dir with
 * handlers that accept everything; each input is written to a fresh
 * connection as a client would, and the loop runs until the server has
 * answered and closed or the client is done. Bad frames, unknown
 * requests and absurd names must get an answer or a close, never a crash
 * or a leak. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "nsagent/ctl.h"
#include "nsagent/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static struct ctl_server *server;
static struct sockaddr_un sun = {.sun_family = AF_UNIX};

static void on_status(void *arg, struct status *st)
{
	(void)arg;
	(void)st;
}

static enum ctl_result on_ns(void *arg, const char *name, char *msg, size_t size)
{
	(void)arg;
	snprintf(msg, size, "namespace %.64s", name);
	return CTL_OK;
}

static enum ctl_result on_reload(void *arg, char *msg, size_t size)
{
	(void)arg;
	snprintf(msg, size, "reloaded");
	return CTL_OK;
}

static void on_leave(void *arg)
{
	(void)arg;
}

/* A validated CNI request: its strings must be within their bounds. */
static enum ctl_result on_cni(void *arg, const struct ctl_cni_request *req,
			      struct ctl_cni_result *res, char *msg, size_t size)
{
	(void)arg;
	if (strlen(req->key.container_id) > CTL_CNI_ID_MAX || strlen(req->key.ifname) >= IFNAMSIZ ||
	    strlen(req->netns) > CTL_CNI_NETNS_MAX)
		abort();
	snprintf(res->ifname, sizeof(res->ifname), "%s", req->key.ifname);
	snprintf(res->netns, sizeof(res->netns), "%s", req->netns);
	snprintf(msg, size, "cni %d", (int)req->command);
	return CTL_OK;
}

static const struct ctl_handlers handlers = {
    .status = on_status,
    .ns_add = on_ns,
    .ns_del = on_ns,
    .reload = on_reload,
    .leave = on_leave,
    .rotate_key = on_reload,
    .cni = on_cni,
};

static void cleanup(void)
{
	ctl_server_free(server);
	event_base_free(base);
}

static void setup(void)
{
	static char dir[] = "/tmp/nsagent-fuzz-ctl.XXXXXX";
	char err[256];

	log_set_level(LOG_LEVEL_ERROR);
	base = event_base_new();
	if (!base || !mkdtemp(dir) ||
	    ctl_server_new(base, dir, &handlers, NULL, &server, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_ctl: cannot start the control server\n");
		abort();
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", dir, CTL_SOCKET_NAME);
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct timeval tick = {0, 1000};
	size_t sent = 0;
	int fd, rounds;
	bool closed = false;

	if (!base)
		setup();
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		abort();
	/* Write what fits, let the server read, repeat; then half-close. The
	 * loop is bounded: a server that neither answers nor closes within
	 * ~2 s of loop time is a bug (a hang). */
	for (rounds = 0; rounds < 2000 && !closed; rounds++) {
		char buf[4096];
		ssize_t n;

		if (sent < size) {
			n = write(fd, data + sent, size - sent);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				closed = true; /* the server closed on a bad frame */
			if (sent == size)
				shutdown(fd, SHUT_WR);
		} else if (size == 0 && rounds == 0) {
			shutdown(fd, SHUT_WR);
		}
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		if (n == 0 || (n < 0 && errno != EAGAIN))
			closed = true;
	}
	close(fd);
	/* let the server see the close and free its client */
	event_base_loopexit(base, &tick);
	event_base_dispatch(base);
	if (!closed)
		abort();
	return 0;
}
