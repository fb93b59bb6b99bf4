/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The cluster key: generation, parsing and the key file checks (owner,
 * mode, type, content), each refusal explained. Then handshakes over a
 * socketpair, our TLS ends against ends built here with plain OpenSSL
 * (another configuration of the same library, not our own code): a
 * session is authenticated only by the cluster PSK; a server that
 * answers with a certificate, a client without the key, another key or
 * TLS 1.2 never completes a handshake with us. And what an idle session
 * keeps of OpenSSL's memory, counted through CRYPTO_set_mem_functions. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include "nsagent/tls.h"
#include "tls_harness.h"
#include "tmpdir.h"

static char dir[] = "/tmp/nsagent-tls-test.XXXXXX";

/* Bytes OpenSSL has allocated and not freed: main routes every OpenSSL
 * allocation through these, each with its size in a header. */
static size_t openssl_live;
#define MEM_HEADER 16 /* keeps malloc's alignment */

static void *count_malloc(size_t n, const char *file, int line)
{
	unsigned char *p = malloc(n + MEM_HEADER);

	(void)file;
	(void)line;
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	openssl_live += n;
	return p + MEM_HEADER;
}

static void count_free(void *ptr, const char *file, int line)
{
	unsigned char *p = ptr ? (unsigned char *)ptr - MEM_HEADER : NULL;
	size_t n;

	(void)file;
	(void)line;
	if (!p)
		return;
	memcpy(&n, p, sizeof(n));
	openssl_live -= n;
	free(p);
}

static void *count_realloc(void *ptr, size_t n, const char *file, int line)
{
	unsigned char *p;
	size_t old;

	if (!ptr)
		return count_malloc(n, file, line);
	if (!n) {
		count_free(ptr, file, line);
		return NULL;
	}
	p = (unsigned char *)ptr - MEM_HEADER;
	memcpy(&old, p, sizeof(old));
	p = realloc(p, n + MEM_HEADER);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	openssl_live = openssl_live - old + n;
	return p + MEM_HEADER;
}

static void test_generate_parse(void **st)
{
	char a[TLS_KEY_TEXT_LEN], b[TLS_KEY_TEXT_LEN], line[TLS_KEY_TEXT_LEN + 8];
	uint8_t key[TLS_KEY_LEN];
	struct tls_ctx *ctx;

	(void)st;
	assert_int_equal(tls_key_generate(a), 0);
	assert_int_equal(tls_key_generate(b), 0);
	assert_int_equal(strlen(a), TLS_KEY_TEXT_LEN - 1);
	assert_string_not_equal(a, b);
	assert_int_equal(tls_key_parse(a, key), 0);
	snprintf(line, sizeof(line), "  %s\n", a);
	assert_int_equal(tls_key_parse(line, key), 0);
	assert_int_equal(tls_ctx_new(key, &ctx), 0);
	tls_ctx_free(ctx);
	/* wrong length, junk, trailing garbage */
	assert_int_equal(tls_key_parse("c2hvcnQ=", key), -EINVAL);
	assert_int_equal(tls_key_parse("", key), -EINVAL);
	snprintf(line, sizeof(line), "%s x", a);
	assert_int_equal(tls_key_parse(line, key), -EINVAL);
	memcpy(line, a, sizeof(a));
	line[5] = '*';
	assert_int_equal(tls_key_parse(line, key), -EINVAL);
}

