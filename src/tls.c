/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DOC: the cluster key and TLS sessions (include/nsagent/tls.h).
 *
 * Owns everything OpenSSL: key generation and parsing, the SSL_CTX and the
 * TLS bufferevents that session.c uses in place of plain socket ones. The key
 * lives only inside one SSL_SESSION (the external PSK, RFC 8446 4.2.11)
 * created at tls_ctx_new(); every raw copy is wiped with OPENSSL_cleanse
 * as soon as the session holds it, and OpenSSL wipes the session's copy
 * when it is freed.
 *
 * Invariants: TLS 1.3 only; PSK with (EC)DHE key exchange (OpenSSL's
 * default psk_dhe_ke), so a leaked key does not expose past sessions; no
 * certificates: we have none to send, and any certificate a peer sends
 * fails verification, so a handshake without the right PSK cannot
 * complete on either side; session tickets off (each handshake is a full
 * one) and early data off (0-RTT data could be replayed, RFC 8446 8).
 * tls_bev_authenticated() checks the outcome once more at handshake
 * completion: TLS 1.3, resumed with the PSK, no certificate. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "nsagent/tls.h"
#include "nsagent/xalloc.h"

/* TLS_AES_128_GCM_SHA256 (RFC 8446 B.4): the PSK session's cipher; its
 * hash (SHA-256) binds the PSK, so the peer must pick a SHA-256 suite. */
static const unsigned char psk_cipher_id[2] = {0x13, 0x01};
#define TLS_SUITES "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"
/* A key file is one line of base64; anything much longer is not a key. */
#define KEY_FILE_MAX 256

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	SSL_SESSION *psk; /* holds the key */
};

void tls_wipe(void *ptr, size_t size)
{
	OPENSSL_cleanse(ptr, size);
}

int tls_key_generate(char text[TLS_KEY_TEXT_LEN])
{
	uint8_t key[TLS_KEY_LEN];

	if (RAND_bytes(key, sizeof(key)) != 1)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)text, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

int tls_key_parse(const char *text, uint8_t key[TLS_KEY_LEN])
{
	unsigned char decoded[TLS_KEY_TEXT_LEN];
	char clean[TLS_KEY_TEXT_LEN];
	size_t start = strspn(text, " \t\r\n"), len = strcspn(text + start, " \t\r\n");
	int n, ret = 0;

	/* Only trailing blanks may follow the key. */
	if (len != TLS_KEY_TEXT_LEN - 1 ||
	    text[start + len + strspn(text + start + len, " \t\r\n")])
		return -EINVAL;
	memcpy(clean, text + start, len);
	clean[len] = '\0';
	/* EVP_DecodeBlock ignores padding in its count: 44 chars give 33 bytes
	 * of which the last is padding for a 32-byte key. */
	n = EVP_DecodeBlock(decoded, (const unsigned char *)clean, (int)len);
	if (n < TLS_KEY_LEN || clean[len - 1] != '=' || clean[len - 2] == '=') {
		ret = -EINVAL;
		goto out;
	}
	memcpy(key, decoded, TLS_KEY_LEN);
out:
	OPENSSL_cleanse(decoded, sizeof(decoded));
	OPENSSL_cleanse(clean, sizeof(clean));
	return ret;
}

int tls_key_load(const char *path, uint8_t key[TLS_KEY_LEN], char *msg, size_t size)
{
	return tls_key_file_load(path, "the cluster key", "`nsagent genkey`", key, msg, size);
}

