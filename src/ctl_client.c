/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the client half of the control socket: one request, one response,
 * over a blocking-with-deadline Unix stream connection, plus the CNI
 * request and its checks.
 *
 * The nsagent-cni plugin runs once per container operation, so it links
 * this file, framing and protobuf-c and nothing else (no event loop, no
 * status model); `nsagent status` and the other commands use the same
 * exchange through ctl.c.
 *
 * Invariants: no call waits past its deadline (connect is non-blocking on
 * a Unix socket: it either connects, or fails at once); a reply is read
 * only as one whole frame of at most FRAME_MAX bytes. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "ctl_client.h"
#include "nsagent/ctl.h"
#include "nsagent/frame.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends everything in out, then reads until one Response frame is in. */
static int exchange(int fd, struct evbuffer *out, int timeout_ms, NsaCtl__Response **resp,
		    const char *path, char *err, size_t err_size)
{
	struct evbuffer *in = evbuffer_new();
	int64_t deadline = now_ms() + timeout_ms;
	ProtobufCMessage *msg = NULL;
	int ret = 0;

	if (!in) {
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		int n;

		if (evbuffer_get_length(out))
			pfd.events |= POLLOUT;
		if (left <= 0) {
			snprintf(err, err_size, "the agent on %s did not answer within %d ms", path,
				 timeout_ms);
			ret = -ETIMEDOUT;
			goto out;
		}
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(err, err_size, "poll: %s", strerror(errno));
			goto out;
		}
		if (pfd.revents & POLLOUT && evbuffer_write(out, fd) < 0 && errno != EAGAIN) {
			ret = -errno;
			snprintf(err, err_size, "cannot send to the agent on %s: %s", path,
				 strerror(errno));
			goto out;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = evbuffer_read(in, fd, FRAME_HEADER_LEN + FRAME_MAX);
			if (n < 0 && errno == EAGAIN)
				continue;
			if (n < 0) {
				ret = -errno;
				snprintf(err, err_size, "cannot read from the agent on %s: %s",
					 path, strerror(errno));
				goto out;
			}
			ret = frame_read(in, &nsa_ctl__response__descriptor, &msg, NULL);
			if (ret == 1) {
				*resp = (NsaCtl__Response *)msg;
				ret = 0;
				goto out;
			}
			if (ret < 0) {
				snprintf(err, err_size, "the agent on %s sent a bad reply", path);
				goto out;
			}
			if (n == 0) {
				snprintf(err, err_size, "the agent on %s closed the connection",
					 path);
				ret = -ECONNRESET;
				goto out;
			}
		}
	}
out:
	evbuffer_free(in);
	return ret;
}

int ctl_client_exchange(const char *socket_path, const NsaCtl__Request *req, int timeout_ms,
			NsaCtl__Response **resp, char *err, size_t err_size)
{
	struct evbuffer *out = evbuffer_new();
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = -1, ret;

	*resp = NULL;
	if (!out) {
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	if (strlen(socket_path) >= sizeof(sun.sun_path)) {
		snprintf(err, err_size, "control socket path %s is too long (over %zu bytes)",
			 socket_path, sizeof(sun.sun_path) - 1);
		ret = -ENAMETOOLONG;
		goto out;
	}
	memcpy(sun.sun_path, socket_path, strlen(socket_path) + 1);
	ret = frame_write(out, &req->base);
	if (ret < 0) {
		snprintf(err, err_size, "cannot encode the request: %s", strerror(-ret));
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_size, "socket: %s", strerror(errno));
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		/* A Unix socket with a full backlog says EAGAIN: busy, not gone. */
		snprintf(err, err_size, "no agent answers on %s: %s", socket_path, strerror(errno));
		goto out;
	}
	ret = exchange(fd, out, timeout_ms, resp, socket_path, err, err_size);
	if (ret == 0 && !*resp) { /* exchange() gives 0 only with a reply */
		snprintf(err, err_size, "the agent on %s sent no reply", socket_path);
		ret = -EPROTO;
	}
out:
	if (fd >= 0)
		close(fd);
	evbuffer_free(out);
	return ret;
}

/* ---- CNI ---- */

static bool id_char(char c, bool first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return !first && (c == '_' || c == '.' || c == '-');
}

const char *ctl_cni_id_problem(const char *id)
{
	size_t len = strlen(id);

	if (len == 0)
		return "is empty";
	if (len > CTL_CNI_ID_MAX)
		return "is longer than 128 characters";
	/* The specification's rule: an alphanumeric, then alphanumerics,
	 * '_', '.' or '-'. */
	for (size_t i = 0; i < len; i++)
		if (!id_char(id[i], i == 0))
			return i == 0 ? "must start with a letter or digit"
				      : "may hold only letters, digits, '_', '.' and '-'";
	return NULL;
}