static void test_key_file(void **st)
{
	char path[256], msg[512], text[TLS_KEY_TEXT_LEN + 1];
	uint8_t key[TLS_KEY_LEN];

	(void)st;
	assert_int_equal(tls_key_generate(text), 0);
	strcat(text, "\n");
	snprintf(path, sizeof(path), "%s/key", dir);
	write_file(path, text, 0600);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), 0);
	write_file(path, text, 0400);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), 0);
	/* readable by others: refused, and the message says how to fix it */
	write_file(path, text, 0644);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), -EPERM);
	assert_non_null(strstr(msg, "mode 0644"));
	assert_non_null(strstr(msg, "0600"));
	write_file(path, text, 0640);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), -EPERM);
	/* owned by someone else (only root can make that happen) */
	if (geteuid() == 0) {
		write_file(path, text, 0600);
		assert_int_equal(chown(path, 1234, 0), 0);
		assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), -EPERM);
		assert_non_null(strstr(msg, "owned by uid 1234"));
		unlink(path);
	}
	/* not a key */
	write_file(path, "hunter2\n", 0600);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "nsagent genkey"));
	/* missing, a directory, a symlink */
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), -ENOENT);
	assert_int_equal(tls_key_load(dir, key, msg, sizeof(msg)), -EINVAL);
	snprintf(path, sizeof(path), "%s/link", dir);
	assert_int_equal(symlink("key", path), 0);
	assert_int_equal(tls_key_load(path, key, msg, sizeof(msg)), -ELOOP);
}

/* One end of a test handshake: what its event callback saw. */
struct end {
	struct bufferevent *bev;
	short events;
	char error[512];
};

struct handshake {
	struct event_base *base;
	struct end client, server;
};

static bool end_done(const struct end *e)
{
	return e->events & (BEV_EVENT_CONNECTED | BEV_EVENT_ERROR | BEV_EVENT_EOF);
}

static void end_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct handshake *h = arg;
	struct end *e = bev == h->client.bev ? &h->client : &h->server;

	e->events |= what;
	if ((what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) && !e->error[0])
		tls_bev_error(bev, e->error, sizeof(e->error));
	if (end_done(&h->client) && end_done(&h->server))
		event_base_loopbreak(h->base);
}

/* A context of plain OpenSSL, without our callbacks: a server with a fresh
 * self-signed P-256 certificate (as `openssl req -x509 -newkey ec` makes),
 * or a client that verifies nothing (SSL_VERIFY_NONE, OpenSSL's default).
 * max_version 0 leaves OpenSSL's range. */
static SSL_CTX *plain_ctx(bool server, int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	EVP_PKEY *pkey;
	X509_NAME *name;
	X509 *cert;

	assert_non_null(ctx);
	if (max_version)
		assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
	if (!server)
		return ctx;
	pkey = EVP_EC_gen("P-256");
	cert = X509_new();
	assert_non_null(pkey);
	assert_non_null(cert);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert), 86400));
	assert_int_equal(X509_set_pubkey(cert, pkey), 1);
	name = X509_get_subject_name(cert);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						    (const unsigned char *)"x", -1, -1, 0),
			 1);
	assert_int_equal(X509_set_issuer_name(cert, name), 1);
	assert_true(X509_sign(cert, pkey, EVP_sha256()) > 0);
	assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, pkey), 1);
	X509_free(cert);
	EVP_PKEY_free(pkey);
	return ctx;
}

static struct bufferevent *plain_bev(struct event_base *base, SSL_CTX *ctx, int fd, bool client)
{
	SSL *ssl = SSL_new(ctx);
	struct bufferevent *bev;

	assert_non_null(ssl);
	bev = bufferevent_openssl_socket_new(
	    base, fd, ssl, client ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(bev);
	return bev;
}

/* Runs a handshake between a client and a server end, each either ours
 * (a tls_ctx) or plain OpenSSL (an SSL_CTX), until both ends have reported
 * or 5 s have passed. */
static void handshake_run(struct handshake *h, struct tls_ctx *our_client, SSL_CTX *plain_client,
			  struct tls_ctx *our_server, SSL_CTX *plain_server)
{
	struct timeval limit = {5, 0};
	int fds[2];

	memset(h, 0, sizeof(*h));
	h->base = event_base_new();
	assert_non_null(h->base);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
			 0);
	h->client.bev = our_client ? tls_bev_new(our_client, h->base, fds[0], true)
				   : plain_bev(h->base, plain_client, fds[0], true);
	h->server.bev = our_server ? tls_bev_new(our_server, h->base, fds[1], false)
				   : plain_bev(h->base, plain_server, fds[1], false);
	assert_non_null(h->client.bev);
	assert_non_null(h->server.bev);
	bufferevent_setcb(h->client.bev, NULL, NULL, end_event_cb, h);
	bufferevent_setcb(h->server.bev, NULL, NULL, end_event_cb, h);
	bufferevent_enable(h->client.bev, EV_READ);
	bufferevent_enable(h->server.bev, EV_READ);
	event_base_loopexit(h->base, &limit);
	event_base_dispatch(h->base);
}

