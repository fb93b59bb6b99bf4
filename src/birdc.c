/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: BIRD's control socket, driven from the event loop.
 *
 * The protocol is birdc's (BIRD's doc/reply_codes): on connect BIRD sends
 * "0001 BIRD x.y ready."; each command is one line, and its reply is lines
 * "NNNN-text" (more follow), " text" (continuation of the same code) and
 * a last "NNNN text". 0xxx is success, 1xxx/2xxx table rows and headings,
 * 8xxx run-time and 9xxx parse errors; "+" lines are spontaneous and
 * skipped. One command is in flight at a time, each under a timeout, so a
 * BIRD that stops answering is noticed and the socket redialled.
 *
 * Jobs, in order of priority once connected: load the include
 * (`configure check`, then `configure` only when the check passed) after
 * every change and after every (re)connection, since BIRD may have started
 * with an older file; and, every poll_ms, the read-back (`show protocols`,
 * `show route export nsagent_kernel4|6`, our subnet's filtered routes).
 *
 * Invariants: the include on disk is the last text BIRD accepted, or the
 * wanted one while BIRD has not said; a rejected text is replaced by the
 * accepted one at once. Every failure is in the view's problem, named with
 * the socket or file, until it is over. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "nsagent/backoff.h"
#include "nsagent/birdc.h"
#include "nsagent/log.h"
#include "nsagent/xalloc.h"

/* A reply longer than this is no answer of BIRD to our commands. */
#define BIRDC_REPLY_MAX (8u << 20)
#define BIRDC_QUEUE_MAX 8

enum birdc_cmd {
	CMD_NONE,
	CMD_HELLO, /* no command: the greeting */
	CMD_CHECK,
	CMD_CONFIGURE,
	CMD_PROTOCOLS,
	CMD_ROUTES4,
	CMD_ROUTES6,
	CMD_FILTERED,
};

struct birdc {
	struct event_base *base;
	struct birdc_config config;
	char *socket_path;
	char *include_path;
	const struct birdc_ops *ops;
	void *arg;
	struct bufferevent *bev; /* NULL while not connected */
	struct event *retry;
	struct event *poll;
	struct event *timeout;
	struct backoff backoff;
	enum birdc_cmd current;
	enum birdc_cmd queue[BIRDC_QUEUE_MAX];
	unsigned n_queue;
	bool need_configure;
	bool poll_due;
	char *wanted;	/* the include wanted; NULL before the first */
	char *accepted; /* the last include BIRD accepted (or found at start) */
	char *reply;	/* the reply so far, one line per reply line */
	size_t reply_len;
	bool rejected; /* the problem is a rejected include */
	struct birdc_view view;
	/* Routes of the read-back under way (both families), and sessions. */
	struct bird_route *routes4, *routes6;
	unsigned n_routes4, n_routes6;
};

static void reconnect_later(struct birdc *b, const char *why);
static void kick(struct birdc *b);

static void set_problem(struct birdc *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_problem(struct birdc *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->view.problem, sizeof(b->view.problem), fmt, ap);
	va_end(ap);
}

static const char *cmd_text(const struct birdc *b, enum birdc_cmd cmd, char *buf, size_t size)
{
	char p[PREFIX_STRLEN];

	switch (cmd) {
	case CMD_CHECK:
		return "configure check";
	case CMD_CONFIGURE:
		return "configure";
	case CMD_PROTOCOLS:
		return "show protocols";
	case CMD_ROUTES4:
		return "show route export nsagent_kernel4";
	case CMD_ROUTES6:
		return "show route export nsagent_kernel6";
	case CMD_FILTERED:
		snprintf(buf, size, "show route %s filtered",
			 addr_format_prefix(&b->config.subnet, p));
		return buf;
	case CMD_NONE:
	case CMD_HELLO:
		break;
	}
	return "";
}

static void clear_reply(struct birdc *b)
{
	free(b->reply);
	b->reply = NULL;
	b->reply_len = 0;
}

static void drop_connection(struct birdc *b)
{
	if (b->bev)
		bufferevent_free(b->bev);
	b->bev = NULL;
	b->current = CMD_NONE;
	b->n_queue = 0;
	evtimer_del(b->timeout);
	clear_reply(b);
	b->view.up = false;
	b->view.n_sessions = 0;
	free(b->view.routes);
	b->view.routes = NULL;
	b->view.n_routes = 0;
	b->view.conflict = false;
}

static void send_cmd(struct birdc *b, enum birdc_cmd cmd)
{
	char buf[64];
	struct timeval tv = {.tv_sec = b->config.timeout_ms / 1000,
			     .tv_usec = (suseconds_t)(b->config.timeout_ms % 1000) * 1000};

	b->current = cmd;
	if (cmd != CMD_HELLO)
		evbuffer_add_printf(bufferevent_get_output(b->bev), "%s\n",
				    cmd_text(b, cmd, buf, sizeof(buf)));
	evtimer_add(b->timeout, &tv);
}

static void enqueue(struct birdc *b, enum birdc_cmd cmd)
{
	if (b->n_queue < BIRDC_QUEUE_MAX)
		b->queue[b->n_queue++] = cmd;
}

/* The include BIRD refused goes; the accepted one comes back. */
static void reject(struct birdc *b, const char *what, const char *message)
{
	char msg[256];
	bool changed;
	size_t len = strcspn(message, "\n");

	b->n_queue = 0;
	b->rejected = true;
	if (b->accepted &&
	    bird_write_include(b->include_path, b->accepted, &changed, msg, sizeof(msg)) < 0)
		log_error("%s", msg);
	set_problem(b, "BIRD rejects the include %s (%s): %.*s; %s", b->include_path, what,
		    (int)len, message,
		    b->accepted ? "the previous include is back in place"
				: "there was no previous include to put back");
	log_error("%s", b->view.problem);
}

static void take_routes(struct birdc *b)
{
	free(b->view.routes);
	b->view.n_routes = b->n_routes4 + b->n_routes6;
	b->view.routes = xcalloc(b->view.n_routes ? b->view.n_routes : 1, sizeof(*b->view.routes));
	if (b->n_routes4)
		memcpy(b->view.routes, b->routes4, b->n_routes4 * sizeof(*b->routes4));
	if (b->n_routes6)
		memcpy(b->view.routes + b->n_routes4, b->routes6,
		       b->n_routes6 * sizeof(*b->routes6));
	free(b->routes4);
	free(b->routes6);
	b->routes4 = b->routes6 = NULL;
	b->n_routes4 = b->n_routes6 = 0;
}

/* A route for our subnet that another next hop announces. */
static void read_conflict(struct birdc *b, const char *text)
{
	struct bird_route *routes = NULL;
	unsigned n = bird_parse_routes(text, &routes);

	b->view.conflict = false;
	for (unsigned i = 0; i < n; i++) {
		if (routes[i].family == AF_INET &&
		    addr_prefix_equal(&routes[i].prefix, &b->config.subnet) &&
		    !nodeaddr_is_zero(&routes[i].via) &&
		    !nodeaddr_equal(&routes[i].via, &b->config.node_ip)) {
			b->view.conflict = true;
			b->view.conflict_via = routes[i].via;
			break;
		}
	}
	free(routes);
}

/* One complete reply to the command in flight. */
static void on_reply(struct birdc *b, unsigned code, const char *text)
{
	enum birdc_cmd cmd = b->current;
	bool error = code >= 8000;

	b->current = CMD_NONE;
	evtimer_del(b->timeout);
	switch (cmd) {
	case CMD_HELLO:
		if (code != 1) {
			reconnect_later(b, "it did not greet as BIRD does (0001)");
			return;
		}
		log_info("BIRD answers on %s: %.*s", b->socket_path, (int)strcspn(text, "\n"),
			 text);
		b->view.up = true;
		if (!b->rejected)
			b->view.problem[0] = '\0';
		backoff_reset(&b->backoff);
		b->need_configure = b->wanted != NULL;
		b->poll_due = true;
		break;
	case CMD_CHECK:
		if (code != 20)
			reject(b, "configure check", text);
		break;
	case CMD_CONFIGURE:
		/* 0003 done, 0004 under way, 0005 queued behind another. */
		if (error || code < 3 || code > 5) {
			reject(b, "configure", text);
			break;
		}
		free(b->accepted);
		b->accepted = xstrdup(b->wanted);
		if (b->rejected)
			b->view.problem[0] = '\0';
		b->rejected = false;
		log_info("BIRD loaded the include %s", b->include_path);
		break;
	case CMD_PROTOCOLS:
		if (!error)
			b->view.n_sessions =
			    bird_parse_protocols(text, b->view.sessions, CFG_MAX_BGP_PEERS);
		break;
	case CMD_ROUTES4:
		if (!error)
			b->n_routes4 = bird_parse_routes(text, &b->routes4);
		break;
	case CMD_ROUTES6:
		/* No such protocol (IPv4 only): 8xxx, and no routes. */
		if (!error)
			b->n_routes6 = bird_parse_routes(text, &b->routes6);
		break;
	case CMD_FILTERED:
		/* 8001 "Network not found": nobody else announces it. */
		read_conflict(b, error ? "" : text);
		take_routes(b);
		if (b->ops->polled)
			b->ops->polled(b->arg);
		break;
	case CMD_NONE:
		break;
	}
	kick(b);
}

/* Lines of BIRD's reply: the code and text of each, joined in b->reply. */
static int on_line(struct birdc *b, const char *line, size_t len)
{
	const char *text;
	unsigned code = 0;
	bool last = false;

	if (len && line[0] == '+')
		return 0; /* spontaneous output */
	if (len && line[0] == ' ') {
		text = line + 1;
	} else if (len >= 4 && line[0] >= '0' && line[0] <= '9' && line[1] >= '0' &&
		   line[1] <= '9' && line[2] >= '0' && line[2] <= '9' && line[3] >= '0' &&
		   line[3] <= '9' && (len == 4 || line[4] == '-' || line[4] == ' ')) {
		code = (unsigned)((line[0] - '0') * 1000 + (line[1] - '0') * 100 +
				  (line[2] - '0') * 10 + (line[3] - '0'));
		last = len == 4 || line[4] == ' ';
		text = len > 5 ? line + 5 : line + len;
	} else {
		return -EPROTO;
	}
	if (b->current == CMD_NONE)
		return -EPROTO; /* nothing was asked */
	if (b->reply_len + (size_t)(line + len - text) + 2 > BIRDC_REPLY_MAX)
		return -EMSGSIZE;
	b->reply = xrealloc(b->reply, b->reply_len + (size_t)(line + len - text) + 2);
	memcpy(b->reply + b->reply_len, text, (size_t)(line + len - text));
	b->reply_len += (size_t)(line + len - text);
	b->reply[b->reply_len++] = '\n';
	b->reply[b->reply_len] = '\0';
	if (last) {
		char *reply = b->reply;

		b->reply = NULL;
		b->reply_len = 0;
		on_reply(b, code, reply);
		free(reply);
	}
	return 0;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct birdc *b = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line;

	while (b->bev && (line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF))) {
		int ret = on_line(b, line, len);

		free(line);
		if (ret < 0) {
			reconnect_later(b, ret == -EMSGSIZE ? "a reply over 8 MiB"
							    : "a line that is not BIRD's protocol");
			return;
		}
	}
	if (b->bev && evbuffer_get_length(in) > BIRDC_REPLY_MAX)
		reconnect_later(b, "a line over 8 MiB");
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct birdc *b = arg;
	char why[128];

	(void)bev;
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "BIRD closed the connection");
	else
		snprintf(why, sizeof(why), "%s", strerror(EVUTIL_SOCKET_ERROR()));
	reconnect_later(b, why);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct birdc *b = arg;
	char buf[64], why[160];

	(void)fd;
	(void)what;
	snprintf(why, sizeof(why), "no answer to '%s' within %ums",
		 b->current == CMD_HELLO ? "(greeting)" : cmd_text(b, b->current, buf, sizeof(buf)),
		 b->config.timeout_ms);
	reconnect_later(b, why);
}

