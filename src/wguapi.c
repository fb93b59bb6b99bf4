/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the WireGuard UAPI text protocol (include/nsagent/wguapi.h).
 *
 * The protocol (https://www.wireguard.com/xplatform/): a request is
 * `get=1` or `set=1` followed by key=value lines and a blank line; the
 * answer to get is key=value lines, then `errno=N` and a blank line; set
 * answers only `errno=N`. Device keys come first; `public_key=` starts a
 * peer and every later key until the next `public_key=` belongs to it.
 * Keys are lower-case hex, endpoints `a.b.c.d:port` or `[v6]:port`.
 *
 * The parser is strict about what we act on (keys, allowed IPs, the
 * endpoint, counters) and skips keys it does not know, as the protocol
 * asks of readers, so a newer wireguard-go does not break it. The
 * builder writes the smallest set=1 that makes the device what is wanted:
 * an unchanged peer is not mentioned at all, and a changed one is updated
 * in place (replace_allowed_ips), which keeps its session and its
 * handshake. The exchange is blocking with a short timeout: the socket is
 * local and wireguard-go answers from memory. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "nsagent/wguapi.h"
#include "nsagent/xalloc.h"

#define WGUAPI_TIMEOUT_MS 2000

void wguapi_device_free(struct wguapi_device *dev)
{
	if (!dev)
		return;
	free(dev->peers);
	memset(dev, 0, sizeof(*dev));
}

static int parse_u64(const char *text, uint64_t *out)
{
	char *end;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(text, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

/* "a.b.c.d:port" or "[v6]:port"; an IPv6 one we cannot read (a scope,
 * "%2", is never one we set) is reported as none. */
static int parse_endpoint(const char *text, struct endpoint *ep)
{
	if (addr_parse_endpoint(text, 0, ep) == 0 && ep->port != 0)
		return 0;
	memset(ep, 0, sizeof(*ep));
	return text[0] == '[' ? 0 : -EINVAL;
}

static int parse_allowed(const char *text, struct wguapi_allowed *a)
{
	memset(a, 0, sizeof(*a));
	if (strchr(text, ':')) {
		a->ipv6 = true;
		return addr6_parse_prefix(text, &a->v6);
	}
	return addr_parse_prefix(text, &a->v4);
}

static int parse_line(char *line, struct wguapi_device *dev, int *errno_out)
{
	char *value = strchr(line, '=');
	struct wguapi_peer *peer = dev->n_peers ? &dev->peers[dev->n_peers - 1] : NULL;
	uint64_t n;

	if (!value)
		return -EINVAL;
	*value++ = '\0';
	if (strcmp(line, "errno") == 0) {
		if (parse_u64(value, &n) < 0 || n > 4095)
			return -EINVAL;
		*errno_out = (int)n;
		return 0;
	}
	if (strcmp(line, "public_key") == 0) {
		dev->peers = xreallocarray(dev->peers, dev->n_peers + 1, sizeof(*dev->peers));
		peer = &dev->peers[dev->n_peers++];
		memset(peer, 0, sizeof(*peer));
		return wgkey_from_hex(value, strlen(value), peer->public_key);
	}
	if (!peer) {
		if (strcmp(line, "private_key") == 0) {
			dev->has_private_key = true;
			return wgkey_from_hex(value, strlen(value), dev->private_key);
		}
		if (strcmp(line, "listen_port") == 0) {
			if (parse_u64(value, &n) < 0 || n > 65535)
				return -EINVAL;
			dev->listen_port = (uint16_t)n;
		}
		return 0;
	}
	if (strcmp(line, "endpoint") == 0)
		return parse_endpoint(value, &peer->endpoint);
	if (strcmp(line, "allowed_ip") == 0) {
		if (peer->n_allowed == WGUAPI_MAX_ALLOWED)
			return 0; /* more than we ever set: someone else's peer */
		return parse_allowed(value, &peer->allowed[peer->n_allowed++]);
	}
	if (strcmp(line, "last_handshake_time_sec") == 0)
		return parse_u64(value, &peer->last_handshake_sec);
	if (strcmp(line, "rx_bytes") == 0)
		return parse_u64(value, &peer->rx_bytes);
	if (strcmp(line, "tx_bytes") == 0)
		return parse_u64(value, &peer->tx_bytes);
	return 0;
}

int wguapi_parse(const char *text, struct wguapi_device *dev, int *errno_out, char *msg,
		 size_t size)
{
	char *copy = xstrdup(text), *line, *save = NULL;
	unsigned lineno = 0;
	int ret = 0;

	memset(dev, 0, sizeof(*dev));
	*errno_out = 0;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char shown[96];

		lineno++;
		snprintf(shown, sizeof(shown), "%s", line);
		if (parse_line(line, dev, errno_out) < 0) {
			/* Never echo a private key back into a log. */
			if (strncmp(shown, "private_key=", 12) == 0)
				snprintf(shown, sizeof(shown), "private_key=...");
			snprintf(msg, size, "WireGuard UAPI answer, line %u: cannot read '%s'",
				 lineno, shown);
			ret = -EBADMSG;
			break;
		}
	}
	explicit_bzero(copy, strlen(text));
	free(copy);
	if (ret < 0)
		wguapi_device_free(dev);
	return ret;
}

const struct wguapi_peer *wguapi_find_peer(const struct wguapi_device *dev,
					   const uint8_t key[WGKEY_LEN])
{
	for (unsigned i = 0; i < dev->n_peers; i++)
		if (memcmp(dev->peers[i].public_key, key, WGKEY_LEN) == 0)
			return &dev->peers[i];
	return NULL;
}

static bool allowed_equal(const struct wguapi_allowed *a, const struct wguapi_allowed *b)
{
	if (a->ipv6 != b->ipv6)
		return false;
	return a->ipv6 ? addr6_prefix_equal(&a->v6, &b->v6) : addr_prefix_equal(&a->v4, &b->v4);
}

static bool allowed_has(const struct wguapi_peer *p, const struct wguapi_allowed *a)
{
	for (unsigned i = 0; i < p->n_allowed; i++)
		if (allowed_equal(&p->allowed[i], a))
			return true;
	return false;
}

/* Same endpoint and the same allowed IPs as a set. */
static bool peer_same(const struct wguapi_peer *want, const struct wguapi_peer *have)
{
	if (!nodeaddr_equal(&want->endpoint.addr, &have->endpoint.addr) ||
	    want->endpoint.port != have->endpoint.port || want->n_allowed != have->n_allowed)
		return false;
	for (unsigned i = 0; i < want->n_allowed; i++)
		if (!allowed_has(have, &want->allowed[i]))
			return false;
	return true;
}

struct text {
	char *buf;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3))) add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < t->cap - t->len)
			break;
		t->cap = t->cap * 2 + (size_t)(n > 0 ? n : 0) + 64;
		t->buf = xrealloc(t->buf, t->cap);
	}
	t->len += (size_t)n;
}

