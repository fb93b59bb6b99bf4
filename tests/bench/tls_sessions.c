/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: what one TLS session of the agent costs, without a lab: CPU per
 * handshake and memory per idle session, through src/tls.c exactly as
 * the session code uses it (one context per process, one TLS bufferevent
 * per connection).
 *
 *   bench_tls_sessions [K [R]]  (default 31: one agent's sessions in a
 *                                32-host mesh; R: 1)
 *
 * A parent (the clients) and a forked child (the servers) make K
 * connections over socketpairs at once, each a TLS 1.3 handshake with the
 * cluster PSK, then R 200-byte messages each way, one after the other
 * (about a hello, then keepalives), and stay connected and idle. Printed, for the client process:
 * its RSS before and after the context and after the K sessions (idle), the heap in use (mallinfo2:
 * what RSS hides, since freed pages stay), and the CPU time each process spent on the handshakes
 * and messages. Under `valgrind --tool=callgrind` each process writes its own profile (instructions
 * per handshake: SSL_do_handshake's inclusive count / K). The agent's per-connection figures in a
 * lab (bench_profile.sh --key) mix in collisions and the session protocol; this isolates TLS, so
 * that a change to the context's options shows alone. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "nsagent/tls.h"

#define MSG_LEN 200
#define MAX_SESSIONS 1000

struct end {
	struct bufferevent *bev;
	size_t got;
	unsigned rounds;
	bool done;
	bool closed;
};

struct run {
	struct event_base *base;
	struct end ends[MAX_SESSIONS];
	unsigned k, rounds, done, failed, closed;
	bool server;
};

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Heap in use: RSS keeps pages that free() returned to malloc. */
static long heap_kib(void)
{
	return (long)(mallinfo2().uordblks / 1024);
}

static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static struct end *end_of(struct run *r, struct bufferevent *bev)
{
	for (unsigned i = 0; i < r->k; i++)
		if (r->ends[i].bev == bev)
			return &r->ends[i];
	abort();
}

static void end_finish(struct run *r, struct end *e, bool ok)
{
	if (e->done)
		return;
	e->done = true;
	r->done++;
	r->failed += !ok;
	if (r->done == r->k)
		event_base_loopbreak(r->base);
}

static void send_msg(struct end *e)
{
	char msg[MSG_LEN];

	memset(msg, 'm', sizeof(msg));
	bufferevent_write(e->bev, msg, sizeof(msg));
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct run *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct end *e = end_of(r, bev);

	e->got += evbuffer_get_length(in);
	evbuffer_drain(in, evbuffer_get_length(in));
	/* The server answers each message of the client; the client sends
	 * the next one on the answer, until it has had r->rounds. */
	while (e->got >= MSG_LEN) {
		e->got -= MSG_LEN;
		e->rounds++;
		if (r->server)
			send_msg(e);
		else if (e->rounds < r->rounds)
			send_msg(e);
		if (r->server || e->rounds >= r->rounds)
			end_finish(r, e, true);
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct run *r = arg;
	struct end *e = end_of(r, bev);
	char why[256];

	if (what & BEV_EVENT_CONNECTED) {
		if (tls_bev_authenticated(bev, why, sizeof(why)) < 0) {
			fprintf(stderr, "session %u: not authenticated: %s\n",
				(unsigned)(e - r->ends), why);
			end_finish(r, e, false);
		} else if (!r->server) {
			send_msg(e);
		}
		return;
	}
	if (!(what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)))
		return;
	if (!e->done) {
		fprintf(stderr, "session %u: %s before its message\n", (unsigned)(e - r->ends),
			tls_bev_error(bev, why, sizeof(why))[0] ? why : "closed");
		end_finish(r, e, false);
	}
	/* The server's loop ends when the client has closed every session. */
	if (!e->closed) {
		e->closed = true;
		bufferevent_disable(bev, EV_READ);
		if (++r->closed == r->k)
			event_base_loopbreak(r->base);
	}
}

/* The K ends of one side, run until each has its message; 0 or -EIO. */
static int side_run(struct run *r, struct tls_ctx *ctx, int (*fds)[2], unsigned k, unsigned rounds,
		    bool server)
{
	/* A stall (a session that never delivers) ends the run as a failure. */
	struct timeval limit = {30, 0};

	r->k = k;
	r->rounds = rounds;
	r->server = server;
	r->base = event_base_new();
	if (!r->base)
		return -ENOMEM;
	for (unsigned i = 0; i < k; i++) {
		r->ends[i].bev = tls_bev_new(ctx, r->base, fds[i][server ? 1 : 0], !server);
		if (!r->ends[i].bev) {
			fprintf(stderr, "session %u: cannot make a TLS bufferevent\n", i);
			return -ENOMEM;
		}
		bufferevent_setcb(r->ends[i].bev, read_cb, NULL, event_cb, r);
		bufferevent_enable(r->ends[i].bev, EV_READ);
	}
	event_base_loopexit(r->base, &limit);
	event_base_dispatch(r->base);
	if (r->failed || r->done < k) {
		fprintf(stderr, "%s: %u of %u sessions failed\n", server ? "server" : "client",
			r->failed + (k - r->done), k);
		return -EIO;
	}
	return 0;
}

static void side_free(struct run *r)
{
	for (unsigned i = 0; i < r->k; i++)
		if (r->ends[i].bev)
			bufferevent_free(r->ends[i].bev);
	if (r->base)
		event_base_free(r->base);
}

int main(int argc, char **argv)
{
	static int fds[MAX_SESSIONS][2];
	static struct run run;
	uint8_t key[TLS_KEY_LEN];
	struct tls_ctx *ctx = NULL;
	unsigned k = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 31;
	unsigned rounds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1;
	long rss_start, rss_ctx, rss_sessions, heap_ctx, heap_sessions;
	double cpu0, cpu;
	int status, ret;
	pid_t child;

	if (k < 1 || k > MAX_SESSIONS || rounds < 1) {
		fprintf(stderr, "usage: %s [K: sessions, 1..%d] [R: messages each way, 1..]\n",
			argv[0], MAX_SESSIONS);
		return 2;
	}
	/* As the agent: a write to a closed session is an error, not death. */
	signal(SIGPIPE, SIG_IGN);
	rss_start = rss_kib();
	memset(key, 0x5a, sizeof(key));
	if (tls_ctx_new(key, &ctx) < 0) {
		fprintf(stderr, "cannot make a TLS context\n");
		return 1;
	}
	rss_ctx = rss_kib();
	heap_ctx = heap_kib();
	for (unsigned i = 0; i < k; i++)
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds[i]) <
		    0) {
			fprintf(stderr, "socketpair %u: %s\n", i, strerror(errno));
			return 1;
		}
	fflush(stdout);
	child = fork();
	if (child < 0) {
		fprintf(stderr, "fork: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0) {
		for (unsigned i = 0; i < k; i++)
			close(fds[i][0]);
		cpu0 = cpu_ms();
		ret = side_run(&run, ctx, fds, k, rounds, true);
		cpu = cpu_ms() - cpu0;
		/* Wait (idle) for the client to close every session. */
		if (ret == 0) {
			struct timeval limit = {30, 0};

			event_base_loopexit(run.base, &limit);
			event_base_dispatch(run.base);
		}
		printf("server: %.1f ms of CPU for %u handshakes and messages (%.3f ms each)\n",
		       cpu, k, cpu / k);
		fflush(stdout);
		side_free(&run);
		tls_ctx_free(ctx);
		_exit(ret < 0 ? 1 : 0);
	}
	for (unsigned i = 0; i < k; i++)
		close(fds[i][1]);
	cpu0 = cpu_ms();
	ret = side_run(&run, ctx, fds, k, rounds, false);
	cpu = cpu_ms() - cpu0;
	rss_sessions = rss_kib();
	heap_sessions = heap_kib();
	printf("client: %.1f ms of CPU for %u handshakes and messages (%.3f ms each)\n", cpu, k,
	       cpu / k);
	printf("client RSS: %ld KiB at start, %ld with the context, %ld with %u idle sessions "
	       "(%.1f KiB each)\n",
	       rss_start, rss_ctx, rss_sessions, k, (double)(rss_sessions - rss_ctx) / k);
	printf("client heap in use: %ld KiB with the context, %ld with %u idle sessions (%.1f KiB "
	       "each)\n",
	       heap_ctx, heap_sessions, k, (double)(heap_sessions - heap_ctx) / k);
	fflush(stdout);
	side_free(&run);
	tls_ctx_free(ctx);
	if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		ret = -EIO;
	return ret < 0 ? 1 : 0;
}