static int dial(struct birdc *b, char *why, size_t size)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", b->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, size, "socket: %s", strerror(errno));
		return -errno;
	}
	/* A Unix socket connects at once or fails (EAGAIN: its backlog is full). */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = errno;

		snprintf(why, size, "connect: %s", strerror(err));
		close(fd);
		return -err;
	}
	b->bev = bufferevent_socket_new(b->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!b->bev)
		fatal("out of memory");
	bufferevent_setcb(b->bev, read_cb, NULL, event_cb, b);
	bufferevent_enable(b->bev, EV_READ);
	send_cmd(b, CMD_HELLO);
	return 0;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct birdc *b = arg;
	char why[128];

	(void)fd;
	(void)what;
	if (dial(b, why, sizeof(why)) < 0)
		reconnect_later(b, why);
}

static void reconnect_later(struct birdc *b, const char *why)
{
	uint32_t delay = backoff_next(&b->backoff);
	struct timeval tv = {.tv_sec = delay / 1000, .tv_usec = (suseconds_t)(delay % 1000) * 1000};
	bool was_up = b->view.up;

	drop_connection(b);
	set_problem(b,
		    "BIRD is not answering on its control socket %s: %s (is bird running? "
		    "retrying in %ums)",
		    b->socket_path, why, delay);
	b->rejected = false;
	if (was_up)
		log_error("%s", b->view.problem);
	else
		log_debug("%s", b->view.problem);
	evtimer_add(b->retry, &tv);
}

