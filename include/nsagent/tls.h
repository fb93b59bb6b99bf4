/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Session security: the cluster key and TLS 1.3 with an external PSK.
 *
 * With a key, every peer connection is a TLS 1.3 session keyed by the
 * cluster key as an external pre-shared key (RFC 8446 2.2, psk_dhe_ke so
 * each session still gets fresh ECDHE keys). A node without the key, or
 * with another key, cannot complete the handshake, so it never reaches a
 * session. No certificates (one a peer sends is refused, on either side),
 * no resumption tickets, no early data: a replayed handshake cannot
 * complete either. Without a key, connections are plain TCP (labs only)
 * and the agent says so loudly.
 *
 * The key file holds TLS_KEY_LEN random bytes in base64 (`nsagent genkey`)
 * and must be a regular file owned by root (or by the user running the
 * agent) and readable by its owner only. */
#ifndef NSAGENT_TLS_H
#define NSAGENT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>

struct bufferevent;
struct event_base;
struct tls_ctx;

#define TLS_KEY_LEN 32
/* base64 of TLS_KEY_LEN bytes, with '=' padding, plus NUL */
#define TLS_KEY_TEXT_LEN (4 * ((TLS_KEY_LEN + 2) / 3) + 1)
#define TLS_PSK_IDENTITY "nsagent-cluster"

/* A new random key as text (TLS_KEY_TEXT_LEN bytes). 0 or -EIO when the
 * random generator fails. */
int tls_key_generate(char text[TLS_KEY_TEXT_LEN]);

/* Reads and checks a key file (owner, mode, format). On failure returns a
 * negative errno and explains in msg, naming the file. */
int tls_key_load(const char *path, uint8_t key[TLS_KEY_LEN], char *msg, size_t size);
/* tls_key_load for any 32-byte secret in the same file format (the
 * WireGuard private key, src/wgkey.c): what names the secret in the mode
 * message ("the cluster key"), maker the command that prints such a file. */
int tls_key_file_load(const char *path, const char *what, const char *maker,
		      uint8_t key[TLS_KEY_LEN], char *msg, size_t size);

/* Parses the text of a key (base64, surrounding blanks allowed). */
int tls_key_parse(const char *text, uint8_t key[TLS_KEY_LEN]);

/* A TLS context holding the key; the caller wipes its own copy. */
int tls_ctx_new(const uint8_t key[TLS_KEY_LEN], struct tls_ctx **out);
void tls_ctx_free(struct tls_ctx *ctx);

/* A TLS bufferevent over fd (-1 for a connection still to be made with
 * bufferevent_socket_connect). BEV_EVENT_CONNECTED is reported once the
 * handshake has completed; a failed handshake is BEV_EVENT_ERROR. NULL on
 * failure. */
struct bufferevent *tls_bev_new(struct tls_ctx *ctx, struct event_base *base, evutil_socket_t fd,
				bool client);

/* Whether a TLS bufferevent whose handshake has completed is an
 * authenticated session: TLS 1.3, keyed by the cluster PSK, no
 * certificate. The handshake callbacks already refuse anything else; this
 * is the guard a caller runs at BEV_EVENT_CONNECTED, before it reads a
 * byte. 0, or -EACCES (-EINVAL for a plain bufferevent) with the reason in
 * why. */
int tls_bev_authenticated(struct bufferevent *bev, char *why, size_t size);

/* The OpenSSL error queue of a TLS bufferevent, as one line into buf
 * ("" when there is none). */
const char *tls_bev_error(struct bufferevent *bev, char *buf, size_t size);

/* Wipes size bytes so that the compiler cannot elide it. */
void tls_wipe(void *ptr, size_t size);

#endif