const char *ctl_cni_ifname_problem(const char *ifname)
{
	size_t len = strlen(ifname);

	if (len == 0)
		return "is empty";
	if (len >= IFNAMSIZ)
		return "is longer than 15 characters";
	if (strcmp(ifname, ".") == 0 || strcmp(ifname, "..") == 0)
		return "is not a valid interface name";
	/* The kernel's dev_valid_name(). */
	for (size_t i = 0; i < len; i++)
		if (ifname[i] == '/' || ifname[i] == ':' || (unsigned char)ifname[i] <= ' ' ||
		    ifname[i] == 0x7f)
			return "may not hold '/', ':' or white space";
	return NULL;
}

const char *ctl_cni_netns_problem(const char *path)
{
	size_t len = strlen(path);

	if (len == 0)
		return "is empty";
	if (len > CTL_CNI_NETNS_MAX)
		return "is longer than 255 characters";
	if (path[0] != '/')
		return "is not an absolute path";
	return NULL;
}

static void key_to_proto(const struct ctl_cni_key *key, NsaCtl__CniKey *out)
{
	nsa_ctl__cni_key__init(out);
	out->container_id = (char *)key->container_id;
	out->ifname = (char *)key->ifname;
}

static void copy_text(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

int ctl_cni_call(const char *socket_path, const struct ctl_cni_request *req, int timeout_ms,
		 struct ctl_cni_reply *reply, char *err, size_t err_size)
{
	NsaCtl__Request r = NSA_CTL__REQUEST__INIT;
	NsaCtl__CniRequest cni = NSA_CTL__CNI_REQUEST__INIT;
	NsaCtl__CniKey key;
	NsaCtl__CniKey *valid = NULL, **valid_ptrs = NULL;
	NsaCtl__Response *resp = NULL;
	int ret;

	memset(reply, 0, sizeof(*reply));
	r.request_case = NSA_CTL__REQUEST__REQUEST_CNI;
	r.cni = &cni;
	cni.command = (NsaCtl__CniRequest__Command)req->command;
	key_to_proto(&req->key, &key);
	cni.key = &key;
	cni.netns = (char *)req->netns;
	if (req->n_valid) {
		valid = calloc(req->n_valid, sizeof(*valid));
		valid_ptrs = calloc(req->n_valid, sizeof(*valid_ptrs));
		if (!valid || !valid_ptrs) {
			snprintf(err, err_size, "out of memory");
			ret = -ENOMEM;
			goto out;
		}
		for (unsigned i = 0; i < req->n_valid; i++) {
			key_to_proto(&req->valid[i], &valid[i]);
			valid_ptrs[i] = &valid[i];
		}
		cni.n_valid = req->n_valid;
		cni.valid = valid_ptrs;
	}
	ret = ctl_client_exchange(socket_path, &r, timeout_ms, &resp, err, err_size);
	if (ret < 0 || !resp)
		goto out;
	reply->result = (enum ctl_result)resp->result;
	copy_text(reply->message, sizeof(reply->message), resp->message);
	if (resp->cni) {
		const NsaCtl__CniResult *c = resp->cni;

		reply->has_result = true;
		copy_text(reply->cni.ifname, sizeof(reply->cni.ifname), c->ifname);
		if (c->mac.len == sizeof(reply->cni.mac))
			memcpy(reply->cni.mac, c->mac.data, sizeof(reply->cni.mac));
		reply->cni.mtu = c->mtu;
		copy_text(reply->cni.netns, sizeof(reply->cni.netns), c->netns);
		reply->cni.addr = c->addr;
		reply->cni.prefix_len = c->prefix_len <= 32 ? c->prefix_len : 32;
		reply->cni.gateway = c->gateway;
		/* Anything but 16 bytes is no address: an IPv4-only result. */
		if (c->addr6.len == sizeof(reply->cni.addr6) &&
		    c->gateway6.len == sizeof(reply->cni.gateway6)) {
			memcpy(&reply->cni.addr6, c->addr6.data, sizeof(reply->cni.addr6));
			memcpy(&reply->cni.gateway6, c->gateway6.data, sizeof(reply->cni.gateway6));
		}
	}
	nsa_ctl__response__free_unpacked(resp, NULL);
out:
	free(valid);
	free(valid_ptrs);
	return ret;
}