int tls_key_file_load(const char *path, const char *what, const char *maker,
		      uint8_t key[TLS_KEY_LEN], char *msg, size_t size)
{
	char text[KEY_FILE_MAX + 1];
	struct stat st;
	ssize_t got;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(msg, size, "cannot open key file %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(msg, size, "cannot stat key file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(msg, size, "key file %s is not a regular file", path);
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		ret = -EPERM;
		snprintf(msg, size,
			 "key file %s is owned by uid %u; it must be owned by root (chown root %s)",
			 path, (unsigned)st.st_uid, path);
		goto out;
	}
	if (st.st_mode & 077) {
		ret = -EPERM;
		snprintf(msg, size,
			 "key file %s has mode %04o; others could read %s, it must be 0600 or "
			 "stricter (chmod 600 %s)",
			 path, (unsigned)(st.st_mode & 07777), what, path);
		goto out;
	}
	got = read(fd, text, KEY_FILE_MAX);
	if (got < 0) {
		ret = -errno;
		snprintf(msg, size, "cannot read key file %s: %s", path, strerror(errno));
		goto out;
	}
	text[got] = '\0';
	if (tls_key_parse(text, key) < 0) {
		ret = -EINVAL;
		snprintf(msg, size,
			 "key file %s does not hold a key (one line of base64 for %d bytes, as "
			 "%s prints)",
			 path, TLS_KEY_LEN, maker);
	}
out:
	OPENSSL_cleanse(text, sizeof(text));
	close(fd);
	return ret;
}

/* Client side: offer the cluster PSK. md is the hash of the suite already
 * negotiated in a HelloRetryRequest (NULL before); a PSK of another hash
 * cannot be used then. */
static int use_psk_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
		      SSL_SESSION **sess)
{
	struct tls_ctx *ctx = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const SSL_CIPHER *cipher = SSL_SESSION_get0_cipher(ctx->psk);

	*sess = NULL;
	if (md && md != SSL_CIPHER_get_handshake_digest(cipher))
		return 1;
	if (!SSL_SESSION_up_ref(ctx->psk))
		return 0;
	*sess = ctx->psk;
	*id = (const unsigned char *)TLS_PSK_IDENTITY;
	*idlen = strlen(TLS_PSK_IDENTITY);
	return 1;
}

/* Server side: the only identity we know is the cluster's. An unknown
 * identity gets no session, and without certificates the handshake then
 * fails. */
static int find_psk_cb(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	struct tls_ctx *ctx = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	*sess = NULL;
	if (idlen != strlen(TLS_PSK_IDENTITY) || memcmp(id, TLS_PSK_IDENTITY, idlen) != 0)
		return 1;
	if (!SSL_SESSION_up_ref(ctx->psk))
		return 0;
	*sess = ctx->psk;
	return 1;
}

/* Any certificate fails. A client that offered the PSK gets a certificate
 * only from a server that ignored it and authenticates by certificate
 * instead; without this check OpenSSL's default (SSL_VERIFY_NONE) would
 * take any self-signed one (RFC 8446 4.4.2). A PSK handshake sends no
 * certificate, so this never runs in an authenticated session. The error
 * set here is what tls_bev_error() reports. */
static int refuse_certificate_cb(int preverify_ok, X509_STORE_CTX *store)
{
	(void)preverify_ok;
	X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

int tls_ctx_new(const uint8_t key[TLS_KEY_LEN], struct tls_ctx **out)
{
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));
	const SSL_CIPHER *cipher;
	SSL *probe = NULL;
	int ret = -EIO;

	*out = NULL;
	ctx->ssl_ctx = SSL_CTX_new(TLS_method());
	if (!ctx->ssl_ctx)
		goto fail;
	SSL_CTX_set_app_data(ctx->ssl_ctx, ctx);
	if (!SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx->ssl_ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx->ssl_ctx, TLS_SUITES))
		goto fail;
	SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx->ssl_ctx, 0);
	SSL_CTX_set_max_early_data(ctx->ssl_ctx, 0);
	SSL_CTX_set_recv_max_early_data(ctx->ssl_ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_OFF);
	/* An idle session (a keepalive a second) keeps no record buffers:
	 * OpenSSL allocates its 16 KiB read and write buffers per record and
	 * frees them once empty, which cuts the heap an idle session holds
	 * from about 48 KiB to 16 (tests/bench/tls_sessions.c). Read-ahead,
	 * which would save a read(2) per record, is left off: with it, the
	 * handshakes of that bench stall under libevent 2.1's
	 * bufferevent_openssl (bytes OpenSSL holds beyond the record asked
	 * for raise no read event). */
	SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_psk_use_session_callback(ctx->ssl_ctx, use_psk_cb);
	SSL_CTX_set_psk_find_session_callback(ctx->ssl_ctx, find_psk_cb);

	/* SSL_CIPHER_find needs an SSL to search its cipher list. */
	probe = SSL_new(ctx->ssl_ctx);
	cipher = probe ? SSL_CIPHER_find(probe, psk_cipher_id) : NULL;
	ctx->psk = SSL_SESSION_new();
	if (!cipher || !ctx->psk || !SSL_SESSION_set1_master_key(ctx->psk, key, TLS_KEY_LEN) ||
	    !SSL_SESSION_set_cipher(ctx->psk, cipher) ||
	    !SSL_SESSION_set_protocol_version(ctx->psk, TLS1_3_VERSION))
		goto fail;
	SSL_free(probe);
	*out = ctx;
	return 0;