static void kick(struct birdc *b)
{
	if (!b->bev || b->current != CMD_NONE)
		return;
	if (!b->n_queue && b->need_configure) {
		b->need_configure = false;
		enqueue(b, CMD_CHECK);
		enqueue(b, CMD_CONFIGURE);
	} else if (!b->n_queue && b->poll_due) {
		b->poll_due = false;
		enqueue(b, CMD_PROTOCOLS);
		enqueue(b, CMD_ROUTES4);
		enqueue(b, CMD_ROUTES6);
		enqueue(b, CMD_FILTERED);
	}
	if (!b->n_queue)
		return;
	send_cmd(b, b->queue[0]);
	memmove(b->queue, b->queue + 1, --b->n_queue * sizeof(b->queue[0]));
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct birdc *b = arg;

	(void)fd;
	(void)what;
	b->poll_due = true;
	kick(b);
}

int birdc_new(struct event_base *base, const struct birdc_config *config,
	      const struct birdc_ops *ops, void *arg, struct birdc **out)
{
	struct birdc *b = xcalloc(1, sizeof(*b));
	struct timeval poll_tv;
	char why[128];

	b->base = base;
	b->config = *config;
	if (!b->config.poll_ms)
		b->config.poll_ms = 1000;
	if (!b->config.retry_min_ms)
		b->config.retry_min_ms = 250;
	if (!b->config.retry_max_ms)
		b->config.retry_max_ms = 5000;
	if (!b->config.timeout_ms)
		b->config.timeout_ms = 10000;
	b->socket_path = xstrdup(config->socket_path);
	b->include_path = xstrdup(config->include_path);
	b->config.socket_path = b->socket_path;
	b->config.include_path = b->include_path;
	b->ops = ops;
	b->arg = arg;
	b->accepted = bird_read_include(b->include_path);
	backoff_init(&b->backoff, b->config.retry_min_ms, b->config.retry_max_ms,
		     (uint64_t)getpid());
	b->retry = evtimer_new(base, retry_cb, b);
	b->timeout = evtimer_new(base, timeout_cb, b);
	b->poll = event_new(base, -1, EV_PERSIST, poll_cb, b);
	poll_tv.tv_sec = b->config.poll_ms / 1000;
	poll_tv.tv_usec = (suseconds_t)(b->config.poll_ms % 1000) * 1000;
	if (!b->retry || !b->timeout || !b->poll || event_add(b->poll, &poll_tv) < 0)
		fatal("cannot create BIRD's timers");
	set_problem(b, "BIRD has not answered on its control socket %s yet", b->socket_path);
	if (dial(b, why, sizeof(why)) < 0) {
		log_warn("BIRD is not answering on its control socket %s: %s; the include %s is "
			 "written all the same, and the socket is retried until BIRD answers",
			 b->socket_path, why, b->include_path);
		reconnect_later(b, why);
	}
	*out = b;
	return 0;
}

void birdc_free(struct birdc *b)
{
	if (!b)
		return;
	drop_connection(b);
	event_free(b->retry);
	event_free(b->timeout);
	event_free(b->poll);
	free(b->routes4);
	free(b->routes6);
	free(b->wanted);
	free(b->accepted);
	free(b->socket_path);
	free(b->include_path);
	free(b);
}

void birdc_set_include(struct birdc *b, const char *text)
{
	char msg[256];
	bool changed;

	if (b->wanted && strcmp(b->wanted, text) == 0)
		return;
	free(b->wanted);
	b->wanted = xstrdup(text);
	if (bird_write_include(b->include_path, text, &changed, msg, sizeof(msg)) < 0) {
		set_problem(b, "%s", msg);
		log_error("%s", msg);
		return;
	}
	if (changed)
		log_info("wrote the BIRD include %s", b->include_path);
	b->need_configure = true;
	kick(b);
}

const struct birdc_view *birdc_view(const struct birdc *b)
{
	return &b->view;
}