static void handshake_free(struct handshake *h)
{
	bufferevent_free(h->client.bev);
	bufferevent_free(h->server.bev);
	event_base_free(h->base);
}

/* An end that never completed its handshake, and reported why. */
static void assert_refused(const struct end *e)
{
	assert_false(e->events & BEV_EVENT_CONNECTED);
	assert_true(e->events & (BEV_EVENT_ERROR | BEV_EVENT_EOF));
}

static void test_same_key_authenticated(void **st)
{
	struct tls_ctx *a = th_ctx_with_key(0x31), *b = th_ctx_with_key(0x31);
	struct handshake h;
	char why[160];

	(void)st;
	handshake_run(&h, a, NULL, b, NULL);
	assert_true(h.client.events & BEV_EVENT_CONNECTED);
	assert_true(h.server.events & BEV_EVENT_CONNECTED);
	assert_int_equal(tls_bev_authenticated(h.client.bev, why, sizeof(why)), 0);
	assert_int_equal(tls_bev_authenticated(h.server.bev, why, sizeof(why)), 0);
	handshake_free(&h);
	tls_ctx_free(a);
	tls_ctx_free(b);
}

/* The issue: a server that ignores our PSK and shows any self-signed
 * certificate completed TLS 1.3 with our client. */
static void test_client_refuses_certificate(void **st)
{
	struct tls_ctx *ours = th_ctx_with_key(0x32);
	SSL_CTX *tls13 = plain_ctx(true, 0), *tls12 = plain_ctx(true, TLS1_2_VERSION);
	struct handshake h;

	(void)st;
	handshake_run(&h, ours, NULL, NULL, tls13);
	assert_refused(&h.client);
	assert_non_null(strstr(h.client.error, "sent a certificate"));
	assert_non_null(strstr(h.client.error, "certificate verify failed"));
	assert_false(h.server.events & BEV_EVENT_CONNECTED);
	handshake_free(&h);
	/* TLS 1.2 with a certificate: refused by version */
	handshake_run(&h, ours, NULL, NULL, tls12);
	assert_refused(&h.client);
	assert_non_null(strstr(h.client.error, "protocol version"));
	handshake_free(&h);
	SSL_CTX_free(tls13);
	SSL_CTX_free(tls12);
	tls_ctx_free(ours);
}

/* Our server against clients without the key (TLS 1.3 and 1.2) and with
 * another key. */
static void test_server_refuses_without_key(void **st)
{
	struct tls_ctx *ours = th_ctx_with_key(0x33), *other = th_ctx_with_key(0x34);
	SSL_CTX *tls13 = plain_ctx(false, 0), *tls12 = plain_ctx(false, TLS1_2_VERSION);
	struct handshake h;

	(void)st;
	handshake_run(&h, NULL, tls13, ours, NULL);
	assert_refused(&h.server);
	assert_false(h.client.events & BEV_EVENT_CONNECTED);
	handshake_free(&h);
	handshake_run(&h, NULL, tls12, ours, NULL);
	assert_refused(&h.server);
	assert_false(h.client.events & BEV_EVENT_CONNECTED);
	handshake_free(&h);
	handshake_run(&h, other, NULL, ours, NULL);
	assert_refused(&h.server);
	assert_refused(&h.client);
	handshake_free(&h);
	SSL_CTX_free(tls13);
	SSL_CTX_free(tls12);
	tls_ctx_free(ours);
	tls_ctx_free(other);
}

/* The guard at handshake completion, on handshakes our callbacks would
 * have refused: certificate-authenticated TLS 1.3 and TLS 1.2, and a
 * connection that is not TLS at all. */