static void add_peer(struct text *t, const struct wguapi_peer *p)
{
	char hex[WGKEY_HEX_LEN], buf[PREFIX6_STRLEN], ep[ENDPOINT_STRLEN];

	wgkey_hex(p->public_key, hex);
	add(t, "public_key=%s\n", hex);
	if (!nodeaddr_is_zero(&p->endpoint.addr))
		add(t, "endpoint=%s\n", addr_format_endpoint(&p->endpoint, ep));
	add(t, "replace_allowed_ips=true\n");
	for (unsigned i = 0; i < p->n_allowed; i++)
		add(t, "allowed_ip=%s\n",
		    p->allowed[i].ipv6 ? addr6_format_prefix(&p->allowed[i].v6, buf)
				       : addr_format_prefix(&p->allowed[i].v4, buf));
}

/* A peer of have that want keeps: named by key, or (keep without key)
 * holding one of the allowed IPs of a kept entry. */
static bool kept(const struct wguapi_device *want, const struct wguapi_peer *h)
{
	for (unsigned i = 0; i < want->n_peers; i++) {
		const struct wguapi_peer *w = &want->peers[i];

		if (!wgkey_is_zero(w->public_key)) {
			if (memcmp(w->public_key, h->public_key, WGKEY_LEN) == 0)
				return true;
			continue;
		}
		for (unsigned k = 0; w->keep && k < w->n_allowed; k++)
			if (allowed_has(h, &w->allowed[k]))
				return true;
	}
	return false;
}

void wguapi_plan_free(struct wguapi_plan *plan)
{
	if (!plan)
		return;
	free(plan->remove);
	free(plan->set);
	memset(plan, 0, sizeof(*plan));
}

unsigned wguapi_plan(const struct wguapi_device *want, const struct wguapi_device *have,
		     struct wguapi_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->remove = xcalloc(have->n_peers + 1, sizeof(*plan->remove));
	plan->set = xcalloc(want->n_peers + 1, sizeof(*plan->set));
	plan->private_key =
	    want->has_private_key && (!have->has_private_key ||
				      memcmp(want->private_key, have->private_key, WGKEY_LEN) != 0);
	plan->listen_port = want->listen_port && want->listen_port != have->listen_port;
	for (unsigned i = 0; i < have->n_peers; i++)
		if (!want->keep_other_peers && !kept(want, &have->peers[i]))
			plan->remove[plan->n_remove++] = i;
	for (unsigned i = 0; i < want->n_peers; i++) {
		const struct wguapi_peer *w = &want->peers[i], *h;

		if (wgkey_is_zero(w->public_key))
			continue;
		h = wguapi_find_peer(have, w->public_key);
		if (h && (w->keep || peer_same(w, h)))
			continue;
		plan->set[plan->n_set++] = i;
	}
	return plan->private_key + plan->listen_port + plan->n_remove + plan->n_set;
}