fail:
	SSL_free(probe);
	tls_ctx_free(ctx);
	return ret;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_SESSION_free(ctx->psk);
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

struct bufferevent *tls_bev_new(struct tls_ctx *ctx, struct event_base *base, evutil_socket_t fd,
				bool client)
{
	SSL *ssl = SSL_new(ctx->ssl_ctx);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	/* Client side only: a server is sent a certificate only when it asks
	 * for one, which ours never does (a PSK handshake has no
	 * CertificateRequest, RFC 8446 4.3.2, and without the PSK our server,
	 * having no certificate, fails before that point). OpenSSL also
	 * refuses to resume (use a PSK) on a server with SSL_VERIFY_PEER and no
	 * session id context. */
	if (client)
		SSL_set_verify(ssl, SSL_VERIFY_PEER, refuse_certificate_cb);
	bev = bufferevent_openssl_socket_new(
	    base, fd, ssl, client ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		return NULL;
	}
	/* A peer that vanishes without close_notify is an ordinary EOF to the
	 * session FSM; integrity is per record, so no truncation attack can
	 * forge a message. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

int tls_bev_authenticated(struct bufferevent *bev, char *why, size_t size)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	X509 *cert;

	if (!ssl) {
		snprintf(why, size, "not a TLS connection");
		return -EINVAL;
	}
	if (!SSL_is_init_finished(ssl)) {
		snprintf(why, size, "the TLS handshake has not completed");
		return -EACCES;
	}
	if (SSL_version(ssl) != TLS1_3_VERSION) {
		snprintf(why, size, "the handshake negotiated %s, not TLS 1.3",
			 SSL_get_version(ssl));
		return -EACCES;
	}
	/* An external PSK is a resumption as far as OpenSSL is concerned: the
	 * session came from our PSK callbacks (tickets and the session cache
	 * are off), and the binder proved the peer knows the key. */
	if (!SSL_session_reused(ssl)) {
		snprintf(why, size,
			 "the handshake did not use the cluster key (no PSK; the peer "
			 "authenticated otherwise, e.g. by certificate)");
		return -EACCES;
	}
	cert = SSL_get1_peer_certificate(ssl);
	if (cert) {
		X509_free(cert);
		snprintf(why, size, "the peer sent a certificate");
		return -EACCES;
	}
	return 0;
}

const char *tls_bev_error(struct bufferevent *bev, char *buf, size_t size)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long err;
	size_t used = 0;

	buf[0] = '\0';
	/* Set by refuse_certificate_cb: say what happened in our words. */
	if (ssl && SSL_get_verify_result(ssl) == X509_V_ERR_APPLICATION_VERIFICATION)
		used += (size_t)snprintf(buf, size,
					 "the peer sent a certificate instead of using the "
					 "cluster key (certificates are refused)");
	while ((err = bufferevent_get_openssl_error(bev)) != 0) {
		char one[256];

		/* libevent queues the socket errno as a library-0 error;
		 * that is not OpenSSL's diagnosis. */
		if (ERR_GET_LIB(err) == 0)
			continue;
		ERR_error_string_n(err, one, sizeof(one));
		if (used < size)
			used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "; " : "",
						 one);
	}
	return buf;
}