static void test_authenticated_guard(void **st)
{
	SSL_CTX *client = plain_ctx(false, 0), *tls13 = plain_ctx(true, 0),
		*tls12 = plain_ctx(true, TLS1_2_VERSION);
	struct event_base *base;
	struct bufferevent *plain;
	struct handshake h;
	char why[160];

	(void)st;
	handshake_run(&h, NULL, client, NULL, tls13);
	assert_true(h.client.events & BEV_EVENT_CONNECTED);
	assert_int_equal(tls_bev_authenticated(h.client.bev, why, sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "did not use the cluster key"));
	assert_true(h.server.events & BEV_EVENT_CONNECTED);
	assert_int_equal(tls_bev_authenticated(h.server.bev, why, sizeof(why)), -EACCES);
	handshake_free(&h);
	handshake_run(&h, NULL, client, NULL, tls12);
	assert_true(h.client.events & BEV_EVENT_CONNECTED);
	assert_int_equal(tls_bev_authenticated(h.client.bev, why, sizeof(why)), -EACCES);
	assert_non_null(strstr(why, "TLSv1.2, not TLS 1.3"));
	handshake_free(&h);
	base = event_base_new();
	assert_non_null(base);
	plain = bufferevent_socket_new(base, -1, 0);
	assert_non_null(plain);
	assert_int_equal(tls_bev_authenticated(plain, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "not a TLS connection"));
	bufferevent_free(plain);
	event_base_free(base);
	SSL_CTX_free(client);
	SSL_CTX_free(tls13);
	SSL_CTX_free(tls12);
}

/* An authenticated session that has carried a message and is idle keeps
 * no record buffers (SSL_MODE_RELEASE_BUFFERS): an agent holds one
 * session per peer, and OpenSSL's read and write buffers are 16 KiB and
 * more each, per end. */
static void test_idle_session_releases_buffers(void **st)
{
	struct tls_ctx *a = th_ctx_with_key(0x35), *b = th_ctx_with_key(0x35);
	struct timeval limit = {5, 0};
	char msg[200] = {0};
	struct evbuffer *in;
	struct handshake h;
	size_t before, idle;

	(void)st;
	before = openssl_live;
	handshake_run(&h, a, NULL, b, NULL);
	assert_true(h.client.events & BEV_EVENT_CONNECTED);
	assert_true(h.server.events & BEV_EVENT_CONNECTED);
	assert_int_equal(bufferevent_write(h.client.bev, msg, sizeof(msg)), 0);
	in = bufferevent_get_input(h.server.bev);
	event_base_loopexit(h.base, &limit);
	while (evbuffer_get_length(in) < sizeof(msg) && event_base_loop(h.base, EVLOOP_ONCE) == 0 &&
	       !event_base_got_exit(h.base))
		;
	assert_int_equal(evbuffer_get_length(in), sizeof(msg));
	evbuffer_drain(in, sizeof(msg));
	idle = openssl_live - before;
	print_message("OpenSSL holds %zu bytes for an idle session (both ends)\n", idle);
	/* Both ends: the SSL objects, their sessions and key schedules
	 * (27 KB in all with OpenSSL 3.0); with the buffers kept, 94 KB. */
	assert_true(idle < 48 * 1024);
	handshake_free(&h);
	tls_ctx_free(a);
	tls_ctx_free(b);
}

TMPDIR_GROUP_FIXTURES(dir)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_generate_parse),
	    cmocka_unit_test(test_key_file),
	    cmocka_unit_test(test_same_key_authenticated),
	    cmocka_unit_test(test_client_refuses_certificate),
	    cmocka_unit_test(test_server_refuses_without_key),
	    cmocka_unit_test(test_authenticated_guard),
	    cmocka_unit_test(test_idle_session_releases_buffers),
	};

	/* Before OpenSSL allocates anything (it refuses later). */
	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free)) {
		fprintf(stderr, "cannot route OpenSSL's allocations through the counter\n");
		return 1;
	}

	return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