unsigned wguapi_build_set(const struct wguapi_device *want, const struct wguapi_device *have,
			  char **out)
{
	struct text t = {xmalloc(256), 0, 256};
	struct wguapi_plan plan;
	unsigned changes = wguapi_plan(want, have, &plan);
	char hex[WGKEY_HEX_LEN];

	t.buf[0] = '\0';
	add(&t, "set=1\n");
	if (plan.private_key) {
		wgkey_hex(want->private_key, hex);
		add(&t, "private_key=%s\n", hex);
		explicit_bzero(hex, sizeof(hex));
	}
	if (plan.listen_port)
		add(&t, "listen_port=%u\n", want->listen_port);
	for (unsigned i = 0; i < plan.n_remove; i++) {
		wgkey_hex(have->peers[plan.remove[i]].public_key, hex);
		add(&t, "public_key=%s\nremove=true\n", hex);
	}
	for (unsigned i = 0; i < plan.n_set; i++)
		add_peer(&t, &want->peers[plan.set[i]]);
	add(&t, "\n");
	wguapi_plan_free(&plan);
	if (!changes) {
		free(t.buf);
		t.buf = NULL;
	}
	*out = t.buf;
	return changes;
}

void wguapi_socket_path(const char *dir, const char *ifname, char *out, size_t size)
{
	snprintf(out, size, "%s/%s.sock", dir ? dir : WGUAPI_DIR, ifname);
}

static int uapi_connect(const char *path, char *msg, size_t size)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, ret;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(msg, size, "WireGuard socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(msg, size, "cannot open a Unix socket: %s", strerror(errno));
		return ret;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		snprintf(msg, size, "cannot connect to WireGuard socket %s: %s", path,
			 strerror(errno));
		close(fd);
		return ret;
	}
	return fd;
}

/* Writes request, reads the answer up to its blank line into *reply. */
static int exchange(const char *path, const char *request, char **reply, char *msg, size_t size)
{
	size_t len = strlen(request), done = 0, got = 0, cap = 4096;
	char *buf = NULL;
	int fd, ret = 0;

	fd = uapi_connect(path, msg, size);
	if (fd < 0)
		return fd;
	while (done < len) {
		ssize_t n = send(fd, request + done, len - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(msg, size, "cannot write to WireGuard socket %s: %s", path,
				 strerror(errno));
			goto out;
		}
		done += (size_t)n;
	}
	buf = xmalloc(cap);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (got + 1 >= cap) {
			if (cap >= WGUAPI_MAX_REPLY) {
				ret = -EMSGSIZE;
				snprintf(msg, size, "WireGuard socket %s: answer over %d bytes",
					 path, WGUAPI_MAX_REPLY);
				goto out;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		n = poll(&p, 1, WGUAPI_TIMEOUT_MS);
		if (n == 0) {
			ret = -ETIMEDOUT;
			snprintf(msg, size, "WireGuard socket %s: no answer within %d ms", path,
				 WGUAPI_TIMEOUT_MS);
			goto out;
		}
		n = n < 0 ? -1 : recv(fd, buf + got, cap - got - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -ECONNRESET;
			snprintf(msg, size, "WireGuard socket %s: %s", path,
				 n < 0 ? strerror(errno) : "closed before the end of the answer");
			goto out;
		}
		got += (size_t)n;
		buf[got] = '\0';
		if (got >= 2 && strcmp(buf + got - 2, "\n\n") == 0)
			break;
	}
	*reply = buf;
	buf = NULL;
out:
	if (buf) {
		explicit_bzero(buf, cap);
		free(buf);
	}
	close(fd);
	return ret;
}

int wguapi_get(const char *path, struct wguapi_device *dev, char *msg, size_t size)
{
	char *reply = NULL;
	int err, ret = exchange(path, "get=1\n\n", &reply, msg, size);

	if (ret < 0)
		return ret;
	if (!reply)
		return -EIO;
	ret = wguapi_parse(reply, dev, &err, msg, size);
	explicit_bzero(reply, strlen(reply));
	free(reply);
	if (ret == 0 && err) {
		wguapi_device_free(dev);
		snprintf(msg, size, "WireGuard socket %s: get refused: %s", path, strerror(err));
		ret = -err;
	}
	return ret;
}

int wguapi_set(const char *path, const char *request, char *msg, size_t size)
{
	struct wguapi_device none;
	char *reply = NULL;
	int err, ret = exchange(path, request, &reply, msg, size);

	if (ret < 0)
		return ret;
	if (!reply)
		return -EIO;
	ret = wguapi_parse(reply, &none, &err, msg, size);
	wguapi_device_free(&none);
	free(reply);
	if (ret == 0 && err) {
		snprintf(msg, size, "WireGuard socket %s: set refused: %s", path, strerror(err));
		ret = -err;
	}
	return ret;
}
